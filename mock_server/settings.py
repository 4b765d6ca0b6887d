"""Loading `MockConfig` from YAML files and command-line flags, with the same names.

Precedence: `MockConfig` defaults < YAML file (`--config FILE`) < flags. Every field of
`MockConfig` is a YAML key (`ping_interval: 5`) and a flag (`--ping-interval 5`);
booleans also get `--no-…`; optional numbers accept `none`.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import inspect
import re
import types
import typing
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from conformance.protocol.errors import ConfigError, UsageError
from mock_server.config import CHOICES, MockConfig

_NONE_WORDS = frozenset({"none", "null", "off"})
_COMMENT = re.compile(r"^\s+(\w+):[^#]*#\s*(.+)$")


def merge(config: MockConfig, overrides: Mapping[str, Any], *, source: str = "") -> MockConfig:
    """`config` with `overrides` applied, after checking names and types.

    Args:
        config: the base configuration.
        overrides: field name (or dashed flag name) → value, as YAML would give it.
        source: where the overrides come from, for error messages (e.g. a file name).

    Raises:
        UsageError: an unknown name (with a did-you-mean) or a value of the wrong type;
            `ConfigError` instead when `source` names a file.
    """
    error = ConfigError if source else UsageError
    prefix = f"{source}: " if source else ""
    hints = _field_types()
    values: dict[str, Any] = {}
    for raw_name, value in overrides.items():
        name = str(raw_name).replace("-", "_")
        if name not in hints:
            raise error(f"{prefix}{raw_name}: unknown setting{_did_you_mean(name, hints)}")
        try:
            values[name] = _coerce(value, hints[name])
        except TypeError as exc:
            raise error(f"{prefix}{raw_name}: {exc}") from None
    try:
        return dataclasses.replace(config, **values)
    except UsageError as exc:  # a value `MockConfig` itself refuses (e.g. an unknown pace)
        raise error(f"{prefix}{exc}") from None


def overrides_from_yaml(path: str | Path) -> dict[str, Any]:
    """The mapping of a YAML config file, unchecked (see `config_from_yaml`)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of MockConfig fields, got {data!r:.60}")
    return data


def config_from_yaml(path: str | Path, base: MockConfig | None = None) -> MockConfig:
    """`base` (defaults) updated from a YAML file whose keys are `MockConfig` fields.

    Raises:
        ConfigError: unreadable file, unknown key (named, with a did-you-mean) or a
            value of the wrong type.
    """
    return merge(base or MockConfig(), overrides_from_yaml(path), source=str(path))


def add_config_arguments(
    parser: argparse.ArgumentParser, defaults: MockConfig | None = None
) -> None:
    """Add `--config FILE` and one flag per `MockConfig` field (no defaults set).

    `defaults` (`MockConfig()` if None) only words the help: pass the same base to
    `config_from_namespace`.
    """
    parser.add_argument(
        "--config", metavar="FILE.yaml", default=argparse.SUPPRESS, help="YAML file of settings"
    )
    defaults = defaults or MockConfig()
    comments = _field_comments()
    for name, hint in _field_types().items():
        flag = "--" + name.replace("_", "-")
        default = getattr(defaults, name)
        text = f"{comments.get(name, name.replace('_', ' '))} (default: {default!r})"
        base, optional = _unwrap_optional(hint)
        # SUPPRESS: a flag not given leaves no attribute, so YAML values are not overridden
        common: dict[str, Any] = {"default": argparse.SUPPRESS, "dest": name}
        if base is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, help=text, **common)
        elif typing.get_origin(base) in (tuple, dict):
            metavar = "KEY=VALUE" if typing.get_origin(base) is dict else "VALUE[,VALUE]"
            text += "; repeat"
            parser.add_argument(flag, action="append", metavar=metavar, help=text, **common)
        elif name in CHOICES:
            choices = CHOICES[name]
            metavar = "|".join(choices)
            parser.add_argument(flag, choices=choices, metavar=metavar, help=text, **common)
        else:
            kind = _cli_scalar(base, optional)
            metavar = base.__name__.upper()
            parser.add_argument(flag, type=kind, metavar=metavar, help=text, **common)


