"""REST calls through the proxy (plain HTTP on the same port), on real sockets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from websockets.asyncio.client import connect

from conformance.proxy import ProxyConfig, ProxyServer
from conformance.proxy.http import parse_head, read_head, split_head
from mock_server.config import MockConfig
from mock_server.server import MockServer

pytestmark = pytest.mark.integration

KEY = "sk-proxytest-rest-key-0123456789"
PROXY_KEY = "sk-proxytest-upstream-rest-9876543210"
WAIT = 10.0


async def exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send one raw HTTP request; (status, headers, body) of the answer read to EOF."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        async with asyncio.timeout(WAIT):
            data = await reader.read(-1)
    finally:
        writer.close()
    whole = read_head(data)
    assert whole is not None, data[:200]
    head, body = whole
    return int(head.start[1]), {k.lower(): v for k, v in head.headers}, body


def post(path: str, body: bytes, headers: dict[str, str], *, chunked: bool = False) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if chunked:
        lines.append("Transfer-Encoding: chunked")
        half = len(body) // 2
        payload = b"".join(
            f"{len(part):x}\r\n".encode() + part + b"\r\n" for part in (body[:half], body[half:])
        )
        payload += b"0\r\n\r\n"
    else:
        lines.append(f"Content-Length: {len(body)}")
        payload = body
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


@asynccontextmanager
async def mock_and_proxy(**proxy: object) -> AsyncIterator[tuple[MockServer, ProxyServer]]:
    server = await MockServer(MockConfig(port=0, pace="fast", ping_interval=None)).start()
    try:
        upstream = server.url.split("/v1/")[0]
        async with ProxyServer(ProxyConfig(upstream=upstream, port=0, **proxy)) as proxied:  # type: ignore[arg-type]
            yield server, proxied
    finally:
        await server.stop()


SESSION = json.dumps({"session": {"type": "realtime", "model": "gpt-realtime"}}).encode()


async def test_a_client_secret_is_minted_through_the_proxy_and_opens_a_session() -> None:
    async with mock_and_proxy() as (_, proxy):
        status, headers, body = await exchange(
            proxy.port,
            post(
                "/v1/realtime/client_secrets",
                SESSION,
                {"Authorization": f"Bearer {KEY}"},
            ),
        )
        assert status == 200, body
        assert headers["connection"] == "close"
        secret = json.loads(body)["value"]
        assert secret.startswith("ek_")
        # The minted secret opens a session through the proxy too.
        async with connect(
            proxy.url + "?model=gpt-realtime",
            additional_headers={"Authorization": f"Bearer {secret}"},
            open_timeout=WAIT,
        ) as ws:
            async with asyncio.timeout(WAIT):
                assert json.loads(await ws.recv())["type"] == "session.created"
        ended = await proxy.wait_for_ended(1, WAIT)
    assert secret not in ended[0].transcript.to_jsonl()


async def test_a_rest_error_comes_back_as_the_upstream_sent_it() -> None:
    async with mock_and_proxy() as (server, proxy):
        request = post("/v1/realtime/client_secrets", b"{}", {})  # no key
        direct = await exchange(server.port, request)
        proxied = await exchange(proxy.port, request)
    assert proxied[0] == direct[0] == 401
    assert json.loads(proxied[2]) == json.loads(direct[2])


@pytest.mark.parametrize("chunked", [False, True])
async def test_the_proxy_key_replaces_the_clients_on_rest_calls(chunked: bool) -> None:
    seen: list[bytes] = []

    async def upstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        if chunked:  # the body as it came, chunk framing included
            seen.append(head + await reader.readuntil(b"0\r\n\r\n"))
        else:
            length = int(parse_head(head).get("content-length") or 0)
            seen.append(head + await reader.readexactly(length))
        body = b'{"ok":true}'
        writer.write(
            b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\nKeep-Alive: timeout=5\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(upstream, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        config = ProxyConfig(upstream=f"http://127.0.0.1:{port}/prefix", port=0, api_key=PROXY_KEY)
        async with ProxyServer(config) as proxy:
            status, headers, body = await exchange(
                proxy.port,
                post(
                    "/v1/realtime/calls?x=1",
                    b'{"a":1}',
                    {"Authorization": "Bearer sk-dummy-0000"},
                    chunked=chunked,
                ),
            )
    finally:
        server.close()
        await server.wait_closed()
    assert (status, body) == (201, b'{"ok":true}')
    assert "keep-alive" not in headers
    head = parse_head(split_head(seen[0])[0])  # type: ignore[index]
    assert head.start[:2] == ("POST", "/prefix/v1/realtime/calls?x=1")
    assert head.get("host") == f"127.0.0.1:{port}"
    assert head.get("authorization") == f"Bearer {PROXY_KEY}"
    expected = b'3\r\n{"a\r\n4\r\n":1}\r\n0\r\n\r\n' if chunked else b'{"a":1}'
    assert seen[0].endswith(expected)


async def test_an_unreachable_upstream_is_a_502() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    async with ProxyServer(ProxyConfig(upstream=f"http://127.0.0.1:{port}", port=0)) as proxy:
        status, _, body = await exchange(proxy.port, post("/v1/realtime/client_secrets", b"{}", {}))
    assert status == 502
    assert f"127.0.0.1:{port}" in body.decode()


async def test_a_body_over_the_limit_is_refused_with_413() -> None:
    async with mock_and_proxy(max_body_size=1000) as (_, proxy):
        status, _, _ = await exchange(
            proxy.port,
            post("/v1/realtime/client_secrets", b"x" * 5000, {"Authorization": f"Bearer {KEY}"}),
        )
    assert status == 413
