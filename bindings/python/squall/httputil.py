"""HTTP utilities with the API of ``tornado.httputil``: a case-insensitive
multi-valued header dict, form-body parsing (urlencoded and
multipart/form-data), cookie and header-parameter parsing, and small helpers.

Bodies from clients are untrusted: ``parse_body_arguments`` and
``parse_multipart_form_data`` never raise on malformed input; they log a
warning on ``squall.general`` and keep what could be read.
"""
from __future__ import annotations

import calendar
import collections.abc
import datetime
import email.utils
import functools
import logging
import re
import time
import urllib.parse
from http.client import responses
from typing import Any, Iterable, Iterator, Mapping, Optional, Union

__all__ = [
    "HTTPHeaders", "HTTPFile", "ObjectDict", "HTTPInputError", "HTTPOutputError",
    "parse_body_arguments", "parse_multipart_form_data", "url_concat", "format_timestamp",
    "parse_cookie", "parse_header", "responses", "split_host_and_port", "qs_to_qsl",
    "HTTPServerRequest",
]

gen_log = logging.getLogger("squall.general")

_HTTP_WS = " \t"
_TOKEN_RE = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_BAD_VALUE_RE = re.compile(r"[\x00\r\n]")


class HTTPInputError(Exception):
    """Malformed input from the peer (a bad header line, a bad body)."""


class HTTPOutputError(Exception):
    """The application wrote something that is not valid HTTP."""


@functools.lru_cache(maxsize=1024)
def _canonical(name: str) -> str:
    """``content-type`` -> ``Content-Type``."""
    return "-".join(word.capitalize() for word in name.split("-"))


class HTTPHeaders(collections.abc.MutableMapping):
    """Header names are case-insensitive and kept in canonical form
    (``Content-Type``). A name may have several values: ``add`` appends one,
    ``get_list`` returns them all, ``h[name]`` returns them joined by commas,
    ``h[name] = v`` replaces them, ``get_all()`` yields every (name, value)
    line."""

    def __init__(self, *args: Any, **kwargs: str) -> None:
        self._values: dict[str, list[str]] = {}
        self._last: Optional[str] = None
        if len(args) == 1 and not kwargs and isinstance(args[0], HTTPHeaders):
            for name, value in args[0].get_all():
                self.add(name, value)
        else:
            self.update(*args, **kwargs)

    # --- multi-valued interface ---------------------------------------

    def add(self, name: str, value: str) -> None:
        """Adds a value for ``name`` (keeping the ones already there)."""
        key = _canonical(name)
        self._values.setdefault(key, []).append(value)
        self._last = key

    def get_list(self, name: str) -> list[str]:
        """Every value of ``name`` (empty list when absent)."""
        return list(self._values.get(_canonical(name), []))

    getlist = get_list

    def get_all(self) -> Iterator[tuple[str, str]]:
        """Every (name, value) pair, a name once per value."""
        for name, values in self._values.items():
            for value in values:
                yield name, value

    def parse_line(self, line: str) -> None:
        """Adds one ``Name: value`` line. Folded (continuation) lines, lines
        without a colon, bad names and values with CR/LF/NUL raise
        ``HTTPInputError``."""
        if not line:
            raise HTTPInputError("empty header line")
        if line[0] in _HTTP_WS:
            raise HTTPInputError("header line cannot start with whitespace, folding not supported")
        name, colon, value = line.partition(":")
        if not colon:
            raise HTTPInputError("no colon in header line")
        if not _TOKEN_RE.match(name):
            raise HTTPInputError(f"invalid header name {name!r}")
        value = value.strip(_HTTP_WS)
        if _BAD_VALUE_RE.search(value):
            raise HTTPInputError(f"invalid header value {value!r}")
        self.add(name, value)

    @classmethod
    def parse(cls, headers: str) -> "HTTPHeaders":
        """Headers from their text (lines ended by CRLF or LF; blank lines
        are skipped)::

            >>> h = HTTPHeaders.parse("Content-Type: text/html\\r\\nContent-Length: 42\\r\\n")
            >>> sorted(h.items())
            [('Content-Length', '42'), ('Content-Type', 'text/html')]
        """
        h = cls()
        for line in headers.split("\n"):
            if line.endswith("\r"):
                line = line[:-1]
            if line:
                h.parse_line(line)
        return h

    # --- mapping interface --------------------------------------------

    def __setitem__(self, name: str, value: str) -> None:
        key = _canonical(name)
        self._values[key] = [value]
        self._last = key

    def __getitem__(self, name: str) -> str:
        values = self._values[_canonical(name)]
        return values[0] if len(values) == 1 else ",".join(values)

    def __delitem__(self, name: str) -> None:
        del self._values[_canonical(name)]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and _canonical(name) in self._values

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def copy(self) -> "HTTPHeaders":
        return HTTPHeaders(self)

    __copy__ = copy

    def __str__(self) -> str:
        return "".join(f"{name}: {value}\n" for name, value in self.get_all())

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({dict(self.items())!r})"


