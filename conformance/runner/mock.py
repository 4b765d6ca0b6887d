"""What the runner needs from a mock server, as protocols (`conformance` never imports
`mock_server`; the CLI passes `mock_server.serve`, which fits `MockFactory`)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol

from conformance.transcript import Transcript


class MockHandle(Protocol):
    """A running mock: its URLs and the transcripts of the sessions it served."""

    @property
    def url(self) -> str:
        """`ws://127.0.0.1:PORT/v1/realtime` (`wss://` when it serves TLS)."""
        ...

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT/v1` (`https://` when it serves TLS)."""
        ...

    @property
    def transcripts(self) -> list[Transcript]:
        """Every session's transcript, in connection order."""
        ...

    async def wait_for_sessions(
        self,
        n: int,
        timeout: float = ...,  # noqa: ASYNC109 - mirrors MockServer.wait_for_sessions
        *,
        ended: bool = ...,
    ) -> list[Transcript]:
        """Wait until `n` sessions ended; raises TimeoutError after `timeout` seconds."""
        ...


class MockFactory(Protocol):
    """Starts one mock on 127.0.0.1 (any free port) playing `scenario` (None: none).

    With `tolerant`, the mock records the client's fatal handshake mistakes instead of
    closing (`mock_server.config.MockConfig.tolerant`).
    """

    def __call__(
        self, *, scenario: str | None, api_keys: tuple[str, ...], tolerant: bool = False
    ) -> AbstractAsyncContextManager[MockHandle]:
        """An `async with` block that serves while it lasts."""
        ...
