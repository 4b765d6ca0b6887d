"""Fairness: can one client stall every other session of the mock? (issue 12)

Run: `.venv/bin/python bench/bench_fairness.py` (about 1 minute once fixed; an attack the
server cannot absorb is cut at `--limit` seconds and the server restarted).
Method: docs/benchmarks.md ("Fairness").

Three kinds of process:

* the **server** (this file with `--serve`): `mock_server.server.serve(port=0)` with the
  default configuration (pace "fast", sessions kept as `realtime-mock serve` keeps them),
  plus a loop-lag monitor on the same event loop (a task sleeping
  1 ms in a loop; its overshoot is how long something else held the loop). On stdin it
  takes `reset` (forget the worst stall) and `report` (print it, in ms);
* one **attack** process per attack (this file with `--attack NAME URL`): raw sockets,
  no extension offered, writes its frames and reads (and discards) whatever comes back
  until the server has been quiet for a second; prints how many bytes came back;
* this process: for each attack, resets the monitor, starts the attack and, while it runs,
  connects a sibling session again and again, timing connect -> `session.created`.

With `--record`, the server records every session to a temporary folder, as
`realtime-mock serve --record DIR` does (each frame appended as it happens; a huge one in
steps, `mock_server/_recorder.py`); the folder is removed at the end.

The **baseline** row is the same probing with no attack, in the same run. Targets: the
worst stall <= 20 ms and every sibling connect -> `session.created` < 50 ms under attack.
The exit status is 1 when an attack misses a target.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import gc
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

STALL_GOAL_MS = 20.0
SIBLING_GOAL_MS = 50.0
KEY = "sk-bench-fairness-000000000000"
MAX_FRAME = 16 * 1024 * 1024  # the mock's default max_message_size


# --------------------------------------------------------------------------- server side
async def _serve(record: str | None) -> None:
    from mock_server.server import serve

    worst = worst_cpu = 0.0

    async def monitor() -> None:
        # The wall-clock overshoot is the stall; the loop thread's CPU time over the same
        # sleep is the part of it the server itself spent (page faults included), which
        # other processes on a loaded machine cannot inflate.
        nonlocal worst, worst_cpu
        clock, cpu = time.perf_counter, time.thread_time
        while True:
            start, start_cpu = clock(), cpu()
            await asyncio.sleep(0.001)
            over = clock() - start - 0.001
            used = cpu() - start_cpu
            if over > worst:
                worst = over
            if used > worst_cpu:
                worst_cpu = used

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    # Fast pace: the worst case. Sessions kept as `realtime-mock serve` keeps them (the last
    # 100, 64 MiB): keeping every attack's transcript (up to 50 MB each) and every sibling's
    # made the garbage collector's full passes, and the fresh pages, grow over the run.
    async with serve(
        port=0,
        ping_interval=None,
        pace="fast",
        keep_sessions=100,
        keep_bytes=64 * 1024 * 1024,
        record=record,
    ) as server:
        gc.freeze()  # as `realtime-mock serve` does once listening (mock_server/cli.py)
        task = asyncio.create_task(monitor())
        print(f"listening on {server.url}", flush=True)
        while line := await reader.readline():
            command = line.decode().strip()
            if command == "reset":
                worst = worst_cpu = 0.0
                print("ok", flush=True)
            elif command == "report":
                print(f"{worst * 1000:.2f} {worst_cpu * 1000:.2f}", flush=True)
        task.cancel()


# --------------------------------------------------------------------------- attacks
def _frame(payload: bytes, opcode: int = 1) -> bytes:
    from websockets.frames import Frame, Opcode

    return Frame(Opcode(opcode), payload).serialize(mask=True, extensions=[])


def _event(event: dict[str, object]) -> bytes:
    return _frame(json.dumps(event, separators=(",", ":")).encode())


def _text_item(size: int) -> list[bytes]:
    words = ("lorem ipsum dolor sit amet " * (size // 27 + 1))[:size]
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": words}]}
    return [
        _event({"type": "conversation.item.create", "item": item}),
        _event({"type": "response.create"}),
    ]


def _jpeg_ff() -> list[bytes]:
    prefix = "data:image/jpeg;base64,"
    envelope = 200  # the event around the data URL
    raw = (MAX_FRAME - envelope - len(prefix)) * 3 // 4
    data = base64.b64encode(b"\xff\xd8" + b"\xff" * (raw - 2)).decode()
    part = {"type": "input_image", "image_url": prefix + data}
    item = {"type": "message", "role": "user", "content": [part]}
    return [_event({"type": "conversation.item.create", "item": item})]


def _jpeg_valid() -> list[bytes]:
    prefix = "data:image/jpeg;base64,"
    raw = (MAX_FRAME - 200 - len(prefix)) * 3 // 4
    head = b"\xff\xd8\xff\xc0\x00\x11\x08\x04\x00\x04\x00"  # SOI, SOF0 1024x1024
    data = base64.b64encode(head + bytes(range(256)) * ((raw - len(head)) // 256)).decode()
    part = {"type": "input_image", "image_url": prefix + data}
    item = {"type": "message", "role": "user", "content": [part]}
    return [_event({"type": "conversation.item.create", "item": item})]


def _near_max_append() -> list[bytes]:
    raw = (MAX_FRAME - 200) * 3 // 4 // 2 * 2
    pcm = (bytes(range(256)) * (raw // 256 + 1))[:raw]  # loud: the VAD hears speech
    audio = base64.b64encode(pcm).decode()
    return [_event({"type": "input_audio_buffer.append", "audio": audio})]


def _bad_base64_append() -> list[bytes]:
    audio = "!" * (MAX_FRAME - 200)  # valid JSON, not base64: the control-character scan
    return [_event({"type": "input_audio_buffer.append", "audio": audio})]


def _broken_json_append() -> list[bytes]:
    frame = json.dumps({"type": "input_audio_buffer.append", "audio": _near_max_audio()})
    return [_frame(frame[:-1].encode())]  # no closing brace: invalid_json at the very end


def _vad_edges_append() -> list[bytes]:
    # One loud 10 ms frame, then 200 ms of silence (the default silence_duration_ms):
    # a speech start and stop (commit, response) every 210 ms of audio, ~1,000 in 16 MB.
    frame = 480  # bytes of 10 ms at 24 kHz
    cycle = b"\x00\x40" * (frame // 2) + bytes(20 * frame)
    raw = (MAX_FRAME - 200) * 3 // 4 // len(cycle) * len(cycle)
    audio = base64.b64encode(cycle * (raw // len(cycle))).decode()
    return [_event({"type": "input_audio_buffer.append", "audio": audio})]


def _big_instructions() -> list[bytes]:
    text = ("lorem ipsum dolor sit amet " * (MAX_FRAME // 27))[: MAX_FRAME - 200]
    session = {"type": "realtime", "instructions": text}
    return [_event({"type": "session.update", "session": session})]


def _near_max_audio() -> str:
    raw = (MAX_FRAME - 200) * 3 // 4 // 2 * 2
    pcm = (bytes(range(256)) * (raw // 256 + 1))[:raw]
    return base64.b64encode(pcm).decode()


def _small_frames() -> list[bytes]:
    one = _event({"type": "input_audio_buffer.clear"})
    return [one * 50_000]


ATTACKS: dict[str, tuple[str, Callable[[], list[bytes]]]] = {
    "text-60k": ("60 KB input_text + response.create", lambda: _text_item(60_000)),
    "text-1m": ("1 MB input_text + response.create", lambda: _text_item(1_000_000)),
    "jpeg-0xff": ("JPEG of 0xFF bytes at the 16 MB frame limit", _jpeg_ff),
    "near-max-append": ("16 MB input_audio_buffer.append", _near_max_append),
    "small-frames": ("50,000 small frames in one burst", _small_frames),
    # Variants of the 16 MB frame (issue 12, point 1): not in the default set.
    "append-bad-b64": ("16 MB append of non-base64 characters", _bad_base64_append),
    "append-no-brace": ("16 MB append, invalid JSON at its end", _broken_json_append),
    "vad-edges": ("16 MB append with a speech turn every 210 ms", _vad_edges_append),
    "big-instructions": ("16 MB session.update instructions", _big_instructions),
    "jpeg-valid": ("a valid 16 MB JPEG (decoded, measured, hashed)", _jpeg_valid),
}
DEFAULT_ATTACKS = ("text-60k", "text-1m", "jpeg-0xff", "near-max-append", "small-frames")


async def _attack(name: str, url: str, limit: float) -> None:
    from websockets.uri import parse_uri

    frames = ATTACKS[name][1]()
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
    await writer.drain()
    await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    received = 0

    async def drain() -> None:
        nonlocal received
        while data := await reader.read(1 << 20):
            received += len(data)

    reading = asyncio.create_task(drain())
    for frame in frames:
        writer.write(frame)
    await writer.drain()
    # Done when the server has answered and then been quiet for a second (a server that
    # answers nothing, e.g. frozen, keeps the attack running until `limit`).
    before = received
    deadline = time.monotonic() + limit
    last, quiet_since = before, time.monotonic()
    while time.monotonic() < deadline and not reading.done():
        await asyncio.sleep(0.1)
        if received != last:
            last, quiet_since = received, time.monotonic()
        elif received > before and time.monotonic() - quiet_since > 1.0:
            break
    reading.cancel()
    writer.transport.abort()
    received -= before
    print(json.dumps({"received": received}), flush=True)


# --------------------------------------------------------------------------- orchestration
@dataclass
class Row:
    name: str
    label: str
    stall_ms: float | None = None
    cpu_ms: float | None = None  # the loop thread's CPU time in that worst turn, or less
    siblings_ms: list[float] = field(default_factory=list)
    received: int | None = None
    seconds: float = 0.0
    note: str = ""

    def passed(self) -> bool:
        return (
            self.stall_ms is not None
            and self.stall_ms <= STALL_GOAL_MS
            and bool(self.siblings_ms)
            and max(self.siblings_ms) < SIBLING_GOAL_MS
        )


class Server:
    """The server process; `ask` writes a command and reads the answer line."""

    def __init__(self, proc: asyncio.subprocess.Process, url: str) -> None:
        self.proc = proc
        self.url = url

    @classmethod
    async def start(cls, record: str | None = None) -> Server:
        extra = ["--record-to", record] if record else []
        proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--serve", *extra, cwd=ROOT,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        if not line.startswith("listening on "):
            raise SystemExit(f"the server did not start: {line!r}")
        return cls(proc, line.split()[-1] + "?model=gpt-realtime")

    async def ask(self, command: str, timeout: float) -> str | None:  # noqa: ASYNC109
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(command.encode() + b"\n")
        await self.proc.stdin.drain()
        try:
            return (await asyncio.wait_for(self.proc.stdout.readline(), timeout)).decode()
        except TimeoutError:
            return None

    async def stop(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGKILL)
        await asyncio.wait_for(self.proc.wait(), 10)


async def _sibling(url: str, timeout: float) -> float | None:  # noqa: ASYNC109
    from websockets.asyncio.client import connect

    start = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            async with connect(
                url,
                additional_headers=[("Authorization", f"Bearer {KEY}")],
                compression=None,
                ping_interval=None,
                proxy=None,
            ) as ws:
                await ws.recv()
                elapsed = (time.perf_counter() - start) * 1000
                return elapsed
    except (TimeoutError, OSError):
        return None


async def _run_row(server: Server, name: str | None, limit: float) -> tuple[Row, bool]:
    """One attack (or the baseline); returns the row and whether the server is usable."""
    label = ATTACKS[name][0] if name else "no attack"
    row = Row(name or "baseline", label)
    await server.ask("reset", 10)
    start = time.monotonic()
    attack = None
    if name is not None:
        attack = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--attack", name, server.url, "--limit", str(limit),
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
    deadline = start + (limit if attack else 2.0)
    missed = 0
    while time.monotonic() < deadline:
        if attack is not None and attack.returncode is not None:
            break
        latency = await _sibling(server.url, max(0.1, deadline - time.monotonic()))
        if latency is None:
            missed += 1
        else:
            row.siblings_ms.append(latency)
        await asyncio.sleep(0.02)
    alive = True
    if attack is not None:
        try:
            out, _ = await asyncio.wait_for(attack.communicate(), 5)
            row.received = json.loads(out.decode().strip().splitlines()[-1])["received"]
        except (TimeoutError, ValueError, IndexError, KeyError):
            with contextlib.suppress(ProcessLookupError):
                attack.kill()
            await attack.wait()
    row.seconds = time.monotonic() - start
    answer = await server.ask("report", 5)
    if answer is None:
        row.note = (
            f"server still busy after {row.seconds:.0f} s: killed (stall > {row.seconds:.0f} s)"
        )
        row.stall_ms = row.seconds * 1000
        alive = False
    else:
        wall, cpu = answer.split()
        row.stall_ms, row.cpu_ms = float(wall), float(cpu)
    if missed:
        row.note = (row.note + "; " if row.note else "") + f"{missed} sibling(s) timed out"
        row.siblings_ms.append(row.seconds * 1000)
    return row, alive


def _print(rows: list[Row], commit: str) -> None:
    print(f"\nFairness at {commit} (targets: stall <= {STALL_GOAL_MS:g} ms, "
          f"sibling < {SIBLING_GOAL_MS:g} ms)")  # fmt: skip
    head = f"{'attack':<17} {'worst stall ms':>15} {'loop cpu ms':>12} "
    print(head + f"{'sibling ms med/max':>19} {'n':>4} {'bytes back':>12} {'secs':>6}  verdict")
    for row in rows:
        sib = row.siblings_ms
        sibling = f"{statistics.median(sib):.1f}/{max(sib):.1f}" if sib else "-"
        back = f"{row.received:,}" if row.received is not None else "-"
        stall = f"{row.stall_ms:.1f}" if row.stall_ms is not None else "-"
        cpu = f"{row.cpu_ms:.1f}" if row.cpu_ms is not None else "-"
        verdict = "PASS" if row.passed() else "FAIL"
        print(f"{row.name:<17} {stall:>15} {cpu:>12} {sibling:>19} {len(sib):>4} {back:>12} "
              f"{row.seconds:>6.1f}  {verdict} {row.note}")  # fmt: skip


async def _main(args: argparse.Namespace) -> int:
    names = (
        [n.strip() for n in args.attacks.split(",") if n.strip()]
        if args.attacks
        else list(DEFAULT_ATTACKS)
    )
    unknown = [n for n in names if n not in ATTACKS]
    if unknown:
        raise SystemExit(f"unknown attack(s) {unknown}; known: {', '.join(ATTACKS)}")
    commit = subprocess.run(  # noqa: ASYNC221 - before anything runs
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    rows: list[Row] = []
    folder = tempfile.mkdtemp(prefix="bench-fairness-record-") if args.record else None
    server = await Server.start(folder)
    try:
        for _ in range(args.repeat):
            for name in [None, *names]:
                row, alive = await _run_row(server, name, args.limit)
                rows.append(row)
                print(f"  {row.name}: stall {row.stall_ms:.1f} ms (loop cpu {row.cpu_ms} ms), "
                      f"{len(row.siblings_ms)} siblings "
                      f"{row.note}", flush=True)  # fmt: skip
                if not alive:
                    await server.stop()
                    server = await Server.start(folder)
    finally:
        await server.stop()
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    _print(rows, commit + (" with --record" if folder else ""))
    return 0 if all(r.passed() for r in rows if r.name != "baseline") else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--attack", nargs=2, metavar=("NAME", "URL"), help=argparse.SUPPRESS)
    parser.add_argument("--attacks", help=f"comma-separated subset of: {', '.join(ATTACKS)}")
    parser.add_argument("--limit", type=float, default=30.0, help="seconds per attack (30)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of the whole set (1)")
    parser.add_argument(
        "--record",
        action="store_true",
        help="record every session, as `realtime-mock serve --record DIR` does (to a "
        "temporary folder, removed at the end)",
    )
    parser.add_argument("--record-to", help=argparse.SUPPRESS)  # the server's folder
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve(args.record_to))
        return 0
    if args.attack:
        asyncio.run(_attack(args.attack[0], args.attack[1], args.limit))
        return 0
    return asyncio.run(_main(args))


if __name__ == "__main__":
    sys.exit(main())
