"""Replay a recorded exchange through the core and report every rule it breaks."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from .conversation import Conversation, ModelLookup
from .session import decode_audio, event_type, plain_decode
from .states import FIRST_SERVER_EVENTS

Direction = Literal["client", "server"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SequenceProblem:
    """A rule broken at one frame of a transcript."""

    index: int  # position of the frame in the transcript
    direction: Direction  # who sent the offending frame
    event_type: str | None
    message: str
    code: str | None = None  # live error code for client problems, when one exists

    def __str__(self) -> str:
        return f"#{self.index} {self.direction} {self.event_type}: {self.message}"


def replay(
    frames: Iterable[tuple[Direction, str]],
    *,
    kind: str | None = None,
    models: ModelLookup | None = None,
) -> list[SequenceProblem]:
    """Check a transcript's frames, in order, against the protocol rules.

    `kind` is the session kind: `"translation"` replays with the translation rules
    (`replay_translation`); None detects it from the first server `session.created`
    (its `session.type`); anything else uses the realtime rules below.

    Server frames are checked for ordering (session.created first, response lifecycle,
    item references). Client frames are checked against the conversation as the server
    had it (one active response, the 100 ms commit rule, referenced items exist,
    nothing before session.created; a `response.cancel` with nothing active is a benign
    race and not reported). Frames that are not JSON objects are skipped: the schema
    checks report those. `models` looks up a model's facts for the rules that depend on
    it (`conformance.models.load_registry().get`); None skips those rules.
    """
    frames = list(frames)
    if kind is None:
        kind = _detect_kind(frames)
    if kind == "translation":
        from .translation import replay_translation  # it imports this module

        return replay_translation(frames)
    observer = _Observer(models)
    problems: list[SequenceProblem] = []
    for index, (direction, text) in enumerate(frames):
        event, findings = plain_decode(text)
        if event is None or findings:
            continue
        kind = event_type(event)
        for message, code in observer.observe(direction, event):
            problems.append(
                SequenceProblem(
                    index=index, direction=direction, event_type=kind, message=message, code=code
                )
            )
    return problems


def _detect_kind(frames: list[tuple[Direction, str]]) -> str:
    """`session.type` of the first server `session.created` (`"realtime"` without one)."""
    for direction, text in frames:
        if direction != "server" or '"session.created"' not in text:
            continue
        event, _ = plain_decode(text)
        session = event.get("session") if event is not None else None
        if event is not None and event.get("type") == "session.created":
            found = session.get("type") if isinstance(session, dict) else None
            return found if isinstance(found, str) else "realtime"
    return "realtime"


class _Observer:
    def __init__(self, models: ModelLookup | None = None) -> None:
        self.conversation = Conversation(models)
        self.opened = False

    def observe(self, direction: Direction, event: dict[str, Any]) -> list[tuple[str, str | None]]:
        if direction == "server":
            return [(p, None) for p in self._server(event)]
        return self._client(event)

    def _server(self, event: dict[str, Any]) -> list[str]:
        kind = event_type(event)
        problems = []
        if not self.opened:
            if kind == "session.created":
                self.opened = True
            elif kind not in FIRST_SERVER_EVENTS:
                raw = event.get("type")
                problems.append(f"the first server event must be session.created, not {raw!r}")
        elif kind == "session.created":
            problems.append("session.created sent twice")
        return problems + self.conversation.apply_server_event(event)

    def _client(self, event: dict[str, Any]) -> list[tuple[str, str | None]]:
        if not self.opened:
            return [(f"{event.get('type')!r} sent before session.created", None)]
        audio = decode_audio(event) if event.get("type") == "input_audio_buffer.append" else None
        finding = self.conversation.check_client_event(event, audio)
        if finding is not None and finding.code != "response_cancel_not_active":
            return [(finding.message, finding.code)]  # a cancel racing response.done is benign
        self.conversation.apply_client_event(event, audio)
        return []
