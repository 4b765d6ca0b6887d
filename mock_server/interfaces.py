"""The contract between the sans-I/O mock app and the adapters that drive it.

An adapter (`mock_server.server` over real sockets, an in-memory transport in tests)
creates one `App` per connection with an `AppFactory` and drives it as described in
`mock_server.actions`: `opened`, then `receive_text` / `receive_bytes` per client frame,
`handle_timer` when `next_timer()` is reached, `connection_lost` at the end, draining
`actions_to_perform()` after each call. `now_ms` is milliseconds since the connection
opened, on the adapter's monotonic clock.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Protocol, cast

from conformance.protocol.errors import UsageError
from conformance.transcript import Transcript
from mock_server.actions import Action
from mock_server.config import MockConfig
from mock_server.request import ConnectRequest


class App(Protocol):
    """One connection's protocol logic; performs no I/O and reads no clock."""

    transcript: Transcript
    """Every frame of the connection, recorded by the app itself."""

    def opened(self, now_ms: float) -> None:
        """The upgrade is done (the live `session.created` goes out within ~1 ms)."""
        ...

    def receive_text(self, text: str, now_ms: float) -> None:
        """One text frame from the client."""
        ...

    def receive_bytes(self, data: bytes, now_ms: float) -> None:
        """One binary frame from the client."""
        ...

    def handle_timer(self, now_ms: float) -> None:
        """`next_timer()` was reached (called at or just after it)."""
        ...

    def next_timer(self) -> float | None:
        """When to call `handle_timer` next: absolute ms on the adapter's clock, or None."""
        ...

    def actions_to_perform(self) -> list[Action]:
        """Drain the pending actions; the adapter performs them in order."""
        ...

    def connection_lost(self, code: int | None, reason: str, now_ms: float) -> None:
        """The socket is gone; `code`/`reason` of the client's close frame, None if none."""
        ...


AppFactory = Callable[[ConnectRequest, MockConfig], App]
"""Builds the `App` of one connection from its request and the server's config."""


def load_app_factory(spec: str) -> AppFactory:
    """Import an app factory named `module:attribute`, e.g. `mock_server.app:MockApp`.

    Raises:
        UsageError: the module or attribute cannot be found.
    """
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise UsageError(f"app factory {spec!r} must look like 'package.module:Name'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(
            f"cannot import {module_name!r} for the app factory {spec!r}: {exc}; "
            "pass app_factory= (or --app MODULE:NAME) to use another app"
        ) from exc
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise UsageError(f"{module_name!r} has no callable {attribute!r} (app factory {spec!r})")
    return cast(AppFactory, factory)
