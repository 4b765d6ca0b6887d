"""Recording sessions to JSON Lines as they happen (`MockConfig.record`), crash-safe.

Every frame added to a recorded session's transcript is serialised (keys masked, see
`Transcript.record_lines`) and appended to the session's file with one unbuffered
`write` at once: a server frame is in the file before it is sent, a client frame as soon
as it is received, so a kill -9 of the mock loses none of them. The write goes to the
kernel's page cache (no fsync), which is what keeps it off the event loop's critical
path: a few microseconds a frame, and only when recording. The meta line goes first,
with the first frame, so facts the app notes before its first frame (tolerant mode) are
in it; if `meta` changes later, the file is rewritten whole when the session ends.

File names are unique across runs and never reused: `20261205T101502.123Z-3fa9c1-
sess_….jsonl` (UTC start time, a random suffix, the session id), created with O_EXCL.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import time
from pathlib import Path
from typing import Final

from conformance.protocol.errors import UsageError
from conformance.transcript import Transcript
from mock_server._log import logger

_UNSAFE_NAME: Final = re.compile(r"[^A-Za-z0-9_.-]")
_ATTEMPTS: Final = 5  # names tried when one exists already (practically never)
_FLAGS: Final = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


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
    returns the path, or None if the file could not be written (logged once).
    """

    __slots__ = ("_fd", "_meta", "_transcript", "_written", "failed", "number", "path")

    def __init__(self, folder: Path, transcript: Transcript, number: int) -> None:
        self.path = folder / unique_name(transcript, number)
        self.number = number
        self.failed = False
        self._transcript = transcript
        self._fd: int | None = None
        self._meta: str | None = None  # the meta line as written
        self._written = 0  # frames written so far

    @classmethod
    def open(cls, folder: Path, transcript: Transcript, number: int) -> Recording:
        """Start recording `transcript`; frames already in it go out with the next one."""
        recording = cls(folder, transcript, number)
        transcript.on_append = recording.append
        return recording

    def append(self) -> None:
        """Write the frames added since the last call (the meta line first)."""
        if self.failed:
            return
        transcript = self._transcript
        if self._meta is None:
            self._meta = transcript.meta_line()
            lines = [self._meta, *transcript.record_lines(self._written)]
        else:
            lines = transcript.record_lines(self._written)
        self._written = len(transcript)
        self._write("".join(lines).encode())

    def close(self) -> Path | None:
        """Write what is left and close the file; returns its path, None if it failed."""
        transcript = self._transcript
        transcript.on_append = None
        if not self.failed and self._meta is not None and transcript.meta_line() != self._meta:
            self._rewrite()
        elif self._meta is None or self._written < len(transcript):
            self.append()  # a session without frames still gets its meta line
        if self._fd is not None:
            with contextlib.suppress(OSError):  # nothing is buffered: nothing to lose
                os.close(self._fd)
            self._fd = None
        return None if self.failed else self.path

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
        try:
            if self._fd is None:
                self._fd = self._create()
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
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

    def _failed(self, exc: OSError) -> None:
        self.failed = True
        logger.error(
            "cannot record session %s to %s: %s; the rest of its frames are not recorded",
            self.number,
            self.path,
            (exc.strerror or str(exc)).lower(),
        )
