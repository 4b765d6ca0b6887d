"""Webhooks signed as OpenAI signs them, and their bounded delivery.

OpenAI signs its webhooks with the Standard Webhooks scheme (https://www.standardwebhooks.com,
the official SDKs' `client.webhooks.unwrap` / `verify_signature` check it):

* headers `webhook-id` (the same on every attempt of one delivery), `webhook-timestamp`
  (unix seconds of the attempt) and `webhook-signature`: `v1,` + base64 of
  HMAC-SHA256(key, f"{webhook_id}.{timestamp}.{body}");
* the key is the secret's bytes after `whsec_`, base64-decoded (a secret without the
  prefix is used as UTF-8 text, as the SDK does);
* a 2xx answer is success; anything else, a timeout or a refused connection is retried,
  except 410 Gone (the endpoint asks for no more deliveries).

The signing and the retry decisions are pure functions; `deliver` is the small asyncio
adapter (a stdlib HTTP/1.1 POST: no extra dependency). Live retries span hours
(Standard Webhooks' schedule: 5 s, 5 min, 30 min, ...); the mock's are bounded
(`RetryPolicy`: a few attempts, seconds apart, each with a time limit), so a run ends.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import secrets as _random
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

from conformance.protocol.errors import UsageError

SECRET_PREFIX: Final = "whsec_"
SIGNATURE_VERSION: Final = "v1"
# What OpenAI's webhook POSTs carry (developers.openai.com, guides/realtime-sip).
USER_AGENT: Final = "OpenAI/1.0 (+https://platform.openai.com/docs/webhooks)"
CONTENT_TYPE: Final = "application/json"
GONE: Final = 410  # Standard Webhooks: the endpoint is disabled, do not retry
MAX_ANSWER_HEAD: Final = 64 * 1024  # bytes of the receiver's answer read for its status line


def decode_secret(secret: str) -> bytes:
    """The HMAC key of a webhook secret: `whsec_` + base64, or the text itself.

    Raises:
        UsageError: empty, or `whsec_` followed by something that is not base64.
    """
    if secret.startswith(SECRET_PREFIX):
        try:
            key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
        except (binascii.Error, ValueError):
            raise UsageError(
                "webhook secret: the part after 'whsec_' must be base64 "
                '(e.g. whsec_ + `python -c "import base64,os;'
                'print(base64.b64encode(os.urandom(32)).decode())"`)'
            ) from None
    else:
        key = secret.encode()
    if not key:
        raise UsageError("webhook secret: empty (give whsec_ followed by base64 of the key)")
    return key


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: `v1,` + base64(HMAC-SHA256(key, id.timestamp.body))."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(decode_secret(secret), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def signed_headers(
    secret: str, webhook_id: str, timestamp: int, body: bytes
) -> list[tuple[str, str]]:
    """The headers of one delivery attempt, as OpenAI sends them."""
    return [
        ("user-agent", USER_AGENT),
        ("content-type", CONTENT_TYPE),
        ("webhook-id", webhook_id),
        ("webhook-timestamp", str(timestamp)),
        ("webhook-signature", sign(secret, webhook_id, timestamp, body)),
    ]


def new_webhook_id() -> str:
    """A delivery id shaped like OpenAI's: `wh_` + 32 hex (the docs' example)."""
    return "wh_" + _random.token_hex(16)


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How many attempts, how far apart, and how long each may take (seconds)."""

    attempts: int = 4  # the first try and three retries
    first_delay: float = 0.5  # before the first retry; doubled each time
    max_delay: float = 5.0
    timeout: float = 5.0  # per attempt: connect, send, read the status line

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise UsageError(f"webhook attempts must be at least 1, got {self.attempts}")
        if self.timeout <= 0:
            raise UsageError(f"webhook timeout must be positive, got {self.timeout}")

    def delay_before(self, attempt: int) -> float:
        """Seconds to wait before attempt number `attempt` (1-based; the first: none)."""
        if attempt <= 1:
            return 0.0
        return float(min(self.first_delay * 2 ** (attempt - 2), self.max_delay))


def should_retry(status: int | None) -> bool:
    """Whether an attempt that ended so is tried again (None: no HTTP answer at all)."""
    if status is None:
        return True
    return not (200 <= status < 300 or status == GONE)


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    """One POST: the HTTP status, or the error that prevented one."""

    number: int
    timestamp: int
    status: int | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, object]:
        """JSON form (the mock's REST answer reports the attempts)."""
        return {
            "attempt": self.number,
            "timestamp": self.timestamp,
            "status": self.status,
            "error": self.error,
        }


