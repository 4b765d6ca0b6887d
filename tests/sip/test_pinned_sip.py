"""Pins for SIP calls, their webhooks and the call registry (mock_server/sip.py,
webhooks.py, calls.py), found by `scripts/mutate.py`: each test fails on a one-token bug
the other SIP tests let through. In memory: no socket is opened."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from conformance.protocol.errors import UsageError
from mock_server.calls import CallRegistry
from mock_server.rest import HttpRequest
from mock_server.sip import SipCalls
from mock_server.webhooks import RetryPolicy, deliver, post_once
from tests.mock_server.test_pinned_rest import AUTH, _SipServer

SECRET = "whsec_" + "c2VjcmV0LWtleS1mb3ItdGVzdHM="


async def test_a_webhook_url_that_is_not_http_fails_before_anything_is_posted() -> None:
    posted: list[str] = []

    async def poster(url: str, headers: Sequence[tuple[str, str]], body: bytes, t: float) -> int:
        posted.append(url)
        return 200

    with pytest.raises(UsageError, match="webhook URL"):
        await deliver("ftp://hooks.example/in", b"{}", SECRET, post=poster)
    assert posted == []


async def test_a_webhook_url_without_a_port_is_posted_to_port_80_or_443(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Where the stdlib poster connects: the URL's port, else the scheme's own."""
    opened: list[tuple[str, int, bool]] = []

    async def open_connection(host: str, port: int, *, ssl: Any = None) -> Any:
        opened.append((host, port, ssl is not None))
        raise ConnectionRefusedError("not connecting in a test")

    monkeypatch.setattr(asyncio, "open_connection", open_connection)
    for url in ("http://hooks.example/in", "https://hooks.example/in", "http://h.example:8080/"):
        with pytest.raises(ConnectionRefusedError):
            await post_once(url, (), b"{}", 1.0)
    assert opened == [
        ("hooks.example", 80, False),
        ("hooks.example", 443, True),
        ("h.example", 8080, False),
    ]
    policy = RetryPolicy(attempts=1, timeout=1.0)
    refused = await deliver("http://hooks.example/in", b"{}", SECRET, policy=policy)
    assert not refused.delivered
    assert refused.attempts[0].error is not None
    assert "ConnectionRefusedError" in refused.attempts[0].error


@pytest.mark.parametrize("verb", ["accept", "reject", "refer"])
def test_a_sip_verb_on_a_webrtc_call_is_a_400_call_state_invalid(verb: str) -> None:
    server = _SipServer()
    sip = SipCalls(server)
    sip.install()
    call = server.calls.create("webrtc")
    request = HttpRequest("POST", f"/v1/realtime/calls/{call.call_id}/{verb}", (AUTH,), b"{}")
    answer = getattr(sip, verb)(request, call.call_id)
    assert answer.status == 400, answer.json
    error = answer.json["error"]
    assert error["code"] == "call_state_invalid"
    assert "it is a WebRTC call" in error["message"]
    assert call.live  # nothing happened to it


def test_the_registry_remembers_the_last_1000_ended_calls() -> None:
    calls = CallRegistry()
    ids = [calls.create("sip").call_id for _ in range(1001)]
    for call_id in ids:
        calls.end(call_id, "hangup")
    assert calls.get(ids[0]) is None  # the oldest ended call is forgotten
    remembered = calls.get(ids[1])
    assert remembered is not None
    assert remembered.end_reason == "hangup"
    assert len(calls) == 1000


async def test_waiting_for_a_call_state_that_never_comes_times_out_saying_the_state() -> None:
    calls = CallRegistry()
    call = calls.create("sip", state="ringing")
    with pytest.raises(
        TimeoutError, match=r"did not become ended within 0\.05 s \(it is ringing\)"
    ):
        await calls.wait_for(call.call_id, "ended", timeout=0.05)


async def test_waiting_for_a_call_state_returns_when_the_call_gets_there() -> None:
    calls = CallRegistry()
    call = calls.create("sip", state="ringing")
    async with asyncio.timeout(5.0):
        waiter = asyncio.create_task(calls.wait_for(call.call_id, "active", timeout=5.0))
        await asyncio.sleep(0)  # one turn: the waiter runs until it parks on the event
        assert calls._changed is not None
        calls.set_state(call, "active")
        assert await waiter is call


async def test_a_delivery_without_a_policy_uses_the_default_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Four attempts (the first and three retries), the default delays between them."""
    statuses = iter([503, 503, 503, 200, 200])

    async def poster(url: str, headers: Sequence[tuple[str, str]], body: bytes, t: float) -> int:
        assert t == RetryPolicy().timeout
        return next(statuses)

    original = asyncio.sleep
    slept: list[float] = []

    async def no_wait(delay: float) -> None:
        slept.append(delay)
        await original(0)

    monkeypatch.setattr(asyncio, "sleep", no_wait)  # the delays are recorded
    delivery = await deliver("http://hooks.example/in", b"{}", SECRET, post=poster)
    monkeypatch.undo()
    assert [a.status for a in delivery.attempts] == [503, 503, 503, 200]  # four attempts
    assert delivery.delivered
    assert slept == [RetryPolicy().delay_before(n) for n in (2, 3, 4)]
