"""`realtime-mock`: run the mock Realtime server from a shell.

    realtime-mock serve --port 0 --record transcripts/ --no-compression
    python -m mock_server serve --config mock.yaml

`serve` prints one line with the URL and the `OPENAI_BASE_URL` to use, then serves until
SIGINT or SIGTERM. Every `MockConfig` field is a flag (`--ping-interval 5`) and a key of
the `--config` YAML file; flags win over the file, the file over the defaults.

A long-running `serve` keeps the transcripts of the last 100 ended sessions, at most
64 MiB of them, in memory (live sessions always); with `--record` none (the files are
the copy). `--keep-sessions` / `--keep-bytes` change that (`none`: keep every one).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import errno
import gc
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from conformance._stdout import broken_pipe_exit
from conformance.protocol.errors import ConfigError, UsageError
from mock_server.config import MockConfig
from mock_server.interfaces import AppFactory, load_app_factory
from mock_server.server import MockServer
from mock_server.settings import add_config_arguments, config_from_namespace
from mock_server.tls import TlsFiles, local_tls, own_tls

PROG = "realtime-mock"
EXIT_USAGE = 2
# `serve`'s defaults where they differ from `MockConfig`'s (the Python API keeps every
# transcript: tests read them after the sessions end).
SERVE_DEFAULTS = MockConfig(keep_sessions=100, keep_bytes=64 * 1024 * 1024)
SERVE_RECORD_DEFAULTS = dataclasses.replace(SERVE_DEFAULTS, keep_sessions=0)
Command = Callable[[argparse.Namespace], int]
TOLERANT_NOTICE = (
    f"{PROG} is tolerant (not like the live server): a beta header or subprotocol and a "
    "missing or unknown model are recorded in the transcript instead of closing 4000, and "
    "session.created comes 200 ms late"
)


def build_parser() -> argparse.ArgumentParser:
    """The `realtime-mock` argument parser (subcommands `serve`, `scenarios`)."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = commands.add_parser(
        "serve", help="run the mock server until SIGINT/SIGTERM", allow_abbrev=False
    )
    add_config_arguments(serve, SERVE_DEFAULTS)
    _describe_reply_template(serve)
    _describe_retention(serve)
    serve.add_argument(
        "--app",
        metavar="MODULE:NAME",
        help="app factory to use instead of mock_server.app (e.g. mypkg.apps:make_app)",
    )
    _add_tls_arguments(serve)
    serve.add_argument(
        "--log-level",
        default="WARNING",
        type=str.upper,
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="logging level (default: WARNING)",
    )
    serve.set_defaults(handler=_serve_command)
    # Slot for the scenario catalogue command (listing / showing built-in scenarios).
    scenarios = commands.add_parser("scenarios", help="list the built-in scenarios")
    scenarios.set_defaults(handler=_scenarios_command)
    return parser


def _add_tls_arguments(serve: argparse.ArgumentParser) -> None:
    tls = serve.add_argument_group("TLS (wss:// and https://, docs/tls.md)")
    tls.add_argument(
        "--tls",
        action="store_true",
        help="serve wss:// and https:// with a certificate for 127.0.0.1, ::1 and localhost "
        "signed by a local CA kept in --tls-dir (made on first use: the 'tls' extra); prints "
        "the NODE_EXTRA_CA_CERTS= and SSL_CERT_FILE= lines that make clients trust it",
    )
    tls.add_argument(
        "--cert", type=Path, metavar="FILE", help="serve this PEM certificate chain (implies --tls)"
    )
    tls.add_argument("--key", type=Path, metavar="FILE", help="the private key of --cert (PEM)")
    tls.add_argument(
        "--tls-dir",
        type=Path,
        metavar="DIR",
        help="where --tls keeps its CA and certificate "
        "(default: $XDG_CACHE_HOME/realtime-conformance/tls, else ~/.cache/…)",
    )


def tls_option(namespace: argparse.Namespace) -> bool | TlsFiles:
    """`MockServer(tls=...)` from `--tls`, `--cert/--key`, `--tls-dir`.

    Raises:
        UsageError: only one of `--cert` and `--key`, `--tls-dir` without `--tls`, or a
            certificate that cannot be served or made.
    """
    cert, key = namespace.cert, namespace.key
    if (cert is None) != (key is None):
        given, missing = ("--cert", "--key") if key is None else ("--key", "--cert")
        raise UsageError(f"{given} needs {missing} too (the certificate and its private key)")
    if cert is not None:
        return own_tls(cert, key)
    if namespace.tls_dir is not None and not namespace.tls:
        raise UsageError("--tls-dir goes with --tls (it says where --tls keeps its certificates)")
    if namespace.tls_dir is not None:
        return local_tls(namespace.tls_dir)
    return bool(namespace.tls)


