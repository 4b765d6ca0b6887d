"""The values checks work with: `Severity`, `Violation`, `RunOutcome`, `CheckSettings`,
`CheckContext` and the run-level `ConformanceFailed`."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from conformance.protocol.errors import UsageError
from conformance.transcript import Direction, Record, Transcript

if TYPE_CHECKING:
    from conformance.checks._registry import CheckDef


class Severity(StrEnum):
    """How much a violation counts against the client (Autobahn|Testsuite's verdict words)."""

    FAILED = "FAILED"  # the client is wrong: the live API fails or the user is misled
    NON_STRICT = "NON-STRICT"  # tolerated by the live API, but racy or fragile
    INFORMATIONAL = "INFORMATIONAL"  # worth knowing; never a failure

    @property
    def rank(self) -> int:
        """0 for the worst (FAILED); sorts violations worst first."""
        return _RANK[self]


_RANK = {Severity.FAILED: 0, Severity.NON_STRICT: 1, Severity.INFORMATIONAL: 2}


@dataclass(frozen=True, slots=True, kw_only=True)
class Violation:
    """One finding about the client, produced by one check.

    `connection` is the position of the transcript within its case (0-based); `index`,
    `direction` and `event_type` locate the frame (None for findings about the whole
    connection or the client's output; `event_type` is `close`, `drop` or `binary` for
    frames that are not JSON events); `json_path` is the dotted path inside the event.
    `message` holds all four parts: expected, received, where, what to do.
    """

    check: str
    title: str
    severity: Severity
    message: str
    expected: str
    received: str
    connection: int = 0
    index: int | None = None
    direction: Direction | None = None
    event_type: str | None = None
    json_path: str | None = None
    hint: str | None = None
    occurrences: int = 1  # identical findings folded into this one (see `run_checks`)

    @property
    def where(self) -> str:
        """`connection 0, frame #12 (client conversation.item.create) at item.content[0]`."""
        return describe_location(
            self.connection, self.index, self.direction, self.event_type, self.json_path
        )

    def __str__(self) -> str:
        lines = [f"[{self.severity}] {self.check}: {self.title}"]
        lines += [f"  Expected: {self.expected}", f"  Received: {self.received}"]
        more = f" (and {self.occurrences - 1} more like it)" if self.occurrences > 1 else ""
        lines.append(f"  At: {self.where}{more}")
        if self.hint:
            lines.append(f"  Fix: {self.hint}")
        return "\n".join(lines)


def describe_location(
    connection: int,
    index: int | None,
    direction: str | None,
    event_type: str | None,
    json_path: str | None,
) -> str:
    """Human wording of where a violation is (used in `Violation.where` and messages)."""
    text = f"connection {connection}"
    if index is not None:
        frame = " ".join(p for p in (direction, event_type) if p)
        text += f", frame #{index}" + (f" ({frame})" if frame else "")
    if json_path:
        text += f" at {json_path}"
    return text


class ConformanceFailed(AssertionError):
    """The client broke at least one FAILED check; `violations` lists every finding."""

    def __init__(self, violations: Sequence[Violation]) -> None:
        self.violations = tuple(violations)
        failed = sum(v.severity is Severity.FAILED for v in self.violations)
        body = "\n".join(str(v) for v in self.violations)
        super().__init__(f"{failed} conformance violation(s):\n{body}")


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOutcome:
    """How the client process behaved while the mock recorded the transcripts.

    `exit_code` is None when the process was killed; `timed_out` says the runner killed
    it for running past its time limit. `closed_at_s[i]` is when connection `i` ended,
    in seconds since the process started (None or missing: unknown). `secrets` are the
    exact strings (API keys, client secrets) that must never appear in the output.
    `notes` is what the client wrote to `$REALTIME_NOTES_FILE` (its replies, for a
    client that does not print them), "" when it wrote nothing.
    """

    exit_code: int | None
    timed_out: bool = False
    duration_s: float = 0.0
    stdout: str = ""
    stderr: str = ""
    closed_at_s: tuple[float | None, ...] = ()
    secrets: tuple[str, ...] = ()
    notes: str = ""

    @property
    def output(self) -> str:
        """stdout and stderr together (what a user or a CI log would see)."""
        return f"{self.stdout}\n{self.stderr}"

    @property
    def failed(self) -> bool:
        """True when the process reported failure: a non-zero exit status."""
        return self.exit_code not in (0, None)

    def closed_at(self, connection: int) -> float | None:
        """`closed_at_s[connection]`, or None when unknown."""
        if 0 <= connection < len(self.closed_at_s):
            return self.closed_at_s[connection]
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckSettings:
    """Bounds the checks judge against (the CLI and the runner pass the same names)."""

    exit_within_s: float = 5.0  # after the server ends the last connection, exit this fast
    max_connections: int = 5  # connections per case before it counts as a reconnect storm
    backoff_tolerance: float = 0.25  # a gap may shrink this fraction (jitter) and still pass
    # A server event the client had no demonstrable chance to act on counts only when it
    # came this long before the client's close or exit (docs/runner.md, "What a client is
    # answerable for").
    answer_grace_s: float = 0.5
    # After an error rejects one of its requests, the client acts (sends, closes or
    # exits) within this long, instead of waiting for an answer that will not come.
    settle_within_s: float = 2.0

    def __post_init__(self) -> None:
        if not self.exit_within_s > 0:
            raise UsageError(f"exit_within_s={self.exit_within_s!r} must be a positive number")
        if self.max_connections < 1:
            raise UsageError(f"max_connections={self.max_connections!r} must be at least 1")
        if not 0 <= self.backoff_tolerance < 1:
            raise UsageError(f"backoff_tolerance={self.backoff_tolerance!r} must be in [0, 1)")
        if not self.answer_grace_s >= 0:
            raise UsageError(f"answer_grace_s={self.answer_grace_s!r} must not be negative")
        if not self.settle_within_s > 0:
            raise UsageError(f"settle_within_s={self.settle_within_s!r} must be positive")


_NO_EXPECT: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckContext:
    """Everything a check may look at for one case.

    `transcripts` holds one transcript per connection, in the order the client opened
    them; `outcome` is the client run (None when judging transcripts alone); `expect`
    is the scenario's `expect:` mapping (`client` names and `summary`), if any.
    `connection` and `current` are set by `run_checks` while a check runs.
    """

    transcripts: tuple[Transcript, ...]
    outcome: RunOutcome | None = None
    expect: Mapping[str, Any] = field(default_factory=lambda: _NO_EXPECT)
    settings: CheckSettings = field(default_factory=CheckSettings)
    connection: int = 0
    current: CheckDef | None = None

    def connections(self) -> Iterator[tuple[int, Transcript]]:
        """`(connection index, transcript)` for every connection of the case."""
        return enumerate(self.transcripts)

    def bound(self, *, connection: int, current: CheckDef) -> CheckContext:
        """A copy pointed at one connection and one check (used by `run_checks`)."""
        return dataclasses.replace(self, connection=connection, current=current)

    def violation(
        self,
        *,
        title: str,
        expected: str,
        received: str,
        hint: str,
        record: Record | None = None,
        connection: int | None = None,
        json_path: str | None = None,
    ) -> Violation:
        """A `Violation` of the running check, located at `record` (and `json_path`)."""
        if self.current is None:
            raise UsageError("ctx.violation() is only available while run_checks runs a check")
        conn = self.connection if connection is None else connection
        index = record.index if record is not None else None
        direction = record.direction if record is not None else None
        event_type = None if record is None else _frame_label(record)
        where = describe_location(conn, index, direction, event_type, json_path)
        return Violation(
            check=self.current.name,
            title=title,
            severity=self.current.severity,
            message=f"{title}: expected {expected}; received {received}; at {where}. {hint}",
            expected=expected,
            received=received,
            connection=conn,
            index=index,
            direction=direction,
            event_type=event_type,
            json_path=json_path,
            hint=hint,
        )


def _frame_label(record: Record) -> str | None:
    return record.event_type if record.kind == "text" else record.kind
