"""A close, drop or stall goes out behind what was queued before it, never ahead of it.

Found by the fuzzer: a connect rule that sent an event and then dropped the connection
swallowed `session.created`, and a client-event rule that sent an event and then stalled
swallowed its own send.
"""

from __future__ import annotations

import pytest

from conformance.transport import Closed
from mock_server.hooks import Hooks

from ..mock_server.app_harness import open_app
from .builders import scenario

RATE = "{type: rate_limits.updated, rate_limits: [{name: tokens, limit: 9, remaining: 8}]}"


def _hooks(trigger: str, terminal: str) -> Hooks:
    rules = f"""
        rules:
          - when: {trigger}
            do:
              - send: {RATE}
              - {terminal}
        """
    return scenario(rules).hooks()


@pytest.mark.parametrize(
    ("terminal", "end"),
    [("drop: null", Closed(None)), ("close: {code: 4000, reason: x}", Closed(4000, "x"))],
)
def test_a_connect_rule_ending_the_connection_still_sends_session_created_first(
    terminal: str, end: Closed
) -> None:
    _, wire = open_app(hooks=_hooks("{on: connect}", terminal))
    first, second = wire.recv_event(), wire.recv_event()
    assert isinstance(first, dict)
    assert first["type"] == "session.created"
    assert isinstance(second, dict)
    assert second["type"] == "rate_limits.updated"
    assert wire.recv_event() == end


def test_a_connect_rule_that_stalls_sends_session_created_and_its_event_then_nothing() -> None:
    _, wire = open_app(hooks=_hooks("{on: connect}", "stall: {}"))
    kinds = [wire.recv_event(), wire.recv_event()]
    assert [k["type"] for k in kinds if isinstance(k, dict)] == [
        "session.created",
        "rate_limits.updated",
    ]
    assert wire.stalled
    wire.send({"type": "response.create"})
    assert wire.recv_event(within_ms=5_000) is None


def test_a_client_event_rule_that_stalls_sends_its_own_event_first() -> None:
    rule = "{on: client_event, match: {type: response.create}}"
    _, wire = open_app(hooks=_hooks(rule, "stall: {}"))
    created = wire.recv_event()
    assert isinstance(created, dict)
    assert created["type"] == "session.created"
    wire.send({"type": "response.create"})
    sent = wire.recv_event()
    assert isinstance(sent, dict)
    assert sent["type"] == "rate_limits.updated"
    assert wire.stalled
    assert wire.recv_event(within_ms=5_000) is None  # no response: the server stalled
