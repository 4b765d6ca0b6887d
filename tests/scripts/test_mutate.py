"""`scripts/mutate.py`: what it mutates, what it leaves alone, how it expands a package.

The documented command mutates the whole of `mock_server/` (an hour on two cores); the
last test runs the same entry point on a slice of it, for real, in its temporary copy.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

from scripts import mutate

ROOT = Path(__file__).resolve().parents[2]

SOURCE = '''"""A docstring."""
import logging

logger = logging.getLogger(__name__)
LIMIT = 3


def f(a, b):
    """Docstring left alone."""
    logger.info("not behaviour %s", a)
    if a == b and not a:
        return a + 1
    total = a * b  # pragma: no mutate
    return "text"
'''


@cache
def mutants_of_module(module: str) -> tuple[mutate.Mutant, ...]:
    return tuple(mutate.mutants_of(module, (ROOT / module).read_text()))


def mutations(source: str = SOURCE) -> set[tuple[int, str, str]]:
    return {(m.line, m.description, m.text) for m in mutate.mutants_of("m.py", source)}


def test_each_operator_makes_its_mutant() -> None:
    found = mutations()
    assert (5, "constant 3 -> 4", "4") in found
    assert (11, "== -> !=", "a != b") in found
    assert (11, "and -> or", "a == b or not a") in found
    assert (11, "not x -> x", "a") in found
    assert (11, "negate if-test", "not (a == b and (not a))") in found
    assert (12, "+ -> -", "a - 1") in found
    assert (12, "return None", "return None") in found
    assert (14, "string constant changed", "'XXtextXX'") in found


def test_docstrings_log_calls_and_pragma_lines_are_left_alone() -> None:
    lines = {line for line, _, _ in mutations()}
    assert not lines & {1, 9, 10, 13}, sorted(lines)


def test_every_mutant_parses_and_differs_from_the_original() -> None:
    for mutant in mutate.mutants_of("m.py", SOURCE):
        changed = mutant.apply(SOURCE)
        assert changed != SOURCE
        ast.parse(changed)


def test_a_package_expands_to_its_mapped_modules_and_names_the_rest() -> None:
    modules, left_out = mutate.expand(["mock_server"])
    assert "mock_server/behaviour.py" in modules
    assert "mock_server/scenarios/runtime.py" in modules
    assert modules == sorted(set(modules), key=modules.index)  # no duplicates
    assert all(m in mutate.TESTS for m in modules)
    for module in left_out:
        assert module in mutate.UNMAPPED or not mutants_of_module(module), (
            f"{module} has mutants but no tests in scripts/mutate.py TESTS: map it"
        )


def test_every_module_of_the_mock_is_mapped_to_tests_that_exist() -> None:
    """A new module, or a renamed test file, shows up here rather than as a silent skip."""
    for module in mutate.expand(["mock_server"])[0]:
        tests = mutate.TESTS[module]
        assert mutate.existing(ROOT, tests), f"{module}: none of its mapped tests exist"
    missing = {
        test
        for tests in mutate.TESTS.values()
        for test in tests
        if not (ROOT / test.split("::")[0]).exists()
    }
    assert not missing, f"TESTS names test paths that do not exist: {sorted(missing)}"


def test_equivalent_mutants_name_real_lines_and_mutations() -> None:
    """An entry whose line was edited away no longer matches anything: drop or update it."""
    for (module, line, description), reason in mutate.EQUIVALENT.items():
        source = (ROOT / module).read_text()
        matching = [
            m
            for m in mutants_of_module(module)
            if mutate.equivalent_reason(m, source) == reason and m.description == description
        ]
        assert matching, f"EQUIVALENT entry matches no mutant of {module}: {line!r} ({reason})"


def test_the_documented_command_runs_on_a_slice(capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m scripts.mutate mock_server --every 20`: its plan covers every mapped
    module of the package, and the same entry point runs a slice of it for real (the
    default hooks' answer to a client event, against the pinned tests, in a copy)."""
    assert mutate.main(["mock_server", "--every", "20", "--list"]) == 0
    planned = capsys.readouterr().out
    for module in mutate.expand(["mock_server"])[0]:
        assert f"{module}: " in planned
    for module in mutate.UNMAPPED:
        if (ROOT / module).exists():
            assert f"{module}: left out" in planned

    source = (ROOT / "mock_server/hooks.py").read_text()
    line = next(m.line for m in mutants_of_module("mock_server/hooks.py"))
    status = mutate.main(
        [
            "mock_server/hooks.py",
            "--lines",
            f"{line}-{line}",
            "--tests",
            "tests/mock_server/test_pinned_behaviour.py",
        ]
    )
    out = capsys.readouterr().out
    assert "clean run" in out
    on_line = [m for m in mutate.mutants_of("mock_server/hooks.py", source) if m.line == line]
    equivalent = [m for m in on_line if mutate.equivalent_reason(m, source) is not None]
    assert f"{len(on_line) - len(equivalent)} mutants judged" in out
    assert f"{len(equivalent)} equivalent skipped" in out
    assert status in (0, 1)
