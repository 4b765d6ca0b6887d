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
from http import HTTPStatus
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self, cast
from urllib.parse import urlsplit

from websockets.asyncio.server import Server, ServerConnection
from websockets.asyncio.server import serve as _ws_serve
from websockets.exceptions import ConnectionClosed, ProtocolError
from websockets.frames import Close as CloseFrame
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

from conformance.protocol.errors import UsageError
from conformance.transcript import Transcript
from mock_server.actions import Action, Close, Drop, SendBytes, SendText, SetPingAnswer, Stall
from mock_server.config import MockConfig
from mock_server.interfaces import App, AppFactory, load_app_factory
from mock_server.request import ConnectRequest
from mock_server.settings import merge

logger = logging.getLogger(__name__)

REALTIME_PATH: Final = "/v1/realtime"
SUBPROTOCOL: Final = Subprotocol("realtime")
# The app module's own factory picks scenarios; `MockApp` itself is the fallback.
DEFAULT_APPS: Final = ("mock_server.app:make_app", "mock_server.app:MockApp")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")


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
        self._server: Server | None = None
        self._transcripts: list[Transcript] = []
        self._ended: list[Transcript] = []
        self._recordings: list[Path] = []
        self._progress = asyncio.Event()
        self._endpoint = self.config.path_prefix.rstrip("/") + REALTIME_PATH

    # --- lifecycle ---

    async def start(self) -> Self:
        """Bind and start accepting connections; returns self.

        Raises:
            UsageError: already started, or no `app_factory` and `mock_server.app` missing.
            OSError: the address cannot be bound.
        """
        if self._server is not None:
            raise UsageError("this MockServer is already running; call stop() first")
        if self._factory is None:
            self._factory = default_app_factory()
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
        return None

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
        if not self.config.record:
            return
        transcript = app.transcript
        transcript.add_secrets(*self.config.api_keys, *self.config.ephemeral_keys, request.api_key)
        session_id = transcript.meta.get("session_id")
        stem = _UNSAFE_NAME.sub("_", session_id) if isinstance(session_id, str) else str(number)
        path = Path(self.config.record) / f"{stem}.jsonl"
        if path.exists():
            path = path.with_name(f"{stem}-{number}.jsonl")
        try:
            await asyncio.to_thread(transcript.write_jsonl, path)
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


def _connect_request(connection: ServerConnection) -> ConnectRequest:
    request = connection.request
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


class _Connection(ServerConnection):
    """A server connection with switchable pong answers and a bound on stuck writes.

    `answer_pings` False leaves the peer's pings unanswered; a peer that reads nothing
    for `send_timeout` seconds while we write is dropped.
    """

    def __init__(self, protocol: ServerProtocol, server: Server, **kwargs: Any) -> None:
        super().__init__(protocol, server, **kwargs)
        self.answer_pings = True
        self.send_timeout: float | None = None
        self._stuck: asyncio.TimerHandle | None = None
        send_frame = protocol.send_frame

        def send_unless_muted_pong(frame: Frame) -> None:
            # The sans-I/O protocol queues a pong for every ping it parses; Stall(pings=False)
            # and SetPingAnswer(False) need it not to.
            if frame.opcode is not Opcode.PONG or self.answer_pings:
                send_frame(frame)

        protocol.send_frame = send_unless_muted_pong  # type: ignore[method-assign]

    # Flow control: asyncio pauses writing when the peer stops reading. Every wait on the
    # peer (sends, pings, closing) then blocks; bound them all here, at no cost per send.
    def pause_writing(self) -> None:
        super().pause_writing()
        if self.send_timeout is not None and self._stuck is None:
            self._stuck = self.loop.call_later(self.send_timeout, self._give_up)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._stuck is not None:
            self._stuck.cancel()
            self._stuck = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._stuck is not None:
            self._stuck.cancel()
            self._stuck = None
        super().connection_lost(exc)

    def _give_up(self) -> None:
        self._stuck = None
        logger.warning("peer read nothing for %s s; dropping it", self.send_timeout)
        self.transport.abort()


