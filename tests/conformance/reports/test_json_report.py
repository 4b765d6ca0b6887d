"""The JSON report: documented shape, stable output, redacted output tails."""

from __future__ import annotations

import json

from conformance.reports import report_dict, report_json, write_json
from tests.conformance.checks.helpers import KEY

CASE_KEYS = {
    "id",
    "scenario",
    "verdict",
    "close_verdict",
    "duration_s",
    "transcripts",
    "connections",
    "truncated",
    "checks_run",
    "checks_skipped",
    "unjudged_expectations",
    "not_judged_reason",
    "outcome",
    "legs",  # a relay's case: each leg's verdict (null for a client's)
    "violations",
}
VIOLATION_KEYS = {
    "check",
    "title",
    "severity",
    "message",
    "expected",
    "received",
    "connection",
    "index",
    "direction",
    "event_type",
    "json_path",
    "hint",
    "occurrences",
    "leg",  # a relay's case: upstream or downstream (null for a client's)
}


def test_the_report_has_the_documented_shape(results):
    report = report_dict(results)
    assert (report["format"], report["version"]) == ("realtime-conformance-report", 1)
    assert report["summary"]["verdicts"] == {
        "OK": 1,
        "NON-STRICT": 1,
        "INFORMATIONAL": 0,
        "NOT JUDGED": 0,
        "FAILED": 2,
    }
    assert report["summary"]["exit_status"] == 1
    for case in report["cases"]:
        assert set(case) == CASE_KEYS
        for violation in case["violations"]:
            assert set(violation) == VIOLATION_KEYS


def test_cases_list_verdicts_violations_and_transcript_paths(results):
    expired = report_dict(results)["cases"][2]
    assert (expired["verdict"], expired["close_verdict"]) == ("FAILED", "FAILED")
    assert expired["transcripts"] == ["out/2.jsonl"]
    assert expired["outcome"]["closed_at_s"] == [2.0]
    checks = [v["check"] for v in expired["violations"]]
    assert "surfaces_close_code_and_reason" in checks
    close = next(v for v in expired["violations"] if v["check"] == "surfaces_close_code_and_reason")
    assert (close["index"], close["event_type"], close["severity"]) == (2, "close", "FAILED")


def test_output_is_stable_and_parses(results, tmp_path):
    assert report_json(results) == report_json(results)
    path = write_json(results, tmp_path / "report.json")
    assert json.loads(path.read_text()) == report_dict(results)


def test_output_tails_are_redacted(results):
    text = report_json(results)
    assert KEY not in text
    assert "boom [REDACTED]" in text
