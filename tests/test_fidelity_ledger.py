"""The divergence ledger (fixtures/fidelity.yaml) is well formed and docs/fidelity.md is its
rendering: every entry's test exists, every inferred erratum is listed, the doc is current.

Regenerate the doc with `python -m scripts.fidelity` after editing the YAML.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts import fidelity


@pytest.fixture(scope="module")
def entries() -> list[dict[str, Any]]:
    return fidelity.load()


def test_every_entry_is_well_formed_and_its_test_exists(entries: list[dict[str, Any]]) -> None:
    assert fidelity.problems(entries) == []


def test_the_doc_is_generated_from_the_data(entries: list[dict[str, Any]]) -> None:
    assert fidelity.DOC.read_text() == fidelity.render(entries), (
        "docs/fidelity.md is stale: run `python -m scripts.fidelity`"
    )


def test_every_inferred_erratum_has_a_ledger_entry(entries: list[dict[str, Any]]) -> None:
    errata = yaml.safe_load(fidelity.ERRATA.read_text())["errata"]
    inferred = {e["id"] for e in errata if e.get("inferred")}
    listed = {e.get("errata") for e in entries}
    assert inferred - listed == set()


def test_every_entry_is_in_the_doc_with_its_test(entries: list[dict[str, Any]]) -> None:
    doc = fidelity.DOC.read_text()
    for entry in entries:
        assert f"### {entry['id']}\n" in doc
        if entry["test"] is not None:
            assert f"`{entry['test']}`" in doc


GOOD = {
    "id": "an-entry",
    "area": "response",
    "mock": "does this",
    "live": "does that",
    "evidence": [{"kind": "spec", "source": "Somewhere"}],
    "status": "inferred",
    "test": "tests/test_fidelity_ledger.py::test_the_doc_is_generated_from_the_data",
}


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"test": "tests/test_fidelity_ledger.py::test_nothing_of_that_name"}, "does not exist"),
        ({"test": "tests/no_such_file.py::test_x"}, "does not exist"),
        ({"test": "tests/test_fidelity_ledger.py"}, "does not exist"),
        ({"test": None}, "only for an open divergence"),
        ({"test": None, "status": "divergence"}, "only for an open divergence"),
        ({"status": "maybe"}, "status 'maybe'"),
        ({"area": "elsewhere"}, "area 'elsewhere'"),
        ({"evidence": []}, "evidence must be"),
        ({"evidence": [{"kind": "rumour", "source": "x"}]}, "evidence kind 'rumour'"),
        ({"evidence": [{"kind": "spec"}]}, "{kind, source}"),
        ({"mock": " "}, "mock must be"),
        ({"id": "Not_Kebab"}, "kebab-case"),
        ({"errata": "no-such-erratum"}, "not an id in errata.yaml"),
        ({"colour": "red"}, "unknown key"),
    ],
)
def test_the_checker_names_what_is_wrong(change: dict[str, Any], complaint: str) -> None:
    [problem] = fidelity.problems([{**GOOD, **change}])
    assert complaint in problem


def test_missing_keys_and_duplicates_are_reported() -> None:
    partial = {k: v for k, v in GOOD.items() if k not in ("live", "test")}
    found = fidelity.problems([GOOD, GOOD, partial])
    assert any("duplicate id" in p for p in found)
    assert any("missing live, test" in p for p in found)


def test_an_open_divergence_with_an_issue_may_wait_for_its_test() -> None:
    waiting = {**GOOD, "status": "divergence", "test": None, "issue": "13.1"}
    assert fidelity.problems([waiting]) == []
    assert "not yet (issue 13.1)" in fidelity.render([waiting])


def test_class_scoped_tests_are_found(tmp_path: Path) -> None:
    (tmp_path / "test_x.py").write_text("class TestA:\n    def test_b(self):\n        pass\n")
    assert fidelity.names_a_test("test_x.py::TestA::test_b", tmp_path)
    assert not fidelity.names_a_test("test_x.py::TestA::test_c", tmp_path)
    assert not fidelity.names_a_test("test_x.py::test_b", tmp_path)


def test_the_check_command_fails_on_a_stale_doc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale = tmp_path / "fidelity.md"
    stale.write_text("old\n")
    monkeypatch.setattr(fidelity, "DOC", stale)
    assert fidelity.main(["--check"]) == 1
    assert fidelity.main([]) == 0
    assert fidelity.main(["--check"]) == 0
