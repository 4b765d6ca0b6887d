"""The mock's REST endpoints, sans-I/O: one `HttpRequest` in, one `HttpResponse` out.

The same `RestHandler.handle` answers plain HTTP requests on the WebSocket's port
(`mock_server/_http.py`, the asyncio adapter) and OpenAI REST calls made through httpx in
a test (`conformance/respx_router.py`, no socket). Paths are under `{path_prefix}/v1`:

==========================================  ==========================================
`POST /realtime/client_secrets`             200 `{value: "ek_…", expires_at, session}`
`POST /realtime/translations/client_secrets`  the same for a translation session
`POST /realtime?model=…` (beta SDP)          400 `beta_api_shape_disabled` (as live)
`POST /realtime/sessions`,                   400 `beta_api_shape_disabled` [INFERRED]
`/realtime/transcription_sessions` (legacy)
`POST /realtime/calls` (WebRTC)              201 with the SDP answer and `Location`
                                            (async: `handle_async`; `mock_server/_webrtc.py`)
`POST /realtime/calls/{id}/hangup`          200, the call ends (`mock_server/calls.py`)
`POST /realtime/calls/{id}/accept|…` (SIP)   `call_actions`: mock_server/sip.py (200)
`POST {prefix}/mock/sip/incoming` (mock-only) `async_routes`: a simulated incoming SIP
                                            call and its signed webhook (docs/sip.md)
`GET /realtime`, `/realtime/translations`    426: these are WebSockets (an upgrade is
without an upgrade                            never handed to this module)
another method on a known path              405 with `Allow`
any other path                              404 `Invalid URL (METHOD /path)`
==========================================  ==========================================

Every error has OpenAI's shape `{"error": {"message", "type", "param", "code"}}`.
A key is required (401), and with `MockConfig.api_keys` it must be one of them, as on the
WebSocket; an `ek_` key cannot mint another one [INFERRED]. Bodies are JSON of at most
`MAX_BODY_BYTES` (the adapter answers 413 itself), validated against the spec's schemas
(`fixtures/schemas/rest/`, live-worded findings with dotted `param`s).

A minted key is self-verifying (`mock_server/secrets.py`): it carries the session
configuration and its expiry, signed with the configured secret, so every mock with that
secret opens sessions with it until it expires, each starting from that configuration.
"""

from __future__ import annotations

import copy
import email.parser
import email.policy
import secrets as _random
import string
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Final, Protocol
from urllib.parse import urlsplit

from conformance import _json
from conformance.models import ModelRegistry, load_registry
from conformance.protocol.findings import Finding
from conformance.schemas import validate_rest_body
from mock_server import session_config as sc
from mock_server.config import MockConfig
from mock_server.handshake import (
    BAD_KEY_MESSAGE,
    BETA_MESSAGE,
    CLOSE_AUTH,
    EPHEMERAL_PREFIX,
    REALTIME_MODEL_MESSAGE,
    TRANSLATION_MODEL_MESSAGE,
    Rejected,
    check_handshake,
    mask_key,
)
from mock_server.request import ConnectRequest
from mock_server.secrets import SignedSecrets, secrets_for

if TYPE_CHECKING:
    from mock_server.calls import CallRegistry

MAX_BODY_BYTES: Final = 1 << 20  # a larger request body gets 413
DEFAULT_TTL: Final = 600  # `expires_after.seconds` when absent (spec)
# The model of a realtime client secret whose session names none [INFERRED: the spec's
# RealtimeSessionCreateRequestGA says nothing; the examples use gpt-realtime].
DEFAULT_SECRET_MODEL: Final = "gpt-realtime"
JSON: Final = "application/json"

