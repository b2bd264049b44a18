"""squall.escape: behaviour checked directly and against Tornado's."""
from __future__ import annotations

import pytest

from squall import escape

SAMPLES = [
    "", "plain", "a b", "a+b", "<script>alert('x')</script>", 'q"uote', "&amp;",
    "caf\u00e9", "\u2603 snow", "100%", "/path/with?query=1&b=2", "tab\tnew\nline",
]


def test_utf8_and_to_unicode():
    assert escape.utf8("caf\u00e9") == b"caf\xc3\xa9"
    assert escape.utf8(b"x") == b"x"
    assert escape.utf8(None) is None
    assert escape.to_unicode(b"caf\xc3\xa9") == "caf\u00e9"
    assert escape.to_unicode("s") == "s"
    assert escape.to_unicode(None) is None
    assert escape.native_str(b"n") == "n"
    assert escape.to_basestring(b"n") == "n"
    with pytest.raises(TypeError):
        escape.utf8(3)  # type: ignore[call-overload]
    with pytest.raises(TypeError):
        escape.to_unicode(3)  # type: ignore[call-overload]


def test_xhtml():
    assert escape.xhtml_escape("<a href=\"x\">'&'</a>") == "&lt;a href=&quot;x&quot;&gt;&#x27;&amp;&#x27;&lt;/a&gt;"
    assert escape.xhtml_escape(b"<b>") == "&lt;b&gt;"
    assert escape.xhtml_unescape("&lt;&amp;&#39;&#x41;&quot;&gt;") == "<&'A\">"
    for s in SAMPLES:
        assert escape.xhtml_unescape(escape.xhtml_escape(s)) == s


def test_json():
    out = escape.json_encode({"k": "</script>"})
    assert "</" not in out
    assert escape.json_decode(out) == {"k": "</script>"}
    assert escape.json_decode(b'[1, "a"]') == [1, "a"]


def test_url():
    assert escape.url_escape("a b&c/d") == "a+b%26c%2Fd"
    assert escape.url_escape("a b/d", plus=False) == "a%20b/d"
    assert escape.url_unescape("a+b%26c") == "a b&c"
    assert escape.url_unescape("a+b%20c", plus=False) == "a+b c"
    assert escape.url_unescape("%C3%A9+", encoding=None) == b"\xc3\xa9 "
    assert escape.url_unescape(b"%C3%A9") == "\u00e9"
    for s in SAMPLES:
        assert escape.url_unescape(escape.url_escape(s)) == s
        assert escape.url_unescape(escape.url_escape(s, plus=False), plus=False) == s


def test_squeeze_and_recursive_unicode():
    assert escape.squeeze("  a \t\n b   c ") == "a b c"
    assert escape.recursive_unicode({b"k": [b"v", (b"t", 1)]}) == {"k": ["v", ("t", 1)]}


def test_same_as_tornado():
    te = pytest.importorskip("tornado.escape")
    for s in SAMPLES:
        assert escape.xhtml_escape(s) == te.xhtml_escape(s)
        assert escape.xhtml_unescape(escape.xhtml_escape(s)) == te.xhtml_unescape(te.xhtml_escape(s))
        assert escape.url_escape(s) == te.url_escape(s)
        assert escape.url_escape(s, plus=False) == te.url_escape(s, plus=False)
        assert escape.json_encode(s) == te.json_encode(s)
        assert escape.squeeze(s) == te.squeeze(s)
        enc = te.url_escape(s)
        assert escape.url_unescape(enc) == te.url_unescape(enc)
        assert escape.url_unescape(enc, encoding=None) == te.url_unescape(enc, encoding=None)
        assert escape.url_unescape(enc, plus=False) == te.url_unescape(enc, plus=False)
    for ref in ["&amp;", "&#39;", "&#x27;", "&nbsp;", "&bogus;", "&#0;", "&#xZZ;"]:
        assert escape.xhtml_unescape(ref) == te.xhtml_unescape(ref)
