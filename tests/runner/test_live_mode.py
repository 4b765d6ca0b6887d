"""`realtime-conformance run --live`: the live cases through the validating proxy.

Offline, the upstream is a mock (one started here at pace fast, or `--upstream mock`):
the same code path as against `wss://api.openai.com`, on real sockets. The guard (no live
run without `--live` and a key) is tested without any socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from conformance._cli_run import builtin_cases, translation_cases
from conformance.cli import main
from conformance.protocol.errors import UsageError
from conformance.runner import screenshot_png
from conformance.runner.live import (
    LIVE_UPSTREAM,
    MOCK_UPSTREAM,
    is_loopback,
    live_config,
    live_pool,
    require_live,
)
from conformance.transcript import read_jsonl
from mock_server.config import MockConfig
from mock_server.scenarios import builtin_scenarios
from mock_server.server import MockServer
from tests.processes import finished, plain_env, reaped, user_env

from .support import BROKEN, BROKEN_FINDINGS, PYTHON, REFERENCE, ROOT, read_json

UPSTREAM_KEY = "sk-upstream-live-mode-0123456789abcdef"
WAIT = 90.0


# --- the guard: no socket, nothing run -------------------------------------------------


def test_live_needs_the_key_and_says_so_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    out = tmp_path / "out"
    assert main(["run", "--live", "--client", "true", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "$OPENAI_API_KEY" in err
    assert "wss://api.openai.com" in err
    assert not out.exists()  # nothing ran


def test_a_blank_key_is_no_key(monkeypatch):
    with pytest.raises(UsageError, match="OPENAI_API_KEY"):
        live_config(None, {"OPENAI_API_KEY": "  "})


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--upstream", "mock"], "--upstream goes with --live"),
        (["--live", "--scenario", "fixtures/scenarios/idle-drop.yaml"], "no --scenario"),
        (["--live", "--relay", "true"], "--live does not take --relay"),
        (["--live", "--tls"], "--live does not take --tls"),
        (["--live", "--cases", "session-expired"], "case 'session-expired' needs the mock"),
        (["--live", "--cases", "tolerant"], "case 'tolerant' needs the mock"),
        (["--live", "--upstream", "ftp://example.com"], "--upstream: expected a URL"),
    ],
)
def test_live_refuses_what_it_cannot_run(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", UPSTREAM_KEY)
    monkeypatch.chdir(ROOT)
    out = tmp_path / "out"
    assert main(["run", *argv, "--client", "true", "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_the_guard_needs_a_key_for_any_upstream_but_loopback_and_mock():
    key = {"OPENAI_API_KEY": UPSTREAM_KEY}
    assert live_config(None, key).upstream == LIVE_UPSTREAM
    assert live_config(None, key).api_key == UPSTREAM_KEY
    assert UPSTREAM_KEY not in repr(live_config(None, key))
    with pytest.raises(UsageError, match="--upstream mock"):
        live_config("https://example.test/v1", {})
    assert live_config("ws://127.0.0.1:8765", {}).api_key is None  # the client's key goes up
    assert live_config("ws://localhost:8765", key).api_key == UPSTREAM_KEY
    assert live_config(MOCK_UPSTREAM, {}).is_mock
    assert [is_loopback(u) for u in ("ws://[::1]:1", "ws://127.9.0.1", "ws://10.0.0.1")] == [
        True,
        True,
        False,
    ]


def test_live_cases_are_the_default_and_the_scenarios_marked_live():
    cases = [*builtin_cases(), *translation_cases()]
    assert [c.id for c in live_pool(cases, None)] == [
        "default",
        "long-session",
        "translation-basic",
    ]
    # A live case plays nothing the live API does not do by default.
    for scenario in builtin_scenarios():
        if scenario.live:
            assert (scenario.rules, dict(scenario.config), scenario.upgrade) == ((), {}, None)
    with pytest.raises(UsageError, match="'tolerant' needs the mock"):
        require_live(cases[:2])


def test_list_cases_with_live_lists_the_live_cases(capsys):
    assert main(["run", "--live", "--list-cases"]) == 0  # no key needed to list
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == ["default", "long-session", "translation-basic"]


# --- real sockets: the proxy in front of a mock -----------------------------------------


async def run_live(tmp_path: Path, *argv: str, env: dict[str, str]) -> tuple[int, str, str]:
    """`realtime-conformance run --live ARGV` as a process; (status, stdout, stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "conformance", "run", "--live", "--out", str(tmp_path / "out"),
        "--json", str(tmp_path / "report.json"), *argv,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=ROOT,
    )  # fmt: skip
    status, out, err = await finished(process, within_s=WAIT)
    return status, out.decode(), err.decode()


