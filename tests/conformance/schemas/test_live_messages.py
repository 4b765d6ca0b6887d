"""Beta-shaped and malformed client events get the live server's code, param and message.

Inputs come from client-failure-catalog.md (entries 3, 16, 18, 23, 24, 30) and
realtime-ga-protocol.md §3.4 / §6.2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance.protocol.findings import Finding
from conformance.schemas import parse_client_frame, validate_client_event

LIVE_TYPES_MESSAGE = (
    "Invalid value: 'nope'. Supported values are: 'session.update', 'session.close', "
    "'input_audio_buffer.append', 'session.input_audio_buffer.append', "
    "'input_audio_buffer.commit', 'input_audio_buffer.clear', 'conversation.item.create', "
    "'conversation.item.truncate', 'conversation.item.delete', 'conversation.item.retrieve', "
    "'response.create', and 'response.cancel'."
)


def session_update(**session: Any) -> dict[str, Any]:
    return {"type": "session.update", "session": {"type": "realtime", **session}}


def first(event: Any, **kwargs: Any) -> Finding:
    findings = validate_client_event(event, **kwargs)
    assert findings, f"expected a finding for {event!r}"
    return findings[0]


def live_error_cases() -> list[Any]:
    cases = yaml.safe_load((Path(__file__).parent / "examples" / "live_errors.yaml").read_text())
    params = []
    for case in cases:
        event = case["event"]
        if "fill" in case:
            *parents, last = case["fill"]["at"]
            node = event
            for key in parents:
                node = node[key]
            node[last] = case["fill"]["char"] * case["fill"]["length"]
        params.append(
            pytest.param(event, case["code"], case["param"], case["message"], id=case["id"])
        )
    return params


@pytest.mark.parametrize(("event", "code", "param", "message"), live_error_cases())
def test_client_input_seen_in_the_wild_gets_the_live_error(
    event: dict[str, Any], code: str, param: str, message: str
) -> None:
    finding = first(event)
    assert (finding.code, finding.param, finding.message) == (code, param, message)
    assert finding.type == "invalid_request_error"


@pytest.mark.parametrize(
    ("event", "hint"),
    [
        (session_update(modalities=["audio"]), "use session.output_modalities (GA)"),
        (session_update(voice="alloy"), "use session.audio.output.voice (GA)"),
        (
            {"type": "response.create", "response": {"modalities": ["text"]}},
            "use response.output_modalities (GA)",
        ),
        (session_update(max_response_output_tokens=10), "use session.max_output_tokens (GA)"),
        (
            session_update(audio={"output": {"format": {"type": "g711_ulaw"}}}),
            'use "audio/pcmu" (GA); "g711_ulaw" is the beta name',
        ),
    ],
)
def test_beta_names_carry_a_hint_naming_the_ga_replacement(
    event: dict[str, Any], hint: str
) -> None:
    assert first(event).hint == hint


def test_missing_session_type_hint_says_it_is_required_in_ga() -> None:
    finding = first({"type": "session.update", "session": {"instructions": "hi"}})
    assert finding.hint is not None
    assert 'session.type: "realtime"' in finding.hint


def test_missing_session_type_is_reported_before_the_beta_keys_of_the_same_session() -> None:
    findings = validate_client_event(
        {"type": "session.update", "session": {"modalities": ["text"]}}
    )
    assert [(f.code, f.param) for f in findings] == [
        ("missing_required_parameter", "session.type"),
        ("unknown_parameter", "session.modalities"),
    ]


def test_invalid_json_is_reported_with_the_live_prefix_and_no_param() -> None:
    event, findings = parse_client_frame('{"type": "session.update",')
    assert event is None
    assert len(findings) == 1
    assert findings[0].code == "invalid_json"
    assert findings[0].message.startswith("Invalid event: failed to parse JSON value.")
    assert findings[0].param is None


def test_bytes_that_are_not_utf8_are_invalid_json() -> None:
    assert first(b'{"type": "\xff"}').code == "invalid_json"


@pytest.mark.parametrize("frame", ["[1, 2]", '"session.update"', "42", "null"])
def test_a_json_value_that_is_not_an_object_is_an_invalid_event(frame: str) -> None:
    event, findings = parse_client_frame(frame)
    assert event is None
    assert [(f.code, f.param) for f in findings] == [("invalid_event", None)]
    assert findings[0].message.startswith("Invalid event: expected a JSON object")


def test_missing_type_gets_the_spec_example_error_with_the_client_event_id() -> None:
    finding = first({"event_id": "evt_1", "session": {}})
    assert (finding.code, finding.message, finding.param, finding.event_id) == (
        "invalid_event",
        "The 'type' field is missing.",
        None,
        "evt_1",
    )


def test_unknown_type_lists_the_twelve_live_values_in_live_order() -> None:
    finding = first('{"type": "nope"}')
    assert (finding.code, finding.param, finding.message) == (
        "invalid_value",
        "type",
        LIVE_TYPES_MESSAGE,
    )


def test_a_non_string_type_is_an_invalid_type_on_type() -> None:
    finding = first({"type": 7})
    assert (finding.code, finding.param) == ("invalid_type", "type")
    assert (
        finding.message == "Invalid type for 'type': expected a string, but got an integer instead."
    )


def test_transcription_session_update_is_rejected_with_a_hint_to_use_session_update() -> None:
    finding = first({"type": "transcription_session.update", "session": {}})
    assert (finding.code, finding.param) == ("invalid_value", "type")
    assert finding.hint == 'use session.update with session.type "transcription" (GA)'


@pytest.mark.parametrize("event_type", ["session.close", "session.input_audio_buffer.append"])
def test_translation_event_types_are_only_supported_in_translation_sessions(
    event_type: str,
) -> None:
    finding = first({"type": event_type, "event_id": "e9"})
    assert (finding.code, finding.param, finding.event_id) == ("invalid_event", "type", "e9")
    assert finding.message == f"'{event_type}' is only supported in translation sessions."


def test_output_audio_buffer_clear_is_valid_ga_but_rejected_by_the_websocket_endpoint() -> None:
    event = {"type": "output_audio_buffer.clear"}
    assert validate_client_event(event) == []
    finding = first(event, websocket=True)
    assert (finding.code, finding.param) == ("invalid_value", "type")
    assert finding.hint is not None
    assert "WebRTC/SIP" in finding.hint
    assert parse_client_frame('{"type": "output_audio_buffer.clear"}', websocket=True)[1]


def test_every_finding_carries_the_client_event_id() -> None:
    event = session_update(modalities=["text"], voice="alloy")
    event["event_id"] = "evt_42"
    findings = validate_client_event(event)
    assert len(findings) == 2
    assert {f.event_id for f in findings} == {"evt_42"}


def test_a_non_string_event_id_is_not_echoed() -> None:
    finding = first({"type": "session.update", "event_id": 5, "session": {"type": "realtime"}})
    assert (finding.code, finding.param, finding.event_id) == ("invalid_type", "event_id", None)


def test_parse_client_frame_returns_the_parsed_dict_even_when_invalid() -> None:
    event, findings = parse_client_frame(
        '{"type": "session.update", "session": {"type": "realtime", "x": 1}}'
    )
    assert event == {"type": "session.update", "session": {"type": "realtime", "x": 1}}
    assert [(f.code, f.param) for f in findings] == [("unknown_parameter", "session.x")]


def test_a_valid_frame_parses_with_no_findings() -> None:
    event, findings = parse_client_frame(b'{"type": "input_audio_buffer.append", "audio": "AAAA"}')
    assert event == {"type": "input_audio_buffer.append", "audio": "AAAA"}
    assert findings == []


@pytest.mark.parametrize(
    ("session", "code", "param"),
    [
        (
            {"audio": {"output": {"speed": 2}}},
            "decimal_above_max_value",
            "session.audio.output.speed",
        ),
        (
            {"audio": {"output": {"speed": 0.1}}},
            "decimal_below_min_value",
            "session.audio.output.speed",
        ),
        (
            {"audio": {"input": {"format": {"type": "audio/pcm", "rate": 48000}}}},
            "integer_above_max_value",
            "session.audio.input.format.rate",
        ),
        ({"max_output_tokens": 0}, "integer_below_min_value", "session.max_output_tokens"),
        (
            {"output_modalities": ["text", "audio"]},
            "array_above_max_length",
            "session.output_modalities",
        ),
        (
            {"audio": {"input": {"turn_detection": {"type": "vad"}}}},
            "invalid_value",
            "session.audio.input.turn_detection.type",
        ),
        (
            {"audio": {"input": {"transcription": {"languages": []}}}},
            "empty_array",
            "session.audio.input.transcription.languages",
        ),
        ({"tool_choice": "sometimes"}, "invalid_value", "session.tool_choice"),
        (
            {"tool_choice": {"type": "function"}},
            "missing_required_parameter",
            "session.tool_choice.name",
        ),
        ({"max_output_tokens": 1.5}, "invalid_type", "session.max_output_tokens"),
        ({"tracing": "on"}, "invalid_value", "session.tracing"),
    ],
)
def test_ranges_enums_and_unions_are_reported_on_the_offending_param(
    session: dict[str, Any], code: str, param: str
) -> None:
    finding = first(session_update(**session))
    assert (finding.code, finding.param) == (code, param)


def test_a_decimal_above_its_maximum_uses_the_live_sentence_shape() -> None:
    finding = first(session_update(audio={"output": {"speed": 2}}))
    assert finding.message == (
        "Invalid 'session.audio.output.speed': decimal above maximum value. "
        "Expected a value <= 1.5, but got 2 instead."
    )


def test_a_single_allowed_value_is_worded_value_must_be() -> None:
    finding = first(session_update(tracing="on"))
    assert finding.message == "Invalid value: 'on'. Value must be 'auto'."


def test_null_is_accepted_where_real_clients_send_it() -> None:
    nulls = session_update(
        tracing=None,
        audio={"input": {"noise_reduction": None, "transcription": None, "turn_detection": None}},
    )
    assert validate_client_event(nulls) == []
    assert (
        validate_client_event({"type": "response.create", "response": {"instructions": None}}) == []
    )


def test_overlapping_spec_unions_accept_every_documented_value() -> None:
    for conversation in ("auto", "none"):
        event = {"type": "response.create", "response": {"conversation": conversation}}
        assert validate_client_event(event) == []
    # The spec text: "Currently supports `auto` and `none`" (erratum response-conversation-enum).
    other = {"type": "response.create", "response": {"conversation": "conv_123"}}
    assert [f.code for f in validate_client_event(other)] == ["invalid_value"]
