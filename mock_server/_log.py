"""The logger of the mock's socket side (`mock_server.server`, as it always was)."""

from __future__ import annotations

import logging

logger = logging.getLogger("mock_server.server")
