"""The mock's REST handler without sockets (mock_server/rest.py, mock_server/secrets.py)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from conformance.schemas import validate_rest_body
from mock_server.config import MockConfig
from mock_server.handshake import MINTED_PREFIX, Accepted, Rejected, check_handshake
from mock_server.request import ConnectRequest
from mock_server.rest import HttpRequest, HttpResponse, RestHandler
from mock_server.secrets import MAX_KEY_CHARS, SignedSecrets, secrets_for, signing_key

KEY = "sk-test-rest-0123456789"
AUTH = (("Authorization", f"Bearer {KEY}"),)
SECRETS = "/v1/realtime/client_secrets"
TRANSLATION_SECRETS = "/v1/realtime/translations/client_secrets"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def post(handler: RestHandler, path: str, body: Any, headers: Any = AUTH) -> HttpResponse:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return handler.handle(HttpRequest("POST", path, headers, raw))


def error(response: HttpResponse) -> dict[str, Any]:
    assert response.headers[0] == ("Content-Type", "application/json")
    assert orjson.loads(response.body) == response.json
    body = response.json["error"]
    assert set(body) == {"message", "type", "param", "code"}
    return dict(body)


def connect(key: str, query: str = "", config: MockConfig | None = None, now: float = 0.0) -> Any:
    request = ConnectRequest.from_target(
        f"/v1/realtime{query}", [("Authorization", f"Bearer {key}")]
    )
    return check_handshake(
        request, config or MockConfig(), secrets=secrets_for(None), now=now or None
    )


def test_a_realtime_secret_carries_its_configuration_until_it_expires() -> None:
    clock = Clock(1_000_000.0)
    handler = RestHandler(clock=clock)
    body = {
        "expires_after": {"anchor": "created_at", "seconds": 60},
        "session": {"type": "realtime", "model": "gpt-realtime-mini", "instructions": "Be brief."},
    }
    response = post(handler, SECRETS, body)
    assert response.status == 200
    assert validate_rest_body("client_secrets.response", response.json) == []
    value, expires_at, session = (response.json[k] for k in ("value", "expires_at", "session"))
    assert value.startswith(MINTED_PREFIX)
    assert expires_at == 1_000_060
    assert session["model"] == "gpt-realtime-mini"
    assert session["instructions"] == "Be brief."
    assert session["expires_at"] == 0  # as in the spec's example
    accepted = connect(value, now=1_000_059.0)
    assert isinstance(accepted, Accepted)
    assert accepted.model == "gpt-realtime-mini"  # no ?model= needed
    assert accepted.session is not None
    assert accepted.session["instructions"] == "Be brief."
    expired = connect(value, now=1_000_060.0)
    assert isinstance(expired, Rejected)
    assert (expired.finding.code, expired.close_code) == ("invalid_api_key", 3000)


def test_defaults_ttl_600_and_a_realtime_session_on_gpt_realtime() -> None:
    response = post(RestHandler(clock=Clock(50.0)), SECRETS, {})
    assert response.status == 200
    assert response.json["expires_at"] == 650
    assert response.json["session"]["type"] == "realtime"
    assert response.json["session"]["model"] == "gpt-realtime"
    assert validate_rest_body("client_secrets.response", response.json) == []


def test_a_transcription_secret_opens_a_transcription_session() -> None:
    session = {
        "type": "transcription",
        "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"}}},
    }
    response = post(RestHandler(), SECRETS, {"session": session})
    assert response.status == 200, response.json
    assert validate_rest_body("client_secrets.response", response.json) == []
    assert response.json["session"]["object"] == "realtime.transcription_session"
    assert response.json["session"]["audio"]["input"]["transcription"]["model"] == (
        "gpt-4o-transcribe"
    )
    accepted = connect(response.json["value"])
    assert isinstance(accepted, Accepted)
    assert accepted.kind == "transcription"
    # an explicit intent wins; the secret's configuration is for another session type
    realtime = connect(response.json["value"], "?intent=realtime&model=gpt-realtime")
    assert isinstance(realtime, Accepted)
    assert (realtime.kind, realtime.session) == ("realtime", None)


def test_a_translation_secret_follows_the_spec() -> None:
    body = {
        "expires_after": {"seconds": 120},
        "session": {
            "model": "gpt-realtime-translate",
            "audio": {
                "input": {"noise_reduction": {"type": "near_field"}},
                "output": {"language": "fr"},
            },
        },
    }
    response = post(RestHandler(clock=Clock(10.0)), TRANSLATION_SECRETS, body)
    assert response.status == 200, response.json
    assert validate_rest_body("translations.client_secrets.response", response.json) == []
    session = response.json["session"]
    assert (session["type"], session["expires_at"]) == ("translation", 130)
    assert session["audio"]["output"]["language"] == "fr"
    assert session["audio"]["input"]["noise_reduction"] == {"type": "near_field"}
    request = ConnectRequest.from_target(
        "/v1/realtime/translations",
        [("Authorization", f"Bearer {response.json['value']}")],
    )
    accepted = check_handshake(request, MockConfig(), secrets=secrets_for(None), now=100.0)
    assert isinstance(accepted, Accepted)
    assert (accepted.kind, accepted.model) == ("translation", "gpt-realtime-translate")
    missing = error(post(RestHandler(), TRANSLATION_SECRETS, {}))
    assert (missing["code"], missing["param"]) == ("missing_required_parameter", "session")
    realtime_model = {"session": {"model": "gpt-realtime"}}
    wrong = error(post(RestHandler(), TRANSLATION_SECRETS, realtime_model))
    assert (wrong["code"], wrong["param"]) == ("invalid_model", "session.model")


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"expires_after": {"seconds": 9}}, "integer_below_min_value", "expires_after.seconds"),
        ({"expires_after": {"seconds": 7201}}, "integer_above_max_value", "expires_after.seconds"),
        ({"expires_after": {"anchor": "now"}}, "invalid_value", "expires_after.anchor"),
        ({"session": {"type": "translation"}}, "invalid_value", "session.type"),
        (
            {"session": {"type": "realtime", "modalities": ["text"]}},
            "unknown_parameter",
            "session.modalities",
        ),
        ({"session": {"type": "realtime", "model": "gpt-4o"}}, "invalid_model", "session.model"),
        ({"ttl": 5}, "unknown_parameter", "ttl"),
        ([1, 2], "invalid_type", None),
    ],
)
def test_invalid_bodies_get_400_with_the_live_vocabulary(
    body: Any, code: str, param: str | None
) -> None:
    response = post(RestHandler(), SECRETS, body)
    assert response.status == 400
    found = error(response)
    assert (found["code"], found["param"]) == (code, param), found
    assert found["type"] == "invalid_request_error"


def test_bounds_are_inclusive() -> None:
    for seconds in (10, 7200):
        assert post(RestHandler(), SECRETS, {"expires_after": {"seconds": seconds}}).status == 200


def test_a_body_that_is_not_json_gets_400_saying_so() -> None:
    found = error(post(RestHandler(), SECRETS, b'{"session": '))
    assert "could not parse the JSON body" in found["message"]


def test_keys_gate_rest_like_the_websocket() -> None:
    handler = RestHandler(MockConfig(api_keys=(KEY,)))
    missing = post(handler, SECRETS, {}, headers=())
    assert missing.status == 401
    assert error(missing)["message"].startswith("You didn't provide an API key.")
    wrong = post(handler, SECRETS, {}, headers=(("Authorization", "Bearer sk-wrong-000000000"),))
    assert wrong.status == 401
    found = error(wrong)
    assert found["code"] == "invalid_api_key"
    assert found["message"].startswith("Incorrect API key provided: sk-")
    assert "sk-wrong-000000000" not in found["message"]  # masked
    assert post(handler, SECRETS, {}).status == 200
    minted = post(handler, SECRETS, {}).json["value"]
    ephemeral = post(handler, SECRETS, {}, headers=(("Authorization", f"Bearer {minted}"),))
    assert (ephemeral.status, error(ephemeral)["code"]) == (401, "invalid_api_key")


@pytest.mark.parametrize(
    "path",
    [
        "/v1/realtime?model=gpt-realtime",
        "/v1/realtime/sessions",
        "/v1/realtime/transcription_sessions",
    ],
)
def test_beta_and_legacy_endpoints_answer_beta_api_shape_disabled(path: str) -> None:
    response = post(RestHandler(), path, b"v=0\r\n")
    assert response.status == 400
    found = error(response)
    assert found["code"] == "beta_api_shape_disabled"
    assert found["message"] == (
        "The Realtime Beta API is no longer supported. Please use /v1/realtime for the GA API."
    )


def test_calls_need_a_running_server_and_hangup_needs_a_call() -> None:
    # In-process (respx) an SDP offer cannot be answered; tests/webrtc/ covers the rest.
    offer = b"v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=fingerprint:sha-256 AA\r\n"
    sdp = (*AUTH, ("Content-Type", "application/sdp"))
    response = post(RestHandler(), "/v1/realtime/calls", offer, sdp)
    assert response.status == 501
    assert error(response)["code"] == "webrtc_unavailable"
    hangup = post(RestHandler(), "/v1/realtime/calls/rtc_1/hangup", b"")
    assert (hangup.status, error(hangup)["code"]) == (404, "call_not_found")


def test_unknown_paths_and_methods_get_json_404_and_405() -> None:
    handler = RestHandler()
    missing = handler.handle(HttpRequest("GET", "/v1/models", AUTH))
    assert missing.status == 404
    assert error(missing)["message"] == "Invalid URL (GET /v1/models)"
    assert handler.handle(HttpRequest("POST", "/elsewhere", AUTH)).status == 404
    wrong = handler.handle(HttpRequest("DELETE", SECRETS, AUTH))
    assert wrong.status == 405
    assert ("Allow", "POST") in wrong.headers
    assert error(wrong)["code"] == "method_not_allowed"
    plain = handler.handle(HttpRequest("GET", "/v1/realtime?model=gpt-realtime", AUTH))
    assert plain.status == 426
    assert "WebSocket" in error(plain)["message"]


def test_the_path_prefix_moves_the_rest_endpoints_too() -> None:
    handler = RestHandler(MockConfig(path_prefix="/relay"))
    assert post(handler, "/relay" + SECRETS, {}).status == 200
    assert post(handler, SECRETS, {}).status == 404


def test_keys_verify_only_with_their_signing_secret() -> None:
    one, other = SignedSecrets(b"one"), SignedSecrets(b"other")
    value = one.mint("realtime", {"type": "realtime", "model": "gpt-realtime"}, 100)
    grant = SignedSecrets(b"one").lookup(value)  # another process with the same secret
    assert grant is not None
    assert (grant.expires_at, grant.model, grant.session_kind) == (
        100.0,
        "gpt-realtime",
        "realtime",
    )
    assert other.lookup(value) is None
    altered = value[:-3] + ("AAA" if value[-3:] != "AAA" else "BBB")
    assert one.lookup(altered) is None
    assert one.lookup("ek_0123456789abcdef0123456789abcdef") is None


def test_a_config_too_big_to_embed_works_only_where_it_was_minted() -> None:
    here, elsewhere = SignedSecrets(b"shared"), SignedSecrets(b"shared")
    session = {"type": "realtime", "model": "gpt-realtime", "instructions": _incompressible(8000)}
    value = here.mint("realtime", session, 100)
    assert len(value) < MAX_KEY_CHARS
    grant = here.lookup(value)
    assert grant is not None
    assert grant.session == session
    assert elsewhere.lookup(value) is None


def test_the_signing_secret_comes_from_config_then_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("REALTIME_MOCK_SECRET_KEY", raising=False)
    process = signing_key(None)
    assert signing_key(None) == process
    assert signing_key("configured") == b"configured"
    monkeypatch.setenv("REALTIME_MOCK_SECRET_KEY", "from-env")
    assert signing_key(None) == b"from-env"
    assert signing_key("configured") == b"configured"


def test_the_secret_key_never_shows_in_the_config_repr() -> None:
    assert "hunter2" not in repr(MockConfig(secret_key="hunter2"))


def _incompressible(size: int) -> str:
    import random

    rng = random.Random(7)
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789 ") for _ in range(size))
