"""Where the smoke tests connect: the in-process mock (always) or the live API (opt-in)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from client_reference import DEFAULT_URL, ClientSettings
from mock_server import MockServer

LIVE_MODEL = "gpt-realtime-1.5"
MOCK_API_KEY = "sk-test-smoke-0123456789abcdefABCDEF"

# The live API: a few seconds per turn is normal; these bound a broken run, not a slow one.
LIVE_SETTINGS = ClientSettings(
    open_timeout=20.0,
    session_created_timeout=20.0,
    ack_timeout=20.0,
    response_timeout=60.0,
    close_timeout=5.0,
)
MOCK_SETTINGS = ClientSettings(
    open_timeout=5.0,
    session_created_timeout=5.0,
    ack_timeout=5.0,
    response_timeout=5.0,
    close_timeout=2.0,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """A Realtime endpoint to run the same test body against."""

    name: str  # "mock" or "live"
    url: str
    api_key: str = field(repr=False)
    model: str
    settings: ClientSettings
    deadline: float  # seconds for the whole test body
    server: MockServer | None = None  # the in-process mock, when name == "mock"

    @property
    def is_live(self) -> bool:
        return self.name == "live"


def live_skip_reason(environ: Mapping[str, str] | None = None) -> str | None:
    """Why the live target cannot run here, or None when RUN_LIVE=1 and a key are set."""
    env = os.environ if environ is None else environ
    if env.get("RUN_LIVE") != "1":
        return (
            "live API tests are opt-in: set RUN_LIVE=1 and OPENAI_API_KEY "
            "(RUN_LIVE=1 OPENAI_API_KEY=sk-... pytest -m live)"
        )
    if not env.get("OPENAI_API_KEY"):
        return "RUN_LIVE=1 but OPENAI_API_KEY is not set: export a key to run the live tests"
    return None


def live_target(environ: Mapping[str, str] | None = None) -> Target:
    """The live API target (call only when `live_skip_reason()` is None)."""
    env = os.environ if environ is None else environ
    return Target(
        name="live",
        url=DEFAULT_URL,
        api_key=env["OPENAI_API_KEY"],
        model=LIVE_MODEL,
        settings=LIVE_SETTINGS,
        deadline=180.0,
    )


def mock_target(server: MockServer) -> Target:
    """The in-process mock target."""
    return Target(
        name="mock",
        url=server.url,
        api_key=MOCK_API_KEY,
        model=LIVE_MODEL,
        settings=MOCK_SETTINGS,
        deadline=10.0,
        server=server,
    )
