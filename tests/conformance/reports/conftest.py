"""Judged cases for the report tests: clean, NON-STRICT, FAILED with a run, hostile frames."""

from __future__ import annotations

import pytest

from conformance.checks import CheckContext
from conformance.transcript import Transcript
from conformance.verdicts import CaseResult, judge_case
from tests.conformance.checks.helpers import KEY, golden, outcome

HOSTILE = "<img src=x onerror=\"document.body.setAttribute('data-pwned','1')\">]]>\x01"
AUDIO = "QUFB" * 5000  # 20,000 base64 characters


def hostile_transcript() -> Transcript:
    """A session whose frames carry markup, control characters and a long base64 string."""
    transcript = Transcript({"path": "/v1/realtime", "query": {"model": "gpt-realtime"}})
    transcript.add_text("server", '{"type":"session.created","event_id":"event_1"}', 0.0)
    transcript.add_text("client", f'{{"type":"input_audio_buffer.append","audio":"{AUDIO}"}}', 5.0)
    transcript.add_text("client", HOSTILE, 6.0)
    transcript.add_close("server", 1011, "</td><script>alert(1)</script>", 7.0)
    return transcript


@pytest.fixture
def results() -> list[CaseResult]:
    """Four cases: OK, NON-STRICT, FAILED with a leaky run, FAILED with hostile frames."""
    silent = outcome(stdout="", stderr=f"boom {KEY}\n", duration_s=9.0, closed_at_s=(2.0,))
    cases = [
        ("text-turn", CheckContext(transcripts=(golden("text-turn"),), outcome=outcome())),
        ("updated", CheckContext(transcripts=(golden("violations/waits_for_session_updated"),))),
        ("expired", CheckContext(transcripts=(golden("session-expired"),), outcome=silent)),
        ("hostile <b>", CheckContext(transcripts=(hostile_transcript(),))),
    ]
    return [
        judge_case(ctx, case_id=case_id, transcript_paths=[f"out/{n}.jsonl"])
        for n, (case_id, ctx) in enumerate(cases)
    ]
