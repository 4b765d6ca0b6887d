"""Run a client command against one mock per case and judge each case.

    config = RunConfig(client="node hud.js", jobs=2)
    suite = await run_suite(cases, config, mock=serve)     # mock_server.serve fits
    sys.exit(suite.summary.exit_status)

For each case: start a mock playing the case's scenario, run the client with the
environment contract (`conformance.runner.inputs`), bound its run time, let the mock's
sessions end (bounded), write the transcripts and the client's output under
`out_dir/cases/<case>/`, and judge the case with the scenario's expectation. Cases run
`jobs` at a time; results come back in case order whatever the parallelism.

Each case runs on its own thread and event loop (`isolated`): its mock, its timers and its
client's clock share nothing with the other cases, so a case's verdict cannot depend on
what runs beside it (a client that makes its mock build a huge reply stalls that mock
only). Cancelling `run_suite` (Ctrl-C, SIGTERM) cancels every running case, which kills
its client's process group and stops its mock.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import shutil
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol, TypeVar, cast

from conformance.checks import CheckContext, CheckSettings, Registry, RunOutcome, expected_checks
from conformance.checks._helpers import span_s
from conformance.protocol.errors import UsageError
from conformance.transcript import Transcript, redact
from conformance.verdicts import CaseResult, Summary, judge_case, summarize

from .cases import Case
from .checks import ENDPOINT_KEY, runner_registry
from .inputs import NOTES_FILE, RunInputs, client_env, make_inputs, read_notes
from .long_session import SCREENSHOTS_KEY, deliver_screenshots
from .mock import MockFactory, MockHandle
from .process import ClientProcess, Feeder, run_client
from .relay import RelayConfig

DEFAULT_OUT_DIR: Final = Path("realtime-conformance-report")
DEFAULT_TIMEOUT_S: Final = 20.0
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9_.-]")
STOP_S: Final = 10.0  # after a cancel, how long a case may take to stop its client and mock
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True, kw_only=True)
class RunConfig:
    """How to run the client for every case.

    Attributes:
        client: the command, run by `/bin/sh -c` in its own process group.
        timeout_s: the client's time limit per case; then its process group is killed.
        jobs: cases run at the same time.
        out_dir: where inputs, transcripts, client output (and reports) go.
        checks: a check selection (`default`, `-name`, …); None: default plus the
            scenario's expectations.
        settle_s: after the client exits, how long the mock's sessions may take to end.
        settings: the bounds the checks judge against.
        cwd: the client's working directory (None: the runner's).
        env: the environment the contract is added to, as it is (None: the runner's,
            through the allow-list of `inputs.inherited_env`).
        screenshots: the user's screenshots (`run --screenshot`); none: a generated PNG.
        pass_env: more of the runner's variables the client gets (names or globs,
            `run --pass-env`), credentials included.
        relay: a relay under test (`run --relay`): the mock is its upstream, `client`
            drives it, both legs are judged (`conformance.runner.relay`).
        registry: the checks a case is judged with (None: `runner_registry()`; a live
            run adds the drift check: `conformance.runner.live`).
    """

    client: str
    timeout_s: float = DEFAULT_TIMEOUT_S
    jobs: int = 1
    out_dir: Path = DEFAULT_OUT_DIR
    checks: tuple[str, ...] | None = None
    settle_s: float = 2.0
    settings: CheckSettings = field(default_factory=CheckSettings)
    cwd: Path | None = None
    env: Mapping[str, str] | None = None
    screenshots: tuple[Path, ...] = ()
    pass_env: tuple[str, ...] = ()
    relay: RelayConfig | None = None
    registry: Registry | None = None

    def __post_init__(self) -> None:
        if not self.client.strip():
            raise UsageError("the client command is empty")
        if not self.timeout_s > 0:
            raise UsageError(f"timeout {self.timeout_s!r} must be a positive number of seconds")
        if self.jobs < 1:
            raise UsageError(f"jobs {self.jobs!r} must be at least 1")
        if self.settle_s < 0:
            raise UsageError(f"settle time {self.settle_s!r} must not be negative")
        if self.checks is not None:
            self.check_registry().select(self.checks)  # an unknown name fails before any run
        if self.relay is not None and self.relay.fixed_port and self.jobs > 1:
            raise UsageError(
                f"relay URL {self.relay.url!r} names its port: one case at a time (jobs=1), "
                "or put {port} in it for a free port per case"
            )

    def check_registry(self) -> Registry:
        """The registry cases are judged with: `registry`, or the runner's."""
        return self.registry or runner_registry()


