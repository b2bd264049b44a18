"""``squall.iostream``: what a handler meets of Tornado's ``tornado.iostream``.

``StreamClosedError`` is what ``RequestHandler.flush()`` raises (through the
awaitable it returns) once the client has gone, so that a streaming loop
ported from Tornado (``except StreamClosedError: break``) ends as it did.

``IOStream`` and its relatives are not built yet (issue 17: an ``IOStream``
over squall's TCP streams, ``sq_tcp_*``). Their names exist so that code
importing them loads; making one raises ``NotImplementedError`` saying so,
rather than handing out an object that does nothing.
"""
from __future__ import annotations

from typing import Any, Optional

__all__ = ["StreamClosedError", "UnsatisfiableReadError", "StreamBufferFullError", "BaseIOStream",
           "IOStream", "SSLIOStream", "PipeIOStream"]


class StreamClosedError(IOError):
    """The connection was closed. ``real_error`` is the exception that
    closed it, when there was one."""

    def __init__(self, real_error: Optional[BaseException] = None) -> None:
        super().__init__("Stream is closed")
        self.real_error = real_error


class UnsatisfiableReadError(Exception):
    """A read cannot be satisfied (e.g. ``read_until`` with a ``max_bytes``
    that the delimiter did not arrive within)."""


class StreamBufferFullError(Exception):
    """More data was buffered than ``max_buffer_size``."""


class BaseIOStream:
    """Not yet in squall (issue 17): see the module's text."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(f"squall.iostream.{type(self).__name__} is not built yet "
                                  "(issue 17: IOStream over squall's TCP streams)")


class IOStream(BaseIOStream):
    pass


class SSLIOStream(IOStream):
    pass


class PipeIOStream(BaseIOStream):
    pass
