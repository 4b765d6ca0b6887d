"""Cases: what one run of the client is judged against (a scenario, or the plain happy path).

The runner itself knows no scenario files: the CLI turns the built-in scenarios into
`Case`s (`mock_server` is an adapter `conformance` never imports), and `select_cases`
filters them by the user's `--cases` pattern::

    chosen = select_cases(cases, "beta-*,default")
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from conformance.protocol.errors import UsageError

from .long_session import LongSession

DEFAULT_CASE_ID: Final = "default"
TOLERANT_CASE_ID: Final = "tolerant"
REALTIME: Final = "realtime"  # `Case.endpoint`: /v1/realtime
TRANSLATION: Final = "translation"  # /v1/realtime/translations (a translation client)
_WILDCARDS: Final = frozenset("*?[")


@dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    """One case: the mock plays `scenario` (None: no scenario, the happy path).

    `expect` is the scenario's `expect:` mapping (`client` names and `summary`), handed
    to the checks; `summary` is a one-line description for listings; `long_session` says
    how screenshots are delivered over time (`conformance.runner.long_session`). With `tolerant` the
    mock accepts the client's fatal handshake mistakes (beta header, bad model) and
    records them instead of closing, and holds session.created for 200 ms, so the case
    judges everything else the client does too (`MockConfig.tolerant`). `endpoint` is
    the endpoint its client talks to: `realtime`, or `translation` for a translation
    client (`/v1/realtime/translations`; such cases run only when asked for:
    `endpoint_pool`). A `live` case needs no fault injection (the server's default
    behaviour), so `run --live` also runs it against the live API (`runner.live`).
    `upgrade_only` says why the case acts only on a WebSocket upgrade (a refused
    upgrade, a stimulus in the upgrade request): `run --webrtc` does not run it, since a
    WebRTC call has no upgrade (`webrtc_pool`); empty: it runs over WebRTC too.
    """

    id: str
    scenario: str | None = None
    expect: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    summary: str = ""
    long_session: LongSession | None = None  # screenshots delivered over time (opt-in)
    tolerant: bool = False
    endpoint: str = REALTIME
    live: bool = False
    upgrade_only: str = ""

    @property
    def translation(self) -> bool:
        """True for a case of a translation client (`endpoint == "translation"`)."""
        return self.endpoint == TRANSLATION


DEFAULT_CASE: Final = Case(
    id=DEFAULT_CASE_ID,
    summary="No scenario: the happy path (one screenshot, one reply)",
    live=True,
)
TOLERANT_CASE: Final = Case(
    id=TOLERANT_CASE_ID,
    tolerant=True,
    summary="The happy path with a tolerant mock: a beta header or a bad model is recorded "
    "instead of closing, and session.created comes 200 ms late, so one run shows every bug",
)


# Over WebRTC the tolerant case has no upgrade to tolerate: what it still does.
TOLERANT_WEBRTC_SUMMARY: Final = (
    "The happy path with session.created 200 ms late (over WebRTC there is no upgrade to "
    "tolerate: a beta header or a bad model is not recorded or judged)"
)


def scenario_case(
    scenario_id: str,
    *,
    client: Iterable[str] = (),
    expect_summary: str = "",
    summary: str = "",
    endpoint: str = REALTIME,
    live: bool = False,
    upgrade_only: str = "",
) -> Case:
    """A case playing one scenario, with its expectation (`expect.client`, `expect.summary`)."""
    expect = MappingProxyType({"client": tuple(client), "summary": expect_summary})
    return Case(
        id=scenario_id,
        scenario=scenario_id,
        expect=expect,
        summary=summary,
        endpoint=endpoint,
        live=live,
        upgrade_only=upgrade_only,
    )


def webrtc_pool(cases: Sequence[Case], pattern: str | None) -> tuple[list[Case], list[Case]]:
    """`(run, not run)`: the chosen cases split by whether they run over a WebRTC call.

    `cases` are those `pattern` selected. A case with `upgrade_only` is not run (a call
    has no upgrade to refuse: it would play the happy path and say OK having tested
    nothing); the tolerant case runs with what it still does (`TOLERANT_WEBRTC_SUMMARY`).

    Raises:
        UsageError: `pattern` names a case that does not run over WebRTC by its id (one
            line with the reason), or nothing chosen runs over WebRTC.
    """
    tokens = (t.strip() for t in (pattern or "").split(","))
    named = {t for t in tokens if t and not _WILDCARDS & set(t)}  # by id, not by a glob
    for case in cases:
        if case.upgrade_only and case.id in named:
            raise UsageError(
                f"case {case.id!r} does not run over WebRTC: {case.upgrade_only}, and a WebRTC "
                "call has no WebSocket upgrade (run it without --webrtc)"
            )
    run = [
        dataclasses.replace(case, summary=TOLERANT_WEBRTC_SUMMARY)
        if case.id == TOLERANT_CASE_ID
        else case
        for case in cases
        if not case.upgrade_only
    ]
    not_run = [case for case in cases if case.upgrade_only]
    if not run:
        ids = ", ".join(case.id for case in not_run)
        raise UsageError(f"none of the chosen cases runs over WebRTC ({ids} act on the upgrade)")
    return run, not_run


def endpoint_pool(cases: Sequence[Case], pattern: str | None, translation: bool) -> list[Case]:
    """The cases a run chooses from, by the kind of client it tests.

    With `translation` (`run --translation`): the translation cases only. Otherwise the
    realtime cases, plus the translation cases `pattern` names: by id, or by a glob that
    matches translation cases only (`translation*`). So a realtime client is never run
    against a translation case by `--cases '*'`, and a translation client can pick its
    cases by name alone.
    """
    if translation:
        return [case for case in cases if case.translation]
    ids = [case.id for case in cases]
    kinds = {case.id: case.translation for case in cases}
    named: set[str] = set()
    for token in (t.strip() for t in (pattern or "").split(",") if t.strip()):
        matched = fnmatch.filter(ids, token) if _WILDCARDS & set(token) else [token]
        if matched and all(kinds.get(name, False) for name in matched):
            named.update(matched)
    return [case for case in cases if not case.translation or case.id in named]


def select_cases(cases: Sequence[Case], pattern: str | None) -> list[Case]:
    """The cases matching `pattern`, in the order of `cases`.

    Args:
        cases: every known case.
        pattern: None or empty for all; otherwise comma-separated case ids and globs
            (`beta-*`, `*-model`, `default,session-expired`).

    Raises:
        UsageError: a name matches no case (with a did-you-mean), or nothing is selected.
    """
    tokens = [t.strip() for t in (pattern or "").split(",") if t.strip()]
    if not tokens:
        return list(cases)
    ids = [case.id for case in cases]
    wanted: set[str] = set()
    for token in tokens:
        matched = (
            fnmatch.filter(ids, token) if _WILDCARDS & set(token) else ids.count(token) * [token]
        )
        if not matched:
            raise UsageError(f"no case matches {token!r}{_did_you_mean(token, ids)}")
        wanted.update(matched)
    return [case for case in cases if case.id in wanted]


def _did_you_mean(token: str, ids: Sequence[str]) -> str:
    close = difflib.get_close_matches(token, ids, n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{hint} (`realtime-conformance run --list-cases` lists them)"
