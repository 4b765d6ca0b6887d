"""Checks over all connections of a case: backoff between reconnects, permanent closes."""

from __future__ import annotations

from datetime import datetime, timedelta

from conformance.checks import CHECKS, Scope, Severity
from conformance.checks.relay import RELAY_CHECKS

from .helpers import connections, golden, judge


def test_every_case_check_is_tested_here():
    names = {c.name for c in CHECKS if c.applies_to is Scope.CASE}
    recovery = {  # tested in test_recovery_checks.py
        "treats_error_as_recoverable",
        "correlates_error_event_id",
        "orders_by_ids_not_arrival",
    }
    relay = set(RELAY_CHECKS)  # tested in tests/runner/test_relay.py
    connection = {"reconnects_with_backoff", "does_not_reconnect_on_permanent_close"}
    assert names == connection | recovery | relay


def test_reconnects_with_growing_gaps_pass():
    assert judge("reconnects_with_backoff", *connections("reconnect-backoff")) == []


def test_reconnects_without_backoff_are_flagged():
    [violation] = judge("reconnects_with_backoff", *connections("violations/reconnect-storm"))
    assert violation.severity is Severity.FAILED
    assert violation.title == "reconnect gaps do not grow"
    assert violation.received == "gaps of 0.01, 0.01, 0.01 s"
    assert (violation.connection, violation.index) == (3, None)


def test_too_many_connections_are_a_storm():
    [violation] = judge(
        "reconnects_with_backoff", *connections("reconnect-backoff"), max_connections=3
    )
    assert violation.title == "too many connections (reconnect storm)"
    assert (violation.connection, violation.received) == (3, "4 connections")


def shift_last(case, seconds):
    """Start the last connection `seconds` later (the others stay)."""
    last = case[-1]
    start = datetime.fromisoformat(last.meta["started_at"]) + timedelta(seconds=seconds)
    last.meta["started_at"] = start.isoformat()
    return case


def test_a_gap_shrinking_within_the_jitter_tolerance_passes():
    case = shift_last(connections("reconnect-backoff"), -1.25)  # gaps 0.5, 1.0, 0.8 s
    assert judge("reconnects_with_backoff", *case) == []


def test_a_gap_shrinking_beyond_the_tolerance_is_flagged():
    case = shift_last(connections("reconnect-backoff"), -1.25)
    [violation] = judge("reconnects_with_backoff", *case, backoff_tolerance=0.1)
    assert violation.received == "gaps of 0.50, 1.00, 0.80 s"


def test_gaps_are_not_judged_without_start_times():
    storm = connections("violations/reconnect-storm")
    for transcript in storm:
        del transcript.meta["started_at"]
    assert judge("reconnects_with_backoff", *storm) == []


def test_a_single_connection_has_no_gaps_to_judge():
    assert judge("reconnects_with_backoff", golden("text-turn")) == []


def test_a_fresh_key_after_a_3000_close_passes():
    assert (
        judge("does_not_reconnect_on_permanent_close", *connections("fresh-key-after-3000")) == []
    )


def test_retrying_the_same_rejected_request_is_flagged():
    case = connections("violations/retry-after-3000")
    [violation] = judge("does_not_reconnect_on_permanent_close", *case)
    assert (violation.connection, violation.index, violation.event_type) == (1, 1, "close")
    assert "3000 'invalid_request_error.invalid_api_key'" in violation.expected


def test_reconnecting_after_a_transient_close_is_allowed():
    case = connections("reconnect-backoff")
    assert judge("does_not_reconnect_on_permanent_close", *case) == []
