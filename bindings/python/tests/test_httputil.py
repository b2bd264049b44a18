"""squall.httputil: headers, form bodies (incl. a fuzz loop over malformed
multipart bodies), cookies, helpers, and parity with tornado.httputil."""
from __future__ import annotations

import copy
import datetime
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


@pytest.mark.parametrize("text,expected", [
    # accepted: CRLF or LF line ends, blank lines skipped, OWS around the value dropped,
    # an empty value, obs-text (latin-1 octets), inner SP/HTAB
    ("A: 1\r\n\r\nB: 2", [("A", "1"), ("B", "2")]),
    ("A:1\nB:\t2 \t\n", [("A", "1"), ("B", "2")]),
    ("A:\r\n", [("A", "")]),
    ("A: caf\xe9\r\n", [("A", "caf\xe9")]),
    ("A: x \t y\r\n", [("A", "x \t y")]),
    ("!#$%&'*+-.^_`|~09az: v", [("!#$%&'*+-.^_`|~09az", "v")]),
])
def test_headers_parse_accepts(text, expected):
    assert list(HTTPHeaders.parse(text).get_all()) == expected


@pytest.mark.parametrize("text", [
    "A: 1\rB: 2\r\n",          # bare CR inside a line (RFC 9112 2.2)
    "A: 1\r",                    # a CR that does not end a CRLF
    "A: 1\r\r\n",
    "A: a\x00b\r\n",           # NUL
    "A: a\x01b\r\n",           # other controls
    "A: a\x7fb\r\n",           # DEL
    "A: \u20ac\r\n",           # not an octet: header text is latin-1
    "A: 1\r\n folded\r\n",    # obs-fold (RFC 9112 5.2)
    "A: 1\r\n\tfolded\r\n",
    " A: 1\r\n",
    "A 1\r\n",                  # no colon
    "A : 1\r\n",                # whitespace before the colon (RFC 9112 5.1)
    ": 1\r\n",                  # empty name
    "A(b): 1\r\n",              # not a token
    "\xe9: 1\r\n",
])
def test_headers_parse_refuses(text):
    with pytest.raises(HTTPInputError):
        HTTPHeaders.parse(text)


def test_headers_add_checks_but_setitem_does_not():
    h = HTTPHeaders()
    with pytest.raises(HTTPInputError):
        h.add("Bad Name", "x")
    with pytest.raises(HTTPInputError):
        h.add("X", "a\r\nInjected: 1")
    assert "X" not in h and len(h) == 0
    h.parse_line("X: 1\r\n")
    h.parse_line("")
    assert h.get_list("x") == ["1"]


# --- urlencoded ----------------------------------------------------------------


def test_urlencoded():
    args, files = parse("application/x-www-form-urlencoded; charset=utf-8", b"a=1&b=&a=%C3%A9&c+d=x+y&noval")
    assert args == {"a": [b"1", b"\xc3\xa9"], "b": [b""], "c d": [b"x y"], "noval": [b""]}
    assert files == {}
    args = {"a": [b"0"]}
    parse_body_arguments("application/x-www-form-urlencoded", b"a=1", args, {})
    assert args == {"a": [b"0", b"1"]}
    assert parse("text/plain", b"a=1") == ({}, {})


def test_content_encoding_is_refused():
    for ctype in ["application/x-www-form-urlencoded", "multipart/form-data; boundary=1234"]:
        args = {"keep": [b"1"]}
        with pytest.raises(HTTPInputError, match="Content-Encoding"):
            parse_body_arguments(ctype, SAMPLE, args, {}, {"Content-Encoding": "gzip"})
        assert args == {"keep": [b"1"]}
    # other types are not form bodies: left alone
    assert parse("text/plain", b"x", {"Content-Encoding": "gzip"}) == ({}, {})


