"""The request as a Python handler sees it (Tornado's ``HTTPServerRequest``).

A request is a squall handle (an int) plus what was read from it. The
method and target are read at once (routing needs them); headers, body,
remote address and arguments are read from squall on first use and kept.
The handle stays valid until the response is finished; ``_freeze()`` reads
everything first when something may look at the request afterwards.
"""
from __future__ import annotations

import time
import urllib.parse
from ctypes import byref, c_size_t, string_at
from typing import Any, Iterator, Optional, Union

from ._ffi import b, lib
from ._bindings import sq_str
from .httputil import HTTPHeaders, _canonical

_OK = b.SQ_OK
_NOT_FOUND = b.SQ_ERR_NOT_FOUND


# One out-parameter reused by code that runs only on the host thread.
_HOST_STR = sq_str()
_HOST_REF = byref(_HOST_STR)


class RequestGone(RuntimeError):
    """The request was read after its response finished (the handle is stale)."""


def _read(fn: Any, req: int, *args: Any) -> Optional[bytes]:
    s = sq_str()
    st = fn(req, *args, byref(s))
    if st == _OK:
        return string_at(s.ptr, s.len) if s.len else b""
    if st == _NOT_FOUND:
        return None
    raise RequestGone(f"the request can no longer be read (squall status {st}): read it before finishing the response")




class RequestHeaders:
    """Read-only, case-insensitive view of the request's headers, read from
    squall lazily: a single lookup is one call into squall; iterating reads
    every header line once."""

    __slots__ = ("_req", "_lines", "_dict")

    def __init__(self, req: int) -> None:
        self._req = req
        self._lines: Optional[list[tuple[str, str]]] = None
        self._dict: Optional[dict[str, list[str]]] = None

    def _load(self) -> dict[str, list[str]]:
        if self._dict is None:
            n = c_size_t(0)
            st = lib.sq_request_header_count(self._req, byref(n))
            if st != _OK:
                raise RequestGone("request headers read after the response finished")
            lines = []
            name, value = sq_str(), sq_str()
            for i in range(n.value):
                if lib.sq_request_header_at(self._req, i, byref(name), byref(value)) != _OK:
                    break
                lines.append((string_at(name.ptr, name.len).decode("latin-1"),
                              string_at(value.ptr, value.len).decode("latin-1") if value.len else ""))
            d: dict[str, list[str]] = {}
            for k, v in lines:
                d.setdefault(_canonical(k), []).append(v)
            self._lines = lines
            self._dict = d
        return self._dict

    def get(self, name: str, default: Any = None) -> Any:
        if self._dict is None:
            v = _read(lib.sq_request_header, self._req, name.encode("latin-1"))
            return default if v is None else v.decode("latin-1")
        vals = self._dict.get(_canonical(name))
        return ",".join(vals) if vals else default

    def __getitem__(self, name: str) -> str:
        v: Optional[str] = self.get(name)
        if v is None:
            raise KeyError(name)
        return v

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def get_list(self, name: str) -> list[str]:
        return list(self._load().get(_canonical(name), []))

    def get_all(self) -> Iterator[tuple[str, str]]:
        d = self._load()
        for k, vals in d.items():
            for v in vals:
                yield k, v

    def keys(self) -> list[str]:
        return list(self._load().keys())

    def items(self) -> list[tuple[str, str]]:
        return [(k, ",".join(v)) for k, v in self._load().items()]

    def values(self) -> list[str]:
        return [",".join(v) for v in self._load().values()]

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._load())

    def __repr__(self) -> str:
        return f"RequestHeaders({dict(self.items())!r})"

    def copy(self) -> dict[str, str]:
        return dict(self.items())


def _parse_qs(qs: str) -> dict[str, list[bytes]]:
    """The query's arguments; too many fields raise ``HTTPInputError``."""
    from . import httputil
    return httputil.parse_query_arguments(qs)


