"""HTTP utilities with the API of ``tornado.httputil``: a case-insensitive
multi-valued header dict, form-body parsing (urlencoded and
multipart/form-data), cookie and header-parameter parsing, and small helpers.

Input from clients is untrusted. Every parser here refuses malformed input
whole, as Tornado 6.6 does: ``HTTPHeaders.parse``, ``parse_body_arguments``,
``parse_multipart_form_data`` and ``parse_qs_bytes`` raise
``HTTPInputError`` and leave the caller's dicts untouched (never a
half-parsed body). ``squall.web`` answers such a request with 400.
"""
from __future__ import annotations

import calendar
import collections.abc
import dataclasses
import datetime
import email.utils
import functools
import logging
import re
import time
import typing
import urllib.parse
from http.client import responses
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping, Optional, Union

if TYPE_CHECKING:
    from ._request import RequestHeaders

__all__ = [
    "HTTPHeaders", "HTTPFile", "ObjectDict", "HTTPInputError", "HTTPOutputError",
    "parse_body_arguments", "parse_multipart_form_data", "url_concat", "format_timestamp",
    "parse_cookie", "parse_header", "responses", "split_host_and_port", "qs_to_qsl",
    "HTTPServerRequest", "ParseMultipartConfig", "ParseUrlEncodedConfig", "ParseBodyConfig",
    "set_parse_body_config", "parse_qs_bytes", "RequestStartLine", "ResponseStartLine",
    "parse_request_start_line", "parse_response_start_line", "HTTPServerConnectionDelegate",
    "HTTPMessageDelegate", "HTTPConnection",
]

gen_log = logging.getLogger("squall.general")

_HTTP_WS = " \t"
# RFC 9110 5.1: field-name = token; tchar as in 5.6.2.
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 9110 5.5: field-value = *field-content, field-content = field-vchar
# [ 1*( SP / HTAB / field-vchar ) field-vchar ], field-vchar = VCHAR / obs-text.
# Header text arrives latin-1 decoded, so one character is one octet: anything
# above U+00FF, any control (CR, LF and NUL included) and DEL is refused.
_FIELD_VALUE_RE = re.compile(r"(?:[\x21-\x7e\x80-\xff](?:[\x20\x09\x21-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?)?")
# The part headers of multipart/form-data are UTF-8 text (RFC 7578 4.2 lets a
# filename be non-ASCII): every character but the controls (HTAB aside) and DEL.
_FORBIDDEN_TEXT_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class HTTPInputError(Exception):
    """Malformed input from the peer (a bad header line, a bad body)."""


class HTTPOutputError(Exception):
    """The application wrote something that is not valid HTTP."""


@functools.lru_cache(maxsize=1024)
def _canonical(name: str) -> str:
    """``content-type`` -> ``Content-Type``."""
    return "-".join(word.capitalize() for word in name.split("-"))


def _lines(text: str) -> Iterator[str]:
    """Splits on LF only, each line keeping its terminator (str.splitlines
    would also split on a bare CR, which must stay in the line to be
    refused)."""
    start = 0
    while start < len(text):
        end = text.find("\n", start)
        if end < 0:
            yield text[start:]
            return
        yield text[start:end + 1]
        start = end + 1


