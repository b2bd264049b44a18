"""squall.options: parsing rules, types, errors, and parity with tornado.options."""
from __future__ import annotations

import datetime
import io
import logging
import re
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from squall.options import Error, OptionParser

PKG = Path(__file__).resolve().parents[1]


def make(parser_cls=OptionParser):
    o = parser_cls()
    o.define("port", default=80, help="the port", group="net")
    o.define("host", default="localhost", group="net")
    o.define("ratio", default=0.5)
    o.define("debug", default=False)
    o.define("ids", type=int, multiple=True)
    o.define("names", type=str, multiple=True)
    o.define("wait", type=datetime.timedelta)
    o.define("when", type=datetime.datetime)
    o.define("max_size", type=int, metavar="BYTES")
    return o


def test_defaults_and_access():
    o = make()
    assert o.port == 80 and o["port"] == 80
    assert o.host == "localhost" and o.ratio == 0.5 and o.debug is False
    assert o.ids == [] and o.wait is None and o.max_size is None
    assert "max_size" in o and "max-size" in o and "nope" not in o
    assert o.max_size is getattr(o, "max-size")
    assert set(o) >= {"port", "host", "help", "max_size"}
    assert o.as_dict()["port"] == 80
    assert dict(o.items())["host"] == "localhost"
    assert o.groups() >= {"net", ""}
    assert o.group_dict("net") == {"port": 80, "host": "localhost"}
    assert "ratio" in o.group_dict("")
    o.port = 81
    assert o.port == 81
    o["port"] = 82
    assert o.port == 82
    with pytest.raises(AttributeError):
        _ = o.nope
    with pytest.raises(AttributeError):
        o.nope = 1
    with pytest.raises(KeyError):
        _ = o["nope"]


def test_command_line():
    o = make()
    rest = o.parse_command_line([
        "prog", "--port=8000", "--debug", "--ids=1:3,7", "--names=a,b", "--wait=1h 30m",
        "--when=2024-01-02 03:04:05", "--max-size=10", "-ratio=0.25", "file.txt", "--port=1",
    ])
    assert rest == ["file.txt", "--port=1"]
    assert o.port == 8000 and o.debug is True and o.ratio == 0.25
    assert o.ids == [1, 2, 3, 7] and o.names == ["a", "b"]
    assert o.wait == datetime.timedelta(hours=1, minutes=30)
    assert o.when == datetime.datetime(2024, 1, 2, 3, 4, 5)
    assert o.max_size == 10
    assert o.parse_command_line(["prog", "--debug=false", "--", "--port=2"]) == ["--port=2"]
    assert o.debug is False and o.port == 8000
    assert o.parse_command_line(["prog", "--debug=0"]) == [] and o.debug is False
    assert o.parse_command_line(["prog", "--debug=yes"]) == [] and o.debug is True


@pytest.mark.parametrize("text,expected", [
    ("1h 30m", datetime.timedelta(hours=1, minutes=30)),
    ("90s", datetime.timedelta(seconds=90)),
    ("45", datetime.timedelta(seconds=45)),
    ("2d,3h", datetime.timedelta(days=2, hours=3)),
    ("1.5 minutes", datetime.timedelta(seconds=90)),
    ("100ms", datetime.timedelta(milliseconds=100)),
    ("1w", datetime.timedelta(weeks=1)),
])
def test_timedelta(text, expected):
    o = make()
    o.parse_command_line(["p", f"--wait={text}"])
    assert o.wait == expected


def test_errors():
    o = make()
    with pytest.raises(Error):
        o.define("port")
    with pytest.raises(Error):
        o.define("max-size")
    with pytest.raises(Error):
        o.parse_command_line(["p", "--port"])
    with pytest.raises(Error):
        o.parse_command_line(["p", "--port=abc"])
    with pytest.raises(Error):
        o.parse_command_line(["p", "--wait=3 parsecs"])
    with pytest.raises(Error):
        o.parse_command_line(["p", "--when=yesterday"])
    with pytest.raises(Error):
        o.parse_command_line(["p", "--ids=1,x"])
    with pytest.raises(Error):
        o.port = "80"
    with pytest.raises(Error):
        o.ids = 3
    err = io.StringIO()
    sys_stderr, sys.stderr = sys.stderr, err
    try:
        with pytest.raises(Error):
            o.parse_command_line(["p", "--unknown=1"])
    finally:
        sys.stderr = sys_stderr
    assert "--port" in err.getvalue()


def test_callbacks():
    o = make()
    seen = []
    o.define("level", default="a", callback=lambda v: seen.append(("cb", v)))
    o.add_parse_callback(lambda: seen.append(("parsed", o.level)))
    o.parse_command_line(["p", "--level=b"], final=False)
    assert seen == [("cb", "b")]
    o.parse_command_line(["p"])
    assert seen == [("cb", "b"), ("parsed", "b")]
    o.level = "c"
    assert seen[-1] == ("cb", "c")
    o.run_parse_callbacks()
    assert seen[-1] == ("parsed", "c")


def test_config_file(tmp_path):
    cfg = tmp_path / "app.conf"
    cfg.write_text(textwrap.dedent("""
        port = 9000
        host = "example.org"
        ids = "4:6"
        names = ["x", "y"]
        wait = "2m"
        unrelated = object()
        max_size = 5 * 1024
    """))
    o = make()
    done = []
    o.add_parse_callback(lambda: done.append(1))
    o.parse_config_file(str(cfg))
    assert (o.port, o.host, o.ids, o.names) == (9000, "example.org", [4, 5, 6], ["x", "y"])
    assert o.wait == datetime.timedelta(minutes=2) and o.max_size == 5120
    assert done == [1]
    bad = tmp_path / "bad.conf"
    bad.write_text("ids = 3\n")
    with pytest.raises(Error):
        o.parse_config_file(str(bad))


