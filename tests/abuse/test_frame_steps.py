"""One huge client frame is taken in steps over several turns of the loop (issue 12).

`MockApp.receive_text_steps` cuts the long strings out and proves them plain
(`conformance._json.prepare`), parses and records the frame, and answers it, one step per
turn; the driver leaves light turns between the steps and holds the connection's later
frames meanwhile. These tests check that the answers, their order and the transcript are
exactly those of `receive_text`, that the steps really land on separate turns of a real
server, and that nothing found for a frame outlives it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import itertools
import random
from collections.abc import Iterator
from typing import Any

import orjson
import pybase64
import pytest
from websockets.frames import Frame, Opcode

from conformance import _json
from mock_server import app as app_module
from mock_server import media
from mock_server._connection import LIGHT_TURNS
from mock_server._driver import Driver
from mock_server.actions import SendText
from mock_server.app import MockApp
from mock_server.server import serve
from tests.mock_server.app_harness import jpeg_header, open_app
from tests.mock_server.raw_client import RawClient

KEY = "sk-abuse-frame-steps-0123456789"
SIZE = 2_000_000  # over every threshold (1 MiB), small enough to be quick


def _event(event: dict[str, Any]) -> str:
    return orjson.dumps(event).decode()


def _append(audio: str) -> str:
    return _event({"type": "input_audio_buffer.append", "audio": audio})


def _loud(size: int) -> str:
    raw = size * 3 // 4 // 2 * 2
    return base64.b64encode((bytes(range(256)) * (raw // 256 + 1))[:raw]).decode()


def _image(data: bytes, mime: str = "image/jpeg") -> str:
    url = f"data:{mime};base64,{base64.b64encode(data).decode()}"
    part = {"type": "input_image", "image_url": url}
    item = {"type": "message", "role": "user", "content": [part]}
    return _event({"type": "conversation.item.create", "item": item})


def _big_frames() -> dict[str, str]:
    quiet = base64.b64encode(bytes(SIZE * 3 // 4 // 2 * 2)).decode()
    return {
        "loud append": _append(_loud(SIZE)),
        "quiet append": _append(quiet),
        "append, not base64": _append("!" * SIZE),
        "append, no closing brace": _append(_loud(SIZE))[:-1],
        "append, escape near the end": _append(_loud(SIZE))[:-20] + '\\n"}',
        "JPEG of 0xFF bytes": _image(b"\xff\xd8" + b"\xff" * (SIZE * 3 // 4)),
        "valid JPEG": _image(jpeg_header(640, 480) + bytes(range(256)) * (SIZE // 342)),
        "JPEG, padding inside": _image(b"\xff\xd8" + b"\x00" * 100_000)[:-3]
        + "QQ=="
        + "QUJD" * 300_000
        + '"}]}}',
        "big text item": _event(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "lorem ipsum " * (SIZE // 12)}],
                },
            }
        ),
        "not JSON": "x" * SIZE,
    }


def _answers(app: MockApp) -> list[str]:
    return [a.text if isinstance(a, SendText) else repr(a) for a in app.actions_to_perform()]


def _played(frames: list[str], *, steps: bool) -> tuple[list[str], str, int]:
    """Each frame into a fresh app (whole or in steps): its answers, transcript, steps."""
    app, _ = open_app()
    app.actions_to_perform()
    answers: list[str] = []
    taken = 0
    for number, text in enumerate(frames):
        now = 10.0 * (number + 1)
        if steps:
            for _ in app.receive_text_steps(text, now):
                taken += 1
                answers += _answers(app)
        else:
            app.receive_text(text, now)
        answers += _answers(app)
        app.handle_timer(now + 1.0)
        answers += _answers(app)
    records = app.transcript.to_jsonl().split("\n", 1)[1]  # after the meta line (a wall clock)
    return answers, records, taken


@pytest.mark.parametrize("name", list(_big_frames()))
def test_a_big_frame_in_steps_is_answered_exactly_as_whole(name: str) -> None:
    frames = [_big_frames()[name], _event({"type": "input_audio_buffer.clear"})]
    whole = _played(frames, steps=False)
    stepped = _played(frames, steps=True)
    assert stepped[:2] == whole[:2]
    assert stepped[0], "no answer at all"
    # Cut out, proven plain, then parsed and answered; a frame with no string: 2 steps.
    assert stepped[2] >= (1 if name == "not JSON" else 3), "the frame was not taken in steps"
    assert not _json._prepared, "what prepare found outlived the frame"


@pytest.fixture
def small_thresholds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every frame is taken in steps and every string of 4+ characters is cut."""
    monkeypatch.setattr(_json, "BIG_FRAME", 0)
    monkeypatch.setattr(_json, "_MIN_RUN", 4)
    monkeypatch.setattr(app_module, "STEP_TEXT", 0)


def _small_frames(seed: int, count: int) -> Iterator[str]:
    rnd = random.Random(seed)
    shapes = [
        '{"type":"input_audio_buffer.append","audio":"%s"}',
        '{"type":"input_audio_buffer.append","audio":"%s"',
        '{"type":"conversation.item.create","item":{"type":"message","role":"user",'
        '"content":[{"type":"input_text","text":"%s"}]}}',
        '{"type":"conversation.item.create","item":{"type":"message","role":"user",'
        '"content":[{"type":"input_image","image_url":"data:image/png;base64,%s"}]}}',
        '{"type":"session.update","session":{"type":"realtime","instructions":"%s"}}',
        '{"type":"response.create"}',
        '{"type":"input_audio_buffer.commit"}',
    ]
    alphabet = "AQUJD+/=\\n \x01"
    for _ in range(count):
        shape = rnd.choice(shapes)
        value = "".join(
            rnd.choice(alphabet) if rnd.random() < 0.1 else "A" for _ in range(rnd.randint(0, 40))
        )
        yield shape.replace("%s", value)


