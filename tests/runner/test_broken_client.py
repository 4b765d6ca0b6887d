"""`examples/broken_client.py`: each planted bug (BROKEN_CLIENT_BUG) is found by its check."""

from __future__ import annotations

import os

import pytest

from .support import BROKEN, checks_of, suite

# bug -> (a case that exposes it, the checks that must find it)
BUGS = {
    "none": ("default", set()),
    "beta-header": ("default", {"does_not_send_beta_header"}),
    "early-event": ("session-updated-delayed", {"waits_for_session_created"}),
    "beta-session": ("default", {"client_event_matches_schema"}),
    "image-field": ("default", {"client_event_matches_schema", "images_are_input_image_data_urls"}),
    "image-as-text": ("default", {"images_are_input_image_data_urls"}),
    "swallow-errors": (
        "server-error-mid-response",
        {"surfaces_error_event", "surfaces_close_code_and_reason"},
    ),
    "double-response": ("active-response-conflict", {"tracks_response_lifecycle"}),
    "print-key": ("default", {"does_not_print_api_key"}),
}


@pytest.mark.parametrize("bug", list(BUGS))
async def test_each_planted_bug_is_found(bug, tmp_path):
    case_id, expected = BUGS[bug]
    env = {**os.environ, "BROKEN_CLIENT_BUG": bug}
    (result,) = (await suite(BROKEN, tmp_path, case_id, env=env)).results
    found = checks_of(result)
    assert expected <= found, (bug, found)
    if not expected:
        assert str(result.verdict) == "OK", found


async def test_unknown_bug_name_exits_2(tmp_path):
    env = {**os.environ, "BROKEN_CLIENT_BUG": "no-such-bug"}
    (result,) = (await suite(BROKEN, tmp_path, "default", env=env)).results
    assert result.outcome is not None
    assert result.outcome.exit_code == 2
    assert "unknown BROKEN_CLIENT_BUG" in result.outcome.stderr
