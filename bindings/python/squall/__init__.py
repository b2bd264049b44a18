"""squall: Tornado's API on a Rust core (HTTP/1.1, WebSockets with topics,
an async HTTP client), loaded through ctypes.

Modules mirror Tornado 6.6's: ``squall.web``, ``squall.websocket``,
``squall.ioloop``, ``squall.httpserver``, ``squall.httpclient``,
``squall.options``, ``squall.process``, ``squall.escape``,
``squall.httputil``, ``squall.log``, ``squall.testing``, ``squall.gen``,
``squall.locks``, ``squall.queues``, ``squall.concurrent``, ``squall.util``,
``squall.locale``, ``squall.template``, ``squall.routing``,
``squall.wsgi``, ``squall.platform.asyncio``. As in
Tornado >= 6.3, a submodule is imported on first attribute access
(``import squall; squall.web.Application``). Importing ``squall`` itself
does not load the native library; its first submodule that needs it does.
"""
import importlib
from typing import Any

version = "0.1.0"
version_info = (0, 1, 0, 0)

__all__ = [
    "concurrent",
    "escape",
    "gen",
    "http1connection",
    "httpclient",
    "httpserver",
    "httputil",
    "ioloop",
    "iostream",
    "locale",
    "locks",
    "log",
    "metrics",
    "netutil",
    "options",
    "platform",
    "process",
    "queues",
    "routing",
    "simple_httpclient",
    "tcpclient",
    "tcpserver",
    "template",
    "testing",
    "util",
    "web",
    "websocket",
    "wsgi",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return importlib.import_module("." + name, __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
