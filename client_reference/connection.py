"""`connect()` and `RealtimeConnection`: a thin asyncio + websockets adapter around the core.

Every frame goes through `conformance.protocol.Session(Side.CLIENT)`, so our own illegal
sends raise `LocalProtocolError` before a byte leaves, and every rule the server breaks
is logged (and kept in `RealtimeConnection.findings`) without interrupting the stream.

Compression: the default is `compression=None`. permessage-deflate saves about a quarter
of a base64 screenshot's bytes, but compressing a 300 KB image event costs ~6 ms of CPU
and raises a loopback round trip from 0.3 ms to 15 ms (shared/reference/perf-anchors.md);
for a heads-up display on a decent uplink, latency wins. Pass `compression="deflate"`
on slow or metered links (the live server accepts it).
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed as WsConnectionClosed
from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI
from websockets.typing import Subprotocol

from ._events import EventConnection
from ._redact import redact, websocket_logger
from .errors import ConnectError, ConnectionClosed, Timeout, UsageError

__all__ = [
    "DEFAULT_MAX_SIZE",
    "DEFAULT_MODEL",
    "DEFAULT_URL",
    "RealtimeConnection",
    "build_url",
    "connect",
]

logger = logging.getLogger(__name__)

DEFAULT_URL = "wss://api.openai.com/v1/realtime"
DEFAULT_MODEL = "gpt-realtime-1.5"
# Server frames can be large: a 3.4 MB event was seen live (failure catalog 20), and the
# websockets default of 1 MiB would close the connection with 1009.
DEFAULT_MAX_SIZE = 16 * 1024 * 1024
USER_AGENT = "realtime-conformance-client (websockets)"

Auth = Literal["header", "subprotocol"]
Compression = Literal["deflate"] | None

_KEY_CHARS = re.compile(
    r"^[A-Za-z0-9._~+/=-]+$"
)  # HTTP token-safe: fits a header and a subprotocol
_REFUSED_HEADERS = {
    "openai-beta": (
        "the OpenAI-Beta header selects the retired beta interface; the server answers "
        "error beta_api_shape_disabled and closes with 4000. Remove it"
    ),
    "sec-websocket-protocol": "use auth='subprotocol' instead of setting the header",
}


def build_url(url: str, model: str | None) -> str:
    """Return `url` with `model` set in its query (other query parameters are kept).

    Raises:
        UsageError: the URL is not ws:// or wss://, has no host, or `model` is empty.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss"):
        hint = ""
        if parts.scheme in ("http", "https"):
            hint = f"; did you mean {'ws' if parts.scheme == 'http' else 'wss'}://…?"
        raise UsageError(f"url={url!r} must start with ws:// or wss://{hint}")
    if not parts.netloc:
        raise UsageError(f"url={url!r} has no host")
    if model is None:
        return url
    if not model.strip():
        raise UsageError("model must be a non-empty string, e.g. 'gpt-realtime-1.5'")
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "model"]
    query.append(("model", model))
    return urlunsplit(parts._replace(query=urlencode(query)))


def handshake_options(
    api_key: str | None, auth: Auth, headers: Mapping[str, str] | None
) -> tuple[dict[str, str], list[Subprotocol] | None]:
    """Validate the credentials and return (extra headers, subprotocols) for the upgrade.

    Raises:
        UsageError: bad `auth`, a malformed key, or a refused header such as `OpenAI-Beta`.
    """
    extra = dict(headers or {})
    for name in extra:
        problem = _REFUSED_HEADERS.get(name.lower())
        if problem:
            raise UsageError(f"header {name!r} refused: {problem}")
        if name.lower() == "authorization" and api_key is not None:
            raise UsageError("pass the key once: api_key= or an Authorization header, not both")
    if auth not in ("header", "subprotocol"):
        raise UsageError(f"auth={auth!r} must be 'header' or 'subprotocol'")
    if api_key is not None and not _KEY_CHARS.match(api_key):
        raise UsageError("api_key contains whitespace or characters no API key has")
    if auth == "subprotocol":
        if not api_key:
            raise UsageError("auth='subprotocol' needs an api_key (an ek_ client secret)")
        protocols = [Subprotocol("realtime"), Subprotocol("openai-insecure-api-key." + api_key)]
        return extra, protocols
    if api_key:
        extra["Authorization"] = f"Bearer {api_key}"
    return extra, None


