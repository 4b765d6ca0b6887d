"""`realtime-conformance fuzz` finds a planted client bug, shrinks it and saves a replayable
scenario; a correct client passes the same search.

The client under test is `examples/broken_client.py` (one planted bug picked with
`BROKEN_CLIENT_BUG`), run as a subprocess through the runner's case machinery, so the
budgets here stay small: a few cases, no stalls (a stall costs the client's own 10 s).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest
import yaml

from conformance.cli import main
from mock_server.scenarios import load_scenario

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CLIENT = f"{shlex.quote(sys.executable)} {shlex.quote(str(ROOT / 'examples/broken_client.py'))}"
FAST = ["--faults", "error,close,drop", "--max-runs", "40", "--timeout", "8"]


def fuzz(out: Path, *extra: str) -> int:
    return main(["fuzz", "--client", CLIENT, "--out", str(out), *FAST, *extra])


def saved_scenarios(out: Path) -> list[Path]:
    return sorted(out.glob("fuzz-*.yaml"))


def test_an_unknown_event_crash_is_found_shrunk_and_saved_as_a_replayable_scenario(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BROKEN_CLIENT_BUG", "unknown-event")
    assert fuzz(tmp_path, "--examples", "20") == 1
    printed = capsys.readouterr().out
    assert "succeeds_when_the_server_does" in printed
    assert "replayed: FAILED again" in printed
    (path,) = saved_scenarios(tmp_path)
    scenario = load_scenario(path)  # the mock's own loader accepts it
    actions = [action.name for rule in scenario.rules for action in rule.do]
    assert actions == ["inject_unknown_event"]  # shrunk to the one event that matters
    assert (tmp_path / "cases" / scenario.id / "connection-0.jsonl").is_file()
    assert fuzz(tmp_path, "--replay", str(path)) == 1  # and it reproduces on replay
    monkeypatch.setenv("BROKEN_CLIENT_BUG", "none")
    assert fuzz(tmp_path, "--replay", str(path)) == 0  # the correct flow passes it


def test_a_response_create_during_a_response_is_found_on_a_paced_mock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BROKEN_CLIENT_BUG", "double-response")
    # The client shows only the first of two replies: delivers_reply finds that at once.
    # Leave it out to find the race itself.
    selection = ["--checks", "default,-delivers_reply"]
    assert fuzz(tmp_path, "--examples", "20", "--no-database", *selection) == 1
    assert "tracks_response_lifecycle" in capsys.readouterr().out
    (path,) = saved_scenarios(tmp_path)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    # The mock's default (live) pace keeps a reply active for about a second, so the race
    # needs no pace rule: the shrunk scenario has none left.
    actions = [list(action) for rule in data.get("rules") or () for action in rule["do"]]
    assert ["pace"] not in actions


def test_a_correct_client_survives_the_generated_streams_and_faults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BROKEN_CLIENT_BUG", "none")
    assert fuzz(tmp_path, "--examples", "6", "--seed", "3") == 0
    assert "No failure found: 6 runs" in capsys.readouterr().out
    assert saved_scenarios(tmp_path) == []


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--faults", "explode"], "unknown fault kinds ['explode']"),
        (["--checks", "defualt"], "did you mean 'default'"),
        (["--examples", "0"], "examples=0"),
    ],
)
def test_bad_options_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    assert main(["fuzz", "--client", "true", "--out", str(tmp_path), *arguments]) == 2
    assert message in capsys.readouterr().err


def test_fuzz_needs_a_client_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fuzz"]) == 2
    assert "--client" in capsys.readouterr().err


def test_a_printed_key_is_caught_although_reports_mask_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BROKEN_CLIENT_BUG", "print-key")
    assert fuzz(tmp_path, "--examples", "3", "--no-database") == 1
    printed = capsys.readouterr().out
    assert "does_not_print_api_key" in printed
    assert "sk-test-" not in printed.replace("sk-test-…", "")


def test_the_replay_line_keeps_the_check_selection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Listening for the beta response.text.delta: the client prints nothing and exits 0.
    monkeypatch.setenv("BROKEN_CLIENT_BUG", "beta-event-names")
    selection = ["--checks", "prints_streamed_text", "--no-database"]
    assert fuzz(tmp_path, "--examples", "5", "--max-runs", "12", *selection) == 1
    printed = capsys.readouterr().out
    (line,) = [text for text in printed.splitlines() if text.startswith("Replay: ")]
    argv = shlex.split(line.removeprefix("Replay: "))
    assert argv[:4] == ["realtime-conformance", "fuzz", "--client", CLIENT]
    assert argv[argv.index("--checks") + 1] == "prints_streamed_text"
    assert argv[argv.index("--timeout") + 1] == "8"
    assert main([*argv[1:], "--out", str(tmp_path / "replay")]) == 1  # judged the same way
    replayed = capsys.readouterr().out
    assert "prints_streamed_text" in replayed
    assert "delivers_reply" not in replayed  # not in the selection, so not judged
