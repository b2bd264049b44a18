"""``squall.escape``: escaping and string helpers, as Tornado's."""
from __future__ import annotations

import html
import json
import re
import urllib.parse
from typing import Any, Optional, Union

__all__ = ["utf8", "to_unicode", "native_str", "to_basestring", "json_encode", "json_decode", "url_escape",
           "url_unescape", "xhtml_escape", "xhtml_unescape", "squeeze", "recursive_unicode"]


def utf8(value: Union[None, str, bytes]) -> Optional[bytes]:
    if value is None or isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        raise TypeError("Expected bytes, str, or None; got %r" % type(value))
    return value.encode("utf-8")


def to_unicode(value: Union[None, str, bytes]) -> Optional[str]:
    if value is None or isinstance(value, str):
        return value
    if not isinstance(value, bytes):
        raise TypeError("Expected bytes, str, or None; got %r" % type(value))
    return value.decode("utf-8")


native_str = to_unicode
to_basestring = to_unicode


def json_encode(value: Any) -> str:
    """JSON, with ``</`` escaped so the result can sit inside a <script>."""
    return json.dumps(value).replace("</", "<\\/")


def json_decode(value: Union[str, bytes]) -> Any:
    return json.loads(value)


def url_escape(value: Union[str, bytes], plus: bool = True) -> str:
    quote = urllib.parse.quote_plus if plus else urllib.parse.quote
    return quote(utf8(value) or b"")


def url_unescape(value: Union[str, bytes], encoding: Optional[str] = "utf-8", plus: bool = True) -> Any:
    if encoding is None:
        if plus:
            value = to_unicode(value).replace("+", " ")  # type: ignore[union-attr]
        return urllib.parse.unquote_to_bytes(value)
    unquote = urllib.parse.unquote_plus if plus else urllib.parse.unquote
    return unquote(to_unicode(value) or "", encoding=encoding)


def xhtml_escape(value: Union[str, bytes]) -> str:
    """Escapes ``& < > " '`` for HTML and XML."""
    return html.escape(to_unicode(value) or "", quote=True)


def xhtml_unescape(value: Union[str, bytes]) -> str:
    return html.unescape(to_unicode(value) or "")


def squeeze(value: str) -> str:
    """Every run of whitespace becomes one space."""
    return re.sub(r"[\x00-\x20]+", " ", value).strip()


def recursive_unicode(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {recursive_unicode(k): recursive_unicode(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [recursive_unicode(i) for i in obj]
    if isinstance(obj, tuple):
        return tuple(recursive_unicode(i) for i in obj)
    if isinstance(obj, bytes):
        return to_unicode(obj)
    return obj
