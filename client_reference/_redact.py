"""Keep API keys out of messages and logs (websockets logs request headers at DEBUG)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

_MASK = "***"
# Bearer tokens, the browser-style key subprotocol, and anything shaped like an OpenAI
# standard (`sk-…`) or ephemeral (`ek_…`) key.
_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[^\s,;\"']{8,}"),  # 8+: keep prose like "bearer or basic"
    re.compile(r"(?i)(openai-insecure-api-key\.)[^\s,;\"']+"),
    re.compile(r"()\b(?:sk|ek)[-_][A-Za-z0-9_-]{6,}"),
)


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Return `text` with every secret and anything key-shaped replaced by `***`."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, _MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda match: match.group(1) + _MASK, text)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that redacts keys from each record's final message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def websocket_logger() -> logging.Logger:
    """The logger handed to websockets: a child of ours, with the redacting filter."""
    logger = logging.getLogger("client_reference.websocket")
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())
    return logger
