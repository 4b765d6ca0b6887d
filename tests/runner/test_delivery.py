"""`delivers_reply`: a completed reply must reach the user, by default (issue 11, point 2).

A client that listens for the beta `response.text.delta` (GA renamed it
`response.output_text.delta`) shows nothing and exits 0: the runner must FAIL it with the
README's CI command and no extra flag, while correct clients, and clients that report a
server error and exit non-zero, pass. `run`, `check`, `fuzz` and the pytest plugin accept
the same check names.
"""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path
from typing import Any

import pytest

from conformance import cli
from conformance.checks import CheckContext, RunOutcome, run_checks
from conformance.fuzzing import FuzzConfig
from conformance.protocol.errors import UsageError
from conformance.pytest_plugin import assert_conforms
from conformance.resources import transcripts_dir
from conformance.runner import RunConfig, runner_registry
from conformance.runner.checks import replies
from conformance.transcript import Transcript, read_jsonl

from .support import BROKEN, REFERENCE, checks_of, script, suite

GOLDEN = transcripts_dir() / "text-turn.jsonl"
GA_NAMES = ("response.output_text.delta", "response.output_audio_transcript.delta")


def golden() -> Transcript:
    return read_jsonl(GOLDEN)


def reply_text() -> str:
    (reply,) = replies(CheckContext(transcripts=(golden(),)))
    (text,) = reply.parts
    return text


def judge(transcript: Transcript, checks: str = "delivers_reply", **outcome: Any) -> list[Any]:
    ctx = CheckContext(transcripts=(transcript,), outcome=RunOutcome(**outcome))
    return run_checks(ctx, [checks], registry=runner_registry())


# --------------------------------------------------------------------------- the check alone


def test_a_client_that_shows_nothing_and_exits_0_fails_with_the_ga_names_in_the_hint():
    (violation,) = judge(golden(), exit_code=0, stdout="")
    assert violation.check == "delivers_reply"
    assert str(violation.severity) == "FAILED"
    assert violation.event_type == "response.done"
    assert "nothing on stdout" in violation.received
    assert violation.hint is not None
    for name in (*GA_NAMES, "response.text.delta", "--checks default,-delivers_reply"):
        assert name in violation.hint


@pytest.mark.parametrize(
    "outcome",
    [
        pytest.param({"stdout": "Notes:\n{reply}\n"}, id="printed"),
        pytest.param({"stdout": "{wrapped}"}, id="wrapped-lines"),
        pytest.param({"notes": "{reply}"}, id="notes-file"),
    ],
)
def test_a_delivered_reply_passes(outcome: dict[str, str]) -> None:
    text = reply_text()
    values = {k: v.format(reply=text, wrapped=textwrap.fill(text, 30)) for k, v in outcome.items()}
    assert judge(golden(), exit_code=0, **values) == []


def test_a_reply_on_stderr_only_is_named_as_such():
    (violation,) = judge(golden(), exit_code=0, stderr=reply_text())
    assert "stderr only" in violation.received
    assert "stdout" in (violation.hint or "")


def test_a_garbled_reply_says_where_it_differs():
    text = reply_text()
    garbled = text.replace(" You wrote", "You wrote")  # a delta stripped of its space
    (violation,) = judge(golden(), exit_code=0, stdout=garbled)
    assert "has the reply's first" in violation.received
    assert "never strip" in (violation.hint or "")


def test_prints_streamed_text_wants_the_exact_text():
    text = reply_text()
    wrapped = textwrap.fill(text, 30)
    assert judge(golden(), "prints_streamed_text", exit_code=0, stdout=text) == []
    assert judge(golden(), "delivers_reply", exit_code=0, stdout=wrapped) == []
    (violation,) = judge(golden(), "prints_streamed_text", exit_code=0, stdout=wrapped)
    assert violation.check == "prints_streamed_text"


def with_server_error(transcript: Transcript) -> Transcript:
    """`transcript` plus a server `error` event after its reply (the fuzzer's fault)."""
    event = {"type": "error", "event_id": "event_x", "error": {"type": "server_error",
             "code": "server_error", "message": "The server had an error."}}  # fmt: skip
    transcript.add_text("server", json.dumps(event), transcript.records[-1].t_ms + 1)
    return transcript


