"""Fault schedules and fuzz cases: a stream cut into segments, with faults in them."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from hypothesis import strategies as st

from ._streams import (
    CLOSE_CODES,
    ERROR_CODES,
    FAULT_KINDS,
    TERMINAL,
    Event,
    Fault,
    FaultKind,
    Segments,
    ServerStream,
    StreamOptions,
    segments,
    stream_of,
)

_REASON = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters="{}"),
                  max_size=24)  # fmt: skip


def close_codes() -> st.SearchStrategy[int]:
    """Any close code a server may send: 1000-1003, 1007-1014 and 3000-4999."""
    return st.sampled_from(CLOSE_CODES) | st.integers(3000, 4999)


@st.composite
def faults(draw: st.DrawFn, at: int, kinds: Sequence[FaultKind] = FAULT_KINDS) -> Fault:
    """One fault of one of `kinds`, at position `at`."""
    kind = draw(st.sampled_from(list(kinds)))
    if kind == "error":
        error_type, code, message = draw(st.sampled_from(ERROR_CODES))
        return Fault("error", at, code, message, error_type, tied=draw(st.booleans()))
    if kind == "close":
        return Fault("close", at, draw(close_codes()), draw(_REASON))
    return Fault(kind, at)


@st.composite
def fault_schedules(
    draw: st.DrawFn,
    length: int,
    *,
    kinds: Sequence[FaultKind] = FAULT_KINDS,
    max_faults: int = 2,
) -> tuple[Fault, ...]:
    """Faults at arbitrary points `0..length` of a stream of `length` events, sorted.

    Only the first terminal fault (close, drop, stall) matters: nothing follows it.
    """
    if not kinds or max_faults < 1:
        return ()
    places = draw(st.lists(st.integers(0, length), max_size=max_faults))
    found = [draw(faults(at, kinds)) for at in sorted(places)]
    return tuple(found)


@dataclass(frozen=True, slots=True)
class FuzzCase:
    """What a fuzzed server does on one connection, after its `session.created`.

    Attributes:
        segments: `segments[0]` is sent right after session.created; `segments[k]`
            answers the client's k-th `response.create` (k >= 1). Events carry no
            `event_id`: the server assigns them.
        faults: per segment, the faults in it (`Fault.at` counts that segment's events;
            in a response, a fault comes before its `response.done`).
        texts: the full text of each response, by response id.
        unknown_types: event types in the segments that no GA client knows.
        pauses: per segment, `(at, ms)`: the server pauses `ms` before event `at` of a
            response (timing only: a flat stream ignores it).
        paced: the mock streams its own responses slowly (first delta after 50 ms), so
            client events can land while one of them is in progress.
        translation: a case for a translation client (`conformance.fuzzing._translation`):
            `segments[1]` answers its first `session.input_audio_buffer.append`.
    """

    segments: tuple[tuple[Event, ...], ...]
    faults: tuple[tuple[Fault, ...], ...]
    texts: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    unknown_types: tuple[str, ...] = ()
    pauses: tuple[tuple[tuple[int, float], ...], ...] = ()
    paced: bool = False
    # Not in the repr (the scenario id hashes it): realtime ids stay as they were, and a
    # translation case's events differ anyway.
    translation: bool = field(default=False, repr=False)

    @property
    def event_count(self) -> int:
        """How many events the segments hold (faults not counted)."""
        return sum(len(s) for s in self.segments)

    def fault_kinds(self) -> list[FaultKind]:
        """The kinds of every fault that can happen, in order (nothing after a terminal)."""
        found: list[FaultKind] = []
        for fault in itertools.chain.from_iterable(self.faults):
            found.append(fault.kind)
            if fault.kind in TERMINAL:
                break
        return found

    def stream(self, session_id: str = "sess_" + "F" * 21) -> tuple[ServerStream, list[Fault]]:
        """The flat stream (session.created first) and the faults at flat positions."""
        built = Segments(segments=[list(s) for s in self.segments], texts=dict(self.texts))
        offsets = itertools.accumulate([0] + [len(s) for s in self.segments])
        flat = [
            Fault(f.kind, offset + f.at, f.code, f.text, f.error_type, f.tied)
            for offset, seg in zip(offsets, self.faults, strict=False)
            for f in seg
        ]
        return stream_of(built, session_id), flat


@st.composite
def build_fuzz_cases(
    draw: st.DrawFn,
    *,
    options: StreamOptions | None = None,
    kinds: Sequence[FaultKind] = FAULT_KINDS,
    max_faults: int = 1,
    min_faults: int = 0,
) -> FuzzCase:
    """A `FuzzCase`: segments from `segments(options)`, faults at arbitrary points."""
    built = draw(segments(options or StreamOptions(max_responses=1)))
    ends = [_last_place(number, segment) for number, segment in enumerate(built.segments)]
    per_segment: list[list[Fault]] = [[] for _ in built.segments]
    wanted = draw(st.integers(min_faults, max_faults)) if kinds else 0
    for _ in range(wanted):
        number = draw(st.integers(0, len(built.segments) - 1))
        per_segment[number].append(draw(faults(draw(st.integers(0, ends[number])), kinds)))
    pause = st.tuples(st.integers(0, 99), st.sampled_from([20.0, 150.0]))
    pauses = [
        tuple((min(at, ends[number]), ms) for at, ms in draw(st.lists(pause, max_size=1)))
        if number
        else ()
        for number in range(len(built.segments))
    ]
    return FuzzCase(
        segments=tuple(tuple(s) for s in built.segments),
        faults=tuple(tuple(sorted(found, key=lambda f: f.at)) for found in per_segment),
        texts=MappingProxyType(dict(built.texts)),
        unknown_types=tuple(built.unknown_types),
        pauses=tuple(pauses),
        paced=draw(st.booleans()),
    )


def _last_place(number: int, segment: Sequence[Event]) -> int:
    """Where a fault may go at the latest: anywhere in the prelude; before response.done in
    a response, since a client may close as soon as it has its reply (a fault after it
    would race the client's close, and so would its verdict)."""
    if number == 0:
        return len(segment)
    return next(i for i, e in enumerate(segment) if e["type"] == "response.done")


def strip_ids(event: Mapping[str, Any]) -> dict[str, Any]:
    """The event without its `event_id` (a scenario's sends get fresh ones)."""
    return {k: v for k, v in event.items() if k != "event_id"}
