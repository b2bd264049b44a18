"""A server's metrics: counters kept in Rust, always on.

``snapshot(target)`` returns the counters of an ``Application`` (its servers
summed) or of an ``HTTPServer`` as a dict, one key per field of the C
``sq_metrics`` struct (docs/METRICS.md lists them); ``prometheus(server)``
returns them in Prometheus' text format 0.0.4. Mount ``MetricsHandler`` on a
plain path to serve that text::

    app = web.Application([
        (r"/", MainHandler),
        (r"/metrics", metrics.MetricsHandler),
    ])

The route is answered by squall itself on its reactor thread, so a scrape
gets its answer even while Python is busy; no Python code runs for it.
"""
from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING, Any, Optional, Union

from . import _ffi
from ._ffi import b, lib
from .httpserver import HTTPServer, metrics_dict
from .ioloop import IOLoop

if TYPE_CHECKING:
    from .web import Application

__all__ = ["MetricsHandler", "loop_snapshot", "prometheus", "snapshot"]


def snapshot(target: Union[Application, HTTPServer]) -> dict[str, Any]:
    """The counters now: of an ``HTTPServer``, or of every server an
    ``Application`` is installed on, summed (``connections_open`` included);
    the ``host_*`` and ``client_*`` figures are the loop's, shared by its
    servers, and the ``cluster_*`` ones the attached cluster's (one per
    loop), so they are taken once."""
    if isinstance(target, HTTPServer):
        return target.metrics()
    total: dict[str, Any] = {}
    for srv in getattr(target, "_servers", []):
        for k, v in srv.metrics().items():
            if k.startswith(("host_", "client_", "cluster_")) and k in total:
                continue
            if isinstance(v, list):
                prev = total.get(k) or [0] * len(v)
                total[k] = [a + c for a, c in zip(prev, v)]
            else:
                total[k] = total.get(k, 0) + v
    return total


def loop_snapshot(io_loop: Optional[IOLoop] = None) -> dict[str, Any]:
    """The figures of an ``IOLoop`` itself (the current one by default),
    for a program with no server: the same keys as ``snapshot``, with the
    loop's ``host_*`` and ``client_*`` (its ``AsyncHTTPClient`` fetches)
    filled in and every server counter 0 (``sq_loop_metrics_snapshot``)."""
    loop = io_loop or IOLoop.current()
    m = b.sq_metrics()
    _ffi.check(lib.sq_loop_metrics_snapshot(loop._loop_ptr(), ctypes.byref(m), ctypes.sizeof(m)))
    return metrics_dict(m)


def prometheus(server: HTTPServer) -> str:
    """One server's counters in Prometheus' text format 0.0.4."""
    return server.metrics_text()


class MetricsHandler:
    """Mount on a plain path (``(r"/metrics", MetricsHandler)``): squall
    serves the server's counters there in Prometheus' text format, from its
    reactor thread (``sq_server_metrics_route``). It is never instantiated:
    the route is Rust's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("MetricsHandler is served by squall itself; mount it in an Application")
