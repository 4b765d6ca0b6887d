"""Odd input: events that passed no schema must never crash the core (session.py docstring).

"Illegal peer input never raises": with the default `plain_decode` nothing checks field
types before the state machines read them, so missing fields, wrong JSON types and
non-string ids reach the core as they are.
"""

import contextlib

import pytest

from conformance.protocol import LocalProtocolError, Session, Side, replay
from tests.helpers import (
    SessionPair,
    client_frame,
    encode,
    server_frame,
    session_created,
    text_response,
    violations,
)


def crash(where, what):
    """Formerly a strict xfail for a core crash at `where`; the bug is fixed."""
    return ()


UNHASHABLE = "tests membership of an unhashable JSON value (list/object) in a dict/set"

ODD_SERVER_EVENTS = [
    pytest.param({}, False, id="no type"),
    pytest.param({"type": None}, False, id="null type"),
    pytest.param({"type": 5}, False, id="integer type"),
    pytest.param({"type": "response.created", "response": {"id": ["x"]}}, False, id="list resp id"),
    pytest.param(
        {"type": "response.output_text.delta", "response_id": {"a": 1}}, True, id="object resp id"
    ),
    pytest.param(
        {"type": "response.done", "response": {"id": ["x"]}}, True, id="resp done list id"
    ),
    pytest.param({"type": "conversation.item.truncated", "item_id": ["x"]}, True, id="trunc list"),
    pytest.param({"type": "conversation.item.added", "item": {"id": None}}, False, id="null id"),
    pytest.param(
        {"type": "conversation.item.done", "item": {"id": ["x"]}}, True, id="item done list id"
    ),
    pytest.param(
        {"type": "error", "event_id": "e", "error": {"event_id": ["x"], "code": ["y"]}},
        False,
        id="error list ids",
    ),
    pytest.param(
        {"type": "session.updated", "session": {"audio": {"input": {"format": {"type": []}}}}},
        False,
        id="list format",
    ),
    pytest.param(
        {"type": "conversation.item.deleted", "item_id": ["x"]},
        True,
        id="deleted list id",
        marks=crash("conversation.py:215", UNHASHABLE),
    ),
    pytest.param(
        {"type": "conversation.item.retrieved", "item": {"id": ["x"]}},
        True,
        id="retrieved list id",
        marks=crash("conversation.py:225", UNHASHABLE),
    ),
    pytest.param(
        {"type": "input_audio_buffer.committed", "item_id": ["x"]},
        False,
        id="committed list id",
        marks=crash("conversation.py:242", UNHASHABLE),
    ),
    pytest.param(
        {"type": "input_audio_buffer.committed", "item_id": "item_c", "previous_item_id": {}},
        True,
        id="committed object previous",
        marks=crash("conversation.py:245", UNHASHABLE),
    ),
    pytest.param(
        {"type": "conversation.item.added", "item": {"id": "item_n"}, "previous_item_id": ["x"]},
        True,
        id="added list previous",
        marks=crash("conversation.py:181", UNHASHABLE),
    ),
    pytest.param(
        {"type": "conversation.item.input_audio_transcription.delta", "item_id": ["x"]},
        True,
        id="transcription list id",
        marks=crash("conversation.py:255", UNHASHABLE),
    ),
    pytest.param(
        {"type": "conversation.item.added", "item": {"id": "item_n", "content": 5}},
        False,
        id="added integer content",
        marks=crash("conversation.py:89", "iterates `item.content or ()`, which fails for 5/true"),
    ),
]


@pytest.mark.parametrize(("event", "reported"), ODD_SERVER_EVENTS)
def test_an_odd_server_event_is_judged_never_raised_on_the_client_side(pair, event, reported):
    """session.py: "Illegal peer input never raises"; a bad reference is still reported."""
    received = pair.to_client(event)
    assert received.event == event
    assert bool(violations(pair.client, received)) is reported