def config_from_namespace(
    namespace: argparse.Namespace, base: MockConfig | None = None
) -> MockConfig:
    """Apply precedence to parsed flags: defaults (`base`) < `--config` YAML < flags.

    Raises:
        ConfigError: the YAML file is wrong.
        UsageError: a flag value is wrong.
    """
    given = vars(namespace)
    config = base or MockConfig()
    if "config" in given:
        config = config_from_yaml(given["config"], config)
    hints = _field_types()
    flags = {k: _from_cli(v, hints[k]) for k, v in given.items() if k in hints}
    return merge(config, flags)


def config_from_args(argv: Sequence[str]) -> MockConfig:
    """Parse `serve` flags (e.g. `["--port", "0", "--config", "mock.yaml"]`) into a config.

    Raises:
        UsageError: an unknown flag (with a did-you-mean) or a bad value.
        ConfigError: the YAML file is wrong.
    """
    parser = argparse.ArgumentParser(prog="realtime-mock serve", allow_abbrev=False)
    add_config_arguments(parser)
    namespace, unknown = parser.parse_known_args(list(argv))
    if unknown:
        raise UsageError(f"{unknown[0]}: unknown flag{_did_you_mean_flag(unknown[0], parser)}")
    return config_from_namespace(namespace)


# --- types ---


@cache
def _field_types() -> dict[str, Any]:
    hints = typing.get_type_hints(MockConfig)
    return {f.name: hints[f.name] for f in dataclasses.fields(MockConfig)}


def _unwrap_optional(hint: Any) -> tuple[Any, bool]:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return hint, False


def _coerce(value: Any, hint: Any) -> Any:
    """Check a YAML-shaped value against a field type; returns it in the field's type."""
    base, optional = _unwrap_optional(hint)
    if value is None:
        if optional:
            return None
        raise TypeError(f"expected {_describe(base)}, got null")
    origin = typing.get_origin(base)
    if origin is tuple:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or not all(isinstance(v, str) for v in items):
            raise TypeError(f"expected a list of strings, got {value!r}")
        return tuple(items)
    if origin is dict:
        if not isinstance(value, Mapping):
            raise TypeError(f"expected a mapping, got {value!r}")
        return dict(value)
    if base is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, base) and not (isinstance(value, bool) and base is not bool):
        return value
    raise TypeError(f"expected {_describe(base)}{' or null' if optional else ''}, got {value!r}")


def _describe(base: Any) -> str:
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(
        base, str(base)
    )


def _cli_scalar(base: Any, optional: bool) -> Any:
    def parse(text: str) -> Any:
        if optional and text.lower() in _NONE_WORDS and base is not str:
            return None
        try:
            return base(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {_describe(base)}, got {text!r}") from None

    parse.__name__ = base.__name__  # argparse names the type in its messages
    return parse


def _from_cli(value: Any, hint: Any) -> Any:
    base, _ = _unwrap_optional(hint)
    origin = typing.get_origin(base)
    if origin is tuple:
        return tuple(part for item in value for part in item.split(",") if part)
    if origin is dict:
        pairs = {}
        for item in value:
            key, sep, text = item.partition("=")
            if not sep or not key:
                raise UsageError(f"expected KEY=VALUE, got {item!r}")
            pairs[key] = yaml.safe_load(text)
        return pairs
    return value


# --- messages ---


def _did_you_mean(name: str, choices: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _did_you_mean_flag(flag: str, parser: argparse.ArgumentParser) -> str:
    known = [o for action in parser._actions for o in action.option_strings]
    close = difflib.get_close_matches(flag.split("=")[0], known, n=1)
    return f" (did you mean {close[0]}?)" if close else ""


@cache
def _field_comments() -> dict[str, str]:
    """The trailing comment of each field in config.py, used as flag help."""
    try:
        source = inspect.getsource(MockConfig)
    except (OSError, TypeError):
        return {}
    return {m[1]: m[2].strip() for line in source.splitlines() if (m := _COMMENT.match(line))}
