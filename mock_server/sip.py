"""The SIP control plane: call states, bodies and the incoming webhook; `SipCalls`.

The functions are pure (no I/O); `SipCalls` applies them to a mock server's calls
(`mock_server/calls.py`) and has the webhook delivered (`mock_server/webhooks.py`).

Real SIP media is out of scope; what a SIP back end talks to is in scope (protocol notes
§1.4, the spec's `/realtime/calls/{call_id}/…` and `WebhookRealtimeCallIncoming`):

1. A call comes in: OpenAI POSTs a `realtime.call.incoming` webhook (Standard Webhooks
   signature, `mock_server/webhooks.py`) carrying `data.call_id` (`rtc_` + 32 hex) and the
   INVITE's `data.sip_headers`. The mock simulates this on request (`POST /mock/sip/incoming`,
   docs/sip.md), with the SIP headers of the call's scenario.
2. The back end answers with one REST call:

   =====================================  ===========================================
   `POST /v1/realtime/calls/{id}/accept`   body `RealtimeSessionCreateRequestGA`
                                          (`type: "realtime"` required) → 200
   `POST …/reject`                        optional `{status_code}` (SIP 603 Decline
                                          when absent) → 200, the call ends
   `POST …/refer`                         `{target_uri}` (`tel:…`, `sip:…`) → 200, the
                                          call leaves the model [INFERRED: ends it]
   `POST …/hangup`                        no body → 200, the call ends (any call:
                                          `mock_server/calls.py`; an ended one: 200)
   =====================================  ===========================================

3. An accepted call runs a realtime session configured by the accept body, with G.711
   audio by default (`audio/pcmu`; `audio/pcma` when asked) [INFERRED: the phone
   network's codecs]. A sideband WebSocket `/v1/realtime?call_id=rtc_…` drives it; the
   caller's keypad presses arrive there as `input_audio_buffer.dtmf_event_received`
   (from the scenario: its `dtmf` action).

States (`SipState`): `incoming` → `accepted` → `referred` / `ended`; `incoming` →
`rejected` / `ended` (a hangup before the answer). Which verbs work in which state, and
the errors otherwise, are in `ALLOWED` and `wrong_state` [INFERRED: live's wording and
codes for a wrong state were not observed; an unknown id is 404 like other unknown
objects of the REST API].
"""

from __future__ import annotations

import os
import secrets as _random
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Literal, Protocol

from conformance import _json
from conformance.protocol.errors import UsageError
from conformance.protocol.findings import Finding
from conformance.schemas import validate_rest_body
from mock_server._log import add_log_secrets
from mock_server.calls import Call, CallDriver, CallRegistry, call_request
from mock_server.config import MockConfig
from mock_server.handshake import REALTIME_MODEL_MESSAGE
from mock_server.request import ConnectRequest
from mock_server.rest import (
    HttpRequest,
    HttpResponse,
    RestHandler,
    call_not_found,
    error_response,
    json_response,
)
from mock_server.webhooks import Delivery, RetryPolicy, check_url, decode_secret, deliver

SipState = Literal["incoming", "accepted", "rejected", "referred", "ended"]
Verb = Literal["accept", "reject", "refer"]
VERBS: Final[tuple[Verb, ...]] = ("accept", "reject", "refer")  # hangup: calls.py, any call
TERMINAL: Final[frozenset[str]] = frozenset({"rejected", "referred", "ended"})
# verb → (states it works in, the state it leads to)
ALLOWED: Final[dict[str, tuple[frozenset[str], SipState]]] = {
    "accept": (frozenset({"incoming"}), "accepted"),
    "reject": (frozenset({"incoming"}), "rejected"),
    "refer": (frozenset({"accepted"}), "referred"),
}
BODY_SCHEMAS: Final = {
    "accept": "calls.accept.request",
    "reject": "calls.reject.request",
    "refer": "calls.refer.request",
}
DEFAULT_REJECT_STATUS: Final = 603  # SIP Decline, when `status_code` is absent (spec)
DEFAULT_CALL_MODEL: Final = "gpt-realtime"  # an accept body without `model` [INFERRED]
G711_DEFAULT: Final = {"type": "audio/pcmu"}  # a SIP call's audio format unless set
WEBHOOK_TYPE: Final = "realtime.call.incoming"
# The SIP headers of a simulated INVITE when neither the scenario nor the request gives
# any (shaped like the docs' example; numbers from the 555 fiction range).
DEFAULT_SIP_HEADERS: Final[tuple[tuple[str, str], ...]] = (
    ("From", '"Caller" <sip:+14155550123@sip.example.com>;tag=mock'),
    ("To", "<sip:+18005550100@sip.example.com>"),
    ("Call-ID", "{call_id}@mock.sip.example.com"),
    ("CSeq", "1 INVITE"),
    ("Content-Type", "application/sdp"),
)
WRONG_STATE_MESSAGE: Final = (
    "Cannot {verb} call '{call_id}': it is {state}. {verb_title} works on {wanted} calls"
)
STATE_WORDS: Final = {
    "incoming": "incoming (not answered yet)",
    "accepted": "accepted (in progress)",
    "rejected": "rejected",
    "referred": "referred (transferred)",
    "ended": "ended",
}
NO_BODY_MESSAGE: Final = "The request body is missing: POST …/{verb} takes a JSON body ({what})."
BODY_WHAT: Final = {
    "accept": 'the session configuration, e.g. {"type": "realtime", "model": "gpt-realtime"}',
    "refer": 'e.g. {"target_uri": "tel:+14155550123"}',
}


