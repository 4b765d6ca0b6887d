"""Checks on what each client event contains: the GA schema, images, event ids."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, Final

from conformance.protocol.translation import session_kind
from conformance.schemas import validate_client_event, validate_translation_client_event
from conformance.transcript import Record, Transcript

from ._helpers import short
from ._model import CheckContext, Severity, Violation
from ._registry import check

_IMAGE_TEXT: Final = re.compile(r"^\s*(data:image/|iVBORw0KGgo|/9j/)")  # data URL, PNG, JPEG
_DATA_URL: Final = re.compile(r"^data:image/[A-Za-z0-9.+-]+;base64,")


@check(severity=Severity.FAILED)
def client_event_matches_schema(ctx: CheckContext, transcript: Transcript) -> Iterator[Violation]:
    """Every client frame is a text frame holding a schema-valid GA client event."""
    # A translation session (/v1/realtime/translations) has its own three event schemas.
    translation = session_kind(transcript.meta) == "translation"
    for record in transcript.client_events():
        text = record.text or ""
        findings = (
            validate_translation_client_event(text)
            if translation
            else validate_client_event(text, websocket=True)
        )
        for finding in findings:
            schema = "translation" if translation else "GA"
            yield ctx.violation(
                title=f"client event does not match the {schema} schema",
                expected=f"a {schema} client event the live server accepts"
                + (
                    " (session.update, session.input_audio_buffer.append, session.close)"
                    if translation
                    else ""
                ),
                received=f"{finding.code or finding.type}: {finding.message}",
                record=record,
                json_path=finding.param,
                hint=finding.hint or "fix the event to match the GA reference for its type",
            )
    for record in transcript.records:
        if record.direction == "client" and record.kind == "binary":
            yield ctx.violation(
                title="client sent a binary frame",
                expected="text frames only (JSON events)",
                received="a binary frame",
                record=record,
                hint="send audio as base64 in input_audio_buffer.append (translation sessions: "
                "session.input_audio_buffer.append), in a text frame",
            )


@check(severity=Severity.FAILED)
def images_are_input_image_data_urls(
    ctx: CheckContext, transcript: Transcript
) -> Iterator[Violation]:
    """Images are input_image parts whose image_url is a base64 data URL."""
    for record in transcript.client_events():
        for path, part in _content_parts(record):
            problem = _image_problem(part)
            if problem is not None:
                received, hint = problem
                yield ctx.violation(
                    title="image is not an input_image part with a data URL",
                    expected="{'type': 'input_image', 'image_url': 'data:image/png;base64,…'}",
                    received=received,
                    record=record,
                    json_path=path,
                    hint=hint,
                )


def _content_parts(record: Record) -> Iterator[tuple[str, Mapping[str, Any]]]:
    event = record.event or {}
    items: list[tuple[str, Any]] = []
    if event.get("type") == "conversation.item.create":
        items.append(("item", event.get("item")))
    elif event.get("type") == "response.create":
        response = event.get("response")
        inputs = response.get("input") if isinstance(response, Mapping) else None
        if isinstance(inputs, list):
            items.extend((f"response.input[{i}]", item) for i, item in enumerate(inputs))
    for prefix, item in items:
        content = item.get("content") if isinstance(item, Mapping) else None
        for index, part in enumerate(content if isinstance(content, list) else ()):
            if isinstance(part, Mapping):
                yield f"{prefix}.content[{index}]", part


def _image_problem(part: Mapping[str, Any]) -> tuple[str, str] | None:
    kind = part.get("type")
    if "image" in part:
        return "an 'image' key", "put the data URL in 'image_url' (GA has no 'image' field)"
    if kind in ("image", "image_url"):
        return f"type {kind!r}", "use type 'input_image' with 'image_url': 'data:image/…'"
    if kind == "input_image":
        url = part.get("image_url")
        if not isinstance(url, str) or not _DATA_URL.match(url):
            return (
                f"image_url {short(url, 40)}",
                "encode the image as 'data:image/png;base64,…' (or jpeg) in image_url",
            )
    if kind == "input_text" and _IMAGE_TEXT.match(str(part.get("text", ""))):
        return "image data sent as input_text", "send the image as an input_image part"
    return None


@check(severity=Severity.NON_STRICT)
def event_ids_are_unique(ctx: CheckContext, transcript: Transcript) -> Iterator[Violation]:
    """Client event_ids are unique within a connection, so errors can be correlated."""
    seen: dict[str, int] = {}
    for record in transcript.client_events():
        event_id = (record.event or {}).get("event_id")
        if not isinstance(event_id, str):
            continue
        if event_id in seen:
            yield ctx.violation(
                title="client event_id used twice",
                expected="a fresh event_id per client event",
                received=f"{event_id!r}, first used at frame #{seen[event_id]}",
                record=record,
                json_path="event_id",
                hint="generate event ids from a counter or uuid; error.event_id points at one",
            )
        else:
            seen[event_id] = record.index
