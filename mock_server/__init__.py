"""A scriptable mock of the OpenAI Realtime API (GA) WebSocket server.

Start one from Python with ``async with serve(port=0) as server:`` (``server.url`` is
the ``ws://`` URL, ``server.base_url`` the ``http://…/v1`` base URL for SDKs), or from
a shell with ``realtime-mock serve``.
"""

from .app import MockApp, make_app
from .config import MockConfig
from .server import MockServer, serve

__all__ = ["MockApp", "MockConfig", "MockServer", "make_app", "serve"]
