"""The pytest plugin as users meet it: nested pytest runs through `pytester`.

Runs that start servers are subprocesses, so the plugin loads the way it does for a
user: through the installed `pytest11` entry point (this repository's own run disables
it with `-p no:realtime_conformance`). Runs that start no server (usage errors, marker
and option listings) run in this process to save time. Each run sets
`filterwarnings = error`, so a leaked thread, socket or event loop fails it.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from conformance.checks import ConformanceFailed
from conformance.pytest_plugin import (
    RealtimeConformanceWarning,
    RealtimeMock,
    _tokens,
    assert_conforms,
)
from conformance.resources import transcripts_dir
from conformance.transcript import Transcript, read_jsonl

pytestmark = pytest.mark.integration

TIMEOUT = 60  # seconds per nested run (they take about 1-2 s)

# What every user file shares: a raw websockets client and a client that breaks a rule.
COMMON = """
import json

import pytest

from conformance.checks import ConformanceFailed
from conformance.pytest_plugin import RealtimeConformanceWarning, assert_conforms

KEY = {"Authorization": "Bearer sk-test-plugin-0123456789"}
TEXT = {"type": "response.create", "response": {"output_modalities": ["text"]}}


def url(mock):
    return f"{mock.url}?model=gpt-realtime"
"""

ASYNC_TESTS = """
import asyncio

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedOK

{mark}


async def recv(ws):
    return json.loads(await asyncio.wait_for(ws.recv(), 5))


async def test_session_created(realtime_mock):
    async with connect(url(realtime_mock), additional_headers=KEY, proxy=None) as ws:
        event = await recv(ws)
    assert event["type"] == "session.created"
    (transcript,) = await realtime_mock.wait_for_sessions_async(1)
    assert transcript.meta["model"] == "gpt-realtime"
    assert assert_conforms(realtime_mock).verdict == "OK"


@pytest.mark.realtime_scenario("accepted-then-closed")
async def test_scenario_closes_before_session_created(realtime_mock):
    async with connect(url(realtime_mock), additional_headers=KEY, proxy=None) as ws:
        with pytest.raises(ConnectionClosedOK) as closed:
            await recv(ws)
    assert closed.value.rcvd.code == 1000
    assert realtime_mock.scenario == "accepted-then-closed"


@pytest.mark.realtime_scenario(first_delta_delay=0.5)
async def test_double_response_create(realtime_mock):
    async with connect(url(realtime_mock), additional_headers=KEY, proxy=None) as ws:
        await recv(ws)
        await ws.send(json.dumps(TEXT))
        await ws.send(json.dumps(TEXT))
        while (await recv(ws))["type"] != "response.done":
            pass
    assert_conforms(realtime_mock)
"""

SYNC_TESTS = """
import contextlib
import threading

from websockets.exceptions import ConnectionClosedOK
from websockets.sync.client import connect


@contextlib.contextmanager
def session(mock):
    with connect(url(mock), additional_headers=KEY, proxy=None, open_timeout=5) as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "session.created"
        yield ws


def test_session_created(realtime_mock):
    with session(realtime_mock) as ws:
        ws.send(json.dumps(TEXT))
        while json.loads(ws.recv(timeout=5))["type"] != "response.done":
            pass
    assert [len(t) > 3 for t in realtime_mock.wait_for_sessions()] == [True]
    assert_conforms(realtime_mock)


def test_realtime_checks_fixture(realtime_mock, realtime_checks):
    with session(realtime_mock):
        pass
    assert realtime_checks(checks="default,-event_ids_are_unique").violations == ()


@pytest.mark.realtime_scenario("accepted-then-closed")
def test_scenario_closes_before_session_created(realtime_mock):
    with connect(url(realtime_mock), additional_headers=KEY, proxy=None) as ws:
        with pytest.raises(ConnectionClosedOK) as closed:
            ws.recv(timeout=5)
    assert closed.value.rcvd.code == 1000


@pytest.mark.realtime_scenario(first_delta_delay=0.5)
def test_double_response_create(realtime_mock):
    with session(realtime_mock) as ws:
        ws.send(json.dumps(TEXT))
        ws.send(json.dumps(TEXT))
        while json.loads(ws.recv(timeout=5))["type"] != "response.done":
            pass
    assert_conforms(realtime_mock)


