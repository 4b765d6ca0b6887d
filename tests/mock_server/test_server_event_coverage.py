"""40 of 40: every server event type a GA WebSocket can carry comes out of a live-like flow.

The expected set is the spec's GA server union (`fixtures/schemas/index.json`
`server_types`, 46) minus the types a WebSocket never carries (protocol notes §2.2:
`output_audio_buffer.started/stopped/cleared` are WebRTC/SIP only, and
`input_audio_buffer.dtmf_event_received` is SIP only) and the two beta leftovers the live
GA server never sends (`emitted_by_live: false`, errata `beta-leftovers-not-emitted`).

Each flow runs once against the in-memory app (virtual clock, `pace: fast`), so the whole
module takes well under a second; every event also passed the strict protocol core (the
app raises on an illegal one) and is checked against its schema here.
"""

from __future__ import annotations

import base64
import json
from functools import cache
from typing import Any

from conformance.resources import schemas_dir
from conformance.schemas import validate_server_event
from conformance.transport import Closed
from mock_server.app import MockApp
from mock_server.media import silence_pcm16, synth_pcm16
from tests.mock_server.app_harness import open_app, text_item

# Protocol notes §2.2: never on a WebSocket.
WEBRTC_SIP_ONLY = frozenset(
    {
        "output_audio_buffer.started",
        "output_audio_buffer.stopped",
        "output_audio_buffer.cleared",
        "input_audio_buffer.dtmf_event_received",
    }
)
DOCS = "https://mcp.example.com/docs"
DOWN = "https://mcp.example.com/unreachable"


def websocket_server_types() -> set[str]:
    """The GA server union a WebSocket client can receive from the live server."""
    index = json.loads((schemas_dir() / "index.json").read_text(encoding="utf-8"))
    emitted = index["emitted_by_live"]
    return {t for t in index["server_types"] if emitted.get(t, True)} - WEBRTC_SIP_ONLY


def pcm(ms: int, *, loud: bool) -> str:
    data = synth_pcm16(ms, seed=1) if loud else silence_pcm16(ms)
    return base64.b64encode(data).decode()


class Flow:
    """One connection: send, read until an event type, keep every event."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.app: MockApp
        self.app, self.transport = open_app(pace="fast")
        self.events = events
        self.until("session.created")

    def send(self, event: dict[str, Any]) -> None:
        self.transport.send(event)

    def until(self, kind: str, within_ms: float = 60_000.0, **fields: Any) -> dict[str, Any]:
        while True:
            event = self.transport.recv_event(within_ms=within_ms)
            assert event is not None, f"no {kind}"
            assert not isinstance(event, Closed), f"closed before {kind}"
            self.events.append(event)
            if event["type"] == kind and all(event.get(k) == v for k, v in fields.items()):
                return event

    def update(self, **session: Any) -> None:
        self.send({"type": "session.update", "session": {"type": "realtime", **session}})
        self.until("session.updated")

    def drain(self) -> None:
        """Read what is due now and later (timers included) until nothing more comes."""
        while True:
            event = self.transport.recv_event(within_ms=30_000.0)
            if event is None or isinstance(event, Closed):
                return
            self.events.append(event)


def text_and_tools(flow: Flow) -> None:
    """§5(c)(d)(f)(j): items, a function call and its output, errors, item management."""
    tool = {"type": "function", "name": "lookup", "parameters": {"type": "object"}}
    flow.update(output_modalities=["text"], tools=[tool])
    flow.send({"type": "conversation.item.create", "item": text_item("please lookup it")})
    flow.send({"type": "response.create"})
    done = flow.until("response.done")
    call_id = done["response"]["output"][0]["call_id"]
    output = {"type": "function_call_output", "call_id": call_id, "output": "42"}
    flow.send({"type": "conversation.item.create", "item": output})
    flow.send({"type": "response.create"})
    answer = flow.until("response.done")["response"]["output"][0]["id"]
    flow.send({"type": "conversation.item.retrieve", "item_id": answer})
    flow.until("conversation.item.retrieved")
    flow.send({"type": "conversation.item.delete", "item_id": answer})
    flow.until("conversation.item.deleted")
    flow.send({"type": "response.cancel"})  # nothing active: a harmless error
    flow.until("error")


def audio_turns(flow: Flow) -> None:
    """§5(e)(g): a server-VAD turn transcribed by a diarizing model, an audio response,
    truncation, a buffer clear, then silence: the idle timeout commits it, and the
    silent item cannot be transcribed."""
    transcription = {"model": "gpt-4o-transcribe-diarize"}
    detection = {"type": "server_vad", "idle_timeout_ms": 5000}
    flow.update(audio={"input": {"transcription": transcription, "turn_detection": detection}})
    for _ in range(10):
        flow.send({"type": "input_audio_buffer.append", "audio": pcm(40, loud=True)})
    for _ in range(10):
        flow.send({"type": "input_audio_buffer.append", "audio": pcm(40, loud=False)})
    item = flow.until("response.done")["response"]["output"][0]["id"]
    flow.send({"type": "conversation.item.truncate", "item_id": item, "content_index": 0,
               "audio_end_ms": 100})  # fmt: skip
    flow.until("conversation.item.truncated")
    flow.send({"type": "input_audio_buffer.clear"})
    flow.until("input_audio_buffer.cleared")
    flow.until("input_audio_buffer.timeout_triggered")
    flow.until("conversation.item.input_audio_transcription.failed")
    flow.until("response.done")
    # Its end armed the timer again: turning it off stops the prompts.
    flow.update(audio={"input": {"turn_detection": {"type": "server_vad"}}})


def mcp_servers(flow: Flow) -> None:
    """§5(j): tools listed (and a server that is down), an approval, a call that fails."""
    docs = {"type": "mcp", "server_label": "docs", "server_url": DOCS,
            "require_approval": {"never": {"tool_names": ["delete_page"]}}}  # fmt: skip
    down = {"type": "mcp", "server_label": "down", "server_url": DOWN}
    flow.update(output_modalities=["text"], tools=[docs, down])
    flow.until("mcp_list_tools.failed")
    flow.send({"type": "conversation.item.create", "item": text_item("search_docs please")})
    flow.send({"type": "response.create"})
    request = flow.until("response.done")["response"]["output"][0]
    assert request["type"] == "mcp_approval_request"
    flow.send({"type": "conversation.item.create", "item": {
        "type": "mcp_approval_response", "id": "item_approve01", "approval_request_id":
        request["id"], "approve": True}})  # fmt: skip
    flow.until("response.mcp_call.completed")
    flow.until("response.done")
    flow.send({"type": "conversation.item.create", "item": text_item("delete_page now")})
    flow.send({"type": "response.create"})
    flow.until("response.mcp_call.failed")
    flow.until("response.done")


FLOWS = (text_and_tools, audio_turns, mcp_servers)


@cache
def produced() -> tuple[dict[str, Any], ...]:
    events: list[dict[str, Any]] = []
    for run in FLOWS:
        flow = Flow(events)
        run(flow)
        flow.drain()
    return tuple(events)


def test_the_websocket_union_has_40_types():
    assert len(websocket_server_types()) == 40


def test_every_websocket_server_event_type_is_produced_by_a_flow():
    seen = {event["type"] for event in produced()}
    missing = websocket_server_types() - seen
    assert not missing, f"never produced: {sorted(missing)}"
    assert seen <= websocket_server_types(), seen - websocket_server_types()


def test_every_produced_event_matches_its_schema():
    for event in produced():
        assert validate_server_event(event) == [], event
