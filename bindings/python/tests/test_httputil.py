"""squall.httputil: headers, form bodies (incl. a fuzz loop over malformed
multipart bodies), cookies, helpers, and parity with tornado.httputil."""
from __future__ import annotations

import copy
import datetime
import logging
import random

import pytest

from squall import httputil
from squall.httputil import HTTPFile, HTTPHeaders, HTTPInputError, parse_body_arguments, parse_cookie, parse_header


def multipart(boundary: str, parts: list[tuple[str, bytes]]) -> bytes:
    out = b""
    for headers, body in parts:
        out += b"--" + boundary.encode() + b"\r\n" + headers.encode() + b"\r\n\r\n" + body + b"\r\n"
    return out + b"--" + boundary.encode() + b"--\r\n"


SAMPLE = multipart("1234", [
    ('Content-Disposition: form-data; name="title"', b"hello"),
    ('Content-Disposition: form-data; name="title"', b"again\r\nwith CRLF"),
    ('Content-Disposition: form-data; name="files"; filename="a.txt"', b"file A"),
    ('Content-Disposition: form-data; name="files"; filename="b.png"\r\nContent-Type: image/png', b"\x89PNG\x00"),
    ('Content-Disposition: form-data; name="q\\"uoted"; filename="C:\\\\dir\\\\f.txt"', b""),
    ("Content-Disposition: form-data; name=\"utf\"; filename*=UTF-8''%e2%82%ac%20rates.txt", b"euro"),
    ('Content-Disposition: form-data; name=empty', b""),
])


def parse(ctype, body, headers=None):
    args, files = {}, {}
    parse_body_arguments(ctype, body, args, files, headers)
    return args, files


# --- headers -----------------------------------------------------------------


