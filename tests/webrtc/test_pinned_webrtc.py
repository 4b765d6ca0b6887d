"""Pins for WebRTC calls (mock_server/_webrtc.py, calls.py, webrtc_audio.py), found by
`scripts/mutate.py`: each test fails on a one-token bug the other call tests let through.
In memory unless said otherwise."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import sys
from types import SimpleNamespace
from typing import Any

import pytest
from websockets.protocol import State

from mock_server import _webrtc
from mock_server.calls import CallRegistry, _SidebandOutlet
from mock_server.media import decode_g711, encode_g711
from mock_server.webrtc_audio import output_format


class _Transport:
    def __init__(self, buffered: int) -> None:
        self.buffered = buffered
        self.written: list[bytes] = []
        self.aborted = False

    def is_closing(self) -> bool:
        return self.aborted

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def abort(self) -> None:
        self.aborted = True


class _Protocol:
    state = State.OPEN

    def __init__(self) -> None:
        self.pending: list[bytes] = []

    def send_text(self, data: bytes) -> None:
        self.pending.append(data)

    def data_to_send(self) -> list[bytes]:
        pending, self.pending = self.pending, []
        return pending


class _Connection:
    def __init__(self, buffered: int) -> None:
        self.transport = _Transport(buffered)
        self.protocol = _Protocol()


def _outlet(buffered: int) -> tuple[_SidebandOutlet, _Transport]:
    connection: Any = _Connection(buffered)
    return _SidebandOutlet(connection), connection.transport


def test_a_sideband_with_16_mib_unread_is_dropped_and_gets_nothing_more() -> None:
    limit = 16 << 20  # spelled out: the constant itself is what a mutant changes
    reading, transport = _outlet(limit)
    reading.send_text('{"type": "a"}')
    assert transport.written == [b'{"type": "a"}']
    assert not transport.aborted

    stuck, transport = _outlet(limit + 1)
    stuck.send_text('{"type": "a"}')
    assert transport.aborted
    assert transport.written == []
    stuck.send_text('{"type": "b"}')  # closing now: nothing more is written
    assert transport.written == []


def test_the_output_format_of_a_session_without_one_is_pcm() -> None:
    assert output_format({}) == "audio/pcm"
    assert output_format({"audio": {"output": {}}}) == "audio/pcm"
    session = {"audio": {"output": {"format": {"type": "audio/pcmu"}}}}
    assert output_format(session) == "audio/pcmu"


def test_without_aiortc_the_webrtc_module_imports_and_says_once_it_is_unavailable(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A mock installed without the `webrtc` extra: the module loads, WebRTC is off, and
    the first server to ask for it logs how to install it (once, not per server)."""
    import mock_server._webrtc as installed

    monkeypatch.setitem(sys.modules, "aiortc", None)  # `import aiortc` raises ImportError
    monkeypatch.setitem(sys.modules, "aiortc.mediastreams", None)
    name = "mock_server._webrtc_without_aiortc"
    spec = importlib.util.spec_from_file_location(name, installed.__file__)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    assert module.AVAILABLE is False
    server: Any = object()  # not read without aiortc
    with caplog.at_level(logging.INFO, logger="mock_server"):
        assert module.backend_for(server) is None
        assert module.backend_for(server) is None
    told = [r.getMessage() for r in caplog.records if "webrtc extra" in r.getMessage()]
    assert told == [module.MISSING_MESSAGE]


def test_g711_output_audio_is_played_as_24_khz_pcm_each_sample_three_times() -> None:
    pcm8k = b"".join(int(v).to_bytes(2, "little", signed=True) for v in (0, 1000, -1000, 8000))
    for fmt in ("audio/pcmu", "audio/pcma"):
        decoded = decode_g711(encode_g711(pcm8k, fmt), fmt)
        played = _webrtc._to_pcm24(encode_g711(pcm8k, fmt), fmt)
        samples = [decoded[i : i + 2] for i in range(0, len(decoded), 2)]
        assert played == b"".join(s + s + s for s in samples)
    assert _webrtc._to_pcm24(pcm8k, "audio/pcm") == pcm8k  # PCM16 24 kHz as it is


async def test_the_output_track_plays_the_queued_pcm_and_queues_no_more_than_its_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("aiortc", reason="the webrtc extra (aiortc) is not installed")
    track = _webrtc.OutputTrack()
    try:
        pcm = bytes(range(256)) * 3 + bytes(192)  # 20 ms: one frame
        assert len(pcm) == _webrtc.FRAME_BYTES
        track.play(pcm, "audio/pcm")
        frame = await track.recv()  # the first frame comes at once
        assert bytes(frame.planes[0])[: _webrtc.FRAME_BYTES] == pcm
        assert frame.sample_rate == 24_000

        monkeypatch.setattr(_webrtc, "MAX_QUEUED", 10)
        track.play(bytes(8), "audio/pcm")
        track.play(bytes(8), "audio/pcm")  # 2 bytes of room left
        track.play(bytes(8), "audio/pcm")  # none left
        assert len(track._queued) == 10
    finally:
        track.stop()


class _UnopenedDriver:
    """A call's driver whose client never opened its session."""

    opened = False
    ended = False

    def __init__(self, calls: CallRegistry, call: Any) -> None:
        self.calls, self.call = calls, call

    def end(self, reason: str, code: int) -> None:
        self.ended = True
        self.calls.ended(self.call, reason)


def test_a_call_whose_client_never_connects_ends_as_connect_timeout() -> None:
    calls = CallRegistry()
    call = calls.create("webrtc")
    call.driver = _UnopenedDriver(calls, call)  # type: ignore[assignment]
    backend: Any = SimpleNamespace(calls=calls)
    _webrtc.WebRtcCalls._check_connected(backend, call)
    assert not call.live
    assert call.end_reason == "connect_timeout"


async def test_an_audio_only_call_starts_when_connected_and_ends_when_the_client_closes() -> None:
    """No `oai-events` channel in the offer: the session starts once the connection is up,
    and the call ends when the client closes its peer connection (loopback, aiortc)."""
    pytest.importorskip("aiortc", reason="the webrtc extra (aiortc) is not installed")
    from mock_server import serve
    from tests.webrtc._peer import http_client

    async with serve(pace="fast") as server, http_client(server) as http:
        peer = _audio_only_peer()
        try:
            response = await peer.call(http)
            assert response.status_code == 201, response.text
            async with asyncio.timeout(10.0):
                await peer.heard.wait()  # the mock's track sends: its side is connected
        finally:
            await peer.close()
        call = await server.calls.wait_for(peer.call_id, "ended", timeout=10.0)
    assert call.end_reason == "closed"
    assert call.driver is not None
    assert call.driver.opened  # the session had started without a data channel


def _audio_only_peer() -> Any:
    from aiortc import RTCPeerConnection
    from aiortc.mediastreams import AudioStreamTrack, MediaStreamError

    from tests.webrtc._peer import Peer

    class AudioOnlyPeer(Peer):
        def __init__(self) -> None:  # Peer without its data channel
            _webrtc.loopback_ice()
            self.pc = RTCPeerConnection(_webrtc.no_ice_servers())
            self.pc.addTrack(AudioStreamTrack())
            self.response = None
            self._reader = None
            self.heard = asyncio.Event()
            self.pc.on("track", self._on_track)

        async def _read(self, track: Any) -> None:
            with contextlib.suppress(MediaStreamError):
                await track.recv()
                self.heard.set()

    return AudioOnlyPeer()