class HTTPHeaders(collections.abc.MutableMapping[str, str]):
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
                self._add(name, value)
        else:
            self.update(*args, **kwargs)

    # --- multi-valued interface ---------------------------------------

    def add(self, name: str, value: str) -> None:
        """Adds a value for ``name`` (keeping the ones already there). A
        name that is not a token or a value that is not an RFC 9110
        field-value raises ``HTTPInputError``."""
        self._add_checked(name, value, octets=True)

    def _add_checked(self, name: str, value: str, octets: bool) -> None:
        if not _TOKEN_RE.fullmatch(name):
            raise HTTPInputError(f"invalid header name {name!r}")
        if octets:
            if not _FIELD_VALUE_RE.fullmatch(value):
                raise HTTPInputError(f"Invalid header value {value!r}")
        elif _FORBIDDEN_TEXT_RE.search(value):
            raise HTTPInputError(f"Invalid header value {value!r}")
        self._add(name, value)

    def _add(self, name: str, value: str) -> None:
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
        """Adds one ``Name: value`` line (a trailing CRLF or LF is allowed;
        an empty line adds nothing). Folded (continuation) lines, lines
        without a colon, names that are not tokens and values outside the
        RFC 9110 field-value grammar (a bare CR, NUL, other controls) raise
        ``HTTPInputError``."""
        self._parse_line(line, octets=True)

    def _parse_line(self, line: str, octets: bool) -> None:
        # RFC 9112 2.2: a line ends with CRLF; a lone LF is accepted as the
        # terminator. A CR anywhere else stays in the line and is refused
        # by the field-value grammar below.
        if line.endswith("\n"):
            line = line[:-2] if line.endswith("\r\n") else line[:-1]
        if not line:
            return
        # RFC 9112 5.2: obs-fold is refused (a line starting with SP/HTAB).
        if line[0] in _HTTP_WS:
            raise HTTPInputError("header line cannot start with whitespace, folding not supported")
        name, colon, value = line.partition(":")
        if not colon:
            raise HTTPInputError("no colon in header line")
        # RFC 9112 5.1: no whitespace between field-name and colon (the
        # token check refuses it); OWS around the value is dropped.
        self._add_checked(name, value.strip(_HTTP_WS), octets)

    @classmethod
    def parse(cls, headers: str) -> "HTTPHeaders":
        """Headers from their text (lines ended by CRLF or LF; blank lines
        are skipped); any malformed line raises ``HTTPInputError``::

            >>> h = HTTPHeaders.parse("Content-Type: text/html\\r\\nContent-Length: 42\\r\\n")
            >>> sorted(h.items())
            [('Content-Length', '42'), ('Content-Type', 'text/html')]
        """
        return cls._parse(headers, octets=True)

    @classmethod
    def _parse(cls, headers: str, octets: bool) -> "HTTPHeaders":
        h = cls()
        for line in _lines(headers):
            h._parse_line(line, octets)
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


class ObjectDict(dict[str, Any]):
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
    pieces: list[str] = []
    current: list[str] = []
    quoted, escaped = False, False
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
        # octets that are not valid in the charset become U+FFFD (as in
        # the email package, and so in Tornado)
        return raw.decode(charset or "utf-8", "replace")
    except LookupError:
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


@dataclasses.dataclass
class ParseMultipartConfig:
    """Limits on ``multipart/form-data`` bodies (Tornado 6.5's names and
    defaults): ``enabled=False`` refuses every multipart body,
    ``max_parts`` bounds the number of parts, ``max_part_header_size`` the
    octets of one part's header section."""

    enabled: bool = True
    max_parts: int = 100
    max_part_header_size: int = 10 * 1024


@dataclasses.dataclass
class ParseUrlEncodedConfig:
    """Limits on query strings and ``application/x-www-form-urlencoded``
    bodies: at most ``max_arguments`` ``&``-separated fields."""

    max_arguments: int = 1000


@dataclasses.dataclass
class ParseBodyConfig:
    """The limits ``parse_body_arguments`` applies (see
    ``set_parse_body_config``)."""

    multipart: ParseMultipartConfig = dataclasses.field(default_factory=ParseMultipartConfig)
    urlencoded: ParseUrlEncodedConfig = dataclasses.field(default_factory=ParseUrlEncodedConfig)


_parse_body_config = ParseBodyConfig()
# Tornado's name for the defaults (its tests read the limits from it).
_DEFAULT_PARSE_BODY_CONFIG = ParseBodyConfig()


def set_parse_body_config(config: ParseBodyConfig) -> None:
    """Replaces the process-wide default limits used when no ``config`` is
    passed (and for query strings)."""
    global _parse_body_config
    _parse_body_config = config


_PERCENT_RE = re.compile(rb"%([0-9A-Fa-f]{2})")


def _percent_decode(raw: bytes) -> bytes:
    """``%XX`` (two hex digits) becomes that octet; a ``%`` not followed by
    two hex digits is kept as it is (the WHATWG URL "percent-decode" rule,
    which browsers, urllib and Tornado follow). Never raises."""
    if b"%" not in raw:
        return raw
    return _PERCENT_RE.sub(lambda m: bytes((int(m.group(1), 16),)), raw)


