"""Plain HTTP through the proxy: the REST calls a Realtime client makes.

A request on the proxy's port that is not a WebSocket upgrade (`POST
/v1/realtime/client_secrets`, `POST /v1/realtime/calls`, …) is forwarded upstream as
bytes: its head is rewritten (the upstream's `Host`, the path prefix, the key replaced
when the proxy was given one, `Connection: close`), its body and the answer stream
through unchanged (chunked or not), so nothing is parsed twice and nothing is held.
One request per connection: the answer says `Connection: close`.

Bounded: the request head (64 KiB), each direction's bytes (`max_body_size` plus the
head), and the whole exchange (`timeout_s`); past a bound the client gets a 4xx/5xx
answer when nothing was sent yet, else the connection is cut.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from conformance.transcript import redact

logger = logging.getLogger("realtime_conformance.proxy")

MAX_HEAD: Final = 64 * 1024
MAX_HEADERS: Final = 100
# Headers of one hop only (RFC 9110 §7.6.1), never forwarded.
HOP_BY_HOP: Final = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "upgrade",
    }
)


class HeadError(ValueError):
    """A request or response head that cannot be parsed (the text says why)."""


@dataclass(frozen=True, slots=True)
class Head:
    """A parsed HTTP/1.x head: the start line's three parts and the header fields."""

    start: tuple[str, str, str]  # (method, target, version) or (version, status, reason)
    headers: list[tuple[str, str]]

    def get(self, name: str) -> str | None:
        """The first value of header `name` (any case), or None."""
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)


def split_head(buffer: bytes | bytearray) -> tuple[bytes, bytes] | None:
    """(head, rest) once `buffer` holds a whole head (up to the blank line), else None.

    Raises:
        HeadError: the head is longer than 64 KiB.
    """
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        if len(buffer) > MAX_HEAD:
            raise HeadError("request head over 64 KiB")
        return None
    if end > MAX_HEAD:
        raise HeadError("request head over 64 KiB")
    return bytes(buffer[: end + 4]), bytes(buffer[end + 4 :])


def parse_head(head: bytes) -> Head:
    """Parse a head ending with its blank line (header values decoded as Latin-1)."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) != 3:
        raise HeadError(f"bad start line {lines[0][:80]!r}")
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise HeadError(f"bad header line {line[:80]!r}")
        headers.append((name, value.strip()))
    if len(headers) > MAX_HEADERS:
        raise HeadError(f"more than {MAX_HEADERS} headers")
    return Head((parts[0], parts[1], parts[2]), headers)


def read_head(buffer: bytes | bytearray) -> tuple[Head, bytes] | None:
    """(parsed head, the bytes after it) once `buffer` holds a whole head, else None.

    Raises:
        HeadError: the head is over 64 KiB or cannot be parsed.
    """
    split = split_head(buffer)
    return None if split is None else (parse_head(split[0]), split[1])


def is_upgrade(head: Head) -> bool:
    """True for a WebSocket upgrade request (GET with `Upgrade: websocket`)."""
    upgrade = (head.get("upgrade") or "").lower()
    return head.start[0] == "GET" and "websocket" in upgrade


def upstream_target(prefix: str, target: str) -> str:
    """The upstream's path for the client's `target`: `prefix` put before it, unless the
    target starts with it already (`--upstream https://api.openai.com/v1`, the way
    `OPENAI_BASE_URL` is written, and a client asking for `/v1/realtime`)."""
    if not prefix or target == prefix or target.startswith((prefix + "/", prefix + "?")):
        return target
    return prefix + target


def request_head(head: Head, *, host: str, prefix: str, api_key: str | None) -> bytes:
    """The head to send upstream: `prefix` + target, the upstream's Host, the key
    replaced when `api_key` is given, hop-by-hop headers dropped, `Connection: close`."""
    method, target, version = head.start
    lines = [f"{method} {upstream_target(prefix, target)} {version}", f"Host: {host}"]
    auth = False
    for name, value in head.headers:
        lower = name.lower()
        if lower in HOP_BY_HOP or lower == "host":
            continue
        if lower == "authorization" and api_key:
            value, auth = f"Bearer {api_key}", True
        lines.append(f"{name}: {value}")
    if api_key and not auth:
        lines.append(f"Authorization: Bearer {api_key}")
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def response_head(head: Head) -> bytes:
    """The upstream's answer head for the client, with `Connection: close`."""
    version, status, reason = head.start
    lines = [f"{version} {status} {reason}"]
    lines += [f"{k}: {v}" for k, v in head.headers if k.lower() not in HOP_BY_HOP]
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def plain_response(status: int, reason: str, text: str) -> bytes:
    """A short text/plain answer the proxy writes itself (`Connection: close`)."""
    body = text.encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


