"""Smoke test: a generated screenshot in, streamed notes out, every frame recorded and checked.

The same body runs against the in-process mock (always, so CI exercises the live code
path) and against the live API (`RUN_LIVE=1 OPENAI_API_KEY=sk-... pytest -m live`).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from client_reference import RealtimeClient
from client_reference.cli import DEFAULT_INSTRUCTIONS
from conformance.protocol import replay
from conformance.schemas import validate_client_event, validate_server_event
from conformance.transcript import Transcript
from tests.live.recorder import record_frames
from tests.live.shapes import shapes_png
from tests.live.targets import Target


async def test_a_screenshot_gets_streamed_notes(
    target: Target, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    shot = shapes_png(160, 120)
    recorder = record_frames(monkeypatch, secrets=[target.api_key])
    deltas: list[str] = []

    async with (
        asyncio.timeout(target.deadline),
        RealtimeClient(
            target.url, model=target.model, api_key=target.api_key, settings=target.settings
        ) as client,
    ):
        session = await client.configure(instructions=DEFAULT_INSTRUCTIONS)
        item = await client.add_screenshot(shot.data, text="Notes on this screenshot, please.")
        stream = await client.respond()
        async for delta in stream:
            deltas.append(delta)
        result = await stream.done()

    # The notes: non-empty streamed text, a completed response, token usage.
    assert session.get("instructions") == DEFAULT_INSTRUCTIONS
    assert item["content"][0]["type"] == "input_image"
    assert result.status == "completed"
    assert result.text.strip(), "the model returned no notes"
    assert "".join(deltas) == result.text
    assert result.usage is not None
    assert result.usage["total_tokens"] > 0
    assert result.usage["output_tokens"] > 0
    if not target.is_live:
        assert shot.describe() in result.text  # the mock proves the image arrived intact

    # The transcript of every frame, as the client saw it.
    [transcript] = recorder.transcripts
    sent = [r.event_type for r in transcript.client_events()]
    assert sent == ["session.update", "conversation.item.create", "response.create"]
    done = [r.event for r in transcript.server_events() if r.event_type == "response.done"]
    assert len(done) == 1
    assert done[0] is not None
    assert done[0]["response"]["status"] == "completed"
    assert done[0]["response"]["usage"]["total_tokens"] > 0

    # Written to disk with the key redacted, and readable again.
    path = transcript.write_jsonl(tmp_path / f"{target.name}-transcript.jsonl")
    written = path.read_text(encoding="utf-8")
    assert target.api_key not in written
    auth = [v for k, v in transcript.meta["headers"] if k.lower() == "authorization"]
    assert auth, "the handshake headers were not recorded"
    assert target.api_key not in auth[0]
    assert len(Transcript.read_jsonl(path)) == len(transcript)

    # Every server event matches the GA schemas (the errata tolerate live extras); every
    # client event too; and the client never broke a sequencing rule.
    invalid = {
        r.index: [str(f) for f in validate_server_event(r.text or "")]
        for r in transcript.server_events()
    }
    assert {i: f for i, f in invalid.items() if f} == {}
    for record in transcript.client_events():
        assert validate_client_event(record.text or "") == [], record.text
    frames = [(r.direction, r.text or "") for r in transcript.records if r.kind == "text"]
    assert [p for p in replay(frames) if p.direction == "client"] == []

    if target.server is not None:
        # The recorder saw exactly what the mock saw, frame for frame.
        [mock_side] = await target.server.wait_for_sessions(1)
        assert [r.text for r in mock_side.client_events()] == [
            r.text for r in transcript.client_events()
        ]
        assert [r.text for r in mock_side.server_events()] == [
            r.text for r in transcript.server_events()
        ]
