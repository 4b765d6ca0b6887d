"""Display helpers shared by the reports: shortened values, violation dicts, safe text."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final

from conformance.checks import Violation
from conformance.transcript import redact

LONG_STRING: Final = 160  # longer strings (base64 audio, data URLs) are cut for display
KEEP: Final = 48
OUTPUT_TAIL: Final = 4000  # characters of stdout/stderr kept in reports
# Characters XML 1.0 cannot hold at all (JUnit files must parse).
_XML_INVALID: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def shorten(value: Any, limit: int = LONG_STRING) -> Any:
    """`value` with every string longer than `limit` cut to a prefix and its length."""
    if isinstance(value, str):
        if len(value) <= limit:
            return value
        return f"{value[:KEEP]}… [{len(value):,} chars]"
    if isinstance(value, dict):
        return {k: shorten(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [shorten(v, limit) for v in value]
    return value


def shorten_text(text: str, limit: int = 2000) -> str:
    """A raw frame or output cut to `limit` characters (the end is what matters less)."""
    return text if len(text) <= limit else f"{text[:limit]}… [{len(text):,} chars]"


def tail(text: str, secrets: Iterable[str] = (), limit: int = OUTPUT_TAIL) -> str:
    """The last `limit` characters of `text`, redacted (keys and `secrets` masked)."""
    text = redact(text, secrets)
    return text if len(text) <= limit else f"[… {len(text) - limit:,} chars]\n{text[-limit:]}"


def xml_safe(text: str) -> str:
    """`text` without the control characters XML 1.0 forbids."""
    return _XML_INVALID.sub("\ufffd", text)


def violation_dict(violation: Violation) -> dict[str, Any]:
    """The JSON form of a violation (every field, severity as its string)."""
    return {
        "check": violation.check,
        "title": violation.title,
        "severity": str(violation.severity),
        "message": violation.message,
        "expected": violation.expected,
        "received": violation.received,
        "connection": violation.connection,
        "index": violation.index,
        "direction": violation.direction,
        "event_type": violation.event_type,
        "json_path": violation.json_path,
        "hint": violation.hint,
        "occurrences": violation.occurrences,
    }
