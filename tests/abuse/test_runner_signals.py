"""`realtime-conformance run` stopped by SIGTERM, SIGHUP or SIGINT (a cancelled CI job,
`docker stop`, a closed terminal, Ctrl-C): every client process group is killed, the
reports cover the cases that finished, and the exit status is 128 + the signal.

The client of two cases starts two children of its own and waits; the client of a third
exits at once, so one case has finished when the signal comes.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 60.0  # every wait of the test is bounded by this (a loaded CI machine)

CLIENT = """
import os, subprocess, sys, time
if os.environ["REALTIME_CASE"] == "default":
    sys.exit(0)  # finishes at once: this case is in the reports
children = [
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"]) for _ in range(2)
]
with open(sys.argv[1], "w") as fifo:  # tell the test: running, with this process group
    fifo.write(f"{os.environ['REALTIME_CASE']} {os.getpgid(0)}\\n")
time.sleep(120)
"""


def alive_in_group(pgid: int) -> list[int]:
    """The processes of group `pgid` that are still running (zombies count as gone)."""
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        state, _ppid, group = stat.rsplit(")", 1)[1].split()[:3]
        if int(group) == pgid and state != "Z":
            alive.append(int(entry.name))
    return alive


def lines_of(stream: object, into: queue.Queue[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        into.put(line)
    into.put("")


def fifo_lines(fifo: Path, into: queue.Queue[str]) -> None:
    """Every line written to `fifo` by any number of writers, one after the other."""
    while True:
        with open(fifo, encoding="utf-8") as reader:  # blocks until a writer opens it
            for line in reader:
                into.put(line)
                if line == "stop\n":
                    return


@contextlib.contextmanager
def runner(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], queue.Queue[str], Path]]:
    """`realtime-conformance run` on 3 cases in its own session; killed whatever happens."""
    fifo = tmp_path / "started"
    os.mkfifo(fifo)
    script = tmp_path / "client.py"
    script.write_text(CLIENT, encoding="utf-8")
    out = tmp_path / "out"
    command = [
        *(sys.executable, "-m", "conformance", "run"),
        *("--client", f"{sys.executable} {script} {fifo}"),
        *("--cases", "default,tolerant,commit-empty", "--jobs", "3"),
        *("--timeout", "100", "--out", str(out)),
    ]
    with supervised(command, fifo) as (proc, started):
        yield proc, started, out


@contextlib.contextmanager
def supervised(
    command: list[str], fifo: Path
) -> Iterator[tuple[subprocess.Popen[str], queue.Queue[str]]]:
    """Run `command` in its own session (stderr piped); yield it and the lines its client
    writes to `fifo`. Its whole process group is killed afterwards, whatever happens."""
    proc = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    started: queue.Queue[str] = queue.Queue()
    threading.Thread(target=fifo_lines, args=(fifo, started), daemon=True).start()
    try:
        yield proc, started
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(WAIT_S)
        proc.stderr.close()  # type: ignore[union-attr]
        with contextlib.suppress(OSError):  # end the reader thread (if it waits for a writer)
            stop = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            os.write(stop, b"stop\n")
            os.close(stop)


@pytest.mark.parametrize(
    ("sig", "status"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)]
)
def test_a_signal_stops_every_client_and_writes_the_finished_cases(
    tmp_path: Path, sig: signal.Signals, status: int
) -> None:
    with runner(tmp_path) as (proc, started, out):
        progress: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lines_of, args=(proc.stderr, progress), daemon=True).start()
        groups: dict[str, int] = {}
        for _ in range(2):  # the two waiting clients run, each with its children
            case, group = started.get(timeout=WAIT_S).split()
            groups[case] = int(group)
        assert set(groups) == {"tolerant", "commit-empty"}
        while "[1/3] default ..." not in (line := progress.get(timeout=WAIT_S)):
            assert line, "the runner ended before the default case finished"
        assert all(alive_in_group(pgid) for pgid in groups.values())

        proc.send_signal(sig)
        assert proc.wait(WAIT_S) == status
        err = "".join(iter(lambda: progress.get(timeout=WAIT_S), ""))

    for case, pgid in groups.items():
        assert alive_in_group(pgid) == [], f"{case}: its client's processes outlived the runner"
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert [case["id"] for case in report["cases"]] == ["default"]
    assert (out / "report.html").is_file()
    assert f"stopped by {sig.name} (exit {status})" in err
    assert "the reports cover the 1 of 3 case(s) that finished" in err
