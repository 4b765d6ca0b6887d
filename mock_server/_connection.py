"""The server connection the mock's driver runs on: websockets' `ServerConnection`, faster.

Client messages go to `on_message` straight from `data_received` (no assembler, no
`recv()` future per message), and whole masked data frames are parsed here when no
extension is negotiated; every other frame goes to websockets' protocol, in order. Pongs
can be switched off (scenarios), and a peer that reads nothing is dropped after a bound.
"""

from __future__ import annotations

import asyncio
import codecs
import struct
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Final

from websockets.asyncio.server import Server, ServerConnection
from websockets.frames import CloseCode, Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - websockets without its C extension
    from websockets.utils import apply_mask

from mock_server._log import logger

_OPEN: Final = State.OPEN
_TEXT: Final = Opcode.TEXT
_BINARY: Final = Opcode.BINARY
_CONT: Final = Opcode.CONT
_PONG: Final = Opcode.PONG
_MAX_FRAGMENTS: Final = 1024  # a message in more pieces is refused (1009), as websockets does
_U16: Final = struct.Struct("!H").unpack_from
# Fair scheduling: messages are handed to the app for at most this long per turn of the
# event loop; the rest wait (reading paused) for the next turn, after other connections.
SLICE_SECONDS: Final = 0.002
_U64: Final = struct.Struct("!Q").unpack_from
# A data frame at least this long is unmasked and decoded piece by piece as its bytes
# arrive (`_BigFrame`), so the turn that completes it only joins the text (issue 12: a
# 16 MB frame unmasked and decoded at once held the loop 2-20 ms longer).
BIG_FRAME: Final = 1 << 20
_utf8_decoder = codecs.getincrementaldecoder("utf-8")
# Light turns of the loop between two heavy ones (joining a big frame, then each step the
# app takes it in): a timer expired during a heavy turn runs on the next turn and wakes
# its task on the one after, so with two light turns between, nothing waits behind two.
LIGHT_TURNS: Final = 2


