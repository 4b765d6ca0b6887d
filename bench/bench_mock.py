"""The mock server against a raw `websockets` server, measured in the same run.

Run: `python bench/bench_mock.py` (a few minutes) or `python bench/bench_mock.py --quick`
(about a minute). Method and recorded numbers: docs/benchmarks.md. Every server runs in its
own process (`realtime-mock serve` through `python -m mock_server`, or
`bench/_raw_server.py`), started fresh for every run of every cell and stopped by PID; the
client is this process. Everything listens on 127.0.0.1. By default the server is pinned to
CPU 0 and the client to CPU 1 (`--pin split`, as perf-anchors.md's "split cores" rows).

Goals (issue; ratios against the raw server, same compression setting):

1. `input_audio_buffer.append` (40 ms of 24 kHz PCM16, 2.6 KB) client->server with full
   validation: mock msg/s >= 0.8x raw (a raw server that only counts), with server VAD on
   (the default) and with `turn_detection: null`. Delivery of every append is confirmed by
   a final `input_audio_buffer.clear` -> `input_audio_buffer.cleared` round trip (the raw
   server also returns its count). Server CPU us/msg from /proc/PID/task/*/schedstat.
2. connect() -> first server message (`session.created`; raw: a pre-built 1.2 KB JSON
   message): mock p50 <= 1.5x raw, over N sequential connections.
3. N concurrent sessions (1,000), each streaming one text response paced at `--tps`
   deltas/s, the `response.create`s spread evenly over `--stagger` seconds: every
   session's events arrive whole and in order (deltas concatenate to
   `response.output_text.done`), and delta latency p99 < 50 ms, where the latency of
   delta k is its arrival time minus when it was due: `response.create` sent + k / tps.
   Also server RSS per idle session (RSS with N idle sessions open minus RSS before,
   divided by N) against the raw server's per-connection kB.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson
import websockets
from _procs import ROOT, ServerProcess, mock_argv, raw_argv, stop_all
from _pyspy import PySpy, summarise
from _workloads import (
    AppendResult,
    ConnectResult,
    FleetResult,
    append_run,
    audio_frames,
    connect_run,
    fleet_run,
)

APPEND_TARGET = 0.8
CONNECT_TARGET = 1.5
LATENCY_TARGET_MS = 50.0
USER_TEXT = (
    "Please describe the layout of this settings page and tell me whether the buttons "
    "look aligned, whether the text is legible and what you would change first."
)  # 26 words -> a 33-delta reply (raw server: 33 too)


# ----------------------------------------------------------------------------- running
class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.server_cpus: set[int] | None = None
        self.data: dict[str, list[Any]] = {}
        self.goal = ""
        self.spy_count = 0

    def record(self, key: str, value: Any) -> None:
        self.data.setdefault(key, []).append(value)

    def run_cell(self, label: str, argv: list[str], work: Callable[[ServerProcess], Any]) -> Any:
        if self.args.idle_wait > 0:
            _wait_until_idle(self.args.idle_wait)
        server = ServerProcess(label, argv, cpus=self.server_cpus)
        spy = None
        try:
            server.wait_url()
            if self.args.py_spy and label.startswith("mock"):
                out_dir = Path(self.args.py_spy)
                out_dir.mkdir(parents=True, exist_ok=True)
                self.spy_count += 1
                out = out_dir / f"{self.goal}-{label.replace('/', '-')}-{self.spy_count}.txt"
                if self.goal == "goal3":  # profile the streaming phase only
                    spies: list[PySpy] = []

                    def hook(name: str, started: bool, out: Path = out) -> None:
                        if started:
                            spies.append(PySpy(server.pid, out))
                        elif spies:
                            spies[-1].stop()

                    server.phase_hook = hook
                else:
                    spy = PySpy(server.pid, out)
                    time.sleep(0.3)  # let py-spy attach
            result = asyncio.run(work(server))
            if self.args.py_spy and self.goal == "goal3" and label.startswith("mock"):
                print(summarise(out, top=18), flush=True)
            if spy is not None:
                spy.stop()
                print(summarise(spy.out, top=18), flush=True)
                spy = None
            if server.proc.poll() is not None:
                raise RuntimeError(f"{label} exited during the run: {server.stderr_tail()}")
            return result
        except Exception:
            print(f"  !! {label} failed; server stderr:\n{server.stderr_tail()}", file=sys.stderr)
            raise
        finally:
            if spy is not None:
                spy.stop()
            server.stop()

    # -------------------------------------------------------------------- goal 1
    def goal1(self, compressions: Sequence[bool]) -> None:
        a = self.args
        self.goal = "goal1"
        frames = audio_frames(64)
        print(f"goal 1: {a.runs} runs x {a.count} appends ({len(frames[0])} B) after {a.warmup}")
        cells = [("raw", False), ("mock_vad", False), ("mock_novad", True)]
        for run in range(a.runs):
            for comp in compressions:
                for kind, no_vad in cells:
                    argv = raw_argv(comp) if kind == "raw" else mock_argv(comp)

                    def work(
                        server: ServerProcess,
                        no_vad: bool = no_vad,
                        kind: str = kind,
                        comp: bool = comp,
                    ) -> Any:
                        return append_run(
                            server,
                            comp,
                            frames=frames,
                            warmup=a.warmup,
                            count=a.count,
                            no_vad=no_vad,
                            is_raw=kind == "raw",
                        )

                    result: AppendResult = self.run_cell(f"{kind}/{_c(comp)}", argv, work)
                    self.record(f"g1/{kind}/{_c(comp)}", result)
                    extra = f" unexpected events: {result.unexpected}" if result.unexpected else ""
                    print(
                        f"  run {run + 1} {kind:10} {_c(comp):3}: {result.rate:9.0f} msg/s, "
                        f"server {result.cpu_us_per_msg:6.2f} us/msg, client "
                        f"{result.client_cpu_us_per_msg:5.2f} us/msg ({result.confirmed}){extra}",
                        flush=True,
                    )

    # -------------------------------------------------------------------- goal 2
    def goal2(self, compressions: Sequence[bool]) -> None:
        a = self.args
        self.goal = "goal2"
        print(
            f"goal 2: {a.runs} runs x {a.connections} sequential connections after {a.conn_warmup}"
        )
        for run in range(a.runs):
            for comp in compressions:
                for kind in ("raw", "mock"):
                    argv = raw_argv(comp) if kind == "raw" else mock_argv(comp)

                    def work(server: ServerProcess, comp: bool = comp) -> Any:
                        return connect_run(server, comp, warmup=a.conn_warmup, count=a.connections)

                    result: ConnectResult = self.run_cell(f"{kind}/{_c(comp)}", argv, work)
                    self.record(f"g2/{kind}/{_c(comp)}", result)
                    print(
                        f"  run {run + 1} {kind:4} {_c(comp):3}: p50 {result.p50_us:7.0f} us, "
                        f"p99 {result.p99_us:7.0f} us, server {result.cpu_us_per_conn:6.0f} "
                        f"us/conn, first: {result.first_type}",
                        flush=True,
                    )

    # -------------------------------------------------------------------- goal 3
    def goal3(self, compressions: Sequence[bool], tps_list: Sequence[float]) -> None:
        a = self.args
        self.goal = "goal3"
        raw_reply = f"You wrote: {USER_TEXT!r}. Note 1: layout, contrast."
        words = len(USER_TEXT.split())
        print(
            f"goal 3: {a.fleet_runs} run(s) x {a.sessions} sessions (batches of {a.batch}), "
            f"text paced at {', '.join(f'{t:g}' for t in tps_list)} deltas/s, "
            f"response.create spread over {a.stagger:g} s"
        )
        for run in range(a.fleet_runs):
            for tps in tps_list:
                for comp in compressions:
                    for kind in ("raw", "mock"):
                        if kind == "raw":
                            argv = raw_argv(comp, ["--tps", str(tps), "--reply", raw_reply])
                        else:
                            argv = mock_argv(comp, ["--text-tokens-per-second", str(tps)])

                        def work(server: ServerProcess, tps: float = tps, comp: bool = comp) -> Any:
                            return fleet_run(
                                server,
                                comp,
                                sessions=a.sessions,
                                batch=a.batch,
                                tps=tps,
                                stagger_s=a.stagger,
                                user_text=USER_TEXT,
                                expected_words=words,
                            )

                        r: FleetResult = self.run_cell(f"{kind}/{_c(comp)}", argv, work)
                        self.record(f"g3/{kind}/{_c(comp)}/{tps:g}", r)
                        print(
                            f"  run {run + 1} {tps:g}/s {kind:4} {_c(comp):3}: intact "
                            f"{r.intact}/{r.sessions} {r.problems or ''} deltas {r.deltas}, "
                            f"latency p50 {r.lat_p50_ms:.1f} p99 {r.lat_p99_ms:.1f} max "
                            f"{r.lat_max_ms:.1f} ms (from created p99 {r.rel_p99_ms:.1f}, step "
                            f"p99 {r.step_p99_ms:.1f}, created p99 {r.first_p99_ms:.1f}); idle "
                            f"{r.idle_kb_per_session:.1f} kB/session (RSS {r.rss_before_mb:.1f} "
                            f"-> {r.rss_idle_mb:.1f} MB), opened {r.open_per_s:.0f}/s; "
                            f"streaming {r.stream_seconds:.2f} s, server CPU "
                            f"{r.server_cpu_pct:.0f}% ({r.server_cpu_us_per_event:.1f} us/event, "
                            f"{r.events} events), client CPU {r.client_cpu_pct:.0f}%",
                            flush=True,
                        )
                        for example in r.examples:
                            print(f"      {example[:300]}")


# ----------------------------------------------------------------------------- report
def _c(compression: bool) -> str:
    return "on" if compression else "off"


def _fmt(values: Sequence[float], digits: int = 0, suffix: str = "") -> str:
    med = statistics.median(values)
    if len(values) == 1:
        return f"{med:,.{digits}f}{suffix}"
    return f"{med:,.{digits}f}{suffix} [{min(values):,.{digits}f}–{max(values):,.{digits}f}]"


class _Rows:
    """Table rows; the mock/raw column is the median of per-run ratios (run i of the mock
    against run i of the raw server, measured next to each other), with [min–max]."""

    def __init__(self, data: dict[str, list[Any]]) -> None:
        self.data = data
        self.rows: list[list[str]] = []

    def values(self, key: str, attr: str) -> list[float]:
        return [float(getattr(r, attr)) for r in self.data.get(key, [])]

    def ratios(self, raw_key: str, mock_key: str, attr: str) -> list[float]:
        pairs = zip(self.values(raw_key, attr), self.values(mock_key, attr), strict=False)
        return [m / r for r, m in pairs if r > 0]

    def add(
        self,
        goal: str,
        label: str,
        comp: str,
        raw_key: str,
        mock_key: str,
        attr: str,
        *,
        digits: int = 0,
        target: str = "info",
        verdict: Callable[[float, float], bool] | None = None,
        ratio_digits: int = 2,
    ) -> None:
        raw, mock = self.values(raw_key, attr), self.values(mock_key, attr)
        if not raw or not mock:
            return
        ratios = self.ratios(raw_key, mock_key, attr)
        ratio = _fmt(ratios, ratio_digits, "x") if ratios else "-"
        result = "info"
        if verdict is not None:
            ok = verdict(statistics.median(ratios) if ratios else 0.0, statistics.median(mock))
            result = "PASS" if ok else "FAIL"
        self.rows.append(
            [goal, label, comp, _fmt(raw, digits), _fmt(mock, digits), ratio, target, result]
        )


def build_rows(
    bench: Bench, compressions: Sequence[bool], tps_list: Sequence[float]
) -> list[list[str]]:
    t = _Rows(bench.data)
    for comp in compressions:
        c = _c(comp)
        for kind, label in (
            ("mock_vad", "server_vad (default)"),
            ("mock_novad", "turn_detection null"),
        ):
            raw, mock = f"g1/raw/{c}", f"g1/{kind}/{c}"
            t.add(
                "1",
                f"append msg/s, {label}",
                c,
                raw,
                mock,
                "rate",
                target=f"≥ {APPEND_TARGET}x",
                verdict=lambda r, m: r >= APPEND_TARGET,
            )
            t.add("1", f"… server CPU µs/msg, {label}", c, raw, mock, "cpu_us_per_msg", digits=2)
    for comp in compressions:
        c = _c(comp)
        raw, mock = f"g2/raw/{c}", f"g2/mock/{c}"
        t.add(
            "2",
            "connect → first message p50, µs",
            c,
            raw,
            mock,
            "p50_us",
            target=f"≤ {CONNECT_TARGET}x",
            verdict=lambda r, m: 0 < r <= CONNECT_TARGET,
        )
        t.add("2", "connect → first message p99, µs", c, raw, mock, "p99_us")
        t.add("2", "… server CPU µs/connection (open + close)", c, raw, mock, "cpu_us_per_conn")
    for tps in tps_list:
        for comp in compressions:
            c = _c(comp)
            raw, mock = f"g3/raw/{c}/{tps:g}", f"g3/mock/{c}/{tps:g}"
            if raw not in bench.data or mock not in bench.data:
                continue
            mocks: list[FleetResult] = bench.data[mock]
            raws: list[FleetResult] = bench.data[raw]
            n = mocks[0].sessions
            ok = all(r.intact == r.sessions for r in mocks)
            t.rows.append(
                [
                    "3",
                    f"{n} sessions @ {tps:g} deltas/s: streams whole, in order",
                    c,
                    ", ".join(f"{r.intact}/{r.sessions}" for r in raws),
                    ", ".join(f"{r.intact}/{r.sessions}" for r in mocks),
                    "-",
                    "all",
                    "PASS" if ok else "FAIL",
                ]
            )
            t.add(
                "3",
                f"@ {tps:g}/s: delta latency p99, ms (vs schedule)",
                c,
                raw,
                mock,
                "lat_p99_ms",
                digits=1,
                ratio_digits=1,
                target=f"< {LATENCY_TARGET_MS:g} ms",
                verdict=lambda r, m, ok=ok: ok and m < LATENCY_TARGET_MS,
            )
            for attr, label in (
                ("lat_p50_ms", "delta latency p50, ms (vs schedule)"),
                ("lat_max_ms", "delta latency max, ms (vs schedule)"),
                ("rel_p99_ms", "delta latency p99, ms (vs response.created arrival)"),
                ("first_p99_ms", "response.create → response.created p99, ms"),
                ("server_cpu_pct", "server CPU while streaming, % of one core"),
                ("server_cpu_us_per_event", "… server CPU µs per event sent"),
            ):
                t.add("3", f"@ {tps:g}/s: {label}", c, raw, mock, attr, digits=1, ratio_digits=1)
            if tps == tps_list[0]:
                t.add(
                    "3",
                    "server RSS per idle session, kB",
                    c,
                    raw,
                    mock,
                    "idle_kb_per_session",
                    digits=1,
                    ratio_digits=1,
                )
    return t.rows


def render(rows: list[list[str]]) -> str:
    header = [
        "goal",
        "measure",
        "deflate",
        "raw websockets",
        "mock",
        "mock/raw",
        "target",
        "result",
    ]
    lines = ["| " + " | ".join(header) + " |", "|---|---|---|---:|---:|---:|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def machine_facts(args: argparse.Namespace) -> dict[str, str]:
    model = "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    try:
        from websockets import speedups  # noqa: F401

        speedups_loaded = "C speedups loaded"
    except ImportError:
        speedups_loaded = "no C speedups"
    git = "?"
    with contextlib.suppress(Exception):
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, timeout=5
        ).stdout.strip()
        git = head + (" + uncommitted changes" if dirty else "")
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return {
        "CPU": model,
        "cores": f"{os.cpu_count()} (pinning: {args.pin})",
        "kernel": platform.release(),
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "websockets": f"{websockets.__version__} ({speedups_loaded})",
        "orjson": orjson.__version__,
        "event loop": "asyncio (stdlib) on both sides",
        "fd limit": str(soft),
        "git": git,
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
    }


def _wait_until_idle(limit_s: float, busy_below: float = 0.10) -> None:
    """Wait (at most `limit_s`) until the machine was < 10% busy over 0.5 s (other work)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        with open("/proc/stat") as f:
            a = [int(x) for x in f.readline().split()[1:9]]
        time.sleep(0.5)
        with open("/proc/stat") as f:
            b = [int(x) for x in f.readline().split()[1:9]]
        d = [y - x for x, y in zip(a, b, strict=True)]
        total = sum(d) or 1
        if (total - d[3] - d[4]) / total < busy_below:
            return
    print(f"  (machine still busy after waiting {limit_s:g} s; measuring anyway)", flush=True)


