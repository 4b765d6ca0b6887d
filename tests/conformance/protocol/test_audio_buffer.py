"""Machine 5, the input audio buffer (§2.1, §5g, catalog 8 and 16, §8 audio formats).

Appended bytes accumulate; `input_audio_buffer.committed` or `.cleared` empty the buffer;
a commit needs at least 100 ms.
"""

import base64

import pytest

from conformance.protocol import LocalProtocolError, decode_audio
from conformance.protocol.states import BYTES_PER_MS, MIN_COMMIT_MS
from tests.helpers import SessionPair, audio_append, new_ids, rejection, session_created

IDS = new_ids("audio buffer")
USER = IDS.new("item")


def commit(event_id="evt_commit"):
    return {"type": "input_audio_buffer.commit", "event_id": event_id}


class TestAppend:
    def test_appended_audio_accumulates_on_both_sides(self, pair):
        """§5g step 1: `append` x N, no acks; 48 bytes are 1 ms of PCM16 at 24 kHz."""
        first = pair.client_sends(audio_append(30))
        pair.client_sends(audio_append(45.5))
        assert first.ok
        assert first.audio == bytes(30 * 48)
        assert pair.server.audio_buffer_ms == pytest.approx(75.5)
        assert pair.client.audio_buffer_ms == pytest.approx(75.5)

    @pytest.mark.parametrize(
        "audio", ["not base64!", "QQ==QQ==", "QUJ", "=QUJD", 12, None, ["QUJD"]], ids=repr
    )
    def test_audio_that_is_not_base64_is_rejected(self, pair, audio):
        """Catalog 16: `invalid_value` on `audio`; the buffer is unchanged."""
        pair.client_sends(audio_append(10))
        event = {"type": "input_audio_buffer.append", "event_id": "evt_bad", "audio": audio}
        finding = rejection(pair, event)
        assert (finding.code, finding.param, finding.event_id) == (
            "invalid_value",
            "audio",
            "evt_bad",
        )
        assert finding.message == (
            "Invalid 'audio'. Expected base64-encoded audio bytes (mono PCM16 at 24kHz) "
            "but got an invalid value."
        )
        assert pair.server.audio_buffer_ms == 10

    def test_an_append_without_audio_is_rejected(self, pair):
        """`audio` is required; a missing one is not base64 audio either."""
        assert rejection(pair, {"type": "input_audio_buffer.append"}).param == "audio"

    def test_decode_audio_is_strict_base64(self):
        """Strict mode refuses whitespace and bad padding that lenient decoders let through."""
        assert decode_audio({"audio": base64.b64encode(b"abc").decode()}) == b"abc"
        assert decode_audio({"audio": ""}) == b""
        assert decode_audio({"audio": "YWJj\n"}) is None
        assert decode_audio({}) is None

    def test_an_empty_append_is_accepted_and_adds_nothing(self, pair):
        """Zero bytes are valid base64 and zero audio."""
        received = pair.client_sends({"type": "input_audio_buffer.append", "audio": ""})
        assert (received.ok, received.audio) == (True, b"")
        assert pair.server.audio_buffer_ms == 0

    def test_the_client_refuses_to_send_audio_that_is_not_base64(self, pair):
        """Our own client checks the append too."""
        with pytest.raises(LocalProtocolError, match=r"Invalid 'audio'"):
            pair.client.send({"type": "input_audio_buffer.append", "audio": "%%%"})


