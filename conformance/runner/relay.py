"""Judge a relay: start it against the mock, drive it from downstream, judge both legs.

    config = RunConfig(client=reference, relay=RelayConfig("node relay.mjs",
                                                           url="ws://127.0.0.1:{port}/relay"))
    suite = await run_suite(cases, config, mock=serve_mock)

For each case (`run_relay_case`):

1. a mock starts as usual; it accepts only the run's key, which only the relay gets;
2. the relay command starts with the environment contract pointing at the mock
   (`OPENAI_REALTIME_URL`, `OPENAI_BASE_URL`, `OPENAI_API_KEY`, …) plus `RELAY_PORT`,
   `RELAY_HOST` and `RELAY_URL`: where it must listen. `{port}` in the relay URL is a
   free port the runner picks (never one it gave another running relay); the runner
   waits (bounded) until the port accepts connections, and a relay that exits or never
   listens stops the run with an error that says so (its stderr's last lines);
3. a recording tap (`Tap`) listens on a port of its own and forwards each connection
   to the relay, frame by frame, close codes, drops and refused upgrades as they came:
   what the client and the relay said to each other is the downstream transcript;
4. the client (the reference client, or `--client`) runs against the tap with a key
   of its own, not the relay's;
5. the case is judged: the mock's transcripts (the upstream leg: the relay is the
   client there) with the case's usual checks, the downstream leg with the relay checks
   (`conformance.checks.relay`). The reports name each finding's leg.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, cast
from urllib.parse import parse_qsl, urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.http11 import Request, Response

from conformance.checks import CheckContext, expected_checks
from conformance.checks.relay import DownstreamLeg, RelayContext, RelayRun
from conformance.protocol.errors import UsageError
from conformance.transcript import Transcript, redact
from conformance.verdicts import CaseResult, judge_case

from .cases import Case
from .checks import runner_registry, stderr_tail
from .inputs import NOTES_FILE, RunInputs, client_env, new_test_key, read_notes
from .mock import MockFactory
from .process import ClientProcess, run_client

if TYPE_CHECKING:
    from .suite import RunConfig

DEFAULT_RELAY_URL: Final = "ws://127.0.0.1:{port}/"
START_TIMEOUT_S: Final = 10.0  # how long a relay may take to listen
_PROBE_S: Final = 0.05  # between two tries of the relay's port
_START_TRIES: Final = 3  # a relay that lost its port to another process is started again
_IN_USE: Final = re.compile(r"EADDRINUSE|address already in use", re.IGNORECASE)
_OPEN_S: Final = 10.0  # the tap's upgrade to the relay
_CLOSE_S: Final = 2.0  # the tap's closing handshakes
# Request headers the tap does not pass on: the WebSocket handshake's own.
_HOP: Final = frozenset(
    {
        "host",
        "connection",
        "upgrade",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-extensions",
        "sec-websocket-protocol",
        "content-length",
    }
)
# Headers of a refused upgrade the tap writes itself when it passes the answer on.
_REDONE: Final = frozenset({"date", "content-length", "transfer-encoding", "connection"})
# Ports handed to relays that are running now (this process): never given twice.
_PORTS: set[int] = set()
_PORTS_LOCK = threading.Lock()


class RelayError(UsageError):
    """The relay could not be started: it exited, or it never listened."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RelayConfig:
    """The relay under test.

    Attributes:
        command: run by `/bin/sh -c` in its own process group, once per case.
        url: where it listens: `ws://HOST:PORT/PATH`, where PORT may be `{port}` (a free
            port the runner picks and passes as `$RELAY_PORT`).
        start_timeout_s: how long it may take to listen.
    """

    command: str
    url: str = DEFAULT_RELAY_URL
    start_timeout_s: float = START_TIMEOUT_S

    def __post_init__(self) -> None:
        if not self.command.strip():
            raise UsageError("the relay command is empty")
        if not self.start_timeout_s > 0:
            raise UsageError(f"relay start timeout {self.start_timeout_s!r} must be positive")
        relay_address(self.url, 1)  # a bad URL fails before any case runs

    @property
    def fixed_port(self) -> bool:
        """True when the URL names its port: cases cannot run side by side."""
        return "{port}" not in self.url


