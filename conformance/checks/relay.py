"""Checks of a relay: a server that holds the key and forwards frames between a client
(downstream) and the Realtime API (upstream).

A relay case has two legs. The **upstream** leg (the relay's connections to the mock) is
judged with every client check, like any client. The **downstream** leg (the client's
connections to the relay, recorded by the runner's tap) is judged with these checks,
comparing it with upstream (the n-th downstream connection is paired with the n-th
upstream one)::

    ctx = RelayContext(transcripts=upstream, downstream=(DownstreamLeg(transcript=t),),
                       relay=RelayRun(key=relay_key), outcome=client_outcome)
    run_checks(ctx, ["relay"])

* `relay_forwards_errors`: every upstream `error` the relay owed the client reaches it;
* `relay_forwards_close`: upstream's close reaches the client with the same code and
  reason; a dropped or refused upstream ends the client's connection too (no silence);
* `relay_does_not_leak_key`: the relay's key is in no downstream frame, close reason or
  upgrade header, nor in the client's or the relay's output;
* `relay_does_not_add_beta_header`: upstream carries no `OpenAI-Beta: realtime=v1` (or
  beta subprotocol) the client did not send;
* `relay_keeps_running`: the relay process does not exit while the case runs.

What the relay **owed** the client does not depend on timing where the order of frames
can tell (docs/relay.md, "What a relay is answerable for"): an upstream frame is owed
when it came before the relay's own close upstream, and the client had not ended its
connection first: the client never ended it, or the relay forwarded a later upstream
event (relays forward in order), or the client ended it at least `answer_grace_s` after
the frame reached the relay.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from conformance.transcript import Record, Transcript

from ._helpers import client_end, describe_end, server_end, short, started_at_s
from ._model import CheckContext, Severity, Violation
from ._registry import CHECKS, Scope, check
from .handshake import BETA_HEADER_TOKEN, BETA_SUBPROTOCOL

UPSTREAM: Final = "upstream"
DOWNSTREAM: Final = "downstream"
# A close code an endpoint cannot send (it only describes what was received).
_UNSENDABLE: Final = frozenset({1005, 1006, 1015})


@dataclass(frozen=True, slots=True, kw_only=True)
class DownstreamLeg:
    """One client connection to the relay, as the runner's tap recorded it.

    `transcript`: `client` frames are the client's, `server` frames the relay's.
    `response_headers` are the relay's answer to the upgrade, as it sent them (the
    transcript's `meta` holds them masked).
    """

    transcript: Transcript
    response_headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class RelayRun:
    """The relay process of one case: its key (never shown), output and how it ended.

    `exited_early` says it exited on its own while the case ran (`exit_code` then holds
    its status); a relay the runner stopped at the end of the case did not.
    """

    key: str = field(repr=False)
    command: str = ""
    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = None
    exited_early: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class RelayContext(CheckContext):
    """A `CheckContext` whose `transcripts` are the upstream leg, plus the downstream
    leg and the relay process (the relay checks judge nothing without them)."""

    downstream: tuple[DownstreamLeg, ...] = ()
    relay: RelayRun | None = None


def _relay_ctx(ctx: CheckContext) -> RelayContext | None:
    return ctx if isinstance(ctx, RelayContext) and ctx.relay is not None else None


def _down_index(ctx: RelayContext, number: int) -> int:
    """A downstream connection's position in the case's transcripts (after upstream's)."""
    return len(ctx.transcripts) + number


# --- what the relay owed the client ----------------------------------------------------


def _signature(event: dict[str, Any] | None) -> str | None:
    """What identifies a forwarded event: its `event_id` (relays pass events through)."""
    value = event.get("event_id") if event is not None else None
    return value if isinstance(value, str) and value else None


def _at_s(transcript: Transcript, record: Record) -> float | None:
    start = started_at_s(transcript)
    return None if start is None else start + record.t_ms / 1000


def _relay_frames(down: Transcript) -> list[Record]:
    """The relay's text frames to the client, before the client ended the connection."""
    end = client_end(down)
    stop = end.index if end is not None else len(down.records)
    return [r for r in down.records[:stop] if r.direction == "server" and r.kind == "text"]


def _last_forwarded(up: Transcript, down: Transcript) -> int:
    """The index of the last upstream server event seen downstream (-1: none)."""
    seen = {_signature(r.event) for r in _relay_frames(down)} - {None}
    last = -1
    for record in up.server_events():
        if _signature(record.event) in seen:
            last = record.index
    return last


def owed(ctx: CheckContext, up: Transcript, down: Transcript, record: Record) -> bool:
    """True when the relay demonstrably had the chance to pass upstream `record` on.

    Never when it came after the relay's own close (or drop) upstream. Otherwise yes when
    the client never ended its downstream connection itself, or when the relay forwarded
    a later upstream event (relays forward in order), or when the client ended it at
    least `answer_grace_s` after `record` reached the relay.
    """
    relay_end = client_end(up)
    if relay_end is not None and record.index >= relay_end.index:
        return False
    client_gone = client_end(down)
    if client_gone is None:
        return True
    if _last_forwarded(up, down) > record.index:
        return True
    came, gone = _at_s(up, record), _at_s(down, client_gone)
    if came is None or gone is None:
        return True
    return gone - came >= ctx.settings.answer_grace_s


def pairs(ctx: RelayContext) -> Iterator[tuple[int, Transcript, int, Transcript]]:
    """`(upstream index, upstream, downstream number, downstream)`, paired in order."""
    for number, (up, leg) in enumerate(zip(ctx.transcripts, ctx.downstream, strict=False)):
        yield number, up, number, leg.transcript


# --- the checks --------------------------------------------------------------------------


def _error_key(event: dict[str, Any] | None) -> tuple[object, ...]:
    body = event.get("error") if event is not None else None
    body = body if isinstance(body, dict) else {}
    return (body.get("type"), body.get("code"), body.get("message"))


@check(severity=Severity.FAILED, applies_to=Scope.CASE, default=False)
def relay_forwards_errors(ctx: CheckContext, transcript: Transcript) -> Iterator[Violation]:
    """Every upstream `error` event the relay owed the client reaches the client."""
    relay = _relay_ctx(ctx)
    if relay is None:
        return
    for up_index, up, number, down in pairs(relay):
        forwarded = Counter(
            _error_key(r.event) for r in down.records if r.direction == "server" and
            r.kind == "text" and r.event_type == "error"
        )  # fmt: skip
        for record in up.server_events():
            if record.event_type != "error":
                continue
            key = _error_key(record.event)
            if forwarded[key] > 0:
                forwarded[key] -= 1
                continue
            if not owed(ctx, up, down, record):
                continue
            yield ctx.violation(
                title="upstream error not forwarded",
                expected=f"the error {short(key[1] or key[0])} passed on to the client "
                f"(downstream connection {number})",
                received=f"upstream sent {short(key[2])}; the client never got it",
                record=record,
                connection=up_index,
                hint="forward every upstream frame, error events included: the client "
                "must show why its request failed (a relay that drops them leaves it "
                "waiting, or shows nothing)",
            )


@check(severity=Severity.FAILED, applies_to=Scope.CASE, closing=True, default=False)
def relay_forwards_close(ctx: CheckContext, transcript: Transcript) -> Iterator[Violation]:
    """Upstream's close reaches the client with its code and reason; a drop is not silence."""
    relay = _relay_ctx(ctx)
    if relay is None:
        return
    for up_index, up, number, down in pairs(relay):
        end = server_end(up)
        if end is None or not owed(ctx, up, down, end):
            continue
        relay_end = server_end(down)
        if end.kind == "close" and relay_end is not None:
            if _same_close(end, relay_end):
                continue
            yield ctx.violation(
                title="close code or reason changed",
                expected=f"downstream {describe_end(end)}, as upstream closed",
                received=f"downstream {describe_end(relay_end)}",
                record=end,
                connection=up_index,
                hint="close the client's connection with upstream's code and reason: "
                "the client decides from them whether to retry (4000 and 3000 are "
                "permanent, 1011 is not)",
            )
        elif relay_end is None:
            gone = client_end(down)
            how = (
                f"the client ended it itself ({describe_end(gone)}) after waiting"
                if gone is not None
                else "nothing: the connection stayed open"
            )
            yield ctx.violation(
                title="upstream close not forwarded",
                expected=f"the client's connection {number} ended after upstream's "
                f"{describe_end(end)}",
                received=f"the relay said nothing downstream; {how}",
                record=end,
                connection=up_index,
                hint="when upstream closes or drops, close the client's connection (with "
                "upstream's code and reason; 1011 and the cause for a drop): a client "
                "left on an open socket waits forever",
            )


def _same_close(up: Record, down: Record) -> bool:
    if down.kind != "close":
        return False
    code = up.code if up.code not in _UNSENDABLE else None
    down_code = down.code if down.code not in _UNSENDABLE else None
    if code is None:  # no code upstream: none, or a plain 1000, downstream
        return down_code in (None, 1000)
    return down_code == code and (down.reason or "") == (up.reason or "")


@check(severity=Severity.FAILED, applies_to=Scope.CASE, default=False)
def relay_does_not_leak_key(ctx: CheckContext, transcript: Transcript) -> Iterator[Violation]:
    """The relay's key never goes downstream (frames, close reasons, headers) nor to output."""
    relay = _relay_ctx(ctx)
    if relay is None or relay.relay is None:
        return
    key = relay.relay.key
    for number, leg in enumerate(relay.downstream):
        where = _down_index(relay, number)
        for name, value in leg.response_headers:
            if key in value:
                yield _leak(ctx, where, f"the upgrade response header {name}", None, number)
        for record in leg.transcript.records:
            if record.direction != "server":
                continue
            if key in (record.text or "") or key in (record.reason or ""):
                part = "close reason" if record.kind == "close" else "frame"
                yield _leak(ctx, where, f"a {part} to the client", record, number)
    outputs: list[tuple[str, str]] = []
    if ctx.outcome is not None:
        outputs += [("the client's stdout", ctx.outcome.stdout)]
        outputs += [("the client's stderr", ctx.outcome.stderr)]
        outputs += [("$REALTIME_NOTES_FILE", ctx.outcome.notes)]
    outputs += [("the relay's stdout", relay.relay.stdout)]
    outputs += [("the relay's stderr", relay.relay.stderr)]
    for name, text in outputs:
        if key in text:
            yield _leak(ctx, 0, name, None, None)


def _leak(
    ctx: CheckContext, connection: int, where: str, record: Record | None, number: int | None
) -> Violation:
    leg = f" (downstream connection {number})" if number is not None else ""
    return ctx.violation(
        title="relay's key leaked" if "relay's" not in where else "relay printed its key",
        expected="the relay's upstream key never leaves the relay",
        received=f"the key in {where}{leg} (masked in every report)",
        record=record,
        connection=connection,
        hint="never copy the key into frames, close reasons, headers or logs: the client "
        "(a browser) must not hold it; give it an ephemeral ek_ secret if it needs one",
    )


def _beta(transcript: Transcript) -> str | None:
    pairs_: Any = transcript.meta.get("headers") or []
    for pair in pairs_:
        named = len(pair) == 2 and str(pair[0]).lower() == "openai-beta"
        if named and any(t.strip().lower() == BETA_HEADER_TOKEN for t in str(pair[1]).split(",")):
            return f"OpenAI-Beta: {pair[1]}"
    if BETA_SUBPROTOCOL in (transcript.meta.get("subprotocols") or []):
        return f"Sec-WebSocket-Protocol: {BETA_SUBPROTOCOL}"
    return None


@check(severity=Severity.FAILED, applies_to=Scope.CASE, default=False)
def relay_does_not_add_beta_header(
    ctx: CheckContext, transcript: Transcript
) -> Iterator[Violation]:
    """The relay adds no beta header or subprotocol upstream that the client did not send."""
    relay = _relay_ctx(ctx)
    if relay is None:
        return
    for index, up in enumerate(relay.transcripts):
        added = _beta(up)
        if added is None:
            continue
        legs = relay.downstream
        if index < len(legs) and _beta(legs[index].transcript) is not None:
            continue  # the client sent it: the client checks judge that
        yield ctx.violation(
            title="relay added the beta header",
            expected="upstream headers without OpenAI-Beta: realtime=v1 (the client sent none)",
            received=added,
            connection=index,
            json_path="headers.OpenAI-Beta" if "OpenAI-Beta" in added else "subprotocols",
            hint="drop OpenAI-Beta from the relay's upstream request: the GA server answers "
            "it with an error and close 4000, so every session dies at connect",
        )


@check(severity=Severity.FAILED, applies_to=Scope.CASE, default=False)
def relay_keeps_running(ctx: CheckContext, transcript: Transcript) -> Iterator[Violation]:
    """The relay process keeps running while the case runs (one session cannot end it)."""
    relay = _relay_ctx(ctx)
    if relay is None or relay.relay is None or not relay.relay.exited_early:
        return
    run = relay.relay
    lines = [line.strip() for line in run.stderr.splitlines() if line.strip()]
    yield ctx.violation(
        title="relay exited during the case",
        expected="the relay serving until the runner stops it",
        received=f"it exited with status {run.exit_code}"
        + (f"; its stderr ends: {short(lines[-1], 200)}" if lines else ""),
        hint="catch errors per connection (an upstream error, close or drop must end that "
        "session only); see the relay's output in the case folder (relay-stderr.txt)",
    )


RELAY_CHECKS: Final = (
    "relay_forwards_errors",
    "relay_forwards_close",
    "relay_does_not_leak_key",
    "relay_does_not_add_beta_header",
    "relay_keeps_running",
)
CHECKS.alias("relay", RELAY_CHECKS)


def leg_of(check_name: str) -> str:
    """`downstream` for the relay checks, `upstream` for the client checks."""
    return DOWNSTREAM if check_name in RELAY_CHECKS else UPSTREAM


def is_relay_case(checks_run: Sequence[str]) -> bool:
    """True when the case was judged as a relay's (a relay check ran)."""
    return any(name in RELAY_CHECKS for name in checks_run)
