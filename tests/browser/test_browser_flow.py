"""A real browser does the documented WebRTC flow against the mock (issue 16, point 7).

Headless chromium (the system's, driven by Playwright: `tests/browser/harness.mjs`) loads
`examples/browser/index.html` from its back end (`examples/browser/server.py`, another
origin than the mock's), which mints a client secret through the mock's REST side with the
official SDK. The page opens an `RTCPeerConnection` with a fake microphone, POSTs its offer
to the mock's `/v1/realtime/calls` (a CORS preflight first), opens `oai-events`, sends a
screenshot as an `input_image` item and reads the notes.

Skips, with the reason, where chromium, node, playwright-core (`npm ci --prefix
examples/node`) or aiortc is missing.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import json
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from mock_server import serve
from tests.live.shapes import shapes_png

ROOT = Path(__file__).resolve().parents[2]
HARNESS = ROOT / "tests" / "browser" / "harness.mjs"
PLAYWRIGHT = ROOT / "examples" / "node" / "node_modules" / "playwright-core" / "package.json"
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
KEY = "sk-test-browser-0123456789abcdef"
DEADLINE = 90.0  # browser start (~1-3 s here) + ICE/DTLS + one note; bounded

BROWSER_MARKS = (
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no chromium at {CHROMIUM}"),
    pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed"),
    pytest.mark.skipif(
        not PLAYWRIGHT.exists(), reason="playwright-core missing: npm ci --prefix examples/node"
    ),
)
pytestmark = [pytest.mark.integration, *BROWSER_MARKS]


def needs_browser(test: Any) -> Any:
    """Skip `test`, saying why, where chromium, node or playwright-core is missing."""
    for mark in BROWSER_MARKS:
        test = mark(test)
    return test


pytest.importorskip("aiortc", reason="the webrtc extra (aiortc) is not installed")
openai = pytest.importorskip("openai", reason="the back end mints with the official SDK")


def _load_back_end() -> Any:
    """examples/browser/server.py as a module (examples/ is not a package)."""
    path = ROOT / "examples" / "browser" / "server.py"
    spec = importlib.util.spec_from_file_location("browser_example_server", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


page_server = _load_back_end()


@contextmanager
def back_end(base_url: str) -> Iterator[str]:
    """examples/browser/server.py on a free port, minting through the mock at `base_url`."""
    client = openai.OpenAI(api_key=KEY, base_url=base_url, max_retries=0, timeout=10.0)
    httpd = page_server.PageServer(("127.0.0.1", 0), client)
    thread = threading.Thread(target=httpd.serve_forever, name="browser-back-end", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5.0)


async def browse(page_url: str, shot: Path) -> tuple[dict[str, Any], str]:
    """Run the harness; (its JSON result, its stderr: the page's console)."""
    env = {**os.environ, "CHROMIUM": CHROMIUM}
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(HARNESS),
        page_url,
        str(shot),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        async with asyncio.timeout(DEADLINE):
            out, err = await proc.communicate()
    except TimeoutError:
        os.killpg(proc.pid, 9)  # node and the browser it started
        await proc.wait()
        raise
    lines = out.decode().strip().splitlines()
    assert lines, f"the harness printed nothing (exit {proc.returncode}): {err.decode()}"
    return json.loads(lines[-1]), err.decode()


async def test_the_browser_flow_gets_notes_about_its_screenshot(tmp_path: Path) -> None:
    png = shapes_png(64, 48)
    shot = tmp_path / "shot.png"
    shot.write_bytes(png.data)
    digest = hashlib.sha256(png.data).hexdigest()[:12]
    async with serve(pace="fast") as server:
        with back_end(server.base_url) as page:
            result, console = await browse(f"{page}?api={server.base_url}", shot)
            transcripts = list(server.transcripts)
    assert "error" not in result, f"{result['error']}\n{console}"
    # The mock's notes name the image it received: the browser's bytes, unchanged.
    assert f"PNG 64x48, {len(png.data)} bytes, sha256 {digest}" in result["text"]
    assert result["callId"].startswith("rtc_")  # Location was readable: exposed by CORS
    assert result["micTracks"] == 1
    assert result["rtp"]["sent"] > 0  # the fake microphone's audio went out
    assert result["rtp"]["received"] > 0  # the model's audio track came in
    assert result["maxMessageSize"] >= 65_536
    (call,) = [t for t in transcripts if t.meta.get("query", {}).get("call_id") == result["callId"]]
    assert call.meta["transport"] == "webrtc"
    assert call.meta["model"] == page_server.SESSION["model"]  # from the minted secret
    sent = [r.event_type for r in call.records if r.direction == "client" and r.event_type]
    assert sent == ["conversation.item.create", "response.create"]
    first = next(r for r in call.records if r.direction == "server")
    assert json.loads(first.text or "{}")["type"] == "session.created"
    assert KEY not in json.dumps(call.meta)