def relay_address(url: str, port: int) -> tuple[str, int, str]:
    """`(host, port, path)` of the relay URL with `{port}` filled in.

    Raises:
        UsageError: not a `ws://` URL with a host and a port (or `{port}`).
    """
    filled = url.replace("{port}", str(port))
    parts = urlsplit(filled)
    if parts.scheme != "ws" or not parts.hostname:
        raise UsageError(
            f"--relay-url {url!r}: expected ws://HOST:PORT/PATH (PORT may be {{port}}: a "
            "free port, given to the relay as $RELAY_PORT); wss:// is not supported yet"
        )
    try:
        number = parts.port
    except ValueError:
        number = None
    if number is None:
        raise UsageError(f"--relay-url {url!r}: give the port, or {{port}} for a free one")
    path = parts.path or "/"
    return parts.hostname, number, path + (f"?{parts.query}" if parts.query else "")


def _free_port() -> int:
    """A port nothing listens on now and no running relay of this runner was given."""
    with _PORTS_LOCK:
        for _ in range(50):
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = int(probe.getsockname()[1])
            if port not in _PORTS:
                _PORTS.add(port)
                return port
    raise RelayError("no free port for the relay")


def _release(port: int) -> None:
    with _PORTS_LOCK:
        _PORTS.discard(port)


# --- the relay process --------------------------------------------------------------------


@dataclass(slots=True)
class RelayProcess:
    """A running relay: where it listens, and its run (done when it exited or was stopped)."""

    url: str
    host: str
    port: int
    run: asyncio.Future[ClientProcess]
    stop: asyncio.Future[None]

    @property
    def exited(self) -> bool:
        """True when it exited on its own (before the runner stopped it)."""
        return self.run.done() and not self.stop.done()

    async def finish(self) -> tuple[ClientProcess, bool]:
        """Stop it (if still running); its run, and whether it had exited on its own."""
        early = self.exited
        if not self.stop.done():
            self.stop.set_result(None)
        return await self.run, early


@contextlib.asynccontextmanager
async def running_relay(
    config: RelayConfig, env: dict[str, str], *, cwd: Path | None, limit_s: float
) -> AsyncIterator[RelayProcess]:
    """Start the relay, wait until it listens, stop it (its process group) on the way out.

    Raises:
        RelayError: it exited before listening, or did not listen within its start time.
    """
    for attempt in range(_START_TRIES):
        port = int(urlsplit(config.url.replace("{port}", "1")).port or 0)
        if not config.fixed_port:
            port = _free_port()
        host, port, _path = relay_address(config.url, port)
        url = config.url.replace("{port}", str(port))
        relay_env = {**env, "RELAY_PORT": str(port), "RELAY_HOST": host, "RELAY_URL": url}
        loop = asyncio.get_running_loop()
        stop: asyncio.Future[None] = loop.create_future()
        run = asyncio.ensure_future(
            run_client(config.command, env=relay_env, timeout_s=limit_s, cwd=cwd, stop=stop)
        )
        relay = RelayProcess(url=url, host=host, port=port, run=run, stop=stop)
        try:
            try:
                await _wait_listening(relay, config.start_timeout_s)
            except RelayError as exc:
                exited = relay.run.done()
                process, _ = await relay.finish()
                in_use = _IN_USE.search(process.stderr) is not None
                if not exited or not in_use or attempt + 1 == _START_TRIES:
                    raise RelayError(_start_failure(exc, config, relay, process)) from None
                continue  # another process took the port first: try a new one
            yield relay
            return
        finally:
            if not stop.done():
                stop.set_result(None)
            with contextlib.suppress(BaseException):
                await run
            if not config.fixed_port:
                _release(port)


async def _wait_listening(relay: RelayProcess, bound_s: float) -> None:
    """Return once the relay's port accepts a connection; RelayError if it exits or the
    bound passes first."""
    deadline = time.monotonic() + bound_s
    while True:
        if relay.run.done():
            raise RelayError("exited")
        with contextlib.suppress(OSError):
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(relay.host, relay.port), timeout=1.0
            )
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return
        left = deadline - time.monotonic()
        if left <= 0:
            raise RelayError("never listened")
        await asyncio.wait({relay.run}, timeout=min(_PROBE_S, left))


