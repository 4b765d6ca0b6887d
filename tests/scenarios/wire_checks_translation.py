"""Wire checks of the translation scenarios (`endpoint: translation`): the stimulus goes to
`/v1/realtime/translations?model=gpt-realtime-translate` (`wire.url_for`)."""

from __future__ import annotations

from mock_server.scenarios import Scenario

from .wire import Wire
from .wire_checks import check


@check("translation-basic")
async def _translation_basic(wire: Wire, scenario: Scenario) -> None:
    await wire.until("session.created")
    await wire.stimulus(scenario)  # ends waiting for session.closed
    await wire.until_closed()
    kinds = wire.types()
    assert kinds == [
        "session.created",
        "session.updated",
        "session.input_transcript.delta",
        "session.output_transcript.delta",
        "session.output_audio.delta",
        "session.closed",
    ], kinds
    (updated,) = wire.of_type("session.updated")
    assert updated["session"]["audio"]["output"]["language"] == "fr"
    (delta,) = wire.of_type("session.output_transcript.delta")
    assert delta["elapsed_ms"] == 200
    assert delta["delta"]
    assert not delta["delta"].startswith(" ")
    assert (wire.close_code, wire.close_reason) == (1000, "")


@check("translation-server-error")
async def _translation_server_error(wire: Wire, scenario: Scenario) -> None:
    await wire.until("session.created")
    await wire.stimulus(scenario)
    await wire.until_closed()
    kinds = wire.types()
    first = kinds.index("session.output_transcript.delta")
    assert kinds[first + 1 :] == ["error"], kinds  # no audio delta, no session.closed
    (error,) = wire.errors()
    assert error["type"] == "server_error"
    assert error["event_id"] is None
    assert "include session ID in your message: sess_" in error["message"]
    assert (wire.close_code, wire.close_reason) == (1011, "server_error")


@check("translation-drop-mid-stream")
async def _translation_drop(wire: Wire, scenario: Scenario) -> None:
    await wire.until("session.created")
    await wire.stimulus(scenario)
    await wire.until_closed()
    assert wire.types()[-1] == "session.output_transcript.delta", wire.types()
    assert "session.closed" not in wire.types()
    # no close frame: the client sees 1006
    assert wire.close_code is None, (wire.close_code, wire.close_reason)
