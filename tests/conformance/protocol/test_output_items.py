"""Machines 3 and 4: output items of a response and their content parts (§5d-§5f, §5j).

Item order: `response.output_item.added` -> `conversation.item.added` (default
conversation only) -> `response.content_part.added` -> deltas -> `*.done` ->
`response.content_part.done` -> `conversation.item.done` and `response.output_item.done`
(either order) -> `response.done`.
"""

import itertools

import pytest

from conformance.protocol import ItemStage, LocalProtocolError, PartState
from conformance.protocol.states import (
    ITEM_END_EVENTS,
    ITEM_ONLY_EVENTS,
    ITEM_TRANSITIONS,
    PART_STREAM_DELTAS,
    PART_STREAM_DONES,
    PART_STREAMS,
)
from tests.helpers import (
    all_findings,
    audio_response,
    function_call_response,
    new_ids,
    out_of_band_response,
    text_response,
    user_text_item,
    violations,
)

IDS = new_ids("output items")
RESP, RESP2 = IDS.new("resp"), IDS.new("resp")
ITEM, ITEM2, USER = IDS.new("item"), IDS.new("item"), IDS.new("item")
CALL = IDS.new("call")

STAGE_EVENTS = {
    ItemStage.OUTPUT_ADDED: "response.output_item.added",
    ItemStage.IN_CONVERSATION: "conversation.item.added",
    ItemStage.STREAMING: "the content started",
    ItemStage.CONTENT_DONE: "the content finished",
    ItemStage.CALL_RUNNING: "response.mcp_call.in_progress",
    ItemStage.CALL_ENDED: "the MCP call ended",
}
# Only an MCP call runs on a server: function calls end at CONTENT_DONE.
MCP_STAGES = (ItemStage.CALL_RUNNING, ItemStage.CALL_ENDED)


def before(events, kind):
    """The events up to (not including) the first one of type `kind`."""
    return events[: next(i for i, e in enumerate(events) if e["type"] == kind)]


def first(events, kind):
    return next(e for e in events if e["type"] == kind)


def scoped(kind, *, item_id=ITEM, response_id=RESP, **fields):
    """A response-scoped event for output item 0 of RESP."""
    return {
        "type": kind,
        "event_id": IDS.new("event"),
        "response_id": response_id,
        "item_id": item_id,
        "output_index": 0,
        **fields,
    }


def call_item(stage, item_type="function_call", *, default=True):
    """The events that bring call item ITEM of RESP to `stage` (call items have no parts)."""
    events = function_call_response(RESP, ITEM, CALL)
    if not default:
        events[0]["response"]["conversation_id"] = None
        events = [e for e in events if not e["type"].startswith("conversation.item.")]
    if item_type == "mcp_call":
        for event in events:
            event["type"] = event["type"].replace("function_call_arguments", "mcp_call_arguments")
            if "item" in event:
                event["item"]["type"] = "mcp_call"
    if stage in MCP_STAGES:
        events = call_item(ItemStage.CONTENT_DONE, item_type, default=default)
        running = {"type": "response.mcp_call.in_progress", "item_id": ITEM, "output_index": 0}
        ended = {**running, "type": "response.mcp_call.completed"}
        return [*events, running, ended][: len(events) + MCP_STAGES.index(stage) + 1]
    last = {
        ItemStage.OUTPUT_ADDED: "response.output_item.added",
        ItemStage.IN_CONVERSATION: "conversation.item.added",
        ItemStage.STREAMING: f"response.{item_type}_arguments.delta",
        ItemStage.CONTENT_DONE: f"response.{item_type}_arguments.done",
    }[stage]
    return events[: [e["type"] for e in events].index(last) + 1]


def transition_event(kind, item_type):
    if kind == "conversation.item.added":
        return {"type": kind, "previous_item_id": None, "item": {"id": ITEM, "type": item_type}}
    if kind == "response.content_part.added":
        return scoped(kind, content_index=0, part={"type": "text", "text": ""})
    if kind in ITEM_ONLY_EVENTS:
        return {"type": kind, "event_id": IDS.new("event"), "item_id": ITEM, "output_index": 0}
    return scoped(kind, delta="{}", arguments="{}", call_id=CALL)


