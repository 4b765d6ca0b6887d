"""`realtime-conformance fuzz --translation`: generated translation streams, valid and
replayable; a correct translation client passes them, a planted bug is found and saved.

The clients are `examples/translate_client.py` (frames sent at once, `--frame-pause 0`)
run through the runner's case machinery against real mocks on 127.0.0.1; no stalls (a
stall costs the client's own 10 s wait).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings

from conformance.cli import main
from conformance.fuzzing import scenario_yaml
from conformance.fuzzing._cases import FuzzCase
from conformance.fuzzing._scenario import expectations
from conformance.fuzzing._streams import KNOWN_TYPES
from conformance.fuzzing._translation import TRANSLATION_KEY
from conformance.schemas import validate_translation_server_event
from conformance.strategies import translation_fuzz_cases
from mock_server.scenarios import load_scenario, load_text

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "translate_client.py"
CLIENT = f"{shlex.quote(sys.executable)} {shlex.quote(str(EXAMPLE))} --frame-pause 0"
FAST = ["--faults", "error,close,drop", "--max-runs", "30", "--timeout", "10"]
FAST += ["--pass-env", "TRANSLATE_CLIENT_BUG"]  # the runner passes only what it is told


@settings(max_examples=60)
@given(translation_fuzz_cases(max_faults=2))
def test_generated_translation_cases_are_valid_streams_and_loadable_scenarios(
    case: FuzzCase,
) -> None:
    assert case.translation
    assert "tracks_response_lifecycle" not in expectations(case)
    prelude, answer = case.segments
    output = ""
    last: dict[str, int] = {}
    for event in (*prelude, *answer):
        if event["type"] not in KNOWN_TYPES:
            continue  # a future event type: the client must skip it
        body = {"event_id": "event_1", **{k: v for k, v in event.items() if k[:2] != "x_"}}
        assert validate_translation_server_event(body) == [], event
        elapsed = event.get("elapsed_ms")
        if elapsed is not None:  # 200 ms steps, never back within one delta type
            assert elapsed % 200 == 0
            assert elapsed >= last.get(event["type"], 0)
            last[event["type"]] = elapsed
        if event["type"] == "session.output_transcript.delta":
            output += event["delta"]
    assert output == case.texts[TRANSLATION_KEY]  # the deltas join to the translation
    scenario = load_text(scenario_yaml(case))  # the mock's own loader accepts it
    assert scenario.translation
    appends = [r for r in scenario.rules if r.when.on == "client_event"]
    assert all(r.consumes for r in appends)
    assert all(r.when.match.matches({"type": "session.input_audio_buffer.append"}) for r in appends)


def fuzz(out: Path, *extra: str) -> int:
    return main(["fuzz", "--translation", "--client", CLIENT, "--out", str(out), *FAST, *extra])


@pytest.mark.integration
def test_a_correct_translation_client_passes_the_generated_streams(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRANSLATE_CLIENT_BUG", "none")
    assert fuzz(tmp_path, "--examples", "8", "--no-database") == 0
    assert "No failure found" in capsys.readouterr().out


@pytest.mark.integration
def test_a_translation_client_that_shows_nothing_is_found_and_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRANSLATE_CLIENT_BUG", "no-transcript")
    assert fuzz(tmp_path, "--examples", "10") == 1
    printed = capsys.readouterr().out
    assert "delivers_reply" in printed
    assert "replayed: FAILED again" in printed
    assert "fuzz --translation --client" in printed  # the replay command keeps the mode
    (path,) = sorted(tmp_path.glob("fuzz-*.yaml"))
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert data["endpoint"] == "translation"
    assert load_scenario(path).translation
    assert fuzz(tmp_path, "--replay", str(path)) == 1  # it reproduces on replay
    monkeypatch.setenv("TRANSLATE_CLIENT_BUG", "none")
    assert fuzz(tmp_path, "--replay", str(path)) == 0  # the correct client passes it
