"""Fuzz a client command: generated streams and faults, each judged; shrink the failure.

    report = fuzz_client(FuzzConfig(client="python my_client.py"), mock=serve_mock)
    if report.failure:
        print(report.failure.scenario_path)       # a scenario file that replays it

Each example is a `FuzzCase` written as scenario YAML and played by a fresh mock through
the runner's case machinery (`conformance.runner.run_case`: the environment contract,
the time limit, the transcripts, and the runner's checks: `run` and `fuzz` accept the
same check names). Hypothesis drives the search (`hypothesis.find`): it stops at
the first FAILED case and shrinks it. Results are cached by scenario text, so the search
sees a deterministic target even if the client is timing-sensitive, and `max_runs`
bounds how many times the client runs in all (shrinking included).
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import yaml

from conformance.protocol.errors import UsageError
from conformance.runner import (
    DEFAULT_TIMEOUT_S,
    Case,
    MockFactory,
    RunConfig,
    RunInputs,
    make_inputs,
    run_case,
)
from conformance.runner.cases import REALTIME, TRANSLATION
from conformance.verdicts import CaseResult, Verdict

from ._cases import FuzzCase
from ._scenario import expectations, scenario_id, scenario_yaml
from ._streams import FAULT_KINDS, FaultKind

DEFAULT_FUZZ_OUT: Final = Path("realtime-conformance-fuzz")
Progress = Callable[[str], None]
# Asked before and after every client run: the signal that stops the search, if any.
Stopped = Callable[[], signal.Signals | None]


class FuzzInterrupted(BaseException):
    """A signal stopped the search (`fuzz_client(stopped=...)`): after `runs` client runs.

    A BaseException, so Hypothesis does not take it for the client failing a case.
    """

    def __init__(self, sig: signal.Signals, runs: int) -> None:
        super().__init__(f"stopped by {sig.name} after {runs} run(s)")
        self.signal, self.runs = sig, runs


@dataclass(frozen=True, slots=True, kw_only=True)
class FuzzConfig:
    """How to fuzz one client command (the `realtime-conformance fuzz` options).

    Attributes:
        client: the command, run by `/bin/sh -c` with the runner's environment contract.
        examples: generated cases at most (shrinking runs come on top).
        seed: the random seed: the same seed, the same cases.
        out_dir: where scenarios, transcripts, client output and the database go.
        timeout_s: the client's time limit per run.
        fault_kinds: the faults to generate (`error`, `close`, `drop`, `stall`).
        max_faults: faults per case at most.
        max_responses: generated responses per case at most (the k-th answers the
            client's k-th `response.create`; later ones get the mock's own answer).
        max_runs: client runs in all, shrinking included; then the search stops.
        checks: a check selection (default: default + each case's expectations).
        database: keep Hypothesis's example database under `out_dir` (a re-run tries
            the last failure first).
        env: the environment the contract is added to (None: this process's, through
            the runner's allow-list).
        pass_env: more of this process's variables the client gets (names or globs,
            `fuzz --pass-env`), credentials included.
        translation: fuzz a translation client (`fuzz --translation`): generated
            translation streams on `/v1/realtime/translations` (`_translation.py`);
            `max_responses` does not apply.
    """

    client: str
    examples: int = 25
    seed: int = 0
    out_dir: Path = DEFAULT_FUZZ_OUT
    timeout_s: float = DEFAULT_TIMEOUT_S
    fault_kinds: tuple[FaultKind, ...] = FAULT_KINDS
    max_faults: int = 1
    max_responses: int = 1
    max_runs: int = 150
    checks: tuple[str, ...] | None = None
    database: bool = True
    env: Mapping[str, str] | None = None
    pass_env: tuple[str, ...] = ()
    translation: bool = False

    def __post_init__(self) -> None:
        if self.examples < 1 or self.max_runs < 1:
            raise UsageError(f"examples={self.examples!r} and max_runs must be at least 1")
        if self.max_faults < 0 or self.max_responses < 0:
            raise UsageError("max_faults and max_responses must not be negative")
        unknown = sorted(set(self.fault_kinds) - set(FAULT_KINDS))
        if unknown:
            raise UsageError(f"unknown fault kinds {unknown!r}; expected some of {FAULT_KINDS!r}")
        # Validates the command, the time limit and the check names (the runner's).
        RunConfig(client=self.client, timeout_s=self.timeout_s, checks=self.checks)


@dataclass(frozen=True, slots=True, kw_only=True)
class FuzzFailure:
    """The smallest failing case found, saved as a scenario, and whether it replays."""

    case: FuzzCase
    result: CaseResult
    scenario_path: Path
    scenario_text: str
    replayed: CaseResult

    @property
    def reproduced(self) -> bool:
        """A fresh run of the saved scenario FAILED again."""
        return self.replayed.verdict is Verdict.FAILED


@dataclass(frozen=True, slots=True, kw_only=True)
class FuzzReport:
    """What one fuzz session did: runs, distinct cases, the failure (if any), time."""

    runs: int
    cases: int
    failure: FuzzFailure | None
    wall_s: float

    @property
    def exit_status(self) -> int:
        """1 when a failure was found, else 0."""
        return 1 if self.failure is not None else 0


class _Search:
    """Runs and judges cases for Hypothesis, with a cache and a budget of client runs."""

    def __init__(
        self,
        config: FuzzConfig,
        mock: MockFactory,
        loop: asyncio.Runner,
        inputs: RunInputs,
        progress: Progress,
        stopped: Stopped | None = None,
    ) -> None:
        self.config, self.mock, self.loop = config, mock, loop
        self.inputs, self.progress = inputs, progress
        self.stopped = stopped or (lambda: None)
        self.work = config.out_dir / "work"
        self.cache: dict[str, CaseResult] = {}
        self.runs = 0
        self.shrinking = False

    def failed(self, case: FuzzCase) -> bool:
        """The Hypothesis condition: did the client FAIL on this case?"""
        text = scenario_yaml(case)
        found = self.cache.get(text)
        if found is None:
            if self.runs >= self.config.max_runs:
                return False  # out of budget: shrinking stops at the smallest case so far
            found = self.cache[text] = self.run(case, text, self.work, "current")
            failed = found.verdict is Verdict.FAILED
            self.progress("F" if failed else ".")
            if failed and not self.shrinking:
                self.shrinking = True
                self.progress(f" after {self.runs} run(s); shrinking ")
        return found.verdict is Verdict.FAILED

    def run(self, case: FuzzCase, text: str, folder: Path, case_id: str) -> CaseResult:
        """Run the client once against the case's scenario and judge it."""
        self.runs += 1
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{scenario_id(case)}.yaml"
        path.write_text(text, encoding="utf-8")
        expect = {"client": tuple(expectations(case)), "summary": "fuzzed stream"}
        try:
            return self.run_file(path, expect, case_id, folder, translation=case.translation)
        finally:
            path.unlink(missing_ok=True)

    def run_file(
        self,
        path: Path,
        expect: Mapping[str, Any],
        case_id: str,
        folder: Path,
        *,
        translation: bool = False,
    ) -> CaseResult:
        """Run the client once against a scenario file and judge it with the runner's checks
        (the selection, else default + the scenario's expectations).

        Raises:
            FuzzInterrupted: a signal came before or during the run (its client was killed:
                the result would judge the kill, not the client).
        """
        self._check_stop()
        run_config = RunConfig(
            client=self.config.client,
            timeout_s=self.config.timeout_s,
            out_dir=folder,
            checks=self.config.checks,
            settle_s=2.0,
            env=self.config.env,
            pass_env=self.config.pass_env,
        )
        case = Case(
            id=case_id,
            scenario=str(path),
            expect=MappingProxyType(dict(expect)),
            endpoint=TRANSLATION if translation else REALTIME,
        )
        result = self.loop.run(run_case(case, run_config, self.inputs, mock=self.mock))
        self._check_stop()
        return result

    def _check_stop(self) -> None:
        sig = self.stopped()
        if sig is not None:
            raise FuzzInterrupted(sig, self.runs)


