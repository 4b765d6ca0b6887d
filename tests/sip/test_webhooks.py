"""Webhook signing (Standard Webhooks, as OpenAI signs) and bounded delivery.

The signature is checked by the official SDK's verifier (`client.webhooks.unwrap`) and by
an independent HMAC computed here; delivery goes to a real receiver on 127.0.0.1.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import openai
import pytest

from conformance.protocol.errors import UsageError
from mock_server import webhooks
from mock_server.webhooks import RetryPolicy, deliver, sign, signed_headers

from .receiver import Receiver

KEY = bytes(range(32))
SECRET = "whsec_" + base64.b64encode(KEY).decode()
BODY = (
    b'{"object":"event","id":"evt_1","type":"realtime.call.incoming","created_at":1,'
    b'"data":{"call_id":"rtc_1","sip_headers":[]}}'
)
FAST = RetryPolicy(attempts=3, first_delay=0.01, max_delay=0.02, timeout=2.0)


def test_the_signature_is_v1_base64_of_the_hmac_of_id_timestamp_and_body() -> None:
    expected = hmac.new(KEY, b"wh_1.1750287078." + BODY, hashlib.sha256).digest()
    assert sign(SECRET, "wh_1", 1750287078, BODY) == "v1," + base64.b64encode(expected).decode()


def test_the_official_sdk_verifies_and_unwraps_what_the_mock_signs() -> None:
    now = int(time.time())
    headers = dict(signed_headers(SECRET, "wh_abc", now, BODY))
    event = openai.OpenAI(api_key="sk-test", webhook_secret=SECRET).webhooks.unwrap(BODY, headers)
    assert event.type == "realtime.call.incoming"
    assert event.data.call_id == "rtc_1"


def test_the_sdk_refuses_a_tampered_body_and_a_wrong_secret() -> None:
    now = int(time.time())
    headers = dict(signed_headers(SECRET, "wh_abc", now, BODY))
    client = openai.OpenAI(api_key="sk-test", webhook_secret=SECRET)
    with pytest.raises(openai.InvalidWebhookSignatureError):
        client.webhooks.verify_signature(BODY.replace(b"rtc_1", b"rtc_2"), headers)
    other = "whsec_" + base64.b64encode(b"x" * 32).decode()
    with pytest.raises(openai.InvalidWebhookSignatureError):
        client.webhooks.verify_signature(BODY, headers, secret=other)


def test_a_secret_without_the_prefix_is_its_own_text_as_in_the_sdk() -> None:
    now = int(time.time())
    headers = dict(signed_headers("plain-secret", "wh_1", now, BODY))
    openai.OpenAI(api_key="sk-test").webhooks.verify_signature(BODY, headers, secret="plain-secret")


@pytest.mark.parametrize("secret", ["whsec_not base64!", "whsec_", ""])
def test_an_unusable_secret_is_refused_with_what_to_give(secret: str) -> None:
    with pytest.raises(UsageError, match="whsec_"):
        sign(secret, "wh_1", 1, BODY)


def test_the_headers_are_those_of_openai_webhooks() -> None:
    headers = dict(signed_headers(SECRET, "wh_1", 5, BODY))
    assert headers["user-agent"] == "OpenAI/1.0 (+https://platform.openai.com/docs/webhooks)"
    assert headers["content-type"] == "application/json"
    assert (headers["webhook-id"], headers["webhook-timestamp"]) == ("wh_1", "5")


def test_retry_decisions_and_delays() -> None:
    assert [webhooks.should_retry(s) for s in (200, 204, 299)] == [False] * 3
    assert webhooks.should_retry(410) is False  # Gone: the endpoint wants no more
    assert [webhooks.should_retry(s) for s in (None, 301, 400, 404, 500, 503)] == [True] * 6
    policy = RetryPolicy(attempts=5, first_delay=0.5, max_delay=1.5)
    assert [policy.delay_before(n) for n in range(1, 6)] == [0.0, 0.5, 1.0, 1.5, 1.5]
    with pytest.raises(UsageError):
        RetryPolicy(attempts=0)


@pytest.mark.integration
async def test_delivery_retries_until_a_2xx_with_one_id_and_fresh_signatures() -> None:
    async with Receiver(script=[500, 503, 204]) as receiver:
        delivery = await deliver(receiver.url, BODY, SECRET, policy=FAST)
    assert delivery.delivered
    assert [a.status for a in delivery.attempts] == [500, 503, 204]
    client = openai.OpenAI(api_key="sk-test", webhook_secret=SECRET)
    ids = set()
    for request in receiver.requests:
        assert (request.method, request.target) == ("POST", "/hooks/openai?source=mock")
        assert request.body == BODY
        client.webhooks.verify_signature(request.body, request.headers)  # each attempt
        ids.add(request.headers["webhook-id"])
    assert ids == {delivery.webhook_id}
    assert delivery.webhook_id.startswith("wh_")
    assert len(delivery.webhook_id) == 35


@pytest.mark.integration
async def test_delivery_gives_up_after_the_last_attempt_and_on_410() -> None:
    async with Receiver(script=[500, 500, 500, 200]) as receiver:
        failed = await deliver(receiver.url, BODY, SECRET, policy=FAST)
    assert not failed.delivered
    assert [a.status for a in failed.attempts] == [500, 500, 500]
    async with Receiver(script=[410]) as receiver:
        gone = await deliver(receiver.url, BODY, SECRET, policy=FAST)
    assert [a.status for a in gone.attempts] == [410]
    assert len(receiver.requests) == 1


@pytest.mark.integration
async def test_an_attempt_without_an_answer_is_bounded_by_the_timeout() -> None:
    policy = RetryPolicy(attempts=2, first_delay=0.01, timeout=0.3)
    async with Receiver(script=[None, 200]) as receiver:
        started = time.monotonic()
        delivery = await deliver(receiver.url, BODY, SECRET, policy=policy)
        took = time.monotonic() - started
    assert [a.status for a in delivery.attempts] == [None, 200]
    assert delivery.attempts[0].error == "no answer within 0.3 s"
    assert took < 5.0  # bounded (the first attempt's 0.3 s, not forever)


@pytest.mark.integration
async def test_a_refused_connection_is_an_attempt_that_failed() -> None:
    async with Receiver() as receiver:
        url = receiver.url  # the port is closed once the receiver stops
    delivery = await deliver(url, BODY, SECRET, policy=RetryPolicy(attempts=2, first_delay=0.01))
    assert not delivery.delivered
    assert all(a.status is None and a.error for a in delivery.attempts)
    assert json.loads(json.dumps(delivery.as_dict()))["delivered"] is False


async def test_a_url_that_is_not_http_is_refused_before_sending() -> None:
    with pytest.raises(UsageError, match="webhook URL"):
        await deliver("ftp://example.test/x", BODY, SECRET)
