"""The pure-Python modules: options, escape, httputil, signed values,
compared with Tornado's where Tornado is importable."""
import datetime
import random

import pytest

from squall import _signing, escape, httputil
from squall.options import Error, OptionParser


def test_options_parse_types_and_errors(tmp_path):
    p = OptionParser()
    p.define("port", default=8888, type=int, help="port")
    p.define("debug", default=False)
    p.define("ratio", type=float)
    p.define("names", type=str, multiple=True)
    p.define("ids", type=int, multiple=True)
    p.define("wait", type=datetime.timedelta)
    p.define("when", type=datetime.datetime)
    p.define("log_file_prefix", type=str, group="logs")
    rest = p.parse_command_line(["prog", "--port=9000", "--debug", "--ratio=0.5", "--names=a,b", "--ids=1:3,7",
                                 "--wait=1h 30m", "--when=2024-05-06 07:08", "--log-file-prefix=x", "file1", "--port=1"])
    assert rest == ["file1", "--port=1"]
    assert (p.port, p.debug, p.ratio, p.names, p.ids) == (9000, True, 0.5, ["a", "b"], [1, 2, 3, 7])
    assert p.wait == datetime.timedelta(hours=1, minutes=30)
    assert p.when == datetime.datetime(2024, 5, 6, 7, 8)
    assert p.log_file_prefix == "x" and p["log-file-prefix"] == "x" and "log_file_prefix" in p
    assert p.group_dict("logs") == {"log_file_prefix": "x"}
    assert p.as_dict()["port"] == 9000
    with pytest.raises(Error):
        p.parse_command_line(["prog", "--port=abc"])
    with pytest.raises(Error):
        p.parse_command_line(["prog", "--nope=1"])
    with pytest.raises(Error):
        p.define("port")
    with pytest.raises(Error):
        p.port = "string"
    cfg = tmp_path / "cfg.py"
    cfg.write_text("port = 7000\nnames = 'x,y'\n")
    p.parse_config_file(str(cfg))
    assert p.port == 7000 and p.names == ["x", "y"]
    seen = []
    p.add_parse_callback(lambda: seen.append(1))
    p.parse_command_line(["prog"])
    assert seen == [1]


def test_escape_matches_tornado():
    te = pytest.importorskip("tornado.escape")
    for s in ["<a href='x'>&\"</a>", "plain", "é ü"]:
        assert escape.xhtml_escape(s) == te.xhtml_escape(s)
        assert escape.xhtml_unescape(escape.xhtml_escape(s)) == s
        assert escape.url_escape(s) == te.url_escape(s)
        assert escape.url_escape(s, plus=False) == te.url_escape(s, plus=False)
        assert escape.url_unescape(escape.url_escape(s)) == s
    assert escape.json_encode({"a": "</script>"}) == te.json_encode({"a": "</script>"})
    assert escape.squeeze("a  \n b") == "a b"
    assert escape.recursive_unicode({b"k": [b"v"]}) == {"k": ["v"]}


def test_headers_and_cookies():
    with pytest.raises(httputil.HTTPInputError):  # obsolete line folding is refused, as Tornado 6.6 does
        httputil.HTTPHeaders.parse("X-Long: one\r\n two\r\n")
    h = httputil.HTTPHeaders.parse("Content-Type: text/html\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nX-Long: one two\r\n")
    assert h["content-type"] == "text/html" and h.get_list("SET-COOKIE") == ["a=1", "b=2"]
    assert h["Set-Cookie"] == "a=1,b=2" and h["X-Long"] == "one two"
    assert sorted(h.get_all()) == [("Content-Type", "text/html"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"),
                                   ("X-Long", "one two")]
    assert httputil.parse_cookie('a=1; b="q\\"x"; c') == {"a": "1", "b": 'q"x', "": "c"}
    assert httputil.url_concat("http://x/p?a=1", {"b": "2"}) == "http://x/p?a=1&b=2"
    assert httputil.format_timestamp(0) == "Thu, 01 Jan 1970 00:00:00 GMT"


def test_multipart_rfc2231_and_garbage_is_parsed_or_refused():
    body = (b"--b\r\nContent-Disposition: form-data; name=\"f\"; filename*=UTF-8''caf%C3%A9.txt\r\n\r\n"
            b"data\r\n--b--\r\n")
    args, files = {}, {}
    httputil.parse_body_arguments("multipart/form-data; boundary=\"b\"", body, args, files)
    assert files["f"][0].filename == "café.txt" and files["f"][0].body == b"data"
    assert files["f"][0].content_type == "application/unknown"
    rnd = random.Random(7)
    for _ in range(2000):
        n = rnd.randrange(len(body) + 1)
        junk = bytearray(body[:n])
        for _ in range(rnd.randrange(4)):
            if junk:
                junk[rnd.randrange(len(junk))] = rnd.randrange(256)
        args, files = {}, {}
        try:
            httputil.parse_body_arguments("multipart/form-data; boundary=b", bytes(junk), args, files)
        except httputil.HTTPInputError:  # the only way a malformed body is refused
            assert args == {} and files == {}


def test_signed_values_interoperate_with_tornado():
    tw = pytest.importorskip("tornado.web")
    now = 1_700_000_000
    clock = lambda: now  # noqa: E731
    ours = _signing.create_signed_value("k", "name", "value", clock=clock)
    assert tw.decode_signed_value("k", "name", ours, clock=clock) == b"value"
    theirs = tw.create_signed_value("k", "name", "v2", clock=clock)
    assert _signing.decode_signed_value("k", "name", theirs, clock=clock) == b"v2"
    assert _signing.decode_signed_value("k", "other", theirs, clock=clock) is None
    assert _signing.decode_signed_value("wrong", "name", theirs, clock=clock) is None
    assert _signing.decode_signed_value("k", "name", theirs, clock=lambda: now + 40 * 86400) is None
    tampered = ours[:-1] + (b"0" if ours[-1:] != b"0" else b"1")
    assert _signing.decode_signed_value("k", "name", tampered, clock=clock) is None
    keys = {0: "old", 1: "new"}
    kv = _signing.create_signed_value(keys, "n", "x", key_version=1, clock=clock)
    assert tw.decode_signed_value(keys, "n", kv, clock=clock) == b"x"
    assert _signing.decode_signed_value(keys, "n", kv, clock=clock) == b"x"
