"""Shared by the replay and scenario-from tests: a fast mock, a realtime-notes session
recorded on it, hand-written transcripts."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from conformance.runner import screenshot_png
from conformance.transcript import Transcript
from mock_server.config import MockConfig
from mock_server.server import MockServer
from tests.processes import finished

WAIT = 30.0
KEY = "sk-replaytest-key-0123456789abcdef"


@asynccontextmanager
async def mock(scenario: str | None = None, **config: Any) -> AsyncIterator[MockServer]:
    server = MockServer(
        MockConfig(
            port=0, pace=config.pop("pace", "fast"), ping_interval=None, scenario=scenario, **config
        )
    )
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def notes_session(tmp: Path, scenario: str | None = None) -> Path:
    """Record one realtime-notes session on a fast mock (playing `scenario`); its path."""
    shot = tmp / "shot.png"
    shot.write_bytes(screenshot_png(64, 40))
    async with mock(scenario) as server:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "client_reference.cli",
            "--timeout",
            "3",
            str(shot),
            "--url",
            server.url,
            env={"OPENAI_API_KEY": KEY, "PATH": "/usr/bin:/bin"},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        await finished(process, within_s=WAIT)
        (transcript,) = await server.wait_for_sessions(1, timeout=WAIT)
    return transcript.write_jsonl(tmp / f"{Path(scenario or 'default').stem}.jsonl")


def made(meta: dict[str, Any], *frames: tuple[str, float, Any]) -> Transcript:
    """A transcript from (direction, t_ms, event dict | ("close", code, reason) | "drop")."""
    transcript = Transcript(
        {
            "path": "/v1/realtime",
            "query": {"model": "gpt-realtime"},
            "headers": [["Authorization", "Bearer [REDACTED]"]],
            **meta,
        }
    )
    for direction, t_ms, frame in frames:
        if isinstance(frame, dict):
            transcript.add_text(direction, json.dumps(frame), t_ms)  # type: ignore[arg-type]
        elif frame == "drop":
            transcript.add_drop(direction, t_ms)  # type: ignore[arg-type]
        elif frame[0] == "close":
            transcript.add_close(direction, frame[1], frame[2], t_ms)  # type: ignore[arg-type]
        elif frame[0] == "rejected":
            transcript.add_rejected(frame[1], frame[2], t_ms)
    return transcript
