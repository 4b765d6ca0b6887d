"""Machine 2, the response lifecycle: `response.created` opens, `response.done` closes.

At most one default-conversation response is active; out-of-band responses
(`conversation_id: null`) may overlap (§5d, §5f, §5j, error
`conversation_already_has_active_response`, §6.2).
"""

import pytest

from conformance.protocol import LocalProtocolError, ResponseState, SessionState
from conformance.protocol.states import RESPONSE_SCOPED_EVENTS
from tests.helpers import (
    SessionPair,
    all_findings,
    audio_response,
    cancelled_response,
    function_call_response,
    new_ids,
    out_of_band_response,
    rejection,
    response_create,
    text_response,
    violations,
)

IDS = new_ids("response lifecycle")
RESP, RESP2, OOB, OOB2 = IDS.new("resp"), IDS.new("resp"), IDS.new("resp"), IDS.new("resp")
ITEM, ITEM2, OOB_ITEM, OOB_ITEM2 = (IDS.new("item") for _ in range(4))
CALL = IDS.new("call")


def created(response_id, conversation_id="conv_x"):
    return {
        "type": "response.created",
        "event_id": IDS.new("event"),
        "response": {
            "id": response_id,
            "status": "in_progress",
            "conversation_id": conversation_id,
        },
    }


def done(response_id, status="completed"):
    return {
        "type": "response.done",
        "event_id": IDS.new("event"),
        "response": {"id": response_id, "status": status, "output": []},
    }


def error_for(event_id, code="conversation_already_has_active_response"):
    return {
        "type": "error",
        "event_id": IDS.new("event"),
        "error": {
            "type": "invalid_request_error",
            "code": code,
            "message": "...",
            "param": None,
            "event_id": event_id,
        },
    }


class TestWholeResponses:
    @pytest.mark.parametrize(
        "events",
        [
            pytest.param(text_response(RESP, ITEM, "Hi there", deltas=3), id="text §5d"),
            pytest.param(audio_response(RESP, ITEM), id="audio §5e"),
            pytest.param(function_call_response(RESP, ITEM, CALL), id="function call §5f"),
            pytest.param(cancelled_response(RESP, ITEM), id="cancelled §5h"),
            pytest.param(out_of_band_response(RESP, ITEM), id="out of band §5j"),
        ],
    )
    def test_a_live_ordered_response_gives_no_findings_on_either_side(self, pair, events):
        """The live orders of §5d-§5j pass the server's `send()` and the client's checks."""
        received = pair.server_sends_all(events)
        assert all_findings(received) == []
        assert pair.client.errors == []
        assert pair.client.active_response_id is None
        assert pair.client.conversation.responses[RESP].state is ResponseState.DONE

    def test_a_default_response_is_active_from_created_to_done(self, pair):
        """§5d steps 2 and 11: `active_response_id` follows the default response."""
        events = text_response(RESP, ITEM)
        pair.server_sends(events[0])
        assert pair.client.active_response_id == RESP
        assert pair.server.active_response_id == RESP
        pair.server_sends_all(events[1:-2])
        assert pair.client.active_response_id == RESP
        pair.server_sends(events[-2])
        assert pair.client.active_response_id is None

    def test_two_default_responses_one_after_the_other_are_fine(self, pair):
        """§5j: two consecutive turns repeat (c)+(d) exactly."""
        first = text_response(RESP, ITEM)
        second = text_response(RESP2, ITEM2, previous_item_id=ITEM)
        assert all_findings(pair.server_sends_all(first + second)) == []
        assert pair.client.item_ids == [ITEM, ITEM2]


