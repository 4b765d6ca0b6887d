"""Console: the live progress line and the summary table."""

from __future__ import annotations

import io

from conformance.reports import ConsoleProgress, format_summary
from conformance.verdicts import summarize


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_writes_whole_plain_lines_when_not_a_terminal(results):
    stream = io.StringIO()
    progress = ConsoleProgress(len(results), stream=stream)
    for result in results:
        progress.started(result.case_id)
        progress.finished(result)
    assert stream.getvalue().splitlines() == [
        "[1/4] text-turn ... OK",
        "[2/4] updated ... NON-STRICT",
        "[3/4] expired ... FAILED",
        "[4/4] hostile <b> ... FAILED",
    ]
    assert "\x1b" not in stream.getvalue()


def test_progress_shows_the_running_case_and_colours_the_verdict_on_a_terminal(
    results, monkeypatch
):
    monkeypatch.delenv("NO_COLOR", raising=False)
    stream = Terminal()
    progress = ConsoleProgress(12, stream=stream)
    progress.started("expired")
    assert stream.getvalue() == "\r\x1b[K[1/12] expired ... "
    progress.finished(results[2])
    assert stream.getvalue().endswith("\r\x1b[K[1/12] expired ... \x1b[31;1mFAILED\x1b[0m\n")


def test_parallel_cases_each_get_one_whole_line(results):
    stream = Terminal()
    progress = ConsoleProgress(2, stream=stream, colour=True)
    progress.started("text-turn")
    progress.started("updated")
    progress.finished(results[1])
    progress.finished(results[0])
    lines = [line.rsplit("\x1b[K", 1)[-1] for line in stream.getvalue().split("\n")[:-1]]
    assert lines == [
        "[1/2] updated ... \x1b[33mNON-STRICT\x1b[0m",
        "[2/2] text-turn ... \x1b[32mOK\x1b[0m",
    ]


def test_no_color_turns_colour_off(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    assert ConsoleProgress(1, stream=Terminal()).colour is False


def test_the_summary_has_a_table_the_violations_and_the_totals(results):
    text = format_summary(results, summarize(results))
    lines = text.splitlines()
    assert lines[0].split() == ["Case", "Verdict", "Close", "Violations"]
    assert lines[2].split() == ["text-turn", "OK", "INFORMATIONAL", "0"]
    assert "What the checks found (" in text  # several cases: grouped by finding
    assert "    Expected: close code 1001" in text
    assert "expired: FAILED" in format_summary(results[2:3], summarize(results[2:3]))
    assert "Not run (they need a client run, not just transcripts): " in text
    assert lines[-1] == "4 cases: 1 OK, 1 NON-STRICT, 2 FAILED (6 violations) in 10.5 s"