def test_urlencoded_escapes_and_invalid_utf8_stay_bytes():
    # a % not followed by two hex digits is kept as it is; escapes decode to octets,
    # invalid UTF-8 included (the web layer refuses it when the argument is read)
    args, _ = parse("application/x-www-form-urlencoded", b"a=%zz&b=%4&c=%&d=%ff%fe&%41%2B=%2b+&e=;f")
    assert args == {"a": [b"%zz"], "b": [b"%4"], "c": [b"%"], "d": [b"\xff\xfe"], "A+": [b"+ "], "e": [b";f"]}
    assert httputil.parse_qs_bytes("a=1&&b", keep_blank_values=False) == {"a": [b"1"]}
    with pytest.raises(ValueError):
        httputil.parse_qs_bytes("a=1&b", strict_parsing=True)


def test_urlencoded_field_limit():
    ok = b"&".join(b"f%d=1" % i for i in range(1000))
    assert len(parse("application/x-www-form-urlencoded", ok)[0]) == 1000
    args = {}
    with pytest.raises(HTTPInputError, match="x-www-form-urlencoded"):
        parse_body_arguments("application/x-www-form-urlencoded", ok + b"&x=1", args, {})
    assert args == {}
    # empty fields count, as they cost a split each
    with pytest.raises(HTTPInputError):
        parse("application/x-www-form-urlencoded", b"&" * 1000)
    cfg = httputil.ParseBodyConfig(urlencoded=httputil.ParseUrlEncodedConfig(max_arguments=2))
    with pytest.raises(HTTPInputError):
        parse_body_arguments("application/x-www-form-urlencoded", b"a=1&b=2&c=3", {}, {}, config=cfg)
    assert len(httputil.parse_query_arguments(b"&".join([b"q=1"] * 1000))["q"]) == 1000
    with pytest.raises(HTTPInputError, match="query string"):
        httputil.parse_query_arguments("q=1" + "&q=1" * 1000)


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


def test_multipart_epilogue_and_boundary_text_in_content():
    body = multipart("b", [("Content-Disposition: form-data; name=x", b"v")]) + b"epilogue - b\r\n junk"
    assert parse("multipart/form-data; boundary=b", body) == ({"x": [b"v"]}, {})
    # a part body that merely contains the boundary text, not as a line of its own, is kept
    body = multipart("b", [("Content-Disposition: form-data; name=x", b"a--b c\n--bc")])
    assert parse("multipart/form-data; boundary=b", body)[0] == {"x": [b"a--b c\n--bc"]}
    # a part may end with its header section: its content is empty (RFC 2046 5.1.1)
    body = b"--b\r\nContent-Disposition: form-data; name=x\r\n\r\n--b--"
    assert parse("multipart/form-data; boundary=b", body)[0] == {"x": [b""]}
    # no parts at all
    assert parse("multipart/form-data; boundary=b", b"--b--") == ({}, {})
    # part headers are UTF-8 text: a non-ASCII filename is fine, so is a tab
    body = multipart("b", [('Content-Disposition:\tform-data; name="f"; filename="\u20ac.txt"', b"e")])
    assert parse("multipart/form-data; boundary=b", body)[1]["f"][0].filename == "\u20ac.txt"
    # the boundary: quoted, RFC 2046 characters, 70 of them
    for boundary in ["a'()+_,-./:=?Z", "with space", "x" * 70]:
        body = multipart(boundary, [("Content-Disposition: form-data; name=x", b"v")])
        assert parse(f'multipart/form-data; boundary="{boundary}"', body)[0] == {"x": [b"v"]}
    # the disposition type and parameter names are case-insensitive (RFC 2183, RFC 2045)
    body = multipart("b", [("content-disposition: Form-Data; NAME=x", b"v")])
    assert parse("multipart/form-data; Boundary=b", body)[0] == {"x": [b"v"]}


def cd(name="x"):
    return f"Content-Disposition: form-data; name={name}"


