"""Hypothesis strategies for OpenAI Realtime (GA) events, streams and faults.

Use them in your own property tests (needs `hypothesis`; guide: docs/strategies.md)::

    from hypothesis import given
    from conformance import strategies as rs

    @given(rs.server_streams())
    def test_my_client_reassembles_every_reply(stream):
        client = MyClient()
        for event in stream.events:
            client.handle(event)                  # must never raise, even on unknown events
        assert client.replies == dict(stream.texts)

What they draw:

* `client_events()`: schema-valid GA client events of each type (from the bundle in
  `fixtures/schemas/`); `server_events()` the same for server events.
* `invalid_client_events()`: near misses (an unknown key, a wrong type, an out-of-range
  value, a missing required field, a bad enum value, a beta-era field or shape), each an
  `InvalidEvent` with the `code` and `param` of the one `error` the live server answers.
* `server_streams()`: what a correct server could send on one connection:
  `session.created` first, responses in live order with their text deltas split at
  arbitrary points (multibyte characters included), `rate_limits.updated` interleaved,
  unknown future event types and fields a client must ignore.
* `fault_schedules()`: `error` events, closes with any code, stalls and drops at arbitrary
  points; `timeline()` puts them into a stream.
* `fuzz_cases()`: a stream cut into the segments a mock scenario plays, with faults
  (what `realtime-conformance fuzz` generates); `translation_fuzz_cases()` the same for a
  translation session (what `fuzz --translation` generates).

Sizes are small by default so that hundreds of examples take seconds. Every strategy
shrinks toward fewer events, shorter texts and no faults.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st

from conformance.fuzzing._cases import (
    FuzzCase,
    build_fuzz_cases,
    close_codes,
    fault_schedules,
    faults,
)
from conformance.fuzzing._invalid import (
    INVALID_KINDS,
    InvalidEvent,
    InvalidKind,
    beta_edits,
    site_edits,
)
from conformance.fuzzing._schema import events_of
from conformance.fuzzing._streams import (
    FAULT_KINDS,
    Fault,
    FaultKind,
    ServerStream,
    StreamOptions,
    delta_splits,
    segments,
    stream_of,
    texts,
    timeline,
    unknown_event_types,
    unknown_events,
)
from conformance.fuzzing._translation import translation_fuzz_cases
from conformance.protocol.errors import UsageError
from conformance.schemas import CLIENT_EVENT_TYPES, LIVE_CLIENT_TYPES, SERVER_EVENT_TYPES
from conformance.schemas._bundle import event_types

__all__ = [
    "FAULT_KINDS",
    "INVALID_KINDS",
    "Fault",
    "FaultKind",
    "FuzzCase",
    "InvalidEvent",
    "InvalidKind",
    "ServerStream",
    "client_events",
    "close_codes",
    "delta_splits",
    "fault_schedules",
    "faults",
    "fuzz_cases",
    "invalid_client_events",
    "server_events",
    "server_streams",
    "texts",
    "timeline",
    "translation_client_events",
    "translation_fuzz_cases",
    "translation_server_events",
    "unknown_event_types",
    "unknown_events",
]


def _client_types(types: Sequence[str], websocket: bool) -> list[str]:
    if types:
        return list(types)
    return [t for t in CLIENT_EVENT_TYPES if not websocket or t in LIVE_CLIENT_TYPES]


def client_events(*types: str, websocket: bool = True) -> st.SearchStrategy[dict[str, Any]]:
    """Schema-valid GA client events of `types` (default: every type).

    Args:
        *types: client event types, e.g. `"session.update"`; none for all of them.
        websocket: leave out `output_audio_buffer.clear`, which only WebRTC and SIP
            connections accept.

    Raises:
        UsageError: an unknown event type (with a did-you-mean).
    """
    chosen = _client_types(types, websocket)
    return st.one_of([events_of("client", t) for t in chosen])


def server_events(*types: str) -> st.SearchStrategy[dict[str, Any]]:
    """Schema-valid GA server events of `types` (default: every type), one at a time.

    For whole connections in a legal order use `server_streams()`.
    """
    return st.one_of([events_of("server", t) for t in (types or SERVER_EVENT_TYPES)])


def translation_client_events(*types: str) -> st.SearchStrategy[dict[str, Any]]:
    """Schema-valid client events of a translation session (`/v1/realtime/translations`).

    Raises:
        UsageError: a type that is not one of the 3 translation client types.
    """
    chosen = types or event_types("translation_client")
    return st.one_of([events_of("translation_client", t) for t in chosen])


def translation_server_events(*types: str) -> st.SearchStrategy[dict[str, Any]]:
    """Schema-valid server events of a translation session, one at a time (7 types)."""
    chosen = types or event_types("translation_server")
    return st.one_of([events_of("translation_server", t) for t in chosen])


def invalid_client_events(
    *types: str, kinds: Sequence[InvalidKind] = INVALID_KINDS
) -> st.SearchStrategy[InvalidEvent]:
    """Client events one edit away from valid, with the `code` and `param` of the error.

    Args:
        *types: client event types to start from (default: every WebSocket type).
        kinds: which edits to make; a subset of `INVALID_KINDS`.

    Raises:
        UsageError: an unknown kind or event type.
    """
    unknown = sorted(set(kinds) - set(INVALID_KINDS))
    if unknown or not kinds:
        raise UsageError(f"kinds {unknown or list(kinds)!r} must be among {INVALID_KINDS!r}")
    chosen = _client_types(types, websocket=True)
    for event_type in chosen:
        events_of("client", event_type)  # UsageError now, not while drawing
    edits = [k for k in kinds if k != "beta_shape"]
    options: list[st.SearchStrategy[InvalidEvent | None]] = []
    if edits:
        options.append(st.sampled_from(chosen).flatmap(lambda t: site_edits(t, edits)))
    if "beta_shape" in kinds:
        options.append(beta_edits(chosen))
    return st.one_of(options).filter(lambda found: found is not None).map(_present)


def _present(found: InvalidEvent | None) -> InvalidEvent:
    assert found is not None  # filtered out just before
    return found


def server_streams(
    *,
    max_responses: int = 2,
    modalities: Sequence[str] = ("text", "audio"),
    unknown_events: bool = True,
    unknown_fields: bool = True,
    rate_limits: bool = True,
    max_text: int = 24,
    max_deltas: int = 8,
) -> st.SearchStrategy[ServerStream]:
    """Streams a correct GA server could send on one connection (see `ServerStream`).

    Args:
        max_responses: responses per stream (0 to this many).
        modalities: `"text"` and/or `"audio"` (an audio response streams its transcript).
        unknown_events: interleave events of unknown types (`ServerStream.unknown_types`).
        unknown_fields: add unknown fields to some events (`ServerStream.unknown_fields`).
        rate_limits: interleave `rate_limits.updated`.
        max_text: longest reply text, in characters.
        max_deltas: most deltas one reply is split into.
    """
    options = _options(
        max_responses=max_responses, modalities=modalities, unknown_events=unknown_events,
        unknown_fields=unknown_fields, rate_limits=rate_limits, max_text=max_text,
        max_deltas=max_deltas,
    )  # fmt: skip
    return segments(options).map(stream_of)


def _options(*, modalities: Sequence[str], **given: Any) -> StreamOptions:
    chosen = tuple(modalities)
    if not chosen or set(chosen) - {"text", "audio"}:
        raise UsageError(f"modalities={chosen!r} must name 'text' and/or 'audio'")
    if given["max_responses"] < 0 or given["max_deltas"] < 1 or given["max_text"] < 0:
        raise UsageError("max_responses and max_text must be >= 0 and max_deltas >= 1")
    return StreamOptions(modalities=chosen, **given)


def fuzz_cases(
    *,
    max_responses: int = 1,
    fault_kinds: Sequence[FaultKind] = FAULT_KINDS,
    max_faults: int = 1,
    min_faults: int = 0,
    modalities: Sequence[str] = ("text",),
    max_text: int = 24,
    max_deltas: int = 8,
) -> st.SearchStrategy[FuzzCase]:
    """What `realtime-conformance fuzz` plays: a stream cut into segments, with faults.

    `FuzzCase.segments[0]` follows session.created; `segments[k]` answers the client's
    k-th `response.create`. Unknown events and fields and `rate_limits.updated` are
    always in the mix; `fault_kinds` picks the faults (none: `()`), `min_faults` and
    `max_faults` how many (only the first close, drop or stall happens: nothing follows).

    Raises:
        UsageError: an unknown fault kind or modality, or a negative size.
    """
    unknown = sorted(set(fault_kinds) - set(FAULT_KINDS))
    if unknown:
        raise UsageError(f"unknown fault kinds {unknown!r}; expected some of {FAULT_KINDS!r}")
    if not 0 <= min_faults <= max_faults:
        raise UsageError(f"need 0 <= min_faults <= max_faults, got {min_faults}, {max_faults}")
    options = _options(
        max_responses=max_responses, modalities=modalities, unknown_events=True,
        unknown_fields=True, rate_limits=True, max_text=max_text, max_deltas=max_deltas,
    )  # fmt: skip
    return build_fuzz_cases(
        options=options, kinds=tuple(fault_kinds), max_faults=max_faults, min_faults=min_faults
    )