@dataclass(frozen=True, slots=True, kw_only=True)
class SuiteResult:
    """Every case's result (in case order), the summary, and where the files went.

    `interrupted` is the signal that stopped the run (SIGINT, SIGTERM, SIGHUP): then
    `results` holds only the cases that finished before it.
    """

    results: tuple[CaseResult, ...]
    summary: Summary
    out_dir: Path
    inputs: RunInputs
    wall_s: float
    interrupted: signal.Signals | None = None

    @property
    def exit_status(self) -> int:
        """1 when any case FAILED, else 0 (the CI gate); 128 + the signal when interrupted."""
        if self.interrupted is not None:
            return 128 + int(self.interrupted)
        return self.summary.exit_status


class Progress(Protocol):
    """Told when each case starts and ends (`conformance.reports.ConsoleProgress` fits)."""

    def started(self, case_id: str) -> None:
        """A case is about to run."""

    def finished(self, result: CaseResult) -> None:
        """A case has its verdict."""


async def run_suite(
    cases: Sequence[Case],
    config: RunConfig,
    *,
    mock: MockFactory,
    progress: Progress | None = None,
    stop: asyncio.Future[signal.Signals] | None = None,
) -> SuiteResult:
    """Run and judge every case, `config.jobs` at a time.

    When `stop` gets a signal first (the CLI sets it on SIGINT, SIGTERM or SIGHUP), the
    running cases are cancelled (their clients killed, their mocks stopped) and the result
    holds the cases finished so far, with `interrupted` set.

    Raises:
        UsageError: no cases.
        OSError: a mock cannot bind, or the client's shell cannot start.
    """
    if not cases:
        raise UsageError("no cases to run")
    t0 = time.monotonic()
    inputs = await asyncio.to_thread(
        make_inputs, config.out_dir / "inputs", screenshots=config.screenshots
    )
    gate = asyncio.Semaphore(config.jobs)
    finished: dict[int, CaseResult] = {}

    async def one(index: int, case: Case) -> None:
        async with gate:
            if progress is not None:
                progress.started(case.id)
            result = await isolated(
                lambda: run_case(case, config, inputs, mock=mock), name=f"case {case.id}"
            )
            finished[index] = result
            if progress is not None:
                progress.finished(result)

    async def every_case() -> None:
        try:
            async with asyncio.TaskGroup() as group:
                for index, case in enumerate(cases):
                    group.create_task(one(index, case))
        except ExceptionGroup as failed:  # the first harness error, as itself (the rest: its kin)
            raise failed.exceptions[0] from None

    running = asyncio.ensure_future(every_case())
    interrupted = None
    try:
        if stop is not None:
            either: set[asyncio.Future[Any]] = {running, stop}
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            if not running.done():
                interrupted = stop.result()
                running.cancel()
        await running
    except asyncio.CancelledError:
        if interrupted is None:
            raise
    finally:
        if not running.done():  # run_suite itself was cancelled: stop every case first
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
    results = tuple(finished[index] for index in sorted(finished))
    wall = time.monotonic() - t0
    summary = dataclasses.replace(summarize(results), duration_s=wall)
    return SuiteResult(
        results=results,
        summary=summary,
        out_dir=config.out_dir,
        inputs=inputs,
        wall_s=wall,
        interrupted=interrupted,
    )