def test_a_first_server_event_without_a_type_is_reported():
    """§5a: a type-less first event is not `session.created`: a finding, not a KeyError."""
    client = Session(Side.CLIENT)
    client.receive_text("{}")
    (received,) = client.events_received()
    assert violations(client, received) == [
        "the first server event must be session.created, not None"
    ]
    assert client.errors[0].event_type is None


def test_a_first_server_event_with_a_list_type_is_reported():
    """`kind not in FIRST_SERVER_EVENTS` with a list `type`."""
    client = Session(Side.CLIENT)
    client.receive_text('{"type": ["session.created"]}')
    (received,) = client.events_received()
    assert violations(client, received) == [
        "the first server event must be session.created, not ['session.created']"
    ]


def test_a_first_server_event_with_an_integer_type_is_reported_with_no_event_type():
    """Only string types are event types: `RemoteProtocolError.event_type` would be 5."""
    client = Session(Side.CLIENT)
    client.receive_text('{"type": 5}')
    (received,) = client.events_received()
    assert [str(e) for e in client.errors] == [
        "the first server event must be session.created, not 5"
    ]
    assert received.type is None


ODD_CLIENT_EVENTS = [
    pytest.param({}, False, id="no type"),
    pytest.param({"type": 5}, False, id="integer type"),
    pytest.param({"type": "conversation.item.delete", "item_id": ["x"]}, True, id="delete list"),
    pytest.param({"type": "conversation.item.truncate"}, True, id="truncate no id"),
    pytest.param({"type": "response.cancel", "response_id": ["x"]}, True, id="cancel list id"),
    pytest.param({"type": "session.update", "session": [1]}, False, id="list session"),
    pytest.param({"type": "conversation.item.create", "item": []}, False, id="list item"),
    pytest.param(
        {"type": "conversation.item.create", "item": {"id": ["x"], "type": "message"}},
        False,
        id="create list id",
    ),
    pytest.param(
        {"type": ["conversation.item.delete"]},
        False,
        id="list type",
        marks=crash("conversation.py:461", UNHASHABLE),
    ),
    pytest.param(
        {"type": "conversation.item.create", "item": {"role": "assistant", "content": 5}},
        False,
        id="create integer content",
        marks=crash("conversation.py:521", "enumerates `item.content or ()`, which fails for 5"),
    ),
]


@pytest.mark.parametrize(("event", "rejected"), ODD_CLIENT_EVENTS)
def test_an_odd_client_event_is_judged_never_raised_on_the_server_side(pair, event, rejected):
    """The mock must answer every frame with a Received (an `error`, or acceptance)."""
    received = pair.to_server(event)
    assert received.event == event
    assert bool(received.findings) is rejected


def test_replay_reports_a_first_server_event_with_a_list_type():
    """`replay()` is the oracle over untrusted transcripts; it must not crash."""
    (problem,) = replay([server_frame(encode({"type": []}))])
    assert problem.index == 0


def test_replay_reports_a_client_event_with_an_object_type():
    """A client frame with `type: {}` after `session.created`."""
    frames = [server_frame(session_created()), client_frame('{"type": {}}')]
    assert replay(frames) == []


def test_our_client_sending_a_list_type_raises_local_protocol_error_or_sends():
    """`send()` may raise `LocalProtocolError` only, never a `TypeError` from inside."""
    pair = SessionPair()
    pair.open()
    with contextlib.suppress(LocalProtocolError):
        pair.client.send({"type": ["response.create"]})


def test_an_output_item_without_a_string_id_is_left_to_the_schema_checks(pair):
    """`response.output_item.added` with `item.id: null` neither crashes nor adds an item."""
    pair.server_sends(text_response("resp_odd", "item_odd")[0])
    received = pair.to_client(
        {
            "type": "response.output_item.added",
            "response_id": "resp_odd",
            "output_index": 0,
            "item": {"id": None, "type": "message"},
        }
    )
    assert received.ok
    assert pair.client.conversation.responses["resp_odd"].items == []
