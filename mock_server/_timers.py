"""`Timers`: every connection's app timer on one event loop, behind one asyncio timer."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
import weakref
from typing import Final, Protocol

from mock_server._log import logger


class TimerOwner(Protocol):
    """What `Timers` calls back: a connection's driver."""

    def _on_timer(self) -> None: ...


class _Slot:
    """A driver's place in the shared timer heap; emptied when that timer is cancelled."""

    __slots__ = ("driver",)

    def __init__(self, driver: TimerOwner) -> None:
        self.driver: TimerOwner | None = driver


class Timers:
    """Every connection's app timer on one event loop, behind a single asyncio timer.

    asyncio keeps its timers in a heap ordered by a Python-level `TimerHandle.__lt__`;
    with a thousand streaming sessions, creating and cancelling one handle per streamed
    event costs more than the event itself. Here each connection's next deadline is a
    plain tuple in one heap (compared in C), and only the earliest has an asyncio
    handle. A cancelled entry stays in the heap with its slot emptied (so it keeps no
    connection alive) until it comes up, or until cancelled entries are most of it.
    """

    _resolution: Final = time.get_clock_info("monotonic").resolution

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        # Weak: the registry's value must not keep its key (the loop) alive.
        self._loop = weakref.ref(loop)
        self._heap: list[tuple[float, int, _Slot]] = []
        self._seq = itertools.count()
        self._handle: asyncio.TimerHandle | None = None
        self._handle_when = 0.0
        self._cancelled = 0
        self._firing = False  # in _fire: it arms for the earliest entry when done

    @classmethod
    def for_loop(cls, loop: asyncio.AbstractEventLoop) -> Timers:
        """The loop's shared instance."""
        timers = _TIMERS.get(loop)
        if timers is None:
            timers = _TIMERS[loop] = cls(loop)
        return timers

    def add(self, when: float, driver: TimerOwner) -> _Slot:
        """Call `driver._on_timer()` at loop time `when`; cancel with `cancel(slot)`."""
        slot = _Slot(driver)
        heapq.heappush(self._heap, (when, next(self._seq), slot))
        if not self._firing and (self._handle is None or when < self._handle_when):
            self._arm(when)
        return slot

    def cancel(self, slot: _Slot) -> None:
        """Forget `slot`'s timer (the heap entry is dropped when it comes up)."""
        if slot.driver is None:
            return
        slot.driver = None
        self._cancelled += 1
        if self._cancelled > 1024 and self._cancelled * 2 > len(self._heap):
            self._heap = [entry for entry in self._heap if entry[2].driver is not None]
            heapq.heapify(self._heap)
            self._cancelled = 0

    def _arm(self, when: float) -> None:
        loop = self._loop()
        if self._handle is not None:
            self._handle.cancel()
        if loop is None or loop.is_closed():
            self._handle = None
            return
        self._handle = loop.call_at(when, self._fire)
        self._handle_when = when

    def _fire(self) -> None:
        self._handle = None
        heap = self._heap
        loop = self._loop()
        if loop is None:
            return
        self._firing = True
        limit = loop.time() + self._resolution
        # A timer added while firing (a driver re-arming for work still due) waits for the
        # next turn of the loop, so one connection cannot keep the loop in this callback.
        first_new = next(self._seq)
        later: list[tuple[float, int, _Slot]] = []
        try:
            while heap and heap[0][0] <= limit:
                entry = heapq.heappop(heap)
                if entry[1] > first_new:
                    later.append(entry)
                    continue
                slot = entry[2]
                driver = slot.driver
                if driver is None:
                    self._cancelled -= 1
                    continue
                slot.driver = None
                try:
                    driver._on_timer()
                except Exception:  # a driver bug must not stop the other connections' timers
                    logger.exception("mock driver failed in a timer")
        finally:
            self._firing = False
            for entry in later:
                heapq.heappush(heap, entry)
        if heap:
            self._arm(heap[0][0])


_TIMERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Timers] = weakref.WeakKeyDictionary()
