"""`replay` on real sockets: a realtime-notes session recorded on the mock, replayed on a
fresh mock, gives the same server side (types and order; ids differ)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from conformance._cli_replay import replay_on_mock
from conformance.replay import Timing, replay, server_event_types
from conformance.transcript import read_jsonl
from tests.processes import finished

from .helpers import KEY, WAIT, made, mock, notes_session

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("timing", ["fast", "recorded"])
async def test_a_replay_reproduces_the_recorded_event_sequence(
    tmp_path: Path, timing: Timing
) -> None:
    recording = await notes_session(tmp_path)
    recorded = read_jsonl(recording)
    assert "response.done" in server_event_types(recorded)
    result = await replay_on_mock(recording, timing=timing, record=tmp_path / "again.jsonl")
    assert result.opened
    assert result.exit_status == 0
    assert result.frames_sent == result.frames_total == 4
    assert result.not_sent == []
    assert result.waits_missed == []
    again = read_jsonl(tmp_path / "again.jsonl")
    assert server_event_types(again) == server_event_types(recorded)
    assert [r.event_type for r in again.client_events()] == [
        r.event_type for r in recorded.client_events()
    ]
    assert again.meta["recorded_by"] == "replay"
    assert result.events_received == result.recorded_events
    assert result.end == "client closed 1000" == str(result.recorded_end)


async def test_frames_wait_for_the_server_event_they_followed_on_a_slower_server(
    tmp_path: Path,
) -> None:
    """Recorded at the fast pace, replayed at the live pace (a first delta 0.3-0.6 s late):
    the close the client sent after response.done still comes after it."""
    recording = await notes_session(tmp_path)
    async with mock(pace="live") as server:
        result = await replay(recording, server.url, timing="fast", wait_timeout=WAIT)
    assert server_event_types(result.transcript) == server_event_types(read_jsonl(recording))
    last_server = max(r.index for r in result.transcript.server_events())
    close = next(r for r in result.transcript.records if r.kind == "close")
    assert close.direction == "client"
    assert close.index > last_server


async def test_a_frame_after_a_late_session_updated_waits_for_it() -> None:
    recording = made(
        {},
        ("server", 1, {"type": "session.created"}),
        ("client", 2, {"type": "session.update", "session": {"type": "realtime"}}),
        ("server", 3, {"type": "session.updated"}),
        (
            "client",
            4,
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "Hi"}],
                },
            },
        ),
        ("client", 5, ("close", 1000, "")),
    )
    # session-updated-delayed holds session.updated 400 ms: the item must still follow it.
    result = await replay_on_mock(recording, scenario="session-updated-delayed")
    kinds = [(r.direction, r.event_type) for r in result.transcript.records if r.kind == "text"]
    assert kinds.index(("server", "session.updated")) < kinds.index(
        ("client", "conversation.item.create")
    )
    assert result.waits_missed == []


async def test_recorded_timing_keeps_the_gaps_fast_timing_drops_them() -> None:
    recording = made(
        {},
        ("server", 1, {"type": "session.created"}),
        ("client", 2, {"type": "session.update", "session": {"type": "realtime"}}),
        ("client", 402, {"type": "session.update", "session": {"type": "realtime"}}),
        ("client", 403, ("close", 1000, "")),
    )
    timings: tuple[Timing, ...] = ("recorded", "fast")
    for timing in timings:
        result = await replay_on_mock(recording, timing=timing)
        first, second = (r.t_ms for r in result.transcript.client_events())
        if timing == "recorded":
            assert second - first >= 400
        assert result.frames_sent == 3


async def test_a_server_closing_early_stops_the_replay_and_names_what_was_not_sent(
    tmp_path: Path,
) -> None:
    recording = await notes_session(tmp_path)
    result = await replay_on_mock(recording, scenario="close-after-first-client-event")
    assert result.opened
    assert result.exit_status == 0
    assert result.closed_by == "server"
    assert result.close_code == 1000
    assert result.frames_sent == 1
    assert result.not_sent == ["conversation.item.create", "response.create", "close 1000"]
    assert "not sent (3, the server had ended)" in result.summary()


async def test_a_dropped_connection_is_recorded_as_a_drop(tmp_path: Path) -> None:
    recording = await notes_session(tmp_path)
    result = await replay_on_mock(recording, scenario="tcp-drop-mid-response")
    assert result.dropped
    assert result.end == "server dropped the connection (no close frame)"
    assert result.transcript.records[-1].kind == "drop"


async def test_a_refused_upgrade_is_reported_and_exits_1(tmp_path: Path) -> None:
    recording = await notes_session(tmp_path)
    result = await replay_on_mock(recording, scenario="no-realtime-access")
    assert not result.opened
    assert result.exit_status == 1
    assert result.rejected_status == 403
    assert "refused the WebSocket upgrade with HTTP 403" in result.summary()
    assert [r.kind for r in result.transcript.records] == ["rejected"]


async def test_the_given_key_is_sent_and_never_written(tmp_path: Path) -> None:
    recording = await notes_session(tmp_path)
    secret = "sk-replay-only-key-abcdef0123456789"
    async with mock(api_keys=(secret,)) as server:
        accepted = await replay(recording, server.url, api_key=secret, record=tmp_path / "a.jsonl")
        refused = await replay(recording, server.url, record=tmp_path / "b.jsonl")
    assert accepted.close_code == 1000
    assert accepted.closed_by == "client"
    # Without the key the test key goes: the mock knows only `secret`, so it refuses it.
    assert refused.close_code == 3000
    assert refused.closed_by == "server"
    written = (tmp_path / "a.jsonl").read_text() + accepted.summary()
    assert secret not in written
    assert "Bearer [REDACTED]" in written


async def test_a_recorded_beta_header_is_sent_again() -> None:
    recording = made(
        {"headers": [["Authorization", "Bearer [REDACTED]"], ["OpenAI-Beta", "realtime=v1"]]},
        ("server", 1, {"type": "error"}),
        ("server", 2, ("close", 4000, "")),
    )
    result = await replay_on_mock(recording)
    assert result.close_code == 4000
    assert result.closed_by == "server"
    (error,) = [r.event for r in result.transcript.server_events() if r.event_type == "error"]
    assert error is not None
    assert error["error"]["code"] == "beta_api_shape_disabled"


async def test_the_cli_prints_the_summary_and_records(tmp_path: Path) -> None:
    recording = await notes_session(tmp_path)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "conformance",
        "replay",
        str(recording),
        "--timing",
        "fast",
        "--record",
        str(tmp_path / "out.jsonl"),
        "--api-key",
        KEY,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    status, out, err = await finished(process, within_s=WAIT)
    assert status == 0, err.decode()
    text = out.decode()
    assert "frames sent:     4 of 4" in text
    assert "end:             client closed 1000" in text
    assert KEY not in text + (tmp_path / "out.jsonl").read_text()
    assert server_event_types(read_jsonl(tmp_path / "out.jsonl")) == server_event_types(
        read_jsonl(recording)
    )
