"""A YAML alias bomb ("billion laughs") in a scenario file is refused at once, in one line
naming the file, the line and the cause; it used to take 35 s of CPU, then MemoryError."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from conformance.cli import main
from conformance.protocol.errors import ScenarioError
from mock_server.scenarios import _yaml, load_scenario


def bomb(levels: int = 9) -> str:
    """About 1 KB that expands to 9**levels values."""
    lines = [
        "id: laughs",
        "summary: nine levels of nine aliases",
        'l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]',
    ]
    for n in range(1, levels):
        lines.append(f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


def test_a_billion_laughs_file_is_refused_fast_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "laughs.yaml"
    path.write_text(bomb(), encoding="utf-8")
    assert path.stat().st_size < 1200
    t0 = time.process_time()
    with pytest.raises(ScenarioError) as refused:
        load_scenario(path)
    assert time.process_time() - t0 < 0.5  # CPU seconds: a loaded machine cannot inflate it
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:")
    assert "too many aliases" in message
    line = int(message.split(":")[1])
    assert 3 <= line <= 11  # one of the aliased lists


def test_run_refuses_the_file_before_any_client_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "laughs.yaml"
    path.write_text(bomb(), encoding="utf-8")
    argv = ["run", "--client", "exit 0", "--scenario", str(path), "--out", str(tmp_path / "out")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "too many aliases" in err
    assert not (tmp_path / "out" / "cases").exists()


def test_ordinary_aliases_still_work() -> None:
    text = 'base: &base {type: "response.done"}\nrules:\n  - *base\n  - *base\n'
    data, _lines = _yaml.parse(text, "x.yaml")
    assert data["rules"] == [{"type": "response.done"}] * 2


def test_a_document_nested_too_deeply_is_one_line() -> None:
    with pytest.raises(ScenarioError, match=r"^deep\.yaml:1: YAML error: nested too deeply"):
        _yaml.parse("[" * 100_000 + "]" * 100_000, "deep.yaml")
