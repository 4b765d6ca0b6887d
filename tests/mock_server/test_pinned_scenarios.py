"""Pins of the scenario loader, checker and runtime that the mutation run found unguarded.

Each test kills mutants of `mock_server/scenarios/` that survived the scenario tests
(issue 13, point 6; `docs/mutation.md`). They go through the public entry points
(`load_scenario`, `load_text`, `ScenarioHooks`, `compile_matcher`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mock_server.scenarios import ScenarioError, load_text, resolve_scenario
from mock_server.scenarios.matcher import compile_matcher
from tests.scenarios.builders import HEADER, event, scenario
from tests.scenarios.test_runtime_actions import armed as _armed


def armed(actions: str) -> tuple[Any, Any]:
    """`test_runtime_actions.armed`, its fake control typed loosely (it predates the
    hold/release members of `Control`)."""
    return _armed(actions)


# --- a missing scenario file: the hint names the near file or built-in ------------------


@pytest.mark.parametrize("suffix", [".yaml", ".yml"])
def test_a_missing_file_is_answered_with_the_near_file_of_either_suffix(
    tmp_path: Path, suffix: str
) -> None:
    (tmp_path / f"my-scenario{suffix}").write_text("id: my-scenario\n")
    with pytest.raises(ScenarioError) as caught:
        resolve_scenario(str(tmp_path / f"my-scenaro{suffix}"))
    assert f"did you mean {str(tmp_path / f'my-scenario{suffix}')!r}?" in str(caught.value)


def test_a_missing_file_named_like_a_builtin_points_at_the_builtin(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as caught:
        resolve_scenario(str(tmp_path / "beta-header-rejectd.yaml"))
    message = str(caught.value)
    assert "did you mean the built-in scenario 'beta-header-rejected'" in message


def test_a_missing_file_far_from_any_name_gets_no_hint(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as caught:
        resolve_scenario(str(tmp_path / "zzzz.yaml"))
    assert "did you mean" not in str(caught.value)


@pytest.mark.parametrize("name", ["no-such-file.yaml", "no-such-file.yml"])
def test_a_name_with_a_scenario_suffix_is_a_file_path(name: str) -> None:
    with pytest.raises(ScenarioError, match="no such scenario file"):
        resolve_scenario(name)


# --- delay_next holds one event unless told more ----------------------------------------


def test_delay_next_holds_one_event_by_default() -> None:
    hooks, ctl = armed("[{delay_next: {ms: 400, types: [session.updated]}}]")
    first, second = event("session.updated", n=1), event("session.updated", n=2)
    assert hooks.on_server_event(ctl, first, 100.0) == []
    assert hooks.on_server_event(ctl, second, 150.0) is None  # passes unchanged


def test_delay_next_with_a_count_holds_that_many() -> None:
    hooks, ctl = armed("[{delay_next: {ms: 400, count: 2, types: [session.updated]}}]")
    assert hooks.on_server_event(ctl, event("session.updated", n=1), 100.0) == []
    assert hooks.on_server_event(ctl, event("session.updated", n=2), 150.0) == []
    assert hooks.on_server_event(ctl, event("session.updated", n=3), 200.0) is None


# --- the checker: placeholders in every templated action, fail_response's error ---------


def rules_error(actions: str) -> str:
    with pytest.raises(ScenarioError) as caught:
        scenario(f"rules:\n  - when: {{on: client_event}}\n    do: {actions}\n")
    return str(caught.value)


@pytest.mark.parametrize(
    "action",
    [
        "{send: {type: conversation.item.retrieved, note: '{bogus}'}}",
        "{error: {message: '{bogus}'}}",
        "{close: {code: 1000, reason: '{bogus}'}}",
        "{inject_unknown_event: {fields: {s: '{bogus}'}}}",
        "{fail_response: {error: {type: server_error, message: '{bogus}'}}}",
    ],
)
def test_every_templated_action_has_its_placeholders_checked(action: str) -> None:
    assert "unknown placeholder {bogus}" in rules_error(f"[{action}]")


def test_fail_response_with_an_error_must_have_status_failed() -> None:
    message = rules_error(
        "[{fail_response: {status: incomplete, error: {type: server_error, message: m}}}]"
    )
    assert "error only goes with status: failed" in message
    scenario(  # the same error with status failed (or no status) is fine
        "rules:\n  - when: {on: client_event}\n    do: "
        "[{fail_response: {status: failed, error: {type: server_error, message: m}}}]\n"
    )


def test_a_missing_required_key_is_named_not_a_present_one() -> None:
    with pytest.raises(ScenarioError) as caught:
        load_text(HEADER + "rules:\n  - when: {on: client_event}\n", where="<test>")
    assert "missing required key 'do'" in str(caught.value)


# --- matchers: the values a matcher names for a field -----------------------------------


def test_values_of_gives_the_values_of_eq_and_in_conditions_only() -> None:
    matcher = compile_matcher(
        {"type": "a", "type__in": ["b", "c"], "type__regex": "d", "item.type": "e"}
    )
    assert matcher.values_of("type") == ["a", "b", "c"]
    assert matcher.values_of("item") == []


# --- the model's defaults: empty, read-only mappings ------------------------------------


def test_model_defaults_are_empty_read_only_mappings() -> None:
    from mock_server.scenarios import Action, ConnectSpec

    spec = ConnectSpec()
    for mapping in (Action(name="close").args, spec.headers, spec.query):
        assert dict(mapping) == {}
        with pytest.raises(TypeError):
            mapping["x"] = "y"  # type: ignore[index]


# --- after_ms holds a rule's actions, even for 1 ms -------------------------------------


def test_after_ms_runs_the_actions_from_the_timer_not_at_once() -> None:
    from mock_server.scenarios import ScenarioHooks
    from tests.scenarios.fake_control import FakeControl

    rules = (
        "rules:\n  - when: {on: client_event, after_ms: 1}\n    do: [{error: {message: late}}]\n"
    )
    hooks = ScenarioHooks(scenario(rules))
    ctl: Any = FakeControl()
    hooks.on_client_event(ctl, {"type": "response.create"}, "{}", 100.0)
    assert ctl.sent() == []
    assert hooks.next_timer() == 101.0
    hooks.on_timer(ctl, 101.0)
    (sent,) = ctl.sent()
    assert isinstance(sent, dict)
    assert sent["error"]["message"] == "late"


# --- config: listener fields are refused; misspelt fields get a did-you-mean ------------


@pytest.mark.parametrize("field", ["scenario", "record", "port", "max_message_size"])
def test_a_scenario_cannot_set_a_listener_field(field: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        scenario(f"config:\n  {field}: 1\nrules: []\n")
    assert f"config.{field} belongs to the listener and cannot be set by a scenario" in str(
        caught.value
    )


def test_a_misspelt_config_field_gets_the_near_name() -> None:
    with pytest.raises(ScenarioError) as caught:
        scenario("config:\n  sesion_max_duration: 5\nrules: []\n")
    assert "unknown MockConfig field 'sesion_max_duration' at config; did you mean" in str(
        caught.value
    )
    assert "'session_max_duration'?" in str(caught.value)


# --- the alias-expansion bound is exact: 100,000 values pass, 100,001 do not -------------


def expanding_to(values: int) -> str:
    """A document whose aliases expand it to exactly `values` values (keys count too).

    `a` is 999 scalars (1,000 values with its sequence); `b` is 98 aliases of it; `c`
    holds the rest: 1 (root) + 2 + 1,000 + 2 + 98,000 + 1 + 1 + r values.
    """
    rest = values - 1006 - 98 * 1000
    assert rest >= 0
    return (
        f"a: &a [{', '.join(['1'] * 999)}]\n"
        f"b: [{', '.join(['*a'] * 98)}]\n"
        f"c: [{', '.join(['1'] * rest)}]\n"
    )


@pytest.mark.parametrize(("values", "refused"), [(100_000, False), (100_001, True)])
def test_the_alias_expansion_bound_is_exact(values: int, refused: bool) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_text(expanding_to(values), where="<bomb>")  # not a scenario either way
    assert ("too many aliases" in str(caught.value)) is refused, str(caught.value)[:200]
