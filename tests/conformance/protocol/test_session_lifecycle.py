"""Machine 1, the session lifecycle, and the frame plumbing of `Session` (§5a, §6.2).

CONNECTING until the server's first event, which must be `session.created` (or an `error`
before a handshake close); then OPEN; then CLOSED.
"""

import pytest

from conformance.protocol import (
    BINARY_FRAME,
    PROTOCOL_ERROR,
    Finding,
    LocalProtocolError,
    RemoteProtocolError,
    Session,
    SessionState,
    Side,
    plain_decode,
)
from conformance.protocol.states import FIRST_SERVER_EVENTS
from tests.helpers import (
    SessionPair,
    encode,
    session_created,
    state_snapshot,
    text_response,
    violations,
)

HANDSHAKE_ERROR = {
    "type": "error",
    "event_id": "event_E",
    "error": {
        "type": "invalid_request_error",
        "code": "beta_api_shape_disabled",
        "message": "The Realtime Beta API is no longer supported.",
        "param": None,
        "event_id": None,
    },
}


class TestFirstServerEventOnTheClientSide:
    def test_a_session_starts_connecting(self):
        """§5a: after the HTTP 101 nothing has been said yet."""
        for side in Side:
            assert Session(side).state is SessionState.CONNECTING

    def test_session_created_opens_the_session_and_sets_the_config(self):
        """§5a step 2: `session.created` carries the full effective session."""
        pair = SessionPair()
        received = pair.open(voice="marin")
        assert received.ok
        assert pair.client.state is SessionState.OPEN
        assert pair.client.config["audio"]["output"]["voice"] == "marin"

    @pytest.mark.parametrize("first", sorted(FIRST_SERVER_EVENTS))
    def test_each_allowed_first_event_is_accepted(self, first):
        """FIRST_SERVER_EVENTS: `session.created`, or an `error` that precedes a close (§6.2)."""
        pair = SessionPair()
        received = pair.to_client(
            session_created() if first == "session.created" else HANDSHAKE_ERROR
        )
        assert received.ok
        assert pair.client.errors == []

    def test_an_error_first_leaves_the_session_connecting(self):
        """§5i: fatal handshake errors come as 101, `error`, close; no session is opened."""
        pair = SessionPair()
        pair.to_client(HANDSHAKE_ERROR)
        assert pair.client.state is SessionState.CONNECTING
        assert pair.to_client(session_created()).ok
        assert pair.client.state is SessionState.OPEN

    @pytest.mark.parametrize(
        "kind",
        ["conversation.created", "response.created", "rate_limits.updated", "session.updated"],
    )
    def test_any_other_first_event_is_reported_not_raised(self, kind):
        """§5a: "No `conversation.created` is sent in GA"; the first event is session.created."""
        pair = SessionPair()
        received = pair.to_client({"type": kind, "event_id": "event_1"})
        assert violations(pair.client, received) == [
            f"the first server event must be session.created, not {kind!r}"
        ]
        (error,) = pair.client.errors
        assert isinstance(error, RemoteProtocolError)
        assert (error.index, error.event_type) == (0, kind)
        assert pair.client.state is SessionState.CONNECTING

    def test_a_second_session_created_is_reported_with_its_index(self):
        """§5a: `session.created` comes once; later config changes are `session.updated`."""
        pair = SessionPair()
        pair.open()
        pair.to_client({"type": "rate_limits.updated", "event_id": "e", "rate_limits": []})
        received = pair.to_client(session_created())
        assert violations(pair.client, received) == ["session.created sent twice"]
        assert pair.client.errors[0].index == 2
        assert pair.client.errors[0].event_type == "session.created"

    def test_session_updated_replaces_the_effective_config(self):
        """§5b: `session.updated` carries the full effective config."""
        pair = SessionPair()
        pair.open(voice="alloy")
        updated = session_created(voice="cedar")
        received = pair.server_sends({**updated, "type": "session.updated"})
        assert received.ok
        assert pair.client.config["audio"]["output"]["voice"] == "cedar"

    def test_a_session_event_without_a_session_object_keeps_the_old_config(self):
        """Only a `session` object can replace the config (schema checks report the rest)."""
        pair = SessionPair()
        pair.open(voice="alloy")
        assert pair.to_client({"type": "session.updated", "event_id": "e", "session": "x"}).ok
        assert pair.client.config["audio"]["output"]["voice"] == "alloy"


class TestServerSendsInOrder:
    def test_a_server_event_before_session_created_raises_local_protocol_error(self):
        """§5a: our own server may not speak before `session.created`."""
        server = Session(Side.SERVER)
        event = text_response("resp_1", "item_1")[0]
        with pytest.raises(LocalProtocolError) as caught:
            server.send(event)
        assert str(caught.value) == (
            "response.created: the first server event must be session.created, "
            "not 'response.created'"
        )
        assert server.data_to_send() == []

    def test_a_non_strict_server_sends_it_anyway(self):
        """`strict=False` sends illegal events: the mock's fault-injection mode."""
        server = Session(Side.SERVER, strict=False)
        event = text_response("resp_1", "item_1")[0]
        assert server.send(event) == encode(event)
        assert server.data_to_send() == [encode(event)]

    def test_the_server_may_send_an_error_first_and_then_session_created(self):
        """FIRST_SERVER_EVENTS holds `error` for the handshake rejection."""
        server = Session(Side.SERVER)
        server.send(HANDSHAKE_ERROR)
        assert server.state is SessionState.CONNECTING
        server.send(session_created())
        assert server.state is SessionState.OPEN
        assert server.data_to_send() == [encode(HANDSHAKE_ERROR), encode(session_created())]

    def test_a_second_session_created_from_our_server_raises(self):
        """§5a: `session.created` comes once."""
        server = Session(Side.SERVER)
        server.send(session_created())
        with pytest.raises(LocalProtocolError, match=r"session\.created sent twice"):
            server.send(session_created())

    def test_data_to_send_drains_the_queue_in_order(self):
        """websockets' `data_to_send()`: each frame once, in send order."""
        server = Session(Side.SERVER)
        first = server.send(session_created())
        second = server.send({"type": "rate_limits.updated", "event_id": "e", "rate_limits": []})
        assert server.data_to_send() == [first, second]
        assert server.data_to_send() == []


