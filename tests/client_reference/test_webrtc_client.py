"""The reference client over WebRTC (`transport="webrtc"`, `realtime-notes --webrtc`) against
the mock's `POST /v1/realtime/calls` (aiortc on both sides, ICE on 127.0.0.1 only).

What is shown: screenshot-to-notes through a minted client secret, an SDP offer and the
`oai-events` data channel, with the call's transcript on the mock saying `webrtc` and the
same call id; a screenshot too large for one data-channel message downscaled to fit; a
client secret opening one call only; refusals as `ConnectError` with the HTTP status and
no key; the server's hangup reaching the client as the end of the session; the CLI flag
and `$REALTIME_TRANSPORT`; the one-line message naming the extra without aiortc.
"""

from __future__ import annotations

import asyncio
import json
import os
import struct
import sys
import urllib.request
import zlib
from pathlib import Path

import pytest

from client_reference import ClientSettings, ConnectError, ConnectionClosed, RealtimeClient, webrtc
from client_reference import cli as cli_module
from client_reference.webrtc import WebRtcConnection, max_message_size, rest_base_url
from conformance.protocol import replay
from conformance.transcript import Transcript
from mock_server import serve
from tests.live.shapes import shapes_png

pytest.importorskip("aiortc", reason="the webrtc extra (aiortc) is not installed")

pytestmark = pytest.mark.integration

KEY = "sk-test-webrtc-client-0123456789"
SETTINGS = ClientSettings(
    open_timeout=10.0,
    session_created_timeout=10.0,
    ack_timeout=10.0,
    response_timeout=10.0,
    close_timeout=3.0,
)
DEADLINE = 30.0  # a whole call: ICE + DTLS + SCTP on loopback take well under a second


def _call_transcript(transcripts: list[Transcript], call_id: str | None) -> Transcript:
    found = [t for t in transcripts if t.meta.get("query", {}).get("call_id") == call_id]
    assert len(found) == 1, [t.meta for t in transcripts]
    return found[0]


async def test_notes_from_a_screenshot_over_the_data_channel() -> None:
    png = shapes_png(160, 120)
    async with asyncio.timeout(DEADLINE), serve(pace="fast") as server:
        client = RealtimeClient(server.url, api_key=KEY, settings=SETTINGS, transport="webrtc")
        async with client:
            conn = client.connection
            assert isinstance(conn, WebRtcConnection)
            assert conn.call_id is not None
            assert conn.call_id.startswith("rtc_")
            assert conn.subprotocol is None
            await client.configure(instructions="Terse notes.", output_modalities=["text"])
            await client.add_screenshot(png.data, detail="low")
            result = await (await client.respond()).done()
            assert "PNG 160x120" in result.text
            call_id = conn.call_id
        assert conn.close_code == 1000
        transcript = _call_transcript(server.transcripts, call_id)
    assert transcript.meta["transport"] == "webrtc"
    sent = [r.event_type for r in transcript.records if r.direction == "client" and r.event_type]
    assert sent == ["session.update", "conversation.item.create", "response.create"]
    frames = [(r.direction, r.text or "") for r in transcript.records if r.kind == "text"]
    assert replay(frames) == []  # the same core judges the call's traffic
    assert KEY not in json.dumps(transcript.meta)


async def test_a_screenshot_too_big_for_one_message_is_downscaled_to_fit() -> None:
    data = _noise_png(600, 400)  # incompressible: ~720 KB
    assert len(data) > 300_000
    async with (
        asyncio.timeout(DEADLINE),
        serve(pace="fast") as server,
        RealtimeClient(server.url, api_key=KEY, settings=SETTINGS, transport="webrtc") as client,
    ):
        conn = client.connection
        assert isinstance(conn, WebRtcConnection)
        assert conn.max_message_size == 262_144  # aiortc's a=max-message-size
        limit = conn.max_image_bytes
        assert limit is not None
        await client.configure(output_modalities=["text"])
        item = await client.add_screenshot(data)
        result = await (await client.respond()).done()
    assert "PNG 300x200" in result.text or "PNG 150x100" in result.text, result.text
    url = item["content"][0]["image_url"]
    assert len(url) < 262_144


async def test_an_event_over_the_message_size_is_refused_before_it_is_sent() -> None:
    async with asyncio.timeout(DEADLINE), serve(pace="fast") as server:
        async with RealtimeClient(
            server.url, api_key=KEY, settings=SETTINGS, transport="webrtc"
        ) as client:
            with pytest.raises(ValueError, match="a=max-message-size") as refused:
                await client.add_text("x" * 300_000)
            item = await client.add_text("still usable")  # nothing was sent, nothing broke
        (transcript,) = server.transcripts
    assert "300,1" in str(refused.value)  # the size, in bytes
    assert item["content"][0]["text"] == "still usable"
    sent = [r.event_type for r in transcript.records if r.direction == "client" and r.event_type]
    assert sent == ["conversation.item.create"]


async def test_a_client_secret_opens_one_call() -> None:
    async with asyncio.timeout(DEADLINE), serve(pace="fast") as server:
        secret = await asyncio.to_thread(_mint, server.base_url)
        first = await webrtc.connect_webrtc(server.url, api_key=secret, model=None)
        try:
            assert (await first.recv(timeout=5.0))["type"] == "session.created"
            with pytest.raises(ConnectError) as refused:
                await webrtc.connect_webrtc(server.url, api_key=secret, open_timeout=5.0)
        finally:
            await first.close()
    assert refused.value.status == 401
    assert "invalid_api_key" in str(refused.value)
    assert secret not in str(refused.value)


