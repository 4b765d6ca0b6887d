"""The GA schema bundle and event validation in the live server's error vocabulary.

`fixtures/schemas/` holds one JSON Schema per GA event type, extracted from the official
OpenAPI spec by `python -m conformance.schemas extract SPEC` and corrected by
`fixtures/schemas/errata.yaml`. This package validates events against it::

    event, findings = parse_client_frame(text)   # hot path: ~orjson.loads cost when valid
    if findings:
        send(findings[0].error_event(next_event_id()))

Findings use the live codes and wording (`unknown_parameter`, `Unknown parameter:
'session.modalities'.`). Wording that was inferred rather than seen live: `invalid_type`
for non-string types ("a decimal" for JSON numbers), `decimal_*_value`,
`integer_above_max_value`, `string_below_min_length`/`empty_string`,
`array_below_min_length`/`array_above_max_length`, a non-object event, a non-string `type`,
translation-only types, the tail of `invalid_json`, and the image data URL messages.

The constants below are read from `fixtures/schemas/index.json` on first access.
"""

from __future__ import annotations

from typing import Any

from conformance.schemas._bundle import Side
from conformance.schemas._validate import (
    parse_client_frame,
    parse_server_frame,
    parse_translation_client_frame,
    parse_translation_server_frame,
    validate_client_event,
    validate_rest_body,
    validate_server_event,
    validate_translation_client_event,
    validate_translation_server_event,
)

__all__ = [  # noqa: RUF022 - plain sorted(), as tests/conformance/schemas/test_api.py asks
    "CLIENT_EVENT_TYPES",
    "DOCUMENTED_SERVER_EVENT_TYPES",
    "LIVE_CLIENT_TYPES",
    "SERVER_EVENT_TYPES",
    "Side",
    "TRANSLATION_CLIENT_EVENT_TYPES",
    "TRANSLATION_SERVER_EVENT_TYPES",
    "bundle_info",
    "parse_client_frame",
    "parse_server_frame",
    "parse_translation_client_frame",
    "parse_translation_server_frame",
    "schema_for",
    "validate_client_event",
    "validate_rest_body",
    "validate_server_event",
    "validate_translation_client_event",
    "validate_translation_server_event",
]

CLIENT_EVENT_TYPES: tuple[str, ...]
"""The 11 GA client event types (`RealtimeClientEvent`), in spec order."""
SERVER_EVENT_TYPES: tuple[str, ...]
"""The 46 GA server event types (`RealtimeServerEvent`), in spec order."""
DOCUMENTED_SERVER_EVENT_TYPES: tuple[str, ...]
"""The 44 server types in the spec's documented group (the union minus 2 beta leftovers)."""
LIVE_CLIENT_TYPES: tuple[str, ...]
"""The 12 client `type` values the live WebSocket endpoint accepts, in its message order."""
TRANSLATION_CLIENT_EVENT_TYPES: tuple[str, ...]
"""The 3 client event types of `/v1/realtime/translations` (`RealtimeTranslationClientEvent`)."""
TRANSLATION_SERVER_EVENT_TYPES: tuple[str, ...]
"""The 7 server event types of `/v1/realtime/translations` (`RealtimeTranslationServerEvent`)."""

_INDEX_KEYS = {
    "CLIENT_EVENT_TYPES": "client_types",
    "SERVER_EVENT_TYPES": "server_types",
    "DOCUMENTED_SERVER_EVENT_TYPES": "documented_server_types",
    "LIVE_CLIENT_TYPES": "live_client_types",
}


_TRANSLATION_KEYS = {
    "TRANSLATION_CLIENT_EVENT_TYPES": "client_types",
    "TRANSLATION_SERVER_EVENT_TYPES": "server_types",
}


def __getattr__(name: str) -> Any:
    """Read the event type constants from index.json on first access (PEP 562)."""
    if name in _TRANSLATION_KEYS:
        from conformance.schemas import _bundle

        found = tuple(_bundle.index()["translation"][_TRANSLATION_KEYS[name]])
        globals()[name] = found
        return found
    if name in _INDEX_KEYS:
        from conformance.schemas import _bundle

        value = tuple(_bundle.index()[_INDEX_KEYS[name]])
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def schema_for(side: str, event_type: str) -> dict[str, Any]:
    """A copy of the bundle schema of one event type.

    Args:
        side: `"client"` or `"server"` (`/v1/realtime`), or `"translation_client"` or
            `"translation_server"` (`/v1/realtime/translations`).
        event_type: A GA event type of that side, e.g. `"session.update"`.

    Raises:
        UsageError: Unknown side or event type (with a did-you-mean).
    """
    from conformance import _json
    from conformance.schemas import _bundle

    schema = _bundle.schema(_bundle.check_side(side), event_type)
    copy: dict[str, Any] = _json.loads(_json.dumps_bytes(schema))
    return copy


def bundle_info() -> dict[str, Any]:
    """Where the bundle comes from: spec title, version and sha256, generator, counts, errata."""
    from conformance.schemas import _bundle

    index = _bundle.index()
    return {
        "spec": dict(index["spec"]),
        "generator": dict(index["generator"]),
        "client_types": len(index["client_types"]),
        "server_types": len(index["server_types"]),
        "documented_server_types": len(index["documented_server_types"]),
        "translation_client_types": len(index["translation"]["client_types"]),
        "translation_server_types": len(index["translation"]["server_types"]),
        "errata": list(index["errata"]),
    }
