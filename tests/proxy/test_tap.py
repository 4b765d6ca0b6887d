"""The proxy's sans-I/O parts: the tap (validation, drift, transcript) and the HTTP heads."""

from __future__ import annotations

import json

import pytest

from conformance.protocol.errors import UsageError
from conformance.proxy import Tap, Upstream
from conformance.proxy.http import (
    HeadError,
    is_upgrade,
    parse_head,
    request_head,
    response_head,
    split_head,
    upstream_target,
)
from conformance.proxy.tap import MAX_DRIFT

KEY = "sk-taptest-0123456789abcdef"
CREATED = json.dumps(
    {
        "type": "session.created",
        "event_id": "event_1",
        "session": {"type": "realtime", "object": "realtime.session", "id": "sess_TAP1"},
    }
)


def tap(path: str = "/v1/realtime") -> Tap:
    return Tap.begin(
        path=path,
        query={"model": "gpt-realtime"},
        headers=[("Authorization", f"Bearer {KEY}")],
        subprotocols=["realtime", f"openai-insecure-api-key.{KEY}"],
        secrets=[KEY],
        upstream="wss://api.openai.com",
    )


def test_meta_holds_the_request_with_every_key_masked() -> None:
    t = tap()
    meta = t.transcript.meta
    assert meta["recorded_by"] == "proxy"
    assert meta["upstream"] == "wss://api.openai.com"
    assert meta["model"] == "gpt-realtime"
    assert KEY not in t.transcript.to_jsonl()


def test_the_session_id_is_in_meta_before_the_first_frame_is_added() -> None:
    t = tap()
    seen = []
    t.transcript.on_append = lambda: seen.append(t.transcript.meta.get("session_id"))
    t.text("server", CREATED, 1.0)
    assert seen == ["sess_TAP1"]  # a recorder writing the meta line with it names it


def test_a_client_event_is_judged_as_the_live_server_judges_it() -> None:
    t = tap()
    t.text("server", CREATED, 1.0)
    good = t.text("client", '{"type":"input_audio_buffer.clear"}', 2.0)
    bad = t.text("client", '{"type":"session.update","session":{"modalities":["text"]}}', 3.0)
    not_json = t.text("client", "{oops", 4.0)
    assert good == ()
    assert bad
    assert [f.code for f in not_json] == ["invalid_json"]
    assert t.client_findings == 2
    assert t.transcript.records[2].findings == bad


def test_an_unknown_server_type_or_field_is_drift_and_the_event_still_applies() -> None:
    t = tap()
    t.text("server", CREATED, 1.0)
    t.text("server", '{"type":"response.future.delta","event_id":"e2"}', 2.0)
    cleared = {"type": "input_audio_buffer.cleared", "event_id": "e3", "x_new": 1}
    t.text("server", json.dumps(cleared), 3.0)
    assert [(d.event_type, d.code, d.param) for d in t.drift] == [
        ("response.future.delta", "invalid_value", "type"),
        ("input_audio_buffer.cleared", "unknown_parameter", "x_new"),
    ]
    assert "Supported values" not in t.drift[0].message  # named, not the list of 46
    assert t.drift[0].line().startswith("drift: frame #1 (response.future.delta) at type:")


def test_binary_frames_are_findings_on_both_sides() -> None:
    t = tap()
    assert t.binary("client", b"\x00\x01", 1.0)
    assert t.binary("server", b"\x02", 2.0)
    assert [d.code for d in t.drift] == ["binary_frame"]
    assert [r.kind for r in t.transcript.records] == ["binary", "binary"]


def test_invalid_utf8_is_kept_replaced_and_noted() -> None:
    t = tap()
    findings = t.text_bytes("client", b'{"type":"\xff"}', 1.0)
    assert findings[0].code == "invalid_utf8"
    assert "\ufffd" in (t.transcript.records[0].text or "")


def test_drift_is_bounded_but_counted() -> None:
    t = tap()
    for index in range(MAX_DRIFT + 50):
        t.text("server", json.dumps({"type": f"new.type.{index}"}), float(index))
    assert len(t.drift) == MAX_DRIFT
    assert t.drift_count == MAX_DRIFT + 50


