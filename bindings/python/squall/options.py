"""Command-line and config-file options, with the API of ``tornado.options``.

Each module ``define``\\ s the options it uses; the program then calls
``parse_command_line()`` and/or ``parse_config_file(path)`` once, and reads
the values as attributes of the global ``options``::

    from squall.options import define, options, parse_command_line

    define("port", default=8888, help="port to listen on")
    define("debug", default=False)
    parse_command_line()
    app.listen(options.port)

Names may be written with ``-`` or ``_`` (``--max-size`` sets ``max_size``).
The ``logging`` option (default ``info``) is defined here; after parsing,
``squall.log.enable_pretty_logging()`` sets the log level and formatter
unless it is ``none``.
"""
from __future__ import annotations

import datetime
import numbers
import os
import re
import sys
import textwrap
from typing import Any, Callable, Iterator, Optional, TextIO

__all__ = [
    "Error", "OptionParser", "options", "define", "parse_command_line",
    "parse_config_file", "print_help", "add_parse_callback", "run_parse_callbacks",
]


class Error(Exception):
    """An option was defined twice, is unknown, or was given a bad value."""


_UNSET: Any = object()


def _normalize(name: str) -> str:
    return name.replace("_", "-")


class _Option:
    def __init__(self, name: str, default: Any, type: type, help: Optional[str], metavar: Optional[str],
                 multiple: bool, file_name: str, group_name: str,
                 callback: Optional[Callable[[Any], None]]) -> None:
        if default is None and multiple:
            default = []
        self.name = name
        self.type = type
        self.help = help
        self.metavar = metavar
        self.multiple = multiple
        self.file_name = file_name
        self.group_name = group_name
        self.callback = callback
        self.default = default
        self._value: Any = _UNSET

    def value(self) -> Any:
        return self.default if self._value is _UNSET else self._value

    # --- parsing text ---------------------------------------------------

    def _parse_one(self, text: str) -> Any:
        if self.type is bool:
            return text.strip().lower() not in ("false", "0", "f")
        if self.type is str:
            return text
        if self.type is datetime.datetime:
            return _parse_datetime(text)
        if self.type is datetime.timedelta:
            return _parse_timedelta(text)
        try:
            return self.type(text)
        except Exception as e:
            raise Error(f"Option {self.name!r}: bad value {text!r} for type {self.type.__name__} ({e})") from None

    def parse(self, text: str) -> Any:
        if self.multiple:
            values: list[Any] = []
            for piece in text.split(","):
                if issubclass(self.type, numbers.Integral) and self.type is not bool and ":" in piece:
                    lo_text, _, hi_text = piece.partition(":")
                    lo, hi = self._parse_one(lo_text), self._parse_one(hi_text or lo_text)
                    values.extend(range(lo, hi + 1))
                else:
                    values.append(self._parse_one(piece))
            self._value = values
        else:
            self._value = self._parse_one(text)
        if self.callback is not None:
            self.callback(self._value)
        return self._value

    def set(self, value: Any) -> None:
        if self.multiple:
            if not isinstance(value, list):
                raise Error(f"Option {self.name!r} is required to be a list of {self.type.__name__}")
            for item in value:
                if item is not None and not isinstance(item, self.type):
                    raise Error(f"Option {self.name!r} is required to be a list of {self.type.__name__}")
        elif value is not None and not isinstance(value, self.type):
            raise Error(f"Option {self.name!r} is required to be a {self.type.__name__} ({type(value)!r} given)")
        self._value = value
        if self.callback is not None:
            self.callback(self._value)


_DATETIME_FORMATS = [
    "%a %b %d %H:%M:%S %Y", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M",
    "%Y-%m-%dT%H:%M:%S", "%Y%m%d %H:%M:%S", "%Y%m%d %H:%M", "%Y-%m-%d", "%Y%m%d",
    "%H:%M:%S", "%H:%M",
]


def _parse_datetime(text: str) -> datetime.datetime:
    for fmt in _DATETIME_FORMATS:
        try:
            return datetime.datetime.strptime(text.strip(), fmt)
        except ValueError:
            continue
    raise Error(f"Unrecognized date/time format: {text!r}")


_TD_UNITS = {
    "w": "weeks", "week": "weeks", "weeks": "weeks",
    "d": "days", "day": "days", "days": "days",
    "h": "hours", "hr": "hours", "hrs": "hours", "hour": "hours", "hours": "hours",
    "m": "minutes", "min": "minutes", "mins": "minutes", "minute": "minutes", "minutes": "minutes",
    "s": "seconds", "sec": "seconds", "secs": "seconds", "second": "seconds", "seconds": "seconds",
    "ms": "milliseconds", "millisecond": "milliseconds", "milliseconds": "milliseconds",
    "us": "microseconds", "microsecond": "microseconds", "microseconds": "microseconds",
    "": "seconds",
}
_TD_PART = re.compile(r"\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*([a-zA-Z]*)\s*,?")


