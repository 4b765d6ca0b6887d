"""What the proxy sees of one connection, with no I/O: the transcript, validated as it grows.

    tap = Tap.begin(path="/v1/realtime", query={"model": "gpt-realtime"}, headers=[...],
                    subprotocols=[...], secrets=[key], upstream="wss://api.openai.com")
    tap.text("client", frame_text, now_ms)      # validated against the client schemas
    tap.text("server", frame_text, now_ms)      # validated against the server schemas
    tap.close("server", 4000, "invalid_request_error.x", now_ms)
    tap.drift                                   # server frames the schemas do not know

Every client event is judged as the live server would (the GA client schemas, then the
conversation rules of `conformance.protocol.Session`); every server event against the
GA server schemas and the order rules, in non-strict mode: an event type or a field the
bundle does not know is *drift* (`Drift`, kept on the record's findings too), never an
exception. Findings ride on the transcript's records, so the recording shows them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from conformance.models import load_registry
from conformance.protocol import Session, Side
from conformance.protocol.findings import Finding
from conformance.protocol.translation import is_translation_path
from conformance.schemas import (
    parse_client_frame,
    parse_server_frame,
    parse_translation_client_frame,
    parse_translation_server_frame,
)
from conformance.transcript import TRANSCRIPT_MAX_BYTES, Direction, Transcript, redact

MAX_DRIFT: Final = 200  # drift findings kept per connection (all are counted)

# A server frame that is not text (the API sends only JSON text frames).
BINARY_FROM_SERVER: Final = Finding(
    code="binary_frame", message="The server sent a binary frame; the API sends text only."
)
_INVALID_UTF8: Final = Finding(
    code="invalid_utf8", message="A text frame that is not valid UTF-8 (replaced characters)."
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Drift:
    """A server frame that differs from the GA server schemas (an unknown event type, an
    unknown or mistyped field): the live API changed, or the bundle is behind."""

    index: int  # the record in the transcript
    event_type: str | None
    code: str | None
    message: str
    param: str | None

    def line(self) -> str:
        """One line for the console: where, what."""
        kind = self.event_type or "a frame"
        where = f" at {self.param}" if self.param else ""
        return f"drift: frame #{self.index} ({kind}){where}: {self.code}: {self.message}"


def drift_message(finding: Finding) -> str:
    """What a schema finding about a server event says, short: an unknown type is named
    without the list of the 46 known ones."""
    if finding.param == "type" and finding.code == "invalid_value":
        known = finding.message.split(". Supported values are", 1)[0]
        return f"{known}: not a GA server event type (unknown to the schema bundle)."
    return finding.message


class Tap:
    """The transcript of one proxied connection, with every frame validated on the way in.

    `begin` starts it from the client's upgrade request (keys masked in `meta`); the
    adapter then calls `text`, `binary`, `close`, `drop` or `rejected` for each frame in
    the order it passed, with milliseconds since the connection opened.
    """

    def __init__(self, transcript: Transcript, *, translation: bool = False) -> None:
        self.transcript = transcript
        self.drift: list[Drift] = []  # the first MAX_DRIFT
        self.drift_count = 0
        self.client_findings = 0  # client frames with at least one finding
        self.ended = False
        self._translation = translation
        registry = load_registry()
        # The server's view judges client events; the client's view applies server ones.
        self._judge_client = Session(
            Side.SERVER, decode=_client_decode, strict=False, models=registry.get
        )
        self._follow_server = Session(
            Side.CLIENT, decode=self._server_decode, strict=False, models=registry.get
        )
        self._schema: list[Finding] = []

    @classmethod
    def begin(
        cls,
        *,
        path: str,
        query: Mapping[str, str],
        headers: Iterable[tuple[str, str]],
        subprotocols: Iterable[str],
        secrets: Iterable[str] = (),
        upstream: str = "",
        max_bytes: int | None = TRANSCRIPT_MAX_BYTES,
    ) -> Tap:
        """Start the tap of one connection from the client's upgrade request."""
        secrets = tuple(s for s in secrets if s)
        transcript = Transcript.begin(
            path=path,
            query=query,
            headers=headers,
            subprotocols=subprotocols,
            model=query.get("model"),
            secrets=secrets,
        )
        transcript.max_bytes = max_bytes
        transcript.meta["recorded_by"] = "proxy"
        transcript.meta["upstream"] = redact(upstream, secrets)
        return cls(transcript, translation=is_translation_path(path))

    # --- frames ---

    def text(self, direction: Direction, text: str, t_ms: float) -> tuple[Finding, ...]:
        """One whole text message; returns its findings (also kept on its record)."""
        if direction == "client":
            findings = self._client_text(text)
            if findings:
                self.client_findings += 1
        else:
            findings = self._server_text(text)
        index = self.transcript.add_text(direction, text, t_ms, findings)
        if direction == "server" and self._schema:
            self._note_drift(index, self._schema)
        return findings

    def text_bytes(self, direction: Direction, data: bytes, t_ms: float) -> tuple[Finding, ...]:
        """A text message as its bytes: decoded (an invalid UTF-8 sequence is a finding)."""
        try:
            text = data.decode()
        except UnicodeDecodeError:
            text = data.decode(errors="replace")
            findings = self.text(direction, text, t_ms)
            return (_INVALID_UTF8, *findings)
        return self.text(direction, text, t_ms)

    def binary(self, direction: Direction, data: bytes, t_ms: float) -> tuple[Finding, ...]:
        """One whole binary message (the API is text-only: always a finding)."""
        if direction == "client":
            self._judge_client.receive_bytes(data)
            findings = tuple(f for r in self._judge_client.events_received() for f in r.findings)
            self.client_findings += 1
        else:
            findings = (BINARY_FROM_SERVER,)
        index = self.transcript.add_binary(direction, data, t_ms, findings)
        if direction == "server":
            self._note_drift(index, findings)
        return findings

    def close(self, direction: Direction, code: int | None, reason: str, t_ms: float) -> None:
        """`direction` sent a close frame first (code None: a close frame without code)."""
        if not self.ended:
            self.transcript.add_close(direction, code, reason, t_ms)
            self._end()

    def drop(self, direction: Direction, t_ms: float) -> None:
        """`direction` dropped the connection without a close frame."""
        if not self.ended:
            self.transcript.add_drop(direction, t_ms)
            self._end()

    def rejected(self, status: int, body: str, t_ms: float) -> None:
        """The upgrade was answered with HTTP `status`: no WebSocket."""
        if not self.ended:
            self.transcript.add_rejected(status, body, t_ms)
            self._end()

    # --- internals ---

    def _end(self) -> None:
        self.ended = True
        self._judge_client.connection_closed()
        self._follow_server.connection_closed()

    def _client_text(self, text: str) -> tuple[Finding, ...]:
        if self._translation:
            return tuple(parse_translation_client_frame(text)[1])
        return self._judge_client.receive(text).findings

    def _server_text(self, text: str) -> tuple[Finding, ...]:
        self._schema = []
        if self._translation:
            self._schema = parse_translation_server_frame(text)[1]
            return tuple(self._schema)
        received = self._follow_server.receive(text)
        if received.event is not None:
            kind = received.type
            if kind == "session.created" and self.transcript.meta.get("session_id") is None:
                session = received.event.get("session")
                if isinstance(session, Mapping) and isinstance(session.get("id"), str):
                    self.transcript.meta["session_id"] = session["id"]
        if received.event is None:
            return received.findings  # not JSON: the decode's findings, already in _schema
        return (*self._schema, *received.findings)

    def _server_decode(self, text: str) -> tuple[dict[str, Any] | None, list[Finding]]:
        # Schema findings are drift; the event is still applied, so one unknown field
        # does not turn every later event of its response into an order finding.
        event, findings = parse_server_frame(text)
        self._schema = findings
        return (None, findings) if event is None else (event, [])

    def _note_drift(self, index: int, findings: Sequence[Finding]) -> None:
        """Schema findings about a server frame: drift (the first MAX_DRIFT kept)."""
        self.drift_count += len(findings)
        room = MAX_DRIFT - len(self.drift)
        if room <= 0:
            return
        record = self.transcript.records[index] if index < len(self.transcript) else None
        kind = record.event_type if record is not None and record.kind == "text" else None
        for finding in findings[:room]:
            self.drift.append(
                Drift(
                    index=index,
                    event_type=kind,
                    code=finding.code or finding.type,
                    message=self.transcript.redact(drift_message(finding)),
                    param=finding.param,
                )
            )


def _client_decode(text: str) -> tuple[dict[str, Any] | None, list[Finding]]:
    return parse_client_frame(text, websocket=True)
