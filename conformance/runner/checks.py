"""Checks only a runner can make, and the registry the runner judges with.

`runner_registry()` holds every built-in check and alias of `conformance.checks` plus:

* `client_connects`: the client opened at least one connection (a client that never
  reaches the mock — wrong variable, command not found — must not pass by default);
* `succeeds_when_the_server_does`: when the server sent no `error`, never closed,
  dropped or stalled, and finished every response it started as `completed`, the client
  exits 0. A crash on an unknown event type or field, or on a delta split, is caught
  here; it judges the expectations `ignores_unknown_events`, `handles_ga_event_names`
  and `accepts_large_frames`;
* `delivers_reply` (default): every reply the mock completed reaches the user: its text
  is in stdout (whitespace runs may differ) or in the file `$REALTIME_NOTES_FILE`. This
  catches a client that listens for the beta event names (`response.text.delta`) and
  shows nothing. A client that reported a server error and exited non-zero is not
  judged; opt out with `--checks default,-delivers_reply`;
* `prints_streamed_text` (opt-in): the same replies, exactly as streamed (every delta
  split must reassemble to the same text), for clients that print their replies.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
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
from conformance.checks._helpers import (
    answerable,
    closed_on_request,
    server_end,
    server_events,
    short,
)
from conformance.checks.expectations import register_aliases
from conformance.protocol.translation import SESSION_KIND, session_kind
from conformance.transcript import Record, Transcript, redact

from . import long_session

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
    check(severity=Severity.FAILED, applies_to=Scope.RUN, registry=registry)(delivers_reply)
    check(severity=Severity.FAILED, applies_to=Scope.RUN, registry=registry, default=False)(
        prints_streamed_text
    )
    long_session.register(registry)  # keeps_one_session, notes_every_screenshot
    register_aliases(registry)  # the expectations only the runner's checks judge
    return registry


ENDPOINT_KEY: Final = "endpoint"  # in a translation case's `expect`: "translation"


def client_connects(ctx: CheckContext, transcript: Transcript) -> Iterator[Violation]:
    """The client opens at least one connection to the mock it was pointed at (in a
    translation case: a translation session, at `$REALTIME_TRANSLATION_URL`)."""
    assert ctx.outcome is not None  # Scope.RUN guarantees it
    kinds = {session_kind(t.meta) for t in ctx.transcripts}
    if (
        ctx.transcripts
        and ctx.expect.get(ENDPOINT_KEY) == SESSION_KIND
        and SESSION_KIND not in kinds
    ):
        paths = sorted({str(t.meta.get("path")) for t in ctx.transcripts})
        yield ctx.violation(
            title="client never opened a translation session",
            expected="a WebSocket connection to $REALTIME_TRANSLATION_URL "
            "(/v1/realtime/translations?model=$REALTIME_TRANSLATION_MODEL)",
            received=f"{len(ctx.transcripts)} connection(s) to {', '.join(paths)}",
            connection=0,
            hint="a translation case is for a translation client: run realtime clients "
            "without --translation (and without naming translation cases)",
        )
        return
    if ctx.transcripts:
        return
    outcome = ctx.outcome
    status = "killed at the time limit" if outcome.timed_out else f"exit {outcome.exit_code}"
    tail = stderr_tail(outcome.stderr, outcome.secrets)
    yield ctx.violation(
        title="client never connected",
        expected="a WebSocket connection to $OPENAI_REALTIME_URL (or $OPENAI_BASE_URL)",
        received=f"no connection ({status}); "
        + (f"its stderr ends: {tail}" if tail else "nothing on stderr"),
        hint="read the URL and key from the environment (docs/runner.md) and check that "
        "the command starts (see its stderr)",
    )


STDERR_TAIL_LINES: Final = 3
_TAIL_LINE_CHARS: Final = 200


def stderr_tail(stderr: str, secrets: tuple[str, ...] = (), lines: int = STDERR_TAIL_LINES) -> str:
    """The last `lines` non-blank lines of `stderr` on one line (` | `), keys masked.

    Each line is cut to 200 characters: `/bin/sh: 1: hud: not found`, or a traceback's
    `ModuleNotFoundError: No module named 'ws'` and the lines before it.
    """
    kept = [line.strip() for line in redact(stderr, secrets).splitlines() if line.strip()]
    cut = _TAIL_LINE_CHARS
    return " | ".join(line if len(line) <= cut else line[: cut - 1] + "…" for line in kept[-lines:])


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
    if end is not None and not closed_on_request(transcript, end):
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


# --- replies ---------------------------------------------------------------------------

# The GA events that carry a reply's final text, and the field that holds it.
REPLY_TEXT_EVENTS: Final = {
    "response.output_text.done": "text",
    "response.output_audio_transcript.done": "transcript",
}
_GA_HINT: Final = (
    "listen for the GA event names: response.output_text.delta/.done and "
    "response.output_audio_transcript.delta/.done (the beta names response.text.delta and "
    "response.audio_transcript.delta are never sent); print each reply, or write it to "
    "the file $REALTIME_NOTES_FILE if the client shows it elsewhere (a GUI); a client "
    "that delivers replies some other way can opt out: --checks default,-delivers_reply "
    "(in pytest: assert_conforms(..., checks='-delivers_reply'))"
)
_JOIN_HINT: Final = (
    "show every reply you asked for, in full: append each delta as it arrives (never "
    "strip, decode or re-split it: the live server splits text anywhere, also next to "
    "spaces), and read on to the response.done of each response.create you sent"
)
_TRANSLATION_HINT: Final = (
    "append each session.output_transcript.delta as it arrives (never strip or re-split "
    "it: each word but the first comes with its leading space) and show the translation "
    "to the user (stdout, or the file $REALTIME_NOTES_FILE); send session.close and read "
    "on to session.closed: the last words come with the flush"
)
TRANSLATION_DELTA: Final = "session.output_transcript.delta"
_MIN_PREFIX: Final = 8  # a shorter common start says nothing about the reply being there


@dataclass(frozen=True, slots=True)
class Reply:
    """One completed response's text parts, located at its `response.done`."""

    connection: int
    record: Record
    parts: tuple[str, ...]
    translation: bool = False  # the output transcript of a translation session


