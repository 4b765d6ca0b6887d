"""Pins for the mock's REST side (mock_server/rest.py, respx_router.py), found by
`scripts/mutate.py`: each test fails on a one-token bug the other REST tests let through.
All in memory (the sans-I/O handler, httpx through respx: no socket)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from mock_server import secrets as secrets_module
from mock_server._connection import Connection
from mock_server._http import HttpConnection
from mock_server.calls import CallRegistry
from mock_server.config import MockConfig
from mock_server.respx_router import rest_router
from mock_server.rest import HttpRequest, HttpResponse, RestHandler
from mock_server.secrets import MAX_KEY_CHARS, SignedSecrets, secrets_for
from mock_server.sip import SipCalls
from mock_server.tls import local_tls
from tests.webrtc.test_calls_rest import OFFER, multipart, offer_of

KEY = "sk-test-pinned-rest-01"
AUTH = ("Authorization", f"Bearer {KEY}")
SESSION_ID = re.compile(r"sess_[A-Za-z0-9]{21}")


def post(handler: RestHandler, path: str, body: Any) -> HttpResponse:
    return handler.handle(HttpRequest("POST", path, (AUTH,), orjson.dumps(body)))


def test_a_body_over_one_mebibyte_is_refused_with_413_and_one_of_exactly_that_is_read() -> None:
    limit = 1 << 20  # spelled out: the constant itself is what a mutant changes
    with rest_router():
        client = httpx.Client(base_url="https://api.openai.com/v1", headers=[AUTH])
        at_limit = client.post("/realtime/client_secrets", content=b" " * limit)
        over = client.post("/realtime/client_secrets", content=b" " * (limit + 1))
    assert at_limit.status_code == 400, at_limit.text  # read, then found not to be JSON
    assert over.status_code == 413, over.text
    assert over.json()["error"]["code"] == "request_too_large"


class _SipServer:
    """The parts of a MockServer SipCalls uses; no call is answered here."""

    def __init__(self) -> None:
        self.calls = CallRegistry()
        self.config = MockConfig()
        self.rest = RestHandler(self.config, calls=self.calls)

    def make_call_app(self, call: Any) -> Any:
        raise AssertionError("no call starts in these tests")

    def track_session(self, transcript: Any) -> Any:
        raise AssertionError("no call starts in these tests")


async def test_an_async_route_answers_another_method_with_405_and_allow_post() -> None:
    server = _SipServer()
    sip = SipCalls(server)
    sip.install()
    request = HttpRequest("GET", sip.simulate_path, (AUTH,), b"")
    answer = await server.rest.handle_async(request)
    assert answer.status == 405
    assert ("Allow", "POST") in answer.headers
    assert answer.json["error"]["code"] == "method_not_allowed"
    assert "POST" in answer.json["error"]["message"]


def test_a_transcription_secrets_session_has_an_id_and_expires_at_0_as_in_the_spec() -> None:
    answer = post(
        RestHandler(), "/v1/realtime/client_secrets", {"session": {"type": "transcription"}}
    )
    assert answer.status == 200, answer.json
    session = answer.json["session"]
    assert session["object"] == "realtime.transcription_session"
    assert session["expires_at"] == 0
    assert SESSION_ID.fullmatch(session["id"]), session["id"]


def test_a_translation_secrets_session_id_is_sess_and_21_letters_or_digits() -> None:
    body = {"session": {"model": "gpt-realtime-translate"}}
    answer = post(RestHandler(), "/v1/realtime/translations/client_secrets", body)
    assert answer.status == 200, answer.json
    session = answer.json["session"]
    assert SESSION_ID.fullmatch(session["id"]), session["id"]
    assert session["expires_at"] == answer.json["expires_at"]


def test_a_call_offer_for_a_model_that_is_not_realtime_is_a_400_not_a_401() -> None:
    handler = RestHandler(calls=CallRegistry())
    session = {"type": "realtime", "model": "gpt-4o"}
    content_type, body = multipart(sdp=OFFER, session=json.dumps(session))
    answer = offer_of(handler, [AUTH, content_type], body)
    assert isinstance(answer, HttpResponse), answer
    assert answer.status == 400  # the key is good: only the model is wrong
    assert answer.json["error"]["code"] == "invalid_model"
    assert '"gpt-4o"' in answer.json["error"]["message"]


def test_a_call_offer_without_content_type_says_it_had_none() -> None:
    answer = offer_of(RestHandler(calls=CallRegistry()), [AUTH], OFFER.encode())
    assert isinstance(answer, HttpResponse), answer
    assert answer.status == 400
    error = answer.json["error"]
    assert error["code"] == "unsupported_content_type"
    assert error["message"].startswith("Unsupported Content-Type None for POST /v1/realtime/calls")


def test_a_multipart_call_offer_without_an_sdp_part_names_the_missing_sdp() -> None:
    content_type, body = multipart(session=json.dumps({"type": "realtime"}))
    answer = offer_of(RestHandler(calls=CallRegistry()), [AUTH, content_type], body)
    assert isinstance(answer, HttpResponse), answer
    assert answer.status == 400
    error = answer.json["error"]
    assert (error["code"], error["param"]) == ("missing_required_parameter", "sdp")


def _big_session(tag: str) -> dict[str, Any]:
    """A session whose key would be too long to carry it: kept in memory by digest."""
    noise = "".join(hashlib.sha256(f"{tag}{n}".encode()).hexdigest() for n in range(200))
    return {"type": "realtime", "model": "gpt-realtime", "instructions": noise}


def test_big_configurations_are_kept_last_used_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """Minting a configuration again makes it the most recent of the bounded memory."""
    monkeypatch.setattr(secrets_module, "LOCAL_CONFIGS", 2)
    store = SignedSecrets(b"pinned-rest-lru")
    first = store.mint("realtime", _big_session("a"), 2_000_000_000)
    store.mint("realtime", _big_session("b"), 2_000_000_000)
    again = store.mint("realtime", _big_session("a"), 2_000_000_000)  # a is the newest now
    store.mint("realtime", _big_session("c"), 2_000_000_000)  # b, the oldest, goes
    assert len(first) <= MAX_KEY_CHARS  # the key carries a digest, not the configuration
    for key in (first, again):
        grant = store.lookup(key)
        assert grant is not None
        assert grant.session is not None
        assert grant.session["instructions"] == _big_session("a")["instructions"]


def test_the_stores_of_32_signing_secrets_are_kept_and_no_more() -> None:
    """One store per signing secret, bounded: the 33rd most recent one is made anew."""
    run = uuid.uuid4().hex
    for n in range(32):  # fill the cache, whatever other tests left in it
        secrets_for(f"{run}-fill-{n}")
    kept = secrets_for(f"{run}-kept")
    for n in range(31):
        secrets_for(f"{run}-more-{n}")
    assert secrets_for(f"{run}-kept") is kept  # 31 newer: still there
    for n in range(32):
        secrets_for(f"{run}-evict-{n}")
    assert secrets_for(f"{run}-kept") is not kept  # 32 newer: dropped


def test_the_server_certificate_is_for_signatures_only(tmp_path: Path) -> None:
    pytest.importorskip("cryptography", reason="the tls extra is not installed")
    from cryptography import x509

    files = local_tls(tmp_path / "tls")
    for path, is_ca in ((files.ca, True), (files.cert, False)):
        cert = x509.load_pem_x509_certificate(path.read_bytes())
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        assert usage.digital_signature
        assert not usage.content_commitment
        assert not usage.key_encipherment
        assert not usage.data_encipherment
        assert not usage.key_agreement
        assert usage.key_cert_sign is is_ca
        assert usage.crl_sign is is_ca


def test_without_respx_the_router_names_the_extra_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import mock_server.respx_router as installed

    monkeypatch.setitem(sys.modules, "respx", None)
    name = "mock_server._respx_router_without_respx"
    spec = importlib.util.spec_from_file_location(name, installed.__file__)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    with pytest.raises(ImportError) as raised:
        spec.loader.exec_module(module)
    assert str(raised.value) == (
        "mock_server.respx_router needs respx and httpx: pip install 'realtime-conformance[test]'"
    )


class _Forwarded(Connection):
    """Stands in for websockets' reading: records what HttpConnection hands it."""

    given: list[bytes]

    def data_received(self, data: bytes) -> None:
        self.given.append(data)


class _Probe(HttpConnection, _Forwarded):
    def __init__(self) -> None:  # no socket: only HttpConnection's own state
        self.given: list[bytes] = []
        self.rest_body = b""
        self.rest_problem = None
        self._buffer = bytearray()
        self._wanted = -1
        self._head = b""


def test_a_request_head_arriving_in_pieces_is_collected_until_its_body_is_read() -> None:
    probe = _Probe()
    body = b'{"session": {"type": "realtime"}}'
    head = (
        b"POST /v1/realtime/client_secrets HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    for piece in (head[:10], head[10:50], head[50:], body[:5], body[5:]):
        assert probe.given == []  # nothing reaches websockets before the body is in
        probe.data_received(piece)
    assert probe.rest_body == body
    assert probe.given == [b"POST /v1/realtime/client_secrets HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"]


def test_a_head_over_64_kib_goes_to_websockets_as_it_is() -> None:
    probe = _Probe()
    head = b"GET / HTTP/1.1\r\nX-Big: " + b"a" * (64 * 1024)
    probe.data_received(head[: 64 * 1024])  # at the limit: still collected
    assert probe.given == []
    probe.data_received(head[64 * 1024 :])
    assert probe.given == [head]
