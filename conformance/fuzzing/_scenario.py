"""A `FuzzCase` as a scenario file the mock replays (format: docs/scenarios.md).

The prelude becomes a `connect` rule; segment k a rule on the client's k-th
`response.create`, which it consumes (the mock sends the generated response instead of
its own). Known events are `send` actions, unknown types `inject_unknown_event`, faults
`error` / `close` / `drop` / `stall`. Ids tie into the live session through placeholders:
`{conversation_id}` and `{last_item_id}` (the client's own last item).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, Final

import yaml

from ._cases import FuzzCase, strip_ids
from ._streams import KNOWN_TYPES, TERMINAL, Event, Fault

SOURCE: Final = "https://platform.openai.com/docs/api-reference/realtime-server-events"
_CATALOG: Final = {"stall": "HANG", "drop": "CLOSE-FRAME", "close": "EARLY-CLOSE",
                   "error": "SERVER-ERROR"}  # fmt: skip
# The mock's own responses: first delta after 50 ms, then 100 words per second.
TRANSLATION_APPEND: Final = "session.input_audio_buffer.append"
_PACE: Final = {"pace": {"first_delta_delay": 0.05, "text_tokens_per_second": 100.0}}
_EXPECT: Final = {
    "error": "surfaces_error_event",
    "close": "surfaces_close_code_and_reason",
    "drop": "detects_dropped_connection",
    "stall": "times_out_stalled_stream",
}


def scenario_id(case: FuzzCase) -> str:
    """A stable id for the case: `fuzz-` and 10 hex digits of its content."""
    return "fuzz-" + hashlib.sha256(repr(case).encode()).hexdigest()[:10]


def expectations(case: FuzzCase) -> list[str]:
    """The `expect.client` names a correct client meets in this case."""
    names = ["ignores_unknown_events"]
    if not case.translation:  # a translation session has no responses
        names.append("tracks_response_lifecycle")
    names += [_EXPECT[kind] for kind in dict.fromkeys(case.fault_kinds())]
    return names


def catalog_of(case: FuzzCase, failed: Sequence[str] = ()) -> str:
    """The failure catalog entry the case (and the checks it failed) belongs to."""
    if "tracks_response_lifecycle" in failed:
        return "ACTIVE-RESPONSE"
    kinds = case.fault_kinds()
    if kinds:
        return _CATALOG[kinds[-1]]
    return "EVENT-RENAME" if case.unknown_types else "ORDER"


def scenario_data(
    case: FuzzCase, case_id: str, note: str = "", failed: Sequence[str] = ()
) -> dict[str, Any]:
    """The scenario as a mapping (dump it with `scenario_yaml`); `failed` names checks."""
    kinds = case.fault_kinds()
    summary = f"Fuzzed stream: {case.event_count} event(s), faults: {', '.join(kinds) or 'none'}"
    if case.translation:
        summary = "Fuzzed translation " + summary[len("Fuzzed ") :]
    rules = _translation_rules(case) if case.translation else _rules(case)
    data: dict[str, Any] = {
        "id": case_id,
        "summary": summary[:120],
        "catalog": catalog_of(case, failed),
        "sources": [SOURCE],
        "description": _Block(_description(case, note)),
    }
    if case.translation:
        data["endpoint"] = "translation"
    return {
        **data,
        "expect": {
            "client": expectations(case),
            "summary": "the client handles the generated stream like the live one",
        },
        "rules": rules,
    }


def _translation_rules(case: FuzzCase) -> list[dict[str, Any]]:
    """Segment 0 after session.created; segment 1 in place of the translation of the
    client's audio: every append is consumed, the first one answered by the segment."""
    rules: list[dict[str, Any]] = []
    appended = {"on": "client_event", "match": {"type": TRANSLATION_APPEND}}
    for number, (segment, faults) in enumerate(zip(case.segments, case.faults, strict=True)):
        actions = _actions(segment, faults, ())
        if number == 0 and actions:
            rules.append({"when": {"on": "connect"}, "do": actions})
        elif number == 1:
            rules.append({"when": appended, "do": [{"consume": None}, *actions]})
            rules.append({"when": {**appended, "every": True}, "do": [{"consume": None}]})
        if any(f.kind in TERMINAL for f in faults):
            break
    return rules


