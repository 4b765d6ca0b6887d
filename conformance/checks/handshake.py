"""Checks on the upgrade request: GA only (no beta header or subprotocol), a valid model."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from conformance.models import load_registry
from conformance.protocol.translation import session_kind
from conformance.transcript import Transcript

from ._model import CheckContext, Severity, Violation
from ._registry import check

# The same rules as the mock's handshake (mock_server/request.py), copied: conformance
# never imports the adapters.
BETA_SUBPROTOCOL: Final = "openai-beta.realtime-v1"
BETA_HEADER_TOKEN: Final = "realtime=v1"


def _headers(transcript: Transcript, name: str) -> list[str]:
    pairs: Any = transcript.meta.get("headers") or []
    wanted = name.lower()
    return [str(p[1]) for p in pairs if len(p) == 2 and str(p[0]).lower() == wanted]


@check(severity=Severity.FAILED)
def does_not_send_beta_header(ctx: CheckContext, transcript: Transcript) -> Iterator[Violation]:
    """The upgrade carries neither `OpenAI-Beta: realtime=v1` nor the beta subprotocol."""
    for value in _headers(transcript, "openai-beta"):
        if any(t.strip().lower() == BETA_HEADER_TOKEN for t in value.split(",")):
            yield ctx.violation(
                title="beta header sent",
                expected="no OpenAI-Beta: realtime=v1 header (the beta interface is retired)",
                received=f"OpenAI-Beta: {value}",
                json_path="headers.OpenAI-Beta",
                hint="drop the header; the live server answers it with close 4000",
            )
    if BETA_SUBPROTOCOL in (transcript.meta.get("subprotocols") or []):
        yield ctx.violation(
            title="beta subprotocol offered",
            expected=f"no {BETA_SUBPROTOCOL!r} subprotocol",
            received=f"Sec-WebSocket-Protocol offering {BETA_SUBPROTOCOL!r}",
            json_path="subprotocols",
            hint="offer only 'realtime' (plus 'openai-insecure-api-key.<key>' in browsers)",
        )


@check(severity=Severity.FAILED)
def uses_supported_model(ctx: CheckContext, transcript: Transcript) -> Iterator[Violation]:
    """The `?model=` of the upgrade is a realtime model of the registry."""
    query: Any = transcript.meta.get("query") or {}
    if session_kind(transcript.meta) == "translation":
        yield from _translation_model(ctx, query)
        return
    if query.get("intent") == "transcription" or query.get("call_id"):
        return  # transcription and sideband sessions take no ?model=
    model = query.get("model") or transcript.meta.get("model")
    if not isinstance(model, str) or not model:
        yield ctx.violation(
            title="no model in the URL",
            expected="?model=<a realtime model>, e.g. gpt-realtime",
            received="no model parameter",
            json_path="query.model",
            hint="add ?model= to the URL: the live server closes with 4000 missing_model",
        )
    elif not load_registry().is_realtime_model(model):
        names = ", ".join(m.name for m in load_registry().realtime_models[:4])
        yield ctx.violation(
            title="model is not a realtime model",
            expected=f"a realtime model ({names}, …)",
            received=f"?model={model!r}",
            json_path="query.model",
            hint="pick a model from the realtime list; others fail with invalid_model",
        )


def _translation_model(ctx: CheckContext, query: Any) -> Iterator[Violation]:
    """`uses_supported_model` on /v1/realtime/translations: a translation model."""
    model = query.get("model")
    registry = load_registry()
    if isinstance(model, str) and registry.is_translation_model(model):
        return
    names = ", ".join(m.name for m in registry.translation_models) or "gpt-realtime-translate"
    yield ctx.violation(
        title="model is not a translation model" if model else "no model in the translations URL",
        expected=f"?model=<a translation model> ({names})",
        received=f"?model={model!r}" if model else "no model parameter",
        json_path="query.model",
        hint="the translations endpoint takes a translation model (a realtime model is "
        "refused with invalid_model and close 4000)",
    )