# The REST API's usual 401 for a request without a key (other endpoints; not captured
# on the realtime ones) [INFERRED].
NO_KEY_MESSAGE: Final = (
    "You didn't provide an API key. You need to provide your API key in an Authorization "
    "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password "
    "field (with blank username) if you're accessing the API from your browser and are "
    "prompted for a username. You can obtain an API key from "
    "https://platform.openai.com/account/api-keys."
)
# The REST API's usual 400 for a body that is not JSON (other endpoints) [INFERRED].
BAD_JSON_MESSAGE: Final = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
    "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
    "sent was not valid JSON. If you have trouble figuring out how to fix this, please "
    "contact us through our help center at help.openai.com.)"
)
CALLS_MESSAGE: Final = (
    "{method} {path}: SIP call control needs a running mock server (realtime-mock serve, "
    "or MockServer), where POST /mock/sip/incoming makes incoming calls (docs/sip.md); "
    "this in-process handler has no calls."
)
# [INFERRED] the wordings of the call errors (none captured live)
WEBRTC_MISSING_MESSAGE: Final = (
    "POST {path} needs WebRTC, which this mock server cannot do: install the webrtc extra "
    "(pip install 'realtime-conformance[webrtc]', which brings aiortc) and restart it, or "
    "connect over WebSocket (GET /v1/realtime?model=...)."
)
WEBRTC_IN_PROCESS_MESSAGE: Final = (
    "POST {path} needs a running mock server (realtime-mock serve, or MockServer): "
    "an SDP offer cannot be answered in-process."
)
CALL_CONTENT_MESSAGE: Final = (
    "Unsupported Content-Type {got!r} for POST {path}: send multipart/form-data with an "
    "'sdp' part (and an optional 'session' part), or the SDP offer itself as application/sdp."
)
CALL_ARGUMENT_MESSAGE: Final = "Unrecognized request argument supplied: {name}"
CALL_NO_SDP_MESSAGE: Final = "Missing required parameter: 'sdp'."
CALL_SDP_MESSAGE: Final = "Invalid SDP offer: {why}"
CALL_SESSION_TYPE_MESSAGE: Final = (
    "Invalid value: '{got}'. Supported values are: 'realtime' (a call's session is a "
    "realtime session)."
)
CALL_NOT_FOUND_MESSAGE: Final = "Call {call_id} not found."
CALL_KEY_USED_MESSAGE: Final = (
    "Incorrect API key provided: {masked}. This client secret was already used to create "
    "a call: mint a new one for every call."
)
SIP_ACTIONS: Final = ("accept", "reject", "refer")  # helper i16c's (mock_server/sip.py)
DEFAULT_CALL_MODEL: Final = "gpt-realtime"  # [INFERRED] a call whose session names no model
UPGRADE_MESSAGE: Final = (
    "{path} is a WebSocket endpoint: send GET {path}?model=... with the headers "
    "Connection: Upgrade and Upgrade: websocket (plain HTTP gets this answer)."
)
METHOD_MESSAGE: Final = "Method {method} is not allowed on {path}; use {allowed}."
TOO_LARGE_MESSAGE: Final = "The request body is {size} bytes; the mock accepts at most {limit}."
CHUNKED_MESSAGE: Final = (
    "The mock reads request bodies with a Content-Length only (no Transfer-Encoding)."
)
_ALNUM: Final = string.ascii_letters + string.digits


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One HTTP request: `target` is the path with its query string."""

    method: str
    target: str
    headers: Sequence[tuple[str, str]] = ()
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """One HTTP response; `json` is the parsed body (None when it is not JSON)."""

    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    json: Any = field(default=None, compare=False)

    @property
    def reason(self) -> str:
        """The standard reason phrase of `status`."""
        try:
            return HTTPStatus(self.status).phrase
        except ValueError:
            return ""


def json_response(status: int, data: Any, headers: Sequence[tuple[str, str]] = ()) -> HttpResponse:
    """A JSON response (`Content-Type: application/json`)."""
    return HttpResponse(
        status=status,
        body=_json.dumps_bytes(data),
        headers=(("Content-Type", JSON), *headers),
        json=data,
    )


def error_response(
    status: int,
    message: str,
    *,
    code: str | None = None,
    param: str | None = None,
    kind: str = "invalid_request_error",
    headers: Sequence[tuple[str, str]] = (),
) -> HttpResponse:
    """OpenAI's error shape: `{"error": {"message", "type", "param", "code"}}`."""
    error = {"message": message, "type": kind, "param": param, "code": code}
    return json_response(status, {"error": error}, headers)


