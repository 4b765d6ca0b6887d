"""The `tolerant` case: the client's fatal mistakes no longer hide its other bugs.

The mock side runs in memory (virtual clock); the runner side runs real client
processes against real mocks on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from typing import Any

import pytest
from websockets.asyncio.client import connect

from conformance._cli_run import file_cases, serve_mock
from conformance.cli import main
from conformance.runner import TOLERANT_CASE, TOLERANT_CASE_ID, RunConfig, run_suite
from conformance.transport import Closed
from mock_server.app import TOLERANT_HOLD_MS
from mock_server.cli import TOLERANT_NOTICE
from tests.mock_server.app_harness import KEY, image_item, open_app, png_bytes

from .support import BROKEN, REFERENCE, cases, checks_of, read_json, suite

BETA = [("Authorization", f"Bearer {KEY}"), ("OpenAI-Beta", "realtime=v1")]
BETA_SESSION = {"type": "session.update", "session": {"modalities": ["text"], "voice": "alloy"}}


def frames(wire: Any) -> list[dict[str, Any] | Closed | None]:
    """Every server frame until nothing more comes (bounded, on the virtual clock)."""
    seen: list[dict[str, Any] | Closed | None] = []
    while True:
        event = wire.recv_event(within_ms=1_000)
        if not isinstance(event, dict):
            return [*seen, event]
        seen.append(event)


# --- the mock -------------------------------------------------------------------------


def test_a_strict_mock_closes_on_the_beta_header() -> None:
    _, wire = open_app(headers=BETA)
    error, closed = frames(wire)[:2]
    assert isinstance(error, dict)
    assert error["error"]["code"] == "beta_api_shape_disabled"
    assert closed == Closed(4000, "invalid_request_error.beta_api_shape_disabled")


def test_a_tolerant_mock_records_the_beta_header_and_the_missing_model_and_goes_on() -> None:
    app, wire = open_app("/v1/realtime", headers=BETA, tolerant=True)
    created = wire.recv_event()
    assert isinstance(created, dict)
    assert created["type"] == "session.created"
    assert created["session"]["model"] == "gpt-realtime-1.5"
    meta = app.transcript.meta
    assert meta["tolerant"] is True
    assert [(t["code"], t["close_code"]) for t in meta["tolerated"]] == [
        ("beta_api_shape_disabled", 4000),
        ("missing_model", 4000),
    ]
    # the upgrade request is kept as it was, so the handshake checks judge it
    assert ["OpenAI-Beta", "realtime=v1"] in [list(h) for h in meta["headers"]]
    assert meta["query"] == {}
    assert not isinstance(wire.recv(within_ms=1_000), Closed)


def test_session_created_is_held_so_an_early_event_shows_and_is_answered_after_it() -> None:
    app, wire = open_app(tolerant=True)
    wire.send(BETA_SESSION)  # the client did not wait for session.created
    created, error, nothing = frames(wire)
    assert isinstance(created, dict)
    assert created["type"] == "session.created"
    # non-fatal mistakes keep their live error, so the checks of those still fire
    assert isinstance(error, dict)
    assert error["error"]["code"] == "missing_required_parameter"
    assert nothing is None
    records = [(r.direction, r.event_type, r.t_ms) for r in app.transcript.records]
    assert records == [
        ("client", "session.update", 0.0),
        ("server", "session.created", TOLERANT_HOLD_MS),
        ("server", "error", TOLERANT_HOLD_MS),
    ]


def test_an_image_without_image_url_still_gets_its_live_error() -> None:
    _, wire = open_app(headers=BETA, tolerant=True)
    wire.recv_event()
    part = {"type": "input_image", "image": "aGVsbG8="}
    item = {"type": "message", "role": "user", "content": [part]}
    wire.send({"type": "conversation.item.create", "item": item})
    error = wire.recv_event()
    assert isinstance(error, dict)
    assert error["type"] == "error"
    assert error["error"]["param"] == "item.content[0].image"


def test_a_tolerant_mock_serves_a_correct_client_as_usual() -> None:
    _, wire = open_app(tolerant=True)
    assert wire.recv_event(within_ms=TOLERANT_HOLD_MS - 1) is None  # held
    created = wire.recv_event()
    assert isinstance(created, dict)
    assert created["type"] == "session.created"
    wire.send({"type": "conversation.item.create", "item": image_item(png_bytes())})
    wire.send({"type": "response.create"})
    events = wire.events_until(lambda e: e.get("type") == "response.done")
    assert events[-1]["response"]["status"] == "completed"
    assert "error" not in [e["type"] for e in events]


# --- the runner -------------------------------------------------------------------------


def test_every_run_has_the_tolerant_case_right_after_default(capsys) -> None:
    assert [c.id for c in cases("*")[:2]] == ["default", TOLERANT_CASE_ID]
    assert cases("tolerant") == [TOLERANT_CASE]
    assert [c.id for c in cases("default,tolerant,beta-header-rejected")] == [
        "default",
        "tolerant",
        "beta-header-rejected",
    ]
    assert main(["run", "--list-cases"]) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith("tolerant  ")


# The default broken client: beta-header, early-event, beta-session, image-field and
# swallow-errors. Strictly judged, the beta header closes every connection at once.
DEFAULT_BUGS_FOUND = {
    "does_not_send_beta_header",  # beta-header
    "waits_for_session_created",  # early-event
    "client_event_matches_schema",  # beta-session (and image-field)
    "images_are_input_image_data_urls",  # image-field
    "surfaces_error_event",  # swallow-errors
}


async def test_the_tolerant_case_alone_lists_every_bug_of_the_broken_client(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "BROKEN_CLIENT_BUG"}
    (result,) = (await suite(BROKEN, tmp_path, "tolerant", env=env)).results
    assert str(result.verdict) == "FAILED"
    assert checks_of(result) >= DEFAULT_BUGS_FOUND, checks_of(result)
    assert len(result.transcripts) == 1  # accepted at once: no quiet retry without the header


SIX_BUGS = "beta-header,early-event,beta-session,image-field,swallow-errors,beta-event-names"


async def test_the_five_hud_bugs_are_listed_in_one_run(tmp_path, capsys) -> None:
    """The issue's client: beta header, beta session on open, `image`, beta names, swallowing."""
    env = {**os.environ, "BROKEN_CLIENT_BUG": SIX_BUGS}
    (result,) = (await suite(BROKEN, tmp_path / "suite", "tolerant", env=env)).results
    found = checks_of(result)
    assert {*DEFAULT_BUGS_FOUND, "delivers_reply"} <= found, found
    # the rename bug alone is caught there too, by delivers_reply
    env = {**os.environ, "BROKEN_CLIENT_BUG": "beta-event-names"}
    (renamed,) = (await suite(BROKEN, tmp_path / "renamed", "tolerant", env=env)).results
    assert checks_of(renamed) == {"delivers_reply"}


