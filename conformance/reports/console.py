"""Console output: a live progress line per case (stderr) and the summary table (stdout).

Colours are ANSI escapes, used only when the stream is a terminal and `NO_COLOR` is
unset; otherwise the text is plain, one finished case per line.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Final, TextIO

from conformance.verdicts import CaseResult, Summary, Verdict

_COLOURS: Final = {
    Verdict.OK: "\x1b[32m",
    Verdict.NON_STRICT: "\x1b[33m",
    Verdict.INFORMATIONAL: "\x1b[36m",
    Verdict.FAILED: "\x1b[31;1m",
}
_RESET: Final = "\x1b[0m"
_CLEAR: Final = "\r\x1b[K"  # back to the start of the line and erase it


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
        """Write the case's line with its verdict."""
        self.done += 1
        clear = _CLEAR if self._live else ""
        line = f"{self._prefix(self.done, result.case_id)}{paint(result.verdict, self.colour)}"
        self.stream.write(f"{clear}{line}\n")
        self.stream.flush()
        self._live = False

    def _prefix(self, number: int, case_id: str) -> str:
        shown = case_id if case_id.isprintable() else repr(case_id)
        return f"[{number}/{self.total}] {shown} ... "


def format_summary(results: Sequence[CaseResult], summary: Summary, *, colour: bool = False) -> str:
    """The summary table, each non-OK case's violations, what was not judged, the totals."""
    lines = _table(results, colour)
    for result in results:
        if result.violations:
            lines += ["", f"{result.case_id}: {paint(result.verdict, colour)}"]
            lines += ["  " + line for v in result.violations for line in str(v).splitlines()]
        if result.unjudged:
            lines.append(f"{result.case_id}: not judged by any check: {', '.join(result.unjudged)}")
    skipped = sorted({name for r in results for name in r.checks_skipped})
    if skipped:
        lines += [
            "",
            f"Not run (they need a client run, not just transcripts): {', '.join(skipped)}",
        ]
    lines += ["", summary.line()]
    return "\n".join(lines) + "\n"


def _table(results: Sequence[CaseResult], colour: bool) -> list[str]:
    header = ("Case", "Verdict", "Close", "Violations")
    rows = [
        (r.case_id, str(r.verdict), str(r.close_verdict), str(len(r.violations))) for r in results
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(header)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for result, row in zip(results, rows, strict=True):
        cells = [row[0].ljust(widths[0])]
        cells.append(_pad(paint(result.verdict, colour), row[1], widths[1]))
        cells.append(_pad(paint(result.close_verdict, colour), row[2], widths[2]))
        cells.append(row[3])
        lines.append("  ".join(cells))
    return lines


def _pad(shown: str, plain: str, width: int) -> str:
    return shown + " " * (width - len(plain))
