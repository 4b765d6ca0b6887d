"""Checks on how the client lives with legal but awkward server behaviour: errors the
session survives, errors that answer its own requests, repeated or reordered events,
and the size of its own frames.

None of them is in `default`: each judges the scenarios whose `expect.client` names it
(`benign-errors-mid-session`, `events-out-of-order-duplicated`, `image-too-large`, …).
They judge only server events the client is answerable for (`_helpers.answerable`).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from typing import Any, Final

from conformance.transcript import Record, Transcript

from ._helpers import (
    answerable,
    client_end,
    client_event_ids,
    error_event_id,
    process_exit_ms,
    reply_texts,
    server_end,
    server_events,
    short,
)
from ._model import CheckContext, RunOutcome, Severity, Violation
from ._registry import Scope, check

# image-too-large: the mock (like a 1 MiB WebSocket limit) closes 1009 at this size.
FRAME_LIMIT_BYTES: Final = 1_000_000
# Audio appends may carry up to 15 MiB per event (protocol notes); they are not judged.
_UNLIMITED: Final = frozenset({"input_audio_buffer.append"})
_TEXT_DELTAS: Final = {
    "response.output_text.delta": "text",
    "response.output_audio_transcript.delta": "transcript",
}


def _frame_size(record: Record) -> int:
    if record.text is not None:
        return len(record.text.encode("utf-8"))
    try:
        return len(base64.b64decode(record.data_b64 or ""))
    except (binascii.Error, ValueError):
        return len(record.data_b64 or "") * 3 // 4


@check(severity=Severity.FAILED, default=False)
def limits_client_frame_size(ctx: CheckContext, transcript: Transcript) -> Iterator[Violation]:
    """The client's own frames stay under 1,000,000 bytes (it downscales images first)."""
    big = [
        (record, size)
        for record in transcript.records
        if record.direction == "client"
        and record.kind in ("text", "binary")
        and record.event_type not in _UNLIMITED
        and (size := _frame_size(record)) >= FRAME_LIMIT_BYTES
    ]
    if not big:
        return
    record, size = big[0]
    more = f" (and {len(big) - 1} more frame(s) that large)" if len(big) > 1 else ""
    yield ctx.violation(
        title="client frame too large",
        expected=f"every client frame under {FRAME_LIMIT_BYTES:,} bytes "
        "(the live server and WebSocket stacks close 1009 above about 1 MiB)",
        received=f"a {record.event_type or record.kind} frame of {size:,} bytes{more}",
        record=record,
        hint="downscale and re-encode screenshots before sending (e.g. at most 1024 px on "
        "the long side, JPEG or WebP): a 2-3 MB PNG as a data URL exceeds the limit",
    )


def _response_id(event: dict[str, Any] | None) -> object:
    body = event.get("response") if event is not None else None
    return body.get("id") if isinstance(body, dict) else None


def open_requests(records: list[Record], until: int) -> str | None:
    """What the client was still waiting for just before `records[until]`, or None.

    An active response (`response.created` without its `response.done`), or a
    `response.create` the server has neither started nor rejected (an `error` whose
    `error.event_id` names it).
    """
    active: dict[object, None] = {}
    pending: list[object] = []
    for record in records[:until]:
        if record.kind != "text":
            continue
        event, kind = record.event, record.event_type
        if record.direction == "client" and kind == "response.create":
            pending.append(event.get("event_id") if event is not None else None)
        elif record.direction == "server" and kind == "response.created":
            if pending:
                pending.pop(0)
            active[_response_id(event)] = None
        elif record.direction == "server" and kind == "response.done":
            if _response_id(event) in active:
                del active[_response_id(event)]
            elif pending:
                pending.pop(0)
        elif record.direction == "server" and kind == "error":
            echoed = error_event_id(event)
            if echoed is not None and echoed in pending:
                pending.remove(echoed)
    if active:
        return f"response {next(iter(active))!s} still streaming"
    if pending:
        return f"its response.create ({pending[0]!s}) not yet answered"
    return None


def _ended_by(end: Record) -> str:
    return "dropped" if end.kind == "drop" else "closed"