def new_call_id() -> str:
    """`rtc_` + 32 hex, the live shape of a call id."""
    return "rtc_" + _random.token_hex(16)


def new_event_id() -> str:
    """`evt_` + 32 hex, the shape of a webhook event id in the docs' example."""
    return "evt_" + _random.token_hex(16)


def incoming_event(
    call_id: str, sip_headers: Sequence[Mapping[str, str]], *, event_id: str, created_at: int
) -> dict[str, Any]:
    """The `realtime.call.incoming` webhook body (`WebhookRealtimeCallIncoming`)."""
    return {
        "object": "event",
        "id": event_id,
        "type": WEBHOOK_TYPE,
        "created_at": created_at,
        "data": {
            "call_id": call_id,
            "sip_headers": [{"name": h["name"], "value": h["value"]} for h in sip_headers],
        },
    }


def default_sip_headers(call_id: str) -> list[dict[str, str]]:
    """`DEFAULT_SIP_HEADERS` with the call's id filled in."""
    return [
        {"name": name, "value": value.replace("{call_id}", call_id.removeprefix("rtc_"))}
        for name, value in DEFAULT_SIP_HEADERS
    ]


def check_sip_headers(value: Any, where: str = "sip_headers") -> list[dict[str, str]]:
    """`value` as a list of `{name, value}` strings, or ValueError saying what is wrong.

    A mapping `{name: value}` is accepted too (its order kept).
    """
    if isinstance(value, Mapping):
        value = [{"name": k, "value": v} for k, v in value.items()]
    if not isinstance(value, list):
        raise ValueError(f"{where}: expected a list of {{name, value}}, got {type(value).__name__}")
    headers = []
    for index, header in enumerate(value):
        ok = (
            isinstance(header, Mapping)
            and set(header) == {"name", "value"}
            and all(isinstance(header[k], str) for k in ("name", "value"))
            and header["name"].strip()
        )
        if not ok:
            raise ValueError(
                f"{where}[{index}]: expected {{name: string, value: string}}, got {header!r:.80}"
            )
        headers.append({"name": str(header["name"]), "value": str(header["value"])})
    return headers


def sip_state(state: str, end_reason: str | None) -> SipState:
    """A call registry's (state, end_reason) as a SIP state.

    The registry (`mock_server/calls.py`) says `ringing` / `active` / `ended` with the
    reason it ended; SIP names them `incoming` / `accepted` / `rejected`, `referred`,
    `ended`.
    """
    if state == "ringing":
        return "incoming"
    if state == "active":
        return "accepted"
    if end_reason in ("rejected", "referred"):
        return end_reason  # type: ignore[return-value]
    return "ended"


def wrong_state(verb: str, call_id: str, state: SipState) -> Finding | None:
    """The error of `verb` on a call in `state`, or None when the verb is allowed."""
    wanted, _ = ALLOWED[verb]
    if state in wanted:
        return None
    names = " or ".join(sorted(wanted))
    message = WRONG_STATE_MESSAGE.format(
        verb=verb,
        verb_title=verb.capitalize(),
        call_id=call_id,
        state=STATE_WORDS[state],
        wanted=names,
    )
    code = "call_not_active" if state in TERMINAL else "call_state_invalid"
    return Finding(code=code, message=message + ".", param=None)


def parse_body(verb: str, body: bytes) -> tuple[dict[str, Any] | None, Finding | None]:
    """The validated JSON body of a call-control request, or the finding to answer 400 with.

    `reject` takes an empty body too; `accept` and `refer` need one.
    """
    if not body.strip():
        if verb == "reject":
            return {}, None
        message = NO_BODY_MESSAGE.format(verb=verb, what=BODY_WHAT[verb])
        return None, Finding(code="missing_required_parameter", message=message, param=None)
    try:
        data = _json.loads(body)
    except _json.JSONDecodeError:
        return None, Finding(code=None, message=BAD_JSON, param=None)
    findings = validate_rest_body(BODY_SCHEMAS[verb], data)
    if findings:
        return None, findings[0]
    return dict(data), None


