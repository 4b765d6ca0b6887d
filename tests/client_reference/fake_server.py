"""A scripted fake Realtime server for the reference client's tests (not the mock server).

Each connection follows one script, a list of steps::

    script = [
        Send(session_created()),
        Expect("session.update"),
        Send(lambda ctx: [session_updated()]),
        Close(4000, "invalid_request_error.beta_api_shape_disabled"),
    ]
    async with FakeServer(script) as server:
        client = RealtimeClient(server.url)

The server listens on 127.0.0.1, port 0. It records the handshake (path, headers,
offered subprotocols) and a log of every frame in arrival / send order, so tests can
assert what the client sent and when. A step that is not met within `step_timeout`
(or an unexpected event) is recorded in `server.problems` and ends that connection.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

Event = dict[str, Any]
EventSpec = Event | str | Callable[["Context"], Event | list[Event]]


@dataclass
class Context:
    """What a `Send` factory can look at: the client events received so far."""

    received: list[Event] = field(default_factory=list)

    @property
    def last(self) -> Event:
        """The most recent client event."""
        return self.received[-1]


@dataclass(frozen=True)
class Expect:
    """Wait for the next client event and check its type."""

    type: str


class Send:
    """Send events: dicts, raw text frames, or factories of the `Context`."""

    def __init__(self, *events: EventSpec) -> None:
        self.events = events


@dataclass(frozen=True)
class Close:
    """Close with a code and reason (a close frame is sent)."""

    code: int = 1000
    reason: str = ""


@dataclass(frozen=True)
class Drop:
    """Drop the TCP connection without a close frame (failure catalog 26)."""


@dataclass(frozen=True)
class Stall:
    """Send nothing more and wait until the client goes away."""


@dataclass(frozen=True)
class Signal:
    """Set `server.signals[name]` so the test knows this point was reached."""

    name: str


@dataclass(frozen=True)
class Gate:
    """Wait until the test sets `server.gates[name]`."""

    name: str


Step = Expect | Send | Close | Drop | Stall | Signal | Gate


@dataclass
class ConnectionRecord:
    """One connection as the server saw it."""

    path: str
    headers: Headers
    offered_subprotocols: list[str]
    selected_subprotocol: str | None
    received: list[Event] = field(default_factory=list)
    log: list[tuple[str, str]] = field(default_factory=list)  # ("in"|"out", event type)


def _select_realtime(
    connection: ServerConnection, offered: Sequence[Subprotocol]
) -> Subprotocol | None:
    """Select `realtime` when offered, as the live server and browsers expect (§1.2)."""
    return Subprotocol("realtime") if "realtime" in offered else None


class FakeServer:
    """Runs `scripts[i]` on the i-th connection; extra connections are closed with 1013."""

    def __init__(self, *scripts: Sequence[Step], step_timeout: float = 5.0) -> None:
        self.scripts = [list(script) for script in scripts]
        self.step_timeout = step_timeout
        self.connections: list[ConnectionRecord] = []
        self.problems: list[str] = []
        self.signals: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self.gates: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self._server: Server | None = None

    @property
    def url(self) -> str:
        """`ws://127.0.0.1:<port>/v1/realtime`."""
        assert self._server is not None
        port = next(iter(self._server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}/v1/realtime"

    async def __aenter__(self) -> FakeServer:
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            0,
            select_subprotocol=_select_realtime,
            max_size=None,
            ping_interval=None,
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        await asyncio.wait_for(self._server.wait_closed(), 10)

    # ----------------------------------------------------------------- handler
    async def _handle(self, ws: ServerConnection) -> None:
        index = len(self.connections)
        request = ws.request
        assert request is not None
        offered = request.headers.get_all("Sec-WebSocket-Protocol")
        record = ConnectionRecord(
            path=request.path,
            headers=request.headers,
            offered_subprotocols=[p.strip() for value in offered for p in value.split(",")],
            selected_subprotocol=ws.subprotocol,
        )
        self.connections.append(record)
        inbox: asyncio.Queue[Event | None] = asyncio.Queue()
        reader = asyncio.create_task(self._read(ws, inbox, record))
        try:
            if index >= len(self.scripts):
                await ws.close(1013, "no script for this connection")
            else:
                await self._run(self.scripts[index], ws, inbox, record)
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            self.signals[f"finished:{index + 1}"].set()

    async def _read(
        self, ws: ServerConnection, inbox: asyncio.Queue[Event | None], record: ConnectionRecord
    ) -> None:
        try:
            async for message in ws:
                event = json.loads(message)
                record.log.append(("in", str(event.get("type"))))
                record.received.append(event)
                inbox.put_nowait(event)
        except ConnectionClosed:
            pass
        finally:
            inbox.put_nowait(None)

    async def _run(
        self,
        script: list[Step],
        ws: ServerConnection,
        inbox: asyncio.Queue[Event | None],
        record: ConnectionRecord,
    ) -> None:
        context = Context()
        for number, step in enumerate(script):
            # Stall ends when the client leaves (or the server stops), never by timeout.
            limit = None if isinstance(step, Stall) else self.step_timeout
            try:
                done = await asyncio.wait_for(self._step(step, ws, inbox, record, context), limit)
            except TimeoutError:
                self.problems.append(f"step {number} {step!r}: not met in {self.step_timeout} s")
                done = True
            except ConnectionClosed:
                self.problems.append(f"step {number} {step!r}: the client closed the connection")
                return
            if done:
                return
        await ws.wait_closed()  # script over: stay open until the client leaves

    async def _step(
        self,
        step: Step,
        ws: ServerConnection,
        inbox: asyncio.Queue[Event | None],
        record: ConnectionRecord,
        context: Context,
    ) -> bool:
        """Run one step; True if the connection is over."""
        if isinstance(step, Expect):
            event = await inbox.get()
            if event is None:
                self.problems.append(f"expected {step.type}; the client closed the connection")
                return True
            context.received.append(event)
            if event.get("type") != step.type:
                self.problems.append(f"expected {step.type}, got {event.get('type')}")
                await ws.close(1011, "unexpected event")
                return True
        elif isinstance(step, Send):
            for spec in step.events:
                produced = spec(context) if callable(spec) else spec
                for frame in produced if isinstance(produced, list) else [produced]:
                    if isinstance(frame, str):
                        record.log.append(("out", "(raw)"))
                        await ws.send(frame)
                    else:
                        record.log.append(("out", str(frame.get("type"))))
                        await ws.send(json.dumps(frame))
        elif isinstance(step, Close):
            await ws.close(step.code, step.reason)
            return True
        elif isinstance(step, Drop):
            ws.transport.abort()
            return True
        elif isinstance(step, Stall):
            await ws.wait_closed()
            return True
        elif isinstance(step, Signal):
            self.signals[step.name].set()
        elif isinstance(step, Gate):
            await self.gates[step.name].wait()
        return False
