"""`realtime-conformance demo`: the suite against a correct and a broken client, side by side.

    realtime-conformance demo [--out DIR] [--jobs N] [--cases PATTERN]

Runs a representative set of cases against the reference client (`realtime-notes`) and
against `examples/broken_client.py` (a source checkout is needed for it), prints both
verdicts per case, what the checks found in the broken client, and the two HTML reports.
Exit status 0 when the demo came out as it should (reference: every case OK; broken
client: FAILED with the expected findings), 1 otherwise, 2 for usage errors.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from conformance._cli_run import (
    builtin_cases,
    execute,
    long_session_pool,
    say,
    write_reports,
)
from conformance.cli import Command
from conformance.protocol.errors import UsageError
from conformance.reports.console import finding_line, group_findings, in_cases
from conformance.resources import fixtures_dir
from conformance.runner import DEFAULT_TIMEOUT_S, RunConfig, SuiteResult, select_cases
from conformance.verdicts import CaseResult, Verdict

DEMO_CASES: Final = (
    "default,tolerant,beta-header-rejected,session-updated-delayed,server-error-mid-response,"
    "response-failed-no-error-event,tcp-drop-mid-response,invalid-api-key,session-expired"
)
# check -> what it shows about the broken client (all must be found for the demo to pass)
EXPECTED_FINDINGS: Final = {
    "does_not_send_beta_header": "sends the retired OpenAI-Beta: realtime=v1 header",
    "waits_for_session_created": "sends session.update before session.created",
    "client_event_matches_schema": "beta-shaped session.update (modalities, voice)",
    "images_are_input_image_data_urls": "screenshot under the wrong field ('image')",
    "surfaces_error_event": "swallows error events (exit 0, nothing printed)",
}
DEFAULT_DEMO_OUT: Final = Path("realtime-conformance-demo")
REFERENCE_TIMEOUT_S: Final = 5  # realtime-notes' own bound on every wait


def broken_client_path() -> Path:
    """`examples/broken_client.py` of the source checkout.

    Raises:
        UsageError: not found (an install from a wheel has no `examples/`).
    """
    try:
        path = fixtures_dir().parent / "examples" / "broken_client.py"
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from exc
    if not path.is_file():
        raise UsageError(
            f"the demo needs examples/broken_client.py from a source checkout; not found at "
            f"{path}. Clone the repository and `pip install -e .` there, or run "
            "`realtime-conformance run --client CMD` against your own client."
        )
    return path


def reference_command() -> str:
    """`realtime-notes "$REALTIME_SCREENSHOT" --url "$OPENAI_REALTIME_URL" ...` (this Python's)."""
    script = Path(sys.executable).with_name("realtime-notes")
    program = (
        shlex.quote(str(script))
        if script.is_file()
        else f"{shlex.quote(sys.executable)} -m client_reference.cli"
    )
    return (
        f'{program} "$REALTIME_SCREENSHOT" --url "$OPENAI_REALTIME_URL" '
        f'--model "$REALTIME_MODEL" --timeout {REFERENCE_TIMEOUT_S}'
    )


def broken_command() -> str:
    """`python examples/broken_client.py` with this Python (it has `websockets`)."""
    return f"{shlex.quote(sys.executable)} {shlex.quote(str(broken_client_path()))}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `demo`."""
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_DEMO_OUT,
        metavar="DIR",
        help="(default: ./%(default)s/)",
    )
    parser.add_argument("--jobs", type=int, default=2, metavar="N", help="cases at a time (2)")
    parser.add_argument(
        "--cases", default=DEMO_CASES, metavar="PATTERN", help="cases to run (default: 9 of them)"
    )