def test_run_ends_with_every_bug_once_with_its_cases(tmp_path, capsys) -> None:
    out_dir = tmp_path / "out"
    argv = ["run", "--client", BROKEN, "--cases", "default,tolerant,beta-header-rejected"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BROKEN_CLIENT_BUG", SIX_BUGS)
        assert main([*argv, "--out", str(out_dir), "--jobs", "2"]) == 1
    out = capsys.readouterr().out
    summary = out[out.index("What the checks found") :]
    for name in (*DEFAULT_BUGS_FOUND, "delivers_reply"):
        assert f"] {name}: " in summary, name
    assert "beta header sent — 3 cases: default, tolerant, beta-header-rejected" in summary
    assert "client sent before session.created — 1 case: tolerant" in summary
    tolerant = read_json(out_dir / "report.json")["cases"][1]
    assert tolerant["id"] == "tolerant"


async def test_the_reference_client_passes_the_tolerant_case(tmp_path) -> None:
    (result,) = (await suite(REFERENCE, tmp_path, "tolerant")).results
    assert str(result.verdict) == "OK", [str(v) for v in result.violations]


async def test_a_scenario_file_can_switch_tolerance_on(tmp_path) -> None:
    scenario = tmp_path / "beta-tolerated.yaml"
    scenario.write_text(
        "id: beta-tolerated\nsummary: s\ndescription: d\nconfig: {tolerant: true}\n"
        "expect: {client: [does_not_send_beta_header], summary: s}\n",
        encoding="utf-8",
    )
    env = {**os.environ, "BROKEN_CLIENT_BUG": "beta-header"}
    config = RunConfig(client=BROKEN, out_dir=tmp_path / "out", env=env)
    (result,) = (await run_suite(file_cases([scenario]), config, mock=serve_mock)).results
    assert checks_of(result) == {"does_not_send_beta_header"}
    (transcript,) = result.transcripts  # accepted: no close 4000, no retry
    assert transcript.meta["tolerated"][0]["code"] == "beta_api_shape_disabled"


async def test_realtime_mock_serve_tolerant_says_so_and_accepts_the_beta_header() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mock_server", "serve", "--port", "0", "--tolerant",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    assert process.stderr is not None
    try:
        async with asyncio.timeout(20):
            url = re.search(r"ws://\S+/v1/realtime", (await process.stdout.readline()).decode())
            assert url is not None
            assert TOLERANT_NOTICE in (await process.stderr.readline()).decode()
            headers = {"Authorization": "Bearer sk-any", "OpenAI-Beta": "realtime=v1"}
            async with connect(url.group(0), additional_headers=headers) as ws:
                created = json.loads(await ws.recv())
        assert created["type"] == "session.created"
        assert created["session"]["model"] == "gpt-realtime-1.5"
    finally:
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(20):
            await process.wait()
