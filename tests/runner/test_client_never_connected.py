"""A client that cannot start shows why: the tail of its stderr, keys masked."""

from __future__ import annotations

import re

from conformance.cli import main
from conformance.runner.checks import stderr_tail

from .support import PYTHON, suite


async def test_the_finding_quotes_the_end_of_stderr(tmp_path) -> None:
    (result,) = (await suite("no-such-hud-client-xyz --go", tmp_path, "default")).results
    [violation] = [v for v in result.violations if v.check == "client_connects"]
    assert violation.received.startswith("no connection (exit 127); its stderr ends: ")
    assert violation.received.endswith("no-such-hud-client-xyz: not found")


async def test_a_missing_module_names_the_module_and_the_key_stays_masked(tmp_path) -> None:
    code = (
        "import os, sys; print('key', os.environ['OPENAI_API_KEY'], file=sys.stderr); import hudx"
    )
    (result,) = (await suite(f'{PYTHON} -c "{code}"', tmp_path, "default")).results
    [violation] = [v for v in result.violations if v.check == "client_connects"]
    assert "ModuleNotFoundError: No module named 'hudx'" in violation.received
    assert "sk-test-" not in violation.received.replace("sk-test-[REDACTED]", "")


def test_the_progress_line_says_it_too(tmp_path, capsys) -> None:
    out = str(tmp_path / "out")
    assert (
        main(["run", "--client", "no-such-hud-client-xyz", "--cases", "default", "--out", out]) == 1
    )
    err = capsys.readouterr().err
    assert (
        "[1/1] default ... FAILED — client never connected: no connection (exit 127); "
        "its stderr ends: "
    ) in err
    assert "no-such-hud-client-xyz: not found\n" in err


def test_stderr_tail_keeps_the_last_lines_on_one_line() -> None:
    text = "Traceback (most recent call last):\n  File 'x', line 1\n\n  boom sk-secret-123456\n\n"
    assert stderr_tail(text, ("sk-secret-123456",), lines=2) == "File 'x', line 1 | boom [REDACTED]"
    assert stderr_tail("") == ""
    assert stderr_tail("x" * 500).endswith("…")
    assert len(stderr_tail("x" * 500)) == 200


async def test_a_silent_client_says_so(tmp_path) -> None:
    (result,) = (await suite("exit 3", tmp_path, "default")).results
    [violation] = [v for v in result.violations if v.check == "client_connects"]
    assert violation.received == "no connection (exit 3); nothing on stderr"


async def test_a_client_killed_before_connecting_is_never_said_to_be_connected(tmp_path) -> None:
    (result,) = (await suite("sleep 30", tmp_path, "default", timeout_s=0.5)).results
    found = {v.check: v.received for v in result.violations}
    assert found["client_connects"] == "no connection (killed at the time limit); nothing on stderr"
    killed = found["finishes_within_time_limit"]
    assert re.fullmatch(r"still running after \d+\.\d s without ever connecting", killed)
    assert all("open connection" not in str(v) for v in result.violations)
