"""The server VAD costs per speech boundary, not per 10 ms of audio (issue 12).

A 16 MB append carries 12 MB of PCM (250 s of audio, 25,000 frames of 10 ms); the VAD
judged it with one Python step per frame (~12-30 ms on the loop). `ServerVad.feed` now
maps the whole append with one `bytes.translate` and jumps from boundary to boundary
with `bytes.find`. These tests pin that its events and state equal the per-frame
reference (`ServerVad._feed_slow`) on random audio, and that the Python steps do not
grow with the audio's length.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from mock_server.vad import ServerVad, VadEvent


def _audio(rnd: random.Random, frames: int, frame_bytes: int, flip: float) -> bytes:
    """Runs of loud and quiet 10 ms frames; a loud frame has one loud sample somewhere."""
    out = bytearray()
    loud = False
    for _ in range(frames):
        if rnd.random() < flip:
            loud = not loud
        frame = bytearray(frame_bytes)
        if loud:
            at = rnd.randrange(frame_bytes)
            frame[at] = rnd.choice([0x40, 0xB0, 0x7F, 0x0C, 0xF4])
        out += frame
    return bytes(out)


def _state(vad: ServerVad, events: list[VadEvent]) -> tuple[Any, ...]:
    return (events, vad.position_ms, vad.speaking, vad._silence_ms, vad._last_speech_end_ms)


@pytest.mark.parametrize("seed", range(4))
def test_the_vectorised_vad_equals_the_per_frame_reference(seed: int) -> None:
    rnd = random.Random(seed)
    for _ in range(400):
        options: dict[str, Any] = {
            "threshold": rnd.choice([0.0, 0.1, 0.5, 0.9, 1.0]),
            "prefix_padding_ms": rnd.choice([0, 300]),
            "silence_duration_ms": rnd.choice([0, 10, 15, 30, 200, 500]),
            "bytes_per_ms": rnd.choice([48, 32, 16]),
        }
        if rnd.random() < 0.3:
            options["fmt"] = rnd.choice(["audio/pcmu", "audio/pcma"])
        fast, slow = ServerVad(**options), ServerVad(**options)
        frames = rnd.randint(0, 300)
        audio = _audio(rnd, frames, fast.frame_bytes, rnd.choice([0.02, 0.2, 0.7]))
        cuts = sorted(rnd.sample(range(len(audio) + 1), min(len(audio) + 1, rnd.randint(0, 6))))
        for start, stop in zip([0, *cuts], [*cuts, len(audio)], strict=True):
            if rnd.random() < 0.05:
                fast.reset()
                slow.reset()
            piece = audio[start:stop]
            assert _state(fast, fast.feed(piece)) == _state(slow, slow._feed_slow(piece)), options


def _steps(vad: ServerVad, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record each Python-level step of `feed` (the speech-state methods it calls)."""
    steps: list[str] = []
    for name in ("_speaking_from", "_loud_frame", "_quiet_frames", "_stop"):
        method = getattr(vad, name)

        def step(*args: Any, _name: str = name, _method: Any = method) -> Any:
            steps.append(_name)
            return _method(*args)

        monkeypatch.setattr(vad, name, step)
    return steps


def test_twelve_megabytes_of_speech_take_a_few_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    pcm = bytes(range(256)) * (12 * 1024 * 1024 // 256)  # loud from start to end
    vad = ServerVad()
    steps = _steps(vad, monkeypatch)
    events = vad.feed(pcm)
    assert [type(e).__name__ for e in events] == ["SpeechStarted"]
    assert vad.position_ms == len(pcm) // 480 * 10  # whole 10 ms frames
    assert len(steps) <= 5, steps  # was one step per 10 ms frame: 26,214


def test_the_steps_grow_with_the_speech_turns_not_the_audio(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    turn = b"\x00\x40" * 240 + bytes(480 * 30)  # 10 ms of speech, 300 ms of silence
    vad = ServerVad(silence_duration_ms=200)
    steps = _steps(vad, monkeypatch)
    events = vad.feed(turn * 100 + bytes(480 * 20_000))  # then 200 s of silence
    assert len(events) == 200  # 100 starts, 100 stops
    assert len(steps) <= 5 * 100, len(steps)
