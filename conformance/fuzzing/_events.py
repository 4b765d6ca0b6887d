"""Live-ordered GA server events, as the protocol notes (§5a, §5d, §5e) describe them.

Plain functions returning plain dicts, without `event_id`s (the stream assigns them, or
the mock does when a scenario sends them). Every event is schema-valid and every
response passes `replay()` with no server-side problem (tests/properties check both).
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

Event = dict[str, Any]
PCM_BYTES_PER_MS: Final = 48  # audio/pcm: PCM16 mono at 24 kHz
_PCM: Final = {"type": "audio/pcm", "rate": 24000}
_USAGE: Final = {
    "total_tokens": 30,
    "input_tokens": 20,
    "output_tokens": 10,
    "input_token_details": {"text_tokens": 20, "audio_tokens": 0, "cached_tokens": 0},
    "output_token_details": {"text_tokens": 10, "audio_tokens": 0},
}


def session_created(session_id: str, model: str = "gpt-realtime") -> Event:
    """The live `session.created` of a realtime session with server VAD (§3.1, §5a)."""
    vad = {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 200,
        "idle_timeout_ms": None,
        "create_response": True,
        "interrupt_response": True,
    }
    session = {
        "type": "realtime",
        "object": "realtime.session",
        "id": session_id,
        "model": model,
        "output_modalities": ["audio"],
        "instructions": "",
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "tracing": None,
        "truncation": "auto",
        "prompt": None,
        "expires_at": 1_700_003_600,
        "audio": {
            "input": {
                "format": dict(_PCM),
                "transcription": None,
                "noise_reduction": None,
                "turn_detection": vad,
            },
            "output": {"format": dict(_PCM), "voice": "alloy", "speed": 1.0},
        },
        "include": None,
    }
    return {"type": "session.created", "session": session}


def rate_limits_updated(remaining: int = 39_970) -> Event:
    """`rate_limits.updated` as live sends it after each response.done (§7)."""
    limits = [{"name": "tokens", "limit": 40_000, "remaining": remaining, "reset_seconds": 0.1}]
    return {"type": "rate_limits.updated", "rate_limits": limits}


def _body(
    response_id: str, conversation_id: str | None, modality: str, status: str, output: list[Event]
) -> Event:
    return {
        "object": "realtime.response",
        "id": response_id,
        "status": status,
        "status_details": None,
        "output": output,
        "conversation_id": conversation_id,
        "output_modalities": [modality],
        "max_output_tokens": "inf",
        "audio": {"output": {"format": dict(_PCM), "voice": "alloy"}},
        "usage": None,
        "metadata": None,
    }


def _message(item_id: str, status: str, content: list[Event]) -> Event:
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": copy.deepcopy(content),  # each event gets its own (callers may edit one)
    }


@dataclass(frozen=True, slots=True)
class _Reply:
    """The ids of one response, and the shapes of its events."""

    response_id: str
    item_id: str
    modality: str
    conversation_id: str | None
    previous_item_id: str | None

    def body(self, status: str, output: list[Event]) -> Event:
        return _body(self.response_id, self.conversation_id, self.modality, status, output)

    def scoped(self) -> Event:
        return {"response_id": self.response_id, "item_id": self.item_id, "output_index": 0,
                "content_index": 0}  # fmt: skip

    def output_item(self, kind: str, item: Event) -> Event:
        return {"type": kind, "response_id": self.response_id, "output_index": 0, "item": item}

    def conversation_item(self, kind: str, item: Event) -> list[Event]:
        """`conversation.item.*`: only for a response in the default conversation (§5j)."""
        if self.conversation_id is None:
            return []
        return [{"type": kind, "previous_item_id": self.previous_item_id, "item": item}]

    def part(self, kind: str, part: Event) -> Event:
        return {"type": kind, **self.scoped(), "part": part}


def text_response(
    response_id: str,
    item_id: str,
    deltas: Sequence[str],
    *,
    conversation_id: str | None,
    previous_item_id: str | None,
) -> list[Event]:
    """A text response in live order (§5d steps 2-11): `deltas` join to its text."""
    reply = _Reply(response_id, item_id, "text", conversation_id, previous_item_id)
    text = "".join(deltas)
    streamed = [
        {"type": "response.output_text.delta", **reply.scoped(), "delta": d, "obfuscation": "x"}
        for d in deltas
    ]
    streamed.append({"type": "response.output_text.done", **reply.scoped(), "text": text})
    parts = ({"type": "text", "text": ""}, {"type": "text", "text": text})
    return _response(reply, parts, streamed, [{"type": "output_text", "text": text}])


def audio_response(
    response_id: str,
    item_id: str,
    deltas: Sequence[str],
    *,
    conversation_id: str | None,
    previous_item_id: str | None,
) -> list[Event]:
    """An audio response in live order (§5e): transcript deltas, each with a bit of audio."""
    reply = _Reply(response_id, item_id, "audio", conversation_id, previous_item_id)
    transcript, scoped = "".join(deltas), reply.scoped()
    sound = base64.b64encode(bytes(10 * PCM_BYTES_PER_MS)).decode()
    streamed: list[Event] = []
    for delta in deltas:
        streamed.append({"type": "response.output_audio_transcript.delta", **scoped,
                         "delta": delta, "obfuscation": "x"})  # fmt: skip
        streamed.append({"type": "response.output_audio.delta", **scoped, "delta": sound})
    streamed.append({"type": "response.output_audio.done", **scoped})
    streamed.append(
        {"type": "response.output_audio_transcript.done", **scoped, "transcript": transcript}
    )
    parts = ({"type": "audio", "transcript": ""}, {"type": "audio", "transcript": transcript})
    return _response(reply, parts, streamed, [{"type": "output_audio", "transcript": transcript}])


def _response(
    reply: _Reply, parts: tuple[Event, Event], streamed: list[Event], content: list[Event]
) -> list[Event]:
    item_id = reply.item_id
    done = {**reply.body("completed", [_message(item_id, "completed", content)]), "usage": _USAGE}
    return [
        {"type": "response.created", "response": reply.body("in_progress", [])},
        reply.output_item("response.output_item.added", _message(item_id, "in_progress", [])),
        *reply.conversation_item("conversation.item.added", _message(item_id, "in_progress", [])),
        reply.part("response.content_part.added", parts[0]),
        *streamed,
        reply.part("response.content_part.done", parts[1]),
        # §5d steps 9-10: live sends conversation.item.done before response.output_item.done
        *reply.conversation_item("conversation.item.done", _message(item_id, "completed", content)),
        reply.output_item("response.output_item.done", _message(item_id, "completed", content)),
        {"type": "response.done", "response": done},
    ]
