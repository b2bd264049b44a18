"""``squall.iostream``: Tornado's ``IOStream`` over squall's raw TCP streams.

An ``IOStream`` is a byte stream with Tornado's reading and writing API
(``read_bytes``, ``read_until``, ``read_until_regex``, ``read_until_close``,
``read_into``, ``write`` returning a Future, close callbacks). Its buffering
and read logic are Python; its socket is one of two transports:

- **squall's own TCP streams** (``sq_tcp_*``): every stream that
  ``TCPServer`` accepts, that ``TCPClient.connect`` opens, and that
  ``IOStream(socket.socket()).connect((host, port))`` opens. The socket I/O
  runs on squall's reactor threads; its callbacks (``on_data``, ``on_end``,
  ``on_drain``, ``on_close``) arrive on the IOLoop's thread inside
  ``sq_loop_poll`` and feed the stream. The unconnected Python socket given
  to ``IOStream()`` is only a placeholder then: ``connect`` closes it and
  connects through ``sq_tcp_connect`` (``stream.socket`` is ``None`` after).
- **an already connected socket or a pipe** the program made itself
  (``IOStream(conn)`` with a socket from ``accept()``/``socketpair()``,
  ``PipeIOStream(fd)``): squall's C ABI cannot adopt a descriptor, so these
  are read and written with non-blocking system calls when asyncio's
  ``add_reader``/``add_writer`` on the IOLoop's asyncio loop say they are
  ready (never through a Tornado IOLoop).

Back-pressure: input is buffered up to ``max_buffer_size`` (100 MB by
default, as Tornado); past it reading pauses (``sq_tcp_pause_reading``) until
reads have taken the buffer below half of it. A pending read that could only
be satisfied by buffering more than ``max_buffer_size`` fails: the stream
closes with ``StreamBufferFullError``. Output goes to squall's buffer until it
reports back-pressure (``SQ_BACKPRESSURE``, above 256 KiB); the rest waits
here (``max_write_buffer_size`` bounds it) and goes out on ``on_drain``. A
``write`` Future resolves once its bytes are in squall's buffer below its
high-water mark.

TLS: ``SSLIOStream``, ``IOStream.start_tls`` and ``TCPClient.connect(
ssl_options=...)`` run Python's ``ssl`` (an ``SSLObject`` on memory buffers)
between the stream and its transport: squall carries the ciphertext. (squall's
own TLS, in Rust, serves ``TCPServer(ssl_options=...)``; its raw TCP connect
has no client TLS.)
"""
from __future__ import annotations

import asyncio
import collections
import ctypes
import errno
import logging
import numbers
import os
import re
import socket
import ssl
import sys
from typing import Any, Callable, Optional, Union

from . import _ffi
from ._ffi import b, c_callback, lib
from ._slab import Slab

__all__ = ["StreamClosedError", "UnsatisfiableReadError", "StreamBufferFullError", "BaseIOStream",
           "IOStream", "SSLIOStream", "PipeIOStream"]

gen_log = logging.getLogger("squall.general")
app_log = logging.getLogger("squall.application")

_DEFAULT_MAX_BUFFER = 104857600
_WRITE_CHUNK = 256 * 1024
_ERRNO_CONNRESET = (errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE, errno.ETIMEDOUT)


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


def _is_connreset(exc: Optional[BaseException]) -> bool:
    return isinstance(exc, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)) or (
        isinstance(exc, OSError) and exc.errno in _ERRNO_CONNRESET)


# --- transports ---------------------------------------------------------------

class _Transport:
    """What a stream asks of its socket. ``write`` returns True while more
    may be written at once, False once the transport wants ``on_drain``.
    ``stream`` is what its events go to (a stream, or a TLS layer)."""

    stream: Any = None

    def write(self, data: Any) -> bool:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        self.close()

    def pause(self) -> None:
        pass

    def resume(self) -> None:
        pass

    def set_nodelay(self, value: bool) -> None:
        pass

    def buffered(self) -> int:
        return 0

    def fileno(self) -> Any:
        return None


# sq_tcp streams by userdata (an integer: C never holds a Python pointer).
_streams = Slab()


def _status_error(status: int, what: str) -> OSError:
    msg = (lib.sq_last_error() or b"").decode("utf-8", "replace")
    name = lib.sq_status_str(status).decode()
    text = f"{what}: {name}" + (f": {msg}" if msg else "")
    low = msg.lower()
    if status == b.SQ_ERR_RESOLVE:
        return socket.gaierror(socket.EAI_NONAME, text)
    if status == b.SQ_ERR_TIMEOUT:
        return TimeoutError(errno.ETIMEDOUT, text)
    if "refused" in low or status == b.SQ_ERR_CONNECT and "unreachable" not in low:
        return ConnectionRefusedError(errno.ECONNREFUSED, text)
    if "reset" in low:
        return ConnectionResetError(errno.ECONNRESET, text)
    if "broken pipe" in low:
        return BrokenPipeError(errno.EPIPE, text)
    return OSError(errno.EIO, text)


