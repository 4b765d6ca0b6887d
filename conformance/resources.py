"""Where the data files live; the only module that knows the layout of `fixtures/`."""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


@cache
def fixtures_dir() -> Path:
    """The `fixtures/` folder: shipped inside the wheel, or beside the packages in a checkout."""
    for candidate in (_PACKAGE / "_fixtures", _PACKAGE.parent / "fixtures"):
        if (candidate / "schemas").is_dir():
            return candidate
    raise FileNotFoundError(
        f"fixtures not found next to {_PACKAGE}: reinstall realtime-conformance "
        "(pip install -e . in a checkout) so that fixtures/ is available"
    )


def schemas_dir() -> Path:
    """`fixtures/schemas/`: the GA schema bundle extracted from the official spec."""
    return fixtures_dir() / "schemas"


def scenarios_dir() -> Path:
    """`fixtures/scenarios/`: the built-in scenario catalog."""
    return fixtures_dir() / "scenarios"


def mcp_dir() -> Path:
    """`fixtures/mcp/`: the simulated MCP servers of the mock."""
    return fixtures_dir() / "mcp"


def models_file() -> Path:
    """`fixtures/models.yaml`: the model registry."""
    return fixtures_dir() / "models.yaml"


def transcripts_dir() -> Path:
    """`fixtures/transcripts/`: golden transcripts."""
    return fixtures_dir() / "transcripts"
