"""Properties of the mock's answers, driven in memory on a virtual clock.

Every valid client event gets its documented answer or a documented live error; every
near-miss invalid one gets exactly one `error` with the right code and param, changes no
state and leaves the connection open; and whatever the client sends, the mock never sends
an event that fails the server schemas or the protocol core.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, note
from hypothesis import strategies as st

from conformance import strategies as rs

from .budget import examples
from .mock_support import (
    FIRST_ANSWER,
    LIVE_ERROR_CODES,
    clear_of_known_mock_bugs,
    drain,
    new_app,
    server_problems,
    snapshot,
)

# A paced mock: responses stream over virtual time, so client events land mid-response.
PACED = {"first_delta_delay": 0.05, "text_tokens_per_second": 40.0}
CONFIGS = st.sampled_from([{}, PACED])
CLIENT_EVENTS = rs.client_events().filter(clear_of_known_mock_bugs)


def _first_error(events: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((e["error"] for e in events if e["type"] == "error"), None)


@examples(1.0)
@given(CLIENT_EVENTS, CONFIGS)
def test_every_valid_client_event_gets_its_documented_answer_or_a_live_error(
    event: dict[str, Any], config: dict[str, Any]
) -> None:
    app, transport = new_app(**config)
    transport.send(event)
    events = drain(transport)
    note(f"answer: {[e['type'] for e in events]}")
    error = _first_error(events)
    if error is not None:
        assert error["code"] in LIVE_ERROR_CODES
        assert error["event_id"] == event.get("event_id")
        assert events[0]["type"] == "error"
    elif event["type"] in FIRST_ANSWER:
        assert FIRST_ANSWER[event["type"]] in [e["type"] for e in events]
    else:  # input_audio_buffer.append: silent, or the VAD's speech events
        assert all(e["type"].startswith(("input_audio_buffer.", "conversation.", "response."))
                   for e in events)  # fmt: skip
    assert transport.closed is None
    assert server_problems(app) == []


@examples(1.0)
@given(st.lists(CLIENT_EVENTS, max_size=3), rs.invalid_client_events(), CONFIGS)
def test_an_invalid_event_gets_one_error_with_its_code_and_param_and_changes_nothing(
    before: list[dict[str, Any]], invalid: rs.InvalidEvent, config: dict[str, Any]
) -> None:
    app, transport = new_app(**config)
    for event in before:
        transport.send(event)
    drain(transport, within_ms=0.0)  # what is due now; paced responses stay mid-stream
    state = snapshot(app)
    transport.send(invalid.event)
    answer = drain(transport, within_ms=0.0)
    note(f"event: {invalid.event!r}; answer: {answer!r}")
    assert [e["type"] for e in answer] == ["error"]
    error = answer[0]["error"]
    assert (error["code"], error["param"]) == (invalid.code, invalid.param)
    event_id = invalid.event.get("event_id")
    assert error["event_id"] == (event_id if isinstance(event_id, str) else None)
    assert snapshot(app) == state
    assert transport.closed is None
    transport.send({"type": "input_audio_buffer.clear", "event_id": "evt_after"})
    assert "input_audio_buffer.cleared" in [e["type"] for e in drain(transport)]


@examples(0.6)
@given(st.lists(CLIENT_EVENTS, min_size=1, max_size=8), CONFIGS, st.data())
def test_the_mock_never_sends_an_event_the_schemas_or_the_core_reject(
    events: list[dict[str, Any]], config: dict[str, Any], data: st.DataObject
) -> None:
    app, transport = new_app(**config)
    for event in events:
        transport.send(event)
        drain(transport, within_ms=data.draw(st.sampled_from([0.0, 30.0, 5_000.0])))
        if transport.closed is not None:
            break
    drain(transport)
    assert server_problems(app) == []


def test_an_mcp_item_is_echoed_in_its_server_schema() -> None:
    app, transport = new_app()
    item = {"type": "mcp_list_tools", "server_label": "docs", "tools": []}
    transport.send({"type": "conversation.item.create", "item": item})
    drain(transport)
    assert server_problems(app) == []


def test_session_updated_echoes_only_what_its_server_schema_allows() -> None:
    app, transport = new_app()
    transcription = {"model": "whisper-1", "keywords": ["HUD"], "delay": "low"}
    session = {"type": "realtime", "audio": {"input": {"transcription": transcription}}}
    transport.send({"type": "session.update", "session": session})
    drain(transport)
    assert server_problems(app) == []


def test_deleting_the_item_a_response_is_writing_never_crashes_the_mock() -> None:
    app, transport = new_app(**PACED)
    transport.send({"type": "response.create"})
    (added,) = [
        e for e in drain(transport, within_ms=0.0) if e["type"] == "conversation.item.added"
    ]
    transport.send({"type": "conversation.item.delete", "item_id": added["item"]["id"]})
    transport.send({"type": "response.cancel"})  # raises LocalProtocolError inside the mock
    drain(transport)
    assert server_problems(app) == []


def test_session_updated_echoes_a_custom_voice_in_its_server_schema() -> None:
    app, transport = new_app()
    session = {"type": "realtime", "audio": {"output": {"voice": {"id": "voice_1234"}}}}
    transport.send({"type": "session.update", "session": session})
    drain(transport)
    assert server_problems(app) == []


def test_a_huge_vad_threshold_never_crashes_the_mock() -> None:
    app, transport = new_app()
    detection = {"type": "server_vad", "threshold": 1e308}
    session = {"type": "realtime", "audio": {"input": {"turn_detection": detection}}}
    transport.send({"type": "session.update", "session": session})
    drain(transport)
    assert server_problems(app) == []
