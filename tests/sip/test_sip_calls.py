"""The SIP control plane end to end, on 127.0.0.1: a simulated incoming call's signed
webhook verified by a receiver with the official SDK's Standard Webhooks verifier, then
accept / reject / refer / hangup through the official SDK, with their body validation
and state changes, and the accepted call driven through a sideband WebSocket (session
created, DTMF digits from the scenario, the close when the call ends)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from conformance.protocol.errors import UsageError
from mock_server.scenarios import load_scenario
from mock_server.server import MockServer, serve

from .receiver import Received, Receiver

pytestmark = pytest.mark.integration

SECRET = "whsec_" + base64.b64encode(b"sip-test-key-0123456789abcdefghij").decode()
KEY = "sk-test"
AUTH = {"Authorization": f"Bearer {KEY}"}
WAIT = 5.0
DTMF = "input_audio_buffer.dtmf_event_received"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver() as running:
        yield running


@pytest.fixture
async def mock(receiver: Receiver) -> AsyncIterator[MockServer]:
    async with serve(
        pace="fast", webhook_url=receiver.url, webhook_secret=SECRET, close_timeout=1.0
    ) as server:
        yield server


def sdk(server: MockServer) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key=KEY, base_url=server.base_url, max_retries=0)


async def incoming(server: MockServer, **options: Any) -> tuple[int, dict[str, Any]]:
    """POST the mock-only trigger; (status, JSON answer)."""
    url = f"http://{server.host}:{server.port}/mock/sip/incoming"
    async with httpx.AsyncClient(timeout=WAIT) as client:
        answer = await client.post(url, json=options) if options else await client.post(url)
    return answer.status_code, answer.json()


async def ringing_call(server: MockServer, **options: Any) -> str:
    status, answer = await incoming(server, **options)
    assert status == 201, answer
    return str(answer["call_id"])


async def sideband(server: MockServer, call_id: str) -> ClientConnection:
    return await connect(f"{server.url}?call_id={call_id}", additional_headers=AUTH)


async def events_until(ws: ClientConnection, kind: str, *, count: int = 1) -> list[dict[str, Any]]:
    """Every event received until the `count`-th of type `kind` (bounded)."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(WAIT):
        while sum(e["type"] == kind for e in seen) < count:
            seen.append(json.loads(await ws.recv()))
    return seen


async def closed(ws: ClientConnection) -> ConnectionClosed:
    async with asyncio.timeout(WAIT):
        try:
            while True:
                await ws.recv()
        except ConnectionClosed as exc:
            return exc


def error_of(exc: openai.APIStatusError) -> dict[str, Any]:
    body = exc.body
    assert isinstance(body, dict), body
    return body if "code" in body else body["error"]


# ------------------------------------------------------------------ the webhook
async def test_the_incoming_call_webhook_verifies_with_the_sdk_and_carries_the_sip_headers(
    mock: MockServer, receiver: Receiver
) -> None:
    status, answer = await incoming(mock, scenario="sip-basic")
    assert status == 201
    assert answer["webhook"]["delivered"] is True
    [request] = receiver.requests  # delivered before the trigger answered
    event = openai.OpenAI(api_key=KEY, webhook_secret=SECRET).webhooks.unwrap(
        request.body, request.headers
    )
    assert event.type == "realtime.call.incoming"
    assert event.data.call_id == answer["call_id"]
    assert event.data.call_id.startswith("rtc_")
    assert len(event.data.call_id) == 36
    expected = [{"name": n, "value": v} for n, v in load_scenario("sip-basic").sip_headers]
    assert [h.model_dump() for h in event.data.sip_headers] == expected
    assert any(h["name"] == "X-Customer-Id" for h in expected)
    # an independent check of the signature: HMAC-SHA256 over id.timestamp.body
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    signed = f"{request.headers['webhook-id']}.{request.headers['webhook-timestamp']}.".encode()
    digest = hmac.new(key, signed + request.body, hashlib.sha256).digest()
    assert request.headers["webhook-signature"] == "v1," + base64.b64encode(digest).decode()
    body = json.loads(request.body)
    assert set(body) == {"object", "id", "type", "created_at", "data"}
    assert body["object"] == "event"
    assert body["id"].startswith("evt_")
    assert mock.calls.get(answer["call_id"]).state == "ringing"  # type: ignore[union-attr]


async def test_the_trigger_takes_its_own_headers_and_reports_a_failed_delivery(
    receiver: Receiver,
) -> None:
    receiver.script = [500, 503]
    config = {"webhook_url": receiver.url, "webhook_secret": SECRET, "webhook_retries": 1}
    async with serve(pace="fast", **config) as server:
        headers = [{"name": "From", "value": "<sip:+15550001@example.test>"}]
        status, answer = await incoming(server, sip_headers=headers)
        assert status == 201
        assert answer["sip_headers"] == headers
        assert answer["webhook"]["delivered"] is False
        assert [a["status"] for a in answer["webhook"]["attempts"]] == [500, 503]
        assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
        status, problem = await incoming(server, sip_headers=[{"name": "From"}])
        assert (status, problem["error"]["param"]) == (400, "sip_headers")
        status, problem = await incoming(server, scenario="sip-basik")
        assert status == 400
        assert "did you mean 'sip-basic'" in problem["error"]["message"]
        status, problem = await incoming(server, caller="x")
        assert (status, problem["error"]["code"]) == (400, "unknown_parameter")


