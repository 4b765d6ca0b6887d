"""The asyncio adapter: real WebSocket connections, each driven into one sans-I/O `App`.

    async with serve(port=0) as server:          # or MockServer(config=..., app_factory=...)
        client = OpenAI(base_url=server.base_url)  # ws://127.0.0.1:PORT/v1/realtime
        ...

Like the live server, every valid upgrade on `{path_prefix}/v1/realtime` completes with
101 (problems are reported in-band by the app); any other path gets HTTP 404.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from collections.abc import Callable
from http import HTTPStatus
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self, cast
from urllib.parse import urlsplit

from websockets.asyncio.server import Server, ServerConnection
from websockets.asyncio.server import serve as _ws_serve
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from conformance.protocol.errors import UsageError
from conformance.transcript import Transcript
from mock_server._connection import Connection as _Connection
from mock_server._driver import Driver as _Driver
from mock_server.config import MockConfig
from mock_server.interfaces import App, AppFactory, load_app_factory
from mock_server.request import ConnectRequest
from mock_server.settings import merge

logger = logging.getLogger(__name__)

REALTIME_PATH: Final = "/v1/realtime"
SUBPROTOCOL: Final = Subprotocol("realtime")
# The app module's own factory picks scenarios; `MockApp` itself is the fallback.
DEFAULT_APPS: Final = ("mock_server.app:make_app", "mock_server.app:MockApp")
# The listen backlog: the kernel's limit (net.core.somaxconn caps it), like production
# servers, instead of asyncio's 100, so a burst of clients is queued, not refused.
BACKLOG: Final = max(socket.SOMAXCONN, 1024)
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")
UpgradeAnswer = Callable[[ConnectRequest, MockConfig], Transcript | None]


class MockServer:
    """A running mock Realtime server on loopback; one `App` per connection.

    Use as `async with MockServer(...) as server:` or call `start()` / `stop()`.
    `transcripts` lists every session's live `Transcript` in connection order.
    """

    def __init__(
        self,
        config: MockConfig | None = None,
        *,
        app_factory: AppFactory | None = None,
        **overrides: Any,
    ) -> None:
        """Configure (does not listen yet).

        Args:
            config: the server configuration; `MockConfig()` by default.
            app_factory: builds each connection's app; `mock_server.app.MockApp` by default
                (imported when the server starts).
            **overrides: `MockConfig` fields replacing those of `config`, e.g. `port=0`.

        Raises:
            UsageError: an override is not a `MockConfig` field or has the wrong type.
        """
        base = config or MockConfig()
        self.config: MockConfig = merge(base, overrides) if overrides else base
        self._factory = app_factory
        # Only the default app's scenarios can refuse an upgrade (`upgrade:` in a scenario).
        self._upgrade: UpgradeAnswer | None = None
        self._server: Server | None = None
        self._transcripts: list[Transcript] = []
        self._ended: list[Transcript] = []
        self._recordings: list[Path] = []
        self._progress = asyncio.Event()
        self._endpoint = self.config.path_prefix.rstrip("/") + REALTIME_PATH

    # --- lifecycle ---

    async def start(self) -> Self:
        """Bind and start accepting connections; returns self.

        With the default app, what every session needs is loaded and built here, before
        the socket listens, so the first connection is as fast as the next ones.

        Raises:
            UsageError: already started, or no `app_factory` and `mock_server.app` missing.
            ScenarioError: `config.scenario` is unknown or invalid (default app only).
            OSError: the address cannot be bound.
        """
        if self._server is not None:
            raise UsageError("this MockServer is already running; call stop() first")
        if self._factory is None:
            self._factory = default_app_factory()
            self._upgrade = _default_upgrade_answer()
            _default_prepare()(self.config)
        cfg = self.config
        self._server = await _ws_serve(
            self._handle,
            cfg.host,
            cfg.port,
            process_request=self._process_request,
            select_subprotocol=_select_subprotocol,
            compression="deflate" if cfg.compression else None,
            ping_interval=cfg.ping_interval,
            ping_timeout=cfg.ping_timeout,
            close_timeout=cfg.close_timeout,
            max_size=cfg.max_message_size,
            create_connection=_Connection,
            logger=logger,
            backlog=BACKLOG,
        )
        return self

    async def stop(self) -> None:
        """Close every connection (1001) and stop listening; bounded by `close_timeout`.

        Connections still open after that are aborted. Idempotent.
        """
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        if await _waited(server.wait_closed(), self.config.close_timeout + 1.0):
            return
        logger.warning("connections did not close in time; aborting them")
        for connection in list(server.all_connections):
            connection.transport.abort()
        if await _waited(server.wait_closed(), 2.0):
            return
        for task in list(server.handler_tasks):
            task.cancel()
        await _waited(server.wait_closed(), 2.0)

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # --- addresses ---

    @property
    def host(self) -> str:
        """The host to connect to (loopback when bound to every interface)."""
        host = self.config.host
        if host in ("", "0.0.0.0", "::"):
            host = "127.0.0.1"
        return f"[{host}]" if ":" in host else host

    @property
    def port(self) -> int:
        """The bound port (the configured one before `start`)."""
        if self._server is None or not self._server.sockets:
            return self.config.port
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        """`ws://HOST:PORT{prefix}/v1/realtime`."""
        return f"ws://{self.host}:{self.port}{self._endpoint}"

    @property
    def base_url(self) -> str:
        """`http://HOST:PORT{prefix}/v1`: the `OPENAI_BASE_URL` for SDK clients."""
        return f"http://{self.host}:{self.port}{self._endpoint.removesuffix('/realtime')}"

    # --- sessions ---

    @property
    def transcripts(self) -> list[Transcript]:
        """Every session's transcript in connection order (live objects)."""
        return self._transcripts

    @property
    def recordings(self) -> list[Path]:
        """JSONL files written so far (with `config.record`)."""
        return self._recordings

    async def wait_for_sessions(
        self,
        n: int,
        timeout: float = 5.0,  # noqa: ASYNC109 - the test-helper API the brief names
        *,
        ended: bool = True,
    ) -> list[Transcript]:
        """Wait until `n` sessions have ended (or opened, with `ended=False`).

        Returns:
            The transcripts of those sessions, in the order they ended (or opened).

        Raises:
            TimeoutError: fewer than `n` within `timeout` seconds.
        """
        sessions = self._ended if ended else self._transcripts
        try:
            async with asyncio.timeout(timeout):
                while len(sessions) < n:
                    await self._progress.wait()
        except TimeoutError:
            state = "ended" if ended else "opened"
            raise TimeoutError(
                f"expected {n} sessions {state} within {timeout} s; {len(sessions)} did "
                f"(connections so far: {len(self._transcripts)})"
            ) from None
        return sessions[:n]

    def _notify(self) -> None:
        self._progress.set()
        self._progress = asyncio.Event()

    # --- websockets callbacks ---

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if urlsplit(request.path).path != self._endpoint:
            return connection.respond(HTTPStatus.NOT_FOUND, "Not Found\n")
        if self._upgrade is None:
            return None
        transcript = self._upgrade(_connect_request(connection, request), self.config)
        if transcript is None:
            return None
        # The scenario refuses the upgrade (`upgrade:`): an HTTP answer, no WebSocket.
        end = transcript.records[-1]
        self._transcripts.append(transcript)
        self._ended.append(transcript)
        self._notify()
        if self.config.record:
            self._write(transcript, len(self._transcripts), request_key=None)
        return connection.respond(HTTPStatus(end.code or 403), end.reason or "")

    async def _handle(self, connection: ServerConnection) -> None:
        assert self._factory is not None  # set by start()
        request = _connect_request(connection)
        try:
            app = self._factory(request, self.config)
        except Exception:
            logger.exception("app factory failed for %s", request.path)
            await connection.close(1011, "mock app could not start")
            return
        self._transcripts.append(app.transcript)
        number = len(self._transcripts)
        self._notify()
        try:
            await _Driver(cast(_Connection, connection), app, self.config).run()
        finally:
            await self._record(app, request, number)
            self._ended.append(app.transcript)
            self._notify()

    async def _record(self, app: App, request: ConnectRequest, number: int) -> None:
        if self.config.record:
            await asyncio.to_thread(self._write, app.transcript, number, request.api_key)

    def _write(self, transcript: Transcript, number: int, request_key: str | None) -> None:
        """Write one session's transcript under `--record` (keys masked)."""
        assert self.config.record is not None
        transcript.add_secrets(*self.config.api_keys, *self.config.ephemeral_keys, request_key)
        session_id = transcript.meta.get("session_id")
        stem = _UNSAFE_NAME.sub("_", session_id) if isinstance(session_id, str) else str(number)
        path = Path(self.config.record) / f"{stem}.jsonl"
        if path.exists():
            path = path.with_name(f"{stem}-{number}.jsonl")
        try:
            transcript.write_jsonl(path)
        except OSError:
            logger.exception("cannot record session %s to %s", number, path)
            return
        self._recordings.append(path)


