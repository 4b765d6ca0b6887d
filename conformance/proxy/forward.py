"""The proxy's sockets: a client connects as if to the API, every frame goes upstream and back.

    async with ProxyServer(ProxyConfig(upstream="wss://api.openai.com")) as proxy:
        print(proxy.url)                       # ws://127.0.0.1:PORT/v1/realtime
        ended = await proxy.wait_for_ended(1, timeout=30)

Both legs are websockets' sans-I/O protocols driven from asyncio `Protocol` callbacks:
a frame read from one leg is written to the other in the same callback (no task, no
queue), then the tap (`tap.py`) validates and records it. Frames are forwarded as they
come (fragments stay fragments, text stays text, binary stays binary); pings and pongs
are forwarded too, so the far end answers them. Compression is negotiated on each leg on
its own (permessage-deflate, offered upstream and accepted from the client).

* **Handshake.** The client's upgrade is held until the upstream answers: the path and
  query, `Authorization`, the `OpenAI-*` headers (`OpenAI-Beta` as sent: the upstream
  judges it), `User-Agent`, `Origin` and the offered subprotocols go upstream (the key
  replaced when the proxy has one); the subprotocol the upstream picks is the one the
  client gets. An upstream HTTP refusal goes back to the client as it came (status,
  headers, body).
* **Closing.** The first close frame of either side goes to the other with its code and
  reason unchanged (each leg answers its own close handshake); a side that drops the TCP
  connection without a close frame makes the proxy drop the other leg the same way.
* **Bounds.** Waits: the request head, the upstream connect and handshake, each leg's
  closing handshake. Memory: one message per direction (`max_message_size`), the
  transcript (`transcript_max_bytes`), and the write buffers: when one leg's peer reads
  slower than the other leg sends, the proxy stops reading that other leg (TCP
  back-pressure), so one slow client holds only its own connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import ssl
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from ssl import SSLContext
from typing import Final, Literal, Self
from urllib.parse import parse_qsl, urlsplit

from websockets.client import ClientProtocol
from websockets.datastructures import Headers
from websockets.exceptions import InvalidHandshake, InvalidStatus
from websockets.extensions.permessage_deflate import (
    enable_client_permessage_deflate,
    enable_server_permessage_deflate,
)
from websockets.frames import Frame, Opcode
from websockets.headers import parse_subprotocol
from websockets.http11 import Request, Response
from websockets.protocol import OPEN, Protocol
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from conformance.protocol.errors import UsageError
from conformance.transcript import TRANSCRIPT_MAX_BYTES, Direction, Transcript, redact

from .http import (
    HOP_BY_HOP,
    Head,
    HeadError,
    RestPipe,
    is_upgrade,
    plain_response,
    read_head,
    upstream_target,
)
from .tap import Drift, Tap

logger = logging.getLogger("realtime_conformance.proxy")

REALTIME_PATH: Final = "/v1/realtime"
INSECURE_KEY: Final = "openai-insecure-api-key."
# Request headers that go upstream besides the WebSocket ones.
FORWARDED: Final = frozenset({"authorization", "user-agent", "origin"})
FORWARDED_PREFIXES: Final = ("openai-", "x-stainless-")
# Response headers of a refused upgrade that the proxy does not copy.
_NOT_COPIED: Final = HOP_BY_HOP | {"content-length", "transfer-encoding", "date", "server"}
_Leg = Literal["client", "server"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProxyConfig:
    """How the proxy listens, where it forwards, and its bounds.

    Attributes:
        upstream: the API's origin, `wss://api.openai.com` (ws, wss, http or https; a
            path is a prefix put before the client's path unless it starts with it:
            `https://api.openai.com/v1` works too).
        host, port: where the proxy listens (port 0: a free one).
        api_key: the key sent upstream instead of the client's (none: the client's).
        ssl: a server TLS context: the client connects with wss:// and https://.
        upstream_ssl: the TLS context for a wss/https upstream (none: the system's).
        compression: negotiate permessage-deflate on each leg.
        max_message_size: the largest message taken from either side.
        transcript_max_bytes: frames kept in full per connection (see `Transcript`).
        max_connections: connections at a time (more get HTTP 503).
        max_body_size: a REST request's or answer's largest body.
    """

    upstream: str
    host: str = "127.0.0.1"
    port: int = 0
    api_key: str | None = None
    ssl: SSLContext | None = None
    upstream_ssl: SSLContext | None = None
    compression: bool = True
    max_message_size: int = 16 * 1024 * 1024
    transcript_max_bytes: int | None = TRANSCRIPT_MAX_BYTES
    max_connections: int = 256
    max_body_size: int = 16 * 1024 * 1024
    head_timeout_s: float = 10.0
    connect_timeout_s: float = 10.0
    handshake_timeout_s: float = 10.0
    close_timeout_s: float = 5.0
    rest_timeout_s: float = 120.0


@dataclass(frozen=True, slots=True)
class Upstream:
    """The parsed `ProxyConfig.upstream`."""

    secure: bool
    host: str
    port: int
    prefix: str

    @classmethod
    def parse(cls, url: str) -> Upstream:
        """Raises UsageError for anything but a ws/wss/http/https URL with a host."""
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss", "http", "https") or not parts.hostname:
            raise UsageError(
                f"--upstream: expected a URL like wss://api.openai.com or "
                f"ws://127.0.0.1:8765, got {redact(url)!r}"
            )
        if parts.query or parts.fragment:
            raise UsageError("--upstream: give the origin (and a path prefix), no query")
        prefix = parts.path.rstrip("/")
        if prefix.endswith(REALTIME_PATH):
            raise UsageError(
                f"--upstream: give the origin ({parts.scheme}://{parts.netloc}), not the "
                f"endpoint: the client's own path ({REALTIME_PATH}?model=…) is appended"
            )
        secure = parts.scheme in ("wss", "https")
        try:
            port = parts.port or (443 if secure else 80)
        except ValueError as exc:
            raise UsageError(f"--upstream: {exc}") from None
        return cls(secure, parts.hostname, port, prefix)

    @property
    def host_header(self) -> str:
        default = 443 if self.secure else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"

    def ws_url(self, resource: str) -> str:
        path = upstream_target(self.prefix, resource)
        return f"{'wss' if self.secure else 'ws'}://{self.host_header}{path}"

    def __str__(self) -> str:
        return f"{'wss' if self.secure else 'ws'}://{self.host_header}{self.prefix}"


@dataclass(frozen=True, slots=True, kw_only=True)
class EndedConnection:
    """One proxied WebSocket connection, once both legs are closed."""

    number: int
    transcript: Transcript
    drift: tuple[Drift, ...]  # the first ones (`tap.MAX_DRIFT`)
    drift_count: int
    client_findings: int
    duration_s: float
    problem: str | None = None  # the proxy's own trouble (upstream unreachable, …)


Handler = Callable[[int, Transcript], None]
EndHandler = Callable[[EndedConnection], None]


class ProxyServer:
    """The listening proxy. `on_open(number, transcript)` runs before a connection's first
    frame (attach a recorder there); `on_end(ended)` when both its legs are closed."""

    def __init__(
        self,
        config: ProxyConfig,
        *,
        on_open: Handler | None = None,
        on_end: EndHandler | None = None,
        keep_ended: int = 100,
    ) -> None:
        self.config = config
        self.upstream = Upstream.parse(config.upstream)
        if self.upstream.secure and config.upstream_ssl is None:
            self._upstream_ssl: ssl.SSLContext | None = ssl.create_default_context()
        else:
            self._upstream_ssl = config.upstream_ssl if self.upstream.secure else None
        self.on_open = on_open
        self.on_end = on_end
        self.ended: deque[EndedConnection] = deque(maxlen=keep_ended)
        self.ended_count = 0
        self.rest_count = 0
        self._numbers = itertools.count(1)
        self._open: set[_Client] = set()
        self._server: asyncio.Server | None = None
        self._progress = asyncio.Event()

    async def start(self) -> Self:
        """Listen; returns self."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Client(self), self.config.host, self.config.port, ssl=self.config.ssl
        )
        return self

    async def stop(self) -> None:
        """Stop listening and cut every open connection."""
        if self._server is None:
            return
        self._server.close()
        for client in list(self._open):
            client.abort()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.config.close_timeout_s):
                await self._server.wait_closed()
        self._server = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "start() first"
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def host(self) -> str:
        host = self.config.host
        return f"[{host}]" if ":" in host else host

    @property
    def url(self) -> str:
        """The Realtime URL a client is given (add `?model=…`)."""
        scheme = "wss" if self.config.ssl else "ws"
        return f"{scheme}://{self.host}:{self.port}{REALTIME_PATH}"

    @property
    def base_url(self) -> str:
        """The REST base URL a client (or SDK) is given."""
        scheme = "https" if self.config.ssl else "http"
        return f"{scheme}://{self.host}:{self.port}/v1"

    async def wait_for_ended(self, count: int, within: float) -> list[EndedConnection]:
        """Wait (at most `within` s) until `count` connections ended; the ended ones kept.

        Raises:
            TimeoutError: fewer ended in time.
        """
        async with asyncio.timeout(within):
            while self.ended_count < count:
                await self._progress.wait()
        return list(self.ended)

    # --- called by the connections ---

    def _opened(self, client: _Client) -> bool:
        if len(self._open) >= self.config.max_connections:
            return False
        self._open.add(client)
        return True

    def _closed(self, client: _Client) -> None:
        self._open.discard(client)

    def _ended(self, ended: EndedConnection) -> None:
        self.ended.append(ended)
        self.ended_count += 1
        if self.on_end is not None:
            try:
                self.on_end(ended)
            except Exception:  # a broken handler must not take the proxy down
                logger.exception("on_end failed for connection %s", ended.number)
        self._progress.set()
        self._progress = asyncio.Event()

    def _next_number(self) -> int:
        return next(self._numbers)


