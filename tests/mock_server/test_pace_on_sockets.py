"""The live races on real sockets: what the default pace makes possible (issue 13, 1-3).

`serve()` with no pace given is live-like: a response stays active for its first-delta
latency and its token stream, so a second `response.create` collides, `response.cancel`
and barge-in meet an active response, and input transcription arrives on its own clock.
`serve(pace="fast")` sends a response at once, for tests that do not care. Every wait
is bounded; nothing here sleeps.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from conformance.protocol import replay
from conformance.schemas import validate_server_event
from mock_server import serve
from mock_server.media import silence_pcm16, synth_pcm16

pytestmark = pytest.mark.integration
HEADERS = {"Authorization": "Bearer sk-test-pace-0123456789"}
WAIT = 5.0


class Peer:
    """A raw client: send dicts, read parsed events with a bounded wait."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []

    async def send(self, event: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(event))

    async def until(self, stop: str | Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        done = (lambda e: e["type"] == stop) if isinstance(stop, str) else stop
        events: list[dict[str, Any]] = []
        async with asyncio.timeout(WAIT):
            while not events or not done(events[-1]):
                events.append(json.loads(await self.ws.recv()))
        self.seen += events
        return events

    async def quiet(self, seconds: float) -> bool:
        """True if nothing arrives for `seconds`."""
        try:
            async with asyncio.timeout(seconds):
                self.seen.append(json.loads(await self.ws.recv()))
        except TimeoutError:
            return True
        return False


@asynccontextmanager
async def session(**config: Any) -> AsyncIterator[Peer]:
    """A mock server with `config`, one connection past session.created; afterwards every
    server frame validates and the whole exchange passes the protocol replay."""
    async with serve(port=0, ping_interval=None, **config) as server:
        url = f"{server.url}?model=gpt-realtime-1.5"
        async with connect(url, additional_headers=HEADERS, proxy=None) as ws:
            peer = Peer(ws)
            await peer.until("session.created")
            yield peer
        transcripts = await server.wait_for_sessions(1, timeout=WAIT)
    frames = [(r.direction, r.text) for r in transcripts[0].records if r.text is not None]
    for direction, text in frames:
        if direction == "server":
            assert validate_server_event(text) == [], text[:200]
    assert [p for p in replay(frames) if p.direction == "server"] == []


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


def user_text(text: str) -> dict[str, Any]:
    content = [{"type": "input_text", "text": text}]
    return {"type": "conversation.item.create", "item": {"type": "message", "role": "user",
                                                         "content": content}}  # fmt: skip


async def test_back_to_back_creates_collide_on_the_default_mock() -> None:
    """1: the second create gets conversation_already_has_active_response, as live."""
    async with session() as peer:
        await peer.send(user_text("Count to ten."))
        await peer.send({"type": "response.create", "event_id": "evt_first"})
        await peer.send({"type": "response.create", "event_id": "evt_second"})
        events = await peer.until("response.done")
        errors = [e["error"] for e in events if e["type"] == "error"]
        assert [e["code"] for e in errors] == ["conversation_already_has_active_response"]
        assert errors[0]["event_id"] == "evt_second"
        response_id = events[types(events).index("response.created")]["response"]["id"]
        assert response_id in errors[0]["message"]
        assert events[-1]["response"]["status"] == "completed"
        await peer.until("rate_limits.updated")
        assert await peer.quiet(0.3)  # and no second response
        assert types(peer.seen).count("response.created") == 1


async def test_back_to_back_creates_do_not_collide_when_fast_is_asked_for() -> None:
    """`pace="fast"`: a short reply is out in one turn of the loop (not live)."""
    async with session(pace="fast") as peer:
        await peer.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
        await peer.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
        await peer.until("response.done")
        events = await peer.until("response.done")
        assert "error" not in types(peer.seen)
        assert events[-1]["response"]["status"] == "completed"


async def test_response_cancel_meets_the_active_response_on_the_default_mock() -> None:
    """1: a cancel right after response.created cancels it; no response_cancel_not_active."""
    async with session() as peer:
        await peer.send({"type": "response.create"})
        await peer.until("response.created")
        await peer.send({"type": "response.cancel", "event_id": "evt_cancel"})
        events = await peer.until("response.done")
        assert "error" not in types(events)
        response = events[-1]["response"]
        assert response["status"] == "cancelled"
        assert response["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}


def audio(ms: int, *, loud: bool) -> str:
    pcm = synth_pcm16(ms, seed=3) if loud else silence_pcm16(ms)
    return base64.b64encode(pcm).decode()


async def speak(peer: Peer, *, speech_ms: int = 400, silence_ms: int = 600) -> None:
    for loud, ms in ((True, speech_ms), (False, silence_ms)):
        for _ in range(ms // 40):
            await peer.send({"type": "input_audio_buffer.append", "audio": audio(40, loud=loud)})


async def test_input_transcription_arrives_asynchronously_in_several_deltas() -> None:
    """2: transcription on its own clock: after response.created, several deltas."""
    transcription = {"model": "gpt-4o-mini-transcribe"}
    update = {"type": "realtime", "audio": {"input": {"transcription": transcription}}}
    async with session() as peer:
        await peer.send({"type": "session.update", "session": update})
        await peer.until("session.updated")
        await speak(peer)
        wanted = {"conversation.item.input_audio_transcription.completed", "response.done"}
        seen: set[str] = set()
        events = await peer.until(lambda e: seen.add(e["type"]) or wanted <= seen)
        names = types(events)
        deltas = [e for e in events if e["type"].endswith("input_audio_transcription.delta")]
        completed = next(e for e in events if e["type"].endswith("transcription.completed"))
        assert len(deltas) >= 2
        assert "".join(d["delta"] for d in deltas) == completed["transcript"]
        first_delta = names.index("conversation.item.input_audio_transcription.delta")
        assert names.index("response.created") < first_delta


async def test_barge_in_sends_speech_started_then_cancels_the_response() -> None:
    """3: the user talks over the reply: speech_started first, then the cancelled
    response's terminal events and response.done (turn_detected)."""
    async with session() as peer:
        await speak(peer)
        await peer.until("response.created")
        await speak(peer, silence_ms=0)
        events = await peer.until("response.done")
        names = types(events)
        ending = ("response.output_audio.done", "response.content_part.done", "response.done")
        first_end = min(names.index(name) for name in ending)
        assert names.index("input_audio_buffer.speech_started") < first_end
        assert events[-1]["response"]["status_details"] == {
            "type": "cancelled",
            "reason": "turn_detected",
        }
