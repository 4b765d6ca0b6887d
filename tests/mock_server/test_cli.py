"""`realtime-mock` / `python -m mock_server`: in-process errors and a real subprocess."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from conformance import _json
from mock_server.cli import main
from tests.processes import reaped

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


def test_scenarios_lists_every_builtin_scenario_with_its_catalog_id_or_feature(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from mock_server.scenarios import builtin_scenarios

    assert main(["scenarios"]) == 0
    out = capsys.readouterr().out
    scenarios = builtin_scenarios()
    assert len(scenarios) >= 25
    for scenario in scenarios:
        line = next(line for line in out.splitlines() if line.startswith(scenario.id + " "))
        tag = scenario.catalog or scenario.feature
        assert tag, f"{scenario.id} has neither a catalog id nor a feature"
        assert line.split()[1] == tag


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
    async with reaped(proc):
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


def test_serve_refuses_a_misspelt_scenario_at_start(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--port", "0", "--scenario", "beta-header-rejectd"]) == 2
    out, err = capsys.readouterr()
    assert "listening" not in out
    assert err.count("\n") == 1, err
    assert "unknown scenario 'beta-header-rejectd'; did you mean 'beta-header-rejected'?" in err


def test_serve_refuses_a_missing_scenario_file_with_a_did_you_mean(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["serve", "--port", "0", "--scenario", "beta-header-rejected.yaml"]) == 2
    err = capsys.readouterr().err
    assert "beta-header-rejected.yaml: no such scenario file" in err
    assert "did you mean the built-in scenario 'beta-header-rejected'" in err


def test_serve_refuses_a_broken_scenario_file_at_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "my-bug.yaml"
    path.write_text("id: my-bug\nsummary: s\ndescription: d\nexpect: {client: [], summary: s}\n")
    path.write_text(path.read_text() + "rules:\n  - when: {on: conect}\n    do: [{close: {}}]\n")
    assert main(["serve", "--port", "0", "--scenario", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:6:" in err
    assert "did you mean 'connect'?" in err


def test_serve_on_a_port_in_use_says_what_to_do_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port), "--no-compression"]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"realtime-mock: error: cannot listen on 127.0.0.1:{port}: the address is already in"
        " use (another process listens there); use --port 0 (any free port) or another --port\n"
    )


@pytest.mark.parametrize(
    "command",
    [
        ["mock_server", "scenarios"],
        ["conformance", "run", "--list-cases"],
        ["conformance", "check", "--list-checks"],
    ],
    ids=["realtime-mock scenarios", "run --list-cases", "check --list-checks"],
)
def test_a_listing_into_a_closed_pipe_exits_quietly(command: list[str]) -> None:
    """`realtime-mock scenarios | head`: no BrokenPipeError traceback, status 141 (SIGPIPE)."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first write: deterministic EPIPE
    try:
        done = subprocess.run(
            [sys.executable, "-m", *command],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert done.stderr == ""
    assert done.returncode == 141


@pytest.mark.integration
async def test_serve_at_debug_logs_no_key() -> None:
    keys = {
        "bearer": "sk-proj-cliDebugBearer0123456789abcdef",
        "subprotocol": "sk-cliDebugSubprotocol0123456789",
        "query": "sk-cliDebugQuery0123456789abcdef",
        "apikey": "cliDebugApikeyNotSk0123456789abcd",
        "azure": "c11deb0c0ffee0123456789abcdef012",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mock_server", "serve", "--port", "0", "--no-compression",
        "--log-level", "DEBUG", "--app", "tests.mock_server.stub_app:StubApp",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with reaped(proc):
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), TIMEOUT)).decode().strip()
        match = LINE.match(line)
        assert match, line
        query = f"model=gpt-realtime&api_key={keys['query']}&apikey={keys['apikey']}"
        async with connect(
            f"{match.group(1)}?{query}",
            additional_headers={
                "Authorization": f"Bearer {keys['bearer']}",
                "api-key": keys["azure"],
            },
            subprotocols=[
                Subprotocol("realtime"),
                Subprotocol(f"openai-insecure-api-key.{keys['subprotocol']}"),
            ],
            open_timeout=TIMEOUT,
            proxy=None,
        ) as ws:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
            await ws.send(f'{{"type": "x", "leak": "{keys["bearer"]}"}}')
            await asyncio.wait_for(ws.recv(), TIMEOUT)
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    log = err.decode()
    assert "Authorization: Bearer [REDACTED]" in log  # DEBUG logs the handshake, masked
    assert "openai-insecure-api-key.[REDACTED]" in log
    for where, key in keys.items():
        assert key[-12:] not in log, f"the {where} key (or part of it) is in the log"