def stage_problem(kind, stage, allowed):
    expected = " or ".join(STAGE_EVENTS[s] for s in sorted(allowed))
    return f"{kind} for item {ITEM!r} in stage {stage.name.lower()}; expected after {expected}"


class TestItemTransitionsTable:
    @pytest.mark.parametrize("stage", list(ItemStage))
    @pytest.mark.parametrize("kind", sorted(ITEM_TRANSITIONS))
    def test_each_row_is_accepted_in_its_stages_and_reported_in_the_others(self, pair, kind, stage):
        """ITEM_TRANSITIONS: (stages the event may arrive in, stage after it), §5d-§5f, §5j."""
        allowed, after = ITEM_TRANSITIONS[kind]
        item_type = "mcp_call" if "mcp" in kind else "function_call"
        if stage in MCP_STAGES:
            item_type = "mcp_call"
        for event in call_item(stage, item_type):
            assert pair.to_client(event).ok
        received = pair.to_client(transition_event(kind, item_type))
        problems = violations(pair.client, received)
        if stage in allowed:
            assert problems == []
        else:
            assert problems[0] == stage_problem(kind, stage, allowed)
        assert pair.client.conversation.responses[RESP].items[0].stage == max(stage, after)

    @pytest.mark.parametrize(
        "kind", sorted(k for k in ITEM_TRANSITIONS if k != "conversation.item.added")
    )
    def test_out_of_band_items_skip_the_conversation_stage(self, pair, kind):
        """§5j: out-of-band items go from output_item.added straight to their content."""
        item_type = "mcp_call" if "mcp" in kind else "function_call"
        for event in call_item(ItemStage.OUTPUT_ADDED, item_type, default=False):
            assert pair.to_client(event).ok
        assert pair.to_client(transition_event(kind, item_type)).ok

    @pytest.mark.parametrize(
        "kind", sorted(k for k in ITEM_TRANSITIONS if k != "conversation.item.added")
    )
    def test_a_transition_for_an_item_the_response_lacks_is_reported(self, pair, kind):
        """Scoped events name an output item of their response by `item_id`."""
        pair.to_client(function_call_response(RESP, ITEM, CALL)[0])
        event = transition_event(kind, "function_call") | {"item_id": "item_other"}
        received = pair.to_client(event)
        where = "a response" if kind in ITEM_ONLY_EVENTS else "it"
        assert violations(pair.client, received) == [
            f"{kind} names item 'item_other', not an output item of {where}"
        ]

    @pytest.mark.parametrize("kind", sorted(ITEM_ONLY_EVENTS))
    def test_mcp_call_events_for_a_function_call_are_reported(self, pair, kind):
        """§5j: only an `mcp_call` item runs on an MCP server."""
        for event in call_item(ItemStage.CONTENT_DONE, "function_call"):
            pair.to_client(event)
        received = pair.to_client(transition_event(kind, "function_call"))
        assert violations(pair.client, received) == [
            f"{kind} for item {ITEM!r} of type 'function_call'"
        ]

    def test_an_mcp_call_that_runs_must_end_before_its_item(self, pair):
        """§5j: in_progress, then completed or failed, then the item ends."""
        for event in call_item(ItemStage.CALL_RUNNING, "mcp_call"):
            pair.to_client(event)
        done = {"type": "response.output_item.done", "response_id": RESP, "output_index": 0,
                "item": {"id": ITEM, "type": "mcp_call"}}  # fmt: skip
        received = pair.to_client(done)
        assert violations(pair.client, received)[0] == (
            f"response.output_item.done for item {ITEM!r} while its content is still streaming"
        )

    def test_a_second_conversation_item_added_for_an_output_item_is_reported_twice(self, pair):
        """§5d step 4 happens once: a wrong stage, and a duplicate in the conversation."""
        events = text_response(RESP, ITEM)
        for event in before(events, "response.content_part.added"):
            pair.to_client(event)
        received = pair.to_client(first(events, "conversation.item.added"))
        assert violations(pair.client, received) == [
            stage_problem(
                "conversation.item.added",
                ItemStage.IN_CONVERSATION,
                ITEM_TRANSITIONS["conversation.item.added"][0],
            ),
            f"item {ITEM!r} was added to the conversation twice",
        ]

    def test_function_call_arguments_after_their_done_are_reported(self, pair):
        """§5f steps 4-5: deltas, then one `.done`."""
        events = function_call_response(RESP, ITEM, CALL)
        for event in before(events, "conversation.item.done"):
            pair.to_client(event)
        received = pair.to_client(first(events, "response.function_call_arguments.delta"))
        allowed = ITEM_TRANSITIONS["response.function_call_arguments.delta"][0]
        assert violations(pair.client, received) == [
            stage_problem("response.function_call_arguments.delta", ItemStage.CONTENT_DONE, allowed)
        ]


