"""`POST /v1/realtime/calls` and `.../hangup` at the REST handler (sans-I/O, no aiortc):
what is checked before a WebRTC stack sees the offer."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import orjson
import pytest

from mock_server.calls import CallRegistry
from mock_server.config import MockConfig
from mock_server.rest import CallOffer, HttpRequest, HttpResponse, RestHandler

KEY = "sk-test-calls-0001"
AUTH = ("Authorization", f"Bearer {KEY}")
CALLS = "/v1/realtime/calls"
OFFER = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
    "a=fingerprint:sha-256 AB:CD\r\na=sctp-port:5000\r\n"
)
BOUNDARY = "----calls-test"


def multipart(**parts: str) -> tuple[tuple[str, str], bytes]:
    """A multipart/form-data body (as the SDK's and fetch's FormData make it)."""
    chunks = []
    for name, value in parts.items():
        kind = "application/sdp" if name == "sdp" else "application/json"
        chunks.append(
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n'
            f"Content-Type: {kind}\r\n\r\n{value}\r\n"
        )
    body = "".join(chunks) + f"--{BOUNDARY}--\r\n"
    return ("Content-Type", f"multipart/form-data; boundary={BOUNDARY}"), body.encode()


def offer_of(handler: RestHandler, headers: Any, body: bytes) -> CallOffer | HttpResponse:
    return handler.call_offer(HttpRequest("POST", CALLS, tuple(headers), body), CALLS)


def error(answer: CallOffer | HttpResponse) -> dict[str, Any]:
    assert isinstance(answer, HttpResponse), answer
    assert answer.status >= 400
    body = answer.json["error"]
    assert set(body) == {"message", "type", "param", "code"}
    return dict(body)


def minted(handler: RestHandler, session: dict[str, Any]) -> str:
    body = orjson.dumps({"session": session})
    answer = handler.handle(HttpRequest("POST", "/v1/realtime/client_secrets", (AUTH,), body))
    assert answer.status == 200, answer.json
    return str(answer.json["value"])


def test_multipart_with_a_standard_key_carries_the_session_and_its_model() -> None:
    handler = RestHandler(calls=CallRegistry())
    session = {"type": "realtime", "model": "gpt-realtime-mini", "instructions": "Be brief."}
    content_type, body = multipart(sdp=OFFER, session=json.dumps(session))
    offer = offer_of(handler, [AUTH, content_type], body)
    assert isinstance(offer, CallOffer)
    assert offer.sdp == OFFER
    assert offer.session == session
    assert offer.call_id.startswith("rtc_")
    assert len(offer.call_id) == 4 + 32
    assert offer.location == f"/v1/realtime/calls/{offer.call_id}"
    assert offer.request.model == "gpt-realtime-mini"
    assert offer.request.call_id == offer.call_id
    assert offer.request.api_key == KEY


def test_raw_sdp_with_a_client_secret_uses_its_model_once() -> None:
    handler = RestHandler(calls=CallRegistry())
    key = minted(handler, {"type": "realtime", "model": "gpt-realtime-mini"})
    headers = [("Authorization", f"Bearer {key}"), ("Content-Type", "application/sdp")]
    offer = offer_of(handler, headers, OFFER.encode())
    assert isinstance(offer, CallOffer)
    assert offer.session is None  # the secret's own configuration applies at connect
    assert offer.request.model == "gpt-realtime-mini"
    again = error(offer_of(handler, headers, OFFER.encode()))
    assert again["code"] == "invalid_api_key"  # live: a re-used secret gets 401 (catalog 17)
    assert "already used" in again["message"]
    assert key not in again["message"]


def test_a_call_without_a_session_runs_on_gpt_realtime() -> None:
    offer = offer_of(RestHandler(), [AUTH, ("Content-Type", "application/sdp")], OFFER.encode())
    assert isinstance(offer, CallOffer)
    assert offer.request.model == "gpt-realtime"


def test_keys_are_checked_as_at_connect() -> None:
    handler = RestHandler(MockConfig(api_keys=(KEY,)), calls=CallRegistry())
    sdp = ("Content-Type", "application/sdp")
    missing = offer_of(handler, [sdp], OFFER.encode())
    assert isinstance(missing, HttpResponse)
    assert missing.status == 401
    wrong = offer_of(handler, [("Authorization", "Bearer sk-wrong-key-000"), sdp], OFFER.encode())
    assert isinstance(wrong, HttpResponse)
    assert (wrong.status, error(wrong)["code"]) == (401, "invalid_api_key")
    forged = offer_of(handler, [("Authorization", "Bearer ek_m1forged"), sdp], OFFER.encode())
    assert isinstance(forged, HttpResponse)
    assert forged.status == 401


def test_bad_bodies_get_the_error_shape_with_the_param() -> None:
    handler = RestHandler()
    sdp = ("Content-Type", "application/sdp")
    cases = [
        ([AUTH, ("Content-Type", "application/json")], b"{}", (None, "unsupported_content_type")),
        ([AUTH, sdp], b"hello", ("sdp", "invalid_offer")),
        ([AUTH, sdp], b"v=0\r\ns=-\r\n", ("sdp", "invalid_offer")),
        ([AUTH, *[multipart(session="{}")[0]]], multipart(session="{}")[1], ("sdp", None)),
    ]
    for headers, body, (param, code) in cases:
        found = error(offer_of(handler, headers, body))
        assert found["param"] == param, found
        if code is not None:
            assert found["code"] == code, found
    content_type, body = multipart(sdp=OFFER, session="{not json")
    assert error(offer_of(handler, [AUTH, content_type], body))["param"] == "session"
    content_type, body = multipart(sdp=OFFER, session='{"type": "realtime", "voice": 7}')
    found = error(offer_of(handler, [AUTH, content_type], body))
    assert found["param"] is not None
    assert found["param"].startswith("session.")
    content_type, body = multipart(sdp=OFFER, session='{"type": "transcription"}')
    found = error(offer_of(handler, [AUTH, content_type], body))
    assert (found["param"], found["code"]) == ("session.type", "invalid_value")
    content_type, body = multipart(sdp=OFFER, extra="1")
    found = error(offer_of(handler, [AUTH, content_type], body))
    assert (found["param"], found["code"]) == ("extra", "unknown_parameter")
    content_type, body = multipart(sdp=OFFER, session='{"type": "realtime", "model": "gpt-4o"}')
    assert error(offer_of(handler, [AUTH, content_type], body))["code"] == "invalid_model"


def test_without_a_webrtc_backend_the_answer_names_the_extra() -> None:
    handler = RestHandler()
    request = HttpRequest(
        "POST", CALLS, (AUTH, ("Content-Type", "application/sdp")), OFFER.encode()
    )
    assert handler.is_async(request)
    answer = asyncio.run(handler.handle_async(request))
    assert answer.status == 501
    found = error(answer)
    assert found["code"] == "webrtc_unavailable"
    assert "pip install 'realtime-conformance[webrtc]'" in found["message"]
    # other requests are answered by `handle` (no coroutine on the usual path)
    other = HttpRequest("POST", "/v1/realtime/client_secrets", (AUTH,), b"{}")
    assert not handler.is_async(other)


def test_hangup_ends_a_known_call_and_404s_an_unknown_one() -> None:
    calls = CallRegistry()
    handler = RestHandler(calls=calls)
    call = calls.create("webrtc")
    path = f"{CALLS}/{call.call_id}/hangup"
    answer = handler.handle(HttpRequest("POST", path, (AUTH,)))
    assert (answer.status, answer.body) == (200, b"")
    assert (call.state, call.end_reason) == ("ended", "hangup")
    assert handler.handle(HttpRequest("POST", path, (AUTH,))).status == 200  # already ended
    unknown = handler.handle(HttpRequest("POST", f"{CALLS}/rtc_nope/hangup", (AUTH,)))
    assert (unknown.status, error(unknown)["code"]) == (404, "call_not_found")
    ephemeral = handler.handle(
        HttpRequest("POST", path, (("Authorization", "Bearer ek_1234567890"),))
    )
    assert ephemeral.status == 401
    other = handler.handle(HttpRequest("POST", f"{CALLS}/{call.call_id}/dance", (AUTH,)))
    assert other.status == 404


async def test_a_server_without_aiortc_answers_calls_with_the_extras_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import httpx

    from mock_server import _webrtc, serve

    monkeypatch.setattr(_webrtc, "AVAILABLE", False)
    async with serve(pace="fast") as server, httpx.AsyncClient(base_url=server.base_url) as http:
        headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/sdp"}
        answer = await http.post("/realtime/calls", content=OFFER, headers=headers)
    assert answer.status_code == 501
    assert answer.json()["error"]["code"] == "webrtc_unavailable"
    assert "realtime-conformance[webrtc]" in answer.json()["error"]["message"]
