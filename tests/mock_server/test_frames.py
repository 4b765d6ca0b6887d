"""Client frames reach the app intact however TCP cuts them, and bad frames fail as before.

The mock parses plain data frames itself (`mock_server._driver.Connection.data_received`)
and hands every other frame to websockets; these tests write frames byte by byte.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.frames import Close, Frame, Opcode

from conformance import _json
from mock_server._connection import frame_bounds
from mock_server.server import MockServer, serve
from tests.mock_server.raw_client import RawClient
from tests.mock_server.stub_app import StubApp

pytestmark = pytest.mark.integration

KEY = "sk-proj-frames0123456789abcdef"
AUTH = [("Authorization", f"Bearer {KEY}")]


@asynccontextmanager
async def session(**overrides: Any) -> AsyncIterator[RawClient]:
    overrides.setdefault("ping_interval", None)
    server: MockServer
    async with (
        serve(app_factory=StubApp, **overrides) as server,
        RawClient(f"{server.url}?model=gpt-realtime", AUTH) as raw,
    ):
        created = await raw.next_of(Opcode.TEXT)
        assert created is not None
        yield raw


def masked(opcode: Opcode, payload: bytes, *, fin: bool = True, rsv1: bool = False) -> bytes:
    data = Frame(opcode, payload, fin).serialize(mask=True, extensions=[])
    return bytes([data[0] | 0x40]) + data[1:] if rsv1 else data


def unmasked(opcode: Opcode, payload: bytes) -> bytes:
    return Frame(opcode, payload).serialize(mask=False, extensions=[])


async def echoes(raw: RawClient, count: int) -> list[str]:
    texts = []
    for _ in range(count):
        frame = await raw.next_of(Opcode.TEXT)
        assert frame is not None
        texts.append(_json.loads(bytes(frame.data))["text"])
    return texts


async def close_code(raw: RawClient) -> int:
    frame = await raw.next_of(Opcode.CLOSE)
    assert frame is not None
    return Close.parse(frame.data).code


@pytest.mark.parametrize("piece", [1, 3, 7, 1000])
async def test_frames_cut_anywhere_arrive_whole_and_in_order(piece: int) -> None:
    texts = ["short", "é" * 70, "x" * 200, "y" * 70_000]  # 7-, 16- and 64-bit lengths
    wire = b"".join(masked(Opcode.TEXT, t.encode()) for t in texts)
    async with session() as raw:
        for start in range(0, len(wire), piece):
            await raw.write_raw(wire[start : start + piece])
        assert await echoes(raw, len(texts)) == texts


async def test_a_screenshot_sized_frame_in_many_chunks_arrives_whole() -> None:
    # 800 KB: a large screenshot data URL (the echo must stay under the test client's 1 MiB)
    text = "".join(chr(0x41 + i % 26) for i in range(800_000))
    wire = masked(Opcode.TEXT, text.encode()) + masked(Opcode.TEXT, b"after")
    async with session() as raw:
        for start in range(0, len(wire), 16_384):
            await raw.write_raw(wire[start : start + 16_384])
        assert await echoes(raw, 2) == [text, "after"]


async def test_a_ping_between_data_frames_is_answered_and_nothing_is_lost() -> None:
    wire = (
        masked(Opcode.TEXT, b"one")
        + masked(Opcode.PING, b"are you there")
        + masked(Opcode.TEXT, b"two")
    )
    async with session() as raw:
        await raw.write_raw(wire)
        frames = [await raw.next_frame() for _ in range(3)]
    seen = [
        (f.opcode, _json.loads(bytes(f.data))["text"] if f.opcode is Opcode.TEXT else f.data)
        for f in frames
        if f is not None
    ]
    assert seen == [
        (Opcode.TEXT, "one"),
        (Opcode.PONG, b"are you there"),
        (Opcode.TEXT, "two"),
    ]


async def test_fragments_interleaved_with_whole_frames_keep_their_order() -> None:
    wire = (
        masked(Opcode.TEXT, b"first")
        + masked(Opcode.TEXT, b"sec", fin=False)
        + masked(Opcode.CONT, b"ond")
        + masked(Opcode.TEXT, b"third")
    )
    async with session() as raw:
        await raw.write_raw(wire)
        assert await echoes(raw, 3) == ["first", "second", "third"]


@pytest.mark.parametrize(
    ("wire", "code"),
    [
        (unmasked(Opcode.TEXT, b"not masked"), 1002),
        (masked(Opcode.TEXT, b"reserved bit", rsv1=True), 1002),
        (masked(Opcode.CONT, b"continuation of nothing"), 1002),
        (masked(Opcode.TEXT, b"\xff\xfe"), 1007),
    ],
    ids=["unmasked", "rsv1", "stray continuation", "invalid utf-8"],
)
async def test_bad_frames_fail_the_connection_as_websockets_does(wire: bytes, code: int) -> None:
    async with session() as raw:
        await raw.write_raw(masked(Opcode.TEXT, b"fine") + wire + masked(Opcode.TEXT, b"never"))
        assert await echoes(raw, 1) == ["fine"]
        assert await close_code(raw) == code


async def test_a_frame_over_the_size_limit_closes_with_1009_before_it_has_all_arrived() -> None:
    async with session(max_message_size=1024) as raw:
        frame = masked(Opcode.TEXT, b"z" * 5000)
        await raw.write_raw(frame[:100])  # the header says 5000: no need to wait for more
        assert await close_code(raw) == 1009


# --- frame_bounds: the framing arithmetic alone ---------------------------------------

# Every header size: 7-bit lengths, the 16-bit (126) and 64-bit (127) forms at their edges.
EDGES = [0, 1, 125, 126, 127, 65_535, 65_536, 70_000]
PAYLOADS = st.one_of(
    st.binary(max_size=300),
    st.sampled_from(EDGES).map(lambda n: bytes(i % 251 for i in range(n))),
)


@given(
    payloads=st.lists(PAYLOADS, min_size=1, max_size=4),
    masks=st.lists(st.booleans(), min_size=4, max_size=4),
    data=st.data(),
)
@settings(max_examples=60, deadline=None)
def test_frame_bounds_finds_every_whole_frame_and_waits_for_the_rest(
    payloads: list[bytes], masks: list[bool], data: st.DataObject
) -> None:
    frames = [
        Frame(Opcode.BINARY, p).serialize(mask=m, extensions=[])
        for p, m in zip(payloads, masks, strict=False)
    ]
    wire = b"".join(frames)
    end = data.draw(st.integers(0, len(wire)), label="bytes arrived")
    pos, found = 0, []
    while (bounds := frame_bounds(wire, pos, end, None)) is not None:
        first, masked, head, stop = bounds
        payload = wire[head + 4 : stop] if masked else wire[head:stop]
        if masked:
            payload = bytes(b ^ wire[head + i % 4] for i, b in enumerate(payload))
        found.append((first & 0x0F, masked, payload))
        pos = stop
    whole = 0
    for frame in frames:
        if whole + len(frame) > end:
            break
        whole += len(frame)
    expected = [(Opcode.BINARY.value, m, p) for p, m in zip(payloads, masks, strict=False)][
        : len(found)
    ]
    assert found == expected
    assert pos == whole  # everything whole was found, nothing partial was


@pytest.mark.parametrize("length", [126, 65_536])
def test_frame_bounds_refuses_a_payload_over_the_limit_from_its_header(length: int) -> None:
    header = Frame(Opcode.TEXT, b"a" * length).serialize(mask=True, extensions=[])[:14]
    bounds = frame_bounds(header, 0, len(header), length - 1)
    assert bounds is not None
    assert bounds[3] == -1
    assert frame_bounds(header, 0, len(header), length) is None  # within the limit: wait


@pytest.mark.parametrize("masked", [True, False])
@pytest.mark.parametrize("size", EDGES)
def test_frame_bounds_reads_every_header_form_at_its_edges(size: int, masked: bool) -> None:
    payload = bytes(i % 251 for i in range(size))
    wire = Frame(Opcode.TEXT, payload).serialize(mask=masked, extensions=[])
    header = 2 + (2 if 126 <= size < 65_536 else 8 if size >= 65_536 else 0)
    assert frame_bounds(wire, 0, len(wire), None) == (0x81, masked, header, len(wire))
    for end in (*range(min(len(wire), header + 5)), len(wire) - 1):
        assert frame_bounds(wire[:end], 0, end, None) is None
    twice = wire + wire  # the second frame, found from where the first one stops
    assert frame_bounds(twice, len(wire), len(twice), None) == (
        0x81,
        masked,
        len(wire) + header,
        len(twice),
    )