def test_non_strict_warns_and_fails_when_strict(realtime_mock):
    clear = {"type": "input_audio_buffer.clear", "event_id": "evt_same"}
    with session(realtime_mock) as ws:
        ws.send(json.dumps(clear))
        ws.send(json.dumps(clear))
        assert json.loads(ws.recv(timeout=5))["type"] == "input_audio_buffer.cleared"
    with pytest.warns(RealtimeConformanceWarning, match="event_ids_are_unique"):
        assert assert_conforms(realtime_mock).verdict == "NON-STRICT"
    with pytest.raises(ConformanceFailed, match="NON-STRICT violation"):
        assert_conforms(realtime_mock, strict=True)


def test_no_server_thread_left_behind():
    assert [t.name for t in threading.enumerate() if t.name.startswith("realtime-mock")] == []
"""

USAGE_ERRORS = """
from conformance.transcript import Transcript


@pytest.mark.realtime_scenario("beta-header-rejectd")
def test_unknown_scenario(realtime_mock):
    pass


@pytest.mark.realtime_scenario(ping_intervall=None)
def test_unknown_setting(realtime_mock):
    pass


def test_unknown_check():
    assert_conforms(Transcript(), checks="tracks_response_lifecyle")
"""

OPTIONS = """
from websockets.sync.client import connect


def test_default_scenario_from_the_command_line(realtime_mock):
    assert realtime_mock.scenario == "silent-after-accept"


@pytest.mark.realtime_scenario(scenario=None, first_delta_delay=0.5)
def test_ini_check_selection(realtime_mock):
    with connect(url(realtime_mock), additional_headers=KEY, proxy=None) as ws:
        ws.recv(timeout=5)
        ws.send(json.dumps(TEXT))
        ws.send(json.dumps(TEXT))
        while json.loads(ws.recv(timeout=5))["type"] != "response.done":
            pass
    assert realtime_mock.scenario is None
    assert "tracks_response_lifecycle" not in assert_conforms(realtime_mock).checks_run
    with pytest.raises(ConformanceFailed, match="tracks_response_lifecycle"):
        assert_conforms(realtime_mock, checks="default")


@pytest.mark.realtime_scenario("accepted-then-closed")
class TestMarkers:
    @pytest.mark.realtime_scenario(ping_interval=None, seed=7)
    def test_class_and_function_markers_merge(self, realtime_mock):
        assert realtime_mock.scenario == "accepted-then-closed"
        assert (realtime_mock.config.ping_interval, realtime_mock.config.seed) == (None, 7)
        assert (realtime_mock.config.port, realtime_mock.port > 0) == (0, True)
"""

XDIST = """
import os
from pathlib import Path

from websockets.sync.client import connect


@pytest.mark.parametrize("n", range(6))
def test_own_server(realtime_mock, n):
    with connect(url(realtime_mock), additional_headers=KEY, proxy=None) as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "session.created"
    assert len(realtime_mock.wait_for_sessions()) == 1
    worker = os.environ["PYTEST_XDIST_WORKER"]
    Path(os.environ["PORTS_DIR"], f"{worker}-{n}").write_text(str(realtime_mock.port))
"""


RUN_OUTCOME = '''
import subprocess
import sys

# A client run as a process, the way a team tests its own CLI: it prints the reply's
# deltas, and (the bug) treats a closed socket as success.
CLIENT = """
import json, sys
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

headers = {"Authorization": "Bearer sk-test-plugin-0123456789"}
try:
    with connect(sys.argv[1], additional_headers=headers, proxy=None) as ws:
        ws.recv(timeout=5)
        ws.send(json.dumps(%r))
        while (event := json.loads(ws.recv(timeout=5)))["type"] != "response.done":
            if event["type"] == "response.output_text.delta":
                print(event["delta"], end="", flush=True)
except ConnectionClosed:
    pass