async def run_case(
    case: Case, config: RunConfig, inputs: RunInputs, *, mock: MockFactory
) -> CaseResult:
    """Run the client once against a fresh mock playing `case`, and judge it."""
    if config.relay is not None:
        from .relay import run_relay_case

        return await run_relay_case(case, config, inputs, mock=mock)
    t0 = time.monotonic()
    folder = await asyncio.to_thread(_fresh_dir, case_dir(config.out_dir, case.id))
    notes_file = folder / NOTES_FILE
    keys = (inputs.api_key,)
    async with mock(scenario=case.scenario, api_keys=keys, tolerant=case.tolerant) as server:
        env = client_env(
            inputs,
            url=server.url,
            base_url=server.base_url,
            case_id=case.id,
            base=config.env,
            notes_file=notes_file.resolve(),  # the client may run in another folder
            pass_env=config.pass_env,
        )
        feed = _long_session(case, config, inputs, server, env)
        run = await run_client(
            config.client, env=env, timeout_s=config.timeout_s, cwd=config.cwd, feed=feed
        )
        await _settle(server, config.settle_s)
    transcripts = tuple(server.transcripts)  # the mock has stopped: they are complete
    for transcript in transcripts:
        transcript.add_secrets(inputs.api_key)
    notes = await asyncio.to_thread(read_notes, notes_file)
    paths = await asyncio.to_thread(_write_case_files, folder, transcripts, run, inputs, notes)
    ctx = CheckContext(
        transcripts=transcripts,
        outcome=_outcome(run, transcripts, inputs, notes),
        expect=_expect(case),
        settings=config.settings,
    )
    # On a thread: judging takes a while on long transcripts, and the other cases' mocks
    # and clocks share this event loop.
    registry = config.check_registry()
    result = await asyncio.to_thread(
        judge_case,
        ctx,
        case_id=case.id,
        scenario=case.scenario,
        checks=config.checks or ("default", *expected_checks(case.expect, registry)[0]),
        transcript_paths=paths,
        duration_s=time.monotonic() - t0,
        registry=registry,
    )
    return _redacted(result, inputs)


async def isolated(make: Callable[[], Coroutine[Any, Any, _T]], *, name: str) -> _T:
    """`await make()`, run on a thread of its own with its own event loop.

    Nothing that holds the caller's loop, or another case's, delays it. Cancelling the
    call cancels `make()` in its loop and waits (at most `STOP_S`) for it to unwind:
    `run_client` kills the client's group, the mock stops.
    """
    loop = asyncio.get_running_loop()
    outcome: asyncio.Future[_T] = loop.create_future()
    lock = threading.Lock()
    running: list[tuple[asyncio.AbstractEventLoop, asyncio.Task[Any]]] = []
    cancelled = False

    async def main() -> _T:
        with lock:
            if cancelled:
                raise asyncio.CancelledError
            task = asyncio.current_task()
            assert task is not None
            running.append((asyncio.get_running_loop(), task))
        return await make()

    def deliver(value: _T | None, error: BaseException | None) -> None:
        if outcome.done():
            return
        if error is None:
            outcome.set_result(cast("_T", value))
        else:
            outcome.set_exception(error)

    def thread() -> None:
        try:
            value, error = asyncio.run(main()), None
        except BaseException as exc:  # handed to the awaiting loop as it is
            value, error = None, exc
        with contextlib.suppress(RuntimeError):  # the caller's loop is closed: nobody waits
            loop.call_soon_threadsafe(deliver, value, error)

    threading.Thread(target=thread, name=name, daemon=True).start()
    try:
        return await asyncio.shield(outcome)
    except asyncio.CancelledError:
        with lock:
            cancelled = True
            for case_loop, task in running:
                with contextlib.suppress(RuntimeError):  # its loop has finished already
                    case_loop.call_soon_threadsafe(task.cancel)
        with contextlib.suppress(BaseException):
            async with asyncio.timeout(STOP_S):
                await outcome
        raise


def _long_session(
    case: Case, config: RunConfig, inputs: RunInputs, server: MockHandle, env: dict[str, str]
) -> Feeder | None:
    """For a long-session case: the feeder, its (new, empty) folder in `env`."""
    plan = case.long_session
    if plan is None:
        return None
    folder = (config.out_dir / "inputs" / _UNSAFE.sub("_", case.id)).resolve()
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    env.update(REALTIME_SCREENSHOT_DIR=str(folder), REALTIME_SCREENSHOT_COUNT=str(plan.count))

    async def feed(write_line: Callable[[str], Awaitable[None]], close: Callable[[], None]) -> None:
        await deliver_screenshots(plan, inputs.all_screenshots, folder, server, write_line, close)

    return feed


