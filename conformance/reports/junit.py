"""JUnit XML: one `<testcase>` per case, a `<failure>` listing the violations of FAILED cases.

NON-STRICT and INFORMATIONAL cases pass; their violations go to `<system-out>` so CI
shows them without failing the build. NOT JUDGED cases are `<skipped>` with the reason.
Every case's classname is `<suite>.<scenario>`, or `<suite>.<case id>` for a case that
plays no scenario (`default`, a transcript file). Built with `xml.etree`, so every value is escaped;
control characters XML cannot hold are replaced.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from conformance.checks import Violation
from conformance.verdicts import CaseResult, Verdict, summarize

from ._display import leg_name, legs, tail, xml_safe


def junit_xml(results: Sequence[CaseResult], *, suite: str = "realtime-conformance") -> str:
    """The JUnit XML document for `results` (one test suite)."""
    summary = summarize(results)
    root = ET.Element("testsuites")
    node = ET.SubElement(
        root,
        "testsuite",
        name=suite,
        tests=str(summary.total),
        failures=str(summary.failed),
        errors="0",
        skipped=str(summary.verdicts.get(Verdict.NOT_JUDGED, 0)),
        time=f"{summary.duration_s:.3f}",
    )
    for result in results:
        _testcase(node, result, suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _testcase(suite_node: ET.Element, result: CaseResult, suite: str) -> None:
    case = ET.SubElement(
        suite_node,
        "testcase",
        classname=xml_safe(f"{suite}.{result.scenario or result.case_id}"),
        name=xml_safe(result.case_id),
        time=f"{result.duration_s or 0.0:.3f}",
    )
    details = "\n\n".join(str(v) for v in result.violations)
    if result.verdict is Verdict.FAILED:
        failed = [v for v in result.violations if str(v.severity) == Verdict.FAILED]
        failure = ET.SubElement(
            case,
            "failure",
            message=xml_safe(
                f"{len(failed)} FAILED check(s): " + ", ".join(_named(result, v) for v in failed)
            ),
            type="FAILED",
        )
        failure.text = xml_safe(details)
    if result.verdict is Verdict.NOT_JUDGED:
        ET.SubElement(case, "skipped", message=xml_safe(f"NOT JUDGED: {result.not_judged_reason}"))
    out = [f"verdict: {result.verdict}; close: {result.close_verdict}"]
    per_leg = legs(result)
    if per_leg is not None:
        out[0] += "".join(f"; {leg} leg: {verdict}" for leg, verdict in per_leg.items())
    if result.verdict is not Verdict.FAILED and details:
        out.append(details)
    out += [f"transcript: {path}" for path in result.transcript_paths]
    ET.SubElement(case, "system-out").text = xml_safe("\n".join(out))
    if result.outcome is not None and result.outcome.stderr:
        ET.SubElement(case, "system-err").text = xml_safe(
            tail(result.outcome.stderr, result.outcome.secrets)
        )


def _named(result: CaseResult, violation: Violation) -> str:
    """The check's name, after its leg in a relay's case (`downstream leg: relay_…`)."""
    leg = leg_name(result, violation)
    return f"{leg} leg: {violation.check}" if leg else violation.check


def write_junit(results: Sequence[CaseResult], path: str | Path) -> Path:
    """Write `junit_xml(results)` to `path` (parent folders are created)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(junit_xml(results), encoding="utf-8")
    return target
