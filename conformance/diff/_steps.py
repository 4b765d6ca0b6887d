"""A transcript as `diff` aligns it: steps, each a client frame and the server's answer.

A step starts at a client frame and holds the server frames that came after it, up to
the next client frame (step 0 holds what the server sent before the client's first
frame: `session.created`). Streams collapse to one entry with a count, so a different
number of frames is not a difference: consecutive client frames of a streaming type
(`input_audio_buffer.append`) are one step; the deltas of one server stream (same type,
response, item, output and content index, until its `.done` or `response.done`) are one
entry, at the place of the first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from conformance.diff._shape import Shape, shape_of
from conformance.transcript import Record, Transcript

CLIENT_STREAMS: Final = frozenset(
    {"input_audio_buffer.append", "session.input_audio_buffer.append"}
)
"""Client event types whose consecutive frames form one step."""

CONNECT: Final = "(connect)"
"""The client key of step 0: what the server sent before the client's first frame."""

_STREAM_IDS: Final = ("response_id", "item_id", "output_index", "content_index")


@dataclass(slots=True)
class Entry:
    """One server event (or a stream of them), one client step, or the end of the link.

    `key` is the event type; `close(client)`, `close(server)`, `drop(client)`,
    `drop(server)` for the end of the connection; `<binary>`, `<text>` for frames that
    are not JSON events. `index` is the first record's index, `count` the frames in it,
    `code` a close code, `shape` the merged shape of its events (None: not an event).
    """

    key: str
    index: int
    count: int = 1
    code: int | None = None
    shape: Shape | None = None


@dataclass(slots=True)
class Step:
    """A client frame (`client`; None for step 0) and the server entries after it."""

    number: int
    client: Entry | None
    server: list[Entry] = field(default_factory=list)

    @property
    def client_key(self) -> str:
        """The client entry's key, or `(connect)` for step 0."""
        return CONNECT if self.client is None else self.client.key


@dataclass(slots=True)
class Steps:
    """A transcript cut into steps; `rejected` is the HTTP status of a refused upgrade."""

    steps: list[Step]
    rejected: int | None = None
    rejected_index: int | None = None


def _key_and_event(record: Record) -> tuple[str, dict[str, Any] | None]:
    if record.kind == "binary":
        return "<binary>", None
    if record.kind == "elided":
        return record.elided_type or "<elided>", None
    if record.kind in ("close", "drop"):
        return f"{record.kind}({record.direction})", None
    event = record.event
    kind = event.get("type") if event is not None else None
    if isinstance(kind, str):
        return kind, event
    return ("<event>" if event is not None else "<text>"), event


def _stream_key(kind: str, event: dict[str, Any]) -> tuple[Any, ...]:
    return (kind, *(_hashable(event.get(name)) for name in _STREAM_IDS))


def _hashable(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | None) else repr(value)


def steps_of(transcript: Transcript) -> Steps:
    """Cut `transcript` into steps (see the module)."""
    steps = [Step(0, None)]
    rejected: int | None = None
    rejected_index: int | None = None
    streams: dict[tuple[Any, ...], Entry] = {}
    for record in transcript.records:
        if record.kind == "rejected":
            rejected, rejected_index = record.code, record.index
            continue
        key, event = _key_and_event(record)
        frames = record.frames if record.kind == "elided" else 1
        shape = shape_of(event) if event is not None else None
        if record.direction == "client":
            current = steps[-1].client
            if current is not None and key in CLIENT_STREAMS and current.key == key:
                current.count += frames
                _merge(current, shape)
                continue
            entry = Entry(key, record.index, frames, record.code, shape)
            steps.append(Step(len(steps), entry))
            continue
        if event is not None and key.endswith(".delta"):
            stream = _stream_key(key, event)
            open_entry = streams.get(stream)
            if open_entry is not None:
                open_entry.count += 1
                _merge(open_entry, shape)
                continue
            entry = Entry(key, record.index, 1, None, shape)
            streams[stream] = entry
            steps[-1].server.append(entry)
            continue
        if key == "response.done":
            streams.clear()
        elif key.endswith(".done"):
            ended = key[: -len("done")] + "delta"
            for stream in [s for s in streams if s[0] == ended]:
                del streams[stream]
        steps[-1].server.append(Entry(key, record.index, frames, record.code, shape))
    return Steps(steps, rejected, rejected_index)


def _merge(entry: Entry, shape: Shape | None) -> None:
    if shape is None:
        return
    if entry.shape is None:
        entry.shape = shape
    else:
        entry.shape.merge(shape)
