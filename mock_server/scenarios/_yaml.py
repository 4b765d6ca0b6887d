"""YAML parsing that keeps the line of every value and key (for file:line error messages).

Aliases are bounded: a document whose aliases expand it to more than `MAX_VALUES` values
(a "billion laughs" bomb: 1 KB that expands to 10^9 values) is refused in one line,
before anything walks the expanded document.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from conformance.protocol.errors import ScenarioError

Path_ = tuple[str | int, ...]
MAX_VALUES = 100_000  # values in a document once its aliases are expanded (a scenario: ~100s)


class _Loader(yaml.SafeLoader):
    """`SafeLoader` with YAML 1.2 booleans: `on`, `off`, `yes`, `no` stay strings."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


@dataclass(slots=True)
class LineMap:
    """1-based lines of the values (`values`) and mapping keys (`keys`) by JSON path."""

    values: dict[Path_, int] = field(default_factory=dict)
    keys: dict[Path_, int] = field(default_factory=dict)

    def line(self, path: Sequence[str | int], *, key: bool = False) -> int:
        """The line of `path` (of its key if `key`), else of its nearest known parent."""
        at: Path_ = tuple(path)
        if key and at in self.keys:
            return self.keys[at]
        while at not in self.values and at:
            at = at[:-1]
        return self.values.get(at, 1)


def parse(text: str, where: str) -> tuple[Any, LineMap]:
    """Parse one YAML document; raise `ScenarioError` with file:line on a syntax error."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, LineMap()
        _check_expansion(node, where)
        lines = LineMap()
        _index(node, (), lines, where)
        return loader.construct_document(node), lines
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = exc.problem or exc.context or "invalid YAML"
        raise ScenarioError(f"{where}:{line}: YAML syntax error: {problem}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{where}:1: YAML error: {exc}") from None
    except RecursionError:
        raise ScenarioError(
            f"{where}:1: YAML error: nested too deeply (a scenario needs a few levels)"
        ) from None
    finally:
        loader.dispose()


def _check_expansion(root: yaml.Node, where: str) -> None:
    """Refuse a document whose aliases expand it past `MAX_VALUES` values.

    Composing keeps an alias as a second reference to its anchored node, so the document
    is a graph of its written size; this counts what walking it would visit, each node
    once (memoised), and stops at the first node over the bound (its line is reported).
    """
    sizes: dict[int, int] = {}

    def size(node: yaml.Node) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        total = 1
        if isinstance(node, yaml.MappingNode):
            total += sum(size(key) + size(value) for key, value in node.value)
        elif isinstance(node, yaml.SequenceNode):
            total += sum(size(item) for item in node.value)
        if total > MAX_VALUES:
            raise ScenarioError(
                f"{where}:{node.start_mark.line + 1}: too many aliases: this value expands to "
                f"more than {MAX_VALUES:,} values (a YAML alias bomb?); write the values out "
                "or use fewer aliases"
            )
        sizes[id(node)] = total
        return total

    size(root)


def _index(node: yaml.Node, path: Path_, lines: LineMap, where: str) -> None:
    lines.values[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                shown = show_path(path)
                raise ScenarioError(f"{where}:{line}: duplicate key {key!r} at {shown}")
            seen.add(key)
            lines.keys[(*path, key)] = line
            _index(value_node, (*path, key), lines, where)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index(item, (*path, index), lines, where)


def show_path(path: Sequence[str | int]) -> str:
    """`rules[0].do[1]` for `("rules", 0, "do", 1)`; `(top level)` for the root."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"
