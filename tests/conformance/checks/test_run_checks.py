"""Checks that judge the client's run (output, exit status, timing) next to its transcripts."""

from __future__ import annotations

import pytest

from conformance.checks import CHECKS, CheckContext, Scope, run_checks
from conformance.transcript import Transcript

from .helpers import KEY, golden, judge, outcome

SURFACED = "warning: error response_cancel_not_active: Cancellation failed\n"


def test_every_run_check_is_tested_here():
    names = {c.name for c in CHECKS if c.applies_to is Scope.RUN}
    assert names == {
        "surfaces_error_event",
        "surfaces_failed_response",
        "surfaces_close_code_and_reason",
        "does_not_print_api_key",
        "exits_or_recovers_after_close",
        "finishes_within_time_limit",
        "deduplicates_events",  # tested in test_recovery_checks.py
    }


def test_run_checks_are_skipped_without_an_outcome():
    ctx = CheckContext(transcripts=(golden("cancel-not-active"),))
    assert run_checks(ctx, [c.name for c in CHECKS if c.applies_to is Scope.RUN]) == []


# --- surfaces_error_event ---------------------------------------------------------------


def test_an_error_whose_code_is_printed_passes():
    run = outcome(stderr=SURFACED)
    assert judge("surfaces_error_event", golden("cancel-not-active"), run=run) == []


def test_a_non_zero_exit_surfaces_an_error():
    run = outcome(exit_code=2, stdout="")
    assert judge("surfaces_error_event", golden("cancel-not-active"), run=run) == []


def test_a_silent_error_is_flagged_at_its_frame():
    [violation] = judge("surfaces_error_event", golden("cancel-not-active"), run=outcome())
    assert (violation.index, violation.event_type, violation.json_path) == (2, "error", "error")
    assert "response_cancel_not_active" in violation.expected
    assert violation.received == "exit status 0 and neither in the output"


# --- surfaces_failed_response -----------------------------------------------------------


def test_a_reported_failed_response_passes():
    run = outcome(stdout="response failed: model_not_found\n")
    assert judge("surfaces_failed_response", golden("failed-response"), run=run) == []


def test_a_silent_failed_response_is_flagged():
    [violation] = judge("surfaces_failed_response", golden("failed-response"), run=outcome())
    assert violation.event_type == "response.done"
    assert violation.json_path == "response.status_details.error"
    assert "'model_not_found'" in violation.expected


def test_completed_responses_need_no_report():
    assert judge("surfaces_failed_response", golden("text-turn"), run=outcome()) == []


# --- surfaces_close_code_and_reason -----------------------------------------------------


def test_a_printed_close_code_passes():
    run = outcome(stderr="connection closed: 1001\n")
    assert judge("surfaces_close_code_and_reason", golden("session-expired"), run=run) == []


def test_a_close_code_inside_a_longer_number_does_not_count():
    run = outcome(stderr="took 10010 ms\n")
    [violation] = judge("surfaces_close_code_and_reason", golden("session-expired"), run=run)
    assert (violation.index, violation.event_type) == (2, "close")
    assert "1001" in violation.expected


def test_a_client_close_needs_no_report():
    assert judge("surfaces_close_code_and_reason", golden("text-turn"), run=outcome()) == []


# --- does_not_print_api_key -------------------------------------------------------------


def test_a_masked_key_passes():
    run = outcome(stdout="using key sk-...cdef\n")
    assert judge("does_not_print_api_key", golden("text-turn"), run=run) == []


@pytest.mark.parametrize(
    "line",
    [f"Authorization: Bearer {KEY}", "key=sk-proj-Abcdefgh12345678", "secret ek_0123456789abcdef"],
)
def test_a_printed_key_is_flagged_without_repeating_it(line):
    run = outcome(stderr=f"starting\n{line}\n")
    [violation] = judge("does_not_print_api_key", golden("text-turn"), run=run)
    assert violation.json_path == "stderr"
    assert violation.received.startswith("stderr line 2: ")
    assert "[KEY]" in violation.received
    assert KEY not in violation.message
    assert "Abcdefgh12345678" not in violation.message


# --- exits_or_recovers_after_close ------------------------------------------------------


def test_exiting_soon_after_the_close_passes():
    run = outcome(exit_code=1, duration_s=2.5, closed_at_s=(2.0,))
    assert judge("exits_or_recovers_after_close", golden("session-expired"), run=run) == []


def test_being_killed_after_the_close_is_a_hang():
    run = outcome(exit_code=None, timed_out=True, duration_s=30.0, closed_at_s=(2.0,))
    [violation] = judge("exits_or_recovers_after_close", golden("session-expired"), run=run)
    assert violation.received == "still running when the runner killed it 28.0 s after the close"
    assert (violation.index, violation.event_type) == (2, "close")


def test_exiting_later_than_the_bound_is_a_hang():
    run = outcome(duration_s=9.0, closed_at_s=(2.0,))
    [violation] = judge(
        "exits_or_recovers_after_close", golden("session-expired"), run=run, exit_within_s=5.0
    )
    assert violation.received == "exit 7.0 s after the close"


def test_reconnecting_after_a_close_is_a_recovery():
    run = outcome(exit_code=None, timed_out=True, duration_s=30.0)
    cases = (golden("session-expired"), golden("text-turn"))
    assert judge("exits_or_recovers_after_close", *cases, run=run) == []


# --- finishes_within_time_limit ---------------------------------------------------------


def test_finishing_on_its_own_passes():
    assert judge("finishes_within_time_limit", golden("text-turn"), run=outcome()) == []


def test_being_killed_on_an_open_connection_is_flagged():
    run = outcome(exit_code=None, timed_out=True, duration_s=30.0)
    turn = golden("text-turn")
    still_open = Transcript(turn.meta, turn.records[:-1])  # no close: the socket stayed open
    [violation] = judge("finishes_within_time_limit", still_open, run=run)
    assert violation.received == "still running after 30.0 s on an open connection"
    assert violation.index is None


def test_being_killed_after_closing_says_the_connection_had_ended():
    run = outcome(exit_code=None, timed_out=True, duration_s=30.0)
    [violation] = judge("finishes_within_time_limit", golden("text-turn"), run=run)
    assert violation.received == "still running after 30.0 s after its last connection ended"


def test_being_killed_without_ever_connecting_says_so():
    run = outcome(exit_code=None, timed_out=True, duration_s=30.0)
    [violation] = judge("finishes_within_time_limit", run=run)
    assert violation.received == "still running after 30.0 s without ever connecting"


def test_a_kill_after_a_server_close_is_left_to_the_close_check():
    run = outcome(exit_code=None, timed_out=True, duration_s=30.0)
    assert judge("finishes_within_time_limit", golden("session-expired"), run=run) == []