MALFORMED = [
    # (content type, body, the refusal's message contains)
    ("multipart/form-data", SAMPLE, "no boundary"),
    ("multipart/form-data; boundary=", SAMPLE, "no boundary"),
    ("multipart/form-data; charset=utf-8", SAMPLE, "no boundary"),
    ("multipart/form-dataxyz; boundary=1234", SAMPLE, "content type"),
    ("multipart/form-data; boundary=" + "x" * 71, multipart("x" * 71, [(cd(), b"v")]), "bad boundary"),
    ("multipart/form-data; boundary=\"", b'--"\r\n' + cd().encode() + b'\r\n\r\nv\r\n--"--', "bad boundary"),
    ("multipart/form-data; boundary=\"a b \"", multipart("a b ", [(cd(), b"v")]), "bad boundary"),
    ("multipart/form-data; boundary=a\\b", multipart("a\\b", [(cd(), b"v")]), "bad boundary"),
    ("multipart/form-data; boundary=1234", SAMPLE[:-10], "no final boundary"),
    ("multipart/form-data; boundary=1234", SAMPLE[:-4], "junk after a boundary"),
    ("multipart/form-data; boundary=x", b"--x\r\n" + cd().encode() + b"\r\n\r\nv--x--", "no final boundary"),
    ("multipart/form-data; boundary=x", b"preamble\r\n" + multipart("x", [(cd(), b"v")]), "start with the boundary"),
    ("multipart/form-data; boundary=x", b"--x \r\n" + cd().encode() + b"\r\n\r\nv\r\n--x--", "junk after"),
    ("multipart/form-data; boundary=x", multipart("x", [(cd(), b"v\r\n--xy")]), "junk after"),
    ("multipart/form-data; boundary=x", multipart("x", [(cd(), b"v\n--x\r\nw")]), "boundary inside a part"),
    ("multipart/form-data; boundary=x", multipart("x", [(cd(), b"v\r--x")]), "boundary inside a part"),
    ("multipart/form-data; boundary=x", multipart("x", [(cd(), b"v")]) + b"--x--", "after the close delimiter"),
    ("multipart/form-data; boundary=x", b"--x--x--", "after the close delimiter"),
    ("multipart/form-data; boundary=x", b"--x\r\nno headers end--x--", "no final boundary"),
    ("multipart/form-data; boundary=x", b"--x\r\nno headers end\r\nx\r\n--x--", "missing headers"),
    ("multipart/form-data; boundary=x", b"--x\r\n\r\nv\r\n--x--", "missing headers"),
    ("multipart/form-data; boundary=x", multipart("x", [("Content-Type: text/plain", b"v")]), "Content-Disposition"),
    ("multipart/form-data; boundary=x", multipart("x", [(cd() + "\r\n" + cd("y"), b"v")]), "Content-Disposition"),
    ("multipart/form-data; boundary=x", multipart("x", [("Content-Disposition: attachment; name=a", b"v")]),
     "disposition"),
    ("multipart/form-data; boundary=x", multipart("x", [("Content-Disposition: form-data-x; name=a", b"v")]),
     "disposition"),
    ("multipart/form-data; boundary=x", multipart("x", [("Content-Disposition: form-data", b"v")]), "missing name"),
    ("multipart/form-data; boundary=x", multipart("x", [("Content-Disposition: form-data; name=", b"v")]),
     "missing name"),
    ("multipart/form-data; boundary=x", multipart("x", [(cd() + "\r\n folded: h", b"v")]), "folding"),
    ("multipart/form-data; boundary=x", multipart("x", [(cd() + "\r\nX-A: 1\r2", b"v")]), "header value"),
    ("multipart/form-data; boundary=x", multipart("x", [(cd() + "\r\nX-A: \x00", b"v")]), "header value"),
    ("multipart/form-data; boundary=x", multipart("x", [(cd() + "\r\nno colon", b"v")]), "colon"),
    ("multipart/form-data; boundary=x",
     b"--x\r\n" + cd().encode() + b"; filename=\xff\r\n\r\nv\r\n--x--", "not UTF-8"),
]


@pytest.mark.parametrize("ctype,body,message", MALFORMED)
def test_multipart_malformed_is_refused_whole(ctype, body, message):
    # a well-formed part before the bad one: nothing of it is handed over
    args, files = {"keep": [b"1"]}, {}
    with pytest.raises(HTTPInputError, match=message):
        parse_body_arguments(ctype, body, args, files)
    assert args == {"keep": [b"1"]} and files == {}


