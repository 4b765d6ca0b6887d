"""The JSON report: a stable, documented shape for tools.

```
{
  "format": "realtime-conformance-report", "version": 1,
  "summary": {"total": 3, "exit_status": 1, "violations": 4, "duration_s": 2.1,
              "verdicts": {"OK": 1, "NON-STRICT": 1, "INFORMATIONAL": 0,
                           "NOT JUDGED": 0, "FAILED": 1},
              "close_verdicts": {"OK": 1, ...}},
  "cases": [{
    "id": "text-turn", "scenario": "model-not-found-late" | null,
    "verdict": "FAILED", "close_verdict": "INFORMATIONAL", "duration_s": 1.5 | null,
    "transcripts": ["path/0.jsonl", ...],        # where the transcripts are, if on disk
    "connections": 1,                            # how many transcripts the case has
    "truncated": [{"connection": 0, "max_bytes": 67108864, "from_index": 61000,
                   "frames": 140000, "size": 150000000}],   # transcripts cut at their limit
    "checks_run": [...], "checks_skipped": [...], "unjudged_expectations": [...],
    "not_judged_reason": "…" | null,   (set when the verdict is "NOT JUDGED")
    "outcome": null | {"exit_code": 1 | null, "timed_out": false, "duration_s": 2.5,
                       "closed_at_s": [2.0], "stdout_tail": "...", "stderr_tail": "...",
                       "stdout_cut": null | {"cut_bytes", "total_bytes", "head", "tail"},
                       "stderr_cut": null | {...}},   # the runner kept head + tail only
    "legs": null | {"upstream": "OK", "downstream": "FAILED"},   # a relay's case (run --relay)
    "violations": [{"check", "title", "severity", "message", "expected", "received",
                    "connection", "index", "direction", "event_type", "json_path",
                    "hint", "occurrences",
                    "leg": null | "upstream" | "downstream"}]   # a relay's case: its leg
  }],
  "not_run": [{"id": "no-realtime-access",       # chosen cases the run left out, and why
               "reason": "not run over WebRTC: it refuses the upgrade with HTTP 403"}]
}
```

Keys never disappear (absent values are null); new keys may be added within a version.
In a relay's case, `connections` counts both legs: the upstream transcripts first, then
the downstream ones (`downstream-N.jsonl`); a violation's `connection` indexes that list.
Output tails are redacted (API keys masked). The report holds no frames: its size is
bounded by the number of cases and findings, whatever a client sends.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from conformance.checks import RunOutcome
from conformance.verdicts import CaseResult, Verdict, summarize

from ._display import leg_name, legs, output_cut, tail, violation_dict

FORMAT: Final = "realtime-conformance-report"
VERSION: Final = 1


def report_dict(
    results: Sequence[CaseResult], *, not_run: Sequence[tuple[str, str]] = ()
) -> dict[str, Any]:
    """The report as plain data (see the module docstring for the shape); `not_run`:
    (case id, why) of chosen cases the run left out."""
    summary = summarize(results)
    return {
        "format": FORMAT,
        "version": VERSION,
        "summary": {
            "total": summary.total,
            "exit_status": summary.exit_status,
            "violations": summary.violations,
            "duration_s": round(summary.duration_s, 3),
            "verdicts": {str(v): summary.verdicts.get(v, 0) for v in Verdict},
            "close_verdicts": {str(v): summary.close_verdicts.get(v, 0) for v in Verdict},
        },
        "cases": [_case(r) for r in results],
        "not_run": [{"id": case_id, "reason": why} for case_id, why in not_run],
    }


def _case(result: CaseResult) -> dict[str, Any]:
    return {
        "id": result.case_id,
        "scenario": result.scenario,
        "verdict": str(result.verdict),
        "close_verdict": str(result.close_verdict),
        "duration_s": result.duration_s,
        "transcripts": list(result.transcript_paths),
        "connections": len(result.transcripts),
        "truncated": [
            {"connection": number, **truncation.as_dict()}
            for number, transcript in enumerate(result.transcripts)
            if (truncation := transcript.truncation) is not None
        ],
        "checks_run": list(result.checks_run),
        "checks_skipped": list(result.checks_skipped),
        "unjudged_expectations": list(result.unjudged),
        "not_judged_reason": result.not_judged_reason or None,
        "outcome": None if result.outcome is None else _outcome(result.outcome),
        "legs": None
        if (per_leg := legs(result)) is None
        else {k: str(v) for k, v in per_leg.items()},
        "violations": [
            {**violation_dict(v), "leg": leg_name(result, v)} for v in result.violations
        ],
    }


def _outcome(outcome: RunOutcome) -> dict[str, Any]:
    return {
        "exit_code": outcome.exit_code,
        "timed_out": outcome.timed_out,
        "duration_s": outcome.duration_s,
        "closed_at_s": list(outcome.closed_at_s),
        "stdout_tail": tail(outcome.stdout, outcome.secrets),
        "stderr_tail": tail(outcome.stderr, outcome.secrets),
        "stdout_cut": _cut(outcome.stdout),
        "stderr_cut": _cut(outcome.stderr),
    }


def _cut(text: str) -> dict[str, int] | None:
    cut = output_cut(text)
    return None if cut is None else cut.as_dict()


def report_json(results: Sequence[CaseResult], *, not_run: Sequence[tuple[str, str]] = ()) -> str:
    """`report_dict(results)` as indented JSON text."""
    return json.dumps(report_dict(results, not_run=not_run), indent=2, ensure_ascii=False) + "\n"


def write_json(
    results: Sequence[CaseResult], path: str | Path, *, not_run: Sequence[tuple[str, str]] = ()
) -> Path:
    """Write `report_json(results)` to `path` (parent folders are created)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(report_json(results, not_run=not_run), encoding="utf-8")
    return target