class TestResponseCreatedAndDoneOnTheClientSide:
    def test_a_second_default_response_created_while_one_is_active_is_reported(self, pair):
        """`conversation_already_has_active_response`: only one default response at a time."""
        pair.to_client(created(RESP))
        received = pair.to_client(created(RESP2))
        assert violations(pair.client, received) == [
            f"response.created for {RESP2!r} while {RESP!r} is still active in the default "
            "conversation"
        ]

    def test_an_out_of_band_response_may_start_while_a_default_one_is_active(self, pair):
        """§5j: `conversation: "none"` responses (`conversation_id: null`) may overlap."""
        pair.to_client(created(RESP))
        assert pair.to_client(created(OOB, conversation_id=None)).ok
        assert pair.to_client(created(OOB2, conversation_id=None)).ok
        assert pair.client.active_response_id == RESP

    def test_a_default_response_may_start_while_out_of_band_ones_run(self, pair):
        """Out-of-band responses never hold the default conversation."""
        pair.to_client(created(OOB, conversation_id=None))
        assert pair.client.active_response_id is None
        assert pair.to_client(created(RESP)).ok

    def test_a_repeated_response_id_is_reported(self, pair):
        """Response ids are unique (`resp_…` per response)."""
        pair.to_client(created(RESP))
        pair.to_client(done(RESP))
        received = pair.to_client(created(RESP))
        assert violations(pair.client, received) == [
            f"response.created repeats response id {RESP!r}"
        ]
        assert pair.client.active_response_id is None

    def test_response_done_for_a_response_never_created_is_reported(self, pair):
        """`response.done` closes a response that `response.created` opened."""
        received = pair.to_client(done(RESP))
        assert violations(pair.client, received) == [
            f"response.done for {RESP!r}, which was never created"
        ]

    def test_response_done_with_a_non_string_id_is_reported(self, pair):
        """An id that is not a string names no response."""
        received = pair.to_client({"type": "response.done", "response": {"id": 5}})
        assert violations(pair.client, received) == ["response.done for 5, which was never created"]

    def test_response_done_twice_is_reported(self, pair):
        """`response.done` is the last event of a response."""
        pair.to_client(created(RESP))
        pair.to_client(done(RESP))
        received = pair.to_client(done(RESP))
        assert violations(pair.client, received) == [f"response.done sent twice for {RESP!r}"]

    def test_response_events_without_a_response_object_change_nothing(self, pair):
        """No `response` object: nothing to open or close (the schema checks report it)."""
        assert pair.to_client({"type": "response.created", "response": None}).ok
        assert pair.to_client({"type": "response.done", "response": "x"}).ok
        assert pair.client.conversation.responses == {}

    @pytest.mark.parametrize("kind", sorted(RESPONSE_SCOPED_EVENTS))
    def test_every_response_scoped_event_naming_an_unknown_response_is_reported(self, pair, kind):
        """RESPONSE_SCOPED_EVENTS name their response by `response_id`; it must exist."""
        event = {"type": kind, "response_id": "resp_nope", "item_id": ITEM, "output_index": 0}
        event |= {"content_index": 0, "item": {"id": ITEM, "type": "message"}}
        received = pair.to_client(event)
        assert violations(pair.client, received) == [
            f"{kind} names response 'resp_nope', never created"
        ]

    @pytest.mark.parametrize("kind", sorted(RESPONSE_SCOPED_EVENTS))
    def test_every_response_scoped_event_after_response_done_is_reported(self, pair, kind):
        """Nothing of a response may follow its `response.done` (§5d step 11)."""
        pair.to_client(created(RESP))
        pair.to_client(done(RESP))
        event = {"type": kind, "response_id": RESP, "item_id": ITEM, "output_index": 0}
        event |= {"content_index": 0, "item": {"id": ITEM, "type": "message"}}
        received = pair.to_client(event)
        assert violations(pair.client, received) == [
            f"{kind} for response {RESP!r} after its response.done"
        ]

    def test_a_response_id_that_is_not_a_string_names_no_response(self, pair):
        """`response_id` must be a string to name a response."""
        pair.to_client(created(RESP))
        received = pair.to_client(
            {"type": "response.output_text.delta", "response_id": 1, "item_id": ITEM}
        )
        assert violations(pair.client, received) == [
            "response.output_text.delta names response 1, never created"
        ]


class TestResponseEndRules:
    def test_response_done_before_output_item_done_is_reported(self, pair):
        """§5d steps 10-11: `response.output_item.done` precedes `response.done`."""
        events = text_response(RESP, ITEM)
        without = [e for e in events if e["type"] != "response.output_item.done"]
        received = [*pair.server_sends_all(without[:-2]), pair.to_client(without[-2])]
        assert violations(pair.client, received[-1]) == [
            f"response.done before response.output_item.done of {ITEM!r}"
        ]

    def test_a_completed_response_done_before_conversation_item_done_is_reported(self, pair):
        """§5d steps 9-11: a completed default response ends its items in the conversation."""
        events = text_response(RESP, ITEM)
        without = [e for e in events if e["type"] != "conversation.item.done"]
        for event in without[:-2]:
            pair.to_client(event)
        received = pair.to_client(without[-2])
        assert violations(pair.client, received) == [
            f"response.done before conversation.item.done of {ITEM!r}"
        ]

    def test_a_cancelled_response_may_end_without_conversation_item_done(self, pair):
        """§5h: `conversation.item.done` for a cancelled item is only inferred; not required."""
        events = cancelled_response(RESP, ITEM)
        without = [e for e in events if e["type"] != "conversation.item.done"]
        assert all_findings(pair.to_client(e) for e in without) == []

    def test_an_out_of_band_response_never_needs_conversation_item_events(self, pair):
        """§5j: out-of-band items are not in the default conversation."""
        assert all_findings(pair.server_sends_all(out_of_band_response(OOB, OOB_ITEM))) == []
        assert pair.client.item_ids == []

    def test_an_empty_response_may_end_at_once(self, pair):
        """A response with no output items (e.g. failed at once, §5i) is just created + done."""
        assert pair.to_client(created(RESP)).ok
        assert pair.to_client(done(RESP, status="failed")).ok
        assert pair.client.active_response_id is None


