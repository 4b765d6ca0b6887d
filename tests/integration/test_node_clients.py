"""Node clients under the runner: raw `ws` and the official `openai` SDK (examples/node).

`.ci/run` installs their packages (`npm install --prefix examples/node`); where Node or
those packages are missing, these tests skip with the reason.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conformance._cli_run import serve_mock
from conformance.runner import RunConfig, SuiteResult, run_suite
from conformance.verdicts import Verdict
from tests.runner.support import ROOT, cases

pytestmark = pytest.mark.integration

NODE_DIR = ROOT / "examples" / "node"
WS_CLIENT = "node examples/node/notes.mjs"
SDK_CLIENT = "node examples/node/sdk-notes.mjs"
CASES = (
    "default,tolerant,benign-errors-mid-session,beta-session-shape-rejected,session-expired,"
    "tcp-drop-mid-response,events-out-of-order-duplicated"
)


def _node_skip_reason() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed (Node 18 or later runs examples/node)"
    for package in ("ws", "openai"):
        if not (NODE_DIR / "node_modules" / package / "package.json").is_file():
            return f"examples/node has no {package} package: npm install --prefix examples/node"
    return None


@pytest.fixture(scope="module", autouse=True)
def _node_available() -> None:
    reason = _node_skip_reason()
    if reason is not None:
        pytest.skip(reason)


def _run(client: str, pattern: str, tmp_path: Path, **env: str) -> SuiteResult:
    config = RunConfig(
        client=client,
        jobs=2,
        timeout_s=20,
        out_dir=tmp_path / "report",
        cwd=ROOT,
        env={**os.environ, **env},
    )
    return asyncio.run(run_suite(cases(pattern), config, mock=serve_mock))


@pytest.mark.parametrize("client", [WS_CLIENT, SDK_CLIENT], ids=["ws", "openai-sdk"])
def test_node_clients_pass_the_gate(client: str, tmp_path: Path) -> None:
    suite = _run(client, CASES, tmp_path)
    verdicts = {r.case_id: r.verdict for r in suite.results}
    findings = {r.case_id: [v.message for v in r.violations] for r in suite.results}
    assert set(verdicts.values()) == {Verdict.OK}, findings
    default = next(r for r in suite.results if r.case_id == "default")
    assert default.outcome is not None
    assert default.outcome.exit_code == 0
    assert "PNG 320x200" in default.outcome.stdout  # the mock's reply names the screenshot


def test_node_client_with_beta_event_names_fails_by_default(tmp_path: Path) -> None:
    suite = _run(WS_CLIENT, "default", tmp_path, NOTES_BETA_NAMES="1")
    [result] = suite.results
    assert result.outcome is not None
    assert result.outcome.exit_code == 0  # it believes it worked: the HUD's migration bug
    assert result.verdict is Verdict.FAILED
    assert "delivers_reply" in {v.check for v in result.violations}


def test_the_sdk_example_passes_the_whole_catalog(tmp_path: Path) -> None:
    """docs/node.md's command as written: the official SDK's client, every default case."""
    command = 'realtime-conformance run --client "node examples/node/sdk-notes.mjs"'
    assert f"```bash\nnpm ci --prefix examples/node\n{command}\n```" in (
        ROOT / "docs" / "node.md"
    ).read_text(encoding="utf-8")
    argv = [str(Path(sys.executable).parent / "realtime-conformance"), *shlex.split(command)[1:]]
    done = subprocess.run(
        [*argv, "--jobs", "2", "--out", str(tmp_path / "report")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    summary = re.search(r"^(\d+) cases: (\d+) OK \(0 violations\)", done.stdout, re.MULTILINE)
    assert summary, done.stdout[-2000:]
    assert summary[1] == summary[2]  # every case OK
    assert int(summary[1]) >= 40  # the whole catalog, not a selection
