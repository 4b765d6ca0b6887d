"""Case selection, the generated inputs and the runner's own checks (no processes)."""

from __future__ import annotations

import struct
import zlib

import pytest

from conformance.checks import CheckContext, RunOutcome
from conformance.protocol.errors import UsageError
from conformance.runner import (
    DEFAULT_CASE,
    RunConfig,
    client_env,
    make_inputs,
    new_test_key,
    runner_registry,
    scenario_case,
    screenshot_png,
    select_cases,
)
from conformance.transcript import Transcript
from conformance.verdicts import judge_case

CASES = [DEFAULT_CASE] + [
    scenario_case(name) for name in ("beta-header-rejected", "missing-model", "unknown-model")
]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (None, ["default", "beta-header-rejected", "missing-model", "unknown-model"]),
        ("", ["default", "beta-header-rejected", "missing-model", "unknown-model"]),
        ("*-model", ["missing-model", "unknown-model"]),
        ("unknown-model, default", ["default", "unknown-model"]),  # case order, not given order
        ("beta-*,beta-header-rejected", ["beta-header-rejected"]),
        ("[mu]*", ["missing-model", "unknown-model"]),
    ],
)
def test_select_cases(pattern, expected):
    assert [c.id for c in select_cases(CASES, pattern)] == expected


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("missing-modle", "no case matches 'missing-modle'; did you mean 'missing-model'?"),
        ("default,zzzz", "no case matches 'zzzz' (`realtime-conformance run --list-cases`"),
        ("nothing-*", "no case matches 'nothing-*'"),
    ],
)
def test_unknown_cases_are_usage_errors(pattern, message):
    with pytest.raises(UsageError, match="no case matches") as raised:
        select_cases(CASES, pattern)
    assert message in str(raised.value)


def test_scenario_case_carries_the_expectation():
    case = scenario_case("x", client=["surfaces_error_event"], expect_summary="s", summary="t")
    assert (case.scenario, dict(case.expect)) == (
        "x",
        {"client": ("surfaces_error_event",), "summary": "s"},
    )
    assert DEFAULT_CASE.scenario is None


def test_screenshot_is_a_valid_png():
    png = screenshot_png(40, 30)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height, depth, colour = struct.unpack(">IIBB", png[16:26])
    assert (width, height, depth, colour) == (40, 30, 8, 2)
    length = struct.unpack(">I", png[33:37])[0]
    raw = zlib.decompress(png[41 : 41 + length])
    assert len(raw) == 30 * (1 + 40 * 3)
    assert png == screenshot_png(40, 30)  # deterministic


def test_inputs_and_env(tmp_path):
    inputs = make_inputs(tmp_path / "in")
    env = client_env(inputs, url="ws://u", base_url="http://b/v1", case_id="c", base={"HOME": "/h"})
    assert env["HOME"] == "/h"
    assert env["OPENAI_API_KEY"] == inputs.api_key
    assert inputs.screenshot.read_bytes() == screenshot_png(320, 200)
    assert inputs.prompt_file.read_text().strip() == inputs.prompt == env["REALTIME_PROMPT_TEXT"]
    assert inputs.api_key not in repr(inputs)
    assert inputs.redact(f"key={inputs.api_key}") == "key=[REDACTED]"
    assert new_test_key() != new_test_key()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("client", " ", "the client command is empty"),
        ("timeout_s", -1.0, "positive number"),
        ("jobs", 0, "at least 1"),
        ("settle_s", -0.1, "must not be negative"),
        ("checks", ("nope",), "unknown check 'nope'"),
    ],
)
def test_run_config_is_validated(field, value, message):
    values = {"client": "true", field: value}
    with pytest.raises(UsageError, match=message):
        RunConfig(**values)


def _judge(transcripts, exit_code, expect=None):
    ctx = CheckContext(
        transcripts=tuple(transcripts), outcome=RunOutcome(exit_code=exit_code), expect=expect or {}
    )
    return judge_case(ctx, case_id="c", registry=runner_registry())


def test_client_connects():
    result = _judge([], 127)
    assert [v.check for v in result.violations] == ["client_connects"]
    assert "no connection (exit 127)" in result.violations[0].received


def test_succeeds_when_the_server_does():
    quiet = Transcript.begin(model="gpt-realtime-1.5")
    assert [v.check for v in _judge([quiet], 1).violations] == ["succeeds_when_the_server_does"]
    assert _judge([quiet], 0).violations == ()
    closed = Transcript.begin(model="gpt-realtime-1.5")
    closed.add_close("server", 1011, "boom", 5.0)
    assert "succeeds_when_the_server_does" not in {v.check for v in _judge([closed], 1).violations}


def test_a_stall_is_read_from_the_expectations_and_an_unknown_event_is_no_excuse():
    stalled = Transcript.begin(model="gpt-realtime-1.5", scenario="stalled-stream")
    assert _judge([stalled], 5, {"client": ["times_out_stalled_stream"]}).violations == ()
    unknown = Transcript.begin(model="gpt-realtime-1.5", scenario="unknown-event-and-field")
    result = _judge([unknown], 1, {"client": ["ignores_unknown_events"]})
    assert [v.check for v in result.violations] == ["succeeds_when_the_server_does"]
    assert result.unjudged == ()


def test_runner_registry_extends_the_builtin_checks():
    from conformance.checks import CHECKS

    names = runner_registry().names
    assert names[: len(CHECKS)] == CHECKS.names
    assert set(names) - set(CHECKS.names) == {
        "client_connects",
        "succeeds_when_the_server_does",
        "delivers_reply",
        "prints_streamed_text",
        "keeps_one_session",
        "notes_every_screenshot",
    }
    extra = dict(runner_registry().aliases.items() - CHECKS.aliases.items())
    assert extra == {
        "accepts_large_frames": ("succeeds_when_the_server_does",),
        "ignores_unknown_events": ("succeeds_when_the_server_does",),
        "handles_ga_event_names": ("succeeds_when_the_server_does",),
    }
