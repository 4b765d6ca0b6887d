"""A state machine over items, responses and the audio buffer keeps the mock equal to a model.

The model is a list of item ids in conversation order, the milliseconds of buffered
audio and the response in progress. Each rule predicts the mock's answer from the model
alone (where a new item lands after `previous_item_id`, which error a delete of an
unknown id gets, whether a commit has its 100 ms, whether a response may start), sends
the client event to a paced mock in memory and checks the answer; the invariants compare
the mock's own state with the model after every step.
"""

from __future__ import annotations

import base64
import itertools
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from tests.mock_server.app_harness import text_item

from .budget import count
from .mock_support import drain, new_app, server_problems

PACED = {"first_delta_delay": 0.05, "text_tokens_per_second": 40.0}
PCM_BYTES_PER_MS = 48


def _types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


def _error_code(events: list[dict[str, Any]]) -> str | None:
    errors = [e["error"]["code"] for e in events if e["type"] == "error"]
    return errors[0] if errors else None


class MockConversation(RuleBasedStateMachine):
    """Items, responses and the input audio buffer of one paced mock connection."""

    def __init__(self) -> None:
        super().__init__()
        self.app, self.transport = new_app(**PACED)
        self.items: list[str] = []
        self.audio_ms = 0.0
        self.active: str | None = None
        self.writing: str | None = None  # the assistant item of the active response
        self.names = (f"item_m{n}" for n in itertools.count())

    # ------------------------------------------------------------------ helpers
    def send(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        self.transport.send(event)
        events = drain(self.transport, within_ms=0.0)
        self.observe(events)
        return events

    def observe(self, events: list[dict[str, Any]]) -> None:
        """Responses end on their own schedule; the model learns only *that* they end."""
        for event in events:
            if event["type"] == "response.done" and event["response"]["id"] == self.active:
                self.active = self.writing = None

    def added_id(self, events: list[dict[str, Any]]) -> str:
        (added,) = [e for e in events if e["type"] == "conversation.item.added"]
        return str(added["item"]["id"])

    # -------------------------------------------------------------------- items
    @rule(data=st.data())
    def create_item(self, data: st.DataObject) -> None:
        where = data.draw(st.sampled_from(["end", "root", "after", "unknown"]))
        naming = data.draw(st.sampled_from(["server", "client", "duplicate"]))
        event: dict[str, Any] = {"type": "conversation.item.create", "item": text_item("Hi")}
        if naming == "client" or (naming == "duplicate" and not self.items):
            event["item"]["id"] = next(self.names)
        elif naming == "duplicate":
            event["item"]["id"] = data.draw(st.sampled_from(self.items))
        position = len(self.items)
        if where == "root":
            event["previous_item_id"], position = "root", 0
        elif where == "after" and self.items:
            previous = data.draw(st.sampled_from(self.items))
            event["previous_item_id"], position = previous, self.items.index(previous) + 1
        elif where == "unknown":
            event["previous_item_id"] = "item_missing"
        events = self.send(event)
        if naming == "duplicate" and self.items:
            assert _error_code(events) == "item_create_duplicate_item_id"
        elif where == "unknown":
            assert (_error_code(events), events[0]["error"]["param"]) == (
                "invalid_value",
                "previous_item_id",
            )
        else:
            assert _types(events)[:2] == ["conversation.item.added", "conversation.item.done"]
            self.items.insert(position, self.added_id(events))

    @rule(data=st.data())
    def delete_item(self, data: st.DataObject) -> None:
        # Not the item a response is still writing: the live server's answer to that is
        # undocumented, and the mock crashes on it (bug 3, test_mock_answers.py).
        known = [i for i in self.items if i != self.writing]
        target = data.draw(st.sampled_from(known)) if known else "item_missing"
        events = self.send({"type": "conversation.item.delete", "item_id": target})
        if target in self.items:
            assert _types(events) == ["conversation.item.deleted"]
            self.items.remove(target)
        else:
            assert _error_code(events) == "item_delete_invalid_item_id"

    # -------------------------------------------------------------------- audio
    @rule(ms=st.integers(1, 120))
    def append_audio(self, ms: int) -> None:
        audio = base64.b64encode(bytes(ms * PCM_BYTES_PER_MS)).decode()
        events = self.send({"type": "input_audio_buffer.append", "audio": audio})
        assert _error_code(events) is None
        self.audio_ms += ms

    @rule()
    def commit(self) -> None:
        events = self.send({"type": "input_audio_buffer.commit"})
        if self.audio_ms < 100:
            assert _error_code(events) == "input_audio_buffer_commit_empty"
            return
        assert _types(events)[:2] == ["input_audio_buffer.committed", "conversation.item.added"]
        self.items.append(self.added_id(events))
        self.audio_ms = 0.0

    @rule()
    def clear(self) -> None:
        assert _types(self.send({"type": "input_audio_buffer.clear"})) == [
            "input_audio_buffer.cleared"
        ]
        self.audio_ms = 0.0

    # ---------------------------------------------------------------- responses
    @rule()
    def create_response(self) -> None:
        was_active = self.active
        events = self.send({"type": "response.create", "event_id": "evt_create"})
        if was_active is not None:
            assert _error_code(events) == "conversation_already_has_active_response"
            assert events[0]["error"]["event_id"] == "evt_create"
            return
        assert _types(events)[:3] == [
            "response.created",
            "response.output_item.added",
            "conversation.item.added",
        ]
        self.items.append(self.added_id(events))
        if "response.done" not in _types(events):
            self.active, self.writing = events[0]["response"]["id"], self.items[-1]

    @rule()
    def cancel_response(self) -> None:
        was_active = self.active
        events = self.send({"type": "response.cancel"})
        if was_active is None:
            assert _error_code(events) == "response_cancel_not_active"
            return
        (done,) = [e for e in events if e["type"] == "response.done"]
        assert done["response"]["status"] == "cancelled"
        assert self.active is None

    @rule(ms=st.sampled_from([10.0, 60.0, 10_000.0]))
    def wait(self, ms: float) -> None:
        self.observe(drain(self.transport, within_ms=ms))
        if ms >= 10_000.0:
            assert self.active is None, "a response is still running after 10 s of silence"

    # --------------------------------------------------------------- invariants
    @invariant()
    def the_mock_state_equals_the_model(self) -> None:
        session = self.app.session
        assert session.item_ids == self.items
        assert abs(session.audio_buffer_ms - self.audio_ms) < 1e-6
        assert session.active_response_id == self.active
        assert len(self.app.behaviour.streams) == (0 if self.active is None else 1)
        assert self.transport.closed is None

    def teardown(self) -> None:
        drain(self.transport)
        assert server_problems(self.app) == []


MockConversation.TestCase.settings = settings(max_examples=count(1.0), stateful_step_count=30)
TestMockConversation = MockConversation.TestCase
