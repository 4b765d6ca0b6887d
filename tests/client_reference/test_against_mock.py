"""The reference client against the real mock server (not a scripted fake).

The done-when check of the reference client: `realtime-notes IMAGE --url ...` run as a
subprocess against `realtime-mock serve --port 0` (another subprocess) prints notes that
name the screenshot's size and digest, and exits 0. Then the same flow in-process:
`RealtimeClient` against `mock_server.serve()`, checked through the mock's transcript.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from client_reference import ClientSettings, RealtimeClient
from conformance.protocol import replay
from conformance.transcript import Direction, Transcript
from mock_server import serve
from tests.live.shapes import Png, shapes_png

pytestmark = pytest.mark.integration

API_KEY = "sk-test-against-mock-0123456789abcdef"
SETTINGS = ClientSettings(
    open_timeout=5.0,
    session_created_timeout=5.0,
    ack_timeout=5.0,
    response_timeout=5.0,
    close_timeout=2.0,
)
PROCESS_DEADLINE = 20.0  # a whole CLI run; it takes well under a second
STOP_DEADLINE = 5.0


# ----------------------------------------------------------- subprocess plumbing
def _script(name: str) -> str:
    """The console script next to this interpreter (`.venv/bin/NAME`), else on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"console script {name!r} is not installed (pip install -e .)")
    return found


def _env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OPENAI_API_KEY", "OPENAI_REALTIME_URL", "OPENAI_BASE_URL")
    }
    env["OPENAI_API_KEY"] = API_KEY
    return env


async def _stop(proc: asyncio.subprocess.Process) -> tuple[bytes, bytes]:
    """Terminate (then kill) a subprocess, bounded; return what is left of its output."""
    if proc.returncode is None:
        proc.terminate()
    try:
        async with asyncio.timeout(STOP_DEADLINE):
            return await proc.communicate()
    except TimeoutError:
        proc.kill()
        async with asyncio.timeout(STOP_DEADLINE):
            return await proc.communicate()


@dataclass
class MockProcess:
    proc: asyncio.subprocess.Process
    url: str

    async def wait_for_log(self, fragment: str) -> None:
        """Read the mock's stderr until a line contains `fragment` (bounded)."""
        assert self.proc.stderr is not None
        async with asyncio.timeout(PROCESS_DEADLINE):
            while True:
                line = await self.proc.stderr.readline()
                if not line:
                    pytest.fail(f"the mock exited before logging {fragment!r}")
                if fragment in line.decode():
                    return


@contextlib.asynccontextmanager
async def mock_process(*args: str) -> AsyncIterator[MockProcess]:
    """`realtime-mock serve --port 0 ARGS`; yields once its URL line is printed."""
    proc = await asyncio.create_subprocess_exec(
        _script("realtime-mock"),
        "serve",
        "--port",
        "0",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_env(),
    )
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(PROCESS_DEADLINE):
            line = (await proc.stdout.readline()).decode()
        match = re.search(r"listening on (ws://127\.0\.0\.1:\d+/v1/realtime)", line)
        assert match, f"unexpected first line from realtime-mock: {line!r}"
        yield MockProcess(proc, match.group(1))
    finally:
        await _stop(proc)
    assert proc.returncode == 0, "realtime-mock did not stop cleanly on SIGTERM"


@dataclass
class Finished:
    code: int
    out: str
    err: str


