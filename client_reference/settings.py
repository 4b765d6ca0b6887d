"""Every timeout and the reconnect policy of the reference client, as frozen values."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, fields

from .errors import UsageError

__all__ = ["PERMANENT_CLOSE_CODES", "RECOVERABLE_CLOSE_CODES", "ClientSettings", "ReconnectPolicy"]

# Close codes after which a new session may succeed: the Python SDK's recoverable set
# (protocol notes §6.3): going away (1001, also sent after `session_expired`), no status
# (1005), dropped without a close frame (1006), internal error (1011), service restart
# (1012), try again later (1013), TLS failure (1015).
RECOVERABLE_CLOSE_CODES = frozenset({1001, 1005, 1006, 1011, 1012, 1013, 1015})

# 3000-4999 are the application codes the live server uses for rejections that a new
# connection would get again: 3000 = bad or missing key, 4000 = request shape (beta header,
# unknown or missing model), 4004 = model not found. Retrying them only burns quota and
# hides the cause (failure catalog 2 and 22: reconnect loops on a permanent close).
PERMANENT_CLOSE_CODES = range(3000, 5000)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReconnectPolicy:
    """When and how fast to open a new session after the server ended one.

    Reconnecting starts a *new* session: the conversation (earlier screenshots and
    replies) is gone; the client re-sends its last `configure()` settings.

    Attributes:
        max_attempts: connection attempts per outage before giving up.
        initial_delay: seconds before the first attempt.
        max_delay: cap on the delay between attempts.
        multiplier: factor applied to the delay after each failed attempt.
        jitter: random extra delay, as a fraction of the delay (0 = deterministic).
        healthy_after: a session that stayed open this many seconds resets the attempt
            count; shorter ones do not (so "accept then close" cannot loop forever).
        retry_codes: close codes that trigger a reconnect. A close that follows a
            `session_expired` error is retried too unless its code is permanent.
    """

    max_attempts: int = 5
    initial_delay: float = 0.5
    max_delay: float = 10.0
    multiplier: float = 2.0
    jitter: float = 0.1
    healthy_after: float = 60.0
    retry_codes: frozenset[int] = RECOVERABLE_CLOSE_CODES

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise UsageError(f"max_attempts={self.max_attempts!r} must be at least 1")
        _check_positive(self, ("initial_delay", "max_delay", "healthy_after"))
        if not 0.0 <= self.jitter <= 1.0:
            raise UsageError(f"jitter={self.jitter!r} must be between 0 and 1")
        if self.multiplier < 1.0:
            raise UsageError(f"multiplier={self.multiplier!r} must be >= 1")

    def delay(self, attempt: int, *, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait before attempt number `attempt` (1-based)."""
        base = min(self.initial_delay * self.multiplier ** (attempt - 1), self.max_delay)
        return base * (1.0 + self.jitter * rand())

    def should_retry(self, code: int, *, session_expired: bool = False) -> bool:
        """Whether a close with `code` is worth a new session (never 3000-4999)."""
        if code in PERMANENT_CLOSE_CODES:
            return False
        return code in self.retry_codes or session_expired


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientSettings:
    """All waits of the reference client, in seconds. Every wait is bounded by one of them.

    Attributes:
        open_timeout: TCP + TLS + WebSocket upgrade.
        session_created_timeout: from the upgrade to `session.created`.
        ack_timeout: from `session.update` to `session.updated`, and from
            `conversation.item.create` to `conversation.item.added`/`.done`.
        response_timeout: longest silence while a response is awaited: no
            `response.created`, delta or `response.done` for this long fails the stream
            (a queued response counts progress of the one ahead of it).
        send_timeout: writing one event to the socket (back-pressure).
        close_timeout: the closing handshake (the live server may drop the TCP connection
            without a close frame; failure catalog 26).
        reconnect_timeout: how long a call waits for a reconnect in progress.
        ping_interval: seconds between our keepalive pings (None: off). A dead peer is
            detected within `ping_interval + ping_timeout`, which also bounds idle reads.
        ping_timeout: seconds to wait for the pong.
    """

    open_timeout: float = 10.0
    session_created_timeout: float = 10.0
    ack_timeout: float = 10.0
    response_timeout: float = 30.0
    send_timeout: float = 10.0
    close_timeout: float = 5.0
    reconnect_timeout: float = 60.0
    ping_interval: float | None = 20.0
    ping_timeout: float | None = 20.0

    def __post_init__(self) -> None:
        _check_positive(self, tuple(field.name for field in fields(self)))


def _check_positive(obj: object, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(obj, name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise UsageError(f"{name}={value!r} must be a positive number of seconds")
