"""What a replay sends and when: the client side of a transcript, as steps (no I/O).

`ReplayPlan.from_transcript` reads a recorded session and keeps what the client did: the
upgrade (path, query, headers, subprotocols; keys masked in the recording are replaced by
the key the replay is given, never sent as the placeholder) and every client frame in
order. Each frame remembers the server event it followed in the recording (its `Anchor`:
the last server event that came after the previous client frame, by type and
occurrence), so a replay can wait for the same event before sending it, against a faster
or a slower server, and the recorded time from that reference (`gap_ms`).
"""

from __future__ import annotations

import base64
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from conformance.protocol.errors import UsageError
from conformance.transcript import REDACTED, Record, Transcript

StepKind = Literal["text", "binary", "close", "drop"]
EndKind = Literal["close", "drop", "rejected", "none"]

TEST_KEY: Final = "sk-replay-test-key-0000"
"""The key a replay sends when it is given none (any `sk-` key opens a mock session)."""

# Upgrade headers the WebSocket client makes itself, or that name the old connection.
_HANDSHAKE_HEADERS: Final = frozenset(
    {
        "host",
        "upgrade",
        "connection",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-extensions",
        "sec-websocket-protocol",
        "sec-websocket-accept",
        "content-length",
        "user-agent",
        "origin",
        "forwarded",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
        "x-real-ip",
    }
)
# Headers whose (masked) value is a key: the replay sends its own key there.
_KEY_HEADERS: Final = frozenset({"api-key", "x-api-key", "ocp-apim-subscription-key"})
_KEY_PARAMS: Final = frozenset({"api-key", "api_key", "apikey", "key"})
_KEY_SUBPROTOCOL: Final = "openai-insecure-api-key."
_LEADING_TYPE: Final = re.compile(r'\s*\{\s*"type"\s*:\s*"([^"\\]{1,100})"')


@dataclass(frozen=True, slots=True)
class Anchor:
    """A server event a client frame followed: the `nth` (1-based) of its `type`."""

    type: str
    nth: int
    t_ms: float

    def __str__(self) -> str:
        return self.type if self.nth == 1 else f"{self.type} (#{self.nth})"


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """One client frame to send (or the client's close, or its drop)."""

    index: int  # the record's index in the source transcript
    kind: StepKind
    t_ms: float
    text: str | None = None
    data: bytes | None = None
    code: int | None = None
    reason: str = ""
    anchor: Anchor | None = None
    gap_ms: float = 0.0  # recorded time from the anchor (else the previous frame) to this one

    @property
    def label(self) -> str:
        """What the frame is, for messages: its event type, `binary frame`, `close 1000`."""
        if self.kind == "text":
            found = _LEADING_TYPE.match(self.text or "")
            return found.group(1) if found else "text frame"
        if self.kind == "binary":
            return f"binary frame ({len(self.data or b'')} bytes)"
        if self.kind == "close":
            return f"close {self.code if self.code is not None else '(no code)'}"
        return "drop (no close frame)"


