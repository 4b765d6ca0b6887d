"""Which cases `realtime-conformance run --webrtc` runs: only those a WebRTC call can play.

A scenario that acts on the WebSocket upgrade (it refuses it, or its stimulus is in the
upgrade request: a beta header, a wrong key, a bad `?model=`) has nothing to act on in a
call (`POST /v1/realtime/calls`): run over WebRTC it would play the happy path and say OK
having tested nothing. Such cases are not run; the console and the JSON report name
them, and `--cases` naming one is refused with the reason. What runs is still judged: the
reference client is OK, a client with a bug FAILS.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conformance import _cli_run
from conformance.cli import main
from conformance.protocol.errors import UsageError
from conformance.runner.cases import TOLERANT_CASE_ID, TOLERANT_WEBRTC_SUMMARY, webrtc_pool
from conformance.transcript import TRANSCRIPT_MAX_BYTES
from mock_server import serve
from mock_server._webrtc import AVAILABLE as WEBRTC_AVAILABLE
from mock_server.scenarios import builtin_scenarios, load_scenario

from .support import REFERENCE, read_json, script

# The built-in realtime scenarios that act on the upgrade (translation ones are never
# realtime cases): a refused upgrade, or a stimulus in the upgrade request.
UPGRADE_ONLY = {
    "beta-header-rejected",
    "ephemeral-key-rejected",
    "invalid-api-key",
    "missing-model",
    "no-realtime-access",
    "transcription-model-rejected",
    "unknown-model",
}


def _fast_mock(**kwargs: Any) -> Any:
    """`run`'s mock at pace fast (the tests need speed, not live-like latency)."""
    return serve(
        host="127.0.0.1",
        port=0,
        pace="fast",
        transcript_max_bytes=TRANSCRIPT_MAX_BYTES,
        **kwargs,
    )


@pytest.fixture
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_cli_run, "serve_mock", _fast_mock)


def test_the_upgrade_only_scenarios_are_derived_from_their_content() -> None:
    realtime = [s for s in builtin_scenarios() if not s.translation]
    assert {s.id for s in realtime if not s.applies_to_webrtc} == UPGRADE_ONLY
    assert all(not s.applies_to_webrtc for s in builtin_scenarios() if s.translation)
    reasons = {s.id: s.upgrade_only for s in realtime}
    assert reasons["no-realtime-access"] == "it refuses the upgrade with HTTP 403"
    assert "upgrade request" in str(reasons["beta-header-rejected"])
    # Rules that fire before session.created do happen on a call (error, then it ends).
    assert reasons["retired-model"] is None


def test_a_user_scenario_with_keys_or_handshake_expectations_is_upgrade_only(
    tmp_path: Path,
) -> None:
    base = (
        "id: {id}\nsummary: s\ndescription: d\nexpect:\n  client: [{expect}]\n  summary: s\n{extra}"
    )
    cases = {
        "keys": ("surfaces_error_event", "config:\n  api_keys: [sk-mock-only-this-key-00001]\n"),
        "expects": ("surfaces_handshake_failure", ""),
        "plain": ("surfaces_error_event", ""),
        # A call's transcript records its POST /calls headers: this check judges calls too.
        "beta": ("does_not_send_beta_header", ""),
    }
    applies = {}
    for name, (expect, extra) in cases.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(base.format(id=name, expect=expect, extra=extra), encoding="utf-8")
        applies[name] = load_scenario(path).upgrade_only
    assert applies["plain"] is None
    assert applies["beta"] is None
    assert applies["keys"] == "its config (api_keys) is read by the upgrade's key check"
    assert applies["expects"] == "it expects surfaces_handshake_failure, judged on the upgrade"


