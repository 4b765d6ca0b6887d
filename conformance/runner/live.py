"""`realtime-conformance run --live`: the user's client against the live API, through the proxy.

Each live case runs the client exactly as `run` does (`suite.run_case`: the environment
contract, the time limit, the transcripts, the judging), but the "mock" it is given is
the validating proxy (`conformance.proxy.ProxyServer`) in front of an upstream: the live
API (`wss://api.openai.com`), any URL (`--upstream ws://127.0.0.1:8765`: a mock started
by hand), or a fresh mock per case (`--upstream mock`). So CI runs this very code path
offline::

    live = live_config("mock", os.environ)                    # or None: the live API
    factory = live_factory(live, mock=serve_mock)           # a MockFactory for run_suite
    config = RunConfig(client="node hud.js", registry=live_registry())
    suite = await run_suite(require_live(cases), config, mock=factory)

Keys: the client gets the run's placeholder `sk-test-…` key (the usual contract); the
proxy replaces it with the real one (`$OPENAI_API_KEY`) on the way up. The client, whose
output ends up in the reports, never holds the real key, and `does_not_print_api_key`
still judges it. The real key is masked in every transcript like the placeholder.

Only the cases marked `live` run (`Case.live`: the default case, and scenarios whose
file says `live: true`): the live API plays no scenario, so a fault-injection case would
judge the client against faults that never happen. The guard (`live_config`): no live
run without `--live`, and none against a non-loopback upstream without a key.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Final
from urllib.parse import urlsplit

from conformance._loopback import is_loopback_host
from conformance.checks import Registry
from conformance.protocol.errors import UsageError
from conformance.proxy import EndedConnection, ProxyConfig, ProxyServer, Upstream, proxy_registry
from conformance.transcript import Transcript, redact

from .cases import Case
from .inputs import new_test_key
from .mock import MockFactory, MockHandle

LIVE_UPSTREAM: Final = "wss://api.openai.com"
MOCK_UPSTREAM: Final = "mock"  # `--upstream mock`: a fresh mock per case, behind the proxy
KEY_VARIABLE: Final = "OPENAI_API_KEY"
AUTH_CLOSE: Final = 3000  # the live API's close code for a refused key (protocol notes §6)


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveConfig:
    """Where a live run's proxy forwards, and the key it sends there.

    Attributes:
        upstream: `wss://api.openai.com`, another origin, or `mock` (a fresh mock per
            case, started by the `mock` factory given to `live_factory`).
        api_key: the key the proxy puts in place of the client's placeholder (None: the
            client's goes up as it is; only for a loopback upstream or `mock`).
    """

    upstream: str = LIVE_UPSTREAM
    api_key: str | None = field(default=None, repr=False)

    @property
    def is_mock(self) -> bool:
        """True for `--upstream mock`."""
        return self.upstream == MOCK_UPSTREAM

    @property
    def describe(self) -> str:
        """One line for the console: where the cases go and whose key is used."""
        if self.is_mock:
            return "a fresh mock per case (--upstream mock), through the proxy"
        key = f"${KEY_VARIABLE}" if self.api_key else "the client's own key"
        return f"{self.upstream} through the proxy, with {key} (the client gets a placeholder)"


def live_config(upstream: str | None, environ: Mapping[str, str]) -> LiveConfig:
    """The guard of `run --live`: the upstream (default: the live API) and its key.

    Raises:
        UsageError: a bad upstream URL, or an upstream other than loopback or `mock`
            without `$OPENAI_API_KEY` (one line, naming what is missing).
    """
    url = (upstream or LIVE_UPSTREAM).strip()
    if url == MOCK_UPSTREAM:
        return LiveConfig(upstream=url)
    Upstream.parse(url)  # a URL the proxy cannot use fails here, before any client runs
    key = environ.get(KEY_VARIABLE, "").strip() or None
    if key is None and not is_loopback(url):
        raise UsageError(
            f"run --live needs ${KEY_VARIABLE} set: the key the proxy sends to {url} (the "
            "client never gets it); export it, or rehearse offline with --upstream mock"
        )
    return LiveConfig(upstream=url, api_key=key)


def is_loopback(url: str) -> bool:
    """True when `url`'s host is this machine (`localhost`, 127.0.0.0/8, `::1`)."""
    return is_loopback_host(urlsplit(url).hostname or "")


