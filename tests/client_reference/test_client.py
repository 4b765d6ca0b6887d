"""`RealtimeClient`: the GA flow against scripted fake servers."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest

from client_reference import (
    ConnectionClosed,
    RealtimeAPIError,
    RealtimeClient,
    ResponseFailed,
    Timeout,
    UsageError,
)
from tests.client_reference.fake_server import (
    Close,
    Expect,
    FakeServer,
    Gate,
    Send,
    Signal,
    Stall,
    Step,
)
from tests.client_reference.support import API_KEY, FAST, JPEG, PNG, quick
from tests.client_reference.wire import (
    configured,
    echo_error,
    echo_item,
    error_event,
    failed_response,
    opening,
    text_response,
    text_turn,
)
from tests.helpers import audio_response

pytestmark = pytest.mark.integration


def client_for(server: FakeServer, **kwargs: Any) -> RealtimeClient:
    kwargs.setdefault("settings", FAST)
    return RealtimeClient(server.url, api_key=API_KEY, **kwargs)


# ----------------------------------------------------------------- connecting
async def test_connect_waits_for_session_created_and_returns_the_session() -> None:
    async with FakeServer(opening()) as server, client_for(server) as client:
        assert client.session is not None
        assert client.session["type"] == "realtime"
    assert "OpenAI-Beta" not in server.connections[0].headers


async def test_connect_times_out_clearly_when_session_created_never_comes() -> None:
    async with FakeServer([Stall()]) as server:
        client = client_for(server, settings=quick(session_created_timeout=0.1))
        with pytest.raises(Timeout, match=r"after 0.1 s waiting for session.created"):
            await client.connect()
        assert client.connection is None


async def test_a_rejected_handshake_surfaces_close_code_reason_and_error() -> None:
    reason = "invalid_request_error.invalid_api_key"
    message = "Incorrect API key provided: sk-test-***. You can find your API key at …"
    script: list[Step] = [Send(error_event("invalid_api_key", message)), Close(3000, reason)]
    async with FakeServer(script) as server:
        with pytest.raises(ConnectionClosed) as info:
            await client_for(server).connect()
    assert (info.value.code, info.value.reason) == (3000, reason)
    assert info.value.error is not None
    assert info.value.error.code == "invalid_api_key"


# ------------------------------------------------------------------ configure
async def test_configure_sends_the_ga_session_shape_and_returns_session_updated() -> None:
    async with FakeServer(configured()) as server, client_for(server) as client:
        session = await client.configure(instructions="Be terse.", max_output_tokens=200)
        assert session["output_modalities"] == ["text"]
    sent = server.connections[0].received[0]
    assert sent["type"] == "session.update"
    assert sent["event_id"].startswith("evt_")
    assert sent["session"] == {
        "type": "realtime",
        "instructions": "Be terse.",
        "output_modalities": ["text"],
        "max_output_tokens": 200,
    }


async def test_a_rejected_update_raises_the_error_with_all_five_fields() -> None:
    script = [
        *opening(),
        Expect("session.update"),
        echo_error("unknown_parameter", "Unknown parameter: 'session.x'.", param="session.x"),
    ]
    async with FakeServer(script) as server, client_for(server) as client:
        with pytest.raises(RealtimeAPIError) as info:
            await client.configure(instructions="x")
    error = info.value
    assert error.type == "invalid_request_error"
    assert error.code == "unknown_parameter"
    assert error.message == "Unknown parameter: 'session.x'."
    assert error.param == "session.x"
    assert error.event_id == server.connections[0].received[0]["event_id"]
    assert str(error) == "unknown_parameter: Unknown parameter: 'session.x'."


async def test_configure_refuses_beta_keys_before_sending() -> None:
    async with FakeServer(opening()) as server, client_for(server) as client:
        with pytest.raises(UsageError, match="'output_modalities'"):
            await client.configure(extra={"modalities": ["text"]})
    assert server.connections[0].received == []


async def test_configure_times_out_when_session_updated_never_comes() -> None:
    script = [*opening(), Expect("session.update"), Stall()]
    async with (
        FakeServer(script) as server,
        client_for(server, settings=quick(ack_timeout=0.1)) as client,
    ):
        with pytest.raises(Timeout, match=r"waiting for session\.updated"):
            await client.configure(instructions="x")


# ---------------------------------------------------------------- screenshots
@pytest.mark.parametrize(("image", "mime"), [(PNG, "image/png"), (JPEG, "image/jpeg")])
async def test_a_screenshot_is_a_user_message_with_an_input_image_data_url(
    image: bytes, mime: str
) -> None:
    script = [*opening(), Expect("conversation.item.create"), Send(echo_item)]
    async with FakeServer(script) as server, client_for(server) as client:
        item = await client.add_screenshot(image, text="what changed?")
    sent = server.connections[0].received[0]
    assert sent["item"]["id"] == item["id"]
    assert sent["item"]["type"] == "message"
    assert sent["item"]["role"] == "user"
    image_part, text_part = sent["item"]["content"]
    assert image_part["type"] == "input_image"
    prefix = f"data:{mime};base64,"
    assert image_part["image_url"].startswith(prefix)
    assert base64.b64decode(image_part["image_url"][len(prefix) :]) == image
    assert text_part == {"type": "input_text", "text": "what changed?"}


async def test_a_screenshot_path_is_read_and_sniffed(tmp_path: Any) -> None:
    path = tmp_path / "shot.bin"  # the name does not matter, the magic bytes do
    path.write_bytes(PNG)
    script = [*opening(), Expect("conversation.item.create"), Send(echo_item)]
    async with FakeServer(script) as server, client_for(server) as client:
        await client.add_screenshot(path, detail="low", item_id="my-shot_1")
    part = server.connections[0].received[0]["item"]["content"][0]
    assert part["detail"] == "low"
    assert server.connections[0].received[0]["item"]["id"] == "my-shot_1"


async def test_a_non_image_is_refused_before_anything_is_sent() -> None:
    async with FakeServer(opening()) as server, client_for(server) as client:
        with pytest.raises(UsageError, match="GIF"):
            await client.add_screenshot(b"GIF89a....")
        with pytest.raises(UsageError, match="item_id"):
            await client.add_screenshot(PNG, item_id="bad/id")
    assert server.connections[0].received == []


async def test_a_rejected_item_raises_the_error_for_that_item() -> None:
    script = [
        *opening(),
        Expect("conversation.item.create"),
        echo_error("invalid_value", "Invalid 'item.content[0].image_url'.", param="x"),
    ]
    async with FakeServer(script) as server, client_for(server) as client:
        with pytest.raises(RealtimeAPIError, match="invalid_value"):
            await client.add_screenshot(PNG)


# ------------------------------------------------------------------ responses
async def test_deltas_stream_and_reassemble_into_the_text_with_usage() -> None:
    script = [*configured(), *text_turn("resp_0001", "Login form. Password field empty.", deltas=4)]
    seen: list[str] = []
    async with FakeServer(script) as server, client_for(server) as client:
        await client.configure(instructions="x")
        await client.add_screenshot(PNG)
        stream = await client.respond(on_delta=seen.append)
        iterated = [delta async for delta in stream]
        result = await stream.done()
    assert iterated == seen
    assert len(seen) == 4
    assert "".join(seen) == result.text == "Login form. Password field empty."
    assert result.response_id == "resp_0001"
    assert result.status == "completed"
    assert result.usage is not None
    assert result.usage["total_tokens"] == 30
    assert result.time_to_first_delta is not None
    assert server.problems == []


async def test_audio_output_streams_its_transcript_as_text() -> None:
    events = audio_response("resp_00a1", "item_au", "Spoken note.", transcript_deltas=3)
    script = [*opening(), Expect("response.create"), Send(*events)]
    async with FakeServer(script) as server, client_for(server) as client:
        stream = await client.respond(output_modalities=["audio"])
        pieces = [piece async for piece in stream]
        result = await stream.done()
    assert "".join(pieces) == result.text == "Spoken note."
    assert server.connections[0].received[0]["response"] == {"output_modalities": ["audio"]}


async def test_response_create_carries_per_response_overrides() -> None:
    script = [*opening(), Expect("response.create"), Send(*text_response("resp_0002", "i", "ok"))]
    async with FakeServer(script) as server, client_for(server) as client:
        stream = await client.respond(instructions="shorter", max_output_tokens=50)
        await stream.done()
    sent = server.connections[0].received[0]
    assert sent["response"] == {"instructions": "shorter", "max_output_tokens": 50}
    assert sent["event_id"].startswith("evt_")


@pytest.mark.parametrize(
    ("status", "details", "code"),
    [
        (
            "failed",
            {
                "type": "failed",
                "error": {"type": "insufficient_quota", "code": "insufficient_quota"},
            },
            "insufficient_quota",
        ),
        ("incomplete", {"type": "incomplete", "reason": "max_output_tokens"}, "max_output_tokens"),
    ],
)
async def test_a_failed_or_incomplete_response_raises_response_failed(
    status: str, details: dict[str, Any], code: str
) -> None:
    script = [
        *opening(),
        Expect("response.create"),
        Send(*failed_response("resp_0003", status, details)),
    ]
    async with FakeServer(script) as server, client_for(server) as client:
        stream = await client.respond()
        with pytest.raises(ResponseFailed) as info:
            await stream.done()
        with pytest.raises(ResponseFailed):
            async for _ in stream:
                pass
    assert info.value.status == status
    assert info.value.code == code
    assert info.value.status_details == details
    assert info.value.response_id == "resp_0003"


async def test_a_stalled_response_times_out_with_a_clear_message() -> None:
    events = text_response("resp_0004", "i", "never finished", deltas=2)
    partial = events[: next(i for i, e in enumerate(events) if e["type"].endswith(".done"))]
    script = [
        *opening(),
        Expect("response.create"),
        Send(*partial),
        Expect("response.cancel"),
        Signal("cancelled"),
    ]
    async with (
        FakeServer(script) as server,
        client_for(server, settings=quick(response_timeout=0.2)) as client,
    ):
        stream = await client.respond()
        with pytest.raises(Timeout, match=r"waiting for the next event of response resp_0004"):
            await stream.done()
        assert stream.text == "never finished"
        await asyncio.wait_for(server.signals["cancelled"].wait(), 5)
    # The client cancelled the stuck response (best effort), naming it.
    cancel = server.connections[0].received[-1]
    assert cancel["type"] == "response.cancel"
    assert cancel["response_id"] == "resp_0004"
    assert server.problems == []


async def test_a_second_respond_is_queued_until_response_done() -> None:
    first = text_response("resp_0005", "item_a", "first", deltas=2)
    done_at = next(i for i, e in enumerate(first) if e["type"] == "response.done")
    script = [
        *opening(),
        Expect("response.create"),
        Send(*first[:done_at]),
        Signal("streaming"),
        Gate("finish"),
        Send(*first[done_at:]),
        Expect("response.create"),
        Send(*text_response("resp_0006", "item_b", "second")),
    ]
    async with FakeServer(script) as server, client_for(server) as client:
        one = await client.respond()
        await server.signals["streaming"].wait()
        two = await client.respond()  # must not go out while resp_0005 is active
        assert not two.sent
        server.gates["finish"].set()
        assert (await one.done()).text == "first"
        assert (await two.done()).text == "second"
    log = server.connections[0].log
    creates = [i for i, entry in enumerate(log) if entry == ("in", "response.create")]
    first_done = log.index(("out", "response.done"))
    assert creates[0] < first_done < creates[1]


async def test_a_rejected_create_fails_only_its_stream_and_the_queue_moves_on() -> None:
    script = [
        *opening(),
        Expect("response.create"),
        echo_error("conversation_already_has_active_response", "Conversation already has …"),
    ]
    async with FakeServer(script) as server, client_for(server) as client:
        stream = await client.respond()
        with pytest.raises(RealtimeAPIError, match="conversation_already_has_active_response"):
            await stream.done()
        assert server.problems == []


# --------------------------------------------------------- errors and closes
async def test_an_unclaimed_error_goes_to_on_error_and_the_session_continues() -> None:
    benign = error_event("response_cancel_not_active", "Cancellation failed: no active response")
    script = [*opening(), Send(benign), *configured()[1:]]
    received: list[RealtimeAPIError] = []
    async with (
        FakeServer(script) as server,
        client_for(server, on_error=received.append) as client,
    ):
        await client.configure(instructions="still works")
    assert [e.code for e in received] == ["response_cancel_not_active"]


async def test_an_unclaimed_error_fails_the_active_stream_when_no_callback() -> None:
    script = [
        *opening(),
        Expect("response.create"),
        Send(*text_response("resp_0007", "i", "abc", deltas=3)[:2]),
        Send(error_event("server_error", "The server had an error", type="server_error")),
    ]
    async with FakeServer(script) as server, client_for(server) as client:
        stream = await client.respond()
        with pytest.raises(RealtimeAPIError, match="server_error"):
            await stream.done()
        assert client.errors[-1].type == "server_error"


async def test_a_close_reaches_every_waiter_with_code_and_reason() -> None:
    reason = "invalid_request_error.beta_api_shape_disabled"
    script = [*opening(), Expect("response.create"), Expect("session.update"), Close(4000, reason)]
    async with FakeServer(script) as server:
        client = client_for(server)
        await client.connect()
        stream = await client.respond()
        with pytest.raises(ConnectionClosed) as update_error:
            await client.configure(instructions="x")
        with pytest.raises(ConnectionClosed) as stream_error:
            await stream.done()
        with pytest.raises(ConnectionClosed, match="4000"):
            await client.respond()
        await client.close()
    for info in (update_error, stream_error):
        assert (info.value.code, info.value.reason) == (4000, reason)
        assert f"4000 {reason}" in str(info.value)
    assert client.reconnects == 0


async def test_unknown_server_events_are_ignored() -> None:
    script = [
        *opening(),
        Send(
            {"type": "response.brand_new_thing", "event_id": "e1"},
            {"type": "x.y", "event_id": "e2"},
        ),
        *configured()[1:],
    ]
    async with FakeServer(script) as server, client_for(server) as client:
        assert (await client.configure(instructions="ok"))["type"] == "realtime"
    assert server.problems == []


async def test_close_fails_pending_streams_instead_of_leaving_them_hanging() -> None:
    script = [*opening(), Expect("response.create"), Stall()]
    async with FakeServer(script) as server:
        client = client_for(server)
        await client.connect()
        stream = await client.respond()
        await client.close()
        with pytest.raises(ConnectionClosed, match="the client closed the connection"):
            await asyncio.wait_for(stream.done(), 5)


async def test_calls_before_connect_are_usage_errors() -> None:
    client = RealtimeClient("ws://127.0.0.1:9/v1/realtime")
    with pytest.raises(UsageError, match="not connected"):
        await client.respond()
