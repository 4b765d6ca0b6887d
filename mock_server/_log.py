"""The logger of the mock's socket side (`mock_server.server`, as it always was).

Every record it logs, at every level, has its keys masked first (`conformance.transcript.
redact`: bearer tokens, `openai-insecure-api-key.<key>` subprotocols, `sk-…`, `ek_…`, key
query parameters and headers, plus the keys a server was configured with): websockets
logs the handshake through it at DEBUG, headers and request line included.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from typing import cast

from websockets.frames import Frame, Opcode

from conformance.transcript import redact, redact_header, redact_target

logger = logging.getLogger("mock_server.server")

_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_formatter = logging.Formatter()
_HEADER_LINES = frozenset({"< %s: %s", "> %s: %s"})
_REQUEST_LINE = "< %s %s %s"


def add_log_secrets(*secrets: str) -> None:
    """Mask these exact strings (configured keys) in everything the mock logs."""
    with _secrets_lock:
        _secrets.update(s for s in secrets if s)


class RedactKeys(logging.Filter):
    """Masks keys in a record's message and traceback before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = tuple(_secrets)
        args = record.args
        # websockets at DEBUG: the request target, one line per header, then every frame
        # (shortened in the middle: masked before, so no part of a key is left).
        if isinstance(args, tuple) and all(isinstance(a, str) for a in args):
            strings = cast("tuple[str, ...]", args)
            if record.msg in _HEADER_LINES and len(strings) == 2:
                name, value = strings
                record.args = (name, redact_header(name, value, secrets))
            elif record.msg == _REQUEST_LINE and len(strings) == 3:
                method, target, protocol = strings
                record.args = (method, redact_target(target, secrets), protocol)
        elif isinstance(args, tuple) and len(args) == 1 and isinstance(args[0], Frame):
            record.args = (_masked_frame(args[0], secrets),)
        try:
            message = record.getMessage()
        except Exception:  # a broken format: logging reports it itself later
            return True
        masked = redact(message, secrets)
        if masked != message:
            record.msg, record.args = masked, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(_formatter.formatException(record.exc_info), secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, secrets)
        return True


def _masked_frame(frame: Frame, secrets: tuple[str, ...]) -> Frame:
    if frame.opcode is not Opcode.TEXT:
        return frame
    text = bytes(frame.data).decode(errors="replace")
    masked = redact(text, secrets)
    return frame if masked == text else dataclasses.replace(frame, data=masked.encode())


logger.addFilter(RedactKeys())
