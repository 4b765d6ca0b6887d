"""The checks for scenario expectations, and what a client is answerable for."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conformance.checks import CheckContext, CheckSettings, RunOutcome, answerable, run_checks
from conformance.protocol.errors import UsageError
from conformance.transcript import Transcript

from .helpers import judge, outcome

CREATE = {"type": "response.create", "event_id": "evt_turn"}
ITEM = {
    "type": "conversation.item.create",
    "event_id": "evt_item",
    "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]},
}


def error(code: str, event_id: str | None = None) -> dict[str, Any]:
    return {"type": "error", "error": {"code": code, "message": f"{code}!", "event_id": event_id}}


def created(rid: str = "resp_1") -> dict[str, Any]:
    return {"type": "response.created", "response": {"id": rid, "status": "in_progress"}}


def done(rid: str = "resp_1", status: str = "completed", **details: Any) -> dict[str, Any]:
    response = {"id": rid, "status": status, **details}
    return {"type": "response.done", "response": response}


def text_done(text: str, rid: str = "resp_1") -> dict[str, Any]:
    return {"type": "response.output_text.done", "response_id": rid, "text": text}


def delta(text: str, event_id: str, rid: str = "resp_1") -> dict[str, Any]:
    return {
        "type": "response.output_text.delta",
        "event_id": event_id,
        "response_id": rid,
        "item_id": "item_a",
        "content_index": 0,
        "delta": text,
    }


def transcript(*steps: tuple[str, float, Any]) -> Transcript:
    """Steps: ("client"|"server", t_ms, event dict | ("close", code) | ("drop",))."""
    t = Transcript(meta={"scenario": "x"})
    for direction, t_ms, what in steps:
        if isinstance(what, dict):
            t.add_text(direction, json.dumps(what), t_ms)
        elif what[0] == "close":
            t.add_close(direction, what[1], "", t_ms)
        else:
            t.add_drop(direction, t_ms)
    return t


def start(t_ms: float = 1.0) -> list[tuple[str, float, Any]]:
    return [
        ("server", 0.0, {"type": "session.created", "session": {}}),
        ("client", t_ms, ITEM),
        ("client", t_ms + 1, CREATE),
    ]


# --- answerable ------------------------------------------------------------------------


def ctx_of(t: Transcript, run: RunOutcome | None = None, **settings: Any) -> CheckContext:
    return CheckContext(transcripts=(t,), outcome=run, settings=CheckSettings(**settings))


def test_an_event_after_the_last_reply_racing_the_clients_close_is_not_answerable():
    # The transcript of issue 11: response.done at 31.8 ms, an error at 51.7 ms, the
    # client's close at 63.4 ms.
    t = transcript(
        *start(),
        ("server", 5.0, created()),
        ("server", 31.8, done()),
        ("server", 51.7, error("unknown_parameter")),
        ("client", 63.4, ("close", 1000)),
    )
    assert not answerable(ctx_of(t), 0, t.records[5])
    assert answerable(ctx_of(t, answer_grace_s=0.01), 0, t.records[5])


def test_an_event_before_the_reply_the_client_waited_for_is_answerable():
    t = transcript(
        *start(),
        ("server", 3.0, error("unknown_parameter")),
        ("server", 5.0, created()),
        ("server", 8.0, done()),
        ("client", 9.0, ("close", 1000)),
    )
    assert answerable(ctx_of(t), 0, t.records[3])


def test_events_after_the_clients_close_are_never_answerable():
    t = transcript(
        *start(),
        ("client", 3.0, ("close", 1000)),
        ("server", 4.0, error("x")),
    )
    assert not answerable(ctx_of(t, answer_grace_s=0), 0, t.records[4])


def test_a_connection_the_server_ended_makes_its_events_answerable():
    t = transcript(
        *start(), ("server", 3.0, error("server_error")), ("server", 4.0, ("close", 1011))
    )
    assert answerable(ctx_of(t), 0, t.records[3])


def test_a_later_client_frame_or_the_grace_makes_an_event_answerable():
    t = transcript(
        *start(),
        ("server", 3.0, error("x")),
        ("client", 4.0, {"type": "response.cancel"}),
        ("client", 5.0, ("close", 1000)),
    )
    assert answerable(ctx_of(t), 0, t.records[3])
    late = transcript(*start(), ("server", 3.0, error("x")), ("client", 900.0, ("close", 1000)))
    assert answerable(ctx_of(late), 0, late.records[3])


def test_the_grace_must_not_be_negative():
    with pytest.raises(UsageError, match="answer_grace_s"):
        CheckSettings(answer_grace_s=-1)


def test_surfaces_error_event_ignores_an_error_the_client_could_not_answer():
    t = transcript(
        *start(),
        ("server", 5.0, created()),
        ("server", 31.8, done()),
        ("server", 51.7, error("unknown_parameter")),
        ("client", 63.4, ("close", 1000)),
    )
    assert judge("surfaces_error_event", t, run=outcome()) == []
    [violation] = judge("surfaces_error_event", t, run=outcome(), answer_grace_s=0.001)
    assert violation.index == 5


# --- treats_error_as_recoverable -------------------------------------------------------


def benign(end: list[tuple[str, float, Any]]) -> Transcript:
    return transcript(
        *start(),
        ("server", 3.0, error("response_cancel_not_active")),
        ("server", 3.1, error("unknown_parameter")),
        *end,
    )


def test_a_client_that_keeps_the_session_after_a_benign_error_passes():
    t = benign(
        [
            ("server", 5.0, created()),
            ("server", 7.0, text_done("Hello")),
            ("server", 8.0, done()),
            ("client", 9.0, ("close", 1000)),
        ]
    )
    assert judge("treats_error_as_recoverable", t, run=outcome()) == []


def test_a_client_that_dies_on_the_first_harmless_error_fails():
    t = benign([("client", 3.5, ("close", 1000))])
    [violation] = judge("treats_error_as_recoverable", t, run=outcome(exit_code=1))
    assert violation.title == "session ended after a recoverable error"
    assert "not yet answered" in violation.received
    assert violation.index == 3


def test_an_exit_status_that_reports_a_recovered_error_fails():
    t = benign(
        [
            ("server", 5.0, created()),
            ("server", 8.0, done()),
            ("client", 9.0, ("close", 1000)),
        ]
    )
    [violation] = judge("treats_error_as_recoverable", t, run=outcome(exit_code=1))
    assert violation.title == "exit status reports a failure the session recovered from"


def test_an_error_the_server_closes_after_is_not_recoverable():
    t = benign([("server", 4.0, ("close", 1011))])
    assert judge("treats_error_as_recoverable", t, run=outcome(exit_code=1)) == []


# --- correlates_error_event_id ---------------------------------------------------------


def test_a_client_that_waits_after_its_request_was_rejected_fails():
    t = transcript(
        *start(),
        ("server", 3.0, error("server_error", "evt_turn")),
        ("client", 5003.0, ("close", 1000)),
    )
    [violation] = judge("correlates_error_event_id", t, run=outcome(exit_code=1))
    assert violation.json_path == "error.event_id"
    assert "5.0 s" in violation.received


def test_a_client_that_settles_the_rejected_request_at_once_passes():
    t = transcript(
        *start(),
        ("server", 3.0, error("server_error", "evt_turn")),
        ("client", 9.0, ("close", 1000)),
    )
    assert judge("correlates_error_event_id", t, run=outcome(exit_code=1)) == []
    unrelated = transcript(
        *start(), ("server", 3.0, error("server_error")), ("client", 5003.0, ("close", 1000))
    )
    assert judge("correlates_error_event_id", unrelated, run=outcome()) == []


# --- deduplicates_events ---------------------------------------------------------------


def duplicated() -> Transcript:
    return transcript(
        *start(),
        ("server", 3.0, created()),
        ("server", 4.0, delta("Hel", "event_1")),
        ("server", 4.1, delta("Hel", "event_1")),
        ("server", 4.2, delta("lo world", "event_2")),
        ("server", 5.0, text_done("Hello world")),
        ("server", 6.0, done()),
        ("client", 7.0, ("close", 1000)),
    )


def test_a_client_that_renders_a_repeated_delta_twice_fails():
    [violation] = judge("deduplicates_events", duplicated(), run=outcome(stdout="HelHello world\n"))
    assert violation.title == "repeated event applied twice"
    assert violation.index == 5
    assert "'HelHello world'" in violation.received


def test_a_client_that_skips_the_repeated_delta_passes():
    assert judge("deduplicates_events", duplicated(), run=outcome(stdout="Hello world\n")) == []


# --- orders_by_ids_not_arrival ---------------------------------------------------------


def reordered(end: list[tuple[str, float, Any]]) -> Transcript:
    user_item = {"type": "conversation.item.done", "item": {**ITEM["item"], "id": "item_u"}}
    return transcript(*start(), ("server", 3.0, created()), ("server", 3.1, user_item), *end)


def test_a_client_that_abandons_a_turn_whose_events_came_out_of_order_fails():
    t = reordered([("client", 4.0, ("drop",))])
    [violation] = judge("orders_by_ids_not_arrival", t, run=outcome(exit_code=1))
    assert violation.title == "turn abandoned after events arrived out of order"


def test_the_user_message_must_be_shown_before_the_reply():
    end = [
        ("server", 5.0, text_done("Hello there, human")),
        ("server", 6.0, done()),
        ("client", 7.0, ("close", 1000)),
    ]
    [violation] = judge(
        "orders_by_ids_not_arrival", reordered(end), run=outcome(stdout="Hello there, human\nHi\n")
    )
    assert violation.title == "reply shown before the user's message"
    ok = outcome(stdout="you: Hi\nassistant: Hello there, human\n")
    assert judge("orders_by_ids_not_arrival", reordered(end), run=ok) == []


# --- limits_client_frame_size ----------------------------------------------------------


def test_a_client_frame_of_a_million_bytes_fails_and_audio_appends_do_not():
    image = "data:image/png;base64," + "A" * 1_000_000
    big = {
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_image", "image_url": image}],
        },
    }
    audio = {"type": "input_audio_buffer.append", "audio": "A" * 2_000_000}
    t = transcript(
        ("server", 0.0, {"type": "session.created"}), ("client", 1.0, big), ("client", 2.0, audio)
    )
    [violation] = judge("limits_client_frame_size", t)
    assert violation.index == 1
    assert violation.received.startswith("a conversation.item.create frame of 1,000,")
    small = transcript(("server", 0.0, {"type": "session.created"}), ("client", 1.0, ITEM))
    assert judge("limits_client_frame_size", small) == []


def test_the_expectation_checks_are_opt_in():
    t = benign([("client", 3.5, ("close", 1000))])
    ctx = CheckContext(transcripts=(t,), outcome=outcome(exit_code=1))
    assert not {v.check for v in run_checks(ctx)} & {"treats_error_as_recoverable"}
