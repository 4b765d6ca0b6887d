"""Shared test helpers: a client/server `SessionPair` and builders of live GA event sequences.

`SessionPair` joins a `Session(Side.CLIENT)` and a `Session(Side.SERVER)` with a fake
wire (h11's `ConnectionPair` idea)::

    pair = SessionPair()
    pair.server_sends(session_created())
    received = pair.client_sends({"type": "response.create", "event_id": "evt_1"})
    assert received.ok                      # what the *server* made of the client event
    for received in pair.server_sends_all(text_response(RESP, ITEM, "Hello", deltas=3)):
        assert received.ok                  # what the *client* made of each server event

The builders return live-ordered GA events (protocol notes §5) as plain dicts. Their
`event_id`s come from an `IdFactory`: pass `ids=` to share one factory across a test, or
leave it out and get ids seeded from the builder's arguments (same arguments, same ids).
"""

from __future__ import annotations

import base64
import copy
import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from conformance.fuzzing._events import session_created as live_session_created
from conformance.protocol import (
    PROTOCOL_ERROR,
    Finding,
    IdFactory,
    Received,
    Session,
    Side,
    plain_encode,
)

Event = dict[str, Any]
Direction = Literal["client", "server"]
Frame = tuple[Direction, str]

CONVERSATION_ID = IdFactory("tests.helpers").new("conv")
"""The `conversation_id` every default-conversation response builder uses by default."""

MODEL = "gpt-realtime"
PCM_BYTES_PER_MS = 48  # audio/pcm: PCM16 mono at 24 kHz


# --------------------------------------------------------------------------- the fake wire
class SessionPair:
    """A client `Session` and a server `Session` joined by an in-memory wire.

    `client_sends` / `server_sends` go through the sender's `send()` (so its own rules
    apply and may raise `LocalProtocolError`), then through the receiver's
    `receive_text()`; they return the receiver's `Received` for that one frame.
    `to_server` / `to_client` put a frame on the wire directly, bypassing the sender's
    session: use them to feed a peer's misbehaviour. Every `Received` is also logged in
    `server_received` / `client_received`, and every frame in `wire` as a transcript
    (`replay(pair.wire)` re-checks the whole exchange).
    """

    def __init__(self, *, client_strict: bool = True, server_strict: bool = True) -> None:
        self.client = Session(Side.CLIENT, strict=client_strict)
        self.server = Session(Side.SERVER, strict=server_strict)
        self.client_received: list[Received] = []
        self.server_received: list[Received] = []
        self.wire: list[Frame] = []

    def client_sends(self, event: Mapping[str, Any]) -> Received:
        """`client.send(event)`, then deliver the frame; return the server's `Received`."""
        self.client.send(event)
        (frame,) = self.client.data_to_send()
        return self.to_server(frame)

    def server_sends(self, event: Mapping[str, Any]) -> Received:
        """`server.send(event)`, then deliver the frame; return the client's `Received`."""
        self.server.send(event)
        (frame,) = self.server.data_to_send()
        return self.to_client(frame)

    def server_sends_all(self, events: Iterable[Mapping[str, Any]]) -> list[Received]:
        """`server_sends` each event in order; return the client's `Received` records."""
        return [self.server_sends(event) for event in events]

    def to_server(self, frame: Mapping[str, Any] | str) -> Received:
        """Deliver a raw frame (an event or its text) to the server, bypassing the client."""
        received = _deliver(self.server, frame)
        self.wire.append(("client", received.text or ""))
        self.server_received.append(received)
        return received

    def to_client(self, frame: Mapping[str, Any] | str) -> Received:
        """Deliver a raw frame (an event or its text) to the client, bypassing the server."""
        received = _deliver(self.client, frame)
        self.wire.append(("server", received.text or ""))
        self.client_received.append(received)
        return received

    def open(self, **session_fields: Any) -> Received:
        """Send `session_created(**session_fields)` from the server; return the client's view."""
        return self.server_sends(session_created(**session_fields))

    def add_user_text(
        self, item_id: str, text: str = "Hello", previous_item_id: str | None = None
    ) -> list[Received]:
        """The server adds a completed user text message (§5c); return the client's view."""
        return self.server_sends_all(
            item_added_done(user_text_item(item_id, text), previous_item_id)
        )


