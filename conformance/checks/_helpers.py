"""Small readers over transcripts, shared by the checks (and by custom checks)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from conformance.transcript import Record, Transcript

if TYPE_CHECKING:
    from ._model import CheckContext

_SHORT: Final = 80


def short(value: object, limit: int = _SHORT) -> str:
    """`repr(value)`, cut to `limit` characters with an ellipsis."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def server_end(transcript: Transcript) -> Record | None:
    """The server's close, drop or rejected upgrade that ended the connection, or None."""
    for record in reversed(transcript.records):
        if record.kind in ("close", "drop", "rejected"):
            return record if record.direction == "server" else None
    return None


def closed_on_request(transcript: Transcript, end: Record | None = None) -> bool:
    """True when the server's close (`end`, default `server_end`) is the normal end the
    client asked for: close 1000 after `session.closed`, the answer to its `session.close`
    (a translation session). Not a close the client must report."""
    end = server_end(transcript) if end is None else end
    if end is None or end.kind != "close" or end.code != 1000:
        return False
    return any(
        r.event_type == "session.closed" for r in transcript.server_events() if r.index < end.index
    )


def server_events(
    transcript: Transcript, event_type: str
) -> Iterator[tuple[Record, dict[str, Any]]]:
    """`(record, event)` for every server event of `event_type`."""
    for record in transcript.server_events():
        event = record.event
        if event is not None and event.get("type") == event_type:
            yield record, event


def describe_end(record: Record) -> str:
    """`close 4000 'invalid_request_error.x'`, `drop (...)` or `HTTP 403 on the upgrade`."""
    if record.kind == "drop":
        return "drop (no close frame: the client sees 1006)"
    if record.kind == "rejected":
        return f"HTTP {record.code} on the upgrade (no WebSocket)"
    return f"close {record.code} {record.reason or ''!r}"


def mentions(output: str, token: str | int | None) -> bool:
    """True when `token` appears in `output` as a whole word (numbers) or a substring."""
    if token is None or token == "":
        return False
    text = str(token)
    if text.isdigit():
        return re.search(rf"(?<!\d){text}(?!\d)", output) is not None
    return text in output


def started_at_s(transcript: Transcript) -> float | None:
    """The connection's start as a POSIX timestamp, from `meta["started_at"]`."""
    value = transcript.meta.get("started_at")
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def span_s(transcript: Transcript) -> tuple[float, float] | None:
    """`(start, end)` of a connection as POSIX timestamps (end = its last record)."""
    start = started_at_s(transcript)
    if start is None:
        return None
    records = transcript.records
    return start, start + (records[-1].t_ms / 1000 if records else 0.0)


# --- what a client is answerable for ---------------------------------------------------

# Server events that answer a client's own request: the client waits for them.
_ANSWERS: Final = frozenset({"response.done", "session.closed"})


def client_end(transcript: Transcript) -> Record | None:
    """The client's close frame, or the end of a connection the client dropped, or None."""
    for record in transcript.records:
        if record.direction == "client" and record.kind in ("close", "drop"):
            return record
    return None


def client_event_ids(transcript: Transcript) -> set[str]:
    """The `event_id` of every client event of the connection."""
    ids: set[str] = set()
    for record in transcript.client_events():
        event = record.event
        value = event.get("event_id") if event is not None else None
        if isinstance(value, str):
            ids.add(value)
    return ids


def error_event_id(event: dict[str, Any] | None) -> object:
    """`error.event_id` of an `error` event (the client event it answers), or None."""
    error = event.get("error") if event is not None else None
    return error.get("event_id") if isinstance(error, dict) else None


def _answers_request(record: Record, requests: set[str]) -> bool:
    if record.direction != "server" or record.kind != "text":
        return False
    kind = record.event_type
    if kind in _ANSWERS:
        return True
    return kind == "error" and error_event_id(record.event) in requests


def answerable(ctx: CheckContext, connection: int, record: Record) -> bool:
    """True when the client demonstrably had the chance to react to server `record`.

    docs/runner.md, "What a client is answerable for": never when it was sent at or after
    the client's own close frame (or the client's end of the connection); otherwise yes
    when the server ended the connection itself, when `record` is (or is followed, before
    the client's end, by) an answer to the client's own request (a `response.done`, or
    an `error` whose `error.event_id` is one of the client's events: the client waits for
    those, and the stream is ordered), when the client sent another frame after it, or
    when it came at least `ctx.settings.answer_grace_s` before the client's end (its close
    frame, else the end of the connection, else the process exit). With nothing known
    about the end (a transcript without an end judged without a run), it is answerable.
    """
    transcript = ctx.transcripts[connection]
    records = transcript.records
    end = client_end(transcript)
    if end is not None and record.index >= end.index:
        return False
    if end is None and server_end(transcript) is not None:
        return True
    later = records[record.index + 1 : end.index if end is not None else None]
    requests = client_event_ids(transcript)
    if _answers_request(record, requests) or any(_answers_request(r, requests) for r in later):
        return True
    if any(r.direction == "client" and r.kind in ("text", "binary") for r in later):
        return True
    end_ms = end.t_ms if end is not None else process_exit_ms(ctx, connection, records)
    if end_ms is None:
        return True
    return end_ms - record.t_ms >= ctx.settings.answer_grace_s * 1000


def process_exit_ms(ctx: CheckContext, connection: int, records: list[Record]) -> float | None:
    """The process exit in the connection's clock (ms since it opened), or None."""
    outcome = ctx.outcome
    closed_at = None if outcome is None else outcome.closed_at(connection)
    if outcome is None or closed_at is None:
        return records[-1].t_ms if records and records[-1].kind in ("close", "drop") else None
    opened_at = closed_at - (records[-1].t_ms / 1000 if records else 0.0)
    return (outcome.duration_s - opened_at) * 1000


def reply_texts(transcript: Transcript) -> list[tuple[Record, str]]:
    """`(record, text)` of each completed reply part: `response.output_text.done`'s `text`
    and `response.output_audio_transcript.done`'s `transcript`, in order."""
    found: list[tuple[Record, str]] = []
    for record in transcript.server_events():
        event = record.event
        kind = record.event_type
        field = _REPLY_FIELDS.get(kind or "")
        value = event.get(field) if event is not None and field else None
        if isinstance(value, str) and value:
            found.append((record, value))
    return found


_REPLY_FIELDS: Final = {
    "response.output_text.done": "text",
    "response.output_audio_transcript.done": "transcript",
}
