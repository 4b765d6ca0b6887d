"""A tiny `App` for adapter tests: each client frame is a command.

(open)          session.created-like event, or error + close from check_handshake
bad             an `error` event
close:CODE      Close(CODE, "stub close")
drop            Drop()
stall           Stall(pings=True);   stall-nopings: Stall(pings=False)
noping          SetPingAnswer(False); ping: SetPingAnswer(True)
later:MS        a `later` event MS milliseconds from now (a timer)
bytes           a binary frame
anything else   echoed back as {"type": "echo", "text": ...}
"""

from __future__ import annotations

import itertools
from typing import Any

from conformance import _json
from conformance.models import load_registry
from conformance.transcript import Transcript
from mock_server.actions import Action, Close, Drop, SendBytes, SendText, SetPingAnswer, Stall
from mock_server.config import MockConfig
from mock_server.handshake import Rejected, check_handshake
from mock_server.request import ConnectRequest

_sessions = itertools.count(1)


class StubApp:
    """Records both directions in its transcript, like the real app."""

    def __init__(self, request: ConnectRequest, config: MockConfig) -> None:
        self.request = request
        self.config = config
        self.transcript: Transcript = request.new_transcript(config)
        self.session_id = f"sess_stub{next(_sessions)}"
        self.transcript.meta["session_id"] = self.session_id
        self.timers: list[tuple[float, str]] = []
        self.lost: tuple[int | None, str] | None = None
        self._dropped = False
        self._actions: list[Action] = []
        self._events = itertools.count(1)

    # --- App protocol ---

    def opened(self, now_ms: float) -> None:
        result = check_handshake(self.request, self.config, load_registry())
        if isinstance(result, Rejected):
            self._send(result.finding.error_event(self._event_id()), now_ms)
            self._close(result.close_code, result.close_reason, now_ms)
            return
        session = {"id": self.session_id, "type": result.kind, "model": result.model}
        self._send(
            {"type": "session.created", "event_id": self._event_id(), "session": session}, now_ms
        )

    def receive_text(self, text: str, now_ms: float) -> None:
        self.transcript.add_text("client", text, now_ms)
        command, _, argument = text.partition(":")
        if text == "bad":
            error = {
                "type": "invalid_request_error",
                "code": "stub",
                "message": "bad",
                "param": None,
            }
            self._send({"type": "error", "event_id": self._event_id(), "error": error}, now_ms)
        elif command == "close":
            self._close(int(argument), "stub close", now_ms)
        elif text == "drop":
            self._dropped = True
            self.transcript.add_drop("server", now_ms)
            self._actions.append(Drop())
        elif text in ("stall", "stall-nopings"):
            self._send({"type": "stalling", "event_id": self._event_id()}, now_ms)
            self._actions.append(Stall(pings=text == "stall"))
        elif text in ("noping", "ping"):
            self._actions.append(SetPingAnswer(text == "ping"))
        elif command == "later":
            self.timers.append((now_ms + float(argument), argument))
            self.timers.sort()
        elif command == "flood":
            self._actions.extend(SendText("x" * 65536) for _ in range(int(argument)))
        elif text == "weird":
            self._actions.append(object())  # type: ignore[arg-type]
        elif text == "bytes":
            self.transcript.add_binary("server", b"\x00\x01", now_ms)
            self._actions.append(SendBytes(b"\x00\x01"))
        else:
            self._send({"type": "echo", "event_id": self._event_id(), "text": text}, now_ms)

    def receive_bytes(self, data: bytes, now_ms: float) -> None:
        self.transcript.add_binary("client", data, now_ms)

    def handle_timer(self, now_ms: float) -> None:
        while self.timers and self.timers[0][0] <= now_ms:
            due, label = self.timers.pop(0)
            event = {"type": "later", "event_id": self._event_id(), "label": label, "due": due}
            self._send(event, now_ms)

    def next_timer(self) -> float | None:
        return self.timers[0][0] if self.timers else None

    def actions_to_perform(self) -> list[Action]:
        actions, self._actions = self._actions, []
        return actions

    def connection_lost(self, code: int | None, reason: str, now_ms: float) -> None:
        self.lost = (code, reason)
        if code is None and not self._dropped:
            self.transcript.add_drop("client", now_ms)
        elif code is not None:
            self.transcript.add_close("client", code, reason, now_ms)

    # --- helpers ---

    def _event_id(self) -> str:
        return f"event_stub{next(self._events)}"

    def _send(self, event: dict[str, Any], now_ms: float) -> None:
        text = _json.dumps(event)
        self.transcript.add_text("server", text, now_ms)
        self._actions.append(SendText(text))

    def _close(self, code: int, reason: str, now_ms: float) -> None:
        self.transcript.add_close("server", code, reason, now_ms)
        self._actions.append(Close(code, reason))
