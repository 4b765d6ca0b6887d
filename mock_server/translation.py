"""Translation sessions: `/v1/realtime/translations?model=gpt-realtime-translate`.

`TranslationApp` is a `MockApp` (same outbox, pacing, hooks, transcripts, tolerant mode)
whose protocol core is `conformance.protocol.translation.TranslationSession` and whose
behaviour is `TranslationBehaviour` (protocol notes §2.3):

* `session.created` first, with the translation session object (`type: "translation"`);
* `session.update` may change `audio.output.language`, `audio.input.transcription` and
  `audio.input.noise_reduction` only (the schema refuses anything else with
  `unknown_parameter`), and answers `session.updated` with the whole session;
* `session.input_audio_buffer.append` takes 24 kHz PCM16 mono; the engine consumes it in
  200 ms frames (a short chunk waits for the rest of its frame, a long one is split);
  each frame that is not silence gives, in order, a `session.input_transcript.delta`
  (only with `audio.input.transcription` set), a `session.output_transcript.delta` and a
  `session.output_audio.delta` of 200 ms, all with the frame's `elapsed_ms` (its end:
  200, 400, …). The "translation" is deterministic: words of the target language picked
  by the frame number and the seed, append-only (a leading space, none on the first);
  the audio is `media.synth_pcm16`;
* `session.close` flushes the partial frame (padded with silence), then `session.closed`,
  then close 1000 [INFERRED: the close after session.closed];
* every other type (`response.create`, `input_audio_buffer.append`, …) gets the live-style
  `invalid_value` listing the three types [wording INFERRED, errata.yaml];
* with `audio_realtime` the engine takes 200 ms of wall time per frame, so a long append
  is translated at the speed of speech; otherwise each frame is answered at once.

Silent frames (no sample above `SILENCE_PEAK`) give no output [INFERRED: the live engine's
output for silence is not documented; clients are told to keep appending silence].
"""

from __future__ import annotations

import copy
import functools
import sys
from array import array
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import pybase64

from conformance import _json
from conformance.protocol import Finding, Received, Side
from conformance.protocol.translation import (
    APPEND,
    FRAME_MS,
    SAMPLE_RATE,
    FrameAssembler,
    TranslationSession,
)
from conformance.schemas import parse_translation_client_frame
from conformance.schemas._messages import invalid_value

from .app import MockApp, _Entry
from .behaviour import ConnectionView
from .media import synth_pcm16_b64

if TYPE_CHECKING:
    from .handshake import Accepted

# [INFERRED] the language of a session nobody configured (the spec's examples use "es").
DEFAULT_LANGUAGE: Final = "es"
SILENCE_PEAK: Final = 64  # a frame whose samples all stay within +-64 counts as silence
SOURCE_WORDS: Final = ("this", "is", "a", "simulated", "source", "transcript", "of", "speech")
TARGET_WORDS: Final = {
    "es": ("esta", "es", "una", "traducción", "simulada", "del", "servidor", "de", "prueba"),
    "fr": ("ceci", "est", "une", "traduction", "simulée", "du", "serveur", "de", "test"),
    "de": ("dies", "ist", "eine", "simulierte", "Übersetzung", "des", "Testservers"),
    "en": ("this", "is", "a", "simulated", "translation", "from", "the", "mock"),
}
CLOSE_AFTER_CLOSED: Final = (1000, "")  # [INFERRED] the socket closes after session.closed

_b64decode = functools.partial(pybase64.b64decode, validate=True)


def merge_translation_config(
    session: Mapping[str, Any], config: Mapping[str, Any]
) -> dict[str, Any]:
    """`session` with a translation client secret's `session` configuration applied
    (`audio.input.transcription`, `audio.input.noise_reduction`, `audio.output.language`)."""
    merged = copy.deepcopy(dict(session))
    audio = config.get("audio") or {}
    changes_in = audio.get("input") or {}
    for key in ("transcription", "noise_reduction"):
        if key in changes_in:
            merged["audio"]["input"][key] = copy.deepcopy(changes_in[key])
    if "language" in (audio.get("output") or {}):
        merged["audio"]["output"]["language"] = audio["output"]["language"]
    return merged


