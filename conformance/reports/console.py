"""Console output: a live progress line per case (stderr) and the summary table (stdout).

Colours are ANSI escapes, used only when the stream is a terminal and `NO_COLOR` is
unset; otherwise the text is plain, one finished case per line.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, TextIO

from conformance.checks import Severity, Violation
from conformance.verdicts import CLOSE_LEGEND, CaseResult, Summary, Verdict

from ._display import leg_name, legs, truncation_lines

_COLOURS: Final = {
    Verdict.OK: "\x1b[32m",
    Verdict.NON_STRICT: "\x1b[33m",
    Verdict.INFORMATIONAL: "\x1b[36m",
    Verdict.NOT_JUDGED: "\x1b[35m",
    Verdict.FAILED: "\x1b[31;1m",
}
_RESET: Final = "\x1b[0m"
_CLEAR: Final = "\r\x1b[K"  # back to the start of the line and erase it
# Findings the progress line repeats: nothing else of the case was judged (the stderr tail).
_SAID_AT_ONCE: Final = frozenset({"client_connects"})
LINE_WIDTH: Final = 120  # a finding's line is cut near this width (its case list)
MIN_CASES_WIDTH: Final = 60  # room for the case list, however long the title


def use_colour(stream: TextIO) -> bool:
    """True when `stream` is a terminal and the user did not ask for NO_COLOR."""
    return stream.isatty() and not os.environ.get("NO_COLOR")


def paint(verdict: Verdict, colour: bool) -> str:
    """The verdict word, coloured when `colour`."""
    return f"{_COLOURS[verdict]}{verdict}{_RESET}" if colour else str(verdict)


class ConsoleProgress:
    """`[3/27] beta-header-rejected ... FAILED`, one line per finished case (stderr default).

    On a terminal `started` also shows the running case on a live line that the next
    `started` or `finished` overwrites, so cases run in parallel never garble the output;
    elsewhere only `finished` writes, so logs get whole lines. Cases are numbered in the
    order they finish.
    """

    def __init__(
        self, total: int, *, stream: TextIO | None = None, colour: bool | None = None
    ) -> None:
        """Track `total` cases; `colour` None decides from the stream."""
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.colour = use_colour(self.stream) if colour is None else colour
        self.done = 0
        self._live = False

    def started(self, case_id: str) -> None:
        """Show the case that just started (terminals only)."""
        if self.colour:
            self.stream.write(f"{_CLEAR}{self._prefix(self.done + 1, case_id)}")
            self.stream.flush()
            self._live = True

    def finished(self, result: CaseResult) -> None:
        """Write the case's line with its verdict (and why, when the client never connected)."""
        self.done += 1
        clear = _CLEAR if self._live else ""
        line = f"{self._prefix(self.done, result.case_id)}{paint(result.verdict, self.colour)}"
        line += "".join(
            f" — {v.title}: {v.received}" for v in result.violations if v.check in _SAID_AT_ONCE
        )
        self.stream.write(f"{clear}{line}\n")
        self.stream.flush()
        self._live = False

    def _prefix(self, number: int, case_id: str) -> str:
        shown = case_id if case_id.isprintable() else repr(case_id)
        return f"[{number}/{self.total}] {shown} ... "


def format_summary(
    results: Sequence[CaseResult],
    summary: Summary,
    *,
    colour: bool = False,
    grouped: bool | None = None,
) -> str:
    """The summary table, the violations, what was not judged, the totals.

    With `grouped` (the default for several cases) the violations are grouped by finding
    (`format_findings`): one line per check and title with the cases it appeared in, and
    the details of its first occurrence; otherwise each case's violations are listed.
    """
    lines = _table(results, colour)
    grouped = len(results) > 1 if grouped is None else grouped
    for result in results:
        if result.violations and not grouped:
            lines += ["", f"{result.case_id}: {paint(result.verdict, colour)}"]
            lines += ["  " + line for v in result.violations for line in str(v).splitlines()]
        lines += [f"{result.case_id}: {line}" for line in truncation_lines(result)]
        if result.unjudged:
            lines.append(f"{result.case_id}: not judged by any check: {', '.join(result.unjudged)}")
        elif result.verdict is Verdict.NOT_JUDGED:
            lines.append(f"{result.case_id}: NOT JUDGED: {result.not_judged_reason}")
    if grouped and any(r.violations for r in results):
        lines += ["", *format_findings(results, colour=colour)]
    skipped = sorted({name for r in results for name in r.checks_skipped})
    if skipped:
        lines += [
            "",
            f"Not run (they need a client run, not just transcripts): {', '.join(skipped)}",
        ]
    lines += ["", summary.line()]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class FindingGroup:
    """One distinct finding of a run: a check and title, where it appeared, its first case.

    `cases` are the case ids in case order; `count` counts every occurrence (folded
    duplicates included); `first` is the violation as the first case reported it.
    """

    check: str
    title: str
    severity: Severity
    cases: tuple[str, ...]
    count: int
    first: Violation


