"""Example counts of the property tests, as shares of the loaded Hypothesis profile.

`tests/conftest.py` loads `ci` (100 examples by default) or `thorough` (1000); a test
asks for a share, e.g. `@examples(0.3)` runs 30 examples under ci and 300 under thorough.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import settings

T = TypeVar("T", bound=Callable[..., Any])


def count(share: float) -> int:
    """`share` of the profile's `max_examples`, at least 1."""
    loaded = settings.default
    assert loaded is not None  # tests/conftest.py loads a profile
    return max(1, round(loaded.max_examples * share))


def examples(share: float, **overrides: Any) -> Callable[[T], T]:
    """`@settings(max_examples=count(share), ...)` on top of the loaded profile."""
    chosen: Callable[[T], T] = settings(max_examples=count(share), **overrides)
    return chosen
