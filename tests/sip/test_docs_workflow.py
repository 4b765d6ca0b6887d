"""docs/sip.md, run as written: `realtime-mock serve` with a webhook URL and secret (a
receiver of this test stands in for the back end), the curl that rings it, the webhook
verified with the official SDK, the curl accept, a sideband getting session.created and
the scenario's first DTMF digit, the curl hangup closing the sideband.

tests/test_docs_commands.py lists these commands in RUN_ELSEWHERE, naming this test."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shlex
import signal
from pathlib import Path

import openai
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.processes import BIN, user_env

from .receiver import Receiver

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "sip.md"
SECRET = "whsec_" + base64.b64encode(b"the-docs-workflow-secret-32bytes").decode()
DOC_WEBHOOK = "http://127.0.0.1:8000/openai/webhook"
SERVE = (
    'REALTIME_MOCK_WEBHOOK_SECRET="$OPENAI_WEBHOOK_SECRET" realtime-mock serve '
    f"--webhook-url {DOC_WEBHOOK} --scenario sip-basic"
)
RING = "curl -s -X POST http://127.0.0.1:8765/mock/sip/incoming"
ACCEPT = (
    "curl -s -X POST http://127.0.0.1:8765/v1/realtime/calls/$CALL_ID/accept "
    '-H "Authorization: Bearer sk-test" -H "Content-Type: application/json" '
    '-d \'{"type": "realtime", "model": "gpt-realtime", "instructions": "You answer the phone."}\''
)
HANGUP = (
    "curl -s -X POST http://127.0.0.1:8765/v1/realtime/calls/$CALL_ID/hangup "
    '-H "Authorization: Bearer sk-test"'
)
COMMANDS = (SERVE, RING, ACCEPT, HANGUP)
WAIT = 30.0


def test_these_are_the_commands_the_doc_shows() -> None:
    text = DOC.read_text(encoding="utf-8")
    for command in COMMANDS:
        assert command in text, f"docs/sip.md no longer shows: {command}"


async def _sh(command: str, **env: str) -> str:
    process = await asyncio.create_subprocess_exec(
        "/bin/sh",
        "-c",
        command,
        env=user_env(**env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), WAIT)
    assert process.returncode == 0, (command, err.decode())
    return out.decode()


async def _closed(ws: ClientConnection) -> ConnectionClosed:
    try:
        while True:
            await ws.recv()
    except ConnectionClosed as exc:
        return exc


async def test_the_documented_workflow(tmp_path: Path) -> None:
    async with Receiver() as receiver:
        # the doc's serve line: its variable set in the environment, our receiver's URL,
        # any free port
        assignment, _, serve = SERVE.partition(" ")
        assert assignment.startswith("REALTIME_MOCK_WEBHOOK_SECRET=")
        argv = [*shlex.split(serve.replace(DOC_WEBHOOK, receiver.url)), "--port", "0"]
        argv[0] = str(BIN / argv[0])
        env = user_env(REALTIME_MOCK_WEBHOOK_SECRET=SECRET)
        mock = await asyncio.create_subprocess_exec(
            *argv,
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            assert mock.stdout is not None
            line = (await asyncio.wait_for(mock.stdout.readline(), WAIT)).decode()
            found = re.search(r"ws://127\.0\.0\.1:(\d+)/v1/realtime", line)
            assert found, f"serve printed {line!r}"
            port = found.group(1)
            notice = (await asyncio.wait_for(mock.stdout.readline(), WAIT)).decode()
            assert f"POST http://127.0.0.1:{port}/mock/sip/incoming rings a call" in notice
            assert receiver.url in notice

            answer = json.loads(await _sh(RING.replace("8765", port)))
            assert answer["webhook"]["delivered"] is True, answer
            [webhook] = receiver.requests
            sdk = openai.OpenAI(api_key="sk-test", webhook_secret=SECRET)
            event = sdk.webhooks.unwrap(webhook.body, webhook.headers)
            call_id = answer["call_id"]
            assert event.data.call_id == call_id
            assert {h.name for h in event.data.sip_headers} >= {"From", "To", "X-Customer-Id"}

            assert await _sh(ACCEPT.replace("8765", port), CALL_ID=call_id) == ""
            url = f"ws://127.0.0.1:{port}/v1/realtime?call_id={call_id}"
            async with connect(url, additional_headers={"Authorization": "Bearer sk-test"}) as ws:
                async with asyncio.timeout(WAIT):
                    created = json.loads(await ws.recv())
                    assert created["type"] == "session.created"
                    assert created["session"]["instructions"] == "You answer the phone."
                    digit = json.loads(await ws.recv())  # sip-basic: "1", 0.5 s in
                    assert (digit["type"], digit["event"]) == (
                        "input_audio_buffer.dtmf_event_received",
                        "1",
                    )
                    assert await _sh(HANGUP.replace("8765", port), CALL_ID=call_id) == ""
                    ended = await _closed(ws)
            assert ended.rcvd is not None
            assert (ended.rcvd.code, ended.rcvd.reason) == (1000, "hangup")
        finally:
            mock.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(mock.wait(), 10)
            except TimeoutError:
                mock.kill()
                await mock.wait()
