"""The closed vocabulary of scenario files, read from `scenario.schema.json` (one source)."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any, Final

SCHEMA_PATH: Final = Path(__file__).with_name("scenario.schema.json")


@cache
def schema() -> dict[str, Any]:
    """The scenario JSON Schema (Draft 2020-12)."""
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return loaded


def _enum(name: str) -> tuple[str, ...]:
    return tuple(schema()["$defs"][name]["enum"])


TRIGGERS: Final = _enum("trigger")
ACTIONS: Final = _enum("action_name")
SERVER_EVENT_TYPES: Final = _enum("server_event_type")
CLIENT_EVENT_TYPES: Final = _enum("client_event_type")
CATALOG_IDS: Final = _enum("catalog_id")
EXPECTATIONS: Final = _enum("expectation")
FEATURES: Final = _enum("feature")
REALTIME_ENDPOINT: Final = "realtime"  # `endpoint:` of a scenario: /v1/realtime
TRANSLATION_ENDPOINT: Final = "translation"  # /v1/realtime/translations
# Expectations judged on the WebSocket upgrade's refusal: a WebRTC call has none. (The
# beta-header check judges calls too: a call's transcript records its `POST /calls` headers.)
UPGRADE_EXPECTATIONS: Final = frozenset({"surfaces_handshake_failure"})
# `config:` keys only the upgrade's key check reads (a call's key is checked by REST).
UPGRADE_CONFIG: Final = frozenset({"api_keys", "ephemeral_keys"})

LOOKUPS: Final = ("eq", "in", "regex", "contains", "exists")
PLACEHOLDERS: Final = (
    "session_id",
    "model",
    "active_response_id",
    "last_response_id",
    "last_item_id",
    "conversation_id",
    "client_event_id",
    "new_id",
)
# Actions after which nothing else is sent on the connection.
TERMINAL_ACTIONS: Final = frozenset({"close", "drop", "stall"})
BEFORE_SESSION_CREATED: Final = "before_session_created"
AFTER_SESSION_CREATED: Final = "after_session_created"
# Close codes a server cannot put in a close frame (RFC 6455 §7.4.1).
UNSENDABLE_CLOSE_CODES: Final = frozenset({1004, 1005, 1006, 1015})
# MockConfig fields the I/O adapter reads once for the whole listener: a scenario
# selected per connection could not change them.
LISTENER_FIELDS: Final = frozenset(
    {
        "host",
        "port",
        "path_prefix",
        "scenario",
        "record",
        "ping_interval",
        "ping_timeout",
        "compression",
        "max_message_size",
        "close_timeout",
        "send_timeout",
        "webhook_url",
        "webhook_secret",
        "webhook_timeout",
        "webhook_retries",
    }
)


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """`; did you mean 'x'?` for the closest candidate, else a short list of what is allowed."""
    options = sorted(set(candidates))
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    shown = ", ".join(repr(o) for o in options[:12])
    more = f", … ({len(options)} in all)" if len(options) > 12 else ""
    return f"; expected one of {shown}{more}"
