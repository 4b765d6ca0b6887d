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
`POST /realtime/calls…` (WebRTC, SIP)        501 `not_supported_by_mock` (not yet)
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
import secrets as _random
import string
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Final
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
    EPHEMERAL_PREFIX,
    REALTIME_MODEL_MESSAGE,
    TRANSLATION_MODEL_MESSAGE,
    mask_key,
)
from mock_server.request import ConnectRequest
from mock_server.secrets import SignedSecrets, secrets_for

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
    "{method} {path} (WebRTC and SIP calls) is not supported by the mock yet. "
    "Connect over WebSocket instead: GET /v1/realtime?model=... with an Upgrade: websocket "
    "header (a client secret from POST /v1/realtime/client_secrets works there too)."
)
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
    ) -> None:
        """Configure.

        Args:
            config: keys (`api_keys`), `path_prefix` and the signing secret (`secret_key`).
            clock: unix seconds now; keys expire `expires_after.seconds` after it.
            registry: the model registry; the built-in one by default.
            secrets: mints the keys; by default the one for `config.secret_key`, which is
                what every mock WebSocket of this process with that secret verifies with.
        """
        self.config = config or MockConfig()
        self.clock = clock
        self.registry = registry or load_registry()
        self.secrets = secrets or secrets_for(self.config.secret_key)
        self.prefix = self.config.path_prefix.rstrip("/") + "/v1"
        realtime = "/realtime"
        self._routes: dict[str, dict[str, Callable[[HttpRequest, str], HttpResponse]]] = {
            f"{realtime}/client_secrets": {"POST": self._client_secret},
            f"{realtime}/translations/client_secrets": {"POST": self._translation_secret},
            realtime: {"GET": self._websocket_only, "POST": self._beta},
            f"{realtime}/translations": {"GET": self._websocket_only},
            f"{realtime}/sessions": {"POST": self._beta},
            f"{realtime}/transcription_sessions": {"POST": self._beta},
            f"{realtime}/calls": {"POST": self._calls},
        }

    def handle(self, request: HttpRequest) -> HttpResponse:
        """The response to one request (never raises for a client's mistake)."""
        path = urlsplit(request.target).path
        method = request.method.upper()
        route = self._route(path)
        if route is None:
            return error_response(404, f"Invalid URL ({method} {path})")
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
            return {"POST": self._calls}  # calls/{id}/accept|reject|refer|hangup
        return self._routes.get(rest)

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

    def _calls(self, request: HttpRequest, path: str) -> HttpResponse:
        message = CALLS_MESSAGE.format(method=request.method.upper(), path=path)
        return error_response(501, message, code="not_supported_by_mock")

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


__all__ = [
    "MAX_BODY_BYTES",
    "HttpRequest",
    "HttpResponse",
    "RestHandler",
    "chunked",
    "error_response",
    "json_response",
    "too_large",
]
