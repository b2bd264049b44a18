"""``squall.netutil``: Tornado's socket helpers, for the sockets a program
binds itself (``bind_sockets`` then ``HTTPServer.add_sockets``), and name
resolution on asyncio.

Nothing here registers a socket with any event loop but squall's own
(``add_accept_handler`` uses ``IOLoop.add_handler``, which is asyncio's
``add_reader`` on squall's IOLoop).
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import os
import socket
import ssl
import stat
from typing import Any, Awaitable, Callable, Optional, Sequence, Union

from .ioloop import IOLoop

__all__ = ["bind_sockets", "bind_unix_socket", "add_accept_handler", "is_valid_ip", "Resolver",
           "DefaultExecutorResolver", "DefaultLoopResolver", "ExecutorResolver", "BlockingResolver",
           "ThreadedResolver", "OverrideResolver", "ssl_options_to_context", "ssl_wrap_socket"]

_DEFAULT_BACKLOG = 128


def bind_sockets(port: int, address: Optional[str] = None, family: socket.AddressFamily = socket.AF_UNSPEC,
                 backlog: int = _DEFAULT_BACKLOG, flags: Optional[int] = None, reuse_port: bool = False) -> list[socket.socket]:
    """Listening, non-blocking sockets on every address ``address`` resolves
    to (all interfaces when empty or None); with port 0 every socket gets
    the same free port."""
    if reuse_port and not hasattr(socket, "SO_REUSEPORT"):
        raise ValueError("the platform does not support SO_REUSEPORT")
    if address == "":
        address = None
    if not socket.has_ipv6 and family == socket.AF_UNSPEC:
        family = socket.AF_INET
    if flags is None:
        flags = socket.AI_PASSIVE
    sockets: list[socket.socket] = []
    bound_port: Optional[int] = None
    seen = set()
    # sockaddr's shape depends on the family (checked below): any tuple.
    infos: Sequence[tuple[Any, Any, Any, Any, tuple[Any, ...]]] = socket.getaddrinfo(
        address, port, family, socket.SOCK_STREAM, 0, flags)
    for af, socktype, proto, _canon, sockaddr in sorted(infos, key=lambda i: i[0]):
        if af == socket.AF_INET6 and sockaddr[3] != 0:
            continue  # link-local addresses need a scope; skip them
        key = (af, sockaddr[:2])
        if key in seen:
            continue
        seen.add(key)
        try:
            sock = socket.socket(af, socktype, proto)
        except OSError as e:
            if e.errno == errno.EAFNOSUPPORT:
                continue
            raise
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if af == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if port == 0 and bound_port is not None:
                sockaddr = (sockaddr[0], bound_port) + tuple(sockaddr[2:])
            sock.setblocking(False)
            sock.bind(sockaddr)
            bound_port = sock.getsockname()[1]
            sock.listen(backlog)
        except BaseException:
            sock.close()
            raise
        sockets.append(sock)
    return sockets


def bind_unix_socket(file: str, mode: int = 0o600, backlog: int = _DEFAULT_BACKLOG) -> socket.socket:
    """A listening Unix socket at ``file`` (a stale socket file there is
    replaced; any other file is an error)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setblocking(False)
        try:
            st = os.stat(file)
        except FileNotFoundError:
            pass
        else:
            if stat.S_ISSOCK(st.st_mode):
                os.remove(file)
            else:
                raise ValueError(f"File {file} exists and is not a socket")
        sock.bind(file)
        os.chmod(file, mode)
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


def add_accept_handler(sock: socket.socket, callback: Callable[[socket.socket, Any], None]) -> Callable[[], None]:
    """Calls ``callback(connection, address)`` for each connection accepted
    on ``sock`` (on the current IOLoop); returns a function that stops it."""
    io_loop = IOLoop.current()
    assert io_loop is not None
    removed = [False]

    def accept(fd: Any, events: int) -> None:
        # at most one backlog's worth per wake-up, so other work gets a turn
        for _ in range(_DEFAULT_BACKLOG):
            if removed[0]:
                return
            try:
                conn, address = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            callback(conn, address)

    def remove() -> None:
        io_loop.remove_handler(sock)
        removed[0] = True

    io_loop.add_handler(sock, accept, IOLoop.READ)
    return remove


def is_valid_ip(ip: str) -> bool:
    """True for a literal IPv4 or IPv6 address."""
    if not ip or "\x00" in ip:
        return False
    try:
        res = socket.getaddrinfo(ip, 0, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST)
        return bool(res)
    except socket.gaierror as e:
        if e.args[0] == socket.EAI_NONAME:
            return False
        raise
    except UnicodeError:
        return False


