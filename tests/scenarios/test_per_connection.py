"""One running server, several connections, each with its own scenario at the same time."""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from conformance.transcript import read_jsonl
from mock_server import serve

pytestmark = pytest.mark.integration

HEADERS = {"Authorization": "Bearer sk-test-per-connection-1234"}


async def frames_until_close(url: str) -> tuple[list[str], int]:
    """Every text frame a raw client receives, and the close code that ended it."""
    received: list[str] = []
    async with connect(url, additional_headers=HEADERS, proxy=None) as ws:
        try:
            async with asyncio.timeout(5):
                while True:
                    received.append(str(await ws.recv()))
        except ConnectionClosed as closed:
            return received, closed.rcvd.code if closed.rcvd is not None else 1006
    raise AssertionError("the server never closed")


async def test_two_connections_run_different_scenarios_at_the_same_time():
    async with serve(port=0) as server:
        base = f"{server.url}?model=gpt-realtime-1.5"
        early_close = frames_until_close(f"{base}&scenario=accepted-then-closed")
        expiring = frames_until_close(f"{base}&scenario=session-expired")
        plain_open = connect(base, additional_headers=HEADERS, proxy=None)
        async with plain_open as plain:
            first = await asyncio.wait_for(plain.recv(), 5)
            (closed_frames, closed_code), (expired_frames, expired_code) = await asyncio.gather(
                early_close, expiring
            )
            # The scenario-free connection was open the whole time and still works.
            await plain.send('{"type": "input_audio_buffer.clear"}')
            cleared = await asyncio.wait_for(plain.recv(), 5)
        await server.wait_for_sessions(3, timeout=5)
        scenarios = sorted(str(t.meta.get("scenario")) for t in server.transcripts)
    assert closed_frames == []
    assert closed_code == 1000
    assert '"session.created"' in expired_frames[0]
    assert '"session_expired"' in expired_frames[-1]
    assert expired_code == 1001
    assert '"session.created"' in str(first)
    assert '"input_audio_buffer.cleared"' in str(cleared)
    assert scenarios == ["None", "accepted-then-closed", "session-expired"]


async def test_an_unknown_scenario_name_is_answered_in_band_with_a_suggestion():
    async with serve(port=0) as server:
        frames, code = await frames_until_close(
            f"{server.url}?model=gpt-realtime-1.5&scenario=sesion-expired"
        )
    assert code == 4000
    assert len(frames) == 1
    assert "unknown_scenario" in frames[0]
    assert "session-expired" in frames[0]  # the did-you-mean


async def test_a_scenario_can_refuse_the_upgrade_and_the_transcript_says_so(tmp_path):
    async with serve(port=0, record=str(tmp_path)) as server:
        base = f"{server.url}?model=gpt-realtime-1.5"
        with pytest.raises(InvalidStatus) as refused:
            await connect(f"{base}&scenario=no-realtime-access", additional_headers=HEADERS)
        async with connect(base, additional_headers=HEADERS, proxy=None) as plain:
            first = await asyncio.wait_for(plain.recv(), 5)  # the server still upgrades others
        [rejected, _] = await server.wait_for_sessions(2, timeout=5)
    assert (refused.value.response.status_code, refused.value.response.body) == (403, b"")
    assert '"session.created"' in str(first)
    assert rejected.meta["scenario"] == "no-realtime-access"
    assert [(r.direction, r.kind, r.code, r.reason) for r in rejected] == [
        ("server", "rejected", 403, "")
    ]
    assert "sk-test-per-connection-1234" not in rejected.to_jsonl()
    assert sorted([r.kind for r in read_jsonl(p)][-1] for p in tmp_path.glob("*.jsonl")) == [
        "close",
        "rejected",
    ]
