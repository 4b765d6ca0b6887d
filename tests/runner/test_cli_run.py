"""`realtime-conformance run` end to end: real client processes against real mocks."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from conformance.cli import main
from mock_server.scenarios import builtin_scenarios

from .support import BROKEN, BROKEN_FINDINGS, CASES, REFERENCE, ROOT, read_json


def test_broken_client_fails_with_the_expected_findings(tmp_path, capsys):
    junit = tmp_path / "junit.xml"
    args = ["--cases", CASES, "--jobs", "2", "--out", str(tmp_path), "--junit", str(junit)]
    status = main(["run", "--client", BROKEN, *args])
    out, err = capsys.readouterr()
    assert status == 1
    report = read_json(tmp_path / "report.json")
    by_case = {case["id"]: case for case in report["cases"]}
    assert list(by_case) == ["default", "beta-header-rejected", "session-updated-delayed"]
    for case_id, expected in BROKEN_FINDINGS.items():
        case = by_case[case_id]
        assert case["verdict"] == "FAILED"
        assert expected <= {v["check"] for v in case["violations"]}, case_id
    assert "beta header sent" in out
    assert "[3/3]" in err
    assert (tmp_path / "report.html").read_text().startswith("<!doctype html>")
    suite = ET.parse(junit).getroot()
    assert suite.find(".//failure") is not None


def test_reference_client_passes_the_same_cases(tmp_path, capsys):
    html = tmp_path / "elsewhere" / "r.html"
    args = ["--cases", CASES, "--out", str(tmp_path / "out"), "--html", str(html)]
    status = main(["run", "--client", REFERENCE, *args, "--json", str(tmp_path / "r.json")])
    out, _ = capsys.readouterr()
    assert status == 0, out
    report = read_json(tmp_path / "r.json")
    assert [case["verdict"] for case in report["cases"]] == ["OK", "OK", "OK"]
    assert html.is_file()
    assert "3 cases: 3 OK (0 violations)" in out
    transcripts = sorted((tmp_path / "out" / "cases" / "default").glob("connection-*.jsonl"))
    assert [p.name for p in transcripts] == ["connection-0.jsonl"]


def test_unknown_case_gets_a_did_you_mean(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status = main(["run", "--client", "true", "--cases", "beta-header-rejectd"])
    err = capsys.readouterr().err
    assert status == 2
    assert "did you mean 'beta-header-rejected'?" in err
    assert not (tmp_path / "realtime-conformance-report").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run"], "give the client command"),
        (["run", "--client", "true", "--checks", "no_such_check"], "unknown check"),
        (["run", "--client", "true", "--jobs", "0"], "jobs 0 must be at least 1"),
        (["run", "--client", "true", "--timeout", "0"], "positive number of seconds"),
        (["run", "--client", "true", "--cases", "zzz*"], "no case matches 'zzz*'"),
    ],
)
def test_usage_errors_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # nothing ran, nothing written


def test_list_cases(capsys):
    assert main(["run", "--list-cases"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("default ")
    assert lines[1].startswith("tolerant ")
    assert len(lines) == len(builtin_scenarios()) + 2
    assert any(line.startswith("stalled-stream ") for line in lines)


REGRESSIONS = ROOT / "fixtures" / "regressions"
UNKNOWN_EVENT = REGRESSIONS / "fuzz-644490adec.yaml"


def test_scenario_files_replace_the_catalog_and_judge_with_their_expectations(tmp_path, capsys):
    status = main(["run", "--client", REFERENCE, "--scenario", str(REGRESSIONS), *_out(tmp_path)])
    assert status == 0, capsys.readouterr().out
    ids = [case["id"] for case in read_json(tmp_path / "report.json")["cases"]]
    assert ids == sorted(p.stem for p in REGRESSIONS.glob("*.yaml"))


def test_a_fuzz_regression_still_catches_the_bug_it_was_found_with(tmp_path, capsys):
    client = f"BROKEN_CLIENT_BUG=unknown-event {BROKEN}"
    status = main(["run", "--client", client, "--scenario", str(UNKNOWN_EVENT), *_out(tmp_path)])
    assert status == 1
    [case] = read_json(tmp_path / "report.json")["cases"]
    assert "succeeds_when_the_server_does" in {v["check"] for v in case["violations"]}


def test_list_cases_shows_the_scenario_files(capsys):
    assert main(["run", "--list-cases", "--scenario", str(UNKNOWN_EVENT)]) == 0
    assert capsys.readouterr().out.startswith("fuzz-644490adec  Fuzzed stream")


def test_bad_scenario_paths_and_files_are_usage_errors(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    typo = tmp_path / "typo.yaml"
    typo.write_text(
        UNKNOWN_EVENT.read_text().replace("inject_unknown_event", "inject_unknwn_event")
    )
    for path, message in [
        (tmp_path / "nope.yaml", "no such file or folder"),
        (tmp_path / "empty", "no *.yaml scenario files"),
        (typo, "typo.yaml:"),
    ]:
        assert main(["run", "--client", "true", "--scenario", str(path)]) == 2
        assert message in capsys.readouterr().err
    assert "did you mean 'inject_unknown_event'" in _last_err(typo, capsys)


def _last_err(path, capsys):
    main(["run", "--client", "true", "--scenario", str(path)])
    return capsys.readouterr().err


def _out(tmp_path):
    return ["--out", str(tmp_path), "--jobs", "2"]
