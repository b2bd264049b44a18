"""``HTTPServer``: a squall server (``sq_server``) serving an ``Application``.

Routes are registered in squall's Rust router; each one carries an integer
(an index into ``_ROUTES``) as its userdata, and one module-level ctypes
trampoline per callback kind turns that integer back into the Python object
that handles the request. Nothing squall holds is a Python pointer.
"""
from __future__ import annotations

import ctypes
import logging
import os
import socket
from typing import Any, Callable, Optional

from . import _ffi
from ._ffi import b, c_callback, lib
from ._slab import Slab
from .ioloop import IOLoop

__all__ = ["HTTPServer"]

gen_log = logging.getLogger("squall.general")
app_log = logging.getLogger("squall.application")

# Route objects by index: each is a callable taking the request handle (int).
_ROUTES = Slab()
# Shutdown callbacks by index.
_DONE = Slab()


_ROUTE_ITEMS = _ROUTES._items  # the hot path indexes the slab's list directly


@c_callback(b.sq_handler)
def _handle(ud: int, req: int) -> int:
    try:
        _ROUTE_ITEMS[ud](req)
    except BaseException:
        if _ROUTES.get(ud) is None:
            return b.SQ_ERR_CLOSED
        # a route object answers its own errors; this is the last guard
        app_log.error("Uncaught exception serving a request", exc_info=True)
        return b.SQ_ERR_PANIC
    return b.SQ_OK


@c_callback(b.sq_callback)
def _shutdown_done(ud: int) -> None:
    cb = _DONE.pop(ud)
    if cb is not None:
        try:
            cb()
        except Exception:
            app_log.error("Exception in shutdown callback", exc_info=True)


