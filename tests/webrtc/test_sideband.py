"""Call control: a sideband WebSocket joins a running call by its id (it sees the call's
events and acts on its session), hangup ends the call, and scenarios (expiry, drops)
apply to calls as to WebSocket sessions."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

pytest.importorskip(
    "aiortc", reason="the WebRTC tests need the webrtc extra (pip install -e '.[webrtc]')"
)

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from mock_server import serve
from tests.webrtc._peer import AUTH, TIMEOUT, Peer, absolute, http_client

pytestmark = pytest.mark.integration
TEXT = {"output_modalities": ["text"]}


async def recv_type(ws: ClientConnection, kind: str) -> dict[str, Any]:
    async with asyncio.timeout(TIMEOUT):
        while True:
            event: dict[str, Any] = json.loads(await ws.recv())
            if event["type"] == kind:
                return event


async def test_a_sideband_joins_the_call_and_hangup_ends_it() -> None:
    async with serve(pace="fast") as server, http_client(server) as http:
        peer = Peer()
        try:
            assert (await peer.call(http)).status_code == 201
            await peer.next("session.created")
            url = f"{server.url}?call_id={peer.call_id}"
            async with connect(url, additional_headers=AUTH) as sideband:
                # the sideband's client events act on the call's session ...
                update = {"type": "realtime", "instructions": "Server-side guardrails."}
                await sideband.send(json.dumps({"type": "session.update", "session": update}))
                seen_by_sideband = await recv_type(sideband, "session.updated")
                seen_by_peer = await peer.next("session.updated")
                assert seen_by_peer == seen_by_sideband
                assert seen_by_peer["session"]["instructions"] == "Server-side guardrails."
                # ... and it sees what the client's events make
                peer.send({"type": "response.create", "response": TEXT})
                done = await recv_type(sideband, "response.done")
                assert done == await peer.next("response.done")

                assert peer.response is not None
                location = peer.response.headers["Location"]
                hangup = await http.post(absolute(server, location + "/hangup"), headers=AUTH)
                assert (hangup.status_code, hangup.content) == (200, b"")
                with pytest.raises(ConnectionClosed) as closed:
                    await recv_type(sideband, "never")
                assert closed.value.rcvd is not None
                assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1000, "hangup")
            await asyncio.wait_for(peer.closed.wait(), TIMEOUT)  # the data channel closed
            call = server.calls.get(peer.call_id)
            assert call is not None
            assert (call.state, call.end_reason) == ("ended", "hangup")
            again = await http.post(absolute(server, location + "/hangup"), headers=AUTH)
            assert again.status_code == 200  # already ended: nothing to do
            with pytest.raises(InvalidStatus) as refused:
                async with connect(url, additional_headers=AUTH):
                    pass
            assert refused.value.response.status_code == 404  # the call is over
            (transcript,) = await server.wait_for_sessions(1, timeout=TIMEOUT)
        finally:
            await peer.close()
    # one transcript for the call: the sideband's frames are in it
    client_types = [r.event_type for r in transcript.records if r.direction == "client"]
    assert client_types[:2] == ["session.update", "response.create"]


async def test_a_sideband_needs_a_known_call_and_a_good_key() -> None:
    async with (
        serve(pace="fast", api_keys=("sk-test-webrtc",)) as server,
        http_client(server) as http,
    ):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(f"{server.url}?call_id=rtc_{'0' * 32}", additional_headers=AUTH):
                pass
        response = refused.value.response
        assert response.status_code == 404
        assert json.loads(response.body)["error"]["code"] == "call_not_found"
        peer = Peer()
        try:
            assert (await peer.call(http)).status_code == 201
            await peer.next("session.created")
            bad = {"Authorization": "Bearer sk-wrong-key-0000"}
            async with connect(
                f"{server.url}?call_id={peer.call_id}", additional_headers=bad
            ) as ws:
                error = await recv_type(ws, "error")
                assert error["error"]["code"] == "invalid_api_key"
                with pytest.raises(ConnectionClosed):
                    await recv_type(ws, "never")
            assert server.calls.live(peer.call_id) is not None  # the call goes on
        finally:
            await peer.close()


@pytest.mark.parametrize(
    ("scenario", "reason", "last"),
    [("session-expired", "closed", "error"), ("tcp-drop-mid-response", "dropped", None)],
)
async def test_scenarios_apply_to_calls(scenario: str, reason: str, last: str | None) -> None:
    async with serve(pace="fast") as server, http_client(server) as http:
        peer = Peer()
        try:
            response = await peer.call(http, headers={"X-Mock-Scenario": scenario})
            assert response.status_code == 201
            await peer.next("session.created")
            if scenario == "tcp-drop-mid-response":
                peer.send({"type": "response.create", "response": TEXT})
            await asyncio.wait_for(peer.closed.wait(), TIMEOUT)
            call = await server.calls.wait_for(peer.call_id, "ended")
            assert call.end_reason == reason
            (transcript,) = await server.wait_for_sessions(1, timeout=TIMEOUT)
        finally:
            await peer.close()
    assert transcript.meta["scenario"] == scenario
    if last is not None:
        assert peer.seen[-1]["type"] == last
        assert peer.seen[-1]["error"]["code"] == "session_expired"
    else:
        assert transcript.records[-1].kind == "drop"
