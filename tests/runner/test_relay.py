"""`run --relay`: the example relays (examples/relay) against the mock on real sockets.

The correct relay passes; the broken one FAILS with each of its three bugs named by its
relay check (each bug alone too); a relay that never listens, or exits, stops the run with
an error that says so. The relays are Node (`ws` from examples/node): where Node or the
package is missing, these tests skip with the reason.
"""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import shutil
import socket
import subprocess
import sys
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest

from conformance.checks import RunOutcome, Violation, run_checks
from conformance.checks.relay import DownstreamLeg, RelayContext, RelayRun
from conformance.protocol.errors import UsageError
from conformance.runner import MockHandle, RunConfig, SuiteResult, run_suite
from conformance.runner.relay import RelayConfig, RelayError
from conformance.transcript import TRANSCRIPT_MAX_BYTES, Transcript
from conformance.verdicts import Verdict
from tests.runner.support import REFERENCE, ROOT, cases, checks_of

RELAY = f"node {shlex.quote(str(ROOT / 'examples' / 'relay' / 'relay.mjs'))}"
BROKEN = f"node {shlex.quote(str(ROOT / 'examples' / 'relay' / 'broken-relay.mjs'))}"
URL = "ws://127.0.0.1:{port}/relay"
RELAY_CHECKS = {
    "relay_forwards_errors",
    "relay_forwards_close",
    "relay_does_not_leak_key",
    "relay_does_not_add_beta_header",
    "relay_keeps_running",
}
# Each bug of broken-relay.mjs, the case that shows it, and the relay check that names it.
BUGS = {
    "beta-header": ("default", "relay_does_not_add_beta_header"),
    "swallow-errors": ("benign-errors-mid-session", "relay_forwards_errors"),
    "silent-close": ("accepted-then-closed", "relay_forwards_close"),
}
# Real relays, mocks and clients on 127.0.0.1 (skipped where Node is missing).
ON_SOCKETS = pytest.mark.integration
FAULTS = "default,tolerant,benign-errors-mid-session,accepted-then-closed,no-realtime-access"


def _skip_reason() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed (Node 18 or later runs examples/relay)"
    if not (ROOT / "examples" / "node" / "node_modules" / "ws" / "package.json").is_file():
        return "examples/node has no ws package: npm ci --prefix examples/node"
    return None


@pytest.fixture
def node() -> None:
    """Skip (with the reason) where Node or examples/node's `ws` is missing."""
    reason = _skip_reason()
    if reason is not None:
        pytest.skip(reason)


def fast_mock(
    *, scenario: str | None, api_keys: tuple[str, ...], tolerant: bool = False
) -> AbstractAsyncContextManager[MockHandle]:
    """The runner's mock at the fast pace (no live-like waiting)."""
    from mock_server import serve

    return serve(
        host="127.0.0.1",
        port=0,
        scenario=scenario,
        api_keys=api_keys,
        tolerant=tolerant,
        pace="fast",
        transcript_max_bytes=TRANSCRIPT_MAX_BYTES,
    )


def relay_suite(
    relay: str, pattern: str, tmp: Path, client: str = REFERENCE, **config: object
) -> SuiteResult:
    run_config = RunConfig(
        client=client,
        out_dir=tmp / "report",
        jobs=2,
        timeout_s=15,
        relay=RelayConfig(command=relay, url=URL),
        **config,  # type: ignore[arg-type]
    )
    return asyncio.run(run_suite(cases(pattern), run_config, mock=fast_mock))


def relay_findings(result: object) -> set[str]:
    return checks_of(result) & RELAY_CHECKS


