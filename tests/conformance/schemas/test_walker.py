"""Corner cases of the error walker where Python and JSON Schema semantics differ."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import pytest

from conformance.schemas import validate_client_event
from conformance.schemas._transform import allow_null
from conformance.schemas._walker import Issue, Walker, json_equal, type_matches


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [(1, 1.0, True), (True, 1, False), (0, False, False), ("a", "a", True), (None, None, True)],
)
def test_json_equality_does_not_confuse_booleans_with_numbers(a: Any, b: Any, equal: bool) -> None:
    assert json_equal(a, b) is equal


@pytest.mark.parametrize(
    ("types", "value", "matches"),
    [
        ("integer", 3.0, True),
        ("integer", 3.5, False),
        ("integer", True, False),
        ("number", 3, True),
        (["string", "null"], None, True),
        ("boolean", 0, False),
    ],
)
def test_json_types_follow_json_schema_not_python(types: Any, value: Any, matches: bool) -> None:
    assert type_matches(types, value) is matches


def test_a_trailing_newline_does_not_satisfy_an_anchored_pattern() -> None:
    item = {"id": "msg_1\n", "type": "message", "role": "user", "content": [{"type": "input_text"}]}
    [finding] = validate_client_event({"type": "conversation.item.create", "item": item})
    assert (finding.code, finding.param) == ("invalid_value", "item.id")


def test_an_integral_float_is_an_integer_for_json_schema() -> None:
    event = {
        "type": "conversation.item.truncate",
        "item_id": "i",
        "content_index": 0.0,
        "audio_end_ms": 5,
    }
    assert validate_client_event(event) == []


def test_a_boolean_is_not_an_integer() -> None:
    event = {
        "type": "conversation.item.truncate",
        "item_id": "i",
        "content_index": True,
        "audio_end_ms": 5,
    }
    [finding] = validate_client_event(event)
    assert finding.message == (
        "Invalid type for 'content_index': expected an integer, but got a boolean instead."
    )


def test_any_mapping_is_accepted_as_an_event() -> None:
    assert validate_client_event(MappingProxyType({"type": "input_audio_buffer.commit"})) == []


def test_the_walker_refuses_references_outside_the_bundle() -> None:
    walker = Walker({"properties": {"a": {"$ref": "https://example.com/x.json"}}}, {})
    with pytest.raises(ValueError, match="only local"):
        walker.issues({"a": 1})


def test_a_walker_miss_still_yields_a_finding_from_jsonschema_rs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_issues(self: Walker, instance: Any) -> list[Issue]:
        return []

    monkeypatch.setattr(Walker, "issues", no_issues)
    [finding] = validate_client_event(
        {"type": "input_audio_buffer.append", "audio": 5, "event_id": "e"}
    )
    assert finding.code == "invalid_value"
    assert finding.message.startswith("Invalid event: ")
    assert finding.event_id == "e"


def test_allow_null_appends_to_a_bare_union_and_wraps_anything_else() -> None:
    assert allow_null({"anyOf": [{"type": "string"}], "default": "x"}) == {
        "anyOf": [{"type": "string"}, {"type": "null"}],
        "default": "x",
    }
    assert allow_null({"type": "object", "default": None}) == {
        "default": None,
        "anyOf": [{"type": "object"}, {"type": "null"}],
    }


def _metadata(metadata: dict[str, str]) -> list[tuple[str, str | None, str]]:
    event = {"type": "response.create", "response": {"metadata": metadata}}
    return [(f.code, f.param, f.message) for f in validate_client_event(event)]


def test_metadata_limits_from_the_spec_prose_are_enforced() -> None:
    assert _metadata({f"k{i}": "v" for i in range(16)}) == []
    assert _metadata({"k" * 64: "v" * 512}) == []
    [(code, param, message)] = _metadata({f"k{i}": "v" for i in range(17)})
    assert (code, param) == ("object_above_max_properties", "response.metadata")
    assert "at most 16 properties, but got an object with 17" in message
    [(code, param, message)] = _metadata({"k" * 65: "v"})
    assert (code, param) == ("string_above_max_length", "response.metadata." + "k" * 65)
    assert "key with maximum length 64, but got a key with length 65" in message
    [(code, param, message)] = _metadata({"note": "v" * 513})
    assert (code, param) == ("string_above_max_length", "response.metadata.note")
    assert "maximum length 512, but got a string with length 513" in message
