"""The mock app's live event sequences, driven in memory (protocol notes §5)."""

from __future__ import annotations

import base64
import hashlib

import pytest

from conformance.protocol import replay
from conformance.schemas import validate_server_event
from conformance.transport import Closed

from .app_harness import (
    image_item,
    jpeg_header,
    open_app,
    png_bytes,
    text_item,
    types,
    until,
)

TEXT_SESSION = {"type": "realtime", "output_modalities": ["text"], "instructions": "Be terse."}
TEXT_RESPONSE_ORDER = [
    "response.created",
    "response.output_item.added",
    "conversation.item.added",
    "response.content_part.added",
]
TEXT_RESPONSE_TAIL = [
    "response.output_text.done",
    "response.content_part.done",
    "conversation.item.done",
    "response.output_item.done",
    "response.done",
    "rate_limits.updated",
]


def assert_clean(app) -> None:
    """Every server frame validates and the whole exchange passes the protocol replay."""
    frames = [(r.direction, r.text) for r in app.transcript.records if r.text is not None]
    for direction, text in frames:
        if direction == "server":
            assert validate_server_event(text) == [], text[:300]
    assert [p for p in replay(frames) if p.direction == "server"] == []


def configure_text(transport) -> dict:
    transport.recv_event()  # session.created
    transport.send({"type": "session.update", "session": TEXT_SESSION})
    updated = transport.recv_event()
    assert updated["type"] == "session.updated"
    return updated


def test_session_created_is_the_first_and_only_frame_on_connect():
    app, transport = open_app()
    first = transport.recv_event()
    assert first["type"] == "session.created"
    assert first["session"]["model"] == "gpt-realtime-1.5"
    assert first["session"]["audio"]["input"]["turn_detection"]["silence_duration_ms"] == 200
    assert transport.recv(within_ms=1000) is None  # no conversation.created in GA
    assert_clean(app)


def test_session_update_answers_with_the_full_effective_session():
    app, transport = open_app()
    updated = configure_text(transport)
    session = updated["session"]
    assert session["output_modalities"] == ["text"]
    assert session["instructions"] == "Be terse."
    assert session["audio"]["output"]["voice"] == "alloy"  # untouched fields stay
    assert "event_id" in updated
    assert updated["event_id"].startswith("event_")
    assert_clean(app)


def test_invalid_session_update_changes_nothing_and_yields_one_error():
    _app, transport = open_app()
    transport.recv_event()
    transport.send(
        {"type": "session.update", "event_id": "evt_1",
         "session": {"type": "realtime", "instructions": "new", "modalities": ["text"]}}
    )  # fmt: skip
    error = transport.recv_event()
    assert error["type"] == "error"
    assert error["error"]["code"] == "unknown_parameter"
    assert error["error"]["param"] == "session.modalities"
    assert error["error"]["event_id"] == "evt_1"
    assert transport.recv(within_ms=100) is None
    transport.send({"type": "session.update", "session": {"type": "realtime"}})
    assert transport.recv_event()["session"]["instructions"] != "new"


def test_screenshot_to_notes_streams_the_live_text_order_and_names_the_image():
    app, transport = open_app(tokens_per_delta=2)
    configure_text(transport)
    png = png_bytes(64, 48)
    transport.send({"type": "conversation.item.create", "item": image_item(png, "What is this?")})
    added, done = transport.recv_event(), transport.recv_event()
    assert (added["type"], done["type"]) == ("conversation.item.added", "conversation.item.done")
    assert added["previous_item_id"] is None
    transport.send({"type": "response.create"})
    events = transport.events_until(until("rate_limits.updated"))
    names = types(events)
    deltas = [e for e in events if e["type"] == "response.output_text.delta"]
    assert names[:4] == TEXT_RESPONSE_ORDER
    assert names[4 : 4 + len(deltas)] == ["response.output_text.delta"] * len(deltas)
    assert names[4 + len(deltas) :] == TEXT_RESPONSE_TAIL
    text = "".join(d["delta"] for d in deltas)
    done_text = next(e for e in events if e["type"] == "response.output_text.done")["text"]
    assert text == done_text
    digest = hashlib.sha256(png).hexdigest()[:12]
    assert f"PNG 64x48, {len(png)} bytes, sha256 {digest}" in text
    assert "What is this?" in text
    assert all("obfuscation" in d for d in deltas)
    response = events[-2]["response"]
    assert response["status"] == "completed"
    assert response["usage"]["input_token_details"]["image_tokens"] == 194
    assert response["output"][0]["content"][0] == {"type": "output_text", "text": text}
    assert_clean(app)


