"""One connection's driver: client frames into the sans-I/O app, its actions out to the socket.

The hot paths run synchronously: a client message is handed to the app from the
protocol's `data_received` callback (no `recv()`, no future or task switch per message),
the app's timer fires as a plain `loop.call_at` callback, and the `SendText` /
`SendBytes` actions they produce are framed by the websockets protocol and written with
one `transport.write` per batch, with no task, coroutine or lock per event. Only what must
wait (a close handshake, a peer that stopped reading, a socket being torn down) goes to
one backlog task per connection; while it runs, every later action queues behind it, so
frames from one connection never reorder and batches go out whole.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import struct
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any, Final

from websockets.asyncio.server import Server, ServerConnection
from websockets.exceptions import ConnectionClosed, ProtocolError
from websockets.frames import Close as CloseFrame
from websockets.frames import CloseCode, Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol

from conformance.protocol.errors import UsageError

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - websockets without its C extension
    from websockets.utils import apply_mask
from mock_server.actions import Action, Close, Drop, SendBytes, SendText, SetPingAnswer, Stall
from mock_server.config import MockConfig
from mock_server.interfaces import App

logger = logging.getLogger("mock_server.server")

_OPEN: Final = State.OPEN
_TEXT: Final = Opcode.TEXT
_BINARY: Final = Opcode.BINARY
_CONT: Final = Opcode.CONT
_PONG: Final = Opcode.PONG
_MAX_FRAGMENTS: Final = 1024  # a message in more pieces is refused (1009), as websockets does
_U16: Final = struct.Struct("!H").unpack_from
_U64: Final = struct.Struct("!Q").unpack_from


_SHORT: Final = struct.Struct("!BB").pack
_MEDIUM: Final = struct.Struct("!BBH").pack
_LONG: Final = struct.Struct("!BBQ").pack


def _header(first: int, size: int) -> bytes:
    """An unmasked frame header: FIN and opcode in `first`, then the payload length."""
    if size < 126:
        return _SHORT(first, size)
    if size < 65536:
        return _MEDIUM(first, 126, size)
    return _LONG(first, 127, size)


def frame_bounds(
    buf: bytes | bytearray, pos: int, end: int, limit: int | None
) -> tuple[int, bool, int, int] | None:
    """The frame starting at `buf[pos]`, if all of it is in `buf[:end]`.

    Returns `(first byte, masked, head, stop)`: the payload is `buf[head + 4 : stop]`
    after a 4-byte mask at `buf[head : head + 4]` when masked, else `buf[head:stop]`.
    None while the frame is incomplete; `stop` is -1 as soon as the header says the
    payload is longer than `limit` (RFC 6455 §5.2 framing; nothing else is checked here).
    """
    if end - pos < 2:
        return None
    first, second = buf[pos], buf[pos + 1]
    length, head = second & 0x7F, pos + 2
    if length == 126:
        if end - head < 2:
            return None
        (length,), head = _U16(buf, head), head + 2
    elif length == 127:
        if end - head < 8:
            return None
        (length,), head = _U64(buf, head), head + 8
    masked = bool(second & 0x80)
    if limit is not None and length > limit:
        return first, masked, head, -1
    stop = head + (4 if masked else 0) + length
    return (first, masked, head, stop) if stop <= end else None


class _Fail:
    """Backlog marker: close with 1011 once everything before it is performed."""


_FAIL: Final = _Fail()


class Connection(ServerConnection):
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
        # Messages go straight to `on_message` (set by the driver) instead of websockets'
        # assembler and `recv()`; until the driver attaches, they wait in `_early`.
        self.on_message: Callable[[str | bytes], None] | None = None
        self._early: list[str | bytes] | None = []
        self._fragments: list[Frame] = []
        self._fast = True  # `data_received` parses plain data frames itself
        self._pending = bytearray()  # bytes of a frame not complete yet (fast path)

    def attach(self, on_message: Callable[[str | bytes], None]) -> list[str | bytes]:
        """Deliver every later message to `on_message`; return those that came before."""
        early, self._early = self._early or [], None
        self.on_message = on_message
        return early

    def data_received(self, data: bytes) -> None:
        """Parse whole, masked, unfragmented text and binary frames here; the rest as usual.

        Without extensions, once open, complete data frames are unmasked and handed to
        `_deliver` directly: websockets' generator-based parser costs more than the rest
        of an `input_audio_buffer.append`. Every other frame (control frames, fragments,
        reserved bits, an unmasked frame) goes, whole and in order, to websockets'
        protocol, which handles and checks it as always; a frame over `max_size` and
        everything after it too, so it fails with 1009 exactly as before.
        """
        protocol = self.protocol
        if (
            not self._fast
            or protocol.state is not _OPEN
            or protocol.extensions
            or protocol.reader.buffer
        ):
            if self._pending:
                data, self._pending = bytes(self._pending) + data, bytearray()
            super().data_received(data)
            return
        buf = self._pending + data if self._pending else data
        view = memoryview(buf)  # payloads are unmasked from it without a copy first
        pos, end = 0, len(buf)
        limit = protocol.max_message_size
        while (bounds := frame_bounds(buf, pos, end, limit)) is not None:
            first, masked, head, stop = bounds
            if stop < 0:
                self._fast = False  # websockets refuses it (1009) and what follows
                self._pending = bytearray()
                super().data_received(bytes(buf[pos:]))
                return
            opcode = first & 0x0F
            if first & 0xF0 == 0x80 and masked and opcode in (1, 2) and not self._fragments:
                payload = apply_mask(view[head + 4 : stop], buf[head : head + 4])
                self._deliver(_TEXT if opcode == 1 else _BINARY, payload)
                if protocol.state is not _OPEN:  # the message failed the connection (1007)
                    self._fast = False
                    self._pending = bytearray()
                    return
            else:
                super().data_received(bytes(buf[pos:stop]))
                if protocol.state is not _OPEN or protocol.reader.buffer:
                    # Closing, or failed: websockets takes over from here.
                    self._fast = False
                    self._pending = bytearray()
                    if stop < end:
                        super().data_received(bytes(buf[stop:]))
                    return
            pos = stop
        self._pending = bytearray(buf[pos:]) if pos < end else bytearray()

    def process_event(self, event: Any) -> None:
        if type(event) is not Frame:
            super().process_event(event)  # the handshake request
            return
        frame: Frame = event
        opcode = frame.opcode
        if opcode is _PONG:
            self.acknowledge_pings(bytes(frame.data))
            return
        if opcode is not _TEXT and opcode is not _BINARY and opcode is not _CONT:
            return  # ping, close: handled by the protocol
        if not frame.fin or self._fragments:
            self._fragments.append(frame)
            if len(self._fragments) > _MAX_FRAGMENTS:
                self._fragments.clear()
                self._fail(CloseCode.MESSAGE_TOO_BIG, "too many fragments")
                return
            if not frame.fin:
                return
            first = self._fragments[0]
            data: bytes | bytearray | memoryview = b"".join(f.data for f in self._fragments)
            opcode = first.opcode
            self._fragments.clear()
        else:
            data = frame.data
        self._deliver(opcode, data)

    def _deliver(self, opcode: Opcode, data: bytes | bytearray | memoryview) -> None:
        message: str | bytes
        if opcode is _TEXT:
            try:
                message = bytes(data).decode() if isinstance(data, memoryview) else data.decode()
            except UnicodeDecodeError as exc:
                self._fail(CloseCode.INVALID_DATA, f"{exc.reason} at position {exc.start}")
                return
        else:
            message = bytes(data)
        if self.on_message is not None:
            self.on_message(message)
        elif self._early is not None:
            self._early.append(message)

    def _fail(self, code: CloseCode, reason: str) -> None:
        if self.protocol.state is _OPEN:
            self.protocol.fail(code, reason)
            self.send_data()

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


class Driver:
    """Moves one connection's frames into its app and performs the actions it returns.

    Actions are performed inline while the socket takes them; the first one that has to
    wait (Close, a paused or closing transport) and everything after it go to a backlog
    task, in order. Timers are not handled while that task runs (like a timer waiting
    for the previous batch); it re-arms when done. One `TimerHandle` is armed for
    `app.next_timer()` (in the loop's shared `Timers`) and replaced only when that changes.
    """

    def __init__(self, connection: Connection, app: App, config: MockConfig) -> None:
        self._ws = connection
        self._app = app
        connection.send_timeout = config.send_timeout
        self._loop = asyncio.get_running_loop()
        self._t0 = self._loop.time()
        self._last_ms = 0.0
        self._timers = Timers.for_loop(self._loop)
        self._timer: _Slot | None = None
        self._armed_ms: float | None = None
        self._backlog: deque[Action | _Fail] = deque()
        self._task: asyncio.Task[None] | None = None  # performing the backlog
        self._stalled = False  # Stall: keep the socket, send nothing more
        self._finished = False  # Close or Drop performed, or the app failed
        self._failed = False  # the app raised: nothing more goes into it
        self._reading_paused = False

    def _now(self) -> float:
        now = (self._loop.time() - self._t0) * 1000.0
        if now < self._last_ms:
            return self._last_ms  # monotonic even after a timer passed its own deadline
        self._last_ms = now
        return now

    async def run(self) -> None:
        """Drive the app until the connection is gone, then report `connection_lost`."""
        try:
            if self._call(self._app.opened):
                await self._settled()
                self._rearm()
                for message in self._ws.attach(self._on_message):
                    self._on_message(message)
                await asyncio.shield(self._ws.connection_lost_waiter)
            else:
                await self._settled()
        finally:
            self._ws.on_message = None
            self._disarm()
            task = self._task
            if task is not None:
                task.cancel()
                await asyncio.wait([task])
            self._lost()

    def _on_message(self, message: str | bytes) -> None:
        """One client message (from `data_received`): into the app, actions out."""
        # The hot path: no coroutine, no lock, no star-args unless the app asked for
        # something or the socket must be waited for.
        if self._failed:
            return
        app = self._app
        try:
            if isinstance(message, str):
                app.receive_text(message, self._now())
            else:
                app.receive_bytes(message, self._now())
            actions = app.actions_to_perform()
        except Exception:
            logger.exception("mock app failed; closing with 1011")
            self._failed = True
            self._enqueue([_FAIL])
            return
        if actions:
            self._submit(actions)
        self._rearm()

    async def _settled(self) -> None:
        """Wait until the backlog is performed (without cancelling it if we are)."""
        while (task := self._task) is not None:
            await asyncio.wait([task])

    def _call(self, method: Callable[[float], None]) -> bool:
        """Call `method(now_ms)` (opened, handle_timer) and perform; False if it raised."""
        try:
            method(self._now())
            actions = self._app.actions_to_perform()
        except Exception:
            logger.exception("mock app failed; closing with 1011")
            self._enqueue([_FAIL])
            return False
        if actions:
            self._submit(actions)
        return True

    def _on_timer(self) -> None:
        self._timer, self._armed_ms = None, None
        if self._task is not None or self._stalled or self._finished:
            return  # the backlog task re-arms when it is done
        deadline = self._app.next_timer()
        if deadline is None or self._now() + 0.001 < deadline:
            self._rearm()  # fired a hair early, or the deadline moved
            return
        if deadline > self._last_ms:
            self._last_ms = deadline
        if self._call(self._app.handle_timer):
            self._rearm()

    # --- performing actions ---

    def _submit(self, actions: list[Action]) -> None:
        """Perform `actions` now as far as the socket allows; queue the rest in order."""
        if self._task is not None:
            self._backlog.extend(actions)
            return
        ws = self._ws
        protocol = ws.protocol
        transport = ws.transport
        # Without extensions (permessage-deflate) a frame is a header and the payload:
        # build it here rather than through websockets' Frame.serialize (same bytes).
        raw = not protocol.extensions and not protocol.debug
        out: list[bytes] = []  # frames not yet written
        for index, action in enumerate(actions):  # noqa: B007 - used after a break
            if self._stalled or self._finished:
                break  # whatever follows Stall, Close or Drop is discarded
            if isinstance(action, (SendText, SendBytes)):
                if (
                    protocol.state is not _OPEN
                    or ws.paused
                    or ws.send_in_progress is not None
                    or transport.is_closing()
                ):
                    break  # must wait: the backlog task takes it from here
                if isinstance(action, SendText):
                    try:
                        data = action.text.encode()
                    except UnicodeEncodeError:
                        break  # let websockets report it, as it always did
                    if raw:
                        out.append(_header(0x81, len(data)))
                        out.append(data)
                    else:
                        protocol.send_text(data)
                        out.extend(protocol.data_to_send())
                else:
                    data = bytes(action.data)
                    if raw:
                        out.append(_header(0x82, len(data)))
                        out.append(data)
                    else:
                        protocol.send_binary(data)
                        out.extend(protocol.data_to_send())
                continue
            if out:
                transport.write(b"".join(out))
                out = []
            if isinstance(action, SetPingAnswer):
                ws.answer_pings = action.answer
            elif isinstance(action, Stall):
                self._stall(action.pings)
            elif isinstance(action, Drop):
                self._drop()
            elif isinstance(action, Close):
                break
            else:
                logger.error(
                    "mock app asked for something impossible: %r; closing with 1011", action
                )
                self._enqueue([_FAIL])
                return
        else:
            if out:
                transport.write(b"".join(out))
            return
        if out:
            transport.write(b"".join(out))
        if not (self._stalled or self._finished):
            self._enqueue(actions[index:])

    def _enqueue(self, items: list[Action] | list[_Fail]) -> None:
        self._backlog.extend(items)
        if self._task is None:
            if self._ws.paused:
                # The peer reads nothing: read nothing from it either until the backlog
                # is out, or what its frames make would pile up behind it. (Not for a
                # close: its handshake must read the peer's close frame.)
                self._ws.transport.pause_reading()
                self._reading_paused = True
            self._task = self._loop.create_task(self._perform_backlog())

    async def _perform_backlog(self) -> None:
        backlog = self._backlog
        try:
            while backlog:
                item = backlog.popleft()
                if isinstance(item, _Fail):
                    await self._close_with_error()
                elif not (self._stalled or self._finished):
                    await self._perform_one(item)
        finally:
            self._task = None
            if self._reading_paused:
                self._reading_paused = False
                self._ws.transport.resume_reading()
        if self._stalled or self._finished:
            backlog.clear()
        else:
            self._rearm()

    async def _perform_one(self, action: Action) -> None:
        ws = self._ws
        try:
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
        except ConnectionClosed:
            self._finished = True
        except UsageError:
            logger.exception("mock app asked for something impossible; closing with 1011")
            await self._close_with_error()

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

    async def _close_with_error(self) -> None:
        if self._finished:
            return
        self._finished = True
        self._disarm()
        try:
            await self._ws.close(1011, "mock app error")
        except Exception:  # the socket may already be gone; nothing else to do
            self._ws.transport.abort()

    # --- the app's timer ---

    def _rearm(self) -> None:
        if self._stalled or self._finished or self._task is not None:
            return
        when = self._app.next_timer()
        if when == self._armed_ms:
            return
        if self._timer is not None:
            self._timers.cancel(self._timer)
            self._timer = None
        self._armed_ms = when
        if when is not None:
            self._timer = self._timers.add(self._t0 + when / 1000.0, self)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timers.cancel(self._timer)
        self._timer, self._armed_ms = None, None

    def _lost(self) -> None:
        received = self._ws.protocol.close_rcvd
        code, reason = (received.code, received.reason) if received else (None, "")
        try:
            self._app.connection_lost(code, reason, self._now())
            self._app.actions_to_perform()  # nothing can be sent any more
        except Exception:
            logger.exception("mock app failed in connection_lost")


class _Slot:
    """A driver's place in the shared timer heap; emptied when that timer is cancelled."""

    __slots__ = ("driver",)

    def __init__(self, driver: Driver) -> None:
        self.driver: Driver | None = driver


class Timers:
    """Every connection's app timer on one event loop, behind a single asyncio timer.

    asyncio keeps its timers in a heap ordered by a Python-level `TimerHandle.__lt__`;
    with a thousand streaming sessions, creating and cancelling one handle per streamed
    event costs more than the event itself. Here each connection's next deadline is a
    plain tuple in one heap (compared in C), and only the earliest has an asyncio
    handle. A cancelled entry stays in the heap with its slot emptied (so it keeps no
    connection alive) until it comes up, or until cancelled entries are most of it.
    """

    _resolution: Final = time.get_clock_info("monotonic").resolution

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        # Weak: the registry's value must not keep its key (the loop) alive.
        self._loop = weakref.ref(loop)
        self._heap: list[tuple[float, int, _Slot]] = []
        self._seq = itertools.count()
        self._handle: asyncio.TimerHandle | None = None
        self._handle_when = 0.0
        self._cancelled = 0
        self._firing = False  # in _fire: it arms for the earliest entry when done

    @classmethod
    def for_loop(cls, loop: asyncio.AbstractEventLoop) -> Timers:
        """The loop's shared instance."""
        timers = _TIMERS.get(loop)
        if timers is None:
            timers = _TIMERS[loop] = cls(loop)
        return timers

    def add(self, when: float, driver: Driver) -> _Slot:
        """Call `driver._on_timer()` at loop time `when`; cancel with `cancel(slot)`."""
        slot = _Slot(driver)
        heapq.heappush(self._heap, (when, next(self._seq), slot))
        if not self._firing and (self._handle is None or when < self._handle_when):
            self._arm(when)
        return slot

    def cancel(self, slot: _Slot) -> None:
        """Forget `slot`'s timer (the heap entry is dropped when it comes up)."""
        if slot.driver is None:
            return
        slot.driver = None
        self._cancelled += 1
        if self._cancelled > 1024 and self._cancelled * 2 > len(self._heap):
            self._heap = [entry for entry in self._heap if entry[2].driver is not None]
            heapq.heapify(self._heap)
            self._cancelled = 0

    def _arm(self, when: float) -> None:
        loop = self._loop()
        if self._handle is not None:
            self._handle.cancel()
        if loop is None or loop.is_closed():
            self._handle = None
            return
        self._handle = loop.call_at(when, self._fire)
        self._handle_when = when

    def _fire(self) -> None:
        self._handle = None
        heap = self._heap
        loop = self._loop()
        if loop is None:
            return
        self._firing = True
        limit = loop.time() + self._resolution
        try:
            while heap and heap[0][0] <= limit:
                slot = heapq.heappop(heap)[2]
                driver = slot.driver
                if driver is None:
                    self._cancelled -= 1
                    continue
                slot.driver = None
                try:
                    driver._on_timer()
                except Exception:  # a driver bug must not stop the other connections' timers
                    logger.exception("mock driver failed in a timer")
        finally:
            self._firing = False
        if heap:
            self._arm(heap[0][0])


_TIMERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Timers] = weakref.WeakKeyDictionary()
