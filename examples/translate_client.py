"""A small translation client: stream speech to `/v1/realtime/translations`, print the
translation as it comes.

    realtime-conformance run --translation --client "python examples/translate_client.py"

It reads the runner's environment contract (docs/runner.md): `$REALTIME_TRANSLATION_URL`
and `$REALTIME_TRANSLATION_MODEL` (the URL and `?model=`), `$OPENAI_API_KEY` (the
`Authorization` header) and `$REALTIME_AUDIO` (a 24 kHz PCM16 mono WAV; without it, a
1 s tone). Then, as protocol notes §2.3 describe:

1. wait for `session.created`; send `session.update` (the target language, input
   transcription on) and wait for `session.updated`;
2. stream the audio as `session.input_audio_buffer.append` in 200 ms frames (the
   engine's frame), one frame every `--frame-pause` seconds (0.2: real time);
3. print each `session.output_transcript.delta` to stdout as it arrives, appended as it
   is (each word but the first carries its leading space); the source transcript goes
   to stderr;
4. send `session.close`, read on to `session.closed` (the flushed last words come
   before it), and exit 0 when the server closes.

An `error` event is reported on stderr (code, type, message) and the session goes on;
a close before `session.closed`, a dropped connection or a silent server is reported
(close code, reason) and ends it. After any of these the exit status is 1. Every wait is
bounded.

`TRANSLATE_CLIENT_BUG` (or `--bug`) plants one mistake, for the tests: `realtime-events`
streams with the realtime event names (`input_audio_buffer.append`, then
`response.create`), `no-transcript` listens for the realtime transcript events and so
prints nothing, `swallow-errors` ignores error events and closes and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import math
import os
import struct
import sys
import wave
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

RATE = 24_000  # Hz: translation sessions take 24 kHz PCM16 mono only
FRAME_BYTES = RATE * 2 // 5  # 200 ms
WAIT_S = 10.0  # the longest wait for any one server event
BUGS = ("none", "realtime-events", "no-transcript", "swallow-errors")


class Failed(Exception):
    """The server reported trouble (already printed on stderr): exit 1."""


def tone(ms: int = 1000) -> bytes:
    """`ms` of a 220 Hz tone, 24 kHz PCM16 mono (used when `$REALTIME_AUDIO` is unset)."""
    count = RATE * ms // 1000
    samples = (int(9000 * math.sin(2 * math.pi * 220 * n / RATE)) for n in range(count))
    return struct.pack(f"<{count}h", *samples)


def read_audio(path: str | None) -> bytes:
    """The PCM16 frames of a 24 kHz mono WAV, or a tone."""
    if not path:
        return tone()
    with wave.open(path, "rb") as wav:
        shape = (wav.getframerate(), wav.getnchannels(), wav.getsampwidth())
        if shape != (RATE, 1, 2):
            raise SystemExit(f"{path}: expected 24 kHz 16-bit mono, got {shape}")
        return wav.readframes(wav.getnframes())


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class Translator:
    """One translation session on an open socket."""

    def __init__(self, ws: ClientConnection, bug: str) -> None:
        self.ws, self.bug = ws, bug
        self.printed = False
        self.errors = 0

    async def send(self, event: dict[str, Any]) -> None:
        try:
            await self.ws.send(json.dumps(event))
        except ConnectionClosed as closed:
            self.closed(closed)

    def closed(self, closed: ConnectionClosed) -> None:
        """Report a connection the server ended before session.closed; raise `Failed`."""
        if self.bug == "swallow-errors":
            raise SystemExit(0)
        received = closed.rcvd
        if received is None:
            say("error: connection lost without a close frame (1006)")
        else:
            say(f"error: the server closed the connection: {received.code} {received.reason}")
        raise Failed

    async def next_event(self) -> dict[str, Any]:
        """The next server event; prints the deltas; raises `Failed` on trouble."""
        try:
            async with asyncio.timeout(WAIT_S):
                frame = await self.ws.recv()
        except TimeoutError:
            say(f"error: no event from the server for {WAIT_S:g} s")
            raise Failed from None
        except ConnectionClosed as closed:
            self.closed(closed)
        event: dict[str, Any] = json.loads(frame)
        kind = event.get("type")
        transcript = "response.output_audio_transcript.delta"
        wanted = transcript if self.bug == "no-transcript" else "session.output_transcript.delta"
        if kind == wanted:
            sys.stdout.write(str(event.get("delta", "")))
            sys.stdout.flush()
            self.printed = True
        elif kind == "session.input_transcript.delta":
            say(f"source:{event.get('delta', '')}")
        elif kind == "error" and self.bug != "swallow-errors":
            error = event.get("error") or {}
            say(f"error: {error.get('code')} {error.get('type')}: {error.get('message')}")
            self.errors += 1  # reported; the session goes on (a close, if any, is reported too)
        return event

    async def until(self, kind: str) -> dict[str, Any]:
        while True:
            event = await self.next_event()
            if event.get("type") == kind:
                return event

    async def run(self, audio: bytes, language: str, pause: float) -> None:
        await self.until("session.created")
        update = {
            "type": "session.update",
            "event_id": "evt_update",
            "session": {
                "audio": {
                    "output": {"language": language},
                    "input": {"transcription": {"model": "gpt-4o-mini-transcribe"}},
                }
            },
        }
        await self.send(update)
        await self.until("session.updated")
        append = "input_audio_buffer.append" if self.bug == "realtime-events" else None
        for start in range(0, len(audio), FRAME_BYTES):
            chunk = base64.b64encode(audio[start : start + FRAME_BYTES]).decode("ascii")
            await self.send({"type": append or "session.input_audio_buffer.append", "audio": chunk})
            if pause:
                await asyncio.sleep(pause)  # a microphone gives 200 ms every 200 ms
        if self.bug == "realtime-events":
            await self.send({"type": "response.create"})
        await self.send({"type": "session.close", "event_id": "evt_close"})
        await self.until("session.closed")
        if self.printed:
            sys.stdout.write("\n")
        try:  # the server closes (1000) after session.closed
            async with asyncio.timeout(WAIT_S):
                await self.ws.wait_closed()
        except TimeoutError:
            say("note: the server did not close after session.closed; closing")


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--language", default="fr", help="target language (fr)")
    pause = "seconds between 200 ms frames (0.2: real time; 0: at once)"
    parser.add_argument("--frame-pause", type=float, default=0.2, metavar="S", help=pause)
    parser.add_argument("--bug", default=os.environ.get("TRANSLATE_CLIENT_BUG", "none"))
    args = parser.parse_args(argv)
    if args.bug not in BUGS:
        say(f"unknown TRANSLATE_CLIENT_BUG {args.bug!r}; expected one of {', '.join(BUGS)}")
        return 2
    url = os.environ.get("REALTIME_TRANSLATION_URL", "ws://127.0.0.1:8765/v1/realtime/translations")
    model = os.environ.get("REALTIME_TRANSLATION_MODEL", "gpt-realtime-translate")
    key = os.environ.get("OPENAI_API_KEY", "")
    audio = read_audio(os.environ.get("REALTIME_AUDIO"))
    try:
        async with asyncio.timeout(WAIT_S):
            ws = await connect(
                f"{url}?model={model}",
                additional_headers={"Authorization": f"Bearer {key}"},
                max_size=None,
            )
    except (OSError, TimeoutError, ConnectionClosed) as exc:
        say(f"error: cannot connect to {url}: {exc}")
        return 1
    async with ws:
        translator = Translator(ws, args.bug)
        try:
            await translator.run(audio, args.language, args.frame_pause)
        except Failed:
            return 1
    return 1 if translator.errors else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
