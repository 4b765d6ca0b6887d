"""WebRTC calls with aiortc: the SDP answer, the `oai-events` data channel and the audio tracks.

`POST /v1/realtime/calls` is checked by the sans-I/O `RestHandler.call_offer`; the offer
then comes here (`WebRtcCalls.create_call`, awaited by the HTTP adapter): a peer connection
answers it, ICE on 127.0.0.1 only and no STUN/TURN server, and the call's session (one
`MockApp(transport="webrtc")`, driven by `calls.CallDriver`) starts when the client opens
its `oai-events` data channel (or, without one in the offer, when the connection is up):

* the data channel carries the same JSON events as the WebSocket, both ways;
* the model's audio is played on the answer's audio track (`OutputTrack`: PCM queued
  by `PlayAudio`, paced in real time, encoded to Opus at 48 kHz by aiortc's encoder);
* the client's microphone track is decoded, resampled to the session's input rate
  (PCM16 24 kHz, or G.711 8 kHz) and fed to the server VAD (`MockApp.receive_audio`).

aiortc is an optional extra (`pip install 'realtime-conformance[webrtc]'`); without it
`backend_for` returns None, logs one line naming the extra, and `/calls` answers a JSON
error saying so.
"""

from __future__ import annotations

import asyncio
import fractions
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl, urlsplit

from conformance._loopback import loopback_ice
from conformance.transcript import Transcript
from mock_server._log import logger
from mock_server.calls import Call, CallDriver, CallRegistry
from mock_server.media import decode_g711, encode_g711
from mock_server.rest import CallOffer, HttpResponse, error_response
from mock_server.session_config import input_format

if TYPE_CHECKING:
    from mock_server.server import MockServer

try:
    import av
    from aiortc import (
        MediaStreamTrack,
        RTCConfiguration,
        RTCDataChannel,
        RTCPeerConnection,
        RTCSessionDescription,
    )
    from aiortc.mediastreams import MediaStreamError
except ImportError:  # the optional `webrtc` extra is not installed
    AVAILABLE = False
else:
    AVAILABLE = True

MISSING_MESSAGE: Final = (
    "WebRTC calls (POST /v1/realtime/calls) need the webrtc extra: "
    "pip install 'realtime-conformance[webrtc]'"
)
EVENTS_CHANNEL: Final = "oai-events"
# The client must connect (ICE, DTLS, its data channel) this soon after the answer.
CONNECT_TIMEOUT: Final = 30.0
# Events waiting in a data channel the client does not read: past this, the call ends.
CHANNEL_BUFFER: Final = 16 << 20
RATE: Final = 24_000  # the output track's PCM16 rate (aiortc's Opus encoder makes 48 kHz)
FRAME_MS: Final = 20
FRAME_SAMPLES: Final = RATE * FRAME_MS // 1000
FRAME_BYTES: Final = FRAME_SAMPLES * 2
# Output audio queued on the track at most (bounded memory): 10 minutes of PCM16 24 kHz.
MAX_QUEUED: Final = RATE * 2 * 600
_warned = False


def no_ice_servers() -> Any:
    """An `RTCConfiguration` without STUN/TURN (aiortc would use Google's STUN)."""
    return RTCConfiguration(iceServers=[])


def backend_for(server: MockServer) -> WebRtcCalls | None:
    """The WebRTC backend of `server`, or None (logged once) without aiortc."""
    global _warned
    if not AVAILABLE:
        if not _warned:
            _warned = True
            logger.info(MISSING_MESSAGE)
        return None
    return WebRtcCalls(server.calls, server.config, server.track_session, server.make_call_app)


def _record_offer(transcript: Transcript, offer: CallOffer) -> None:
    """Put the client's `POST /v1/realtime/calls` in the call's transcript, where a
    WebSocket's upgrade request goes (headers masked): the header checks judge a call's
    request (an `OpenAI-Beta` header: accepted and recorded [INFERRED], see fidelity)."""
    if offer.http is None:
        return
    parts = urlsplit(offer.http.target)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    transcript.record_http_request(offer.http.method, parts.path, query, offer.http.headers)