class Server:
    """A ``sq_server`` and what squall keeps for it (route indexes)."""

    def __init__(self, io_loop: IOLoop) -> None:
        self.io_loop = io_loop
        ptr = lib.sq_server_new(io_loop._loop_ptr())
        if not ptr:
            raise _ffi.SquallError(b.SQ_ERR_NULL)
        self.ptr = ptr
        self._route_ids: list[int] = []
        self._keep: list[Any] = []  # ctypes structs squall copied but we keep for clarity
        self.ports: list[int] = []
        self._waiters: list[Callable[[], Any]] = []
        self._shutting_down = False
        self._closed_all = False
        io_loop._servers.add(self)

    def _live(self) -> Any:
        if self.ptr is None:
            raise RuntimeError("server is closed")
        return self.ptr

    def route(self, method: str, pattern: str, handler: Callable[[int], Any], flags: int = 0) -> None:
        rid = _ROUTES.put(handler)
        st = lib.sq_route(self._live(), method.encode(), pattern.encode(), _handle, rid, flags)
        if st < 0:
            _ROUTES.pop(rid)
            raise ValueError(f"route {pattern!r}: {_ffi.SquallError(st)}")
        self._route_ids.append(rid)

    def keep_route_object(self, obj: Any) -> int:
        rid = _ROUTES.put(obj)
        self._route_ids.append(rid)
        return rid

    def metrics(self) -> dict[str, Any]:
        """The server's counters now (``sq_metrics_snapshot``): one key per
        field of ``sq_metrics`` (the ``*_buckets`` histograms lists)."""
        m = b.sq_metrics()
        _ffi.check(lib.sq_metrics_snapshot(self._live(), ctypes.byref(m), ctypes.sizeof(m)))
        return metrics_dict(m)

    def metrics_text(self) -> str:
        """The counters in Prometheus' text format 0.0.4 (``sq_metrics_prometheus``)."""
        p = self._live()
        needed = ctypes.c_size_t(0)
        size = 16 << 10
        while True:
            buf = ctypes.create_string_buffer(size)
            st = lib.sq_metrics_prometheus(p, buf, size, ctypes.byref(needed))
            if st == b.SQ_OK:
                return buf.value.decode("utf-8")
            if st != b.SQ_ERR_LIMIT:
                _ffi.check(st)
            size = needed.value + 1

    def metrics_route(self, path: str) -> None:
        """Serves the text at GET ``path``, answered on the reactor thread
        (``sq_server_metrics_route``)."""
        _ffi.check(lib.sq_server_metrics_route(self._live(), path.encode()))

    def static(self, prefix: str, directory: str) -> None:
        st = lib.sq_server_static(self._live(), prefix.encode(), os.fsencode(directory))
        if st < 0:
            raise ValueError(f"static {prefix!r} → {directory!r}: {_ffi.SquallError(st)}")

    def listen(self, port: int, address: str = "") -> int:
        host = address or "0.0.0.0"
        out = ctypes.c_uint16(0)
        st = lib.sq_server_listen(self._live(), host.encode(), port, ctypes.byref(out))
        if st < 0:
            err = _ffi.SquallError(st)
            raise OSError(f"cannot listen on {host}:{port}: {err}")
        self.ports.append(out.value)
        return out.value

    def listen_fd(self, fd: int) -> int:
        """Serves on a listening socket the caller bound (``sq_server_listen_fd``:
        squall owns ``fd`` once this returns)."""
        out = ctypes.c_uint16(0)
        st = lib.sq_server_listen_fd(self._live(), fd, ctypes.byref(out))
        if st < 0:
            raise OSError(f"cannot serve on fd {fd}: {_ffi.SquallError(st)}")
        self.ports.append(out.value)
        return out.value

    def set_limits(self, *, max_header_size: Optional[int] = None, max_body_size: Optional[int] = None,
                   idle_connection_timeout: Optional[float] = None, body_timeout: Optional[float] = None,
                   header_timeout: Optional[float] = None, max_connections: Optional[int] = None,
                   backlog: Optional[int] = None, flow_limits: Optional[tuple[int, int]] = None,
                   send_timeout: Optional[float] = None) -> None:
        p = self._live()
        if send_timeout is not None:
            _ffi.check(lib.sq_server_set_send_timeout_ms(p, max(0, int(send_timeout * 1000))))
        if flow_limits is not None:
            high, low = flow_limits
            _ffi.check(lib.sq_server_set_flow_limits(p, int(high), int(low)))
        if max_header_size is not None:
            _ffi.check(lib.sq_server_set_max_header_size(p, int(max_header_size)))
        if max_body_size is not None:
            _ffi.check(lib.sq_server_set_max_body_size(p, int(max_body_size)))
        if idle_connection_timeout is not None:
            _ffi.check(lib.sq_server_set_idle_timeout_ms(p, int(idle_connection_timeout * 1000)))
        if body_timeout is not None:
            _ffi.check(lib.sq_server_set_body_timeout_ms(p, int(body_timeout * 1000)))
        if header_timeout is not None:
            _ffi.check(lib.sq_server_set_header_timeout_ms(p, int(header_timeout * 1000)))
        if max_connections is not None:
            _ffi.check(lib.sq_server_set_max_connections(p, int(max_connections)))
        if backlog is not None:
            _ffi.check(lib.sq_server_set_backlog(p, int(backlog)))

    def set_tls(self, certs: list[tuple[str, str]]) -> None:
        """Serves TLS with these (certfile, keyfile) pairs, the first the
        default and the others chosen by SNI; applies to new connections
        (calling it again reloads). Raises ValueError with squall's message
        for a file that cannot be read or a key that does not match."""
        cfg = lib.sq_tls_config_new(None)
        if not cfg:
            raise _ffi.SquallError(b.SQ_ERR_NULL)
        try:
            for certfile, keyfile in certs:
                st = lib.sq_tls_config_add_cert_file(cfg, os.fsencode(certfile), os.fsencode(keyfile))
                if st != b.SQ_OK:
                    raise ValueError(f"ssl_options: {_ffi.SquallError(st)}")
            _ffi.check(lib.sq_server_set_tls(self._live(), cfg))
        finally:
            lib.sq_tls_config_free(cfg)

    def shutdown(self, deadline: float, done: Optional[Callable[[], Any]] = None) -> None:
        """Graceful shutdown (``sq_server_shutdown``); ``done`` runs once every
        connection is closed. A second call only adds its ``done``."""
        if done is not None:
            if self._closed_all:
                self.io_loop.add_callback(done)
                return
            self._waiters.append(done)
        if self._shutting_down or self.ptr is None:
            return
        self._shutting_down = True
        ud = _DONE.put(self._all_closed)
        st = lib.sq_server_shutdown(self.ptr, int(deadline * 1000), _shutdown_done, ud)
        if st < 0:
            _DONE.pop(ud)
            raise _ffi.SquallError(st)

    def _all_closed(self) -> None:
        self._closed_all = True
        waiters, self._waiters = self._waiters, []
        for w in waiters:
            w()

    def publish(self, topic: str, data: bytes, opcode: int, compress: bool = True) -> int:
        if self.ptr is None:
            return b.SQ_ERR_CLOSED
        if compress:
            st: int = lib.sq_publish(self.ptr, topic.encode(), data, len(data), opcode)
        else:
            st = lib.sq_publish_ex(self.ptr, topic.encode(), data, len(data), opcode, b.SQ_WS_SEND_NO_COMPRESS)
        return st

    def subscribers(self, topic: str) -> int:
        if self.ptr is None:
            return 0
        n: int = lib.sq_topic_subscribers(self.ptr, topic.encode())
        return n

    def _free(self) -> None:
        if self.ptr is not None:
            lib.sq_server_free(self.ptr)
            self.ptr = None
            for rid in self._route_ids:
                _ROUTES.pop(rid)
            self._route_ids.clear()
            self._keep.clear()