class TestOutputItemAdded:
    def test_output_index_must_count_the_response_items_from_zero(self, pair):
        """`output_index`: the item's position in the response (§5f step 8: 0, 1)."""
        pair.to_client(text_response(RESP, ITEM)[0])
        event = first(text_response(RESP, ITEM), "response.output_item.added")
        received = pair.to_client({**event, "output_index": 1})
        assert violations(pair.client, received) == [
            "response.output_item.added has output_index 1; expected 0"
        ]

    def test_a_second_item_of_a_response_has_output_index_one(self, pair):
        """§5f step 8: a message item followed by a function_call item, indexes 0/1."""
        events = text_response(RESP, ITEM)
        for event in events[:-2]:
            pair.to_client(event)
        item = {"id": ITEM2, "type": "function_call", "call_id": CALL, "name": "f", "arguments": ""}
        received = pair.to_client(
            {
                "type": "response.output_item.added",
                "response_id": RESP,
                "output_index": 1,
                "item": item,
            }
        )
        assert received.ok

    def test_an_output_item_reusing_a_conversation_item_id_is_reported(self, pair):
        """Item ids are unique in the conversation (§4 `id`)."""
        pair.add_user_text(USER)
        pair.to_client(text_response(RESP, USER)[0])
        received = pair.to_client(first(text_response(RESP, USER), "response.output_item.added"))
        assert violations(pair.client, received) == [
            f"response.output_item.added reuses item id {USER!r}"
        ]

    def test_an_output_item_added_twice_to_one_response_is_reported(self, pair):
        """One `response.output_item.added` per item."""
        events = text_response(RESP, ITEM)
        pair.to_client(events[0])
        pair.to_client(events[1])
        received = pair.to_client({**events[1], "output_index": 1})
        assert violations(pair.client, received) == [
            f"response.output_item.added reuses item id {ITEM!r}"
        ]

    def test_an_output_item_added_without_an_item_object_adds_nothing(self, pair):
        """No `item` object: nothing to track (the schema checks report it)."""
        pair.to_client(text_response(RESP, ITEM)[0])
        received = pair.to_client(
            {"type": "response.output_item.added", "response_id": RESP, "output_index": 0}
        )
        assert received.ok
        assert pair.client.conversation.responses[RESP].items == []


