"""Long sessions: screenshots delivered over time to a client that stays connected.

A heads-up display keeps one session open and sends a new screenshot whenever the screen
changes, sometimes while the note about the previous one is still streaming. The
long-session cases (opt-in: `run --long-session`) play that through a small contract
(docs/runner.md, "Long sessions"):

* each new screenshot's absolute path is written as one line to the client's stdin, and
  the file appears (written atomically) in `$REALTIME_SCREENSHOT_DIR`;
* `$REALTIME_SCREENSHOT_COUNT` says how many come; stdin closes after the last;
* the next screenshot comes after the previous note's `response.done` (`after_note`),
  or as soon as the reply about the previous one sent its first delta (`first_delta`:
  the stale-note race);
* the client notes each one, never sends `response.create` while a reply is active
  (`tracks_response_lifecycle`), and exits 0 after the last note.

`deliver_screenshots` is the runner's side, watching the mock's live transcripts;
`keeps_one_session` and `notes_every_screenshot` judge the client afterwards.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal

from conformance.checks import CheckContext, Registry, Scope, Severity, Violation, check
from conformance.transcript import Record, Transcript

from .mock import MockHandle

POLL_S: Final = 0.005  # how often the runner looks at the mock's live transcripts
SCREENSHOTS_KEY: Final = "long_session_screenshots"  # in the case's `expect` when judged

Timing = Literal["after_note", "first_delta"]


@dataclass(frozen=True, slots=True, kw_only=True)
class LongSession:
    """How a long-session case delivers screenshots: `count` of them, at `timing`."""

    count: int = 3
    timing: Timing = "after_note"


# The built-in long-session cases (their scenarios are fixtures/scenarios/long-session*.yaml).
LONG_SESSION_CASES: Final[Mapping[str, LongSession]] = MappingProxyType(
    {
        "long-session": LongSession(count=3, timing="after_note"),
        "long-session-stale-note": LongSession(count=3, timing="first_delta"),
    }
)

Write = Callable[[str], Awaitable[None]]


async def deliver_screenshots(
    plan: LongSession,
    sources: Sequence[Path],
    folder: Path,
    server: MockHandle,
    write_line: Write,
    close_input: Callable[[], None],
) -> int:
    """Deliver `plan.count` screenshots (cycling through `sources`); returns how many went.

    The first path (`sources[0]`, which is `$REALTIME_SCREENSHOT`) goes to stdin at once,
    and its copy into `folder` once the client has a session (a client that watches the
    folder lists it before connecting); each later one when the mock's transcripts show
    the awaited progress since the previous delivery. Cancelled when the client exits.
    """
    watch = _Progress(server)
    delivered = 0
    for number in range(1, plan.count + 1):
        source = sources[(number - 1) % len(sources)]
        target = folder / f"screenshot-{number}{source.suffix.lower() or '.png'}"
        if number == 1:  # the file exists already: $REALTIME_SCREENSHOT
            await write_line(str(source))
            await watch.wait(lambda event: event.get("type") == "session.created")
            await asyncio.to_thread(_write_atomically, source, target)
        else:
            await asyncio.to_thread(_write_atomically, source, target)
            await write_line(str(target))
        delivered = number
        if number < plan.count:
            await watch.wait(_ready(plan.timing))
    close_input()
    return delivered


def _write_atomically(source: Path, target: Path) -> None:
    temporary = target.with_name(f".{target.name}.part")
    shutil.copyfile(source, temporary)
    os.replace(temporary, target)


def _ready(timing: Timing) -> Callable[[Mapping[str, Any]], bool]:
    """The predicate over server events (since the last delivery) that lets the next go."""
    if timing == "after_note":
        return lambda event: event.get("type") in {"response.done", "error"}
    created = False

    def first_delta(event: Mapping[str, Any]) -> bool:
        nonlocal created
        kind = str(event.get("type"))
        created = created or kind == "response.created"
        return kind == "error" or (created and kind.startswith("response.") and _delta(kind))

    return first_delta


def _delta(kind: str) -> bool:
    return kind.endswith(".delta") and "function_call" not in kind


class _Progress:
    """The server events the mock sent, every connection, each looked at once in order."""

    def __init__(self, server: MockHandle) -> None:
        self._server = server
        self._seen: dict[int, int] = {}
        self._pending: deque[Mapping[str, Any]] = deque()

    def _collect(self) -> None:
        for transcript in list(self._server.transcripts):
            records = transcript.records
            start = self._seen.get(id(transcript), 0)
            self._seen[id(transcript)] = len(records)
            for record in records[start:]:
                event = record.event if _server_text(record) else None
                if event is not None:
                    self._pending.append(event)

    async def wait(self, ready: Callable[[Mapping[str, Any]], bool]) -> None:
        """Until the next events (from where the last wait stopped) satisfy `ready`.

        No bound of its own: the client's time limit cancels it.
        """
        while True:
            self._collect()
            while self._pending:
                if ready(self._pending.popleft()):
                    return
            await asyncio.sleep(POLL_S)


def _server_text(record: Record) -> bool:
    return record.direction == "server" and record.kind == "text"


# ------------------------------------------------------------------------------ checks
def register(registry: Registry) -> None:
    """Add the long-session checks to `registry` (not in `default`: expectations select them)."""
    for function in (keeps_one_session, notes_every_screenshot):
        check(severity=Severity.FAILED, applies_to=Scope.CASE, default=False, registry=registry)(
            function
        )


def keeps_one_session(ctx: CheckContext, transcript: Transcript) -> Iterator[Violation]:
    """A long-session client sends every screenshot as an `input_image`, all in one connection."""
    wanted = ctx.expect.get(SCREENSHOTS_KEY)
    if not isinstance(wanted, int) or not ctx.transcripts:
        return
    per_connection = [(n, _image_records(t)) for n, t in ctx.connections()]
    used = [(n, images) for n, images in per_connection if images]
    if len(used) > 1:
        n, images = used[1]
        yield ctx.violation(
            title="a new connection for a later screenshot",
            expected=f"all {wanted} screenshots in one connection",
            received=f"screenshots in {len(used)} connections "
            f"({', '.join(str(len(i)) for _, i in used)} images)",
            record=images[0],
            connection=n,
            hint="keep the session open and add each new screenshot to it (a reconnect costs "
            "a handshake and loses the conversation)",
        )
        return
    sent = len(used[0][1]) if used else 0
    if sent < wanted:
        yield ctx.violation(
            title="screenshots not sent",
            expected=f"{wanted} input_image items, one per screenshot the runner delivers "
            "(a line on stdin each, until it closes)",
            received=f"{sent} input_image item(s)",
            connection=used[0][0] if used else len(ctx.transcripts) - 1,
            hint="read a screenshot path per line from stdin (or watch "
            "$REALTIME_SCREENSHOT_DIR) until it closes, and send each one",
        )


def notes_every_screenshot(ctx: CheckContext, transcript: Transcript) -> Iterator[Violation]:
    """Each screenshot gets a note: a response created after it, completed or cancelled."""
    wanted = ctx.expect.get(SCREENSHOTS_KEY)
    if not isinstance(wanted, int):
        return
    for n, conn in ctx.connections():
        images = _image_records(conn)
        statuses = _response_statuses(conn)
        for number, image in enumerate(images, 1):
            nxt = images[number].index if number < len(images) else len(conn.records)
            covering = [s for index, s in statuses if image.index < index < nxt]
            last = number == len(images)
            good = {"completed"} if last else {"completed", "cancelled"}
            if any(status in good for status in covering):
                continue
            found = ", ".join(str(s) for s in covering) or "no response.create before the next"
            yield ctx.violation(
                title=f"screenshot {number} got no note",
                expected="a response after the screenshot's item that completes (or that the "
                "client cancels because a newer screenshot came)"
                + ("; the last one completes" if last else ""),
                received=found,
                record=image,
                connection=n,
                hint="after each screenshot send response.create once no reply is active: "
                "cancel the stale reply (response.cancel) or wait for its response.done",
            )


def _image_records(transcript: Transcript) -> list[Record]:
    """The client's `conversation.item.create` frames that carry an `input_image`."""
    found = []
    for record in transcript.client_events():
        event = record.event
        if event is None or event.get("type") != "conversation.item.create":
            continue
        item = event.get("item")
        content = item.get("content") if isinstance(item, Mapping) else None
        if isinstance(content, list) and any(
            isinstance(p, Mapping) and p.get("type") == "input_image" for p in content
        ):
            found.append(record)
    return found


def _response_statuses(transcript: Transcript) -> list[tuple[int, object]]:
    """`(index of response.created, final status)` of each response in the default conversation."""
    created: dict[object, int] = {}
    result: list[tuple[int, object]] = []
    for record in transcript.server_events():
        event = record.event or {}
        body = event.get("response")
        if not isinstance(body, Mapping) or body.get("conversation_id") is None:
            continue  # out-of-band (conversation: none) replies are not notes
        if event.get("type") == "response.created":
            created[body.get("id")] = record.index
        elif event.get("type") == "response.done" and body.get("id") in created:
            result.append((created.pop(body.get("id")), body.get("status")))
    result.extend((index, "never finished") for index in created.values())
    return sorted(result, key=lambda pair: pair[0])
