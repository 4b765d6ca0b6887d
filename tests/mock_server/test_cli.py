"""`realtime-mock` / `python -m mock_server`: in-process errors and a real subprocess."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from conformance import _json
from mock_server.cli import main

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 15.0
LINE = re.compile(
    r"^realtime-mock listening on (ws://127\.0\.0\.1:(\d+)/v1/realtime) "
    r"\(OPENAI_BASE_URL=http://127\.0\.0\.1:(\d+)/v1\)$"
)


def test_yaml_typo_is_reported_with_a_did_you_mean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mock.yaml"
    path.write_text("pign_interval: 5\n")
    assert main(["serve", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err
    assert "did you mean 'ping_interval'?" in err


def test_bad_app_factory_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--port", "0", "--app", "nowhere_xyz:App"]) == 2
    assert "cannot import 'nowhere_xyz'" in capsys.readouterr().err


def test_scenarios_lists_every_builtin_scenario_with_its_catalog_id(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from mock_server.scenarios import builtin_scenarios

    assert main(["scenarios"]) == 0
    out = capsys.readouterr().out
    scenarios = builtin_scenarios()
    assert len(scenarios) >= 25
    for scenario in scenarios:
        line = next(line for line in out.splitlines() if line.startswith(scenario.id + " "))
        assert scenario.catalog in line


@pytest.mark.integration
@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
async def test_serve_prints_the_url_then_stops_on_signal(stop_signal: signal.Signals) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mock_server", "serve", "--port", "0", "--no-compression",
        "--app", "tests.mock_server.stub_app:StubApp",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), TIMEOUT)).decode().strip()
        match = LINE.match(line)
        assert match, line
        url, port, base_port = match.groups()
        assert port == base_port
        assert port != "0"
        async with connect(
            f"{url}?model=gpt-realtime",
            additional_headers={"Authorization": "Bearer sk-cli-test-000000000"},
            open_timeout=TIMEOUT,
            proxy=None,
        ) as ws:
            event = _json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
            assert event["type"] == "session.created"
        proc.send_signal(stop_signal)
        _, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
        assert proc.returncode == 0, err.decode()
        assert "stopped" in err.decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
