"""`realtime-conformance diff`: compare two transcripts of the same client traffic.

Live and mock, or two live runs: the handshake outcome, event types and their order in
the answer to each client frame, field sets, JSON types and enum values (recursively,
arrays by element shape), error codes and close codes. Ids, times, generated text and
audio, usage and rate-limit numbers are normalised (`_shape.PRESENCE_ONLY`,
`_shape.DISCRIMINATORS`); streams of deltas and of appends collapse to one entry with a
count. Differences the divergence ledger (fixtures/fidelity.yaml, its `diff:` matchers)
describes are marked known; the others come first. docs/diff.md has the details.

    result = diff_files("live.jsonl", "mock.jsonl")
    print(result.to_text()); raise SystemExit(result.exit_status)

Pure functions over `Transcript`s: no I/O but reading the files and the ledger.
"""

from __future__ import annotations

from conformance.diff._compare import (
    Difference,
    DiffResult,
    Kind,
    LiveSide,
    diff_files,
    diff_transcripts,
    is_live,
)
from conformance.diff._known import Known, known_from, load_known, matcher_problems
from conformance.diff._shape import DISCRIMINATORS, PRESENCE_ONLY, Shape, shape_of
from conformance.diff._steps import CLIENT_STREAMS, steps_of

__all__ = [
    "CLIENT_STREAMS",
    "DISCRIMINATORS",
    "PRESENCE_ONLY",
    "DiffResult",
    "Difference",
    "Kind",
    "Known",
    "LiveSide",
    "Shape",
    "diff_files",
    "diff_transcripts",
    "is_live",
    "known_from",
    "load_known",
    "matcher_problems",
    "shape_of",
    "steps_of",
]
