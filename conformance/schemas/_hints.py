"""Hints from `fixtures/schemas/beta_hints.yaml`: the GA replacement of a beta-era shape."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import Any

from conformance.protocol.errors import ConfigError
from conformance.resources import schemas_dir

_INDEX = re.compile(r"\[\d+\]")


@cache
def table() -> Mapping[str, Any]:
    """The parsed hint table (PyYAML is imported here, on the first invalid event)."""
    import yaml

    path = schemas_dir() / "beta_hints.yaml"
    data = yaml.load(path.read_bytes(), Loader=yaml.CSafeLoader)
    if not isinstance(data, dict) or data.get("version") != 1:
        raise ConfigError(f"{path}: expected a version 1 hint table")
    return data


def finding_hint(code: str | None, param: str | None, value: Any) -> str | None:
    """The hint for a finding with this code, param and offending value, if any."""
    if code is None or param is None:
        return None
    key = _INDEX.sub("[]", param)
    data = table()
    by_value = data["values"].get(key, {}).get(code)
    if by_value is not None and isinstance(value, str) and value in by_value:
        return str(by_value[value])
    hint = data["parameters"].get(key, {}).get(code)
    return None if hint is None else str(hint)


def client_type_hint(event_type: str) -> str | None:
    """What to send instead of a client event type the GA WebSocket endpoint rejects."""
    hint = table()["client_event_types"].get(event_type)
    return None if hint is None else str(hint)


def server_type_hint(event_type: str) -> str | None:
    """For a beta server event name: which GA event(s) replaced it."""
    renames: Mapping[str, list[str]] = table()["server_event_renames"]
    if event_type not in renames:
        return None
    new = renames[event_type]
    if not new:
        return f"{event_type} is a beta event the GA server no longer sends"
    return f"beta event name; the GA server sends {' then '.join(new)} instead"
