"""``squall.http1connection``: the names of Tornado's module, for code that
imports them.

squall's HTTP/1.1 connections (server and client) live in Rust
(src/http/), so there is no Python connection object to build:
``HTTP1Connection`` and ``HTTP1ServerConnection`` raise
``NotImplementedError`` when made. ``HTTP1ConnectionParameters`` holds the
same settings as Tornado's (``HTTPServer`` takes them as keyword arguments).
The ``request.connection`` of a request served to an
``HTTPServerConnectionDelegate`` or a ``request_callback`` (Tornado's
``HTTPConnection`` interface over squall's response path) is
``squall._delegate.RequestConnection``.
``_MAX_1XX_RESPONSES`` is the number of interim (1xx) responses squall's
client skips before it gives up (``MAX_INTERIM`` in
src/http/client/response.rs).
"""
from __future__ import annotations

from typing import Any, Optional

__all__ = ["HTTP1ConnectionParameters", "HTTP1Connection", "HTTP1ServerConnection"]

_MAX_1XX_RESPONSES = 32


class HTTP1ConnectionParameters:
    """Settings of an HTTP/1.1 connection (Tornado's names)."""

    def __init__(self, no_keep_alive: bool = False, chunk_size: Optional[int] = None,
                 max_header_size: Optional[int] = None, header_timeout: Optional[float] = None,
                 max_body_size: Optional[int] = None, body_timeout: Optional[float] = None,
                 decompress: bool = False) -> None:
        self.no_keep_alive = no_keep_alive
        self.chunk_size = chunk_size or 65536
        self.max_header_size = max_header_size or 65536
        self.header_timeout = header_timeout
        self.max_body_size = max_body_size
        self.body_timeout = body_timeout
        self.decompress = decompress


class HTTP1Connection:
    """Not in squall: its HTTP/1.1 connections are in Rust."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(f"squall.http1connection.{type(self).__name__}: squall's HTTP/1.1 "
                                  "connections are in Rust; there is no Python connection object")


class HTTP1ServerConnection(HTTP1Connection):
    pass