@check(severity=Severity.FAILED, applies_to=Scope.CASE, default=False)
def treats_error_as_recoverable(ctx: CheckContext, transcript: Transcript) -> Iterator[Violation]:
    """After an error the server survives, the client keeps the session and finishes its turn."""
    recovered = True
    tied = False
    for connection, each in ctx.connections():
        if server_end(each) is not None:
            recovered = False
            continue  # the server ended the session: not a recoverable error
        end = client_end(each)
        stop = end.index if end is not None else len(each.records)
        # Every error before the client's end counts here: a client that ends its turn
        # right after one (with a request open) ended it on that error, however soon.
        errors = [r for r, _ in server_events(each, "error") if r.index < stop]
        if not errors:
            continue
        requests = client_event_ids(each)
        tied = tied or any(error_event_id(r.event) in requests for r in errors)
        waiting = None if end is None else open_requests(each.records, end.index)
        if end is not None and waiting is not None:
            first = errors[0]
            yield ctx.violation(
                title="session ended after a recoverable error",
                expected="the session kept until the turn completes: the server kept it open "
                f"after the error {_code(first)}",
                received=f"the client {_ended_by(end)} the connection at frame #{end.index} "
                f"with {waiting}",
                record=first,
                connection=connection,
                json_path="error",
                hint="log error events and carry on: most are recoverable (the server keeps "
                "the session); only a close or a fatal code ends it",
            )
    outcome = ctx.outcome
    if outcome is None or not recovered or tied or not _failed_after_success(ctx, outcome):
        return
    yield ctx.violation(
        title="exit status reports a failure the session recovered from",
        expected="exit status 0: every error was recoverable and every response completed",
        received=f"exit status {outcome.exit_code}",
        connection=len(ctx.transcripts) - 1,
        hint="log recoverable errors (at warning level) instead of failing the run on them",
    )


def _code(record: Record) -> str:
    event = record.event
    error = event.get("error") if event is not None else None
    code = error.get("code") if isinstance(error, dict) else None
    return repr(code) if code else "(no code)"


def _failed_after_success(ctx: CheckContext, outcome: RunOutcome) -> bool:
    """The client exited non-zero although it got answerable errors and every response
    completed."""
    if not outcome.failed or outcome.timed_out:
        return False
    had_error = False
    for connection, each in ctx.connections():
        for _, event in server_events(each, "response.done"):
            body = event.get("response")
            if isinstance(body, dict) and body.get("status") != "completed":
                return False
        had_error = had_error or any(
            answerable(ctx, connection, r) for r, _ in server_events(each, "error")
        )
    return had_error


@check(severity=Severity.FAILED, applies_to=Scope.CASE, default=False)
def correlates_error_event_id(ctx: CheckContext, transcript: Transcript) -> Iterator[Violation]:
    """An error that rejects one of the client's requests settles it: no wait for an answer."""
    bound = ctx.settings.settle_within_s
    for connection, each in ctx.connections():
        if server_end(each) is not None:
            continue  # the server ended it: judged by the close checks
        requests = client_event_ids(each)
        records = each.records
        end = client_end(each)
        stop = end.index if end is not None else len(records)
        for record, event in server_events(each, "error"):
            echoed = error_event_id(event)
            if echoed not in requests or record.index >= stop:
                continue
            if not answerable(ctx, connection, record):
                continue
            after = records[record.index + 1 : stop]
            if any(r.kind in ("text", "binary") for r in after):
                continue  # the client went on, or the server kept talking
            waited = _waited_ms(ctx, connection, record, end)
            if waited is None or waited <= bound * 1000:
                continue
            yield ctx.violation(
                title="waited for an answer the error had already given",
                expected=f"the request {echoed!s} settled at once by the error that names it "
                f"in error.event_id (then go on, close or exit within {bound:g} s)",
                received=f"nothing from the client for {waited / 1000:.1f} s after the error, "
                "then " + (f"it {_ended_by(end)} the connection" if end else "its end"),
                record=record,
                connection=connection,
                json_path="error.event_id",
                hint="send every client event with an event_id and keep the pending requests "
                "by it; an error echoing that id fails (or settles) that request now",
            )


def _waited_ms(
    ctx: CheckContext, connection: int, record: Record, end: Record | None
) -> float | None:
    if end is not None:
        return end.t_ms - record.t_ms

    exit_ms = process_exit_ms(ctx, connection, ctx.transcripts[connection].records)
    return None if exit_ms is None else exit_ms - record.t_ms


def _output(outcome: RunOutcome) -> str:
    return f"{outcome.stdout}\n{outcome.notes}"


def _squeezed(text: str) -> str:
    return " ".join(text.split())


@check(severity=Severity.FAILED, applies_to=Scope.RUN, default=False)
def deduplicates_events(ctx: CheckContext, transcript: Transcript) -> Iterator[Violation]:
    """A server event repeated with the same event_id is applied once (no doubled text)."""
    assert ctx.outcome is not None  # Scope.RUN guarantees it
    output = _output(ctx.outcome)
    squeezed = _squeezed(output)
    for connection, each in ctx.connections():
        for record, doubled, clean in _doubled_texts(ctx, connection, each):
            if doubled in output or (_squeezed(doubled) and _squeezed(doubled) in squeezed):
                yield ctx.violation(
                    title="repeated event applied twice",
                    expected=f"the reply {short(clean)} once (the repeated delta "
                    f"{record.event.get('event_id') if record.event else None!s} skipped)",
                    received=f"the output holds {short(doubled)}",
                    record=record,
                    connection=connection,
                    hint="remember the event_id of every server event (a bounded set) and "
                    "skip one already seen: transports may deliver an event twice",
                )