@contextlib.asynccontextmanager
async def upstream_mock(
    keys: tuple[str, ...] = (UPSTREAM_KEY,), **config: Any
) -> AsyncIterator[tuple[MockServer, str]]:
    """A fast mock as the live API, accepting only `keys` (() for any): (it, its origin)."""
    server = await MockServer(MockConfig(port=0, pace="fast", api_keys=keys, **config)).start()
    try:
        yield server, server.url.split("/v1/")[0]
    finally:
        await server.stop()


def files_text(folder: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file())


@pytest.mark.integration
async def test_the_reference_client_passes_live_mode_against_a_mock_upstream(tmp_path):
    async with upstream_mock() as (upstream, origin):
        env = plain_env(OPENAI_API_KEY=UPSTREAM_KEY)
        status, out, err = await run_live(
            tmp_path, "--upstream", origin, "--client", REFERENCE, env=env
        )
        assert status == 0, err
        assert f"live case(s) against {origin} through the proxy" in err
        assert "[1/1] default ... OK" in err
        # The mock accepts only the upstream key: the proxy put it in place of the
        # client's placeholder (a client with that key would have been closed with 3000).
        [session] = await upstream.wait_for_sessions(1, 10, ended=True)
        assert next(e.event_type for e in session.server_events()) == "session.created"
        assert any(e.event_type == "response.done" for e in session.server_events())
    meta = read_jsonl(tmp_path / "out" / "cases" / "default" / "connection-0.jsonl").meta
    assert meta["recorded_by"] == "proxy"
    assert meta["upstream"] == origin
    [case] = read_json(tmp_path / "report.json")["cases"]
    assert case["verdict"] == "OK"
    assert "server_events_match_schema" in case["checks_run"]  # drift is looked for
    # The real key is nowhere: not in the files, the reports or the console.
    assert UPSTREAM_KEY not in files_text(tmp_path) + out + err


@pytest.mark.integration
async def test_the_broken_client_fails_live_mode_with_its_findings(tmp_path):
    async with upstream_mock() as (_, origin):
        env = plain_env(OPENAI_API_KEY=UPSTREAM_KEY)
        status, out, err = await run_live(
            tmp_path, "--upstream", origin, "--client", BROKEN, env=env
        )
    assert status == 1, err
    assert "FAILED" in out
    [case] = read_json(tmp_path / "report.json")["cases"]
    assert case["verdict"] == "FAILED"
    found = {v["check"] for v in case["violations"]}
    # The beta header reached the upstream, which closed with 4000 as the live API does;
    # every bug `run` finds in the default case is found through the proxy too.
    assert BROKEN_FINDINGS["default"] <= found
    assert "server_events_match_schema" not in found  # the mock sends no drift
    assert UPSTREAM_KEY not in files_text(tmp_path) + out + err


@pytest.mark.integration
async def test_a_refused_key_stops_the_run_instead_of_judging_the_client(tmp_path):
    """The upstream closes 3000 (the live API's answer to a bad key): the client met a
    bad runner key, not a fault of its own; no verdict, exit 2, the key not shown."""
    wrong = "sk-wrong-key-for-the-upstream-0123456789"
    async with upstream_mock() as (_, origin):
        status, out, err = await run_live(
            tmp_path,
            "--upstream",
            origin,
            "--client",
            REFERENCE,
            env=plain_env(OPENAI_API_KEY=wrong),
        )
    assert status == 2, err
    assert f"run --live: {origin} refused the key in $OPENAI_API_KEY (close 3000" in err
    assert "nothing was judged" in err
    assert wrong not in out + err + files_text(tmp_path)


@pytest.mark.integration
async def test_an_unreachable_upstream_stops_the_run_instead_of_judging_the_client(tmp_path):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    status, _, err = await run_live(
        tmp_path, "--upstream", f"ws://127.0.0.1:{port}", "--client", REFERENCE, env=plain_env()
    )
    assert status == 2, err
    assert f"cannot reach the upstream ws://127.0.0.1:{port}" in err
    assert not (tmp_path / "report.json").exists()  # no report that looks like a pass


