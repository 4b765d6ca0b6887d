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

import asyncio
import base64
import hashlib
import random
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest
from websockets.frames import Close, Frame, Opcode

from conformance import _json
from conformance.schemas import parse_client_frame
from mock_server._connection import Connection
from mock_server.config import MockConfig
from mock_server.media import MAX_KEPT_AUDIO, KeptAudio
from mock_server.request import ConnectRequest
from mock_server.server import MockServer, serve
from tests.mock_server.app_harness import open_app
from tests.mock_server.raw_client import RawClient
from tests.mock_server.stub_app import StubApp

MAX_FRAME = 16 * 1024 * 1024
KEY = "sk-abuse-huge-frames-0123456789"
TIMEOUT = 10.0


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


# --- the connection: a big frame is unmasked and decoded as its bytes arrive ----------
class _DigestApp(StubApp):
    """Answers each frame with its length and digest (a 16 MB echo would not fit)."""

    def __init__(self, request: ConnectRequest, config: MockConfig) -> None:
        super().__init__(request, config)

    def receive_text(self, text: str, now_ms: float) -> None:
        self._send(_digest_event("text", text.encode()), now_ms)

    def receive_bytes(self, data: bytes, now_ms: float) -> None:
        self._send(_digest_event("bytes", data), now_ms)

    def _send(self, event: dict[str, Any], now_ms: float) -> None:
        event.setdefault("event_id", self._event_id())
        super()._send(event, now_ms)


def _digest_event(kind: str, data: bytes) -> dict[str, Any]:
    return {"type": kind, "size": len(data), "sha": hashlib.sha256(data).hexdigest()}


@asynccontextmanager
async def _session() -> AsyncIterator[tuple[MockServer, RawClient]]:
    server: MockServer
    async with (
        serve(app_factory=_DigestApp, ping_interval=None) as server,
        RawClient(f"{server.url}?model=gpt-realtime", [("Authorization", f"Bearer {KEY}")]) as raw,
    ):
        assert await raw.next_of(Opcode.TEXT) is not None  # session.created
        yield server, raw


def _masked(opcode: Opcode, payload: bytes) -> bytes:
    return Frame(opcode, payload).serialize(mask=True, extensions=[])


async def _answer(raw: RawClient) -> dict[str, Any]:
    frame = await raw.next_of(Opcode.TEXT)
    assert frame is not None, "no answer"
    answer: dict[str, Any] = _json.loads(bytes(frame.data))
    answer.pop("event_id", None)
    return answer


async def _until(condition: Any) -> None:
    """Wait (bounded) until the server's loop has made `condition()` true."""
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, "the server never got there"
        await asyncio.sleep(0.001)


@pytest.mark.parametrize("piece", [65_536, 100_003, 7_777])
async def test_a_big_text_frame_cut_anywhere_arrives_whole_and_in_order(piece: int) -> None:
    # Multi-byte characters everywhere: TCP pieces split them, the decoder must not care.
    text = ("é" * 3 + "a€b𝄞") * 110_000  # ~1.9 MB of UTF-8
    payload = text.encode()
    wire = _masked(Opcode.TEXT, payload) + _masked(Opcode.TEXT, b"after")
    async with _session() as (server, raw):
        connection = next(iter(server._server.connections))  # type: ignore[union-attr]
        assert isinstance(connection, Connection)
        half = len(wire) // 2
        for start in range(0, half, piece):
            await raw.write_raw(wire[start : min(start + piece, half)])
        # The first half is unmasked and decoded already; nothing raw piles up.
        await _until(lambda: connection._big is not None and connection._big.received >= half - 20)
        assert len(connection._pending) == 0
        for start in range(half, len(wire), piece):
            await raw.write_raw(wire[start : start + piece])
        assert await _answer(raw) == _digest_event("text", payload)
        assert await _answer(raw) == _digest_event("text", b"after")
        assert connection._big is None


async def test_a_big_binary_frame_arrives_whole() -> None:
    payload = bytes(range(256)) * 5000
    async with _session() as (_, raw):
        wire = _masked(Opcode.BINARY, payload)
        for start in range(0, len(wire), 50_001):
            await raw.write_raw(wire[start : start + 50_001])
        assert await _answer(raw) == _digest_event("bytes", payload)


def _utf8_error(payload: bytes) -> str:
    try:
        payload.decode()
    except UnicodeDecodeError as exc:
        return f"{exc.reason} at position {exc.start}"
    raise AssertionError("valid UTF-8")


