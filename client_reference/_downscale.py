"""Shrink a PNG screenshot until it fits in one WebSocket frame (stdlib only).

A full-size screenshot is often 1-3 MB as PNG; as a base64 data URL in one
`conversation.item.create` it passes 1 MB, where the live server (and many WebSocket
stacks) close the connection with 1009 and no error event (failure catalog 19). So the
client halves the image (2x2 box average) until the re-encoded PNG fits `max_bytes`.

Only 8-bit, non-interlaced PNGs are decoded here (what screenshot tools write); the rows
are unfiltered with whole-row integer arithmetic where the filter allows it (None, Sub,
Up) and byte by byte otherwise (Average, Paeth: a few seconds for a 4K screenshot).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from typing import Final

from .errors import UsageError

__all__ = ["MAX_IMAGE_BYTES", "fit_png"]

# 650 KB of PNG is about 870 KB as base64: the frame stays well under 1,000,000 bytes.
MAX_IMAGE_BYTES: Final = 650_000
_MIN_SIDE: Final = 16
_PNG_MAGIC: Final = b"\x89PNG\r\n\x1a\n"
_CHANNELS: Final = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # colour type -> samples per pixel


def fit_png(data: bytes, max_bytes: int = MAX_IMAGE_BYTES) -> tuple[bytes, tuple[int, int]]:
    """`data` if it is at most `max_bytes`, else a halved (again and again) PNG that is.

    Returns:
        The PNG bytes and their (width, height).

    Raises:
        UsageError: the PNG is too large and cannot be shrunk here (16-bit, interlaced,
            damaged), or stays too large even at a few pixels.
    """
    width, height, kind, rows = _decode(data, decode_rows=len(data) > max_bytes)
    if len(data) <= max_bytes:
        return data, (width, height)
    if kind == 3:
        kind = 2  # palette expanded to RGB by _decode
    bpp = _CHANNELS[kind]
    while True:
        if width // 2 < _MIN_SIDE or height // 2 < _MIN_SIDE:
            raise UsageError(
                f"the image is {len(data):,} bytes and still over {max_bytes:,} bytes at "
                f"{width}x{height}: send a smaller image"
            )
        rows = _halve(rows, width, bpp)
        width, height = width // 2, height // 2
        encoded = _encode(rows, width, height, kind)
        if len(encoded) <= max_bytes:
            return encoded, (width, height)


def _chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    offset = len(_PNG_MAGIC)
    while offset + 8 <= len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        yield kind, data[offset + 8 : offset + 8 + length]
        offset += 12 + length


def _decode(data: bytes, *, decode_rows: bool) -> tuple[int, int, int, list[bytes]]:
    """(width, height, colour type, unfiltered rows; palette rows expanded to RGB)."""
    if not data.startswith(_PNG_MAGIC):
        raise UsageError("the image is not a PNG: only PNGs can be downscaled here")
    header, palette, compressed = b"", b"", []
    for kind, body in _chunks(data):
        if kind == b"IHDR":
            header = body
        elif kind == b"PLTE":
            palette = body
        elif kind == b"IDAT":
            compressed.append(body)
    if len(header) != 13:
        raise UsageError("the PNG has no valid IHDR chunk")
    width, height, depth, kind, _, _, interlace = struct.unpack(">IIBBBBB", header)
    if not decode_rows:
        return width, height, kind, []
    if depth != 8 or interlace or kind not in _CHANNELS:
        raise UsageError(
            f"the PNG is too large to send in one frame and cannot be downscaled here "
            f"(bit depth {depth}, {'interlaced' if interlace else 'colour type ' + str(kind)})"
            ": save it as an 8-bit PNG or downscale it first"
        )
    try:
        raw = zlib.decompress(b"".join(compressed))
    except zlib.error as exc:
        raise UsageError(f"the PNG's image data is damaged ({exc})") from None
    bpp = _CHANNELS[kind]
    stride = width * bpp
    if len(raw) < height * (stride + 1):
        raise UsageError("the PNG's image data is shorter than its size says")
    rows: list[bytes] = []
    prior = bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        row = _unfilter(raw[start], raw[start + 1 : start + 1 + stride], prior, bpp)
        rows.append(row)
        prior = row
    if kind == 3:
        rows = [_expand_palette(row, palette) for row in rows]
    return width, height, kind, rows


_FULL: dict[int, tuple[int, int, int]] = {}


def _masks(length: int) -> tuple[int, int, int]:
    """(0x7f7f…, 0x8080…, 0xfefe…) for rows of `length` bytes (cached)."""
    masks = _FULL.get(length)
    if masks is None:
        masks = (
            int.from_bytes(b"\x7f" * length, "big"),
            int.from_bytes(b"\x80" * length, "big"),
            int.from_bytes(b"\xfe" * length, "big"),
        )
        _FULL[length] = masks
    return masks


def _add(a: int, b: int, length: int) -> int:
    """Bytewise (a + b) mod 256 of two rows held as integers."""
    low, high, _ = _masks(length)
    return ((a & low) + (b & low)) ^ ((a ^ b) & high)


def _average(a: bytes, b: bytes) -> bytes:
    """Bytewise floor((a + b) / 2) of two equally long byte strings."""
    length = len(a)
    _, _, even = _masks(length)
    x, y = int.from_bytes(a, "big"), int.from_bytes(b, "big")
    return ((x & y) + (((x ^ y) & even) >> 1)).to_bytes(length, "big")


def _unfilter(kind: int, line: bytes, prior: bytes, bpp: int) -> bytes:
    length = len(line)
    if kind == 0 or not length:
        return bytes(line)
    if kind == 1:  # Sub: a running sum over each byte lane, by doubling shifts
        x, shift = int.from_bytes(line, "big"), bpp
        while shift < length:
            x = _add(x, x >> (8 * shift), length)
            shift *= 2
        return x.to_bytes(length, "big")
    if kind == 2:  # Up
        total = _add(int.from_bytes(line, "big"), int.from_bytes(prior, "big"), length)
        return total.to_bytes(length, "big")
    out = bytearray(line)
    if kind == 3:  # Average
        for i in range(length):
            left = out[i - bpp] if i >= bpp else 0
            out[i] = (out[i] + ((left + prior[i]) >> 1)) & 0xFF
        return bytes(out)
    if kind == 4:  # Paeth
        for i in range(length):
            a = out[i - bpp] if i >= bpp else 0
            b = prior[i]
            c = prior[i - bpp] if i >= bpp else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
            out[i] = (out[i] + pred) & 0xFF
        return bytes(out)
    raise UsageError(f"the PNG uses an unknown row filter ({kind})")


def _expand_palette(row: bytes, palette: bytes) -> bytes:
    padded = palette.ljust(768, b"\x00")
    out = bytearray(len(row) * 3)
    for channel in range(3):
        out[channel::3] = row.translate(padded[channel::3])
    return bytes(out)


def _halve(rows: list[bytes], width: int, bpp: int) -> list[bytes]:
    """2x2 box average (an odd last row or column is dropped)."""
    half = (width // 2) * bpp
    out = []
    for y in range(0, len(rows) - 1, 2):
        both = _average(rows[y], rows[y + 1])
        left, right = bytearray(half), bytearray(half)
        for channel in range(bpp):
            left[channel::bpp] = both[channel : 2 * half : 2 * bpp]
            right[channel::bpp] = both[bpp + channel : 2 * half : 2 * bpp]
        out.append(_average(bytes(left), bytes(right)))
    return out


def _encode(rows: list[bytes], width: int, height: int, kind: int) -> bytes:
    raw = b"".join(b"\x00" + row for row in rows)
    header = struct.pack(">IIBBBBB", width, height, 8, kind, 0, 0, 0)
    idat = _chunk(b"IDAT", zlib.compress(raw, 6))
    return b"".join((_PNG_MAGIC, _chunk(b"IHDR", header), idat, _chunk(b"IEND", b"")))


def _chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)