class TestResponseCreateOnTheServerSide:
    def test_response_create_while_a_response_is_active_is_rejected(self, pair):
        """Catalog 1 / §6.2 `conversation_already_has_active_response`, event id echoed."""
        pair.server_sends(text_response(RESP, ITEM)[0])
        finding = rejection(pair, response_create(event_id="evt_second"))
        assert (finding.code, finding.param, finding.event_id) == (
            "conversation_already_has_active_response",
            None,
            "evt_second",
        )
        assert finding.message == (
            f"Conversation already has an active response in progress: {RESP}. "
            "Wait until the response is finished before creating a new one."
        )

    def test_a_rejection_without_a_client_event_id_echoes_null(self, pair):
        """§5i: `error.event_id` is the client's `event_id` if one was sent, else null."""
        pair.server_sends(text_response(RESP, ITEM)[0])
        assert rejection(pair, response_create()).event_id is None
        assert rejection(pair, {**response_create(), "event_id": 12}).event_id is None

    def test_response_create_is_accepted_again_after_response_done(self, pair):
        """§5f: the next `response.create` is legal once `response.done` arrived."""
        pair.server_sends_all(text_response(RESP, ITEM))
        assert pair.to_server(response_create(event_id="evt_next")).ok

    def test_an_out_of_band_response_create_is_accepted_while_one_is_active(self, pair):
        """§5j: `response.conversation: "none"` does not touch the default conversation."""
        pair.server_sends(text_response(RESP, ITEM)[0])
        assert pair.to_server(response_create(out_of_band=True)).ok

    def test_response_create_with_a_non_object_response_counts_as_default(self, pair):
        """Only an explicit `conversation: "none"` makes a response out of band."""
        pair.server_sends(text_response(RESP, ITEM)[0])
        finding = rejection(pair, {"type": "response.create", "response": "none"})
        assert finding.code == "conversation_already_has_active_response"


class TestResponseCancelOnTheServerSide:
    def test_cancel_with_nothing_active_is_rejected(self, pair):
        """Catalog 5 / §5h: `response_cancel_not_active`, harmless, session unaffected."""
        finding = rejection(pair, {"type": "response.cancel", "event_id": "evt_c"})
        assert (finding.code, finding.param, finding.event_id, finding.message) == (
            "response_cancel_not_active",
            None,
            "evt_c",
            "Cancellation failed: no active response found",
        )

    def test_cancel_of_a_response_that_is_not_active_is_rejected(self, pair):
        """§5h: "No active response (or non-matching `response_id`)"."""
        pair.server_sends_all(text_response(RESP, ITEM))
        pair.server_sends(text_response(RESP2, ITEM2)[0])
        for wanted in (RESP, "resp_other"):
            finding = rejection(pair, {"type": "response.cancel", "response_id": wanted})
            assert finding.code == "response_cancel_not_active"

    @pytest.mark.parametrize("with_id", [True, False])
    def test_cancel_of_the_active_response_is_accepted(self, pair, with_id):
        """`response.cancel` with or without `response_id` while a response runs."""
        pair.server_sends(text_response(RESP, ITEM)[0])
        event = {"type": "response.cancel"} | ({"response_id": RESP} if with_id else {})
        assert pair.to_server(event).ok

    def test_cancel_of_an_out_of_band_response_is_accepted(self, pair):
        """Out-of-band responses are in progress too, so they can be cancelled."""
        pair.server_sends(out_of_band_response(OOB, OOB_ITEM)[0])
        assert pair.to_server({"type": "response.cancel", "response_id": OOB}).ok


