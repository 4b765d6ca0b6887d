"""Screenshots for `input_image` parts: format sniffing, data URLs and a tiny PNG writer.

The Realtime API takes images only as a base64 **data URL** of a PNG or JPEG inside a
user message (`{"type": "input_image", "image_url": "data:image/png;base64,…"}`,
protocol notes §4; failure catalog 18). The format is decided from the file's magic
bytes, never from its name.
"""

from __future__ import annotations

import base64
import logging
import os
import struct
import zlib
from pathlib import Path

from .errors import UsageError

__all__ = [
    "IMAGE_SUFFIXES",
    "encode_png",
    "image_data_url",
    "load_image",
    "sniff_image_type",
]

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg"})
LARGE_IMAGE_BYTES = 5 * 1024 * 1024  # no documented limit; warn (failure catalog 19)

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"
# Formats we recognise only to give a better message: the API does not take them.
_OTHER_MAGIC = (
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"%PDF", "PDF"),
)


def sniff_image_type(data: bytes) -> str | None:
    """Return `image/png` or `image/jpeg` from the magic bytes, else None."""
    if data.startswith(_PNG_MAGIC):
        return "image/png"
    if data.startswith(_JPEG_MAGIC):
        return "image/jpeg"
    return None


def load_image(source: bytes | str | os.PathLike[str], *, name: str | None = None) -> bytes:
    """Return the bytes of a PNG or JPEG given as bytes or as a file path.

    Args:
        source: the image bytes, or a path to an image file.
        name: how to refer to the image in error messages (defaults to the path).

    Raises:
        UsageError: the file cannot be read, or is not a PNG or JPEG.
    """
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        label = name or "the image bytes"
    else:
        path = Path(source)
        label = name or str(path)
        data = _read_file(path, label)
    _check_image(data, label)
    return data


def image_data_url(data: bytes) -> str:
    """Return the `data:image/…;base64,…` URL for PNG or JPEG bytes.

    Raises:
        UsageError: `data` is not a PNG or JPEG.
    """
    mime = _check_image(data, "the image bytes")
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def encode_png(width: int, height: int, rgb: tuple[int, int, int] = (0, 0, 0)) -> bytes:
    """Encode a solid-colour 8-bit RGB PNG (stdlib only; for tests, demos and smoke runs).

    Args:
        width: pixels per row, at least 1.
        height: rows, at least 1.
        rgb: the colour of every pixel.
    """
    if width < 1 or height < 1:
        raise UsageError(f"width={width!r} and height={height!r} must be at least 1")
    row = b"\x00" + bytes(rgb) * width  # filter byte 0 (None) + pixels
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"".join(
        (
            _PNG_MAGIC,
            _png_chunk(b"IHDR", header),
            _png_chunk(b"IDAT", zlib.compress(row * height)),
            _png_chunk(b"IEND", b""),
        )
    )


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def _read_file(path: Path, label: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"cannot read image {label}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"cannot read image {label}: it is a directory") from None
    except OSError as exc:
        raise UsageError(f"cannot read image {label}: {exc.strerror or exc}") from None


def _check_image(data: bytes, label: str) -> str:
    if not data:
        raise UsageError(f"{label} is empty: expected a PNG or JPEG image")
    mime = sniff_image_type(data)
    if mime is not None:
        if len(data) > LARGE_IMAGE_BYTES:
            logger.warning(
                "%s is %d bytes; large images slow every turn, consider downscaling",
                label,
                len(data),
            )
        return mime
    kind = next((fmt for magic, fmt in _OTHER_MAGIC if data.startswith(magic)), None)
    if kind is None and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        kind = "WebP"
    found = f"a {kind} file" if kind else f"not an image (starts with {data[:8]!r})"
    raise UsageError(
        f"{label} is {found}: the Realtime API accepts only PNG and JPEG; convert it first"
    )