def _describe_reply_template(serve: argparse.ArgumentParser) -> None:
    from mock_server.responder import REPLY_PLACEHOLDERS

    for action in serve._actions:
        if action.dest == "reply_template":
            names = "; ".join(f"{{{name}}}: {what}" for name, what in REPLY_PLACEHOLDERS.items())
            action.help = (
                "the text of every reply instead of the deterministic one, with placeholders "
                f"filled in per response ({names}), e.g. --reply-template 'Seen: {{screenshots}}'"
            ).replace("%", "%%")


def _describe_retention(serve: argparse.ArgumentParser) -> None:
    for action in serve._actions:
        if action.dest == "keep_sessions":
            action.help = (
                "how many ended sessions' transcripts stay in memory, the most recent ones "
                "(live sessions always do); none keeps every one (default: 100; 0 with --record)"
            )
        elif action.dest == "keep_bytes":
            action.help = (
                "at most this many bytes (approximately) of ended sessions' transcripts stay "
                "in memory; none: no limit (default: 67108864, 64 MiB)"
            )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 2 usage or config error)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or (args[0].startswith("-") and args[0] not in ("-h", "--help")):
        args.insert(0, "serve")  # `python -m mock_server --port 0` means serve
    namespace = build_parser().parse_args(args)
    handler: Command = namespace.handler
    try:
        status = handler(namespace)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return status
    except (UsageError, ConfigError) as exc:  # ScenarioError too: `--scenario` typo, bad file
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `realtime-mock scenarios | head`
        return broken_pipe_exit()


def _serve_command(namespace: argparse.Namespace) -> int:
    logging.basicConfig(level=namespace.log_level, format="%(levelname)s %(name)s: %(message)s")
    config = serve_config(namespace)
    factory = load_app_factory(namespace.app) if namespace.app else None
    asyncio.run(serve_until_signalled(config, factory, tls=tls_option(namespace)))
    return 0


def serve_config(namespace: argparse.Namespace) -> MockConfig:
    """`serve`'s configuration: its defaults < `--config` YAML < flags.

    Raises:
        ConfigError: the YAML file is wrong.
        UsageError: a flag value is wrong.
    """
    config = config_from_namespace(namespace, SERVE_DEFAULTS)
    if config.record:  # the files are the copy: keep no ended session in memory
        config = config_from_namespace(namespace, SERVE_RECORD_DEFAULTS)
    return config


async def serve_until_signalled(
    config: MockConfig, app_factory: AppFactory | None = None, *, tls: bool | TlsFiles = False
) -> None:
    """Serve until SIGINT or SIGTERM, printing the URL line first (with TLS, then the
    `NAME=value` lines that make clients trust it); then stop cleanly.

    Raises:
        ScenarioError: `config.scenario` is unknown (with a did-you-mean) or invalid.
        UsageError: the address cannot be bound (the message says what to do).
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        server = MockServer(config, app_factory=app_factory, tls=tls)
        try:
            await server.start()
        except OSError as exc:
            raise UsageError(_cannot_listen(config, exc)) from None
        # What exists now (modules, the app's tables) lives as long as the process: kept
        # out of the collector's full passes, which otherwise walk it all again and
        # again (25-30 ms of the event loop each; bench/bench_fairness.py's baseline).
        gc.freeze()
        try:
            print(
                f"{PROG} listening on {server.url} (OPENAI_BASE_URL={server.base_url})",
                flush=True,
            )
            for name, value in server.tls_env.items():
                print(f"{name}={value}", flush=True)
            if config.record:
                print(f"{PROG} recording transcripts to {config.record}", file=sys.stderr)
            if config.tolerant:
                print(TOLERANT_NOTICE, file=sys.stderr)
            if config.webhook_url:  # SIP (docs/sip.md)
                ring = f"{server.base_url.removesuffix('/v1')}/mock/sip/incoming"
                print(
                    f"{PROG} SIP: POST {ring} rings a call: webhook to {config.webhook_url}",
                    file=sys.stderr,
                )
            await stop.wait()
        finally:
            await server.stop()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    print(f"{PROG} stopped", file=sys.stderr)


def _cannot_listen(config: MockConfig, exc: OSError) -> str:
    """One line for a failed bind: what, where, what to do."""
    where = f"{config.host}:{config.port}"
    if exc.errno == errno.EADDRINUSE:
        why = "the address is already in use (another process listens there)"
    elif exc.errno == errno.EACCES:
        why = "permission denied (ports below 1024 need privileges)"
    else:
        why = (exc.strerror or str(exc)).lower()
    return f"cannot listen on {where}: {why}; use --port 0 (any free port) or another --port"


def _scenarios_command(namespace: argparse.Namespace) -> int:
    from .scenarios import builtin_scenarios, format_scenario_list

    print(format_scenario_list())
    print(
        f"\n{len(builtin_scenarios())} built-in scenarios; use one with "
        f"`{PROG} serve --scenario ID` or per connection with `?scenario=ID`."
    )
    return 0
