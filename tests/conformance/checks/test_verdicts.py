"""Case verdicts (worst severity wins), the close-handling verdict and the summary."""

from __future__ import annotations

from collections.abc import Iterator

from conformance.checks import CheckContext, Registry, Scope, Severity, Violation, check
from conformance.transcript import Transcript
from conformance.verdicts import Verdict, judge_case, summarize

from .helpers import KEY, connections, golden, outcome

SILENT = outcome(exit_code=0, stdout="", duration_s=2.5, closed_at_s=(2.0,))
REPORTED = outcome(exit_code=1, stderr="closed 1001: session_expired\n", duration_s=2.5)


def judge(*transcripts: Transcript, run=None, checks=None, **kwargs):
    ctx = CheckContext(transcripts=transcripts, outcome=run)
    return judge_case(ctx, case_id="case", checks=checks, **kwargs)


def test_a_clean_case_is_ok_and_its_close_informational_when_the_server_never_closed():
    result = judge(golden("text-turn"), run=outcome())
    assert (result.verdict, result.close_verdict) == (Verdict.OK, Verdict.INFORMATIONAL)
    assert result.violations == ()
    assert result.duration_s == 1.5


def test_a_non_strict_violation_makes_a_non_strict_case():
    result = judge(golden("violations/waits_for_session_updated"))
    assert result.verdict is Verdict.NON_STRICT


def test_a_failed_violation_makes_a_failed_case():
    assert judge(golden("violations/uses_supported_model")).verdict is Verdict.FAILED


def test_a_surfaced_close_is_ok_and_a_silent_one_fails_the_close_verdict():
    good = judge(golden("session-expired"), run=REPORTED)
    assert (good.verdict, good.close_verdict) == (Verdict.OK, Verdict.OK)
    bad = judge(golden("session-expired"), run=SILENT)
    assert (bad.verdict, bad.close_verdict) == (Verdict.FAILED, Verdict.FAILED)
    assert {v.check for v in bad.violations} == {
        "surfaces_error_event",
        "surfaces_close_code_and_reason",
    }


def test_non_close_failures_leave_the_close_verdict_ok():
    leaky = outcome(exit_code=1, stderr=f"closed 1001 (key {KEY})\n", duration_s=2.5)
    result = judge(golden("session-expired"), run=leaky)
    assert (result.verdict, result.close_verdict) == (Verdict.FAILED, Verdict.OK)
    assert [v.check for v in result.violations] == ["does_not_print_api_key"]


def test_a_retried_permanent_close_fails_the_close_verdict():
    result = judge(*connections("violations/retry-after-3000"))
    assert result.close_verdict is Verdict.FAILED


def test_a_close_judged_from_transcripts_alone_is_informational():
    result = judge(golden("session-expired"))
    assert (result.verdict, result.close_verdict) == (Verdict.OK, Verdict.INFORMATIONAL)


def test_without_close_checks_the_close_verdict_is_informational():
    result = judge(golden("session-expired"), run=SILENT, checks=["surfaces_error_event"])
    assert (result.verdict, result.close_verdict) == (Verdict.FAILED, Verdict.INFORMATIONAL)


def test_run_checks_without_an_outcome_are_listed_as_skipped():
    result = judge(golden("text-turn"))
    assert "surfaces_error_event" in result.checks_skipped
    assert "surfaces_error_event" not in result.checks_run
    assert "client_event_matches_schema" in result.checks_run


def test_scenario_and_unjudged_expectations_come_from_the_case():
    ctx = CheckContext(
        transcripts=(golden("failed-response"),),
        expect={"client": ["checks_response_done_status", "ignores_unknown_events"]},
    )
    result = judge_case(ctx, case_id="c", transcript_paths=["a.jsonl"])
    assert result.scenario == "model-not-found-late"
    # ignores_unknown_events: no check here; checks_response_done_status: its check
    # (surfaces_failed_response) needs the client's run
    assert result.unjudged == ("checks_response_done_status", "ignores_unknown_events")
    assert result.verdict is Verdict.NOT_JUDGED
    assert "checks_response_done_status" in result.not_judged_reason
    assert result.transcript_paths == ("a.jsonl",)


def test_a_case_whose_checks_were_all_skipped_is_not_judged():
    ctx = CheckContext(transcripts=(golden("text-turn"),))
    result = judge_case(ctx, case_id="c", checks=["surfaces_error_event"])
    assert result.verdict is Verdict.NOT_JUDGED
    assert result.checks_run == ()
    assert "surfaces_error_event" in result.not_judged_reason
    summary = summarize([result])
    assert summary.exit_status == 0
    assert summary.line().startswith("1 case: 1 NOT JUDGED (0 violations)")


def test_informational_findings_make_an_informational_case():
    registry = Registry()

    @check(severity=Severity.INFORMATIONAL, applies_to=Scope.CASE, registry=registry)
    def note(ctx: CheckContext, transcript: Transcript) -> Iterator[Violation]:
        """Always notes something."""
        yield ctx.violation(title="note", expected="e", received="r", hint="h")

    result = judge(golden("text-turn"), registry=registry)
    assert result.verdict is Verdict.INFORMATIONAL


def test_the_summary_counts_verdicts_and_fails_the_run_on_any_failed_case():
    results = [
        judge(golden("text-turn"), run=outcome()),
        judge(golden("violations/waits_for_session_updated")),
        judge(golden("violations/uses_supported_model")),
    ]
    summary = summarize(results)
    assert summary.total == 3
    assert summary.verdicts[Verdict.FAILED] == 1
    assert summary.failed == 1
    assert summary.exit_status == 1
    assert summary.line() == "3 cases: 1 OK, 1 NON-STRICT, 1 FAILED (2 violations) in 1.5 s"
    assert summarize(results[:2]).exit_status == 0
