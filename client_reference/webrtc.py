"""`connect_webrtc()` and `WebRtcConnection`: the Realtime API over WebRTC, as a browser does it.

    conn = await connect_webrtc("ws://127.0.0.1:8765/v1/realtime", api_key="sk-test")
    await conn.send({"type": "session.update", ...})
    event = await conn.recv()

The flow (docs/browser.md, protocol notes "REST"):

1. an ephemeral key: `POST {base}/realtime/client_secrets` with the standard key (an
   `ek_…` key given as `api_key` is used as is: a client secret opens one call);
2. the SDP offer (an `oai-events` data channel, and an audio transceiver that receives the
   model's audio track) goes to `POST {base}/realtime/calls` as a raw `application/sdp`
   body with the `ek_` key; the answer is the 201's body, the call id (`rtc_…`) is in its
   `Location` header;
3. the `oai-events` data channel carries the same JSON events as the WebSocket, both ways,
   through the same sans-I/O core (`conformance.protocol.Session(Side.CLIENT)`).

`WebRtcConnection` has the interface of `RealtimeConnection` (`send`, `recv`, `async for`,
`close`, `session`, `state`, `findings`, `close_code`), so `RealtimeClient(transport=
"webrtc")` runs the same GA flow over it. A data channel has no close codes: the server
ending the call (its channel closes) reads as 1000, a connection that fails as 1006.

ICE: no STUN or TURN server (as a browser's `new RTCPeerConnection()`). Against a server on
a loopback address, this process's ICE gathers 127.0.0.1 only (aioice is told so
process-wide), so no packet leaves the machine.

One message on a data channel is bounded by the peer's SDP `a=max-message-size` (aiortc and
Chromium: 256 KiB; 64 KiB when the answer says nothing): a screenshot event must fit, so
`RealtimeClient.add_screenshot` downscales PNGs to `max_image_bytes` on this transport.

aiortc is an optional extra: `pip install 'realtime-conformance[webrtc]'`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any, Final, Literal
from urllib.parse import urlsplit, urlunsplit

from conformance import _json
from conformance._loopback import is_loopback_host, loopback_ice

from ._events import EventConnection
from ._redact import redact
from .connection import DEFAULT_MODEL, DEFAULT_URL, build_url
from .errors import ConnectError, Timeout, UsageError

__all__ = [
    "EVENTS_CHANNEL",
    "MISSING_MESSAGE",
    "Transport",
    "WebRtcConnection",
    "connect_webrtc",
    "rest_base_url",
]

logger = logging.getLogger(__name__)

Transport = Literal["websocket", "webrtc"]

EVENTS_CHANNEL: Final = "oai-events"
MISSING_MESSAGE: Final = (
    "the WebRTC transport needs the webrtc extra: pip install 'realtime-conformance[webrtc]'"
)
# RFC 8841: without `a=max-message-size` in the peer's SDP, 64 KiB.
DEFAULT_MAX_MESSAGE: Final = 65_536
# JSON around the base64 image in a conversation.item.create (ids, type names, detail).
_IMAGE_EVENT_OVERHEAD: Final = 1_024
# Queued data-channel bytes above which `send` waits for the channel to drain.
_HIGH_WATER: Final = 4 << 20
_MAX_MESSAGE_LINE = re.compile(r"^a=max-message-size:(\d+)\s*$", re.MULTILINE)

try:
    from aiortc import (
        MediaStreamTrack,
        RTCConfiguration,
        RTCPeerConnection,
        RTCSessionDescription,
    )
    from aiortc.mediastreams import MediaStreamError
except ImportError:  # the optional `webrtc` extra is not installed
    AVAILABLE = False
else:
    AVAILABLE = True


def rest_base_url(url: str) -> str:
    """The REST base of a Realtime URL: `ws://h:p/v1/realtime?…` → `http://h:p/v1`.

    Raises:
        UsageError: not a ws:// or wss:// URL with a host.
    """
    build_url(url, None)  # the same checks (and hints) as the WebSocket transport
    parts = urlsplit(url)
    scheme = "http" if parts.scheme == "ws" else "https"
    path = parts.path.rstrip("/")
    if path.endswith("/realtime"):
        path = path[: -len("/realtime")]
    return urlunsplit((scheme, parts.netloc, path, "", ""))


def max_message_size(sdp: str) -> int:
    """The largest data-channel message the peer takes (0: no limit), from its SDP."""
    found = _MAX_MESSAGE_LINE.search(sdp)
    return int(found.group(1)) if found else DEFAULT_MAX_MESSAGE


async def connect_webrtc(
    url: str | None = None,
    *,
    model: str | None = DEFAULT_MODEL,
    api_key: str | None = None,
    headers: Mapping[str, str] | None = None,
    open_timeout: float = 10.0,
    send_timeout: float = 10.0,
    close_timeout: float = 5.0,
    audio: bool = True,
    **_websocket_only: Any,
) -> WebRtcConnection:
    """Open a Realtime call over WebRTC; returns once its `oai-events` channel is open.

    Args:
        url: the Realtime URL (`ws://`/`wss://`, as for `connect`); the REST calls go to
            its `http(s)://…/v1` base.
        model: the model of the minted client secret (ignored with an `ek_` key, which
            carries its own).
        api_key: a standard key (a client secret is minted with it) or an `ek_` secret.
        headers: extra headers on both REST requests (`OpenAI-Beta` is refused).
        open_timeout: bound on each REST request, and on ICE + DTLS + the channel opening.
        send_timeout: bound on the channel draining before a send.
        close_timeout: bound on closing the peer connection.
        audio: offer to receive the model's audio track (the frames are counted, then
            dropped: `audio_frames`); False offers the data channel alone.
        _websocket_only: `auth`, `max_size`, `compression`, ping settings: WebSocket
            options, accepted so both transports take the same arguments, and unused.

    Raises:
        UsageError: bad arguments, or the `webrtc` extra is missing (nothing was sent).
        ConnectError: a REST request failed (`status` set) or ICE/DTLS did not connect.
        Timeout: a step took longer than `open_timeout`.
    """
    if not AVAILABLE:
        raise UsageError(MISSING_MESSAGE)
    base = rest_base_url(url or DEFAULT_URL)
    extra = dict(headers or {})
    for name in extra:
        if name.lower() in ("openai-beta", "authorization"):
            raise UsageError(f"header {name!r} refused on the WebRTC transport")
    if not api_key:
        raise UsageError("the WebRTC transport needs an api_key (a standard key or an ek_ secret)")
    secret = api_key
    if not api_key.startswith("ek_"):
        session = {"type": "realtime", **({"model": model} if model else {})}
        minted = await _post_json(
            f"{base}/realtime/client_secrets", {"session": session}, api_key, extra, open_timeout
        )
        secret = str(minted.get("value") or "")
        if not secret:
            raise ConnectError(f"POST {base}/realtime/client_secrets answered no value")
    if is_loopback_host(urlsplit(base).hostname or ""):
        loopback_ice()
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        channel = pc.createDataChannel(EVENTS_CHANNEL)
        conn = WebRtcConnection(pc, channel, send_timeout=send_timeout, close_timeout=close_timeout)
        if audio:
            pc.addTransceiver("audio", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())  # gathers the ICE candidates
        answer, location = await _post_offer(
            f"{base}/realtime/calls", pc.localDescription.sdp, secret, extra, open_timeout
        )
        conn.call_id = location.rstrip("/").rsplit("/", 1)[-1] or None
        conn.max_message_size = max_message_size(answer)
        await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        await conn._wait_open(open_timeout)
    except BaseException:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(close_timeout):
                await pc.close()
        raise
    return conn


class WebRtcConnection(EventConnection):
    """One Realtime call over WebRTC: `send()`, `recv()`, `async for event in conn`, `close()`.

    The interface of `RealtimeConnection`; a server `error` event is returned like any
    other event, the end of the call raises `ConnectionClosed`.

    Attributes:
        call_id: the `rtc_…` id from the answer's `Location` (for `calls/{id}/hangup`, a
            sideband WebSocket `?call_id=`).
        max_message_size: the largest message the server's channel takes (0: no limit).
        audio_frames: audio frames received on the model's track so far.
        findings: every protocol rule the server broke on this call, in order.
    """

    transport: Final = "webrtc"
    _log = logger

    def __init__(
        self,
        pc: Any,
        channel: Any,
        *,
        send_timeout: float = 10.0,
        close_timeout: float = 5.0,
    ) -> None:
        super().__init__()
        self._pc = pc
        self._channel = channel
        self._send_timeout = send_timeout
        self._close_timeout = close_timeout
        self._arrived = asyncio.Event()
        self._opened = asyncio.Event()
        self._drained = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self.call_id: str | None = None
        self.max_message_size = DEFAULT_MAX_MESSAGE
        self.audio_frames = 0
        channel.bufferedAmountLowThreshold = _HIGH_WATER // 2
        channel.on("open", self._opened.set)
        channel.on("message", self._on_message)
        channel.on("close", self._on_channel_close)
        channel.on("bufferedamountlow", self._drained.set)
        pc.on("track", self._on_track)
        pc.on("connectionstatechange", self._on_state)

    # ------------------------------------------------------------ properties
    @property
    def subprotocol(self) -> str | None:
        """Always None (no WebSocket)."""
        return None

    @property
    def close_code(self) -> int | None:
        """1000 once the call ended (by either side), 1006 if the connection failed."""
        return self._closed.code if self._closed else None

    @property
    def close_reason(self) -> str | None:
        """Why the call ended, once it did."""
        return self._closed.reason if self._closed else None

    @property
    def max_image_bytes(self) -> int | None:
        """The largest image whose `conversation.item.create` fits one message (None: any)."""
        if not self.max_message_size:
            return None
        return (self.max_message_size - _IMAGE_EVENT_OVERHEAD) * 3 // 4

    # ------------------------------------------------------------ events
    async def send(self, event: Mapping[str, Any]) -> None:
        """Send one client event on the data channel.

        Raises:
            UsageError: the event is larger than one message may be (nothing is sent).
            LocalProtocolError: the event is illegal now (nothing is sent).
            ConnectionClosed: the call has ended.
            Timeout: the channel did not drain within `send_timeout`.
        """
        if self._closed is not None:
            raise self._closed_copy()
        size = len(_json.dumps(event))
        if self.max_message_size and size > self.max_message_size:
            raise UsageError(
                f"the {event.get('type')} event is {size:,} bytes: over the "
                f"{self.max_message_size:,} bytes one data-channel message may carry (the "
                "server's a=max-message-size); "
                "send a smaller image (RealtimeClient.add_screenshot downscales PNGs to fit)"
            )
        if self._channel.bufferedAmount > _HIGH_WATER:
            self._drained.clear()
            try:
                async with asyncio.timeout(self._send_timeout):
                    while self._channel.bufferedAmount > _HIGH_WATER and self._closed is None:
                        await self._drained.wait()
                        self._drained.clear()
            except TimeoutError:
                what = f"the data channel to drain before {event.get('type')}"
                raise Timeout(what, self._send_timeout) from None
            if self._closed is not None:
                raise self._closed_copy()
        self._channel.send(self._encode(event))

    async def _wait_frames(self) -> None:
        if self._closed is not None:
            raise self._closed_copy()
        self._arrived.clear()
        await self._arrived.wait()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """End the call: close the channel and the peer connection (bounded); safe twice."""
        if self._closed is None:
            self._closing = True
            self._record_close(code, reason)
        for task in list(self._tasks):
            task.cancel()
        try:
            async with asyncio.timeout(self._close_timeout):
                self._channel.close()
                await self._pc.close()
        except TimeoutError:
            logger.warning("the peer connection did not close within %g s", self._close_timeout)

    # ------------------------------------------------------------ callbacks
    async def _wait_open(self, seconds: float) -> None:
        try:
            async with asyncio.timeout(seconds):
                while not self._opened.is_set():
                    if self._closed is not None:
                        raise ConnectError(
                            f"the WebRTC connection failed before the {EVENTS_CHANNEL} "
                            "channel opened (ICE or DTLS: is the server reachable over UDP?)"
                        )
                    waiter = asyncio.ensure_future(self._opened.wait())
                    ended = asyncio.ensure_future(self._arrived.wait())
                    try:
                        await asyncio.wait({waiter, ended}, return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        waiter.cancel()
                        ended.cancel()
                    self._arrived.clear()
        except TimeoutError:
            what = f"ICE, DTLS and the {EVENTS_CHANNEL} data channel opening"
            raise Timeout(what, seconds) from None

    def _on_message(self, message: str | bytes) -> None:
        self._received(message)
        self._arrived.set()

    def _on_channel_close(self) -> None:
        self._record_close(1000, "the server ended the call (its data channel closed)")

    async def _on_state(self) -> None:
        if self._pc.connectionState in ("failed", "closed"):
            self._record_close(1006, f"the WebRTC connection {self._pc.connectionState}")

    def _on_track(self, track: Any) -> None:
        if track.kind == "audio":
            task = asyncio.ensure_future(self._drain_audio(track))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _drain_audio(self, track: MediaStreamTrack) -> None:
        """Read the model's audio track (an unread track queues every frame in memory)."""
        with contextlib.suppress(MediaStreamError):
            while True:
                await track.recv()
                self.audio_frames += 1

    def _record_close(self, code: int, reason: str) -> None:
        self._end(code, reason)
        self._arrived.set()
        self._drained.set()


