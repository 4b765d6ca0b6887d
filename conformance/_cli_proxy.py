"""`realtime-conformance proxy`: a proxy between any client and the API, judging each connection.

    realtime-conformance proxy --upstream wss://api.openai.com [--host H] [--port N]
        [--record DIR] [--api-key KEY] [--tls | --cert F --key F] [--checks NAMES]
        [--junit F] [--json F] [--html F] [--connections N]

Point the client at the printed URL (`OPENAI_REALTIME_URL`, `OPENAI_BASE_URL`). Each
WebSocket connection is forwarded upstream, validated, recorded (`--record`: one JSONL
file per connection, appended as frames pass) and judged when it ends with the checks of
`run` and `check`; the console shows its verdict and findings, and the reports are
rewritten with every connection judged so far. Stop with Ctrl-C (or `--connections N`).
Exit status: 0 when no connection FAILED, 1 when one did, 2 for usage errors.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import os
import signal
import sys
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from conformance.cli import Command, add_report_arguments
from conformance.protocol.errors import UsageError
from conformance.transcript import TRANSCRIPT_MAX_BYTES, Transcript, redact

if TYPE_CHECKING:
    from conformance.proxy import EndedConnection
    from conformance.verdicts import CaseResult

DEFAULT_PORT: Final = 8766  # the mock's default is 8765: both can run side by side
KEPT_RESULTS: Final = 1000  # connections the reports cover (the most recent)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `proxy` options."""
    parser.add_argument(
        "--upstream",
        required=True,
        metavar="URL",
        help="the API to forward to: wss://api.openai.com, or a mock (ws://127.0.0.1:8765)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="listen address (127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"listen port ({DEFAULT_PORT}; 0: any free)"
    )
    parser.add_argument(
        "--record",
        type=Path,
        metavar="DIR",
        help="write each connection's transcript (JSONL, keys masked) to DIR as frames pass",
    )
    parser.add_argument(
        "--api-key",
        metavar="KEY",
        help="the key sent upstream instead of the client's (default: $OPENAI_API_KEY if "
        "set; else the client's own key goes through)",
    )
    parser.add_argument(
        "--checks",
        default="default",
        metavar="NAMES",
        help="comma-separated check names, as for `check` ('default', 'all', '-name')",
    )
    add_report_arguments(parser)
    parser.add_argument(
        "--connections",
        type=int,
        metavar="N",
        help="stop after N connections have ended (default: run until Ctrl-C)",
    )
    parser.add_argument(
        "--no-compression",
        action="store_true",
        help="do not negotiate permessage-deflate on either leg",
    )
    from mock_server.cli import _add_tls_arguments  # the mock's --tls/--cert/--key/--tls-dir

    _add_tls_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Run the proxy until Ctrl-C/SIGTERM or `--connections N`; the worst verdict decides."""
    from conformance.proxy import ProxyConfig, judge_connection, proxy_registry
    from conformance.reports import ConsoleProgress
    from conformance.verdicts import summarize

    proxy_registry().select([args.checks])  # an unknown check name fails now, not later
    if args.connections is not None and args.connections < 1:
        raise UsageError("--connections: expected 1 or more")
    api_key = args.api_key or os.environ.get("OPENAI_API_KEY") or None
    context, trust = _tls(args)
    recorder = _Recorder(args.record) if args.record else None
    config = ProxyConfig(
        upstream=args.upstream,
        host=args.host,
        port=args.port,
        api_key=api_key,
        ssl=context,
        compression=not args.no_compression,
        transcript_max_bytes=TRANSCRIPT_MAX_BYTES,
    )
    secrets = (api_key,) if api_key else ()
    results: deque[CaseResult] = deque(maxlen=KEPT_RESULTS)
    progress = ConsoleProgress(0, colour=False)
    # Judging and writing reports happen off the event loop (one at a time), so a
    # connection that ends never delays the frames of those still open.
    judge_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="proxy-judge")

    def judge(ended: EndedConnection, path: Path | None) -> CaseResult:
        from conformance.runner.suite import redact_result

        result = judge_connection(
            ended.transcript,
            case_id=f"connection-{ended.number}",
            checks=args.checks,
            transcript_paths=[str(path)] if path else (),
            duration_s=ended.duration_s,
        )
        result = redact_result(result, secrets)
        results.append(result)
        _show(result, ended, progress, secrets)
        _write_reports(args, list(results))
        return result

    async def main() -> None:
        from conformance.proxy import ProxyServer

        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        pending: set[asyncio.Future[CaseResult]] = set()

        def on_end(ended: EndedConnection) -> None:
            path = recorder.close(ended.number) if recorder is not None else None
            future = asyncio.wrap_future(judge_pool.submit(judge, ended, path))
            pending.add(future)
            future.add_done_callback(pending.discard)
            enough = args.connections is not None and proxy.ended_count >= args.connections
            if enough and not done.done():
                done.set_result(None)

        proxy = ProxyServer(
            config,
            on_open=recorder.open if recorder is not None else None,
            on_end=on_end,
            keep_ended=0,  # each transcript is judged in `on_end`; none is kept after
        )
        try:
            await proxy.start()
        except OSError as exc:
            raise UsageError(
                f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}; "
                "give another --port (0: any free one)"
            ) from None
        _announce(proxy.url, proxy.base_url, str(proxy.upstream), trust, api_key is not None)
        stop = _on_signals(loop, done)
        try:
            await done
        finally:
            stop()
            await proxy.stop()
            if pending:
                await asyncio.wait(pending, timeout=60)

    try:
        asyncio.run(main())
    except KeyboardInterrupt:  # before the handlers were in place
        pass
    finally:
        judge_pool.shutdown(wait=True)
        if recorder is not None:
            recorder.close_all()
    summary = summarize(list(results))
    if len(results) > 1:
        from conformance.reports import format_summary
        from conformance.reports.console import use_colour

        _say(format_summary(list(results), summary, colour=use_colour(sys.stdout)), end="")
    verdict = "a connection FAILED" if summary.exit_status else "none FAILED"
    _say(f"proxy: {len(results)} connection(s) judged; {verdict}", err=True)
    return summary.exit_status


def _tls(args: argparse.Namespace) -> tuple[Any, dict[str, str]]:
    from mock_server.cli import tls_option

    files = tls_option(args)
    if files is False:
        return None, {}
    from mock_server.tls import local_tls, server_context, trust_env

    files = local_tls() if files is True else files
    return server_context(files), trust_env(files)


def _announce(url: str, base: str, upstream: str, trust: dict[str, str], own_key: bool) -> None:
    key = "the proxy's key (--api-key/$OPENAI_API_KEY)" if own_key else "the client's own key"
    _say(f"proxy: {url} -> {upstream} (upstream key: {key}); Ctrl-C to stop", err=True)
    _say(f"OPENAI_REALTIME_URL={url}")
    _say(f"OPENAI_BASE_URL={base}")
    for name, value in trust.items():
        _say(f"{name}={value}")


def _show(
    result: CaseResult, ended: EndedConnection, progress: Any, secrets: tuple[str, ...]
) -> None:
    from conformance.reports import format_summary
    from conformance.verdicts import summarize

    progress.total = progress.done + 1
    progress.finished(result)
    for drift in ended.drift[:20]:
        _say(f"  {redact(drift.line(), secrets)}", err=True)
    if ended.drift_count > 20:
        _say(f"  … and {ended.drift_count - 20} more drift findings", err=True)
    if ended.problem:
        _say(f"  proxy: {redact(ended.problem, secrets)}", err=True)
    _say(format_summary([result], summarize([result]), colour=False), end="")


def _write_reports(args: argparse.Namespace, results: list[CaseResult]) -> None:
    from conformance.reports import write_html, write_json, write_junit

    for write, target in (
        (write_junit, args.junit),
        (write_json, args.json),
        (write_html, args.html),
    ):
        if target is not None:
            try:
                write(results, target)
            except OSError as exc:
                _say(f"proxy: cannot write {target}: {exc.strerror or exc}", err=True)


def _on_signals(loop: asyncio.AbstractEventLoop, done: asyncio.Future[None]) -> Any:
    """SIGINT/SIGTERM/SIGHUP stop the proxy (main thread only); returns the undo."""
    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def stop() -> None:
        if not done.done():
            _say("proxy: stopping", err=True)
            done.set_result(None)

    installed = []
    for sig in signals:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop)
            installed.append(sig)

    def undo() -> None:
        for sig in installed:
            loop.remove_signal_handler(sig)

    return undo


def _say(text: str, *, err: bool = False, end: str = "\n") -> None:
    stream = sys.stderr if err else sys.stdout
    stream.write(text + end)
    stream.flush()


class _Recorder:
    """`--record DIR`: each connection's transcript appended to its own file as frames
    pass (the mock's crash-safe recorder: a kill -9 loses nothing)."""

    def __init__(self, folder: Path) -> None:
        from mock_server._recorder import check_folder

        self.folder = check_folder(folder)
        self._open: dict[int, Any] = {}

    def open(self, number: int, transcript: Transcript) -> None:
        from mock_server._recorder import Recording

        self._open[number] = Recording.open(self.folder, transcript, number)

    def close(self, number: int) -> Path | None:
        recording = self._open.pop(number, None)
        return recording.close() if recording is not None else None

    def close_all(self) -> None:
        for number in list(self._open):
            self.close(number)


COMMAND = Command(
    name="proxy",
    help="forward a client to the API (or a mock), validate and record every frame, "
    "judge each connection",
    add_arguments=add_arguments,
    run=run,
)
