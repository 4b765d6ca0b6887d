"""`RealtimeClient`: the GA flow for a heads-up display (screenshots in, text notes out).

    async with RealtimeClient(api_key=key) as client:
        await client.configure(instructions="Write terse notes.")
        await client.add_screenshot("shot.png")
        stream = await client.respond(on_delta=print)
        result = await stream.done()

Rules it follows (failure catalog entries in brackets): it waits for `session.created`
before sending anything and for `session.updated` before the first turn [10]; every
client event carries our own `event_id`, and every `error` event is delivered to the
call that caused it, else to `on_error` or the active response, never dropped [9, 14];
only one `response.create` is in flight, later ones are queued [1]; a failed response
raises `ResponseFailed` [21]; every wait is bounded and a close reaches every waiter
with its code and reason [14, 26]; unknown events are ignored [4]. Reconnecting is off
by default and never happens after a 3000-4999 close [2, 7, 22].
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import deque
from collections.abc import Callable, Coroutine, Mapping, Sequence
from types import TracebackType
from typing import Any, Self

from conformance.protocol import LocalProtocolError

from . import events as ev
from ._downscale import MAX_IMAGE_BYTES, fit_png
from ._lifecycle import Lifecycle, copy_error
from ._queue import ResponseQueue
from .connection import DEFAULT_MAX_SIZE, DEFAULT_MODEL, Auth, Compression
from .errors import ClientError, RealtimeAPIError, Timeout, UsageError
from .images import image_data_url, load_image, sniff_image_type
from .settings import ClientSettings, ReconnectPolicy
from .stream import DeltaCallback, ResponseStream
from .webrtc import Transport, WebRtcConnection

__all__ = ["ErrorCallback", "RealtimeClient"]

logger = logging.getLogger(__name__)

ErrorCallback = Callable[[RealtimeAPIError], object]
_SEEN_IDS_KEPT = 4096  # server event ids remembered to drop duplicated frames
# Errors the live server sends without the session being hurt (catalog ERROR-FATAL):
# when they name none of our events they must not fail the response in progress.
_HARMLESS_CODES = frozenset(
    {
        "response_cancel_not_active",
        "conversation_already_has_active_response",
        "input_audio_buffer_commit_empty",
        "item_delete_invalid_item_id",
        "item_retrieve_invalid_item_id",
        "item_truncate_invalid_item_id",
        "cannot_update_voice",
        "unknown_parameter",
        "invalid_value",
    }
)
_DELTA_EVENTS = frozenset({"response.output_text.delta", "response.output_audio_transcript.delta"})
_DONE_TEXT = {
    "response.output_text.done": "text",
    "response.output_audio_transcript.done": "transcript",
}


# status_details of a response cancelled before its response.create was sent.
_CANCELLED_LOCALLY = {"type": "cancelled", "reason": "client_cancelled"}


class RealtimeClient(Lifecycle):
    """A GA Realtime session for screenshots and streamed text notes.

    Use as `async with RealtimeClient(...) as client:` (or call `connect()` / `close()`).
    Keyword arguments are those of `client_reference.connect`, plus:

    Args:
        settings: every timeout (`ClientSettings`).
        reconnect: a `ReconnectPolicy` to open a new session when the server ends one
            (`session_expired`, 1001, 1011, …); None (default) never reconnects.
        on_error: called with each `RealtimeAPIError` that no pending call claims.
        transport: `"websocket"` (default) or `"webrtc"`: a client secret, then
            `POST /realtime/calls` with an SDP offer, then the `oai-events` data channel
            (`client_reference.webrtc`; needs the `webrtc` extra).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        model: str | None = DEFAULT_MODEL,
        api_key: str | None = None,
        auth: Auth = "header",
        headers: Mapping[str, str] | None = None,
        settings: ClientSettings | None = None,
        reconnect: ReconnectPolicy | None = None,
        on_error: ErrorCallback | None = None,
        max_size: int | None = DEFAULT_MAX_SIZE,
        compression: Compression = None,
        transport: Transport = "websocket",
    ) -> None:
        super().__init__(
            url,
            model=model,
            api_key=api_key,
            auth=auth,
            headers=headers,
            settings=settings or ClientSettings(),
            reconnect=reconnect,
            max_size=max_size,
            compression=compression,
            transport=transport,
        )
        self._on_error = on_error
        self._items = ev.EventIds("img")
        self._waiters: dict[str, asyncio.Future[dict[str, Any]]] = {}  # by our event_id
        self._config_order: deque[str] = deque()  # session.updated carries no event_id
        self._item_waiters: dict[str, str] = {}  # item id (or "delete:" + id) -> event id
        self._fire_and_forget: dict[str, str] = {}  # event id -> what it was (cancel, …)
        self._responses = ResponseQueue()
        self._seen_ids: dict[str, None] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.errors: deque[RealtimeAPIError] = deque(maxlen=100)
        """Server errors that no call, callback or response claimed (also logged)."""

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # ------------------------------------------------------------ the GA flow
    async def configure(
        self,
        *,
        instructions: str | None = None,
        output_modalities: Sequence[ev.Modality] | None = ("text",),
        max_output_tokens: ev.MaxTokens | None = None,
        voice: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Send a GA `session.update` and wait for `session.updated`.

        Only the given fields change; they are re-sent after a reconnect.

        Returns:
            The full effective session from `session.updated`.

        Raises:
            RealtimeAPIError: the server rejected the update (nothing was applied).
            Timeout, ConnectionClosed: no answer in time / the connection closed.
        """
        event = ev.session_update(
            event_id=self._ids.next(),
            instructions=instructions,
            output_modalities=output_modalities,
            max_output_tokens=max_output_tokens,
            voice=voice,
            extra=extra,
        )
        session = await self._request(event, what="session.updated")
        self._remember_config(event["session"])
        return session

    async def add_screenshot(
        self,
        image: bytes | str | os.PathLike[str],
        *,
        text: str | None = None,
        detail: ev.Detail | None = None,
        item_id: str | None = None,
        wait: bool = True,
        max_bytes: int | None = MAX_IMAGE_BYTES,
    ) -> dict[str, Any]:
        """Add a user message with the image (PNG or JPEG) and optional text.

        A PNG over `max_bytes` (default 650 KB) is halved until it fits, so the frame
        stays under the 1 MB at which the server closes 1009 without an error event.

        Args:
            image: image bytes or a file path; the format comes from the magic bytes.
            text: an `input_text` part sent after the image.
            detail: `auto`, `low` or `high` (`low` is faster and cheaper).
            item_id: our item id (default `img_<n>`); letters, digits, `_` and `-`.
            wait: wait for `conversation.item.added`. With False the call returns once
                the event is written, saving a round trip before `respond()` (the server
                handles events in order, as in the live capture of §5d); a rejection
                then reaches `on_error` or the next response instead.
            max_bytes: the largest image sent as is; None sends any size unchanged. Over
                WebRTC it is at most what one data-channel message carries
                (`WebRtcConnection.max_image_bytes`, about 190 KB).

        Returns:
            The item as the server echoed it (with `wait=False`: as we sent it).

        Raises:
            UsageError: the image is unreadable or not PNG/JPEG, or too large and not a
                PNG this client can downscale (nothing was sent).
            LocalProtocolError: the item id is already in the conversation.
            RealtimeAPIError: the server rejected the item.
        """
        data = load_image(image)
        conn = self._conn
        if isinstance(conn, WebRtcConnection) and (cap := conn.max_image_bytes) is not None:
            max_bytes = cap if max_bytes is None else min(max_bytes, cap)
        if max_bytes is not None and len(data) > max_bytes:
            data = await asyncio.to_thread(_downscaled, data, max_bytes)
        item = ev.check_item_id(item_id) if item_id is not None else self._items.next()
        event = ev.image_message(
            event_id=self._ids.next(),
            item_id=item,
            data_url=image_data_url(data),
            text=text,
            detail=detail,
        )
        if not wait:
            await (await self._connection()).send(event)
            return dict(event["item"])
        return await self._request(event, item_key=item, what=f"conversation.item.added {item}")

    async def add_text(self, text: str, *, item_id: str | None = None) -> dict[str, Any]:
        """Add a user text message; returns the item as the server echoed it."""
        item = ev.check_item_id(item_id) if item_id is not None else self._items.next()
        event = ev.text_message(event_id=self._ids.next(), item_id=item, text=text)
        return await self._request(event, item_key=item, what=f"conversation.item.added {item}")

    async def delete_item(self, item_id: str) -> None:
        """Remove an item (e.g. an old screenshot) so later turns read less context."""
        event_id = self._ids.next()
        event = {"type": "conversation.item.delete", "event_id": event_id, "item_id": item_id}
        what = f"conversation.item.deleted {item_id}"
        await self._request(event, item_key=f"delete:{item_id}", what=what)

    async def respond(
        self,
        *,
        instructions: str | None = None,
        output_modalities: Sequence[ev.Modality] | None = None,
        max_output_tokens: ev.MaxTokens | None = None,
        metadata: Mapping[str, str] | None = None,
        on_delta: DeltaCallback | None = None,
    ) -> ResponseStream:
        """Ask for a response; returns its stream at once.

        If a response is active or a `response.create` is awaiting `response.created`,
        this one is queued and sent right after that response's `response.done`.

        Args:
            instructions: override the session instructions for this response only.
            output_modalities: `["text"]` or `["audio"]` for this response only.
            max_output_tokens: cap for this response.
            metadata: up to 16 string pairs echoed in the response.
            on_delta: called with each text delta as it arrives.

        Returns:
            The stream: iterate it for deltas, `await stream.done()` for the result.

        Raises:
            ConnectionClosed: the session is over (a queued stream fails the same way
                if the connection closes before its turn).
        """
        await self._connection()
        event = ev.response_create(
            event_id=self._ids.next(),
            instructions=instructions,
            output_modalities=output_modalities,
            max_output_tokens=max_output_tokens,
            metadata=metadata,
        )
        stream = ResponseStream(
            event,
            timeout=self._settings.response_timeout,
            on_delta=on_delta,
            on_timeout=self._stream_timed_out,
        )
        self._responses.add(stream)
        await self._pump()
        return stream

    async def cancel(self, stream: ResponseStream) -> None:
        """Stop a response you asked for; its stream then ends with status `"cancelled"`.

        A queued response is dropped before its `response.create` is sent. One the server
        is working on gets a `response.cancel`: the server ends it with `response.done`
        (`status: "cancelled"`), and `await stream.done()` returns the text so far. A
        response that has already finished is left alone. For a heads-up display: cancel
        the note being written when a newer screenshot makes it stale.
        """
        if stream.finished:
            return
        if not stream.sent:
            stream._finish({"status": "cancelled", "status_details": _CANCELLED_LOCALLY})
            return
        await self._cancel(stream.response_id, why="response.cancel")

    # ------------------------------------------------------- requests, acks
    async def _request(
        self, event: dict[str, Any], *, what: str, item_key: str | None = None
    ) -> dict[str, Any]:
        conn = await self._connection()
        event_id = event["event_id"]
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters[event_id] = future
        if item_key is None:
            self._config_order.append(event_id)
        else:
            self._item_waiters[item_key] = event_id
        try:
            await conn.send(event)
            try:
                async with asyncio.timeout(self._settings.ack_timeout):
                    return await future
            except TimeoutError:
                raise self._timeout(what, self._settings.ack_timeout) from None
        finally:
            self._forget_waiter(event_id, item_key)

    def _timeout(self, what: str, seconds: float) -> Timeout:
        error = Timeout(what, seconds)
        if self.errors:
            error.add_note(f"the server's last unclaimed error was: {self.errors[-1]}")
        return error

    def _forget_waiter(self, event_id: str, item_key: str | None) -> None:
        self._waiters.pop(event_id, None)
        if item_key is not None and self._item_waiters.get(item_key) == event_id:
            del self._item_waiters[item_key]
        if event_id in self._config_order:
            self._config_order.remove(event_id)

    def _resolve(self, event_id: str | None, value: dict[str, Any]) -> None:
        future = self._waiters.get(event_id) if event_id else None
        if future is not None and not future.done():
            future.set_result(value)

    # ------------------------------------------------------------- dispatch
    async def _dispatch(self, event: dict[str, Any]) -> None:
        if self._is_repeat(event):
            return
        kind = event.get("type")
        if isinstance(kind, str) and kind.startswith("response."):
            self._touch_streams()
        if kind == "error":
            await self._on_error_event(RealtimeAPIError.from_event(event))
        elif kind == "session.updated":
            self._on_session_updated(event)
        elif kind in ("conversation.item.added", "conversation.item.done"):
            item = event.get("item")
            if isinstance(item, dict):
                self._resolve(self._item_waiters.get(str(item.get("id"))), item)
        elif kind == "conversation.item.deleted":
            self._resolve(self._item_waiters.get(f"delete:{event.get('item_id')}"), event)
        elif kind == "response.created":
            self._on_response_created(event)
        elif kind in _DELTA_EVENTS:
            if stream := self._responses.live(event.get("response_id")):
                stream._delta(event)
        elif kind in _DONE_TEXT:
            if stream := self._responses.live(event.get("response_id")):
                stream._part_done(event, event.get(_DONE_TEXT[kind]))
        elif kind == "response.done":
            await self._on_response_done(event)
        else:
            logger.debug("ignoring server event %r", kind)

    def _on_session_updated(self, event: dict[str, Any]) -> None:
        session = event.get("session")
        self.session = session if isinstance(session, dict) else {}
        if self._config_order:
            self._resolve(self._config_order.popleft(), self.session)

    def _on_response_created(self, event: dict[str, Any]) -> None:
        response = event.get("response")
        response_id = str(response.get("id")) if isinstance(response, dict) else ""
        if self._responses.created(response_id) is None:
            # e.g. started by server VAD: the core tracks it, and our queue waits for it.
            logger.debug("response %r was not asked for by this client; ignoring it", response_id)

    async def _on_response_done(self, event: dict[str, Any]) -> None:
        response = event.get("response")
        if isinstance(response, dict) and (stream := self._responses.done(response.get("id"))):
            stream._finish(response)
        await self._pump()

    async def _on_error_event(self, error: RealtimeAPIError) -> None:
        logger.debug("server error event: %s (for %s)", error, error.event_id)
        if error.event_id in self._fire_and_forget:
            what = self._fire_and_forget.pop(error.event_id)
            logger.info("server rejected our %s: %s (harmless)", what, error)
        elif (future := self._waiters.get(str(error.event_id))) is not None:
            if not future.done():
                future.set_exception(error)
        elif stream := self._responses.reject_pending(error.event_id):
            stream._fail(error)
            await self._pump()
        else:
            self._unclaimed(error)

    def _is_repeat(self, event: dict[str, Any]) -> bool:
        """True for an event whose `event_id` was already seen (a duplicated frame)."""
        event_id = event.get("event_id")
        if not isinstance(event_id, str):
            return False
        if event_id in self._seen_ids:
            logger.warning("dropped a repeated server event %s (%s)", event_id, event.get("type"))
            return True
        self._seen_ids[event_id] = None
        if len(self._seen_ids) > _SEEN_IDS_KEPT:
            del self._seen_ids[next(iter(self._seen_ids))]
        return False

    def _unclaimed(self, error: RealtimeAPIError) -> None:
        self.errors.append(error)
        if self._on_error is not None:
            try:
                self._on_error(error)
            except Exception:
                logger.exception("on_error callback raised while handling %s", error)
            return
        active = self._responses.current()
        ours = error.event_id is not None  # answers one of our events: never harmless
        if active is not None and (ours or error.code not in _HARMLESS_CODES):
            active._fail(error)
        else:
            # A harmless error (catalog ERROR-FATAL) must not throw away a response the
            # server is still finishing; it stays in `client.errors`.
            logger.warning("server error not tied to any request: %s", error)

    # ------------------------------------------------------- response queue
    def _touch_streams(self) -> None:
        # Any response progress in the session restarts the silence clock of every
        # waiting stream, so a queued response only times out when the session stalls.
        for stream in self._responses:
            stream._touch()

    async def _pump(self) -> None:
        """Send the next queued `response.create` if none is in flight."""
        conn = self._conn
        while conn is not None and (stream := self._responses.take_next(conn.session)):
            stream._mark_sent()
            try:
                await conn.send(stream.event)  # the core marks it pending before any await
            except (ClientError, LocalProtocolError) as exc:
                self._responses.reject_pending(stream.event_id)
                stream._fail(exc)

    def _stream_timed_out(self, stream: ResponseStream) -> None:
        if stream.sent:
            self._spawn(self._cancel(stream.response_id, why="response.cancel after a timeout"))

    async def _cancel(self, response_id: str | None, *, why: str) -> None:
        conn = self._conn
        if conn is None:
            return
        event = ev.response_cancel(event_id=self._ids.next(), response_id=response_id)
        # If the response ended meanwhile, the server answers response_cancel_not_active.
        self._fire_and_forget[event["event_id"]] = why
        try:
            await conn.send(event)
        except (ClientError, LocalProtocolError) as exc:
            logger.debug("could not cancel %s: %s", response_id, exc)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---------------------------------------------------- lifecycle hooks
    def _fail_everything(self, error: ClientError) -> None:
        """Settle every waiter and stream with `error` (a fresh copy each)."""
        for future in list(self._waiters.values()):
            if not future.done():
                future.set_exception(copy_error(error))
        for stream in self._responses.clear():
            stream._fail(copy_error(error))
        self._fire_and_forget.clear()

    async def _before_close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=self._settings.close_timeout)


def _downscaled(data: bytes, max_bytes: int) -> bytes:
    """The PNG halved until it fits `max_bytes` (a JPEG that large is refused)."""
    if sniff_image_type(data) != "image/png":
        raise UsageError(
            f"the image is {len(data):,} bytes, over {max_bytes:,}: as one frame it would "
            "make the server close 1009; this client downscales only PNGs, so save a "
            "smaller JPEG (or pass max_bytes=None to send it anyway)"
        )
    fitted, (width, height) = fit_png(data, max_bytes)
    logger.info(
        "downscaled a %s-byte PNG to %dx%d (%s bytes)",
        f"{len(data):,}",
        width,
        height,
        f"{len(fitted):,}",
    )
    return fitted