def _expect(case: Case) -> Mapping[str, object]:
    """The case's expectation, plus how many screenshots a long session must note.

    All of them, however many were delivered before the client exited: a client that
    leaves early (or never asks for the note that lets the next one come) misses some.
    A translation case also says so (`ENDPOINT_KEY`): its client must open a translation
    session (`client_connects`).
    """
    expect = case.expect
    if case.translation:
        expect = {**expect, ENDPOINT_KEY: case.endpoint}
    if case.long_session is None:
        return expect
    return {**expect, SCREENSHOTS_KEY: case.long_session.count}


async def _settle(server: MockHandle, seconds: float) -> None:
    """Wait (bounded) until every session the client opened has ended."""
    opened = len(server.transcripts)
    if opened:
        with contextlib.suppress(TimeoutError):
            await server.wait_for_sessions(opened, timeout=seconds, ended=True)


def _outcome(
    run: ClientProcess, transcripts: Sequence[Transcript], inputs: RunInputs, notes: str
) -> RunOutcome:
    return RunOutcome(
        notes=notes,
        exit_code=run.exit_code,
        timed_out=run.timed_out,
        duration_s=run.duration_s,
        stdout=run.stdout,
        stderr=run.stderr,
        closed_at_s=tuple(closed_at_s(t, run.started_at) for t in transcripts),
        secrets=(inputs.api_key,),
    )


def closed_at_s(transcript: Transcript, process_started_at: float) -> float | None:
    """When the connection ended (its last record), in seconds after the process started."""
    span = span_s(transcript)
    return None if span is None else round(span[1] - process_started_at, 3)


def case_dir(out_dir: Path, case_id: str) -> Path:
    """`out_dir/cases/<case id>` (unsafe characters replaced)."""
    return out_dir / "cases" / _UNSAFE.sub("_", case_id)


def _fresh_dir(folder: Path) -> Path:
    """`folder`, emptied (a previous run's files removed)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def _write_case_files(
    folder: Path,
    transcripts: Sequence[Transcript],
    run: ClientProcess,
    inputs: RunInputs,
    notes: str,
) -> list[str]:
    """Write `connection-N.jsonl` per connection and the client's output (keys masked)."""
    if notes and inputs.redact(notes) != notes:  # the client wrote the key into its notes
        (folder / NOTES_FILE).write_text(inputs.redact(notes), encoding="utf-8")
    (folder / "stdout.txt").write_text(inputs.redact(run.stdout), encoding="utf-8")
    (folder / "stderr.txt").write_text(inputs.redact(run.stderr), encoding="utf-8")
    return [str(t.write_jsonl(folder / f"connection-{n}.jsonl")) for n, t in enumerate(transcripts)]


def _redacted(result: CaseResult, inputs: RunInputs) -> CaseResult:
    """The result with the test key masked in the client's output and in the findings."""
    return redact_result(result, (inputs.api_key,))


def redact_result(result: CaseResult, secrets: Sequence[str] = ()) -> CaseResult:
    """`result` with `secrets` and every key shape masked wherever a report shows text:
    the findings (title, expected, received, message, fix) and the client's output.
    (`realtime-conformance check` applies it too: transcripts recorded elsewhere.)"""

    def mask(text: str) -> str:
        return redact(text, secrets)

    violations = tuple(
        dataclasses.replace(
            v,
            title=mask(v.title),
            message=mask(v.message),
            received=mask(v.received),
            expected=mask(v.expected),
            hint=None if v.hint is None else mask(v.hint),
        )
        for v in result.violations
    )
    outcome = result.outcome
    if outcome is not None:
        outcome = dataclasses.replace(
            outcome,
            stdout=mask(outcome.stdout),
            stderr=mask(outcome.stderr),
            notes=mask(outcome.notes),
        )
    return dataclasses.replace(result, violations=violations, outcome=outcome)
