"""Self-verifying `ek_` client secrets: no store shared between mock processes.

`POST /v1/realtime/client_secrets` (mock_server/rest.py) mints a key that carries what
it allows, signed with the server's signing secret (HMAC-SHA256, truncated to 128 bits):

    ek_m1 + base64url( version | expires_at | kind | nonce | zlib(session config) | MAC )

Any mock process with the same signing secret accepts it, so several processes or
containers behind one load balancer accept each other's keys without sharing state.
The signing secret is, first match wins:

1. `MockConfig.secret_key` (`realtime-mock serve --secret-key …`),
2. the environment variable `REALTIME_MOCK_SECRET_KEY`,
3. a random one drawn once per process: keys work on every mock server and respx router
   of that process (a pytest run, a runner), and nowhere else.

A session configuration too big to embed (the key would pass `MAX_KEY_CHARS`, e.g. long
instructions or many tools) is signed by its SHA-256 instead and kept in this process's
memory (the last `LOCAL_CONFIGS`): such a key works only on the process that minted it,
and another process refuses it as an unknown key.

Live keys are `ek_` and 32 hex characters; these are longer and start `ek_m1`, so a mock
key is never mistaken for a live one (nor a live one for a mock key).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets as _random
import struct
import threading
import zlib
from collections import OrderedDict
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Final

from mock_server.handshake import MINTED_PREFIX, SecretGrant, SessionKind

ENV_VAR: Final = "REALTIME_MOCK_SECRET_KEY"
MAX_KEY_CHARS: Final = 4096  # a longer key would not fit comfortably in a header
LOCAL_CONFIGS: Final = 4096  # configs kept in memory for keys that carry only a digest
MAX_CONFIG_BYTES: Final = 1 << 20  # an embedded config inflates to at most this
_VERSION: Final = 1
_MAC_BYTES: Final = 16
_NONCE_BYTES: Final = 12
_HEADER: Final = struct.Struct(">BQcB")  # version, expires_at, kind, 0 embedded / 1 digest
_KINDS: Final[dict[str, bytes]] = {"realtime": b"r", "transcription": b"t", "translation": b"x"}
_KIND_NAMES: Final[dict[bytes, SessionKind]] = {
    b"r": "realtime",
    b"t": "transcription",
    b"x": "translation",
}
_PROCESS_KEY: Final = _random.token_bytes(32)


def signing_key(secret: str | None = None) -> bytes:
    """The signing secret: `secret`, else `$REALTIME_MOCK_SECRET_KEY`, else this process's."""
    chosen = secret or os.environ.get(ENV_VAR)
    return chosen.encode() if chosen else _PROCESS_KEY


def secrets_for(secret: str | None = None) -> SignedSecrets:
    """The `SignedSecrets` of a signing secret (see `signing_key`), one per secret."""
    return _store(signing_key(secret))


@lru_cache(maxsize=32)
def _store(key: bytes) -> SignedSecrets:
    return SignedSecrets(key)


class SignedSecrets:
    """Mints and verifies client secrets signed with one key (a `SecretStore`)."""

    def __init__(self, key: bytes) -> None:
        """Sign with `key` (any length; 32 random bytes or a long passphrase)."""
        if not key:
            raise ValueError("the signing key must not be empty")
        self._key = key
        self._local: OrderedDict[bytes, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()  # runner cases mint and verify on several threads

    def mint(self, kind: SessionKind, session: Mapping[str, Any], expires_at: int) -> str:
        """A new `ek_` key for a `kind` session configured by `session` (a request body's
        validated `session`, its `model` filled in), valid until `expires_at` (unix s)."""
        config = json.dumps(session, separators=(",", ":"), sort_keys=True).encode()
        nonce = _random.token_bytes(_NONCE_BYTES)
        value = self._sign(kind, expires_at, nonce, 0, zlib.compress(config, 9))
        if len(value) <= MAX_KEY_CHARS:
            return value
        digest = hashlib.sha256(config).digest()
        with self._lock:
            self._local[digest] = dict(session)
            self._local.move_to_end(digest)
            while len(self._local) > LOCAL_CONFIGS:
                self._local.popitem(last=False)
        return self._sign(kind, expires_at, nonce, 1, digest)

    def lookup(self, value: str) -> SecretGrant | None:
        """The grant of a key minted with this signing key (expired or not), else None."""
        if not value.startswith(MINTED_PREFIX) or len(value) > MAX_KEY_CHARS:
            return None
        text = value[len(MINTED_PREFIX) :]
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            return None
        body, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
        if len(body) < _HEADER.size + _NONCE_BYTES or not hmac.compare_digest(mac, self._mac(body)):
            return None
        version, expires_at, kind, digest = _HEADER.unpack_from(body)
        data = body[_HEADER.size + _NONCE_BYTES :]
        session = self._session(data, digest) if version == _VERSION else None
        if session is None or kind not in _KIND_NAMES:
            return None
        model = session.get("model")
        return SecretGrant(
            expires_at=float(expires_at),
            session_kind=_KIND_NAMES[kind],
            model=model if isinstance(model, str) else None,
            session=session,
        )

    def _session(self, data: bytes, digest: int) -> dict[str, Any] | None:
        if digest:
            with self._lock:
                return self._local.get(data)
        inflater = zlib.decompressobj()
        try:
            raw = inflater.decompress(data, MAX_CONFIG_BYTES)
            loaded = json.loads(raw)
        except (zlib.error, ValueError):
            return None
        return loaded if isinstance(loaded, dict) else None

    def _sign(
        self, kind: SessionKind, expires_at: int, nonce: bytes, digest: int, data: bytes
    ) -> str:
        body = _HEADER.pack(_VERSION, max(expires_at, 0), _KINDS[kind], digest) + nonce + data
        token = base64.urlsafe_b64encode(body + self._mac(body)).rstrip(b"=").decode()
        return MINTED_PREFIX + token

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()[:_MAC_BYTES]
