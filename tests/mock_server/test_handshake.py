"""`check_handshake`: the live connect rules, as a table (protocol notes §1.2, §6)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from mock_server.config import MockConfig
from mock_server.handshake import (
    Accepted,
    Rejected,
    SecretGrant,
    check_handshake,
    mask_key,
)
from mock_server.request import ConnectRequest

KEY = "sk-proj-abcdefghijklmnopqrstuvwxyz0123"
BEARER = ("Authorization", f"Bearer {KEY}")
BETA_MESSAGE = (
    "The Realtime Beta API is no longer supported. Please use /v1/realtime for the GA API."
)


def request(
    query: str = "model=gpt-realtime",
    *headers: tuple[str, str],
    subprotocols: tuple[str, ...] | None = None,
) -> ConnectRequest:
    return ConnectRequest.from_target(f"/v1/realtime?{query}", headers, subprotocols=subprotocols)


def rejected(result: Accepted | Rejected) -> Rejected:
    assert isinstance(result, Rejected), result
    return result


REJECTIONS = [
    # (id, request, code, close code, close reason, message start)
    (
        "beta header",
        request("model=gpt-realtime", BEARER, ("OpenAI-Beta", "realtime=v1")),
        "beta_api_shape_disabled",
        4000,
        "invalid_request_error.beta_api_shape_disabled",
        BETA_MESSAGE,
    ),
    (
        "beta header with transcription intent",
        request("intent=transcription", BEARER, ("openai-beta", "assistants=v2, realtime=v1")),
        "beta_api_shape_disabled",
        4000,
        "invalid_request_error.beta_api_shape_disabled",
        BETA_MESSAGE,
    ),
    (
        "beta subprotocol wins over a missing key",
        request("model=gpt-realtime", subprotocols=("realtime", "openai-beta.realtime-v1")),
        "beta_api_shape_disabled",
        4000,
        "invalid_request_error.beta_api_shape_disabled",
        BETA_MESSAGE,
    ),
    (
        "no key",
        request("model=gpt-realtime"),
        None,
        3000,
        "invalid_request_error",
        "Missing bearer or basic authentication in header",
    ),
    (
        "empty bearer",
        request("model=gpt-realtime", ("Authorization", "Bearer ")),
        None,
        3000,
        "invalid_request_error",
        "Missing bearer or basic authentication in header",
    ),
    (
        "no model",
        request("", BEARER),
        "missing_model",
        4000,
        "invalid_request_error.missing_model",
        "You must provide a model parameter, for example "
        "wss://api.openai.com/v1/realtime?model=gpt-realtime-1.5",
    ),
    (
        "intent realtime is not a model",
        request("intent=realtime", BEARER),
        "missing_model",
        4000,
        "invalid_request_error.missing_model",
        "You must provide a model parameter",
    ),
    (
        "unknown model",
        request("model=gpt-nope", BEARER),
        "invalid_model",
        4000,
        "invalid_request_error.invalid_model",
        'Model "gpt-nope" is not supported in realtime mode',
    ),
    (
        "transcription model as ?model=",
        request("model=gpt-4o-transcribe", BEARER),
        "invalid_model",
        4000,
        "invalid_request_error.invalid_model",
        'Model "gpt-4o-transcribe" is not supported in realtime mode',
    ),
    (
        "transcription intent with a model",
        request("intent=transcription&model=gpt-4o-mini-transcribe", BEARER),
        "invalid_model",
        4000,
        "invalid_request_error.invalid_model",
        'Model "gpt-4o-mini-transcribe" is not supported in transcription mode.',
    ),
    (
        "unknown intent",
        request("intent=translation", BEARER),
        "invalid_value",
        4000,
        "invalid_request_error.invalid_value",
        "Invalid value: 'translation'.",
    ),
]


@pytest.mark.parametrize(
    ("req", "code", "close_code", "reason", "message"),
    [pytest.param(*row[1:], id=row[0]) for row in REJECTIONS],
)
def test_rejected_requests_get_the_live_error_and_close(
    req: ConnectRequest, code: str | None, close_code: int, reason: str, message: str
) -> None:
    result = rejected(check_handshake(req, MockConfig()))
    assert result.finding.code == code
    assert result.finding.type == "invalid_request_error"
    assert result.finding.message.startswith(message)
    assert result.close_code == close_code
    assert result.close_reason == reason


def test_invalid_model_message_is_complete() -> None:
    result = rejected(check_handshake(request("model=gpt-nope", BEARER), MockConfig()))
    assert result.finding.message == (
        'Model "gpt-nope" is not supported in realtime mode. '
        "Supported models are listed at https://platform.openai.com/docs/models."
    )


def test_rejected_key_is_masked_in_the_message() -> None:
    config = MockConfig(api_keys=("sk-good-key-0000000000",))
    result = rejected(check_handshake(request("model=gpt-realtime", BEARER), config))
    assert result.finding.code == "invalid_api_key"
    assert (result.close_code, result.close_reason) == (
        3000,
        "invalid_request_error.invalid_api_key",
    )
    assert KEY not in result.finding.message
    assert result.finding.message == (
        f"Incorrect API key provided: {mask_key(KEY)}. "
        "You can find your API key at https://platform.openai.com/account/api-keys."
    )
    assert mask_key(KEY).startswith("sk-")
    assert mask_key(KEY).endswith(KEY[-4:])


@pytest.mark.parametrize("key", ["short", "sk-abc", "sk-abcdefgh", "sk-abcdefghi", KEY])
def test_mask_key_never_shows_a_whole_key(key: str) -> None:
    masked = mask_key(key)
    assert len(masked) == len(key)
    assert key not in masked
    assert "*" in masked


def test_any_non_empty_key_is_accepted_by_default() -> None:
    result = check_handshake(
        request("model=gpt-realtime", ("authorization", "bearer x")), MockConfig()
    )
    assert result == Accepted(
        kind="realtime", model="gpt-realtime", key_kind="standard", subprotocol=None
    )


def test_configured_keys_are_the_only_standard_keys_accepted() -> None:
    config = MockConfig(api_keys=(KEY,))
    assert isinstance(check_handshake(request("model=gpt-realtime", BEARER), config), Accepted)
    other = request("model=gpt-realtime", ("Authorization", "Bearer sk-other-000000000000"))
    assert rejected(check_handshake(other, config)).finding.code == "invalid_api_key"


def test_ephemeral_keys_are_checked_against_the_configured_list() -> None:
    config = MockConfig(api_keys=(KEY,), ephemeral_keys=("ek_good0000000000",))
    good = request("model=gpt-realtime", ("Authorization", "Bearer ek_good0000000000"))
    bad = request("model=gpt-realtime", ("Authorization", "Bearer ek_bad00000000000"))
    accepted = check_handshake(good, config)
    assert isinstance(accepted, Accepted)
    assert accepted.key_kind == "ephemeral"
    assert rejected(check_handshake(bad, config)).finding.code == "invalid_api_key"


def test_unknown_ephemeral_keys_are_refused_when_keys_are_configured() -> None:
    """Issue 14: with --api-keys an `ek_` key must be listed or minted; open mocks take any."""
    req = request("model=gpt-realtime", ("Authorization", "Bearer ek_anything0000"))
    assert rejected(check_handshake(req, MockConfig(api_keys=(KEY,)))).close_code == 3000
    assert isinstance(check_handshake(req, MockConfig()), Accepted)
    forged = request("model=gpt-realtime", ("Authorization", "Bearer ek_m1forged00000000"))
    assert rejected(check_handshake(forged, MockConfig())).finding.code == "invalid_api_key"


@dataclass
class Store:
    grants: dict[str, SecretGrant]

    def lookup(self, value: str) -> SecretGrant | None:
        return self.grants.get(value)


def test_minted_secrets_expire_and_carry_their_session_type() -> None:
    store = Store({"ek_minted000000": SecretGrant(expires_at=100.0, session_kind="transcription")})
    req = request("", ("Authorization", "Bearer ek_minted000000"))
    accepted = check_handshake(req, MockConfig(), secrets=store, now=99.0)
    assert accepted == Accepted(
        kind="transcription", model=None, key_kind="ephemeral", subprotocol=None
    )
    expired = check_handshake(req, MockConfig(), secrets=store, now=100.0)
    assert rejected(expired).finding.code == "invalid_api_key"
    unknown = request("model=gpt-realtime", ("Authorization", "Bearer ek_unknown00000"))
    configured = MockConfig(api_keys=(KEY,))
    assert rejected(check_handshake(unknown, configured, secrets=store)).close_code == 3000


def test_minted_secret_may_supply_the_model() -> None:
    store = Store({"ek_minted000000": SecretGrant(model="gpt-realtime-mini")})
    req = request("", ("Authorization", "Bearer ek_minted000000"))
    result = check_handshake(req, MockConfig(), secrets=store)
    assert isinstance(result, Accepted)
    assert result.model == "gpt-realtime-mini"


def test_transcription_intent_needs_no_model() -> None:
    result = check_handshake(request("intent=transcription", BEARER), MockConfig())
    assert result == Accepted(
        kind="transcription", model=None, key_kind="standard", subprotocol=None
    )


def test_sideband_call_id_needs_no_model() -> None:
    """The call's session has a model (issue 13: it was empty); the mock's calls use
    gpt-realtime [INFERRED]."""
    result = check_handshake(request("call_id=rtc_123", BEARER), MockConfig())
    assert result == Accepted(
        kind="realtime",
        model="gpt-realtime",
        key_kind="standard",
        subprotocol=None,
        call_id="rtc_123",
    )


@pytest.mark.parametrize("call_id", ["anything", "rtc_", "call_123", "rtc_a/b"])
def test_a_call_id_that_names_no_call_is_refused(call_id: str) -> None:
    result = check_handshake(request(f"call_id={call_id}", BEARER), MockConfig())
    assert isinstance(result, Rejected)
    assert (result.finding.code, result.finding.param, result.close_code) == (
        "invalid_value",
        "call_id",
        4000,
    )


def test_browser_subprotocols_carry_the_key_and_select_realtime() -> None:
    req = request(
        "model=gpt-realtime-2",
        subprotocols=("realtime", f"openai-insecure-api-key.{KEY}", "openai-agents-sdk.1.0"),
    )
    result = check_handshake(req, MockConfig(api_keys=(KEY,)))
    assert result == Accepted(
        kind="realtime", model="gpt-realtime-2", key_kind="standard", subprotocol="realtime"
    )


@pytest.mark.parametrize(
    "model",
    [
        "gpt-realtime",
        "gpt-realtime-1.5",
        "gpt-realtime-2.1-mini",
        "gpt-4o-realtime-preview",
        "gpt-audio-mini-2025-12-15",
    ],
)
def test_every_enum_model_is_accepted(model: str) -> None:
    assert isinstance(check_handshake(request(f"model={model}", BEARER), MockConfig()), Accepted)


# --- tolerance: an explicit input, never the live behaviour ---------------------------

TOLERATED = [
    # (id, request, tolerated codes, session model)
    (
        "beta header",
        request("model=gpt-realtime", BEARER, ("OpenAI-Beta", "realtime=v1")),
        ["beta_api_shape_disabled"],
        "gpt-realtime",
    ),
    (
        "beta subprotocol",
        request("model=gpt-realtime", BEARER, subprotocols=("openai-beta.realtime-v1",)),
        ["beta_api_shape_disabled"],
        "gpt-realtime",
    ),
    ("missing model", request("", BEARER), ["missing_model"], "gpt-realtime-1.5"),
    ("unknown model", request("model=gpt-nope", BEARER), ["invalid_model"], "gpt-realtime-1.5"),
    (
        "beta header and unknown model",
        request("model=gpt-4o", BEARER, ("OpenAI-Beta", "realtime=v1")),
        ["beta_api_shape_disabled", "invalid_model"],
        "gpt-realtime-1.5",
    ),
]


@pytest.mark.parametrize(
    ("req", "codes", "model"), [case[1:] for case in TOLERATED], ids=[c[0] for c in TOLERATED]
)
def test_tolerant_accepts_the_clients_fatal_mistakes_and_lists_them(
    req: ConnectRequest, codes: list[str], model: str
) -> None:
    strict = rejected(check_handshake(req, MockConfig()))
    result = check_handshake(req, MockConfig(), tolerant=True)
    assert isinstance(result, Accepted)
    assert (result.kind, result.model) == ("realtime", model)
    assert [t.finding.code for t in result.tolerated] == codes
    assert result.tolerated[0] == strict  # exactly what the live server would have sent


def test_tolerant_is_an_explicit_input_not_read_from_the_config() -> None:
    req = request("model=gpt-realtime", BEARER, ("OpenAI-Beta", "realtime=v1"))
    assert isinstance(check_handshake(req, MockConfig(tolerant=True)), Rejected)


@pytest.mark.parametrize(
    ("req", "code"),
    [
        (request("model=gpt-realtime", ("OpenAI-Beta", "realtime=v1")), None),
        (request("", ("Authorization", "Bearer sk-other-000000000000")), "invalid_api_key"),
        (request("model=gpt-realtime&intent=chat", BEARER), "invalid_value"),
        (request("intent=transcription&model=gpt-realtime", BEARER), "invalid_model"),
    ],
    ids=["no key", "wrong key", "unknown intent", "transcription with a model"],
)
def test_tolerant_still_rejects_keys_and_intents(req: ConnectRequest, code: str | None) -> None:
    config = MockConfig(api_keys=(KEY,))
    assert rejected(check_handshake(req, config, tolerant=True)).finding.code == code


def test_tolerant_changes_nothing_for_a_correct_request() -> None:
    req = request("model=gpt-realtime-2", BEARER)
    assert check_handshake(req, MockConfig(), tolerant=True) == check_handshake(req, MockConfig())
