"""``IOLoop``: squall's event loop driven from an asyncio event loop.

One thread runs asyncio; squall's loop is embedded in it the way
``sq_loop_fd`` is meant for: its descriptor is registered with
``add_reader`` (level-triggered: readable while squall has work for the
host), an asyncio timer is armed for ``sq_loop_timeout_ms`` (squall's own
timers and deadlines), and each wake-up calls ``sq_loop_poll(loop, 0)``, which
runs squall's callbacks (requests, WebSocket events, fetch results) on this
thread. So ``async def`` handlers, ``await asyncio.sleep`` and any other
asyncio library share one thread with squall, while squall's reactor threads
do the socket I/O (``io_threads``, default 1; 0 puts the reactor on this
thread too).
"""
from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import datetime
import functools
import inspect
import logging
import math
import os
import threading
import time
import weakref
from typing import Any, Awaitable, Callable, Optional, TypeVar, Union, overload

from . import _ffi
from ._ffi import b, c_callback, lib

__all__ = ["IOLoop", "PeriodicCallback", "TimeoutError", "install_log_bridge"]

app_log = logging.getLogger("squall.application")
gen_log = logging.getLogger("squall.general")

_T = TypeVar("_T")
TimeoutError = asyncio.TimeoutError

# Callbacks handed to sq_loop_add_callback from other threads, by id. A dict
# and an itertools counter are safe to use from several threads under the
# GIL (each operation is atomic), so no lock is needed.
_pending: dict[int, tuple["IOLoop", Callable[[], Any]]] = {}
_next_id = iter(range(1, 1 << 62)).__next__


@c_callback(b.sq_callback)
def _run_added(ud: int) -> None:
    entry = _pending.pop(ud, None)
    if entry is not None:
        entry[0]._run_callback(entry[1])


# The library's INFO records (listening on ..., shutting down) are logged at
# DEBUG: a Tornado server says nothing at INFO about its own life cycle, and
# a ported application (or test suite asserting that nothing was logged)
# must not start seeing lines it never saw.
_LEVELS = {b.SQ_LOG_ERROR: logging.ERROR, b.SQ_LOG_WARN: logging.WARNING, b.SQ_LOG_INFO: logging.DEBUG,
           b.SQ_LOG_DEBUG: logging.DEBUG, b.SQ_LOG_TRACE: 5}
_log_installed = False


# ... except the server's refusals of malformed requests (target
# squall::http::refused: "Malformed HTTP message from <ip>: <why>"), which
# are INFO as Tornado's server logs them.
_REFUSED = b"squall::http::refused"


@c_callback(b.sq_log_callback)
def _log_record(ud: int, level: int, target: int, message: int) -> None:
    # May run on a reactor thread: keep it short and never raise into C.
    try:
        from ctypes import string_at
        tgt = string_at(target)
        py = logging.INFO if level == b.SQ_LOG_INFO and tgt == _REFUSED else _LEVELS.get(level, logging.INFO)
        gen_log.log(py, "%s [%s]", string_at(message).decode("utf-8", "replace"), tgt.decode("utf-8", "replace"))
    except Exception:  # pragma: no cover - logging itself failed
        pass


def install_log_bridge(level: Optional[int] = None) -> None:
    """Sends squall's own log records to the ``squall.general`` logger, at the
    level that logger has now (or ``level``, a ``logging`` level). Done once
    automatically when the first loop starts; call again after changing the
    logger's level."""
    global _log_installed
    if not _log_installed:
        atexit.register(_log_bridge_off)
    _log_installed = True
    py = level if level is not None else gen_log.getEffectiveLevel()
    if py <= 5:
        sq = b.SQ_LOG_TRACE
    elif py <= logging.DEBUG:
        sq = b.SQ_LOG_DEBUG
    elif py <= logging.INFO:
        sq = b.SQ_LOG_INFO  # the refusals; the library's own INFO records are DEBUG here
    elif py <= logging.WARNING:
        sq = b.SQ_LOG_WARN
    elif py <= logging.ERROR:
        sq = b.SQ_LOG_ERROR
    else:
        sq = b.SQ_LOG_OFF
    lib.sq_log_set_callback(sq, _log_record if sq != b.SQ_LOG_OFF else b.sq_log_callback(), 0)