def _deliver(receiver: Session, frame: Mapping[str, Any] | str) -> Received:
    text = frame if isinstance(frame, str) else encode(frame)
    receiver.receive_text(text)
    (received,) = receiver.events_received()
    return received


def encode(event: Mapping[str, Any]) -> str:
    """A frame's text, as `Session` encodes it by default."""
    return plain_encode(event)


def client_frame(event: Mapping[str, Any] | str) -> Frame:
    """A transcript frame sent by the client, for `replay()`."""
    return ("client", event if isinstance(event, str) else encode(event))


def server_frame(event: Mapping[str, Any] | str) -> Frame:
    """A transcript frame sent by the server, for `replay()`."""
    return ("server", event if isinstance(event, str) else encode(event))


def state_snapshot(session: Session) -> dict[str, Any]:
    """A deep copy of everything a `Session` remembers, to assert that nothing changed."""
    conversation = session.conversation
    return copy.deepcopy(
        {
            "state": session.state,
            "response_pending": session.response_pending,
            "errors": [str(error) for error in session.errors],
            "item_ids": conversation.item_ids,
            "items": conversation.items,
            "known_item_ids": conversation.known_item_ids,
            "call_ids": conversation.call_ids,
            "responses": conversation.responses,
            "active_response_id": conversation.active_response_id,
            "audio_buffer_bytes": conversation.audio_buffer_bytes,
            "session": conversation.session,
            "assistant_audio": conversation.assistant_audio,
        }
    )


# ----------------------------------------------------------------------------- ids
def _ids(ids: IdFactory | None, *seed_parts: object) -> IdFactory:
    return ids if ids is not None else IdFactory("/".join(str(part) for part in seed_parts))


def new_ids(seed: int | str = 0) -> IdFactory:
    """A fresh deterministic id factory (`ids.new("item")` -> `item_` + 21 alphanumerics)."""
    return IdFactory(seed)


# ------------------------------------------------------------------------ client events
def response_create(*, event_id: str | None = None, out_of_band: bool = False) -> Event:
    """`response.create` for the default conversation, or out of band (`conversation: none`)."""
    event: Event = {"type": "response.create"}
    if event_id is not None:
        event["event_id"] = event_id
    if out_of_band:
        event["response"] = {"conversation": "none", "output_modalities": ["text"]}
    return event


def audio_append(
    ms: float, *, bytes_per_ms: int = PCM_BYTES_PER_MS, event_id: str | None = None
) -> Event:
    """`input_audio_buffer.append` carrying `ms` milliseconds of silence."""
    audio = base64.b64encode(bytes(round(ms * bytes_per_ms))).decode()
    event: Event = {"type": "input_audio_buffer.append", "audio": audio}
    if event_id is not None:
        event["event_id"] = event_id
    return event


def user_text_item(item_id: str, text: str = "Hello") -> Event:
    """A completed user text message as the server echoes it (§4)."""
    return {
        "id": item_id,
        "type": "message",
        "status": "completed",
        "role": "user",
        "content": [{"type": "input_text", "text": text}],
    }


# ------------------------------------------------------------------------ server events
def session_created(
    *,
    session_id: str = "sess_" + "A" * 21,
    voice: str = "alloy",
    input_format: str = "audio/pcm",
    output_format: str = "audio/pcm",
    turn_detection: Mapping[str, Any] | None = None,
    ids: IdFactory | None = None,
) -> Event:
    """The live `session.created` (§3.1 observed shape, §5a); server VAD unless overridden."""
    event = live_session_created(session_id, MODEL)
    audio = event["session"]["audio"]
    audio["input"]["format"] = _audio_format(input_format)
    if turn_detection:
        audio["input"]["turn_detection"] = dict(turn_detection)
    audio["output"]["format"] = _audio_format(output_format)
    audio["output"]["voice"] = voice
    event_id = _ids(ids, "session.created", session_id).new("event")
    return {"type": "session.created", "event_id": event_id, "session": event["session"]}


