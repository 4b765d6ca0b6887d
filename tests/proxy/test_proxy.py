"""The proxy on real sockets: a client, the proxy, and the mock (or a raw websockets server)
as upstream. Every wait is bounded; the mock runs at the fast pace."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import Close

from conformance.proxy import EndedConnection, ProxyConfig, ProxyServer, judge_connection
from conformance.proxy.judge import DRIFT_CHECK
from conformance.verdicts import Verdict
from mock_server.config import MockConfig
from mock_server.server import MockServer

pytestmark = pytest.mark.integration

KEY = "sk-proxytest-client-key-0123456789"
PROXY_KEY = "sk-proxytest-upstream-key-9876543210"
MODEL = "gpt-realtime"
WAIT = 10.0


@asynccontextmanager
async def mock(scenario: str | None = None, **config: Any) -> AsyncIterator[MockServer]:
    server = MockServer(
        MockConfig(port=0, pace="fast", ping_interval=None, scenario=scenario, **config)
    )
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@asynccontextmanager
async def proxy_to(upstream: str, **config: Any) -> AsyncIterator[ProxyServer]:
    async with ProxyServer(ProxyConfig(upstream=upstream, port=0, **config)) as proxy:
        yield proxy


def origin(url: str) -> str:
    """`ws://127.0.0.1:PORT` of a `.../v1/realtime` URL."""
    return url.split("/v1/")[0]


async def open_ws(url: str, **kwargs: Any) -> ClientConnection:
    headers = kwargs.pop("headers", {"Authorization": f"Bearer {KEY}"})
    return await connect(
        url,
        additional_headers=headers,
        ping_interval=None,
        open_timeout=WAIT,
        close_timeout=2,
        **kwargs,
    )


async def events_until_closed(ws: ClientConnection) -> tuple[list[str], Close | None]:
    """Every event type until the connection ends, and the close frame received (None:
    the connection was dropped without one)."""
    types = []
    async with asyncio.timeout(WAIT):
        try:
            async for message in ws:
                types.append(json.loads(message)["type"])
        except ConnectionClosed:
            pass
    return types, ws.protocol.close_rcvd


async def ask(ws: ClientConnection, text: str, event_ids: tuple[str, str] | None = None) -> None:
    """Send a user message `text`, then `response.create` (with `event_ids`, if given)."""
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    events: list[dict[str, Any]] = [
        {"type": "conversation.item.create", "item": item},
        {"type": "response.create"},
    ]
    for event, event_id in zip(events, event_ids or (), strict=False):
        event["event_id"] = event_id
    for event in events:
        await ws.send(json.dumps(event))


async def one_ended(proxy: ProxyServer) -> EndedConnection:
    ended = await proxy.wait_for_ended(1, WAIT)
    return ended[-1]


# --- a raw upstream: what it received, and a script of what it does ---------------------


class RawUpstream:
    """A websockets server that records the request and the messages it gets, echoes
    each message as it came (text as text, bytes as bytes), and runs `script` first."""

    def __init__(self, script: Callable[[ServerConnection], Awaitable[None]] | None = None):
        self.script = script
        self.requests: list[Any] = []
        self.received: list[str | bytes] = []
        self.closes: list[tuple[int | None, str | None]] = []
        self.ended = asyncio.Event()

    async def handler(self, ws: ServerConnection) -> None:
        self.requests.append(ws.request)
        try:
            if self.script is not None:
                await self.script(ws)
            async for message in ws:
                self.received.append(message)
                await ws.send(message)
        except ConnectionClosed:
            pass
        finally:
            rcvd = ws.protocol.close_rcvd
            self.closes.append((rcvd.code, rcvd.reason) if rcvd is not None else (None, None))
            self.ended.set()

    @asynccontextmanager
    async def running(self, **kwargs: Any) -> AsyncIterator[str]:
        async with serve(self.handler, "127.0.0.1", 0, ping_interval=None, **kwargs) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            yield f"ws://127.0.0.1:{port}"


# --- forwarding -------------------------------------------------------------------------


async def test_text_binary_and_fragments_pass_both_ways_unchanged() -> None:
    upstream = RawUpstream()
    async with upstream.running() as url, proxy_to(url) as proxy:
        ws = await open_ws(proxy.url + f"?model={MODEL}")
        await ws.send('{"type":"input_audio_buffer.clear"}')
        assert await ws.recv() == '{"type":"input_audio_buffer.clear"}'
        await ws.send(b"\x00\x01binary\xff")
        assert await ws.recv() == b"\x00\x01binary\xff"
        await ws.send(['{"type":', '"input_audio_buffer.commit"}'])  # a fragmented message
        assert await ws.recv() == '{"type":"input_audio_buffer.commit"}'
        await ws.close()
        ended = await one_ended(proxy)
    assert upstream.received == [
        '{"type":"input_audio_buffer.clear"}',
        b"\x00\x01binary\xff",
        '{"type":"input_audio_buffer.commit"}',
    ]
    kinds = [(r.direction, r.kind) for r in ended.transcript.records]
    assert kinds == [
        ("client", "text"),
        ("server", "text"),
        ("client", "binary"),
        ("server", "binary"),
        ("client", "text"),
        ("server", "text"),
        ("client", "close"),
    ]


async def test_compression_is_negotiated_on_each_leg_on_its_own() -> None:
    upstream = RawUpstream()
    async with upstream.running(compression=None) as url, proxy_to(url) as proxy:
        ws = await open_ws(proxy.url + f"?model={MODEL}")  # offers permessage-deflate
        assert ws.response is not None
        assert "permessage-deflate" in ws.response.headers.get("Sec-WebSocket-Extensions", "")
        big = json.dumps({"type": "input_audio_buffer.append", "audio": "A" * 100_000})
        await ws.send(big)
        assert await ws.recv() == big
        await ws.close()
    # The upstream leg has no compression (the upstream refused it): negotiated apart.
    assert upstream.requests[0].headers.get("Sec-WebSocket-Extensions")  # offered upstream
    assert upstream.received == [big]


async def test_pings_go_through_and_the_far_end_answers() -> None:
    answered: asyncio.Future[float] = asyncio.get_running_loop().create_future()

    async def ping_first(ws: ServerConnection) -> None:
        waiter = await ws.ping(b"upstream-ping")
        answered.set_result(await asyncio.wait_for(waiter, WAIT))

    upstream = RawUpstream(ping_first)
    async with upstream.running() as url, proxy_to(url) as proxy:
        ws = await open_ws(proxy.url + f"?model={MODEL}")
        async with asyncio.timeout(WAIT):
            await answered  # the client's pong crossed the proxy back
        await ws.close()


async def test_handshake_path_query_headers_and_subprotocols_go_upstream() -> None:
    upstream = RawUpstream()
    headers = {
        "Authorization": f"Bearer {KEY}",
        "OpenAI-Beta": "realtime=v1",
        "OpenAI-Organization": "org-123",
        "OpenAI-Project": "proj_456",
    }
    offered = ["realtime", f"openai-insecure-api-key.{KEY}"]
    async with upstream.running(subprotocols=["realtime"]) as url, proxy_to(url) as proxy:
        ws = await open_ws(
            proxy.url + f"?model={MODEL}&intent=x&call_id=rtc_1",
            headers=headers,
            subprotocols=offered,
        )
        assert ws.subprotocol == "realtime"  # what the upstream chose
        await ws.close()
        ended = await one_ended(proxy)
    request = upstream.requests[0]
    assert request.path == f"/v1/realtime?model={MODEL}&intent=x&call_id=rtc_1"
    for name, value in headers.items():
        assert request.headers[name] == value
    assert request.headers["Sec-WebSocket-Protocol"] == ", ".join(offered)
    meta = ended.transcript.meta
    assert meta["query"] == {"model": MODEL, "intent": "x", "call_id": "rtc_1"}
    assert KEY not in json.dumps(meta)
    assert ["OpenAI-Beta", "realtime=v1"] in meta["headers"]


@pytest.mark.parametrize("how", ["header", "subprotocol", "none"])
async def test_the_proxy_key_replaces_the_clients(how: str) -> None:
    upstream = RawUpstream()
    headers = {"Authorization": "Bearer sk-dummy-client-key-000"} if how == "header" else {}
    offered = ["realtime", "openai-insecure-api-key.sk-dummy-client-key-000"]
    protocols = offered if how == "subprotocol" else None
    chosen = ["realtime"] if how == "subprotocol" else None
    async with (
        upstream.running(subprotocols=chosen) as url,
        proxy_to(url, api_key=PROXY_KEY) as proxy,
    ):
        ws = await open_ws(proxy.url + f"?model={MODEL}", headers=headers, subprotocols=protocols)
        await ws.close()
        ended = await one_ended(proxy)
    request = upstream.requests[0]
    if how == "subprotocol":
        assert f"openai-insecure-api-key.{PROXY_KEY}" in request.headers["Sec-WebSocket-Protocol"]
        assert "sk-dummy" not in request.headers["Sec-WebSocket-Protocol"]
    else:
        assert request.headers["Authorization"] == f"Bearer {PROXY_KEY}"
    assert PROXY_KEY not in ended.transcript.to_jsonl()
    assert "sk-dummy-client-key-000" not in ended.transcript.to_jsonl()


# --- closing ----------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "reason"), [(1000, ""), (4321, "user left"), (1001, "going")])
async def test_a_client_close_reaches_the_upstream_exactly(code: int, reason: str) -> None:
    upstream = RawUpstream()
    async with upstream.running() as url, proxy_to(url) as proxy:
        ws = await open_ws(proxy.url + f"?model={MODEL}")
        await ws.close(code, reason)
        ended = await one_ended(proxy)
        async with asyncio.timeout(WAIT):
            await upstream.ended.wait()
    assert upstream.closes == [(code, reason)]
    end = ended.transcript.records[-1]
    assert (end.direction, end.kind, end.code, end.reason) == ("client", "close", code, reason)


@pytest.mark.parametrize(("code", "reason"), [(1000, ""), (4000, "custom.reason"), (1011, "x")])
async def test_an_upstream_close_reaches_the_client_exactly(code: int, reason: str) -> None:
    async def close_at_once(ws: ServerConnection) -> None:
        await ws.close(code, reason)

    async with RawUpstream(close_at_once).running() as url, proxy_to(url) as proxy:
        ws = await open_ws(proxy.url + f"?model={MODEL}")
        _, close = await events_until_closed(ws)
        ended = await one_ended(proxy)
    assert close is not None
    assert (close.code, close.reason) == (code, reason)
    end = ended.transcript.records[-1]
    assert (end.direction, end.kind, end.code, end.reason) == ("server", "close", code, reason)


async def test_a_client_drop_becomes_an_upstream_drop() -> None:
    upstream = RawUpstream()
    async with upstream.running() as url, proxy_to(url) as proxy:
        ws = await open_ws(proxy.url + f"?model={MODEL}")
        await ws.send('{"type":"input_audio_buffer.clear"}')
        await ws.recv()
        ws.transport.abort()  # no close frame
        ended = await one_ended(proxy)
        async with asyncio.timeout(WAIT):
            await upstream.ended.wait()
    assert upstream.closes == [(None, None)]  # the upstream got no close frame either
    assert ended.transcript.records[-1].kind == "drop"
    assert ended.transcript.records[-1].direction == "client"


async def direct_and_proxied(
    scenario: str | None, query: str = f"?model={MODEL}", headers: dict[str, str] | None = None
) -> tuple[tuple[list[str], Close | None], tuple[list[str], Close | None], EndedConnection]:
    """What a client sees of the mock directly, and through the proxy."""
    headers = headers or {"Authorization": f"Bearer {KEY}"}
    async with mock(scenario) as server:
        direct = await events_until_closed(await open_ws(server.url + query, headers=headers))
        async with proxy_to(origin(server.url)) as proxy:
            ws = await open_ws(proxy.url + query, headers=headers)
            proxied = await events_until_closed(ws)
            ended = await one_ended(proxy)
    return direct, proxied, ended


async def test_the_beta_header_close_4000_reaches_the_client_as_is() -> None:
    direct, proxied, ended = await direct_and_proxied(
        None, headers={"Authorization": f"Bearer {KEY}", "OpenAI-Beta": "realtime=v1"}
    )
    assert proxied == direct
    types, close = proxied
    assert close is not None
    assert close.code == 4000
    assert close.reason == "invalid_request_error.beta_api_shape_disabled"
    assert "error" in types
    result = judge_connection(ended.transcript, case_id="beta")
    assert result.verdict is Verdict.FAILED
    assert "does_not_send_beta_header" in {v.check for v in result.violations}


async def test_an_unknown_model_close_4000_reaches_the_client_as_is() -> None:
    direct, proxied, _ = await direct_and_proxied(None, query="?model=gpt-nope")
    assert proxied == direct
    assert proxied[1] is not None
    assert proxied[1].code == 4000


async def test_a_close_after_session_created_reaches_the_client_as_is() -> None:
    direct, proxied, ended = await direct_and_proxied("quota-closes-after-connect")
    assert proxied == direct
    types, close = proxied
    assert types[0] == "session.created"
    assert close is not None
    end = ended.transcript.records[-1]
    assert (end.direction, end.kind, end.code) == ("server", "close", close.code)


async def test_an_upstream_drop_becomes_a_client_drop() -> None:
    async def client(url: str) -> tuple[list[str], Close | None, Close | None]:
        ws = await open_ws(url)
        await ws.recv()  # session.created
        await ask(ws, "joke")
        types, close = await events_until_closed(ws)
        return types, close, ws.protocol.close_sent

    async with mock("tcp-drop-mid-response") as server:
        direct = await client(server.url + f"?model={MODEL}")
        async with proxy_to(origin(server.url)) as proxy:
            proxied = await client(proxy.url + f"?model={MODEL}")
            ended = await one_ended(proxy)
    assert proxied == direct
    assert proxied[1] is None  # no close frame came: an abnormal closure (1006)
    end = ended.transcript.records[-1]
    assert (end.direction, end.kind) == ("server", "drop")


async def test_an_upstream_http_refusal_reaches_the_client_as_is() -> None:
    async with mock("no-realtime-access") as server:
        with pytest.raises(InvalidStatus) as direct:
            await open_ws(server.url + f"?model={MODEL}")
        async with proxy_to(origin(server.url)) as proxy:
            with pytest.raises(InvalidStatus) as proxied:
                await open_ws(proxy.url + f"?model={MODEL}")
            ended = await one_ended(proxy)
    a, b = direct.value.response, proxied.value.response
    assert (b.status_code, b.reason_phrase, b.body) == (a.status_code, a.reason_phrase, a.body)
    assert b.headers.get("Content-Type") == a.headers.get("Content-Type")
    records = ended.transcript.records
    assert [(r.kind, r.code) for r in records] == [("rejected", 403)]


async def test_an_unreachable_upstream_is_a_502_naming_it() -> None:
    async with RawUpstream().running() as url:
        pass  # closed: nothing listens there any more
    async with proxy_to(url, connect_timeout_s=2) as proxy:
        with pytest.raises(InvalidStatus) as refused:
            await open_ws(proxy.url + f"?model={MODEL}")
        ended = await one_ended(proxy)
    assert refused.value.response.status_code == 502
    assert url.removeprefix("ws://") in refused.value.response.body.decode()
    assert ended.problem is not None


# --- validation and judging -------------------------------------------------------------


async def test_an_invalid_client_event_is_a_finding_and_fails_the_judged_report() -> None:
    async with mock() as server, proxy_to(origin(server.url)) as proxy:
        ws = await open_ws(proxy.url + f"?model={MODEL}")
        await ws.recv()  # session.created
        await ws.send(json.dumps({"type": "session.update", "session": {"modalities": ["text"]}}))
        assert json.loads(await ws.recv())["type"] == "error"  # the mock refused it too
        await ws.close()
        ended = await one_ended(proxy)
    record = next(ended.transcript.client_events())
    assert [f.code for f in record.findings][:1] in (
        ["unknown_parameter"],
        ["missing_required_parameter"],
    )
    assert ended.client_findings == 1
    result = judge_connection(ended.transcript, case_id="bad-event")
    assert result.verdict is Verdict.FAILED
    assert "client_event_matches_schema" in {v.check for v in result.violations}


async def test_an_unknown_server_event_and_field_are_drift_not_a_crash() -> None:
    async with mock("unknown-event-and-field") as server, proxy_to(origin(server.url)) as proxy:
        ws = await open_ws(proxy.url + f"?model={MODEL}")
        await ask(ws, "Hello")
        types = []
        async with asyncio.timeout(WAIT):
            while "response.done" not in types:
                types.append(json.loads(await ws.recv())["type"])
        await ws.close()
        ended = await one_ended(proxy)
    assert "response.future_feature.delta" in types  # forwarded, not swallowed
    drift = {(d.event_type, d.param) for d in ended.drift}
    assert ("response.future_feature.delta", "type") in drift
    assert any(
        kind == "response.created" and "x_future_field" in (param or "") for kind, param in drift
    )
    result = judge_connection(ended.transcript, case_id="drift")
    assert result.verdict is not Verdict.FAILED
    drift_checks = [v for v in result.violations if v.check == DRIFT_CHECK]
    assert len(drift_checks) >= 2
    assert all(v.severity == "INFORMATIONAL" for v in drift_checks)


async def test_a_correct_session_through_the_proxy_is_judged_ok() -> None:
    async with mock() as server, proxy_to(origin(server.url)) as proxy:
        ws = await open_ws(proxy.url + f"?model={MODEL}")
        await ws.recv()
        await ask(ws, "Hi", event_ids=("evt_1", "evt_2"))
        async with asyncio.timeout(WAIT):
            while json.loads(await ws.recv())["type"] != "response.done":
                pass
        await ws.close()
        ended = await one_ended(proxy)
    assert ended.drift == ()
    assert ended.transcript.meta["session_id"].startswith("sess_")
    result = judge_connection(ended.transcript, case_id="ok")
    assert result.verdict is Verdict.OK, [v.message for v in result.violations]


# --- bounds -----------------------------------------------------------------------------


async def until(condition: Callable[[], bool], within: float = WAIT) -> None:
    """Wait (bounded) until `condition()` holds."""
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 - a transport's state has no event to await
            await asyncio.sleep(0.01)


async def test_a_client_that_stops_reading_holds_only_its_own_connection() -> None:
    noise = base64.b64encode(os.urandom(45_000)).decode()  # compression cannot shrink it
    chunk = json.dumps({"type": "response.output_text.delta", "delta": noise})

    async def flood(ws: ServerConnection) -> None:
        assert ws.request is not None
        if ws.request.path.endswith("flood"):
            for _ in range(2000):  # 120 MB: far more than the socket buffers hold
                await ws.send(chunk)

    async with RawUpstream(flood).running() as url, proxy_to(url) as proxy:
        stuck = await open_ws(proxy.url + "?model=flood", max_queue=1)
        stuck.transport.pause_reading()  # a client that never reads
        relay = next(iter(proxy._open))

        def upstream_paused() -> bool:
            transport = relay.up_transport
            return transport is not None and not transport.is_reading()

        await until(upstream_paused)  # the proxy stopped reading the flood
        # The frames held for the stuck client stay near the write buffer's high mark.
        assert relay.transport is not None
        assert relay.transport.get_write_buffer_size() < 1024 * 1024
        other = await open_ws(proxy.url + f"?model={MODEL}")
        await other.send('{"type":"input_audio_buffer.clear"}')
        async with asyncio.timeout(2):
            assert await other.recv() == '{"type":"input_audio_buffer.clear"}'
        await other.close()
        stuck.transport.abort()


# --- TLS on both legs -------------------------------------------------------------------


async def test_wss_on_both_legs_with_the_local_ca(tmp_path: Path) -> None:
    from mock_server.tls import local_tls, server_context

    files = local_tls(tmp_path / "tls")
    trusting = ssl.create_default_context(cafile=str(files.ca))
    upstream = MockServer(MockConfig(port=0, pace="fast", ping_interval=None), tls=files)
    await upstream.start()
    try:
        assert upstream.url.startswith("wss://")
        config = ProxyConfig(
            upstream=origin(upstream.url),
            port=0,
            ssl=server_context(files),
            upstream_ssl=trusting,
        )
        async with ProxyServer(config) as proxy:
            assert proxy.url.startswith("wss://")
            assert proxy.base_url.startswith("https://")
            ws = await open_ws(proxy.url + f"?model={MODEL}", ssl=trusting)
            async with asyncio.timeout(WAIT):
                assert json.loads(await ws.recv())["type"] == "session.created"
            await ws.close(4001, "done")
            ended = await one_ended(proxy)
    finally:
        await upstream.stop()
    end = ended.transcript.records[-1]
    assert (end.direction, end.kind, end.code, end.reason) == ("client", "close", 4001, "done")


async def test_a_silent_client_is_cut_after_the_head_timeout() -> None:
    async with RawUpstream().running() as url, proxy_to(url, head_timeout_s=0.2) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"GET /v1/realtime HTTP/1.1\r\n")  # and never the rest
        async with asyncio.timeout(WAIT):
            assert await reader.read() == b""  # cut by the proxy
        writer.close()


async def test_an_upstream_that_never_answers_the_upgrade_is_a_504() -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def silent(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # reads nothing, answers nothing

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with proxy_to(f"ws://127.0.0.1:{port}", handshake_timeout_s=0.3) as proxy:
            with pytest.raises(InvalidStatus) as refused:
                await open_ws(proxy.url + f"?model={MODEL}")
            ended = await one_ended(proxy)
    finally:
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()
    assert refused.value.response.status_code == 504
    assert [(r.kind, r.code) for r in ended.transcript.records] == [("rejected", 504)]


async def test_a_proxy_error_on_one_connection_cuts_only_that_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from conformance.proxy.tap import Tap

    original = Tap.text

    def text(self: Tap, direction: Any, text: str, t_ms: float) -> Any:
        if "boom" in text:
            raise RuntimeError("a bug")
        return original(self, direction, text, t_ms)

    monkeypatch.setattr(Tap, "text", text)
    upstream = RawUpstream()
    async with upstream.running() as url, proxy_to(url) as proxy:
        broken = await open_ws(proxy.url + f"?model={MODEL}")
        fine = await open_ws(proxy.url + f"?model={MODEL}")
        await broken.send('{"type":"boom"}')
        _, close = await events_until_closed(broken)
        assert close is None  # cut: no close frame
        await fine.send('{"type":"input_audio_buffer.clear"}')
        async with asyncio.timeout(WAIT):
            assert await fine.recv() == '{"type":"input_audio_buffer.clear"}'
        await fine.close()
        ended = await proxy.wait_for_ended(2, WAIT)
    problems = [e.problem for e in ended]
    assert any(p and "proxy failed" in p for p in problems)
