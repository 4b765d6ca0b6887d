"""Recordings survive a crash (issue 12): frames are appended as they happen, never overwritten.

A real `realtime-mock serve --record DIR` is killed with SIGKILL in the middle of a
session; its file then holds every frame the client saw, up to the last one or two, and
reads back with `Transcript.read_jsonl` and `realtime-conformance check`.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from asyncio.subprocess import Process
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect

from conformance import _json
from conformance.protocol.errors import UsageError
from conformance.transcript import Transcript
from mock_server.cli import main
from mock_server.server import serve

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-proj-abuse-recordings-0123456789abcdef"
TIMEOUT = 15.0
LISTENING = re.compile(r"listening on (ws://127\.0\.0\.1:\d+/v1/realtime)")
LOST_AT_MOST = 2  # frames the kill may take with it


async def exchange(ws: ClientConnection, sent: list[str], received: list[str]) -> None:
    """Some of everything: a session update, an item, a whole text response."""

    async def send(event: dict[str, object]) -> None:
        text = _json.dumps(event)
        sent.append(text)
        await ws.send(text)

    async def until(event_type: str) -> None:
        while True:
            message = await asyncio.wait_for(ws.recv(), TIMEOUT)
            assert isinstance(message, str)
            received.append(message)
            if _json.loads(message)["type"] == event_type:
                return

    await until("session.created")
    # The key in the instructions (the reply echoes the item's text, split across deltas).
    session = {"type": "realtime", "output_modalities": ["text"], "instructions": f"Key: {KEY}"}
    await send({"type": "session.update", "session": session})
    await until("session.updated")
    content = [{"type": "input_text", "text": "Say hello."}]
    item = {"type": "message", "role": "user", "content": content}
    await send({"type": "conversation.item.create", "item": item})
    await until("conversation.item.done")
    await send({"type": "response.create"})
    await until("response.done")
    await send({"type": "input_audio_buffer.clear"})
    await until("input_audio_buffer.cleared")


@asynccontextmanager
async def mock_recording_to(folder: Path) -> AsyncIterator[tuple[Process, ClientConnection]]:
    """A `realtime-mock serve --record folder` process and one session on it."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mock_server", "serve", "--port", "0", "--no-compression",
        "--record", str(folder),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), TIMEOUT)).decode()
        match = LISTENING.search(line)
        assert match, line
        async with connect(
            f"{match.group(1)}?model=gpt-realtime-1.5",
            additional_headers={"Authorization": f"Bearer {KEY}"},
            open_timeout=TIMEOUT,
            ping_interval=None,
            proxy=None,
        ) as ws:
            yield proc, ws
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def masked(text: str) -> str:
    return text.replace(KEY, "[REDACTED]")  # the session's own key, as recordings mask it


@pytest.mark.integration
async def test_a_killed_mock_leaves_every_frame_but_the_last_one_or_two(tmp_path: Path) -> None:
    folder = tmp_path / "recordings"  # created by the mock at start
    sent: list[str] = []
    received: list[str] = []
    async with mock_recording_to(folder) as (proc, ws):
        await exchange(ws, sent, received)
        proc.send_signal(signal.SIGKILL)  # the session is still open
        await asyncio.wait_for(proc.wait(), TIMEOUT)
    assert proc.returncode == -signal.SIGKILL
    [path] = folder.glob("*.jsonl")
    assert KEY not in path.read_text()
    recorded = Transcript.read_jsonl(path)
    client = [r.text for r in recorded if r.direction == "client"]
    server = [r.text for r in recorded if r.direction == "server"]
    # Everything the client sent and received, in order, keys masked: all of it but
    # at most the last LOST_AT_MOST frames.
    assert len(sent) + len(received) - len(recorded) <= LOST_AT_MOST
    assert client == [masked(t) for t in sent][: len(client)]
    assert server == [masked(t) for t in received][: len(server)]
    # `realtime-conformance check` reads it (a verdict, not a usage error).
    check = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "conformance", "check", str(path),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(check.communicate(), 60)
    assert check.returncode in (0, 1), err.decode()
    assert KEY not in (out + err).decode()

    # A second run: the same seed gives the same session id, in another file.
    async with mock_recording_to(folder) as (proc, ws):
        await asyncio.wait_for(ws.recv(), TIMEOUT)
        await ws.close()
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), TIMEOUT)
    assert proc.returncode == 0
    paths = list(folder.glob("*.jsonl"))
    assert len(paths) == 2
    assert path in paths
    session_ids = {Transcript.read_jsonl(p).meta["session_id"] for p in paths}
    assert len(session_ids) == 1  # session ids repeat across runs; file names do not


def test_an_unwritable_record_folder_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    assert main(["serve", "--port", "0", "--record", str(blocker / "recordings")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("realtime-mock: error: cannot record transcripts to ")
    assert "a-file/recordings" in err
    assert "--record" in err  # what to do


async def test_the_record_folder_is_created_and_checked_at_start(tmp_path: Path) -> None:
    folder = tmp_path / "new" / "nested"
    async with serve(port=0, record=str(folder)):
        assert folder.is_dir()
        assert os.listdir(folder) == []  # the write probe is gone
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(UsageError, match="cannot record transcripts to"):
        async with serve(port=0, record=str(blocker)):
            pass
