"""A raw `websockets` client for wire tests of scenarios: every event, close and timing.

Every wait is bounded; waiting for "nothing happens" uses a short explicit window or,
better, a sentinel: a harmless client event whose answer proves everything sent before
it has been processed (`input_audio_buffer.clear` -> `input_audio_buffer.cleared`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from conformance import _json
from mock_server.scenarios import Scenario

DEFAULT_MODEL = "gpt-realtime"
TRANSLATION_MODEL = "gpt-realtime-translate"
DEFAULT_KEY = "sk-mock-test-key-0000000001"
SENTINEL_ID = "evt_sentinel"
WAIT = 5.0


class Closed(AssertionError):
    """Raised by waits when the connection closed before the awaited event."""


class Wire:
    """One client connection: read events, send events, observe the close."""

    def __init__(self, ws: ClientConnection | None, opened_at: float) -> None:
        self._ws = ws
        self.refused: tuple[int, bytes] | None = None  # (HTTP status, body) of a refused upgrade
        self.opened_at = opened_at
        self.events: list[dict[str, Any]] = []
        self.sizes: list[int] = []
        self.arrivals: list[float] = []
        self.closed: ConnectionClosed | None = None
        self.closed_at: float | None = None

    @property
    def ws(self) -> ClientConnection:
        """The socket (a refused upgrade has none: check `refused` first)."""
        assert self._ws is not None, f"the upgrade was refused: {self.refused}"
        return self._ws

    # ------------------------------------------------------------ reading
    async def next(self, within: float = WAIT) -> dict[str, Any] | None:
        """The next server event, or None once the connection is closed."""
        if self.closed is not None:
            return None
        try:
            async with asyncio.timeout(within):
                frame = await self.ws.recv()
        except ConnectionClosed as exc:
            self.closed, self.closed_at = exc, time.monotonic()
            return None
        event: dict[str, Any] = _json.loads(frame)
        self.events.append(event)
        self.sizes.append(len(frame.encode() if isinstance(frame, str) else frame))
        self.arrivals.append(time.monotonic())
        return event

    async def until(self, kind: str, within: float = WAIT, **fields: Any) -> dict[str, Any]:
        """Read until an event of type `kind` (whose top-level fields equal `fields`)."""
        async with asyncio.timeout(within):
            while True:
                event = await self.next(within)
                if event is None:
                    raise Closed(f"closed ({self.close_code}) before {kind}; got {self.types()}")
                if event["type"] == kind and all(event.get(k) == v for k, v in fields.items()):
                    return event

    async def until_count(self, kind: str, count: int, within: float = WAIT) -> None:
        """Read until `count` events of type `kind` have arrived in all."""
        async with asyncio.timeout(within):
            while len(self.of_type(kind)) < count:
                if await self.next(within) is None:
                    raise Closed(f"closed before {count} x {kind}; got {self.types()}")

    async def until_closed(self, within: float = WAIT) -> ConnectionClosed:
        """Read until the connection closes; return how it closed."""
        async with asyncio.timeout(within):
            while await self.next(within) is not None:
                pass
        assert self.closed is not None
        return self.closed

    async def silent_for(self, seconds: float) -> bool:
        """True if no event arrives (and no close) within `seconds`."""
        try:
            await self.next(seconds)
        except TimeoutError:
            return True
        return False

    # ------------------------------------------------------------ sending
    async def send(self, event: Mapping[str, Any]) -> None:
        """Send one client event as a text frame."""
        await self.ws.send(_json.dumps(event))

    async def stimulus(self, scenario: Scenario) -> None:
        """Send the scenario's `connect.send` steps, waiting where it says `wait_for`."""
        for step in scenario.connect.send:
            if "wait_for" in step:
                await self.until(str(step["wait_for"]))
            else:
                await self.send(step)

    async def sentinel(self) -> None:
        """Prove the server processed everything sent so far and the session still works."""
        await self.send({"type": "input_audio_buffer.clear", "event_id": SENTINEL_ID})
        await self.until("input_audio_buffer.cleared")

    async def ping_answered(self, within: float) -> bool:
        """True if a WebSocket ping gets its pong within `within` seconds."""
        pong = await self.ws.ping()
        try:
            async with asyncio.timeout(within):
                await pong
        except TimeoutError:
            return False
        return True

    # ------------------------------------------------------------ facts
    def types(self) -> list[str]:
        """The type of every event received so far."""
        return [e["type"] for e in self.events]

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        """Every event of type `kind` received so far."""
        return [e for e in self.events if e["type"] == kind]

    def errors(self) -> list[dict[str, Any]]:
        """The inner `error` objects of every error event so far."""
        return [e["error"] for e in self.of_type("error")]

    @property
    def close_code(self) -> int | None:
        """The close code the server sent; None if it sent no close frame (TCP drop)."""
        if self.closed is None or self.closed.rcvd is None:
            return None
        return self.closed.rcvd.code

    @property
    def close_reason(self) -> str | None:
        """The close reason the server sent; None if it sent no close frame."""
        if self.closed is None or self.closed.rcvd is None:
            return None
        return self.closed.rcvd.reason

    def seconds_until_close(self) -> float:
        """Seconds from the end of the upgrade to the close."""
        assert self.closed_at is not None
        return self.closed_at - self.opened_at