@pytest.mark.parametrize(
    ("where", "bad"),
    [
        (1_200_000, b"\xff"),  # an invalid start byte inside a piece
        (65_536 * 9 - 1, b"\xe2\x82"),  # a 3-byte character cut short across pieces
        (65_536 * 9 - 1, b"\xc3\x28"),  # an invalid continuation across pieces
        (None, b"\xf0\x9d\x84"),  # the frame ends inside a character
    ],
    ids=["start byte", "cut short", "bad continuation", "unexpected end"],
)
async def test_invalid_utf8_in_a_big_frame_fails_as_before(where: int | None, bad: bytes) -> None:
    body = b"x" * 1_500_000
    at = len(body) if where is None else where
    payload = body[:at] + bad + body[at:]
    wire = _masked(Opcode.TEXT, payload) + _masked(Opcode.TEXT, b"never")
    async with _session() as (_, raw):
        for start in range(0, len(wire), 65_536):
            await raw.write_raw(wire[start : start + 65_536])
        frame = await raw.next_of(Opcode.CLOSE)
        assert frame is not None
        close = Close.parse(frame.data)
        assert (close.code, close.reason) == (1007, _utf8_error(payload))


async def test_a_16mb_append_is_joined_and_answered_on_separate_turns(
    big_audio: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The turn that completes the frame joins its text; the app reads it a turn later."""
    turns = 0
    seen: dict[str, int] = {}

    async def ticker() -> None:  # one tick per turn of the loop
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    feed_big = Connection._feed_big

    def completing(self: Connection, data: bytes) -> bytes:
        rest = feed_big(self, data)
        if self._big is None:
            seen.setdefault("joined", turns)
        return rest

    def refuse(text: str) -> Any:
        raise AssertionError("the fast path gave up and parsed the whole frame")

    monkeypatch.setattr(Connection, "_feed_big", completing)
    monkeypatch.setattr(_json, "_whole", refuse)
    frame = _masked(Opcode.TEXT, _append(big_audio).encode())
    async with serve(ping_interval=None) as server:
        tick = asyncio.create_task(ticker())
        try:
            async with RawClient(
                f"{server.url}?model=gpt-realtime", [("Authorization", f"Bearer {KEY}")]
            ) as raw:
                assert await raw.next_of(Opcode.TEXT) is not None  # session.created
                connection = next(iter(server._server.connections))  # type: ignore[union-attr]
                assert isinstance(connection, Connection)
                on_message = connection.on_message
                assert on_message is not None

                def receiving(message: str | bytes) -> None:
                    if len(message) > 1_000_000:
                        seen.setdefault("read", turns)
                    on_message(message)

                connection.on_message = receiving
                for start in range(0, len(frame), 1 << 20):
                    await raw.write_raw(frame[start : start + (1 << 20)])
                answer = await _answer(raw)
        finally:
            tick.cancel()
    assert answer["type"] == "input_audio_buffer.speech_started"
    assert seen["read"] > seen["joined"], seen


@pytest.mark.parametrize(
    "body",
    [
        "QUJD" * 700_000,  # base64, checked in pieces
        "QUJD" * 400_000 + "QQ==" + "QUJD" * 300_000,  # padding inside: plain, not base64
        "QUJD" * 16_384 + "\x01" + "QUJD" * 400_000,  # a control character on a piece edge
        "QUJD" * 400_000 + "\\n" + "QUJD" * 10,  # an escape near the end
    ],
    ids=["base64", "padding inside", "control character", "escape"],
)
def test_a_big_data_url_parses_as_orjson_parses_it(body: str) -> None:
    text = '{"type":"conversation.item.create","item":{"type":"message","role":"user",'
    text += '"content":[{"type":"input_image","image_url":"data:image/png;base64,'
    text += body + '"}]}}'
    assert _outcome(_json.loads, text) == _outcome(orjson.loads, text)


def test_the_kept_audio_of_a_big_append_is_not_copied() -> None:
    kept = KeptAudio()
    audio = bytes(12 * 1024 * 1024)
    kept.append(audio)
    kept.commit("item_big")
    assert kept.get("item_big") is audio  # the decoded append itself: no 12 MB copy
    kept.append(b"ab")
    kept.append(b"cd")
    kept.append(bytes(MAX_KEPT_AUDIO))  # over the bound: not kept, as before
    kept.commit("item_small")
    assert kept.get("item_small") == b"abcd"
