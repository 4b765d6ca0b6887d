"""Replay the client side of a recorded session against a server (`realtime-conformance replay`).

    result = await replay("live.jsonl", "ws://127.0.0.1:8765/v1/realtime", timing="fast",
                          record="replayed.jsonl")
    print(result.summary(), end="")
    server_event_types(result.transcript) == server_event_types(read_jsonl("live.jsonl"))

`plan.py` turns a transcript into the steps to send (no I/O); `client.py` sends them over a
real WebSocket and records the server's answer. A mock to replay against is started by the
CLI module (`conformance._cli_replay.replay_on_mock`): this package never imports the mock.
"""

from __future__ import annotations

from .client import TIMINGS, ReplayResult, Timing, replay
from .plan import TEST_KEY, Anchor, Handshake, RecordedEnd, ReplayPlan, Step, server_event_types

__all__ = [
    "TEST_KEY",
    "TIMINGS",
    "Anchor",
    "Handshake",
    "RecordedEnd",
    "ReplayPlan",
    "ReplayResult",
    "Step",
    "Timing",
    "replay",
    "server_event_types",
]