def replies(ctx: CheckContext) -> Iterator[Reply]:
    """Every reply the client is answerable for: a `response.done` with status `completed`
    whose `response.output_text.done` / `response.output_audio_transcript.done` carried
    text, that answers one of the client's own `response.create` (the n-th answer needs n
    of them sent before it; a response the server started on its own is not counted), and
    was sent before the client's own close (`conformance.checks._helpers.answerable`).

    A translation session's reply is its output transcript: every
    `session.output_transcript.delta` joined, located at `session.closed` (else at the
    last delta), when the client is answerable for it."""
    for connection, transcript in ctx.connections():
        if session_kind(transcript.meta) == SESSION_KIND:
            found = _translation(ctx, connection, transcript)
            if found is not None:
                yield found
            continue
        texts: dict[object, list[str]] = {}
        asked = answered = 0
        for record in transcript.records:
            event = record.event if record.kind == "text" else None
            if event is None:
                continue
            kind = event.get("type")
            if record.direction == "client":
                asked += kind == "response.create"
            elif kind in REPLY_TEXT_EVENTS:
                value = event.get(REPLY_TEXT_EVENTS[str(kind)])
                if isinstance(value, str) and value.strip():
                    texts.setdefault(event.get("response_id"), []).append(value)
            elif kind == "response.done":
                body = _response(event)
                parts = texts.pop(body.get("id"), None) or texts.pop(None, None)
                requested = answered < asked
                answered += requested
                completed = body.get("status") == "completed"
                if parts and requested and completed and answerable(ctx, connection, record):
                    yield Reply(connection, record, tuple(parts))


def _translation(ctx: CheckContext, connection: int, transcript: Transcript) -> Reply | None:
    """The translated text of one translation connection, if the client must show it."""
    deltas: list[str] = []
    at: Record | None = None
    for record in transcript.server_events():
        event = record.event
        kind = record.event_type
        if event is not None and kind == TRANSLATION_DELTA:
            delta = event.get("delta")
            deltas.append(delta if isinstance(delta, str) else "")
            at = record
        elif kind == "session.closed":
            at = record
            break
    text = "".join(deltas)
    if at is None or not text.strip() or not answerable(ctx, connection, at):
        return None
    return Reply(connection, at, (text,), translation=True)


