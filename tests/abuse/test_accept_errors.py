"""Over the file-descriptor limit the mock logs a burst once, and serves again after (issue 12).

asyncio's accept loop reports every failed `accept()` (EMFILE) to the loop's exception
handler, a traceback each, up to `backlog` times a tick: 160,731 tracebacks (67 MB) in a
minute were seen. A real `realtime-mock serve` runs here with RLIMIT_NOFILE lowered;
more TCP connections than it has descriptors are opened, and its log must hold a
handful of lines, not thousands; once they are closed, a new session works.
"""

from __future__ import annotations

import asyncio
import re
import resource
import signal
import socket
import sys
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from conformance import _json

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 15.0
FD_LIMIT = 64  # the interpreter and the mock need ~20; the rest is for connections
CONNECTIONS = 120
LISTENING = re.compile(r"listening on (ws://127\.0\.0\.1:(\d+)/v1/realtime)")


def _lower_fd_limit() -> None:  # runs in the child, before exec
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, hard))


async def _line_with(stream: asyncio.StreamReader, needle: str, seen: list[str]) -> str:
    async with asyncio.timeout(TIMEOUT):
        while True:
            raw = await stream.readline()
            if not raw:
                raise AssertionError(f"the mock's stderr ended before {needle!r}: {seen}")
            line = raw.decode(errors="replace")
            seen.append(line)
            if needle in line:
                return line


@pytest.mark.integration
async def test_accept_errors_are_one_line_per_burst_and_the_mock_serves_after() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mock_server", "serve", "--port", "0", "--no-compression",
        "--ping-interval", "none",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        preexec_fn=_lower_fd_limit,
    )  # fmt: skip
    sockets: list[socket.socket] = []
    log: list[str] = []
    try:
        assert proc.stdout is not None
        assert proc.stderr is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), TIMEOUT)).decode()
        match = LISTENING.search(line)
        assert match, line
        url, port = match.group(1), int(match.group(2))
        for _ in range(CONNECTIONS):  # queued in the backlog once the mock is out of fds
            sockets.append(socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT))
        first = await _line_with(proc.stderr, "cannot accept connections", log)
        assert "Too many open files" in first
        assert f"is {FD_LIMIT}" in first  # says which limit
        for sock in sockets:
            sock.close()
        sockets.clear()
        summary = await _line_with(proc.stderr, "accept failed", log)
        count = int(re.search(r"accept failed (\d+) times", summary).group(1))  # type: ignore[union-attr]
        assert count >= 2  # a burst, counted
        async with connect(
            f"{url}?model=gpt-realtime-1.5",
            additional_headers={"Authorization": "Bearer sk-abuse-accept-0123456789"},
            open_timeout=TIMEOUT,
            proxy=None,
        ) as ws:
            event = _json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
            assert event["type"] == "session.created"  # serving again
        proc.send_signal(signal.SIGTERM)
        _, rest = await asyncio.wait_for(proc.communicate(), TIMEOUT)
        log.extend(rest.decode(errors="replace").splitlines(keepends=True))
        assert proc.returncode == 0
    finally:
        for sock in sockets:
            sock.close()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    text = "".join(log)
    assert "Traceback" not in text
    assert len(log) <= 12, text  # a handful of lines, not one per try
    assert text.count("cannot accept connections") == 1
