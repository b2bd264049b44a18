"""``squall.httpclient``: Tornado's ``AsyncHTTPClient`` on ``sq_fetch``.

Connections, pooling, redirects, decompression and TLS are squall's (Rust);
``fetch`` returns an asyncio future resolved on the IOLoop's thread.

Failures map to what Tornado's simple client raises:

============================  =============================================
squall                        raised
============================  =============================================
``SQ_ERR_TIMEOUT``            ``HTTPTimeoutError`` (599)
``SQ_ERR_CONNECT``            ``ConnectionRefusedError`` (an ``OSError``)
``SQ_ERR_RESOLVE``            ``socket.gaierror`` (an ``OSError``)
``SQ_ERR_CLOSED``, ``_PROTOCOL``  ``HTTPStreamClosedError`` (599)
``SQ_ERR_TLS``                ``ssl.SSLError``
``SQ_ERR_LIMIT``              ``HTTPClientError(599, "body too large")``
non-2xx status                ``HTTPClientError(code)`` with ``.response``
============================  =============================================

With ``raise_error=False`` the response is returned instead: for a
transport failure it is a 599 response whose ``error`` is the exception.
"""
from __future__ import annotations

import asyncio
import base64
import functools
import io
import logging
import socket
import ssl
import time
import urllib.parse
from ctypes import byref, c_double, c_size_t, string_at
from typing import Any, Awaitable, Callable, Optional, Union

from . import _ffi
from ._bindings import sq_str
from ._ffi import b, c_callback, lib
from ._slab import Slab
from .httputil import HTTPHeaders
from .ioloop import IOLoop

__all__ = ["HTTPRequest", "HTTPResponse", "HTTPClientError", "HTTPError", "HTTPTimeoutError",
           "HTTPStreamClosedError", "AsyncHTTPClient", "HTTPClient"]

app_log = logging.getLogger("squall.application")

class HTTPClientError(Exception):
    """A failed fetch: ``code`` is the HTTP status (599 when no response
    came), ``response`` the response when there was one."""

    def __init__(self, code: int, message: Optional[str] = None, response: Optional["HTTPResponse"] = None) -> None:
        from http.client import responses
        self.code = code
        self.message = message or responses.get(code, "Unknown")
        self.response = response
        super().__init__(code, message, response)

    def __str__(self) -> str:
        return "HTTP %d: %s" % (self.code, self.message)

    __repr__ = __str__


HTTPError = HTTPClientError


class HTTPTimeoutError(HTTPClientError):
    def __init__(self, message: str) -> None:
        super().__init__(599, message=message)


class HTTPStreamClosedError(HTTPClientError):
    def __init__(self, message: str) -> None:
        super().__init__(599, message=message)


_DEFAULTS = dict(connect_timeout=20.0, request_timeout=20.0, follow_redirects=True, max_redirects=5,
                 decompress_response=True, user_agent=None)


