"""An upgrade refused with an HTTP status (`rejected` record): stored, judged and shown."""

from __future__ import annotations

from conformance.checks import CheckContext, RunOutcome
from conformance.checks._helpers import describe_end, server_end
from conformance.reports import html_report
from conformance.runner import runner_registry
from conformance.transcript import Transcript, read_jsonl
from conformance.verdicts import judge_case

EXPECT = {"client": ["surfaces_handshake_failure", "does_not_reconnect_on_permanent_close"]}


def refused(status: int = 403) -> Transcript:
    transcript = Transcript.begin(
        path="/v1/realtime",
        query={"model": "gpt-realtime-1.5"},
        model="gpt-realtime-1.5",
        scenario="no-realtime-access",
    )
    transcript.add_rejected(status, "")
    return transcript


def judge(transcripts: list[Transcript], exit_code: int, stdout: str = ""):
    outcome = RunOutcome(exit_code=exit_code, stdout=stdout)
    ctx = CheckContext(transcripts=tuple(transcripts), outcome=outcome, expect=EXPECT)
    return judge_case(ctx, case_id="no-realtime-access", registry=runner_registry())


def test_a_rejected_record_survives_jsonl_and_ends_the_connection(tmp_path) -> None:
    path = refused().write_jsonl(tmp_path / "t.jsonl")
    [record] = read_jsonl(path).records
    assert (record.direction, record.kind, record.code, record.reason) == (
        "server",
        "rejected",
        403,
        "",
    )
    assert server_end(read_jsonl(path)) == record
    assert describe_end(record) == "HTTP 403 on the upgrade (no WebSocket)"


def test_the_client_must_surface_the_refusal() -> None:
    silent = judge([refused()], 0, "all good")
    assert "surfaces_close_code_and_reason" in {v.check for v in silent.violations}
    assert judge([refused()], 0, "error: HTTP 403 Forbidden").violations == ()
    assert judge([refused()], 4).violations == ()  # a failed exit is surfacing too


def test_asking_again_after_a_401_or_403_is_a_permanent_retry() -> None:
    retried = judge([refused(403), refused(403)], 4)
    assert [v.check for v in retried.violations] == ["does_not_reconnect_on_permanent_close"]
    assert "HTTP 403 on the upgrade" in retried.violations[0].expected
    assert judge([refused(503), refused(503)], 4).violations == ()  # may be transient


def test_the_html_report_shows_the_refusal() -> None:
    page = html_report([judge([refused()], 4)])
    assert "HTTP 403 on the upgrade: no WebSocket" in page
