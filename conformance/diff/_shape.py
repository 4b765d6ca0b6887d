"""Normalisation: an event's *shape*, what `diff` compares instead of its values.

A shape keeps, recursively, the field names and the JSON type of every value, the values
of the few enum-like fields that say what an event means (`DISCRIMINATORS`), and, for an
array, one merged shape per kind of element (grouped by the element's `type` when it
has one). Everything else is left out, so two sessions of the same client traffic have
the same shapes whatever ids, times, generated text or audio, usage numbers and rate-limit
values they carried. Fields in `PRESENCE_ONLY` are compared by presence alone: their
type may differ too (an id that is null on the first item, `logprobs` null or a list).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final, Literal

ShapeKind = Literal["missing", "extra", "type", "value"]

DISCRIMINATORS: Final = frozenset({"type", "object", "role", "status", "code", "reason"})
"""Fields whose string values are compared (enums): a different value is a difference."""

PRESENCE_ONLY: Final = frozenset(
    {
        # ids (also every key ending in `_id`)
        "id",
        # times and expiry
        "created_at",
        "expires_at",
        # generated text and audio
        "delta",
        "text",
        "transcript",
        "arguments",
        "audio",
        "logprobs",
        "obfuscation",
    }
)
"""Fields compared by presence only (any value, any type): ids, times, generated content."""


def presence_only(name: str) -> bool:
    """Whether field `name` is compared by presence only."""
    return name in PRESENCE_ONLY or name.endswith("_id")


def json_type(value: Any) -> str:
    """The JSON type name of a parsed value (integers and decimals are both `number`)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


@dataclass(slots=True)
class Shape:
    """The normalised form of a value (and of several values, merged).

    `types`: the JSON types seen; `fields`: the shapes of an object's fields; `items`: an
    array's elements merged per group (`type=<value>` for elements with a string `type`,
    `""` for the others); `values`: the strings seen, for a discriminator field;
    `presence`: compared by presence only.
    """

    types: set[str] = field(default_factory=set)
    fields: dict[str, Shape] = field(default_factory=dict)
    items: dict[str, Shape] = field(default_factory=dict)
    values: set[str] = field(default_factory=set)
    presence: bool = False

    def merge(self, other: Shape) -> None:
        """Merge `other` into this shape (the union of both)."""
        self.types |= other.types
        self.values |= other.values
        self.presence = self.presence or other.presence
        for into, source in ((self.fields, other.fields), (self.items, other.items)):
            for name, shape in source.items():
                mine = into.get(name)
                if mine is None:
                    into[name] = shape
                else:
                    mine.merge(shape)


def element_group(value: Any) -> str:
    """The group an array element is merged into: `type=<its type>`, else `""`."""
    if isinstance(value, dict) and isinstance(value.get("type"), str):
        return f"type={value['type']}"
    return ""


def shape_of(value: Any, name: str = "") -> Shape:
    """The shape of a parsed JSON value held by field `name`."""
    if name and presence_only(name):
        return Shape(presence=True)
    kind = json_type(value)
    shape = Shape(types={kind})
    if kind == "object":
        shape.fields = {str(k): shape_of(v, str(k)) for k, v in value.items()}
    elif kind == "array":
        for element in value:
            group = element_group(element)
            found = shape.items.get(group)
            if found is None:
                shape.items[group] = shape_of(element)
            else:
                found.merge(shape_of(element))
    elif kind == "string" and name in DISCRIMINATORS:
        shape.values = {value}
    return shape


@dataclass(frozen=True, slots=True)
class ShapeDifference:
    """One way two shapes differ: `kind` is `missing` (only in A), `extra` (only in B),
    `type` or `value`; `field` the dotted path (`content[type=input_text].text`)."""

    kind: ShapeKind
    field: str
    a: str | None
    b: str | None


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _types(shape: Shape) -> str:
    return "|".join(sorted(shape.types)) or "?"


def _values(shape: Shape) -> str:
    return "|".join(sorted(shape.values))


def compare(a: Shape, b: Shape, path: str = "") -> Iterator[ShapeDifference]:
    """The differences between two shapes, outermost first, fields in A's order."""
    if a.presence or b.presence:
        return
    if a.types != b.types:
        yield ShapeDifference("type", path, _types(a), _types(b))
    if a.values and b.values and a.values != b.values:
        yield ShapeDifference("value", path, _values(a), _values(b))
    if "object" in a.types and "object" in b.types:
        for name, shape in a.fields.items():
            other = b.fields.get(name)
            where = _join(path, name)
            if other is None:
                yield ShapeDifference("missing", where, _types(shape), None)
            else:
                yield from compare(shape, other, where)
        for name, shape in b.fields.items():
            if name not in a.fields:
                yield ShapeDifference("extra", _join(path, name), None, _types(shape))
    if a.items and b.items:  # an empty array shows no element shape: nothing to compare
        for group, shape in a.items.items():
            other = b.items.get(group)
            where = f"{path}[{group}]"
            if other is None:
                yield ShapeDifference("missing", where, _types(shape), None)
            else:
                yield from compare(shape, other, where)
        for group, shape in b.items.items():
            if group not in a.items:
                yield ShapeDifference("extra", f"{path}[{group}]", None, _types(shape))