@pytest.mark.integration
async def test_server_drift_is_reported_never_failed(tmp_path):
    """An upstream that sends an unknown event and field (here a mock playing
    `unknown-event-and-field`): drift, INFORMATIONAL; the correct client stays unfailed."""
    async with upstream_mock((), scenario="unknown-event-and-field") as (_, origin):
        status, _, err = await run_live(
            tmp_path, "--upstream", origin, "--client", REFERENCE, env=plain_env()
        )
    assert status == 0, err
    [case] = read_json(tmp_path / "report.json")["cases"]
    assert case["verdict"] == "INFORMATIONAL"
    drift = [v for v in case["violations"] if v["check"] == "server_events_match_schema"]
    assert drift, case["violations"]
    assert {v["severity"] for v in case["violations"]} == {"INFORMATIONAL"}


@pytest.mark.integration
async def test_upstream_mock_starts_a_mock_per_case_with_its_own_key(tmp_path):
    status, _, err = await run_live(
        tmp_path, "--upstream", "mock", "--client", REFERENCE, env=plain_env()
    )
    assert status == 0, err
    assert "a fresh mock per case (--upstream mock)" in err
    meta = read_jsonl(tmp_path / "out" / "cases" / "default" / "connection-0.jsonl").meta
    assert meta["upstream"].startswith("ws://127.0.0.1:")


@pytest.mark.integration
async def test_a_long_session_runs_live_through_the_proxy(tmp_path):
    """The feeder waits for each note on the proxy's transcripts (as they grow)."""
    client = REFERENCE.replace('"$REALTIME_SCREENSHOT"', "--stdin")
    async with upstream_mock() as (_, origin):
        env = plain_env(OPENAI_API_KEY=UPSTREAM_KEY)
        status, _, err = await run_live(
            tmp_path, "--upstream", origin, "--cases", "long-session", "--client", client, env=env
        )
    assert status == 0, err
    [case] = read_json(tmp_path / "report.json")["cases"]
    assert case["id"] == "long-session"
    assert case["verdict"] == "OK", case["violations"]
    transcript = read_jsonl(tmp_path / "out" / "cases" / "long-session" / "connection-0.jsonl")
    sent = [r.event_type for r in transcript.client_events()]
    assert sent.count("response.create") == 3


# --- docs/live.md, every command, with a mock standing in for the live API ---------------

DOC_REHEARSAL = (
    "realtime-conformance run --live --upstream mock --client 'realtime-notes "
    '"$REALTIME_SCREENSHOT" --model "$REALTIME_MODEL" --timeout 5\''
)
DOC_LIVE_RUN = (
    'OPENAI_API_KEY=sk-... realtime-conformance run --live --client "node dist/hud.js" --timeout 60'
)
DOC_PROXY = (
    "OPENAI_API_KEY=sk-... realtime-conformance proxy --upstream wss://api.openai.com "
    "--record live/ --junit live.xml"
)
DOC_CHECK = "realtime-conformance check live/*.jsonl --html live.html"
DOC_SCENARIO_FROM = (
    "realtime-conformance scenario-from incident.jsonl -o regressions/error-mid-reply.yaml"
)
DOC_REPRODUCE = (
    "realtime-conformance replay incident.jsonl --scenario regressions/error-mid-reply.yaml "
    "--record reproduced.jsonl"
)
DOC_DIFF_REPRODUCED = "realtime-conformance diff incident.jsonl reproduced.jsonl"
DOC_CI_CASE = 'realtime-conformance run --client "node dist/hud.js" --scenario regressions/'
DOC_ON_MOCK = "realtime-conformance replay incident.jsonl --record on-mock.jsonl --end-timeout 2"
DOC_DIFF_ON_MOCK = "realtime-conformance diff incident.jsonl on-mock.jsonl"
DOCUMENTED = (
    DOC_REHEARSAL,
    DOC_LIVE_RUN,
    DOC_PROXY,
    DOC_CHECK,
    DOC_SCENARIO_FROM,
    DOC_REPRODUCE,
    DOC_DIFF_REPRODUCED,
    DOC_CI_CASE,
    DOC_ON_MOCK,
    DOC_DIFF_ON_MOCK,
)
HUD = '--client "node dist/hud.js"'


