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

With ``raise_error=False`` a response with an HTTP error status is
returned instead of raised; a failure to get a response (the rows above but
the last) is raised all the same, as Tornado 6 does. A redirect the client
cannot follow (another scheme) raises ``ValueError``. A body refused for
its size, or malformed, is logged on ``squall.general`` at INFO as Tornado
logs it ("Malformed HTTP message from None: <reason>").
"""
from __future__ import annotations

import asyncio
import base64
import functools
import inspect
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
gen_log = logging.getLogger("squall.general")

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
    """A 599 for a timeout; ``str()`` is its message alone, as Tornado's."""

    def __init__(self, message: str) -> None:
        super().__init__(599, message=message)

    def __str__(self) -> str:
        return self.message or "Timeout"


class HTTPStreamClosedError(HTTPClientError):
    """A 599 for a connection that ended without a complete response."""

    def __init__(self, message: str) -> None:
        super().__init__(599, message=message)

    def __str__(self) -> str:
        return self.message or "Stream closed"


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
    __slots__ = ("request", "future", "failed", "client", "id", "drain", "busy", "final", "paused", "producer")

    def __init__(self, client: "AsyncHTTPClient", request: HTTPRequest, future: "asyncio.Future[HTTPResponse]") -> None:
        self.client = client
        self.request = request
        self.future = future
        self.failed: Optional[BaseException] = None
        self.id = 0
        # futures of a body_producer's writes waiting for the upload queue to drain
        self.drain: list[tuple["asyncio.Future[None]", Optional[bytes]]] = []
        # awaitables a streaming_callback returned, not done yet (reading is
        # paused meanwhile, and the response waits for them)
        self.busy = 0
        self.final: Optional[Callable[[], None]] = None
        self.paused = False
        # a body_producer waiting for 100 Continue (expect_100_continue)
        self.producer: Optional[Callable[..., Any]] = None

    def fail(self, exc: BaseException) -> None:
        """Ends the fetch with ``exc`` (a callback of the host failed): the
        core cancels it, and its response then carries ``exc``."""
        if self.failed is None:
            self.failed = exc
            lib.sq_fetch_cancel(self.client.io_loop._loop_ptr(), self.id)

    def callback_failed(self, exc: BaseException) -> None:
        """A header or streaming callback raised: logged as Tornado does, and
        the fetch fails as a closed stream."""
        app_log.error("Uncaught exception", exc_info=(type(exc), exc, exc.__traceback__))
        self.fail(HTTPStreamClosedError("Stream closed"))


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
        # the core says what timed out as Tornado does ("Timeout while
        # resolving h"), then for how long in parentheses: the first part
        return HTTPTimeoutError(message.split(" (", 1)[0] if message.startswith("Timeout") else message or "Timeout")
    if status == b.SQ_ERR_CONNECT:
        return ConnectionRefusedError(111, message or "Connection refused")
    if status == b.SQ_ERR_RESOLVE:
        return socket.gaierror(socket.EAI_NONAME, message or "Name does not resolve")
    if status == b.SQ_ERR_TLS:
        gen_log.warning("SSL Error: %s", message)  # as Tornado logs it (no stack)
        return ssl.SSLError(message or "TLS failure")
    if status == b.SQ_ERR_LIMIT:
        # a body refused for its size: Tornado's 599 (a malformed message)
        gen_log.info("Malformed HTTP message from None: %s (%s)", _reason(message), message)
        return HTTPClientError(599, message=message or "response body too large")
    if status == b.SQ_ERR_INVALID_ARG:
        # a redirect the client cannot follow (another scheme)
        return ValueError("Unsupported url scheme: %s" % (message or ""))
    if status == b.SQ_ERR_PROTOCOL and "response head too large" in message:
        # over max_header_size: what Tornado's stream raises for it
        from .iostream import UnsatisfiableReadError
        gen_log.info("Unsatisfiable read, closing connection: %s", message)
        return UnsatisfiableReadError(message)
    if status == b.SQ_ERR_PROTOCOL:
        gen_log.info("Malformed HTTP message from None: %s (%s)", _reason(message), message)
    return HTTPStreamClosedError(message or "Stream closed")


