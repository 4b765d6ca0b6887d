"""Known differences: the `diff:` matchers of the divergence ledger (fixtures/fidelity.yaml).

A ledger entry may carry `diff:`, one matcher or a list of them, each a mapping of:

    kind:   missing | extra | type | value | code | order | count | handshake
            (a list, or left out: any kind). `missing` means the mock lacks what live
            sends, `extra` that the mock sends what live does not.
    event:  the event type, a glob (`conversation.item.input_audio_transcription.*`);
            `close(server)`, `close(client)`, `drop(server)`, `rejected` for the link.
    field:  the dotted field path, a glob (`usage*`, `error.code`); left out: any (an
            event-level matcher needs `field: ""` to match only whole events).
    client: the client event the step follows, a glob (`(connect)` for step 0).
    mock:   the value the mock shows (a code, a type name), as text.
    live:   the value live shows, as text.

At least `event` or `field` must be given. Only open entries (`divergence`, `inferred`)
mark differences as known: a `fixed` divergence that shows again is news.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from conformance.protocol.errors import ConfigError
from conformance.resources import fixtures_dir

KINDS: Final = ("missing", "extra", "type", "value", "code", "order", "count", "handshake")
KEYS: Final = ("kind", "event", "field", "client", "mock", "live")
OPEN_STATUSES: Final = ("divergence", "inferred")
_MIRRORED: Final = {"missing": "extra", "extra": "missing"}


def ledger_file() -> Path:
    """fixtures/fidelity.yaml, the divergence ledger."""
    return fixtures_dir() / "fidelity.yaml"


@dataclass(frozen=True, slots=True)
class Known:
    """One machine-readable matcher of ledger entry `id` (see the module)."""

    id: str
    kinds: tuple[str, ...] = ()
    event: str | None = None
    field: str | None = None
    client: str | None = None
    mock: str | None = None
    live: str | None = None

    def matches(
        self,
        *,
        kind: str,
        event: str | None,
        field: str | None,
        client: str | None,
        a: str | None,
        b: str | None,
        live: str | None,
    ) -> bool:
        """Whether a difference (A/B terms; `live` = "a", "b" or None) is this one.

        With the live side unknown, either side may be the mock: `missing` and `extra`
        match each other, and `mock`/`live` values may be on either side.
        """
        if self.event is not None and not fnmatch.fnmatchcase(event or "", self.event):
            return False
        if self.field is not None and not fnmatch.fnmatchcase(field or "", self.field):
            return False
        if self.client is not None and not fnmatch.fnmatchcase(client or "", self.client):
            return False
        orientations = {"a": [("b", "a")], "b": [("a", "b")]}.get(live or "", [])
        if not orientations:
            orientations = [("a", "b"), ("b", "a")]
        values = {"a": a, "b": b}
        for mock_side, live_side in orientations:
            mock_kind = kind
            if kind in _MIRRORED and mock_side == "a":
                mock_kind = _MIRRORED[kind]  # only in A = the mock has it, live does not
            if self.kinds and mock_kind not in self.kinds:
                continue
            if self.mock is not None and values[mock_side] != self.mock:
                continue
            if self.live is not None and values[live_side] != self.live:
                continue
            return True
        return False


def matcher_problems(value: Any) -> list[str]:
    """What is wrong with an entry's `diff:` value (empty: well formed)."""
    items = value if isinstance(value, list) else [value]
    found: list[str] = []
    if not items:
        return ["diff: an empty list"]
    for item in items:
        if not isinstance(item, Mapping):
            found.append(f"diff: each matcher is a mapping, got {item!r}")
            continue
        unknown = [k for k in item if k not in KEYS]
        if unknown:
            found.append(f"diff: unknown key(s) {', '.join(map(str, unknown))} (known: {KEYS})")
        if item.get("event") is None and item.get("field") is None:
            found.append("diff: a matcher needs an event or a field")
        kinds = item.get("kind")
        for kind in kinds if isinstance(kinds, list) else [kinds] if kinds is not None else []:
            if kind not in KINDS:
                found.append(f"diff: kind {kind!r} is not one of {', '.join(KINDS)}")
        for key in ("event", "field", "client", "mock", "live"):
            if key in item and not isinstance(item[key], str | int):
                found.append(f"diff: {key} must be a text, got {item[key]!r}")
    return found


def matchers_of(entry: Mapping[str, Any]) -> list[Known]:
    """The matchers of one ledger entry (none if it has no `diff:`)."""
    value = entry.get("diff")
    if value is None:
        return []
    identifier = str(entry.get("id"))
    problems = matcher_problems(value)
    if problems:
        raise ConfigError(f"fixtures/fidelity.yaml: {identifier}: {'; '.join(problems)}")
    found = []
    for item in value if isinstance(value, list) else [value]:
        kinds = item.get("kind")
        found.append(
            Known(
                id=identifier,
                kinds=tuple(kinds if isinstance(kinds, list) else [kinds] if kinds else []),
                event=_text(item.get("event")),
                field=_text(item.get("field")),
                client=_text(item.get("client")),
                mock=_text(item.get("mock")),
                live=_text(item.get("live")),
            )
        )
    return found


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def known_from(entries: Iterable[Mapping[str, Any]]) -> list[Known]:
    """The matchers of the open entries among `entries` (in ledger order)."""
    return [
        known
        for entry in entries
        if isinstance(entry, Mapping) and entry.get("status") in OPEN_STATUSES
        for known in matchers_of(entry)
    ]


def load_known(path: str | Path | None = None) -> list[Known]:
    """The matchers of the ledger (fixtures/fidelity.yaml by default).

    Raises:
        ConfigError: the file cannot be read, or a matcher is malformed.
    """
    target = Path(path) if path is not None else ledger_file()
    try:
        data = yaml.safe_load(target.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{target}: cannot read the divergence ledger: {exc}") from exc
    entries = data.get("entries") if isinstance(data, Mapping) else None
    if not isinstance(entries, Sequence):
        raise ConfigError(f"{target}: expected a mapping with a list of entries")
    return known_from(entries)
