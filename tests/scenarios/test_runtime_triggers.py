"""`ScenarioHooks` triggers, against a recording fake `Control` (no app, no sockets)."""

from __future__ import annotations

from mock_server.hooks import Hooks
from mock_server.scenarios import ScenarioHooks

from .builders import delta, event, scenario
from .fake_control import FakeControl

CREATE = {"type": "response.create", "event_id": "evt_c"}


def hooks_for(rules: str) -> ScenarioHooks:
    return ScenarioHooks(scenario(rules))


def test_scenario_hooks_satisfy_the_hooks_protocol() -> None:
    hooks: Hooks = scenario("rules: []").hooks()
    assert isinstance(hooks, ScenarioHooks)


def test_connect_before_session_created_closes_in_on_open_and_suppresses_session_created() -> None:
    hooks = hooks_for("""
        rules:
          - when: {on: connect, phase: before_session_created}
            do: [{close: {code: 1000}}]
    """)
    ctl = FakeControl()
    hooks.on_open(ctl, 0.0)
    assert ctl.names() == ["suppress_session_created", "close"]
    assert ctl.effects()[1].args == (1000, "")
    assert hooks.next_timer() is None


def test_connect_after_session_created_runs_in_after_open_only() -> None:
    hooks = hooks_for("""
        rules:
          - when: {on: connect}
            do: [{reply_text: {text: hi}}]
    """)
    ctl = FakeControl()
    hooks.on_open(ctl, 0.0)
    assert ctl.names() == []
    hooks.after_open(ctl, 0.0)
    assert ctl.names() == ["set_reply_text"]


def test_connect_after_ms_becomes_a_timer_from_connect() -> None:
    hooks = hooks_for("""
        rules:
          - when: {on: connect, after_ms: 150}
            do: [{close: {code: 1000}}]
    """)
    ctl = FakeControl()
    hooks.on_open(ctl, 10.0)
    hooks.after_open(ctl, 10.0)
    assert hooks.next_timer() == 160.0
    hooks.on_timer(ctl, 159.0)
    assert ctl.names() == []
    hooks.on_timer(ctl, 160.0)
    assert ctl.names() == ["close"]


def test_client_event_nth_fires_on_the_nth_matching_event_only() -> None:
    hooks = hooks_for("""
        rules:
          - when: {on: client_event, match: {type: response.create}, nth: 2}
            do: [{error: {message: second}}]
    """)
    ctl = FakeControl()
    other = {"type": "input_audio_buffer.clear"}
    for client_event in (CREATE, other, CREATE, CREATE):
        hooks.on_client_event(ctl, client_event, "{}", 0.0)
    assert ctl.sent_types() == ["error"]


def test_client_event_every_fires_on_each_matching_event() -> None:
    hooks = hooks_for("""
        rules:
          - when: {on: client_event, match: {type: response.create}, every: true}
            do: [{error: {message: again}}]
    """)
    ctl = FakeControl()
    for _ in range(3):
        hooks.on_client_event(ctl, CREATE, "{}", 0.0)
    assert ctl.sent_types() == ["error", "error", "error"]


def test_client_event_match_on_dotted_field_with_exists_lookup() -> None:
    hooks = hooks_for("""
        rules:
          - when: {on: client_event, match: {type: session.update, session.type__exists: false}}
            do: [{error: {message: beta shape}}]
    """)
    ctl = FakeControl()
    hooks.on_client_event(ctl, {"type": "session.update", "session": {"type": "realtime"}}, "", 0)
    assert ctl.sent() == []
    hooks.on_client_event(ctl, {"type": "session.update", "session": {"voice": "alloy"}}, "", 0)
    assert ctl.sent_types() == ["error"]


def test_client_event_min_bytes_counts_the_utf8_size_of_the_frame() -> None:
    hooks = hooks_for("""
        rules:
          - when: {on: client_event, min_bytes: 10, every: true}
            do: [{close: {code: 1009, reason: message too big}}]
    """)
    ctl = FakeControl()
    assert hooks.on_client_event(ctl, {"type": "x"}, "é" * 4, 0.0) is False  # 8 bytes
    assert ctl.names() == []
    assert hooks.on_client_event(ctl, {"type": "x"}, "é" * 5, 0.0) is True  # 10 bytes
    assert ctl.effects()[0].args == (1009, "message too big")


def test_consume_returns_true_and_a_rule_without_it_returns_false() -> None:
    hooks = hooks_for("""
        rules:
          - when: {on: client_event, match: {type: response.create}}
            do: [consume: , {error: {message: no}}]
          - when: {on: client_event, match: {type: session.update}}
            do: [{error: {message: seen}}]
    """)
    ctl = FakeControl()
    assert hooks.on_client_event(ctl, CREATE, "", 0.0) is True
    assert hooks.on_client_event(ctl, {"type": "session.update"}, "", 0.0) is False


def test_an_empty_matcher_matches_a_frame_that_is_not_json() -> None:
    hooks = hooks_for("""
        rules:
          - when: {on: client_event}
            do: [{error: {message: any frame}}]
    """)
    ctl = FakeControl()
    hooks.on_client_event(ctl, None, "not json", 0.0)
    assert ctl.sent_types() == ["error"]


def test_client_event_after_ms_delays_the_actions_from_the_event() -> None:
    hooks = hooks_for("""
        rules:
          - when: {on: client_event, after_ms: 100}
            do: [{error: {message: late}}]
    """)
    ctl = FakeControl()
    hooks.on_client_event(ctl, {"type": "response.create", "event_id": "evt_9"}, "", 50.0)
    assert ctl.sent() == []
    assert hooks.next_timer() == 150.0
    hooks.on_timer(ctl, 150.0)
    (sent,) = ctl.sent()
    assert isinstance(sent, dict)
    assert sent["error"]["event_id"] == "evt_9"


