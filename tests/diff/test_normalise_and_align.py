"""The diff's parts without sockets: shapes (normalisation), steps and alignment, the
ledger's matchers; and the property that ids, times, text and stream lengths never make
a difference while a missing event always does."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.diff import (
    Known,
    diff_transcripts,
    known_from,
    load_known,
    matcher_problems,
    shape_of,
    steps_of,
)
from conformance.diff._shape import compare
from conformance.resources import transcripts_dir
from conformance.transcript import Transcript
from scripts import fidelity

GOLDEN = sorted(p for p in transcripts_dir().rglob("*.jsonl") if "violations" not in p.parts)


def session(*frames: tuple[str, Any]) -> Transcript:
    """A transcript from (direction, event-or-close) pairs; `("close", code)` closes."""
    transcript = Transcript({"path": "/v1/realtime"})
    for t, (direction, value) in enumerate(frames):
        if direction == "rejected":
            transcript.add_rejected(value, "", float(t))
        elif isinstance(value, int):
            transcript.add_close(direction, value, "", float(t))  # type: ignore[arg-type]
        else:
            transcript.add_text(direction, json.dumps(value), float(t))  # type: ignore[arg-type]
    return transcript


def ev(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "event_id": f"event_{random.getrandbits(40):x}", **fields}


def differences(a: Transcript, b: Transcript, **options: Any) -> list[tuple[str, str, str]]:
    result = diff_transcripts(a, b, known=options.pop("known", []), **options)
    return [(d.kind, d.event, d.field) for d in result.differences]


# --- shapes -------------------------------------------------------------------------------


def test_values_are_normalised_to_types_but_enums_codes_and_field_sets_are_not() -> None:
    a = {"item": {"id": "item_1", "status": "completed", "n": 1, "x": None, "text": "hi"}}
    same = {"item": {"id": None, "status": "completed", "n": 2.5, "x": None, "text": 3}}
    assert list(compare(shape_of(a), shape_of(same))) == []
    other = {"item": {"id": "i", "status": "incomplete", "n": "1", "y": 1, "text": "x"}}
    found = {(d.kind, d.field, d.a, d.b) for d in compare(shape_of(a), shape_of(other))}
    assert found == {
        ("value", "item.status", "completed", "incomplete"),
        ("type", "item.n", "number", "string"),
        ("missing", "item.x", "null", None),
        ("extra", "item.y", None, "number"),
    }


def test_arrays_compare_by_element_shape_grouped_by_type() -> None:
    parts = [{"type": "input_text", "text": "a"}, {"type": "input_text", "text": "b"}]
    assert list(compare(shape_of({"c": parts}), shape_of({"c": parts[:1]}))) == []
    assert list(compare(shape_of({"c": parts}), shape_of({"c": []}))) == []  # no element: no shape
    image = [{"type": "input_image", "image_url": "data:"}]
    found = {(d.kind, d.field) for d in compare(shape_of({"c": parts}), shape_of({"c": image}))}
    assert found == {("missing", "c[type=input_text]"), ("extra", "c[type=input_image]")}
    more = [{"type": "input_text", "text": "a", "extra": True}]
    found = {(d.kind, d.field) for d in compare(shape_of({"c": parts}), shape_of({"c": more}))}
    assert found == {("extra", "c[type=input_text].extra")}


# --- steps and alignment ------------------------------------------------------------------


def test_appends_and_deltas_collapse_to_one_entry_with_a_count() -> None:
    append = ("client", ev("input_audio_buffer.append", audio="AAAA"))
    delta = ("server", ev("response.output_text.delta", response_id="r", item_id="i", delta="x"))
    transcript = session(
        ("server", ev("session.created")),
        append,
        ("server", ev("input_audio_buffer.speech_started")),
        append,
        append,
        ("client", ev("response.create")),
        delta,
        ("server", ev("response.output_audio_transcript.delta", response_id="r", delta="y")),
        delta,
        ("server", ev("response.output_text.done", response_id="r", item_id="i")),
        delta,
    )
    cut = steps_of(transcript).steps
    assert [s.client_key for s in cut] == [
        "(connect)",
        "input_audio_buffer.append",
        "response.create",
    ]
    assert cut[1].client is not None
    assert cut[1].client.count == 3
    assert [(e.key, e.count) for e in cut[2].server] == [
        ("response.output_text.delta", 2),
        ("response.output_audio_transcript.delta", 1),
        ("response.output_text.done", 1),
        ("response.output_text.delta", 1),  # a new stream after the .done
    ]


def test_a_different_number_of_frames_is_a_difference_only_when_asked() -> None:
    def deltas(n: int) -> Transcript:
        frames = [("client", ev("response.create"))]
        frames += [("server", ev("response.output_text.delta", delta="x"))] * n
        return session(*frames)

    assert differences(deltas(3), deltas(7)) == []
    assert differences(deltas(3), deltas(7), strict_counts=True) == [
        ("count", "response.output_text.delta", "")
    ]


def test_an_event_answering_a_later_client_frame_is_timing_not_a_difference() -> None:
    a = session(
        ("client", ev("input_audio_buffer.commit")),
        ("server", ev("conversation.item.input_audio_transcription.completed")),
        ("client", ev("response.create")),
        ("server", ev("response.created")),
    )
    b = session(
        ("client", ev("input_audio_buffer.commit")),
        ("client", ev("response.create")),
        ("server", ev("response.created")),
        ("server", ev("conversation.item.input_audio_transcription.completed", extra=1)),
    )
    # matched across the steps, and compared: the extra field shows
    assert differences(a, b) == [
        ("extra", "conversation.item.input_audio_transcription.completed", "extra")
    ]


def test_another_order_in_the_same_answer_is_an_order_difference() -> None:
    start, cancel = ev("input_audio_buffer.speech_started"), ev("response.done")
    a = session(("client", ev("input_audio_buffer.append")), ("server", start), ("server", cancel))
    b = session(("client", ev("input_audio_buffer.append")), ("server", cancel), ("server", start))
    result = diff_transcripts(a, b, known=[])
    [order] = result.differences
    assert order.kind == "order"
    assert order.message == (
        "`response.done` in another order: in A after `input_audio_buffer.speech_started`, "
        "in B after the start of the answer"
    )


def test_codes_handshake_and_client_traffic() -> None:
    error = ev("error", error={"type": "invalid_request_error", "code": "invalid_value"})
    other = ev("error", error={"type": "invalid_request_error", "code": "invalid_event"})
    update = ("client", ev("session.update"))
    assert differences(session(update, ("server", error)), session(update, ("server", other))) == [
        ("code", "error", "error.code")
    ]
    assert differences(session(("server", 1000)), session(("server", 1011))) == [
        ("code", "close(server)", "code")
    ]
    assert differences(session(("rejected", 401)), session(("server", ev("session.created")))) == [
        ("handshake", "rejected", "")
    ]
    assert differences(session(("rejected", 401)), session(("rejected", 403))) == [
        ("code", "rejected", "code")
    ]
    extra_frame = session(update, ("client", ev("response.cancel")))
    assert differences(session(update), extra_frame) == [("client", "response.cancel", "")]


# --- the ledger's matchers ----------------------------------------------------------------


def test_a_matcher_knows_which_side_is_live() -> None:
    known = Known(id="x", kinds=("extra",), event="e.*", field="")
    only_b: dict[str, Any] = {"kind": "extra", "event": "e.failed", "field": "", "client": "c"}
    only_b.update(a=None, b=None)
    assert known.matches(**only_b, live="a")  # B is the mock: the mock sends it
    assert not known.matches(**only_b, live="b")  # B is live: live sends it
    assert known.matches(**only_b, live=None)  # unknown: either way
    assert not known.matches(**{**only_b, "field": "usage"}, live="a")
    coded = Known(id="y", kinds=("code",), event="error", mock="invalid_event")
    shown = {"kind": "code", "event": "error", "field": "error.code", "client": "c"}
    assert coded.matches(**shown, a="invalid_value", b="invalid_event", live="a")
    assert not coded.matches(**shown, a="invalid_event", b="invalid_value", live="a")
    assert coded.matches(**shown, a="invalid_event", b="invalid_value", live=None)


def test_only_open_entries_with_matchers_are_known() -> None:
    entries: list[dict[str, Any]] = [
        {"id": "open", "status": "inferred", "diff": {"event": "a"}},
        {"id": "fixed", "status": "fixed", "diff": [{"event": "b"}]},
        {"id": "plain", "status": "divergence"},
    ]
    assert [k.id for k in known_from(entries)] == ["open"]
    ledger = load_known()
    assert ledger
    assert "transcription-fails-on-silence" in {k.id for k in ledger}


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        ({"kind": "missing"}, "needs an event or a field"),
        ({"event": "e", "kind": "vanished"}, "kind 'vanished'"),
        ({"event": "e", "colour": "red"}, "unknown key(s) colour"),
        ([], "an empty list"),
        (["e"], "each matcher is a mapping"),
    ],
)
def test_malformed_matchers_are_named_by_the_ledger_check(value: Any, complaint: str) -> None:
    assert any(complaint in p for p in matcher_problems(value))
    entry = {
        "id": "an-entry",
        "area": "response",
        "mock": "m",
        "live": "l",
        "evidence": [{"kind": "spec", "source": "s"}],
        "status": "inferred",
        "test": "tests/test_fidelity_ledger.py::test_the_doc_is_generated_from_the_data",
        "diff": value,
    }
    assert any(complaint in p for p in fidelity.problems([entry]))


# --- properties ---------------------------------------------------------------------------

_ID = re.compile(r"\b(event|item|resp|sess|conv|call|rtc|ek|seg)_[A-Za-z0-9]{4,}\b")
_GENERATED = ("delta", "text", "transcript", "arguments")


def regenerated(path: Path, rng: random.Random) -> Transcript:
    """The transcript at `path` as another run would give it: new ids (consistently), other
    times, other generated text and usage numbers, streams of deltas split further."""
    names: dict[str, str] = {}

    def rename(match: re.Match[str]) -> str:
        if match.group(0) not in names:
            size = rng.randint(8, 24)
            tail = "".join(rng.choice("ABCDEFabcdef0123456789") for _ in range(size))
            names[match.group(0)] = f"{match.group(1)}_{tail}"
        return names[match.group(0)]

    def vary(value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {k: vary(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [vary(v) for v in value]
        if isinstance(value, str):
            if key in _GENERATED:
                return "".join(rng.choice("xyz ") for _ in range(rng.randint(0, 12)))
            return _ID.sub(rename, value)
        if isinstance(value, int) and not isinstance(value, bool) and key.endswith("tokens"):
            return rng.randint(0, 5000)
        return value

    lines = path.read_text(encoding="utf-8").splitlines()
    out = [lines[0]]
    clock = 0.0
    for line in lines[1:]:
        record = json.loads(line)
        clock += rng.uniform(0, 50)
        record["t_ms"] = round(clock, 3)
        copies = 1
        if record.get("kind") == "text":
            event = json.loads(record["text"])
            record["text"] = json.dumps(vary(event))
            if str(event.get("type", "")).endswith(".delta"):
                copies = rng.randint(1, 3)
        out += [json.dumps(record)] * copies
    return Transcript.from_jsonl("\n".join(out), origin=str(path))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(GOLDEN), rng=st.randoms(use_true_random=False))
def test_a_transcript_against_itself_with_ids_regenerated_has_no_difference(
    path: Path, rng: random.Random
) -> None:
    original = Transcript.read_jsonl(path)
    again = regenerated(path, rng)
    assert diff_transcripts(original, again, known=[]).differences == []
    assert diff_transcripts(again, original, known=[]).differences == []


@settings(max_examples=40, deadline=None)
@given(path=st.sampled_from(GOLDEN), data=st.data())
def test_leaving_out_any_server_event_is_a_difference(path: Path, data: st.DataObject) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    events = [
        n
        for n, line in enumerate(lines)
        if '"direction":"server"' in line
        and '"kind":"text"' in line
        and ".delta" not in json.loads(json.loads(line)["text"])["type"]
    ]
    if not events:
        return
    gone = data.draw(st.sampled_from(events))
    kind = json.loads(json.loads(lines[gone])["text"])["type"]
    shorter = Transcript.from_jsonl("\n".join(x for n, x in enumerate(lines) if n != gone))
    found = differences(Transcript.read_jsonl(path), shorter)
    assert ("missing", kind, "") in found