def test_jpeg_screenshot_size_is_reported():
    _app, transport = open_app()
    configure_text(transport)
    transport.send({"type": "conversation.item.create",
                    "item": image_item(jpeg_header(1280, 720), mime="image/jpeg")})  # fmt: skip
    transport.events_until(until("conversation.item.done"))
    transport.send({"type": "response.create"})
    events = transport.events_until(until("response.done"))
    assert "JPEG 1280x720" in events[-1]["response"]["output"][0]["content"][0]["text"]


@pytest.mark.parametrize(
    ("url", "got"),
    [
        ("https://example.com/a.png", "not a data URL"),
        ("data:image/png;base64,@@@", "not valid base64"),
        ("data:image/png;base64," + base64.b64encode(b"not a png").decode(), "valid PNG"),
        ("data:image/gif;base64,R0lGOD", "not a data URL"),
    ],
)
def test_bad_image_data_url_gets_one_error_naming_the_part(url, got):
    app, transport = open_app()
    transport.recv_event()
    content = [{"type": "input_text", "text": "hi"}, {"type": "input_image", "image_url": url}]
    item = {"type": "message", "role": "user", "content": content}
    transport.send({"type": "conversation.item.create", "event_id": "evt_img", "item": item})
    error = transport.recv_event()
    assert error["type"] == "error"
    assert error["error"]["param"] == "item.content[1].image_url"
    assert error["error"]["event_id"] == "evt_img"
    assert transport.recv(within_ms=100) is None
    assert app.session.item_ids == []


def test_second_response_create_while_active_is_rejected_and_the_first_completes():
    app, transport = open_app(text_tokens_per_second=10.0)
    configure_text(transport)
    transport.send({"type": "conversation.item.create", "item": text_item("hello there")})
    transport.events_until(until("conversation.item.done"))
    transport.send({"type": "response.create"})
    created = transport.recv_event()
    assert created["type"] == "response.created"
    transport.send({"type": "response.create", "event_id": "evt_2"})
    events = transport.events_until(until("response.done"))
    errors = [e for e in events if e["type"] == "error"]
    assert len(errors) == 1
    assert errors[0]["error"]["code"] == "conversation_already_has_active_response"
    assert created["response"]["id"] in errors[0]["error"]["message"]
    assert errors[0]["error"]["event_id"] == "evt_2"
    assert types(events).count("response.created") == 0
    assert events[-1]["response"]["status"] == "completed"
    assert_clean(app)


def test_response_cancel_ends_the_active_response_as_cancelled():
    app, transport = open_app(text_tokens_per_second=5.0)
    configure_text(transport)
    transport.send({"type": "response.create"})
    transport.events_until(until("response.output_text.delta"))
    transport.send({"type": "response.cancel"})
    events = transport.events_until(until("response.done"))
    done = events[-1]["response"]
    assert done["status"] == "cancelled"
    assert done["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
    assert done["output"][0]["status"] == "incomplete"
    assert_clean(app)


def test_cancel_with_nothing_active_is_a_harmless_error():
    _app, transport = open_app()
    transport.recv_event()
    transport.send({"type": "response.cancel"})
    error = transport.recv_event()
    assert error["error"]["code"] == "response_cancel_not_active"
    assert error["error"]["message"] == "Cancellation failed: no active response found"
    transport.send({"type": "response.create"})
    assert transport.recv_event()["type"] == "response.created"


def test_audio_response_streams_pcm16_and_a_matching_transcript():
    app, transport = open_app()
    transport.recv_event()
    transport.send({"type": "response.create"})
    events = transport.events_until(until("response.done"))
    audio = b"".join(
        base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta"
    )
    transcript = "".join(
        e["delta"] for e in events if e["type"] == "response.output_audio_transcript.delta"
    )
    assert audio
    assert len(audio) % 2 == 0
    done = next(e for e in events if e["type"] == "response.output_audio_transcript.done")
    assert done["transcript"] == transcript
    usage = events[-1]["response"]["usage"]
    assert usage["output_token_details"]["audio_tokens"] == len(audio) // 48 // 50
    assert_clean(app)


def test_function_call_then_output_then_response_mentions_the_result():
    app, transport = open_app()
    tool = {"type": "function", "name": "lookup", "description": "d",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}},
                           "required": ["q"]}}  # fmt: skip
    transport.recv_event()
    transport.send({"type": "session.update", "session": {
        "type": "realtime", "output_modalities": ["text"], "tools": [tool],
        "tool_choice": "required"}})  # fmt: skip
    transport.recv_event()
    transport.send({"type": "response.create"})
    events = transport.events_until(until("response.done"))
    args_done = next(e for e in events if e["type"] == "response.function_call_arguments.done")
    deltas = "".join(
        e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta"
    )
    assert args_done["arguments"] == deltas == '{"q":"example"}'
    transport.events_until(until("rate_limits.updated"))
    output = {"type": "function_call_output", "call_id": args_done["call_id"], "output": "42"}
    transport.send({"type": "conversation.item.create", "item": output})
    transport.events_until(until("conversation.item.done"))
    assert transport.recv(within_ms=500) is None  # no automatic response
    transport.send({"type": "response.create"})
    events = transport.events_until(until("response.done"))
    assert "lookup returned '42'" in events[-1]["response"]["output"][0]["content"][0]["text"]
    assert_clean(app)


