"""Scenarios: data files that make the mock server reproduce one real-world client failure.

A scenario is a YAML file (format: `scenario.schema.json`, guide: docs/scenarios.md)
with documentation (`summary`, `catalog`, `sources`, `description`), the behaviour
expected of a correct client (`expect`), the stimulus a test client sends (`connect`),
`MockConfig` overrides (`config`) and `rules` that override the default live-like
behaviour of the mock through the `mock_server.hooks` seam. Built-in scenarios live in
`fixtures/scenarios/`, one per entry of the client failure catalog a server can replay.

    scenario = load_scenario("beta-header-rejected")   # a built-in id, or a file path
    hooks = scenario.hooks()                          # fresh `Hooks` for one connection
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from conformance.protocol.errors import ScenarioError
from conformance.resources import scenarios_dir

from ._vocabulary import did_you_mean
from .loader import load_file, load_text
from .model import Action, ConnectSpec, Expectation, Rule, Scenario, Trigger
from .runtime import ScenarioHooks

_SUFFIXES = (".yaml", ".yml")


@cache
def _builtin_index() -> dict[str, Scenario]:
    found = (load_file(path) for path in sorted(scenarios_dir().glob("*.yaml")))
    return {scenario.id: scenario for scenario in found}


def builtin_scenarios() -> list[Scenario]:
    """Every built-in scenario of `fixtures/scenarios/`, sorted by id."""
    return [scenario for _, scenario in sorted(_builtin_index().items())]


def load_scenario(name_or_path: str | os.PathLike[str]) -> Scenario:
    """Load a built-in scenario by id, or a scenario file by path.

    Args:
        name_or_path: a built-in id such as `"beta-header-rejected"`, or the path of a
            `.yaml` file (anything with a `/` or a `.yaml`/`.yml` suffix is a path).

    Raises:
        ScenarioError: the id is unknown (with a did-you-mean) or the file is invalid
            (with file, line, JSON path and a did-you-mean).
    """
    if _is_path(name_or_path):
        return load_file(name_or_path)
    return resolve_scenario(str(name_or_path), allow_paths=False)


def resolve_scenario(name: str, *, allow_paths: bool = True) -> Scenario:
    """The scenario a connection asked for (`?scenario=NAME`, `X-Mock-Scenario`, config).

    Args:
        name: a built-in id, or (when `allow_paths`) a scenario file path.
        allow_paths: accept file paths too; pass False for names that come from the
            network so a client can only pick built-in scenarios.

    Raises:
        ScenarioError: unknown name, with the closest built-in id.
    """
    name = name.strip()
    index = _builtin_index()
    if name in index:
        return index[name]
    if allow_paths and _is_path(name):
        return load_file(name)
    hint = did_you_mean(name, index)
    raise ScenarioError(
        f"unknown scenario {name!r}{hint} (`realtime-mock scenarios` lists the built-in ones)"
    )


def format_scenario_list() -> str:
    """The `realtime-mock scenarios` listing: one line per scenario (id, catalog id, summary)."""
    scenarios = builtin_scenarios()
    if not scenarios:
        return ""
    id_width = max(len(s.id) for s in scenarios)
    catalog_width = max(len(s.catalog) for s in scenarios)
    return "\n".join(
        f"{s.id:<{id_width}}  {s.catalog:<{catalog_width}}  {s.summary}" for s in scenarios
    )


def _is_path(value: str | os.PathLike[str]) -> bool:
    if not isinstance(value, str):
        return True
    return "/" in value or os.sep in value or Path(value).suffix in _SUFFIXES


__all__ = [
    "Action",
    "ConnectSpec",
    "Expectation",
    "Rule",
    "Scenario",
    "ScenarioError",
    "ScenarioHooks",
    "Trigger",
    "builtin_scenarios",
    "format_scenario_list",
    "load_file",
    "load_scenario",
    "load_text",
    "resolve_scenario",
]
