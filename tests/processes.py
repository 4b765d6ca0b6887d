"""Child processes in tests: the environments they get, bounded waits, none left running.

- `plain_env()`: only what starting Python or node needs (no key), for a client or a CLI;
- `user_env()` / `user_shell()`: a user's shell after `pip install` (the venv's programs on
  PATH, no key), to run the commands the docs show as written;
- `interrupted(argv)`: a server the way a user runs one in a terminal, Ctrl-C on the way out;
- `reaped(process)`: kills (by its own handle) and waits for a child on the way out;
- `finished(process, within_s=…)`: its status and output, the wait bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

BIN = Path(sys.executable).parent  # the venv's programs: realtime-mock, realtime-notes, …

# What a child needs to start Python or node from this checkout, and nothing else: no key.
PLAIN_ENV_NAMES = ("PATH", "HOME", "LANG", "PYTHONPATH", "TMPDIR", "VIRTUAL_ENV")


def plain_env(**extra: str) -> dict[str, str]:
    """This process's PATH, HOME, LANG, PYTHONPATH, TMPDIR and VIRTUAL_ENV, plus `extra`."""
    return {**{k: v for k, v in os.environ.items() if k in PLAIN_ENV_NAMES}, **extra}


def user_env(**extra: str) -> dict[str, str]:
    """A user's shell after `pip install`: this environment with the venv's programs first
    on PATH and no $OPENAI_API_KEY (but one in `extra`), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return {**env, **extra}


def user_shell(
    command: str, cwd: Path, *, timeout: float = 120, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run `command` with /bin/sh in `cwd` and `user_env(**env)`, its output captured as
    text; at most `timeout` seconds (subprocess.TimeoutExpired after, the shell killed)."""
    return subprocess.run(
        ["/bin/sh", "-c", command],
        cwd=cwd,
        env=user_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@contextlib.contextmanager
def interrupted(
    argv: Sequence[str], cwd: Path, env: dict[str, str] | None = None, stop_within_s: float = 10
) -> Iterator[subprocess.Popen[str]]:
    """`argv` started in `cwd` (stdout and stderr merged into one text pipe), and on the
    way out stopped with SIGINT (Ctrl-C), killed when it has not ended `stop_within_s`
    seconds later, its pipe closed."""
    process = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        yield process
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=stop_within_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


@contextlib.asynccontextmanager
async def reaped(process: asyncio.subprocess.Process) -> AsyncIterator[asyncio.subprocess.Process]:
    """`process`, killed and waited for on the way out unless it has ended."""
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def finished(
    process: asyncio.subprocess.Process, *, within_s: float
) -> tuple[int, bytes, bytes]:
    """Wait at most `within_s` seconds for `process` to end (killed when it does not):
    (status, its stdout, its stderr); b"" for a stream that was not piped."""
    async with reaped(process):
        async with asyncio.timeout(within_s):
            out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out or b"", err or b""
