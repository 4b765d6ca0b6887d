"""Hypothesis strategies read from the bundle's JSON Schemas (no hypothesis-jsonschema).

`events_of(side, event_type)` draws schema-valid events of one type. The bundle uses a
closed keyword set (`conformance.schemas._walker.SUPPORTED_KEYWORDS`), so a small builder
covers it: `$ref`, `const`, `enum`, `anyOf`, `allOf` (string patterns), typed nodes with
their bounds. Sizes stay small: generation must be cheap enough for thousands of events.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from hypothesis import strategies as st

from conformance.schemas import schema_for

INT_LIMIT = 1_000_000  # bounds for integers the schema leaves open (keeps events realistic)
MAX_TEXT = 12
MAX_ITEMS = 3

TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=MAX_TEXT)
ANY_JSON: st.SearchStrategy[Any] = st.none() | st.booleans() | st.integers(-5, 5) | TEXT


class SchemaStrategies:
    """Builds strategies for the nodes of one bundle schema (its `$defs` resolved)."""

    def __init__(self, root: Mapping[str, Any]) -> None:
        self.defs: Mapping[str, Any] = root.get("$defs", {})
        self._refs: dict[str, st.SearchStrategy[Any]] = {}

    def build(self, node: Any) -> st.SearchStrategy[Any]:
        """A strategy for values valid against `node`."""
        if node is True or node == {} or not isinstance(node, Mapping):
            return ANY_JSON
        if "$ref" in node:
            return self._ref(node["$ref"])
        if "const" in node:
            return st.just(node["const"])
        if "enum" in node:
            return st.sampled_from(node["enum"])
        if "anyOf" in node:
            return st.one_of([self.build(branch) for branch in node["anyOf"]])
        kinds = node.get("type")
        if isinstance(kinds, list):
            return st.one_of([self.build({**node, "type": kind}) for kind in kinds])
        return self._typed(node, kinds)

    def _ref(self, ref: str) -> st.SearchStrategy[Any]:
        name = ref.removeprefix("#/$defs/")
        if name not in self._refs:  # deferred: the bundle's $defs may be recursive
            self._refs[name] = st.deferred(lambda: self.build(self.defs[name]))
        return self._refs[name]

    def _typed(self, node: Mapping[str, Any], kind: str | None) -> st.SearchStrategy[Any]:
        if kind == "object" or "properties" in node:
            return self._object(node)
        if kind == "array":
            items = self.build(node.get("items", True))
            low = node.get("minItems", 0)
            return st.lists(items, min_size=low, max_size=min(node.get("maxItems", 9), low + 2))
        if kind == "string":
            return _string(node)
        if kind == "integer":
            return st.integers(node.get("minimum", -INT_LIMIT), node.get("maximum", INT_LIMIT))
        if kind == "number":
            return _number(node)
        if kind == "boolean":
            return st.booleans()
        if kind == "null":
            return st.none()
        raise ValueError(f"no strategy for schema node {node!r}")

    def _object(self, node: Mapping[str, Any]) -> st.SearchStrategy[Any]:
        props: Mapping[str, Any] = node.get("properties", {})
        if not props:
            extra = node.get("additionalProperties", True)
            values = self.build(extra) if isinstance(extra, Mapping) else TEXT
            names = node.get("propertyNames")
            keys = _string(names) if isinstance(names, Mapping) else TEXT
            return st.dictionaries(keys, values, max_size=min(2, node.get("maxProperties", 2)))
        required = set(node.get("required", ()))
        return st.fixed_dictionaries(
            {key: self.build(value) for key, value in props.items() if key in required},
            optional={
                key: self.build(value) for key, value in props.items() if key not in required
            },
        )


def _string(node: Mapping[str, Any]) -> st.SearchStrategy[str]:
    patterns = [node["pattern"]] if "pattern" in node else []
    patterns += [sub["pattern"] for sub in node.get("allOf", ()) if "pattern" in sub]
    if patterns:  # the last pattern refines the earlier ones (errata: image_url)
        pattern = patterns[-1]
        return st.from_regex(pattern, fullmatch=pattern.endswith("$"))
    low, high = node.get("minLength", 0), node.get("maxLength")
    top = max(low, min(high if high is not None else MAX_TEXT, MAX_TEXT))
    return st.text(st.characters(exclude_categories=["Cs"]), min_size=low, max_size=top)


def _number(node: Mapping[str, Any]) -> st.SearchStrategy[float | int]:
    low, high = node.get("minimum"), node.get("maximum")
    floats = st.floats(low, high, allow_nan=False, allow_infinity=False)
    ints = st.integers(
        int(low) + 1 if low is not None else -100, int(high) if high is not None else 100
    )
    return floats | ints


@cache
def events_of(side: str, event_type: str) -> st.SearchStrategy[dict[str, Any]]:
    """Schema-valid events of one GA type (`side` is `client` or `server`)."""
    schema = schema_for(side, event_type)
    strategy: st.SearchStrategy[dict[str, Any]] = SchemaStrategies(schema).build(schema)
    return strategy