def parse_qs_bytes(qs: Union[str, bytes], keep_blank_values: bool = False, strict_parsing: bool = False, *,
                   max_num_fields: Optional[int] = None) -> dict[str, list[bytes]]:
    """A query string or urlencoded body -> ``{name: [value bytes, ...]}``.
    Fields are split on ``&`` (``;`` is data), ``+`` is a space, escapes
    are decoded to octets (``_percent_decode``); names are made text as
    latin-1, values stay bytes, so invalid UTF-8 is not an error here: the
    web layer refuses it (400) when an argument is read. More than
    ``max_num_fields`` fields raise ``ValueError``; with
    ``strict_parsing`` so does a field without ``=``."""
    if isinstance(qs, str):
        qs = qs.encode("latin-1")
    out: dict[str, list[bytes]] = {}
    if not qs:
        return out
    if max_num_fields is not None and qs.count(b"&") + 1 > max_num_fields:
        raise ValueError("Max number of fields exceeded")  # urllib.parse's (and Tornado's) words
    for field in qs.split(b"&"):
        if not field:
            if strict_parsing:
                raise ValueError("empty field")
            continue
        name, eq, value = field.partition(b"=")
        if not eq and strict_parsing:
            raise ValueError(f"field without '=': {field[:40]!r}")
        if not value and not keep_blank_values:
            continue
        key = _percent_decode(name.replace(b"+", b" ")).decode("latin-1")
        out.setdefault(key, []).append(_percent_decode(value.replace(b"+", b" ")))
    return out


def parse_query_arguments(query: Union[str, bytes]) -> dict[str, list[bytes]]:
    """The arguments of a request's query string under the process-wide
    limit; too many fields raise ``HTTPInputError``."""
    try:
        return parse_qs_bytes(query, keep_blank_values=True,
                              max_num_fields=_parse_body_config.urlencoded.max_arguments)
    except ValueError as e:
        raise HTTPInputError(f"Invalid query string: {e}") from e


def _refuse_content_encoding(headers: Optional[Union[Mapping[str, str], "RequestHeaders"]]) -> None:
    # A form body is parsed as sent; an encoded one (gzip, ...) is refused
    # rather than read as garbage.
    if headers and "Content-Encoding" in headers:
        raise HTTPInputError(f"Unsupported Content-Encoding: {headers['Content-Encoding']}")


def parse_body_arguments(content_type: str, body: bytes, arguments: dict[str, list[bytes]],
                         files: dict[str, list[HTTPFile]], headers: Optional[Union[Mapping[str, str], "RequestHeaders"]] = None, *,
                         config: Optional[ParseBodyConfig] = None) -> None:
    """Adds the fields of a form body to ``arguments`` (name -> list of
    bytes values) and its uploads to ``files`` (name -> list of
    ``HTTPFile``). Handles ``application/x-www-form-urlencoded`` and
    ``multipart/form-data``; other types are left alone. A malformed body,
    one over the limits of ``config`` and an encoded one
    (``Content-Encoding``) raise ``HTTPInputError`` and add nothing."""
    config = config or _parse_body_config
    if content_type.startswith("application/x-www-form-urlencoded"):
        _refuse_content_encoding(headers)
        try:
            parsed = parse_qs_bytes(body, keep_blank_values=True,
                                    max_num_fields=config.urlencoded.max_arguments)
        except ValueError as e:
            raise HTTPInputError(f"Invalid x-www-form-urlencoded body: {e}") from e
        for name, values in parsed.items():
            arguments.setdefault(name, []).extend(values)
    elif content_type.startswith("multipart/form-data"):
        _refuse_content_encoding(headers)
        kind, params = parse_header(content_type)
        if kind.lower() != "multipart/form-data":  # e.g. multipart/form-dataxyz
            raise HTTPInputError(f"Invalid multipart/form-data: content type {kind!r}")
        boundary = params.get("boundary")
        if not boundary:
            raise HTTPInputError("Invalid multipart/form-data: no boundary")
        parse_multipart_form_data(boundary.encode("utf-8"), body, arguments, files, config=config.multipart)


# RFC 2046 5.1.1: boundary := 0*69<bchars> bcharsnospace, with
# bcharsnospace := DIGIT / ALPHA / "'" / "(" / ")" / "+" / "_" / "," / "-" /
# "." / "/" / ":" / "=" / "?"; bchars adds the space.
_BOUNDARY_RE = re.compile(rb"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")


