"""`realtime-conformance run --webrtc`: the client is told to connect over WebRTC
(`REALTIME_TRANSPORT=webrtc`), each case's mock answers `POST /v1/realtime/calls`, and the
checks judge the call's transcript (recorded with `transport: webrtc`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance.cli import main

from .support import PYTHON, REFERENCE, read_json

pytest.importorskip("aiortc", reason="the webrtc extra (aiortc) is not installed")

pytestmark = pytest.mark.integration

# A call that ends normally, one the server ends with an error (session expiry), and one
# the server breaks mid-reply: the same checks judge them as on a WebSocket.
CASES = "default,session-expired,server-error-mid-response"


def _meta(path: object) -> dict[str, object]:
    with open(str(path), encoding="utf-8") as file:
        return dict(json.loads(file.readline()))


def test_the_reference_client_passes_over_webrtc_told_by_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # REFERENCE has no --webrtc flag: $REALTIME_TRANSPORT alone moves it to WebRTC.
    args = ["--cases", CASES, "--jobs", "2", "--out", str(tmp_path), "--timeout", "20"]
    status = main(["run", "--webrtc", "--client", REFERENCE, *args])
    out, err = capsys.readouterr()
    assert status == 0, out + err
    assert "over WebRTC" in err
    report = read_json(tmp_path / "report.json")
    assert [case["verdict"] for case in report["cases"]] == ["OK", "OK", "OK"]
    for case in CASES.split(","):
        transcripts = sorted((tmp_path / "cases" / case).glob("connection-*.jsonl"))
        assert transcripts, case
        metas = [_meta(path) for path in transcripts]
        assert {m.get("transport") for m in metas} == {"webrtc"}, case
        assert all(str(m["query"]["call_id"]).startswith("rtc_") for m in metas)  # type: ignore[index]
    assert "PNG 320x200" in (tmp_path / "cases" / "default" / "stdout.txt").read_text()


def test_the_client_gets_the_transport_in_its_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seen = tmp_path / "seen.txt"
    command = (
        f'echo "$REALTIME_TRANSPORT" > {seen}; '
        f"{PYTHON} -m client_reference.cli "
        '"$REALTIME_SCREENSHOT" --url "$OPENAI_REALTIME_URL" --timeout 10'
    )
    status = main(
        ["run", "--webrtc", "--client", command, "--cases", "default", "--out", str(tmp_path / "o")]
    )
    capsys.readouterr()
    assert status == 0
    assert seen.read_text().strip() == "webrtc"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--live"], "--webrtc does not take --live"),
        (["--translation"], "--webrtc does not take --translation"),
        (["--relay", "node relay.mjs"], "--webrtc does not take --relay"),
    ],
)
def test_options_webrtc_cannot_honour_are_refused(
    extra: list[str], expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["run", "--webrtc", "--client", "true", "--out", str(tmp_path), *extra])
    _, err = capsys.readouterr()
    assert status == 2
    assert expected in err


def test_without_the_extra_run_webrtc_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import mock_server._webrtc

    monkeypatch.setattr(mock_server._webrtc, "AVAILABLE", False)
    status = main(["run", "--webrtc", "--client", "true", "--out", str(tmp_path)])
    _, err = capsys.readouterr()
    assert status == 2
    assert "pip install 'realtime-conformance[webrtc]'" in err
    assert not (tmp_path / "cases").exists()  # refused before any case ran
