"""`ConnectRequest`: parsing the upgrade request and its helpers."""

from __future__ import annotations

import base64

import pytest

from mock_server.config import MockConfig
from mock_server.request import ConnectRequest

KEY = "sk-proj-abcdefghijklmnopqrstuvwxyz0123"


def test_target_is_split_into_path_and_query() -> None:
    req = ConnectRequest.from_target("/relay/v1/realtime?model=gpt-realtime&intent=&call_id=rtc_1")
    assert req.path == "/relay/v1/realtime"
    assert req.query == {"model": "gpt-realtime", "intent": "", "call_id": "rtc_1"}
    assert (req.model, req.intent, req.call_id) == ("gpt-realtime", None, "rtc_1")


def test_headers_are_kept_as_received_and_looked_up_case_insensitively() -> None:
    headers = [("X-One", "1"), ("x-one", "2"), ("User-Agent", "OpenAI/Python 3.3.1")]
    req = ConnectRequest.from_target("/v1/realtime", headers)
    assert req.headers == tuple(headers)
    assert req.header("USER-AGENT") == "OpenAI/Python 3.3.1"
    assert req.header("x-one") == "1"
    assert req.header_values("X-ONE") == ["1", "2"]
    assert req.header("missing") is None


def test_subprotocols_come_from_every_protocol_header() -> None:
    headers = [
        ("Sec-WebSocket-Protocol", "realtime, openai-insecure-api-key.k1"),
        ("sec-websocket-protocol", "extra"),
    ]
    req = ConnectRequest.from_target("/v1/realtime", headers)
    assert req.subprotocols == ("realtime", "openai-insecure-api-key.k1", "extra")


@pytest.mark.parametrize(
    ("headers", "subprotocols", "expected"),
    [
        ([("Authorization", f"Bearer {KEY}")], (), KEY),
        ([("authorization", f"bearer   {KEY}")], (), KEY),
        ([], ("realtime", f"openai-insecure-api-key.{KEY}"), KEY),
        (
            [("Authorization", "Bearer header-key")],
            (f"openai-insecure-api-key.{KEY}",),
            "header-key",
        ),
        ([("Authorization", "Bearer ")], (), None),
        ([("Authorization", "Token abc")], (), None),
        ([("Authorization", "Basic " + base64.b64encode(b"user:pw-key").decode())], (), "pw-key"),
        ([], ("openai-insecure-api-key.",), None),
        ([], (), None),
    ],
)
def test_api_key_comes_from_bearer_basic_or_subprotocol(
    headers: list[tuple[str, str]], subprotocols: tuple[str, ...], expected: str | None
) -> None:
    req = ConnectRequest.from_target("/v1/realtime", headers, subprotocols=subprotocols)
    assert req.api_key == expected


@pytest.mark.parametrize(
    ("headers", "subprotocols", "expected"),
    [
        ([("OpenAI-Beta", "realtime=v1")], (), True),
        ([("openai-beta", "assistants=v2, realtime=v1")], (), True),
        ([("OpenAI-Beta", "assistants=v2")], (), False),
        ([], ("realtime", "openai-beta.realtime-v1"), True),
        ([], ("realtime",), False),
    ],
)
def test_beta_is_requested_by_header_or_subprotocol(
    headers: list[tuple[str, str]], subprotocols: tuple[str, ...], expected: bool
) -> None:
    req = ConnectRequest.from_target("/v1/realtime", headers, subprotocols=subprotocols)
    assert req.beta_requested is expected


def test_new_transcript_has_redacted_meta_and_knows_the_secrets() -> None:
    req = ConnectRequest.from_target(
        "/v1/realtime?model=gpt-realtime&api_key=secret-in-query",
        [
            ("Authorization", f"Bearer {KEY}"),
            ("Sec-WebSocket-Protocol", f"realtime, openai-insecure-api-key.{KEY}"),
        ],
    )
    transcript = req.new_transcript(MockConfig(api_keys=("configured-key-123",), scenario="s1"))
    meta = transcript.meta
    assert meta["path"] == "/v1/realtime"
    assert meta["model"] == "gpt-realtime"
    assert meta["scenario"] == "s1"
    assert meta["query"]["api_key"] == "[REDACTED]"
    assert KEY not in repr(meta)
    assert ["Authorization", "Bearer [REDACTED]"] in meta["headers"]
    assert "openai-insecure-api-key.[REDACTED]" in meta["subprotocols"]
    transcript.add_text("client", '{"note": "configured-key-123 and ' + KEY + '"}', 1.0)
    written = transcript.to_jsonl()
    assert "configured-key-123" not in written
    assert KEY not in written