@ON_SOCKETS
@pytest.mark.usefixtures("node")
def test_the_correct_relay_passes_the_default_and_fault_cases(tmp_path: Path) -> None:
    suite = relay_suite(RELAY, FAULTS, tmp_path)
    findings = {r.case_id: [str(v) for v in r.violations] for r in suite.results}
    assert {r.verdict for r in suite.results} == {Verdict.OK}, findings
    for result in suite.results:
        assert set(result.checks_run) >= RELAY_CHECKS  # both legs were judged
        legs = [t.meta.get("leg") for t in result.transcripts]
        assert legs == ["upstream", "downstream"], (result.case_id, legs)
    default = next(r for r in suite.results if r.case_id == "default")
    assert default.outcome is not None
    assert default.outcome.exit_code == 0
    assert "PNG 320x200" in default.outcome.stdout  # the reply came through the relay
    down = default.transcripts[1]
    assert down.server_events()  # the tap recorded what the relay sent the client
    # Upstream's close reached the client as it was (code and reason): the tap saw it.
    closed = next(r for r in suite.results if r.case_id == "accepted-then-closed")
    [up_end] = [r for r in closed.transcripts[0].records if r.kind == "close"]
    [down_end] = [r for r in closed.transcripts[1].records if r.kind == "close"]
    assert (down_end.direction, down_end.code, down_end.reason) == ("server", up_end.code, "")
    folder = tmp_path / "report" / "cases" / "default"
    names = {p.name for p in folder.iterdir()}
    assert {"connection-0.jsonl", "downstream-0.jsonl", "relay-stderr.txt"} <= names


@ON_SOCKETS
@pytest.mark.usefixtures("node")
def test_the_broken_relay_fails_with_each_of_its_bugs_named(tmp_path: Path) -> None:
    pattern = ",".join(case for case, _ in BUGS.values())
    suite = relay_suite(BROKEN, pattern, tmp_path)
    assert {r.verdict for r in suite.results} == {Verdict.FAILED}
    found = set().union(*(relay_findings(r) for r in suite.results))
    assert found >= {check for _, check in BUGS.values()}, found
    assert "relay_does_not_leak_key" not in found
    default = next(r for r in suite.results if r.case_id == "default")
    # The upstream leg gets the client checks: the beta header is the relay's, named twice.
    assert {"does_not_send_beta_header", "relay_does_not_add_beta_header"} <= checks_of(default)


@ON_SOCKETS
@pytest.mark.usefixtures("node")
@pytest.mark.parametrize("bug", sorted(BUGS))
def test_each_bug_alone_is_named_by_its_own_check(bug: str, tmp_path: Path) -> None:
    case, check = BUGS[bug]
    suite = relay_suite(f"{BROKEN} --bugs {bug}", f"default,{case}", tmp_path)
    by_case = {r.case_id: r for r in suite.results}
    assert by_case[case].verdict is Verdict.FAILED
    assert relay_findings(by_case[case]) == {check}, [str(v) for v in by_case[case].violations]
    if case != "default":  # the happy path shows no relay bug but the beta header
        assert by_case["default"].verdict is Verdict.OK


@ON_SOCKETS
@pytest.mark.usefixtures("node")
def test_the_users_own_client_drives_the_relay(tmp_path: Path) -> None:
    own = f"node {shlex.quote(str(ROOT / 'examples' / 'node' / 'notes.mjs'))}"
    suite = relay_suite(RELAY, "default,benign-errors-mid-session", tmp_path, client=own)
    findings = {r.case_id: [str(v) for v in r.violations] for r in suite.results}
    assert {r.verdict for r in suite.results} == {Verdict.OK}, findings
    default = next(r for r in suite.results if r.case_id == "default")
    assert default.outcome is not None
    assert "PNG 320x200" in default.outcome.stdout