print()
""" % (TEXT,)


def run_client(mock):
    return subprocess.run(
        [sys.executable, "-c", CLIENT, url(mock)],
        capture_output=True, text=True, timeout=30, check=False,
    )


@pytest.mark.realtime_scenario("accepted-then-closed")
def test_exit_0_after_a_close_fails_once_the_exit_status_is_given(realtime_mock):
    done = run_client(realtime_mock)
    assert done.returncode == 0
    skipped = assert_conforms(realtime_mock).checks_skipped  # transcripts alone
    assert "surfaces_close_code_and_reason" in skipped
    assert_conforms(realtime_mock, exit_code=0, stdout=done.stdout, stderr=done.stderr)


def test_a_client_that_prints_its_reply_passes_every_check(realtime_mock, realtime_checks):
    done = run_client(realtime_mock)
    result = realtime_checks(exit_code=done.returncode, stdout=done.stdout, stderr=done.stderr)
    assert "delivers_reply" in result.checks_run
    assert result.checks_skipped == ()


def test_a_reply_never_shown_fails_delivers_reply(realtime_mock):
    done = run_client(realtime_mock)
    with pytest.raises(ConformanceFailed, match="delivers_reply"):
        assert_conforms(realtime_mock, exit_code=0, stdout="")
    assert_conforms(realtime_mock, exit_code=0, stdout="", checks="-delivers_reply")
    assert_conforms(realtime_mock, exit_code=0, notes=done.stdout)


def test_output_without_an_exit_status_is_a_usage_error(realtime_mock):
    assert_conforms(realtime_mock, stdout="hello")
'''


def user_file(pytester: pytest.Pytester, body: str, *, ini: str = "") -> None:
    pytester.makeini(f"[pytest]\nfilterwarnings = error\n{textwrap.dedent(ini)}")
    pytester.makepyfile(test_user=COMMON + body)


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=TIMEOUT)


def assert_conformance_report(result: pytest.RunResult) -> None:
    """The double response.create failed with the readable report and no plugin frames."""
    result.stdout.fnmatch_lines(
        [
            "*ConformanceFailed: 1 conformance violation(s):",
            "*[[]FAILED[]] tracks_response_lifecycle: response.create while a response is active",
            "*Expected: response.done of the active response before the next response.create",
            "*Received: *active response*",
            "*At: connection 0, frame #* (client response.create)",
            "*Fix: *",
        ]
    )
    assert "pytest_plugin.py" not in result.stdout.str()


# --------------------------------------------------------------------------- nested runs


@pytest.mark.parametrize(
    ("mode", "mark"),
    [("strict", "pytestmark = pytest.mark.asyncio"), ("auto", "")],
    ids=["strict", "auto"],
)
def test_async_tests_under_pytest_asyncio(pytester: pytest.Pytester, mode: str, mark: str) -> None:
    ini = f"asyncio_mode = {mode}\nasyncio_default_fixture_loop_scope = function\n"
    user_file(pytester, ASYNC_TESTS.format(mark=mark), ini=ini)
    result = run(pytester, "-p", "asyncio", "-v")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*test_double_response_create FAILED*"])
    assert_conformance_report(result)


def test_sync_tests_without_pytest_asyncio(pytester: pytest.Pytester) -> None:
    user_file(pytester, SYNC_TESTS)
    result = run(pytester, "-p", "no:asyncio", "-v")
    result.assert_outcomes(passed=5, failed=1)
    result.stdout.fnmatch_lines(["*test_double_response_create FAILED*"])
    assert_conformance_report(result)


def test_usage_errors_are_reported_without_traceback(pytester: pytest.Pytester) -> None:
    user_file(pytester, USAGE_ERRORS)
    result = pytester.runpytest("-p", "no:asyncio")  # no server starts: run in this process
    result.assert_outcomes(errors=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_unknown_scenario*",
            "@pytest.mark.realtime_scenario: unknown scenario 'beta-header-rejectd';"
            " did you mean 'beta-header-rejected'?*",
            "*ERROR at setup of test_unknown_setting*",
            "@pytest.mark.realtime_scenario: ping_intervall: unknown setting*'ping_interval'*",
            "*test_unknown_check*",
            "assert_conforms: unknown check 'tracks_response_lifecyle'"
            " (did you mean 'tracks_response_lifecycle'?)*",
        ]
    )
    assert "Traceback" not in result.stdout.str()
    assert "pytest_plugin.py" not in result.stdout.str()


def test_assert_conforms_judges_the_client_run(pytester: pytest.Pytester) -> None:
    user_file(pytester, RUN_OUTCOME)
    result = run(pytester, "-p", "no:asyncio", "-v")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*test_exit_0_after_a_close_fails_once_the_exit_status_is_given FAILED*",
            "*test_a_client_that_prints_its_reply_passes_every_check PASSED*",
            "*test_a_reply_never_shown_fails_delivers_reply PASSED*",
            "*test_output_without_an_exit_status_is_a_usage_error FAILED*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*[[]FAILED[]] surfaces_close_code_and_reason: close not surfaced",
            "*Received: close 1000*exit status 0*",
        ]
    )
    result.stdout.fnmatch_lines(
        ["assert_conforms: stdout= describe the client's run: give its exit status too*"]
    )


def test_options_ini_and_marker_merging(pytester: pytest.Pytester) -> None:
    user_file(pytester, OPTIONS, ini="realtime_checks = -tracks_response_lifecycle\n")
    result = run(
        pytester,
        *("-p", "no:asyncio", "--strict-config", "--strict-markers"),
        *("--realtime-scenario", "silent-after-accept"),
    )
    result.assert_outcomes(passed=3)


PACE = """
def test_pace_from_the_command_line(realtime_mock):
    assert realtime_mock.config.pace == "fast"


