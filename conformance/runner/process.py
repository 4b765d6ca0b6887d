"""Run the client command: a shell in its own process group, bounded in time, output kept.

    run = await run_client("node hud.js", env=env, timeout_s=20.0)
    run.exit_code, run.timed_out, run.stdout

The command runs under `/bin/sh -c` in a new session (its own process group). One thread
per client (its supervisor) owns the clock, the time limit and the output: it waits on the
client's pipes and its exit, kills the whole group (SIGKILL) at the time limit, and kills
what the shell left in its group when the shell exits on its own. So neither the time
limit nor the measured run time depends on an event loop: a loop stalled by something
else (another case's mock) can neither extend a client's run nor make it look longer.

Output is read from pipes as it comes (the client never blocks on a full pipe) and kept in
memory, bounded: the first `HEAD_OUTPUT_BYTES` and the last `MAX_OUTPUT_BYTES` of each
stream; the middle of a longer output is dropped (and counted), nothing goes to disk. Once
the shell has exited, the pipes are drained for at most `DRAIN_S`: a grandchild that left
the group and holds them open cannot hold the runner.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import selectors
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

MAX_OUTPUT_BYTES: Final = 1024 * 1024  # per stream: the end kept
HEAD_OUTPUT_BYTES: Final = 1024 * 1024  # per stream: the beginning kept
REAP_S: Final = 5.0  # after SIGKILL, how long the shell may take to be reaped
DRAIN_S: Final = 1.0  # after the shell exited, how long its pipes are read for
_READ: Final = 1 << 20  # bytes per read (the pipe is enlarged to this where allowed)
_F_SETPIPE_SZ: Final = 1031  # Linux fcntl

WriteLine = Callable[[str], Awaitable[None]]
# Feeds the client's stdin while it runs: `feed(write_line, close_stdin)`.
Feeder = Callable[[WriteLine, Callable[[], None]], Awaitable[Any]]

# Process groups of the clients running now (any thread, any loop): `kill_all_clients`.
_LIVE: set[int] = set()
# Re-entrant: a `signal.signal` handler (fuzz) may run `kill_all_clients` on the thread
# that holds it.
_LIVE_LOCK = threading.RLock()


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientProcess:
    """How one client process ran.

    `exit_code` is None when the runner killed it; negative for a death by signal.
    `started_at` is the POSIX time of the start (to place transcript times);
    `duration_s` runs from the start to the client's exit, or to the kill at the time
    limit (measured by the supervisor thread, not by an event loop). `stdout_bytes` and
    `stderr_bytes` count everything the client wrote, kept or dropped.
    """

    exit_code: int | None
    timed_out: bool
    started_at: float
    duration_s: float
    stdout: str
    stderr: str
    stdout_bytes: int = 0
    stderr_bytes: int = 0


async def run_client(
    command: str,
    *,
    env: Mapping[str, str],
    timeout_s: float,
    cwd: Path | None = None,
    feed: Feeder | None = None,
    stop: Awaitable[object] | None = None,
) -> ClientProcess:
    """Run `command` (a shell string) until it exits or `timeout_s` passes, then kill it.

    Its stdin is empty, unless `feed` is given: then `feed(write_line, close_stdin)` runs
    alongside the client (a long session delivering screenshot paths) and is cancelled
    when the client exits. Cancelling the call kills the process group too. When `stop`
    completes first, the group is killed and the call returns what it ran (a relay the
    runner ends: `timed_out` False, `exit_code` -9).

    Raises:
        OSError: the shell cannot be started (e.g. `cwd` does not exist).
    """
    started_at, t0 = time.time(), time.monotonic()
    proc = subprocess.Popen(  # noqa: ASYNC220 - supervised on a thread, see _Supervisor
        command,
        shell=True,
        stdin=subprocess.DEVNULL if feed is None else subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(env),
        cwd=cwd,
        start_new_session=True,
    )
    with _LIVE_LOCK:
        _LIVE.add(proc.pid)
    supervisor = _Supervisor(proc, deadline=t0 + timeout_s, loop=asyncio.get_running_loop())
    feeding = None if feed is None else asyncio.ensure_future(_feed(proc, feed))
    stopping = None if stop is None else asyncio.ensure_future(_stop_when(stop, supervisor))
    try:
        await asyncio.shield(supervisor.exited)
    finally:
        if stopping is not None:
            stopping.cancel()
        if feeding is not None:
            feeding.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await feeding
        _close_stdin(proc)
        supervisor.stop()  # a cancelled run: kill the group now (else a no-op)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(REAP_S + DRAIN_S):
                await asyncio.shield(supervisor.done)
        supervisor.close()
        with _LIVE_LOCK:
            _LIVE.discard(proc.pid)
    ended, timed_out = supervisor.exited.result()
    out, err = supervisor.outputs
    return ClientProcess(
        exit_code=None if timed_out else proc.returncode,
        timed_out=timed_out,
        started_at=started_at,
        duration_s=ended - t0,
        stdout=out.text(),
        stderr=err.text(),
        stdout_bytes=out.total,
        stderr_bytes=err.total,
    )


def kill_all_clients() -> int:
    """SIGKILL the process group of every client running now; returns how many.

    Safe from a signal handler or any thread: the runner's SIGTERM/SIGHUP/SIGINT handler
    calls it so no client outlives the runner, even while an event loop is busy.
    """
    with _LIVE_LOCK:
        groups = list(_LIVE)
    for pgid in groups:
        kill_group(pgid)
    return len(groups)


class _Output:
    """One stream's bytes, bounded: the first `head` bytes, the last `tail`, a count."""

    def __init__(self, head: int, tail: int) -> None:
        self._head_limit, self._tail_limit = head, tail
        self._head = bytearray()
        self._tail: deque[bytes] = deque()
        self._tail_size = 0
        self._lock = threading.Lock()  # the supervisor appends, the runner reads
        self.total = 0

    def take(self, chunk: bytes) -> None:
        """Keep what fits of `chunk` in the head, the rest in the tail, dropping older tail."""
        with self._lock:
            self._take(chunk)

    def _take(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self._head_limit - len(self._head)
        if room > 0:
            self._head += chunk[:room]
            chunk = chunk[room:]
        if not chunk:
            return
        self._tail.append(chunk)
        self._tail_size += len(chunk)
        while self._tail and self._tail_size - len(self._tail[0]) >= self._tail_limit:
            self._tail_size -= len(self._tail.popleft())  # whole chunks: no copy

    def text(self) -> str:
        """What was kept, decoded; a line in the middle says how much was dropped."""
        with self._lock:
            return self._text()

    def _text(self) -> str:
        tail = b"".join(self._tail)[-self._tail_limit :] if self._tail_limit else b""
        dropped = self.total - len(self._head) - len(tail)
        head = self._head.decode("utf-8", errors="replace")
        if dropped <= 0:
            return head + tail.decode("utf-8", errors="replace")
        # conformance/reports/_display.py reads this line back (`output_cut`).
        note = (
            f"\n[… {dropped:,} bytes cut: the client wrote {self.total:,} bytes; the first "
            f"{len(self._head):,} and the last {len(tail):,} are kept]\n"
        )
        return head + note + tail.decode("utf-8", errors="replace")


class _Supervisor:
    """The thread that reads a client's output, waits for its exit and enforces its limit.

    `exited` (a future on `loop`) gets `(end, timed_out)` once the shell exited or was
    killed at the deadline, `end` being the `time.monotonic()` of that moment; `done`
    once its output is read (EOF, or `DRAIN_S` after the exit). `stop()` kills the group
    now (a cancelled run).
    """

    def __init__(
        self,
        proc: subprocess.Popen[bytes],
        *,
        deadline: float,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._proc, self._deadline, self._loop = proc, deadline, loop
        self.exited: asyncio.Future[tuple[float, bool]] = loop.create_future()
        self.done: asyncio.Future[None] = loop.create_future()
        self.outputs = (
            _Output(HEAD_OUTPUT_BYTES, MAX_OUTPUT_BYTES),
            _Output(HEAD_OUTPUT_BYTES, MAX_OUTPUT_BYTES),
        )
        self._exit_r, self._exit_w = os.pipe()  # written by the waiter when the shell exits
        self._stop_r, self._stop_w = os.pipe()  # written by stop()
        self._exit_at: float | None = None
        threading.Thread(target=self._wait, name=f"client-{proc.pid}-wait", daemon=True).start()
        threading.Thread(target=self._run, name=f"client-{proc.pid}", daemon=True).start()

    def stop(self) -> None:
        """Kill the client's group now, if it is still running (a cancelled run)."""
        with contextlib.suppress(OSError):
            os.write(self._stop_w, b"x")

    def close(self) -> None:
        """Release `stop()`'s pipe (after `done`; a thread still running takes it as stop)."""
        os.close(self._stop_w)

    def _wait(self) -> None:
        self._proc.wait()
        self._exit_at = time.monotonic()
        with contextlib.suppress(OSError):  # the reader may be gone (after a kill)
            os.write(self._exit_w, b"x")
        os.close(self._exit_w)

    def _run(self) -> None:
        proc = self._proc
        assert proc.stdout is not None
        assert proc.stderr is not None
        pipes = {proc.stdout.fileno(): self.outputs[0], proc.stderr.fileno(): self.outputs[1]}
        end: float | None = None  # the exit, or the kill
        timed_out = False
        drain_until: float | None = None
        with selectors.DefaultSelector() as watch:
            for fd in (*pipes, self._exit_r, self._stop_r):
                if fd in pipes:
                    with contextlib.suppress(OSError):  # fewer, larger reads (Linux)
                        fcntl.fcntl(fd, _F_SETPIPE_SZ, _READ)
                watch.register(fd, selectors.EVENT_READ)
            try:
                while True:
                    limit = self._deadline if drain_until is None else drain_until
                    ready = {key.fd for key, _ in watch.select(max(0.0, limit - time.monotonic()))}
                    for fd in ready & pipes.keys():
                        chunk = os.read(fd, _READ)
                        if chunk:
                            pipes[fd].take(chunk)
                        else:  # EOF: every writer is gone
                            watch.unregister(fd)
                            del pipes[fd]
                    for fd in ready & {self._exit_r, self._stop_r}:
                        watch.unregister(fd)  # each says its thing once
                    now = time.monotonic()
                    if end is None and self._exit_r in ready:
                        end = self._exit_at or now
                    elif end is None and (self._stop_r in ready or now >= self._deadline):
                        end, timed_out = now, self._stop_r not in ready
                    if end is not None and drain_until is None:
                        kill_group(proc.pid)  # at the limit, or what the shell left behind
                        self._settle(self.exited, (end, timed_out))
                        drain_until = now + DRAIN_S
                    if drain_until is not None and (not pipes or now >= drain_until):
                        break
            finally:
                for stream in (proc.stdout, proc.stderr):
                    with contextlib.suppress(OSError):
                        stream.close()
                os.close(self._exit_r)
                os.close(self._stop_r)
                self._settle(self.done, None)

    def _settle(self, future: asyncio.Future[Any], value: object) -> None:
        with contextlib.suppress(RuntimeError):  # the loop may be closed by now
            self._loop.call_soon_threadsafe(_set, future, value)


def _set(future: asyncio.Future[Any], value: object) -> None:
    if not future.done():
        future.set_result(value)


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


async def _stop_when(stop: Awaitable[object], supervisor: _Supervisor) -> None:
    """Kill the group once `stop` completes (however it completes)."""
    with contextlib.suppress(Exception):
        await stop
    supervisor.stop()


def _close_stdin(proc: subprocess.Popen[bytes]) -> None:
    if proc.stdin is not None:
        with contextlib.suppress(OSError):
            proc.stdin.close()


def kill_group(pgid: int) -> None:
    """SIGKILL every process of the group `pgid`; nothing left is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
