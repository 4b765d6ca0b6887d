"""Translation sessions (`/v1/realtime/translations`): the sans-I/O state machine.

A translation session is not a conversation: the client streams 24 kHz PCM16 mono audio
(`session.input_audio_buffer.append`), the server answers with append-only transcript
deltas and translated audio, and either side ends it (`session.close` flushes what is
pending, then `session.closed`). Protocol notes §1.1 and §2.3; spec
`RealtimeTranslationClientEvent` / `RealtimeTranslationServerEvent`.

Machines (h11 style, as `states.py` for realtime sessions):

1. Lifecycle: CONNECTING until `session.created` (an `error` may come first: a refused
   handshake); OPEN; CLOSING once the client sent `session.close`; CLOSED after
   `session.closed` or when the socket is gone. Nothing follows `session.closed`.
2. Input audio: appended bytes are cut into 200 ms engine frames (`FRAME_BYTES`); a short
   chunk waits for the rest of its frame, a long one is split (`FrameAssembler`).
   `session.close` flushes the partial frame.
3. Output alignment: `elapsed_ms` of the three delta types is a multiple of 200 ms and never
   goes back within one delta type (deltas may share a value).

`TranslationSession` offers the surface of `Session` (`receive`, `receive_text`,
`receive_bytes`, `events_received`, `send`, `data_to_send`, `connection_closed`), so the
mock app and the checks drive either kind the same way. `replay_translation` judges a
recorded exchange; `replay()` picks it by itself for a translation transcript.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any, Final

from .errors import LocalProtocolError, RemoteProtocolError
from .findings import Finding
from .replay import Direction, SequenceProblem
from .rules import bad_audio
from .session import (
    PROTOCOL_ERROR,
    AudioDecoder,
    Decoder,
    Encoder,
    Endpoint,
    Received,
    decode_audio,
    event_type,
    plain_decode,
)
from .states import FIRST_SERVER_EVENTS, Side

TRANSLATIONS_PATH: Final = "/v1/realtime/translations"
SESSION_KIND: Final = "translation"
SAMPLE_RATE: Final = 24000  # Hz; PCM16 mono little-endian only
FRAME_MS: Final = 200  # the engine's frame
BYTES_PER_MS: Final = SAMPLE_RATE * 2 // 1000  # 48
FRAME_BYTES: Final = FRAME_MS * BYTES_PER_MS  # 9600
APPEND: Final = "session.input_audio_buffer.append"
CLIENT_TYPES: Final = ("session.update", APPEND, "session.close")
SERVER_TYPES: Final = (
    "error",
    "session.created",
    "session.updated",
    "session.closed",
    "session.input_transcript.delta",
    "session.output_transcript.delta",
    "session.output_audio.delta",
)
DELTA_TYPES: Final = frozenset(
    {
        "session.input_transcript.delta",
        "session.output_transcript.delta",
        "session.output_audio.delta",
    }
)


class TranslationState(StrEnum):
    """Machine 1: one translation connection."""

    CONNECTING = "connecting"  # upgrade done, `session.created` not seen yet
    OPEN = "open"
    CLOSING = "closing"  # the client sent `session.close`; the server flushes
    CLOSED = "closed"  # `session.closed` sent, or the socket is gone
    ERROR = "error"  # we sent something illegal (server side): nothing more goes out


def is_translation_path(path: str) -> bool:
    """True for `/v1/realtime/translations`, also under a path prefix (`/relay/v1/…`)."""
    return path.rstrip("/").endswith(TRANSLATIONS_PATH)


def session_kind(meta: Mapping[str, Any]) -> str:
    """`"translation"` for a transcript of the translations endpoint, else `"realtime"`.

    Reads the transcript's `meta`: its `kind` (written by the mock), else its `path`.
    """
    if meta.get("kind") == SESSION_KIND:
        return SESSION_KIND
    path = meta.get("path")
    return SESSION_KIND if isinstance(path, str) and is_translation_path(path) else "realtime"


def after_close(kind: str | None, event_id: str | None) -> Finding:
    """A client event after `session.close` (inferred: code and wording not seen live)."""
    return Finding(
        code="session_closing",
        message=f"The session is closing: '{kind}' was sent after session.close.",
        event_id=event_id,
        hint="send nothing after session.close; wait for session.closed",
    )


class FrameAssembler:
    """Cuts appended PCM16 bytes into 200 ms engine frames (machine 2)."""

    __slots__ = ("_pending", "frames")

    def __init__(self) -> None:
        self._pending = bytearray()
        self.frames = 0  # frames handed out so far

    @property
    def pending_bytes(self) -> int:
        """Bytes waiting for the rest of their frame."""
        return len(self._pending)

    def append(self, audio: bytes) -> list[bytes]:
        """Add audio; return the whole frames it completes, in order."""
        self._pending += audio
        out = []
        while len(self._pending) >= FRAME_BYTES:
            out.append(bytes(self._pending[:FRAME_BYTES]))
            del self._pending[:FRAME_BYTES]
        self.frames += len(out)
        return out

    def flush(self) -> bytes | None:
        """The partial frame padded with silence to 200 ms (`session.close`), or None."""
        if not self._pending:
            return None
        frame = bytes(self._pending) + bytes(FRAME_BYTES - len(self._pending))
        self._pending.clear()
        self.frames += 1
        return frame

    @staticmethod
    def elapsed_ms(frame_number: int) -> int:
        """`elapsed_ms` of the output of frame `frame_number` (from 0): its end, in ms."""
        return (frame_number + 1) * FRAME_MS


class _Rules:
    """The rules of one exchange, fed both directions in order (machines 1 and 3)."""

    def __init__(self) -> None:
        self.state = TranslationState.CONNECTING
        self.config: Mapping[str, Any] | None = None
        self.audio_bytes = 0  # appended by the client and accepted
        self._elapsed: dict[str, int] = {}

    def client_problem(self, event: Mapping[str, Any], audio: bytes | None) -> Finding | None:
        """Why the server refuses this (schema-valid) client event now, or None."""
        kind = event_type(event)
        event_id = event.get("event_id")
        event_id = event_id if isinstance(event_id, str) else None
        if self.state in (TranslationState.CLOSING, TranslationState.CLOSED):
            return after_close(kind, event_id)
        if kind == APPEND and audio is None:
            return bad_audio(event_id)
        return None

    def apply_client(self, event: Mapping[str, Any], audio: bytes | None) -> None:
        kind = event_type(event)
        if kind == APPEND and audio is not None:
            self.audio_bytes += len(audio)
        elif kind == "session.close" and self.state is TranslationState.OPEN:
            self.state = TranslationState.CLOSING

    def server_problems(self, event: Mapping[str, Any]) -> list[str]:
        """Ordering rules broken by this server event (applied either way)."""
        kind = event_type(event)
        if self.state is TranslationState.CONNECTING:
            if kind == "session.created":
                self.state = TranslationState.OPEN
            elif kind not in FIRST_SERVER_EVENTS:
                return [f"the first server event must be session.created, not {kind!r}"]
        elif self.state is TranslationState.CLOSED:
            return [f"{kind} after session.closed"]
        elif kind == "session.created":
            return ["session.created sent twice"]
        if kind in ("session.created", "session.updated"):
            session = event.get("session")
            if isinstance(session, Mapping):
                self.config = session
        elif kind == "session.closed":
            self.state = TranslationState.CLOSED
        elif kind in DELTA_TYPES:
            return self._alignment(str(kind), event.get("elapsed_ms"))
        return []

    def _alignment(self, kind: str, elapsed: object) -> list[str]:
        if not isinstance(elapsed, int) or isinstance(elapsed, bool):
            return []  # null or absent: no alignment claimed
        problems = []
        if elapsed < 0 or elapsed % FRAME_MS:
            problems.append(f"{kind} elapsed_ms {elapsed} is not a multiple of {FRAME_MS} ms")
        last = self._elapsed.get(kind)
        if last is not None and elapsed < last:
            problems.append(f"{kind} elapsed_ms went back from {last} to {elapsed}")
        self._elapsed[kind] = max(elapsed, last or 0)
        return problems


class TranslationSession(Endpoint):
    """Protocol state of one translation connection from `side`'s point of view.

    The same surface as `Session`: the server side judges client frames (findings in the
    live `error` vocabulary) and refuses its own illegal sends (`LocalProtocolError`);
    the client side judges server frames (`errors`) and refuses sends before
    `session.created` or after `session.close`.
    """

    def __init__(
        self,
        side: Side,
        *,
        decode: Decoder | None = None,
        encode: Encoder | None = None,
        audio_decoder: AudioDecoder | None = None,
        strict: bool = True,
    ) -> None:
        super().__init__(
            side, decode=decode, encode=encode, audio_decoder=audio_decoder, strict=strict
        )
        self._rules = _Rules()
        self._failed = False

    @property
    def state(self) -> TranslationState:
        """CONNECTING, OPEN, CLOSING (after `session.close`), CLOSED, or ERROR."""
        return TranslationState.ERROR if self._failed else self._rules.state

    @property
    def config(self) -> Mapping[str, Any] | None:
        """The session object of the latest session.created / session.updated."""
        return self._rules.config

    @property
    def audio_ms(self) -> float:
        """Milliseconds of input audio accepted so far (24 kHz PCM16)."""
        return self._rules.audio_bytes / BYTES_PER_MS

    # ------------------------------------------------------------ peer input
    def receive(self, text: str) -> Received:
        """Judge one text frame from the peer and return it at once."""
        index = self._peer_index
        self._peer_index += 1
        event, findings = self._decode(text)
        if event is None or findings:
            return Received(index, text, event, tuple(findings))
        if self.side is Side.SERVER:
            audio = decode_audio(event, self._audio_decoder) if event["type"] == APPEND else None
            finding = self._rules.client_problem(event, audio)
            if finding is not None:
                return Received(index, text, event, (finding,))
            self._rules.apply_client(event, audio)
            return Received(index, text, event, (), audio)
        problems = self._rules.server_problems(event)
        kind = event_type(event)
        for problem in problems:
            self.errors.append(RemoteProtocolError(problem, index=index, event_type=kind))
        found = tuple(
            Finding(type=PROTOCOL_ERROR, code="event_out_of_order", message=p) for p in problems
        )
        return Received(index, text, event, found)

    def connection_closed(self) -> None:
        """Record that the WebSocket is gone; nothing more can be sent."""
        self._rules.state = TranslationState.CLOSED

    # ------------------------------------------------------------ own output
    def send(self, event: Mapping[str, Any]) -> str:
        """Queue one of our own events; return its text frame.

        Raises:
            LocalProtocolError: `strict` and the event is illegal now (a server event out
                of order or misaligned; a client event before `session.created` or after
                `session.close`). A refused server event ends the session (ERROR).
        """
        kind = event_type(event)
        if self.state is TranslationState.ERROR or (
            self._rules.state is TranslationState.CLOSED
            and not (self.side is Side.SERVER and kind == "session.closed")
        ):
            raise LocalProtocolError(f"cannot send {kind!r}: the session is {self.state.value}")
        if self.side is Side.SERVER:
            problems = self._rules.server_problems(event)
            if problems and self.strict:
                self._failed = True
        else:
            problems = self._client_send_problems(event)
        if problems and self.strict:
            raise LocalProtocolError(f"{kind}: {problems[0]}")
        return self._queue(event)

    def _client_send_problems(self, event: Mapping[str, Any]) -> list[str]:
        kind = event_type(event)
        if self._rules.state is TranslationState.CONNECTING:
            return [f"wait for session.created before sending {kind!r}"]
        audio = decode_audio(event, self._audio_decoder) if kind == APPEND else None
        finding = self._rules.client_problem(event, audio)
        if finding is not None and self.strict:
            return [finding.message]
        self._rules.apply_client(event, audio)
        return []


def replay_translation(frames: Iterable[tuple[Direction, str]]) -> list[SequenceProblem]:
    """Check a translation transcript's frames, in order, against the rules above.

    Client frames: nothing before `session.created`, nothing after `session.close`,
    append audio that is base64. Server frames: `session.created` first, nothing after
    `session.closed`, `elapsed_ms` aligned to 200 ms and never going back. Frames that
    are not JSON objects are skipped (the schema checks report those).
    """
    rules = _Rules()
    problems: list[SequenceProblem] = []
    for index, (direction, text) in enumerate(frames):
        event, findings = plain_decode(text)
        if event is None or findings:
            continue
        kind = event_type(event)
        found: list[tuple[str, str | None]] = []
        if direction == "server":
            found = [(p, None) for p in rules.server_problems(event)]
        elif rules.state is TranslationState.CONNECTING:
            found = [(f"{event.get('type')!r} sent before session.created", None)]
        else:
            audio = decode_audio(event) if kind == APPEND else None
            finding = rules.client_problem(event, audio)
            if finding is not None:
                found = [(finding.message, finding.code)]
            else:
                rules.apply_client(event, audio)
        problems += [
            SequenceProblem(
                index=index, direction=direction, event_type=kind, message=message, code=code
            )
            for message, code in found
        ]
    return problems
