"""Verdicts per case, in the style of Autobahn|Testsuite, and the summary over cases.

A case's verdict is the worst severity among its violations: `FAILED`, `NON-STRICT`
(tolerated by the live API but fragile), `INFORMATIONAL`, or `OK` when there are none.
A case with no violation that nothing judged fully is `NOT JUDGED` (never OK, never a
failure): a scenario expectation no selected check judges, or every selected check
skipped (they need the client's run and only transcripts were given).
Close handling gets its own verdict from the close-related checks: `FAILED` when one of
them failed, `INFORMATIONAL` when the server never closed or dropped a connection or
when a selected close-related check could not run (judging transcripts without a client
run), else `OK`::

    result = judge_case(ctx, case_id="beta-header-rejected")
    summary = summarize([result])
    sys.exit(summary.exit_status)        # 1 when any case FAILED
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from conformance.checks import (
    CHECKS,
    CheckContext,
    Registry,
    RunOutcome,
    Severity,
    Violation,
    expected_checks,
    run_checks,
    server_end,
)
from conformance.transcript import Transcript

__all__ = [
    "CLOSE_LEGEND",
    "CaseResult",
    "Summary",
    "Verdict",
    "judge_case",
    "summarize",
    "unjudged_expectations",
]


class Verdict(StrEnum):
    """The outcome of one case (or of its close handling)."""

    OK = "OK"
    NON_STRICT = "NON-STRICT"
    INFORMATIONAL = "INFORMATIONAL"
    NOT_JUDGED = "NOT JUDGED"
    FAILED = "FAILED"

    @property
    def rank(self) -> int:
        """0 for the worst (FAILED) to 4 for OK."""
        return _RANK[self]


# What the reports' "Close" column means (printed under the console table, in the HTML).
CLOSE_LEGEND = (
    "Close: the verdict of the close-handling checks alone (how the client reported and "
    "reacted to the server's close frame, drop or refused upgrade); INFORMATIONAL when "
    "the server never ended a connection or those checks could not run (no client run)."
)

_RANK = {
    Verdict.FAILED: 0,
    Verdict.NON_STRICT: 1,
    Verdict.INFORMATIONAL: 2,
    Verdict.NOT_JUDGED: 3,
    Verdict.OK: 4,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class CaseResult:
    """Everything known about one judged case.

    `checks_skipped` were selected but could not judge this case (checks that need the
    client's run outcome); `unjudged` are scenario expectations none of whose checks ran
    (none implements it, none was selected, or all were skipped). The
    verdict is NOT JUDGED when nothing failed but an expectation is unjudged or no check
    ran; `not_judged_reason` says which.
    `transcript_paths` are where the transcripts live on disk, if they do.
    """

    case_id: str
    scenario: str | None
    verdict: Verdict
    close_verdict: Verdict
    violations: tuple[Violation, ...]
    transcripts: tuple[Transcript, ...]
    outcome: RunOutcome | None = None
    duration_s: float | None = None
    transcript_paths: tuple[str, ...] = ()
    checks_run: tuple[str, ...] = ()
    checks_skipped: tuple[str, ...] = ()
    unjudged: tuple[str, ...] = ()

    @property
    def not_judged_reason(self) -> str:
        """Why the case is NOT JUDGED (empty for any other verdict)."""
        if self.verdict is not Verdict.NOT_JUDGED:
            return ""
        if self.unjudged:
            return "no check judged the expectation(s) " + ", ".join(self.unjudged)
        skipped = ", ".join(self.checks_skipped) or "none"
        return f"every selected check was skipped (they need the client's run): {skipped}"


def judge_case(
    ctx: CheckContext,
    *,
    case_id: str,
    scenario: str | None = None,
    checks: Iterable[str] | None = None,
    transcript_paths: Iterable[str] = (),
    duration_s: float | None = None,
    registry: Registry = CHECKS,
) -> CaseResult:
    """Run the selected checks on one case and give it its verdicts.

    Args:
        ctx: the case's transcripts, outcome, scenario expectation and settings.
        case_id: the name shown in reports (a scenario id or a file name).
        scenario: the scenario name; `meta["scenario"]` of the first transcript if None.
        checks: a check selection (see `run_checks`); None runs `default`.
        transcript_paths: where the transcripts were written, for the reports.
        duration_s: how long the case took; the outcome's duration if None.
        registry: the checks to choose from.

    Raises:
        UsageError: an unknown check name in `checks`.
    """
    selected = registry.select(checks)
    ran = [c for c in selected if c.applies(ctx)]
    violations = tuple(run_checks(ctx, [c.name for c in ran], registry=registry))
    closing = {c.name for c in ran if c.closing}
    judged = all(c in ran for c in selected if c.closing)
    if scenario is None and ctx.transcripts:
        scenario = ctx.transcripts[0].meta.get("scenario") or None
    if duration_s is None and ctx.outcome is not None:
        duration_s = ctx.outcome.duration_s
    unjudged = unjudged_expectations(ctx.expect, {c.name for c in ran}, registry)
    verdict = case_verdict(violations)
    if verdict is Verdict.OK and (unjudged or not ran):
        verdict = Verdict.NOT_JUDGED
    return CaseResult(
        case_id=case_id,
        scenario=scenario,
        verdict=verdict,
        close_verdict=close_verdict(violations, ctx.transcripts, closing, judged=judged),
        violations=violations,
        transcripts=ctx.transcripts,
        outcome=ctx.outcome,
        duration_s=duration_s,
        transcript_paths=tuple(transcript_paths),
        checks_run=tuple(c.name for c in ran),
        checks_skipped=tuple(c.name for c in selected if c not in ran),
        unjudged=unjudged,
    )


def unjudged_expectations(
    expect: Mapping[str, Any] | None, ran: set[str], registry: Registry = CHECKS
) -> tuple[str, ...]:
    """The scenario expectations (`expect.client`) none of whose checks ran.

    No check in `registry` implements it, or its checks were not selected (`--checks`),
    or they were skipped (they need the client's run and only transcripts were given).
    """
    names: Iterable[Any] = (expect or {}).get("client") or ()
    unjudged = []
    for name in map(str, names):
        checks, _ = expected_checks({"client": [name]}, registry)
        if not set(checks) & ran:
            unjudged.append(name)
    return tuple(unjudged)


def case_verdict(violations: Iterable[Violation]) -> Verdict:
    """The worst severity among `violations`, or OK."""
    worst = min((v.severity for v in violations), key=lambda s: s.rank, default=None)
    return Verdict.OK if worst is None else Verdict(worst.value)


def close_verdict(
    violations: Iterable[Violation],
    transcripts: Iterable[Transcript],
    closing: set[str],
    *,
    judged: bool = True,
) -> Verdict:
    """The close-handling verdict.

    Args:
        violations: the case's violations.
        transcripts: the case's connections.
        closing: the close-related checks that ran.
        judged: False when a selected close-related check could not run.

    Returns:
        FAILED if a close-related check failed; INFORMATIONAL if the server never ended a
        connection, or nothing (or not everything) close-related could judge; else OK.
    """
    if any(v.check in closing and v.severity is Severity.FAILED for v in violations):
        return Verdict.FAILED
    if not closing or not judged or all(server_end(t) is None for t in transcripts):
        return Verdict.INFORMATIONAL
    return Verdict.OK


@dataclass(frozen=True, slots=True, kw_only=True)
class Summary:
    """Counts over the cases of one run; `exit_status` is 1 when any case FAILED."""

    total: int
    verdicts: Mapping[Verdict, int] = field(default_factory=lambda: MappingProxyType({}))
    close_verdicts: Mapping[Verdict, int] = field(default_factory=lambda: MappingProxyType({}))
    violations: int = 0
    duration_s: float = 0.0

    @property
    def failed(self) -> int:
        """How many cases FAILED."""
        return self.verdicts.get(Verdict.FAILED, 0)

    @property
    def exit_status(self) -> int:
        """The process exit status for this run: 1 when any case FAILED, else 0."""
        return 1 if self.failed else 0

    def line(self) -> str:
        """`27 cases: 24 OK, 1 NON-STRICT, 1 NOT JUDGED, 2 FAILED (5 violations) in 3.2 s`."""
        parts = [f"{self.verdicts[v]} {v}" for v in Verdict if self.verdicts.get(v)]
        return (
            f"{self.total} case{'s' if self.total != 1 else ''}: {', '.join(parts) or 'none'}"
            f" ({self.violations} violation{'s' if self.violations != 1 else ''})"
            f" in {self.duration_s:.1f} s"
        )


def summarize(results: Iterable[CaseResult]) -> Summary:
    """Count verdicts and violations over `results`."""
    results = list(results)
    return Summary(
        total=len(results),
        verdicts=MappingProxyType(dict(Counter(r.verdict for r in results))),
        close_verdicts=MappingProxyType(dict(Counter(r.close_verdict for r in results))),
        violations=sum(len(r.violations) for r in results),
        duration_s=sum(r.duration_s or 0.0 for r in results),
    )