class _BigFrame:
    """A big masked data frame in progress: its payload unmasked and decoded so far."""

    __slots__ = ("decoder", "error", "mask", "opcode", "parts", "received", "size")

    def __init__(self, opcode: Opcode, mask: bytes, size: int) -> None:
        self.opcode = opcode
        self.mask = mask
        self.size = size
        self.received = 0
        self.parts: list[Any] = []  # str pieces of a text frame, bytes of a binary one
        self.decoder = _utf8_decoder() if opcode is _TEXT else None
        self.error: str | None = None  # the UTF-8 error, reported when the frame is whole

    def feed(self, chunk: memoryview) -> int:
        """Take the payload bytes at the start of `chunk`; returns how many it took."""
        taken = min(len(chunk), self.size - self.received)
        decoder = self.decoder
        if taken and self.error is None:
            turn = self.received % 4  # where in the mask this piece starts
            mask = self.mask[turn:] + self.mask[:turn] if turn else self.mask
            data = apply_mask(chunk[:taken], mask)
            if decoder is None:
                self.parts.append(data)
            else:
                final = self.received + taken == self.size
                held = len(decoder.getstate()[0])  # bytes of a character split by the chunk
                try:
                    self.parts.append(decoder.decode(data, final))
                except UnicodeDecodeError as exc:
                    at = self.received - held + exc.start
                    self.error = f"{exc.reason} at position {at}"
                    self.parts = []
        self.received += taken
        return taken

    @property
    def whole(self) -> bool:
        return self.received == self.size

    def message(self) -> str | bytes:
        """The whole message (call once `whole`)."""
        if self.decoder is None:
            return b"".join(self.parts)
        return "".join(self.parts)


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
        # Messages parsed but not handed over yet: this turn's slice was used up.
        self._queue: deque[str | bytes] = deque()
        self._slice_end = 0.0
        self._draining: asyncio.Handle | None = None
        self._paused_by_slice = False
        self._big: _BigFrame | None = None  # a big frame whose payload is arriving
        self._held = False  # `hold`: the app is busy with one frame; later ones wait
        self._writing_frame = False  # `hold_output`: a frame is half-written

    def attach(self, on_message: Callable[[str | bytes], None]) -> list[str | bytes]:
        """Deliver every later message to `on_message`; return those that came before."""
        early, self._early = self._early or [], None
        self.on_message = on_message
        return early

    def hold(self) -> None:
        """Hand nothing more to `on_message` (and read nothing) until `release`."""
        self._held = True
        if not self._paused_by_slice:
            self._paused_by_slice = True
            self.transport.pause_reading()

    def release(self) -> None:
        """Undo `hold`: what waits is handed over from the next turn of the loop, in order."""
        self._held = False
        if self._draining is None and not self.transport.is_closing():
            self._draining = self.loop.call_soon(self._drain)

    def hold_output(self) -> None:
        """A frame is being written in pieces: what websockets' protocol sends (pongs,
        pings, a close frame) waits in its queue until `release_output`, so that nothing
        lands between the frame's bytes."""
        self._writing_frame = True

    def release_output(self) -> None:
        """The frame is whole: write what waited, in order."""
        self._writing_frame = False
        if not self.transport.is_closing():
            self.send_data()

    def send_data(self) -> None:
        if not self._writing_frame:
            super().send_data()

    def defer(self, messages: list[str | bytes]) -> None:
        """Put `messages` back in front of those waiting, for after `release`."""
        self._queue.extendleft(reversed(messages))
        if not self._paused_by_slice:
            self._paused_by_slice = True
            self.transport.pause_reading()

    def data_received(self, data: bytes) -> None:
        """Parse whole, masked, unfragmented text and binary frames here; the rest as usual.

        Without extensions, once open, complete data frames are unmasked and handed to
        `_deliver` directly: websockets' generator-based parser costs more than the rest
        of an `input_audio_buffer.append`. Every other frame (control frames, fragments,
        reserved bits, an unmasked frame) goes, whole and in order, to websockets'
        protocol, which handles and checks it as always; a frame over `max_size` and
        everything after it too, so it fails with 1009 exactly as before.
        """
        if self._queue:  # throttled: parse on once the queue is handed over (in order)
            self._pending += data
            self._pause_for_slice()
            return
        self._slice_end = time.perf_counter() + SLICE_SECONDS
        protocol = self.protocol
        if self._big is not None:  # the payload of a big frame is arriving
            data = self._feed_big(data)
            if not data:
                return
            if protocol.state is not _OPEN:  # it failed the connection (1007), or closing
                self._hand_over(data)
                return
            if self._queue:  # it used up the slice: what follows waits its turn
                self._pending += data
                self._pause_for_slice()
                return
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
        pending = self._pending
        if pending:
            pending += data  # in place: a big frame in many TCP chunks is not copied over and over
            buf: bytes | bytearray = pending
        else:
            buf = data
        view = memoryview(buf)  # payloads are unmasked from it without a copy first
        pos, end = 0, len(buf)
        limit = protocol.max_message_size
        while (bounds := frame_bounds(buf, pos, end, limit)) is not None:
            first, masked, head, stop = bounds
            if stop < 0:  # websockets refuses it (1009) and takes what follows
                self._hand_over(bytes(view[pos:]))
                return
            opcode = first & 0x0F
            if first & 0xF0 == 0x80 and masked and opcode in (1, 2) and not self._fragments:
                payload = apply_mask(view[head + 4 : stop], buf[head : head + 4])
                self._deliver(_TEXT if opcode == 1 else _BINARY, payload)
                if protocol.state is not _OPEN:  # the message failed the connection (1007)
                    self._hand_over(bytes(view[stop:]))  # the peer's close frame, say
                    return
                if self._queue:  # slice used up: the rest is parsed on a later turn
                    pos = stop
                    break
            else:
                super().data_received(bytes(view[pos:stop]))
                if protocol.state is not _OPEN or protocol.reader.buffer:
                    self._hand_over(bytes(view[stop:]))  # closing, or failed
                    return
            pos = stop
        if pos < end and not self._queue and self._start_big(buf, view, pos, end, limit):
            return
        if pos == end:
            self._pending = bytearray()
        elif pos or buf is not pending:
            self._pending = bytearray(view[pos:])
        # else: nothing whole yet; `pending` keeps growing in place on the next call

    def _start_big(
        self, buf: bytes | bytearray, view: memoryview, pos: int, end: int, limit: int | None
    ) -> bool:
        """The incomplete frame at `buf[pos]` is a big data frame: take it piece by piece.

        Only a final, masked text or binary frame (no fragments pending) whose header and
        mask are here and whose length is within `limit`; everything else waits whole.
        """
        if end - pos < 14 or buf[pos + 1] & 0x7F != 127 or self._fragments:
            return False  # a big frame has a 64-bit length: 2 + 8 bytes, then the mask
        first, second = buf[pos], buf[pos + 1]
        (length,) = _U64(buf, pos + 2)
        opcode = first & 0x0F
        if (
            first & 0xF0 != 0x80
            or not second & 0x80
            or opcode not in (1, 2)
            or length < BIG_FRAME
            or (limit is not None and length > limit)
        ):
            return False
        big = _BigFrame(_TEXT if opcode == 1 else _BINARY, bytes(buf[pos + 10 : pos + 14]), length)
        big.feed(view[pos + 14 : end])
        self._big = big
        self._pending = bytearray()
        return True

    def _feed_big(self, data: bytes) -> bytes:
        """Feed the big frame in progress; deliver it once whole. Returns what follows it."""
        big = self._big
        assert big is not None
        taken = big.feed(memoryview(data))
        if not big.whole:
            return b""
        self._big = None
        if big.error is not None:
            self._fail(CloseCode.INVALID_DATA, big.error)
        elif self.on_message is not None:
            # Joining the text took this turn (fresh pages for 16 MB: 1-12 ms): the app
            # gets it `LIGHT_TURNS` turns later, after the other connections.
            self._queue.append(big.message())
            if self._draining is None:
                self._draining = self.loop.call_soon(self._skip_turn, LIGHT_TURNS)
            self._pause_for_slice()
        elif self._early is not None:
            self._early.append(big.message())
        return data[taken:]

    def _pause_for_slice(self) -> None:
        # While held, read nothing even if something else resumed reading (the driver's
        # backlog does when the peer reads again): pausing twice is harmless.
        if not self._paused_by_slice or self._held:
            self._paused_by_slice = True
            self.transport.pause_reading()
        if self._draining is None:
            self._draining = self.loop.call_soon(self._drain)

    def _skip_turn(self, left: int) -> None:
        if left > 1:
            self._draining = self.loop.call_soon(self._skip_turn, left - 1)
        else:
            self._draining = self.loop.call_soon(self._drain)

    def _drain(self) -> None:
        """Next turn: hand over queued messages for one slice, then parse what waits."""
        self._draining = None
        if self._held:
            return  # `release` comes back here
        self._slice_end = time.perf_counter() + SLICE_SECONDS
        queue = self._queue
        while queue and self.on_message is not None:
            self.on_message(queue.popleft())
            if self._held or time.perf_counter() >= self._slice_end:
                break
        if self._held:
            return
        if queue and self.on_message is not None:
            self._draining = self.loop.call_soon(self._drain)
            return
        queue.clear()  # the driver detached: the connection is gone
        if self._pending:
            rest, self._pending = bytes(self._pending), bytearray()
            self.data_received(rest)
            if self._queue:
                return  # still throttled: another turn comes
        if self._paused_by_slice:
            self._paused_by_slice = False
            if not self.transport.is_closing():
                self.transport.resume_reading()

    def _hand_over(self, rest: bytes) -> None:
        """From here on, websockets parses everything (`rest` first)."""
        self._fast = False
        self._pending = bytearray()
        if rest:
            super().data_received(rest)

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
                message = data.decode() if type(data) is bytes else bytes(data).decode()
            except UnicodeDecodeError as exc:
                self._fail(CloseCode.INVALID_DATA, f"{exc.reason} at position {exc.start}")
                return
        else:
            message = bytes(data)
        self._hand(message)

    def _hand(self, message: str | bytes) -> None:
        """Give one message to the app now, or queue it if this turn's slice is used up."""
        if self.on_message is not None:
            if self._queue or self._held or time.perf_counter() >= self._slice_end:
                self._queue.append(message)
                self._pause_for_slice()
            else:
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
        self._queue.clear()
        self._pending = bytearray()  # a huge frame in progress must not outlive the socket
        self._big = None
        if self._draining is not None:
            self._draining.cancel()
            self._draining = None
        if self._stuck is not None:
            self._stuck.cancel()
            self._stuck = None
        super().connection_lost(exc)

    def _give_up(self) -> None:
        self._stuck = None
        logger.warning("peer read nothing for %s s; dropping it", self.send_timeout)
        self.transport.abort()
