"""The socket-free parts: errors, event builders, images, settings, endpoint, redaction."""

from __future__ import annotations

import logging
import struct
import zlib
from pathlib import Path

import pytest

from client_reference import (
    ClientError,
    ClientSettings,
    ConnectionClosed,
    RealtimeAPIError,
    ReconnectPolicy,
    ResponseFailed,
    Timeout,
    UsageError,
    encode_png,
    image_data_url,
    load_image,
    resolve_endpoint,
    sniff_image_type,
)
from client_reference import events as ev
from client_reference._redact import RedactingFilter, redact
from client_reference.endpoint import realtime_url_from_base_url
from conformance.protocol import RealtimeError
from tests.client_reference.support import API_KEY, JPEG, PNG


# ---------------------------------------------------------------------- errors
def test_api_error_keeps_all_five_fields_and_reads_well() -> None:
    event = {
        "type": "error",
        "event_id": "event_1",
        "error": {
            "type": "invalid_request_error",
            "code": "unknown_parameter",
            "message": "Unknown parameter: 'session.modalities'.",
            "param": "session.modalities",
            "event_id": "evt_7",
        },
    }
    error = RealtimeAPIError.from_event(event)
    assert (error.type, error.code, error.param, error.event_id) == (
        "invalid_request_error",
        "unknown_parameter",
        "session.modalities",
        "evt_7",
    )
    assert error.server_event_id == "event_1"
    assert str(error) == "unknown_parameter: Unknown parameter: 'session.modalities'."


def test_api_error_tolerates_a_malformed_error_event() -> None:
    error = RealtimeAPIError.from_event({"type": "error"})
    assert str(error) == "error: (no message)"


def test_every_runtime_error_is_a_client_error_and_a_realtime_error() -> None:
    errors = [
        RealtimeAPIError(type="t", code=None, message="m"),
        ResponseFailed(response_id="r", status="failed", status_details=None),
        ConnectionClosed(1000),
        Timeout("x", 1),
    ]
    assert all(isinstance(e, ClientError) and isinstance(e, RealtimeError) for e in errors)
    assert isinstance(Timeout("x", 1), TimeoutError)


def test_response_failed_reads_code_and_message_from_status_details() -> None:
    details = {"type": "failed", "error": {"code": "rate_limit_exceeded", "message": "slow down"}}
    failed = ResponseFailed(response_id="resp_1", status="failed", status_details=details)
    assert (failed.code, failed.message) == ("rate_limit_exceeded", "slow down")
    assert str(failed) == "rate_limit_exceeded: slow down"
    bare = ResponseFailed(response_id="resp_2", status="failed", status_details=None)
    assert str(bare) == "failed: response resp_2 ended with status 'failed'"


def test_connection_closed_messages() -> None:
    assert str(ConnectionClosed(4000, "r")) == "server closed the connection: 4000 r"
    assert str(ConnectionClosed(1006)) == "connection lost without a close frame (1006)"
    assert str(ConnectionClosed(1000, by_client=True)) == "the client closed the connection: 1000"


def test_timeout_says_what_and_how_long() -> None:
    assert (
        str(Timeout("session.created", 2.5)) == "timed out after 2.5 s waiting for session.created"
    )


# ---------------------------------------------------------------------- events
def test_session_update_is_ga_shaped() -> None:
    event = ev.session_update(
        event_id="evt_1", instructions="i", output_modalities=["text"], voice="marin"
    )
    assert event == {
        "type": "session.update",
        "event_id": "evt_1",
        "session": {
            "type": "realtime",
            "instructions": "i",
            "output_modalities": ["text"],
            "audio": {"output": {"voice": "marin"}},
        },
    }


@pytest.mark.parametrize("key", ["modalities", "voice", "input_audio_format", "temperature"])
def test_beta_session_keys_are_refused(key: str) -> None:
    with pytest.raises(UsageError, match="beta-era"):
        ev.session_update(event_id="e", extra={key: 1})


@pytest.mark.parametrize("value", [["text", "audio"], [], ["video"]])
def test_output_modalities_must_be_exactly_one(value: list[str]) -> None:
    with pytest.raises(UsageError, match="output_modalities"):
        ev.response_create(event_id="e", output_modalities=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [0, -1, True, "lots"])
def test_max_output_tokens_must_be_positive_or_inf(value: object) -> None:
    with pytest.raises(UsageError, match="max_output_tokens"):
        ev.response_create(event_id="e", max_output_tokens=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("item_id", ["", "a/b", "a b", "x" * 33])
def test_item_ids_follow_the_live_pattern(item_id: str) -> None:
    with pytest.raises(UsageError, match="item_id"):
        ev.check_item_id(item_id)


def test_a_bare_response_create_has_no_response_object() -> None:
    assert ev.response_create(event_id="e") == {"type": "response.create", "event_id": "e"}


def test_event_ids_count_up() -> None:
    ids = ev.EventIds()
    assert [ids.next(), ids.next()] == ["evt_1", "evt_2"]


# ---------------------------------------------------------------------- images
def test_encode_png_writes_a_valid_png() -> None:
    data = encode_png(3, 2, (1, 2, 3))
    assert sniff_image_type(data) == "image/png"
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    assert (width, height, depth, colour) == (3, 2, 8, 2)
    idat_length = struct.unpack(">I", data[33:37])[0]
    raw = zlib.decompress(data[41 : 41 + idat_length])
    assert raw == (b"\x00" + bytes([1, 2, 3]) * 3) * 2


def test_data_urls_use_the_sniffed_type() -> None:
    assert image_data_url(PNG).startswith("data:image/png;base64,iVBORw0KGgo")
    assert image_data_url(JPEG).startswith("data:image/jpeg;base64,/9j/")


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"GIF89a" + bytes(10), "a GIF file"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "a WebP file"),
        (b"hello world", "not an image"),
        (b"", "is empty"),
    ],
)
def test_non_png_jpeg_data_is_refused_clearly(data: bytes, fragment: str) -> None:
    with pytest.raises(UsageError, match=fragment):
        load_image(data)


