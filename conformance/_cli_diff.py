"""`realtime-conformance diff`: compare two transcripts of the same client traffic.

    realtime-conformance diff A.jsonl B.jsonl [--json [FILE]] [--strict-counts]
        [--live a|b|auto|none] [--ledger FILE]

New differences first, then those the divergence ledger (fixtures/fidelity.yaml) lists.
Exit status: 0 when there is no difference or all are known, 1 when one is new, 2 for a
file that cannot be read or is not a transcript (the message names the file and line).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from conformance.cli import Command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `diff` options."""
    parser.add_argument("a", type=Path, metavar="A.jsonl", help="a transcript (e.g. live)")
    parser.add_argument("b", type=Path, metavar="B.jsonl", help="the other (e.g. the mock)")
    parser.add_argument(
        "--json",
        nargs="?",
        const="-",
        metavar="FILE",
        help="write the differences as JSON to FILE (no FILE: print JSON instead of text)",
    )
    parser.add_argument(
        "--strict-counts",
        action="store_true",
        help="also report streams (deltas, appends) with a different number of frames",
    )
    parser.add_argument(
        "--live",
        choices=("a", "b", "auto", "none"),
        default="auto",
        help="which transcript is live, for the ledger's mock/live matchers (auto: a proxy "
        "recording of a server not on loopback; none: both the same kind)",
    )
    parser.add_argument(
        "--ledger",
        type=Path,
        metavar="FILE",
        help="the divergence ledger (default: the built-in fixtures/fidelity.yaml)",
    )


def run(args: argparse.Namespace) -> int:
    """Compare, print, return 0 (nothing new) or 1 (new differences)."""
    from conformance.diff import diff_files, load_known

    result = diff_files(
        args.a,
        args.b,
        strict_counts=args.strict_counts,
        live=args.live,
        known=load_known(args.ledger),
    )
    if args.json is not None:
        text = json.dumps(result.as_dict(), indent=2) + "\n"
        if args.json == "-":
            sys.stdout.write(text)
            return result.exit_status
        Path(args.json).write_text(text, encoding="utf-8")
    sys.stdout.write(result.to_text())
    return result.exit_status


COMMAND = Command(
    name="diff",
    help="compare two transcripts of the same client traffic (live and mock, two runs)",
    add_arguments=add_arguments,
    run=run,
)
