"""respx-style matchers: dotted paths and the five lookups."""

from __future__ import annotations

from typing import Any

import pytest

from mock_server.scenarios.matcher import compile_matcher, split_key

EVENT = {
    "type": "conversation.item.create",
    "event_id": "evt_42",
    "item": {"type": "message", "role": "user", "content": [{"type": "input_image"}]},
    "tags": ["a", "b"],
}


@pytest.mark.parametrize(
    ("spec", "matches"),
    [
        ({"type": "conversation.item.create"}, True),
        ({"type__eq": "response.create"}, False),
        ({"item.role__in": ["user", "system"]}, True),
        ({"event_id__regex": r"^evt_\d+$"}, True),
        ({"event_id__regex": r"^event_"}, False),
        ({"event_id__contains": "42"}, True),
        ({"tags__contains": "b"}, True),
        ({"item__contains": "role"}, True),
        ({"item.content.0.type": "input_image"}, True),
        ({"item.content.1.type__exists": True}, False),
        ({"session.type__exists": False}, True),
        ({"item.missing": None}, False),
        ({"type": "conversation.item.create", "item.role": "assistant"}, False),
    ],
)
def test_lookups(spec: dict[str, Any], matches: bool) -> None:
    assert compile_matcher(spec).matches(EVENT) is matches


def test_an_empty_matcher_matches_everything_and_a_non_empty_one_no_unparsed_frame() -> None:
    assert compile_matcher({}).matches(None)
    assert not compile_matcher({"type": "x"}).matches(None)


def test_split_key_separates_the_lookup_suffix() -> None:
    assert split_key("session.type__exists") == (("session", "type"), "exists")
    assert split_key("type") == (("type",), None)
