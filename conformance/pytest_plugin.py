"""pytest plugin: a mock Realtime server per test, a scenario marker, a conformance assertion.

Registered through the `pytest11` entry point `realtime_conformance`, so installing the
package enables it::

    @pytest.mark.realtime_scenario("beta-header-rejected", ping_interval=None)
    def test_my_client(realtime_mock):
        run_my_client(f"{realtime_mock.url}?model=gpt-realtime")
        assert_conforms(realtime_mock)

The server runs on its own event loop in a background thread, so the fixture is
synchronous: it serves sync clients, async tests under pytest-asyncio (strict or auto
mode) or anyio alike, and never ties itself to the test's event loop. Guide:
docs/pytest-plugin.md.

Importing this module costs only pytest and the standard library: `mock_server` and
the checks are imported when a fixture or `assert_conforms` first runs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
import warnings
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

import pytest

if TYPE_CHECKING:
    import respx

    from conformance.checks import RunOutcome
    from conformance.transcript import Transcript
    from conformance.verdicts import CaseResult
    from mock_server.config import MockConfig
    from mock_server.server import MockServer

__all__ = ["RealtimeConformanceWarning", "RealtimeMock", "assert_conforms"]

MARKER: Final = "realtime_scenario"
START_TIMEOUT: Final = 10.0  # seconds for the server to bind
_T = TypeVar("_T")
# `--realtime-checks` / ini `realtime_checks` of the running session (see pytest_configure).
_session_defaults: dict[str, str | None] = {"checks": None}


class RealtimeConformanceWarning(UserWarning):
    """`assert_conforms` found only NON-STRICT violations (tolerated, but fragile)."""


# --------------------------------------------------------------------------- hooks


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("realtime", "OpenAI Realtime conformance (realtime_mock fixture)")
    group.addoption(
        "--realtime-scenario",
        dest="realtime_scenario",
        metavar="NAME",
        default=None,
        help="scenario (built-in id or YAML path) of realtime_mock when no marker names one "
        "(ini: realtime_scenario)",
    )
    group.addoption(
        "--realtime-checks",
        dest="realtime_checks",
        metavar="CHECKS",
        default=None,
        help="default check selection of assert_conforms, e.g. 'default,-event_ids_are_unique' "
        "(ini: realtime_checks)",
    )
    group.addoption(
        "--realtime-pace",
        dest="realtime_pace",
        metavar="live|fast",
        default=None,
        help="pace of realtime_mock when no marker sets one: live (the default: live-like "
        "latency, so races happen) or fast (no waiting) (ini: realtime_pace)",
    )
    parser.addini("realtime_scenario", "default scenario of the realtime_mock fixture", default="")
    parser.addini("realtime_pace", "default pace of the realtime_mock fixture", default="")
    parser.addini("realtime_checks", "default check selection of assert_conforms", default="")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(name=None, **mock_config): run this test's realtime_mock server with the "
        "scenario `name` (built-in id or YAML path) and these MockConfig fields "
        "(e.g. pace='fast', ping_interval=None, api_keys=('sk-test',)); tls=True serves "
        "wss:// (realtime_mock.tls_env names the CA to trust).",
    )
    _session_defaults["checks"] = _option(config, "realtime_checks")


def pytest_unconfigure(config: pytest.Config) -> None:
    _session_defaults["checks"] = None


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def realtime_mock(request: pytest.FixtureRequest) -> Iterator[RealtimeMock]:
    """A running mock OpenAI Realtime (GA) server for this test, on 127.0.0.1 and a free port.

    Configured by `@pytest.mark.realtime_scenario(name, **mock_config)` (else by
    `--realtime-scenario`). Connect to `.url` (add `?model=gpt-realtime` and any
    `Authorization: Bearer` key) or give `.base_url` to an SDK; read `.transcripts`
    after `.wait_for_sessions()`. Runs in a background thread: works in sync and
    async tests alike. Stopped after the test.
    """
    config = _mock_config(request.node, request.config)
    tls = _marked_tls(request.node)
    mock = RealtimeMock(config, name=f"realtime-mock {request.node.nodeid}", tls=tls)
    try:
        yield mock
    finally:
        mock.close()


@pytest.fixture
def realtime_checks(request: pytest.FixtureRequest) -> Callable[..., CaseResult]:
    """`assert_conforms`, judging this test's `realtime_mock` when called without a target.

    `realtime_checks(checks=None, expect=None, strict=False, exit_code=None, stdout=None,
    stderr=None, timed_out=False, notes=None)` waits for the mock's sessions to end, runs
    the checks (with the client's exit status and output, every check `realtime-conformance
    run` makes), and fails the test with one `ConformanceFailed` listing every violation
    (expected, received, where, fix).
    """

    def check(target: Any = None, **options: Any) -> CaseResult:
        __tracebackhide__ = True
        if target is None:
            target = request.getfixturevalue("realtime_mock")
        return assert_conforms(target, **options)

    return check


@pytest.fixture
def realtime_rest(request: pytest.FixtureRequest) -> Iterator[respx.MockRouter]:
    """A respx router sending this test's OpenAI REST calls made through httpx or the
    official SDK (`https://api.openai.com/v1/...`) to the mock's REST handlers, in-process.

    Configured by the same `@pytest.mark.realtime_scenario(...)` as `realtime_mock`
    (`api_keys`, `secret_key`), so the `ek_` keys it mints open sessions on that mock.
    Other bases: `mock_server.respx_router.rest_router(base_urls=...)`. Guide: docs/rest.md.
    """
    from mock_server.respx_router import rest_router

    with rest_router(_mock_config(request.node, request.config)) as router:
        yield router


# --------------------------------------------------------------------------- the mock handle


class RealtimeMock:
    """A `MockServer` running on its own event loop in a background thread.

    `url`, `base_url`, `port`, `config` and `scenario` describe it; `transcripts`
    lists each session's live `Transcript` in connection order. `server` is the
    underlying `MockServer`: touch it only from coroutines given to `run`.
    """

    def __init__(
        self, config: MockConfig, *, name: str = "realtime-mock", tls: bool = False
    ) -> None:
        """Start a server with `config` (already checked) and wait until it listens;
        with `tls`, serving `wss://` (the cached local CA's certificate, docs/tls.md).

        Raises:
            OSError: the address cannot be bound.
        """
        from mock_server.scenarios import resolve_scenario

        self.config = config
        self.scenario: str | None = None
        self.expect: Mapping[str, Any] = {}
        if config.scenario:
            found = resolve_scenario(config.scenario)
            self.scenario = found.id
            self.expect = {"client": list(found.expect.client), "summary": found.expect.summary}
        self._loop = _LoopThread(name)
        try:
            self.server: MockServer = self._loop.run(_start_server(config, tls), START_TIMEOUT)
        except BaseException:
            self._loop.stop()
            raise

    @property
    def url(self) -> str:
        """`ws://127.0.0.1:PORT/v1/realtime`, `wss://` with `tls=True` (add `?model=…`,
        `&scenario=…` as needed)."""
        return self.server.url

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT/v1` (`https://` with `tls=True`): the SDKs' `base_url`."""
        return self.server.base_url

    @property
    def port(self) -> int:
        """The bound port."""
        return self.server.port

    @property
    def tls_env(self) -> dict[str, str]:
        """With `tls=True`: `NODE_EXTRA_CA_CERTS` and `SSL_CERT_FILE` naming the CA to
        trust (give them to a client process); {} without TLS."""
        return self.server.tls_env

    @property
    def transcripts(self) -> list[Transcript]:
        """Every session's transcript so far, in connection order (live objects)."""
        return list(self.server.transcripts)

    def wait_for_sessions(
        self, n: int | None = None, timeout: float = 5.0, *, ended: bool = True
    ) -> list[Transcript]:
        """Block until `n` sessions have ended (opened, with `ended=False`).

        Args:
            n: how many; None means every session opened so far.
            timeout: seconds to wait at most.
            ended: wait for the sessions to end (True) or only to open.

        Returns:
            Their transcripts: in connection order when `n` is None, else in the order
            they ended (or opened).

        Raises:
            TimeoutError: fewer sessions within `timeout`.

        In an async test whose client is still connected, use
        `await wait_for_sessions_async(...)` instead: blocking the test's loop would
        stall that client.
        """
        __tracebackhide__ = True
        try:
            return self._loop.run(self._wait(n, timeout, ended), timeout + START_TIMEOUT)
        except TimeoutError as exc:
            raise TimeoutError(str(exc)) from None

    async def wait_for_sessions_async(
        self,
        n: int | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - mirrors MockServer.wait_for_sessions
        *,
        ended: bool = True,
    ) -> list[Transcript]:
        """`wait_for_sessions` for async tests: awaits without blocking the test's loop."""
        __tracebackhide__ = True
        future = self._loop.submit(self._wait(n, timeout, ended))
        try:
            return await asyncio.wrap_future(future)
        except TimeoutError as exc:
            raise TimeoutError(str(exc)) from None

    def run(self, coroutine: Coroutine[Any, Any, _T], timeout: float = 30.0) -> _T:
        """Run `coroutine` on the server's loop and return its result (blocking)."""
        return self._loop.run(coroutine, timeout)

    def close(self) -> None:
        """Stop the server (closing its connections, bounded) and its thread. Idempotent."""
        if not self._loop.running:
            return
        try:
            self._loop.run(self.server.stop(), self.config.close_timeout + 10.0)
        finally:
            self._loop.stop()

    async def _wait(self, n: int | None, seconds: float, ended: bool) -> list[Transcript]:
        count = len(self.server.transcripts) if n is None else n
        sessions = await self.server.wait_for_sessions(count, seconds, ended=ended)
        return list(self.server.transcripts[:count]) if n is None else sessions

    def __repr__(self) -> str:
        return f"<RealtimeMock {self.url} scenario={self.scenario!r}>"


async def _start_server(config: MockConfig, tls: bool = False) -> MockServer:
    from mock_server.server import MockServer

    return await MockServer(config, tls=tls).start()


class _LoopThread:
    """An event loop running forever in a daemon thread."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def run(self, coroutine: Coroutine[Any, Any, _T], timeout: float) -> _T:
        future = self.submit(coroutine)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()  # the caller stopped waiting: stop the coroutine too
            raise

    def submit(self, coroutine: Coroutine[Any, Any, _T]) -> concurrent.futures.Future[_T]:
        if not self._thread.is_alive():
            coroutine.close()  # never awaited: close it so Python does not warn
            raise RuntimeError("the mock server has stopped (its test has ended)")
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout)

    def _main(self) -> None:
        loop = self.loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _mock_config(node: pytest.Item, config: pytest.Config) -> MockConfig:
    """The test's `MockConfig`: port 0, the default scenario, then the markers (closest last)."""
    __tracebackhide__ = True
    from conformance.protocol.errors import ConfigError, UsageError
    from conformance.transcript import TRANSCRIPT_MAX_BYTES
    from mock_server.config import MockConfig
    from mock_server.scenarios import resolve_scenario
    from mock_server.settings import merge

    source = "--realtime-scenario"
    overrides: dict[str, Any] = {"scenario": _option(config, "realtime_scenario")}
    pace = _option(config, "realtime_pace")
    if pace is not None:
        overrides["pace"] = pace
        source = "--realtime-pace"
    for mark in reversed(list(node.iter_markers(MARKER))):
        source = f"@pytest.mark.{MARKER}"
        kwargs = dict(mark.kwargs)
        if len(mark.args) > 1 or (mark.args and "scenario" in kwargs):
            raise _usage(f"{source} takes one scenario name, got {mark.args!r}")
        if mark.args:
            kwargs["scenario"] = mark.args[0]
        kwargs.pop("tls", None)  # not a MockConfig field: `_marked_tls`
        overrides.update(kwargs)
    try:
        mock_config = merge(
            MockConfig(port=0, transcript_max_bytes=TRANSCRIPT_MAX_BYTES), overrides
        )
        if mock_config.scenario:
            resolve_scenario(mock_config.scenario)
    except (UsageError, ConfigError) as exc:
        raise _usage(f"{source}: {exc}") from None
    return mock_config


def _marked_tls(node: pytest.Item) -> bool:
    """`tls=True` of the closest marker that sets it: the mock serves `wss://`."""
    for mark in node.iter_markers(MARKER):
        if "tls" in mark.kwargs:
            return bool(mark.kwargs["tls"])
    return False


def _usage(message: str) -> BaseException:
    """A test failure that shows `message` alone: no traceback (a usage error, not a verdict)."""
    return pytest.fail.Exception(message, pytrace=False)


def _option(config: pytest.Config, name: str) -> str | None:
    value = config.getoption(name, None) or config.getini(name)
    return str(value) if value else None


# --------------------------------------------------------------------------- the assertion


def assert_conforms(
    transcripts_or_server: Any,
    *,
    checks: str | Iterable[str] | None = None,
    expect: str | Mapping[str, Any] | Iterable[str] | None = None,
    strict: bool = False,
    timeout: float = 5.0,
    exit_code: int | None = None,
    stdout: str | bytes | None = None,
    stderr: str | bytes | None = None,
    timed_out: bool = False,
    notes: str | bytes | None = None,
) -> CaseResult:
    """Judge a client by what the mock recorded; fail the test if it broke a FAILED check.

    Given the client's exit status (and its output), every check of `realtime-conformance
    run` runs, the ones that judge the run too (errors and closes surfaced, reply
    delivered, exit 0 when nothing went wrong, no key printed); without it those are
    skipped (`result.checks_skipped`).

    Args:
        transcripts_or_server: the `realtime_mock` handle (its sessions are waited for,
            up to `timeout`), a `MockServer`, a `Transcript`, an iterable of them, or a
            JSONL transcript file or a folder of them.
        checks: a check selection such as `"default,-event_ids_are_unique"`; default:
            `--realtime-checks`, else every default check.
        expect: what a correct client does: a scenario id (its `expect:`), an `expect`
            mapping, or expectation names; their checks join the selection. Default:
            the scenario of `realtime_mock`.
        strict: fail on NON-STRICT violations too (else they only warn).
        timeout: seconds to wait for the mock's open sessions to end.
        exit_code: the client process's exit status (e.g. `subprocess.run(...).returncode`);
            None with `timed_out=True` for a client you killed.
        stdout: what the client printed (its replies are looked for here).
        stderr: its diagnostics.
        timed_out: the client ran past your time limit and was killed.
        notes: what it wrote to the file named by `$REALTIME_NOTES_FILE`, if it shows its
            replies somewhere other than stdout.

    Returns:
        The `CaseResult` (verdict, violations, checks run and skipped).

    Raises:
        ConformanceFailed: a FAILED violation (or NON-STRICT with `strict`); the message
            lists every violation, worst first, with expected / received / where / fix.
    """
    __tracebackhide__ = True
    from conformance.checks import CheckContext, ConformanceFailed, Severity, expected_checks
    from conformance.protocol.errors import UsageError
    from conformance.runner.checks import runner_registry
    from conformance.verdicts import Verdict, judge_case

    registry = runner_registry()  # the same check names as `realtime-conformance run`
    tokens = _tokens(checks, _session_defaults["checks"])
    try:
        registry.select(tokens)  # a misspelt check name is a usage error: report it first
    except UsageError as exc:
        source = " (--realtime-checks / ini realtime_checks)" if checks is None else ""
        raise _usage(f"assert_conforms{source}: {exc}") from None
    run = {"exit_code": exit_code, "stdout": stdout, "stderr": stderr, "notes": notes}
    outcome = _run_outcome(run, timed_out, transcripts_or_server)
    transcripts, scenario, scenario_expect = _gather(transcripts_or_server, timeout)
    expectation = _expectation(expect) if expect is not None else scenario_expect
    ctx = CheckContext(transcripts=tuple(transcripts), expect=expectation, outcome=outcome)
    selection = [*expected_checks(expectation, registry)[0], *tokens]
    result = judge_case(
        ctx,
        case_id=scenario or "pytest",
        scenario=scenario,
        checks=selection,
        registry=registry,
    )
    failing = {Verdict.FAILED, Verdict.NON_STRICT} if strict else {Verdict.FAILED}
    if result.verdict in failing:
        error = ConformanceFailed(result.violations)
        if result.verdict is Verdict.NON_STRICT:
            error.args = (
                f"{len(result.violations)} NON-STRICT violation(s) (strict=True):\n"
                + "\n".join(map(str, result.violations)),
            )
        for note in _notes(result, expectation):
            error.add_note(note)
        raise error
    non_strict = [v for v in result.violations if v.severity is Severity.NON_STRICT]
    if non_strict:
        body = "\n".join(map(str, non_strict))
        warnings.warn(
            RealtimeConformanceWarning(f"{len(non_strict)} NON-STRICT violation(s):\n{body}"),
            stacklevel=2,
        )
    return result


def _run_outcome(run: Mapping[str, Any], timed_out: bool, target: Any) -> RunOutcome | None:
    """The client's `RunOutcome` from `assert_conforms`'s keywords, or None if none given."""
    __tracebackhide__ = True
    from conformance.checks import RunOutcome

    if run["exit_code"] is None and not timed_out:
        given = [f"{name}=" for name, value in run.items() if value is not None]
        if given:
            raise _usage(
                f"assert_conforms: {', '.join(given)} describe the client's run: give its "
                "exit status too (exit_code=N, or timed_out=True for a client you killed)"
            )
        return None
    secrets = tuple(getattr(getattr(target, "config", None), "api_keys", None) or ())
    return RunOutcome(
        exit_code=run["exit_code"],
        timed_out=timed_out,
        stdout=_text(run["stdout"]),
        stderr=_text(run["stderr"]),
        notes=_text(run["notes"]),
        secrets=tuple(str(s) for s in secrets),  # the mock's keys must never be printed
    )


def _text(value: str | bytes | None) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value or ""


def _gather(target: Any, timeout: float) -> tuple[list[Transcript], str | None, Mapping[str, Any]]:
    """(transcripts, scenario id, scenario expectation) of whatever was given."""
    __tracebackhide__ = True
    from conformance.transcript import Transcript

    scenario: str | None = None
    expect: Mapping[str, Any] = {}
    if isinstance(target, RealtimeMock):
        try:
            transcripts = target.wait_for_sessions(None, timeout)
        except TimeoutError as exc:
            raise _usage(
                f"assert_conforms: {exc}; close the client before judging it (in an async "
                "test, `await realtime_mock.wait_for_sessions_async()` first)"
            ) from None
        scenario, expect = target.scenario, target.expect
    elif isinstance(target, Transcript):
        transcripts = [target]
    elif isinstance(target, str | os.PathLike):
        transcripts = _read(Path(target))
    elif hasattr(target, "transcripts"):  # a MockServer run by the test itself
        transcripts = list(target.transcripts)
    elif isinstance(target, Iterable):
        transcripts = list(target)
    else:
        raise TypeError(f"assert_conforms: cannot judge {target!r}; pass transcripts or a server")
    if not transcripts:
        raise _usage("assert_conforms: no session to judge (the client never connected)")
    if not all(isinstance(t, Transcript) for t in transcripts):
        raise TypeError(f"assert_conforms: expected Transcript objects, got {transcripts!r:.200}")
    if scenario is None:
        scenario = transcripts[0].meta.get("scenario") or None
    return transcripts, scenario, expect


def _read(path: Path) -> list[Transcript]:
    from conformance.transcript import read_jsonl

    files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
    return [read_jsonl(file) for file in files]


def _expectation(expect: str | Mapping[str, Any] | Iterable[str]) -> Mapping[str, Any]:
    __tracebackhide__ = True
    if isinstance(expect, Mapping):
        return dict(expect)
    if isinstance(expect, str):
        from conformance.protocol.errors import ConfigError
        from mock_server.scenarios import resolve_scenario

        try:
            found = resolve_scenario(expect).expect
        except ConfigError as exc:
            raise _usage(f"assert_conforms(expect=...): {exc}") from None
        return {"client": list(found.client), "summary": found.summary}
    return {"client": list(expect)}


def _tokens(checks: str | Iterable[str] | None, fallback: str | None) -> list[str]:
    """The selection as tokens; one that is empty or starts with a removal starts at default."""
    chosen = checks if checks is not None else fallback
    items = [chosen] if isinstance(chosen, str) else list(chosen or ())
    tokens = [part.strip() for item in items for part in item.split(",") if part.strip()]
    if not tokens or tokens[0].startswith("-"):
        tokens.insert(0, "default")
    return tokens


def _notes(result: CaseResult, expectation: Mapping[str, Any]) -> Iterator[str]:
    summary = " ".join(str(expectation.get("summary") or "").split())
    if result.scenario:
        yield f"scenario {result.scenario}" + (f" expects: {summary}" if summary else "")
    elif summary:
        yield f"expected: {summary}"
