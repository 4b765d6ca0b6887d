"""Server events (the mock's output and recorded live traffic) against the server bundle."""

from __future__ import annotations

from typing import Any

import pytest

from conformance.schemas import parse_server_frame, validate_server_event
from conformance.schemas._bundle import index


def text_delta(**extra: Any) -> dict[str, Any]:
    return {
        "type": "response.output_text.delta",
        "event_id": "event_1",
        "response_id": "resp_1",
        "item_id": "item_1",
        "output_index": 0,
        "content_index": 0,
        "delta": "Hi",
        **extra,
    }


def test_live_deltas_may_carry_obfuscation() -> None:
    assert validate_server_event(text_delta(obfuscation="k3Jd")) == []


def test_an_extra_field_on_a_server_event_is_an_unknown_parameter() -> None:
    [finding] = validate_server_event(text_delta(logprobs=[]))
    assert (finding.code, finding.param) == ("unknown_parameter", "logprobs")


def test_a_missing_server_field_is_reported_with_the_server_event_id() -> None:
    event = text_delta()
    del event["delta"]
    [finding] = validate_server_event(event)
    assert (finding.code, finding.param, finding.event_id) == (
        "missing_required_parameter",
        "delta",
        "event_1",
    )


def test_content_part_type_is_text_or_audio_not_output_text() -> None:
    event = {
        "type": "response.content_part.added",
        "event_id": "event_2",
        "response_id": "resp_1",
        "item_id": "item_1",
        "output_index": 0,
        "content_index": 0,
        "part": {"type": "output_text", "text": ""},
    }
    [finding] = validate_server_event(event)
    assert (finding.code, finding.param, finding.message) == (
        "invalid_value",
        "part.type",
        "Invalid value: 'output_text'. Supported values are: 'audio' and 'text'.",
    )


@pytest.mark.parametrize(
    ("beta", "ga"),
    [
        ("response.text.delta", "response.output_text.delta"),
        ("response.audio_transcript.done", "response.output_audio_transcript.done"),
    ],
)
def test_a_beta_server_event_name_is_unknown_with_a_hint_naming_the_ga_event(
    beta: str, ga: str
) -> None:
    event, findings = parse_server_frame(f'{{"type": "{beta}", "event_id": "event_3"}}')
    assert event is not None
    [finding] = findings
    assert (finding.code, finding.param) == ("invalid_value", "type")
    assert finding.message.startswith(f"Invalid value: '{beta}'. Supported values are: ")
    assert finding.hint is not None
    assert ga in finding.hint


def test_beta_leftovers_are_in_the_union_but_marked_not_emitted_by_live() -> None:
    emitted = index()["emitted_by_live"]
    assert [t for t, live in emitted.items() if not live] == [
        "conversation.created",
        "conversation.item.created",
    ]
    assert sum(emitted.values()) == 44


def test_a_failed_response_may_carry_an_error_message_and_null_usage() -> None:
    event = {
        "type": "response.done",
        "event_id": "event_4",
        "response": {
            "object": "realtime.response",
            "id": "resp_2",
            "status": "failed",
            "status_details": {
                "type": "failed",
                "error": {"type": "server_error", "code": "x", "message": "boom"},
            },
            "usage": None,
            "conversation_id": None,
        },
    }
    assert validate_server_event(event) == []