def _audio_format(kind: str) -> Event:
    return {"type": kind, "rate": 24000} if kind == "audio/pcm" else {"type": kind}


def item_added_done(
    item: Mapping[str, Any], previous_item_id: str | None = None, *, ids: IdFactory | None = None
) -> list[Event]:
    """`conversation.item.added` then `conversation.item.done` for one item (§5c)."""
    factory = _ids(ids, "item", item.get("id"))
    return [
        {
            "type": kind,
            "event_id": factory.new("event"),
            "previous_item_id": previous_item_id,
            "item": dict(item),
        }
        for kind in ("conversation.item.added", "conversation.item.done")
    ]


def split(text: str, pieces: int) -> list[str]:
    """`text` cut into `pieces` consecutive chunks (some may be empty when text is short)."""
    if pieces < 1:
        raise ValueError(f"pieces={pieces!r} must be >= 1")
    cuts = [len(text) * i // pieces for i in range(pieces + 1)]
    return [text[a:b] for a, b in itertools.pairwise(cuts)]


def _chunks(text: str, deltas: int | Sequence[str]) -> list[str]:
    if isinstance(deltas, int):
        return split(text, deltas)
    if "".join(deltas) != text:
        raise ValueError(f"deltas {list(deltas)!r} do not join to {text!r}")
    return list(deltas)


class _Response:
    """Builds the events of one response in live order; the public builders use it."""

    def __init__(
        self,
        response_id: str,
        conversation_id: str | None,
        ids: IdFactory,
        modality: str,
    ) -> None:
        self.response_id = response_id
        self.conversation_id = conversation_id
        self.ids = ids
        self.modality = modality
        self.output: list[Event] = []
        self.events: list[Event] = []

    def emit(self, kind: str, **fields: Any) -> None:
        event = {"type": kind, "event_id": self.ids.new("event"), **fields}
        self.events.append(copy.deepcopy(event))

    def body(self, status: str, output: list[Event], **extra: Any) -> Event:
        return {
            "object": "realtime.response",
            "id": self.response_id,
            "status": status,
            "status_details": None,
            "output": output,
            "conversation_id": self.conversation_id,
            "output_modalities": [self.modality],
            "max_output_tokens": "inf",
            "audio": {"output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy"}},
            "usage": None,
            "metadata": None,
            **extra,
        }

    def created(self) -> None:
        self.emit("response.created", response=self.body("in_progress", []))

    def item_added(self, item: Event, previous_item_id: str | None) -> None:
        index = len(self.output)
        self.output.append(item)
        self.emit(
            "response.output_item.added",
            response_id=self.response_id,
            output_index=index,
            item=item,
        )
        if self.conversation_id is not None:
            self.emit("conversation.item.added", previous_item_id=previous_item_id, item=item)

    def scoped(self, kind: str, item_id: str, **fields: Any) -> None:
        self.emit(
            kind,
            response_id=self.response_id,
            item_id=item_id,
            output_index=len(self.output) - 1,
            **fields,
        )

    def item_done(self, item: Event, previous_item_id: str | None) -> None:
        # §5d steps 9-10: live sends conversation.item.done before response.output_item.done
        self.output[-1] = item
        if self.conversation_id is not None:
            self.emit("conversation.item.done", previous_item_id=previous_item_id, item=item)
        self.emit(
            "response.output_item.done",
            response_id=self.response_id,
            output_index=len(self.output) - 1,
            item=item,
        )

    def done(self, status: str = "completed", status_details: Event | None = None) -> None:
        usage = {
            "total_tokens": 30,
            "input_tokens": 20,
            "output_tokens": 10,
            "input_token_details": {"text_tokens": 20, "audio_tokens": 0, "cached_tokens": 0},
            "output_token_details": {"text_tokens": 10, "audio_tokens": 0},
        }
        body = self.body(status, list(self.output), usage=usage)
        body["status_details"] = status_details
        self.emit("response.done", response=body)
        self.emit(
            "rate_limits.updated",
            rate_limits=[
                {"name": "tokens", "limit": 40000, "remaining": 39970, "reset_seconds": 0.1}
            ],
        )