def test_server_event_rule_sends_after_the_triggering_event() -> None:
    hooks = hooks_for("""
        rules:
          - when: {on: server_event, match: {type: response.done}}
            do: [{send: {type: rate_limits.updated, rate_limits: []}}]
    """)
    ctl = FakeControl()
    done = event("response.done")
    assert hooks.on_server_event(ctl, event("response.created"), 0.0) is None
    out = hooks.on_server_event(ctl, done, 0.0)
    assert out is not None
    assert out[0] is done
    assert [e["type"] for e in out if isinstance(e, dict)] == [
        "response.done",
        "rate_limits.updated",
    ]
    assert ctl.sent() == []


def test_response_trigger_counts_response_created_events() -> None:
    hooks = hooks_for("""
        rules:
          - when: {on: response, nth: 2}
            do: [{send: {type: rate_limits.updated, rate_limits: []}}]
    """)
    ctl = FakeControl()
    assert hooks.on_server_event(ctl, event("response.created"), 0.0) is None
    out = hooks.on_server_event(ctl, event("response.created"), 0.0)
    assert out is not None
    assert len(out) == 2


def test_deltas_trigger_fires_after_n_deltas_of_each_response_it_counts() -> None:
    hooks = hooks_for("""
        rules:
          - when: {on: deltas, count: 2, every: true}
            do: [{inject_unknown_event: {}}]
    """)
    ctl = FakeControl()
    results = [
        hooks.on_server_event(ctl, delta("resp_a", 1), 0.0),
        hooks.on_server_event(ctl, delta("resp_b", 1), 0.0),
        hooks.on_server_event(ctl, delta("resp_a", 2), 0.0),
        hooks.on_server_event(ctl, delta("resp_b", 2), 0.0),
        hooks.on_server_event(ctl, delta("resp_a", 3), 0.0),
    ]
    assert [r is None for r in results] == [True, True, False, False, True]


def test_deltas_trigger_with_close_sends_the_delta_first_then_closes_and_swallows_the_rest() -> (
    None
):
    hooks = hooks_for("""
        rules:
          - when: {on: deltas, count: 2}
            do:
              - error: {type: server_error, message: boom}
              - close: {code: 1011, reason: server_error}
    """)
    ctl = FakeControl()
    hooks.on_server_event(ctl, delta(n=1), 5.0)
    second = delta(n=2)
    out = hooks.on_server_event(ctl, second, 5.0)
    assert out is not None
    assert out[0] is second
    assert len(out) == 2
    assert ctl.names() == []  # the close waits until the delta and the error are out
    assert hooks.next_timer() == 5.0
    assert hooks.on_server_event(ctl, delta(n=3), 5.0) == []
    assert ctl.names() == ["close"]
    assert ctl.effects()[0].args == (1011, "server_error")
    assert hooks.on_server_event(ctl, event("response.done"), 6.0) == []
    assert hooks.on_client_event(ctl, CREATE, "", 7.0) is True
    assert hooks.next_timer() is None


def test_deferred_terminal_action_also_runs_from_the_timer() -> None:
    hooks = hooks_for("""
        rules:
          - when: {on: deltas, count: 1}
            do: [drop: ]
    """)
    ctl = FakeControl()
    hooks.on_server_event(ctl, delta(), 3.0)
    hooks.on_timer(ctl, 3.0)
    assert ctl.names() == ["drop"]


def test_idle_fires_after_the_quiet_period_and_client_frames_reset_it() -> None:
    hooks = hooks_for("""
        rules:
          - when: {on: idle, after_ms: 500}
            do: [drop: ]
    """)
    ctl = FakeControl()
    hooks.on_open(ctl, 0.0)
    hooks.after_open(ctl, 0.0)
    assert hooks.next_timer() == 500.0
    hooks.on_client_event(ctl, {"type": "input_audio_buffer.clear"}, "", 400.0)
    assert hooks.next_timer() == 900.0
    hooks.on_timer(ctl, 899.0)
    assert ctl.names() == []
    hooks.on_timer(ctl, 900.0)
    assert ctl.names() == ["drop"]
    assert hooks.next_timer() is None


def test_each_connection_gets_fresh_state() -> None:
    made = scenario("""
        rules:
          - when: {on: client_event, nth: 2}
            do: [{error: {message: second}}]
    """)
    first, second = made.hooks(), made.hooks()
    ctl_a, ctl_b = FakeControl(), FakeControl()
    first.on_client_event(ctl_a, CREATE, "", 0.0)
    second.on_client_event(ctl_b, CREATE, "", 0.0)
    assert ctl_a.sent() == []
    assert ctl_b.sent() == []
    first.on_client_event(ctl_a, CREATE, "", 0.0)
    assert ctl_a.sent_types() == ["error"]
    assert ctl_b.sent() == []


def test_the_same_inputs_give_the_same_calls() -> None:
    rules = """
        rules:
          - when: {on: connect}
            do: [{send: {type: error, error: {message: "{new_id:item}"}}}, {delay: {ms: 5}}, drop: ]
    """
    runs = []
    for _ in range(2):
        hooks, ctl = hooks_for(rules), FakeControl()
        hooks.on_open(ctl, 0.0)
        hooks.after_open(ctl, 0.0)
        hooks.on_timer(ctl, 5.0)
        runs.append(ctl.calls)
    assert runs[0] == runs[1]
