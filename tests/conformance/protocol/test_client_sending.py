"""Client-side sending rules: what our own client may send, and when (§5, catalog 1, 5, 8).

`Session(Side.CLIENT).send()` raises `LocalProtocolError` for what the live server would
reject; with `strict=False` it sends anyway and records the event as sent.
"""

import pytest

from conformance.protocol import LocalProtocolError, Session, SessionState, Side
from tests.helpers import (
    SessionPair,
    audio_append,
    audio_response,
    encode,
    new_ids,
    out_of_band_response,
    rejection,
    response_create,
    text_response,
    user_text_item,
)

IDS = new_ids("client sending")
RESP, OOB = IDS.new("resp"), IDS.new("resp")
ITEM, OOB_ITEM = IDS.new("item"), IDS.new("item")


class TestBeforeSessionCreated:
    @pytest.mark.parametrize(
        "event",
        [
            {"type": "session.update", "session": {"type": "realtime"}},
            response_create(),
            {"type": "response.cancel"},
            audio_append(200),
        ],
        ids=lambda event: event["type"],
    )
    def test_any_event_before_session_created_raises(self, event):
        """§5a: wait for `session.created` (catalog 10, CONFIG-RACE)."""
        client = Session(Side.CLIENT)
        with pytest.raises(LocalProtocolError) as caught:
            client.send(event)
        assert str(caught.value) == (
            f"{event['type']}: wait for session.created before sending {event['type']!r}"
        )
        assert client.data_to_send() == []

    def test_after_a_handshake_error_the_client_still_may_not_send(self):
        """§5i: an `error` first is followed by a close, not by a session."""
        pair = SessionPair()
        pair.to_client({"type": "error", "event_id": "e", "error": {"code": "invalid_api_key"}})
        with pytest.raises(LocalProtocolError, match=r"wait for session\.created"):
            pair.client.send({"type": "session.update"})

    def test_a_non_strict_client_sends_early_anyway(self):
        """`strict=False` is for fault injection: the frame is queued."""
        client = Session(Side.CLIENT, strict=False)
        event = {"type": "session.update", "session": {"type": "realtime"}}
        assert client.send(event) == encode(event)
        assert client.data_to_send() == [encode(event)]
        assert client.state is SessionState.CONNECTING


class TestOneResponseAtATime:
    def test_a_second_response_create_while_one_is_pending_raises(self, pair):
        """Catalog 1: the in-flight flag is set on send, before `response.created`."""
        pair.client_sends(response_create(event_id="evt_1"))
        with pytest.raises(LocalProtocolError) as caught:
            pair.client.send(response_create(event_id="evt_2"))
        assert str(caught.value) == (
            "response.create: a response.create is already waiting for its response.created"
        )
        assert pair.client.data_to_send() == []

    def test_a_response_create_while_a_response_is_active_raises_with_the_live_wording(self, pair):
        """Catalog 1: `conversation_already_has_active_response` is avoided locally."""
        pair.server_sends(text_response(RESP, ITEM)[0])
        with pytest.raises(LocalProtocolError) as caught:
            pair.client.send(response_create())
        assert str(caught.value) == (
            f"response.create: Conversation already has an active response in progress: {RESP}. "
            "Wait until the response is finished before creating a new one."
        )

    def test_a_response_create_after_response_cancel_but_before_done_raises(self, pair):
        """Catalog 1: "right after `response.cancel` before `response.done` arrived"."""
        pair.client_sends(response_create())
        pair.server_sends(text_response(RESP, ITEM)[0])
        pair.client_sends({"type": "response.cancel"})
        with pytest.raises(LocalProtocolError, match=r"already has an active response"):
            pair.client.send(response_create())

    def test_the_next_response_create_is_allowed_after_response_done(self, pair):
        """§5f: wait for `response.done`, then create the next response."""
        pair.client_sends(response_create(event_id="evt_1"))
        pair.server_sends_all(text_response(RESP, ITEM))
        assert pair.client_sends(response_create(event_id="evt_2")).ok
        assert pair.client.response_pending

    def test_out_of_band_creates_may_overlap_a_pending_and_an_active_response(self, pair):
        """§5j: `conversation: "none"` responses do not hold the default conversation."""
        pair.client_sends(response_create(event_id="evt_1"))
        assert pair.client_sends(response_create(out_of_band=True)).ok
        pair.server_sends(text_response(RESP, ITEM)[0])
        assert pair.client_sends(response_create(out_of_band=True)).ok
        assert pair.client_sends(response_create(out_of_band=True)).ok
        assert not pair.client.response_pending

    def test_out_of_band_creates_are_not_pending_default_creates(self, pair):
        """An out-of-band create is answered by a `conversation_id: null` response."""
        pair.client_sends(response_create(out_of_band=True))
        assert not pair.client.response_pending
        pair.server_sends_all(out_of_band_response(OOB, OOB_ITEM))
        assert pair.client_sends(response_create()).ok

    def test_an_error_for_the_pending_create_allows_a_new_one(self, pair):
        """§5i: `error.event_id` echoes the failed create; the client may try again."""
        pair.client_sends(response_create(event_id="evt_1"))
        pair.to_client(
            {
                "type": "error",
                "event_id": "e",
                "error": {"code": "invalid_value", "message": "m", "event_id": "evt_1"},
            }
        )
        assert pair.client_sends(response_create(event_id="evt_2")).ok

    def test_a_non_strict_client_records_a_second_create_as_pending(self):
        """`strict=False`: both creates are sent and both await an answer."""
        pair = SessionPair(client_strict=False)
        pair.open()
        pair.client_sends(response_create(event_id="evt_1"))
        pair.client_sends(response_create(event_id="evt_2"))
        pair.server_sends(text_response(RESP, ITEM)[0])
        assert pair.client.response_pending
        received = pair.to_server(response_create(event_id="evt_3"))
        assert received.findings[0].code == "conversation_already_has_active_response"


