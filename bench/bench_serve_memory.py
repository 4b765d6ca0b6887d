"""Memory of a long-running `realtime-mock serve`: RSS per session over connect/close cycles.

Run: `python bench/bench_serve_memory.py` (10,000 cycles, about a minute), or
`--cycles 2000 --audio 25` for sessions that each send 25 x 40 ms of audio first.
Method: docs/benchmarks.md ("Memory of a long-running server").

One `realtime-mock serve --port 0` subprocess (extra flags after `--`, e.g.
`-- --record /tmp/rec`); `--workers` clients in parallel each connect, wait for
`session.created`, optionally append audio, close, and start over. The server's VmRSS is
read after a warm-up and after every `--every` cycles; the table prints it, and the
slope (bytes of RSS per session) over the second half of the run. A bounded server has a
slope near 0: RSS is flat however many sessions it served. The exit status is 1 when the
slope is above `--max-slope` bytes per session (default 200).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _procs import ServerProcess, mock_argv, stop_all

HEADERS = {"Authorization": "Bearer sk-bench-serve-memory-0000"}
IO_TIMEOUT = 10.0
WARMUP = 200
# 40 ms of 24 kHz pcm16 silence (a real client's usual chunk).
APPEND = json.dumps(
    {"type": "input_audio_buffer.append", "audio": base64.b64encode(bytes(1920)).decode()}
)


async def one_session(url: str, appends: int) -> None:
    async with asyncio.timeout(IO_TIMEOUT):
        async with connect(url, additional_headers=HEADERS, compression=None, max_size=None) as ws:
            first = json.loads(await ws.recv())
            if first.get("type") != "session.created":
                raise RuntimeError(f"expected session.created first, got {first}")
            for _ in range(appends):
                await ws.send(APPEND)
            if appends:
                await ws.send(json.dumps({"type": "input_audio_buffer.clear"}))
                while json.loads(await ws.recv()).get("type") != "input_audio_buffer.cleared":
                    pass


async def cycles(url: str, count: int, workers: int, appends: int) -> None:
    left = count

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await one_session(url, appends)

    await asyncio.gather(*(worker() for _ in range(workers)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cycles", type=int, default=10_000)
    parser.add_argument("--every", type=int, default=1_000, help="read RSS every N cycles")
    parser.add_argument("--workers", type=int, default=4, help="clients in parallel")
    parser.add_argument("--audio", type=int, default=0, help="40 ms appends per session")
    parser.add_argument("--max-slope", type=float, default=200.0, help="bytes/session goal")
    parser.add_argument("server_args", nargs="*", help="extra `serve` flags (after --)")
    args = parser.parse_args(argv)
    server = ServerProcess(
        "mock", mock_argv(compression=False, extra=["--log-level", "ERROR", *args.server_args])
    )
    try:
        url = server.wait_url() + "?model=gpt-realtime-1.5"
        asyncio.run(cycles(url, WARMUP, args.workers, args.audio))
        rows: list[tuple[int, int, float]] = [(0, server.rss_kb(), 0.0)]
        start = time.monotonic()
        done = 0
        while done < args.cycles:
            step = min(args.every, args.cycles - done)
            asyncio.run(cycles(url, step, args.workers, args.audio))
            done += step
            rows.append((done, server.rss_kb(), time.monotonic() - start))
    finally:
        stop_all()
    print(f"realtime-mock serve {' '.join(args.server_args)}".rstrip())
    print(f"{'sessions':>9} {'RSS MB':>8} {'s':>7}  (after {WARMUP} warm-up sessions)")
    for sessions, rss, seconds in rows:
        print(f"{sessions:>9} {rss / 1024:>8.1f} {seconds:>7.1f}")
    half = rows[len(rows) // 2]
    last = rows[-1]
    slope = (last[1] - half[1]) * 1024 / max(last[0] - half[0], 1)
    total = (last[1] - rows[0][1]) * 1024 / max(last[0], 1)
    print(
        f"RSS per session: {slope:.0f} B over the second half, {total:.0f} B overall "
        f"(goal: <= {args.max_slope:.0f} B, flat)"
    )
    return 0 if slope <= args.max_slope else 1


if __name__ == "__main__":
    raise SystemExit(main())
