"""Translation sessions (`/v1/realtime/translations`) against the real mock over sockets.

Each test runs a `MockServer` on 127.0.0.1 (port 0) and talks to it with a websockets
client; every wait is bounded. Before issue 13 the endpoint answered HTTP 404.
"""

from __future__ import annotations

import asyncio
import base64
import math
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from conformance import _json
from conformance.checks import CheckContext, run_checks
from conformance.protocol.translation import FRAME_BYTES
from conformance.schemas import (
    TRANSLATION_CLIENT_EVENT_TYPES,
    TRANSLATION_SERVER_EVENT_TYPES,
    validate_translation_server_event,
)
from mock_server.server import MockServer, serve

pytestmark = pytest.mark.integration

KEY = "sk-test-translation0123456789"
MODEL = "gpt-realtime-translate"
TIMEOUT = 5.0
DELTAS = (
    "session.input_transcript.delta",
    "session.output_transcript.delta",
    "session.output_audio.delta",
)


def tone(ms: int) -> bytes:
    """24 kHz PCM16 mono speech-like audio (a tone), `ms` long."""
    samples = 24 * ms
    return struct.pack(f"<{samples}h", *(int(8000 * math.sin(i * 0.05)) for i in range(samples)))


def append(audio: bytes, event_id: str | None = None) -> dict[str, Any]:
    event = {"type": "session.input_audio_buffer.append", "audio": base64.b64encode(audio).decode()}
    return {**event, "event_id": event_id} if event_id else event


@asynccontextmanager
async def server(**config: Any) -> AsyncIterator[MockServer]:
    config.setdefault("ping_interval", None)
    async with serve(api_keys=(KEY,), **config) as running:
        yield running


def url(running: MockServer, query: str = f"model={MODEL}") -> str:
    return f"{running.url}/translations?{query}" if query else f"{running.url}/translations"


@asynccontextmanager
async def session(running: MockServer, query: str = f"model={MODEL}", **kw: Any) -> Any:
    headers = kw.pop("headers", {"Authorization": f"Bearer {KEY}"})
    async with connect(
        url(running, query), additional_headers=headers, open_timeout=TIMEOUT, **kw
    ) as ws:
        yield ws


async def receive(ws: ClientConnection) -> dict[str, Any]:
    event: dict[str, Any] = _json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
    return event


async def send(ws: ClientConnection, event: dict[str, Any]) -> None:
    await ws.send(_json.dumps(event))


async def until_closed(ws: ClientConnection) -> tuple[list[dict[str, Any]], ConnectionClosed]:
    events = []
    while True:
        try:
            events.append(await receive(ws))
        except ConnectionClosed as closed:
            return events, closed


async def opened(ws: ClientConnection) -> dict[str, Any]:
    created = await receive(ws)
    assert created["type"] == "session.created", created
    return created


# ------------------------------------------------------------------ the endpoint
async def test_the_translations_endpoint_opens_a_translation_session() -> None:
    async with server() as running, session(running) as ws:
        created = await opened(ws)
        session_object = created["session"]
        assert list(session_object) == ["id", "type", "expires_at", "model", "audio"]
        assert session_object["type"] == "translation"
        assert session_object["model"] == MODEL
        assert session_object["audio"] == {
            "input": {"transcription": None, "noise_reduction": None},
            "output": {"language": "es"},
        }
        assert validate_translation_server_event(created) == []


async def test_a_whole_session_uses_the_3_client_and_7_server_event_types() -> None:
    assert len(TRANSLATION_CLIENT_EVENT_TYPES) == 3
    assert len(TRANSLATION_SERVER_EVENT_TYPES) == 7
    async with server() as running, session(running) as ws:
        received = [await opened(ws)]
        await send(ws, {"type": "session.update", "session": {"audio": {"input": {
            "transcription": {"model": "gpt-realtime-whisper"}}}}})  # fmt: skip
        received.append(await receive(ws))
        await send(ws, {"type": "response.create", "event_id": "evt_nope"})
        received.append(await receive(ws))
        await send(ws, append(tone(400)))
        await send(ws, {"type": "session.close"})
        rest, closed = await until_closed(ws)
    received += rest
    assert {e["type"] for e in received} == set(TRANSLATION_SERVER_EVENT_TYPES)
    for event in received:
        assert validate_translation_server_event(event) == [], event
    assert received[-1]["type"] == "session.closed"
    assert closed.rcvd is not None
    assert closed.rcvd.code == 1000


