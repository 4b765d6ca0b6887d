"""Connect-to-first-event over WebRTC against WebSocket: same mock, same machine, same run.

Run: `python bench/bench_webrtc_connect.py` (about 15 s; `--count N` for more; needs the
webrtc extra). Method: docs/webrtc.md ("Connect time").

One `realtime-mock serve --pace fast --no-compression` process; this process is the client,
connecting in turns (WebSocket, WebRTC, WebSocket, ...) after a warm-up, until the first
server event (`session.created`) arrives:

- WebSocket: TCP + the upgrade (`?model=gpt-realtime`) until the first frame;
- WebRTC, as a browser does it: a new peer connection with the `oai-events` data channel
  and an audio track, its offer made (ICE gathering on 127.0.0.1), `POST /v1/realtime/calls`
  (the mock answers with aiortc), the answer applied, then ICE, DTLS, SCTP and the data
  channel's opening until its first message. Its three parts are timed too: offer, POST
  (the server's answer), and answer-to-first-event.

After each WebRTC call the client hangs up (`POST .../hangup`, not timed) and closes its
peer connection. The table gives p50 and p90 in milliseconds and the WebRTC/WebSocket ratio
of the p50s. Nothing is judged: the exit status is 0 unless something failed (2 without
aiortc).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _procs import start_mock, stop_mock

KEY = "sk-bench-webrtc-connect-00000000"
HEADERS = {"Authorization": f"Bearer {KEY}"}
IO_TIMEOUT = 10.0


async def websocket_once(url: str) -> float:
    started = time.perf_counter()
    async with connect(
        f"{url}?model=gpt-realtime",
        additional_headers=HEADERS,
        compression=None,
        proxy=None,
        ping_interval=None,
        open_timeout=IO_TIMEOUT,
    ) as ws:
        first = await asyncio.wait_for(ws.recv(), IO_TIMEOUT)
        elapsed = (time.perf_counter() - started) * 1000.0
    if '"session.created"' not in str(first):
        raise RuntimeError(f"websocket: the first event is not session.created: {first!r:.200}")
    return elapsed


async def webrtc_once(http: httpx.AsyncClient, origin: str) -> tuple[float, float, float, float]:
    """(total, offer, POST, answer-to-first-event) in ms for one call."""
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from aiortc.mediastreams import AudioStreamTrack

    from mock_server._webrtc import no_ice_servers

    first: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    started = time.perf_counter()
    pc = RTCPeerConnection(no_ice_servers())
    try:
        channel = pc.createDataChannel("oai-events")

        def on_message(message: str | bytes) -> None:
            if not first.done():
                first.set_result(str(message))

        channel.on("message", on_message)
        pc.addTrack(AudioStreamTrack())
        await pc.setLocalDescription(await pc.createOffer())
        offered = time.perf_counter()
        response = await http.post(
            "/realtime/calls",
            content=pc.localDescription.sdp,
            headers={**HEADERS, "Content-Type": "application/sdp"},
        )
        if response.status_code != 201:
            raise RuntimeError(f"POST /calls: {response.status_code} {response.text[:300]}")
        answered = time.perf_counter()
        await pc.setRemoteDescription(RTCSessionDescription(response.text, "answer"))
        event = await asyncio.wait_for(first, IO_TIMEOUT)
        done = time.perf_counter()
        if '"session.created"' not in event:
            raise RuntimeError(f"webrtc: the first event is not session.created: {event:.200}")
        await http.post(f"{origin}{response.headers['Location']}/hangup", headers=HEADERS)
    finally:
        await pc.close()
    ms = 1000.0
    return (
        (done - started) * ms,
        (offered - started) * ms,
        (answered - offered) * ms,
        (done - answered) * ms,
    )


def p(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(ws: list[float], rtc: list[tuple[float, float, float, float]]) -> str:
    total = [r[0] for r in rtc]
    ratio = statistics.median(total) / statistics.median(ws)
    rows = [
        "| measure | WebSocket p50 ms | WebSocket p90 ms | WebRTC p50 ms | WebRTC p90 ms "
        "| WebRTC/WebSocket p50 |",
        "|---|---:|---:|---:|---:|---:|",
        f"| connect to session.created | {statistics.median(ws):.2f} | {p(ws, 0.9):.2f} | "
        f"{statistics.median(total):.2f} | {p(total, 0.9):.2f} | {ratio:.1f}x |",
        "",
        "| WebRTC part | p50 ms | p90 ms |",
        "|---|---:|---:|",
    ]
    for index, label in (
        (1, "offer (peer connection, ICE gathering)"),
        (2, "POST /v1/realtime/calls (the mock's SDP answer)"),
        (3, "answer to first event (ICE, DTLS, SCTP, data channel)"),
    ):
        values = [r[index] for r in rtc]
        rows.append(f"| {label} | {statistics.median(values):.2f} | {p(values, 0.9):.2f} |")
    return "\n".join(rows)


async def run(args: argparse.Namespace) -> str:
    from mock_server._webrtc import loopback_ice

    loopback_ice()
    proc, url, _ = await start_mock()
    try:
        origin = "http://" + url.split("://", 1)[1].split("/", 1)[0]
        ws_times: list[float] = []
        rtc_times: list[tuple[float, float, float, float]] = []
        async with httpx.AsyncClient(base_url=f"{origin}/v1", timeout=IO_TIMEOUT) as http:
            for number in range(args.warmup + args.count):
                ws = await websocket_once(url)
                rtc = await webrtc_once(http, origin)
                if number >= args.warmup:
                    ws_times.append(ws)
                    rtc_times.append(rtc)
    finally:
        await stop_mock(proc)
    return report(ws_times, rtc_times)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=20, help="measured calls of each kind")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured calls first")
    args = parser.parse_args(argv)
    try:
        import aiortc  # noqa: F401
    except ImportError:
        print("this benchmark needs the webrtc extra: pip install -e '.[webrtc]'", file=sys.stderr)
        return 2
    table: Any = asyncio.run(run(args))
    print(f"connect to first event, {args.count} calls each (after {args.warmup} warm-up)")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
