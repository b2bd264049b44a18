"""``squall.wsgi``: ``WSGIContainer`` serves a WSGI application (PEP 3333)
from squall's server, as Tornado's does.

It is a ``request_callback``: give it to ``HTTPServer`` directly, or as the
target of a ``routing`` rule or of ``FallbackHandler``-style code. The body
is read whole first; the WSGI application then runs, by default on the
IOLoop's thread (as Tornado: it blocks the loop while it runs, so keep it
quick), or on ``executor`` (a ``concurrent.futures.Executor``, e.g. a
``ThreadPoolExecutor``) when one is given, the response's iteration
included. The response is collected, then written through
``request.connection`` (squall's response path) with a Content-Length
unless the application gave one or a Transfer-Encoding.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import io
import sys
import urllib.parse
from typing import Any, Callable, Optional

from . import httputil
from .log import access_log, app_log

__all__ = ["WSGIContainer"]


def to_wsgi_str(s: bytes) -> str:
    """Bytes as a WSGI "native string" (latin-1)."""
    return s.decode("latin1")


class _Inline(concurrent.futures.Executor):
    """Runs a call at once, on the calling (IOLoop) thread."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> "concurrent.futures.Future[Any]":  # type: ignore[override]
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as e:
            fut.set_exception(e)
        return fut


_INLINE = _Inline()


class WSGIContainer:
    """Serves ``wsgi_application`` through squall's ``HTTPServer``:
    ``HTTPServer(WSGIContainer(app)).listen(8888)``."""

    def __init__(self, wsgi_application: Callable[..., Any],
                 executor: Optional[concurrent.futures.Executor] = None) -> None:
        self.wsgi_application = wsgi_application
        self.executor = _INLINE if executor is None else executor

    def __call__(self, request: Any) -> None:
        asyncio.ensure_future(self.handle_request(request))

    async def handle_request(self, request: Any) -> None:
        try:
            await self._handle(request)
        except Exception:
            app_log.error("Uncaught exception in WSGI application %r", self.wsgi_application, exc_info=True)
            conn = request.connection
            if conn is None:
                return
            try:
                if not getattr(conn, "_started", True):
                    body = b"500 Internal Server Error\n"
                    conn.write_headers(httputil.ResponseStartLine("HTTP/1.1", 500, "Internal Server Error"),
                                       httputil.HTTPHeaders({"Content-Type": "text/plain; charset=utf-8",
                                                             "Content-Length": str(len(body))}), body)
                    conn.finish()
                elif not getattr(conn, "_finished", True):
                    conn._abort()  # a response already started: cut it, never leave it hanging
            except Exception:
                app_log.error("Cannot end the WSGI response", exc_info=True)

    async def _handle(self, request: Any) -> None:
        data: dict[str, Any] = {}
        response: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            if exc_info is not None and data:
                raise exc_info[1].with_traceback(exc_info[2])
            data["status"] = status
            data["headers"] = headers
            return response.append

        loop = asyncio.get_running_loop()
        environ = self.environ(request)
        app_response = await loop.run_in_executor(self.executor, self.wsgi_application, environ, start_response)
        try:
            it = iter(app_response)
            done = object()

            def next_chunk() -> Any:
                return next(it, done)

            while True:
                chunk = await loop.run_in_executor(self.executor, next_chunk)
                if chunk is done:
                    break
                response.append(chunk)
        finally:
            close = getattr(app_response, "close", None)
            if close is not None:
                close()
        body = b"".join(response)
        if not data:
            raise Exception("WSGI app did not call start_response")
        status_code_str, _, reason = data["status"].partition(" ")
        status_code = int(status_code_str)
        headers: list[tuple[str, str]] = data["headers"]
        names = {k.lower() for k, _ in headers}
        if status_code not in (204, 304) and not 100 <= status_code < 200:
            if "content-length" not in names and "transfer-encoding" not in names:
                headers.append(("Content-Length", str(len(body))))
            if "content-type" not in names:
                headers.append(("Content-Type", "text/html; charset=UTF-8"))
        if "server" not in names:
            headers.append(("Server", "squall"))
        header_obj = httputil.HTTPHeaders()
        for k, v in headers:
            header_obj.add(k, v)
        conn = request.connection
        if conn is None:
            raise ValueError("WSGIContainer needs request.connection (a request squall serves)")
        conn.write_headers(httputil.ResponseStartLine("HTTP/1.1", status_code, reason), header_obj, chunk=body)
        conn.finish()
        self._log(status_code, request)

    def environ(self, request: Any) -> dict[str, Any]:
        """The WSGI environment of ``request`` (PEP 3333)."""
        hostport = request.host.split(":")
        if len(hostport) == 2:
            host, port = hostport[0], int(hostport[1])
        else:
            host = request.host
            port = 443 if request.protocol == "https" else 80
        environ: dict[str, Any] = {
            "REQUEST_METHOD": request.method,
            "SCRIPT_NAME": "",
            "PATH_INFO": to_wsgi_str(urllib.parse.unquote_to_bytes(request.path)),
            "QUERY_STRING": request.query,
            "REMOTE_ADDR": request.remote_ip,
            "SERVER_NAME": host,
            "SERVER_PORT": str(port),
            "SERVER_PROTOCOL": request.version,
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": request.protocol,
            "wsgi.input": io.BytesIO(request.body or b""),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": self.executor is not _INLINE,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
        if "Content-Type" in request.headers:
            environ["CONTENT_TYPE"] = request.headers.get("Content-Type")
        if "Content-Length" in request.headers:
            environ["CONTENT_LENGTH"] = request.headers.get("Content-Length")
        for key, value in request.headers.get_all():
            environ["HTTP_" + key.replace("-", "_").upper()] = value
        return environ

    def _log(self, status_code: int, request: Any) -> None:
        if status_code < 400:
            log_method = access_log.info
        elif status_code < 500:
            log_method = access_log.warning
        else:
            log_method = access_log.error
        request_time = 1000.0 * request.request_time()
        summary = request.method + " " + request.uri + " (" + str(request.remote_ip) + ")"
        log_method("%d %s %.2fms", status_code, summary, request_time)