def too_large(size: int, limit: int = MAX_BODY_BYTES) -> HttpResponse:
    """413 for a body over `limit` bytes (the adapter answers it without reading the body)."""
    message = TOO_LARGE_MESSAGE.format(size=size, limit=limit)
    return error_response(413, message, code="request_too_large")


# CORS: a page on another origin calls the REST side from the browser (POST
# /v1/realtime/calls with a client secret; docs/browser.md). Live allows it (OpenAI's
# browser samples fetch api.openai.com from any page); its exact headers were not
# observed (fixtures/fidelity.yaml: rest-cors).
CORS_HEADERS: Final = (
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Expose-Headers", "Location"),
)
CORS_METHODS: Final = "GET, POST, OPTIONS"
CORS_ASKED_HEADERS: Final = "Authorization, Content-Type"  # when the preflight names none


def preflight(request: HttpRequest) -> HttpResponse:
    """204 for a CORS preflight: any origin, the headers it asks for, cached 10 minutes."""
    asked = _header(request, "access-control-request-headers") or CORS_ASKED_HEADERS
    headers = (
        *CORS_HEADERS,
        ("Access-Control-Allow-Methods", CORS_METHODS),
        ("Access-Control-Allow-Headers", asked),
        ("Access-Control-Max-Age", "600"),
    )
    return HttpResponse(204, b"", headers)


def with_cors(response: HttpResponse) -> HttpResponse:
    """`response` readable by a page of any origin (its `Location` included)."""
    if any(name == CORS_HEADERS[0][0] for name, _ in response.headers):
        return response
    return HttpResponse(
        response.status, response.body, (*response.headers, *CORS_HEADERS), response.json
    )


def call_not_found(call_id: str) -> HttpResponse:
    """404 for a call id that names no call of this mock [INFERRED wording]."""
    message = CALL_NOT_FOUND_MESSAGE.format(call_id=call_id[:64])
    return error_response(404, message, code="call_not_found", param="call_id")


@dataclass(frozen=True, slots=True)
class CallOffer:
    """A checked `POST /v1/realtime/calls`: what a `CallBackend` answers."""

    call_id: str
    sdp: str
    request: ConnectRequest  # the call session's connect request (`calls.call_request`)
    session: dict[str, Any] | None  # the `session` part (over the key's own configuration)
    location: str  # the `Location` header: `{prefix}/v1/realtime/calls/rtc_…`
    http: HttpRequest | None = None  # the POST itself: its headers go in the transcript


class CallBackend(Protocol):
    """Answers checked WebRTC offers (`mock_server._webrtc.WebRtcCalls`)."""

    async def create_call(self, offer: CallOffer) -> HttpResponse:
        """201 with the SDP answer, or the error to answer."""
        ...


def chunked() -> HttpResponse:
    """411 for a body without a Content-Length (chunked transfer coding)."""
    return error_response(411, CHUNKED_MESSAGE, code="length_required")


