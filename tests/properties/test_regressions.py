"""Failures the fuzzer found, kept as scenario files in `fixtures/regressions/`.

Each file is a scenario saved by `realtime-conformance fuzz`; its header comment names
the planted bug of `examples/broken_client.py` it caught (`BROKEN_CLIENT_BUG=...`). They
are not built-in scenarios (the catalog is `fixtures/scenarios/`), so they are loaded
here by path: each must still load, still catch its bug, and pass with a correct client.
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest

from conformance._cli_run import serve_mock
from conformance.fuzzing import FuzzConfig, replay_scenario
from conformance.verdicts import Verdict
from mock_server.scenarios import builtin_scenarios, load_scenario

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
REGRESSIONS = sorted((ROOT / "fixtures" / "regressions").glob("*.yaml"))
BROKEN = f"{shlex.quote(sys.executable)} {shlex.quote(str(ROOT / 'examples/broken_client.py'))}"
REFERENCE = (
    f"{shlex.quote(sys.executable)} -m client_reference.cli "
    '"$REALTIME_SCREENSHOT" --model "$REALTIME_MODEL" --timeout 5'
)


def planted_bug(path: Path) -> str:
    found = re.search(r"BROKEN_CLIENT_BUG=([a-z-]+)", path.read_text(encoding="utf-8"))
    assert found is not None, f"{path.name} must name the bug it caught in its header"
    return found.group(1)


def replay(path: Path, client: str, out: Path) -> Verdict:
    config = FuzzConfig(client=client, out_dir=out, timeout_s=8.0, database=False)
    return replay_scenario(path, config, mock=serve_mock).verdict


def test_there_are_regressions_and_none_is_a_builtin_scenario() -> None:
    assert REGRESSIONS
    builtin = {scenario.id for scenario in builtin_scenarios()}
    assert builtin.isdisjoint(path.stem for path in REGRESSIONS)


@pytest.mark.parametrize("path", REGRESSIONS, ids=lambda path: path.stem)
def test_a_regression_still_catches_its_bug_and_passes_correct_clients(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load_scenario(path).id == path.stem
    monkeypatch.setenv("BROKEN_CLIENT_BUG", planted_bug(path))
    assert replay(path, BROKEN, tmp_path / "bug") is Verdict.FAILED
    monkeypatch.setenv("BROKEN_CLIENT_BUG", "none")
    assert replay(path, BROKEN, tmp_path / "none") is not Verdict.FAILED
    assert replay(path, REFERENCE, tmp_path / "reference") is not Verdict.FAILED
