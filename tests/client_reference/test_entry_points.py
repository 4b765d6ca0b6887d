"""The CLI's real `main()` and the example script, run as processes against the fake server."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from tests.client_reference.fake_server import FakeServer, Signal, Stall
from tests.client_reference.support import PNG
from tests.client_reference.wire import configured, text_turn

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


async def start(*args: str, url: str) -> asyncio.subprocess.Process:
    env = {key: value for key, value in os.environ.items() if not key.startswith("OPENAI_")}
    env.update(OPENAI_REALTIME_URL=url, PYTHONPATH=str(ROOT))
    return await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=_default_sigint,
    )


def _default_sigint() -> None:
    """The child gets Ctrl-C as from a terminal, whatever pytest inherited.

    A shell starts a background job (`pytest ... &`) with SIGINT ignored, and an ignored
    signal stays ignored across exec: the child would never see the test's SIGINT.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


async def test_the_cli_module_streams_notes_and_exits_0(tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    shot.write_bytes(PNG)
    script = [*configured(), *text_turn("resp_0601", "Terminal: build passed.", deltas=3)]
    async with FakeServer(script) as server:
        process = await start("-m", "client_reference.cli", str(shot), url=server.url)
        out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    assert out.decode() == "Terminal: build passed.\n"


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery differs on Windows")
async def test_ctrl_c_in_watch_mode_closes_the_session_and_exits_130(tmp_path: Path) -> None:
    script = [*configured(), Signal("watching"), Stall()]
    async with FakeServer(script) as server:
        process = await start(
            "-m", "client_reference.cli", "--watch", str(tmp_path), "--poll", "0.05", url=server.url
        )
        try:
            await asyncio.wait_for(server.signals["watching"].wait(), 30)
            process.send_signal(signal.SIGINT)
            _, err = await asyncio.wait_for(process.communicate(), 30)
        finally:
            if process.returncode is None:  # never leave the watcher running
                process.kill()
                await process.wait()
        await asyncio.wait_for(server.signals["finished:1"].wait(), 10)
    assert process.returncode == 130
    assert "interrupted" in err.decode()


async def test_the_example_streams_notes_for_a_generated_screenshot() -> None:
    script = [*configured(), *text_turn("resp_0701", "Grey box. Nothing urgent.", deltas=2)]
    async with FakeServer(script) as server:
        process = await start("examples/notes_from_code.py", url=server.url)
        out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    assert out.decode() == "Grey box. Nothing urgent.\n"
    image = server.connections[0].received[1]["item"]["content"][0]
    assert image["image_url"].startswith("data:image/png;base64,")
    assert image["detail"] == "low"
