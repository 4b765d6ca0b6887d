"""Deterministic ids and an injectable clock: nothing ambient in the core."""

from __future__ import annotations

import hashlib
import math
from typing import Protocol

from .errors import UsageError

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ID_LENGTH = 21  # live ids: `event_`, `item_`, `resp_`, `conv_`, `sess_` + 21 alphanumerics
# Byte -> alphanumeric: one C-level `translate` per id (1 us, against 4 us for base-62
# arithmetic in Python); the slight bias toward the first 8 characters does not matter.
_TO_ALPHABET = bytes(ord(_ALPHABET[b % 62]) for b in range(256))


class IdFactory:
    """Makes live-shaped ids (`item_` + 21 alphanumerics) reproducibly from a seed.

    Two factories with the same seed produce the same ids in the same order, so a
    transcript can be reproduced byte for byte.
    """

    __slots__ = ("_counter", "_seed")

    def __init__(self, seed: int | str = 0) -> None:
        self._seed = str(seed)
        self._counter = 0

    def new(self, prefix: str) -> str:
        """Return the next id with this prefix, e.g. `new("item")` -> `item_Ab3...`."""
        self._counter += 1
        digest = hashlib.blake2b(
            f"{self._seed}/{prefix}/{self._counter}".encode(), digest_size=_ID_LENGTH
        ).digest()
        return f"{prefix}_{digest.translate(_TO_ALPHABET).decode()}"


class Clock(Protocol):
    """Milliseconds on some monotonic time line; injected wherever time matters."""

    def now_ms(self) -> float: ...


class ManualClock:
    """A clock that only moves when told to: for tests and virtual-time transports."""

    __slots__ = ("_now",)

    def __init__(self, start_ms: float = 0.0) -> None:
        self._now = start_ms

    def now_ms(self) -> float:
        """The current virtual time."""
        return self._now

    def advance(self, ms: float) -> None:
        """Move the clock forward by `ms` (never backward)."""
        if not math.isfinite(ms) or ms < 0:
            raise UsageError(f"ms={ms!r} must be a finite number >= 0: a clock cannot go back")
        self._now += ms

    def set(self, now_ms: float) -> None:
        """Jump to `now_ms` if it is later than the current time."""
        self._now = max(self._now, now_ms)