class TranslationApp(MockApp):
    """The mock for one connection to `/v1/realtime/translations` (no I/O)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.session = TranslationSession(  # type: ignore[assignment]
            Side.SERVER,
            decode=parse_translation_client_frame,
            encode=_json.dumps,
            audio_decoder=_b64decode,
        )
        self.behaviour = TranslationBehaviour(self)  # type: ignore[assignment]


class TranslationView(ConnectionView):
    """The `hooks.StateView` of a translation connection (no conversation, no responses)."""

    @property
    def active_response_id(self) -> str | None:
        return None

    @property
    def last_response_id(self) -> str | None:
        return None

    @property
    def last_item_id(self) -> str | None:
        return None

    @property
    def item_ids(self) -> Sequence[str]:
        return []

    @property
    def responses_started(self) -> int:
        return 0

    @property
    def conversation_id(self) -> str:
        return ""


class TranslationBehaviour:
    """The live-like answer to the three translation client events."""

    def __init__(self, app: MockApp) -> None:
        self.app = app
        self.view = TranslationView(self)
        self.kind = "translation"
        self.session: dict[str, Any] = {}
        self.frames = FrameAssembler()
        self.reply_override: str | None = None  # `set_reply_text`: the translated words
        self.pending_failures: list[Any] = []  # `fail_next_response`: no responses here
        self.last_client_event_id: str | None = None
        self._engine_free_at = 0.0  # virtual ms when the engine takes its next frame
        self._words = {"input": 0, "output": 0}  # deltas sent per transcript

    # ------------------------------------------------------------ lifecycle
    def start(self, accepted: Accepted) -> None:
        """The session object of a new translation session (spec key order)."""
        self.session = {
            "id": self.app.session_id,
            "type": "translation",
            "expires_at": int(self.app.started_at + self.app.config.session_max_duration),
            "model": accepted.model or "",
            "audio": {
                "input": {"transcription": None, "noise_reduction": None},
                "output": {"language": DEFAULT_LANGUAGE},
            },
        }
        if accepted.session is not None:  # an `ek_` client secret's configuration
            self.session = merge_translation_config(self.session, accepted.session)

    def send_session_created(self) -> None:
        """The first frame of every accepted connection."""
        self.app.send_event({"type": "session.created", "session": self.session})

    def expire(self) -> None:
        """The session reached its maximum duration: `session_expired`, then close 1001."""
        limit = self.app.config.session_max_duration
        amount = f"{limit / 60:g} minutes" if limit >= 60 else f"{limit:g} seconds"
        message = f"Your session hit the maximum duration of {amount}."
        self.app.send_error(Finding(code="session_expired", message=message))
        self.app.queue(_Entry("close", (1001, message)))

    def fill_previous_item(self, event: dict[str, Any]) -> None:
        """Nothing to fill: translation events reference no items."""

    # ------------------------------------------------------------ client events
    def handle_steps(self, received: Received, *, steps: bool = True) -> Iterator[None]:
        """`handle` in one step (the app's stepped path for a big frame)."""
        self.handle(received)
        yield from ()

    def handle(self, received: Received) -> None:
        """Answer one accepted client event."""
        event = received.event
        assert event is not None
        event_id = event.get("event_id")
        self.last_client_event_id = event_id if isinstance(event_id, str) else None
        kind = event["type"]
        if kind == APPEND:
            frames = self.frames.append(received.audio or b"")
            first = self.frames.frames - len(frames)
            for offset, frame in enumerate(frames):
                self._schedule(first + offset, frame)
        elif kind == "session.update":
            self._update(event)
        elif kind == "session.close":
            self._close()

    def _update(self, event: dict[str, Any]) -> None:
        audio = event["session"].get("audio") or {}
        changes_in = audio.get("input") or {}
        transcription = changes_in.get("transcription")
        if isinstance(transcription, dict):
            model = transcription.get("model")
            names = [m.name for m in self.app.registry.transcription_models]
            if model not in names:
                # [INFERRED] worded like the realtime endpoint's invalid_value
                code, message = invalid_value(model, names)
                param = "session.audio.input.transcription.model"
                self.app.send_error(
                    Finding(code=code, message=message, param=param, event_id=event.get("event_id"))
                )
                return
        current = self.session["audio"]
        for key in ("transcription", "noise_reduction"):
            if key in changes_in:
                current["input"][key] = changes_in[key]
        if "language" in (audio.get("output") or {}):
            current["output"]["language"] = audio["output"]["language"]
        self.app.send_event({"type": "session.updated", "session": self.session})

    def _close(self) -> None:
        last = self.frames.flush()
        if last is not None:
            self._schedule(self.frames.frames - 1, last)
        at = max(self.app.now_ms, self._engine_free_at)
        self.app.queue(_Entry("call", self._closed), at=at)

    def _closed(self) -> None:
        self.app.send_event({"type": "session.closed"})
        # The close is queued once session.closed went out (through the hooks), so a
        # scenario's close or drop fired by the deltas before it comes first.
        self.app.queue(_Entry("call", self._close_socket))

    def _close_socket(self) -> None:
        self.app.queue(_Entry("close", CLOSE_AFTER_CLOSED))

    # ------------------------------------------------------------ the engine
    def _schedule(self, number: int, frame: bytes) -> None:
        """Translate frame `number` when the engine is free (200 ms each in real time)."""
        at = max(self.app.now_ms, self._engine_free_at)
        if self.app.config.audio_realtime:
            self._engine_free_at = at + FRAME_MS
        self.app.queue(_Entry("call", lambda: self._translate(number, frame)), at=at)

    def _translate(self, number: int, frame: bytes) -> None:
        if _silent(frame):
            return
        elapsed = FrameAssembler.elapsed_ms(number)
        seed = self.app.config.seed + number
        if self.session["audio"]["input"]["transcription"] is not None:
            self._delta("input", SOURCE_WORDS, seed, elapsed)
        language = str(self.session["audio"]["output"]["language"])
        words = _target_words(language, self.reply_override)
        self._delta("output", words, seed, elapsed)
        audio, _ = synth_pcm16_b64(FRAME_MS, seed=seed)
        self.app.send_event(
            {
                "type": "session.output_audio.delta",
                "delta": audio,
                "sample_rate": SAMPLE_RATE,
                "channels": 1,
                "format": "pcm16",
                "elapsed_ms": elapsed,
            }
        )

    def _delta(self, which: str, words: Sequence[str], seed: int, elapsed: int) -> None:
        """One append-only word: no leading space on a transcript's first delta."""
        count = self._words[which]
        word = words[(seed if self.reply_override is None else count) % len(words)]
        self._words[which] = count + 1
        self.app.send_event(
            {
                "type": f"session.{which}_transcript.delta",
                "delta": word if count == 0 else f" {word}",
                "elapsed_ms": elapsed,
            }
        )


def _silent(frame: bytes) -> bool:
    samples = array("h")
    samples.frombytes(frame[: len(frame) - len(frame) % 2])
    if sys.byteorder == "big":
        samples.byteswap()  # PCM16 on the wire is little-endian
    return not samples or (max(samples) <= SILENCE_PEAK and min(samples) >= -SILENCE_PEAK)


def _target_words(language: str, override: str | None) -> Sequence[str]:
    if override is not None and override.split():
        return override.split()
    base = language.split("-", 1)[0].lower()
    return TARGET_WORDS.get(base) or tuple(f"{base}:{w}" for w in SOURCE_WORDS)


__all__: Sequence[str] = ["TranslationApp", "TranslationBehaviour"]
