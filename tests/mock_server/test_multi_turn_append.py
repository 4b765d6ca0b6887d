"""One `input_audio_buffer.append` that holds several speech turns (server VAD).

A client that sends a long recording in one go gives the VAD several turns in one call.
Each turn's response is queued behind the events of the turns after it; the mock used to
start the next turn's response while the previous one was still active and close with
1011. Now every turn ends in a response, and a turn that starts while the previous
response is being written interrupts it (`turn_detected`), as barge-in does live.
"""

from __future__ import annotations

import base64

import pytest

from tests.mock_server.app_harness import open_app

LOUD = b"\x00\x40" * 240 * 10  # 100 ms of PCM16 at 24 kHz, well above the threshold
QUIET = bytes(480 * 60)  # 600 ms of silence: longer than the default 500 ms


@pytest.mark.parametrize("turns", [1, 2, 3])
def test_every_turn_of_one_append_gets_a_response(turns: int) -> None:
    app, client = open_app()
    client.recv_event()  # session.created
    audio = base64.b64encode((LOUD + QUIET) * turns).decode()
    client.send({"type": "input_audio_buffer.append", "audio": audio})
    events = []
    while isinstance(event := client.recv_event(within_ms=10_000), dict):
        events.append(event)
    kinds = [e["type"] for e in events]
    assert "error" not in kinds
    assert kinds.count("input_audio_buffer.speech_stopped") == turns
    assert kinds.count("input_audio_buffer.committed") == turns
    done = [e["response"] for e in events if e["type"] == "response.done"]
    assert len(done) == turns
    # Every response but the last was interrupted by the next turn's speech.
    assert [r["status"] for r in done] == ["cancelled"] * (turns - 1) + ["completed"]
    for response in done[:-1]:
        assert response["status_details"]["reason"] == "turn_detected"
    assert not app.ended  # no 1011: the strict core accepted every event the mock sent
