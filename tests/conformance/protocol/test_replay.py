"""`replay()`: the core as the conformance oracle over a recorded exchange (guide §2.4, §2.11).

A whole good exchange gives no problems; each minimally edited copy gives exactly the
expected problem, at the right index and direction.
"""

from conformance.protocol import SequenceProblem, replay
from tests.helpers import (
    SessionPair,
    audio_append,
    audio_response,
    client_frame,
    function_call_response,
    item_added_done,
    new_ids,
    out_of_band_response,
    response_create,
    server_frame,
    session_created,
    text_response,
    user_text_item,
)

IDS = new_ids("replay")
USER, SPOKEN_USER = IDS.new("item"), IDS.new("item")
R1, R2, R3, R4 = (IDS.new("resp") for _ in range(4))
A1, A2, O1, F1 = (IDS.new("item") for _ in range(4))
CALL, OUTPUT = IDS.new("call"), IDS.new("item")


def good_exchange():
    """A whole session: config, text turn, audio turn, truncate, out-of-band, tool call, delete."""
    user_audio = {
        "id": SPOKEN_USER,
        "type": "message",
        "status": "completed",
        "role": "user",
        "content": [{"type": "input_audio", "transcript": None}],
    }
    output = {"type": "function_call_output", "call_id": CALL, "output": '{"temp": 21}'}
    steps = [
        ("server", session_created()),
        (
            "client",
            {"type": "session.update", "event_id": "evt_u", "session": {"type": "realtime"}},
        ),
        ("server", {**session_created(), "type": "session.updated"}),
        ("client", {"type": "conversation.item.create", "item": user_text_item(USER)}),
        *(("server", e) for e in item_added_done(user_text_item(USER))),
        ("client", response_create(event_id="evt_r1")),
        *(("server", e) for e in text_response(R1, A1, "Hi!", deltas=2, previous_item_id=USER)),
        ("client", audio_append(150)),
        ("client", {"type": "input_audio_buffer.commit", "event_id": "evt_commit"}),
        (
            "server",
            {
                "type": "input_audio_buffer.committed",
                "item_id": SPOKEN_USER,
                "previous_item_id": A1,
            },
        ),
        *(("server", e) for e in item_added_done(user_audio, A1)),
        ("client", response_create(event_id="evt_r2")),
        *(("server", e) for e in audio_response(R2, A2, previous_item_id=SPOKEN_USER)),
        (
            "client",
            {
                "type": "conversation.item.truncate",
                "item_id": A2,
                "content_index": 0,
                "audio_end_ms": 50,
            },
        ),
        (
            "server",
            {
                "type": "conversation.item.truncated",
                "item_id": A2,
                "content_index": 0,
                "audio_end_ms": 50,
            },
        ),
        ("client", response_create(out_of_band=True)),
        *(("server", e) for e in out_of_band_response(R3, O1)),
        ("client", response_create(event_id="evt_r4")),
        *(("server", e) for e in function_call_response(R4, F1, CALL, previous_item_id=A2)),
        ("client", {"type": "conversation.item.create", "previous_item_id": F1, "item": output}),
        *(("server", e) for e in item_added_done({**output, "id": OUTPUT}, F1)),
        ("client", {"type": "conversation.item.delete", "event_id": "evt_del", "item_id": USER}),
        ("server", {"type": "conversation.item.deleted", "item_id": USER}),
    ]
    return [(direction, dict(event)) for direction, event in steps]


def frames(steps):
    return [client_frame(e) if d == "client" else server_frame(e) for d, e in steps]


def index_of(steps, kind, direction="server", nth=0):
    hits = [i for i, (d, e) in enumerate(steps) if d == direction and e.get("type") == kind]
    return hits[nth]


def test_a_whole_good_exchange_has_no_problems():
    """The live orders of §5a-§5j, client and server interleaved, break no rule."""
    assert replay(frames(good_exchange())) == []


def test_the_good_exchange_also_passes_a_session_pair():
    """`replay()` and `SessionPair` agree: the same frames pass both sides' checks."""
    pair = SessionPair()
    received = [
        pair.client_sends(e) if d == "client" else pair.server_sends(e) for d, e in good_exchange()
    ]
    assert [r.findings for r in received if not r.ok] == []
    assert pair.wire == frames(good_exchange())
    assert replay(pair.wire) == []


def test_a_delta_before_content_part_added_is_reported():
    """§5d steps 5-6: swap `response.content_part.added` and the first text delta."""
    steps = good_exchange()
    part = index_of(steps, "response.content_part.added")
    steps[part], steps[part + 1] = steps[part + 1], steps[part]
    assert replay(frames(steps)) == [
        SequenceProblem(
            index=part,
            direction="server",
            event_type="response.output_text.delta",
            message="response.output_text.delta before response.content_part.added (0)",
        )
    ]


def test_response_done_without_output_item_done_is_reported():
    """§5d steps 10-11: drop the `response.output_item.done` of the first response."""
    steps = good_exchange()
    del steps[index_of(steps, "response.output_item.done")]
    done = index_of(steps, "response.done")
    assert replay(frames(steps)) == [
        SequenceProblem(
            index=done,
            direction="server",
            event_type="response.done",
            message=f"response.done before response.output_item.done of {A1!r}",
        )
    ]


