"""``HTTPServer(delegate)``: serving an ``httputil.HTTPServerConnectionDelegate``
(a ``routing.Router``...) or a plain ``request_callback(request)``, as
Tornado's ``HTTPServer`` does.

squall's Rust server still parses the request and writes the response; one
catch-all route (``.*``, with ``SQ_STREAM_BODY``) hands every request to
Python. For each one a ``RequestConnection`` is made: it is
``request.connection`` (Tornado's ``HTTPConnection``: ``write_headers``,
``write``, ``finish``, ``set_close_callback``, ``set_max_body_size``,
``set_body_timeout``) and it drives the message delegate:
``headers_received`` when the head is in (inside squall's handler call),
``data_received`` for each piece of the body (at most ``chunk_size`` bytes;
a body with a Content-Length is cut in pieces of exactly ``chunk_size`` as
Tornado reads it; gunzipped first with ``decompress_request``), ``finish`` at
its end, ``on_connection_close`` if the client leaves first.

The response goes out through squall's response calls: a response that
declares a Content-Length is held until ``finish`` (up to 64 KiB, then sent
chunked) and must match it (``HTTPOutputError`` otherwise, as Tornado); one
without is chunked, each ``write`` sent at once. squall writes the framing
headers itself (Content-Length, Transfer-Encoding, Connection, Date). The
legacy interface that writes a whole response as bytes through
``connection.write`` (no ``write_headers``) is understood: the head is
parsed and sent through the same calls. What squall cannot do is said so:
interim (1xx) responses, ``detach()`` and the raw ``connection.stream``.

An exception from the delegate is logged ("Uncaught exception", as Tornado
does) and ends the exchange as Tornado's does: the connection is closed
without (the rest of) a response (``sq_request_abort``). A malformed body
(bad gzip, past ``set_max_body_size``) gets 400.
"""
from __future__ import annotations

import asyncio
import inspect
import logging
import re
import time
import types
import zlib
from ctypes import byref, c_uint32, string_at
from typing import Any, Callable, Optional, Union

from ._ffi import b, c_callback, lib
from ._request import HTTPServerRequest, RequestHeaders, XHeaders
from .httputil import (HTTPConnection, HTTPHeaders, HTTPInputError, HTTPOutputError,
                       HTTPServerConnectionDelegate, RequestStartLine, ResponseStartLine, parse_response_start_line)

app_log = logging.getLogger("squall.application")
gen_log = logging.getLogger("squall.general")

__all__ = ["RequestConnection", "install_delegate"]

# Connections waiting for body pieces or for their client to leave, by
# request handle (the callbacks' userdata; squall never dereferences it).
_LIVE: dict[int, "RequestConnection"] = {}

_HOLD_LIMIT = 64 << 10
_CONTENT_LENGTH_RE = re.compile(r"[0-9]+")


@c_callback(b.sq_body_callback)
def _on_body(ud: int, req: int, data: int, n: int, last: int) -> None:
    conn = _LIVE.get(ud)
    if conn is not None:
        conn._body(string_at(data, n) if n else b"", bool(last))


@c_callback(b.sq_callback)
def _on_close(ud: int) -> None:
    conn = _LIVE.pop(ud, None)
    if conn is not None:
        conn._client_left()


def _done_future(exc: Optional[BaseException] = None) -> "asyncio.Future[None]":
    fut: asyncio.Future[None] = asyncio.get_event_loop().create_future()
    if exc is None:
        fut.set_result(None)
    else:
        fut.set_exception(exc)
        fut.exception()  # retrieved: no warning when the caller does not await it
    return fut


_DEFAULT_SERVER = types.SimpleNamespace(xheaders=False, protocol=None, chunk_size=65536, decompress=False)


def install_delegate(srv: Any, http_server: Any, delegate: Any) -> None:
    """Routes every request of ``srv`` to ``delegate`` (host thread)."""
    srv.route("*", ".*", _DelegateRoute(http_server or _DEFAULT_SERVER, delegate), b.SQ_STREAM_BODY)


