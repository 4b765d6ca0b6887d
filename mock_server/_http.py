"""Plain HTTP on the WebSocket's port: the asyncio side of `mock_server/rest.py`.

websockets reads a request's head only, and drops a connection whose request has a body.
`HttpConnection` (the server's connection class) sees the first request before websockets
does: an upgrade passes untouched; any other request has its body (`Content-Length`, at
most `rest.MAX_BODY_BYTES`) read and kept here, and its head, without the body headers,
goes on to websockets, whose `process_request` (`MockServer._process_request`) answers it
with `respond`, which calls the sans-I/O `RestHandler`. The answer carries
`Connection: close`: one request per connection, like websockets' own HTTP answers.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Final

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from mock_server._connection import Connection
from mock_server._log import logger
from mock_server.rest import (
    MAX_BODY_BYTES,
    HttpRequest,
    HttpResponse,
    RestHandler,
    chunked,
    error_response,
    too_large,
    with_cors,
)

HEAD_LIMIT: Final = 64 * 1024  # a longer head goes to websockets as is (its limits apply)
_BODY_HEADERS: Final = (b"content-length", b"transfer-encoding")


class HttpConnection(Connection):
    """`Connection` that reads a plain HTTP request's body before websockets parses it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rest_body = b""
        self.rest_problem: HttpResponse | None = None  # answered instead of the handler's
        self._buffer = bytearray()
        self._wanted = -1  # body bytes awaited; -1 while the head is incomplete
        self._head = b""

    def data_received(self, data: bytes) -> None:
        """Collect the first request's head (and body, when not an upgrade)."""
        self._buffer += data
        if self._wanted < 0 and not self._read_head():
            return
        if len(self._buffer) >= self._wanted:
            self.rest_body = bytes(self._buffer[: self._wanted])
            self._forward(self._head)

    def _read_head(self) -> bool:
        """True once the head is in and a body is awaited (else it was handed on)."""
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > HEAD_LIMIT:
                self._pass_on()
            return False
        head = bytes(self._buffer[: end + 4])
        lines = head[:end].split(b"\r\n")
        fields = [line.partition(b":") for line in lines[1:]]
        named = [(name.strip().lower(), value.strip()) for name, _, value in fields]
        if any(n == b"upgrade" and b"websocket" in v.lower() for n, v in named):
            self._pass_on()
            return False
        stripped = b"\r\n".join(
            [lines[0]]
            + [
                line
                for line, (n, _) in zip(lines[1:], named, strict=True)
                if n not in _BODY_HEADERS
            ]
        )
        self._head = stripped + b"\r\n\r\n"
        del self._buffer[: end + 4]
        lengths = {v for n, v in named if n == b"content-length"}
        if any(n == b"transfer-encoding" for n, _ in named):
            return self._refuse(chunked())
        if not lengths:
            self._wanted = 0
            return True
        try:
            (length,) = (int(v) for v in lengths)
        except ValueError:  # several different lengths, or not a number
            return self._refuse(error_response(400, "The Content-Length header is invalid."))
        if length < 0:
            return self._refuse(error_response(400, "The Content-Length header is invalid."))
        if length > MAX_BODY_BYTES:
            return self._refuse(too_large(length))
        self._wanted = length
        return True

    def _refuse(self, problem: HttpResponse) -> bool:
        self.rest_problem = problem
        self._forward(self._head)
        return False

    def _pass_on(self) -> None:
        """Hand everything to websockets and stop looking (an upgrade, or a huge head)."""
        data = bytes(self._buffer)
        self._buffer = bytearray()
        self.data_received = super().data_received  # type: ignore[method-assign]
        super().data_received(data)

    def _forward(self, head: bytes) -> None:
        """Give websockets the head alone; the rest is not read (the answer closes)."""
        self._buffer = bytearray()
        self._wanted = -1
        self.data_received = _discard  # type: ignore[method-assign]
        super().data_received(head)


def _discard(data: bytes) -> None:
    """What follows an answered request's head: ignored, the connection is closing."""


def is_upgrade(request: Request) -> bool:
    """Whether `request` asks for a WebSocket (`Upgrade: websocket`)."""
    return any("websocket" in value.lower() for value in request.headers.get_all("Upgrade"))


def respond(
    connection: ServerConnection, request: Request, handler: RestHandler
) -> Response | Awaitable[Response]:
    """The websockets `Response` to a plain HTTP request, from `handler`.

    A request the handler answers asynchronously (`RestHandler.is_async`: a WebRTC
    offer) gets an awaitable instead, which websockets awaits; every other one is
    answered at once.
    """
    problem = getattr(connection, "rest_problem", None)
    if isinstance(problem, HttpResponse):
        return to_response(problem)
    body = getattr(connection, "rest_body", b"")
    http = HttpRequest(
        method=request.method,
        target=request.path,
        headers=tuple(request.headers.raw_items()),
        body=body if isinstance(body, bytes) else b"",
    )
    if handler.is_async(http):
        return _respond_later(handler, http)
    return to_response(handler.handle(http))


async def _respond_later(handler: RestHandler, http: HttpRequest) -> Response:
    try:
        return to_response(await handler.handle_async(http))
    except Exception:  # a mock bug (or the WebRTC stack's): a JSON 500, logged
        logger.exception("answering %s %s failed", http.method, http.target.split("?")[0])
        message = "The mock failed to answer this request (see its log)."
        return to_response(error_response(500, message, kind="server_error"))


def not_found(method: str, path: str) -> Response:
    """The JSON 404 for `METHOD path` (an upgrade where no WebSocket is served)."""
    return to_response(error_response(404, f"Invalid URL ({method} {path})"))


def to_response(answer: HttpResponse) -> Response:
    """A websockets `Response` carrying `answer`, with its length and `Connection: close`,
    readable by a page of any origin (`rest.with_cors`: a browser calls the REST side)."""
    headers = Headers(with_cors(answer).headers)
    headers["Content-Length"] = str(len(answer.body))
    headers["Connection"] = "close"
    return Response(answer.status, answer.reason, headers, answer.body)