def test_multipart_limits():
    def parts(n):
        return multipart("b", [(cd(f"f{i}"), b"v") for i in range(n)])
    assert len(parse("multipart/form-data; boundary=b", parts(100))[0]) == 100
    args = {}
    with pytest.raises(HTTPInputError, match="too many parts"):
        parse_body_arguments("multipart/form-data; boundary=b", parts(101), args, {})
    assert args == {}
    big = cd() + "\r\nX-Pad: " + "p" * (10 * 1024 - len(cd()) - 9)
    assert len(big) == 10 * 1024
    assert parse("multipart/form-data; boundary=b", multipart("b", [(big, b"v")]))[0] == {"x": [b"v"]}
    with pytest.raises(HTTPInputError, match="header too large"):
        parse("multipart/form-data; boundary=b", multipart("b", [(big + "p", b"v")]))
    small = httputil.ParseBodyConfig(multipart=httputil.ParseMultipartConfig(max_parts=2, max_part_header_size=64))
    with pytest.raises(HTTPInputError, match="too many parts"):
        parse_body_arguments("multipart/form-data; boundary=b", parts(3), {}, {}, config=small)
    with pytest.raises(HTTPInputError, match="header too large"):
        parse_body_arguments("multipart/form-data; boundary=b", multipart("b", [(cd("n" * 64), b"")]), {}, {},
                             config=small)
    off = httputil.ParseBodyConfig(multipart=httputil.ParseMultipartConfig(enabled=False))
    with pytest.raises(HTTPInputError, match="disabled"):
        parse_body_arguments("multipart/form-data; boundary=b", parts(1), {}, {}, config=off)
    httputil.set_parse_body_config(off)
    try:
        with pytest.raises(HTTPInputError, match="disabled"):
            parse("multipart/form-data; boundary=b", parts(1))
    finally:
        httputil.set_parse_body_config(httputil.ParseBodyConfig())
    assert parse("multipart/form-data; boundary=b", parts(1))[0] == {"f0": [b"v"]}


def test_multipart_fuzz_raises_only_http_input_error():
    rng = random.Random(1234)
    boundaries = ["1234", "----WebKitFormBoundary7MA4YWxkTrZu0gW", "x"]
    alphabet = [b"\r\n", b"--", b"\r", b"\n", b"-", b";", b'"', b"=", b":", b" ", b"\x00", b"\xff",
                b"name", b"filename", b"form-data", b"Content-Disposition", b"Content-Type",
                b"filename*=", b"UTF-8''%e2", b"%"]
    outcomes = {"accepted": 0, "refused": 0}
    for _ in range(1500):
        boundary = rng.choice(boundaries)
        body = _mutate(rng, SAMPLE.replace(b"1234", boundary.encode()), alphabet + [b"--" + boundary.encode()])
        ctype = rng.choice([f"multipart/form-data; boundary={boundary}",
                            f'multipart/form-data; boundary="{boundary}"',
                            "multipart/form-data; boundary=", "multipart/form-data; boundary=\"",
                            "application/x-www-form-urlencoded"])
        try:
            args, files = parse(ctype, body)
        except HTTPInputError:
            outcomes["refused"] += 1
            continue
        outcomes["accepted"] += 1
        for name, values in args.items():
            assert isinstance(name, str) and all(isinstance(v, bytes) for v in values)
        for name, fl in files.items():
            assert all(isinstance(f.body, bytes) and isinstance(f.filename, str) for f in fl)
    assert outcomes["accepted"] > 100 and outcomes["refused"] > 100, outcomes


def _mutate(rng, base, alphabet):
    mode = rng.randrange(4)
    if mode == 0:
        return base[:rng.randrange(len(base) + 1)]
    if mode == 1:
        body = bytearray(base)
        for _ in range(rng.randrange(1, 8)):
            body[rng.randrange(len(body))] = rng.randrange(256)
        return bytes(body)
    if mode == 2:
        return b"".join(rng.choice(alphabet) for _ in range(rng.randrange(60)))
    cut = rng.randrange(len(base))
    return base[:cut] + b"".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 4))) + base[cut:]


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


