"""The reference GA Realtime client: a correct client to copy, and the `realtime-notes` CLI.

Layers, lowest first: `connect()` / `RealtimeConnection` (one WebSocket around the
sans-I/O core; `connect_webrtc()` / `WebRtcConnection`: the same over a WebRTC call), then
`RealtimeClient` (the GA flow: configure, add screenshots, stream responses), then
`client_reference.cli` (the `realtime-notes` command).
"""

from .client import ErrorCallback, RealtimeClient
from .connection import DEFAULT_MAX_SIZE, DEFAULT_MODEL, DEFAULT_URL, RealtimeConnection, connect
from .endpoint import Endpoint, resolve_endpoint
from .errors import (
    ClientError,
    ConnectError,
    ConnectionClosed,
    RealtimeAPIError,
    ResponseFailed,
    Timeout,
    UsageError,
)
from .images import encode_png, image_data_url, load_image, sniff_image_type
from .settings import ClientSettings, ReconnectPolicy
from .stream import DeltaCallback, ResponseResult, ResponseStream
from .webrtc import WebRtcConnection, connect_webrtc

__all__ = [
    "DEFAULT_MAX_SIZE",
    "DEFAULT_MODEL",
    "DEFAULT_URL",
    "ClientError",
    "ClientSettings",
    "ConnectError",
    "ConnectionClosed",
    "DeltaCallback",
    "Endpoint",
    "ErrorCallback",
    "RealtimeAPIError",
    "RealtimeClient",
    "RealtimeConnection",
    "ReconnectPolicy",
    "ResponseFailed",
    "ResponseResult",
    "ResponseStream",
    "Timeout",
    "UsageError",
    "WebRtcConnection",
    "connect",
    "connect_webrtc",
    "encode_png",
    "image_data_url",
    "load_image",
    "resolve_endpoint",
    "sniff_image_type",
]
