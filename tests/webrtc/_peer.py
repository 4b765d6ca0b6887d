"""An aiortc client of the mock's WebRTC calls, as a browser does it: a peer connection
with the `oai-events` data channel and an audio track (a microphone, or silence), the
offer POSTed to `/v1/realtime/calls`, the answer applied. Imported only after
`pytest.importorskip("aiortc")`."""

from __future__ import annotations

import array
import asyncio
import fractions
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any, cast

import av
import httpx
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError

from mock_server._webrtc import loopback_ice, no_ice_servers
from mock_server.server import MockServer

TIMEOUT = 10.0
KEY = "sk-test-webrtc"
AUTH = {"Authorization": f"Bearer {KEY}"}
PNG_1X1 = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGBgAAAABQAB"
    "h6FO1AAAAABJRU5ErkJggg=="
)


class ToneThenSilence(MediaStreamTrack):
    """A microphone: silence, and `tone_ms` of a loud tone from each `speak_now`; 20 ms
    frames at 48 kHz in real time (the client side of a call; Opus-encoded by aiortc)."""

    kind = "audio"
    RATE = 48_000
    SAMPLES = 960  # 20 ms

    def __init__(self, tone_ms: int = 600) -> None:
        super().__init__()
        self.tone_ms = tone_ms
        self._start: float | None = None
        self._sent = 0
        self._tone_from: int | None = None  # silence until `speak_now`

    def speak_now(self) -> None:
        """Start the tone at the next frame (a turn, a barge-in)."""
        self._tone_from = self._sent

    async def recv(self) -> Any:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            wait = self._start + self._sent / self.RATE - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)  # the media clock
        frame = av.AudioFrame(format="s16", layout="mono", samples=self.SAMPLES)
        samples = array.array("h", bytes(self.SAMPLES * 2))
        since = None if self._tone_from is None else self._sent - self._tone_from
        if since is not None and since < self.tone_ms * self.RATE // 1000:
            for i in range(self.SAMPLES):  # a square-ish loud tone: clearly speech to a VAD
                samples[i] = 12_000 if ((self._sent + i) // 55) % 2 else -12_000
        frame.planes[0].update(samples.tobytes())
        frame.sample_rate = self.RATE
        frame.pts = self._sent
        frame.time_base = fractions.Fraction(1, self.RATE)
        self._sent += self.SAMPLES
        return frame


class Peer:
    """One call from the client's side."""

    def __init__(self, microphone: MediaStreamTrack | None = None) -> None:
        loopback_ice()
        self.pc = RTCPeerConnection(no_ice_servers())
        self.channel = self.pc.createDataChannel("oai-events")
        self.pc.addTrack(microphone or AudioStreamTrack())
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.seen: list[dict[str, Any]] = []
        self.loud_frames = 0  # received frames with audible audio (the model speaking)
        self.frames = 0
        self.closed = asyncio.Event()
        self.response: httpx.Response | None = None
        self._reader: asyncio.Task[None] | None = None
        self.channel.on("message", self._on_message)
        self.channel.on("close", self.closed.set)
        self.pc.on("track", self._on_track)

    def _on_message(self, message: str | bytes) -> None:
        event = json.loads(message)
        self.seen.append(event)
        self.events.put_nowait(event)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self._reader = asyncio.ensure_future(self._read(track))

    async def _read(self, track: MediaStreamTrack) -> None:
        with suppress(MediaStreamError):
            while True:
                frame = cast(av.AudioFrame, await track.recv())
                self.frames += 1
                samples = array.array("h", bytes(frame.planes[0])[: frame.samples * 2 * 2])
                if samples and max(abs(s) for s in samples) > 1000:
                    self.loud_frames += 1

    async def call(
        self,
        http: httpx.AsyncClient,
        *,
        key: str = KEY,
        session: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """POST the offer (raw SDP, or multipart with `session`); apply a 201's answer."""
        await self.pc.setLocalDescription(await self.pc.createOffer())
        sdp = self.pc.localDescription.sdp
        auth = {"Authorization": f"Bearer {key}", **(headers or {})}
        if session is None:
            response = await http.post(
                "/realtime/calls",
                content=sdp,
                headers={**auth, "Content-Type": "application/sdp"},
            )
        else:
            files = {
                "sdp": (None, sdp, "application/sdp"),
                "session": (None, json.dumps(session), "application/json"),
            }
            response = await http.post("/realtime/calls", files=files, headers=auth)
        self.response = response
        if response.status_code == 201:
            await self.pc.setRemoteDescription(RTCSessionDescription(response.text, "answer"))
        return response

    @property
    def call_id(self) -> str:
        assert self.response is not None
        return self.response.headers["Location"].rsplit("/", 1)[-1]

    def send(self, event: dict[str, Any]) -> None:
        self.channel.send(json.dumps(event))

    async def next(self, *types: str, timeout: float = TIMEOUT) -> dict[str, Any]:  # noqa: ASYNC109
        """The next event of one of `types` (others are skipped; all kept in `seen`)."""
        async with asyncio.timeout(timeout):
            while True:
                event = await self.events.get()
                if event["type"] in types:
                    return event

    async def close(self) -> None:
        await self.pc.close()
        if self._reader is not None:
            self._reader.cancel()
            with suppress(asyncio.CancelledError):
                await self._reader


@asynccontextmanager
async def http_client(server: MockServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=TIMEOUT) as client:
        yield client


async def mint(http: httpx.AsyncClient, session: dict[str, Any]) -> str:
    """An `ek_` client secret for `session` (POST /v1/realtime/client_secrets)."""
    response = await http.post("/realtime/client_secrets", json={"session": session}, headers=AUTH)
    assert response.status_code == 200, response.text
    return str(response.json()["value"])


def absolute(server: MockServer, location: str) -> str:
    """The URL of a `Location` path (`/v1/realtime/calls/rtc_…`)."""
    return f"http://{server.host}:{server.port}{location}"
