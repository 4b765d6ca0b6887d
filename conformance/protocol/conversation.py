"""The shared conversation state: what both ends know after the server's events.

`Conversation` is updated only by *server* events (the server is authoritative about
items, responses and the audio buffer) and judges *client* events against that state.
`Session` wraps it for one side; the transcript replay uses it for both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import rules
from .findings import Finding
from .states import (
    BYTES_PER_MS,
    ITEM_ONLY_EVENTS,
    ITEM_REFERENCE_ERRORS,
    ITEM_TRANSITIONS,
    LISTING_TRANSITIONS,
    MIN_COMMIT_MS,
    PART_STREAM_DELTAS,
    PART_STREAM_DONES,
    PART_STREAMS,
    ItemStage,
    ListingState,
    PartState,
    ResponseState,
)

Event = Mapping[str, Any]
_CALL_ITEM_TYPES = frozenset({"function_call", "mcp_call"})


@dataclass(slots=True)
class Part:
    """Machine 4: one content part of an output item."""

    type: str
    state: PartState = PartState.OPEN
    done_streams: set[str] = field(default_factory=set)


@dataclass(slots=True)
class OutputItem:
    """Machine 3: one output item of a response."""

    id: str
    type: str
    stage: ItemStage = ItemStage.OUTPUT_ADDED
    parts: list[Part] = field(default_factory=list)
    conversation_done: bool = False
    output_done: bool = False
    # The client deleted it while its response streamed: its events stop there, and the
    # response may end without its .done events [INFERRED: the spec has no rule; issue 13].
    deleted: bool = False

    def content_complete(self) -> bool:
        """Every part is done, call arguments (if they started) are done, and an MCP
        call that started running has completed or failed."""
        if any(part.state is not PartState.DONE for part in self.parts):
            return False
        running = (ItemStage.STREAMING, ItemStage.CALL_RUNNING)
        return not (self.type in _CALL_ITEM_TYPES and self.stage in running)


@dataclass(slots=True)
class Response:
    """Machine 2: one response and its output items."""

    id: str
    in_default_conversation: bool
    state: ResponseState = ResponseState.IN_PROGRESS
    items: list[OutputItem] = field(default_factory=list)

    def item(self, item_id: object) -> OutputItem | None:
        """The output item with this id, if the response has it."""
        for item in self.items:
            if item.id == item_id:
                return item
        return None


@dataclass(slots=True)
class ItemInfo:
    """What the conversation remembers of an item for later client references."""

    type: str | None
    role: str | None
    has_output_audio: bool = False
    audio_bytes: int = 0
    call_id: str | None = None
    audio_index: int | None = None  # the content index of its output_audio part


def _text(value: object) -> str | None:
    """A string id or type, or None: JSON from a peer may hold lists or numbers there."""
    return value if isinstance(value, str) else None


def _parts(item: Event) -> list[Any]:
    content = item.get("content")
    return content if isinstance(content, list) else []


def _item_info(item: Event) -> ItemInfo:
    audio_index = next(
        (
            index
            for index, p in enumerate(_parts(item))
            if isinstance(p, Mapping) and p.get("type") == "output_audio"
        ),
        None,
    )
    call_id = _text(item.get("call_id")) if item.get("type") == "function_call" else None
    return ItemInfo(
        type=_text(item.get("type")),
        role=_text(item.get("role")),
        has_output_audio=audio_index is not None,
        call_id=call_id,
        audio_index=audio_index,
    )


class ModelFacts(Protocol):
    """What the conversation rules need to know about a model (`conformance.models.ModelInfo`
    fits); the core never reads the registry itself: the adapters inject a lookup."""

    @property
    def reasoning(self) -> bool: ...

    @property
    def max_output_tokens(self) -> int | None: ...


ModelLookup = Callable[[str], "ModelFacts | None"]


class Conversation:
    """Items, responses, the input audio buffer and the effective session config.

    `models` looks a model up by name for the rules that depend on it (reasoning,
    `max_output_tokens` above the model's limit); None skips those rules.
    """

    def __init__(self, models: ModelLookup | None = None) -> None:
        self.models = models
        self.item_ids: list[str] = []
        self.items: dict[str, ItemInfo] = {}
        self.known_item_ids: set[str] = set()  # ever added, for late transcription events
        self.call_ids: set[str] = set()
        self.listings: dict[str, ListingState] = {}  # mcp_list_tools items (machine 6)
        self.responses: dict[str, Response] = {}
        self.active_response_id: str | None = None
        self.audio_buffer_bytes = 0
        self.session: Mapping[str, Any] | None = None
        self.assistant_audio = False
        self._handlers: dict[str, Callable[[Event], list[str]]] = {
            "session.created": self._on_session,
            "session.updated": self._on_session,
            "conversation.item.added": self._on_item_added,
            "conversation.item.done": self._on_item_done,
            "conversation.item.deleted": self._on_item_deleted,
            "conversation.item.retrieved": self._on_item_retrieved,
            "conversation.item.truncated": self._on_item_truncated,
            "input_audio_buffer.committed": self._on_committed,
            "input_audio_buffer.cleared": self._on_cleared,
            "response.created": self._on_response_created,
            "response.output_item.added": self._on_output_item_added,
            "response.output_item.done": self._on_output_item_done,
            "response.content_part.added": self._on_part_added,
            "response.content_part.done": self._on_part_done,
            "response.done": self._on_response_done,
        }
        for name in PART_STREAM_DELTAS:
            self._handlers[name] = self._on_stream_delta
        for name in PART_STREAM_DONES:
            self._handlers[name] = self._on_stream_done
        for name in ITEM_ONLY_EVENTS:
            self._handlers[name] = self._on_item_only_transition
        for name in ITEM_TRANSITIONS:
            self._handlers.setdefault(name, self._on_item_transition)
        for name in LISTING_TRANSITIONS:
            self._handlers[name] = self._on_listing
        for name in (
            "conversation.item.input_audio_transcription.delta",
            "conversation.item.input_audio_transcription.completed",
            "conversation.item.input_audio_transcription.failed",
            "conversation.item.input_audio_transcription.segment",
        ):
            self._handlers[name] = self._on_transcription

    # ----------------------------------------------------------------- views
    @property
    def audio_buffer_ms(self) -> float:
        """Milliseconds of audio in the input buffer, at the session's input format."""
        return self.audio_buffer_bytes / self.input_bytes_per_ms

    @property
    def input_bytes_per_ms(self) -> int:
        """Bytes per ms of the session's input audio format (PCM16 24 kHz by default)."""
        fmt = _dig(self.session, "audio", "input", "format", "type")
        return BYTES_PER_MS.get(fmt if isinstance(fmt, str) else "audio/pcm", 48)

    @property
    def output_bytes_per_ms(self) -> int:
        """Bytes per ms of the session's output audio format."""
        fmt = _dig(self.session, "audio", "output", "format", "type")
        return BYTES_PER_MS.get(fmt if isinstance(fmt, str) else "audio/pcm", 48)

    # --------------------------------------------------------- server events
    def apply_server_event(self, event: Event) -> list[str]:
        """Apply one server event; return the ordering rules it broke (empty if none)."""
        kind = _text(event.get("type"))
        handler = self._handlers.get(kind) if kind is not None else None
        return handler(event) if handler is not None else []

    def _on_session(self, event: Event) -> list[str]:
        session = event.get("session")
        if isinstance(session, Mapping):
            self.session = session
        return []

    def _on_item_added(self, event: Event) -> list[str]:
        item = event.get("item")
        item_id = _text(item.get("id")) if isinstance(item, Mapping) else None
        if item_id is None or not isinstance(item, Mapping):
            return []  # not an item with an id: the schema checks report that
        found = self._find_output_item(item_id)
        if found is not None and not found[0].in_default_conversation:
            return [f"out-of-band item {item_id!r} entered the default conversation"]
        problems = self._transition_output_item(event, item_id)
        if item_id in self.items:
            problems.append(f"item {item_id!r} was added to the conversation twice")
            return problems
        previous = _text(event.get("previous_item_id"))
        if event.get("previous_item_id") is not None and previous is None:
            problems.append(f"previous_item_id {event['previous_item_id']!r} is not an item id")
        if "previous_item_id" not in event:
            position = len(self.item_ids)  # no position given: appended
        elif previous is None:
            position = 0  # first item, or inserted at the root
        elif previous in self.items:
            position = self.item_ids.index(previous) + 1
        else:
            problems.append(f"previous_item_id {previous!r} names no item in the conversation")
            position = len(self.item_ids)
        self.item_ids.insert(position, item_id)
        info = _item_info(item)
        self.items[item_id] = info
        self.known_item_ids.add(item_id)
        if info.call_id is not None:
            self.call_ids.add(info.call_id)
        if info.type == "mcp_list_tools":
            self.listings[item_id] = ListingState.ADDED
        return problems

    def _on_item_done(self, event: Event) -> list[str]:
        item = event.get("item")
        item_id = _text(item.get("id")) if isinstance(item, Mapping) else None
        if item_id is None or item_id not in self.items or not isinstance(item, Mapping):
            return [f"conversation.item.done for {item_id!r}, which was never added"]
        problems = []
        if self.listings.get(item_id) is ListingState.IN_PROGRESS:
            problems.append(f"conversation.item.done for {item_id!r} while its tools are listed")
        info, done_info = self.items[item_id], _item_info(item)
        info.has_output_audio |= done_info.has_output_audio
        if done_info.audio_index is not None:
            info.audio_index = done_info.audio_index
        if done_info.call_id is not None:
            info.call_id = done_info.call_id
            self.call_ids.add(done_info.call_id)
        found = self._find_output_item(item_id)
        if found is None:
            return problems
        _, output = found
        problems += self._check_item_can_end(output, "conversation.item.done")
        if output.stage < ItemStage.IN_CONVERSATION:
            problems.append(f"conversation.item.done for {item_id!r} before its .added")
        output.conversation_done = True
        return problems

    def _on_item_deleted(self, event: Event) -> list[str]:
        item_id = _text(event.get("item_id"))
        if item_id is None or item_id not in self.items:
            shown = event.get("item_id")
            return [f"conversation.item.deleted for {shown!r}, which is not in the conversation"]
        self.item_ids.remove(item_id)
        found = self._find_output_item(item_id)
        if found is not None:
            found[1].deleted = True
        info = self.items.pop(item_id)
        if info.call_id is not None:  # output for a deleted call is rejected (catalog 24)
            self.call_ids.discard(info.call_id)
        return []

    def _on_item_retrieved(self, event: Event) -> list[str]:
        item = event.get("item")
        item_id = _text(item.get("id")) if isinstance(item, Mapping) else None
        if item_id is None or item_id not in self.items:
            return [f"conversation.item.retrieved for {item_id!r}, not in the conversation"]
        return []

    def _on_item_truncated(self, event: Event) -> list[str]:
        item_id = _text(event.get("item_id"))
        info = self.items.get(item_id) if item_id is not None else None
        if info is None:
            shown = event.get("item_id")
            return [f"conversation.item.truncated for {shown!r}, not in the conversation"]
        end_ms = event.get("audio_end_ms")
        if isinstance(end_ms, int):
            info.audio_bytes = min(info.audio_bytes, end_ms * self.output_bytes_per_ms)
        return []

    def _on_committed(self, event: Event) -> list[str]:
        self.audio_buffer_bytes = 0
        problems = []
        item_id = _text(event.get("item_id"))
        if item_id is not None and item_id in self.items:
            problems.append(f"input_audio_buffer.committed reuses item id {item_id!r}")
        previous = event.get("previous_item_id")
        if previous is not None and (_text(previous) is None or previous not in self.items):
            problems.append(f"previous_item_id {previous!r} names no item in the conversation")
        return problems

    def _on_cleared(self, event: Event) -> list[str]:
        self.audio_buffer_bytes = 0
        return []

    def _on_transcription(self, event: Event) -> list[str]:
        item_id = _text(event.get("item_id"))
        if item_id is None or item_id not in self.known_item_ids:
            return [f"{event['type']} for {item_id!r}, which was never added"]
        return []

    def _on_response_created(self, event: Event) -> list[str]:
        response = event.get("response")
        if not isinstance(response, Mapping):
            return []
        response_id = _text(response.get("id"))
        if response_id is None:
            return []  # not a response with an id: the schema checks report that
        if response_id in self.responses:
            return [f"response.created repeats response id {response_id!r}"]
        default = response.get("conversation_id") is not None
        problems = []
        if default and self.active_response_id is not None:
            problems.append(
                f"response.created for {response_id!r} while {self.active_response_id!r} "
                "is still active in the default conversation"
            )
        self.responses[response_id] = Response(id=response_id, in_default_conversation=default)
        if default:
            self.active_response_id = response_id
        return problems

    def _response_for(self, event: Event) -> tuple[Response | None, list[str]]:
        response_id = _text(event.get("response_id"))
        response = self.responses.get(response_id) if response_id is not None else None
        if response is None:
            shown = event.get("response_id")
            return None, [f"{event['type']} names response {shown!r}, never created"]
        if response.state is ResponseState.DONE:
            return None, [f"{event['type']} for response {response_id!r} after its response.done"]
        return response, []

    def _on_output_item_added(self, event: Event) -> list[str]:
        response, problems = self._response_for(event)
        item = event.get("item")
        if response is None or not isinstance(item, Mapping):
            return problems
        item_id = _text(item.get("id"))
        if item_id is None:
            return problems  # not an item with an id: the schema checks report that
        if event.get("output_index") != len(response.items):
            problems.append(
                f"response.output_item.added has output_index {event.get('output_index')!r}; "
                f"expected {len(response.items)}"
            )
        if item_id in self.items or response.item(item_id) is not None:
            problems.append(f"response.output_item.added reuses item id {item_id!r}")
        response.items.append(OutputItem(id=item_id, type=str(_text(item.get("type")))))
        return problems

    def _output_item_for(self, event: Event) -> tuple[OutputItem | None, list[str]]:
        response, problems = self._response_for(event)
        if response is None:
            return None, problems
        item = response.item(event.get("item_id"))
        if item is None:
            name = event.get("item_id")
            return None, [f"{event['type']} names item {name!r}, not an output item of it"]
        if item.deleted:
            return None, [f"{event['type']} for item {item.id!r} after conversation.item.deleted"]
        return item, []

    def _transition_output_item(self, event: Event, item_id: str) -> list[str]:
        """Apply ITEM_TRANSITIONS to an output item named by `item_id`, if there is one."""
        found = self._find_output_item(item_id)
        if found is None:
            return []
        response, item = found
        allowed, after = ITEM_TRANSITIONS[str(event["type"])]
        if not response.in_default_conversation and item.stage is ItemStage.OUTPUT_ADDED:
            allowed = allowed | {ItemStage.OUTPUT_ADDED}
        problems = []
        if item.stage not in allowed:
            problems.append(
                f"{event['type']} for item {item_id!r} in stage {item.stage.name.lower()}; "
                f"expected after {_describe(allowed)}"
            )
        item.stage = max(item.stage, after)
        return problems

    def _on_item_only_transition(self, event: Event) -> list[str]:
        """An MCP call event: it names its output item by `item_id` only."""
        item_id = _text(event.get("item_id"))
        found = self._find_output_item(item_id) if item_id is not None else None
        if found is None:
            shown = event.get("item_id")
            return [f"{event['type']} names item {shown!r}, not an output item of a response"]
        if found[1].type != "mcp_call":
            return [f"{event['type']} for item {item_id!r} of type {found[1].type!r}"]
        assert item_id is not None
        return self._transition_output_item(event, item_id)

    def _on_listing(self, event: Event) -> list[str]:
        """Machine 6: `mcp_list_tools.*` of an `mcp_list_tools` item in the conversation."""
        item_id = _text(event.get("item_id"))
        state = self.listings.get(item_id) if item_id is not None else None
        if state is None or item_id not in self.items:
            shown = event.get("item_id")
            return [f"{event['type']} for {shown!r}, not an mcp_list_tools item"]
        allowed, after = LISTING_TRANSITIONS[str(event["type"])]
        self.listings[str(item_id)] = after
        if state not in allowed:
            wanted = " or ".join(sorted(s.value for s in allowed))
            return [f"{event['type']} for {item_id!r} in state {state.value}; expected {wanted}"]
        return []

    def _on_item_transition(self, event: Event) -> list[str]:
        item, problems = self._output_item_for(event)
        if item is None:
            return problems
        return self._transition_output_item(event, item.id)

    def _on_part_added(self, event: Event) -> list[str]:
        item, problems = self._output_item_for(event)
        if item is None:
            return problems
        problems = self._transition_output_item(event, item.id)
        if event.get("content_index") != len(item.parts):
            problems.append(
                f"response.content_part.added has content_index {event.get('content_index')!r}; "
                f"expected {len(item.parts)}"
            )
        part = event.get("part")
        part_type = part.get("type") if isinstance(part, Mapping) else None
        item.parts.append(Part(type=str(part_type)))
        return problems

    def _part_for(self, event: Event) -> tuple[OutputItem | None, Part | None, list[str]]:
        item, problems = self._output_item_for(event)
        if item is None:
            return None, None, problems
        index = event.get("content_index")
        if not isinstance(index, int) or not 0 <= index < len(item.parts):
            return item, None, [f"{event['type']} before response.content_part.added ({index!r})"]
        part = item.parts[index]
        if part.state is PartState.DONE:
            return item, None, [f"{event['type']} after response.content_part.done"]
        return item, part, []

    def _on_stream_delta(self, event: Event) -> list[str]:
        item, part, problems = self._part_for(event)
        if part is None or item is None:
            return problems
        stream = PART_STREAM_DELTAS[str(event["type"])]
        if stream not in PART_STREAMS.get(part.type, frozenset()):
            problems.append(f"{event['type']} in a content part of type {part.type!r}")
        elif stream in part.done_streams:
            problems.append(f"{event['type']} after its .done event")
        if stream == "audio":
            self.assistant_audio = True
            delta = event.get("delta")
            if isinstance(delta, str) and item.id in self.items:
                info = self.items[item.id]
                info.audio_bytes += _b64_len(delta)
                info.has_output_audio = True
                if info.audio_index is None and isinstance(event.get("content_index"), int):
                    info.audio_index = event["content_index"]
        return problems

    def _on_stream_done(self, event: Event) -> list[str]:
        _, part, problems = self._part_for(event)
        if part is None:
            return problems
        stream = PART_STREAM_DONES[str(event["type"])]
        if stream in part.done_streams:
            problems.append(f"{event['type']} sent twice for one content part")
        part.done_streams.add(stream)
        return problems

    def _on_part_done(self, event: Event) -> list[str]:
        _, part, problems = self._part_for(event)
        if part is None:
            return problems
        missing = PART_STREAMS.get(part.type, frozenset()) - part.done_streams
        if missing:
            names = ", ".join(sorted(f"{s}.done" for s in missing))
            problems.append(f"response.content_part.done before the part's {names}")
        part.state = PartState.DONE
        return problems

    def _check_item_can_end(self, item: OutputItem, name: str) -> list[str]:
        if item.content_complete():
            return []
        return [f"{name} for item {item.id!r} while its content is still streaming"]

    def _on_output_item_done(self, event: Event) -> list[str]:
        response, problems = self._response_for(event)
        item_event = event.get("item")
        if response is None or not isinstance(item_event, Mapping):
            return problems
        item = response.item(item_event.get("id"))
        if item is None:
            return [f"response.output_item.done for {item_event.get('id')!r}, never added"]
        if item.deleted:
            return [f"response.output_item.done for {item.id!r} after conversation.item.deleted"]
        problems = self._check_item_can_end(item, "response.output_item.done")
        if response.in_default_conversation and item.stage < ItemStage.IN_CONVERSATION:
            problems.append(
                f"response.output_item.done for {item.id!r} before conversation.item.added"
            )
        item.output_done = True
        return problems

    def _on_response_done(self, event: Event) -> list[str]:
        body = event.get("response")
        if not isinstance(body, Mapping):
            return []
        response_id = _text(body.get("id"))
        response = self.responses.get(response_id) if response_id is not None else None
        if response is None:
            return [f"response.done for {body.get('id')!r}, which was never created"]
        if response.state is ResponseState.DONE:
            return [f"response.done sent twice for {response_id!r}"]
        completed = body.get("status") == "completed"
        problems = []
        for item in response.items:
            if item.deleted:
                continue
            if not item.output_done:
                problems.append(f"response.done before response.output_item.done of {item.id!r}")
            elif completed and response.in_default_conversation and not item.conversation_done:
                problems.append(f"response.done before conversation.item.done of {item.id!r}")
        response.state = ResponseState.DONE
        if self.active_response_id == response_id:
            self.active_response_id = None
        return problems

    def _find_output_item(self, item_id: str) -> tuple[Response, OutputItem] | None:
        active = self.responses.get(self.active_response_id or "")
        candidates = [active] if active is not None else []
        candidates += [r for r in self.responses.values() if r is not active]
        for response in candidates:
            if response.state is ResponseState.IN_PROGRESS:
                item = response.item(item_id)
                if item is not None:
                    return response, item
        return None

    # --------------------------------------------------------- client events
    def check_client_event(self, event: Event, audio: bytes | None = None) -> Finding | None:
        """The live server's rejection of a schema-valid client event, or None if accepted."""
        kind = event.get("type")
        if kind == "input_audio_buffer.append":  # the hot path: ~50 per second of audio
            return rules.bad_audio(_text(event.get("event_id"))) if audio is None else None
        kind = _text(kind)
        event_id = _text(event.get("event_id"))
        if kind in ITEM_REFERENCE_ERRORS:
            return self._check_item_reference(event, event_id)
        if kind == "conversation.item.create":
            return self._check_item_create(event, event_id)
        if kind == "response.create":
            response = event.get("response")
            out_of_band = isinstance(response, Mapping) and response.get("conversation") == "none"
            if self.active_response_id is not None and not out_of_band:
                return rules.active_response(self.active_response_id, event_id)
            if isinstance(response, Mapping):
                return self._check_response_params(response, event_id)
        elif kind == "response.cancel":
            wanted = event.get("response_id")
            active = [r.id for r in self.responses.values() if r.state is ResponseState.IN_PROGRESS]
            if not active or (wanted is not None and wanted not in active):
                return rules.cancel_not_active(event_id)
        elif kind == "input_audio_buffer.commit":
            if self.audio_buffer_ms < MIN_COMMIT_MS:
                return rules.commit_empty(self.audio_buffer_ms, event_id)
        elif kind == "session.update":
            return self._check_session_update(event, event_id)
        return None

    def apply_client_event(self, event: Event, audio: bytes | None = None) -> None:
        """Record an accepted client event (only the audio buffer changes on client input)."""
        if audio is not None and event.get("type") == "input_audio_buffer.append":
            self.audio_buffer_bytes += len(audio)

    def _check_item_reference(self, event: Event, event_id: str | None) -> Finding | None:
        code, verb = ITEM_REFERENCE_ERRORS[str(event["type"])]
        item_id = _text(event.get("item_id"))
        info = self.items.get(item_id) if item_id is not None else None
        if info is None:
            return rules.unknown_item(code, verb, str(item_id), event_id)
        if event["type"] != "conversation.item.truncate":
            return None
        if info.role != "assistant" or not info.has_output_audio:
            return rules.truncate_not_audio(event_id)
        index = event.get("content_index")
        if isinstance(index, int) and index != (info.audio_index or 0):
            return rules.truncate_wrong_part(index, event_id)
        have_ms = info.audio_bytes // self.output_bytes_per_ms
        want_ms = event.get("audio_end_ms")
        if isinstance(want_ms, int) and want_ms > have_ms:
            return rules.truncate_too_long(have_ms, want_ms, event_id)
        return None

    def _check_item_create(self, event: Event, event_id: str | None) -> Finding | None:
        item = event.get("item")
        if not isinstance(item, Mapping):
            return None
        item_id = _text(item.get("id"))
        if item_id is not None and item_id in self.items:
            return rules.duplicate_item(item_id, event_id)
        previous = _text(event.get("previous_item_id"))
        if isinstance(previous, str) and previous != "root" and previous not in self.items:
            return rules.unknown_previous_item(previous, event_id)
        if item.get("type") == "function_call_output":
            call_id = _text(item.get("call_id"))
            if call_id is not None and call_id not in self.call_ids:
                return rules.unknown_call_id(call_id, event_id)
        if item.get("role") == "assistant":
            for index, part in enumerate(_parts(item)):
                if isinstance(part, Mapping) and part.get("type") == "output_audio":
                    return rules.assistant_audio_content(index, event_id)
        return None

    def _check_session_update(self, event: Event, event_id: str | None) -> Finding | None:
        update = event.get("session")
        voice = _dig(update, "audio", "output", "voice")
        current = _dig(self.session, "audio", "output", "voice")
        if voice is not None and self.assistant_audio and voice != current:
            return rules.voice_locked(event_id)
        if not isinstance(update, Mapping):
            return None
        found = self._check_model_params(update, "session", event_id)
        if found is not None:
            return found
        session = self.session or {}
        tracing = session.get("tracing")
        if "tracing" in update and tracing is not None and update["tracing"] != tracing:
            return rules.tracing_locked(event_id)
        model = _dig(update, "audio", "input", "transcription", "model")
        if _dig(update, "audio", "input", "transcription") is None:
            model = _dig(session, "audio", "input", "transcription", "model")
        detection = _dig(update, "audio", "input", "turn_detection")
        audio_input = _dig(update, "audio", "input")
        if not (isinstance(audio_input, Mapping) and "turn_detection" in audio_input):
            detection = _dig(session, "audio", "input", "turn_detection")
        if model in rules.NO_VAD_TRANSCRIPTION_MODELS and detection is not None:
            return rules.vad_unsupported(str(model), event_id)
        tools = update["tools"] if "tools" in update else session.get("tools")
        return _check_tool_choice(update, tools, "session", event_id)

    def _check_response_params(self, response: Event, event_id: str | None) -> Finding | None:
        given = response.get("input")
        for index, item in enumerate(given if isinstance(given, list) else ()):
            if isinstance(item, Mapping) and item.get("type") == "item_reference":
                ref = _text(item.get("id"))
                if ref is not None and ref not in self.items:
                    return rules.unknown_reference(index, ref, event_id)
        found = self._check_model_params(response, "response", event_id)
        if found is not None:
            return found
        tools = response["tools"] if "tools" in response else (self.session or {}).get("tools")
        return _check_tool_choice(response, tools, "response", event_id)

    def _check_model_params(
        self, params: Event, where: str, event_id: str | None
    ) -> Finding | None:
        """Rules that depend on the session's model (fixtures/models.yaml)."""
        model = _text((self.session or {}).get("model"))
        if model is None:
            return None  # a transcription session, or no session.created yet
        info = self.models(model) if self.models is not None else None
        if info is None:
            return None
        if "reasoning" in params and not info.reasoning:
            return rules.reasoning_unsupported(f"{where}.reasoning", model, event_id)
        value = params.get("max_output_tokens")
        limit = info.max_output_tokens
        if (
            isinstance(value, int)
            and not isinstance(value, bool)
            and limit is not None
            and value > limit
        ):
            return rules.above_model_limit(
                f"{where}.max_output_tokens", model, limit, value, event_id
            )
        return None


def _check_tool_choice(
    params: Event, tools: object, where: str, event_id: str | None
) -> Finding | None:
    """A `tool_choice` naming a function that is not among the tools in effect."""
    choice = params.get("tool_choice")
    if not (isinstance(choice, Mapping) and choice.get("type") == "function"):
        return None
    name = _text(choice.get("name"))
    if name is None:
        return None  # the schema reports a missing or non-string name
    names = {
        t.get("name")
        for t in (tools if isinstance(tools, list) else ())
        if isinstance(t, Mapping) and t.get("type") == "function"
    }
    if name in names:
        return None
    return rules.unknown_tool_choice(f"{where}.tool_choice.name", name, event_id)


def _dig(value: object, *keys: str) -> object:
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _b64_len(text: str) -> int:
    """Decoded length of base64 text, without decoding it."""
    padding = text.count("=", max(0, len(text) - 2))
    return len(text) * 3 // 4 - padding


def _describe(stages: frozenset[ItemStage]) -> str:
    events = {
        ItemStage.OUTPUT_ADDED: "response.output_item.added",
        ItemStage.IN_CONVERSATION: "conversation.item.added",
        ItemStage.STREAMING: "the content started",
        ItemStage.CONTENT_DONE: "the content finished",
        ItemStage.CALL_RUNNING: "response.mcp_call.in_progress",
        ItemStage.CALL_ENDED: "the MCP call ended",
    }
    return " or ".join(events[s] for s in sorted(stages))
