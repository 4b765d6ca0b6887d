"""Run the client command: a shell in its own process group, bounded in time, output kept.

    run = await run_client("node hud.js", env=env, timeout_s=20.0)
    run.exit_code, run.timed_out, run.stdout

The command runs under `/bin/sh -c` in a new session (its own process group). At the
time limit the whole group is killed (SIGKILL); when the shell exits on its own, any
background process it left in the group is killed too. Output goes to temporary files,
not pipes, so a grandchild that escaped the group cannot hold the runner.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

MAX_OUTPUT_BYTES: Final = 1024 * 1024  # per stream; the end is kept
REAP_S: Final = 5.0  # after SIGKILL, how long the shell may take to be reaped

WriteLine = Callable[[str], Awaitable[None]]
# Feeds the client's stdin while it runs: `feed(write_line, close_stdin)`.
Feeder = Callable[[WriteLine, Callable[[], None]], Awaitable[Any]]


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientProcess:
    """How one client process ran.

    `exit_code` is None when the runner killed it; negative for a death by signal.
    `started_at` is the POSIX time of the start (to place transcript times).
    """

    exit_code: int | None
    timed_out: bool
    started_at: float
    duration_s: float
    stdout: str
    stderr: str


async def run_client(
    command: str,
    *,
    env: Mapping[str, str],
    timeout_s: float,
    cwd: Path | None = None,
    feed: Feeder | None = None,
) -> ClientProcess:
    """Run `command` (a shell string) until it exits or `timeout_s` passes, then kill it.

    Its stdin is empty, unless `feed` is given: then `feed(write_line, close_stdin)` runs
    alongside the client (a long session delivering screenshot paths) and is cancelled
    when the client exits. Cancelling the call kills the process group too.

    Raises:
        OSError: the shell cannot be started (e.g. `cwd` does not exist).
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started_at, t0 = time.time(), time.monotonic()
        proc = subprocess.Popen(  # noqa: ASYNC220 - waited for on a thread, see _exit_of
            command,
            shell=True,
            stdin=subprocess.DEVNULL if feed is None else subprocess.PIPE,
            stdout=out,
            stderr=err,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )
        exited = _exit_of(proc)
        feeding = None if feed is None else asyncio.ensure_future(_feed(proc, feed))
        timed_out = False
        try:
            try:
                async with asyncio.timeout(timeout_s):
                    await asyncio.shield(exited)
            except TimeoutError:
                timed_out = True
            duration = time.monotonic() - t0
        finally:
            if feeding is not None:
                feeding.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await feeding
            _close_stdin(proc)
            kill_group(proc.pid)  # the timed-out client, leftovers, or a cancelled run
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(REAP_S):
                    await asyncio.shield(exited)
        return ClientProcess(
            exit_code=None if timed_out else proc.returncode,
            timed_out=timed_out,
            started_at=started_at,
            duration_s=duration,
            stdout=_tail(out),
            stderr=_tail(err),
        )


async def _feed(proc: subprocess.Popen[bytes], feed: Feeder) -> None:
    """Run `feed` with a line writer and a closer for `proc`'s stdin (a gone reader is fine)."""

    async def write_line(text: str) -> None:
        if proc.stdin is None or proc.stdin.closed:
            return
        with contextlib.suppress(BrokenPipeError, OSError, ValueError):
            # A path per line: far below the pipe's buffer, so the write never blocks.
            proc.stdin.write(text.encode("utf-8") + b"\n")
            proc.stdin.flush()

    await feed(write_line, lambda: _close_stdin(proc))


def _close_stdin(proc: subprocess.Popen[bytes]) -> None:
    if proc.stdin is not None:
        with contextlib.suppress(OSError):
            proc.stdin.close()


def kill_group(pgid: int) -> None:
    """SIGKILL every process of the group `pgid`; nothing left is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _exit_of(proc: subprocess.Popen[bytes]) -> asyncio.Future[int]:
    """A future set when `proc` exits (its own thread waits, so no pipe or loop can stall it)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[int] = loop.create_future()

    def wait() -> None:
        code = proc.wait()
        with contextlib.suppress(RuntimeError):  # the loop may be closed by now
            loop.call_soon_threadsafe(_settle, future, code)

    threading.Thread(target=wait, name=f"client-{proc.pid}", daemon=True).start()
    return future


def _settle(future: asyncio.Future[int], code: int) -> None:
    if not future.done():
        future.set_result(code)


def _tail(file: IO[bytes]) -> str:
    """The last `MAX_OUTPUT_BYTES` written to `file`, decoded, with a note when cut."""
    size = file.seek(0, os.SEEK_END)
    file.seek(max(0, size - MAX_OUTPUT_BYTES))
    text = file.read(MAX_OUTPUT_BYTES).decode("utf-8", errors="replace")
    return f"[… {size - MAX_OUTPUT_BYTES:,} bytes cut]\n{text}" if size > MAX_OUTPUT_BYTES else text
