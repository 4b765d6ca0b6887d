"""Live event sequences over real sockets on 127.0.0.1 (the in-memory twins are in
tests/mock_server/test_app_flows.py); every server frame must pass the schemas."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from conformance.protocol import replay
from conformance.schemas import validate_server_event
from mock_server import serve
from mock_server.media import silence_pcm16, synth_pcm16

from ..mock_server.app_harness import text_item

pytestmark = pytest.mark.integration
HEADERS = {"Authorization": "Bearer sk-test-sockets-0123456789"}


class Peer:
    """A raw client: send dicts, receive parsed events, bounded waits only."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def send(self, event: dict[str, Any] | str | bytes) -> None:
        await self.ws.send(event if isinstance(event, str | bytes) else json.dumps(event))

    async def next(self) -> dict[str, Any]:
        async with asyncio.timeout(5):
            return dict(json.loads(await self.ws.recv()))

    async def until(self, kind: str) -> list[dict[str, Any]]:
        events = [await self.next()]
        while events[-1]["type"] != kind:
            events.append(await self.next())
        return events


@pytest.fixture
async def peer() -> AsyncIterator[Peer]:
    async with serve(port=0) as server:
        url = f"{server.url}?model=gpt-realtime-1.5"
        async with connect(url, additional_headers=HEADERS, proxy=None) as ws:
            client = Peer(ws)
            assert (await client.next())["type"] == "session.created"
            yield client
        transcripts = await server.wait_for_sessions(1, timeout=5)
    frames = [(r.direction, r.text) for r in transcripts[0].records if r.text is not None]
    for direction, text in frames:
        if direction == "server":
            assert validate_server_event(text) == [], text[:200]
    assert [p for p in replay(frames) if p.direction == "server"] == []


def audio(ms: int, *, loud: bool) -> str:
    pcm = synth_pcm16(ms, seed=3) if loud else silence_pcm16(ms)
    return base64.b64encode(pcm).decode()


async def test_a_spoken_turn_gets_an_audio_reply_over_the_socket(peer):
    for loud, count in ((True, 8), (False, 8)):
        for _ in range(count):
            await peer.send({"type": "input_audio_buffer.append", "audio": audio(40, loud=loud)})
    events = await peer.until("response.done")
    kinds = [e["type"] for e in events]
    assert kinds[:5] == [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
    ]
    pcm = b"".join(
        base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta"
    )
    assert pcm
    assert events[-1]["response"]["status"] == "completed"


async def test_a_function_call_round_trip_over_the_socket(peer):
    tool = {
        "type": "function",
        "name": "get_time",
        "description": "time",
        "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}},
    }
    session = {"type": "realtime", "output_modalities": ["text"], "tools": [tool]}
    await peer.send({"type": "session.update", "session": {**session, "tool_choice": "required"}})
    await peer.until("session.updated")
    await peer.send({"type": "response.create"})
    done = (await peer.until("response.done"))[-1]
    call = done["response"]["output"][0]
    assert call["type"] == "function_call"
    await peer.until("rate_limits.updated")
    output = {"type": "function_call_output", "call_id": call["call_id"], "output": "noon"}
    await peer.send({"type": "conversation.item.create", "item": output})
    await peer.until("conversation.item.done")
    await peer.send({"type": "response.create", "response": {"tool_choice": "none"}})
    reply = (await peer.until("response.done"))[-1]["response"]["output"][0]
    assert "get_time returned 'noon'" in reply["content"][0]["text"]


async def test_an_out_of_band_response_over_the_socket(peer):
    params = {"conversation": "none", "output_modalities": ["text"], "metadata": {"k": "v"}}
    await peer.send({"type": "response.create", "response": params})
    events = await peer.until("response.done")
    assert events[0]["response"]["conversation_id"] is None
    assert all(not e["type"].startswith("conversation.item") for e in events)
    assert events[-1]["response"]["metadata"] == {"k": "v"}


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "invalid_json"),
        (b"\x00\x01", "invalid_event"),
        ('{"type": "response.nope"}', "invalid_value"),
        ('{"type": "session.update", "session": {"modalities": ["text"]}}', None),
    ],
)
async def test_bad_frames_get_one_error_and_the_socket_stays_open(peer, frame, code):
    await peer.send(frame)
    error = await peer.next()
    assert error["type"] == "error"
    if code is not None:
        assert error["error"]["code"] == code
    await peer.send({"type": "input_audio_buffer.clear"})
    assert (await peer.next())["type"] == "input_audio_buffer.cleared"


async def test_items_are_inserted_at_the_root_and_retrieved_over_the_socket(peer):
    await peer.send({"type": "conversation.item.create", "item": {**text_item("a"), "id": "a1"}})
    await peer.until("conversation.item.done")
    root = {"type": "conversation.item.create", "previous_item_id": "root"}
    await peer.send({**root, "item": {**text_item("b"), "id": "b1"}})
    added = await peer.next()
    assert added["type"] == "conversation.item.added"
    assert added["previous_item_id"] is None
    await peer.until("conversation.item.done")
    await peer.send({"type": "conversation.item.retrieve", "item_id": "a1"})
    retrieved = await peer.next()
    assert retrieved["item"]["content"][0]["text"] == "a"
    await peer.send({"type": "conversation.item.delete", "item_id": "zz"})
    assert (await peer.next())["error"]["code"] == "item_delete_invalid_item_id"