class TestContentParts:
    def test_a_delta_before_content_part_added_is_reported(self, pair):
        """§5d steps 5-6: `response.content_part.added` opens the part deltas go to."""
        events = text_response(RESP, ITEM)
        for event in before(events, "response.content_part.added"):
            pair.to_client(event)
        received = pair.to_client(first(events, "response.output_text.delta"))
        assert violations(pair.client, received) == [
            "response.output_text.delta before response.content_part.added (0)"
        ]

    @pytest.mark.parametrize("index", [None, "0", -1, 1])
    def test_a_delta_naming_a_part_that_does_not_exist_is_reported(self, pair, index):
        """`content_index` must be an int naming an added part."""
        events = text_response(RESP, ITEM)
        for event in before(events, "response.output_text.delta"):
            pair.to_client(event)
        received = pair.to_client(
            {**first(events, "response.output_text.delta"), "content_index": index}
        )
        assert violations(pair.client, received) == [
            f"response.output_text.delta before response.content_part.added ({index!r})"
        ]

    def test_content_index_must_count_the_item_parts_from_zero(self, pair):
        """`content_index`: the part's position in the item's content array."""
        events = text_response(RESP, ITEM)
        for event in before(events, "response.content_part.added"):
            pair.to_client(event)
        event = first(events, "response.content_part.added")
        received = pair.to_client({**event, "content_index": 2})
        assert violations(pair.client, received) == [
            "response.content_part.added has content_index 2; expected 0"
        ]
        assert pair.client.conversation.responses[RESP].items[0].parts[0].type == "text"

    def test_a_content_part_added_without_a_part_object_has_an_unknown_type(self, pair):
        """Part types come from `part.type`; a missing part opens a part of no stream."""
        events = text_response(RESP, ITEM)
        for event in before(events, "response.content_part.added"):
            pair.to_client(event)
        event = {**first(events, "response.content_part.added"), "part": None}
        assert pair.to_client(event).ok
        received = pair.to_client(first(events, "response.output_text.delta"))
        assert violations(pair.client, received) == [
            "response.output_text.delta in a content part of type 'None'"
        ]

    @pytest.mark.parametrize(("part_type", "streams"), sorted(PART_STREAMS.items()))
    def test_each_part_type_takes_deltas_of_its_streams_only(self, pair, part_type, streams):
        """PART_STREAMS: a `text` part streams text; an `audio` part audio and transcript."""
        events = text_response(RESP, ITEM)
        for event in before(events, "response.content_part.added"):
            pair.to_client(event)
        added = first(events, "response.content_part.added")
        pair.to_client({**added, "part": {"type": part_type}})
        for kind, stream in sorted(PART_STREAM_DELTAS.items()):
            delta = scoped(kind, content_index=0, delta="AAAA")
            problems = violations(pair.client, pair.to_client(delta))
            if stream in streams:
                assert problems == []
            else:
                assert problems == [f"{kind} in a content part of type {part_type!r}"]

    @pytest.mark.parametrize(("done_kind", "stream"), sorted(PART_STREAM_DONES.items()))
    def test_a_delta_after_its_streams_done_is_reported(self, pair, done_kind, stream):
        """PART_STREAM_DONES: `.done` ends one stream of the part; no deltas follow."""
        events = audio_response(RESP, ITEM) if stream != "text" else text_response(RESP, ITEM)
        for event in before(events, "response.content_part.done"):
            pair.to_client(event)
        delta_kind = next(k for k, s in PART_STREAM_DELTAS.items() if s == stream)
        received = pair.to_client(scoped(delta_kind, content_index=0, delta="AAAA"))
        assert violations(pair.client, received) == [f"{delta_kind} after its .done event"]

    @pytest.mark.parametrize("done_kind", sorted(PART_STREAM_DONES))
    def test_a_stream_done_twice_is_reported(self, pair, done_kind):
        """Each stream of a part ends once."""
        text = PART_STREAM_DONES[done_kind] == "text"
        events = text_response(RESP, ITEM) if text else audio_response(RESP, ITEM)
        for event in before(events, "response.content_part.done"):
            pair.to_client(event)
        received = pair.to_client(first(events, done_kind))
        assert violations(pair.client, received) == [f"{done_kind} sent twice for one content part"]

    def test_content_part_done_before_its_streams_done_is_reported(self, pair):
        """§5e steps 6-8: both audio and transcript end before the part does."""
        events = audio_response(RESP, ITEM)
        for event in before(events, "response.output_audio.done"):
            pair.to_client(event)
        received = pair.to_client(first(events, "response.content_part.done"))
        assert violations(pair.client, received) == [
            "response.content_part.done before the part's audio.done, transcript.done"
        ]
        assert pair.client.conversation.responses[RESP].items[0].parts[0].state is PartState.DONE

    def test_a_part_of_an_unknown_type_may_end_at_once(self, pair):
        """A part type with no streams has nothing to finish."""
        events = text_response(RESP, ITEM)
        for event in before(events, "response.content_part.added"):
            pair.to_client(event)
        pair.to_client({**first(events, "response.content_part.added"), "part": {"type": "x"}})
        assert pair.to_client(first(events, "response.content_part.done")).ok

    @pytest.mark.parametrize(
        "kind",
        ["response.output_text.delta", "response.output_text.done", "response.content_part.done"],
    )
    def test_part_events_after_content_part_done_are_reported(self, pair, kind):
        """§5d step 8 ends the part; nothing of it may follow."""
        events = text_response(RESP, ITEM)
        for event in before(events, "conversation.item.done"):
            pair.to_client(event)
        received = pair.to_client(first(events, kind))
        assert violations(pair.client, received) == [f"{kind} after response.content_part.done"]

    def test_a_second_content_part_may_follow_the_first(self, pair):
        """An item's content may hold several parts, indexed 0, 1, ..."""
        events = text_response(RESP, ITEM)
        for event in before(events, "conversation.item.done"):
            pair.to_client(event)
        added = first(events, "response.content_part.added")
        assert pair.to_client({**added, "content_index": 1}).ok
        assert pair.to_client(scoped("response.output_text.delta", content_index=1, delta="x")).ok