def test_naming_an_upgrade_only_case_is_refused_with_the_reason(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = main(["run", "--webrtc", "--client", "true", "--cases", "default,invalid-api-key"])
    err = capsys.readouterr().err.strip()
    assert status == 2
    assert len(err.splitlines()) == 1
    assert "'invalid-api-key' does not run over WebRTC" in err
    assert "has no WebSocket upgrade (run it without --webrtc)" in err


def test_a_glob_leaves_them_out_and_the_tolerant_case_says_what_it_still_does() -> None:
    cases = _cli_run.builtin_cases()
    run, not_run = webrtc_pool(cases, "*")
    assert {c.id for c in not_run} == UPGRADE_ONLY
    assert not {c.id for c in run} & UPGRADE_ONLY
    tolerant = next(c for c in run if c.id == TOLERANT_CASE_ID)
    assert tolerant.summary == TOLERANT_WEBRTC_SUMMARY
    chosen = [c for c in cases if c.id in {"invalid-api-key", "unknown-model"}]
    with pytest.raises(UsageError, match="none of the chosen cases runs over WebRTC"):
        webrtc_pool(chosen, "invalid-*,unknown-*")


# --- real calls (aiortc on both sides, ICE on 127.0.0.1) ---

webrtc = pytest.mark.skipif(
    not WEBRTC_AVAILABLE, reason="the webrtc extra (aiortc) is not installed"
)

# The cases around the upgrade that a call can play (an error and close before
# session.created, a bad model reported late, a quota close, the held session.created),
# with globs that also match upgrade-only ones.
APPLICABLE = "default,tolerant,retired-model,model-not-found-late,quota-*,*-model,invalid-*"


@webrtc
@pytest.mark.integration
@pytest.mark.usefixtures("fast")
def test_the_reference_client_is_ok_and_upgrade_only_cases_are_listed_not_ok(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--cases", APPLICABLE, "--jobs", "2", "--out", str(tmp_path), "--timeout", "20"]
    status = main(["run", "--webrtc", "--client", REFERENCE, *args])
    out, err = capsys.readouterr()
    assert status == 0, out + err
    listed = [line for line in err.splitlines() if line.startswith("not run over WebRTC:")]
    assert listed == [
        "not run over WebRTC: invalid-api-key, missing-model, unknown-model (they act on "
        "the WebSocket upgrade, which a WebRTC call does not have; run them without --webrtc)"
    ]
    report = read_json(tmp_path / "report.json")
    verdicts = {case["id"]: case["verdict"] for case in report["cases"]}
    ran = ["default", "tolerant", "model-not-found-late", "quota-closes-after-connect"]
    assert verdicts == dict.fromkeys([*ran, "retired-model"], "OK")
    not_run = {entry["id"]: entry["reason"] for entry in report["not_run"]}
    assert set(not_run) == {
        "invalid-api-key",
        "missing-model",
        "unknown-model",
    }
    assert all(reason.startswith("not run over WebRTC: ") for reason in not_run.values())
    assert not any((tmp_path / "cases" / case).exists() for case in not_run)
    for case in verdicts:  # every case that ran was a call
        metas = [read_json_line(path) for path in (tmp_path / "cases" / case).glob("connection-*")]
        assert metas, case
        assert {m.get("transport") for m in metas} == {"webrtc"}, case


def read_json_line(path: Path) -> dict[str, Any]:
    """The first line of a JSONL file (a transcript's meta)."""
    with path.open(encoding="utf-8") as file:
        return dict(json.loads(file.readline()))


# A client that connects over WebRTC and sends a beta-shaped session.update on the data
# channel (`modalities` is the beta's name: GA says `output_modalities`), then exits 0.
BETA_SHAPE_CLIENT = """
import asyncio, json, os
from client_reference.webrtc import connect_webrtc

async def main():
    conn = await connect_webrtc(
        os.environ["OPENAI_REALTIME_URL"],
        api_key=os.environ["OPENAI_API_KEY"],
        model=os.environ["REALTIME_MODEL"],
        audio=False,
    )
    first = await conn.recv(timeout=10)
    assert first["type"] == "session.created", first
    conn._channel.send(json.dumps({"type": "session.update", "session": {"modalities": ["text"]}}))
    await conn.recv(timeout=10)  # the server's answer: an error
    await conn.close()

asyncio.run(main())
"""


@webrtc
@pytest.mark.integration
@pytest.mark.usefixtures("fast")
def test_a_client_bug_over_webrtc_still_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command = script(tmp_path, "beta_shape.py", BETA_SHAPE_CLIENT)
    out_dir = tmp_path / "out"
    args = ["--cases", "default", "--out", str(out_dir), "--timeout", "20"]
    status = main(["run", "--webrtc", "--client", command, *args])
    out, err = capsys.readouterr()
    assert status == 1, out + err
    report = read_json(out_dir / "report.json")
    (case,) = report["cases"]
    assert case["verdict"] == "FAILED"
    assert "client_event_matches_schema" in {v["check"] for v in case["violations"]}
    assert report["not_run"] == []