class _Driver:
    """Moves one connection's frames into its app and performs the actions it returns.

    Performing a batch holds a FIFO lock, so batches go out whole and in the order the
    app produced them even when a send waits for the peer. One timer handle is armed
    for `app.next_timer()` and re-armed after every call.
    """

    def __init__(self, connection: _Connection, app: App, config: MockConfig) -> None:
        self._ws = connection
        self._app = app
        connection.send_timeout = config.send_timeout
        self._loop = asyncio.get_running_loop()
        self._t0 = self._loop.time()
        self._last_ms = 0.0
        self._lock = asyncio.Lock()
        self._timer_due = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None
        self._armed_ms: float | None = None
        self._stalled = False  # Stall: keep the socket, send nothing more
        self._finished = False  # Close or Drop performed, or the app failed

    def _now(self) -> float:
        now = (self._loop.time() - self._t0) * 1000.0
        if now < self._last_ms:
            return self._last_ms  # monotonic even after a timer passed its own deadline
        self._last_ms = now
        return now

    async def run(self) -> None:
        """Drive the app until the connection is gone, then report `connection_lost`."""
        timer_task = asyncio.create_task(self._timer_loop())
        try:
            if await self._step(self._app.opened):
                await self._read_loop()
        finally:
            self._disarm()
            timer_task.cancel()
            await asyncio.wait([timer_task])
            self._lost()

    async def _read_loop(self) -> None:
        # The hot path (every client frame): no coroutine, no lock, no star-args unless
        # the app asked for something.
        recv, now, rearm = self._ws.recv, self._now, self._rearm
        app = self._app
        receive_text, receive_bytes, drain = (
            app.receive_text,
            app.receive_bytes,
            app.actions_to_perform,
        )
        while True:
            try:
                message = await recv()
            except ConnectionClosed:
                return
            try:
                if isinstance(message, str):
                    receive_text(message, now())
                else:
                    receive_bytes(message, now())
                actions = drain()
            except Exception:
                logger.exception("mock app failed; closing with 1011")
                await self._fail()
                return
            if actions:
                await self._perform(actions)
            rearm()

    async def _timer_loop(self) -> None:
        while True:
            await self._timer_due.wait()
            self._timer_due.clear()
            self._timer, self._armed_ms = None, None
            deadline = self._app.next_timer()
            if deadline is None or self._now() + 0.001 < deadline:
                self._rearm()  # fired a hair early, or the deadline moved
            else:
                self._last_ms = max(self._last_ms, deadline)
                if not await self._step(self._app.handle_timer):
                    return

    async def _step(self, method: Any) -> bool:
        """Call `method(now_ms)` (opened, handle_timer) and perform; False if it raised."""
        try:
            method(self._now())
            actions = self._app.actions_to_perform()
        except Exception:
            logger.exception("mock app failed; closing with 1011")
            await self._fail()
            return False
        if actions:
            await self._perform(actions)
        self._rearm()
        return True

    async def _perform(self, actions: list[Action]) -> None:
        # One batch at a time, in the order the app produced them (asyncio.Lock is FIFO).
        async with self._lock:
            if self._stalled or self._finished:
                return
            try:
                await self._perform_all(actions)
            except ConnectionClosed:
                self._finished = True
            except UsageError:
                logger.exception("mock app asked for something impossible; closing with 1011")
                await self._close_with_error()

    async def _perform_all(self, actions: list[Action]) -> None:
        ws = self._ws
        for action in actions:
            if self._stalled or self._finished:
                return  # whatever follows Stall, Close or Drop is discarded
            if isinstance(action, SendText):
                await ws.send(action.text)
            elif isinstance(action, SendBytes):
                await ws.send(action.data)
            elif isinstance(action, Close):
                await self._close(action.code, action.reason)
            elif isinstance(action, Drop):
                self._drop()
            elif isinstance(action, Stall):
                self._stall(action.pings)
            elif isinstance(action, SetPingAnswer):
                ws.answer_pings = action.answer
            else:
                raise UsageError(f"unknown action {action!r} from the mock app")

    async def _close(self, code: int, reason: str) -> None:
        reason = reason.encode()[:123].decode(errors="ignore")  # control frames: 125 bytes
        try:
            CloseFrame(code, reason).check()
        except ProtocolError:
            logger.warning("close code %s cannot be sent; dropping the connection instead", code)
            self._drop()
            return
        self._finished = True
        self._disarm()
        await self._ws.close(code, reason)  # bounded by close_timeout

    def _drop(self) -> None:
        self._finished = True
        self._disarm()
        self._ws.transport.abort()

    def _stall(self, pings: bool) -> None:
        self._stalled = True
        self._disarm()
        if not pings:
            self._ws.answer_pings = False
            if self._ws.keepalive_task is not None:
                self._ws.keepalive_task.cancel()

    async def _fail(self) -> None:
        async with self._lock:
            await self._close_with_error()

    async def _close_with_error(self) -> None:
        if self._finished:
            return
        self._finished = True
        self._disarm()
        try:
            await self._ws.close(1011, "mock app error")
        except Exception:  # the socket may already be gone; nothing else to do
            self._ws.transport.abort()

    def _rearm(self) -> None:
        if self._stalled or self._finished:
            return
        when = self._app.next_timer()
        if when == self._armed_ms:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._armed_ms = when
        if when is not None:
            self._timer = self._loop.call_at(self._t0 + when / 1000.0, self._timer_due.set)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._armed_ms = None, None

    def _lost(self) -> None:
        received = self._ws.protocol.close_rcvd
        code, reason = (received.code, received.reason) if received else (None, "")
        try:
            self._app.connection_lost(code, reason, self._now())
            self._app.actions_to_perform()  # nothing can be sent any more
        except Exception:
            logger.exception("mock app failed in connection_lost")