def _doubled_texts(
    ctx: CheckContext, connection: int, transcript: Transcript
) -> Iterator[tuple[Record, str, str]]:
    """`(repeated delta, text with it applied twice, text applied once)` per text part."""
    seen: set[object] = set()
    parts: dict[tuple[object, ...], list[tuple[str, bool]]] = {}
    repeats: dict[tuple[object, ...], Record] = {}
    for record in transcript.server_events():
        event, kind = record.event, record.event_type
        if event is None or kind not in _TEXT_DELTAS:
            continue
        delta = event.get("delta")
        if not isinstance(delta, str):
            continue
        key: tuple[object, ...] = (
            kind,
            event.get("response_id"),
            event.get("item_id"),
            event.get("content_index"),
        )
        event_id = event.get("event_id")
        repeat = event_id is not None and event_id in seen
        seen.add(event_id)
        parts.setdefault(key, []).append((delta, repeat))
        if repeat and answerable(ctx, connection, record):
            repeats.setdefault(key, record)
    for part, first in repeats.items():
        doubled = "".join(delta for delta, _ in parts[part])
        clean = "".join(delta for delta, repeat in parts[part] if not repeat)
        if doubled != clean:
            yield first, doubled, clean


@check(severity=Severity.FAILED, applies_to=Scope.CASE, default=False)
def orders_by_ids_not_arrival(ctx: CheckContext, transcript: Transcript) -> Iterator[Violation]:
    """Events that arrive out of order (a response before its user item) are placed by id."""
    for connection, each in ctx.connections():
        early = _response_before_item(each)
        if early is None:
            continue
        response, item, text = early
        end = client_end(each)
        waiting = None if end is None else open_requests(each.records, end.index)
        if end is not None and waiting is not None and server_end(each) is None:
            yield ctx.violation(
                title="turn abandoned after events arrived out of order",
                expected="the reply completes: response.created may come before the user "
                "item's conversation.item.done; the ids say where each belongs",
                received=f"the client {_ended_by(end)} the connection at frame #{end.index} "
                f"with {waiting}",
                record=response,
                connection=connection,
                hint="place items by item_id / previous_item_id and responses by "
                "response_id, never by arrival order; do not assert an order the server "
                "does not promise",
            )
            continue
        if ctx.outcome is not None and text:
            yield from _shown_in_order(ctx, connection, each, item, text)


def _response_before_item(transcript: Transcript) -> tuple[Record, Record, str] | None:
    """`(response.created, the user item's conversation.item.done, its text)` when the
    response arrived first, else None."""
    created: Record | None = None
    for record in transcript.server_events():
        event, kind = record.event, record.event_type
        if kind == "response.created" and created is None:
            created = record
        elif kind == "conversation.item.done" and created is not None and event is not None:
            item = event.get("item")
            if isinstance(item, dict) and item.get("role") == "user":
                return created, record, _item_text(item)
    return None


def _item_text(item: dict[str, Any]) -> str:
    content = item.get("content")
    texts = [
        str(part.get("text"))
        for part in (content if isinstance(content, list) else [])
        if isinstance(part, dict) and part.get("type") == "input_text" and part.get("text")
    ]
    return " ".join(texts)


def _shown_in_order(
    ctx: CheckContext, connection: int, transcript: Transcript, item: Record, user_text: str
) -> Iterator[Violation]:
    assert ctx.outcome is not None
    output = _squeezed(_output(ctx.outcome))
    replies = [_squeezed(reply) for _, reply in reply_texts(transcript)]
    masked = output
    for reply in replies:  # a reply may quote the user's message: look outside replies
        masked = masked.replace(reply, "\0" * len(reply)) if reply else masked
    user_at = masked.find(_squeezed(user_text))
    if user_at < 0:
        return  # the client does not show the user's message: nothing to order
    for reply in replies:
        reply_at = output.find(reply) if reply else -1
        if 0 <= reply_at < user_at:
            yield ctx.violation(
                title="reply shown before the user's message",
                expected=f"the user's message {short(user_text, 40)} before the reply",
                received=f"the reply {short(reply, 40)} first, in arrival order",
                record=item,
                connection=connection,
                hint="order the conversation by item ids (previous_item_id), not by the "
                "order events arrive in",
            )
            return
