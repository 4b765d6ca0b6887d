"""Screenshot-to-notes over WebRTC with an aiortc client: an `ek_` key from
`client_secrets`, `POST /v1/realtime/calls`, the `oai-events` data channel, an
`input_image` item and the notes; the model's audio arrives on the track."""

from __future__ import annotations

import pytest

pytest.importorskip(
    "aiortc", reason="the WebRTC tests need the webrtc extra (pip install -e '.[webrtc]')"
)

from conformance.checks import CheckContext, run_checks
from mock_server import serve
from tests.webrtc._peer import (
    AUTH,
    PNG_1X1,
    Peer,
    absolute,
    http_client,
    mint,
)

pytestmark = pytest.mark.integration
NOTES = "Notes: a one-pixel screenshot."
SESSION = {
    "type": "realtime",
    "model": "gpt-realtime",
    "instructions": "Turn screenshots into notes.",
}


async def test_screenshot_to_notes_over_webrtc_with_audio_on_the_track() -> None:
    async with serve(pace="fast", reply_template=NOTES) as server, http_client(server) as http:
        key = await mint(http, SESSION)
        peer = Peer()
        try:
            response = await peer.call(http, key=key)
            assert response.status_code == 201, response.text
            assert response.headers["Content-Type"] == "application/sdp"
            assert response.text.startswith("v=0")
            assert "a=candidate:" in response.text
            assert " 127.0.0.1 " in response.text  # ICE on loopback only
            assert peer.call_id.startswith("rtc_")
            assert response.headers["Location"] == f"/v1/realtime/calls/{peer.call_id}"

            created = await peer.next("session.created")
            assert created["session"]["instructions"] == SESSION["instructions"]  # the key's

            image = {"type": "input_image", "image_url": PNG_1X1}
            item = {"type": "message", "role": "user", "content": [image]}
            peer.send({"type": "conversation.item.create", "item": item})
            peer.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
            done = await peer.next("response.done")
            assert done["response"]["status"] == "completed"
            (message,) = done["response"]["output"]
            assert message["content"][0]["text"] == NOTES

            # An audio response: its audio on the track, not in events (as live).
            peer.send({"type": "response.create"})
            started = await peer.next("output_audio_buffer.started")
            done = await peer.next("response.done")
            assert started["response_id"] == done["response"]["id"]
            stopped = await peer.next("output_audio_buffer.stopped", timeout=30)
            assert stopped["response_id"] == done["response"]["id"]
            assert peer.loud_frames > 10  # seconds of speech-like audio, Opus-decoded
            types = [event["type"] for event in peer.seen]
            assert "response.output_audio.delta" not in types
            assert "response.output_audio_transcript.delta" in types

            location = response.headers["Location"]
            hangup = await http.post(absolute(server, location + "/hangup"), headers=AUTH)
            assert hangup.status_code == 200
            (transcript,) = await server.wait_for_sessions(1, timeout=10)
        finally:
            await peer.close()
    assert transcript.transport == "webrtc"
    assert transcript.meta["query"]["call_id"] == peer.call_id
    assert key not in transcript.to_jsonl()  # the secret is masked
    violations = run_checks(CheckContext(transcripts=(transcript,)), ["default"])
    assert [v for v in violations if v.severity.rank <= 1] == [], violations
    end = transcript.records[-1]
    assert (end.kind, end.direction, end.reason) == ("close", "client", "hangup")


async def test_multipart_session_with_a_standard_key_configures_the_call() -> None:
    session = {"type": "realtime", "model": "gpt-realtime-mini", "output_modalities": ["text"]}
    async with serve(pace="fast") as server, http_client(server) as http:
        peer = Peer()
        try:
            response = await peer.call(http, session=session)
            assert response.status_code == 201, response.text
            created = await peer.next("session.created")
            assert created["session"]["model"] == "gpt-realtime-mini"
            assert created["session"]["output_modalities"] == ["text"]
            assert server.calls.live(peer.call_id) is not None
        finally:
            await peer.close()
        call = await server.calls.wait_for(peer.call_id, "ended")
    assert call.end_reason == "closed"  # the client closed its peer connection


async def test_bad_offers_and_keys_get_json_errors_on_the_socket() -> None:
    async with (
        serve(pace="fast", api_keys=("sk-test-webrtc",)) as server,
        http_client(server) as http,
    ):
        bad_sdp = await http.post(
            "/realtime/calls",
            content="v=0\r\nm=audio 9 RTP/AVP 0\r\na=fingerprint:sha-256 00\r\n",
            headers={**AUTH, "Content-Type": "application/sdp"},
        )
        assert bad_sdp.status_code == 400
        assert bad_sdp.json()["error"]["param"] == "sdp"
        peer = Peer()
        try:
            wrong = await peer.call(http, key="sk-not-a-key-0000")
            assert wrong.status_code == 401
            assert wrong.json()["error"]["code"] == "invalid_api_key"
        finally:
            await peer.close()
        assert len(server.calls) == 0
