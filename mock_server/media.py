"""Decoding what clients send: image data URLs (PNG/JPEG sizes) and PCM16 synthesis."""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import math
import struct
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import pybase64

from conformance.protocol import Finding

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PREFIXES = {"data:image/png;base64,": "PNG", "data:image/jpeg;base64,": "JPEG"}
# JPEG start-of-frame markers that carry the image size (all SOFn except DHT/JPG/DAC).
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# A JPEG whose size is not in its first this-many markers is refused: real files have a
# few dozen before the frame header, and each marker costs a Python step.
_MAX_JPEG_MARKERS = 4096
_MAX_FILL = 65536  # longest run of 0xFF fill bytes read between two markers
_B64_PIECE = 64 * 1024  # a data URL's base64 is decoded in pieces this long (a multiple of 4)
_T = TypeVar("_T")


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
    entry = _prepared.pop(id(url), None) if _prepared else None
    if entry is not None and entry[0] is url:
        outcome = entry[1]
    else:
        if entry is not None:  # another URL at that id: not this one's
            _prepared[id(entry[0])] = entry
        outcome = _run(_decode_steps(url, prefix))
    return _bad_image(param, event_id, outcome) if isinstance(outcome, str) else outcome


# What `prepare_images` found, by `id(url)` (the URL is kept, so the id stays its own):
# the `ImageInfo`, or what `decode_image` says it got instead. `decode_image` takes it.
_prepared: dict[int, tuple[str, ImageInfo | str]] = {}
# `prepare_images` decodes a data URL at least this long (characters) in steps.
STEP_URL = 1 << 20
_STEP_BYTES = 1 << 20  # decoded and hashed per step (~1-2 ms)


def prepare_images(event: Mapping[str, Any] | None) -> Iterator[None]:
    """Decode and hash the big images of a `conversation.item.create` in steps.

    For each `input_image` whose data URL is `STEP_URL` characters or more, the base64 is
    decoded, the size read and the bytes hashed about `_STEP_BYTES` per step (yielding in
    between), so a 16 MB image does not hold an event loop for one ~30 ms turn (issue 12).
    `decode_image` on the same URL object then returns what was found: exactly what it
    would have returned. `unprepare_images(event)` drops what it did not take.
    """
    for url in _big_urls(event):
        if id(url) not in _prepared:
            prefix = next((p for p in _PREFIXES if url.startswith(p)), None)
            if prefix is not None:
                outcome = yield from _decode_steps(url, prefix)
                _prepared[id(url)] = (url, outcome)


def unprepare_images(event: Mapping[str, Any] | None) -> None:
    """Forget what `prepare_images(event)` found and `decode_image` did not take."""
    for url in _big_urls(event):
        entry = _prepared.get(id(url))
        if entry is not None and entry[0] is url:
            del _prepared[id(url)]


def _big_urls(event: Mapping[str, Any] | None) -> list[str]:
    if event is None or event.get("type") != "conversation.item.create":
        return []
    item = event.get("item")
    content = item.get("content") if isinstance(item, Mapping) else None
    if not isinstance(content, list):
        return []
    return [
        url
        for part in content
        if isinstance(part, Mapping)
        and part.get("type") == "input_image"
        and type(url := part.get("image_url")) is str
        and len(url) >= STEP_URL
    ]


def _decode_steps(url: str, prefix: str) -> Generator[None, None, ImageInfo | str]:
    """The image behind a data URL starting with `prefix`, or what it is instead."""
    kind = _PREFIXES[prefix]
    data = yield from _b64decode_steps(url, len(prefix))
    if data is None:
        return "a value that is not valid base64"
    size = _png_size(data) if kind == "PNG" else _jpeg_size(data)
    if size is None:
        return f"bytes that are not a valid {kind} image"
    digest = hashlib.sha256()
    with memoryview(data) as view:
        for at in range(0, len(data), _STEP_BYTES):
            if at:
                yield
            digest.update(view[at : at + _STEP_BYTES])
    return ImageInfo(kind, size[0], size[1], len(data), digest.hexdigest()[:12])


def _run(steps: Generator[None, None, _T]) -> _T:
    """Take every step of `steps` at once; its return value."""
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]


def _b64decode_pieces(text: str, start: int) -> bytes | bytearray | None:
    """`pybase64.b64decode(text[start:], validate=True)`, or None where it raises."""
    return _run(_b64decode_steps(text, start))


