"""`Timers`: every connection's app timer behind one asyncio timer per loop."""

from __future__ import annotations

import asyncio
from typing import Any

from mock_server._timers import Timers


class FakeDriver:
    """Records when it fired; may schedule another timer from inside its callback."""

    def __init__(self, name: str, fired: list[str], then: Any = None) -> None:
        self.name, self.fired, self.then = name, fired, then

    def _on_timer(self) -> None:
        self.fired.append(self.name)
        if self.then is not None:
            self.then()


async def test_timers_fire_in_deadline_order_and_cancelled_ones_never() -> None:
    loop = asyncio.get_running_loop()
    timers = Timers(loop)
    fired: list[str] = []
    done = asyncio.Event()
    now = loop.time()
    timers.add(now + 0.004, FakeDriver("c", fired))  # type: ignore[arg-type]
    timers.add(now + 0.001, FakeDriver("a", fired))  # type: ignore[arg-type]
    gone = timers.add(now + 0.002, FakeDriver("cancelled", fired))  # type: ignore[arg-type]
    timers.add(now + 0.003, FakeDriver("b", fired))  # type: ignore[arg-type]
    timers.add(now + 0.005, FakeDriver("end", fired, done.set))  # type: ignore[arg-type]
    timers.cancel(gone)
    timers.cancel(gone)  # twice is harmless
    await asyncio.wait_for(done.wait(), 2.0)
    assert fired == ["a", "b", "c", "end"]


async def test_a_later_timer_added_while_firing_does_not_delay_an_earlier_one() -> None:
    loop = asyncio.get_running_loop()
    timers = Timers(loop)
    fired: list[str] = []
    done = asyncio.Event()
    now = loop.time()
    late = FakeDriver("late", fired, done.set)
    # "first" fires, then schedules "late" far after "second": "second" must still come
    # at its own time, not wait for the handle armed for "late".
    first = FakeDriver(
        "first",
        fired,
        lambda: timers.add(loop.time() + 0.05, late),  # type: ignore[arg-type]
    )
    timers.add(now + 0.001, first)  # type: ignore[arg-type]
    second_at: list[float] = []
    second = FakeDriver("second", fired, lambda: second_at.append(loop.time()))
    timers.add(now + 0.01, second)  # type: ignore[arg-type]
    await asyncio.wait_for(done.wait(), 2.0)
    assert fired == ["first", "second", "late"]
    assert second_at[0] < now + 0.04


async def test_cancelled_entries_are_compacted_and_keep_no_driver() -> None:
    loop = asyncio.get_running_loop()
    timers = Timers(loop)
    far = loop.time() + 3600.0
    slots = [timers.add(far, FakeDriver(str(i), [])) for i in range(3000)]  # type: ignore[arg-type]
    for slot in slots[:2500]:
        timers.cancel(slot)
    assert all(slot.driver is None for slot in slots[:2500])
    assert len(timers._heap) < 3000  # compacted once most entries were cancelled
    assert sum(entry[2].driver is not None for entry in timers._heap) == 500


def test_each_loop_has_its_own_instance() -> None:
    first, second = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        assert Timers.for_loop(first) is Timers.for_loop(first)
        assert Timers.for_loop(first) is not Timers.for_loop(second)
    finally:
        first.close()
        second.close()
