"""What TLS costs a connection: `wss://` against plain `ws://`, on the same machine, same run.

Run: `python bench/bench_tls_connect.py` (about 10 s; `--count N` for more). Method:
docs/tls.md ("What TLS costs").

Two `realtime-mock serve` processes run side by side: one plain (`--port 0`), one with
`--tls` (its local CA and server certificate made in a temporary `--tls-dir`, ECDSA
P-256), both `--pace fast --no-compression`. Each is started once and stopped by its
PID. The client connects to them in turns (ws, wss, ws, wss, ...) after a warm-up, with
one client TLS context (as a client keeps one) and no session resumption, so every
`wss://` connection pays a full TLS handshake. Two times per connection:

- connect: TCP (plus the TLS handshake for wss) until the stream is ready;
- session.created: TCP + TLS + the WebSocket upgrade until the first server event arrived
  (what a client waits for before it can configure the session).

The table gives p50 and p90 in milliseconds and the wss/ws ratio of the p50s. Nothing is
judged: the exit status is 0 unless something failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ssl
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _procs import start_mock, stop_mock

HEADERS = {"Authorization": "Bearer sk-bench-tls-connect-00000000"}
IO_TIMEOUT = 10.0


@dataclass
class Cell:
    """One server: its URL, the client's TLS context (None: plain), the times."""

    name: str
    url: str
    context: ssl.SSLContext | None
    connect_ms: list[float] = field(default_factory=list)
    created_ms: list[float] = field(default_factory=list)
    negotiated: str = ""  # e.g. "TLSv1.3 TLS_AES_256_GCM_SHA384"


async def once(cell: Cell) -> None:
    """Time one TCP(+TLS) connect, then one connection up to `session.created`."""
    parts = urlsplit(cell.url)
    assert parts.hostname is not None
    assert parts.port is not None
    started = time.perf_counter()
    _, writer = await asyncio.wait_for(
        asyncio.open_connection(parts.hostname, parts.port, ssl=cell.context), IO_TIMEOUT
    )
    cell.connect_ms.append((time.perf_counter() - started) * 1000.0)
    tls = writer.get_extra_info("ssl_object")
    if tls is not None:
        cell.negotiated = f"{tls.version()} {tls.cipher()[0]}"
    writer.close()
    with contextlib.suppress(OSError, ssl.SSLError):
        await writer.wait_closed()
    started = time.perf_counter()
    async with connect(
        f"{cell.url}?model=gpt-realtime",
        additional_headers=HEADERS,
        ssl=cell.context,
        compression=None,
        proxy=None,
        ping_interval=None,
        open_timeout=IO_TIMEOUT,
    ) as ws:
        first = await asyncio.wait_for(ws.recv(), IO_TIMEOUT)
        cell.created_ms.append((time.perf_counter() - started) * 1000.0)
    if '"session.created"' not in str(first):
        raise RuntimeError(f"{cell.name}: the first event is not session.created: {first!r:.200}")


def p(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(cells: list[Cell]) -> str:
    plain, tls = cells
    rows = [
        "| measure | ws p50 ms | ws p90 ms | wss p50 ms | wss p90 ms | wss/ws p50 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, attr in (
        ("connect: TCP (+TLS)", "connect_ms"),
        ("to session.created: TCP (+TLS) + upgrade", "created_ms"),
    ):
        a, b = getattr(plain, attr), getattr(tls, attr)
        ratio = statistics.median(b) / statistics.median(a)
        rows.append(
            f"| {label} | {statistics.median(a):.2f} | {p(a, 0.9):.2f} | "
            f"{statistics.median(b):.2f} | {p(b, 0.9):.2f} | {ratio:.2f}x |"
        )
    return "\n".join(rows)


async def run(args: argparse.Namespace) -> str:
    with tempfile.TemporaryDirectory(prefix="bench-tls-") as tmp:
        plain_proc, plain_url, _ = await start_mock()
        try:
            tls_proc, tls_url, more = await start_mock(["--tls", "--tls-dir", tmp], more_lines=1)
            ca = more[0].strip().partition("=")[2]
            try:
                context = ssl.create_default_context(cafile=ca)
                cells = [Cell("ws", plain_url, None), Cell("wss", tls_url, context)]
                for _ in range(args.warmup):
                    for cell in cells:
                        await once(cell)
                for cell in cells:
                    cell.connect_ms.clear()
                    cell.created_ms.clear()
                for _ in range(args.count):
                    for cell in cells:
                        await once(cell)
            finally:
                await stop_mock(tls_proc)
        finally:
            await stop_mock(plain_proc)
    return (
        f"{args.count} connections each (after {args.warmup} warm-up), interleaved; "
        f"client and servers on 127.0.0.1; {ssl.OPENSSL_VERSION}; wss: {cells[1].negotiated}, "
        "ECDSA P-256 certificate\n\n" + report(cells)
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=300, help="connections per server (300)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed first ones (20)")
    args = parser.parse_args(argv)
    if args.count < 1 or args.warmup < 0:
        parser.error("--count must be 1 or more and --warmup 0 or more")
    print(asyncio.run(run(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