def url_for(base: str, scenario: Scenario) -> str:
    """The server's URL for the scenario's endpoint (`/v1/realtime`, or `…/translations`
    for `endpoint: translation`) with `?model=` and the scenario's query (None removes)."""
    model = TRANSLATION_MODEL if scenario.translation else DEFAULT_MODEL
    query: dict[str, str | None] = {"model": model, **dict(scenario.connect.query)}
    kept = {k: v for k, v in query.items() if v is not None}
    parts = urlsplit(base)
    path = parts.path.rstrip("/") + "/translations" if scenario.translation else parts.path
    return urlunsplit(parts._replace(path=path, query=urlencode(kept)))


def headers_for(scenario: Scenario) -> dict[str, str]:
    """An `Authorization` header (unless the scenario brings one) plus its headers."""
    given = dict(scenario.connect.headers)
    if not any(name.lower() == "authorization" for name in given):
        given["Authorization"] = f"Bearer {DEFAULT_KEY}"
    return given


async def open_wire(server_url: str, scenario: Scenario) -> Wire:
    """Connect as the scenario's stimulus says (no client pings, no frame size limit).

    An upgrade the server refuses gives a `Wire` without a socket: `refused` holds the
    HTTP status and body.
    """
    try:
        ws = await connect(
            url_for(server_url, scenario),
            additional_headers=headers_for(scenario),
            subprotocols=[Subprotocol(s) for s in scenario.connect.subprotocols] or None,
            max_size=None,
            ping_interval=None,
            open_timeout=WAIT,
            close_timeout=1.0,
        )
    except InvalidStatus as exc:
        wire = Wire(None, time.monotonic())
        wire.refused = (exc.response.status_code, exc.response.body or b"")
        return wire
    return Wire(ws, time.monotonic())


@asynccontextmanager
async def fast_mock_wire(open_timeout: float = 10.0) -> AsyncIterator[Wire]:
    """A real mock server (fast pace, no pings) and one raw connection past session.created;
    both stopped afterwards."""
    from mock_server.config import MockConfig
    from mock_server.server import MockServer

    server = await MockServer(config=MockConfig(port=0, ping_interval=None, pace="fast")).start()
    try:
        ws = await connect(
            f"{server.url}?model={DEFAULT_MODEL}",
            additional_headers={"Authorization": f"Bearer {DEFAULT_KEY}"},
            ping_interval=None,
            open_timeout=open_timeout,
            close_timeout=1.0,
        )
        client = Wire(ws, time.monotonic())
        await client.until("session.created")
        yield client
        ws.transport.abort()
    finally:
        await server.stop()
