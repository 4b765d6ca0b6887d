"""`ResponseStream`: the text of one response as it streams, and its final `ResponseResult`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ResponseFailed, Timeout

__all__ = ["DeltaCallback", "ResponseResult", "ResponseStream"]

logger = logging.getLogger(__name__)

DeltaCallback = Callable[[str], object]
"""Called with each text delta as soon as it arrives (in the client's reader task)."""

_FAILED_STATUSES = frozenset({"failed", "incomplete"})


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseResult:
    """A finished response.

    Attributes:
        response_id: the `resp_…` id (empty for a response cancelled before it was sent).
        status: `completed` or `cancelled` (failed / incomplete raise `ResponseFailed`).
        text: the streamed text (or the audio transcript, for audio output).
        usage: `response.done.response.usage` (token counts), if sent.
        status_details: `response.done.response.status_details`.
        response: the raw `response` object of `response.done`.
        time_to_first_delta: seconds from sending `response.create` to the first delta.
        duration: seconds from sending `response.create` to `response.done`.
    """

    response_id: str
    status: str
    text: str
    usage: dict[str, Any] | None
    status_details: dict[str, Any] | None
    response: dict[str, Any]
    time_to_first_delta: float | None
    duration: float


class _End:
    """Marks the end of the delta queue."""


_END = _End()


class ResponseStream:
    """One response: iterate for text deltas, or `await stream.done()` for the result.

    `async for delta in stream` yields each `response.output_text.delta` (and
    `response.output_audio_transcript.delta`) text as it arrives, and raises what ended
    the response badly: `ResponseFailed`, `RealtimeAPIError`, `ConnectionClosed` or
    `Timeout`. `done()` waits for the end (bounded) and returns a `ResponseResult`.
    Created by `RealtimeClient.respond()`; not meant to be built directly.
    """

    def __init__(
        self,
        event: dict[str, Any],
        *,
        timeout: float,
        on_delta: DeltaCallback | None = None,
        on_timeout: Callable[[ResponseStream], None] | None = None,
    ) -> None:
        self.event = event
        self.event_id: str = event["event_id"]
        self.response_id: str | None = None
        self._timeout = timeout
        self._on_delta = on_delta
        self._on_timeout = on_timeout
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[str | _End] = asyncio.Queue()
        self._finished = asyncio.Event()
        self._parts: list[str] = []
        self._by_part: dict[tuple[object, object], list[str]] = {}
        self._result: ResponseResult | None = None
        self._error: BaseException | None = None
        self._sent_at: float | None = None
        self._first_delta_at: float | None = None
        self._last_activity = self._loop.time()
        self._timer: asyncio.TimerHandle | None = self._loop.call_later(timeout, self._check)

    # ------------------------------------------------------------------ public
    @property
    def text(self) -> str:
        """The text received so far."""
        return "".join(self._parts)

    @property
    def finished(self) -> bool:
        """True once the response ended (well or badly)."""
        return self._finished.is_set()

    @property
    def sent(self) -> bool:
        """True once our `response.create` went out (False while queued)."""
        return self._sent_at is not None

    def __aiter__(self) -> ResponseStream:
        return self

    async def __anext__(self) -> str:
        item = await self._queue.get()
        if isinstance(item, _End):
            self._queue.put_nowait(item)  # stay ended for later calls
            if self._error is not None:
                raise self._error
            raise StopAsyncIteration
        return item

    async def done(self) -> ResponseResult:
        """Wait for `response.done` and return the result.

        Bounded: the client fails the stream after `ClientSettings.response_timeout`
        without progress, or when the connection closes.

        Raises:
            ResponseFailed: the response ended `failed` or `incomplete`.
            RealtimeAPIError: the server rejected our `response.create`.
            ConnectionClosed: the connection closed first.
            Timeout: no progress for `response_timeout` seconds.
        """
        await self._finished.wait()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result

    # ---------------------------------------------- fed by the client's reader
    def _mark_sent(self) -> None:
        self._sent_at = self._loop.time()
        self._touch()

    def _created(self, response_id: str) -> None:
        self.response_id = response_id
        self._touch()

    def _touch(self) -> None:
        self._last_activity = self._loop.time()

    def _delta(self, event: Mapping[str, Any]) -> None:
        delta = event.get("delta")
        if self.finished or not isinstance(delta, str) or not delta:
            return
        self._touch()
        if self._first_delta_at is None:
            self._first_delta_at = self._last_activity
        self._parts.append(delta)
        self._by_part.setdefault(_part_key(event), []).append(delta)
        self._queue.put_nowait(delta)
        if self._on_delta is not None:
            try:
                self._on_delta(delta)
            except Exception as exc:  # the caller's bug: end this stream with it
                logger.exception("on_delta callback raised; ending the response stream")
                self._fail(exc)

    def _part_done(self, event: Mapping[str, Any], final: object) -> None:
        """Check a `.done` text against the deltas of that part (a server conformance rule)."""
        streamed = "".join(self._by_part.get(_part_key(event), ()))
        if isinstance(final, str) and final != streamed:
            logger.warning(
                "%s text differs from its deltas (%d vs %d characters)",
                event.get("type"),
                len(final),
                len(streamed),
            )

    def _finish(self, response: Mapping[str, Any]) -> None:
        if self.finished:
            return
        status = str(response.get("status"))
        text = self.text or _output_text(response)
        usage = _dict_or_none(response.get("usage"))
        details = _dict_or_none(response.get("status_details"))
        if status in _FAILED_STATUSES:
            failure = ResponseFailed(
                response_id=self.response_id,
                status=status,
                status_details=details,
                text=text,
                usage=usage,
            )
            self._fail(failure)
            return
        now = self._loop.time()
        sent_at = self._sent_at if self._sent_at is not None else now
        first = self._first_delta_at
        self._result = ResponseResult(
            response_id=str(response.get("id") or self.response_id or ""),
            status=status,
            text=text,
            usage=usage,
            status_details=details,
            response=dict(response),
            time_to_first_delta=None if first is None else first - sent_at,
            duration=now - sent_at,
        )
        self._end()

    def _fail(self, error: BaseException) -> None:
        if self.finished:
            return
        self._error = error
        self._end()

    def _end(self) -> None:
        self._finished.set()
        self._queue.put_nowait(_END)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _check(self) -> None:
        self._timer = None
        if self.finished:
            return
        idle = self._loop.time() - self._last_activity
        if idle < self._timeout:
            self._timer = self._loop.call_later(self._timeout - idle, self._check)
            return
        self._fail(Timeout(self._awaited(), self._timeout))
        if self._on_timeout is not None:
            self._on_timeout(self)

    def _awaited(self) -> str:
        if not self.sent:
            return f"the response ahead of {self.event_id} to finish (queued response.create)"
        if self.response_id is None:
            return f"response.created after response.create {self.event_id}"
        return f"the next event of response {self.response_id} (deltas or response.done)"


def _part_key(event: Mapping[str, Any]) -> tuple[object, object]:
    return (event.get("item_id"), event.get("content_index"))


def _output_text(response: Mapping[str, Any]) -> str:
    """Text from `response.output` when no deltas came (text, or audio transcripts)."""
    texts: list[str] = []
    for item in response.get("output") or ():
        for part in item.get("content") or () if isinstance(item, Mapping) else ():
            if isinstance(part, Mapping):
                value = part.get("text") if part.get("type") == "output_text" else None
                value = part.get("transcript") if part.get("type") == "output_audio" else value
                if isinstance(value, str):
                    texts.append(value)
    return "".join(texts)


def _dict_or_none(value: object) -> dict[str, Any] | None:
    return dict(value) if isinstance(value, Mapping) else None
