"""One connection's driver: client frames into the sans-I/O app, its actions out to the socket.

The hot paths run synchronously: a client message is handed to the app from the
protocol's `data_received` callback (no `recv()`, no future or task switch per message;
see `mock_server._connection`), the app's timer fires from the loop's shared `Timers`,
and the `SendText` / `SendBytes` actions they produce are framed by the websockets
protocol and written with one `transport.write` per batch, with no task, coroutine or lock
per event. Only what must wait (a close handshake, a peer that stopped reading, a socket
being torn down) goes to one backlog task per connection; while it runs, every later
action queues behind it, so frames from one connection never reorder and batches go out
whole.
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections import deque
from collections.abc import Callable, Generator
from typing import Final

from websockets.exceptions import ConnectionClosed, ProtocolError
from websockets.frames import Close as CloseFrame
from websockets.protocol import State

from conformance.protocol.errors import UsageError
from mock_server._connection import BIG_FRAME, LIGHT_TURNS, Connection
from mock_server._log import logger
from mock_server._timers import Timers, _Slot
from mock_server.actions import Action, Close, Drop, SendBytes, SendText, SetPingAnswer, Stall
from mock_server.config import MockConfig
from mock_server.interfaces import App

_OPEN: Final = State.OPEN
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


# A text frame this long (characters) is written in pieces of `_WRITE_PIECE`, one per turn
# of the loop (`Driver._send_big`): encoding and buffering 16 MB at once held the loop
# 5-25 ms (issue 12).
BIG_SEND: Final = 1 << 20
_WRITE_PIECE: Final = 1 << 20


class _Fail:
    """Backlog marker: close with 1011 once everything before it is performed."""


_FAIL: Final = _Fail()
_DONE: Final = object()  # `next(steps, _DONE)`: the app's steps are all taken


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
        # The stdlib loop's clock is time.monotonic: call it directly (hot path).
        stdlib_clock = type(self._loop).time is asyncio.BaseEventLoop.time
        self._clock = time.monotonic if stdlib_clock else self._loop.time
        self._t0 = self._clock()
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
        # A big frame the app takes in steps (`receive_text_steps`), one per loop turn;
        # while it runs, the connection holds later frames and no timer fires.
        self._steps_of: Callable[[str, float], Generator[None, None, None]] | None = getattr(
            app, "receive_text_steps", None
        )
        self._steps: Generator[None, None, None] | None = None
        self._stepping: asyncio.Handle | None = None

    def _now(self) -> float:
        now = (self._clock() - self._t0) * 1000.0
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
                early = self._ws.attach(self._on_message)
                for index, message in enumerate(early):
                    if self._steps is not None:  # a big frame in steps: the rest wait
                        self._ws.defer(early[index:])
                        break
                    self._on_message(message)
                await asyncio.shield(self._ws.connection_lost_waiter)
            else:
                await self._settled()
        finally:
            self._ws.on_message = None
            self._disarm()
            self._stop_steps()
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
        if self._steps is not None:  # the connection holds frames meanwhile; in order anyway
            self._ws.defer([message])
            return
        app = self._app
        try:
            if isinstance(message, str):
                if len(message) >= BIG_FRAME and self._steps_of is not None:
                    self._start_steps(self._steps_of(message, self._now()))
                    return
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

    def _start_steps(self, steps: Generator[None, None, None]) -> None:
        """Take the first step of a big frame now, the others on the next turns."""
        self._steps = steps
        self._ws.hold()
        self._disarm()
        self._step()

    def _step(self) -> None:
        """One step of the big frame in progress; the next one on the next turn."""
        self._stepping = None
        steps = self._steps
        if steps is None:
            return
        try:
            more = next(steps, _DONE) is not _DONE
            actions = self._app.actions_to_perform()
        except Exception:
            logger.exception("mock app failed; closing with 1011")
            self._failed = True
            self._stop_steps()
            self._enqueue([_FAIL])
            return
        if actions:
            self._submit(actions)
        if more:
            self._stepping = self._loop.call_soon(self._skip_turn, LIGHT_TURNS)
            return
        self._stop_steps()
        self._rearm()

    def _skip_turn(self, left: int) -> None:
        """Let `left` turns of the loop pass with no step in them, then take the next step.

        Each step can be a heavy turn (up to ~12 ms of fresh pages). A timer's callback
        wakes a task one turn later (a timer expired during a heavy turn runs on the
        next one, its task on the one after), so with `LIGHT_TURNS` light turns between
        two steps, nothing on the loop waits behind two heavy turns.
        """
        if left > 1:
            self._stepping = self._loop.call_soon(self._skip_turn, left - 1)
        else:
            self._stepping = self._loop.call_soon(self._step)

    def _stop_steps(self) -> None:
        """The big frame is done (or the connection is gone): later frames may come."""
        if self._stepping is not None:
            self._stepping.cancel()
            self._stepping = None
        steps = self._steps
        if steps is not None:
            self._steps = None
            steps.close()  # unfinished (the connection is gone): its cleanup runs now
            self._ws.release()

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
        if self._task is not None or self._stalled or self._finished or self._steps is not None:
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
                    if len(action.text) >= BIG_SEND:
                        break  # written in pieces by the backlog task (`_send_big`)
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
                if len(action.text) >= BIG_SEND:
                    await self._send_big(action.text)
                else:
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

    async def _send_big(self, text: str) -> None:
        """Write one big text frame a piece per turn of the loop: the same bytes as whole.

        The header first (the length is known: ASCII, or the pieces encoded first, one
        per turn), then `_WRITE_PIECE` characters per turn, waiting for the peer to read
        when it is slow (bounded by `send_timeout`). Meanwhile websockets' own output
        (pongs, a close frame) waits behind the frame (`Connection.hold_output`), and the
        driver's later actions wait in the backlog. With an extension (permessage-deflate)
        websockets frames it whole, as before.
        """
        ws = self._ws
        protocol = ws.protocol
        if protocol.extensions or protocol.debug or protocol.state is not _OPEN:
            await ws.send(text)
            return
        loop_turn = asyncio.sleep
        pieces: list[bytes] | None = None
        if text.isascii():
            size = len(text)
        else:
            pieces = []
            for start in range(0, len(text), _WRITE_PIECE):
                try:
                    pieces.append(text[start : start + _WRITE_PIECE].encode())
                except UnicodeEncodeError:
                    await ws.send(text)  # websockets reports it, as it always did
                    return
                await loop_turn(0)
            size = sum(len(piece) for piece in pieces)
            if protocol.state is not _OPEN:
                await ws.send(text)  # raises ConnectionClosed, as a send would
                return
        transport = ws.transport
        ws.hold_output()
        try:
            transport.write(_header(0x81, size))
            count = len(pieces) if pieces is not None else -(-len(text) // _WRITE_PIECE)
            for number in range(count):
                if transport.is_closing():
                    self._finished = True  # the socket is going: the rest cannot be sent
                    return
                if pieces is not None:
                    piece, pieces[number] = pieces[number], b""
                else:
                    start = number * _WRITE_PIECE
                    piece = text[start : start + _WRITE_PIECE].encode()
                transport.write(piece)
                del piece
                if ws.paused:
                    try:
                        await ws.drain()  # the peer reads slowly; `send_timeout` bounds it
                    except Exception:  # the socket went meanwhile (the error is its own)
                        self._finished = True
                        return
                await loop_turn(0)
        finally:
            ws.release_output()

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
        if self._stalled or self._finished or self._task is not None or self._steps is not None:
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
