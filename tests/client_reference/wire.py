"""Server events for the fake server's scripts (live GA shapes, protocol notes §5-§6).

The response and session builders come from `tests.helpers`; this adds the ones the
reference client's tests need on top, most of them as `Send` factories that echo what
the client sent (its item, its `event_id`).
"""

from __future__ import annotations

from typing import Any

from tests.client_reference.fake_server import Context, Event, Expect, Send, Step
from tests.helpers import CONVERSATION_ID, item_added_done, session_created, text_response

__all__ = [
    "CONVERSATION_ID",
    "configured",
    "echo_item",
    "error_event",
    "failed_response",
    "opening",
    "session_created",
    "session_updated",
    "text_response",
    "text_turn",
]

_counter = iter(range(1, 1_000_000))


def _event_id() -> str:
    return f"event_fake{next(_counter):06d}"


def session_updated(**fields: Any) -> Event:
    """`session.updated` with the created session plus `fields` (no client event_id: §5b)."""
    session = session_created()["session"]
    session.update({"output_modalities": ["text"], **fields})
    return {"type": "session.updated", "event_id": _event_id(), "session": session}


def error_event(
    code: str | None,
    message: str,
    *,
    param: str | None = None,
    event_id: str | None = None,
    type: str = "invalid_request_error",
) -> Event:
    """A live `error` event: all five inner keys, nulls explicit (§6.1)."""
    return {
        "type": "error",
        "event_id": _event_id(),
        "error": {
            "type": type,
            "code": code,
            "message": message,
            "param": param,
            "event_id": event_id,
        },
    }


def echo_error(code: str, message: str, *, param: str | None = None) -> Send:
    """Answer the last client event with an error that echoes its `event_id`."""
    return Send(
        lambda ctx: error_event(code, message, param=param, event_id=ctx.last.get("event_id"))
    )


def echo_item(ctx: Context) -> list[Event]:
    """`conversation.item.added` + `.done` for the item the client just created (§5c)."""
    item = dict(ctx.last["item"])
    item["status"] = "completed"
    return item_added_done(item)


def failed_response(response_id: str, status: str, details: dict[str, Any]) -> list[Event]:
    """`response.created` then a `response.done` with `status` failed / incomplete (§6.2)."""
    events = text_response(response_id, "item_out" + response_id[-4:], "partial", deltas=1)
    created, done = events[0], next(e for e in events if e["type"] == "response.done")
    body = done["response"]
    body.update(status=status, status_details=details, output=[])
    return [created, done]


def opening() -> list[Step]:
    """`session.created` at once, as the live server does (§5a)."""
    return [Send(session_created())]


def configured() -> list[Step]:
    """Opening plus an accepted `session.update`."""
    return [*opening(), Expect("session.update"), Send(session_updated())]


def text_turn(response_id: str, text: str, *, deltas: int = 3) -> list[Step]:
    """An accepted screenshot item, then a text response split into `deltas` deltas."""
    return [
        Expect("conversation.item.create"),
        Send(echo_item),
        Expect("response.create"),
        Send(*text_response(response_id, "item_a" + response_id[-4:], text, deltas=deltas)),
    ]
