"""The output audio buffer of a WebRTC or SIP call, sans-I/O (spec `output_audio_buffer.*`).

On a call the model's audio goes to the client on the call's audio track, not as
`response.output_audio.delta` events (as live does on WebRTC). `MockApp` (with
`transport="webrtc"` or `"sip"`) hands every event it sends to `OutputAudioBuffer`:

* `response.output_audio.delta` is applied to the protocol core as usual (so truncation
  and retrieval know the audio) but not written: its audio becomes a `PlayAudio` action
  for the track instead;
* after an audio `response.content_part.added`: `output_audio_buffer.started`
  (spec: "emitted after an audio content part has been added");
* after `response.done`: `output_audio_buffer.stopped` once the track has played
  everything queued (spec: "completely drained ... after response.done"). The track plays
  in real time from when the audio is queued, so the drain time is computed on the
  app's clock: `max(end, now) + duration` per delta;
* the client's `output_audio_buffer.clear`, or a barge-in (`speech_started` with
  `interrupt_response`) while audio is still playing: `output_audio_buffer.cleared`, the
  queued audio dropped (`ClearAudio`), and no `stopped` for it.

A WebSocket session has none of this (`MockApp.audio_out` is None): the live WebSocket
endpoint never sends these events and refuses `output_audio_buffer.clear`.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from conformance.protocol.states import BYTES_PER_MS

from .actions import ClearAudio, PlayAudio

if TYPE_CHECKING:
    from .app import MockApp

CALL_TRANSPORTS: Final = ("webrtc", "sip")


class OutputAudioBuffer:
    """One call's output audio: what the track plays and the events about it."""

    def __init__(self, app: MockApp) -> None:
        self.app = app
        self.playing: str | None = None  # the response whose audio is started, not stopped
        self.end_ms = 0.0  # when the track will have played everything queued
        self.generation = 0  # a clear makes every scheduled `stopped` stale
        self.audio_ms = 0.0  # output audio queued on the track in this call, in total

    def divert(self, event: Mapping[str, Any]) -> bool:
        """An audio delta (already applied to the core): to the track, not written."""
        if event.get("type") != "response.output_audio.delta":
            return False
        if self.app.ended or self.app.stalled:
            return True
        fmt = output_format(self.app.behaviour.session)
        data = base64.b64decode(str(event.get("delta", "")))
        ms = len(data) / BYTES_PER_MS.get(fmt, 48)
        self.end_ms = max(self.end_ms, self.app.now_ms) + ms
        self.audio_ms += ms
        self.app._actions.append(PlayAudio(data, fmt))
        return True

    def sent(self, event: Mapping[str, Any]) -> None:
        """After an event was written: `started` / `stopped` at the spec's points."""
        kind = event.get("type")
        if kind == "response.content_part.added":
            part = event.get("part")
            if isinstance(part, Mapping) and part.get("type") == "audio":
                response_id = str(event.get("response_id"))
                self.playing = response_id
                self.app._emit({"type": "output_audio_buffer.started", "response_id": response_id})
        elif kind == "response.done":
            response = event.get("response")
            done_id = response.get("id") if isinstance(response, Mapping) else None
            if not isinstance(done_id, str) or done_id != self.playing:
                return
            from .app import _Entry

            generation = self.generation
            at = max(self.end_ms, self.app.now_ms)
            self.app.queue(_Entry("call", lambda: self._stopped(done_id, generation)), at=at)

    def _stopped(self, response_id: str, generation: int) -> None:
        if generation != self.generation or self.playing != response_id:
            return  # cleared meanwhile, or another response's audio plays now
        self.playing = None
        self.app.send_event({"type": "output_audio_buffer.stopped", "response_id": response_id})

    def clear(self, *, by_client: bool) -> None:
        """Drop the queued audio: `cleared` (always for the client's `clear`; on a
        barge-in only while audio plays)."""
        response_id = self.playing
        if response_id is None and not by_client:
            return
        self.playing = None
        self.generation += 1
        self.end_ms = self.app.now_ms
        self.app._actions.append(ClearAudio())
        event: dict[str, Any] = {"type": "output_audio_buffer.cleared"}
        if response_id is not None:
            event["response_id"] = response_id
        self.app.send_event(event)


def output_format(session: Mapping[str, Any]) -> str:
    """The `type` of the session's output audio format (`audio/pcm` by default)."""
    audio = session.get("audio")
    output = audio.get("output") if isinstance(audio, Mapping) else None
    fmt = output.get("format") if isinstance(output, Mapping) else None
    kind = fmt.get("type") if isinstance(fmt, Mapping) else None
    return kind if isinstance(kind, str) else "audio/pcm"


__all__ = ["CALL_TRANSPORTS", "OutputAudioBuffer", "output_format"]