# ---------------------------------------------------------------- REST
async def _post_json(
    url: str, body: Mapping[str, Any], key: str, headers: Mapping[str, str], seconds: float
) -> dict[str, Any]:
    data = json.dumps(body).encode()
    all_headers = {**headers, "Content-Type": "application/json"}
    status, _, answer = await _post(url, data, key, all_headers, seconds)
    try:
        value = json.loads(answer)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise ConnectError(f"POST {url} answered HTTP {status} without a JSON object")
    return value


async def _post_offer(
    url: str, sdp: str, key: str, headers: Mapping[str, str], seconds: float
) -> tuple[str, str]:
    """POST the offer; returns (the SDP answer, the Location header)."""
    all_headers = {**headers, "Content-Type": "application/sdp", "Accept": "application/sdp"}
    status, location, answer = await _post(url, sdp.encode(), key, all_headers, seconds)
    if status != 201 or not location:
        logger.info("POST %s answered %d (Location %r)", url, status, location)
    return answer.decode("utf-8", errors="replace"), location


async def _post(
    url: str, data: bytes, key: str, headers: Mapping[str, str], seconds: float
) -> tuple[int, str, bytes]:
    """(status, Location, body) of a 2xx answer; raises ConnectError for any other."""
    request = urllib.request.Request(
        url, data=data, method="POST", headers={**headers, "Authorization": f"Bearer {key}"}
    )

    def send() -> tuple[int, str, bytes]:
        with urllib.request.urlopen(request, timeout=seconds) as response:
            return response.status, response.headers.get("Location") or "", response.read()

    try:
        async with asyncio.timeout(seconds + 1.0):
            return await asyncio.to_thread(send)
    except TimeoutError:
        raise Timeout(f"POST {url}", seconds) from None
    except urllib.error.HTTPError as exc:
        body = exc.read()
        detail = _error_detail(body)
        message = redact(f"POST {url} answered HTTP {exc.code}{detail}", [key])
        raise ConnectError(message, status=exc.code) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ConnectError(redact(f"cannot reach {url}: {reason}", [key])) from None


def _error_detail(body: bytes) -> str:
    """`: <code>: <message>` from an OpenAI error body, or ""."""
    try:
        error = json.loads(body).get("error")
    except (ValueError, AttributeError):
        return ""
    if not isinstance(error, dict):
        return ""
    code = error.get("code") or error.get("type") or "error"
    return f": {code}: {error.get('message') or ''}".rstrip()
