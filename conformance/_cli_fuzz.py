"""`realtime-conformance fuzz`: generated server streams and faults against a client command.

    realtime-conformance fuzz --client "node hud.js" [--examples N] [--seed S] [--out DIR]
        [--timeout S] [--faults error,close,drop,stall] [--max-faults N] [--responses N]
        [--max-runs N] [--checks NAMES] [--no-database] [--pass-env NAME ...]
    realtime-conformance fuzz --client "node hud.js" --replay DIR/fuzz-….yaml
    realtime-conformance fuzz --translation --client "python translate.py"

Each example is a stream a correct server could send (responses with deltas split
anywhere, `rate_limits.updated`, unknown event types and fields) with faults at arbitrary
points, played by a fresh mock as a scenario. The client runs with the runner's
environment contract (docs/runner.md) and is judged by the checks. The first FAILED case
is shrunk by Hypothesis and saved as a scenario file that replays it. Exit status: 0 when
nothing failed, 1 when a failure was found (or replayed), 2 for usage errors, 128 + the
signal when SIGINT (130), SIGTERM (143) or SIGHUP (129) stopped it: the running client's
process group is killed at once, like `run` does (`_cli_run.SignalStop`).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conformance._cli_run import add_pass_env_argument
from conformance.cli import Command
from conformance.protocol.errors import UsageError

if TYPE_CHECKING:  # imported when the command runs: Hypothesis is slow to import
    from conformance.fuzzing import FuzzConfig, FuzzInterrupted, FuzzReport
    from conformance.verdicts import CaseResult

_FAULTS = ("error", "close", "drop", "stall")
_DEFAULT_TIMEOUT_S = 20.0
EXIT_INTERRUPTED = 130  # SIGINT; SIGTERM and SIGHUP give 128 + their number


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `fuzz`."""
    parser.add_argument("--client", metavar="CMD", help="the client command (run by /bin/sh)")
    parser.add_argument("--examples", type=int, default=25, metavar="N", help=_EXAMPLES)
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (0)")
    parser.add_argument("--out", type=Path, default=Path("realtime-conformance-fuzz"),
                        metavar="DIR", help=_OUT)  # fmt: skip
    parser.add_argument(
        "--timeout", type=float, default=_DEFAULT_TIMEOUT_S, metavar="S", help=_TIMEOUT
    )
    parser.add_argument("--faults", default=",".join(_FAULTS), metavar="KINDS", help=_KINDS)
    parser.add_argument("--max-faults", type=int, default=1, metavar="N", help="per case (1)")
    parser.add_argument("--responses", type=int, default=1, metavar="N", help=_RESPONSES)
    parser.add_argument("--max-runs", type=int, default=150, metavar="N", help=_RUNS)
    parser.add_argument("--checks", metavar="NAMES", help=_CHECKS)
    parser.add_argument("--no-database", action="store_true", help=_DATABASE)
    parser.add_argument("--replay", type=Path, metavar="FILE", help="run one saved scenario")
    parser.add_argument("--translation", action="store_true", help=_TRANSLATION)
    add_pass_env_argument(parser)  # the same flag as `run`


_EXAMPLES = "generated cases at most before giving up (%(default)s)"
_OUT = "scenarios, transcripts and client output (default: ./%(default)s/)"
_TIMEOUT = "the client's time limit per run (%(default)s s); a stall costs the client's own wait"
_KINDS = "faults to generate: error, close, drop, stall, or none (default: all)"
_RESPONSES = "generated responses per case; later response.create get the mock's own (1)"
_RUNS = "client runs in all, shrinking included (%(default)s)"
_CHECKS = "check selection, the same names as `run` (default: default + expectations; add "
_CHECKS += "prints_streamed_text for a client that prints its replies exactly)"
_DATABASE = "do not keep Hypothesis's example database under --out"
_TRANSLATION = "fuzz a translation client: generated translation streams on "
_TRANSLATION += "/v1/realtime/translations ($REALTIME_TRANSLATION_URL)"


def _fault_kinds(value: str) -> tuple[Any, ...]:
    names = [part.strip() for part in value.split(",") if part.strip()]
    if names == ["none"]:
        return ()
    unknown = sorted(set(names) - set(_FAULTS))
    if unknown:
        raise UsageError(f"unknown fault kinds {unknown!r}; expected some of {_FAULTS!r} or none")
    return tuple(dict.fromkeys(names))


