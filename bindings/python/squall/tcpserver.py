"""``squall.tcpserver``: Tornado's ``TCPServer`` on squall's TCP listeners.

``listen(port, address)`` makes a squall listener (``sq_tcp_listen``): it
accepts on squall's reactor threads and every accepted connection becomes an
``IOStream`` over its ``sq_tcp`` stream, handed to ``handle_stream(stream,
address)`` on the IOLoop's thread. ``handle_stream`` may be a coroutine; an
exception it raises (or its coroutine ends with) is logged ("Exception in
callback") and the server goes on.

``add_sockets``/``add_socket`` with sockets the program bound itself
(``bind_sockets``, ``testing.bind_unused_port``): squall's C ABI cannot adopt
a listening TCP descriptor, so squall takes over the address: the socket
stops listening (``shutdown``; it keeps its address, so ``getsockname()``
goes on answering, until ``stop()`` closes it) and a squall listener is
bound on the same address and port at once
(a Unix socket stays the program's: its connections are accepted with
``netutil.add_accept_handler`` and streamed in Python, see
``squall.iostream``). ``bind`` + ``start(num_processes)`` binds after the
fork, each process with its own SO_REUSEPORT listener.

``ssl_options`` in the dict form squall's TLS honours (``certfile``/
``keyfile``, see ``httpserver.tls_files``) serves TLS in Rust, as
``HTTPServer`` does: ``handle_stream`` gets a plain ``IOStream`` of
decrypted bytes. Anything else (an ``ssl.SSLContext``, client certificates,
``ciphers``) runs Python's ``ssl`` over the squall stream: ``handle_stream``
gets an ``SSLIOStream`` (``wait_for_handshake()``), as in Tornado.
"""
from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import socket
import ssl
from typing import Any, Awaitable, Iterable, Optional

from . import _ffi
from ._ffi import b, c_callback, lib
from ._slab import Slab
from .iostream import IOStream, SSLIOStream, _callbacks, _guard, _SqTransport, tcp_options

__all__ = ["TCPServer"]

app_log = logging.getLogger("squall.application")

_servers = Slab()


@c_callback(b.sq_tcp_callbacks._fields_[1][1])
@_guard
def _on_accept(ud: int, handle: int, status: int) -> None:
    server = _servers.get(ud)
    if not isinstance(server, TCPServer) or status != b.SQ_OK or not handle:
        if handle:
            lib.sq_tcp_abort(handle)
        return
    server._accepted(_SqTransport(handle))


_ACCEPT_CALLBACKS = _callbacks(_on_accept)


