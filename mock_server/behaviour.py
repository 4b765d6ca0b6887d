"""The default, live-like answer to every GA client event (protocol notes §5).

`Behaviour` holds what the protocol core does not: the full items (for retrieve and
for the reply), decoded images, the effective session object, the VAD and the
response streams in flight. It queues events on its `MockApp`; it never writes frames.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final, Protocol

from conformance.protocol import Finding, Received
from conformance.protocol.states import BYTES_PER_MS

from . import session_config as sc
from .mcp import McpState
from .media import ImageInfo, KeptAudio, decode_image
from .planning import plan_response
from .responder import (
    Pace,
    ResponsePlan,
    stream_response,
    stream_transcription,
    stream_transcription_failed,
)
from .vad import IdleTimeout, ServerVad, SpeechStarted, SpeechStopped

if TYPE_CHECKING:
    from .app import MockApp
    from .handshake import Accepted

STEP_AUDIO: Final = 1 << 19
"""Bytes of one append's audio the VAD takes per step (`feed_audio_steps`): about 11 s of
24 kHz PCM16, at most ~50 speech turns at the default silence (a few ms of work)."""

PLAN_ITEMS_PER_EVENT: Final = 16
"""Items of context a response's planning reads in about the time of one small event."""

_ITEMS_WITH_STATUS = frozenset({"message", "function_call", "function_call_output"})
LIVE_WS_TYPES = (
    "session.update", "session.close", "input_audio_buffer.append",
    "session.input_audio_buffer.append", "input_audio_buffer.commit", "input_audio_buffer.clear",
    "conversation.item.create", "conversation.item.truncate", "conversation.item.delete",
    "conversation.item.retrieve", "response.create", "response.cancel",
)  # fmt: skip


def _unsupported_type(kind: str, event_id: str | None) -> Finding:
    # The live WebSocket endpoint accepts only these 12 types (protocol notes §2.1).
    names = ", ".join(f"'{t}'" for t in LIVE_WS_TYPES[:-1]) + f", and '{LIVE_WS_TYPES[-1]}'"
    return Finding(
        code="invalid_value",
        message=f"Invalid value: '{kind}'. Supported values are: {names}.",
        param="type",
        event_id=event_id,
        hint=f"{kind} exists only on WebRTC and SIP connections",
    )


class Answering(Protocol):
    """What every connection's behaviour (realtime or translation) gives its view."""

    app: MockApp
    last_client_event_id: str | None


class ConnectionView:
    """The part of `hooks.StateView` every connection has: its ids and the client's last
    event id. `View` adds the conversation's; a translation connection has none."""

    def __init__(self, behaviour: Answering) -> None:
        self._answering = behaviour

    @property
    def session_id(self) -> str:
        return self._answering.app.session_id

    @property
    def model(self) -> str | None:
        return self._answering.app.request.model

    @property
    def last_client_event_id(self) -> str | None:
        return self._answering.last_client_event_id


class View(ConnectionView):
    """The `hooks.StateView` of one realtime connection."""

    def __init__(self, behaviour: Behaviour) -> None:
        super().__init__(behaviour)
        self._b = behaviour

    @property
    def active_response_id(self) -> str | None:
        return self._b.app.session.active_response_id

    @property
    def last_response_id(self) -> str | None:
        return self._b.last_response_id

    @property
    def last_item_id(self) -> str | None:
        ids = self._b.app.session.conversation.item_ids
        return ids[-1] if ids else None

    @property
    def item_ids(self) -> list[str]:
        return self._b.app.session.item_ids

    @property
    def responses_started(self) -> int:
        return self._b.turn

    @property
    def conversation_id(self) -> str:
        return self._b.conversation_id


