"""Re-exports of Tornado's pure-Python, I/O-free modules (issue 17).

``squall.gen``, ``locks``, ``queues``, ``concurrent``, ``util``, ``locale``
and ``template`` are Tornado's own code: they do no I/O (no socket, no file
descriptor registered anywhere), they run on asyncio, and reusing them gives
Tornado's exact behaviour with no code of ours to keep in step.
``reexport`` copies every name of the Tornado module (private ones too, so
``from squall.gen import _something`` works as it does on Tornado) into the
squall module's namespace. Tornado's I/O modules (iostream, httpserver,
tcpserver, web, websocket, testing, ...) are never imported here: the test
tests/test_tornado_modules.py checks that.
"""
from __future__ import annotations

import importlib
from typing import Any

# Modules that must never be imported through squall: Tornado's I/O.
TORNADO_IO_MODULES = (
    "tornado.iostream", "tornado.http1connection", "tornado.httpserver", "tornado.tcpserver",
    "tornado.tcpclient", "tornado.netutil", "tornado.simple_httpclient", "tornado.curl_httpclient",
    "tornado.websocket", "tornado.web", "tornado.testing", "tornado.wsgi", "tornado.routing",
)


def reexport(namespace: dict[str, Any], module: str, set_all: bool = True) -> Any:
    try:
        mod = importlib.import_module(module)
    except ImportError as e:  # pragma: no cover - tornado is a dependency of the package
        raise ImportError(f"squall reuses {module} (pure Python, no I/O); install tornado>=6.6: {e}") from e
    for name, value in vars(mod).items():
        if name.startswith("__") and name.endswith("__"):
            continue
        namespace.setdefault(name, value)
    if not set_all:
        return mod
    if set_all:
        namespace["__all__"] = list(getattr(mod, "__all__", [n for n in vars(mod) if not n.startswith("_")]))
    return mod
