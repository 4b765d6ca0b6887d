"""Where server errors and foreign responses go: nothing is dropped, nothing hangs."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from client_reference import ClientError, RealtimeAPIError, RealtimeClient, Timeout
from tests.client_reference.fake_server import (
    Expect,
    FakeServer,
    Gate,
    Send,
    Signal,
    Stall,
    Step,
)
from tests.client_reference.support import API_KEY, FAST, quick
from tests.client_reference.wire import (
    configured,
    echo_error,
    echo_item,
    error_event,
    opening,
    session_updated,
    text_response,
)

pytestmark = pytest.mark.integration

NOT_ACTIVE = "Cancellation failed: no active response found"


def client_for(server: FakeServer, **kwargs: Any) -> RealtimeClient:
    kwargs.setdefault("settings", FAST)
    return RealtimeClient(server.url, api_key=API_KEY, **kwargs)


def until(events: list[dict[str, Any]], kind: str) -> int:
    return next(i for i, event in enumerate(events) if event["type"] == kind)


async def test_add_text_sends_an_input_text_message() -> None:
    script = [*opening(), Expect("conversation.item.create"), Send(echo_item)]
    async with FakeServer(script) as server, client_for(server) as client:
        item = await client.add_text("Focus on errors.")
    assert item["content"] == [{"type": "input_text", "text": "Focus on errors."}]
    assert server.connections[0].received[0]["item"]["role"] == "user"


async def test_a_response_started_by_the_server_delays_ours_until_its_done() -> None:
    foreign = text_response("resp_vad1", "item_v", "server-started", deltas=2)
    done_at = until(foreign, "response.done")
    script = [
        *opening(),
        Send(*foreign[:done_at]),
        Expect("session.update"),  # its answer proves the client has read the events above
        Send(session_updated()),
        Gate("finish"),
        Send(*foreign[done_at:]),
        Expect("response.create"),
        Send(*text_response("resp_mine", "item_m", "mine")),
    ]
    async with FakeServer(script) as server, client_for(server) as client:
        await client.configure(instructions="x")
        stream = await client.respond()
        assert not stream.sent  # resp_vad1 is still active
        server.gates["finish"].set()
        result = await stream.done()
    assert result.text == "mine"
    log = server.connections[0].log
    assert log.index(("out", "response.done")) < log.index(("in", "response.create"))


async def test_the_harmless_error_for_our_own_cancel_is_not_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    events = text_response("resp_0801", "item_c", "slow", deltas=2)
    script = [
        *opening(),
        Expect("response.create"),
        Send(*events[: until(events, "response.output_text.done")]),
        Expect("response.cancel"),
        Signal("cancelled"),
        echo_error("response_cancel_not_active", NOT_ACTIVE),
        Send(*events[until(events, "response.output_text.done") :]),
        Expect("session.update"),
        Send(session_updated()),
    ]
    reported: list[RealtimeAPIError] = []
    caplog.set_level(logging.INFO, logger="client_reference")
    async with (
        FakeServer(script) as server,
        client_for(server, settings=quick(response_timeout=0.2), on_error=reported.append) as c,
    ):
        stream = await c.respond()
        with pytest.raises(Timeout):
            await stream.done()
        await server.signals["cancelled"].wait()
        await c.configure(instructions="the session still works")
    assert reported == []
    assert list(c.errors) == []
    assert "(harmless)" in caplog.text
    assert server.problems == []


async def test_an_error_for_nobody_is_logged_and_kept(caplog: pytest.LogCaptureFixture) -> None:
    script = [*opening(), Send(error_event("server_error", "hiccup")), *configured()[1:]]
    async with FakeServer(script) as server, client_for(server) as client:
        await client.configure(instructions="x")  # the error arrived before this answer
        assert [str(e) for e in client.errors] == ["server_error: hiccup"]
    assert "server error not tied to any request: server_error: hiccup" in caplog.text


async def test_a_raising_on_error_callback_is_logged_not_fatal(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(error: RealtimeAPIError) -> None:
        raise RuntimeError("callback bug")

    script = [*opening(), Send(error_event("x", "y")), *configured()[1:]]
    async with FakeServer(script) as server, client_for(server, on_error=broken) as client:
        await client.configure(instructions="x")
    assert "on_error callback raised" in caplog.text


async def test_a_timeout_mentions_the_last_unclaimed_error() -> None:
    script: list[Step] = [
        *opening(),
        Expect("conversation.item.create"),
        Send(error_event("invalid_value", "bad image, but no event_id echoed")),
        Stall(),
    ]
    async with (
        FakeServer(script) as server,
        client_for(server, settings=quick(ack_timeout=0.2)) as client,
    ):
        with pytest.raises(Timeout) as info:
            await client.add_text("hello")
    assert "bad image, but no event_id echoed" in "\n".join(info.value.__notes__)


async def test_an_error_before_session_created_is_raised_when_nothing_follows() -> None:
    script: list[Step] = [Send(error_event("server_error", "warming up")), Stall()]
    async with FakeServer(script) as server:
        client = client_for(server, settings=quick(session_created_timeout=0.2))
        with pytest.raises(RealtimeAPIError, match="warming up") as info:
            await client.connect()
    assert "and no session.created arrived within 0.2 s" in info.value.__notes__


async def test_a_bug_in_event_handling_fails_every_waiter_instead_of_hanging(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    script = [*opening(), Expect("session.update"), Send(session_updated())]
    async with FakeServer(script) as server, client_for(server) as client:

        async def broken(event: dict[str, Any]) -> None:
            raise KeyError("oops")

        monkeypatch.setattr(client, "_dispatch", broken)
        with pytest.raises(ClientError, match="internal error in the client's reader"):
            await client.configure(instructions="x")
        assert isinstance(client.closed, ClientError)