async def connect(
    url: str | None = None,
    *,
    model: str | None = DEFAULT_MODEL,
    api_key: str | None = None,
    auth: Auth = "header",
    headers: Mapping[str, str] | None = None,
    open_timeout: float = 10.0,
    max_size: int | None = DEFAULT_MAX_SIZE,
    compression: Compression = None,
    ping_interval: float | None = 20.0,
    ping_timeout: float | None = 20.0,
    send_timeout: float = 10.0,
    close_timeout: float = 5.0,
) -> RealtimeConnection:
    """Open a GA Realtime WebSocket. Never sends `OpenAI-Beta`.

    Args:
        url: `ws://` or `wss://` endpoint; default `wss://api.openai.com/v1/realtime`.
        model: put in the query as `?model=`; None leaves the URL's query alone.
        api_key: a standard key or an ephemeral `ek_` secret; None sends no credentials.
        auth: `"header"` (`Authorization: Bearer`) or `"subprotocol"` (as a browser:
            `realtime` + `openai-insecure-api-key.<key>`; use an `ek_` secret there).
        headers: extra handshake headers (`OpenAI-Beta` is refused).
        open_timeout: seconds for TCP, TLS and the upgrade.
        max_size: largest server frame accepted, in bytes (None: no limit).
        compression: None (default) or `"deflate"`; see the module docstring.
        ping_interval: keepalive ping period in seconds (None: off).
        ping_timeout: seconds to wait for a pong before dropping the connection.
        send_timeout: bound on writing one event.
        close_timeout: bound on the closing handshake.

    Returns:
        The open connection. Call `recv()` next: the first event is `session.created`.

    Raises:
        UsageError: bad arguments (nothing was sent).
        ConnectError: the connection or the upgrade failed.
        Timeout: the upgrade took longer than `open_timeout`.
    """
    target = build_url(url or DEFAULT_URL, model)
    extra_headers, subprotocols = handshake_options(api_key, auth, headers)
    shown = redact(target, [api_key])
    try:
        ws = await ws_connect(
            target,
            additional_headers=extra_headers,
            subprotocols=subprotocols,
            compression=compression,
            open_timeout=open_timeout,
            max_size=max_size,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            user_agent_header=USER_AGENT,
            logger=websocket_logger(),
        )
    except TimeoutError:
        raise Timeout(f"the WebSocket upgrade of {shown}", open_timeout) from None
    except InvalidStatus as exc:
        status = exc.response.status_code
        message = f"{shown} refused the WebSocket upgrade with HTTP {status}"
        raise ConnectError(message, status=status) from None
    except ssl.SSLCertVerificationError as exc:
        message = redact(f"cannot connect to {shown}: {_untrusted(exc)}", [api_key])
        raise ConnectError(message) from None
    except (InvalidHandshake, InvalidURI, OSError) as exc:
        message = redact(f"cannot connect to {shown}: {exc}", [api_key])
        raise ConnectError(message) from None
    return RealtimeConnection(ws, send_timeout=send_timeout, close_timeout=close_timeout)


def _untrusted(exc: ssl.SSLCertVerificationError) -> str:
    """What a failed certificate check means, and what to do (a local mock's CA)."""
    why = exc.verify_message or exc.reason or "certificate verify failed"
    return (
        f"the server's TLS certificate is not trusted ({why}); for a mock started with "
        "--tls, trust its CA: SSL_CERT_FILE=<the ca.pem it prints>"
    )


class RealtimeConnection(EventConnection):
    """One open Realtime WebSocket: `send()`, `recv()`, `async for event in conn`, `close()`.

    A server `error` event is returned like any other event; a close raises
    `ConnectionClosed` carrying the close code and reason.
    """

    _log = logger

    def __init__(
        self, ws: ClientConnection, *, send_timeout: float = 10.0, close_timeout: float = 5.0
    ) -> None:
        super().__init__()
        self._ws = ws
        self._send_timeout = send_timeout
        self._close_timeout = close_timeout

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the server selected (`realtime` with subprotocol auth)."""
        return self._ws.subprotocol

    @property
    def close_code(self) -> int | None:
        """The close code once the connection is closed (1006: no close frame), else None."""
        return self._closed.code if self._closed else self._ws.close_code

    @property
    def close_reason(self) -> str | None:
        """The close reason once the connection is closed, else None."""
        return self._closed.reason if self._closed else self._ws.close_reason

    async def send(self, event: Mapping[str, Any]) -> None:
        """Send one client event (give it an `event_id` to correlate errors).

        Raises:
            LocalProtocolError: the event is illegal now (nothing is sent).
            ConnectionClosed: the connection is closed.
            Timeout: the socket did not take the event within `send_timeout`.
        """
        if self._closed is not None:
            raise self._closed_copy()
        # The core encodes synchronously and websockets writes the frame before its first
        # await, so concurrent senders reach the wire in the order the core saw them.
        text = self._encode(event)
        try:
            async with asyncio.timeout(self._send_timeout):
                await self._ws.send(text)
        except WsConnectionClosed as exc:
            raise self._record_close(exc) from None
        except TimeoutError:
            raise Timeout(f"the socket to accept {event.get('type')}", self._send_timeout) from None

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection (bounded by `close_timeout`); safe to call twice."""
        if self._closed is None:
            self._closing = True
        try:
            async with asyncio.timeout(self._close_timeout + 1.0):
                await self._ws.close(code, reason)
        except TimeoutError:  # websockets gives up after close_timeout itself; belt and braces
            self._ws.transport.abort()
        if self._closed is None:
            self._closed = ConnectionClosed(code, reason, by_client=True)
        self._session.connection_closed()

    async def _wait_frames(self) -> None:
        try:
            frame = await self._ws.recv()
        except WsConnectionClosed as exc:
            raise self._record_close(exc) from None
        self._received(frame)

    def _record_close(self, exc: WsConnectionClosed) -> ConnectionClosed:
        if self._closed is None:
            if exc.rcvd is not None:
                code, reason = exc.rcvd.code, exc.rcvd.reason
            elif exc.sent is not None:
                # Our close (or websockets' own: 1009 frame too big, 1011 ping timeout)
                # says why the connection ended; 1006 would hide that.
                code, reason = exc.sent.code, exc.sent.reason
            else:
                code, reason = 1006, ""
            self._end(code, reason)
        return self._closed_copy()
