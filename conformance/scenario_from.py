"""A scenario file that makes the mock do what the server did in a recording (`scenario-from`).

`derive_scenario(transcript, scenario_id=...)` walks the recorded server side and maps what
a default mock would not do onto scenario rules (docs/scenarios.md):

* an HTTP refusal of the upgrade → `upgrade: {status, body}`;
* a close or a drop by the server → `close: {code, reason}` / `drop:`, placed where it
  happened: before `session.created` (`connect`, `before_session_created`), after N
  deltas of a response (`deltas`), right after a client event (`client_event`), after a
  server event (`server_event`), or N ms after the connect (`after_ms`);
* an `error` the server sent on its own (not one answering a client event, which the
  mock's own validation answers) → `error: {type, code, message, param}` at its place,
  the session id in the message as `{session_id}`;
* silence: no `session.created` (stall before it), a response that stopped (stall after
  its last delta), a pause mid-response that resumed (`hold_response`), a request that got
  no answer (`consume`), a late `session.created` (`delay_next`);
* a response that ended `failed` before any delta → `fail_response`.

What a rule cannot express is listed in `Derived.unmapped` (a comment in the file; the CLI
prints it on stderr). The result is plain data: the CLI checks it with the mock's scenario
loader before writing it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import yaml

from conformance.schemas import (
    CLIENT_EVENT_TYPES,
    LIVE_CLIENT_TYPES,
    SERVER_EVENT_TYPES,
    TRANSLATION_CLIENT_EVENT_TYPES,
    TRANSLATION_SERVER_EVENT_TYPES,
)
from conformance.transcript import REDACTED, Record, Transcript

STALL_MS: Final = 2000.0  # a silence this long while the client waits is a stall
LATE_MS: Final = 100.0  # an action this long after its trigger gets `after_ms`
SLOW_SESSION_CREATED_MS: Final = 1000.0
PERMANENT_CLOSES: Final = frozenset({1008, 3000, 4000, 4001, 4003, 4004})
_UNSENDABLE_CLOSES: Final = frozenset({1004, 1005, 1006, 1015})
_ANSWERED: Final = frozenset({"session.update", "conversation.item.create", "response.create"})
_KNOWN_SERVER: Final = frozenset((*SERVER_EVENT_TYPES, *TRANSLATION_SERVER_EVENT_TYPES))
_KNOWN_CLIENT: Final = frozenset(
    (*CLIENT_EVENT_TYPES, *LIVE_CLIENT_TYPES, *TRANSLATION_CLIENT_EVENT_TYPES)
)
_PLACEHOLDER: Final = re.compile(r"\{([a-z_]+(?::[a-z_]+)?)\}")
_ID: Final = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_FILLER: Final = "The recorded reply stopped about here."


@dataclass(slots=True)
class Derived:
    """A derived scenario: the mapping to write, and what it does and does not reproduce."""

    data: dict[str, Any]
    mapped: list[str] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)
    default: list[str] = field(default_factory=list)  # left to the mock's own answers
    source: str = "<transcript>"

    def to_yaml(self) -> str:
        """The scenario file: a comment saying what it reproduces and what it cannot, then
        the YAML."""
        lines = [
            f"# Derived by `realtime-conformance scenario-from {self.source}`.",
            "# On the mock it reproduces what the server did in the recording:",
            *(
                f"#   - {item}"
                for item in self.mapped or ["nothing: the server did what the mock does"]
            ),
        ]
        if self.unmapped:
            lines.append(
                "# Not reproduced (no scenario rule expresses it; edit by hand if it matters):"
            )
            lines.extend(f"#   - {item}" for item in self.unmapped)
        if self.default:
            lines.append(
                "# Left to the mock's own behaviour (it answers the same client traffic itself):"
            )
            lines.extend(f"#   - {item}" for item in self.default)
        lines += [
            "# Play it: realtime-mock serve --scenario THIS_FILE",
            "#          realtime-conformance run --client CMD --scenario THIS_FILE",
            f"#          realtime-conformance replay {self.source} --scenario THIS_FILE",
        ]
        body = yaml.dump(self.data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=96)
        return "\n".join(lines) + "\n" + body


class _Flow(dict[str, Any]):
    """A mapping written on one line (`when: {on: deltas, count: 3}`), as the built-in
    scenarios write triggers."""


class _Dumper(yaml.SafeDumper):
    """Block text for multi-line strings, flow style for triggers."""


def _str(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


def _flow(dumper: yaml.SafeDumper, value: _Flow) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", value, flow_style=True)


_Dumper.add_representer(str, _str)
_Dumper.add_representer(_Flow, _flow)


def is_scenario_id(text: str) -> bool:
    """True for a valid scenario id (kebab-case, at most 64 characters)."""
    return len(text) <= 64 and _ID.match(text) is not None


def scenario_id_for(name: str) -> str:
    """A valid scenario id made from a file name (`20261206T10-sess_x.jsonl` → kebab-case)."""
    stem = name.rsplit("/", 1)[-1].removesuffix(".jsonl").removesuffix(".yaml").lower()
    words = re.findall(r"[a-z0-9]+", stem)
    text = "-".join(words)[:64].strip("-")
    return text or "recorded-session"


def derive_scenario(
    transcript: Transcript,
    *,
    scenario_id: str,
    source: str = "<transcript>",
    stall_ms: float = STALL_MS,
) -> Derived:
    """The scenario reproducing what the server did in `transcript` (see the module)."""
    walk = _Walk(transcript, stall_ms)
    walk.run()
    data: dict[str, Any] = {
        "id": scenario_id,
        "summary": _summary(walk.mapped),
        "description": _description(transcript.meta, source, walk),
    }
    if walk.translation:
        data["endpoint"] = "translation"
    data["expect"] = {
        "client": sorted(walk.expect) or ["surfaces_error_event"],
        "summary": "the client handles what the server did in the recording: "
        + ("; ".join(walk.mapped) if walk.mapped else "nothing unusual"),
    }
    connect = _connect(transcript.meta)
    if connect:
        data["connect"] = connect
    if walk.upgrade is not None:
        data["upgrade"] = walk.upgrade
    rules = walk.rules()
    if rules:
        data["rules"] = rules
    return Derived(
        data=data,
        mapped=walk.mapped,
        unmapped=walk.unmapped,
        default=walk.default,
        source=source,
    )


@dataclass(slots=True)
class _Response:
    number: int  # 1-based among the session's responses
    started_ms: float
    deltas: int = 0
    last_delta_ms: float = 0.0
    text: list[str] = field(default_factory=list)


class _Walk:
    """One pass over the records, keeping the context a rule's trigger needs."""

    def __init__(self, transcript: Transcript, stall_ms: float) -> None:
        self.records = transcript.records
        self.meta = transcript.meta
        self.stall_ms = stall_ms
        path = str(self.meta.get("path") or "")
        self.translation = self.meta.get("kind") == "translation" or path.endswith("/translations")
        self.session_id = self._session_id()
        self.mapped: list[str] = []
        self.unmapped: list[str] = []
        self.default: list[str] = []
        self.expect: set[str] = set()
        self.upgrade: dict[str, Any] | None = None
        self._rules: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
        self._reply: str | None = None
        # context
        self.session_created_ms: float | None = None
        self.client_ids: set[str] = set()
        self.client_counts: Counter[str] = Counter()
        self.client_frames = 0
        self.server_counts: Counter[str] = Counter()
        self.last_client: tuple[str, int, float] | None = None  # type, nth, t
        self.last_server: tuple[str, int, float] | None = None
        self.last_was_client = False
        self.responses: list[_Response] = []
        self.active: _Response | None = None
        self.ended = False

    # --- the pass ---

    def run(self) -> None:
        for record in self.records:
            if self.ended:
                break
            if record.direction == "client":
                self._client(record)
            else:
                self._server(record)
        if not self.ended:
            self._silence_at_end()

    def _client(self, record: Record) -> None:
        if record.kind in ("close", "drop"):
            self._silence_before(record.t_ms, ended_by_client=True)
            self.ended = True
            return
        if record.kind != "text":
            self.client_frames += record.frames if record.kind == "elided" else 1
            return
        event = record.event or {}
        kind = event.get("type") if isinstance(event.get("type"), str) else None
        self.client_frames += 1
        if kind is not None:
            self.client_counts[kind] += 1
            if isinstance(event.get("event_id"), str):
                self.client_ids.add(event["event_id"])
            self.last_client = (kind, self.client_counts[kind], record.t_ms)
        else:
            self.last_client = ("", self.client_frames, record.t_ms)
        self.last_was_client = True

    def _server(self, record: Record) -> None:
        if record.kind == "rejected":
            self._rejected(record)
            self.ended = True
            return
        if record.kind in ("close", "drop"):
            self._terminal(record)
            self.ended = True
            return
        if record.kind == "elided":
            self.unmapped.append(
                f"{record.frames} server frame(s) at record {record.index} were not kept in the "
                "recording (over its size limit)"
            )
            return
        if record.kind == "binary":
            self.unmapped.append(f"a binary server frame at record {record.index}")
            return
        event = record.event
        kind = event.get("type") if event is not None else None
        if not isinstance(kind, str):
            self.unmapped.append(
                f"a server frame that is not a JSON event at record {record.index}"
            )
            return
        self._pause(record)
        if kind not in _KNOWN_SERVER:
            self.unmapped.append(
                f"server event {kind!r} (not a GA event type) at record {record.index}: add "
                f"`inject_unknown_event: {{type: {kind}}}` by hand if your client should meet it"
            )
        if kind == "session.created":
            self._session_created(record)
        elif kind == "error":
            self._error(record, event or {})
        elif kind == "response.created":
            self.active = _Response(len(self.responses) + 1, record.t_ms)
            self.responses.append(self.active)
        elif kind.startswith("response.") and kind.endswith(".delta") and self.active:
            self.active.deltas += 1
            self.active.last_delta_ms = record.t_ms
            delta = (event or {}).get("delta")
            if isinstance(delta, str) and "audio" not in kind.split(".")[1]:
                self.active.text.append(delta)
        elif kind == "response.done":
            self._response_done(record, event or {})
            self.active = None
        self.server_counts[kind] += 1
        self.last_server = (kind, self.server_counts[kind], record.t_ms)
        self.last_was_client = False

    # --- what the server did ---

    def _session_created(self, record: Record) -> None:
        first = self.last_server is None
        self.session_created_ms = record.t_ms
        if first and record.t_ms >= SLOW_SESSION_CREATED_MS and not self.last_was_client:
            ms = round(record.t_ms)
            self._add(
                {"on": "connect", "phase": "before_session_created"},
                {"delay_next": {"ms": ms, "types": ["session.created"]}},
            )
            self.mapped.append(f"session.created {ms} ms after the connect")
            self.expect.add("times_out_session_created")

    def _rejected(self, record: Record) -> None:
        status = record.code or 0
        if not 400 <= status <= 599:
            self.unmapped.append(f"the upgrade was answered with HTTP {status} (not 400-599)")
            return
        self.upgrade = {"status": status, "body": self._text(record.reason or "")}
        self.mapped.append(f"the upgrade refused with HTTP {status}")
        self.expect.add("surfaces_handshake_failure")
        permanent = status in (401, 403, 404)
        self.expect.add(
            "does_not_reconnect_on_permanent_close" if permanent else "reconnects_with_backoff"
        )

    def _error(self, record: Record, event: Mapping[str, Any]) -> None:
        error = event.get("error") if isinstance(event.get("error"), dict) else {}
        assert isinstance(error, dict)
        answered = error.get("event_id")
        code = error.get("code")
        name = f"error {error.get('type')}" + (f"/{code}" if code else "")
        if isinstance(answered, str) and answered in self.client_ids:
            self.default.append(
                f"{name} at record {record.index} answers client event {answered}: the mock's "
                "own validation answers it (check with `replay --scenario`)"
            )
            return
        args: dict[str, Any] = {"type": error.get("type") or "invalid_request_error"}
        if "code" in error:
            args["code"] = code
        args["message"] = self._text(str(error.get("message") or ""))
        if error.get("param") is not None:
            args["param"] = error["param"]
        when, where = self._position(record.t_ms)
        self._add(when, {"error": args})
        self.mapped.append(f"{name} {where}")
        self.expect.add("surfaces_error_event")
        if self.active is not None:
            self.expect.add("times_out_stalled_stream")

    def _response_done(self, record: Record, event: Mapping[str, Any]) -> None:
        response = event.get("response") if isinstance(event.get("response"), dict) else {}
        assert isinstance(response, dict)
        if response.get("status") != "failed" or self.active is None:
            return
        details = response.get("status_details") or {}
        error = details.get("error") if isinstance(details, dict) else None
        creates = self.client_counts["response.create"]
        if self.active.deltas or not creates or self.last_client is None:
            self.unmapped.append(
                f"response {self.active.number} ended `failed` after {self.active.deltas} "
                f"delta(s) (record {record.index}): `fail_response` ends a response before "
                "its first delta"
            )
            return
        args: dict[str, Any] = {"status": "failed"}
        if isinstance(error, dict) and error:
            args["error"] = {
                k: self._text(v) if isinstance(v, str) else v
                for k, v in error.items()
                if k in ("type", "code", "message")
            }
        when: dict[str, Any] = {"on": "client_event", "match": {"type": "response.create"}}
        if creates > 1:
            when["nth"] = creates
        self._add(when, {"fail_response": args})
        code = error.get("code") if isinstance(error, dict) else None
        self.mapped.append(
            f"response {self.active.number} failed ({code or 'no code'}) before any delta"
        )
        self.expect.add("checks_response_done_status")

    def _terminal(self, record: Record) -> None:
        when, where = self._position(record.t_ms)
        if record.kind == "drop":
            self._add(when, {"drop": {}})
            self.mapped.append(f"the connection dropped (no close frame) {where}")
            self.expect.update(
                {
                    "detects_dropped_connection",
                    "surfaces_close_code_and_reason",
                    "reconnects_with_backoff",
                }
            )
        else:
            code = record.code
            if code is None or code in _UNSENDABLE_CLOSES or not 1000 <= code <= 4999:
                self.unmapped.append(
                    f"a close frame with code {code} {where} (a scenario cannot send it)"
                )
                return
            close: dict[str, Any] = {"code": code}
            if record.reason:
                close["reason"] = self._text(record.reason)
            self._add(when, {"close": close})
            reason = f" {record.reason!r}" if record.reason else ""
            self.mapped.append(f"close {code}{reason} {where}")
            self.expect.add("surfaces_close_code_and_reason")
            self.expect.add(
                "does_not_reconnect_on_permanent_close"
                if code in PERMANENT_CLOSES
                else "reconnects_with_backoff"
            )
        if self.session_created_ms is None:
            self.expect.add("times_out_session_created")
        if self.active is not None:
            self.expect.add("times_out_stalled_stream")

    def _pause(self, record: Record) -> None:
        """A long pause inside a response that then went on: hold it that long."""
        active = self.active
        if active is None or self.last_server is None or self.last_was_client:
            return
        gap = record.t_ms - self.last_server[2]
        if gap < self.stall_ms:
            return
        if active.deltas == 0:
            self.unmapped.append(
                f"response {active.number} paused {round(gap)} ms before its first delta "
                "(a `pace: {first_delta_delay: S}` action would slow every response)"
            )
            return
        when, _ = self._position(self.last_server[2])
        self._add(when, {"hold_response": {"max_ms": round(gap)}})
        self.mapped.append(
            f"response {active.number} paused {round(gap)} ms after {active.deltas} delta(s)"
        )
        self.expect.add("times_out_stalled_stream")

    def _silence_before(self, t_ms: float, *, ended_by_client: bool) -> None:
        """The client ended (or the recording stops) after a long silence of the server."""
        last = self.last_server[2] if self.last_server is not None else 0.0
        if t_ms - last < self.stall_ms:
            return
        who = "the client gave up" if ended_by_client else "the recording ends"
        if self.session_created_ms is None:
            self._add({"on": "connect", "phase": "before_session_created"}, {"stall": {}})
            self.mapped.append(f"no session.created ({who} {round(t_ms)} ms after the connect)")
            self.expect.add("times_out_session_created")
        elif self.active is not None:
            when, where = self._position(last)
            self._add(when, {"stall": {}})
            self.mapped.append(f"silence {where} ({who} {round(t_ms - last)} ms later)")
            self.expect.add("times_out_stalled_stream")
        elif (
            self.last_was_client
            and self.last_client is not None
            and self.last_client[0] in _ANSWERED
            and t_ms - self.last_client[2] >= self.stall_ms
        ):
            kind, nth, sent = self.last_client
            when = {"on": "client_event", "match": {"type": kind}}
            if nth > 1:
                when["nth"] = nth
            self._add(when, {"consume": {}})
            self.mapped.append(f"no answer to {kind} #{nth} ({who} {round(t_ms - sent)} ms later)")
            self.expect.add("times_out_stalled_stream")

    def _silence_at_end(self) -> None:
        if self.records:
            self._silence_before(self.records[-1].t_ms, ended_by_client=False)

    # --- where a rule goes ---

    def _position(self, t_ms: float) -> tuple[dict[str, Any], str]:
        """The trigger of an action at `t_ms` (given the context so far) and its wording."""
        if self.session_created_ms is None:
            when: dict[str, Any] = {"on": "connect", "phase": "before_session_created"}
            return self._late(when, t_ms, 0.0), self._words("before session.created", t_ms, 0.0)
        active = self.active
        if active is not None and active.deltas:
            nth = 1 + sum(1 for r in self.responses[:-1] if r.deltas >= active.deltas)
            when = {"on": "deltas", "count": active.deltas}
            if nth > 1:
                when["nth"] = nth
            self._need_reply(active)
            where = f"after {active.deltas} delta(s) of response {active.number}"
            return self._late(when, t_ms, active.last_delta_ms), self._words(
                where, t_ms, active.last_delta_ms
            )
        if active is not None:
            when = {"on": "response", "nth": active.number}
            where = f"at the start of response {active.number}"
            return self._late(when, t_ms, active.started_ms), self._words(
                where, t_ms, active.started_ms
            )
        if self.last_was_client and self.last_client is not None:
            kind, nth, sent = self.last_client
            if kind in _KNOWN_CLIENT:
                when = {"on": "client_event", "match": {"type": kind}}
                if nth > 1:
                    when["nth"] = nth
                where = f"after client event {kind}" + (f" #{nth}" if nth > 1 else "")
            else:
                when = {"on": "client_event", "nth": nth}
                where = f"after client frame #{nth}"
            return self._late(when, t_ms, sent), self._words(where, t_ms, sent)
        last = self.last_server
        if last is None or (last[0] == "session.created" and not self.client_frames):
            when = {"on": "connect"}
            return self._late(when, t_ms, 0.0), self._words("after session.created", t_ms, 0.0)
        kind, nth, came = last
        if kind not in _KNOWN_SERVER:
            when = {"on": "connect", "after_ms": round(t_ms)}
            return when, f"{round(t_ms)} ms after the connect"
        when = {"on": "server_event", "match": {"type": kind}}
        if nth > 1:
            when["nth"] = nth
        where = f"after server event {kind}" + (f" #{nth}" if nth > 1 else "")
        return self._late(when, t_ms, came), self._words(where, t_ms, came)

    @staticmethod
    def _late(when: dict[str, Any], t_ms: float, since: float) -> dict[str, Any]:
        if t_ms - since >= LATE_MS:
            when["after_ms"] = round(t_ms - since)
        return when

    @staticmethod
    def _words(where: str, t_ms: float, since: float) -> str:
        late = t_ms - since
        return f"{where} (+{round(late)} ms)" if late >= LATE_MS else where

    def _need_reply(self, response: _Response) -> None:
        """A `deltas` rule needs a reply of at least that many words: the recorded text,
        padded."""
        if self._reply is not None:
            return
        text = "".join(response.text).strip()
        words = text.split()
        while len(words) < response.deltas + 3:
            words += _FILLER.split()
        self._reply = self._text(" ".join(words))

    def _add(self, when: dict[str, Any], action: dict[str, Any]) -> None:
        key = repr(sorted(when.items()))
        if key not in self._rules:
            self._rules[key] = (when, [])
        actions = self._rules[key][1]
        if actions and next(iter(actions[-1])) in ("close", "drop", "stall"):
            return  # nothing may follow a terminal action
        actions.append(action)

    def rules(self) -> list[dict[str, Any]]:
        """The rules, a `reply_text` first when a `deltas` rule needs enough words."""
        found = [{"when": _Flow(when), "do": do} for when, do in self._rules.values()]
        if self._reply is not None:
            reply = {"reply_text": {"text": self._reply}}
            found.insert(0, {"when": _Flow(on="connect"), "do": [reply]})
        return found

    # --- text ---

    def _session_id(self) -> str | None:
        sid = self.meta.get("session_id")
        if isinstance(sid, str) and sid:
            return sid
        for record in self.records[:5]:
            event = record.event if record.direction == "server" else None
            session = event.get("session") if event else None
            if isinstance(session, dict) and isinstance(session.get("id"), str):
                return str(session["id"])
        return None

    def _text(self, text: str) -> str:
        """Recorded text for a scenario string: no stray placeholders, the recorded session
        id as `{session_id}`, keys stay masked."""
        text = _PLACEHOLDER.sub(r"(\1)", text)
        if self.session_id:
            text = text.replace(self.session_id, "{session_id}")
        return text