class TestItemEnd:
    @pytest.mark.parametrize("order", list(itertools.permutations(sorted(ITEM_END_EVENTS))))
    def test_the_two_item_end_events_may_come_in_either_order(self, pair, order):
        """ITEM_END_EVENTS: the spec does not order them; live sends conversation first."""
        events = text_response(RESP, ITEM)
        ends = {kind: first(events, kind) for kind in ITEM_END_EVENTS}
        head = before(events, "conversation.item.done")
        tail = events[len(head) + 2 :]
        assert all_findings(pair.to_client(e) for e in head + [ends[k] for k in order] + tail) == []

    @pytest.mark.parametrize("kind", sorted(ITEM_END_EVENTS))
    def test_an_item_end_while_its_content_streams_is_reported(self, pair, kind):
        """§5d steps 7-10: the content part ends before the item does."""
        events = text_response(RESP, ITEM)
        for event in before(events, "response.output_text.done"):
            pair.to_client(event)
        received = pair.to_client(first(events, kind))
        assert violations(pair.client, received) == [
            f"{kind} for item {ITEM!r} while its content is still streaming"
        ]

    @pytest.mark.parametrize("kind", sorted(ITEM_END_EVENTS))
    def test_a_function_call_cannot_end_before_its_arguments_are_done(self, pair, kind):
        """§5f steps 4-7: `function_call_arguments.done` comes before the item ends."""
        events = function_call_response(RESP, ITEM, CALL)
        for event in before(events, "response.function_call_arguments.done"):
            pair.to_client(event)
        received = pair.to_client(first(events, kind))
        assert violations(pair.client, received) == [
            f"{kind} for item {ITEM!r} while its content is still streaming"
        ]

    def test_a_function_call_without_any_delta_may_end(self, pair):
        """§5f: an empty-argument call may go straight to `.done`."""
        events = function_call_response(RESP, ITEM, CALL)
        no_deltas = [e for e in events if e["type"] != "response.function_call_arguments.delta"]
        assert all_findings(pair.to_client(e) for e in no_deltas) == []

    def test_output_item_done_before_conversation_item_added_is_reported(self, pair):
        """§5d steps 4 and 10: a default-conversation item enters the conversation first."""
        events = function_call_response(RESP, ITEM, CALL, deltas=1)
        pair.to_client(events[0])
        pair.to_client(events[1])
        received = pair.to_client(first(events, "response.output_item.done"))
        assert violations(pair.client, received) == [
            f"response.output_item.done for {ITEM!r} before conversation.item.added"
        ]

    def test_output_item_done_for_an_item_never_added_is_reported(self, pair):
        """`response.output_item.done` ends an item that `.added` opened."""
        events = text_response(RESP, ITEM)
        pair.to_client(events[0])
        received = pair.to_client(first(events, "response.output_item.done"))
        assert violations(pair.client, received) == [
            f"response.output_item.done for {ITEM!r}, never added"
        ]

    def test_output_item_done_without_an_item_object_changes_nothing(self, pair):
        """No `item` object: nothing to end (the schema checks report it)."""
        pair.to_client(text_response(RESP, ITEM)[0])
        received = pair.to_client(
            {"type": "response.output_item.done", "response_id": RESP, "output_index": 0}
        )
        assert received.ok

    def test_conversation_item_done_for_an_item_never_added_is_reported(self, pair):
        """§5c: `conversation.item.done` follows the item's `.added`."""
        received = pair.to_client(
            {"type": "conversation.item.done", "item": {"id": ITEM, "type": "message"}}
        )
        assert violations(pair.client, received) == [
            f"conversation.item.done for {ITEM!r}, which was never added"
        ]

    def test_conversation_item_done_without_an_item_is_reported(self, pair):
        """An item-less `conversation.item.done` names no item."""
        received = pair.to_client({"type": "conversation.item.done"})
        assert violations(pair.client, received) == [
            "conversation.item.done for None, which was never added"
        ]

    def test_conversation_item_done_of_an_output_item_before_its_added_is_reported(self, pair):
        """An id first seen as a plain item and then as an output item never entered as one."""
        pair.add_user_text(ITEM)
        events = text_response(RESP, ITEM)
        pair.to_client(events[0])
        pair.to_client(events[1])  # reuses the id: reported there
        received = pair.to_client(first(events, "conversation.item.done"))
        assert violations(pair.client, received) == [
            f"conversation.item.done for {ITEM!r} before its .added"
        ]

    def test_an_out_of_band_item_entering_the_conversation_is_reported(self, pair):
        """states.py machine 3: `conversation.item.added` is for default-conversation items only."""
        events = out_of_band_response(RESP, ITEM)
        pair.to_client(events[0])
        pair.to_client(events[1])
        received = pair.to_client({"type": "conversation.item.added", "item": events[1]["item"]})
        assert violations(pair.client, received) != []
        assert pair.client.item_ids == []

    def test_out_of_band_items_end_without_the_conversation(self, pair):
        """§5j: `response.output_item.done` alone ends an out-of-band item."""
        received = pair.server_sends_all(out_of_band_response(RESP, ITEM))
        assert all_findings(received) == []
        assert pair.client.conversation.responses[RESP].items[0].output_done


