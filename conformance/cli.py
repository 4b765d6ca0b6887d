"""`realtime-conformance`: judge OpenAI Realtime (GA) clients.

    realtime-conformance check session.jsonl [more.jsonl ...] [--checks default,-name]
                               [--as-case NAME] [--junit F] [--json F] [--html F]
    realtime-conformance check --list-checks

Exit status: 0 when no case FAILED, 1 when one did, 2 for usage or input errors.

Subcommands are `Command` records. `check` lives here; `run`, `demo`, `fuzz`, `proxy`,
`replay`, `scenario-from` and `diff` are plugged in by modules named
`conformance._cli_<name>` that define `COMMAND: Command` (`tests/test_layering.py` lets
`_cli*` modules import the mock and the reference client). A missing module simply leaves
its subcommand out.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.util
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from conformance.checks import CheckContext, CheckSettings, Registry, RunOutcome, expected_checks
from conformance.protocol.errors import RealtimeError, UsageError
from conformance.reports import ConsoleProgress, format_summary, write_html, write_json, write_junit
from conformance.reports.console import use_colour
from conformance.resources import scenarios_dir
from conformance.transcript import Transcript, read_jsonl, redact, redact_meta
from conformance.verdicts import CaseResult, judge_case, summarize

PLUGGED_COMMANDS: tuple[str, ...] = (
    "run",
    "demo",
    "fuzz",
    "proxy",
    "replay",
    "scenario-from",
    "diff",
)
"""Subcommands provided by `conformance._cli_<name>` modules (`-` in a name is `_` in
its module's), in help order."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    """One subcommand: `add_arguments(parser)` declares its options, `run(args)` returns
    the exit status. `help` is the one-line description shown by `--help`."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def commands() -> list[Command]:
    """`check` plus every plugged-in subcommand whose module exists."""
    found = [CHECK]
    for name in PLUGGED_COMMANDS:
        module_name = f"conformance._cli_{name.replace('-', '_')}"
        if importlib.util.find_spec(module_name) is not None:
            found.append(importlib.import_module(module_name).COMMAND)
    return found


def build_parser(available: Sequence[Command] | None = None) -> argparse.ArgumentParser:
    """The argument parser with one subparser per command."""
    parser = argparse.ArgumentParser(
        prog="realtime-conformance",
        description="Mock server, conformance checks and reports for Realtime API clients.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in available if available is not None else commands():
        child = sub.add_parser(command.name, help=command.help, description=command.help)
        command.add_arguments(child)
        child.set_defaults(handler=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` (default: the process arguments), run the command, return its status."""
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        status = handler(args)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return status
    except RealtimeError as exc:  # a usage or input error, never a finding about a client
        print(f"realtime-conformance {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `realtime-conformance run --list-cases | head`
        from conformance._stdout import broken_pipe_exit

        return broken_pipe_exit()


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    """`--junit`, `--json` and `--html FILE`: the reports of a command that judges."""
    parser.add_argument("--junit", type=Path, metavar="FILE", help="write JUnit XML")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the JSON report")
    parser.add_argument("--html", type=Path, metavar="FILE", help="write the HTML report")


# --- check -----------------------------------------------------------------------------


def _check_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("transcripts", nargs="*", type=Path, metavar="TRANSCRIPT.jsonl")
    parser.add_argument(
        "--checks",
        default="default",
        metavar="NAMES",
        help="comma-separated check names: 'default', 'all', a name, '-name' to drop one",
    )
    parser.add_argument(
        "--as-case",
        metavar="NAME",
        help="judge all files as the connections of one case (in the order given)",
    )
    add_report_arguments(parser)
    parser.add_argument(
        "--max-connections",
        type=int,
        default=5,
        metavar="N",
        help="connections per case before it is a reconnect storm (default 5)",
    )
    parser.add_argument(
        "--exit-code",
        type=int,
        metavar="N",
        help="the client's exit status: also run the checks that judge the client's run "
        "(errors and closes surfaced, no key printed, exit 0 when nothing went wrong)",
    )
    parser.add_argument("--stdout", type=Path, metavar="FILE", help="the client's stdout")
    parser.add_argument("--stderr", type=Path, metavar="FILE", help="the client's stderr")
    parser.add_argument(
        "--notes", type=Path, metavar="FILE", help="what the client wrote to $REALTIME_NOTES_FILE"
    )
    parser.add_argument(
        "--api-key",
        metavar="KEY",
        help="the key the client was given; FAILED if its output shows it (never printed)",
    )
    parser.add_argument(
        "--list-checks", action="store_true", help="list the checks and aliases, then exit"
    )


def _run_check(args: argparse.Namespace) -> int:
    if args.list_checks:
        print(_list_checks(), end="")
        return 0
    if not args.transcripts:
        raise UsageError("give at least one TRANSCRIPT.jsonl (or --list-checks)")
    from conformance.runner.suite import redact_result

    outcome = _outcome(args)
    registry = _registry()  # the runner's: `run`, `check`, `fuzz` and pytest share the names
    registry.select([args.checks])  # fail on an unknown name before reading anything
    secrets = (args.api_key,) if args.api_key else ()
    cases = [(cid, paths, _read_redacted(paths, secrets)) for cid, paths in _cases(args)]
    if outcome is not None and len(cases) > 1:
        raise UsageError(
            "--exit-code/--stdout/--stderr describe one client run: judge its transcripts "
            "as one case with --as-case NAME"
        )
    settings = CheckSettings(max_connections=args.max_connections)
    progress = ConsoleProgress(len(cases))
    results = []
    for case_id, paths, transcripts in cases:
        progress.started(case_id)
        expect = _scenario_expect(transcripts[0].meta.get("scenario"))
        ctx = CheckContext(
            transcripts=tuple(transcripts), expect=expect, settings=settings, outcome=outcome
        )
        checks = [args.checks, *expected_checks(expect, registry)[0]]
        result = judge_case(
            ctx,
            case_id=case_id,
            checks=checks,
            transcript_paths=map(str, paths),
            registry=registry,
        )
        # Recorded elsewhere, a transcript or the output may hold a real key: mask it in
        # everything `check` writes (console, JSON, JUnit, HTML), as `run` does.
        results.append(redact_result(result, secrets))
        progress.finished(results[-1])
    summary = summarize(results)
    print(format_summary(results, summary, colour=use_colour(sys.stdout)), end="")
    _write_reports(args, results)
    return summary.exit_status


def _read_redacted(paths: Sequence[Path], secrets: Sequence[str]) -> list[Transcript]:
    """The transcripts with every key masked: in `meta`, in each frame's text and close
    reason (and `secrets` registered), before anything judges or shows them."""
    transcripts = []
    for path in paths:
        loaded = read_jsonl(path)
        records = [
            dataclasses.replace(
                record,
                text=None if record.text is None else redact(record.text, secrets),
                reason=None if record.reason is None else redact(record.reason, secrets),
            )
            for record in loaded.records
        ]
        transcripts.append(Transcript(redact_meta(loaded.meta, secrets), records, secrets=secrets))
    return transcripts


def _outcome(args: argparse.Namespace) -> RunOutcome | None:
    """The client's run, when the command line describes one (`--exit-code` at least)."""
    given = [args.stdout, args.stderr, args.notes, args.api_key]
    if args.exit_code is None:
        if any(v is not None for v in given):
            raise UsageError("--stdout, --stderr, --notes and --api-key need --exit-code N too")
        return None
    texts = []
    for path in (args.stdout, args.stderr, args.notes):
        try:
            texts.append(path.read_text(encoding="utf-8", errors="replace") if path else "")
        except OSError as exc:
            raise UsageError(f"cannot read the client's output {path}: {exc.strerror}") from None
    secrets = (args.api_key,) if args.api_key else ()
    return RunOutcome(
        exit_code=args.exit_code,
        stdout=texts[0],
        stderr=texts[1],
        notes=texts[2],
        secrets=secrets,
    )


def _write_reports(args: argparse.Namespace, results: list[CaseResult]) -> None:
    writers = ((write_junit, args.junit), (write_json, args.json), (write_html, args.html))
    for write, target in writers:
        if target is not None:
            print(f"wrote {write(results, target)}", file=sys.stderr)


def _cases(args: argparse.Namespace) -> list[tuple[str, list[Path]]]:
    paths: list[Path] = list(args.transcripts)
    if args.as_case:
        return [(args.as_case, paths)]
    return [(_case_id(p), [p]) for p in paths]


def _case_id(path: Path) -> str:
    """The file name without `.jsonl`; `folder/3` for numbered connection files."""
    return f"{path.parent.name}/{path.stem}" if path.stem.isdigit() else path.stem


def _scenario_expect(scenario: object) -> dict[str, Any]:
    """The `expect:` of a built-in scenario named in the transcript, or {}."""
    if not isinstance(scenario, str) or not scenario or "/" in scenario or "\\" in scenario:
        return {}
    path = scenarios_dir() / f"{scenario}.yaml"
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}  # the scenario loader reports broken files; here it only adds context
    expect = data.get("expect") if isinstance(data, dict) else None
    return expect if isinstance(expect, dict) else {}


def _registry() -> Registry:
    from conformance.runner.checks import runner_registry

    return runner_registry()


def _list_checks() -> str:
    registry = _registry()
    lines = [
        "Checks ('default' = every one not marked opt-in; scope 'run' needs the client's run:",
        "`run`, `fuzz`, `check --exit-code N`, pytest's assert_conforms(..., exit_code=N)):",
    ]
    for c in registry:
        extra = "" if c.default else " (opt-in)"
        lines.append(f"  {c.name:<40} {c.severity:<13} {c.applies_to:<10} {c.help}{extra}")
    lines.append("Aliases (scenario expectations):")
    for name, targets in registry.aliases.items():
        lines.append(f"  {name:<40} -> {', '.join(targets)}")
    return "\n".join(lines) + "\n"


CHECK = Command(
    name="check",
    help="judge transcripts recorded by the mock; exit 1 if any case FAILED",
    add_arguments=_check_arguments,
    run=_run_check,
)
