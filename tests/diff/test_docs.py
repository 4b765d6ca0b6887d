"""The commands of docs/transcripts.md and docs/diff.md, run as documented: the minimal
hand-written transcript judged by `check`, and the record / replay / diff workflow with a
proxy recording of a fast mock standing in for the live one."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.diff.sessions import edit_events, record_sync
from tests.processes import user_shell

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def documented(doc: str, language: str) -> list[str]:
    """The code blocks of one language in a document, in order."""
    text = (ROOT / "docs" / doc).read_text(encoding="utf-8")
    return re.findall(rf"^```{language}\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


def test_the_minimal_transcript_is_judged_as_documented(tmp_path: Path) -> None:
    [example] = documented("transcripts.md", "jsonl")
    (tmp_path / "example.jsonl").write_text(example, encoding="utf-8")
    [command] = [c for c in documented("transcripts.md", "bash") if "check" in c]
    assert command.strip() == "realtime-conformance check example.jsonl"
    done = user_shell(command, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^example\s+OK\b", done.stdout, flags=re.MULTILINE), done.stdout
    header = '"headers": [["Authorization", "Bearer [REDACTED]"]]'
    assert header in example
    beta = header[:-1] + ', ["OpenAI-Beta", "realtime=v1"]]'
    (tmp_path / "example.jsonl").write_text(example.replace(header, beta, 1), encoding="utf-8")
    done = user_shell(command, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "[FAILED] does_not_send_beta_header" in done.stdout


def test_the_documented_diff_commands(tmp_path: Path) -> None:
    """docs/diff.md: a recording (the proxy's, upstream set to the live URL), replayed on a
    mock, diffed; then the options' commands."""
    blocks = documented("diff.md", "bash")
    workflow = [line for line in blocks[0].splitlines() if line and "proxy" not in line]
    options = [line for line in blocks[1].splitlines() if line]
    recorded = record_sync(tmp_path / "recorded.jsonl", seed=1)
    live = edit_events(
        recorded, tmp_path / "live.jsonl", lambda _: None, meta={"upstream": "wss://api.openai.com"}
    )
    for command in workflow:
        done = user_shell(command, tmp_path)
        assert done.returncode == 0, f"{command}: {done.stdout}{done.stderr}"
    assert "A = live.jsonl (live)" in done.stdout
    assert "B = mock.jsonl (mock)" in done.stdout
    assert "0 new difference(s)" in done.stdout

    record_sync(tmp_path / "run-2.jsonl", seed=2)
    (tmp_path / "run-1.jsonl").write_bytes(live.read_bytes())
    counts = [
        (tmp_path / name).read_text().count("response.output_text.delta")
        for name in ("run-1.jsonl", "run-2.jsonl")
    ]
    for command in options:
        done = user_shell(command, tmp_path)
        strict = "--strict-counts" in command
        expected = 1 if strict and counts[0] != counts[1] else 0
        assert done.returncode == expected, f"{command}: {done.stdout}{done.stderr}"
    report = json.loads((tmp_path / "diff.json").read_text())
    assert report["status"] == 0
    assert report["a"] == {"name": "live.jsonl", "live": True}
