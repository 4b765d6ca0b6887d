"""Errors of the sans-I/O core.

Tree (harness errors only; findings about a target are `Finding`/`Violation` records)::

    RealtimeError
    ├── UsageError (also ValueError)        a caller passed bad arguments
    ├── ConfigError                         a configuration or data file is wrong
    │   └── ScenarioError                   a scenario file is wrong (file, line, did-you-mean)
    └── ProtocolError
        ├── LocalProtocolError              our own side tried something illegal
        └── RemoteProtocolError             the peer broke the protocol
"""

from __future__ import annotations


class RealtimeError(Exception):
    """Base class of every error this project raises on purpose."""


class UsageError(RealtimeError, ValueError):
    """A caller passed an argument that cannot work; the message says which and why."""


class ConfigError(RealtimeError):
    """A configuration or data file could not be used."""


class ScenarioError(ConfigError):
    """A scenario file is invalid: the message names the file, the line and a fix."""


class ProtocolError(RealtimeError):
    """A Realtime protocol rule was broken."""


class LocalProtocolError(ProtocolError):
    """Our own side tried to send an event that is illegal in the current state."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something illegal: `index` is the event's position in the stream."""

    def __init__(self, message: str, *, index: int | None = None, event_type: str | None = None):
        super().__init__(message)
        self.index = index
        self.event_type = event_type
