"""``squall.web``: Tornado's ``Application`` and ``RequestHandler`` on squall.

Routing, parsing, keep-alive, chunked framing and static files happen in
Rust; a handler runs on the IOLoop's thread with a request read from squall
and answers with one ``sq_respond`` call (or a stream of flushes).

Beyond Tornado: ``Application.route(pattern, fn)``, the fast path, whose
function gets a ``FastRequest`` and returns the response in one value, and
``Application.publish(topic, message)`` for WebSocket topics.
"""
from __future__ import annotations

import asyncio
import base64
import datetime
import functools
import hashlib
import hmac
import html
import http.cookies
import inspect
import json
import logging
import mimetypes
import numbers
import os
import re
import stat
import sys
import threading
import time
import traceback
import types
import urllib.parse
import ctypes
from ctypes import byref, string_at
from http.client import responses
from typing import Any, Awaitable, Callable, Optional, Union, overload

from . import _ffi
from ._bindings import sq_header, sq_str
from ._ffi import b, c_callback, lib
from ._request import HTTPServerRequest, RequestGone, XHeaders, inflate_limit, inflate_request, refuse_malformed
from . import httputil
from .httputil import _canonical
from .httpserver import HTTPServer, Server
from .ioloop import IOLoop

__all__ = [
    "Application", "RequestHandler", "HTTPError", "Finish", "MissingArgumentError",
    "ErrorHandler", "RedirectHandler", "StaticFileHandler", "RustStaticFileHandler", "URLSpec", "url",
    "stream_request_body", "authenticated", "FastRequest", "DEFER",
    "create_signed_value", "decode_signed_value", "UIModule", "TemplateModule", "addslash",
    "removeslash", "GZipContentEncoding", "OutputTransform", "get_signature_key_version",
]

app_log = logging.getLogger("squall.application")
gen_log = logging.getLogger("squall.general")
access_log = logging.getLogger("squall.access")

_VERSION = _ffi.version()
_SERVER_HEADER = f"squall/{_VERSION}"


class HTTPError(Exception):
    """An HTTP error response: raise it in a handler to answer ``status_code``
    (through ``write_error``). ``log_message`` is logged (with ``args``
    interpolated), never sent to the client; ``reason`` sets the reason
    phrase."""

    def __init__(self, status_code: int = 500, log_message: Optional[str] = None, *args: Any, **kwargs: Any) -> None:
        self.status_code = status_code
        self.log_message = log_message
        self.args = args
        self.reason = kwargs.get("reason", None)
        if log_message and not args:
            self.log_message = log_message.replace("%", "%%")

    def __str__(self) -> str:
        message = "HTTP %d: %s" % (self.status_code, self.reason or responses.get(self.status_code, "Unknown"))
        if self.log_message:
            return message + " (" + (self.log_message % self.args) + ")"
        return message


class Finish(Exception):
    """Raise it to end the request without an error: ``finish(*args)`` is
    called with the exception's arguments."""


class MissingArgumentError(HTTPError):
    """``get_argument`` found no value and had no default: a 400."""

    def __init__(self, arg_name: str) -> None:
        super().__init__(400, "Missing argument %s" % arg_name)
        self.arg_name = arg_name


class _Done:
    """What ``flush()``/``finish()`` return: an awaitable that is already done
    (squall has taken the bytes; there is nothing to wait for)."""

    __slots__ = ()

    def __await__(self):  # type: ignore[no-untyped-def]
        return iter(())

    def done(self) -> bool:
        return True

    def cancelled(self) -> bool:
        return False

    def cancel(self) -> bool:
        return False

    def result(self) -> None:
        return None

    def exception(self) -> None:
        return None

    def add_done_callback(self, fn: Callable[[Any], Any]) -> None:
        IOLoop.current().add_callback(fn, self)


_DONE = _Done()

# flush(): past this many bytes waiting for the client, the awaitable waits
# until no more than _FLUSH_LOW are (polled: the C API has no drain callback
# for responses)
_FLUSH_HIGH = 256 * 1024
_FLUSH_LOW = 64 * 1024


async def _drained(handler: "RequestHandler", req: int) -> None:
    from .iostream import StreamClosedError
    backlog = ctypes.c_size_t()
    delay = 0.001
    while True:
        if handler._connection_closed:
            raise StreamClosedError()
        st = lib.sq_response_backlog(req, byref(backlog))
        if st == b.SQ_ERR_CLOSED:
            handler._connection_closed = True
            raise StreamClosedError()
        if st != b.SQ_OK or backlog.value <= _FLUSH_LOW:
            return
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.02)
DEFER = object()
"""Returned by a fast-path function that will answer later with ``req.respond``."""

_ARG_DEFAULT = object()
_REMOVE_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f]")
# RFC 9110 5.5: a field value is VCHAR, obs-text, SP and HTAB: every other
# control, and DEL, is refused (Tornado's rule too).
_HEADER_BAD = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@overload
def _utf8(v: Union[str, bytes]) -> bytes: ...
@overload
def _utf8(v: None) -> None: ...
@overload
def _utf8(v: Union[str, bytes, None]) -> Optional[bytes]: ...
def _utf8(v: Union[str, bytes, None]) -> Optional[bytes]:
    if v is None or isinstance(v, bytes):
        return v
    if isinstance(v, str):
        return v.encode("utf-8")
    raise TypeError("Expected bytes, str or None; got %r" % type(v))


def _json(obj: Any) -> str:
    return json.dumps(obj).replace("</", "<\\/")




def _header_array(pairs: list[tuple[bytes, bytes]]) -> Any:
    n = len(pairs)
    # ctypes fills each sq_header from a (name, value, value_len) tuple, at
    # run time cheaper than a Structure per header; the stubs only know the latter.
    return (sq_header * n)(*[(k, v, len(v)) for k, v in pairs])  # type: ignore[misc]


def _parse_range(header: str) -> Optional[tuple[Optional[int], Optional[int]]]:
    """One byte range of a Range header as slice indexes: ``bytes=1-2`` is
    (1, 3), ``bytes=6-`` (6, None), ``bytes=-6`` (-6, None), ``bytes=-0``
    (None, 0); None for anything else (several ranges, another unit, junk),
    which is served as if there were no Range header (RFC 9110 14.2)."""
    unit, _, value = header.partition("=")
    if unit.strip() != "bytes":
        return None
    first, _, last = value.strip().partition("-")
    try:
        start = int(first) if first.strip() else None
        end = int(last) if last.strip() else None
    except ValueError:
        return None
    if end is not None:
        if start is None:
            if end != 0:
                start, end = -end, None
        else:
            end += 1
    return start, end


