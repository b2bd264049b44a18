"""``squall.testing``: Tornado's unittest support, on squall.

``AsyncTestCase`` gives each test a fresh squall ``IOLoop`` (on a new
asyncio loop); ``AsyncHTTPTestCase`` serves ``get_app()`` through squall's
own ``HTTPServer`` on a port from ``bind_unused_port`` and fetches from it
with squall's ``AsyncHTTPClient``; ``gen_test`` runs a coroutine test
method on the test's loop with a timeout (``ASYNC_TEST_TIMEOUT``, default
5 s); ``ExpectLog`` asserts that a log line was written (and keeps it out of
the output). Written for squall (Tornado's ``tornado.testing`` is never
imported: it would bring Tornado's I/O modules with it).
"""
from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import os
import re
import socket
import sys
import types
import unittest
import warnings
from collections.abc import Generator
from typing import Any, Callable, Optional, Union

from . import gen
from .httpclient import AsyncHTTPClient, HTTPResponse
from .httpserver import HTTPServer
from .ioloop import IOLoop
from .log import app_log

__all__ = ["AsyncTestCase", "AsyncHTTPTestCase", "AsyncHTTPSTestCase", "gen_test", "ExpectLog",
           "bind_unused_port", "get_async_test_timeout", "main"]


def bind_unused_port(reuse_port: bool = False, address: str = "127.0.0.1") -> tuple[socket.socket, int]:
    """A listening socket on a free port of ``address`` (127.0.0.1 by
    default), and the port."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((address, 0))
        sock.listen(128)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock, sock.getsockname()[1]


def setup_with_context_manager(testcase: unittest.TestCase, cm: Any) -> Any:
    """Enters ``cm`` and has the test case exit it at clean-up; returns what
    ``__enter__`` returned."""
    value = cm.__enter__()
    testcase.addCleanup(cm.__exit__, None, None, None)
    return value


def get_async_test_timeout() -> float:
    """Seconds an async test may take: ``ASYNC_TEST_TIMEOUT`` or 5."""
    env = os.environ.get("ASYNC_TEST_TIMEOUT")
    if env:
        try:
            return float(env)
        except ValueError:
            pass
    return 5.0


class AsyncTestCase(unittest.TestCase):
    """A ``TestCase`` with a fresh ``self.io_loop`` per test.

    Either decorate ``async def`` test methods with ``@gen_test``, or run the
    loop by hand with ``self.wait()`` until a callback calls ``self.stop()``.
    A test method that returns a coroutine or generator without
    ``@gen_test`` fails (it would otherwise pass without running).
    """

    def __init__(self, methodName: str = "runTest") -> None:
        super().__init__(methodName)
        self.__stopped = False
        self.__running = False
        self.__failure: Optional[tuple[Any, Any, Any]] = None
        self.__stop_args: Any = None
        self.__timeout: Any = None
        method = getattr(self, methodName, None)
        if method is not None:
            setattr(self, methodName, self.__checked(method))

    @staticmethod
    def __checked(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def run(*args: Any, **kwargs: Any) -> Any:
            result = method(*args, **kwargs)
            if isinstance(result, Generator) or inspect.iscoroutine(result):
                if inspect.iscoroutine(result):
                    result.close()
                raise TypeError("Generator and coroutine test methods should be decorated with "
                                "squall.testing.gen_test")
            if result is not None:
                raise ValueError(f"Return value from test method ignored: {result!r}")
            return result
        return run

    def setUp(self) -> None:
        super().setUp()
        self.io_loop = self.get_new_ioloop()
        asyncio.set_event_loop(self.io_loop.asyncio_loop)

    def tearDown(self) -> None:
        aio = self.io_loop.asyncio_loop
        # Cancel what the test left running, and let it see the cancellation,
        # so that no coroutine is destroyed pending.
        tasks = [t for t in asyncio.all_tasks(aio) if not t.done()]
        for t in tasks:
            t.cancel()
        if tasks and not aio.is_closed():
            done = self.io_loop.run_sync(lambda: asyncio.wait(tasks))[0]
            for f in done:
                try:
                    f.result()
                except asyncio.CancelledError:
                    pass
                except Exception:
                    app_log.debug("task ended with an exception at tear-down", exc_info=True)
        asyncio.set_event_loop(None)
        self.io_loop.close(all_fds=True)
        super().tearDown()
        self.__rethrow()

    def get_new_ioloop(self) -> IOLoop:
        """The IOLoop of one test (override to use another)."""
        return IOLoop(make_current=False)

    def __rethrow(self) -> None:
        if self.__failure is not None:
            failure, self.__failure = self.__failure, None
            raise failure[1].with_traceback(failure[2])

    def run(self, result: Optional[unittest.TestResult] = None) -> Optional[unittest.TestResult]:
        ret = super().run(result)
        # an exception caught by the loop after the test itself finished
        self.__failure = None
        return ret

    def _handle_exception(self, typ: Any, value: BaseException, tb: Any) -> bool:
        if self.__failure is None:
            self.__failure = (typ, value, tb)
        else:
            app_log.error("multiple unhandled exceptions in test", exc_info=(typ, value, tb))
        self.stop()
        return True

    def stop(self, _arg: Any = None, **kwargs: Any) -> None:
        """Ends the ``wait()`` in progress (or the next one); its value is
        ``_arg`` or the keyword arguments."""
        assert _arg is None or not kwargs
        self.__stop_args = kwargs or _arg
        if self.__running:
            self.io_loop.stop()
            self.__running = False
        self.__stopped = True

    def wait(self, condition: Optional[Callable[[], bool]] = None,
             timeout: Optional[float] = None) -> Any:
        """Runs the loop until ``stop()`` is called (and ``condition()`` is
        true, when given) or ``timeout`` seconds pass (a failure)."""
        if timeout is None:
            timeout = get_async_test_timeout()
        if not self.__stopped:
            if timeout:
                def expire() -> None:
                    try:
                        raise self.failureException(f"Async operation timed out after {timeout} seconds")
                    except Exception:
                        self.__failure = sys.exc_info()
                    self.stop()
                self.__timeout = self.io_loop.add_timeout(self.io_loop.time() + timeout, expire)
            while True:
                self.__running = True
                self.io_loop.start()
                if self.__failure is not None or condition is None or condition():
                    break
            if self.__timeout is not None:
                self.io_loop.remove_timeout(self.__timeout)
                self.__timeout = None
        assert self.__stopped
        self.__stopped = False
        self.__rethrow()
        result, self.__stop_args = self.__stop_args, None
        return result


class AsyncHTTPTestCase(AsyncTestCase):
    """Serves ``get_app()`` through squall's ``HTTPServer`` on 127.0.0.1 for
    each test; ``self.fetch(path)`` requests it with squall's client and
    returns the response (errors as responses: ``raise_error=False``)."""

    def setUp(self) -> None:
        super().setUp()
        sock, port = bind_unused_port()
        self.__port = port
        self.http_client = self.get_http_client()
        self._app = self.get_app()
        self.http_server = self.get_http_server()
        try:
            self.http_server.add_sockets([sock])
        finally:
            sock.close()  # squall serves on its own duplicate

    def get_http_client(self) -> AsyncHTTPClient:
        return AsyncHTTPClient()

    def get_http_server(self) -> HTTPServer:
        return HTTPServer(self._app, **self.get_httpserver_options())

    def get_app(self) -> Any:
        """The application to serve (a ``squall.web.Application``)."""
        raise NotImplementedError()

    def get_httpserver_options(self) -> dict[str, Any]:
        return {}

    def get_http_port(self) -> int:
        return self.__port

    def get_protocol(self) -> str:
        return "http"

    def get_url(self, path: str) -> str:
        return f"{self.get_protocol()}://127.0.0.1:{self.get_http_port()}{path}"

    def fetch(self, path: str, raise_error: bool = False, **kwargs: Any) -> HTTPResponse:
        url = path if path.lower().startswith(("http://", "https://")) else self.get_url(path)
        return self.io_loop.run_sync(lambda: self.http_client.fetch(url, raise_error=raise_error, **kwargs),
                                     timeout=get_async_test_timeout())

    def tearDown(self) -> None:
        self.http_server.stop()
        self.io_loop.run_sync(self.http_server.close_all_connections, timeout=get_async_test_timeout())
        self.http_client.close()
        del self.http_server
        del self._app
        super().tearDown()


class AsyncHTTPSTestCase(AsyncHTTPTestCase):
    """``AsyncHTTPTestCase`` over TLS: serves with ``get_ssl_options()``,
    by default ``default_ssl_options()``: a self-signed certificate for
    localhost, 127.0.0.1 and ::1 that ships with squall (``testing.crt``
    and ``testing.key`` beside this module; for tests only: its key is
    public). Tornado's client fetches with ``validate_cert=False``; this
    one trusts ``get_ssl_ca_certs()`` instead: by default the served
    certificate file itself, which works for a self-signed certificate
    naming 127.0.0.1; return the CA's file when a CA signed it."""

    def get_http_client(self) -> AsyncHTTPClient:
        return AsyncHTTPClient(force_instance=True, defaults=dict(ca_certs=self.get_ssl_ca_certs()))

    def get_ssl_ca_certs(self) -> str:
        """The PEM file the test's client trusts (default: the certfile)."""
        return str(self.get_ssl_options()["certfile"])

    def get_httpserver_options(self) -> dict[str, Any]:
        return dict(ssl_options=self.get_ssl_options())

    def get_ssl_options(self) -> dict[str, Any]:
        """The server's ``ssl_options`` (override to serve another
        certificate); by default ``default_ssl_options()``."""
        return AsyncHTTPSTestCase.default_ssl_options()

    @staticmethod
    def default_ssl_options() -> dict[str, Any]:
        """``certfile`` and ``keyfile`` of squall's test certificate: RSA
        2048, self-signed, for DNS:localhost, IP:127.0.0.1 and IP:::1,
        valid until 2126. Made with::

            openssl req -x509 -newkey rsa:2048 -nodes -days 36500 \\
                -keyout testing.key -out testing.crt -subj "/CN=localhost" \\
                -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \\
                -addext "basicConstraints=critical,CA:FALSE" \\
                -addext "keyUsage=critical,digitalSignature,keyEncipherment" \\
                -addext "extendedKeyUsage=serverAuth"
        """
        here = os.path.dirname(os.path.abspath(__file__))
        return dict(certfile=os.path.join(here, "testing.crt"), keyfile=os.path.join(here, "testing.key"))

    def get_protocol(self) -> str:
        return "https"


