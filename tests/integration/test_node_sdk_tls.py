"""The official Node SDK over `wss://`: `realtime-conformance run --tls` (issue 14 point 1).

openai-node's `OpenAIRealtimeWS` always dials `wss://`. Against a mock serving TLS it needs
nothing but `baseURL` (https://127.0.0.1:PORT/v1, from $OPENAI_BASE_URL) and the CA in
`NODE_EXTRA_CA_CERTS`: examples/node/sdk-notes.mjs overrides no transport then. Where Node
or examples/node's packages are missing, these tests skip with the reason.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from conformance._cli_run import tls_mock
from conformance.cli import main as conformance_main
from conformance.runner import RunConfig, run_suite
from conformance.verdicts import Verdict
from tests.integration.test_node_clients import SDK_CLIENT, WS_CLIENT, _node_skip_reason
from tests.runner.support import ROOT, cases

pytestmark = pytest.mark.integration

CASES = "default,tolerant,benign-errors-mid-session,session-expired,tcp-drop-mid-response"
TRUST = ("NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "SSL_CERT_DIR")


@pytest.fixture(autouse=True)
def _node_and_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reason = _node_skip_reason()
    if reason is not None:
        pytest.skip(reason)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # certificates made here
    for name in TRUST:  # only what `run --tls` gives makes the client trust the mock
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(ROOT)


def test_sdk_source_overrides_no_transport_for_an_https_base_url() -> None:
    source = (ROOT / "examples" / "node" / "sdk-notes.mjs").read_text(encoding="utf-8")
    assert 'const plain = baseURL?.startsWith("http://");' in source
    assert "options: plain ? { createConnection: (options) => net.connect(options) } : {}," in (
        source
    )


@pytest.mark.parametrize("client", [SDK_CLIENT, WS_CLIENT], ids=["openai-sdk", "ws"])
def test_node_clients_pass_over_wss_with_run_tls(
    client: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    status = conformance_main(
        ["run", "--tls", "--cases", CASES, "--jobs", "2", "--timeout", "20",
         "--out", str(out), "--client", client]
    )  # fmt: skip
    stdout, stderr = capsys.readouterr()
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    verdicts = {case["id"]: case["verdict"] for case in report["cases"]}
    assert status == 0, stdout + stderr
    assert set(verdicts.values()) == {"OK"}, stdout
    assert len(verdicts) == len(CASES.split(","))
    notes = (out / "cases" / "default" / "stdout.txt").read_text(encoding="utf-8")
    assert "PNG 320x200" in notes  # the mock's reply names the screenshot: the flow completed


def test_the_sdk_without_the_ca_variable_fails_on_the_certificate(tmp_path: Path) -> None:
    mock, env = tls_mock()
    for name in TRUST:
        env.pop(name, None)
    config = RunConfig(
        client=SDK_CLIENT, timeout_s=20, out_dir=tmp_path / "report", cwd=ROOT, env=env
    )
    suite = asyncio.run(run_suite(cases("default"), config, mock=mock))
    [result] = suite.results
    assert result.verdict is Verdict.FAILED
    assert result.outcome is not None
    assert result.outcome.exit_code == 1
    assert "unable to verify the first certificate" in result.outcome.stderr
    assert os.environ.get("NODE_EXTRA_CA_CERTS") is None
