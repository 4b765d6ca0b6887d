"""One client session through the proxy (real sockets) in front of a fast mock, recorded
as the proxy records it: the traffic the diff tests compare."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from conformance.proxy import ProxyConfig, ProxyServer
from conformance.transcript import Transcript
from mock_server.config import MockConfig
from mock_server.media import silence_pcm16
from mock_server.server import MockServer

KEY = "sk-difftest-client-key-0123456789"
WAIT = 10.0
TRANSCRIPTION = "conversation.item.input_audio_transcription"


async def _until(ws: ClientConnection, kind: str) -> dict[str, Any]:
    while True:
        event = json.loads(await ws.recv())
        if event["type"] == kind:
            return dict(event)


async def _client(url: str) -> None:
    """The same traffic every time: a session.update with manual turns and input
    transcription, 500 ms of silence committed, a text message and a response, close 1000."""
    async with connect(
        url,
        additional_headers={"Authorization": f"Bearer {KEY}"},
        ping_interval=None,
        open_timeout=WAIT,
        close_timeout=2,
    ) as ws:
        await _until(ws, "session.created")
        audio = {"input": {"turn_detection": None, "transcription": {"model": "gpt-4o-transcribe"}}}
        session = {"type": "realtime", "output_modalities": ["text"], "audio": audio}
        await ws.send(json.dumps({"type": "session.update", "session": session}))
        await _until(ws, "session.updated")
        silence = base64.b64encode(silence_pcm16(100)).decode()
        for _ in range(5):
            await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": silence}))
        await ws.send(json.dumps({"type": "input_audio_buffer.commit"}))
        await _until(ws, f"{TRANSCRIPTION}.failed")
        content = [{"type": "input_text", "text": "Say hello in a few words."}]
        item = {"type": "message", "role": "user", "content": content}
        await ws.send(json.dumps({"type": "conversation.item.create", "item": item}))
        await ws.send(json.dumps({"type": "response.create"}))
        await _until(ws, "response.done")
        await ws.close(1000, "bye")


async def _through_proxy(
    path: Path, client: Callable[[str], Awaitable[None]], **config: Any
) -> Path:
    """Run `client` through the proxy to a fast mock (`config` on top); write the proxy's
    transcript to `path`."""
    server = MockServer(MockConfig(port=0, pace="fast", ping_interval=None, **config))
    await server.start()
    try:
        upstream = server.url.split("/v1/")[0]
        async with ProxyServer(ProxyConfig(upstream=upstream, port=0)) as proxy:
            async with asyncio.timeout(WAIT):
                await client(proxy.url + "?model=gpt-realtime")
            ended = await proxy.wait_for_ended(1, WAIT)
    finally:
        await server.stop()
    transcript: Transcript = ended[-1].transcript
    return transcript.write_jsonl(path)


async def record(path: Path, *, seed: int) -> Path:
    """Run the session through the proxy to a fast mock seeded with `seed`; write the
    proxy's transcript to `path`."""
    return await _through_proxy(path, _client, seed=seed)


def record_sync(path: Path, *, seed: int) -> Path:
    """`record`, for synchronous tests."""
    return asyncio.run(record(path, seed=seed))


async def _rejected_by_beta_header(url: str) -> None:
    """A client that still sends the beta header: the server answers error + close 4000."""
    headers = {"Authorization": f"Bearer {KEY}", "OpenAI-Beta": "realtime=v1"}
    async with connect(
        url, additional_headers=headers, ping_interval=None, open_timeout=WAIT
    ) as ws:
        with contextlib.suppress(ConnectionClosed):
            async for _ in ws:
                pass


async def record_beta_header_close(path: Path) -> Path:
    """A session the server closes (4000, beta header), recorded through the proxy."""
    return await _through_proxy(path, _rejected_by_beta_header)


# --- hand edits: what another server would have sent -----------------------------------


def edit_events(path: Path, target: Path, edit: Any, *, meta: dict[str, Any] | None = None) -> Path:
    """Copy a transcript file, passing each text record's event (parsed) through
    `edit(event) -> event | None` (None: leave the record as it is) and each record
    through unchanged otherwise; `meta` entries replace the meta line's."""
    lines = path.read_text(encoding="utf-8").splitlines()
    head = json.loads(lines[0])
    head.update(meta or {})
    out = [json.dumps(head)]
    for line in lines[1:]:
        record = json.loads(line)
        if record.get("kind") == "text" and record["direction"] == "server":
            changed = edit(json.loads(record["text"]))
            if changed is not None:
                record["text"] = json.dumps(changed)
        out.append(json.dumps(record))
    target.write_text("\n".join(out) + "\n", encoding="utf-8")
    return target
