"""The built-in scenario catalog and the public lookup API."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conformance.resources import scenarios_dir, schemas_dir
from mock_server.scenarios import (
    ScenarioError,
    builtin_scenarios,
    format_scenario_list,
    load_scenario,
    resolve_scenario,
)
from mock_server.scenarios._vocabulary import (
    ACTIONS,
    CATALOG_IDS,
    EXPECTATIONS,
    SERVER_EVENT_TYPES,
    TRIGGERS,
)

ROOT = Path(__file__).resolve().parents[2]
# The shared reference lives next to the checkout (`../shared`), as in test_extract.py.
CATALOG_FILE = ROOT.parent / "shared" / "reference" / "client-failure-catalog.md"
BUILTIN_IDS = sorted(path.stem for path in scenarios_dir().glob("*.yaml"))


def catalog_sources() -> dict[str, set[str]]:
    """The links of each entry's **Sources:** paragraph in the failure catalog."""
    text = CATALOG_FILE.read_text(encoding="utf-8")
    found: dict[str, set[str]] = {}
    for entry in re.split(r"\n## \d+\. ", text)[1:]:
        ident = entry.split(" ", 1)[0]
        sources = entry.split("**Sources:**", 1)[1].split("\n## ", 1)[0].split("\n---", 1)[0]
        found[ident] = set(re.findall(r"https?://[^\s·)]+", sources))
    return found


def test_there_are_at_least_25_builtin_scenarios_each_with_sources() -> None:
    scenarios = builtin_scenarios()
    assert len(scenarios) >= 25
    assert all(s.description.strip() and s.expect.client for s in scenarios)
    # A failure reproduction cites its evidence; a feature scenario covers an endpoint.
    assert all((s.catalog and s.sources) or (s.feature and not s.catalog) for s in scenarios)


def test_feature_scenarios_are_the_translation_and_sip_happy_paths_only() -> None:
    features = {s.id: s.feature for s in builtin_scenarios() if s.feature}
    assert features == {"translation-basic": "translation", "sip-basic": "sip"}
    translation = {s.id for s in builtin_scenarios() if s.translation}
    assert translation == {
        "translation-basic",
        "translation-drop-mid-stream",
        "translation-server-error",
    }
    assert all(s.id.startswith("translation") for s in builtin_scenarios() if s.translation)


def test_builtin_ids_are_unique_sorted_and_equal_to_the_file_names() -> None:
    ids = [s.id for s in builtin_scenarios()]
    assert ids == BUILTIN_IDS
    assert all(s.path is not None and s.path.stem == s.id for s in builtin_scenarios())


def test_every_catalog_entry_has_at_least_one_scenario() -> None:
    covered = {s.catalog for s in builtin_scenarios() if s.catalog is not None}
    assert covered == set(CATALOG_IDS)


@pytest.mark.skipif(not CATALOG_FILE.exists(), reason="the failure catalog is not checked out")
def test_every_source_link_comes_from_the_scenarios_catalog_entry() -> None:
    sources = catalog_sources()
    assert set(sources) == set(CATALOG_IDS)
    for scenario in builtin_scenarios():
        if scenario.feature is not None:  # covers a feature: no failure-catalog entry
            assert scenario.catalog is None
            assert not scenario.sources
            continue
        assert scenario.catalog is not None
        unknown = set(scenario.sources) - sources[scenario.catalog]
        assert not unknown, f"{scenario.id}: not in catalog entry {scenario.catalog}: {unknown}"


def test_the_schema_knows_every_server_event_type_of_the_ga_bundle() -> None:
    index = json.loads((schemas_dir() / "index.json").read_text())
    assert set(index["server_types"]) <= set(SERVER_EVENT_TYPES)


@pytest.mark.parametrize("name", BUILTIN_IDS)
def test_every_builtin_scenario_makes_fresh_hooks(name: str) -> None:
    scenario = load_scenario(name)
    assert scenario.hooks() is not scenario.hooks()


def test_load_scenario_accepts_a_path(tmp_path: Path) -> None:
    source = scenarios_dir() / "idle-drop.yaml"
    copy = tmp_path / "idle-drop.yaml"
    copy.write_text(source.read_text())
    assert load_scenario(copy).path == copy
    assert load_scenario(str(copy)).id == "idle-drop"


def test_resolve_scenario_suggests_the_closest_builtin_id() -> None:
    with pytest.raises(ScenarioError, match="did you mean 'beta-header-rejected'"):
        resolve_scenario("beta-header-rejectd")


def test_resolve_scenario_refuses_paths_when_asked(tmp_path: Path) -> None:
    path = str(scenarios_dir() / "idle-drop.yaml")
    assert resolve_scenario(path).id == "idle-drop"
    with pytest.raises(ScenarioError, match="unknown scenario"):
        resolve_scenario(path, allow_paths=False)


def test_resolve_scenario_returns_builtins_by_id() -> None:
    assert resolve_scenario(" session-expired ").catalog == "SESSION-EXPIRED"


def test_format_scenario_list_has_one_aligned_line_per_scenario() -> None:
    lines = format_scenario_list().splitlines()
    assert len(lines) == len(BUILTIN_IDS)
    first = builtin_scenarios()[0]
    assert lines[0].startswith(first.id)
    assert first.catalog in lines[0]
    assert lines[0].endswith(first.summary)
    # The second column starts at the same place (an id may contain its tag: translation-*).
    assert len({line.index("  " + line.split()[1]) for line in lines}) == 1


def test_handshake_scenarios_rely_on_the_default_rules_and_document_the_stimulus() -> None:
    for name in ("beta-header-rejected", "unknown-model", "missing-model", "invalid-api-key"):
        scenario = load_scenario(name)
        assert not scenario.rules
        assert scenario.connect.headers or scenario.connect.query


DOCS = Path(__file__).resolve().parents[2] / "docs" / "scenarios.md"


def test_the_guide_documents_every_builtin_action_trigger_and_expectation() -> None:
    text = DOCS.read_text(encoding="utf-8")
    names = [*BUILTIN_IDS, *ACTIONS, *TRIGGERS, *EXPECTATIONS]
    missing = [name for name in names if f"`{name}`" not in text]
    assert not missing, f"docs/scenarios.md does not mention {missing}"


def test_the_troubleshooting_guide_names_only_real_scenarios_and_checks() -> None:
    from conformance.checks.expectations import EXPECTATION_CHECKS
    from conformance.runner import runner_registry

    text = (DOCS.parent / "troubleshooting.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`([a-z0-9_-]+)`", text))
    scenarios = {n for n in named if "-" in n}
    assert scenarios <= set(BUILTIN_IDS), scenarios - set(BUILTIN_IDS)
    judged = set(re.findall(r"`([a-z_]+)`", text.split("What judges")[1].split("##")[0]))
    judged |= set(re.findall(r"`([a-z_]+)`", text.split("Checks:")[1].split("##")[0]))
    known = set(runner_registry().names) | set(EXPECTATION_CHECKS)
    assert judged - known == set(), judged - known
    assert len(judged) >= 8
