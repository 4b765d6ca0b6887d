"""Shared bits of the reference-client tests: settings, images, a tiny JPEG."""

from __future__ import annotations

import dataclasses

from client_reference import ClientSettings, encode_png

# Every wait in these tests ends on an event, never by sleeping; these bounds only cap
# how long a broken test can take.
FAST = ClientSettings(
    open_timeout=5.0,
    session_created_timeout=5.0,
    ack_timeout=5.0,
    response_timeout=5.0,
    close_timeout=2.0,
    reconnect_timeout=5.0,
)

PNG = encode_png(4, 3, (10, 200, 30))
# The smallest well-formed JPEG header is enough: the client only sniffs magic bytes.
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + bytes(32)
API_KEY = "sk-test-SECRETSECRETSECRET0123456789"


def quick(**timeouts: float) -> ClientSettings:
    """FAST with some waits shortened, for tests that make one of them fire."""
    return dataclasses.replace(FAST, **timeouts)
