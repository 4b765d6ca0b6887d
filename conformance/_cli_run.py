"""`realtime-conformance run`: run a client command against the mock, one case per scenario.

    realtime-conformance run --client "node hud.js" [--cases PATTERN] [--jobs N]
        [--scenario FILE|DIR ...] [--timeout S] [--out DIR] [--junit F] [--json F]
        [--html F] [--checks NAMES] [--tls]
    realtime-conformance run --list-cases
    realtime-conformance run --live [--upstream URL|mock] --client "node hud.js"

The client gets its URL, key, screenshot and prompt from environment variables
(docs/runner.md). Exit status: 0 when no case FAILED, 1 when one did, 2 for usage errors,
128 + the signal when SIGINT (130), SIGTERM (143) or SIGHUP (129) stopped the run: every
client process group is killed and the reports cover the cases that finished. This module
wires the adapters (`mock_server`) into `conformance.runner`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING

from conformance.checks import CheckSettings
from conformance.cli import Command
from conformance.protocol.errors import UsageError
from conformance.reports import ConsoleProgress, format_summary, write_html, write_json, write_junit
from conformance.reports.console import use_colour
from conformance.runner import (
    DEFAULT_CASE,
    DEFAULT_OUT_DIR,
    DEFAULT_TIMEOUT_S,
    TOLERANT_CASE,
    Case,
    MockFactory,
    MockHandle,
    RunConfig,
    SuiteResult,
    run_suite,
    scenario_case,
    select_cases,
)
from conformance.runner.cases import endpoint_pool, webrtc_pool
from conformance.runner.inputs import check_screenshot, inherited_env
from conformance.runner.live import LiveConfig, live_config, live_factory, live_pool, live_registry
from conformance.runner.long_session import LONG_SESSION_CASES
from conformance.runner.process import kill_all_clients
from conformance.runner.relay import DEFAULT_RELAY_URL, START_TIMEOUT_S, RelayConfig
from conformance.transcript import TRANSCRIPT_MAX_BYTES

if TYPE_CHECKING:  # the mock is imported lazily (layering)
    from mock_server.scenarios import Scenario
    from mock_server.tls import TlsFiles

EXIT_USAGE, EXIT_INTERRUPTED = 2, 130
# Each stops the run like Ctrl-C: clients killed, reports of the finished cases written.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class SignalStop:
    """What SIGINT, SIGTERM and SIGHUP do to `run`, `demo` and `fuzz`.

    The first signal kills every running client's process group at once (whatever the
    event loops are doing), says so on stderr and calls `then(signal)`, which makes the
    command stop and report what finished; `signal` remembers it. A second signal exits
    at once (128 + the signal), without reports.
    """

    def __init__(self, then: Callable[[signal.Signals], None], *, after: str) -> None:
        """`after`: what the command still does once its clients are stopped."""
        self.then, self.after = then, after
        self.signal: signal.Signals | None = None

    def __call__(self, sig: signal.Signals) -> None:
        """Handle `sig` (from a loop's signal handler or a plain `signal.signal` one)."""
        kill_all_clients()
        if self.signal is not None:  # the second signal: the user wants out now
            os._exit(128 + int(sig))
        self.signal = sig
        with contextlib.suppress(RuntimeError):  # a signal.signal handler amid a write
            say(f"{sig.name}: stopping every client, then {self.after}", err=True)
        self.then(sig)

    @contextlib.contextmanager
    def on_loop(self, loop: asyncio.AbstractEventLoop) -> Iterator[None]:
        """Handle the signals through `loop` (main thread only; elsewhere: not at all)."""
        installed = []
        for sig in STOP_SIGNALS:
            with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
                loop.add_signal_handler(sig, self, sig)
                installed.append(sig)
        try:
            yield
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """Handle the signals with `signal.signal` (a synchronous command; main thread
        only), the previous handlers restored after."""
        previous = {}
        for sig in STOP_SIGNALS:
            with contextlib.suppress(ValueError):  # not the main thread
                previous[sig] = signal.signal(
                    sig, lambda number, _frame: self(signal.Signals(number))
                )
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def add_pass_env_argument(parser: argparse.ArgumentParser) -> None:
    """`--pass-env NAME` (repeatable): more of the runner's environment for the client."""
    parser.add_argument(
        "--pass-env",
        action="append",
        default=[],
        metavar="NAME",
        help="also give the client this variable of the runner's environment (a name or a "
        "glob; repeat for more): by default it gets only PATH, HOME, locale, temp, "
        "toolchain and display variables, never a credential (docs/runner.md)",
    )


def builtin_cases() -> list[Case]:
    """`default` (no scenario), `tolerant`, then every built-in realtime scenario, by id."""
    from mock_server.scenarios import builtin_scenarios

    scenarios = [s for s in builtin_scenarios() if not s.translation]
    return [DEFAULT_CASE, TOLERANT_CASE] + [_case(s) for s in scenarios]


def translation_cases() -> list[Case]:
    """The cases of a translation client: every built-in scenario of the translations
    endpoint (`endpoint: translation`), by id. Opt-in: `run --translation`, or `--cases`
    naming them (`conformance.runner.cases.endpoint_pool`)."""
    from mock_server.scenarios import builtin_scenarios

    return [_case(s) for s in builtin_scenarios() if s.translation]


def _case(scenario: Scenario, played: str | None = None) -> Case:
    """The case of one scenario; the mock plays `played` (a file path) or its id."""
    case = scenario_case(
        scenario.id,
        client=scenario.expect.client,
        expect_summary=scenario.expect.summary,
        summary=scenario.summary,
        endpoint=scenario.endpoint,
        live=scenario.live,
        upgrade_only=scenario.upgrade_only or "",
    )
    if played:
        return dataclasses.replace(case, scenario=played)
    return dataclasses.replace(case, long_session=LONG_SESSION_CASES.get(scenario.id))


def file_cases(paths: Sequence[Path]) -> list[Case]:
    """One case per scenario file (a folder stands for its `*.yaml` files, sorted).

    Each file is loaded (and checked) here, so a typo is reported with its file and line
    before any client runs.

    Raises:
        UsageError: a path that does not exist, a folder without scenarios, two files with
            the same scenario id, or a scenario file that does not load.
    """
    from mock_server.scenarios import load_scenario

    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
            if not found:
                raise UsageError(f"--scenario {path}: no *.yaml scenario files in this folder")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise UsageError(f"--scenario {path}: no such file or folder{_builtin_hint(path)}")
    cases: list[Case] = []
    for file in files:
        scenario = load_scenario(file)
        if any(case.id == scenario.id for case in cases):
            raise UsageError(f"--scenario {file}: a second scenario with the id {scenario.id!r}")
        cases.append(_case(scenario, str(file.resolve())))
    return cases


def _builtin_hint(path: Path) -> str:
    """A hint to `--cases` when `path` is the id of a built-in case, not a file."""
    name = str(path)
    if name in {case.id for case in [*builtin_cases(), *translation_cases()]}:
        return f"; {name!r} is a built-in case: run it with --cases {name}"
    return ""


def long_session_pool(cases: Sequence[Case], pattern: str | None, opted_in: bool) -> list[Case]:
    """`cases` without the long-session ones, unless `opted_in` or `pattern` names them."""
    if opted_in:
        return list(cases)
    named = {token.strip() for token in (pattern or "").split(",")}
    return [case for case in cases if case.long_session is None or case.id in named]


def serve_mock(
    *,
    scenario: str | None,
    api_keys: tuple[str, ...],
    tolerant: bool = False,
    tls: TlsFiles | None = None,
) -> AbstractAsyncContextManager[MockHandle]:
    """A `mock_server` on 127.0.0.1 (any free port) accepting only `api_keys`; each session's
    transcript keeps frames in full up to `TRANSCRIPT_MAX_BYTES` (a flood stays bounded).
    With `tls`, it serves `wss://` and `https://` with those files."""
    from mock_server import serve

    return serve(
        tls=tls or False,
        host="127.0.0.1",
        port=0,
        scenario=scenario,
        api_keys=api_keys,
        tolerant=tolerant,
        transcript_max_bytes=TRANSCRIPT_MAX_BYTES,
    )


def default_jobs() -> int:
    """Cases at a time when `--jobs` is not given: up to 4, never more than the CPUs."""
    return max(1, min(4, os.cpu_count() or 1))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `run`."""
    parser.add_argument("--client", metavar="CMD", help="the client command (run by /bin/sh)")
    parser.add_argument("--cases", metavar="PATTERN", help="case ids or globs, comma-separated")
    parser.add_argument(
        "--scenario",
        action="append",
        type=Path,
        default=[],
        metavar="FILE|DIR",
        help="run these scenario files (a folder: its *.yaml) instead of the built-in "
        "catalog; repeat to add more",
    )
    parser.add_argument("--jobs", type=int, default=default_jobs(), metavar="N", help=_JOBS)
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT_S, metavar="S", help=_TIMEOUT
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT_DIR, metavar="DIR", help=_OUT)
    parser.add_argument("--junit", type=Path, metavar="FILE", help="also write JUnit XML")
    parser.add_argument("--json", type=Path, metavar="FILE", help="JSON report (DIR/report.json)")
    parser.add_argument("--html", type=Path, metavar="FILE", help="HTML report (DIR/report.html)")
    parser.add_argument("--checks", metavar="NAMES", help=_CHECKS)
    parser.add_argument(
        "--max-connections", type=int, default=5, metavar="N", help="reconnect storm bound (5)"
    )
    parser.add_argument(
        "--screenshot",
        action="append",
        type=Path,
        default=[],
        metavar="FILE",
        help="send this PNG or JPEG instead of the generated 320x200 one (repeat to add "
        "more: $REALTIME_SCREENSHOTS lists them)",
    )
    parser.add_argument(
        "--long-session",
        action="store_true",
        help="also run the long-session cases: screenshots delivered over time on stdin "
        "to a client that stays connected",
    )
    parser.add_argument(
        "--translation",
        action="store_true",
        help="test a translation client: run the translation cases (/v1/realtime/translations, "
        "$REALTIME_TRANSLATION_URL) instead of the realtime ones",
    )
    add_pass_env_argument(parser)
    parser.add_argument(
        "--tls",
        action="store_true",
        help="each case's mock serves wss:// and https:// (a local CA's certificate, "
        "docs/tls.md); the client also gets NODE_EXTRA_CA_CERTS and SSL_CERT_FILE naming the CA",
    )
    parser.add_argument(
        "--webrtc",
        action="store_true",
        help="the client connects over WebRTC: it gets REALTIME_TRANSPORT=webrtc, each case's "
        "mock answers POST /v1/realtime/calls, and the checks read the call's transcript "
        "(needs the webrtc extra; docs/browser.md)",
    )
    add_relay_arguments(parser)
    add_live_arguments(parser)
    parser.add_argument("--list-cases", action="store_true", help="list the cases, then exit")


def add_live_arguments(parser: argparse.ArgumentParser) -> None:
    """`--live [--upstream URL]`: the live cases against the live API (docs/live.md)."""
    parser.add_argument(
        "--live",
        action="store_true",
        help="run the live cases (default; long-session, translation-basic when asked) "
        "against the live API through the validating proxy, with $OPENAI_API_KEY (the "
        "client gets a placeholder key); see docs/live.md",
    )
    parser.add_argument(
        "--upstream",
        metavar="URL",
        help="with --live: where the proxy forwards (default: wss://api.openai.com; a mock "
        "such as ws://127.0.0.1:8765; 'mock': a fresh mock per case, no key needed)",
    )


def add_relay_arguments(parser: argparse.ArgumentParser) -> None:
    """`--relay CMD --relay-url URL`: judge a relay (docs/relay.md)."""
    parser.add_argument(
        "--relay",
        metavar="CMD",
        help="judge this relay: the mock is its upstream, the client (--client, or the "
        "reference client) connects to it, and both legs are judged (docs/relay.md)",
    )
    parser.add_argument(
        "--relay-url",
        default=DEFAULT_RELAY_URL,
        metavar="URL",
        help="where the relay listens; {port}: a free port, given to it as $RELAY_PORT "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--relay-start-timeout",
        type=float,
        default=START_TIMEOUT_S,
        metavar="S",
        help="how long the relay may take to listen (%(default)s)",
    )


_JOBS = "cases run at the same time (default: up to 4)"
_TIMEOUT = "the client's time limit per case; then its process group is killed (%(default)s)"
_OUT = "inputs, transcripts, client output and reports (default: ./%(default)s/)"
_CHECKS = "check selection: 'default', 'all', names, '-name' (default: default + expectations)"


def run(args: argparse.Namespace) -> int:
    """Run the suite from parsed arguments; returns the exit status."""
    check_live_options(args)
    cases = file_cases(args.scenario) if args.scenario else [*builtin_cases(), *translation_cases()]
    if args.live:
        cases = live_pool(cases, args.cases)
    if args.list_cases:
        sys.stdout.write(format_case_list(cases))
        return 0
    live = live_config(args.upstream, os.environ) if args.live else None
    relay = relay_config(args)
    if not args.client:
        raise UsageError("give the client command: --client 'CMD ...' (or --list-cases)")
    for path in args.screenshot:  # a missing or non-image file fails before any case runs
        check_screenshot(path)
    # A realtime client is not run against translation cases it did not ask for.
    own_files = args.scenario and not args.translation
    pool = cases if own_files else endpoint_pool(cases, args.cases, args.translation)
    chosen = select_cases(long_session_pool(pool, args.cases, args.long_session), args.cases)
    not_run: list[Case] = []
    if args.webrtc:  # a case acting on the WebSocket upgrade has nothing to act on in a call
        chosen, not_run = webrtc_pool(chosen, args.cases)
    mock, env = tls_mock(args.pass_env) if args.tls else (serve_mock, None)
    if args.webrtc:
        env = webrtc_env(env, args.pass_env)
    if live is not None:
        mock = live_factory(live, mock=serve_mock)
    config = RunConfig(
        client=args.client,
        timeout_s=args.timeout,
        jobs=args.jobs,
        out_dir=args.out,
        checks=(args.checks,) if args.checks else None,
        settings=CheckSettings(max_connections=args.max_connections),
        screenshots=tuple(args.screenshot),
        pass_env=tuple(args.pass_env),
        env=env,
        relay=relay,
        registry=live_registry() if live else None,
    )
    say(_running_line(args, len(chosen), live), err=True)
    if not_run:
        say(not_run_line(not_run), err=True)
    suite = execute(chosen, config, mock=mock)
    if suite is None:
        return EXIT_INTERRUPTED
    sys.stdout.write(format_summary(suite.results, suite.summary, colour=use_colour(sys.stdout)))
    skipped = [(case.id, f"not run over WebRTC: {case.upgrade_only}") for case in not_run]
    write_reports(suite, json=args.json, html=args.html, junit=args.junit, not_run=skipped)
    if suite.interrupted is not None:
        say(interrupted_line(suite, len(chosen)), err=True)
    return suite.exit_status


def not_run_line(cases: Sequence[Case]) -> str:
    """The console line naming the chosen cases `run --webrtc` leaves out, and why."""
    ids = ", ".join(case.id for case in cases)
    return (
        f"not run over WebRTC: {ids} (they act on the WebSocket upgrade, which a WebRTC "
        "call does not have; run them without --webrtc)"
    )


def webrtc_env(env: dict[str, str] | None, pass_env: Sequence[str] = ()) -> dict[str, str]:
    """`run --webrtc`: the client's environment (`env`, else what it inherits) plus
    `REALTIME_TRANSPORT=webrtc`, the contract's way of saying "connect over WebRTC".

    Raises:
        UsageError: the mock cannot answer WebRTC offers (no `webrtc` extra).
    """
    from mock_server._webrtc import AVAILABLE, MISSING_MESSAGE

    if not AVAILABLE:
        raise UsageError(f"run --webrtc: {MISSING_MESSAGE}")
    base = dict(env) if env is not None else inherited_env(os.environ, pass_env)
    return {**base, "REALTIME_TRANSPORT": "webrtc"}


def check_live_options(args: argparse.Namespace) -> None:
    """`--upstream` only with `--live`; `--live` without the options it cannot honour.

    Raises:
        UsageError: naming the option.
    """
    webrtc = getattr(args, "webrtc", False)
    for flag, given in (("--relay", args.relay), ("--translation", args.translation)):
        if webrtc and given:
            raise UsageError(f"--webrtc does not take {flag} (a WebRTC call is a realtime session)")
    if webrtc and args.live:
        raise UsageError("--webrtc does not take --live (the validating proxy speaks WebSocket)")
    if not args.live:
        if args.upstream:
            raise UsageError("--upstream goes with --live (without it, run uses a mock per case)")
        return
    if args.scenario:
        raise UsageError(
            "--live takes no --scenario: the live API plays no scenario file (run the file "
            "without --live)"
        )
    for flag, given in (("--relay", args.relay), ("--tls", args.tls)):
        if given:
            raise UsageError(f"--live does not take {flag} (the proxy serves ws:// on loopback)")


def _running_line(args: argparse.Namespace, count: int, live: LiveConfig | None) -> str:
    """The first console line: how many cases, against what."""
    if live is not None:
        return f"Running {count} live case(s) against {live.describe}: {args.client}"
    over = " over TLS" if args.tls else ""
    if getattr(args, "webrtc", False):
        over += " over WebRTC"
    target = f"relay {args.relay} (driven by {args.client})" if args.relay else args.client
    return f"Running {count} case(s){over} against: {target}"


def relay_config(args: argparse.Namespace) -> RelayConfig | None:
    """`--relay`'s configuration (None without it). The reference client drives the relay
    unless `--client` names another; a fixed relay port runs one case at a time."""
    if not args.relay:
        return None
    relay = RelayConfig(
        command=args.relay, url=args.relay_url, start_timeout_s=args.relay_start_timeout
    )
    if not args.client:
        from conformance._cli_demo import reference_command

        args.client = reference_command()
    if relay.fixed_port and args.jobs > 1:
        say(f"--relay-url names its port: one case at a time (not --jobs {args.jobs})", err=True)
        args.jobs = 1
    return relay


def interrupted_line(suite: SuiteResult, total: int) -> str:
    """What an interrupted run did: which signal, how many cases made it into the reports."""
    name = suite.interrupted.name if suite.interrupted is not None else "a signal"
    return (
        f"stopped by {name} (exit {suite.exit_status}): every client process was killed; "
        f"the reports cover the {len(suite.results)} of {total} case(s) that finished"
    )


def tls_mock(pass_env: Sequence[str] = ()) -> tuple[MockFactory, dict[str, str]]:
    """`run --tls`: a mock factory serving the local CA's certificate (made now, once,
    not by each case), and the client's environment: what it inherits, plus the variables
    that make it trust the CA (`NODE_EXTRA_CA_CERTS`, `SSL_CERT_FILE`).

    Raises:
        UsageError: the certificate cannot be made (no `tls` extra, unwritable cache).
    """
    from mock_server.tls import local_tls, trust_env

    files = local_tls()
    env = {**inherited_env(os.environ, pass_env), **trust_env(files)}
    return functools.partial(serve_mock, tls=files), env


def execute(
    cases: Sequence[Case],
    config: RunConfig,
    *,
    label: str | None = None,
    mock: MockFactory = serve_mock,
) -> SuiteResult | None:
    """`run_suite` with console progress on stderr.

    SIGINT (Ctrl-C), SIGTERM and SIGHUP kill every client's process group at once and
    stop the run: the result holds the cases that finished, with `interrupted` set (its
    `exit_status` is 128 + the signal). A second signal exits at once, without reports.
    None when interrupted before the run started.

    Raises:
        UsageError: a mock could not start or the client's shell could not run.
    """
    # Parallel cases: whole lines only (a terminal's half-written line would interleave).
    progress = ConsoleProgress(len(cases), colour=False if config.jobs > 1 else None)
    if label:
        say(label, err=True)

    async def main() -> SuiteResult:
        loop = asyncio.get_running_loop()
        stop: asyncio.Future[signal.Signals] = loop.create_future()
        with SignalStop(stop.set_result, after="writing the reports").on_loop(loop):
            return await run_suite(cases, config, mock=mock, progress=progress, stop=stop)

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:  # before the handlers were in place
        kill_all_clients()
        say("interrupted; every client process was stopped", err=True)
        return None
    except OSError as exc:
        raise UsageError(f"cannot run the suite: {exc}") from exc


def write_reports(
    suite: SuiteResult,
    *,
    json: Path | None = None,
    html: Path | None = None,
    junit: Path | None = None,
    announce: bool = True,
    not_run: Sequence[tuple[str, str]] = (),
) -> dict[str, Path]:
    """Write JSON and HTML (by default into the output folder) and JUnit if asked.

    `not_run`: (case id, why) of chosen cases that were not run (the JSON report lists
    them). With `announce`, the paths are printed on stderr.
    """
    results = list(suite.results)
    written = {
        "json": write_json(results, json or suite.out_dir / "report.json", not_run=not_run),
        "html": write_html(results, html or suite.out_dir / "report.html"),
    }
    if junit is not None:
        written["junit"] = write_junit(results, junit)
    if announce:
        for path in written.values():
            say(f"wrote {path}", err=True)
        say(f"transcripts and client output: {suite.out_dir / 'cases'}", err=True)
    return written


def say(text: str, *, err: bool = False) -> None:
    """Write one line to stdout (or stderr with `err`)."""
    stream = sys.stderr if err else sys.stdout
    stream.write(f"{text}\n")
    stream.flush()


def format_case_list(cases: Sequence[Case]) -> str:
    """One line per case: id and summary."""
    width = max(len(c.id) for c in cases)
    return "".join(f"{c.id:<{width}}  {c.summary}\n" for c in cases)


COMMAND = Command(
    name="run",
    help="run a client command against the mock, one case per scenario; exit 1 if any FAILED",
    add_arguments=add_arguments,
    run=run,
)
