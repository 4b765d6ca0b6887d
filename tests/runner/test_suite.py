"""`run_suite` / `run_case`: the environment contract, time limits, parallelism, redaction."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from conformance.runner import CONTRACT

from .support import BROKEN, REFERENCE, cases, checks_of, ends_soon, read_json, script, suite

ENV_DUMP = """
import json, os, sys
names = sys.argv[1].split(",")
path = os.path.join(os.environ["DUMP_DIR"], os.environ["REALTIME_CASE"] + ".json")
with open(path, "w") as f:
    json.dump({n: os.environ.get(n) for n in names + ["PYTHONUNBUFFERED"]}, f)
"""

# Connects, writes the pids of itself and of a background child, then hangs for good.
HANG = """
import asyncio, os, subprocess, sys
from websockets.asyncio.client import connect

async def main():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    with open(sys.argv[1], "w") as f:
        f.write(f"{os.getpid()} {child.pid}")
    url = os.environ["OPENAI_REALTIME_URL"] + "?model=" + os.environ["REALTIME_MODEL"]
    headers = {"Authorization": "Bearer " + os.environ["OPENAI_API_KEY"]}
    async with connect(url, additional_headers=headers) as ws:
        await ws.recv()  # session.created
        await asyncio.Event().wait()  # never set: the hang under test

asyncio.run(main())
"""


async def test_the_environment_contract(tmp_path):
    dump = tmp_path / "dump"
    dump.mkdir()
    command = script(tmp_path, "env_client.py", ENV_DUMP) + " " + ",".join(CONTRACT)
    env = {"PATH": "/usr/bin:/bin", "DUMP_DIR": str(dump)}
    result = await suite(command, tmp_path / "out", "default,missing-model", env=env)
    seen = {c: read_json(dump / f"{c}.json") for c in ("default", "missing-model")}
    for case_id, variables in seen.items():
        _check_contract(variables, case_id)
    first, second = seen.values()
    assert first["OPENAI_API_KEY"] == second["OPENAI_API_KEY"]  # one key per run
    assert first["OPENAI_BASE_URL"] != second["OPENAI_BASE_URL"]  # one mock per case
    # A client that never connects does not pass.
    assert [checks_of(r) for r in result.results] == [{"client_connects"}] * 2


def _check_contract(seen, case_id):
    assert re.fullmatch(r"sk-test-[A-Za-z0-9]{32}", seen["OPENAI_API_KEY"])
    port = re.fullmatch(r"http://127\.0\.0\.1:(\d+)/v1", seen["OPENAI_BASE_URL"]).group(1)
    assert seen["OPENAI_REALTIME_URL"] == f"ws://127.0.0.1:{port}/v1/realtime"
    assert seen["REALTIME_MODEL"] == "gpt-realtime-1.5"
    assert Path(seen["REALTIME_SCREENSHOT"]).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    prompt = Path(seen["REALTIME_PROMPT"]).read_text(encoding="utf-8")
    assert prompt.strip() == seen["REALTIME_PROMPT_TEXT"] != ""
    assert seen["REALTIME_CASE"] == case_id
    assert seen["PYTHONUNBUFFERED"] == "1"


async def test_a_hanging_client_is_killed_at_the_time_limit(tmp_path):
    pids = tmp_path / "pids"
    command = script(tmp_path, "hang.py", HANG) + f" {pids}"
    started = time.monotonic()
    result = await suite(command, tmp_path / "out", "default", timeout_s=2.0, settle_s=0.5)
    assert time.monotonic() - started < 10
    (case,) = result.results
    assert case.outcome is not None
    assert case.outcome.timed_out
    assert case.outcome.exit_code is None
    assert 2.0 <= case.outcome.duration_s < 4.0
    assert str(case.verdict) == "FAILED"
    assert "finishes_within_time_limit" in checks_of(case)
    for pid in map(int, pids.read_text().split()):
        assert ends_soon(pid), f"process {pid} survived"


async def test_jobs_2_gives_the_same_results_as_jobs_1(tmp_path):
    pattern = "default,beta-header-rejected,session-updated-delayed,server-error-mid-response"
    one = await suite(BROKEN, tmp_path / "one", pattern, jobs=1)
    two = await suite(BROKEN, tmp_path / "two", pattern, jobs=2)
    assert _shape(one) == _shape(two)
    assert [r.case_id for r in two.results] == [c.id for c in cases(pattern)]  # case order


async def test_closed_at_is_relative_to_the_process_start(tmp_path):
    result = await suite(REFERENCE, tmp_path, "default,server-error-mid-response")
    for case in result.results:
        assert case.outcome is not None
        (closed,) = case.outcome.closed_at_s
        assert closed is not None
        assert 0 < closed <= case.outcome.duration_s + 0.5
        assert [Path(p).name for p in case.transcript_paths] == ["connection-0.jsonl"]


async def test_the_test_key_never_reaches_a_file_or_a_result(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "BROKEN_CLIENT_BUG": "print-key"}
    result = await suite(BROKEN, tmp_path, "default", env=env)
    key = result.inputs.api_key
    (case,) = result.results
    assert checks_of(case) == {"does_not_print_api_key"}
    assert case.outcome is not None
    assert "debug: using key" in case.outcome.stderr
    assert key not in case.outcome.stderr
    assert all(key not in v.message + v.received for v in case.violations)
    assert key not in repr(result.inputs)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert key not in path.read_text(encoding="utf-8", errors="replace"), path


def _shape(result):
    return [
        (
            r.case_id,
            r.verdict,
            r.close_verdict,
            sorted((v.check, v.connection) for v in r.violations),
        )
        for r in result.results
    ]


async def test_a_harness_error_is_raised_as_itself(tmp_path):
    with pytest.raises(FileNotFoundError):
        await suite("true", tmp_path, "default", cwd=tmp_path / "missing")