class HTTPRequest:
    """A request for ``AsyncHTTPClient.fetch``; Tornado's arguments."""

    def __init__(self, url: str, method: str = "GET", headers: Any = None, body: Union[bytes, str, None] = None,
                 auth_username: Optional[str] = None, auth_password: Optional[str] = None,
                 auth_mode: Optional[str] = None, connect_timeout: Optional[float] = None,
                 request_timeout: Optional[float] = None, if_modified_since: Any = None,
                 follow_redirects: Optional[bool] = None, max_redirects: Optional[int] = None,
                 user_agent: Optional[str] = None, use_gzip: Optional[bool] = None,
                 network_interface: Optional[str] = None,
                 streaming_callback: Optional[Callable[[bytes], Any]] = None,
                 header_callback: Optional[Callable[[str], Any]] = None,
                 prepare_curl_callback: Any = None, proxy_host: Optional[str] = None, proxy_port: Optional[int] = None,
                 proxy_username: Optional[str] = None, proxy_password: Optional[str] = None,
                 proxy_auth_mode: Optional[str] = None, allow_nonstandard_methods: Optional[bool] = None,
                 validate_cert: Optional[bool] = None, ca_certs: Optional[str] = None, allow_ipv6: Optional[bool] = None,
                 client_key: Optional[str] = None, client_cert: Optional[str] = None, body_producer: Any = None,
                 expect_100_continue: bool = False, decompress_response: Optional[bool] = None,
                 ssl_options: Any = None, max_body_size: Optional[int] = None) -> None:
        # Tornado's arguments squall's client cannot honour are kept (so a
        # request can be built, copied and inspected as in Tornado) and
        # refused when the request is fetched (see AsyncHTTPClient._start).
        self.proxy_host, self.proxy_port = proxy_host, proxy_port
        self.proxy_username, self.proxy_password, self.proxy_auth_mode = proxy_username, proxy_password, proxy_auth_mode
        self.client_key, self.client_cert = client_key, client_cert
        self.network_interface = network_interface
        self.prepare_curl_callback = prepare_curl_callback
        self.body_producer = body_producer
        self.ssl_options = ssl_options
        self.validate_cert = validate_cert
        self.allow_ipv6 = allow_ipv6
        self.expect_100_continue = expect_100_continue
        self.use_gzip = use_gzip
        if auth_mode not in (None, "basic"):
            raise ValueError("unsupported auth_mode %r" % auth_mode)
        self.url = url
        self.method = method.upper()
        self.headers = headers
        if if_modified_since is not None:
            from email.utils import format_datetime
            import datetime
            if isinstance(if_modified_since, (int, float)):
                if_modified_since = datetime.datetime.fromtimestamp(if_modified_since, datetime.timezone.utc)
            elif if_modified_since.tzinfo is None:  # naive: taken as UTC, as Tornado does
                if_modified_since = if_modified_since.replace(tzinfo=datetime.timezone.utc)
            self.headers["If-Modified-Since"] = format_datetime(if_modified_since, usegmt=True)
        self.body = body
        self.auth_username = auth_username
        self.auth_password = auth_password
        self.auth_mode = auth_mode
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self.follow_redirects = follow_redirects
        self.max_redirects = max_redirects
        self.user_agent = user_agent
        self.decompress_response = decompress_response if decompress_response is not None else use_gzip
        self.streaming_callback = streaming_callback
        self.header_callback = header_callback
        self.allow_nonstandard_methods = allow_nonstandard_methods
        self.ca_certs = ca_certs
        self.max_body_size = max_body_size
        self.start_time = time.time()

    @property
    def headers(self) -> Any:
        return self._headers

    @headers.setter
    def headers(self, value: Any) -> None:
        # None is an empty HTTPHeaders; a list of pairs keeps repeated names
        if value is None:
            self._headers = HTTPHeaders()
        elif isinstance(value, dict) or hasattr(value, "get_all"):
            self._headers = value
        else:
            h = HTTPHeaders()
            for k, v in value:
                h.add(k, v)
            self._headers = h

    @property
    def body(self) -> Optional[bytes]:
        return self._body

    @body.setter
    def body(self, value: Union[bytes, str, None]) -> None:
        self._body = value.encode("utf-8") if isinstance(value, str) else value

    def __repr__(self) -> str:
        return "HTTPRequest(%r, %r)" % (self.method, self.url)


class _RequestProxy:
    """A request whose unset (None) attributes read from ``defaults``."""

    def __init__(self, request: HTTPRequest, defaults: Optional[dict[str, Any]]) -> None:
        self.request = request
        self.defaults = defaults

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.request, name)
        if value is not None:
            return value
        if self.defaults is not None:
            return self.defaults.get(name, None)
        return None


