"""Where to connect and with which key: the one place that reads the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from .connection import DEFAULT_URL
from .webrtc import Transport

__all__ = [
    "LIVE_HOST",
    "Endpoint",
    "realtime_url_from_base_url",
    "resolve_endpoint",
    "transport_from_env",
]

LIVE_HOST = "api.openai.com"


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    """A Realtime URL and the key to use there (the key never shows in `repr`).

    Attributes:
        url: the `ws://` / `wss://` Realtime URL, without `?model=`.
        api_key: the key from the environment, or None.
        url_source: where the URL came from: `argument`, `OPENAI_REALTIME_URL`,
            `OPENAI_BASE_URL` or `default`.
        api_key_env: the environment variable the key was read from.
    """

    url: str
    api_key: str | None = field(repr=False)
    url_source: str
    api_key_env: str

    @property
    def is_live(self) -> bool:
        """True when the URL points at the live OpenAI API (a key is required there)."""
        return urlsplit(self.url).hostname == LIVE_HOST


def realtime_url_from_base_url(base_url: str) -> str:
    """Derive the WebSocket URL from a REST base URL, as the OpenAI Python SDK does.

    `http://host:port/v1` becomes `ws://host:port/v1/realtime`; any other scheme becomes
    `wss`. The query is kept.
    """
    parts = urlsplit(base_url.strip())
    scheme = "ws" if parts.scheme in ("http", "ws") else "wss"
    path = parts.path.rstrip("/") + "/realtime"
    return urlunsplit((scheme, parts.netloc, path, parts.query, ""))


def resolve_endpoint(
    url: str | None = None,
    *,
    api_key_env: str = "OPENAI_API_KEY",
    environ: Mapping[str, str] | None = None,
) -> Endpoint:
    """Pick the URL (argument > `OPENAI_REALTIME_URL` > `OPENAI_BASE_URL` > live) and the key.

    Args:
        url: an explicit URL; wins over the environment.
        api_key_env: the variable holding the key (empty values count as unset).
        environ: the environment to read (default `os.environ`).
    """
    env = os.environ if environ is None else environ
    api_key = env.get(api_key_env) or None
    if url:
        return Endpoint(url=url, api_key=api_key, url_source="argument", api_key_env=api_key_env)
    if env.get("OPENAI_REALTIME_URL"):
        chosen, source = env["OPENAI_REALTIME_URL"], "OPENAI_REALTIME_URL"
    elif env.get("OPENAI_BASE_URL"):
        chosen = realtime_url_from_base_url(env["OPENAI_BASE_URL"])
        source = "OPENAI_BASE_URL"
    else:
        chosen, source = DEFAULT_URL, "default"
    return Endpoint(url=chosen, api_key=api_key, url_source=source, api_key_env=api_key_env)


def transport_from_env(environ: Mapping[str, str] | None = None) -> Transport:
    """`webrtc` when `REALTIME_TRANSPORT` says so (the runner's `run --webrtc` sets it),
    else `websocket`."""
    env = os.environ if environ is None else environ
    wanted = env.get("REALTIME_TRANSPORT", "").strip().lower()
    return "webrtc" if wanted == "webrtc" else "websocket"
