"""examples/keyserver.py, a key-minting back end, tested the way docs/rest.md shows:
the respx router answers its SDK calls, a mock WebSocket takes the keys it hands out."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import threading
import urllib.error
import urllib.request
from pathlib import Path
from types import ModuleType
from typing import Any

import openai
import pytest
from websockets.asyncio.client import connect

from mock_server.config import MockConfig
from mock_server.respx_router import rest_router
from mock_server.server import serve

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-test-keyserver-0123456789"


def load_keyserver() -> ModuleType:
    spec = importlib.util.spec_from_file_location("keyserver", ROOT / "examples" / "keyserver.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


keyserver = load_keyserver()


@pytest.mark.integration
async def test_the_key_it_hands_out_opens_a_session_configured_for_the_hud() -> None:
    async with serve(pace="fast", ping_interval=None) as mock:
        with rest_router(mock.config):  # the same signing secret as the mock
            status, body = keyserver.mint(openai.OpenAI(api_key=KEY))
        assert status == 200, body
        assert body["model"] == "gpt-realtime-1.5"
        headers = {"Authorization": f"Bearer {body['value']}"}
        async with connect(mock.url, additional_headers=headers) as ws:  # no ?model=
            created = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert created["session"]["model"] == "gpt-realtime-1.5"
    assert created["session"]["output_modalities"] == ["text"]
    assert created["session"]["instructions"] == keyserver.SESSION["instructions"]


def test_a_refused_key_becomes_a_502_without_the_upstream_message() -> None:
    with rest_router(MockConfig(api_keys=("sk-the-real-one-0000",))):
        status, body = keyserver.mint(openai.OpenAI(api_key=KEY, max_retries=0))
    assert status == 502
    assert body["error"]["status"] == 401
    assert body["error"]["code"] == "invalid_api_key"
    assert KEY[-4:] not in json.dumps(body)


@pytest.mark.integration
def test_post_session_over_http() -> None:
    server = keyserver.KeyServer(("127.0.0.1", 0), openai.OpenAI(api_key=KEY))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with rest_router():  # patches httpx only: urllib below reaches the real socket
            answer = _post(f"http://127.0.0.1:{server.server_port}/session")
            missing = _post(f"http://127.0.0.1:{server.server_port}/nope")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert answer[0] == 200
    assert answer[1]["value"].startswith("ek_")
    assert answer[2]["Cache-Control"] == "no-store"
    assert missing[0] == 404


def _post(url: str) -> tuple[int, dict[str, Any], Any]:
    request = urllib.request.Request(url, data=b"", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read()), response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), exc.headers