class _SqTransport(_Transport):
    """One ``sq_tcp`` stream. Its callbacks arrive on the IOLoop's thread."""

    def __init__(self, handle: int) -> None:
        self.handle = handle
        self.stream = None
        self.ud = _streams.put(self)
        self.closing = False
        self.blocked = False
        lib.sq_tcp_set_userdata(handle, self.ud)

    def write(self, data: Any) -> bool:
        if self.closing:
            raise StreamClosedError()
        n = len(data)
        st = lib.sq_tcp_write(self.handle, (ctypes.c_char * n).from_buffer(data), n)
        if st == b.SQ_BACKPRESSURE:
            self.blocked = True
            return False
        if st < 0:
            raise StreamClosedError(_status_error(st, "write"))
        return True

    def close(self) -> None:
        if not self.closing:
            self.closing = True
            lib.sq_tcp_close(self.handle)

    def abort(self) -> None:
        self.closing = True
        lib.sq_tcp_abort(self.handle)

    def pause(self) -> None:
        if not self.closing:
            lib.sq_tcp_pause_reading(self.handle)

    def resume(self) -> None:
        if not self.closing:
            lib.sq_tcp_resume_reading(self.handle)

    def buffered(self) -> int:
        return int(lib.sq_tcp_buffered_amount(self.handle)) if not self.closing else 0

    def set_nodelay(self, value: bool) -> None:
        # squall sets TCP_NODELAY on every stream (sq_tcp_options.nodelay):
        # the C ABI has no per-stream switch, so turning it off is not honoured.
        pass

    def address(self, peer: bool) -> tuple[str, int]:
        buf = ctypes.create_string_buffer(64)
        port = ctypes.c_uint16()
        st = lib.sq_tcp_address(self.handle, 1 if peer else 0, buf, 64, ctypes.byref(port))
        if st < 0:
            return ("", 0)
        return (buf.value.decode(), port.value)


def _guard(fn: Callable[..., None]) -> Callable[..., None]:
    def run(*args: Any) -> None:
        try:
            fn(*args)
        except Exception:  # never raise into C
            app_log.error("Exception in a stream callback", exc_info=True)
    return run


def _stream_of(ud: int) -> Optional["BaseIOStream"]:
    t = _streams.get(ud)
    return t.stream if isinstance(t, _SqTransport) else None


@c_callback(b.sq_tcp_callbacks._fields_[2][1])
@_guard
def _on_data(ud: int, handle: int, data: int, n: int) -> None:
    s = _stream_of(ud)
    if s is not None:
        s._on_input(ctypes.string_at(data, n))


@c_callback(b.sq_tcp_callbacks._fields_[3][1])
@_guard
def _on_end(ud: int, handle: int) -> None:
    s = _stream_of(ud)
    if s is not None:
        s._on_eof()


@c_callback(b.sq_tcp_callbacks._fields_[4][1])
@_guard
def _on_drain(ud: int, handle: int) -> None:
    t = _streams.get(ud)
    if isinstance(t, _SqTransport):
        t.blocked = False
        if t.stream is not None:
            t.stream._on_drain()


@c_callback(b.sq_tcp_callbacks._fields_[5][1])
@_guard
def _on_close(ud: int, handle: int, status: int) -> None:
    t = _streams.pop(ud)
    if isinstance(t, _SqTransport):
        was_closing = t.closing
        t.closing = True
        if t.stream is not None and not was_closing:
            err = None if status == b.SQ_OK else _status_error(status, "connection")
            t.stream._on_transport_closed(err)


@c_callback(b.sq_tcp_callbacks._fields_[1][1])
@_guard
def _on_connected(ud: int, handle: int, status: int) -> None:
    # a connect's outcome; ud is the pending connect's slab entry
    pending = _streams.pop(ud)
    if not isinstance(pending, _PendingConnect):
        if handle:
            lib.sq_tcp_abort(handle)
        return
    pending.done(handle, status)


class _PendingConnect:
    def __init__(self, fut: "asyncio.Future[_SqTransport]") -> None:
        self.fut = fut

    def done(self, handle: int, status: int) -> None:
        if status != b.SQ_OK or not handle:
            if not self.fut.done():
                self.fut.set_exception(_status_error(status, "connect"))
            return
        t = _SqTransport(handle)
        if self.fut.done():  # cancelled meanwhile
            t.abort()
            return
        self.fut.set_result(t)


def _callbacks(with_connect: Any) -> Any:
    cb = b.sq_tcp_callbacks()
    cb.size = ctypes.sizeof(b.sq_tcp_callbacks)
    cb.on_connect = with_connect
    cb.on_data = _on_data
    cb.on_end = _on_end
    cb.on_drain = _on_drain
    cb.on_close = _on_close
    return cb


_CONNECT_CALLBACKS = _callbacks(_on_connected)


def tcp_options(connect_timeout: Optional[float] = None) -> Any:
    o = b.sq_tcp_options()
    _ffi.check(lib.sq_tcp_options_init(ctypes.byref(o), ctypes.sizeof(o)))
    if connect_timeout is not None:
        o.connect_timeout_ms = max(1, int(connect_timeout * 1000))
    else:
        o.connect_timeout_ms = 0  # the caller's own timeout (asyncio) rules
    return o