@pytest.mark.usefixtures("small_thresholds")
def test_every_frame_in_steps_is_answered_exactly_as_whole() -> None:
    for seed in range(40):
        frames = list(_small_frames(seed, 12))
        whole = _played(frames, steps=False)
        stepped = _played(frames, steps=True)
        assert stepped[:2] == whole[:2], frames
        assert stepped[2] >= len(frames)
    assert not _json._prepared


@pytest.mark.parametrize("taken", [0, 1, 2, 3])
def test_a_frame_abandoned_between_steps_leaves_nothing_behind(taken: int) -> None:
    app, _ = open_app()
    app.actions_to_perform()
    frame = _append(_loud(SIZE))
    steps = app.receive_text_steps(frame, 5.0)
    for _ in range(taken):
        next(steps)
        assert not _json._prepared  # what prepare found is taken by the parse, same turn
    steps.close()  # the driver closes it when the connection is gone
    assert not _json._prepared
    assert _answers(app) == []
    app.connection_lost(1000, "", 6.0)
    assert list(app.receive_text_steps(frame, 7.0)) == []


def test_prepare_then_loads_is_loads() -> None:
    text = _append(_loud(SIZE))
    for _ in _json.prepare(text):
        pass
    assert _json._prepared
    value = _json.loads(text)
    assert not _json._prepared
    assert value == orjson.loads(text)
    audio = value["audio"]
    assert _json.take_base64(audio) == base64.b64decode(audio)
    # Prepared for one text, another is parsed: each gets its own, the first stays.
    for _ in _json.prepare(text):
        pass
    other = _append(_loud(SIZE - 4))
    assert _json.loads(other) == orjson.loads(other)
    assert _json._prepared
    _json.unprepare(text)
    assert not _json._prepared


def test_a_data_url_decoded_in_pieces_is_decoded_as_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(media, "_B64_PIECE", 8)
    rnd = random.Random(7)
    alphabet = "QUJDabc+/=\n= x"
    valid = 0
    for _ in range(20_000):
        if rnd.random() < 0.5:
            text = "p," + base64.b64encode(rnd.randbytes(rnd.randrange(30))).decode()
            if rnd.random() < 0.5 and len(text) > 2:
                at = rnd.randrange(2, len(text))
                text = text[:at] + rnd.choice(alphabet) + text[at + 1 :]
        else:
            text = "p," + "".join(rnd.choice(alphabet) for _ in range(rnd.randrange(40)))
        try:
            whole: bytes | None = pybase64.b64decode(text[2:], validate=True)
        except (binascii.Error, ValueError):
            whole = None
        pieces = media._b64decode_pieces(text, 2)
        assert (None if pieces is None else bytes(pieces)) == whole, text
        valid += whole is not None
    assert valid > 5_000


def _masked(payload: bytes) -> bytes:
    return Frame(Opcode.TEXT, payload).serialize(mask=True, extensions=[])


async def test_on_a_server_the_steps_take_separate_turns_and_later_frames_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Steps land on turns at least `LIGHT_TURNS` apart; the next frame is answered after."""
    turns = 0
    step_turns: list[int] = []
    handed: list[tuple[int, int]] = []  # (turn, size) of each frame handed to the app

    async def ticker() -> None:  # one tick per turn of the loop
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    step = Driver._step
    on_message = Driver._on_message

    def stepping(self: Driver) -> None:
        step_turns.append(turns)
        step(self)

    def receiving(self: Driver, message: str | bytes) -> None:
        handed.append((turns, len(message)))
        on_message(self, message)

    monkeypatch.setattr(Driver, "_step", stepping)
    monkeypatch.setattr(Driver, "_on_message", receiving)
    big = _append(_loud(4 * SIZE)).encode()
    wire = _masked(big) + _masked(b"not json")
    async with serve(ping_interval=None) as server:
        tick = asyncio.create_task(ticker())
        try:
            async with RawClient(
                f"{server.url}?model=gpt-realtime", [("Authorization", f"Bearer {KEY}")]
            ) as raw:
                assert await raw.next_of(Opcode.TEXT) is not None  # session.created
                for start in range(0, len(wire), 1 << 20):
                    await raw.write_raw(wire[start : start + (1 << 20)])
                answers = []
                for _ in range(2):
                    frame = await raw.next_of(Opcode.TEXT)
                    assert frame is not None
                    answers.append(orjson.loads(frame.data))
        finally:
            tick.cancel()
    assert [a["type"] for a in answers] == ["input_audio_buffer.speech_started", "error"]
    assert answers[1]["error"]["code"] == "invalid_json"
    assert len(step_turns) >= 3, step_turns  # the first step runs when the frame is handed
    gaps = [b - a for a, b in itertools.pairwise(step_turns)]
    assert min(gaps) > LIGHT_TURNS, step_turns
    big_turn = next(turn for turn, size in handed if size == len(big))
    small_turn = next(turn for turn, size in handed if size == len(b"not json"))
    assert big_turn < step_turns[0] + 1
    assert small_turn > step_turns[-1], (handed, step_turns)
