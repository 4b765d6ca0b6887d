"""Hypothesis profiles for the whole suite, chosen by `REALTIME_HYPOTHESIS_PROFILE`.

* `ci` (the default): derandomized (the same examples on every run, no database), no
  deadline, the failing example printed as a reproduction blob. The property tests in
  `tests/properties/` scale their example counts from this profile's `max_examples`.
* `thorough`: ten times the examples, random, with the local example database:
  `REALTIME_HYPOTHESIS_PROFILE=thorough .venv/bin/pytest tests/properties`.

Tests that set `max_examples` themselves keep their own counts in both profiles.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

PROFILE_VARIABLE = "REALTIME_HYPOTHESIS_PROFILE"

settings.register_profile(
    "ci",
    max_examples=100,
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    max_examples=1000,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get(PROFILE_VARIABLE, "ci"))