class TestServerSendsResponsesInOrder:
    def test_response_created_while_one_is_active_raises(self, pair):
        """Our mock may not start a second default response (§6.2 rule, server side)."""
        pair.server_sends(text_response(RESP, ITEM)[0])
        with pytest.raises(LocalProtocolError, match=r"^response\.created: response\.created for"):
            pair.server.send(text_response(RESP2, ITEM2)[0])
        assert pair.server.data_to_send() == []

    def test_response_done_before_output_item_done_raises(self, pair):
        """§5d steps 10-11, enforced on our own server's output."""
        events = text_response(RESP, ITEM)
        pair.server_sends_all(events[:-3])
        with pytest.raises(
            LocalProtocolError, match=r"response\.done before response\.output_item"
        ):
            pair.server.send(events[-2])

    def test_a_non_strict_server_sends_out_of_order_events(self):
        """`strict=False`: the mock can inject ordering faults on purpose."""
        pair = SessionPair(server_strict=False)
        pair.open()
        events = text_response(RESP, ITEM)
        received = pair.server_sends(events[-2])
        assert violations(pair.client, received) == [
            f"response.done for {RESP!r}, which was never created"
        ]

    def test_a_refused_server_send_moves_the_session_to_error(self, pair):
        """h11's rule: after our own protocol error the session refuses to go on."""
        events = text_response(RESP, ITEM)
        pair.server_sends(events[0])
        wrong = {**events[1], "output_index": 1}
        with pytest.raises(LocalProtocolError):
            pair.server.send(wrong)
        assert pair.server.state is SessionState.ERROR
        with pytest.raises(LocalProtocolError, match="the session is error"):
            pair.server.send(events[1])

    def test_a_non_strict_server_session_sends_a_refused_event_anyway(self):
        """With `strict=False` the problem is not raised and the frame is queued."""
        pair = SessionPair(server_strict=False)
        pair.open()
        pair.server_sends(text_response(RESP, ITEM)[0])
        pair.server.data_to_send()
        pair.server.send(text_response(RESP2, ITEM2)[0])
        assert len(pair.server.data_to_send()) == 1


class TestPendingResponseCreates:
    def test_a_sent_response_create_is_pending_until_response_created(self, pair):
        """Catalog 1: track the in-flight create; §5d step 2 answers it."""
        pair.client_sends(response_create(event_id="evt_1"))
        assert pair.client.response_pending
        pair.server_sends(text_response(RESP, ITEM)[0])
        assert not pair.client.response_pending

    def test_an_out_of_band_response_created_does_not_answer_a_default_create(self, pair):
        """§5j: `conversation_id: null` belongs to an out-of-band create."""
        pair.client_sends(response_create(event_id="evt_1"))
        pair.server_sends(out_of_band_response(OOB, OOB_ITEM)[0])
        assert pair.client.response_pending

    def test_an_error_echoing_the_pending_create_clears_it(self, pair):
        """§5i: `error.event_id` = the rejected client event's id."""
        pair.client_sends(response_create(event_id="evt_1"))
        assert pair.to_client(error_for("evt_1", code="invalid_value")).ok
        assert not pair.client.response_pending
        pair.client_sends(response_create(event_id="evt_2"))
        assert pair.client.response_pending

    def test_an_active_response_error_clears_the_oldest_pending_create(self, pair):
        """Catalog 1: Jan 2025 builds may not echo the id; the code still settles the create."""
        pair.client_sends(response_create(event_id="evt_1"))
        pair.to_client(error_for("evt_unrelated"))
        assert not pair.client.response_pending

    def test_an_unrelated_error_leaves_the_create_pending(self, pair):
        """Only the rejection of the create itself settles it."""
        pair.client_sends(response_create(event_id="evt_1"))
        pair.to_client(error_for("evt_other", code="invalid_value"))
        pair.to_client({"type": "error", "event_id": "e", "error": "not an object"})
        assert pair.client.response_pending

    def test_events_that_are_neither_created_nor_error_leave_it_pending(self, pair):
        """`rate_limits.updated` and friends say nothing about the create."""
        pair.client_sends(response_create(event_id="evt_1"))
        pair.to_client({"type": "rate_limits.updated", "event_id": "e", "rate_limits": []})
        pair.to_client({"type": "response.created", "event_id": "e", "response": None})
        assert pair.client.response_pending

    def test_errors_with_nothing_pending_change_nothing(self, pair):
        """An `error` with no pending create is just reported to the caller."""
        assert pair.to_client(error_for("evt_1")).ok
        assert not pair.client.response_pending

    def test_an_unrelated_error_without_event_id_leaves_an_anonymous_create_pending(self, pair):
        """A create sent without `event_id` is not the subject of every id-less error."""
        pair.client_sends(response_create())
        pair.to_client(error_for(None, code="invalid_value"))
        assert pair.client.response_pending