# the core's refusals, in the words Tornado logs them with
_REASONS = (
    ("decompressed body over", "decompressed body too large"),
    ("bytes is over the limit", "Content-Length too long"),
    ("response body over the limit", "Body too long"),
    ("cannot decompress", "invalid gzip data"),
    ("both Transfer-Encoding and Content-Length", "Message with both Transfer-Encoding and Content-Length"),
    ("conflicting Content-Length values", "Multiple unequal Content-Lengths"),
)


def _reason(message: str) -> str:
    for core, tornado in _REASONS:
        if core in message:
            return tornado
    return message


@c_callback(b.sq_fetch_callback)
def _on_response(ud: int, resp: int) -> None:
    f: Optional[_Fetch] = _FETCHES.pop(ud)
    if f is None:
        return
    for fut, _ in f.drain:
        if not fut.done():
            fut.set_exception(HTTPStreamClosedError("Stream closed"))
    f.drain.clear()
    try:
        if f.busy:
            # a streaming_callback's awaitable is still running: the response
            # waits for it (the view of resp does not outlive this call)
            f.final = _deferred(f, resp)
        else:
            _complete(f, resp)
    except BaseException as e:  # never into C
        app_log.error("Exception completing a fetch", exc_info=True)
        if not f.future.done():
            f.future.set_exception(e)


def _deferred(f: _Fetch, resp: int) -> Callable[[], None]:
    """What ``_complete`` does, with what it reads of ``resp`` read now."""
    snap = _Snapshot(resp, f.request.streaming_callback is None)
    return lambda: _complete(f, snap)


class _Snapshot:
    """A response's fields copied out of the callback's view."""

    def __init__(self, resp: int, want_body: bool) -> None:
        ms = c_double()
        self.times = [ms.value if lib.sq_fetch_response_time(resp, w, byref(ms)) == b.SQ_OK else -1.0
                      for w, _ in _TIME_NAMES]
        self.error = lib.sq_fetch_response_error(resp)
        self.message = _view(lib.sq_fetch_response_message, resp) or ""
        self.status = lib.sq_fetch_response_status(resp)
        self.headers = _read_headers(resp) if self.error == b.SQ_OK else None
        self.url = _view(lib.sq_fetch_response_url, resp)
        self.reason = _view(lib.sq_fetch_response_reason, resp)
        s = sq_str()
        self.body = string_at(s.ptr, s.len) if (want_body and lib.sq_fetch_response_body(resp, byref(s)) == b.SQ_OK
                                                and s.len) else b""