class TCPServer:
    """A non-blocking TCP server: subclass it and define
    ``handle_stream(stream, address)``."""

    def __init__(self, ssl_options: Any = None, max_buffer_size: Optional[int] = None,
                 read_chunk_size: Optional[int] = None) -> None:
        from .httpserver import tls_files
        self.ssl_options = ssl_options
        self._tls: Optional[list[tuple[str, str]]] = None
        self._py_tls: Optional[ssl.SSLContext] = None
        if ssl_options is not None:
            try:
                self._tls = tls_files(ssl_options)
            except (ValueError, TypeError):
                # what squall's TLS cannot honour (an SSLContext, client
                # certificates, ciphers): Python's ssl over the squall stream
                from .netutil import ssl_options_to_context
                self._py_tls = ssl_options_to_context(ssl_options, server_side=True)
        self.max_buffer_size = max_buffer_size
        self.read_chunk_size = read_chunk_size
        self._ud = _servers.put(self)
        self._listeners: list[Any] = []
        self._python_sockets: dict[int, tuple[socket.socket, Any]] = {}
        self._pending: list[dict[str, Any]] = []
        self._held: list[socket.socket] = []
        self._started = False
        self._stopped = False

    # -- listening -----------------------------------------------------------------

    def listen(self, port: int, address: Optional[str] = None, family: socket.AddressFamily = socket.AF_UNSPEC,
               backlog: int = 128, flags: Optional[int] = None, reuse_port: bool = False) -> None:
        """Accepts connections on ``address:port`` (every interface when
        ``address`` is None or empty: 0.0.0.0, and :: where IPv6 works)."""
        if not address:
            hosts = ["0.0.0.0"] if family != socket.AF_INET6 else []
            if family != socket.AF_INET and socket.has_ipv6:
                hosts.append("::")
        else:
            hosts = [address]
        made = 0
        first_error: Optional[Exception] = None
        for h in hosts:
            try:
                self._listen_sq(h, port, backlog)
                made += 1
            except OSError as e:
                if first_error is None:
                    first_error = e
        if not made and first_error is not None:
            raise first_error

    def _listen_sq(self, host: str, port: int, backlog: int = 128) -> int:
        from .ioloop import IOLoop
        if self._stopped:
            raise RuntimeError("TCPServer is stopped")
        loop = IOLoop.current()
        opts = tcp_options()
        opts.backlog = max(1, int(backlog))
        cfg = None
        if self._tls:
            cfg = lib.sq_tls_config_new(None)
            if not cfg:
                raise _ffi.SquallError(b.SQ_ERR_PANIC)
            for certfile, keyfile in self._tls:
                st = lib.sq_tls_config_add_cert_file(cfg, os.fsencode(certfile), os.fsencode(keyfile))
                if st < 0:
                    lib.sq_tls_config_free(cfg)
                    raise ValueError(f"ssl_options: {_ffi.SquallError(st)}")
            opts.tls = cfg
        try:
            listener = lib.sq_tcp_listen(loop._loop_ptr(), host.encode(), port, ctypes.byref(_ACCEPT_CALLBACKS),
                                         ctypes.byref(opts), self._ud)
        finally:
            if cfg is not None:
                lib.sq_tls_config_free(cfg)
        if not listener:
            msg = (lib.sq_last_error() or b"").decode("utf-8", "replace")
            raise OSError(f"cannot listen on {host}:{port}: {msg}")
        self._listeners.append(listener)
        loop._servers.add(self)  # IOLoop.close() stops it (_free) before freeing squall's loop
        loop._arm()
        return int(lib.sq_tcp_listener_port(listener))

    def add_sockets(self, sockets: Iterable[socket.socket]) -> None:
        """Serves on sockets bound by the program (see the module's text:
        squall takes over a TCP socket's address; a Unix socket is accepted
        in Python)."""
        for sock in sockets:
            self.add_socket(sock)

    def add_socket(self, socket_: socket.socket) -> None:
        if socket_.family in (socket.AF_INET, socket.AF_INET6):
            addr = socket_.getsockname()
            # The socket stops listening but keeps its address (so that
            # getsockname() on it goes on working); squall's listener binds
            # beside it (SO_REUSEADDR). Closed by stop().
            try:
                socket_.shutdown(socket.SHUT_RD)
                self._listen_sq(addr[0], addr[1])
            except OSError:
                socket_.close()
                self._listen_sq(addr[0], addr[1])
            else:
                self._held.append(socket_)
            return
        from .netutil import add_accept_handler
        remove = add_accept_handler(socket_, self._accepted_python)
        self._python_sockets[socket_.fileno()] = (socket_, remove)

    def bind(self, port: int, address: Optional[str] = None, family: socket.AddressFamily = socket.AF_UNSPEC,
             backlog: int = 128, flags: Optional[int] = None, reuse_port: bool = False) -> None:
        """Remembers an address for ``start()`` (which listens, after the
        fork when it forks)."""
        self._pending.append(dict(port=port, address=address, family=family, backlog=backlog))

    def start(self, num_processes: Optional[int] = 1, max_restarts: Optional[int] = None) -> None:
        """Listens on what ``bind()`` remembered, in ``num_processes``
        processes (``None`` or 0: one per CPU) forked first."""
        if self._started:
            raise RuntimeError("TCPServer already started")
        self._started = True
        if num_processes != 1:
            from . import process
            process.fork_processes(num_processes, max_restarts)
        pending, self._pending = self._pending, []
        for p in pending:
            self.listen(p["port"], p["address"], p["family"], p["backlog"])

    def stop(self) -> None:
        """Stops accepting (open streams live on). Twice is harmless."""
        if self._stopped:
            return
        self._stopped = True
        for listener in self._listeners:
            lib.sq_tcp_listener_free(listener)
        self._listeners.clear()
        for _fd, (sock, remove) in list(self._python_sockets.items()):
            remove()
            sock.close()
        self._python_sockets.clear()
        for sock in self._held:
            sock.close()
        self._held.clear()
        _servers.pop(self._ud)

    def _free(self) -> None:
        self.stop()

    # -- connections -----------------------------------------------------------------

    def handle_stream(self, stream: IOStream, address: tuple[Any, ...]) -> Optional[Awaitable[None]]:
        """Called for each new connection (may be a coroutine)."""
        raise NotImplementedError()

    def _stream_kwargs(self) -> dict[str, Any]:
        return dict(max_buffer_size=self.max_buffer_size, read_chunk_size=self.read_chunk_size)

    def _accepted(self, transport: _SqTransport) -> None:
        if self._stopped:
            transport.abort()
            return
        address = transport.address(True)
        if self._py_tls is not None:
            tls_stream = SSLIOStream(None, ssl_options=self._py_tls, server_side=True, **self._stream_kwargs())
            tls_stream._attach(transport)
            self._handle(tls_stream, address)
            return
        stream = IOStream._from_sq(transport, **self._stream_kwargs())
        self._handle(stream, address)

    def _accepted_python(self, conn: socket.socket, address: Any) -> None:
        if self.ssl_options is not None:  # a Unix socket: Python's ssl
            from .netutil import ssl_options_to_context
            ctx = self._py_tls or ssl_options_to_context(self.ssl_options, server_side=True)
            self._handle(SSLIOStream(conn, ssl_options=ctx, server_side=True, **self._stream_kwargs()), address)
            return
        self._handle(IOStream(conn, **self._stream_kwargs()), address)

    def _handle(self, stream: IOStream, address: Any) -> None:
        try:
            r = self.handle_stream(stream, address)
        except Exception:
            app_log.error("Error in connection callback", exc_info=True)
            return
        if r is not None:
            fut = asyncio.ensure_future(r)
            fut.add_done_callback(_log_failure)


def _log_failure(fut: "asyncio.Future[Any]") -> None:
    if fut.cancelled():
        return
    exc = fut.exception()
    if exc is not None:
        app_log.error("Exception in callback %r", fut, exc_info=(type(exc), exc, exc.__traceback__))


