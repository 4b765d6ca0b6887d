"""A call's output audio buffer, in memory (no aiortc): the model's audio leaves as
`PlayAudio` actions for the track, and `output_audio_buffer.started/stopped/cleared` come
at the spec's points, on a virtual clock; a WebSocket session has none of it."""

from __future__ import annotations

import json
from typing import Any

from mock_server.actions import ClearAudio, PlayAudio, SendText
from mock_server.app import MockApp, make_app
from mock_server.config import MockConfig
from mock_server.request import ConnectRequest

CALL = "/v1/realtime?model=gpt-realtime&call_id=rtc_0123456789abcdef0123456789abcdef"
AUDIO_REPLY = {"type": "response.create"}  # audio is the default output modality
SPEECH = (b"\x00\x40" * 24) * 300  # 300 ms of loud PCM16 at 24 kHz
SILENCE = b"\x00\x00" * 24 * 700  # 700 ms of silence: the VAD's default 500 ms end a turn


class Call:
    """A call's app on a virtual clock: every action it asks for, in order."""

    def __init__(self, transport: str = "webrtc", **config: Any) -> None:
        request = ConnectRequest.from_target(
            CALL, [("Authorization", "Bearer sk-test")], subprotocols=()
        )
        self.app: MockApp = make_app(
            request, MockConfig(pace="fast", **config), transport=transport
        )
        self.now = 0.0
        self.log: list[Any] = []  # event types (str) and media actions, in order
        self.app.opened(0.0)
        self._drain()

    def _drain(self) -> None:
        for action in self.app.actions_to_perform():
            if isinstance(action, SendText):
                self.log.append(json.loads(action.text)["type"])
            elif isinstance(action, (PlayAudio, ClearAudio)):
                self.log.append(action)

    def send(self, event: dict[str, Any]) -> None:
        self.app.receive_text(json.dumps(event), self.now)
        self._drain()

    def audio(self, pcm: bytes) -> None:
        self.app.receive_audio(pcm, self.now)
        self._drain()

    def run_until(self, t_ms: float) -> None:
        while (due := self.app.next_timer()) is not None and due <= t_ms:
            self.now = max(self.now, due)
            self.app.handle_timer(self.now)
            self._drain()
        self.now = max(self.now, t_ms)

    def events(self) -> list[str]:
        return [entry for entry in self.log if isinstance(entry, str)]

    def played_ms(self) -> float:
        return sum(len(a.data) for a in self.log if isinstance(a, PlayAudio)) / 48


def test_the_audio_goes_to_the_track_between_started_and_stopped() -> None:
    call = Call()
    call.send(AUDIO_REPLY)
    call.run_until(60_000)
    events = call.events()
    assert "response.output_audio.delta" not in events  # as live on WebRTC
    assert "response.output_audio_transcript.delta" in events
    added = events.index("response.content_part.added")
    assert events[added + 1] == "output_audio_buffer.started"
    assert events.index("response.done") < events.index("output_audio_buffer.stopped")
    assert call.played_ms() > 0
    assert all(a.fmt == "audio/pcm" for a in call.log if isinstance(a, PlayAudio))
    # stopped waits for the track to play it all: the audio's duration after it started
    done_at = next(r.t_ms for r in call.app.transcript.records if r.event_type == "response.done")
    stopped = next(
        r for r in call.app.transcript.records if r.event_type == "output_audio_buffer.stopped"
    )
    assert stopped.t_ms >= call.played_ms() - 1
    assert stopped.t_ms > done_at
    assert json.loads(stopped.text or "")["response_id"].startswith("resp_")


def test_a_text_response_has_no_output_audio_buffer_events() -> None:
    call = Call()
    call.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
    call.run_until(60_000)
    assert not [e for e in call.events() if e.startswith("output_audio_buffer.")]
    assert call.played_ms() == 0


def test_the_clients_clear_cuts_the_audio_off_and_no_stopped_follows() -> None:
    call = Call()
    call.send(AUDIO_REPLY)
    call.run_until(100)  # generated at once (fast pace); playing for seconds
    assert "response.done" in call.events()
    call.send({"type": "output_audio_buffer.clear", "event_id": "evt_clear"})
    call.run_until(60_000)
    events = call.events()
    assert events[-1] == "output_audio_buffer.cleared"
    assert "output_audio_buffer.stopped" not in events
    assert isinstance(call.log[-2], ClearAudio)  # the track drops its queue first


def test_speech_over_the_playing_audio_clears_it() -> None:
    call = Call()
    call.send(AUDIO_REPLY)
    call.run_until(100)
    call.audio(SPEECH)
    call.audio(SILENCE)
    events = call.events()
    started = events.index("input_audio_buffer.speech_started")
    assert "output_audio_buffer.cleared" in events[started:]
    assert (
        "output_audio_buffer.stopped" not in events[: events.index("output_audio_buffer.cleared")]
    )
    assert "input_audio_buffer.speech_stopped" in events  # the track's audio made a turn
    assert "input_audio_buffer.committed" in events


def test_track_audio_fills_the_input_buffer_like_appends() -> None:
    call = Call(transport="webrtc")
    call.send({"type": "session.update", "session": {"type": "realtime", "audio": {
        "input": {"turn_detection": None}}}})  # fmt: skip
    call.audio(SPEECH)
    call.send({"type": "input_audio_buffer.commit"})
    events = call.events()
    assert events[-3:] == [
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
    ]
    # nothing of the track is recorded as a client frame
    assert [r.event_type for r in call.app.transcript.records if r.direction == "client"] == [
        "session.update",
        "input_audio_buffer.commit",
    ]


def test_the_transcript_says_the_transport() -> None:
    assert Call().app.transcript.meta["transport"] == "webrtc"
    assert Call().app.transcript.transport == "webrtc"
    websocket = Call(transport="websocket").app.transcript
    assert "transport" not in websocket.meta  # older readers see what they always saw
    assert websocket.transport == "websocket"


def test_a_websocket_session_refuses_clear_and_sends_audio_deltas() -> None:
    call = Call(transport="websocket")
    call.send({"type": "output_audio_buffer.clear"})
    assert call.events()[-1] == "error"
    error = json.loads(call.app.transcript.records[-1].text or "")["error"]
    assert (error["code"], error["param"]) == ("invalid_value", "type")
    call.send(AUDIO_REPLY)
    call.run_until(60_000)
    assert "response.output_audio.delta" in call.events()
    assert not [e for e in call.events() if e.startswith("output_audio_buffer.")]
    assert call.played_ms() == 0
