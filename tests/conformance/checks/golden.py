"""Record the golden transcripts of `fixtures/transcripts/` with the in-memory mock.

Run `python -m tests.conformance.checks.golden` to rewrite them. Every golden is a real
recording (seeded ids, virtual clock, fixed start times); every file under
`violations/` is one golden with the minimal edit listed in `violations()`, so each check
has a passing and a failing transcript.

`tests/conformance/checks/test_golden.py` records them afresh and compares each with its
file after `normalised()` (ids, frame times and the session clock replaced by
placeholders): a change of the mock's behaviour that reaches a golden fails there until
the goldens are regenerated with the command above and the diff is reviewed.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from conformance import _json
from conformance.resources import transcripts_dir
from conformance.transcript import Record, Transcript
from mock_server.scenarios import builtin_scenarios
from mock_server.scenarios.runtime import ScenarioHooks
from tests.mock_server.app_harness import KEY, data_url, open_app, png_bytes, until

START = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
SESSION = {"type": "realtime", "output_modalities": ["text"], "instructions": "Be terse."}
Event = dict[str, Any]


def _stamp(
    transcript: Transcript, offset_s: float = 0.0, scenario: str | None = None
) -> Transcript:
    when = START + timedelta(seconds=offset_s)
    if scenario is not None:
        transcript.meta["scenario"] = scenario
    transcript.meta["started_at"] = when.isoformat(timespec="milliseconds")
    return transcript


def _hooks(scenario_id: str) -> ScenarioHooks:
    return ScenarioHooks({s.id: s for s in builtin_scenarios()}[scenario_id])


def text_turn() -> Transcript:
    """session.update, an image + text message, one text response, client close."""
    app, wire = open_app(seed=7)
    wire.recv_event()
    wire.clock.advance(12)
    wire.send({"type": "session.update", "event_id": "evt_update", "session": SESSION})
    wire.recv_event()
    wire.clock.advance(30)
    content = [
        {"type": "input_image", "image_url": data_url(png_bytes(8, 8))},
        {"type": "input_text", "text": "What is in this picture?"},
    ]
    item = {"type": "message", "role": "user", "content": content}
    wire.send({"type": "conversation.item.create", "event_id": "evt_item", "item": item})
    wire.clock.advance(5)
    wire.send({"type": "response.create", "event_id": "evt_response"})
    wire.events_until(until("response.done"))
    wire.recv(within_ms=50)
    wire.close(1000, "done")
    return _stamp(app.transcript)


def cancel_not_active() -> Transcript:
    """A response.cancel with nothing active: one benign error event, then client close."""
    app, wire = open_app(seed=7)
    wire.recv_event()
    wire.clock.advance(20)
    wire.send({"type": "response.cancel", "event_id": "evt_cancel"})
    wire.recv_event()
    wire.clock.advance(20)
    wire.close(1000, "")
    return _stamp(app.transcript, scenario="cancel-not-active")


def session_expired() -> Transcript:
    """The session hits its (2 s) maximum duration: error session_expired, close 1001."""
    app, wire = open_app(seed=7, session_max_duration=2.0)
    wire.recv_event()
    while isinstance(wire.recv(within_ms=5000), str):
        pass
    return _stamp(app.transcript)


def failed_response() -> Transcript:
    """model-not-found-late: the response ends in response.done status failed."""
    app, wire = open_app(seed=7, hooks=_hooks("model-not-found-late"))
    wire.recv_event()
    wire.clock.advance(10)
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]}
    wire.send({"type": "conversation.item.create", "event_id": "evt_item", "item": item})
    wire.send({"type": "response.create", "event_id": "evt_hi"})
    wire.events_until(until("response.done"))
    wire.clock.advance(10)
    wire.close(1000, "")
    return _stamp(app.transcript, scenario="model-not-found-late")


def quota_closed(offset_s: float, seed: int) -> Transcript:
    """quota-closes-after-connect: session.created, then close 1000 after 150 ms."""
    app, wire = open_app(seed=seed, hooks=_hooks("quota-closes-after-connect"))
    wire.recv_event()
    while isinstance(wire.recv(within_ms=1000), str):
        pass
    return _stamp(app.transcript, offset_s, "quota-closes-after-connect")


def rejected_key(offset_s: float) -> Transcript:
    """A key the mock does not accept: error invalid_api_key, close 3000."""
    app, wire = open_app(
        seed=7, headers=[("Authorization", "Bearer sk-stale-000000000000")], api_keys=(KEY,)
    )
    while isinstance(wire.recv(within_ms=100), str):
        pass
    return _stamp(app.transcript, offset_s)


def accepted_key(offset_s: float) -> Transcript:
    """The same request with a fresh key: session.created, then client close."""
    app, wire = open_app(seed=7, api_keys=(KEY,))
    wire.recv_event()
    wire.clock.advance(40)
    wire.close(1000, "")
    return _stamp(app.transcript, offset_s)


# --- minimal edits -------------------------------------------------------------------


def rebuilt(transcript: Transcript, records: list[Record], **meta: Any) -> Transcript:
    """A copy with other records (re-indexed) and `meta` changes."""
    return Transcript({**transcript.meta, **meta}, records)


def edit_event(transcript: Transcript, index: int, change: Callable[[Event], None]) -> Transcript:
    """A copy in which the event of record `index` is changed in place by `change`."""
    records = list(transcript.records)
    event = _json.loads(records[index].text or "{}")
    change(event)
    old = records[index]
    records[index] = Record(
        index=index, direction=old.direction, t_ms=old.t_ms, kind="text", text=_json.dumps(event)
    )
    return rebuilt(transcript, records)


def insert_event(transcript: Transcript, index: int, direction: Any, event: Event) -> Transcript:
    """A copy with `event` inserted before record `index` (same time as its neighbour)."""
    records = list(transcript.records)
    t_ms = records[index - 1].t_ms if index else 0.0
    new = Record(index=index, direction=direction, t_ms=t_ms, kind="text", text=_json.dumps(event))
    return rebuilt(transcript, [*records[:index], new, *records[index:]])


def swap(transcript: Transcript, first: int, second: int) -> Transcript:
    """A copy with two records exchanged (their timestamps stay in place)."""
    records = list(transcript.records)
    a, b = records[first], records[second]
    records[first] = Record(**{**_fields(b), "t_ms": a.t_ms})
    records[second] = Record(**{**_fields(a), "t_ms": b.t_ms})
    return rebuilt(transcript, records)


def _fields(record: Record) -> dict[str, Any]:
    names = ("index", "direction", "t_ms", "kind", "text", "data_b64", "code", "reason")
    return {name: getattr(record, name) for name in names}


def index_of(transcript: Transcript, event_type: str) -> int:
    """The index of the first record of `event_type`."""
    return next(r.index for r in transcript.records if r.event_type == event_type)


def _image_as_text(event: Event) -> None:
    event["item"]["content"][0] = {
        "type": "input_text",
        "text": event["item"]["content"][0]["image_url"],
    }


def violations(turn: Transcript) -> dict[str, Transcript]:
    """One minimally edited `text-turn` per connection check."""
    item = index_of(turn, "conversation.item.create")
    created = index_of(turn, "response.created")
    return {
        "client_event_matches_schema": edit_event(
            turn, 1, lambda e: e["session"].update(modalities=["text"])
        ),
        "images_are_input_image_data_urls": edit_event(turn, item, _image_as_text),
        "event_ids_are_unique": edit_event(
            turn, index_of(turn, "response.create"), lambda e: e.update(event_id="evt_item")
        ),
        "does_not_send_beta_header": rebuilt(
            turn,
            list(turn.records),
            headers=[*turn.meta["headers"], ["OpenAI-Beta", "realtime=v1"]],
        ),
        "uses_supported_model": rebuilt(
            turn, list(turn.records), query={"model": "gpt-4o"}, model="gpt-4o"
        ),
        "waits_for_session_created": swap(turn, 0, 1),
        "waits_for_session_updated": swap(turn, 2, item),
        "tracks_response_lifecycle": insert_event(
            turn, created + 1, "client", {"type": "response.create", "event_id": "evt_again"}
        ),
        "protocol_rules_hold": insert_event(
            turn,
            3,
            "client",
            {"type": "conversation.item.delete", "event_id": "evt_del", "item_id": "item_missing"},
        ),
    }


def case_files() -> dict[str, Transcript]:
    """Every golden and violation transcript, by path relative to fixtures/transcripts."""
    turn = text_turn()
    files = {
        "text-turn.jsonl": turn,
        "cancel-not-active.jsonl": cancel_not_active(),
        "session-expired.jsonl": session_expired(),
        "failed-response.jsonl": failed_response(),
    }
    for n, offset in enumerate((0.0, 0.65, 1.8, 4.0)):  # gaps 0.5, 1.0, 2.0 s
        files[f"reconnect-backoff/{n}.jsonl"] = quota_closed(offset, n)
    for n, offset in enumerate((0.0, 0.16, 0.32, 0.48)):  # gaps 0.01 s
        files[f"violations/reconnect-storm/{n}.jsonl"] = quota_closed(offset, n)
    files["fresh-key-after-3000/0.jsonl"] = rejected_key(0.0)
    files["fresh-key-after-3000/1.jsonl"] = accepted_key(2.0)
    files["violations/retry-after-3000/0.jsonl"] = rejected_key(0.0)
    files["violations/retry-after-3000/1.jsonl"] = rejected_key(2.0)
    for check_name, transcript in violations(turn).items():
        files[f"violations/{check_name}.jsonl"] = transcript
    return files


# --- normalisation, for comparing a fresh recording with a committed golden -------------

_ID = re.compile(r"\b(event|item|resp|sess|conv|call|rtc|ek)_[A-Za-z0-9]{8,}\b")
# Fields whose values are wall or virtual times, or padding, not behaviour.
_TIMES = frozenset({"t_ms", "expires_at", "created_at"})
_PADDING = "obfuscation"  # random-looking padding on deltas (seeded, but not behaviour)


def normalised(text: str) -> list[Any]:
    """A JSONL transcript as comparable data: ids numbered by first appearance (per
    prefix), frame times, clock fields and delta padding replaced, frame texts parsed."""
    names: dict[str, str] = {}
    counts: dict[str, int] = {}

    def rename(match: re.Match[str]) -> str:
        found = match.group(0)
        if found not in names:
            prefix = match.group(1)
            counts[prefix] = counts.get(prefix, 0) + 1
            names[found] = f"{prefix}_<{counts[prefix]}>"
        return names[found]

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: "<time>" if k in _TIMES else "<padding>" if k == _PADDING else walk(v)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, str):
            return _ID.sub(rename, value)
        return value

    lines = []
    for line in text.splitlines():
        record = _json.loads(line)
        if isinstance(record.get("text"), str):
            with contextlib.suppress(ValueError):  # a frame that is not JSON stays text
                record["text"] = _json.loads(record["text"])
        lines.append(walk(record))
    return lines


def main(root: Path | None = None) -> None:
    """Write every file under `root` (fixtures/transcripts by default)."""
    root = root or transcripts_dir()
    for relative, transcript in case_files().items():
        transcript.write_jsonl(root / relative)


if __name__ == "__main__":
    main()