class HTTPResponse:
    """A response: ``code``, ``reason``, ``headers``, ``body``, ``buffer``,
    ``effective_url``, ``error``, ``request_time``, ``time_info``."""

    def __init__(self, request: HTTPRequest, code: int, headers: Any = None, buffer: Optional[io.BytesIO] = None,
                 effective_url: Optional[str] = None, error: Optional[BaseException] = None,
                 request_time: Optional[float] = None, time_info: Optional[dict[str, float]] = None,
                 reason: Optional[str] = None, start_time: Optional[float] = None) -> None:
        from http.client import responses
        self.request = request
        self.code = code
        self.reason = reason or responses.get(code, "Unknown")
        self.headers = headers if headers is not None else HTTPHeaders()
        self.buffer = buffer
        self._body: Optional[bytes] = None
        self.effective_url = effective_url or request.url
        self.start_time = start_time
        self.request_time = request_time
        self.time_info = time_info or {}
        if error is None and not (200 <= code < 300):
            error = HTTPClientError(code, message=self.reason, response=self)
        self.error = error

    @property
    def body(self) -> bytes:
        if self.buffer is None:
            return b""
        if self._body is None:
            self._body = self.buffer.getvalue()
        return self._body

    def rethrow(self) -> None:
        if self.error:
            raise self.error

    def __repr__(self) -> str:
        return "HTTPResponse(code=%d, effective_url=%r)" % (self.code, self.effective_url)


# fetches in flight, by userdata index: (client, request, future, chunks state)
_FETCHES = Slab()


class _Fetch:
    __slots__ = ("request", "future", "failed", "client")

    def __init__(self, client: "AsyncHTTPClient", request: HTTPRequest, future: "asyncio.Future[HTTPResponse]") -> None:
        self.client = client
        self.request = request
        self.future = future
        self.failed: Optional[BaseException] = None


def _view(fn: Any, resp: int, *args: Any) -> Optional[str]:
    s = sq_str()
    if fn(resp, *args, byref(s)) != b.SQ_OK:
        return None
    return string_at(s.ptr, s.len).decode("latin-1") if s.len else ""


def _read_headers(resp: int) -> Any:
    h = HTTPHeaders()
    n = c_size_t(0)
    lib.sq_fetch_response_header_count(resp, byref(n))
    name, value = sq_str(), sq_str()
    for i in range(n.value):
        if lib.sq_fetch_response_header_at(resp, i, byref(name), byref(value)) == b.SQ_OK:
            k = string_at(name.ptr, name.len).decode("latin-1")
            v = string_at(value.ptr, value.len).decode("latin-1") if value.len else ""
            h._add(k, v)  # the core has checked the grammar already
    return h


_TIME_NAMES = ((b.SQ_TIME_QUEUE, "queue"), (b.SQ_TIME_NAMELOOKUP, "namelookup"), (b.SQ_TIME_CONNECT, "connect"),
               (b.SQ_TIME_TLS, "appconnect"), (b.SQ_TIME_FIRST_BYTE, "starttransfer"), (b.SQ_TIME_TOTAL, "total"))


def _error_for(status: int, message: str) -> BaseException:
    if status == b.SQ_ERR_TIMEOUT:
        return HTTPTimeoutError(message or "Timeout")
    if status == b.SQ_ERR_CONNECT:
        return ConnectionRefusedError(111, message or "Connection refused")
    if status == b.SQ_ERR_RESOLVE:
        return socket.gaierror(socket.EAI_NONAME, message or "Name does not resolve")
    if status == b.SQ_ERR_TLS:
        return ssl.SSLError(message or "TLS failure")
    if status == b.SQ_ERR_LIMIT:
        return HTTPClientError(599, message=message or "response body too large")
    return HTTPStreamClosedError(message or "Stream closed")


@c_callback(b.sq_fetch_callback)
def _on_response(ud: int, resp: int) -> None:
    f: Optional[_Fetch] = _FETCHES.pop(ud)
    if f is None:
        return
    try:
        _complete(f, resp)
    except BaseException as e:  # never into C
        app_log.error("Exception completing a fetch", exc_info=True)
        if not f.future.done():
            f.future.set_exception(e)