class TestCommit:
    def test_a_commit_under_100_ms_is_rejected_with_the_buffered_ms(self, pair):
        """Catalog 8 / §5g: `input_audio_buffer_commit_empty`, two decimals of ms."""
        pair.to_server(audio_append(99.5))
        finding = rejection(pair, commit())
        assert (finding.code, finding.param, finding.event_id) == (
            "input_audio_buffer_commit_empty",
            None,
            "evt_commit",
        )
        assert finding.message == (
            "Error committing input audio buffer: buffer too small. Expected at least 100ms "
            "of audio, but buffer only has 99.50ms of audio."
        )

    def test_a_commit_of_an_empty_buffer_says_zero_ms(self, pair):
        """Catalog 8: "...but buffer only has 0.00ms of audio." (VAD already committed)."""
        assert rejection(pair, commit()).message.endswith("buffer only has 0.00ms of audio.")

    def test_a_commit_of_exactly_100_ms_is_accepted(self, pair):
        """MIN_COMMIT_MS: at least 100 ms."""
        assert MIN_COMMIT_MS == 100
        pair.to_server(audio_append(100))
        assert pair.to_server(commit()).ok

    def test_the_client_refuses_to_commit_under_100_ms(self, pair):
        """Catalog 8: the client knows what it appended."""
        pair.client_sends(audio_append(50))
        with pytest.raises(LocalProtocolError) as caught:
            pair.client.send(commit())
        assert str(caught.value) == (
            "input_audio_buffer.commit: Error committing input audio buffer: buffer too small. "
            "Expected at least 100ms of audio, but buffer only has 50.00ms of audio."
        )

    def test_committed_empties_the_buffer_on_both_sides(self, pair):
        """§5g step 4: `input_audio_buffer.committed` takes the whole buffer."""
        pair.client_sends(audio_append(120))
        assert pair.client_sends(commit()).ok
        event = {"type": "input_audio_buffer.committed", "item_id": USER, "previous_item_id": None}
        assert pair.server_sends(event).ok
        assert pair.server.audio_buffer_ms == pair.client.audio_buffer_ms == 0
        with pytest.raises(LocalProtocolError, match=r"only has 0\.00ms"):
            pair.client.send(commit())

    def test_cleared_empties_the_buffer_on_both_sides(self, pair):
        """§5g: `clear` -> `input_audio_buffer.cleared`."""
        pair.client_sends(audio_append(120))
        pair.client_sends({"type": "input_audio_buffer.clear"})
        assert pair.server.audio_buffer_ms == 120
        assert pair.server_sends({"type": "input_audio_buffer.cleared", "event_id": "e"}).ok
        assert pair.server.audio_buffer_ms == pair.client.audio_buffer_ms == 0

    def test_server_vad_commits_by_itself(self, pair):
        """§5g server_vad: speech_started/stopped then committed, no client commit."""
        pair.client_sends(audio_append(300))
        events = [
            {"type": "input_audio_buffer.speech_started", "audio_start_ms": 0, "item_id": USER},
            {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 280, "item_id": USER},
            {"type": "input_audio_buffer.committed", "item_id": USER, "previous_item_id": None},
        ]
        assert all(received.ok for received in pair.server_sends_all(events))
        assert pair.client.audio_buffer_ms == 0


class TestFormats:
    @pytest.mark.parametrize(("fmt", "bytes_per_ms"), sorted(BYTES_PER_MS.items()))
    def test_buffered_ms_follow_the_session_input_format(self, fmt, bytes_per_ms):
        """BYTES_PER_MS (§8): PCM16 24 kHz 48 bytes/ms; G.711 u-law and A-law 8 bytes/ms."""
        pair = SessionPair()
        pair.open(input_format=fmt)
        pair.client_sends(audio_append(99, bytes_per_ms=bytes_per_ms))
        assert pair.server.audio_buffer_ms == pytest.approx(99)
        assert rejection(pair, commit()).code == "input_audio_buffer_commit_empty"
        pair.client_sends(audio_append(1, bytes_per_ms=bytes_per_ms))
        assert pair.client_sends(commit()).ok

    def test_an_unknown_or_missing_format_counts_as_pcm16(self):
        """The GA default input format is `audio/pcm` at 24 kHz."""
        pair = SessionPair()
        assert pair.client.conversation.input_bytes_per_ms == 48
        pair.open(input_format="audio/opus")
        assert pair.client.conversation.input_bytes_per_ms == 48
        broken = session_created()
        broken["session"]["audio"]["input"]["format"] = {"type": ["audio/pcmu"]}
        broken["session"]["audio"]["output"] = "nothing"
        pair.server_sends({**broken, "type": "session.updated"})
        assert pair.client.conversation.input_bytes_per_ms == 48
        assert pair.client.conversation.output_bytes_per_ms == 48

    def test_the_buffer_is_measured_in_the_current_input_format(self, pair):
        """§5b: `session.updated` changes the format the buffered bytes are counted in."""
        pair.client_sends(audio_append(100))
        update = session_created(input_format="audio/pcmu")
        pair.server_sends({**update, "type": "session.updated"})
        assert pair.client.audio_buffer_ms == 600
