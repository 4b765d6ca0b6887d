"""Checks the JSON Schema cannot express, each raising a located `ScenarioError`.

Lookups and event types in matchers, placeholders, `config:` fields against `MockConfig`,
and which actions make sense where (consume, suppress_session_created, after a close).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any

from conformance.protocol.errors import ScenarioError, UsageError
from mock_server.config import MockConfig

from ._vocabulary import (
    BEFORE_SESSION_CREATED,
    CLIENT_EVENT_TYPES,
    LISTENER_FIELDS,
    LOOKUPS,
    PLACEHOLDERS,
    SERVER_EVENT_TYPES,
    TERMINAL_ACTIONS,
    UNSENDABLE_CLOSE_CODES,
    did_you_mean,
)
from ._yaml import LineMap, Path_, show_path
from .matcher import split_key
from .templating import placeholders

_TEMPLATED = ("send", "error", "close", "inject_unknown_event", "fail_response")


class Checker:
    """Semantic checks of one schema-valid scenario document."""

    def __init__(self, data: Mapping[str, Any], lines: LineMap, where: str) -> None:
        self.data = data
        self.lines = lines
        self.where = where

    def fail(self, path: Sequence[str | int], text: str, *, key: bool = False) -> ScenarioError:
        """A `ScenarioError` located at `path` (its key line if `key`)."""
        line = self.lines.line(path, key=key)
        return ScenarioError(f"{self.where}:{line}: {text}")

    def run(self, stem: str | None, *, builtin: bool = False) -> dict[str, Any]:
        """Check everything; return the `config:` overrides ready for `dataclasses.replace`.

        `builtin`: the file is part of the built-in catalog, which must say which
        failure-catalog entry it reproduces (`catalog`) and cite `sources`.
        """
        if stem is not None and self.data["id"] != stem:
            raise self.fail(
                ["id"], f"id {self.data['id']!r} must equal the file name {stem + '.yaml'!r}"
            )
        if builtin and not self.data.get("feature"):
            for key, what in (("catalog", "its failure-catalog id"), ("sources", "evidence URLs")):
                if not self.data.get(key):
                    raise self.fail(
                        [key] if key in self.data else [],
                        f"missing required key {key!r} ({what}): every built-in scenario "
                        "gives it, unless it covers a `feature` (the happy path of an "
                        "endpoint); only your own scenario files may leave it out",
                    )
        if self.data.get("feature") and self.data.get("catalog"):
            raise self.fail(
                ["feature"],
                "give either catalog (a failure the scenario reproduces) or feature (a "
                "protocol feature it covers), not both",
                key=True,
            )
        for index, rule in enumerate(self.data.get("rules", ())):
            self._rule(rule, ("rules", index))
        return self._config(self.data.get("config", {}))

    # ------------------------------------------------------------ config
    def _config(self, config: Mapping[str, Any]) -> dict[str, Any]:
        fields = {f.name: f for f in dataclasses.fields(MockConfig)}
        checked: dict[str, Any] = {}
        for name, value in config.items():
            path = ("config", name)
            if name not in fields:
                hint = did_you_mean(name, set(fields) - LISTENER_FIELDS)
                raise self.fail(
                    path, f"unknown MockConfig field {name!r} at config{hint}", key=True
                )
            if name in LISTENER_FIELDS:
                text = f"config.{name} belongs to the listener and cannot be set by a scenario"
                raise self.fail(path, text, key=True)
            checked[name] = self._config_value(path, str(fields[name].type), value)
            try:  # a value MockConfig itself refuses (an unknown pace)
                dataclasses.replace(MockConfig(), **{name: checked[name]})
            except UsageError as exc:
                raise self.fail(path, f"{exc} at {show_path(path)}") from None
        return checked

    def _config_value(self, path: Path_, annotation: str, value: Any) -> Any:
        for option in (part.strip() for part in annotation.split("|")):
            converted = _convert(option, value)
            if converted is not _REJECT:
                return converted
        raise self.fail(path, f"expected {annotation} at {show_path(path)}, got {value!r}")

    # ------------------------------------------------------------- rules
    def _rule(self, rule: Mapping[str, Any], path: Path_) -> None:
        when = rule["when"]
        if "nth" in when and when.get("every"):
            raise self.fail((*path, "when", "every"), "use either nth or every: true, not both")
        if "match" in when:
            self._match(when["match"], when["on"], (*path, "when", "match"))
        self._actions(rule["do"], when, (*path, "do"))

    def _match(self, match: Mapping[str, Any], on: str, path: Path_) -> None:
        for key, value in match.items():
            field, lookup = split_key(key)
            if lookup is not None and lookup not in LOOKUPS:
                hint = did_you_mean(lookup, LOOKUPS)
                raise self.fail(
                    (*path, key), f"unknown lookup {lookup!r} in {key!r}{hint}", key=True
                )
            self._lookup_value(path, key, lookup or "eq", value)
            if field == ("type",):
                vocab = CLIENT_EVENT_TYPES if on == "client_event" else SERVER_EVENT_TYPES
                self._event_types(path, key, lookup or "eq", value, vocab)

    def _lookup_value(self, path: Path_, key: str, lookup: str, value: Any) -> None:
        where = (*path, key)
        if lookup == "in" and not isinstance(value, list):
            raise self.fail(where, f"{key!r} needs a list of values, got {value!r}")
        if lookup == "exists" and not isinstance(value, bool):
            raise self.fail(where, f"{key!r} needs true or false, got {value!r}")
        if lookup == "regex":
            try:
                re.compile(str(value))
            except re.error as exc:
                raise self.fail(where, f"invalid regex in {key!r}: {exc}") from None

    def _event_types(
        self, path: Path_, key: str, lookup: str, value: Any, vocab: Sequence[str]
    ) -> None:
        if lookup not in ("eq", "in"):
            return
        for index, name in enumerate(value if lookup == "in" else [value]):
            if name not in vocab:
                at = (*path, key, index) if lookup == "in" else (*path, key)
                kind = "client" if vocab is CLIENT_EVENT_TYPES else "server"
                hint = did_you_mean(str(name), vocab)
                raise self.fail(at, f"unknown {kind} event type {name!r} at {show_path(at)}{hint}")

    # ----------------------------------------------------------- actions
    def _actions(
        self, actions: Sequence[Mapping[str, Any]], when: Mapping[str, Any], path: Path_
    ) -> None:
        for index, action in enumerate(actions):
            ((name, args),) = action.items()
            at = (*path, index, name)
            if index > 0 and _name(actions[index - 1]) in TERMINAL_ACTIONS:
                previous = _name(actions[index - 1])
                raise self.fail(at, f"{name!r} can never run: it follows {previous!r}", key=True)
            self._action_place(name, when, at)
            self._action_args(name, args or {}, at)

    def _action_place(self, name: str, when: Mapping[str, Any], at: Path_) -> None:
        if name == "consume" and when["on"] != "client_event":
            raise self.fail(at, "consume only applies to rules with on: client_event", key=True)
        before = when["on"] == "connect" and when.get("phase") == BEFORE_SESSION_CREATED
        if name == "suppress_session_created" and not before:
            text = "suppress_session_created needs on: connect, phase: before_session_created"
            raise self.fail(at, text, key=True)

    def _action_args(self, name: str, args: Mapping[str, Any], at: Path_) -> None:
        if name == "close" and args["code"] in UNSENDABLE_CLOSE_CODES:
            text = f"close code {args['code']} cannot be sent in a close frame"
            raise self.fail((*at, "code"), text + "; use drop to make the client see 1006")
        if name == "inject_unknown_event" and args.get("type") in SERVER_EVENT_TYPES:
            text = f"{args['type']!r} is a known server event type; use send for it"
            raise self.fail((*at, "type"), text)
        if name == "oversized_frame" and not str(args.get("type", ".delta")).endswith(".delta"):
            raise self.fail((*at, "type"), "oversized_frame pads a delta event: use a *.delta type")
        if name == "fail_response" and "error" in args and args.get("status", "failed") != "failed":
            raise self.fail((*at, "error"), "error only goes with status: failed")
        if name in _TEMPLATED:
            self._placeholders(args, at)

    def _placeholders(self, args: Mapping[str, Any], at: Path_) -> None:
        for placeholder, argument, rel in placeholders(dict(args)):
            where = (*at, *rel)
            if placeholder not in PLACEHOLDERS:
                hint = did_you_mean(placeholder, PLACEHOLDERS)
                raise self.fail(where, f"unknown placeholder {{{placeholder}}}{hint}")
            if (placeholder == "new_id") != (argument is not None):
                usage = "{new_id:PREFIX}, e.g. {new_id:item}"
                if placeholder != "new_id":
                    usage = f"{{{placeholder}}} without an argument"
                raise self.fail(where, f"write {usage}")


_REJECT = object()


def _convert(option: str, value: Any) -> Any:
    """`value` converted for one type of a MockConfig annotation, or `_REJECT`."""
    if option == "None":
        return None if value is None else _REJECT
    if option == "bool":
        return value if isinstance(value, bool) else _REJECT
    if option == "int":
        return value if isinstance(value, int) and not isinstance(value, bool) else _REJECT
    if option == "float":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return float(value) if ok else _REJECT
    if option == "str":
        return value if isinstance(value, str) else _REJECT
    if option.startswith("tuple["):
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        return tuple(value) if ok else _REJECT
    if option.startswith("dict["):
        return dict(value) if isinstance(value, dict) else _REJECT
    return _REJECT


def _name(action: Mapping[str, Any]) -> str:
    return next(iter(action))
