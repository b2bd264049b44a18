"""Logging with the API of ``tornado.log``.

Three loggers: ``access_log`` (``squall.access``, one line per request),
``app_log`` (``squall.application``, errors of application code) and
``gen_log`` (``squall.general``, everything else, including the native
library's own records). ``LogFormatter`` writes
``[L yymmdd hh:mm:ss module:lineno] message``, coloured by level when the
stream is a terminal; ``enable_pretty_logging`` installs it on the root logger
(or a given one) as ``squall.options`` does after parsing.
"""
from __future__ import annotations

import logging
import logging.handlers
import sys
from typing import Any, Optional

__all__ = ["access_log", "app_log", "gen_log", "LogFormatter", "enable_pretty_logging", "define_logging_options"]

access_log = logging.getLogger("squall.access")
app_log = logging.getLogger("squall.application")
gen_log = logging.getLogger("squall.general")

# ANSI SGR colour numbers (foreground = 30 + n).
_DEFAULT_COLORS = {
    logging.DEBUG: 4,     # blue
    logging.INFO: 2,      # green
    logging.WARNING: 3,   # yellow
    logging.ERROR: 1,     # red
    logging.CRITICAL: 5,  # magenta
}


def _stream_is_tty(stream: Any) -> bool:
    try:
        return bool(stream is not None and hasattr(stream, "isatty") and stream.isatty())
    except Exception:
        return False


def _safe_text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    try:
        return str(value)
    except Exception:
        return repr(value)


class LogFormatter(logging.Formatter):
    """``[L yymmdd hh:mm:ss module:lineno] message`` plus the traceback, if any.

    ``color`` asks for colours; they are used only when ``stream`` (default
    ``sys.stderr``) is a terminal. ``colors`` maps levels to ANSI colour
    numbers 0-7.
    """

    DEFAULT_FORMAT = "%(color)s[%(levelname)1.1s %(asctime)s %(module)s:%(lineno)d]%(end_color)s %(message)s"
    DEFAULT_DATE_FORMAT = "%y%m%d %H:%M:%S"
    DEFAULT_COLORS = _DEFAULT_COLORS

    def __init__(self, fmt: str = DEFAULT_FORMAT, datefmt: str = DEFAULT_DATE_FORMAT, style: str = "%",
                 color: bool = True, colors: Optional[dict[int, int]] = None, stream: Any = None) -> None:
        super().__init__(datefmt=datefmt)
        self._fmt = fmt
        self._colors: dict[int, str] = {}
        self._normal = ""
        if color and _stream_is_tty(stream if stream is not None else sys.stderr):
            for level, code in (colors if colors is not None else _DEFAULT_COLORS).items():
                self._colors[level] = f"\033[2;3{code}m"
            self._normal = "\033[0m"

    def format(self, record: logging.LogRecord) -> str:
        try:
            message = record.getMessage()
        except Exception as e:
            message = f"Bad message ({e!r}): {record.__dict__!r}"
        record.message = _safe_text(message)
        record.asctime = self.formatTime(record, self.datefmt)
        # the format's %(color)s and %(end_color)s (set as attributes, as
        # Tornado's LogFormatter does)
        color = self._colors.get(record.levelno, "")
        record.__dict__["color"] = color
        record.__dict__["end_color"] = self._normal if color else ""
        text = (self._fmt or "") % record.__dict__
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        extra = []
        if record.exc_text:
            extra.append(record.exc_text)
        if record.stack_info:
            extra.append(self.formatStack(record.stack_info))
        if extra:
            lines = [text.rstrip()]
            for block in extra:
                lines.extend(_safe_text(block).split("\n"))
            text = "\n".join(lines)
        return text.replace("\n", "\n    ")


def enable_pretty_logging(options: Any = None, logger: Optional[logging.Logger] = None) -> None:
    """Sets the level of ``logger`` (default: the root logger) from
    ``options.logging`` and gives it a handler with ``LogFormatter``: a
    rotating file when ``options.log_file_prefix`` is set, stderr when
    ``options.log_to_stderr`` is true or (when it is None) when the logger
    has no handler yet. ``options`` defaults to ``squall.options.options``."""
    if options is None:
        from . import options as _options_mod
        options = _options_mod.options
    level = getattr(options, "logging", "info")
    if level is None or str(level).lower() == "none":
        return
    if logger is None:
        logger = logging.getLogger()
    logger.setLevel(getattr(logging, str(level).upper()))
    prefix = getattr(options, "log_file_prefix", None)
    if prefix:
        rotate_mode = getattr(options, "log_rotate_mode", "size")
        handler: logging.Handler
        if rotate_mode == "size":
            handler = logging.handlers.RotatingFileHandler(
                filename=prefix, mode="a",
                maxBytes=getattr(options, "log_file_max_size", 100 * 1000 * 1000),
                backupCount=getattr(options, "log_file_num_backups", 10), encoding="utf-8")
        elif rotate_mode == "time":
            handler = logging.handlers.TimedRotatingFileHandler(
                filename=prefix, when=getattr(options, "log_rotate_when", "midnight"),
                interval=getattr(options, "log_rotate_interval", 1),
                backupCount=getattr(options, "log_file_num_backups", 10), encoding="utf-8")
        else:
            raise ValueError(f"The value of log_rotate_mode option should be \"size\" or \"time\", not {rotate_mode!r}.")
        handler.setFormatter(LogFormatter(color=False))
        logger.addHandler(handler)
    to_stderr = getattr(options, "log_to_stderr", None)
    if to_stderr or (to_stderr is None and not logger.handlers):
        stderr_handler = logging.StreamHandler()
        stderr_handler.setFormatter(LogFormatter())
        logger.addHandler(stderr_handler)


def define_logging_options(options: Any = None) -> None:
    """Defines ``logging``, ``log_to_stderr``, ``log_file_prefix`` and the
    rotation options on ``options`` (default: the global parser), and makes
    parsing the command line call ``enable_pretty_logging``."""
    if options is None:
        from . import options as _options_mod
        options = _options_mod.options
    options.define("logging", default="info", metavar="debug|info|warning|error|none",
                   help="Set the Python log level. If 'none', squall won't touch the logging configuration.")
    options.define("log_to_stderr", type=bool, default=None,
                   help="Send log output to stderr (colorized if possible). By default use stderr if "
                        "--log_file_prefix is not set and no other logging is configured.")
    options.define("log_file_prefix", type=str, default=None, metavar="PATH",
                   help="Path prefix for log files. Note that if you are running multiple squall processes, "
                        "log_file_prefix must be different for each of them (e.g. include the port number)")
    options.define("log_file_max_size", type=int, default=100 * 1000 * 1000,
                   help="max size of log files before rollover")
    options.define("log_file_num_backups", type=int, default=10, help="number of log files to keep")
    options.define("log_rotate_when", type=str, default="midnight",
                   help="specify the type of TimedRotatingFileHandler interval other options:('S', 'M', 'H', 'D', 'W0'-'W6')")
    options.define("log_rotate_interval", type=int, default=1,
                   help="The interval value of timed rotating")
    options.define("log_rotate_mode", type=str, default="size",
                   help="The mode of rotating files(time or size)")
    options.add_parse_callback(lambda: enable_pretty_logging(options))
