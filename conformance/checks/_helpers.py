"""Small readers over transcripts, shared by the checks (and by custom checks)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Final

from conformance.transcript import Record, Transcript

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
