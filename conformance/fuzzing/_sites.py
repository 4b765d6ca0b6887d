"""Where a valid event can be edited so that exactly one, predictable finding results.

`sites(schema, event)` walks a bundle schema and a valid instance together and lists the
places whose schema node is unambiguous: the instance reaches it through no `anyOf`, or
through one whose branch is settled by the value's JSON type or by a tag (`type`, `role`).
Inside an ambiguous `anyOf` the live server's choice of branch (and so its error) depends
on the branch ranking, so no edit is offered there. Each `Site` knows the JSON types its
position admits, which keeps wrong-type edits from landing in a sibling branch.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from conformance.schemas._messages import json_type_of

Path = tuple[str | int, ...]
_ANNOTATIONS = frozenset({"default", "format", "description", "title", "$schema", "$defs"})
_TAG_KEYS = ("type", "role")


@dataclass(frozen=True, slots=True)
class Site:
    """One position of an instance: its path, settled schema node and admitted types."""

    path: Path
    node: Mapping[str, Any]  # resolved: no bare $ref, no anyOf
    admitted: tuple[str, ...] | None  # JSON types the position admits (None: any)
    in_any_of: bool  # the position itself is an anyOf (a wrong type is invalid_type)
    locked: frozenset[str]  # object keys that select its anyOf branch: never removed


def admits(types: Sequence[str] | None, value: Any) -> bool:
    """Whether a position admitting `types` accepts the JSON type of `value`."""
    if types is None:
        return True
    kind = json_type_of(value)
    return kind in types or (kind == "integer" and "number" in types)


class SiteFinder:
    """Resolves references and anyOf branches of one bundle schema."""

    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self.defs: Mapping[str, Any] = root.get("$defs", {})

    def resolve(self, node: Any) -> Any:
        """Follow `$ref`s that carry nothing else but annotations."""
        while (
            isinstance(node, Mapping) and "$ref" in node and not set(node) - _ANNOTATIONS - {"$ref"}
        ):
            node = self.defs[str(node["$ref"]).removeprefix("#/$defs/")]
        return node

    def branches(self, node: Mapping[str, Any]) -> list[Any]:
        """The flattened branches of an `anyOf` node (nested pure anyOfs inlined)."""
        flat: list[Any] = []
        for branch in node["anyOf"]:
            branch = self.resolve(branch)
            if isinstance(branch, Mapping) and set(branch) - _ANNOTATIONS == {"anyOf"}:
                flat.extend(self.branches(branch))
            else:
                flat.append(branch)
        return flat

    def types_of(self, node: Any) -> list[str] | None:
        """The JSON types a node admits at most (None: any, or unknown)."""
        node = self.resolve(node)
        if not isinstance(node, Mapping) or "$ref" in node:
            return None
        if "type" in node:
            kinds = node["type"]
            return [kinds] if isinstance(kinds, str) else list(kinds)
        if "enum" in node or "const" in node:
            values = node["enum"] if "enum" in node else [node["const"]]
            return list(dict.fromkeys(json_type_of(v) for v in values))
        if "anyOf" in node:
            found: list[str] = []
            for branch in self.branches(node):
                kinds = self.types_of(branch)
                if kinds is None:
                    return None
                found.extend(k for k in kinds if k not in found)
            return found
        return None

    def tag(self, branch: Any, key: str) -> list[Any] | None:
        """The single value a branch's tag property may take, as a list, or None."""
        props = branch.get("properties") if isinstance(branch, Mapping) else None
        if not props or key not in props:
            return None
        node = self.resolve(props[key])
        if not isinstance(node, Mapping):
            return None
        if "const" in node:
            return [node["const"]]
        values = node.get("enum")
        return list(values) if isinstance(values, list) and len(values) == 1 else None

    def settle(self, node: Mapping[str, Any], value: Any) -> tuple[Any, frozenset[str]] | None:
        """The one branch of an anyOf that `value` belongs to, and its tag keys; or None.

        Mirrors the live-worded walker: branches admitting the value's JSON type, then,
        for objects, narrowing by tag keys (`type`, `role` first) until one is left.
        """
        candidates = [b for b in self.branches(node) if admits(self.types_of(b), value)]
        if any(self.types_of(b) is None for b in candidates):
            return None
        if len(candidates) == 1:
            return candidates[0], frozenset()
        if not isinstance(value, Mapping):
            return None
        used: set[str] = set()
        for key in self.tag_keys(candidates):
            if key not in value:
                continue
            candidates = [
                b for b in candidates if (t := self.tag(b, key)) is None or value[key] in t
            ]
            used.add(key)
            if len(candidates) == 1:
                return candidates[0], frozenset(used)
        return None

    def tag_keys(self, branches: list[Any]) -> list[str]:
        """Keys that are single-valued tags in at least two branches (`type`, `role` first)."""
        keys: list[str] = []
        for branch in branches:
            for key in branch.get("properties", {}) if isinstance(branch, Mapping) else ():
                tagged = sum(self.tag(b, key) is not None for b in branches)
                if key not in keys and tagged >= 2:
                    keys.append(key)
        return sorted(keys, key=lambda k: (k != "type", k != "role"))

    def sites(self, value: Any) -> list[Site]:
        """Every unambiguous position of `value` (a valid instance of the root schema)."""
        return list(self._walk(self.root, value, (), in_any_of=False, admitted=["object"]))

    def _walk(
        self, node: Any, value: Any, path: Path, *, in_any_of: bool, admitted: list[str] | None
    ) -> Iterator[Site]:
        node = self.resolve(node)
        if not isinstance(node, Mapping) or "$ref" in node:
            return
        locked: frozenset[str] = frozenset()
        if "anyOf" in node:
            if set(node) - _ANNOTATIONS - {"anyOf"}:
                return  # typed anyOf (rare): the walker's order is too subtle to predict
            settled = self.settle(node, value)
            if settled is None:
                return
            admitted = self.types_of(node)
            node, locked = self.resolve(settled[0]), settled[1]
            if not isinstance(node, Mapping) or "anyOf" in node or "$ref" in node:
                return
            in_any_of = True
        yield Site(path, node, tuple(admitted) if admitted else None, in_any_of, locked)
        if isinstance(value, Mapping):
            yield from self._children(node, value, path)
        elif isinstance(value, list) and isinstance(node.get("items"), Mapping):
            for index, item in enumerate(value):
                child = node["items"]
                yield from self._walk(
                    child, item, (*path, index), in_any_of=False, admitted=self.types_of(child)
                )

    def _children(
        self, node: Mapping[str, Any], value: Mapping[str, Any], path: Path
    ) -> Iterator[Site]:
        props: Mapping[str, Any] = node.get("properties", {})
        for key, item in value.items():
            child = props.get(key)
            if child is None:
                continue
            yield from self._walk(
                child, item, (*path, key), in_any_of=False, admitted=self.types_of(child)
            )


def get(value: Any, path: Path) -> Any:
    """The value at `path` inside `value`."""
    for key in path:
        value = value[key]
    return value


def param_of(path: Path) -> str | None:
    """The live `param` spelling of a path (`session.tools[0].name`); None for the root."""
    text = ""
    for key in path:
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else key)
    return text or None
