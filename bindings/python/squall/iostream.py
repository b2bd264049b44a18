"""``squall.iostream``: what a handler meets of Tornado's ``tornado.iostream``.

squall's sockets live in Rust, so there is no ``IOStream`` here; this module
holds ``StreamClosedError``, which ``RequestHandler.flush()`` raises (through
the awaitable it returns) once the client has gone, so that a streaming loop
ported from Tornado (``except StreamClosedError: break``) ends as it did.
"""
from __future__ import annotations

from typing import Optional

__all__ = ["StreamClosedError"]


class StreamClosedError(IOError):
    """The connection was closed. ``real_error`` is the exception that
    closed it, when there was one."""

    def __init__(self, real_error: Optional[BaseException] = None) -> None:
        super().__init__("Stream is closed")
        self.real_error = real_error