class TestClose:
    @pytest.mark.parametrize("side", list(Side))
    def test_nothing_can_be_sent_after_the_connection_closed(self, side):
        """CLOSED is final: `send()` raises even with `strict=False`."""
        session = Session(side, strict=False)
        session.connection_closed()
        assert session.state is SessionState.CLOSED
        with pytest.raises(LocalProtocolError) as caught:
            session.send({"type": "session.update"})
        assert str(caught.value) == "cannot send 'session.update': the session is closed"

    def test_a_closed_session_still_records_late_frames(self):
        """Frames in flight when the socket closed are still judged (for the transcript)."""
        pair = SessionPair()
        pair.open()
        pair.client.connection_closed()
        received = pair.to_client(session_created())
        assert violations(pair.client, received) == ["session.created sent twice"]


class TestFrames:
    def test_received_records_the_index_text_and_event(self):
        """`Received.index` counts the peer's frames from 0."""
        pair = SessionPair()
        first = pair.open()
        second = pair.to_client({"type": "rate_limits.updated", "event_id": "e", "rate_limits": []})
        assert (first.index, second.index) == (0, 1)
        assert second.text == encode(second.event)
        assert second.type == "rate_limits.updated"
        assert second.ok
        assert second.audio is None

    def test_events_received_drains_what_arrived(self):
        """websockets' `events_received()`: each record once."""
        client = Session(Side.CLIENT)
        client.receive_text(encode(session_created()))
        client.receive_text(encode({"type": "rate_limits.updated", "event_id": "e"}))
        assert [r.type for r in client.events_received()] == [
            "session.created",
            "rate_limits.updated",
        ]
        assert client.events_received() == []

    @pytest.mark.parametrize("side", list(Side))
    def test_a_frame_that_is_not_json_is_an_invalid_json_finding(self, side):
        """§6.2 `invalid_json`: a text frame that is not JSON; never an exception."""
        session = Session(side)
        session.receive_text("{nope")
        (received,) = session.events_received()
        (finding,) = received.findings
        assert finding.code == "invalid_json"
        assert finding.message.startswith("Invalid event: ")
        assert (received.event, received.type, received.text) == (None, None, "{nope")
        assert session.errors == []
        assert session.state is SessionState.CONNECTING

    def test_the_invalid_json_message_uses_the_live_wording(self):
        """§6.2 `invalid_json`: "Invalid event: failed to parse JSON value. ..." [LIVE-3P]."""
        _, (finding,) = plain_decode("{nope")
        assert finding.message.startswith("Invalid event: failed to parse JSON value.")

    @pytest.mark.parametrize("text", ["[]", "1", '"session.created"', "null"])
    def test_json_that_is_not_an_object_is_an_invalid_event_finding(self, text):
        """Every Realtime event is a JSON object with a `type`."""
        event, findings = plain_decode(text)
        assert event is None
        assert findings == [Finding(code="invalid_event", message="Expected a JSON object.")]

    @pytest.mark.parametrize("side", list(Side))
    def test_a_binary_frame_is_an_invalid_event_finding_and_takes_an_index(self, side):
        """§6.2 `invalid_event`: "Expected a text WebSocket message; binary frames ..."."""
        session = Session(side)
        session.receive_bytes(b"\x00\x01")
        session.receive_text(encode(session_created()))
        binary, text = session.events_received()
        assert binary.findings == (BINARY_FRAME,)
        assert BINARY_FRAME.message == (
            "Expected a text WebSocket message; binary frames are not supported."
        )
        assert (binary.index, binary.text, binary.event) == (0, None, None)
        assert text.index == 1

    def test_a_type_that_is_not_a_string_has_no_received_type(self):
        """`Received.type` is the event's `type` only when it is a string."""
        pair = SessionPair()
        pair.open()
        received = pair.to_client({"type": 7})
        assert received.type is None
        assert received.event == {"type": 7}

    def test_a_decoder_finding_stops_the_event_from_being_judged(self):
        """A schema decoder's findings come back as they are; the state does not change."""
        schema_finding = Finding(code="unknown_parameter", message="Unknown parameter: 'x'.")
        client = Session(
            Side.CLIENT, decode=lambda text: ({"type": "session.created"}, [schema_finding])
        )
        before = state_snapshot(client)
        client.receive_text("anything")
        (received,) = client.events_received()
        assert received.findings == (schema_finding,)
        assert received.event == {"type": "session.created"}
        assert state_snapshot(client) == before

    def test_send_uses_the_injected_encoder(self):
        """`encode=` decides the wire text (the project uses orjson)."""
        server = Session(Side.SERVER, encode=lambda event: f"<{event['type']}>")
        assert server.send(session_created()) == "<session.created>"
        assert server.data_to_send() == ["<session.created>"]

    def test_ordering_findings_are_protocol_errors_not_live_error_types(self):
        """Findings about the server's order use our own type, never a live `error` type."""
        assert PROTOCOL_ERROR == "protocol_error"
        pair = SessionPair()
        (finding,) = pair.to_client({"type": "response.done", "event_id": "e"}).findings
        assert (finding.type, finding.code, finding.param, finding.event_id) == (
            "protocol_error",
            "event_out_of_order",
            None,
            None,
        )
