"""Checks only a runner can make, and the registry the runner judges with.

`RUNNER_CHECKS` holds every built-in check and alias of `conformance.checks` plus:

* `client_connects`: the client opened at least one connection (a client that never
  reaches the mock — wrong variable, command not found — must not pass by default);
* `succeeds_on_happy_path`: without a scenario, and with nothing going wrong on the
  server's side, the client exits 0.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache

from conformance.checks import CHECKS, CheckContext, Registry, Scope, Severity, Violation, check
from conformance.checks._helpers import server_end, server_events
from conformance.transcript import Transcript


@cache
def runner_registry() -> Registry:
    """The built-in checks and aliases, plus the runner's own checks (built once)."""
    registry = Registry()
    for definition in CHECKS:
        registry.register(definition)
    for name, targets in CHECKS.aliases.items():
        registry.alias(name, targets)
    check(severity=Severity.FAILED, applies_to=Scope.RUN, registry=registry)(client_connects)
    check(severity=Severity.FAILED, applies_to=Scope.RUN, registry=registry)(succeeds_on_happy_path)
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


def succeeds_on_happy_path(ctx: CheckContext, transcript: Transcript) -> Iterator[Violation]:
    """Without a scenario and with no error, failure or close from the server, exit 0."""
    assert ctx.outcome is not None
    outcome = ctx.outcome
    if not ctx.transcripts or outcome.timed_out or outcome.exit_code == 0:
        return  # nothing to judge, or reported by finishes_within_time_limit
    if any(t.meta.get("scenario") for t in ctx.transcripts) or _server_trouble(ctx):
        return
    yield ctx.violation(
        title="client failed on the happy path",
        expected="exit status 0 when the server answered everything without an error",
        received=f"exit status {outcome.exit_code}",
        connection=len(ctx.transcripts) - 1,
        hint="read the client's stderr in the report: it crashed or reported a problem "
        "the server never signalled",
    )


def _server_trouble(ctx: CheckContext) -> bool:
    for _, each in ctx.connections():
        if server_end(each) is not None or next(server_events(each, "error"), None):
            return True
        for _, event in server_events(each, "response.done"):
            response = event.get("response")
            if isinstance(response, dict) and response.get("status") not in (None, "completed"):
                return True
    return False
