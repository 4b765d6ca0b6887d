"""`ScenarioHooks`: plays one `Scenario` on one connection through the `Hooks` seam.

Deterministic: every effect follows from the scenario, the events and `now_ms`; delays
are timers (`next_timer` / `on_timer`), never sleeps.

Ordering contract. Actions fired by a client event or a timer act on the `Control` at
once, so their frames precede the app's default answer. Actions fired by a *server*
event (`server_event`, `response`, `deltas` triggers) are sent right after that event, as
part of `on_server_event`'s replacement list; a close/drop/stall among them waits until
the next hook call (the next server event or a timer due at once), so that the triggering
event and what the rule sent before it are on the wire first. Once a close, drop or stall
has run, every later server event is swallowed and client events are consumed.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mock_server.hooks import Control, Outgoing

from . import _transforms as tf
from ._actions import HANDLERS, Env, Firing
from .model import Action, Rule, Scenario


@dataclass(slots=True)
class _Job:
    """Actions still to run (from `start`) for one firing, or one held event to release."""

    actions: tuple[Action, ...] = ()
    start: int = 0
    firing: Firing | None = None
    event: Mapping[str, Any] | None = None


class ScenarioHooks:
    """Per-connection `Hooks` that play a scenario; make a new one for every connection."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self._occurrences = [0] * len(scenario.rules)
        self._timers: list[tuple[float, int, _Job]] = []
        self._seq = itertools.count()
        self._transforms: list[tf.Transform] = []
        self._deltas: dict[str, int] = {}
        self._idle_fired: set[int] = set()
        self._last_client_ms = 0.0
        self.terminated = False

    # ------------------------------------------------------------ Hooks
    def on_open(self, ctl: Control, now_ms: float) -> None:
        """Before `session.created`: run connect rules of phase before_session_created."""
        self._last_client_ms = now_ms
        if self.scenario.suppresses_session_created:
            ctl.suppress_session_created()
        self._fire_connect(ctl, now_ms, before=True)

    def after_open(self, ctl: Control, now_ms: float) -> None:
        """After `session.created`: run connect rules of phase after_session_created."""
        self._fire_connect(ctl, now_ms, before=False)

    def on_client_event(
        self, ctl: Control, event: Mapping[str, Any] | None, text: str, now_ms: float
    ) -> bool:
        """Fire client_event rules; True (consumed) if one has `consume` or the end came."""
        self._run_due(ctl, now_ms)
        if self.terminated:
            return True
        self._last_client_ms = now_ms
        consumed = False
        size = len(text.encode())
        for index, rule in enumerate(self.scenario.rules):
            when = rule.when
            if when.on != "client_event" or not when.match.matches(event):
                continue
            if when.min_bytes is not None and size < when.min_bytes:
                continue
            if self._occurs(index):
                consumed = consumed or rule.consumes
                self._start(ctl, rule, Firing(event), now_ms, sink=None)
        return consumed or self.terminated

    def on_server_event(
        self, ctl: Control, event: Mapping[str, Any], now_ms: float
    ) -> Sequence[Outgoing] | None:
        """Apply armed transforms, then fire server-side rules after the event."""
        self._run_due(ctl, now_ms)
        if self.terminated:
            return []
        fired = [rule for index, rule in self._server_rules(event) if self._occurs(index)]
        changed = self._transform(event, now_ms)
        if changed is None and not fired:
            return None
        sink: list[Outgoing] = list(changed) if changed is not None else [event]
        for rule in fired:
            self._start(ctl, rule, Firing(), now_ms, sink=sink)
        return sink

    def on_timer(self, ctl: Control, now_ms: float) -> None:
        """Run every delayed action and held event that is due, and idle rules."""
        self._run_due(ctl, now_ms)

    def next_timer(self) -> float | None:
        """The earliest pending delay or idle deadline (absolute ms), or None."""
        if self.terminated:
            return None
        dues = [self._timers[0][0]] if self._timers else []
        dues.extend(due for _, due in self._idle_deadlines())
        return min(dues) if dues else None

    # ---------------------------------------------------------- triggers
    def _fire_connect(self, ctl: Control, now_ms: float, *, before: bool) -> None:
        for index, rule in enumerate(self.scenario.rules):
            if rule.when.on != "connect" or rule.when.before_session_created != before:
                continue
            if self._occurs(index) and not self.terminated:
                self._start(ctl, rule, Firing(), now_ms, sink=None)

    def _server_rules(self, event: Mapping[str, Any]) -> list[tuple[int, Rule]]:
        kind = str(event.get("type", ""))
        reached = self._count_delta(event, kind)
        found = []
        for index, rule in enumerate(self.scenario.rules):
            when = rule.when
            if (
                (when.on == "server_event" and when.match.matches(event))
                or (when.on == "response" and kind == "response.created")
                or (when.on == "deltas" and reached == when.count)
            ):
                found.append((index, rule))
        return found

    def _count_delta(self, event: Mapping[str, Any], kind: str) -> int | None:
        if not (kind.startswith("response.") and kind.endswith(".delta")):
            return None
        response_id = str(event.get("response_id", ""))
        self._deltas[response_id] = self._deltas.get(response_id, 0) + 1
        return self._deltas[response_id]

    def _occurs(self, index: int) -> bool:
        """Count one occurrence of rule `index`; True if this one fires it."""
        self._occurrences[index] += 1
        when = self.scenario.rules[index].when
        return when.every or self._occurrences[index] == when.nth

    def _idle_deadlines(self) -> list[tuple[int, float]]:
        return [
            (index, self._last_client_ms + rule.when.after_ms)
            for index, rule in enumerate(self.scenario.rules)
            if rule.when.on == "idle" and index not in self._idle_fired
        ]

    # ------------------------------------------------------------ running
    def _start(
        self, ctl: Control, rule: Rule, firing: Firing, now_ms: float, sink: list[Outgoing] | None
    ) -> None:
        delay = 0.0 if rule.when.on == "idle" else rule.when.after_ms
        if delay > 0:
            self._push(now_ms + delay, _Job(rule.do, 0, firing))
        else:
            self._run(ctl, rule.do, 0, firing, now_ms, sink)

    def _run(
        self,
        ctl: Control,
        actions: tuple[Action, ...],
        start: int,
        firing: Firing,
        now_ms: float,
        sink: list[Outgoing] | None,
    ) -> None:
        """Run actions from `start`; `sink` collects sends made inside on_server_event."""
        emit = sink.append if sink is not None else ctl.send
        env = Env(ctl, now_ms, firing, emit, self._transforms.append, self._hold)
        for index in range(start, len(actions)):
            action = actions[index]
            if action.name == "delay":
                self._push(now_ms + float(action.args["ms"]), _Job(actions, index + 1, firing))
                return
            if action.terminal and sink is not None:
                self._push(now_ms, _Job(actions, index, firing))
                return
            HANDLERS[action.name](env, action.args)
            if action.terminal:
                self._terminate()
                return

    def _run_due(self, ctl: Control, now_ms: float) -> None:
        for index, due in self._idle_deadlines():
            if due <= now_ms:
                self._idle_fired.add(index)
                self._push(due, _Job(self.scenario.rules[index].do, 0, Firing()))
        while self._timers and self._timers[0][0] <= now_ms and not self.terminated:
            _, _, job = heapq.heappop(self._timers)
            if job.event is not None:
                ctl.send(job.event)
            elif job.firing is not None:
                self._run(ctl, job.actions, job.start, job.firing, now_ms, None)

    def _transform(self, event: Mapping[str, Any], now_ms: float) -> list[Outgoing] | None:
        items: list[Outgoing] = [event]
        touched = False
        for transform in self._transforms:
            out: list[Outgoing] = []
            for item in items:
                if isinstance(item, Mapping) and transform.wants(item):
                    out.extend(transform.take(item, now_ms))
                    touched = True
                else:
                    out.append(item)
            items = out
        self._transforms = [t for t in self._transforms if not t.done]
        return items if touched else None

    def _hold(self, due: float, event: Mapping[str, Any]) -> None:
        self._push(due, _Job(event=event))

    def _push(self, due: float, job: _Job) -> None:
        heapq.heappush(self._timers, (due, next(self._seq), job))

    def _terminate(self) -> None:
        self.terminated = True
        self._timers.clear()
        self._transforms.clear()