class XHeaders:
    """``xheaders=True``: the server is behind a proxy, so a request's
    ``remote_ip`` and ``protocol`` are what the proxy says.

    ``remote_ip``: ``X-Real-Ip`` when present, else the rightmost address
    of ``X-Forwarded-For`` that is not one of ``trusted`` (the proxies'
    own addresses, ``trusted_downstream``), else the peer's address; a
    value that is not a literal IPv4/IPv6 address is ignored (the peer's
    address stays). ``protocol``: the last comma-separated item of
    ``X-Scheme`` (else of ``X-Forwarded-Proto``) when it is exactly
    ``http`` or ``https``, else the server's own."""

    __slots__ = ("trusted",)

    def __init__(self, trusted: Any = ()) -> None:
        self.trusted = frozenset(trusted or ())

    @staticmethod
    def of(http_server: Any, settings: Any) -> "Union[XHeaders, bool]":
        """What a route passes to ``from_handle``: the ``HTTPServer``'s
        ``xheaders`` and ``trusted_downstream``, else the application's
        ``xheaders`` setting; False when off."""
        if http_server is not None:
            on = bool(getattr(http_server, "xheaders", False))
            trusted = getattr(http_server, "trusted_downstream", ())
        else:
            on, trusted = bool(settings.get("xheaders")), ()
        return XHeaders(trusted) if on else False

    def remote_ip(self, headers: Any, peer: str) -> str:
        from .netutil import is_valid_ip
        ip = peer
        forwarded = headers.get("X-Forwarded-For")
        if forwarded:
            items = [c.strip() for c in forwarded.split(",")]
            ip = items[0]
            for cand in reversed(items):
                if cand not in self.trusted:
                    ip = cand
                    break
        ip = str(headers.get("X-Real-Ip") or ip)
        return ip if ip != peer and is_valid_ip(ip) else peer

    @staticmethod
    def protocol(headers: Any, own: str) -> str:
        p: Optional[str] = headers.get("X-Scheme") or headers.get("X-Forwarded-Proto")
        if p:
            last = p.split(",")[-1].strip()
            if last in ("http", "https"):
                return last
        return own


# What squall's Rust side allows a request body by default (max_body_size):
# also the bound of a body inflated by decompress_request.
DEFAULT_MAX_BODY_SIZE = 64 << 20
_INFLATE_STEP = 64 << 10


def gunzip_bounded(data: bytes, limit: int) -> bytes:
    """Inflates a gzip body (one member or several one after another) to at
    most ``limit`` bytes, ``_INFLATE_STEP`` at a time, so a small body that
    would inflate to far more is refused having held little more than
    ``limit``. Raises ``HTTPInputError`` ("invalid gzip data: ...",
    "decompressed body too large")."""
    import zlib
    from .httputil import HTTPInputError
    out = bytearray()
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    pending = data
    while True:
        try:
            piece = d.decompress(pending, _INFLATE_STEP)
        except zlib.error as e:
            raise HTTPInputError(f"invalid gzip data: {e}") from None
        out += piece
        if len(out) > limit:
            raise HTTPInputError("decompressed body too large")
        pending = d.unconsumed_tail
        if d.eof:
            pending = d.unused_data
            if not pending:
                return bytes(out)
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)  # the next member
        elif not pending and not piece:
            raise HTTPInputError("invalid gzip data: the stream ends before its end")


def inflate_limit(http_server: Any) -> Optional[int]:
    """The bound of inflated bodies when ``http_server`` was made with
    ``decompress_request=True`` (its ``max_body_size``, else squall's
    default), else None."""
    if http_server is None or not getattr(http_server, "decompress_request", False):
        return None
    limit = getattr(http_server, "max_body_size", None)
    return int(limit) if limit is not None else DEFAULT_MAX_BODY_SIZE


def refuse_malformed(req: int, request: "HTTPServerRequest", error: Exception) -> None:
    """Answers 400 for a request whose body cannot be read (bad gzip, too
    large once inflated) without calling a handler, logging the refusal
    as Tornado's server does (``squall.general``, INFO, "Malformed HTTP
    message from <ip>: <why>")."""
    import logging
    logging.getLogger("squall.general").info("Malformed HTTP message from %s: %s", request.remote_ip, error)
    body = b"400 Bad Request\n"
    lib.sq_respond(req, 400, None, 0, body, len(body))


def inflate_request(request: "HTTPServerRequest", limit: int) -> None:
    """``decompress_request``: a body sent with ``Content-Encoding: gzip``
    (any case) is replaced by its inflated bytes and the header renamed
    ``X-Consumed-Content-Encoding`` (the handler sees a plain body, as
    Tornado's). Raises ``HTTPInputError`` for bad gzip or an inflated body
    over ``limit``; does nothing for other requests."""
    enc = request.headers.get("Content-Encoding")
    if enc is None or enc.strip().lower() != "gzip":
        return
    body = gunzip_bounded(request.body, limit)
    headers = HTTPHeaders()
    for k, v in request.headers.get_all():
        if k.lower() == "content-encoding":
            headers.add("X-Consumed-Content-Encoding", v)
        else:
            headers.add(k, v)
    request._headers = headers
    request._body = body