class _DelegateRoute:
    """What squall calls for each request of a delegate server."""

    def __init__(self, http_server: Any, delegate: Any) -> None:
        self.http_server = http_server
        self.delegate = delegate

    def __call__(self, req: int) -> None:
        srv = self.http_server
        # trusted_downstream too; the server's protocol under X-Scheme
        request = HTTPServerRequest.from_handle(req, XHeaders.of(srv, {}), srv.protocol)
        major, minor = c_uint32(1), c_uint32(1)
        if lib.sq_request_version(req, byref(major), byref(minor)) == b.SQ_OK:
            request.version = "HTTP/%d.%d" % (major.value, minor.value)
        raw = RequestHeaders(req)
        raw._load()
        headers = HTTPHeaders()
        for k, v in raw._lines or ():
            headers.add(k, v)
        request._headers = headers
        conn = RequestConnection(req, request, srv.chunk_size)
        request.connection = conn
        request.server_connection = srv
        if isinstance(self.delegate, HTTPServerConnectionDelegate) or hasattr(self.delegate, "start_request"):
            md = self.delegate.start_request(srv, conn)
        else:
            from .routing import _CallableAdapter
            md = _CallableAdapter(self.delegate, conn, srv)
        if srv.decompress and headers.get("Content-Encoding", "").lower() == "gzip":
            headers.add("X-Consumed-Content-Encoding", headers["Content-Encoding"])
            del headers["Content-Encoding"]
            conn._gunzip = zlib.decompressobj(16 + zlib.MAX_WBITS)
        conn._coalesce = "Content-Length" in headers and conn._gunzip is None
        conn._start(md, RequestStartLine(request.method, request.uri, request.version), headers)


