"""Scenario expectations (`expect.client` in `fixtures/scenarios/*.yaml`) -> checks.

A scenario states what a correct client does in the words of its catalog entry
(`surfaces_close_code_and_reason`, `sends_ga_session_shape`, …). Some of those names
are check names; the others are aliases for the checks that judge the part of the
expectation a transcript and the client's output can show. An empty tuple marks an
expectation no check judges (it needs the client's internals or its UI); reports list
those as "not judged". A target may be a check only some registries hold (the runner's
`succeeds_when_the_server_does` needs the client's exit status): where it is missing,
the expectation is not judged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, Final

from ._registry import CHECKS, Registry

_SCHEMA = "client_event_matches_schema"
_HANG = "exits_or_recovers_after_close"
_TIME = "finishes_within_time_limit"
_RULES = "protocol_rules_hold"
_SUCCEEDS = "succeeds_when_the_server_does"  # runner registry only

EXPECTATION_CHECKS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "accepts_large_frames": (_SUCCEEDS,),
        "answers_only_known_call_ids": (_RULES,),
        "avoids_commit_with_server_vad": (_RULES,),
        "checks_response_done_status": ("surfaces_failed_response",),
        "clamps_truncate_to_received_audio": (_RULES,),
        "correlates_error_event_id": ("correlates_error_event_id",),
        "deduplicates_events": ("deduplicates_events",),
        "detects_dropped_connection": (_HANG, "surfaces_close_code_and_reason"),
        "detects_unanswered_pings": (_TIME,),
        "does_not_reconnect_on_permanent_close": ("does_not_reconnect_on_permanent_close",),
        "does_not_send_beta_header": ("does_not_send_beta_header",),
        "handles_ga_event_names": (_SUCCEEDS,),
        "handles_session_expiry": (_HANG, "surfaces_error_event"),
        "ignores_unknown_events": (_SUCCEEDS,),
        "keeps_one_session": ("keeps_one_session",),  # runner registry only
        "limits_client_frame_size": ("limits_client_frame_size",),
        "limits_retries_on_server_error": ("reconnects_with_backoff",),
        "notes_every_screenshot": ("notes_every_screenshot",),  # runner registry only
        "orders_by_ids_not_arrival": ("orders_by_ids_not_arrival",),
        "reconnects_with_backoff": ("reconnects_with_backoff",),
        "refreshes_ephemeral_key": ("does_not_reconnect_on_permanent_close",),
        "sends_ga_session_shape": (_SCHEMA,),
        "sends_valid_content_parts": (_SCHEMA, "images_are_input_image_data_urls"),
        "sets_voice_before_audio": (_RULES,),
        "surfaces_close_code_and_reason": ("surfaces_close_code_and_reason",),
        "surfaces_error_event": ("surfaces_error_event",),
        "surfaces_handshake_failure": ("surfaces_error_event", "surfaces_close_code_and_reason"),
        "surfaces_rate_limits": ("surfaces_failed_response",),
        "times_out_session_created": (_TIME, _HANG),
        "times_out_stalled_stream": (_TIME, _HANG),
        "tracks_response_lifecycle": ("tracks_response_lifecycle",),
        "treats_error_as_recoverable": ("treats_error_as_recoverable",),
        "uses_supported_model": ("uses_supported_model",),
        "uses_valid_item_ids": (_RULES,),
        "waits_for_session_updated": ("waits_for_session_updated",),
    }
)


def _held(targets: tuple[str, ...], registry: Registry) -> tuple[str, ...]:
    names = registry.names
    return tuple(t for t in targets if t in names)


def register_aliases(registry: Registry = CHECKS) -> None:
    """Make every expectation the registry can judge (and is not a check name) an alias."""
    for name, targets in EXPECTATION_CHECKS.items():
        held = _held(targets, registry)
        if held and name not in registry.names and name not in registry.aliases:
            registry.alias(name, held)


def expected_checks(
    expect: Mapping[str, Any] | None, registry: Registry = CHECKS
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """`(check names, expectations no check judges)` for a scenario's `expect` mapping.

    Only checks `registry` holds count. Unknown expectation names count as not judged
    (the scenario loader owns that list).
    """
    names: Iterable[Any] = (expect or {}).get("client") or ()
    checks: dict[str, None] = {}
    unjudged: list[str] = []
    for name in map(str, names):
        targets = _held(EXPECTATION_CHECKS.get(name, ()), registry)
        checks.update(dict.fromkeys(targets))
        if not targets:
            unjudged.append(name)
    return tuple(checks), tuple(unjudged)
