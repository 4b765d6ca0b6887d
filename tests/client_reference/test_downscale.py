"""Downscaling PNGs that would not fit in one frame (`client_reference._downscale`)."""

from __future__ import annotations

import random
import struct
import zlib

import pytest

from client_reference._downscale import MAX_IMAGE_BYTES, _decode, _halve, fit_png
from client_reference.errors import UsageError

CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _filtered(kind: int, line: bytes, prior: bytes, bpp: int) -> bytes:
    out = bytearray(len(line))
    for i, value in enumerate(line):
        a = line[i - bpp] if i >= bpp else 0
        b = prior[i]
        c = prior[i - bpp] if i >= bpp else 0
        if kind == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            predicted = a if pa <= pb and pa <= pc else b if pb <= pc else c
        else:
            predicted = (0, a, b, (a + b) >> 1)[kind]
        out[i] = (value - predicted) & 0xFF
    return bytes(out)


def png(width: int, height: int, colour: int, rows: list[bytes], palette: bytes = b"") -> bytes:
    """A PNG of `rows`, using the five row filters in turn."""
    bpp = CHANNELS.get(colour, 1)
    prior, raw = bytes(width * bpp), b""
    for y, row in enumerate(rows):
        kind = y % 5
        raw += bytes([kind]) + _filtered(kind, row, prior, bpp)
        prior = row
    header = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    extra = _chunk(b"PLTE", palette) if palette else b""
    return (
        b"".join(
            (b"\x89PNG\r\n\x1a\n", _chunk(b"IHDR", header), extra),
        )
        + _chunk(b"IDAT", zlib.compress(raw))
        + _chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("colour", sorted(CHANNELS))
def test_every_row_filter_decodes_to_the_original_pixels(colour: int) -> None:
    rng = random.Random(colour)
    width, height = 37, 21
    rows = [rng.randbytes(width * CHANNELS[colour]) for _ in range(height)]
    assert _decode(png(width, height, colour, rows), decode_rows=True) == (
        width,
        height,
        colour,
        rows,
    )


def test_a_palette_png_is_expanded_to_rgb() -> None:
    palette = bytes([10, 20, 30, 200, 100, 50])
    data = png(2, 1, 3, [bytes([1, 0])], palette)
    assert _decode(data, decode_rows=True)[3] == [bytes([200, 100, 50, 10, 20, 30])]


def test_a_small_png_is_sent_as_it_is() -> None:
    data = png(4, 4, 2, [bytes(12)] * 4)
    assert fit_png(data) == (data, (4, 4))


def test_a_large_png_is_halved_until_it_fits() -> None:
    rng = random.Random(3)
    width, height = 640, 480  # ~920 KB of noise
    data = png(width, height, 2, [rng.randbytes(width * 3) for _ in range(height)])
    assert len(data) > MAX_IMAGE_BYTES
    fitted, size = fit_png(data)
    assert size == (320, 240)
    assert len(fitted) <= MAX_IMAGE_BYTES
    assert _decode(fitted, decode_rows=True)[:3] == (320, 240, 2)


def test_the_box_average_of_four_pixels() -> None:
    rows = [bytes([0, 0, 0, 100, 100, 100]), bytes([50, 50, 50, 255, 255, 255])]
    # Rows first: (0+50)/2 = 25 and (100+255)/2 = 177; then the pair: (25+177)/2 = 101.
    assert _halve(rows, 2, 3) == [bytes([101, 101, 101])]


def test_what_cannot_be_downscaled_is_refused_with_a_reason() -> None:
    header = struct.pack(">IIBBBBB", 8, 8, 16, 2, 0, 0, 0)
    sixteen = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IEND", b"")
    with pytest.raises(UsageError, match="bit depth 16"):
        fit_png(sixteen, max_bytes=10)
    with pytest.raises(UsageError, match="not a PNG"):
        fit_png(b"\xff\xd8\xff" + bytes(100), max_bytes=10)
