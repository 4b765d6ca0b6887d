"""Transcripts: every frame of one session, in order, as the mock, the runner and the checks see it.

A `Transcript` is written by whoever sees the frames (the mock app, the runner) and read by
the checks. Appending is cheap: a text frame is stored as a small tuple holding the exact
frame text (no parsing, no copy) and becomes a `Record` only when `records` is read.

On disk a transcript is JSON Lines: first ``{"kind": "meta", "format_version": 1, ...}``,
then one record per line (docs/transcripts.md specifies the format for other writers).
Secrets never reach a file or `meta`: API keys (``sk-…``, ``ek_…``), bearer tokens,
``openai-insecure-api-key.<key>`` subprotocols and every registered secret string are
masked on the way out (see `redact`).
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import re
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal, cast
from urllib.parse import unquote_plus

from conformance import _json
from conformance.protocol.errors import ConfigError
from conformance.protocol.findings import Finding

Direction = Literal["client", "server"]
RecordKind = Literal["text", "binary", "close", "drop", "rejected", "elided"]

REDACTED: Final = "[REDACTED]"
_UNPARSED: Final = object()
_MIN_SECRET_LEN: Final = 4  # shorter strings would mask ordinary words
# A key runs up to a space, a quote, a separator or a backslash (escaped JSON: `\"`).
_TOKEN = r"[^\s,;\"'\\]+"
_KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
# (substring that must be present, pattern): each pattern starts with a literal, so `re`
# can search for it quickly, and runs only on text holding its trigger. Group 1 is kept,
# the rest of the match masked.
_KEY_PATTERNS: Final = (
    ("sk-", re.compile(r"(sk-)[A-Za-z0-9_-]{8,}")),  # sk-…, sk-proj-…, sk-svcacct-…, sk-admin-…
    ("ek_", re.compile(r"(ek_)[A-Za-z0-9_-]{8,}")),  # Realtime client secrets
    ("insecure-api-key", re.compile(r"(openai-insecure-api-key\.)" + _TOKEN)),
)
# Credentials after their name, looked for in the ASCII-lower-cased text (same length, so
# the spans carry over). Each pattern starts with its literal (a fast search), runs only on
# text holding it, and masks its group `v`. A named value must look like a credential
# (8+ key characters: hex, base64, a JWT), whatever its prefix.
_SEP = r"(?:\\*[\"'])?\s*[:=]\s*(?:\\*[\"'])?"  # `: `, `=`, `": "`, escaped `\": \"`
_VALUE = r"(?P<v>[a-z0-9._~+/=-]{8,})"
_SCHEMED = r"(?P<v>[^\s,;\"'\\]+)"
_NOT_PROSE = r"(?!(?:or|and|auth|authentication|token|tokens|scheme|header)\b)"
_ASCII_LOWER: Final = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


_Test = Callable[[str, str, re.Match[str]], bool]


def _named(word: str, *stems: str) -> tuple[str, re.Pattern[str], _Test]:
    """`word` right after one of `stems` (joined by nothing, `-` or `_`), then a value."""
    names = tuple(f"{stem}{joint}" for stem in stems for joint in ("", "-", "_"))

    def after_stem(_text: str, lower: str, match: re.Match[str]) -> bool:
        return lower.endswith(names, 0, match.start())

    return word, re.compile(word + _SEP + _VALUE), after_stem


def _env_name(text: str, _lower: str, match: re.Match[str]) -> bool:
    """An environment listing's upper-case name (`OPENAI_ADMIN_KEY=`), not prose."""
    return text[match.start() : match.end("w")].isupper()


# (literal that must be present, pattern over the lower-cased text, extra test or None)
_NAMED_PATTERNS: Final[tuple[tuple[str, re.Pattern[str], _Test | None], ...]] = (
    ("bearer", re.compile(r"bearer\s+" + _NOT_PROSE + _SCHEMED), None),
    (
        "authorization",
        re.compile(r"authorization" + _SEP + r"(?:(?:bearer|basic|token)\s+)?" + _SCHEMED),
        None,
    ),
    _named("key", "api", "subscription", "secret", "access", "admin"),
    _named("token", "access", "refresh", "auth", "api", "id", "session"),
    _named("secret", "client", "api", "app"),
    ("passw", re.compile(r"passw(?:or)?d" + _SEP + _VALUE), None),
    *(
        (word, re.compile(f"(?P<w>{word})=(?P<v>[^\\s\"'\\\\]{{4,}})"), _env_name)
        for word in ("key", "token", "secret", "password")
    ),
)
_SECRET_HEADERS: Final = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "api-key",
        "x-api-key",
        "ocp-apim-subscription-key",
        "cookie",
    }
)
_SECRET_PARAMS: Final = frozenset(
    {
        "api-key",
        "api_key",
        "apikey",
        "key",
        "token",
        "access_token",
        "client_secret",
        "subscription-key",
    }
)