def _parse_timedelta(text: str) -> datetime.timedelta:
    """``'1h 30m'``, ``'90s'``, ``'2 days, 3h'``, ``'1.5'`` (seconds)."""
    total = datetime.timedelta()
    pos = 0
    text = text.strip()
    if not text:
        raise Error("Empty time interval")
    while pos < len(text):
        m = _TD_PART.match(text, pos)
        if not m or m.end() == pos:
            raise Error(f"Unrecognized time interval: {text!r}")
        unit = _TD_UNITS.get(m.group(2).lower())
        if unit is None:
            raise Error(f"Unknown time unit {m.group(2)!r} in {text!r}")
        total += datetime.timedelta(**{unit: float(m.group(1))})
        pos = m.end()
    return total


class _Mockable:
    """See ``OptionParser.mockable``."""

    def __init__(self, options: "OptionParser") -> None:
        self.__dict__["_options"] = options
        self.__dict__["_originals"] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._options, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self._originals:
            raise RuntimeError(f"option {name!r} is already patched through this object")
        self._originals[name] = getattr(self._options, name)
        setattr(self._options, name, value)

    def __delattr__(self, name: str) -> None:
        setattr(self._options, name, self._originals.pop(name))


class OptionParser:
    """A set of options. ``squall.options.options`` is the global one; make
    your own to keep options apart (tests, libraries)."""

    def __init__(self) -> None:
        self.__dict__["_options"] = {}
        self.__dict__["_parse_callbacks"] = []
        self.define("help", type=bool, help="show this help information", group="", callback=self._help_callback)

    # --- access ---------------------------------------------------------

    def _get(self, name: str) -> _Option:
        opt = self._options.get(_normalize(name))
        if opt is None:
            raise AttributeError(f"Unrecognized option {name!r}")
        return opt

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self._get(name).value()

    def __setattr__(self, name: str, value: Any) -> None:
        self._get(name).set(value)

    def __getitem__(self, name: str) -> Any:
        try:
            return self._get(name).value()
        except AttributeError:
            raise KeyError(name) from None

    def __setitem__(self, name: str, value: Any) -> None:
        try:
            opt = self._get(name)
        except AttributeError:
            raise KeyError(name) from None
        opt.set(value)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and _normalize(name) in self._options

    def __iter__(self) -> Iterator[str]:
        return iter([opt.name for opt in self._options.values()])

    def items(self) -> list[tuple[str, Any]]:
        return [(opt.name, opt.value()) for opt in self._options.values()]

    def mockable(self) -> "_Mockable":
        """An object for ``mock.patch.object(options.mockable(), "name",
        value)``: setting an attribute sets the option, deleting it restores
        the value it had."""
        return _Mockable(self)

    def groups(self) -> set[str]:
        return {opt.group_name for opt in self._options.values()}

    def group_dict(self, group: str) -> dict[str, Any]:
        """The options of ``group`` (all of them when ``group`` is empty)."""
        return {opt.name: opt.value() for opt in self._options.values() if not group or opt.group_name == group}

    def as_dict(self) -> dict[str, Any]:
        return {opt.name: opt.value() for opt in self._options.values()}

    # --- definition -----------------------------------------------------

    def define(self, name: str, default: Any = None, type: Optional[type] = None, help: Optional[str] = None,
               metavar: Optional[str] = None, multiple: bool = False, group: Optional[str] = None,
               callback: Optional[Callable[[Any], None]] = None) -> None:
        """Defines an option. ``type`` defaults to the type of ``default``
        (str when there is none, or when ``multiple``); ``group`` (used by
        ``print_help``) defaults to the file of the caller."""
        key = _normalize(name)
        if key in self._options:
            raise Error(f"Option {name!r} already defined in {self._options[key].file_name}")
        file_name = _caller_file()
        if type is None:
            if not multiple and default is not None:
                type = default.__class__
            elif multiple and isinstance(default, list) and default:
                type = default[0].__class__
            else:
                type = str
        self._options[key] = _Option(name, default=default, type=type, help=help, metavar=metavar,
                                     multiple=multiple, file_name=file_name,
                                     group_name=group if group is not None else file_name, callback=callback)

    # --- parsing --------------------------------------------------------

    def parse_command_line(self, args: Optional[list[str]] = None, final: bool = True) -> list[str]:
        """Parses ``args`` (default ``sys.argv``; its first item is the
        program and is skipped) and returns what follows the options: the
        first argument not starting with ``-``, or whatever follows ``--``."""
        if args is None:
            args = sys.argv
        remaining: list[str] = []
        for i in range(1, len(args)):
            arg = args[i]
            if not arg.startswith("-"):
                remaining = list(args[i:])
                break
            if arg == "--":
                remaining = list(args[i + 1:])
                break
            name, equals, value = arg.lstrip("-").partition("=")
            key = _normalize(name)
            opt = self._options.get(key)
            if opt is None:
                self.print_help()
                raise Error(f"Unrecognized command line option: {key!r}")
            if not equals:
                if opt.type is bool:
                    value = "true"
                else:
                    raise Error(f"Option {key!r} requires a value")
            opt.parse(value)
        if final:
            self.run_parse_callbacks()
        return remaining

    def parse_config_file(self, path: str, final: bool = True) -> None:
        """Runs the Python file ``path`` and takes the values of the names
        it sets that are options (others are ignored). A comma-separated
        string is accepted for a ``multiple`` option."""
        config: dict[str, Any] = {"__file__": os.path.abspath(path)}
        with open(path, "rb") as f:
            code = compile(f.read(), path, "exec")
        exec(code, config, config)
        for name, value in config.items():
            opt = self._options.get(_normalize(name))
            if opt is None:
                continue
            if opt.multiple and not isinstance(value, (list, str)):
                raise Error(f"Option {name!r} is required to be a list of {opt.type.__name__} "
                            f"or a comma-separated string")
            if isinstance(value, str) and (opt.type is not str or opt.multiple):
                opt.parse(value)
            else:
                opt.set(value)
        if final:
            self.run_parse_callbacks()

    def add_parse_callback(self, callback: Callable[[], None]) -> None:
        """``callback()`` runs after every final parse."""
        self._parse_callbacks.append(callback)

    def run_parse_callbacks(self) -> None:
        for callback in list(self._parse_callbacks):
            callback()

    # --- help -----------------------------------------------------------

    def print_help(self, file: Optional[TextIO] = None) -> None:
        """Writes every option, by group, to ``file`` (default stderr)."""
        out = file if file is not None else sys.stderr
        print(f"Usage: {sys.argv[0] if sys.argv else ''} [OPTIONS]", file=out)
        print("\nOptions:\n", file=out)
        by_group: dict[str, list[_Option]] = {}
        for opt in self._options.values():
            by_group.setdefault(opt.group_name, []).append(opt)
        for group in sorted(by_group):
            if group:
                print(f"\n{os.path.normpath(group)} options:\n", file=out)
            for opt in sorted(by_group[group], key=lambda o: o.name):
                label = _normalize(opt.name) + (f"={opt.metavar}" if opt.metavar else "")
                text = opt.help or ""
                if opt.default is not None and opt.default != "":
                    text += f" (default {opt.default})"
                lines = textwrap.wrap(text, 79 - 35) or [""]
                print(f"  --{label:<30} {lines[0]}", file=out)
                for line in lines[1:]:
                    print(f"{'':<34}{line}", file=out)
        print(file=out)

    def _help_callback(self, value: bool) -> None:
        if value:
            self.print_help()
            sys.exit(0)


