"""The driver's slow paths on real sockets: a peer that stops reading, and an app that raises.

A peer that reads nothing fills the socket: the driver then performs the rest of the
batch from its backlog task (each frame awaited), reads nothing more from that peer until
the backlog is out, and keeps every frame in order. An app that raises, whether on
open, on a timer or behind a backlog, ends the connection with close 1011 once what was
queued before the failure is out.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from websockets.frames import Opcode

from conformance import _json
from mock_server.actions import SendBytes, SendText, SetPingAnswer
from mock_server.server import MockServer, serve
from tests.mock_server.raw_client import RawClient
from tests.mock_server.stub_app import StubApp

pytestmark = pytest.mark.integration

KEY = "sk-proj-driverpaths0123456789abcdef"
HEADERS = [("Authorization", f"Bearer {KEY}")]
TIMEOUT = 10.0
BIG = 65536
FRAMES = 128  # 8 MiB: more than loopback socket buffers take at once


class SlowPeerApp(StubApp):
    """`mix`: many big text frames (one batch, written at once: the socket is full);
    `tail`: a binary frame, a ping switch and a marker (performed by the backlog task);
    `boom`: raise (after whatever is still queued); `later-boom`: raise on a timer."""

    def receive_text(self, text: str, now_ms: float) -> None:
        if text == "mix":
            self._actions.extend(SendText(f"{n:08d}" + "x" * BIG) for n in range(FRAMES))
        elif text == "tail":
            self._actions += [SendBytes(b"\x01\x02"), SetPingAnswer(True), SendText("end-of-mix")]
        elif text == "boom":
            raise RuntimeError("app bug while the peer is slow")
        elif text == "later-boom":
            self.timers.append((now_ms + 20.0, "boom"))
        else:
            super().receive_text(text, now_ms)

    def handle_timer(self, now_ms: float) -> None:
        if any(label == "boom" for _, label in self.timers):
            raise RuntimeError("app bug in a timer")
        super().handle_timer(now_ms)


class FailsOnOpen(StubApp):
    def opened(self, now_ms: float) -> None:
        raise RuntimeError("app bug on open")


@asynccontextmanager
async def running(factory: Any, **overrides: Any) -> AsyncIterator[MockServer]:
    overrides.setdefault("ping_interval", None)
    async with serve(app_factory=factory, compression=False, **overrides) as server:
        yield server


def url(server: MockServer) -> str:
    return f"{server.url}?model=gpt-realtime"


async def texts_until(raw: RawClient, last: str) -> list[str]:
    """Text payloads (first 8 characters of the big ones) up to and including `last`."""
    seen: list[str] = []
    while True:
        frame = await raw.next_frame(TIMEOUT)
        assert frame is not None, f"stream ended after {len(seen)} frames"
        if frame.opcode is Opcode.TEXT:
            text = frame.data.decode()
            seen.append(text[:8] if len(text) > BIG else text)
            if text == last:
                return seen
        elif frame.opcode is Opcode.BINARY:
            seen.append(f"binary:{frame.data.hex()}")


async def test_a_peer_that_stops_reading_gets_every_frame_in_order_when_it_reads_again() -> None:
    async with (
        running(SlowPeerApp, send_timeout=TIMEOUT) as server,
        RawClient(url(server), HEADERS) as raw,
    ):
        first = await raw.next_frame(TIMEOUT)
        assert first is not None
        assert _json.loads(first.data)["type"] == "session.created"
        await raw.send_text("mix")
        await raw.send_text("tail")
        await raw.send_text("after the mix")  # must not overtake the backlog
        seen = await texts_until(raw, "end-of-mix")
        assert seen == [f"{n:08d}" for n in range(FRAMES)] + ["binary:0102", "end-of-mix"]
        echo = await raw.next_of(Opcode.TEXT, TIMEOUT)
        assert echo is not None
        assert _json.loads(echo.data)["text"] == "after the mix"


async def test_an_app_failure_behind_a_backlog_closes_1011_after_the_queued_frames(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with (
        running(SlowPeerApp, send_timeout=TIMEOUT) as server,
        RawClient(url(server), HEADERS) as raw,
    ):
        await raw.next_frame(TIMEOUT)
        await raw.send_text("mix")
        await raw.send_text("tail")
        await raw.send_text("boom")
        seen = await texts_until(raw, "end-of-mix")
        assert len(seen) == FRAMES + 2
        close = await raw.next_of(Opcode.CLOSE, TIMEOUT)
        assert close is not None
        assert close.data[:2] == (1011).to_bytes(2, "big")
        assert close.data[2:] == b"mock app error"
    assert "mock app failed; closing with 1011" in caplog.text


async def test_an_app_failure_in_a_timer_closes_1011(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    async with running(SlowPeerApp) as server, RawClient(url(server), HEADERS) as raw:
        await raw.next_frame(TIMEOUT)
        await raw.send_text("later-boom")
        close = await raw.next_of(Opcode.CLOSE, TIMEOUT)
        assert close is not None
        assert close.data[:2] == (1011).to_bytes(2, "big")
    assert "app bug in a timer" in caplog.text


async def test_an_app_failure_on_open_closes_1011_before_any_frame(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with running(FailsOnOpen) as server, RawClient(url(server), HEADERS) as raw:
        frame = await raw.next_frame(TIMEOUT)
        assert frame is not None
        assert frame.opcode is Opcode.CLOSE
        assert frame.data[:2] == (1011).to_bytes(2, "big")
    assert "app bug on open" in caplog.text
