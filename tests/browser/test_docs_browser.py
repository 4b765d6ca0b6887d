"""docs/browser.md's commands, run as written (ports substituted): the page's back end
then the page in chromium, `realtime-notes --webrtc`, and `run --webrtc`."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest

from mock_server import serve
from tests.live.shapes import shapes_png

from .test_browser_flow import browse, needs_browser

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "browser.md").read_text(encoding="utf-8")
BIN = Path(sys.executable).parent

BACK_END = (
    "OPENAI_API_KEY=sk-test OPENAI_BASE_URL=http://127.0.0.1:8765/v1 "
    "python examples/browser/server.py --port 8000"
)
NOTES = (
    "OPENAI_API_KEY=sk-test realtime-notes --webrtc shot.png --url ws://127.0.0.1:8765/v1/realtime"
)
RUN = (
    "realtime-conformance run --webrtc --client 'realtime-notes \"$REALTIME_SCREENSHOT\"' "
    "--cases default,session-expired"
)
DEADLINE = 120.0

pytestmark = pytest.mark.integration
pytest.importorskip("aiortc", reason="the webrtc extra (aiortc) is not installed")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "REALTIME_"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


async def _shell(command: str, cwd: Path) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        "/bin/sh",
        "-c",
        command,
        cwd=cwd,
        env=_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        async with asyncio.timeout(DEADLINE):
            out, err = await proc.communicate()
    except TimeoutError:
        os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def test_the_commands_are_those_of_the_doc() -> None:
    for command in (BACK_END, NOTES, RUN):
        assert command in DOC, command


@needs_browser
async def test_the_documented_back_end_serves_the_page_that_gets_notes(tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    shot.write_bytes(shapes_png(64, 48).data)
    async with serve(pace="fast") as server:
        command = BACK_END.replace("8765", str(server.port)).replace("--port 8000", "--port 0")
        command = command.replace("python ", f"{sys.executable} ", 1)
        proc = await asyncio.create_subprocess_exec(
            "/bin/sh",
            "-c",
            f"exec env {command}",
            cwd=ROOT,
            env=_env(),
            stdout=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        try:
            assert proc.stdout is not None
            async with asyncio.timeout(30.0):
                page = (await proc.stdout.readline()).decode().strip()
            assert page.startswith("http://127.0.0.1:")
            result, console = await browse(f"{page}?api={server.base_url}", shot)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)  # the back end this test started
            async with asyncio.timeout(10.0):
                await proc.wait()
    assert "error" not in result, f"{result['error']}\n{console}"
    assert "PNG 64x48" in result["text"]


async def test_the_documented_notes_command_works_over_webrtc(tmp_path: Path) -> None:
    (tmp_path / "shot.png").write_bytes(shapes_png(160, 120).data)
    async with serve(pace="fast") as server:
        code, out, err = await _shell(NOTES.replace("8765", str(server.port)), tmp_path)
        transports = [t.meta.get("transport") for t in server.transcripts]
    assert code == 0, err
    assert "PNG 160x120" in out
    assert transports == ["webrtc"]


async def test_the_documented_run_command_passes_over_webrtc(tmp_path: Path) -> None:
    code, out, err = await _shell(RUN, tmp_path)
    assert code == 0, out + err
    assert "2 cases: 2 OK" in out
    verdicts, transports = _report(tmp_path)
    assert verdicts == ["OK", "OK"]
    assert transports == {"webrtc"}


def _report(folder: Path) -> tuple[list[str], set[object]]:
    """The verdicts of the run's report in `folder`, and its transcripts' transports."""
    (report,) = folder.glob("*/report.json")
    verdicts = [case["verdict"] for case in json.loads(report.read_text())["cases"]]
    metas = [
        json.loads(path.read_text().splitlines()[0])
        for path in report.parent.glob("cases/*/connection-*.jsonl")
    ]
    return verdicts, {meta.get("transport") for meta in metas}
