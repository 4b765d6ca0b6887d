"""`ResponseQueue`: which response streams are queued, awaiting `response.created`, or live."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from conformance.protocol import Session

from .stream import ResponseStream


class ResponseQueue:
    """Our responses in order. At most one `response.create` is ever in flight (catalog 1).

    A stream moves: queued -> pending (its `response.create` was sent) -> live (bound to
    a response id by `response.created`) -> gone (at `response.done`).
    """

    def __init__(self) -> None:
        self._queued: deque[ResponseStream] = deque()
        self.pending: ResponseStream | None = None
        self._live: dict[str, ResponseStream] = {}

    def __iter__(self) -> Iterator[ResponseStream]:
        """Every stream still tracked: queued, pending and live."""
        yield from self._queued
        if self.pending is not None:
            yield self.pending
        yield from self._live.values()

    def add(self, stream: ResponseStream) -> None:
        """Queue a stream whose `response.create` is not sent yet."""
        self._queued.append(stream)

    def take_next(self, core: Session) -> ResponseStream | None:
        """Pop the next stream to send, if nothing is in flight (per us and the core)."""
        if self.pending is not None or core.active_response_id or core.response_pending:
            return None
        while self._queued:
            stream = self._queued.popleft()
            if not stream.finished:  # it may have timed out while queued
                self.pending = stream
                return stream
        return None

    def created(self, response_id: str) -> ResponseStream | None:
        """Bind the pending stream to `response_id`; None if the response is not ours."""
        stream, self.pending = self.pending, None
        if stream is not None:
            stream._created(response_id)
            self._live[response_id] = stream
        return stream

    def live(self, response_id: object) -> ResponseStream | None:
        """The stream of a response in progress."""
        return self._live.get(response_id) if isinstance(response_id, str) else None

    def done(self, response_id: object) -> ResponseStream | None:
        """Forget and return the stream of a finished response."""
        return self._live.pop(response_id, None) if isinstance(response_id, str) else None

    def reject_pending(self, event_id: str | None) -> ResponseStream | None:
        """Drop the pending stream if `event_id` is its `response.create`'s."""
        stream = self.pending
        if stream is None or event_id is None or stream.event_id != event_id:
            return None
        self.pending = None
        return stream

    def current(self) -> ResponseStream | None:
        """The unfinished stream the server is working on (live or pending), if any."""
        candidates = [*self._live.values(), self.pending]
        return next((s for s in candidates if s is not None and not s.finished), None)

    def clear(self) -> list[ResponseStream]:
        """Forget every stream; return them (to be failed by the caller)."""
        streams = list(self)
        self._queued.clear()
        self._live.clear()
        self.pending = None
        return streams