class RestHandler:
    """Answers the mock's REST requests (see the module docstring); no I/O.

    One handler per server (or respx router); minting is thread-safe.
    """

    def __init__(
        self,
        config: MockConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
        registry: ModelRegistry | None = None,
        secrets: SignedSecrets | None = None,
        calls: CallRegistry | None = None,
        webrtc: CallBackend | None = None,
    ) -> None:
        """Configure.

        Args:
            config: keys (`api_keys`), `path_prefix` and the signing secret (`secret_key`).
            clock: unix seconds now; keys expire `expires_after.seconds` after it.
            registry: the model registry; the built-in one by default.
            secrets: mints the keys; by default the one for `config.secret_key`, which is
                what every mock WebSocket of this process with that secret verifies with.
            calls: the server's calls (`MockServer` sets it): hangup, accept, ...
            webrtc: answers WebRTC offers (`MockServer` sets it when aiortc is installed).
        """
        self.config = config or MockConfig()
        self.clock = clock
        self.registry = registry or load_registry()
        self.secrets = secrets or secrets_for(self.config.secret_key)
        self.prefix = self.config.path_prefix.rstrip("/") + "/v1"
        self.calls = calls
        self.webrtc = webrtc
        # `POST /realtime/calls/{id}/{action}`: hangup here, SIP's accept/reject/refer
        # registered by mock_server/sip.py. Each gets the request and the call id.
        self.call_actions: dict[str, Callable[[HttpRequest, str], HttpResponse]] = {
            "hangup": self._hangup,
        }
        # Mock-only endpoints answered asynchronously, by full path (prefix included):
        # `POST {prefix}/mock/sip/incoming` (mock_server/sip.py) sends a webhook first.
        self.async_routes: dict[str, Callable[[HttpRequest], Awaitable[HttpResponse]]] = {}
        realtime = "/realtime"
        self._routes: dict[str, dict[str, Callable[[HttpRequest, str], HttpResponse]]] = {
            f"{realtime}/client_secrets": {"POST": self._client_secret},
            f"{realtime}/translations/client_secrets": {"POST": self._translation_secret},
            realtime: {"GET": self._websocket_only, "POST": self._beta},
            f"{realtime}/translations": {"GET": self._websocket_only},
            f"{realtime}/sessions": {"POST": self._beta},
            f"{realtime}/transcription_sessions": {"POST": self._beta},
            f"{realtime}/calls": {"POST": self._calls_in_process},
        }
        self._calls_path = f"{self.prefix}{realtime}/calls"

    def handle(self, request: HttpRequest) -> HttpResponse:
        """The response to one request (never raises for a client's mistake)."""
        path = urlsplit(request.target).path
        method = request.method.upper()
        route = self._route(path)
        if route is None:
            return error_response(404, f"Invalid URL ({method} {path})")
        if method == "OPTIONS":
            return preflight(request)
        handler = route.get(method)
        if handler is None:
            allowed = ", ".join(route)
            message = METHOD_MESSAGE.format(method=method, path=path, allowed=allowed)
            return error_response(
                405, message, code="method_not_allowed", headers=(("Allow", allowed),)
            )
        return handler(request, path)

    def _route(self, path: str) -> dict[str, Callable[[HttpRequest, str], HttpResponse]] | None:
        if not path.startswith(self.prefix + "/"):
            return None
        rest = path[len(self.prefix) :].rstrip("/") or "/"
        if rest.startswith("/realtime/calls/"):
            return {"POST": self._call_action}  # calls/{id}/accept|reject|refer|hangup
        return self._routes.get(rest)

    def is_async(self, request: HttpRequest) -> bool:
        """Whether `request` must be answered with `handle_async` (a WebRTC offer, or
        one of `async_routes`)."""
        path = urlsplit(request.target).path.rstrip("/")
        if path in self.async_routes:
            return True
        return request.method.upper() == "POST" and path == self._calls_path

    async def handle_async(self, request: HttpRequest) -> HttpResponse:
        """The response to one request, a WebRTC offer included (answered by `webrtc`)."""
        if not self.is_async(request):
            return self.handle(request)
        path = urlsplit(request.target).path
        route = self.async_routes.get(path.rstrip("/"))
        if route is not None:
            if request.method.upper() != "POST":
                message = METHOD_MESSAGE.format(method=request.method, path=path, allowed="POST")
                allow = (("Allow", "POST"),)
                return error_response(405, message, code="method_not_allowed", headers=allow)
            return await route(request)
        offer = self.call_offer(request, path)
        if isinstance(offer, HttpResponse):
            return offer
        if self.webrtc is None:
            message = WEBRTC_MISSING_MESSAGE.format(path=path)
            return error_response(501, message, code="webrtc_unavailable")
        return await self.webrtc.create_call(offer)

    # ------------------------------------------------------------ routes
    def _client_secret(self, request: HttpRequest, path: str) -> HttpResponse:
        body, problem = self._authorized_body(request, "client_secrets.request")
        if problem is not None:
            return problem
        assert body is not None
        session = dict(body.get("session") or {"type": "realtime"})
        now = self.clock()
        expires_at = int(now) + _seconds(body)
        session_id = "sess_" + "".join(_random.choice(_ALNUM) for _ in range(21))
        if session["type"] == "transcription":
            value = self.secrets.mint("transcription", session, expires_at)
            fresh = sc.transcription_session(session_id=session_id, expires_at=0)
            return _minted(value, expires_at, sc.merge_update(fresh, session))
        model = session.get("model") or DEFAULT_SECRET_MODEL
        if not isinstance(model, str) or not self.registry.is_realtime_model(model):
            return _invalid_model(REALTIME_MODEL_MESSAGE.format(model=model))
        session["model"] = model
        value = self.secrets.mint("realtime", session, expires_at)
        info = self.registry.get(model)
        fresh = sc.realtime_session(
            session_id=session_id,
            model=model,
            expires_at=0,  # as in the spec's example: the session starts at connect
            reasoning=bool(info and info.reasoning),
        )
        return _minted(value, expires_at, sc.merge_update(fresh, session))

    def _translation_secret(self, request: HttpRequest, path: str) -> HttpResponse:
        from mock_server.translation import DEFAULT_LANGUAGE, merge_translation_config

        body, problem = self._authorized_body(request, "translations.client_secrets.request")
        if problem is not None:
            return problem
        assert body is not None
        session = dict(body["session"])
        model = session["model"]
        if not self.registry.is_translation_model(model):
            return _invalid_model(TRANSLATION_MODEL_MESSAGE.format(model=model))
        expires_at = int(self.clock()) + _seconds(body)
        value = self.secrets.mint("translation", session, expires_at)
        fresh = {
            "id": "sess_" + "".join(_random.choice(_ALNUM) for _ in range(21)),
            "type": "translation",
            "expires_at": expires_at,  # as in the spec's example
            "model": model,
            "audio": {
                "input": {"transcription": None, "noise_reduction": None},
                "output": {"language": DEFAULT_LANGUAGE},
            },
        }
        return _minted(value, expires_at, merge_translation_config(fresh, session))

    def _beta(self, request: HttpRequest, path: str) -> HttpResponse:
        # Live answers the beta SDP POST /v1/realtime?model= so (protocol notes §1.4);
        # the legacy session endpoints are the beta's too [INFERRED].
        return error_response(400, BETA_MESSAGE, code="beta_api_shape_disabled")

    def _calls_in_process(self, request: HttpRequest, path: str) -> HttpResponse:
        # `handle` cannot wait for an SDP answer: a checked offer gets 501 (respx).
        offer = self.call_offer(request, path)
        if isinstance(offer, HttpResponse):
            return offer
        message = WEBRTC_IN_PROCESS_MESSAGE.format(path=path)
        return error_response(501, message, code="webrtc_unavailable")

    def call_offer(self, request: HttpRequest, path: str) -> CallOffer | HttpResponse:
        """Check a `POST /v1/realtime/calls` (key, body, session, SDP); no I/O.

        `multipart/form-data` (`sdp`, optional `session`: a realtime session request)
        or a raw `application/sdp` body; a standard key, or an `ek_` client secret whose
        session configuration applies (used once: live refuses a secret used for a call
        before [catalog 17]).
        """
        from mock_server.calls import call_request, new_call_id

        connect = ConnectRequest.from_target(request.target, request.headers, subprotocols=())
        key = connect.api_key
        if key is None:
            return error_response(401, NO_KEY_MESSAGE)
        parsed = _call_body(request, path)
        if isinstance(parsed, HttpResponse):
            return parsed
        sdp, session = parsed
        if session is not None:
            findings = validate_rest_body("client_secrets.request", {"session": session})
            if findings:
                return _finding_response(findings[0])
            if session.get("type") != "realtime":
                message = CALL_SESSION_TYPE_MESSAGE.format(got=session.get("type"))
                return error_response(400, message, code="invalid_value", param="session.type")
        why = _sdp_problem(sdp)
        if why is not None:
            message = CALL_SDP_MESSAGE.format(why=why)
            return error_response(400, message, code="invalid_offer", param="sdp")
        model = session.get("model") if session is not None else None
        if model is None and not key.startswith(EPHEMERAL_PREFIX):
            model = DEFAULT_CALL_MODEL
        call_id = new_call_id()
        scenario = connect.query.get("scenario")
        headers = [(n, v) for n, v in request.headers if n.lower() == "x-mock-scenario"]
        call = call_request(
            call_id,
            key=key,
            model=model if isinstance(model, str) else None,
            path_prefix=self.config.path_prefix,
            scenario=scenario,
            headers=headers,
        )
        outcome = check_handshake(
            call, self.config, self.registry, secrets=self.secrets, now=self.clock()
        )
        if isinstance(outcome, Rejected):
            return _rejected_response(outcome)
        if call.model is None:  # an `ek_` key's model, in the request the transcript shows
            call = call_request(
                call_id,
                key=key,
                model=outcome.model or DEFAULT_CALL_MODEL,
                path_prefix=self.config.path_prefix,
                scenario=scenario,
                headers=headers,
            )
        ephemeral = key.startswith(EPHEMERAL_PREFIX)
        if ephemeral and self.calls is not None and not self.calls.use_secret(key):
            message = CALL_KEY_USED_MESSAGE.format(masked=mask_key(key))
            return error_response(401, message, code="invalid_api_key")
        location = f"{self.prefix}/realtime/calls/{call_id}"
        return CallOffer(call_id, sdp, call, session, location, http=request)

    def _call_action(self, request: HttpRequest, path: str) -> HttpResponse:
        rest = path[len(self._calls_path) + 1 :].rstrip("/")
        call_id, _, action = rest.partition("/")
        handler = self.call_actions.get(action) if call_id and "/" not in action else None
        if handler is not None:
            return handler(request, call_id)
        if action in SIP_ACTIONS:
            message = CALLS_MESSAGE.format(method=request.method.upper(), path=path)
            return error_response(501, message, code="not_supported_by_mock")
        return error_response(404, f"Invalid URL ({request.method.upper()} {path})")

    def _hangup(self, request: HttpRequest, call_id: str) -> HttpResponse:
        problem = self._check_key(request)
        if problem is not None:
            return problem
        call = self.calls.get(call_id) if self.calls is not None else None
        if call is None or self.calls is None:
            return call_not_found(call_id)
        self.calls.end(call_id, "hangup")
        return HttpResponse(200)

    def _websocket_only(self, request: HttpRequest, path: str) -> HttpResponse:
        return error_response(
            426,
            UPGRADE_MESSAGE.format(path=path),
            code="upgrade_required",
            headers=(("Upgrade", "websocket"),),
        )

    # ------------------------------------------------------------ helpers
    def _authorized_body(
        self, request: HttpRequest, schema: str
    ) -> tuple[dict[str, Any] | None, HttpResponse | None]:
        """The valid JSON body, or the 401/400 to answer instead."""
        problem = self._check_key(request)
        if problem is not None:
            return None, problem
        try:
            body = _json.loads(request.body)
        except _json.JSONDecodeError:
            return None, error_response(400, BAD_JSON_MESSAGE)
        findings = validate_rest_body(schema, body)
        if findings:
            return None, _finding_response(findings[0])
        return copy.deepcopy(body), None

    def check_key(self, request: HttpRequest) -> HttpResponse | None:
        """The 401 for a request without an accepted standard key, or None."""
        return self._check_key(request)

    def _check_key(self, request: HttpRequest) -> HttpResponse | None:
        key = ConnectRequest.from_target(request.target, request.headers, subprotocols=()).api_key
        if key is None:
            return error_response(401, NO_KEY_MESSAGE)
        api_keys = self.config.api_keys
        if key.startswith(EPHEMERAL_PREFIX) or (api_keys and key not in api_keys):
            message = BAD_KEY_MESSAGE.format(masked=mask_key(key))
            return error_response(401, message, code="invalid_api_key")
        return None