def test_headers_multidict():
    h = HTTPHeaders()
    h.add("content-type", "text/html")
    h.add("Set-Cookie", "a=1")
    h.add("SET-COOKIE", "b=2")
    assert h["Content-Type"] == "text/html" and h["CONTENT-TYPE"] == "text/html"
    assert h["set-cookie"] == "a=1,b=2"
    assert h.get_list("set-cookie") == ["a=1", "b=2"]
    assert h.get_list("missing") == []
    assert list(h.get_all()) == [("Content-Type", "text/html"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]
    assert sorted(h) == ["Content-Type", "Set-Cookie"] and len(h) == 2
    assert "set-cookie" in h and "x" not in h
    assert str(h) == "Content-Type: text/html\nSet-Cookie: a=1\nSet-Cookie: b=2\n"
    c = h.copy()
    c.add("Set-Cookie", "c=3")
    assert h.get_list("Set-Cookie") == ["a=1", "b=2"] and len(c.get_list("Set-Cookie")) == 3
    assert copy.copy(h).get_list("set-cookie") == ["a=1", "b=2"]
    h["Set-Cookie"] = "only"
    assert h.get_list("set-cookie") == ["only"]
    del h["content-type"]
    assert "Content-Type" not in h and h.get("content-type") is None
    assert HTTPHeaders({"x-a": "1"}, y_b="2")["X-A"] == "1"
    assert HTTPHeaders(c).get_list("set-cookie") == ["a=1", "b=2", "c=3"]
    assert HTTPHeaders({"X-A": "1"}) == {"X-A": "1"}


def test_headers_parse():
    h = HTTPHeaders.parse("Content-Type: text/plain\r\nX-Multi: 1\r\nx-multi:  2 \r\n\r\n")
    assert h["Content-Type"] == "text/plain" and h.get_list("X-Multi") == ["1", "2"]
    assert HTTPHeaders.parse("a:1\nb: 2\n")["B"] == "2"
    for bad in ["nocolon", " folded: x", "a: 1\rb: 2", "bad name: 1", "x: a\x00b", ": empty"]:
        with pytest.raises(HTTPInputError):
            HTTPHeaders.parse(bad)


# --- urlencoded ----------------------------------------------------------------


def test_urlencoded():
    args, files = parse("application/x-www-form-urlencoded; charset=utf-8", b"a=1&b=&a=%C3%A9&c+d=x+y&noval")
    assert args == {"a": [b"1", b"\xc3\xa9"], "b": [b""], "c d": [b"x y"], "noval": [b""]}
    assert files == {}
    args = {"a": [b"0"]}
    parse_body_arguments("application/x-www-form-urlencoded", b"a=1", args, {})
    assert args == {"a": [b"0", b"1"]}
    assert parse("text/plain", b"a=1") == ({}, {})


def test_content_encoding_is_refused(caplog):
    with caplog.at_level(logging.WARNING, logger="squall.general"):
        assert parse("application/x-www-form-urlencoded", b"a=1", {"Content-Encoding": "gzip"}) == ({}, {})
    assert "Content-Encoding" in caplog.text


# --- multipart -------------------------------------------------------------------


def test_multipart():
    args, files = parse('multipart/form-data; boundary="1234"', SAMPLE)
    assert args == {"title": [b"hello", b"again\r\nwith CRLF"], "empty": [b""]}
    assert [f.filename for f in files["files"]] == ["a.txt", "b.png"]
    a, b = files["files"]
    assert isinstance(a, HTTPFile) and a.body == b"file A" and a.content_type == "application/unknown"
    assert b["body"] == b"\x89PNG\x00" and b.content_type == "image/png"
    assert files['q"uoted'][0].filename == "C:\\dir\\f.txt" and files['q"uoted'][0].body == b""
    assert files["utf"][0].filename == "\u20ac rates.txt"
    # unquoted boundary, direct call
    args2, files2 = {}, {}
    httputil.parse_multipart_form_data(b"1234", SAMPLE, args2, files2)
    assert args2 == args and files2 == files


def test_multipart_preamble_epilogue_and_padding():
    body = b"preamble\r\n--b \r\nContent-Disposition: form-data; name=x\r\n\r\nv\r\n--b--\r\nepilogue"
    assert parse("multipart/form-data; boundary=b", body) == ({"x": [b"v"]}, {})
    # a part body that merely contains the boundary text mid-line is kept
    body = multipart("b", [("Content-Disposition: form-data; name=x", b"a--b c")])
    assert parse("multipart/form-data; boundary=b", body)[0] == {"x": [b"a--b c"]}


@pytest.mark.parametrize("ctype,body,warning", [
    ("multipart/form-data", SAMPLE, "no boundary"),
    ("multipart/form-data; boundary=1234", SAMPLE[:-10], "no final boundary"),
    ("multipart/form-data; boundary=x", b"--x\r\nno headers end\r\n--x--", "missing headers"),
    ("multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: attachment; name=a\r\n\r\nv\r\n--x--", "not form-data"),
    ("multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-data\r\n\r\nv\r\n--x--", "missing name"),
    ("multipart/form-data; boundary=x", b"--x\r\n folded: h\r\n\r\nv\r\n--x--", "part headers"),
])
def test_multipart_malformed_logs(caplog, ctype, body, warning):
    with caplog.at_level(logging.WARNING, logger="squall.general"):
        args, files = parse(ctype, body)
    assert args == {} and files == {}
    assert warning in caplog.text
    assert all(r.name == "squall.general" for r in caplog.records)


def test_multipart_fuzz_never_raises():
    rng = random.Random(1234)
    boundaries = ["1234", "----WebKitFormBoundary7MA4YWxkTrZu0gW", "x"]
    alphabet = [b"\r\n", b"--", b"\r", b"\n", b"-", b";", b'"', b"=", b":", b" ", b"\x00", b"\xff",
                b"name", b"filename", b"form-data", b"Content-Disposition", b"Content-Type",
                b"filename*=", b"UTF-8''%e2", b"%"]
    count = 0
    for _ in range(1500):
        boundary = rng.choice(boundaries)
        base = SAMPLE.replace(b"1234", boundary.encode())
        mode = rng.randrange(4)
        if mode == 0:
            body = base[:rng.randrange(len(base) + 1)]
        elif mode == 1:
            body = bytearray(base)
            for _ in range(rng.randrange(1, 8)):
                body[rng.randrange(len(body))] = rng.randrange(256)
            body = bytes(body)
        elif mode == 2:
            pieces = [rng.choice(alphabet + [b"--" + boundary.encode()]) for _ in range(rng.randrange(60))]
            body = b"".join(pieces)
        else:
            cut = rng.randrange(len(base))
            body = base[:cut] + bytes(rng.randrange(256) for _ in range(rng.randrange(20))) + base[cut:]
        ctype = rng.choice([f"multipart/form-data; boundary={boundary}",
                            f'multipart/form-data; boundary="{boundary}"',
                            "multipart/form-data; boundary=", "multipart/form-data; boundary=\"",
                            "application/x-www-form-urlencoded"])
        args, files = parse(ctype, body)
        for name, values in args.items():
            assert isinstance(name, str) and all(isinstance(v, bytes) for v in values)
        for name, fl in files.items():
            assert all(isinstance(f.body, bytes) and isinstance(f.filename, str) for f in fl)
        count += 1
    assert count == 1500


# --- header parameters, cookies, helpers --------------------------------------------


def test_parse_header():
    assert parse_header("text/html; charset=UTF-8") == ("text/html", {"charset": "UTF-8"})
    assert parse_header('form-data; name="a;b"; filename="x.txt"') == ("form-data", {"name": "a;b", "filename": "x.txt"})
    assert parse_header("form-data; NAME=x") == ("form-data", {"name": "x"})
    assert parse_header("attachment; filename*0*=UTF-8''%e2%82; filename*1*=%ac; filename*2=.txt") == \
        ("attachment", {"filename": "\u20ac.txt"})
    assert parse_header("attachment; filename*=iso-8859-1'en'%E9t%E9.txt") == ("attachment", {"filename": "\u00e9t\u00e9.txt"})
    assert parse_header("") == ("", {})


def test_parse_cookie():
    assert parse_cookie("a=1; b=2") == {"a": "1", "b": "2"}
    assert parse_cookie('a="quoted \\"x\\" \\073"; b=c=d; lone; ; =') == {"a": 'quoted "x" ;', "b": "c=d", "": "lone"}
    assert parse_cookie("") == {}


def test_helpers():
    assert httputil.url_concat("http://x/p?a=1#f", {"b": "2"}) == "http://x/p?a=1&b=2#f"
    assert httputil.url_concat("http://x/p?", [("a", "1"), ("a", "2")]) == "http://x/p?a=1&a=2"
    assert httputil.url_concat("http://x/p", None) == "http://x/p"
    with pytest.raises(TypeError):
        httputil.url_concat("http://x/", "a=1")  # type: ignore[arg-type]
    assert httputil.format_timestamp(0) == "Thu, 01 Jan 1970 00:00:00 GMT"
    assert httputil.format_timestamp(datetime.datetime(2020, 2, 3, 4, 5, 6)) == "Mon, 03 Feb 2020 04:05:06 GMT"
    aware = datetime.datetime(2020, 2, 3, 5, 5, 6, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))
    assert httputil.format_timestamp(aware) == "Mon, 03 Feb 2020 04:05:06 GMT"
    assert httputil.format_timestamp((2020, 2, 3, 4, 5, 6, 0, 0, 0)) == "Mon, 03 Feb 2020 04:05:06 GMT"
    assert httputil.split_host_and_port("example.com:8080") == ("example.com", 8080)
    assert httputil.split_host_and_port("[::1]:80") == ("[::1]", 80)
    assert httputil.split_host_and_port("example.com") == ("example.com", None)
    assert list(httputil.qs_to_qsl({"a": [1, 2], "b": [3]})) == [("a", 1), ("a", 2), ("b", 3)]
    assert httputil.responses[404] == "Not Found"
    o = httputil.ObjectDict(a=1)
    o.b = 2
    assert o == {"a": 1, "b": 2} and o.a == 1
    with pytest.raises(AttributeError):
        _ = o.missing