_TextEntry = tuple[Direction, float, str, tuple[Finding, ...]]
# `Transcript.record_line_steps`: yields None (a step) or a masking job to run; returns
# the line's UTF-8 pieces.
LineSteps = Generator[Callable[[], str] | None, str | None, list[bytes]]
# A frame holding a string this long gets its record line in steps (`record_line_steps`).
LINE_STEPS_MIN: Final = 1 << 20
_ENTRY_OVERHEAD: Final = 200  # bytes per frame beyond its text: tuple/Record, str header, list
_Mask = Callable[[str], str]
_DIRECTIONS: Final = ("client", "server")
_KINDS: Final = ("text", "binary", "close", "drop", "rejected", "elided")
# The version of the file format `meta_line` writes (`"format_version"` in the meta line).
# A reader accepts files without it (written before it existed: version 1) and refuses
# a newer one. Bump it only for a change that older readers would misread.
FORMAT_VERSION: Final = 1
# The per-session bound the runner's mocks and the pytest plugin's use (`max_bytes`).
TRANSCRIPT_MAX_BYTES: Final = 64 * 1024 * 1024
_WRITE_SLICE: Final = 1000  # frames serialised at a time by `write_jsonl`
# Past `max_bytes`, elided runs may take this much more (overhead per run); beyond it every
# frame joins the last run: the bound holds whatever mix of frames a client sends.
ELIDED_RUNS_BYTES: Final = 1024 * 1024
# The event type of a frame whose payload is left out: read where JSON puts it first.
_LEADING_TYPE: Final = re.compile(r'\s*\{\s*"type"\s*:\s*"([^"\\]{1,100})"')
_PARSED_TYPE_MAX: Final = 64 * 1024  # longer frames without a leading "type": not parsed


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """One frame (or the end of the connection) in a transcript.

    `index` is the position in the transcript; `direction` is `"client"` for what the
    client sent and `"server"` for what the server sent; `t_ms` counts milliseconds
    since the connection opened. `kind` says which of `text` (exact frame text),
    `data_b64` (binary frame), `code`/`reason` (close frame) are set; `"drop"` means the
    connection ended without a close frame; `"rejected"` means the server answered the
    WebSocket upgrade with the HTTP status `code` (body in `reason`), so there never was a
    WebSocket. `findings` are validation findings about it.

    `"elided"` stands for `frames` consecutive frames from `direction` whose payloads were
    not kept (the transcript had reached its `max_bytes`): `elided_type` is their event
    type (None: not JSON, or several types), `size` their characters (text) or bytes
    (binary) in all, `t_ms` and `t_last_ms` when the first and the last came. Checks see
    no event in it (`event` is None).
    """

    index: int
    direction: Direction
    t_ms: float
    kind: RecordKind
    text: str | None = None
    data_b64: str | None = None
    code: int | None = None
    reason: str | None = None
    findings: tuple[Finding, ...] = ()
    elided_type: str | None = None
    frames: int = 1
    size: int | None = None
    t_last_ms: float | None = None
    _event: object = field(default=_UNPARSED, init=False, repr=False, compare=False)

    @property
    def event(self) -> dict[str, Any] | None:
        """The text parsed as a JSON object (cached); None if it is not one. Never raises."""
        cached = self._event
        if cached is _UNPARSED:
            cached = _parse_event(self.text)
            object.__setattr__(self, "_event", cached)
        return cast("dict[str, Any] | None", cached)

    @property
    def event_type(self) -> str | None:
        """The event's `type` if it is a string, else None."""
        event = self.event
        value = event.get("type") if event is not None else None
        return value if isinstance(value, str) else None


