"""Server streams: responses in live order, split deltas, interleaved extras, faults.

A `ServerStream` is what a correct GA server could send on one connection, starting with
`session.created`; `Fault`s say where it breaks (an `error` event, a close, a drop, a
stall). `FuzzCase` cuts a stream into the segments a scenario can play: the prelude sent
right after `session.created`, then one segment per `response.create` of the client.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Literal

from hypothesis import strategies as st

from conformance import _json
from conformance.protocol import IdFactory
from conformance.schemas import SERVER_EVENT_TYPES, TRANSLATION_SERVER_EVENT_TYPES

from . import _events as ev

Event = dict[str, Any]
FaultKind = Literal["error", "close", "drop", "stall"]
FAULT_KINDS: Final[tuple[FaultKind, ...]] = ("error", "close", "drop", "stall")
TERMINAL: Final = frozenset({"close", "drop", "stall"})
# Close codes a server can put in a close frame (RFC 6455 §7.4; 1004-1006 and 1015 cannot).
CLOSE_CODES: Final = (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014)
ERROR_CODES: Final = (
    ("server_error", "server_error", "The server had an error while processing your request."),
    ("invalid_request_error", "invalid_value", "Invalid value: 'x'."),
    ("invalid_request_error", "session_expired", "Your session hit the maximum duration."),
    ("invalid_request_error", "rate_limit_exceeded", "Rate limit reached for requests."),
    ("invalid_request_error", None, "Something went wrong."),
)
# Text the mock can replay verbatim: no `{`/`}` (scenario placeholders), no surrogates.
TEXT_CHARACTERS: Final = st.characters(
    exclude_categories=["Cs"], exclude_characters="{}", codec="utf-8"
)
_NAMESPACES: Final = ("response", "conversation", "session", "input_audio_buffer", "x_future")
KNOWN_TYPES: Final = frozenset((*SERVER_EVENT_TYPES, *TRANSLATION_SERVER_EVENT_TYPES)) | {
    "response.audio.delta", "response.audio.done", "response.audio_transcript.delta",
    "response.audio_transcript.done", "response.text.delta", "response.text.done",
    "transcription_session.created", "transcription_session.updated",
}  # fmt: skip  # beta names too: a scenario must `send` those, not inject them


@dataclass(frozen=True, slots=True)
class ServerStream:
    """Server events of one connection in an order the live server could send them.

    Attributes:
        events: the events, `session.created` first, each with an `event_id`.
        texts: the full text (or audio transcript) of each response, by response id.
        unknown_types: the event types in `events` that no GA client knows.
        unknown_fields: `(index, field)` for each unknown field added to a known event.
    """

    events: tuple[Event, ...]
    texts: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    unknown_types: tuple[str, ...] = ()
    unknown_fields: tuple[tuple[int, str], ...] = ()

    def frames(self) -> list[tuple[Literal["server"], str]]:
        """The events as server frames, e.g. for `conformance.protocol.replay`."""
        return [("server", _json.dumps(event)) for event in self.events]


@dataclass(frozen=True, slots=True)
class Fault:
    """One thing that goes wrong at a point of a stream.

    `at` counts events after `session.created`: the fault happens before event `at + 1`
    of the stream (`at == 0`: right after `session.created`). An `error` fault sends a
    live-shaped `error` event and the stream goes on; `close`, `drop` and `stall` end it.
    `code` is the close code or the error code; `text` the close reason or error message;
    `tied` makes the error answer the client event that triggered its segment.
    """

    kind: FaultKind
    at: int
    code: int | str | None = None
    text: str = ""
    error_type: str = "server_error"
    tied: bool = False

    def error_event(self) -> Event:
        """The `error` event of an `error` fault (no `event_id`: the sender assigns it)."""
        body = {
            "type": self.error_type,
            "code": self.code,
            "message": self.text,
            "param": None,
            "event_id": None,
        }
        return {"type": "error", "error": body}


def timeline(events: Sequence[Event], faults: Sequence[Fault]) -> list[Event | Fault]:
    """`events` (without session.created) with the faults put in place; ends at a terminal."""
    ordered = sorted(faults, key=lambda f: f.at)
    out: list[Event | Fault] = []
    for index in range(len(events) + 1):
        for fault in (f for f in ordered if f.at == index):
            out.append(fault)
            if fault.kind in TERMINAL:
                return out
        if index < len(events):
            out.append(events[index])
    return out


# --------------------------------------------------------------------------- text
def texts(*, max_size: int = 24) -> st.SearchStrategy[str]:
    """Reply texts: any characters (multibyte, combining, emoji) but `{`, `}`, surrogates."""
    return st.text(TEXT_CHARACTERS, max_size=max_size)


@st.composite
def delta_splits(draw: st.DrawFn, text: str, *, max_deltas: int = 8) -> list[str]:
    """`text` cut at arbitrary code-point positions into 1..max_deltas non-empty deltas."""
    if len(text) <= 1:
        return [text] if text else []
    cuts = draw(st.sets(st.integers(1, len(text) - 1), max_size=max_deltas - 1))
    bounds = [0, *sorted(cuts), len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


# ------------------------------------------------------------------ unknown things
@st.composite
def unknown_event_types(draw: st.DrawFn) -> str:
    """Event types from a future server release (`response.future_thing.delta`)."""
    word = draw(st.from_regex(r"[a-z][a-z_]{0,7}", fullmatch=True))
    kind = f"{draw(st.sampled_from(_NAMESPACES))}.{word}{draw(st.sampled_from(['', '.delta']))}"
    return kind if kind not in KNOWN_TYPES else f"x_future.{word}"


def _json_values() -> st.SearchStrategy[Any]:
    scalars = st.none() | st.booleans() | st.integers(-9, 9) | st.text(TEXT_CHARACTERS, max_size=6)
    return scalars | st.dictionaries(
        st.from_regex(r"[a-z]{1,5}", fullmatch=True), scalars, max_size=2
    )


@st.composite
def unknown_events(draw: st.DrawFn) -> Event:
    """An event of an unknown type, with a few fields of its own."""
    fields = draw(
        st.dictionaries(st.from_regex(r"[a-z]{1,6}", fullmatch=True), _json_values(), max_size=2)
    )
    fields.pop("type", None)
    fields.pop("event_id", None)
    return {"type": draw(unknown_event_types()), **fields}


def unknown_field_names() -> st.SearchStrategy[str]:
    """Field names a future server release may add (`x_` prefix: never a GA field)."""
    return st.from_regex(r"x_[a-z]{1,8}", fullmatch=True)


# ----------------------------------------------------------------------- segments
@dataclass(frozen=True, slots=True)
class StreamOptions:
    """What streams may contain (the keyword arguments of `server_streams`)."""

    max_responses: int = 2
    modalities: tuple[str, ...] = ("text",)
    unknown_events: bool = True
    unknown_fields: bool = True
    rate_limits: bool = True
    max_text: int = 24
    max_deltas: int = 8


@dataclass(slots=True)
class Segments:
    """Segments under construction: the prelude, then one per response."""

    segments: list[list[Event]] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)
    unknown_types: list[str] = field(default_factory=list)
    unknown_fields: list[tuple[int, int, str]] = field(default_factory=list)  # seg, index


def _extras(draw: st.DrawFn, options: StreamOptions) -> list[Event]:
    kinds: list[st.SearchStrategy[Event]] = []
    if options.unknown_events:
        kinds.append(unknown_events())
    if options.rate_limits:
        kinds.append(st.integers(0, 40_000).map(ev.rate_limits_updated))
    return draw(st.lists(st.one_of(kinds), max_size=2)) if kinds else []


def _interleave(draw: st.DrawFn, events: list[Event], extras: list[Event]) -> list[Event]:
    out = list(events)
    for extra in extras:
        out.insert(draw(st.integers(0, len(out))), extra)
    return out


def _add_fields(draw: st.DrawFn, built: Segments, options: StreamOptions) -> None:
    segment = built.segments[-1]
    known = [i for i, e in enumerate(segment) if e["type"] not in built.unknown_types]
    if not options.unknown_fields or not known:
        return
    edits = st.tuples(st.sampled_from(known), unknown_field_names(), _json_values())
    for index, name, value in draw(st.lists(edits, max_size=1)):
        segment[index] = {**segment[index], name: value}
        built.unknown_fields.append((len(built.segments) - 1, index, name))


def _response(
    draw: st.DrawFn, ids: IdFactory, options: StreamOptions, previous: str | None, conv: str
) -> tuple[list[Event], str, str, str]:
    response_id, item_id = ids.new("resp"), ids.new("item")
    text = draw(texts(max_size=options.max_text))
    deltas = draw(delta_splits(text, max_deltas=options.max_deltas))
    build = (
        ev.audio_response
        if draw(st.sampled_from(options.modalities)) == "audio"
        else (ev.text_response)
    )
    events = build(response_id, item_id, deltas, conversation_id=conv, previous_item_id=previous)
    if options.rate_limits and draw(st.booleans()):
        events.append(ev.rate_limits_updated())
    return events, response_id, item_id, text


@st.composite
def segments(draw: st.DrawFn, options: StreamOptions) -> Segments:
    """The prelude and 0..max_responses responses, with extras interleaved."""
    ids = IdFactory("realtime-conformance.strategies")
    conversation, previous = ids.new("conv"), None
    built = Segments()
    for number in range(draw(st.integers(0, options.max_responses)) + 1):
        events: list[Event] = []
        if number:
            events, response_id, previous, text = _response(
                draw, ids, options, previous, conversation
            )
            built.texts[response_id] = text
        extras = _extras(draw, options)
        built.unknown_types += [e["type"] for e in extras if e["type"] not in KNOWN_TYPES]
        built.segments.append(_interleave(draw, events, extras))
        _add_fields(draw, built, options)
    return built


def stream_of(built: Segments, session_id: str = "sess_" + "F" * 21) -> ServerStream:
    """The flat `ServerStream` of built segments, with event ids."""
    ids = IdFactory(f"events/{session_id}")
    flat = [ev.session_created(session_id)] + [e for seg in built.segments for e in seg]
    offsets = list(itertools.accumulate([1] + [len(s) for s in built.segments]))
    fields = tuple((offsets[seg] + index, name) for seg, index, name in built.unknown_fields)
    return ServerStream(
        events=tuple({"type": e["type"], "event_id": ids.new("event"), **e} for e in flat),
        texts=MappingProxyType(dict(built.texts)),
        unknown_types=tuple(built.unknown_types),
        unknown_fields=fields,
    )