# ------------------------------------------------------------------ audio and output
async def test_audio_is_consumed_in_200_ms_frames_and_elapsed_ms_steps_by_200() -> None:
    async with server() as running, session(running) as ws:
        await opened(ws)
        await send(ws, append(tone(100)))  # half a frame: buffered, no output yet
        await send(ws, {"type": "session.update", "session": {"audio": {"output": {
            "language": "fr"}}}})  # fmt: skip
        assert (await receive(ws))["type"] == "session.updated"  # nothing came before it
        await send(ws, append(tone(100)))  # completes frame 1
        await send(ws, append(tone(600)))  # frames 2-4, split
        events = [await receive(ws) for _ in range(4 * 2)]
    audio = [e for e in events if e["type"] == "session.output_audio.delta"]
    assert [e["elapsed_ms"] for e in audio] == [200, 400, 600, 800]
    for event in audio:
        assert (event["sample_rate"], event["channels"], event["format"]) == (24000, 1, "pcm16")
        assert len(base64.b64decode(event["delta"])) == FRAME_BYTES  # 200 ms of 24 kHz PCM16
    assert [e["type"] for e in events[:2]] == list(DELTAS[1:])  # no transcription configured


async def test_transcript_deltas_are_append_only_and_silence_gives_nothing() -> None:
    async with server() as running, session(running) as ws:
        await opened(ws)
        await send(ws, {"type": "session.update", "session": {"audio": {"input": {
            "transcription": {"model": "gpt-realtime-whisper"}}}}})  # fmt: skip
        await receive(ws)
        await send(ws, append(tone(600) + bytes(FRAME_BYTES * 2)))  # 3 frames speech, 2 silent
        events = [await receive(ws) for _ in range(3 * 3)]
        await send(ws, {"type": "session.close"})
        rest, _ = await until_closed(ws)
    assert [e["type"] for e in rest] == ["session.closed"]  # the silent frames said nothing
    for kind in DELTAS[:2]:
        deltas = [e["delta"] for e in events if e["type"] == kind]
        assert len(deltas) == 3
        assert not deltas[0].startswith(" ")
        assert all(d.startswith(" ") for d in deltas[1:])
        assert "".join(deltas).split(" ") == [d.strip() for d in deltas]
    assert [e["elapsed_ms"] for e in events if e["type"] == DELTAS[0]] == [200, 400, 600]


async def test_the_translation_is_deterministic_from_the_seed() -> None:
    texts = []
    for _ in range(2):
        async with server(seed=7) as running, session(running) as ws:
            await opened(ws)
            await send(ws, append(tone(400)))
            await send(ws, {"type": "session.close"})
            events, _ = await until_closed(ws)
        texts.append([e.get("delta") for e in events if e["type"] != "session.closed"])
    assert texts[0] == texts[1]


# ------------------------------------------------------------------ session.update
@pytest.mark.parametrize(
    ("session_update", "code", "param"),
    [
        ({"type": "translation"}, "unknown_parameter", "session.type"),
        ({"model": "gpt-realtime-translate"}, "unknown_parameter", "session.model"),
        ({"instructions": "hi"}, "unknown_parameter", "session.instructions"),
        (
            {"audio": {"input": {"format": {"type": "audio/pcmu"}}}},
            "unknown_parameter",
            "session.audio.input.format",
        ),
        (
            {"audio": {"output": {"voice": "marin"}}},
            "unknown_parameter",
            "session.audio.output.voice",
        ),
        (
            {"audio": {"input": {"transcription": {"model": "whisper-9"}}}},
            "invalid_value",
            "session.audio.input.transcription.model",
        ),
    ],
)
async def test_session_update_changes_only_the_fields_the_spec_allows(
    session_update: dict[str, Any], code: str, param: str
) -> None:
    async with server() as running, session(running) as ws:
        created = await opened(ws)
        await send(ws, {"type": "session.update", "event_id": "evt_1", "session": session_update})
        error = await receive(ws)
        assert error["type"] == "error"
        assert (error["error"]["code"], error["error"]["param"]) == (code, param)
        assert error["error"]["event_id"] == "evt_1"
        audio = {"output": {"language": "de"}, "input": {"noise_reduction": {"type": "near_field"}}}
        await send(ws, {"type": "session.update", "session": {"audio": audio}})
        updated = await receive(ws)
    assert updated["type"] == "session.updated"
    expected = created["session"]
    expected["audio"] = {
        "input": {"transcription": None, "noise_reduction": {"type": "near_field"}},
        "output": {"language": "de"},
    }
    assert updated["session"] == expected


# ------------------------------------------------------------------ close
async def test_session_close_flushes_the_partial_frame_then_session_closed() -> None:
    async with server() as running, session(running) as ws:
        await opened(ws)
        await send(ws, append(tone(300)))  # one frame now, 100 ms pending
        first = [await receive(ws) for _ in range(2)]
        await send(ws, {"type": "session.close", "event_id": "evt_close"})
        rest, closed = await until_closed(ws)
    assert [e["elapsed_ms"] for e in first] == [200, 200]
    assert [e["type"] for e in rest] == [*DELTAS[1:], "session.closed"]
    assert rest[0]["elapsed_ms"] == 400  # the padded last frame
    assert closed.rcvd is not None
    assert (closed.rcvd.code, closed.rcvd.reason) == (1000, "")