def _rules(case: FuzzCase) -> list[dict[str, Any]]:
    """Segment 0 after session.created; segment k answers the k-th response.create."""
    rules = []
    for number, (segment, faults) in enumerate(zip(case.segments, case.faults, strict=True)):
        pauses = case.pauses[number] if number < len(case.pauses) else ()
        actions = _actions(segment, faults, pauses)
        if number == 0:
            actions = [*([_PACE] if case.paced else []), *actions]
            if actions:
                rules.append({"when": {"on": "connect"}, "do": actions})
        else:
            when = {"on": "client_event", "match": {"type": "response.create"}, "nth": number}
            rules.append({"when": when, "do": [{"consume": None}, *actions]})
        if any(f.kind in TERMINAL for f in faults):
            break
    return rules


def _description(case: FuzzCase, note: str) -> str:
    lines = [
        "Generated by `realtime-conformance fuzz` (Hypothesis), then shrunk: segment 0 is",
        "sent right after session.created, segment k answers the client's k-th",
        "response.create in place of the mock's own response.",
    ]
    if case.translation:
        lines[1:] = [
            "sent right after session.created, segment 1 answers the client's first",
            "session.input_audio_buffer.append in place of the mock's own translation",
            "(every append is consumed).",
        ]
    for response_id, text in case.texts.items():
        what = "The translation" if case.translation else f"Response {response_id}"
        lines.append(f"{what} says {text!r}.")
    if note:
        lines += ["", note]
    return "\n".join(lines) + "\n"


def _actions(
    segment: Sequence[Event], faults: Sequence[Fault], pauses: Sequence[tuple[int, float]]
) -> list[dict[str, Any]]:
    actions: list[dict[str, Any]] = []
    for index in range(len(segment) + 1):
        actions += [{"delay": {"ms": ms}} for at, ms in pauses if at == index]
        for fault in (f for f in faults if f.at == index):
            actions += _fault(fault)
            if fault.kind in TERMINAL:
                return actions
        if index < len(segment):
            actions.append(_send(segment[index]))
    return actions


def _send(event: Mapping[str, Any]) -> dict[str, Any]:
    body = _placeholders(strip_ids(event))
    if body["type"] not in KNOWN_TYPES:
        fields = {k: v for k, v in body.items() if k != "type"}
        injected = {"type": body["type"], **({"fields": fields} if fields else {})}
        return {"inject_unknown_event": injected}
    return {"send": body}


def _placeholders(event: dict[str, Any]) -> dict[str, Any]:
    """Tie generated ids to the live session: its conversation and the client's last item."""
    if "previous_item_id" in event:
        event["previous_item_id"] = "{last_item_id}"
    response = event.get("response")
    if isinstance(response, dict) and response.get("conversation_id") is not None:
        event["response"] = {**response, "conversation_id": "{conversation_id}"}
    return event


def _fault(fault: Fault) -> list[dict[str, Any]]:
    if fault.kind == "error":
        body: dict[str, Any] = {"type": fault.error_type, "code": fault.code, "message": fault.text}
        if not fault.tied:
            body["event_id"] = None
        return [{"error": body}]
    # The mock queues a close, drop or stall behind what the rule sent before it, so
    # those events reach the wire first, as they would from the live server.
    if fault.kind == "close":
        return [{"close": {"code": fault.code, "reason": fault.text}}]
    if fault.kind == "drop":
        return [{"drop": None}]
    return [{"stall": {"pings": True}}]


class _Block(str):
    """Text we wrote ourselves, shown as a literal block (generated text is quoted)."""

    __slots__ = ()


class _Dumper(yaml.SafeDumper):
    """Dumps `_Block` strings as literal blocks, and repeated objects in full (no anchors)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _block(dumper: yaml.SafeDumper, value: _Block) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(value), style="|")


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # PyYAML writes NEL (U+0085) raw in plain and single-quoted scalars, where a reader
    # folds it into a space; double quotes escape it (`\N`).
    style = '"' if "\x85" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(_Block, _block)
_Dumper.add_representer(str, _string)


def scenario_yaml(
    case: FuzzCase, case_id: str | None = None, note: str = "", failed: Sequence[str] = ()
) -> str:
    """The case as scenario YAML, ready for `mock_server.scenarios.load_text`."""
    data = scenario_data(case, case_id or scenario_id(case), note, failed)
    header = "# Generated by realtime-conformance fuzz; replay it with --replay or --scenario.\n"
    body = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    return header + body
