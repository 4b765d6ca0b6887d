"""Errors raised by the reference client.

Tree (all are `conformance.protocol.errors.RealtimeError`)::

    RealtimeError
    ├── UsageError (also ValueError)      a caller passed bad arguments (raised before any I/O)
    └── ClientError                       something went wrong talking to the server
        ├── RealtimeAPIError              the server answered with an `error` event
        ├── ResponseFailed                a `response.done` with status failed / incomplete
        ├── ConnectionClosed              the WebSocket closed: close code and reason
        ├── ConnectError                  the WebSocket could not be opened at all
        └── Timeout (also TimeoutError)   a bounded wait ran out: what, and for how long

None of these messages ever contains the API key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conformance.protocol.errors import RealtimeError, UsageError

__all__ = [
    "ClientError",
    "ConnectError",
    "ConnectionClosed",
    "RealtimeAPIError",
    "RealtimeError",
    "ResponseFailed",
    "Timeout",
    "UsageError",
]


class ClientError(RealtimeError):
    """Base class of the run-time errors of the reference client."""


class RealtimeAPIError(ClientError):
    """The server sent an `error` event.

    Attributes:
        type: `error.type`, e.g. `invalid_request_error`.
        code: `error.code`, e.g. `unknown_parameter`, or None.
        message: `error.message`, the server's human-readable text.
        param: `error.param`, the dotted path of the offending field, or None.
        event_id: `error.event_id`: the id of *our* client event that caused it, or None.
        server_event_id: the `event_id` of the `error` event itself.
    """

    def __init__(
        self,
        *,
        type: str,
        code: str | None,
        message: str,
        param: str | None = None,
        event_id: str | None = None,
        server_event_id: str | None = None,
    ) -> None:
        self.type = type
        self.code = code
        self.message = message
        self.param = param
        self.event_id = event_id
        self.server_event_id = server_event_id
        super().__init__(str(self))

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> RealtimeAPIError:
        """Build the error from a server `error` event, tolerating missing fields."""
        body = event.get("error")
        error: Mapping[str, Any] = body if isinstance(body, Mapping) else {}
        return cls(
            type=_str_or(error.get("type"), "error"),
            code=_opt_str(error.get("code")),
            message=_str_or(error.get("message"), "(no message)"),
            param=_opt_str(error.get("param")),
            event_id=_opt_str(error.get("event_id")),
            server_event_id=_opt_str(event.get("event_id")),
        )

    def __str__(self) -> str:
        return f"{self.code or self.type}: {self.message}"


class ResponseFailed(ClientError):
    """A response ended with `status` `failed` or `incomplete` (no `error` event is sent).

    Attributes:
        response_id: the `resp_…` id.
        status: `failed` or `incomplete`.
        status_details: the raw `status_details` object (may be None).
        text: the text streamed before the response ended.
        usage: the `usage` object of `response.done`, if any.
    """

    def __init__(
        self,
        *,
        response_id: str | None,
        status: str,
        status_details: Mapping[str, Any] | None,
        text: str = "",
        usage: Mapping[str, Any] | None = None,
    ) -> None:
        self.response_id = response_id
        self.status = status
        self.status_details = dict(status_details) if status_details else None
        self.text = text
        self.usage = dict(usage) if usage else None
        super().__init__(self._describe())

    @property
    def code(self) -> str | None:
        """`status_details.error.code` (failed) or `status_details.reason` (incomplete)."""
        details = self.status_details or {}
        error = details.get("error")
        if isinstance(error, Mapping) and error.get("code"):
            return str(error["code"])
        reason = details.get("reason")
        return str(reason) if reason else None

    @property
    def message(self) -> str:
        """`status_details.error.message` if the server sent one, else a generic text."""
        details = self.status_details or {}
        error = details.get("error")
        if isinstance(error, Mapping) and error.get("message"):
            return str(error["message"])
        return f"response {self.response_id or '(unknown id)'} ended with status {self.status!r}"

    def _describe(self) -> str:
        return f"{self.code or self.status}: {self.message}"


class ConnectionClosed(ClientError):
    """The WebSocket closed; `code` and `reason` are the close frame's (1006: no frame).

    Attributes:
        code: the close code, e.g. 4000, 3000, 1001; 1006 when the TCP connection dropped
            without a close frame.
        reason: the close reason, e.g. `invalid_request_error.beta_api_shape_disabled`.
        by_client: True when we closed it (`close()` was called).
        error: the server's `error` event sent just before the close, if any (the live
            server sends `error` then closes in the same millisecond).
    """

    def __init__(
        self,
        code: int,
        reason: str = "",
        *,
        by_client: bool = False,
        error: RealtimeAPIError | None = None,
    ) -> None:
        self.code = code
        self.reason = reason
        self.by_client = by_client
        self.error = error
        super().__init__(self._describe())

    def _describe(self) -> str:
        if self.by_client:
            return f"the client closed the connection: {self.code} {self.reason}".rstrip()
        if self.code == 1006 and not self.reason:
            text = "connection lost without a close frame (1006)"
        else:
            text = f"server closed the connection: {self.code} {self.reason}".rstrip()
        if self.error is not None:
            text += f" after error {self.error}"
        return text


class ConnectError(ClientError):
    """The WebSocket could not be opened (DNS, refused, TLS, or an HTTP status on upgrade).

    Attributes:
        status: the HTTP status of a refused upgrade (e.g. 401, 403), else None.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class Timeout(ClientError, TimeoutError):
    """A bounded wait ran out.

    Attributes:
        what: what was awaited, e.g. "session.created".
        seconds: how long we waited.
    """

    def __init__(self, what: str, seconds: float) -> None:
        self.what = what
        self.seconds = seconds
        super().__init__(f"timed out after {seconds:g} s waiting for {what}")


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


def _str_or(value: object, default: str) -> str:
    return default if value is None else str(value)