def _start_failure(
    exc: RelayError, config: RelayConfig, relay: RelayProcess, process: ClientProcess
) -> str:
    tail = stderr_tail(process.stderr) or stderr_tail(process.stdout)
    said = f"; its output ends: {tail}" if tail else "; it printed nothing"
    if str(exc) == "exited":
        how = f"the relay exited (status {process.exit_code}) before listening on {relay.url}"
    else:
        how = (
            f"the relay did not listen on {relay.url} within {config.start_timeout_s:g} s "
            "(it was still running; the runner stopped it)"
        )
    return (
        f"{how}{said}. It runs as `{config.command}` and must listen on $RELAY_HOST:"
        "$RELAY_PORT (the port of --relay-url); see docs/relay.md"
    )


# --- the tap: a recording hop between the client and the relay ----------------------------


@dataclass(slots=True)
class _Leg:
    """One client connection through the tap."""

    transcript: Transcript
    t0: float
    response_headers: tuple[tuple[str, str], ...] = ()
    relay: ClientConnection | None = None
    ended: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def t_ms(self) -> float:
        return round((time.monotonic() - self.t0) * 1000, 3)

    def end(self, direction: str, kind: str, code: int | None = None, reason: str = "") -> None:
        """Record how the connection ended (once: the side that ended it first)."""
        if self.ended:
            return
        self.ended = True
        side = cast("Any", direction)
        if kind == "close":
            self.transcript.add_close(side, code, reason, self.t_ms())
        elif kind == "rejected":
            self.transcript.add_rejected(code or 0, reason, self.t_ms())
        else:
            self.transcript.add_drop(side, self.t_ms())
        self.done.set()


