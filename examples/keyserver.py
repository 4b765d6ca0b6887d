"""A small key-minting back end: the browser half of a HUD asks it for a client secret.

    OPENAI_API_KEY=sk-... python examples/keyserver.py --port 8000
    curl -X POST http://127.0.0.1:8000/session

It holds the real key and hands the browser only a short-lived `ek_` client secret,
minted with the official SDK (`client.realtime.client_secrets.create`) and configured for
the HUD (text notes, terse instructions), so the browser's WebSocket needs no
configuration of its own. `POST /session` answers `{"value", "expires_at", "model"}`,
or 502 with the upstream status and code (never the upstream message, which may quote
a masked key) when OpenAI refuses.

Against the mock: `OPENAI_BASE_URL=http://127.0.0.1:8765/v1` (a running
`realtime-mock serve`), or no socket at all in a test, with the respx router
(`mock_server.respx_router.rest_router`, docs/rest.md; tests/conformance/
test_respx_keyserver.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import openai

TTL_SECONDS = 120  # the browser connects right away; a leaked key dies quickly
SESSION: dict[str, Any] = {
    "type": "realtime",
    "model": "gpt-realtime-1.5",
    "instructions": "You read screenshots and answer with terse notes, one per line.",
    "output_modalities": ["text"],
}


def mint(client: openai.OpenAI) -> tuple[int, dict[str, Any]]:
    """The HTTP status and JSON body answering the browser's `POST /session`."""
    try:
        secret = client.realtime.client_secrets.create(
            expires_after={"anchor": "created_at", "seconds": TTL_SECONDS},
            session=SESSION,  # type: ignore[arg-type]
        )
    except openai.APIStatusError as exc:
        upstream = {"status": exc.status_code, "code": exc.code}
        return 502, {"error": {"message": "OpenAI refused to mint a client secret", **upstream}}
    except openai.APIConnectionError:
        return 502, {"error": {"message": "OpenAI could not be reached", "status": None}}
    return 200, {"value": secret.value, "expires_at": secret.expires_at, "model": SESSION["model"]}


class _Handler(BaseHTTPRequestHandler):
    server: KeyServer

    def do_POST(self) -> None:
        if self.path != "/session":
            self._answer(404, {"error": {"message": f"no such path: {self.path}"}})
            return
        self._answer(*mint(self.server.client))

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")  # a secret must not be cached
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the default logs every request line to stderr."""


class KeyServer(ThreadingHTTPServer):
    """The back end: `POST /session` mints a client secret with `client`."""

    def __init__(self, address: tuple[str, int], client: openai.OpenAI) -> None:
        super().__init__(address, _Handler)
        self.client = client


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    server = KeyServer((args.host, args.port), openai.OpenAI())  # OPENAI_API_KEY, _BASE_URL
    print(f"POST http://{args.host}:{server.server_port}/session", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
