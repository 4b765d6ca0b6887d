"""`realtime-conformance check`: summary, exit status, reports, cases and usage errors."""

from __future__ import annotations

import argparse
import json
import xml.etree.ElementTree as ET

import pytest

from conformance import cli
from conformance.resources import transcripts_dir
from tests.conformance.checks.helpers import paths

GOLDEN = str(transcripts_dir() / "text-turn.jsonl")
SCHEMA = str(transcripts_dir() / "violations" / "client_event_matches_schema.jsonl")
NON_STRICT = str(transcripts_dir() / "violations" / "waits_for_session_updated.jsonl")


def test_a_clean_transcript_exits_zero_and_prints_the_summary(capsys):
    assert cli.main(["check", GOLDEN]) == 0
    out, err = capsys.readouterr()
    assert "text-turn  OK" in out
    assert out.splitlines()[-1].startswith("1 case: 1 OK (0 violations)")
    assert err == "[1/1] text-turn ... OK\n"


def test_a_failed_case_exits_one_and_non_strict_alone_does_not(capsys):
    assert cli.main(["check", NON_STRICT]) == 0
    assert cli.main(["check", GOLDEN, SCHEMA]) == 1
    out = capsys.readouterr().out
    assert "What the checks found (1 distinct finding):" in out  # two cases: grouped
    assert "[FAILED] client_event_matches_schema: client event does not match" in out
    assert "Unknown parameter: 'session.modalities'." in out


def test_checks_can_be_deselected(capsys):
    assert cli.main(["check", SCHEMA, "--checks", "default,-client_event_matches_schema"]) == 0
    assert cli.main(["check", SCHEMA, "--checks", "sends_ga_session_shape"]) == 1


def test_several_files_can_be_the_connections_of_one_case(capsys):
    files = [str(p) for p in paths("violations/retry-after-3000")]
    assert cli.main(["check", *files]) == 0  # two separate cases: no retry to see
    assert cli.main(["check", *files, "--as-case", "retry"]) == 1
    out = capsys.readouterr().out
    assert "retry  FAILED   FAILED" in out
    assert "does_not_reconnect_on_permanent_close" in out


def test_numbered_connection_files_are_named_after_their_folder(capsys):
    files = [str(p) for p in paths("reconnect-backoff")]
    assert cli.main(["check", files[0], "--max-connections", "2"]) == 0
    assert "reconnect-backoff/0 ... NOT JUDGED" in capsys.readouterr().err  # no client run


def test_reports_are_written(tmp_path, capsys):
    junit, report, html = tmp_path / "j.xml", tmp_path / "r.json", tmp_path / "r.html"
    args = ["check", GOLDEN, SCHEMA, "--junit", str(junit), "--json", str(report)]
    assert cli.main([*args, "--html", str(html)]) == 1
    assert ET.parse(junit).getroot().find("testsuite").get("failures") == "1"
    data = json.loads(report.read_text())
    assert [c["id"] for c in data["cases"]] == ["text-turn", "client_event_matches_schema"]
    assert data["cases"][0]["transcripts"] == [GOLDEN]
    assert "session.modalities" in html.read_text()
    assert f"wrote {html}" in capsys.readouterr().err


def test_scenario_expectations_no_check_judges_are_listed(tmp_path, capsys):
    benign = str(transcripts_dir() / "cancel-not-active.jsonl")
    assert cli.main(["check", benign, "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    # surfaces_error_event needs the client's run: on a transcript alone it is not judged
    assert "cancel-not-active: not judged by any check: surfaces_error_event" in out
    assert "1 case: 1 NOT JUDGED (0 violations)" in out
    case = json.loads((tmp_path / "r.json").read_text())["cases"][0]
    assert case["scenario"] == "cancel-not-active"
    assert case["verdict"] == "NOT JUDGED"
    assert case["unjudged_expectations"] == ["surfaces_error_event"]


def test_list_checks_shows_names_help_and_aliases(capsys):
    assert cli.main(["check", "--list-checks"]) == 0
    out = capsys.readouterr().out
    assert "images_are_input_image_data_urls" in out
    assert "Images are input_image parts" in out
    assert "sends_valid_content_parts" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check"], "give at least one TRANSCRIPT.jsonl"),
        (
            ["check", GOLDEN, "--checks", "event_ids_are_uniqe"],
            "did you mean 'event_ids_are_unique'",
        ),
        (["check", "missing.jsonl"], "missing.jsonl: cannot read transcript"),
    ],
)
def test_usage_and_input_errors_exit_two(args, message, capsys):
    assert cli.main(args) == 2
    assert message in capsys.readouterr().err


def test_plugged_commands_get_their_own_subparser(capsys):
    seen = []

    def add(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--target")

    def run(args: argparse.Namespace) -> int:
        seen.append(args.target)
        return 3

    fake = cli.Command(name="run", help="run a client", add_arguments=add, run=run)
    args = cli.build_parser([cli.CHECK, fake]).parse_args(["run", "--target", "ws://x"])
    assert args.handler(args) == 3
    assert seen == ["ws://x"]


def test_only_existing_plugin_modules_are_offered(monkeypatch):
    monkeypatch.setattr(cli, "PLUGGED_COMMANDS", ("nonexistent_command",))
    assert [c.name for c in cli.commands()] == ["check"]


def test_python_dash_m_entry_point_exists():
    import conformance.__main__ as entry

    assert entry.main is cli.main


EXPIRED = str(transcripts_dir() / "session-expired.jsonl")


def test_the_client_run_adds_the_checks_that_judge_its_output(tmp_path, capsys):
    silent, told = tmp_path / "silent.txt", tmp_path / "told.txt"
    silent.write_text("all done\n")
    told.write_text("error session_expired: Your session hit the maximum duration\n")
    assert cli.main(["check", EXPIRED]) == 0  # transcript alone: nothing to say about output
    assert cli.main(["check", EXPIRED, "--exit-code", "0", "--stdout", str(silent)]) == 1
    out = capsys.readouterr().out
    assert "surfaces_error_event" in out
    args = ["check", EXPIRED, "--exit-code", "1", "--stderr", str(told)]
    assert cli.main(args) == 0


def test_a_client_that_prints_its_key_fails_and_the_key_is_not_shown(tmp_path, capsys):
    key = "sk-test-cli-check-0123456789abcdef"
    printed = tmp_path / "out.txt"
    printed.write_text(f"using key {key}\nsession_expired\n")
    args = ["check", EXPIRED, "--exit-code", "1", "--stdout", str(printed), "--api-key", key]
    assert cli.main(args) == 1
    out, err = capsys.readouterr()
    assert "does_not_print_api_key" in out
    assert key not in out + err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check", GOLDEN, "--stdout", "x.txt"], "need --exit-code N"),
        (["check", GOLDEN, SCHEMA, "--exit-code", "0"], "--as-case NAME"),
        (["check", GOLDEN, "--exit-code", "0", "--stdout", "nope.txt"], "cannot read"),
    ],
)
def test_client_run_options_are_checked(args, message, capsys):
    assert cli.main(args) == 2
    assert message in capsys.readouterr().err