def _message(item_id: str, status: str, content: list[Event]) -> Event:
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": content,
    }


def _text_events(
    response: _Response,
    item_id: str,
    text: str,
    deltas: int | Sequence[str],
    previous_item_id: str | None,
    status: str = "completed",
) -> None:
    response.item_added(_message(item_id, "in_progress", []), previous_item_id)
    response.scoped(
        "response.content_part.added", item_id, content_index=0, part={"type": "text", "text": ""}
    )
    for chunk in _chunks(text, deltas):
        response.scoped(
            "response.output_text.delta", item_id, content_index=0, delta=chunk, obfuscation="x"
        )
    response.scoped("response.output_text.done", item_id, content_index=0, text=text)
    response.scoped(
        "response.content_part.done", item_id, content_index=0, part={"type": "text", "text": text}
    )
    content = [{"type": "output_text", "text": text}]
    response.item_done(_message(item_id, status, content), previous_item_id)


def text_response(
    response_id: str,
    item_id: str,
    text: str = "Hello there!",
    *,
    deltas: int | Sequence[str] = 1,
    conversation_id: str = CONVERSATION_ID,
    previous_item_id: str | None = None,
    ids: IdFactory | None = None,
) -> list[Event]:
    """A text-only response in the live order of §5d (steps 2-12; no user item).

    `deltas` is how many `response.output_text.delta` events to split `text` into, or the
    exact chunks (which must join to `text`).
    """
    response = _Response(
        response_id, conversation_id, _ids(ids, "text", response_id, item_id), "text"
    )
    response.created()
    _text_events(response, item_id, text, deltas, previous_item_id)
    response.done()
    return response.events


