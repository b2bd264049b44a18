"""``squall.platform.asyncio``: Tornado's asyncio IOLoop classes on squall.

squall's IOLoop is always on asyncio, so ``AsyncIOMainLoop`` (the IOLoop of
the asyncio loop of this thread) and ``AsyncIOLoop`` (an IOLoop with a new
asyncio loop of its own) are the same class with two ways to get the asyncio
loop.
"""
from __future__ import annotations

import asyncio
from typing import Any

from ..ioloop import IOLoop

__all__ = ["AsyncIOMainLoop", "AsyncIOLoop", "BaseAsyncIOLoop", "AddThreadSelectorEventLoop", "to_asyncio_future",
           "to_tornado_future"]


class BaseAsyncIOLoop(IOLoop):
    pass


class AsyncIOMainLoop(BaseAsyncIOLoop):
    """The IOLoop of this thread's asyncio event loop."""

    def __init__(self, **kwargs: Any) -> None:
        try:
            aio = asyncio.get_running_loop()
        except RuntimeError:
            aio = asyncio.get_event_loop_policy().get_event_loop()
        super().__init__(asyncio_loop=aio, **kwargs)


class AsyncIOLoop(BaseAsyncIOLoop):
    """An IOLoop on a new asyncio event loop (or the one given)."""


def to_asyncio_future(future: Any) -> "asyncio.Future[Any]":
    return asyncio.ensure_future(future)


def to_tornado_future(future: Any) -> "asyncio.Future[Any]":
    return asyncio.ensure_future(future)


class AddThreadSelectorEventLoop(asyncio.AbstractEventLoop):
    """Tornado's wrapper giving a Windows proactor loop ``add_reader``. squall
    runs on Linux only, where every asyncio loop has it: no squall loop is
    ever one of these, and making one raises ``NotImplementedError`` (the
    name exists for code that tests ``isinstance`` against it)."""

    def __init__(self, real_loop: asyncio.AbstractEventLoop) -> None:
        raise NotImplementedError("AddThreadSelectorEventLoop is for Windows; squall runs on Linux only")
