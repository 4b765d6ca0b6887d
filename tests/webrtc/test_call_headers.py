"""A WebRTC call's `POST /v1/realtime/calls` is recorded in the call's transcript where a
WebSocket's upgrade request goes (headers masked the same way), so the header checks
(`does_not_send_beta_header`) judge a call's request instead of passing on every call."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip(
    "aiortc", reason="the WebRTC tests need the webrtc extra (pip install -e '.[webrtc]')"
)

from conformance import _cli_run, cli
from conformance.transcript import REDACTED, TRANSCRIPT_MAX_BYTES, Transcript
from mock_server import serve
from tests.webrtc._peer import Peer, absolute, http_client

pytestmark = pytest.mark.integration
KEY = "sk-test-call-headers-0123456789abcdef"
BETA = {"OpenAI-Beta": "realtime=v1"}


async def _call(headers: dict[str, str]) -> Transcript:
    """One call with `headers` added to its POST /calls: answered, opened, hung up."""
    async with serve(pace="fast") as server, http_client(server) as http:
        peer = Peer()
        try:
            response = await peer.call(http, key=KEY, headers=headers)
            assert response.status_code == 201, response.text  # accepted [INFERRED]
            await peer.next("session.created")
            location = response.headers["Location"]
            auth = {"Authorization": f"Bearer {KEY}"}
            hangup = await http.post(absolute(server, location + "/hangup"), headers=auth)
            assert hangup.status_code == 200, hangup.text
            (transcript,) = await server.wait_for_sessions(1, timeout=10)
        finally:
            await peer.close()
    assert transcript.transport == "webrtc"
    return transcript


def _check(transcript: Transcript, folder: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """`realtime-conformance check` on the call's written transcript: its exit code and
    output, after asserting the key is nowhere in the file."""
    path = folder / "call.jsonl"
    path.write_text(transcript.to_jsonl(), encoding="utf-8")
    assert KEY not in path.read_text(encoding="utf-8")
    code = cli.main(["check", str(path), "--checks", "default"])
    out = capsys.readouterr().out
    return f"exit {code}\n{out}"


async def test_a_call_with_the_beta_header_fails_does_not_send_beta_header(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    transcript = await _call({**BETA, "X-Debug-Key": KEY})
    meta = transcript.meta
    assert ["OpenAI-Beta", "realtime=v1"] in meta["headers"]
    assert meta["http_request"] == {"method": "POST", "path": "/v1/realtime/calls", "query": {}}
    assert meta["query"]["call_id"].startswith("rtc_")  # the session's URL stays the call's
    headers = {name.lower(): value for name, value in meta["headers"]}
    assert headers["authorization"] == f"Bearer {REDACTED}"
    assert headers["x-debug-key"] == REDACTED  # a key in any header is masked
    assert headers["content-type"] == "application/sdp"
    assert KEY not in json.dumps(meta)

    report = _check(transcript, tmp_path, capsys)
    assert report.startswith("exit 1\n"), report
    assert "[FAILED] does_not_send_beta_header: beta header sent" in report
    assert "OpenAI-Beta: realtime=v1" in report


async def test_a_call_without_it_is_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    transcript = await _call({})
    assert not [h for h in transcript.meta["headers"] if h[0].lower() == "openai-beta"]
    assert ["Authorization", f"Bearer {REDACTED}"] in transcript.meta["headers"]

    report = _check(transcript, tmp_path, capsys)
    assert report.startswith("exit 0\n"), report
    assert "does_not_send_beta_header" not in report


# A client like the reference one over WebRTC, but its REST requests (client_secrets and
# /calls) carry `OpenAI-Beta: realtime=v1` (the reference client refuses that header).
BETA_CLIENT = """
import asyncio, os
from client_reference import webrtc

post = webrtc._post

async def beta_post(url, data, key, headers, seconds):
    return await post(url, data, key, {**headers, "OpenAI-Beta": "realtime=v1"}, seconds)

webrtc._post = beta_post

async def main():
    conn = await webrtc.connect_webrtc(
        os.environ["OPENAI_REALTIME_URL"],
        api_key=os.environ["OPENAI_API_KEY"],
        model=os.environ["REALTIME_MODEL"],
        audio=False,
    )
    first = await conn.recv(timeout=10)
    assert first["type"] == "session.created", first
    await conn.close()

asyncio.run(main())
"""


def _fast_mock(**kwargs: Any) -> Any:
    """`run`'s mock at pace fast."""
    return serve(
        host="127.0.0.1", port=0, pace="fast", transcript_max_bytes=TRANSCRIPT_MAX_BYTES, **kwargs
    )


def test_run_webrtc_fails_a_client_that_sends_the_beta_header_on_calls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_cli_run, "serve_mock", _fast_mock)
    client = tmp_path / "beta_client.py"
    client.write_text(BETA_CLIENT, encoding="utf-8")
    out_dir = tmp_path / "out"
    command = f"{shlex.quote(sys.executable)} {shlex.quote(str(client))}"
    args = ["--cases", "default", "--out", str(out_dir), "--timeout", "20"]
    status = cli.main(["run", "--webrtc", "--client", command, *args])
    out, err = capsys.readouterr()
    assert status == 1, out + err
    report = json.loads((out_dir / "report.json").read_text(encoding="utf-8"))
    (case,) = report["cases"]
    assert case["verdict"] == "FAILED"
    assert {v["check"] for v in case["violations"]} == {"does_not_send_beta_header"}
    (recorded,) = (out_dir / "cases" / "default").glob("connection-*")
    text = recorded.read_text(encoding="utf-8")
    meta = json.loads(text.splitlines()[0])
    assert meta["transport"] == "webrtc"
    headers = {name.lower(): value for name, value in meta["headers"]}
    assert headers["openai-beta"] == "realtime=v1"  # the client's POST /calls, as sent
    assert headers["authorization"] == f"Bearer {REDACTED}"  # its ek_ secret, masked
    assert meta["http_request"]["path"] == "/v1/realtime/calls"
