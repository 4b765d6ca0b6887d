"""Armed changes to the server's own upcoming events (drop/duplicate/reorder/delay/pad)."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from typing import Any

from conformance import _json
from mock_server.hooks import Outgoing

Event = Mapping[str, Any]
Schedule = Callable[[float, Event], None]


class Transform:
    """Applies to the next `count` server events whose type is in `types` (any if None)."""

    def __init__(self, count: int = 1, types: frozenset[str] | None = None) -> None:
        self.remaining = count
        self.types = types

    def wants(self, event: Event) -> bool:
        """Whether this transform takes `event`."""
        return self.remaining > 0 and (self.types is None or event.get("type") in self.types)

    def take(self, event: Event, now_ms: float) -> list[Outgoing]:
        """The events to send instead of `event`."""
        self.remaining -= 1
        return self.change(event, now_ms)

    def change(self, event: Event, now_ms: float) -> list[Outgoing]:
        """Subclasses: what one taken event becomes."""
        raise NotImplementedError

    @property
    def done(self) -> bool:
        """True once nothing more will be taken or released."""
        return self.remaining <= 0


class DropNext(Transform):
    """The event is never sent (a lost frame)."""

    def change(self, event: Event, now_ms: float) -> list[Outgoing]:
        return []


class DuplicateNext(Transform):
    """The event is sent twice, with the same `event_id` (a re-delivered frame)."""

    def change(self, event: Event, now_ms: float) -> list[Outgoing]:
        return [event, copy.deepcopy(dict(event))]


class ReorderNext(Transform):
    """The next `count` events are held, then sent in reverse order."""

    def __init__(self, count: int = 2, types: frozenset[str] | None = None) -> None:
        super().__init__(count, types)
        self.held: list[Event] = []

    def change(self, event: Event, now_ms: float) -> list[Outgoing]:
        self.held.append(event)
        if self.remaining > 0:
            return []
        released: list[Outgoing] = list(reversed(self.held))
        self.held.clear()
        return released


class DelayNext(Transform):
    """The event is held for `ms`, then sent (later events of other types overtake it)."""

    def __init__(
        self, ms: float, schedule: Schedule, count: int = 1, types: frozenset[str] | None = None
    ) -> None:
        super().__init__(count, types)
        self.ms = ms
        self.schedule = schedule

    def change(self, event: Event, now_ms: float) -> list[Outgoing]:
        self.schedule(now_ms + self.ms, event)
        return []


class InjectField(Transform):
    """The next event of a type gets one extra (future) field."""

    def __init__(self, event_type: str, field: str, value: Any) -> None:
        super().__init__(1, frozenset({event_type}))
        self.field = field
        self.value = value

    def change(self, event: Event, now_ms: float) -> list[Outgoing]:
        return [{**event, self.field: copy.deepcopy(self.value)}]


class Oversize(Transform):
    """The next delta of a type is padded so that its frame is at least `size` bytes.

    The padding is base64 "A"s (zero bytes: silence for audio), in whole 4-character
    groups so the delta stays valid base64.
    """

    def __init__(self, event_type: str, size: int) -> None:
        super().__init__(1, frozenset({event_type}))
        self.size = size

    def change(self, event: Event, now_ms: float) -> list[Outgoing]:
        return [pad_delta(event, self.size)]


def pad_delta(event: Event, size: int) -> dict[str, Any]:
    """A copy of `event` whose `delta` makes the serialised frame at least `size` bytes."""
    bare = {**event, "delta": ""}
    missing = max(0, size - len(_json.dumps_bytes(bare)))
    bare["delta"] = "A" * (4 * math.ceil(missing / 4))
    return bare