def serve(
    config: MockConfig | None = None, *, app_factory: AppFactory | None = None, **overrides: Any
) -> MockServer:
    """A `MockServer` for `async with serve(port=0) as server:`.

    Without `config`, the port defaults to 0 (any free port), unlike `MockConfig`.
    """
    if config is None:
        overrides.setdefault("port", 0)
    return MockServer(config, app_factory=app_factory, **overrides)


def _default_upgrade_answer() -> UpgradeAnswer:
    """`mock_server.app.upgrade_answer`: the default app's scenarios may refuse upgrades."""
    from mock_server.app import upgrade_answer

    return upgrade_answer


def _default_prepare() -> Callable[[MockConfig], None]:
    """`mock_server.app.prepare`: warm-up at start (and refuse a bad `config.scenario`)."""
    from mock_server.app import prepare

    return prepare


def default_app_factory() -> AppFactory:
    """The factory of `mock_server.app` (`make_app`, else `MockApp`), imported now.

    Raises:
        UsageError: `mock_server.app` cannot be imported or has neither name.
    """
    for spec in DEFAULT_APPS[:-1]:
        try:
            return load_app_factory(spec)
        except UsageError:
            continue
    return load_app_factory(DEFAULT_APPS[-1])


def _select_subprotocol(connection: ServerConnection, offered: Any) -> Subprotocol | None:
    return SUBPROTOCOL if SUBPROTOCOL in offered else None


def _connect_request(
    connection: ServerConnection, request: Request | None = None
) -> ConnectRequest:
    request = request or connection.request
    assert request is not None  # the handler only runs after the handshake
    address = connection.remote_address
    remote = f"{address[0]}:{address[1]}" if isinstance(address, tuple) else str(address)
    return ConnectRequest.from_target(request.path, request.headers.raw_items(), remote=remote)


async def _waited(awaitable: Any, seconds: float) -> bool:
    try:
        async with asyncio.timeout(seconds):
            await awaitable
    except TimeoutError:
        return False
    return True