# --- differential: the same inputs to Tornado's parsers and ours ----------------------------

# Where squall is stricter than Tornado 6.6 on purpose (Tornado accepts, squall refuses), each
# with its rule; every other input must get the same decision, and the same result when both
# accept. squall never accepts what Tornado refuses.
STRICTER_THAN_TORNADO = {
    # RFC 2046 5.1.1: a boundary is 1-70 bchars, not ending in a space (Tornado: any text)
    "bad boundary",
    # RFC 2046 5.1.1: "--boundary" must be followed by CRLF (or "--"); Tornado reads a
    # delimiter with anything else after it as content of the part before
    "junk after a boundary",
    # a preamble: Tornado parses it as a first part, so a preamble that looks like a part is
    # an argument there; refused here rather than guessed at
    "does not start with the boundary",
    # RFC 7578 4.2: each part has exactly one Content-Disposition (Tornado joins several)
    "needs one Content-Disposition",
    # RFC 2046 5.1.1: the boundary must not occur inside a part; "--boundary" after a bare
    # LF or CR is a part boundary for Tornado (it splits on "--boundary" CRLF), content here:
    # refused so that no two readers see different parts
    "boundary inside a part",
    # the epilogue is ignored, but Tornado ends the body at the *last* close delimiter and
    # this parser at the first: a second one after it is refused for the same reason
    "boundary after the close delimiter",
}

# Where squall follows the RFCs' case-insensitivity and Tornado does not: Tornado refuses,
# squall accepts. These are the only inputs where squall is the more lenient.
MORE_LENIENT_THAN_TORNADO = [
    # RFC 2183 2.8 / RFC 2045 5.1: disposition type and parameter names are case-insensitive
    ("multipart/form-data; boundary=b", multipart("b", [("Content-Disposition: Form-Data; name=x", b"v")])),
    ("multipart/form-data; Boundary=b", multipart("b", [(cd(), b"v")])),
    # Tornado's part count includes the empty text before the first delimiter, so it takes
    # at most max_parts - 1 parts; squall takes max_parts
    ("multipart/form-data; boundary=b", multipart("b", [(cd(f"f{i}"), b"v") for i in range(100)])),
]


def _outcome(fn):
    try:
        return "ok", fn()
    except Exception as e:  # noqa: BLE001 - the exception's type is part of what is compared
        return type(e).__name__, str(e)


def _files(files):
    return {k: [dict(f) for f in v] for k, v in files.items()}


def _body_outcome(mod, ctype, body):
    def run():
        args, files = {}, {}
        mod.parse_body_arguments(ctype, body, args, files)
        return args, _files(files)
    return _outcome(run)


HEADER_INPUTS = [
    "A: 1\r\nB: 2\r\n", "A: 1\nB: 2\n", "A: 1\r\n\r\nB: 2", "A:\r\n", "A: caf\xe9", "A: x \t y", "A:\t1\t",
    "A: 1\rB: 2\r\n", "A: 1\r", "A: 1\r\r\n", "A: a\x00b", "A: a\x01b", "A: a\x7fb", "A: \u20ac", "A: \x85",
    "A: 1\r\n folded", "A: 1\r\n\tfolded", " A: 1", "A 1", "A : 1", ": 1", "A(b): 1", "\xe9: 1", "A:: 1",
    "", "\r\n", "\n\n", "A: 1\n\rB: 2", "A:\x0b1", "A: 1\x0c", "X-\u00e9: 1", "A: \"quoted\\\" x\"",
    "!#$%&'*+-.^_`|~09az: v", "A: 1\r\n\r\n\r\n", "A: 1\r\n \r\n", "A: a\x1fb",
]


