"""`EventConnection`: the event side both transports share (WebSocket and WebRTC).

Everything above the wire lives here, once: the sans-I/O core
(`conformance.protocol.Session(Side.CLIENT)`) that checks our sends and the server's
events, the queue of received events, `recv()` with its bounded wait, `async for` (ending
quietly only after our own `close()`), the last server `error` kept for the close, and the
close bookkeeping. A transport supplies only how frames arrive (`_wait_frames`, feeding
`_received`) and leave (its `send` writes `_encode`'s text), and how it closes.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Mapping
from typing import Any, ClassVar, Self

from conformance import _json
from conformance.protocol import Finding, Session, SessionState, Side

from .errors import ConnectionClosed, RealtimeAPIError, Timeout

__all__ = ["EventConnection", "decode_event"]


def decode_event(text: str) -> tuple[dict[str, Any] | None, list[Finding]]:
    """The core's frame decoder, with orjson."""
    try:
        value = _json.loads(text)
    except _json.JSONDecodeError as exc:
        return None, [Finding(code="invalid_json", message=f"Invalid event: {exc}")]
    if not isinstance(value, dict):
        return None, [Finding(code="invalid_event", message="Expected a JSON object.")]
    return value, []


class EventConnection:
    """The events of one Realtime connection: `recv()`, `async for`, `session`, `findings`.

    Subclasses implement `_wait_frames` (wait until `_received` was fed, or raise
    `ConnectionClosed`), `send` (check `_closed`, write `_encode(event)`) and `close`.
    """

    _log: ClassVar[logging.Logger] = logging.getLogger(__name__)
    """Where a server event that broke a rule is logged (each transport's module logger)."""

    def __init__(self) -> None:
        self._session = Session(Side.CLIENT, decode=decode_event, encode=_json.dumps)
        self._pending: deque[dict[str, Any]] = deque()
        self._closed: ConnectionClosed | None = None
        self._closing = False
        self._last_error: RealtimeAPIError | None = None
        self.findings: list[Finding] = []
        """Every protocol rule the server broke on this connection, in order."""

    @property
    def session(self) -> Session:
        """The sans-I/O protocol state (`state`, `active_response_id`, `response_pending`)."""
        return self._session

    @property
    def state(self) -> SessionState:
        """CONNECTING until `session.created` arrives, then OPEN, then CLOSED."""
        return self._session.state

    async def recv(
        self,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - the websockets-style recv(timeout=)
    ) -> dict[str, Any]:
        """Return the next server event.

        Args:
            timeout: seconds to wait; None waits until an event or a close (on a WebSocket
                a dead peer is still detected by keepalive pings within ping_interval +
                ping_timeout).

        Raises:
            ConnectionClosed: the connection closed, or the call ended (code and reason
                attached).
            Timeout: no event within `timeout`.
        """
        if not self._pending:
            try:
                async with asyncio.timeout(timeout):
                    while not self._pending:
                        await self._wait_frames()
            except TimeoutError:
                raise Timeout("the next server event", timeout or 0.0) from None
        event = self._pending.popleft()
        self._last_error = RealtimeAPIError.from_event(event) if _is_error(event) else None
        return event

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> dict[str, Any]:
        """Next event; the iteration ends quietly only after our own `close()`."""
        try:
            return await self.recv()
        except ConnectionClosed as exc:
            if exc.by_client:
                raise StopAsyncIteration from None
            raise

    # ------------------------------------------------------------ for the transports
    async def _wait_frames(self) -> None:
        """Wait for more frames (fed to `_received`); raise `ConnectionClosed` at the end."""
        raise NotImplementedError

    def _received(self, frame: str | bytes) -> None:
        """Feed one frame to the core: queue its events, keep and log the rules it broke."""
        if isinstance(frame, str):
            self._session.receive_text(frame)
        else:
            self._session.receive_bytes(frame)
        for received in self._session.events_received():
            if received.findings:
                self.findings.extend(received.findings)
                for finding in received.findings:
                    self._log.warning("server event #%d broke a rule: %s", received.index, finding)
            if received.event is not None:
                self._pending.append(received.event)

    def _encode(self, event: Mapping[str, Any]) -> str:
        """The text of one client event, through the core.

        Raises:
            LocalProtocolError: the event is illegal now.
        """
        text = self._session.send(event)
        self._session.data_to_send()  # send() returned the text; drop the core's copy
        return text

    def _end(self, code: int, reason: str) -> None:
        """Record the end of the connection, once (the first cause wins)."""
        if self._closed is None:
            self._session.connection_closed()
            self._closed = ConnectionClosed(
                code, reason, by_client=self._closing, error=self._last_error
            )

    def _closed_copy(self) -> ConnectionClosed:
        # A fresh exception per raise, so tracebacks of different waiters never mix.
        closed = self._closed
        assert closed is not None
        return ConnectionClosed(
            closed.code, closed.reason, by_client=closed.by_client, error=closed.error
        )


def _is_error(event: Mapping[str, Any]) -> bool:
    return event.get("type") == "error"