class HTTPServerRequest:
    """A request: ``method``, ``uri``, ``path``, ``query``, ``version``,
    ``headers``, ``body``, ``remote_ip``, ``protocol``, ``host``,
    ``arguments``, ``query_arguments``, ``body_arguments``, ``files``,
    ``cookies``, ``request_time()``, ``full_url()``."""

    version = "HTTP/1.1"
    connection = None
    # "https" under TLS or HTTPServer(protocol=...); from_handle sets it
    _server_protocol: Optional[str] = None
    _remote_ip_set = False  # remote_ip assigned by the application (then not read from squall)

    # Set by _init_handle (every request) and then by __init__ (one made by
    # hand): declared once here for type checkers.
    _headers: Optional[Union[RequestHeaders, HTTPHeaders]]
    _body: Optional[bytes]
    _host: Optional[str]
    _remote_ip: Optional[str]
    _protocol: Optional[str]
    _query_arguments: Optional[dict[str, list[bytes]]]
    _body_arguments: Optional[dict[str, list[bytes]]]
    _files: Optional[dict[str, list[Any]]]

    def __init__(self, method: Optional[str] = None, uri: Optional[str] = None, version: str = "HTTP/1.0",
                 headers: Any = None, body: Optional[bytes] = None, host: Optional[str] = None,
                 files: Optional[dict[str, list[Any]]] = None, connection: Any = None, start_line: Any = None,
                 server_connection: Any = None) -> None:
        """A request made by hand (tests, WSGI-like callers), with Tornado's
        arguments; the query is parsed now (``HTTPInputError`` when it is
        malformed or too long). Requests squall serves are made by
        ``from_handle`` and read from squall lazily."""
        if start_line is not None:
            method, uri, version = start_line
        self._init_handle(0, method or "GET", uri or "/", False)
        self.version = version
        from .httputil import parse_query_arguments
        self._headers = headers if headers is not None else HTTPHeaders()
        self._body = body or b""
        self._host = host
        context = getattr(connection, "context", None)
        self._remote_ip = getattr(context, "remote_ip", None)
        self._protocol = getattr(context, "protocol", "http")
        self._files = files or {}
        self.connection = connection
        self.server_connection = server_connection
        self._query_arguments = parse_query_arguments(self.query)
        self._body_arguments = {}

    def _init_handle(self, req: int, method: str, uri: str, xheaders: Union[XHeaders, bool]) -> None:
        self._req = req
        self.method = method
        self.uri = uri
        path, sep, query = uri.partition("?")
        self.path = path
        self.query = query
        self._xheaders: Optional[XHeaders] = XHeaders() if xheaders is True else (xheaders or None)
        self._start_time = time.time()
        self._finish_time: Optional[float] = None
        self._headers = None
        self._body = None
        self._host = None
        self._remote_ip = None
        self._protocol = None
        self._query_arguments = None
        self._body_arguments = None
        self._arguments: Optional[dict[str, list[bytes]]] = None
        self._files = None
        self._cookies: Any = None
        self.path_args: list[str] = []
        self.path_kwargs: dict[str, str] = {}

    @classmethod
    def from_handle(cls, req: int, xheaders: Union[XHeaders, bool] = False,
                    protocol: Optional[str] = None) -> "HTTPServerRequest":
        """Host thread only (it reuses one out-parameter). ``xheaders``:
        an ``XHeaders`` (True: one trusting no proxy) or False;
        ``protocol``: the server's ("http" when None)."""
        s = _HOST_STR
        lib.sq_request_method(req, _HOST_REF)
        method = string_at(s.ptr, s.len).decode("latin-1")
        lib.sq_request_uri(req, _HOST_REF)
        uri = string_at(s.ptr, s.len).decode("latin-1")
        self = cls.__new__(cls)
        self._init_handle(req, method, uri, xheaders)
        if protocol:
            self._server_protocol = protocol
        return self

    # --- lazily read parts -----------------------------------------------------

    @property
    def headers(self) -> Union[RequestHeaders, HTTPHeaders]:
        if self._headers is None:
            self._headers = RequestHeaders(self._req)
        return self._headers

    @property
    def body(self) -> bytes:
        if self._body is None:
            self._body = _read(lib.sq_request_body, self._req) or b""
        return self._body

    @body.setter
    def body(self, value: bytes) -> None:
        self._body = value

    @property
    def remote_ip(self) -> str:
        if self._remote_ip is None and self._req and not self._remote_ip_set:
            v = _read(lib.sq_request_remote_ip, self._req)
            ip = v.decode() if v else ""
            if self._xheaders:
                ip = self._xheaders.remote_ip(self.headers, ip)
            self._remote_ip = ip
        # None only on a request built by hand without a connection context,
        # as Tornado gives there; a served request always has a str.
        return self._remote_ip  # type: ignore[return-value]

    @remote_ip.setter
    def remote_ip(self, value: str) -> None:
        self._remote_ip = value
        self._remote_ip_set = True  # None too: a handler may clear it (Tornado's logs say "(None)")

    @property
    def protocol(self) -> str:
        if self._protocol is None:
            proto = self._server_protocol or "http"
            if self._xheaders:
                proto = XHeaders.protocol(self.headers, proto)
            self._protocol = proto
        return self._protocol

    @protocol.setter
    def protocol(self, value: str) -> None:
        self._protocol = value

    @property
    def host(self) -> str:
        if self._host is not None:
            return self._host
        return self.headers.get("Host") or "127.0.0.1"

    @host.setter
    def host(self, value: str) -> None:
        self._host = value

    @property
    def host_name(self) -> str:
        host = self.host
        if host.startswith("["):
            return host[1:].partition("]")[0]
        return host.rpartition(":")[0] if ":" in host else host

    @property
    def query_arguments(self) -> dict[str, list[bytes]]:
        if self._query_arguments is None:
            self._query_arguments = _parse_qs(self.query)
        return self._query_arguments

    def _parse_body(self) -> None:
        args: dict[str, list[bytes]] = {}
        files: dict[str, list[Any]] = {}
        ctype = self.headers.get("Content-Type", "")
        if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")) \
                and self.method not in ("GET", "HEAD"):
            from . import httputil
            body = self.body
            if body:
                # Raises HTTPInputError on a malformed body; nothing is
                # kept then, so every later read raises again.
                httputil.parse_body_arguments(ctype, body, args, files, self.headers)
        self._body_arguments, self._files = args, files

    @property
    def body_arguments(self) -> dict[str, list[bytes]]:
        if self._body_arguments is None:
            self._parse_body()
        assert self._body_arguments is not None
        return self._body_arguments

    @property
    def files(self) -> dict[str, list[Any]]:
        if self._files is None:
            self._parse_body()
        assert self._files is not None
        return self._files

    @property
    def arguments(self) -> dict[str, list[bytes]]:
        if self._arguments is None:
            merged = {k: list(v) for k, v in self.query_arguments.items()}
            for k, v in self.body_arguments.items():
                merged.setdefault(k, []).extend(v)
            self._arguments = merged
        return self._arguments

    @property
    def cookies(self) -> Any:
        if self._cookies is None:
            import http.cookies
            c: Any = http.cookies.SimpleCookie()
            header = self.headers.get("Cookie")
            if header:
                from . import httputil
                for k, v in httputil.parse_cookie(header).items():
                    try:
                        c[k] = v
                    except Exception:
                        pass
            self._cookies = c
        return self._cookies

    def _freeze(self) -> None:
        """Reads everything from squall now (the handle is about to go stale)."""
        try:
            h = self.headers
            if isinstance(h, RequestHeaders):  # one made by hand holds HTTPHeaders, nothing to read
                h._load()
            _ = self.body, self.remote_ip
        except RequestGone:
            pass

    def full_url(self) -> str:
        return f"{self.protocol}://{self.host}{self.uri}"

    def request_time(self) -> float:
        end = self._finish_time if self._finish_time is not None else time.time()
        return end - self._start_time

    def __repr__(self) -> str:
        # never the headers: they may carry credentials
        return f"HTTPServerRequest(method={self.method!r}, uri={self.uri!r}, remote_ip={self.remote_ip!r})"
