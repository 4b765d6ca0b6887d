"""`MockApp`: the mock GA server for one connection, with no I/O.

The driving contract is in `mock_server.actions`. Inside, everything the server will
send goes through one outbox, a heap ordered by (due time, sequence number):

* default behaviour (`mock_server.behaviour`) queues events and response *streams*;
* each event, when due, is applied to the protocol core (`Session(SERVER)`, strict, so
  a mock bug raises instead of reaching a client), offered to the scenario hooks, which
  may replace it (drop, duplicate, reorder, inject), written to the transcript and
  turned into a `SendText` action;
* events a scenario sends itself bypass the core: they are deliberate faults.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final

import pybase64

from conformance import _json
from conformance.models import ModelRegistry, load_registry
from conformance.protocol import Finding, IdFactory, Received, Session, Side
from conformance.schemas import parse_client_frame
from conformance.transcript import Transcript

from . import media
from .actions import Action, Close, Drop, SendBytes, SendText, SetPingAnswer, Stall
from .behaviour import Behaviour
from .config import MockConfig
from .handshake import Accepted, Rejected, check_handshake
from .hooks import Hooks, NoHooks, Outgoing, RawFrame
from .request import ConnectRequest
from .responder import (
    LIVE_DELTA_JITTER,
    LIVE_FIRST_DELTA_MS,
    LIVE_TOKENS_PER_SECOND,
    LIVE_TRANSCRIPTION_MS,
    Pace,
    Stream,
    check_reply_template,
)
from .secrets import secrets_for
from .webrtc_audio import OutputAudioBuffer

if TYPE_CHECKING:
    from .scenarios import Scenario


# Tolerant mode (`MockConfig.tolerant`): how long session.created is held after the upgrade.
TOLERANT_HOLD_MS: Final = 200.0
# Fair scheduling: one call into the app (a client frame, a timer) writes at most about
# this much, then returns to the event loop; what is left is due at once (`next_timer`),
# so it goes out on the next turn of the loop, after every other connection had its turn.
# Counted in frames and bytes, not wall time, so the split is the same on every machine.
SLICE_EVENTS: Final = 64
SLICE_BYTES: Final = 256 * 1024
# A client text frame at least this long is read on one turn of the loop and answered on
# the next (`MockApp.receive_text_steps`).
STEP_TEXT: Final = 1 << 20


@dataclass(slots=True)
class _Entry:
    # "event" | "hook" | "close" | "drop" | "stall" | "stream" | "expire" | "call", or
    # "gone": a stream entry taken out of the heap where it lies (skipped when popped).
    kind: str
    payload: Any = None
    work: Any = None  # a huge event being serialised in steps: (event, steps)


class MockApp:
    """Everything one mock connection does, driven by an I/O adapter."""

    def __init__(
        self,
        request: ConnectRequest,
        config: MockConfig,
        *,
        hooks: Hooks | None = None,
        registry: ModelRegistry | None = None,
        connection_number: int = 0,
        started_at: float = 0.0,
        transport: str = "websocket",
        session: Mapping[str, Any] | None = None,
    ) -> None:
        """One connection's (or call's) app.

        `transport`: "websocket", or "webrtc" / "sip" for a call (mock_server/calls.py):
        then `output_audio_buffer.clear` is a valid client event, the model's audio goes
        to the call's track (`PlayAudio` actions, mock_server/webrtc_audio.py), and the
        transcript's meta says `transport`. `session`: a configuration the session starts
        from (a WebRTC call's `session` part), over the client secret's if any.
        """
        self.request = request
        self.config = config
        self.registry = registry or load_registry()
        self.hooks: Hooks = hooks or NoHooks()
        self._hooked = hooks is not None and not isinstance(hooks, NoHooks)
        self.ids = IdFactory(f"{config.seed}/{connection_number}")
        self.started_at = started_at
        self.transport = transport
        self.initial_session = session
        self.session = Session(
            Side.SERVER,
            decode=_parse_websocket_frame if transport == "websocket" else parse_client_frame,
            encode=_json.dumps,
            audio_decoder=_b64decode,
            models=self.registry.get,
        )
        self.session_id = self.ids.new("sess")
        self.transcript: Transcript = request.new_transcript(config)
        self.transcript.meta["session_id"] = self.session_id
        # On a call the model's audio goes to the track (None on a WebSocket).
        self.audio_out: OutputAudioBuffer | None = None
        if transport != "websocket":
            self.transcript.meta["transport"] = transport
            self.audio_out = OutputAudioBuffer(self)
        self.control = _Control(self)
        self.behaviour = Behaviour(self)
        self.now_ms = 0.0
        self.ended = False
        self.stalled = False
        self.suppress_created = False
        self._heap: list[tuple[float, int, _Entry]] = []
        # Each stream's one entry in the heap, by the stream's id: a cancel finds it at once
        # (and marks it "gone") instead of scanning a heap that can hold thousands.
        self._stream_entries: dict[int, tuple[float, int, _Entry]] = {}
        self._due: float | None = None  # due time of the outbox entry being performed
        self._seq = itertools.count()
        self._actions: list[Action] = []
        self._held: list[str] | None = None  # frames written while session.created is held
        self._stream_hold: tuple[Stream, float] | None = None  # (stream, until ms)
        self._advancing: Stream | None = None  # the stream whose events are being sent
        self._slice_events = 0  # frames written in this slice (see SLICE_EVENTS)
        self._slice_bytes = 0
        # The client has sent `STEP_TEXT` characters or more: from then on an event may
        # echo a huge string, and each is checked for one (`_emit_step`).
        self._received_chars = 0
        self._big_input = False

    # ------------------------------------------------------------ driver API
    def opened(self, now_ms: float) -> None:
        """The upgrade is done: answer like the live server (session.created or error+close)."""
        self.now_ms = now_ms
        tolerant = self.config.tolerant
        outcome = check_handshake(
            self.request,
            self.config,
            self.registry,
            secrets=secrets_for(self.config.secret_key),  # keys minted by POST client_secrets
            now=self.started_at or None,
            tolerant=tolerant,
        )
        if isinstance(outcome, Rejected):
            self.send_error(outcome.finding)
            self.queue(_Entry("close", (outcome.close_code, outcome.close_reason)))
            self._flush()
            return
        if tolerant:
            self._hold_session_created(outcome)
        if self.initial_session is not None:  # a call's `session`, over the secret's
            merged = {**(outcome.session or {}), **self.initial_session}
            outcome = replace(outcome, session=merged)
        self.behaviour.start(outcome)
        self.hooks.on_open(self.control, now_ms)
        self._flush()
        if self.ended:
            return
        if not self.suppress_created:
            self.behaviour.send_session_created()
        self.queue(_Entry("expire"), at=self.config.session_max_duration * 1000.0)
        self._flush()  # session.created is out before a rule can close, drop or stall
        self.hooks.after_open(self.control, now_ms)
        self._flush()

    def _hold_session_created(self, accepted: Accepted) -> None:
        """Tolerant mode: note what was tolerated; write nothing for `TOLERANT_HOLD_MS`.

        Holding session.created (and whatever follows it) makes a client that sends
        before session.created show it on the wire; its early events are answered as
        usual, after session.created.
        """
        self.transcript.meta["tolerant"] = True
        self.transcript.meta["tolerated"] = [
            {**t.finding.error_body(), "close_code": t.close_code} for t in accepted.tolerated
        ]
        self._held = []
        self.queue(_Entry("call", self._release_held), delay_ms=TOLERANT_HOLD_MS)

    def _release_held(self) -> None:
        held, self._held = self._held, None
        for text in held or ():
            self._write_text(text)

    def receive_text(self, text: str, now_ms: float) -> None:
        """One text frame from the client."""
        if self.ended:
            return
        self.now_ms = now_ms
        if not self._big_input:
            self._count_received(text)
        received = self.session.receive(text)
        self.transcript.add_text("client", text, now_ms, received.findings)
        self._answer(received, text, now_ms)
        self._flush()

    def receive_text_steps(self, text: str, now_ms: float) -> Generator[None, None, None]:
        """`receive_text` in steps: the caller resumes it on later turns of its loop.

        A frame of `STEP_TEXT` characters or more is taken in steps: its long strings are
        cut out and proven plain (`conformance._json.prepare`, a step per copy and per
        decode), then it is parsed and recorded, then its big images are decoded and
        hashed (`media.prepare_images`, a step per MB), then it is answered (its audio to
        the VAD), then the answer is written (an event that echoes a huge string, such as
        the two echoes of a valid image item, is serialised in steps of its own by
        `_flush`), so one frame near the 16 MB limit does not hold the event loop for all
        of it (issue 12). The caller hands the app nothing
        else, timers included, until the generator is exhausted; the answers are those of
        `receive_text`, at `now_ms`.
        """
        if self.ended:
            return
        if not self._big_input:
            self._count_received(text)
        big = len(text) >= STEP_TEXT
        try:
            if big:
                for _ in _json.prepare(text):  # the long strings cut out, proven plain
                    yield
                    if self.ended:  # the connection was lost meanwhile
                        return
            self.now_ms = now_ms
            received = self.session.receive(text)
        finally:
            if big:  # what the parse did not take (it was lost, or not a big parse)
                _json.unprepare(text)
        self.transcript.add_text("client", text, now_ms, received.findings)
        if big:
            yield
            if self.ended:
                return
            self.now_ms = now_ms
            try:  # its big images decoded and hashed in steps
                for _ in media.prepare_images(received.event if received.ok else None):
                    yield
                    if self.ended:
                        return
                self.now_ms = now_ms
                for _ in self._answer_steps(received, text, now_ms):
                    yield
                    if self.ended:
                        return
                    self.now_ms = now_ms
            finally:
                media.unprepare_images(received.event)
        else:
            self._answer(received, text, now_ms)
        if big and self._heap:  # the answer is written on a turn of its own
            yield
            if self.ended:
                return
            self.now_ms = now_ms
        self._flush()

    def _count_received(self, text: str) -> None:
        self._received_chars += len(text)
        self._big_input = self._received_chars >= STEP_TEXT

    def _answer(self, received: Received, text: str, now_ms: float) -> None:
        """Handle one received frame: its events are queued, not yet written."""
        for _ in self._answer_steps(received, text, now_ms, steps=False):
            pass

    def _answer_steps(
        self, received: Received, text: str, now_ms: float, *, steps: bool = True
    ) -> Iterator[None]:
        """`_answer` in steps (a big append's audio reaches the VAD in pieces)."""
        hooked = self._hooked and self.hooks.on_client_event(
            self.control, received.event, text, now_ms
        )
        if not hooked:
            if received.findings:
                self.send_error(received.findings[0])
            else:
                yield from self.behaviour.handle_steps(received, steps=steps)

    def receive_audio(self, pcm: bytes, now_ms: float) -> None:
        """A call's input audio from its track, in the session's input format: to the
        buffer and the VAD as an append's audio would go (nothing is recorded)."""
        if self.ended:
            return
        self.now_ms = now_ms
        self.session.conversation.apply_client_event(_TRACK_APPEND, pcm)
        self.behaviour.feed_audio(pcm)
        self._flush()

    def receive_bytes(self, data: bytes, now_ms: float) -> None:
        """One binary frame from the client: the live server rejects it, non-fatally."""
        if self.ended:
            return
        self.now_ms = now_ms
        self.session.receive_bytes(data)
        received = self.session.events_received()[0]
        self.transcript.add_binary("client", data, now_ms, received.findings)
        if not self.hooks.on_client_event(self.control, None, "", now_ms):
            self.send_error(received.findings[0])
        self._flush()

    def handle_timer(self, now_ms: float) -> None:
        """Time has reached `next_timer()`: send what is due."""
        if self.ended:
            return
        self.now_ms = now_ms
        hook_due = self.hooks.next_timer()
        if hook_due is not None and hook_due <= now_ms:
            self.hooks.on_timer(self.control, now_ms)
        self._flush()

    def next_timer(self) -> float | None:
        """When `handle_timer` must next be called (ms), or None."""
        if self.ended:
            return None
        heap = self._heap
        while heap and heap[0][2].kind == "gone":  # no wake-up for what was taken out
            heapq.heappop(heap)
        due = heap[0][0] if heap else None
        if not self._hooked:
            return due
        hook_due = self.hooks.next_timer()
        if hook_due is None or (due is not None and due <= hook_due):
            return due
        return hook_due

    def actions_to_perform(self) -> list[Action]:
        """Drain the actions for the adapter, in order."""
        actions, self._actions = self._actions, []
        return actions

    def connection_lost(self, code: int | None, reason: str, now_ms: float) -> None:
        """The socket is gone; record how, and stop."""
        if not self.ended:
            self.transcript.add_close("client", code, reason, now_ms)
        self.ended = True
        self.session.connection_closed()
        self._heap.clear()
        self._stream_entries.clear()

    # ------------------------------------------------------------ outbox
    def queue(self, entry: _Entry, *, at: float | None = None, delay_ms: float = 0.0) -> None:
        """Schedule an outbox entry at an absolute time or after a delay."""
        due = at if at is not None else self.now_ms + delay_ms
        item = (due, next(self._seq), entry)
        heapq.heappush(self._heap, item)
        if entry.kind == "stream":
            self._stream_entries[id(entry.payload[0])] = item

    def send_event(self, event: Mapping[str, Any]) -> None:
        """Queue a default-behaviour server event (goes through the core and the hooks)."""
        self.queue(_Entry("event", event))

    def send_error(self, finding: Finding) -> None:
        """Queue a live-shaped `error` event for this finding."""
        self.send_event({"type": "error", "error": finding.error_body()})

    def start_stream(self, stream: Stream, on_end: Callable[[], None] | None = None) -> None:
        """Queue a response stream; `on_end` runs after its last event."""
        self.queue(_Entry("stream", (stream, on_end, None)))

    def spend(self, events: int) -> None:
        """Count work done in this slice of the outbox as `events` small events' worth, so a
        heavy entry (a response planned over a long conversation) ends the slice sooner."""
        self._slice_events += events

    def _spent(self) -> bool:
        return self._slice_events >= SLICE_EVENTS or self._slice_bytes >= SLICE_BYTES

    def _flush(self) -> None:
        self._slice_events = self._slice_bytes = 0
        while self._heap and self._heap[0][0] <= self.now_ms and not self.ended:
            if self._spent():
                break  # the rest is due now: `next_timer` says so, the loop comes back
            due, seq, entry = heapq.heappop(self._heap)
            if entry.kind == "gone":  # a stream entry a cancel or a release took out
                continue
            if entry.kind == "stream":
                self._stream_entries.pop(id(entry.payload[0]), None)
            self._due = due
            if self._big_input and entry.kind == "event":
                if not self._emit_step(entry):
                    # A huge event in steps: it stays first, and this slice ends here.
                    heapq.heappush(self._heap, (due, seq, entry))
                    self._slice_events = SLICE_EVENTS
                    break
            else:
                self._perform(entry)
        self._due = None

    def _perform(self, entry: _Entry) -> None:
        if entry.kind == "event":
            self._emit(entry.payload)
        elif entry.kind == "hook":
            self._write(entry.payload)
        elif entry.kind == "stream":
            self._advance(*entry.payload)
        elif entry.kind == "close":
            self._close(*entry.payload)
        elif entry.kind == "drop":
            self._release_held()
            self.transcript.add_drop("server", self.now_ms)
            self._actions.append(Drop())
            self.ended = True
        elif entry.kind == "stall":
            self.stalled = True
            self._actions.append(Stall(pings=entry.payload))
        elif entry.kind == "expire":
            self.behaviour.expire()
        elif entry.kind == "call":
            entry.payload()

    def _advance(
        self, stream: Stream, on_end: Callable[[], None] | None, pending: Any = None
    ) -> None:
        self._advancing = stream
        try:
            if pending is not None:
                self._emit(pending)
            # Pace from when this step was *due*, not when the timer fired: timers fire a
            # little late, and counting from `now` would add that to every later delta.
            start = self._due if self._due is not None else self.now_ms
            for delay, event in stream:
                if self.ended:
                    return
                hold = self._stream_hold
                held = hold is not None and hold[0] is stream and hold[1] > start
                if delay <= 0 and not held and self._spent():
                    # This slice is used up: the rest of the stream goes on next turn,
                    # still due at `start` (nothing is delayed in virtual time).
                    self.queue(_Entry("stream", (stream, on_end, event)), at=start)
                    return
                if delay > 0 or held:
                    at = max(start + delay, hold[1]) if held and hold else start + delay
                    self.queue(_Entry("stream", (stream, on_end, event)), at=at)
                    return
                self._emit(event)
        finally:
            self._advancing = None
        self._unhold(stream)
        if on_end is not None and not self.ended:
            on_end()

    def hold_stream(self, max_ms: float) -> None:
        """Hold the rest of the response being sent until `release_stream` or `max_ms`."""
        if self._advancing is not None:
            self._stream_hold = (self._advancing, self.now_ms + max_ms)

    def release_stream(self) -> None:
        """A held response goes on now (at its pace); nothing held: nothing happens."""
        hold, self._stream_hold = self._stream_hold, None
        if hold is None:
            return
        found = self._stream_entries.get(id(hold[0]))
        if found is not None and found[0] > self.now_ms:
            due_now = _Entry("stream", found[2].payload)
            found[2].kind = "gone"
            self.queue(due_now)

    def _unhold(self, stream: Stream) -> None:
        if self._stream_hold is not None and self._stream_hold[0] is stream:
            self._stream_hold = None

    def drain_stream(
        self,
        stream: Stream,
        on_end: Callable[[], None] | None,
        skip: Callable[[Mapping[str, Any]], bool] | None = None,
    ) -> None:
        """Run a stream to its end now (after a cancel its tail has no delays).

        `skip` drops the event the stream had already made before it was stopped, if it
        says so (a delta of an item the client has just deleted).
        """
        found = self._stream_entries.pop(id(stream), None)
        if found is None:
            return  # not started yet, or already finished
        found[2].kind = "gone"
        first = found[2].payload[2]
        if first is not None and not (skip is not None and skip(first)):
            self._emit(first)
        for _, event in stream:
            self._emit(event)
        self._unhold(stream)
        if on_end is not None:
            on_end()

    def _emit(self, event: Mapping[str, Any]) -> None:
        full = {"type": event["type"], "event_id": self.ids.new("event"), **event}
        self.behaviour.fill_previous_item(full)
        text = self.session.send(full)
        self.session.data_to_send()  # the text is written below; nothing may pile up
        audio_out = self.audio_out
        if audio_out is not None:
            self._deliver(full, text)
            return
        replacement = self.hooks.on_server_event(self.control, full, self.now_ms)
        if replacement is None:
            self._write_text(text)
            return
        for out in replacement:
            self._write(out)

    def _emit_step(self, entry: _Entry) -> bool:
        """`_emit(entry.payload)`, a step at a time when it holds a huge string.

        A server event that echoes a client's huge string (a 16 MB data URL in
        `conversation.item.added`, `instructions` in `session.updated`) is applied to the
        core at once (`Session.apply_send`), then serialised by `_json.dumps_steps`, one
        step per call, the same text as at once (issue 12). Returns False while steps
        are left; the caller calls again on a later turn of the loop, before anything
        else of this connection's outbox.
        """
        work = entry.work
        if work is None:
            event = entry.payload
            full = {"type": event["type"], "event_id": self.ids.new("event"), **event}
            self.behaviour.fill_previous_item(full)
            steps = _json.dumps_steps(full)
            if steps is None:
                text = self.session.send(full)
                self.session.data_to_send()
                self._deliver(full, text)
                return True
            self.session.apply_send(full)
            entry.work = work = (full, steps)
        full, steps = work
        try:
            next(steps)
        except StopIteration as stop:
            entry.work = None
            self._deliver(full, stop.value)
            return True
        return False

    def _deliver(self, full: dict[str, Any], text: str) -> None:
        """Offer an event sent through the core to the hooks, and write it (or theirs).

        On a call, the audio deltas go to the track instead (`OutputAudioBuffer`).
        """
        audio_out = self.audio_out
        if audio_out is not None and audio_out.divert(full):
            return
        replacement = self.hooks.on_server_event(self.control, full, self.now_ms)
        if replacement is None:
            self._write_text(text)
        else:
            for out in replacement:
                self._write(out)
        if audio_out is not None:
            audio_out.sent(full)

    def _write(self, out: Outgoing) -> None:
        if self.ended or self.stalled:
            return
        if isinstance(out, RawFrame):
            if isinstance(out.data, bytes):
                self.transcript.add_binary("server", out.data, self.now_ms)
                self._actions.append(SendBytes(out.data))
                return
            text = out.data
        else:
            text = _json.dumps(out)
        self._write_text(text)

    def _write_text(self, text: str) -> None:
        if self.ended or self.stalled:
            return
        if self._held is not None:
            self._held.append(text)
            return
        self.transcript.add_text("server", text, self.now_ms)
        self._actions.append(SendText(text))
        self._slice_events += 1
        self._slice_bytes += len(text)

    def _close(self, code: int, reason: str) -> None:
        self._release_held()
        self.transcript.add_close("server", code, reason, self.now_ms)
        self._actions.append(Close(code, reason))
        self.ended = True
        self.session.connection_closed()


# The WebSocket endpoint refuses the WebRTC/SIP-only output_audio_buffer.clear. (Partials,
# not wrapper functions: one Python call less on every client frame.)
_parse_websocket_frame = functools.partial(parse_client_frame, websocket=True)
_TRACK_APPEND: Final = {"type": "input_audio_buffer.append"}  # a call's track audio


# SIMD base64: 1.6 us instead of 10.9 us (stdlib strict) per 40 ms append, and it also
# refuses the stray padding the stdlib's strict mode lets through.
_b64strict = functools.partial(pybase64.b64decode, validate=True)
_take_base64 = _json.take_base64


def _b64decode(audio: str) -> bytes:
    # A big append's audio was decoded once already, by the same strict decoder, while
    # its frame was parsed (`conformance._json`): not twice (issue 12).
    decoded = _take_base64(audio)
    return _b64strict(audio) if decoded is None else decoded


class _Control:
    """The `hooks.Control` a scenario acts through."""

    def __init__(self, app: MockApp) -> None:
        self._app = app

    @property
    def state(self) -> Any:
        return self._app.behaviour.view

    def new_id(self, prefix: str) -> str:
        return self._app.ids.new(prefix)

    def send(self, event: Outgoing, *, delay_ms: float = 0.0) -> None:
        if not isinstance(event, RawFrame):
            event = {"type": event.get("type"), "event_id": self._app.ids.new("event"), **event}
        self._app.queue(_Entry("hook", event), delay_ms=delay_ms)

    def close(self, code: int, reason: str = "", *, delay_ms: float = 0.0) -> None:
        self._app.queue(_Entry("close", (code, reason)), delay_ms=delay_ms)

    def drop(self, *, delay_ms: float = 0.0) -> None:
        self._app.queue(_Entry("drop"), delay_ms=delay_ms)

    def stall(self, *, pings: bool = True) -> None:
        # Queued like close and drop, so what was queued before it still goes out.
        self._app.queue(_Entry("stall", pings))

    def set_ping_answer(self, answer: bool) -> None:
        self._app._actions.append(SetPingAnswer(answer))

    def hold_response(self, max_ms: float) -> None:
        self._app.hold_stream(max_ms)

    def release_response(self) -> None:
        self._app.release_stream()

    def suppress_session_created(self) -> None:
        self._app.suppress_created = True

    def set_reply_text(self, text: str | None) -> None:
        self._app.behaviour.reply_override = text

    def set_pace(
        self,
        *,
        first_delta_delay: float | None = None,
        text_tokens_per_second: float | None = None,
        audio_realtime: bool | None = None,
    ) -> None:
        changes: dict[str, Any] = {}
        if first_delta_delay is not None:
            changes["first_delta_delay"] = first_delta_delay
        if text_tokens_per_second is not None:
            changes["text_tokens_per_second"] = text_tokens_per_second
        if audio_realtime is not None:
            changes["audio_realtime"] = audio_realtime
        self._app.config = replace(self._app.config, **changes)

    def fail_next_response(self, status_details: Mapping[str, Any]) -> None:
        self._app.behaviour.pending_failures.append(status_details)


def pace_of(config: MockConfig) -> Pace:
    """The streaming pace a configuration asks for: `pace`'s ranges, where no field is set.

    A field that is set (`first_delta_delay`, `text_tokens_per_second`,
    `transcription_delay`) is exact; the live pace's own figures are drawn per stream from
    the seed, and its gaps between deltas jitter.
    """
    live = config.pace == "live"

    def exact_or(value: float | None, scale: float, live_range: tuple[float, float]) -> Any:
        if value is not None:
            return (value * scale, value * scale)
        return live_range if live else (0.0, 0.0)

    tps = config.text_tokens_per_second
    return Pace(
        first_delta_ms=exact_or(config.first_delta_delay, 1000.0, LIVE_FIRST_DELTA_MS),
        tokens_per_second=exact_or(tps, 1.0, LIVE_TOKENS_PER_SECOND),
        jitter=LIVE_DELTA_JITTER if live and tps is None else 0.0,
        transcription_ms=exact_or(config.transcription_delay, 1000.0, LIVE_TRANSCRIPTION_MS),
        audio_realtime=config.audio_realtime,
    )


_connections = itertools.count()
# The scenario name that means "no scenario" (the runner's `default` case).
NO_SCENARIO = "default"


def make_app(
    request: ConnectRequest,
    config: MockConfig,
    *,
    transport: str = "websocket",
    session: Mapping[str, Any] | None = None,
) -> MockApp:
    """The default `AppFactory`: picks the scenario (config, `?scenario=`, header) and builds.

    `transport` and `session` are those of `MockApp` (a WebRTC or SIP call's app).

    A scenario named by the client (query or header) must be a built-in one: a client
    must not make the server read files. An unknown name is answered in-band, like the
    live server's request errors: an `error` event, then close 4000.
    """
    hooks: Hooks | None = None
    number = next(_connections)
    scenario = _scenario_for(request, config)
    if isinstance(scenario, str):
        hooks = _UnknownScenario(scenario)
    elif scenario is not None:
        config = replace(scenario.apply_config(config), scenario=scenario.id)
        hooks = scenario.hooks()
    app_class = MockApp
    if request.is_translation:  # /v1/realtime/translations: its own protocol and behaviour
        from .translation import TranslationApp

        app_class = TranslationApp
    if transport != "websocket":
        return MockApp(
            request,
            config,
            hooks=hooks,
            connection_number=number,
            started_at=time.time(),
            transport=transport,
            session=session,
        )
    return app_class(request, config, hooks=hooks, connection_number=number, started_at=time.time())


def prepare(config: MockConfig) -> None:
    """Pay at server start what the first connection would otherwise pay for.

    Loads the model registry, resolves `config.scenario` (so a typo or a broken file is
    refused before the server listens) and plays one throwaway session up to
    `session.created`, which imports and builds everything a session needs. Without a
    scenario the scenario machinery is not imported.

    Raises:
        ScenarioError: `config.scenario` is unknown (with a did-you-mean) or invalid.
        ConfigError: `config.reply_template` names an unknown placeholder.
    """
    registry = load_registry()
    check_reply_template(config.reply_template)
    if config.scenario and config.scenario != NO_SCENARIO:
        from .scenarios import resolve_scenario

        resolve_scenario(config.scenario)
    models = registry.realtime_models
    target = f"/v1/realtime?model={models[0].name}" if models else "/v1/realtime"
    key = config.api_keys[0] if config.api_keys else "sk-prepare"
    request = ConnectRequest.from_target(
        target, [("Authorization", f"Bearer {key}")], subprotocols=(), remote="prepare"
    )
    app = MockApp(request, replace(config, scenario=None), registry=registry)
    app.opened(0.0)
    app.actions_to_perform()
    app.connection_lost(1000, "", 0.0)


def upgrade_answer(request: ConnectRequest, config: MockConfig) -> Transcript | None:
    """The connection's scenario refuses the WebSocket upgrade (`upgrade:`), or None.

    Returns the connection's transcript, ending in the `rejected` record whose `code` is
    the HTTP status and `reason` the body to answer with; the adapter sends that instead
    of 101, and no app is built.
    """
    scenario = _scenario_for(request, config)
    if scenario is None or isinstance(scenario, str) or scenario.upgrade is None:
        return None
    transcript = request.new_transcript(replace(config, scenario=scenario.id))
    transcript.add_rejected(scenario.upgrade.status, scenario.upgrade.body)
    return transcript


def _scenario_for(request: ConnectRequest, config: MockConfig) -> Scenario | str | None:
    """The connection's scenario; a message if its name is unknown; None without one."""
    chosen = request.query.get("scenario") or request.header("x-mock-scenario")
    name = chosen or config.scenario
    if not name or name == NO_SCENARIO:
        return None
    # Imported only here: a session without a scenario never loads the scenario
    # machinery (and its pure-Python jsonschema), which cost ~100 ms on first use.
    from .scenarios import ScenarioError, resolve_scenario

    try:
        return resolve_scenario(name, allow_paths=not chosen)
    except ScenarioError as exc:
        return str(exc)


class _UnknownScenario(NoHooks):
    """Tells the client its scenario name is unknown (with the did-you-mean), then closes."""

    def __init__(self, message: str) -> None:
        self.message = message

    def on_open(self, ctl: Any, now_ms: float) -> None:
        error = Finding(code="unknown_scenario", message=self.message, param="scenario")
        ctl.send({"type": "error", "error": error.error_body()})
        ctl.close(4000, "invalid_request_error.unknown_scenario")


__all__: Sequence[str] = ["MockApp", "make_app", "pace_of", "prepare", "upgrade_answer"]
