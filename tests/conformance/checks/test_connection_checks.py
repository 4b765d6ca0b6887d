"""Per-connection checks: each passes its golden transcript and flags its minimal edit."""

from __future__ import annotations

import pytest

from conformance import _json
from conformance.checks import CHECKS, Scope, Severity
from conformance.transcript import Transcript

from .helpers import golden, judge

FAILED, NON_STRICT = Severity.FAILED, Severity.NON_STRICT

# check -> (severity, frame index, event type, json_path) of the one expected violation
EXPECTED = {
    "client_event_matches_schema": (FAILED, 1, "session.update", "session.modalities"),
    "images_are_input_image_data_urls": (FAILED, 3, "conversation.item.create", "item.content[0]"),
    "event_ids_are_unique": (NON_STRICT, 6, "response.create", "event_id"),
    "does_not_send_beta_header": (FAILED, None, None, "headers.OpenAI-Beta"),
    "uses_supported_model": (FAILED, None, None, "query.model"),
    "waits_for_session_created": (NON_STRICT, 0, "session.update", None),
    "waits_for_session_updated": (NON_STRICT, 2, "conversation.item.create", None),
    "tracks_response_lifecycle": (FAILED, 8, "response.create", None),
    "protocol_rules_hold": (FAILED, 3, "conversation.item.delete", None),
}


def test_every_connection_check_has_a_golden_pair():
    # limits_client_frame_size is tested in test_recovery_checks.py
    names = {c.name for c in CHECKS if c.applies_to is Scope.CONNECTION} - {
        "limits_client_frame_size"
    }
    assert names == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_golden_text_turn_passes(name):
    assert judge(name, golden("text-turn")) == []


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_minimal_edit_yields_exactly_the_expected_violation(name):
    severity, index, event_type, json_path = EXPECTED[name]
    [violation] = judge(name, golden(f"violations/{name}"))
    assert violation.check == name
    assert violation.severity is severity
    assert (violation.connection, violation.index) == (0, index)
    assert violation.direction == (None if index is None else "client")
    assert (violation.event_type, violation.json_path) == (event_type, json_path)
    for part in (violation.expected, violation.received, violation.where, violation.hint):
        assert part
        assert part in violation.message


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_violation_transcript_breaks_only_its_own_check(name):
    others = [c.name for c in CHECKS if c.applies_to is Scope.CONNECTION and c.name != name]
    transcript = golden(f"violations/{name}")
    assert [v.check for o in others for v in judge(o, transcript)] == []


def transcript_of(*frames: tuple[str, object], **meta: object) -> Transcript:
    """A transcript of (direction, event) frames after a session.created."""
    transcript = Transcript({"query": {"model": "gpt-realtime"}, **meta})
    transcript.add_text("server", '{"type":"session.created","event_id":"event_1"}', 0.0)
    for n, (direction, event) in enumerate(frames, 1):
        text = event if isinstance(event, str) else _json.dumps(event)
        transcript.add_text(direction, text, float(n))  # type: ignore[arg-type]
    return transcript


def image_event(part: dict[str, object]) -> dict[str, object]:
    item = {"type": "message", "role": "user", "content": [part]}
    return {"type": "conversation.item.create", "item": item}


def test_binary_client_frames_are_not_ga_events():
    transcript = transcript_of()
    transcript.add_binary("client", b"\x00\x01", 2.0)
    [violation] = judge("client_event_matches_schema", transcript)
    assert (violation.index, violation.event_type) == (1, "binary")


def test_a_frame_that_is_not_json_is_reported_with_the_live_code():
    [violation] = judge("client_event_matches_schema", transcript_of(("client", "{oops")))
    assert violation.received.startswith("invalid_json")


@pytest.mark.parametrize(
    ("part", "received"),
    [
        ({"type": "input_image", "image": "data:image/png;base64,AAAA"}, "an 'image' key"),
        ({"type": "image_url", "image_url": {"url": "https://x/y.png"}}, "type 'image_url'"),
        ({"type": "input_image", "image_url": "https://x/y.png"}, "image_url 'https://x/y.png'"),
        ({"type": "input_image"}, "image_url None"),
        ({"type": "input_text", "text": "iVBORw0KGgoAAAANSUhEUg"}, "image data sent as input_text"),
    ],
)
def test_image_mistakes_are_named(part, received):
    [violation] = judge(
        "images_are_input_image_data_urls", transcript_of(("client", image_event(part)))
    )
    assert violation.received == received
    assert violation.json_path == "item.content[0]"


def test_images_in_response_input_are_checked_too():
    part = {"type": "input_image", "image_url": "https://x/y.png"}
    item = {"type": "message", "role": "user", "content": [part]}
    event = {"type": "response.create", "response": {"conversation": "none", "input": [item]}}
    [violation] = judge("images_are_input_image_data_urls", transcript_of(("client", event)))
    assert violation.json_path == "response.input[0].content[0]"


def test_beta_subprotocol_is_flagged():
    transcript = transcript_of(subprotocols=["realtime", "openai-beta.realtime-v1"])
    [violation] = judge("does_not_send_beta_header", transcript)
    assert violation.json_path == "subprotocols"


def test_other_openai_beta_values_are_not_the_realtime_beta():
    transcript = transcript_of(headers=[["OpenAI-Beta", "assistants=v2"]])
    assert judge("does_not_send_beta_header", transcript) == []


def test_a_missing_model_is_flagged():
    [violation] = judge("uses_supported_model", transcript_of(query={}))
    assert violation.title == "no model in the URL"


@pytest.mark.parametrize("query", [{"intent": "transcription"}, {"call_id": "rtc_1"}])
def test_transcription_and_sideband_sessions_need_no_model(query):
    assert judge("uses_supported_model", transcript_of(query=query)) == []


def test_a_client_that_never_saw_session_created_is_flagged():
    transcript = Transcript({"query": {"model": "gpt-realtime"}})
    transcript.add_text("client", '{"type":"session.update","session":{"type":"realtime"}}', 0.0)
    transcript.add_text("client", '{"type":"response.create"}', 1.0)
    [violation] = judge("waits_for_session_created", transcript)
    assert "1 more frame" in violation.received
    assert "no session.created at all" in violation.received


def test_an_error_answering_session_update_releases_the_gate():
    update = {"type": "session.update", "session": {"type": "realtime"}}
    error = {"type": "error", "event_id": "e", "error": {"type": "invalid_request_error"}}
    transcript = transcript_of(
        ("client", update), ("server", error), ("client", {"type": "response.create"})
    )
    assert judge("waits_for_session_updated", transcript) == []


def test_only_the_first_gated_event_per_update_is_reported():
    update = {"type": "session.update", "session": {"type": "realtime"}}
    append = {"type": "input_audio_buffer.append", "audio": "AAAA"}
    transcript = transcript_of(("client", update), ("client", append), ("client", append))
    [violation] = judge("waits_for_session_updated", transcript)
    assert violation.index == 2


def test_a_cancel_race_is_not_a_protocol_breach():
    transcript = transcript_of(("client", {"type": "response.cancel"}))
    assert judge("protocol_rules_hold", transcript) == []


def test_repeated_breaches_fold_into_one_violation_with_a_count():
    delete = {"type": "conversation.item.delete", "item_id": "item_x"}
    transcript = transcript_of(("client", delete), ("client", delete), ("client", delete))
    [violation] = judge("protocol_rules_hold", transcript)
    assert (violation.index, violation.occurrences) == (1, 3)
    assert "(and 2 more like it)" in str(violation)
