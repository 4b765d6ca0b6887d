"""Live-worded rejections of client events that break a conversation rule.

Each function returns the `Finding` the live server would answer with, or None. The
wording comes from the protocol notes §6.2 and the failure catalog; where the live text
is not known the message is marked "inferred" in a comment.
"""

from __future__ import annotations

from .findings import Finding

# Transcription models without VAD: `turn_detection` must be null (spec, AudioTranscription).
NO_VAD_TRANSCRIPTION_MODELS = frozenset({"gpt-realtime-whisper"})


def active_response(response_id: str, event_id: str | None) -> Finding:
    """`response.create` while a default-conversation response is active (catalog 1)."""
    return Finding(
        code="conversation_already_has_active_response",
        message=(
            f"Conversation already has an active response in progress: {response_id}. "
            "Wait until the response is finished before creating a new one."
        ),
        event_id=event_id,
        hint="wait for response.done before sending the next response.create",
    )


def cancel_not_active(event_id: str | None) -> Finding:
    """`response.cancel` with nothing to cancel (catalog 5)."""
    return Finding(
        code="response_cancel_not_active",
        message="Cancellation failed: no active response found",
        event_id=event_id,
        hint="this error is harmless: the response had already finished",
    )


def commit_empty(buffered_ms: float, event_id: str | None) -> Finding:
    """`input_audio_buffer.commit` with less than 100 ms buffered (catalog 8)."""
    return Finding(
        code="input_audio_buffer_commit_empty",
        message=(
            "Error committing input audio buffer: buffer too small. Expected at least "
            f"100ms of audio, but buffer only has {buffered_ms:.2f}ms of audio."
        ),
        event_id=event_id,
        hint="with server_vad turn detection the server commits by itself; do not commit too",
    )


def unknown_item(code: str, verb: str, item_id: str, event_id: str | None) -> Finding:
    """delete / retrieve / truncate of an item id the conversation does not have (catalog 23)."""
    return Finding(
        code=code,
        message=f"Error {verb} item: the item with id '{item_id}' does not exist.",
        param="item_id",
        event_id=event_id,
    )


def unknown_previous_item(item_id: str, event_id: str | None) -> Finding:
    """`previous_item_id` that names no item (inferred wording: no live capture)."""
    return Finding(
        code="invalid_value",
        message=f"Error adding item: the previous item with id '{item_id}' does not exist.",
        param="previous_item_id",
        event_id=event_id,
        hint="omit previous_item_id to append, or use 'root' to insert first",
    )


def duplicate_item(item_id: str, event_id: str | None) -> Finding:
    """A client-chosen item id that is already used (catalog 23, Azure GA wording)."""
    return Finding(
        code="item_create_duplicate_item_id",
        message=f"Error adding item: an item with id '{item_id}' already exists.",
        param="item.id",
        event_id=event_id,
    )


def unknown_call_id(call_id: str, event_id: str | None) -> Finding:
    """A `function_call_output` for a call the conversation does not have (catalog 24)."""
    return Finding(
        code="invalid_tool_call_id",
        message=f"Tool call ID '{call_id}' not found in conversation.",
        param=None,  # live sends param null here (issue 13, divergence 9)
        event_id=event_id,
    )


def assistant_audio_content(index: int, event_id: str | None) -> Finding:
    """Replaying assistant `output_audio` content, which clients cannot create (catalog 30)."""
    return Finding(
        code="missing_required_parameter",
        message=f"Missing required parameter: 'item.content[{index}].text'.",
        param=f"item.content[{index}].text",
        event_id=event_id,
        hint="send assistant history as output_text with the transcript as text",
    )


def truncate_not_audio(event_id: str | None) -> Finding:
    """Truncating an item that holds no model output audio (catalog 6)."""
    return Finding(
        code="unsupported_content_type",
        message="Only model output audio messages can be truncated",
        event_id=event_id,
    )


def truncate_too_long(have_ms: int, want_ms: int, event_id: str | None) -> Finding:
    """`audio_end_ms` beyond the audio the item holds (catalog 6)."""
    return Finding(
        code="invalid_value",
        message=f"Audio content of {have_ms}ms is already shorter than {want_ms}ms",
        param="audio_end_ms",
        event_id=event_id,
        hint="clamp audio_end_ms to the audio actually received and played",
    )