async def sq_connect(host: str, port: int, timeout: Optional[float] = None) -> _SqTransport:
    """Connects through ``sq_tcp_connect``; raises an ``OSError`` (refused:
    ``ConnectionRefusedError``, unresolved: ``socket.gaierror``)."""
    from .ioloop import IOLoop
    if not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError(f"port must be 1-65535, not {port!r}")
    loop = IOLoop.current()
    fut: asyncio.Future[_SqTransport] = asyncio.get_running_loop().create_future()
    pending = _PendingConnect(fut)
    ud = _streams.put(pending)
    opts = tcp_options(timeout)
    st = lib.sq_tcp_connect(loop._loop_ptr(), host.encode("idna") if not _is_ip(host) else host.encode(), port,
                            ctypes.byref(_CONNECT_CALLBACKS), ctypes.byref(opts), ud)
    if st < 0:
        _streams.pop(ud)
        raise _status_error(st, "connect")
    loop._arm()
    return await fut


def _is_ip(host: str) -> bool:
    for fam in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(fam, host)
            return True
        except (OSError, ValueError):
            pass
    return False


class _FdTransport(_Transport):
    """A socket or pipe descriptor the program made, read and written when
    asyncio says it is ready (squall cannot adopt a descriptor)."""

    def __init__(self, stream: "BaseIOStream", obj: Any, readable: bool = True) -> None:
        self.stream = stream
        self.obj = obj
        self.fd = obj if isinstance(obj, int) else obj.fileno()
        self.is_socket = isinstance(obj, socket.socket)
        os.set_blocking(self.fd, False)
        self.loop = asyncio.get_event_loop()
        self.out: collections.deque[bytes] = collections.deque()
        self.out_size = 0
        self.closed = False
        self.reading = False
        self.chunk = stream.read_chunk_size
        if readable:
            self.resume()

    def pause(self) -> None:
        if self.reading:
            self.reading = False
            self.loop.remove_reader(self.fd)

    def resume(self) -> None:
        if not self.reading and not self.closed:
            self.reading = True
            self.loop.add_reader(self.fd, self._readable)

    def _readable(self) -> None:
        try:
            if self.is_socket:
                data = self.obj.recv(self.chunk)
            else:
                data = os.read(self.fd, self.chunk)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self._fail(e)
            return
        if not data:
            self.pause()
            self.stream._on_eof()
            return
        self.stream._on_input(data)

    def _fail(self, e: OSError) -> None:
        if not self.closed:
            self.close()
            self.stream._on_transport_closed(e)

    def _send(self, data: Any) -> int:
        if self.is_socket:
            n: int = self.obj.send(data)
            return n
        return os.write(self.fd, data)

    def write(self, data: Any) -> bool:
        if self.closed:
            raise StreamClosedError()
        if not self.out:
            try:
                n = self._send(data)
            except (BlockingIOError, InterruptedError):
                n = 0
            except OSError as e:
                self._fail(e)
                raise StreamClosedError(e) from None
            if n == len(data):
                return True
            data = data[n:]
            self.loop.add_writer(self.fd, self._writable)
        self.out.append(bytes(data))
        self.out_size += len(data)
        return False

    def _writable(self) -> None:
        while self.out:
            data = self.out[0]
            try:
                n = self._send(data)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                self._fail(e)
                return
            self.out_size -= n
            if n < len(data):
                self.out[0] = data[n:]
                return
            self.out.popleft()
        self.loop.remove_writer(self.fd)
        self.stream._on_drain()

    def buffered(self) -> int:
        return self.out_size

    def close(self) -> None:
        if self.closed:
            return
        self.pause()
        self.closed = True
        if self.out:
            self.loop.remove_writer(self.fd)
            self.out.clear()
        try:
            if isinstance(self.obj, int):
                os.close(self.obj)
            else:
                self.obj.close()
        except OSError:
            pass

    def set_nodelay(self, value: bool) -> None:
        if self.is_socket and self.obj.family in (socket.AF_INET, socket.AF_INET6):
            try:
                self.obj.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1 if value else 0)
            except OSError as e:
                if e.errno != errno.EINVAL:
                    raise

    def fileno(self) -> Any:
        return self.obj


# --- the stream -----------------------------------------------------------------

