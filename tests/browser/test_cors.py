"""CORS on the mock's REST side: a page on another origin may call it, as it may call the
live API (OpenAI's browser samples fetch /v1/realtime/calls from any page). The exact live
headers were not observed: fixtures/fidelity.yaml, `rest-cors`."""

from __future__ import annotations

import asyncio
import urllib.request

from mock_server import serve
from mock_server.rest import HttpRequest, RestHandler

ORIGIN = ("Origin", "http://127.0.0.1:9999")


def _preflight(path: str, *headers: tuple[str, str]) -> HttpRequest:
    asked = (("Access-Control-Request-Method", "POST"), *headers)
    return HttpRequest("OPTIONS", path, (ORIGIN, *asked), b"")


def test_a_preflight_of_calls_allows_the_headers_it_asks_for() -> None:
    asked = ("Access-Control-Request-Headers", "authorization,content-type")
    answer = RestHandler().handle(_preflight("/v1/realtime/calls", asked))
    headers = dict(answer.headers)
    assert answer.status == 204
    assert answer.body == b""
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in headers["Access-Control-Allow-Methods"]
    assert headers["Access-Control-Allow-Headers"] == "authorization,content-type"
    assert int(headers["Access-Control-Max-Age"]) > 0


def test_a_preflight_of_any_rest_path_is_answered_and_of_no_path_is_404() -> None:
    handler = RestHandler()
    for path in ("/v1/realtime/client_secrets", "/v1/realtime/calls/rtc_x/hangup"):
        assert handler.handle(_preflight(path)).status == 204, path
    assert handler.handle(_preflight("/v2/nothing")).status == 404


async def test_on_the_socket_every_answer_is_readable_cross_origin() -> None:
    async with asyncio.timeout(20.0), serve(pace="fast") as server:
        preflight = urllib.request.Request(
            f"{server.base_url}/realtime/calls",
            method="OPTIONS",
            headers=dict([ORIGIN, ("Access-Control-Request-Method", "POST")]),
        )
        refused = urllib.request.Request(  # an error answer: still readable by the page
            f"{server.base_url}/realtime/client_secrets", data=b"{}", method="POST"
        )
        opened = await asyncio.to_thread(_answer, preflight)
        error = await asyncio.to_thread(_answer, refused)
    assert opened[0] == 204
    assert opened[1]["Access-Control-Allow-Origin"] == "*"
    assert opened[1]["Access-Control-Allow-Headers"] == "Authorization, Content-Type"
    assert error[0] == 401
    assert error[1]["Access-Control-Allow-Origin"] == "*"
    assert error[1]["Access-Control-Expose-Headers"] == "Location"


def _answer(request: urllib.request.Request) -> tuple[int, dict[str, str]]:
    try:
        with urllib.request.urlopen(request, timeout=5.0) as response:
            return int(response.status), dict(response.headers.items())
    except urllib.error.HTTPError as exc:
        return int(exc.code), dict(exc.headers.items())
