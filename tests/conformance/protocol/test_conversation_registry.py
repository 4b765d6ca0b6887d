"""The conversation item registry: ids that later events and client events refer to.

Server side: §4 (items), §5c (item.create), §5f (function_call_output), §5j (delete,
retrieve, truncate), §6.2 and catalog 6, 23, 24, 25, 30 wording. Client side: the server's
item events keep the registry (§5c, §5g, §5j).
"""

import pytest

from conformance.protocol import LocalProtocolError
from conformance.protocol.states import BYTES_PER_MS, ITEM_REFERENCE_ERRORS
from tests.helpers import (
    SessionPair,
    all_findings,
    audio_response,
    function_call_response,
    item_added_done,
    new_ids,
    rejection,
    session_created,
    text_response,
    user_text_item,
    violations,
)

IDS = new_ids("conversation registry")
A, B, C, D = (IDS.new("item") for _ in range(4))
RESP, RESP2 = IDS.new("resp"), IDS.new("resp")
ASSISTANT, SPOKEN = IDS.new("item"), IDS.new("item")
CALL = IDS.new("call")

TRANSCRIPTION_EVENTS = [
    "conversation.item.input_audio_transcription.delta",
    "conversation.item.input_audio_transcription.completed",
    "conversation.item.input_audio_transcription.failed",
    "conversation.item.input_audio_transcription.segment",
]


def added(item_id, **extra):
    return {"type": "conversation.item.added", "item": user_text_item(item_id), **extra}


def reference(kind, item_id, **fields):
    return {"type": kind, "event_id": f"evt_{kind.rsplit('.', 1)[1]}", "item_id": item_id} | fields


@pytest.fixture
def spoken(pair):
    """A pair whose conversation holds user item A and a 100 ms assistant audio item SPOKEN."""
    pair.add_user_text(A)
    pair.server_sends_all(audio_response(RESP, SPOKEN, previous_item_id=A))
    return pair