def test_differential_headers_against_tornado():
    th = pytest.importorskip("tornado.httputil")
    compared = 0
    for text in HEADER_INPUTS:
        ours = _outcome(lambda: sorted(HTTPHeaders.parse(text).get_all()))
        theirs = _outcome(lambda: sorted(th.HTTPHeaders.parse(text).get_all()))
        assert ours[0] in ("ok", "HTTPInputError"), (text, ours)
        assert ours[0] == theirs[0], (text, ours, theirs)
        if ours[0] == "ok":
            assert ours[1] == theirs[1], text
        compared += 1
    assert compared == len(HEADER_INPUTS)


MULTIPART_INPUTS = [(ctype, body) for ctype, body, _ in MALFORMED] + [
    ('multipart/form-data; boundary="1234"', SAMPLE),
    ("multipart/form-data; boundary=1234", SAMPLE),
    ("multipart/form-data; boundary=b", b"--b--"),
    ("multipart/form-data; boundary=b", b"--b--\r\nepilogue"),
    ("multipart/form-data; boundary=b", multipart("b", [(cd(), b"v")]) + b"epilogue"),
    ("multipart/form-data; boundary=b", multipart("b", [(cd(), b"a--b c")])),
    ("multipart/form-data; boundary=b", multipart("b", [('Content-Disposition: form-data; name="f"; '
                                                        'filename="\u20ac.txt"', b"e")])),
    ("multipart/form-data; boundary=b", multipart("b", [(cd(f"f{i}"), b"v") for i in range(99)])),
    ("multipart/form-data; boundary=b", multipart("b", [(cd(f"f{i}"), b"v") for i in range(101)])),
    ("multipart/form-data; boundary=b", multipart("b", [(cd() + "\r\nX-Pad: " + "p" * 10240, b"v")])),
    ("multipart/form-data; boundary=b", multipart("b", [(cd() + "\r\nX-Pad: " + "p" * 10100, b"v")])),
    ("multipart/form-data; boundary=\"" + "y" * 70 + "\"", multipart("y" * 70, [(cd(), b"v")])),
    ("application/x-www-form-urlencoded", b"a=1&b=&a=%C3%A9&c+d=x+y&caf\xc3\xa9=1&noval"),
    ("application/x-www-form-urlencoded", b"a=%zz&b=%4&c=%&d=%ff%fe&%41%2B=%2b+&e=;f&&"),
    ("application/x-www-form-urlencoded", b"&".join([b"a=1"] * 1000)),
    ("application/x-www-form-urlencoded", b"&".join([b"a=1"] * 1001)),
    ("application/x-www-form-urlencoded", b"&" * 1000),
    ("text/plain", b"--b--"),
] + MORE_LENIENT_THAN_TORNADO


def _compare_bodies(th, inputs):
    """Feeds each (content type, body) to both; returns the counts of agreements and of the
    documented differences, and fails on any other disagreement."""
    agree = stricter = lenient = 0
    lenient_inputs = {(c, b) for c, b in MORE_LENIENT_THAN_TORNADO}
    for ctype, body in inputs:
        ours = _body_outcome(httputil, ctype, body)
        theirs = _body_outcome(th, ctype, body)
        assert ours[0] in ("ok", "HTTPInputError"), (ctype, body, ours)
        if ours[0] == theirs[0] or (ours[0] != "ok" and theirs[0] != "ok"):
            if ours[0] == "ok":
                assert ours[1] == theirs[1], (ctype, body)
            agree += 1
        elif ours[0] == "ok":
            assert (ctype, body) in lenient_inputs, ("squall accepts what Tornado refuses", ctype, body, theirs)
            lenient += 1
        else:
            assert any(rule in ours[1] for rule in STRICTER_THAN_TORNADO), \
                ("squall refuses what Tornado accepts, by no documented rule", ctype, body, ours)
            stricter += 1
    return agree, stricter, lenient


def test_differential_bodies_against_tornado():
    th = pytest.importorskip("tornado.httputil")
    agree, stricter, lenient = _compare_bodies(th, MULTIPART_INPUTS)
    assert lenient == len(MORE_LENIENT_THAN_TORNADO)
    assert agree + stricter + lenient == len(MULTIPART_INPUTS) and agree > stricter


