"""Apply `fixtures/schemas/errata.yaml` (data) to the spec's components, one side at a time.

An erratum is a mapping with `id`, `what`, `evidence`, optional `side` (`client`, `server`
or `both`, the default, for the `/v1/realtime` events; `translation_client`,
`translation_server` or `translation` for the `/v1/realtime/translations` events, which
`both` does not reach), optional `changes` and optional `index` data. Each change names a
component (`schema`), a JSON pointer inside it (`at`, after the oneOf→anyOf and nullable
normalisations) and operations, applied in this order:

- `expect`: a mapping whose items must already be present (guards against spec drift),
- `expect_null: true`: the node must already admit null,
- `delete`: keys to remove,
- `replace`: a schema that replaces the node,
- `set`: keywords to merge into the node,
- `add_properties`: properties to add (each must be new),
- `add_required`: names to append to `required`,
- `allow_null: true`: the node must not admit null yet; afterwards it does.

Every failed guard raises `ConfigError`, so a spec update that makes an erratum stale
fails the extraction instead of silently changing the bundle.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from conformance.protocol.errors import ConfigError
from conformance.schemas import _transform as tf

Components = dict[str, Any]

_OPS = (
    "expect",
    "expect_null",
    "delete",
    "replace",
    "set",
    "add_properties",
    "add_required",
    "allow_null",
)
_CHANGE_KEYS = frozenset({"schema", "at", *_OPS})
_ERRATUM_KEYS = frozenset({"id", "what", "evidence", "side", "changes", "index", "inferred"})


def check_errata(errata: Any) -> list[Mapping[str, Any]]:
    """The `errata` list of a loaded errata file, with its shape checked; raises ConfigError."""
    entries = errata.get("errata") if isinstance(errata, Mapping) else None
    if not isinstance(entries, list):
        raise ConfigError("errata.yaml: expected a mapping with an 'errata' list")
    seen: set[str] = set()
    for entry in entries:
        if not isinstance(entry, Mapping) or not {"id", "what", "evidence"} <= set(entry):
            raise ConfigError(f"errata.yaml: every erratum needs id, what, evidence: {entry!r}")
        if entry["id"] in seen:
            raise ConfigError(f"errata.yaml: duplicate id {entry['id']!r}")
        seen.add(entry["id"])
        if unknown := set(entry) - _ERRATUM_KEYS:
            raise ConfigError(f"errata.yaml: {entry['id']}: unknown keys {sorted(unknown)}")
        for change in entry.get("changes", ()):
            if unknown := set(change) - _CHANGE_KEYS:
                raise ConfigError(
                    f"errata.yaml: {entry['id']}: unknown change keys {sorted(unknown)}"
                )
    return list(entries)


def applies_to(entry: Mapping[str, Any], side: str) -> bool:
    """Whether an erratum targets `side` (`client`, `server`, `translation_client`, …)."""
    wanted = entry.get("side", "both")
    if side.startswith("translation_"):
        return wanted in (side, "translation")
    return wanted in (side, "both")


def apply_errata(components: Components, entries: list[Mapping[str, Any]], side: str) -> Components:
    """A copy of `components` with every change of every erratum for `side` applied."""
    out = dict(components)
    for entry in entries:
        if not applies_to(entry, side):
            continue
        for change in entry.get("changes", ()):
            name = change["schema"]
            if name not in out:
                raise ConfigError(
                    f"erratum {entry['id']!r}: schema {name!r} is not used by the {side} events"
                )
            where = f"erratum {entry['id']!r} at {name}{change.get('at', '')}"
            out[name] = _apply_change(out[name], change, where)
    return out


def _apply_change(component: Any, change: Mapping[str, Any], where: str) -> Any:
    pointer = change.get("at", "")
    try:
        node = tf.resolve_pointer(component, pointer)
    except (KeyError, IndexError, TypeError) as exc:
        raise ConfigError(f"{where}: no such node in the spec ({exc!r})") from None
    for op in _OPS:
        if op in change:
            node = _OPERATIONS[op](node, change[op], where)
    return tf.replace_at(component, pointer, node)


def _expect(node: Any, wanted: Mapping[str, Any], where: str) -> Any:
    for key, value in wanted.items():
        if not isinstance(node, dict) or node.get(key) != value:
            got = node.get(key) if isinstance(node, dict) else node
            raise ConfigError(f"{where}: expected {key}={value!r}, spec has {got!r}")
    return node


def _expect_null(node: Any, flag: bool, where: str) -> Any:
    if tf.allows_null(node) != flag:
        raise ConfigError(f"{where}: expected the node {'to' if flag else 'not to'} admit null")
    return node


def _delete(node: Any, keys: list[str], where: str) -> Any:
    if missing := [k for k in keys if k not in node]:
        raise ConfigError(f"{where}: cannot delete absent keys {missing}")
    return {k: v for k, v in node.items() if k not in keys}


def _replace(_node: Any, new: Any, _where: str) -> Any:
    return new


def _set(node: Any, keywords: Mapping[str, Any], _where: str) -> Any:
    return {**node, **keywords}


def _add_properties(node: Any, props: Mapping[str, Any], where: str) -> Any:
    current = node.get("properties", {})
    if clash := sorted(set(props) & set(current)):
        raise ConfigError(f"{where}: properties {clash} are already in the spec; drop them here")
    return {**node, "properties": {**current, **props}}


def _add_required(node: Any, names: list[str], where: str) -> Any:
    required = list(node.get("required", []))
    if clash := [n for n in names if n in required]:
        raise ConfigError(f"{where}: {clash} already required by the spec")
    return {**node, "required": required + list(names)}


def _allow_null(node: Any, flag: bool, where: str) -> Any:
    if not flag:
        return node
    if tf.allows_null(node):
        raise ConfigError(f"{where}: the spec already admits null here; drop this change")
    return tf.allow_null(node)


_OPERATIONS: dict[str, Callable[[Any, Any, str], Any]] = {
    "expect": _expect,
    "expect_null": _expect_null,
    "delete": _delete,
    "replace": _replace,
    "set": _set,
    "add_properties": _add_properties,
    "add_required": _add_required,
    "allow_null": _allow_null,
}