_SSL_DICT_FORM = "ssl_options={'certfile': 'cert.pem', 'keyfile': 'key.pem'}"


def tls_files(ssl_options: Any) -> list[tuple[str, str]]:
    """The (certfile, keyfile) pairs of Tornado's ``ssl_options`` dict.
    squall's TLS runs in Rust (rustls: TLS 1.2 and 1.3, its own cipher
    suites, ALPN http/1.1), so only what it can honour is taken: certfile,
    keyfile (default: the certfile, which then holds the key too),
    ssl_version PROTOCOL_TLS_SERVER / PROTOCOL_TLS, cert_reqs CERT_NONE.
    Anything else, and an ``ssl.SSLContext`` (which cannot hand its key
    over), is a ValueError that names the dict form."""
    import ssl
    if isinstance(ssl_options, ssl.SSLContext):
        raise ValueError("ssl_options: an ssl.SSLContext cannot hand its certificate and key to squall, "
                         f"whose TLS runs in Rust; pass the dict form instead: {_SSL_DICT_FORM}")
    if not isinstance(ssl_options, dict):
        raise TypeError(f"ssl_options must be a dict: {_SSL_DICT_FORM}")
    opts = dict(ssl_options)
    certfile = opts.pop("certfile", None)
    if not certfile:
        raise ValueError(f"ssl_options needs 'certfile': {_SSL_DICT_FORM}")
    keyfile = opts.pop("keyfile", None) or certfile
    version = opts.pop("ssl_version", None)
    allowed = {getattr(ssl, "PROTOCOL_TLS_SERVER", None), getattr(ssl, "PROTOCOL_TLS", None), None}
    if version not in allowed:
        raise ValueError("ssl_options: ssl_version cannot be honoured (squall speaks TLS 1.2 and 1.3); "
                         f"leave it out: {_SSL_DICT_FORM}")
    if opts.pop("cert_reqs", ssl.CERT_NONE) != ssl.CERT_NONE:
        raise ValueError("ssl_options: client certificates (cert_reqs) are not supported by squall's TLS")
    if opts:
        raise ValueError(f"ssl_options: {', '.join(sorted(map(str, opts)))} cannot be honoured by squall's TLS "
                         f"(rustls, its own cipher suites); supported: {_SSL_DICT_FORM}")
    return [(os.fspath(certfile), os.fspath(keyfile))]


def metrics_dict(m: Any) -> dict[str, Any]:
    """An ``sq_metrics`` filled by squall as a dict: one key per field but
    ``size`` (the ``*_buckets`` histograms as lists)."""
    out: dict[str, Any] = {}
    for name, *_ in b.sq_metrics._fields_:
        if name != "size":
            v = getattr(m, name)
            out[name] = list(v) if name.endswith("_buckets") else int(v)
    return out


