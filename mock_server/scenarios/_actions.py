"""What each scenario action does through the `Control` seam (one small function each)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from conformance import _json
from mock_server.hooks import Control, Outgoing, RawFrame

from . import _transforms as tf
from .templating import fill

DEFAULT_UNKNOWN_EVENT: Final = "response.future_feature.delta"
DEFAULT_UNKNOWN_FIELD: Final = "x_future_field"
DEFAULT_MALFORMED: Final = '{"type":"response.output_text.delta","event_id":"event_trunc'
DEFAULT_OVERSIZED_TYPE: Final = "response.output_audio.delta"
DTMF_EVENT: Final = "input_audio_buffer.dtmf_event_received"
_STATE_PLACEHOLDERS: Final = frozenset(
    {
        "session_id",
        "model",
        "active_response_id",
        "last_response_id",
        "last_item_id",
        "conversation_id",
    }
)


@dataclass(slots=True)
class Firing:
    """One firing of a rule: the client event that triggered it and the ids made for it."""

    client_event: Mapping[str, Any] | None = None
    new_ids: dict[str, str] = field(default_factory=dict)

    @property
    def client_event_id(self) -> str | None:
        """The triggering client event's `event_id`, if it sent a string one."""
        value = self.client_event.get("event_id") if self.client_event else None
        return value if isinstance(value, str) else None


@dataclass(slots=True)
class Env:
    """Where an action acts: the control, the time, its firing and where sends go."""

    ctl: Control
    now_ms: float
    firing: Firing
    emit: Callable[[Outgoing], None]
    arm: Callable[[tf.Transform], None]
    schedule: tf.Schedule

    def resolve(self, name: str, argument: str | None) -> str | None:
        """The value of one `{placeholder}`."""
        if name == "new_id":
            prefix = argument or "item"
            if prefix not in self.firing.new_ids:
                self.firing.new_ids[prefix] = self.ctl.new_id(prefix)
            return self.firing.new_ids[prefix]
        if name == "client_event_id":
            return self.firing.client_event_id
        if name in _STATE_PLACEHOLDERS:
            value = getattr(self.ctl.state, name)
            return value if value is None else str(value)
        return None

    def send(self, event: Mapping[str, Any]) -> None:
        """Emit a templated server event with a fresh `event_id` unless it names one."""
        filled = fill(event, self.resolve)
        self.emit({"type": filled.get("type"), "event_id": self.ctl.new_id("event"), **filled})


Handler = Callable[[Env, Mapping[str, Any]], None]


def _types(args: Mapping[str, Any]) -> frozenset[str] | None:
    types = args.get("types")
    return frozenset(types) if types else None


def _send(env: Env, args: Mapping[str, Any]) -> None:
    env.send(args)


def _error(env: Env, args: Mapping[str, Any]) -> None:
    body = {
        "type": args.get("type", "invalid_request_error"),
        "code": args.get("code"),
        "message": args["message"],
        "param": args.get("param"),
        "event_id": args.get("event_id", "{client_event_id}"),
    }
    env.send({"type": "error", "error": body})


def _close(env: Env, args: Mapping[str, Any]) -> None:
    reason = fill(args.get("reason", ""), env.resolve) or ""
    env.ctl.close(int(args["code"]), reason)


def _drop(env: Env, args: Mapping[str, Any]) -> None:
    env.ctl.drop()


def _stall(env: Env, args: Mapping[str, Any]) -> None:
    env.ctl.stall(pings=bool(args.get("pings", True)))


def _drop_next(env: Env, args: Mapping[str, Any]) -> None:
    env.arm(tf.DropNext(args.get("count", 1), _types(args)))


def _duplicate_next(env: Env, args: Mapping[str, Any]) -> None:
    env.arm(tf.DuplicateNext(args.get("count", 1), _types(args)))


def _reorder_next(env: Env, args: Mapping[str, Any]) -> None:
    env.arm(tf.ReorderNext(args.get("count", 2), _types(args)))


def _delay_next(env: Env, args: Mapping[str, Any]) -> None:
    env.arm(tf.DelayNext(float(args["ms"]), env.schedule, args.get("count", 1), _types(args)))