def parse_multipart_form_data(boundary: bytes, data: bytes, arguments: dict[str, list[bytes]],
                              files: dict[str, list[HTTPFile]], *,
                              config: Optional[ParseMultipartConfig] = None) -> None:
    """Parses a ``multipart/form-data`` body (RFC 7578 over RFC 2046
    5.1.1) whose boundary (from the Content-Type, quotes allowed) is
    ``boundary``. The body is ``--boundary CRLF part`` repeated, each part
    ended by ``CRLF --boundary``, and closed by ``--boundary--`` (what
    follows, the epilogue, is ignored). A part is a header section, an
    empty line, and its content; it must have exactly one
    ``Content-Disposition: form-data; name=...``; with a ``filename`` (or
    ``filename*``) it is a file, whose type defaults to
    ``application/unknown``.

    Refused with ``HTTPInputError``, adding nothing: a boundary outside RFC
    2046's grammar (1 to 70 characters), anything before the first
    delimiter or after a delimiter on its line (no preamble, no padding),
    no close delimiter, more than ``config.max_parts`` parts, a part
    without a header section, one whose header section exceeds
    ``config.max_part_header_size`` octets, is not UTF-8 or has a
    malformed line, and a part that is not form-data or has no name."""
    config = config or _parse_body_config.multipart
    if not config.enabled:
        raise HTTPInputError("multipart/form-data parsing is disabled")
    if len(boundary) >= 2 and boundary.startswith(b'"') and boundary.endswith(b'"'):
        boundary = boundary[1:-1]
    if not _BOUNDARY_RE.fullmatch(boundary):
        raise HTTPInputError(f"Invalid multipart/form-data: bad boundary {boundary[:80]!r}")
    dash_boundary = b"--" + boundary
    delimiter = b"\r\n" + dash_boundary
    if not data.startswith(dash_boundary):
        raise HTTPInputError("Invalid multipart/form-data: does not start with the boundary")
    parts: list[tuple[str, Optional[HTTPFile], bytes]] = []
    pos = len(dash_boundary)
    while not data.startswith(b"--", pos):  # "--" after the boundary: the close delimiter
        if not data.startswith(b"\r\n", pos):
            raise HTTPInputError("Invalid multipart/form-data: junk after a boundary")
        start = pos + 2
        end = data.find(delimiter, start)
        if end < 0:
            raise HTTPInputError("Invalid multipart/form-data: no final boundary")
        after = data[end + len(delimiter):end + len(delimiter) + 2]
        if after not in (b"\r\n", b"--"):
            raise HTTPInputError("Invalid multipart/form-data: junk after a boundary")
        if len(parts) >= config.max_parts:
            raise HTTPInputError("multipart/form-data has too many parts")
        raw = data[start:end]
        # The boundary must not occur in a part (RFC 2046 5.1.1). A line
        # "--boundary" after a bare LF or CR, or a part that ends in
        # "--boundary", is not our delimiter, but a reader that splits on
        # "--boundary" CRLF sees a part boundary there: refused rather
        # than read one way here and another way elsewhere.
        if (raw + b"\r\n").find(dash_boundary + b"\r\n") >= 0:
            raise HTTPInputError("Invalid multipart/form-data: boundary inside a part")
        parts.append(_parse_part(raw, config))
        pos = end + len(delimiter)
    # The epilogue is ignored (RFC 2046 5.1.1), but another close delimiter
    # in it would be the end of the body for a reader that looks for the
    # last one: refused for the same reason.
    if data.find(dash_boundary, pos - len(dash_boundary) + 1) >= 0:
        raise HTTPInputError("Invalid multipart/form-data: boundary after the close delimiter")
    # All parts read: only now is anything handed over.
    for name, upload, value in parts:
        if upload is None:
            arguments.setdefault(name, []).append(value)
        else:
            files.setdefault(name, []).append(upload)


def _parse_part(raw: bytes, config: ParseMultipartConfig) -> tuple[str, Optional[HTTPFile], bytes]:
    end_of_headers = raw.find(b"\r\n\r\n")
    if end_of_headers < 0:
        # RFC 2046 5.1.1: body-part := MIME-part-headers [CRLF *OCTET], so a
        # part may end with its header section (its content is empty).
        if not raw.endswith(b"\r\n"):
            raise HTTPInputError("multipart/form-data missing headers")
        end_of_headers = len(raw) - 2
    if end_of_headers > config.max_part_header_size:
        raise HTTPInputError("multipart/form-data part header too large")
    try:
        text = raw[:end_of_headers].decode("utf-8")
    except UnicodeDecodeError as e:
        raise HTTPInputError("multipart/form-data part headers are not UTF-8") from e
    headers = HTTPHeaders._parse(text, octets=False)
    dispositions = headers.get_list("Content-Disposition")
    if len(dispositions) != 1:
        raise HTTPInputError("multipart/form-data part needs one Content-Disposition")
    disposition, params = parse_header(dispositions[0])
    if disposition.lower() != "form-data":
        raise HTTPInputError(f"Invalid multipart/form-data: disposition {disposition[:40]!r}")
    name = params.get("name")
    if not name:
        raise HTTPInputError("multipart/form-data missing name")
    value = raw[end_of_headers + 4:]  # empty when the part ends with its headers
    filename = params.get("filename")
    if filename:
        ctype = headers.get("Content-Type", "application/unknown")
        return name, HTTPFile(filename=filename, body=value, content_type=ctype), value
    return name, None, value


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


