"""Pins of the mock's own behaviour that a mutation run found unguarded.

Each test kills one class of mutants that survived the whole suite (issue 13, point 6):
the behaviour is observed from the client's side (the in-memory transport, a virtual
clock), never through the app's internals, so the tests hold while the code moves.
"""

from __future__ import annotations

import base64
import itertools
import re
from dataclasses import dataclass
from typing import Any

import pytest

from conformance import _json
from conformance.protocol import replay
from conformance.transport import InMemoryTransport
from mock_server.config import MockConfig
from mock_server.handshake import Accepted, SecretGrant, check_handshake
from mock_server.hooks import NoHooks
from mock_server.request import ConnectRequest

from .app_harness import KEY, open_app, text_item, until

TEXT_SESSION = {"type": "realtime", "output_modalities": ["text"], "instructions": "Be terse."}
LOUD_10MS = b"\x80\x3e" * 240  # 10 ms of PCM16 at 24 kHz, every sample 16,000
SILENT_10MS = b"\x00\x00" * 240


def audio(chunk: bytes, ms: int) -> dict[str, Any]:
    data = base64.b64encode(chunk * (ms // 10)).decode()
    return {"type": "input_audio_buffer.append", "audio": data}


def next_event(wire: InMemoryTransport, within_ms: float = 60_000.0) -> dict[str, Any]:
    """The next server event (a close or silence fails the test)."""
    event = wire.recv_event(within_ms=within_ms)
    assert isinstance(event, dict), event
    return event


def configure(wire: InMemoryTransport, session: dict[str, Any]) -> dict[str, Any]:
    assert next_event(wire)["type"] == "session.created"
    wire.send({"type": "session.update", "session": session})
    updated = next_event(wire)
    assert updated["type"] == "session.updated", updated
    return updated


def drain(wire: InMemoryTransport, within_ms: float) -> list[dict[str, Any]]:
    """Every event that arrives until nothing more comes within `within_ms`."""
    events: list[dict[str, Any]] = []
    while isinstance(event := wire.recv_event(within_ms=within_ms), dict):
        events.append(event)
    return events


# --- the type the WebSocket endpoint refuses -------------------------------------------


def test_behaviour_answers_a_type_it_has_no_handler_for_like_the_validator() -> None:
    """Behaviour's own fallback for an accepted type without a handler (the validator
    normally answers first) gives the same live invalid_value error, and does not crash."""
    from conformance.protocol import Received

    app, wire = open_app()
    wire.recv_event()
    wire.send({"type": "output_audio_buffer.clear", "event_id": "evt_webrtc"})
    from_validator = next_event(wire)
    assert from_validator["type"] == "error"
    event = {"type": "output_audio_buffer.clear", "event_id": "evt_webrtc"}
    app.behaviour.handle(Received(index=1, text=_json.dumps(event), event=event))
    wire.send({"type": "input_audio_buffer.clear"})  # the app sends what is queued
    fallback = next_event(wire)
    assert fallback["type"] == "error"
    assert fallback["error"]["code"] == from_validator["error"]["code"] == "invalid_value"
    assert fallback["error"]["message"] == from_validator["error"]["message"]
    assert fallback["error"]["param"] == "type"
    assert "'response.cancel'." in fallback["error"]["message"]  # the list is complete


# --- input audio transcription ----------------------------------------------------------


def test_input_transcription_deltas_carry_their_type_and_add_up_to_the_transcript() -> None:
    _, wire = open_app()
    input_audio = {"transcription": {"model": "gpt-4o-transcribe"}, "turn_detection": None}
    configure(wire, {"type": "realtime", "audio": {"input": input_audio}})
    wire.send(audio(LOUD_10MS, 300))
    wire.send({"type": "input_audio_buffer.commit"})
    events = wire.events_until(
        until("conversation.item.input_audio_transcription.completed"), within_ms=30_000
    )
    committed = next(e for e in events if e["type"] == "input_audio_buffer.committed")
    prefix = "conversation.item.input_audio_transcription."
    deltas = [e for e in events if e["type"] == prefix + "delta"]
    completed = events[-1]
    assert deltas, [e["type"] for e in events]
    assert all(d["item_id"] == committed["item_id"] for d in deltas)
    assert completed["item_id"] == committed["item_id"]
    assert "".join(d["delta"] for d in deltas) == completed["transcript"]
    assert all(isinstance(e.get("type"), str) for e in events)


# --- input_audio_buffer.clear resets the VAD --------------------------------------------


def test_clear_forgets_speech_in_progress() -> None:
    """Speech started, then clear: silence afterwards ends no turn (the VAD was reset)."""
    _, wire = open_app()
    wire.recv_event()
    wire.send(audio(LOUD_10MS, 400))
    started = next_event(wire)
    assert started["type"] == "input_audio_buffer.speech_started"
    wire.send({"type": "input_audio_buffer.clear"})
    cleared = next_event(wire)
    assert cleared["type"] == "input_audio_buffer.cleared"
    wire.send(audio(SILENT_10MS, 1000))
    assert drain(wire, within_ms=3000) == []


def test_without_clear_the_same_silence_ends_the_turn() -> None:
    """The control for the test above: the silence alone does end a turn."""
    _, wire = open_app()
    wire.recv_event()
    wire.send(audio(LOUD_10MS, 400))
    wire.send(audio(SILENT_10MS, 1000))
    kinds = [e["type"] for e in drain(wire, within_ms=3000)]
    assert "input_audio_buffer.speech_stopped" in kinds
    assert "input_audio_buffer.committed" in kinds


# --- response.cancel picks the right response -------------------------------------------

SLOW = {"first_delta_delay": 2.0, "text_tokens_per_second": 5.0}


def two_responses(wire: InMemoryTransport) -> tuple[str, str]:
    """An in-band response and an out-of-band one, both streaming: their ids."""
    configure(wire, TEXT_SESSION)
    wire.send({"type": "conversation.item.create", "item": text_item("Two notes please.")})
    wire.send({"type": "response.create", "event_id": "evt_in_band"})
    out_of_band = {"conversation": "none", "metadata": {"purpose": "side"}}
    wire.send({"type": "response.create", "event_id": "evt_oob", "response": out_of_band})
    created: list[dict[str, Any]] = []
    while len(created) < 2:
        event = wire.recv_event(within_ms=10_000)
        assert isinstance(event, dict), event
        if event["type"] == "response.created":
            created.append(event["response"])
    in_band = next(r for r in created if r.get("conversation_id"))
    side = next(r for r in created if r is not in_band)
    return in_band["id"], side["id"]


def statuses(wire: InMemoryTransport, count: int = 2) -> dict[str, str]:
    """`{response id: status}` of the next `count` response.done (a cancel names its reason)."""
    done: dict[str, str] = {}
    while len(done) < count:
        event = next_event(wire)
        if event["type"] == "response.done":
            response = event["response"]
            done[response["id"]] = response["status"]
            if response["status"] == "cancelled":
                assert response["status_details"] == {
                    "type": "cancelled",
                    "reason": "client_cancelled",
                }
    return done


def test_cancel_by_id_cancels_that_response_only() -> None:
    _, wire = open_app(**SLOW)
    in_band, side = two_responses(wire)
    wire.send({"type": "response.cancel", "response_id": side})
    assert statuses(wire) == {side: "cancelled", in_band: "completed"}


def test_cancel_without_id_cancels_the_active_in_band_response() -> None:
    _, wire = open_app(**SLOW)
    in_band, side = two_responses(wire)
    wire.send({"type": "response.cancel"})
    assert statuses(wire) == {in_band: "cancelled", side: "completed"}


def test_cancel_without_id_and_only_an_out_of_band_response_cancels_that_one() -> None:
    """[inferred] With no default-conversation response active, a bare response.cancel
    stops the out-of-band response (ledger: cancel-bare-out-of-band)."""
    _, wire = open_app(**SLOW)
    configure(wire, TEXT_SESSION)
    wire.send({"type": "response.create", "response": {"conversation": "none"}})
    side = wire.events_until(until("response.created"))[-1]["response"]["id"]
    wire.send({"type": "response.cancel"})
    assert statuses(wire, 1) == {side: "cancelled"}


# --- scenario hooks: delay_ms and set_pace ----------------------------------------------


class DelayedSend(NoHooks):
    def on_open(self, ctl: Any, now_ms: float) -> None:
        ctl.send(
            {"type": "error", "error": {"type": "server_error", "message": "late"}}, delay_ms=750
        )


def test_a_hook_send_with_delay_ms_arrives_that_late() -> None:
    _, wire = open_app(hooks=DelayedSend())
    start = wire.clock.now_ms()
    first = next_event(wire)
    assert first["type"] == "session.created"
    assert wire.recv(within_ms=700) is None
    late = next_event(wire, within_ms=1000)
    assert late["error"]["message"] == "late"
    assert wire.clock.now_ms() - start == pytest.approx(750.0)


class Paced(NoHooks):
    def __init__(self, **pace: Any) -> None:
        self.pace = pace

    def on_open(self, ctl: Any, now_ms: float) -> None:
        ctl.set_pace(**self.pace)


def first_delta_latency(wire: InMemoryTransport) -> float:
    configure(wire, TEXT_SESSION)
    wire.send({"type": "conversation.item.create", "item": text_item("Hi")})
    wire.send({"type": "response.create"})
    wire.events_until(until("response.created"), within_ms=60_000)
    created_at = wire.clock.now_ms()
    wire.events_until(until("response.output_text.delta"), within_ms=60_000)
    return wire.clock.now_ms() - created_at


def test_set_pace_first_delta_delay_holds_the_first_delta() -> None:
    _, default = open_app(hooks=NoHooks())
    baseline = first_delta_latency(default)
    _, paced = open_app(hooks=Paced(first_delta_delay=8.0))
    assert baseline < 8000.0
    assert first_delta_latency(paced) == pytest.approx(8000.0, abs=1.0)


def delta_gaps(wire: InMemoryTransport) -> list[float]:
    configure(wire, TEXT_SESSION)
    wire.send({"type": "conversation.item.create", "item": text_item("Hi")})
    wire.send({"type": "response.create"})
    times: list[float] = []
    while (event := next_event(wire))["type"] != "response.done":
        if event["type"] == "response.output_text.delta":
            times.append(wire.clock.now_ms())
    assert len(times) >= 3
    return [later - earlier for earlier, later in itertools.pairwise(times)]


def test_set_pace_text_tokens_per_second_spaces_the_deltas() -> None:
    _, slow = open_app(hooks=Paced(text_tokens_per_second=1.0, first_delta_delay=0.0))
    _, fast = open_app(hooks=Paced(text_tokens_per_second=1000.0, first_delta_delay=0.0))
    assert min(delta_gaps(slow)) >= 900.0  # one token (or more) per delta, 1 token/s
    assert max(delta_gaps(fast)) <= 100.0


# --- the protocol core judges conversation.item.retrieved --------------------------------


def frames_with_retrieved(item: object) -> list[tuple[str, str]]:
    app, wire = open_app()
    configure(wire, TEXT_SESSION)
    wire.send({"type": "conversation.item.create", "item": text_item("Hi")})
    wire.events_until(until("conversation.item.done"))
    frames = [(r.direction, r.text) for r in app.transcript.records if r.text is not None]
    retrieved = {"type": "conversation.item.retrieved", "event_id": "event_r", "item": item}
    return [*frames, ("server", _json.dumps(retrieved))]


def test_a_retrieved_item_that_is_in_the_conversation_is_fine() -> None:
    frames = frames_with_retrieved({})
    added = next(_json.loads(t) for d, t in frames if '"conversation.item.added"' in t)
    frames[-1] = ("server", frames[-1][1].replace("{}", _json.dumps(added["item"]), 1))
    assert [p for p in replay(frames) if p.direction == "server"] == []


@pytest.mark.parametrize(
    "item", [{"id": "item_nowhere", "type": "message"}, {"type": "message"}, "item_x"]
)
def test_a_retrieved_item_outside_the_conversation_is_reported(item: object) -> None:
    frames = frames_with_retrieved(item)
    problems = [p for p in replay(frames) if p.direction == "server"]
    assert [p.event_type for p in problems] == ["conversation.item.retrieved"]
    assert "not in the conversation" in problems[0].message


# --- an explicit ?intent= wins over the kind a client secret carries ---------------------


@dataclass
class Store:
    grants: dict[str, SecretGrant]

    def lookup(self, value: str) -> SecretGrant | None:
        return self.grants.get(value)


@pytest.mark.parametrize(
    ("query", "secret_kind", "kind"),
    [
        ("intent=realtime&model=gpt-realtime", "transcription", "realtime"),
        ("intent=transcription", "realtime", "transcription"),
        ("model=gpt-realtime", "realtime", "realtime"),
        ("", "transcription", "transcription"),
    ],
)
def test_an_explicit_intent_overrides_the_secrets_session_kind(
    query: str, secret_kind: Any, kind: str
) -> None:
    secret = "ek_minted0000000000000000000000"
    store = Store({secret: SecretGrant(session_kind=secret_kind)})
    request = ConnectRequest.from_target(
        f"/v1/realtime?{query}", [("Authorization", f"Bearer {secret}")]
    )
    result = check_handshake(request, MockConfig(api_keys=(KEY,)), secrets=store)
    assert isinstance(result, Accepted), result
    assert result.kind == kind


# --- a session keeps its type -------------------------------------------------------------


def test_a_session_update_that_changes_the_session_type_is_refused() -> None:
    """[inferred] ledger: session-type-change. The session keeps its type and its config."""
    _, wire = open_app()
    assert next_event(wire)["type"] == "session.created"
    wire.send({"type": "session.update", "event_id": "evt_t", "session": {"type": "transcription"}})
    error = next_event(wire)
    assert error["type"] == "error"
    assert error["error"]["code"] == "invalid_value"
    assert error["error"]["param"] == "session.type"
    assert error["error"]["message"] == (
        "Invalid value: 'transcription'. Supported values are: 'realtime'."
    )
    assert error["error"]["event_id"] == "evt_t"
    wire.send({"type": "session.update", "session": TEXT_SESSION})
    assert next_event(wire)["session"]["type"] == "realtime"


# --- survivors of the second mutation run (docs/mutation.md) ------------------------------

ID_SHAPE = re.compile(r"^(event|item|resp|sess|conv)_[A-Za-z0-9]{21}$")


def test_ids_have_the_live_prefixes_and_length() -> None:
    """protocol §9.5: event_, item_, resp_, conv_, sess_ + 21 alphanumerics."""
    _, wire = open_app()
    session_id = configure(wire, TEXT_SESSION)["session"]["id"]
    wire.send({"type": "conversation.item.create", "item": text_item("Hi")})
    wire.send({"type": "response.create"})
    events = wire.events_until(until("response.done"))
    assert ID_SHAPE.match(session_id)
    assert session_id.startswith("sess_")
    done = events[-1]["response"]
    assert done["id"].startswith("resp_")
    assert done["conversation_id"].startswith("conv_")
    for event in events:
        assert ID_SHAPE.match(event["event_id"]), event["event_id"]
        assert event["event_id"].startswith("event_")
        if "item" in event:
            assert event["item"]["id"].startswith("item_")


CALL = {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"}
OUTPUT = {"type": "function_call_output", "call_id": "call_1", "output": "ok"}


@pytest.mark.parametrize("items", [[text_item("Hi")], [CALL], [CALL, OUTPUT]], ids=len)
def test_client_items_are_echoed_with_status_completed(items: list[dict[str, Any]]) -> None:
    _, wire = open_app()
    configure(wire, TEXT_SESSION)
    for item in items:
        wire.send({"type": "conversation.item.create", "item": item})
        added, done = wire.events_until(until("conversation.item.done"))
        assert added["item"]["status"] == done["item"]["status"] == "completed"


def test_barge_in_does_not_cancel_when_interrupt_response_is_off() -> None:
    _, wire = open_app(first_delta_delay=2.0, text_tokens_per_second=5.0)
    detection = {"type": "server_vad", "interrupt_response": False, "create_response": False}
    session = {**TEXT_SESSION, "audio": {"input": {"turn_detection": detection}}}
    configure(wire, session)
    wire.send({"type": "conversation.item.create", "item": text_item("Talk for a while.")})
    wire.send({"type": "response.create"})
    wire.events_until(until("response.created"))
    wire.send(audio(LOUD_10MS, 400))
    events = wire.events_until(until("response.done"), within_ms=120_000)
    assert "input_audio_buffer.speech_started" in [e["type"] for e in events]
    assert events[-1]["response"]["status"] == "completed"


def test_clear_drops_the_audio_kept_for_the_next_item() -> None:
    _, wire = open_app()
    configure(wire, {"type": "realtime", "audio": {"input": {"turn_detection": None}}})
    wire.send(audio(LOUD_10MS, 300))
    wire.send({"type": "input_audio_buffer.clear"})
    assert next_event(wire)["type"] == "input_audio_buffer.cleared"
    wire.send(audio(SILENT_10MS, 200))
    wire.send({"type": "input_audio_buffer.commit"})
    item_id = wire.events_until(until("conversation.item.done"))[-1]["item"]["id"]
    wire.send({"type": "conversation.item.retrieve", "item_id": item_id})
    retrieved = wire.events_until(until("conversation.item.retrieved"))[-1]["item"]
    assert base64.b64decode(retrieved["content"][0]["audio"]) == SILENT_10MS * 20


def test_tolerant_mode_holds_session_created_200_ms_and_answers_early_events_after_it() -> None:
    _, wire = open_app(tolerant=True)
    wire.send({"type": "session.update", "session": TEXT_SESSION})  # before session.created
    assert wire.recv(within_ms=199) is None
    first = next_event(wire, within_ms=10)
    assert first["type"] == "session.created"
    assert wire.clock.now_ms() == pytest.approx(200.0)
    assert next_event(wire)["type"] == "session.updated"


@pytest.mark.parametrize("how", ["query", "header"])
def test_a_client_cannot_name_a_scenario_file(how: str, tmp_path: Any) -> None:
    """A scenario named by the client must be built in: the mock never reads its path."""
    from conformance.resources import scenarios_dir
    from mock_server.app import make_app
    from mock_server.scenarios import resolve_scenario

    path = tmp_path / "mine.yaml"  # a valid scenario file: only its origin is wrong
    builtin = (scenarios_dir() / "cancel-not-active.yaml").read_text()
    path.write_text(builtin.replace("id: cancel-not-active", "id: mine", 1))
    assert resolve_scenario(str(path)).id == "mine"  # a configured path may name it
    target = "/v1/realtime?model=gpt-realtime-1.5"
    headers = [("Authorization", f"Bearer {KEY}")]
    if how == "query":
        target += f"&scenario={path}"
    else:
        headers.append(("X-Mock-Scenario", str(path)))
    app = make_app(ConnectRequest.from_target(target, headers), MockConfig())
    wire = InMemoryTransport(app)
    error = next_event(wire)
    assert error["type"] == "error"
    assert error["error"]["code"] == "unknown_scenario"
    assert wire.recv(within_ms=100) == wire.closed
    assert wire.closed is not None
    assert wire.closed.code == 4000


def test_a_created_item_is_retrieved_whole() -> None:
    _, wire = open_app()
    configure(wire, TEXT_SESSION)
    wire.send({"type": "conversation.item.create", "item": text_item("Remember me.")})
    done = wire.events_until(until("conversation.item.done"))[-1]["item"]
    wire.send({"type": "conversation.item.retrieve", "item_id": done["id"]})
    retrieved = wire.events_until(until("conversation.item.retrieved"))[-1]["item"]
    assert retrieved["content"] == done["content"]
    assert retrieved["role"] == "user"
