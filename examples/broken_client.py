"""A deliberately broken Realtime client: the mistakes `realtime-conformance` exists to catch.

    realtime-conformance run --client "python examples/broken_client.py"

It reads the runner's environment contract (docs/runner.md): `OPENAI_REALTIME_URL` (else
`OPENAI_BASE_URL`), `OPENAI_API_KEY`, `REALTIME_MODEL`, `REALTIME_SCREENSHOT` and
`REALTIME_PROMPT_TEXT` (else the file `REALTIME_PROMPT`), and sends one screenshot for
notes, like a heads-up display would. It talks raw `websockets`, with these faults:

    beta-header     sends `OpenAI-Beta: realtime=v1` (retired: close 4000)
    early-event     sends session.update before session.created arrives
    beta-session    session.update in the beta shape (`modalities`, top-level `voice`)
    image-field     the screenshot as `{"type": "input_image", "image": "<base64>"}`
    image-as-text   the screenshot's base64 as an `input_text` part
    swallow-errors  ignores `error` events and close codes, and exits 0; after a
                    swallowed failure with the beta header it quietly retries once
                    without it (the "fall back to GA" hack)
    double-response a second response.create before the first response.done
    print-key       prints the API key in a debug line
    unknown-event   dispatches on an exact table of event types and crashes on any
                    other (a new server event type, as `realtime-conformance fuzz` sends)
    strip-deltas    prints each text delta stripped of spaces (the reply is garbled
                    whenever the server splits it next to a space)
    beta-event-names  listens for the beta `response.text.delta` only (GA renamed it
                    `response.output_text.delta`): prints nothing and exits 0

`BROKEN_CLIENT_BUG` picks them: unset or `all` = beta-header, early-event, beta-session,
image-field and swallow-errors (the demo's broken client); a name or a comma list = only
those, the rest of the flow being correct GA (one planted bug, for fuzzing the checks);
`none` = a correct client: it sends every event with an `event_id`, fails on an `error`
about one of them (or a failed response, or a close), reports any other error as a
warning and goes on, and applies a server event repeated with the same `event_id` once.
Unknown names exit with status 2. `unknown-event` and `strip-deltas` only show on some
server streams: `realtime-conformance fuzz` finds them.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

BUGS = (
    "beta-header",
    "early-event",
    "beta-session",
    "image-field",
    "image-as-text",
    "swallow-errors",
    "double-response",
    "print-key",
    "unknown-event",
    "strip-deltas",
    "beta-event-names",
)
DEFAULT_BUGS = frozenset(
    {"beta-header", "early-event", "beta-session", "image-field", "swallow-errors"}
)
# The server event types this client was written against (with `unknown-event` it has a
# handler for these only, and a new type raises KeyError like an exact-match dispatch).
HANDLED_EVENTS = frozenset(
    {
        "error",
        "session.created",
        "session.updated",
        "rate_limits.updated",
        *(f"conversation.item.{name}" for name in ("added", "done", "deleted", "retrieved")),
        *(f"input_audio_buffer.{name}" for name in ("committed", "cleared")),
        *(f"response.{name}" for name in ("created", "done", "output_item.added")),
        *(f"response.{name}" for name in ("output_item.done", "content_part.added")),
        *(f"response.{name}" for name in ("content_part.done", "output_text.delta")),
        *(f"response.{name}" for name in ("output_text.done", "output_audio_transcript.delta")),
        *(f"response.{name}" for name in ("output_audio_transcript.done", "output_audio.delta")),
        "response.output_audio.done",
    }
)
READ_TIMEOUT_S = 10.0
SWALLOWED = -1  # a failure this client hides: it exits 0


def chosen_bugs(value: str | None) -> frozenset[str]:
    """The bugs named by `BROKEN_CLIENT_BUG` (see the module docstring)."""
    if value is None or value.strip() in ("", "all"):
        return DEFAULT_BUGS
    names = {part.strip() for part in value.split(",") if part.strip()}
    if names == {"none"}:
        return frozenset()
    unknown = sorted(names - set(BUGS))
    if unknown:
        print(f"broken_client: unknown BROKEN_CLIENT_BUG {unknown}; known: {BUGS}", file=sys.stderr)
        raise SystemExit(2)
    return frozenset(names)


def realtime_url() -> str:
    """The WebSocket URL with `?model=`, from the environment."""
    url = os.environ.get("OPENAI_REALTIME_URL")
    if not url:
        base = os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1").rstrip("/")
        url = base.replace("https://", "wss://").replace("http://", "ws://") + "/realtime"
    model = os.environ.get("REALTIME_MODEL", "gpt-realtime")
    return f"{url}{'&' if '?' in url else '?'}model={model}"


def prompt_text() -> str:
    """The prompt: `REALTIME_PROMPT_TEXT`, else the file `REALTIME_PROMPT`."""
    text = os.environ.get("REALTIME_PROMPT_TEXT")
    if text:
        return text
    path = os.environ.get("REALTIME_PROMPT")
    return Path(path).read_text() if path else "Describe the screenshot."


def session_update(bugs: frozenset[str]) -> dict[str, Any]:
    """The session.update this client sends (beta-shaped with `beta-session`)."""
    if "beta-session" in bugs:
        return {
            "type": "session.update",
            "session": {"modalities": ["text"], "voice": "alloy", "instructions": prompt_text()},
        }
    return {
        "type": "session.update",
        "session": {"type": "realtime", "output_modalities": ["text"]},
    }


def image_part(png: bytes, bugs: frozenset[str]) -> dict[str, Any]:
    """The screenshot as a content part (wrong field with `image-field` / `image-as-text`)."""
    data = base64.b64encode(png).decode("ascii")
    if "image-field" in bugs:
        return {"type": "input_image", "image": data}
    if "image-as-text" in bugs:
        return {"type": "input_text", "text": data}
    return {"type": "input_image", "image_url": f"data:image/png;base64,{data}"}


def screenshot_item(bugs: frozenset[str]) -> dict[str, Any]:
    """conversation.item.create holding the prompt and the screenshot."""
    png = Path(os.environ["REALTIME_SCREENSHOT"]).read_bytes()
    content = [{"type": "input_text", "text": prompt_text()}, image_part(png, bugs)]
    item = {"type": "message", "role": "user", "content": content}
    return {"type": "conversation.item.create", "item": item}


class Failed(Exception):
    """The server reported a problem (a correct client exits non-zero with it)."""


@dataclass
class Link:
    """One connection: the socket, the planted bugs, the event ids sent and received."""

    ws: ClientConnection
    bugs: frozenset[str]
    sent: set[str] = field(default_factory=set)
    seen: set[str] = field(default_factory=set)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def send(self, event: dict[str, Any]) -> None:
        """Send `event` with an `event_id`, so an `error` about it can be recognised."""
        event_id = f"evt_client_{next(self.ids)}"
        self.sent.add(event_id)
        await self.ws.send(json.dumps({**event, "event_id": event_id}))


async def next_event(link: Link) -> dict[str, Any]:
    """The next server event (a repeated `event_id` is skipped).

    An `error` about one of this client's events (`error.event_id`) raises `Failed`: the
    request it waits for failed. Any other error is recoverable: it is reported and the
    session goes on. With `swallow-errors`, errors are ignored altogether.
    """
    while True:
        raw = await asyncio.wait_for(link.ws.recv(), READ_TIMEOUT_S)
        event: dict[str, Any] = json.loads(raw)
        event_id = event.get("event_id")
        if isinstance(event_id, str):
            if event_id in link.seen:
                continue  # delivered twice: apply it once
            link.seen.add(event_id)
        if event.get("type") != "error":
            return event
        if "swallow-errors" in link.bugs:
            continue
        error = event.get("error") or {}
        report = f"error {error.get('code')}: {error.get('message')}"
        if str(error.get("event_id")) in link.sent:
            raise Failed(report)
        print(f"warning: {report}", file=sys.stderr, flush=True)


def text_delta_event(bugs: frozenset[str]) -> str:
    """The event type this client prints text deltas from (the beta name with the bug)."""
    return "response.text.delta" if "beta-event-names" in bugs else "response.output_text.delta"


async def wait_for(link: Link, *types: str) -> dict[str, Any]:
    """Read events (printing text deltas) until one of `types` arrives."""
    bugs = link.bugs
    while True:
        event = await next_event(link)
        if "unknown-event" in bugs and event.get("type") not in HANDLED_EVENTS:
            raise KeyError(f"no handler for server event {event.get('type')!r}")
        if event.get("type") == text_delta_event(bugs):
            delta = str(event.get("delta", ""))
            print(delta.strip() if "strip-deltas" in bugs else delta, end="", flush=True)
        if event.get("type") in types:
            return event


async def converse(link: Link) -> None:
    """The flow: configure, send the screenshot, stream one (or two) responses."""
    bugs = link.bugs
    if "early-event" in bugs:
        await link.send(session_update(bugs))
        await wait_for(link, "session.created")
    else:
        await wait_for(link, "session.created")
        await link.send(session_update(bugs))
    if "swallow-errors" not in bugs:
        await wait_for(link, "session.updated")
    await link.send(screenshot_item(bugs))
    await link.send({"type": "response.create"})
    if "double-response" in bugs:
        await link.send({"type": "response.create"})
    done = await wait_for(link, "response.done")
    print(flush=True)
    status = (done.get("response") or {}).get("status")
    if status != "completed" and "swallow-errors" not in bugs:
        raise Failed(f"response {status}")


async def attempt(bugs: frozenset[str], *, beta: bool) -> int:
    """One connection: connect, converse, report; returns the exit status."""
    key = os.environ.get("OPENAI_API_KEY", "")
    headers = {"Authorization": f"Bearer {key}"}
    if beta:
        headers["OpenAI-Beta"] = "realtime=v1"
    try:
        # max_queue=None: unread events must not delay the closing handshake on an error.
        async with connect(realtime_url(), additional_headers=headers, max_queue=None) as ws:
            await converse(Link(ws, bugs))
    except Failed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except ConnectionClosed as exc:
        if "swallow-errors" in bugs:
            return SWALLOWED  # the fault: a closed connection looks like success
        print(f"error: connection closed {exc.rcvd}", file=sys.stderr)
        return 1
    except (OSError, TimeoutError) as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return SWALLOWED if "swallow-errors" in bugs else 1
    return 0


async def main_async(bugs: frozenset[str]) -> int:
    """Run the flow once; a swallowed failure of a beta connect is retried once without it."""
    if "print-key" in bugs:
        print(f"debug: using key {os.environ.get('OPENAI_API_KEY', '')}", file=sys.stderr)
    status = await attempt(bugs, beta="beta-header" in bugs)
    if status == SWALLOWED and "beta-header" in bugs:
        status = await attempt(bugs, beta=False)  # the quiet "fall back to GA" hack
    return 0 if status == SWALLOWED else status


def main() -> int:
    """Entry point: pick the bugs from `BROKEN_CLIENT_BUG` and run once."""
    return asyncio.run(main_async(chosen_bugs(os.environ.get("BROKEN_CLIENT_BUG"))))


if __name__ == "__main__":
    sys.exit(main())
