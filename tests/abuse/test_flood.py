"""A flooding client costs bounded memory, files and reports (issue 12).

Past `max_bytes` a transcript keeps each frame's direction, type, size and time only
(consecutive ones as one "elided" record), the end of the connection always; the runner's
mocks and the pytest plugin's use `TRANSCRIPT_MAX_BYTES`. The HTML report shows a bounded
number of frames per connection and says where the rest is; the reports say when a
transcript was truncated or the client's output cut. `bench/bench_flood.py` measures it.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from conformance.checks import CheckContext, RunOutcome
from conformance.reports import html_report, report_dict
from conformance.reports.console import format_summary
from conformance.reports.html import HEAD_FRAMES, TAIL_FRAMES
from conformance.runner import MockHandle, RunConfig, run_suite
from conformance.runner.process import HEAD_OUTPUT_BYTES, _Output
from conformance.transcript import ELIDED_RUNS_BYTES, Transcript, read_jsonl
from conformance.verdicts import judge_case, summarize
from mock_server import serve

from ..runner.support import cases, script

APPEND = json.dumps({"type": "input_audio_buffer.append", "audio": "AAAA" * 256})
CAP = 100_000


def flooded(frames: int = 1000, cap: int = CAP) -> Transcript:
    transcript = Transcript(max_bytes=cap)
    transcript.add_text("server", '{"type": "session.created"}', 0.0)
    for n in range(frames):
        transcript.add_text("client", APPEND, 1.0 + n)
    transcript.add_close("client", 1000, "", 2000.0)
    return transcript


def test_past_the_limit_frames_keep_their_kind_size_and_time_only() -> None:
    transcript = flooded()
    assert transcript.approx_bytes() <= CAP + 1_000  # (before the records are built)
    records = transcript.records
    kept = [r for r in records if r.kind == "text"]
    assert len(kept) < 100  # ~1.2 KB each, overhead included
    elided = records[len(kept)]
    assert (elided.kind, elided.direction, elided.elided_type) == (
        "elided",
        "client",
        "input_audio_buffer.append",
    )
    assert elided.frames == 1001 - len(kept)  # one run
    assert elided.size == elided.frames * len(APPEND)
    assert (elided.t_ms, elided.t_last_ms) == (float(len(kept)), 1000.0)
    assert elided.event is None  # the checks see no event
    assert elided.event_type is None
    assert records[-1].kind == "close"  # the end is always kept
    truncation = transcript.truncation
    assert truncation is not None
    assert (truncation.from_index, truncation.frames) == (len(kept), elided.frames)
    assert "truncated" in truncation.line()


def test_a_truncated_transcript_file_reads_back_with_its_truncation(tmp_path: Path) -> None:
    transcript = flooded()
    path = transcript.write_jsonl(tmp_path / "t.jsonl")
    assert path.stat().st_size < CAP * 1.2
    back = read_jsonl(path)
    assert [(r.kind, r.frames, r.size) for r in back] == [
        (r.kind, r.frames, r.size) for r in transcript
    ]
    assert back.truncation == transcript.truncation
    assert path.read_text(encoding="utf-8") == transcript.to_jsonl()


def test_any_mix_of_frames_stays_bounded() -> None:
    """Alternating directions and types make one run each, until the room for runs is used;
    then every frame joins the last run."""
    transcript = Transcript(max_bytes=CAP)
    for n in range(60_000):  # 120,000 frames
        transcript.add_text("client" if n % 2 else "server", f'{{"type": "t{n % 3}"}}', n)
        transcript.add_binary("client", b"x" * 10, n)
    assert transcript.approx_bytes() < CAP + ELIDED_RUNS_BYTES + 2_000
    records = transcript.records
    assert len(records) < (CAP + ELIDED_RUNS_BYTES) // 200 + 10
    truncation = transcript.truncation
    assert truncation is not None
    assert truncation.from_index + truncation.frames == 120_000
    assert sum(r.frames for r in records if r.kind == "elided") == truncation.frames


def test_while_recording_each_frame_is_appended_until_the_room_is_used() -> None:
    """A recorder (`on_append`) sees every elided frame as a new record (nothing changes
    under it), and frames past the room for runs are counted only."""
    transcript = Transcript(max_bytes=10_000)
    calls: list[int] = []
    transcript.on_append = lambda: calls.append(len(transcript))
    for n in range(20_000):
        transcript.add_text("client", APPEND, n)
    assert calls == sorted(calls)
    assert len(transcript) == calls[-1] < 20_000
    assert all(r.frames == 1 for r in transcript)
    truncation = transcript.truncation
    assert truncation is not None
    assert truncation.from_index + truncation.frames == 20_000


def test_the_html_report_shows_a_bounded_number_of_frames() -> None:
    transcript = Transcript()
    for n in range(20_000):
        transcript.add_text("client", APPEND, n)
    ctx = CheckContext(transcripts=(transcript,), outcome=RunOutcome(exit_code=0))
    result = judge_case(
        ctx, case_id="flood", checks=["event_ids_are_unique"], transcript_paths=["c/0.jsonl"]
    )
    started = time.monotonic()
    page = html_report([result])
    assert time.monotonic() - started < 20  # ~0.3 s here; was ~10x the frames
    assert page.count("<tr id=") == HEAD_FRAMES + TAIL_FRAMES
    end = 20_000 - TAIL_FRAMES
    assert f"frames #{HEAD_FRAMES} to #{end - 1} ({end - HEAD_FRAMES:,}) not shown" in page
    assert "every frame is in c/0.jsonl" in page


def test_a_finding_in_the_middle_of_a_long_connection_keeps_its_frame() -> None:
    transcript = Transcript()
    transcript.add_text("server", '{"type": "session.created"}', 0.0)
    for n in range(20_000):
        event = {"type": "input_audio_buffer.append", "audio": "AAAA", "event_id": f"e{n}"}
        if n == 10_000:
            event["event_id"] = "e0"  # a duplicate id: event_ids_are_unique flags it
        transcript.add_text("client", json.dumps(event), n)
    ctx = CheckContext(transcripts=(transcript,), outcome=RunOutcome(exit_code=0))
    result = judge_case(ctx, case_id="dup", checks=["event_ids_are_unique"])
    (violation,) = result.violations
    page = html_report([result])
    assert f'<tr id="c0-n0-f{violation.index}"' in page  # the finding's link has a target
    assert page.count("<tr id=") == HEAD_FRAMES + TAIL_FRAMES + 1
    assert page.count('class="gap"') == 2


def test_the_reports_say_what_was_truncated_and_cut() -> None:
    output = _Output(HEAD_OUTPUT_BYTES, 1000)
    output.take(b"y\n" * (HEAD_OUTPUT_BYTES + 5000))
    outcome = RunOutcome(exit_code=0, stdout=output.text())
    transcript = flooded()
    ctx = CheckContext(transcripts=(transcript,), outcome=outcome)
    result = judge_case(ctx, case_id="flood", checks=["client_event_matches_schema"])
    case = report_dict([result])["cases"][0]
    assert case["truncated"] == [{"connection": 0, **transcript.truncation.as_dict()}]  # type: ignore[union-attr]
    cut = case["outcome"]["stdout_cut"]
    left_out = output.total - HEAD_OUTPUT_BYTES - 1000
    assert cut == {"cut_bytes": left_out, "total_bytes": output.total,
                   "head": HEAD_OUTPUT_BYTES, "tail": 1000}  # fmt: skip
    assert case["outcome"]["stderr_cut"] is None
    page = html_report([result])
    assert "transcript truncated" in page
    assert "stdout was cut" in page
    console = format_summary([result], summarize([result]))
    assert "flood: connection 0: transcript truncated" in console
    assert "flood: the client&#x27;s stdout was cut" not in console
    assert "flood: the client's stdout was cut: the client wrote" in console


# --- under the runner: a real flooding client, a small limit ----------------------------------
FLOOD = """
import json, os
from websockets.sync.client import connect

