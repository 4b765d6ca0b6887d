"""`replay()`: send the client side of a recorded session to a server, record what it answers.

The asyncio + websockets adapter around `ReplayPlan`. One reader task records every
server frame as it comes and counts event types (`Arrivals`); the sender walks the plan's
steps: it waits (bounded) for the server event a frame followed in the recording, then,
with `timing="recorded"`, for the recorded gap after it; with `timing="fast"` it sends as
soon as that event has come. When the server closes or drops early, the replay stops and
reports what it did not send. Every wait is bounded; the key is never written anywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.typing import Origin, Subprotocol

from conformance.transcript import Transcript, read_jsonl, redact

from .plan import TEST_KEY, Anchor, Arrivals, RecordedEnd, ReplayPlan, Step, frame_type

Timing = Literal["recorded", "fast"]
TIMINGS: Final = ("recorded", "fast")
MAX_FRAME: Final = 64 * 1024 * 1024  # server frames accepted (a mock's oversized frame: 3.4 MB)
CLOSE_TIMEOUT: Final = 5.0


@dataclass(slots=True, kw_only=True)
class ReplayResult:
    """What a replay did and what the server answered."""

    transcript: Transcript  # the replay's own recording (both sides; keys masked on write)
    url: str  # the URL dialled (key-free: keys travel in headers or are masked)
    timing: Timing
    opened: bool = False
    error: str | None = None  # why the connection did not open
    rejected_status: int | None = None  # the HTTP status of a refused upgrade
    frames_total: int = 0
    frames_sent: int = 0
    not_sent: list[str] = field(default_factory=list)  # the frames left when the server ended
    skipped: list[str] = field(default_factory=list)  # frames the recording did not keep
    left_out: list[str] = field(default_factory=list)  # masked upgrade headers left out
    waits_missed: list[str] = field(default_factory=list)  # server events that never came
    events_received: int = 0
    recorded_events: int = 0
    close_code: int | None = None
    close_reason: str = ""
    closed_by: Literal["server", "client"] | None = None
    dropped: bool = False  # the server ended the connection without a close frame
    recorded_end: RecordedEnd | None = None
    notes: list[str] = field(default_factory=list)
    record_path: Path | None = None

    @property
    def end(self) -> str:
        """How the replayed connection ended, worded like `RecordedEnd`."""
        if not self.opened:
            if self.rejected_status is not None:
                return f"upgrade refused with HTTP {self.rejected_status}"
            return "never opened"
        if self.dropped:
            return "server dropped the connection (no close frame)"
        if self.close_code is None:
            return "no end"
        reason = f" {self.close_reason!r}" if self.close_reason else ""
        return f"{self.closed_by} closed {self.close_code}{reason}"

    @property
    def exit_status(self) -> int:
        """0 when the connection opened, 1 when it did not (refused, unreachable)."""
        return 0 if self.opened else 1

    def summary(self) -> str:
        """The lines the CLI prints: frames sent, events received, the close, what was
        not sent and why."""
        lines = [
            f"replay ({self.timing} timing) of {self.frames_total} client frame(s) to {self.url}"
        ]
        if not self.opened:
            lines.append(f"  connection: {self.error or self.end}")
        lines.append(f"  frames sent:     {self.frames_sent} of {self.frames_total}")
        lines.append(
            f"  events received: {self.events_received} (the recording had {self.recorded_events})"
        )
        if self.opened:
            lines.append(f"  end:             {self.end}")
        if self.recorded_end is not None:
            lines.append(f"  recorded end:    {self.recorded_end}")
        if self.not_sent:
            shown = ", ".join(self.not_sent[:8]) + (" …" if len(self.not_sent) > 8 else "")
            lines.append(f"  not sent ({len(self.not_sent)}, the server had ended): {shown}")
        for item in self.skipped:
            lines.append(f"  not sent: {item}")
        for item in self.left_out:
            lines.append(f"  left out of the upgrade: {item}")
        for item in self.waits_missed:
            lines.append(f"  waited in vain: {item}")
        lines.extend(f"  note: {note}" for note in self.notes)
        if self.record_path is not None:
            lines.append(f"  recorded to {self.record_path}")
        return "\n".join(lines) + "\n"


async def replay(
    source: Transcript | str | os.PathLike[str],
    url: str,
    *,
    timing: Timing = "recorded",
    api_key: str | None = None,
    wait_timeout: float = 10.0,
    open_timeout: float = 10.0,
    end_timeout: float = 10.0,
    record: str | os.PathLike[str] | None = None,
    ssl_context: ssl.SSLContext | None = None,
    origin: str | None = None,
) -> ReplayResult:
    """Send the client side of `source` to the server at `url`; record what it answers.

    Args:
        source: a transcript, or the path of a JSONL transcript.
        url: the server (`ws://127.0.0.1:PORT/v1/realtime`); a URL without a path takes
            the recorded path; the recorded query (`model=…`) is kept under `url`'s own.
        timing: `"recorded"`: each frame as long after the server event it followed (or
            the previous frame) as in the recording; `"fast"`: no gaps. Both wait for that
            server event first, at most `wait_timeout` seconds.
        api_key: sent where the recording had a (masked) key: the `Authorization` header,
            a key header or parameter, the `openai-insecure-api-key.` subprotocol; a
            recording without one sends none. Default: a test key.
        wait_timeout: bound of each wait for a server event, in seconds.
        open_timeout: bound of the TCP connect and the upgrade.
        end_timeout: after the last frame, how long to wait for the rest of the recorded
            server side (or its close) before closing 1000.
        record: write the replay's transcript (JSONL, keys masked) to this path.
        ssl_context: for `wss://` (default: the system's trust).
        origin: how the replay's meta names the recording (`replay_of`); default: the
            path given, or `<transcript>`.

    Returns:
        The `ReplayResult`. A connection that did not open is reported in it, not raised.

    Raises:
        ConfigError: `source` is not a readable transcript.
        UsageError: `url` is not a ws:// or wss:// URL.
    """
    if origin is None:
        origin = str(source) if not isinstance(source, Transcript) else "<transcript>"
    recorded = source if isinstance(source, Transcript) else read_jsonl(os.fspath(source))
    key = api_key or TEST_KEY
    plan = ReplayPlan.from_transcript(recorded, api_key=key)
    session = _Replay(plan, plan.handshake.url(url), timing, key, origin)
    result = await session.run(
        wait_timeout=wait_timeout,
        open_timeout=open_timeout,
        end_timeout=end_timeout,
        ssl_context=ssl_context,
    )
    if record is not None:
        result.record_path = result.transcript.write_jsonl(os.fspath(record))
    return result


class _Replay:
    def __init__(self, plan: ReplayPlan, url: str, timing: Timing, key: str, origin: str) -> None:
        self.plan = plan
        self.url = url
        self.timing = timing
        self.key = key
        handshake = plan.handshake
        headers = list(handshake.headers)
        if handshake.user_agent:
            headers.append(("User-Agent", handshake.user_agent))
        self.transcript = Transcript.begin(
            path=handshake.path,
            query=handshake.query,
            headers=headers,
            subprotocols=handshake.subprotocols,
            model=handshake.query.get("model"),
            scenario=None,
            secrets=(key,),
        )
        self.transcript.meta.update(recorded_by="replay", replay_of=redact(origin, (key,)))
        self.transcript.meta["timing"] = timing
        self.result = ReplayResult(
            transcript=self.transcript,
            url=redact(url, (key,)),
            timing=timing,
            frames_total=len(plan.steps),
            recorded_events=plan.server_events,
            recorded_end=plan.end,
            skipped=list(plan.skipped),
            left_out=list(handshake.left_out),
        )
        self.arrivals = Arrivals()
        self.changed = asyncio.Event()
        self.ended = False
        self.started = 0.0
        self.sent_close = False
        self.ws: ClientConnection | None = None

    def now(self) -> float:
        return (asyncio.get_running_loop().time() - self.started) * 1000.0

    async def run(
        self,
        *,
        wait_timeout: float,
        open_timeout: float,
        end_timeout: float,
        ssl_context: ssl.SSLContext | None,
    ) -> ReplayResult:
        result = self.result
        opened = await self._open(open_timeout, ssl_context)
        if opened is None:
            result.not_sent = [step.label for step in self.plan.steps]
            return result
        self.ws = opened
        result.opened = True
        reader = asyncio.create_task(self._read(opened))
        try:
            await self._send_all(opened, wait_timeout)
            await self._finish(opened, end_timeout)
        finally:
            if not reader.done():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(reader), CLOSE_TIMEOUT)
            if not reader.done():
                opened.transport.abort()
                reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        return result

    async def _open(
        self, open_timeout: float, ssl_context: ssl.SSLContext | None
    ) -> ClientConnection | None:
        handshake = self.plan.handshake
        shown = self.result.url
        loop = asyncio.get_running_loop()
        self.started = loop.time()
        try:
            ws = await ws_connect(
                self.url,
                additional_headers=list(handshake.headers),
                subprotocols=[Subprotocol(p) for p in handshake.subprotocols] or None,
                compression="deflate" if handshake.compression else None,
                user_agent_header=handshake.user_agent,
                origin=Origin(handshake.origin) if handshake.origin else None,
                open_timeout=open_timeout,
                ping_interval=None,  # the recording holds no pings: send none of ours
                max_size=MAX_FRAME,
                close_timeout=CLOSE_TIMEOUT,
                proxy=None,
                ssl=ssl_context if self.url.startswith("wss:") else None,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            body = exc.response.body.decode("utf-8", "replace") if exc.response.body else ""
            self.transcript.add_rejected(status, body, self.now())
            self.result.rejected_status = status
            self.result.error = f"{shown} refused the WebSocket upgrade with HTTP {status}"
            return None
        except TimeoutError:
            self.result.error = f"{shown} did not complete the upgrade within {open_timeout:g} s"
            return None
        except (InvalidHandshake, InvalidURI, OSError) as exc:
            self.result.error = redact(f"cannot connect to {shown}: {exc}", (self.key,))
            return None
        self.started = loop.time()  # frame times count from the open connection, as recorded
        return ws

    async def _read(self, ws: ClientConnection) -> None:
        transcript = self.transcript
        try:
            async for message in ws:
                t_ms = self.now()
                if isinstance(message, str):
                    transcript.add_text("server", message, t_ms)
                    self.arrivals.add(frame_type(message), t_ms)
                else:
                    transcript.add_binary("server", message, t_ms)
                    self.arrivals.add("(binary)", t_ms)
                self.result.events_received += 1
                self._wake()
        except ConnectionClosed:
            pass
        finally:
            self._closed(ws)

    def _closed(self, ws: ClientConnection) -> None:
        """Record how the connection ended (once), from the server's side."""
        if self.ended:
            return
        self.ended = True
        result = self.result
        received = ws.protocol.close_rcvd
        sent = ws.protocol.close_sent
        server_first = received is not None and (
            sent is None or bool(ws.protocol.close_rcvd_then_sent)
        )
        if server_first and received is not None:
            result.close_code, result.close_reason = received.code, received.reason
            result.closed_by = "server"
            self.transcript.add_close("server", received.code, received.reason, self.now())
        elif sent is not None and self.sent_close:
            result.close_code, result.close_reason = sent.code, sent.reason
            result.closed_by = "client"
        elif not self.sent_close:
            result.dropped = True
            self.transcript.add_drop("server", self.now())
        self._wake()

    def _wake(self) -> None:
        self.changed.set()

    async def _until(self, done: Callable[[], bool], seconds: float) -> bool:
        """Wait until `done()` or the connection ends, at most `seconds`; True if done."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not done():
            if self.ended:
                return False
            left = deadline - loop.time()
            if left <= 0:
                return False
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), left)
        return True

    async def _send_all(self, ws: ClientConnection, wait_timeout: float) -> None:
        steps = self.plan.steps
        reference = 0.0  # ms since open: the replay's counterpart of the recorded reference
        for position, step in enumerate(steps):
            if step.anchor is not None:
                reference = await self._wait_for(step, step.anchor, wait_timeout)
            if not self.ended and self.timing == "recorded":
                delay = (reference + step.gap_ms - self.now()) / 1000.0
                if delay > 0:
                    await self._until(lambda: False, delay)
            if self.ended or not await self._send(ws, step):
                self.result.not_sent = [s.label for s in steps[position:]]
                return
            self.result.frames_sent += 1
            reference = self.now()
            if step.kind in ("close", "drop"):
                rest = steps[position + 1 :]
                if rest:
                    self.result.not_sent = [s.label for s in rest]
                    self.result.notes.append("client frames after its close were not sent")
                return

    async def _wait_for(self, step: Step, anchor: Anchor, wait_timeout: float) -> float:
        """Wait for the server event `step` followed in the recording; when it came."""
        if await self._until(lambda: self.arrivals.seen(anchor), wait_timeout):
            came = self.arrivals.time_of(anchor)
            return came if came is not None else self.now()
        if not self.ended:
            self.result.waits_missed.append(
                f"{step.label} (record {step.index}) followed {anchor} in the recording; "
                f"it had not come after {wait_timeout:g} s, so the frame went without it"
            )
        return self.now()

    async def _send(self, ws: ClientConnection, step: Step) -> bool:
        """Send one step; False when the connection had ended first."""
        t_ms = self.now()
        try:
            if step.kind == "text":
                await ws.send(step.text or "")
                self.transcript.add_text("client", step.text or "", t_ms)
            elif step.kind == "binary":
                await ws.send(step.data or b"")
                self.transcript.add_binary("client", step.data or b"", t_ms)
            elif step.kind == "close":
                self.sent_close = True
                code = step.code if step.code is not None else 1000
                self.transcript.add_close("client", step.code, step.reason, t_ms)
                await ws.close(code, step.reason)
            else:
                self.sent_close = True  # the end is ours, not the server's drop
                self.transcript.add_drop("client", t_ms)
                self.result.closed_by = "client"
                ws.transport.abort()
        except ConnectionClosed:
            return step.kind == "close"
        return True

    async def _finish(self, ws: ClientConnection, end_timeout: float) -> None:
        """After the last frame: wait for the recorded rest of the server side, then close."""
        if self.ended or self.sent_close:
            return
        end = self.plan.end
        last = self.plan.last_server
        if end.kind in ("close", "drop") and end.direction == "server":
            done = await self._until(lambda: False, end_timeout)
            if not done and not self.ended:
                self.result.notes.append(
                    f"the recording ends with: {end}; the server had not ended the "
                    f"connection {end_timeout:g} s after the last frame, so the replay closed 1000"
                )
        elif last is not None:
            await self._until(lambda: self.arrivals.seen(last), end_timeout)
        if self.ended:
            return
        if end.kind == "none" or end.direction == "server":
            self.result.notes.append(
                "the recording has no client close: the replay closed 1000 at the end"
            )
        self.sent_close = True
        self.transcript.add_close("client", 1000, "", self.now())
        with contextlib.suppress(ConnectionClosed):
            await ws.close(1000, "")
