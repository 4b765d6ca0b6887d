"""`scenario-from`: a recording of the mock playing a built-in scenario gives a scenario
file that, on the mock, makes the server do the same again (close code and reason, the
error after the same number of deltas, the stall); hand-written recordings cover the rest."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conformance._cli_replay import replay_on_mock
from conformance.replay import server_event_types
from conformance.scenario_from import derive_scenario
from conformance.transcript import Transcript, read_jsonl
from mock_server.scenarios import load_scenario, load_text

from .helpers import WAIT, made, notes_session

SESSION = {"type": "session.created", "session": {"id": "sess_live123"}}
CREATE = {"type": "response.create", "event_id": "evt_1"}


def scenario_from(*args: str) -> subprocess.CompletedProcess[str]:
    """`realtime-conformance scenario-from ARGS` as a process, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "conformance", "scenario-from", *args],
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )


def derive(tmp: Path, recording: Path, name: str) -> tuple[Path, str]:
    """Run the documented command; the scenario file and the stderr."""
    target = tmp / f"{name}.yaml"
    done = scenario_from(str(recording), "-o", str(target))
    assert done.returncode == 0, done.stderr
    load_scenario(target)  # the schema and the loader's checks
    return target, done.stderr


def deltas_before(transcript: Transcript, kind: str) -> int:
    types = server_event_types(transcript)
    at = next(i for i, t in enumerate(types) if t.startswith(kind))
    return sum(1 for t in types[:at] if t.endswith(".delta"))


def error_of(transcript: Transcript) -> dict[str, object]:
    (event,) = [r.event for r in transcript.server_events() if r.event_type == "error"]
    assert event is not None
    error = dict(event["error"])
    error["message"] = str(error["message"]).replace(transcript.meta["session_id"], "SESSION")
    return error


@pytest.mark.integration
async def test_a_close_at_connect_is_reproduced_from_its_recording(tmp_path: Path) -> None:
    recording = await notes_session(tmp_path, "accepted-then-closed")
    scenario, err = derive(tmp_path, recording, "closed-at-once")
    assert "reproduces close 1000 before session.created" in err
    # The client side of the recording, played against the derived scenario.
    result = await replay_on_mock(recording, scenario=str(scenario))
    assert server_event_types(result.transcript) == ["close 1000"]
    assert server_event_types(result.transcript) == server_event_types(read_jsonl(recording))


@pytest.mark.integration
async def test_an_error_after_three_deltas_is_reproduced_from_its_recording(
    tmp_path: Path,
) -> None:
    recording = await notes_session(tmp_path, "server-error-mid-response")
    recorded = read_jsonl(recording)
    scenario, err = derive(tmp_path, recording, "error-mid-reply")
    assert "reproduces error server_error after 3 delta(s) of response 1" in err
    assert "{session_id}" in scenario.read_text()  # not the recorded sess_ id
    # A client of its own against the derived scenario: realtime-notes again.
    (tmp_path / "again").mkdir()
    again = await notes_session(tmp_path / "again", str(scenario))
    replayed = read_jsonl(again)
    assert deltas_before(replayed, "error") == deltas_before(recorded, "error") == 3
    assert error_of(replayed) == error_of(recorded)
    assert server_event_types(replayed)[-1] == "close 1011 server_error"
    assert server_event_types(replayed) == server_event_types(recorded)


@pytest.mark.integration
async def test_a_stall_is_reproduced_from_its_recording(tmp_path: Path) -> None:
    recording = await notes_session(tmp_path, "stalled-stream")
    scenario, err = derive(tmp_path, recording, "stalled")
    assert "reproduces silence after 3 delta(s) of response 1" in err
    result = await replay_on_mock(recording, scenario=str(scenario), end_timeout=1)
    assert server_event_types(result.transcript) == server_event_types(read_jsonl(recording))


@pytest.mark.integration
def test_the_derived_file_runs_as_a_runner_case(tmp_path: Path) -> None:
    recording = made(
        {},
        ("server", 20, SESSION),
        ("server", 30, ("close", 4000, "quota exceeded for sess_live123")),
    )
    (tmp_path / "rec.jsonl").write_text(recording.to_jsonl())
    scenario, _ = derive(tmp_path, tmp_path / "rec.jsonl", "closed-after-created")
    text = scenario.read_text()
    assert "reason: quota exceeded for {session_id}" in text
    client = f"{sys.executable} -m client_reference.cli --timeout 3 $REALTIME_SCREENSHOT"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "conformance",
            "run",
            "--client",
            client,
            "--scenario",
            str(scenario),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    assert "closed-after-created" in done.stdout, done.stdout + done.stderr
    assert done.returncode in (0, 1), done.stderr  # judged (not a usage error)