def test_differential_generated_bodies_against_tornado():
    th = pytest.importorskip("tornado.httputil")
    rng = random.Random(16)
    inputs = []
    for _ in range(3000):
        boundary = rng.choice(["1234", "----WebKitFormBoundary7MA4YWxkTrZu0gW", "x"])
        alphabet = [b"\r\n", b"\r\n\r\n", b"--", b"\r", b"\n", b";", b'"', b"=", b":", b" ", b"\t", b"\x00",
                    b"\xff", b"name=", b"filename=", b"form-data", b"Content-Disposition: ", b"Content-Type: ",
                    b"--" + boundary.encode(), b"\r\n--" + boundary.encode() + b"\r\n"]
        body = _mutate(rng, SAMPLE.replace(b"1234", boundary.encode()), alphabet)
        ctype = rng.choice([f"multipart/form-data; boundary={boundary}",
                            f'multipart/form-data; boundary="{boundary}"',
                            "application/x-www-form-urlencoded"])
        inputs.append((ctype, body))
    agree, stricter, lenient = _compare_bodies(th, inputs)
    assert lenient == 0 and agree + stricter == 3000
    assert agree > 2000, (agree, stricter)


def test_differential_generated_header_blocks_against_tornado():
    th = pytest.importorskip("tornado.httputil")
    rng = random.Random(1616)
    names = ["A", "X-Y", "content-type", "!#$%&'*+-.^_`|~", "", " A", "A ", "A(b)", "\xe9", "A\x00", "\tA"]
    seps = [":", ": ", ":\t", " :", "", "::"]
    chars = ["v", "1", " ", "\t", "\r", "\n", "\x00", "\x01", "\x0b", "\x7f", "\x85", "\xe9", "\u20ac", '"', ",", ";"]
    ends = ["\r\n", "\r\n", "\n", "\r", "", "\r\r\n", "\n\r", "\r\n ", "\r\n\r\n"]
    counts = {"ok": 0, "HTTPInputError": 0}
    for _ in range(5000):
        lines = []
        for _ in range(rng.randrange(1, 4)):
            clean = rng.random() < 0.5  # half the lines valid but for their terminator
            name = "X-Y" if clean else rng.choice(names)
            sep = ": " if clean else rng.choice(seps)
            value = "".join(rng.choice(chars[:4] if clean else chars) for _ in range(rng.randrange(6)))
            lines.append(name + sep + value + rng.choice(ends))
        text = "".join(lines)
        ours = _outcome(lambda: sorted(HTTPHeaders.parse(text).get_all()))
        theirs = _outcome(lambda: sorted(th.HTTPHeaders.parse(text).get_all()))
        assert ours[0] == theirs[0], (text, ours, theirs)
        if ours[0] == "ok":
            assert ours[1] == theirs[1], text
        counts[ours[0]] += 1
    assert counts["ok"] > 500 and counts["HTTPInputError"] > 500, counts


def test_differential_query_strings_against_tornado():
    te = pytest.importorskip("tornado.escape")
    rng = random.Random(16)
    pieces = [b"a", b"b", b"=", b"&", b"+", b"%", b"%2", b"%41", b"%zz", b"%ff", b"%C3%A9", b"\xe9", b";", b" "]
    inputs = [b"", b"&&", b"a", b"a=", b"=b", b"a=1&a=2", b"&".join([b"x"] * 1000), b"&".join([b"x"] * 1001)]
    inputs += [b"".join(rng.choice(pieces) for _ in range(rng.randrange(1, 20))) for _ in range(3000)]
    for qs in inputs:
        for blank in (True, False):
            ours = _outcome(lambda: httputil.parse_qs_bytes(qs, keep_blank_values=blank, max_num_fields=1000))
            theirs = _outcome(lambda: te.parse_qs_bytes(qs, keep_blank_values=blank, max_num_fields=1000))
            assert ours[0] == theirs[0] and (ours[0] != "ok" or ours[1] == theirs[1]), (qs, ours, theirs)
