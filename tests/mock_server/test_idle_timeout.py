"""server_vad `idle_timeout_ms` (spec `RealtimeTurnDetection`, protocol notes §3.3, §5(g)):
`idle_timeout_ms` after the last response's audio finished playing with no speech, the
server sends `input_audio_buffer.timeout_triggered`, commits the silent audio as an
`input_audio` item and starts a response."""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

import pytest
from websockets.asyncio.client import connect

from conformance.transport import Closed
from mock_server.config import MockConfig
from mock_server.media import silence_pcm16, synth_pcm16
from mock_server.server import MockServer
from tests.mock_server.app_harness import open_app, text_item
from tests.scenarios.wire import Wire

KEY = "sk-mock-test-key-0000000001"
TIMEOUT_MS = 5000  # the spec's minimum


def detection(**extra: Any) -> dict[str, Any]:
    return {"type": "server_vad", "idle_timeout_ms": TIMEOUT_MS, **extra}


def pcm(ms: int, *, loud: bool) -> str:
    data = synth_pcm16(ms, seed=1) if loud else silence_pcm16(ms)
    return base64.b64encode(data).decode()


class Session:
    """An in-memory session on a virtual clock: every event with the time it came."""

    def __init__(self, **session: Any) -> None:
        self.app, self.transport = open_app(pace="fast")
        self.events: list[tuple[float, dict[str, Any]]] = []
        self.send({"type": "session.update", "session": {"type": "realtime", **session}})
        self.until("session.updated")

    def send(self, event: dict[str, Any]) -> None:
        self.transport.send(event)

    def until(self, kind: str, within_ms: float = 60_000.0) -> tuple[float, dict[str, Any]]:
        while True:
            event = self.transport.recv_event(within_ms=within_ms)
            assert event is not None, f"no {kind} within {within_ms} ms"
            assert not isinstance(event, Closed)
            self.events.append((self.transport.clock.now_ms(), event))
            if event["type"] == kind:
                return self.events[-1]

    def stream_silence(self, ms: int, *, stop_at: str | None = None) -> None:
        """Append silence in real time, 100 ms at a time, reading what arrives."""
        for _ in range(ms // 100):
            self.send({"type": "input_audio_buffer.append", "audio": pcm(100, loud=False)})
            while (event := self.transport.recv_event(within_ms=100.0)) is not None:
                assert not isinstance(event, Closed)
                self.events.append((self.transport.clock.now_ms(), event))
                if event["type"] == stop_at:
                    return

    def read_for(self, ms: float) -> list[str]:
        """The types of everything that arrives within `ms` of virtual time."""
        deadline = self.transport.clock.now_ms() + ms
        while (left := deadline - self.transport.clock.now_ms()) > 0:
            event = self.transport.recv_event(within_ms=left)
            if event is None or isinstance(event, Closed):
                break
            self.events.append((self.transport.clock.now_ms(), event))
        return self.types()

    def types(self) -> list[str]:
        return [e["type"] for _, e in self.events]


def respond(session: Session) -> float:
    """A text turn and its response; the time of its response.done."""
    session.send({"type": "conversation.item.create", "item": text_item("hello")})
    session.send({"type": "response.create"})
    return session.until("response.done")[0]


def test_the_timeout_fires_after_the_playback_and_commits_the_silence_then_responds():
    session = Session(audio={"input": {"turn_detection": detection()}})
    done_at = respond(session)
    playback_ms = session.app.behaviour.vad.position_ms  # nothing appended yet: 0
    assert playback_ms == 0
    session.stream_silence(8000, stop_at="input_audio_buffer.timeout_triggered")
    fired_at, fired = session.events[-1]
    # The response was audio: its playback (200 ms a word) comes before the timeout.
    audio_ms = sum(
        len(base64.b64decode(e["delta"])) // 48
        for _, e in session.events
        if e["type"] == "response.output_audio.delta"
    )
    assert fired_at - done_at == pytest.approx(audio_ms + TIMEOUT_MS, abs=100)
    assert fired["audio_end_ms"] - fired["audio_start_ms"] == pytest.approx(TIMEOUT_MS, abs=100)
    committed = session.until("input_audio_buffer.committed")[1]
    added = session.until("conversation.item.added")[1]
    assert committed["item_id"] == fired["item_id"] == added["item"]["id"]
    assert added["item"]["content"] == [{"type": "input_audio", "transcript": None}]
    session.until("response.created")
    session.until("response.done")


def test_speech_before_the_deadline_disarms_it():
    session = Session(audio={"input": {"turn_detection": detection(create_response=False)}})
    respond(session)
    session.stream_silence(1000)
    for _ in range(10):
        session.send({"type": "input_audio_buffer.append", "audio": pcm(40, loud=True)})
    session.stream_silence(TIMEOUT_MS + 3000)
    assert "input_audio_buffer.speech_started" in session.types()
    assert "input_audio_buffer.timeout_triggered" not in session.types()


def test_a_new_response_re_arms_it_from_its_own_end():
    session = Session(output_modalities=["text"], audio={"input": {"turn_detection": detection()}})
    respond(session)
    session.stream_silence(3000)
    second_done = respond(session)
    session.stream_silence(TIMEOUT_MS + 1000, stop_at="input_audio_buffer.timeout_triggered")
    fired_at = session.events[-1][0]
    assert fired_at - second_done == pytest.approx(TIMEOUT_MS, abs=100)  # text: no playback
    assert session.types().count("input_audio_buffer.timeout_triggered") == 1


@pytest.mark.parametrize(
    "turn_detection",
    [{"type": "server_vad"}, {"type": "server_vad", "idle_timeout_ms": None}, None],
)
def test_without_idle_timeout_ms_nothing_fires(turn_detection):
    session = Session(
        output_modalities=["text"], audio={"input": {"turn_detection": turn_detection}}
    )
    respond(session)
    assert "input_audio_buffer.timeout_triggered" not in session.read_for(40_000.0)


def test_turning_it_off_while_armed_stops_it():
    session = Session(output_modalities=["text"], audio={"input": {"turn_detection": detection()}})
    respond(session)
    plain = {"input": {"turn_detection": {"type": "server_vad"}}}
    session.send({"type": "session.update", "session": {"type": "realtime", "audio": plain}})
    session.until("session.updated")
    assert "input_audio_buffer.timeout_triggered" not in session.read_for(40_000.0)


@pytest.mark.integration
async def test_on_the_wire_timeout_triggered_comes_idle_timeout_ms_after_response_done():
    server = await MockServer(config=MockConfig(port=0, ping_interval=None, pace="fast")).start()
    try:
        async with asyncio.timeout(15.0):
            ws = await connect(
                f"{server.url}?model=gpt-realtime",
                additional_headers={"Authorization": f"Bearer {KEY}"},
                ping_interval=None,
                close_timeout=1.0,
            )
            wire = Wire(ws, time.monotonic())
            await wire.until("session.created")
            await wire.send({"type": "session.update", "session": {
                "type": "realtime", "output_modalities": ["text"],
                "audio": {"input": {"turn_detection": detection()}}}})  # fmt: skip
            await wire.until("session.updated")
            await wire.send({"type": "conversation.item.create", "item": text_item("hi")})
            await wire.send({"type": "response.create"})
            await wire.until("response.done")
            done_at = wire.arrivals[-1]
            fired = await wire.until("input_audio_buffer.timeout_triggered", within=TIMEOUT_MS)
            waited = wire.arrivals[-1] - done_at
            committed = await wire.until("input_audio_buffer.committed")
            await wire.until("response.created")
            ws.transport.abort()
    finally:
        await server.stop()
    assert TIMEOUT_MS / 1000 - 0.05 <= waited < TIMEOUT_MS / 1000 + 1.0
    assert fired["audio_start_ms"] == fired["audio_end_ms"] == 0  # no audio was appended
    assert committed["item_id"] == fired["item_id"]
