"""``squall.options``: Tornado's command-line and config-file options.

    from squall.options import define, options, parse_command_line
    define("port", default=8888, help="listen on this port", type=int)
    parse_command_line()
    app.listen(options.port)
"""
from __future__ import annotations

import datetime
import numbers
import os
import re
import sys
import textwrap
from typing import Any, Callable, Iterator, Optional

__all__ = ["Error", "OptionParser", "define", "options", "parse_command_line", "parse_config_file",
           "print_help", "add_parse_callback"]


class Error(Exception):
    """A bad option definition or value."""


def _normalize(name: str) -> str:
    return name.replace("_", "-")


_TIMEDELTA_UNITS = {"d": "days", "day": "days", "days": "days", "h": "hours", "hr": "hours", "hour": "hours",
                    "hours": "hours", "m": "minutes", "min": "minutes", "minute": "minutes", "minutes": "minutes",
                    "s": "seconds", "sec": "seconds", "second": "seconds", "seconds": "seconds",
                    "ms": "milliseconds", "millisecond": "milliseconds", "milliseconds": "milliseconds",
                    "us": "microseconds", "microsecond": "microseconds", "microseconds": "microseconds",
                    "w": "weeks", "week": "weeks", "weeks": "weeks"}
_TIMEDELTA_RE = re.compile(r"\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*([a-z]*)\s*,?\s*")
_DATETIME_FORMATS = ("%a %b %d %H:%M:%S %Y", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M",
                     "%Y%m%d %H:%M:%S", "%Y%m%d %H:%M", "%Y-%m-%d", "%Y%m%d", "%H:%M:%S", "%H:%M")


def _parse_timedelta(value: str) -> datetime.timedelta:
    total = datetime.timedelta()
    pos = 0
    value = value.strip()
    if not value:
        raise Error("empty timedelta")
    while pos < len(value):
        m = _TIMEDELTA_RE.match(value, pos)
        if not m or m.end() == pos:
            raise Error("cannot parse timedelta %r" % value)
        number, unit = float(m.group(1)), m.group(2) or "seconds"
        if unit not in _TIMEDELTA_UNITS:
            raise Error("unknown timedelta unit %r" % unit)
        total += datetime.timedelta(**{_TIMEDELTA_UNITS[unit]: number})
        pos = m.end()
    return total


def _parse_datetime(value: str) -> datetime.datetime:
    for fmt in _DATETIME_FORMATS:
        try:
            return datetime.datetime.strptime(value, fmt)
        except ValueError:
            pass
    raise Error("Unrecognized date/time format: %r" % value)


def _parse_bool(value: str) -> bool:
    return value.lower() not in ("false", "0", "f")


class _Option:
    def __init__(self, name: str, default: Any, type: type, help: Optional[str], metavar: Optional[str],
                 multiple: bool, file_name: str, group_name: Optional[str], callback: Optional[Callable[[Any], None]]) -> None:
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

    def _parse_one(self, text: str) -> Any:
        t = self.type
        try:
            if t is bool:
                return _parse_bool(text)
            if t is datetime.datetime:
                return _parse_datetime(text)
            if t is datetime.timedelta:
                return _parse_timedelta(text)
            if t is str:
                return text
            return t(text)
        except Error:
            raise
        except Exception as e:
            raise Error("Option %r requires a value of type %s, got %r (%s)" % (self.name, t.__name__, text, e))

    def parse(self, value: str) -> Any:
        if self.multiple:
            out: list[Any] = []
            for part in value.split(","):
                if issubclass(self.type, numbers.Integral) and self.type is not bool and ":" in part:
                    lo, _, hi = part.partition(":")
                    lo_v, hi_v = self._parse_one(lo), self._parse_one(hi)
                    out.extend(range(lo_v, hi_v + 1))
                else:
                    out.append(self._parse_one(part))
            self._value = out
        else:
            self._value = self._parse_one(value)
        if self.callback is not None:
            self.callback(self._value)
        return self._value

    def set(self, value: Any) -> None:
        if self.multiple:
            if not isinstance(value, list):
                raise Error("Option %r is required to be a list of %s" % (self.name, self.type.__name__))
            for item in value:
                if item is not None and not isinstance(item, self.type):
                    raise Error("Option %r is required to be a list of %s" % (self.name, self.type.__name__))
        elif value is not None and not isinstance(value, self.type):
            raise Error("Option %r is required to be a %s (%s given)" % (self.name, self.type.__name__, type(value)))
        self._value = value
        if self.callback is not None:
            self.callback(self._value)


_UNSET = object()


