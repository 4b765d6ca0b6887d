"""Fuzz cases for translation clients (`realtime-conformance fuzz --translation`).

A translation session has no responses: the server answers audio. So a translation
`FuzzCase` has two segments: `segments[0]` follows `session.created`, `segments[1]`
answers the client's first `session.input_audio_buffer.append` in place of the mock's own
translation (every append is consumed: the generated stream is the whole translation).
Segment 1 holds what a translation server sends per 200 ms frame (protocol notes §2.3): an
optional `session.input_transcript.delta`, one or more `session.output_transcript.delta`
(the translated text cut anywhere, multibyte characters included) and a
`session.output_audio.delta`, all with the frame's `elapsed_ms`; unknown events and fields
interleaved; faults (`error`, `close`, `drop`, `stall`) anywhere in either segment. The
client's `session.close` then gets the mock's own `session.closed` and close 1000.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from types import MappingProxyType
from typing import Final

from hypothesis import strategies as st

from ._cases import FuzzCase, faults
from ._streams import (
    FAULT_KINDS,
    KNOWN_TYPES,
    Event,
    Fault,
    FaultKind,
    delta_splits,
    texts,
    unknown_events,
    unknown_field_names,
)

FRAME_MS: Final = 200
APPEND: Final = "session.input_audio_buffer.append"
TRANSLATION_KEY: Final = "translation"  # `FuzzCase.texts` key of the translated text
# 10 ms of silence: the audio deltas' content does not matter to the client's logic.
_AUDIO: Final = base64.b64encode(bytes(480)).decode("ascii")


def output_delta(delta: str, elapsed_ms: int) -> Event:
    """`session.output_transcript.delta`: a piece of the translated text."""
    return {"type": "session.output_transcript.delta", "delta": delta, "elapsed_ms": elapsed_ms}


def input_delta(delta: str, elapsed_ms: int) -> Event:
    """`session.input_transcript.delta`: a piece of the source transcript."""
    return {"type": "session.input_transcript.delta", "delta": delta, "elapsed_ms": elapsed_ms}


def audio_delta(elapsed_ms: int) -> Event:
    """`session.output_audio.delta` of 24 kHz PCM16 mono."""
    return {
        "type": "session.output_audio.delta",
        "delta": _AUDIO,
        "sample_rate": 24000,
        "channels": 1,
        "format": "pcm16",
        "elapsed_ms": elapsed_ms,
    }


@st.composite
def translation_segment(draw: st.DrawFn, *, max_text: int = 24, max_deltas: int = 8) -> tuple[
    list[Event], str
]:  # fmt: skip
    """The events answering the first append, and the translated text they carry."""
    text = draw(texts(max_size=max_text))
    deltas = draw(delta_splits(text, max_deltas=max_deltas))
    frames = draw(st.integers(1, max(1, len(deltas))))
    events: list[Event] = []
    for frame in range(frames):
        elapsed = FRAME_MS * (frame + 1)
        if draw(st.booleans()):
            events.append(input_delta("word" if frame == 0 else " word", elapsed))
        # Frame k takes the k-th run of consecutive deltas (in order; maybe none).
        mine = deltas[len(deltas) * frame // frames : len(deltas) * (frame + 1) // frames]
        events += [output_delta(piece, elapsed) for piece in mine]
        if draw(st.booleans()):
            events.append(audio_delta(elapsed))
    return events, text


def _extras(draw: st.DrawFn) -> list[Event]:
    return draw(st.lists(unknown_events(), max_size=2))


def _interleave(draw: st.DrawFn, events: list[Event], extras: list[Event]) -> list[Event]:
    out = list(events)
    for extra in extras:
        out.insert(draw(st.integers(0, len(out))), extra)
    return out


def _add_field(draw: st.DrawFn, segment: list[Event]) -> None:
    known = [i for i, e in enumerate(segment) if e["type"] in KNOWN_TYPES]
    if not known or not draw(st.booleans()):
        return
    index = draw(st.sampled_from(known))
    segment[index] = {**segment[index], draw(unknown_field_names()): draw(st.integers(-9, 9))}


@st.composite
def translation_fuzz_cases(
    draw: st.DrawFn,
    *,
    kinds: Sequence[FaultKind] = FAULT_KINDS,
    max_faults: int = 1,
    min_faults: int = 0,
    max_text: int = 24,
    max_deltas: int = 8,
) -> FuzzCase:
    """A translation `FuzzCase` (`FuzzCase.translation`): the prelude, the translation of
    the first append, faults at arbitrary points of either."""
    events, text = draw(translation_segment(max_text=max_text, max_deltas=max_deltas))
    segments = [_interleave(draw, [], _extras(draw)), _interleave(draw, events, _extras(draw))]
    for segment in segments:
        _add_field(draw, segment)
    unknown = tuple(e["type"] for s in segments for e in s if e["type"] not in KNOWN_TYPES)
    per_segment: list[list[Fault]] = [[], []]
    wanted = draw(st.integers(min_faults, max_faults)) if kinds else 0
    for _ in range(wanted):
        number = draw(st.integers(0, 1))
        at = draw(st.integers(0, len(segments[number])))
        per_segment[number].append(draw(faults(at, kinds)))
    return FuzzCase(
        segments=tuple(tuple(s) for s in segments),
        faults=tuple(tuple(sorted(found, key=lambda f: f.at)) for found in per_segment),
        texts=MappingProxyType({TRANSLATION_KEY: text}),
        unknown_types=unknown,
        translation=True,
    )
