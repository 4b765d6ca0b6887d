"""A respx router that answers OpenAI REST calls made through httpx with the mock's handlers.

    with rest_router() as router:                          # or the `realtime_rest` fixture
        client = OpenAI(api_key="sk-test")                 # api.openai.com, no socket
        secret = client.realtime.client_secrets.create(session={"type": "realtime"})
        # secret.value opens sessions on any mock WebSocket of this process

Requests to `https://api.openai.com/v1/...` (and to every other base in `base_urls`) go,
in-process, to the same sans-I/O `RestHandler` a running mock serves on its port
(`mock_server/rest.py`). Keys are signed with `config.secret_key` (else
`$REALTIME_MOCK_SECRET_KEY`, else this process's random secret), so a key minted here
opens sessions on every `MockServer` of the same test whose config has the same secret.
Requests elsewhere fail as respx fails them (`assert_all_mocked`); add your own routes to
the router (`router.get("https://example.test/").respond(200)`, `.pass_through()`).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Final
from urllib.parse import urlsplit

from mock_server.config import MockConfig
from mock_server.rest import MAX_BODY_BYTES, HttpRequest, RestHandler, too_large

try:
    import httpx
    import respx
    from respx.mocks import HTTPCoreMocker
except ImportError as exc:  # pragma: no cover - the test extra is missing
    raise ImportError(
        "mock_server.respx_router needs respx and httpx: pip install 'realtime-conformance[test]'"
    ) from exc

OPENAI_BASE: Final = "https://api.openai.com/v1"
ROUTE_NAME: Final = "openai-rest"
MOCKER: Final = "realtime-httpcore"  # respx `using=`: httpcore (httpx) and httpcore2 (httpx2)


class _HttpCoreMocker(HTTPCoreMocker):
    """respx's httpcore mocker, extended to httpcore2: the official SDK from openai 3 on
    sends through httpx2 (pydantic's fork, on httpcore2), which respx does not patch."""

    name = MOCKER
    targets: ClassVar[list[str]] = [
        *HTTPCoreMocker.targets,
        *(
            [t.replace("httpcore.", "httpcore2.", 1) for t in HTTPCoreMocker.targets]
            if importlib.util.find_spec("httpcore2") is not None
            else []
        ),
    ]

    @classmethod
    def from_sync_httpx_response(cls, httpx_response: Any, target: Any, **kwargs: Any) -> Any:
        if not type(target).__module__.startswith("httpcore2"):
            return super().from_sync_httpx_response(httpx_response, target, **kwargs)  # type: ignore[no-untyped-call]
        import httpcore2  # type: ignore[import-not-found,unused-ignore]

        return httpcore2.Response(
            status=httpx_response.status_code,
            headers=httpx_response.headers.raw,
            content=httpx_response.stream,
            extensions=httpx_response.extensions,
        )


def rest_router(
    config: MockConfig | None = None,
    *,
    base_urls: Sequence[str] = (OPENAI_BASE,),
    clock: Callable[[], float] | None = None,
    handler: RestHandler | None = None,
    assert_all_called: bool = False,
) -> respx.MockRouter:
    """A respx router (a context manager, sync or async) routing `base_urls` to the mock.

    Args:
        config: keys (`api_keys`) and the signing secret (`secret_key`) of the mock whose
            REST side this stands for; `MockConfig()` by default.
        base_urls: the OpenAI base URLs the code under test calls, e.g. its
            `OPENAI_BASE_URL`; paths below each are the mock's `/v1/...`.
        clock: unix seconds now for the handler (expiry); `time.time` by default.
        handler: a `RestHandler` to use instead of building one from `config` and `clock`.
        assert_all_called: fail at exit if no request reached the mock.

    Returns:
        The started-on-enter `respx.MockRouter`; its route `"openai-rest"` records the
        calls (`router["openai-rest"].calls`).
    """
    if handler is None:
        handler = RestHandler(config, clock=clock) if clock else RestHandler(config)
    router = respx.MockRouter(assert_all_called=assert_all_called, using=MOCKER)
    bases = [base.rstrip("/") for base in base_urls]
    if not bases:
        raise ValueError("base_urls is empty: name at least one OpenAI base URL")
    answer = _answerer(handler, [urlsplit(base).path for base in bases])
    pattern = respx.patterns.M(url__startswith=bases[0] + "/")
    for base in bases[1:]:
        pattern = pattern | respx.patterns.M(url__startswith=base + "/")
    router.route(pattern, name=ROUTE_NAME).mock(side_effect=answer)
    return router


def _answerer(
    handler: RestHandler, base_paths: list[str]
) -> Callable[[httpx.Request], httpx.Response]:
    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        base = max((b for b in base_paths if path.startswith(b + "/")), key=len, default="")
        target = handler.prefix + path[len(base) :]
        if request.url.query:
            target += "?" + request.url.query.decode()
        body = request.read()
        if len(body) > MAX_BODY_BYTES:
            reply = too_large(len(body))
        else:
            reply = handler.handle(
                HttpRequest(
                    method=request.method,
                    target=target,
                    headers=tuple(request.headers.multi_items()),
                    body=body,
                )
            )
        return httpx.Response(reply.status, headers=list(reply.headers), content=reply.body)

    return answer


__all__ = ["OPENAI_BASE", "ROUTE_NAME", "rest_router"]
