"""The official `openai` SDK talks to the mock exactly as it would to the live API."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from mock_server.server import serve

from ..mock_server.app_harness import image_item, png_bytes

openai = pytest.importorskip("openai")

pytestmark = pytest.mark.integration


async def test_sdk_screenshot_to_notes_exchange_has_no_findings():
    png = png_bytes(96, 54)
    async with serve(port=0) as server:
        client = openai.AsyncOpenAI(api_key="sk-test-interop-123456", base_url=server.base_url)
        async with asyncio.timeout(20):
            async with client.realtime.connect(model="gpt-realtime-1.5") as connection:
                await connection.session.update(
                    session={
                        "type": "realtime",
                        "output_modalities": ["text"],
                        "instructions": "Write terse notes about screenshots.",
                    }
                )
                await connection.conversation.item.create(item=image_item(png, "Notes please"))
                await connection.response.create()
                seen: list[str] = []
                deltas: list[str] = []
                async for event in connection:
                    seen.append(event.type)
                    if event.type == "response.output_text.delta":
                        deltas.append(event.delta)
                    if event.type == "response.done":
                        done = event
                        break
        await server.wait_for_sessions(1, timeout=5)
        transcript = server.transcripts[0]
    text = "".join(deltas)
    digest = hashlib.sha256(png).hexdigest()[:12]
    assert f"PNG 96x54, {len(png)} bytes, sha256 {digest}" in text
    assert "Notes please" in text
    assert done.response.status == "completed"
    assert seen[0] == "session.created"
    assert "error" not in seen
    findings = [f for record in transcript.records for f in record.findings]
    assert findings == []
    assert transcript.meta["model"] == "gpt-realtime-1.5"
