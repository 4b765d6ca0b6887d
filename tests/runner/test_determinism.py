"""Verdicts do not depend on scheduling: correct clients, every built-in case, busy CPUs.

Both cores are kept busy by two busy-loop processes while the reference client and the
examples' correct client (`broken_client.py` with `BROKEN_CLIENT_BUG=none`) run every
case of `builtin_cases()` several times; each case must get the same verdict and the
same set of violated checks every time (docs/runner.md, "What a client is answerable
for"). The CI-sized test repeats 3 times; the slow one 20 times:

    RUN_SLOW=1 .venv/bin/pytest -m slow tests/runner/test_determinism.py
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance._cli_run import builtin_cases, serve_mock
from conformance.runner import RunConfig, run_suite
from conformance.runner.long_session import LONG_SESSION_CASES
from conformance.verdicts import CaseResult

from .support import BROKEN, REFERENCE

pytestmark = pytest.mark.integration

CLIENTS = {
    "reference": (REFERENCE, {}),
    "broken_client none": (BROKEN, {"BROKEN_CLIENT_BUG": "none"}),
}
LONG_SESSION = frozenset(LONG_SESSION_CASES)
Outcome = tuple[str, frozenset[str]]  # verdict, the checks it violated


@pytest.fixture
def busy_cpus() -> Iterator[None]:
    """Two busy-loop processes (one per core) for the duration of the test."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
        for hog in hogs:
            hog.wait(timeout=10)


def outcome(result: CaseResult) -> Outcome:
    return str(result.verdict), frozenset(v.check for v in result.violations)


async def repeat(
    command: str, env: dict[str, str], tmp: Path, times: int
) -> list[dict[str, Outcome]]:
    """`times` runs of every built-in case; per run, case id -> outcome."""
    cases = builtin_cases()
    runs = []
    for n in range(times):
        config = RunConfig(client=command, out_dir=tmp / str(n), jobs=4, env={**os.environ, **env})
        suite = await run_suite(cases, config, mock=serve_mock)
        runs.append({r.case_id: outcome(r) for r in suite.results})
    return runs


def differences(runs: list[dict[str, Outcome]]) -> list[str]:
    """One line per case whose outcome changed between runs."""
    changed = []
    for case_id, first in runs[0].items():
        seen = [run[case_id] for run in runs]
        if any(each != first for each in seen):
            shown = "; ".join(f"run {n}: {v} {sorted(c)}" for n, (v, c) in enumerate(seen))
            changed.append(f"{case_id}: {shown}")
    return changed


def check_determinism(tmp: Path, times: int) -> None:
    """Both clients at once (more load, half the wall time), `times` runs each."""

    async def both() -> list[list[dict[str, Outcome]]]:
        return await asyncio.gather(
            *(
                repeat(command, env, tmp / name.replace(" ", "-"), times)
                for name, (command, env) in CLIENTS.items()
            )
        )

    report = []
    for name, runs in zip(CLIENTS, asyncio.run(both()), strict=True):
        assert len(runs[0]) == len(builtin_cases())
        report += [f"{name}: {line}" for line in differences(runs)]
        # Identical is not enough: these clients are correct, so none of the one-shot
        # cases may fail (the long-session cases are for clients that stay connected).
        failed = {
            case: checks
            for case, (verdict, checks) in runs[0].items()
            if verdict == "FAILED" and case not in LONG_SESSION
        }
        assert not failed, f"{name} FAILED: {failed}"
    assert not report, "verdicts changed between repetitions:\n" + "\n".join(report)


def test_verdicts_are_identical_across_repetitions_on_busy_cpus(tmp_path, busy_cpus):
    check_determinism(tmp_path, times=3)


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("RUN_SLOW"),
    reason="20 repetitions of every case (several minutes): RUN_SLOW=1 pytest -m slow",
)
def test_verdicts_are_identical_across_20_repetitions_on_busy_cpus(tmp_path, busy_cpus):
    check_determinism(tmp_path, times=20)
