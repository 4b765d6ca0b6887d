"""An accepted SIP call's session, in memory on a virtual clock (no sockets): G.711 μ-law
both ways unless the accept body says otherwise. The caller's G.711 audio drives the
server VAD; the model's audio goes to the phone line (`PlayAudio` in the session's G.711
format), not to the sideband as deltas, framed by `output_audio_buffer.started/stopped`."""

from __future__ import annotations

import base64
import json
from typing import Any

from mock_server import sip
from mock_server.actions import PlayAudio, SendText
from mock_server.app import MockApp, make_app
from mock_server.calls import call_request
from mock_server.config import MockConfig
from mock_server.media import encode_g711, synth_pcm16

CALL_ID = "rtc_" + "5e" * 16


class SipSession:
    """A SIP call's app as `SipCalls.accept` makes it; every action it asks for, in order."""

    def __init__(self, accept: dict[str, Any]) -> None:
        request = call_request(CALL_ID, key="sk-test", model="gpt-realtime")
        session = sip.call_session(accept)
        self.app: MockApp = make_app(
            request, MockConfig(pace="fast"), transport="sip", session=session
        )
        self.now = 0.0
        self.events: list[dict[str, Any]] = []
        self.played: list[PlayAudio] = []
        self.app.opened(0.0)
        self._drain()

    def _drain(self) -> None:
        for action in self.app.actions_to_perform():
            if isinstance(action, SendText):
                self.events.append(json.loads(action.text))
            elif isinstance(action, PlayAudio):
                self.played.append(action)

    def send(self, event: dict[str, Any]) -> None:
        self.app.receive_text(json.dumps(event), self.now)
        self._drain()

    def run_for(self, ms: float) -> None:
        """Advance the virtual clock by `ms`, firing every timer on the way."""
        until = self.now + ms
        while (due := self.app.next_timer()) is not None and due <= until:
            self.now = max(self.now, due)
            self.app.handle_timer(self.now)
            self._drain()
        self.now = until

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]


def test_the_session_speaks_mu_law_and_the_models_audio_goes_to_the_line() -> None:
    call = SipSession({"type": "realtime", "output_modalities": ["audio"]})
    created = call.events[0]
    assert created["type"] == "session.created"
    audio = created["session"]["audio"]
    assert audio["input"]["format"] == audio["output"]["format"] == {"type": "audio/pcmu"}
    call.send({"type": "response.create"})
    call.run_for(60_000)
    kinds = call.types()
    assert "response.output_audio.delta" not in kinds  # the audio went to the line
    assert kinds.index("output_audio_buffer.started") < kinds.index("response.done")
    assert kinds.index("response.done") < kinds.index("output_audio_buffer.stopped")
    assert call.played
    assert {p.fmt for p in call.played} == {"audio/pcmu"}
    assert "response.output_audio_transcript.done" in kinds


def test_a_law_when_the_accept_body_asks_for_it() -> None:
    pcma = {"format": {"type": "audio/pcma"}}
    call = SipSession({"type": "realtime", "audio": {"input": pcma, "output": pcma}})
    call.send({"type": "response.create"})
    call.run_for(60_000)
    assert {p.fmt for p in call.played} == {"audio/pcma"}


def test_the_callers_g711_audio_starts_and_ends_a_turn() -> None:
    call = SipSession({"type": "realtime", "output_modalities": ["text"]})
    speech = encode_g711(synth_pcm16(600, seed=1, rate=8000), "audio/pcmu")  # 8 bytes/ms
    silence = encode_g711(b"\x00\x00" * 8 * 800, "audio/pcmu")
    for chunk in (speech, silence):
        for start in range(0, len(chunk), 160):  # 20 ms packets, as RTP carries them
            call.send(
                {
                    "type": "input_audio_buffer.append",
                    "audio": base64.b64encode(chunk[start : start + 160]).decode(),
                }
            )
            call.run_for(20)
    call.run_for(5_000)
    kinds = call.types()
    assert "error" not in kinds, [e for e in call.events if e["type"] == "error"]
    started = kinds.index("input_audio_buffer.speech_started")
    stopped = kinds.index("input_audio_buffer.speech_stopped")
    assert started < stopped < kinds.index("input_audio_buffer.committed")
    assert "response.done" in kinds  # server VAD's create_response answered the turn
    begin = call.events[started]["audio_start_ms"]
    end = call.events[stopped]["audio_end_ms"]
    assert 400 <= end - begin <= 1200  # about the 600 ms of speech, at 8 bytes per ms


def test_output_audio_buffer_clear_works_on_a_sip_call() -> None:
    call = SipSession({"type": "realtime"})
    call.send({"type": "response.create"})
    call.run_for(1)  # the response's audio is queued on the line, playing
    assert "output_audio_buffer.started" in call.types()
    call.send({"type": "output_audio_buffer.clear"})
    call.run_for(60_000)
    kinds = call.types()
    assert "output_audio_buffer.cleared" in kinds
    assert "output_audio_buffer.stopped" not in kinds  # cleared: nothing drains
    assert "error" not in kinds
