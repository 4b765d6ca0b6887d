"""Wire checks of the scenarios that answer client events (registered into `CHECKS`)."""

from __future__ import annotations

import base64

from mock_server.scenarios import Scenario

from .wire import Wire
from .wire_checks import check, rejected_event

BETA_NAMES = {
    "response.text.delta",
    "response.audio.delta",
    "response.audio_transcript.delta",
    "response.audio.done",
    "conversation.item.created",
}


async def started(wire: Wire, scenario: Scenario) -> None:
    """Wait for session.created, then send the scenario's stimulus."""
    await wire.until("session.created")
    await wire.stimulus(scenario)


# ------------------------------------------------- default validation errors
@check("beta-session-shape-rejected")
async def _beta_shape(wire: Wire, scenario: Scenario) -> None:
    await started(wire, scenario)
    codes = ("missing_required_parameter", "unknown_parameter")
    error = await rejected_event(wire, "evt_beta_shape", *codes)
    assert str(error["param"]).startswith("session.")
    assert not wire.of_type("session.updated")


@check("audio-format-string")
async def _audio_format(wire: Wire, scenario: Scenario) -> None:
    await started(wire, scenario)
    await rejected_event(wire, "evt_format", "invalid_type", "invalid_value")
    assert not wire.of_type("session.updated")


@check("cancel-not-active")
async def _cancel(wire: Wire, scenario: Scenario) -> None:
    await started(wire, scenario)
    error = await rejected_event(wire, "evt_cancel", "response_cancel_not_active")
    assert error["message"] == "Cancellation failed: no active response found"


@check("commit-empty")
async def _commit(wire: Wire, scenario: Scenario) -> None:
    await started(wire, scenario)
    error = await rejected_event(wire, "evt_commit", "input_audio_buffer_commit_empty")
    assert "Expected at least 100ms of audio" in str(error["message"])


@check("content-type-assistant-audio-replay")
async def _replay(wire: Wire, scenario: Scenario) -> None:
    await started(wire, scenario)
    error = await rejected_event(wire, "evt_replay", "missing_required_parameter")
    assert error["param"] == "item.content[0].text"
    assert not wire.of_type("conversation.item.added")


@check("image-empty-content")
async def _empty_content(wire: Wire, scenario: Scenario) -> None:
    await started(wire, scenario)
    await rejected_event(wire, "evt_image")
    assert not wire.of_type("conversation.item.added")


@check("unknown-item-id")
async def _unknown_item(wire: Wire, scenario: Scenario) -> None:
    await started(wire, scenario)
    await rejected_event(wire, "evt_delete", "item_delete_invalid_item_id")
    assert not wire.of_type("conversation.item.deleted")


@check("unknown-tool-call-id")
async def _unknown_call(wire: Wire, scenario: Scenario) -> None:
    await started(wire, scenario)
    error = await rejected_event(wire, "evt_tool_output", "invalid_tool_call_id")
    assert "call_from_old_session_1" in str(error["message"])
    assert not wire.of_type("conversation.item.added")


@check("voice-locked-after-audio")
async def _voice(wire: Wire, scenario: Scenario) -> None:
    await started(wire, scenario)
    await rejected_event(wire, "evt_voice", "cannot_update_voice")
    assert not wire.of_type("session.updated")


@check("truncate-errors")
async def _truncate(wire: Wire, scenario: Scenario) -> None:
    await started(wire, scenario)
    await rejected_event(wire, "evt_truncate", "unsupported_content_type")
    await wire.send({"type": "response.create", "response": {"output_modalities": ["audio"]}})
    item_id = (await wire.until("response.output_item.added"))["item"]["id"]
    await wire.until("response.done")
    await wire.send(
        {
            "type": "conversation.item.truncate",
            "event_id": "evt_too_far",
            "item_id": item_id,
            "content_index": 0,
            "audio_end_ms": 999_999,
        }
    )
    error = await rejected_event(wire, "evt_too_far", "invalid_value")
    assert "is already shorter than 999999ms" in str(error["message"])


@check("ga-payload-beta-upstream")
async def _beta_upstream(wire: Wire, scenario: Scenario) -> None:
    await started(wire, scenario)
    error = await rejected_event(wire, "evt_ga_update", "unknown_parameter")
    assert error["param"] == "session.type"
    assert not wire.of_type("session.updated")


# ------------------------------------------------------------ responses
@check("active-response-conflict")
async def _active(wire: Wire, scenario: Scenario) -> None:
    await started(wire, scenario)
    error = (await wire.until("error"))["error"]
    response_id = wire.of_type("response.created")[0]["response"]["id"]
    assert error["code"] == "conversation_already_has_active_response"
    assert error["event_id"] == "evt_second"
    assert response_id in error["message"]
    done = await wire.until("response.done")
    assert done["response"]["status"] == "completed"
    await wire.sentinel()
    assert len(wire.of_type("response.created")) == 1


