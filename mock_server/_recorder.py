"""Recording sessions to JSON Lines as they happen (`MockConfig.record`), crash-safe.

Every frame added to a recorded session's transcript is serialised (keys masked, see
`Transcript.record_lines`) and appended to the session's file with one unbuffered
`write` at once: a server frame is in the file before it is sent, a client frame as soon
as it is received, so a kill -9 of the mock loses none of them. The write goes to the
kernel's page cache (no fsync), which is what keeps it off the event loop's critical
path: a few microseconds a frame, and only when recording. The meta line goes first,
with the first frame, so facts the app notes before its first frame (tolerant mode) are
in it; if `meta` changes later, the file is rewritten whole when the session ends.

Huge frames (issue 12): a frame holding a string of 1 MiB or more
(`LINE_STEPS_MIN`: a 16 MB image data URL, 16 MB `instructions`, their echoes) would
hold the event loop for 60-300 ms if masked, escaped and written at once. Such a frame
goes to the session's queue instead, and a task of its own writes it
(`Transcript.record_line_steps`): one loop turn per 256 KiB to prove that masking leaves
the string unchanged (the rare string that may hold a key is masked whole on a worker
thread), one turn per 1 MiB to serialise it, then one `os.writev` of the whole line on a
worker thread (the kernel may hold a big write back for 100 ms and more when much is
waiting to be written to disk). The file's bytes are exactly what one `write` would
have made, in the same order: every later frame of that session waits in the same queue
until it drains, while other sessions keep writing at once.

The window a crash can lose, precisely: frames under 1 MiB of a session with nothing
queued are in the file when `add_text` returns (as before). From the moment a huge
frame is added until its queue has drained, a kill -9 loses that frame and the session's
later ones; the queue drains in about (size / 256 KiB + size / 1 MiB) loop turns plus
the write: a 16 MB frame is in the file 80 turns later, typically 50-200 ms (see
tests/abuse/test_record_steps.py, which bounds it at 5 s on a loaded machine). Stopping
the server waits (`drained`, at most `DRAIN_TIMEOUT`) for every queue.

File names are unique across runs and never reused: `20261205T101502.123Z-3fa9c1-
sess_….jsonl` (UTC start time, a random suffix, the session id), created with O_EXCL.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import re
import secrets
import time
from collections import deque
from pathlib import Path
from typing import Final

from conformance.protocol.errors import UsageError
from conformance.transcript import LineSteps, Transcript
from mock_server._log import logger

_UNSAFE_NAME: Final = re.compile(r"[^A-Za-z0-9_.-]")
_ATTEMPTS: Final = 5  # names tried when one exists already (practically never)
_FLAGS: Final = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
_IOV_MAX: Final = 512  # pieces per writev (POSIX guarantees 16, Linux takes 1024)
# How long stopping the server waits for the recordings' queues (`drained`).
DRAIN_TIMEOUT: Final = 30.0
_CLOSE: Final = b""  # queued by `close` while a queue drains: close when it comes
_Item = bytes | LineSteps
# The recordings' drain tasks, so the server can wait for them when it stops.
_DRAINING: set[asyncio.Task[None]] = set()


def check_folder(folder: str | Path) -> Path:
    """Create `folder` if needed and make sure files can be created in it.

    Raises:
        UsageError: one line saying which folder, why, and what to do.
    """
    path = Path(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".realtime-mock-probe-{os.getpid()}-{secrets.token_hex(4)}"
        probe.touch(exist_ok=False)
        probe.unlink()
    except OSError as exc:
        why = (exc.strerror or str(exc)).lower()
        raise UsageError(
            f"cannot record transcripts to {str(folder)!r}: {why}; "
            "give --record a folder you can write to"
        ) from None
    return path


def unique_name(transcript: Transcript, number: int, now: float | None = None) -> str:
    """`<UTC start, ms>-<random>-<session id or connN>.jsonl`: never the same twice."""
    now = time.time() if now is None else now
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"
    session_id = transcript.meta.get("session_id")
    stem = _UNSAFE_NAME.sub("_", session_id) if isinstance(session_id, str) else f"conn{number}"
    return f"{stamp}-{secrets.token_hex(3)}-{stem[:80]}.jsonl"


class Recording:
    """One session's file, appended to as its transcript grows.

    `open` attaches it to the transcript (`Transcript.on_append`); `close` detaches it and
    returns the path, or None if the file could not be written (logged once; a huge
    frame still queued may fail later, and is logged then).
    """

    __slots__ = (
        "_fd",
        "_meta",
        "_queue",
        "_transcript",
        "_written",
        "failed",
        "number",
        "path",
    )

    def __init__(self, folder: Path, transcript: Transcript, number: int) -> None:
        self.path = folder / unique_name(transcript, number)
        self.number = number
        self.failed = False
        self._transcript = transcript
        self._fd: int | None = None
        self._meta: str | None = None  # the meta line as written
        self._written = 0  # frames written (or queued) so far
        self._queue: deque[_Item] | None = None  # while a drain task runs

    @classmethod
    def open(cls, folder: Path, transcript: Transcript, number: int) -> Recording:
        """Start recording `transcript`; frames already in it go out with the next one."""
        recording = cls(folder, transcript, number)
        transcript.on_append = recording.append
        return recording

    def append(self) -> None:
        """Write the frames added since the last call (the meta line first); a huge frame,
        and whatever follows it, goes to the queue (see the module)."""
        if self.failed:
            return
        transcript = self._transcript
        start, stop = self._written, len(transcript)
        self._written = stop
        lines: list[str] = []
        if self._meta is None:
            self._meta = transcript.meta_line()
            lines.append(self._meta)
        items: list[_Item] = []
        run = start
        for index in range(start, stop):
            steps = transcript.record_line_steps(index)
            if steps is None:
                continue
            lines += transcript.record_lines(run, index)
            if lines:
                items.append("".join(lines).encode())
                lines = []
            items.append(steps)
            run = index + 1
        lines += transcript.record_lines(run, stop)
        if lines:
            items.append("".join(lines).encode())
        self._submit(items)

    def close(self) -> Path | None:
        """Write what is left and close the file; returns its path, None if it failed.

        With a queue still draining, the file is closed when it has drained."""
        self._transcript.on_append = None
        if self._queue is not None:
            self._queue.append(_CLOSE)
        else:
            self._finish()
        return None if self.failed else self.path

    def _finish(self) -> None:
        transcript = self._transcript
        if not self.failed and self._meta is not None and transcript.meta_line() != self._meta:
            self._rewrite()
        elif self._meta is None or self._written < len(transcript):
            self.append()  # a session without frames still gets its meta line
        if self._queue is not None:
            self._queue.append(_CLOSE)  # the rewrite went to the queue
            return
        if self._fd is not None:
            with contextlib.suppress(OSError):  # nothing is buffered: nothing to lose
                os.close(self._fd)
            self._fd = None

    def _submit(self, items: list[_Item]) -> None:
        """Write `items` now, up to the first huge frame; queue that and the rest."""
        if self._queue is not None:
            self._queue.extend(items)
            return
        at = 0
        while at < len(items):
            item = items[at]
            if not isinstance(item, bytes):
                break
            self._write(item)
            at += 1
        if at == len(items):
            return
        queue = self._queue = deque(items[at:])
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (a script, a test): all of it at once
            self._drain_now(queue)
            return
        task = loop.create_task(self._drain(queue))
        _DRAINING.add(task)
        task.add_done_callback(_DRAINING.discard)

    async def _drain(self, queue: deque[_Item]) -> None:
        loop = asyncio.get_running_loop()
        try:
            while queue:
                item = queue[0]
                if item is _CLOSE:
                    queue.popleft()
                    if not queue:
                        self._queue = None
                        self._finish()
                    continue
                if isinstance(item, bytes):
                    self._write(item)
                else:
                    pieces = await _steps_on(loop, item)
                    if not self.failed:
                        await loop.run_in_executor(None, self._write_pieces, pieces)
                queue.popleft()
        except Exception as exc:  # one session's recording: logged, the server goes on
            self._failed(exc)
        finally:
            if self._queue is queue:
                self._queue = None

    def _drain_now(self, queue: deque[_Item]) -> None:
        try:
            while queue:
                item = queue.popleft()
                if item is _CLOSE:
                    if not queue:
                        self._queue = None
                        self._finish()
                elif isinstance(item, bytes):
                    self._write(item)
                else:
                    self._write_pieces(_steps_now(item))
        except Exception as exc:  # one session's recording: logged, the server goes on
            self._failed(exc)
        finally:
            if self._queue is queue:
                self._queue = None

    def _rewrite(self) -> None:
        """`meta` changed after the first line was written: write the file again, whole."""
        self._meta = None
        self._written = 0
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
                os.lseek(self._fd, 0, os.SEEK_SET)
            except OSError as exc:
                self._failed(exc)
                return
        self.append()

    def _write(self, data: bytes) -> None:
        if self.failed:
            return
        try:
            if self._fd is None:
                self._fd = self._create()
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as exc:
            self._failed(exc)

    def _write_pieces(self, pieces: list[bytes]) -> None:
        """Write one line given in pieces with as few calls as the kernel allows (one
        for a whole 16 MB line): a kill leaves the line whole or, as ever, rarely cut."""
        if self.failed:
            return
        try:
            if self._fd is None:
                self._fd = self._create()
            views = [memoryview(piece) for piece in pieces if piece]
            while views:
                written = os.writev(self._fd, views[:_IOV_MAX])
                while views and written >= len(views[0]):
                    written -= len(views.pop(0))
                if written:
                    views[0] = views[0][written:]
        except OSError as exc:
            self._failed(exc)

    def _create(self) -> int:
        for _ in range(_ATTEMPTS):
            try:
                return os.open(self.path, _FLAGS, 0o644)
            except FileExistsError:
                stamp, _, rest = self.path.name.split("-", 2)
                self.path = self.path.with_name(f"{stamp}-{secrets.token_hex(3)}-{rest}")
        raise OSError(errno.EEXIST, "every name tried exists already", str(self.path))

    def _failed(self, exc: Exception) -> None:
        self.failed = True
        why = (exc.strerror or str(exc)) if isinstance(exc, OSError) else repr(exc)
        logger.error(
            "cannot record session %s to %s: %s; the rest of its frames are not recorded",
            self.number,
            self.path,
            why.lower(),
        )


async def _steps_on(loop: asyncio.AbstractEventLoop, steps: LineSteps) -> list[bytes]:
    """Run a line's steps one per loop turn; a whole-text masking on a worker thread."""
    reply: str | None = None
    while True:
        try:
            job = steps.send(reply)
        except StopIteration as done:
            pieces: list[bytes] = done.value
            return pieces
        if job is None:
            reply = None
            await asyncio.sleep(0)
        else:
            reply = await loop.run_in_executor(None, job)


def _steps_now(steps: LineSteps) -> list[bytes]:
    reply: str | None = None
    while True:
        try:
            job = steps.send(reply)
        except StopIteration as done:
            pieces: list[bytes] = done.value
            return pieces
        reply = None if job is None else job()


async def drained(timeout: float = DRAIN_TIMEOUT) -> bool:  # noqa: ASYNC109
    """Wait until every recording's queue on this loop has been written (at most
    `timeout` seconds); False, with a warning, when some were not."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while tasks := [t for t in _DRAINING if t.get_loop() is loop]:
        left = deadline - loop.time()
        if left <= 0:
            logger.warning(
                "%d recording(s) still being written when the server stopped", len(tasks)
            )
            return False
        await asyncio.wait(tasks, timeout=left)
    return True
