"""`realtime-conformance proxy` as a user runs it: a client through the proxy to the mock,
judged when its connection ends (console, JUnit, JSON, HTML), recorded, no key anywhere."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import signal
import struct
import sys
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from conformance.transcript import read_jsonl
from mock_server.config import MockConfig
from mock_server.server import MockServer
from tests.processes import finished, plain_env, reaped

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-proxycli-secret-key-0123456789"
WAIT = 30.0


def png(path: Path) -> Path:
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 8 for _ in range(8))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
    return path


@contextlib.asynccontextmanager
async def proxy_cli(*argv: str, cwd: Path = ROOT) -> AsyncIterator[asyncio.subprocess.Process]:
    """`realtime-conformance proxy --upstream <a fast mock> --port 0 ARGV` (piped, plain
    environment); killed on the way out unless it has ended."""
    server = await MockServer(MockConfig(port=0, pace="fast")).start()
    try:
        upstream = server.url.split("/v1/")[0]
        proxy = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "conformance", "proxy", "--upstream", upstream, "--port", "0",
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env=plain_env(), cwd=cwd,
        )  # fmt: skip
        async with reaped(proxy):
            yield proxy
    finally:
        await server.stop()


async def through_proxy(
    tmp_path: Path, client: list[str], client_env: dict[str, str], *extra: str
) -> tuple[int, str, str, int]:
    """Run the proxy CLI (`--connections 1`) in front of a fast mock and the client through
    it; (proxy status, proxy stdout, proxy stderr, client status)."""
    async with proxy_cli(
        "--connections", "1", "--record", str(tmp_path / "rec"),
        "--junit", str(tmp_path / "junit.xml"), "--json", str(tmp_path / "report.json"),
        "--html", str(tmp_path / "report.html"), *extra,
    ) as proxy:  # fmt: skip
        assert proxy.stdout is not None
        async with asyncio.timeout(WAIT):
            first = (await proxy.stdout.readline()).decode()
            second = (await proxy.stdout.readline()).decode()
        assert first.startswith("OPENAI_REALTIME_URL="), first
        url = first.strip().split("=", 1)[1]
        base = second.strip().split("=", 1)[1]
        env = plain_env(OPENAI_REALTIME_URL=url, OPENAI_BASE_URL=base, OPENAI_API_KEY=KEY)
        env.update(client_env)  # the test's own, over the defaults
        run = await asyncio.create_subprocess_exec(
            *client, env=env, cwd=ROOT, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        async with reaped(run), asyncio.timeout(WAIT):
            client_status = await run.wait()
            out, err = await proxy.communicate()
    return proxy.returncode or 0, first + second + out.decode(), err.decode(), client_status


def written(tmp_path: Path) -> str:
    files = [
        *sorted((tmp_path / "rec").iterdir()),
        *(tmp_path / n for n in ("junit.xml", "report.json", "report.html")),
    ]
    return "".join(p.read_text(encoding="utf-8") for p in files)


async def test_a_correct_client_through_the_proxy_is_judged_ok(tmp_path: Path) -> None:
    shot = png(tmp_path / "shot.png")
    status, out, err, client = await through_proxy(
        tmp_path,
        [sys.executable, "-m", "client_reference.cli", "--timeout", "10", str(shot)],
        {},
    )
    assert client == 0
    assert status == 0, out + err
    assert "[1/1] connection-1 ... OK" in err
    assert "1 OK" in out
    (recording,) = (tmp_path / "rec").iterdir()
    transcript = read_jsonl(recording)
    assert transcript.meta["recorded_by"] == "proxy"
    assert next(r.event_type for r in transcript.server_events()) == "session.created"
    report = json.loads((tmp_path / "report.json").read_text())
    assert [c["verdict"] for c in report["cases"]] == ["OK"]
    assert "<testsuite" in (tmp_path / "junit.xml").read_text()
    assert KEY not in written(tmp_path) + out + err


async def test_a_client_sending_the_beta_header_is_judged_failed(tmp_path: Path) -> None:
    env = {
        "BROKEN_CLIENT_BUG": "beta-header",
        "REALTIME_MODEL": "gpt-realtime",
        "REALTIME_SCREENSHOT": str(png(tmp_path / "shot.png")),
        "REALTIME_PROMPT_TEXT": "Notes, please.",
    }
    status, out, err, _ = await through_proxy(
        tmp_path, [sys.executable, str(ROOT / "examples" / "broken_client.py")], env
    )
    assert status == 1, out + err
    assert "[1/1] connection-1 ... FAILED" in err
    assert "does_not_send_beta_header" in out
    report = json.loads((tmp_path / "report.json").read_text())
    assert [c["verdict"] for c in report["cases"]] == ["FAILED"]
    assert KEY not in written(tmp_path) + out + err


async def test_the_proxy_key_is_never_written_either(tmp_path: Path) -> None:
    shot = png(tmp_path / "shot.png")
    proxy_key = "sk-proxycli-upstream-key-9876543210"
    status, out, err, client = await through_proxy(
        tmp_path,
        [sys.executable, "-m", "client_reference.cli", "--timeout", "10", str(shot)],
        {"OPENAI_API_KEY": "sk-dummy-not-a-real-key"},
        "--api-key",
        proxy_key,
    )
    assert (client, status) == (0, 0), out + err
    assert "upstream key: the proxy's key" in err
    assert proxy_key not in written(tmp_path) + out + err
    assert "sk-dummy-not-a-real-key" not in written(tmp_path)


def test_an_upstream_that_is_not_a_url_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    from conformance.cli import main

    assert main(["proxy", "--upstream", "api.openai.com", "--port", "0"]) == 2
    assert "expected a URL like wss://api.openai.com" in capsys.readouterr().err


DOC = ROOT / "docs" / "proxy.md"
DOC_PROXY = (
    "realtime-conformance proxy --upstream ws://127.0.0.1:8765 --port 8766 "
    "--record transcripts/ --html proxy.html"
)
DOC_CLIENT = "OPENAI_API_KEY=sk-test realtime-notes shot.png --url ws://127.0.0.1:8766/v1/realtime"
DOC_CHECK = "realtime-conformance check transcripts/*.jsonl --html again.html"


async def test_the_documented_offline_workflow(tmp_path: Path) -> None:
    """docs/proxy.md's commands as written (free ports; a fast mock), stopped with Ctrl-C."""
    text = DOC.read_text(encoding="utf-8")
    for command in (DOC_PROXY, DOC_CLIENT, DOC_CHECK):
        assert command in text
    png(tmp_path / "shot.png")
    python = f"{sys.executable} -m"
    words = DOC_PROXY.split()  # proxy_cli gives the mock as --upstream and --port 0
    assert words[:6] == [
        "realtime-conformance", "proxy", "--upstream", "ws://127.0.0.1:8765", "--port", "8766"
    ]  # fmt: skip
    async with proxy_cli(*words[6:], cwd=tmp_path) as proxy:
        assert proxy.stdout is not None
        async with asyncio.timeout(WAIT):
            line = (await proxy.stdout.readline()).decode().strip()
        url = line.split("=", 1)[1]
        client = DOC_CLIENT.replace("realtime-notes", f"{python} client_reference.cli")
        client = client.replace("ws://127.0.0.1:8766/v1/realtime", url)
        run = await asyncio.create_subprocess_shell(
            client, cwd=tmp_path, env=plain_env(PYTHONPATH=str(ROOT)),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        async with reaped(run), asyncio.timeout(WAIT):
            assert await run.wait() == 0
            while not (tmp_path / "proxy.html").exists():  # noqa: ASYNC110 - a file
                await asyncio.sleep(0.05)
        proxy.send_signal(signal.SIGINT)  # Ctrl-C
        async with asyncio.timeout(WAIT):
            _, err = await proxy.communicate()
    assert proxy.returncode == 0, err.decode()
    assert "proxy: 1 connection(s) judged; none FAILED" in err.decode()
    assert len(list((tmp_path / "transcripts").glob("*.jsonl"))) == 1
    check = DOC_CHECK.replace("realtime-conformance", f"{python} conformance")
    done = await asyncio.create_subprocess_shell(
        check, cwd=tmp_path, env=plain_env(PYTHONPATH=str(ROOT)),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    status, checked, _ = await finished(done, within_s=WAIT)
    assert status == 0, checked.decode()
    assert (tmp_path / "again.html").is_file()
    assert "sk-test" not in (tmp_path / "proxy.html").read_text(encoding="utf-8")


async def test_tls_serves_wss_and_prints_what_clients_must_trust(tmp_path: Path) -> None:
    import ssl

    from websockets.asyncio.client import connect

    async with proxy_cli(
        "--connections", "1", "--tls", "--tls-dir", str(tmp_path / "tls")
    ) as proxy:
        assert proxy.stdout is not None
        async with asyncio.timeout(WAIT):
            lines = [(await proxy.stdout.readline()).decode().strip() for _ in range(4)]
        found = dict(line.split("=", 1) for line in lines)
        assert found["OPENAI_REALTIME_URL"].startswith("wss://127.0.0.1:")
        assert found["OPENAI_BASE_URL"].startswith("https://127.0.0.1:")
        assert found["NODE_EXTRA_CA_CERTS"] == found["SSL_CERT_FILE"]
        trusting = ssl.create_default_context(cafile=found["SSL_CERT_FILE"])
        async with connect(
            found["OPENAI_REALTIME_URL"] + "?model=gpt-realtime",
            additional_headers={"Authorization": f"Bearer {KEY}"},
            ssl=trusting,
            open_timeout=WAIT,
        ) as ws:
            async with asyncio.timeout(WAIT):
                assert json.loads(await ws.recv())["type"] == "session.created"
        async with asyncio.timeout(WAIT):
            _, err = await proxy.communicate()
    assert proxy.returncode == 0, err.decode()


@pytest.mark.skipif(
    shutil.which("node") is None or not (ROOT / "examples/node/node_modules/openai").is_dir(),
    reason="needs node and `npm ci --prefix examples/node`",
)
async def test_the_official_node_sdk_through_the_proxy_is_judged_ok(tmp_path: Path) -> None:
    env = {
        "REALTIME_MODEL": "gpt-realtime",
        "REALTIME_SCREENSHOT": str(png(tmp_path / "shot.png")),
    }
    status, out, err, client = await through_proxy(
        tmp_path, [shutil.which("node") or "node", "examples/node/sdk-notes.mjs"], env
    )
    assert client == 0
    assert status == 0, out + err
    assert "[1/1] connection-1 ... OK" in err
    assert KEY not in written(tmp_path) + out + err