class TestItemOrderOnTheClientSide:
    def test_items_are_kept_in_previous_item_id_order(self, pair):
        """§5c: `previous_item_id` names the item the new one follows."""
        pair.add_user_text(A)
        pair.add_user_text(B, previous_item_id=A)
        pair.add_user_text(C, previous_item_id=A)
        assert pair.client.item_ids == [A, C, B]
        assert pair.client.item_ids == pair.server.item_ids

    def test_a_null_previous_item_id_inserts_first(self, pair):
        """§4: `previous_item_id: "root"` inserts at the front; `.added` reports null."""
        pair.add_user_text(A)
        pair.add_user_text(B, previous_item_id=None)
        assert pair.client.item_ids == [B, A]

    def test_an_item_without_previous_item_id_is_appended(self, pair):
        """No position given: the item goes last."""
        pair.add_user_text(A)
        pair.add_user_text(B, previous_item_id=None)
        assert pair.to_client(added(C)).ok
        assert pair.client.item_ids == [B, A, C]

    def test_an_unknown_previous_item_id_is_reported_and_the_item_appended(self, pair):
        """§5c: `previous_item_id` must name an item of the conversation."""
        pair.add_user_text(A)
        received = pair.to_client(added(B, previous_item_id="item_gone"))
        assert violations(pair.client, received) == [
            "previous_item_id 'item_gone' names no item in the conversation"
        ]
        assert pair.client.item_ids == [A, B]

    def test_an_item_added_twice_is_reported_once_and_kept_once(self, pair):
        """§5c: one `conversation.item.added` per item."""
        pair.add_user_text(A)
        received = pair.to_client(added(A, previous_item_id=None))
        assert violations(pair.client, received) == [
            f"item {A!r} was added to the conversation twice"
        ]
        assert pair.client.item_ids == [A]

    def test_an_item_event_without_an_item_object_changes_nothing(self, pair):
        """No `item` object: nothing to register (the schema checks report it)."""
        assert pair.to_client({"type": "conversation.item.added", "item": [A]}).ok
        assert pair.client.item_ids == []

    def test_a_deleted_item_is_removed(self, pair):
        """§5j: `conversation.item.deleted {item_id}`."""
        pair.add_user_text(A)
        pair.add_user_text(B, previous_item_id=A)
        assert pair.to_client({"type": "conversation.item.deleted", "item_id": A}).ok
        assert pair.client.item_ids == [B]

    @pytest.mark.parametrize("item_id", ["item_never", None, 5])
    def test_deleting_an_item_that_is_not_there_is_reported(self, pair, item_id):
        """§5j: the server deletes only items it has."""
        received = pair.to_client({"type": "conversation.item.deleted", "item_id": item_id})
        assert violations(pair.client, received) == [
            f"conversation.item.deleted for {item_id!r}, which is not in the conversation"
        ]

    def test_retrieving_a_known_item_is_fine_and_an_unknown_one_is_reported(self, pair):
        """§5j: `conversation.item.retrieved {item}` answers a retrieve of an existing item."""
        pair.add_user_text(A)
        assert pair.to_client({"type": "conversation.item.retrieved", "item": {"id": A}}).ok
        received = pair.to_client({"type": "conversation.item.retrieved", "item": "x"})
        assert violations(pair.client, received) == [
            "conversation.item.retrieved for None, not in the conversation"
        ]

    def test_truncated_shortens_the_item_audio(self, spoken):
        """§5g barge-in: after `conversation.item.truncated` the item holds `audio_end_ms`."""
        event = {"type": "conversation.item.truncated", "item_id": SPOKEN, "audio_end_ms": 40}
        assert spoken.to_client(event).ok
        assert spoken.client.conversation.items[SPOKEN].audio_bytes == 40 * 48

    def test_truncated_without_an_integer_end_keeps_the_audio(self, spoken):
        """Only an integer `audio_end_ms` moves the end."""
        event = {"type": "conversation.item.truncated", "item_id": SPOKEN, "audio_end_ms": "40"}
        assert spoken.to_client(event).ok
        assert spoken.client.conversation.items[SPOKEN].audio_bytes == 100 * 48

    @pytest.mark.parametrize("item_id", ["item_never", 7])
    def test_truncated_for_an_unknown_item_is_reported(self, pair, item_id):
        """§5j: `conversation.item.truncated` names an item of the conversation."""
        received = pair.to_client({"type": "conversation.item.truncated", "item_id": item_id})
        assert violations(pair.client, received) == [
            f"conversation.item.truncated for {item_id!r}, not in the conversation"
        ]

    def test_committed_names_a_new_item_after_a_known_one(self, pair):
        """§5g step 4: `input_audio_buffer.committed {previous_item_id, item_id}`."""
        pair.add_user_text(A)
        for previous in (A, None):
            event = {
                "type": "input_audio_buffer.committed",
                "item_id": B,
                "previous_item_id": previous,
            }
            assert pair.to_client(event).ok

    def test_committed_reusing_an_item_id_or_naming_an_unknown_previous_is_reported(self, pair):
        """§5g: the committed item is new, after an existing item."""
        pair.add_user_text(A)
        event = {"type": "input_audio_buffer.committed", "item_id": A, "previous_item_id": "gone"}
        assert violations(pair.client, pair.to_client(event)) == [
            f"input_audio_buffer.committed reuses item id {A!r}",
            "previous_item_id 'gone' names no item in the conversation",
        ]

    @pytest.mark.parametrize("kind", TRANSCRIPTION_EVENTS)
    def test_transcription_events_name_an_item_ever_added(self, pair, kind):
        """§5g step 8: transcription arrives asynchronously, even after a delete."""
        pair.add_user_text(A)
        pair.to_client({"type": "conversation.item.deleted", "item_id": A})
        assert pair.to_client({"type": kind, "item_id": A}).ok
        received = pair.to_client({"type": kind, "item_id": "item_never"})
        assert violations(pair.client, received) == [
            f"{kind} for 'item_never', which was never added"
        ]

    def test_function_call_items_register_their_call_ids(self, pair):
        """§5f: a later `function_call_output` must name a call of the conversation."""
        pair.server_sends_all(function_call_response(RESP, A, CALL))
        assert pair.client.conversation.call_ids == {CALL}
        assert pair.server.conversation.call_ids == {CALL}

    def test_a_call_id_seen_only_in_conversation_item_done_is_registered(self, pair):
        """The `.added` item may not carry `call_id` yet; the `.done` one does."""
        call = {"id": A, "type": "function_call", "name": "f", "arguments": "{}"}
        pair.to_client({"type": "conversation.item.added", "item": call})
        pair.to_client({"type": "conversation.item.done", "item": call | {"call_id": CALL}})
        assert pair.client.conversation.call_ids == {CALL}

    def test_items_whose_content_is_not_a_list_of_parts_are_kept(self, pair):
        """Content parts that are not objects carry no audio."""
        item = {"id": A, "type": "message", "role": "assistant", "content": ["x", None]}
        assert pair.to_client({"type": "conversation.item.added", "item": item}).ok
        assert not pair.client.conversation.items[A].has_output_audio


