"""``squall.log``: the package's loggers (as Tornado's) and a readable format.

- ``squall.access``: one line per request (``Application.log_request``);
- ``squall.application``: exceptions from handlers and callbacks;
- ``squall.general``: everything else, squall's own Rust-side records too.
"""
from __future__ import annotations

import logging
import sys
from typing import Any, Optional

access_log = logging.getLogger("squall.access")
app_log = logging.getLogger("squall.application")
gen_log = logging.getLogger("squall.general")

__all__ = ["access_log", "app_log", "gen_log", "LogFormatter", "enable_pretty_logging"]


class LogFormatter(logging.Formatter):
    """``[L yymmdd HH:MM:SS module:line] message``, coloured on a terminal."""

    COLORS = {logging.DEBUG: 4, logging.INFO: 2, logging.WARNING: 3, logging.ERROR: 1, logging.CRITICAL: 1}

    def __init__(self, color: bool = True, datefmt: str = "%y%m%d %H:%M:%S") -> None:
        super().__init__(datefmt=datefmt)
        self._color = color and hasattr(sys.stderr, "isatty") and sys.stderr.isatty()

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        prefix = "[%s %s %s:%d]" % (record.levelname[:1], self.formatTime(record, self.datefmt), record.module, record.lineno)
        if self._color:
            prefix = "\033[3%dm%s\033[0m" % (self.COLORS.get(record.levelno, 7), prefix)
        out = prefix + " " + message
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out += "\n" + record.exc_text
        return out


def enable_pretty_logging(options: Any = None, logger: Optional[logging.Logger] = None) -> None:
    """Sets the root logger (or ``logger``) to the ``--logging`` level with a
    ``LogFormatter`` on stderr."""
    if options is None:
        from .options import options as global_options
        options = global_options
    level = getattr(options, "logging", "info")
    if level is None or str(level).lower() == "none":
        return
    logger = logger or logging.getLogger()
    logger.setLevel(getattr(logging, str(level).upper(), logging.INFO))
    if not any(isinstance(h.formatter, LogFormatter) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(LogFormatter())
        logger.addHandler(handler)
