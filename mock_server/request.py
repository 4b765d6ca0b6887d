"""`ConnectRequest`: what the client asked for in its WebSocket upgrade, without any socket."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final
from urllib.parse import parse_qsl, urlsplit

from conformance.protocol.translation import SESSION_KIND, is_translation_path
from conformance.transcript import Transcript
from mock_server.config import MockConfig

KEY_SUBPROTOCOL_PREFIX: Final = "openai-insecure-api-key."
BETA_SUBPROTOCOL: Final = "openai-beta.realtime-v1"
BETA_HEADER_TOKEN: Final = "realtime=v1"


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectRequest:
    """The upgrade request of one connection.

    `path` excludes the query; `query` maps each parameter to its last value; `headers`
    are the request headers as received (name case and order kept); `subprotocols` are
    the offered `Sec-WebSocket-Protocol` tokens in order; `remote` is the peer address.
    """

    path: str
    query: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    headers: tuple[tuple[str, str], ...] = ()
    subprotocols: tuple[str, ...] = ()
    remote: str = ""

    @classmethod
    def from_target(
        cls,
        target: str,
        headers: Iterable[tuple[str, str]] = (),
        *,
        subprotocols: Iterable[str] | None = None,
        remote: str = "",
    ) -> ConnectRequest:
        """Build from a request target such as `/v1/realtime?model=gpt-realtime`.

        Args:
            target: path plus optional query string.
            headers: request headers as received.
            subprotocols: offered subprotocols; None reads them from the
                `Sec-WebSocket-Protocol` headers.
            remote: peer address, e.g. `127.0.0.1:50123`.
        """
        parts = urlsplit(target)
        header_pairs = tuple((str(k), str(v)) for k, v in headers)
        if subprotocols is None:
            subprotocols = _offered_subprotocols(header_pairs)
        return cls(
            path=parts.path,
            query=MappingProxyType(dict(parse_qsl(parts.query, keep_blank_values=True))),
            headers=header_pairs,
            subprotocols=tuple(subprotocols),
            remote=remote,
        )

    def header(self, name: str) -> str | None:
        """The first header called `name` (case-insensitive), or None."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)

    def header_values(self, name: str) -> list[str]:
        """Every value of the headers called `name` (case-insensitive), in order."""
        wanted = name.lower()
        return [v for k, v in self.headers if k.lower() == wanted]

    @property
    def api_key(self) -> str | None:
        """The key from `Authorization: Bearer …` (or Basic), else from the key subprotocol.

        An empty bearer token counts as no key.
        """
        authorization = self.header("authorization")
        if authorization is not None:
            key = _key_from_authorization(authorization)
            if key:
                return key
        for protocol in self.subprotocols:
            if protocol.startswith(KEY_SUBPROTOCOL_PREFIX):
                return protocol[len(KEY_SUBPROTOCOL_PREFIX) :] or None
        return None

    @property
    def model(self) -> str | None:
        """`?model=`, or None when absent or empty."""
        return self.query.get("model") or None

    @property
    def intent(self) -> str | None:
        """`?intent=` (`realtime` or `transcription` on the live API), or None."""
        return self.query.get("intent") or None

    @property
    def call_id(self) -> str | None:
        """`?call_id=` of a sideband connection to a WebRTC/SIP call, or None."""
        return self.query.get("call_id") or None

    @property
    def is_translation(self) -> bool:
        """True for the translations endpoint (`…/v1/realtime/translations`)."""
        return is_translation_path(self.path)

    @property
    def beta_requested(self) -> bool:
        """True if the client asked for the retired beta shape (header or subprotocol)."""
        if BETA_SUBPROTOCOL in self.subprotocols:
            return True
        return any(
            token.strip().lower() == BETA_HEADER_TOKEN
            for value in self.header_values("openai-beta")
            for token in value.split(",")
        )

    def new_transcript(self, config: MockConfig | None = None) -> Transcript:
        """A transcript for this connection: redacted request facts in `meta`.

        The key used here and every configured key are registered as secrets, so they
        are masked wherever they appear when the transcript is written.
        """
        config = config or MockConfig()
        transcript = Transcript.begin(
            path=self.path,
            query=self.query,
            headers=self.headers,
            subprotocols=self.subprotocols,
            model=self.model,
            scenario=config.scenario,
            secrets=(*config.api_keys, *config.ephemeral_keys, *_optional(self.api_key)),
        )
        if self.is_translation:
            transcript.meta["kind"] = SESSION_KIND  # the checks judge it as a translation session
        return transcript


def _offered_subprotocols(headers: Iterable[tuple[str, str]]) -> list[str]:
    return [
        token.strip()
        for name, value in headers
        if name.lower() == "sec-websocket-protocol"
        for token in value.split(",")
        if token.strip()
    ]


def _key_from_authorization(value: str) -> str | None:
    scheme, _, credentials = value.strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer":
        return credentials or None
    if scheme.lower() == "basic":
        # [INFERRED] the live message says "bearer or basic"; take the password, else the user
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        user, _, password = decoded.partition(":")
        return password or user or None
    return None


def _optional(value: str | None) -> tuple[str, ...]:
    return (value,) if value else ()
