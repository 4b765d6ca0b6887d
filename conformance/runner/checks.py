"""Checks only a runner can make, and the registry the runner judges with.

`runner_registry()` holds every built-in check and alias of `conformance.checks` plus:

* `client_connects`: the client opened at least one connection (a client that never
  reaches the mock — wrong variable, command not found — must not pass by default);
* `succeeds_when_the_server_does`: when the server sent no `error`, never closed,
  dropped or stalled, and finished every response it started as `completed`, the client
  exits 0. A crash on an unknown event type or field, or on a delta split, is caught
  here; it judges the expectations `ignores_unknown_events`, `handles_ga_event_names`
  and `accepts_large_frames`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any, Final

from conformance.checks import (
    CHECKS,
    CheckContext,
    Registry,
    RunOutcome,
    Scope,
    Severity,
    Violation,
    check,
)
from conformance.checks._helpers import server_end, server_events, short
from conformance.checks.expectations import register_aliases
from conformance.transcript import Transcript

# Expectations of a scenario whose server misbehaves; a stall, unanswered pings or a
# late session.created leave no trace in the transcript, so they are read from here.
FAULT_EXPECTATIONS: Final = frozenset(
    {
        "surfaces_error_event",
        "surfaces_close_code_and_reason",
        "surfaces_handshake_failure",
        "detects_dropped_connection",
        "detects_unanswered_pings",
        "times_out_stalled_stream",
        "times_out_session_created",
        "handles_session_expiry",
    }
)


@cache
def runner_registry() -> Registry:
    """The built-in checks and aliases, plus the runner's own checks (built once)."""
    registry = Registry()
    for definition in CHECKS:
        registry.register(definition)
    for name, targets in CHECKS.aliases.items():
        registry.alias(name, targets)
    check(severity=Severity.FAILED, applies_to=Scope.RUN, registry=registry)(client_connects)
    check(severity=Severity.FAILED, applies_to=Scope.RUN, registry=registry)(
        succeeds_when_the_server_does
    )
    register_aliases(registry)  # the expectations only the runner's checks judge
    return registry


def client_connects(ctx: CheckContext, transcript: Transcript) -> Iterator[Violation]:
    """The client opens at least one connection to the mock it was pointed at."""
    assert ctx.outcome is not None  # Scope.RUN guarantees it
    if ctx.transcripts:
        return
    outcome = ctx.outcome
    status = "killed at the time limit" if outcome.timed_out else f"exit {outcome.exit_code}"
    yield ctx.violation(
        title="client never connected",
        expected="a WebSocket connection to $OPENAI_REALTIME_URL (or $OPENAI_BASE_URL)",
        received=f"no connection ({status})",
        hint="read the URL and key from the environment (docs/runner.md) and check that "
        "the command starts (see its stderr)",
    )


def succeeds_when_the_server_does(ctx: CheckContext, transcript: Transcript) -> Iterator[Violation]:
    """When the server raised no error, close, drop or stall, the client exits 0.

    Faults are read from the transcripts and from the case's expectations (a stall
    leaves no record: the server just stops talking).
    """
    outcome = ctx.outcome
    assert outcome is not None  # Scope.RUN guarantees it
    if not ctx.transcripts or outcome.timed_out or outcome.exit_code == 0:
        return  # nothing to judge, or reported by finishes_within_time_limit
    if any(server_trouble(t) for _, t in ctx.connections()) or faults_expected(ctx.expect):
        return
    yield ctx.violation(
        title="client failed with nothing wrong on the server's side",
        expected="exit status 0: every event was legal and every response completed",
        received=f"exit status {outcome.exit_code}; last output {short(_last_line(outcome))}",
        connection=len(ctx.transcripts) - 1,
        hint="ignore unknown event types and fields, and join deltas as they come: the "
        "live server splits text anywhere and adds events without notice (see the "
        "client's stderr in the report)",
    )


def server_trouble(transcript: Transcript) -> str | None:
    """What went wrong on the server's side of one connection, or None if nothing did."""
    end = server_end(transcript)
    if end is not None:
        return f"the server ended the connection ({end.kind})"
    if next(server_events(transcript, "error"), None) is not None:
        return "the server sent an error event"
    started = {_response_id(e) for _, e in server_events(transcript, "response.created")}
    for _, event in server_events(transcript, "response.done"):
        started.discard(_response_id(event))
        if _response(event).get("status") != "completed":
            return f"a response ended {_response(event).get('status')!r}"
    return "a response never finished" if started else None


def faults_expected(expect: Mapping[str, Any]) -> bool:
    """The case's scenario plays a fault, by its expectations."""
    return bool(FAULT_EXPECTATIONS & set(map(str, expect.get("client") or ())))


def _response(event: Mapping[str, Any]) -> Mapping[str, Any]:
    body = event.get("response")
    return body if isinstance(body, Mapping) else {}


def _response_id(event: Mapping[str, Any]) -> object:
    return _response(event).get("id")


def _last_line(outcome: RunOutcome) -> str:
    lines = [line for line in (outcome.stderr or outcome.stdout).splitlines() if line.strip()]
    return lines[-1] if lines else ""
