"""Every state and every transition of the GA Realtime protocol, as tables.

Theory of operation (h11 style): the protocol is a few small machines, each with its
own table here. Code elsewhere asks these tables; it never re-decides a rule.

1. Session lifecycle: CONNECTING until the server's first event, which must be
   `session.created` (or an `error` that precedes a handshake close). Then OPEN, then
   CLOSED. [protocol notes §5a: "No `conversation.created` is sent in GA".]
2. Response lifecycle, one machine per response id: `response.created` opens it and
   `response.done` closes it. At most one *default-conversation* response is active
   at a time; out-of-band responses (`conversation_id: null`) may overlap. [§5d, §5f,
   error `conversation_already_has_active_response`.]
3. Output item lifecycle, one machine per output item of a response: the order is
   `response.output_item.added` -> `conversation.item.added` (default conversation
   only) -> `response.content_part.added` -> deltas -> `*.done` ->
   `response.content_part.done` -> `conversation.item.done` and
   `response.output_item.done` (either order: the spec does not define it, live sends
   conversation.item.done first) -> the response's `response.done`. [§5d-§5f.]
4. Content part lifecycle inside an item: OPEN after `response.content_part.added`;
   its streams (text, audio, audio transcript) take deltas until their `.done`; DONE
   after `response.content_part.done`.
5. Input audio buffer: appended bytes accumulate; `input_audio_buffer.committed` or
   `.cleared` empty it; a commit needs at least 100 ms. [§2.1, error
   `input_audio_buffer_commit_empty`.]
6. MCP (§5j, order inferred): an `mcp_call` output item streams its arguments like a
   function call, then runs: `response.mcp_call.in_progress` -> `.completed` or
   `.failed`, before its item ends. An `mcp_list_tools` conversation item is listed
   between its `conversation.item.added` and `.done`: `mcp_list_tools.in_progress` ->
   `.completed` or `.failed`.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class Side(StrEnum):
    """Which end of the WebSocket a `Session` speaks for."""

    CLIENT = "client"
    SERVER = "server"


class SessionState(StrEnum):
    """Machine 1: the connection as a whole."""

    CONNECTING = "connecting"  # upgrade done, `session.created` not seen yet
    OPEN = "open"
    CLOSED = "closed"
    ERROR = "error"  # we sent something illegal (server side): the session refuses to go on


# Machine 1: which server events may come first. An `error` first is the live
# handshake rejection (beta header, key, model), followed at once by a close.
FIRST_SERVER_EVENTS = frozenset({"session.created", "error"})


class ResponseState(StrEnum):
    """Machine 2: one response."""

    IN_PROGRESS = "in_progress"
    DONE = "done"


class ItemStage(IntEnum):
    """Machine 3: one output item of a response. Values only grow."""

    OUTPUT_ADDED = 1  # response.output_item.added
    IN_CONVERSATION = 2  # conversation.item.added (default-conversation responses)
    STREAMING = 3  # a content part was added or function-call arguments started
    CONTENT_DONE = 4  # every part done / function_call_arguments.done
    CALL_RUNNING = 5  # response.mcp_call.in_progress (an MCP server runs the tool)
    CALL_ENDED = 6  # response.mcp_call.completed / .failed


# Machine 3 table: event -> (stages it may arrive in, stage after it).
# Out-of-band responses skip IN_CONVERSATION, so OUTPUT_ADDED is allowed where noted
# by the session code (it checks `in_default_conversation`).
ITEM_TRANSITIONS: dict[str, tuple[frozenset[ItemStage], ItemStage]] = {
    # §5d step 4: the assistant item enters the conversation right after output_item.added
    "conversation.item.added": (frozenset({ItemStage.OUTPUT_ADDED}), ItemStage.IN_CONVERSATION),
    # §5d step 5 / §5e step 4: parts open after the item is in the conversation
    "response.content_part.added": (
        frozenset({ItemStage.IN_CONVERSATION, ItemStage.STREAMING}),
        ItemStage.STREAMING,
    ),
    # §5f step 4: function-call arguments stream with no content parts
    "response.function_call_arguments.delta": (
        frozenset({ItemStage.IN_CONVERSATION, ItemStage.STREAMING}),
        ItemStage.STREAMING,
    ),
    # §5f step 5
    "response.function_call_arguments.done": (
        frozenset({ItemStage.IN_CONVERSATION, ItemStage.STREAMING}),
        ItemStage.CONTENT_DONE,
    ),
    # MCP calls (§5j): arguments stream like function calls
    "response.mcp_call_arguments.delta": (
        frozenset({ItemStage.IN_CONVERSATION, ItemStage.STREAMING}),
        ItemStage.STREAMING,
    ),
    "response.mcp_call_arguments.done": (
        frozenset({ItemStage.IN_CONVERSATION, ItemStage.STREAMING}),
        ItemStage.CONTENT_DONE,
    ),
    # The MCP server runs the call once its arguments are complete (§5j)
    "response.mcp_call.in_progress": (frozenset({ItemStage.CONTENT_DONE}), ItemStage.CALL_RUNNING),
    "response.mcp_call.completed": (frozenset({ItemStage.CALL_RUNNING}), ItemStage.CALL_ENDED),
    "response.mcp_call.failed": (frozenset({ItemStage.CALL_RUNNING}), ItemStage.CALL_ENDED),
}
# Events that name an output item by `item_id` only (no `response_id` in their schema).
ITEM_ONLY_EVENTS = frozenset(
    {"response.mcp_call.in_progress", "response.mcp_call.completed", "response.mcp_call.failed"}
)


class ListingState(StrEnum):
    """Machine 6: the tool listing of one `mcp_list_tools` conversation item."""

    ADDED = "added"  # conversation.item.added
    IN_PROGRESS = "in_progress"  # mcp_list_tools.in_progress
    ENDED = "ended"  # mcp_list_tools.completed / .failed


# Machine 6 table: event -> (states it may arrive in, state after it).
LISTING_TRANSITIONS: dict[str, tuple[frozenset[ListingState], ListingState]] = {
    "mcp_list_tools.in_progress": (frozenset({ListingState.ADDED}), ListingState.IN_PROGRESS),
    "mcp_list_tools.completed": (frozenset({ListingState.IN_PROGRESS}), ListingState.ENDED),
    "mcp_list_tools.failed": (frozenset({ListingState.IN_PROGRESS}), ListingState.ENDED),
}


class PartState(StrEnum):
    """Machine 4: one content part."""

    OPEN = "open"
    DONE = "done"


# Machine 4 table: delta / done event -> the stream of the part it belongs to.
PART_STREAM_DELTAS: dict[str, str] = {
    "response.output_text.delta": "text",
    "response.output_audio.delta": "audio",
    "response.output_audio_transcript.delta": "transcript",
}
PART_STREAM_DONES: dict[str, str] = {
    "response.output_text.done": "text",
    "response.output_audio.done": "audio",
    "response.output_audio_transcript.done": "transcript",
}
# Which streams a part of each `part.type` carries (§2.2 notes: `text` or `audio`).
PART_STREAMS: dict[str, frozenset[str]] = {
    "text": frozenset({"text"}),
    "audio": frozenset({"audio", "transcript"}),
}

# Events that end an output item; both must come (either order) before response.done,
# except that out-of-band items never enter the conversation.
ITEM_END_EVENTS = frozenset({"conversation.item.done", "response.output_item.done"})

# Every server event that belongs to one response and names it by `response_id`.
RESPONSE_SCOPED_EVENTS = frozenset(
    {
        "response.output_item.added",
        "response.output_item.done",
        "response.content_part.added",
        "response.content_part.done",
        *PART_STREAM_DELTAS,
        *PART_STREAM_DONES,
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.mcp_call_arguments.delta",
        "response.mcp_call_arguments.done",
    }
)

# Machine 5: audio formats -> bytes per millisecond of audio (§8 "Audio formats").
BYTES_PER_MS: dict[str, int] = {
    "audio/pcm": 48,  # PCM16 mono at 24 kHz: 24 samples/ms x 2 bytes
    "audio/pcmu": 8,  # G.711 at 8 kHz, 1 byte per sample
    "audio/pcma": 8,
}
MIN_COMMIT_MS = 100.0  # input_audio_buffer.commit needs at least this much audio

# Client events that name an existing item, and the live error code for a missing one
# (catalog ITEM-ID: these codes appear in many clients' benign-error lists).
ITEM_REFERENCE_ERRORS: dict[str, tuple[str, str]] = {
    "conversation.item.delete": ("item_delete_invalid_item_id", "deleting"),
    "conversation.item.retrieve": ("item_retrieve_invalid_item_id", "retrieving"),
    "conversation.item.truncate": ("item_truncate_invalid_item_id", "truncating"),
}
