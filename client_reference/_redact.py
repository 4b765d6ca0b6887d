"""Keep API keys out of messages and logs (websockets logs request headers at DEBUG).

The masking is `conformance.transcript.redact` (one implementation for every key shape:
`sk-…`, `ek_…`, bearer tokens, key subprotocols, `api-key:` values, keys in escaped
JSON), with `***` in place of a key.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from conformance.transcript import redact as _redact

_MASK = "***"


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Return `text` with every secret and anything key-shaped replaced by `***`."""
    return _redact(text, [s for s in secrets if s], replacement=_MASK)


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
