"""The reference client under generated streams and faults, in process, on loopback.

One mock server (127.0.0.1, port 0) serves every example; each connection plays the
current example's `FuzzCase` as a scenario. The client connects, configures, adds a
text, asks for one response and closes. It must reassemble the exact text under any
delta split, ignore unknown events and fields, surface every error and close (raised, or
kept in `client.errors` for an untied error it may survive), and never hang.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import event, given, note

from client_reference import (
    ClientError,
    ClientSettings,
    ConnectionClosed,
    RealtimeAPIError,
    RealtimeClient,
    ResponseFailed,
    Timeout,
)
from conformance import strategies as rs
from conformance.fuzzing import scenario_yaml
from mock_server import MockServer, serve
from mock_server.app import MockApp
from mock_server.config import MockConfig
from mock_server.request import ConnectRequest
from mock_server.scenarios import Scenario, load_text

from .budget import examples

pytestmark = pytest.mark.integration

API_KEY = "sk-test-properties-0123456789abcdef"
QUICK = ClientSettings(
    open_timeout=2.0,
    session_created_timeout=2.0,
    ack_timeout=0.5,
    response_timeout=0.5,
    close_timeout=0.5,
    reconnect_timeout=1.0,
)
NEVER_HANGS_S = 5.0  # every wait is bounded by QUICK; this only catches a real hang


@dataclasses.dataclass
class Outcome:
    """What one run of the client flow gave."""

    text: str | None = None
    deltas: str = ""
    response_id: str | None = None
    error: ClientError | None = None
    unclaimed: list[RealtimeAPIError] = dataclasses.field(default_factory=list)


class _Switch:
    """An app factory playing whichever scenario the current example set."""

    def __init__(self) -> None:
        self.scenario: Scenario | None = None

    def __call__(self, request: ConnectRequest, config: MockConfig) -> MockApp:
        assert self.scenario is not None
        hooks = self.scenario.hooks()
        return MockApp(request, config, hooks=hooks, started_at=time.time())


@pytest.fixture(scope="module")
def mock() -> Iterator[tuple[asyncio.Runner, MockServer, _Switch]]:
    switch = _Switch()
    with asyncio.Runner() as runner:
        server = serve(app_factory=switch, api_keys=(API_KEY,), pace="fast")  # splits, not timing
        runner.run(server.start())
        try:
            yield runner, server, switch
        finally:
            runner.run(server.stop())


async def _flow(url: str) -> Outcome:
    outcome = Outcome()
    client = RealtimeClient(url, api_key=API_KEY, settings=QUICK)
    try:
        await client.connect()
        await client.configure(instructions="Be terse.")
        await client.add_text("Hello")
        stream = await client.respond(
            on_delta=lambda d: setattr(outcome, "deltas", outcome.deltas + d)
        )
        result = await stream.done()
        outcome.text, outcome.response_id = result.text, result.response_id
    except ClientError as exc:
        outcome.error = exc
    finally:
        outcome.unclaimed = list(client.errors)
        await client.close()
    return outcome


def play(mock: tuple[asyncio.Runner, MockServer, _Switch], case: rs.FuzzCase) -> Outcome:
    runner, server, switch = mock
    text = scenario_yaml(case)
    note(text)
    switch.scenario = load_text(text)

    async def bounded() -> Outcome:
        async with asyncio.timeout(NEVER_HANGS_S):
            return await _flow(server.url)

    outcome = runner.run(bounded())
    note(f"outcome: {outcome!r}")
    return outcome


def seen_before_the_reply(case: rs.FuzzCase) -> rs.Fault | None:
    """The fault the client meets first: in a fuzz case, the prelude's or the reply's
    (faults in a response always come before its response.done)."""
    return next((fault for faults in case.faults[:2] for fault in faults), None)


@examples(0.3)
@given(rs.fuzz_cases(fault_kinds=()))
def test_the_exact_text_arrives_under_any_split_and_unknown_events_are_ignored(
    mock: Any, case: rs.FuzzCase
) -> None:
    outcome = play(mock, case)
    assert outcome.error is None
    assert outcome.unclaimed == []
    assert outcome.text == outcome.deltas
    if case.texts:
        (response_id, text) = next(iter(case.texts.items()))
        assert (outcome.response_id, outcome.text) == (response_id, text)


@examples(0.4)
@given(rs.fuzz_cases(min_faults=1))
def test_every_error_and_close_surfaces_and_nothing_hangs(mock: Any, case: rs.FuzzCase) -> None:
    outcome = play(mock, case)
    fault = seen_before_the_reply(case)
    event(f"fault before the reply: {fault.kind if fault else None}")
    if fault is None:
        assert outcome.error is None
        return
    error = outcome.error
    if fault.kind == "close":
        assert isinstance(error, ConnectionClosed)
        assert (error.code, error.reason) == (fault.code, fault.text)
    elif fault.kind == "drop":
        assert isinstance(error, ConnectionClosed)
        assert error.code == 1006
    elif fault.kind == "stall":
        assert isinstance(error, Timeout)
    else:
        raised = [error] if isinstance(error, RealtimeAPIError | ResponseFailed) else []
        seen = [(e.code, e.message) for e in [*raised, *outcome.unclaimed]]
        assert (fault.code, fault.text) in seen