def format_timestamp(ts: Union[int, float, tuple[Any, ...], time.struct_time, datetime.datetime]) -> str:
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


# --- start lines (RFC 9112 3 and 4) ---------------------------------------------

class RequestStartLine(typing.NamedTuple):
    method: str
    path: str
    version: str


class ResponseStartLine(typing.NamedTuple):
    version: str
    code: int
    reason: str


# request-line = method SP request-target SP HTTP-version; method = token;
# the target is checked here only for what cannot be in any of its forms
# (whitespace, controls, DEL); HTTP-version = "HTTP/" DIGIT "." DIGIT.
_VERSION_RE = re.compile(r"HTTP/[0-9]\.[0-9]")
_TARGET_RE = re.compile(r"[\x21-\x7e\x80-\xff]+")
# status-line = HTTP-version SP status-code SP [ reason-phrase ];
# reason-phrase = 1*( HTAB / SP / VCHAR / obs-text ).
_REASON_RE = re.compile(r"[\x09\x20-\x7e\x80-\xff]*")


def parse_request_start_line(line: str) -> RequestStartLine:
    """``"GET /foo HTTP/1.1"`` -> ``RequestStartLine("GET", "/foo", "HTTP/1.1")``;
    anything else is an ``HTTPInputError``."""
    parts = line.split(" ")
    if len(parts) != 3 or not _TOKEN_RE.fullmatch(parts[0]) or not _TARGET_RE.fullmatch(parts[1]):
        raise HTTPInputError("Malformed HTTP request line")
    if not _VERSION_RE.fullmatch(parts[2]):
        raise HTTPInputError(f"Malformed HTTP version in HTTP Request-Line: {parts[2]!r}")
    return RequestStartLine(parts[0], parts[1], parts[2])


def parse_response_start_line(line: str) -> ResponseStartLine:
    """``"HTTP/1.1 200 OK"`` -> ``ResponseStartLine("HTTP/1.1", 200, "OK")``;
    anything else is an ``HTTPInputError``."""
    version, sp1, rest = line.partition(" ")
    code, sp2, reason = rest.partition(" ")
    if (not sp1 or not _VERSION_RE.fullmatch(version) or len(code) != 3 or not code.isascii()
            or not code.isdigit() or not _REASON_RE.fullmatch(reason)):
        raise HTTPInputError("Error parsing response start line")
    return ResponseStartLine(version, int(code), reason)


# --- the delegate interfaces (what a server connection calls) ------------------

class HTTPServerConnectionDelegate:
    """Made by a server for each connection's requests."""

    def start_request(self, server_conn: object, request_conn: "HTTPConnection") -> "HTTPMessageDelegate":
        raise NotImplementedError()

    def on_close(self, server_conn: object) -> None:
        pass


class HTTPMessageDelegate:
    """Receives one message: ``headers_received``, ``data_received`` per
    chunk, then ``finish`` (or ``on_connection_close``)."""

    def headers_received(self, start_line: Union[RequestStartLine, ResponseStartLine],
                         headers: "HTTPHeaders") -> Optional[Any]:
        pass

    def data_received(self, chunk: bytes) -> Optional[Any]:
        pass

    def finish(self) -> None:
        pass

    def on_connection_close(self) -> None:
        pass


class HTTPConnection:
    """What a message delegate writes its response through."""

    def write_headers(self, start_line: Union[RequestStartLine, ResponseStartLine], headers: "HTTPHeaders",
                      chunk: Optional[bytes] = None) -> Any:
        raise NotImplementedError()

    def write(self, chunk: bytes) -> Any:
        raise NotImplementedError()

    def finish(self) -> None:
        raise NotImplementedError()


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
