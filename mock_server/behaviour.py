"""The default, live-like answer to every GA client event (protocol notes §5).

`Behaviour` holds what the protocol core does not: the full items (for retrieve and
for the reply), decoded images, the effective session object, the VAD and the
response streams in flight. It queues events on its `MockApp`; it never writes frames.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from conformance.protocol import Finding, Received
from conformance.schemas._messages import out_of_range

from . import session_config as sc
from .media import ImageInfo, decode_image
from .planning import plan_response
from .responder import Pace, ResponsePlan, stream_response, stream_transcription
from .vad import ServerVad, SpeechStarted, SpeechStopped

if TYPE_CHECKING:
    from .app import MockApp
    from .handshake import Accepted

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


class View:
    """The `hooks.StateView` of one connection."""

    def __init__(self, behaviour: Behaviour) -> None:
        self._b = behaviour

    @property
    def session_id(self) -> str:
        return self._b.app.session_id

    @property
    def model(self) -> str | None:
        return self._b.app.request.model

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
    def last_client_event_id(self) -> str | None:
        return self._b.last_client_event_id

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
        self.conversation_id = app.ids.new("conv")
        self.turn = 0
        self.last_response_id: str | None = None
        self.last_client_event_id: str | None = None
        self.reply_override: str | None = None
        self.pending_failures: list[Mapping[str, Any]] = []
        self.streams: dict[str, tuple[ResponsePlan, Any, Callable[[], None]]] = {}
        self.vad: ServerVad | None = None
        self.speech_item_id: str | None = None
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
        event = received.event
        assert event is not None
        event_id = event.get("event_id")
        self.last_client_event_id = event_id if isinstance(event_id, str) else None
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
        self.items[item_id] = event["item"]  # assistant items become context for later turns
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
        over = self._over_model_limit(update, "session")
        if over is not None:
            self.app.send_error(over)
            return
        self.session = sc.merge_update(self.session, update)
        self._configure_vad()
        self.app.send_event({"type": "session.updated", "session": self.session})

    def _configure_vad(self) -> None:
        detection = sc.turn_detection(self.session)
        if detection is None:
            self.vad = None
            return
        silence = detection.get("silence_duration_ms")
        self.vad = ServerVad(
            threshold=float(detection.get("threshold") or 0.5),
            prefix_padding_ms=int(detection.get("prefix_padding_ms") or 300),
            silence_duration_ms=int(silence if isinstance(silence, int) else 500),
            bytes_per_ms=self.app.session.conversation.input_bytes_per_ms,
        )

    # ---------------------------------------------------------------- audio
    def _append(self, event: dict[str, Any], received: Received) -> None:
        if self.vad is None or received.audio is None:
            return
        for boundary in self.vad.feed(received.audio):
            if isinstance(boundary, SpeechStarted):
                self._speech_started(boundary.audio_start_ms)
            elif isinstance(boundary, SpeechStopped):
                self._speech_stopped(boundary.audio_end_ms)

    def _speech_started(self, start_ms: int) -> None:
        self.speech_item_id = self.app.ids.new("item")
        self.app.send_event(
            {
                "type": "input_audio_buffer.speech_started",
                "audio_start_ms": start_ms,
                "item_id": self.speech_item_id,
            }
        )
        detection = sc.turn_detection(self.session) or {}
        active = self.app.session.active_response_id
        if detection.get("interrupt_response", True) and active is not None:
            # Live order (protocol notes §5(g)): speech_started is out first, then the
            # response is cancelled, so the cancel waits for its turn in the outbox.
            from .app import _Entry

            self.app.queue(_Entry("call", lambda: self._cancel(active, "turn_detected")))

    def _speech_stopped(self, end_ms: int) -> None:
        item_id = self.speech_item_id or self.app.ids.new("item")
        self.app.send_event(
            {
                "type": "input_audio_buffer.speech_stopped",
                "audio_end_ms": end_ms,
                "item_id": item_id,
            }
        )
        self._commit_buffer(item_id)
        detection = sc.turn_detection(self.session) or {}
        if self.kind == "realtime" and detection.get("create_response", True):
            self._start_response({}, event_id=None)

    def _commit(self, event: dict[str, Any], received: Received) -> None:
        self._commit_buffer(self.speech_item_id or self.app.ids.new("item"))

    def _commit_buffer(self, item_id: str) -> None:
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
        self.app.send_event({"type": "conversation.item.added", "item": item})
        self.app.send_event({"type": "conversation.item.done", "item": item})
        self.speech_item_id = None
        if self.vad is not None:
            self.vad.reset()
        self._transcribe(item_id, ms)

    def _transcribe(self, item_id: str, ms: float) -> None:
        audio_input = self.session.get("audio", {}).get("input", {})
        if not isinstance(audio_input.get("transcription"), Mapping):
            return
        transcript = f"(speech, {ms / 1000:.2f} s)"
        # Asynchronous, on its own clock: with the live pace it lands ~1.2 s after the
        # commit, usually among or after the response's events (protocol notes §5(g)).
        clock = self._pace().clock(f"{self.app.config.seed}/{item_id}", transcription=True)
        self.app.start_stream(stream_transcription(item_id, transcript, ms / 1000, clock))

    def _clear(self, event: dict[str, Any], received: Received) -> None:
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

    def _item_retrieve(self, event: dict[str, Any], received: Received) -> None:
        item = self.items.get(event["item_id"], {"id": event["item_id"]})
        self.app.send_event({"type": "conversation.item.retrieved", "item": item})

    def _item_delete(self, event: dict[str, Any], received: Received) -> None:
        self.items.pop(event["item_id"], None)
        for plan, _, _ in self.streams.values():
            if plan.item_id == event["item_id"]:
                plan.item_deleted = True
        self.app.send_event({"type": "conversation.item.deleted", "item_id": event["item_id"]})

    def _item_truncate(self, event: dict[str, Any], received: Received) -> None:
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
        over = self._over_model_limit(params, "response")
        if over is not None:
            self.app.send_error(over)
            return
        self._start_response(params if isinstance(params, Mapping) else {}, event_id=None)

    def _over_model_limit(self, params: object, where: str) -> Finding | None:
        """`max_output_tokens` above the session model's limit (models.yaml), or None.

        The schema bounds it by the largest limit of any model (32,000); a 4,096-token
        model refuses more, worded like the schema's bounds [wording INFERRED].
        """
        value = params.get("max_output_tokens") if isinstance(params, Mapping) else None
        if not isinstance(value, int) or isinstance(value, bool):
            return None
        info = self.app.registry.get(str(self.session.get("model") or ""))
        limit = info.max_output_tokens if info is not None else None
        if limit is None or value <= limit:
            return None
        param = f"{where}.max_output_tokens"
        code, message = out_of_range(param, "integer", limit, value, above=True)
        return Finding(
            code=code,
            message=message,
            param=param,
            event_id=self.last_client_event_id,
            hint=f'{self.session.get("model")} writes at most {limit} tokens; or send "inf"',
        )

    def _start_response(self, params: Mapping[str, Any], *, event_id: str | None) -> None:
        # Planned when its turn in the outbox comes, so it sees every item queued before it.
        from .app import _Entry

        self.app.queue(_Entry("call", lambda: self._begin_response(params)))

    def _begin_response(self, params: Mapping[str, Any]) -> None:
        if params.get("conversation") != "none" and self.app.session.active_response_id:
            return  # a VAD turn while a response runs (interrupt_response off): no second one
        self.turn += 1
        failure = self.pending_failures.pop(0) if self.pending_failures else None
        plan = plan_response(self, params, failure=failure)
        self.last_response_id = plan.response_id
        stream = stream_response(plan, self._pace())

        def finished() -> None:
            self.streams.pop(plan.response_id, None)
            self._rate_limits(plan)

        self.streams[plan.response_id] = (plan, stream, finished)
        self.app.start_stream(stream, finished)

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

    def _response_cancel(self, event: dict[str, Any], received: Received) -> None:
        wanted = event.get("response_id")
        target = wanted if isinstance(wanted, str) else self.app.session.active_response_id
        if target is None:
            target = next(iter(self.streams), None)
        if target is not None:
            self._cancel(target, "client_cancelled")

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