def bad_audio(event_id: str | None) -> Finding:
    """`input_audio_buffer.append` whose audio is not base64 (catalog 16)."""
    return Finding(
        code="invalid_value",
        message=(
            "Invalid 'audio'. Expected base64-encoded audio bytes (mono PCM16 at 24kHz) "
            "but got an invalid value."
        ),
        param="audio",
        event_id=event_id,
    )


def voice_locked(event_id: str | None) -> Finding:
    """Changing the voice once assistant audio exists (catalog 25)."""
    return Finding(
        code="cannot_update_voice",
        message="Cannot update a conversation's voice if assistant audio is present.",
        event_id=event_id,
        hint="set the voice in the first session.update, before any audio response",
    )


def unknown_reference(index: int, item_id: str, event_id: str | None) -> Finding:
    """An `item_reference` in `response.input` naming no item (inferred wording, code and
    param: modelled on the item-id errors of catalog 23)."""
    return Finding(
        code="invalid_value",
        message=f"Error creating response: the item with id '{item_id}' does not exist.",
        param=f"response.input[{index}].id",
        event_id=event_id,
        hint="reference an item that is in the conversation (not deleted), or send the item",
    )


def truncate_wrong_part(index: int, event_id: str | None) -> Finding:
    """`content_index` that is not the item's audio part (inferred wording: the spec says
    only that it "should be 0")."""
    return Finding(
        code="invalid_value",
        message=f"Invalid 'content_index': the item has no audio content at index {index}.",
        param="content_index",
        event_id=event_id,
        hint="assistant audio items have one content part: send content_index 0",
    )


def reasoning_unsupported(param: str, model: str, event_id: str | None) -> Finding:
    """`reasoning` on a model without reasoning (inferred wording: the Chat Completions
    text for reasoning_effort; protocol notes §3.1 say the live rejection is unverified)."""
    return Finding(
        code="unsupported_parameter",
        message=f"Unsupported parameter: '{param}' is not supported with this model.",
        param=param,
        event_id=event_id,
        hint=f"{model} has no reasoning; only the gpt-realtime-2 family takes reasoning.effort",
    )


def tracing_locked(event_id: str | None) -> Finding:
    """Changing `tracing` once it is set (inferred wording: the spec says only that it
    "cannot be modified" once enabled)."""
    return Finding(
        code="invalid_value",
        message="Tracing cannot be modified once it has been enabled for a session.",
        param="session.tracing",
        event_id=event_id,
        hint="set tracing once, in the first session.update; open a new session to change it",
    )


def vad_unsupported(model: str, event_id: str | None) -> Finding:
    """Turn detection with `gpt-realtime-whisper`, which needs `turn_detection: null`
    (spec text; inferred wording)."""
    return Finding(
        code="invalid_value",
        message=(
            f"Turn detection is not supported with the transcription model '{model}'; "
            "set 'turn_detection' to null."
        ),
        param="session.audio.input.turn_detection",
        event_id=event_id,
        hint="commit the audio yourself (input_audio_buffer.commit) with this model",
    )


def unknown_tool_choice(param: str, name: str, event_id: str | None) -> Finding:
    """`tool_choice` naming a function that is not among the tools (inferred wording)."""
    return Finding(
        code="invalid_value",
        message=f"Invalid '{param}': no function named '{name}' in the tools.",
        param=param,
        event_id=event_id,
        hint="define the function in tools, or choose 'auto' / 'required'",
    )


def above_model_limit(
    param: str, model: str, limit: int, value: int, event_id: str | None
) -> Finding:
    """`max_output_tokens` above the session model's limit (models.yaml), worded like the
    schema's range errors [wording INFERRED; erratum max-output-tokens-bounds]."""
    return Finding(
        code="integer_above_max_value",
        message=(
            f"Invalid '{param}': integer above maximum value. Expected a value <= {limit}, "
            f"but got {value} instead."
        ),
        param=param,
        event_id=event_id,
        hint=f'{model} writes at most {limit} tokens; or send "inf"',
    )
