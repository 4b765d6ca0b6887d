"""`connect()` and `RealtimeConnection` against the scripted fake server."""

from __future__ import annotations

import socket
from urllib.parse import parse_qs, urlsplit

import pytest

from client_reference import (
    ConnectError,
    ConnectionClosed,
    Timeout,
    UsageError,
    connect,
)
from client_reference.connection import DEFAULT_MAX_SIZE, build_url, handshake_options
from conformance.protocol import LocalProtocolError, SessionState
from tests.client_reference.fake_server import Close, Drop, Expect, FakeServer, Send, Stall, Step
from tests.client_reference.support import API_KEY
from tests.client_reference.wire import error_event, opening, session_created

BETA_REASON = "invalid_request_error.beta_api_shape_disabled"
BETA_MESSAGE = (
    "The Realtime Beta API is no longer supported. Please use /v1/realtime for the GA API."
)


# ------------------------------------------------------------------ no sockets
def test_build_url_sets_the_model_and_keeps_other_query_parameters() -> None:
    url = build_url("wss://example.test/v1/realtime?x=1&model=old", "gpt-realtime-1.5")
    assert parse_qs(urlsplit(url).query) == {"x": ["1"], "model": ["gpt-realtime-1.5"]}


def test_build_url_without_model_leaves_the_url_alone() -> None:
    assert build_url("ws://h/v1/realtime?call_id=rtc_1", None) == "ws://h/v1/realtime?call_id=rtc_1"


@pytest.mark.parametrize(
    ("url", "fragment"),
    [("https://api.openai.com/v1/realtime", "did you mean wss://"), ("ws://", "no host")],
)
def test_build_url_rejects_non_websocket_urls(url: str, fragment: str) -> None:
    with pytest.raises(UsageError, match=fragment):
        build_url(url, "m")


@pytest.mark.parametrize("name", ["OpenAI-Beta", "openai-beta", "OPENAI-BETA"])
def test_the_beta_header_is_refused_in_any_spelling(name: str) -> None:
    with pytest.raises(UsageError, match="beta_api_shape_disabled"):
        handshake_options(API_KEY, "header", {name: "realtime=v1"})


def test_subprotocol_auth_needs_a_key() -> None:
    with pytest.raises(UsageError, match="needs an api_key"):
        handshake_options(None, "subprotocol", None)


def test_a_malformed_key_is_refused_without_echoing_it() -> None:
    with pytest.raises(UsageError) as info:
        handshake_options("sk-bad key\n", "header", None)
    assert "sk-bad" not in str(info.value)


def test_the_key_cannot_be_passed_twice() -> None:
    with pytest.raises(UsageError, match="once"):
        handshake_options(API_KEY, "header", {"Authorization": "Bearer x"})


def test_the_default_max_size_takes_the_largest_live_frames() -> None:
    assert DEFAULT_MAX_SIZE >= 3_476_354  # failure catalog 20


# --------------------------------------------------------------- with sockets
@pytest.mark.integration
async def test_header_auth_sends_a_bearer_token_and_never_a_beta_header() -> None:
    async with FakeServer(opening()) as server:
        conn = await connect(server.url, api_key=API_KEY)
        assert (await conn.recv(timeout=5))["type"] == "session.created"
        await conn.close()
    headers = server.connections[0].headers
    assert headers["Authorization"] == f"Bearer {API_KEY}"
    assert "OpenAI-Beta" not in headers
    assert server.connections[0].offered_subprotocols == []
    assert parse_qs(urlsplit(server.connections[0].path).query) == {"model": ["gpt-realtime-1.5"]}


@pytest.mark.integration
async def test_subprotocol_auth_offers_realtime_and_the_key_like_a_browser() -> None:
    async with FakeServer(opening()) as server:
        conn = await connect(server.url, api_key="ek_0123456789abcdef", auth="subprotocol")
        assert conn.subprotocol == "realtime"
        await conn.close()
    record = server.connections[0]
    assert record.offered_subprotocols == [
        "realtime",
        "openai-insecure-api-key.ek_0123456789abcdef",
    ]
    assert "Authorization" not in record.headers
    assert "OpenAI-Beta" not in record.headers