def _complete(f: _Fetch, resp: int) -> None:
    fut = f.future
    if fut.done():
        return
    req = f.request
    times: dict[str, float] = {}
    ms = c_double()
    for which, name in _TIME_NAMES:
        if lib.sq_fetch_response_time(resp, which, byref(ms)) == b.SQ_OK and ms.value >= 0:
            times[name] = ms.value / 1000.0
    request_time = times.get("total", time.time() - req.start_time)
    if f.failed is not None:
        err: BaseException = f.failed
        st = b.SQ_ERR_CLOSED
    else:
        st = lib.sq_fetch_response_error(resp)
        err = _error_for(st, _view(lib.sq_fetch_response_message, resp) or "") if st != b.SQ_OK else None  # type: ignore[assignment]
    if err is not None:
        response = HTTPResponse(req, 599, error=err, request_time=request_time, time_info=times,
                                start_time=req.start_time)
        if f.client._raise_error_for(fut):
            fut.set_exception(err)
        else:
            fut.set_result(response)
        return
    code = lib.sq_fetch_response_status(resp)
    body = b""
    if req.streaming_callback is None:
        s = sq_str()
        if lib.sq_fetch_response_body(resp, byref(s)) == b.SQ_OK and s.len:
            body = string_at(s.ptr, s.len)
    response = HTTPResponse(req, code, headers=_read_headers(resp), buffer=io.BytesIO(body),
                            effective_url=_view(lib.sq_fetch_response_url, resp), reason=_view(lib.sq_fetch_response_reason, resp),
                            request_time=request_time, time_info=times, start_time=req.start_time)
    if response.error is not None and f.client._raise_error_for(fut):
        fut.set_exception(response.error)
    else:
        fut.set_result(response)


@c_callback(b.sq_fetch_callback)
def _on_headers(ud: int, resp: int) -> None:
    f: Optional[_Fetch] = _FETCHES.get(ud)
    if f is None or f.failed is not None or f.request.header_callback is None:
        return
    try:
        cb = f.request.header_callback
        code = lib.sq_fetch_response_status(resp)
        reason = _view(lib.sq_fetch_response_reason, resp) or ""
        cb("HTTP/1.1 %d %s\r\n" % (code, reason))
        h = _read_headers(resp)
        for k, v in h.get_all():
            cb("%s: %s\r\n" % (k, v))
        cb("\r\n")
    except Exception as e:
        app_log.error("Exception in header_callback", exc_info=True)
        f.failed = e


@c_callback(b.sq_fetch_chunk_callback)
def _on_chunk(ud: int, data: int, n: int) -> None:
    f: Optional[_Fetch] = _FETCHES.get(ud)
    if f is None or f.failed is not None or f.request.streaming_callback is None:
        return
    try:
        f.request.streaming_callback(string_at(data, n) if n else b"")
    except Exception as e:
        app_log.error("Exception in streaming_callback", exc_info=True)
        f.failed = e


