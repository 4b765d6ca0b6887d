"""The asyncio adapter: real WebSocket connections, each driven into one sans-I/O `App`.

    async with serve(port=0) as server:          # or MockServer(config=..., app_factory=...)
        client = OpenAI(base_url=server.base_url)  # ws://127.0.0.1:PORT/v1/realtime
        ...

Like the live server, every valid upgrade on `{path_prefix}/v1/realtime` (and
`{path_prefix}/v1/realtime/translations`) completes with 101 (problems are reported
in-band by the app). Every other request, on any path, is answered by the REST handler
(`mock_server/rest.py`: `POST /v1/realtime/client_secrets`, ..., JSON 404 elsewhere).
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
import time
import weakref
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self, cast
from urllib.parse import urlsplit

try:  # imported now: out of file descriptors, an import would fail
    import resource
except ImportError:  # pragma: no cover - not on Unix
    resource = None  # type: ignore[assignment]

from websockets.asyncio.server import Server, ServerConnection
from websockets.asyncio.server import serve as _ws_serve
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from conformance.protocol.errors import UsageError
from conformance.transcript import Transcript
from mock_server._connection import Connection as _Connection
from mock_server._driver import Driver as _Driver
from mock_server._http import HttpConnection, is_upgrade, not_found, respond, to_response
from mock_server._log import add_log_secrets, logger
from mock_server._recorder import Recording, check_folder, drained
from mock_server.calls import Call, CallRegistry, run_sideband
from mock_server.config import MockConfig
from mock_server.interfaces import AppFactory, load_app_factory
from mock_server.request import ConnectRequest
from mock_server.rest import RestHandler, call_not_found
from mock_server.settings import merge
from mock_server.tls import TlsFiles, local_tls, server_context, trust_env

REALTIME_PATH: Final = "/v1/realtime"
TRANSLATIONS: Final = "/translations"  # `/v1/realtime/translations` (mock_server/translation.py)
SUBPROTOCOL: Final = Subprotocol("realtime")
# The app module's own factory picks scenarios; `MockApp` itself is the fallback.
DEFAULT_APPS: Final = ("mock_server.app:make_app", "mock_server.app:MockApp")
# The listen backlog: the kernel's limit (net.core.somaxconn caps it), like production
# servers, instead of asyncio's 100, so a burst of clients is queued, not refused.
BACKLOG: Final = max(socket.SOMAXCONN, 1024)
# Recording paths listed in `recordings` by a bounded server (keep_sessions/keep_bytes).
RECORDINGS_KEPT: Final = 1000
UpgradeAnswer = Callable[[ConnectRequest, MockConfig], Transcript | None]


class MockServer:
    """A running mock Realtime server on loopback; one `App` per connection.

    Use as `async with MockServer(...) as server:` or call `start()` / `stop()`.
    `transcripts` lists the sessions' `Transcript`s in connection order: every one by
    default; with `config.keep_sessions` / `config.keep_bytes`, the live ones and the most
    recently ended ones within those bounds (a long-running server's memory stays flat).
    """

    def __init__(
        self,
        config: MockConfig | None = None,
        *,
        app_factory: AppFactory | None = None,
        tls: bool | TlsFiles = False,
        rest: RestHandler | None = None,
        **overrides: Any,
    ) -> None:
        """Configure (does not listen yet).

        Args:
            config: the server configuration; `MockConfig()` by default.
            app_factory: builds each connection's app; `mock_server.app.MockApp` by default
                (imported when the server starts).
            tls: serve `wss://` and `https://`: True with the cached local CA's certificate
                (`mock_server.tls.local_tls`, made at `start`), or these files
                (`mock_server.tls.own_tls`); `tls_env` then says what clients must trust.
            rest: answers plain HTTP requests (`POST /v1/realtime/client_secrets`, ...:
                `mock_server.rest`); `RestHandler(config)` by default (a test may give
                one with its own clock).
            **overrides: `MockConfig` fields replacing those of `config`, e.g. `port=0`.

        Raises:
            UsageError: an override is not a `MockConfig` field or has the wrong type.
        """
        base = config or MockConfig()
        self.config: MockConfig = merge(base, overrides) if overrides else base
        _check_bounds(self.config)
        add_log_secrets(*self.config.api_keys, *self.config.ephemeral_keys)
        if self.config.secret_key:
            add_log_secrets(self.config.secret_key)
        self.rest = rest or RestHandler(self.config)
        # WebRTC/SIP calls (mock_server/calls.py): made by POST /v1/realtime/calls, ended
        # by .../hangup, joined by sideband WebSockets (`?call_id=`).
        self.calls: CallRegistry = self.rest.calls or CallRegistry()
        self.rest.calls = self.calls
        # SIP (mock_server/sip.py): calls/{id}/accept|reject|refer and the mock-only
        # POST {prefix}/mock/sip/incoming that simulates an incoming call.
        from mock_server.sip import SipCalls

        self.sip = SipCalls(self)
        self.sip.install()
        self._factory = app_factory
        self._tls = tls
        self._tls_files: TlsFiles | None = tls if isinstance(tls, TlsFiles) else None
        self._ssl: ssl.SSLContext | None = None
        # Only the default app's scenarios can refuse an upgrade (`upgrade:` in a scenario).
        self._upgrade: UpgradeAnswer | None = None
        self._server: Server | None = None
        # Kept sessions by connection number (1, 2, ...): in connection order, and in the
        # order they ended. Counters count every session, kept or not.
        self._sessions: dict[int, Transcript] = {}
        self._ended: dict[int, Transcript] = {}
        self._sizes: dict[int, int] = {}  # approx_bytes of kept ended sessions (keep_bytes)
        self._kept_bytes = 0
        self._opened_count = 0
        self._ended_count = 0
        self._recordings: list[Path] = []
        self._record_to: Path | None = None  # the checked `config.record` folder
        self._accept_gate: _AcceptErrors | None = None
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
        self._record_to = check_folder(cfg.record) if cfg.record else None
        if self._tls is not False:
            self._tls_files = self._tls_files or local_tls()
            self._ssl = server_context(self._tls_files)
        if self.rest.webrtc is None:
            from mock_server._webrtc import backend_for

            self.rest.webrtc = backend_for(self)  # None without aiortc: /calls says so
        self._accept_gate = _AcceptErrors.attach(asyncio.get_running_loop())
        try:
            self._server = await self._listen(cfg)
        except BaseException:
            self._release()
            raise
        return self

    async def _listen(self, cfg: MockConfig) -> Server:
        return await _ws_serve(
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
            create_connection=HttpConnection,
            logger=logger,
            backlog=BACKLOG,
            ssl=self._ssl,
        )

    def _release(self) -> None:
        """Give the loop its exception handler back (after the last server on it)."""
        gate, self._accept_gate = self._accept_gate, None
        if gate is not None:
            gate.detach()

    async def stop(self) -> None:
        """Close every connection (1001) and stop listening; bounded by `close_timeout`.

        Connections still open after that are aborted. Idempotent.
        """
        server, self._server = self._server, None
        if server is None:
            return
        self.calls.end_all()
        closing = getattr(self.rest.webrtc, "aclose", None)
        if closing is not None:
            await _waited(closing(), self.config.close_timeout + 1.0)
        try:
            await self._close(server)
            if self._record_to is not None:
                await drained()  # huge frames still queued by the recorder
        finally:
            self._release()

    async def _close(self, server: Server) -> None:
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
        """`ws://HOST:PORT{prefix}/v1/realtime` (`wss://` with TLS)."""
        scheme = "wss" if self._tls is not False else "ws"
        return f"{scheme}://{self.host}:{self.port}{self._endpoint}"

    @property
    def base_url(self) -> str:
        """`http://HOST:PORT{prefix}/v1` (`https://` with TLS): the `OPENAI_BASE_URL`."""
        scheme = "https" if self._tls is not False else "http"
        return f"{scheme}://{self.host}:{self.port}{self._endpoint.removesuffix('/realtime')}"

    @property
    def tls_env(self) -> dict[str, str]:
        """With TLS, the variables that make clients trust it (`NODE_EXTRA_CA_CERTS`,
        `SSL_CERT_FILE`: `mock_server.tls.trust_env`); {} without TLS or before `start`."""
        return trust_env(self._tls_files) if self._tls_files is not None else {}

    # --- sessions ---

    @property
    def transcripts(self) -> list[Transcript]:
        """The kept sessions' transcripts in connection order (a new list of live objects).

        Every session by default; with `keep_sessions` / `keep_bytes`, the live sessions
        and the most recently ended ones within those bounds.
        """
        return list(self._sessions.values())

    @property
    def sessions_opened(self) -> int:
        """How many sessions this server has opened (kept in memory or not)."""
        return self._opened_count

    @property
    def sessions_ended(self) -> int:
        """How many sessions have ended (kept in memory or not)."""
        return self._ended_count

    @property
    def recordings(self) -> list[Path]:
        """JSONL files completed so far (with `config.record`), in the order sessions ended.

        A bounded server (`keep_sessions` / `keep_bytes`) lists the last 1000.
        """
        return self._recordings

    async def wait_for_sessions(
        self,
        n: int,
        timeout: float = 5.0,  # noqa: ASYNC109 - the test-helper API the brief names
        *,
        ended: bool = True,
    ) -> list[Transcript]:
        """Wait until `n` sessions have ended (or opened, with `ended=False`).

        A session's recording (`config.record`) is complete once it counts as ended.

        Returns:
            The transcripts of the first `n` of those sessions, in the order they ended
            (or opened), that are still kept (all of them unless the server is bounded).

        Raises:
            TimeoutError: fewer than `n` within `timeout` seconds.
        """

        def count() -> int:
            return self._ended_count if ended else self._opened_count

        try:
            async with asyncio.timeout(timeout):
                while count() < n:
                    await self._progress.wait()
        except TimeoutError:
            state = "ended" if ended else "opened"
            raise TimeoutError(
                f"expected {n} sessions {state} within {timeout} s; {count()} did "
                f"(connections so far: {self._opened_count})"
            ) from None
        sessions = self._ended if ended else self._sessions
        skipped = (self._ended_count if ended else self._opened_count) - len(sessions)
        return list(sessions.values())[: max(n - skipped, 0)]

    def _notify(self) -> None:
        self._progress.set()
        self._progress = asyncio.Event()

    # --- websockets callbacks ---

    def _process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | Awaitable[Response] | None:
        # issue 14: plain HTTP (REST, or an upgrade elsewhere) gets a JSON answer.
        if not is_upgrade(request):
            return respond(connection, request, self.rest)
        # issue 13 (translation sessions): the translations endpoint is served too.
        path = urlsplit(request.path).path
        if path not in (self._endpoint, self._endpoint + TRANSLATIONS):
            return not_found(request.method, path)  # no WebSocket there
        call_id = _connect_request(connection, request).call_id
        if call_id is not None and self._sideband_call(call_id) is None:
            return to_response(call_not_found(call_id))  # issue 16: a sideband needs a call
        if self._upgrade is None:
            return None
        transcript = self._upgrade(_connect_request(connection, request), self.config)
        if transcript is None:
            return None
        # The scenario refuses the upgrade (`upgrade:`): an HTTP answer, no WebSocket.
        end = transcript.records[-1]
        number = self._opened(transcript)
        if self._record_to is not None:
            self._recorded(Recording.open(self._record_to, transcript, number))
        self._end(number, transcript)
        return connection.respond(HTTPStatus(end.code or 403), end.reason or "")

    def _sideband_call(self, call_id: str) -> Any:
        """The live call a sideband `?call_id=` joins (its session runs), or None."""
        call = self.calls.live(call_id)
        return call if call is not None and call.driver is not None else None

    def make_call_app(self, call: Call) -> Any:
        """The app of a call's session: the default app's with the call's transport and
        `session` (`mock_server.app.make_app`); a custom `app_factory`'s as it makes it."""
        assert call.request is not None
        assert self._factory is not None
        from mock_server import app as default

        if self._factory in (default.make_app, default.MockApp):
            return default.make_app(
                call.request, self.config, transport=call.kind, session=call.session
            )
        return self._factory(call.request, self.config)

    def track_session(self, transcript: Transcript) -> Callable[[], None]:
        """Count (and record, with `config.record`) a session that is not one WebSocket
        connection (a WebRTC or SIP call); call what it returns when the session ends."""
        number = self._opened(transcript)
        folder = self._record_to
        recording = Recording.open(folder, transcript, number) if folder is not None else None

        def ended() -> None:
            if recording is not None:
                self._recorded(recording)
            self._end(number, transcript)

        return ended

    async def _handle(self, connection: ServerConnection) -> None:
        assert self._factory is not None  # set by start()
        request = _connect_request(connection)
        if request.call_id is not None:
            call = self._sideband_call(request.call_id)
            if call is not None and await run_sideband(
                cast(_Connection, connection), call, request, self.config
            ):
                return
            if call is None:  # the call ended between the upgrade and now
                await connection.close(1000, "call ended")
                return
        try:
            app = self._factory(request, self.config)
        except Exception:
            logger.exception("app factory failed for %s", request.path)
            await connection.close(1011, "mock app could not start")
            return
        transcript = app.transcript
        transcript.add_secrets(request.api_key)
        if self.config.transcript_max_bytes is not None:
            transcript.max_bytes = self.config.transcript_max_bytes
        number = self._opened(transcript)
        folder = self._record_to
        recording = Recording.open(folder, transcript, number) if folder is not None else None
        try:
            await _Driver(cast(_Connection, connection), app, self.config).run()
        finally:
            if recording is not None:
                self._recorded(recording)
            self._end(number, transcript)

    def _opened(self, transcript: Transcript) -> int:
        self._opened_count += 1
        number = self._opened_count
        self._sessions[number] = transcript
        self._notify()
        return number

    def _recorded(self, recording: Recording) -> None:
        path = recording.close()
        if path is not None:
            self._recordings.append(path)
            if self._bounded() and len(self._recordings) > RECORDINGS_KEPT:
                del self._recordings[: len(self._recordings) - RECORDINGS_KEPT]

    def _end(self, number: int, transcript: Transcript) -> None:
        """Count the session as ended; drop the oldest ended ones beyond the bounds."""
        self._ended_count += 1
        self._ended[number] = transcript
        cfg = self.config
        if cfg.keep_bytes is not None:
            size = transcript.approx_bytes()
            self._sizes[number] = size
            self._kept_bytes += size
        while self._ended and (
            (cfg.keep_sessions is not None and len(self._ended) > cfg.keep_sessions)
            or (cfg.keep_bytes is not None and self._kept_bytes > cfg.keep_bytes)
        ):
            oldest = next(iter(self._ended))
            del self._ended[oldest]
            del self._sessions[oldest]
            self._kept_bytes -= self._sizes.pop(oldest, 0)
        self._notify()

    def _bounded(self) -> bool:
        return self.config.keep_sessions is not None or self.config.keep_bytes is not None


def serve(
    config: MockConfig | None = None,
    *,
    app_factory: AppFactory | None = None,
    tls: bool | TlsFiles = False,
    rest: RestHandler | None = None,
    **overrides: Any,
) -> MockServer:
    """A `MockServer` for `async with serve(port=0) as server:` (`tls=True`: `wss://`).

    Without `config`, the port defaults to 0 (any free port), unlike `MockConfig`.
    """
    if config is None:
        overrides.setdefault("port", 0)
    return MockServer(config, app_factory=app_factory, tls=tls, rest=rest, **overrides)


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


def _check_bounds(config: MockConfig) -> None:
    for name in ("keep_sessions", "keep_bytes"):
        value = getattr(config, name)
        if value is not None and value < 0:
            raise UsageError(f"{name} must be 0 or more (or none: keep every session), got {value}")


_ACCEPT_MESSAGE: Final = "socket.accept() out of system resource"
_OUT_OF: Final = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_QUIET: Final = 1.0  # seconds without an accept error that end a burst


class _AcceptErrors:
    """One line per burst of accept errors instead of one traceback per try.

    Over the file-descriptor limit asyncio's accept loop tries `backlog` times per tick
    and reports each failure to the loop's exception handler (a traceback each: 160,000
    lines a minute). This handler, one per loop while a `MockServer` runs on it, logs the
    first failure of a burst, counts the rest, and logs the count once no accept has
    failed for a second; every other context goes to the handler it replaced.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._previous = loop.get_exception_handler()
        self._users = 0
        self._count = 0
        self._first = 0.0
        self._last = 0.0
        self._error = ""
        self._timer: asyncio.TimerHandle | None = None

    @classmethod
    def attach(cls, loop: asyncio.AbstractEventLoop) -> _AcceptErrors:
        gate = _GATES.get(loop)
        if gate is None or loop.get_exception_handler() is not gate:
            gate = _GATES[loop] = cls(loop)
            loop.set_exception_handler(gate)
        gate._users += 1
        return gate

    def detach(self) -> None:
        self._users -= 1
        if self._users > 0:
            return
        self._end_burst()
        if self._loop.get_exception_handler() is self:
            self._loop.set_exception_handler(self._previous)
        if _GATES.get(self._loop) is self:
            del _GATES[self._loop]

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if (
            context.get("message") == _ACCEPT_MESSAGE
            and isinstance(exc, OSError)
            and exc.errno in _OUT_OF
        ):
            self._counted(exc)
        elif self._previous is not None:
            self._previous(loop, context)
        else:
            loop.default_exception_handler(context)

    def _counted(self, exc: OSError) -> None:
        now = time.monotonic()
        self._last = now
        self._count += 1
        if self._count > 1:
            return
        self._first = now
        self._error = f"[Errno {exc.errno}] {exc.strerror}"
        logger.error(
            "cannot accept connections: %s%s; new connections wait in the listen backlog "
            "and are accepted once descriptors are free (close some, or raise `ulimit -n`); "
            "further failures are counted, not logged",
            self._error,
            _fd_limit(),
        )
        self._timer = self._loop.call_later(_QUIET, self._check)

    def _check(self) -> None:
        self._timer = None
        if self._count and time.monotonic() - self._last < _QUIET:
            self._timer = self._loop.call_later(_QUIET, self._check)
            return
        self._end_burst()

    def _end_burst(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._count:
            return
        logger.warning(
            "accept failed %d times in %.1f s (%s); no failure for %.0f s since",
            self._count,
            self._last - self._first,
            self._error,
            _QUIET,
        )
        self._count = 0


_GATES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _AcceptErrors] = (
    weakref.WeakKeyDictionary()
)


def _fd_limit() -> str:
    if resource is None:  # pragma: no cover - not on Unix
        return ""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return f" (the file-descriptor limit, ulimit -n, is {soft})"
