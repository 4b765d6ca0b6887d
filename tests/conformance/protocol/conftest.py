"""Fixtures of the protocol-core tests."""

import pytest

from tests.helpers import SessionPair


@pytest.fixture
def pair() -> SessionPair:
    """A client and a server session, joined, after the server's `session.created`."""
    pair = SessionPair()
    pair.open()
    return pair