class OptionParser:
    """A collection of options; the module-level ``options`` is the global one."""

    def __init__(self) -> None:
        self.__dict__["_options"] = {}
        self.__dict__["_parse_callbacks"] = []
        self.define("help", type=bool, help="show this help information", callback=self._help_callback)

    def _opt(self, name: str) -> _Option:
        try:
            return self._options[_normalize(name)]
        except KeyError:
            raise AttributeError("Unrecognized option %r" % name) from None

    def __getattr__(self, name: str) -> Any:
        return self._opt(name).value()

    def __setattr__(self, name: str, value: Any) -> None:
        self._opt(name).set(value)

    def __getitem__(self, name: str) -> Any:
        return self._opt(name).value()

    def __setitem__(self, name: str, value: Any) -> None:
        self._opt(name).set(value)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and _normalize(name) in self._options

    def __iter__(self) -> Iterator[str]:
        return (opt.name for opt in self._options.values())

    def items(self) -> list[tuple[str, Any]]:
        return [(opt.name, opt.value()) for opt in self._options.values()]

    def as_dict(self) -> dict[str, Any]:
        return dict(self.items())

    def groups(self) -> set[str]:
        return {opt.group_name for opt in self._options.values() if opt.group_name is not None}

    def group_dict(self, group: str) -> dict[str, Any]:
        return {opt.name: opt.value() for opt in self._options.values() if not group or group == opt.group_name}

    def define(self, name: str, default: Any = None, type: Optional[type] = None, help: Optional[str] = None,
               metavar: Optional[str] = None, multiple: bool = False, group: Optional[str] = None,
               callback: Optional[Callable[[Any], None]] = None) -> None:
        normalized = _normalize(name)
        if normalized in self._options:
            raise Error("Option %r already defined in %s" % (normalized, self._options[normalized].file_name))
        frame = sys._getframe(1)
        file_name = frame.f_code.co_filename
        if file_name == __file__ and frame.f_back is not None:
            file_name = frame.f_back.f_code.co_filename
        if type is None:
            if not multiple and default is not None:
                type = default.__class__
            else:
                type = str
        group_name = group if group is not None else file_name
        self._options[normalized] = _Option(name, default, type, help, metavar, multiple, file_name, group_name, callback)

    def parse_command_line(self, args: Optional[list[str]] = None, final: bool = True) -> list[str]:
        if args is None:
            args = sys.argv
        remaining: list[str] = []
        for i in range(1, len(args)):
            if not args[i].startswith("-"):
                remaining = args[i:]
                break
            if args[i] == "--":
                remaining = args[i + 1:]
                break
            arg = args[i].lstrip("-")
            name, equals, value = arg.partition("=")
            name = _normalize(name)
            if name not in self._options:
                self.print_help()
                raise Error("Unrecognized command line option: %r" % name)
            opt = self._options[name]
            if not equals:
                if opt.type is bool:
                    value = "true"
                else:
                    raise Error("Option %r requires a value" % name)
            opt.parse(value)
        if final:
            self.run_parse_callbacks()
        return remaining

    def parse_config_file(self, path: str, final: bool = True) -> None:
        config: dict[str, Any] = {"__file__": os.path.abspath(path)}
        with open(path, "rb") as f:
            exec(compile(f.read(), path, "exec"), config, config)
        for name in config:
            normalized = _normalize(name)
            if normalized in self._options:
                opt = self._options[normalized]
                if opt.multiple and not isinstance(config[name], (list, str)):
                    raise Error("Option %r is required to be a list of %s or a comma-separated string" % (name, opt.type.__name__))
                if type(config[name]) is str and (opt.type is not str or opt.multiple):
                    opt.parse(config[name])
                else:
                    opt.set(config[name])
        if final:
            self.run_parse_callbacks()

    def print_help(self, file: Any = None) -> None:
        if file is None:
            file = sys.stderr
        print("Usage: %s [OPTIONS]" % sys.argv[0], file=file)
        print("\nOptions:\n", file=file)
        by_group: dict[str, list[_Option]] = {}
        for opt in self._options.values():
            by_group.setdefault(opt.group_name or "", []).append(opt)
        for group, opts in sorted(by_group.items()):
            if group:
                print("\n%s options:\n" % os.path.normpath(group), file=file)
            for opt in sorted(opts, key=lambda o: o.name):
                prefix = opt.name
                if opt.metavar:
                    prefix += "=" + opt.metavar
                description = opt.help or ""
                if opt.default is not None and opt.default != "":
                    description += " (default %s)" % opt.default
                lines = textwrap.wrap(description, 73 - 35) or [""]
                if len(prefix) > 30:
                    lines.insert(0, "")
                print("  --%-30s %s" % (prefix, lines[0]), file=file)
                for line in lines[1:]:
                    print("%-34s %s" % (" ", line), file=file)
        print(file=file)

    def _help_callback(self, value: bool) -> None:
        if value:
            self.print_help()
            sys.exit(0)

    def add_parse_callback(self, callback: Callable[[], None]) -> None:
        self._parse_callbacks.append(callback)

    def run_parse_callbacks(self) -> None:
        for callback in self._parse_callbacks:
            callback()


options = OptionParser()
"""The global options: ``define`` adds to it, ``parse_command_line`` fills it."""


def define(name: str, default: Any = None, type: Optional[type] = None, help: Optional[str] = None,
           metavar: Optional[str] = None, multiple: bool = False, group: Optional[str] = None,
           callback: Optional[Callable[[Any], None]] = None) -> None:
    options.define(name, default=default, type=type, help=help, metavar=metavar, multiple=multiple,
                   group=group, callback=callback)


def parse_command_line(args: Optional[list[str]] = None, final: bool = True) -> list[str]:
    return options.parse_command_line(args, final=final)


def parse_config_file(path: str, final: bool = True) -> None:
    options.parse_config_file(path, final=final)


def print_help(file: Any = None) -> None:
    options.print_help(file)


def add_parse_callback(callback: Callable[[], None]) -> None:
    options.add_parse_callback(callback)


define("logging", default="info", help="Set the Python log level ('debug', 'info', 'warning', 'error', 'none')",
       metavar="debug|info|warning|error|none", group="logging")


def _setup_logging() -> None:
    from .log import enable_pretty_logging
    enable_pretty_logging(options)


options.add_parse_callback(_setup_logging)