class _Upstream(asyncio.Protocol):
    def __init__(self, pipe: RestPipe) -> None:
        self.pipe = pipe

    def data_received(self, data: bytes) -> None:
        self.pipe.from_upstream(data)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.pipe.upstream_lost()

    def pause_writing(self) -> None:
        self.pipe.client.pause_reading()

    def resume_writing(self) -> None:
        self.pipe.client.resume_reading()


class RestPipe:
    """One REST request forwarded upstream and its answer streamed back.

    The client-side protocol owns the client transport and calls `from_client` with the
    bytes after the head, `client_lost` when it goes; `on_done` runs once at the end.
    """

    def __init__(
        self,
        client: asyncio.Transport,
        head: Head,
        *,
        upstream: tuple[str, int, ssl.SSLContext | None],
        host_header: str,
        prefix: str,
        api_key: str | None,
        secrets: Sequence[str],
        max_body_size: int,
        timeout_s: float,
        connect_timeout_s: float,
        on_done: Callable[[], None],
    ) -> None:
        self.client = client
        self.head = head
        self._upstream = upstream
        self._request = request_head(head, host=host_header, prefix=prefix, api_key=api_key)
        self._secrets = secrets
        self._max = max_body_size + MAX_HEAD
        self._sent = 0  # request bytes after the head
        self._answered = 0
        self._pending: list[bytes] = []  # client bytes before the upstream is connected
        self._transport: asyncio.Transport | None = None
        self._reply = bytearray()  # the answer's head, until complete
        self._head_done = False
        self._done = False
        self._on_done = on_done
        self._connect_timeout = connect_timeout_s
        loop = asyncio.get_running_loop()
        self._deadline = loop.call_later(timeout_s, self._timed_out)
        self._task = loop.create_task(self._connect())
        length = head.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > max_body_size):
            self._fail(413, "Content Too Large", f"request body over {max_body_size} bytes\n")

    def describe(self) -> str:
        method, target, _ = self.head.start
        return f"{method} {redact(target.split('?')[0], self._secrets)}"

    async def _connect(self) -> None:
        host, port, context = self._upstream
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout):
                transport, _ = await loop.create_connection(
                    lambda: _Upstream(self),
                    host,
                    port,
                    ssl=context,
                    server_hostname=host if context else None,
                )
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            why = "timed out" if isinstance(exc, TimeoutError) else (str(exc) or type(exc).__name__)
            self._fail(
                502, "Bad Gateway", f"the proxy could not reach the upstream {host}:{port}: {why}\n"
            )
            return
        if self._done:
            transport.abort()
            return
        self._transport = transport
        transport.write(self._request)
        for chunk in self._pending:
            transport.write(chunk)
        self._pending.clear()
        self.client.resume_reading()

    def from_client(self, data: bytes) -> None:
        """Request bytes after the head (the body), forwarded as they come."""
        if self._done:
            return
        self._sent += len(data)
        if self._sent > self._max:
            self._fail(413, "Content Too Large", "request body over the proxy's limit\n")
            return
        if self._transport is None:
            self._pending.append(data)
            self.client.pause_reading()  # the rest waits until the upstream is connected
        else:
            self._transport.write(data)

    def from_upstream(self, data: bytes) -> None:
        if self._done:
            return
        self._answered += len(data)
        if self._answered > self._max:
            logger.warning("REST %s: answer over the proxy's limit; cut", self.describe())
            self._finish(abort=True)
            return
        if self._head_done:
            self.client.write(data)
            return
        self._reply += data
        try:
            whole = read_head(self._reply)
        except HeadError as exc:
            self._fail(502, "Bad Gateway", f"the upstream's answer is not HTTP: {exc}\n")
            return
        if whole is None:
            return
        head, rest = whole
        self._head_done = True
        self._reply = bytearray()
        logger.info("REST %s -> %s", self.describe(), head.start[1])
        self.client.write(response_head(head) + rest)

    def client_lost(self) -> None:
        """The client went away: stop."""
        self._finish(abort=True)

    def upstream_lost(self) -> None:
        if not self._head_done and not self._done:
            self._fail(502, "Bad Gateway", "the upstream closed without an answer\n")
            return
        self._finish(abort=False)

    def _timed_out(self) -> None:
        if self._head_done:
            logger.warning("REST %s: still streaming after the time limit; cut", self.describe())
            self._finish(abort=True)
        else:
            self._fail(504, "Gateway Timeout", "the upstream did not answer in time\n")

    def _fail(self, status: int, reason: str, text: str) -> None:
        if self._done:
            return
        logger.warning("REST %s: %s %s", self.describe(), status, text.strip())
        if not self._head_done:
            self.client.write(plain_response(status, reason, text))
            self._head_done = True
        self._finish(abort=False)

    def _finish(self, *, abort: bool) -> None:
        if self._done:
            return
        self._done = True
        self._deadline.cancel()
        self._task.cancel()
        if self._transport is not None:
            self._transport.abort()
        if abort:
            self.client.abort()
        else:
            self.client.close()  # after what is buffered
        self._on_done()