async def test_without_a_secret_the_mock_says_how_to_give_one(receiver: Receiver) -> None:
    with pytest.raises(UsageError, match="--webhook-secret"):
        MockServer(pace="fast", port=0, webhook_url=receiver.url)  # refused before it listens
    with pytest.raises(UsageError, match="whsec_"):
        MockServer(pace="fast", port=0, webhook_secret="whsec_not base64!")
    async with serve(pace="fast") as server:  # no URL, no secret: a URL per call fails
        status, problem = await incoming(server, webhook_url=receiver.url)
        assert status == 400
        assert problem["error"]["code"] == "webhook_secret_missing"
        assert "--webhook-secret" in problem["error"]["message"]
        assert not any(call.live for call in server.calls)  # the call it made ended
        status, answer = await incoming(server)  # no URL at all: a call, no webhook
        assert (status, answer["webhook"]) == (201, None)
        assert server.calls.get(answer["call_id"]).state == "ringing"  # type: ignore[union-attr]
    assert receiver.requests == []


async def test_a_back_end_may_accept_the_call_inside_its_webhook_handler(
    mock: MockServer, receiver: Receiver
) -> None:
    async def accept_then_answer(request: Received) -> None:
        call_id = json.loads(request.body)["data"]["call_id"]
        await sdk(mock).realtime.calls.accept(call_id, type="realtime", model="gpt-realtime")

    receiver.on_request = accept_then_answer
    call_id = await ringing_call(mock)
    assert mock.calls.get(call_id).state == "active"  # type: ignore[union-attr]


# ------------------------------------------------------------------ call control
async def test_accept_validates_its_body_and_starts_a_g711_session_for_the_sideband(
    mock: MockServer,
) -> None:
    call_id = await ringing_call(mock, scenario="sip-basic")
    client = sdk(mock)
    with pytest.raises(openai.BadRequestError) as missing:
        await client.post(
            f"/realtime/calls/{call_id}/accept",
            body={"model": "gpt-realtime"},
            cast_to=httpx.Response,
        )
    assert (error_of(missing.value)["code"], error_of(missing.value)["param"]) == (
        "missing_required_parameter",
        "type",
    )
    with pytest.raises(openai.BadRequestError) as unknown:
        await client.realtime.calls.accept(
            call_id, type="realtime", extra_body={"modalities": ["audio"]}
        )
    assert error_of(unknown.value)["param"] == "modalities"
    with pytest.raises(openai.BadRequestError) as model:
        await client.realtime.calls.accept(call_id, type="realtime", model="gpt-nope")
    assert error_of(model.value)["code"] == "invalid_model"
    assert mock.calls.get(call_id).state == "ringing"  # type: ignore[union-attr]

    await client.realtime.calls.accept(
        call_id, type="realtime", model="gpt-realtime", instructions="Answer the phone."
    )
    assert mock.calls.get(call_id).state == "active"  # type: ignore[union-attr]
    with pytest.raises(openai.BadRequestError) as twice:
        await client.realtime.calls.accept(call_id, type="realtime")
    assert error_of(twice.value)["code"] == "call_state_invalid"
    with pytest.raises(openai.BadRequestError):
        await client.realtime.calls.reject(call_id)  # only an incoming call

    ws = await sideband(mock, call_id)
    try:
        first = await events_until(ws, DTMF)  # the scenario's "1", 500 ms in
        assert first[0]["type"] == "session.created"
        session = first[0]["session"]
        assert session["instructions"] == "Answer the phone."
        assert session["audio"]["input"]["format"] == {"type": "audio/pcmu"}
        assert session["audio"]["output"]["format"] == {"type": "audio/pcmu"}
        assert first[-1] == {"type": DTMF, "event": "1", "received_at": first[-1]["received_at"]}
        await ws.send(json.dumps({"type": "response.create"}))
        later = await events_until(ws, DTMF, count=3)
        assert "response.done" in [e["type"] for e in later]
        assert [e["event"] for e in later if e["type"] == DTMF] == ["4", "2", "#"]
    finally:
        await ws.close()