def _inject_unknown_event(env: Env, args: Mapping[str, Any]) -> None:
    env.send({**args.get("fields", {}), "type": args.get("type", DEFAULT_UNKNOWN_EVENT)})


def _inject_unknown_field(env: Env, args: Mapping[str, Any]) -> None:
    name = args.get("field", DEFAULT_UNKNOWN_FIELD)
    env.arm(tf.InjectField(args["type"], name, args.get("value", "future")))


def _malformed_json(env: Env, args: Mapping[str, Any]) -> None:
    env.emit(RawFrame(args.get("text", DEFAULT_MALFORMED)))


def _oversized_frame(env: Env, args: Mapping[str, Any]) -> None:
    env.arm(tf.Oversize(args.get("type", DEFAULT_OVERSIZED_TYPE), int(args["bytes"])))


def _reply_text(env: Env, args: Mapping[str, Any]) -> None:
    env.ctl.set_reply_text(args["text"])


def _pace(env: Env, args: Mapping[str, Any]) -> None:
    env.ctl.set_pace(
        first_delta_delay=args.get("first_delta_delay"),
        text_tokens_per_second=args.get("text_tokens_per_second"),
        audio_realtime=args.get("audio_realtime"),
    )


def _pings(env: Env, args: Mapping[str, Any]) -> None:
    env.ctl.set_ping_answer(bool(args["answer"]))


def _fail_response(env: Env, args: Mapping[str, Any]) -> None:
    env.ctl.fail_next_response(fill(status_details(args), env.resolve))


def status_details(args: Mapping[str, Any]) -> dict[str, Any]:
    """The `response.status_details` a `fail_response` action asks for."""
    status = args.get("status", "failed")
    details: dict[str, Any] = {"type": status}
    if status == "failed":
        details["error"] = dict(args.get("error") or {"type": "server_error", "code": None})
    else:
        details["reason"] = args.get("reason", "max_output_tokens")
    return details


def _hold_response(env: Env, args: Mapping[str, Any]) -> None:
    env.ctl.hold_response(float(args["max_ms"]))


def _release_response(env: Env, args: Mapping[str, Any]) -> None:
    env.ctl.release_response()


def _dtmf(env: Env, args: Mapping[str, Any]) -> None:
    """`input_audio_buffer.dtmf_event_received`, one per digit, `interval_ms` apart.

    Sent as written, without an `event_id`: the spec's schema of this SIP-only event has
    none (and allows no other key). `received_at` is unix seconds, a wall-clock value by
    nature; a scenario may pin it for reproducible transcripts.
    """
    interval = float(args.get("interval_ms", 0.0))
    first = args.get("received_at")
    start = int(time.time()) if first is None else int(first)
    for index, digit in enumerate(str(args["digits"])):
        delay_ms = index * interval
        event = {
            "type": DTMF_EVENT,
            "event": digit,
            "received_at": start + int(delay_ms // 1000),
        }
        frame = RawFrame(_json.dumps(event))
        if delay_ms > 0:
            env.ctl.send(frame, delay_ms=delay_ms)
        else:
            env.emit(frame)


def _nothing(env: Env, args: Mapping[str, Any]) -> None:
    """consume and suppress_session_created act when the rule fires, not when run."""


HANDLERS: Final[dict[str, Handler]] = {
    "send": _send,
    "error": _error,
    "close": _close,
    "drop": _drop,
    "stall": _stall,
    "drop_next": _drop_next,
    "duplicate_next": _duplicate_next,
    "reorder_next": _reorder_next,
    "delay_next": _delay_next,
    "inject_unknown_event": _inject_unknown_event,
    "inject_unknown_field": _inject_unknown_field,
    "malformed_json": _malformed_json,
    "oversized_frame": _oversized_frame,
    "reply_text": _reply_text,
    "pace": _pace,
    "pings": _pings,
    "fail_response": _fail_response,
    "hold_response": _hold_response,
    "release_response": _release_response,
    "dtmf": _dtmf,
    "consume": _nothing,
    "suppress_session_created": _nothing,
}