class Behaviour:
    """Default handlers, one per client event type."""

    def __init__(self, app: MockApp) -> None:
        self.app = app
        self.view = View(self)
        self.kind = "realtime"
        self.session: dict[str, Any] = {}
        self.items: dict[str, dict[str, Any]] = {}
        self.images: dict[str, list[ImageInfo]] = {}
        self.audio_ms: dict[str, float] = {}
        self.kept_audio = KeptAudio()  # user items' input audio, for retrieve
        # Assistant items' output audio deltas (base64, the plan's own list) and format.
        self.output_audio: dict[str, tuple[list[str], str]] = {}
        self.truncated: dict[str, tuple[int, int]] = {}  # item id -> (content index, end ms)
        self.parallel_tool_calls = False  # request-only: the echo never shows it
        self.last_input_usage: dict[str, int] | None = None  # for cached_tokens
        self.conversation_id = app.ids.new("conv")
        self.turn = 0
        self.last_response_id: str | None = None
        self.last_client_event_id: str | None = None
        self.reply_override: str | None = None
        self.pending_failures: list[Mapping[str, Any]] = []
        self.streams: dict[str, tuple[ResponsePlan, Any, Callable[[], None]]] = {}
        self.vad: ServerVad | None = None
        self.speech_item_id: str | None = None
        # Speech heard in the input buffer since the last commit or clear: a buffer with
        # none cannot be transcribed. Manual turns have no VAD, so a probe listens.
        self.heard = False
        self.probe: ServerVad | None = None
        self.idle = IdleTimeout()  # server_vad idle_timeout_ms (armed after a response)
        self.mcp = McpState()  # MCP servers listed, approvals answered (mock_server/mcp.py)
        self.tokens_remaining = 15_000_000
        self._handlers: dict[str, Callable[[dict[str, Any], Received], None]] = {
            "session.update": self._session_update,
            "input_audio_buffer.append": self._append,
            "input_audio_buffer.commit": self._commit,
            "input_audio_buffer.clear": self._clear,
            "conversation.item.create": self._item_create,
            "conversation.item.retrieve": self._item_retrieve,
            "conversation.item.delete": self._item_delete,
            "conversation.item.truncate": self._item_truncate,
            "response.create": self._response_create,
            "response.cancel": self._response_cancel,
            # Reaches here on calls only: the WebSocket parser refuses it (live).
            "output_audio_buffer.clear": self._output_audio_clear,
        }

    # ----------------------------------------------------------- lifecycle
    def start(self, accepted: Accepted) -> None:
        """Build the session object the handshake selected."""
        expires_at = int(self.app.started_at + 3600)
        if accepted.kind == "transcription":
            self.kind = "transcription"
            self.session = sc.transcription_session(
                session_id=self.app.session_id, expires_at=expires_at
            )
        else:
            info = self.app.registry.get(accepted.model or "")
            self.session = sc.realtime_session(
                session_id=self.app.session_id,
                model=accepted.model or "",
                expires_at=expires_at,
                reasoning=bool(info and info.reasoning),
            )
        if accepted.session is not None:  # an `ek_` client secret's configuration
            self.session = sc.merge_update(self.session, accepted.session)
            if isinstance(accepted.session.get("parallel_tool_calls"), bool):
                self.parallel_tool_calls = accepted.session["parallel_tool_calls"]
        self._configure_vad()

    def send_session_created(self) -> None:
        """The first frame of every accepted connection."""
        self.app.send_event({"type": "session.created", "session": self.session})

    def expire(self) -> None:
        """The session reached its maximum duration: `session_expired`, then close 1001."""
        limit = self.app.config.session_max_duration
        amount = f"{limit / 60:g} minutes" if limit >= 60 else f"{limit:g} seconds"
        message = f"Your session hit the maximum duration of {amount}."
        self.app.send_error(Finding(code="session_expired", message=message))
        from .app import _Entry

        self.app.queue(_Entry("close", (1001, message)))

    # ------------------------------------------------------------ dispatch
    def handle(self, received: Received) -> None:
        """Answer one accepted client event."""
        for _ in self.handle_steps(received, steps=False):
            pass

    def handle_steps(self, received: Received, *, steps: bool = True) -> Iterator[None]:
        """`handle` in steps: an append's audio reaches the VAD `STEP_AUDIO` bytes per
        step (one append can hold a thousand speech turns, each a commit and a response),
        so the caller can give the loop back between steps. Every other event is one step.
        """
        event = received.event
        assert event is not None
        event_id = event.get("event_id")
        self.last_client_event_id = event_id if isinstance(event_id, str) else None
        if steps and event["type"] == "input_audio_buffer.append" and received.audio is not None:
            yield from self.feed_audio_steps(received.audio)
            return
        handler = self._handlers.get(event["type"])  # accepted: a known string type
        if handler is not None:
            handler(event, received)
        else:
            self.app.send_error(
                _unsupported_type(str(event.get("type")), self.last_client_event_id)
            )

    def fill_previous_item(self, event: dict[str, Any]) -> None:
        """Fill `previous_item_id` of conversation item events from the conversation order."""
        kind = event.get("type")
        if kind not in ("conversation.item.added", "conversation.item.done"):
            return
        item_id = event["item"].get("id")
        item = event["item"]
        if item_id in self.truncated:
            item = _without_transcript(item, self.truncated[item_id][0])
        self.items[item_id] = item  # assistant items become context for later turns
        if "previous_item_id" in event:
            return
        ids = self.app.session.conversation.item_ids
        if kind == "conversation.item.added":
            event["previous_item_id"] = ids[-1] if ids else None
        else:
            at = ids.index(item_id) if item_id in ids else 0
            event["previous_item_id"] = ids[at - 1] if at > 0 else None

    # ------------------------------------------------------------ session
    def _session_update(self, event: dict[str, Any], received: Received) -> None:
        update = event["session"]
        if update.get("type") != self.kind:
            self.app.send_error(
                Finding(
                    code="invalid_value",
                    message=(
                        f"Invalid value: '{update.get('type')}'. "
                        f"Supported values are: '{self.kind}'."
                    ),
                    param="session.type",
                    event_id=self.last_client_event_id,
                    hint="a session cannot change its type; open a new connection",
                )
            )
            return
        self.session = sc.merge_update(self.session, update)
        if isinstance(update.get("parallel_tool_calls"), bool):
            self.parallel_tool_calls = update["parallel_tool_calls"]
        self._configure_vad()
        self.app.send_event({"type": "session.updated", "session": self.session})
        self.mcp.list_new_servers(self)  # §5(j): an MCP server named first: list its tools

    def _configure_vad(self) -> None:
        detection = sc.turn_detection(self.session)
        # The format of *this* session object: the core learns an update's format only
        # when session.updated goes out, after this runs.
        fmt = sc.input_format(self.session)
        if detection is None:
            self.vad = None
            self.probe = ServerVad(bytes_per_ms=BYTES_PER_MS.get(fmt, 48), fmt=fmt)
            return
        self.probe = None
        self.vad = ServerVad(
            threshold=float(detection.get("threshold") or 0.5),
            prefix_padding_ms=int(detection.get("prefix_padding_ms") or 300),
            silence_duration_ms=sc.silence_ms(detection),
            bytes_per_ms=BYTES_PER_MS.get(fmt, 48),
            fmt=fmt,
        )

    # ---------------------------------------------------------------- audio
    def _append(self, event: dict[str, Any], received: Received) -> None:
        if received.audio is not None:
            self.feed_audio(received.audio)

    def feed_audio(self, audio: bytes) -> None:
        """Input audio (an append's, or a call's track): kept, and heard by the VAD."""
        for _ in self.feed_audio_steps(audio):
            pass

    def feed_audio_steps(self, audio: bytes) -> Iterator[None]:
        """`feed_audio`, the VAD fed `STEP_AUDIO` bytes per step (it gives the same
        boundaries for any cut of the audio), with a step between two pieces."""
        self.kept_audio.append(audio)
        if self.vad is None:
            if self.probe is not None and not self.heard:
                self.heard = bool(self.probe.feed(audio))
            return
        vad = self.vad
        cuts = vad.cuts(len(audio), STEP_AUDIO)
        for start, stop in zip(cuts, [*cuts[1:], len(audio)], strict=True):
            if start:
                yield
            for boundary in vad.feed(audio if stop - start == len(audio) else audio[start:stop]):
                if isinstance(boundary, SpeechStarted):
                    self._speech_started(boundary.audio_start_ms)
                elif isinstance(boundary, SpeechStopped):
                    self._speech_stopped(boundary.audio_end_ms)

    def _speech_started(self, start_ms: int) -> None:
        self.idle.disarm()
        self.heard = True
        self.speech_item_id = self.app.ids.new("item")
        self.app.send_event(
            {
                "type": "input_audio_buffer.speech_started",
                "audio_start_ms": start_ms,
                "item_id": self.speech_item_id,
            }
        )
        detection = sc.turn_detection(self.session) or {}
        if detection.get("interrupt_response", True):
            # Live order (protocol notes §5(g)): speech_started is out first, then the
            # response is cancelled, so the cancel waits for its turn in the outbox. The
            # response is looked up then, not now: one append can hold several turns, and
            # the previous turn's response may still be queued behind this event.
            from .app import _Entry

            self.app.queue(_Entry("call", self._barge_in))

    def _barge_in(self) -> None:
        """The user spoke over the response: it is cancelled; on a call, the audio still
        playing on the track is cleared too (`output_audio_buffer.cleared`, spec)."""
        self._interrupt("turn_detected")
        if self.app.audio_out is not None:
            self.app.audio_out.clear(by_client=False)

    def _speech_stopped(self, end_ms: int) -> None:
        item_id = self.speech_item_id or self.app.ids.new("item")
        self.app.send_event(
            {
                "type": "input_audio_buffer.speech_stopped",
                "audio_end_ms": end_ms,
                "item_id": item_id,
            }
        )
        self._commit_buffer(item_id, by_vad=True)
        detection = sc.turn_detection(self.session) or {}
        if self.kind == "realtime" and detection.get("create_response", True):
            self._start_response({}, event_id=None)

    def _commit(self, event: dict[str, Any], received: Received) -> None:
        self._commit_buffer(self.speech_item_id or self.app.ids.new("item"))

    def _commit_buffer(self, item_id: str, *, by_vad: bool = False) -> None:
        """Commit the buffer as `item_id`. A commit the VAD made (`by_vad`) leaves it as
        it is: it has stopped the speech itself, and it may have heard past the stop
        already (the next turn of the same append), which a reset would forget."""
        ms = self.app.session.audio_buffer_ms
        ids = self.app.session.conversation.item_ids
        self.app.send_event(
            {
                "type": "input_audio_buffer.committed",
                "previous_item_id": ids[-1] if ids else None,
                "item_id": item_id,
            }
        )
        item = {"id": item_id, "type": "message", "status": "completed", "role": "user",
                "content": [{"type": "input_audio", "transcript": None}]}  # fmt: skip
        self.items[item_id] = item
        self.audio_ms[item_id] = ms
        self.kept_audio.commit(item_id)
        self.app.send_event({"type": "conversation.item.added", "item": item})
        self.app.send_event({"type": "conversation.item.done", "item": item})
        self.speech_item_id = None
        if self.vad is not None and not by_vad:
            self.vad.reset()
        heard, self.heard = self.heard, False
        if self.probe is not None:
            self.probe.reset()
        self._transcribe(item_id, ms, heard=heard)

    def _transcribe(self, item_id: str, ms: float, *, heard: bool = True) -> None:
        audio_input = self.session.get("audio", {}).get("input", {})
        if not isinstance(audio_input.get("transcription"), Mapping):
            return
        transcript = f"(speech, {ms / 1000:.2f} s)"
        # Asynchronous, on its own clock: with the live pace it lands ~1.2 s after the
        # commit, usually among or after the response's events (protocol notes §5(g)).
        clock = self._pace().clock(f"{self.app.config.seed}/{item_id}", transcription=True)
        if not heard:  # no speech in it (silence, an idle timeout): nothing to transcribe
            self.app.start_stream(stream_transcription_failed(item_id, clock))
            return
        model = str(audio_input["transcription"].get("model") or "")
        segment_id = self.app.ids.new("seg") if "diarize" in model else None
        usage = sc.transcription_usage(
            audio_input["transcription"], ms / 1000, transcript, self.app.registry
        )
        self.app.start_stream(
            stream_transcription(
                item_id, transcript, ms / 1000, clock, usage=usage, segment_id=segment_id
            )
        )

    def _clear(self, event: dict[str, Any], received: Received) -> None:
        self.kept_audio.clear()
        self.heard = False
        if self.probe is not None:
            self.probe.reset()
        if self.vad is not None:
            self.vad.reset()
        self.speech_item_id = None
        self.app.send_event({"type": "input_audio_buffer.cleared"})

    # ---------------------------------------------------------------- items
    def _item_create(self, event: dict[str, Any], received: Received) -> None:
        item = dict(event["item"])
        item_id = item.get("id") or self.app.ids.new("item")
        images: list[ImageInfo] = []
        for index, part in enumerate(item.get("content") or ()):
            if isinstance(part, Mapping) and part.get("type") == "input_image":
                param = f"item.content[{index}].image_url"
                decoded = decode_image(
                    str(part.get("image_url", "")), param, received_event_id(event)
                )
                if isinstance(decoded, Finding):
                    self.app.send_error(decoded)
                    return
                images.append(decoded)
        item = {"id": item_id, **{k: v for k, v in item.items() if k != "id"}}
        item = self._keep_input_audio(item_id, item)
        if item.get("type") in _ITEMS_WITH_STATUS:  # MCP items have no status field
            item.setdefault("status", "completed")
        self.items[item_id] = item
        self.images[item_id] = images
        previous = event.get("previous_item_id")
        added: dict[str, Any] = {"type": "conversation.item.added", "item": item}
        if previous == "root":
            added["previous_item_id"] = None
        elif isinstance(previous, str):
            added["previous_item_id"] = previous
        self.app.send_event(added)
        self.app.send_event({"type": "conversation.item.done", "item": item})
        if self.mcp.awaits(self, item):  # the server goes on by itself (mock_server/mcp.py)
            self._start_response({}, event_id=None)

    def _keep_input_audio(self, item_id: str, item: dict[str, Any]) -> dict[str, Any]:
        """A client-created item's `input_audio` bytes are kept for retrieve and left out
        of the `.added`/`.done` echo (the spec: those events omit audio data)."""
        content = item.get("content")
        if not isinstance(content, list):
            return item
        echoed = []
        for part in content:
            if isinstance(part, Mapping) and part.get("type") == "input_audio":
                audio = part.get("audio")
                if isinstance(audio, str):
                    data = decode_audio_b64(audio)
                    self.kept_audio.keep(item_id, data)
                    self.audio_ms[item_id] = (
                        len(data) / self.app.session.conversation.input_bytes_per_ms
                    )
                part = {"transcript": None, **{k: v for k, v in part.items() if k != "audio"}}
            echoed.append(part)
        return {**item, "content": echoed}

    def _item_retrieve(self, event: dict[str, Any], received: Received) -> None:
        item_id = event["item_id"]
        item = self.items.get(item_id, {"id": item_id})
        self.app.send_event({"type": "conversation.item.retrieved", "item": self._with_audio(item)})

    def _with_audio(self, item: Mapping[str, Any]) -> dict[str, Any]:
        """The item as `conversation.item.retrieved` shows it: with its audio (spec)."""
        item_id = str(item.get("id"))
        content = item.get("content")
        if not isinstance(content, list):
            return dict(item)
        parts = []
        for part in content:
            part = dict(part) if isinstance(part, Mapping) else part
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "input_audio" and self.kept_audio.get(item_id) is not None:
                part["audio"] = base64.b64encode(self.kept_audio.get(item_id) or b"").decode()
            elif kind == "output_audio" and item_id in self.output_audio:
                part["audio"] = self._output_audio_b64(item_id)
            parts.append(part)
        return {**item, "content": parts}

    def _output_audio_b64(self, item_id: str) -> str:
        chunks, fmt = self.output_audio[item_id]
        data = b"".join(base64.b64decode(chunk) for chunk in chunks)
        if item_id in self.truncated:
            data = data[: self.truncated[item_id][1] * BYTES_PER_MS.get(fmt, 48)]
        return base64.b64encode(data).decode()

    def _item_delete(self, event: dict[str, Any], received: Received) -> None:
        item_id = event["item_id"]
        self.items.pop(item_id, None)
        self.kept_audio.drop(item_id)
        self.output_audio.pop(item_id, None)
        deleted = {"type": "conversation.item.deleted", "item_id": item_id}
        streaming = [
            entry
            for entry in self.streams.values()
            if item_id == entry[0].item_id or any(item_id == i for i, _ in entry[0].more_calls)
        ]
        self.app.send_event(deleted)
        if not streaming:
            return
        # Deleted while its response streams [INFERRED: the spec has no rule; issue 13]:
        # `conversation.item.deleted` first, then the item's events stop and the response
        # ends at once, cancelled, without the deleted item in its output.
        plan, stream, finished = streaming[0]
        from .app import _Entry

        def end_response() -> None:
            plan.deleted.add(item_id)
            plan.item_deleted = True
            plan.stop = plan.stop or "client_cancelled"
            self.app.drain_stream(stream, finished, skip=lambda e: _names_item(e, item_id))

        self.app.queue(_Entry("call", end_response))

    def _item_truncate(self, event: dict[str, Any], received: Received) -> None:
        # Truncating deletes the server-side transcript too (spec), and cuts the audio.
        item_id, index = event["item_id"], event["content_index"]
        self.truncated[item_id] = (index, event["audio_end_ms"])
        if item_id in self.items:
            self.items[item_id] = _without_transcript(self.items[item_id], index)
        self.app.send_event(
            {
                "type": "conversation.item.truncated",
                "item_id": event["item_id"],
                "content_index": event["content_index"],
                "audio_end_ms": event["audio_end_ms"],
            }
        )

    # ------------------------------------------------------------ responses
    def _response_create(self, event: dict[str, Any], received: Received) -> None:
        if self.kind != "realtime":
            self.app.send_error(
                Finding(
                    code="invalid_request_error",
                    message="Responses are not supported in transcription sessions.",
                    event_id=self.last_client_event_id,
                )
            )
            return
        params = event.get("response")
        self._start_response(params if isinstance(params, Mapping) else {}, event_id=None)

    def _start_response(self, params: Mapping[str, Any], *, event_id: str | None) -> None:
        # Planned when its turn in the outbox comes, so it sees every item queued before it.
        from .app import _Entry

        self.app.queue(_Entry("call", lambda: self._begin_response(params)))

    def _begin_response(self, params: Mapping[str, Any]) -> None:
        if params.get("conversation") != "none" and (
            self.app.session.active_response_id or self._conversation_response()
        ):
            return  # a VAD turn while a response runs (interrupt_response off): no second one
        self.turn += 1
        if params.get("conversation") != "none":
            self.idle.disarm()
        failure = self.pending_failures.pop(0) if self.pending_failures else None
        plan = plan_response(self, params, failure=failure)
        # Planning reads every item of the context: a long conversation costs this turn
        # of the loop as much as that many small events (the rest waits for the next).
        self.app.spend(len(self.items) // PLAN_ITEMS_PER_EVENT)
        self.last_response_id = plan.response_id
        stream = stream_response(plan, self._pace())

        def finished() -> None:
            self.streams.pop(plan.response_id, None)
            self._rate_limits(plan)
            if plan.conversation_id is not None:
                self._arm_idle_timeout(plan)

        self.streams[plan.response_id] = (plan, stream, finished)
        self.output_audio[plan.item_id] = (plan.audio_chunks, str(plan.output_format.get("type")))
        self.app.start_stream(stream, finished)

    def _arm_idle_timeout(self, plan: ResponsePlan) -> None:
        """server_vad `idle_timeout_ms`: due after the response's audio played plus the
        timeout (spec `RealtimeTurnDetection.idle_timeout_ms`)."""
        timeout = (sc.turn_detection(self.session) or {}).get("idle_timeout_ms")
        if self.vad is None or not isinstance(timeout, int) or isinstance(timeout, bool):
            return
        conversation = self.app.session.conversation
        info = conversation.items.get(plan.item_id)
        playback_ms = info.audio_bytes / conversation.output_bytes_per_ms if info else 0.0
        generation = self.idle.arm(self.vad.position_ms)
        from .app import _Entry

        fire = _Entry("call", lambda: self._idle_timeout(generation))
        self.app.queue(fire, delay_ms=playback_ms + timeout)

    def _idle_timeout(self, generation: int) -> None:
        """No speech since the last response: `timeout_triggered`, the silent audio is
        committed as an item, and a response prompts the user (spec
        `RealtimeServerEventInputAudioBufferTimeoutTriggered`)."""
        detection = sc.turn_detection(self.session) or {}
        timeout = detection.get("idle_timeout_ms")
        if not self.idle.due(generation) or self.vad is None or self.vad.speaking:
            return
        if detection.get("type") != "server_vad" or not isinstance(timeout, int):
            return  # turn detection changed since the timer was armed
        if self.app.session.active_response_id is not None:
            return  # a response runs: its end arms the timer again
        start_ms, end_ms = self.idle.span(self.vad.position_ms, timeout)
        item_id = self.app.ids.new("item")
        self.app.send_event(
            {
                "type": "input_audio_buffer.timeout_triggered",
                "audio_start_ms": start_ms,
                "audio_end_ms": end_ms,
                "item_id": item_id,
            }
        )
        self._commit_buffer(item_id)
        self._start_response({}, event_id=None)

    def _pace(self) -> Pace:
        from .app import pace_of

        return pace_of(self.app.config)

    def _rate_limits(self, plan: ResponsePlan) -> None:
        # Live: one `tokens` entry, ~40 ms after response.done (protocol notes §7).
        self.tokens_remaining = max(0, self.tokens_remaining - 200)
        self.app.send_event(
            {
                "type": "rate_limits.updated",
                "rate_limits": [
                    {
                        "name": "tokens",
                        "limit": 15_000_000,
                        "remaining": self.tokens_remaining,
                        "reset_seconds": 0.001,
                    }
                ],
            }
        )

    def _output_audio_clear(self, event: dict[str, Any], received: Received) -> None:
        # WebRTC/SIP: cut off the audio being played (spec: should follow response.cancel)
        if self.app.audio_out is not None:
            self.app.audio_out.clear(by_client=True)
        else:  # a WebSocket session (its validator normally refuses it first)
            self.app.send_error(_unsupported_type(event["type"], self.last_client_event_id))

    def _response_cancel(self, event: dict[str, Any], received: Received) -> None:
        wanted = event.get("response_id")
        target = wanted if isinstance(wanted, str) else self.app.session.active_response_id
        if target is None:
            target = next(iter(self.streams), None)
        if target is not None:
            self._cancel(target, "client_cancelled")

    def _conversation_response(self) -> str | None:
        """The default-conversation response being written (begun, not yet finished)."""
        for response_id, (plan, _, _) in self.streams.items():
            if plan.conversation_id is not None:
                return response_id
        return None

    def _interrupt(self, reason: str) -> None:
        response_id = self._conversation_response() or self.app.session.active_response_id
        if response_id is not None:
            self._cancel(response_id, reason)

    def _cancel(self, response_id: str, reason: str) -> None:
        entry = self.streams.get(response_id)
        if entry is None:
            return
        plan, stream, finished = entry
        plan.stop = reason
        self.app.drain_stream(stream, finished)


def received_event_id(event: Mapping[str, Any]) -> str | None:
    """The client's `event_id`, if it sent a string one."""
    value = event.get("event_id")
    return value if isinstance(value, str) else None


def _names_item(event: Mapping[str, Any], item_id: str) -> bool:
    """Whether a server event is about item `item_id` (by `item_id` or its `item`)."""
    item = event.get("item")
    return event.get("item_id") == item_id or (
        isinstance(item, Mapping) and item.get("id") == item_id
    )


def _without_transcript(item: Mapping[str, Any], index: object) -> dict[str, Any]:
    """The item with the transcript of content part `index` deleted (after a truncate)."""
    content = item.get("content")
    if not isinstance(content, list) or not isinstance(index, int) or not 0 <= index < len(content):
        return dict(item)
    parts = list(content)
    part = parts[index]
    if isinstance(part, Mapping):
        parts[index] = {k: v for k, v in part.items() if k != "transcript"}
    return {**item, "content": parts}


def decode_audio_b64(text: str) -> bytes:
    """Base64 audio of a client item; undecodable text keeps no audio."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return b""
