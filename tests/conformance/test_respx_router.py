"""The respx router: OpenAI REST calls through httpx answered by the mock, no socket
(mock_server/respx_router.py, the `realtime_rest` fixture; issue 14 (3))."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import respx
from websockets.asyncio.client import connect

from mock_server.respx_router import ROUTE_NAME, rest_router
from mock_server.server import MockServer, serve

KEY = "sk-test-respx-0123456789"
TIMEOUT = 5.0
SESSION: dict[str, Any] = {
    "type": "realtime",
    "model": "gpt-realtime",
    "instructions": "Notes only.",
    "output_modalities": ["text"],
}


async def session_created(server: MockServer, key: str) -> dict[str, Any]:
    async with connect(server.url, additional_headers={"Authorization": f"Bearer {key}"}) as ws:
        event: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
    return event


@pytest.mark.integration
async def test_the_sdks_client_secret_opens_a_session_on_a_mock_of_the_same_test() -> None:
    async with serve(pace="fast", ping_interval=None) as server:
        with rest_router() as router:
            client = openai.OpenAI(api_key=KEY)  # the default base: api.openai.com
            secret = client.realtime.client_secrets.create(
                expires_after={"anchor": "created_at", "seconds": 300},
                session=SESSION,  # type: ignore[arg-type]
            )
            assert router[ROUTE_NAME].call_count == 1  # calls are reset when it exits
        assert secret.value.startswith("ek_")
        assert secret.session.type == "realtime"
        created = await session_created(server, secret.value)
    assert created["type"] == "session.created"
    assert created["session"]["instructions"] == "Notes only."
    assert created["session"]["output_modalities"] == ["text"]


async def test_the_async_sdk_gets_the_live_error_shape() -> None:
    with rest_router():
        client = openai.AsyncOpenAI(api_key=KEY)
        with pytest.raises(openai.BadRequestError) as info:
            await client.realtime.client_secrets.create(expires_after={"seconds": 5})
    assert info.value.status_code == 400
    assert info.value.code == "integer_below_min_value"
    assert info.value.param == "expires_after.seconds"


def test_plain_httpx_and_another_base_url() -> None:
    base = "http://backend.test:8080/openai/v1"
    with rest_router(base_urls=(base,)):
        response = httpx.post(
            f"{base}/realtime/client_secrets",
            json={"session": {"type": "transcription"}},
            headers={"Authorization": f"Bearer {KEY}"},
        )
        missing = httpx.get(f"{base}/models", headers={"Authorization": f"Bearer {KEY}"})
        with pytest.raises(respx.models.AllMockedAssertionError):
            httpx.get("https://api.openai.com/v1/models")  # not a base given here
    assert response.status_code == 200
    assert response.json()["session"]["type"] == "transcription"
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "Invalid URL (GET /v1/models)"


def test_keys_and_clock_come_from_the_arguments() -> None:
    from mock_server.config import MockConfig

    with rest_router(MockConfig(api_keys=(KEY,)), clock=lambda: 1000.0):
        client = openai.OpenAI(api_key="sk-not-configured-0000", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            client.realtime.client_secrets.create()
        secret = openai.OpenAI(api_key=KEY).realtime.client_secrets.create()
    assert secret.expires_at == 1600


@pytest.mark.integration
def test_the_realtime_rest_fixture_shares_the_marker_config_with_realtime_mock(
    tmp_path: Path,
) -> None:
    """A user's test file, run by pytest with the plugin loaded from its entry point."""
    (tmp_path / "test_user.py").write_text(
        textwrap.dedent(
            """
            import asyncio, json

            import openai
            import pytest
            from websockets.asyncio.client import connect

            KEY = "sk-user-0123456789abcdef"


            async def first(url, key):
                headers = {"Authorization": f"Bearer {key}"}
                async with connect(url, additional_headers=headers) as ws:
                    return json.loads(await asyncio.wait_for(ws.recv(), 5))


            @pytest.mark.realtime_scenario(pace="fast", api_keys=(KEY,), secret_key="shared")
            def test_minted_key_opens_the_mock(realtime_mock, realtime_rest):
                client = openai.OpenAI(api_key=KEY)
                secret = client.realtime.client_secrets.create(
                    session={"type": "realtime", "instructions": "Hi."}
                )
                created = asyncio.run(first(realtime_mock.url, secret.value))
                assert created["session"]["instructions"] == "Hi."
                assert realtime_rest["openai-rest"].call_count == 1
                with pytest.raises(openai.AuthenticationError):
                    openai.OpenAI(api_key="sk-other-0000000000").realtime.client_secrets.create()
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_user.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
