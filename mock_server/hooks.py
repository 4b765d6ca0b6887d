"""The seam between the mock app's default live-like behaviour and scenarios.

A scenario (see `mock_server.scenarios`) is a `Hooks` object attached to one
connection. The app calls the hooks at fixed points and gives them a `Control`
through which they act. Hooks never see sockets or clocks: `now_ms` is passed in and
delayed work is expressed as `delay_ms` / `next_timer()`.

Call order per connection::

    on_open(ctl)                      before session.created (may close/drop/stall at once)
    [session.created unless ctl.suppress_session_created() was called]
    after_open(ctl)
    for each client frame:
        on_client_event(ctl, event, text)   -> True = consumed (default handling skipped)
        for each server event the app would send:
            on_server_event(ctl, event)     -> None (send unchanged) or a replacement list
    on_timer(ctl) whenever now_ms reaches next_timer()
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class RawFrame:
    """A frame sent exactly as given (malformed JSON, oversized payloads, binary data)."""

    data: str | bytes


Outgoing = Mapping[str, Any] | RawFrame


class StateView(Protocol):
    """What hooks may read of the connection's state (templating, triggers)."""

    @property
    def session_id(self) -> str: ...
    @property
    def model(self) -> str | None: ...
    @property
    def active_response_id(self) -> str | None: ...
    @property
    def last_response_id(self) -> str | None: ...
    @property
    def last_item_id(self) -> str | None: ...
    @property
    def item_ids(self) -> Sequence[str]: ...
    @property
    def responses_started(self) -> int: ...
    @property
    def last_client_event_id(self) -> str | None: ...
    @property
    def conversation_id(self) -> str: ...


class Control(Protocol):
    """What hooks may do. Every method is non-blocking; effects go through the app's outbox."""

    @property
    def state(self) -> StateView: ...
    def new_id(self, prefix: str) -> str: ...
    def send(self, event: Outgoing, *, delay_ms: float = 0.0) -> None:
        """Send an event (a mapping gets an `event_id` if it lacks one) or a raw frame."""

    def close(self, code: int, reason: str = "", *, delay_ms: float = 0.0) -> None: ...
    def drop(self, *, delay_ms: float = 0.0) -> None: ...
    def stall(self, *, pings: bool = True) -> None: ...
    def set_ping_answer(self, answer: bool) -> None: ...
    def suppress_session_created(self) -> None: ...
    def set_reply_text(self, text: str | None) -> None:
        """Replace the deterministic reply text of later responses (None restores it)."""

    def set_pace(
        self,
        *,
        first_delta_delay: float | None = None,
        text_tokens_per_second: float | None = None,
        audio_realtime: bool | None = None,
    ) -> None: ...
    def fail_next_response(self, status_details: Mapping[str, Any]) -> None:
        """End the next response with `response.done` carrying this failed/incomplete status."""

    def hold_response(self, max_ms: float) -> None:
        """Hold the rest of the response being sent until `release_response` or `max_ms`."""

    def release_response(self) -> None:
        """A held response goes on at its pace."""


class Hooks(Protocol):
    """Implemented by scenarios; the app's default is a no-op implementation."""

    def on_open(self, ctl: Control, now_ms: float) -> None: ...
    def after_open(self, ctl: Control, now_ms: float) -> None: ...
    def on_client_event(
        self, ctl: Control, event: Mapping[str, Any] | None, text: str, now_ms: float
    ) -> bool: ...
    def on_server_event(
        self, ctl: Control, event: Mapping[str, Any], now_ms: float
    ) -> Sequence[Outgoing] | None: ...
    def on_timer(self, ctl: Control, now_ms: float) -> None: ...
    def next_timer(self) -> float | None: ...


class NoHooks:
    """The default: live-like behaviour, nothing injected."""

    def on_open(self, ctl: Control, now_ms: float) -> None:
        return None

    def after_open(self, ctl: Control, now_ms: float) -> None:
        return None

    def on_client_event(
        self, ctl: Control, event: Mapping[str, Any] | None, text: str, now_ms: float
    ) -> bool:
        return False

    def on_server_event(
        self, ctl: Control, event: Mapping[str, Any], now_ms: float
    ) -> Sequence[Outgoing] | None:
        return None

    def on_timer(self, ctl: Control, now_ms: float) -> None:
        return None

    def next_timer(self) -> float | None:
        return None
