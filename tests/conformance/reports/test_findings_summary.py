"""The grouped findings every `run` (and `check` of several cases, and `demo`) ends with."""

from __future__ import annotations

from conformance.checks import Severity, Violation
from conformance.reports import format_summary
from conformance.reports.console import finding_line, format_findings, group_findings, in_cases
from conformance.verdicts import CaseResult, Verdict, summarize

BETA = {"check": "does_not_send_beta_header", "title": "beta header sent"}
SCHEMA = {"check": "client_event_matches_schema", "title": "client event does not match"}
EARLY = {"check": "waits_for_session_created", "title": "client sent before session.created"}


def violation(
    check: str, title: str, severity: Severity = Severity.FAILED, received: str = "x", **more: int
) -> Violation:
    return Violation(
        check=check,
        title=title,
        severity=severity,
        message=f"{title}: {received}",
        expected="no such thing",
        received=received,
        hint="do it right",
        **more,
    )


def case(case_id: str, *violations: Violation) -> CaseResult:
    return CaseResult(
        case_id=case_id,
        scenario=None,
        verdict=Verdict.FAILED if violations else Verdict.OK,
        close_verdict=Verdict.OK,
        violations=violations,
        transcripts=(),
    )


def many_cases() -> list[CaseResult]:
    """43 cases with the beta header; two of them with schema findings; one early event."""
    ids = ["default", "tolerant", *(f"scenario-{n:02}" for n in range(41))]
    results = [case(i, violation(**BETA)) for i in ids]
    results[1] = case(
        "tolerant",
        violation(**EARLY, severity=Severity.NON_STRICT),
        violation(**BETA),
        violation(**SCHEMA, received="unknown_parameter: 'session.modalities'"),
        violation(**SCHEMA, received="unknown_parameter: 'session.voice'", occurrences=2),
    )
    results[5] = case("scenario-03", violation(**BETA), violation(**SCHEMA, received="image"))
    return results


def test_one_group_per_check_and_title_worst_first_with_the_cases_in_order() -> None:
    groups = group_findings(many_cases())
    assert [(g.check, g.severity) for g in groups] == [
        ("does_not_send_beta_header", Severity.FAILED),
        ("client_event_matches_schema", Severity.FAILED),
        ("waits_for_session_created", Severity.NON_STRICT),
    ]
    beta, schema, early = groups
    assert len(beta.cases) == 43
    assert beta.cases[:3] == ("default", "tolerant", "scenario-00")
    assert (schema.cases, schema.count) == (("tolerant", "scenario-03"), 4)  # folded ones count
    assert schema.first.received == "unknown_parameter: 'session.modalities'"
    assert (early.cases, early.count) == (("tolerant",), 1)


def test_every_run_ends_with_one_line_per_distinct_finding_not_one_per_case() -> None:
    results = many_cases()
    text = format_summary(results, summarize(results))
    assert "What the checks found (3 distinct findings):" in text
    lines = text.splitlines()
    headlines = [line for line in lines if line.startswith("  [")]
    assert headlines == [
        "  [FAILED] does_not_send_beta_header: beta header sent — 43 cases: default, tolerant, "
        "scenario-00, … and 40 more",
        "  [FAILED] client_event_matches_schema: client event does not match — 4 times in "
        "2 cases: tolerant, scenario-03",
        "  [NON-STRICT] waits_for_session_created: client sent before session.created — "
        "1 case: tolerant",
    ]
    assert all(len(line) <= 125 for line in headlines)
    # the first occurrence's details, once, naming its case
    assert text.count("Received: unknown_parameter: 'session.modalities'") == 1
    assert "    At: tolerant, connection 0" in text
    assert "    Fix: do it right" in text
    assert text.count("beta header sent") == 1  # not 43 times
    assert "default: FAILED" not in text
    assert len(lines) < 70


def test_a_single_case_still_lists_each_violation() -> None:
    results = many_cases()[1:2]
    text = format_summary(results, summarize(results))
    assert "tolerant: FAILED" in text
    assert "What the checks found" not in text
    assert "Received: unknown_parameter: 'session.voice'" in text
    grouped = format_summary(results, summarize(results), grouped=True)
    assert "What the checks found (3 distinct findings):" in grouped


def test_a_clean_run_has_no_findings_section() -> None:
    results = [case("default"), case("tolerant")]
    assert "What the checks found" not in format_summary(results, summarize(results))


def test_case_lists_are_cut_to_a_readable_length() -> None:
    ids = [f"case-{n}" for n in range(20)]
    assert in_cases(ids[:1]) == "1 case: case-0"
    assert in_cases(ids[:2], width=5) == "2 cases: case-0, case-1"  # never "… and 1 more"
    assert in_cases(ids, width=40) == "20 cases: case-0, case-1, … and 18 more"
    assert in_cases(ids, width=1) == "20 cases: case-0, … and 19 more"  # the first always shows
    assert in_cases(ids, width=1000).endswith("case-18, case-19")


def test_colour_paints_only_the_severity() -> None:
    [group] = group_findings([case("a", violation(**BETA))])
    assert finding_line(group, colour=True).startswith("[\x1b[31;1mFAILED\x1b[0m] does_not_send")
    assert format_findings([case("a", violation(**BETA))])[1].startswith("  [FAILED]")