@dataclass(slots=True, kw_only=True)
class Delivery:
    """The outcome of delivering one webhook: every attempt, in order."""

    url: str
    webhook_id: str
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def delivered(self) -> bool:
        """True when an attempt got a 2xx answer."""
        return any(a.status is not None and 200 <= a.status < 300 for a in self.attempts)

    def as_dict(self) -> dict[str, object]:
        """JSON form: url, webhook_id, delivered, attempts."""
        return {
            "url": self.url,
            "webhook_id": self.webhook_id,
            "delivered": self.delivered,
            "attempts": [a.as_dict() for a in self.attempts],
        }


Poster = Callable[[str, Sequence[tuple[str, str]], bytes, float], Awaitable[int]]


async def deliver(
    url: str,
    body: bytes,
    secret: str,
    *,
    policy: RetryPolicy | None = None,
    webhook_id: str | None = None,
    clock: Callable[[], float] = time.time,
    post: Poster | None = None,
) -> Delivery:
    """POST `body` to `url`, signed, until a 2xx, a 410 or the policy's last attempt.

    Each attempt is signed afresh (its own `webhook-timestamp`, the same `webhook-id`)
    and bounded by `policy.timeout`; the whole delivery by the sum of timeouts and delays.

    Raises:
        UsageError: `url` is not http(s)://, or the secret is unusable.
    """
    policy = policy or RetryPolicy()
    check_url(url)
    decode_secret(secret)  # a bad secret fails before anything is sent
    post = post or post_once
    delivery = Delivery(url=url, webhook_id=webhook_id or new_webhook_id())
    for number in range(1, policy.attempts + 1):
        delay = policy.delay_before(number)
        if delay:
            await asyncio.sleep(delay)
        timestamp = int(clock())
        headers = signed_headers(secret, delivery.webhook_id, timestamp, body)
        try:
            async with asyncio.timeout(policy.timeout):
                status: int | None = await post(url, headers, body, policy.timeout)
            error = None
        except TimeoutError:
            status, error = None, f"no answer within {policy.timeout:g} s"
        except (OSError, ValueError) as exc:
            status, error = None, f"{type(exc).__name__}: {exc}"
        delivery.attempts.append(
            Attempt(number=number, timestamp=timestamp, status=status, error=error)
        )
        if not should_retry(status):
            break
    return delivery


def check_url(url: str) -> None:
    """Raise UsageError unless `url` is http(s)://HOST[:PORT]/PATH."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        expected = "http://HOST[:PORT]/PATH or https://..."
        raise UsageError(f"webhook URL: expected {expected}, got {url!r}")


async def post_once(
    url: str,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    timeout: float,  # noqa: ASYNC109 - the caller bounds the call; kept for custom posters
) -> int:
    """One HTTP/1.1 POST (stdlib asyncio); returns the answer's status code.

    Raises:
        OSError: the connection failed.
        ValueError: the answer is not HTTP.
    """
    parts = urlsplit(url)
    https = parts.scheme == "https"
    host = parts.hostname or ""
    port = parts.port or (443 if https else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    context = ssl.create_default_context() if https else None
    reader, writer = await asyncio.open_connection(host, port, ssl=context)
    try:
        authority = host if ":" not in host else f"[{host}]"
        if parts.port:
            authority += f":{parts.port}"
        lines = [f"POST {target} HTTP/1.1", f"host: {authority}"]
        lines += [f"{name}: {value}" for name, value in headers]
        lines += [f"content-length: {len(body)}", "connection: close"]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()
        status_line = await reader.readline()
        if len(status_line) > MAX_ANSWER_HEAD or not status_line.startswith(b"HTTP/"):
            raise ValueError(f"not an HTTP answer: {status_line[:60]!r}")
        fields = status_line.split()
        if len(fields) < 2 or not fields[1].isdigit():
            raise ValueError(f"not an HTTP status line: {status_line[:60]!r}")
        return int(fields[1])
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


__all__ = [
    "Attempt",
    "Delivery",
    "RetryPolicy",
    "check_url",
    "decode_secret",
    "deliver",
    "new_webhook_id",
    "post_once",
    "should_retry",
    "sign",
    "signed_headers",
]
