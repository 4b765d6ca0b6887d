"""The asyncio adapter over real loopback sockets, driven by the stub app."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import Close, Frame, Opcode
from websockets.typing import Subprotocol

from conformance import _json
from conformance.protocol.errors import UsageError
from conformance.transcript import Transcript
from mock_server.config import MockConfig
from mock_server.interfaces import load_app_factory
from mock_server.request import ConnectRequest
from mock_server.server import MockServer, serve
from tests.mock_server.raw_client import RawClient
from tests.mock_server.stub_app import StubApp

pytestmark = pytest.mark.integration

KEY = "sk-proj-integration0123456789abcdef"
TIMEOUT = 5.0
QUIET = 0.3  # how long "nothing arrives" is watched for


@asynccontextmanager
async def running(**overrides: Any) -> AsyncIterator[MockServer]:
    overrides.setdefault("ping_interval", None)
    async with serve(app_factory=StubApp, **overrides) as server:
        yield server


def client(
    url: str,
    *,
    key: str | None = KEY,
    headers: Sequence[tuple[str, str]] = (),
    **kwargs: Any,
) -> Any:
    auth = [("Authorization", f"Bearer {key}")] if key else []
    kwargs.setdefault("ping_interval", None)
    return connect(
        url,
        additional_headers=[*auth, *headers],
        open_timeout=TIMEOUT,
        close_timeout=TIMEOUT,
        proxy=None,
        **kwargs,
    )


async def receive(ws: ClientConnection) -> Any:
    message = await asyncio.wait_for(ws.recv(), TIMEOUT)
    return _json.loads(message) if isinstance(message, str) else message


async def closed_by_server(ws: ClientConnection) -> ConnectionClosed:
    with pytest.raises(ConnectionClosed) as info:
        await asyncio.wait_for(ws.recv(), TIMEOUT)
    return info.value


async def assert_silent(ws: ClientConnection) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ws.recv(), QUIET)


def realtime_url(server: MockServer, query: str = "model=gpt-realtime") -> str:
    return f"{server.url}?{query}"


# --- handshake over sockets ---


async def test_valid_upgrade_gets_101_then_session_created() -> None:
    async with running() as server, client(realtime_url(server)) as ws:
        assert ws.response.status_code == 101
        event = await receive(ws)
        assert event["type"] == "session.created"
        assert event["session"]["model"] == "gpt-realtime"


@pytest.mark.parametrize(
    ("query", "key", "headers", "code", "close_code", "reason"),
    [
        pytest.param(
            "model=gpt-realtime",
            KEY,
            [("OpenAI-Beta", "realtime=v1")],
            "beta_api_shape_disabled",
            4000,
            "invalid_request_error.beta_api_shape_disabled",
            id="beta header",
        ),
        pytest.param(
            "model=gpt-realtime", None, [], None, 3000, "invalid_request_error", id="no key"
        ),
        pytest.param(
            "",
            KEY,
            [],
            "missing_model",
            4000,
            "invalid_request_error.missing_model",
            id="no model",
        ),
        pytest.param(
            "model=gpt-nope",
            KEY,
            [],
            "invalid_model",
            4000,
            "invalid_request_error.invalid_model",
            id="unknown model",
        ),
    ],
)
async def test_bad_requests_still_get_101_then_error_and_close(
    query: str,
    key: str | None,
    headers: list[tuple[str, str]],
    code: str | None,
    close_code: int,
    reason: str,
) -> None:
    async with (
        running() as server,
        client(realtime_url(server, query), key=key, headers=headers) as ws,
    ):
        assert ws.response.status_code == 101
        event = await receive(ws)
        assert event["type"] == "error"
        assert event["error"]["code"] == code
        assert set(event["error"]) == {"type", "code", "message", "param", "event_id"}
        closed = await closed_by_server(ws)
        assert closed.rcvd is not None
        assert (closed.rcvd.code, closed.rcvd.reason) == (close_code, reason)


async def test_rejected_key_is_masked_and_closes_with_3000() -> None:
    async with (
        running(api_keys=("sk-only-this-one-000000",)) as server,
        client(realtime_url(server)) as ws,
    ):
        event = await receive(ws)
        assert event["error"]["code"] == "invalid_api_key"
        assert KEY not in event["error"]["message"]
        closed = await closed_by_server(ws)
        assert closed.rcvd is not None
        assert closed.rcvd.code == 3000


async def test_realtime_subprotocol_is_selected_and_carries_the_key() -> None:
    offered = ["realtime", f"openai-insecure-api-key.{KEY}"]
    async with (
        running(api_keys=(KEY,)) as server,
        client(realtime_url(server), key=None, subprotocols=offered) as ws,
    ):
        assert ws.subprotocol == "realtime"
        assert (await receive(ws))["type"] == "session.created"


async def test_no_subprotocol_is_selected_when_none_is_offered() -> None:
    async with running() as server, client(realtime_url(server)) as ws:
        assert ws.subprotocol is None
        assert "Sec-WebSocket-Protocol" not in ws.response.headers


@pytest.mark.parametrize("compression", [True, False])
async def test_permessage_deflate_follows_the_config(compression: bool) -> None:
    async with running(compression=compression) as server, client(realtime_url(server)) as ws:
        extensions = ws.response.headers.get("Sec-WebSocket-Extensions") or ""
        assert ("permessage-deflate" in extensions) is compression
        assert (await receive(ws))["type"] == "session.created"


async def test_beta_subprotocol_gets_realtime_selected_then_4000() -> None:
    offered = ["realtime", "openai-beta.realtime-v1", f"openai-insecure-api-key.{KEY}"]
    async with (
        running() as server,
        client(realtime_url(server), key=None, subprotocols=offered) as ws,
    ):
        assert ws.subprotocol == "realtime"
        assert (await receive(ws))["error"]["code"] == "beta_api_shape_disabled"
        closed = await closed_by_server(ws)
        assert closed.rcvd is not None
        assert closed.rcvd.code == 4000


# --- HTTP routing ---


async def test_other_paths_get_404_over_plain_http() -> None:
    async with running() as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            writer.write(b"GET /nope HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            status = await asyncio.wait_for(reader.readline(), TIMEOUT)
        finally:
            writer.close()
            await writer.wait_closed()
        assert status.startswith(b"HTTP/1.1 404")


async def test_websocket_upgrade_to_another_path_gets_404() -> None:
    async with running() as server:
        with pytest.raises(InvalidStatus) as info:
            async with client(f"ws://127.0.0.1:{server.port}/v1/realtime/transcription_sessions"):
                pass
        assert info.value.response.status_code == 404


async def test_path_prefix_moves_the_endpoint() -> None:
    async with running(path_prefix="/relay") as server:
        assert server.url == f"ws://127.0.0.1:{server.port}/relay/v1/realtime"
        assert server.base_url == f"http://127.0.0.1:{server.port}/relay/v1"
        async with client(realtime_url(server)) as ws:
            assert (await receive(ws))["type"] == "session.created"
        with pytest.raises(InvalidStatus):
            async with client(f"ws://127.0.0.1:{server.port}/v1/realtime?model=gpt-realtime"):
                pass


# --- actions ---


async def test_close_action_sends_code_and_reason() -> None:
    async with running() as server, client(realtime_url(server)) as ws:
        await receive(ws)
        await ws.send("close:4321")
        closed = await closed_by_server(ws)
        assert closed.rcvd is not None
        assert (closed.rcvd.code, closed.rcvd.reason) == (4321, "stub close")
        [transcript] = await server.wait_for_sessions(1)
    assert [(r.direction, r.code) for r in transcript if r.kind == "close"] == [
        ("server", 4321),
        ("client", 4321),
    ]


async def test_drop_action_ends_the_connection_without_close_frame() -> None:
    async with running() as server, client(realtime_url(server)) as ws:
        await receive(ws)
        await ws.send("drop")
        closed = await closed_by_server(ws)
        assert closed.rcvd is None
        assert closed.sent is None
        assert ws.close_code == 1006


async def test_drop_is_seen_at_the_frame_level_as_eof_without_close() -> None:
    async with (
        running() as server,
        RawClient(realtime_url(server), [("Authorization", f"Bearer {KEY}")]) as raw,
    ):
        assert (await raw.next_of(Opcode.TEXT)) is not None
        await raw.send_text("drop")
        assert await raw.next_of(Opcode.CLOSE) is None
        assert raw.eof


async def test_close_code_that_cannot_be_sent_becomes_a_drop() -> None:
    async with running() as server, client(realtime_url(server)) as ws:
        await receive(ws)
        await ws.send("close:1006")
        closed = await closed_by_server(ws)
        assert closed.rcvd is None
        assert ws.close_code == 1006


async def test_peer_that_reads_nothing_is_dropped_after_send_timeout() -> None:
    async with (
        running(send_timeout=0.2, compression=False) as server,
        RawClient(realtime_url(server), [("Authorization", f"Bearer {KEY}")]) as raw,
    ):
        await raw.send_text("flood:400")  # 25 MiB: more than the socket buffers hold
        [transcript] = await server.wait_for_sessions(1, timeout=TIMEOUT)
        assert transcript.records[-1].kind == "drop"
        assert await raw.next_of(Opcode.CLOSE, timeout=TIMEOUT) is None


async def test_stall_stops_output_but_keeps_answering_pings() -> None:
    async with running() as server, client(realtime_url(server)) as ws:
        await receive(ws)
        await ws.send("stall")
        assert (await receive(ws))["type"] == "stalling"
        await ws.send("bad")
        await assert_silent(ws)
        pong = await ws.ping()
        await asyncio.wait_for(pong, TIMEOUT)


async def test_stall_without_pings_leaves_pings_unanswered() -> None:
    async with running() as server, client(realtime_url(server)) as ws:
        await receive(ws)
        await ws.send("stall-nopings")
        assert (await receive(ws))["type"] == "stalling"
        await ws.send("bad")
        pong = await ws.ping()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.shield(pong), QUIET)
        await assert_silent(ws)


async def test_set_ping_answer_switches_pongs_off_and_on() -> None:
    async with running() as server, client(realtime_url(server)) as ws:
        await receive(ws)
        await ws.send("noping")
        await ws.send("hello")  # the echo proves "noping" was handled
        assert (await receive(ws))["type"] == "echo"
        unanswered = await ws.ping(b"one")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.shield(unanswered), QUIET)
        await ws.send("ping")
        await ws.send("hello")
        assert (await receive(ws))["type"] == "echo"
        answered = await ws.ping(b"two")
        await asyncio.wait_for(answered, TIMEOUT)


async def test_server_pings_at_the_configured_interval() -> None:
    async with (
        running(ping_interval=0.05, ping_timeout=TIMEOUT) as server,
        RawClient(realtime_url(server), [("Authorization", f"Bearer {KEY}")]) as raw,
    ):
        first = await raw.next_of(Opcode.PING)
        second = await raw.next_of(Opcode.PING)
        assert first is not None
        assert second is not None


async def test_timers_fire_in_deadline_order() -> None:
    async with running() as server, client(realtime_url(server)) as ws:
        await receive(ws)
        await ws.send("later:80")
        await ws.send("later:20")
        first, second = await receive(ws), await receive(ws)
        assert (first["type"], first["label"]) == ("later", "20")
        assert second["label"] == "80"
        await ws.close()
        [transcript] = await server.wait_for_sessions(1)
    sent = {
        (r.event or {})["label"]: r.t_ms
        for r in transcript.server_events()
        if r.event_type == "later"
    }
    requested = [r.t_ms for r in transcript.client_events()]
    assert sent["20"] >= requested[1] + 20
    assert sent["80"] >= requested[0] + 80


async def test_binary_frames_go_both_ways() -> None:
    async with running() as server, client(realtime_url(server)) as ws:
        await receive(ws)
        await ws.send(b"\x01\x02")
        await ws.send("bytes")
        assert await receive(ws) == b"\x00\x01"
        await ws.close()
        [transcript] = await server.wait_for_sessions(1)
    binary = [(r.direction, r.data_b64) for r in transcript if r.kind == "binary"]
    assert binary == [("client", "AQI="), ("server", "AAE=")]


async def test_fragmented_messages_are_joined_before_the_app_sees_them() -> None:
    async with running() as server, client(realtime_url(server)) as ws:
        await receive(ws)
        await ws.send(iter(["hel", "lo ", "wörld"]))  # one text message in three frames
        await ws.send(iter([b"\x01", b"\x02"]))
        echo = await receive(ws)
        assert (echo["type"], echo["text"]) == ("echo", "hello wörld")
        await ws.close()
        [transcript] = await server.wait_for_sessions(1)
    assert [r.data_b64 for r in transcript if r.kind == "binary"] == ["AQI="]


async def test_a_message_in_too_many_fragments_closes_with_1009() -> None:
    async with running() as server, client(realtime_url(server)) as ws:
        await receive(ws)
        await ws.send(iter(["a"] * 1100))
        closed = await closed_by_server(ws)
        assert closed.rcvd is not None
        assert (closed.rcvd.code, closed.rcvd.reason) == (1009, "too many fragments")


async def test_invalid_utf8_in_a_text_frame_closes_with_1007() -> None:
    async with running() as server, RawClient(realtime_url(server), _auth()) as raw:
        assert (await raw.next_frame()) is not None  # session.created
        raw.protocol.send_frame(Frame(Opcode.TEXT, b"\xff\xfe"))
        await raw.flush()
        close = await raw.next_of(Opcode.CLOSE)
        assert close is not None
        assert Close.parse(close.data).code == 1007


async def test_messages_sent_before_session_created_reach_the_app_after_it() -> None:
    # Written with the upgrade request: they arrive before the app has opened.
    early = ["first", "second"]
    async with running() as server, RawClient(realtime_url(server), _auth(), early=early) as raw:
        texts = [(await raw.next_of(Opcode.TEXT)) for _ in range(3)]
    kinds = [_json.loads(bytes(f.data))["type"] for f in texts if f is not None]
    echoed = [_json.loads(bytes(f.data)).get("text") for f in texts if f is not None]
    assert kinds == ["session.created", "echo", "echo"]
    assert echoed[1:] == ["first", "second"]


def _auth() -> list[tuple[str, str]]:
    return [("Authorization", f"Bearer {KEY}")]


class FailingApp(StubApp):
    def receive_text(self, text: str, now_ms: float) -> None:
        if text == "boom":
            raise RuntimeError("app bug")
        super().receive_text(text, now_ms)


async def test_app_failure_closes_with_1011(caplog: pytest.LogCaptureFixture) -> None:
    async with serve(app_factory=FailingApp) as server, client(realtime_url(server)) as ws:
        await receive(ws)
        await ws.send("boom")
        closed = await closed_by_server(ws)
        assert closed.rcvd is not None
        assert closed.rcvd.code == 1011
    assert "mock app failed" in caplog.text


async def test_unknown_action_closes_with_1011(caplog: pytest.LogCaptureFixture) -> None:
    async with running() as server, client(realtime_url(server)) as ws:
        await receive(ws)
        await ws.send("weird")
        closed = await closed_by_server(ws)
        assert closed.rcvd is not None
        assert closed.rcvd.code == 1011
    assert "impossible" in caplog.text


async def test_client_close_during_stall_still_reaches_the_app() -> None:
    async with running() as server:
        async with client(realtime_url(server)) as ws:
            await receive(ws)
            await ws.send("stall-nopings")
            assert (await receive(ws))["type"] == "stalling"
            await ws.close(4001, "client gave up")
        [transcript] = await server.wait_for_sessions(1)
    last = transcript.records[-1]
    assert (last.direction, last.kind, last.code, last.reason) == (
        "client",
        "close",
        4001,
        "client gave up",
    )


# --- sessions, transcripts, recording ---


async def test_transcript_records_both_directions_and_the_close() -> None:
    async with running() as server:
        async with client(realtime_url(server)) as ws:
            await receive(ws)
            await ws.send("hello")
            await receive(ws)
            await ws.close(1000, "bye")
        [transcript] = await server.wait_for_sessions(1)
        assert server.transcripts == [transcript]
    rows = [(r.index, r.direction, r.kind, r.event_type, r.code, r.reason) for r in transcript]
    assert rows == [
        (0, "server", "text", "session.created", None, None),
        (1, "client", "text", None, None, None),
        (2, "server", "text", "echo", None, None),
        (3, "client", "close", None, 1000, "bye"),
    ]
    assert transcript.records[1].text == "hello"
    times = [r.t_ms for r in transcript]
    assert times == sorted(times)
    assert times[0] >= 0
    assert transcript.meta["path"] == "/v1/realtime"


async def test_record_writes_redacted_jsonl_per_session(tmp_path: Path) -> None:
    async with running(record=str(tmp_path), api_keys=(KEY,)) as server:
        async with client(realtime_url(server)) as ws:
            await receive(ws)
            await ws.send(f'{{"leak": "{KEY}", "auth": "Bearer {KEY}"}}')
            await receive(ws)
        [transcript] = await server.wait_for_sessions(1)
        [path] = server.recordings
    # UTC start, a random suffix, the session id: unique across runs.
    assert path.parent == tmp_path
    assert re.fullmatch(
        rf"\d{{8}}T\d{{6}}\.\d{{3}}Z-[0-9a-f]{{6}}-{transcript.meta['session_id']}\.jsonl",
        path.name,
    )
    content = path.read_text()
    assert content == transcript.to_jsonl()  # appended frame by frame, same file
    assert KEY not in content
    assert "[REDACTED]" in content
    reread = Transcript.read_jsonl(path)
    assert [r.kind for r in reread] == [r.kind for r in transcript]
    assert reread.meta["session_id"] == transcript.meta["session_id"]


async def test_stop_closes_open_connections_with_1001() -> None:
    server = await serve(app_factory=StubApp, ping_interval=None).start()
    try:
        async with client(realtime_url(server)) as ws:
            await receive(ws)
            await ws.send("stall-nopings")
            assert (await receive(ws))["type"] == "stalling"
            await asyncio.wait_for(server.stop(), TIMEOUT)
            closed = await closed_by_server(ws)
            assert closed.rcvd is not None
            assert closed.rcvd.code == 1001
    finally:
        await server.stop()
    assert len(server.transcripts) == 1


async def test_wait_for_sessions_times_out_with_a_clear_message() -> None:
    async with running() as server:
        with pytest.raises(TimeoutError, match="expected 1 sessions ended"):
            await server.wait_for_sessions(1, timeout=0.05)


async def test_several_sessions_are_counted_in_order() -> None:
    async with running() as server:
        for _ in range(3):
            async with client(realtime_url(server)) as ws:
                await receive(ws)
        ended = await server.wait_for_sessions(3)
    ids = [t.meta["session_id"] for t in server.transcripts]
    assert len(set(ids)) == 3
    assert [t.meta["session_id"] for t in ended] == ids


def test_overrides_are_checked_with_a_did_you_mean() -> None:
    with pytest.raises(UsageError, match="did you mean 'ping_interval'"):
        MockServer(ping_intervall=3)


def test_addresses_before_start_use_the_config() -> None:
    server = MockServer(MockConfig(port=9999, path_prefix="/x/"))
    assert server.url == "ws://127.0.0.1:9999/x/v1/realtime"
    assert server.base_url == "http://127.0.0.1:9999/x/v1"


def test_app_factories_are_loaded_by_name() -> None:
    assert load_app_factory("tests.mock_server.stub_app:StubApp") is StubApp
    with pytest.raises(UsageError, match="must look like"):
        load_app_factory("no-colon")
    with pytest.raises(UsageError, match="cannot import"):
        load_app_factory("no_such_module_xyz:App")
    with pytest.raises(UsageError, match="no callable"):
        load_app_factory("tests.mock_server.stub_app:Missing")


def test_stub_app_satisfies_the_app_protocol() -> None:
    from mock_server.interfaces import App

    app: App = StubApp(ConnectRequest.from_target("/v1/realtime"), MockConfig())
    assert app.next_timer() is None


# ----------------------------------------------------------------- start-up work and backlog
_SERVE_ONE_SESSION = """
import asyncio, json, sys
from websockets.asyncio.client import connect
from mock_server.server import serve