# The REST API's usual 400 for a body that is not JSON (same text as mock_server/rest.py).
BAD_JSON: Final = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
    "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
    "sent was not valid JSON. If you have trouble figuring out how to fix this, please "
    "contact us through our help center at help.openai.com.)"
)


def call_session(accept: Mapping[str, Any]) -> dict[str, Any]:
    """The session configuration an accepted call starts from: the accept body, with
    G.711 μ-law where it sets no audio format, and `model` filled in."""
    session = dict(accept)
    session.setdefault("model", DEFAULT_CALL_MODEL)
    audio = dict(session.get("audio") or {})
    for side in ("input", "output"):
        part = dict(audio.get(side) or {})
        part.setdefault("format", dict(G711_DEFAULT))
        audio[side] = part
    session["audio"] = audio
    return session


# ---------------------------------------------------------------- the server side
#
# Everything above is pure. `SipCalls` applies it to a mock server's call registry
# (`mock_server/calls.py`): the REST verbs are sync (registered in
# `RestHandler.call_actions`), simulating an incoming call is async (it POSTs the webhook).

SIMULATE_PATH: Final = "/mock/sip/incoming"  # under the server's path_prefix; not OpenAI's
WEBHOOK_SECRET_ENV: Final = "REALTIME_MOCK_WEBHOOK_SECRET"
SIMULATE_KEYS: Final = frozenset({"scenario", "sip_headers", "webhook_url"})
NO_SECRET_MESSAGE: Final = (
    "The mock has no webhook secret to sign realtime.call.incoming with: start it with "
    "--webhook-secret whsec_... (or set ${env}; MockConfig.webhook_secret)."
)
WRONG_KIND_MESSAGE: Final = (
    "Cannot {verb} call '{call_id}': it is a WebRTC call; {verb} works on incoming SIP calls "
    "(a WebRTC call ends with POST /v1/realtime/calls/{call_id}/hangup)."
)


class SipServer(Protocol):
    """What `SipCalls` uses of a `MockServer`."""

    rest: RestHandler
    calls: CallRegistry
    config: MockConfig

    def make_call_app(self, call: Call) -> Any:
        """The app of a call's session."""
        ...

    def track_session(self, transcript: Any) -> Callable[[], None]:
        """Count (and record) a call's session; call the result when it ends."""
        ...


