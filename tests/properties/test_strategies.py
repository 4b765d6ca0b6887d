"""The public strategies draw what they promise (conformance.strategies, docs/strategies.md)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from conformance import _json
from conformance import strategies as rs
from conformance.fuzzing import scenario_yaml
from conformance.protocol import UsageError, replay
from conformance.schemas import LIVE_CLIENT_TYPES, validate_client_event, validate_server_event
from mock_server.scenarios import load_text

from .budget import examples


@examples(0.6)
@given(rs.client_events())
def test_every_client_event_is_valid_and_survives_a_json_round_trip(event: dict[str, Any]) -> None:
    assert event["type"] in LIVE_CLIENT_TYPES
    assert validate_client_event(event, websocket=True) == []
    assert _json.loads(_json.dumps(event)) == event


@examples(0.3)
@given(rs.server_events())
def test_every_server_event_is_valid(event: dict[str, Any]) -> None:
    assert validate_server_event(event) == []


@examples(1.0)
@given(rs.invalid_client_events())
def test_an_invalid_event_gets_exactly_the_promised_code_and_param(
    invalid: rs.InvalidEvent,
) -> None:
    note(f"event: {invalid.event!r}")
    findings = validate_client_event(invalid.event, websocket=True)
    assert findings, "the edit left the event valid"
    assert (findings[0].code, findings[0].param) == (invalid.code, invalid.param)


@pytest.mark.parametrize("kind", rs.INVALID_KINDS)
def test_every_kind_of_near_miss_can_be_drawn(kind: rs.InvalidKind) -> None:
    @examples(0.1)
    @given(rs.invalid_client_events(kinds=[kind]))
    def check(invalid: rs.InvalidEvent) -> None:
        assert invalid.kind == kind
        assert validate_client_event(invalid.event, websocket=True)[0].code == invalid.code

    check()


def test_bad_arguments_are_usage_errors() -> None:
    with pytest.raises(UsageError, match=r"did you mean 'session\.update'"):
        rs.client_events("session.updte")
    with pytest.raises(UsageError, match="must be among"):
        rs.invalid_client_events(kinds=["typo"])  # type: ignore[list-item]
    with pytest.raises(UsageError, match="modalities"):
        rs.server_streams(modalities=["video"])
    with pytest.raises(UsageError, match="unknown fault kinds"):
        rs.fuzz_cases(fault_kinds=["explode"])  # type: ignore[list-item]


def _known(stream: rs.ServerStream) -> list[tuple[int, dict[str, Any]]]:
    skipped = {index for index, _ in stream.unknown_fields}
    return [
        (index, event)
        for index, event in enumerate(stream.events)
        if event["type"] not in stream.unknown_types and index not in skipped
    ]


@examples(0.6)
@given(rs.server_streams())
def test_a_stream_is_schema_valid_and_legal_for_the_protocol_core(stream: rs.ServerStream) -> None:
    assert stream.events[0]["type"] == "session.created"
    for _, event in _known(stream):
        assert validate_server_event(event) == [], event
    assert [p for p in replay(stream.frames()) if p.direction == "server"] == []
    assert len({e["event_id"] for e in stream.events}) == len(stream.events)


@examples(0.6)
@given(rs.server_streams(max_responses=3))
def test_the_deltas_of_each_response_join_to_its_full_text(stream: rs.ServerStream) -> None:
    joined: dict[str, str] = {}
    for event in stream.events:
        if event["type"] in (
            "response.output_text.delta",
            "response.output_audio_transcript.delta",
        ):
            joined[event["response_id"]] = joined.get(event["response_id"], "") + event["delta"]
    assert {rid: joined.get(rid, "") for rid in stream.texts} == dict(stream.texts)


@examples(0.6)
@given(rs.texts(), st.data())
def test_delta_splits_are_non_empty_and_join_to_the_text(text: str, data: st.DataObject) -> None:
    deltas = data.draw(rs.delta_splits(text, max_deltas=5))
    assert "".join(deltas) == text
    assert all(deltas)
    assert len(deltas) <= 5


@examples(0.3)
@given(rs.unknown_event_types())
def test_unknown_event_types_are_unknown_and_scenario_shaped(kind: str) -> None:
    assert validate_server_event({"type": kind, "event_id": "e"})[0].param == "type"
    assert kind.replace("_", "a").replace(".", "").isalpha()


@examples(0.6)
@given(st.integers(0, 12).flatmap(lambda n: st.tuples(st.just(n), rs.fault_schedules(n))))
def test_fault_schedules_stay_in_range_and_sorted(drawn: tuple[int, tuple[rs.Fault, ...]]) -> None:
    length, schedule = drawn
    assert [f.at for f in schedule] == sorted(f.at for f in schedule)
    assert all(0 <= f.at <= length for f in schedule)
    for fault in schedule:
        if fault.kind == "close":
            assert isinstance(fault.code, int)
            assert fault.code not in (1004, 1005, 1006, 1015)
        if fault.kind == "error":
            assert validate_server_event({**fault.error_event(), "event_id": "e"}) == []


def test_a_timeline_ends_at_its_first_terminal_fault() -> None:
    events = [{"type": "a"}, {"type": "b"}, {"type": "c"}]
    error, close = rs.Fault("error", 1, "server_error", "x"), rs.Fault("close", 2, 1011, "bye")
    drop = rs.Fault("drop", 3)
    assert rs.timeline(events, [drop, close, error]) == [events[0], error, events[1], close]


@examples(0.3)
@given(rs.fuzz_cases(max_responses=2, max_faults=2))
def test_a_fuzz_case_is_a_loadable_scenario_whose_sends_are_json(case: rs.FuzzCase) -> None:
    text = scenario_yaml(case)
    note(text)
    scenario = load_text(text)
    assert scenario.id.startswith("fuzz-")
    expected = case.event_count
    sends = [
        a for rule in scenario.rules for a in rule.do if a.name in ("send", "inject_unknown_event")
    ]
    terminal = any(kind in ("close", "drop", "stall") for kind in case.fault_kinds())
    assert len(sends) <= expected if terminal else len(sends) == expected
    json.dumps([dict(a.args) for a in sends])