def test_a_handshake_refusal_becomes_an_upgrade_answer() -> None:
    derived = derive_scenario(made({}, ("server", 3, ("rejected", 403, ""))), scenario_id="refused")
    assert derived.data["upgrade"] == {"status": 403, "body": ""}
    assert "surfaces_handshake_failure" in derived.data["expect"]["client"]
    load_text(derived.to_yaml(), stem="refused")


def test_rules_go_where_the_recorded_behaviour_happened() -> None:
    delta = {"type": "response.output_text.delta", "delta": "word "}
    derived = derive_scenario(
        made(
            {},
            ("server", 1500, SESSION),  # late
            ("client", 1600, CREATE),
            ("server", 1601, {"type": "response.created"}),
            *[("server", 1602 + i, delta) for i in range(5)],
            ("server", 1620, {"type": "rate_limits.updated"}),
            ("server", 1621, {"type": "response.future.delta_kind"}),
            ("server", 4000, delta),  # a 2.4 s pause mid-response
            ("server", 4001, "drop"),
        ),
        scenario_id="live-incident",
    )
    rules = derived.data["rules"]
    assert rules[0]["do"][0]["reply_text"]["text"].split()[:6] == ["word"] * 5 + ["The"]
    whens = [r["when"] for r in rules[1:]]
    assert whens == [
        {"on": "connect", "phase": "before_session_created"},
        {"on": "deltas", "count": 5},
        {"on": "deltas", "count": 6},
    ]
    assert [r["do"] for r in rules[1:]] == [
        [{"delay_next": {"ms": 1500, "types": ["session.created"]}}],
        [{"hold_response": {"max_ms": 2379}}],
        [{"drop": {}}],
    ]
    assert any("response.future.delta_kind" in u for u in derived.unmapped)
    text = derived.to_yaml()
    assert "# Not reproduced" in text
    assert "response.future.delta_kind" in text
    load_text(text, stem="live-incident")


def test_errors_answering_client_events_are_left_to_the_mock() -> None:
    answer = {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "code": "x",
            "message": "m",
            "event_id": "evt_1",
        },
    }
    derived = derive_scenario(
        made({}, ("server", 1, SESSION), ("client", 2, CREATE), ("server", 3, answer)),
        scenario_id="answered",
    )
    assert "rules" not in derived.data
    assert derived.default
    assert "evt_1" in derived.default[0]
    load_text(derived.to_yaml(), stem="answered")


def test_an_unanswered_request_and_an_unsendable_close_are_reported() -> None:
    derived = derive_scenario(
        made(
            {},
            ("server", 1, SESSION),
            ("client", 2, CREATE),
            ("client", 5000, ("close", 1000, "")),
        ),
        scenario_id="no-answer",
    )
    assert derived.data["rules"] == [
        {
            "when": {"on": "client_event", "match": {"type": "response.create"}},
            "do": [{"consume": {}}],
        }
    ]
    odd = derive_scenario(
        made({}, ("server", 1, SESSION), ("server", 2, ("close", 1005, ""))), scenario_id="odd"
    )
    assert odd.unmapped == [
        "a close frame with code 1005 after session.created (a scenario cannot send it)"
    ]


def test_the_cli_refuses_a_file_name_that_is_no_scenario_id(tmp_path: Path) -> None:
    (tmp_path / "rec.jsonl").write_text(made({}, ("server", 1, SESSION)).to_jsonl())
    done = scenario_from(str(tmp_path / "rec.jsonl"), "-o", str(tmp_path / "My Bug.yaml"))
    assert done.returncode == 2
    assert "lower-case words joined by '-'" in done.stderr
    to_stdout = scenario_from(str(tmp_path / "rec.jsonl"))
    assert to_stdout.returncode == 0
    assert "id: rec\n" in to_stdout.stdout
    assert "did nothing the mock does not do by default" in to_stdout.stderr