def fuzz_client(
    config: FuzzConfig,
    *,
    mock: MockFactory,
    progress: Progress | None = None,
    stopped: Stopped | None = None,
) -> FuzzReport:
    """Search for a stream or fault the client fails on; shrink it and save it.

    Args:
        config: the command and the search budget.
        mock: starts a mock playing a scenario (`conformance._cli_run.serve_mock` fits).
        progress: called with `.` (OK) or `F` (FAILED) after each run, and with a note
            when the first failure starts the shrinking.
        stopped: asked before and after each client run; a signal stops the search
            (the CLI's SIGINT/SIGTERM/SIGHUP handler kills the running client first).

    Returns:
        The report; `report.failure.scenario_path` replays the smallest failure found.

    Raises:
        OSError: a mock cannot bind, or the client's shell cannot start.
        FuzzInterrupted: `stopped` gave a signal.
    """
    started = time.monotonic()
    config.out_dir.mkdir(parents=True, exist_ok=True)
    inputs = make_inputs(config.out_dir / "inputs")
    with asyncio.Runner() as loop:
        search = _Search(config, mock, loop, inputs, progress or (lambda _: None), stopped)
        case = _find(search, config)
        failure = None if case is None else _save(search, case)
    return FuzzReport(
        runs=search.runs,
        cases=len(search.cache),
        failure=failure,
        wall_s=time.monotonic() - started,
    )


