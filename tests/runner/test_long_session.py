"""Long sessions: screenshots delivered over time (stdin, a folder) to a client that stays."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import pytest

from conformance._cli_run import builtin_cases, long_session_pool
from conformance.cli import main
from conformance.runner.long_session import LONG_SESSION_CASES

from .support import PYTHON, REFERENCE, ROOT, checks_of, read_json, script, suite

LONG = "long-session,long-session-stale-note"
NOTES_STDIN = (
    f'{PYTHON} -m client_reference.cli --stdin --url "$OPENAI_REALTIME_URL" '
    '--model "$REALTIME_MODEL" --timeout 5'
)
NOTES_WATCH = (
    f'{PYTHON} -m client_reference.cli --watch "$REALTIME_SCREENSHOT_DIR" --watch-limit '
    '"$REALTIME_SCREENSHOT_COUNT" --poll 0.02 --url "$OPENAI_REALTIME_URL" '
    '--model "$REALTIME_MODEL" --timeout 5'
)
# Sends response.create as soon as each screenshot arrives, reply or no reply.
EAGER_CLIENT = """\
import asyncio, base64, json, os, sys
from websockets.asyncio.client import connect

async def main():
    url = os.environ["OPENAI_REALTIME_URL"] + "?model=" + os.environ["REALTIME_MODEL"]
    headers = {"Authorization": "Bearer " + os.environ["OPENAI_API_KEY"]}
    async with connect(url, additional_headers=headers, max_size=None) as ws:
        finished = asyncio.Event()

        async def read():
            async for frame in ws:
                event = json.loads(frame)
                if event["type"].endswith("text.delta"):
                    print(event["delta"], end="", flush=True)
                elif event["type"] == "response.done":
                    print(flush=True)
                    finished.set()

        reader = asyncio.create_task(read())
        loop = asyncio.get_running_loop()
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            data = base64.b64encode(open(line.strip(), "rb").read()).decode()
            part = {"type": "input_image", "image_url": "data:image/png;base64," + data}
            item = {"type": "message", "role": "user", "content": [part]}
            await ws.send(json.dumps({"type": "conversation.item.create", "item": item}))
            await ws.send(json.dumps({"type": "response.create",
                                      "response": {"output_modalities": ["text"]}}))
        finished.clear()
        await asyncio.wait_for(finished.wait(), 5)  # the reply to the last create
        reader.cancel()

asyncio.run(main())
"""


def test_long_session_cases_run_only_when_asked() -> None:
    every = builtin_cases()
    assert {c.id for c in every if c.long_session is not None} == set(LONG_SESSION_CASES)
    assert not {c.id for c in long_session_pool(every, None, False)} & set(LONG_SESSION_CASES)
    assert not {c.id for c in long_session_pool(every, "*", False)} & set(LONG_SESSION_CASES)
    named = long_session_pool(every, "default,long-session", False)
    assert "long-session" in {c.id for c in named}
    assert "long-session-stale-note" not in {c.id for c in named}
    assert set(LONG_SESSION_CASES) <= {c.id for c in long_session_pool(every, None, True)}


@pytest.mark.parametrize("command", [NOTES_STDIN, NOTES_WATCH], ids=["stdin", "watch"])
async def test_the_reference_client_passes_both_long_session_cases(tmp_path, command) -> None:
    result = await suite(command, tmp_path, LONG, timeout_s=15, jobs=2)
    for case in result.results:
        assert case.verdict.name == "OK", (case.case_id, case.violations)
        assert {"keeps_one_session", "notes_every_screenshot", "tracks_response_lifecycle"} <= set(
            case.checks_run
        )
        assert case.outcome is not None
        assert case.outcome.exit_code == 0
        assert case.outcome.stdout.count("== ") == 3, case.outcome.stdout
    [transcript] = result.results[0].transcripts  # one connection, three screenshots
    images = [r for r in transcript.client_events() if "input_image" in (r.text or "")]
    assert len(images) == 3


async def test_the_stale_note_is_cancelled_by_the_stdin_client(tmp_path) -> None:
    result = await suite(NOTES_STDIN, tmp_path, "long-session-stale-note", timeout_s=15)
    [case] = result.results
    assert case.outcome is not None
    assert case.outcome.stdout.count("[cancelled: a newer screenshot came]") == 2
    [transcript] = case.transcripts
    statuses = [
        r.event["response"]["status"]
        for r in transcript.server_events()
        if r.event_type == "response.done" and r.event
    ]
    assert statuses == ["cancelled", "cancelled", "completed"]


async def test_a_client_that_creates_at_once_fails_the_stale_note_case_every_time(
    tmp_path,
) -> None:
    eager = script(tmp_path, "eager.py", EAGER_CLIENT)
    for attempt in range(3):
        out = tmp_path / f"run-{attempt}"
        result = await suite(eager, out, "long-session-stale-note", timeout_s=15)
        [case] = result.results
        assert case.verdict.name == "FAILED"
        assert {"tracks_response_lifecycle", "notes_every_screenshot"} <= checks_of(case), (
            case.violations
        )
        [note] = [v for v in case.violations if v.check == "notes_every_screenshot"][:1]
        assert note.title == "screenshot 2 got no note"


async def test_a_one_shot_client_misses_the_later_screenshots(tmp_path) -> None:
    result = await suite(REFERENCE, tmp_path, "long-session", timeout_s=15)
    [case] = result.results
    assert case.verdict.name == "FAILED"
    [missed] = [v for v in case.violations if v.check == "keeps_one_session"]
    assert missed.title == "screenshots not sent"
    assert "1 input_image item(s)" in missed.received


DOC_COMMAND = (
    'realtime-conformance run --client \'realtime-notes --stdin --model "$REALTIME_MODEL" '
    '--timeout 5\' --long-session --cases "long-session*"'
)


def test_the_documented_long_session_command_passes(tmp_path, monkeypatch, capsys) -> None:
    assert DOC_COMMAND in (ROOT / "docs" / "runner.md").read_text(encoding="utf-8")
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.chdir(tmp_path)
    status = main(shlex.split(DOC_COMMAND)[1:])
    out, _ = capsys.readouterr()
    assert status == 0, out
    report = read_json(tmp_path / "realtime-conformance-report" / "report.json")
    assert [case["id"] for case in report["cases"]] == ["long-session", "long-session-stale-note"]
