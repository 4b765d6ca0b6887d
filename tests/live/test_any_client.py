"""Live smoke for any client: `run --live` of a configured command, then its recorded traffic
replayed on the mock and the two transcripts diffed.

    RUN_LIVE=1 OPENAI_API_KEY=sk-... REALTIME_LIVE_CLIENT='node dist/hud.js' pytest -m live

`REALTIME_LIVE_CLIENT` is the client command (run by `/bin/sh`, with the environment
contract of docs/runner.md; default: `realtime-notes`). Against the live API the test says
where the mock and live disagree on this client's own traffic: a difference that the
divergence ledger (docs/fidelity.md) does not know fails it. Without the variables, the
same body runs against the in-process mock as upstream (the `target` fixture), so CI
exercises the whole path: proxy, judging, replay and diff.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import sys
from pathlib import Path

import pytest

from conformance._cli_replay import replay_on_mock
from conformance.diff import DiffResult, diff_files
from conformance.transcript import read_jsonl
from mock_server import serve
from tests.live.targets import Target, mock_target
from tests.processes import finished

ROOT = Path(__file__).resolve().parents[2]
CLIENT_VARIABLE = "REALTIME_LIVE_CLIENT"
# realtime-notes, as the venv's interpreter runs it (the venv need not be on PATH).
REALTIME_NOTES = (
    f"{shlex.quote(sys.executable)} -m client_reference.cli "
    '"$REALTIME_SCREENSHOT" --model "$REALTIME_MODEL" --timeout 60'
)
REPLAY_KEY = "sk-test-replay-0123456789abcdef"  # the local mock's; never the real key


def client_command() -> str:
    """The configured client command (`$REALTIME_LIVE_CLIENT`), or realtime-notes."""
    return os.environ.get(CLIENT_VARIABLE, "").strip() or REALTIME_NOTES


def runner_env(api_key: str) -> dict[str, str]:
    """The runner's environment: the key the proxy sends upstream; the client gets only
    the runner's allow-list and a placeholder key (docs/runner.md)."""
    return {**os.environ, "OPENAI_API_KEY": api_key}


async def run_live(target: Target, out: Path, timeout_s: float) -> tuple[int, str]:
    """`realtime-conformance run --live --upstream <target>` of the configured client."""
    upstream = target.url.split("/v1/")[0]
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "conformance", "run", "--live", "--upstream", upstream,
        "--client", client_command(), "--timeout", str(timeout_s), "--out", str(out),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env=runner_env(target.api_key), cwd=ROOT,
    )  # fmt: skip
    status, output, _ = await finished(process, within_s=timeout_s + 60)
    return status, output.decode(errors="replace")


async def live_then_mock(
    target: Target, tmp_path: Path, *, end_timeout: float = 10.0
) -> tuple[int, str, DiffResult]:
    """Run the client live, replay its traffic on the mock, diff: (run status, console,
    the diff of the live recording with the replay). `end_timeout`: how long the replay
    waits for a server close the recording ends with."""
    timeout_s = 120.0 if target.is_live else 30.0
    out = tmp_path / "out"

    # 1. The client through the proxy, judged like `run` judges it (drift INFORMATIONAL).
    status, console = await run_live(target, out, timeout_s)
    recorded = out / "cases" / "default" / "connection-0.jsonl"
    assert recorded.is_file(), f"`run --live` of {client_command()!r} recorded nothing:\n{console}"
    transcript = read_jsonl(recorded)
    assert transcript.meta["recorded_by"] == "proxy"
    assert any(True for _ in transcript.server_events()), "the upstream sent nothing"
    written = "".join(p.read_text(errors="replace") for p in out.rglob("*") if p.is_file())
    assert target.api_key not in written + console  # the key the proxy sent is nowhere

    # 2. The same client traffic replayed on the mock, its server side recorded anew.
    replayed = tmp_path / "replayed.jsonl"
    result = await replay_on_mock(
        recorded, api_key=REPLAY_KEY, record=replayed, end_timeout=end_timeout
    )
    assert result.opened, result.summary()

    # 3. Mock versus upstream on that traffic.
    return status, console, diff_files(recorded, replayed)


async def test_a_configured_client_runs_live_and_its_traffic_matches_the_mock(
    target: Target, tmp_path: Path
) -> None:
    status, console, diff = await live_then_mock(target, tmp_path)
    assert status == 0, f"`run --live` of {client_command()!r} failed:\n{console}"
    assert "[1/1] default ... " in console
    assert diff.exit_status == 0, diff.to_text()  # only differences the ledger knows


@pytest.mark.integration
async def test_an_upstream_that_differs_from_the_mock_fails_the_diff(tmp_path: Path) -> None:
    """The check above can fail: an upstream that errors mid-response (a mock playing
    `server-error-mid-response`, standing in for a live API that changed) differs from
    the mock's default on the same traffic, and the diff says where."""
    async with serve(port=0, close_timeout=2.0, scenario="server-error-mid-response") as server:
        _, console, diff = await live_then_mock(mock_target(server), tmp_path, end_timeout=1.0)
    assert diff.exit_status == 1, console
    assert diff.unknown[0].event == "error"
