"""A case nothing judged is NOT JUDGED in every report; the Close column is explained;
every case gets the same JUnit classname scheme; messages name what the server sent."""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET

import pytest

from conformance.checks import CheckContext, Violation, reply_texts
from conformance.reports import format_summary, html_report, junit_xml
from conformance.reports.json_report import report_dict
from conformance.transcript import Transcript
from conformance.verdicts import CLOSE_LEGEND, CaseResult, Verdict, judge_case, summarize
from tests.conformance.checks.helpers import golden, judge, outcome


@pytest.fixture
def cases() -> list[CaseResult]:
    """`default` (OK, with a run), a scenario case with an expectation its checks could not
    judge without a run, and a case whose only selected check was skipped."""
    turn = golden("text-turn")
    return [
        judge_case(
            CheckContext(transcripts=(turn,), outcome=outcome(stdout=_reply_of(turn))),
            case_id="default",
            scenario=None,
        ),
        judge_case(
            CheckContext(
                transcripts=(golden("cancel-not-active"),),
                expect={"client": ["surfaces_error_event"]},
            ),
            case_id="cancel-not-active",
        ),
        judge_case(
            CheckContext(transcripts=(turn,)), case_id="skipped", checks=["surfaces_error_event"]
        ),
    ]


def _reply_of(transcript: Transcript) -> str:
    return "\n".join(text for _, text in reply_texts(transcript))


def test_the_verdicts(cases):
    assert [c.verdict for c in cases] == [Verdict.OK, Verdict.NOT_JUDGED, Verdict.NOT_JUDGED]
    assert cases[1].unjudged == ("surfaces_error_event",)
    assert "surfaces_error_event" in cases[2].not_judged_reason
    summary = summarize(cases)
    assert summary.exit_status == 0
    assert summary.line().startswith("3 cases: 1 OK, 2 NOT JUDGED (0 violations)")


def test_console_shows_not_judged_and_the_close_legend(cases):
    text = format_summary(cases, summarize(cases))
    rows = {line.split()[0]: line for line in text.splitlines() if line.strip()}
    assert "NOT JUDGED" in rows["cancel-not-active"]
    assert "OK" not in rows["skipped"].split()[1:3]
    assert "cancel-not-active: not judged by any check: surfaces_error_event" in text
    assert "skipped: NOT JUDGED: every selected check was skipped" in text
    assert CLOSE_LEGEND in text
    assert CLOSE_LEGEND.startswith("Close: ")


def test_json_gives_the_verdict_and_the_reason(cases):
    data = json.loads(json.dumps(report_dict(cases)))
    assert data["summary"]["verdicts"]["NOT JUDGED"] == 2
    assert [c["verdict"] for c in data["cases"]] == ["OK", "NOT JUDGED", "NOT JUDGED"]
    assert data["cases"][0]["not_judged_reason"] is None
    assert "surfaces_error_event" in data["cases"][1]["not_judged_reason"]


def test_junit_skips_not_judged_cases_with_the_reason(cases):
    suite = ET.fromstring(junit_xml(cases)).find("testsuite")
    assert suite is not None
    assert (suite.get("skipped"), suite.get("failures")) == ("2", "0")
    testcases = suite.findall("testcase")
    skipped = testcases[1].find("skipped")
    assert skipped is not None
    assert skipped.get("message", "").startswith("NOT JUDGED: no check judged")
    assert testcases[0].find("skipped") is None


def test_junit_classnames_follow_one_scheme(cases):
    suite = ET.fromstring(junit_xml(cases)).find("testsuite")
    assert suite is not None
    names = [tc.get("classname") for tc in suite.findall("testcase")]
    # the scenario, or the case id for a case without one (`default` included)
    assert names == [
        "realtime-conformance.default",
        "realtime-conformance.cancel-not-active",
        "realtime-conformance.skipped",
    ]


def test_html_badges_not_judged_and_explains_the_close_column(cases):
    page = html_report(cases)
    assert 'class="badge v-NOT-JUDGED">NOT JUDGED</span>' in page
    assert "NOT JUDGED: no check judged the expectation(s) surfaces_error_event" in page
    assert "Close: the verdict of the close-handling checks alone" in page


def _failed_response(error: dict[str, str]) -> list[Violation]:
    """failed-response.jsonl with its response.done's error replaced by `error`."""
    golden_turn = golden("failed-response")
    records = []
    for record in golden_turn.records:
        event = record.event
        if record.event_type == "response.done" and event is not None:
            event["response"]["status_details"] = {"type": "failed", "error": error}
            record = dataclasses.replace(record, text=json.dumps(event))
        records.append(record)
    transcript = Transcript(golden_turn.meta, records)
    return judge("surfaces_failed_response", transcript, run=outcome(stdout=""))


def test_a_failure_without_a_code_is_worded_by_what_the_server_sent():
    [violation] = _failed_response({"type": "server_error"})
    assert "None" not in violation.expected
    assert violation.expected.startswith("the failure type 'server_error'")
    [bare] = _failed_response({})
    assert bare.expected.startswith("a report of the failure (it has no code or message)")


def test_the_time_limit_finding_names_the_timeout_flag():
    run = outcome(exit_code=None, timed_out=True, duration_s=20.0)
    [violation] = judge("finishes_within_time_limit", golden("text-turn"), run=run)
    assert violation.hint is not None
    assert "--timeout" in violation.hint