def test_unknown_call_id_is_rejected():
    _app, transport = open_app()
    transport.recv_event()
    transport.send({"type": "conversation.item.create", "item": {
        "type": "function_call_output", "call_id": "call_nope", "output": "x"}})  # fmt: skip
    assert transport.recv_event()["error"]["code"] == "invalid_tool_call_id"


def pcm(ms: int, loud: bool) -> str:
    from mock_server.media import silence_pcm16, synth_pcm16

    data = synth_pcm16(ms, seed=1) if loud else silence_pcm16(ms)
    return base64.b64encode(data).decode()


def test_commit_needs_100_ms_of_audio():
    app, transport = open_app()
    transport.recv_event()
    transport.send({"type": "session.update", "session": {
        "type": "realtime", "audio": {"input": {"turn_detection": None}}}})  # fmt: skip
    transport.recv_event()
    transport.send({"type": "input_audio_buffer.append", "audio": pcm(40, True)})
    transport.send({"type": "input_audio_buffer.commit"})
    error = transport.recv_event()
    assert error["error"]["code"] == "input_audio_buffer_commit_empty"
    assert "buffer only has 40.00ms of audio" in error["error"]["message"]
    transport.send({"type": "input_audio_buffer.append", "audio": pcm(80, True)})
    transport.send({"type": "input_audio_buffer.commit"})
    events = transport.events_until(until("conversation.item.done"))
    assert types(events) == [
        "input_audio_buffer.committed", "conversation.item.added", "conversation.item.done",
    ]  # fmt: skip
    assert transport.recv(within_ms=200) is None  # manual turns: no response
    assert_clean(app)


def test_server_vad_detects_a_turn_commits_it_and_responds():
    app, transport = open_app()
    transport.recv_event()
    for _ in range(10):
        transport.send({"type": "input_audio_buffer.append", "audio": pcm(40, True)})
    for _ in range(10):
        transport.send({"type": "input_audio_buffer.append", "audio": pcm(40, False)})
    events = transport.events_until(until("response.done"))
    names = types(events)
    assert names[:6] == [
        "input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed", "conversation.item.added", "conversation.item.done",
        "response.created",
    ]  # fmt: skip
    assert events[0]["audio_start_ms"] == 0
    assert events[1]["audio_end_ms"] == 400 + 200  # the speech, then the 200 ms silence (spec)
    assert events[0]["item_id"] == events[2]["item_id"] == events[3]["item"]["id"]
    assert events[-1]["response"]["usage"]["input_token_details"]["audio_tokens"] >= 4
    assert_clean(app)


@pytest.mark.parametrize(
    ("frame", "code"),
    [("{not json", "invalid_json"), ('{"type": "nope"}', "invalid_value"), ("[1]", None)],
)
def test_bad_frames_get_one_error_and_the_session_goes_on(frame, code):
    _app, transport = open_app()
    transport.recv_event()
    transport.send(frame)
    error = transport.recv_event()
    assert error["type"] == "error"
    if code is not None:
        assert error["error"]["code"] == code
    transport.send({"type": "input_audio_buffer.clear"})
    assert transport.recv_event()["type"] == "input_audio_buffer.cleared"


