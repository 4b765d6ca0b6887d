"""A recorded huge frame is masked, serialised and written in steps (issue 12, points 1 and 4).

With `realtime-mock serve --record DIR`, each frame holding a 16 MB string (a valid JPEG
data URL, `instructions`, and their echoes) was masked, escaped and written in one call:
60-95 ms of the event loop for an image echo, 293 ms for 16 MB instructions. Now the
recorder queues such a frame and a task writes it (`Transcript.record_line_steps`,
`mock_server._recorder`): 256 KiB per loop turn to prove masking changes nothing,
1 MiB per turn to serialise, one `os.writev` on a worker thread.

These tests check that the file's bytes are exactly those of `record_lines` /
`write_jsonl`, in frame order (later frames wait behind the huge one), that a key is
masked wherever it lies (across a piece boundary too, and the proof never lets one
through), that the number of steps is bounded by the size, and the loop-time bound on a
real recording server.
"""

from __future__ import annotations

import asyncio
import os
import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from conformance import _json
from conformance import transcript as transcript_module
from conformance.transcript import LINE_STEPS_MIN, REDACTED, Transcript, _masker, _unmasked_steps
from mock_server import _recorder
from mock_server._recorder import Recording, _steps_now, drained
from mock_server.server import serve
from tests.abuse.test_echo_steps import (
    ATTACKS,
    CPU_BOUND_S,
    KEY,
    MAX_FRAME,
    STALL_BOUND_S,
    _attack,
    _event,
    _image_item,
    _instructions,
    _masked,
    _Monitor,
)

SIZE = 2_500_000  # over the 1 MiB threshold, small enough to be quick
PIECE = 256 * 1024  # `_MASK_PIECE`
SECRET = "my-own-secret-0123"
TIMEOUT = 30.0


def _transcript(*frames: str) -> Transcript:
    transcript = Transcript.begin(path="/v1/realtime", secrets=[KEY, SECRET])
    for number, text in enumerate(frames):
        transcript.add_text("client" if number % 2 else "server", text, float(number))
    return transcript


def _stepped(transcript: Transcript, index: int) -> bytes:
    steps = transcript.record_line_steps(index)
    assert steps is not None
    return b"".join(_steps_now(steps))


def _whole(transcript: Transcript, index: int) -> bytes:
    return "".join(transcript.record_lines(index, index + 1)).encode()


def _at_boundary(text: str, inserted: str, boundary: int) -> str:
    """`text` with `inserted` spanning character `boundary` of the JSON string it is in."""
    at = boundary - len(inserted) // 2
    return text[:at] + inserted + text[at + len(inserted) :]


