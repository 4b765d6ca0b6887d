"""First connection after start: listening socket ready -> first server message.

Run: `python bench/bench_first_connect.py` (about 20 s) or with `--before REV` to also
measure the mock of an older commit in the same run (`git archive REV`, no checkout).
Method: docs/benchmarks.md ("First connection").

Every run starts a fresh server process (`realtime-mock serve --port 0` through
`python -m mock_server`, or the raw `websockets` baseline `bench/_raw_server.py`), waits
for its "listening on ws://..." line on stdout (the socket listens before that line is
printed), then immediately connects and times until the first message arrives
(`session.created`; raw: its pre-built 1.2 KB message). A second connection is timed
too: the difference is what the first connection pays lazily. Cells are interleaved
(raw, mock, ..., raw, mock, ...), each server is stopped by its PID.

Goal (issue 11): the mock's first `session.created` within 5 ms of the socket being
ready, with no scenario. The exit status is 1 when it is not met.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
GOAL_MS = 5.0
SCENARIO = "benign-errors-mid-session"
HEADERS = {"Authorization": "Bearer sk-bench-first-connect-0000"}
START_TIMEOUT = 30.0
IO_TIMEOUT = 10.0


@dataclass
class Cell:
    """One row: how to start the server and what to connect to."""

    name: str
    argv: list[str]
    query: str = ""
    cwd: Path = ROOT
    ready_ms: list[float] = field(default_factory=list)
    first_ms: list[float] = field(default_factory=list)
    second_ms: list[float] = field(default_factory=list)


def mock_argv(*extra: str, compression: bool) -> list[str]:
    argv = [sys.executable, "-m", "mock_server", "serve", "--port", "0", "--host", "127.0.0.1"]
    return [*argv, *(() if compression else ("--no-compression",)), *extra]


def raw_argv(*, compression: bool) -> list[str]:
    script = str(ROOT / "bench" / "_raw_server.py")
    return [sys.executable, script, "--compression", "deflate" if compression else "none"]


async def first_message_ms(url: str, *, compression: bool) -> float:
    started = time.perf_counter()
    async with connect(
        url,
        additional_headers=HEADERS,
        compression="deflate" if compression else None,
        proxy=None,
        ping_interval=None,
        open_timeout=IO_TIMEOUT,
    ) as ws:
        await asyncio.wait_for(ws.recv(), IO_TIMEOUT)
        return (time.perf_counter() - started) * 1000.0


async def measure(cell: Cell, *, compression: bool) -> None:
    """Start the cell's server, time its first two connections, stop it by PID."""
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *cell.argv,
        cwd=cell.cwd,
        stdin=subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(cell.cwd)},
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), START_TIMEOUT)).decode()
        ready = time.perf_counter()
        if " on ws://" not in line:
            _, err = await asyncio.wait_for(proc.communicate(), IO_TIMEOUT)
            raise RuntimeError(f"{cell.name} did not start: {line!r} {err.decode()[-600:]}")
        base = line.split(" on ", 1)[1].split()[0]
        url = f"{base}?model=gpt-realtime{cell.query}"
        cell.first_ms.append(await first_message_ms(url, compression=compression))
        cell.second_ms.append(await first_message_ms(url, compression=compression))
        cell.ready_ms.append((ready - started) * 1000.0)
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), IO_TIMEOUT)
            except TimeoutError:
                proc.kill()
                await proc.wait()


def archive(rev: str, into: Path) -> Path:
    """The tree of commit `rev` extracted into `into` (git archive; no checkout, no worktree)."""
    tar = into / "tree.tar"
    with tar.open("wb") as out:
        subprocess.run(["git", "archive", rev], cwd=ROOT, stdout=out, check=True, timeout=60)
    with tarfile.open(tar) as tree:
        tree.extractall(into / "tree", filter="data")
    return into / "tree"


def cells(args: argparse.Namespace, old_tree: Path | None) -> list[Cell]:
    compression = args.compression == "on"
    found = [
        Cell("raw websockets", raw_argv(compression=compression)),
        Cell("mock, no scenario", mock_argv(compression=compression)),
        Cell(
            f"mock --scenario {SCENARIO}",
            mock_argv("--scenario", SCENARIO, compression=compression),
        ),
        Cell(
            "mock, ?scenario= on the connection",
            mock_argv(compression=compression),
            query=f"&scenario={SCENARIO}",
        ),
    ]
    if old_tree is not None:
        found.append(
            Cell(
                f"mock at {args.before}, no scenario",
                mock_argv(compression=compression),
                cwd=old_tree,
            )
        )
    return found


def fmt(values: Sequence[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):7.1f} [{min(values):.1f}-{max(values):.1f}]"


def report(rows: list[Cell]) -> bool:
    raw = statistics.median(rows[0].first_ms)
    print(
        f"{'server':<44} {'start->ready ms':>24} {'ready->1st msg ms':>24} "
        f"{'2nd connection ms':>24} {'1st/raw':>8}"
    )
    for cell in rows:
        ratio = statistics.median(cell.first_ms) / raw if raw else float("nan")
        print(
            f"{cell.name:<44} {fmt(cell.ready_ms):>24} {fmt(cell.first_ms):>24} "
            f"{fmt(cell.second_ms):>24} {ratio:>7.2f}x"
        )
    mock = statistics.median(rows[1].first_ms)
    met = mock <= GOAL_MS
    verdict = "PASS" if met else "FAIL"
    print(
        f"\ngoal: mock first session.created <= {GOAL_MS:.0f} ms after the socket is ready "
        f"(no scenario): {mock:.1f} ms (raw {raw:.1f} ms) {verdict}"
    )
    return met


async def run(args: argparse.Namespace, old_tree: Path | None) -> bool:
    rows = cells(args, old_tree)
    compression = args.compression == "on"
    # Warm this process's client side (imports, first handshake) on a throwaway raw run.
    await measure(Cell("warm-up", rows[0].argv), compression=compression)
    for _ in range(args.runs):
        for cell in rows:
            await measure(cell, compression=compression)
    return report(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="fresh servers per row (default 7)")
    parser.add_argument(
        "--compression", choices=("off", "on"), default="off", help="permessage-deflate"
    )
    parser.add_argument(
        "--before", metavar="REV", help="also measure the mock of this commit (git archive)"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-first-") as tmp:
        old_tree = archive(args.before, Path(tmp)) if args.before else None
        met = asyncio.run(run(args, old_tree))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