def test_binary_frame_is_rejected_without_closing():
    _app, transport = open_app()
    transport.recv_event()
    transport.send_bytes(b"\x00\x01")
    error = transport.recv_event()
    assert error["error"]["code"] == "invalid_event"
    assert "binary frames are not supported" in error["error"]["message"]
    assert transport.closed is None


def test_output_audio_buffer_clear_is_rejected_on_websocket():
    _app, transport = open_app()
    transport.recv_event()
    transport.send({"type": "output_audio_buffer.clear"})
    error = transport.recv_event()
    assert error["error"]["code"] == "invalid_value"
    assert error["error"]["param"] == "type"
    assert error["error"]["message"].endswith("'response.create', and 'response.cancel'.")


def test_session_expires_with_session_expired_then_close_1001():
    _app, transport = open_app(session_max_duration=0.5)
    transport.recv_event()
    error = transport.recv_event()
    assert error["error"]["code"] == "session_expired"
    assert transport.clock.now_ms() == 500.0
    closed = transport.recv()
    assert isinstance(closed, Closed)
    assert closed.code == 1001


def test_beta_header_gets_error_then_close_4000():
    _app, transport = open_app(
        headers=[("Authorization", "Bearer sk-x1234567"), ("OpenAI-Beta", "realtime=v1")]
    )
    error = transport.recv_event()
    assert error["error"]["code"] == "beta_api_shape_disabled"
    closed = transport.recv()
    assert closed == Closed(4000, "invalid_request_error.beta_api_shape_disabled")


def test_out_of_band_response_has_no_conversation_events_and_echoes_metadata():
    app, transport = open_app()
    configure_text(transport)
    transport.send({"type": "response.create", "response": {
        "conversation": "none", "metadata": {"topic": "hud"}, "output_modalities": ["text"],
        "input": [text_item("summarise")]}})  # fmt: skip
    events = transport.events_until(until("response.done"))
    assert "conversation.item.added" not in types(events)
    assert events[0]["response"]["conversation_id"] is None
    assert events[-1]["response"]["metadata"] == {"topic": "hud"}
    assert "summarise" in events[-1]["response"]["output"][0]["content"][0]["text"]
    assert app.session.item_ids == []
    assert_clean(app)


def test_items_can_be_inserted_retrieved_truncated_and_deleted():
    app, transport = open_app()
    transport.recv_event()
    transport.send({"type": "conversation.item.create", "item": {**text_item("a"), "id": "item_a"}})
    transport.send({"type": "conversation.item.create", "previous_item_id": "root",
                    "item": {**text_item("b"), "id": "item_b"}})  # fmt: skip
    transport.send({"type": "conversation.item.create", "previous_item_id": "item_b",
                    "item": {**text_item("c"), "id": "item_c"}})  # fmt: skip
    transport.events_until(lambda e: e.get("item", {}).get("id") == "item_c"
                           and e["type"] == "conversation.item.done")  # fmt: skip
    assert app.session.item_ids == ["item_b", "item_c", "item_a"]
    transport.send({"type": "conversation.item.retrieve", "item_id": "item_c"})
    assert transport.recv_event()["item"]["content"][0]["text"] == "c"
    transport.send({"type": "conversation.item.truncate", "item_id": "item_c",
                    "content_index": 0, "audio_end_ms": 0})  # fmt: skip
    assert transport.recv_event()["error"]["code"] == "unsupported_content_type"
    transport.send({"type": "conversation.item.delete", "item_id": "item_c"})
    assert transport.recv_event()["type"] == "conversation.item.deleted"
    transport.send({"type": "conversation.item.delete", "item_id": "item_c"})
    error = transport.recv_event()["error"]
    assert error["code"] == "item_delete_invalid_item_id"
    assert error["message"] == "Error deleting item: the item with id 'item_c' does not exist."
    transport.send({"type": "conversation.item.create", "previous_item_id": "item_zz",
                    "item": text_item("d")})  # fmt: skip
    assert transport.recv_event()["error"]["param"] == "previous_item_id"
    assert app.session.item_ids == ["item_b", "item_a"]
    assert_clean(app)


def test_same_seed_gives_the_same_frames():
    def run(seed):
        app, transport = open_app(seed=seed)
        configure_text(transport)
        transport.send({"type": "conversation.item.create", "item": image_item(png_bytes())})
        transport.send({"type": "response.create"})
        transport.events_until(until("response.done"))
        return [r.text for r in app.transcript.records]

    assert run(3) == run(3)
    assert run(3) != run(4)