def audio_response(
    response_id: str,
    item_id: str,
    transcript: str = "Hello there!",
    *,
    audio: bytes = bytes(100 * PCM_BYTES_PER_MS),
    audio_deltas: int = 2,
    transcript_deltas: int = 2,
    conversation_id: str = CONVERSATION_ID,
    previous_item_id: str | None = None,
    ids: IdFactory | None = None,
) -> list[Event]:
    """An audio response in the order of §5e: transcript and audio deltas interleaved.

    The default `audio` is 100 ms of PCM16 silence, cut into `audio_deltas` deltas.
    """
    response = _Response(
        response_id, conversation_id, _ids(ids, "audio", response_id, item_id), "audio"
    )
    response.created()
    response.item_added(_message(item_id, "in_progress", []), previous_item_id)
    response.scoped(
        "response.content_part.added",
        item_id,
        content_index=0,
        part={"type": "audio", "transcript": ""},
    )
    words = split(transcript, transcript_deltas)
    cuts = [len(audio) * i // audio_deltas for i in range(audio_deltas + 1)]
    sounds = [base64.b64encode(audio[a:b]).decode() for a, b in itertools.pairwise(cuts)]
    for index in range(max(len(words), len(sounds))):
        if index < len(words):
            response.scoped(
                "response.output_audio_transcript.delta",
                item_id,
                content_index=0,
                delta=words[index],
                obfuscation="x",
            )
        if index < len(sounds):
            response.scoped(
                "response.output_audio.delta", item_id, content_index=0, delta=sounds[index]
            )
    response.scoped("response.output_audio.done", item_id, content_index=0)
    response.scoped(
        "response.output_audio_transcript.done", item_id, content_index=0, transcript=transcript
    )
    response.scoped(
        "response.content_part.done",
        item_id,
        content_index=0,
        part={"type": "audio", "transcript": transcript},
    )
    content = [{"type": "output_audio", "transcript": transcript}]
    response.item_done(_message(item_id, "completed", content), previous_item_id)
    response.done()
    return response.events


def function_call_response(
    response_id: str,
    item_id: str,
    call_id: str,
    name: str = "get_weather",
    arguments: str = '{"city":"Paris"}',
    *,
    deltas: int = 2,
    conversation_id: str = CONVERSATION_ID,
    previous_item_id: str | None = None,
    ids: IdFactory | None = None,
) -> list[Event]:
    """A response holding one function call, in the order of §5f (no content parts)."""
    response = _Response(
        response_id, conversation_id, _ids(ids, "call", response_id, item_id), "text"
    )
    response.created()
    item = {
        "id": item_id,
        "type": "function_call",
        "status": "in_progress",
        "call_id": call_id,
        "name": name,
        "arguments": "",
    }
    response.item_added(item, previous_item_id)
    for chunk in split(arguments, deltas):
        response.scoped(
            "response.function_call_arguments.delta", item_id, call_id=call_id, delta=chunk
        )
    response.scoped(
        "response.function_call_arguments.done",
        item_id,
        call_id=call_id,
        name=name,
        arguments=arguments,
    )
    response.item_done({**item, "status": "completed", "arguments": arguments}, previous_item_id)
    response.done()
    return response.events


def cancelled_response(
    response_id: str,
    item_id: str,
    partial_text: str = "Hel",
    *,
    deltas: int = 1,
    reason: str = "client_cancelled",
    conversation_id: str = CONVERSATION_ID,
    previous_item_id: str | None = None,
    ids: IdFactory | None = None,
) -> list[Event]:
    """A text response cut short by `response.cancel` (§5h).

    The open item still gets its terminal events with `status: "incomplete"`, then
    `response.done` with `status: "cancelled"`.
    """
    response = _Response(
        response_id, conversation_id, _ids(ids, "cancel", response_id, item_id), "text"
    )
    response.created()
    _text_events(response, item_id, partial_text, deltas, previous_item_id, status="incomplete")
    response.done("cancelled", {"type": "cancelled", "reason": reason})
    return response.events


def out_of_band_response(
    response_id: str,
    item_id: str,
    text: str = "Summary.",
    *,
    deltas: int | Sequence[str] = 1,
    ids: IdFactory | None = None,
) -> list[Event]:
    """An out-of-band text response (§5j): `conversation_id` null, no conversation.item.*."""
    response = _Response(response_id, None, _ids(ids, "oob", response_id, item_id), "text")
    response.created()
    _text_events(response, item_id, text, deltas, None)
    response.done()
    return response.events


# --------------------------------------------------------------------------- assertions
def rejection(pair: SessionPair, event: Mapping[str, Any]) -> Finding:
    """Deliver a client event straight to the server; return its one rejection `Finding`.

    Fails unless the server's `Received` holds exactly one finding and the server's
    state (conversation, audio buffer, responses) is exactly what it was before.
    """
    before = state_snapshot(pair.server)
    received = pair.to_server(event)
    if len(received.findings) != 1:
        raise AssertionError(f"expected one finding for {event!r}, got {received.findings!r}")
    if state_snapshot(pair.server) != before:
        raise AssertionError(f"the server's state changed after rejecting {event!r}")
    return received.findings[0]


def violations(session: Session, received: Received) -> list[str]:
    """The ordering problems a client `Session` reported for one server frame.

    Also checks that the report is consistent: every finding is a `protocol_error` /
    `event_out_of_order`, and `session.errors` holds one `RemoteProtocolError` per
    finding with the frame's `index` and `event_type` and the same message.
    """
    messages = [finding.message for finding in received.findings]
    for finding in received.findings:
        if (finding.type, finding.code) != (PROTOCOL_ERROR, "event_out_of_order"):
            raise AssertionError(f"not an ordering finding: {finding!r}")
    errors = [error for error in session.errors if error.index == received.index]
    if [str(error) for error in errors] != messages:
        raise AssertionError(f"errors {errors!r} do not match findings {messages!r}")
    if any(error.event_type != received.type for error in errors):
        raise AssertionError(f"errors {errors!r} do not name event type {received.type!r}")
    return messages


def all_findings(received: Iterable[Received]) -> list[Finding]:
    """Every finding of several `Received` records, in order."""
    return [finding for record in received for finding in record.findings]
