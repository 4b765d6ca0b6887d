"""The import rules of ARCHITECTURE.md, checked by walking every module's imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN_IN_CORE = {"asyncio", "time", "uuid", "random", "websockets", "orjson", "jsonschema"}


def imports_of(path: Path) -> set[str]:
    """Absolute module names imported by a file (relative imports resolved)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                found.add(".".join([*base, node.module] if node.module else base))
            elif node.module:
                found.add(node.module)
    return found


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def top(name: str) -> str:
    return name.split(".")[0]


@pytest.mark.parametrize("path", modules("conformance/protocol"), ids=str)
def test_protocol_core_imports_only_the_standard_library(path):
    imported = imports_of(path)
    stray = {
        name
        for name in imported
        if top(name) in FORBIDDEN_IN_CORE
        or (top(name) == "conformance" and not name.startswith("conformance.protocol"))
        or top(name) in {"mock_server", "client_reference", "yaml"}
    }
    assert stray == set(), f"{path} imports {sorted(stray)}"


@pytest.mark.parametrize(
    "path",
    [p for p in modules("conformance") if p.name not in {"__main__.py", "pytest_plugin.py"}],
    ids=str,
)
def test_conformance_never_imports_the_adapters(path):
    if "cli" in path.parts or path.name.startswith("_cli"):
        pytest.skip("CLI modules may import the adapters lazily")
    stray = {n for n in imports_of(path) if top(n) in {"mock_server", "client_reference"}}
    assert stray == set(), f"{path} imports {sorted(stray)}"


@pytest.mark.parametrize(
    ("package", "other"), [("mock_server", "client_reference"), ("client_reference", "mock_server")]
)
def test_adapters_never_import_each_other(package, other):
    offenders = [str(p) for p in modules(package) if any(top(n) == other for n in imports_of(p))]
    assert offenders == []


@pytest.mark.parametrize("path", modules("conformance/diff"), ids=str)
def test_the_diff_is_pure_functions_over_transcripts(path: Path) -> None:
    """`conformance/diff` reads files and compares: no sockets, no event loop, no adapters,
    and none of the proxy or runner machinery."""
    stray = {
        name
        for name in imports_of(path)
        if top(name) in {"asyncio", "socket", "websockets", "mock_server", "client_reference"}
        or name.startswith(("conformance.proxy", "conformance.runner", "conformance.replay"))
    }
    assert stray == set(), f"{path} imports {sorted(stray)}"


def test_fixtures_hold_no_python():
    assert list((ROOT / "fixtures").rglob("*.py")) == []