class WebRtcCalls:
    """Answers WebRTC offers for one server (`RestHandler.webrtc`)."""

    def __init__(
        self,
        calls: CallRegistry,
        config: Any,
        track_session: Callable[[Transcript], Callable[[], None]],
        make_app: Callable[[Call], Any],
    ) -> None:
        loopback_ice()
        self.calls = calls
        self.config = config
        self.track_session = track_session
        self.make_app = make_app
        self._peers: set[Any] = set()
        self._tasks: set[asyncio.Task[Any]] = set()

    async def create_call(self, offer: CallOffer) -> HttpResponse:
        """Answer `offer` (201 + SDP + Location) and start its call, or a 400."""
        pc = RTCPeerConnection(no_ice_servers())
        try:
            await pc.setRemoteDescription(RTCSessionDescription(offer.sdp, "offer"))
        except Exception as exc:  # aiortc raises ValueError and others on a bad offer
            await pc.close()
            message = f"Invalid SDP offer: {exc}".strip()
            return error_response(400, message, code="invalid_offer", param="sdp")
        call = self.calls.create(
            "webrtc", request=offer.request, session=offer.session, call_id=offer.call_id
        )
        app = self.make_app(call)
        _record_offer(app.transcript, offer)
        ended = self.track_session(app.transcript)
        track = OutputTrack()
        driver = CallDriver(call, app, self.calls, media=track)
        self._peers.add(pc)
        self._wire(pc, driver, track, offer.sdp)
        call.on_end.append(lambda _: self._hang_up(pc, track, ended))
        if any(t.kind == "audio" for t in pc.getTransceivers()):
            pc.addTrack(track)
        try:
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:
            self.calls.end(call.call_id, "failed")
            return error_response(
                400, f"Invalid SDP offer: {exc}", code="invalid_offer", param="sdp"
            )
        loop = asyncio.get_running_loop()
        timer = loop.call_later(CONNECT_TIMEOUT, self._check_connected, call)
        call.on_end.append(lambda _: timer.cancel())
        headers = (("Content-Type", "application/sdp"), ("Location", offer.location))
        return HttpResponse(201, pc.localDescription.sdp.encode(), headers)

    def _wire(self, pc: Any, driver: CallDriver, track: OutputTrack, sdp: str) -> None:
        call = driver.call
        has_channel = "m=application" in sdp

        @pc.on("datachannel")  # type: ignore[untyped-decorator]
        def on_channel(channel: RTCDataChannel) -> None:
            if channel.label != EVENTS_CHANNEL or driver.ended:
                return
            outlet = DataChannelOutlet(channel, lambda: self.calls.end(call.call_id, "overflow"))
            driver.attach(outlet)

            @channel.on("message")
            def on_message(message: str | bytes) -> None:
                if isinstance(message, str):
                    driver.receive_text(message)
                else:
                    driver.receive_bytes(message)

            @channel.on("close")
            def on_close() -> None:
                driver.detach(outlet)

            if channel.readyState == "open":
                driver.open()
            else:
                channel.on("open", driver.open)

        # The offer's tracks were made by setRemoteDescription (its "track" events are past).
        for transceiver in pc.getTransceivers():
            remote = transceiver.receiver.track
            if transceiver.kind == "audio" and remote is not None:
                self._spawn(_read_microphone(remote, driver))

        @pc.on("connectionstatechange")  # type: ignore[untyped-decorator]
        async def on_state() -> None:
            state = pc.connectionState
            if state == "connected" and not has_channel:
                driver.open()  # an audio-only client: its session starts now
            elif state in ("failed", "closed") and call.live:
                self.calls.end(call.call_id, "closed")

    def _check_connected(self, call: Call) -> None:
        driver = call.driver
        if call.live and driver is not None and not driver.opened:
            logger.warning("call %s: the client did not connect in time; ending it", call.call_id)
            self.calls.end(call.call_id, "connect_timeout")

    def _hang_up(self, pc: Any, track: OutputTrack, ended: Callable[[], None]) -> None:
        track.stop()
        ended()
        self._spawn(self._close(pc))

    async def _close(self, pc: Any) -> None:
        try:
            await pc.close()
        finally:
            self._peers.discard(pc)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        """End every call and close every peer connection (the server stops)."""
        self.calls.end_all()
        for pc in list(self._peers):
            self._spawn(self._close(pc))
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5.0)
        for task in list(self._tasks):
            task.cancel()