def test_response_done_moved_before_output_item_done_is_reported_twice():
    """§5d steps 10-11 swapped: the early `response.done`, and the late item end after it."""
    steps = good_exchange()
    item_done = index_of(steps, "response.output_item.done")
    steps[item_done], steps[item_done + 1] = steps[item_done + 1], steps[item_done]
    problems = replay(frames(steps))
    assert [(p.index, p.event_type) for p in problems] == [
        (item_done, "response.done"),
        (item_done + 1, "response.output_item.done"),
    ]
    assert (
        problems[1].message
        == f"response.output_item.done for response {R1!r} after its response.done"
    )


def test_a_second_session_created_is_reported():
    """§5a: `session.created` comes once (a reconnect must be a new transcript)."""
    steps = good_exchange()
    at = index_of(steps, "rate_limits.updated") + 1
    steps.insert(at, ("server", session_created()))
    assert replay(frames(steps)) == [
        SequenceProblem(
            index=at,
            direction="server",
            event_type="session.created",
            message="session.created sent twice",
        )
    ]


def test_response_create_while_a_response_is_active_is_reported_with_the_live_code():
    """Catalog 1: a second `response.create` between `response.created` and `.done`."""
    steps = good_exchange()
    at = index_of(steps, "response.created") + 1
    steps.insert(at, ("client", response_create(event_id="evt_again")))
    assert replay(frames(steps)) == [
        SequenceProblem(
            index=at,
            direction="client",
            event_type="response.create",
            message=f"Conversation already has an active response in progress: {R1}. "
            "Wait until the response is finished before creating a new one.",
            code="conversation_already_has_active_response",
        )
    ]


def test_an_event_sent_before_session_created_is_reported():
    """§5a: the client's `session.update` moved before the server's `session.created`."""
    steps = good_exchange()
    steps[0], steps[1] = steps[1], steps[0]
    assert replay(frames(steps)) == [
        SequenceProblem(
            index=0,
            direction="client",
            event_type="session.update",
            message="'session.update' sent before session.created",
        )
    ]


def test_a_commit_under_100_ms_is_reported_with_the_live_code():
    """Catalog 8: only 50 ms appended before the commit."""
    steps = good_exchange()
    at = index_of(steps, "input_audio_buffer.append", direction="client")
    steps[at] = ("client", audio_append(50))
    assert replay(frames(steps)) == [
        SequenceProblem(
            index=at + 1,
            direction="client",
            event_type="input_audio_buffer.commit",
            message="Error committing input audio buffer: buffer too small. Expected at least "
            "100ms of audio, but buffer only has 50.00ms of audio.",
            code="input_audio_buffer_commit_empty",
        )
    ]


def test_a_reference_to_a_deleted_item_is_reported_with_the_live_code():
    """Catalog 23: retrieving the user item after its `conversation.item.deleted`."""
    steps = good_exchange()
    steps.append(("client", {"type": "conversation.item.retrieve", "item_id": USER}))
    assert replay(frames(steps)) == [
        SequenceProblem(
            index=len(steps) - 1,
            direction="client",
            event_type="conversation.item.retrieve",
            message=f"Error retrieving item: the item with id '{USER}' does not exist.",
            code="item_retrieve_invalid_item_id",
        )
    ]


def test_a_first_server_event_other_than_session_created_is_reported():
    """§5a: "No `conversation.created` is sent in GA"."""
    problems = replay([server_frame({"type": "conversation.created", "conversation": {}})])
    assert problems == [
        SequenceProblem(
            index=0,
            direction="server",
            event_type="conversation.created",
            message="the first server event must be session.created, not 'conversation.created'",
        )
    ]


def test_an_error_may_come_first_and_client_events_after_it_are_still_early():
    """§5i: 101, `error`, close: the session never opened."""
    error = {"type": "error", "event_id": "e", "error": {"code": "invalid_api_key"}}
    problems = replay([server_frame(error), client_frame({"type": "session.update"})])
    assert [(p.index, p.direction) for p in problems] == [(1, "client")]


def test_frames_that_are_not_json_objects_are_skipped_but_counted():
    """Schema checks report bad frames; replay keeps the transcript's indexes."""
    problems = replay(
        [
            ("client", "{oops"),
            ("server", "[1]"),
            server_frame(session_created()),
            client_frame({"type": "input_audio_buffer.commit"}),
        ]
    )
    assert [(p.index, p.direction, p.code) for p in problems] == [
        (3, "client", "input_audio_buffer_commit_empty")
    ]


def test_an_event_type_that_is_not_a_string_has_no_event_type():
    """`SequenceProblem.event_type` is the `type` only when it is a string."""
    (problem,) = replay([server_frame({"type": 5})])
    assert problem.event_type is None
    assert problem.message == "the first server event must be session.created, not 5"


def test_a_problem_reads_as_index_direction_type_and_message():
    """`str(SequenceProblem)`: `#index direction type: message`."""
    problem = SequenceProblem(index=3, direction="server", event_type="response.done", message="m")
    assert str(problem) == "#3 server response.done: m"
    assert problem.code is None


def test_replay_accepts_any_iterable_of_frames():
    """`frames` may be a generator (a transcript read lazily)."""
    assert replay(iter([server_frame(session_created())])) == []
