"""Client commands and helpers for the runner tests (real processes, mocks on 127.0.0.1)."""

from __future__ import annotations

import json
import os
import select
import shlex
import sys
from pathlib import Path
from typing import Any

from conformance._cli_run import builtin_cases, serve_mock
from conformance.runner import Case, RunConfig, SuiteResult, run_suite, select_cases

ROOT = Path(__file__).resolve().parents[2]
PYTHON = shlex.quote(sys.executable)
BROKEN = f"{PYTHON} {shlex.quote(str(ROOT / 'examples' / 'broken_client.py'))}"
REFERENCE = (
    f'{PYTHON} -m client_reference.cli "$REALTIME_SCREENSHOT" --url "$OPENAI_REALTIME_URL" '
    '--model "$REALTIME_MODEL" --timeout 5'
)
CASES = "default,beta-header-rejected,session-updated-delayed"
# What the default broken client shows in those cases (check names).
BROKEN_FINDINGS = {
    "default": {
        "does_not_send_beta_header",
        "surfaces_error_event",
        "surfaces_close_code_and_reason",
        "client_event_matches_schema",
        "images_are_input_image_data_urls",
    },
    "beta-header-rejected": {"does_not_send_beta_header", "surfaces_close_code_and_reason"},
    "session-updated-delayed": {"waits_for_session_created", "client_event_matches_schema"},
}


def cases(pattern: str = CASES) -> list[Case]:
    """The built-in cases matching `pattern`."""
    return select_cases(builtin_cases(), pattern)


async def suite(command: str, tmp: Path, pattern: str = CASES, **config: Any) -> SuiteResult:
    """`run_suite` of `command` on `pattern` with the real mock, output under `tmp`."""
    run_config = RunConfig(client=command, out_dir=tmp, **config)
    return await run_suite(cases(pattern), run_config, mock=serve_mock)


def script(tmp: Path, name: str, body: str) -> str:
    """Write a Python client script into `tmp`; returns the command that runs it."""
    path = tmp / name
    path.write_text(body, encoding="utf-8")
    return f"{PYTHON} {shlex.quote(str(path))}"


def checks_of(result: Any) -> set[str]:
    """The check names of a case's violations."""
    return {v.check for v in result.violations}


def read_json(path: Path) -> Any:
    """A JSON file's content."""
    return json.loads(path.read_text(encoding="utf-8"))


def ends_soon(pid: int, within_s: float = 5.0) -> bool:
    """True once process `pid` has exited (a zombie counts), waiting on a pidfd, bounded."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([fd], [], [], within_s)
    finally:
        os.close(fd)
    return bool(readable)
