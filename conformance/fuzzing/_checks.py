"""Checks that judge a client under a fuzzed stream, on top of the runner's registry.

* `succeeds_when_the_server_does` (the runner's, default): when the server sent no
  `error`, never closed, dropped or stalled, and finished every response it started as
  `completed`, the client exits 0. A crash on an unknown event or on a delta split is
  caught here.
* `prints_streamed_text` (opt-in: `--checks default,prints_streamed_text`): for a client
  that prints its replies, each completed response's full text appears in its stdout,
  exactly (every delta split must reassemble to the same text).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import Any, Final

from conformance.checks import CheckContext, Registry, Scope, Severity, Violation, check
from conformance.checks._helpers import server_events, short
from conformance.runner import runner_registry
from conformance.runner.checks import FAULT_EXPECTATIONS, server_trouble
from conformance.transcript import Transcript

FUZZ_CHECKS: Final = ("succeeds_when_the_server_does",)
TEXT_CHECK: Final = "prints_streamed_text"
_TEXT_DONE: Final = {"response.output_text.done": "text",
                     "response.output_audio_transcript.done": "transcript"}  # fmt: skip

__all__ = ["FAULT_EXPECTATIONS", "FUZZ_CHECKS", "TEXT_CHECK", "fuzz_registry", "server_trouble"]


@cache
def fuzz_registry() -> Registry:
    """The runner's checks and aliases plus `prints_streamed_text` (built once)."""
    registry = Registry()
    base = runner_registry()
    for definition in base:
        registry.register(definition)
    for name, targets in base.aliases.items():
        registry.alias(name, targets)
    text_check = check(
        severity=Severity.FAILED, applies_to=Scope.RUN, registry=registry, default=False
    )
    text_check(prints_streamed_text)
    return registry


def prints_streamed_text(ctx: CheckContext, transcript: Transcript) -> Iterator[Violation]:
    """Each completed response's text appears in the client's stdout, exactly."""
    outcome = ctx.outcome
    assert outcome is not None
    for connection, each in ctx.connections():
        for record, event in _done_texts(each):
            text = str(event.get(_TEXT_DONE[str(event.get("type"))]))
            if text.strip() and text not in outcome.stdout:
                yield ctx.violation(
                    title="streamed text not reassembled",
                    expected=f"the reply {short(text)} in stdout, exactly",
                    received=f"stdout {short(outcome.stdout[-200:])}",
                    record=record,
                    connection=connection,
                    hint="append each delta as received; never strip, decode or re-split it",
                )


def _done_texts(transcript: Transcript) -> Iterator[tuple[Any, dict[str, Any]]]:
    for kind in _TEXT_DONE:
        yield from server_events(transcript, kind)