class TestItemReferencesOnTheServerSide:
    @pytest.mark.parametrize(("kind", "code_and_verb"), sorted(ITEM_REFERENCE_ERRORS.items()))
    def test_a_reference_to_an_unknown_item_is_rejected(self, pair, kind, code_and_verb):
        """Catalog 23 / ITEM_REFERENCE_ERRORS: one live code and verb per event."""
        code, verb = code_and_verb
        finding = rejection(pair, reference(kind, "item_X", content_index=0, audio_end_ms=0))
        assert (finding.code, finding.param, finding.event_id) == (
            code,
            "item_id",
            f"evt_{kind.rsplit('.', 1)[1]}",
        )
        assert finding.message == f"Error {verb} item: the item with id 'item_X' does not exist."

    @pytest.mark.parametrize("kind", sorted(ITEM_REFERENCE_ERRORS))
    def test_a_reference_to_a_deleted_item_is_rejected(self, spoken, kind):
        """§5j: a deleted item is gone for every later reference."""
        spoken.server_sends({"type": "conversation.item.deleted", "item_id": SPOKEN})
        finding = rejection(spoken, reference(kind, SPOKEN, audio_end_ms=0))
        assert finding.code == ITEM_REFERENCE_ERRORS[kind][0]

    @pytest.mark.parametrize("kind", ["conversation.item.delete", "conversation.item.retrieve"])
    def test_delete_and_retrieve_of_a_known_item_are_accepted(self, spoken, kind):
        """§5j: any existing item may be deleted or retrieved."""
        assert spoken.to_server(reference(kind, A)).ok

    def test_truncating_a_user_item_is_rejected(self, spoken):
        """Catalog 6: "Only model output audio messages can be truncated"."""
        finding = rejection(spoken, reference("conversation.item.truncate", A, audio_end_ms=0))
        assert (finding.code, finding.param, finding.message, finding.event_id) == (
            "unsupported_content_type",
            None,
            "Only model output audio messages can be truncated",
            "evt_truncate",
        )

    def test_truncating_an_assistant_text_item_is_rejected(self, pair):
        """Catalog 6: text-only assistant items hold no model audio."""
        pair.server_sends_all(text_response(RESP, ASSISTANT))
        finding = rejection(
            pair, reference("conversation.item.truncate", ASSISTANT, audio_end_ms=0)
        )
        assert finding.code == "unsupported_content_type"

    def test_truncating_beyond_the_received_audio_is_rejected(self, spoken):
        """Catalog 6: "Audio content of 100ms is already shorter than 150ms", invalid_value."""
        finding = rejection(
            spoken, reference("conversation.item.truncate", SPOKEN, audio_end_ms=150)
        )
        assert (finding.code, finding.param, finding.message, finding.event_id) == (
            "invalid_value",
            "audio_end_ms",
            "Audio content of 100ms is already shorter than 150ms",
            "evt_truncate",
        )

    @pytest.mark.parametrize("end_ms", [0, 60, 100, None])
    def test_truncating_within_the_received_audio_is_accepted(self, spoken, end_ms):
        """Catalog 6: clamp `audio_end_ms` to what was received and it is fine."""
        assert spoken.to_server(
            reference("conversation.item.truncate", SPOKEN, audio_end_ms=end_ms)
        ).ok

    def test_a_truncated_item_cannot_be_truncated_beyond_its_new_end(self, spoken):
        """After `conversation.item.truncated` the item is only that long."""
        spoken.server_sends(
            {"type": "conversation.item.truncated", "item_id": SPOKEN, "audio_end_ms": 30}
        )
        finding = rejection(
            spoken, reference("conversation.item.truncate", SPOKEN, audio_end_ms=31)
        )
        assert finding.message == "Audio content of 30ms is already shorter than 31ms"

    @pytest.mark.parametrize(("fmt", "bytes_per_ms"), sorted(BYTES_PER_MS.items()))
    def test_audio_length_is_measured_in_the_output_format(self, fmt, bytes_per_ms):
        """BYTES_PER_MS (§8): PCM16 24 kHz is 48 bytes/ms, G.711 8 bytes/ms."""
        pair = SessionPair()
        pair.open(output_format=fmt)
        audio = bytes(100 * bytes_per_ms)
        pair.server_sends_all(audio_response(RESP, SPOKEN, audio=audio))
        assert pair.to_server(reference("conversation.item.truncate", SPOKEN, audio_end_ms=100)).ok
        finding = rejection(pair, reference("conversation.item.truncate", SPOKEN, audio_end_ms=101))
        assert finding.message == "Audio content of 100ms is already shorter than 101ms"