def live_registry() -> Registry:
    """The checks of a live case: the runner's, plus `server_events_match_schema` (drift:
    a server event the schemas do not know, INFORMATIONAL, in `default`)."""
    return proxy_registry()


def live_ids(cases: Sequence[Case]) -> list[str]:
    """The ids of the live-safe cases among `cases`."""
    return [case.id for case in cases if case.live]


def require_live(cases: Sequence[Case]) -> list[Case]:
    """`cases`, all live-safe.

    Raises:
        UsageError: a case that needs the mock (it injects a fault, or plays the tolerant
            mock), naming it and the live cases.
    """
    offline = [case.id for case in cases if not case.live]
    if offline:
        raise UsageError(
            f"{offline_message(offline[0])} (live runs take only cases marked live: "
            "the default case, scenarios with `live: true`)"
        )
    return list(cases)


def live_pool(cases: Sequence[Case], pattern: str | None) -> list[Case]:
    """The live-safe cases of `cases`, for `run --live --cases PATTERN`.

    Raises:
        UsageError: `pattern` names (without a wildcard) a case that is not live-safe.
    """
    live = {case.id for case in cases if case.live}
    known = {case.id for case in cases}
    for token in (t.strip() for t in (pattern or "").split(",") if t.strip()):
        if token in known and token not in live:
            raise UsageError(
                f"{offline_message(token)}; with --live run: {', '.join(sorted(live))}"
            )
    return [case for case in cases if case.live]


def offline_message(case_id: str) -> str:
    """Why `case_id` cannot run live."""
    return (
        f"case {case_id!r} needs the mock (it plays a server behaviour the live API does not "
        "play on request): run it without --live"
    )


class ProxiedUpstream:
    """What a live case's runner sees as its "mock" (`MockHandle`): the proxy's URLs and
    the transcript of every connection it forwarded, in connection order (each one from
    its first frame on, so a long session's feeder sees the replies as they come)."""

    def __init__(self, proxy: ProxyServer, secrets: Sequence[str], *, own_key: bool) -> None:
        self._proxy = proxy
        self._secrets = tuple(s for s in secrets if s)
        self._own_key = own_key
        self._opened: dict[int, Transcript] = {}
        self._progress = asyncio.Event()
        self.unreached: str | None = None  # why the upstream was not reached, if it was not

    def opened(self, number: int, transcript: Transcript) -> None:
        """`ProxyServer.on_open`: a connection's transcript, its keys registered."""
        transcript.add_secrets(*self._secrets)
        self._opened[number] = transcript
        self._progress.set()
        self._progress = asyncio.Event()

    def ended(self, ended: EndedConnection) -> None:
        """`ProxyServer.on_end`: notes a connection that never reached the upstream (the
        proxy answered 502/504 itself), or whose upstream refused the proxy's key."""
        if self.unreached is not None:
            return
        transcript = ended.transcript
        if ended.problem is not None and any(r.kind == "rejected" for r in transcript):
            self.unreached = f"connection {ended.number}: {ended.problem}"
        elif self._own_key and (refusal := key_refusal(transcript)) is not None:
            self.unreached = (
                f"{self._proxy.upstream} refused the key in ${KEY_VARIABLE} "
                f"({redact(refusal, self._secrets)}): check the key"
            )

    @property
    def url(self) -> str:
        return self._proxy.url

    @property
    def base_url(self) -> str:
        return self._proxy.base_url

    @property
    def transcripts(self) -> list[Transcript]:
        return [self._opened[number] for number in sorted(self._opened)]

    async def wait_for_sessions(
        self,
        n: int,
        timeout: float = 10.0,  # noqa: ASYNC109 - mirrors MockHandle.wait_for_sessions
        *,
        ended: bool = True,
    ) -> list[Transcript]:
        """Wait until `n` connections opened (or ended, with `ended`); TimeoutError after
        `timeout` seconds."""
        if ended:
            await self._proxy.wait_for_ended(n, within=timeout)
        else:
            async with asyncio.timeout(timeout):
                while len(self._opened) < n:
                    await self._progress.wait()
        return self.transcripts[:n]


