"""End to end: each built-in scenario against the real mock server and a raw client.

Real sockets on 127.0.0.1 (port 0); every test is bounded by a timeout. The checks live
in `wire_checks.py` / `wire_checks_session.py`, one per scenario id.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

pytest.importorskip("mock_server.app")
pytest.importorskip("mock_server.server")

from mock_server.config import MockConfig
from mock_server.scenarios import Scenario, builtin_scenarios, load_scenario
from mock_server.server import MockServer

from . import (  # noqa: F401  (register checks)
    wire_checks_long_session,
    wire_checks_session,
    wire_checks_sip,
    wire_checks_translation,
)
from .wire import Wire, open_wire
from .wire_checks import CHECKS

pytestmark = pytest.mark.integration
BUILTIN_IDS = [scenario.id for scenario in builtin_scenarios()]
TEST_TIMEOUT = 15.0

Connect = Callable[[Scenario], Awaitable[Wire]]


@pytest.fixture
async def connect_to_scenario() -> AsyncIterator[Connect]:
    """Start a mock server playing a scenario and open a client connection to it."""
    servers: list[MockServer] = []
    wires: list[Wire] = []

    async def start(scenario: Scenario) -> Wire:
        # Fast unless the scenario sets a pace: these checks read what a scenario sends, not
        # when (the runner plays every scenario at the live pace; tests/runner covers that).
        base = MockConfig(port=0, scenario=scenario.id, pace="fast")
        config = scenario.apply_config(base)
        server = await MockServer(config=config).start()
        servers.append(server)
        wires.append(await open_wire(server.url, scenario))
        return wires[-1]

    yield start
    for wire in wires:
        if wire.refused is None:
            wire.ws.transport.abort()  # some scenarios never answer a close handshake
    for server in servers:
        await server.stop()


def test_every_builtin_scenario_has_a_wire_check() -> None:
    assert sorted(CHECKS) == sorted(BUILTIN_IDS)


@pytest.mark.parametrize("name", BUILTIN_IDS)
async def test_builtin_scenario_on_the_wire(name: str, connect_to_scenario: Connect) -> None:
    scenario = load_scenario(name)
    async with asyncio.timeout(TEST_TIMEOUT):
        wire = await connect_to_scenario(scenario)
        await CHECKS[name](wire, scenario)
