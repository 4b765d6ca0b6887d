"""Wire check of the SIP scenario (`feature: sip`) on a plain WebSocket session: the DTMF
events its rules send (the sideband of a SIP call gets the same: tests/sip/)."""

from __future__ import annotations

from mock_server.scenarios import Scenario

from .wire import Wire
from .wire_checks import check


@check("sip-basic")
async def _sip_basic(wire: Wire, scenario: Scenario) -> None:
    await wire.until("session.created")
    first = await wire.until("input_audio_buffer.dtmf_event_received")  # 500 ms in
    assert first["event"] == "1"
    assert set(first) == {"type", "event", "received_at"}  # no event_id, as in the spec
    await wire.send({"type": "response.create"})
    await wire.until_count("input_audio_buffer.dtmf_event_received", 4)
    digits = [e["event"] for e in wire.of_type("input_audio_buffer.dtmf_event_received")]
    assert digits == ["1", "4", "2", "#"]
    kinds = wire.types()
    assert kinds.index("response.done") < kinds.index("rate_limits.updated")
    assert kinds.index("response.done") < len(kinds) - 3  # the last three come after it
    times = [e["received_at"] for e in wire.of_type("input_audio_buffer.dtmf_event_received")]
    assert times == sorted(times)
