"""The translation session machine (`conformance.protocol.translation`), no I/O."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given, settings

from conformance import strategies as rs
from conformance.protocol import LocalProtocolError, Side, TranslationSession, TranslationState
from conformance.protocol.replay import Direction, replay
from conformance.protocol.translation import (
    FRAME_BYTES,
    FrameAssembler,
    is_translation_path,
    replay_translation,
    session_kind,
)
from conformance.schemas import (
    validate_translation_client_event,
    validate_translation_server_event,
)
from mock_server.actions import SendText
from mock_server.config import MockConfig
from mock_server.request import ConnectRequest
from mock_server.translation import TranslationApp

CREATED = {"type": "session.created", "event_id": "e1", "session": {"type": "translation"}}


def append(size: int) -> dict[str, Any]:
    return {
        "type": "session.input_audio_buffer.append",
        "audio": base64.b64encode(bytes(size)).decode(),
    }


def frames(*events: tuple[Direction, dict[str, Any]]) -> list[tuple[Direction, str]]:
    return [(direction, json.dumps(event)) for direction, event in events]


def test_frames_are_200_ms_short_chunks_wait_long_ones_split() -> None:
    assembler = FrameAssembler()
    assert assembler.append(bytes(FRAME_BYTES // 2)) == []
    assert len(assembler.append(bytes(FRAME_BYTES // 2 + 2 * FRAME_BYTES + 10))) == 3
    assert assembler.pending_bytes == 10
    last = assembler.flush()
    assert last is not None
    assert len(last) == FRAME_BYTES
    assert assembler.flush() is None
    assert [FrameAssembler.elapsed_ms(n) for n in range(assembler.frames)] == [200, 400, 600, 800]


def test_the_server_side_refuses_events_after_session_close() -> None:
    session = TranslationSession(Side.SERVER)
    session.send(CREATED)
    assert session.receive(json.dumps(append(4800))).ok
    assert session.audio_ms == 100
    assert session.receive(json.dumps({"type": "session.close"})).ok
    assert session.state == TranslationState.CLOSING
    late = session.receive(json.dumps({**append(2), "event_id": "evt_9"}))
    assert [(f.code, f.event_id) for f in late.findings] == [("session_closing", "evt_9")]
    session.send({"type": "session.closed", "event_id": "e2"})
    assert session.state == TranslationState.CLOSED  # type: ignore[comparison-overlap]


def test_the_server_side_refuses_its_own_misaligned_or_late_events() -> None:
    session = TranslationSession(Side.SERVER)
    with pytest.raises(LocalProtocolError, match="first server event"):
        session.send({"type": "session.output_audio.delta", "delta": "", "elapsed_ms": 200})
    session = TranslationSession(Side.SERVER)
    session.send(CREATED)
    session.send({"type": "session.output_transcript.delta", "delta": "a", "elapsed_ms": 400})
    with pytest.raises(LocalProtocolError, match="went back"):
        session.send({"type": "session.output_transcript.delta", "delta": "b", "elapsed_ms": 200})
    assert session.state is TranslationState.ERROR


def test_bad_base64_is_a_finding() -> None:
    session = TranslationSession(Side.SERVER)
    session.send(CREATED)
    received = session.receive(
        json.dumps({"type": "session.input_audio_buffer.append", "audio": "@"})
    )
    assert [(f.code, f.param) for f in received.findings] == [("invalid_value", "audio")]


def test_the_client_side_waits_for_session_created_and_judges_server_frames() -> None:
    client = TranslationSession(Side.CLIENT)
    with pytest.raises(LocalProtocolError, match=r"wait for session\.created"):
        client.send(append(2))
    client.receive_text(json.dumps(CREATED))
    client.send(append(2))
    client.receive_text(
        json.dumps({"type": "session.input_transcript.delta", "delta": "x", "elapsed_ms": 150})
    )
    assert [str(e) for e in client.errors]
    assert "multiple of 200" in str(client.errors[0])


def test_replay_detects_a_translation_session_by_its_session_created() -> None:
    recorded = frames(
        ("server", CREATED),
        ("client", append(2)),
        ("client", {"type": "session.close"}),
        ("client", append(2)),
        ("server", {"type": "session.closed", "event_id": "e2"}),
        ("server", {"type": "session.output_audio.delta", "event_id": "e3", "delta": ""}),
    )
    problems = replay(recorded)
    assert [(p.index, p.direction, p.code) for p in problems] == [
        (3, "client", "session_closing"),
        (5, "server", None),
    ]
    assert replay(recorded) == replay_translation(recorded) == replay(recorded, kind="translation")
    assert replay(recorded, kind="realtime") != problems


def test_session_kind_reads_the_transcript_meta() -> None:
    assert session_kind({"kind": "translation"}) == "translation"
    assert session_kind({"path": "/relay/v1/realtime/translations"}) == "translation"
    assert session_kind({"path": "/v1/realtime"}) == "realtime"
    assert is_translation_path("/v1/realtime/translations/")


@settings(max_examples=60, deadline=None)
@given(rs.translation_client_events())
def test_drawn_translation_client_events_are_valid_and_the_mock_answers_them(
    event: dict[str, Any],
) -> None:
    assert validate_translation_client_event(event) == []
    request = ConnectRequest.from_target(
        "/v1/realtime/translations?model=gpt-realtime-translate",
        [("Authorization", "Bearer sk-test-fuzz0123456789")],
    )
    app = TranslationApp(request, MockConfig())
    app.opened(0.0)
    app.receive_text(json.dumps(event), 1.0)  # a mock bug would raise LocalProtocolError
    sent = [a for a in app.actions_to_perform() if isinstance(a, SendText)]
    for action in sent:
        assert validate_translation_server_event(action.text) == [], action.text


@settings(max_examples=40, deadline=None)
@given(rs.translation_server_events())
def test_drawn_translation_server_events_are_valid(event: dict[str, Any]) -> None:
    assert validate_translation_server_event(event) == []
