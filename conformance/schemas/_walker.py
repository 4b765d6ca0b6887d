"""The error walker: live-worded problems of an instance against one bundle schema.

Only called once jsonschema-rs has said "invalid". It walks the schema and the instance
together and reports what the live server would say, in the order it would say it:

1. `type` (then nothing else for that value), `enum`, `const`;
2. `anyOf`, choosing the branch: by JSON type, then by a tag property (`type`, `role`, any
   property that is a single-valued `const`/`enum` in at least two branches), then the
   branch with the fewest (then deepest) problems;
3. objects: unknown keys (instance order), missing required keys (schema order), too many
   keys, then each key's length and value (instance order);
4. arrays: `minItems`/`maxItems`, then every element; strings: `minLength`/`maxLength`, then
   `pattern`; numbers: `minimum`/`maximum`.

`SUPPORTED_KEYWORDS` lists every keyword it understands; the bundle must use no other
validation keyword (a test checks this), which is what keeps the walker and jsonschema-rs
in agreement on valid vs invalid.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any, NamedTuple

from conformance.schemas import _messages as msg

SUPPORTED_KEYWORDS = frozenset(
    {
        "$schema", "$defs", "$ref", "type", "enum", "const", "anyOf", "allOf",
        "properties", "additionalProperties", "required", "maxProperties", "propertyNames",
        "items", "minItems", "maxItems",
        "minLength", "maxLength", "pattern", "minimum", "maximum",
        "default", "format",  # annotations only: format is not asserted (as in jsonschema-rs)
    }
)  # fmt: skip
_DEFS_PREFIX = "#/$defs/"
_ANNOTATIONS = frozenset({"default", "format"})


class Issue(NamedTuple):
    """One problem found by the walker (the public API turns it into a `Finding`)."""

    code: str
    message: str
    param: str | None
    value: Any
    depth: int


def _issue(path: msg.Path, value: Any, worded: tuple[str, str]) -> Issue:
    return Issue(worded[0], worded[1], msg.param_of(path), value, len(path))


@cache
def _regex(pattern: str) -> re.Pattern[str]:
    # ECMA/Rust `$` is end-of-input only; Python's also matches before a final newline.
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0 but True != 1 (Python's == says True == 1)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and bool(a == b)


def type_matches(types: str | Sequence[str], value: Any) -> bool:
    """Whether `value` has one of the JSON Schema `types` (integral floats count as integers)."""
    kind = msg.json_type_of(value)
    wanted = (types,) if isinstance(types, str) else types
    if kind in wanted:
        return True
    if kind == "integer":
        return "number" in wanted
    return kind == "number" and "integer" in wanted and float(value).is_integer()


class Walker:
    """Walks one bundle schema (with its `$defs`); reusable for many instances."""

    def __init__(self, root: Mapping[str, Any], pattern_messages: Mapping[str, str]) -> None:
        self._root = root
        self._defs: Mapping[str, Any] = root.get("$defs", {})
        self._pattern_messages = pattern_messages
        # Both depend on the schema only; keyed by the id() of nodes that `root` keeps alive.
        self._branch_cache: dict[int, list[Any]] = {}
        self._tag_key_cache: dict[tuple[int, ...], list[str]] = {}

    def issues(self, instance: Any) -> list[Issue]:
        """Every problem of `instance`, the one the live server reports first at index 0."""
        out: list[Issue] = []
        self._walk(self._root, instance, (), out)
        return out

    # --- schema plumbing ---

    def _deref(self, ref: str) -> Any:
        if not ref.startswith(_DEFS_PREFIX):
            raise ValueError(f"only local $defs references are supported, got {ref!r}")
        return self._defs[ref[len(_DEFS_PREFIX) :]]

    def _resolve(self, node: Any) -> Any:
        while (
            isinstance(node, dict) and "$ref" in node and not (set(node) - _ANNOTATIONS - {"$ref"})
        ):
            node = self._deref(node["$ref"])
        return node

    def _branches(self, branches: Sequence[Any]) -> list[Any]:
        cached = self._branch_cache.get(id(branches))
        if cached is None:
            cached = self._branch_cache[id(branches)] = self._flatten(branches)
        return cached

    def _flatten(self, branches: Sequence[Any]) -> list[Any]:
        flat: list[Any] = []
        for branch in branches:
            node = self._resolve(branch)
            if isinstance(node, dict) and set(node) - _ANNOTATIONS == {"anyOf"}:
                flat.extend(self._flatten(node["anyOf"]))
            else:
                flat.append(node)
        return flat

    def _types_of(self, node: Any) -> list[str] | None:
        """The JSON types a node admits at most (None: any), in schema order."""
        node = self._resolve(node)
        if not isinstance(node, dict):
            return None if node is not False else []
        if "type" in node:
            types = node["type"]
            return [types] if isinstance(types, str) else list(types)
        if "enum" in node or "const" in node:
            values = node["enum"] if "enum" in node else [node["const"]]
            return list(dict.fromkeys(msg.json_type_of(v) for v in values))
        if "anyOf" in node:
            found: list[str] = []
            for branch in node["anyOf"]:
                types = self._types_of(branch)
                if types is None:
                    return None
                found.extend(t for t in types if t not in found)
            return found
        return None

    def _admits(self, node: Any, value: Any) -> bool:
        types = self._types_of(node)
        return types is None or type_matches(types, value)

    # --- the walk ---

    def _walk(self, schema: Any, value: Any, path: msg.Path, out: list[Issue]) -> None:
        if schema is True:
            return
        if schema is False:
            out.append(_issue(path, value, msg.schema_false(msg.param_of(path) or "")))
            return
        if "$ref" in schema:
            self._walk(self._deref(schema["$ref"]), value, path, out)
        if "type" in schema and not type_matches(schema["type"], value):
            types = schema["type"]
            expected = [types] if isinstance(types, str) else types
            out.append(
                _issue(path, value, msg.invalid_type(msg.param_of(path) or "", expected, value))
            )
            return
        if "enum" in schema and not any(json_equal(value, v) for v in schema["enum"]):
            out.append(_issue(path, value, msg.invalid_value(value, schema["enum"])))
            return
        if "const" in schema and not json_equal(value, schema["const"]):
            out.append(_issue(path, value, msg.invalid_value(value, [schema["const"]])))
            return
        if "anyOf" in schema:
            self._any_of(schema["anyOf"], value, path, out)
        for sub in schema.get("allOf", ()):  # first failing subschema only (refinements)
            before = len(out)
            self._walk(sub, value, path, out)
            if len(out) > before:
                break
        if isinstance(value, dict):
            self._object(schema, value, path, out)
        elif isinstance(value, list):
            self._array(schema, value, path, out)
        elif isinstance(value, str):
            self._string(schema, value, path, out)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            self._number(schema, value, path, out)

    def _object(self, schema: Any, value: dict[str, Any], path: msg.Path, out: list[Issue]) -> None:
        props: Mapping[str, Any] = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        if extra is False:
            for key in value:
                if key not in props:
                    param = msg.param_of((*path, key)) or key
                    out.append(_issue((*path, key), value[key], msg.unknown_parameter(param)))
        for name in schema.get("required", ()):
            if name not in value:
                out.append(
                    _issue(
                        (*path, name),
                        None,
                        msg.missing_required(msg.param_of((*path, name)) or name),
                    )
                )
        limit = schema.get("maxProperties")
        if limit is not None and len(value) > limit:
            param = msg.param_of(path) or ""
            out.append(_issue(path, value, msg.too_many_properties(param, limit, len(value))))
        names = schema.get("propertyNames", {}).get("maxLength")
        for key, item in value.items():
            if names is not None and len(key) > names:
                param = msg.param_of((*path, key)) or key
                out.append(_issue((*path, key), key, msg.key_length(param, names, len(key))))
            if key in props:
                self._walk(props[key], item, (*path, key), out)
            elif isinstance(extra, dict):
                self._walk(extra, item, (*path, key), out)

    def _array(self, schema: Any, value: list[Any], path: msg.Path, out: list[Issue]) -> None:
        param = msg.param_of(path) or ""
        if "minItems" in schema and len(value) < schema["minItems"]:
            out.append(
                _issue(
                    path,
                    value,
                    msg.array_length(param, schema["minItems"], len(value), above=False),
                )
            )
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            out.append(
                _issue(
                    path, value, msg.array_length(param, schema["maxItems"], len(value), above=True)
                )
            )
        items = schema.get("items")
        if items is not None:
            for index, item in enumerate(value):
                self._walk(items, item, (*path, index), out)

    def _string(self, schema: Any, value: str, path: msg.Path, out: list[Issue]) -> None:
        param = msg.param_of(path) or ""
        if "minLength" in schema and len(value) < schema["minLength"]:
            out.append(
                _issue(
                    path,
                    value,
                    msg.string_length(param, schema["minLength"], len(value), above=False),
                )
            )
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            out.append(
                _issue(
                    path,
                    value,
                    msg.string_length(param, schema["maxLength"], len(value), above=True),
                )
            )
        pattern = schema.get("pattern")
        if pattern is not None and _regex(pattern).search(value) is None:
            custom = self._pattern_messages.get(pattern)
            worded = (
                ("invalid_value", custom.format(param=param))
                if custom
                else msg.pattern_mismatch(param, pattern)
            )
            out.append(_issue(path, value, worded))

    def _number(self, schema: Any, value: float, path: msg.Path, out: list[Issue]) -> None:
        param = msg.param_of(path) or ""
        kind = "integer" if schema.get("type") == "integer" else "decimal"
        if "minimum" in schema and value < schema["minimum"]:
            out.append(
                _issue(
                    path,
                    value,
                    msg.out_of_range(param, kind, schema["minimum"], value, above=False),
                )
            )
        if "maximum" in schema and value > schema["maximum"]:
            out.append(
                _issue(
                    path, value, msg.out_of_range(param, kind, schema["maximum"], value, above=True)
                )
            )

    # --- anyOf ---

    def _any_of(
        self, branches: Sequence[Any], value: Any, path: msg.Path, out: list[Issue]
    ) -> None:
        candidates = self._branches(branches)
        admitted = [b for b in candidates if self._admits(b, value)]
        if not admitted:
            expected: list[str] = []
            for branch in candidates:
                expected.extend(t for t in self._types_of(branch) or () if t not in expected)
            out.append(
                _issue(path, value, msg.invalid_type(msg.param_of(path) or "", expected, value))
            )
            return
        lead: Issue | None = None
        if isinstance(value, dict) and len(admitted) > 1:
            admitted, lead = self._discriminate(admitted, value, path)
            if not admitted:
                if lead is not None:
                    out.append(lead)
                return
        best: list[Issue] | None = None
        for branch in admitted:
            found: list[Issue] = []
            self._walk(branch, value, path, found)
            if not found:
                return
            if best is None or _rank(found) < _rank(best):
                best = found
        if lead is not None:
            out.append(lead)
            best = [i for i in best or () if (i.code, i.param) != (lead.code, lead.param)]
        out.extend(best or ())

    def _tag(self, branch: Any, key: str) -> list[Any] | None:
        props = branch.get("properties") if isinstance(branch, dict) else None
        if not props or key not in props:
            return None
        node = self._resolve(props[key])
        if "const" in node:
            return [node["const"]]
        values = node.get("enum")
        return list(values) if values is not None and len(values) == 1 else None

    def _tag_keys(self, branches: list[Any]) -> list[str]:
        key = tuple(map(id, branches))
        cached = self._tag_key_cache.get(key)
        if cached is None:
            cached = self._tag_key_cache[key] = self._find_tag_keys(branches)
        return cached

    def _find_tag_keys(self, branches: list[Any]) -> list[str]:
        keys: list[str] = []
        for branch in branches:
            for key in branch.get("properties", {}) if isinstance(branch, dict) else ():
                tagged = sum(self._tag(b, key) is not None for b in branches)
                if key not in keys and tagged >= 2:
                    keys.append(key)
        return sorted(keys, key=lambda k: (k != "type", k != "role"))

    def _discriminate(
        self, branches: list[Any], value: Mapping[str, Any], path: msg.Path
    ) -> tuple[list[Any], Issue | None]:
        """Narrow `branches` by tag properties; ([], issue) when the tag itself is wrong."""
        for key in self._tag_keys(branches):
            if key not in value:
                if all(
                    self._tag(b, key) is not None and key in b.get("required", ()) for b in branches
                ):
                    param = msg.param_of((*path, key)) or key
                    return branches, _issue((*path, key), None, msg.missing_required(param))
                continue
            tag = value[key]
            matching = [
                b
                for b in branches
                if (t := self._tag(b, key)) is None or any(json_equal(tag, v) for v in t)
            ]
            if not matching:
                allowed = list(dict.fromkeys(v for b in branches for v in self._tag(b, key) or ()))
                where = (*path, key)
                if not any(type_matches(msg.json_type_of(v), tag) for v in allowed):
                    types = list(dict.fromkeys(msg.json_type_of(v) for v in allowed))
                    return [], _issue(
                        where, tag, msg.invalid_type(msg.param_of(where) or key, types, tag)
                    )
                return [], _issue(where, tag, msg.invalid_value(tag, allowed))
            branches = matching
            if len(branches) == 1:
                break
        return branches, None


def _rank(issues: list[Issue]) -> tuple[int, int]:
    return len(issues), -max(i.depth for i in issues)