class TestItemCreateOnTheServerSide:
    def test_a_duplicate_client_item_id_is_rejected(self, pair):
        """Catalog 23 / §4: `item_create_duplicate_item_id`, Azure GA wording."""
        pair.add_user_text(A)
        event = {
            "type": "conversation.item.create",
            "event_id": "evt_dup",
            "item": user_text_item(A),
        }
        finding = rejection(pair, event)
        assert (finding.code, finding.param, finding.message, finding.event_id) == (
            "item_create_duplicate_item_id",
            "item.id",
            f"Error adding item: an item with id '{A}' already exists.",
            "evt_dup",
        )

    def test_an_unknown_previous_item_id_is_rejected(self, pair):
        """§5c: "Errors (... unknown `previous_item_id` ...) -> single `error`"."""
        event = {
            "type": "conversation.item.create",
            "event_id": "evt_prev",
            "previous_item_id": "item_nope",
            "item": user_text_item(B),
        }
        finding = rejection(pair, event)
        assert (finding.code, finding.param, finding.message, finding.event_id) == (
            "invalid_value",
            "previous_item_id",
            "Error adding item: the previous item with id 'item_nope' does not exist.",
            "evt_prev",
        )

    @pytest.mark.parametrize("previous", ["root", None, A])
    def test_root_null_or_a_known_previous_item_id_is_accepted(self, pair, previous):
        """§4: `previous_item_id: "root"` inserts at the front."""
        pair.add_user_text(A)
        event = {"type": "conversation.item.create", "previous_item_id": previous}
        assert pair.to_server(event | {"item": user_text_item(B)}).ok

    def test_an_item_create_without_an_item_object_is_left_to_the_schema(self, pair):
        """No `item` object: nothing to judge here (schema checks report it)."""
        assert pair.to_server({"type": "conversation.item.create", "item": None}).ok

    def test_a_function_call_output_for_an_unknown_call_is_rejected(self, pair):
        """Catalog 24: "Tool call ID 'call_X' not found in conversation."."""
        event = {
            "type": "conversation.item.create",
            "event_id": "evt_out",
            "item": {"type": "function_call_output", "call_id": "call_X", "output": "{}"},
        }
        finding = rejection(pair, event)
        assert (finding.code, finding.param, finding.message, finding.event_id) == (
            "invalid_tool_call_id",
            None,  # live: param null (issue 13)
            "Tool call ID 'call_X' not found in conversation.",
            "evt_out",
        )

    def test_a_function_call_output_for_a_known_call_is_accepted(self, pair):
        """§5f: the output follows the function_call item."""
        pair.server_sends_all(function_call_response(RESP, A, CALL))
        item = {"type": "function_call_output", "call_id": CALL, "output": "{}"}
        assert pair.to_server({"type": "conversation.item.create", "item": item}).ok
        no_call_id = {"type": "function_call_output", "output": "{}"}
        assert pair.to_server({"type": "conversation.item.create", "item": no_call_id}).ok

    def test_a_function_call_output_for_a_deleted_call_is_rejected(self, pair):
        """Catalog 24: "output sent for a call the server no longer has" (e.g. after hand-off)."""
        pair.server_sends_all(function_call_response(RESP, A, CALL))
        pair.server_sends({"type": "conversation.item.deleted", "item_id": A})
        item = {"type": "function_call_output", "call_id": CALL, "output": "{}"}
        finding = rejection(pair, {"type": "conversation.item.create", "item": item})
        assert finding.code == "invalid_tool_call_id"

    def test_replaying_assistant_output_audio_is_rejected_at_its_content_index(self, pair):
        """Catalog 30: `missing_required_parameter`, `item.content[N].text`."""
        item = {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "a"}, {"type": "output_audio"}],
        }
        finding = rejection(
            pair, {"type": "conversation.item.create", "event_id": "e1", "item": item}
        )
        assert (finding.code, finding.param, finding.message, finding.event_id) == (
            "missing_required_parameter",
            "item.content[1].text",
            "Missing required parameter: 'item.content[1].text'.",
            "e1",
        )

    def test_assistant_text_history_is_accepted(self, pair):
        """Catalog 30: clients convert assistant audio to `output_text`."""
        item = {"type": "message", "role": "assistant", "content": [{"type": "output_text"}, "x"]}
        assert pair.to_server({"type": "conversation.item.create", "item": item}).ok
        no_content = {"type": "message", "role": "assistant"}
        assert pair.to_server({"type": "conversation.item.create", "item": no_content}).ok


