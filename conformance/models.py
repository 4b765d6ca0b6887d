"""The model registry: which names open a Realtime session, and their limits, as data.

The data lives in `fixtures/models.yaml`; this module checks its shape and answers
questions about it::

    registry = load_registry()
    registry.get("gpt-realtime-mini").alias_of   # 'gpt-realtime-mini-2025-12-15'
    is_realtime_model("gpt-nope")                # False
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml

from conformance.protocol.errors import ConfigError
from conformance.resources import models_file

ModelKind = Literal["realtime", "transcription", "translation"]

_SECTIONS: dict[str, ModelKind] = {
    "realtime": "realtime",
    "transcription": "transcription",
    "translation": "translation",
}
# `translation` may be left out of a registry file (files written before it existed).
_REQUIRED_SECTIONS = frozenset({"realtime", "transcription"})
# key -> (accepted types, required in the realtime section, required in the others)
_FIELDS: dict[str, tuple[tuple[type, ...], bool, bool]] = {
    "context_window": ((int,), True, False),
    "max_output_tokens": ((int,), True, False),
    "reasoning": ((bool,), True, False),
    "alias_of": ((str,), False, False),
    "usage": ((str,), False, False),  # transcription billing: "tokens" or "duration"
    "source": ((str,), True, True),
    "note": ((str,), False, False),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelInfo:
    """One model of the registry.

    `kind` is `"realtime"` for names valid as `?model=` on `/v1/realtime`,
    `"translation"` for names valid as `?model=` on `/v1/realtime/translations`, and
    `"transcription"` for the ASR models used inside `audio.input.transcription`.
    `source` is the evidence tag.
    """

    name: str
    kind: ModelKind
    context_window: int | None
    max_output_tokens: int | None
    reasoning: bool = False
    alias_of: str | None = None
    usage: str | None = None  # transcription models: how `.completed` reports usage
    source: str = ""
    note: str | None = None


class ModelRegistry:
    """Read-only lookup over `ModelInfo` records, by exact name."""

    def __init__(self, models: Iterable[ModelInfo], *, origin: str = "<memory>") -> None:
        """Build a registry.

        Args:
            models: the records; names must be unique.
            origin: where they came from (shown in error messages).
        """
        self.origin = origin
        self._by_name: dict[str, ModelInfo] = {}
        for info in models:
            if info.name in self._by_name:
                raise ConfigError(f"{origin}: model {info.name!r} is listed twice")
            self._by_name[info.name] = info

    def get(self, name: str) -> ModelInfo | None:
        """The record named exactly `name`, or None."""
        return self._by_name.get(name)

    def is_realtime_model(self, name: str) -> bool:
        """True if `name` may be passed as `?model=` (a realtime-kind model)."""
        info = self._by_name.get(name)
        return info is not None and info.kind == "realtime"

    def is_translation_model(self, name: str) -> bool:
        """True if `name` may be passed as `?model=` on the translations endpoint."""
        info = self._by_name.get(name)
        return info is not None and info.kind == "translation"

    def resolve(self, name: str) -> ModelInfo | None:
        """The record `name` points to after following `alias_of` (itself if no alias)."""
        info = self._by_name.get(name)
        seen = {name}
        while info is not None and info.alias_of is not None and info.alias_of not in seen:
            seen.add(info.alias_of)
            info = self._by_name.get(info.alias_of)
        return info

    @property
    def realtime_models(self) -> tuple[ModelInfo, ...]:
        """Models valid as `?model=`, in file order."""
        return tuple(m for m in self._by_name.values() if m.kind == "realtime")

    @property
    def transcription_models(self) -> tuple[ModelInfo, ...]:
        """ASR models for `audio.input.transcription.model`, in file order."""
        return tuple(m for m in self._by_name.values() if m.kind == "transcription")

    @property
    def translation_models(self) -> tuple[ModelInfo, ...]:
        """Models valid as `?model=` on `/v1/realtime/translations`, in file order."""
        return tuple(m for m in self._by_name.values() if m.kind == "translation")

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[ModelInfo]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)


def load_registry(path: str | Path | None = None) -> ModelRegistry:
    """Load and check a registry file; the default file is loaded once and cached.

    Args:
        path: a YAML file shaped like `fixtures/models.yaml`; None for the built-in one.

    Raises:
        ConfigError: the file is missing, not YAML, or not shaped as expected (the
            message names the file and the offending key).
    """
    if path is None:
        return _default_registry()
    return _load(Path(path))


@cache
def _default_registry() -> ModelRegistry:
    return _load(models_file())


def is_realtime_model(name: str) -> bool:
    """True if `name` is a realtime model of the built-in registry."""
    return _default_registry().is_realtime_model(name)


def _load(path: Path) -> ModelRegistry:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the model registry: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with 'realtime' and 'transcription'")
    _check_keys(path, "", data, {"version", *_SECTIONS}, required=set(_REQUIRED_SECTIONS))
    models = [
        _parse_entry(path, section, name, entry)
        for section in _SECTIONS
        if section in data
        for name, entry in _section(path, section, data[section]).items()
    ]
    registry = ModelRegistry(models, origin=str(path))
    _check_aliases(path, registry)
    return registry


def _section(path: Path, section: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, dict) or not value:
        raise ConfigError(f"{path}: {section}: expected a non-empty mapping of model names")
    return value


def _parse_entry(path: Path, section: str, name: Any, entry: Any) -> ModelInfo:
    where = f"{section}.{name}"
    if not isinstance(name, str):
        raise ConfigError(f"{path}: {section}: model names must be strings, got {name!r}")
    if not isinstance(entry, dict):
        raise ConfigError(f"{path}: {where}: expected a mapping, got {type(entry).__name__}")
    kind = _SECTIONS[section]
    required = {k for k, (_, rt, tr) in _FIELDS.items() if (rt if kind == "realtime" else tr)}
    _check_keys(path, where, entry, set(_FIELDS), required=required)
    for key, value in entry.items():
        types = _FIELDS[key][0]
        # bool is an int subclass; a count written as `true` is a mistake
        if value is not None and (not isinstance(value, types) or _bool_for_int(value, types)):
            expected = " or ".join(t.__name__ for t in types)
            raise ConfigError(f"{path}: {where}.{key}: expected {expected}, got {value!r}")
    return ModelInfo(
        name=name,
        kind=kind,
        context_window=entry.get("context_window"),
        max_output_tokens=entry.get("max_output_tokens"),
        reasoning=bool(entry.get("reasoning", False)),
        alias_of=entry.get("alias_of"),
        usage=entry.get("usage"),
        source=entry["source"],
        note=entry.get("note"),
    )


def _bool_for_int(value: object, types: tuple[type, ...]) -> bool:
    return isinstance(value, bool) and bool not in types


def _check_keys(
    path: Path, where: str, data: Mapping[Any, Any], allowed: set[str], *, required: set[str]
) -> None:
    prefix = f"{where}." if where else ""
    for key in data:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{path}: {prefix}{key}: unknown key{hint}")
    for key in sorted(required - set(data)):
        raise ConfigError(f"{path}: {prefix}{key}: required key is missing")


def _check_aliases(path: Path, registry: ModelRegistry) -> None:
    for info in registry:
        if info.alias_of is None:
            continue
        target = registry.get(info.alias_of)
        if target is None or target.kind != info.kind:
            raise ConfigError(
                f"{path}: {info.kind}.{info.name}.alias_of: {info.alias_of!r} is not a "
                f"{info.kind} model of this file"
            )