def run(args: argparse.Namespace) -> int:
    """Run the demo; returns its exit status."""
    cases = select_cases(long_session_pool(builtin_cases(), args.cases, False), args.cases)
    clients = (("reference", reference_command()), ("broken client", broken_command()))
    say(f"realtime-conformance demo: {len(cases)} cases against two clients", err=True)
    suites: list[SuiteResult] = []
    for label, command in clients:
        config = RunConfig(
            client=command,
            jobs=args.jobs,
            timeout_s=DEFAULT_TIMEOUT_S,
            out_dir=args.out / label.replace(" ", "-"),
        )
        suite = execute(cases, config, label=f"\n== {label}: {command}")
        if suite is None:
            return 130
        if suite.interrupted is not None:  # SIGINT, SIGTERM, SIGHUP: clients already killed
            return suite.exit_status
        suites.append(suite)
    reference, broken = suites
    say(side_by_side(reference, broken))
    findings, missing = broken_findings(broken.results)
    say(findings)
    say("\nReports:")
    for label, suite in zip(("reference", "broken client"), suites, strict=True):
        html = write_reports(suite, announce=False)["html"]
        say(f"  {label:<14} {html.resolve()}")
    # Every expected finding shows within the default cases; a custom --cases may lack some.
    problems = demo_problems(reference, broken, missing if args.cases == DEMO_CASES else [])
    say("")
    say("\n".join(problems) if problems else _SUCCESS)
    return 1 if problems else 0


_SUCCESS = (
    "Demo OK: the reference client passed every case; the broken client FAILED with the "
    "expected findings. Run your own client with: realtime-conformance run --client 'CMD'"
)


def side_by_side(reference: SuiteResult, broken: SuiteResult) -> str:
    """One row per case: the reference client's verdict and the broken client's."""
    rows = [("Case", "reference", "broken client")]
    for ref, bad in zip(reference.results, broken.results, strict=True):
        rows.append((ref.case_id, _cell(ref), _cell(bad)))
    rows.append(("summary", _totals(reference.results), _totals(broken.results)))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.insert(len(lines) - 1, lines[1])
    return "\n" + "\n".join(line.rstrip() for line in lines)


def _cell(result: CaseResult) -> str:
    count = len(result.violations)
    return str(result.verdict) + (f" ({count} finding{'s' if count != 1 else ''})" if count else "")


def _totals(results: Sequence[CaseResult]) -> str:
    counts = {v: sum(r.verdict is v for r in results) for v in Verdict}
    return ", ".join(f"{n} {v}" for v, n in counts.items() if n)


def broken_findings(results: Sequence[CaseResult]) -> tuple[str, list[str]]:
    """The findings text (expected ones ticked, others listed) and the expected ones missing.

    The grouping is the one every `run` ends with (`conformance.reports.console`).
    """
    groups = group_findings(results)
    cases_by_check: dict[str, list[str]] = {}
    for group in groups:
        found = cases_by_check.setdefault(group.check, [])
        found += [case for case in group.cases if case not in found]
    lines = ["\nWhat the checks found in the broken client:"]
    missing = []
    for name, meaning in EXPECTED_FINDINGS.items():
        where = cases_by_check.get(name, [])
        mark = "x" if where else " "
        if not where:
            missing.append(name)
        found_in = in_cases(where, 40) if where else "not found"
        lines.append(f"  [{mark}] {meaning:<52} {name} ({found_in})")
    lines += [
        f"  also: {finding_line(group)}" for group in groups if group.check not in EXPECTED_FINDINGS
    ]
    return "\n".join(lines), missing


def demo_problems(reference: SuiteResult, broken: SuiteResult, missing: list[str]) -> list[str]:
    """Why the demo did not come out as it should (empty when it did)."""
    problems = [
        f"unexpected: the reference client got {r.verdict} in {r.case_id} "
        f"(see {reference.out_dir / 'report.html'})"
        for r in reference.results
        if r.verdict is not Verdict.OK
    ]
    if broken.summary.failed == 0:
        problems.append("unexpected: the broken client FAILED no case")
    problems += [f"unexpected: no {name} finding for the broken client" for name in missing]
    return problems


COMMAND = Command(
    name="demo",
    help="run the suite against the reference client and a deliberately broken one",
    add_arguments=add_arguments,
    run=run,
)
