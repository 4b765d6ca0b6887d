"""Translation clients under the runner: the translation cases, the environment contract,
`examples/translate_client.py` passing them and each of its planted bugs found.

Real processes against real mocks on 127.0.0.1; the example streams its frames at once
(`--frame-pause 0`): the verdicts do not depend on timing.
"""

from __future__ import annotations

import os
import shlex
import wave
from array import array
from pathlib import Path

import pytest

from conformance._cli_run import builtin_cases, serve_mock, translation_cases
from conformance.runner import Case, RunConfig, client_env, make_inputs, run_suite, select_cases
from conformance.runner.cases import endpoint_pool
from conformance.verdicts import Verdict

from .support import PYTHON, REFERENCE, ROOT, checks_of

EXAMPLE = ROOT / "examples" / "translate_client.py"
TRANSLATE = f"{PYTHON} {shlex.quote(str(EXAMPLE))} --frame-pause 0"
TRANSLATION_IDS = ["translation-basic", "translation-drop-mid-stream", "translation-server-error"]
# bug -> (the case that exposes it, the checks that must find it)
BUGS = {
    "realtime-events": ("translation-basic", {"client_event_matches_schema"}),
    "no-transcript": ("translation-basic", {"delivers_reply"}),
    "swallow-errors": (
        "translation-server-error",
        {"surfaces_error_event", "surfaces_close_code_and_reason"},
    ),
}


def all_cases() -> list[Case]:
    return [*builtin_cases(), *translation_cases()]


def test_translation_cases_are_the_translation_scenarios_and_not_in_the_realtime_list() -> None:
    assert [case.id for case in translation_cases()] == TRANSLATION_IDS
    assert all(case.translation and case.expect["client"] for case in translation_cases())
    assert not any(case.translation for case in builtin_cases())
    assert not any(case.id.startswith("translation") for case in builtin_cases())


@pytest.mark.parametrize(
    ("pattern", "translation", "expected"),
    [
        (None, False, None),  # the realtime list, unchanged
        ("*", False, None),  # a glob that also matches realtime cases opts nothing in
        ("translation*", False, TRANSLATION_IDS),
        ("default,translation-basic", False, ["default", "translation-basic"]),
        (None, True, TRANSLATION_IDS),
        ("*-server-error", True, ["translation-server-error"]),
    ],
)
def test_a_run_picks_translation_cases_by_flag_or_by_name(
    pattern: str | None, translation: bool, expected: list[str] | None
) -> None:
    chosen = [c.id for c in select_cases(endpoint_pool(all_cases(), pattern, translation), pattern)]
    if expected is None:
        expected = [case.id for case in builtin_cases()]
    assert chosen == expected


def test_the_environment_contract_names_the_translation_url_model_and_audio(
    tmp_path: Path,
) -> None:
    inputs = make_inputs(tmp_path)
    env = client_env(
        inputs,
        url="ws://127.0.0.1:9/v1/realtime",
        base_url="http://127.0.0.1:9/v1",
        case_id="translation-basic",
        base={},
    )
    assert env["REALTIME_TRANSLATION_URL"] == "ws://127.0.0.1:9/v1/realtime/translations"
    assert env["REALTIME_TRANSLATION_MODEL"] == "gpt-realtime-translate"
    with wave.open(env["REALTIME_AUDIO"], "rb") as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (24000, 1, 2)
        pcm = wav.readframes(wav.getnframes())
    assert len(pcm) == 48_000  # 1 s
    for start in range(0, len(pcm), 9600):  # every 200 ms frame is speech-like, not silence
        assert max(abs(s) for s in array("h", pcm[start : start + 9600])) > 1000


async def test_the_example_translation_client_passes_every_translation_case(
    tmp_path: Path,
) -> None:
    config = RunConfig(client=TRANSLATE, out_dir=tmp_path, jobs=2, timeout_s=20)
    suite = await run_suite(translation_cases(), config, mock=serve_mock)
    verdicts = {r.case_id: (str(r.verdict), checks_of(r)) for r in suite.results}
    assert verdicts == dict.fromkeys(TRANSLATION_IDS, ("OK", set())), verdicts
    basic, drop, error = suite.results
    assert basic.outcome is not None
    assert basic.outcome.exit_code == 0
    assert basic.outcome.stdout.startswith("ceci est une traduction")  # the mock's French
    assert drop.outcome is not None
    assert drop.outcome.exit_code == 1
    assert "1006" in drop.outcome.stderr
    assert error.outcome is not None
    assert "server_error" in error.outcome.stderr
    assert "1011" in error.outcome.stderr
    # The checks that judge a translation session ran (none was skipped as realtime-only).
    judged = set(basic.checks_run)
    assert {"client_event_matches_schema", "uses_supported_model", "delivers_reply"} <= judged
    assert {"surfaces_close_code_and_reason", "succeeds_when_the_server_does"} <= judged


@pytest.mark.parametrize("bug", list(BUGS))
async def test_each_planted_translation_bug_fails_its_case(bug: str, tmp_path: Path) -> None:
    case_id, expected = BUGS[bug]
    env = {**os.environ, "TRANSLATE_CLIENT_BUG": bug}
    config = RunConfig(client=TRANSLATE, out_dir=tmp_path, env=env, timeout_s=20)
    (result,) = (
        await run_suite(select_cases(translation_cases(), case_id), config, mock=serve_mock)
    ).results
    assert result.verdict is Verdict.FAILED
    assert expected <= checks_of(result), (bug, checks_of(result))


async def test_a_realtime_client_fails_the_translation_case(tmp_path: Path) -> None:
    config = RunConfig(client=REFERENCE, out_dir=tmp_path, timeout_s=20)
    cases = select_cases(translation_cases(), "translation-basic")
    (result,) = (await run_suite(cases, config, mock=serve_mock)).results
    assert result.verdict is Verdict.FAILED  # it talks to /v1/realtime: never translates


def test_the_documented_translation_command_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """docs/runner.md: `realtime-conformance run --translation --client "python
    examples/translate_client.py"`, frames at the speed of speech (this interpreter)."""
    from conformance.cli import main

    client = f"{PYTHON} {shlex.quote(str(EXAMPLE))}"
    assert main(["run", "--translation", "--client", client, "--out", str(tmp_path)]) == 0
    table = capsys.readouterr().out
    assert all(f"{case_id} " in table for case_id in TRANSLATION_IDS)
    assert "default " not in table  # no realtime case