def test_print_help():
    o = make()
    out = io.StringIO()
    o.print_help(out)
    text = out.getvalue()
    assert text.startswith("Usage: ")
    assert "--port" in text and "the port (default 80)" in text
    assert "--max-size=BYTES" in text
    assert "net options:" in text


def run_child(code: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(PKG))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], env=env,
                          capture_output=True, text=True, timeout=20)


def test_help_exits_and_logging_is_configured():
    code = """
        import logging, sys
        from squall.options import define, options, parse_command_line
        define("port", default=1, help="port to use")
        rest = parse_command_line()
        print("rest", rest, options.port, options.logging)
        print("level", logging.getLogger().level, len(logging.getLogger().handlers))
        logging.getLogger("squall.general").warning("hello from squall")
    """
    r = run_child(code, "--help")
    assert r.returncode == 0
    assert "--port" in r.stderr and "port to use" in r.stderr and "--logging" in r.stderr
    assert "rest" not in r.stdout
    r = run_child(code, "--port=5", "--logging=warning", "x")
    assert r.returncode == 0, r.stderr
    assert "rest ['x'] 5 warning" in r.stdout
    assert f"level {30} 1" in r.stdout
    assert "[W " in r.stderr and "hello from squall" in r.stderr
    r = run_child(code, "--logging=none")
    assert r.returncode == 0, r.stderr
    assert f"level {30} 0" in r.stdout  # root logger untouched


def test_same_as_tornado():
    topt = pytest.importorskip("tornado.options")
    argv = ["prog", "--port=8000", "--debug", "--ids=1:3,7", "--names=a,b", "--wait=1h 30m",
            "--when=2024-01-02 03:04", "--max_size=10", "rest", "--x"]
    ours, theirs = make(), make(topt.OptionParser)
    assert ours.parse_command_line(argv) == theirs.parse_command_line(argv)
    assert ours.as_dict() == theirs.as_dict()
    assert sorted(ours) == sorted(theirs)
    assert ours.group_dict("net") == theirs.group_dict("net")
    for text in ["1h 30m", "90s", "2d 3h", "1.5 minutes", "100ms", "1w", "45"]:
        a, b = make(), make(topt.OptionParser)
        a.parse_command_line(["p", f"--wait={text}"])
        b.parse_command_line(["p", f"--wait={text}"])
        assert a.wait == b.wait, text


# --- squall.log (configured by the logging option) ---------------------------


def _record(msg="hello %s", args=("world",), level=20, exc_info=None):
    return logging.LogRecord("squall.general", level, "/x/mod.py", 42, msg, args, exc_info)


def test_log_formatter():
    from squall.log import LogFormatter, access_log, app_log, gen_log
    assert (access_log.name, app_log.name, gen_log.name) == ("squall.access", "squall.application", "squall.general")
    text = LogFormatter(stream=io.StringIO()).format(_record())
    assert re.match(r"^\[I \d{6} \d\d:\d\d:\d\d mod:42\] hello world$", text)
    assert "\033" not in text  # not a terminal: no colour

    class Tty(io.StringIO):
        def isatty(self):
            return True

    coloured = LogFormatter(stream=Tty()).format(_record(level=40))
    assert coloured.startswith("\033[2;31m[E ") and "\033[0m hello world" in coloured
    assert "\033" not in LogFormatter(color=False, stream=Tty()).format(_record())
    try:
        raise ValueError("boom")
    except ValueError:
        rec = _record(level=40, exc_info=sys.exc_info())
    out = LogFormatter(stream=io.StringIO()).format(rec)
    assert out.splitlines()[0].endswith("hello world")
    assert "\n    Traceback" in out and "ValueError: boom" in out
    assert "Bad message" in LogFormatter(stream=io.StringIO()).format(_record("%d", ("x",)))


def test_enable_pretty_logging_on_a_logger(tmp_path):
    from squall.log import LogFormatter, enable_pretty_logging
    o = OptionParser()
    o.define("logging", default="debug")
    o.define("log_to_stderr", type=bool, default=None)
    o.define("log_file_prefix", type=str, default=str(tmp_path / "app.log"))
    logger = logging.getLogger("squall.test.pretty")
    logger.propagate = False
    try:
        enable_pretty_logging(o, logger)
        assert logger.level == logging.DEBUG
        assert len(logger.handlers) == 1 and isinstance(logger.handlers[0].formatter, LogFormatter)
        logger.debug("to the file")
        logger.handlers[0].flush()
        assert re.search(r"\[D \d{6} [\d:]{8} test_options:\d+\] to the file", (tmp_path / "app.log").read_text())
    finally:
        for h in list(logger.handlers):
            logger.removeHandler(h)
            h.close()
    o.logging = "none"
    enable_pretty_logging(o, logger)
    assert logger.handlers == []


def test_log_format_same_as_tornado():
    tlog = pytest.importorskip("tornado.log")
    from squall.log import LogFormatter
    rec = _record()
    rec.created = 1_700_000_000.0
    assert LogFormatter(color=False).format(rec) == tlog.LogFormatter(color=False).format(_copy_record(rec))


def _copy_record(rec):
    new = _record()
    new.created = rec.created
    return new