class TestVoiceLockOnTheServerSide:
    @staticmethod
    def update(voice):
        return {
            "type": "session.update",
            "event_id": "evt_voice",
            "session": {"type": "realtime", "audio": {"output": {"voice": voice}}},
        }

    def test_changing_the_voice_after_assistant_audio_is_rejected(self, spoken):
        """Catalog 25 / §6.2 `cannot_update_voice`, `param: null`."""
        finding = rejection(spoken, self.update("cedar"))
        assert (finding.code, finding.param, finding.message, finding.event_id) == (
            "cannot_update_voice",
            None,
            "Cannot update a conversation's voice if assistant audio is present.",
            "evt_voice",
        )

    def test_resending_the_same_voice_after_audio_is_accepted(self, spoken):
        """Catalog 25: re-sending the full config is fine while the voice is unchanged."""
        assert spoken.to_server(self.update("alloy")).ok

    def test_an_update_without_a_voice_is_accepted_after_audio(self, spoken):
        """Only the voice is locked."""
        assert spoken.to_server({"type": "session.update", "session": {"type": "realtime"}}).ok

    def test_the_voice_may_change_before_any_assistant_audio(self, pair):
        """Catalog 25: set the voice before any audio response."""
        pair.server_sends_all(text_response(RESP, ASSISTANT))
        assert pair.to_server(self.update("cedar")).ok

    def test_the_locked_voice_is_the_one_from_the_latest_session_updated(self, pair):
        """§5b: `session.updated` carries the effective voice."""
        pair.server_sends({**session_created(voice="cedar"), "type": "session.updated"})
        pair.server_sends_all(audio_response(RESP, SPOKEN))
        assert pair.to_server(self.update("cedar")).ok
        assert rejection(pair, self.update("alloy")).code == "cannot_update_voice"


class TestItemRulesOnTheClientSide:
    @pytest.mark.parametrize("kind", sorted(ITEM_REFERENCE_ERRORS))
    def test_sending_a_reference_to_an_unknown_item_raises(self, pair, kind):
        """Our own client may not send what the live server would reject (catalog 23)."""
        with pytest.raises(LocalProtocolError) as caught:
            pair.client.send(reference(kind, "item_X"))
        verb = ITEM_REFERENCE_ERRORS[kind][1]
        assert str(caught.value) == (
            f"{kind}: Error {verb} item: the item with id 'item_X' does not exist."
        )
        assert pair.client.data_to_send() == []

    def test_sending_a_truncate_beyond_the_received_audio_raises(self, spoken):
        """Catalog 6: the client knows how much audio it received."""
        with pytest.raises(LocalProtocolError, match=r"Audio content of 100ms is already shorter"):
            spoken.client.send(reference("conversation.item.truncate", SPOKEN, audio_end_ms=101))
        assert spoken.client_sends(
            reference("conversation.item.truncate", SPOKEN, audio_end_ms=100)
        ).ok

    def test_sending_a_duplicate_item_raises_and_a_new_one_is_sent(self, pair):
        """Catalog 23: ids are unique."""
        pair.add_user_text(A)
        with pytest.raises(LocalProtocolError, match=r"already exists"):
            pair.client.send({"type": "conversation.item.create", "item": user_text_item(A)})
        received = pair.client_sends(
            {"type": "conversation.item.create", "item": user_text_item(B)}
        )
        assert received.ok

    def test_sending_a_voice_change_after_audio_raises(self, spoken):
        """Catalog 25, on our own client."""
        with pytest.raises(LocalProtocolError, match=r"Cannot update a conversation's voice"):
            spoken.client.send(TestVoiceLockOnTheServerSide.update("cedar"))

    def test_a_whole_item_exchange_passes_both_sides(self, pair):
        """§5c + §5j: create, added/done, retrieve, delete, deleted."""
        pair.client_sends({"type": "conversation.item.create", "item": user_text_item(A)})
        received = pair.server_sends_all(item_added_done(user_text_item(A)))
        pair.client_sends({"type": "conversation.item.retrieve", "item_id": A})
        received += [
            pair.server_sends({"type": "conversation.item.retrieved", "item": user_text_item(A)})
        ]
        pair.client_sends({"type": "conversation.item.delete", "item_id": A})
        received += [pair.server_sends({"type": "conversation.item.deleted", "item_id": A})]
        assert all_findings(received + pair.server_received) == []
        assert pair.client.item_ids == pair.server.item_ids == []
