"""One client cannot stall the others (issue 12): replies and input checks cost in slices.

The bounds asserted here are structural (how much one call into the app may write, how
many tokens one response may make) or have wide margins for a loaded CI machine (the
loop-lag bound is 100 ms; `bench/bench_fairness.py` measures the 20 ms target).
"""

from __future__ import annotations

import asyncio
import base64
import gc
import os
import struct
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest

from conformance import _json
from conformance.protocol import Finding
from mock_server import media
from mock_server.actions import SendText
from mock_server.app import SLICE_BYTES, SLICE_EVENTS
from mock_server.server import serve
from tests.mock_server.app_harness import image_item, jpeg_header, open_app, text_item, until

KEY = "sk-abuse-fairness-0123456789"
TIMEOUT = 10.0
STALL_BOUND_S = 0.100  # generous: the bench's target is 20 ms


def _text_session(app_transport: Any, **session: Any) -> None:
    update = {"type": "realtime", "output_modalities": ["text"], **session}
    app_transport.send({"type": "session.update", "session": update})
    app_transport.events_until(until("session.updated"))


def test_the_reply_to_a_1mb_text_is_written_in_slices_and_bounded() -> None:
    app, client = open_app(pace="fast")  # the worst case: nothing waits between slices
    client.recv_event()  # session.created
    _text_session(client)
    client.send({"type": "conversation.item.create", "item": text_item("word " * 200_000)})
    client.events_until(until("conversation.item.done"))
    app.receive_text(_json.dumps({"type": "response.create"}), client.clock.now_ms())
    first = app.actions_to_perform()
    # One call writes one slice, long before the whole reply could have been built.
    assert 0 < len(first) <= SLICE_EVENTS + 1
    assert sum(len(a.text) for a in first if isinstance(a, SendText)) <= SLICE_BYTES + 64 * 1024
    due = app.next_timer()
    assert due is not None
    assert due <= client.clock.now_ms()  # the rest is due at once: the next turn sends it
    for action in first:
        assert isinstance(action, SendText)
        client._inbox.append(action.text)
    events = client.events_until(until("response.done"))
    done = events[-1]["response"]
    assert done["status"] == "incomplete"
    assert done["status_details"] == {"type": "incomplete", "reason": "max_output_tokens"}
    assert done["usage"]["output_tokens"] <= 4096  # gpt-realtime-1.5's limit (models.yaml)


@pytest.mark.parametrize(("modality", "limit"), [("text", 7), ("audio", 12)])
def test_one_response_makes_at_most_max_output_tokens(modality: str, limit: int) -> None:
    _, client = open_app()
    client.recv_event()
    client.send({"type": "session.update", "session": {"type": "realtime",
                 "output_modalities": [modality], "max_output_tokens": limit}})  # fmt: skip
    client.events_until(until("session.updated"))
    client.send({"type": "conversation.item.create", "item": text_item("a b c " * 1000)})
    client.send({"type": "response.create"})
    done = client.events_until(until("response.done"))[-1]["response"]
    assert done["status"] == "incomplete"
    assert done["status_details"]["reason"] == "max_output_tokens"
    assert 0 < done["usage"]["output_tokens"] <= limit


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (1e308, "integer_above_max_value"),
        (2**64, "integer_above_max_value"),
        (0, "integer_below_min_value"),
        (4097, "integer_above_max_value"),  # gpt-realtime-1.5: 4,096 (models.yaml)
        (1.5, "invalid_type"),
    ],
)
@pytest.mark.parametrize("where", ["session", "response"])
def test_max_output_tokens_out_of_range_is_refused(value: object, code: str, where: str) -> None:
    _, client = open_app()
    client.recv_event()
    body = (
        '{"type":"realtime","max_output_tokens":%s}'
        if where == "session"
        else ('{"max_output_tokens":%s}')
    )
    kind = "session.update" if where == "session" else "response.create"
    text = '{"type":"%s","%s":%s}' % (kind, where, body % _number(value))  # noqa: UP031
    client.send(text)
    error = client.recv_event()
    assert isinstance(error, dict)
    assert error["type"] == "error", error
    assert (error["error"]["code"], error["error"]["param"]) == (code, f"{where}.max_output_tokens")


def _number(value: object) -> str:
    return str(value) if not isinstance(value, float) or value != 1e308 else "1e308"


def test_4097_is_accepted_by_a_32k_output_model() -> None:
    _, client = open_app("/v1/realtime?model=gpt-realtime-2")
    client.recv_event()
    client.send({"type": "session.update",
                 "session": {"type": "realtime", "max_output_tokens": 4097}})  # fmt: skip
    assert client.events_until(until("session.updated"))[-1]["type"] == "session.updated"


def test_a_jpeg_of_fill_bytes_is_refused_without_a_step_per_byte() -> None:
    data = b"\xff\xd8" + b"\xff" * 12_000_000
    start = time.perf_counter()
    assert media._jpeg_size(data) is None
    assert time.perf_counter() - start < 0.5  # was ~20 s (one Python step per byte)
    # Real headers still parse, fill bytes included.
    assert media._jpeg_size(b"\xff\xd8\xff\xff\xff" + jpeg_header(640, 480)[2:]) == (640, 480)
    segment = b"\xff\xe0\x00\x02"  # an empty APP0 segment, repeated past the marker bound
    assert media._jpeg_size(b"\xff\xd8" + segment * 100_000 + jpeg_header(8, 8)[2:]) is None


