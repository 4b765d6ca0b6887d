"""What each built-in scenario must look like on the wire (one async check per id).

Connection-level scenarios (handshake, close, drop, stall, timing) are here; the ones
that answer client events are in `wire_checks_session.py`. Both register into `CHECKS`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from mock_server.scenarios import Scenario

from .wire import Wire

Check = Callable[[Wire, Scenario], Awaitable[None]]
CHECKS: dict[str, Check] = {}


def check(name: str) -> Callable[[Check], Check]:
    """Register the wire check of built-in scenario `name`."""

    def register(function: Check) -> Check:
        assert name not in CHECKS, name
        CHECKS[name] = function
        return function

    return register


async def rejected_at_connect(wire: Wire, code: str | None, close: int, reason: str) -> str:
    """101, then one error with `code`, then close `close`/`reason`; return the message."""
    await wire.until_closed()
    assert wire.types() == ["error"], wire.types()
    (error,) = wire.errors()
    assert error["code"] == code
    assert error["type"] == "invalid_request_error"
    assert (wire.close_code, wire.close_reason) == (close, reason)
    return str(error["message"])


async def rejected_event(wire: Wire, event_id: str, *codes: str) -> dict[str, object]:
    """One error echoing `event_id` (code among `codes`), and the session stays usable."""
    error = (await wire.until("error"))["error"]
    assert error["event_id"] == event_id, error
    assert not codes or error["code"] in codes, error
    await wire.sentinel()
    return dict(error)


# ------------------------------------------------------------------ handshake
@check("beta-header-rejected")
async def _beta(wire: Wire, scenario: Scenario) -> None:
    reason = "invalid_request_error.beta_api_shape_disabled"
    message = await rejected_at_connect(wire, "beta_api_shape_disabled", 4000, reason)
    assert "no longer supported" in message


@check("invalid-api-key")
async def _bad_key(wire: Wire, scenario: Scenario) -> None:
    reason = "invalid_request_error.invalid_api_key"
    message = await rejected_at_connect(wire, "invalid_api_key", 3000, reason)
    assert message.startswith("Incorrect API key provided:")
    assert "sk-mock-wrong-key-999999999999" not in message


@check("no-realtime-access")
async def _no_access(wire: Wire, scenario: Scenario) -> None:
    assert wire.refused == (403, b"")  # HTTP 403 on the upgrade, empty body, no WebSocket


@check("ephemeral-key-rejected")
async def _ephemeral(wire: Wire, scenario: Scenario) -> None:
    reason = "invalid_request_error.invalid_api_key"
    await rejected_at_connect(wire, "invalid_api_key", 3000, reason)


@check("unknown-model")
async def _unknown_model(wire: Wire, scenario: Scenario) -> None:
    reason = "invalid_request_error.invalid_model"
    message = await rejected_at_connect(wire, "invalid_model", 4000, reason)
    assert '"gpt-4o-mini" is not supported in realtime mode' in message


@check("missing-model")
async def _missing_model(wire: Wire, scenario: Scenario) -> None:
    reason = "invalid_request_error.missing_model"
    message = await rejected_at_connect(wire, "missing_model", 4000, reason)
    assert message.startswith("You must provide a model parameter")


@check("transcription-model-rejected")
async def _transcription(wire: Wire, scenario: Scenario) -> None:
    reason = "invalid_request_error.invalid_model"
    message = await rejected_at_connect(wire, "invalid_model", 4000, reason)
    assert "not supported in transcription mode" in message


@check("retired-model")
async def _retired(wire: Wire, scenario: Scenario) -> None:
    reason = "invalid_request_error.model_not_found"
    message = await rejected_at_connect(wire, "model_not_found", 4004, reason)
    assert "`gpt-realtime` does not exist" in message


# ------------------------------------------------------------ closes and drops
@check("accepted-then-closed")
async def _accepted_then_closed(wire: Wire, scenario: Scenario) -> None:
    await wire.until_closed()
    assert wire.events == []
    assert (wire.close_code, wire.close_reason) == (1000, "")
    assert wire.seconds_until_close() < 2.0


@check("quota-closes-after-connect")
async def _quota(wire: Wire, scenario: Scenario) -> None:
    await wire.until("session.created")
    created_at = time.monotonic()
    await wire.until_closed()
    assert wire.types() == ["session.created"]
    assert (wire.close_code, wire.close_reason) == (1000, "")
    assert wire.closed_at is not None
    assert 0.1 <= wire.closed_at - created_at < 3.0


@check("close-after-first-client-event")
async def _close_after_first(wire: Wire, scenario: Scenario) -> None:
    await wire.until("session.created")
    await wire.stimulus(scenario)
    await wire.until_closed()
    assert wire.types() == ["session.created"]
    assert (wire.close_code, wire.close_reason) == (1000, "")


@check("session-expired")
async def _expired(wire: Wire, scenario: Scenario) -> None:
    await wire.until("session.created")
    await wire.until_closed()
    assert wire.types() == ["session.created", "error"]
    (error,) = wire.errors()
    assert error["code"] == "session_expired"
    assert "maximum duration" in error["message"]
    assert wire.close_code == 1001
    assert 0.15 <= wire.seconds_until_close() < 3.0


@check("idle-drop")
async def _idle_drop(wire: Wire, scenario: Scenario) -> None:
    await wire.until("session.created")
    await wire.until_closed()
    assert wire.close_code is None
    assert wire.ws.close_code == 1006
    assert 0.4 <= wire.seconds_until_close() < 3.0


@check("tcp-drop-mid-response")
async def _tcp_drop(wire: Wire, scenario: Scenario) -> None:
    await wire.until("session.created")
    await wire.stimulus(scenario)
    await wire.until_closed()
    assert wire.close_code is None  # no close frame: the client sees 1006
    assert len(wire.of_type("response.output_text.delta")) == 2
    assert not wire.of_type("response.done")


@check("server-error-mid-response")
async def _server_error_mid_response(wire: Wire, scenario: Scenario) -> None:
    session_id = (await wire.until("session.created"))["session"]["id"]
    await wire.stimulus(scenario)
    await wire.until_closed()
    types = wire.types()
    assert types.count("response.output_text.delta") == 3
    assert types.index("error") == len(types) - 1
    assert "response.done" not in types
    (error,) = wire.errors()
    assert error["type"] == "server_error"
    assert session_id in error["message"]
    assert (wire.close_code, wire.close_reason) == (1011, "server_error")


@check("image-too-large")
async def _image_too_large(wire: Wire, scenario: Scenario) -> None:
    await wire.until("session.created")
    photo = "data:image/png;base64," + "A" * 1_100_000
    part = {"type": "input_image", "image_url": photo}
    item = {"type": "message", "role": "user", "content": [part]}
    await wire.send({"type": "conversation.item.create", "item": item})
    await wire.until_closed()
    assert wire.types() == ["session.created"]
    assert (wire.close_code, wire.close_reason) == (1009, "message too big")


# ------------------------------------------------------------- silence
@check("silent-after-accept")
async def _silent(wire: Wire, scenario: Scenario) -> None:
    assert await wire.silent_for(0.5)
    assert wire.events == []
    assert await wire.ping_answered(2.0)


@check("stalled-stream")
async def _stalled(wire: Wire, scenario: Scenario) -> None:
    await wire.until("session.created")
    await wire.stimulus(scenario)
    await wire.until_count("response.output_text.delta", 3)
    assert await wire.silent_for(0.5)
    assert len(wire.of_type("response.output_text.delta")) == 3
    assert await wire.ping_answered(2.0)


@check("pings-unanswered")
async def _pings(wire: Wire, scenario: Scenario) -> None:
    await wire.until("session.created")
    assert not await wire.ping_answered(0.5)
    await wire.sentinel()  # data still flows: only the pongs are missing


@check("session-updated-delayed")
async def _config_race(wire: Wire, scenario: Scenario) -> None:
    await wire.until("session.created")
    assert wire.arrivals[0] - wire.opened_at >= 0.15
    sent_at = time.monotonic()
    await wire.stimulus(scenario)
    await wire.until("session.updated")
    types = wire.types()
    assert types.index("response.created") < types.index("session.updated")
    assert wire.arrivals[-1] - sent_at >= 0.35