async def test_a_wrong_key_is_refused_with_the_status_and_masked() -> None:
    wrong = "sk-wrong-key-0123456789abcdef"
    async with asyncio.timeout(DEADLINE), serve(pace="fast", api_keys=(KEY,)) as server:
        with pytest.raises(ConnectError) as refused:
            await webrtc.connect_webrtc(server.url, api_key=wrong, open_timeout=5.0)
        assert server.sessions_opened == 0
    assert refused.value.status == 401
    assert "client_secrets" in str(refused.value)  # which request failed
    assert wrong not in str(refused.value)


async def test_the_servers_hangup_ends_the_clients_session() -> None:
    async with asyncio.timeout(DEADLINE), serve(pace="fast") as server:
        client = RealtimeClient(server.url, api_key=KEY, settings=SETTINGS, transport="webrtc")
        await client.connect()
        try:
            conn = client.connection
            assert isinstance(conn, WebRtcConnection)
            url = f"{server.base_url}/realtime/calls/{conn.call_id}/hangup"
            status = await asyncio.to_thread(_post, url)
            assert status == 200
            closed = await client.wait_closed()
        finally:
            await client.close()
    assert isinstance(closed, ConnectionClosed)
    assert (closed.code, closed.by_client) == (1000, False)
    assert "data channel closed" in closed.reason


async def test_realtime_notes_webrtc_flag_and_env(tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    shot.write_bytes(shapes_png(160, 120).data)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "REALTIME_"))}
    env["OPENAI_API_KEY"] = KEY
    async with asyncio.timeout(DEADLINE), serve(pace="fast") as server:
        runs = [
            (["--webrtc", "--url", server.url, str(shot)], env),
            (["--url", server.url, str(shot)], {**env, "REALTIME_TRANSPORT": "webrtc"}),
            (["--url", server.url, str(shot)], env),  # the default: a WebSocket
        ]
        outputs = [await _notes(args, run_env) for args, run_env in runs]
        transports = [t.meta.get("transport", "websocket") for t in server.transcripts]
    for code, out, err in outputs:
        assert code == 0, err
        assert "PNG 160x120" in out
    assert transports == ["webrtc", "webrtc", "websocket"]


def test_without_aiortc_the_cli_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    shot = tmp_path / "shot.png"
    shot.write_bytes(shapes_png(32, 32).data)
    monkeypatch.setattr(cli_module, "WEBRTC_AVAILABLE", False)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    code = cli_module.main(["--webrtc", "--url", "ws://127.0.0.1:9/v1/realtime", str(shot)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines() == [
        "error: usage: the WebRTC transport needs the webrtc extra: "
        "pip install 'realtime-conformance[webrtc]'"
    ]


async def test_without_aiortc_connect_webrtc_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(webrtc, "AVAILABLE", False)
    with pytest.raises(ValueError, match=r"realtime-conformance\[webrtc\]"):
        await webrtc.connect_webrtc("ws://127.0.0.1:9/v1/realtime", api_key=KEY)


def test_rest_base_and_max_message_size() -> None:
    assert rest_base_url("ws://127.0.0.1:8765/v1/realtime?model=x") == "http://127.0.0.1:8765/v1"
    assert rest_base_url("wss://api.openai.com/v1/realtime") == "https://api.openai.com/v1"
    assert rest_base_url("ws://h/prefix/v1/realtime/") == "http://h/prefix/v1"
    with pytest.raises(ValueError, match="ws://"):
        rest_base_url("http://127.0.0.1/v1/realtime")
    assert max_message_size("v=0\r\na=max-message-size:262144\r\n") == 262_144
    assert max_message_size("v=0\r\na=max-message-size:0\r\n") == 0
    assert max_message_size("v=0\r\n") == 65_536  # RFC 8841's default


def test_an_unknown_transport_is_a_usage_error() -> None:
    with pytest.raises(ValueError, match="transport="):
        RealtimeClient("ws://127.0.0.1:9/v1/realtime", transport="carrier-pigeon")  # type: ignore[arg-type]


# ----------------------------------------------------------------- helpers
def _noise_png(width: int, height: int) -> bytes:
    """An RGB PNG of random pixels (it does not compress)."""
    rows = b"".join(b"\0" + os.urandom(width * 3) for _ in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 1))
        + chunk(b"IEND", b"")
    )


def _mint(base_url: str) -> str:
    body = json.dumps({"session": {"type": "realtime", "model": "gpt-realtime"}}).encode()
    request = urllib.request.Request(
        f"{base_url}/realtime/client_secrets",
        data=body,
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5.0) as response:
        return str(json.load(response)["value"])


def _post(url: str) -> int:
    request = urllib.request.Request(
        url, data=b"", method="POST", headers={"Authorization": f"Bearer {KEY}"}
    )
    with urllib.request.urlopen(request, timeout=5.0) as response:
        return int(response.status)


async def _notes(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "client_reference.cli",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(DEADLINE):
            out, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()