def group_findings(results: Sequence[CaseResult]) -> list[FindingGroup]:
    """The distinct findings (check + title) of `results`, worst first, then in order seen."""
    seen: dict[tuple[str, str], tuple[list[str], list[Violation]]] = {}
    for result in results:
        for violation in result.violations:
            cases, found = seen.setdefault((violation.check, violation.title), ([], []))
            if result.case_id not in cases:
                cases.append(result.case_id)
            found.append(violation)
    groups = [
        FindingGroup(
            check=check,
            title=title,
            severity=min((v.severity for v in found), key=lambda s: s.rank),
            cases=tuple(cases),
            count=sum(v.occurrences for v in found),
            first=found[0],
        )
        for (check, title), (cases, found) in seen.items()
    ]
    return sorted(groups, key=lambda g: g.severity.rank)  # stable: order seen within a rank


def format_findings(
    results: Sequence[CaseResult],
    *,
    colour: bool = False,
    heading: str = "What the checks found",
    width: int = LINE_WIDTH,
) -> list[str]:
    """One line per distinct finding with the cases it appeared in, then its first details.

    `  [FAILED] check: title — 43 cases: default, tolerant, … and 40 more`, followed by
    the Expected / Received / At / Fix of the first occurrence (At names its case). The
    case list is cut to keep the line near `width` characters.
    """
    groups = group_findings(results)
    lines = [f"{heading} ({_count(len(groups), 'distinct finding')}):"]
    relay = {
        (v.check, v.title): leg
        for r in results
        for v in r.violations
        if (leg := leg_name(r, v)) is not None
    }
    for group in groups:
        leg = relay.get((group.check, group.title))
        lines.append("  " + finding_line(group, colour=colour, width=width - 2, leg=leg))
        detail = str(group.first).splitlines()[1:]
        lines += [
            f"    At: {group.cases[0]}, {line.removeprefix('  At: ')}"
            if line.startswith("  At: ")
            else f"  {line}"
            for line in detail
        ]
    return lines


def finding_line(
    group: FindingGroup, *, colour: bool = False, width: int = LINE_WIDTH, leg: str | None = None
) -> str:
    """`[FAILED] check: title — 8 times in 2 cases: default, tolerant` (about `width` long);
    a relay's finding names its leg: `[FAILED] downstream leg: relay_forwards_errors: …`."""
    severity = _paint_severity(group.severity, colour)
    where = f"{leg} leg: " if leg else ""
    head = f"[{severity}] {where}{group.check}: {group.title} — "
    times = f"{group.count} times in " if group.count > len(group.cases) else ""
    plain = len(head) - len(severity) + len(group.severity) + len(times)
    return head + times + in_cases(group.cases, max(width - plain, MIN_CASES_WIDTH))


def in_cases(cases: Sequence[str], width: int = LINE_WIDTH) -> str:
    """`3 cases: a, b, c`, cut to about `width` characters (`… and 40 more`); `1 case: a`.

    The first case is always named, and "… and 1 more" never appears (the name fits).
    """
    label = f"{_count(len(cases), 'case')}: "
    shown: list[str] = []
    for number, case in enumerate(cases):
        rest = len(cases) - number - 1
        tail = f", … and {rest} more" if rest > 1 else ""
        if shown and rest and len(label + ", ".join([*shown, case]) + tail) > width:
            return label + ", ".join(shown) + f", … and {len(cases) - number} more"
        shown.append(case)
    return label + ", ".join(shown)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _paint_severity(severity: Severity, colour: bool) -> str:
    return paint(Verdict(severity.value), colour)


def _table(results: Sequence[CaseResult], colour: bool) -> list[str]:
    header: tuple[str, ...] = ("Case", "Verdict", "Close", "Violations")
    rows = [
        (r.case_id, str(r.verdict), str(r.close_verdict), str(len(r.violations))) for r in results
    ]
    if any(legs(r) is not None for r in results):  # a relay's run: each leg's verdict too
        return _relay_table(results, colour)
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(header)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for result, row in zip(results, rows, strict=True):
        cells = [row[0].ljust(widths[0])]
        cells.append(_pad(paint(result.verdict, colour), row[1], widths[1]))
        cells.append(_pad(paint(result.close_verdict, colour), row[2], widths[2]))
        cells.append(row[3])
        lines.append("  ".join(cells))
    lines.append(CLOSE_LEGEND)
    return lines


def _relay_table(results: Sequence[CaseResult], colour: bool) -> list[str]:
    """The table of a relay's run: the verdict, then the upstream and downstream legs'."""
    header = ("Case", "Verdict", "Upstream", "Downstream", "Close", "Violations")
    cells = []
    for r in results:
        per_leg = legs(r) or {}
        verdicts = (r.verdict, per_leg.get("upstream", r.verdict),
                    per_leg.get("downstream", Verdict.NOT_JUDGED), r.close_verdict)  # fmt: skip
        cells.append((r.case_id, verdicts, str(len(r.violations))))
    plain = [(c, *(str(v) for v in vs), n) for c, vs, n in cells]
    widths = [max(len(row[i]) for row in (header, *plain)) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(header)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for (case_id, verdicts, count), row in zip(cells, plain, strict=True):
        shown = [case_id.ljust(widths[0])]
        shown += [_pad(paint(v, colour), row[i + 1], widths[i + 1]) for i, v in enumerate(verdicts)]
        lines.append("  ".join([*shown, count]))
    lines.append(RELAY_LEGEND)
    lines.append(CLOSE_LEGEND)
    return lines


RELAY_LEGEND: Final = (
    "Upstream: the client checks on the relay's connections to the mock; Downstream: the "
    "relay checks on what the client got from the relay (docs/relay.md)."
)


def _pad(shown: str, plain: str, width: int) -> str:
    return shown + " " * (width - len(plain))
