"""Turn `jsonschema` errors into `file:line: what at path; did you mean …` messages."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from jsonschema import ValidationError  # type: ignore[import-untyped]  # no types-jsonschema in the dev venv

from ._vocabulary import (
    ACTIONS,
    AFTER_SESSION_CREATED,
    BEFORE_SESSION_CREATED,
    CATALOG_IDS,
    CLIENT_EVENT_TYPES,
    EXPECTATIONS,
    SERVER_EVENT_TYPES,
    TRIGGERS,
    did_you_mean,
)
from ._yaml import LineMap, show_path

_KINDS: tuple[tuple[tuple[str, ...], str], ...] = (
    (ACTIONS, "action"),
    (TRIGGERS, "trigger"),
    (SERVER_EVENT_TYPES, "server event type"),
    (CLIENT_EVENT_TYPES, "client event type"),
    (CATALOG_IDS, "catalog id"),
    (EXPECTATIONS, "expectation"),
    ((BEFORE_SESSION_CREATED, AFTER_SESSION_CREATED), "phase"),
    (("failed", "incomplete", "cancelled"), "status"),
)
_ACTION_SCHEMA_MARK = {"$ref": "#/$defs/action_name"}
_JSON_TYPES = {
    dict: "mapping",
    list: "list",
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    type(None): "null",
}


def format_errors(errors: Iterable[ValidationError], lines: LineMap, where: str) -> str:
    """One message for all schema errors: the first by line, then up to four more."""
    errors = list(errors)
    # A misspelt required key shows up twice (unknown + missing): keep the did-you-mean.
    misspelt = {tuple(e.absolute_path) for e in errors if e.validator == "additionalProperties"}
    kept = [
        e for e in errors if e.validator != "required" or tuple(e.absolute_path) not in misspelt
    ]
    found = sorted({_translate(error, lines) for error in kept})
    shown = [f"{where}:{line}: {text}" for line, _, text in found[:5]]
    if len(found) > 5:
        shown.append(f"(and {len(found) - 5} more errors)")
    return "\n".join(shown)


def _translate(error: ValidationError, lines: LineMap) -> tuple[int, int, str]:
    path = list(error.absolute_path)
    where = show_path(path)
    if "propertyNames" in error.schema_path:
        key = str(error.instance)
        return lines.line([*path, key], key=True), 0, _unknown_name(key, error, where)
    if error.validator == "additionalProperties":
        return _unknown_key(error, path, lines)
    if error.validator == "enum":
        return lines.line(path), 0, _unknown_name(error.instance, error, where)
    if error.validator == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        return lines.line(path), 1, f"missing required key {missing[0]!r} at {where}"
    if error.validator in ("minProperties", "maxProperties") and _is_action(error.schema):
        keys = ", ".join(repr(k) for k in error.instance) or "none"
        text = f"an action is a mapping with exactly one key, the action name; got {keys}"
        return lines.line(path), 1, f"{text} at {where}"
    if error.validator == "type":
        got = _JSON_TYPES.get(type(error.instance), type(error.instance).__name__)
        expected = _expected_types(error.validator_value)
        shown = "" if error.instance is None else f" {_short(error.instance)}"
        text = f"expected {expected} at {where}, got {got}{shown}"
        return lines.line(path), 2, text
    return lines.line(path), 2, f"invalid value at {where}: {error.message}"


def _unknown_name(value: Any, error: ValidationError, where: str) -> str:
    options = [str(o) for o in error.validator_value]
    kind = next((name for vocab, name in _KINDS if tuple(options) == vocab), "value")
    if not isinstance(value, str):
        return f"expected a {kind} at {where}, got {_short(value)}{did_you_mean('', options)}"
    return f"unknown {kind} {value!r} at {where}{did_you_mean(value, options)}"


def _unknown_key(
    error: ValidationError, path: Sequence[str | int], lines: LineMap
) -> tuple[int, int, str]:
    allowed = list(error.schema.get("properties", {})) if isinstance(error.schema, dict) else []
    extras = [k for k in error.instance if k not in allowed]
    key = str(extras[0]) if extras else "?"
    where = show_path(path)
    hint = did_you_mean(key, allowed) if allowed else "; this mapping takes no keys"
    return lines.line([*path, key], key=True), 0, f"unknown key {key!r} at {where}{hint}"


def _is_action(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("propertyNames") == _ACTION_SCHEMA_MARK


def _expected_types(value: Any) -> str:
    names = [value] if isinstance(value, str) else list(value)
    names = ["mapping" if n == "object" else "list" if n == "array" else n for n in names]
    return " or ".join(names)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