# --------------------------------------------------------------------------- exactness
FRAMES: dict[str, str] = {
    "valid JPEG item": _image_item(SIZE),
    "plain instructions": _instructions(SIZE),
    "escapes, non-ASCII, emoji": _instructions(SIZE, 'a "quoted"\n\ttab é 😀 \\ \u2028 '),
    "a key in the middle": _instructions(SIZE // 2) + f" Authorization: Bearer {KEY} " * 3,
    # Keys across a 256 KiB piece boundary (the frame's own JSON offsets: close enough,
    # each spans the boundary by a few characters whatever the head's length).
    "sk- key across a piece boundary": _at_boundary(
        _instructions(SIZE), " sk-proj-abcdefghijklmnopqrst ", 3 * PIECE
    ),
    "api-key: across a piece boundary": _at_boundary(
        _instructions(SIZE), " api-key: 0123456789abcdef0123 ", 5 * PIECE
    ),
    "exact secret across a piece boundary": _at_boundary(
        _instructions(SIZE), f" {SECRET} ", 2 * PIECE
    ),
    "exact secret in base64": _image_item(SIZE).replace("AAEC", SECRET, 1),
    "key word far from any anchor (base64)": _image_item(SIZE).replace("AAEC", "keyX", 50),
}


@pytest.mark.parametrize("name", list(FRAMES))
def test_a_huge_line_in_steps_is_the_whole_line(name: str) -> None:
    text = FRAMES[name]
    transcript = _transcript(_event({"type": "session.created"}), text, "short")
    assert transcript.record_line_steps(0) is None  # small frames: as before
    assert transcript.record_line_steps(2) is None
    stepped = _stepped(transcript, 1)
    assert stepped == _whole(transcript, 1)
    assert stepped.endswith(b"\n")
    if ("key" in name and "base64" not in name) or "secret" in name:
        for key in (KEY, SECRET, "abcdefghijklmnopqrst", "0123456789abcdef0123"):
            assert key.encode() not in stepped
        assert REDACTED.encode() in stepped


def test_a_big_binary_frame_and_close_reason_in_steps() -> None:
    transcript = _transcript()
    transcript.add_binary("client", bytes(range(256)) * (LINE_STEPS_MIN // 256 + 7), 1.0)
    transcript.add_close("client", 1000, f"bye {KEY} " + "x" * LINE_STEPS_MIN, 2.0)
    transcript.add_close("server", 1000, "bye", 3.0)
    assert transcript.record_line_steps(2) is None
    for index in (0, 1):
        assert _stepped(transcript, index) == _whole(transcript, index)
    assert KEY.encode() not in _stepped(transcript, 1)


def test_dumps_pieces_is_dumps() -> None:
    big = 'é"\\\n' * 400_000 + "x" * 70_000
    for obj in ({"a": [big, ("t", big)], "b": "x" * (1 << 20)}, {"small": 1}, [big, None]):
        pieces = list(_json.dumps_pieces(obj))
        assert b"".join(pieces) == orjson.dumps(obj)
        assert max(len(piece) for piece in pieces) <= 2 * _json._DUMP_PIECE + 64 or obj == {
            "small": 1
        }


# The proof (`_unmasked_steps`) never says "unchanged" when masking would change the text.
_FRAGMENTS = (
    "sk-", "ek_", "key", "KEY", "Token", "secret", "password", "passwd", "bearer",
    "Authorization", "api", "api_", "x-api-", "openai-insecure-api-key.", " ", "\n", "\\",
    '"', "'", ":", "=", "-", "_", ",", ";", "abcdefgh", "0123456789", "AAECAwQF", "é",
    "\u2028", "\xa0", SECRET, SECRET[:7], "risk-", "seek_",
)  # fmt: skip


@pytest.mark.parametrize("seed", range(40))
def test_the_proof_never_lets_a_key_through(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transcript_module, "_MASK_PIECE", 16)  # boundaries everywhere
    rng = random.Random(seed)
    full = _masker([SECRET], precheck=False)
    proven = 0
    for _ in range(200):
        text = "".join(rng.choice(_FRAGMENTS) for _ in range(rng.randint(1, 12)))
        if rng.random() < 0.5:  # mostly plain: the proof has something to prove
            text = "".join(c for c in text if c.isalnum() or c in " -")
        if _steps_now_bool(_unmasked_steps(text, [SECRET])):
            proven += 1
            assert full(text) == text, f"{text!r} holds a key but was proven unchanged"
    assert proven > 20


def _steps_now_bool(steps: Any) -> bool:
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return bool(done.value)


def test_the_steps_are_bounded_by_the_size() -> None:
    """The window a crash can lose: a 16 MB frame takes about 16 MB / 256 KiB + 16 MB /
    1 MiB loop turns (80), whatever it holds when no key is in it."""
    for text in (_image_item(MAX_FRAME - 200), _instructions(MAX_FRAME - 200)):
        transcript = _transcript(text)
        steps = transcript.record_line_steps(0)
        assert steps is not None
        turns = 0
        while True:
            try:
                job = next(steps)
            except StopIteration:
                break
            assert job is None  # no whole-text masking
            turns += 1
        assert turns <= MAX_FRAME // PIECE + MAX_FRAME // (1 << 20) + 4


# --------------------------------------------------------------------------- the recorder
def _expected_file(transcript: Transcript, tmp_path: Path) -> bytes:
    return transcript.write_jsonl(tmp_path / "expected.jsonl").read_bytes()


async def test_the_file_is_write_jsonl_and_later_frames_wait_in_order(tmp_path: Path) -> None:
    transcript = _transcript()
    recording = Recording.open(tmp_path, transcript, 1)
    transcript.add_text("server", _event({"type": "session.created"}), 1.0)
    assert recording.path.read_bytes().count(b"\n") == 2  # meta and the frame, at once
    transcript.add_text("client", FRAMES["a key in the middle"], 2.0)
    transcript.add_text("server", _event({"type": "session.updated"}), 3.0)
    transcript.add_text("client", _event({"type": "input_audio_buffer.clear"}), 4.0)
    # Nothing has run on the loop yet: the huge frame and the two after it are queued.
    assert recording.path.read_bytes().count(b"\n") == 2
    transcript.add_text("client", FRAMES["plain instructions"], 5.0)
    transcript.add_close("client", 1000, "", 6.0)
    assert recording.close() == recording.path
    assert await asyncio.wait_for(drained(), TIMEOUT)
    assert recording.path.read_bytes() == _expected_file(transcript, tmp_path)
    assert KEY.encode() not in recording.path.read_bytes()
    assert recording._fd is None  # closed once drained


async def test_a_rewrite_at_close_goes_through_the_queue(tmp_path: Path) -> None:
    transcript = _transcript()
    recording = Recording.open(tmp_path, transcript, 1)
    transcript.add_text("client", FRAMES["valid JPEG item"], 1.0)
    transcript.add_text("server", "short", 2.0)
    transcript.meta["tolerant"] = True  # meta changed after the first line: rewritten
    recording.close()
    assert await asyncio.wait_for(drained(), TIMEOUT)
    assert recording.path.read_bytes() == _expected_file(transcript, tmp_path)
    assert b'"tolerant":true' in recording.path.read_bytes().split(b"\n")[0]


def test_without_an_event_loop_everything_is_written_at_once(tmp_path: Path) -> None:
    transcript = _transcript()
    recording = Recording.open(tmp_path, transcript, 1)
    transcript.add_text("client", FRAMES["valid JPEG item"], 1.0)
    transcript.add_text("server", "short", 2.0)
    assert recording.path.read_bytes().count(b"\n") == 3
    recording.close()
    assert recording.path.read_bytes() == _expected_file(transcript, tmp_path)


async def test_a_failed_write_is_logged_once_and_the_queue_ends(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    transcript = _transcript()
    recording = Recording.open(tmp_path, transcript, 1)
    transcript.add_text("server", "short", 1.0)
    transcript.add_text("client", FRAMES["plain instructions"], 2.0)
    transcript.add_text("server", "after", 3.0)
    assert recording._fd is not None
    os.close(recording._fd)  # the descriptor goes bad under the queue
    recording._fd = os.open(os.devnull, os.O_RDONLY)
    assert recording.close() == recording.path  # not known yet
    assert await asyncio.wait_for(drained(), TIMEOUT)
    assert recording.failed
    assert [r.levelname for r in caplog.records].count("ERROR") == 1
    assert not _recorder._DRAINING


# --------------------------------------------------------------------------- the bound
@pytest.mark.integration
@pytest.mark.parametrize("attack", list(ATTACKS))
async def test_a_recorded_huge_frame_holds_the_loop_briefly(attack: str, tmp_path: Path) -> None:
    """As test_echo_steps' bound, with `--record`: the incoming frame and its echoes are
    recorded in steps. Checked against the recorder before the change (every line whole):
    that fails here. The file is then exactly the transcript's `write_jsonl`."""
    frames = _masked(ATTACKS[attack]()) + _masked(_event({"type": "input_audio_buffer.clear"}))
    folder = tmp_path / "recordings"
    async with serve(port=0, ping_interval=None, pace="fast", record=str(folder)) as server:
        url = f"{server.url}?model=gpt-realtime"
        with _Monitor() as monitor:
            seen = await asyncio.to_thread(_attack, url, frames, b"input_audio_buffer.cleared")
            # The huge frames are in the file soon after (the bounded window).
            assert await asyncio.wait_for(drained(), 10.0)
        [transcript] = server.transcripts
    assert seen > MAX_FRAME - 1000, f"{attack}: only {seen} bytes came back"
    assert monitor.cpu < CPU_BOUND_S, f"{attack}: one turn took {monitor.cpu * 1000:.1f} ms CPU"
    assert monitor.wall < STALL_BOUND_S, f"{attack}: the loop was held {monitor.wall:.3f} s"
    [path] = folder.glob("*.jsonl")
    data = path.read_bytes()
    assert data == _expected_file(transcript, tmp_path)
    assert data.count(b"\n") == len(transcript) + 1
    assert sum(len(line) > MAX_FRAME - 1000 for line in data.split(b"\n")) >= 2  # in, echo
    assert KEY.encode() not in data
