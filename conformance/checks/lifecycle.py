"""Checks on the order of client events: the session handshake, config acks, responses.

These judge what the client sent relative to what it had received, which is causal: a
frame sent after the client read a server event is recorded after it, so a client that
waits is never flagged, however slow the machine (no `answerable` needed; see
docs/runner.md, "What a client is answerable for").

Ordering rules are not re-coded here: `protocol_rules_hold` and
`tracks_response_lifecycle` replay the transcript through the protocol core.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from conformance.models import load_registry
from conformance.protocol import SequenceProblem, replay
from conformance.transcript import Record, Transcript

from ._model import CheckContext, Severity, Violation
from ._registry import check

ACTIVE_RESPONSE: Final = "conversation_already_has_active_response"
# Cancelling a response that finished a moment earlier is a race the client cannot always
# win (catalog CANCEL-NOT-ACTIVE); the mistake there is treating the error as fatal.
_RACES: Final = frozenset({"response_cancel_not_active"})
_GATED: Final = frozenset(
    {
        "input_audio_buffer.append",
        "input_audio_buffer.commit",
        "conversation.item.create",
        "response.create",
    }
)


def _client_problems(transcript: Transcript) -> list[SequenceProblem]:
    frames = [(r.direction, r.text or "") for r in transcript.records]
    return [p for p in replay(frames, models=load_registry().get) if p.direction == "client"]


def _session_created_at(transcript: Transcript) -> int | None:
    for record in transcript.server_events():
        if record.event_type == "session.created":
            return record.index
    return None


@check(severity=Severity.NON_STRICT)
def waits_for_session_created(ctx: CheckContext, transcript: Transcript) -> Iterator[Violation]:
    """The client sends nothing before the server's session.created."""
    created = _session_created_at(transcript)
    early = [
        r
        for r in transcript.records
        if r.direction == "client"
        and r.kind in ("text", "binary")
        and (created is None or r.index < created)
    ]
    if early:
        more = f", then {len(early) - 1} more frame(s)" if len(early) > 1 else ""
        yield ctx.violation(
            title="client sent before session.created",
            expected="the first client frame after session.created",
            received=f"{early[0].event_type or early[0].kind}{more} "
            + ("with no session.created at all" if created is None else "before it"),
            record=early[0],
            hint="wait for session.created before sending (it carries the session defaults)",
        )


@check(severity=Severity.NON_STRICT)
def waits_for_session_updated(ctx: CheckContext, transcript: Transcript) -> Iterator[Violation]:
    """Input and response.create wait for session.updated after a session.update."""
    pending: Record | None = None
    reported = False
    for record in transcript.records:
        kind = record.event_type
        if record.direction == "server" and kind in ("session.updated", "error"):
            pending, reported = None, False
        elif record.direction == "client" and kind == "session.update" and pending is None:
            pending = record
        elif record.direction == "client" and kind in _GATED and pending and not reported:
            reported = True
            yield ctx.violation(
                title=f"{kind} sent before session.updated",
                expected=f"session.updated (acking the session.update of frame #{pending.index})"
                f" before {kind}",
                received=f"{kind} while the update was unacknowledged",
                record=record,
                hint="wait for session.updated (or an error) before sending input; "
                "otherwise the first turn may run with the default configuration",
            )


@check(severity=Severity.FAILED)
def tracks_response_lifecycle(ctx: CheckContext, transcript: Transcript) -> Iterator[Violation]:
    """No response.create while a response is active (wait for response.done)."""
    records = transcript.records
    for problem in _client_problems(transcript):
        if problem.code == ACTIVE_RESPONSE:
            yield ctx.violation(
                title="response.create while a response is active",
                expected="response.done of the active response before the next response.create",
                received=problem.message,
                record=records[problem.index],
                hint="track the response lifecycle: set a flag on response.created, clear it "
                "on response.done, and queue or drop new requests meanwhile",
            )


@check(severity=Severity.FAILED)
def protocol_rules_hold(ctx: CheckContext, transcript: Transcript) -> Iterator[Violation]:
    """Client events obey the protocol rules the live server enforces (replayed in order)."""
    records = transcript.records
    created = _session_created_at(transcript)
    for problem in _client_problems(transcript):
        if problem.code == ACTIVE_RESPONSE or problem.code in _RACES:
            continue  # reported by tracks_response_lifecycle / a race, not a rule breach
        if created is None or problem.index < created:
            continue  # reported by waits_for_session_created
        yield ctx.violation(
            title="client event breaks a protocol rule",
            expected=f"a {problem.event_type} the server accepts in this state",
            received=f"{problem.code or 'rejected'}: {problem.message}",
            record=records[problem.index],
            hint="keep client state in step with the server's events (items, audio, voice)",
        )
