"""The parsed, immutable form of a scenario file."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from mock_server.config import MockConfig

from ._vocabulary import (
    AFTER_SESSION_CREATED,
    BEFORE_SESSION_CREATED,
    REALTIME_ENDPOINT,
    TERMINAL_ACTIONS,
    TRANSLATION_ENDPOINT,
    UPGRADE_CONFIG,
    UPGRADE_EXPECTATIONS,
)
from .matcher import Matcher

if TYPE_CHECKING:
    from mock_server.hooks import Hooks


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True, kw_only=True)
class Trigger:
    """When a rule fires (`when:`); `on` is one of the triggers in docs/scenarios.md."""

    on: str
    phase: str = AFTER_SESSION_CREATED
    match: Matcher = field(default_factory=Matcher)
    min_bytes: int | None = None
    nth: int = 1
    every: bool = False
    after_ms: float = 0.0
    count: int = 1

    @property
    def before_session_created(self) -> bool:
        """True for a connect trigger that runs before `session.created`."""
        return self.on == "connect" and self.phase == BEFORE_SESSION_CREATED


@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    """One step of a rule's `do:` list; `args` is the validated mapping given in the file."""

    name: str
    args: Mapping[str, Any] = field(default_factory=_empty)
    line: int = 0

    @property
    def terminal(self) -> bool:
        """True for close, drop and stall: nothing is sent after them."""
        return self.name in TERMINAL_ACTIONS


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """`when` this happens, `do` these actions in order."""

    when: Trigger
    do: tuple[Action, ...]
    line: int = 0

    @property
    def consumes(self) -> bool:
        """True if the triggering client event gets no default answer."""
        return any(action.name == "consume" for action in self.do)


@dataclass(frozen=True, slots=True, kw_only=True)
class Expectation:
    """What a correct client does when it meets the scenario (used by the conformance runner)."""

    client: tuple[str, ...]
    summary: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectSpec:
    """The stimulus a test client sends: upgrade headers, query, subprotocols, then events.

    `query` values of None mean "leave this parameter out" (e.g. `model: null`). Each item
    of `send` is a client event, or `{wait_for: <server event type>}`.
    """

    headers: Mapping[str, str] = field(default_factory=_empty)
    query: Mapping[str, str | None] = field(default_factory=_empty)
    subprotocols: tuple[str, ...] = ()
    send: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Upgrade:
    """An HTTP answer to the WebSocket upgrade instead of 101 (no WebSocket ever opens)."""

    status: int
    body: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """One built-in or user scenario: documentation, expectation and the server's rules.

    `catalog` (the failure-catalog entry) and `sources` (evidence URLs) are required of
    built-in scenarios that reproduce a failure; a built-in scenario that covers a protocol
    feature instead names it in `feature` (e.g. `translation`: the happy path of the
    translations endpoint) and needs neither. A user's own file (a private incident) may
    leave all three out. `endpoint` is where a client of the scenario connects:
    `realtime` (`/v1/realtime`) or `translation` (`/v1/realtime/translations`).
    `live`: the server does only what the live API does by default, so the case also
    runs against the live API (`realtime-conformance run --live`). `sip_headers`: the
    INVITE's headers a simulated incoming SIP call of this scenario carries (`sip:`,
    docs/sip.md), as (name, value) pairs in order; empty: the mock's defaults.
    """

    id: str
    summary: str
    catalog: str | None = None
    feature: str | None = None
    sources: tuple[str, ...] = ()
    description: str
    endpoint: str = REALTIME_ENDPOINT
    live: bool = False
    sip_headers: tuple[tuple[str, str], ...] = ()
    expect: Expectation
    connect: ConnectSpec = field(default_factory=ConnectSpec)
    upgrade: Upgrade | None = None
    rules: tuple[Rule, ...] = ()
    config: Mapping[str, Any] = field(default_factory=_empty)
    path: Path | None = None

    def hooks(self) -> Hooks:
        """Fresh per-connection hooks that play this scenario (`ScenarioHooks`)."""
        from .runtime import ScenarioHooks

        return ScenarioHooks(self)

    def apply_config(self, base: MockConfig) -> MockConfig:
        """`base` with this scenario's `config:` overrides applied."""
        return dataclasses.replace(base, **dict(self.config)) if self.config else base

    @property
    def translation(self) -> bool:
        """True for a scenario of the translations endpoint (`endpoint: translation`)."""
        return self.endpoint == TRANSLATION_ENDPOINT

    @property
    def upgrade_only(self) -> str | None:
        """Why the scenario acts only on a WebSocket upgrade, or None when it applies to a
        WebRTC call too.

        A call (`POST /v1/realtime/calls`) has no upgrade: an `upgrade:` refusal, a stimulus
        in the upgrade request (`connect.headers`, `query`, `subprotocols`: a beta header,
        a wrong key, a bad `?model=`), keys for the upgrade's check (`config.api_keys`,
        `ephemeral_keys`) and expectations judged on the upgrade's refusal
        (`surfaces_handshake_failure`) have nothing to act on there: over WebRTC the
        scenario would play the happy path and judge nothing it is about.
        """
        connect, why = self.connect, None
        if self.translation:
            why = "it is a translation scenario (a call is a realtime session)"
        elif self.upgrade is not None:
            why = f"it refuses the upgrade with HTTP {self.upgrade.status}"
        elif connect.headers or connect.query or connect.subprotocols:
            why = "its stimulus is in the upgrade request (connect: headers, query, subprotocols)"
        elif keys := sorted(UPGRADE_CONFIG & set(self.config)):
            why = f"its config ({', '.join(keys)}) is read by the upgrade's key check"
        elif expected := sorted(UPGRADE_EXPECTATIONS & set(self.expect.client)):
            why = f"it expects {', '.join(expected)}, judged on the upgrade"
        return why

    @property
    def applies_to_webrtc(self) -> bool:
        """True when the scenario can be played on a WebRTC call (`upgrade_only` is None)."""
        return self.upgrade_only is None

    @property
    def suppresses_session_created(self) -> bool:
        """True if a rule acts before `session.created` in a way that replaces it."""
        return any(
            rule.when.before_session_created
            and any(a.terminal or a.name == "suppress_session_created" for a in rule.do)
            for rule in self.rules
        )
