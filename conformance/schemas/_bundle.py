"""Runtime access to the committed bundle in `fixtures/schemas/` (read lazily, cached)."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, Literal

import jsonschema_rs

from conformance import _json
from conformance.protocol.errors import UsageError
from conformance.resources import schemas_dir

Side = Literal["client", "server", "translation_client", "translation_server"]
"""A section of the bundle: the `/v1/realtime` events of one side (`client`, `server`), or
the `/v1/realtime/translations` ones (`translation_client`, `translation_server`)."""
SIDES: tuple[Side, Side] = ("client", "server")
TRANSLATION_SIDES: tuple[Side, Side] = ("translation_client", "translation_server")
IsValid = Callable[[Any], bool]


@cache
def index() -> Mapping[str, Any]:
    """The parsed `index.json` of the bundle."""
    data: Mapping[str, Any] = _json.loads((schemas_dir() / "index.json").read_bytes())
    return data


def _section(side: Side) -> Mapping[str, Any]:
    """The part of index.json that lists `side`'s files and types."""
    if side.startswith("translation_"):
        translation: Mapping[str, Any] = index()["translation"]
        return {
            "files": translation[side.removeprefix("translation_")],
            "types": translation[f"{side.removeprefix('translation_')}_types"],
        }
    return {"files": index()[side], "types": index()[f"{side}_types"]}


def event_types(side: Side) -> tuple[str, ...]:
    """The GA event types of `side`, in the order of the spec's union."""
    return tuple(_section(side)["types"])


@cache
def schema(side: Side, event_type: str) -> dict[str, Any]:
    """The bundle schema of one event type (shared and cached: never mutate it)."""
    files: Mapping[str, str] = _section(side)["files"]
    if event_type not in files:
        raise UsageError(_unknown_type_message(side, event_type))
    data: dict[str, Any] = _json.loads((schemas_dir() / files[event_type]).read_bytes())
    return data


@cache
def is_valid_function(side: Side, event_type: str) -> IsValid:
    """The compiled jsonschema-rs `is_valid` of one event type (formats are not asserted)."""
    validator = jsonschema_rs.Draft202012Validator(schema(side, event_type), validate_formats=False)
    check: IsValid = validator.is_valid
    return check


def rest_names() -> tuple[str, ...]:
    """The REST body schemas of the bundle (`rest/`), e.g. `client_secrets.request`."""
    return tuple(index().get("rest", {}))


@cache
def rest_schema(name: str) -> dict[str, Any]:
    """The bundle schema of one REST body (shared and cached: never mutate it)."""
    files: Mapping[str, str] = index().get("rest", {})
    if name not in files:
        close = difflib.get_close_matches(name, files, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UsageError(f"{name!r} is not a REST body schema of the bundle{hint}")
    data: dict[str, Any] = _json.loads((schemas_dir() / files[name]).read_bytes())
    return data


@cache
def rest_is_valid(name: str) -> IsValid:
    """The compiled jsonschema-rs `is_valid` of one REST body schema."""
    validator = jsonschema_rs.Draft202012Validator(rest_schema(name), validate_formats=False)
    check: IsValid = validator.is_valid
    return check


def first_error_message(side: Side, event_type: str, instance: Any) -> str | None:
    """jsonschema-rs's own message for the first error, or None when the instance is valid."""
    validator = jsonschema_rs.Draft202012Validator(schema(side, event_type), validate_formats=False)
    for error in validator.iter_errors(instance):
        return str(error.message)
    return None


def _unknown_type_message(side: Side, event_type: str) -> str:
    close = difflib.get_close_matches(event_type, event_types(side), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    what = side.replace("_", " ")
    return f"{event_type!r} is not a GA {what} event type{hint}"


def check_side(side: str) -> Side:
    """`side` itself if it names a section of the bundle; raises UsageError otherwise."""
    for known in (*SIDES, *TRANSLATION_SIDES):
        if side == known:
            return known
    raise UsageError(
        f"side={side!r} must be 'client', 'server', 'translation_client' or 'translation_server'"
    )
