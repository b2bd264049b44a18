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

Logging: what Tornado's reused code logs (``Multiple exceptions in yield
list`` from ``gen.multi``, ``Exception in callback`` from the asyncio wrapper
that ``gen`` schedules on, a template's compile error, ...) is squall's to
report, so it goes to squall's loggers: ``route_logs()`` puts a filter on
``tornado.application``, ``tornado.general`` and ``tornado.access`` that hands
each record made by a module of the tornado package other than its I/O
modules to ``squall.application``/``general``/``access`` (only if that logger
is enabled for the level) and keeps it off Tornado's logger. Records of
Tornado's I/O modules, which squall never imports (a program may use both),
stay on Tornado's loggers.
"""
from __future__ import annotations

import importlib
import logging
import os
from typing import Any, Optional

# Modules that must never be imported through squall: Tornado's I/O.
TORNADO_IO_MODULES = (
    "tornado.iostream", "tornado.http1connection", "tornado.httpserver", "tornado.tcpserver",
    "tornado.tcpclient", "tornado.netutil", "tornado.simple_httpclient", "tornado.curl_httpclient",
    "tornado.websocket", "tornado.web", "tornado.testing", "tornado.wsgi", "tornado.routing",
)


_LOGGERS = ("application", "general", "access")


class _ToSquallLogger(logging.Filter):
    """On one of Tornado's loggers: a record made by Tornado's reused code is
    handled by the squall logger of the same suffix instead (see above)."""

    def __init__(self, target: logging.Logger, package_dir: str) -> None:
        super().__init__()
        self.target = target
        self.package_dir = package_dir + os.sep
        io = {m.rsplit(".", 1)[1] for m in TORNADO_IO_MODULES}
        self.io_files = {os.path.join(package_dir, m + ".py") for m in io}

    def _reused(self, record: logging.LogRecord) -> bool:
        path = os.path.normcase(os.path.abspath(record.pathname))
        return path.startswith(self.package_dir) and path not in self.io_files

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._reused(record):
            return True
        if self.target.isEnabledFor(record.levelno):
            routed = logging.makeLogRecord(record.__dict__)
            routed.name = self.target.name
            self.target.handle(routed)
        return False


_routed = False


def route_logs() -> None:
    """Installs the filters (once; idempotent)."""
    global _routed
    if _routed:
        return
    _routed = True
    import tornado

    package_dir = os.path.normcase(os.path.dirname(os.path.abspath(tornado.__file__)))
    for suffix in _LOGGERS:
        logging.getLogger("tornado." + suffix).addFilter(
            _ToSquallLogger(logging.getLogger("squall." + suffix), package_dir))


def _squall_logger(value: Any) -> Optional[logging.Logger]:
    if isinstance(value, logging.Logger) and value.name.startswith("tornado."):
        suffix = value.name[len("tornado."):]
        if suffix in _LOGGERS:
            return logging.getLogger("squall." + suffix)
    return None


def reexport(namespace: dict[str, Any], module: str, set_all: bool = True) -> Any:
    try:
        mod = importlib.import_module(module)
    except ImportError as e:  # pragma: no cover - tornado is a dependency of the package
        raise ImportError(f"squall reuses {module} (pure Python, no I/O); install tornado>=6.6: {e}") from e
    route_logs()
    for name, value in vars(mod).items():
        if name.startswith("__") and name.endswith("__"):
            continue
        # squall.gen.app_log is squall's logger, as the records are (above)
        namespace.setdefault(name, _squall_logger(value) or value)
    if not set_all:
        return mod
    if set_all:
        namespace["__all__"] = list(getattr(mod, "__all__", [n for n in vars(mod) if not n.startswith("_")]))
    return mod
