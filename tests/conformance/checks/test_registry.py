"""The registry: selection by name, aliases, did-you-mean, folding and ordering."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.checks import (
    CHECKS,
    EXPECTATION_CHECKS,
    CheckContext,
    ConformanceFailed,
    Registry,
    Scope,
    Severity,
    Violation,
    check,
    expected_checks,
    run_checks,
)
from conformance.protocol.errors import UsageError
from conformance.transcript import Transcript

from .helpers import golden

SCENARIO_SCHEMA = Path(__file__).parents[3] / "mock_server" / "scenarios" / "scenario.schema.json"


def names(selection):
    return [c.name for c in CHECKS.select(selection)]


def test_none_selects_every_default_check_in_registration_order():
    assert names(None) == [c.name for c in CHECKS if c.default]
    assert names(None)[0] == "client_event_matches_schema"


def test_a_selection_starting_with_a_removal_starts_from_default():
    assert "event_ids_are_unique" not in names(["-event_ids_are_unique"])
    assert len(names(["-event_ids_are_unique"])) == len(names(None)) - 1


def test_comma_separated_tokens_are_split():
    assert names(["uses_supported_model, does_not_send_beta_header"]) == [
        "does_not_send_beta_header",
        "uses_supported_model",
    ]
    assert names("all,-protocol_rules_hold") == [
        n for n in CHECKS.names if n != "protocol_rules_hold"
    ]


def test_an_alias_expands_to_its_checks():
    assert names(["sends_valid_content_parts"]) == [
        "client_event_matches_schema",
        "images_are_input_image_data_urls",
    ]


def test_an_unknown_name_fails_with_did_you_mean():
    with pytest.raises(
        UsageError,
        match=r"unknown check 'event_ids_are_uniqe' \(did you mean 'event_ids_are_unique'\?\)",
    ):
        CHECKS.select(["event_ids_are_uniqe"])


def test_an_expectation_only_the_runner_judges_is_not_a_check_name_here():
    with pytest.raises(UsageError, match="ignores_unknown_events"):
        CHECKS.select(["ignores_unknown_events"])


def test_checks_for_scenario_expectations_are_opt_in():
    assert "deduplicates_events" in names(["deduplicates_events"])
    assert "deduplicates_events" not in names(None)


def test_every_check_has_help_text_and_a_property_name():
    for definition in CHECKS:
        assert definition.help.endswith((".", ")")), definition.name
        assert definition.name == definition.name.lower()
        assert " " not in definition.name


def test_every_scenario_expectation_is_mapped_to_known_checks():
    schema = json.loads(SCENARIO_SCHEMA.read_text())
    assert set(schema["$defs"]["expectation"]["enum"]) == set(EXPECTATION_CHECKS)
    from conformance.runner import runner_registry

    for targets in EXPECTATION_CHECKS.values():
        assert set(targets) <= set(runner_registry().names)


def test_every_builtin_scenario_expectation_is_judged_by_a_runner_check():
    from conformance._cli_run import builtin_cases
    from conformance.runner import runner_registry

    registry = runner_registry()
    for case in builtin_cases():
        checks, unjudged = expected_checks(case.expect, registry)
        assert unjudged == (), f"{case.id}: no check implements {unjudged}"
        for name in case.expect.get("client") or ():
            assert EXPECTATION_CHECKS[name], f"{case.id}: {name} maps to no check"
        assert set(checks) <= set(registry.names)


def test_an_expectation_only_the_runner_judges_is_unjudged_on_a_transcript_alone():
    expect = {"client": ["ignores_unknown_events", "surfaces_error_event"]}
    assert expected_checks(expect) == (("surfaces_error_event",), ("ignores_unknown_events",))


def test_expectations_split_into_checks_and_unjudged_names():
    expect = {
        "client": ["surfaces_handshake_failure", "accepts_large_frames", "surfaces_error_event"]
    }
    assert expected_checks(expect) == (
        ("surfaces_error_event", "surfaces_close_code_and_reason"),
        ("accepts_large_frames",),
    )
    assert expected_checks(None) == ((), ())


def test_registering_a_name_twice_fails():
    registry = Registry()
    check(name="x", registry=registry)(lambda ctx, t: iter(()))
    with pytest.raises(UsageError, match="already registered"):
        check(name="x", registry=registry)(lambda ctx, t: iter(()))
    with pytest.raises(UsageError, match="clashes"):
        registry.alias("y", ["nope"])


def make_registry() -> Registry:
    registry = Registry()

    @check(severity=Severity.INFORMATIONAL, applies_to=Scope.CASE, registry=registry)
    def twice_the_same(ctx: CheckContext, transcript: Transcript) -> Iterator[Violation]:
        """Yields two identical findings and one on another connection."""
        for connection in (1, 1, 0):
            yield ctx.violation(
                title="same", expected="e", received="r", hint="h", connection=connection
            )

    @check(severity=Severity.FAILED, default=False, registry=registry)
    def per_connection(ctx: CheckContext, transcript: Transcript) -> Iterator[Violation]:
        """Yields one finding per connection at its first frame."""
        yield ctx.violation(
            title="first", expected="e", received="r", hint="h", record=transcript.records[0]
        )

    return registry


def test_findings_fold_and_sort_worst_first_then_by_connection():
    ctx = CheckContext(transcripts=(golden("text-turn"), golden("text-turn")))
    found = run_checks(ctx, ["all"], registry=make_registry())
    assert [(v.check, v.connection, v.occurrences) for v in found] == [
        ("per_connection", 0, 1),
        ("per_connection", 1, 1),
        ("twice_the_same", 0, 1),
        ("twice_the_same", 1, 2),
    ]
    assert [v.check for v in run_checks(ctx, registry=make_registry())] == ["twice_the_same"] * 2


def test_violation_needs_a_running_check():
    with pytest.raises(UsageError, match="only available while run_checks runs"):
        CheckContext(transcripts=()).violation(title="t", expected="e", received="r", hint="h")


def test_conformance_failed_is_an_assertion_listing_the_violations():
    ctx = CheckContext(transcripts=(golden("violations/uses_supported_model"),))
    error = ConformanceFailed(run_checks(ctx))
    assert isinstance(error, AssertionError)
    assert "1 conformance violation(s)" in str(error)
    assert "uses_supported_model" in str(error)