url = os.environ["OPENAI_REALTIME_URL"] + "?model=" + os.environ["REALTIME_MODEL"]
auth = {"Authorization": "Bearer " + os.environ["OPENAI_API_KEY"]}
with connect(url, additional_headers=auth, max_size=None, open_timeout=10) as ws:
    ws.recv(timeout=10)
    frame = json.dumps({"type": "input_audio_buffer.append", "audio": "AAAA" * 256})
    for _ in range(3000):
        ws.send(frame)
"""


def capped_mock(cap: int | None):  # type: ignore[no-untyped-def]
    @asynccontextmanager
    async def factory(
        *, scenario: str | None, api_keys: tuple[str, ...], tolerant: bool = False
    ) -> AsyncIterator[MockHandle]:
        async with serve(
            host="127.0.0.1",
            port=0,
            scenario=scenario,
            api_keys=api_keys,
            tolerant=tolerant,
            transcript_max_bytes=cap,
        ) as mock:
            yield mock

    return factory


async def test_a_flood_under_the_runner_is_bounded_and_judged_alike(tmp_path: Path) -> None:
    """3,000 frames (3 MB) against a 200 KB limit: the transcript file stays near the
    limit, the verdict and findings are those of the whole transcript, the reports say
    it was truncated."""
    client = script(tmp_path, "flood.py", FLOOD)
    verdicts = {}
    for name, cap in (("whole", None), ("capped", 200_000)):
        config = RunConfig(client=client, out_dir=tmp_path / name, timeout_s=30)
        suite = await run_suite(cases("default"), config, mock=capped_mock(cap))
        (result,) = suite.results
        verdicts[name] = (result.verdict, sorted(v.check for v in result.violations))
        size = len(Path(result.transcript_paths[0]).read_bytes())  # noqa: ASYNC240
        if cap is None:
            assert size > 3_000_000
            assert result.transcripts[0].truncation is None
        else:
            assert size < cap * 1.2
            truncation = result.transcripts[0].truncation
            assert truncation is not None
            assert truncation.frames > 2500
            assert "transcript truncated" in html_report([result])
    assert verdicts["whole"] == verdicts["capped"]