@ON_SOCKETS
@pytest.mark.usefixtures("node")
def test_a_relay_on_a_fixed_port_runs_one_case_at_a_time(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    fixed = RelayConfig(command=RELAY, url=f"ws://127.0.0.1:{port}/relay")
    with pytest.raises(UsageError, match="one case at a time"):
        RunConfig(client=REFERENCE, relay=fixed, jobs=2)
    config = RunConfig(client=REFERENCE, out_dir=tmp_path, relay=fixed, jobs=1, timeout_s=15)
    suite = asyncio.run(run_suite(cases("default,tolerant"), config, mock=fast_mock))
    assert {r.verdict for r in suite.results} == {Verdict.OK}


@ON_SOCKETS
def test_a_relay_that_never_listens_stops_the_run_with_a_clear_error(tmp_path: Path) -> None:
    config = RunConfig(
        client=REFERENCE,
        out_dir=tmp_path,
        relay=RelayConfig(command="sleep 30", url=URL, start_timeout_s=1.0),
    )
    with pytest.raises(RelayError) as raised:
        asyncio.run(run_suite(cases("default"), config, mock=fast_mock))
    message = str(raised.value)
    assert "did not listen on ws://127.0.0.1:" in message
    assert "within 1 s" in message
    assert "$RELAY_PORT" in message


@ON_SOCKETS
def test_a_relay_that_exits_at_start_says_why(tmp_path: Path) -> None:
    config = RunConfig(
        client=REFERENCE,
        out_dir=tmp_path,
        relay=RelayConfig(command="echo 'relay: cannot read config.json' >&2; exit 3", url=URL),
    )
    with pytest.raises(RelayError) as raised:
        asyncio.run(run_suite(cases("default"), config, mock=fast_mock))
    message = str(raised.value)
    assert "exited (status 3) before listening" in message
    assert "cannot read config.json" in message


def test_a_relay_url_without_a_port_is_refused() -> None:
    with pytest.raises(UsageError, match=r"give the port, or \{port\}"):
        RelayConfig(command=RELAY, url="ws://127.0.0.1/relay")
    with pytest.raises(UsageError, match="wss:// is not supported yet"):
        RelayConfig(command=RELAY, url="wss://127.0.0.1:{port}/relay")


def _cli(command: str, tmp: Path, *more: str) -> subprocess.CompletedProcess[str]:
    argv = [str(Path(sys.executable).parent / "realtime-conformance"), *shlex.split(command)[1:]]
    return subprocess.run(
        [*argv, *more, "--out", str(tmp / "report")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@ON_SOCKETS
@pytest.mark.usefixtures("node")
def test_the_documented_correct_relay_passes_the_whole_catalog(tmp_path: Path) -> None:
    """docs/relay.md's command as written: every default case, upstream and downstream."""
    command = (
        'realtime-conformance run --relay "node examples/relay/relay.mjs" '
        '--relay-url "ws://127.0.0.1:{port}/relay"'
    )
    done = _cli(command, tmp_path, "--jobs", "2")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    every = re.search(r"^(\d+) cases: \1 OK \(0 violations\)", done.stdout, re.MULTILINE)
    assert every is not None, done.stdout[-2000:]
    assert int(every[1]) >= 40  # the built-in catalog (long sessions are opt-in)
    assert "Upstream  Downstream" in done.stdout


@ON_SOCKETS
@pytest.mark.usefixtures("node")
def test_the_documented_broken_relay_run_fails_and_names_its_bugs(tmp_path: Path) -> None:
    """docs/relay.md's broken-relay command: exit 1, each bug's check in every report."""
    command = (
        'realtime-conformance run --relay "node examples/relay/broken-relay.mjs" '
        '--relay-url "ws://127.0.0.1:{port}/relay" '
        "--cases default,benign-errors-mid-session,accepted-then-closed"
    )
    junit = tmp_path / "junit.xml"
    done = _cli(command, tmp_path, "--junit", str(junit))
    assert done.returncode == 1, done.stdout[-4000:] + done.stderr[-2000:]
    for _, check in BUGS.values():
        assert f"downstream leg: {check}" in done.stdout, done.stdout[-3000:]
    report = json.loads((tmp_path / "report" / "report.json").read_text(encoding="utf-8"))
    legs = {case["id"]: case["legs"] for case in report["cases"]}
    assert legs["default"] == {"upstream": "FAILED", "downstream": "FAILED"}
    leg_of = {v["check"]: v["leg"] for case in report["cases"] for v in case["violations"]}
    assert leg_of["relay_forwards_errors"] == "downstream"
    assert leg_of["does_not_send_beta_header"] == "upstream"
    assert "downstream leg: relay_forwards_close" in junit.read_text(encoding="utf-8")
    html = (tmp_path / "report" / "report.html").read_text(encoding="utf-8")
    assert "downstream leg: FAILED" in html
    assert "(downstream leg: the client to the relay)" in html


# --- the relay checks on recorded legs (no sockets) -----------------------------------------

KEY = "sk-test-relaysownkey0123456789"
START = "2026-01-01T00:00:00.000+00:00"


def _upstream(*events: dict[str, object], close: tuple[int, str] | None = None) -> Transcript:
    up = Transcript.begin(path="/v1/realtime", started_at=START)
    for n, event in enumerate(events):
        up.add_text("server", json.dumps(event), 10.0 * (n + 1))
    if close is not None:
        up.add_close("server", close[0], close[1], 10.0 * (len(events) + 1))
    return up


def _downstream(*texts: str, end: tuple[str, int | None, float] | None = None) -> Transcript:
    down = Transcript.begin(path="/relay", started_at=START)
    for n, text in enumerate(texts):
        down.add_text("server", text, 12.0 * (n + 1))
    if end is not None:
        side, code, at_ms = end
        down.add_close("client" if side == "client" else "server", code, "", at_ms)
    return down


def _judge(
    up: Transcript, down: Transcript, *, headers: tuple[tuple[str, str], ...] = (), **run: object
) -> list[Violation]:
    ctx = RelayContext(
        transcripts=(up,),
        downstream=(DownstreamLeg(transcript=down, response_headers=headers),),
        relay=RelayRun(key=KEY, **run),  # type: ignore[arg-type]
        outcome=RunOutcome(exit_code=0),
    )
    return run_checks(ctx, ["relay"])


ERROR = {"type": "error", "event_id": "event_1", "error": {"type": "invalid_request_error",
         "code": "x", "message": "bad"}}  # fmt: skip
CREATED = {"type": "session.created", "event_id": "event_0"}


def test_an_error_the_client_closed_before_is_not_owed_but_one_it_waited_for_is() -> None:
    up = _upstream(CREATED, ERROR)
    forwarded_first = json.dumps(CREATED)
    soon = _judge(up, _downstream(forwarded_first, end=("client", 1000, 30.0)))
    assert soon == []  # the client was closing 10 ms after the error reached the relay
    late = _judge(up, _downstream(forwarded_first, end=("client", 1000, 5000.0)))
    assert [v.check for v in late] == ["relay_forwards_errors"]
    assert (late[0].connection, late[0].index) == (0, 1)  # at the upstream error frame
    forwarded = _judge(up, _downstream(forwarded_first, json.dumps(ERROR), end=None))
    assert forwarded == []


def test_a_later_event_forwarded_makes_an_earlier_error_owed_whatever_the_timing() -> None:
    up = _upstream(ERROR, CREATED)
    down = _downstream(json.dumps(CREATED), end=("client", 1000, 15.0))
    assert [v.check for v in _judge(up, down)] == ["relay_forwards_errors"]


def test_the_close_must_keep_its_code_and_reason() -> None:
    up = _upstream(CREATED, close=(4000, "invalid_request_error.x"))
    changed = _judge(up, _downstream(json.dumps(CREATED), end=("server", 1000, 40.0)))
    assert [(v.check, v.title) for v in changed] == [
        ("relay_forwards_close", "close code or reason changed")
    ]
    silent = _judge(up, _downstream(json.dumps(CREATED)))
    assert [(v.check, v.title) for v in silent] == [
        ("relay_forwards_close", "upstream close not forwarded")
    ]


def test_the_relays_key_is_found_wherever_it_leaks_downstream() -> None:
    up = _upstream(CREATED)
    down = _downstream(json.dumps({"type": "debug", "key": KEY}))
    found = _judge(up, down, headers=(("X-Upstream-Auth", f"Bearer {KEY}"),), stderr=KEY)
    leaks = [(v.check, v.connection, v.received) for v in found]
    assert [c for c, _, _ in leaks] == ["relay_does_not_leak_key"] * 3, leaks
    assert {n for _, n, _ in leaks} == {0, 1}  # the downstream frame is connection 1
    assert any("relay's stderr" in r for _, _, r in leaks)
    assert all(KEY not in v.message for v in found)


def test_a_relay_that_exited_during_the_case_is_named() -> None:
    found = _judge(_upstream(CREATED), _downstream(), exited_early=True, exit_code=1)
    assert [v.check for v in found] == ["relay_keeps_running"]


def test_the_beta_header_counts_against_the_relay_only_when_the_client_did_not_send_it() -> None:
    up = _upstream(CREATED)
    up.meta["headers"] = [["OpenAI-Beta", "realtime=v1"]]
    down = _downstream(json.dumps(CREATED))
    assert [v.check for v in _judge(up, down)] == ["relay_does_not_add_beta_header"]
    down.meta["headers"] = [["OpenAI-Beta", "realtime=v1"]]
    assert _judge(up, down) == []
