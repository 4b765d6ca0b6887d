"""Display helpers shared by the reports: shortened values, violation dicts, safe text."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from conformance.checks import Violation
from conformance.checks.relay import DOWNSTREAM, UPSTREAM, is_relay_case, leg_of
from conformance.transcript import redact
from conformance.verdicts import CaseResult, Verdict, case_verdict

LONG_STRING: Final = 160  # longer strings (base64 audio, data URLs) are cut for display
KEEP: Final = 48
OUTPUT_TAIL: Final = 4000  # characters of stdout/stderr kept in reports
# Characters XML 1.0 cannot hold at all (JUnit files must parse).
_XML_INVALID: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def shorten(value: Any, limit: int = LONG_STRING) -> Any:
    """`value` with every string longer than `limit` cut to a prefix and its length."""
    if isinstance(value, str):
        if len(value) <= limit:
            return value
        return f"{value[:KEEP]}… [{len(value):,} chars]"
    if isinstance(value, dict):
        return {k: shorten(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [shorten(v, limit) for v in value]
    return value


def shorten_text(text: str, limit: int = 2000) -> str:
    """A raw frame or output cut to `limit` characters (the end is what matters less)."""
    return text if len(text) <= limit else f"{text[:limit]}… [{len(text):,} chars]"


def tail(text: str, secrets: Iterable[str] = (), limit: int = OUTPUT_TAIL) -> str:
    """The last `limit` characters of `text`, redacted (keys and `secrets` masked)."""
    text = redact(text, secrets)
    return text if len(text) <= limit else f"[… {len(text) - limit:,} chars]\n{text[-limit:]}"


def xml_safe(text: str) -> str:
    """`text` without the control characters XML 1.0 forbids."""
    return _XML_INVALID.sub("\ufffd", text)


def violation_dict(violation: Violation) -> dict[str, Any]:
    """The JSON form of a violation (every field, severity as its string)."""
    return {
        "check": violation.check,
        "title": violation.title,
        "severity": str(violation.severity),
        "message": violation.message,
        "expected": violation.expected,
        "received": violation.received,
        "connection": violation.connection,
        "index": violation.index,
        "direction": violation.direction,
        "event_type": violation.event_type,
        "json_path": violation.json_path,
        "hint": violation.hint,
        "occurrences": violation.occurrences,
    }


def legs(result: CaseResult) -> dict[str, Verdict] | None:
    """A relay case's verdict per leg, or None for a client's case.

    `upstream`: the client checks on the relay's connections to the mock; `downstream`:
    the relay checks (what the client got from the relay). Each is the worst severity
    among its leg's findings, or OK.
    """
    if not is_relay_case(result.checks_run):
        return None
    return {
        leg: case_verdict(v for v in result.violations if leg_of(v.check) == leg)
        for leg in (UPSTREAM, DOWNSTREAM)
    }


def leg_name(result: CaseResult, violation: Violation) -> str | None:
    """`upstream` or `downstream` for a relay case's finding; None for a client's."""
    return leg_of(violation.check) if is_relay_case(result.checks_run) else None


def connection_label(transcript_meta: dict[str, Any]) -> str:
    """` (upstream leg: relay to mock)` for a relay case's transcript, else ""."""
    leg = transcript_meta.get("leg")
    if leg == UPSTREAM:
        return " (upstream leg: the relay to the mock)"
    if leg == DOWNSTREAM:
        return " (downstream leg: the client to the relay)"
    return ""


# The line `conformance.runner.process` puts where it cut a client's output.
_CUT_NOTE: Final = re.compile(
    r"\[… ([\d,]+) bytes cut: the client wrote ([\d,]+) bytes; "
    r"the first ([\d,]+) and the last ([\d,]+) are kept\]"
)


@dataclass(frozen=True, slots=True)
class OutputCut:
    """How a client's output stream was cut by the runner (its head and tail kept)."""

    cut: int
    total: int
    head: int
    tail: int

    def line(self, stream: str) -> str:
        """`stdout was cut: …`, for reports (the tail shown does not reach the cut line)."""
        return (
            f"{stream} was cut: the client wrote {self.total:,} bytes; the first "
            f"{self.head:,} and the last {self.tail:,} are kept, {self.cut:,} left out"
        )

    def as_dict(self) -> dict[str, int]:
        """The JSON form."""
        return {"cut_bytes": self.cut, "total_bytes": self.total, "head": self.head,
                "tail": self.tail}  # fmt: skip


def output_cut(text: str) -> OutputCut | None:
    """The runner's cut of `text` (a client's stdout or stderr), or None if it is whole."""
    match = _CUT_NOTE.search(text)
    if match is None:
        return None
    cut, total, head, tail = (int(group.replace(",", "")) for group in match.groups())
    return OutputCut(cut=cut, total=total, head=head, tail=tail)


def truncation_lines(result: CaseResult) -> list[str]:
    """One line per truncated transcript and per cut output stream of a case."""
    lines = []
    for number, transcript in enumerate(result.transcripts):
        truncation = transcript.truncation
        if truncation is not None:
            lines.append(f"connection {number}: {truncation.line()}")
    outcome = result.outcome
    if outcome is not None:
        for stream, text in (("stdout", outcome.stdout), ("stderr", outcome.stderr)):
            cut = output_cut(text)
            if cut is not None:
                lines.append(cut.line(f"the client's {stream}"))
    return lines
