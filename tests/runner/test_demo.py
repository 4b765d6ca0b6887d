"""`realtime-conformance demo` end to end (about 5 s: two clients, 9 cases, 2 jobs)."""

from __future__ import annotations

import pytest

from conformance import _cli_demo
from conformance.cli import main
from conformance.protocol.errors import UsageError


def test_demo_runs_both_clients_and_explains_the_findings(tmp_path, capsys):
    status = main(["demo", "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert status == 0, out + err
    assert "summary                         9 OK       9 FAILED" in out
    for name in _cli_demo.EXPECTED_FINDINGS:
        assert f"[x] {_cli_demo.EXPECTED_FINDINGS[name]}" in out
        assert name in out
    assert "Demo OK" in out
    assert "\ntolerant " in out  # the case that sees past the beta header
    assert "  also: [FAILED] surfaces_close_code_and_reason: close not surfaced — " in out
    for folder in ("reference", "broken-client"):
        html = tmp_path / folder / "report.html"
        assert str(html.resolve()) in out
        assert html.read_text().startswith("<!doctype html>")
    assert "== reference:" in err
    assert "== broken client:" in err


def test_demo_fails_when_the_broken_client_is_not_caught(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("BROKEN_CLIENT_BUG", "none")  # the "broken" client is correct now
    status = main(["demo", "--out", str(tmp_path), "--cases", "default"])
    out = capsys.readouterr().out
    assert status == 1
    assert "unexpected: the broken client FAILED no case" in out


def test_demo_needs_the_examples_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(_cli_demo, "fixtures_dir", lambda: tmp_path / "site" / "_fixtures")
    with pytest.raises(UsageError, match=r"needs examples/broken_client\.py"):
        _cli_demo.broken_client_path()
    assert main(["demo", "--out", str(tmp_path / "out")]) == 2
    assert "from a source checkout" in capsys.readouterr().err
