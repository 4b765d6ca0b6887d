"""A long-running mock keeps bounded memory (issue 12): transcripts are kept within bounds.

`realtime-mock serve` keeps the last 100 ended sessions, 64 MiB at most, and none once
they are recorded; live sessions always. The bounds are asserted on what the server
keeps (counts, `approx_bytes`, Python objects, tracemalloc), not on RSS, which a loaded
CI machine makes noisy; `bench/bench_serve_memory.py` measures RSS over 10,000 cycles.
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from conformance import _json
from conformance.transcript import Transcript
from mock_server.cli import build_parser, serve_config
from mock_server.server import MockServer, serve

KEY = "sk-abuse-serve-memory-0123456789"
TIMEOUT = 10.0


@asynccontextmanager
async def session(
    server: MockServer, ids: list[str] | None = None
) -> AsyncIterator[ClientConnection]:
    async with connect(
        f"{server.url}?model=gpt-realtime-1.5",
        additional_headers={"Authorization": f"Bearer {KEY}"},
        compression=None,
        open_timeout=TIMEOUT,
        close_timeout=TIMEOUT,
        ping_interval=None,
        proxy=None,
    ) as ws:
        created = _json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        assert created["type"] == "session.created"
        if ids is not None:
            ids.append(created["session"]["id"])
        yield ws


async def cycles(server: MockServer, count: int, text: str = "") -> list[str]:
    """`count` sessions one after the other; returns their session ids."""
    ids: list[str] = []
    for _ in range(count):
        async with session(server, ids) as ws:
            if text:  # one item of `text`, acknowledged before the close
                content = [{"type": "input_text", "text": text}]
                item = {"type": "message", "role": "user", "content": content}
                await ws.send(_json.dumps({"type": "conversation.item.create", "item": item}))
                while _json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))["type"] != (
                    "conversation.item.added"
                ):
                    pass
    await server.wait_for_sessions(server.sessions_opened, TIMEOUT)
    return ids


async def test_only_the_most_recent_ended_sessions_are_kept() -> None:
    async with serve(port=0, keep_sessions=5, ping_interval=None) as server:
        ids = await cycles(server, 12)
        kept = server.transcripts
        assert (server.sessions_opened, server.sessions_ended, len(kept)) == (12, 12, 5)
        assert [t.meta["session_id"] for t in kept] == ids[-5:]
        # wait_for_sessions counts every session, and returns those still kept
        assert len(await server.wait_for_sessions(12, TIMEOUT)) == 5


async def test_live_sessions_are_always_kept() -> None:
    async with serve(port=0, keep_sessions=0, ping_interval=None) as server:
        async with AsyncExitStack() as stack:
            live = [await stack.enter_async_context(session(server)) for _ in range(3)]
            await cycles_while_open(server, 4)
            assert len(server.transcripts) == 3  # the 3 open ones; the 4 ended are gone
            assert all(len(t) >= 1 for t in server.transcripts)
            assert live
        await server.wait_for_sessions(7, TIMEOUT)
        assert server.transcripts == []


async def cycles_while_open(server: MockServer, count: int) -> None:
    ended = server.sessions_ended
    for _ in range(count):
        async with session(server):
            pass
    await server.wait_for_sessions(ended + count, TIMEOUT)


async def test_ended_sessions_are_kept_within_the_byte_bound() -> None:
    bound = 150_000  # a session holds the 20 kB text 2-3 times (the item, its echoes)
    async with serve(port=0, keep_bytes=bound, ping_interval=None) as server:
        await cycles(server, 6, text="x" * 20_000)
        kept = server.transcripts
        sizes = [t.approx_bytes() for t in kept]
        assert all(40_000 < size < 100_000 for size in sizes)
        assert sum(sizes) <= bound
        assert len(kept) in (1, 2, 3)
        assert server.sessions_ended == 6


def test_serve_keeps_100_sessions_and_64_mib_by_default_and_none_with_record() -> None:
    parser = build_parser()
    plain = serve_config(parser.parse_args(["serve"]))
    assert (plain.keep_sessions, plain.keep_bytes) == (100, 64 * 1024 * 1024)
    recording = serve_config(parser.parse_args(["serve", "--record", "out"]))
    assert (recording.keep_sessions, recording.keep_bytes) == (0, 64 * 1024 * 1024)
    chosen = serve_config(parser.parse_args(["serve", "--record", "out", "--keep-sessions", "7"]))
    assert chosen.keep_sessions == 7
    every = serve_config(parser.parse_args(["serve", "--keep-sessions", "none"]))
    assert every.keep_sessions is None
    # From Python, every transcript is kept (tests read them after the sessions end).
    assert (MockServer().config.keep_sessions, MockServer().config.keep_bytes) == (None, None)


async def test_recorded_sessions_leave_memory_when_they_end(tmp_path: Path) -> None:
    async with serve(port=0, record=str(tmp_path), keep_sessions=0, ping_interval=None) as server:
        await cycles(server, 3)
        assert server.transcripts == []
        assert len(server.recordings) == 3
        assert all(Transcript.read_jsonl(p).meta["session_id"] for p in server.recordings)


def _kept_objects() -> dict[str, int]:
    gc.collect()
    counts = dict.fromkeys(("Transcript", "MockApp", "Driver", "Connection", "Session"), 0)
    for obj in gc.get_objects():
        name = type(obj).__name__
        if name in counts:
            counts[name] += 1
    return counts


async def test_connect_close_cycles_do_not_grow_memory() -> None:
    """The 10k connect/close growth (4.7 kB a session): nothing per cycle is retained."""
    async with serve(port=0, keep_sessions=3, ping_interval=None) as server:
        await cycles(server, 60)  # warm-up: caches, free lists, the first sessions
        before = _kept_objects()
        tracemalloc.start()
        try:
            await cycles(server, 50)
            gc.collect()
            first = tracemalloc.take_snapshot()
            await cycles(server, 150)
            gc.collect()
            second = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
        after = _kept_objects()
    # 200 cycles ran between the counts: a leak would show as hundreds. A small slack
    # absorbs objects of other tests in this worker that die or appear meanwhile.
    grown = {name: after[name] - before[name] for name in after if after[name] > before[name] + 2}
    assert not grown, (before, after)
    assert after["Transcript"] <= before["Transcript"] + 3
    growth = sum(stat.size_diff for stat in second.compare_to(first, "filename"))
    # Unbounded, each session kept ~4.7 kB (700 kB here); what remains is noise.
    assert growth / 150 < 400, _top(second, first)


def _top(second: Any, first: Any) -> str:
    return "\n".join(str(stat) for stat in second.compare_to(first, "lineno")[:10])
