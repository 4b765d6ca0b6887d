"""Build mock apps in memory and small PNG/JPEG images for the flow tests."""

from __future__ import annotations

import base64
import struct
import zlib
from typing import Any

from conformance.transport import InMemoryTransport
from mock_server.app import MockApp
from mock_server.config import MockConfig
from mock_server.hooks import Hooks
from mock_server.request import ConnectRequest

KEY = "sk-test-0123456789abcdef"


def png_bytes(width: int = 64, height: int = 48, shade: int = 7) -> bytes:
    """A valid grayscale PNG of the given size."""
    raw = b"".join(
        b"\x00" + bytes([(x * shade + y) % 256 for x in range(width)]) for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def jpeg_header(width: int, height: int) -> bytes:
    """The start of a JPEG (SOI, APP0, SOF0) carrying a size; enough for size detection."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof + b"\xff\xd9"


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def open_app(
    target: str = "/v1/realtime?model=gpt-realtime-1.5",
    *,
    headers: list[tuple[str, str]] | None = None,
    hooks: Hooks | None = None,
    **config: Any,
) -> tuple[MockApp, InMemoryTransport]:
    """A mock app behind an in-memory transport, already opened."""
    request = ConnectRequest.from_target(
        target, headers if headers is not None else [("Authorization", f"Bearer {KEY}")]
    )
    app = MockApp(request, MockConfig(**config), hooks=hooks, started_at=1_800_000_000.0)
    return app, InMemoryTransport(app)


def image_item(data: bytes, text: str | None = None, *, mime: str = "image/png") -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"type": "input_image", "image_url": data_url(data, mime)}]
    if text is not None:
        content.append({"type": "input_text", "text": text})
    return {"type": "message", "role": "user", "content": content}


def text_item(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def types(events: list[dict[str, Any]]) -> list[str]:
    return [str(e.get("type")) for e in events]


def until(kind: str) -> Any:
    return lambda event: event.get("type") == kind