def _log_bridge_off() -> None:
    # At interpreter exit: a reactor thread must not call into a Python that
    # is finalizing (taking the GIL then ends the thread from under Rust).
    try:
        lib.sq_log_set_callback(b.SQ_LOG_OFF, b.sq_log_callback(), 0)
    except Exception:  # pragma: no cover
        pass


def _default_io_threads() -> int:
    env = os.environ.get("SQUALL_IO_THREADS")
    if env:
        try:
            return max(0, int(env))
        except ValueError:
            gen_log.warning("SQUALL_IO_THREADS=%r is not a number; using 1", env)
    return 1


def _thread_event_loop() -> Optional[asyncio.AbstractEventLoop]:
    """The event loop set for this thread, or None; unlike the policy's
    get_event_loop(), never makes one."""
    policy = asyncio.get_event_loop_policy()
    local = getattr(policy, "_local", None)
    if local is not None and hasattr(local, "_loop"):
        loop: Optional[asyncio.AbstractEventLoop] = local._loop
        return loop
    try:
        return policy.get_event_loop()
    except RuntimeError:
        return None


class IOLoop:
    """Tornado's IOLoop, on asyncio, with squall's loop inside.

    ``IOLoop.current()`` returns the IOLoop of the current asyncio event loop
    (creating both if needed). The squall loop itself (its threads and
    descriptors) starts only when something needs it: a server, a fetch, a
    WebSocket connection.
    """

    _instances: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, IOLoop]" = weakref.WeakKeyDictionary()
    _by_asyncio: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, IOLoop]" = weakref.WeakKeyDictionary()
    _started_any = False
    _configured: Optional[type] = None
    _configured_kwargs: dict[str, Any] = {}

    # Tornado's event masks for add_handler (the same values).
    NONE = 0
    READ = 0x001
    WRITE = 0x004
    ERROR = 0x018

    def __new__(cls, *args: Any, **kwargs: Any) -> "IOLoop":
        # IOLoop.configure(impl): IOLoop() makes the configured class, as
        # Tornado's Configurable does.
        impl = cls._configured if cls is IOLoop else None
        if impl is not None and impl is not cls:
            kwargs = {**IOLoop._configured_kwargs, **kwargs}
            obj: IOLoop = impl(*args, **kwargs)
            return obj
        return super().__new__(cls)

    @classmethod
    def configure(cls, impl: Any, **kwargs: Any) -> None:
        """Chooses the class ``IOLoop()`` makes (a subclass of squall's
        IOLoop, or its dotted name) and default keyword arguments for it;
        ``None`` restores the default."""
        if isinstance(impl, str):
            import importlib
            mod, _, name = impl.rpartition(".")
            impl = getattr(importlib.import_module(mod), name)
        if impl is not None and not (isinstance(impl, type) and issubclass(impl, IOLoop)):
            raise ValueError(f"Invalid subclass of {cls!r}")
        IOLoop._configured = impl
        IOLoop._configured_kwargs = dict(kwargs)

    @classmethod
    def configured_class(cls) -> type:
        return IOLoop._configured or IOLoop

    @staticmethod
    def instance() -> "IOLoop":
        """Deprecated alias of ``IOLoop.current()`` (as in Tornado 6)."""
        loop = IOLoop.current()
        assert loop is not None
        return loop

    # --- construction -------------------------------------------------------

    def __init__(self, asyncio_loop: Optional[asyncio.AbstractEventLoop] = None,
                 io_threads: Optional[int] = None, make_current: bool = True) -> None:
        if getattr(self, "asyncio_loop", None) is not None:
            return  # made by __new__ through configure(): already initialised
        if asyncio_loop is None:
            asyncio_loop = asyncio.new_event_loop()
        elif IOLoop._by_asyncio.get(asyncio_loop) is not None:
            # one IOLoop per asyncio loop, as Tornado (two would each embed a squall loop)
            raise RuntimeError("an IOLoop already exists for this asyncio event loop")
        IOLoop._by_asyncio[asyncio_loop] = self
        self._handlers: dict[int, tuple[Any, Callable[..., Any], int]] = {}
        self.asyncio_loop = asyncio_loop
        self._io_threads = _default_io_threads() if io_threads is None else io_threads
        self._sq: Any = None  # POINTER(sq_loop) once made
        self._fd = -1
        self._timer: Optional[asyncio.TimerHandle] = None
        self._timer_due = math.inf
        self._soon = False
        self._thread_ident: Optional[int] = None
        self._closing = False
        self._lock = threading.Lock()
        self._servers: "weakref.WeakSet[Any]" = weakref.WeakSet()
        self._is_current = False
        self._old_asyncio: Optional[asyncio.AbstractEventLoop] = None
        if make_current:
            self._make_current()

    # As Tornado: current() always gives a loop (making one if need be);
    # only current(instance=False) may give None.
    @overload
    @classmethod
    def current(cls) -> "IOLoop": ...

    @overload
    @classmethod
    def current(cls, instance: bool = True) -> Optional["IOLoop"]: ...

    @classmethod
    def current(cls, instance: bool = True) -> Optional["IOLoop"]:
        try:
            aio = asyncio.get_running_loop()
        except RuntimeError:
            if not instance:
                return None
            aio = asyncio.get_event_loop_policy().get_event_loop()
        loop = cls._instances.get(aio)
        if loop is None:
            # the asyncio loop's IOLoop, made current or not (as Tornado's map)
            loop = IOLoop._by_asyncio.get(aio)
        if loop is None and instance:
            # the IOLoop of an asyncio loop that is already this thread's
            # (Tornado's AsyncIOMainLoop): current, with nothing to set
            loop = cls(aio, make_current=False)
            IOLoop._instances[aio] = loop
        return loop

    def make_current(self) -> None:
        """Makes this the thread's IOLoop and its asyncio loop the thread's
        event loop (the one it replaces comes back at ``close()``)."""
        self._make_current()

    def _make_current(self) -> None:
        if not self._is_current:
            self._old_asyncio = _thread_event_loop()
            if self._old_asyncio is self.asyncio_loop:
                self._old_asyncio = None
            self._is_current = True
        IOLoop._instances[self.asyncio_loop] = self
        asyncio.set_event_loop(self.asyncio_loop)

    def _clear_current_hook(self) -> None:
        # As Tornado's AsyncIOLoop: the event loop this one replaced is the
        # thread's again (None if it has been closed since).
        if not self._is_current:
            return
        self._is_current = False
        old, self._old_asyncio = self._old_asyncio, None
        if _thread_event_loop() is self.asyncio_loop:
            asyncio.set_event_loop(old if old is not None and not old.is_closed() else None)

    @classmethod
    def clear_current(cls) -> None:
        aio = _thread_event_loop()
        if aio is None:
            return
        loop = cls._instances.pop(aio, None)
        if loop is not None:
            loop._clear_current_hook()

    @classmethod
    def initialized(cls) -> bool:
        """True once a squall loop has started in this process (so ``fork()``
        may no longer be used: the child would inherit a started loop)."""
        return cls._started_any

    # --- the squall loop inside ---------------------------------------------

    def _loop_ptr(self) -> Any:
        """The ``sq_loop *``, made on first use (no thread, no fd yet)."""
        if self._sq is None:
            if self._closing:
                raise RuntimeError("IOLoop is closed")
            if not _log_installed:
                install_log_bridge()
            ptr = lib.sq_loop_new()
            if not ptr:
                raise _ffi.SquallError(b.SQ_ERR_PANIC)
            _ffi.check(lib.sq_loop_set_io_threads(ptr, self._io_threads))
            self._sq = ptr
            self._attach_later()
        return self._sq

    def _attach_later(self) -> None:
        # Attaching creates descriptors: done on the loop's thread, from the
        # asyncio loop, so that making a server before fork() stays possible.
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.asyncio_loop:
            self._attach()
        else:
            self.asyncio_loop.call_soon_threadsafe(self._attach)

    def _attach(self) -> None:
        if self._fd >= 0 or self._sq is None or self._closing:
            return
        fd = lib.sq_loop_fd(self._sq)
        if fd < 0:
            raise _ffi.SquallError(fd)
        IOLoop._started_any = True
        self._fd = fd
        self._thread_ident = threading.get_ident()
        self.asyncio_loop.add_reader(fd, self._on_ready)
        self._poll()

    def _on_ready(self) -> None:
        self._soon = False
        self._poll()

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_due = math.inf
        self._poll()

    def _poll(self) -> None:
        sq = self._sq
        if sq is None:
            return
        st = lib.sq_loop_poll(sq, 0)
        if st < 0 and st != b.SQ_ERR_REENTRANT:
            gen_log.error("sq_loop_poll failed: %s", _ffi.SquallError(st))
        self._arm()

    def _arm(self) -> None:
        sq = self._sq
        if sq is None:
            return
        ms = lib.sq_loop_timeout_ms(sq)
        if ms == 0:
            if not self._soon:
                self._soon = True
                self.asyncio_loop.call_soon(self._on_ready)
            return
        if ms < 0:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
                self._timer_due = math.inf
            return
        due = self.asyncio_loop.time() + ms / 1000.0
        if self._timer is not None:
            if abs(self._timer_due - due) < 0.0005:
                return
            self._timer.cancel()
        self._timer_due = due
        self._timer = self.asyncio_loop.call_at(due, self._on_timer)

    # --- running ------------------------------------------------------------

    def start(self) -> None:
        """Runs until ``stop()``."""
        self.make_current()
        if self._sq is not None and self._fd < 0:
            self.asyncio_loop.call_soon(self._attach)
        self.asyncio_loop.run_forever()

    def stop(self) -> None:
        """Stops ``start()`` (may be called from any thread)."""
        self.asyncio_loop.call_soon_threadsafe(self.asyncio_loop.stop)

    def run_sync(self, func: Callable[[], Any], timeout: Optional[float] = None) -> Any:
        """Runs ``func`` (a plain function or a coroutine function) to
        completion and returns its result, raising ``TimeoutError`` after
        ``timeout`` seconds."""
        self.make_current()

        async def main() -> Any:
            r = func()
            if r is not None and not (asyncio.iscoroutine(r) or isinstance(r, asyncio.Future)):
                # as Tornado: anything else a coroutine may yield (a list or
                # dict of futures, a concurrent future, an awaitable) or
                # BadYieldError for what is none of these (run_sync(lambda: 42))
                from .gen import convert_yielded
                r = convert_yielded(r)
            if r is not None:
                if timeout is not None:
                    return await asyncio.wait_for(r, timeout)
                return await r
            return r

        if self._sq is not None and self._fd < 0:
            self.asyncio_loop.call_soon(self._attach)
        return self.asyncio_loop.run_until_complete(main())

    def close(self, all_fds: bool = False) -> None:
        """Frees the squall loop (servers made on it first) and closes the
        asyncio loop. Call it from the loop's thread, not from a callback."""
        if self._closing:
            return
        self._closing = True
        for num, (obj, _h, _ev) in list(getattr(self, "_handlers", {}).items()):
            self.remove_handler(num)
            if all_fds:
                try:
                    if isinstance(obj, int):
                        os.close(obj)
                    else:
                        obj.close()
                except OSError:
                    pass
        for server in list(self._servers):
            try:
                server._free()
            except Exception:  # pragma: no cover
                gen_log.exception("freeing a server")
        if self._fd >= 0:
            try:
                self.asyncio_loop.remove_reader(self._fd)
            except Exception:
                pass
            self._fd = -1
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        with self._lock:
            if self._sq is not None:
                lib.sq_loop_free(self._sq)
                self._sq = None
        IOLoop._instances.pop(self.asyncio_loop, None)
        self._clear_current_hook()
        if IOLoop._by_asyncio.get(self.asyncio_loop) is self:
            del IOLoop._by_asyncio[self.asyncio_loop]
        if not self.asyncio_loop.is_running():
            self.asyncio_loop.close()

    # --- callbacks and timers -------------------------------------------------

    def _run_callback(self, callback: Callable[[], Any]) -> None:
        try:
            r = callback()
            if r is not None and (asyncio.iscoroutine(r) or isinstance(r, asyncio.Future)):
                fut = asyncio.ensure_future(r)
                fut.add_done_callback(self._discard_future_result)
        except Exception:
            app_log.error("Exception in callback %r", callback, exc_info=True)

    def _discard_future_result(self, fut: "asyncio.Future[Any]") -> None:
        if not fut.cancelled() and fut.exception() is not None:
            app_log.error("Exception in callback", exc_info=fut.exception())

    def add_callback(self, callback: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Runs ``callback`` on the loop's thread at its next iteration. Safe to
        call from any thread: from another thread the callback travels through
        ``sq_loop_add_callback`` (FIFO per calling thread)."""
        fn = functools.partial(callback, *args, **kwargs) if (args or kwargs) else callback
        if threading.get_ident() == self._thread_ident:
            self.asyncio_loop.call_soon(self._run_callback, fn)
            return
        with self._lock:  # close() frees the loop under this lock
            sq = self._sq
            if sq is not None and self._fd >= 0 and not self._closing:
                key = _next_id()
                _pending[key] = (self, fn)
                if lib.sq_loop_add_callback(sq, _run_added, key) >= 0:
                    return
                _pending.pop(key, None)
        # not attached yet (or refused): asyncio's own thread-safe queue
        try:
            self.asyncio_loop.call_soon_threadsafe(self._run_callback, fn)
        except RuntimeError:
            # "Event loop is closed": a callback racing with close() on
            # another thread is dropped silently, as Tornado does (a
            # callback added without error may still never run)
            pass

    def add_callback_from_signal(self, callback: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        try:
            self.asyncio_loop.call_soon_threadsafe(functools.partial(self._run_callback, functools.partial(callback, *args, **kwargs)))
        except RuntimeError:
            pass  # the loop is closed (see add_callback)

    def spawn_callback(self, callback: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.add_callback(callback, *args, **kwargs)

    def time(self) -> float:
        """The loop's clock (monotonic seconds), as used by ``call_at``."""
        return self.asyncio_loop.time()

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any, **kwargs: Any) -> asyncio.TimerHandle:
        return self.call_at(self.time() + delay, callback, *args, **kwargs)

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any, **kwargs: Any) -> asyncio.TimerHandle:
        fn = functools.partial(callback, *args, **kwargs) if (args or kwargs) else callback
        return self.asyncio_loop.call_at(max(when, 0.0), self._run_callback, fn)

    def add_timeout(self, deadline: Union[float, datetime.timedelta], callback: Callable[..., Any], *args: Any, **kwargs: Any) -> asyncio.TimerHandle:
        if isinstance(deadline, datetime.timedelta):
            return self.call_later(deadline.total_seconds(), callback, *args, **kwargs)
        return self.call_at(deadline, callback, *args, **kwargs)

    def remove_timeout(self, timeout: asyncio.TimerHandle) -> None:
        timeout.cancel()

    def add_future(self, future: "Awaitable[Any]", callback: Callable[[Any], Any]) -> None:
        """Calls ``callback(future)`` on this loop once ``future`` (asyncio's,
        ``concurrent.futures``' from any thread, or any awaitable) is done."""
        if isinstance(future, concurrent.futures.Future):
            future.add_done_callback(lambda f: self.add_callback(callback, f))
            return
        fut = asyncio.ensure_future(future)
        fut.add_done_callback(lambda f: self.add_callback(callback, f))

    def run_in_executor(self, executor: Optional[concurrent.futures.Executor], func: Callable[..., _T], *args: Any) -> "asyncio.Future[_T]":
        return self.asyncio_loop.run_in_executor(executor, func, *args)

    def set_default_executor(self, executor: concurrent.futures.Executor) -> None:
        self.asyncio_loop.set_default_executor(executor)

    # --- file descriptors of the application's own (Tornado's add_handler) ----

    @staticmethod
    def _split_fd(fd: Any) -> tuple[int, Any]:
        return (fd, fd) if isinstance(fd, int) else (fd.fileno(), fd)

    def add_handler(self, fd: Any, handler: Callable[[Any, int], Any], events: int) -> None:
        """Calls ``handler(fd, events)`` when ``fd`` (an int or an object with
        ``fileno()``) is ready, through asyncio's ``add_reader``/``add_writer``
        on this loop (never through a Tornado IOLoop)."""
        num, obj = self._split_fd(fd)
        if num in self._handlers:
            raise ValueError(f"fd {num} added twice")
        self._handlers[num] = (obj, handler, 0)
        self.update_handler(fd, events)

    def update_handler(self, fd: Any, events: int) -> None:
        num, _ = self._split_fd(fd)
        obj, handler, old = self._handlers[num]
        if old & IOLoop.READ and not events & IOLoop.READ:
            self.asyncio_loop.remove_reader(num)
        if old & IOLoop.WRITE and not events & IOLoop.WRITE:
            self.asyncio_loop.remove_writer(num)
        if events & IOLoop.READ and not old & IOLoop.READ:
            self.asyncio_loop.add_reader(num, self._handle_events, num, IOLoop.READ)
        if events & IOLoop.WRITE and not old & IOLoop.WRITE:
            self.asyncio_loop.add_writer(num, self._handle_events, num, IOLoop.WRITE)
        self._handlers[num] = (obj, handler, events & (IOLoop.READ | IOLoop.WRITE))

    def remove_handler(self, fd: Any) -> None:
        num, _ = self._split_fd(fd)
        entry = self._handlers.pop(num, None)
        if entry is None:
            return
        if entry[2] & IOLoop.READ:
            self.asyncio_loop.remove_reader(num)
        if entry[2] & IOLoop.WRITE:
            self.asyncio_loop.remove_writer(num)

    def _handle_events(self, num: int, events: int) -> None:
        entry = self._handlers.get(num)
        if entry is None:
            return
        self._run_callback(functools.partial(entry[1], entry[0], events))


