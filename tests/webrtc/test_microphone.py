"""The client's microphone track makes turns: decoded, resampled to the session's input
rate and fed to the server VAD; speech over the model's playing audio clears it."""

from __future__ import annotations

import pytest

pytest.importorskip(
    "aiortc", reason="the WebRTC tests need the webrtc extra (pip install -e '.[webrtc]')"
)

from mock_server import serve
from tests.webrtc._peer import Peer, ToneThenSilence, http_client

pytestmark = pytest.mark.integration
LONG_REPLY = " ".join(["word"] * 40)  # 8 s of audio on the track (200 ms a word)


async def test_a_tone_then_silence_on_the_microphone_is_a_turn_and_barge_in_clears() -> None:
    async with serve(pace="fast", reply_template=LONG_REPLY) as server, http_client(server) as http:
        microphone = ToneThenSilence(tone_ms=600)
        peer = Peer(microphone)
        try:
            assert (await peer.call(http)).status_code == 201
            await peer.next("session.created")
            microphone.speak_now()
            started = await peer.next("input_audio_buffer.speech_started")
            stopped = await peer.next("input_audio_buffer.speech_stopped")
            assert 0 <= started["audio_start_ms"] < stopped["audio_end_ms"]
            # 600 ms of tone (after up to 300 ms of prefix padding), then the session's
            # silence_duration_ms of silence: in audio time, not wall time
            assert 600 <= stopped["audio_end_ms"] - started["audio_start_ms"] <= 1600
            committed = await peer.next("input_audio_buffer.committed")
            assert committed["item_id"] == started["item_id"]
            created = await peer.next("response.created")  # create_response: the VAD's turn
            await peer.next("output_audio_buffer.started")
            await peer.next("response.done")
            # The model's audio plays for seconds: the user speaks over it.
            microphone.speak_now()
            await peer.next("input_audio_buffer.speech_started")
            cleared = await peer.next("output_audio_buffer.cleared", "output_audio_buffer.stopped")
            assert cleared["type"] == "output_audio_buffer.cleared"
            assert cleared["response_id"] == created["response"]["id"]
        finally:
            await peer.close()