class AsyncHTTPClient:
    """Tornado's non-blocking client: one instance per IOLoop unless
    ``force_instance``. ``max_clients`` (default 10), ``max_per_host`` and
    ``idle_timeout`` (seconds) configure squall's connection pool."""

    _instances: dict[int, "AsyncHTTPClient"] = {}
    _config: dict[str, Any] = {}

    def __new__(cls, force_instance: bool = False, **kwargs: Any) -> "AsyncHTTPClient":
        loop = IOLoop.current()
        key = id(loop)
        if not force_instance and key in cls._instances and not cls._instances[key]._closed:
            return cls._instances[key]
        inst = super().__new__(cls)
        inst._init(loop, dict(cls._config, **kwargs))
        if not force_instance:
            cls._instances[key] = inst
        return inst

    def __init__(self, force_instance: bool = False, **kwargs: Any) -> None:
        pass

    def _init(self, loop: Optional[IOLoop], kwargs: dict[str, Any]) -> None:
        assert loop is not None
        self.io_loop = loop
        self.defaults = dict(_DEFAULTS)
        self.defaults.update(kwargs.pop("defaults", None) or {})
        self._closed = False
        self._raise: dict[int, bool] = {}
        max_clients = kwargs.get("max_clients")
        if max_clients is not None or "max_per_host" in kwargs or "idle_timeout" in kwargs:
            st = lib.sq_fetch_set_limits(loop._loop_ptr(), int(max_clients or 10), int(kwargs.get("max_per_host") or 0),
                                         int(float(kwargs.get("idle_timeout", 60)) * 1000))
            _ffi.check(st)

    @classmethod
    def configure(cls, impl: Any, **kwargs: Any) -> None:
        """``configure(None, max_clients=N, defaults={...})``: settings of
        the instances made afterwards (the implementation is always squall's)."""
        if impl not in (None, cls) and not (isinstance(impl, str) and "simple" in impl):
            raise ValueError("squall has one HTTP client implementation")
        cls._config = dict(kwargs)

    @classmethod
    def configured_class(cls) -> type:
        """The class ``AsyncHTTPClient()`` makes: always squall's."""
        return AsyncHTTPClient

    def close(self) -> None:
        self._closed = True
        for k, v in list(AsyncHTTPClient._instances.items()):
            if v is self:
                del AsyncHTTPClient._instances[k]

    def _raise_error_for(self, fut: "asyncio.Future[Any]") -> bool:
        return self._raise.pop(id(fut), True)

    def fetch(self, request: Union[str, HTTPRequest], raise_error: bool = True, **kwargs: Any) -> "asyncio.Future[HTTPResponse]":
        if self._closed:
            raise RuntimeError("fetch() called on closed AsyncHTTPClient")
        if not isinstance(request, HTTPRequest):
            request = HTTPRequest(url=request, **kwargs)
        elif kwargs:
            raise ValueError("kwargs can't be used if request is an HTTPRequest object")
        loop = asyncio.get_event_loop()
        fut: asyncio.Future[HTTPResponse] = loop.create_future()
        self._raise[id(fut)] = raise_error
        fut.add_done_callback(lambda f: self._raise.pop(id(f), None))
        try:
            self._start(request, fut)
        except BaseException:
            self._raise.pop(id(fut), None)
            raise
        return fut

    def _option(self, request: HTTPRequest, name: str) -> Any:
        v = getattr(request, name, None)
        return self.defaults.get(name) if v is None else v

    def _start(self, request: HTTPRequest, fut: "asyncio.Future[HTTPResponse]") -> None:
        for name in ("proxy_host", "client_key", "client_cert", "network_interface", "prepare_curl_callback",
                     "body_producer", "ssl_options"):
            if getattr(request, name, None) is not None:
                raise NotImplementedError("squall's HTTP client does not support %s" % name)
        if self._option(request, "validate_cert") is False:
            raise NotImplementedError("squall always verifies certificates: pass ca_certs=<PEM file> to trust "
                                      "a private CA instead of validate_cert=False")
        method = request.method
        body = request.body
        if not request.allow_nonstandard_methods:
            if method in ("POST", "PATCH", "PUT") and body is None:
                raise ValueError("Body must not be None for method %s (unless allow_nonstandard_methods is true)" % method)
            if method not in ("POST", "PATCH", "PUT") and body is not None:
                raise ValueError("Body must be None for method %s (unless allow_nonstandard_methods is true)" % method)
        url = request.url
        auth_username, auth_password = request.auth_username, request.auth_password
        parts = urllib.parse.urlsplit(url)
        if parts.username is not None:
            # user:password@ in the URL is basic auth (RFC 3986 3.2.1 deprecates
            # it, but Tornado's client honours it); it never goes on the wire in the URL
            if auth_username is None:
                auth_username = urllib.parse.unquote(parts.username)
                auth_password = urllib.parse.unquote(parts.password or "")
            netloc = parts.netloc.rpartition("@")[2]
            url = urllib.parse.urlunsplit(parts._replace(netloc=netloc))
        r = lib.sq_fetch_request_new(method.encode("latin-1"), url.encode("utf-8"))
        if not r:
            raise ValueError("bad request: %s" % (lib.sq_last_error() or b"").decode("utf-8", "replace"))
        try:
            items = request.headers.get_all() if hasattr(request.headers, "get_all") else request.headers.items()
            have_ua = have_ct = False
            for k, v in items:
                have_ua = have_ua or k.lower() == "user-agent"
                have_ct = have_ct or k.lower() == "content-type"
                vb = v if isinstance(v, bytes) else str(v).encode("latin-1")
                if lib.sq_fetch_request_set_header(r, k.encode("latin-1"), vb, len(vb)) != b.SQ_OK:
                    raise ValueError("bad request header %r" % k)
            ua = self._option(request, "user_agent")
            if ua and not have_ua:
                ub = ua if isinstance(ua, bytes) else ua.encode("latin-1")
                lib.sq_fetch_request_set_header(r, b"User-Agent", ub, len(ub))
            if method == "POST" and not have_ct:
                # as Tornado's client: a POST body is a form unless said otherwise
                lib.sq_fetch_request_set_header(r, b"Content-Type", b"application/x-www-form-urlencoded", 33)
            if body is not None:
                lib.sq_fetch_request_set_body(r, body, len(body))
            ct = float(self._option(request, "connect_timeout") or 0)
            rt = float(self._option(request, "request_timeout") or 0)
            lib.sq_fetch_request_set_timeouts(r, int(ct * 1000), int(rt * 1000))
            follow = self._option(request, "follow_redirects")
            lib.sq_fetch_request_set_max_redirects(r, int(self._option(request, "max_redirects") or 0) if follow else 0)
            decompress = self._option(request, "decompress_response")
            # the decompressed size is capped like the body (squall's default: 100 MiB)
            limit = int(request.max_body_size) if request.max_body_size is not None else 100 << 20
            lib.sq_fetch_request_set_decompress(r, 1 if decompress else 0, limit)
            if request.max_body_size is not None:
                lib.sq_fetch_request_set_max_body(r, int(request.max_body_size))
            if auth_username is not None:
                # NFC, as Tornado (RFC 7617 2.1: the user-id and password are normalized)
                import unicodedata
                user = unicodedata.normalize("NFC", auth_username)
                password = unicodedata.normalize("NFC", auth_password or "")
                if lib.sq_fetch_request_set_basic_auth(r, user.encode("utf-8"), password.encode("utf-8")) != b.SQ_OK:
                    raise ValueError("basic auth user names cannot contain ':'")
            ca_certs = self._option(request, "ca_certs")  # the client's defaults too, as Tornado's
            if ca_certs:
                if lib.sq_fetch_request_set_ca_file(r, str(ca_certs).encode()) != b.SQ_OK:
                    raise ValueError("cannot read CA file %r" % ca_certs)
            if request.header_callback is not None:
                lib.sq_fetch_request_set_on_headers(r, _on_headers)
            if request.streaming_callback is not None:
                lib.sq_fetch_request_set_on_chunk(r, _on_chunk)
        except BaseException:
            lib.sq_fetch_request_free(r)
            raise
        ud = _FETCHES.put(_Fetch(self, request, fut))
        st = lib.sq_fetch(self.io_loop._loop_ptr(), r, _on_response, ud)  # takes r over, even on failure
        if st != b.SQ_OK:
            _FETCHES.pop(ud)
            raise _ffi.SquallError(st)


class HTTPClient:
    """The blocking client: runs its own IOLoop (on a private asyncio loop)
    in the calling thread for each ``fetch``."""

    def __init__(self, **kwargs: Any) -> None:
        self._io_loop = IOLoop(make_current=False)
        self._kwargs = kwargs
        self._client: Optional[AsyncHTTPClient] = None
        self._closed = False

    def fetch(self, request: Union[str, HTTPRequest], **kwargs: Any) -> HTTPResponse:
        if self._closed:
            raise RuntimeError("fetch() called on closed HTTPClient")

        async def run() -> HTTPResponse:
            if self._client is None:
                self._client = AsyncHTTPClient(force_instance=True, **self._kwargs)
            return await self._client.fetch(request, **kwargs)
        previous = IOLoop._instances.get(self._io_loop.asyncio_loop)
        IOLoop._instances[self._io_loop.asyncio_loop] = self._io_loop
        try:
            return self._io_loop.asyncio_loop.run_until_complete(self._attach_and(run))
        finally:
            if previous is None:
                IOLoop._instances.pop(self._io_loop.asyncio_loop, None)

    async def _attach_and(self, fn: Callable[[], Awaitable[HTTPResponse]]) -> HTTPResponse:
        r = await fn()
        return r

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._io_loop.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
