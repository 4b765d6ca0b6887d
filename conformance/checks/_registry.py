"""The check registry: `@check` registers a generator, `run_checks` runs a selection of them."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from conformance.protocol.errors import UsageError
from conformance.transcript import Transcript

from ._model import CheckContext, Severity, Violation

CheckFunction = Callable[[CheckContext, Transcript], Iterator[Violation]]


class Scope(StrEnum):
    """What a check needs and how often it runs for one case."""

    CONNECTION = "connection"  # once per connection, with that connection's transcript
    CASE = "case"  # once per case; reads every connection through `ctx.connections()`
    RUN = "run"  # like CASE, but only when the client's `RunOutcome` is known


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckDef:
    """One registered check. `help` is the first line of the function's docstring."""

    name: str
    severity: Severity
    applies_to: Scope
    function: CheckFunction
    help: str
    closing: bool = False  # feeds the separate close-handling verdict
    default: bool = True

    def applies(self, ctx: CheckContext) -> bool:
        """False when the check cannot judge this context (a RUN check without outcome)."""
        return self.applies_to is not Scope.RUN or ctx.outcome is not None

    def run(self, ctx: CheckContext) -> Iterator[Violation]:
        """Every violation this check finds in the case (nothing if it does not apply)."""
        if not self.applies(ctx):
            return
        if self.applies_to is Scope.CONNECTION:
            for index, transcript in ctx.connections():
                yield from self.function(ctx.bound(connection=index, current=self), transcript)
            return
        first = ctx.transcripts[0] if ctx.transcripts else Transcript()
        yield from self.function(ctx.bound(connection=0, current=self), first)


class Registry:
    """Checks by name, plus aliases (one name standing for several checks)."""

    def __init__(self) -> None:
        self._checks: dict[str, CheckDef] = {}
        self._aliases: dict[str, tuple[str, ...]] = {}

    def register(self, definition: CheckDef) -> None:
        """Add a check; a name may be registered once."""
        if definition.name in self._checks or definition.name in self._aliases:
            raise UsageError(f"check name {definition.name!r} is already registered")
        self._checks[definition.name] = definition

    def alias(self, name: str, targets: Iterable[str]) -> None:
        """Let `name` stand for the checks `targets` wherever check names are accepted."""
        targets = tuple(targets)
        unknown = [t for t in targets if t not in self._checks]
        if name in self._checks or unknown or not targets:
            raise UsageError(f"alias {name!r} -> {targets!r}: clashes or names unknown checks")
        self._aliases[name] = targets

    def __getitem__(self, name: str) -> CheckDef:
        return self._checks[name]

    def __iter__(self) -> Iterator[CheckDef]:
        return iter(self._checks.values())

    def __len__(self) -> int:
        return len(self._checks)

    @property
    def names(self) -> tuple[str, ...]:
        """Every check name, in registration order."""
        return tuple(self._checks)

    @property
    def aliases(self) -> Mapping[str, tuple[str, ...]]:
        """Alias name -> the check names it stands for."""
        return dict(self._aliases)

    def select(self, names: Iterable[str] | None = None) -> list[CheckDef]:
        """Resolve a selection such as `["default", "-event_ids_are_unique"]`.

        Tokens may also be comma-separated in one string. `default` and `all` add sets,
        a check or alias name adds it, `-name` removes it; a selection that starts with a
        removal starts from `default`. None selects `default`.

        Raises:
            UsageError: an unknown name (with a did-you-mean suggestion).
        """
        tokens = _tokens(["default"] if names is None else names)
        chosen: dict[str, None] = {}
        if tokens and tokens[0].startswith("-"):
            chosen.update(dict.fromkeys(self._expand("default")))
        for token in tokens:
            if token.startswith("-"):
                for name in self._expand(token[1:]):
                    chosen.pop(name, None)
            else:
                chosen.update(dict.fromkeys(self._expand(token)))
        return [self._checks[name] for name in self._checks if name in chosen]

    def _expand(self, token: str) -> tuple[str, ...]:
        if token == "default":
            return tuple(c.name for c in self if c.default)
        if token == "all":
            return self.names
        if token in self._checks:
            return (token,)
        if token in self._aliases:
            return self._aliases[token]
        known = [*self._checks, *self._aliases, "default", "all"]
        close = difflib.get_close_matches(token, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UsageError(
            f"unknown check {token!r}{hint}; list them with "
            "`realtime-conformance check --list-checks`"
        )


def _tokens(names: Iterable[str]) -> list[str]:
    if isinstance(names, str):
        names = [names]
    return [part.strip() for name in names for part in name.split(",") if part.strip()]


CHECKS = Registry()
"""The built-in checks (filled as `conformance.checks` imports its modules)."""


def check(
    *,
    name: str | None = None,
    severity: Severity = Severity.FAILED,
    applies_to: Scope = Scope.CONNECTION,
    closing: bool = False,
    default: bool = True,
    registry: Registry = CHECKS,
) -> Callable[[CheckFunction], CheckFunction]:
    """Register a generator `(ctx, transcript) -> Iterator[Violation]` as a named check.

    Args:
        name: the check's name (a property statement); the function name by default.
        severity: the severity of every violation it yields.
        applies_to: `Scope.CONNECTION` (per transcript), `CASE` or `RUN` (needs outcome).
        closing: count its violations in the close-handling verdict.
        default: include it in the `default` selection.
        registry: where to register (the built-in `CHECKS` by default).
    """

    def decorate(function: CheckFunction) -> CheckFunction:
        doc = (function.__doc__ or "").strip().splitlines()
        registry.register(
            CheckDef(
                name=name or function.__name__,
                severity=severity,
                applies_to=applies_to,
                function=function,
                help=doc[0] if doc else "",
                closing=closing,
                default=default,
            )
        )
        return function

    return decorate


def run_checks(
    ctx: CheckContext, names: Iterable[str] | None = None, *, registry: Registry = CHECKS
) -> list[Violation]:
    """Run the selected checks on one case; violations sorted worst first, then by frame.

    Identical findings (same check, connection, event type, JSON path and title) are
    folded into the first one, counted in `occurrences`.

    Raises:
        UsageError: an unknown check name in `names`.
    """
    found: dict[tuple[object, ...], Violation] = {}
    for definition in registry.select(names):
        for violation in definition.run(ctx):
            key = (
                violation.check,
                violation.connection,
                violation.event_type,
                violation.json_path,
                violation.title,
            )
            first = found.get(key)
            found[key] = (
                violation
                if first is None
                else replace(first, occurrences=first.occurrences + violation.occurrences)
            )
    return sorted(found.values(), key=_order)


def _order(violation: Violation) -> tuple[int, int, int, str]:
    index = -1 if violation.index is None else violation.index
    return (violation.severity.rank, violation.connection, index, violation.check)
