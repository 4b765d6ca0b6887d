"""A runner case's verdict does not depend on the cases running beside it.

Each case runs on its own thread and event loop, and a supervisor thread per client owns
its clock and time limit (conformance/runner/suite.py, process.py): a mock whose loop is
stalled, or a client that makes its mock work hard (a huge `input_text` and
`response.create`, a flood of frames), slows its own case only. The correct clients
beside it (the reference client, `realtime-notes`) keep their verdicts under `--jobs 4`.
The slow variant (8 cases, 3 times): RUN_SLOW=1 pytest -m slow tests/abuse/test_isolation.py
"""

from __future__ import annotations

import asyncio
import os
import shlex
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from conformance._cli_run import serve_mock
from conformance.runner import MockHandle, RunConfig, run_suite
from conformance.verdicts import Verdict

from ..runner.support import REFERENCE, cases

CORRECT = ("default", "benign-errors-mid-session", "cancel-not-active", "commit-empty")
STALL_S = 6.0  # longer than the reference client's own 5 s timeout

ATTACK = """
import json, os, sys, time
from websockets.sync.client import connect

url = os.environ["OPENAI_REALTIME_URL"] + "?model=" + os.environ["REALTIME_MODEL"]
auth = {"Authorization": "Bearer " + os.environ["OPENAI_API_KEY"]}
with connect(url, additional_headers=auth, max_size=None, open_timeout=10) as ws:
    ws.recv(timeout=10)
    if sys.argv[1] == "reply-bomb":  # a 60 KB input_text the reply would echo
        text = ("word " * 12_000)[:60_000]
        content = [{"type": "input_text", "text": text}]
        item = {"type": "message", "role": "user", "content": content}
        ws.send(json.dumps({"type": "conversation.item.create", "item": item}))
        ws.send(json.dumps({"type": "response.create"}))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if '"response.done"' in ws.recv(timeout=deadline - time.monotonic())[:40]:
                break
    else:  # a flood of frames, as fast as the socket takes them
        frame = json.dumps({"type": "input_audio_buffer.append", "audio": "AAAA" * 256})
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            ws.send(frame)
"""


def verdicts(results: object) -> dict[str, Verdict]:
    return {r.case_id: r.verdict for r in results}  # type: ignore[attr-defined]


async def test_a_stalled_mock_in_one_case_changes_no_other_verdict(tmp_path: Path) -> None:
    """One case's mock blocks its event loop for 6 s; the others run as if alone."""

    @asynccontextmanager
    async def stalling_mock(
        *, scenario: str | None, api_keys: tuple[str, ...], tolerant: bool = False
    ) -> AsyncIterator[MockHandle]:
        async with serve_mock(scenario=scenario, api_keys=api_keys, tolerant=tolerant) as mock:
            if scenario == "session-updated-delayed":  # the stalled case
                asyncio.get_running_loop().call_later(0.2, time.sleep, STALL_S)
            yield mock

    chosen = cases(",".join((*CORRECT[1:], "session-updated-delayed")))
    config = RunConfig(client=REFERENCE, out_dir=tmp_path, jobs=4, timeout_s=20)
    suite = await run_suite(chosen, config, mock=stalling_mock)
    got = verdicts(suite.results)
    for case in CORRECT[1:]:
        assert got[case] is Verdict.OK, (case, suite.results)
    stalled = next(r for r in suite.results if r.case_id == "session-updated-delayed")
    assert stalled.duration_s is not None
    assert stalled.duration_s >= STALL_S  # the stall happened, beside the others


async def attack_beside(tmp_path: Path, correct: tuple[str, ...]) -> None:
    """A reply bomb and a flood in two jobs, the reference client in the others: every
    correct case is OK, and no case needed the time limit."""
    script = tmp_path / "attack.py"
    script.write_text(ATTACK, encoding="utf-8")
    attack = f"{shlex.quote(sys.executable)} {shlex.quote(str(script))}"
    command = (
        'case "$REALTIME_CASE" in '
        f"session-updated-delayed) {attack} reply-bomb;; "
        f"tolerant) {attack} flood;; "
        f"*) {REFERENCE};; esac"
    )
    chosen = cases(",".join(("session-updated-delayed", "tolerant", *correct)))
    config = RunConfig(client=command, out_dir=tmp_path / "out", jobs=4, timeout_s=20)
    suite = await run_suite(chosen, config, mock=serve_mock)
    got = verdicts(suite.results)
    for case in correct:
        assert got[case] is Verdict.OK, (case, [r for r in suite.results if r.case_id == case])
    for result in suite.results:
        assert result.outcome is not None
        assert not result.outcome.timed_out, result.case_id


async def test_attack_clients_beside_correct_clients_change_no_verdict(tmp_path: Path) -> None:
    await attack_beside(tmp_path, CORRECT[:2])


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("RUN_SLOW"), reason="RUN_SLOW=1 pytest -m slow")
@pytest.mark.parametrize("repeat", range(3))
async def test_attack_clients_beside_more_correct_clients(tmp_path: Path, repeat: int) -> None:
    await attack_beside(tmp_path, CORRECT)
