"""`ResponseStream` on its own: fed by hand, no sockets."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from client_reference import ResponseStream, Timeout


def delta(text: str, *, item: str = "item_1", index: int = 0) -> dict[str, Any]:
    return {
        "type": "response.output_text.delta",
        "item_id": item,
        "content_index": index,
        "delta": text,
    }


def done_body(status: str = "completed", text: str = "") -> dict[str, Any]:
    output = [{"type": "message", "content": [{"type": "output_text", "text": text}]}]
    return {"id": "resp_1", "status": status, "output": output, "usage": {"total_tokens": 3}}


def new_stream(**kwargs: Any) -> ResponseStream:
    return ResponseStream({"type": "response.create", "event_id": "evt_9"}, timeout=5.0, **kwargs)


async def test_deltas_are_iterated_then_the_stream_ends() -> None:
    stream = new_stream()
    stream._mark_sent()
    stream._created("resp_1")
    for piece in ("Hel", "lo"):
        stream._delta(delta(piece))
    stream._finish(done_body(text="Hello"))
    assert [piece async for piece in stream] == ["Hel", "lo"]
    assert [piece async for piece in stream] == []  # stays ended
    result = await stream.done()
    assert (result.text, result.usage, result.status) == ("Hello", {"total_tokens": 3}, "completed")
    assert result.time_to_first_delta is not None
    assert result.duration >= 0


async def test_without_deltas_the_text_comes_from_the_output_items() -> None:
    stream = new_stream()
    stream._finish(done_body(text="from output"))
    assert (await stream.done()).text == "from output"


async def test_a_done_text_that_differs_from_the_deltas_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stream = new_stream()
    stream._delta(delta("abc"))
    stream._part_done(
        {"type": "response.output_text.done", "item_id": "item_1", "content_index": 0}, "abd"
    )
    assert "differs from its deltas" in caplog.text


async def test_a_raising_on_delta_callback_ends_the_stream_with_its_error() -> None:
    def explode(_: str) -> None:
        raise RuntimeError("display gone")

    stream = new_stream(on_delta=explode)
    stream._delta(delta("x"))
    with pytest.raises(RuntimeError, match="display gone"):
        await stream.done()


async def test_the_watchdog_fails_a_silent_stream_and_reports_it() -> None:
    timed_out: list[ResponseStream] = []
    stream = ResponseStream(
        {"type": "response.create", "event_id": "evt_3"}, timeout=0.05, on_timeout=timed_out.append
    )
    with pytest.raises(Timeout, match="the response ahead of evt_3 to finish"):
        await asyncio.wait_for(stream.done(), 5)
    assert timed_out == [stream]


async def test_activity_postpones_the_watchdog() -> None:
    stream = ResponseStream({"type": "response.create", "event_id": "evt_4"}, timeout=0.2)
    stream._mark_sent()
    loop = asyncio.get_running_loop()
    touched = loop.create_future()

    def touch() -> None:
        stream._touch()
        touched.set_result(None)

    loop.call_later(0.1, touch)
    await touched
    with pytest.raises(Timeout, match=r"response\.created after response\.create evt_4"):
        await asyncio.wait_for(stream.done(), 5)
    assert loop.time() - stream._last_activity >= 0.2