def _seconds(body: Mapping[str, Any]) -> int:
    expires_after = body.get("expires_after") or {}
    seconds = expires_after.get("seconds", DEFAULT_TTL)
    return int(seconds)


def _minted(value: str, expires_at: int, session: dict[str, Any]) -> HttpResponse:
    return json_response(200, {"value": value, "expires_at": expires_at, "session": session})


def _invalid_model(message: str) -> HttpResponse:
    # [INFERRED] worded like the WebSocket's invalid_model, located at the body's model
    return error_response(400, message, code="invalid_model", param="session.model")


def _finding_response(finding: Finding) -> HttpResponse:
    return error_response(400, finding.message, code=finding.code, param=finding.param)


def _rejected_response(rejected: Rejected) -> HttpResponse:
    """A connect rule's rejection as REST answers it: 401 for the key, else 400."""
    finding = rejected.finding
    status = 401 if rejected.close_code == CLOSE_AUTH else 400
    return error_response(status, finding.message, code=finding.code, param=finding.param)


def _header(request: HttpRequest, name: str) -> str:
    return next((v for n, v in request.headers if n.lower() == name), "")


def _call_body(request: HttpRequest, path: str) -> tuple[str, dict[str, Any] | None] | HttpResponse:
    """(sdp, session or None) from a calls request body, or the 400 to answer."""
    content_type = _header(request, "content-type")
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/sdp":
        return request.body.decode("utf-8", errors="replace"), None
    if kind != "multipart/form-data":
        message = CALL_CONTENT_MESSAGE.format(got=content_type or None, path=path)
        return error_response(400, message, code="unsupported_content_type")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    form = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.body)
    sdp: str | None = None
    session: dict[str, Any] | None = None
    for part in form.iter_parts() if form.is_multipart() else ():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        if name == "sdp":
            sdp = data.decode("utf-8", errors="replace")
        elif name == "session":
            try:
                value = _json.loads(data)
            except _json.JSONDecodeError:
                return error_response(400, BAD_JSON_MESSAGE, param="session")
            if not isinstance(value, dict):
                return error_response(
                    400, "Invalid type for 'session': expected an object.", param="session"
                )
            session = value
        else:
            message_text = CALL_ARGUMENT_MESSAGE.format(name=name)
            return error_response(400, message_text, code="unknown_parameter", param=str(name))
    if sdp is None:
        code = "missing_required_parameter"
        return error_response(400, CALL_NO_SDP_MESSAGE, code=code, param="sdp")
    return sdp, session


def _sdp_problem(sdp: str) -> str | None:
    """Why `sdp` is not an SDP offer, or None (the WebRTC stack checks the rest)."""
    lines = [line.strip() for line in sdp.strip().splitlines()]
    if not lines or lines[0] != "v=0":
        return "it must start with the line v=0."
    if not any(line.startswith("m=") for line in lines):
        return "it has no media section (m=...): add an audio track or a data channel."
    if not any(line.startswith("a=fingerprint:") for line in lines):
        return "it has no DTLS fingerprint (a=fingerprint:...)."
    return None


__all__ = [
    "MAX_BODY_BYTES",
    "CallBackend",
    "CallOffer",
    "HttpRequest",
    "HttpResponse",
    "RestHandler",
    "call_not_found",
    "chunked",
    "error_response",
    "json_response",
    "too_large",
]
