"""JUnit XML: valid XML, one testcase per case, failures only for FAILED cases."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from conformance.reports import junit_xml, write_junit
from tests.conformance.checks.helpers import KEY


def test_the_document_parses_with_one_testcase_per_case(results):
    root = ET.fromstring(junit_xml(results).encode())
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("4", "2", "0")
    names = [case.get("name") for case in suite.iter("testcase")]
    assert names == ["text-turn", "updated", "expired", "hostile <b>"]


def test_failed_cases_carry_their_violations_in_a_failure(results):
    suite = ET.fromstring(junit_xml(results).encode()).find("testsuite")
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    failure = cases["expired"].find("failure")
    assert failure is not None
    assert failure.get("type") == "FAILED"
    assert "surfaces_close_code_and_reason" in failure.get("message", "")
    assert "Expected: close code 1001" in (failure.text or "")
    assert cases["text-turn"].find("failure") is None


def test_non_strict_findings_pass_but_are_shown(results):
    suite = ET.fromstring(junit_xml(results).encode()).find("testsuite")
    updated = next(c for c in suite.iter("testcase") if c.get("name") == "updated")
    assert updated.find("failure") is None
    out = updated.find("system-out").text
    assert "verdict: NON-STRICT" in out
    assert "waits_for_session_updated" in out
    assert "transcript: out/1.jsonl" in out


def test_hostile_text_and_keys_stay_out_of_the_markup(results, tmp_path):
    path = write_junit(results, tmp_path / "deep" / "junit.xml")
    text = path.read_text()
    assert "<script>" not in text
    assert "\x01" not in text
    assert KEY not in text
    ET.parse(path)  # still well-formed
