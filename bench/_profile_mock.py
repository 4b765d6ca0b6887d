"""Profile the mock's hot paths in-process, without sockets (sans-I/O `MockApp`).

    python bench/_profile_mock.py append [--vad] [-n 20000]    # receive_text(append)
    python bench/_profile_mock.py stream [-n 200]             # one text response, all events
    python bench/_profile_mock.py open [-n 300]               # factory + opened()
    python bench/_profile_mock.py memory [-n 1000]            # tracemalloc: bytes per idle app

Prints the per-call wall time (median of 5 repeats) of the bare `MockApp` work and the top
functions of a cProfile run (`--top`, sorted by own time). The socket side (websockets
framing, the asyncio driver) is not included: py-spy on a running `realtime-mock` shows it.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _workloads import NO_VAD, RESPONSE_CREATE, audio_frames

from mock_server.app import make_app
from mock_server.config import MockConfig
from mock_server.request import ConnectRequest

ROOT = Path(__file__).resolve().parent.parent  # the checkout: paths are shown relative to it

HEADERS = [("Authorization", "Bearer sk-bench-0000000000000000")]


def new_app(config: MockConfig, vad: bool) -> object:
    request = ConnectRequest.from_target("/v1/realtime?model=gpt-realtime", HEADERS)
    app = make_app(request, config)
    app.opened(0.0)
    app.actions_to_perform()
    if not vad:
        app.receive_text(NO_VAD, 0.0)
        app.actions_to_perform()
    return app


def work_append(n: int, vad: bool) -> Callable[[], None]:
    frames = audio_frames(64)
    config = MockConfig(pace="fast")

    def run() -> None:
        app = new_app(config, vad)
        receive, drain = app.receive_text, app.actions_to_perform  # type: ignore[attr-defined]
        for i in range(n):
            receive(frames[i & 63], float(i))
            drain()

    return run


def work_stream(n: int) -> Callable[[], None]:
    config = MockConfig(pace="fast")

    def run() -> None:
        for _ in range(n):
            app = new_app(config, vad=True)
            app.receive_text(RESPONSE_CREATE, 1.0)  # type: ignore[attr-defined]
            app.actions_to_perform()  # type: ignore[attr-defined]

    return run


def work_open(n: int) -> Callable[[], None]:
    config = MockConfig(pace="fast")

    def run() -> None:
        for _ in range(n):
            new_app(config, vad=True)

    return run


def memory(n: int, top: int) -> int:
    """Python heap per idle session (factory + opened + session.created), by source line."""
    import gc
    import tracemalloc

    config = MockConfig(pace="fast")
    keep = [new_app(config, vad=True) for _ in range(5)]  # warm-up: imports, caches
    gc.collect()
    tracemalloc.start(1)
    before = tracemalloc.take_snapshot()
    keep = [new_app(config, vad=True) for _ in range(n)]
    gc.collect()
    after = tracemalloc.take_snapshot()
    diff = after.compare_to(before, "lineno")
    total = sum(d.size_diff for d in diff)
    print(f"memory: {total / n / 1024:.1f} kB of Python heap per idle MockApp ({n} apps)")
    for stat in diff[:top]:
        frame = stat.traceback[0]
        name = frame.filename.split(f"{ROOT}/")[-1].split("site-packages/")[-1]
        print(
            f"  {stat.size_diff / n:8.0f} B/app  {stat.count_diff / n:6.1f} blocks  "
            f"{name}:{frame.lineno}"
        )
    del keep
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=("append", "stream", "open", "memory"))
    parser.add_argument("-n", type=int, default=0)
    parser.add_argument("--vad", action="store_true", help="keep server_vad on (append)")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    if args.what == "memory":
        return memory(args.n or 1000, args.top)
    if args.what == "append":
        n = args.n or 20000
        run = work_append(n, args.vad)
        unit = "append"
    elif args.what == "stream":
        n = args.n or 200
        run = work_stream(n)
        unit = "session with one text response"
    else:
        n = args.n or 300
        run = work_open(n)
        unit = "session opened"
    run()  # warm-up (imports, schema compilation)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        run()
        times.append((time.perf_counter() - t0) / n)
    print(
        f"{args.what}: {statistics.median(times) * 1e6:.2f} us per {unit} "
        f"(median of 5, min {min(times) * 1e6:.2f})"
    )
    profiler = cProfile.Profile()
    profiler.enable()
    run()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).sort_stats("tottime")
    stats.print_stats(args.top)
    print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
