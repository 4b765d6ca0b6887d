"""`run_client`: exit status, output, time limit, process group clean-up."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

from conformance.runner import process
from conformance.runner.process import run_client

from .support import ends_soon

ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}


async def test_exit_status_and_output():
    run = await run_client("echo out; echo err >&2; exit 3", env=ENV, timeout_s=10)
    assert (run.exit_code, run.timed_out) == (3, False)
    assert (run.stdout, run.stderr) == ("out\n", "err\n")
    assert run.duration_s < 10
    assert run.started_at > 0


async def test_the_time_limit_kills_the_whole_group(tmp_path):
    # The shell starts a background sleeper and waits: both must die at the limit.
    marker = tmp_path / "pid"
    command = f"sleep 60 & echo $! > {marker}; echo started; wait"
    run = await run_client(command, env=ENV, timeout_s=0.5)
    assert run.timed_out
    assert run.exit_code is None
    assert run.stdout == "started\n"
    assert 0.5 <= run.duration_s < 3
    assert ends_soon(int(marker.read_text()))


async def test_leftover_background_processes_are_killed_after_a_normal_exit(tmp_path):
    marker = tmp_path / "pid"
    command = f"sleep 60 > /dev/null 2>&1 & echo $! > {marker}; exit 0"
    run = await run_client(command, env=ENV, timeout_s=10)
    assert (run.exit_code, run.timed_out) == (0, False)
    assert ends_soon(int(marker.read_text()))


async def test_a_background_process_holding_the_pipes_does_not_hold_the_runner(tmp_path):
    command = f"{sys.executable} -c 'import time; time.sleep(60)' & echo bye"
    run = await run_client(command, env=ENV, timeout_s=10)
    assert (run.exit_code, run.timed_out) == (0, False)
    assert run.stdout.startswith("bye\n")
    assert run.duration_s < 5


async def test_long_output_keeps_its_head_and_its_end(monkeypatch):
    monkeypatch.setattr(process, "MAX_OUTPUT_BYTES", 1000)
    monkeypatch.setattr(process, "HEAD_OUTPUT_BYTES", 100)
    run = await run_client("seq 1 5000", env=ENV, timeout_s=10)
    total = len("".join(f"{n}\n" for n in range(1, 5001)))
    assert run.stdout.startswith("1\n2\n3\n")
    assert run.stdout.endswith("4999\n5000\n")
    assert run.stdout_bytes == total
    assert f"[… {total - 1100:,} bytes cut: the client wrote {total:,} bytes;" in run.stdout
    assert len(run.stdout) < 1300


async def test_cancelling_the_runner_kills_the_client(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    task = asyncio.create_task(
        run_client(f"echo $$ > {fifo}; exec sleep 60", env=ENV, timeout_s=30)
    )
    async with asyncio.timeout(10):
        pid = int(await asyncio.to_thread(fifo.read_text))  # the client has started
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ends_soon(pid)
