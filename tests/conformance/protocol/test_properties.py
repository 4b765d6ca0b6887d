"""Hypothesis properties of the protocol core (guide §2.11, style rule 14).

Small example counts: these run with the unit tests.
"""

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.protocol import SessionState
from tests.helpers import (
    SessionPair,
    all_findings,
    audio_response,
    function_call_response,
    item_added_done,
    new_ids,
    out_of_band_response,
    text_response,
    user_text_item,
)

FAST = settings(max_examples=60, deadline=None)
IDS = new_ids("properties")
DEFAULT_RESP, DEFAULT_ITEM = IDS.new("resp"), IDS.new("item")
OOB_RESPS = [IDS.new("resp") for _ in range(4)]
OOB_ITEMS = [IDS.new("item") for _ in range(4)]
ITEM_POOL = [IDS.new("item") for _ in range(8)]


def opened_pair():
    pair = SessionPair()
    pair.open()
    return pair


DEFAULT_BUILDERS = {
    "text": lambda deltas: text_response(DEFAULT_RESP, DEFAULT_ITEM, "Hello, world", deltas=deltas),
    "audio": lambda deltas: audio_response(DEFAULT_RESP, DEFAULT_ITEM, audio_deltas=deltas),
    "call": lambda deltas: function_call_response(
        DEFAULT_RESP, DEFAULT_ITEM, "call_1", deltas=deltas
    ),
}


@st.composite
def interleavings(draw):
    """One default response and 1-4 out-of-band responses, merged in a random order."""
    kind = draw(st.sampled_from(sorted(DEFAULT_BUILDERS)))
    streams = [DEFAULT_BUILDERS[kind](draw(st.integers(1, 4)))]
    for index in range(draw(st.integers(1, 4))):
        deltas = draw(st.integers(1, 3))
        streams.append(out_of_band_response(OOB_RESPS[index], OOB_ITEMS[index], deltas=deltas))
    labels = [n for n, stream in enumerate(streams) for _ in stream]
    order = draw(st.permutations(labels))
    queues = [iter(stream) for stream in streams]
    return [next(queues[label]) for label in order]


@FAST
@given(events=interleavings())
def test_interleaved_out_of_band_responses_and_one_default_response_give_no_findings(events):
    """§5j: out-of-band responses overlap each other and the default one, in any interleaving."""
    pair = opened_pair()
    received = pair.server_sends_all(events)
    assert all_findings(received) == []
    assert pair.client.errors == []
    assert pair.client.item_ids == [DEFAULT_ITEM]
    assert pair.client.active_response_id is None


@FAST
@given(chunks=st.lists(st.text(max_size=12), max_size=10))
def test_a_live_order_text_response_split_into_any_deltas_gives_no_findings(chunks):
    """§5d step 6: `response.output_text.delta` x N, N >= 0, any chunking of the text."""
    pair = opened_pair()
    pair.add_user_text("item_user")
    events = text_response(
        DEFAULT_RESP, DEFAULT_ITEM, "".join(chunks), deltas=chunks, previous_item_id="item_user"
    )
    assert all_findings(pair.server_sends_all(events)) == []
    assert pair.client.item_ids == ["item_user", DEFAULT_ITEM]


@st.composite
def item_histories(draw):
    """Items added at random positions, then a random subset deleted in a random order."""
    count = draw(st.integers(1, len(ITEM_POOL)))
    added = []
    for item_id in ITEM_POOL[:count]:
        previous = draw(st.sampled_from([None, *(known for known, _ in added)]))
        added.append((item_id, previous))
    deletions = draw(st.permutations(ITEM_POOL[:count]))
    return added, deletions[: draw(st.integers(0, count))]


@FAST
@given(history=item_histories())
def test_item_ids_follow_a_list_model_through_inserts_and_deletes(history):
    """§5c/§5j: `previous_item_id` inserts after an item (null: first); deletes remove it."""
    added, deletions = history
    pair = opened_pair()
    model = []
    for item_id, previous in added:
        pair.server_sends_all(item_added_done(user_text_item(item_id), previous))
        model.insert(0 if previous is None else model.index(previous) + 1, item_id)
        assert pair.client.item_ids == model
    for item_id in deletions:
        assert pair.client_sends({"type": "conversation.item.delete", "item_id": item_id}).ok
        assert pair.server_sends({"type": "conversation.item.deleted", "item_id": item_id}).ok
        model.remove(item_id)
        assert pair.client.item_ids == pair.server.item_ids == model
    assert all_findings(pair.client_received + pair.server_received) == []


# The order machines 2-4 impose on one text response (§5d): each type must come after the
# types listed for it. `rate_limits.updated` is free; the two item ends are unordered.
MUST_FOLLOW = {
    "response.output_item.added": ["response.created"],
    "conversation.item.added": ["response.output_item.added"],
    "response.content_part.added": ["conversation.item.added"],
    "response.output_text.delta": ["response.content_part.added"],
    "response.output_text.done": ["response.output_text.delta"],
    "response.content_part.done": ["response.output_text.done"],
    "conversation.item.done": ["response.content_part.done"],
    "response.output_item.done": ["response.content_part.done"],
    "response.done": ["conversation.item.done", "response.output_item.done"],
}


def constrained_pairs(events):
    """Index pairs (i, j): event i must come before event j."""
    return [
        (i, j)
        for (i, a), (j, b) in itertools.product(enumerate(events), repeat=2)
        if a["type"] in MUST_FOLLOW.get(b["type"], ())
    ]


@st.composite
def shuffled_responses(draw):
    events = text_response(DEFAULT_RESP, DEFAULT_ITEM, "abcdef", deltas=draw(st.integers(1, 3)))
    return events, draw(st.permutations(range(len(events))))


@settings(max_examples=150, deadline=None)
@given(case=shuffled_responses())
def test_a_permutation_breaking_a_table_order_is_reported_and_others_are_not(case):
    """Machines 2-4: swapping any two constrained events is reported; other orders pass."""
    events, order = case
    position = {index: at for at, index in enumerate(order)}
    broken = [(i, j) for i, j in constrained_pairs(events) if position[i] > position[j]]
    pair = opened_pair()
    findings = all_findings(pair.to_client(events[index]) for index in order)
    assert bool(findings) == bool(broken), (broken, findings)
    assert pair.client.state is SessionState.OPEN


@st.composite
def linear_extensions(draw):
    """The live order with what the tables leave free moved: deltas, item ends, rate limits."""
    events = text_response(DEFAULT_RESP, DEFAULT_ITEM, "abcdef", deltas=draw(st.integers(1, 4)))
    kinds = [e["type"] for e in events]
    first = kinds.index("response.output_text.delta")
    count = kinds.count("response.output_text.delta")
    events[first : first + count] = draw(st.permutations(events[first : first + count]))
    if draw(st.booleans()):
        end = kinds.index("conversation.item.done")
        events[end], events[end + 1] = events[end + 1], events[end]
    limits = events.pop()
    events.insert(draw(st.integers(0, len(events))), limits)
    return events


@FAST
@given(events=linear_extensions())
def test_every_order_the_tables_allow_passes(events):
    """Machines 2-4 constrain only what §5d orders; the rest may come in any order."""
    assert all(i < j for i, j in constrained_pairs(events))
    pair = opened_pair()
    assert all_findings(pair.to_client(event) for event in events) == []