async def test_reject_ends_the_incoming_call_with_its_status(mock: MockServer) -> None:
    client = sdk(mock)
    call_id = await ringing_call(mock)
    with pytest.raises(openai.BadRequestError) as bad:
        await client.post(
            f"/realtime/calls/{call_id}/reject", body={"status_code": "486"}, cast_to=httpx.Response
        )
    assert error_of(bad.value)["code"] == "invalid_type"
    await client.realtime.calls.reject(call_id, status_code=486)
    call = mock.calls.get(call_id)
    assert call is not None
    assert (call.state, call.end_reason, call.extra["status_code"]) == ("ended", "rejected", 486)
    with pytest.raises(openai.BadRequestError) as late:
        await client.realtime.calls.accept(call_id, type="realtime")
    assert error_of(late.value)["code"] == "call_not_active"
    with pytest.raises(InvalidStatus) as refused:
        await sideband(mock, call_id)
    assert refused.value.response.status_code == 404

    other = await ringing_call(mock)
    await client.realtime.calls.reject(other)  # no body: 603 Decline
    assert mock.calls.get(other).extra["status_code"] == 603  # type: ignore[union-attr]


async def test_refer_needs_a_target_and_ends_the_sideband(mock: MockServer) -> None:
    client = sdk(mock)
    call_id = await ringing_call(mock)
    with pytest.raises(openai.BadRequestError) as early:
        await client.realtime.calls.refer(call_id, target_uri="tel:+14155550123")
    assert error_of(early.value)["code"] == "call_state_invalid"  # not answered yet
    await client.realtime.calls.accept(call_id, type="realtime")
    ws = await sideband(mock, call_id)
    await events_until(ws, "session.created")
    with pytest.raises(openai.BadRequestError) as missing:
        await client.post(f"/realtime/calls/{call_id}/refer", body={}, cast_to=httpx.Response)
    assert error_of(missing.value)["param"] == "target_uri"
    await client.realtime.calls.refer(call_id, target_uri="sip:agent@example.com")
    close = await closed(ws)
    call = mock.calls.get(call_id)
    assert call is not None
    assert (call.state, call.end_reason, call.extra["target_uri"]) == (
        "ended",
        "referred",
        "sip:agent@example.com",
    )
    assert (close.rcvd.code, close.rcvd.reason) == (1000, "referred")  # type: ignore[union-attr]


async def test_hangup_ends_the_call_and_closes_its_sideband(mock: MockServer) -> None:
    client = sdk(mock)
    call_id = await ringing_call(mock)
    await client.realtime.calls.accept(call_id, type="realtime")
    ws = await sideband(mock, call_id)
    await events_until(ws, "session.created")
    await client.realtime.calls.hangup(call_id)
    close = await closed(ws)
    assert close.rcvd is not None
    assert close.rcvd.code == 1000
    call = mock.calls.get(call_id)
    assert call is not None
    assert (call.state, call.end_reason) == ("ended", "hangup")
    with pytest.raises(openai.BadRequestError) as after:
        await client.realtime.calls.refer(call_id, target_uri="tel:+14155550123")
    assert error_of(after.value)["code"] == "call_not_active"
    [transcript] = await mock.wait_for_sessions(1, timeout=WAIT)
    assert transcript.meta["transport"] == "sip"


async def test_an_unknown_call_id_is_404_and_a_key_is_required(mock: MockServer) -> None:
    client = sdk(mock)
    for verb in ("accept", "reject", "refer"):
        body = {"type": "realtime"} if verb == "accept" else {"target_uri": "tel:1"}
        with pytest.raises(openai.NotFoundError) as missing:
            await client.post(f"/realtime/calls/rtc_nope/{verb}", body=body, cast_to=httpx.Response)
        assert error_of(missing.value)["code"] == "call_not_found"
    call_id = await ringing_call(mock)
    async with httpx.AsyncClient(timeout=WAIT) as plain:
        url = f"{mock.base_url}/realtime/calls/{call_id}/accept"
        answer = await plain.post(url, json={"type": "realtime"})  # no Authorization
    assert answer.status_code == 401
    assert mock.calls.get(call_id).state == "ringing"  # type: ignore[union-attr]


async def test_from_python_a_call_rings_and_the_server_stopping_ends_its_sideband(
    receiver: Receiver,
) -> None:
    server = await MockServer(
        pace="fast", port=0, close_timeout=1.0, webhook_secret=SECRET
    ).start()  # no webhook URL: ring() is given one
    try:
        call = server.sip.incoming(scenario="sip-basic")  # no webhook yet
        assert call.state == "ringing"
        assert receiver.requests == []
        delivery = await server.sip.ring(call, receiver.url)
        assert delivery is not None
        assert delivery.delivered
        assert server.sip.deliveries == [delivery]
        assert call.extra["webhooks"] == [delivery.as_dict()]
        await sdk(server).realtime.calls.accept(call.call_id, type="realtime")
        ws = await sideband(server, call.call_id)
        await events_until(ws, "session.created")
    finally:
        await server.stop()
    close = await closed(ws)
    assert close.rcvd is not None
    assert close.rcvd.code == 1001
    assert (call.state, call.end_reason) == ("ended", "server_stopped")
