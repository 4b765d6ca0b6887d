"""One big append holding a thousand speech turns is heard in steps (issue 12).

A 16 MB `input_audio_buffer.append` with a loud 10 ms frame every 210 ms holds about
1,250 speech turns, each a commit, an item and a response: answered in one go, that held
the event loop for about 110 ms (`bench/bench_fairness.py --attacks vad-edges`). The VAD
now takes `STEP_AUDIO` bytes of an append per step, cut on frame boundaries, so the
answers are those of one feed and no step holds more than a few dozen turns.
"""

from __future__ import annotations

import asyncio
import base64
import gc
from typing import Any

import pytest

from mock_server import behaviour
from mock_server.behaviour import Behaviour
from mock_server.server import serve
from mock_server.vad import ServerVad
from tests.abuse.test_echo_steps import (
    CPU_BOUND_S,
    MAX_FRAME,
    STALL_BOUND_S,
    _attack,
    _event,
    _masked,
    _Monitor,
    _played,
)

FRAME = 480  # bytes of 10 ms of 24 kHz PCM16
# One loud 10 ms frame, then 200 ms of silence (the default silence_duration_ms).
CYCLE = b"\x00\x40" * (FRAME // 2) + bytes(20 * FRAME)


def _append(audio: bytes) -> str:
    return _event({"type": "input_audio_buffer.append", "audio": base64.b64encode(audio).decode()})


def _turns(size: int) -> bytes:
    return CYCLE * (size // len(CYCLE))


def test_an_append_in_steps_is_answered_exactly_as_in_one_feed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A small append of 7 ms first: the VAD keeps a partial frame, so the big append's
    # pieces must be cut after it, on frame boundaries, to hear the same turns.
    frames = [_append(CYCLE[: 7 * 48]), _append(_turns(1_100_000))]
    monkeypatch.setattr(behaviour, "STEP_AUDIO", 100_003)  # many pieces, cut unaligned
    stepped = _played(frames)
    monkeypatch.setattr(behaviour, "STEP_AUDIO", 1 << 40)  # the whole append at once
    whole = _played(frames)
    assert stepped[:2] == whole[:2]
    started = sum('"input_audio_buffer.speech_started"' in text for text in stepped[0])
    assert started > 100, f"only {started} speech turns were heard"
    assert stepped[2] >= whole[2] + 10, "the append was not heard in steps"


def test_no_step_hears_more_than_a_few_dozen_turns(monkeypatch: pytest.MonkeyPatch) -> None:
    counts: list[int] = [0]
    original = Behaviour._speech_stopped

    def counted(self: Behaviour, end_ms: int) -> None:
        counts[-1] += 1
        original(self, end_ms)

    monkeypatch.setattr(Behaviour, "_speech_stopped", counted)
    from tests.mock_server.app_harness import open_app

    app, _ = open_app(pace="fast")
    app.actions_to_perform()
    for _ in app.receive_text_steps(_append(_turns(12_000_000)), 10.0):
        counts.append(0)
        app.actions_to_perform()
    assert sum(counts) > 1_000
    # STEP_AUDIO bytes of audio per step: ~50 turns of 210 ms at most.
    assert max(counts) <= behaviour.STEP_AUDIO // len(CYCLE) + 1


@pytest.mark.parametrize("rest", [0, 1, 479, 480, 481])
@pytest.mark.parametrize("size", [0, 1, 480, 100_000, 1_048_576])
def test_vad_cuts_end_on_frame_boundaries(rest: int, size: int) -> None:
    vad = ServerVad(threshold=0.5, prefix_padding_ms=300, silence_duration_ms=200)
    vad.feed(bytes(rest))  # leaves rest % 480 bytes over
    left = rest % vad.frame_bytes
    cuts = vad.cuts(size, 100_003)
    assert cuts[0] == 0
    assert cuts == sorted(set(cuts))
    assert all(0 <= cut < max(size, 1) for cut in cuts)
    for cut in cuts[1:]:
        assert (left + cut) % vad.frame_bytes == 0
    pieces = [b - a for a, b in zip(cuts, [*cuts[1:], size], strict=True)]
    assert all(piece <= 100_003 for piece in pieces)


@pytest.mark.integration
async def test_a_thousand_turns_in_one_append_hold_the_loop_briefly() -> None:
    raw = (MAX_FRAME - 200) * 3 // 4
    frames = _masked(_append(_turns(raw))) + _masked(_event({"type": "input_audio_buffer.clear"}))
    # The bound is on the mock's own steps. A full pass of the garbage collector walks
    # every object of the process (here every test module, the attack's 1,250 items): 50-90
    # ms in this process, whatever the mock does, so it is kept out of the window.
    # `bench/bench_fairness.py --attacks vad-edges` measures the whole, collector included,
    # on a `realtime-mock serve` process (which freezes its startup objects).
    gc.collect()
    gc.disable()
    try:
        async with serve(port=0, ping_interval=None, pace="fast") as server:
            url = f"{server.url}?model=gpt-realtime"
            with _Monitor() as monitor:
                seen: Any = await asyncio.to_thread(
                    _attack, url, frames, b"input_audio_buffer.cleared"
                )
    finally:
        gc.enable()
    assert seen > 1_000_000, f"only {seen} bytes came back"
    assert monitor.cpu < CPU_BOUND_S, f"one turn took {monitor.cpu * 1000:.1f} ms CPU"
    assert monitor.wall < STALL_BOUND_S, f"the loop was held {monitor.wall:.3f} s"
