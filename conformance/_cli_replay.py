"""`realtime-conformance replay`: send the client side of a recording to a server again.

    realtime-conformance replay TRANSCRIPT.jsonl [--against URL] [--timing recorded|fast]
        [--record OUT.jsonl] [--api-key KEY] [--wait-timeout S] [--end-timeout S]
        [--scenario NAME|FILE] [--pace fast|live]

Without `--against`, a mock is started on 127.0.0.1 (any free port; pace fast unless
`--pace live`; `--scenario` makes it play a scenario, e.g. one `scenario-from` wrote).
Prints what was sent, what came back and how the connection ended. Exit status: 0 when
the connection opened, 1 when it did not (refused upgrade, unreachable), 2 for usage or
input errors.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conformance.cli import Command
from conformance.protocol.errors import UsageError

if TYPE_CHECKING:
    from conformance.replay import ReplayResult, Timing
    from conformance.transcript import Transcript


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `replay` options."""
    parser.add_argument("transcript", type=Path, metavar="TRANSCRIPT.jsonl")
    parser.add_argument(
        "--against",
        metavar="URL",
        help="the server: ws://HOST:PORT[/v1/realtime] or wss://… (default: a mock started "
        "for the replay on 127.0.0.1)",
    )
    parser.add_argument(
        "--timing",
        choices=("recorded", "fast"),
        default="recorded",
        help="recorded: each frame as long after the server event it followed as in the "
        "recording (default); fast: at once. Both wait for that event first",
    )
    parser.add_argument(
        "--record",
        type=Path,
        metavar="OUT.jsonl",
        help="write the replay's transcript (both sides, keys masked)",
    )
    parser.add_argument(
        "--api-key",
        metavar="KEY",
        help="the key sent where the recording had one (default: $OPENAI_API_KEY, else a "
        "test key); never written anywhere",
    )
    parser.add_argument(
        "--wait-timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="longest wait for the server event a frame followed in the recording (10)",
    )
    parser.add_argument(
        "--end-timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="after the last frame, longest wait for the rest of the recorded server side (10)",
    )
    parser.add_argument(
        "--scenario",
        metavar="NAME|FILE",
        help="the started mock plays this scenario (a built-in id or a file; not with --against)",
    )
    parser.add_argument(
        "--pace",
        choices=("fast", "live"),
        help="the started mock's pace (default fast; not with --against)",
    )


def run(args: argparse.Namespace) -> int:
    """Replay the transcript, print the summary; 0 when the connection opened."""
    from conformance.transcript import read_jsonl

    if args.against and (args.scenario or args.pace):
        raise UsageError("--scenario and --pace set up the started mock: leave out --against")
    for name in ("wait_timeout", "end_timeout"):
        if getattr(args, name) <= 0:
            raise UsageError(f"--{name.replace('_', '-')}: expected a positive number of seconds")
    source = read_jsonl(args.transcript)
    api_key = args.api_key or os.environ.get("OPENAI_API_KEY") or None
    options: dict[str, Any] = {
        "timing": args.timing,
        "api_key": api_key,
        "wait_timeout": args.wait_timeout,
        "end_timeout": args.end_timeout,
        "record": args.record,
    }
    if args.against:
        from conformance.replay import replay

        result = asyncio.run(replay(source, args.against, origin=str(args.transcript), **options))
    else:
        result = asyncio.run(
            replay_on_mock(
                source,
                scenario=args.scenario,
                pace=args.pace or "fast",
                origin=str(args.transcript),
                **options,
            )
        )
    sys.stdout.write(result.summary())
    return result.exit_status


async def replay_on_mock(
    source: Transcript | str | os.PathLike[str],
    *,
    scenario: str | None = None,
    pace: str = "fast",
    timing: Timing = "fast",
    **options: Any,
) -> ReplayResult:
    """Replay `source` against a mock started for it on 127.0.0.1 (any free port).

    Args:
        source: a transcript or the path of one.
        scenario: a built-in scenario id or a scenario file the mock plays.
        pace: the mock's pace (`fast` by default).
        timing: as for `conformance.replay.replay` (`fast` by default here).
        **options: the other keyword arguments of `conformance.replay.replay`.

    Raises:
        ScenarioError: `scenario` is unknown or does not load.
    """
    from conformance.replay import ReplayPlan, replay
    from conformance.transcript import read_jsonl
    from mock_server.config import MockConfig
    from mock_server.server import MockServer

    recorded = (
        source if not isinstance(source, str | os.PathLike) else read_jsonl(os.fspath(source))
    )
    options.setdefault("origin", str(source) if isinstance(source, str | os.PathLike) else None)
    path = ReplayPlan.from_transcript(recorded).handshake.path
    # The mock serves /v1/realtime (and /translations): drop a recorded proxy's prefix.
    path = path[path.find("/v1/realtime") :] if "/v1/realtime" in path else "/v1/realtime"
    config = MockConfig(host="127.0.0.1", port=0, pace=pace, scenario=scenario)
    async with MockServer(config) as server:
        return await replay(
            recorded, f"ws://127.0.0.1:{server.port}{path}", timing=timing, **options
        )


COMMAND = Command(
    name="replay",
    help="send the client side of a recorded session to a server (a mock by default) again",
    add_arguments=add_arguments,
    run=run,
)