@pytest.mark.integration
async def test_the_state_follows_session_created() -> None:
    async with FakeServer(opening()) as server:
        conn = await connect(server.url)
        assert conn.state is SessionState.CONNECTING
        with pytest.raises(LocalProtocolError):
            await conn.send({"type": "response.create", "event_id": "evt_1"})
        await conn.recv(timeout=5)
        states = [conn.state]
        await conn.close()
        states.append(conn.state)
        assert states == [SessionState.OPEN, SessionState.CLOSED]


@pytest.mark.integration
async def test_an_error_event_is_returned_and_the_close_carries_code_and_reason() -> None:
    script: list[Step] = [
        Send(error_event("beta_api_shape_disabled", BETA_MESSAGE)),
        Close(4000, BETA_REASON),
    ]
    async with FakeServer(script) as server:
        conn = await connect(server.url)
        event = await conn.recv(timeout=5)
        assert event["error"]["code"] == "beta_api_shape_disabled"
        with pytest.raises(ConnectionClosed) as info:
            await conn.recv(timeout=5)
    closed = info.value
    assert (closed.code, closed.reason) == (4000, BETA_REASON)
    assert str(closed).startswith(f"server closed the connection: 4000 {BETA_REASON}")
    assert closed.error is not None
    assert closed.error.code == "beta_api_shape_disabled"
    assert (conn.close_code, conn.close_reason) == (4000, BETA_REASON)


@pytest.mark.integration
async def test_a_drop_without_close_frame_is_reported_as_1006() -> None:
    async with FakeServer([*opening(), Drop()]) as server:
        conn = await connect(server.url)
        await conn.recv(timeout=5)
        with pytest.raises(ConnectionClosed, match=r"without a close frame \(1006\)") as info:
            await conn.recv(timeout=5)
        assert info.value.code == 1006
        await conn.close()


@pytest.mark.integration
async def test_recv_with_a_timeout_says_what_it_waited_for() -> None:
    async with FakeServer([*opening(), Stall()]) as server:
        conn = await connect(server.url)
        await conn.recv(timeout=5)
        with pytest.raises(Timeout, match=r"after 0\.05 s waiting for the next server event"):
            await conn.recv(timeout=0.05)
        await conn.close()


@pytest.mark.integration
async def test_iteration_ends_quietly_after_our_own_close() -> None:
    async with FakeServer([*opening(), Expect("session.update")]) as server:
        conn = await connect(server.url)
        seen = []
        async for event in conn:
            seen.append(event["type"])
            await conn.close()
    assert seen == ["session.created"]


@pytest.mark.integration
async def test_iteration_raises_when_the_server_closes() -> None:
    async with FakeServer([*opening(), Close(1011, "boom")]) as server:
        conn = await connect(server.url)
        with pytest.raises(ConnectionClosed, match="1011 boom"):
            async for _ in conn:
                pass


@pytest.mark.integration
async def test_server_rule_breaks_are_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    stray = {"type": "response.output_text.delta", "event_id": "e", "response_id": "resp_x"}
    async with FakeServer([*opening(), Send(stray, {"not": "typed"}, "[1]")]) as server:
        conn = await connect(server.url)
        assert (await conn.recv(timeout=5))["type"] == "session.created"
        assert (await conn.recv(timeout=5))["type"] == "response.output_text.delta"
        await conn.close()
    assert conn.findings
    assert "broke a rule" in caplog.text


@pytest.mark.integration
async def test_a_frame_larger_than_the_websockets_default_is_accepted() -> None:
    big = session_created()
    big["session"]["instructions"] = "x" * 3_500_000
    async with FakeServer([Send(big)]) as server:
        conn = await connect(server.url)
        event = await conn.recv(timeout=10)
        assert len(event["session"]["instructions"]) == 3_500_000
        await conn.close()


@pytest.mark.integration
async def test_a_refused_port_is_a_connect_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: connections are refused
        with pytest.raises(ConnectError, match="cannot connect"):
            await connect(f"ws://127.0.0.1:{port}/v1/realtime", api_key=API_KEY, open_timeout=5)
