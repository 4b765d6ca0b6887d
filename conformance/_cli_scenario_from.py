"""`realtime-conformance scenario-from`: a scenario file reproducing a recorded server's behaviour.

    realtime-conformance scenario-from TRANSCRIPT.jsonl [-o FILE.yaml] [--id ID] [--stall-ms MS]

Writes the scenario (to FILE, or to stdout) after checking it with the mock's scenario
loader, and says on stderr what it reproduces and what it cannot. The file plays with
`realtime-mock serve --scenario FILE`, `realtime-conformance run --scenario FILE` and
`realtime-conformance replay TRANSCRIPT --scenario FILE`. Exit status: 0 when written,
2 for usage or input errors.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from conformance.cli import Command
from conformance.protocol.errors import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `scenario-from` options."""
    parser.add_argument("transcript", type=Path, metavar="TRANSCRIPT.jsonl")
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="FILE.yaml",
        help="write the scenario here (its id is the file name); default: stdout",
    )
    parser.add_argument(
        "--id",
        metavar="ID",
        help="the scenario id (kebab-case; default: the output file's name, else one made "
        "from the transcript's name)",
    )
    parser.add_argument(
        "--stall-ms",
        type=float,
        default=2000.0,
        metavar="MS",
        help="server silence that counts as a stall, in ms (2000)",
    )


def run(args: argparse.Namespace) -> int:
    """Derive, check and write the scenario; report what it does not reproduce."""
    from conformance.scenario_from import derive_scenario, is_scenario_id, scenario_id_for
    from conformance.transcript import read_jsonl, redact
    from mock_server.scenarios import load_text

    output: Path | None = args.output
    if output is not None and output.suffix != ".yaml":
        raise UsageError(f"-o {output}: a scenario file ends in .yaml")
    scenario_id = args.id or (output.stem if output else scenario_id_for(args.transcript.name))
    if not is_scenario_id(scenario_id):
        raise UsageError(
            f"scenario id {scenario_id!r}: use lower-case words joined by '-' (at most 64 "
            "characters), e.g. -o closed-at-connect.yaml or --id closed-at-connect"
        )
    if output is not None and output.stem != scenario_id:
        raise UsageError(f"--id {scenario_id}: a scenario file's id is its name ({output.stem})")
    if args.stall_ms <= 0:
        raise UsageError("--stall-ms: expected a positive number of milliseconds")
    derived = derive_scenario(
        read_jsonl(args.transcript),
        scenario_id=scenario_id,
        source=str(args.transcript),
        stall_ms=args.stall_ms,
    )
    text = redact(derived.to_yaml())  # a transcript recorded elsewhere may hold a key
    where = str(output) if output is not None else f"{scenario_id}.yaml"
    load_text(text, where=where, stem=scenario_id)  # the mock must load what we write
    if output is None:
        sys.stdout.write(text)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    err = sys.stderr
    for item in derived.mapped:
        err.write(f"scenario-from: reproduces {item}\n")
    for item in derived.unmapped:
        err.write(f"scenario-from: not reproduced: {item}\n")
    if not derived.mapped:
        err.write("scenario-from: the server did nothing the mock does not do by default\n")
    if output is not None:
        err.write(
            f"scenario-from: wrote {output}; play it with `realtime-mock serve --scenario "
            f"{output}` or `realtime-conformance run --client CMD --scenario {output}`\n"
        )
    return 0


COMMAND = Command(
    name="scenario-from",
    help="write a scenario file that makes the mock do what the server did in a recording",
    add_arguments=add_arguments,
    run=run,
)