def test_unreadable_paths_are_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(UsageError, match="is a directory"):
        load_image(tmp_path)


def test_encode_png_needs_a_size() -> None:
    with pytest.raises(UsageError):
        encode_png(0, 1)


# -------------------------------------------------------------------- settings
def test_backoff_doubles_up_to_the_cap() -> None:
    policy = ReconnectPolicy(initial_delay=0.5, max_delay=3.0, jitter=0.0)
    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    jittery = ReconnectPolicy(initial_delay=1.0, jitter=0.5)
    assert jittery.delay(1, rand=lambda: 1.0) == 1.5


@pytest.mark.parametrize("code", [3000, 4000, 4004, 4999])
def test_permanent_closes_are_never_retried(code: int) -> None:
    policy = ReconnectPolicy()
    assert not policy.should_retry(code)
    assert not policy.should_retry(code, session_expired=True)


@pytest.mark.parametrize("code", [1001, 1006, 1011, 1012, 1013])
def test_server_side_ends_are_retried(code: int) -> None:
    assert ReconnectPolicy().should_retry(code)


def test_a_normal_close_is_retried_only_after_session_expired() -> None:
    assert not ReconnectPolicy().should_retry(1000)
    assert ReconnectPolicy().should_retry(1000, session_expired=True)


@pytest.mark.parametrize(
    "make",
    [
        lambda: ReconnectPolicy(max_attempts=0),
        lambda: ReconnectPolicy(initial_delay=0),
        lambda: ReconnectPolicy(jitter=2),
        lambda: ReconnectPolicy(multiplier=0.5),
        lambda: ClientSettings(ack_timeout=0),
        lambda: ClientSettings(response_timeout=-1),
    ],
)
def test_bad_settings_are_usage_errors(make: object) -> None:
    with pytest.raises(UsageError):
        make()  # type: ignore[operator]


# -------------------------------------------------------------------- endpoint
def test_base_url_becomes_the_realtime_url_like_the_sdk() -> None:
    assert (
        realtime_url_from_base_url("http://127.0.0.1:8000/v1/") == "ws://127.0.0.1:8000/v1/realtime"
    )
    assert realtime_url_from_base_url("https://proxy.test/v1") == "wss://proxy.test/v1/realtime"


def test_endpoint_precedence_argument_env_url_base_url_live() -> None:
    env = {"OPENAI_REALTIME_URL": "ws://a/v1/realtime", "OPENAI_BASE_URL": "http://b/v1"}
    assert resolve_endpoint("ws://x/v1/realtime", environ=env).url_source == "argument"
    assert resolve_endpoint(environ=env).url == "ws://a/v1/realtime"
    assert resolve_endpoint(environ={"OPENAI_BASE_URL": "http://b/v1"}).url == "ws://b/v1/realtime"
    live = resolve_endpoint(environ={})
    assert live.is_live
    assert live.url == "wss://api.openai.com/v1/realtime"


def test_endpoint_reads_the_named_key_and_hides_it() -> None:
    endpoint = resolve_endpoint(api_key_env="MY_KEY", environ={"MY_KEY": API_KEY})
    assert endpoint.api_key == API_KEY
    assert API_KEY not in repr(endpoint)


# ------------------------------------------------------------------- redaction
@pytest.mark.parametrize(
    "text",
    [
        f"Authorization: Bearer {API_KEY}",
        f"> Sec-WebSocket-Protocol: realtime, openai-insecure-api-key.{API_KEY}",
        f"key was {API_KEY}.",
        "ephemeral ek_68af2cfa1c2c8191b0ad5b3b1e2f7a10 rejected",
    ],
)
def test_keys_are_redacted(text: str) -> None:
    cleaned = redact(text)
    assert "SECRET" not in cleaned
    assert "ek_68af" not in cleaned
    assert "***" in cleaned


def test_prose_about_bearer_tokens_is_left_alone() -> None:
    text = "Missing bearer or basic authentication in header"
    assert redact(text) == text


def test_a_known_secret_is_redacted_even_if_not_key_shaped() -> None:
    assert redact("token=hunter2hunter2", ["hunter2hunter2"]) == "token=***"


def test_the_logging_filter_redacts_formatted_records() -> None:
    record = logging.LogRecord(
        "x", logging.DEBUG, "f", 1, "> %s: %s", ("Authorization", f"Bearer {API_KEY}"), None
    )
    assert RedactingFilter().filter(record)
    assert record.getMessage() == "> Authorization: Bearer ***"
