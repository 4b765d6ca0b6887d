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

import difflib
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
# Scenario files a connection named, by resolved path: (mtime_ns, size) and the scenario.
_FILE_CACHE_SIZE = 64
_files: dict[Path, tuple[tuple[int, int], Scenario]] = {}


@cache
def _builtin_ids() -> tuple[str, ...]:
    """The built-in ids: file stems (a built-in scenario's id must equal its file name)."""
    return tuple(sorted(path.stem for path in scenarios_dir().glob("*.yaml")))


@cache
def _builtin(scenario_id: str) -> Scenario:
    return load_file(scenarios_dir() / f"{scenario_id}.yaml")


def _builtin_index() -> dict[str, Scenario]:
    return {scenario_id: _builtin(scenario_id) for scenario_id in _builtin_ids()}


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
    ids = _builtin_ids()
    if name in ids:
        return _builtin(name)  # only this file is loaded, once per process
    if allow_paths and _is_path(name):
        return _load_file_cached(Path(name))
    hint = did_you_mean(name, ids)
    raise ScenarioError(
        f"unknown scenario {name!r}{hint} (`realtime-mock scenarios` lists the built-in ones)"
    )


def format_scenario_list() -> str:
    """The `realtime-mock scenarios` listing: one line per scenario (id, catalog id or
    feature, summary)."""
    scenarios = builtin_scenarios()
    if not scenarios:
        return ""
    id_width = max(len(s.id) for s in scenarios)
    tags = [s.catalog or s.feature or "-" for s in scenarios]
    catalog_width = max(len(tag) for tag in tags)
    return "\n".join(
        f"{s.id:<{id_width}}  {tag:<{catalog_width}}  {s.summary}"
        for s, tag in zip(scenarios, tags, strict=True)
    )


def _load_file_cached(file: Path) -> Scenario:
    """`load_file`, reusing the last load while the file's mtime and size are unchanged.

    Every connection of a server started with `--scenario FILE` resolves it again; this
    saves parsing and checking it each time (an edit is still picked up).
    """
    try:
        stat = file.stat()
        key = file.resolve()
    except FileNotFoundError:
        raise ScenarioError(f"{file}: no such scenario file{_missing_file_hint(file)}") from None
    except OSError:
        return load_file(file)  # raises the located ScenarioError
    version = (stat.st_mtime_ns, stat.st_size)
    cached = _files.get(key)
    if cached is not None and cached[0] == version:
        return cached[1]
    scenario = load_file(file)
    if len(_files) >= _FILE_CACHE_SIZE:
        del _files[next(iter(_files))]
    _files[key] = (version, scenario)
    return scenario


def _missing_file_hint(file: Path) -> str:
    """`; did you mean …?`: a file of that directory, or a built-in id, with a close name."""
    try:
        siblings = [p.name for p in file.parent.iterdir() if p.suffix in _SUFFIXES]
    except OSError:
        siblings = []
    close = difflib.get_close_matches(file.name, siblings, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {str(file.with_name(close[0]))!r}?"
    close = difflib.get_close_matches(file.stem, _builtin_ids(), n=1, cutoff=0.8)
    if close:
        return f"; did you mean the built-in scenario {close[0]!r} (no path, no suffix)?"
    return ""


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