def key_refusal(transcript: Transcript) -> str | None:
    """How the server refused the connection's key, if it did: the live API's close 3000
    (after an `invalid_api_key` error), or an HTTP 401 answer to the upgrade."""
    for record in transcript:
        if record.direction != "server":
            continue
        if record.kind == "close" and record.code == AUTH_CLOSE:
            return f"close {record.code} {record.reason or ''}".strip()
        if record.kind == "rejected" and record.code == HTTPStatus.UNAUTHORIZED:
            return f"HTTP 401 {(record.reason or '')[:200]}".strip()
    return None


class UpstreamError(UsageError):
    """A live case's proxy could not reach the upstream (or the upstream refused the
    proxy's key): the client met the proxy, not the API, so no verdict would mean
    anything. `run --live` stops with it (exit 2)."""


def live_factory(live: LiveConfig, *, mock: MockFactory | None = None) -> MockFactory:
    """A `MockFactory` whose "mock" is the proxy in front of `live.upstream`.

    The scenario is not played (only live-safe cases run: the server's default
    behaviour). With `--upstream mock`, each case gets a fresh `mock(scenario=None, …)`
    that accepts only a key of its own, which the proxy puts in place of the client's:
    the key replacement is exercised offline too.

    Raises:
        UsageError: `mock` upstream without a `mock` factory.
    """
    if live.is_mock and mock is None:
        raise UsageError("--upstream mock needs a mock to start (the CLI passes serve_mock)")

    def factory(
        *, scenario: str | None, api_keys: tuple[str, ...], tolerant: bool = False
    ) -> AbstractAsyncContextManager[MockHandle]:
        if tolerant:
            raise UsageError(offline_message("tolerant"))
        return _proxied(live, api_keys, mock)

    return factory


@asynccontextmanager
async def _proxied(
    live: LiveConfig, client_keys: tuple[str, ...], mock: MockFactory | None
) -> AsyncIterator[MockHandle]:
    if live.is_mock:
        assert mock is not None
        key = new_test_key()
        async with (
            mock(scenario=None, api_keys=(key,)) as upstream,
            _proxy(_origin(upstream.url), key, (*client_keys, key)) as handle,
        ):
            yield handle
        return
    async with _proxy(live.upstream, live.api_key, client_keys) as handle:
        yield handle


@asynccontextmanager
async def _proxy(
    upstream: str, api_key: str | None, secrets: Sequence[str]
) -> AsyncIterator[MockHandle]:
    handle: ProxiedUpstream | None = None

    def opened(number: int, transcript: Transcript) -> None:
        assert handle is not None
        handle.opened(number, transcript)

    def ended(connection: EndedConnection) -> None:
        assert handle is not None
        handle.ended(connection)

    config = ProxyConfig(upstream=upstream, api_key=api_key)
    proxy = ProxyServer(config, on_open=opened, on_end=ended)
    async with proxy:
        handle = ProxiedUpstream(proxy, (*secrets, api_key or ""), own_key=api_key is not None)
        yield handle
    if handle.unreached is not None:  # the client met the proxy, not the API: no verdict
        raise UpstreamError(
            f"run --live: {handle.unreached}; nothing was judged against {proxy.upstream}"
        )


def _origin(url: str) -> str:
    """`ws://127.0.0.1:PORT` of a mock's `ws://127.0.0.1:PORT/v1/realtime`."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
