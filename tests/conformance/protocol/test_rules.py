"""`Finding` and the live-worded rejections of rules.py (protocol notes §6.1, §6.2)."""

import inspect

import pytest

from conformance.protocol import INVALID_REQUEST_ERROR, Finding, rules

# (rule call, code, live message, param): the wording of §6.2 and the failure catalog.
LIVE_WORDING = [
    pytest.param(
        lambda: rules.active_response("resp_1", "evt_1"),
        "conversation_already_has_active_response",
        "Conversation already has an active response in progress: resp_1. "
        "Wait until the response is finished before creating a new one.",
        None,
        id="active_response",
    ),
    pytest.param(
        lambda: rules.cancel_not_active("evt_1"),
        "response_cancel_not_active",
        "Cancellation failed: no active response found",
        None,
        id="cancel_not_active",
    ),
    pytest.param(
        lambda: rules.commit_empty(0.0, "evt_1"),
        "input_audio_buffer_commit_empty",
        "Error committing input audio buffer: buffer too small. Expected at least 100ms of "
        "audio, but buffer only has 0.00ms of audio.",
        None,
        id="commit_empty",
    ),
    pytest.param(
        lambda: rules.unknown_item("item_delete_invalid_item_id", "deleting", "X", "evt_1"),
        "item_delete_invalid_item_id",
        "Error deleting item: the item with id 'X' does not exist.",
        "item_id",
        id="unknown_item",
    ),
    pytest.param(
        lambda: rules.unknown_previous_item("item_9", "evt_1"),
        "invalid_value",
        "Error adding item: the previous item with id 'item_9' does not exist.",
        "previous_item_id",
        id="unknown_previous_item",
    ),
    pytest.param(
        lambda: rules.duplicate_item("item_1", "evt_1"),
        "item_create_duplicate_item_id",
        "Error adding item: an item with id 'item_1' already exists.",
        "item.id",
        id="duplicate_item",
    ),
    pytest.param(
        lambda: rules.unknown_call_id("call_X", "evt_1"),
        "invalid_tool_call_id",
        "Tool call ID 'call_X' not found in conversation.",
        None,
        id="unknown_call_id",
    ),
    pytest.param(
        lambda: rules.assistant_audio_content(0, "evt_1"),
        "missing_required_parameter",
        "Missing required parameter: 'item.content[0].text'.",
        "item.content[0].text",
        id="assistant_audio_content",
    ),
    pytest.param(
        lambda: rules.truncate_not_audio("evt_1"),
        "unsupported_content_type",
        "Only model output audio messages can be truncated",
        None,
        id="truncate_not_audio",
    ),
    pytest.param(
        lambda: rules.truncate_too_long(9250, 57340, "evt_1"),
        "invalid_value",
        "Audio content of 9250ms is already shorter than 57340ms",
        "audio_end_ms",
        id="truncate_too_long",
    ),
    pytest.param(
        lambda: rules.bad_audio("evt_1"),
        "invalid_value",
        "Invalid 'audio'. Expected base64-encoded audio bytes (mono PCM16 at 24kHz) "
        "but got an invalid value.",
        "audio",
        id="bad_audio",
    ),
    pytest.param(
        lambda: rules.voice_locked("evt_1"),
        "cannot_update_voice",
        "Cannot update a conversation's voice if assistant audio is present.",
        None,
        id="voice_locked",
    ),
    # Issue 13 (divergences 5 and 8): wording INFERRED, no live capture.
    pytest.param(
        lambda: rules.unknown_reference(1, "item_X", "evt_1"),
        "invalid_value",
        "Error creating response: the item with id 'item_X' does not exist.",
        "response.input[1].id",
        id="unknown_reference",
    ),
    pytest.param(
        lambda: rules.truncate_wrong_part(1, "evt_1"),
        "invalid_value",
        "Invalid 'content_index': the item has no audio content at index 1.",
        "content_index",
        id="truncate_wrong_part",
    ),
    pytest.param(
        lambda: rules.reasoning_unsupported("session.reasoning", "gpt-realtime", "evt_1"),
        "unsupported_parameter",
        "Unsupported parameter: 'session.reasoning' is not supported with this model.",
        "session.reasoning",
        id="reasoning_unsupported",
    ),
    pytest.param(
        lambda: rules.tracing_locked("evt_1"),
        "invalid_value",
        "Tracing cannot be modified once it has been enabled for a session.",
        "session.tracing",
        id="tracing_locked",
    ),
    pytest.param(
        lambda: rules.vad_unsupported("gpt-realtime-whisper", "evt_1"),
        "invalid_value",
        "Turn detection is not supported with the transcription model 'gpt-realtime-whisper'; "
        "set 'turn_detection' to null.",
        "session.audio.input.turn_detection",
        id="vad_unsupported",
    ),
    pytest.param(
        lambda: rules.unknown_tool_choice("session.tool_choice.name", "nope", "evt_1"),
        "invalid_value",
        "Invalid 'session.tool_choice.name': no function named 'nope' in the tools.",
        "session.tool_choice.name",
        id="unknown_tool_choice",
    ),
    pytest.param(
        lambda: rules.above_model_limit(
            "session.max_output_tokens", "gpt-realtime", 4096, 5000, "evt_1"
        ),
        "integer_above_max_value",
        "Invalid 'session.max_output_tokens': integer above maximum value. Expected a value "
        "<= 4096, but got 5000 instead.",
        "session.max_output_tokens",
        id="above_model_limit",
    ),
]