def gen_test(func: Any = None, timeout: Optional[float] = None) -> Any:
    """Runs a coroutine (``async def`` or ``@gen.coroutine`` generator) test
    method to completion on ``self.io_loop``, failing after ``timeout``
    seconds (``get_async_test_timeout()`` by default). Usable bare or as
    ``@gen_test(timeout=...)``."""
    if timeout is None:
        timeout = get_async_test_timeout()

    def wrap(f: Callable[..., Any]) -> Callable[..., None]:
        @functools.wraps(f)
        def keep(self: Any, *args: Any, **kwargs: Any) -> Any:
            result = f(self, *args, **kwargs)
            self._test_generator = result if (isinstance(result, Generator) or inspect.iscoroutine(result)) else None
            return result

        coro = keep if inspect.iscoroutinefunction(f) else gen.coroutine(keep)

        @functools.wraps(coro)
        def run(self: Any, *args: Any, **kwargs: Any) -> None:
            try:
                return self.io_loop.run_sync(functools.partial(coro, self, *args, **kwargs), timeout=timeout)
            except asyncio.TimeoutError as e:
                # Throw the timeout into the test's coroutine, so the failure
                # shows where it was waiting.
                g = getattr(self, "_test_generator", None)
                if g is not None and getattr(g, "cr_running", True) and not getattr(g, "cr_frame", 1) is None:
                    try:
                        g.throw(e)
                    except (StopIteration, RuntimeError, ValueError):
                        pass
                raise
        return run

    if func is not None:
        return wrap(func)
    return wrap


