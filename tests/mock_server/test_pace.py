"""`MockConfig.pace`: live-like timing by default, fast on request (in memory, virtual clock).

The live pace keeps a response active for a first-delta latency and a token stream, and
sends input transcription on its own clock; every figure is drawn per stream from the
seed, so a run is reproducible. The same flows over real sockets are in
`test_pace_on_sockets.py`.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from conformance.protocol.errors import ConfigError, UsageError
from mock_server.app import pace_of
from mock_server.cli import main
from mock_server.config import MockConfig
from mock_server.media import silence_pcm16, synth_pcm16
from mock_server.responder import (
    LIVE_FIRST_DELTA_MS,
    LIVE_TOKENS_PER_SECOND,
    LIVE_TRANSCRIPTION_MS,
    Pace,
)
from mock_server.settings import config_from_args, config_from_yaml, merge

from .app_harness import open_app, text_item, types, until
from .test_app_flows import assert_clean

TEXT = {"type": "realtime", "output_modalities": ["text"]}
LONG_TEXT = " ".join(f"word{n}" for n in range(40))


def server_times(app: Any) -> list[tuple[float, dict[str, Any]]]:
    """(t_ms, event) of every server frame of the session, in order."""
    return [
        (r.t_ms, json.loads(r.text))
        for r in app.transcript.records
        if r.direction == "server" and r.text is not None
    ]


def one_text_response(**config: Any) -> tuple[Any, list[tuple[float, dict[str, Any]]]]:
    app, transport = open_app(**config)
    transport.recv_event()
    transport.send({"type": "session.update", "session": TEXT})
    transport.events_until(until("session.updated"))
    transport.send({"type": "conversation.item.create", "item": text_item(LONG_TEXT)})
    transport.events_until(until("conversation.item.done"))
    transport.send({"type": "response.create"})
    transport.events_until(until("response.done"))
    timed = server_times(app)
    start = next(i for i, (_, e) in enumerate(timed) if e["type"] == "response.created")
    return app, timed[start:]


def first_delta_and_rate(timed: list[tuple[float, dict[str, Any]]]) -> tuple[float, float]:
    created = timed[0][0]
    deltas = [t for t, e in timed if e["type"] == "response.output_text.delta"]
    span_s = (deltas[-1] - deltas[0]) / 1000
    return deltas[0] - created, (len(deltas) - 1) / span_s if span_s else float("inf")


# --------------------------------------------------------------------------- defaults


def test_the_default_pace_is_live() -> None:
    assert MockConfig().pace == "live"
    assert config_from_args([]).pace == "live"


def test_live_pace_has_a_first_delta_latency_and_a_token_rate_in_the_live_range() -> None:
    app, timed = one_text_response()
    first, rate = first_delta_and_rate(timed)
    assert LIVE_FIRST_DELTA_MS[0] <= first <= LIVE_FIRST_DELTA_MS[1]
    # Per-delta jitter averages out over 40+ tokens; allow it a little either way.
    low, high = LIVE_TOKENS_PER_SECOND
    assert low * 0.9 <= rate <= high * 1.1
    assert timed[-1][0] - timed[0][0] >= 1000 * (LIVE_FIRST_DELTA_MS[0] / 1000 + 40 / high)
    assert_clean(app)


def test_live_timing_is_reproducible_from_the_seed() -> None:
    def timings(seed: int) -> list[float]:
        _, timed = one_text_response(seed=seed)
        return [t - timed[0][0] for t, _ in timed]

    assert timings(3) == timings(3)
    assert timings(3) != timings(4)


def test_fast_pace_sends_a_whole_response_at_once() -> None:
    app, timed = one_text_response(pace="fast")
    assert {t for t, _ in timed if _["type"] != "rate_limits.updated"} == {timed[0][0]}
    assert_clean(app)


def test_a_set_field_is_exact_and_overrides_the_pace() -> None:
    _, timed = one_text_response(first_delta_delay=0.25, text_tokens_per_second=20.0)
    first, rate = first_delta_and_rate(timed)
    assert first == 250.0
    assert rate == pytest.approx(20.0)
    _, timed = one_text_response(pace="fast", first_delta_delay=0.1)
    first, rate = first_delta_and_rate(timed)
    assert (first, rate) == (100.0, float("inf"))
    _, timed = one_text_response(text_tokens_per_second=0.0)  # 0: as fast as possible
    assert first_delta_and_rate(timed)[1] == float("inf")


def test_pace_of_resolves_ranges_and_exact_values() -> None:
    live = pace_of(MockConfig())
    assert live.first_delta_ms == LIVE_FIRST_DELTA_MS
    assert live.tokens_per_second == LIVE_TOKENS_PER_SECOND
    assert live.transcription_ms == LIVE_TRANSCRIPTION_MS
    assert live.jitter > 0
    assert pace_of(MockConfig(pace="fast")) == Pace()
    exact = pace_of(MockConfig(first_delta_delay=0.5, transcription_delay=2.0))
    assert exact.first_delta_ms == (500.0, 500.0)
    assert exact.transcription_ms == (2000.0, 2000.0)


def test_an_unknown_pace_is_refused_with_the_choices(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(UsageError, match="pace: expected one of live, fast, got 'slow'"):
        MockConfig(pace="slow")
    with pytest.raises(UsageError, match="pace: expected one of live, fast"):
        merge(MockConfig(), {"pace": "slow"})
    config = tmp_path / "mock.yaml"
    config.write_text("pace: slow\n")
    with pytest.raises(ConfigError, match=r"mock\.yaml: pace: expected one of live, fast"):
        config_from_yaml(config)
    assert config_from_args(["--pace", "fast"]).pace == "fast"
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--pace", "slow"])
    assert exited.value.code == 2
    assert "--pace: invalid choice: 'slow' (choose from 'live', 'fast')" in capsys.readouterr().err


# ---------------------------------------------------------- divergence 1: the race


def test_back_to_back_creates_collide_by_default() -> None:
    """Issue 13 (1): with the default pace the second create meets an active response."""
    app, transport = open_app()
    transport.recv_event()
    transport.send({"type": "conversation.item.create", "item": text_item("Count to ten.")})
    transport.send({"type": "response.create", "event_id": "evt_first"})
    transport.send({"type": "response.create", "event_id": "evt_second"})
    events = transport.events_until(until("response.done"))
    errors = [e["error"] for e in events if e["type"] == "error"]
    assert [e["code"] for e in errors] == ["conversation_already_has_active_response"]
    assert errors[0]["event_id"] == "evt_second"
    assert types(events).count("response.created") == 1
    assert events[-1]["response"]["status"] == "completed"
    assert transport.recv(within_ms=5_000) is not None  # rate_limits.updated
    assert transport.recv(within_ms=5_000) is None  # no second response
    assert_clean(app)


def test_response_cancel_meets_the_active_response_by_default() -> None:
    app, transport = open_app()
    transport.recv_event()
    transport.send({"type": "response.create"})
    assert transport.recv_event()["type"] == "response.created"
    transport.send({"type": "response.cancel"})
    events = transport.events_until(until("response.done"))
    assert "error" not in types(events)
    details = events[-1]["response"]["status_details"]
    assert details == {"type": "cancelled", "reason": "client_cancelled"}
    assert_clean(app)


# --------------------------------------------------- divergences 2 and 3: audio turns


def pcm(ms: int, loud: bool) -> str:
    data = synth_pcm16(ms, seed=1) if loud else silence_pcm16(ms)
    return base64.b64encode(data).decode()


def speak(transport: Any, speech_ms: int = 400, silence_ms: int = 600) -> None:
    for _ in range(speech_ms // 40):
        transport.send({"type": "input_audio_buffer.append", "audio": pcm(40, True)})
    for _ in range(silence_ms // 40):
        transport.send({"type": "input_audio_buffer.append", "audio": pcm(40, False)})


def transcribing(**config: Any) -> tuple[Any, Any]:
    app, transport = open_app(**config)
    transport.recv_event()
    transcription = {"model": "gpt-4o-mini-transcribe"}
    session = {"type": "realtime", "audio": {"input": {"transcription": transcription}}}
    transport.send({"type": "session.update", "session": session})
    transport.events_until(until("session.updated"))
    return app, transport


def test_live_transcription_is_asynchronous_in_several_deltas() -> None:
    """Issue 13 (2): on its own clock, ~1.2 s after the commit, after response.created."""
    app, transport = transcribing()
    speak(transport)
    seen: set[str] = set()
    wanted = {"conversation.item.input_audio_transcription.completed", "response.done"}
    transport.events_until(lambda e: seen.add(e["type"]) or wanted <= seen)
    timed = server_times(app)
    names = [e["type"] for _, e in timed]
    committed = next(t for t, e in timed if e["type"] == "input_audio_buffer.committed")
    deltas = [(t, e) for t, e in timed if e["type"].endswith("input_audio_transcription.delta")]
    completed = next(e for _, e in timed if e["type"].endswith("transcription.completed"))
    assert len(deltas) >= 2
    assert "".join(e["delta"] for _, e in deltas) == completed["transcript"]
    assert LIVE_TRANSCRIPTION_MS[0] <= deltas[0][0] - committed <= LIVE_TRANSCRIPTION_MS[1]
    assert names.index("response.created") < names.index(deltas[0][1]["type"])
    assert_clean(app)


def test_fast_transcription_still_comes_in_several_deltas() -> None:
    app, transport = transcribing(pace="fast")
    speak(transport)
    events = transport.events_until(until("response.done"))
    deltas = [e for e in events if e["type"].endswith("input_audio_transcription.delta")]
    assert len(deltas) >= 2
    assert_clean(app)


def test_transcription_delay_sets_when_transcription_starts() -> None:
    app, transport = transcribing(pace="fast", transcription_delay=3.0)
    speak(transport)
    transport.events_until(until("conversation.item.input_audio_transcription.completed"))
    timed = server_times(app)
    committed = next(t for t, e in timed if e["type"] == "input_audio_buffer.committed")
    first = next(t for t, e in timed if e["type"].endswith("input_audio_transcription.delta"))
    assert first - committed == 3000.0


@pytest.mark.parametrize("config", [{}, {"first_delta_delay": 0.5}], ids=["live", "set-delay"])
def test_barge_in_sends_speech_started_before_the_cancelled_response(config: Any) -> None:
    """Issue 13 (3): speech_started first, then the cancel and its terminal events."""
    app, transport = open_app(**config)
    transport.recv_event()
    speak(transport)
    transport.events_until(until("response.created"))
    speak(transport, silence_ms=0)  # the user talks over the reply
    events = transport.events_until(until("response.done"))
    names = types(events)
    assert names.index("input_audio_buffer.speech_started") < names.index("response.done")
    assert events[-1]["response"]["status_details"] == {
        "type": "cancelled",
        "reason": "turn_detected",
    }
    # None of the cancelled response's terminal events comes before speech_started.
    ending = ("response.output_audio.done", "response.content_part.done", "response.done")
    first_end = min(names.index(name) for name in ending)
    assert names.index("input_audio_buffer.speech_started") < first_end
    assert_clean(app)
