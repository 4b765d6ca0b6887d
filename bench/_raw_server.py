"""The raw `websockets` baseline server for `bench_mock.py` (run in its own process).

    python bench/_raw_server.py --compression none|deflate [--tps 20] [--reply TEXT]

Prints one line, `raw-server listening on ws://127.0.0.1:PORT/v1/realtime`, then serves
until SIGTERM/SIGINT. It does the least a server speaking this protocol could do:

* on connect: sends one pre-built 1.2 KB JSON message (a `session.created` look-alike);
* every received message: counts it. Only short messages (< 512 chars, never an audio
  append) are looked at further, by a substring test on the frame text:
  - `input_audio_buffer.clear` -> `{"type":"input_audio_buffer.cleared","received":N}`
    (N = messages received on this connection so far, the clear included);
  - `session.update` -> a pre-built `session.updated`;
  - `response.create` -> a pre-built text response in the live event order, each delta
    sent at an absolute offset `k / tps` from receipt (asyncio.sleep to the deadline).

Frames are pre-built strings, so this is websockets' own cost plus one counter.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
import sys

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

HELLO_SIZE = 1200
_WORD = re.compile(r"\S+\s*")


def _hello() -> str:
    base = {
        "type": "session.created",
        "event_id": "event_RAWBASELINE000000001",
        "session": {
            "type": "realtime",
            "object": "realtime.session",
            "id": "sess_RAWBASELINE0000000001",
            "model": "gpt-realtime",
            "output_modalities": ["audio"],
            "instructions": "",
        },
    }
    text = json.dumps(base, separators=(",", ":"))
    base["session"]["instructions"] = "x" * (HELLO_SIZE - len(text))
    return json.dumps(base, separators=(",", ":"))


def _response_frames(reply: str) -> tuple[list[str], list[str], list[str]]:
    """(before the deltas, the deltas, after) as compact JSON text, live order."""
    ids = {
        "response_id": "resp_RAW000000000000000001",
        "item_id": "item_RAW00000000000000001",
        "output_index": 0,
    }
    part_ids = {**ids, "content_index": 0}
    item = {
        "id": ids["item_id"],
        "type": "message",
        "status": "in_progress",
        "role": "assistant",
        "content": [],
    }
    body = {
        "object": "realtime.response",
        "id": ids["response_id"],
        "status": "in_progress",
        "status_details": None,
        "output": [],
        "conversation_id": "conv_RAW01",
        "output_modalities": ["text"],
        "max_output_tokens": "inf",
        "audio": {"output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy"}},
        "usage": None,
        "metadata": None,
    }
    n = 0

    def ev(kind: str, **fields: object) -> str:
        nonlocal n
        n += 1
        return json.dumps(
            {"type": kind, "event_id": f"event_RAW{n:018d}", **fields}, separators=(",", ":")
        )

    before = [
        ev("response.created", response=body),
        ev("response.output_item.added", response_id=ids["response_id"], output_index=0, item=item),
        ev("conversation.item.added", item=item, previous_item_id=None),
        ev("response.content_part.added", **part_ids, part={"type": "text", "text": ""}),
    ]
    words = _WORD.findall(reply)
    deltas = [
        ev("response.output_text.delta", **part_ids, delta=w, obfuscation="abcdefgh") for w in words
    ]
    done_item = {**item, "status": "completed", "content": [{"type": "output_text", "text": reply}]}
    after = [
        ev("response.output_text.done", **part_ids, text=reply),
        ev("response.content_part.done", **part_ids, part={"type": "text", "text": reply}),
        ev("conversation.item.done", item=done_item, previous_item_id=None),
        ev(
            "response.output_item.done",
            response_id=ids["response_id"],
            output_index=0,
            item=done_item,
        ),
        ev("response.done", response={**body, "status": "completed", "output": [done_item]}),
        ev(
            "rate_limits.updated",
            rate_limits=[
                {"name": "tokens", "limit": 15000000, "remaining": 14999800, "reset_seconds": 0.001}
            ],
        ),
    ]
    return before, deltas, after


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--compression", choices=("none", "deflate"), default="none")
    parser.add_argument("--tps", type=float, default=20.0, help="text deltas per second")
    parser.add_argument("--reply", default="Hello from the raw baseline server.")
    args = parser.parse_args()

    hello = _hello()
    updated = json.dumps({"type": "session.updated", "event_id": "event_RAWUPDATED", "session": {}})
    before, deltas, after = _response_frames(args.reply)
    interval = 1.0 / args.tps if args.tps > 0 else 0.0
    loop = asyncio.get_running_loop()

    async def respond(ws: ServerConnection, t0: float) -> None:
        try:
            for frame in before:
                await ws.send(frame)
            for k, frame in enumerate(deltas):
                wait = t0 + k * interval - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                await ws.send(frame)
            for frame in after:
                await ws.send(frame)
        except ConnectionClosed:
            pass

    tasks: set[asyncio.Task[None]] = set()

    async def handler(ws: ServerConnection) -> None:
        await ws.send(hello)
        received = 0
        try:
            async for message in ws:
                received += 1
                if len(message) < 512:
                    if "input_audio_buffer.clear" in message:
                        await ws.send(
                            f'{{"type":"input_audio_buffer.cleared","received":{received}}}'
                        )
                    elif "response.create" in message:
                        task = asyncio.create_task(respond(ws, loop.time()))
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
                    elif "session.update" in message:
                        await ws.send(updated)
        except ConnectionClosed:
            pass

    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    compression = None if args.compression == "none" else "deflate"
    async with serve(handler, "127.0.0.1", 0, compression=compression, max_size=None) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"raw-server listening on ws://127.0.0.1:{port}/v1/realtime", flush=True)
        await stop.wait()
        server.close()
        try:
            async with asyncio.timeout(5):
                await server.wait_closed()
        except TimeoutError:
            pass


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