def _complete(f: _Fetch, resp: Union[int, _Snapshot]) -> None:
    fut = f.future
    snap = resp if isinstance(resp, _Snapshot) else _Snapshot(resp, f.request.streaming_callback is None)
    req = f.request
    times: dict[str, float] = {}
    for (_, name), ms in zip(_TIME_NAMES, snap.times):
        if ms >= 0:
            times[name] = ms / 1000.0
    request_time = times.get("total", time.time() - req.start_time)
    if f.failed is not None:
        err: Optional[BaseException] = f.failed
    else:
        err = _error_for(snap.error, snap.message) if snap.error != b.SQ_OK else None
    if err is None and fut.done() and fut.cancelled() and not (200 <= snap.status < 300):
        err = HTTPClientError(snap.status)
    if fut.done():
        if err is not None and fut.cancelled():
            app_log.error("Exception after Future was cancelled", exc_info=(type(err), err, err.__traceback__))
        f.client._raise.pop(id(fut), None)
        return
    if err is not None:
        # raised whatever raise_error says: it spares HTTP statuses only
        f.client._raise_error_for(fut)
        fut.set_exception(err)
        return
    response = HTTPResponse(req, snap.status, headers=snap.headers, buffer=io.BytesIO(snap.body),
                            effective_url=snap.url, reason=snap.reason,
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
        f.callback_failed(e)


@c_callback(b.sq_fetch_chunk_callback)
def _on_chunk(ud: int, data: int, n: int) -> None:
    f: Optional[_Fetch] = _FETCHES.get(ud)
    if f is None or f.failed is not None or f.request.streaming_callback is None:
        return
    try:
        r = f.request.streaming_callback(string_at(data, n) if n else b"")
        if r is not None and inspect.isawaitable(r):
            _await_callback(f, r)
    except Exception as e:
        f.callback_failed(e)


def _await_callback(f: _Fetch, r: Any) -> None:
    """A streaming_callback returned an awaitable (a coroutine function):
    the response is read on once it is done, in order, as Tornado does."""
    from .gen import convert_yielded
    fut = convert_yielded(r)
    if fut.done() and not fut.cancelled() and fut.exception() is None:
        return
    f.busy += 1
    if not f.paused:
        f.paused = True
        lib.sq_fetch_pause_reading(f.client.io_loop._loop_ptr(), f.id)

    def done(x: "asyncio.Future[Any]") -> None:
        f.busy -= 1
        if x.cancelled():
            f.callback_failed(asyncio.CancelledError())
        elif x.exception() is not None:
            f.callback_failed(x.exception())  # type: ignore[arg-type]
        if f.busy == 0:
            if f.final is not None:
                final, f.final = f.final, None
                final()
            elif f.paused:
                f.paused = False
                lib.sq_fetch_resume_reading(f.client.io_loop._loop_ptr(), f.id)
    fut.add_done_callback(done)


@c_callback(b.sq_callback)
def _on_drain(ud: int) -> None:
    f: Optional[_Fetch] = _FETCHES.get(ud)
    if f is None:
        return
    if f.producer is not None:
        producer, f.producer = f.producer, None
        _run_body_producer(f, producer)
    waiting, f.drain = f.drain, []
    for fut, retry in waiting:
        if fut.done():
            continue
        if retry is None:
            fut.set_result(None)
        else:
            _write_body(f, retry, fut)


def _write_body(f: _Fetch, chunk: bytes, fut: "asyncio.Future[None]") -> None:
    st = lib.sq_fetch_body_write(f.client.io_loop._loop_ptr(), f.id, chunk, len(chunk))
    if st == b.SQ_OK:
        fut.set_result(None)
    elif st == b.SQ_BACKPRESSURE:
        f.drain.append((fut, None))  # queued; resolves on drain
    elif st == b.SQ_ERR_LIMIT:
        f.drain.append((fut, chunk))  # not queued: again on drain
    elif st == b.SQ_ERR_INVALID_ARG:
        fut.set_exception(ValueError("body_producer wrote past the request's Content-Length"))
    else:
        fut.set_exception(HTTPStreamClosedError("Stream closed"))


def _run_body_producer(f: _Fetch, producer: Callable[..., Any]) -> None:
    """Calls ``body_producer(write)``; the body ends when what it returned
    is done (or when it returns, if it returns nothing)."""
    loop = asyncio.get_event_loop()

    def write(chunk: Union[bytes, str]) -> "asyncio.Future[None]":
        fut: asyncio.Future[None] = loop.create_future()
        data = chunk.encode("utf-8") if isinstance(chunk, str) else bytes(chunk)
        if f.failed is not None:
            fut.set_exception(HTTPStreamClosedError("Stream closed"))
        else:
            _write_body(f, data, fut)
        return fut

    def finished(exc: Optional[BaseException]) -> None:
        if exc is not None:
            if not f.future.done():
                f.fail(exc)
            return
        st = lib.sq_fetch_body_finish(f.client.io_loop._loop_ptr(), f.id)
        if st == b.SQ_ERR_INVALID_ARG and not f.future.done():
            f.fail(ValueError("body_producer wrote less than the request's Content-Length"))

    try:
        r = producer(write)
    except Exception as e:
        finished(e)
        return
    if r is None:
        finished(None)
        return
    from .gen import convert_yielded
    try:
        done = convert_yielded(r)
    except Exception as e:  # not an awaitable: the fetch fails with it
        finished(e)
        return

    def on_done(x: "asyncio.Future[Any]") -> None:
        if x.cancelled():
            finished(asyncio.CancelledError())
        else:
            finished(x.exception())
    done.add_done_callback(on_done)


class _Queued:
    """A count of requests waiting for a connection, read from the pool
    (``sq_fetch_queued``) when asked."""

    def __init__(self, loop: IOLoop) -> None:
        self._loop = loop

    def __len__(self) -> int:
        from ctypes import c_uint64
        n = c_uint64(0)
        _ffi.check(lib.sq_fetch_queued(self._loop._loop_ptr(), byref(n)))
        return n.value


_CONTEXT_CAS: dict[bytes, str] = {}


def _context_cas(ctx: ssl.SSLContext) -> Optional[str]:
    """The CA certificates an ``SSLContext`` was given (``load_verify_locations``
    with a file or data), as a PEM file the core can read; None when it has
    none loaded (the default roots are then the built-in ones)."""
    ders = ctx.get_ca_certs(binary_form=True)
    if not ders:
        return None
    pem = "".join(ssl.DER_cert_to_PEM_cert(d) for d in ders).encode("ascii")
    path = _CONTEXT_CAS.get(pem)
    if path is None:
        import hashlib
        import os
        import tempfile
        path = os.path.join(tempfile.gettempdir(), "squall-ca-%s-%d.pem" % (hashlib.sha256(pem).hexdigest()[:16], os.getpid()))
        with open(path, "wb") as fh:
            fh.write(pem)
        _CONTEXT_CAS[pem] = path
    return path


class AsyncHTTPClient:
    """Tornado's non-blocking client: one instance per IOLoop unless
    ``force_instance``. ``max_clients`` (default 10), ``max_per_host`` and
    ``idle_timeout`` (seconds) configure squall's connection pool."""

    _instances: dict[tuple[type, int], "AsyncHTTPClient"] = {}
    _config: dict[str, Any] = {}

    def __new__(cls, force_instance: bool = False, **kwargs: Any) -> "AsyncHTTPClient":
        loop = IOLoop.current()
        key = (cls, id(loop))  # one shared instance per class, as Tornado
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
        self.max_clients = int(kwargs.get("max_clients") or 10)
        self.max_body_size = kwargs.get("max_body_size")
        self.max_buffer_size = kwargs.get("max_buffer_size")
        self.max_header_size = kwargs.get("max_header_size")
        self.hostname_mapping = dict(kwargs.get("hostname_mapping") or {})
        self.resolver = kwargs.get("resolver")
        max_clients = kwargs.get("max_clients")
        if max_clients is not None or "max_per_host" in kwargs or "idle_timeout" in kwargs:
            st = lib.sq_fetch_set_limits(loop._loop_ptr(), int(max_clients or 10), int(kwargs.get("max_per_host") or 0),
                                         int(float(kwargs.get("idle_timeout", 60)) * 1000))
            _ffi.check(st)

    @classmethod
    def configure(cls, impl: Any, **kwargs: Any) -> None:
        """``configure(None, max_clients=N, defaults={...})``: settings of
        the instances made afterwards (the implementation is always squall's)."""
        if isinstance(impl, type) and issubclass(impl, AsyncHTTPClient):
            pass
        elif impl not in (None, cls) and not (isinstance(impl, str) and "simple" in impl):
            raise ValueError("squall has one HTTP client implementation")
        cls._config = dict(kwargs)

    @property
    def queue(self) -> "_Queued":
        """The requests waiting for a connection (over ``max_clients``):
        ``len(client.queue)`` as Tornado's. squall's pool is the IOLoop's,
        so this counts the waiting requests of every client on it."""
        return _Queued(self.io_loop)

    @classmethod
    def _save_configuration(cls) -> tuple[Any, dict[str, Any]]:
        """What ``configure`` set, to put back with ``_restore_configuration``
        (Tornado's ``Configurable`` has the pair; its tests use them)."""
        return (None, dict(cls._config))

    @classmethod
    def _restore_configuration(cls, saved: tuple[Any, dict[str, Any]]) -> None:
        cls._config = dict(saved[1])

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
            if self.resolver is not None:
                self._resolve_then_start(request, fut)
            else:
                self._start(request, fut)
        except BaseException:
            self._raise.pop(id(fut), None)
            raise
        return fut

    def _resolve_then_start(self, request: HTTPRequest, fut: "asyncio.Future[HTTPResponse]") -> None:
        """With a ``resolver`` given to the client, the URL's host is resolved
        by it (within the connect timeout, as Tornado's client does) and the
        fetch connects to its first address; the request still names the
        URL's host (``Host``, TLS name)."""
        parts = urllib.parse.urlsplit(request.url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        timeouts = [float(t) for t in (self._option(request, "connect_timeout"), self._option(request, "request_timeout")) if t]
        timeout = min(timeouts) if timeouts else None
        no_ipv6 = request.allow_ipv6 is False or self.defaults.get("allow_ipv6") is False
        family = socket.AF_INET if no_ipv6 else socket.AF_UNSPEC
        mapped = (host, port) in self.hostname_mapping or host in self.hostname_mapping
        resolver = self.resolver
        assert resolver is not None  # this path is taken only with a resolver

        async def go() -> None:
            from .gen import convert_yielded
            try:
                addrs = await asyncio.wait_for(convert_yielded(resolver.resolve(host, port, family)), timeout)
            except asyncio.TimeoutError:
                raise HTTPTimeoutError("Timeout while resolving %s" % host) from None
            if not addrs:
                raise socket.gaierror(socket.EAI_NONAME, "cannot resolve %s" % host)
            address = addrs[0][1]
            self._start(request, fut, connect_to=(address[0], address[1]))

        def done(t: "asyncio.Future[None]") -> None:
            if t.cancelled():
                exc: Optional[BaseException] = asyncio.CancelledError()
            else:
                exc = t.exception()
            if exc is not None and not fut.done():
                self._raise.pop(id(fut), None)
                fut.set_exception(exc)
        if mapped or parts.scheme not in ("http", "https"):
            self._start(request, fut)
            return
        asyncio.ensure_future(go()).add_done_callback(done)

    def _option(self, request: HTTPRequest, name: str) -> Any:
        v = getattr(request, name, None)
        return self.defaults.get(name) if v is None else v

    def _start(self, request: HTTPRequest, fut: "asyncio.Future[HTTPResponse]",
               connect_to: Optional[tuple[str, int]] = None) -> None:
        for name in ("proxy_host", "client_key", "client_cert", "prepare_curl_callback"):
            if getattr(request, name, None) is not None:
                raise NotImplementedError("squall's HTTP client does not support %s" % name)
        verify, ca_certs = self._trust(request)
        method = request.method
        body = request.body
        producer = request.body_producer
        if producer is not None and body is not None:
            raise ValueError("Body and body_producer cannot both be given")
        if not request.allow_nonstandard_methods:
            if producer is not None:
                pass
            elif method in ("POST", "PATCH", "PUT") and body is None:
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
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise ValueError("Unsupported url scheme: %s" % url)
        if connect_to is None and self.hostname_mapping and parts.hostname:
            # connect elsewhere; the request still names the URL's host
            port = parts.port or (443 if parts.scheme == "https" else 80)
            connect_to = self.hostname_mapping.get((parts.hostname, port))
            if connect_to is None and parts.hostname in self.hostname_mapping:
                connect_to = (self.hostname_mapping[parts.hostname], port)
        r = lib.sq_fetch_request_new(method.encode("latin-1"), url.encode("utf-8"))
        if not r:
            raise ValueError("bad request: %s" % (lib.sq_last_error() or b"").decode("utf-8", "replace"))
        try:
            items = request.headers.get_all() if hasattr(request.headers, "get_all") else request.headers.items()
            have_ua = have_ct = False
            length: Optional[int] = None
            for k, v in items:
                have_ua = have_ua or k.lower() == "user-agent"
                have_ct = have_ct or k.lower() == "content-type"
                if k.lower() == "content-length" and producer is not None:
                    length = int(v)
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
            if connect_to is not None:
                h, p = connect_to
                if lib.sq_fetch_request_set_connect_to(r, str(h).encode("idna"), int(p)) != b.SQ_OK:
                    raise ValueError("cannot connect to %r" % (connect_to,))
            if request.allow_ipv6 is False or self.defaults.get("allow_ipv6") is False:
                lib.sq_fetch_request_set_ip_family(r, 4)
            if producer is not None:
                lib.sq_fetch_request_stream_body(r, -1 if length is None else length)
                lib.sq_fetch_request_set_on_drain(r, _on_drain)
            elif body is not None:
                lib.sq_fetch_request_set_body(r, body, len(body))
            if request.expect_100_continue:
                lib.sq_fetch_request_set_expect_continue(r, 1)
            ct = float(self._option(request, "connect_timeout") or 0)
            rt = float(self._option(request, "request_timeout") or 0)
            lib.sq_fetch_request_set_timeouts(r, int(ct * 1000), int(rt * 1000))
            follow = self._option(request, "follow_redirects")
            lib.sq_fetch_request_set_max_redirects(r, int(self._option(request, "max_redirects") or 0) if follow else 0)
            # as Tornado 6.6: past max_redirects, the last 3xx is the response
            lib.sq_fetch_request_set_redirect_overflow(r, 1)
            decompress = self._option(request, "decompress_response")
            # the decompressed size is capped like the body (squall's default: 100 MiB)
            max_body = request.max_body_size if request.max_body_size is not None else self.max_body_size
            limit = int(max_body) if max_body is not None else 100 << 20
            lib.sq_fetch_request_set_decompress(r, 1 if decompress else 0, limit)
            if max_body is not None:
                lib.sq_fetch_request_set_max_body(r, int(max_body))
            if not verify:
                lib.sq_fetch_request_set_verify(r, 0)
            if self.max_header_size:
                lib.sq_fetch_request_set_max_header_size(r, int(self.max_header_size))
            iface = request.network_interface
            if iface is not None:
                if lib.sq_fetch_request_set_source_address(r, str(iface).encode("utf-8", "replace")) != b.SQ_OK:
                    raise ValueError("network_interface %r: squall binds to an IP address, not an "
                                     "interface name" % iface)
            if auth_username is not None:
                # NFC, as Tornado (RFC 7617 2.1: the user-id and password are normalized)
                import unicodedata
                user = unicodedata.normalize("NFC", auth_username)
                password = unicodedata.normalize("NFC", auth_password or "")
                if lib.sq_fetch_request_set_basic_auth(r, user.encode("utf-8"), password.encode("utf-8")) != b.SQ_OK:
                    raise ValueError("basic auth user names cannot contain ':'")
            if ca_certs and verify:
                if lib.sq_fetch_request_set_ca_file(r, str(ca_certs).encode()) != b.SQ_OK:
                    raise ValueError("cannot read CA file %r" % ca_certs)
            if request.header_callback is not None:
                lib.sq_fetch_request_set_on_headers(r, _on_headers)
            if request.streaming_callback is not None:
                lib.sq_fetch_request_set_on_chunk(r, _on_chunk)
        except BaseException:
            lib.sq_fetch_request_free(r)
            raise
        f = _Fetch(self, request, fut)
        f.id = lib.sq_fetch_request_id(r)
        ud = _FETCHES.put(f)
        st = lib.sq_fetch(self.io_loop._loop_ptr(), r, _on_response, ud)  # takes r over, even on failure
        if st != b.SQ_OK:
            _FETCHES.pop(ud)
            raise _ffi.SquallError(st)
        if producer is not None:
            if request.expect_100_continue:
                # the body may go once the server says 100 Continue: the
                # core says so with on_drain (a final response first: never)
                f.producer = producer
            else:
                _run_body_producer(f, producer)

    def _trust(self, request: HTTPRequest) -> tuple[bool, Optional[str]]:
        """Whether https verifies the server's certificate, and the CA file
        it trusts (None: the built-in roots), from ``validate_cert``,
        ``ca_certs`` and ``ssl_options`` (a dict of ``ssl.wrap_socket``
        arguments or an ``ssl.SSLContext``)."""
        verify = self._option(request, "validate_cert") is not False
        ca_certs = self._option(request, "ca_certs")  # the client's defaults too, as Tornado's
        opts = request.ssl_options
        if isinstance(opts, ssl.SSLContext):
            verify = opts.verify_mode != ssl.CERT_NONE
            ca_certs = _context_cas(opts) or None
        elif isinstance(opts, dict):
            for k in opts:
                if k not in ("cert_reqs", "ca_certs"):
                    raise NotImplementedError("squall's HTTP client does not support ssl_options[%r]" % k)
            if "cert_reqs" in opts:
                verify = opts["cert_reqs"] != ssl.CERT_NONE
            ca_certs = opts.get("ca_certs", ca_certs)
        elif opts is not None:
            raise TypeError("ssl_options must be a dict or an ssl.SSLContext")
        return verify, ca_certs


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
