"""``squall.tcpclient``: Tornado's ``TCPClient`` on squall's TCP connects.

``TCPClient().connect(host, port)`` opens an ``IOStream`` over an ``sq_tcp``
stream (``sq_tcp_connect``: squall resolves the name off its reactor and
tries every address in order). Where it differs from Tornado:

- With a ``resolver`` given to ``TCPClient(resolver=...)``, or an ``af``
  other than ``AF_UNSPEC``, the name is resolved in Python with that
  resolver (``netutil.Resolver`` by default) and the addresses are tried one
  after the other (no "happy eyeballs" race between families).
- ``source_ip``/``source_port``: squall's connect cannot bind a source
  address, so such a connection is made in Python (a socket bound to it,
  connected by asyncio) and streamed as ``squall.iostream`` describes.
- ``ssl_options``: the TLS handshake runs in Python's ``ssl`` over the squall
  stream (``IOStream.start_tls``): squall's raw TCP connect has no client TLS.
- ``timeout`` (seconds or a ``timedelta``) covers resolution, connect and
  the TLS handshake and raises ``TimeoutError``.

``_Connector`` (Tornado's private happy-eyeballs helper) does not exist in
squall; the name is kept so that code importing it loads.
"""
from __future__ import annotations

import asyncio
import datetime
import socket
from typing import Any, Optional, Union

from .iostream import IOStream, _FdTransport, sq_connect

__all__ = ["TCPClient"]


def _format_addr(addr: Any) -> str:
    """``host:port``, with an IPv6 host in brackets."""
    if not isinstance(addr, tuple):
        return str(addr)
    if len(addr) == 4 or ":" in str(addr[0]):
        return f"[{addr[0]}]:{addr[1]}"
    return f"{addr[0]}:{addr[1]}"


class _Connector:
    """Not in squall: Tornado's private connection-racing helper. squall's
    connect tries addresses in order in Rust (``sq_tcp_connect``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("squall.tcpclient._Connector: Tornado's private helper is not part of squall")


class TCPClient:
    """Opens TCP connections as ``IOStream`` objects."""

    def __init__(self, resolver: Any = None) -> None:
        self.resolver = resolver
        self._own_resolver = False

    def close(self) -> None:
        if self._own_resolver and self.resolver is not None:
            self.resolver.close()

    async def connect(self, host: str, port: int, af: socket.AddressFamily = socket.AF_UNSPEC,
                      ssl_options: Any = None, max_buffer_size: Optional[int] = None,
                      source_ip: Optional[str] = None, source_port: Optional[int] = None,
                      timeout: Optional[Union[float, datetime.timedelta]] = None) -> IOStream:
        """Connects to ``host:port`` and resolves with the ``IOStream`` (an
        ``SSLIOStream`` once its handshake is done, with ``ssl_options``)."""
        if isinstance(timeout, datetime.timedelta):
            timeout = timeout.total_seconds()
        elif timeout is not None and not isinstance(timeout, (int, float)):
            raise TypeError(f"Unsupported timeout {timeout!r}")
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        tried: list[str] = []
        attempt = self._connect(host, port, af, max_buffer_size, source_ip, source_port, tried)
        if timeout is None:
            stream = await attempt
        else:
            try:
                stream = await asyncio.wait_for(attempt, timeout)
            except asyncio.TimeoutError:
                if tried:
                    raise TimeoutError("Timeout while connecting to " + ", ".join(tried)) from None
                raise TimeoutError(f"Timeout while resolving {host}") from None
        if ssl_options is None:
            return stream
        try:
            tls_stream, handshake = stream._start_tls(False, ssl_options, host)
        except BaseException:
            stream.close()
            raise
        try:
            if deadline is None:
                return await handshake
            return await asyncio.wait_for(handshake, max(0.0, deadline - loop.time()))
        except asyncio.TimeoutError:
            tls_stream.close()
            raise TimeoutError(f"Timeout during TLS handshake with {host}:{port}") from None
        except BaseException:
            tls_stream.close()
            raise

    async def _connect(self, host: str, port: int, af: socket.AddressFamily, max_buffer_size: Optional[int],
                       source_ip: Optional[str], source_port: Optional[int], tried: list[str]) -> IOStream:
        if self.resolver is None and af == socket.AF_UNSPEC and source_ip is None and source_port is None:
            tried.append(_format_addr((host, port)))
            transport = await sq_connect(host, port)
            return IOStream._from_sq(transport, max_buffer_size=max_buffer_size)
        resolver = self.resolver
        if resolver is None:
            from .netutil import Resolver
            resolver = Resolver()
        addrs = await resolver.resolve(host, port, af)
        last: Optional[BaseException] = None
        for family, sockaddr in addrs:
            tried.append(_format_addr(sockaddr))
            try:
                if source_ip is None and source_port is None:
                    transport = await sq_connect(sockaddr[0], sockaddr[1])
                    return IOStream._from_sq(transport, max_buffer_size=max_buffer_size)
                return await self._connect_bound(family, sockaddr, max_buffer_size, source_ip, source_port)
            except OSError as e:
                last = e
        if last is None:
            raise OSError(f"{host} resolved to no address")
        raise last

    async def _connect_bound(self, family: int, sockaddr: Any, max_buffer_size: Optional[int],
                             source_ip: Optional[str], source_port: Optional[int]) -> IOStream:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            if source_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((source_ip or ("::" if family == socket.AF_INET6 else "0.0.0.0"), source_port or 0))
            await asyncio.get_running_loop().sock_connect(sock, sockaddr)
        except BaseException:
            sock.close()
            raise
        stream = IOStream(None, max_buffer_size=max_buffer_size)
        stream.socket = sock
        stream._attach(_FdTransport(stream, sock))
        return stream
