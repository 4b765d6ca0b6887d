"""More pins of the mock's own behaviour, found by the mutation run over all of `mock_server/`.

Each test kills mutants that survived the mapped tests (issue 13, point 6; `docs/mutation.md`):
the behaviour is observed from the client's side (the in-memory transport on a virtual
clock), so the tests hold while the code moves.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest

from conformance.transport import InMemoryTransport
from mock_server.responder import Pace

from .app_harness import open_app, text_item, until
from .test_idle_timeout import TIMEOUT_MS, Session, detection, respond

FAST: dict[str, Any] = {"pace": "fast"}
TEXT = {"output_modalities": ["text"]}


def events_of_one_response(
    wire: InMemoryTransport, session: dict[str, Any], text: str
) -> list[Any]:
    wire.recv_event()
    wire.send({"type": "session.update", "session": {"type": "realtime", **session}})
    wire.events_until(until("session.updated"))
    wire.send({"type": "conversation.item.create", "item": text_item(text)})
    wire.send({"type": "response.create"})
    return wire.events_until(until("response.done"), within_ms=60_000)


# --- parallel function calls are off unless asked for ------------------------------------

TOOLS = [
    {"type": "function", "name": name, "parameters": {"type": "object"}}
    for name in ("alpha", "beta", "gamma")
]


@pytest.mark.parametrize(("parallel", "names"), [(None, ["alpha"]), (True, ["alpha", "gamma"])])
def test_a_reasoning_model_calls_one_function_unless_parallel_calls_are_allowed(
    parallel: bool | None, names: list[str]
) -> None:
    session: dict[str, Any] = {"output_modalities": ["text"], "tools": TOOLS}
    if parallel is not None:
        session["parallel_tool_calls"] = parallel
    _, wire = open_app("/v1/realtime?model=gpt-realtime-2", **FAST)
    events = events_of_one_response(wire, session, "please run alpha and gamma")
    output = events[-1]["response"]["output"]
    assert [o["name"] for o in output if o["type"] == "function_call"] == names


# --- an out-of-band response leaves the idle timeout armed -------------------------------


def test_an_out_of_band_response_does_not_disarm_the_idle_timeout() -> None:
    session = Session(output_modalities=["text"], audio={"input": {"turn_detection": detection()}})
    done_at = respond(session)
    session.stream_silence(1000)
    session.send({"type": "response.create", "response": {"conversation": "none"}})
    session.until("response.done")
    session.stream_silence(TIMEOUT_MS + 2000, stop_at="input_audio_buffer.timeout_triggered")
    assert "input_audio_buffer.timeout_triggered" in session.types()
    assert session.events[-1][0] - done_at == pytest.approx(TIMEOUT_MS, abs=100)


# --- a token-rate range is drawn per stream, even with an exact first delta --------------


def test_a_token_rate_range_is_drawn_per_stream_with_an_exact_first_delta() -> None:
    pace = Pace(first_delta_ms=(0.0, 0.0), tokens_per_second=(10.0, 1000.0))
    gaps = {pace.clock(f"resp_{n}").gap_ms(1) for n in range(8)}
    assert len(gaps) == 8  # one rate per stream, from its key
    assert all(1.0 <= gap <= 100.0 for gap in gaps)
    assert pace.clock("resp_0").gap_ms(1) == pace.clock("resp_0").gap_ms(1)  # reproducible


def test_a_first_delta_range_is_drawn_per_stream_with_an_exact_token_rate() -> None:
    pace = Pace(first_delta_ms=(100.0, 900.0), tokens_per_second=(50.0, 50.0))
    firsts = {pace.clock(f"resp_{n}").first_ms for n in range(8)}
    assert len(firsts) == 8
    assert all(100.0 <= first <= 900.0 for first in firsts)
    assert {pace.clock(f"resp_{n}").gap_ms(1) for n in range(3)} == {20.0}


# --- a minted client secret's configuration is where the session starts ------------------


def test_a_client_secrets_session_configuration_is_in_session_created() -> None:
    from mock_server.secrets import secrets_for

    config = {
        "type": "realtime",
        "model": "gpt-realtime",
        "instructions": "Answer in haiku.",
        "output_modalities": ["text"],
    }
    secret = secrets_for("pinned-signing-secret").mint("realtime", config, 4_000_000_000)
    _, wire = open_app(
        "/v1/realtime",
        headers=[("Authorization", f"Bearer {secret}")],
        secret_key="pinned-signing-secret",
        **FAST,
    )
    created = wire.recv_event()
    assert isinstance(created, dict)
    assert created["type"] == "session.created", created
    session = created["session"]
    assert session["instructions"] == "Answer in haiku."
    assert session["output_modalities"] == ["text"]


# --- ids of VAD items, usage of function items, the cache of out-of-band responses -------

LOUD = base64.b64encode(b"\x80\x3e" * 2400).decode()  # 100 ms of PCM16, every sample 16,000
QUIET = base64.b64encode(b"\x00\x00" * 2400).decode()


def test_a_vad_turns_item_id_has_the_item_prefix() -> None:
    _, wire = open_app(**FAST)
    wire.recv_event()
    for chunk in [QUIET] * 3 + [LOUD] * 5 + [QUIET] * 10:
        wire.send({"type": "input_audio_buffer.append", "audio": chunk})
    started = wire.events_until(until("input_audio_buffer.speech_started"))[-1]
    assert re.fullmatch(r"item_[A-Za-z0-9]{21}", started["item_id"]), started["item_id"]


def input_text_tokens(item: dict[str, Any]) -> int:
    _, wire = open_app(**FAST)
    wire.recv_event()
    wire.send({"type": "session.update", "session": {"type": "realtime", **TEXT}})
    wire.events_until(until("session.updated"))
    wire.send({"type": "conversation.item.create", "item": item})
    wire.events_until(until("conversation.item.done"))
    wire.send({"type": "response.create"})
    done = wire.events_until(until("response.done"))[-1]
    return int(done["response"]["usage"]["input_token_details"]["text_tokens"])


def test_a_function_calls_arguments_count_a_token_per_four_characters() -> None:
    def call(arguments: str) -> dict[str, Any]:
        return {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": arguments}

    assert input_text_tokens(call("x" * 400)) - input_text_tokens(call("xxxx")) == 99


def test_an_out_of_band_response_neither_reads_nor_feeds_the_prompt_cache() -> None:
    _, wire = open_app(**FAST)
    wire.recv_event()
    wire.send({"type": "session.update", "session": {"type": "realtime", **TEXT}})
    wire.events_until(until("session.updated"))
    cached = []
    for conversation in ("auto", "none", "auto"):
        wire.send({"type": "conversation.item.create", "item": text_item("words " * 200)})
        wire.events_until(until("conversation.item.done"))
        wire.send({"type": "response.create", "response": {"conversation": conversation}})
        usage = wire.events_until(until("response.done"))[-1]["response"]["usage"]
        cached.append(usage["input_token_details"]["cached_tokens"])
    assert cached[1] == 0  # out of band: no cache read
    assert cached[0] == 0
    assert cached[2] > 0  # the third reads the first's prompt, not the second's


def test_a_prompt_in_session_update_replaces_the_previous_one_whole() -> None:
    _, wire = open_app(**FAST)
    wire.recv_event()
    first = {"id": "pmpt_first", "version": "2", "variables": {"city": "Paris"}}
    for prompt in (first, {"id": "pmpt_second"}):
        wire.send({"type": "session.update", "session": {"type": "realtime", "prompt": prompt}})
        updated = wire.events_until(lambda e: e["type"] in ("session.updated", "error"))[-1]
        assert updated["type"] == "session.updated", updated
    assert updated["session"]["prompt"] == {"id": "pmpt_second"}
