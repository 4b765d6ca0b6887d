"""`realtime-conformance fuzz` stopped by SIGTERM, SIGHUP or SIGINT kills the running
client's process group at once and exits 128 + the signal, like `run` (the same
`_cli_run.SignalStop`); `fuzz --pass-env NAME` gives the client more of the environment,
which it otherwise gets only through the runner's allow-list."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from .test_runner_signals import WAIT_S, alive_in_group, lines_of, supervised

ROOT = Path(__file__).resolve().parents[2]

SLEEPER = """
import os, subprocess, sys, time
children = [
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"]) for _ in range(2)
]
with open(sys.argv[1], "w") as fifo:  # tell the test: running, with this process group
    fifo.write(f"{os.getpgid(0)}\\n")
time.sleep(120)
"""

ENV_DUMP = """
import os, sys
with open(sys.argv[1], "w") as out:
    out.write(repr((os.environ.get("I12E_PASSED"), os.environ.get("I12E_SECRET_TOKEN"))))
"""


def fuzz_command(tmp_path: Path, client: str, *extra: str) -> list[str]:
    return [
        *(sys.executable, "-m", "conformance", "fuzz", "--client", client),
        *("--examples", "1", "--max-runs", "1", "--faults", "none", "--no-database"),
        *("--out", str(tmp_path / "out"), *extra),
    ]


@contextlib.contextmanager
def fuzzing(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], queue.Queue[str]]]:
    """`realtime-conformance fuzz` of a client that waits, in its own session; killed
    whatever happens. Yields the process and the lines its client writes to a FIFO."""
    fifo = tmp_path / "started"
    os.mkfifo(fifo)
    script = tmp_path / "client.py"
    script.write_text(SLEEPER, encoding="utf-8")
    command = fuzz_command(tmp_path, f"{sys.executable} {script} {fifo}", "--timeout", "100")
    with supervised(command, fifo) as (proc, started):
        yield proc, started


@pytest.mark.parametrize(
    ("sig", "status"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)]
)
def test_a_signal_stops_the_running_client_and_the_search(
    tmp_path: Path, sig: signal.Signals, status: int
) -> None:
    with fuzzing(tmp_path) as (proc, started):
        progress: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lines_of, args=(proc.stderr, progress), daemon=True).start()
        group = int(started.get(timeout=WAIT_S))
        assert alive_in_group(group)

        proc.send_signal(sig)
        assert proc.wait(WAIT_S) == status
        err = "".join(iter(lambda: progress.get(timeout=WAIT_S), ""))

    assert alive_in_group(group) == [], "the client's processes outlived fuzz"
    assert f"{sig.name}: stopping every client" in err
    assert f"stopped by {sig.name} (exit {status}) after 1 client run(s)" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("extra", "seen"),
    [
        ((), (None, None)),
        (("--pass-env", "I12E_PASSED"), ("yes", None)),
        (("--pass-env", "I12E_*"), ("yes", "tok-123")),
    ],
)
def test_pass_env_gives_the_client_more_of_the_environment(
    tmp_path: Path, extra: tuple[str, ...], seen: tuple[str | None, str | None]
) -> None:
    script = tmp_path / "client.py"
    script.write_text(ENV_DUMP, encoding="utf-8")
    dump = tmp_path / "env.txt"
    env = {**os.environ, "I12E_PASSED": "yes", "I12E_SECRET_TOKEN": "tok-123"}
    command = fuzz_command(tmp_path, f"{sys.executable} {script} {dump}", *extra)
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=WAIT_S, check=False
    )
    assert done.returncode in (0, 1), done.stderr
    assert dump.read_text(encoding="utf-8") == repr(seen)
