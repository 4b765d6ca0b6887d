"""A client that floods its output (`yes`) costs bounded memory and no disk: the runner
keeps the head and the tail of each stream, keeps draining the pipe (the client never
blocks on it), and says in the kept text and in `stdout.txt` how much it dropped."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from conformance.runner import process
from conformance.runner.process import run_client

from ..runner.support import suite

ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
KEPT = process.HEAD_OUTPUT_BYTES + process.MAX_OUTPUT_BYTES
NOTE = 200  # the "[… N bytes cut …]" line


def open_files() -> set[str]:
    """The regular files this process has open (a temp file would show here)."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        target = Path("/proc/self/fd", fd)
        try:
            if target.is_file():
                found.add(os.readlink(target))
        except OSError:
            continue
    return found


def disk_use(folder: Path) -> int:
    """Bytes in every file under `folder`."""
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


async def test_yes_is_drained_and_capped_in_memory_not_on_disk() -> None:
    before = open_files()
    task = asyncio.create_task(run_client("yes", env=ENV, timeout_s=2))
    await asyncio.sleep(1)  # mid-run (not a synchronisation: the run lasts 2 s whatever)
    during = open_files()
    run = await task
    assert during - before == set(), "client output went to a file"
    assert run.timed_out
    assert run.stdout_bytes > 4 * KEPT, "the pipe was not drained (the client blocked)"
    assert len(run.stdout.encode()) <= KEPT + NOTE
    assert run.stdout.startswith("y\ny\n")
    assert run.stdout.endswith("y\n")
    dropped = run.stdout_bytes - KEPT
    assert f"[… {dropped:,} bytes cut: the client wrote {run.stdout_bytes:,} bytes;" in run.stdout


async def test_the_case_files_stay_under_the_cap_and_say_what_was_cut(tmp_path: Path) -> None:
    (result,) = (await suite("yes; exit 0", tmp_path, "default", timeout_s=2)).results
    stdout = tmp_path / "cases" / "default" / "stdout.txt"
    assert stdout.stat().st_size <= KEPT + NOTE
    text = stdout.read_text(encoding="utf-8")
    assert " bytes cut: the client wrote " in text
    assert result.outcome is not None
    assert result.outcome.timed_out
    assert disk_use(tmp_path) <= 4 * KEPT  # output, transcripts, reports: all bounded
