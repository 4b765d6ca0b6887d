"""Pure transformations of JSON Schema nodes used by the extractor.

Each function takes a schema (plain dicts/lists as loaded from the spec) and returns a new
one; nothing is mutated in place. Walking is keyword-aware: a property *named*
`description` is kept while the `description` keyword is stripped.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from typing import Any

Schema = dict[str, Any]
Visit = Callable[[Schema, str], Schema]

# Keywords whose value is a map of name -> subschema.
_SCHEMA_MAPS = ("properties", "$defs", "patternProperties", "dependentSchemas")
# Keywords whose value is a list of subschemas.
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
# Keywords whose value is one subschema.
_SCHEMA_SINGLES = ("items", "additionalProperties", "not", "contains", "propertyNames")

NULL_SCHEMA: Schema = {"type": "null"}


def _escape(name: str) -> str:
    return name.replace("~", "~0").replace("/", "~1")


def transform(schema: Any, visit: Visit, pointer: str = "") -> Any:
    """Rebuild `schema` bottom-up, calling `visit(node, json_pointer)` on every schema object."""
    if not isinstance(schema, dict):
        return schema
    out: Schema = {}
    for key, value in schema.items():
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {
                name: transform(sub, visit, f"{pointer}/{key}/{_escape(name)}")
                for name, sub in value.items()
            }
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [
                transform(sub, visit, f"{pointer}/{key}/{i}") for i, sub in enumerate(value)
            ]
        elif key in _SCHEMA_SINGLES:
            out[key] = transform(value, visit, f"{pointer}/{key}")
        else:
            out[key] = value
    return visit(out, pointer)


def subschemas(schema: Any) -> Iterator[Any]:
    """Every schema object directly below `schema` (one level)."""
    if not isinstance(schema, dict):
        return
    for key, value in schema.items():
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            yield from value.values()
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            yield from value
        elif key in _SCHEMA_SINGLES:
            yield value


def strip_annotations(schema: Any, keys: Collection[str], prefixes: Collection[str]) -> Any:
    """Drop prose and vendor keywords (`description`, `example`, `x-*`, ...) at every level."""

    def visit(node: Schema, _pointer: str) -> Schema:
        return {
            k: v
            for k, v in node.items()
            if k not in keys and not any(k.startswith(p) for p in prefixes)
        }

    return transform(schema, visit)


def one_of_to_any_of(schema: Any) -> Any:
    """Turn every `oneOf` into `anyOf` (the spec's oneOfs overlap; we discriminate ourselves)."""

    def visit(node: Schema, _pointer: str) -> Schema:
        if "oneOf" not in node:
            return node
        out = {k: v for k, v in node.items() if k != "oneOf"}
        if "anyOf" in node:  # both present: keep both constraints
            out["allOf"] = [*node.get("allOf", []), {"anyOf": node["oneOf"]}]
        else:
            out["anyOf"] = node["oneOf"]
        return out

    return transform(schema, visit)


def allows_null(node: Any) -> bool:
    """Whether `node` admits `null` on its own (type, enum/const or a null anyOf branch)."""
    if not isinstance(node, dict):
        return node is True
    types = node.get("type")
    if types == "null" or (isinstance(types, list) and "null" in types):
        return True
    if "const" in node and node["const"] is None:
        return True
    if None in node.get("enum", ()):
        return True
    return any(allows_null(branch) for branch in node.get("anyOf", ()))


_ANNOTATIONS = frozenset({"default", "nullable", "format"})


def allow_null(node: Schema) -> Schema:
    """`node` or null: append a null branch to a bare anyOf, else wrap in `anyOf[node, null]`."""
    if set(node) - _ANNOTATIONS == {"anyOf"}:
        return {**node, "anyOf": [*node["anyOf"], dict(NULL_SCHEMA)]}
    outer = {k: v for k, v in node.items() if k == "default"}
    inner = {k: v for k, v in node.items() if k != "default"}
    return {**outer, "anyOf": [inner, dict(NULL_SCHEMA)]}


def nullable_to_null(schema: Any) -> Any:
    """OpenAPI 3.0 `nullable: true` (ignored by 3.1/JSON Schema) becomes an explicit null branch."""

    def visit(node: Schema, _pointer: str) -> Schema:
        if "nullable" not in node:
            return node
        nullable = node["nullable"]
        rest = {k: v for k, v in node.items() if k != "nullable"}
        return allow_null(rest) if nullable is True and not allows_null(rest) else rest

    return transform(schema, visit)


def close_objects(schema: Any, keep_open: Collection[str]) -> Any:
    """Add `additionalProperties: false` to every node with `properties` and no such keyword.

    `keep_open` holds JSON pointers (within `schema`) of nodes that must stay open.
    """

    def visit(node: Schema, pointer: str) -> Schema:
        if "properties" in node and "additionalProperties" not in node and pointer not in keep_open:
            return {**node, "additionalProperties": False}
        return node

    return transform(schema, visit)


def collect_refs(schema: Any, prefix: str) -> set[str]:
    """Names of every `$ref` starting with `prefix` anywhere in `schema`."""
    found: set[str] = set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(prefix):
                found.add(ref[len(prefix) :])
            stack.extend(subschemas(node))
    return found


def rewrite_refs(schema: Any, old_prefix: str, new_prefix: str) -> Any:
    """Point every `$ref` that starts with `old_prefix` at `new_prefix` instead."""

    def visit(node: Schema, _pointer: str) -> Schema:
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(old_prefix):
            return {**node, "$ref": new_prefix + ref[len(old_prefix) :]}
        return node

    return transform(schema, visit)


def resolve_pointer(schema: Any, pointer: str) -> Any:
    """The node at JSON pointer `pointer` (RFC 6901) in `schema`; KeyError/IndexError if absent."""
    node = schema
    for raw in pointer.split("/")[1:] if pointer else []:
        token = raw.replace("~1", "/").replace("~0", "~")
        node = node[int(token)] if isinstance(node, list) else node[token]
    return node


def replace_at(schema: Any, pointer: str, new: Any) -> Any:
    """A copy of `schema` with the node at `pointer` replaced by `new` (copies along the path)."""
    if not pointer:
        return new
    head, _, rest = pointer[1:].partition("/")
    token = head.replace("~1", "/").replace("~0", "~")
    child_pointer = f"/{rest}" if rest else ""
    if isinstance(schema, list):
        index = int(token)
        out_list = list(schema)
        out_list[index] = replace_at(schema[index], child_pointer, new)
        return out_list
    out = dict(schema)
    out[token] = replace_at(schema[token], child_pointer, new)
    return out
