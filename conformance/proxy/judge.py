"""Judging a proxied connection: the checks `run` and `check` use, plus drift.

`proxy_registry()` is the runner's registry (every built-in check and alias, the
runner's own) plus one INFORMATIONAL check, `server_events_match_schema`: a server event
type or field the GA server schemas do not know is *drift* (the live API moved, or the
bundle is behind), reported, never a failure of the client. `judge_connection` judges
one recorded connection the way `realtime-conformance check` judges a transcript file.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import cache

from conformance.checks import (
    CheckContext,
    CheckSettings,
    Registry,
    Severity,
    Violation,
    check,
)
from conformance.protocol.translation import session_kind
from conformance.schemas import validate_server_event, validate_translation_server_event
from conformance.transcript import Transcript
from conformance.verdicts import CaseResult, judge_case

from .tap import drift_message

DRIFT_CHECK = "server_events_match_schema"


@cache
def proxy_registry() -> Registry:
    """The runner's checks and aliases plus `server_events_match_schema` (built once)."""
    from conformance.runner.checks import runner_registry

    registry = Registry()
    base = runner_registry()
    for definition in base:
        registry.register(definition)
    for name, targets in base.aliases.items():
        registry.alias(name, targets)
    check(name=DRIFT_CHECK, severity=Severity.INFORMATIONAL, registry=registry)(
        _server_events_match_schema
    )
    return registry


def _server_events_match_schema(ctx: CheckContext, transcript: Transcript) -> Iterator[Violation]:
    """Every server event matches the GA server schemas (drift is reported, never failed)."""
    translation = session_kind(transcript.meta) == "translation"
    for record in transcript.server_events():
        text = record.text or ""
        findings = (
            validate_translation_server_event(text) if translation else validate_server_event(text)
        )
        for finding in findings:
            yield ctx.violation(
                title="server event differs from the GA schemas (drift)",
                expected="a server event type and fields the schema bundle knows",
                received=f"{finding.code or finding.type}: {drift_message(finding)}",
                record=record,
                json_path=finding.param,
                hint="not the client's fault: make sure the client ignores unknown event "
                "types and fields; if the live API changed, update the schema bundle",
            )


def judge_connection(
    transcript: Transcript,
    *,
    case_id: str,
    checks: str = "default",
    transcript_paths: Sequence[str] = (),
    settings: CheckSettings | None = None,
    duration_s: float | None = None,
) -> CaseResult:
    """Judge one proxied connection as `realtime-conformance check` judges a file.

    `checks` is a selection (`default`, `all`, `-name`, …); the drift check is always
    added (it never fails a case).

    Raises:
        UsageError: an unknown check name.
    """
    registry = proxy_registry()
    ctx = CheckContext(transcripts=(transcript,), expect={}, settings=settings or CheckSettings())
    selection = [checks, DRIFT_CHECK]
    return judge_case(
        ctx,
        case_id=case_id,
        checks=selection,
        transcript_paths=transcript_paths,
        duration_s=duration_s,
        registry=registry,
    )
