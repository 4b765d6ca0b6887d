"""One frame near the 16 MB limit costs little on the loop, and answers exactly as before.

Issue 12: a 16 MB `input_audio_buffer.append` held the mock's event loop 34-68 ms, mostly
in orjson reading the one base64 string (~20 ms) and the per-10-ms VAD (~12-30 ms).
`conformance._json.loads` now parses a big frame as a skeleton with its long plain
strings cut out; these tests assert that the result and every error are identical to
orjson's on the whole frame (the live-worded `invalid_json` message carries orjson's
position), and that the fast path is the one taken. `bench/bench_fairness.py` measures
the stall itself.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from conformance import _json
from conformance.schemas import parse_client_frame
from tests.mock_server.app_harness import open_app

MAX_FRAME = 16 * 1024 * 1024


def _outcome(parse: Any, text: str) -> tuple[Any, ...]:
    try:
        return ("ok", parse(text))
    except orjson.JSONDecodeError as exc:
        return ("error", str(exc), exc.msg, exc.pos, exc.lineno, exc.colno)


@pytest.fixture
def small_thresholds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every frame takes the fast path and every string of 4+ characters is cut."""
    monkeypatch.setattr(_json, "BIG_FRAME", 0)
    monkeypatch.setattr(_json, "_MIN_RUN", 4)


def _documents(seed: int, count: int) -> Iterator[str]:
    rnd = random.Random(seed)
    alphabet = 'AB+/=\\"\x01\n :,{}[]u0e'
    shapes = [
        '{"type":"input_audio_buffer.append","audio":"%s"}',
        '{"a":["%s","x"],\n "b":{"c":"%s"}}',
        '["%s"',
        '{"k":"%s"  ',
        '"%s"',
        '{"%s":1}',
        '{"a":"%s" "b":1}',
        '{"a":"%s",}',
        '{"a":"%s"}x',
        '[1, 2,\n "%s",\n tru]',
        '{"u":"data:image/jpeg;base64,%s"}',
        '{"u":"data:x\x01,%s"}',
    ]
    for _ in range(count):
        shape = rnd.choice(shapes)
        values = tuple(
            "".join(rnd.choice(alphabet) if rnd.random() < 0.25 else "A" for _ in range(n))
            for n in (rnd.randint(0, 12) for _ in range(shape.count("%s")))
        )
        text = shape % values
        if rnd.random() < 0.2:  # one stray character anywhere
            at = rnd.randint(0, len(text))
            text = text[:at] + rnd.choice(alphabet) + text[at:]
        yield text


@pytest.mark.usefixtures("small_thresholds")
def test_the_skeleton_parse_equals_orjson_on_valid_and_broken_documents() -> None:
    cut = 0
    for text in _documents(seed=12, count=6000):
        assert _outcome(_json.loads, text) == _outcome(orjson.loads, text), repr(text)
        cut += len(_json._plain_runs(text))
    assert cut > 2000  # the fast path really cut strings out


def _append(audio: str) -> str:
    return orjson.dumps({"type": "input_audio_buffer.append", "audio": audio}).decode()


def _loud_audio(size: int) -> str:
    raw = size * 3 // 4 // 2 * 2
    return base64.b64encode((bytes(range(256)) * (raw // 256 + 1))[:raw]).decode()


@pytest.fixture(scope="module")
def big_audio() -> str:
    return _loud_audio(MAX_FRAME - 200)


def _no_whole_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(text: str) -> Any:
        raise AssertionError("the fast path gave up and parsed the whole frame")

    monkeypatch.setattr(_json, "_whole", refuse)


def test_a_16mb_append_is_parsed_without_reading_its_audio_with_orjson(
    big_audio: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = _append(big_audio)
    expected = orjson.loads(text)
    _no_whole_parse(monkeypatch)
    assert _json.loads(text) == expected
    # The strict decoding made to prove it plain is handed to the audio decoder once.
    event = _json.loads(text)
    decoded = _json.take_base64(event["audio"])
    assert decoded == base64.b64decode(big_audio)
    assert _json.take_base64(event["audio"]) is None


def test_a_16mb_data_url_is_parsed_on_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "data:image/jpeg;base64," + _loud_audio(MAX_FRAME - 300)
    part = {"type": "input_image", "image_url": url}
    item = {"type": "message", "role": "user", "content": [part]}
    text = orjson.dumps({"type": "conversation.item.create", "item": item}).decode()
    expected = orjson.loads(text)
    _no_whole_parse(monkeypatch)
    assert _json.loads(text) == expected


def _broken(audio: str) -> dict[str, str]:
    text = _append(audio)
    return {
        "bad base64": _append("!" * len(audio)),
        "control character at the end": text[:-3] + '\x01"}',
        "control character in the middle": text[: len(text) // 2] + "\x1f" + text[len(text) // 2 :],
        "no closing brace": text[:-1],
        "unterminated string": text[:-2],
        "trailing comma": text[:-1] + ",}",
        "escape at the start": _append("\n" + audio),
        "newlines around": text.replace('{"type"', '{\n\n "type"').replace('"}', '"\n ,}'),
    }


@pytest.mark.parametrize(
    "name",
    [
        "bad base64",
        "control character at the end",
        "control character in the middle",
        "no closing brace",
        "unterminated string",
        "trailing comma",
        "escape at the start",
        "newlines around",
    ],
)
def test_a_broken_big_frame_gets_the_same_finding_as_before(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = _broken(_loud_audio(2 * 1024 * 1024))[name]
    fast = parse_client_frame(text, websocket=True)
    assert _outcome(_json.loads, text) == _outcome(orjson.loads, text)
    monkeypatch.setattr(_json, "BIG_FRAME", 1 << 40)  # the old path: orjson on it all
    slow = parse_client_frame(text, websocket=True)
    assert fast[1] == slow[1]
    assert fast[0] == slow[0]


def _answers(frames: list[str]) -> list[dict[str, Any]]:
    _, client = open_app()
    client.recv_event()  # session.created
    for frame in frames:
        client.send(frame)
    events: list[dict[str, Any]] = []
    while isinstance(event := client.recv_event(within_ms=10_000), dict):
        events.append(event)
    return events


def test_the_mock_answers_a_big_append_exactly_as_without_the_fast_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    audio = _loud_audio(3 * 1024 * 1024)
    silence = base64.b64encode(bytes(48 * 1000)).decode()
    frames = [_append(audio), _append(silence), *_broken(audio).values()]
    fast = _answers(frames)
    assert any(e["type"] == "input_audio_buffer.speech_started" for e in fast)
    assert sum(e["type"] == "error" for e in fast) == len(frames) - 2
    monkeypatch.setattr(_json, "BIG_FRAME", 1 << 40)
    assert _answers(frames) == fast