def _cpu_snapshot() -> tuple[list[int], float, float]:
    """(/proc/stat cpu jiffies, this process's CPU s, reaped children's CPU s, wall s)."""
    with open("/proc/stat") as f:
        jiffies = [int(x) for x in f.readline().split()[1:]]
    t = os.times()
    return jiffies, t.user + t.system + t.children_user + t.children_system, time.monotonic()


def _background_load(
    before: tuple[list[int], float, float], after: tuple[list[int], float, float]
) -> str:
    """CPU used by processes other than this benchmark and its servers, and host steal.

    Both are in % of the whole machine over the run; anything above a few % means other work
    competed with the measurement (compare the runs' spread before trusting a ratio).
    """
    hz = os.sysconf("SC_CLK_TCK")
    delta = [b - a for a, b in zip(before[0], after[0], strict=False)]
    total = sum(delta[:8]) or 1  # user nice system idle iowait irq softirq steal
    busy = total - delta[3] - delta[4] - delta[7]
    ours = (after[1] - before[1]) * hz
    other = max(0.0, busy - ours)
    return (
        f"other processes {100 * other / total:.0f}% of the machine, host steal "
        f"{100 * delta[7] / total:.1f}% (over {after[2] - before[2]:.0f} s)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="~1 minute smoke run")
    parser.add_argument("--goals", default="1,2,3", help="which goals to run, e.g. 1,3")
    parser.add_argument("--compression", default="off,on", help="off, on or off,on")
    parser.add_argument(
        "--pin",
        choices=("split", "same", "none"),
        default="split",
        help="server on CPU 0, client on CPU 1 (split), both on 0, or unpinned",
    )
    parser.add_argument(
        "--runs", type=int, help="runs per cell for goals 1 and 2 (default 5 / quick 1)"
    )
    parser.add_argument("--count", type=int, help="timed appends per run (20000 / quick 5000)")
    parser.add_argument("--warmup", type=int, help="warm-up appends (2000 / quick 500)")
    parser.add_argument("--connections", type=int, help="timed connections (300 / quick 100)")
    parser.add_argument("--conn-warmup", type=int, help="warm-up connections (30 / quick 10)")
    parser.add_argument("--fleet-runs", type=int, help="runs per goal-3 cell (2 / quick 1)")
    parser.add_argument("--sessions", type=int, default=1000, help="goal 3 sessions (1000)")
    parser.add_argument("--batch", type=int, default=250, help="connections opened at once (250)")
    parser.add_argument(
        "--tps",
        default="20",
        help="goal 3 text deltas per second; a list runs each (20; e.g. 20,10,5)",
    )
    parser.add_argument(
        "--stagger",
        type=float,
        default=1.0,
        help="seconds over which the sessions send response.create (1.0)",
    )
    parser.add_argument(
        "--fleet-compression",
        default=None,
        help="compression settings for goal 3 (default: same as --compression; quick: off)",
    )
    parser.add_argument(
        "--idle-wait",
        type=float,
        default=0.0,
        metavar="S",
        help="before each cell, wait up to S s for other work to stop (0)",
    )
    parser.add_argument("--json", metavar="PATH", help="also write every measurement as JSON")
    parser.add_argument(
        "--py-spy",
        metavar="DIR",
        help="profile every mock cell with py-spy into DIR (skews the numbers)",
    )
    args = parser.parse_args(argv)
    quick = args.quick
    defaults = {
        "runs": (5, 1),
        "count": (20000, 5000),
        "warmup": (2000, 500),
        "connections": (300, 100),
        "conn_warmup": (30, 10),
        "fleet_runs": (2, 1),
    }
    for name, (full, small) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, small if quick else full)
    if args.fleet_compression is None:
        args.fleet_compression = "off" if quick else args.compression
    goals = {int(g) for g in args.goals.split(",") if g.strip()}
    compressions = [c.strip() == "on" for c in args.compression.split(",") if c.strip()]
    fleet_comps = [c.strip() == "on" for c in args.fleet_compression.split(",") if c.strip()]
    tps_list = [float(t) for t in str(args.tps).split(",") if t.strip()]

    bench = Bench(args)
    cpus = sorted(os.sched_getaffinity(0))
    if args.pin != "none" and len(cpus) >= 2:
        bench.server_cpus = {cpus[0]}
        os.sched_setaffinity(0, {cpus[1] if args.pin == "split" else cpus[0]})
    elif args.pin != "none":
        args.pin = "none (fewer than 2 CPUs)"
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, 4 * args.sessions + 1000))
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))  # children inherit it

    facts = machine_facts(args)
    for key, value in facts.items():
        print(f"{key:>11}: {value}")
    started = time.monotonic()
    load0 = _cpu_snapshot()
    try:
        if 1 in goals:
            bench.goal1(compressions)
        if 2 in goals:
            bench.goal2(compressions)
        if 3 in goals:
            bench.goal3(fleet_comps, tps_list)
    finally:
        stop_all()
    facts["background load"] = _background_load(load0, _cpu_snapshot())
    print(f"background load during the run: {facts['background load']}")
    if int(facts["background load"].split("processes ")[1].split("%")[0]) > 5:
        print("WARNING: other processes used the CPUs during the run; the numbers are noisy")
    comps_all = compressions if 3 not in goals else sorted(set(compressions) | set(fleet_comps))
    rows = build_rows(bench, comps_all, tps_list)
    print(
        f"\nfinished in {time.monotonic() - started:.0f} s; cells read median [min–max] over runs\n"
    )
    print(render(rows))
    if args.json:
        payload = {
            "facts": facts,
            "args": vars(args),
            "data": {k: [asdict(v) for v in vs] for k, vs in bench.data.items()},
            "rows": rows,
        }
        Path(args.json).write_text(json.dumps(payload, indent=1, default=str))
    return 0 if all(row[-1] != "FAIL" for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
