"""Scenarios and the mock's pace, on real sockets.

`active-response-conflict` says the mock rejects a second `response.create` by default,
and that its own pinned pace keeps the race even on a mock started with `--pace fast`:
both halves are checked here (the catalog wire test plays it on a fast mock too).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from conformance.protocol.errors import ScenarioError
from mock_server.config import MockConfig
from mock_server.scenarios import Scenario, load_scenario
from mock_server.server import MockServer

from .wire import Wire, open_wire

pytestmark = pytest.mark.integration
TIMEOUT = 10.0


@pytest.fixture
async def servers() -> AsyncIterator[list[MockServer]]:
    started: list[MockServer] = []
    yield started
    for server in started:
        await server.stop()


async def conflict(server: MockServer, scenario: Scenario) -> Wire:
    """Play the scenario's stimulus; return the wire once the first response is done."""
    wire = await open_wire(server.url, scenario)
    await wire.until("session.created")
    await wire.stimulus(scenario)
    await wire.until("response.done")
    await wire.sentinel()
    return wire


def rejected_second_create(wire: Wire) -> None:
    errors = wire.errors()
    assert [e["code"] for e in errors] == ["conversation_already_has_active_response"]
    assert errors[0]["event_id"] == "evt_second"
    assert len(wire.of_type("response.created")) == 1


async def test_the_default_mock_rejects_a_second_create_without_the_scenario(
    servers: list[MockServer],
) -> None:
    """The scenario's stimulus against a default mock (no rules, no pinned pace)."""
    scenario = load_scenario("active-response-conflict")
    plain = dataclasses.replace(scenario, rules=())
    async with asyncio.timeout(TIMEOUT):
        servers.append(server := await MockServer(config=MockConfig(port=0)).start())
        wire = await conflict(server, plain)
        rejected_second_create(wire)
        await wire.ws.close()


async def test_the_scenario_keeps_the_race_on_a_fast_mock(servers: list[MockServer]) -> None:
    scenario = load_scenario("active-response-conflict")
    config = MockConfig(port=0, pace="fast", scenario=scenario.id)
    async with asyncio.timeout(TIMEOUT):
        servers.append(server := await MockServer(config=config).start())
        wire = await conflict(server, scenario)
        rejected_second_create(wire)
        await wire.ws.close()
    # Without its rules, the same stimulus on a fast mock does not race (not live).
    async with asyncio.timeout(TIMEOUT):
        config = MockConfig(port=0, pace="fast")
        servers.append(server := await MockServer(config=config).start())
        wire = await open_wire(server.url, scenario)
        await wire.until("session.created")
        await wire.stimulus(scenario)
        await wire.until("response.done")
        await wire.until("response.done")
        assert wire.errors() == []
        await wire.ws.close()


def test_a_scenario_sets_the_pace_in_its_config(tmp_path: Path) -> None:
    """`config: {pace: fast}`: the runner's cases are live unless a scenario says so."""
    from .test_loader_errors import GOOD, write

    text = GOOD.replace("{id}", "sample").replace(
        "session_max_duration: 30", "session_max_duration: 30\n  pace: fast"
    )
    loaded = load_scenario(write(tmp_path, text))
    assert loaded.apply_config(MockConfig(port=0)).pace == "fast"
    bad = write(tmp_path, text.replace("pace: fast", "pace: slow"))
    with pytest.raises(ScenarioError, match="pace: expected one of live, fast, got 'slow'"):
        load_scenario(bad)
