"""Every scenario action's recorded effect on a fake `Control`."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from conformance import _json
from mock_server.hooks import RawFrame
from mock_server.scenarios import ScenarioHooks

from .builders import delta, event, scenario
from .fake_control import FakeControl, FakeState

CLIENT = {"type": "response.create", "event_id": "evt_client_1"}


def run_on_client_event(actions: str, state: FakeState | None = None) -> FakeControl:
    """Fire `actions` (a YAML flow list) on one response.create; return the control."""
    hooks = ScenarioHooks(scenario(f"rules:\n  - when: {{on: client_event}}\n    do: {actions}\n"))
    ctl = FakeControl(state)
    hooks.on_client_event(ctl, CLIENT, "{}", 0.0)
    return ctl


def only_sent(ctl: FakeControl) -> Mapping[str, Any]:
    (sent,) = ctl.sent()
    assert isinstance(sent, Mapping)
    return sent


def armed(actions: str) -> tuple[ScenarioHooks, FakeControl]:
    """Hooks whose `actions` ran after session.created (transforms are armed)."""
    hooks = ScenarioHooks(scenario(f"rules:\n  - when: {{on: connect}}\n    do: {actions}\n"))
    ctl = FakeControl()
    hooks.on_open(ctl, 0.0)
    hooks.after_open(ctl, 0.0)
    return hooks, ctl


def test_send_fills_every_placeholder_from_the_state_and_the_client_event() -> None:
    state = FakeState(
        active_response_id="resp_active",
        last_response_id="resp_last",
        last_item_id="item_last",
    )
    ctl = run_on_client_event(
        """
      - send:
          type: conversation.item.retrieved
          item: {id: "{new_id:item}", note: "{new_id:item} in {session_id}/{conversation_id}"}
          ids: ["{active_response_id}", "{last_response_id}", "{last_item_id}", "{model}"]
          echo: "{client_event_id}"
    """,
        state,
    )
    sent = only_sent(ctl)
    assert sent["item"]["id"] == "item_1"
    assert sent["item"]["note"] == "item_1 in sess_TEST/conv_TEST"
    assert sent["ids"] == ["resp_active", "resp_last", "item_last", "gpt-realtime"]
    assert sent["echo"] == "evt_client_1"
    assert sent["event_id"].startswith("event_")


def test_a_whole_string_placeholder_without_a_value_becomes_null() -> None:
    sent = only_sent(run_on_client_event('[{send: {type: error, a: "{active_response_id}"}}]'))
    assert sent["a"] is None


def test_new_ids_differ_between_firings_of_a_rule() -> None:
    hooks = ScenarioHooks(
        scenario("""
        rules:
          - when: {on: client_event, every: true}
            do: [{send: {type: conversation.item.deleted, item_id: "{new_id:item}"}}]
    """)
    )
    ctl = FakeControl()
    hooks.on_client_event(ctl, CLIENT, "", 0.0)
    hooks.on_client_event(ctl, CLIENT, "", 0.0)
    ids = [e["item_id"] for e in ctl.sent() if isinstance(e, Mapping)]
    assert len(set(ids)) == 2


def test_error_defaults_to_invalid_request_error_echoing_the_client_event_id() -> None:
    sent = only_sent(run_on_client_event("[{error: {code: x_code, message: 'in {session_id}'}}]"))
    assert sent["type"] == "error"
    assert sent["error"] == {
        "type": "invalid_request_error",
        "code": "x_code",
        "message": "in sess_TEST",
        "param": None,
        "event_id": "evt_client_1",
    }


def test_error_event_id_can_be_set_to_null() -> None:
    sent = only_sent(run_on_client_event("[{error: {message: m, event_id: null, param: a.b}}]"))
    assert sent["error"]["event_id"] is None
    assert sent["error"]["param"] == "a.b"


def test_close_records_code_and_reason_and_ends_the_scenario() -> None:
    ctl = run_on_client_event("[{close: {code: 4000, reason: 'invalid_request_error.x'}}]")
    assert ctl.effects()[0].name == "close"
    assert ctl.effects()[0].args == (
        4000,
        "invalid_request_error.x",
    )


def test_drop_records_a_drop() -> None:
    assert run_on_client_event("[drop: ]").names() == ["drop"]


def test_stall_passes_the_pings_flag() -> None:
    ctl = run_on_client_event("[{stall: {pings: false}}]")
    assert ctl.effects()[0].kwargs == {"pings": False}
    assert run_on_client_event("[stall: ]").effects()[0].kwargs == {"pings": True}


def test_delay_holds_the_following_actions_until_the_timer() -> None:
    hooks = ScenarioHooks(
        scenario("""
        rules:
          - when: {on: client_event}
            do: [{error: {message: now}}, {delay: {ms: 250}}, {error: {message: later}}]
    """)
    )
    ctl = FakeControl()
    hooks.on_client_event(ctl, CLIENT, "", 100.0)
    assert len(ctl.sent()) == 1
    assert hooks.next_timer() == 350.0
    hooks.on_timer(ctl, 349.0)
    assert len(ctl.sent()) == 1
    hooks.on_timer(ctl, 350.0)
    later = ctl.sent()[1]
    assert isinstance(later, Mapping)
    assert later["error"]["event_id"] == "evt_client_1"
    assert hooks.next_timer() is None


def test_drop_next_drops_the_next_events_of_the_given_types_only() -> None:
    hooks, ctl = armed("[{drop_next: {count: 2, types: [response.output_text.delta]}}]")
    other = event("response.created")
    assert hooks.on_server_event(ctl, other, 0.0) is None
    assert hooks.on_server_event(ctl, delta(n=1), 0.0) == []
    assert hooks.on_server_event(ctl, delta(n=2), 0.0) == []
    assert hooks.on_server_event(ctl, delta(n=3), 0.0) is None


def test_duplicate_next_sends_the_event_twice_with_the_same_event_id() -> None:
    hooks, ctl = armed("[duplicate_next: ]")
    out = hooks.on_server_event(ctl, delta(), 0.0)
    assert out is not None
    assert len(out) == 2
    first, second = out
    assert isinstance(first, Mapping)
    assert isinstance(second, Mapping)
    assert first == second
    assert first["event_id"] == "event_d1"
    assert hooks.on_server_event(ctl, delta(n=2), 0.0) is None


def test_reorder_next_holds_the_events_then_sends_them_reversed() -> None:
    hooks, ctl = armed("[{reorder_next: {count: 3}}]")
    assert hooks.on_server_event(ctl, delta(n=1), 0.0) == []
    assert hooks.on_server_event(ctl, delta(n=2), 0.0) == []
    out = hooks.on_server_event(ctl, delta(n=3), 0.0)
    assert out is not None
    assert [e["event_id"] for e in out if isinstance(e, Mapping)] == [
        "event_d3",
        "event_d2",
        "event_d1",
    ]


def test_delay_next_holds_an_event_and_sends_it_from_the_timer() -> None:
    hooks, ctl = armed("[{delay_next: {ms: 400, types: [session.updated]}}]")
    updated = event("session.updated")
    assert hooks.on_server_event(ctl, updated, 100.0) == []
    assert hooks.on_server_event(ctl, event("response.created"), 120.0) is None
    assert hooks.next_timer() == 500.0
    hooks.on_timer(ctl, 500.0)
    assert ctl.sent() == [updated]


def test_inject_unknown_event_sends_an_unknown_type_with_templated_fields() -> None:
    sent = only_sent(run_on_client_event("[{inject_unknown_event: {fields: {s: '{session_id}'}}}]"))
    assert sent["type"] == "response.future_feature.delta"
    assert sent["s"] == "sess_TEST"


def test_inject_unknown_field_adds_a_field_to_the_next_event_of_the_type_once() -> None:
    hooks, ctl = armed("[{inject_unknown_field: {type: response.created, field: x_new, value: 7}}]")
    assert hooks.on_server_event(ctl, delta(), 0.0) is None
    out = hooks.on_server_event(ctl, event("response.created"), 0.0)
    assert out is not None
    assert isinstance(out[0], Mapping)
    assert out[0]["x_new"] == 7
    assert hooks.on_server_event(ctl, event("response.created"), 0.0) is None


def test_malformed_json_sends_a_raw_frame_that_does_not_parse() -> None:
    (sent,) = run_on_client_event("[malformed_json: ]").sent()
    assert isinstance(sent, RawFrame)
    assert isinstance(sent.data, str)
    try:
        _json.loads(sent.data)
    except _json.JSONDecodeError:
        pass
    else:
        raise AssertionError("the default malformed frame parsed as JSON")


def test_oversized_frame_pads_the_next_delta_to_at_least_the_size_as_valid_base64() -> None:
    hooks, ctl = armed("[{oversized_frame: {bytes: 3400000}}]")
    audio = delta(kind="output_audio")
    out = hooks.on_server_event(ctl, audio, 0.0)
    assert out is not None
    assert isinstance(out[0], Mapping)
    frame = _json.dumps_bytes(out[0])
    assert 3_400_000 <= len(frame) < 3_400_004
    padded = out[0]["delta"]
    assert len(padded) % 4 == 0
    assert set(base64.b64decode(padded)) == {0}
    assert hooks.on_server_event(ctl, delta(n=2, kind="output_audio"), 0.0) is None


def test_reply_text_pace_and_pings_call_the_control() -> None:
    ctl = run_on_client_event(
        "[{reply_text: {text: Hi}}, {pace: {first_delta_delay: 0.3}}, {pings: {answer: false}}]"
    )
    assert ctl.names() == ["set_reply_text", "set_pace", "set_ping_answer"]
    reply, pace, pings = ctl.effects()
    assert reply.args == ("Hi",)
    assert pings.args == (False,)
    assert pace.kwargs == {
        "first_delta_delay": 0.3,
        "text_tokens_per_second": None,
        "audio_realtime": None,
    }


def test_fail_response_passes_templated_status_details() -> None:
    ctl = run_on_client_event(
        "[{fail_response: {error: {type: invalid_request_error, code: model_not_found, "
        "message: 'The model `{model}` does not exist'}}}]"
    )
    (call,) = ctl.effects()
    assert call.name == "fail_next_response"
    assert call.args[0] == {
        "type": "failed",
        "error": {
            "type": "invalid_request_error",
            "code": "model_not_found",
            "message": "The model `gpt-realtime` does not exist",
        },
    }


def test_fail_response_incomplete_carries_a_reason() -> None:
    ctl = run_on_client_event("[{fail_response: {status: incomplete, reason: content_filter}}]")
    assert ctl.effects()[0].args[0] == {"type": "incomplete", "reason": "content_filter"}


def test_suppress_session_created_is_called_in_on_open() -> None:
    hooks = ScenarioHooks(
        scenario("""
        rules:
          - when: {on: connect, phase: before_session_created}
            do: [suppress_session_created: ]
    """)
    )
    ctl = FakeControl()
    hooks.on_open(ctl, 0.0)
    assert ctl.names() == ["suppress_session_created"]
    assert not hooks.terminated