def test_the_end_is_recorded_once() -> None:
    t = tap()
    t.close("server", 4000, "invalid_request_error.x", 1.0)
    t.drop("client", 2.0)
    t.rejected(403, "", 3.0)
    ends = [(r.direction, r.kind, r.code) for r in t.transcript.records]
    assert ends == [("server", "close", 4000)]


def test_a_translation_session_is_judged_with_the_translation_schemas() -> None:
    t = tap("/v1/realtime/translations")
    findings = t.text("client", '{"type":"response.create"}', 1.0)
    assert findings  # not a translation client event


# --- HTTP heads and the upstream URL ----------------------------------------------------


def test_a_head_is_split_parsed_and_recognised() -> None:
    raw = b"GET /v1/realtime?model=m HTTP/1.1\r\nHost: x\r\nUpgrade: WebSocket\r\n\r\nrest"
    split = split_head(raw)
    assert split is not None
    head = parse_head(split[0])
    assert split[1] == b"rest"
    assert head.start == ("GET", "/v1/realtime?model=m", "HTTP/1.1")
    assert head.get("upgrade") == "WebSocket"
    assert is_upgrade(head)
    assert split_head(b"GET / HTTP/1.1\r\nHost: x\r\n") is None
    with pytest.raises(HeadError):
        split_head(b"x" * 70_000)
    with pytest.raises(HeadError):
        parse_head(b"NONSENSE\r\n\r\n")


def test_a_rest_request_head_is_rewritten_for_the_upstream() -> None:
    head = parse_head(
        b"POST /v1/realtime/calls HTTP/1.1\r\nHost: 127.0.0.1:8766\r\nConnection: keep-alive\r\n"
        b"Authorization: Bearer sk-dummy\r\nContent-Length: 2\r\n\r\n"
    )
    out = request_head(head, host="api.openai.com", prefix="", api_key=KEY).decode()
    assert out.startswith("POST /v1/realtime/calls HTTP/1.1\r\nHost: api.openai.com\r\n")
    assert f"Authorization: Bearer {KEY}" in out
    assert "sk-dummy" not in out
    assert "keep-alive" not in out
    assert out.endswith("Content-Length: 2\r\nConnection: close\r\n\r\n")
    answer = response_head(parse_head(b"HTTP/1.1 200 OK\r\nKeep-Alive: 5\r\nX-Id: 1\r\n\r\n"))
    assert answer == b"HTTP/1.1 200 OK\r\nX-Id: 1\r\nConnection: close\r\n\r\n"


@pytest.mark.parametrize(
    ("prefix", "target", "expected"),
    [
        ("", "/v1/realtime?model=m", "/v1/realtime?model=m"),
        ("/v1", "/v1/realtime?model=m", "/v1/realtime?model=m"),
        ("/relay", "/v1/realtime", "/relay/v1/realtime"),
    ],
)
def test_the_upstream_path_takes_a_prefix_once(prefix: str, target: str, expected: str) -> None:
    assert upstream_target(prefix, target) == expected


def test_upstream_urls() -> None:
    live = Upstream.parse("wss://api.openai.com")
    assert (live.secure, live.host, live.port, live.prefix) == (True, "api.openai.com", 443, "")
    assert live.ws_url("/v1/realtime?model=m") == "wss://api.openai.com/v1/realtime?model=m"
    base = Upstream.parse("https://api.openai.com/v1")
    assert base.ws_url("/v1/realtime") == "wss://api.openai.com/v1/realtime"
    mock = Upstream.parse("ws://127.0.0.1:8765")
    assert mock.ws_url("/v1/realtime") == "ws://127.0.0.1:8765/v1/realtime"
    for bad in ("api.openai.com", "ftp://x", "wss://api.openai.com/v1/realtime", "ws://h?x=1"):
        with pytest.raises(UsageError):
            Upstream.parse(bad)