# --- parity with Tornado ------------------------------------------------------------


def test_same_as_tornado():
    th = pytest.importorskip("tornado.httputil")
    for ctype, body in [
        ('multipart/form-data; boundary="1234"', SAMPLE),
        ("multipart/form-data; boundary=1234", SAMPLE),
        ("application/x-www-form-urlencoded", b"a=1&b=&a=%C3%A9&c+d=x+y&caf\xc3\xa9=1"),
    ]:
        ours = parse(ctype, body)
        targs, tfiles = {}, {}
        th.parse_body_arguments(ctype, body, targs, tfiles)
        assert ours[0] == targs
        assert {k: [dict(f) for f in v] for k, v in ours[1].items()} == {k: [dict(f) for f in v] for k, v in tfiles.items()}
    for cookie in ["a=1; b=2", 'a="quoted \\"x\\" \\073"; b=c=d; lone; ; =', "x", "  a = b ; ;c="]:
        assert parse_cookie(cookie) == th.parse_cookie(cookie)
    for line in ['form-data; name="a\\"b"; filename*=UTF-8\'\'%e2%82%ac.txt', "text/html; charset=UTF-8",
                 'form-data; name="a;b"; filename="x.txt"', 'form-data; name="C:\\\\d\\\\f"']:
        assert parse_header(line) == th._parse_header(line)
    text = "Content-Type: text/plain\r\nX-Multi: 1\r\nx-multi:  2 \r\n"
    assert sorted(HTTPHeaders.parse(text).get_all()) == sorted(th.HTTPHeaders.parse(text).get_all())
    assert dict(HTTPHeaders.parse(text)) == dict(th.HTTPHeaders.parse(text))
    for netloc in ["a:1", "[::1]:443", "host", "a:b"]:
        assert httputil.split_host_and_port(netloc) == th.split_host_and_port(netloc)
    for ts in [0, 1700000000.5, datetime.datetime(2020, 2, 3, 4, 5, 6)]:
        assert httputil.format_timestamp(ts) == th.format_timestamp(ts)


def test_module_attributes():
    assert "HTTPServerRequest" in httputil.__all__
    with pytest.raises(AttributeError):
        _ = httputil.NoSuchThing
