"""Conformance checks: a registry of small named generators that judge a client's case.

A *case* is what one client run produced: one transcript per connection (recorded by
the mock) and, when the client was run by us, its `RunOutcome`. Each check states one
property (`images_are_input_image_data_urls`) and yields a `Violation` per breach::

    ctx = CheckContext(transcripts=(read_jsonl("session.jsonl"),))
    for violation in run_checks(ctx, ["default", "-event_ids_are_unique"]):
        print(violation)

Add a check with `@check(severity=..., applies_to=Scope.CONNECTION)` on a generator
`(ctx, transcript) -> Iterator[Violation]` whose docstring's first line is its help.
Scenario expectation names (`expect.client`) are accepted as aliases; see
`conformance.checks.expectations`.
"""

# Import order is registration order, which is the order `--list-checks` shows.
from . import schema, handshake, lifecycle, output, connection, recovery, relay  # noqa: F401, I001
from ._helpers import answerable, reply_texts, server_end, server_events, span_s
from ._model import (
    CheckContext,
    CheckSettings,
    ConformanceFailed,
    RunOutcome,
    Severity,
    Violation,
)
from ._registry import CHECKS, CheckDef, CheckFunction, Registry, Scope, check, run_checks
from .expectations import EXPECTATION_CHECKS, expected_checks, register_aliases

register_aliases()

__all__ = [
    "CHECKS",
    "EXPECTATION_CHECKS",
    "CheckContext",
    "CheckDef",
    "CheckFunction",
    "CheckSettings",
    "ConformanceFailed",
    "Registry",
    "RunOutcome",
    "Scope",
    "Severity",
    "Violation",
    "answerable",
    "check",
    "expected_checks",
    "reply_texts",
    "run_checks",
    "server_end",
    "server_events",
    "span_s",
]