def _parse_event(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = _json.loads(text)
    except _json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Truncation:
    """What a transcript that reached its `max_bytes` left out.

    From record `from_index` on, every frame but the end of the connection is an
    `"elided"` record: `frames` frames, `size` characters (bytes for binary frames) not
    kept. The checks judged the frames before it, and the end.
    """

    max_bytes: int | None
    from_index: int
    frames: int
    size: int

    def line(self) -> str:
        """One sentence for reports."""
        limit = f" (its {self.max_bytes / 2**20:g} MiB limit)" if self.max_bytes else ""
        return (
            f"transcript truncated{limit} from frame #{self.from_index}: {self.frames:,} "
            f"later frame(s), {self.size:,} characters, kept as their direction, type, "
            "size and time only; the checks judged the frames before and the end"
        )

    def as_dict(self) -> dict[str, int | None]:
        """The JSON form (`meta["truncated"]` in a transcript file, the JSON report)."""
        return {
            "max_bytes": self.max_bytes,
            "from_index": self.from_index,
            "frames": self.frames,
            "size": self.size,
        }


def _truncation_from(value: object) -> Truncation | None:
    if not isinstance(value, Mapping):
        return None
    try:
        limit = value.get("max_bytes")
        return Truncation(
            max_bytes=None if limit is None else int(limit),
            from_index=int(value["from_index"]),
            frames=int(value["frames"]),
            size=int(value["size"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _frame_type(text: str) -> str | None:
    """The `type` of a JSON event (cheaply: the leading key, else a parse of a short frame)."""
    match = _LEADING_TYPE.match(text)
    if match is not None:
        return match.group(1)
    if len(text) > _PARSED_TYPE_MAX:
        return None
    event = _parse_event(text)
    kind = None if event is None else event.get("type")
    return kind if isinstance(kind, str) else None


class Transcript:
    """The frames of one session in order, plus `meta` about the session.

    Write with `add_text`, `add_binary`, `add_close`, `add_drop` and `add_rejected`; read
    `records` or
    iterate. `meta` holds the request path, redacted query/headers/subprotocols, model,
    scenario, session id and start time (see `begin`).

    Bounded memory: with `max_bytes` set, once the frames kept would hold more than that
    (text and data sizes plus a fixed overhead per frame), every later frame is kept as
    its direction, type, size and time only, consecutive ones of the same direction and
    type as one `"elided"` record (`truncation` says from where and how much). The end
    of the connection is always kept. The checks then judge a consistent beginning (the
    protocol replay sees no gap) and the end.
    """

    def __init__(
        self,
        meta: Mapping[str, Any] | None = None,
        records: Iterable[Record] = (),
        *,
        secrets: Iterable[str] = (),
        max_bytes: int | None = None,
    ) -> None:
        """Create a transcript (usually through `begin` or `read_jsonl`).

        Args:
            meta: session facts, stored as given (pass already-redacted values).
            records: existing records; they are re-indexed by position.
            secrets: exact strings to mask whenever the transcript is serialised.
            max_bytes: the frames kept in full at most (approximately); None: no limit.
        """
        self.meta: dict[str, Any] = dict(meta or {})
        self.max_bytes = max_bytes
        self._entries: list[_TextEntry | Record] = []
        self._records: list[Record] = []
        self._kept = 0  # bytes held by the frames, counted as `approx_bytes` counts them
        self._elided: list[int] = []  # [from index, frames, size] once truncated
        self._secrets: set[str] = set()
        self._mask: _Mask | None = None  # built when first needed, reset by add_secrets
        # Called after every frame is added (a recorder appending to a file sets it).
        self.on_append: Callable[[], None] | None = None
        self.add_secrets(*secrets)
        for record in records:
            self._entries.append(_reindexed(record, len(self._entries)))
            self._kept += _record_bytes(record)

    @classmethod
    def begin(
        cls,
        *,
        path: str = "",
        query: Mapping[str, str] | None = None,
        headers: Iterable[tuple[str, str]] = (),
        subprotocols: Iterable[str] = (),
        model: str | None = None,
        scenario: str | None = None,
        session_id: str | None = None,
        started_at: str | None = None,
        secrets: Iterable[str] = (),
    ) -> Transcript:
        """Start a transcript for one connection, with redacted connection facts in `meta`.

        Args:
            path: request path without the query.
            query: query parameters; secret-bearing ones are masked.
            headers: request headers as received; `Authorization` and keys are masked.
            subprotocols: offered subprotocols; `openai-insecure-api-key.<key>` is masked.
            model: the session model, if known.
            scenario: the scenario name, if any.
            session_id: the `sess_…` id, if already known (set `meta["session_id"]` later).
            started_at: ISO 8601 start time; now (UTC) by default.
            secrets: exact strings (configured keys, the key used) to mask everywhere.
        """
        transcript = cls(secrets=secrets)
        mask = _masker(transcript._secrets)
        transcript.meta = {
            "path": mask(path),
            "query": {k: _mask_param(k, v, mask) for k, v in (query or {}).items()},
            "headers": [[k, _mask_header(k, v, mask)] for k, v in headers],
            "subprotocols": [mask(p) for p in subprotocols],
            "model": model,
            "scenario": scenario,
            "session_id": session_id,
            "started_at": started_at or datetime.now(UTC).isoformat(timespec="milliseconds"),
        }
        return transcript

    def record_http_request(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Iterable[tuple[str, str]],
    ) -> None:
        """Record the HTTP request that opened this session without an upgrade (a WebRTC
        call's `POST /v1/realtime/calls`): its headers become `meta["headers"]`, masked as
        `begin` masks an upgrade's, so the checks on the upgrade's headers judge them;
        `meta["http_request"]` keeps its method, path and query (masked likewise)."""
        mask = self._mask_fn()
        self.meta["headers"] = [[k, _mask_header(k, v, mask)] for k, v in headers]
        self.meta["http_request"] = {
            "method": method.upper(),
            "path": mask(path),
            "query": {k: _mask_param(k, v, mask) for k, v in query.items()},
        }

    # --- writing (hot path: no parsing, no copying) ---

    def add_text(
        self, direction: Direction, text: str, t_ms: float, findings: tuple[Finding, ...] = ()
    ) -> int:
        """Append one text frame exactly as it crossed the wire; returns its index.

        Past `max_bytes` only its direction, type, size and time are kept (see the class).
        """
        size = len(text) + _ENTRY_OVERHEAD
        if self.max_bytes is not None and (self._elided or self._kept + size > self.max_bytes):
            return self._elide(direction, t_ms, _frame_type(text), len(text))
        self._kept += size
        self._entries.append((direction, t_ms, text, findings))
        if self.on_append is not None:
            self.on_append()
        return len(self._entries) - 1

    def add_binary(
        self, direction: Direction, data: bytes, t_ms: float, findings: tuple[Finding, ...] = ()
    ) -> int:
        """Append one binary frame; returns its index (past `max_bytes`: elided)."""
        if self.max_bytes is not None and (
            self._elided or self._kept + len(data) * 4 // 3 + _ENTRY_OVERHEAD > self.max_bytes
        ):
            return self._elide(direction, t_ms, None, len(data))
        data_b64 = base64.b64encode(data).decode("ascii")
        return self._add(direction, t_ms, "binary", data_b64=data_b64, findings=findings)

    def add_close(self, direction: Direction, code: int | None, reason: str, t_ms: float) -> int:
        """Append a close frame sent by `direction` (code None: close frame without code)."""
        return self._add(direction, t_ms, "close", code=code, reason=reason)

    def add_drop(self, direction: Direction, t_ms: float) -> int:
        """Append the end of a connection that `direction` dropped without a close frame."""
        return self._add(direction, t_ms, "drop")

    def add_rejected(self, status: int, body: str = "", t_ms: float = 0.0) -> int:
        """Append the server's HTTP answer `status` to the upgrade: no WebSocket opened."""
        return self._add("server", t_ms, "rejected", code=status, reason=body)

    def add_secrets(self, *secrets: str | None) -> None:
        """Register exact strings to mask when serialising (shorter than 4 chars: ignored)."""
        self._secrets.update(s for s in secrets if s and len(s) >= _MIN_SECRET_LEN)
        self._mask = None

    def _add(self, direction: Direction, t_ms: float, kind: RecordKind, **values: Any) -> int:
        index = len(self._entries)
        record = Record(index=index, direction=direction, t_ms=t_ms, kind=kind, **values)
        self._kept += _record_bytes(record)
        self._entries.append(record)
        if self.on_append is not None:
            self.on_append()
        return index

    def _elide(self, direction: Direction, t_ms: float, kind: str | None, size: int) -> int:
        """Keep one frame as its direction, type, size and time: a new `"elided"` record,
        or one more frame in the last one (same direction and type, or past the room for
        runs). While recording (`on_append`), every frame gets its own record, until that
        room is used up; then frames are only counted."""
        entries = self._entries
        if not self._elided:
            self._elided = [len(entries), 0, 0]
        self._elided[1] += 1
        self._elided[2] += size
        last = entries[-1] if entries else None
        crowded = self.max_bytes is not None and self._kept > self.max_bytes + ELIDED_RUNS_BYTES
        recording = self.on_append is not None
        if (
            isinstance(last, Record)
            and last.kind == "elided"
            and not recording
            and (crowded or (last.direction, last.elided_type) == (direction, kind))
        ):
            merged = dataclasses.replace(
                last,
                elided_type=last.elided_type if last.elided_type == kind else None,
                frames=last.frames + 1,
                size=(last.size or 0) + size,
                t_last_ms=t_ms,
            )
            entries[-1] = merged
            if len(self._records) == len(entries):
                self._records[-1] = merged
            return merged.index
        if crowded and recording:
            return len(entries) - 1  # counted in `truncation` only
        index = len(entries)
        record = Record(
            index=index,
            direction=direction,
            t_ms=t_ms,
            kind="elided",
            elided_type=kind,
            size=size,
            t_last_ms=t_ms,
        )
        self._kept += _record_bytes(record)
        entries.append(record)
        if recording:
            assert self.on_append is not None
            self.on_append()
        return index

    @property
    def transport(self) -> str:
        """How the session's events travelled: `meta["transport"]` ("webrtc", "sip") of a
        call (issue 16), else "websocket" (what transcripts without the field are)."""
        value = self.meta.get("transport")
        return value if isinstance(value, str) else "websocket"

    @property
    def truncation(self) -> Truncation | None:
        """What was left out past `max_bytes` (also read back from a transcript file's
        meta), or None when every frame is kept in full."""
        if self._elided:
            start, frames, size = self._elided
            return Truncation(max_bytes=self.max_bytes, from_index=start, frames=frames, size=size)
        return _truncation_from(self.meta.get("truncated"))

    # --- reading ---

    @property
    def records(self) -> list[Record]:
        """All records in order (the same list object as it grows; do not mutate it)."""
        records, entries = self._records, self._entries
        for index in range(len(records), len(entries)):
            entry = entries[index]
            if not isinstance(entry, Record):
                direction, t_ms, text, findings = entry
                entry = Record(
                    index=index,
                    direction=direction,
                    t_ms=t_ms,
                    kind="text",
                    text=text,
                    findings=findings,
                )
            records.append(entry)
        return records

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Record]:
        return iter(self.records)

    def client_events(self) -> Iterator[Record]:
        """Text records sent by the client (`record.event` is None if not a JSON object)."""
        return (r for r in self.records if r.direction == "client" and r.kind == "text")

    def server_events(self) -> Iterator[Record]:
        """Text records sent by the server (`record.event` is None if not a JSON object)."""
        return (r for r in self.records if r.direction == "server" and r.kind == "text")

    # --- JSON Lines ---

    def redact(self, text: str) -> str:
        """`text` with this transcript's secrets and every recognisable key masked."""
        return self._mask_fn()(text)

    def _mask_fn(self) -> _Mask:
        if self._mask is None:
            self._mask = _masker(self._secrets)
        return self._mask

    def to_jsonl(self) -> str:
        """Serialise as JSON Lines (meta line first), with every secret masked."""
        return "".join([self.meta_line(), *self.record_lines()])

    def meta_line(self) -> str:
        """The first JSON Lines line (``{"kind": "meta", ...}``, masked, with its newline).

        A truncated transcript's meta says so: ``"truncated": {"max_bytes", "from_index",
        "frames", "size"}``.
        """
        meta = {k: v for k, v in self.meta.items() if k not in ("kind", "format_version")}
        truncation = self.truncation
        if truncation is not None:
            meta["truncated"] = truncation.as_dict()
        line = {"kind": "meta", "format_version": FORMAT_VERSION, **meta}
        return _json.dumps(_redact_value(line, self._mask_fn())) + "\n"

    def record_lines(self, start: int = 0, stop: int | None = None) -> list[str]:
        """The JSON Lines lines of the frames from index `start` on (masked, with newlines),
        up to `stop` (excluded; None: the last).

        Appending `meta_line()` and then these as frames come gives the same file as
        `write_jsonl`, without building a `Record` per text frame.
        """
        mask = self._mask_fn()
        entries = self._entries
        end = len(entries) if stop is None else min(stop, len(entries))
        return [
            _json.dumps(_entry_to_json(entries[index], index, mask)) + "\n"
            for index in range(start, end)
        ]

    def record_line_steps(self, index: int) -> LineSteps | None:
        """Frame `index`'s line (`record_lines(index, index + 1)`, as UTF-8 pieces) in
        steps, when the frame holds a string of `LINE_STEPS_MIN` characters or more;
        None otherwise (then `record_lines` costs little).

        The masking function and the secrets are taken now; the generator then proves
        `_MASK_PIECE` characters per step that masking leaves the long string unchanged
        (`_unmasked_steps`) and serialises it `_json._DUMP_PIECE` characters per step
        (`_json.dumps_pieces`). Where the proof fails (the string may hold a key), it
        yields a callable that masks the string whole: run it (on a worker thread, if
        you like) and send its result back. Yields None between steps. Returns the
        pieces, whose join is exactly the line `record_lines` gives (newline included).
        """
        entry = self._entries[index]
        if isinstance(entry, Record):
            long = [s for s in (entry.text, entry.reason) if s and len(s) >= LINE_STEPS_MIN]
            if not long and len(entry.data_b64 or "") < LINE_STEPS_MIN:
                return None
        elif len(entry[2]) >= LINE_STEPS_MIN:
            long = [entry[2]]
        else:
            return None
        return _line_steps(entry, index, long, self._mask_fn(), sorted(self._secrets))

    def approx_bytes(self) -> int:
        """Roughly how much memory the frames hold: text and data sizes, plus overhead."""
        return self._kept + _ENTRY_OVERHEAD * len(self._records)

    def write_jsonl(self, path: str | Path) -> Path:
        """Write `to_jsonl()` to `path` (parent folders are created); returns the path.

        Written in slices of frames, so a long transcript is never held twice in memory.
        """
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("w", encoding="utf-8") as file:
            file.write(self.meta_line())
            for start in range(0, len(self._entries), _WRITE_SLICE):
                file.write("".join(self.record_lines(start, start + _WRITE_SLICE)))
        return target

    @classmethod
    def read_jsonl(cls, path: str | Path) -> Transcript:
        """Read a file written by `write_jsonl`.

        Raises:
            ConfigError: unreadable file, or a line that is not a transcript line
                (the message names the file and line).
        """
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read transcript: {exc}") from exc
        return cls.from_jsonl(text, origin=str(path))

    @classmethod
    def from_jsonl(cls, text: str, *, origin: str = "<string>") -> Transcript:
        """Parse JSON Lines text (see `read_jsonl`); `origin` names it in errors."""
        lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
        if not lines:
            raise ConfigError(f"{origin}: empty transcript (expected a meta line first)")
        meta = _load_line(origin, *lines[0])
        if meta.pop("kind", None) != "meta":
            raise ConfigError(f'{origin}:{lines[0][0]}: the first line must be {{"kind": "meta"}}')
        version = meta.pop("format_version", FORMAT_VERSION)
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ConfigError(
                f"{origin}:{lines[0][0]}: format_version must be a positive integer, "
                f"got {version!r}"
            )
        if version > FORMAT_VERSION:
            raise ConfigError(
                f"{origin}:{lines[0][0]}: format_version {version} is newer than this "
                f"reader's ({FORMAT_VERSION}): upgrade realtime-conformance"
            )
        records = [
            _record_from_json(origin, n, index, _load_line(origin, n, line))
            for index, (n, line) in enumerate(lines[1:])
        ]
        return cls(meta, records)


def read_jsonl(path: str | Path) -> Transcript:
    """Read a transcript file (same as `Transcript.read_jsonl`)."""
    return Transcript.read_jsonl(path)


def redact(text: str, secrets: Iterable[str] = (), *, replacement: str = REDACTED) -> str:
    """Mask API keys, bearer tokens, key subprotocols and the exact `secrets` in `text`.

    Keys keep their kind so transcripts stay readable: ``sk-[REDACTED]`` (also
    ``sk-proj-``, ``sk-svcacct-``, ``sk-admin-`` keys), ``ek_[REDACTED]``,
    ``Bearer [REDACTED]``, ``openai-insecure-api-key.[REDACTED]``. A credential after its
    name keeps the name, whatever the key looks like (a 32-hex Azure key, a JWT):
    ``api-key: [REDACTED]``, ``Authorization: Basic [REDACTED]``, ``?apikey=[REDACTED]``,
    ``"api_key": "[REDACTED]"``, also inside JSON-escaped text (``\\"api-key\\": \\"…``)
    and for ``x-api-key``, ``Ocp-Apim-Subscription-Key``, ``access_token``,
    ``client_secret``, ``…_API_KEY=``, ``password``. `replacement` is what a key becomes.
    """
    return _masker(secrets, replacement)(text)


def redact_meta(meta: Mapping[str, Any], secrets: Iterable[str] = ()) -> dict[str, Any]:
    """A transcript's `meta` as `Transcript.begin` records it: secret query values and
    headers masked whole, keys masked in every other value (for transcripts recorded
    elsewhere, whose meta may hold a key verbatim)."""
    mask = _masker(secrets)
    redacted = {k: _redact_value(v, mask) for k, v in meta.items()}
    query = meta.get("query")
    if isinstance(query, Mapping):
        redacted["query"] = {
            k: _mask_param(str(k), v, mask) if isinstance(v, str) else _redact_value(v, mask)
            for k, v in query.items()
        }
    headers = meta.get("headers")
    if isinstance(headers, list):
        redacted["headers"] = [
            [h[0], _mask_header(h[0], h[1], mask)]
            if isinstance(h, list | tuple) and len(h) == 2 and all(isinstance(x, str) for x in h)
            else _redact_value(h, mask)
            for h in headers
        ]
    return redacted


def redact_header(name: str, value: str, secrets: Iterable[str] = ()) -> str:
    """A request header's value as transcripts record it: keys masked, secret headers whole."""
    return _mask_header(name, value, _masker(secrets))


def redact_target(target: str, secrets: Iterable[str] = ()) -> str:
    """A request target (`/v1/realtime?api_key=…`) with secret query values masked."""
    path, sep, query = target.partition("?")
    if not sep:
        return redact(target, secrets)
    mask = _masker(secrets)
    params = [
        f"{name}={_mask_param(unquote_plus(name), value, mask)}" if eq else mask(name)
        for name, eq, value in (part.partition("=") for part in query.split("&"))
    ]
    return f"{mask(path)}?{'&'.join(params)}"


# The fast pre-check (`_may_hold_key`). Every pattern needs one of these characters next
# to its literal: `-` (sk-, insecure-api-key), `_` (ek_), `:`/`=` (a named value, maybe
# after backslashes: escaped JSON) or whitespace (bearer). Standard base64 holds none.
_ANCHORS: Final = ("-", "_", ":", "=", "\\", " ", "\n", "\t", "\r")
_ANCHORS_RARE: Final = ("\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f")  # also \s
# Lower-cased literals one of which every pattern's match contains.
_TRIGGERS: Final = ("key", "token", "secret", "passw", "bearer", "authorization", "sk-", "ek_")
_CUT_OVER: Final = 2048  # shorter texts go to the full scan at once
_CUT_SEGMENT: Final = 256  # a quoted stretch this long may have its middle left out
_CUT_MARGIN: Final = 64  # kept at both ends of a stretch (a match's literal and value fit)
_CUT_SEGMENTS: Final = 64  # stretches looked at per text at most (the rest: scanned whole)


def _scanned_part(text: str) -> str:
    """`text` without the middles of long stretches between two quotes that hold none of
    `_ANCHORS` (base64 audio, image data URLs): what the pre-check must look at.

    No pattern can match inside such a middle, nor reach into it from a match that starts
    outside: a match's literal sits within a few characters of an anchor, and 64
    characters are kept on both sides of every middle left out.
    """
    if len(text) < _CUT_OVER or not text.isascii():
        return text
    find = text.find
    parts: list[str] = []
    at = 0
    start = find('"')
    for _ in range(_CUT_SEGMENTS):
        if start < 0:
            break
        end = find('"', start + 1)
        if end < 0:
            break
        if end - start > _CUT_SEGMENT:
            a, b = start + 1 + _CUT_MARGIN, end - _CUT_MARGIN
            if all(find(c, a, b) < 0 for c in _ANCHORS + _ANCHORS_RARE):
                parts.append(text[at:a])
                at = b
        start = end
    if not parts:
        return text
    parts.append(text[at:])
    return "".join(parts)


def _may_hold_key(text: str, exact: Sequence[str]) -> bool:
    """False only when no pattern and no exact secret can match `text` (the common case:
    an audio frame, a text event): then masking returns it unchanged. One lower-casing and
    a few substring searches, over `_scanned_part(text)` (a 3 KB audio frame: ~200 chars)."""
    scanned = _scanned_part(text)
    lower = scanned.lower()
    dash, underscore = "-" in scanned, "_" in scanned
    for trigger in _TRIGGERS:
        if (trigger != "sk-" or dash) and (trigger != "ek_" or underscore) and trigger in lower:
            return True
    for secret in exact:
        # A secret holding an anchor and no longer than the margin cannot lie in a middle
        # left out; any other is looked for in the whole text.
        short = len(secret) <= _CUT_MARGIN and any(c in secret for c in _ANCHORS + _ANCHORS_RARE)
        if secret in (scanned if short else text):
            return True
    return False


# `_unmasked_steps`: the text proven per step, and what a match found from a piece's
# start can reach past its end (the longest `_CANDIDATE` match is 16 characters).
_MASK_PIECE: Final = 256 * 1024
_MASK_OVERLAP: Final = 32
# Every `_NAMED_PATTERNS` match starts with one of these literals (lower-cased text),
# followed by what `_SEP` or `\s+` must begin with: an optional quote, then whitespace,
# `:`, `=` or a backslash. `passw` stands for `passw(?:or)?d`.
_CANDIDATES: Final = tuple(
    (literal, re.compile(pattern + r"[\"']?[\s:=\\]"))
    for literal, pattern in (
        ("key", "key"),
        ("token", "token"),
        ("secret", "secret"),
        ("passw", r"passw(?:or)?d"),
        ("bearer", "bearer"),
        ("authorization", "authorization"),
    )
)
_ASCII_ANCHORS: Final = tuple(set(_ANCHORS + _ANCHORS_RARE) - {"-", "_"})


def _unmasked_steps(text: str, exact: Sequence[str]) -> Generator[None, None, bool]:
    """True only when masking leaves `text` as it is (`_masker`'s `full` changes nothing),
    proven `_MASK_PIECE` characters per step (yields between steps); False: it may not.

    `full` changes a text only through (1) an exact secret in it, (2) a `_KEY_PATTERNS`
    match, which holds its case-sensitive literal (``sk-``, ``ek_``,
    ``openai-insecure-api-key.``), or (3) a `_NAMED_PATTERNS` match in the lower-cased
    text, which starts with a `_CANDIDATES` literal and its follower (with (1) and (2)
    absent, (3) runs on the text unchanged). Each piece is searched together with the
    next `_MASK_OVERLAP` characters (a secret: its length minus one), so a match that
    starts in a piece is seen whole, even across the boundary. A piece without
    whitespace, `:`, `=` and backslashes (base64) cannot start (3). Nothing is copied but
    one piece at a time.
    """
    size = len(text)
    lower_all = text.isascii()
    for start in range(0, size, _MASK_PIECE):
        end = start + _MASK_PIECE
        if start:
            yield
        for secret in exact:
            if text.find(secret, start, end + len(secret) - 1) >= 0:
                return False
        piece = text[start : end + _MASK_OVERLAP]
        if ("-" in piece and ("sk-" in piece or "openai-insecure-api-key." in piece)) or (
            "_" in piece and "ek_" in piece
        ):
            return False
        if piece.isascii() and not any(c in piece for c in _ASCII_ANCHORS):
            continue
        lower = piece.lower() if lower_all else piece.translate(_ASCII_LOWER)
        for literal, pattern in _CANDIDATES:
            if literal in lower and pattern.search(lower):
                return False
    return True


def _line_steps(
    entry: _TextEntry | Record, index: int, long: list[str], mask: _Mask, exact: Sequence[str]
) -> LineSteps:
    """The generator behind `Transcript.record_line_steps`."""
    masked: dict[int, str] = {}
    for text in long:
        unchanged = yield from _unmasked_steps(text, exact)
        if unchanged:
            masked[id(text)] = text
        else:
            result = yield functools.partial(mask, text)
            assert isinstance(result, str)
            masked[id(text)] = result

    def known(text: str) -> str:
        done = masked.get(id(text))
        return mask(text) if done is None else done

    pieces: list[bytes] = []
    for piece in _json.dumps_pieces(_entry_to_json(entry, index, known)):
        pieces.append(piece)
        yield None
    pieces.append(b"\n")
    return pieces


def _masker(secrets: Iterable[str], replacement: str = REDACTED, *, precheck: bool = True) -> _Mask:
    """The masking function for `secrets` (`precheck=False`: without the fast pre-check,
    for tests that compare both)."""
    exact = sorted((s for s in set(secrets) if len(s) >= _MIN_SECRET_LEN), key=len, reverse=True)

    def keep_kind(match: re.Match[str]) -> str:
        start = match.start()
        if start and match.string[start - 1] in _KEY_CHARS and match.group(1)[0] in "se":
            return match.group(0)  # "risk-averse", "seek_…": part of a longer word
        return match.group(1) + replacement

    def keep_name(match: re.Match[str]) -> str:
        return match.group(1) + replacement

    def mask(text: str) -> str:
        # A short text costs the pre-check what it costs the full scan: scan it at once.
        if len(text) < _CUT_OVER or _may_hold_key(text, exact):
            return full(text)
        return text

    def full(text: str) -> str:
        # Substring tests first: scanning a 3 KB audio frame for one needle takes ~2-4 us,
        # a regex ~50-150 us. Event text rarely holds '-' (base64 never does): a cheap gate.
        dash = "-" in text
        for secret in exact:
            if (dash or "-" not in secret) and secret in text:
                text = text.replace(secret, replacement)
        for trigger, pattern in _KEY_PATTERNS:
            if (dash or "-" not in trigger) and trigger in text:
                text = pattern.sub(keep_kind, text)
        lower = text.lower() if text.isascii() else text.translate(_ASCII_LOWER)
        present: dict[str, bool] = {}
        spans: list[tuple[int, int]] = []
        for literal, pattern, test in _NAMED_PATTERNS:
            found = present.get(literal)
            if found is None:
                found = present[literal] = literal in lower
            if found:
                spans += (
                    m.span("v") for m in pattern.finditer(lower) if not test or test(text, lower, m)
                )
        if spans:
            text = _cut(text, spans, replacement)
        return text

    return mask if precheck else full


def _cut(text: str, spans: list[tuple[int, int]], replacement: str) -> str:
    """`text` with every span (overlapping ones merged) replaced by `replacement`."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    parts: list[str] = []
    at = 0
    for start, end in merged:
        parts += (text[at:start], replacement)
        at = end
    parts.append(text[at:])
    return "".join(parts)


def _mask_header(name: str, value: str, mask: _Mask) -> str:
    if name.lower() not in _SECRET_HEADERS:
        return mask(value)
    scheme, _, token = value.partition(" ")
    return f"{scheme} {REDACTED}" if token else REDACTED


def _mask_param(name: str, value: str, mask: _Mask) -> str:
    return REDACTED if name.lower() in _SECRET_PARAMS else mask(value)


def _redact_value(value: Any, mask: _Mask) -> Any:
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, Mapping):
        return {k: _redact_value(v, mask) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(v, mask) for v in value]
    return value


def _entry_to_json(entry: _TextEntry | Record, index: int, mask: _Mask) -> dict[str, Any]:
    if isinstance(entry, Record):
        return _record_to_json(entry, mask)
    direction, t_ms, text, findings = entry
    data: dict[str, Any] = {
        "index": index,
        "direction": direction,
        "t_ms": round(t_ms, 3),
        "kind": "text",
        "text": mask(text),
    }
    if findings:
        data["findings"] = [
            _redact_value({**f.error_body(), "hint": f.hint}, mask) for f in findings
        ]
    return data


def _record_to_json(record: Record, mask: _Mask) -> dict[str, Any]:
    data: dict[str, Any] = {
        "index": record.index,
        "direction": record.direction,
        "t_ms": round(record.t_ms, 3),
        "kind": record.kind,
    }
    if record.text is not None:
        data["text"] = mask(record.text)
    if record.data_b64 is not None:
        data["data_b64"] = record.data_b64
    if record.code is not None:
        data["code"] = record.code
    if record.reason is not None:
        data["reason"] = mask(record.reason)
    if record.findings:
        data["findings"] = [
            _redact_value({**f.error_body(), "hint": f.hint}, mask) for f in record.findings
        ]
    if record.kind == "elided":
        data.update(
            elided_type=record.elided_type,
            frames=record.frames,
            size=record.size,
            t_last_ms=None if record.t_last_ms is None else round(record.t_last_ms, 3),
        )
    return data


def _load_line(origin: str, lineno: int, line: str) -> dict[str, Any]:
    try:
        value = _json.loads(line)
    except _json.JSONDecodeError as exc:
        raise ConfigError(f"{origin}:{lineno}: not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ConfigError(f"{origin}:{lineno}: expected a JSON object, got {value!r:.60}")
    return value


def _record_from_json(origin: str, lineno: int, index: int, data: dict[str, Any]) -> Record:
    where = f"{origin}:{lineno}"
    if data.get("direction") not in _DIRECTIONS or data.get("kind") not in _KINDS:
        raise ConfigError(
            f"{where}: expected direction in {_DIRECTIONS} and kind in {_KINDS}, "
            f"got {data.get('direction')!r} and {data.get('kind')!r}"
        )
    try:
        return Record(
            index=index,
            direction=data["direction"],
            t_ms=float(data["t_ms"]),
            kind=data["kind"],
            text=data.get("text"),
            data_b64=data.get("data_b64"),
            code=data.get("code"),
            reason=data.get("reason"),
            findings=tuple(Finding(**f) for f in data.get("findings", ())),
            elided_type=data.get("elided_type"),
            frames=int(data.get("frames", 1)),
            size=data.get("size"),
            t_last_ms=data.get("t_last_ms"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: not a transcript record: {exc!r}") from exc


def _reindexed(record: Record, index: int) -> Record:
    return record if record.index == index else dataclasses.replace(record, index=index)


def _record_bytes(record: Record) -> int:
    """What `approx_bytes` counts for one record."""
    size = len(record.text or "") + len(record.data_b64 or "") + len(record.reason or "")
    return size + _ENTRY_OVERHEAD
