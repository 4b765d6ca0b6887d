"""Load golden transcripts and build cases and run outcomes for the check tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conformance.checks import CheckContext, CheckSettings, RunOutcome, Violation, run_checks
from conformance.resources import transcripts_dir
from conformance.transcript import Transcript, read_jsonl

KEY = "sk-test-0123456789abcdef"


def golden(name: str) -> Transcript:
    """`fixtures/transcripts/<name>.jsonl`."""
    return read_jsonl(transcripts_dir() / f"{name}.jsonl")


def connections(folder: str) -> tuple[Transcript, ...]:
    """Every `<n>.jsonl` of a case folder under `fixtures/transcripts/`, in order."""
    paths = sorted((transcripts_dir() / folder).glob("*.jsonl"), key=lambda p: int(p.stem))
    return tuple(read_jsonl(p) for p in paths)


def paths(folder: str) -> list[Path]:
    return sorted((transcripts_dir() / folder).glob("*.jsonl"), key=lambda p: int(p.stem))


def outcome(**changes: Any) -> RunOutcome:
    """A clean run: exit 0 after 1.5 s, the key among the secrets."""
    values: dict[str, Any] = {
        "exit_code": 0,
        "duration_s": 1.5,
        "stdout": "connected\nreply: ok\n",
        "stderr": "",
        "secrets": (KEY,),
    }
    values.update(changes)
    return RunOutcome(**values)


def judge(
    check: str,
    *transcripts: Transcript,
    run: RunOutcome | None = None,
    **settings: Any,
) -> list[Violation]:
    """Run exactly one check on one case."""
    ctx = CheckContext(transcripts=transcripts, outcome=run, settings=CheckSettings(**settings))
    return run_checks(ctx, [check])