def _b64decode_steps(text: str, start: int) -> Generator[None, None, bytes | bytearray | None]:
    """`pybase64.b64decode(text[start:], validate=True)`, or None where it raises.

    SIMD base64 (~1 ms for a 16 MB frame; the stdlib's strict mode: ~70 ms), in pieces
    of `_B64_PIECE` characters into one buffer: a 16 MB data URL is not copied out of its
    frame first, and its decoding is not held in pieces, which would cost another 16 MB
    and 12 MB of fresh pages (~3 us a page fault on this VM, issue 12); each piece reuses
    the memory the last one freed. Strict as the whole decode: padding may only end the
    last piece. Yields after about `_STEP_BYTES` characters (the buffer's fresh pages are
    then spread over the steps too).
    """
    if len(text) - start <= _B64_PIECE:
        try:
            return pybase64.b64decode(text[start:], validate=True)
        except (binascii.Error, ValueError):
            return None
    end = len(text)
    out = bytearray((end - start) // 4 * 3)
    size = 0
    try:
        for at in range(start, end, _B64_PIECE):
            if size and at % _STEP_BYTES < _B64_PIECE:
                yield  # about `_STEP_BYTES` of base64 per step
            piece = text[at : at + _B64_PIECE]
            if at + _B64_PIECE < end and piece.endswith("="):
                return None  # padding before the end: the whole decode refuses it too
            decoded = pybase64.b64decode(piece, validate=True)
            out[size : size + len(decoded)] = decoded
            size += len(decoded)
    except (binascii.Error, ValueError):
        return None
    del out[size:]  # what the padding took off
    return out


def _png_size(data: bytes | bytearray) -> tuple[int, int] | None:
    if len(data) < 24 or not data.startswith(_PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return (width, height) if width and height else None


def _jpeg_size(data: bytes | bytearray) -> tuple[int, int] | None:
    """The (width, height) of a JPEG's frame header; reads the markers before it only.

    Costs a Python step per marker (at most `_MAX_JPEG_MARKERS`), never one per byte: a
    run of 0xFF fill bytes is skipped by one C-level search.
    """
    if not data.startswith(b"\xff\xd8"):
        return None
    pos = 2
    for _ in range(_MAX_JPEG_MARKERS):
        if pos + 4 > len(data) or data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill bytes: jump to the last 0xFF of the run (C-level strip)
            window = data[pos + 1 : pos + 1 + _MAX_FILL]
            rest = len(window.lstrip(b"\xff"))
            if not rest:
                return None  # a run this long is no JPEG header: refused, not scanned on
            pos += len(window) - rest
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
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


def synth_pcm16_b64(ms: int, *, seed: int) -> tuple[str, int]:
    """`synth_pcm16(ms, seed=seed)` as base64 and its size in bytes, cached.

    A reply's audio deltas repeat a few lengths and 7 pitches: synthesising each once
    keeps an audio reply from costing a Python step per sample.
    """
    return _synth_b64(ms, seed % 7, "audio/pcm")


def synth_audio_b64(ms: int, *, seed: int, fmt: object = "audio/pcm") -> tuple[str, int]:
    """Synthesised speech in the session's output format, as base64 and its byte size.

    `audio/pcm`: PCM16 at 24 kHz; `audio/pcmu` / `audio/pcma`: G.711 mu-law / A-law at
    8 kHz, one byte per sample (protocol notes §8 "Audio formats"). Cached per length,
    pitch and format.
    """
    return _synth_b64(ms, seed % 7, fmt if fmt in G711_FORMATS else "audio/pcm")


@functools.lru_cache(maxsize=64)
def _synth_b64(ms: int, pitch: int, fmt: object) -> tuple[str, int]:
    if fmt in G711_FORMATS:
        data = encode_g711(synth_pcm16(ms, seed=pitch, rate=8000), str(fmt))
    else:
        data = synth_pcm16(ms, seed=pitch)
    return base64.b64encode(data).decode(), len(data)


# ---------------------------------------------------------------- G.711 (ITU-T G.711)
# audioop left the standard library in Python 3.13: small table-based codecs instead.
G711_FORMATS = frozenset({"audio/pcmu", "audio/pcma"})
_ULAW_BIAS = 0x84
_ULAW_CLIP = 32635


def _ulaw_encode_sample(sample: int) -> int:
    sign = 0x80 if sample < 0 else 0
    magnitude = min(-sample if sample < 0 else sample, _ULAW_CLIP) + _ULAW_BIAS
    exponent = max(0, magnitude.bit_length() - 8)  # bias keeps it >= 0x84: bit_length >= 8
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def _ulaw_decode_byte(byte: int) -> int:
    byte = ~byte & 0xFF
    exponent = (byte >> 4) & 0x07
    magnitude = (((byte & 0x0F) << 3) + _ULAW_BIAS) << exponent
    magnitude -= _ULAW_BIAS
    return -magnitude if byte & 0x80 else magnitude


def _alaw_encode_sample(sample: int) -> int:
    sign = 0x80 if sample >= 0 else 0
    magnitude = min(-sample - 1 if sample < 0 else sample, 32767) >> 3  # 13-bit magnitude
    if magnitude < 32:
        code = magnitude >> 1
    else:
        exponent = magnitude.bit_length() - 5  # 1..7
        code = (exponent << 4) | ((magnitude >> exponent) & 0x0F)
    return (sign | code) ^ 0x55


def _alaw_decode_byte(byte: int) -> int:
    byte ^= 0x55
    exponent = (byte >> 4) & 0x07
    mantissa = byte & 0x0F
    step = (mantissa << 4) + 8
    magnitude = step if exponent == 0 else (step + 0x100) << (exponent - 1)
    return magnitude if byte & 0x80 else -magnitude


@functools.cache
def _encode_table(fmt: str) -> bytes:
    """The G.711 byte of every PCM16 sample (65,536 entries, indexed by sample & 0xFFFF)."""
    encode = _ulaw_encode_sample if fmt == "audio/pcmu" else _alaw_encode_sample
    return bytes(encode(value - 65536 if value >= 32768 else value) for value in range(65536))


@functools.cache
def decode_table(fmt: str) -> tuple[int, ...]:
    """The linear PCM16 value of each of the 256 G.711 bytes of `fmt`."""
    decode = _ulaw_decode_byte if fmt == "audio/pcmu" else _alaw_decode_byte
    return tuple(decode(byte) for byte in range(256))


@functools.cache
def high_byte_table(fmt: str) -> bytes:
    """A `bytes.translate` table: each G.711 byte of `fmt` -> the high byte of its linear
    PCM16 value, so G.711 audio is judged like the high bytes of PCM16 (one C call)."""
    return bytes((value >> 8) & 0xFF for value in decode_table(fmt))


def encode_g711(pcm: bytes, fmt: str) -> bytes:
    """PCM16 little-endian mono -> G.711 (`audio/pcmu` mu-law or `audio/pcma` A-law)."""
    table = _encode_table(fmt)
    samples = struct.unpack(f"<{len(pcm) // 2}H", pcm[: len(pcm) // 2 * 2])
    return bytes(table[sample] for sample in samples)


def decode_g711(data: bytes, fmt: str) -> bytes:
    """G.711 (`audio/pcmu` or `audio/pcma`) -> PCM16 little-endian mono, same rate."""
    table = decode_table(fmt)
    return struct.pack(f"<{len(data)}h", *(table[byte] for byte in data))


def silence_pcm16(ms: int, rate: int = 24000) -> bytes:
    """PCM16 silence."""
    return bytes(rate * ms // 1000 * 2)


# ------------------------------------------------------------ item audio, for retrieve
MAX_KEPT_AUDIO = 32 * 1024 * 1024  # bytes of input audio one session keeps for retrieve


class KeptAudio:
    """The input audio of user items, kept for `conversation.item.retrieved` (which carries
    the audio; `.added`/`.done` leave it out, protocol notes §4), within a byte bound: the
    appended buffer stops growing at the bound and the oldest items' audio goes first.
    """

    __slots__ = ("_buffered", "_items", "_size", "buffer", "limit")

    def __init__(self, limit: int = MAX_KEPT_AUDIO) -> None:
        self.limit = limit
        # Appended since the last commit or clear: the appends themselves, not a copy (a
        # 16 MB append's 12 MB copied on the loop cost up to ~10 ms; issue 12).
        self.buffer: list[bytes] = []
        self._buffered = 0
        self._items: dict[str, bytes] = {}
        self._size = 0

    def append(self, data: bytes) -> None:
        """Audio appended to the input buffer."""
        if self._buffered + len(data) <= self.limit:
            self.buffer.append(data)
            self._buffered += len(data)

    def clear(self) -> None:
        """The input buffer was cleared."""
        self.buffer, self._buffered = [], 0

    def commit(self, item_id: str) -> None:
        """The input buffer became the user item `item_id`."""
        parts, self.buffer, self._buffered = self.buffer, [], 0
        self.keep(item_id, b"".join(parts))  # one append: that very object, no copy

    def keep(self, item_id: str, data: bytes) -> None:
        """Keep `data` as the audio of `item_id`, dropping the oldest items' past the bound."""
        self.drop(item_id)
        self._items[item_id] = data
        self._size += len(data)
        while self._size > self.limit and self._items:
            self._size -= len(self._items.pop(next(iter(self._items))))

    def get(self, item_id: str) -> bytes | None:
        """The audio of `item_id`, if kept."""
        return self._items.get(item_id)

    def drop(self, item_id: str) -> None:
        """Forget the audio of a deleted item."""
        self._size -= len(self._items.pop(item_id, b""))
