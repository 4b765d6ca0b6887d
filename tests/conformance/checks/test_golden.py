"""The golden transcripts are what the mock records today.

Each golden (and each violation made from one) is recorded afresh with
`tests/conformance/checks/golden.py` and compared with its committed file after
normalisation (ids numbered by first appearance, frame times and clock fields replaced).
When this fails, the mock's behaviour changed under a golden: review the diff, then
regenerate them all with `python -m tests.conformance.checks.golden`.
"""

from __future__ import annotations

import difflib
import json

import pytest

from conformance.resources import transcripts_dir
from conformance.transcript import Transcript

from . import golden

FRESH: dict[str, Transcript] = golden.case_files()


def test_every_golden_file_is_recorded_by_golden_py() -> None:
    committed = {str(p.relative_to(transcripts_dir())) for p in transcripts_dir().rglob("*.jsonl")}
    assert committed == set(FRESH)


@pytest.mark.parametrize("relative", sorted(FRESH))
def test_the_golden_matches_a_fresh_recording(relative: str) -> None:
    committed = golden.normalised((transcripts_dir() / relative).read_text(encoding="utf-8"))
    fresh = golden.normalised(FRESH[relative].to_jsonl())
    if committed != fresh:
        diff = difflib.unified_diff(
            [json.dumps(line, sort_keys=True) for line in committed],
            [json.dumps(line, sort_keys=True) for line in fresh],
            f"committed/{relative}",
            f"fresh/{relative}",
            n=0,
            lineterm="",
        )
        shown = "\n".join(list(diff)[:40])
        pytest.fail(
            f"{relative} is stale (python -m tests.conformance.checks.golden rewrites it):\n"
            + shown
        )


def test_normalisation_hides_ids_and_times_only() -> None:
    one = (
        '{"kind":"meta","session_id":"sess_AAAAAAAAAAAAAAAAAAAAA"}\n'
        '{"index":0,"t_ms":1.5,"text":"{\\"type\\":\\"x\\",\\"event_id\\":\\"event_BBBBBBBBBBBB\\",'
        '\\"session\\":{\\"id\\":\\"sess_AAAAAAAAAAAAAAAAAAAAA\\",\\"expires_at\\":1}}"}\n'
    )
    other = one.replace("AAAAAAAA", "CCCCCCCC").replace("1.5", "9.0").replace(":1}", ":2}")
    assert golden.normalised(one) == golden.normalised(other)
    assert golden.normalised(one) != golden.normalised(one.replace('\\"x\\"', '\\"y\\"'))
    # two different ids stay different after normalisation
    swapped = one.replace("event_BBBBBBBBBBBB", "sess_AAAAAAAAAAAAAAAAAAAAA")
    assert golden.normalised(one) != golden.normalised(swapped)
