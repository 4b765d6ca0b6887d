"""`realtime-conformance proxy`: a validating, recording proxy in front of the Realtime API.

A client connects to the proxy as if it were the API; every frame is forwarded to the
upstream (the live API or a mock) and back, validated against the GA schemas and the
protocol rules on the way (`tap.Tap`), recorded as a transcript, and judged with the
same checks as `realtime-conformance run` when the connection ends (`judge`). REST calls
on the same port are forwarded too (`http`). See docs/proxy.md.
"""

from __future__ import annotations

from .forward import EndedConnection, ProxyConfig, ProxyServer, Upstream
from .judge import judge_connection, proxy_registry
from .tap import Drift, Tap

__all__ = [
    "Drift",
    "EndedConnection",
    "ProxyConfig",
    "ProxyServer",
    "Tap",
    "Upstream",
    "judge_connection",
    "proxy_registry",
]