gen_test.__test__ = False  # type: ignore[attr-defined]  # not a test itself (pytest)


class ExpectLog(logging.Filter):
    """Context manager: fails unless a record of ``logger`` whose message
    matches ``regex`` (``re.match``) was logged inside it (when
    ``required``); matching records are kept out of the output. With
    ``level``, only records of that level match, and the logger is opened
    to that level for the duration."""

    def __init__(self, logger: Union[logging.Logger, str], regex: str, required: bool = True,
                 level: Optional[int] = None) -> None:
        self.logger = logging.getLogger(logger) if isinstance(logger, str) else logger
        self.regex = re.compile(regex)
        self.required = required
        self.level = level
        self.matched = 0
        self.deprecated_level_matched = 0
        self.logged_stack = False
        self.orig_level: Optional[int] = None

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info:
            self.logged_stack = True
        if not self.regex.match(record.getMessage()):
            return True
        if self.level is None and record.levelno < logging.WARNING:
            self.deprecated_level_matched += 1
        if self.level is not None and record.levelno != self.level:
            app_log.warning("Got expected log message %r at unexpected level (%s vs %s)",
                            record.getMessage(), logging.getLevelName(self.level), record.levelname)
            return True
        self.matched += 1
        return False

    def __enter__(self) -> "ExpectLog":
        if self.level is not None and self.level < self.logger.getEffectiveLevel():
            self.orig_level = self.logger.level
            self.logger.setLevel(self.level)
        self.logger.addFilter(self)
        return self

    def __exit__(self, typ: Any, value: Any, tb: Optional[types.TracebackType]) -> None:
        if self.orig_level is not None:
            self.logger.setLevel(self.orig_level)
        self.logger.removeFilter(self)
        if typ is None and self.required:
            if not self.matched:
                raise Exception("did not get expected log message")
            if self.deprecated_level_matched >= self.matched:
                warnings.warn("ExpectLog matched at INFO or below without level argument",
                              DeprecationWarning, stacklevel=2)


def main(**kwargs: Any) -> None:
    """Runs tests as ``unittest.main`` does, after squall's command-line
    options are parsed (``--help`` lists them)."""
    from .options import parse_command_line
    rest = parse_command_line(sys.argv)
    unittest.main(module=None, argv=[sys.argv[0]] + list(rest), **kwargs)
