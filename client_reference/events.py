"""Builders for the GA client events the reference client sends (pure functions)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from .errors import UsageError

__all__ = [
    "Detail",
    "EventIds",
    "Modality",
    "image_message",
    "response_cancel",
    "response_create",
    "session_update",
    "text_message",
]

Modality = Literal["text", "audio"]
Detail = Literal["auto", "low", "high"]
MaxTokens = int | Literal["inf"]

ITEM_ID_PATTERN = re.compile(r"^[a-zA-Z0-9_-]+$")  # live rule, failure catalog 23
_MAX_ID_LENGTH = 32  # live ids are 26 characters; stay well within any server limit

# Beta-era session keys and their GA home (protocol notes §3.4, failure catalog 3): the
# live server rejects them with `unknown_parameter`, so refuse them before sending.
_BETA_SESSION_KEYS = {
    "modalities": "output_modalities",
    "voice": "audio.output.voice",
    "input_audio_format": "audio.input.format",
    "output_audio_format": "audio.output.format",
    "input_audio_transcription": "audio.input.transcription",
    "turn_detection": "audio.input.turn_detection",
    "input_audio_noise_reduction": "audio.input.noise_reduction",
    "speed": "audio.output.speed",
    "temperature": "(removed in GA)",
    "max_response_output_tokens": "max_output_tokens",
}


class EventIds:
    """Makes our client `event_id`s: `evt_1`, `evt_2`, … (unique per client)."""

    __slots__ = ("_count", "_prefix")

    def __init__(self, prefix: str = "evt") -> None:
        self._prefix = prefix
        self._count = 0

    def next(self) -> str:
        """Return the next id."""
        self._count += 1
        return f"{self._prefix}_{self._count}"


def session_update(
    *,
    event_id: str,
    instructions: str | None = None,
    output_modalities: Sequence[Modality] | None = None,
    max_output_tokens: MaxTokens | None = None,
    voice: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A GA `session.update` (`session.type: "realtime"`, nested `audio`)."""
    session: dict[str, Any] = {"type": "realtime"}
    for key, value in (extra or {}).items():
        if key in _BETA_SESSION_KEYS:
            raise UsageError(
                f"session key {key!r} is beta-era and rejected by the GA API; "
                f"use {_BETA_SESSION_KEYS[key]!r} instead"
            )
        session[key] = value
    if instructions is not None:
        session["instructions"] = _text(instructions, "instructions")
    if output_modalities is not None:
        session["output_modalities"] = _modalities(output_modalities)
    if max_output_tokens is not None:
        session["max_output_tokens"] = _max_tokens(max_output_tokens)
    if voice is not None:
        audio = session.setdefault("audio", {})
        audio.setdefault("output", {})["voice"] = voice
    return {"type": "session.update", "event_id": event_id, "session": session}


def image_message(
    *,
    event_id: str,
    item_id: str,
    data_url: str,
    text: str | None = None,
    detail: Detail | None = None,
) -> dict[str, Any]:
    """A `conversation.item.create` with a user message: the image, then optional text."""
    image: dict[str, Any] = {"type": "input_image", "image_url": data_url}
    if detail is not None:
        if detail not in ("auto", "low", "high"):
            raise UsageError(f"detail={detail!r} must be 'auto', 'low' or 'high'")
        image["detail"] = detail
    content = [image]
    if text:
        content.append({"type": "input_text", "text": text})
    return _user_message(event_id, item_id, content)


def text_message(*, event_id: str, item_id: str, text: str) -> dict[str, Any]:
    """A `conversation.item.create` with a user text message."""
    return _user_message(event_id, item_id, [{"type": "input_text", "text": _text(text, "text")}])


def response_create(
    *,
    event_id: str,
    instructions: str | None = None,
    output_modalities: Sequence[Modality] | None = None,
    max_output_tokens: MaxTokens | None = None,
    metadata: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A `response.create`; per-response values override the session for this response."""
    response: dict[str, Any] = {}
    if instructions is not None:
        response["instructions"] = _text(instructions, "instructions")
    if output_modalities is not None:
        response["output_modalities"] = _modalities(output_modalities)
    if max_output_tokens is not None:
        response["max_output_tokens"] = _max_tokens(max_output_tokens)
    if metadata is not None:
        response["metadata"] = dict(metadata)
    event: dict[str, Any] = {"type": "response.create", "event_id": event_id}
    if response:
        event["response"] = response
    return event


def response_cancel(*, event_id: str, response_id: str | None = None) -> dict[str, Any]:
    """A `response.cancel`, naming the response when known."""
    event: dict[str, Any] = {"type": "response.cancel", "event_id": event_id}
    if response_id is not None:
        event["response_id"] = response_id
    return event


def check_item_id(item_id: str) -> str:
    """Return `item_id` if the server will accept it as a client-chosen id."""
    if not ITEM_ID_PATTERN.fullmatch(item_id) or len(item_id) > _MAX_ID_LENGTH:
        raise UsageError(
            f"item_id={item_id!r} must be 1-{_MAX_ID_LENGTH} characters of "
            "letters, digits, '_' or '-'"
        )
    return item_id


def _user_message(event_id: str, item_id: str, content: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "conversation.item.create",
        "event_id": event_id,
        "item": {
            "id": check_item_id(item_id),
            "type": "message",
            "role": "user",
            "content": content,
        },
    }


def _modalities(value: Sequence[Modality]) -> list[Modality]:
    modalities: list[str] = [value] if isinstance(value, str) else list(value)
    if modalities == ["text"]:
        return ["text"]
    if modalities == ["audio"]:
        return ["audio"]
    raise UsageError(
        f"output_modalities={value!r} must be ['text'] or ['audio'] "
        "(GA allows one modality; audio output includes a transcript)"
    )


def _max_tokens(value: MaxTokens) -> MaxTokens:
    if value == "inf" or (isinstance(value, int) and not isinstance(value, bool) and value > 0):
        return value
    raise UsageError(f"max_output_tokens={value!r} must be a positive integer or 'inf'")


def _text(value: str, name: str) -> str:
    if not isinstance(value, str):
        raise UsageError(f"{name} must be a string, got {type(value).__name__}")
    return value