class ObjectDict(dict):
    """A dict whose keys can also be read and set as attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value


class HTTPFile(ObjectDict):
    """An uploaded file: ``filename``, ``body`` (bytes), ``content_type``."""

    filename: str
    body: bytes
    content_type: str


# --- header parameters ------------------------------------------------------


def _split_params(line: str) -> list[str]:
    """Splits on ``;`` outside double quotes."""
    pieces, current, quoted, escaped = [], [], False, False
    for ch in line:
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == ";" and not quoted:
            pieces.append("".join(current))
            current = []
            continue
        current.append(ch)
    pieces.append("".join(current))
    return pieces


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
        return value.replace("\\\\", "\\").replace('\\"', '"')
    return value


def _decode_rfc2231(value: str) -> str:
    """``charset'lang'percent-encoded`` -> text (charset defaults to UTF-8)."""
    charset, lang, encoded = "", "", value
    if value.count("'") >= 2:
        charset, lang, encoded = value.split("'", 2)
    raw = urllib.parse.unquote_to_bytes(encoded)
    try:
        return raw.decode(charset or "utf-8")
    except (LookupError, UnicodeDecodeError):
        return raw.decode("latin-1")


_CONT_RE = re.compile(r"^(.+?)\*(\d+)(\*?)$")


def parse_header(line: str) -> tuple[str, dict[str, str]]:
    """``'form-data; name="a"; filename*=UTF-8''%e2%82%ac.txt'`` ->
    ``('form-data', {'name': 'a', 'filename': '€.txt'})``: parameter names
    lower-cased, values unquoted, RFC 2231 extended values (``name*=`` and
    continuations ``name*0*=``) decoded and preferred over plain ones."""
    pieces = _split_params(line)
    key = pieces[0].strip()
    plain: dict[str, str] = {}
    extended: dict[str, str] = {}
    continuations: dict[str, dict[int, tuple[str, bool]]] = {}
    for piece in pieces[1:]:
        name, eq, value = piece.partition("=")
        if not eq:
            continue
        name = name.strip().lower()
        value = value.strip()
        if not name:
            continue
        m = _CONT_RE.match(name)
        if m:
            continuations.setdefault(m.group(1), {})[int(m.group(2))] = (_unquote(value), bool(m.group(3)))
        elif name.endswith("*"):
            extended[name[:-1]] = _decode_rfc2231(_unquote(value))
        else:
            plain[name] = _unquote(value)
    for name, segments in continuations.items():
        if 0 not in segments:
            continue
        if segments[0][1]:  # encoded: first segment carries charset'lang'
            first = segments[0][0]
            charset_lang = ""
            if first.count("'") >= 2:
                a, b_, first = first.split("'", 2)
                charset_lang = f"{a}'{b_}'"
            parts = [first]
        else:
            charset_lang, parts = None, [segments[0][0]]
        i = 1
        while i in segments:
            seg, enc = segments[i]
            parts.append(seg if enc or charset_lang is None else urllib.parse.quote(seg, safe=""))
            i += 1
        joined = "".join(parts)
        extended[name] = _decode_rfc2231(charset_lang + joined) if charset_lang is not None else joined
    plain.update(extended)
    return key, plain


_parse_header = parse_header


# --- bodies -------------------------------------------------------------------


def _parse_qs_bytes(body: bytes) -> dict[str, list[bytes]]:
    """Like Tornado: names are latin-1 decoded text, values stay bytes."""
    out: dict[str, list[bytes]] = {}
    text = body.decode("latin-1")
    for k, v in urllib.parse.parse_qsl(text, keep_blank_values=True, encoding="latin-1", errors="strict"):
        out.setdefault(k, []).append(v.encode("latin-1"))
    return out


def parse_body_arguments(content_type: str, body: bytes, arguments: dict[str, list[bytes]],
                         files: dict[str, list[HTTPFile]], headers: Optional[Mapping[str, str]] = None) -> None:
    """Adds the fields of a form body to ``arguments`` (name -> list of
    bytes values) and its uploads to ``files`` (name -> list of
    ``HTTPFile``). Handles ``application/x-www-form-urlencoded`` and
    ``multipart/form-data``; other types are left alone. Malformed bodies
    (and encoded ones: ``Content-Encoding``) are logged, never raised."""
    try:
        if headers and "Content-Encoding" in headers:
            gen_log.warning("Unsupported Content-Encoding: %s", headers["Content-Encoding"])
            return
        if content_type.startswith("application/x-www-form-urlencoded"):
            try:
                parsed = _parse_qs_bytes(body)
            except Exception as e:
                gen_log.warning("Invalid x-www-form-urlencoded body: %s", e)
                return
            for name, values in parsed.items():
                if values:
                    arguments.setdefault(name, []).extend(values)
        elif content_type.startswith("multipart/form-data"):
            _, params = parse_header(content_type)
            boundary = params.get("boundary")
            if not boundary:
                gen_log.warning("Invalid multipart/form-data: no boundary")
                return
            parse_multipart_form_data(boundary.encode("latin-1", "replace"), body, arguments, files)
    except Exception as e:  # belt and braces: a bad body is never an exception
        gen_log.warning("Invalid request body: %r", e)


def _decode_part_headers(raw: bytes) -> HTTPHeaders:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return HTTPHeaders.parse(text)


def parse_multipart_form_data(boundary: bytes, data: bytes, arguments: dict[str, list[bytes]],
                              files: dict[str, list[HTTPFile]]) -> None:
    """Parses a ``multipart/form-data`` body whose boundary (from the
    Content-Type, quotes allowed) is ``boundary``. Parts are separated by
    ``CRLF--boundary``; the body must end with ``--boundary--``. A part
    needs a ``Content-Disposition: form-data; name=...`` header; with a
    ``filename`` (or ``filename*``) it is a file, whose type defaults to
    ``application/unknown``. Bad parts are skipped with a warning; without
    the closing delimiter nothing is added."""
    try:
        _parse_multipart(boundary, data, arguments, files)
    except Exception as e:
        gen_log.warning("Invalid multipart/form-data: %r", e)


def _parse_multipart(boundary: bytes, data: bytes, arguments: dict[str, list[bytes]],
                     files: dict[str, list[HTTPFile]]) -> None:
    if len(boundary) >= 2 and boundary.startswith(b'"') and boundary.endswith(b'"'):
        boundary = boundary[1:-1]
    if not boundary or len(boundary) > 200:
        gen_log.warning("Invalid multipart/form-data: bad boundary")
        return
    delimiter = b"\r\n--" + boundary
    # The first delimiter may be at the very start (no preceding CRLF).
    segments = (b"\r\n" + data).split(delimiter)
    found_args: list[tuple[str, bytes]] = []
    found_files: list[tuple[str, HTTPFile]] = []
    closed = False
    for segment in segments[1:]:  # segments[0] is the preamble
        if segment.startswith(b"--"):
            closed = True
            break
        line_end = segment.find(b"\r\n")
        if line_end < 0 or segment[:line_end].strip(b" \t"):
            gen_log.warning("Invalid multipart/form-data: bad delimiter line")
            continue
        part = segment[line_end + 2:]
        if part.startswith(b"\r\n"):
            raw_headers, value = b"", part[2:]
        else:
            end_of_headers = part.find(b"\r\n\r\n")
            if end_of_headers < 0:
                gen_log.warning("multipart/form-data missing headers")
                continue
            raw_headers, value = part[:end_of_headers], part[end_of_headers + 4:]
        try:
            headers = _decode_part_headers(raw_headers)
        except HTTPInputError as e:
            gen_log.warning("Invalid multipart/form-data part headers: %s", e)
            continue
        disposition, params = parse_header(headers.get("Content-Disposition", ""))
        if disposition.lower() != "form-data":
            gen_log.warning("Invalid multipart/form-data: part is not form-data")
            continue
        name = params.get("name")
        if not name:
            gen_log.warning("multipart/form-data value missing name")
            continue
        filename = params.get("filename")
        if filename:
            ctype = headers.get("Content-Type", "application/unknown")
            found_files.append((name, HTTPFile(filename=filename, body=value, content_type=ctype)))
        else:
            found_args.append((name, value))
    if not closed:
        gen_log.warning("Invalid multipart/form-data: no final boundary")
        return
    for name, value in found_args:
        arguments.setdefault(name, []).append(value)
    for name, f in found_files:
        files.setdefault(name, []).append(f)


# --- URLs, dates, cookies -----------------------------------------------------


def url_concat(url: str, args: Union[None, dict[str, str], list[tuple[str, str]], tuple[tuple[str, str], ...]]) -> str:
    """``url`` with ``args`` (a dict, or a list of pairs for repeated
    names) added to its query string."""
    if args is None:
        return url
    parts = urllib.parse.urlparse(url)
    if isinstance(args, dict):
        extra: Iterable[tuple[str, str]] = args.items()
    elif isinstance(args, (list, tuple)):
        extra = args
    else:
        raise TypeError(f"'args' parameter should be dict, list or tuple. Not {type(args)}")
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    query.extend(extra)
    return urllib.parse.urlunparse(parts._replace(query=urllib.parse.urlencode(query)))


def format_timestamp(ts: Union[int, float, tuple, time.struct_time, datetime.datetime]) -> str:
    """An HTTP date (``Sun, 06 Nov 1994 08:49:37 GMT``) from a Unix time, a
    UTC time tuple, or a datetime (naive ones are taken as UTC)."""
    if isinstance(ts, (int, float)):
        seconds = float(ts)
    elif isinstance(ts, (tuple, time.struct_time)):
        seconds = calendar.timegm(ts)
    elif isinstance(ts, datetime.datetime):
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=datetime.timezone.utc)
        seconds = ts.timestamp()
    else:
        raise TypeError(f"unknown timestamp type: {ts!r}")
    return email.utils.formatdate(seconds, usegmt=True)


_COOKIE_ESCAPE_RE = re.compile(r"\\(?:([0-3][0-7][0-7])|(.))", re.S)


def _unquote_cookie(value: str) -> str:
    if len(value) < 2 or value[0] != '"' or value[-1] != '"':
        return value
    inner = value[1:-1]

    def repl(m: "re.Match[str]") -> str:
        return chr(int(m.group(1), 8)) if m.group(1) else m.group(2)

    return _COOKIE_ESCAPE_RE.sub(repl, inner)


def parse_cookie(cookie: str) -> dict[str, str]:
    """A ``Cookie`` header as a dict, the way browsers write it (lenient,
    unlike ``http.cookies``): ``a=1; b="x"`` -> ``{'a': '1', 'b': 'x'}``. A
    chunk without ``=`` is a value with an empty name; later names win."""
    result: dict[str, str] = {}
    for chunk in cookie.split(";"):
        if "=" in chunk:
            key, _, val = chunk.partition("=")
        else:
            key, val = "", chunk
        key, val = key.strip(), val.strip()
        if key or val:
            result[key] = _unquote_cookie(val)
    return result


_HOST_PORT_RE = re.compile(r"^(.+):(\d+)$")


def split_host_and_port(netloc: str) -> tuple[str, Optional[int]]:
    """``'example.com:80'`` -> ``('example.com', 80)``; no port -> None."""
    m = _HOST_PORT_RE.match(netloc)
    if m:
        return m.group(1), int(m.group(2))
    return netloc, None


def qs_to_qsl(qs: Mapping[str, list[Any]]) -> Iterator[tuple[str, Any]]:
    """``{'a': [1, 2]}`` -> ``('a', 1), ('a', 2)``."""
    for name, values in qs.items():
        for value in values:
            yield name, value


def __getattr__(name: str) -> Any:
    # ``HTTPServerRequest`` lives in ``_request``, which loads the native
    # library; it is imported on first use so that this module (parsing
    # helpers only) works without libsquall, and so that no import cycle
    # forms. ``from squall.httputil import HTTPServerRequest`` works too.
    if name == "HTTPServerRequest":
        from ._request import HTTPServerRequest  # noqa: E402

        globals()["HTTPServerRequest"] = HTTPServerRequest
        return HTTPServerRequest
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
