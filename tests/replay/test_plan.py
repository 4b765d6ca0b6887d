"""The replay plan without sockets: what is sent, in which order, after which server event,
and with which upgrade."""

from __future__ import annotations

import pytest

from conformance.protocol.errors import UsageError
from conformance.replay import TEST_KEY, Anchor, ReplayPlan, server_event_types

from .helpers import made

SESSION = {"type": "session.created", "session": {"id": "sess_1"}}
UPDATE = {"type": "session.update", "session": {"type": "realtime"}}
UPDATED = {"type": "session.updated"}
CREATE = {"type": "response.create"}


def test_each_frame_waits_for_the_last_server_event_since_the_previous_frame() -> None:
    plan = ReplayPlan.from_transcript(
        made(
            {},
            ("server", 5, SESSION),
            ("client", 25, UPDATE),
            ("client", 40, {"type": "input_audio_buffer.append", "audio": ""}),
            ("server", 50, UPDATED),
            ("server", 60, UPDATED),
            ("client", 300, CREATE),
            ("client", 900, ("close", 1000, "")),
        )
    )
    assert [s.label for s in plan.steps] == [
        "session.update",
        "input_audio_buffer.append",
        "response.create",
        "close 1000",
    ]
    anchors = [s.anchor for s in plan.steps]
    assert anchors == [
        Anchor("session.created", 1, 5),
        None,  # nothing came from the server between the two frames: timed only
        Anchor("session.updated", 2, 60),
        None,
    ]
    assert [s.gap_ms for s in plan.steps] == [20, 15, 240, 600]
    assert plan.end.kind == "close"
    assert plan.end.direction == "client"
    assert plan.server_events == 3
    assert plan.last_server == Anchor("session.updated", 2, 60)


def test_the_upgrade_keeps_the_beta_header_and_replaces_masked_keys() -> None:
    meta = {
        "path": "/relay/v1/realtime",
        "query": {"model": "gpt-realtime", "api-key": "[REDACTED]", "token2": "x[REDACTED]"},
        "headers": [
            ["Host", "127.0.0.1:1"],
            ["Upgrade", "websocket"],
            ["Sec-WebSocket-Key", "abc"],
            ["Sec-WebSocket-Extensions", "permessage-deflate"],
            ["Authorization", "Bearer [REDACTED]"],
            ["OpenAI-Beta", "realtime=v1"],
            ["Cookie", "[REDACTED]"],
            ["User-Agent", "my-hud/1.0"],
        ],
        "subprotocols": ["realtime", "openai-insecure-api-key.[REDACTED]"],
    }
    handshake = ReplayPlan.from_transcript(made(meta), api_key="sk-mine-0123456789").handshake
    assert handshake.headers == (
        ("Authorization", "Bearer sk-mine-0123456789"),
        ("OpenAI-Beta", "realtime=v1"),
    )
    assert handshake.query == {"model": "gpt-realtime", "api-key": "sk-mine-0123456789"}
    assert handshake.subprotocols == ("realtime", "openai-insecure-api-key.sk-mine-0123456789")
    assert handshake.user_agent == "my-hud/1.0"
    assert handshake.compression is True
    assert handshake.left_out == (
        "header Cookie (masked in the recording)",
        "query parameter token2 (masked in the recording)",
    )
    assert "[REDACTED]" not in repr(handshake)


def test_a_recording_without_a_key_replays_without_one() -> None:
    handshake = ReplayPlan.from_transcript(made({"headers": [["X-Trace", "1"]]})).handshake
    assert handshake.headers == (("X-Trace", "1"),)
    assert TEST_KEY not in repr(handshake)


def test_the_url_takes_the_recorded_path_and_query_under_the_target_s_own() -> None:
    handshake = ReplayPlan.from_transcript(
        made({"path": "/v1/realtime/translations", "query": {"model": "m1", "x": "1"}})
    ).handshake
    assert handshake.url("ws://127.0.0.1:9") == (
        "ws://127.0.0.1:9/v1/realtime/translations?model=m1&x=1"
    )
    assert handshake.url("http://h:9/v1/realtime?model=m2") == "ws://h:9/v1/realtime?model=m2&x=1"
    with pytest.raises(UsageError, match="--against"):
        handshake.url("127.0.0.1:9")


def test_the_compared_sequence_drops_ids_and_keeps_error_codes_and_the_end() -> None:
    error = {"type": "error", "event_id": "e1", "error": {"type": "server_error", "code": None}}
    transcript = made(
        {},
        ("server", 1, SESSION),
        ("server", 2, error),
        ("server", 3, ("close", 1011, "server_error")),
    )
    assert server_event_types(transcript) == [
        "session.created",
        "error server_error/None",
        "close 1011 server_error",
    ]
