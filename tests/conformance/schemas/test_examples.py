"""Every GA client type and every documented server type has a valid example (data files)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conformance import _json
from conformance.schemas import (
    CLIENT_EVENT_TYPES,
    DOCUMENTED_SERVER_EVENT_TYPES,
    parse_client_frame,
    parse_server_frame,
    validate_client_event,
    validate_server_event,
)

EXAMPLES = Path(__file__).parent / "examples"


def load(side: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = _json.loads((EXAMPLES / f"{side}.json").read_bytes())
    return events


def example_id(event: dict[str, Any]) -> str:
    return str(event["type"])


CLIENT = load("client")
SERVER = load("server")


def test_every_ga_client_type_has_an_example() -> None:
    assert set(CLIENT_EVENT_TYPES) <= {e["type"] for e in CLIENT}


def test_every_documented_server_type_has_an_example() -> None:
    assert set(DOCUMENTED_SERVER_EVENT_TYPES) <= {e["type"] for e in SERVER}


@pytest.mark.parametrize("event", CLIENT, ids=example_id)
def test_client_example_validates_with_no_findings(event: dict[str, Any]) -> None:
    assert validate_client_event(event) == []
    assert parse_client_frame(_json.dumps(event)) == (event, [])


@pytest.mark.parametrize("event", SERVER, ids=example_id)
def test_server_example_validates_with_no_findings(event: dict[str, Any]) -> None:
    assert validate_server_event(event) == []
    assert parse_server_frame(_json.dumps_bytes(event)) == (event, [])
