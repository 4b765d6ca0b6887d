"""Child processes in tests: a plain environment, bounded waits, never one left running.

async with reaped(await asyncio.create_subprocess_exec(...)) as process:
    ...  # talk to it; whatever happens, it is killed (by its own handle) and reaped
status, out, err = await finished(process, within_s=30)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator

# What a child needs to start Python or node from this checkout, and nothing else: no key.
PLAIN_ENV_NAMES = ("PATH", "HOME", "LANG", "PYTHONPATH", "TMPDIR", "VIRTUAL_ENV")


def plain_env(**extra: str) -> dict[str, str]:
    """This process's PATH, HOME, LANG, PYTHONPATH, TMPDIR and VIRTUAL_ENV, plus `extra`."""
    return {**{k: v for k, v in os.environ.items() if k in PLAIN_ENV_NAMES}, **extra}


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
