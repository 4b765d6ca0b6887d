"""`bench/bench_first_connect.py` runs and prints every row (docs/benchmarks.md shows it).

Only the table is checked, not the timings: the exit status (goal met or not) depends
on the machine's load, so either 0 or 1 is accepted here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.integration
def test_the_first_connection_bench_prints_every_row() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_first_connect.py"), "--runs", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr[-2000:]
    rows = [line.split("  ")[0] for line in done.stdout.splitlines()]
    for row in (
        "raw websockets",
        "mock, no scenario",
        "mock --scenario benign-errors-mid-session",
        "mock, ?scenario= on the connection",
    ):
        assert row in rows, done.stdout
    assert "goal: mock first session.created <= 5 ms after the socket is ready" in done.stdout