class PeriodicCallback:
    """Calls ``callback`` every ``callback_time`` milliseconds (with optional
    ``jitter``, a fraction of the interval), skipping beats that were missed,
    as Tornado's."""

    def __init__(self, callback: Callable[[], Any], callback_time: Union[float, datetime.timedelta], jitter: float = 0) -> None:
        if isinstance(callback_time, datetime.timedelta):
            callback_time = callback_time.total_seconds() * 1000.0
        if callback_time <= 0:
            raise ValueError("Periodic callback must have a positive callback_time")
        self.callback = callback
        self.callback_time = float(callback_time)
        self.jitter = jitter
        self._running = False
        self._timeout: Optional[asyncio.TimerHandle] = None
        self.io_loop: Optional[IOLoop] = None
        self._next = 0.0

    def start(self) -> None:
        self.io_loop = IOLoop.current()
        self._running = True
        self._next = self.io_loop.time()
        self._schedule_next()

    def stop(self) -> None:
        self._running = False
        if self._timeout is not None:
            self._timeout.cancel()
            self._timeout = None

    def is_running(self) -> bool:
        return self._running

    def _run(self) -> None:
        if not self._running:
            return
        try:
            r = self.callback()
            if r is not None and inspect.isawaitable(r):
                # as Tornado: the next call is scheduled once this one is done
                fut = asyncio.ensure_future(r)
                fut.add_done_callback(self._awaited)
                return
        except Exception:
            app_log.error("Exception in callback %r", self.callback, exc_info=True)
        self._schedule_next()

    def _awaited(self, fut: "asyncio.Future[Any]") -> None:
        if not fut.cancelled() and fut.exception() is not None:
            exc = fut.exception()
            assert exc is not None
            app_log.error("Exception in callback %r", self.callback, exc_info=(type(exc), exc, exc.__traceback__))
        self._schedule_next()

    def _schedule_next(self) -> None:
        if not self._running or self.io_loop is None:
            return
        now = self.io_loop.time()
        period = self.callback_time / 1000.0
        if self.jitter:
            import random
            period *= 1 + self.jitter * (random.random() - 0.5)
        if self._next <= now:
            self._next += (math.floor((now - self._next) / period) + 1) * period
        self._timeout = self.io_loop.call_at(self._next, self._run)
