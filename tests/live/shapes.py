"""Generated screenshots for the smoke and mock tests: small PNGs with drawn shapes (stdlib)."""

from __future__ import annotations

import hashlib
import random
import struct
import zlib
from dataclasses import dataclass

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

WHITE = (255, 255, 255)
RED = (220, 40, 40)
BLUE = (40, 80, 220)
GREEN = (30, 160, 60)
DARK = (30, 30, 30)


@dataclass(frozen=True, slots=True)
class Png:
    """An encoded PNG and the facts the mock's notes name about it."""

    data: bytes
    width: int
    height: int

    @property
    def digest(self) -> str:
        """First 12 hex digits of the sha256 of the bytes (what the mock prints)."""
        return hashlib.sha256(self.data).hexdigest()[:12]

    def describe(self) -> str:
        """`PNG WxH, N bytes, sha256 <12 hex>`: the phrase the mock's notes contain."""
        return f"PNG {self.width}x{self.height}, {len(self.data)} bytes, sha256 {self.digest}"


def encode_rgb_png(width: int, height: int, pixels: bytes | bytearray) -> Png:
    """Encode 8-bit RGB `pixels` (row-major, 3 bytes each) as a PNG."""
    if len(pixels) != width * height * 3:
        raise ValueError(f"expected {width * height * 3} pixel bytes, got {len(pixels)}")
    stride = width * 3
    rows = b"".join(b"\x00" + bytes(pixels[y * stride : (y + 1) * stride]) for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = b"".join(
        (
            _PNG_MAGIC,
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", zlib.compress(rows, 9)),
            _chunk(b"IEND", b""),
        )
    )
    return Png(data, width, height)


def shapes_png(width: int = 160, height: int = 120) -> Png:
    """A white "screenshot" with a red title bar, a blue circle, a green box and a diagonal."""
    canvas = _Canvas(width, height, WHITE)
    canvas.rect(0, 0, width, max(1, height // 8), RED)  # a title bar
    canvas.rect(width // 10, height // 4, width // 3, height // 2, GREEN)  # a panel
    canvas.circle(width * 2 // 3, height // 2, min(width, height) // 5, BLUE)  # a button
    canvas.line(0, height - 1, width - 1, height // 8, DARK)  # a chart line
    return encode_rgb_png(width, height, canvas.pixels)


def noise_png(width: int, height: int, *, seed: int = 0) -> Png:
    """Random pixels: incompressible, so the PNG is about `3 * width * height` bytes."""
    return encode_rgb_png(width, height, random.Random(seed).randbytes(width * height * 3))


class _Canvas:
    def __init__(self, width: int, height: int, background: tuple[int, int, int]) -> None:
        self.width, self.height = width, height
        self.pixels = bytearray(bytes(background) * (width * height))

    def set(self, x: int, y: int, rgb: tuple[int, int, int]) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            offset = (y * self.width + x) * 3
            self.pixels[offset : offset + 3] = bytes(rgb)

    def rect(self, x: int, y: int, w: int, h: int, rgb: tuple[int, int, int]) -> None:
        for row in range(y, y + h):
            for col in range(x, x + w):
                self.set(col, row, rgb)

    def circle(self, cx: int, cy: int, r: int, rgb: tuple[int, int, int]) -> None:
        for row in range(cy - r, cy + r + 1):
            for col in range(cx - r, cx + r + 1):
                if (col - cx) ** 2 + (row - cy) ** 2 <= r * r:
                    self.set(col, row, rgb)

    def line(self, x0: int, y0: int, x1: int, y1: int, rgb: tuple[int, int, int]) -> None:
        steps = max(abs(x1 - x0), abs(y1 - y0), 1)
        for i in range(steps + 1):
            self.set(x0 + (x1 - x0) * i // steps, y0 + (y1 - y0) * i // steps, rgb)


def _chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)
