"""Build small scenarios from a `rules:` YAML snippet, and server events for the hooks."""

from __future__ import annotations

import textwrap
from typing import Any

from mock_server.scenarios import Scenario, load_text

HEADER = """\
id: test-scenario
summary: a scenario made by a test
catalog: HANG
sources: [https://github.com/livekit/agents/pull/5276]
description: made by tests/scenarios/builders.py
expect: {client: [times_out_stalled_stream], summary: whatever}
"""


def scenario(rules: str) -> Scenario:
    """A valid scenario whose `rules:` (and optional `config:`) are the given YAML."""
    return load_text(HEADER + textwrap.dedent(rules), where="<test>")


def delta(response_id: str = "resp_1", n: int = 1, kind: str = "output_text") -> dict[str, Any]:
    """A `response.<kind>.delta` server event."""
    return {
        "type": f"response.{kind}.delta",
        "event_id": f"event_d{n}",
        "response_id": response_id,
        "item_id": "item_a",
        "output_index": 0,
        "content_index": 0,
        "delta": "word ",
    }


def event(kind: str, **fields: Any) -> dict[str, Any]:
    """A server event of type `kind` with a fixed `event_id`."""
    return {"type": kind, "event_id": f"event_{kind}", **fields}
