"""Input transcription beyond deltas and `.completed`: a diarizing model's `.segment`, and
`.failed` for audio that cannot be transcribed (a committed buffer with no speech)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest

from mock_server.media import silence_pcm16, synth_pcm16
from mock_server.responder import TRANSCRIPTION_FAILED
from tests.scenarios.wire import Wire, fast_mock_wire

pytestmark = pytest.mark.integration
WAIT = 10.0
PREFIX = "conversation.item.input_audio_transcription"


@pytest.fixture
async def wire() -> AsyncIterator[Wire]:
    """A real mock server (fast pace) and one raw client connection to it."""
    async with fast_mock_wire(WAIT) as client:
        yield client


def pcm(ms: int, *, loud: bool) -> str:
    data = synth_pcm16(ms, seed=1) if loud else silence_pcm16(ms)
    return base64.b64encode(data).decode()


async def manual_turns(wire: Wire, model: str) -> None:
    audio = {"input": {"turn_detection": None, "transcription": {"model": model}}}
    await wire.send({"type": "session.update", "session": {"type": "realtime", "audio": audio}})
    await wire.until("session.updated")


async def commit(wire: Wire, *, loud: bool) -> str:
    for _ in range(5):
        await wire.send({"type": "input_audio_buffer.append", "audio": pcm(100, loud=loud)})
    await wire.send({"type": "input_audio_buffer.commit"})
    return str((await wire.until("input_audio_buffer.committed"))["item_id"])


def of(wire: Wire, item_id: str) -> list[dict[str, Any]]:
    return [e for e in wire.events if e["type"].startswith(PREFIX) and e["item_id"] == item_id]


async def test_silence_cannot_be_transcribed_and_fails_with_the_spec_error(wire):
    async with asyncio.timeout(WAIT):
        await manual_turns(wire, "gpt-4o-transcribe")
        silent = await commit(wire, loud=False)
        failed = await wire.until(f"{PREFIX}.failed")
        spoken = await commit(wire, loud=True)
        await wire.until(f"{PREFIX}.completed")
    assert failed == {
        "type": f"{PREFIX}.failed",
        "event_id": failed["event_id"],
        "item_id": silent,
        "content_index": 0,
        "error": {
            "type": "transcription_error",
            "code": "audio_unintelligible",
            "message": "The audio could not be transcribed.",
        },
    }
    assert failed["error"] == TRANSCRIPTION_FAILED
    assert [e["type"] for e in of(wire, silent)] == [f"{PREFIX}.failed"]
    assert f"{PREFIX}.failed" not in [e["type"] for e in of(wire, spoken)]


async def test_a_cleared_buffer_forgets_the_speech_it_heard(wire):
    async with asyncio.timeout(WAIT):
        await manual_turns(wire, "gpt-4o-transcribe")
        await wire.send({"type": "input_audio_buffer.append", "audio": pcm(200, loud=True)})
        await wire.send({"type": "input_audio_buffer.clear"})
        await wire.until("input_audio_buffer.cleared")
        silent = await commit(wire, loud=False)
        await wire.until(f"{PREFIX}.failed", item_id=silent)


async def test_a_diarizing_model_sends_a_segment_with_a_speaker(wire):
    async with asyncio.timeout(WAIT):
        await manual_turns(wire, "gpt-4o-transcribe-diarize")
        item_id = await commit(wire, loud=True)
        completed = await wire.until(f"{PREFIX}.completed")
    names = [e["type"] for e in of(wire, item_id)]
    assert names[-2:] == [f"{PREFIX}.segment", f"{PREFIX}.completed"]
    assert set(names[:-2]) == {f"{PREFIX}.delta"}
    segment = of(wire, item_id)[-2]
    assert segment["id"].startswith("seg_")
    assert segment["speaker"] == "A"
    assert segment["text"] == completed["transcript"]
    assert (segment["start"], segment["end"]) == (0.0, 0.5)
    assert segment["content_index"] == 0


async def test_other_models_send_no_segments(wire):
    async with asyncio.timeout(WAIT):
        await manual_turns(wire, "gpt-4o-mini-transcribe")
        await commit(wire, loud=True)
        await wire.until(f"{PREFIX}.completed")
    assert not wire.of_type(f"{PREFIX}.segment")
