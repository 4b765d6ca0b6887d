"""mock_server/sip.py's pure parts: states, which verb works where, bodies, the session an
accepted call starts from, the webhook body, SIP headers."""

from __future__ import annotations

import json

import pytest
from openai.types.webhooks import RealtimeCallIncomingWebhookEvent

from mock_server import sip
from mock_server.scenarios import load_scenario


@pytest.mark.parametrize(
    ("state", "reason", "expected"),
    [
        ("ringing", None, "incoming"),
        ("active", None, "accepted"),
        ("ended", "rejected", "rejected"),
        ("ended", "referred", "referred"),
        ("ended", "hangup", "ended"),
        ("ended", "server_stopped", "ended"),
    ],
)
def test_registry_states_read_as_sip_states(state: str, reason: str | None, expected: str) -> None:
    assert sip.sip_state(state, reason) == expected


def test_each_verb_works_in_its_states_only() -> None:
    allowed = {
        (verb, state)
        for verb in sip.VERBS
        for state in ("incoming", "accepted", "rejected", "referred", "ended")
        if sip.wrong_state(verb, "rtc_1", state) is None  # type: ignore[arg-type]
    }
    assert allowed == {("accept", "incoming"), ("reject", "incoming"), ("refer", "accepted")}
    live = sip.wrong_state("accept", "rtc_1", "accepted")
    assert live is not None
    assert live.code == "call_state_invalid"
    assert live.message == (
        "Cannot accept call 'rtc_1': it is accepted (in progress). Accept works on incoming calls."
    )
    ended = sip.wrong_state("refer", "rtc_1", "rejected")
    assert ended is not None
    assert ended.code == "call_not_active"


def test_bodies_are_validated_against_the_spec() -> None:
    body, finding = sip.parse_body("accept", b'{"type": "realtime", "instructions": "Hi."}')
    assert (body, finding) == ({"type": "realtime", "instructions": "Hi."}, None)
    _, finding = sip.parse_body("accept", b'{"type": "realtime", "voice": "marin"}')
    assert finding is not None
    assert (finding.code, finding.param) == ("unknown_parameter", "voice")  # GA: audio.output
    _, finding = sip.parse_body("accept", b"")
    assert finding is not None
    assert finding.code == "missing_required_parameter"
    assert "takes a JSON body" in finding.message
    _, finding = sip.parse_body("accept", b'{"type": "transcription"}')
    assert finding is not None
    assert finding.param == "type"
    assert sip.parse_body("reject", b"") == ({}, None)
    assert sip.parse_body("reject", b'{"status_code": 486}') == ({"status_code": 486}, None)
    _, finding = sip.parse_body("reject", b'{"status_code": 486, "reason": "busy"}')
    assert finding is not None
    assert (finding.code, finding.param) == ("unknown_parameter", "reason")
    _, finding = sip.parse_body("refer", b"{}")
    assert finding is not None
    assert finding.param == "target_uri"
    _, finding = sip.parse_body("refer", b"{not json")
    assert finding is not None
    assert finding.message.startswith("We could not parse the JSON body")


def test_an_accepted_call_speaks_g711_mu_law_unless_the_body_says_otherwise() -> None:
    session = sip.call_session({"type": "realtime"})
    assert session["model"] == "gpt-realtime"
    assert session["audio"]["input"]["format"] == {"type": "audio/pcmu"}
    assert session["audio"]["output"]["format"] == {"type": "audio/pcmu"}
    chosen = sip.call_session(
        {
            "type": "realtime",
            "model": "gpt-realtime-mini",
            "audio": {"input": {"format": {"type": "audio/pcma"}}, "output": {"voice": "marin"}},
        }
    )
    assert chosen["model"] == "gpt-realtime-mini"
    assert chosen["audio"]["input"]["format"] == {"type": "audio/pcma"}
    assert chosen["audio"]["output"] == {"voice": "marin", "format": {"type": "audio/pcmu"}}


def test_the_webhook_body_is_the_spec_event_the_sdk_parses() -> None:
    headers = sip.default_sip_headers("rtc_" + "ab" * 16)
    event = sip.incoming_event("rtc_x", headers, event_id="evt_1", created_at=1750287018)
    assert event == {
        "object": "event",
        "id": "evt_1",
        "type": "realtime.call.incoming",
        "created_at": 1750287018,
        "data": {"call_id": "rtc_x", "sip_headers": headers},
    }
    model = RealtimeCallIncomingWebhookEvent.model_validate(json.loads(json.dumps(event)))
    assert [h.name for h in model.data.sip_headers][:3] == ["From", "To", "Call-ID"]
    assert headers[2]["value"] == "ab" * 16 + "@mock.sip.example.com"


def test_ids_have_the_live_shapes() -> None:
    call_id, event_id = sip.new_call_id(), sip.new_event_id()
    assert call_id.startswith("rtc_")
    assert len(call_id) == 36
    assert event_id.startswith("evt_")
    assert len(event_id) == 36
    assert sip.new_call_id() != call_id


def test_sip_headers_are_checked_and_a_mapping_keeps_its_order() -> None:
    assert sip.check_sip_headers({"From": "a", "X-Id": "1"}) == [
        {"name": "From", "value": "a"},
        {"name": "X-Id", "value": "1"},
    ]
    for bad in (
        "From: a",
        [{"name": "From"}],
        [{"name": "", "value": "x"}],
        [{"name": 1, "value": "x"}],
    ):
        with pytest.raises(ValueError, match="sip_headers"):
            sip.check_sip_headers(bad)


def test_a_scenario_carries_its_sip_headers_in_order() -> None:
    names = [name for name, _ in load_scenario("sip-basic").sip_headers]
    assert names == ["From", "To", "Call-ID", "CSeq", "X-Customer-Id", "X-Campaign"]


def test_in_process_call_control_says_it_needs_a_running_server() -> None:
    from mock_server.rest import HttpRequest, RestHandler

    handler = RestHandler()  # what the respx router answers with: no calls
    auth = (("Authorization", "Bearer sk-test"),)
    accept = handler.handle(
        HttpRequest("POST", "/v1/realtime/calls/rtc_1/accept", auth, b'{"type": "realtime"}')
    )
    assert accept.status == 501
    assert "needs a running mock server" in accept.json["error"]["message"]
    assert "/mock/sip/incoming" in accept.json["error"]["message"]
    ring = handler.handle(HttpRequest("POST", "/mock/sip/incoming"))
    assert ring.status == 404  # only a server rings calls
