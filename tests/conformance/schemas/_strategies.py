"""Small Hypothesis strategies built from the bundle schemas (local to these tests).

`valid_events(side)` draws schema-valid events of every GA type; `mutated(...)` draws one
edit (unknown key, wrong type, removed key) at a random place in such an event. A later
task replaces these with public strategies in `conformance/strategies.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from conformance.schemas import CLIENT_EVENT_TYPES, SERVER_EVENT_TYPES, schema_for

Path = tuple[str | int, ...]
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
LIMIT = 2**53


class _Builder:
    def __init__(self, root: Mapping[str, Any]) -> None:
        self.defs: Mapping[str, Any] = root.get("$defs", {})

    def build(self, node: Any) -> st.SearchStrategy[Any]:
        if node is True or node == {}:
            return st.none() | st.integers(-5, 5) | TEXT
        if "$ref" in node:
            return self.build(self.defs[node["$ref"].removeprefix("#/$defs/")])
        if "const" in node:
            return st.just(node["const"])
        if "enum" in node:
            return st.sampled_from(node["enum"])
        if "anyOf" in node:
            return st.one_of([self.build(b) for b in node["anyOf"]])
        types = node.get("type")
        if isinstance(types, list):
            return st.one_of([self.build({**node, "type": t}) for t in types])
        return self._typed(node, types)

    def _typed(self, node: Mapping[str, Any], kind: str | None) -> st.SearchStrategy[Any]:
        if kind == "object" or "properties" in node:
            return self._object(node)
        if kind == "array":
            items = self.build(node.get("items", True))
            return st.lists(
                items, min_size=node.get("minItems", 0), max_size=node.get("maxItems", 3)
            )
        if kind == "string":
            return self._string(node)
        if kind == "integer":
            low, high = node.get("minimum", -LIMIT), node.get("maximum", LIMIT)
            return st.integers(min_value=low, max_value=high)
        if kind == "number":
            low, high = node.get("minimum"), node.get("maximum")
            return st.floats(low, high, allow_nan=False, allow_infinity=False) | st.integers(
                int(low) + 1 if low is not None else -100, int(high) if high is not None else 100
            )
        if kind == "boolean":
            return st.booleans()
        if kind == "null":
            return st.none()
        raise AssertionError(f"no strategy for {node!r}")

    def _object(self, node: Mapping[str, Any]) -> st.SearchStrategy[Any]:
        props: Mapping[str, Any] = node.get("properties", {})
        if not props:
            extra = node.get("additionalProperties", True)
            values = self.build(extra) if isinstance(extra, dict) else TEXT
            return st.dictionaries(TEXT, values, max_size=2)
        required = set(node.get("required", ()))
        return st.fixed_dictionaries(
            {k: self.build(v) for k, v in props.items() if k in required},
            optional={k: self.build(v) for k, v in props.items() if k not in required},
        )

    def _string(self, node: Mapping[str, Any]) -> st.SearchStrategy[str]:
        patterns = [node["pattern"]] if "pattern" in node else []
        patterns += [sub["pattern"] for sub in node.get("allOf", ()) if "pattern" in sub]
        if patterns:  # the last pattern refines the earlier ones (see errata image_url)
            pattern = patterns[-1]
            return st.from_regex(pattern, fullmatch=pattern.endswith("$"))
        low, high = node.get("minLength", 0), node.get("maxLength")
        return st.text(
            st.characters(exclude_categories=["Cs"]),
            min_size=low,
            max_size=min(high, 12) if high is not None else 12,
        )


def event_of(side: str, event_type: str) -> st.SearchStrategy[dict[str, Any]]:
    """Schema-valid events of one type."""
    schema = schema_for(side, event_type)
    strategy: st.SearchStrategy[dict[str, Any]] = _Builder(schema).build(schema)
    return strategy


def valid_events(side: str) -> st.SearchStrategy[dict[str, Any]]:
    """Schema-valid events of every GA type of `side`."""
    types = CLIENT_EVENT_TYPES if side == "client" else SERVER_EVENT_TYPES
    return st.sampled_from(types).flatmap(lambda t: event_of(side, t))


def dict_paths(value: Any, path: Path = ()) -> list[Path]:
    """Paths of every object inside `value` (the root included)."""
    found: list[Path] = []
    if isinstance(value, dict):
        found.append(path)
        for key, item in value.items():
            found.extend(dict_paths(item, (*path, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(dict_paths(item, (*path, index)))
    return found


def value_paths(value: Any, path: Path = ()) -> list[Path]:
    """Paths of every value below the root."""
    found: list[Path] = []
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, item in items:
        found.append((*path, key))
        found.extend(value_paths(item, (*path, key)))
    return found


def get(value: Any, path: Path) -> Any:
    for key in path:
        value = value[key]
    return value


def param(path: Path) -> str:
    """The live `param` spelling of a path, written independently of the code under test."""
    text = ""
    for key in path:
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else key)
    return text


# One value per JSON type; a wrong-type mutation picks one whose type differs from the original.
FOREIGN_VALUES: tuple[Any, ...] = (12345, "zz", True, None, [])


def json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


@dataclass(frozen=True)
class Mutation:
    """One edit of a valid event: what was done and where."""

    kind: str  # "unknown_key", "wrong_type" or "removed_key"
    path: Path  # the edited object (unknown_key) or value (wrong_type, removed_key)
    event: dict[str, Any]


@st.composite
def mutated(draw: st.DrawFn, side: str) -> Mutation:
    """A valid event with one random edit that may or may not make it invalid."""
    event = draw(valid_events(side))
    kind = draw(st.sampled_from(["unknown_key", "wrong_type", "removed_key"]))
    if kind == "unknown_key":
        path = draw(st.sampled_from(dict_paths(event)))
        get(event, path)["zz_unknown_key"] = "zz"
        return Mutation(kind, (*path, "zz_unknown_key"), event)
    paths = [p for p in value_paths(event) if p != ("type",)]
    if kind == "removed_key":
        paths = [p for p in paths if isinstance(p[-1], str)]
    if not paths:
        return Mutation("none", (), event)
    path = draw(st.sampled_from(paths))
    parent = get(event, path[:-1])
    if kind == "removed_key":
        del parent[path[-1]]
    else:
        original = parent[path[-1]]
        options = [v for v in FOREIGN_VALUES if json_kind(v) != json_kind(original)]
        parent[path[-1]] = draw(st.sampled_from(options))
    return Mutation(kind, path, event)