async def shell(text: str, cwd: Path, **env: str) -> tuple[int, str]:
    """Run `text` with /bin/sh in `cwd` (bounded); (status, stdout and stderr)."""
    process = await asyncio.create_subprocess_exec(
        "/bin/sh", "-c", text, cwd=cwd, env=user_env(**env),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    status, out, _ = await finished(process, within_s=WAIT)
    return status, out.decode(errors="replace")


def test_the_documented_commands_are_the_tested_ones():
    text = (ROOT / "docs" / "live.md").read_text(encoding="utf-8")
    for command in DOCUMENTED:
        assert f"\n{command}\n" in text, command


@pytest.mark.integration
async def test_the_documented_rehearsal_passes(tmp_path):
    status, output = await shell(DOC_REHEARSAL, tmp_path)
    assert status == 0, output
    assert "[1/1] default ... OK" in output
    assert (tmp_path / "realtime-conformance-report" / "report.html").is_file()


@pytest.mark.integration
async def test_the_documented_workflow_with_a_mock_as_the_live_api(tmp_path):
    """docs/live.md from the live run to the CI case, the live API played by a mock that
    cuts a reply with a server error (`server-error-mid-response`): the incident."""
    hud = f"--client {shlex.quote(REFERENCE)}"
    async with upstream_mock(scenario="server-error-mid-response") as (_, origin):
        # 1. run --live (the mock as the upstream, the key the proxy sends it).
        live_run = DOC_LIVE_RUN.replace("sk-...", UPSTREAM_KEY).replace(HUD, hud)
        status, output = await shell(f"{live_run} --upstream {origin}", tmp_path)
        assert status == 0, output  # the client reports the error: not FAILED
        assert "[1/1] default ... OK" in output
        # 2. the proxy recording a client pointed at it (a placeholder key: the proxy's
        # key replaces it, or the upstream would refuse the connection).
        await record_one_connection(DOC_PROXY, origin, tmp_path)
    [recording] = (tmp_path / "live").glob("*.jsonl")
    (tmp_path / "incident.jsonl").write_bytes(recording.read_bytes())
    assert UPSTREAM_KEY not in files_text(tmp_path)
    # 3. check the recordings again.
    status, output = await shell(DOC_CHECK, tmp_path)
    assert status == 0, output
    assert (tmp_path / "live.html").is_file()
    # 4. a scenario from the incident, which the mock replays as it happened.
    status, output = await shell(DOC_SCENARIO_FROM, tmp_path)
    assert status == 0, output
    assert (tmp_path / "regressions" / "error-mid-reply.yaml").is_file()
    status, output = await shell(DOC_REPRODUCE, tmp_path)
    assert status == 0, output
    status, output = await shell(DOC_DIFF_REPRODUCED, tmp_path)
    assert status == 0, output
    # 5. the CI case: the correct client passes it.
    status, output = await shell(DOC_CI_CASE.replace(HUD, hud), tmp_path)
    assert status == 0, output
    assert "error-mid-reply" in output
    # 6. the mock's default behaviour differs from the incident: new differences, exit 1.
    status, output = await shell(DOC_ON_MOCK, tmp_path)
    assert status == 0, output
    status, output = await shell(DOC_DIFF_ON_MOCK, tmp_path)
    assert status == 1, output
    assert "`error` only in A" in output


async def record_one_connection(documented: str, origin: str, cwd: Path) -> None:
    """The documented proxy command in front of `origin` (a free port, one connection),
    and the reference client through it."""
    assignment, command = documented.replace("sk-...", UPSTREAM_KEY).split(" ", 1)
    command = command.replace("wss://api.openai.com", origin) + " --port 0 --connections 1"
    proxy = await asyncio.create_subprocess_exec(
        "/bin/sh", "-c", f"{assignment} exec {command}", cwd=cwd, env=user_env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proxy.stdout is not None
    async with reaped(proxy), asyncio.timeout(WAIT):
        first = (await proxy.stdout.readline()).decode()
        assert first.startswith("OPENAI_REALTIME_URL="), first
        shot = cwd / "shot.png"
        shot.write_bytes(screenshot_png(64, 40))
        client = (
            f"{PYTHON} -m client_reference.cli {shot} --url {first.split('=', 1)[1].strip()}"
            " --timeout 5"
        )
        await shell(client, ROOT, OPENAI_API_KEY="sk-test-placeholder-for-the-client")
        _, err = await proxy.communicate()
    assert proxy.returncode == 0, err.decode()
