"""Recording sessions to JSON Lines as they happen (`MockConfig.record`), crash-safe.

Every frame added to a recorded session's transcript is serialised (keys masked, see
`Transcript.record_lines`) on the event loop at the end of the loop iteration that added
it, and handed to one writer thread per server, which appends it to the session's file
with an unbuffered write. The loop never waits for the disk; a frame is in the kernel
(and survives a kill -9 of the mock) a few microseconds after the iteration that sent or
received it. The meta line goes first, with the first frame, so facts the app notes
before its first frame (tolerant mode) are in it; if `meta` changes later, the file is
rewritten whole when the session ends.

File names are unique across runs and never reused: `20261205T101502.123Z-3fa9c1-
sess_….jsonl` (UTC start time, a random suffix, the session id), opened with O_EXCL.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import queue
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from conformance.protocol.errors import UsageError
from conformance.transcript import Transcript
from mock_server._log import logger

_UNSAFE_NAME: Final = re.compile(r"[^A-Za-z0-9_.-]")
_CLOSE_TIMEOUT: Final = 10.0  # seconds to wait for the writer to close one file
_ATTEMPTS: Final = 5  # names tried when one exists already (practically never)


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
    """One session's file. Loop side: what is serialised; writer side: the open file."""

    __slots__ = ("_file", "closed", "failed", "meta", "number", "path", "scheduled", "written")

    def __init__(self, path: Path, number: int) -> None:
        self.path = path
        self.number = number
        # loop side
        self.meta: str | None = None  # the meta line as written
        self.written = 0  # frames serialised so far
        self.scheduled = False
        self.closed = False
        # writer side
        self._file: int | None = None  # an os-level descriptor (unbuffered writes)
        self.failed = False


@dataclass(frozen=True, slots=True)
class _Item:
    recording: Recording
    kind: Literal["write", "rewrite", "close"]
    data: bytes = b""
    done: Callable[[Path | None], None] | None = None


class Recorder:
    """Appends the frames of every recorded session of one server; one writer thread."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._loop = asyncio.get_running_loop()
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._dirty: list[tuple[Recording, Transcript]] = []
        self._flush_scheduled = False
        self._thread = threading.Thread(
            target=self._run, name="realtime-mock-recorder", daemon=True
        )
        self._thread.start()

    # --- loop side ---

    def open(self, transcript: Transcript, number: int) -> Recording:
        """Start recording `transcript` (frames already in it are written too)."""
        recording = Recording(self.folder / unique_name(transcript, number), number)

        def appended() -> None:
            if not recording.scheduled:
                recording.scheduled = True
                self._dirty.append((recording, transcript))
                if not self._flush_scheduled:
                    self._flush_scheduled = True
                    self._loop.call_soon(self._flush)

        transcript.on_append = appended
        if len(transcript):
            appended()
        return recording

    async def close(self, recording: Recording, transcript: Transcript) -> Path | None:
        """Write what is left, close the file; returns its path (None if it failed)."""
        future: asyncio.Future[Path | None] = self._loop.create_future()
        self.close_soon(recording, transcript, future)
        try:
            async with asyncio.timeout(_CLOSE_TIMEOUT):
                return await asyncio.shield(future)
        except TimeoutError:
            logger.warning(
                "recording %s: the disk took more than %s s; the file may be incomplete",
                recording.path,
                _CLOSE_TIMEOUT,
            )
            return None

    def close_soon(
        self,
        recording: Recording,
        transcript: Transcript,
        future: asyncio.Future[Path | None] | None = None,
    ) -> None:
        """`close` without waiting; `future` (if any) gets the path."""
        transcript.on_append = None
        self._serialise(recording, transcript, final=True)
        recording.closed = True
        done = None
        if future is not None:
            loop = self._loop

            def done(path: Path | None) -> None:
                with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                    loop.call_soon_threadsafe(_resolve, future, path)

        self._queue.put(_Item(recording, "close", done=done))

    def stop(self, timeout: float = 5.0) -> None:
        """Let the writer finish what is queued, then end it (blocks at most `timeout`)."""
        self._flush()
        self._queue.put(None)
        self._thread.join(timeout)

    def _flush(self) -> None:
        self._flush_scheduled = False
        dirty, self._dirty = self._dirty, []
        for recording, transcript in dirty:
            recording.scheduled = False
            if not recording.closed:
                self._serialise(recording, transcript, final=False)

    def _serialise(self, recording: Recording, transcript: Transcript, *, final: bool) -> None:
        lines = []
        if recording.meta is None:
            recording.meta = transcript.meta_line()
            lines.append(recording.meta)
        elif final and transcript.meta_line() != recording.meta:
            # `meta` changed after the first line was written: write the file again, whole.
            recording.written = 0
            recording.meta = transcript.meta_line()
            data = "".join([recording.meta, *transcript.record_lines()]).encode()
            self._queue.put(_Item(recording, "rewrite", data=data))
            recording.written = len(transcript)
            return
        lines.extend(transcript.record_lines(recording.written))
        recording.written = len(transcript)
        if lines:
            self._queue.put(_Item(recording, "write", data="".join(lines).encode()))

    # --- writer thread ---

    def _run(self) -> None:
        get = self._queue.get
        while True:
            item = get()
            if item is None:
                return
            try:
                self._perform(item)
            except Exception:  # never let one session's file end the writer
                logger.exception("recording %s failed", item.recording.path)
                item.recording.failed = True

    def _perform(self, item: _Item) -> None:
        recording = item.recording
        if item.kind == "close":
            if recording._file is not None:
                os.close(recording._file)
                recording._file = None
            if item.done is not None:
                item.done(None if recording.failed else recording.path)
            return
        if recording.failed:
            return
        if item.kind == "rewrite" and recording._file is not None:
            os.ftruncate(recording._file, 0)
            os.lseek(recording._file, 0, os.SEEK_SET)
        try:
            if recording._file is None:
                recording._file = self._create(recording)
            _write_all(recording._file, item.data)
        except OSError as exc:
            recording.failed = True
            logger.error(
                "cannot record session %s to %s: %s; the rest of its frames are not recorded",
                recording.number,
                recording.path,
                (exc.strerror or str(exc)).lower(),
            )

    def _create(self, recording: Recording) -> int:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        for _ in range(_ATTEMPTS):
            try:
                return os.open(recording.path, flags, 0o644)
            except FileExistsError:
                stem = recording.path.name.split("-", 2)
                stem[1] = secrets.token_hex(3)
                recording.path = recording.path.with_name("-".join(stem))
        raise OSError(errno.EEXIST, "every name tried exists already", str(recording.path))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _resolve(future: asyncio.Future[Path | None], path: Path | None) -> None:
    if not future.done():
        future.set_result(path)