class BaseIOStream:
    """Tornado's ``BaseIOStream``: reading and writing on a transport."""

    def __init__(self, max_buffer_size: Optional[int] = None, read_chunk_size: Optional[int] = None,
                 max_write_buffer_size: Optional[int] = None) -> None:
        from .ioloop import IOLoop
        self.io_loop = IOLoop.current()
        self.max_buffer_size = max_buffer_size or _DEFAULT_MAX_BUFFER
        self.read_chunk_size = min(read_chunk_size or 65536, self.max_buffer_size // 2)
        self.max_write_buffer_size = max_write_buffer_size
        self.error: Optional[BaseException] = None
        self._buf = bytearray()
        self._read_future: Optional[asyncio.Future[Any]] = None
        self._read_kind: Optional[str] = None
        self._read_arg: Any = None
        self._read_max: Optional[int] = None
        self._scanned = 0
        self._read_partial = False
        self._read_target: Optional[memoryview] = None
        self._into_filled = 0
        self._wq: collections.deque[bytearray] = collections.deque()
        self._wq_off = 0
        self._wq_size = 0
        # Tornado's name for the output not yet written (code holding a
        # reference to it keeps working); squall's is the queue above
        self._write_buffer = self._wq
        self._handed = 0
        self._queued = 0
        self._write_futures: collections.deque[tuple[int, asyncio.Future[None]]] = collections.deque()
        self._close_callback: Optional[Callable[[], None]] = None
        self._closed = False
        self._eof = False
        self._paused = False
        self._transport: Optional[_Transport] = None
        self._connecting = False
        self._connect_future: Optional[asyncio.Future[Any]] = None

    # -- what a transport calls ----------------------------------------------------

    def _attach(self, transport: _Transport) -> None:
        self._transport = transport
        if isinstance(transport, _SqTransport):
            transport.stream = self
        if self._wq:
            self._flush()

    def _on_input(self, data: bytes) -> None:
        if self._closed:
            return
        self._buf += data
        if len(self._buf) >= self.max_buffer_size and not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause()
        self._service_read()

    def _on_eof(self) -> None:
        self._eof = True
        self.close()

    def _on_drain(self) -> None:
        self._flush()

    def _on_transport_closed(self, err: Optional[BaseException]) -> None:
        if not self._closed:
            self.close(exc_info=err if err is not None else False)

    # -- reading -------------------------------------------------------------------

    def _start_read(self, kind: str) -> "asyncio.Future[Any]":
        if self._read_future is not None:
            # a second read while one is pending: Tornado's assertion
            raise AssertionError("Already reading")
        self._read_kind = kind
        fut: asyncio.Future[Any] = asyncio.get_event_loop().create_future()
        self._read_future = fut
        return fut

    def _try_read(self) -> None:
        """Serves the pending read from the buffer; on a closed stream, a
        read the buffer cannot serve raises ``StreamClosedError`` (as Tornado)."""
        try:
            self._service_read()
        except BaseException:
            # a bad argument (a str pattern for bytes...): the read is not pending
            fut = self._read_future
            self._clear_read()
            if fut is not None:
                fut.cancel()
            raise
        if self._read_future is not None and self._closed:
            fut = self._read_future
            self._clear_read()
            fut.cancel()
            raise StreamClosedError(real_error=self.error)

    def read_until_regex(self, regex: Union[bytes, "re.Pattern[bytes]"], max_bytes: Optional[int] = None) -> "asyncio.Future[bytes]":
        """Reads until ``regex`` matches; the result includes the match."""
        fut = self._start_read("regex")
        self._read_arg = re.compile(regex)
        self._read_max = max_bytes
        self._try_read()
        return fut

    def read_until(self, delimiter: bytes, max_bytes: Optional[int] = None) -> "asyncio.Future[bytes]":
        """Reads until ``delimiter``; the result includes it. With
        ``max_bytes``, a delimiter not found within that many bytes closes
        the stream (``UnsatisfiableReadError``)."""
        fut = self._start_read("until")
        self._read_arg = bytes(delimiter)
        self._read_max = max_bytes
        self._try_read()
        return fut

    def read_bytes(self, num_bytes: int, partial: bool = False) -> "asyncio.Future[bytes]":
        """Reads ``num_bytes`` bytes (with ``partial``, as soon as any are
        there, at most that many)."""
        if not isinstance(num_bytes, numbers.Integral) or num_bytes < 0:
            raise ValueError("num_bytes must be a non-negative integer")
        fut = self._start_read("bytes")
        self._read_arg = int(num_bytes)
        self._read_partial = partial
        self._try_read()
        return fut

    def read_into(self, buf: Any, partial: bool = False) -> "asyncio.Future[int]":
        """Fills ``buf`` (a writable buffer); resolves with the byte count
        (with ``partial``, as soon as any are there)."""
        fut = self._start_read("into")
        view = memoryview(buf).cast("B")
        self._read_target = view
        self._read_arg = len(view)
        self._into_filled = 0
        self._read_partial = partial
        self._try_read()
        return fut

    def read_until_close(self) -> "asyncio.Future[bytes]":
        """Reads everything until the peer closes."""
        fut = self._start_read("close")
        if self._closed:
            self._finish_read(len(self._buf))
            return fut
        self._try_read()
        return fut

    def _find(self) -> Optional[int]:
        """How many buffered bytes the pending read takes, or None."""
        kind, buf = self._read_kind, self._buf
        if kind == "into":
            return None  # served in _service_read
        if kind == "bytes":
            want: int = self._read_arg
            if self._read_partial and buf:
                return min(want, len(buf))
            return want if len(buf) >= want else None
        if kind == "until":
            # only the new bytes (and a delimiter's worth before them) are searched
            start = max(0, self._scanned - len(self._read_arg) + 1)
            loc = buf.find(self._read_arg, start)
            self._scanned = len(buf)
            if loc != -1:
                end = loc + len(self._read_arg)
                self._check_max(end)
                return end
            self._check_max(len(buf))
            return None
        if kind == "regex":
            m = self._read_arg.search(buf)
            if m is not None:
                matched: int = m.end()
                self._check_max(matched)
                return matched
            self._check_max(len(buf))
            return None
        return None  # close: only at the end

    def _check_max(self, size: int) -> None:
        if self._read_max is not None and size > self._read_max:
            raise UnsatisfiableReadError(f"delimiter {getattr(self._read_arg, 'pattern', self._read_arg)!r} "
                                         f"not found within {self._read_max} bytes")

    def _service_read(self) -> None:
        if self._read_future is None:
            self._maybe_resume()
            return
        if self._read_future.done():  # cancelled by its awaiter
            self._clear_read()
            return
        if self._read_kind == "into":
            # as Tornado: buffered bytes go into the caller's buffer at once
            target = self._read_target
            assert target is not None
            filled = self._into_filled
            n = min(len(self._buf), self._read_arg - filled)
            if n:
                target[filled:filled + n] = self._buf[:n]
                del self._buf[:n]
                filled = self._into_filled = filled + n
            if filled == self._read_arg or (self._read_partial and filled):
                fut = self._read_future
                self._clear_read()
                if not fut.done():
                    fut.set_result(filled)
            self._maybe_resume()
            return
        try:
            pos = self._find()
        except UnsatisfiableReadError as e:
            gen_log.info("Unsatisfiable read, closing connection: %s", e)
            self.close(exc_info=e)
            return
        if pos is not None:
            self._finish_read(pos)
            return
        if len(self._buf) >= self.max_buffer_size and not self._closed:
            e2 = StreamBufferFullError("Reached maximum read buffer size")
            gen_log.error("Reached maximum read buffer size")
            gen_log.warning("error on read: %s", e2)
            self.close(exc_info=e2)
            return
        self._maybe_resume()

    def _maybe_resume(self) -> None:
        if self._paused and len(self._buf) < self.max_buffer_size // 2 and self._transport is not None:
            self._paused = False
            self._transport.resume()

    def _clear_read(self) -> None:
        self._read_future = None
        self._read_kind = None
        self._read_target = None
        self._into_filled = 0
        self._scanned = 0
        self._read_max = None
        self._read_partial = False

    def _finish_read(self, n: int) -> None:
        fut = self._read_future
        self._clear_read()
        result: Any
        result = bytes(self._buf[:n])
        del self._buf[:n]
        if fut is not None and not fut.done():
            fut.set_result(result)
        self._maybe_resume()

    def _fail_read(self) -> None:
        fut = self._read_future
        self._clear_read()
        if fut is not None and not fut.done():
            fut.set_exception(StreamClosedError(real_error=self.error))
            fut.exception()

    # -- writing -------------------------------------------------------------------

    def write(self, data: Union[bytes, bytearray, memoryview]) -> "asyncio.Future[None]":
        """Queues ``data``; the Future resolves once it is written (handed to
        squall's output buffer below its high-water mark)."""
        self._check_closed()
        n = len(memoryview(data).cast("B")) if not isinstance(data, (bytes, bytearray)) else len(data)
        if n:
            if self.max_write_buffer_size is not None and self._wq_size + n > self.max_write_buffer_size:
                raise StreamBufferFullError("Reached maximum write buffer size")
            # copied now: the caller may change a bytearray afterwards
            self._wq.append(bytearray(memoryview(data).cast("B")))
            self._wq_size += n
            self._queued += n
        fut: asyncio.Future[None] = asyncio.get_event_loop().create_future()
        fut.add_done_callback(_retrieve)
        self._write_futures.append((self._queued, fut))
        if self._transport is not None and not self._connecting:
            self._flush()
        return fut

    def _next_chunk(self) -> memoryview:
        head = self._wq[0]
        off = self._wq_off
        n = min(len(head) - off, _WRITE_CHUNK)
        mv = memoryview(head)[off:off + n]
        if off + n == len(head):
            self._wq.popleft()
            self._wq_off = 0
        else:
            self._wq_off = off + n
        self._wq_size -= n
        self._handed += n
        return mv

    def _flush(self) -> None:
        t = self._transport
        if t is None or self._closed:
            return
        blocked = getattr(t, "blocked", False) or (isinstance(t, _FdTransport) and t.buffered() > 0)
        while self._wq and not blocked:
            try:
                blocked = not t.write(self._next_chunk())
            except StreamClosedError as e:
                self.close(exc_info=e.real_error or e)
                return
        if not blocked:
            while self._write_futures and self._write_futures[0][0] <= self._handed:
                _, fut = self._write_futures.popleft()
                if not fut.done():
                    fut.set_result(None)

    def writing(self) -> bool:
        """True while written data waits to go out."""
        t = self._transport
        return bool(self._wq) or bool(self._write_futures) or (t is not None and t.buffered() > 0)

    def reading(self) -> bool:
        """True while a read is pending."""
        return self._read_future is not None

    # -- closing -------------------------------------------------------------------

    def set_close_callback(self, callback: Optional[Callable[[], None]]) -> None:
        """``callback()`` runs (on the IOLoop) once the stream is closed."""
        self._close_callback = callback
        if self._closed and callback is not None:
            self._signal_closed()

    def closed(self) -> bool:
        return self._closed

    def _check_closed(self) -> None:
        if self._closed:
            raise StreamClosedError(real_error=self.error)

    def close(self, exc_info: Any = False) -> None:
        """Closes the stream. ``exc_info`` (an exception, True for the one
        being handled, or an exc_info tuple) becomes ``error``."""
        if not self._closed:
            if exc_info:
                if isinstance(exc_info, tuple):
                    exc_info = exc_info[1]
                elif not isinstance(exc_info, BaseException):
                    exc_info = sys.exc_info()[1]
                if exc_info is not None:
                    self.error = exc_info
            if self._read_future is not None and not self._read_future.done():
                if self._read_kind == "close":
                    if self.error is None or _is_connreset(self.error):
                        self._finish_read(len(self._buf))
                else:
                    try:
                        pos = self._find()
                    except UnsatisfiableReadError:
                        pos = None
                    if pos is not None:
                        self._finish_read(pos)
            self._closed = True
            t = self._transport
            if t is not None:
                if isinstance(t, _SqTransport):
                    # what this stream queued goes out before the FIN, as far as squall's buffer takes it
                    while self._wq and not t.closing:
                        mv = self._next_chunk()
                        if lib.sq_tcp_write(t.handle, (ctypes.c_char * len(mv)).from_buffer(mv), len(mv)) < 0:
                            break
                t.close()
            self._wq.clear()
            self._wq_off = 0
            self._wq_size = 0
        self._signal_closed()

    def _signal_closed(self) -> None:
        futures: list[asyncio.Future[Any]] = []
        if self._read_future is not None:
            futures.append(self._read_future)
            self._clear_read()
        futures += [f for _, f in self._write_futures]
        self._write_futures.clear()
        if self._connect_future is not None:
            futures.append(self._connect_future)
            self._connect_future = None
        for f in futures:
            if not f.done():
                f.set_exception(StreamClosedError(real_error=self.error))
            if not f.cancelled():
                f.exception()
        if self._close_callback is not None:
            cb, self._close_callback = self._close_callback, None
            self.io_loop.add_callback(cb)

    def set_nodelay(self, value: bool) -> None:
        if self._transport is not None and not self._closed:
            self._transport.set_nodelay(value)

    def fileno(self) -> Any:
        return self._transport.fileno() if self._transport is not None else None


def _retrieve(fut: "asyncio.Future[Any]") -> None:
    # a write Future nobody awaits must not log "exception never retrieved"
    if not fut.cancelled():
        fut.exception()


class IOStream(BaseIOStream):
    """A TCP stream: ``IOStream(socket.socket())`` then ``connect((host,
    port))`` (made through ``sq_tcp_connect``), or an already connected
    socket, or one that ``TCPServer``/``TCPClient`` hand out."""

    def __init__(self, socket: Any = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.socket = socket
        if socket is None:
            return  # TCPServer/TCPClient attach a squall stream
        if not hasattr(socket, "fileno"):
            raise TypeError("IOStream needs a socket")
        try:
            socket.getpeername()
            connected = True
        except OSError:
            connected = False
        if connected:
            self._attach(_FdTransport(self, socket))

    @classmethod
    def _from_sq(cls, transport: _SqTransport, **kwargs: Any) -> "IOStream":
        s = cls(None, **kwargs)
        s._attach(transport)
        return s

    def connect(self, address: Any, server_hostname: Optional[str] = None) -> "asyncio.Future[IOStream]":
        """Connects to ``address`` (``(host, port)``); resolves with the
        stream. A TCP address connects through squall (``sq_tcp_connect``;
        the socket given to the constructor is closed, ``stream.socket`` is
        None after); a Unix socket or a socket already bound to a source
        address connects in Python."""
        if self._transport is not None or self._connecting:
            raise RuntimeError("already connected")
        self._connecting = True
        fut: asyncio.Future[IOStream] = asyncio.get_event_loop().create_future()
        self._connect_future = fut
        sock = self.socket
        use_sq = True
        if sock is not None:
            if sock.family not in (socket.AF_INET, socket.AF_INET6):
                use_sq = False
            else:
                try:
                    use_sq = sock.getsockname()[1] == 0
                except OSError:
                    use_sq = True
        task = asyncio.ensure_future(self._connect(address, use_sq))
        task.add_done_callback(_retrieve)
        return fut

    async def _connect(self, address: Any, use_sq: bool) -> None:
        try:
            if use_sq:
                host, port = address[0], address[1]
                transport: _Transport = await sq_connect(host, port)
                if self.socket is not None:
                    self.socket.close()
                    self.socket = None
            else:
                sock = self.socket
                sock.setblocking(False)
                await asyncio.get_running_loop().sock_connect(sock, address)
                transport = _FdTransport(self, sock)
        except Exception as e:  # the connect Future gets it (StreamClosedError with real_error)
            self._connecting = False
            if self.socket is not None:
                try:
                    self.socket.close()
                except OSError:
                    pass
            self.close(exc_info=e)
            return
        self._connecting = False
        if self._closed:
            transport.close()
            return
        # the connect Future resolves before any write Future (as Tornado)
        fut, self._connect_future = self._connect_future, None
        if fut is not None and not fut.done():
            fut.set_result(self)
        self._attach(transport)

    def start_tls(self, server_side: bool, ssl_options: Any = None,
                  server_hostname: Optional[str] = None) -> "asyncio.Future[SSLIOStream]":
        """Turns this stream into an ``SSLIOStream`` (this one is unusable
        afterwards); resolves with it once the handshake is done. The stream
        must be idle: no pending read or write, nothing buffered."""
        return self._start_tls(server_side, ssl_options, server_hostname)[1]

    def _start_tls(self, server_side: bool, ssl_options: Any,
                   server_hostname: Optional[str]) -> "tuple[SSLIOStream, asyncio.Future[SSLIOStream]]":
        if (self._read_future is not None or self._write_futures or self._wq or self._buf
                or self._closed or self._transport is None or self._connecting):
            raise ValueError("IOStream is not idle; cannot convert to SSL")
        transport = self._transport
        self._transport = None
        self._closed = True
        self._close_callback = None
        new = SSLIOStream(None, ssl_options=ssl_options, server_hostname=server_hostname, server_side=server_side,
                          max_buffer_size=self.max_buffer_size, read_chunk_size=self.read_chunk_size,
                          max_write_buffer_size=self.max_write_buffer_size)
        new.socket = self.socket
        if self._paused:
            transport.resume()
        fut = new.wait_for_handshake()
        new._attach(transport)
        return new, fut

    def address(self) -> tuple[str, int]:
        t = self._transport
        if isinstance(t, _SqTransport):
            return t.address(True)
        if isinstance(t, _FdTransport) and t.is_socket:
            try:
                a = t.obj.getpeername()
                return (a[0], a[1]) if isinstance(a, tuple) else (str(a), 0)
            except OSError:
                pass
        return ("", 0)


class SSLIOStream(IOStream):
    """A TLS stream: Python's ``ssl`` (an ``SSLObject`` on memory buffers)
    over the same transports as ``IOStream`` (a squall TCP stream, or a
    socket the program connected). ``ssl_options`` is a dict or an
    ``ssl.SSLContext``; a socket already wrapped by ``ssl.wrap_socket``
    (``do_handshake_on_connect=False``) is unwrapped and its context used."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._ssl_options = kwargs.pop("ssl_options", None)
        self._server_hostname: Optional[str] = kwargs.pop("server_hostname", None)
        self._tls_server_side = bool(kwargs.pop("server_side", False))
        self._tls_ctx: Optional[ssl.SSLContext] = None
        self._ssl_connect_future: Optional[asyncio.Future[Any]] = None
        self._handshake_done = False
        self._tls_started = False
        args_l = list(args)
        sock = args_l[0] if args_l else kwargs.pop("socket", None)
        if isinstance(sock, ssl.SSLSocket):
            self._tls_ctx = sock.context
            self._tls_server_side = sock.server_side
            self._server_hostname = sock.server_hostname
            fam, typ = sock.family, sock.type
            sock = socket.socket(fam, typ, fileno=sock.detach())
        if args_l:
            args_l[0] = sock
        else:
            args_l = [sock]
        super().__init__(*args_l, **kwargs)

    def _context(self) -> ssl.SSLContext:
        if self._tls_ctx is None:
            opts = self._ssl_options
            if opts is None:
                if self._tls_server_side:
                    raise ValueError("a server-side SSLIOStream needs ssl_options (certfile, keyfile)")
                self._tls_ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
            else:
                from .netutil import ssl_options_to_context
                self._tls_ctx = ssl_options_to_context(opts, server_side=self._tls_server_side)
        return self._tls_ctx

    def _attach(self, transport: _Transport) -> None:
        if isinstance(transport, _TlsTransport):
            super()._attach(transport)
            return
        try:
            tls = _TlsTransport(self, transport, self._context(), self._tls_server_side,
                                None if self._tls_server_side else self._server_hostname)
        except (ValueError, ssl.SSLError) as e:
            transport.stream = self
            super()._attach(transport)
            self.close(exc_info=e)
            return
        self._tls_started = True
        super()._attach(tls)
        tls.start()

    def connect(self, address: Any, server_hostname: Optional[str] = None) -> "asyncio.Future[Any]":
        """Connects, then runs the TLS handshake; resolves with the stream
        once the handshake is done."""
        self._server_hostname = server_hostname or self._server_hostname
        if self._server_hostname is None and isinstance(address, tuple):
            self._server_hostname = str(address[0])
        fut = self.wait_for_handshake()
        plain = super().connect(address)
        plain.add_done_callback(_retrieve)
        return fut

    def wait_for_handshake(self) -> "asyncio.Future[Any]":
        """Resolves with the stream once the TLS handshake is done."""
        if self._ssl_connect_future is not None:
            raise RuntimeError("Already waiting")
        fut: asyncio.Future[Any] = asyncio.get_event_loop().create_future()
        fut.add_done_callback(self._handshake_cancelled)
        self._ssl_connect_future = fut
        if self._handshake_done:
            self._tls_done()
        elif self._closed:
            self._signal_closed()
        return fut

    def _handshake_cancelled(self, fut: "asyncio.Future[Any]") -> None:
        if fut.cancelled() and not self._handshake_done:
            self.close()

    def _tls_done(self) -> None:
        self._handshake_done = True
        fut, self._ssl_connect_future = self._ssl_connect_future, None
        if fut is not None and not fut.done():
            fut.set_result(self)

    def _tls_failed(self, err: BaseException) -> None:
        if isinstance(err, ssl.SSLError):
            gen_log.warning("SSL Error on %s %s: %s", self.fileno(), self.address(), err)
        self.close(exc_info=err)

    def _signal_closed(self) -> None:
        fut, self._ssl_connect_future = self._ssl_connect_future, None
        if fut is not None and not fut.done():
            # the handshake's own error (an ssl.SSLError), as Tornado
            if self._tls_started and self.error is not None:
                fut.set_exception(self.error)
            else:
                fut.set_exception(StreamClosedError(real_error=self.error))
            fut.exception()
        super()._signal_closed()

    def start_tls(self, server_side: bool, ssl_options: Any = None, server_hostname: Optional[str] = None) -> Any:
        raise ValueError("the stream is already TLS")


class _TlsTransport(_Transport):
    """TLS (an ``ssl.SSLObject`` on memory buffers) between a stream and
    its transport: ciphertext in and out of the transport, plaintext to and
    from the stream."""

    def __init__(self, stream: SSLIOStream, inner: _Transport, ctx: ssl.SSLContext, server_side: bool,
                 server_hostname: Optional[str]) -> None:
        self.stream = stream
        self.inner = inner
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.incoming, self.outgoing, server_side=server_side,
                                server_hostname=server_hostname)
        inner.stream = self
        self.handshaken = False
        self.closed = False
        self.inner_blocked = False

    @property
    def blocked(self) -> bool:
        return not self.handshaken or self.inner_blocked

    def start(self) -> None:
        self._handshake()

    def _send_out(self) -> bool:
        """Hands the TLS output to the transport; False once it is closed."""
        data = self.outgoing.read()
        if data and not self.closed:
            try:
                if not self.inner.write(memoryview(bytearray(data))):
                    self.inner_blocked = True
            except StreamClosedError:
                return False  # the transport's own close follows
        return True

    def _handshake(self) -> None:
        try:
            self.obj.do_handshake()
        except ssl.SSLWantReadError:
            self._send_out()
            return
        except (ssl.SSLError, ssl.CertificateError, OSError, ValueError) as e:
            self._send_out()
            self.stream._tls_failed(e)
            return
        self.handshaken = True
        self._send_out()
        self.stream._tls_done()
        self._read_plain()
        if not self.inner_blocked and not self.closed:
            self.stream._on_drain()

    def _on_input(self, data: bytes) -> None:
        if self.closed:
            return
        self.incoming.write(data)
        if not self.handshaken:
            self._handshake()
            return
        self._read_plain()

    def _read_plain(self) -> None:
        chunks = []
        eof = False
        err: Optional[BaseException] = None
        while not self.closed:
            try:
                chunk = self.obj.read(262144)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                eof = True
                break
            except ssl.SSLError as e:
                err = e
                break
            if not chunk:
                eof = True
                break
            chunks.append(chunk)
        self._send_out()
        if chunks:
            self.stream._on_input(b"".join(chunks))
        if err is not None:
            self.stream._on_transport_closed(err)
        elif eof:
            self.stream._on_eof()

    def _on_eof(self) -> None:
        if not self.handshaken:
            self.stream._on_transport_closed(ConnectionResetError(errno.ECONNRESET,
                                                                  "connection closed during the TLS handshake"))
            return
        self.stream._on_eof()

    def _on_drain(self) -> None:
        self.inner_blocked = False
        if self.handshaken:
            self.stream._on_drain()

    def _on_transport_closed(self, err: Optional[BaseException]) -> None:
        self.stream._on_transport_closed(err)

    def write(self, data: Any) -> bool:
        if self.closed:
            raise StreamClosedError()
        try:
            self.obj.write(data)
        except ssl.SSLError as e:
            raise StreamClosedError(e) from None
        if not self._send_out():
            raise StreamClosedError()  # never a write that "succeeds" into a closed transport
        return not self.inner_blocked

    def close(self) -> None:
        if self.closed:
            return
        if self.handshaken:
            try:
                self.obj.unwrap()  # queues close_notify
            except (ssl.SSLError, ValueError):
                pass
            self._send_out()
        self.closed = True
        self.inner.close()

    def abort(self) -> None:
        self.closed = True
        self.inner.abort()

    def pause(self) -> None:
        self.inner.pause()

    def resume(self) -> None:
        self.inner.resume()

    def set_nodelay(self, value: bool) -> None:
        self.inner.set_nodelay(value)

    def buffered(self) -> int:
        return self.inner.buffered()

    def fileno(self) -> Any:
        return self.inner.fileno()


class PipeIOStream(BaseIOStream):
    """A stream over a pipe descriptor (``os.pipe()``), read and written
    with non-blocking system calls when asyncio says it is ready."""

    def __init__(self, fd: int, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fd = fd
        self._fio = _FdTransport(self, fd, readable=True)
        self._attach(self._fio)


class _StreamBuffer:
    """Not in squall: Tornado's private write-buffer class (squall's streams
    queue output in squall's own buffer). The name exists so that code
    importing it loads."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("squall.iostream._StreamBuffer: Tornado's private class is not part of squall")