@dataclass(frozen=True, slots=True, kw_only=True)
class Handshake:
    """The upgrade to reproduce. Holds the replay's key: never write it anywhere."""

    path: str
    query: Mapping[str, str]
    headers: tuple[tuple[str, str], ...]
    subprotocols: tuple[str, ...]
    user_agent: str | None
    origin: str | None
    compression: bool
    left_out: tuple[str, ...] = ()  # masked headers/parameters no key can stand in for

    def url(self, against: str) -> str:
        """The URL to dial: `against`'s scheme and host; its path and query when it has
        them, else the recorded path; the recorded query under `against`'s own."""
        parts = urlsplit(against)
        if parts.scheme not in ("ws", "wss", "http", "https") or not parts.netloc:
            raise UsageError(f"--against {against!r}: expected ws://HOST:PORT[/PATH] or wss://…")
        scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
        path = parts.path if parts.path not in ("", "/") else self.path
        query = {**self.query, **dict(parse_qsl(parts.query, keep_blank_values=True))}
        return urlunsplit((scheme, parts.netloc, path or "/v1/realtime", urlencode(query), ""))


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordedEnd:
    """How the recorded connection ended."""

    kind: EndKind
    direction: str | None = None
    code: int | None = None
    reason: str = ""
    t_ms: float = 0.0

    def __str__(self) -> str:
        if self.kind == "close":
            reason = f" {self.reason!r}" if self.reason else ""
            return f"{self.direction} closed {self.code}{reason}"
        if self.kind == "drop":
            return f"{self.direction} dropped the connection (no close frame)"
        if self.kind == "rejected":
            return f"upgrade refused with HTTP {self.code}"
        return "no end recorded"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplayPlan:
    """The client side of one recorded session, ready to send."""

    handshake: Handshake
    steps: tuple[Step, ...]
    end: RecordedEnd
    last_server: Anchor | None  # the recording's last server event
    server_events: int  # server text frames in the recording
    skipped: tuple[str, ...] = ()  # client frames that cannot be sent (payload not kept)
    meta: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_transcript(cls, transcript: Transcript, *, api_key: str = TEST_KEY) -> ReplayPlan:
        """The plan of `transcript`; `api_key` replaces every masked key of the upgrade."""
        steps: list[Step] = []
        skipped: list[str] = []
        seen: Counter[str] = Counter()
        pending: Anchor | None = None  # the last server event since the previous client frame
        last_server: Anchor | None = None
        last_client_ms = 0.0
        end = RecordedEnd(kind="none")
        server_events = 0
        for record in transcript.records:
            if record.direction == "server":
                anchor = _count_server(record, seen)
                if anchor is not None:
                    pending = last_server = anchor
                    server_events += record.frames if record.kind == "elided" else 1
                elif record.kind in ("close", "drop", "rejected"):
                    end = _end(record)
                continue
            if record.kind in ("close", "drop"):
                end = _end(record)
            if record.kind == "elided":
                skipped.append(
                    f"{record.frames} client frame(s) of {record.elided_type or 'several types'} "
                    f"at record {record.index} (not kept in the recording: over its size limit)"
                )
                continue
            reference = pending.t_ms if pending is not None else last_client_ms
            steps.append(
                Step(
                    index=record.index,
                    kind=record.kind,  # type: ignore[arg-type]  # text/binary/close/drop here
                    t_ms=record.t_ms,
                    text=record.text,
                    data=base64.b64decode(record.data_b64) if record.data_b64 else None,
                    code=record.code,
                    reason=record.reason or "",
                    anchor=pending,
                    gap_ms=max(0.0, record.t_ms - reference),
                )
            )
            pending = None
            last_client_ms = record.t_ms
        return cls(
            handshake=_handshake(transcript.meta, api_key),
            steps=tuple(steps),
            end=end,
            last_server=last_server,
            server_events=server_events,
            skipped=tuple(skipped),
            meta=dict(transcript.meta),
        )