def _connect(meta: Mapping[str, Any]) -> dict[str, Any]:
    """The recorded stimulus a test client can send: the model, `OpenAI-*` headers (the
    beta header included), subprotocols other than a key."""
    connect: dict[str, Any] = {}
    headers = {
        h[0]: h[1]
        for h in meta.get("headers") or ()
        if isinstance(h, list | tuple)
        and len(h) == 2
        and isinstance(h[0], str)
        and isinstance(h[1], str)
        and h[0].lower().startswith("openai-")
        and REDACTED not in h[1]
    }
    if headers:
        connect["headers"] = headers
    query = meta.get("query")
    if isinstance(query, Mapping) and isinstance(query.get("model"), str):
        connect["query"] = {"model": query["model"]}
    protocols = [
        p
        for p in meta.get("subprotocols") or ()
        if isinstance(p, str) and REDACTED not in p and not p.startswith("openai-insecure-api-key")
    ]
    if protocols:
        connect["subprotocols"] = protocols
    return connect


def _summary(mapped: list[str]) -> str:
    text = "Recorded: " + ("; ".join(mapped) if mapped else "the server did what the mock does")
    return text if len(text) <= 120 else text[:117] + "..."


def _description(meta: Mapping[str, Any], source: str, walk: _Walk) -> str:
    by = meta.get("recorded_by") or "the mock or the runner"
    facts = [
        f"Derived from {source} (recorded by {by}",
        f", upstream {meta['upstream']}" if meta.get("upstream") else "",
        f", started {meta['started_at']}" if meta.get("started_at") else "",
        f", model {meta['model']}" if meta.get("model") else "",
        ").",
    ]
    lines = ["".join(facts), "", "What the server did that the mock does not do by default:"]
    lines += [f"- {item}" for item in walk.mapped] or ["- nothing"]
    if walk.unmapped:
        lines += ["", "Not reproduced:", *(f"- {item}" for item in walk.unmapped)]
    return "\n".join(lines) + "\n"
