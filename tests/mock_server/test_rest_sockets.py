"""The REST endpoints on the WebSocket's port, over real sockets (issue 14 (2))."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from mock_server.config import MockConfig
from mock_server.rest import RestHandler
from mock_server.server import MockServer, serve

pytestmark = pytest.mark.integration

KEY = "sk-test-rest-sockets-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
TIMEOUT = 5.0
SESSION = {"type": "realtime", "instructions": "Answer in French.", "output_modalities": ["text"]}


@asynccontextmanager
async def running(**overrides: Any) -> AsyncIterator[MockServer]:
    rest = overrides.pop("rest", None)
    async with serve(pace="fast", ping_interval=None, rest=rest, **overrides) as server:
        yield server


async def mint(server: MockServer, body: Any, headers: Any = None) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=TIMEOUT) as client:
        return await client.post(
            "/realtime/client_secrets", json=body, headers=AUTH if headers is None else headers
        )


@asynccontextmanager
async def session(server: MockServer, key: str, query: str = "") -> AsyncIterator[ClientConnection]:
    async with connect(
        server.url + query, additional_headers={"Authorization": f"Bearer {key}"}
    ) as ws:
        yield ws


async def first_event(ws: ClientConnection) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
    return event


async def refused(ws: ClientConnection) -> tuple[dict[str, Any], int | None]:
    """The error event and close code of a connection the server refuses in-band."""
    event = await first_event(ws)
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(ws.recv(), TIMEOUT)
    return event, ws.close_code


async def raw_http(server: MockServer, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send `request` as is; the status, headers and body of the answer (read to EOF)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(request)
        data = await asyncio.wait_for(reader.read(), TIMEOUT)
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


async def test_a_minted_key_opens_sessions_that_start_from_its_configuration() -> None:
    async with running() as server:
        response = await mint(server, {"session": {**SESSION, "model": "gpt-realtime-mini"}})
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        value = response.json()["value"]
        for _ in range(2):  # a secret opens several sessions until it expires
            async with session(server, value) as ws:
                created = await first_event(ws)
                assert created["type"] == "session.created"
                assert created["session"]["model"] == "gpt-realtime-mini"
                assert created["session"]["instructions"] == "Answer in French."
                assert created["session"]["output_modalities"] == ["text"]
                assert created["session"]["expires_at"] > 0
        transcripts = await server.wait_for_sessions(2)
        assert all(value not in json.dumps(t.meta) for t in transcripts)  # redacted


async def test_an_expired_key_is_refused_like_a_bad_key() -> None:
    past = RestHandler(MockConfig(), clock=lambda: time.time() - 3600)  # minted an hour ago
    async with running(rest=past) as server:
        response = await mint(server, {"expires_after": {"seconds": 600}, "session": SESSION})
        assert response.json()["expires_at"] < time.time()
        async with session(server, response.json()["value"]) as ws:
            error, code = await refused(ws)
        assert error["error"]["code"] == "invalid_api_key"
        assert code == 3000


async def test_api_keys_gate_rest_and_only_minted_ephemeral_keys_pass() -> None:
    async with running(api_keys=(KEY,)) as server:
        missing = await mint(server, {}, headers={})
        assert missing.status_code == 401
        assert missing.json()["error"]["message"].startswith("You didn't provide an API key.")
        wrong = await mint(server, {}, headers={"Authorization": "Bearer sk-wrong-0123456789"})
        assert wrong.status_code == 401
        assert wrong.json()["error"]["code"] == "invalid_api_key"
        good = await mint(server, {"session": SESSION})
        assert good.status_code == 200
        async with session(server, good.json()["value"]) as ws:
            assert (await first_event(ws))["type"] == "session.created"
        async with session(
            server, "ek_0123456789abcdef0123456789abcdef", "?model=gpt-realtime"
        ) as ws:
            error, code = await refused(ws)
        assert (error["error"]["code"], code) == ("invalid_api_key", 3000)


async def test_mocks_sharing_a_secret_accept_each_others_keys() -> None:
    async with (
        running(secret_key="load-balanced") as first,
        running(secret_key="load-balanced", api_keys=(KEY,)) as second,
        running(secret_key="another") as third,
    ):
        value = (await mint(first, {"session": SESSION})).json()["value"]
        async with session(second, value) as ws:
            created = await first_event(ws)
        assert created["session"]["instructions"] == "Answer in French."
        async with session(third, value) as ws:
            error, code = await refused(ws)
        assert (error["error"]["code"], code) == ("invalid_api_key", 3000)


async def test_a_translation_secret_opens_a_translation_session() -> None:
    body = {"session": {"model": "gpt-realtime-translate", "audio": {"output": {"language": "de"}}}}
    async with running() as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=TIMEOUT) as client:
            response = await client.post(
                "/realtime/translations/client_secrets", json=body, headers=AUTH
            )
        assert response.status_code == 200, response.text
        url = server.url + "/translations"
        headers = {"Authorization": f"Bearer {response.json()['value']}"}
        async with connect(url, additional_headers=headers) as ws:
            created = await first_event(ws)
        assert created["type"] == "session.created"
        assert created["session"]["model"] == "gpt-realtime-translate"
        assert created["session"]["audio"]["output"]["language"] == "de"


CT = "Content-Type: application/json"


def plain(line: str, *headers: str, body: bytes = b"") -> bytes:
    """A raw HTTP/1.1 request: `line` is `METHOD PATH`, headers as `Name: value`."""
    head = "\r\n".join([f"{line} HTTP/1.1", "Host: x", *headers])
    return head.encode() + b"\r\n\r\n" + body


@pytest.mark.parametrize(
    ("request_bytes", "status", "code"),
    [
        (plain("GET /nope"), 404, None),
        (plain("DELETE /v1/realtime/client_secrets"), 405, "method_not_allowed"),
        (
            plain(
                "POST /v1/realtime/client_secrets",
                f"Authorization: Bearer {KEY}",
                CT,
                "Content-Length: 5",
                body=b"{nope",
            ),
            400,
            None,
        ),
        (
            plain("POST /v1/realtime/client_secrets", "Content-Length: 99999999"),
            413,
            "request_too_large",
        ),
        (
            plain(
                "POST /v1/realtime/client_secrets",
                "Transfer-Encoding: chunked",
                body=b"2\r\n{}\r\n0\r\n\r\n",
            ),
            411,
            "length_required",
        ),
        (
            plain("POST /v1/realtime?model=gpt-realtime", "Content-Length: 3", body=b"v=0"),
            400,
            "beta_api_shape_disabled",
        ),
        (
            plain(
                "POST /v1/realtime/calls",
                f"Authorization: Bearer {KEY}",
                "Content-Type: text/plain",
                "Content-Length: 3",
                body=b"v=0",
            ),
            400,
            "unsupported_content_type",
        ),
        (
            plain("POST /v1/realtime/sessions", "Content-Length: 2", body=b"{}"),
            400,
            "beta_api_shape_disabled",
        ),
    ],
)
async def test_every_plain_request_gets_a_json_answer_never_a_dropped_connection(
    request_bytes: bytes, status: int, code: str | None
) -> None:
    async with running() as server:
        got, headers, body = await raw_http(server, request_bytes)
    assert got == status
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    assert int(headers["content-length"]) == len(body)
    error = json.loads(body)["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == code


async def test_a_body_in_several_tcp_segments_is_read_whole() -> None:
    body = json.dumps({"session": SESSION}).encode()
    head = (
        b"POST /v1/realtime/client_secrets HTTP/1.1\r\nHost: x\r\n"
        + f"Authorization: Bearer {KEY}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    )
    async with running() as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            for part in (head[:20], head[20:], body[:7], body[7:]):
                writer.write(part)
                await writer.drain()
            data = await asyncio.wait_for(reader.read(), TIMEOUT)
        finally:
            writer.close()
            await writer.wait_closed()
    assert data.startswith(b"HTTP/1.1 200 ")
    assert json.loads(data.partition(b"\r\n\r\n")[2])["session"]["instructions"] == (
        "Answer in French."
    )


async def test_websocket_sessions_still_work_next_to_rest() -> None:
    async with running() as server, session(server, KEY, "?model=gpt-realtime") as ws:
        assert (await first_event(ws))["type"] == "session.created"


async def test_https_serves_the_rest_side_too(tmp_path: Path) -> None:
    pytest.importorskip("cryptography", reason="the tls extra makes the local certificate")
    from mock_server.tls import local_tls

    files = local_tls(tmp_path)
    async with serve(pace="fast", ping_interval=None, tls=files) as server:
        assert server.base_url.startswith("https://")
        context = ssl.create_default_context(cafile=str(files.ca))
        async with httpx.AsyncClient(
            base_url=server.base_url, verify=context, timeout=TIMEOUT
        ) as client:
            response = await client.post(
                "/realtime/client_secrets", json={"session": SESSION}, headers=AUTH
            )
            missing = await client.get("/nope")
        assert response.status_code == 200
        assert missing.status_code == 404
        headers = {"Authorization": f"Bearer {response.json()['value']}"}
        async with connect(server.url, additional_headers=headers, ssl=context) as ws:
            created = await first_event(ws)
    assert created["session"]["instructions"] == "Answer in French."
