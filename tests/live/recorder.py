"""Record every frame the reference client sends and receives, as `conformance` transcripts.

The reference client has no public hook for observing frames (`RealtimeConnection` keeps
its websocket private), so `record_frames` observes at the websocket level: it patches the
`ws_connect` that `client_reference.connection.connect` calls so that each connection is a
`ClientConnection` subclass whose `send`, `recv` and `close` append to a `Transcript`.
Works the same for the mock (`ws://`) and the live API (`wss://`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as websockets_connect
from websockets.exceptions import ConnectionClosed
from websockets.protocol import Protocol

import client_reference.connection as connection_module
from conformance.transcript import Transcript


class FrameRecorder:
    """One `Transcript` per websocket the client opened, in order (reconnects add more)."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self.secrets = [s for s in secrets if s]
        self.transcripts: list[Transcript] = []

    def connection_class(self) -> type[ClientConnection]:
        """A `ClientConnection` subclass that records into a new transcript per instance."""
        recorder = self

        class RecordingConnection(ClientConnection):
            def __init__(self, protocol: Protocol, **kwargs: Any) -> None:
                super().__init__(protocol, **kwargs)  # type: ignore[arg-type]
                self._t0 = asyncio.get_running_loop().time()
                self._end_recorded = False
                self.transcript = Transcript(secrets=recorder.secrets)
                recorder.transcripts.append(self.transcript)

            def _ms(self) -> float:
                return (asyncio.get_running_loop().time() - self._t0) * 1000.0

            def begin(self) -> None:
                """Fill `meta` from the completed handshake (headers are masked on output)."""
                request = self.request
                path, _, query = (request.path if request else "").partition("?")
                pairs = dict(p.partition("=")[::2] for p in query.split("&") if p)
                fresh = Transcript.begin(
                    path=path,
                    query=pairs,
                    headers=request.headers.raw_items() if request else (),
                    subprotocols=[self.subprotocol] if self.subprotocol else (),
                    model=pairs.get("model"),
                    secrets=recorder.secrets,
                )
                self.transcript.meta = fresh.meta

            async def send(self, message: Any, *args: Any, **kwargs: Any) -> None:
                if isinstance(message, str):
                    self.transcript.add_text("client", message, self._ms())
                elif isinstance(message, bytes | bytearray | memoryview):
                    self.transcript.add_binary("client", bytes(message), self._ms())
                await super().send(message, *args, **kwargs)

            async def recv(self, *args: Any, **kwargs: Any) -> Any:
                try:
                    frame = await super().recv(*args, **kwargs)
                except ConnectionClosed as exc:
                    self._record_end(exc)
                    raise
                if isinstance(frame, str):
                    self.transcript.add_text("server", frame, self._ms())
                else:
                    self.transcript.add_binary("server", bytes(frame), self._ms())
                return frame

            async def close(self, code: int = 1000, reason: str = "") -> None:
                if not self._end_recorded and self.close_code is None:
                    self._end_recorded = True
                    self.transcript.add_close("client", code, reason, self._ms())
                await super().close(code, reason)

            def _record_end(self, exc: ConnectionClosed) -> None:
                if self._end_recorded:
                    return
                self._end_recorded = True
                if exc.rcvd is not None:
                    self.transcript.add_close("server", exc.rcvd.code, exc.rcvd.reason, self._ms())
                else:
                    self.transcript.add_drop("server", self._ms())

        return RecordingConnection


def record_frames(
    monkeypatch: pytest.MonkeyPatch, *, secrets: Iterable[str | None]
) -> FrameRecorder:
    """Make every connection `client_reference` opens from now on record its frames."""
    recorder = FrameRecorder(secrets)
    factory = recorder.connection_class()

    async def recording_connect(*args: Any, **kwargs: Any) -> ClientConnection:
        ws = await websockets_connect(*args, create_connection=factory, **kwargs)
        ws.begin()  # type: ignore[attr-defined]
        return ws

    monkeypatch.setattr(connection_module, "ws_connect", recording_connect)
    return recorder
