"""Pins of `realtime-mock` (in process) that the mutation run found unguarded (issue 13)."""

from __future__ import annotations

import pytest

from mock_server.cli import main
from mock_server.responder import REPLY_PLACEHOLDERS


def test_scenarios_lists_every_builtin_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    from mock_server.scenarios import builtin_scenarios

    assert main(["scenarios"]) == 0
    out = capsys.readouterr().out
    listed = {line.split()[0] for line in out.splitlines() if line.strip()}
    assert {s.id for s in builtin_scenarios()} <= listed
    assert "beta-header-rejected" in listed
    count = len(builtin_scenarios())
    assert f"{count} built-in scenarios; use one with `realtime-mock serve --scenario ID`" in out


def test_serve_help_names_every_reply_template_placeholder(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--help"])
    assert exited.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps the help text
    for name in REPLY_PLACEHOLDERS:
        assert f"{{{name}}}" in text, name
