"""Pins of the mock's socket side that the mutation run found unguarded (issue 13, point 6).

Real sockets on 127.0.0.1 (port 0), frames written byte for byte by `RawClient`.
"""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.frames import Opcode

from mock_server.server import serve
from tests.mock_server.stub_app import StubApp
from tests.mock_server.test_frames import KEY, close_code, echoes, masked, session

pytestmark = pytest.mark.integration


def fragmented(text: bytes, pieces: int) -> bytes:
    """One text message in `pieces` frames (the first TEXT, the rest CONT, the last fin)."""
    frames = [masked(Opcode.TEXT, text[:1], fin=False)]
    frames += [masked(Opcode.CONT, text[i : i + 1], fin=False) for i in range(1, pieces - 1)]
    frames.append(masked(Opcode.CONT, text[pieces - 1 :]))
    return b"".join(frames)


async def test_a_message_in_1024_fragments_is_taken() -> None:
    text = b"x" * 1024
    async with session() as raw:
        await raw.write_raw(fragmented(text, 1024))
        assert await echoes(raw, 1) == [text.decode()]


async def test_a_message_in_1025_fragments_is_refused_with_1009() -> None:
    async with session() as raw:
        await raw.write_raw(fragmented(b"x" * 1025, 1025) + masked(Opcode.TEXT, b"never"))
        assert await close_code(raw) == 1009


class LongReasonApp(StubApp):
    """Closes with a 200-byte reason on `close:CODE` (a close frame holds 123 bytes)."""

    def receive_text(self, text: str, now_ms: float) -> None:
        if text.startswith("close:"):
            self._close(int(text.partition(":")[2]), "é" * 100, now_ms)
        else:
            super().receive_text(text, now_ms)


async def test_a_close_reason_is_cut_to_123_bytes_on_a_character_boundary() -> None:
    async with (
        serve(app_factory=LongReasonApp, ping_interval=None) as server,
        connect(
            f"{server.url}?model=gpt-realtime",
            additional_headers={"Authorization": f"Bearer {KEY}"},
            open_timeout=5,
        ) as ws,
    ):
        await asyncio.wait_for(ws.recv(), 5)
        await ws.send("close:4321")
        with pytest.raises(ConnectionClosed) as caught:
            await asyncio.wait_for(ws.recv(), 5)
    received = caught.value.rcvd
    assert received is not None
    assert received.code == 4321
    assert received.reason == "é" * 61  # 122 bytes: the 62nd character would pass 123