class TestCancel:
    def test_a_cancel_with_nothing_active_is_never_refused_by_the_client(self, pair):
        """Catalog 5: a cancel racing `response.done` is harmless; the server answers it."""
        pair.server_sends_all(text_response(RESP, ITEM))
        received = pair.client_sends({"type": "response.cancel", "event_id": "evt_c"})
        assert received.findings[0].code == "response_cancel_not_active"


class TestNonStrictClient:
    def test_a_non_strict_client_sends_and_records_an_illegal_append(self):
        """`strict=False`: illegal events are still applied to the local state."""
        pair = SessionPair(client_strict=False)
        pair.open()
        pair.client_sends(audio_append(20))
        received = pair.client_sends({"type": "input_audio_buffer.commit", "event_id": "evt_c"})
        assert received.findings[0].code == "input_audio_buffer_commit_empty"
        assert pair.client.audio_buffer_ms == 20

    def test_legal_events_are_encoded_and_queued_once(self, pair):
        """`send()` returns the frame and queues it for `data_to_send()`."""
        event = {"type": "session.update", "session": {"type": "realtime"}}
        assert pair.client.send(event) == encode(event)
        assert pair.client.data_to_send() == [encode(event)]


SPOKEN, USER, ACTIVE_ITEM = IDS.new("item"), IDS.new("item"), IDS.new("item")
SPOKEN_RESP, ACTIVE = IDS.new("resp"), IDS.new("resp")
EVERY_RULE = {
    "active_response": response_create(event_id="evt_r"),
    "commit_empty": {"type": "input_audio_buffer.commit"},
    "unknown_item delete": {"type": "conversation.item.delete", "item_id": "item_X"},
    "unknown_item retrieve": {"type": "conversation.item.retrieve", "item_id": "item_X"},
    "unknown_item truncate": {"type": "conversation.item.truncate", "item_id": "item_X"},
    "truncate_not_audio": {"type": "conversation.item.truncate", "item_id": USER},
    "truncate_too_long": {
        "type": "conversation.item.truncate",
        "item_id": SPOKEN,
        "content_index": 0,
        "audio_end_ms": 101,
    },
    "duplicate_item": {"type": "conversation.item.create", "item": user_text_item(USER)},
    "unknown_previous_item": {
        "type": "conversation.item.create",
        "previous_item_id": "item_X",
        "item": user_text_item("item_new"),
    },
    "unknown_call_id": {
        "type": "conversation.item.create",
        "item": {"type": "function_call_output", "call_id": "call_X", "output": ""},
    },
    "assistant_audio_content": {
        "type": "conversation.item.create",
        "item": {"type": "message", "role": "assistant", "content": [{"type": "output_audio"}]},
    },
    "bad_audio": {"type": "input_audio_buffer.append", "audio": "***"},
    "voice_locked": {"type": "session.update", "session": {"audio": {"output": {"voice": "ash"}}}},
}


@pytest.mark.parametrize("event", list(EVERY_RULE.values()), ids=list(EVERY_RULE))
def test_our_client_refuses_exactly_what_the_server_rejects(event):
    """rules.py on both sides: the client's `LocalProtocolError` carries the server's message."""
    pair = SessionPair()
    pair.open()
    pair.add_user_text(USER)
    pair.server_sends_all(audio_response(SPOKEN_RESP, SPOKEN, previous_item_id=USER))
    pair.server_sends(text_response(ACTIVE, ACTIVE_ITEM)[0])
    pair.client_sends(audio_append(50))
    finding = rejection(pair, event)
    with pytest.raises(LocalProtocolError) as caught:
        pair.client.send(event)
    assert str(caught.value) == f"{event['type']}: {finding.message}"
