"""Reconnection: off by default, on with backoff when asked, never after 3000-4999."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

import pytest

from client_reference import (
    ConnectionClosed,
    RealtimeAPIError,
    RealtimeClient,
    ReconnectPolicy,
    Timeout,
)
from tests.client_reference.fake_server import (
    Close,
    Expect,
    FakeServer,
    Gate,
    Send,
    Signal,
    Stall,
    Step,
)
from tests.client_reference.support import API_KEY, FAST, PNG
from tests.client_reference.wire import (
    configured,
    echo_item,
    error_event,
    opening,
    session_updated,
    text_turn,
)

pytestmark = pytest.mark.integration

EXPIRED = "Your session hit the maximum duration of 60 minutes."
FAST_RETRY = ReconnectPolicy(max_attempts=3, initial_delay=0.01, max_delay=0.02, jitter=0.0)


def expires() -> list[Step]:
    """The live end of a session: `session_expired` then close 1001 (§6.3)."""
    return [Send(error_event("session_expired", EXPIRED)), Close(1001, EXPIRED)]


async def wait_closed(client: RealtimeClient) -> ConnectionClosed:
    """Wait (bounded) until the client has stopped for good, and return why."""
    closed = await asyncio.wait_for(client.wait_closed(), 5)
    assert isinstance(closed, ConnectionClosed)
    return closed


async def test_reconnect_is_off_by_default() -> None:
    script = [*configured(), Signal("configured"), Expect("response.create"), *expires()]
    async with (
        FakeServer(script) as server,
        RealtimeClient(server.url, api_key=API_KEY, settings=FAST) as client,
    ):
        await client.configure(instructions="x")
        stream = await client.respond()
        # The unclaimed session_expired error ends the active response first.
        with pytest.raises(RealtimeAPIError, match="session_expired"):
            await stream.done()
        closed = await wait_closed(client)
    assert (closed.code, closed.reason) == (1001, EXPIRED)
    assert closed.error is not None
    assert closed.error.code == "session_expired"
    assert client.reconnects == 0
    assert len(server.connections) == 1


async def test_session_expired_then_1001_reconnects_and_replays_the_config(
    caplog: pytest.LogCaptureFixture,
) -> None:
    first = [*configured(), Expect("response.create"), *expires()]
    second = [
        *opening(),
        Expect("session.update"),
        Send(session_updated()),
        Signal("replayed"),
        *text_turn("resp_0101", "back again", deltas=2),
    ]
    caplog.set_level(logging.WARNING, logger="client_reference")
    async with FakeServer(first, second) as server:
        client = RealtimeClient(server.url, api_key=API_KEY, settings=FAST, reconnect=FAST_RETRY)
        async with client:
            await client.configure(instructions="Be terse.")
            lost = await client.respond()
            with pytest.raises(RealtimeAPIError, match="session_expired"):
                await lost.done()
            await asyncio.wait_for(server.signals["replayed"].wait(), 5)
            await client.add_screenshot(PNG)
            stream = await client.respond()
            assert (await stream.done()).text == "back again"
    assert client.reconnects == 1
    replay = server.connections[1].received[0]
    assert replay["type"] == "session.update"
    assert replay["session"]["instructions"] == "Be terse."
    assert replay["session"]["type"] == "realtime"
    assert "reconnecting in 0.01 s (attempt 1 of 3)" in caplog.text
    assert server.problems == []


@pytest.mark.parametrize(
    ("code", "reason"),
    [(4000, "invalid_request_error.beta_api_shape_disabled"), (3000, "invalid_request_error")],
)
async def test_a_permanent_close_is_never_retried(code: int, reason: str) -> None:
    script = [*opening(), Signal("open"), Close(code, reason)]
    async with FakeServer(script, opening()) as server:
        client = RealtimeClient(server.url, settings=FAST, reconnect=FAST_RETRY)
        async with client:
            closed = await wait_closed(client)
    assert (closed.code, closed.reason) == (code, reason)
    assert len(server.connections) == 1
    assert client.reconnects == 0


async def test_reconnecting_gives_up_after_max_attempts_with_backoff() -> None:
    # Every new connection is refused by the server at once with 1013 (try again later).
    refused = [Close(1013, "try again later")]
    policy = ReconnectPolicy(max_attempts=2, initial_delay=0.01, max_delay=0.02, jitter=0.0)
    async with FakeServer([*opening(), Close(1012, "restart")], refused, refused) as server:
        client = RealtimeClient(server.url, settings=FAST, reconnect=policy)
        async with client:
            closed = await wait_closed(client)
    assert closed.code == 1013
    assert "gave up reconnecting after 2 attempt(s)" in closed.__notes__
    assert len(server.connections) == 3


async def test_a_call_during_a_reconnect_waits_for_the_new_session() -> None:
    first = [*configured(), *expires()]
    second = [
        Signal("reconnecting"),
        Gate("let_in"),
        *opening(),
        Expect("session.update"),
        Send(session_updated()),
        Expect("conversation.item.create"),
        Send(echo_item),
    ]
    async with FakeServer(first, second) as server:
        client = RealtimeClient(server.url, settings=FAST, reconnect=FAST_RETRY)
        async with client:
            await client.configure(instructions="x")
            await asyncio.wait_for(server.signals["reconnecting"].wait(), 5)
            assert client.connection is None
            call = asyncio.create_task(client.add_screenshot(PNG))
            server.gates["let_in"].set()
            item = await asyncio.wait_for(call, 5)
    assert item["type"] == "message"
    assert client.reconnects == 1


async def test_a_call_gives_up_when_the_reconnect_takes_too_long() -> None:
    first = [*configured(), *expires()]
    second: list[Step] = [Signal("reconnecting"), Stall()]  # never sends session.created
    async with FakeServer(first, second) as server:
        settings = replace(FAST, reconnect_timeout=0.1)
        async with RealtimeClient(server.url, settings=settings, reconnect=FAST_RETRY) as client:
            await client.configure(instructions="x")
            await asyncio.wait_for(server.signals["reconnecting"].wait(), 5)
            with pytest.raises(Timeout, match="the reconnect in progress"):
                await client.respond()


async def test_a_failed_attempt_is_retried_with_the_next_one() -> None:
    first = [*configured(), *expires()]
    stalled = [Stall()]  # no session.created: this attempt times out
    third = [
        *opening(),
        Expect("session.update"),
        Send(session_updated()),
        Expect("conversation.item.create"),
        Send(echo_item),
    ]
    async with FakeServer(first, stalled, third) as server:
        settings = replace(FAST, session_created_timeout=0.1)
        async with RealtimeClient(server.url, settings=settings, reconnect=FAST_RETRY) as client:
            await client.configure(instructions="x")
            await asyncio.wait_for(server.signals["finished:1"].wait(), 5)
            await client.add_text("after two attempts")  # waits for the reconnect
    assert len(server.connections) == 3
    assert client.reconnects == 1
