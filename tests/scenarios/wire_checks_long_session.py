"""Wire checks of the long-session scenarios (registered into `CHECKS`).

The runner delivers the screenshots (tests/runner/test_long_session.py); here a raw
client plays that part: it sends each screenshot itself.
"""

from __future__ import annotations

import base64
from typing import Any

from conformance.runner import screenshot_png
from mock_server.scenarios import Scenario

from .wire import Wire
from .wire_checks import check

_PNG = "data:image/png;base64," + base64.b64encode(screenshot_png(64, 40)).decode()


def _image(event_id: str) -> dict[str, Any]:
    content = [{"type": "input_image", "image_url": _PNG}]
    item = {"type": "message", "role": "user", "content": content}
    return {"type": "conversation.item.create", "event_id": event_id, "item": item}


def _create(event_id: str) -> dict[str, Any]:
    text = {"output_modalities": ["text"]}
    return {"type": "response.create", "event_id": event_id, "response": text}


async def _note(wire: Wire, number: int) -> dict[str, Any]:
    await wire.send(_image(f"evt_image_{number}"))
    await wire.send(_create(f"evt_create_{number}"))
    return await wire.until("response.done")


@check("long-session")
async def _long_session(wire: Wire, scenario: Scenario) -> None:
    await wire.until("session.created")
    for number in (1, 2, 3):
        done = await _note(wire, number)
        assert done["response"]["status"] == "completed"
    assert not wire.errors()


@check("long-session-stale-note")
async def _stale_note(wire: Wire, scenario: Scenario) -> None:
    await wire.until("session.created")
    # Reply 1 is held after its first delta: a create then is refused, whatever the timing.
    await wire.send(_image("evt_image_1"))
    await wire.send(_create("evt_create_1"))
    await wire.until("response.output_text.delta")
    assert await wire.silent_for(0.2)  # held (the scenario's pace would have finished it)
    await wire.send(_image("evt_image_2"))
    await wire.send(_create("evt_create_2"))
    error = (await wire.until("error"))["error"]
    assert error["code"] == "conversation_already_has_active_response"
    assert error["event_id"] == "evt_create_2"
    assert (await wire.until("response.done"))["response"]["status"] == "completed"
    # Reply 2 is held too; a response.cancel ends it at once.
    await wire.send(_create("evt_create_2b"))
    await wire.until("response.output_text.delta")
    await wire.send({"type": "response.cancel", "event_id": "evt_cancel_2"})
    cancelled = (await wire.until("response.done", within=1.0))["response"]
    assert cancelled["status"] == "cancelled"
    # Reply 3 is not held.
    done = await _note(wire, 3)
    assert done["response"]["status"] == "completed"
    assert [e["code"] for e in wire.errors()] == ["conversation_already_has_active_response"]
