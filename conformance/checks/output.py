"""Checks on what the client tells its user: errors and closes surfaced, no keys printed.

These need the client's `RunOutcome` (stdout, stderr, exit status): `check` on bare
transcripts skips them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, Final

from conformance.transcript import Transcript

from ._helpers import (
    answerable,
    closed_on_request,
    describe_end,
    mentions,
    server_end,
    server_events,
    short,
)
from ._model import CheckContext, RunOutcome, Severity, Violation
from ._registry import Scope, check

_KEY_LIKE: Final = re.compile(r"(?<![A-Za-z0-9_-])(sk-|ek_)[A-Za-z0-9_-]{8,}")


def _surfaced(outcome: RunOutcome, *tokens: Any) -> bool:
    return outcome.failed or any(mentions(outcome.output, t) for t in tokens)


def _what(code: object, message: object, noun: str, kind: object = None) -> str:
    """`the error code 'x' or its message` — naming only what the server sent."""
    named = [
        f"the {noun} code {code!r}" if code else "",
        f"the {noun} type {kind!r}" if kind and not code else "",
        f"its message {short(message, 60)}" if message else "",
    ]
    found = [part for part in named if part]
    if not found:
        return f"a report of the {noun} (it has no code or message)"
    return " or ".join(found)


def _error_of(event: Mapping[str, Any], *keys: str) -> Mapping[str, Any]:
    value: Any = event
    for key in keys:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value if isinstance(value, Mapping) else {}


@check(severity=Severity.FAILED, applies_to=Scope.RUN)
def surfaces_error_event(ctx: CheckContext, transcript: Transcript) -> Iterator[Violation]:
    """Each server error event reaches the user (code or message printed, or exit != 0)."""
    assert ctx.outcome is not None  # Scope.RUN guarantees it
    for connection, each in ctx.connections():
        for record, event in server_events(each, "error"):
            if not answerable(ctx, connection, record):
                continue
            error = _error_of(event, "error")
            code, message = error.get("code"), error.get("message")
            if not _surfaced(ctx.outcome, code, message):
                yield ctx.violation(
                    title="error event not surfaced",
                    expected=f"{_what(code, message, 'error')} in the output, "
                    "or a non-zero exit status",
                    received=f"exit status {ctx.outcome.exit_code} and neither in the output",
                    record=record,
                    connection=connection,
                    json_path="error",
                    hint="log every error event (code, message, event_id) at warning level",
                )


@check(severity=Severity.FAILED, applies_to=Scope.RUN)
def surfaces_failed_response(ctx: CheckContext, transcript: Transcript) -> Iterator[Violation]:
    """A response.done with status failed reaches the user (its error code or message)."""
    assert ctx.outcome is not None
    for connection, each in ctx.connections():
        for record, event in server_events(each, "response.done"):
            response = _error_of(event, "response")
            if response.get("status") != "failed" or not answerable(ctx, connection, record):
                continue
            error = _error_of(response, "status_details", "error")
            code, message = error.get("code"), error.get("message")
            if not _surfaced(ctx.outcome, code, message, error.get("type")):
                yield ctx.violation(
                    title="failed response not surfaced",
                    expected=f"{_what(code, message, 'failure', error.get('type'))} "
                    "in the output, or a non-zero exit status",
                    received=f"exit status {ctx.outcome.exit_code} and a silent empty answer",
                    record=record,
                    connection=connection,
                    json_path="response.status_details.error",
                    hint="check response.done's status; report status_details.error",
                )


@check(severity=Severity.FAILED, applies_to=Scope.RUN, closing=True)
def surfaces_close_code_and_reason(
    ctx: CheckContext, transcript: Transcript
) -> Iterator[Violation]:
    """A close by the server reaches the user (close code or reason printed, or exit != 0)."""
    assert ctx.outcome is not None
    for connection, each in ctx.connections():
        end = server_end(each)
        if end is None or not answerable(ctx, connection, end) or closed_on_request(each, end):
            continue  # (a translation session's close 1000 after session.closed is its end)
        code = 1006 if end.kind == "drop" else end.code
        if not _surfaced(ctx.outcome, code, end.reason):
            yield ctx.violation(
                title="close not surfaced",
                expected=f"close code {code} or reason {end.reason or ''!r} in the output, "
                "or a non-zero exit status",
                received=f"{describe_end(end)}, exit status {ctx.outcome.exit_code}, "
                "nothing in the output",
                record=end,
                connection=connection,
                hint="report the close code and reason; 3000/4000 reasons name the cause",
            )


@check(severity=Severity.FAILED, applies_to=Scope.RUN)
def does_not_print_api_key(ctx: CheckContext, transcript: Transcript) -> Iterator[Violation]:
    """The client's output contains no API key or client secret (exact or key-shaped)."""
    assert ctx.outcome is not None
    secrets = [s for s in ctx.outcome.secrets if len(s) >= 4]
    for stream in ("stdout", "stderr"):
        text: str = getattr(ctx.outcome, stream)
        for number, line in enumerate(text.splitlines(), 1):
            if any(s in line for s in secrets) or _KEY_LIKE.search(line):
                yield ctx.violation(
                    title="API key printed",
                    expected="no key in the output (mask it: sk-…abcd)",
                    received=f"{stream} line {number}: {short(_masked(line, secrets))}",
                    json_path=stream,
                    hint="never log headers, URLs with keys, or config objects verbatim",
                )


def _masked(line: str, secrets: list[str]) -> str:
    for secret in secrets:
        line = line.replace(secret, "[KEY]")
    return _KEY_LIKE.sub(lambda m: m.group(1) + "[KEY]", line)
