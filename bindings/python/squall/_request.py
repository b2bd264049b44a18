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


class HTTPServerRequest:
    """A request: ``method``, ``uri``, ``path``, ``query``, ``version``,
    ``headers``, ``body``, ``remote_ip``, ``protocol``, ``host``,
    ``arguments``, ``query_arguments``, ``body_arguments``, ``files``,
    ``cookies``, ``request_time()``, ``full_url()``."""

    version = "HTTP/1.1"
    connection = None
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

    def _init_handle(self, req: int, method: str, uri: str, xheaders: bool) -> None:
        self._req = req
        self.method = method
        self.uri = uri
        path, sep, query = uri.partition("?")
        self.path = path
        self.query = query
        self._xheaders = xheaders
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
    def from_handle(cls, req: int, xheaders: bool = False) -> "HTTPServerRequest":
        """Host thread only (it reuses one out-parameter)."""
        s = _HOST_STR
        lib.sq_request_method(req, _HOST_REF)
        method = string_at(s.ptr, s.len).decode("latin-1")
        lib.sq_request_uri(req, _HOST_REF)
        uri = string_at(s.ptr, s.len).decode("latin-1")
        self = cls.__new__(cls)
        self._init_handle(req, method, uri, xheaders)
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
            ip = None
            if self._xheaders:
                h = self.headers
                ip = h.get("X-Real-Ip") or h.get("X-Forwarded-For")
                if ip:
                    ip = ip.split(",")[-1].strip()
            if not ip:
                v = _read(lib.sq_request_remote_ip, self._req)
                ip = v.decode() if v else ""
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
            proto = "http"
            if self._xheaders:
                p = self.headers.get("X-Scheme") or self.headers.get("X-Forwarded-Proto")
                if p:
                    p = p.split(",")[-1].strip().lower()
                    if p in ("http", "https"):
                        proto = p
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
