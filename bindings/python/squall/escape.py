"""String escaping and conversion helpers, with the API of ``tornado.escape``.

HTML/XML escaping, URL quoting, JSON encoding (safe to embed in a
``<script>`` element) and bytes/str conversions. Standard library only.
"""
from __future__ import annotations

import html
import json
import re
import urllib.parse
from typing import TYPE_CHECKING, Any, Optional, Union, overload

__all__ = [
    "utf8", "to_unicode", "native_str", "to_basestring", "json_encode",
    "json_decode", "url_escape", "url_unescape", "xhtml_escape",
    "xhtml_unescape", "squeeze", "recursive_unicode",
]

_XHTML_TABLE = str.maketrans({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;",
})


def xhtml_escape(value: Union[str, bytes]) -> str:
    """Escapes ``& < > " '`` so the text is safe in HTML content and attributes."""
    return to_unicode(value).translate(_XHTML_TABLE)


def xhtml_unescape(value: Union[str, bytes]) -> str:
    """Replaces named and numeric character references by their characters."""
    return html.unescape(to_unicode(value))


def json_encode(value: Any) -> str:
    """JSON text of ``value``; ``</`` is written ``<\\/`` so that the result
    can be put inside a ``<script>`` element without ending it."""
    return json.dumps(value).replace("</", "<\\/")


def json_decode(value: Union[str, bytes]) -> Any:
    """Parses JSON text (str or UTF-8 bytes)."""
    return json.loads(value)


_SPACES = re.compile(r"[\x00-\x20]+")


def squeeze(value: str) -> str:
    """Collapses every run of whitespace/control characters to one space and strips the ends."""
    return _SPACES.sub(" ", value).strip()


def url_escape(value: Union[str, bytes], plus: bool = True) -> str:
    """Percent-encodes ``value``; spaces become ``+`` when ``plus`` (form
    encoding), ``%20`` otherwise (path segments)."""
    if plus:
        return urllib.parse.quote_plus(utf8(value))
    return urllib.parse.quote(utf8(value))


@overload
def url_unescape(value: Union[str, bytes], encoding: None, plus: bool = True) -> bytes: ...


@overload
def url_unescape(value: Union[str, bytes], encoding: str = "utf-8", plus: bool = True) -> str: ...


def url_unescape(value: Union[str, bytes], encoding: Optional[str] = "utf-8", plus: bool = True) -> Union[str, bytes]:
    """Decodes a percent-encoded string. ``encoding=None`` returns bytes;
    ``plus`` makes ``+`` a space (form encoding)."""
    if encoding is None:
        raw = utf8(value)
        if plus:
            raw = raw.replace(b"+", b" ")
        return urllib.parse.unquote_to_bytes(raw)
    text = to_unicode(value)
    if plus:
        return urllib.parse.unquote_plus(text, encoding=encoding)
    return urllib.parse.unquote(text, encoding=encoding)


@overload
def utf8(value: bytes) -> bytes: ...


@overload
def utf8(value: str) -> bytes: ...


@overload
def utf8(value: None) -> None: ...


def utf8(value: Union[None, str, bytes]) -> Optional[bytes]:
    """``value`` as UTF-8 bytes; bytes and None are returned unchanged."""
    if value is None or isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        raise TypeError(f"Expected bytes, unicode, or None; got {type(value)!r}")
    return value.encode("utf-8")


@overload
def to_unicode(value: str) -> str: ...


@overload
def to_unicode(value: bytes) -> str: ...


@overload
def to_unicode(value: None) -> None: ...


def to_unicode(value: Union[None, str, bytes]) -> Optional[str]:
    """``value`` as str (bytes are decoded as UTF-8); str and None unchanged."""
    if value is None or isinstance(value, str):
        return value
    if not isinstance(value, bytes):
        raise TypeError(f"Expected bytes, unicode, or None; got {type(value)!r}")
    return value.decode("utf-8")


_unicode = to_unicode
native_str = to_unicode
to_basestring = to_unicode


def recursive_unicode(obj: Any) -> Any:
    """Decodes every bytes value found in nested dicts, lists and tuples."""
    if isinstance(obj, dict):
        return {recursive_unicode(k): recursive_unicode(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [recursive_unicode(i) for i in obj]
    if isinstance(obj, tuple):
        return tuple(recursive_unicode(i) for i in obj)
    if isinstance(obj, bytes):
        return to_unicode(obj)
    return obj


# The rest of Tornado's escape module (linkify, parse_qs_bytes and the
# helpers its callers import) is Tornado's own pure-Python code; the names
# defined above stay squall's.
def _fill_from_tornado() -> None:
    from ._reuse import reexport
    reexport(globals(), "tornado.escape", set_all=False)
    for name in ("linkify", "parse_qs_bytes"):
        if name not in __all__:
            __all__.append(name)


_fill_from_tornado()

if TYPE_CHECKING:
    # What _fill_from_tornado() adds at run time, spelled out for type checkers.
    from tornado.escape import linkify as linkify, parse_qs_bytes as parse_qs_bytes  # noqa: F401

del TYPE_CHECKING  # only for the block above: the module exports what it did before
