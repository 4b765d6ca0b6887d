"""Properties over generated events: valid ones pass, one-edit mutations get the right finding."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from conformance import _json
from conformance.schemas import schema_for, validate_client_event, validate_server_event
from conformance.schemas._bundle import is_valid_function
from conformance.schemas._validate import _walker

from ._strategies import Mutation, get, mutated, param, valid_events

SIDES = ["client", "server"]
EXAMPLES = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
EXPECTED_CODE = {
    "unknown_key": "unknown_parameter",
    "wrong_type": "invalid_type",
    "removed_key": "missing_required_parameter",
}


def validate(side: str, event: Any) -> list[Any]:
    return validate_client_event(event) if side == "client" else validate_server_event(event)


def rs_valid(side: str, event: dict[str, Any]) -> bool:
    return is_valid_function(side, event["type"])(event)


@pytest.mark.parametrize("side", SIDES)
def test_every_generated_valid_event_validates_and_survives_a_json_round_trip(side: str) -> None:
    @EXAMPLES
    @given(valid_events(side))
    def check(event: dict[str, Any]) -> None:
        assert validate(side, event) == []
        assert _json.loads(_json.dumps(event)) == event

    check()


@pytest.mark.parametrize("side", SIDES)
def test_an_unknown_top_level_key_is_always_an_unknown_parameter(side: str) -> None:
    @EXAMPLES
    @given(valid_events(side), st.sampled_from(["zz_extra", "modalities", "metadata_v2"]))
    def check(event: dict[str, Any], key: str) -> None:
        if key in event:
            return
        event[key] = "x"
        findings = validate(side, event)
        assert [(f.code, f.param) for f in findings] == [("unknown_parameter", key)]

    check()


@pytest.mark.parametrize("side", SIDES)
def test_removing_a_required_top_level_field_is_a_missing_required_parameter(side: str) -> None:
    @EXAMPLES
    @given(valid_events(side), st.data())
    def check(event: dict[str, Any], data: st.DataObject) -> None:
        required = [k for k in schema_for(side, event["type"]).get("required", ()) if k != "type"]
        if not required:
            return
        key = data.draw(st.sampled_from(required))
        del event[key]
        first = validate(side, event)[0]
        assert (first.code, first.param, first.message) == (
            "missing_required_parameter",
            key,
            f"Missing required parameter: '{key}'.",
        )

    check()


@pytest.mark.parametrize("side", SIDES)
def test_a_rejected_one_edit_mutation_is_reported_first_with_the_right_code_and_param(
    side: str,
) -> None:
    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(mutated(side))
    def check(mutation: Mutation) -> None:
        note(f"event: {mutation.event!r}")
        findings = validate(side, mutation.event)
        if rs_valid(side, mutation.event):
            assert findings == []
            return
        codes = {EXPECTED_CODE[mutation.kind]}
        if mutation.kind == "wrong_type" and isinstance(get(mutation.event, mutation.path), str):
            codes.add("invalid_value")  # a union that admits strings may fail on its enum instead
        assert findings[0].code in codes
        assert findings[0].param == param(mutation.path)

    check()


@pytest.mark.parametrize("side", SIDES)
def test_the_walker_finds_a_problem_exactly_when_jsonschema_rs_rejects(side: str) -> None:
    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(mutated(side), st.sampled_from([None, 0, -1, "", "x", 1.5, [], {}, [{}], True]))
    def check(mutation: Mutation, replacement: Any) -> None:
        event = mutation.event
        if mutation.kind == "wrong_type" and replacement is not None:
            parent: Any = event
            for key in mutation.path[:-1]:
                parent = parent[key]
            parent[mutation.path[-1]] = replacement
        note(f"event: {event!r}")
        issues = _walker(side, event["type"]).issues(event)
        assert rs_valid(side, event) == (issues == [])

    check()
