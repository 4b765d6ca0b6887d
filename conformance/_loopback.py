"""Loopback, in one place for the adapters and the runner.

`is_loopback_host` says whether a host is this machine (the runner's `--live` key rule,
the reference client's WebRTC ICE choice). `loopback_ice` is the one ICE policy of a
process that talks WebRTC on loopback: the mock's peer connections and the reference
client's patch the same aioice global, so they must patch it the same way.
"""

from __future__ import annotations

import ipaddress

__all__ = ["is_loopback_host", "loopback_ice"]


def is_loopback_host(host: str) -> bool:
    """True when `host` is this machine: `localhost`, 127.0.0.0/8 or `::1`."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def loopback_ice() -> None:
    """ICE host candidates on 127.0.0.1 only (aioice leaves loopback out by default).

    Process-wide: every peer connection of this process (the mock's, the reference
    client's, an aiortc test client's) then gathers only 127.0.0.1, so no packet leaves
    the machine. Needs the `webrtc` extra (aiortc, which brings aioice).
    """
    import aioice.ice  # the optional webrtc extra: imported by its users only

    aioice.ice.get_host_addresses = _loopback_addresses


def _loopback_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    return ["127.0.0.1"] if use_ipv4 else []
