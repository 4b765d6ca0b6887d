"""Fuzzing clients with generated server streams and faults (`realtime-conformance fuzz`).

The strategies behind it are public in `conformance.strategies` (docs/strategies.md);
this package holds their building blocks and the search engine:

    from conformance._cli_run import serve_mock
    from conformance.fuzzing import FuzzConfig, fuzz_client

    report = fuzz_client(FuzzConfig(client="python my_client.py", examples=30), mock=serve_mock)
    if report.failure is not None:
        print(report.failure.scenario_text)      # the shrunk case, as a scenario file

`conformance` never imports the mock: the caller passes a `MockFactory`. Runs are judged
with the runner's registry (`conformance.runner.runner_registry`): `run`, `check`,
`fuzz` and the pytest plugin accept the same check names.
"""

from ._scenario import scenario_data, scenario_id, scenario_yaml
from .engine import (
    DEFAULT_FUZZ_OUT,
    FuzzConfig,
    FuzzFailure,
    FuzzInterrupted,
    FuzzReport,
    fuzz_client,
    replay_scenario,
)

__all__ = [
    "DEFAULT_FUZZ_OUT",
    "FuzzConfig",
    "FuzzFailure",
    "FuzzInterrupted",
    "FuzzReport",
    "fuzz_client",
    "replay_scenario",
    "scenario_data",
    "scenario_id",
    "scenario_yaml",
]