def _caller_file() -> str:
    """The file of the first frame outside this module (the definer)."""
    frame = sys._getframe(1)
    here = frame.f_code.co_filename
    while frame is not None and frame.f_code.co_filename == here:
        frame = frame.f_back  # type: ignore[assignment]
    return frame.f_code.co_filename if frame is not None else ""


options = OptionParser()
"""The global option set used by the module-level functions."""


def define(name: str, default: Any = None, type: Optional[type] = None, help: Optional[str] = None,
           metavar: Optional[str] = None, multiple: bool = False, group: Optional[str] = None,
           callback: Optional[Callable[[Any], None]] = None) -> None:
    """Defines an option of the global ``options`` (see ``OptionParser.define``)."""
    options.define(name, default=default, type=type, help=help, metavar=metavar,
                   multiple=multiple, group=group, callback=callback)


def parse_command_line(args: Optional[list[str]] = None, final: bool = True) -> list[str]:
    """Parses the command line into the global ``options``."""
    return options.parse_command_line(args, final=final)


def parse_config_file(path: str, final: bool = True) -> None:
    """Reads a config file into the global ``options``."""
    options.parse_config_file(path, final=final)


def print_help(file: Optional[TextIO] = None) -> None:
    """Prints the help of the global ``options``."""
    options.print_help(file)


def add_parse_callback(callback: Callable[[], None]) -> None:
    """Adds a callback run after the global ``options`` are parsed."""
    options.add_parse_callback(callback)


def run_parse_callbacks() -> None:
    options.run_parse_callbacks()


def _define_logging() -> None:
    from . import log
    log.define_logging_options(options)


_define_logging()