async def main():
    async with serve(port=0, ping_interval=None) as server:
        for query in ("model=gpt-realtime", "model=gpt-realtime&scenario=default"):
            async with connect(
                f"{server.url}?{query}", proxy=None, open_timeout=5,
                additional_headers=[("Authorization", "Bearer sk-test")],
            ) as ws:
                first = json.loads(await asyncio.wait_for(ws.recv(), 5))["type"]
                print(first)
    loaded = [name for name in ("jsonschema", "mock_server.scenarios") if name in sys.modules]
    print(json.dumps(loaded))

asyncio.run(main())
"""


def test_a_session_without_a_scenario_never_imports_the_scenario_machinery() -> None:
    """The pure-Python jsonschema and the scenario loader are for scenarios only.

    A fresh interpreter serves a plain session and one with `?scenario=default` (the
    runner's no-scenario case); neither may import them.
    """
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _SERVE_ONE_SESSION],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    *types, loaded = done.stdout.splitlines()
    assert types == ["session.created", "session.created"]
    assert _json.loads(loaded) == []


async def test_the_socket_listens_with_a_production_backlog(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import socket

    from mock_server.server import BACKLOG

    loop = asyncio.get_running_loop()
    seen: list[Any] = []
    create_server = loop.create_server

    async def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs.get("backlog"))
        return await create_server(*args, **kwargs)

    monkeypatch.setattr(loop, "create_server", spy)
    async with running():
        pass
    assert BACKLOG >= 1024
    assert BACKLOG >= socket.SOMAXCONN
    assert seen == [BACKLOG]


async def test_a_bad_configured_scenario_is_refused_at_start() -> None:
    from conformance.protocol.errors import ScenarioError

    server = MockServer(MockConfig(port=0, scenario="beta-header-rejectd"))
    with pytest.raises(ScenarioError, match="did you mean 'beta-header-rejected'"):
        await server.start()
    assert server.url.endswith(":0/v1/realtime")  # never listened


async def test_the_first_connection_is_prepared_before_the_server_listens() -> None:
    """What every session needs is built in `start()`: the registry is loaded then."""
    from conformance import models

    models._default_registry.cache_clear()
    async with serve(ping_interval=None):
        assert models._default_registry.cache_info().currsize == 1


# ----------------------------------------------------------------- --reply-template
async def _reply_texts(server: MockServer, turns: int) -> list[str]:
    from tests.mock_server.app_harness import image_item, png_bytes

    texts = []
    async with client(realtime_url(server)) as ws:
        assert (await receive(ws))["type"] == "session.created"
        update = {"type": "realtime", "output_modalities": ["text"]}
        await ws.send(_json.dumps({"type": "session.update", "session": update}))
        item = image_item(png_bytes(64, 48), "What is this?")
        for _ in range(turns):
            await ws.send(_json.dumps({"type": "conversation.item.create", "item": item}))
            await ws.send(_json.dumps({"type": "response.create"}))
            while (event := await receive(ws))["type"] != "response.done":
                if event["type"] == "response.output_text.done":
                    texts.append(event["text"])
    return texts


async def test_the_reply_template_is_the_text_of_every_reply() -> None:
    template = "Seen: {screenshots} | asked: {text} | turn {turn} | {reply}"
    async with serve(ping_interval=None, pace="fast") as plain:
        default = await _reply_texts(plain, 1)
    async with serve(ping_interval=None, reply_template=template, pace="fast") as server:
        first, second = await _reply_texts(server, 2)
    seen, asked, turn, reply = first.split(" | ")
    assert seen.startswith("Seen: Screenshot 1: PNG 64x48, ")
    assert asked == "asked: What is this?"
    assert turn == "turn 1"
    assert reply == default[0]
    assert second.split(" | ")[2] == "turn 2"


async def test_a_reply_template_with_an_unknown_placeholder_is_refused_at_start() -> None:
    from conformance.protocol.errors import ConfigError

    with pytest.raises(ConfigError, match=r"unknown placeholder \{shots\}; did you mean"):
        await MockServer(MockConfig(port=0, reply_template="{shots}")).start()


# --- keys never reach the log ---

# Every key shape a client may send, each where a client may put it.
LOG_KEYS = {
    "bearer": "sk-proj-logbearer0123456789BEARERabcdef",
    "subprotocol": "sk-logsubprotocol0123456789SUBPROTO",
    "query": "sk-logquery0123456789abcdefQUERYKEY",
    "query_not_sk": "azq0123456789abcdef0123456APIKEYQ",
    "azure": "0123456789abcdef0123456789fedcba",
    "ephemeral": "ek_logephemeral0123456789EPHEMERAL",
}


def key_laden_client(server: MockServer) -> Any:
    query = f"model=gpt-realtime&api_key={LOG_KEYS['query']}&apikey={LOG_KEYS['query_not_sk']}"
    return client(
        realtime_url(server, query),
        key=LOG_KEYS["bearer"],
        headers=[("api-key", LOG_KEYS["azure"]), ("X-Client-Secret", LOG_KEYS["ephemeral"])],
        subprotocols=[
            Subprotocol("realtime"),
            Subprotocol(f"openai-insecure-api-key.{LOG_KEYS['subprotocol']}"),
        ],
    )


async def test_no_key_is_logged_even_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="mock_server.server")
    async with running() as server:
        async with key_laden_client(server) as ws:
            await receive(ws)
            await ws.send(f'{{"type": "x", "leak": "{LOG_KEYS["bearer"]}"}}')
            await receive(ws)
        await server.wait_for_sessions(1)
    text = caplog.text
    assert "Authorization: Bearer [REDACTED]" in text  # the handshake is logged, masked
    assert "api-key: [REDACTED]" in text
    assert "openai-insecure-api-key.[REDACTED]" in text
    assert "api_key=[REDACTED]" in text  # the request line is logged, masked
    assert "TEXT '" in text  # frames too
    for where, key in LOG_KEYS.items():
        assert key[-12:] not in text, f"the {where} key (or part of it) is in the log"