@pytest.mark.parametrize("checks", ["delivers_reply", "prints_streamed_text"])
def test_a_client_that_reports_a_server_error_and_exits_1_is_not_judged(checks: str) -> None:
    transcript = with_server_error(golden())
    stderr = "error: server_error: The server had an error."
    assert judge(transcript, checks, exit_code=1, stderr=stderr) == []
    # Exiting 0 without the reply is still wrong, error or not.
    assert [v.check for v in judge(transcript, checks, exit_code=0)] == [checks]


def test_a_client_killed_at_the_time_limit_is_left_to_finishes_within_time_limit():
    assert judge(golden(), exit_code=None, timed_out=True) == []


# --------------------------------------------------------------------------- real runs


def broken(bug: str) -> dict[str, str]:
    return {**os.environ, "BROKEN_CLIENT_BUG": bug}


def test_the_readme_ci_command_fails_the_beta_event_names_bug(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BROKEN_CLIENT_BUG", "beta-event-names")
    # README: realtime-conformance run --client "..." --jobs 2 --junit junit.xml
    # (--cases only keeps this test short; the checks are the defaults)
    argv = ["run", "--client", BROKEN, "--jobs", "2", "--junit", "junit.xml"]
    assert cli.main([*argv, "--cases", "default,ga-event-names-only"]) == 1
    out = capsys.readouterr().out
    assert "delivers_reply" in out
    assert "response.output_text.delta" in out
    assert out.count("reply not delivered") >= 1
    # The documented opt-out (docs/runner.md).
    opt_out = [*argv, "--cases", "default", "--checks", "default,-delivers_reply"]
    assert cli.main(opt_out) == 0


@pytest.mark.parametrize(
    "command",
    [pytest.param(BROKEN, id="broken-client-none"), pytest.param(REFERENCE, id="reference")],
)
async def test_correct_clients_deliver_every_reply(command: str, tmp_path: Path) -> None:
    pattern = "default,ga-event-names-only,benign-errors-mid-session,events-out-of-order-duplicated"
    result = await suite(command, tmp_path, pattern, env=broken("none"))
    for case in result.results:
        assert "delivers_reply" in case.checks_run, case.case_id
        assert "delivers_reply" not in checks_of(case), (case.case_id, case.violations)


async def test_the_beta_event_names_bug_fails_delivers_reply(tmp_path: Path) -> None:
    (case,) = (await suite(BROKEN, tmp_path, "default", env=broken("beta-event-names"))).results
    assert case.outcome is not None
    assert case.outcome.exit_code == 0
    assert str(case.verdict) == "FAILED"
    assert checks_of(case) == {"delivers_reply"}


TEXT_RESPONSE = {"type": "response.create", "response": {"output_modalities": ["text"]}}
ERROR_THEN_EXIT_1 = """
import asyncio, json, os, sys
from websockets.asyncio.client import connect

async def main():
    url = os.environ["OPENAI_REALTIME_URL"] + "?model=" + os.environ["REALTIME_MODEL"]
    headers = {"Authorization": "Bearer " + os.environ["OPENAI_API_KEY"]}
    async with connect(url, additional_headers=headers) as ws:
        await ws.send(json.dumps(TEXT_RESPONSE))
        while True:
            event = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if event["type"] == "error":
                error = event["error"]
                print(f"error: {error['code']}: {error['message']}", file=sys.stderr)
                return 1
            if event["type"] == "response.done":
                return 0

sys.exit(asyncio.run(main()))
""".replace("TEXT_RESPONSE", repr(TEXT_RESPONSE))


async def test_a_client_that_reports_a_server_error_and_exits_1_passes_delivers_reply(
    tmp_path: Path,
) -> None:
    command = script(tmp_path, "error_exit.py", ERROR_THEN_EXIT_1)
    result = await suite(command, tmp_path / "out", "benign-errors-mid-session,server-error-*")
    for case in result.results:
        assert case.outcome is not None
        assert case.outcome.exit_code == 1, case.case_id
        assert "delivers_reply" not in checks_of(case), (case.case_id, case.violations)


NOTES_CLIENT = """
import asyncio, json, os, sys
from websockets.asyncio.client import connect

async def main():
    notes = open(os.environ["REALTIME_NOTES_FILE"], "w", encoding="utf-8")
    url = os.environ["OPENAI_REALTIME_URL"] + "?model=" + os.environ["REALTIME_MODEL"]
    headers = {"Authorization": "Bearer " + os.environ["OPENAI_API_KEY"]}
    async with connect(url, additional_headers=headers) as ws:
        await ws.send(json.dumps(TEXT_RESPONSE))
        while True:
            event = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if event["type"] == "response.output_text.delta":
                notes.write(event["delta"])
            if event["type"] == "response.done":
                notes.close()
                return 0

sys.exit(asyncio.run(main()))
""".replace("TEXT_RESPONSE", repr(TEXT_RESPONSE))


async def test_a_client_that_writes_its_notes_file_instead_of_printing_passes(
    tmp_path: Path,
) -> None:
    command = script(tmp_path, "notes_client.py", NOTES_CLIENT)
    (case,) = (await suite(command, tmp_path / "out", "default")).results
    assert case.outcome is not None
    assert case.outcome.stdout == ""
    assert case.outcome.notes.startswith("Hello from")  # the mock's deterministic reply
    assert "delivers_reply" in case.checks_run
    assert str(case.verdict) == "OK", case.violations
    kept = tmp_path / "out" / "cases" / "default" / "notes.txt"
    assert kept.read_text(encoding="utf-8") == case.outcome.notes


# --------------------------------------------------------------------------- one set of names


def accepted_by_run(name: str) -> bool:
    try:
        RunConfig(client="true", checks=(name,))
    except UsageError:
        return False
    return True


def accepted_by_fuzz(name: str) -> bool:
    try:
        FuzzConfig(client="true", checks=(name,))
    except UsageError:
        return False
    return True


def accepted_by_check(name: str) -> bool:
    return cli.main(["check", str(GOLDEN), f"--checks={name}"]) != 2


def accepted_by_pytest(name: str) -> bool:
    try:
        assert_conforms(golden(), checks=name)
    except pytest.fail.Exception:  # a usage error (the plugin's way to say "unknown")
        return False
    except AssertionError:  # a verdict: the name was accepted
        pass
    return True


def test_run_check_fuzz_and_pytest_accept_exactly_the_same_check_names(
    capsys: pytest.CaptureFixture[str],
) -> None:
    registry = runner_registry()
    names = [*registry.names, *registry.aliases, "default", "all", "-delivers_reply"]
    names += ["delivers_replies", "prints_streamed_txt", "nope"]  # not accepted anywhere
    accepted = {
        front: {name for name in names if accepts(name)}
        for front, accepts in {
            "run": accepted_by_run,
            "fuzz": accepted_by_fuzz,
            "check": accepted_by_check,
            "pytest": accepted_by_pytest,
        }.items()
    }
    capsys.readouterr()
    assert accepted["run"] == accepted["fuzz"] == accepted["check"] == accepted["pytest"]
    assert {"delivers_reply", "prints_streamed_text", "client_connects"} <= accepted["run"]
    assert "nope" not in accepted["run"]


def test_an_unknown_check_names_a_command_that_lists_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["run", "--client", "true", "--checks", "delivers_replies"]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'delivers_reply'" in err
    assert "`realtime-conformance check --list-checks`" in err
    assert cli.main(["check", "--list-checks"]) == 0
    listing = capsys.readouterr().out
    assert "delivers_reply" in listing
    assert "prints_streamed_text" in listing
    assert "(opt-in)" in listing


def test_the_contract_names_the_notes_file_in_the_case_folder(tmp_path: Path) -> None:
    from conformance.runner import CONTRACT, client_env, make_inputs

    assert "REALTIME_NOTES_FILE" in CONTRACT
    notes = tmp_path / "cases" / "default" / "notes.txt"
    env = client_env(
        make_inputs(tmp_path / "in"), url="ws://u", base_url="http://b/v1", case_id="default",
        base={}, notes_file=notes,
    )  # fmt: skip
    assert env["REALTIME_NOTES_FILE"] == str(notes)


def test_only_replies_the_client_asked_for_are_judged():
    records = golden().records
    unasked = Transcript(
        golden().meta, [r for r in records if r.event_type != "response.create"]
    )  # the same reply, started by the server on its own (no client response.create)
    assert list(replies(CheckContext(transcripts=(unasked,)))) == []
    assert judge(unasked, exit_code=0, stdout="") == []


def test_in_pytest_an_unknown_check_names_its_source_and_the_listing_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from conformance import pytest_plugin

    with pytest.raises(pytest.fail.Exception) as given:
        assert_conforms(golden(), checks="delivers_replies")
    assert "did you mean 'delivers_reply'" in str(given.value)
    assert "`realtime-conformance check --list-checks`" in str(given.value)
    monkeypatch.setitem(pytest_plugin._session_defaults, "checks", "-delivers_replies")
    with pytest.raises(pytest.fail.Exception, match="--realtime-checks / ini realtime_checks"):
        assert_conforms(golden())