class _ServerLeg(ServerProtocol):
    """The client-facing WebSocket: pings are forwarded, not answered here."""

    def recv_frame(self, frame: Frame) -> None:
        if frame.opcode is Opcode.PING:
            self.events.append(frame)
            return
        super().recv_frame(frame)


class _ClientLeg(ClientProtocol):
    """The upstream WebSocket: pings are forwarded, not answered here."""

    def recv_frame(self, frame: Frame) -> None:
        if frame.opcode is Opcode.PING and self.state is OPEN:
            self.events.append(frame)
            return
        super().recv_frame(frame)


class _UpstreamProtocol(asyncio.Protocol):
    def __init__(self, client: _Client) -> None:
        self.client = client

    def data_received(self, data: bytes) -> None:
        self.client.from_upstream(data)

    def eof_received(self) -> bool:
        self.client.upstream_eof()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.client.upstream_lost()

    def pause_writing(self) -> None:
        self.client.hold_reading(True)

    def resume_writing(self) -> None:
        self.client.hold_reading(False)


@dataclass(slots=True)
class _Assembly:
    """The message being received from one side (a copy for the tap)."""

    text: bool = True
    parts: list[bytes] = field(default_factory=list)


class _Client(asyncio.Protocol):
    """One client connection: its request head, then a WebSocket relay or a REST pipe."""

    def __init__(self, server: ProxyServer) -> None:
        self.server = server
        self.config = server.config
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.mode: Literal["head", "connecting", "relay", "rest", "done"] = "head"
        self._buffer = bytearray()
        self._timer: asyncio.TimerHandle | None = None
        self._close_timers: dict[_Leg, asyncio.TimerHandle] = {}
        self._rest: RestPipe | None = None
        # WebSocket relay
        self.number = 0
        self.tap: Tap | None = None
        self.down: _ServerLeg | None = None
        self.up: _ClientLeg | None = None
        self.request: Request | None = None
        self.up_transport: asyncio.Transport | None = None
        self._task: asyncio.Task[None] | None = None
        self._t0 = self.loop.time()
        self._down_lost = False
        self._up_lost = True  # until connected
        self._holds = {"client": 0, "upstream": 0}  # reasons to stop reading each leg
        self._assembly: dict[Direction, _Assembly | None] = {"client": None, "server": None}
        self._problem: str | None = None
        self._finished = False

    # --- asyncio callbacks (client leg) ---

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if not self.server._opened(self):
            transport.write(plain_response(503, "Service Unavailable", "too many connections\n"))
            transport.close()
            self.mode = "done"
            return
        self._timer = self.loop.call_later(self.config.head_timeout_s, self.abort)

    def data_received(self, data: bytes) -> None:
        try:
            mode = self.mode
            if mode == "relay":
                self._from_client(data)
            elif mode == "head":
                self._head(data)
            elif mode == "rest":
                assert self._rest is not None
                self._rest.from_client(data)
            elif mode == "connecting":
                assert self.down is not None
                self.down.receive_data(data)  # read on when the relay opens
        except Exception:
            self._crashed()

    def _crashed(self) -> None:
        """A bug of the proxy's: cut this connection (logged), never the others."""
        logger.exception("connection %s: proxy error; both legs cut", self.number)
        self._problem = "the proxy failed on this connection (see its log); both legs cut"
        self.abort()

    def eof_received(self) -> bool:
        if self.mode == "relay" and self.down is not None:
            self.down.receive_eof()
            self._after_client_input()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._down_lost = True
        self.server._closed(self)
        if self._timer is not None:
            self._timer.cancel()
        if self.mode == "rest" and self._rest is not None:
            self._rest.client_lost()
        elif self.mode in ("connecting", "relay"):
            self._client_gone()
        self._maybe_finish()

    def pause_writing(self) -> None:
        self._hold("upstream", True)

    def resume_writing(self) -> None:
        self._hold("upstream", False)

    def abort(self) -> None:
        """Cut both legs at once (no close frames)."""
        if self.transport is not None:
            self.transport.abort()
        if self.up_transport is not None:
            self.up_transport.abort()
        if self._task is not None:
            self._task.cancel()

    # --- the request head ---

    def _head(self, data: bytes) -> None:
        assert self.transport is not None
        self._buffer += data
        try:
            whole = read_head(self._buffer)
        except HeadError as exc:
            self._refuse(400, "Bad Request", f"{exc}\n")
            return
        if whole is None:
            return
        head, rest = whole
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        raw = bytes(self._buffer)
        self._buffer = bytearray()
        if is_upgrade(head):
            self._upgrade(raw, head)
        else:
            self._start_rest(head, rest)

    def _refuse(self, status: int, reason: str, text: str) -> None:
        assert self.transport is not None
        self.transport.write(plain_response(status, reason, text))
        self.transport.close()
        self.mode = "done"

    def _start_rest(self, head: Head, rest: bytes) -> None:
        assert self.transport is not None
        up = self.server.upstream
        self.mode = "rest"
        self.server.rest_count += 1
        secrets = [s for s in (self.config.api_key, _bearer(head.get("authorization"))) if s]
        self._rest = RestPipe(
            self.transport,
            head,
            upstream=(up.host, up.port, self.server._upstream_ssl),
            host_header=up.host_header,
            prefix=up.prefix,
            api_key=self.config.api_key,
            secrets=secrets,
            max_body_size=self.config.max_body_size,
            timeout_s=self.config.rest_timeout_s,
            connect_timeout_s=self.config.connect_timeout_s,
            on_done=lambda: None,
        )
        if rest:
            self._rest.from_client(rest)

    # --- the WebSocket upgrade ---

    def _upgrade(self, raw: bytes, head: Head) -> None:
        assert self.transport is not None
        extensions = enable_server_permessage_deflate(None) if self.config.compression else None
        self.down = _ServerLeg(
            extensions=extensions,
            select_subprotocol=self._selector(),
            max_size=self.config.max_message_size,
            logger=logger,
        )
        self.down.receive_data(raw)
        events = self.down.events_received()
        request = events[0] if events else None
        if not isinstance(request, Request):
            self._refuse(400, "Bad Request", f"not a WebSocket upgrade: {self.down.parser_exc}\n")
            return
        self.request = request
        self.mode = "connecting"
        self.transport.pause_reading()
        self._holds["client"] += 1  # released when the relay opens
        offered = _offered(request.headers)
        client_key = _bearer(request.headers.get("Authorization")) or next(
            (p[len(INSECURE_KEY) :] for p in offered if p.startswith(INSECURE_KEY)), None
        )
        parts = urlsplit(request.path)
        self.number = self.server._next_number()
        self.tap = Tap.begin(
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers=request.headers.raw_items(),
            subprotocols=offered,
            secrets=[s for s in (client_key, self.config.api_key) if s],
            upstream=str(self.server.upstream),
            max_bytes=self.config.transcript_max_bytes,
        )
        if self.server.on_open is not None:
            self.server.on_open(self.number, self.tap.transcript)
        self._task = self.loop.create_task(self._connect_upstream(request, offered))

    def _selector(self) -> Callable[[ServerProtocol, Sequence[Subprotocol]], Subprotocol | None]:
        """The client gets the subprotocol the upstream picked (websockets binds the
        function to the protocol, so a plain function, not a bound method)."""

        def select(_protocol: ServerProtocol, offered: Sequence[Subprotocol]) -> Subprotocol | None:
            chosen = self.up.subprotocol if self.up is not None else None
            return chosen if chosen in offered else None

        return select

    async def _connect_upstream(self, request: Request, offered: list[str]) -> None:
        up = self.server.upstream
        key = self.config.api_key
        protocols = [
            f"{INSECURE_KEY}{key}" if key and p.startswith(INSECURE_KEY) else p for p in offered
        ]
        self.up = _ClientLeg(
            parse_uri(up.ws_url(request.path)),
            extensions=enable_client_permessage_deflate(None) if self.config.compression else None,
            subprotocols=[Subprotocol(p) for p in protocols] or None,
            max_size=self.config.max_message_size,
            logger=logger,
        )
        upgrade = self.up.connect()
        auth = False
        for name, value in request.headers.raw_items():
            lower = name.lower()
            if lower in FORWARDED or lower.startswith(FORWARDED_PREFIXES):
                if lower == "authorization" and key:
                    value, auth = f"Bearer {key}", True
                upgrade.headers[name] = value
        if key and not auth and not any(p.startswith(INSECURE_KEY) for p in offered):
            upgrade.headers["Authorization"] = f"Bearer {key}"
        self.up.send_request(upgrade)
        context = self.server._upstream_ssl
        try:
            async with asyncio.timeout(self.config.connect_timeout_s):
                transport, _ = await self.loop.create_connection(
                    lambda: _UpstreamProtocol(self),
                    up.host,
                    up.port,
                    ssl=context,
                    server_hostname=up.host if context else None,
                )
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            why = "timed out" if isinstance(exc, TimeoutError) else (str(exc) or type(exc).__name__)
            self._gateway_error(502, "Bad Gateway", f"cannot reach the upstream {up}: {why}")
            return
        if self._down_lost:
            transport.abort()
            return
        self.up_transport = transport
        self._up_lost = False
        self._write_up()
        self._timer = self.loop.call_later(self.config.handshake_timeout_s, self._handshake_timeout)

    def _handshake_timeout(self) -> None:
        self._gateway_error(
            504, "Gateway Timeout", "the upstream did not answer the upgrade in time"
        )

    def _gateway_error(self, status: int, reason: str, text: str) -> None:
        """The proxy could not get an upgrade answer: tell the client over HTTP."""
        if self.mode != "connecting" or self.tap is None:
            return
        logger.warning("connection %s: %s", self.number, text)
        self._problem = text
        self.tap.rejected(status, text, self._now())
        self._answer_client(Response(status, reason, _text_headers(text), text.encode()))
        if self.up_transport is not None:
            self.up_transport.abort()

    def _answer_client(self, response: Response) -> None:
        assert self.down is not None
        assert self.transport is not None
        self.mode = "done"
        self.down.send_response(response)
        for chunk in self.down.data_to_send():
            if chunk:
                self.transport.write(chunk)
        self.transport.close()

    # --- upstream leg callbacks ---

    def from_upstream(self, data: bytes) -> None:
        try:
            up = self.up
            assert up is not None
            up.receive_data(data)
            if self.mode == "connecting":
                self._upstream_answer()  # which relays what came with the 101
            else:
                self._pump("server", up, self.down)
        except Exception:
            self._crashed()

    def upstream_eof(self) -> None:
        if self.up is not None:
            self.up.receive_eof()
            if self.mode == "connecting":
                self._upstream_answer()
            elif self.mode == "relay":
                self._pump("server", self.up, self.down)

    def upstream_lost(self) -> None:
        self._up_lost = True
        if self.mode == "connecting":
            self._gateway_error(502, "Bad Gateway", "the upstream closed during the upgrade")
        elif self.mode == "relay":
            self._server_gone()
        self._maybe_finish()

    def hold_reading(self, hold: bool) -> None:
        """The upstream's write buffer is full (True) or drained: stop or go on reading
        the client."""
        self._hold("client", hold)

    # --- opening the relay ---

    def _upstream_answer(self) -> None:
        up, down = self.up, self.down
        assert up is not None
        assert down is not None
        assert self.tap is not None
        events = up.events_received()
        response = next((e for e in events if isinstance(e, Response)), None)
        # Frames that came in the same read as the 101 stay queued for the relay.
        up.events[:0] = [e for e in events if not isinstance(e, Response)]
        if response is None:
            if up.parser_exc is not None:
                self._gateway_error(502, "Bad Gateway", f"the upstream's answer: {up.parser_exc}")
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        exc = up.handshake_exc
        if isinstance(exc, InvalidStatus) or (exc is not None and response.status_code != 101):
            body = response.body.decode(errors="replace")
            self.tap.rejected(response.status_code, body, self._now())
            headers = Headers(
                (k, v)
                for k, v in response.headers.raw_items()
                if k.lower() not in _NOT_COPIED and not k.lower().startswith("sec-websocket")
            )
            headers["Content-Length"] = str(len(response.body))
            headers["Connection"] = "close"
            self._answer_client(
                Response(response.status_code, response.reason_phrase, headers, response.body)
            )
            assert self.up_transport is not None
            self.up_transport.close()
            return
        if exc is not None:  # 101 with a bad handshake (extension, subprotocol, key)
            self._gateway_error(502, "Bad Gateway", f"the upstream's upgrade answer: {exc}")
            return
        answer = down.accept(self.request)  # type: ignore[arg-type]
        if answer.status_code != 101:  # the client's upgrade request is not valid
            self.tap.rejected(answer.status_code, answer.body.decode(errors="replace"), self._now())
            self._answer_client(answer)
            assert self.up_transport is not None
            up.send_close(1000)
            self._write_up()
            return
        down.send_response(answer)
        self.mode = "relay"
        self._write_down()
        self._hold("client", False)
        # Frames the client sent before the answer (already fed), then the upstream's
        # frames that came with the 101.
        self._pump("client", down, up)
        self._pump("server", up, down)

    # --- the relay ---

    def _from_client(self, data: bytes) -> None:
        down = self.down
        assert down is not None
        down.receive_data(data)
        self._after_client_input()

    def _after_client_input(self) -> None:
        assert self.down is not None
        assert self.up is not None
        self._pump("client", self.down, self.up)

    def _pump(self, direction: Direction, src: Protocol | None, dst: Protocol | None) -> None:
        """Forward what `src` received to `dst`, write both, then tap the frames."""
        if src is None or dst is None or self.mode != "relay":
            return
        frames = src.events_received()
        closed: tuple[int | None, str] | None = None
        for frame in frames:
            if not isinstance(frame, Frame):
                continue
            opcode = frame.opcode
            open_ = dst.state is OPEN
            if opcode is Opcode.TEXT:
                if open_:
                    dst.send_text(frame.data, frame.fin)
            elif opcode is Opcode.BINARY:
                if open_:
                    dst.send_binary(frame.data, frame.fin)
            elif opcode is Opcode.CONT:
                if open_:
                    dst.send_continuation(frame.data, frame.fin)
            elif opcode is Opcode.PING:
                if open_:
                    dst.send_ping(frame.data)
            elif opcode is Opcode.PONG:
                if open_:
                    dst.send_pong(frame.data)
            elif opcode is Opcode.CLOSE and open_ and src.close_rcvd is not None:
                # `src` closed first (otherwise this is the answer to a close we passed
                # on): the same code and reason go to the other side.
                code = src.close_rcvd.code
                reason = src.close_rcvd.reason
                if code == 1005:  # a close frame without a code
                    closed = (None, "")
                    dst.send_close()
                else:
                    closed = (code, reason)
                    dst.send_close(code, reason)
        self._write(direction)
        tap = self.tap
        assert tap is not None
        now = self._now()
        for frame in frames:
            if isinstance(frame, Frame) and frame.opcode in (
                Opcode.TEXT,
                Opcode.BINARY,
                Opcode.CONT,
            ):
                self._tap_data(direction, frame, now)
        if closed is not None:
            tap.close(direction, closed[0], closed[1], now)
        if src.parser_exc is not None and src.close_rcvd is None and not tap.ended:
            self._broken(direction, src)
        for leg, proto in (("client", self.down), ("server", self.up)):
            if proto is not None and proto.close_expected():
                self._arm_close_timer(leg)  # type: ignore[arg-type]

    def _tap_data(self, direction: Direction, frame: Frame, now: float) -> None:
        tap = self.tap
        assert tap is not None
        opcode = frame.opcode
        if opcode is not Opcode.CONT:
            if frame.fin:
                if opcode is Opcode.TEXT:
                    tap.text_bytes(direction, bytes(frame.data), now)
                else:
                    tap.binary(direction, bytes(frame.data), now)
                return
            self._assembly[direction] = _Assembly(opcode is Opcode.TEXT, [bytes(frame.data)])
            return
        assembly = self._assembly[direction]
        if assembly is None:
            return
        assembly.parts.append(bytes(frame.data))
        if frame.fin:
            self._assembly[direction] = None
            data = b"".join(assembly.parts)
            if assembly.text:
                tap.text_bytes(direction, data, now)
            else:
                tap.binary(direction, data, now)

    def _broken(self, direction: Direction, src: Protocol) -> None:
        """`src` ended without a close frame (EOF) or broke the protocol: drop both."""
        assert self.tap is not None
        exc = src.parser_exc
        if not isinstance(exc, EOFError):
            who = "client" if direction == "client" else "upstream"
            self._problem = f"the {who} broke the WebSocket protocol: {exc}"
            logger.warning("connection %s: %s", self.number, self._problem)
        self.tap.drop(direction, self._now())
        self._drop("server" if direction == "client" else "client")

    def _client_gone(self) -> None:
        if self.tap is not None and not self.tap.ended:
            self.tap.drop("client", self._now())
        if self._task is not None and self.mode == "connecting":
            self._task.cancel()
        if self.up is not None and self.up.state is not OPEN and self.mode == "relay":
            self._arm_close_timer("server")  # its closing handshake ends on its own
        else:
            self._drop("server")

    def _server_gone(self) -> None:
        if self.tap is not None and not self.tap.ended:
            self.tap.drop("server", self._now())
        if self.down is not None and self.down.state is not OPEN:
            self._arm_close_timer("client")  # the client answers the close we passed on
        else:
            self._drop("client")

    def _drop(self, leg: _Leg) -> None:
        """End `leg` without a close frame, after what is already buffered for it."""
        transport = self.transport if leg == "client" else self.up_transport
        if transport is None or transport.is_closing():
            return
        transport.close()
        self._arm_close_timer(leg)

    def _arm_close_timer(self, leg: _Leg) -> None:
        if leg in self._close_timers:
            return
        transport = self.transport if leg == "client" else self.up_transport
        if transport is not None:
            self._close_timers[leg] = self.loop.call_later(
                self.config.close_timeout_s, transport.abort
            )

    # --- writing and flow control ---

    def _write(self, direction: Direction) -> None:
        # The destination first: it is what the latency is measured on.
        if direction == "client":
            self._write_up()
            self._write_down()
        else:
            self._write_down()
            self._write_up()

    def _write_down(self) -> None:
        if self.down is None or self.transport is None:
            return
        for chunk in self.down.data_to_send():
            if chunk:
                self.transport.write(chunk)
            else:  # the server side closes TCP once the close handshake is done
                self.transport.close()

    def _write_up(self) -> None:
        if self.up is None or self.up_transport is None:
            return
        for chunk in self.up.data_to_send():
            if chunk:
                self.up_transport.write(chunk)
            elif self.up_transport.can_write_eof():
                self.up_transport.write_eof()
            else:
                self.up_transport.close()

    def _hold(self, leg: Literal["client", "upstream"], hold: bool) -> None:
        """Count one reason more (or fewer) to stop reading `leg`."""
        count = self._holds[leg] + (1 if hold else -1)
        self._holds[leg] = max(count, 0)
        transport = self.transport if leg == "client" else self.up_transport
        if transport is None or transport.is_closing():
            return
        if hold and self._holds[leg] == 1:
            transport.pause_reading()
        elif not hold and self._holds[leg] == 0:
            transport.resume_reading()

    # --- the end ---

    def _maybe_finish(self) -> None:
        if self._finished or self.tap is None or not self._down_lost:
            return
        if not self._up_lost:
            return
        self._finished = True
        self.mode = "done"
        for timer in self._close_timers.values():
            timer.cancel()
        if self._timer is not None:
            self._timer.cancel()
        if not self.tap.ended:
            self.tap.drop("client", self._now())
        self.server._ended(
            EndedConnection(
                number=self.number,
                transcript=self.tap.transcript,
                drift=tuple(self.tap.drift),
                drift_count=self.tap.drift_count,
                client_findings=self.tap.client_findings,
                duration_s=self.loop.time() - self._t0,
                problem=self._problem,
            )
        )

    def _now(self) -> float:
        return (self.loop.time() - self._t0) * 1000.0


def _offered(headers: Headers) -> list[str]:
    offered: list[str] = []
    for value in headers.get_all("Sec-WebSocket-Protocol"):
        with contextlib.suppress(InvalidHandshake):
            offered += parse_subprotocol(value)
    return offered


def _bearer(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else value.strip() or None


def _text_headers(text: str) -> Headers:
    headers = Headers()
    headers["Content-Type"] = "text/plain; charset=utf-8"
    headers["Content-Length"] = str(len(text.encode()))
    headers["Connection"] = "close"
    return headers
