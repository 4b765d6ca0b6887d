"""The conformance runner: run any client command against the mock, one case per scenario.

    from mock_server import serve
    from conformance.runner import RunConfig, run_suite, select_cases

    config = RunConfig(client="node hud.js", jobs=2, timeout_s=20)
    suite = await run_suite(select_cases(cases, "beta-*"), config, mock=serve)
    print(suite.summary.line()); sys.exit(suite.exit_status)

`conformance` never imports the mock: the caller passes a `MockFactory` (the CLI passes
`mock_server.serve`) and the cases (`conformance._cli_run.builtin_cases()` makes them
from the built-in scenarios). The client learns where to connect from environment
variables (`inputs.CONTRACT`; docs/runner.md).
"""

from .cases import (
    DEFAULT_CASE,
    DEFAULT_CASE_ID,
    TOLERANT_CASE,
    TOLERANT_CASE_ID,
    Case,
    scenario_case,
    select_cases,
)
from .checks import runner_registry
from .inputs import CONTRACT, RunInputs, client_env, make_inputs, new_test_key, screenshot_png
from .mock import MockFactory, MockHandle
from .process import ClientProcess, run_client
from .suite import (
    DEFAULT_OUT_DIR,
    DEFAULT_TIMEOUT_S,
    Progress,
    RunConfig,
    SuiteResult,
    case_dir,
    closed_at_s,
    run_case,
    run_suite,
)

__all__ = [
    "CONTRACT",
    "DEFAULT_CASE",
    "DEFAULT_CASE_ID",
    "DEFAULT_OUT_DIR",
    "DEFAULT_TIMEOUT_S",
    "TOLERANT_CASE",
    "TOLERANT_CASE_ID",
    "Case",
    "ClientProcess",
    "MockFactory",
    "MockHandle",
    "Progress",
    "RunConfig",
    "RunInputs",
    "SuiteResult",
    "case_dir",
    "client_env",
    "closed_at_s",
    "make_inputs",
    "new_test_key",
    "run_case",
    "run_client",
    "run_suite",
    "runner_registry",
    "scenario_case",
    "screenshot_png",
    "select_cases",
]