class SipCalls:
    """The SIP control plane of one mock server, on its call registry.

    `install()` registers `accept`, `reject` and `refer` in the REST handler's
    `call_actions` (`hangup` is the registry's own, for every kind of call), and
    `simulate` as the mock-only `POST {prefix}/mock/sip/incoming`.
    """

    def __init__(self, server: SipServer) -> None:
        self.server = server
        self.rest = server.rest
        self.calls = server.calls
        self.config = server.config
        self.deliveries: list[Delivery] = []  # every webhook delivery, in order (tests)
        self._check_config()

    def _check_config(self) -> None:
        """Refuse a webhook URL without a secret, a bad URL or a bad secret, at once.

        Raises:
            UsageError: saying what to give.
        """
        secret = self.secret()
        if self.config.webhook_url:
            check_url(self.config.webhook_url)
            if not secret:
                raise UsageError(NO_SECRET_MESSAGE.replace("${env}", WEBHOOK_SECRET_ENV))
        if secret:
            decode_secret(secret)
            add_log_secrets(secret)  # never written to a log as is

    @property
    def simulate_path(self) -> str:
        """`{path_prefix}/mock/sip/incoming`."""
        return self.config.path_prefix.rstrip("/") + SIMULATE_PATH

    def install(self) -> None:
        """Answer `POST /v1/realtime/calls/{id}/accept|reject|refer` and the trigger."""
        self.rest.call_actions.update(accept=self.accept, reject=self.reject, refer=self.refer)
        self.rest.async_routes[self.simulate_path] = self.simulate

    # ------------------------------------------------------------ incoming calls
    def incoming(
        self,
        *,
        scenario: str | None = None,
        sip_headers: Sequence[Mapping[str, str]] | None = None,
    ) -> Call:
        """A new ringing SIP call (no webhook sent yet: `ring` sends it).

        `scenario` (default: the server's) plays on the call's session and gives its SIP
        headers, unless `sip_headers` are given; without either, `default_sip_headers`.

        Raises:
            ScenarioError: `scenario` is unknown or invalid.
        """
        name = scenario or self.config.scenario
        chosen = None
        if name and name != "default":
            from mock_server.scenarios import resolve_scenario

            chosen = resolve_scenario(name, allow_paths=scenario is None)
        call = self.calls.create("sip", state="ringing")
        if sip_headers is not None:
            headers = [dict(h) for h in sip_headers]
        elif chosen is not None and chosen.sip_headers:
            headers = [{"name": n, "value": v} for n, v in chosen.sip_headers]
        else:
            headers = default_sip_headers(call.call_id)
        call.sip_headers = headers
        call.extra["scenario"] = scenario  # None: the server's own, as on a WebSocket
        return call

    def webhook_body(self, call: Call, *, created_at: int | None = None) -> bytes:
        """The `realtime.call.incoming` body announcing `call` (compact JSON bytes)."""
        at = int(self.rest.clock()) if created_at is None else created_at
        event = incoming_event(
            call.call_id, call.sip_headers, event_id=new_event_id(), created_at=at
        )
        return _json.dumps(event).encode()

    def secret(self) -> str | None:
        """The webhook signing secret: the config's, else $REALTIME_MOCK_WEBHOOK_SECRET."""
        return self.config.webhook_secret or os.environ.get(WEBHOOK_SECRET_ENV) or None

    async def ring(self, call: Call, url: str | None = None) -> Delivery | None:
        """POST the signed webhook for `call` to `url` (default: the config's).

        Returns the delivery (every attempt), or None when there is no URL.

        Raises:
            UsageError: no secret, a bad secret or a bad URL.
        """
        url = url or self.config.webhook_url
        if not url:
            return None
        secret = self.secret()
        if not secret:
            raise UsageError(NO_SECRET_MESSAGE.replace("${env}", WEBHOOK_SECRET_ENV))
        policy = RetryPolicy(
            attempts=1 + max(0, self.config.webhook_retries),
            timeout=self.config.webhook_timeout,
        )
        body = self.webhook_body(call)
        delivery = await deliver(url, body, secret, policy=policy, clock=self.rest.clock)
        call.extra.setdefault("webhooks", []).append(delivery.as_dict())
        self.deliveries.append(delivery)
        return delivery

    async def simulate(self, request: HttpRequest) -> HttpResponse:
        """`POST /mock/sip/incoming`: a new incoming call, its webhook delivered.

        Body (JSON, optional): `scenario`, `sip_headers` (`[{name, value}]`),
        `webhook_url` (instead of the configured one). Answers 201
        `{"call_id", "sip_headers", "webhook": {url, webhook_id, delivered, attempts} | null}`
        once the delivery is over (a 2xx, a 410, or the last attempt).
        """
        options, problem = _simulate_options(request.body)
        if problem is not None:
            return problem
        assert options is not None
        from conformance.protocol.errors import ScenarioError

        try:
            call = self.incoming(
                scenario=options.get("scenario"), sip_headers=options.get("sip_headers")
            )
        except ScenarioError as exc:
            return error_response(400, str(exc), code="unknown_scenario", param="scenario")
        try:
            delivery = await self.ring(call, options.get("webhook_url"))
        except UsageError as exc:
            self.calls.end(call.call_id, "webhook_failed")
            code = "webhook_secret_missing" if "secret" in str(exc) else "invalid_webhook"
            return error_response(400, str(exc), code=code)
        answer = {
            "call_id": call.call_id,
            "sip_headers": call.sip_headers,
            "webhook": delivery.as_dict() if delivery is not None else None,
        }
        location = f"{self.rest.prefix}/realtime/calls/{call.call_id}"
        return json_response(201, answer, (("Location", location),))

    # ------------------------------------------------------------ call control
    def accept(self, request: HttpRequest, call_id: str) -> HttpResponse:
        """`POST …/accept`: the call's session starts from the body (see module doc)."""
        found = self._call_and_body("accept", request, call_id)
        if isinstance(found, HttpResponse):
            return found
        call, body = found
        model = body.get("model") or DEFAULT_CALL_MODEL
        if not self.rest.registry.is_realtime_model(model):
            message = REALTIME_MODEL_MESSAGE.format(model=model)
            return error_response(400, message, code="invalid_model", param="model")
        session = call_session({**body, "model": model})
        key = ConnectRequest.from_target(request.target, request.headers, subprotocols=()).api_key
        scenario = call.extra.get("scenario")
        call.request = call_request(
            call_id,
            key=key or "",
            model=model,
            path_prefix=self.config.path_prefix,
            scenario=scenario if scenario != self.config.scenario else None,
        )
        call.session = session
        app = self.server.make_call_app(call)
        _SipDriver(call, app, self.calls, self.server.track_session)
        self.calls.set_state(call, "active")
        return HttpResponse(200)

    def reject(self, request: HttpRequest, call_id: str) -> HttpResponse:
        """`POST …/reject`: the caller gets `status_code` (603 by default); the call ends."""
        found = self._call_and_body("reject", request, call_id)
        if isinstance(found, HttpResponse):
            return found
        call, body = found
        call.extra["status_code"] = body.get("status_code", DEFAULT_REJECT_STATUS)
        self.calls.end(call_id, "rejected")
        return HttpResponse(200)

    def refer(self, request: HttpRequest, call_id: str) -> HttpResponse:
        """`POST …/refer`: the call is transferred to `target_uri`; its session ends."""
        found = self._call_and_body("refer", request, call_id)
        if isinstance(found, HttpResponse):
            return found
        call, body = found
        call.extra["target_uri"] = body["target_uri"]
        self.calls.end(call_id, "referred")
        return HttpResponse(200)

    def _call_and_body(
        self, verb: str, request: HttpRequest, call_id: str
    ) -> tuple[Call, dict[str, Any]] | HttpResponse:
        """The call `verb` acts on and the request's body, or the 401 / 404 / 400 to
        answer instead."""
        problem = self.rest.check_key(request)
        if problem is not None:
            return problem
        call = self.calls.get(call_id)
        if call is None:
            return call_not_found(call_id)
        if call.kind != "sip":
            message = WRONG_KIND_MESSAGE.format(verb=verb, call_id=call_id)
            return error_response(400, message, code="call_state_invalid")
        finding = wrong_state(verb, call_id, sip_state(call.state, call.end_reason))
        if finding is not None:
            return _bad_request(finding)
        body, finding = parse_body(verb, request.body)
        if finding is not None:
            return _bad_request(finding)
        assert body is not None
        return call, body


