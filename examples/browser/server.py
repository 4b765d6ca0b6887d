"""The browser example's back end: serves the page and mints client secrets.

    OPENAI_API_KEY=sk-test OPENAI_BASE_URL=http://127.0.0.1:8765/v1 \\
        python examples/browser/server.py --port 8000
    # then open http://127.0.0.1:8000/?api=http://127.0.0.1:8765/v1

`GET /`, `/index.html`, `/notes.js`: the page (files beside this one). `POST /session`: a
client secret for one WebRTC call, minted with the official SDK from the real key this
process holds (`client.realtime.client_secrets.create`), configured for screenshot notes:
text output, and no server VAD (the microphone is sent, but only a push-to-talk commit
would make a turn of it). Answers `{"value", "expires_at", "model"}`, or 502 with the
upstream status and code (never its message, which may quote a masked key).

Against the mock, OPENAI_BASE_URL points the SDK at `realtime-mock serve`; the page is
told where the API is with `?api=` (the mock answers the browser's CORS preflight, as
live does). Without `?api=` the page talks to api.openai.com.
"""

from __future__ import annotations

import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import openai

HERE = Path(__file__).resolve().parent
FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/notes.js": ("notes.js", "text/javascript; charset=utf-8"),
}
TTL_SECONDS = 120  # the browser connects right away; a leaked secret dies quickly
SESSION: dict[str, Any] = {
    "type": "realtime",
    "model": "gpt-realtime-1.5",
    "instructions": "You read screenshots and answer with terse notes, one per line.",
    "output_modalities": ["text"],
    "audio": {"input": {"turn_detection": None}},
}


def mint(client: openai.OpenAI) -> tuple[int, dict[str, Any]]:
    """The HTTP status and JSON body answering the page's `POST /session`."""
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
    server: PageServer

    def do_GET(self) -> None:
        found = FILES.get(self.path.split("?", 1)[0])
        if found is None:
            self._send(404, b"not found\n", "text/plain")
            return
        name, kind = found
        self._send(200, (HERE / name).read_bytes(), kind)

    def do_POST(self) -> None:
        if self.path != "/session":
            self._send(404, b'{"error": {"message": "no such path"}}', "application/json")
            return
        status, body = mint(self.server.client)
        self._send(status, json.dumps(body).encode(), "application/json")

    def _send(self, status: int, data: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")  # a secret must not be cached
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the default logs every request line to stderr."""


class PageServer(ThreadingHTTPServer):
    """The page and `POST /session`, minting with `client`."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], client: openai.OpenAI) -> None:
        super().__init__(address, _Handler)
        self.client = client


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    server = PageServer((args.host, args.port), openai.OpenAI())  # OPENAI_API_KEY, _BASE_URL
    print(f"http://{args.host}:{server.server_port}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