@check("benign-errors-mid-session")
async def _benign(wire: Wire, scenario: Scenario) -> None:
    await started(wire, scenario)
    await wire.until_count("error", 4)
    codes = {e["code"] for e in wire.errors()}
    assert codes == {
        "response_cancel_not_active",
        "conversation_already_has_active_response",
        "input_audio_buffer_commit_empty",
        "unknown_parameter",
    }
    assert all(e["event_id"] is None for e in wire.errors())
    done = wire.of_type("response.done") or [await wire.until("response.done")]
    assert done[0]["response"]["status"] == "completed"
    # Causally ordered: the four errors answer the client's response.create, ahead of
    # the reply, so a client that waits for its reply has read them all.
    types = wire.types()
    assert max(i for i, t in enumerate(types) if t == "error") < types.index("response.created")


@check("response-failed-no-error-event")
async def _failed(wire: Wire, scenario: Scenario) -> None:
    await started(wire, scenario)
    done = (await wire.until("response.done"))["response"]
    assert done["status"] == "failed"
    assert done["status_details"]["error"]["type"] == "server_error"
    await wire.sentinel()
    assert not wire.of_type("error")
    assert not wire.of_type("response.output_text.delta")


@check("model-not-found-late")
async def _model_late(wire: Wire, scenario: Scenario) -> None:
    await started(wire, scenario)
    done = (await wire.until("response.done"))["response"]
    error = done["status_details"]["error"]
    assert done["status"] == "failed"
    assert error["code"] == "model_not_found"
    assert "`gpt-realtime` does not exist" in error["message"]
    assert done["usage"]["total_tokens"] == 0
    await wire.sentinel()
    assert not wire.of_type("error")


@check("rate-limit-reached")
async def _rate_limit(wire: Wire, scenario: Scenario) -> None:
    await started(wire, scenario)
    done = (await wire.until("response.done"))["response"]
    error = done["status_details"]["error"]
    assert done["status"] == "failed"
    assert error["code"] == "rate_limit_exceeded"
    assert error["message"].startswith("Rate limit reached for gpt-4o-mini-realtime")
    limits = (await wire.until("rate_limits.updated"))["rate_limits"]
    assert limits == [{"name": "tokens", "limit": 40000, "remaining": 0, "reset_seconds": 86.4}]
    await wire.sentinel()
    assert len(wire.of_type("rate_limits.updated")) == 1


@check("server-error-persistent")
async def _persistent(wire: Wire, scenario: Scenario) -> None:
    await started(wire, scenario)
    await wire.until_count("error", 2)
    await wire.sentinel()
    errors = wire.errors()
    assert [e["event_id"] for e in errors] == ["evt_first_try", "evt_retry"]
    assert all(e["type"] == "server_error" for e in errors)
    assert not wire.of_type("response.created")


@check("oversized-server-frame")
async def _oversized(wire: Wire, scenario: Scenario) -> None:
    await started(wire, scenario)
    delta = await wire.until("response.output_audio.delta")
    assert wire.sizes[-1] >= 3_400_000
    assert set(base64.b64decode(delta["delta"])) == {0}
    assert (await wire.until("response.done"))["response"]["status"] == "completed"


# ------------------------------------------------------ event stream shape
@check("ga-event-names-only")
async def _ga_names(wire: Wire, scenario: Scenario) -> None:
    await started(wire, scenario)
    types = set(wire.types())
    assert not types & BETA_NAMES
    assert {"response.output_text.delta", "response.output_audio.delta"} <= types
    assert {"conversation.item.added", "conversation.item.done"} <= types
    audio = wire.of_type("response.output_audio.delta")[0]["delta"]
    assert isinstance(audio, str)
    assert base64.b64decode(audio)


@check("unknown-event-and-field")
async def _future(wire: Wire, scenario: Scenario) -> None:
    session_id = (await wire.until("session.created"))["session"]["id"]
    future = await wire.next()
    assert future is not None
    assert future["type"] == "response.future_feature.delta"
    assert future["session_id"] == session_id
    await wire.stimulus(scenario)
    created = await wire.until("response.created")
    assert created["x_future_field"] == {"enabled": True}
    assert (await wire.until("response.done"))["response"]["status"] == "completed"


@check("events-out-of-order-duplicated")
async def _order(wire: Wire, scenario: Scenario) -> None:
    await started(wire, scenario)
    await wire.until("response.done")
    user_id = wire.of_type("conversation.item.added")[0]["item"]["id"]
    types = wire.types()
    user_done = next(
        i for i, e in enumerate(wire.events)
        if e["type"] == "conversation.item.done" and e["item"]["id"] == user_id
    )  # fmt: skip
    assert types.index("response.created") < user_done
    deltas = wire.of_type("response.output_text.delta")
    assert deltas[0] == deltas[1]
    unique = {d["event_id"]: d["delta"] for d in deltas}
    assert "".join(unique.values()) == wire.of_type("response.output_text.done")[0]["text"]
