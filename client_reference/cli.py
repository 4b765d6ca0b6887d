"""`realtime-notes`: stream terse notes about screenshots from a GA Realtime model.

    realtime-notes shot.png                      # live API, key from OPENAI_API_KEY
    realtime-notes --url ws://127.0.0.1:8765/v1/realtime shot.png     # a mock
    realtime-notes --watch ~/Screenshots         # one session; a note per new image
    realtime-notes --stdin < paths.txt           # one session; a note per path read
    realtime-notes --webrtc shot.png             # over WebRTC (the `webrtc` extra)

Exit codes: 0 ok, 2 usage (bad arguments, missing key, unreadable or non-image file:
all reported before any connection), 3 API error (an `error` event or a failed
response), 4 connection closed or refused, 5 timeout, 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ._redact import RedactingFilter, redact
from .client import RealtimeClient
from .connection import DEFAULT_MODEL, build_url
from .endpoint import Endpoint, resolve_endpoint, transport_from_env
from .errors import (
    ConnectError,
    ConnectionClosed,
    RealtimeAPIError,
    ResponseFailed,
    Timeout,
    UsageError,
)
from .images import IMAGE_SUFFIXES, load_image
from .settings import ClientSettings, ReconnectPolicy
from .watch import Watcher
from .webrtc import AVAILABLE as WEBRTC_AVAILABLE
from .webrtc import MISSING_MESSAGE as WEBRTC_MISSING
from .webrtc import Transport

__all__ = ["DEFAULT_INSTRUCTIONS", "amain", "build_parser", "main"]

DEFAULT_INSTRUCTIONS = (
    "You are a heads-up display. Write terse notes about the screenshot: what is on "
    "screen and anything that needs attention. No preamble, at most five short lines."
)
EXIT_OK, EXIT_USAGE, EXIT_API, EXIT_CLOSED, EXIT_TIMEOUT, EXIT_INTERRUPTED = 0, 2, 3, 4, 5, 130
_HINTS = {
    3000: "the server rejected the credentials: check the key in {env}",
    4000: "the server rejected the request shape: check --model and the URL",
}
_NO_KEY_HINT = (
    "no key was sent: set {env} (a mock started without --api-keys accepts any key, "
    "e.g. {env}=sk-test)"
)
# HTTP statuses of a refused upgrade (no WebSocket, so no error event to read).
_UPGRADE_HINTS = {
    401: "the upgrade was refused: the key or client secret in {env} is invalid or expired",
    403: "the upgrade was refused: the key's project may have no Realtime access, or the "
    "URL or a proxy token is wrong",
}


class _Exit(Exception):
    """A failure the CLI reports as `error: <label>: <message>` and exits with `code`."""

    def __init__(self, code: int, label: str, message: str) -> None:
        super().__init__(message)
        self.code, self.label, self.message = code, label, message


@dataclass(frozen=True, slots=True, kw_only=True)
class _Job:
    endpoint: Endpoint
    model: str
    images: list[tuple[str, bytes]]
    watcher: Watcher | None
    watch_limit: int | None
    stdin: bool
    instructions: str
    timeout: float
    auth: str
    reconnect: int
    forget: bool
    transport: Transport


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `realtime-notes`."""
    parser = argparse.ArgumentParser(
        prog="realtime-notes",
        description="Stream terse notes about screenshots from an OpenAI Realtime model.",
    )
    parser.add_argument("images", nargs="*", metavar="IMAGE", help="PNG or JPEG files")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="default: %(default)s")
    parser.add_argument(
        "--url",
        help="Realtime WebSocket URL (default: $OPENAI_REALTIME_URL, else derived from "
        "$OPENAI_BASE_URL, else the live API)",
    )
    parser.add_argument("--watch", metavar="DIR", help="send each new image that appears in DIR")
    parser.add_argument("--watch-limit", type=int, metavar="N", help="stop after N new images")
    parser.add_argument(
        "--stdin",
        action="store_true",
        help="read image paths from stdin, one a line, until it closes: one session, a note "
        "per image; a newer image cancels the note still streaming",
    )
    parser.add_argument(
        "--poll", type=float, default=0.5, metavar="S", help="watch poll interval (%(default)s s)"
    )
    parser.add_argument("--instructions", default=DEFAULT_INSTRUCTIONS, help="session prompt")
    parser.add_argument(
        "--timeout", type=float, default=30.0, metavar="S", help="bound on every wait"
    )
    parser.add_argument(
        "--api-key-env", default="OPENAI_API_KEY", metavar="NAME", help="variable with the key"
    )
    parser.add_argument(
        "--auth", choices=("header", "subprotocol"), default="header", help="how to send the key"
    )
    parser.add_argument(
        "--reconnect", type=int, default=0, metavar="N", help="reconnect attempts (default off)"
    )
    parser.add_argument(
        "--forget", action="store_true", help="delete each screenshot after its notes"
    )
    parser.add_argument(
        "--webrtc",
        action="store_true",
        help="connect over WebRTC instead of a WebSocket: a client secret, POST "
        "/v1/realtime/calls with an SDP offer, then the oai-events data channel (also "
        "$REALTIME_TRANSPORT=webrtc; needs the webrtc extra)",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (see the module docstring)."""
    try:
        return asyncio.run(amain(argv))
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


async def amain(argv: Sequence[str] | None = None) -> int:
    """The CLI inside a running event loop (what `main` runs; handy in async tests)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse already printed the problem or the help
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    endpoint = resolve_endpoint(args.url, api_key_env=args.api_key_env)
    with _logging(args.verbose):
        try:
            await _run(_prepare(args, endpoint))
        except Exception as exc:
            return _report(exc, endpoint.api_key, args.api_key_env)
    return EXIT_OK


def _prepare(args: argparse.Namespace, endpoint: Endpoint) -> _Job:
    """Every check that needs no connection: arguments, key, URL, images, watch folder."""
    if not args.images and not args.watch and not args.stdin:
        raise _Exit(EXIT_USAGE, "usage", "give at least one IMAGE, --watch DIR or --stdin")
    if args.stdin and args.watch:
        raise _Exit(EXIT_USAGE, "usage", "--stdin and --watch exclude each other")
    for name in ("timeout", "poll"):
        if getattr(args, name) <= 0:
            raise _Exit(EXIT_USAGE, "usage", f"--{name} must be a positive number of seconds")
    if args.watch_limit is not None and args.watch_limit < 1:
        raise _Exit(EXIT_USAGE, "usage", "--watch-limit must be at least 1")
    if args.reconnect < 0:
        raise _Exit(EXIT_USAGE, "usage", "--reconnect must be 0 (off) or more")
    transport: Transport = "webrtc" if args.webrtc else transport_from_env()
    if transport == "webrtc" and not WEBRTC_AVAILABLE:
        raise _Exit(EXIT_USAGE, "usage", WEBRTC_MISSING)
    if transport == "webrtc" and args.auth == "subprotocol":
        raise _Exit(EXIT_USAGE, "usage", "--auth subprotocol is for WebSockets, not --webrtc")
    if endpoint.is_live and not endpoint.api_key:
        raise _Exit(
            EXIT_USAGE,
            "missing_api_key",
            f"${args.api_key_env} is not set: export your OpenAI API key in it; for a "
            f"local mock any key works: set {args.api_key_env} to any value (sk-test) and "
            "pass --url ws://127.0.0.1:PORT/v1/realtime",
        )
    build_url(endpoint.url, args.model)
    return _Job(
        endpoint=endpoint,
        model=args.model,
        images=[_read_image(path) for path in args.images],
        watcher=_watcher(args.watch, args.poll) if args.watch else None,
        watch_limit=args.watch_limit,
        stdin=args.stdin,
        instructions=args.instructions,
        timeout=args.timeout,
        auth=args.auth,
        reconnect=args.reconnect,
        forget=args.forget,
        transport=transport,
    )


def _read_image(path: str) -> tuple[str, bytes]:
    try:
        return path, load_image(path)
    except UsageError as exc:
        raise _Exit(EXIT_USAGE, "invalid_image", str(exc)) from None


def _watcher(folder: str, poll: float) -> Watcher:
    directory = Path(folder)
    if not directory.is_dir():
        raise _Exit(EXIT_USAGE, "usage", f"--watch {folder}: not a directory")
    return Watcher(directory, suffixes=IMAGE_SUFFIXES, interval=poll)  # lists what exists now


async def _run(job: _Job) -> None:
    settings = ClientSettings(
        open_timeout=job.timeout,
        session_created_timeout=job.timeout,
        ack_timeout=job.timeout,
        response_timeout=job.timeout,
    )
    policy = ReconnectPolicy(max_attempts=job.reconnect) if job.reconnect else None
    async with RealtimeClient(
        job.endpoint.url,
        model=job.model,
        api_key=job.endpoint.api_key,
        auth="subprotocol" if job.auth == "subprotocol" else "header",
        settings=settings,
        reconnect=policy,
        transport=job.transport,
    ) as client:
        await client.configure(instructions=job.instructions, output_modalities=["text"])
        titled = len(job.images) > 1 or job.watcher is not None or job.stdin
        for label, data in job.images:
            await _note(client, label, data, titled=titled, forget=job.forget)
        if job.watcher is not None:
            await _watch(client, job)
        if job.stdin:
            await _stdin_notes(client, job)


async def _watch(client: RealtimeClient, job: _Job) -> None:
    """One note per new image; a failed note is reported and the watch goes on."""
    assert job.watcher is not None
    failed = 0
    async for path in job.watcher.new_files(limit=job.watch_limit):
        try:
            await _note(client, str(path), load_image(path), titled=True, forget=job.forget)
        except UsageError as exc:
            print(f"warning: skipped {exc}", file=sys.stderr, flush=True)
        except (RealtimeAPIError, ResponseFailed, Timeout) as exc:
            _report(exc, job.endpoint.api_key, job.endpoint.api_key_env)
            failed += 1
    if failed:
        raise _Exit(EXIT_API, "watch", f"{failed} screenshot(s) got no notes")


async def _stdin_notes(client: RealtimeClient, job: _Job) -> None:
    """A note per image path read from stdin; a newer path cancels the note still streaming.

    Never two `response.create` at once: the stale note is cancelled (`response.cancel`)
    and the next one is asked for after its `response.done` (the client's queue).
    """
    paths = _lines_of_stdin()
    failed = 0
    path = await paths.get()
    while path is not None:
        try:
            image = load_image(path)
        except UsageError as exc:
            print(f"warning: skipped {exc}", file=sys.stderr, flush=True)
            path = await paths.get()
            continue
        print(f"== {path} ==", flush=True)
        await client.add_screenshot(image, wait=False)
        stream = await client.respond(on_delta=_write)
        newer = asyncio.ensure_future(paths.get())
        note = asyncio.ensure_future(stream.done())
        await asyncio.wait({newer, note}, return_when=asyncio.FIRST_COMPLETED)
        if not note.done() and newer.result() is not None:
            await client.cancel(stream)  # a newer screenshot made this note stale
        try:
            result = await note
            print(" [cancelled: a newer screenshot came]" if result.status == "cancelled" else "")
        except (RealtimeAPIError, ResponseFailed, Timeout) as exc:
            print(flush=True)
            _report(exc, job.endpoint.api_key, job.endpoint.api_key_env)
            failed += 1
        sys.stdout.flush()
        path = await newer
    if failed:
        raise _Exit(EXIT_API, "stdin", f"{failed} screenshot(s) got no notes")


def _lines_of_stdin() -> asyncio.Queue[str | None]:
    """Non-empty stdin lines as they come, then None at the end (read on a daemon thread)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def read() -> None:
        try:
            for line in sys.stdin:
                if line.strip():
                    loop.call_soon_threadsafe(queue.put_nowait, line.strip())
        finally:
            with contextlib.suppress(RuntimeError):  # the loop may be closed by now
                loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=read, name="realtime-notes-stdin", daemon=True).start()
    return queue


async def _note(
    client: RealtimeClient, label: str, image: bytes, *, titled: bool, forget: bool
) -> None:
    """Send one screenshot and print its notes as they stream."""
    if titled:
        print(f"== {label} ==", flush=True)
    # No wait for the item's ack: the server reads events in order, and a rejected image
    # fails the response below. One round trip less per screenshot.
    item = await client.add_screenshot(image, wait=False)
    stream = await client.respond(on_delta=_write)
    await stream.done()
    print(flush=True)
    if forget and isinstance(item.get("id"), str):
        await client.delete_item(item["id"])


def _write(delta: str) -> None:
    sys.stdout.write(delta)
    sys.stdout.flush()


def _report(exc: Exception, secret: str | None, key_env: str) -> int:
    """Print `error: <code>: <message>` (key redacted) and return the exit code."""
    code, label, message = _classify(exc)
    lines = [f"error: {label}: {message}", *getattr(exc, "__notes__", ())]
    hint = _HINTS.get(exc.code) if isinstance(exc, ConnectionClosed) else None
    if isinstance(exc, ConnectError) and exc.status is not None:
        hint = _UPGRADE_HINTS.get(exc.status)
    if hint and code_of(exc) == 3000 and not secret:
        hint = _NO_KEY_HINT
    text = redact("\n".join(lines), [secret])
    if hint:  # our own words (no key in them): not masked, so `VAR=sk-test` stays readable
        text += "\nhint: " + hint.format(env=key_env)
    print(text, file=sys.stderr, flush=True)
    return code


def code_of(exc: Exception) -> int | None:
    """The close code of a `ConnectionClosed`, else None."""
    return exc.code if isinstance(exc, ConnectionClosed) else None


def _classify(exc: Exception) -> tuple[int, str, str]:
    if isinstance(exc, _Exit):
        return exc.code, exc.label, exc.message
    if isinstance(exc, UsageError):
        return EXIT_USAGE, "usage", str(exc)
    if isinstance(exc, RealtimeAPIError):
        return EXIT_API, exc.code or exc.type, exc.message
    if isinstance(exc, ResponseFailed):
        return EXIT_API, exc.code or exc.status, exc.message
    if isinstance(exc, ConnectionClosed):
        return EXIT_CLOSED, "connection_closed", str(exc)
    if isinstance(exc, ConnectError):
        return EXIT_CLOSED, "connect_failed", str(exc)
    if isinstance(exc, Timeout):
        return EXIT_TIMEOUT, "timeout", str(exc)
    raise exc


@contextlib.contextmanager
def _logging(verbosity: int) -> Iterator[None]:
    """Warnings (protocol findings, reconnects) to stderr, keys redacted, for this run only."""
    logger = logging.getLogger("client_reference")
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    old_level = logger.level
    logger.setLevel(
        logging.DEBUG if verbosity > 1 else logging.INFO if verbosity else logging.WARNING
    )
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


if __name__ == "__main__":
    sys.exit(main())
