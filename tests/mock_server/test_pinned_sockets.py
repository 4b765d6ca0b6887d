"""Pins of the mock's socket side that the mutation run found unguarded (issue 13, point 6).

Real sockets on 127.0.0.1 (port 0), frames written byte for byte by `RawClient`.
"""

from __future__ import annotations

import pytest
from websockets.frames import Opcode

from tests.mock_server.test_frames import close_code, echoes, masked, session

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