class RequestConnection(HTTPConnection):
    """``request.connection`` of a request served to a delegate: Tornado's
    ``HTTPConnection`` over squall's response calls (host thread only)."""

    def __init__(self, req: int, request: HTTPServerRequest, chunk_size: int) -> None:
        self._req = req
        self._request = request
        self._chunk_size = max(1, int(chunk_size))
        self._md: Any = None
        self._gunzip: Any = None
        self._coalesce = False
        self._pending = bytearray()
        self._queue: list[Optional[bytes]] = []
        self._busy = False
        self._in_handler = False
        self._body_done = False
        self._received = 0
        self._max_body_size: Optional[int] = None
        self._body_timer: Any = None
        # the response
        self._started = False      # write_headers was called (or a raw head parsed)
        self._head_sent = False    # squall has the head (sq_response_flush called)
        self._finished = False
        self._failed = False
        self._closed = False
        self._status = 200
        self._reason: Optional[str] = None
        self._headers: list[tuple[str, str]] = []
        self._expected: Optional[int] = None
        self._written = 0
        self._held: list[bytes] = []
        self._held_len = 0
        self._raw: Optional[bytearray] = None
        self._close_callback: Optional[Callable[[], Any]] = None

    # --- what Tornado's HTTPConnection offers ------------------------------------

    @property
    def context(self) -> Any:
        """``remote_ip``, ``protocol`` and ``address`` of the client."""
        r = self._request
        port = getattr(r, "_remote_port", None)
        return types.SimpleNamespace(remote_ip=r.remote_ip, protocol=r.protocol, address=(r.remote_ip, port))

    @property
    def stream(self) -> Any:
        raise NotImplementedError("squall's connections are in Rust: there is no IOStream under "
                                  "request.connection; write the response with write_headers/write/finish")

    def detach(self) -> Any:
        raise NotImplementedError("squall's connections are in Rust: detach() is not available")

    def set_close_callback(self, callback: Optional[Callable[[], Any]]) -> None:
        """``callback()`` runs once if the client leaves before the response
        is finished."""
        self._close_callback = callback

    def set_max_body_size(self, max_body_size: int) -> None:
        """A smaller limit for this request's body (squall's server limit,
        ``max_body_size``, still applies first): past it the request gets 400."""
        self._max_body_size = max_body_size

    def set_body_timeout(self, timeout: float) -> None:
        """The body must be in within ``timeout`` seconds from now, or the
        connection is closed (the server's ``body_timeout`` still applies)."""
        from .ioloop import IOLoop
        if self._body_timer is not None:
            IOLoop.current().remove_timeout(self._body_timer)
        self._body_timer = IOLoop.current().call_later(timeout, self._body_timed_out)

    def write_headers(self, start_line: Union[RequestStartLine, ResponseStartLine], headers: HTTPHeaders,
                      chunk: Optional[bytes] = None) -> "asyncio.Future[None]":
        if isinstance(start_line, RequestStartLine):
            raise HTTPOutputError("a server connection writes a ResponseStartLine")
        if self._finished:
            raise HTTPOutputError("write_headers() after finish()")
        if self._started:
            raise HTTPOutputError("write_headers() called twice")
        code = int(start_line.code)
        if 100 <= code < 200:
            raise HTTPOutputError("squall's server does not send interim (1xx) responses")
        cl = headers.get("Content-Length")
        expected = None
        if cl is not None:
            if not _CONTENT_LENGTH_RE.fullmatch(cl.strip()):
                raise HTTPOutputError("Only integer Content-Length is allowed: %s" % cl)
            expected = int(cl.strip())
        if "Transfer-Encoding" in headers and cl is not None:
            raise HTTPOutputError("Response with both Transfer-Encoding and Content-Length")
        if self._request.method == "HEAD" or code in (204, 304):
            expected = 0 if expected is not None or code in (204, 304) else None
        self._status = code
        self._reason = start_line.reason or None
        self._headers = list(headers.get_all())
        self._expected = expected
        self._started = True
        if chunk:
            return self.write(chunk)
        return _done_future()

    def write(self, chunk: bytes) -> "asyncio.Future[None]":
        if self._finished:
            raise HTTPOutputError("write() after finish()")
        if not self._started:
            return self._write_raw(chunk)
        if self._closed:
            from .iostream import StreamClosedError
            return _done_future(StreamClosedError())
        if not chunk:
            return _done_future()
        if self._expected is not None:
            self._written += len(chunk)
            if self._written > self._expected:
                self._abort()  # as Tornado closes the stream
                raise HTTPOutputError("Tried to write more data than Content-Length")
            self._held.append(chunk)
            self._held_len += len(chunk)
            if self._held_len <= _HOLD_LIMIT:
                return _done_future()
        else:
            self._held.append(chunk)
        self._send_head()
        self._send_held()
        st = lib.sq_response_flush(self._req)
        if st == b.SQ_ERR_CLOSED:
            self._closed = True
            from .iostream import StreamClosedError
            return _done_future(StreamClosedError())
        return _done_future()

    def finish(self) -> None:
        if self._finished:
            raise HTTPOutputError("finish() called twice")
        if not self._started:
            if self._raw:
                raise HTTPOutputError("finish() before a whole response head was written")
            raise HTTPOutputError("finish() before write_headers()")
        if self._expected is not None and self._written < self._expected and not self._failed:
            self._abort()  # as Tornado closes the stream
            raise HTTPOutputError("Tried to write %d bytes less than Content-Length"
                                  % (self._expected - self._written))
        self._send_head()
        self._send_held()
        lib.sq_response_finish(self._req)
        self._release()

    # --- the legacy interface: a whole response written as bytes ---------------

    def _write_raw(self, chunk: bytes) -> "asyncio.Future[None]":
        if self._raw is None:
            self._raw = bytearray()
        self._raw += chunk
        end = self._raw.find(b"\r\n\r\n")
        if end < 0:
            if len(self._raw) > 65536:
                raise HTTPOutputError("response head too long")
            return _done_future()
        head = bytes(self._raw[:end]).decode("latin-1")
        rest = bytes(self._raw[end + 4:])
        self._raw = None
        first, _, fields = head.partition("\r\n")
        try:
            start_line = parse_response_start_line(first)
            headers = HTTPHeaders.parse(fields)
        except HTTPInputError as e:
            raise HTTPOutputError("malformed response head written to the connection: %s" % e) from None
        self.write_headers(start_line, headers)
        return self.write(rest) if rest else _done_future()

    # --- sending -------------------------------------------------------------------

    def _send_head(self) -> None:
        if self._head_sent:
            return
        req = self._req
        reason = self._reason.encode("latin-1") if self._reason else None
        st = lib.sq_response_status(req, self._status, reason)
        if st == b.SQ_ERR_INVALID_ARG:
            self._failed = True
            raise HTTPOutputError("bad status or reason: %r %r" % (self._status, self._reason))
        for k, v in self._headers:
            value = v.encode("latin-1")
            if lib.sq_response_header(req, k.encode("latin-1"), value, len(value), 0) == b.SQ_ERR_INVALID_ARG:
                self._failed = True
                raise HTTPOutputError("bad response header %r" % k)
        self._head_sent = True

    def _send_held(self) -> None:
        if self._held:
            data = b"".join(self._held)
            self._held = []
            self._held_len = 0
            if data and self._request.method != "HEAD":
                lib.sq_response_write(self._req, data, len(data))

    def _release(self) -> None:
        self._finished = True
        self._request._finish_time = time.time()
        _LIVE.pop(self._req, None)
        if self._body_timer is not None:
            from .ioloop import IOLoop
            IOLoop.current().remove_timeout(self._body_timer)
            self._body_timer = None

    def _handler_done(self) -> None:
        """A RequestHandler run by a router finished the response itself."""
        self._release()

    def _answer(self, status: int, text: bytes) -> None:
        """A plain error response when nothing was sent yet, else the end."""
        if self._finished:
            return
        if not self._head_sent:
            ctype = b"text/plain; charset=utf-8"
            hdr = (b.sq_header * 1)(b.sq_header(b"Content-Type", ctype, len(ctype)))
            lib.sq_respond(self._req, status, hdr, 1, text, len(text))
        else:
            lib.sq_response_finish(self._req)
        self._release()

    # --- driving the message delegate ---------------------------------------------

    def _start(self, md: Any, start_line: RequestStartLine, headers: HTTPHeaders) -> None:
        """In squall's handler call: the head, then the body callbacks."""
        self._md = md
        req = self._req
        _LIVE[req] = self
        lib.sq_request_on_close(req, _on_close, req)
        self._call(md.headers_received, start_line, headers)
        if not self._finished and not self._failed:
            lib.sq_request_on_body(req, _on_body, req)

    def _call(self, fn: Callable[..., Any], *args: Any) -> None:
        """Calls the delegate; an awaitable it returns holds the body back
        until it is done."""
        try:
            r = fn(*args)
        except Exception as e:
            self._uncaught(e)
            return
        if r is not None and inspect.isawaitable(r):
            self._busy = True

            async def wait(aw: Any = r) -> None:
                try:
                    await aw
                except Exception as e:
                    self._busy = False
                    self._uncaught(e)
                    return
                self._busy = False
                self._drain()
            asyncio.ensure_future(wait())

    def _uncaught(self, e: BaseException) -> None:
        if isinstance(e, HTTPInputError):
            gen_log.info("Malformed HTTP message from %s: %s", self._request.remote_ip, e)
            self._failed = True
            self._answer(400, b"400 Bad Request\n")
            return
        app_log.error("Uncaught exception", exc_info=(type(e), e, e.__traceback__))
        self._abort()

    def _abort(self) -> None:
        """Cuts the exchange: no response (or not the rest of a started
        one), the connection closed (``sq_request_abort``), as Tornado closes
        the connection of a request whose delegate failed."""
        self._failed = True
        if not self._finished:
            lib.sq_request_abort(self._req)
            self._release()

    def _body(self, data: bytes, last: bool) -> None:
        if self._failed:
            return
        if data:
            self._received += len(data)
            if self._max_body_size is not None and self._received > self._max_body_size:
                gen_log.info("Malformed HTTP message from %s: Content-Length too long", self._request.remote_ip)
                self._failed = True
                self._answer(400, b"400 Bad Request\n")
                return
            if self._gunzip is not None:
                try:
                    self._gunzip_pieces(data)
                except zlib.error as e:
                    self._uncaught(HTTPInputError("Malformed gzip body: %s" % e))
                    return
            elif self._coalesce:
                self._pending += data
                n = self._chunk_size
                while len(self._pending) >= n:
                    self._queue.append(bytes(self._pending[:n]))
                    del self._pending[:n]
            else:
                n = self._chunk_size
                for i in range(0, len(data), n):
                    self._queue.append(data[i:i + n])
        if last:
            if self._pending:
                self._queue.append(bytes(self._pending))
                self._pending = bytearray()
            if self._gunzip is not None:
                tail = self._gunzip.flush()
                if tail:
                    self._queue.append(tail)
            self._body_done = True
            self._queue.append(None)
        self._drain()

    def _gunzip_pieces(self, data: bytes) -> None:
        d = self._gunzip
        while data:
            out = d.decompress(data, self._chunk_size)
            if out:
                self._queue.append(out)
            data = d.unconsumed_tail

    def _drain(self) -> None:
        md = self._md
        while self._queue and not self._busy and not self._failed:
            item = self._queue.pop(0)
            if item is None:
                if self._body_timer is not None:
                    from .ioloop import IOLoop
                    IOLoop.current().remove_timeout(self._body_timer)
                    self._body_timer = None
                self._call(md.finish)
                if not self._finished and self._request_gone():
                    _LIVE.pop(self._req, None)  # answered by someone else (a RequestHandler)
                return
            self._call(md.data_received, item)

    def _request_gone(self) -> bool:
        major, minor = c_uint32(0), c_uint32(0)
        return bool(lib.sq_request_version(self._req, byref(major), byref(minor)) != b.SQ_OK)

    def _client_left(self) -> None:
        self._closed = True
        self._queue.clear()
        cb, self._close_callback = self._close_callback, None
        if cb is not None:
            try:
                cb()
            except Exception:
                app_log.error("Exception in close callback", exc_info=True)
        if self._md is not None and not self._finished:
            try:
                self._md.on_connection_close()
            except Exception:
                app_log.error("Exception in on_connection_close", exc_info=True)

    def _body_timed_out(self) -> None:
        self._body_timer = None
        if not self._body_done and not self._finished:
            gen_log.info("Timeout reading body from %s", self._request.remote_ip)
            self._abort()
