"""Pins of `waits_for_session_updated`: only session.updated or an error releases the gate.

Mutation testing found that a check which let *any* server event clear a pending
`session.update` passed the whole suite; these transcripts tell the two apart.
"""

from __future__ import annotations

import pytest

from conformance import _json
from conformance.transcript import Transcript

from .helpers import judge

UPDATE = {"type": "session.update", "session": {"type": "realtime", "instructions": "Terse."}}
UPDATED = {"type": "session.updated", "event_id": "event_2", "session": {"type": "realtime"}}
ITEM = {
    "type": "conversation.item.create",
    "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]},
}
# Server events that may well arrive between a session.update and its session.updated.
UNRELATED = [
    {
        "type": "rate_limits.updated",
        "event_id": "event_rl",
        "rate_limits": [{"name": "tokens", "limit": 1, "remaining": 1, "reset_seconds": 1.0}],
    },
    {"type": "input_audio_buffer.cleared", "event_id": "event_cl"},
    {"type": "conversation.item.deleted", "event_id": "event_del", "item_id": "item_x"},
]


def transcript_of(*frames: tuple[str, object]) -> Transcript:
    transcript = Transcript({"query": {"model": "gpt-realtime"}})
    transcript.add_text("server", '{"type":"session.created","event_id":"event_1"}', 0.0)
    for n, (direction, event) in enumerate(frames, 1):
        transcript.add_text(direction, _json.dumps(event), float(n))  # type: ignore[arg-type]
    return transcript


@pytest.mark.parametrize("between", UNRELATED, ids=lambda e: str(e["type"]))
def test_an_unrelated_server_event_does_not_release_the_gate(between: dict[str, object]) -> None:
    transcript = transcript_of(
        ("client", UPDATE), ("server", between), ("client", ITEM), ("server", UPDATED)
    )
    [violation] = judge("waits_for_session_updated", transcript)
    assert violation.index == 3
    assert violation.event_type == "conversation.item.create"
    assert "frame #1" in violation.expected


def test_session_updated_releases_the_gate_and_a_new_update_closes_it_again() -> None:
    transcript = transcript_of(
        ("client", UPDATE),
        ("server", UPDATED),
        ("client", ITEM),  # fine: acknowledged
        ("client", UPDATE),
        ("server", UNRELATED[0]),
        ("client", {"type": "response.create"}),  # not fine: the second update is pending
    )
    [violation] = judge("waits_for_session_updated", transcript)
    assert violation.index == 6
    assert "frame #4" in violation.expected


def test_a_client_event_does_not_release_the_gate() -> None:
    transcript = transcript_of(("client", UPDATE), ("client", UPDATE), ("client", ITEM))
    [violation] = judge("waits_for_session_updated", transcript)
    assert violation.index == 3
    assert "frame #1" in violation.expected  # the first unacknowledged update is named
