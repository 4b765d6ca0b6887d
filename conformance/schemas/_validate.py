"""Validation of client and server events against the bundle, worded like the live server.

Hot path (`parse_client_frame` on every mock frame): orjson parse, a dict lookup on
`type` that yields a compiled jsonschema-rs `is_valid`, done. Only an invalid event pays
for the error walker, the hints and the `Finding` objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from conformance import _json
from conformance.protocol.findings import Finding
from conformance.schemas import _bundle, _hints
from conformance.schemas import _messages as msg
from conformance.schemas._bundle import IsValid, Side
from conformance.schemas._walker import Walker

Event = str | bytes | Mapping[str, Any]

# type -> compiled is_valid, filled on first use. WebSocket mode has its own table because
# it accepts fewer client types (no output_audio_buffer.clear).
_FAST_CLIENT: dict[str, IsValid] = {}
_FAST_CLIENT_WS: dict[str, IsValid] = {}
_FAST_SERVER: dict[str, IsValid] = {}
# The translations endpoint (`/v1/realtime/translations`) has its own event schemas.
_FAST_TRANSLATION_CLIENT: dict[str, IsValid] = {}
_FAST_TRANSLATION_SERVER: dict[str, IsValid] = {}
_loads = _json.loads
_JSONDecodeError = _json.JSONDecodeError


def parse_client_frame(
    text: str | bytes, *, websocket: bool = False
) -> tuple[dict[str, Any] | None, list[Finding]]:
    """Parse and validate one client text frame.

    Args:
        text: The frame payload, as received.
        websocket: Judge the event type as the live WebSocket endpoint does, which rejects
            the WebRTC/SIP-only `output_audio_buffer.clear`.

    Returns:
        The parsed event (None if the frame is not a JSON object) and its findings, `[]`
        when valid; `findings[0]` is what the live server would report.
    """
    try:
        event = _loads(text)
    except _JSONDecodeError as exc:
        return None, [_invalid_json(exc)]
    if type(event) is not dict:
        return None, _findings("client", event, websocket)
    event_type = event.get("type")
    if type(event_type) is str:
        check = (_FAST_CLIENT_WS if websocket else _FAST_CLIENT).get(event_type)
        if check is not None and check(event):
            return event, []
    return event, _findings("client", event, websocket)


def parse_server_frame(text: str | bytes) -> tuple[dict[str, Any] | None, list[Finding]]:
    """Parse and validate one server text frame; see `parse_client_frame`."""
    try:
        event = _loads(text)
    except _JSONDecodeError as exc:
        return None, [_invalid_json(exc)]
    if type(event) is not dict:
        return None, _findings("server", event, False)
    event_type = event.get("type")
    if type(event_type) is str:
        check = _FAST_SERVER.get(event_type)
        if check is not None and check(event):
            return event, []
    return event, _findings("server", event, False)


def parse_translation_client_frame(
    text: str | bytes,
) -> tuple[dict[str, Any] | None, list[Finding]]:
    """Parse and validate one client frame of a translation session (`/v1/realtime/translations`).

    Judged against the translation schemas: 3 client types, and a `session.update` that
    may only carry `audio.input.transcription`, `audio.input.noise_reduction` and
    `audio.output.language`. See `parse_client_frame` for the return value.
    """
    return _parse(text, "translation_client", _FAST_TRANSLATION_CLIENT)


def parse_translation_server_frame(
    text: str | bytes,
) -> tuple[dict[str, Any] | None, list[Finding]]:
    """Parse and validate one server frame of a translation session; see `parse_client_frame`."""
    return _parse(text, "translation_server", _FAST_TRANSLATION_SERVER)


def _parse(
    text: str | bytes, side: Side, table: dict[str, IsValid]
) -> tuple[dict[str, Any] | None, list[Finding]]:
    try:
        event = _loads(text)
    except _JSONDecodeError as exc:
        return None, [_invalid_json(exc)]
    if type(event) is not dict:
        return None, _findings(side, event, False)
    event_type = event.get("type")
    if type(event_type) is str:
        check = table.get(event_type)
        if check is not None and check(event):
            return event, []
    return event, _findings(side, event, False)


def validate_translation_client_event(event: Event) -> list[Finding]:
    """Findings for one client event of a translation session, `[]` when it is valid."""
    if isinstance(event, str | bytes):
        return parse_translation_client_frame(event)[1]
    return _findings("translation_client", event, False)


def validate_translation_server_event(event: Event) -> list[Finding]:
    """Findings for one server event of a translation session, `[]` when it is valid."""
    if isinstance(event, str | bytes):
        return parse_translation_server_frame(event)[1]
    return _findings("translation_server", event, False)


def validate_client_event(event: Event, *, websocket: bool = False) -> list[Finding]:
    """Findings for one client event (text, bytes or parsed), `[]` when it is valid.

    Args:
        event: A frame payload or an already parsed event.
        websocket: See `parse_client_frame`.

    Returns:
        The findings, ordered so that `findings[0]` is the error the live server reports.
    """
    if isinstance(event, str | bytes):
        return parse_client_frame(event, websocket=websocket)[1]
    return _findings("client", event, websocket)


def validate_server_event(event: Event) -> list[Finding]:
    """Findings for one server event (text, bytes or parsed), `[]` when it is valid."""
    if isinstance(event, str | bytes):
        return parse_server_frame(event)[1]
    return _findings("server", event, False)


def validate_rest_body(name: str, body: Any) -> list[Finding]:
    """Findings for one parsed REST request or response body, `[]` when it is valid.

    Args:
        name: a REST schema of the bundle (`fixtures/schemas/rest/`), e.g.
            `"client_secrets.request"` for the body of `POST /v1/realtime/client_secrets`.
        body: the parsed JSON body.

    Returns:
        The findings in the live vocabulary, `param` a dotted path from the body's root
        (`expires_after.seconds`, `session.audio.output.voice`); `findings[0]` first.

    Raises:
        UsageError: `name` is not a REST schema of the bundle.
    """
    check = _bundle.rest_is_valid(name)
    if not isinstance(body, Mapping):
        _, message = msg.not_an_object(body)  # [INFERRED] the event wording, for a body
        message = message.replace("Invalid event", "Invalid request body", 1)
        return [Finding(code="invalid_type", message=message)]
    if check(body):
        return []
    issues = _rest_walker(name).issues(dict(body))
    if not issues:
        detail = "schema violation"
        return [Finding(code="invalid_value", message=f"Invalid request body: {detail}")]
    return [
        Finding(
            code=issue.code,
            message=issue.message,
            param=issue.param,
            hint=_hints.finding_hint(issue.code, issue.param, issue.value),
        )
        for issue in issues
    ]


@cache
def _rest_walker(name: str) -> Walker:
    return Walker(_bundle.rest_schema(name), _bundle.index().get("pattern_messages", {}))


def _invalid_json(exc: Exception) -> Finding:
    detail = str(exc).strip()
    if detail:
        detail = detail[0].upper() + detail[1:]
        detail += "" if detail.endswith(".") else "."
    code, message = msg.invalid_json(detail)
    return Finding(code=code, message=message)


def _fast_table(side: Side, websocket: bool) -> dict[str, IsValid]:
    if side == "server":
        return _FAST_SERVER
    if side == "translation_client":
        return _FAST_TRANSLATION_CLIENT
    if side == "translation_server":
        return _FAST_TRANSLATION_SERVER
    return _FAST_CLIENT_WS if websocket else _FAST_CLIENT


def _findings(side: Side, event: Any, websocket: bool) -> list[Finding]:
    if not isinstance(event, Mapping):
        code, message = msg.not_an_object(event)
        return [Finding(code=code, message=message)]
    event = event if isinstance(event, dict) else dict(event)
    event_id = event.get("event_id")
    event_id = event_id if isinstance(event_id, str) else None
    if "type" not in event:
        code, message = msg.missing_type()
        return [Finding(code=code, message=message, event_id=event_id)]
    event_type = event["type"]
    problem = _type_problem(side, event_type, websocket)
    if problem is not None:
        code, message, hint = problem
        return [Finding(code=code, message=message, param="type", event_id=event_id, hint=hint)]
    table = _fast_table(side, websocket)
    check = table.get(event_type) or table.setdefault(
        event_type, _bundle.is_valid_function(side, event_type)
    )
    if check(event):
        return []
    return _schema_findings(side, event_type, event, event_id)


def _type_problem(
    side: Side, event_type: Any, websocket: bool
) -> tuple[str, str, str | None] | None:
    if not isinstance(event_type, str):
        return (*msg.invalid_type("type", ["string"], event_type), None)
    index = _bundle.index()
    if side in _bundle.TRANSLATION_SIDES:
        if event_type in _bundle.event_types(side):
            return None
        # [INFERRED] worded like the realtime endpoint's unknown-type error (errata.yaml:
        # translation-client-types); a server type is listed like on the realtime side.
        names = (
            index["translation_live_client_types"]
            if side == "translation_client"
            else (_bundle.event_types(side))
        )
        return (*msg.invalid_value(event_type, names), None)
    if side == "server":
        if event_type in index["server"]:
            return None
        worded = msg.invalid_value(event_type, index["server_types"])
        return (*worded, _hints.server_type_hint(event_type))
    if event_type in index["translation_only_client_types"]:
        return (*msg.translation_only(event_type), None)
    if event_type in index["client"] and not (
        websocket and event_type not in index["live_client_types"]
    ):
        return None
    return (
        *msg.invalid_value(event_type, index["live_client_types"]),
        _hints.client_type_hint(event_type),
    )


@cache
def _walker(side: Side, event_type: str) -> Walker:
    return Walker(_bundle.schema(side, event_type), _bundle.index().get("pattern_messages", {}))


def _schema_findings(
    side: Side, event_type: str, event: dict[str, Any], event_id: str | None
) -> list[Finding]:
    issues = _walker(side, event_type).issues(event)
    if not issues:  # the walker missed what jsonschema-rs saw: report rs's words, never pass
        detail = _bundle.first_error_message(side, event_type, event) or "schema violation"
        return [
            Finding(code="invalid_value", message=f"Invalid event: {detail}", event_id=event_id)
        ]
    return [
        Finding(
            code=issue.code,
            message=issue.message,
            param=issue.param,
            event_id=event_id,
            hint=_hints.finding_hint(issue.code, issue.param, issue.value),
        )
        for issue in issues
    ]
