"""Server subprocesses for the benchmarks: start, find the URL, read CPU and RSS, stop by PID.

Every process started here is registered in `_LIVE` and stopped by its own PID in
`ServerProcess.stop()` (SIGTERM, then SIGKILL after a bounded wait); `stop_all()` is
called from `bench_mock.py`'s `finally` and from an atexit hook, so none is left running.
A benchmark that is all asyncio starts the mock with `start_mock()` and stops it, in its
own `finally`, with `stop_mock()` (by the process's PID, the same way).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_URL = re.compile(r"ws://127\.0\.0\.1:\d+/v1/realtime")
_LIVE: dict[int, ServerProcess] = {}


def _cpus_set(cpus: set[int] | None) -> None:
    if cpus:
        os.sched_setaffinity(0, cpus)


class ServerProcess:
    """One server process (the mock or the raw baseline) on 127.0.0.1."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        cpus: set[int] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        # Closed in stop(); the server writes into them for its whole life.
        self._out = tempfile.NamedTemporaryFile(prefix="bench-srv-", suffix=".out", delete=False)  # noqa: SIM115
        self._err = tempfile.NamedTemporaryFile(prefix="bench-srv-", suffix=".err", delete=False)  # noqa: SIM115
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=self._err,
            cwd=ROOT,
            env=env,
            preexec_fn=(lambda: _cpus_set(cpus)) if cpus else None,
        )
        self.pid = self.proc.pid
        _LIVE[self.pid] = self
        self.url = ""
        # Called by a workload around its measured phase ("stream", True/False); goal 3
        # uses it to profile only the streaming phase with --py-spy.
        self.phase_hook: Callable[[str, bool], None] | None = None

    def phase(self, name: str, started: bool) -> None:
        if self.phase_hook is not None:
            self.phase_hook(name, started)

    def wait_url(self, timeout: float = 20.0) -> str:
        """Wait (bounded) for the 'listening on ws://…' line; returns the URL."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = Path(self._out.name).read_text(errors="replace")
            found = _URL.search(text)
            if found:
                self.url = found.group(0)
                return self.url
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise RuntimeError(
            f"{self.name} did not start (exit {self.proc.poll()}): {self.stderr_tail()}"
        )

    def stderr_tail(self, chars: int = 2000) -> str:
        try:
            return Path(self._err.name).read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def cpu_ns(self) -> int:
        """CPU time of every thread of the process so far (schedstat, ns)."""
        total = 0
        task_dir = f"/proc/{self.pid}/task"
        for tid in os.listdir(task_dir):
            try:
                with open(f"{task_dir}/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                continue  # a thread that just ended
        return total

    def rss_kb(self) -> int:
        """VmRSS from /proc/PID/status (kB)."""
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError(f"no VmRSS for {self.pid}")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, wait (bounded), then SIGKILL; always by this process's PID."""
        try:
            if self.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGTERM)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(self.pid, signal.SIGKILL)
                    self.proc.wait(5)
        finally:
            _LIVE.pop(self.pid, None)
            for f in (self._out, self._err):
                f.close()
                with contextlib.suppress(OSError):
                    os.unlink(f.name)


def stop_all() -> None:
    """Stop every server still registered (by PID)."""
    for server in list(_LIVE.values()):
        with contextlib.suppress(Exception):
            server.stop(timeout=3.0)


atexit.register(stop_all)


def mock_argv(compression: bool, extra: Sequence[str] = ()) -> list[str]:
    """`realtime-mock serve --port 0 --pace fast …` (through `python -m mock_server`).

    Fast: the benchmarks measure the server's own cost, not the live pace's waits.
    """
    argv = [sys.executable, "-m", "mock_server", "serve", "--port", "0", "--host", "127.0.0.1"]
    argv += ["--pace", "fast"]
    if not compression:
        argv.append("--no-compression")
    return [*argv, *extra]


def raw_argv(compression: bool, extra: Sequence[str] = ()) -> list[str]:
    """The raw websockets baseline server (`bench/_raw_server.py`)."""
    script = str(Path(__file__).resolve().parent / "_raw_server.py")
    return [
        sys.executable,
        script,
        "--compression",
        "deflate" if compression else "none",
        *extra,
    ]


async def start_mock(
    extra: Sequence[str] = (), *, more_lines: int = 0
) -> tuple[asyncio.subprocess.Process, str, list[str]]:
    """`realtime-mock serve --port 0 --pace fast --no-compression …` as an asyncio child.

    Returns the process, its URL (from `… on URL`, its first line) and the `more_lines`
    lines it prints next (with `--tls`: the CA file's line). Each line waits 30 seconds
    at most; a mock that does not start is stopped and RuntimeError raised.
    """
    argv = ["-m", "mock_server", "serve", "--port", "0", "--host", "127.0.0.1"]
    argv += ["--pace", "fast", "--no-compression", *extra]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *argv,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        lines = [
            (await asyncio.wait_for(proc.stdout.readline(), 30.0)).decode()
            for _ in range(1 + more_lines)
        ]
        words = lines[0].split()
        if "on" not in words:
            raise RuntimeError(f"the mock did not start: {lines[0]!r}")
    except BaseException:
        await stop_mock(proc)
        raise
    return proc, words[words.index("on") + 1], lines[1:]


async def stop_mock(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM, wait (bounded), then SIGKILL: a `start_mock()` process, by its PID."""
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), 10.0)
    except TimeoutError:
        proc.kill()
        await proc.wait()