class Resolver:
    """Name resolution: ``await resolver.resolve(host, port, family)`` gives
    ``[(family, address)]``. ``Resolver()`` makes the configured class
    (``Resolver.configure``), by default ``DefaultLoopResolver``."""

    _impl: Optional[type] = None
    _impl_kwargs: dict[str, Any] = {}

    def __new__(cls, *args: Any, **kwargs: Any) -> "Resolver":
        impl = (Resolver._impl or DefaultLoopResolver) if cls is Resolver else cls
        obj: Any = super().__new__(impl)
        obj._configured_kwargs = dict(Resolver._impl_kwargs) if cls is Resolver else {}
        made: Resolver = obj
        return made

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.initialize(*args, **{**getattr(self, "_configured_kwargs", {}), **kwargs})

    def initialize(self, *args: Any, **kwargs: Any) -> None:
        pass

    @classmethod
    def configure(cls, impl: Any, **kwargs: Any) -> None:
        if isinstance(impl, str):
            import importlib
            mod, _, name = impl.rpartition(".")
            impl = getattr(importlib.import_module(mod), name)
        if impl is not None and not (isinstance(impl, type) and issubclass(impl, Resolver)):
            raise ValueError(f"Invalid subclass of {cls!r}")
        Resolver._impl = impl
        Resolver._impl_kwargs = dict(kwargs)

    @classmethod
    def configured_class(cls) -> type:
        return Resolver._impl or DefaultLoopResolver

    def resolve(self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC) -> Awaitable[list[tuple[int, Any]]]:
        raise NotImplementedError()

    def close(self) -> None:
        pass


def _results(infos: list[Any]) -> list[tuple[int, Any]]:
    return [(fam, address) for fam, _type, _proto, _canon, address in infos]


class DefaultLoopResolver(Resolver):
    """asyncio's ``getaddrinfo`` (a thread of asyncio's executor)."""

    async def resolve(self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC) -> list[tuple[int, Any]]:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, family=family, type=socket.SOCK_STREAM)
        return _results(infos)


class DefaultExecutorResolver(DefaultLoopResolver):
    """The same as ``DefaultLoopResolver`` (Tornado's older name)."""


class ExecutorResolver(Resolver):
    """``getaddrinfo`` on ``executor`` (a thread pool of its own when None);
    ``close_executor`` shuts it down on ``close()``."""

    def initialize(self, executor: Optional[concurrent.futures.Executor] = None, close_executor: bool = True) -> None:
        super().initialize()
        if executor is None:
            executor = concurrent.futures.ThreadPoolExecutor(max_workers=1)
            close_executor = True
        self.executor: Optional[concurrent.futures.Executor] = executor
        self.close_executor = close_executor

    def close(self) -> None:
        if self.close_executor and self.executor is not None:
            self.executor.shutdown()
        self.executor = None

    async def resolve(self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC) -> list[tuple[int, Any]]:
        infos = await asyncio.get_running_loop().run_in_executor(
            self.executor, socket.getaddrinfo, host, port, family, socket.SOCK_STREAM)
        return _results(infos)


class BlockingResolver(ExecutorResolver):
    pass


class ThreadedResolver(ExecutorResolver):
    pass


class OverrideResolver(Resolver):
    """Answers from ``mapping`` first (``host``, ``(host, port)`` or
    ``(host, port, family)`` keys), then from ``resolver``."""

    def initialize(self, resolver: Resolver, mapping: dict[Any, Any]) -> None:
        super().initialize()
        self.resolver = resolver
        self.mapping = mapping

    def close(self) -> None:
        self.resolver.close()

    def resolve(self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC) -> Awaitable[list[tuple[int, Any]]]:
        if (host, port, family) in self.mapping:
            host, port = self.mapping[(host, port, family)]
        elif (host, port) in self.mapping:
            host, port = self.mapping[(host, port)]
        elif host in self.mapping:
            host = self.mapping[host]
        return self.resolver.resolve(host, port, family)


_SSL_KEYS = frozenset(["ssl_version", "certfile", "keyfile", "cert_reqs", "ca_certs", "ciphers"])


def ssl_options_to_context(ssl_options: Union[dict[str, Any], ssl.SSLContext],
                           server_side: Optional[bool] = None) -> ssl.SSLContext:
    """An ``ssl.SSLContext`` from Tornado's dict form (unknown keys are an
    error); a context is returned as it is."""
    if isinstance(ssl_options, ssl.SSLContext):
        return ssl_options
    assert isinstance(ssl_options, dict)
    unknown = set(ssl_options) - _SSL_KEYS
    if unknown:
        raise ValueError(f"unknown ssl_options keys: {sorted(unknown)}")
    default = ssl.PROTOCOL_TLS_SERVER if server_side else ssl.PROTOCOL_TLS_CLIENT
    ctx = ssl.SSLContext(ssl_options.get("ssl_version", default))
    if "certfile" in ssl_options:
        ctx.load_cert_chain(ssl_options["certfile"], ssl_options.get("keyfile"))
    if "cert_reqs" in ssl_options:
        if ssl_options["cert_reqs"] == ssl.CERT_NONE:
            ctx.check_hostname = False
        ctx.verify_mode = ssl_options["cert_reqs"]
    if "ca_certs" in ssl_options:
        ctx.load_verify_locations(ssl_options["ca_certs"])
    if "ciphers" in ssl_options:
        ctx.set_ciphers(ssl_options["ciphers"])
    return ctx


def ssl_wrap_socket(sock: socket.socket, ssl_options: Union[dict[str, Any], ssl.SSLContext],
                    server_hostname: Optional[str] = None, server_side: Optional[bool] = None,
                    **kwargs: Any) -> ssl.SSLSocket:
    """``sock`` wrapped in TLS per ``ssl_options`` (dict or context)."""
    ctx = ssl_options_to_context(ssl_options, server_side=server_side)
    if server_side is None:
        server_side = False
    return ctx.wrap_socket(sock, server_hostname=server_hostname, server_side=server_side, **kwargs)
