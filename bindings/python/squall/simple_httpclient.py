"""``squall.simple_httpclient``: the name Tornado gives its own HTTP client.

squall has one client (HTTP/1.1 and TLS in Rust, ``sq_fetch``), so
``SimpleAsyncHTTPClient`` is ``squall.httpclient.AsyncHTTPClient`` under
Tornado's name; code that configures or makes it by that name gets squall's.
"""
from __future__ import annotations

from .httpclient import AsyncHTTPClient, HTTPStreamClosedError, HTTPTimeoutError

__all__ = ["SimpleAsyncHTTPClient", "HTTPTimeoutError", "HTTPStreamClosedError"]


class SimpleAsyncHTTPClient(AsyncHTTPClient):
    """squall's ``AsyncHTTPClient`` (Tornado's ``max_clients``,
    ``max_buffer_size`` and ``defaults`` are accepted)."""