class Tap:
    """A WebSocket hop on 127.0.0.1 (a free port) that forwards every connection to the
    relay and records both directions: frames, the close (code and reason, from the side
    that sent it first), a drop (no close frame: passed on as a drop), a refused upgrade
    (passed on as the same HTTP answer). It answers pings itself and sends none."""

    def __init__(self, relay_url: str, secrets: Sequence[str]) -> None:
        parts = urlsplit(relay_url)
        self._relay = f"ws://{parts.netloc}"
        self._secrets = tuple(secrets)
        self._legs: dict[ServerConnection, _Leg] = {}
        self.legs: list[_Leg] = []
        self._server: Server | None = None
        self.port = 0

    async def __aenter__(self) -> Tap:
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            0,
            process_request=self._upgrade,
            select_subprotocol=self._subprotocol,
            max_size=None,
            max_queue=None,
            ping_interval=None,
            compression=None,
            close_timeout=_CLOSE_S,
            open_timeout=_OPEN_S + 5,
            server_header=None,
        )
        self.port = int(next(iter(self._server.sockets)).getsockname()[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        for leg in self.legs:  # the client is gone: what is still open was dropped by it
            leg.end("client", "drop")
            if leg.relay is not None:
                leg.relay.transport.abort()
        if self._server is not None:
            self._server.close(close_connections=False)
            for connection in list(self._legs):
                connection.transport.abort()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_CLOSE_S):
                    await self._server.wait_closed()

    def url(self, path: str) -> str:
        """The tap's URL for the relay's `path` (and query)."""
        return f"ws://127.0.0.1:{self.port}{path}"

    async def settle(self, seconds: float) -> None:
        """Wait (bounded) until every connection through the tap has ended."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                for leg in list(self.legs):
                    await leg.done.wait()

    async def _upgrade(self, connection: ServerConnection, request: Request) -> Response | None:
        parts = urlsplit(request.path)
        offered = [
            p.strip()
            for value in request.headers.get_all("Sec-WebSocket-Protocol")
            for p in value.split(",")
            if p.strip()
        ]
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        transcript = Transcript.begin(
            path=parts.path,
            query=query,
            headers=list(request.headers.raw_items()),
            subprotocols=offered,
            secrets=self._secrets,
        )
        transcript.meta["leg"] = "downstream"
        leg = _Leg(transcript=transcript, t0=time.monotonic())
        self.legs.append(leg)
        self._legs[connection] = leg
        headers = [(k, v) for k, v in request.headers.raw_items() if k.lower() not in _HOP]
        try:
            relay = await connect(
                self._relay + request.path,
                additional_headers=headers,
                subprotocols=cast("Any", offered) or None,
                user_agent_header=None,
                max_size=None,
                max_queue=None,
                ping_interval=None,
                compression=None,
                open_timeout=_OPEN_S,
                close_timeout=_CLOSE_S,
            )
        except InvalidStatus as refused:
            answer = refused.response
            body = answer.body.decode("utf-8", errors="replace") if answer.body else ""
            leg.response_headers = tuple(answer.headers.raw_items())
            leg.end("server", "rejected", answer.status_code, body)
            kept = [(k, v) for k, v in answer.headers.raw_items() if k.lower() not in _REDONE]
            kept.append(("Content-Length", str(len(answer.body or b""))))
            return Response(
                answer.status_code, answer.reason_phrase, Headers(kept), answer.body or b""
            )
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            leg.end("server", "drop")
            return connection.respond(502, f"the relay did not complete the upgrade: {exc}\n")
        leg.relay = relay
        assert relay.response is not None
        leg.response_headers = tuple(relay.response.headers.raw_items())
        return None

    def _subprotocol(self, connection: ServerConnection, offered: Sequence[str]) -> Any:
        leg = self._legs.get(connection)
        chosen = leg.relay.subprotocol if leg is not None and leg.relay is not None else None
        return chosen if chosen in offered else None

    async def _handle(self, client: ServerConnection) -> None:
        leg = self._legs[client]
        relay = leg.relay
        if relay is None:
            return
        pumps = [
            asyncio.ensure_future(self._pump(client, relay, leg, "client")),
            asyncio.ensure_future(self._pump(relay, client, leg, "server")),
        ]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            await leg.done.wait()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_CLOSE_S * 2):
                    await asyncio.gather(*pumps, return_exceptions=True)
        finally:
            for pump in pumps:
                pump.cancel()
            with contextlib.suppress(Exception):
                await relay.close()

    async def _pump(self, source: Any, target: Any, leg: _Leg, direction: str) -> None:
        """Forward `source`'s frames to `target`, recording them; then pass its end on."""
        side = cast("Any", direction)
        try:
            while True:
                message = await source.recv()
                if leg.ended:
                    continue
                if isinstance(message, str):
                    leg.transcript.add_text(side, message, leg.t_ms())
                else:
                    leg.transcript.add_binary(side, message, leg.t_ms())
                with contextlib.suppress(ConnectionClosed):
                    await target.send(message)
        except ConnectionClosed:
            pass
        if leg.ended:
            return
        received = source.protocol.close_rcvd
        sent_first = source.protocol.close_sent is not None and not (
            source.protocol.close_rcvd_then_sent
        )
        if received is None or sent_first:
            leg.end(direction, "drop")
            target.transport.abort()
            return
        code = None if received.code == 1005 else int(received.code)
        leg.end(direction, "close", code, received.reason)
        with contextlib.suppress(Exception):
            await target.close(cast("int", code), received.reason)


# --- one case -----------------------------------------------------------------------------


async def run_relay_case(
    case: Case, config: RunConfig, inputs: RunInputs, *, mock: MockFactory
) -> CaseResult:
    """Run `config.client` through the tap against `config.relay`, and judge both legs."""
    from . import suite  # the case helpers (suite imports this module lazily)

    relay_config = config.relay
    assert relay_config is not None
    t0 = time.monotonic()
    folder = await asyncio.to_thread(suite._fresh_dir, suite.case_dir(config.out_dir, case.id))
    notes_file = folder / NOTES_FILE
    relay_key, client_key = inputs.api_key, new_test_key()
    secrets = (relay_key, client_key)
    limit_s = config.timeout_s + relay_config.start_timeout_s + config.settle_s * 2 + 30
    async with mock(
        scenario=case.scenario, api_keys=(relay_key,), tolerant=case.tolerant
    ) as server:
        relay_env = client_env(
            inputs,
            url=server.url,
            base_url=server.base_url,
            case_id=case.id,
            base=config.env,
            pass_env=config.pass_env,
        )
        async with running_relay(relay_config, relay_env, cwd=config.cwd, limit_s=limit_s) as relay:
            _host, _port, path = relay_address(relay_config.url, relay.port)
            async with Tap(relay.url, secrets) as tap:
                env = client_env(
                    dataclasses.replace(inputs, api_key=client_key),
                    url=tap.url(path),
                    base_url=_base_url(tap.url(path)),
                    case_id=case.id,
                    base=config.env,
                    notes_file=notes_file.resolve(),
                    pass_env=config.pass_env,
                )
                env["RELAY_URL"] = tap.url(path)
                feed = suite._long_session(case, config, inputs, server, env)
                run = await run_client(
                    config.client, env=env, timeout_s=config.timeout_s, cwd=config.cwd, feed=feed
                )
                await suite._settle(server, config.settle_s)
                await tap.settle(config.settle_s)
            process, exited_early = await relay.finish()
    upstream = tuple(server.transcripts)
    downstream = tuple(
        DownstreamLeg(transcript=leg.transcript, response_headers=leg.response_headers)
        for leg in tap.legs
    )
    for transcript in (*upstream, *(leg.transcript for leg in downstream)):
        transcript.add_secrets(*secrets)
    for transcript in upstream:
        transcript.meta["leg"] = "upstream"
    notes = await asyncio.to_thread(read_notes, notes_file)
    paths = await asyncio.to_thread(
        _write_files, folder, upstream, downstream, run, process, inputs, notes, secrets
    )
    outcome = dataclasses.replace(suite._outcome(run, upstream, inputs, notes), secrets=secrets)
    relay_run = RelayRun(
        key=relay_key,
        command=relay_config.command,
        stdout=process.stdout,
        stderr=process.stderr,
        exit_code=process.exit_code,
        exited_early=exited_early,
    )
    ctx = RelayContext(
        transcripts=upstream,
        outcome=outcome,
        expect=suite._expect(case),
        settings=config.settings,
        downstream=downstream,
        relay=relay_run,
    )
    result = await asyncio.to_thread(
        judge_case,
        ctx,
        case_id=case.id,
        scenario=case.scenario,
        checks=relay_checks(config.checks, case, ctx),
        transcript_paths=paths,
        duration_s=time.monotonic() - t0,
        registry=runner_registry(),
    )
    everything = (*upstream, *(leg.transcript for leg in downstream))
    result = dataclasses.replace(result, transcripts=everything)
    return suite.redact_result(result, secrets)


def relay_checks(selection: Sequence[str] | None, case: Case, ctx: CheckContext) -> tuple[str, ...]:
    """The checks of a relay case: the client checks the case would get, plus `relay`.

    A user's selection is kept as given (`-relay_keeps_running` drops one); `relay` is
    added in front of it unless it names a relay check itself.
    """
    if selection is None:
        return ("default", "relay", *expected_checks(case.expect, runner_registry())[0])
    tokens = [t.strip() for item in selection for t in item.split(",") if t.strip()]
    if tokens and tokens[0].startswith("-"):
        tokens.insert(0, "default")
    return ("relay", *tokens)


def _base_url(url: str) -> str:
    """The REST-style base of the tap's URL: `http://127.0.0.1:P/v1` for `…/v1/realtime`."""
    parts = urlsplit(url)
    path = parts.path.removesuffix("/")
    path = path.removesuffix("/realtime") if path.endswith("/realtime") else path
    return f"http://{parts.netloc}{path}"


def _write_files(
    folder: Path,
    upstream: Sequence[Transcript],
    downstream: Sequence[DownstreamLeg],
    run: ClientProcess,
    process: ClientProcess,
    inputs: RunInputs,
    notes: str,
    secrets: Sequence[str],
) -> list[str]:
    """Upstream `connection-N.jsonl`, downstream `downstream-N.jsonl`, both outputs."""

    def masked(text: str) -> str:
        return redact(text, secrets)

    if notes and masked(notes) != notes:
        (folder / NOTES_FILE).write_text(masked(notes), encoding="utf-8")
    for name, text in (
        ("stdout.txt", run.stdout),
        ("stderr.txt", run.stderr),
        ("relay-stdout.txt", process.stdout),
        ("relay-stderr.txt", process.stderr),
    ):
        (folder / name).write_text(masked(text), encoding="utf-8")
    paths = [str(t.write_jsonl(folder / f"connection-{n}.jsonl")) for n, t in enumerate(upstream)]
    paths += [
        str(leg.transcript.write_jsonl(folder / f"downstream-{n}.jsonl"))
        for n, leg in enumerate(downstream)
    ]
    return paths
