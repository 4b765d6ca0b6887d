"""`realtime-conformance diff` on recordings made on real sockets: the same client traffic
through the proxy to fast mocks seeded differently (other ids, times and text), then hand
edits standing for what another server sent (the live form of a ledger entry; an event
renamed, a field dropped, a close code changed)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conformance.cli import main
from conformance.diff import diff_files
from tests.diff.sessions import TRANSCRIPTION, edit_events, record_beta_header_close, record_sync

pytestmark = pytest.mark.integration
CLI = [sys.executable, "-m", "conformance"]


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The same client session recorded twice, through the proxy, on mocks seeded 1 and 2."""
    folder = tmp_path_factory.mktemp("recordings")
    return record_sync(folder / "one.jsonl", seed=1), record_sync(folder / "two.jsonl", seed=2)


def run_diff(*args: str | Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(["diff", *map(str, args)])
    out, err = capsys.readouterr()
    return status, out, err


def live_form(source: Path, target: Path) -> Path:
    """`source` as live would have answered, per the ledger's transcription-fails-on-silence:
    silence transcribed as an empty transcript (.delta, .completed) instead of `.failed`;
    recorded by the proxy in front of api.openai.com."""

    def transcribed(event: dict[str, Any]) -> dict[str, Any] | None:
        if event["type"] != f"{TRANSCRIPTION}.failed":
            return None
        return {
            "type": f"{TRANSCRIPTION}.completed",
            "event_id": "event_LIVE0000000000000001",
            "item_id": event["item_id"],
            "content_index": 0,
            "transcript": "",
            "usage": {"type": "duration", "seconds": 0.5},
        }

    return edit_events(source, target, transcribed, meta={"upstream": "wss://api.openai.com"})


def drifted(source: Path, target: Path) -> Path:
    """`source` with unknown differences: an event renamed, a field left out."""

    def edit(event: dict[str, Any]) -> dict[str, Any] | None:
        if event["type"] == "response.output_text.done":
            return {**event, "type": "response.text.done"}
        if event["type"] == "response.done":
            response = {k: v for k, v in event["response"].items() if k != "usage"}
            return {**event, "response": response}
        return None

    return edit_events(source, target, edit)


def test_two_recordings_of_the_same_traffic_differ_only_in_normalised_parts(
    recordings: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    one, two = recordings
    ids = [
        json.loads(json.loads(line)["text"])["event_id"]
        for line in one.read_text().splitlines()[1:3:2]
    ]
    assert ids
    assert ids[0] not in two.read_text()
    status, out, _ = run_diff(one, two, capsys=capsys)
    assert status == 0, out
    assert "0 new difference(s), 0 known" in out
    result = diff_files(one, two)
    assert result.differences == []
    assert (
        result.steps == 7
    )  # connect, update, appends (collapsed), commit, create, response, close


def test_a_ledger_divergence_in_its_live_form_is_marked_known(
    recordings: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one, two = recordings
    live = live_form(one, tmp_path / "live.jsonl")
    status, out, _ = run_diff(live, two, capsys=capsys)
    assert status == 0, out
    assert f"A = {live} (live)" in out
    assert f"B = {two} (mock)" in out
    assert "0 new difference(s), 2 known" in out
    assert "Known:" in out
    assert "New:" not in out
    assert out.count("[known: transcription-fails-on-silence]") == 2
    result = diff_files(live, two)
    assert {(d.kind, d.event) for d in result.known} == {
        ("missing", f"{TRANSCRIPTION}.completed"),  # live sends it, the mock does not
        ("extra", f"{TRANSCRIPTION}.failed"),  # the mock sends it, live does not
    }
    # The same pair the other way round: still known (the matcher knows which side is live).
    status, out, _ = run_diff(two, live, capsys=capsys)
    assert status == 0, out


def test_injected_unknown_differences_are_listed_first_and_fail(
    recordings: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one, two = recordings
    live = live_form(one, tmp_path / "live.jsonl")
    mock = drifted(two, tmp_path / "mock.jsonl")
    status, out, _ = run_diff(live, mock, "--json", capsys=capsys)
    assert status == 1
    report = json.loads(out)
    assert report["status"] == 1
    unknown = {(d["kind"], d["event"], d["field"]) for d in report["unknown"]}
    assert unknown == {
        ("missing", "response.output_text.done", ""),
        ("extra", "response.text.done", ""),
        ("missing", "response.done", "response.usage"),
    }
    assert {d["known"] for d in report["known"]} == {"transcription-fails-on-silence"}
    status, text, _ = run_diff(live, mock, capsys=capsys)
    assert status == 1
    assert text.index("New:") < text.index("Known:")
    assert "`response.done` field `response.usage` only in A (object)" in text
    assert "`response.text.done` only in B" in text
    assert "step 5, after `response.create`" in text


def test_a_changed_close_code_is_an_unknown_difference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    closed = asyncio.run(record_beta_header_close(tmp_path / "closed.jsonl"))
    lines = closed.read_text().splitlines()
    assert json.loads(lines[-1])["code"] == 4000
    other = tmp_path / "other.jsonl"
    other.write_text("\n".join([*lines[:-1], lines[-1].replace('"code":4000', '"code":1011')]))
    status, out, _ = run_diff(closed, closed, capsys=capsys)
    assert status == 0, out
    status, out, _ = run_diff(closed, other, capsys=capsys)
    assert status == 1
    assert "1. `close(server)` field `code`: A 4000, B 1011" in out
    assert "before the client's first frame (A#1, B#1)" in out


def test_strict_counts_reports_a_stream_of_another_length(
    recordings: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one, _ = recordings
    lines = one.read_text().splitlines()
    deltas = [n for n, line in enumerate(lines) if "response.output_text.delta" in line]
    shorter = tmp_path / "shorter.jsonl"
    shorter.write_text("\n".join(line for n, line in enumerate(lines) if n != deltas[-1]))
    assert run_diff(one, shorter, capsys=capsys)[0] == 0
    status, out, _ = run_diff(one, shorter, "--strict-counts", capsys=capsys)
    assert status == 1
    assert f"`response.output_text.delta`: A {len(deltas)} frames, B {len(deltas) - 1}" in out


def test_bad_input_exits_2_naming_the_file_and_line(
    recordings: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one, _ = recordings
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kind": "meta"}\n{"direction": "server", "t_ms": 1, "kind": "text"}\n[]\n')
    status, _, err = run_diff(one, bad, capsys=capsys)
    assert status == 2
    assert f"{bad}:3: expected a JSON object" in err
    status, _, err = run_diff(tmp_path / "absent.jsonl", one, capsys=capsys)
    assert status == 2
    assert "absent.jsonl: cannot read transcript" in err
    newer = tmp_path / "newer.jsonl"
    newer.write_text('{"kind": "meta", "format_version": 99}\n')
    status, _, err = run_diff(one, newer, capsys=capsys)
    assert status == 2
    assert f"{newer}:1: format_version 99 is newer" in err


def test_the_installed_command_exits_1_on_drift(
    recordings: tuple[Path, Path], tmp_path: Path
) -> None:
    one, two = recordings
    mock = drifted(two, tmp_path / "mock.jsonl")
    done = subprocess.run(
        [*CLI, "diff", str(one), str(mock)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 1, done.stderr
    assert "3 new difference(s)" in done.stdout