async def _start_notes(args: Sequence[str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        _script("realtime-notes"),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_env(),
    )


async def _finish(proc: asyncio.subprocess.Process) -> Finished:
    try:
        async with asyncio.timeout(PROCESS_DEADLINE):
            out, err = await proc.communicate()
    except TimeoutError:
        out, err = await _stop(proc)
        pytest.fail(f"realtime-notes did not finish in {PROCESS_DEADLINE} s: {err.decode()}")
    assert proc.returncode is not None
    return Finished(proc.returncode, out.decode(), err.decode())


async def run_notes(*args: str) -> Finished:
    """Run `realtime-notes ARGS` to completion (bounded)."""
    return await _finish(await _start_notes(args))


def _write_png(path: Path, png: Png) -> Path:
    """Write atomically (a hidden temp name, then rename), as screenshot tools do."""
    temp = path.with_name("." + path.name)
    temp.write_bytes(png.data)
    temp.rename(path)
    return path


# ------------------------------------------------------------ the done-when check
async def test_realtime_notes_names_the_screenshot_size_and_digest(tmp_path: Path) -> None:
    shot = shapes_png(160, 120)
    image = _write_png(tmp_path / "shot.png", shot)
    async with mock_process() as mock:
        result = await run_notes(str(image), "--url", mock.url, "--timeout", "5")
    assert result.code == 0, result.err
    assert shot.describe() in result.out  # "PNG 160x120, N bytes, sha256 <12 hex>"
    assert re.search(r"PNG 160x120, \d+ bytes, sha256 [0-9a-f]{12}", result.out)
    assert result.err == ""
    assert API_KEY not in result.out + result.err


async def test_realtime_notes_watch_sends_each_new_screenshot(tmp_path: Path) -> None:
    folder = tmp_path / "shots"
    folder.mkdir()
    _write_png(folder / "old.png", shapes_png(40, 30))  # present before the watch: ignored
    shots = {"a.png": shapes_png(64, 48), "b.png": shapes_png(120, 90)}
    async with mock_process("--log-level", "INFO") as mock:
        proc = await _start_notes(
            ["--watch", str(folder), "--watch-limit", "2", "--poll", "0.05", "--url", mock.url]
        )
        try:
            # The CLI lists the folder before it connects: once the mock logs the
            # connection, files written now are new to the watcher.
            await mock.wait_for_log("connection open")
            for name, png in shots.items():
                _write_png(folder / name, png)
        finally:
            result = await _finish(proc)
    assert result.code == 0, result.err
    blocks = _blocks(result.out)
    assert list(blocks) == [str(folder / name) for name in shots]
    for name, png in shots.items():
        assert png.describe() in blocks[str(folder / name)]
    assert "old.png" not in result.out


async def test_realtime_notes_reports_a_rejected_key_without_printing_it(
    tmp_path: Path,
) -> None:
    image = _write_png(tmp_path / "shot.png", shapes_png(32, 24))
    async with mock_process() as mock:
        url = mock.url + "?scenario=invalid-api-key"
        result = await run_notes(str(image), "--url", url, "--reconnect", "3")
    assert result.code == 4, result.err
    assert result.err.startswith(
        "error: connection_closed: server closed the connection: "
        "3000 invalid_request_error.invalid_api_key"
    )
    assert "hint: the server rejected the credentials" in result.err
    assert API_KEY not in result.out + result.err
    assert result.out == ""


async def test_realtime_notes_reports_a_refused_upgrade_with_a_hint(tmp_path: Path) -> None:
    image = _write_png(tmp_path / "shot.png", shapes_png(32, 24))
    async with mock_process() as mock:
        url = mock.url + "?scenario=no-realtime-access"
        result = await run_notes(str(image), "--url", url, "--reconnect", "3")
    assert result.code == 4, result.err
    assert result.err.startswith("error: connect_failed: ")
    assert "refused the WebSocket upgrade with HTTP 403" in result.err
    assert "hint: the upgrade was refused: the key's project may have no Realtime access" in (
        result.err
    )
    assert API_KEY not in result.out + result.err


def _blocks(out: str) -> dict[str, str]:
    """`== path ==` headed blocks of the CLI's output, in order."""
    blocks: dict[str, str] = {}
    current: str | None = None
    for line in out.splitlines():
        if header := re.fullmatch(r"== (.+) ==", line):
            current = header.group(1)
            blocks[current] = ""
        elif current is not None:
            blocks[current] += line + "\n"
    return blocks


# ------------------------------------------------------------------ in process
def _frames(transcript: Transcript) -> list[tuple[Direction, str]]:
    return [(r.direction, r.text or "") for r in transcript.records if r.kind == "text"]


def _server_texts(transcript: Transcript, kind: str, field: str) -> list[str]:
    return [
        str((r.event or {}).get(field)) for r in transcript.server_events() if r.event_type == kind
    ]


async def test_configure_screenshot_and_streamed_notes() -> None:
    shot = shapes_png(200, 100)
    on_delta: list[str] = []
    iterated: list[str] = []
    async with asyncio.timeout(10), serve(port=0, close_timeout=2.0) as server:
        async with RealtimeClient(server.url, api_key=API_KEY, settings=SETTINGS) as client:
            session = await client.configure(instructions="Be terse.", max_output_tokens=300)
            item = await client.add_screenshot(shot.data, text="What needs attention?")
            stream = await client.respond(on_delta=on_delta.append)
            async for delta in stream:
                iterated.append(delta)
            result = await stream.done()
        [transcript] = await server.wait_for_sessions(1)

    assert session["type"] == "realtime"
    assert session["instructions"] == "Be terse."
    assert session["output_modalities"] == ["text"]
    assert session["max_output_tokens"] == 300
    assert item["id"] == "img_1"
    assert [part["type"] for part in item["content"]] == ["input_image", "input_text"]

    assert result.status == "completed"
    assert shot.describe() in result.text
    assert len(iterated) > 1, "the notes should stream in several deltas"
    assert on_delta == iterated
    assert "".join(iterated) == result.text
    assert _server_texts(transcript, "response.output_text.done", "text") == [result.text]
    assert result.usage is not None
    assert result.usage["input_token_details"]["image_tokens"] == 194
    assert result.usage["output_tokens"] > 0
    assert result.time_to_first_delta is not None
    assert 0 <= result.time_to_first_delta <= result.duration

    assert [r.event_type for r in transcript.client_events()] == [
        "session.update",
        "conversation.item.create",
        "response.create",
    ]
    assert replay(_frames(transcript)) == []


async def test_queued_responses_never_overlap() -> None:
    # A slow first delta keeps each response active for a while: a client that sent the
    # next response.create early would get conversation_already_has_active_response.
    async with (
        asyncio.timeout(10),
        serve(port=0, close_timeout=2.0, first_delta_delay=0.05) as server,
    ):
        async with RealtimeClient(server.url, api_key=API_KEY, settings=SETTINGS) as client:
            await client.configure(instructions="Be terse.")
            await client.add_screenshot(shapes_png(50, 50).data, wait=False)
            streams = [await client.respond(metadata={"n": str(n)}) for n in range(3)]
            assert [s.sent for s in streams] == [True, False, False]  # two are queued
            results = [await s.done() for s in streams]
        [transcript] = await server.wait_for_sessions(1)

    assert [r.status for r in results] == ["completed"] * 3
    assert len({r.response_id for r in results}) == 3
    assert [r.response["metadata"] for r in results] == [{"n": "0"}, {"n": "1"}, {"n": "2"}]
    assert _server_texts(transcript, "response.output_text.done", "text") == [
        r.text for r in results
    ]
    assert [r for r in transcript.server_events() if r.event_type == "error"] == []
    # Each response.create goes out only after the previous response.done.
    kinds = [(r.direction, r.event_type) for r in transcript.records]
    creates = [i for i, k in enumerate(kinds) if k == ("client", "response.create")]
    dones = [i for i, k in enumerate(kinds) if k == ("server", "response.done")]
    assert len(creates) == len(dones) == 3
    assert creates[1] > dones[0]
    assert creates[2] > dones[1]
    assert replay(_frames(transcript)) == []


async def test_screenshot_without_ack_then_forget_it() -> None:
    shot = shapes_png(80, 60)
    async with asyncio.timeout(10), serve(port=0, close_timeout=2.0) as server:
        async with RealtimeClient(server.url, api_key=API_KEY, settings=SETTINGS) as client:
            item = await client.add_screenshot(shot.data, wait=False, detail="low")
            result = await (await client.respond()).done()
            await client.delete_item(item["id"])
        [transcript] = await server.wait_for_sessions(1)
    assert shot.describe() in result.text
    assert _server_texts(transcript, "conversation.item.deleted", "item_id") == [item["id"]]
    assert replay(_frames(transcript)) == []


async def test_cancel_stops_the_live_response_and_drops_a_queued_one() -> None:
    # 10 words a second: the first response is still streaming when it is cancelled.
    async with (
        asyncio.timeout(10),
        serve(port=0, close_timeout=2.0, text_tokens_per_second=10.0) as server,
    ):
        async with RealtimeClient(server.url, api_key=API_KEY, settings=SETTINGS) as client:
            await client.configure(instructions="Be terse.")
            await client.add_screenshot(shapes_png(40, 30).data, wait=False)
            live, queued, after = [await client.respond() for _ in range(3)]
            await client.cancel(queued)  # never sent
            first = await anext(aiter(live))  # the first delta has arrived: it is live
            await client.cancel(live)
            stopped, skipped, finished = [await s.done() for s in (live, queued, after)]
            await client.cancel(live)  # already over: nothing is sent
        [transcript] = await server.wait_for_sessions(1)

    assert (stopped.status, skipped.status, finished.status) == (
        "cancelled",
        "cancelled",
        "completed",
    )
    assert stopped.text.startswith(first)
    assert len(stopped.text) < len(finished.text)
    assert (skipped.response_id, skipped.text) == ("", "")
    kinds = [(r.direction, r.event_type) for r in transcript.records if r.kind == "text"]
    assert kinds.count(("client", "response.create")) == 2  # the queued one never went out
    assert kinds.count(("client", "response.cancel")) == 1
    assert [r for r in transcript.server_events() if r.event_type == "error"] == []
    assert replay(_frames(transcript)) == []
