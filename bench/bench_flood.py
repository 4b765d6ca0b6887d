"""A frame-flooding client under the runner: case time, transcript and report sizes, RSS.

    .venv/bin/python bench/bench_flood.py [--seconds 6] [--out DIR]

One `tolerant` case whose client floods `input_audio_buffer.append` frames (1 KiB of
audio each) for `--seconds`, then closes. Prints the case's wall time, the size of its
`connection-0.jsonl`, the time to write `report.json` and `report.html` and their sizes,
and the runner's peak RSS (`ru_maxrss`). Issue 12: every figure must stay bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import shlex
import sys
import tempfile
import time
from pathlib import Path

from conformance._cli_run import serve_mock, write_reports
from conformance.runner import TOLERANT_CASE, RunConfig, run_suite, select_cases

FLOOD = """
import json, os, sys, time
from websockets.sync.client import connect

url = os.environ["OPENAI_REALTIME_URL"] + "?model=" + os.environ["REALTIME_MODEL"]
auth = {"Authorization": "Bearer " + os.environ["OPENAI_API_KEY"]}
with connect(url, additional_headers=auth, max_size=None, open_timeout=10) as ws:
    ws.recv(timeout=10)
    frame = json.dumps({"type": "input_audio_buffer.append", "audio": "AAAA" * 256})
    sent = 0
    deadline = time.monotonic() + float(sys.argv[1])
    while time.monotonic() < deadline:
        ws.send(frame)
        sent += 1
    print(f"sent {sent} frames")
"""


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


async def _main(seconds: float, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - before anything runs
    script = out / "flood.py"
    script.write_text(FLOOD, encoding="utf-8")
    client = f"{shlex.quote(sys.executable)} {shlex.quote(str(script))} {seconds:g}"
    config = RunConfig(client=client, out_dir=out / "report", timeout_s=seconds + 60)
    t0 = time.monotonic()
    suite = await run_suite(select_cases([TOLERANT_CASE], None), config, mock=serve_mock)
    case_s = time.monotonic() - t0
    result = suite.results[0]
    t1 = time.monotonic()
    written = write_reports(suite, announce=False)
    reports_s = time.monotonic() - t1
    jsonl = sum(Path(p).stat().st_size for p in result.transcript_paths)  # noqa: ASYNC240
    frames = sum(len(t) for t in result.transcripts)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    stdout = result.outcome.stdout.strip() if result.outcome else ""
    print(f"client: {stdout}; verdict {result.verdict}; records in memory {frames:,}")
    print(f"case: {case_s:.1f} s; transcript {_mb(jsonl)}")
    print(
        f"reports: {reports_s:.1f} s; report.html {_mb(written['html'].stat().st_size)}, "
        f"report.json {_mb(written['json'].stat().st_size)}"
    )
    print(f"runner peak RSS: {_mb(rss)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.out is not None:
        asyncio.run(_main(args.seconds, args.out))
        return
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(_main(args.seconds, Path(tmp)))


if __name__ == "__main__":
    main()