class _SipDriver(CallDriver):
    """A SIP call's driver: its session starts when the first sideband attaches.

    A SIP call has no media here, so nobody would see what the session said before a
    sideband came: the first sideband gets `session.created`, and the scenario's rules
    timed from the connect (DTMF) run from then [INFERRED]. The session is counted (and
    recorded) by the server from then on.
    """

    def __init__(
        self,
        call: Call,
        app: Any,
        registry: CallRegistry,
        track_session: Callable[[Any], Callable[[], None]],
    ) -> None:
        super().__init__(call, app, registry)
        self._track_session = track_session

    def attach(self, outlet: Any) -> None:
        super().attach(outlet)
        if not self.opened and not self.ended:
            ended = self._track_session(self.app.transcript)
            self.call.on_end.append(lambda call: ended())
            self.open()


def _bad_request(finding: Finding) -> HttpResponse:
    return error_response(400, finding.message, code=finding.code, param=finding.param)


def _simulate_options(body: bytes) -> tuple[dict[str, Any] | None, HttpResponse | None]:
    """The checked options of `POST /mock/sip/incoming`, or the 400 to answer."""
    if not body.strip():
        return {}, None
    try:
        data = _json.loads(body)
    except _json.JSONDecodeError:
        return None, error_response(400, BAD_JSON)
    if not isinstance(data, dict):
        return None, error_response(400, "The body must be a JSON object (or empty).")
    unknown = sorted(set(data) - SIMULATE_KEYS)
    if unknown:
        allowed = ", ".join(sorted(SIMULATE_KEYS))
        message = f"Unknown parameter: '{unknown[0]}' (the mock's SIP trigger takes {allowed})."
        return None, error_response(400, message, code="unknown_parameter", param=unknown[0])
    for key in ("scenario", "webhook_url"):
        if data.get(key) is not None and not isinstance(data[key], str):
            message = f"Invalid type for '{key}': expected a string."
            return None, error_response(400, message, code="invalid_type", param=key)
    if data.get("sip_headers") is not None:
        try:
            data["sip_headers"] = check_sip_headers(data["sip_headers"])
        except ValueError as exc:
            return None, error_response(400, str(exc), code="invalid_type", param="sip_headers")
    return data, None


__all__ = [
    "ALLOWED",
    "DEFAULT_REJECT_STATUS",
    "SIMULATE_PATH",
    "VERBS",
    "SipCalls",
    "SipState",
    "call_session",
    "check_sip_headers",
    "default_sip_headers",
    "incoming_event",
    "new_call_id",
    "new_event_id",
    "parse_body",
    "sip_state",
    "wrong_state",
]
