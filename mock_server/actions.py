"""What the sans-I/O mock app asks its I/O adapter to do.

The app (`mock_server.app.MockApp`) never touches a socket or a clock. It is driven by
an adapter (`mock_server.server` for real sockets, `conformance.transport` in memory) that

1. calls `app.opened(now_ms)` once the WebSocket upgrade is done,
2. feeds every client frame to `app.receive_text(text, now_ms)` /
   `app.receive_bytes(data, now_ms)`,
3. after each call drains `app.actions_to_perform()` and performs them in order,
4. calls `app.handle_timer(now_ms)` when `app.next_timer()` (absolute ms, or None)
   is reached, then drains the actions again,
5. calls `app.connection_lost(code, reason, now_ms)` when the socket is gone.

Streaming pace is expressed through timers, never through sleeps inside the app, so an
in-memory adapter with a virtual clock runs a paced response instantly and reproducibly.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SendText:
    """Send one text frame (normally a serialised server event; may be malformed on purpose)."""

    text: str


@dataclass(frozen=True, slots=True)
class SendBytes:
    """Send one binary frame."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Close:
    """Send a close frame with this code and reason, then stop reading."""

    code: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Drop:
    """Drop the TCP connection without a close frame (the peer sees 1006)."""


@dataclass(frozen=True, slots=True)
class Stall:
    """Stop sending anything (including pongs if `pings` is False) but keep the socket open."""

    pings: bool = True


@dataclass(frozen=True, slots=True)
class SetPingAnswer:
    """Answer the peer's pings (True, the default) or leave them unanswered (False)."""

    answer: bool


@dataclass(frozen=True, slots=True)
class PlayAudio:
    """WebRTC/SIP: play this output audio (in the session's output `fmt`) on the call's
    audio track, after what is already queued there."""

    data: bytes
    fmt: str


@dataclass(frozen=True, slots=True)
class ClearAudio:
    """WebRTC/SIP: drop the output audio queued on the call's track (not yet played)."""


MediaAction = PlayAudio | ClearAudio

# A WebSocket adapter never gets a `MediaAction`: only calls (`MockApp(transport="webrtc")`)
# make them.
Action = SendText | SendBytes | Close | Drop | Stall | SetPingAnswer | PlayAudio | ClearAudio
