"""A recording `Control` and a settable `StateView` for unit tests of scenario hooks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mock_server.hooks import Outgoing


@dataclass
class FakeState:
    """A `StateView` whose values tests set directly."""

    session_id: str = "sess_TEST"
    model: str | None = "gpt-realtime"
    active_response_id: str | None = None
    last_response_id: str | None = None
    last_item_id: str | None = None
    item_ids: list[str] = field(default_factory=list)
    responses_started: int = 0
    last_client_event_id: str | None = None
    conversation_id: str = "conv_TEST"


@dataclass(frozen=True)
class Call:
    """One recorded call on the control."""

    name: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)


class FakeControl:
    """Records every call; `new_id` counts (`item_1`, `event_2`, ...)."""

    def __init__(self, state: FakeState | None = None) -> None:
        self._state = state or FakeState()
        self.calls: list[Call] = []
        self._ids = 0

    @property
    def state(self) -> FakeState:
        return self._state

    def new_id(self, prefix: str) -> str:
        self._ids += 1
        made = f"{prefix}_{self._ids}"
        self.calls.append(Call("new_id", (prefix,)))
        return made

    def send(self, event: Outgoing, *, delay_ms: float = 0.0) -> None:
        self.calls.append(Call("send", (event,), {"delay_ms": delay_ms}))

    def close(self, code: int, reason: str = "", *, delay_ms: float = 0.0) -> None:
        self.calls.append(Call("close", (code, reason), {"delay_ms": delay_ms}))

    def drop(self, *, delay_ms: float = 0.0) -> None:
        self.calls.append(Call("drop", (), {"delay_ms": delay_ms}))

    def stall(self, *, pings: bool = True) -> None:
        self.calls.append(Call("stall", (), {"pings": pings}))

    def set_ping_answer(self, answer: bool) -> None:
        self.calls.append(Call("set_ping_answer", (answer,)))

    def suppress_session_created(self) -> None:
        self.calls.append(Call("suppress_session_created"))

    def set_reply_text(self, text: str | None) -> None:
        self.calls.append(Call("set_reply_text", (text,)))

    def set_pace(
        self,
        *,
        first_delta_delay: float | None = None,
        text_tokens_per_second: float | None = None,
        audio_realtime: bool | None = None,
    ) -> None:
        kwargs = {
            "first_delta_delay": first_delta_delay,
            "text_tokens_per_second": text_tokens_per_second,
            "audio_realtime": audio_realtime,
        }
        self.calls.append(Call("set_pace", (), kwargs))

    def fail_next_response(self, status_details: Mapping[str, Any]) -> None:
        self.calls.append(Call("fail_next_response", (status_details,)))

    # ------------------------------------------------------------ helpers for assertions
    def effects(self) -> list[Call]:
        """Every call except `new_id` (ids are bookkeeping, not effects)."""
        return [call for call in self.calls if call.name != "new_id"]

    def names(self) -> list[str]:
        """The names of the effects, in order."""
        return [call.name for call in self.effects()]

    def sent(self) -> list[Outgoing]:
        """Everything passed to `send`, in order."""
        return [call.args[0] for call in self.calls if call.name == "send"]

    def sent_types(self) -> list[str]:
        """The `type` of every sent mapping (raw frames show as `<raw>`)."""
        return [e["type"] if isinstance(e, Mapping) else "<raw>" for e in self.sent()]

    def clear(self) -> None:
        """Forget the calls so far."""
        self.calls.clear()