def run(args: argparse.Namespace) -> int:
    """Fuzz (or replay) from parsed arguments; returns the exit status."""
    if not args.client:
        raise UsageError("give the client command: --client 'CMD ...'")
    from conformance import fuzzing
    from conformance._cli_run import SignalStop, serve_mock
    from conformance.runner.process import kill_all_clients

    config = _config(args)
    # The handler kills the running client at once; the search stops after its run.
    stop = SignalStop(lambda _sig: None, after="stopping the search")
    try:
        with stop.installed():
            if args.replay is not None:
                result = fuzzing.replay_scenario(
                    args.replay, config, mock=serve_mock, stopped=lambda: stop.signal
                )
                _say(f"{args.replay}: {result.verdict}")
                _violations(result)
                return 1 if result.verdict == "FAILED" else 0
            _say(f"Fuzzing {args.client!r}: {args.examples} cases at most (seed {args.seed})",
                 err=True)  # fmt: skip
            report = fuzzing.fuzz_client(
                config, mock=serve_mock, progress=_dot, stopped=lambda: stop.signal
            )
    except fuzzing.FuzzInterrupted as stopped:
        return _interrupted(stopped, args)
    except KeyboardInterrupt:  # before the handlers were in place, or after
        kill_all_clients()
        _say("\ninterrupted; every client process was stopped", err=True)
        return EXIT_INTERRUPTED
    except OSError as exc:
        raise UsageError(f"cannot run the client or a mock: {exc}") from exc
    sys.stderr.write("\n")
    return _report(report, args)


def _interrupted(stopped: FuzzInterrupted, args: argparse.Namespace) -> int:
    """The line an interrupted fuzz prints; returns 128 + the signal."""
    status = 128 + int(stopped.signal)
    resume = "" if args.no_database or args.replay else (
        f"; run it again to start from the examples kept in {args.out / '.hypothesis'}"
    )  # fmt: skip
    _say(
        f"\nstopped by {stopped.signal.name} (exit {status}) after {stopped.runs} client "
        f"run(s): every client process was killed{resume}",
        err=True,
    )
    return status


def _config(args: argparse.Namespace) -> FuzzConfig:
    from conformance.fuzzing import FuzzConfig

    return FuzzConfig(
        client=args.client,
        examples=args.examples,
        seed=args.seed,
        out_dir=args.out,
        timeout_s=args.timeout,
        fault_kinds=_fault_kinds(args.faults),
        max_faults=args.max_faults,
        max_responses=args.responses,
        max_runs=args.max_runs,
        checks=(args.checks,) if args.checks else None,
        database=not args.no_database,
        pass_env=tuple(args.pass_env),
        translation=args.translation,
    )


def _report(report: FuzzReport, args: argparse.Namespace) -> int:
    failure = report.failure
    where = f"{report.runs} runs ({report.cases} cases) in {report.wall_s:.1f} s"
    if failure is None:
        _say(f"No failure found: {where}")
        return 0
    kinds = ", ".join(failure.case.fault_kinds()) or "none"
    _say(f"FAILED: {where}; shrunk to {failure.case.event_count} event(s), faults: {kinds}")
    _violations(failure.result)
    again = "FAILED again" if failure.reproduced else f"{failure.replayed.verdict} (flaky?)"
    _say(f"\nSaved {failure.scenario_path} (replayed: {again})")
    _say(f"--- {failure.scenario_path.name} ---\n{failure.scenario_text.rstrip()}\n---")
    _say(f"Replay: {replay_command(args, failure.scenario_path)}")
    return 1


def replay_command(args: argparse.Namespace, scenario: Path) -> str:
    """The command that replays `scenario` judged as this run judged it (same checks and
    time limit, so a replay FAILS where the search did)."""
    words = ["realtime-conformance", "fuzz", *(["--translation"] if args.translation else [])]
    words += ["--client", args.client]
    for name in args.pass_env:  # the client needs them to fail the same way
        words += ["--pass-env", name]
    if args.checks:
        words += ["--checks", args.checks]
    if args.timeout != _DEFAULT_TIMEOUT_S:
        words += ["--timeout", f"{args.timeout:g}"]
    words += ["--replay", str(scenario)]
    return shlex.join(words)


def _violations(result: CaseResult) -> None:
    for violation in result.violations:
        if violation.severity == "FAILED":
            _say(str(violation))


def _dot(mark: str) -> None:
    sys.stderr.write(mark)
    sys.stderr.flush()


def _say(text: str, *, err: bool = False) -> None:
    stream = sys.stderr if err else sys.stdout
    stream.write(f"{text}\n")
    stream.flush()


COMMAND = Command(
    name="fuzz",
    help="drive a client command through generated streams and faults; shrink a failure",
    add_arguments=add_arguments,
    run=run,
)
