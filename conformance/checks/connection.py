"""Checks on what the client does when a connection ends: exit or recover, no hang, no
reconnect storm, no retry of a permanent failure."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Final

from conformance.transcript import Record, Transcript

from ._helpers import answerable, describe_end, server_end, span_s
from ._model import CheckContext, RunOutcome, Severity, Violation
from ._registry import Scope, check

# Closes that repeat for the same request: auth (3000), request shape (4000: beta,
# missing or invalid model), retired model (4004). Protocol notes §6.3.
PERMANENT_CLOSE_CODES: Final = frozenset({3000, 4000, 4004})
# An upgrade refused with one of these is not fixed by asking again (catalog 12, 17).
PERMANENT_HTTP_STATUSES: Final = frozenset({401, 403})


@check(severity=Severity.FAILED, applies_to=Scope.RUN, closing=True)
def exits_or_recovers_after_close(ctx: CheckContext, transcript: Transcript) -> Iterator[Violation]:
    """After the server ends the last connection, the client exits within the bound."""
    assert ctx.outcome is not None  # Scope.RUN guarantees it
    last = len(ctx.transcripts) - 1
    end = server_end(ctx.transcripts[last]) if last >= 0 else None
    if end is None or not answerable(ctx, last, end):
        return  # the client closed, or reconnected after the server's close: it recovered
    hang = _hang(ctx.outcome, ctx.outcome.closed_at(last), ctx.settings.exit_within_s)
    if hang is not None:
        yield ctx.violation(
            title="client hangs after the server closed",
            expected=f"exit or reconnect within {ctx.settings.exit_within_s:g} s "
            f"after the {describe_end(end)}",
            received=hang,
            record=end,
            connection=last,
            hint="bound every wait (connect, session.created, response.done, close) "
            "with a timeout and end or reconnect when the socket closes",
        )


def _hang(outcome: RunOutcome, closed_at: float | None, bound: float) -> str | None:
    after = None if closed_at is None else outcome.duration_s - closed_at
    if outcome.timed_out or outcome.exit_code is None:
        waited = f" {after:.1f} s after the close" if after is not None else ""
        return f"still running when the runner killed it{waited}"
    if after is not None and after > bound:
        return f"exit {after:.1f} s after the close"
    return None


@check(severity=Severity.FAILED, applies_to=Scope.RUN)
def finishes_within_time_limit(ctx: CheckContext, transcript: Transcript) -> Iterator[Violation]:
    """The client finishes on its own: the runner never has to kill it for running too long."""
    assert ctx.outcome is not None
    last = max(len(ctx.transcripts) - 1, 0)
    if not ctx.outcome.timed_out:
        return
    if ctx.transcripts and server_end(ctx.transcripts[last]) is not None:
        return  # reported by exits_or_recovers_after_close
    yield ctx.violation(
        title="client killed for running too long",
        expected="the client gives up (or finishes) before the runner's time limit",
        received=f"still running after {ctx.outcome.duration_s:.1f} s {_still(ctx.transcripts)}",
        connection=last,
        hint="time out waits for session.created, response.done and pongs, then report "
        "the stall and exit or reconnect; if the client is just slow, raise the runner's "
        "limit with --timeout SECONDS (default 20)",
    )


def _still(transcripts: Sequence[Transcript]) -> str:
    """Where a client the runner killed was: never connected, closed, or connected."""
    if not transcripts:
        return "without ever connecting"
    records = transcripts[-1].records
    if records and records[-1].kind in ("close", "drop", "rejected"):
        return "after its last connection ended"
    return "on an open connection"


@check(severity=Severity.FAILED, applies_to=Scope.CASE, closing=True)
def reconnects_with_backoff(ctx: CheckContext, transcript: Transcript) -> Iterator[Violation]:
    """Reconnects are bounded in number and their gaps grow (backoff, not a storm)."""
    limit = ctx.settings.max_connections
    if len(ctx.transcripts) > limit:
        yield ctx.violation(
            title="too many connections (reconnect storm)",
            expected=f"at most {limit} connections in one case",
            received=f"{len(ctx.transcripts)} connections",
            connection=limit,
            hint="give up after a few attempts and report the last close",
        )
    gaps = _gaps(ctx.transcripts)
    if gaps is None or len(gaps) < 2:
        return  # growth needs two gaps; start times unknown without meta.started_at
    floor = 1 - ctx.settings.backoff_tolerance
    for k in range(1, len(gaps)):
        if gaps[k] < gaps[k - 1] * floor or (k == len(gaps) - 1 and gaps[k] <= gaps[0]):
            shown = ", ".join(f"{g:.2f}" for g in gaps)
            yield ctx.violation(
                title="reconnect gaps do not grow",
                expected="growing gaps between reconnects (exponential backoff, jitter allowed)",
                received=f"gaps of {shown} s",
                connection=k + 1,
                hint="wait longer before each retry (e.g. 0.5 s, 1 s, 2 s, … with jitter)",
            )
            return


def _gaps(transcripts: tuple[Transcript, ...]) -> list[float] | None:
    spans = [span_s(t) for t in transcripts]
    known = [s for s in spans if s is not None]
    if len(known) != len(spans):
        return None
    return [max(known[i + 1][0] - known[i][1], 0.0) for i in range(len(known) - 1)]


@check(severity=Severity.FAILED, applies_to=Scope.CASE, closing=True)
def does_not_reconnect_on_permanent_close(
    ctx: CheckContext, transcript: Transcript
) -> Iterator[Violation]:
    """No retry of the same request after a permanent close (3000/4000/4004, upgrade 401/403)."""
    repeats: list[tuple[int, Record, Record]] = []
    for index in range(1, len(ctx.transcripts)):
        before = server_end(ctx.transcripts[index - 1])
        after = server_end(ctx.transcripts[index])
        if before is not None and after is not None and _repeats(before, after):
            repeats.append((index, before, after))
    if repeats:
        index, before, after = repeats[0]
        more = f" ({len(repeats)} retries in all)" if len(repeats) > 1 else ""
        yield ctx.violation(
            title="retried after a permanent close",
            expected=f"no retry of a request closed with {describe_end(before)}",
            received=f"connection {index} closed the same way{more}",
            record=after,
            connection=index,
            hint="treat 3000/4000/4004 and an upgrade refused with 401/403 as fatal: report "
            "them and fix the key, URL or model",
        )


def _repeats(before: Record, after: Record) -> bool:
    """A permanent close followed by the very same close on the next connection."""
    permanent = (before.kind == "close" and before.code in PERMANENT_CLOSE_CODES) or (
        before.kind == "rejected" and before.code in PERMANENT_HTTP_STATUSES
    )
    if not permanent:
        return False
    return (before.kind, before.code, before.reason) == (after.kind, after.code, after.reason)
