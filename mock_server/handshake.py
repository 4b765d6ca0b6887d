"""Pure check of a connect request against the live GA server's rules.

The live server always completes the 101 upgrade and reports a bad request in-band: an
`error` event, then a close frame in the same millisecond (protocol notes §1.3, §6.3).
`check_handshake` decides which; the app sends the `error` and the `Close`.

Rules, first match wins:

1. beta header / subprotocol  → `beta_api_shape_disabled`, close 4000
2. no key                     → code null, close 3000 `invalid_request_error`
3. key not accepted           → `invalid_api_key`, close 3000 (an `ek_` key: see `_grant`)
4. unknown `intent`           → `invalid_value` [INFERRED], close 4000
5. `intent=transcription` with a `model` → `invalid_model` (transcription mode), close 4000
6. no `model`, no `intent=transcription`, no `call_id` → `missing_model`, close 4000
7. `model` not a realtime model → `invalid_model` (realtime mode), close 4000

On `/v1/realtime/translations` (protocol notes §1.1, §2.3) rules 4-7 are replaced by:

T1. no `model` → `missing_model` with the translations URL as example [wording INFERRED]
T2. `model` not a translation model (a realtime one, or unknown) → `invalid_model`
    (translation mode) [wording INFERRED, shaped like rule 7], close 4000

Which `ek_` keys rule 3 accepts: those in `config.ephemeral_keys`, and keys minted by
`POST /v1/realtime/client_secrets` (`secrets`, `mock_server/secrets.py`) until they expire,
each opening a session of its kind that starts from its configuration
(`Accepted.session`). With neither `api_keys` nor `ephemeral_keys` configured, any other
`ek_` key is accepted too, except one shaped like a minted key (`ek_m1`) that no secret
of this mock signed.

The relative order of 1 and 2/3 was not observed live [INFERRED: beta first, as the beta
check needs no account]; 2–3 before 4–7 follows the usual auth-first order.

Tolerance (`check_handshake(..., tolerant=True)`, the runner's `tolerant` case) is not a
live behaviour: rules 1, 6 and 7, the client's own fatal mistakes that a check judges
from the recorded upgrade request (`does_not_send_beta_header`, `uses_supported_model`),
are accepted instead, each kept in `Accepted.tolerated`, and a missing or unusable model
becomes `TOLERANT_MODEL`. The key rules (2, 3) and the intent rules (4, 5) still reject.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final, Literal, Protocol

from conformance.models import ModelRegistry, load_registry
from conformance.protocol.findings import Finding
from conformance.protocol.translation import is_translation_path
from mock_server.config import MockConfig
from mock_server.request import ConnectRequest

SessionKind = Literal["realtime", "transcription", "translation"]
KeyKind = Literal["standard", "ephemeral"]

CLOSE_AUTH: Final = 3000
CLOSE_REQUEST: Final = 4000
EPHEMERAL_PREFIX: Final = "ek_"
# Keys minted by a mock (`mock_server.secrets`): live keys are `ek_` + hex, never this.
MINTED_PREFIX: Final = "ek_m1"
SUBPROTOCOL: Final = "realtime"
# The session's model when a tolerated request names none, or one that is not realtime.
TOLERANT_MODEL: Final = "gpt-realtime-1.5"
TOLERANT_TRANSLATION_MODEL: Final = "gpt-realtime-translate"  # the same, on the translations path

BETA_MESSAGE: Final = (
    "The Realtime Beta API is no longer supported. Please use /v1/realtime for the GA API."
)
NO_KEY_MESSAGE: Final = "Missing bearer or basic authentication in header"
BAD_KEY_MESSAGE: Final = (
    "Incorrect API key provided: {masked}. "
    "You can find your API key at https://platform.openai.com/account/api-keys."
)
MISSING_MODEL_MESSAGE: Final = (
    "You must provide a model parameter, for example "
    "wss://api.openai.com/v1/realtime?model=gpt-realtime-1.5"
)
# Live text starts `Model "gpt-nope" is not supported in realtime mode`; the sentence after
# it is reported as "Supported models are listed at ..." (catalog 11, 29). The URL
# completing it is [INFERRED].
REALTIME_MODEL_MESSAGE: Final = (
    'Model "{model}" is not supported in realtime mode. '
    "Supported models are listed at https://platform.openai.com/docs/models."
)
TRANSCRIPTION_MODEL_MESSAGE: Final = 'Model "{model}" is not supported in transcription mode.'
# A sideband `?call_id=` names a WebRTC/SIP call: ids are `rtc_...` (protocol notes §1.1).
# `MockServer` answers an id that names none of its calls with 404 before the upgrade and
# attaches a known one to the call's session (mock_server/calls.py, issue 16); only
# without a server (an in-memory transport) does a well-formed id reach this check, and
# open a session on the call model below; anything else is refused [INFERRED: wording,
# code and close code follow the other request-shape errors].
CALL_ID_PATTERN: Final = re.compile(r"rtc_[A-Za-z0-9_-]{1,200}")
CALL_MODEL: Final = "gpt-realtime"
CALL_ID_MESSAGE: Final = "Invalid 'call_id': '{call_id}' is not the id of a realtime call."
# [INFERRED] the translations endpoint's answers, shaped like the realtime ones above
TRANSLATION_MISSING_MODEL_MESSAGE: Final = (
    "You must provide a model parameter, for example "
    "wss://api.openai.com/v1/realtime/translations?model=gpt-realtime-translate"
)
TRANSLATION_MODEL_MESSAGE: Final = 'Model "{model}" is not supported in translation mode.'
INTENTS: Final = ("realtime", "transcription")
# [INFERRED] worded like the live `invalid_value` messages; not observed for `intent`
INTENT_MESSAGE: Final = (
    "Invalid value: '{intent}'. Supported values are: 'realtime' and 'transcription'."
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Accepted:
    """The request may open a session.

    `kind` is the session type, `model` the `?model=` value (None for transcription and
    sideband sessions), `key_kind` says whether an `ek_` client secret was used and
    `subprotocol` is what the 101 selected (`"realtime"` when offered). `tolerated`
    lists the rejections a tolerant check let pass (empty unless `tolerant=True`), in
    rule order.
    """

    kind: SessionKind
    model: str | None
    key_kind: KeyKind
    subprotocol: str | None
    call_id: str | None = None
    tolerated: tuple[Rejected, ...] = ()
    # The client secret's session configuration (a `session` request body) the session
    # starts from; None without one, or when the connection asked for another session type.
    session: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Rejected:
    """The request fails: send `finding` as an `error` event, then close with this code."""

    finding: Finding
    close_code: int
    close_reason: str


HandshakeResult = Accepted | Rejected


@dataclass(frozen=True, slots=True, kw_only=True)
class SecretGrant:
    """What a minted client secret allows (see `SecretStore`)."""

    expires_at: float | None = None  # unix seconds; None = never
    session_kind: SessionKind = "realtime"
    model: str | None = None
    session: Mapping[str, Any] | None = None  # the configuration sessions start from


class SecretStore(Protocol):
    """Minted `ek_` client secrets (e.g. from a mock `POST /v1/realtime/client_secrets`)."""

    def lookup(self, value: str) -> SecretGrant | None:
        """The grant of secret `value` (even if expired), or None if it was never minted."""
        ...


def check_handshake(
    request: ConnectRequest,
    config: MockConfig,
    registry: ModelRegistry | None = None,
    *,
    secrets: SecretStore | None = None,
    now: float | None = None,
    tolerant: bool = False,
) -> HandshakeResult:
    """Apply the live connect rules (see the module docstring) to one request.

    Args:
        request: the upgrade request.
        config: `api_keys` / `ephemeral_keys` say which keys are accepted.
        registry: the model registry; the built-in one by default.
        secrets: minted client secrets, checked for `ek_` keys in addition to
            `config.ephemeral_keys`.
        now: unix seconds, to expire minted secrets; None skips expiry.
        tolerant: accept a beta request and a missing or unusable model (rules 1, 6, 7)
            instead of rejecting them; they are listed in `Accepted.tolerated`.

    Returns:
        `Accepted`, or `Rejected` carrying the `error` to send and the close to perform.
    """
    tolerated: tuple[Rejected, ...] = ()
    if request.beta_requested:
        beta = _reject("beta_api_shape_disabled", BETA_MESSAGE, CLOSE_REQUEST)
        if not tolerant:
            return beta
        tolerated = (beta,)
    key = request.api_key
    if key is None:
        return _reject(None, NO_KEY_MESSAGE, CLOSE_AUTH)
    grant = _grant(key, config, secrets, now)
    if grant is None:
        return _reject("invalid_api_key", BAD_KEY_MESSAGE.format(masked=mask_key(key)), CLOSE_AUTH)
    result = _check_target(request, registry or load_registry(), key, grant, tolerant=tolerant)
    if tolerated and isinstance(result, Accepted):
        return replace(result, tolerated=tolerated + result.tolerated)
    return result


def _check_target(
    request: ConnectRequest,
    registry: ModelRegistry,
    key: str,
    grant: SecretGrant,
    *,
    tolerant: bool,
) -> HandshakeResult:
    if is_translation_path(request.path):
        return _check_translation(request, registry, key, grant, tolerant=tolerant)
    intent, model, call_id = request.intent, request.model, request.call_id
    if intent is not None and intent not in INTENTS:
        message = INTENT_MESSAGE.format(intent=intent)
        return _reject("invalid_value", message, CLOSE_REQUEST, param="intent")
    kind: SessionKind = "transcription" if intent == "transcription" else "realtime"
    if intent is None and key.startswith(EPHEMERAL_PREFIX):
        kind = grant.session_kind  # the session type comes from the client secret
    if kind == "transcription":
        if model is not None:
            return _reject(
                "invalid_model", TRANSCRIPTION_MODEL_MESSAGE.format(model=model), CLOSE_REQUEST
            )
        return _accept(request, "transcription", None, key, grant)
    model = model or grant.model
    if model is None:
        if call_id is not None:
            if CALL_ID_PATTERN.fullmatch(call_id) is None:
                message = CALL_ID_MESSAGE.format(call_id=call_id[:64])
                return _reject("invalid_value", message, CLOSE_REQUEST, param="call_id")
            return _accept(request, "realtime", CALL_MODEL, key, grant)
        missing = _reject("missing_model", MISSING_MODEL_MESSAGE, CLOSE_REQUEST)
        return _tolerate(request, key, missing) if tolerant else missing
    if not registry.is_realtime_model(model):
        message = REALTIME_MODEL_MESSAGE.format(model=model)
        unknown = _reject("invalid_model", message, CLOSE_REQUEST)
        return _tolerate(request, key, unknown) if tolerant else unknown
    return _accept(request, "realtime", model, key, grant)


def _check_translation(
    request: ConnectRequest,
    registry: ModelRegistry,
    key: str,
    grant: SecretGrant,
    *,
    tolerant: bool,
) -> HandshakeResult:
    """Rules T1-T2: the translations endpoint wants a translation model."""
    model = request.model or grant.model
    if model is None:
        rejected = _reject("missing_model", TRANSLATION_MISSING_MODEL_MESSAGE, CLOSE_REQUEST)
    elif not registry.is_translation_model(model):
        message = TRANSLATION_MODEL_MESSAGE.format(model=model)
        rejected = _reject("invalid_model", message, CLOSE_REQUEST)
    else:
        return _accept(request, "translation", model, key, grant)
    if not tolerant:
        return rejected
    accepted = _accept(request, "translation", TOLERANT_TRANSLATION_MODEL, key)
    return replace(accepted, tolerated=(rejected,))


def _tolerate(request: ConnectRequest, key: str, rejection: Rejected) -> Accepted:
    """A realtime session on `TOLERANT_MODEL`, remembering the rejection it replaced."""
    accepted = _accept(request, "realtime", TOLERANT_MODEL, key)
    return replace(accepted, tolerated=(rejection,))


def _grant(
    key: str, config: MockConfig, secrets: SecretStore | None, now: float | None
) -> SecretGrant | None:
    if key in config.api_keys or key in config.ephemeral_keys:
        return SecretGrant()
    if not key.startswith(EPHEMERAL_PREFIX):
        return None if config.api_keys else SecretGrant()
    minted = secrets.lookup(key) if secrets is not None else None
    if minted is not None:
        # [INFERRED] an expired secret is handled like a bad key (protocol notes §6.3)
        expired = now is not None and minted.expires_at is not None and now >= minted.expires_at
        return None if expired else minted
    # Unknown: refused when keys are configured, or when it claims to be minted by a mock
    # (another signing secret, or altered); an open mock accepts any other `ek_` key.
    if config.api_keys or config.ephemeral_keys or key.startswith(MINTED_PREFIX):
        return None
    return SecretGrant()


def _accept(
    request: ConnectRequest,
    kind: SessionKind,
    model: str | None,
    key: str,
    grant: SecretGrant | None = None,
) -> Accepted:
    session = grant.session if grant is not None and grant.session_kind == kind else None
    return Accepted(
        kind=kind,
        model=model,
        key_kind="ephemeral" if key.startswith(EPHEMERAL_PREFIX) else "standard",
        subprotocol=SUBPROTOCOL if SUBPROTOCOL in request.subprotocols else None,
        call_id=request.call_id,
        session=session,
    )


def _reject(code: str | None, message: str, close_code: int, param: str | None = None) -> Rejected:
    finding = Finding(code=code, message=message, param=param)
    reason = f"{finding.type}.{code}" if code else finding.type
    return Rejected(finding=finding, close_code=close_code, close_reason=reason)


def mask_key(key: str) -> str:
    """Mask a key as OpenAI's error messages do: first 3 chars, `*`s, last 4.

    Keys shorter than 12 characters are masked entirely, so no key is ever shown whole.
    """
    if len(key) < 12:
        return "*" * len(key)
    return key[:3] + "*" * (len(key) - 7) + key[-4:]