@pytest.mark.parametrize(("make", "code", "message", "param"), LIVE_WORDING)
def test_each_rule_words_its_rejection_as_the_live_server_does(make, code, message, param):
    """§6.2: code, message and param as captured live; the client event id is echoed."""
    finding = make()
    assert (finding.type, finding.code, finding.message, finding.param) == (
        INVALID_REQUEST_ERROR,
        code,
        message,
        param,
    )
    assert finding.event_id == "evt_1"


def test_rule_functions_are_all_covered_by_the_wording_table():
    """Every public function of rules.py has a row above (a new rule needs its wording test)."""
    public = {
        name
        for name, value in vars(rules).items()
        if inspect.isfunction(value) and value.__module__ == rules.__name__
    }
    assert public == {param.id for param in LIVE_WORDING}


def test_commit_empty_shows_the_buffered_milliseconds_with_two_decimals():
    """Catalog 8: "...but buffer only has 0.00ms of audio."; any amount keeps two decimals."""
    assert rules.commit_empty(41.666, None).message.endswith("buffer only has 41.67ms of audio.")


class TestFinding:
    def test_error_body_has_all_five_live_keys_with_explicit_nulls(self):
        """§6.1: live frames always carry type, code, message, param, event_id (nulls kept)."""
        finding = Finding(code=None, message="Missing bearer", hint="not on the wire")
        assert finding.error_body() == {
            "type": "invalid_request_error",
            "code": None,
            "message": "Missing bearer",
            "param": None,
            "event_id": None,
        }

    def test_error_event_wraps_the_body_in_a_server_error_event(self):
        """§6.1: `{"type": "error", "event_id": <server id>, "error": {...}}`."""
        finding = rules.cancel_not_active("evt_c")
        assert finding.error_event("event_S") == {
            "type": "error",
            "event_id": "event_S",
            "error": {
                "type": "invalid_request_error",
                "code": "response_cancel_not_active",
                "message": "Cancellation failed: no active response found",
                "param": None,
                "event_id": "evt_c",
            },
        }

    @pytest.mark.parametrize(
        ("finding", "text"),
        [
            (Finding(code="c", message="m"), "c: m"),
            (Finding(code=None, message="m"), "invalid_request_error: m"),
            (Finding(code="c", message="m", param="p.q"), "c at p.q: m"),
            (Finding(code="c", message="m", hint="do x"), "c: m (hint: do x)"),
        ],
    )
    def test_str_names_code_or_type_param_and_hint(self, finding, text):
        """A finding reads as `code at param: message (hint: ...)` in reports."""
        assert str(finding) == text

    def test_findings_are_frozen_values(self):
        """Style rule 3: records are frozen and compare by value."""
        finding = Finding(code="c", message="m")
        assert finding == Finding(code="c", message="m")
        with pytest.raises(AttributeError):
            finding.code = "other"


def test_the_model_limit_is_worded_like_the_schema_range_errors() -> None:
    from conformance.schemas._messages import out_of_range

    found = rules.above_model_limit("session.max_output_tokens", "gpt-x", 4096, 5000, None)
    assert (found.code, found.message) == out_of_range(
        "session.max_output_tokens", "integer", 4096, 5000, above=True
    )


def test_model_rules_need_an_injected_lookup() -> None:
    from conformance.models import load_registry
    from conformance.protocol import Conversation

    assert Conversation().models is None  # the core reads no registry by itself
    assert Conversation(load_registry().get).models is not None