class HTTPServer:
    """Serves an ``Application`` (or any object with an ``_install(server)``
    method) over HTTP/1.1, as Tornado's ``HTTPServer``.

    Beyond Tornado's arguments: ``max_connections``, ``header_timeout`` (s)
    and ``flow_limits=(high_water, low_water)``, the bytes (plus 1 KiB per
    message or chunk) a connection may make the server hold for the handlers
    or for a peer that does not read before reading pauses, and below which
    it resumes (default ``(1 << 20, 256 << 10)``; ``sq_server_set_flow_limits``);
    ``send_timeout`` (s), how long a peer may read none of the output waiting
    for it before its connection is closed (default 60; 0: never;
    ``sq_server_set_send_timeout_ms``).

    ``listen(port, address)`` binds and serves in this process;
    ``bind(port, address)`` + ``start(n)`` forks ``n`` processes (0 or None:
    one per CPU) that all accept on the sockets bound before the fork.
    """

    def __init__(self, request_callback: Any, xheaders: bool = False, max_body_size: Optional[int] = None,
                 max_header_size: Optional[int] = None, idle_connection_timeout: Optional[float] = None,
                 body_timeout: Optional[float] = None, no_keep_alive: bool = False,
                 ssl_options: Any = None, max_buffer_size: Optional[int] = None,
                 decompress_request: bool = False, chunk_size: Optional[int] = None,
                 protocol: Optional[str] = None, trusted_downstream: Optional[list[str]] = None,
                 max_connections: Optional[int] = None, header_timeout: Optional[float] = None,
                 flow_limits: Optional[tuple[int, int]] = None, send_timeout: Optional[float] = None,
                 io_loop: Optional[IOLoop] = None) -> None:
        self._tls = tls_files(ssl_options) if ssl_options is not None else None
        self.request_callback = request_callback
        self.xheaders = xheaders
        self.protocol = protocol or ("https" if self._tls else None)
        self.trusted_downstream = set(trusted_downstream or ())
        self.no_keep_alive = no_keep_alive
        # read by squall.web for @stream_request_body handlers (the pieces
        # data_received gets, and gzip bodies inflated)
        self.chunk_size = chunk_size
        self.decompress_request = decompress_request
        self._limits: dict[str, Any] = dict(max_header_size=max_header_size,
                            max_body_size=max_body_size if max_body_size is not None else max_buffer_size,
                            idle_connection_timeout=idle_connection_timeout, body_timeout=body_timeout,
                            header_timeout=header_timeout, max_connections=max_connections,
                            flow_limits=flow_limits, send_timeout=send_timeout)
        self._io_loop = io_loop
        self._server: Optional[Server] = None
        self._pending_binds: list[tuple[int, str, Optional[int]]] = []
        self._started = False

    # the squall server is made on first use, on the current IOLoop
    def _ensure(self) -> Server:
        if self._server is None:
            loop = self._io_loop or IOLoop.current()
            assert loop is not None
            srv = Server(loop)
            srv.set_limits(**self._limits)
            if self._tls:
                srv.set_tls(self._tls)
            install = getattr(self.request_callback, "_install", None)
            if install is None:
                raise TypeError("HTTPServer needs a squall.web.Application")
            install(srv, self)
            self._server = srv
        return self._server

    @property
    def ports(self) -> list[int]:
        return list(self._server.ports) if self._server else []

    def metrics(self) -> dict[str, Any]:
        """This server's counters now (see ``squall.metrics``)."""
        return self._ensure().metrics()

    def metrics_text(self) -> str:
        """This server's counters in Prometheus' text format."""
        return self._ensure().metrics_text()

    def listen(self, port: int, address: str = "", backlog: Optional[int] = None, reuse_port: bool = False) -> int:
        """Binds ``address:port`` and serves there once the IOLoop runs.
        Returns the bound port (useful with port 0)."""
        srv = self._ensure()
        if backlog is not None:
            srv.set_limits(backlog=backlog)
        return srv.listen(port, address)

    def add_sockets(self, sockets: Any) -> None:
        """Serves on listening sockets bound by the caller (Tornado's
        ``add_sockets``; e.g. ``testing.bind_unused_port``). squall takes a
        duplicate of each descriptor, so the caller's socket objects stay
        theirs to close."""
        srv = self._ensure()
        for sock in sockets:
            fd = os.dup(sock.fileno())
            try:
                srv.listen_fd(fd)
            except BaseException:
                os.close(fd)
                raise

    def add_socket(self, socket: Any) -> None:
        self.add_sockets([socket])

    def bind(self, port: int, address: Optional[str] = None, family: int = socket.AF_UNSPEC,
             backlog: int = 128, reuse_port: bool = False) -> int:
        """Binds now (the socket is inherited by the processes ``start``
        forks). Returns the bound port."""
        return self.listen(port, address or "", backlog=backlog)

    def start(self, num_processes: Optional[int] = 1, max_restarts: Optional[int] = None) -> None:
        """With ``num_processes`` != 1, forks that many processes (0/None: one
        per CPU) sharing the bound sockets; each child then serves through
        its own IOLoop. Must be called before the IOLoop has started."""
        if self._started:
            return
        self._started = True
        if num_processes != 1:
            from . import process
            process.fork_processes(num_processes, max_restarts)

    def stop(self, deadline: float = 10.0) -> None:
        """Stops accepting and closes idle connections; requests in flight
        finish, for ``deadline`` seconds at most; WebSockets are closed with
        1001. ``await close_all_connections()`` waits for the end."""
        if self._server is not None:
            self._server.shutdown(deadline)

    async def close_all_connections(self) -> None:
        """Waits until every connection is closed (after ``stop``)."""
        import asyncio
        if self._server is None:
            return
        fut = asyncio.get_running_loop().create_future()
        def _closed() -> None:
            if not fut.done():
                fut.set_result(None)
        self._server.shutdown(10.0, _closed)
        try:
            await asyncio.wait_for(fut, 30)
        except asyncio.TimeoutError:
            pass

    def _free(self) -> None:
        if self._server is not None:
            self._server._free()
            self._server = None
