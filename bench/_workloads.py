"""Client workloads of `bench_mock.py`; each runs against one server URL (raw or mock).

The client runs in the benchmark's own process; every server is a separate process
(`_procs.ServerProcess`). Every loop here is bounded in count and every wait in time.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import random
import re
import statistics
import time
from array import array
from dataclasses import dataclass, field
from typing import Any

import orjson
from _procs import ServerProcess  # type: ignore[import-not-found]
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

API_KEY = "sk-bench-0000000000000000"
HEADERS = {"Authorization": f"Bearer {API_KEY}"}
MODEL_QUERY = "?model=gpt-realtime"
CLEAR = '{"type":"input_audio_buffer.clear"}'
NO_VAD = orjson.dumps(
    {
        "type": "session.update",
        "session": {"type": "realtime", "audio": {"input": {"turn_detection": None}}},
    }
).decode()
RESPONSE_CREATE = orjson.dumps(
    {"type": "response.create", "response": {"output_modalities": ["text"]}}
).decode()
WORD = re.compile(r"\S+\s*")
PRE = [
    "response.created",
    "response.output_item.added",
    "conversation.item.added",
    "response.content_part.added",
]
POST = [
    "response.output_text.done",
    "response.content_part.done",
    "conversation.item.done",
    "response.output_item.done",
    "response.done",
]


def ws_connect(url: str, compression: bool) -> Any:
    """The same client settings for raw and mock: no proxy, no client pings."""
    return connect(
        url + MODEL_QUERY,
        compression="deflate" if compression else None,
        proxy=None,
        additional_headers=HEADERS,
        ping_interval=None,
        max_size=None,
        open_timeout=30,
        close_timeout=5,
    )


def audio_frames(count: int = 64, seed: int = 1) -> list[str]:
    """`input_audio_buffer.append` frames: 40 ms of 24 kHz PCM16 (1,920 B, 2,560 base64 chars).

    Low-level noise (|sample| <= 2,000, below the default VAD threshold of 6,554), so the
    mock's server VAD scans every 10 ms frame but never detects speech.
    """
    rng = random.Random(seed)
    frames = []
    for _ in range(count):
        pcm = array("h", [rng.randint(-2000, 2000) for _ in range(960)]).tobytes()
        audio = base64.b64encode(pcm).decode()
        frames.append(f'{{"type":"input_audio_buffer.append","audio":"{audio}"}}')
    return frames


def _type_of(message: str | bytes) -> str:
    try:
        value = orjson.loads(message)
    except orjson.JSONDecodeError:
        return "<not json>"
    return str(value.get("type")) if isinstance(value, dict) else "<not an object>"


async def _close_all(conns: list[ClientConnection], batch: int = 250) -> None:
    for start in range(0, len(conns), batch):
        group = conns[start : start + batch]
        try:
            async with asyncio.timeout(15):
                await asyncio.gather(*(ws.close() for ws in group), return_exceptions=True)
        except TimeoutError:
            for ws in group:
                ws.transport.abort()


# ------------------------------------------------------------------ goal 1: appends
@dataclass
class AppendResult:
    rate: float  # msg/s over the timed section (appends + the final clear)
    cpu_us_per_msg: float  # server CPU / messages
    client_cpu_us_per_msg: float
    seconds: float
    confirmed: str  # how delivery was confirmed
    unexpected: list[str]  # types of server events other than the expected ones


async def append_run(
    server: ServerProcess,
    compression: bool,
    *,
    frames: list[str],
    warmup: int,
    count: int,
    no_vad: bool,
    is_raw: bool,
) -> AppendResult:
    """Send `warmup` appends, sync, then `count` appends + clear and wait for `cleared`."""
    async with asyncio.timeout(60 + count / 2000):
        ws = await ws_connect(server.url, compression)
        try:
            return await _append_session(ws, server, frames, warmup, count, no_vad, is_raw)
        finally:
            await _close_all([ws])


async def _append_session(
    ws: ClientConnection,
    server: ServerProcess,
    frames: list[str],
    warmup: int,
    count: int,
    no_vad: bool,
    is_raw: bool,
) -> AppendResult:
    queue: asyncio.Queue[str | bytes] = asyncio.Queue()

    async def reader() -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in ws:
                queue.put_nowait(message)

    others: list[str] = []

    async def wait_for(kind: str, seconds: float) -> str | bytes:
        async with asyncio.timeout(seconds):
            while True:
                message = await queue.get()
                if _type_of(message) == kind:
                    return message
                others.append(_type_of(message))

    task = asyncio.create_task(reader())
    try:
        await wait_for("session.created", 10)
        sent = 0
        if no_vad:
            await ws.send(NO_VAD)
            sent += 1
            await wait_for("session.updated", 10)
        mask = len(frames) - 1
        assert len(frames) & mask == 0, "frame count must be a power of two"
        for i in range(warmup):
            await ws.send(frames[i & mask])
        await ws.send(CLEAR)
        sent += warmup + 1
        await wait_for("input_audio_buffer.cleared", 30)
        send = ws.send
        gc.collect()
        cpu0, client0, t0 = server.cpu_ns(), time.process_time(), time.perf_counter()
        for i in range(count):
            await send(frames[i & mask])
        await send(CLEAR)
        last = await wait_for("input_audio_buffer.cleared", 30 + count / 1000)
        t1, client1, cpu1 = time.perf_counter(), time.process_time(), server.cpu_ns()
        sent += count + 1
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    if is_raw:
        received = orjson.loads(last)["received"]
        if received != sent:
            raise RuntimeError(f"raw server counted {received} messages, {sent} were sent")
        confirmed = f"server counted {received}"
    else:
        confirmed = "clear -> cleared after the last append"
    messages = count + 1
    return AppendResult(
        rate=messages / (t1 - t0),
        cpu_us_per_msg=(cpu1 - cpu0) / 1000 / messages,
        client_cpu_us_per_msg=(client1 - client0) * 1e6 / messages,
        seconds=t1 - t0,
        confirmed=confirmed,
        unexpected=others,
    )


# ------------------------------------------------------------- goal 2: first message
@dataclass
class ConnectResult:
    p50_us: float
    p99_us: float
    cpu_us_per_conn: float  # server CPU per connection: upgrade, first message, close
    first_type: str


async def connect_run(
    server: ServerProcess, compression: bool, *, warmup: int, count: int
) -> ConnectResult:
    """`count` sequential connections: connect() start -> first server message received."""
    latencies: list[float] = []
    first_type = ""
    cpu0 = 0
    async with asyncio.timeout(60 + count * 0.1):
        for i in range(warmup + count):
            if i == warmup:
                gc.collect()
                cpu0 = server.cpu_ns()
            t0 = time.perf_counter()
            ws = await ws_connect(server.url, compression)
            try:
                message = await asyncio.wait_for(ws.recv(), 10)
                t1 = time.perf_counter()
            finally:
                await _close_all([ws])
            if i >= warmup:
                latencies.append(t1 - t0)
            if i == 0:
                first_type = _type_of(message)
        cpu1 = server.cpu_ns()
    qs = statistics.quantiles(latencies, n=100, method="inclusive")
    return ConnectResult(
        p50_us=statistics.median(latencies) * 1e6,
        p99_us=qs[98] * 1e6,
        cpu_us_per_conn=(cpu1 - cpu0) / 1000 / count,
        first_type=first_type,
    )


# ------------------------------------------------------ goal 3: many streaming sessions
@dataclass
class FleetResult:
    sessions: int
    intact: int
    problems: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)
    deltas: int = 0
    lat_p50_ms: float = 0.0  # arrival - (response.create sent + k / tps)
    lat_p99_ms: float = 0.0
    lat_max_ms: float = 0.0
    rel_p99_ms: float = 0.0  # arrival - (response.created arrival + k / tps)
    step_p99_ms: float = 0.0  # (arrival_k - arrival_k-1) - 1 / tps
    first_p99_ms: float = 0.0  # response.create sent -> response.created arrival
    idle_kb_per_session: float = 0.0
    rss_before_mb: float = 0.0
    rss_idle_mb: float = 0.0
    open_per_s: float = 0.0
    stream_seconds: float = 0.0
    server_cpu_pct: float = 0.0  # server CPU over the streaming phase, % of one core
    server_cpu_us_per_event: float = 0.0
    client_cpu_pct: float = 0.0
    events: int = 0


async def _open_one(url: str, compression: bool) -> tuple[ClientConnection, str]:
    ws = await ws_connect(url, compression)
    try:
        first = await asyncio.wait_for(ws.recv(), 30)
    except BaseException:
        ws.transport.abort()
        raise
    return ws, _type_of(first)


async def open_sessions(
    url: str, compression: bool, n: int, batch: int, conns: list[ClientConnection]
) -> None:
    """Open `n` sessions, `batch` at a time, each until its first message; appends to `conns`."""
    for start in range(0, n, batch):
        results = await asyncio.gather(
            *(_open_one(url, compression) for _ in range(min(batch, n - start))),
            return_exceptions=True,
        )
        failed = [r for r in results if isinstance(r, BaseException)]
        conns.extend(r[0] for r in results if not isinstance(r, BaseException))
        if failed:
            raise RuntimeError(f"{len(failed)} of {len(results)} connections failed: {failed[0]!r}")
        wrong = [
            r[1]
            for r in results
            if not isinstance(r, BaseException) and r[1] not in ("session.created",)
        ]
        if wrong:
            raise RuntimeError(f"first message was {wrong[0]!r}, not session.created")


async def stream_all(
    conns: list[ClientConnection],
    *,
    user_text: str,
    tps: float,
    stagger_s: float,
    expected_words: int,
    timeout_s: float,
    server: ServerProcess | None = None,
    readers: list[asyncio.Task[None]],
) -> FleetResult:
    """Every session: item.create + response.create at staggered times; check every stream.

    One reader task per connection records (arrival time, frame) and nothing else; the
    tasks are appended to `readers` (the caller cancels them after closing).
    """
    n = len(conns)
    interval = 1.0 / tps
    logs: list[list[tuple[float, str | bytes]]] = [[] for _ in conns]
    done = [asyncio.Event() for _ in conns]
    sent_at = [0.0] * n
    item_create = orjson.dumps(
        {
            "type": "conversation.item.create",
            "item": {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": user_text}],
            },
        }
    ).decode()

    async def reader(i: int, ws: ClientConnection) -> None:
        log, event, clock = logs[i], done[i], time.perf_counter
        try:
            async for message in ws:
                log.append((clock(), message))
                if message.startswith('{"type":"response.done"'):
                    event.set()
        except ConnectionClosed:
            pass
        finally:
            event.set()  # a closed connection is checked (and counted) below

    readers.extend(asyncio.create_task(reader(i, ws)) for i, ws in enumerate(conns))
    gc.collect()
    gc.disable()  # no client GC pauses inside the latency measurement
    try:
        cpu0 = server.cpu_ns() if server else 0
        client0 = time.process_time()
        t_base = time.perf_counter() + 0.02
        for i, ws in enumerate(conns):
            delay = t_base + i * stagger_s / n - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await ws.send(item_create)
            sent_at[i] = time.perf_counter()
            await ws.send(RESPONSE_CREATE)
        try:
            async with asyncio.timeout(timeout_s):
                await asyncio.gather(*(e.wait() for e in done))
        except TimeoutError:
            pass  # sessions without response.done are counted as broken below
        t_end = time.perf_counter()
        cpu1 = server.cpu_ns() if server else 0
        client1 = time.process_time()
    finally:
        gc.enable()
    result = FleetResult(sessions=n, intact=0)
    lat: list[float] = []
    rel: list[float] = []
    step: list[float] = []
    first: list[float] = []
    events = 0
    for i in range(n):
        events += len(logs[i])
        problem = _check_stream(
            logs[i], sent_at[i], interval, user_text, expected_words, lat, rel, step, first
        )
        if problem is None:
            result.intact += 1
        else:
            reason = problem.split(":")[0]
            result.problems[reason] = result.problems.get(reason, 0) + 1
            if len(result.examples) < 3:
                result.examples.append(f"session {i}: {problem}")
    result.deltas = len(lat)
    if lat:
        result.lat_p50_ms = statistics.median(lat) * 1e3
        result.lat_p99_ms = _p99(lat) * 1e3
        result.lat_max_ms = max(lat) * 1e3
        result.rel_p99_ms = _p99(rel) * 1e3
        result.step_p99_ms = _p99(step) * 1e3 if step else 0.0
        result.first_p99_ms = _p99(first) * 1e3
    elapsed = t_end - t_base
    result.stream_seconds = elapsed
    result.events = events
    if server:
        result.server_cpu_pct = (cpu1 - cpu0) / 1e9 / elapsed * 100
        result.server_cpu_us_per_event = (cpu1 - cpu0) / 1000 / max(1, events)
    result.client_cpu_pct = (client1 - client0) / elapsed * 100
    return result


def _p99(values: list[float]) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def _check_stream(
    log: list[tuple[float, str | bytes]],
    sent_at: float,
    interval: float,
    user_text: str,
    expected_words: int,
    lat: list[float],
    rel: list[float],
    step: list[float],
    first: list[float],
) -> str | None:
    """None if the response arrived whole and in order; else a short reason."""
    parsed = []
    for t, message in log:
        try:
            parsed.append((t, orjson.loads(message)))
        except orjson.JSONDecodeError:
            return "not json: a frame"
    types = [e.get("type") for _, e in parsed]
    if "response.created" not in types:
        return "no response.created"
    start = types.index("response.created")
    if "response.done" not in types[start:]:
        return f"no response.done: {len(types) - start} events after response.created"
    end = types.index("response.done", start)
    seq = types[start : end + 1]
    deltas = [
        (t, e) for t, e in parsed[start : end + 1] if e.get("type") == "response.output_text.delta"
    ]
    expected = [*PRE, *(["response.output_text.delta"] * len(deltas)), *POST]
    if seq != expected:
        return f"wrong event order: {seq}"
    if "error" in types:
        return "error event"
    ids = [e.get("event_id") for _, e in parsed]
    if len(set(ids)) != len(ids):
        return "duplicate event_id"
    response_id = parsed[start][1]["response"]["id"]
    if any(e.get("response_id", response_id) != response_id for _, e in parsed[start : end + 1]):
        return "foreign response_id"
    done_text = next(e["text"] for _, e in parsed[start:end] if e["type"] == POST[0])
    joined = "".join(e["delta"] for _, e in deltas)
    if joined != done_text:
        return "deltas do not concatenate to output_text.done"
    if len(deltas) != len(WORD.findall(done_text)) or len(deltas) < expected_words:
        return f"lost deltas: {len(deltas)} deltas for {len(WORD.findall(done_text))} words"
    if user_text.split()[0] not in done_text:
        return "unexpected reply text"
    t_created = parsed[start][0]
    first.append(t_created - sent_at)
    previous = None
    for k, (t, _) in enumerate(deltas):
        lat.append(t - (sent_at + k * interval))
        rel.append(t - (t_created + k * interval))
        if previous is not None:
            step.append((t - previous) - interval)
        previous = t
    return None


async def fleet_run(
    server: ServerProcess,
    compression: bool,
    *,
    sessions: int,
    batch: int,
    tps: float,
    stagger_s: float,
    user_text: str,
    expected_words: int,
    warmup_sessions: int = 5,
) -> FleetResult:
    """Warm up; RSS; open `sessions` idle sessions; RSS; all stream one paced text response."""
    conns: list[ClientConnection] = []
    warm: list[ClientConnection] = []
    readers: list[asyncio.Task[None]] = []
    stream_timeout = stagger_s + (expected_words + 20) / tps + 30
    try:
        async with asyncio.timeout(120 + stream_timeout * 2):
            # Warm-up: every code path once (imports, schema compilation, caches).
            await open_sessions(server.url, compression, warmup_sessions, batch, warm)
            warm_result = await stream_all(
                warm,
                user_text=user_text,
                tps=tps,
                stagger_s=0.0,
                expected_words=expected_words,
                timeout_s=stream_timeout,
                readers=readers,
            )
            if warm_result.intact != warmup_sessions:
                raise RuntimeError(f"warm-up streams broken: {warm_result.examples}")
            await _close_all(warm)
            warm.clear()
            await asyncio.sleep(0.5)
            rss0 = server.rss_kb()
            t0 = time.perf_counter()
            await open_sessions(server.url, compression, sessions, batch, conns)
            open_s = time.perf_counter() - t0
            await asyncio.sleep(1.0)
            rss1 = server.rss_kb()
            server.phase("stream", True)
            result = await stream_all(
                conns,
                user_text=user_text,
                tps=tps,
                stagger_s=stagger_s,
                expected_words=expected_words,
                timeout_s=stream_timeout,
                server=server,
                readers=readers,
            )
            server.phase("stream", False)
            result.idle_kb_per_session = (rss1 - rss0) / sessions
            result.rss_before_mb = rss0 / 1024
            result.rss_idle_mb = rss1 / 1024
            result.open_per_s = sessions / open_s
            return result
    finally:
        await _close_all(warm + conns)
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
