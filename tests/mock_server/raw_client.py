"""A loopback WebSocket client that shows every frame, control frames included.

Built on websockets' sans-I/O `ClientProtocol` over asyncio streams, so tests can see the
server's pings, whether a close frame arrived, and can choose not to answer pings.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from types import TracebackType
from typing import Self

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

TIMEOUT = 5.0


class RawClient:
    """Connect with `async with RawClient(url) as client:`; read with `next_frame()`."""

    def __init__(
        self,
        url: str,
        headers: Iterable[tuple[str, str]] = (),
        subprotocols: Iterable[str] = (),
        *,
        answer_pings: bool = True,
        early: Iterable[str] = (),
    ) -> None:
        self.url = url
        self.headers = list(headers)
        self.protocol = ClientProtocol(
            parse_uri(url), subprotocols=[Subprotocol(s) for s in subprotocols] or None
        )
        self.answer_pings = answer_pings
        self.early = list(early)  # text frames written with the upgrade request itself
        self.response: Response | None = None
        self._frames: list[Frame] = []
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self.eof = False

    async def __aenter__(self) -> Self:
        uri = parse_uri(self.url)
        self._reader, self._writer = await asyncio.wait_for(
            asyncio.open_connection(uri.host, uri.port), TIMEOUT
        )
        request = self.protocol.connect()
        for name, value in self.headers:
            request.headers[name] = value
        self.protocol.send_request(request)
        for text in self.early:
            frame = Frame(Opcode.TEXT, text.encode()).serialize(mask=True, extensions=[])
            assert self._writer is not None
            self._writer.write(b"".join(self.protocol.data_to_send()) + frame)
        await self._flush()
        async with asyncio.timeout(TIMEOUT):
            while self.response is None:
                await self._read_some()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(self._writer.wait_closed(), TIMEOUT)

    async def send_text(self, text: str) -> None:
        self.protocol.send_text(text.encode())
        await self._flush()

    async def send_ping(self, data: bytes = b"ping") -> None:
        self.protocol.send_ping(data)
        await self._flush()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.protocol.send_close(code, reason)
        await self._flush()

    async def next_frame(self, timeout: float = TIMEOUT) -> Frame | None:  # noqa: ASYNC109
        """The next frame (pings included); None when the server closed the TCP stream."""
        async with asyncio.timeout(timeout):
            while not self._frames:
                if self.eof:
                    return None
                await self._read_some()
        return self._frames.pop(0)

    async def next_of(self, opcode: Opcode, timeout: float = TIMEOUT) -> Frame | None:  # noqa: ASYNC109
        """The next frame with this opcode, skipping others; None at end of stream."""
        async with asyncio.timeout(timeout):
            while True:
                frame = await self.next_frame(timeout)
                if frame is None or frame.opcode is opcode:
                    return frame

    async def _read_some(self) -> None:
        assert self._reader is not None
        data = await self._reader.read(65536)
        if data:
            self.protocol.receive_data(data)
        else:
            self.eof = True
            self.protocol.receive_eof()
        for event in self.protocol.events_received():
            if isinstance(event, Response):
                self.response = event
            elif isinstance(event, Frame):
                self._frames.append(event)
        await self._flush()

    async def write_raw(self, data: bytes) -> None:
        """Write bytes as they are (frames built by the test, split where it likes)."""
        assert self._writer is not None
        self._writer.write(data)
        await self._writer.drain()

    async def flush(self) -> None:
        """Write what the protocol has queued (after `protocol.send_frame(...)`)."""
        await self._flush()

    async def _flush(self) -> None:
        assert self._writer is not None
        for data in self.protocol.data_to_send():
            if not data:
                continue  # half-close request; keep reading instead
            if not self.answer_pings and _is_pong(data):
                continue
            self._writer.write(data)
        if not self._writer.is_closing():
            await self._writer.drain()


def _is_pong(data: bytes) -> bool:
    return bool(data) and data[0] & 0x0F == Opcode.PONG.value
