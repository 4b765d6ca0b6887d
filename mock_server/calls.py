"""WebRTC and SIP calls: the registry of a mock server's calls, and the driver of a call's app.

A call (`Call`, id `rtc_` + 32 hex, as live) is made by `POST /v1/realtime/calls` (WebRTC,
`mock_server/_webrtc.py`) or by a simulated incoming SIP call (`mock_server/sip.py`). Its
session is one `MockApp` (`transport="webrtc"` or `"sip"`), driven by one `CallDriver`
whatever carries its events: the WebRTC `oai-events` data channel and any number of sideband
WebSockets (`GET /v1/realtime?call_id=rtc_…`) are its *outlets*. Every server event goes to
every outlet; a client event from any outlet goes into the same app, so the call has one
transcript. `POST /v1/realtime/calls/{id}/hangup` ends it (`CallRegistry.end`).

Nothing here imports aiortc: the WebRTC specifics (peer connection, data channel, tracks)
are in `mock_server/_webrtc.py`; a SIP call has no media, only sidebands.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol
from urllib.parse import urlencode

from websockets.protocol import State

from mock_server._log import logger
from mock_server.actions import (
    Action,
    ClearAudio,
    Close,
    Drop,
    PlayAudio,
    SendBytes,
    SendText,
    SetPingAnswer,
    Stall,
)
from mock_server.request import ConnectRequest

if TYPE_CHECKING:
    from mock_server._connection import Connection
    from mock_server.app import MockApp
    from mock_server.config import MockConfig

CallKind = Literal["webrtc", "sip"]
CallState = Literal["ringing", "active", "ended"]

KEEP_ENDED: Final = 1000  # ended calls remembered (hangup twice, a late sideband: 404)
USED_SECRETS: Final = 10_000  # `ek_` keys already used for a call (single use)
# A sideband that reads nothing while this much waits to be written is dropped (bounded
# memory; the call goes on without it).
SIDEBAND_BUFFER: Final = 16 << 20


def new_call_id() -> str:
    """A call id as live makes them: `rtc_` + 32 hex digits (protocol notes §1)."""
    return "rtc_" + secrets.token_hex(16)


def call_request(
    call_id: str,
    *,
    key: str,
    model: str | None,
    path_prefix: str = "",
    scenario: str | None = None,
    headers: Sequence[tuple[str, str]] = (),
    remote: str = "",
) -> ConnectRequest:
    """The connect request a call's session is checked and recorded with.

    `{prefix}/v1/realtime?model=M&call_id=rtc_…` (no `model` when None: the key's own),
    with `Authorization: Bearer key` and `headers` (an `X-Mock-Scenario` picks a scenario,
    as on the WebSocket); the transcript's meta shows it redacted.
    """
    query: dict[str, str] = {}
    if model is not None:
        query["model"] = model
    query["call_id"] = call_id
    if scenario:
        query["scenario"] = scenario
    target = f"{path_prefix.rstrip('/')}/v1/realtime?{urlencode(query)}"
    return ConnectRequest.from_target(
        target,
        [("Authorization", f"Bearer {key}"), *headers],
        subprotocols=(),
        remote=remote,
    )


class Outlet(Protocol):
    """Where a call's server events go: its data channel, a sideband WebSocket."""

    primary: bool
    """The call's own transport: when it goes, the call ends (a sideband may come and go)."""

    def send_text(self, text: str) -> None:
        """Send one event (never blocks; an outlet that cannot keep up drops itself)."""
        ...

    def send_bytes(self, data: bytes) -> None:
        """Send one binary message (a scenario's deliberate fault)."""
        ...

    def close(self, code: int, reason: str) -> None:
        """Close (a WebSocket with this code; a peer connection just closes)."""
        ...

    def drop(self) -> None:
        """Go away without a close (the peer sees its transport fail)."""
        ...


class MediaSink(Protocol):
    """The call's output audio track (`PlayAudio` / `ClearAudio`)."""

    def play(self, data: bytes, fmt: str) -> None:
        """Queue audio in the session's output format after what is queued."""
        ...

    def clear(self) -> None:
        """Drop what is queued and not played yet."""
        ...


@dataclass(eq=False)
class Call:
    """One call. `driver` is set while its session runs."""

    call_id: str
    kind: CallKind
    state: CallState = "active"
    created_at: float = field(default_factory=time.time)
    request: ConnectRequest | None = None
    session: dict[str, Any] | None = None
    sip_headers: list[dict[str, str]] = field(default_factory=list)
    end_reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    driver: CallDriver | None = None
    # Run once when the call ends (the WebRTC side closes its peer connection).
    on_end: list[Callable[[Call], None]] = field(default_factory=list)

    @property
    def live(self) -> bool:
        """Not ended."""
        return self.state != "ended"


class CallRegistry:
    """The calls of one mock server (`MockServer.calls`), by id; ended ones kept a while."""

    def __init__(self, *, keep_ended: int = KEEP_ENDED) -> None:
        self._calls: OrderedDict[str, Call] = OrderedDict()
        self._keep_ended = keep_ended
        self._used: OrderedDict[str, None] = OrderedDict()
        self._changed: asyncio.Event | None = None

    def __iter__(self) -> Iterator[Call]:
        return iter(list(self._calls.values()))

    def __len__(self) -> int:
        return len(self._calls)

    def add(self, call: Call) -> Call:
        """Register `call` (its id must be new)."""
        if call.call_id in self._calls:
            raise ValueError(f"call {call.call_id} already exists")
        self._calls[call.call_id] = call
        self._notify()
        return call

    def create(
        self,
        kind: CallKind,
        *,
        request: ConnectRequest | None = None,
        session: dict[str, Any] | None = None,
        state: CallState = "active",
        sip_headers: Sequence[dict[str, str]] = (),
        call_id: str | None = None,
    ) -> Call:
        """A new registered call."""
        call = Call(
            call_id=call_id or new_call_id(),
            kind=kind,
            state=state,
            request=request,
            session=session,
            sip_headers=list(sip_headers),
        )
        return self.add(call)

    def get(self, call_id: str) -> Call | None:
        """The call (live or recently ended), or None."""
        return self._calls.get(call_id)

    def live(self, call_id: str) -> Call | None:
        """The call if it has not ended, else None."""
        call = self._calls.get(call_id)
        return call if call is not None and call.live else None

    def set_state(self, call: Call, state: CallState) -> None:
        """Move a call to `state` (use `end` to end it)."""
        call.state = state
        self._notify()

    def end(self, call_id: str, reason: str, code: int = 1000) -> Call | None:
        """End a call: its session stops (the transcript records it), its outlets close,
        its `on_end` callbacks run. Ending an ended call changes nothing."""
        call = self._calls.get(call_id)
        if call is None or not call.live:
            return call
        if call.driver is not None and not call.driver.ended:
            call.driver.end(reason, code)  # comes back to `ended`
        else:
            self.ended(call, reason)
        return call

    def ended(self, call: Call, reason: str) -> None:
        """Record that `call` ended (its driver calls this); runs `on_end` once."""
        if not call.live:
            return
        call.state = "ended"
        call.end_reason = reason
        callbacks, call.on_end = call.on_end, []
        for callback in callbacks:
            try:
                callback(call)
            except Exception:
                logger.exception("a call's end callback failed")
        self._forget_old()
        self._notify()

    def end_all(self, reason: str = "server_stopped") -> None:
        """End every live call (the server stops)."""
        for call in list(self._calls.values()):
            self.end(call.call_id, reason, 1001)

    def use_secret(self, key: str) -> bool:
        """Mark an `ek_` key used for a call; False if it was used already (single use)."""
        if key in self._used:
            return False
        self._used[key] = None
        while len(self._used) > USED_SECRETS:
            self._used.popitem(last=False)
        return True

    async def wait_for(
        self,
        call_id: str,
        state: CallState,
        timeout: float = 5.0,  # noqa: ASYNC109 - a test helper's plain bound
    ) -> Call:
        """Wait until call `call_id` exists and is in `state`.

        Raises:
            TimeoutError: not within `timeout` seconds (says the call's state).
        """
        try:
            async with asyncio.timeout(timeout):
                while True:
                    call = self._calls.get(call_id)
                    if call is not None and call.state == state:
                        return call
                    await self._event().wait()
        except TimeoutError:
            call = self._calls.get(call_id)
            now = "unknown" if call is None else call.state
            raise TimeoutError(
                f"call {call_id} did not become {state} within {timeout} s (it is {now})"
            ) from None

    def _forget_old(self) -> None:
        ended = [c for c in self._calls.values() if not c.live]
        for call in ended[: max(0, len(ended) - self._keep_ended)]:
            del self._calls[call.call_id]

    def _event(self) -> asyncio.Event:
        if self._changed is None:
            self._changed = asyncio.Event()
        return self._changed

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None


class CallDriver:
    """Drives one call's `MockApp` on the running loop, for all of its outlets.

    The WebSocket driver's contract (`mock_server.actions`): `open`, then each client
    event and each track's audio into the app, its timer when due, its actions performed
    in order: `SendText` to every outlet, `PlayAudio` / `ClearAudio` to the media sink,
    `Close` / `Drop` end the call, `Stall` stops all output (the call stays up).
    """

    def __init__(
        self,
        call: Call,
        app: MockApp,
        registry: CallRegistry,
        *,
        media: MediaSink | None = None,
    ) -> None:
        self.call = call
        self.app = app
        self.registry = registry
        self.media = media
        self.outlets: list[Outlet] = []
        self.opened = False
        self.ended = False
        self.stalled = False
        self._loop = asyncio.get_running_loop()
        self._t0 = self._loop.time()
        self._last_ms = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._armed: float | None = None
        self._done = asyncio.Event()
        call.driver = self

    def now_ms(self) -> float:
        """Milliseconds since the driver was made (monotonic)."""
        now = (self._loop.time() - self._t0) * 1000.0
        self._last_ms = max(self._last_ms, now)
        return self._last_ms

    # --- outlets ---

    def attach(self, outlet: Outlet) -> None:
        """Send this call's later events to `outlet` too."""
        if outlet not in self.outlets:
            self.outlets.append(outlet)

    def detach(self, outlet: Outlet) -> None:
        """`outlet` went away. The primary one: the call ends (as live: the peer hung up)."""
        if outlet in self.outlets:
            self.outlets.remove(outlet)
        if outlet.primary and not self.ended:
            self._finish("closed", 1000, "", lost=True)

    # --- into the app ---

    def open(self) -> None:
        """Start the session (session.created goes to the outlets attached now)."""
        if self.opened or self.ended:
            return
        self.opened = True
        self._guard(lambda: self.app.opened(self.now_ms()))

    def receive_text(self, text: str) -> None:
        """A client event from any outlet."""
        if self.opened and not self.ended:
            self._guard(lambda: self.app.receive_text(text, self.now_ms()))

    def receive_bytes(self, data: bytes) -> None:
        """A binary message from an outlet (refused by the app, as on the WebSocket)."""
        if self.opened and not self.ended:
            self._guard(lambda: self.app.receive_bytes(data, self.now_ms()))

    def receive_audio(self, pcm: bytes) -> None:
        """The client's track audio, in the session's input format."""
        if self.opened and not self.ended and not self.stalled:
            self._guard(lambda: self.app.receive_audio(pcm, self.now_ms()))

    def flush(self) -> None:
        """Perform what the app has queued (after calling into it directly)."""
        self._guard(lambda: None)

    def end(self, reason: str, code: int = 1000) -> None:
        """End the call from outside (hangup, server stop): the session records a close
        by the client with `code` and `reason`, outlets are closed."""
        self._finish(reason, code, reason, lost=True)

    async def wait_ended(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until the call has ended (TimeoutError after `timeout` s)."""
        async with asyncio.timeout(timeout):
            await self._done.wait()

    # --- inside ---

    def _guard(self, step: Callable[[], None]) -> None:
        try:
            step()
            actions = self.app.actions_to_perform()
        except Exception:
            logger.exception("mock app failed on call %s; ending it", self.call.call_id)
            self._finish("app_error", 1011, "mock app error", lost=True)
            return
        self._perform(actions)
        self._rearm()

    def _perform(self, actions: list[Action]) -> None:
        for action in actions:
            if self.ended or self.stalled:
                return
            if isinstance(action, SendText):
                for outlet in list(self.outlets):
                    outlet.send_text(action.text)
            elif isinstance(action, PlayAudio):
                if self.media is not None:
                    self.media.play(action.data, action.fmt)
            elif isinstance(action, ClearAudio):
                if self.media is not None:
                    self.media.clear()
            elif isinstance(action, SendBytes):
                for outlet in list(self.outlets):
                    outlet.send_bytes(action.data)
            elif isinstance(action, Close):
                for outlet in list(self.outlets):
                    outlet.close(action.code, action.reason)
                self._finish("closed", action.code, action.reason, lost=False)
            elif isinstance(action, Drop):
                for outlet in list(self.outlets):
                    outlet.drop()
                self._finish("dropped", 1006, "", lost=False)
            elif isinstance(action, Stall):
                self.stalled = True
                self._disarm()
            elif isinstance(action, SetPingAnswer):
                pass  # no pings on a data channel; a sideband answers its own
            else:  # pragma: no cover - the Action union is closed
                logger.error("unknown action %r on call %s", action, self.call.call_id)

    def _finish(self, reason: str, code: int, text: str, *, lost: bool) -> None:
        if self.ended:
            return
        self.ended = True
        self._disarm()
        if lost:
            try:
                self.app.connection_lost(code, text, self.now_ms())
                self.app.actions_to_perform()
            except Exception:
                logger.exception("mock app failed in connection_lost")
            for outlet in list(self.outlets):
                outlet.close(1000 if code == 1006 else code, text)
        elif not self.app.ended:  # pragma: no cover - Close/Drop end the app first
            self.app.connection_lost(code, text, self.now_ms())
        self.outlets.clear()
        self.registry.ended(self.call, reason)
        self._done.set()

    def _rearm(self) -> None:
        if self.ended or self.stalled:
            return
        due = self.app.next_timer()
        if due == self._armed:
            return
        self._disarm()
        self._armed = due
        if due is not None:
            self._timer = self._loop.call_at(self._t0 + due / 1000.0, self._on_timer)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._armed = None, None

    def _on_timer(self) -> None:
        self._timer, self._armed = None, None
        if self.ended or self.stalled:
            return
        due = self.app.next_timer()
        if due is None:
            return
        now = self.now_ms()
        if now + 0.001 < due:
            self._rearm()
            return
        self._last_ms = max(now, due)
        self._guard(lambda: self.app.handle_timer(self._last_ms))


class _SidebandOutlet:
    """A sideband WebSocket as an outlet: whole frames written at once, in order."""

    primary = False

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._closing: asyncio.Task[None] | None = None

    def _write(self, send: Callable[[bytes], None], data: bytes) -> None:
        ws = self.connection
        transport = ws.transport
        if ws.protocol.state is not State.OPEN or transport.is_closing():
            return
        if transport.get_write_buffer_size() > SIDEBAND_BUFFER:
            logger.warning("a sideband of a call reads nothing; dropping it")
            transport.abort()
            return
        send(data)
        transport.write(b"".join(ws.protocol.data_to_send()))

    def send_text(self, text: str) -> None:
        self._write(self.connection.protocol.send_text, text.encode())

    def send_bytes(self, data: bytes) -> None:
        self._write(self.connection.protocol.send_binary, data)

    def close(self, code: int, reason: str) -> None:
        if self._closing is None:
            reason = reason.encode()[:123].decode(errors="ignore")
            self._closing = asyncio.ensure_future(self.connection.close(code, reason))

    def drop(self) -> None:
        self.connection.transport.abort()


async def run_sideband(
    connection: Connection, call: Call, request: ConnectRequest, config: MockConfig
) -> bool:
    """Serve a sideband WebSocket (`?call_id=`) of a live call until it goes.

    Its key is checked as a connection's (`check_handshake`); a refused one returns False
    at once (the caller then answers it as any connection: `error`, close). Otherwise the
    socket gets the call's later server events and its client events act on the call's
    session; it sends nothing of its own [INFERRED: no `session.created` for a sideband].
    """
    from mock_server.handshake import Accepted, check_handshake
    from mock_server.secrets import secrets_for

    secrets_ = secrets_for(config.secret_key)
    outcome = check_handshake(request, config, secrets=secrets_, now=time.time())
    driver = call.driver
    if not isinstance(outcome, Accepted) or driver is None:
        return False
    if call.request is not None and call.request.api_key != request.api_key:
        driver.app.transcript.add_secrets(request.api_key)
    outlet = _SidebandOutlet(connection)
    driver.attach(outlet)

    def on_message(message: str | bytes) -> None:
        if isinstance(message, str):
            driver.receive_text(message)
        else:
            driver.receive_bytes(message)

    try:
        for message in connection.attach(on_message):
            on_message(message)
        await asyncio.shield(connection.connection_lost_waiter)
    finally:
        connection.on_message = None
        driver.detach(outlet)
    return True


__all__ = [
    "Call",
    "CallDriver",
    "CallKind",
    "CallRegistry",
    "CallState",
    "MediaSink",
    "Outlet",
    "call_request",
    "new_call_id",
    "run_sideband",
]