async def test_a_second_session_close_is_refused_while_closing() -> None:
    async with server(audio_realtime=True) as running, session(running) as ws:
        await opened(ws)
        await send(ws, append(tone(800)))  # 4 frames at the speed of speech
        await send(ws, {"type": "session.close", "event_id": "evt_1"})
        await send(ws, {"type": "session.close", "event_id": "evt_2"})
        events, _ = await until_closed(ws)
    errors = [e["error"] for e in events if e["type"] == "error"]
    assert [(e["code"], e["event_id"]) for e in errors] == [("session_closing", "evt_2")]
    assert events[-1]["type"] == "session.closed"


# ------------------------------------------------------------------ refused types
@pytest.mark.parametrize(
    "kind", ["response.create", "input_audio_buffer.append", "conversation.item.create"]
)
async def test_realtime_event_types_get_the_live_style_invalid_value(kind: str) -> None:
    async with server() as running, session(running) as ws:
        await opened(ws)
        await send(ws, {"type": kind, "event_id": "evt_x"})
        error = (await receive(ws))["error"]
        await ws.send(b"\x00\x01")  # binary: refused too, and the session goes on
        binary = (await receive(ws))["error"]
        await send(ws, append(tone(200)))
        assert (await receive(ws))["type"] == "session.output_transcript.delta"
    assert error["code"] == "invalid_value"
    assert error["param"] == "type"
    assert error["message"] == (
        f"Invalid value: '{kind}'. Supported values are: 'session.update', "
        "'session.input_audio_buffer.append', and 'session.close'."
    )
    assert binary["code"] == "invalid_event"


async def test_bad_base64_audio_is_refused() -> None:
    async with server() as running, session(running) as ws:
        await opened(ws)
        await send(ws, {"type": "session.input_audio_buffer.append", "audio": "@@@"})
        error = (await receive(ws))["error"]
    assert (error["code"], error["param"]) == ("invalid_value", "audio")


# ------------------------------------------------------------------ handshake
@pytest.mark.parametrize(
    ("path", "query", "code", "message"),
    [
        ("/translations", "model=gpt-realtime", "invalid_model", "in translation mode"),
        ("/translations", "model=gpt-nope", "invalid_model", "in translation mode"),
        ("/translations", "", "missing_model", "realtime/translations?model="),
        ("", f"model={MODEL}", "invalid_model", "in realtime mode"),
    ],
)
async def test_a_model_on_the_wrong_endpoint_is_refused_with_4000(
    path: str, query: str, code: str, message: str
) -> None:
    async with server() as running:
        target = f"{running.url}{path}" + (f"?{query}" if query else "")
        async with connect(target, additional_headers={"Authorization": f"Bearer {KEY}"}) as ws:
            events, closed = await until_closed(ws)
    assert [e["type"] for e in events] == ["error"]
    assert events[0]["error"]["code"] == code
    assert message in events[0]["error"]["message"]
    assert closed.rcvd is not None
    assert (closed.rcvd.code, closed.rcvd.reason) == (4000, f"invalid_request_error.{code}")


@pytest.mark.parametrize(
    ("headers", "close"),
    [
        ({"Authorization": "Bearer sk-wrong-key-0123456789"}, 3000),
        ({"Authorization": f"Bearer {KEY}", "OpenAI-Beta": "realtime=v1"}, 4000),
    ],
)
async def test_key_and_beta_rules_apply_to_the_translations_endpoint(
    headers: dict[str, str], close: int
) -> None:
    async with server() as running, session(running, headers=headers) as ws:
        events, closed = await until_closed(ws)
    assert [e["type"] for e in events] == ["error"]
    assert closed.rcvd is not None
    assert closed.rcvd.code == close


async def test_the_transcript_records_the_kind_and_the_checks_judge_it() -> None:
    async with server() as running:
        async with session(running) as ws:
            await opened(ws)
            await send(ws, append(tone(200)))
            await receive(ws)
            await send(ws, {"type": "response.create"})
            await receive(ws)
            await send(ws, {"type": "session.close"})
            await until_closed(ws)
        await running.wait_for_sessions(1, ended=True, timeout=TIMEOUT)
        (transcript,) = running.transcripts
    assert transcript.meta["kind"] == "translation"
    assert transcript.meta["path"] == "/v1/realtime/translations"
    found = list(run_checks(CheckContext(transcripts=(transcript,)), ["default"]))
    assert [(v.check, v.received.split(":")[0]) for v in found] == [
        ("client_event_matches_schema", "invalid_value")
    ], found