@pytest.mark.realtime_scenario(pace="live")
def test_a_marker_sets_the_pace_too(realtime_mock):
    assert realtime_mock.config.pace == "live"
"""


def test_pace_from_the_option_and_the_marker(pytester: pytest.Pytester) -> None:
    user_file(pytester, PACE)
    result = run(pytester, "-p", "no:asyncio", "--realtime-pace", "fast")
    result.assert_outcomes(passed=2)
    result = pytester.runpytest("-p", "no:asyncio", "--realtime-pace", "slow", "-k", "line")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*--realtime-pace: pace: expected one of live, fast*"])


def test_unknown_default_scenario_names_the_option(pytester: pytest.Pytester) -> None:
    user_file(pytester, "def test_any(realtime_mock):\n    pass\n")
    result = pytester.runpytest("-p", "no:asyncio", "--realtime-scenario", "stalled-strem")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["--realtime-scenario: unknown scenario 'stalled-strem'; did you mean 'stalled-stream'?*"]
    )


def test_xdist_gives_each_test_its_own_server(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Loaded explicitly, as users who disable plugin autoloading do; with autoloading on,
    # use the entry point name (`-p realtime_conformance`), not the module path.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("PORTS_DIR", str(tmp_path))
    user_file(pytester, XDIST)
    result = run(pytester, "-n", "2", "-p", "conformance.pytest_plugin", "-p", "xdist")
    result.assert_outcomes(passed=6)
    files = sorted(tmp_path.iterdir())
    ports = {f.read_text() for f in files}
    workers = {f.name.split("-")[0] for f in files}
    assert (len(files), len(ports), workers) == (6, 6, {"gw0", "gw1"})


def test_fixtures_markers_and_options_are_documented(pytester: pytest.Pytester) -> None:
    fixtures = run(pytester, "-p", "no:asyncio", "--fixtures")
    # pytest 8 lists a plugin's fixtures by name, pytest 9 in definition order.
    fixtures.stdout.fnmatch_lines(["*fixtures defined from conformance.pytest_plugin*"])
    fixtures.stdout.fnmatch_lines(
        ["realtime_checks -- *", "    `assert_conforms`, judging this test's `realtime_mock`*"]
    )
    fixtures.stdout.fnmatch_lines(
        ["realtime_mock -- *", "    A running mock OpenAI Realtime (GA) server for this test*"]
    )
    # Listing markers and options imports nothing heavy: run those in this process.
    markers = pytester.runpytest("-p", "no:asyncio", "--markers")
    markers.stdout.fnmatch_lines(["@pytest.mark.realtime_scenario(name=None, **mock_config):*"])
    usage = pytester.runpytest("-p", "no:asyncio", "--help")
    usage.stdout.fnmatch_lines(
        ["OpenAI Realtime conformance*", "*--realtime-scenario=NAME*", "*--realtime-checks=CHECKS*"]
    )
    usage.stdout.fnmatch_lines(["*realtime_scenario (string)*", "*realtime_checks (string)*"])


def test_importing_the_plugin_stays_light() -> None:
    code = (
        "import sys, conformance.pytest_plugin;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'mock_server', 'websockets', 'yaml', 'orjson', 'jsonschema_rs', 'pytest_asyncio'}"
        " or m.startswith('conformance.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['conformance.pytest_plugin']"


# --------------------------------------------------------------------------- in this process


def golden(name: str) -> Transcript:
    return read_jsonl(transcripts_dir() / name)


def test_assert_conforms_passes_a_golden_transcript() -> None:
    result = assert_conforms([golden("text-turn.jsonl")])
    assert (result.verdict, result.violations) == ("OK", ())


def test_assert_conforms_reads_files_and_folders() -> None:
    assert assert_conforms(transcripts_dir() / "text-turn.jsonl").verdict == "OK"
    assert len(assert_conforms(transcripts_dir() / "reconnect-backoff").transcripts) > 1


def test_assert_conforms_raises_one_conformance_failure() -> None:
    bad = golden("violations/tracks_response_lifecycle.jsonl")
    with pytest.raises(ConformanceFailed) as failure:
        assert_conforms(bad)
    assert [v.check for v in failure.value.violations] == ["tracks_response_lifecycle"]
    assert isinstance(failure.value, AssertionError)
    assert assert_conforms(bad, checks="-tracks_response_lifecycle").verdict == "OK"


def test_expectations_join_a_narrow_selection() -> None:
    bad = golden("violations/does_not_send_beta_header.jsonl")
    assert assert_conforms(bad, checks="event_ids_are_unique").verdict == "OK"
    with pytest.raises(ConformanceFailed, match="does_not_send_beta_header") as failure:
        assert_conforms(bad, checks="event_ids_are_unique", expect="beta-header-rejected")
    (note,) = failure.value.__notes__
    assert note.startswith("expected: the client reports close 4000")
    with pytest.raises(ConformanceFailed, match="does_not_send_beta_header"):
        assert_conforms(bad, checks="event_ids_are_unique", expect=["does_not_send_beta_header"])


def test_non_strict_violations_warn_unless_strict() -> None:
    duplicated = golden("violations/event_ids_are_unique.jsonl")
    with pytest.warns(RealtimeConformanceWarning, match=r"\[NON-STRICT\] event_ids_are_unique"):
        assert assert_conforms(duplicated).verdict == "NON-STRICT"
    with pytest.raises(ConformanceFailed, match="1 NON-STRICT violation"):
        assert_conforms(duplicated, strict=True)


def test_nothing_to_judge_is_a_usage_error() -> None:
    with pytest.raises(pytest.fail.Exception, match="no session to judge"):
        assert_conforms([])
    with pytest.raises(TypeError, match="cannot judge 42"):
        assert_conforms(42)


@pytest.mark.parametrize(
    ("checks", "fallback", "tokens"),
    [
        (None, None, ["default"]),
        (None, "-a,-b", ["default", "-a", "-b"]),
        ("a, b", "-c", ["a", "b"]),
        (["-a", "b"], None, ["default", "-a", "b"]),
        ([], "x", ["default"]),
    ],
)
def test_check_selection_tokens(
    checks: list[str] | str | None, fallback: str | None, tokens: list[str]
) -> None:
    assert _tokens(checks, fallback) == tokens


def test_realtime_mock_outside_pytest_starts_and_stops_its_thread() -> None:
    from mock_server.config import MockConfig

    mock = RealtimeMock(MockConfig(port=0, scenario="accepted-then-closed"), name="realtime-mock t")
    try:
        assert mock.url.startswith("ws://127.0.0.1:")
        assert mock.base_url == mock.url.replace("ws://", "http://").removesuffix("/realtime")
        assert mock.expect["client"][0] == "surfaces_close_code_and_reason"
        assert mock.wait_for_sessions() == []
        with pytest.raises(TimeoutError, match=r"expected 1 sessions ended within 0\.05 s"):
            mock.wait_for_sessions(1, timeout=0.05)
    finally:
        mock.close()
    mock.close()  # idempotent
    assert not any(t.name == "realtime-mock t" for t in threading.enumerate())
    with pytest.raises(RuntimeError, match="the mock server has stopped"):
        mock.wait_for_sessions()
