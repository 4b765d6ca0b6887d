"""Decoding what clients send: image data URLs (PNG/JPEG sizes) and PCM16 synthesis."""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import struct
from dataclasses import dataclass

from conformance.protocol import Finding

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PREFIXES = {"data:image/png;base64,": "PNG", "data:image/jpeg;base64,": "JPEG"}
# JPEG start-of-frame markers that carry the image size (all SOFn except DHT/JPG/DAC).
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What the mock learned from an `input_image`: enough to prove it arrived intact."""

    format: str  # "PNG" or "JPEG"
    width: int
    height: int
    size: int  # bytes after base64 decoding
    digest: str  # first 12 hex digits of the sha256 of the bytes

    def describe(self) -> str:
        """A short phrase for the reply text."""
        return f"{self.format} {self.width}x{self.height}, {self.size} bytes, sha256 {self.digest}"


def _bad_image(param: str, event_id: str | None, got: str) -> Finding:
    # Wording follows the Responses API family (catalog IMAGE-SHAPE); no Realtime capture.
    return Finding(
        code="invalid_value",
        message=(
            f"Invalid '{param}'. Expected a base64-encoded data URL with an image MIME type "
            f"(e.g. 'data:image/png;base64,aW1nIGJ5dGVzIGhlcmU='), but got {got} instead."
        ),
        param=param,
        event_id=event_id,
        hint="send PNG or JPEG bytes as data:image/png;base64,... in input_image.image_url",
    )


def decode_image(url: str, param: str, event_id: str | None) -> ImageInfo | Finding:
    """Decode an `input_image` data URL, or return the live-style error naming `param`."""
    prefix = next((p for p in _PREFIXES if url.startswith(p)), None)
    if prefix is None:
        got = (
            "a value that is not a data URL"
            if not url.startswith("data:")
            else "an unsupported MIME type"
        )
        return _bad_image(param, event_id, got)
    try:
        data = base64.b64decode(url[len(prefix) :], validate=True)
    except (binascii.Error, ValueError):
        return _bad_image(param, event_id, "a value that is not valid base64")
    size = _png_size(data) if _PREFIXES[prefix] == "PNG" else _jpeg_size(data)
    if size is None:
        return _bad_image(param, event_id, f"bytes that are not a valid {_PREFIXES[prefix]} image")
    digest = hashlib.sha256(data).hexdigest()[:12]
    return ImageInfo(_PREFIXES[prefix], size[0], size[1], len(data), digest)


def _png_size(data: bytes) -> tuple[int, int] | None:
    if len(data) < 24 or not data.startswith(_PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return (width, height) if width and height else None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    if not data.startswith(b"\xff\xd8"):
        return None
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
            pos += 1 if marker == 0xFF else 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker in _SOF_MARKERS and pos + 9 <= len(data):
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return (width, height) if width and height else None
        pos += 2 + length
    return None


def synth_pcm16(ms: int, *, seed: int, rate: int = 24000) -> bytes:
    """Deterministic speech-like PCM16 mono audio: a tone whose pitch depends on `seed`."""
    samples = rate * ms // 1000
    freq = 180 + (seed % 7) * 20
    step = 2 * math.pi * freq / rate
    amplitude = 6000
    values = [int(amplitude * math.sin(step * i)) for i in range(samples)]
    return struct.pack(f"<{samples}h", *values)


def silence_pcm16(ms: int, rate: int = 24000) -> bytes:
    """PCM16 silence."""
    return bytes(rate * ms // 1000 * 2)