class DataChannelOutlet:
    """The `oai-events` data channel as the call's primary outlet."""

    primary = True

    def __init__(self, channel: RTCDataChannel, overflow: Callable[[], Any]) -> None:
        self.channel = channel
        self._overflow = overflow

    def _send(self, data: str | bytes) -> None:
        channel = self.channel
        if channel.readyState != "open":
            return
        if channel.bufferedAmount > CHANNEL_BUFFER:
            logger.warning("a call's client reads nothing from its data channel; ending it")
            self._overflow()
            return
        channel.send(data)

    def send_text(self, text: str) -> None:
        self._send(text)

    def send_bytes(self, data: bytes) -> None:
        self._send(data)

    def close(self, code: int, reason: str) -> None:
        self.channel.close()

    def drop(self) -> None:
        self.channel.close()


if AVAILABLE:

    class OutputTrack(MediaStreamTrack):
        """The model's audio as a live audio track: 20 ms PCM16 frames in real time
        (silence when nothing is queued); aiortc encodes them to Opus at 48 kHz."""

        kind = "audio"

        def __init__(self) -> None:
            super().__init__()
            self._queued = bytearray()
            self._start: float | None = None
            self._samples = 0

        def play(self, data: bytes, fmt: str) -> None:
            """Queue `data` (the session's output format) after what is queued."""
            pcm = _to_pcm24(data, fmt)
            room = MAX_QUEUED - len(self._queued)
            self._queued += pcm[: max(0, room)]

        def clear(self) -> None:
            """Drop what is queued (`output_audio_buffer.clear`, a barge-in)."""
            self._queued.clear()

        async def recv(self) -> Any:
            if self.readyState != "live":
                raise MediaStreamError
            if self._start is None:
                self._start = time.monotonic()
            else:
                self._samples += FRAME_SAMPLES
                wait = self._start + self._samples / RATE - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)  # the media clock: one frame per 20 ms
            chunk = bytes(self._queued[:FRAME_BYTES])
            del self._queued[:FRAME_BYTES]
            frame = av.AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
            frame.planes[0].update(chunk.ljust(FRAME_BYTES, b"\0"))
            frame.sample_rate = RATE
            frame.pts = self._samples
            frame.time_base = fractions.Fraction(1, RATE)
            return frame

else:  # pragma: no cover - without aiortc nothing makes one

    class OutputTrack:  # type: ignore[no-redef]
        """Stands in for the aiortc track when the extra is missing."""

        def play(self, data: bytes, fmt: str) -> None: ...

        def clear(self) -> None: ...

        def stop(self) -> None: ...


def _to_pcm24(data: bytes, fmt: str) -> bytes:
    """Output audio as PCM16 24 kHz (G.711 8 kHz decoded, each sample repeated 3 times)."""
    if fmt not in ("audio/pcmu", "audio/pcma"):
        return data
    pcm = decode_g711(data, fmt)
    samples = [pcm[i : i + 2] for i in range(0, len(pcm), 2)]
    return b"".join(sample * 3 for sample in samples)


async def _read_microphone(track: Any, driver: CallDriver) -> None:
    """Decode the client's audio track into the session's input format, for the VAD."""
    resampler: Any = None
    rate = 0
    try:
        while not driver.ended:
            frame = await track.recv()
            fmt = input_format(driver.app.behaviour.session)
            wanted = 8000 if fmt in ("audio/pcmu", "audio/pcma") else RATE
            if resampler is None or wanted != rate:
                rate = wanted
                resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
            for out in resampler.resample(frame):
                pcm = bytes(out.planes[0])[: out.samples * 2]
                if rate == 8000:
                    pcm = encode_g711(pcm, fmt)
                driver.receive_audio(pcm)
    except MediaStreamError:
        return  # the track ended (the call is over)
    except Exception:  # an undecodable track: the call goes on without its audio
        logger.exception("call %s: cannot read the client's audio track", driver.call.call_id)


__all__ = [
    "AVAILABLE",
    "MISSING_MESSAGE",
    "DataChannelOutlet",
    "OutputTrack",
    "WebRtcCalls",
    "backend_for",
    "loopback_ice",
    "no_ice_servers",
]