def reply_judged(ctx: CheckContext) -> bool:
    """False when the client is excused from delivering replies in this case.

    A client killed at the time limit (reported by `finishes_within_time_limit`), and a
    client that exited non-zero after the server reported trouble (an error event, a
    failed response, a close or drop, or a fault the scenario plays): it reported the
    failure, which docs/runner.md allows, and need not print a reply first.
    """
    outcome = ctx.outcome
    assert outcome is not None  # Scope.RUN guarantees it
    if outcome.timed_out:
        return False
    if outcome.failed:
        troubled = any(server_trouble(t) for _, t in ctx.connections())
        return not (troubled or faults_expected(ctx.expect))
    return True


def delivers_reply(ctx: CheckContext, transcript: Transcript) -> Iterator[Violation]:
    """Each reply the server completed reaches the user: in stdout or $REALTIME_NOTES_FILE."""
    outcome = ctx.outcome
    assert outcome is not None  # Scope.RUN guarantees it
    if not reply_judged(ctx):
        return
    stdout, notes = _squeezed(outcome.stdout), _squeezed(outcome.notes)
    for reply in replies(ctx):
        for part in reply.parts:
            text = _squeezed(part)
            if text in stdout or text in notes:
                continue
            received, hint = _what_came(text, stdout, notes, outcome)
            noun = "translation" if reply.translation else "reply"
            yield ctx.violation(
                title=f"{noun} not delivered",
                expected=f"the {noun} {short(part)} in stdout or in $REALTIME_NOTES_FILE "
                "(runs of whitespace may differ)",
                received=received,
                record=reply.record,
                connection=reply.connection,
                hint=_TRANSLATION_HINT if reply.translation and hint == _GA_HINT else hint,
            )


def prints_streamed_text(ctx: CheckContext, transcript: Transcript) -> Iterator[Violation]:
    """Each reply the server completed is in stdout or $REALTIME_NOTES_FILE, exactly."""
    outcome = ctx.outcome
    assert outcome is not None
    if not reply_judged(ctx):
        return
    for reply in replies(ctx):
        for part in reply.parts:
            if part in outcome.stdout or part in outcome.notes:
                continue
            yield ctx.violation(
                title="streamed text not reassembled",
                expected=f"the reply {short(part)} in stdout (or $REALTIME_NOTES_FILE), exactly",
                received=f"stdout {short(outcome.stdout[-200:])}",
                record=reply.record,
                connection=reply.connection,
                hint=_JOIN_HINT,
            )


def _squeezed(text: str) -> str:
    """`text` with every run of whitespace made one space (a client may wrap lines)."""
    return " ".join(text.split())


def _what_came(text: str, stdout: str, notes: str, outcome: RunOutcome) -> tuple[str, str]:
    """(received, hint) for a reply that is neither in stdout nor in the notes."""
    status = f"exit status {outcome.exit_code}"
    for name, found in (("stdout", stdout), ("$REALTIME_NOTES_FILE", notes)):
        size = _common_start(text, found)
        if size >= _MIN_PREFIX:
            at = found.find(text[:size]) + size
            return (
                f"{status}; {name} has the reply's first {size} of {len(text)} characters, "
                f"then {short(found[at : at + 30])} where {short(text[size : size + 30])} "
                "was due",
                _JOIN_HINT,
            )
    if text in _squeezed(outcome.stderr):
        return (
            f"{status}; the reply is on stderr only",
            "print replies to stdout (or write them to the file $REALTIME_NOTES_FILE); "
            "stderr is for diagnostics",
        )
    if not stdout and not notes:
        return f"{status}; nothing on stdout and no $REALTIME_NOTES_FILE written", _GA_HINT
    return f"{status}; stdout {short(stdout[-120:])}", _GA_HINT


def _common_start(text: str, found: str) -> int:
    """The length of the longest start of `text` that appears in `found` (binary search:
    every shorter start of a start that appears appears too)."""
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if text[:middle] in found:
            low = middle
        else:
            high = middle - 1
    return low
