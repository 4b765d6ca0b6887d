"""Load scenario YAML: `yaml.safe_load` semantics, schema check, located errors, model.

Every problem raises `ScenarioError` naming the file, the line, the JSON path, what was
expected and, for names, the closest known one, e.g.
`fixtures/scenarios/x.yaml:12: unknown action 'clsoe' at rules[0].do[1]; did you mean 'close'?`
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from jsonschema import Draft202012Validator  # type: ignore[import-untyped]  # no types-jsonschema in the dev venv

from conformance.protocol.errors import ScenarioError
from conformance.resources import scenarios_dir

from . import _yaml
from ._checks import Checker
from ._schema_errors import format_errors
from ._vocabulary import AFTER_SESSION_CREATED, REALTIME_ENDPOINT, schema
from .matcher import compile_matcher
from .model import Action, ConnectSpec, Expectation, Rule, Scenario, Trigger, Upgrade


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(schema())


def load_file(path: str | os.PathLike[str]) -> Scenario:
    """Load and check one scenario file; its `id` must equal the file name.

    A file of the built-in catalog (`fixtures/scenarios/`) must also name its
    failure-catalog entry (`catalog`) and its evidence (`sources`), or the protocol
    feature it covers (`feature`); other files may not.
    """
    file = Path(path)
    where = display_path(file)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(f"{where}: no such scenario file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{where}: cannot read scenario file: {exc}") from None
    return load_text(text, where=where, stem=file.stem, path=file, builtin=_is_builtin(file))


def load_text(
    text: str,
    *,
    where: str = "<scenario>",
    stem: str | None = None,
    path: Path | None = None,
    builtin: bool = False,
) -> Scenario:
    """Load and check scenario YAML given as text (`where` names it in error messages).

    `builtin` applies the built-in catalog's extra rule: `catalog` and `sources` required,
    unless the scenario covers a `feature`.
    """
    data, lines = _yaml.parse(text, where)
    if not isinstance(data, dict):
        got = "an empty document" if data is None else type(data).__name__
        raise ScenarioError(f"{where}:1: a scenario is a mapping (id, summary, …), got {got}")
    errors = list(_validator().iter_errors(data))
    if errors:
        raise ScenarioError(format_errors(errors, lines, where))
    config = Checker(data, lines, where).run(stem, builtin=builtin)
    return _build(data, config, lines, path)


def display_path(file: Path) -> str:
    """The file as messages show it: relative to the working directory when inside it."""
    try:
        return str(file.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(file)


def _is_builtin(file: Path) -> bool:
    try:
        return file.resolve().parent == scenarios_dir().resolve()
    except OSError:
        return False


def _build(
    data: Mapping[str, Any], config: Mapping[str, Any], lines: _yaml.LineMap, path: Path | None
) -> Scenario:
    expect = data["expect"]
    return Scenario(
        id=data["id"],
        summary=data["summary"],
        catalog=data.get("catalog"),
        feature=data.get("feature"),
        endpoint=data.get("endpoint", REALTIME_ENDPOINT),
        live=bool(data.get("live", False)),
        sip_headers=tuple(
            (h["name"], h["value"]) for h in (data.get("sip") or {}).get("headers", ())
        ),
        sources=tuple(data.get("sources") or ()),
        description=data["description"],
        expect=Expectation(client=tuple(expect["client"]), summary=expect["summary"]),
        connect=_connect(data.get("connect") or {}),
        upgrade=Upgrade(**data["upgrade"]) if data.get("upgrade") else None,
        rules=tuple(
            _rule(rule, lines, ("rules", i)) for i, rule in enumerate(data.get("rules") or ())
        ),
        config=MappingProxyType(dict(config)),
        path=path,
    )


def _connect(spec: Mapping[str, Any]) -> ConnectSpec:
    return ConnectSpec(
        headers=MappingProxyType(dict(spec.get("headers") or {})),
        query=MappingProxyType(dict(spec.get("query") or {})),
        subprotocols=tuple(spec.get("subprotocols") or ()),
        send=tuple(spec.get("send") or ()),
    )


def _rule(rule: Mapping[str, Any], lines: _yaml.LineMap, path: _yaml.Path_) -> Rule:
    when = rule["when"]
    trigger = Trigger(
        on=when["on"],
        phase=when.get("phase", AFTER_SESSION_CREATED),
        match=compile_matcher(when.get("match")),
        min_bytes=when.get("min_bytes"),
        nth=when.get("nth", 1),
        every=when.get("every", False),
        after_ms=float(when.get("after_ms", 0.0)),
        count=when.get("count", 1),
    )
    actions = []
    for index, action in enumerate(rule["do"]):
        ((name, args),) = action.items()
        line = lines.line((*path, "do", index))
        actions.append(Action(name=name, args=MappingProxyType(dict(args or {})), line=line))
    return Rule(when=trigger, do=tuple(actions), line=lines.line(path))
