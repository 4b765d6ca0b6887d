"""`Finding`: one problem with one event, shaped like the live server's `error` event."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

INVALID_REQUEST_ERROR = "invalid_request_error"


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One problem with one client (or server) event, in the live `error` vocabulary.

    `code`, `message` and `param` are worded as the live GA server words them
    (for example `unknown_parameter`, "Unknown parameter: 'session.modalities'.",
    `session.modalities`). `hint` is ours: what to send instead (for example the GA
    replacement of a beta-era field); it never appears in a mock `error` event.
    """

    code: str | None
    message: str
    param: str | None = None
    type: str = INVALID_REQUEST_ERROR
    event_id: str | None = None
    hint: str | None = None

    def error_body(self) -> dict[str, Any]:
        """The inner `error` object of a live `error` event (all five keys, nulls explicit)."""
        return {
            "type": self.type,
            "code": self.code,
            "message": self.message,
            "param": self.param,
            "event_id": self.event_id,
        }

    def error_event(self, event_id: str) -> dict[str, Any]:
        """A complete server `error` event carrying this finding."""
        return {"type": "error", "event_id": event_id, "error": self.error_body()}

    def __str__(self) -> str:
        where = f" at {self.param}" if self.param else ""
        text = f"{self.code or self.type}{where}: {self.message}"
        return f"{text} (hint: {self.hint})" if self.hint else text
