"""The `target` fixture: the smoke tests run against the mock always, the live API on request.

`pytest tests/live` runs the mock target and skips the live one with the reason;
`RUN_LIVE=1 OPENAI_API_KEY=sk-... pytest -m live` runs only the live target.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from mock_server import serve
from tests.live.targets import Target, live_skip_reason, live_target, mock_target


@pytest.fixture(
    params=[
        pytest.param("mock", marks=pytest.mark.integration),
        pytest.param("live", marks=pytest.mark.live),
    ]
)
async def target(request: pytest.FixtureRequest) -> AsyncIterator[Target]:
    """A `Target` to connect to; `live` is skipped unless RUN_LIVE=1 and OPENAI_API_KEY."""
    if request.param == "live":
        reason = live_skip_reason()
        if reason is not None:
            pytest.skip(reason)
        yield live_target()
        return
    async with serve(port=0, close_timeout=2.0) as server:
        yield mock_target(server)
