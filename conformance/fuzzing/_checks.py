"""Checks that judge a client under a fuzzed stream, on top of the runner's registry.

* `succeeds_when_the_server_does` (default): when the server sent no `error`, never
  closed, dropped or stalled, and finished every response it started as `completed`,
  the client exits 0. A crash on an unknown event or on a delta split is caught here.
* `prints_streamed_text` (opt-in: `--checks default,prints_streamed_text`): for a client
  that prints its replies, each completed response's full text appears in its stdout,
  exactly (every delta split must reassemble to the same text).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any, Final

from conformance.checks import (
    CheckContext,
    Registry,
    RunOutcome,
    Scope,
    Severity,
    Violation,
    check,
)
from conformance.checks._helpers import server_end, server_events, short
from conformance.runner import runner_registry
from conformance.transcript import Transcript

FUZZ_CHECKS: Final = ("succeeds_when_the_server_does",)
TEXT_CHECK: Final = "prints_streamed_text"
# Expectations a fuzz scenario lists when it plays a fault (see `_scenario.expectations`).
FAULT_EXPECTATIONS: Final = frozenset(
    {
        "surfaces_error_event",
        "surfaces_close_code_and_reason",
        "detects_dropped_connection",
        "times_out_stalled_stream",
    }
)
_TEXT_DONE: Final = {"response.output_text.done": "text",
                     "response.output_audio_transcript.done": "transcript"}  # fmt: skip


@cache
def fuzz_registry() -> Registry:
    """The runner's checks and aliases plus the fuzz checks (built once)."""
    registry = Registry()
    base = runner_registry()
    for definition in base:
        registry.register(definition)
    for name, targets in base.aliases.items():
        registry.alias(name, targets)
    run_check = check(severity=Severity.FAILED, applies_to=Scope.RUN, registry=registry)
    run_check(succeeds_when_the_server_does)
    text_check = check(
        severity=Severity.FAILED, applies_to=Scope.RUN, registry=registry, default=False
    )
    text_check(prints_streamed_text)
    return registry


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


def _faults_expected(expect: Mapping[str, Any]) -> bool:
    """The case's scenario plays a fault (a stall leaves no trace in the transcript)."""
    return bool(FAULT_EXPECTATIONS & set(expect.get("client") or ()))


def _response(event: Mapping[str, Any]) -> Mapping[str, Any]:
    body = event.get("response")
    return body if isinstance(body, Mapping) else {}


def _response_id(event: Mapping[str, Any]) -> object:
    return _response(event).get("id")


def succeeds_when_the_server_does(ctx: CheckContext, transcript: Transcript) -> Iterator[Violation]:
    """When the server raised no error, close, drop or stall, the client exits 0.

    Faults are read from the transcript and from the case's expectations (a stall leaves
    no record: the server just stops talking).
    """
    outcome = ctx.outcome
    assert outcome is not None  # Scope.RUN guarantees it
    if not ctx.transcripts or outcome.timed_out or outcome.exit_code == 0:
        return
    if any(server_trouble(t) for _, t in ctx.connections()) or _faults_expected(ctx.expect):
        return
    yield ctx.violation(
        title="client failed on a stream with nothing wrong in it",
        expected="exit status 0: every event was legal and every response completed",
        received=f"exit status {outcome.exit_code}; last output {short(_last_line(outcome))}",
        connection=len(ctx.transcripts) - 1,
        hint="ignore unknown event types and fields, and join deltas as they come: the "
        "live server splits text anywhere and adds events without notice",
    )


def _last_line(outcome: RunOutcome) -> str:
    lines = [line for line in (outcome.stderr or outcome.stdout).splitlines() if line.strip()]
    return lines[-1] if lines else ""


def prints_streamed_text(ctx: CheckContext, transcript: Transcript) -> Iterator[Violation]:
    """Each completed response's text appears in the client's stdout, exactly."""
    outcome = ctx.outcome
    assert outcome is not None
    for connection, each in ctx.connections():
        for record, event in _done_texts(each):
            text = str(event.get(_TEXT_DONE[str(event.get("type"))]))
            if text.strip() and text not in outcome.stdout:
                yield ctx.violation(
                    title="streamed text not reassembled",
                    expected=f"the reply {short(text)} in stdout, exactly",
                    received=f"stdout {short(outcome.stdout[-200:])}",
                    record=record,
                    connection=connection,
                    hint="append each delta as received; never strip, decode or re-split it",
                )


def _done_texts(transcript: Transcript) -> Iterator[tuple[Any, dict[str, Any]]]:
    for kind in _TEXT_DONE:
        yield from server_events(transcript, kind)