def _find(search: _Search, config: FuzzConfig) -> FuzzCase | None:
    from hypothesis import HealthCheck, Phase, find, settings
    from hypothesis.database import DirectoryBasedExampleDatabase
    from hypothesis.errors import NoSuchExample

    from conformance.strategies import fuzz_cases

    from ._translation import translation_fuzz_cases

    database = DirectoryBasedExampleDatabase(config.out_dir / ".hypothesis")
    chosen = settings(
        max_examples=config.examples,
        deadline=None,
        database=database if config.database else None,
        phases=[Phase.reuse, Phase.generate, Phase.shrink] if config.database else
        [Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )  # fmt: skip
    strategy = (
        translation_fuzz_cases(kinds=config.fault_kinds, max_faults=config.max_faults)
        if config.translation
        else fuzz_cases(
            max_responses=config.max_responses,
            fault_kinds=config.fault_kinds,
            max_faults=config.max_faults,
        )
    )
    seeded = random.Random(config.seed)  # a fixed seed: reproducible, and the database works
    mode = " --translation" if config.translation else ""
    key = f"realtime-conformance fuzz{mode} {config.client}".encode()
    try:
        return find(strategy, search.failed, settings=chosen, random=seeded, database_key=key)
    except NoSuchExample:
        return None


def _save(search: _Search, case: FuzzCase) -> FuzzFailure:
    result = search.cache[scenario_yaml(case)]
    failed = [v for v in result.violations if v.severity.value == "FAILED"]
    note = "The client FAILED: " + "; ".join(f"{v.check} ({v.title})" for v in failed)
    text = scenario_yaml(case, note=note, failed=[v.check for v in failed])
    name = scenario_id(case)
    path = search.config.out_dir / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    expect = {"client": tuple(expectations(case)), "summary": "fuzzed stream"}
    replayed = search.run_file(
        path, expect, name, search.config.out_dir, translation=case.translation
    )
    return FuzzFailure(
        case=case, result=result, scenario_path=path, scenario_text=text, replayed=replayed
    )


def replay_scenario(
    path: Path, config: FuzzConfig, *, mock: MockFactory, stopped: Stopped | None = None
) -> CaseResult:
    """Run the client once against a saved scenario file and judge it like `fuzz` does.

    Raises:
        UsageError: the file cannot be read.
        FuzzInterrupted: `stopped` gave a signal (before or during the run).
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise UsageError(f"cannot read scenario {path}: {exc}") from None
    expect = data.get("expect") if isinstance(data, dict) else None
    config.out_dir.mkdir(parents=True, exist_ok=True)
    inputs = make_inputs(config.out_dir / "inputs")
    with asyncio.Runner() as loop:
        search = _Search(config, mock, loop, inputs, lambda _: None, stopped)
        translation = isinstance(data, dict) and data.get("endpoint") == TRANSLATION
        return search.run_file(
            path, expect or {}, path.stem, config.out_dir, translation=translation
        )
