"""Opening, reading, closing and reconnecting: the connection lifecycle of `RealtimeClient`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from . import events as ev
from .connection import (
    DEFAULT_URL,
    Auth,
    Compression,
    RealtimeConnection,
    build_url,
    connect,
    handshake_options,
)
from .errors import ClientError, ConnectionClosed, RealtimeAPIError, Timeout, UsageError
from .settings import ClientSettings, ReconnectPolicy
from .webrtc import Transport, WebRtcConnection, connect_webrtc

Connection = RealtimeConnection | WebRtcConnection

logger = logging.getLogger("client_reference.client")


class Lifecycle:
    """The socket side of `RealtimeClient`; subclasses implement the three hooks."""

    def __init__(
        self,
        url: str | None,
        *,
        model: str | None,
        api_key: str | None,
        auth: Auth,
        headers: Mapping[str, str] | None,
        settings: ClientSettings,
        reconnect: ReconnectPolicy | None,
        max_size: int | None,
        compression: Compression,
        transport: Transport = "websocket",
    ) -> None:
        build_url(url or DEFAULT_URL, model)  # UsageError now, not at connect time
        handshake_options(api_key, auth, headers)
        if transport not in ("websocket", "webrtc"):
            raise UsageError(f"transport={transport!r} must be 'websocket' or 'webrtc'")
        self._transport = transport
        if reconnect is not None and not isinstance(reconnect, ReconnectPolicy):
            raise UsageError(f"reconnect={reconnect!r} must be a ReconnectPolicy or None")
        self._connect_args: dict[str, Any] = {
            "url": url,
            "model": model,
            "api_key": api_key,
            "auth": auth,
            "headers": headers,
            "max_size": max_size,
            "compression": compression,
            "open_timeout": settings.open_timeout,
            "ping_interval": settings.ping_interval,
            "ping_timeout": settings.ping_timeout,
            "send_timeout": settings.send_timeout,
            "close_timeout": settings.close_timeout,
        }
        self._settings = settings
        self._reconnect = reconnect
        self._ids = ev.EventIds()
        self._conn: Connection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._stopped = asyncio.Event()
        self._final: ClientError | None = None
        self._closing = False
        self._config: dict[str, Any] | None = None
        self._session_expired = False
        self._attempts = 0
        self._opened_at = 0.0
        self.session: dict[str, Any] | None = None
        """The effective session object (from `session.created`, then `session.updated`)."""
        self.reconnects = 0
        """How many times a new session replaced an ended one."""

    # ------------------------------------------------------------- hooks
    async def _dispatch(self, event: dict[str, Any]) -> None:
        raise NotImplementedError

    def _fail_everything(self, error: ClientError) -> None:
        raise NotImplementedError

    async def _before_close(self) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------- public
    @property
    def connection(self) -> Connection | None:
        """The current connection (None while closed or reconnecting): a
        `RealtimeConnection`, or a `WebRtcConnection` with `transport="webrtc"`."""
        return self._conn

    @property
    def closed(self) -> ClientError | None:
        """Why the client stopped for good (a `ConnectionClosed` …), or None while usable."""
        return self._final

    async def connect(self) -> dict[str, Any]:
        """Open the WebSocket and wait for `session.created` (bounded).

        Returns:
            The session object of `session.created`.

        Raises:
            ConnectError, Timeout: the server could not be reached in time.
            ConnectionClosed: the server rejected the session (e.g. 3000 bad key, 4000
                beta header or unknown model); `.error` holds its `error` event.
        """
        if self._conn is not None or self._reader is not None:
            raise UsageError("already connected; close() first")
        self._closing, self._final, self._attempts = False, None, 0
        self._stopped.clear()
        await self._open()
        self._reader = asyncio.get_running_loop().create_task(self._read_loop())
        return self.session or {}

    async def close(self) -> None:
        """Close the session; pending calls and streams fail with `ConnectionClosed`."""
        self._closing = True
        await self._before_close()
        reader, self._reader = self._reader, None
        if self._conn is not None:
            await self._conn.close()  # the reader sees the close and ends
        elif reader is not None:
            reader.cancel()  # between sessions: stop the reconnect loop now
        if reader is not None and reader is not asyncio.current_task():
            done, _ = await asyncio.wait({reader}, timeout=self._settings.close_timeout)
            if not done:
                reader.cancel()
                await asyncio.wait({reader}, timeout=self._settings.close_timeout)
        self._conn = None
        if self._final is None:
            self._final = ConnectionClosed(1000, "", by_client=True)
        self._fail_everything(self._final)
        self._ready.set()
        self._stopped.set()

    async def wait_closed(self) -> ClientError:
        """Wait until the client stops for good (the server ended the session and no
        reconnect followed, or `close()` was called) and return why. Unbounded by design:
        bound it with `asyncio.timeout` if needed.
        """
        await self._stopped.wait()
        assert self._final is not None
        return self._final

    # ------------------------------------------------------------- internals
    def _remember_config(self, session: Mapping[str, Any]) -> None:
        self._config = _merge(self._config or {}, session)

    async def _connection(self) -> Connection:
        """The open connection, waiting (bounded) for a reconnect in progress."""
        if self._conn is not None:
            return self._conn
        if self._final is not None:
            raise copy_error(self._final)
        if self._reader is None:
            raise UsageError("not connected: use `async with RealtimeClient(...)` or connect()")
        try:
            async with asyncio.timeout(self._settings.reconnect_timeout):
                await self._ready.wait()
        except TimeoutError:
            raise Timeout("the reconnect in progress", self._settings.reconnect_timeout) from None
        if self._conn is not None:
            return self._conn
        raise copy_error(self._final or ConnectionClosed(1006, ""))

    async def _open(self) -> None:
        conn: Connection
        if self._transport == "webrtc":  # a fresh client secret and call each time
            conn = await connect_webrtc(**self._connect_args)
        else:
            conn = await connect(**self._connect_args)
        try:
            created = await _await_inline(conn, "session.created", self._settings)
            self.session = _dict(created.get("session"))
            if self._config is not None:
                update = ev.session_update(event_id=self._ids.next(), extra=self._config)
                updated = await _await_inline(conn, "session.updated", self._settings, update)
                self.session = _dict(updated.get("session"))
        except BaseException:
            await conn.close()
            raise
        self._conn = conn
        self._opened_at = asyncio.get_running_loop().time()
        self._ready.set()

    async def _read_loop(self) -> None:
        while (conn := self._conn) is not None:
            try:
                async for event in conn:
                    if _error_code(event) == "session_expired":
                        self._session_expired = True
                    await self._dispatch(event)
                closed = ConnectionClosed(conn.close_code or 1000, "", by_client=True)
            except ConnectionClosed as exc:
                closed = exc
            except Exception as exc:  # a bug of ours: fail every waiter loudly, never hang
                logger.exception("the client's reader failed")
                self._stop(ClientError(f"internal error in the client's reader: {exc!r}"))
                await conn.close()
                return
            if not await self._after_close(closed):
                return

    def _stop(self, error: ClientError) -> None:
        self._conn = None
        self._final = error
        self._fail_everything(error)
        self._ready.set()
        self._stopped.set()

    async def _after_close(self, closed: ConnectionClosed) -> bool:
        """Settle everything, then reconnect if the policy allows. True if reconnected."""
        self._conn = None
        self._ready.clear()
        self._fail_everything(closed)
        expired, self._session_expired = self._session_expired, False
        policy = self._reconnect
        retry = policy is not None and policy.should_retry(closed.code, session_expired=expired)
        if self._closing or closed.by_client or policy is None or not retry:
            self._stop(closed)
            return False
        return await self._reconnect_with(policy, closed)

    async def _reconnect_with(self, policy: ReconnectPolicy, closed: ConnectionClosed) -> bool:
        if asyncio.get_running_loop().time() - self._opened_at >= policy.healthy_after:
            self._attempts = 0
        last: ClientError = closed
        while self._attempts < policy.max_attempts and not self._closing:
            self._attempts += 1
            delay = policy.delay(self._attempts)
            logger.warning(
                "session ended (%s); reconnecting in %.2f s (attempt %d of %d)",
                last,
                delay,
                self._attempts,
                policy.max_attempts,
            )
            await asyncio.sleep(delay)
            try:
                await self._open()
            except ConnectionClosed as exc:
                last = exc
                if not policy.should_retry(exc.code):
                    break
            except ClientError as exc:
                last = exc
            else:
                self.reconnects += 1
                logger.warning("reconnected; the new session starts with an empty conversation")
                return True
        last.add_note(f"gave up reconnecting after {self._attempts} attempt(s)")
        self._stop(last)
        return False


async def _await_inline(
    conn: Connection,
    kind: str,
    settings: ClientSettings,
    send: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Before the reader runs: (send, then) read until `kind`, bounded."""
    timeout = settings.ack_timeout if send else settings.session_created_timeout
    event_id = send["event_id"] if send else None
    if send is not None:
        await conn.send(send)
    last_error: RealtimeAPIError | None = None
    try:
        async with asyncio.timeout(timeout):
            while True:
                event = await conn.recv()
                if event.get("type") == kind:
                    return event
                if event.get("type") == "error":
                    last_error = RealtimeAPIError.from_event(event)
                    if event_id is not None and last_error.event_id == event_id:
                        raise last_error
                    logger.info("server error while waiting for %s: %s", kind, last_error)
    except TimeoutError:
        if last_error is None:
            raise Timeout(kind, timeout) from None
        last_error.add_note(f"and no {kind} arrived within {timeout:g} s")
        raise last_error from None


def copy_error(error: ClientError) -> ClientError:
    """A fresh instance of a close or timeout error, so each waiter gets its own traceback."""
    if isinstance(error, ConnectionClosed):
        fresh: ClientError = ConnectionClosed(
            error.code, error.reason, by_client=error.by_client, error=error.error
        )
    elif isinstance(error, Timeout):
        fresh = Timeout(error.what, error.seconds)
    else:
        return error
    for note in getattr(error, "__notes__", ()):
        fresh.add_note(note)
    return fresh


def _merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        old = merged.get(key)
        both = isinstance(old, Mapping) and isinstance(value, Mapping)
        merged[key] = _merge(old, value) if both else value  # type: ignore[arg-type]
    return merged


def _dict(value: object) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _error_code(event: Mapping[str, Any]) -> object:
    if event.get("type") != "error":
        return None
    error = event.get("error")
    return error.get("code") if isinstance(error, Mapping) else None
