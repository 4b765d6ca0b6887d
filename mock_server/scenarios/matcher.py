"""respx-style matchers on events: `{type: session.update, session.type__exists: false}`.

A key is a dotted path into the event (integer segments index lists: `item.content.0.type`)
with an optional `__lookup` suffix: `eq` (the default), `in`, `regex`, `contains`, `exists`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

_MISSING: Final = object()


@dataclass(frozen=True, slots=True)
class Condition:
    """One `path__lookup: value` pair of a matcher."""

    path: tuple[str, ...]
    lookup: str
    value: Any
    pattern: re.Pattern[str] | None = None

    def holds(self, event: Mapping[str, Any]) -> bool:
        """Whether the event satisfies this condition."""
        found = resolve(event, self.path)
        if self.lookup == "exists":
            return (found is not _MISSING) == bool(self.value)
        if found is _MISSING:
            return False
        if self.lookup == "in":
            return found in self.value
        if self.lookup == "regex":
            return (
                isinstance(found, str)
                and self.pattern is not None
                and bool(self.pattern.search(found))
            )
        if self.lookup == "contains":
            return _contains(found, self.value)
        return bool(found == self.value)


@dataclass(frozen=True, slots=True)
class Matcher:
    """All conditions must hold; an empty matcher matches every frame, even unparsable ones."""

    conditions: tuple[Condition, ...] = ()

    def matches(self, event: Mapping[str, Any] | None) -> bool:
        """Whether `event` (None for a frame that is not a JSON object) matches."""
        if not self.conditions:
            return True
        if event is None:
            return False
        return all(condition.holds(event) for condition in self.conditions)

    def values_of(self, field: str) -> list[Any]:
        """The values given for `field` (any lookup), e.g. every `type` named."""
        found: list[Any] = []
        for condition in self.conditions:
            if condition.path == (field,) and condition.lookup in ("eq", "in"):
                value = condition.value
                found.extend(value if condition.lookup == "in" else [value])
        return found


def split_key(key: str) -> tuple[tuple[str, ...], str | None]:
    """`session.type__exists` -> (`("session", "type")`, `"exists"`); no suffix -> None."""
    path, sep, lookup = key.rpartition("__")
    if not sep or not path:
        return tuple(key.split(".")), None
    return tuple(path.split(".")), lookup


def compile_matcher(spec: Mapping[str, Any] | None) -> Matcher:
    """Build a `Matcher` from an already validated `match:` mapping."""
    conditions = []
    for key, value in (spec or {}).items():
        path, lookup = split_key(key)
        lookup = lookup or "eq"
        pattern = re.compile(value) if lookup == "regex" else None
        conditions.append(Condition(path, lookup, value, pattern))
    return Matcher(tuple(conditions))


def resolve(event: Any, path: tuple[str, ...]) -> Any:
    """The value at a dotted path, or a private sentinel when it is absent."""
    current = event
    for part in path:
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return _MISSING
    return current


def _contains(found: Any, wanted: Any) -> bool:
    if isinstance(found, str):
        return isinstance(wanted, str) and wanted in found
    if isinstance(found, Mapping):
        return wanted in found
    if isinstance(found, list):
        return wanted in found
    return False
