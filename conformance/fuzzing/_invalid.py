"""Near-miss invalid client events, each paired with the error the live server answers.

One edit of a schema-valid event at an unambiguous place (`_sites`), or a beta-era field
or shape put into an otherwise valid GA event. The expected `code` and `param` are derived
from the edit alone, never from the validator under test.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Final, Literal

from hypothesis import strategies as st

from conformance.schemas import schema_for

from ._schema import events_of
from ._sites import Path, Site, SiteFinder, admits, get, param_of

InvalidKind = Literal[
    "unknown_parameter", "missing_required", "wrong_type", "out_of_range", "invalid_value",
    "beta_shape",
]  # fmt: skip
INVALID_KINDS: Final[tuple[InvalidKind, ...]] = (
    "unknown_parameter", "missing_required", "wrong_type", "out_of_range", "invalid_value",
    "beta_shape",
)  # fmt: skip
_FOREIGN: Final[tuple[Any, ...]] = (12345, "zz", True, None, [], {})
_MAX_LENGTH_EDIT = 1100  # string limits above this are not worth a huge frame


@dataclass(frozen=True, slots=True)
class InvalidEvent:
    """A client event the live server rejects with one `error` event.

    Attributes:
        event: the edited event, ready to send.
        code: the `error.code` the server answers with (`unknown_parameter`, …).
        param: the `error.param` (`session.modalities`; None when the server names none).
        kind: what was done: one of `INVALID_KINDS`.
        path: where the edit is, as keys and list indexes.
    """

    event: dict[str, Any]
    code: str
    param: str | None
    kind: InvalidKind
    path: tuple[str | int, ...]


Edit = Callable[[dict[str, Any], Site], tuple[str, Path] | None]


def _set(event: dict[str, Any], path: Path, value: Any) -> None:
    get(event, path[:-1])[path[-1]] = value


def _unknown_key(event: dict[str, Any], site: Site) -> tuple[str, Path] | None:
    target = get(event, site.path)
    if site.node.get("additionalProperties") is not False or not isinstance(target, dict):
        return None
    key = "zz_unknown"
    target[key] = "x"
    return "unknown_parameter", (*site.path, key)


def _removable(site: Site, value: Mapping[str, Any]) -> list[str]:
    required = site.node.get("required", ())
    return [
        k for k in required if k in value and k not in site.locked and (*site.path, k) != ("type",)
    ]


def _wrong_type(event: dict[str, Any], site: Site) -> tuple[str, Path] | None:
    if not site.path or site.admitted is None:
        return None
    if "type" not in site.node and not site.in_any_of:
        return None  # an enum without `type` reports invalid_value instead
    foreign = [v for v in _FOREIGN if not admits(site.admitted, v)]
    if not foreign:
        return None
    _set(event, site.path, copy.deepcopy(foreign[len(site.path) % len(foreign)]))
    return "invalid_type", site.path


def _out_of_range(event: dict[str, Any], site: Site) -> tuple[str, Path] | None:
    node, value = site.node, get(event, site.path)
    if not site.path:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _number_edit(event, site, node)
    if isinstance(value, str) and "pattern" not in node and "allOf" not in node:
        return _string_edit(event, site, node)
    if isinstance(value, list):
        return _array_edit(event, site, node, value)
    return None


def _number_edit(
    event: dict[str, Any], site: Site, node: Mapping[str, Any]
) -> tuple[str, Path] | None:
    kind = "integer" if node.get("type") == "integer" else "decimal"
    if "maximum" in node:
        _set(event, site.path, node["maximum"] + 1)
        return f"{kind}_above_max_value", site.path
    if "minimum" in node:
        _set(event, site.path, node["minimum"] - 1)
        return f"{kind}_below_min_value", site.path
    return None


def _string_edit(
    event: dict[str, Any], site: Site, node: Mapping[str, Any]
) -> tuple[str, Path] | None:
    high, low = node.get("maxLength"), node.get("minLength", 0)
    if high is not None and high < _MAX_LENGTH_EDIT:
        _set(event, site.path, "x" * (high + 1))
        return "string_above_max_length", site.path
    if low > 0:
        _set(event, site.path, "x" * (low - 1))
        return ("empty_string" if low == 1 else "string_below_min_length"), site.path
    return None


def _array_edit(
    event: dict[str, Any], site: Site, node: Mapping[str, Any], value: list[Any]
) -> tuple[str, Path] | None:
    low, high = node.get("minItems", 0), node.get("maxItems")
    if low > 0:
        _set(event, site.path, value[: low - 1])
        return ("empty_array" if low == 1 else "array_below_min_length"), site.path
    if high is not None and high < 16 and value:
        _set(event, site.path, [copy.deepcopy(value[0]) for _ in range(high + 1)])
        return "array_above_max_length", site.path
    return None


def _bad_value(event: dict[str, Any], site: Site) -> tuple[str, Path] | None:
    node = site.node
    values = node["enum"] if "enum" in node else [node["const"]] if "const" in node else []
    if not site.path or not values or not all(isinstance(v, str) for v in values):
        return None
    _set(event, site.path, "zz_not_a_value")
    return "invalid_value", site.path


_EDITS: Final[dict[InvalidKind, Edit]] = {
    "unknown_parameter": _unknown_key,
    "wrong_type": _wrong_type,
    "out_of_range": _out_of_range,
    "invalid_value": _bad_value,
}


@cache
def _finder(event_type: str) -> SiteFinder:
    return SiteFinder(schema_for("client", event_type))


def _locked(sites: Sequence[Site]) -> set[Path]:
    """Paths of tag values that pick an anyOf branch: editing them changes the branch."""
    return {(*s.path, key) for s in sites for key in s.locked}


def _options(
    event: dict[str, Any], event_type: str, kinds: Sequence[InvalidKind]
) -> dict[InvalidKind, list[tuple[Site, str | None]]]:
    """The candidate edits of `event` by kind (a key for missing_required, else None)."""
    sites = _finder(event_type).sites(event)
    locked = _locked(sites)
    found: dict[InvalidKind, list[tuple[Site, str | None]]] = {kind: [] for kind in kinds}
    for site in (s for s in sites if s.path not in locked):
        value = get(event, site.path)
        for kind in kinds:
            if kind == "missing_required" and isinstance(value, Mapping):
                found[kind] += [(site, key) for key in _removable(site, value)]
            elif kind in _EDITS and (kind != "out_of_range" or _bounded(site.node, value)):
                found[kind].append((site, None))
    return {kind: options for kind, options in found.items() if options}


def _bounded(node: Mapping[str, Any], value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return "minimum" in node or "maximum" in node
    if isinstance(value, str):
        return "minLength" in node or node.get("maxLength", _MAX_LENGTH_EDIT) < _MAX_LENGTH_EDIT
    if isinstance(value, list):
        return "minItems" in node or "maxItems" in node
    return False


def _apply(
    event: dict[str, Any], kind: InvalidKind, site: Site, key: str | None
) -> InvalidEvent | None:
    edited = copy.deepcopy(event)
    if key is not None:
        del get(edited, site.path)[key]
        path = (*site.path, key)
        return InvalidEvent(edited, "missing_required_parameter", param_of(path), kind, path)
    done = _EDITS[kind](edited, site)
    if done is None:
        return None
    return InvalidEvent(edited, done[0], param_of(done[1]), kind, done[1])


def _rotated(items: Sequence[Any], start: int) -> list[Any]:
    return [*items[start:], *items[:start]]


@st.composite
def site_edits(
    draw: st.DrawFn, event_type: str, kinds: Sequence[InvalidKind]
) -> InvalidEvent | None:
    """One edit of a valid event of `event_type`, or None when no site fits the kinds.

    The kind is drawn first (so rare kinds such as out_of_range come up as often as
    the others), then the site; both shrink toward the first candidate.
    """
    event = draw(events_of("client", event_type))
    options = _options(event, event_type, kinds)
    if not options:
        return None
    order = list(options)
    for kind in _rotated(order, draw(st.integers(0, len(order) - 1))):
        candidates = options[kind]
        for site, key in _rotated(candidates, draw(st.integers(0, len(candidates) - 1))):
            found = _apply(event, kind, site, key)
            if found is not None:
                return found
    return None


# Beta-era fields and shapes in an otherwise valid GA event (failure catalog GA-SHAPE,
# AUDIO-FORMAT, CONTENT-TYPE): (event type, path, value, code). A value of None removes.
_BETA_SESSION: Final = (
    (("session", "modalities"), ["text"]),
    (("session", "voice"), "alloy"),
    (("session", "input_audio_format"), "pcm16"),
    (("session", "output_audio_format"), "pcm16"),
    (("session", "turn_detection"), {"type": "server_vad"}),
    (("session", "input_audio_transcription"), {"model": "whisper-1"}),
    (("session", "temperature"), 0.8),
    (("session", "max_response_output_tokens"), 4096),
)
_BETA_RESPONSE: Final = (
    (("response", "modalities"), ["text"]),
    (("response", "voice"), "alloy"),
    (("response", "output_audio_format"), "pcm16"),
    (("response", "temperature"), 0.8),
)
BETA_EDITS: Final[tuple[tuple[str, Path, Any, str], ...]] = (
    *(("session.update", path, value, "unknown_parameter") for path, value in _BETA_SESSION),
    ("session.update", ("session", "type"), None, "missing_required_parameter"),
    ("session.update", ("session", "audio", "input", "format"), "pcm16", "invalid_type"),
    *(("response.create", path, value, "unknown_parameter") for path, value in _BETA_RESPONSE),
    (
        "conversation.item.create",
        ("item",),
        {"type": "message", "role": "user", "content": [{"type": "input_image", "image": "AA=="}]},
        "unknown_parameter",
    ),
    (
        "conversation.item.create",
        ("item",),
        {"type": "message", "role": "assistant", "content": [{"type": "text", "text": "Hi"}]},
        "invalid_value",
    ),
)
_BETA_PARAMS: Final = {
    ("conversation.item.create", "unknown_parameter"): "item.content[0].image",
    ("conversation.item.create", "invalid_value"): "item.content[0].type",
}


def _put(event: dict[str, Any], path: Path, value: Any) -> None:
    """Set `path` (creating objects on the way); a None value removes the key."""
    target: Any = event
    for key in path[:-1]:
        if not isinstance(target.get(key), dict):
            target[key] = {}
        target = target[key]
    if value is None:
        target.pop(path[-1], None)
    else:
        target[path[-1]] = copy.deepcopy(value)


@st.composite
def beta_edits(draw: st.DrawFn, types: Sequence[str]) -> InvalidEvent | None:
    """A GA event of one of `types` with one beta-era field or shape put in."""
    edits = [edit for edit in BETA_EDITS if edit[0] in types]
    if not edits:
        return None
    event_type, path, value, code = draw(st.sampled_from(edits))
    event = copy.deepcopy(draw(events_of("client", event_type)))
    if event_type == "session.update" and event["session"].get("type") != "realtime":
        event["session"] = {"type": "realtime"}  # the GA shape the beta field goes into
    _put(event, path, value)
    param = _BETA_PARAMS.get((event_type, code), param_of(path))
    return InvalidEvent(event, code, param, "beta_shape", path)
