"""`{placeholder}` filling in the events a scenario sends.

A string that is exactly one placeholder becomes the value itself (so a missing
`{active_response_id}` becomes JSON null); inside longer text a missing value becomes "".
`{new_id:PREFIX}` makes a fresh live-shaped id (`{new_id:item}` -> `item_…`); the same
placeholder gives the same id throughout one firing of a rule.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

PLACEHOLDER: Final = re.compile(r"\{([a-z_]+)(?::([a-z_]+))?\}")

Resolver = Callable[[str, str | None], str | None]


def placeholders(value: Any) -> Iterator[tuple[str, str | None, tuple[str | int, ...]]]:
    """Every `(name, argument, relative path)` placeholder found in a nested value."""
    if isinstance(value, str):
        for found in PLACEHOLDER.finditer(value):
            yield found.group(1), found.group(2), ()
    elif isinstance(value, Mapping):
        for key, item in value.items():
            for name, arg, path in placeholders(item):
                yield name, arg, (str(key), *path)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            for name, arg, path in placeholders(item):
                yield name, arg, (index, *path)


def fill(value: Any, resolve: Resolver) -> Any:
    """A copy of `value` with every placeholder replaced through `resolve`."""
    if isinstance(value, str):
        return _fill_text(value, resolve)
    if isinstance(value, Mapping):
        return {key: fill(item, resolve) for key, item in value.items()}
    if isinstance(value, list):
        return [fill(item, resolve) for item in value]
    return value


def _fill_text(text: str, resolve: Resolver) -> str | None:
    whole = PLACEHOLDER.fullmatch(text)
    if whole is not None:
        return resolve(whole.group(1), whole.group(2))
    return PLACEHOLDER.sub(lambda m: resolve(m.group(1), m.group(2)) or "", text)
