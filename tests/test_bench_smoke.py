"""The documented benchmarks run and print their tables (docs/benchmarks.md).

Only the shape is checked, never the timings: with tiny counts on a shared machine the
goals may pass or fail, so exit status 0 or 1 is accepted (2 or a traceback is not).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.integration


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_bench_mock_prints_the_goal_table() -> None:
    done = _bench(
        "bench/bench_mock.py", "--quick", "--goals", "1,2", "--compression", "off",
        "--count", "300", "--warmup", "30", "--connections", "10", "--conn-warmup", "2",
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr[-3000:]
    assert "| goal | measure | deflate | raw websockets | mock | mock/raw |" in done.stdout
    assert "append msg/s, server_vad (default)" in done.stdout
    assert "connect → first message p50" in done.stdout


def test_profile_mock_prints_the_hot_path() -> None:
    done = _bench("bench/_profile_mock.py", "append", "-n", "2000", "--top", "5")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "function calls" in done.stdout


def test_bench_tls_connect_prints_ws_and_wss_side_by_side() -> None:
    done = _bench("bench/bench_tls_connect.py", "--count", "5", "--warmup", "1")
    assert done.returncode == 0, done.stderr[-3000:]
    header = "| measure | ws p50 ms | ws p90 ms | wss p50 ms | wss p90 ms | wss/ws p50 |"
    assert header in done.stdout
    assert "| to session.created: TCP (+TLS) + upgrade |" in done.stdout
    assert "wss: TLSv1." in done.stdout


def test_bench_proxy_prints_direct_and_proxied_latency_side_by_side() -> None:
    done = _bench(
        "bench/bench_proxy.py", "--count", "20", "--rounds", "2", "--warmup", "2",
        "--compression", "off",
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr[-3000:]
    assert "| layout | compression | workload | direct p50 ms | proxy p50 ms |" in done.stdout
    for layout in ("processes", "one process"):
        for workload in ("small event", "audio append 50 ms"):
            assert f"| {layout} | off | {workload} |" in done.stdout
    assert "Goal: added p50 < 0.3 ms per frame:" in done.stdout


def test_bench_webrtc_connect_prints_websocket_and_webrtc_side_by_side() -> None:
    pytest.importorskip("aiortc", reason="the WebRTC benchmark needs the webrtc extra")
    done = _bench("bench/bench_webrtc_connect.py", "--count", "3", "--warmup", "1")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| connect to session.created |" in done.stdout
    assert "| WebRTC/WebSocket p50 |" in done.stdout
    assert "| answer to first event (ICE, DTLS, SCTP, data channel) |" in done.stdout


def test_bench_fairness_prints_the_stall_table() -> None:
    done = _bench("bench/bench_fairness.py", "--attacks", "text-60k", "--limit", "5")
    assert done.returncode in (0, 1), done.stderr[-3000:]
    assert "worst stall ms" in done.stdout
    assert "baseline" in done.stdout
    assert "text-60k" in done.stdout


def test_bench_flood_prints_what_the_runner_kept(tmp_path: Path) -> None:
    done = _bench("bench/bench_flood.py", "--seconds", "1", "--out", str(tmp_path / "new"))
    assert done.returncode in (0, 1), done.stderr[-3000:]
    assert (tmp_path / "new" / "report").is_dir()


def test_bench_serve_memory_prints_rss_per_session() -> None:
    done = _bench("bench/bench_serve_memory.py", "--cycles", "100", "--every", "50")
    assert done.returncode in (0, 1), done.stderr[-3000:]
    assert "RSS per session" in done.stdout


def test_bench_validate_prints_its_table() -> None:
    done = _bench("bench/bench_validate.py", "--repeat", "1", "--min-time", "0.01")
    assert done.returncode in (0, 1), done.stderr[-3000:]
    assert "session.update" in done.stdout
