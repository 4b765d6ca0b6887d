"""Enable `pytester` for the plugin tests.

`pytest_plugins = ["pytester"]` is only allowed in the top-level conftest, and pytest
loads this one late (during collection) when the whole suite runs, so the plugin is
imported here instead; `pytest_configure` still runs for conftests registered late.
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("pytester"):
        config.pluginmanager.import_plugin("pytester")