class TestAudioOutput:
    def test_output_audio_deltas_are_counted_per_conversation_item(self, pair):
        """§5e step 5: `delta` = base64 audio; the item's length feeds truncation (catalog 6)."""
        pair.server_sends_all(audio_response(RESP, ITEM, audio=bytes(4801), audio_deltas=3))
        info = pair.client.conversation.items[ITEM]
        assert (info.has_output_audio, info.audio_bytes) == (True, 4801)
        assert pair.client.conversation.assistant_audio

    def test_audio_of_an_out_of_band_item_is_not_in_the_conversation(self, pair):
        """§5j: nothing is added to the default conversation, but the voice is used."""
        events = audio_response(RESP, ITEM)
        events[0]["response"]["conversation_id"] = None
        events = [e for e in events if not e["type"].startswith("conversation.item.")]
        assert all_findings(pair.server_sends_all(events)) == []
        assert ITEM not in pair.client.conversation.items
        assert pair.client.conversation.assistant_audio

    def test_a_non_string_audio_delta_counts_no_bytes(self, pair):
        """Only base64 text can be measured."""
        events = audio_response(RESP, ITEM)
        for event in before(events, "response.output_audio_transcript.delta"):
            pair.to_client(event)
        pair.to_client(scoped("response.output_audio.delta", content_index=0, delta=None))
        assert pair.client.conversation.items[ITEM].audio_bytes == 0

    def test_conversation_item_done_with_output_audio_marks_the_item(self, pair):
        """§4: the assistant item in `.done` holds `output_audio` content."""
        item = {"id": ITEM, "type": "message", "role": "assistant", "content": []}
        pair.to_client({"type": "conversation.item.added", "item": item})
        audio = [{"type": "output_audio", "transcript": "hi"}]
        assert pair.to_client(
            {"type": "conversation.item.done", "item": item | {"content": audio}}
        ).ok
        assert pair.client.conversation.items[ITEM].has_output_audio

    def test_the_server_refuses_to_send_a_delta_before_its_part(self, pair):
        """Our own mock obeys machine 4 too (strict `send()`)."""
        events = text_response(RESP, ITEM)
        pair.server_sends_all(before(events, "response.content_part.added"))
        with pytest.raises(LocalProtocolError, match=r"before response\.content_part\.added"):
            pair.server.send(first(events, "response.output_text.delta"))

    def test_a_user_item_done_is_not_an_output_item(self, pair):
        """§5c user items are plain conversation items with no response."""
        received = pair.server_sends_all(
            [
                {"type": "conversation.item.added", "item": user_text_item(USER)},
                {"type": "conversation.item.done", "item": user_text_item(USER)},
            ]
        )
        assert all_findings(received) == []