def test_a_valid_jpeg_image_still_decodes() -> None:
    app, client = open_app()
    client.recv_event()
    client.send({"type": "conversation.item.create",
                 "item": image_item(jpeg_header(320, 200), mime="image/jpeg")})  # fmt: skip
    done = client.events_until(until("conversation.item.done"))[-1]
    assert done["type"] == "conversation.item.done"
    assert isinstance(app.behaviour.images[done["item"]["id"]][0], media.ImageInfo)
    bad = media.decode_image("data:image/jpeg;base64,/9j/", "p", None)
    assert isinstance(bad, Finding)


# --------------------------------------------------------------------------- on sockets
class _LagMonitor:
    """Sleeps 1 ms in a loop; `worst` is the largest overshoot (how long the loop was held)."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(0.001)
            self.worst = max(self.worst, time.perf_counter() - start - 0.001)

    def __enter__(self) -> _LagMonitor:
        self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


def _frame(text: str) -> bytes:
    from websockets.frames import Frame, Opcode

    return Frame(Opcode.TEXT, text.encode()).serialize(mask=True, extensions=[])


async def _raw_connect(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    from websockets.uri import parse_uri

    uri = parse_uri(url)
    reader, writer = await asyncio.open_connection(uri.host, uri.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET {uri.resource_name} HTTP/1.1\r\nHost: {uri.host}:{uri.port}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {KEY}\r\n\r\n"
        ).encode()
    )
    await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    return reader, writer


async def _drain_until(reader: asyncio.StreamReader, marker: bytes) -> int:
    """Read and discard until `marker` shows up in the stream; the bytes read."""
    seen, tail = 0, b""
    async with asyncio.timeout(TIMEOUT):
        while True:
            data = await reader.read(1 << 20)
            assert data, "the server closed the connection"
            seen += len(data)
            if marker in tail + data:
                return seen
            tail = data[-len(marker) :]


async def _sibling_latency(url: str) -> float:
    reader, writer = await _raw_connect(url)
    start = time.perf_counter()  # after the upgrade: session.created is the first frame
    try:
        await _drain_until(reader, b"session.created")
    finally:
        writer.transport.abort()
    return time.perf_counter() - start


def _text_attack() -> list[bytes]:
    item = text_item("lorem ipsum dolor sit amet " * 2300)  # ~60 KB
    return [
        _frame(_json.dumps({"type": "conversation.item.create", "item": item})),
        _frame(_json.dumps({"type": "response.create"})),
    ]


def _jpeg_attack() -> list[bytes]:
    url = "data:image/jpeg;base64," + base64.b64encode(b"\xff\xd8" + b"\xff" * 3_000_000).decode()
    item = {"type": "message", "role": "user", "content": [{"type": "input_image",
            "image_url": url}]}  # fmt: skip
    return [_frame(_json.dumps({"type": "conversation.item.create", "item": item}))]


def _small_frames_attack() -> list[bytes]:
    return [_frame('{"type":"input_audio_buffer.clear"}') * 20_000]


ATTACKS: dict[str, tuple[Callable[[], list[bytes]], bytes]] = {
    "60 KB text + response.create": (_text_attack, b'"response.done"'),
    "3 MB JPEG of fill bytes": (_jpeg_attack, b'"error"'),
    "20,000 small frames": (_small_frames_attack, b"input_audio_buffer.cleared"),
}


@pytest.mark.integration
@pytest.mark.parametrize("attack", list(ATTACKS))
async def test_an_attack_holds_the_loop_briefly_and_a_sibling_still_connects(attack: str) -> None:
    build, marker = ATTACKS[attack]
    frames = build()
    # Fast: the reply to an attack is written as fast as the slices allow (the worst case).
    async with serve(port=0, ping_interval=None, pace="fast") as server:
        url = f"{server.url}?model=gpt-realtime"
        reader, writer = await _raw_connect(url)
        await _drain_until(reader, b"session.created")
        with _LagMonitor() as monitor:
            writer.write(b"".join(frames))
            attacked = asyncio.create_task(_drain_until(reader, marker))
            sibling = await _sibling_latency(url)
            await attacked
        writer.transport.abort()
    assert monitor.worst < STALL_BOUND_S, f"{attack}: the loop was held {monitor.worst:.3f} s"
    assert sibling < 1.0, f"{attack}: a sibling waited {sibling:.3f} s for session.created"


@pytest.mark.integration
async def test_the_buffer_of_a_frame_in_progress_is_dropped_when_the_socket_goes() -> None:
    async with serve(port=0, ping_interval=None, max_message_size=None) as server:
        url = f"{server.url}?model=gpt-realtime"
        reader, writer = await _raw_connect(url)
        await _drain_until(reader, b"session.created")
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            size = 64 * 1024 * 1024
            header = struct.pack("!BBQ", 0x81, 0x80 | 127, size) + b"mask"
            writer.write(header + b"x" * (8 * 1024 * 1024))  # an eighth of the frame
            await writer.drain()
            connections = list(server._server.connections)  # type: ignore[union-attr]
            writer.close()  # the server reads the eighth, then the end of the stream
            async with asyncio.timeout(TIMEOUT):
                for connection in connections:
                    await connection.wait_closed()
            assert all(len(c._pending) == 0 for c in connections)
            gc.collect()
            held = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
    assert held < 2 * 1024 * 1024, f"{held / 1e6:.1f} MB still held after the socket went"
