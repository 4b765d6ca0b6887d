"""Error wording in the live GA server's vocabulary (realtime-ga-protocol.md §6.2).

Every message the validator emits is built here, so the wording lives in one place.
Wording marked *inferred* below follows the pattern of the quoted live messages but was
not itself seen on the wire; the module docstring of `conformance.schemas` lists them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from conformance import _json

Path = tuple[str | int, ...]

# JSON type name -> the article phrase used after "expected" in invalid_type messages.
_EXPECTED: Final = {
    "object": "an object",
    "array": "an array",
    "string": "a string",
    "integer": "an integer",
    "number": "a decimal",  # inferred: OpenAI's REST API words JSON numbers "a decimal"
    "boolean": "a boolean",
    "null": "null",
}


def param_of(path: Path) -> str | None:
    """The dotted `param` of a path: `session.tools[2].meta`; None for the event itself."""
    text = ""
    for segment in path:
        if isinstance(segment, int):
            text += f"[{segment}]"
        else:
            text += f".{segment}" if text else segment
    return text or None


def json_type_of(value: Any) -> str:
    """The JSON type name of a parsed value (`integer` for integral floats is not applied)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def show_value(value: Any) -> str:
    """A value as the live server quotes it: strings in single quotes, the rest as JSON."""
    if isinstance(value, str):
        return f"'{value}'"
    return _json.dumps(value)


def join_values(values: Sequence[Any]) -> str:
    """`'a'`, `'a' and 'b'`, `'a', 'b', and 'c'` (Oxford comma, as live)."""
    shown = [show_value(v) for v in values]
    if len(shown) <= 2:
        return " and ".join(shown)
    return ", ".join(shown[:-1]) + ", and " + shown[-1]


def unknown_parameter(param: str) -> tuple[str, str]:
    """`Unknown parameter: 'session.modalities'.` [LIVE-3P]."""
    return "unknown_parameter", f"Unknown parameter: '{param}'."


def missing_required(param: str) -> tuple[str, str]:
    """`Missing required parameter: 'session.type'.` [ISSUE TanStack/ai#586]."""
    return "missing_required_parameter", f"Missing required parameter: '{param}'."


def invalid_type(param: str, expected: Sequence[str], value: Any) -> tuple[str, str]:
    """`Invalid type for 'x': expected an object, but got a string instead.` [3P]."""
    wanted = [_EXPECTED[t] for t in expected if t != "null"] or ["null"]
    got = _EXPECTED[json_type_of(value)]
    return (
        "invalid_type",
        f"Invalid type for '{param}': expected {' or '.join(wanted)}, but got {got} instead.",
    )


def invalid_value(value: Any, allowed: Sequence[Any]) -> tuple[str, str]:
    """`Invalid value: 'pcm16'. Supported values are: 'audio/pcm', ..., and 'audio/pcma'.`."""
    if len(allowed) == 1:  # catalog 30: "Invalid value: 'input_text'. Value must be 'text'."
        return (
            "invalid_value",
            f"Invalid value: {show_value(value)}. Value must be {show_value(allowed[0])}.",
        )
    return (
        "invalid_value",
        f"Invalid value: {show_value(value)}. Supported values are: {join_values(allowed)}.",
    )


def out_of_range(
    param: str, kind: str, bound: float, value: Any, *, above: bool
) -> tuple[str, str]:
    """`Invalid 'x': integer below minimum value. Expected a value >= 24000, but got 16000 ...`.

    `kind` is `integer` or `decimal` (the schema's type); `above` picks the maximum wording.
    """
    side, word, op = ("above", "maximum", "<=") if above else ("below", "minimum", ">=")
    return (
        f"{kind}_{side}_{'max' if above else 'min'}_value",
        f"Invalid '{param}': {kind} {side} {word} value. "
        f"Expected a value {op} {show_value(bound)}, but got {show_value(value)} instead.",
    )


def string_length(param: str, limit: int, length: int, *, above: bool) -> tuple[str, str]:
    """`Invalid 'x': string too long. Expected a string with maximum length 1024, ...` (cat. 24)."""
    if above:
        return (
            "string_above_max_length",
            f"Invalid '{param}': string too long. Expected a string with maximum length {limit}, "
            f"but got a string with length {length} instead.",
        )
    if length == 0:  # inferred, by analogy with empty_array
        return (
            "empty_string",
            f"Invalid '{param}': empty string. Expected a string with minimum length {limit}, "
            "but got an empty string instead.",
        )
    return (
        "string_below_min_length",
        f"Invalid '{param}': string too short. Expected a string with minimum length {limit}, "
        f"but got a string with length {length} instead.",
    )


def array_length(param: str, limit: int, length: int, *, above: bool) -> tuple[str, str]:
    """`Invalid 'item.content': empty array. Expected an array with minimum length 1, ...`.

    Catalog 18 gives the empty-array wording; the two length wordings are inferred.
    """
    if above:  # inferred
        return (
            "array_above_max_length",
            f"Invalid '{param}': array too long. Expected an array with maximum length {limit}, "
            f"but got an array with length {length} instead.",
        )
    if length == 0:
        return (
            "empty_array",
            f"Invalid '{param}': empty array. Expected an array with minimum length {limit}, "
            "but got an empty array instead.",
        )
    return (  # inferred
        "array_below_min_length",
        f"Invalid '{param}': array too short. Expected an array with minimum length {limit}, "
        f"but got an array with length {length} instead.",
    )


def too_many_properties(param: str, limit: int, count: int) -> tuple[str, str]:
    """Too many keys in a map (`metadata`: at most 16). Code and wording inferred."""
    return (
        "object_above_max_properties",
        f"Invalid '{param}': too many properties. Expected an object with at most {limit} "
        f"properties, but got an object with {count} properties instead.",
    )


def key_length(param: str, limit: int, length: int) -> tuple[str, str]:
    """A map key that is too long (`metadata` keys: at most 64). Wording inferred."""
    return (
        "string_above_max_length",
        f"Invalid '{param}': key too long. Expected a key with maximum length {limit}, "
        f"but got a key with length {length} instead.",
    )


def pattern_mismatch(param: str, pattern: str) -> tuple[str, str]:
    """`Invalid 'item.id': string does not match pattern. Expected a string that ...` (cat. 23)."""
    return (
        "invalid_value",
        f"Invalid '{param}': string does not match pattern. "
        f"Expected a string that matches the pattern '{pattern}'.",
    )


def schema_false(param: str) -> tuple[str, str]:
    """A value where the schema allows nothing (`false`); worded like an unknown parameter."""
    return unknown_parameter(param)


# --- event-level messages (realtime-ga-protocol.md §6.2) ---


def invalid_json(detail: str) -> tuple[str, str]:
    """`Invalid event: failed to parse JSON value. …` [LIVE-3P]; the tail is the parser's text."""
    return "invalid_json", f"Invalid event: failed to parse JSON value. {detail}".rstrip()


def not_an_object(value: Any) -> tuple[str, str]:
    """Inferred: a JSON value that is not an object."""
    got = _EXPECTED[json_type_of(value)]
    return "invalid_event", f"Invalid event: expected a JSON object, but got {got} instead."


def missing_type() -> tuple[str, str]:
    """`The 'type' field is missing.` [SPEC example of `error`]."""
    return "invalid_event", "The 'type' field is missing."


def translation_only(event_type: str) -> tuple[str, str]:
    """Inferred: a translation-session event type sent to a realtime session."""
    return "invalid_event", f"'{event_type}' is only supported in translation sessions."