class RequestHandler:
    """Subclass it and define ``get``/``post``/… (plain or ``async def``)."""

    SUPPORTED_METHODS: tuple[str, ...] = ("GET", "HEAD", "POST", "DELETE", "PATCH", "PUT", "OPTIONS")
    _stream_request_body = False

    def __init__(self, application: "Application", request: HTTPServerRequest, **kwargs: Any) -> None:
        self.application = application
        self.request = request
        self.path_args: list[str] = []
        self.path_kwargs: dict[str, str] = {}
        self._headers_written = False
        self._finished = False
        self._auto_finish = True
        self._method_returned = False
        self._prepared_future = None
        self._connection_closed = False
        self._write_buffer: list[bytes] = []
        self._status_code = 200
        self._reason: Optional[str] = None
        self._headers: dict[str, list[str]] = {"Server": [_SERVER_HEADER], "Content-Type": ["text/html; charset=UTF-8"]}
        self._new_cookie: Optional[http.cookies.SimpleCookie] = None
        self.clear_hook = None
        self.initialize(**kwargs)

    def initialize(self, **kwargs: Any) -> None:
        """Hook for subclass initialisation, called with the route's kwargs."""

    @property
    def settings(self) -> dict[str, Any]:
        return self.application.settings

    # --- the HTTP verbs --------------------------------------------------------

    def _unimplemented_method(self, *args: str, **kwargs: str) -> None:
        raise HTTPError(405)

    # Declared as attributes, not methods, so a subclass may define them with
    # any signature its route needs (``def get(self)``, ``async def
    # post(self, id)``) without being an incompatible override.
    head: Callable[..., Optional[Awaitable[None]]] = _unimplemented_method
    get: Callable[..., Optional[Awaitable[None]]] = _unimplemented_method
    post: Callable[..., Optional[Awaitable[None]]] = _unimplemented_method
    delete: Callable[..., Optional[Awaitable[None]]] = _unimplemented_method
    patch: Callable[..., Optional[Awaitable[None]]] = _unimplemented_method
    put: Callable[..., Optional[Awaitable[None]]] = _unimplemented_method
    options: Callable[..., Optional[Awaitable[None]]] = _unimplemented_method

    def _allowed_methods(self) -> list[str]:
        """The verbs this class implements (a 405's ``Allow``, RFC 9110)."""
        cls = type(self)
        return [m for m in self.SUPPORTED_METHODS
                if getattr(cls, m.lower(), None) is not getattr(RequestHandler, m.lower(), None)]

    def prepare(self) -> Optional[Awaitable[None]]:
        """Called before the verb method (may be ``async``)."""
        return None

    def on_finish(self) -> None:
        """Called after the response was sent."""

    def on_connection_close(self) -> None:
        """Called when the client goes away before the response is finished
        (for long polls)."""

    # --- response building ---------------------------------------------------

    def clear(self) -> None:
        """Resets the headers (to the defaults, ``set_default_headers``
        included), the body and the status."""
        self._headers = {"Server": [_SERVER_HEADER], "Content-Type": ["text/html; charset=UTF-8"]}
        self._write_buffer = []
        self._status_code = 200
        self._reason = None
        self.set_default_headers()

    def set_default_headers(self) -> None:
        """Override to set headers at the start of every request."""

    def set_status(self, status_code: int, reason: Optional[str] = None) -> None:
        if not (100 <= status_code <= 999):
            raise ValueError("bad status code %r" % status_code)
        self._status_code = status_code
        if reason is not None and ("<" in reason or not httputil._REASON_RE.fullmatch(reason)):
            # not a reason-phrase (RFC 9112 4: no CR/LF, no controls), or
            # markup: "Unknown", as Tornado 6.6 (error pages show the reason)
            reason = "Unknown"
        # Tornado: a code with no standard phrase is sent as "Unknown"
        self._reason = reason if reason is not None or status_code in responses else "Unknown"

    def get_status(self) -> int:
        return self._status_code

    def _convert_header_value(self, value: Any) -> str:
        if isinstance(value, str):
            s = value
        elif isinstance(value, bytes):
            s = value.decode("latin-1")
        elif isinstance(value, numbers.Integral):
            return str(value)
        elif isinstance(value, datetime.datetime):
            from email.utils import format_datetime
            if value.tzinfo is None:
                value = value.replace(tzinfo=datetime.timezone.utc)
            return format_datetime(value.astimezone(datetime.timezone.utc), usegmt=True)
        else:
            raise TypeError("Unsupported header value %r" % value)
        if _HEADER_BAD.search(s):
            raise ValueError("Unsafe header value %r" % s)
        return s

    def set_header(self, name: str, value: Any) -> None:
        self._headers[_canonical(name)] = [self._convert_header_value(value)]

    def add_header(self, name: str, value: Any) -> None:
        self._headers.setdefault(_canonical(name), []).append(self._convert_header_value(value))

    def clear_header(self, name: str) -> None:
        self._headers.pop(_canonical(name), None)

    def write(self, chunk: Union[str, bytes, dict[str, Any], list[Any]]) -> None:
        if self._finished:
            raise RuntimeError("Cannot write() after finish()")
        if not isinstance(chunk, (bytes, str, dict, list)):
            raise TypeError("write() only accepts bytes, str, dict and list objects; got %r" % type(chunk))
        if isinstance(chunk, (dict, list)):
            chunk = _json(chunk)
            self.set_header("Content-Type", "application/json; charset=UTF-8")
        if isinstance(chunk, str):
            chunk = chunk.encode("utf-8")
        self._write_buffer.append(chunk)

    def _header_pairs(self) -> list[tuple[bytes, bytes]]:
        pairs = [(k.encode("latin-1"), v.encode("latin-1")) for k, vs in self._headers.items() for v in vs]
        if self._new_cookie is not None:
            for m in self._new_cookie.values():
                pairs.append((b"Set-Cookie", m.OutputString(None).encode("latin-1")))
        return pairs

    def flush(self, include_footers: bool = False) -> Any:
        """Sends what was written so far. The first flush sends the head; the
        body is then chunked (unless the handler set a Content-Length).
        Returns an awaitable: done at once, unless more than 256 KiB of the
        response waits for the client (then done once no more than 64 KiB
        does); it raises ``squall.iostream.StreamClosedError`` once the
        client has gone."""
        req = self.request._req
        if not self._headers_written:
            self._headers_written = True
            settings = self.application.settings
            if (settings.get("compress_response") or settings.get("gzip")) and self._start_gzip(
                    self._status_code, None):
                import zlib
                self._gzipper = zlib.compressobj(GZipContentEncoding.GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
            st = lib.sq_response_status(req, self._status_code, _utf8(self._reason))
            if st == b.SQ_ERR_INVALID_ARG:
                raise ValueError("bad status or reason")
            for k, v in self._header_pairs():
                if k in (b"Content-Length", b"Transfer-Encoding"):
                    continue
                lib.sq_response_header(req, k, v, len(v), 0)
            self._declare_length(req)
        if self._write_buffer:
            data = b"".join(self._write_buffer)
            self._write_buffer = []
            gz = getattr(self, "_gzipper", None)
            if gz is not None:
                import zlib
                data = gz.compress(data) + gz.flush(zlib.Z_SYNC_FLUSH)
            self._flushed_bytes = getattr(self, "_flushed_bytes", 0) + len(data)
            lib.sq_response_write(req, data, len(data))
        st = lib.sq_response_flush(req)
        if st == b.SQ_OK:
            backlog = ctypes.c_size_t()
            if lib.sq_response_backlog(req, byref(backlog)) == b.SQ_OK and backlog.value > _FLUSH_HIGH:
                # the client reads slower than we write: the awaitable waits
                # until most of it is taken, so a loop of write+flush (a
                # large file) does not pile the body up in squall
                return asyncio.ensure_future(_drained(self, req))
        if st == b.SQ_ERR_LIMIT:
            # past our Content-Length: squall cut the connection
            self._connection_closed = True
            raise httputil.HTTPOutputError("Tried to write more data than Content-Length")
        if st == b.SQ_ERR_CLOSED:
            self._connection_closed = True
        if self._connection_closed:
            # as Tornado's: the awaitable fails, so a streaming loop can stop
            from .iostream import StreamClosedError
            fut = asyncio.get_event_loop().create_future()
            fut.set_exception(StreamClosedError())
            fut.exception()  # retrieved: no warning when the caller does not await it
            return fut
        return _DONE

    def finish(self, chunk: Union[str, bytes, dict[str, Any], None] = None) -> "asyncio.Future[None]":
        """Finishes the response (answers the request) and calls
        ``on_finish``. Returns a Future, already done: squall has the bytes."""
        self._finish(chunk)
        fut = asyncio.get_event_loop().create_future()
        fut.set_result(None)
        return fut

    def _finish(self, chunk: Union[str, bytes, dict[str, Any], None] = None) -> None:
        if self._finished:
            raise RuntimeError("finish() called twice")
        if chunk is not None:
            self.write(chunk)
        req = self.request._req
        status = self._status_code
        if not self._headers_written:
            if status == 200 and self.request.method in ("GET", "HEAD") and "Etag" not in self._headers:
                self.set_etag_header()
                if self.check_etag_header():
                    self._write_buffer = []
                    self.set_status(304)
                    status = 304
            if status in (204, 304) or 100 <= status < 200:
                self._write_buffer = []
                # no body, so no representation metadata (RFC 9110 15.4.5), as Tornado
                for h in ("Content-Type", "Content-Length", "Transfer-Encoding", "Content-Encoding",
                          "Content-Language"):
                    self._headers.pop(h, None)
            body = b"".join(self._write_buffer) if self._write_buffer else b""
            self._write_buffer = []
            settings = self.application.settings
            if "compress_response" in settings or "gzip" in settings:
                if settings.get("compress_response") or settings.get("gzip"):
                    body = self._gzip(status, body)
            self._log()
            self._freeze_unless_done()
            if "Content-Length" in self._headers:
                self._declare_length(req)
            if self._reason is None or self._reason == responses.get(status):
                pairs = self._header_pairs()
                st = lib.sq_respond(req, status, _header_array(pairs), len(pairs), body, len(body))
            else:
                st = self._respond_with_reason(req, status, body)
            self._headers_written = True
            sent = len(body)
        else:
            sent = getattr(self, "_flushed_bytes", 0)
            gz = getattr(self, "_gzipper", None)
            if self._write_buffer or gz is not None:
                data = b"".join(self._write_buffer)
                self._write_buffer = []
                if gz is not None:
                    data = gz.compress(data) + gz.flush()
                sent += len(data)
                lib.sq_response_write(req, data, len(data))
            self._log()
            self._freeze_unless_done()
            st = lib.sq_response_finish(req)
        if st < 0:
            if st == b.SQ_ERR_INVALID_ARG:
                raise ValueError("squall refused the response (bad header name or value)")
            if st == b.SQ_ERR_LIMIT:
                # our Content-Length did not match the body: squall sent what
                # fits and cut the connection, as Tornado does
                self._headers_written = True
                self._connection_closed = True
                raise httputil.HTTPOutputError(self._length_mismatch(sent))
        self._finished = True
        self.request._finish_time = time.time()
        if _CLOSE_LISTENERS:
            _CLOSE_LISTENERS.pop(req, None)
        try:
            self.on_finish()
        except Exception:
            app_log.error("Exception in on_finish", exc_info=True)
        self.__dict__["_ui"] = None  # (not through the property: this is the hot path)

    def _declare_length(self, req: int) -> None:
        """A Content-Length the handler set frames the body (squall checks
        that the body comes to it, as Tornado does)."""
        value = (self._headers.get("Content-Length") or [""])[0].strip()
        if value.isdigit() and value.isascii():
            lib.sq_response_set_length(req, int(value))

    def _length_mismatch(self, sent: int) -> str:
        declared = int((self._headers.get("Content-Length") or ["0"])[0])
        if sent > declared:
            return "Tried to write more data than Content-Length"
        return "Tried to write %d bytes less than Content-Length" % (declared - sent)

    def _gzip(self, status: int, body: bytes) -> bytes:
        """``compress_response`` on a whole response: the body gzipped when
        eligible (``_start_gzip``) and at least ``MIN_LENGTH`` long."""
        if not self._start_gzip(status, len(body)):
            return body
        import gzip
        return gzip.compress(body, compresslevel=GZipContentEncoding.GZIP_LEVEL, mtime=0)

    def _start_gzip(self, status: int, length: Optional[int]) -> bool:
        """Whether the response is gzipped (``GZipContentEncoding``'s
        rules: the client accepts gzip, a compressible type, no
        Content-Encoding yet, a body; ``length`` None for a response sent
        in pieces, which is compressed whatever its size, as Tornado's);
        ``Vary: Accept-Encoding`` either way. When it is, the headers say
        so (and lose Content-Length)."""
        vary = ",".join(self._headers.get("Vary", []))
        if "accept-encoding" not in [v.strip().lower() for v in vary.split(",")]:
            self._headers.setdefault("Vary", []).append("Accept-Encoding")
        if (status in (204, 304) or status < 200 or "Content-Encoding" in self._headers
                or (length is not None and length < GZipContentEncoding.MIN_LENGTH)):
            return False
        accept = self.request.headers.get("Accept-Encoding") or ""
        if "gzip" not in [a.split(";")[0].strip().lower() for a in accept.split(",")]:
            return False
        ctype = (self._headers.get("Content-Type") or [""])[0].split(";")[0].strip().lower()
        if not GZipContentEncoding._compressible_type(ctype):
            return False
        self._headers["Content-Encoding"] = ["gzip"]
        self._headers.pop("Content-Length", None)
        return True

    def _respond_with_reason(self, req: int, status: int, body: bytes) -> int:
        st: int = lib.sq_response_status(req, status, _utf8(self._reason))
        if st < 0:
            return st
        for k, v in self._header_pairs():
            lib.sq_response_header(req, k, v, len(v), 0)
        if body:
            lib.sq_response_write(req, body, len(body))
        st = lib.sq_response_finish(req)
        return st

    def _has_on_finish(self) -> bool:
        return type(self).on_finish is not RequestHandler.on_finish

    def _freeze_unless_done(self) -> None:
        """The request handle goes stale when the response is finished: copy
        what is left to read unless no handler code can run afterwards (the
        finish squall does itself once the verb method has returned, with no
        on_finish). Tornado lets code after finish() read the request."""
        if not self._method_returned or self._has_on_finish():
            self.request._freeze()

    def _finish_after_method(self) -> None:
        self._method_returned = True
        if type(self).finish is RequestHandler.finish:
            self._finish()  # no Future to make: nobody sees it
        else:
            self.finish()

    def _log(self) -> None:
        # a log_function setting sees every request, as in Tornado; the
        # default logger is skipped when its records would be dropped anyway
        if "log_function" in self.settings or access_log.isEnabledFor(
                logging.INFO if self._status_code < 400 else logging.WARNING):
            self.application.log_request(self)

    def detach(self) -> Any:
        raise NotImplementedError("squall owns the connection; detach() is not available")

    # --- errors --------------------------------------------------------------

    def send_error(self, status_code: int = 500, **kwargs: Any) -> None:
        if self._headers_written:
            gen_log.error("Cannot send error response after headers written")
            if not self._finished:
                try:
                    self.finish()
                except Exception:
                    gen_log.error("Failed to flush partial response", exc_info=True)
            return
        self.clear()
        reason = kwargs.get("reason")
        if "exc_info" in kwargs:
            exception = kwargs["exc_info"][1]
            if isinstance(exception, HTTPError) and exception.reason:
                reason = exception.reason
        self.set_status(status_code, reason=reason)
        if status_code == 405:
            self.set_header("Allow", ", ".join(self._allowed_methods()))
        try:
            self.write_error(status_code, **kwargs)
        except Exception:
            app_log.error("Uncaught exception in write_error", exc_info=True)
        if not self._finished:
            self.finish()

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Writes the error page; override for custom pages. With the
        ``debug``/``serve_traceback`` setting and an exception, the page is
        the traceback."""
        if self.settings.get("serve_traceback") and "exc_info" in kwargs:
            self.set_header("Content-Type", "text/plain")
            for line in traceback.format_exception(*kwargs["exc_info"]):
                self.write(line)
            self.finish()
        else:
            self.finish("<html><title>%(code)d: %(message)s</title><body>%(code)d: %(message)s</body></html>"
                        % {"code": status_code,
                           "message": html.escape(self._reason or responses.get(status_code, "Unknown"))})

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, HTTPError):
            if value.log_message:
                fmt = "%d %s: " + value.log_message
                args = [value.status_code, self._request_summary()] + list(value.args)
                gen_log.warning(fmt, *args)
        else:
            app_log.error("Uncaught exception %s\n%r", self._request_summary(), self.request, exc_info=(typ, value, tb))

    def _request_summary(self) -> str:
        try:
            ip = self.request.remote_ip
        except RequestGone:
            ip = "?"
        return "%s %s (%s)" % (self.request.method, self.request.uri, ip)

    def _handle_request_exception(self, e: BaseException) -> None:
        if isinstance(e, Finish):
            if not self._finished:
                self.finish(*e.args)
            return
        try:
            self.log_exception(*sys.exc_info()) if sys.exc_info()[1] is e else self.log_exception(type(e), e, e.__traceback__)
        except Exception:
            app_log.error("Error in exception logger", exc_info=True)
        if self._finished:
            return
        exc_info = (type(e), e, e.__traceback__)
        if isinstance(e, HTTPError):
            self.send_error(e.status_code, exc_info=exc_info)
        else:
            self.send_error(500, exc_info=exc_info)

    # --- arguments -----------------------------------------------------------

    def decode_argument(self, value: bytes, name: Optional[str] = None) -> str:
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise HTTPError(400, "Invalid unicode in %s: %r" % (name or "url", value[:40]))

    def _parse_arguments(self) -> None:
        """Reads the query and (unless the body is streamed) the form body
        before any handler code runs, so a malformed one is a 400 and never
        a half-parsed request."""
        try:
            self.request.query_arguments
            if not self._stream_request_body:
                self.request.body_arguments
        except httputil.HTTPInputError as e:
            raise HTTPError(400, "Invalid request arguments: %s" % e) from e

    def _get_arguments(self, name: str, source: dict[str, list[bytes]], strip: bool) -> list[str]:
        values = []
        for v in source.get(name, []):
            s = self.decode_argument(v, name=name)
            if isinstance(s, str):  # a decode_argument may keep bytes: left alone
                s = _REMOVE_CONTROL.sub(" ", s)
            if strip:
                s = s.strip()
            values.append(s)
        return values

    def _get_argument(self, name: str, default: Any, source: dict[str, list[bytes]], strip: bool) -> Any:
        args = self._get_arguments(name, source, strip)
        if not args:
            if default is _ARG_DEFAULT:
                raise MissingArgumentError(name)
            return default
        return args[-1]

    def get_argument(self, name: str, default: Any = _ARG_DEFAULT, strip: bool = True) -> Any:
        return self._get_argument(name, default, self.request.arguments, strip)

    def get_arguments(self, name: str, strip: bool = True) -> list[str]:
        return self._get_arguments(name, self.request.arguments, strip)

    def get_query_argument(self, name: str, default: Any = _ARG_DEFAULT, strip: bool = True) -> Any:
        return self._get_argument(name, default, self.request.query_arguments, strip)

    def get_query_arguments(self, name: str, strip: bool = True) -> list[str]:
        return self._get_arguments(name, self.request.query_arguments, strip)

    def get_body_argument(self, name: str, default: Any = _ARG_DEFAULT, strip: bool = True) -> Any:
        return self._get_argument(name, default, self.request.body_arguments, strip)

    def get_body_arguments(self, name: str, strip: bool = True) -> list[str]:
        return self._get_arguments(name, self.request.body_arguments, strip)

    # --- cookies -------------------------------------------------------------

    @property
    def cookies(self) -> Any:
        return self.request.cookies

    def get_cookie(self, name: str, default: Optional[str] = None) -> Optional[str]:
        c = self.request.cookies
        if name in c:
            value: str = c[name].value
            return value
        return default

    def set_cookie(self, name: str, value: Union[str, bytes], domain: Optional[str] = None,
                   expires: Any = None, path: str = "/", expires_days: Optional[float] = None,
                   *, max_age: Optional[int] = None, httponly: bool = False, secure: bool = False,
                   samesite: Optional[str] = None, **kwargs: Any) -> None:
        name = name if isinstance(name, str) else name.decode()
        value = value if isinstance(value, str) else value.decode("latin-1")
        if re.search(r"[\x00-\x20]", value):
            raise ValueError("Invalid cookie %r: %r" % (name, value))
        # RFC 6265 4.1.1: a cookie name is a token and attribute values have
        # no controls or ";": anything else could add attributes of its own.
        for attr, v in [("name", name), ("domain", domain), ("path", path), ("samesite", samesite),
                        *kwargs.items()]:
            if v is not None and re.search(r"[\x00-\x20;\x7f]", str(v)):
                raise http.cookies.CookieError("Invalid cookie attribute %s=%r for cookie %r" % (attr, v, name))
        if self._new_cookie is None:
            self._new_cookie = http.cookies.SimpleCookie()
        if name in self._new_cookie:
            del self._new_cookie[name]
        self._new_cookie[name] = value
        morsel = self._new_cookie[name]
        if domain:
            morsel["domain"] = domain
        if expires_days is not None and not expires:
            expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=expires_days)
        if expires:
            if isinstance(expires, (int, float)):
                expires = datetime.datetime.fromtimestamp(expires, datetime.timezone.utc)
            if isinstance(expires, datetime.datetime):
                from email.utils import format_datetime
                if expires.tzinfo is None:
                    expires = expires.replace(tzinfo=datetime.timezone.utc)
                expires = format_datetime(expires.astimezone(datetime.timezone.utc), usegmt=True)
            morsel["expires"] = expires
        if path:
            morsel["path"] = path
        if max_age is not None:
            morsel["max-age"] = str(int(max_age))  # a non-integer is a ValueError, never text in the header
        if httponly:
            morsel["httponly"] = True
        if secure:
            morsel["secure"] = True
        if samesite:
            morsel["samesite"] = samesite
        for k, v in kwargs.items():
            if k == "max_age":
                k = "max-age"
            morsel[k] = v

    def clear_cookie(self, name: str, **kwargs: Any) -> None:
        for excluded in ("expires", "max_age", "expires_days"):
            kwargs.pop(excluded, None)
        expires = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=365)
        self.set_cookie(name, value="", expires=expires, max_age=0, **kwargs)

    def clear_all_cookies(self, **kwargs: Any) -> None:
        for name in list(self.request.cookies):
            self.clear_cookie(name, **kwargs)

    def _secret(self) -> Any:
        secret = self.settings.get("cookie_secret")
        if not secret:
            raise RuntimeError("the 'cookie_secret' application setting is needed for signed cookies")
        return secret

    def create_signed_value(self, name: str, value: Union[str, bytes], version: Optional[int] = None) -> bytes:
        from . import _signing
        key_version = None
        if isinstance(self._secret(), dict):
            key_version = self.settings.get("key_version")
            if key_version is None:
                raise RuntimeError("key_version setting must be used for secret_key dicts")
        return _signing.create_signed_value(self._secret(), name, value, version=version, key_version=key_version)

    def set_signed_cookie(self, name: str, value: Union[str, bytes], expires_days: Optional[float] = 30,
                          version: Optional[int] = None, **kwargs: Any) -> None:
        self.set_cookie(name, self.create_signed_value(name, value, version=version), expires_days=expires_days, **kwargs)

    set_secure_cookie = set_signed_cookie

    def get_signed_cookie(self, name: str, value: Optional[str] = None, max_age_days: float = 31,
                          min_version: Optional[int] = None) -> Optional[bytes]:
        from . import _signing
        if value is None:
            value = self.get_cookie(name)
        if value is None:
            return None
        return _signing.decode_signed_value(self._secret(), name, value, max_age_days=max_age_days, min_version=min_version)

    get_secure_cookie = get_signed_cookie

    # --- redirect, etag, misc ------------------------------------------------

    def redirect(self, url: str, permanent: bool = False, status: Optional[int] = None) -> None:
        if self._headers_written:
            raise RuntimeError("Cannot redirect after headers have been written")
        if status is None:
            status = 301 if permanent else 302
        elif not (300 <= status <= 399):
            raise ValueError("redirect status must be 3xx")
        self.set_status(status)
        self.set_header("Location", _utf8(url))  # bytes: sent as UTF-8, as Tornado does
        self.finish()

    def compute_etag(self) -> Optional[str]:
        h = hashlib.sha1()
        for part in self._write_buffer:
            h.update(part)
        return '"%s"' % h.hexdigest()

    def set_etag_header(self) -> None:
        etag = self.compute_etag()
        if etag is not None:
            self._headers["Etag"] = [etag if type(etag) is str else self._convert_header_value(etag)]

    def check_etag_header(self) -> bool:
        vals = self._headers.get("Etag")
        if not vals:
            return False
        computed = vals[0].encode("latin-1")
        inm = self.request.headers.get("If-None-Match")
        if not inm:
            return False
        inm_b = inm.encode("latin-1")
        if inm_b.strip() == b"*":
            return True
        tags = re.findall(rb'\*|(?:W/)?"[^"]*"', inm_b)

        def weak(t: bytes) -> bytes:
            return t[2:] if t.startswith(b"W/") else t
        return any(weak(t) == weak(computed) for t in tags)

    @property
    def current_user(self) -> Any:
        if not hasattr(self, "_current_user"):
            self._current_user = self.get_current_user()
        return self._current_user

    @current_user.setter
    def current_user(self, value: Any) -> None:
        self._current_user = value

    def get_current_user(self) -> Any:
        return None

    def get_login_url(self) -> str:
        url: Optional[str] = self.settings.get("login_url")
        if not url:
            raise RuntimeError("You must define the 'login_url' setting to use @authenticated")
        return url

    def reverse_url(self, name: str, *args: Any) -> str:
        return self.application.reverse_url(name, *args)

    def static_url(self, path: str, include_host: Optional[bool] = None, **kwargs: Any) -> str:
        """The URL of a file of ``static_path`` with its content's version
        (``?v=``; ``include_version=False`` leaves it out); absolute with
        ``include_host`` (default: the handler's ``include_host`` attribute)."""
        if include_host is None:
            include_host = getattr(self, "include_host", False)
        return self.application.static_url(path, include_host=include_host, request=self.request, **kwargs)

    # --- XSRF protection (Tornado's token format, versions 1 and 2) ------------

    @property
    def xsrf_token(self) -> bytes:
        """The XSRF token of this session, masked afresh for each request (so
        a page does not leak it to a compression side channel); sets the
        ``_xsrf`` cookie when the browser has none."""
        if not hasattr(self, "_xsrf_token"):
            version, token, timestamp = self._get_raw_xsrf_token()
            output_version = self.settings.get("xsrf_cookie_version", 2)
            cookie_kwargs = dict(self.settings.get("xsrf_cookie_kwargs", {}))
            if output_version == 1:
                self._xsrf_token = _xsrf_encode_v1(token)
            elif output_version == 2:
                self._xsrf_token = _xsrf_encode_v2(token, timestamp)
            else:
                raise ValueError("unknown xsrf cookie version %d" % output_version)
            if version is None:
                if self.current_user and "expires_days" not in cookie_kwargs:
                    cookie_kwargs["expires_days"] = 30
                self.set_cookie(self.settings.get("xsrf_cookie_name", "_xsrf"), self._xsrf_token, **cookie_kwargs)
        return self._xsrf_token

    def _get_raw_xsrf_token(self) -> tuple[Optional[int], bytes, float]:
        if not hasattr(self, "_raw_xsrf_token"):
            cookie = self.get_cookie(self.settings.get("xsrf_cookie_name", "_xsrf"))
            version, token, timestamp = _xsrf_decode(cookie) if cookie else (None, None, None)
            if token is None:
                version = None
                token = os.urandom(16)
                timestamp = time.time()
            assert timestamp is not None
            self._raw_xsrf_token = (version, token, timestamp)
        return self._raw_xsrf_token

    def check_xsrf_cookie(self) -> None:
        """403 unless the ``_xsrf`` argument (or the ``X-Xsrftoken`` /
        ``X-Csrftoken`` header) carries the token of the ``_xsrf`` cookie."""
        token = (self.get_argument("_xsrf", None) or self.request.headers.get("X-Xsrftoken")
                 or self.request.headers.get("X-Csrftoken"))
        if not token:
            raise HTTPError(403, "'_xsrf' argument missing from POST")
        _, token_raw, _ = _xsrf_decode(token)
        _, expected, _ = self._get_raw_xsrf_token()
        if not token_raw:
            raise HTTPError(403, "'_xsrf' argument has invalid format")
        if not hmac.compare_digest(token_raw, expected):
            raise HTTPError(403, "XSRF cookie does not match POST argument")

    def _cross_origin_protection(self) -> None:
        """Before ``prepare`` for a state-changing method: the XSRF cookie
        check (``xsrf_cookies``) and the cross-origin check
        (``cross_origin_protection``), each a 403 when it fails."""
        if self.settings.get("xsrf_cookies"):
            self.check_xsrf_cookie()
        if self.settings.get("cross_origin_protection"):
            why = self._cross_origin_refusal(self.check_trusted_origin)
            if why is not None:
                raise HTTPError(403, why)

    def _cross_origin_refusal(self, trusted: Callable[[str], bool]) -> Optional[str]:
        """Why a request looks cross-origin and untrusted, or None. The
        browser's ``Sec-Fetch-Site`` decides when present (same-origin and
        none pass; same-site and cross-site need a trusted ``Origin``);
        without it, an ``Origin`` must be this host or trusted (no
        ``Origin``: not a browser, allowed)."""
        site = self.request.headers.get("Sec-Fetch-Site")
        origin = self.request.headers.get("Origin")
        if site in ("same-origin", "none"):
            return None
        if site is None:
            if origin is None:
                return None
            netloc = urllib.parse.urlsplit(origin).netloc.lower()
            if netloc == self.request.headers.get("Host", "").lower() or trusted(origin):
                return None
            return "Origin %r not allowed" % origin
        if origin and trusted(origin):
            return None
        return "Sec-Fetch-Site %s & origin %r not allowed" % (site, origin)

    def check_trusted_origin(self, origin: str) -> bool:
        """With ``cross_origin_protection``: may a cross-origin,
        state-changing request from ``origin`` go on? Default: ``origin`` is
        in the ``trusted_origins`` setting. Called before ``prepare``."""
        return origin in self.settings.get("trusted_origins", [])

    def xsrf_form_html(self) -> str:
        """``<input type="hidden" name="_xsrf" value="...">`` for a form."""
        return '<input type="hidden" name="_xsrf" value="' + html.escape(self.xsrf_token.decode("latin-1"), quote=True) + '"/>'

    # --- locale ----------------------------------------------------------------

    @property
    def locale(self) -> Any:
        """The user's locale: ``get_user_locale()``, else the browser's
        (``Accept-Language``)."""
        if not hasattr(self, "_locale"):
            loc = self.get_user_locale()
            self._locale = loc if loc is not None else self.get_browser_locale()
        return self._locale

    @locale.setter
    def locale(self, value: Any) -> None:
        self._locale = value

    def get_user_locale(self) -> Any:
        """Override to take the locale from the user's settings (None: use
        the browser's)."""
        return None

    def get_browser_locale(self, default: str = "en_US") -> Any:
        """The best locale of ``Accept-Language`` (q-values honoured, a bad
        q-value drops that entry), or ``default``."""
        from . import locale as _locale
        header = self.request.headers.get("Accept-Language")
        if header:
            ranked = []
            for i, part in enumerate(header.split(",")):
                fields = part.strip().split(";")
                code = fields[0].strip()
                if not code:
                    continue
                q = 1.0
                for f in fields[1:]:
                    f = f.strip()
                    if f.startswith("q="):
                        try:
                            q = float(f[2:])
                        except ValueError:
                            q = -1.0
                if q > 0:
                    ranked.append((-q, i, code))
            if ranked:
                return _locale.get(*[code for _, _, code in sorted(ranked)])
        return _locale.get(default)

    # --- UI modules and methods ------------------------------------------------

    @property
    def ui(self) -> Any:
        """The template namespace of the application's ``ui_methods`` (bound
        to this handler) and ``ui_modules`` (as ``modules`` / ``_tt_modules``);
        built on first use."""
        d = self.__dict__
        if "_ui" in d:  # built, or None once the response is finished
            return d["_ui"]
        from .util import ObjectDict
        ui = ObjectDict((n, self._ui_method(m)) for n, m in self.application.ui_methods.items())
        ui["_tt_modules"] = _UIModuleNamespace(self, self.application.ui_modules)
        ui["modules"] = ui["_tt_modules"]
        d["_ui"] = ui
        return ui

    @ui.setter
    def ui(self, value: Any) -> None:
        self.__dict__["_ui"] = value

    def _ui_method(self, method: Callable[..., Any]) -> Callable[..., Any]:
        return lambda *args, **kwargs: method(self, *args, **kwargs)

    def _ui_module(self, name: str, module: type) -> Callable[..., Any]:
        def render(*args: Any, **kwargs: Any) -> Any:
            if not hasattr(self, "_active_modules"):
                self._active_modules: dict[str, UIModule] = {}
            if name not in self._active_modules:
                self._active_modules[name] = module(self)
            return self._active_modules[name].render(*args, **kwargs)
        return render

    # --- templates: Tornado's language, or Jinja2 through template_loader -------

    _template_loaders: dict[str, Any] = {}
    _template_loader_lock = threading.Lock()

    def get_template_path(self) -> Optional[str]:
        """The directory of templates (the ``template_path`` setting)."""
        return self.settings.get("template_path")

    def create_template_loader(self, template_path: str) -> Any:
        """The loader for ``template_path``: the ``template_loader`` setting
        when given, else Tornado's template ``Loader`` (``autoescape`` and
        ``template_whitespace`` settings honoured)."""
        settings = self.application.settings
        if "template_loader" in settings:
            return settings["template_loader"]
        from . import template
        kwargs: dict[str, Any] = {}
        if "autoescape" in settings:
            kwargs["autoescape"] = settings["autoescape"]
        if "template_whitespace" in settings:
            kwargs["whitespace"] = settings["template_whitespace"]
        return template.Loader(template_path, **kwargs)

    def get_template_namespace(self) -> dict[str, Any]:
        """What every template sees (Tornado's names)."""
        namespace = dict(handler=self, request=self.request, current_user=self.current_user,
                         locale=self.locale, _=self.locale.translate, pgettext=self.locale.pgettext,
                         static_url=self.static_url, xsrf_form_html=self.xsrf_form_html,
                         reverse_url=self.reverse_url)
        namespace.update(self.ui)
        return namespace

    def render_string(self, template_name: str, **kwargs: Any) -> bytes:
        """The template rendered with the handler's namespace and
        ``kwargs``. Jinja2 when the ``template_loader`` setting is a Jinja2
        loader or environment; Tornado's template language otherwise."""
        jinja = self.application._jinja_env()
        if jinja is not None:
            namespace = dict(handler=self, request=self.request, current_user=self.current_user,
                             static_url=self.static_url, reverse_url=self.reverse_url,
                             xsrf_form_html=self.xsrf_form_html, settings=self.settings)
            namespace.update(kwargs)
            text: str = jinja.get_template(template_name).render(**namespace)
            return text.encode("utf-8")
        template_path = self.get_template_path()
        if not template_path:
            frame = sys._getframe(0)
            web_file = frame.f_code.co_filename
            while frame.f_code.co_filename == web_file and frame.f_back is not None:
                frame = frame.f_back
            template_path = os.path.dirname(frame.f_code.co_filename)
        with RequestHandler._template_loader_lock:
            loader = RequestHandler._template_loaders.get(template_path)
            if loader is None:
                loader = RequestHandler._template_loaders[template_path] = self.create_template_loader(template_path)
        if not self.settings.get("compiled_template_cache", True) and hasattr(loader, "reset"):
            loader.reset()
        t = loader.load(template_name)
        namespace = self.get_template_namespace()
        namespace.update(kwargs)
        page: bytes = t.generate(**namespace)
        return page

    def render(self, template_name: str, **kwargs: Any) -> Any:
        """Renders the template and finishes the response, with the
        resources the UI modules used (JavaScript and CSS files, embedded
        code, head and body HTML) put before ``</head>`` and ``</body>``."""
        if self._finished:
            raise RuntimeError("Cannot render() after finish()")
        html_bytes = self.render_string(template_name, **kwargs)
        modules = list(getattr(self, "_active_modules", {}).values())
        if modules:
            html_bytes = _insert_module_resources(self, html_bytes, modules)
        return self.finish(html_bytes)

    # --- running -------------------------------------------------------------

    def _execute(self, args: list[str], kwargs: dict[str, str]) -> None:
        try:
            if self.request.method not in self.SUPPORTED_METHODS:
                raise HTTPError(405)
            self._parse_arguments()
            args = [self.decode_argument(a) if isinstance(a, bytes) else a for a in args]
            kwargs = {k: self.decode_argument(v, name=k) if isinstance(v, bytes) else v for k, v in kwargs.items()}
            self.path_args, self.path_kwargs = args, kwargs
            self.request.path_args, self.request.path_kwargs = args, kwargs
            self.set_default_headers()
            if self.request.method not in ("GET", "HEAD", "OPTIONS"):
                self._cross_origin_protection()
            r = self.prepare()
            if r is not None:
                self._go_async(r, args, kwargs, after_prepare=True)
                return
            if self._finished:
                return
            if self._stream_request_body:
                self._start_body_stream(args, kwargs)
                return
            self._call_method(args, kwargs)
        except Exception as e:
            self._handle_request_exception(e)

    def _call_method(self, args: list[str], kwargs: dict[str, str]) -> None:
        method = getattr(self, self.request.method.lower())
        r = method(*args, **kwargs)
        if r is not None:
            self._go_async(r, args, kwargs, after_prepare=False)
            return
        if self._auto_finish and not self._finished:
            self._finish_after_method()

    def _go_async(self, awaitable: Any, args: list[str], kwargs: dict[str, str], after_prepare: bool) -> None:
        if not inspect.isawaitable(awaitable):
            if self._auto_finish and not self._finished and not after_prepare:
                self._finish_after_method()
            elif after_prepare and not self._finished:
                self._call_method(args, kwargs)
            return
        self._watch_close()

        async def run() -> None:
            try:
                await awaitable
                if self._finished:
                    return
                if after_prepare:
                    if self._stream_request_body:
                        self._start_body_stream(args, kwargs)
                        return
                    method = getattr(self, self.request.method.lower())
                    r = method(*args, **kwargs)
                    if r is not None and inspect.isawaitable(r):
                        await r
                if self._auto_finish and not self._finished:
                    self._finish_after_method()
            except (Exception, asyncio.CancelledError) as e:
                task = asyncio.current_task()
                # Task.cancelling() is Python 3.11's; before it, no way to tell
                cancelling = getattr(task, "cancelling", None)
                if isinstance(e, asyncio.CancelledError) and cancelling is not None and cancelling():
                    # this handler's own task was cancelled: not an error to
                    # log, but the client gets its answer; the task ends cancelled
                    if not self._finished:
                        try:
                            self.send_error(500)
                        except Exception:
                            app_log.error("Exception in exception handler", exc_info=True)
                    raise
                # awaiting a cancelled future is an uncaught exception (a 500), as in Tornado
                self._handle_request_exception(e)

        asyncio.ensure_future(run())

    def _watch_close(self, always: bool = False) -> None:
        if not always and type(self).on_connection_close is RequestHandler.on_connection_close:
            return
        req = self.request._req
        _CLOSE_LISTENERS[req] = self
        if lib.sq_request_on_close(req, _on_request_close, req) == b.SQ_ERR_CLOSED:
            # the client left before the handler asked (its close came with
            # the request): tell the handler all the same, from the loop
            IOLoop.current().add_callback(_request_closed, req)

    # --- streamed request bodies -------------------------------------------------

    def data_received(self, chunk: bytes) -> Optional[Awaitable[None]]:
        """With ``@stream_request_body``: called with each piece of the body."""
        raise NotImplementedError()

    def _start_body_stream(self, args: list[str], kwargs: dict[str, str]) -> None:
        self._stream_args = (args, kwargs)
        self._stream_queue: list[Optional[bytes]] = []
        self._stream_busy = False
        feeder = self.__dict__.get("_body_feeder")
        if feeder is not None:  # run by a router: its delegate has the body,
            # already cut to chunk_size and inflated (decompress_request)
            self._chunk_size: Optional[int] = None
            self._inflater: Any = None
            feeder._attach(self)
            return
        self._body_options()
        self._watch_close(always=True)  # also drops the stream if the client leaves
        req = self.request._req
        _BODY_STREAMS[req] = self
        st = lib.sq_request_on_body(req, _on_body_chunk, req)
        if st < 0:
            _BODY_STREAMS.pop(req, None)
            raise HTTPError(500, "cannot stream the request body: %s" % _ffi.SquallError(st))

    def _body_options(self) -> None:
        """The serving HTTPServer's ``chunk_size`` (the largest piece
        ``data_received`` gets) and ``decompress_request`` (a gzip body is
        inflated first), as Tornado's."""
        http = next((h for h in (getattr(srv, "_squall_http", None) for srv in self.application._servers)
                     if h is not None), None)
        self._chunk_size = getattr(http, "chunk_size", None)
        self._inflater = None
        if getattr(http, "decompress_request", False) and \
                (self.request.headers.get("Content-Encoding") or "").strip().lower() == "gzip":
            import zlib
            self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def _body_chunk(self, data: Optional[bytes]) -> None:
        size = self._chunk_size
        if self._inflater is not None and data is not None:
            limit = size or 0
            while data:
                out = self._inflater.decompress(data, limit)
                data = self._inflater.unconsumed_tail
                if out:
                    self._stream_queue.append(out)
                if not out and not data:
                    break
        elif size and data is not None and len(data) > size:
            self._stream_queue.extend(data[i:i + size] for i in range(0, len(data), size))
        elif data is None or data:
            self._stream_queue.append(data)
        if data is None and self._inflater is not None:
            self._stream_queue.pop()
            tail = self._inflater.flush()
            if tail:
                self._stream_queue.append(tail)
            self._stream_queue.append(None)
        if not self._stream_busy:
            self._drain_body()

    def _drain_body(self) -> None:
        try:
            while self._stream_queue and not self._finished:
                chunk = self._stream_queue.pop(0)
                if chunk is None:
                    _BODY_STREAMS.pop(self.request._req, None)
                    args, kwargs = self._stream_args
                    self._call_method(args, kwargs)
                    return
                r = self.data_received(chunk)
                if r is not None and inspect.isawaitable(r):
                    self._stream_busy = True

                    async def wait(aw: Any = r) -> None:
                        try:
                            await aw
                        except Exception as e:
                            self._stream_busy = False
                            self._handle_request_exception(e)
                            return
                        self._stream_busy = False
                        self._drain_body()
                    asyncio.ensure_future(wait())
                    return
        except Exception as e:
            self._handle_request_exception(e)


# Handlers waiting for their client to leave, and handlers receiving a
# streamed body, by request handle (the handle is the callbacks' userdata:
# it is unique while the request lives, and squall never dereferences it).
_CLOSE_LISTENERS: dict[int, "RequestHandler"] = {}
_BODY_STREAMS: dict[int, "RequestHandler"] = {}


def _request_closed(ud: int) -> None:
    h = _CLOSE_LISTENERS.pop(ud, None)
    if h is not None:
        h._connection_closed = True
        _BODY_STREAMS.pop(ud, None)
        try:
            h.on_connection_close()
        except Exception:
            app_log.error("Exception in on_connection_close", exc_info=True)


_on_request_close = c_callback(b.sq_callback)(_request_closed)


@c_callback(b.sq_body_callback)
def _on_body_chunk(ud: int, req: int, data: int, n: int, last: int) -> None:
    h = _BODY_STREAMS.get(ud)
    if h is not None:
        if n:
            h._body_chunk(string_at(data, n))
        if last:
            h._body_chunk(None)


def stream_request_body(cls: type) -> type:
    """Class decorator: the handler gets the body through ``data_received``
    as it arrives, after ``prepare``; the verb method runs at its end."""
    if not issubclass(cls, RequestHandler):
        raise TypeError("expected subclass of RequestHandler, got %r" % cls)
    cls._stream_request_body = True
    return cls


def authenticated(method: Callable[..., Any]) -> Callable[..., Any]:
    """Redirects to ``login_url`` (GET/HEAD) or answers 403 without a user."""
    @functools.wraps(method)
    def wrapper(self: RequestHandler, *args: Any, **kwargs: Any) -> Any:
        if not self.current_user:
            if self.request.method in ("GET", "HEAD"):
                url = self.get_login_url()
                if "?" not in url:
                    # an absolute login URL (another host) gets the full URL back
                    next_url = self.request.full_url() if urllib.parse.urlsplit(url).scheme else self.request.uri
                    url += "?" + urllib.parse.urlencode(dict(next=next_url))
                self.redirect(url)
                return None
            raise HTTPError(403)
        return method(self, *args, **kwargs)
    return wrapper


def _refuse_protocol_relative(path: str) -> None:
    # "//host/..." (or more slashes, or backslashes) as a Location is a
    # redirect to another host: refused, as Tornado does
    if re.match(r"[/\\]{2}", path):
        raise HTTPError(403, "cannot redirect path with two initial slashes: %r", path)


def addslash(method: Callable[..., Any]) -> Callable[..., Any]:
    """Redirects (301) a GET/HEAD whose path lacks a trailing slash to the
    path with one; other methods get a 404."""
    @functools.wraps(method)
    def wrapper(self: RequestHandler, *args: Any, **kwargs: Any) -> Any:
        if not self.request.path.endswith("/"):
            if self.request.method in ("GET", "HEAD"):
                uri = self.request.path + "/"
                _refuse_protocol_relative(uri)
                if self.request.query:
                    uri += "?" + self.request.query
                self.redirect(uri, permanent=True)
                return None
            raise HTTPError(404)
        return method(self, *args, **kwargs)
    return wrapper


def removeslash(method: Callable[..., Any]) -> Callable[..., Any]:
    """Redirects (301) a GET/HEAD whose path ends in slashes to the path
    without them; other methods get a 404."""
    @functools.wraps(method)
    def wrapper(self: RequestHandler, *args: Any, **kwargs: Any) -> Any:
        if self.request.path.endswith("/"):
            if self.request.method in ("GET", "HEAD"):
                uri = self.request.path.rstrip("/")
                if uri:  # never redirect "/" (or "//...") to an empty path
                    _refuse_protocol_relative(uri)
                    if self.request.query:
                        uri += "?" + self.request.query
                    self.redirect(uri, permanent=True)
                    return None
            else:
                raise HTTPError(404)
        return method(self, *args, **kwargs)
    return wrapper


# --- XSRF tokens: Tornado's formats ------------------------------------------------
# version 1: hex(mask + masked token); version 2: "2|hex(mask)|hex(masked)|time";
# version 0 (a raw token in the cookie) is read, never written. The 4-byte
# mask changes per request; masking is the WebSocket XOR.

def _xor_mask(mask: bytes, data: bytes) -> bytes:
    reps = (mask * (len(data) // 4 + 1))[:len(data)]
    return bytes(a ^ b for a, b in zip(reps, data))


def _xsrf_encode_v1(token: bytes) -> bytes:
    # the token in hex, unmasked (Tornado's version 1: the same on every request)
    return token.hex().encode("ascii")


def _xsrf_encode_v2(token: bytes, timestamp: float) -> bytes:
    mask = os.urandom(4)
    return b"|".join([b"2", mask.hex().encode("ascii"), _xor_mask(mask, token).hex().encode("ascii"),
                      str(int(timestamp)).encode("ascii")])


def _xsrf_decode(cookie: Union[str, bytes]) -> tuple[Optional[int], Optional[bytes], Optional[float]]:
    """(version, token, timestamp) of a token or cookie; (None, None, None)
    when it cannot be read (logged at debug)."""
    raw = cookie.encode("latin-1", "replace") if isinstance(cookie, str) else cookie
    m = re.fullmatch(rb"([0-9]+)\|", raw[:2]) if raw[1:2] == b"|" else None
    try:
        if m is not None:
            version = int(m.group(1))
            if version != 2:
                raise ValueError("unknown xsrf token version %d" % version)
            _, mask_hex, masked_hex, ts = raw.split(b"|")
            mask = bytes.fromhex(mask_hex.decode("ascii"))
            token = _xor_mask(mask, bytes.fromhex(masked_hex.decode("ascii")))
            return 2, token, float(int(ts))
        # version 1: the token in hex, or (not hex) the token as it is
        try:
            token = bytes.fromhex(raw.decode("ascii"))
        except ValueError:
            token = raw
        return 1, token, float(int(time.time()))
    except Exception:
        gen_log.debug("Uncaught exception in _decode_xsrf_token", exc_info=True)
        return None, None, None


# --- UI modules ------------------------------------------------------------------

class UIModule:
    """A reusable piece of a page, used in templates as ``{% module
    Name(...) %}``; it may add JavaScript, CSS and head/body HTML to the page
    it is on (the ``embedded_*``, ``*_files``, ``html_head``, ``html_body``
    methods)."""

    def __init__(self, handler: RequestHandler) -> None:
        self.handler = handler
        self.request = handler.request
        self.ui = handler.ui
        self.locale = handler.locale

    @property
    def current_user(self) -> Any:
        return self.handler.current_user

    def render(self, *args: Any, **kwargs: Any) -> Union[str, bytes]:
        raise NotImplementedError()

    def embedded_javascript(self) -> Optional[str]:
        return None

    def javascript_files(self) -> Optional[Any]:
        return None

    def embedded_css(self) -> Optional[str]:
        return None

    def css_files(self) -> Optional[Any]:
        return None

    def html_head(self) -> Optional[str]:
        return None

    def html_body(self) -> Optional[str]:
        return None

    def render_string(self, path: str, **kwargs: Any) -> bytes:
        return self.handler.render_string(path, **kwargs)


class _linkify(UIModule):
    def render(self, text: str, **kwargs: Any) -> str:
        from . import escape
        return escape.linkify(text, **kwargs)


class _xsrf_form_html(UIModule):
    def render(self) -> str:
        return self.handler.xsrf_form_html()


class TemplateModule(UIModule):
    """``{% module Template("x.html", **kw) %}``: renders another template;
    a template may call ``set_resources(embedded_css=..., ...)`` to add to
    the page what a UI module would."""

    def __init__(self, handler: RequestHandler) -> None:
        super().__init__(handler)
        self._resource_list: list[dict[str, Any]] = []
        self._resource_dict: dict[str, dict[str, Any]] = {}

    def render(self, path: str, **kwargs: Any) -> bytes:
        def set_resources(**kw: Any) -> str:
            if path not in self._resource_dict:
                self._resource_list.append(kw)
                self._resource_dict[path] = kw
            elif self._resource_dict[path] != kw:
                raise ValueError("set_resources called with different resources for the same template")
            return ""
        return self.render_string(path, set_resources=set_resources, **kwargs)

    def _get_resources(self, key: str) -> list[Any]:
        return [r[key] for r in self._resource_list if key in r]

    def embedded_javascript(self) -> str:
        return "\n".join(self._get_resources("embedded_javascript"))

    def _get_resource_files(self, key: str) -> list[Union[str, bytes]]:
        """A resource's file paths: each module gives one path or a list."""
        out: list[Union[str, bytes]] = []
        for f in self._get_resources(key):
            out.extend([f] if isinstance(f, (str, bytes)) else f)
        return out

    def javascript_files(self) -> list[Union[str, bytes]]:
        return self._get_resource_files("javascript_files")

    def embedded_css(self) -> str:
        return "\n".join(self._get_resources("embedded_css"))

    def css_files(self) -> list[Union[str, bytes]]:
        return self._get_resource_files("css_files")

    def html_head(self) -> str:
        return "".join(self._get_resources("html_head"))

    def html_body(self) -> str:
        return "".join(self._get_resources("html_body"))


class _UIModuleNamespace:
    """``modules.Name(...)`` in a template: the handler's instance of the
    UI module ``Name``."""

    def __init__(self, handler: RequestHandler, ui_modules: dict[str, type]) -> None:
        self.handler = handler
        self.ui_modules = ui_modules

    def __getitem__(self, key: str) -> Callable[..., Any]:
        return self.handler._ui_module(key, self.ui_modules[key])

    def __getattr__(self, key: str) -> Callable[..., Any]:
        try:
            return self[key]
        except KeyError as e:
            raise AttributeError(str(e))


def _utf8s(v: Any) -> bytes:
    return v if isinstance(v, bytes) else str(v).encode("utf-8")


def _insert_module_resources(handler: RequestHandler, page: bytes, modules: list[UIModule]) -> bytes:
    js_embed: list[bytes] = []
    js_files: list[Union[str, bytes]] = []  # bytes paths are decoded by urls()
    css_embed: list[bytes] = []
    css_files: list[Union[str, bytes]] = []
    heads: list[bytes] = []
    bodies: list[bytes] = []
    for m in modules:
        e = m.embedded_javascript()
        if e:
            js_embed.append(_utf8s(e))
        f = m.javascript_files()
        if f:
            js_files.extend([f] if isinstance(f, (str, bytes)) else f)
        e = m.embedded_css()
        if e:
            css_embed.append(_utf8s(e))
        f = m.css_files()
        if f:
            css_files.extend([f] if isinstance(f, (str, bytes)) else f)
        h = m.html_head()
        if h:
            heads.append(_utf8s(h))
        h = m.html_body()
        if h:
            bodies.append(_utf8s(h))

    def urls(paths: list[Any]) -> list[str]:
        out: list[str] = []
        for p in paths:
            p = p.decode("utf-8") if isinstance(p, bytes) else p
            if not p.startswith("/") and not p.startswith("http:") and not p.startswith("https:"):
                p = handler.static_url(p)
            if p not in out:
                out.append(p)
        return out

    head_add = b""
    body_add = b""
    if css_files:
        head_add += "".join('<link href="%s" type="text/css" rel="stylesheet"/>' % html.escape(p)
                            for p in urls(css_files)).encode("utf-8")
    if css_embed:
        head_add += b'\n<style type="text/css">\n' + b"\n".join(css_embed) + b"\n</style>"
    if heads:
        head_add += b"\n" + b"\n".join(heads) + b"\n"
    if js_files:
        body_add += "".join('<script src="%s" type="text/javascript"></script>' % html.escape(p)
                            for p in urls(js_files)).encode("utf-8")
    if js_embed:
        body_add += (b'\n<script type="text/javascript">\n//<![CDATA[\n' + b"\n".join(js_embed)
                     + b"\n//]]>\n</script>")
    if bodies:
        body_add += b"\n" + b"\n".join(bodies) + b"\n"
    if head_add:
        i = page.rindex(b"</head>") if b"</head>" in page else -1
        if i >= 0:
            page = page[:i] + head_add + page[i:]
    if body_add:
        i = page.rindex(b"</body>") if b"</body>" in page else -1
        if i >= 0:
            page = page[:i] + body_add + page[i:]
    return page


# --- output transforms -------------------------------------------------------------

class OutputTransform:
    """Tornado's response transform interface (squall applies
    ``GZipContentEncoding`` itself when ``compress_response`` is set)."""

    def __init__(self, request: Any) -> None:
        pass


class GZipContentEncoding(OutputTransform):
    """gzip of eligible responses (``compress_response``): a text type of
    ``CONTENT_TYPES`` or ``+json``/``+xml``, at least ``MIN_LENGTH`` bytes,
    to a client that accepts gzip; the response gets ``Vary:
    Accept-Encoding`` either way."""

    CONTENT_TYPES = {
        "application/javascript", "application/x-javascript", "application/xml",
        "application/atom+xml", "application/json", "application/xhtml+xml", "image/svg+xml",
    }
    GZIP_LEVEL = 6
    MIN_LENGTH = 1024

    @classmethod
    def _compressible_type(cls, ctype: str) -> bool:
        return ctype.startswith("text/") or ctype in cls.CONTENT_TYPES


def _create_signature_v1(secret: Union[str, bytes], *parts: Union[str, bytes]) -> bytes:
    from . import _signing
    return _signing._mac_v1(secret, *[_signing._b(p) for p in parts])


def _create_signature_v2(secret: Union[str, bytes], s: Union[str, bytes]) -> bytes:
    from . import _signing
    return _signing._mac_v2(secret, _signing._b(s))


def get_signature_key_version(value: Union[str, bytes]) -> Optional[int]:
    """The key version a version-2 signed value was made with (None for
    older versions or a malformed value)."""
    from . import _signing
    return _signing.get_signature_key_version(value)


class ErrorHandler(RequestHandler):
    """Answers every request with ``status_code``."""

    def initialize(self, status_code: int) -> None:  # type: ignore[override]
        self.set_status(status_code)

    def prepare(self) -> None:
        raise HTTPError(self._status_code)

    def _cross_origin_protection(self) -> None:
        pass  # its own status, whatever the method or origin


def _scheme_and_host(url: str) -> tuple[str, Optional[str]]:
    """The scheme and host a browser would take from ``url``: tabs and
    newlines dropped, backslashes read as slashes, any number of slashes
    before an authority, and for http(s) a host even without the slashes.
    The host is None when the URL has no authority (a path)."""
    u = re.sub(r"[\t\n\r]", "", url).replace("\\", "/")
    m = re.match(r"([A-Za-z][A-Za-z0-9+.-]*):", u)
    scheme = m.group(1).lower() if m else ""
    rest = u[m.end():] if m else u
    if scheme in ("http", "https") or rest.startswith("//"):
        return scheme, re.split(r"[/?#]", rest.lstrip("/"), maxsplit=1)[0].lower()
    return scheme, None


class RedirectHandler(RequestHandler):
    """Redirects to ``url``, a ``str.format`` template filled with the
    path's groups; the query string is carried over. A redirect whose
    scheme or host would come from the request (not from the template's
    text before its first substitution), or that holds control characters,
    is a 400: no open redirects."""

    def initialize(self, url: str, permanent: bool = True) -> None:  # type: ignore[override]
        self._url = url
        self._permanent = permanent

    def get(self, *args: Any, **kwargs: Any) -> None:
        import string
        to_url = self._url.format(*args, **kwargs)
        if self.request.query_arguments:
            try:
                to_url = httputil.url_concat(to_url, list(httputil.qs_to_qsl(self.request.query_arguments)))
            except ValueError:  # not a URL urllib can split (e.g. "//[")
                raise HTTPError(400, "Redirect URL cannot change the scheme or netloc: %r", to_url)
        fixed = ""
        substituted = False
        for literal, field, _spec, _conv in string.Formatter().parse(self._url):
            fixed += literal
            if field is not None:
                substituted = True
                break
        want = _scheme_and_host(fixed)
        got = _scheme_and_host(to_url)
        if got != want or (substituted and want[0] in ("http", "https") and not want[1]):
            raise HTTPError(400, "Redirect URL cannot change the scheme or netloc: %r", to_url)
        if re.search(r"[\x00-\x1f\x7f]", to_url):
            raise HTTPError(400, "Redirect URL contains invalid characters: %r", to_url)
        self.redirect(to_url, permanent=self._permanent)


class StaticFileHandler(RequestHandler):
    """Serves the files under a directory: ``(r"/prefix/(.*)",
    StaticFileHandler, {"path": dir})``, and the ``static_path`` setting's
    routes (``static_url_prefix``, ``/favicon.ico``, ``/robots.txt``).

    Tornado 6.6's behaviour and hooks, run in Python on every request:
    ``parse_url_path``, ``get_absolute_path``/``validate_absolute_path``
    (traversal, symlinks kept inside ``allowed_symlink_directory`` — the
    root unless set —, only regular files, ``default_filename`` with a
    redirect to the slashed directory), ``get_content`` (a generator of 64
    KiB chunks: a file bigger than one chunk is sent piece by piece, a
    flush each), ``get_content_version`` (SHA-512, cached per absolute path
    until ``reset``), ``get_content_size``, ``get_modified_time``,
    ``get_content_type``, ``get_cache_time``, ``set_extra_headers``,
    ``make_static_url``/``get_version`` (``static_url``), ETag with
    If-None-Match, If-Modified-Since, one byte range (206, 416; a range
    covering the whole file is a 200).

    ``RustStaticFileHandler`` serves a directory from Rust instead
    (sendfile, no Python per request, none of these hooks)."""

    CACHE_MAX_AGE = 86400 * 365 * 10
    MAX_VERSION_CONTENT_SIZE = 64 * 1024 * 1024
    MAX_CACHED_VERSIONS = 10000
    CHUNK_SIZE = 64 * 1024

    # absolute path -> version, least recently used first (shared by the
    # class and its subclasses, as Tornado's)
    _static_hashes: dict[str, Optional[str]] = {}
    _lock = threading.Lock()
    # on the class: subclasses with their own initialize() still have it
    allowed_symlink_directory: Union[str, list[str], None] = None
    default_filename: Optional[str] = None

    def initialize(self, path: str, default_filename: Optional[str] = None,  # type: ignore[override]
                   allowed_symlink_directory: Union[str, list[str], None] = None) -> None:
        self.root = path
        self.default_filename = default_filename
        self.allowed_symlink_directory = allowed_symlink_directory

    @classmethod
    def reset(cls) -> None:
        """Forgets every cached version."""
        with cls._lock:
            cls._static_hashes = {}

    def head(self, path: str) -> Awaitable[None]:
        return self.get(path, include_body=False)

    async def get(self, path: str, include_body: bool = True) -> None:
        if not self.settings.get("static_hash_cache", True):
            type(self).reset()
        self.path = self.parse_url_path(path)
        del path
        absolute_path = self.get_absolute_path(self.root, self.path)
        self.absolute_path = self.validate_absolute_path(self.root, absolute_path)
        if self.absolute_path is None:
            return
        self.modified = self.get_modified_time()
        self.set_headers()
        if self.should_return_304():
            self.set_status(304)
            return
        size = self.get_content_size()
        start: Optional[int] = None
        end: Optional[int] = None
        header = self.request.headers.get("Range")
        wanted = _parse_range(header) if header else None
        if wanted is not None:
            start, end = wanted
            if start is not None and start < 0:
                start = max(start + size, 0)
            if (start is not None and (start >= size or (end is not None and start >= end))) or end == 0:
                # nothing of the file is in that range (RFC 9110 14.1.2)
                self.set_status(416)
                self.set_header("Content-Type", "text/plain")
                self.set_header("Content-Range", "bytes */%d" % size)
                return
            if end is not None and end > size:
                end = size
            if size != (end or size) - (start or 0):
                # a range that is the whole file is a 200 (players refuse a
                # 206 to "bytes=0-")
                self.set_status(206)
                self.set_header("Content-Range", "bytes %d-%d/%d" % (start or 0, (end or size) - 1, size))
        if start is not None and end is not None:
            length = end - start
        elif end is not None:
            length = end
        elif start is not None:
            length = size - start
        else:
            length = size
        self.set_header("Content-Length", length)
        if not include_body:
            return
        content = self.get_content(self.absolute_path, start, end)
        if isinstance(content, bytes):
            content = [content]
        from .iostream import StreamClosedError
        first = True
        try:
            for chunk in content:
                if not first:
                    await asyncio.sleep(0)  # let the loop run between pieces
                first = False
                self.write(chunk)
                try:
                    await self.flush()
                except StreamClosedError:
                    return
        finally:
            close = getattr(content, "close", None)
            if close is not None:
                close()

    def compute_etag(self) -> Optional[str]:
        assert self.absolute_path is not None
        version = self._get_cached_version(self.absolute_path)
        return '"%s"' % version if version else None

    def set_headers(self) -> None:
        self.set_header("Accept-Ranges", "bytes")
        self.set_etag_header()
        if self.modified is not None:
            self.set_header("Last-Modified", self.modified)
        content_type = self.get_content_type()
        if content_type:
            self.set_header("Content-Type", content_type)
        cache_time = self.get_cache_time(self.path, self.modified, content_type)
        if cache_time > 0:
            self.set_header("Expires", datetime.datetime.now(datetime.timezone.utc)
                            + datetime.timedelta(seconds=cache_time))
            self.set_header("Cache-Control", "max-age=" + str(cache_time))
        self.set_extra_headers(self.path)

    def should_return_304(self) -> bool:
        """If-None-Match decides when present; else If-Modified-Since."""
        if self.request.headers.get("If-None-Match"):
            return self.check_etag_header()
        since = self.request.headers.get("If-Modified-Since")
        if since is not None:
            import email.utils
            try:
                when = email.utils.parsedate_to_datetime(since)
            except Exception:
                return False
            if when.tzinfo is None:
                when = when.replace(tzinfo=datetime.timezone.utc)
            if self.modified is not None and when >= self.modified:
                return True
        return False

    @classmethod
    def get_absolute_path(cls, root: str, path: str) -> str:
        """``root``/``path`` made absolute; a 403 when ``path`` leaves ``root``
        as written (``../``)."""
        absolute = os.path.abspath(os.path.join(root, path))
        cls._inside_root(root, absolute, path)
        return absolute

    def validate_absolute_path(self, root: str, absolute_path: str) -> Optional[str]:
        """The file to serve, symlinks resolved: a 403 outside the root (or
        ``allowed_symlink_directory``) or for what is not a regular file, a
        404 when missing, a redirect to ``path/`` for a directory with
        ``default_filename``. None when the response is already made."""
        root = self._inside_root(root, absolute_path, self.path)
        allowed = self.allowed_symlink_directory or root
        dirs = [allowed] if isinstance(allowed, str) else list(allowed)
        absolute_path = self._resolved_inside(absolute_path, dirs, self.path)
        if os.path.isdir(absolute_path) and self.default_filename is not None:
            if not self.request.path.endswith("/"):
                if self.request.path.startswith("//") or self.request.path.startswith("/\\"):
                    # "//host" would be a protocol-relative redirect elsewhere
                    raise HTTPError(403, "cannot redirect path with two initial slashes")
                self.redirect(self.request.path + "/", permanent=True)
                return None
            absolute_path = self._resolved_inside(os.path.join(absolute_path, self.default_filename), dirs,
                                                  self.path)
        self._stat_result = self._regular_file(absolute_path, self.path)
        return absolute_path

    @staticmethod
    def _regular_file(absolute_path: str, what: str) -> os.stat_result:
        try:
            st = os.stat(absolute_path)
        except OSError:
            raise HTTPError(404)
        if not stat.S_ISREG(st.st_mode):
            # a directory, device, FIFO or socket is never read
            raise HTTPError(403, "%s is not a file", what)
        return st

    @staticmethod
    def _inside_root(root: str, absolute_path: str, what: str) -> str:
        """``root`` normalised with a trailing separator; a 403 unless
        ``absolute_path`` is that directory or under it."""
        root = os.path.abspath(root)
        if not root.endswith(os.path.sep):
            root += os.path.sep
        if not (absolute_path + os.path.sep).startswith(root):
            raise HTTPError(403, "%s is not in root static directory", what)
        return root

    @staticmethod
    def _resolved_inside(absolute_path: str, directories: list[str], what: str) -> str:
        """``absolute_path`` with its symlinks resolved, which must be inside
        one of ``directories`` (themselves resolved); else a 403 with the
        same message as a traversal, so the two cannot be told apart."""
        real = os.path.realpath(absolute_path)
        for d in directories:
            d = os.path.realpath(d)
            if not d.endswith(os.path.sep):
                d += os.path.sep
            if (real + os.path.sep).startswith(d):
                return real
        raise HTTPError(403, "%s is not in root static directory", what)

    @classmethod
    def get_content(cls, abspath: str, start: Optional[int] = None,
                    end: Optional[int] = None) -> Any:
        """The bytes of ``abspath`` from ``start`` to ``end`` (slice
        indexes), as a generator of chunks of at most ``CHUNK_SIZE``."""
        cls._regular_file(abspath, abspath)
        with open(abspath, "rb") as f:
            if start is not None:
                f.seek(start)
            left = None if end is None else end - (start or 0)
            while left is None or left > 0:
                n = cls.CHUNK_SIZE if left is None else min(cls.CHUNK_SIZE, left)
                chunk = f.read(n)
                if not chunk:
                    return
                if left is not None:
                    left -= len(chunk)
                yield chunk

    @classmethod
    def get_content_version(cls, abspath: str) -> str:
        """The SHA-512 of the content; ``ValueError`` past
        ``MAX_VERSION_CONTENT_SIZE`` (hashing blocks the loop)."""
        data = cls.get_content(abspath)
        chunks = [data] if isinstance(data, bytes) else data
        h = hashlib.sha512()
        total = 0
        try:
            for chunk in chunks:
                total += len(chunk)
                if total > cls.MAX_VERSION_CONTENT_SIZE:
                    raise ValueError("content is larger than MAX_VERSION_CONTENT_SIZE (%d bytes)"
                                     % cls.MAX_VERSION_CONTENT_SIZE)
                h.update(chunk)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        return h.hexdigest()

    def _stat(self) -> os.stat_result:
        if not hasattr(self, "_stat_result"):
            self._stat_result = os.stat(self.absolute_path)  # type: ignore[arg-type]
        return self._stat_result

    def get_content_size(self) -> int:
        return self._stat().st_size

    def get_modified_time(self) -> Optional[datetime.datetime]:
        # whole seconds, as HTTP dates (and Tornado) have them
        return datetime.datetime.fromtimestamp(int(self._stat().st_mtime), datetime.timezone.utc)

    def get_content_type(self) -> str:
        assert self.absolute_path is not None
        mime, encoding = mimetypes.guess_type(self.absolute_path)
        if encoding == "gzip":
            return "application/gzip"  # RFC 6713
        if encoding is not None:
            return "application/octet-stream"
        return mime or "application/octet-stream"

    def set_extra_headers(self, path: str) -> None:
        """Override to add headers."""

    def get_cache_time(self, path: str, modified: Optional[datetime.datetime], mime_type: str) -> int:
        """Seconds the response may be cached: ten years for a versioned
        URL (``?v=``), else 0 (browser heuristics)."""
        return self.CACHE_MAX_AGE if "v" in self.request.arguments else 0

    @classmethod
    def make_static_url(cls, settings: dict[str, Any], path: str, include_version: bool = True) -> str:
        url: str = settings.get("static_url_prefix", "/static/") + path
        if not include_version:
            return url
        version = cls.get_version(settings, path)
        return "%s?v=%s" % (url, version) if version else url

    def parse_url_path(self, url_path: str) -> str:
        if os.path.sep != "/":
            url_path = url_path.replace("/", os.path.sep)
        return url_path

    @classmethod
    def get_version(cls, settings: dict[str, Any], path: str) -> Optional[str]:
        return cls._get_cached_version(cls.get_absolute_path(settings["static_path"], path))

    @classmethod
    def _get_cached_version(cls, abs_path: str) -> Optional[str]:
        with cls._lock:
            hashes = cls._static_hashes
            if abs_path in hashes:
                version = hashes[abs_path] = hashes.pop(abs_path)  # most recently used
            else:
                try:
                    version = cls.get_content_version(abs_path)
                except Exception as e:
                    gen_log.error("Could not open static file %r: %s", abs_path, e)
                    version = None
                while hashes and len(hashes) >= cls.MAX_CACHED_VERSIONS:
                    del hashes[next(iter(hashes))]
                hashes[abs_path] = version
            return version or None


class RustStaticFileHandler(StaticFileHandler):
    """Opt-in: the directory is served by squall's Rust static files
    (sendfile, ETag from size and mtime, Range, If-Modified-Since, an
    ``index.html`` for a directory) with no Python per request. As a route
    target, ``(r"/prefix/(.*)", RustStaticFileHandler, {"path": dir})``
    (the pattern must be a plain prefix then ``(.*)``), or as the
    ``static_handler_class`` setting for ``static_path`` (its prefix only:
    no ``/favicon.ico``, ``/robots.txt`` routes). None of
    ``StaticFileHandler``'s serving hooks are called; ``static_url`` still
    works (``make_static_url``)."""


class URLSpec:
    """A route: ``pattern`` (a regular expression matched against the whole
    path), ``handler`` class, ``kwargs`` for its ``initialize``, ``name``."""

    def __init__(self, pattern: str, handler: Any, kwargs: Optional[dict[str, Any]] = None, name: Optional[str] = None) -> None:
        if not pattern.endswith("$"):
            pattern += "$"
        self.pattern = pattern
        self.regex = re.compile(pattern)
        if isinstance(handler, str):
            from .util import import_object  # a handler named by its dotted path
            handler = import_object(handler)
        self.handler_class = handler
        self.kwargs = kwargs or {}
        self.name = name
        # positional groups, or names for named ones (Tornado: not mixed)
        self.group_names: list[Optional[str]] = [None] * self.regex.groups
        for gname, idx in self.regex.groupindex.items():
            self.group_names[idx - 1] = gname
        self._path = self._reverse_template()

    def _reverse_template(self) -> Optional[str]:
        p = self.pattern
        if p.startswith("^"):
            p = p[1:]
        if p.endswith("$"):
            p = p[:-1]
        if self.regex.groups != p.count("("):
            return None
        out, depth = [], 0
        for piece in re.split(r"(\([^)]*\))", p):
            if piece.startswith("(") and piece.endswith(")"):
                out.append("%s")
            else:
                if re.search(r"[\\\[\]{}*+?|.^$]", piece.replace("\\.", "").replace("\\-", "")):
                    return None
                out.append(piece.replace("\\.", ".").replace("\\-", "-"))
        return "".join(out)

    def reverse(self, *args: Any) -> str:
        if self._path is None:
            raise ValueError("Cannot reverse url regex " + self.pattern)
        return self._path % tuple(
            urllib.parse.quote(a if isinstance(a, bytes) else str(a).encode("utf-8"), safe="") for a in args)

    def path_arguments(self, req: int, path: str) -> tuple[list[Any], dict[str, Any]]:
        """The groups the route captured for request ``req``, as bytes (None
        for a group that did not take part): positional, or by name when the
        pattern names its groups (Tornado does not mix the two)."""
        if not self.regex.groups:
            return [], {}
        caps = _captures_bytes(req, self.regex.groups, self.regex, path)
        if any(n is not None for n in self.group_names):
            return [], {n: v for n, v in zip(self.group_names, caps) if n is not None}
        return caps, {}

    @property
    def rust_pattern(self) -> str:
        p = self.pattern
        if p.startswith("^"):
            p = p[1:]
        if p.endswith("$"):
            p = p[:-1]
        return p


url = URLSpec


class FastRequest:
    """The request a fast-path function gets: attributes read from squall on
    first use. Valid during the call; with ``DEFER``, until ``respond``."""

    __slots__ = ("_req", "_method", "_uri", "captures")

    def __init__(self, req: int, captures: tuple[str, ...]) -> None:
        self._req = req
        self._method: Optional[str] = None
        self._uri: Optional[str] = None
        self.captures = captures

    def _str(self, fn: Any) -> str:
        s = sq_str()
        fn(self._req, byref(s))
        return string_at(s.ptr, s.len).decode("latin-1")

    @property
    def method(self) -> str:
        if self._method is None:
            self._method = self._str(lib.sq_request_method)
        return self._method

    @property
    def uri(self) -> str:
        if self._uri is None:
            self._uri = self._str(lib.sq_request_uri)
        return self._uri

    @property
    def path(self) -> str:
        return self.uri.partition("?")[0]

    @property
    def query(self) -> str:
        return self.uri.partition("?")[2]

    @property
    def body(self) -> bytes:
        s = sq_str()
        lib.sq_request_body(self._req, byref(s))
        return string_at(s.ptr, s.len) if s.len else b""

    def header(self, name: str, default: Optional[str] = None) -> Optional[str]:
        s = sq_str()
        if lib.sq_request_header(self._req, name.encode("latin-1"), byref(s)) != b.SQ_OK:
            return default
        return string_at(s.ptr, s.len).decode("latin-1")

    def argument(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """The last value of a query (or urlencoded body) argument, decoded."""
        s = sq_str()
        if lib.sq_request_argument(self._req, name.encode("utf-8"), byref(s)) != b.SQ_OK:
            return default
        return string_at(s.ptr, s.len).decode("utf-8", "replace")

    def respond(self, body: Any = b"", status: int = 200, headers: Optional[Any] = None) -> bool:
        """Answers (from any thread). False when the client had gone."""
        return _fast_respond(self._req, status, headers, body) != b.SQ_ERR_CLOSED


_TEXT = b"text/plain; charset=utf-8"
_JSON = b"application/json"
_TEXT_HEADERS = (sq_header * 1)(sq_header(b"Content-Type", _TEXT, len(_TEXT)))
_JSON_HEADERS = (sq_header * 1)(sq_header(b"Content-Type", _JSON, len(_JSON)))
_respond = lib.sq_respond


def _fast_respond(req: int, status: int, headers: Any, body: Any) -> int:
    if isinstance(body, str):
        body = body.encode("utf-8")
        default = _TEXT_HEADERS
    elif isinstance(body, (bytes, bytearray, memoryview)):
        default = _TEXT_HEADERS
        body = bytes(body)
    elif isinstance(body, (dict, list)):
        body = json.dumps(body).encode("utf-8")
        default = _JSON_HEADERS
    elif body is None:
        body = b""
        default = _TEXT_HEADERS
    else:
        raise TypeError("a fast-path response body must be str, bytes, dict or list, not %r" % type(body))
    if headers:
        items = headers.items() if isinstance(headers, dict) else headers
        pairs = [(_utf8(k), _utf8(str(v) if not isinstance(v, (str, bytes)) else v)) for k, v in items]
        if not any(k.lower() == b"content-type" for k, _ in pairs):
            pairs.append((b"Content-Type", default[0].value[:default[0].value_len]))
        st: int = _respond(req, status, _header_array(pairs), len(pairs), body, len(body))
    else:
        st = _respond(req, status, default, 1, body, len(body))
    if st == b.SQ_ERR_INVALID_ARG:
        raise ValueError("squall refused the response (status or header)")
    return st


def _fast_route(fn: Callable[[FastRequest], Any], pattern: str) -> Callable[[int], None]:
    """What squall calls for a fast-path route (a closure: the cheapest
    callable for the trampoline to call)."""
    ncap = re.compile(pattern).groups
    respond = _respond
    text = _TEXT_HEADERS

    def fast(req: int) -> None:
        try:
            r = fn(FastRequest(req, tuple(_capture(req, i) for i in range(ncap)) if ncap else ()))
            if type(r) is bytes:
                if respond(req, 200, text, 1, r, len(r)) == _INVALID:
                    raise ValueError("squall refused the response")
            elif r is DEFER:
                return
            elif isinstance(r, tuple):
                if len(r) == 2:
                    _fast_respond(req, r[0], None, r[1])
                elif len(r) == 3:
                    _fast_respond(req, r[0], r[1], r[2])
                else:
                    raise TypeError("a fast-path tuple is (status, body) or (status, headers, body)")
            else:
                _fast_respond(req, 200, None, r)
        except Exception:
            app_log.error("Uncaught exception in fast-path route %s", pattern, exc_info=True)
            body = b"500: Internal Server Error"
            respond(req, 500, text, 1, body, len(body))

    return fast


_INVALID = b.SQ_ERR_INVALID_ARG


def _capture(req: int, i: int) -> str:
    s = sq_str()
    if lib.sq_request_capture(req, i, byref(s)) != b.SQ_OK:
        return None  # type: ignore[return-value]
    return string_at(s.ptr, s.len).decode("utf-8", "replace")


_REPLACEMENT = "\ufffd".encode()


def _captures_bytes(req: int, ncap: int, regex: "re.Pattern[str]", path: str) -> list[Optional[bytes]]:
    """The route's groups as bytes, percent-decoded. squall hands them over as
    UTF-8 with bytes that were not UTF-8 replaced by U+FFFD; for such a group
    the raw bytes are taken from the path again, so that ``decode_argument``
    sees what the client sent."""
    s = sq_str()
    caps: list[Optional[bytes]] = []
    for i in range(ncap):
        caps.append(string_at(s.ptr, s.len) if lib.sq_request_capture(req, i, byref(s)) == b.SQ_OK else None)
    if any(c is not None and _REPLACEMENT in c for c in caps):
        m = regex.match(path)
        if m is not None and len(m.groups()) == ncap:
            caps = [urllib.parse.unquote_to_bytes(g) if g is not None else None for g in m.groups()]
    return caps


class _HandlerRoute:
    """What squall calls for a RequestHandler route: makes the handler and
    runs it."""

    __slots__ = ("app", "spec", "xheaders", "cls", "kwargs", "protocol", "inflate")

    def __init__(self, app: "Application", spec: URLSpec, xheaders: Union[XHeaders, bool],
                 protocol: Optional[str] = None, inflate: Optional[int] = None) -> None:
        self.app = app
        self.spec = spec
        self.cls = spec.handler_class
        self.kwargs = spec.kwargs
        self.xheaders = xheaders
        self.protocol = protocol
        # decompress_request: the bound of an inflated body (None: off;
        # buffered bodies only)
        self.inflate = None if getattr(self.cls, "_stream_request_body", False) else inflate

    def __call__(self, req: int) -> None:
        # protocol: HTTPServer(protocol=...), "https" under TLS; X-Scheme
        # overrides it when xheaders is on
        request = HTTPServerRequest.from_handle(req, self.xheaders, self.protocol)
        if self.inflate is not None:
            try:
                inflate_request(request, self.inflate)
            except httputil.HTTPInputError as e:
                refuse_malformed(req, request, e)
                return
        # bytes: the handler's decode_argument makes them str (a 400 when
        # they are not UTF-8), as Tornado does
        args, kwargs = self.spec.path_arguments(req, request.path)
        try:
            handler = self.cls(self.app, request, **self.kwargs)
        except Exception as e:
            app_log.error("Uncaught exception creating %s", self.cls.__name__, exc_info=True)
            h = RequestHandler(self.app, request)
            h._handle_request_exception(e)
            return
        handler._execute(args, kwargs)


def _run_spec(app: "Application", spec: Optional[URLSpec], request: HTTPServerRequest) -> None:
    """Runs ``spec``'s handler for ``request``, its path arguments taken
    with the spec's own regex (the route squall matched may be another's);
    None: the application's 404."""
    if spec is None:
        cls: Any = app.settings.get("default_handler_class")
        if cls is not None:
            handler = cls(app, request, **app.settings.get("default_handler_args", {}))
        else:
            handler = ErrorHandler(app, request, status_code=404)
        handler._execute([], {})
        return
    m = spec.regex.match(request.path)
    groups = [urllib.parse.unquote_to_bytes(g) if g is not None else None for g in m.groups()] if m else []
    if m is not None and any(n is not None for n in spec.group_names):
        args: list[Any] = []
        kwargs = {n: v for n, v in zip(spec.group_names, groups) if n is not None}
    else:
        args, kwargs = groups, {}
    try:
        handler = spec.handler_class(app, request, **spec.kwargs)
    except Exception as e:
        app_log.error("Uncaught exception creating %s", spec.handler_class.__name__, exc_info=True)
        RequestHandler(app, request)._handle_request_exception(e)
        return
    handler._execute(args, kwargs)


class _HostAwareRoute(_HandlerRoute):
    """A route once the application has host patterns (``add_handlers``
    with a host other than ``.*``): the handler is chosen again in Python by
    host then path, in Tornado's order. Routes become this by a class change
    when the first host pattern is added, so an application without host
    patterns does no work for them per request."""

    __slots__ = ()

    def __call__(self, req: int) -> None:
        # the server's protocol under what X-Scheme / X-Forwarded-Proto say
        request = HTTPServerRequest.from_handle(req, self.xheaders, self.protocol)
        spec = self.app._find_spec(request)
        if spec is self.spec:
            _HandlerRoute.__call__(self, req)  # squall's captures are the right ones
            return
        _run_spec(self.app, spec, request)


def _is_handler_rule(h: Any) -> bool:
    """``(regex, handler class or its dotted name[, kwargs[, name]])``: a
    route for squall's router (a RequestHandler, or a class squall mounts
    itself such as ``metrics.MetricsHandler``); anything else (a Matcher
    first, an object or a list as target) is a routing rule."""
    if not isinstance(h, (tuple, list)) or not 2 <= len(h) <= 4 or not isinstance(h[0], str):
        return False
    return isinstance(h[1], (str, type))


class _HandlerDelegate(httputil.HTTPMessageDelegate):
    """Runs a RequestHandler for a request a router found
    (``Application.get_handler_delegate``): the body is collected, then the
    handler runs; a ``@stream_request_body`` handler runs at the head and
    gets the body as it comes."""

    def __init__(self, application: "Application", request: Any, handler_class: type,
                 handler_kwargs: Optional[dict[str, Any]], path_args: Optional[list[Any]],
                 path_kwargs: Optional[dict[str, Any]]) -> None:
        self.application = application
        self.request = request
        self.handler_class = handler_class
        self.handler_kwargs = handler_kwargs or {}
        self.path_args = path_args or []
        self.path_kwargs = path_kwargs or {}
        self.chunks: list[bytes] = []
        self.stream_request_body = bool(getattr(handler_class, "_stream_request_body", False))
        self.handler: Optional[RequestHandler] = None
        self._early: list[Optional[bytes]] = []  # body pieces before the handler asked for them

    def headers_received(self, start_line: Any, headers: Any) -> None:
        if self.stream_request_body:
            self.execute()

    def data_received(self, data: bytes) -> None:
        if self.stream_request_body:
            self._feed(data)
        else:
            self.chunks.append(data)

    def finish(self) -> None:
        if self.stream_request_body:
            self._feed(None)
        else:
            self.request.body = b"".join(self.chunks)
            self.chunks = []
            self.execute()

    def on_connection_close(self) -> None:
        h = self.handler
        if h is not None and not h._finished:
            h._connection_closed = True
            try:
                h.on_connection_close()
            except Exception:
                app_log.error("Exception in on_connection_close", exc_info=True)
        self.chunks = []

    def _feed(self, data: Optional[bytes]) -> None:
        h = self.handler
        if h is not None and h.__dict__.get("_stream_queue") is not None and not self._early:
            h._body_chunk(data)
        else:
            self._early.append(data)

    def _attach(self, handler: RequestHandler) -> None:
        early, self._early = self._early, []
        for piece in early:
            handler._body_chunk(piece)

    def execute(self) -> None:
        request = self.request
        try:
            handler = self.handler_class(self.application, request, **self.handler_kwargs)
        except Exception as e:
            app_log.error("Uncaught exception creating %s", self.handler_class.__name__, exc_info=True)
            handler = RequestHandler(self.application, request)
            handler._handle_request_exception(e)
            return
        self.handler = handler
        handler._body_feeder = self
        conn = request.connection
        release = getattr(conn, "_handler_done", None)
        if release is not None:
            original = handler.on_finish

            def on_finish() -> None:
                release()
                original()
            handler.on_finish = on_finish
        handler._execute(self.path_args, self.path_kwargs)


class ClusterOutboxFull(Exception):
    """A publish was delivered to this process's subscribers but not to the
    other processes: the cluster's outbox (publishes waiting for Redis) is
    full. Counted in the cluster's "outbox_full"."""


_CLUSTER_STATES = {0: "connecting", 1: "connected", 2: "lost", 3: "resynced", 4: "gap"}


class _Cluster:
    """An ``sq_cluster`` (the ``cluster`` setting): the topics of the
    application's servers span every process joined to the same Redis.
    Freed with the IOLoop, before the loop."""

    def __init__(self, io_loop: IOLoop, url: str, callback: Optional[Callable[[str], Any]]) -> None:
        ptr = lib.sq_cluster_new(io_loop._loop_ptr(), url.encode())
        if not ptr:
            raise ValueError("cluster: %s" % (lib.sq_last_error() or b"").decode("utf-8", "replace"))
        self.ptr: Any = ptr
        self._callback = callback

        def on_state(_ud: Any, state: int) -> None:
            if self._callback is None:
                return
            try:
                self._callback(_CLUSTER_STATES.get(state, str(state)))
            except Exception:
                gen_log.exception("cluster_state_callback failed")

        # ctypes calls through this object: it lives as long as the cluster.
        self._cb = b.sq_cluster_state_callback(on_state)
        _ffi.check(lib.sq_cluster_on_state(ptr, self._cb, None))
        io_loop._servers.add(self)

    def attach(self, srv: Server) -> None:
        if self.ptr is not None:
            _ffi.check(lib.sq_cluster_attach(self.ptr, srv._live()))

    def state(self) -> str:
        if self.ptr is None:
            return "closed"
        return _CLUSTER_STATES.get(lib.sq_cluster_state(self.ptr), "unknown")

    def counter(self, name: str) -> int:
        if self.ptr is None:
            raise RuntimeError("the cluster was freed")
        return _ffi.check(lib.sq_cluster_counter(self.ptr, name.encode()))

    def _free(self) -> None:
        if self.ptr is not None:
            lib.sq_cluster_free(self.ptr)
            self.ptr = None

class Application:
    """Routes and settings. ``handlers`` is a list of ``(pattern, handler
    class[, kwargs[, name]])`` tuples or ``url(...)`` specs.

    Settings understood: ``debug`` (tracebacks in error pages, templates
    reloaded), ``serve_traceback``, ``cookie_secret``, ``key_version``,
    ``login_url``, ``template_path``, ``static_path``, ``static_url_prefix``
    (default ``/static/``), ``static_hash_cache``, ``default_handler_class``
    + ``default_handler_args``, ``websocket_ping_interval``,
    ``websocket_ping_timeout``, ``websocket_max_message_size``, ``xheaders``
    (for ``listen``), ``log_function``, ``autoescape``. ``compress_response``
    / ``gzip`` are accepted and ignored: squall's server does not compress
    responses (put a compressing proxy in front, or compress in the handler).
    """

    def __init__(self, handlers: Optional[list[Any]] = None, default_host: Optional[str] = None,
                 transforms: Any = None, **settings: Any) -> None:
        self.settings = settings
        if settings.get("debug"):
            settings.setdefault("serve_traceback", True)
            settings.setdefault("compiled_template_cache", False)
            settings.setdefault("static_hash_cache", False)
        self._specs: list[Any] = []  # URLSpec or ("fast", method, pattern, fn)
        self.default_host = default_host
        # host patterns (add_handlers with a host other than ".*"), in order,
        # each with its URLSpecs; the handler routes squall calls (to make
        # them host-aware when the first host pattern comes); the patterns
        # routed in squall, per server
        self._host_rules: list[tuple["re.Pattern[str]", list[URLSpec]]] = []
        self._handler_routes: list[_HandlerRoute] = []
        self._wildcard_specs: list[URLSpec] = []
        self.named_handlers: dict[str, URLSpec] = {}
        self._servers: list[Server] = []
        self._cluster: Optional[_Cluster] = None
        self._jinja: Any = None
        self.ui_modules: dict[str, type] = {"linkify": _linkify, "xsrf_form_html": _xsrf_form_html,
                                            "Template": TemplateModule}
        self.ui_methods: dict[str, Callable[..., Any]] = {}
        self._load_ui_modules(settings.get("ui_modules", {}))
        self._load_ui_methods(settings.get("ui_methods", {}))
        handlers = list(handlers or [])
        static_path = settings.get("static_path")
        if static_path:
            # Tornado's three routes, ahead of the application's
            static_class = settings.get("static_handler_class", StaticFileHandler)
            static_args = settings.get("static_handler_args", {})
            static_args["path"] = static_path
            prefix = settings.get("static_url_prefix", "/static/")
            patterns = [re.escape(prefix) + r"(.*)"]
            if not (isinstance(static_class, type) and issubclass(static_class, RustStaticFileHandler)):
                patterns += [r"/(favicon\.ico)", r"/(robots\.txt)"]
            for pattern in patterns:
                handlers.insert(0, (pattern, static_class, static_args))
        if handlers:
            self.add_handlers(".*$", handlers)

    # --- routes --------------------------------------------------------------

    def add_handlers(self, host_pattern: str, host_handlers: list[Any]) -> None:
        """Adds routes for requests whose host (``Host`` without the port)
        matches ``host_pattern`` (a regular expression; ``.*$`` for every
        host). Host patterns are tried in the order added, before the
        routes for every host; with ``default_host``, a request whose host
        matches none (and without ``X-Real-Ip``) also gets the routes of the
        patterns that match ``default_host``. Routing rules (``squall.routing``
        rules whose target is not a handler class) are routed in Python by
        ``find_handler``, in order with the handler routes; a host pattern
        does not apply to them (give them a ``HostMatches`` rule instead)."""
        specs = []
        for h in host_handlers:
            if isinstance(h, URLSpec):
                specs.append(h)
            elif _is_handler_rule(h):
                specs.append(URLSpec(*h))
            else:
                self._add_rule(h)
        for spec in specs:
            if spec.name:
                self.named_handlers[spec.name] = spec
        if host_pattern in (".*$", ".*", "^.*$"):
            for spec in specs:
                self._specs.append(spec)
                self._wildcard_specs.append(spec)
                for srv in self._servers:
                    self._install_spec(srv, spec, getattr(srv, "_squall_http", None))
            return
        if not host_pattern.endswith("$"):
            host_pattern += "$"
        self._host_rules.append((re.compile(host_pattern), specs))
        for spec in specs:
            self._specs.append(("host", spec))
            for srv in self._servers:
                self._install_host_spec(srv, spec, getattr(srv, "_squall_http", None))
        for route in self._handler_routes:
            route.__class__ = _HostAwareRoute

    def _find_spec(self, request: HTTPServerRequest) -> Optional[URLSpec]:
        """The route for ``request`` as Tornado's Application finds it: the
        host patterns in order, then the routes for every host, then (with
        ``default_host``, and no ``X-Real-Ip``) the host patterns matching
        the default host. None: no route."""
        path = request.path
        host = request.host_name
        for regex, specs in self._host_rules:
            if regex.match(host):
                for spec in specs:
                    if spec.regex.match(path):
                        return spec
        for spec in self._wildcard_specs:
            if spec.regex.match(path):
                return spec
        if self.default_host is not None and "X-Real-Ip" not in request.headers:
            for regex, specs in self._host_rules:
                if regex.match(self.default_host):
                    for spec in specs:
                        if spec.regex.match(path):
                            return spec
        return None

    def _install_host_spec(self, srv: Server, spec: URLSpec, http_server: Optional[HTTPServer]) -> None:
        """Routes ``spec``'s path in squall (once per pattern and server) to
        a host-aware route."""
        routed = srv.__dict__.setdefault("_squall_patterns", set())
        if spec.rust_pattern in routed:
            return
        routed.add(spec.rust_pattern)
        xheaders = XHeaders.of(http_server, self.settings)
        protocol = getattr(http_server, "protocol", None) if http_server else None
        route = _HostAwareRoute(self, spec, xheaders, protocol, inflate_limit(http_server))
        self._handler_routes.append(route)
        flags = b.SQ_STREAM_BODY if getattr(spec.handler_class, "_stream_request_body", False) else 0
        srv.route("*", spec.rust_pattern, route, flags)

    # --- routing (squall.routing): rules whose target is not a handler class --------
    #
    # An application with such a rule (a Router, an HTTPServerConnectionDelegate,
    # a callable, a nested list, a Matcher other than a path) is routed in
    # Python: one catch-all route in squall's router hands every request to
    # ``find_handler``, which tries the rules and handler specs in order.
    # WebSocket, static, metrics and fast-path routes stay in squall's router
    # (looked up first). Applications without rules never come here.

    _rule_router: Any = None

    def _add_rule(self, h: Any) -> None:
        from . import routing
        if self._rule_router is None:
            self._rule_router = routing._ApplicationRouter(self)
        if isinstance(h, routing.URLSpec) and isinstance(h.target, type) and issubclass(h.target, RequestHandler):
            spec = URLSpec(h.regex.pattern, h.target, h.target_kwargs, h.name)
            if spec.name:
                self.named_handlers[spec.name] = spec
            self._specs.append(spec)
            return
        self._rule_router.add_rules([h])
        rule = self._rule_router.rules[-1]
        self._specs.append(rule)
        for srv in self._servers:
            self._install_catch_all(srv, getattr(srv, "_squall_http", None))

    def _install_catch_all(self, srv: Server, http_server: Optional[HTTPServer]) -> None:
        if getattr(srv, "_squall_delegated", False):
            return
        srv._squall_delegated = True  # type: ignore[attr-defined]
        from ._delegate import install_delegate
        install_delegate(srv, http_server, self)

    def start_request(self, server_conn: object, request_conn: Any) -> Any:
        """``HTTPServerConnectionDelegate``: routes one request (``find_handler``)."""
        from . import routing
        return routing._RoutingDelegate(self, server_conn, request_conn)

    def find_handler(self, request: Any, **kwargs: Any) -> Any:
        """The delegate that runs the handler for ``request``, matched in
        Python against this application's handlers and rules, in order;
        ``default_handler_class`` or a 404 when none matches."""
        for spec in self._specs:
            if isinstance(spec, tuple):
                continue  # fast-path routes answer in squall's router only
            if isinstance(spec, URLSpec):
                m = spec.regex.match(request.path)
                if m is None:
                    continue
                args: list[Any] = []
                kw: dict[str, Any] = {}
                if spec.regex.groups:
                    unq = [urllib.parse.unquote_to_bytes(g) if g is not None else None for g in m.groups()]
                    if spec.regex.groupindex:
                        kw = {n: unq[i - 1] for n, i in spec.regex.groupindex.items()}
                    else:
                        args = unq
                return self.get_handler_delegate(request, spec.handler_class, spec.kwargs, args, kw)
            params = spec.matcher.match(request)
            if params is None:
                continue
            if spec.target_kwargs:
                params["target_kwargs"] = spec.target_kwargs
            delegate = self._rule_router.get_target_delegate(spec.target, request, **params)
            if delegate is not None:
                return delegate
        default = self.settings.get("default_handler_class")
        if default is not None:
            return self.get_handler_delegate(request, default, self.settings.get("default_handler_args", {}))
        return self.get_handler_delegate(request, ErrorHandler, {"status_code": 404})

    def get_handler_delegate(self, request: Any, target_class: type, target_kwargs: Optional[dict[str, Any]] = None,
                             path_args: Optional[list[Any]] = None,
                             path_kwargs: Optional[dict[str, Any]] = None) -> "_HandlerDelegate":
        """An ``HTTPMessageDelegate`` that runs ``target_class`` for
        ``request`` (served through ``request.connection``)."""
        return _HandlerDelegate(self, request, target_class, target_kwargs, path_args, path_kwargs)

    def route(self, pattern: str, fn: Optional[Callable[[FastRequest], Any]] = None, methods: Any = None) -> Any:
        """The fast path: ``fn(req)`` gets a ``FastRequest`` and returns the
        response: ``bytes``/``str`` (200, text/plain), ``dict``/``list``
        (JSON), ``(status, body)``, ``(status, headers, body)``, or ``DEFER``
        and calls ``req.respond(...)`` later, from any thread. An exception
        becomes a 500. Usable as a decorator: ``@app.route("/")``."""
        def register(f: Callable[[FastRequest], Any]) -> Callable[[FastRequest], Any]:
            ms = ["*"] if methods is None else ([methods] if isinstance(methods, str) else list(methods))
            for m in ms:
                entry = ("fast", m.upper(), pattern, f)
                self._specs.append(entry)
                for srv in self._servers:
                    self._install_spec(srv, entry, None)
            return f
        if fn is not None:
            return register(fn)
        return register

    def _install(self, srv: Server, http_server: Optional[HTTPServer] = None) -> None:
        srv._squall_http = http_server  # type: ignore[attr-defined]
        for spec in self._specs:
            self._install_spec(srv, spec, http_server)
        if self._rule_router is not None:
            self._install_catch_all(srv, http_server)  # find_handler does the default handler
        else:
            # what answers a path no route takes: default_handler_class, else
            # Tornado's 404 page, as a fallback route (routes added later still
            # go first; a fast route's 405 stays squall's)
            default = self.settings.get("default_handler_class")
            if default is not None:
                # an ordinary route, last: it also takes a method that a fast
                # route of the same path does not have
                spec = URLSpec(r"/.*", default, self.settings.get("default_handler_args", {}))
                self._install_spec(srv, spec, http_server)
            else:
                spec = URLSpec(r"/.*", ErrorHandler, {"status_code": 404})
                self._install_spec(srv, spec, http_server, fallback=True)
        self._servers.append(srv)
        url = self.settings.get("cluster")
        if url:
            if self._cluster is None or self._cluster.ptr is None:
                self._cluster = _Cluster(srv.io_loop, url, self.settings.get("cluster_state_callback"))
            self._cluster.attach(srv)

    def _install_spec(self, srv: Server, spec: Any, http_server: Optional[HTTPServer], fallback: bool = False) -> None:
        if isinstance(spec, tuple):
            if spec[0] == "host":
                self._install_host_spec(srv, spec[1], http_server)
                return
            _, method, pattern, fn = spec
            srv.route(method, pattern, _fast_route(fn, pattern))
            return
        if not isinstance(spec, URLSpec):
            return  # a routing rule: find_handler's, behind the catch-all route
        cls = spec.handler_class
        if isinstance(cls, type) and issubclass(cls, RustStaticFileHandler):
            prefix = spec.rust_pattern
            if not prefix.endswith("(.*)"):
                raise ValueError("a RustStaticFileHandler route must be 'prefix(.*)', got %r" % spec.pattern)
            srv.static(prefix[:-4].replace("\\", ""), spec.kwargs["path"])
            return
        from . import metrics, websocket
        if isinstance(cls, type) and issubclass(cls, metrics.MetricsHandler):
            path = spec.pattern.rstrip("$")
            if not re.fullmatch(r"/[A-Za-z0-9._~/-]*", path):
                raise ValueError("a MetricsHandler route must be a plain path, got %r" % spec.pattern)
            srv.metrics_route(path)
            return
        if isinstance(cls, type) and issubclass(cls, websocket.WebSocketHandler):
            websocket._install_route(self, srv, spec)
            return
        if self._rule_router is not None:
            return  # routed in Python, in order with the rules (find_handler)
        xheaders = XHeaders.of(http_server, self.settings)
        flags = b.SQ_STREAM_BODY if getattr(cls, "_stream_request_body", False) else 0
        protocol = getattr(http_server, "protocol", None) if http_server else None
        inflate = inflate_limit(http_server)
        route = _HostAwareRoute(self, spec, xheaders, protocol, inflate) if self._host_rules else \
            _HandlerRoute(self, spec, xheaders, protocol, inflate)
        self._handler_routes.append(route)
        if fallback:
            flags |= b.SQ_FALLBACK
        else:
            srv.__dict__.setdefault("_squall_patterns", set()).add(spec.rust_pattern)
        srv.route("*", spec.rust_pattern, route, flags)

    def listen(self, port: int, address: str = "", **kwargs: Any) -> HTTPServer:
        """Starts an HTTPServer for this application on ``address:port``
        (``""``: every IPv4 interface). Returns the server (``.ports`` has the
        bound port when ``port`` was 0)."""
        server_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in ("backlog", "reuse_port")}
        kwargs.setdefault("xheaders", self.settings.get("xheaders", False))
        server = HTTPServer(self, **kwargs)
        server.listen(port, address, **server_kwargs)
        return server

    def __call__(self, request: Any) -> None:
        raise TypeError("squall Applications are served by squall.httpserver.HTTPServer")

    def reverse_url(self, name: str, *args: Any) -> str:
        if name in self.named_handlers:
            return self.named_handlers[name].reverse(*args)
        if self._rule_router is not None:
            url = self._rule_router.reverse_url(name, *args)
            if url is not None:
                return str(url)
        raise KeyError("%s not found in named urls" % name)

    def log_request(self, handler: RequestHandler) -> None:
        if "log_function" in self.settings:
            self.settings["log_function"](handler)
            return
        status = handler.get_status()
        if status < 400:
            log_method = access_log.info
        elif status < 500:
            log_method = access_log.warning
        else:
            log_method = access_log.error
        request_time = 1000.0 * handler.request.request_time()
        log_method("%d %s %.2fms", status, handler._request_summary(), request_time)

    # --- WebSocket topics ----------------------------------------------------

    def publish(self, topic: str, message: Union[str, bytes, dict[str, Any]], binary: Optional[bool] = None, *,
                compress: bool = True) -> int:
        """Sends ``message`` to every WebSocket subscribed to ``topic`` on this
        application's servers (fan-out in Rust, on every reactor thread; the
        frame is built once). ``str``/``dict`` go as text, ``bytes`` as binary
        (or as text with ``binary=False``: it must be UTF-8). Safe from any
        thread. Returns the number of subscribers at the time of the call.
        ``compress=False``: every subscriber gets it uncompressed, whatever
        it negotiated (a secret next to data an attacker chooses)."""
        if isinstance(message, dict):
            message = json.dumps(message)
        if isinstance(message, str):
            data = message.encode("utf-8")
            opcode = b.SQ_WS_BINARY if binary else b.SQ_WS_TEXT
        else:
            data = bytes(message)
            opcode = b.SQ_WS_TEXT if binary is False else b.SQ_WS_BINARY
        count = 0
        live = [srv for srv in self._servers if srv.ptr is not None]
        # In a cluster, one publish reaches every attached server of the
        # process (and the other processes): publish on one of them.
        for srv in (live[:1] if self._cluster is not None and self._cluster.ptr else live):
            st = srv.publish(topic, data, opcode, compress)
            if st == b.SQ_ERR_INVALID_ARG:
                raise ValueError("cannot publish: %s" % _ffi.SquallError(st))
            if st == b.SQ_ERR_LIMIT:
                raise ClusterOutboxFull(_ffi.SquallError(st))
        for srv in live:
            count += srv.subscribers(topic)
        return count

    def cluster_state(self) -> Optional[str]:
        """The cluster's state ("connecting", "connected", "lost",
        "resynced"), or None without the ``cluster`` setting (or before the
        application serves)."""
        return self._cluster.state() if self._cluster is not None else None

    def cluster_counter(self, name: str) -> int:
        """A counter of the cluster by name ("published", "outbox",
        "outbox_full", "received", "delivered", "echo", "gaps", "repeats",
        "junk", "oversized", "bad_topic", "reconnects", "subscribed"; see
        docs/DEPLOYMENT.md)."""
        if self._cluster is None:
            raise RuntimeError("the application has no cluster")
        return self._cluster.counter(name)

    def subscribers(self, topic: str) -> int:
        return sum(srv.subscribers(topic) for srv in self._servers)

    def metrics(self) -> dict[str, Any]:
        """The counters of this application's servers, summed (see
        ``squall.metrics``)."""
        from . import metrics
        return metrics.snapshot(self)

    # --- UI modules and methods -------------------------------------------------

    def _load_ui_modules(self, modules: Any) -> None:
        """A module (its UIModule subclasses), a dict name -> class, or a
        list of either."""
        if isinstance(modules, types.ModuleType):
            self._load_ui_modules({n: getattr(modules, n) for n in dir(modules)})
        elif isinstance(modules, list):
            for m in modules:
                self._load_ui_modules(m)
        else:
            assert isinstance(modules, dict)
            for name, cls in modules.items():
                try:
                    if issubclass(cls, UIModule):
                        self.ui_modules[name] = cls
                except TypeError:
                    pass

    def _load_ui_methods(self, methods: Any) -> None:
        """A module (its public functions), a dict name -> function, or a
        list of either."""
        if isinstance(methods, types.ModuleType):
            self._load_ui_methods({n: getattr(methods, n) for n in dir(methods)})
        elif isinstance(methods, list):
            for m in methods:
                self._load_ui_methods(m)
        else:
            for name, fn in methods.items():
                if not name.startswith("_") and callable(fn) and not (isinstance(fn, type) and issubclass(fn, UIModule)) \
                        and name[0].islower():
                    self.ui_methods[name] = fn

    # --- templates and static files ------------------------------------------

    def _jinja_env(self) -> Any:
        """The Jinja2 environment when the ``template_loader`` setting is a
        Jinja2 loader or environment; None means Tornado's templates."""
        loader = self.settings.get("template_loader")
        if loader is None or not type(loader).__module__.startswith("jinja2"):
            return None
        if self._jinja is None:
            import jinja2
            if isinstance(loader, jinja2.Environment):
                self._jinja = loader
            else:
                autoescape = self.settings.get("autoescape", "xhtml_escape") is not None
                self._jinja = jinja2.Environment(
                    loader=loader,
                    autoescape=jinja2.select_autoescape(default=autoescape, default_for_string=autoescape)
                    if autoescape else False,
                    auto_reload=bool(self.settings.get("debug")),
                )
                self._jinja.globals.update(json_encode=_json)
        return self._jinja

    def static_url(self, path: str, include_host: Optional[bool] = None, request: Any = None,
                   **kwargs: Any) -> str:
        """The ``static_handler_class``'s ``make_static_url`` (by default
        ``static_url_prefix`` + path + ``?v=`` and the content's version),
        with ``request``'s scheme and host in front when ``include_host``."""
        if not self.settings.get("static_path"):
            raise Exception("You must define the 'static_path' setting in your application to use static_url")
        cls = self.settings.get("static_handler_class", StaticFileHandler)
        if not self.settings.get("static_hash_cache", True):
            cls.reset()  # debug: versions follow the files (Tornado resets per request)
        base = ""
        if include_host and request is not None:
            base = request.protocol + "://" + request.host
        url: str = cls.make_static_url(self.settings, path, **kwargs)
        return base + url


def create_signed_value(secret: Any, name: str, value: Union[str, bytes], version: Optional[int] = None,
                        clock: Optional[Callable[[], float]] = None, key_version: Optional[int] = None) -> bytes:
    from . import _signing
    return _signing.create_signed_value(secret, name, value, version=version, clock=clock, key_version=key_version)


def decode_signed_value(secret: Any, name: str, value: Union[None, str, bytes], max_age_days: float = 31,
                        clock: Optional[Callable[[], float]] = None, min_version: Optional[int] = None) -> Optional[bytes]:
    from . import _signing
    return _signing.decode_signed_value(secret, name, value, max_age_days=max_age_days, clock=clock, min_version=min_version)
