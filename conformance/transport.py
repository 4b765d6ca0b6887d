"""`InMemoryTransport`: drive a sans-I/O mock app with no sockets, on a virtual clock.

The httpx `MockTransport` idea: everything above the socket (scenarios, checks, the
reference client's logic, property tests) can run against the mock in-process. Paced
streams and timers run instantly: when nothing is queued, `recv()` jumps the virtual
clock to the app's next timer (never past the caller's deadline).
"""

from __future__ import annotations

import base64
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from . import _json
from .protocol import ManualClock


class _AppLike(Protocol):
    def opened(self, now_ms: float) -> None: ...
    def receive_text(self, text: str, now_ms: float) -> None: ...
    def receive_bytes(self, data: bytes, now_ms: float) -> None: ...
    def handle_timer(self, now_ms: float) -> None: ...
    def next_timer(self) -> float | None: ...
    def actions_to_perform(self) -> list[Any]: ...
    def connection_lost(self, code: int | None, reason: str, now_ms: float) -> None: ...


@dataclass(frozen=True, slots=True)
class Closed:
    """The server ended the connection: a close frame (`code`), or a drop (`code` None)."""

    code: int | None
    reason: str = ""


class InMemoryTransport:
    """A client's view of one mock connection: send text, receive frames, see the close."""

    def __init__(self, app: _AppLike, *, clock: ManualClock | None = None) -> None:
        self.app = app
        self.clock = clock or ManualClock()
        self.closed: Closed | None = None
        self.stalled = False
        self._inbox: deque[str | bytes] = deque()
        self.app.opened(self.clock.now_ms())
        self._perform()

    def send(self, event: dict[str, Any] | str) -> None:
        """Send one client event (a dict is serialised) to the app."""
        if self.closed is not None:
            raise ConnectionError(f"cannot send: the server closed the connection ({self.closed})")
        text = event if isinstance(event, str) else _json.dumps(event)
        self.app.receive_text(text, self.clock.now_ms())
        self._perform()

    def send_bytes(self, data: bytes) -> None:
        """Send one binary frame."""
        self.app.receive_bytes(data, self.clock.now_ms())
        self._perform()

    def recv(self, *, within_ms: float = 60_000.0) -> str | bytes | Closed | None:
        """The next server frame, the close, or None if nothing comes within `within_ms`."""
        deadline = self.clock.now_ms() + within_ms
        while not self._inbox:
            if self.closed is not None:
                return self.closed
            due = self.app.next_timer()
            if due is None or due > deadline or self.stalled:
                self.clock.set(deadline)
                return None
            self.clock.set(due)
            self.app.handle_timer(self.clock.now_ms())
            self._perform()
        return self._inbox.popleft()

    def recv_event(self, *, within_ms: float = 60_000.0) -> dict[str, Any] | Closed | None:
        """Like `recv`, with text frames parsed (a frame that is not JSON raises ValueError)."""
        frame = self.recv(within_ms=within_ms)
        if isinstance(frame, str):
            value = _json.loads(frame)
            if not isinstance(value, dict):
                raise ValueError(f"server frame is not a JSON object: {frame[:80]!r}")
            return value
        if isinstance(frame, bytes):
            raise ValueError(f"server sent a binary frame: {base64.b64encode(frame[:32])!r}")
        return frame

    def events_until(
        self, stop: Callable[[dict[str, Any]], bool], *, within_ms: float = 60_000.0
    ) -> list[dict[str, Any]]:
        """Receive events until `stop(event)` is true (inclusive); raise if it never is."""
        events: list[dict[str, Any]] = []
        while True:
            event = self.recv_event(within_ms=within_ms)
            if not isinstance(event, dict):
                seen = [e.get("type") for e in events]
                raise AssertionError(f"stopped waiting: got {event!r} after {seen}")
            events.append(event)
            if stop(event):
                return events

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close from the client side."""
        if self.closed is None:
            self.app.connection_lost(code, reason, self.clock.now_ms())
            self.closed = Closed(code, reason)

    def _perform(self) -> None:
        for action in self.app.actions_to_perform():
            name = type(action).__name__
            if name == "SendText":
                self._inbox.append(action.text)
            elif name == "SendBytes":
                self._inbox.append(action.data)
            elif name == "Close":
                self.closed = Closed(action.code, action.reason)
            elif name == "Drop":
                self.closed = Closed(None, "")
            elif name == "Stall":
                self.stalled = True
