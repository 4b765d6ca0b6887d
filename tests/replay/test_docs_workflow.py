"""docs/replay.md's commands, run as written (a free port instead of 8765, realtime-notes
for "CMD"), on recordings made by realtime-notes on the mock."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.replay import server_event_types
from conformance.transcript import read_jsonl
from tests.processes import BIN, interrupted, user_shell

from .helpers import WAIT, notes_session

pytestmark = pytest.mark.integration


@contextlib.contextmanager
def serving(*args: str, cwd: Path) -> Iterator[str]:
    """`realtime-mock serve ARGS --port 0`; yields its URL."""
    argv = [str(BIN / "realtime-mock"), "serve", *args, "--port", "0"]
    with interrupted(argv, cwd, stop_within_s=WAIT) as served:
        assert served.stdout is not None
        line = served.stdout.readline()
        found = re.search(r"ws://127\.0\.0\.1:\d+/v1/realtime", line)
        assert found, line
        yield found.group(0)


def test_the_documented_replay_and_scenario_from_commands(tmp_path: Path) -> None:
    session = asyncio.run(notes_session(tmp_path))
    session.rename(tmp_path / "session.jsonl")
    closed = asyncio.run(notes_session(tmp_path, "accepted-then-closed"))
    closed.rename(tmp_path / "closed.jsonl")

    done = user_shell(
        "realtime-conformance replay session.jsonl --timing fast --record again.jsonl", tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "frames sent:     4 of 4" in done.stdout
    assert server_event_types(read_jsonl(tmp_path / "again.jsonl")) == server_event_types(
        read_jsonl(tmp_path / "session.jsonl")
    )
    with serving("--pace", "fast", cwd=tmp_path) as url:
        text = "realtime-conformance replay session.jsonl --against ws://127.0.0.1:8765/v1/realtime"
        done = user_shell(text.replace("ws://127.0.0.1:8765/v1/realtime", url), tmp_path)
    assert done.returncode == 0, done.stderr
    assert "end:             client closed 1000" in done.stdout

    done = user_shell(
        "realtime-conformance scenario-from closed.jsonl -o closed-at-once.yaml", tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "reproduces close 1000 before session.created" in done.stderr

    done = user_shell(
        "realtime-conformance replay closed.jsonl --scenario closed-at-once.yaml", tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "end:             server closed 1000" in done.stdout

    client = "'realtime-notes \"$REALTIME_SCREENSHOT\" --timeout 5'"
    done = user_shell(
        'realtime-conformance run --client "CMD" --scenario closed-at-once.yaml'.replace(
            '"CMD"', client
        ),
        tmp_path,
    )
    assert "closed-at-once" in done.stdout, done.stdout + done.stderr
    assert done.returncode == 0, done.stdout + done.stderr

    with serving("--scenario", "closed-at-once.yaml", cwd=tmp_path) as url:
        done = user_shell(f"realtime-conformance replay closed.jsonl --against {url}", tmp_path)
    assert "end:             server closed 1000" in done.stdout, done.stdout + done.stderr