class Arrivals:
    """The server events a replay has received so far, counted by type."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.times: dict[tuple[str, int], float] = {}

    def add(self, event_type: str, t_ms: float) -> None:
        """Count one server event of `event_type` that came at `t_ms`."""
        self.counts[event_type] += 1
        self.times[(event_type, self.counts[event_type])] = t_ms

    def seen(self, anchor: Anchor) -> bool:
        """True once the replay has received the `anchor.nth` event of its type."""
        return self.counts[anchor.type] >= anchor.nth

    def time_of(self, anchor: Anchor) -> float | None:
        """When the replay received it (ms since open), or None."""
        return self.times.get((anchor.type, anchor.nth))


def frame_type(text: str) -> str:
    """The event type of a text frame (`"type"` first, as servers write it; else parsed);
    `"(not JSON)"` / `"(no type)"` when it has none."""
    found = _LEADING_TYPE.match(text)
    if found:
        return found.group(1)
    from conformance import _json

    try:
        value = _json.loads(text)
    except _json.JSONDecodeError:
        return "(not JSON)"
    kind = value.get("type") if isinstance(value, dict) else None
    return kind if isinstance(kind, str) else "(no type)"


def server_event_types(transcript: Transcript) -> list[str]:
    """The server's side as a comparable sequence: each event's type (`error` with its
    type and code), then how the connection ended (`close CODE REASON`, `drop`,
    `rejected STATUS`); ids, timestamps and generated content are left out."""
    sequence: list[str] = []
    for record in transcript.records:
        if record.direction != "server":
            if record.kind in ("close", "drop"):
                sequence.append(f"client {record.kind}")
            continue
        if record.kind == "text":
            event = record.event
            kind = frame_type(record.text or "")
            if kind == "error" and event is not None and isinstance(event.get("error"), dict):
                error = event["error"]
                kind = f"error {error.get('type')}/{error.get('code')}"
            sequence.append(kind)
        elif record.kind == "binary":
            sequence.append("binary")
        elif record.kind == "elided":
            sequence.extend([record.elided_type or "(elided)"] * record.frames)
        elif record.kind == "close":
            sequence.append(f"close {record.code} {record.reason or ''}".rstrip())
        elif record.kind == "drop":
            sequence.append("drop")
        elif record.kind == "rejected":
            sequence.append(f"rejected {record.code}")
    return sequence


def _count_server(record: Record, seen: Counter[str]) -> Anchor | None:
    """Count a server frame; its anchor (None for a close, a drop, a refusal)."""
    if record.kind == "text":
        kind = frame_type(record.text or "")
    elif record.kind == "binary":
        kind = "(binary)"
    elif record.kind == "elided":
        kind = record.elided_type or "(elided)"
        seen[kind] += record.frames - 1
    else:
        return None
    seen[kind] += 1
    return Anchor(kind, seen[kind], record.t_ms)


def _end(record: Record) -> RecordedEnd:
    return RecordedEnd(
        kind=record.kind,  # type: ignore[arg-type]  # close/drop/rejected
        direction=record.direction,
        code=record.code,
        reason=record.reason or "",
        t_ms=record.t_ms,
    )


def _masked(value: str) -> bool:
    return REDACTED in value


def _handshake(meta: Mapping[str, Any], api_key: str) -> Handshake:
    left_out: list[str] = []
    headers: list[tuple[str, str]] = []
    user_agent: str | None = None
    origin: str | None = None
    compression = False
    for pair in _pairs(meta.get("headers")):
        name, value = pair
        lower = name.lower()
        if lower == "sec-websocket-extensions":
            compression = "permessage-deflate" in value
        if lower == "user-agent":
            user_agent = value
        elif lower == "origin":
            origin = value
        if lower in _HANDSHAKE_HEADERS:
            continue
        if lower == "authorization" and _masked(value):
            scheme = value.split(" ", 1)[0] if " " in value else "Bearer"
            headers.append((name, f"{scheme} {api_key}"))
        elif lower in _KEY_HEADERS and _masked(value):
            headers.append((name, api_key))
        elif _masked(value):
            left_out.append(f"header {name} (masked in the recording)")
        else:
            headers.append((name, value))
    query: dict[str, str] = {}
    raw_query = meta.get("query")
    if isinstance(raw_query, Mapping):
        for key, value in raw_query.items():
            if not isinstance(value, str):
                continue
            if _masked(value):
                if str(key).lower() in _KEY_PARAMS:
                    query[str(key)] = api_key
                else:
                    left_out.append(f"query parameter {key} (masked in the recording)")
            else:
                query[str(key)] = value
    subprotocols = []
    for protocol in meta.get("subprotocols") or ():
        if not isinstance(protocol, str):
            continue
        if protocol.startswith(_KEY_SUBPROTOCOL) and _masked(protocol):
            subprotocols.append(_KEY_SUBPROTOCOL + api_key)
        elif _masked(protocol):
            left_out.append("a subprotocol (masked in the recording)")
        else:
            subprotocols.append(protocol)
    path = meta.get("path")
    return Handshake(
        path=path if isinstance(path, str) and path.startswith("/") else "/v1/realtime",
        query=query,
        headers=tuple(headers),
        subprotocols=tuple(subprotocols),
        user_agent=user_agent,
        origin=origin,
        compression=compression,
        left_out=tuple(left_out),
    )


def _pairs(headers: object) -> Iterable[tuple[str, str]]:
    if not isinstance(headers, list):
        return ()
    return [
        (h[0], h[1])
        for h in headers
        if isinstance(h, list | tuple) and len(h) == 2 and all(isinstance(x, str) for x in h)
    ]
