"""``squall.websocket``: Tornado's ``WebSocketHandler`` and
``websocket_connect`` on squall's WebSockets, plus topics.

squall does the handshake, framing, masking, pings and the close handshake
in Rust; Python sees whole messages. Every socket's userdata is an integer
index into ``_SOCKETS``; one set of module-level ctypes trampolines serves
every route and every client connection.

Beyond Tornado: ``subscribe(topic)``/``unsubscribe(topic)`` on a handler and
``Application.publish(topic, message)``: the fan-out happens in Rust.
"""
from __future__ import annotations

import asyncio
import inspect
import json
import logging
import re
import urllib.parse
from ctypes import byref, c_size_t, pointer, sizeof, string_at
from typing import Any, Awaitable, Callable, Optional, Union

from . import _ffi
from ._bindings import sq_str, sq_ws_callbacks, sq_ws_options
from ._ffi import b, c_callback, lib
from ._request import HTTPServerRequest, XHeaders
from ._slab import Slab
from .ioloop import IOLoop
from .httputil import HTTPHeaders, HTTPInputError
from .web import Application, HTTPError, RequestHandler, URLSpec, _Done, _DONE

__all__ = ["WebSocketHandler", "WebSocketClosedError", "WebSocketError", "BackpressureError",
           "websocket_connect", "WebSocketClientConnection", "WebSocketProtocol", "WebSocketProtocol13"]

app_log = logging.getLogger("squall.application")
gen_log = logging.getLogger("squall.general")


class WebSocketError(Exception):
    pass


def _handshake_refused(code: int, message: str) -> Exception:
    from .httpclient import HTTPClientError

    class WebSocketHandshakeError(HTTPClientError, WebSocketError):
        """The server answered the handshake with ``code`` instead of 101."""

    return WebSocketHandshakeError(code, message)


class WebSocketClosedError(WebSocketError):
    """Raised by operations on a closed connection."""


class BackpressureError(WebSocketError):
    """The message was dropped: more than the route's ``max_backpressure``
    bytes were already waiting to be sent to this client."""


# Route objects (by route userdata) and open sockets (by socket userdata).
_ROUTES = Slab()
_SOCKETS = Slab()
# Handlers made for a handshake in progress (check_origin, select_subprotocol),
# by request handle, until on_open takes them.
_PENDING: dict[int, "WebSocketHandler"] = {}


def _sock(ud: int) -> Any:
    return _SOCKETS.get(ud)


@c_callback(b.sq_ws_callbacks._fields_[1][1])  # on_open (server routes)
def _on_open(ud: int, ws: int, req: int) -> None:
    route = _ROUTES.get(ud)
    if route is None:
        lib.sq_ws_close(ws, 1011, b"")
        return
    route.open(ws, req)


@c_callback(b.sq_ws_callbacks._fields_[1][1])  # on_open (client connections)
def _on_client_open(ud: int, ws: int, req: int) -> None:
    conn = _SOCKETS.get(ud)
    if conn is not None:
        conn._opened(ws)


@c_callback(b.sq_ws_callbacks._fields_[2][1])
def _on_message(ud: int, ws: int, data: int, n: int, opcode: int) -> None:
    s = _SOCKETS.get(ud)
    if s is not None:
        raw = string_at(data, n) if n else b""
        s._on_message_raw(raw.decode("utf-8") if opcode == b.SQ_WS_TEXT else raw)


@c_callback(b.sq_ws_callbacks._fields_[3][1])
def _on_close(ud: int, ws: int, code: int, reason: int, n: int) -> None:
    s = _SOCKETS.pop(ud)
    if s is not None:
        text = string_at(reason, n).decode("utf-8", "replace") if n else ""
        s._closed(code, text)


@c_callback(b.sq_ws_callbacks._fields_[4][1])
def _on_drain(ud: int, ws: int) -> None:
    s = _SOCKETS.get(ud)
    if s is not None:
        s._drained()


@c_callback(b.sq_ws_callbacks._fields_[5][1])
def _on_ping(ud: int, ws: int, data: int, n: int) -> None:
    s = _SOCKETS.get(ud)
    if s is not None:
        s._guard(s.on_ping, string_at(data, n) if n else b"")


@c_callback(b.sq_ws_callbacks._fields_[6][1])
def _on_pong(ud: int, ws: int, data: int, n: int) -> None:
    s = _SOCKETS.get(ud)
    if s is not None:
        s._guard(s.on_pong, string_at(data, n) if n else b"")


@c_callback(b.sq_ws_callbacks._fields_[7][1])
def _check_origin(ud: int, req: int, origin: int, n: int) -> int:
    route = _ROUTES.get(ud)
    if route is None:
        return 0
    ok: int = route.check(req, string_at(origin, n).decode("latin-1") if n else None)
    return ok


@c_callback(b.sq_ws_callbacks._fields_[8][1])
def _select_subprotocol(ud: int, req: int, offered: Any, count: int) -> int:
    h = _PENDING.get(req)
    if h is None:
        return -1
    names = [string_at(offered[i].ptr, offered[i].len).decode("latin-1") for i in range(count)]
    try:
        pick = h.select_subprotocol(names)
    except Exception:
        app_log.error("Exception in select_subprotocol", exc_info=True)
        return -1
    if pick is None:
        return -1
    try:
        return names.index(pick)
    except ValueError:
        gen_log.warning("select_subprotocol returned %r, which the client did not offer", pick)
        return -1


@c_callback(b.sq_ws_callbacks._fields_[9][1])
def _on_connect_error(ud: int, status: int, message: int, n: int) -> None:
    conn = _SOCKETS.pop(ud)
    if conn is not None:
        conn._failed(status, string_at(message, n).decode("utf-8", "replace") if n else "")


def _callbacks(client: bool) -> sq_ws_callbacks:
    cb = sq_ws_callbacks()
    cb.size = sizeof(sq_ws_callbacks)
    cb.on_open = _on_client_open if client else _on_open
    cb.on_message = _on_message
    cb.on_close = _on_close
    cb.on_drain = _on_drain
    cb.on_ping = _on_ping
    cb.on_pong = _on_pong
    if client:
        cb.on_connect_error = _on_connect_error
    else:
        cb.check_origin = _check_origin
        cb.select_subprotocol = _select_subprotocol
    return cb


_SERVER_CALLBACKS = _callbacks(client=False)
_CLIENT_CALLBACKS = _callbacks(client=True)


def _encode(message: Union[str, bytes, dict[str, Any]], binary: bool) -> tuple[bytes, int]:
    if isinstance(message, dict):
        message = json.dumps(message)
    if isinstance(message, str):
        return message.encode("utf-8"), (b.SQ_WS_BINARY if binary else b.SQ_WS_TEXT)
    if isinstance(message, (bytes, bytearray, memoryview)):
        return bytes(message), (b.SQ_WS_BINARY if binary else b.SQ_WS_TEXT)
    raise TypeError("a WebSocket message is str, bytes or dict, not %r" % type(message))


def _cancelled_from_outside() -> bool:
    """In an ``except CancelledError``: was the current task itself
    cancelled (rather than the code it awaited raising CancelledError)?"""
    task = asyncio.current_task()
    cancelling = getattr(task, "cancelling", None)
    return bool(cancelling()) if cancelling is not None else False


class WebSocketProtocol:
    """The protocol side of one WebSocket, under Tornado's name: what
    ``WebSocketHandler.ws_connection`` and
    ``WebSocketClientConnection.protocol`` are. squall runs the protocol
    (framing, masking, pings, the close handshake) in Rust; this object is
    the socket's view of it."""

    def __init__(self, owner: "_SocketMixin") -> None:
        self._owner = owner

    @property
    def close_code(self) -> Optional[int]:
        return self._owner.close_code

    @property
    def close_reason(self) -> Optional[str]:
        return self._owner.close_reason

    @property
    def selected_subprotocol(self) -> Optional[str]:
        return self._owner.selected_subprotocol

    def is_closing(self) -> bool:
        """True once the socket is closing or closed."""
        return self._owner._ws is None

    def write_message(self, message: Union[str, bytes, dict[str, Any]], binary: bool = False) -> Any:
        return self._owner.write_message(message, binary)

    def write_ping(self, data: bytes) -> None:
        self._owner.ping(data)

    def close(self, code: Optional[int] = None, reason: Optional[str] = None) -> None:
        self._owner.close(code, reason)

    def set_nodelay(self, value: bool) -> None:
        if not value:
            raise NotImplementedError("squall's connections always have TCP_NODELAY set")

    @staticmethod
    def ping_sleep_time(*, last_ping_time: float, interval: float, now: float) -> float:
        """Seconds until the next keep-alive ping is due (none less than 0):
        the rule squall's pinger follows, one ``interval`` after the last."""
        return max(0, last_ping_time + interval - now)


class WebSocketProtocol13(WebSocketProtocol):
    """RFC 6455, the only version squall speaks (Tornado's name)."""


class _SocketMixin:
    """What server handlers and client connections share: sending, closing,
    message dispatch (coroutine ``on_message`` runs one message at a time)."""

    _ws: Optional[int] = None
    _ud: int = 0

    def _init_socket(self) -> None:
        self._ws = None
        self._ud = 0
        self.close_code: Optional[int] = None
        self.close_reason: Optional[str] = None
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._inbox: list[Union[str, bytes]] = []
        self._busy = False
        self._aborted = False

    def _guard(self, fn: Callable[..., Any], *args: Any) -> None:
        try:
            r = fn(*args)
            if r is not None and inspect.isawaitable(r):
                asyncio.ensure_future(self._await_guard(r))
        except (Exception, asyncio.CancelledError):
            self._callback_failed()

    async def _await_guard(self, aw: Awaitable[Any]) -> None:
        try:
            await aw
        except Exception:
            self._callback_failed()
        except asyncio.CancelledError:
            if _cancelled_from_outside():
                raise
            self._callback_failed()

    def _callback_failed(self) -> None:
        app_log.error("Uncaught exception in %s", type(self).__name__, exc_info=True)
        # as Tornado aborts the connection: no message is delivered after this
        self._aborted = True
        self._inbox.clear()
        if self._ws is not None:
            lib.sq_ws_close(self._ws, 1011, b"Internal Error")

    def _on_message_raw(self, msg: Union[str, bytes]) -> None:
        if self._aborted:
            return
        if self._busy:
            self._inbox.append(msg)
            return
        self._dispatch(msg)

    def _dispatch(self, msg: Union[str, bytes]) -> None:
        try:
            r = self._deliver(msg)
        except (Exception, asyncio.CancelledError):
            # a CancelledError raised by the callback is its failure, as in
            # Tornado (logged, the connection aborted)
            self._callback_failed()
            return
        if r is not None and inspect.isawaitable(r):
            self._busy = True
            asyncio.ensure_future(self._finish_async(r))

    async def _finish_async(self, aw: Awaitable[Any]) -> None:
        try:
            await aw
        except Exception:
            self._callback_failed()
        except asyncio.CancelledError:
            if _cancelled_from_outside():
                raise  # this task was cancelled (the loop is going away)
            self._callback_failed()  # the coroutine awaited something cancelled
        self._busy = False
        while self._inbox and not self._busy and self._ws is not None:
            self._dispatch(self._inbox.pop(0))

    def _deliver(self, msg: Union[str, bytes]) -> Any:
        raise NotImplementedError

    def _drained(self) -> None:
        waiters, self._drain_waiters = self._drain_waiters, []
        for f in waiters:
            if not f.done():
                f.set_result(None)

    def write_message(self, message: Union[str, bytes, dict[str, Any]], binary: bool = False, *,
                      compress: bool = True) -> Any:
        """Sends a message (``dict`` as JSON). Returns an awaitable that is
        done at once, or, when the socket's output is over its high-water
        mark, when it has drained. Raises ``WebSocketClosedError`` on a closed
        socket, ``BackpressureError`` when the message had to be dropped.

        ``compress=False`` (squall's, keyword-only; Tornado has no such
        argument) sends the message uncompressed even when the socket
        negotiated permessage-deflate: for a secret sent next to data an
        attacker chooses (CRIME, BREACH)."""
        ws = self._ws
        if ws is None:
            raise WebSocketClosedError()
        data, opcode = _encode(message, binary)
        if compress:
            st = lib.sq_ws_send(ws, data, len(data), opcode)
        else:
            st = lib.sq_ws_send_ex(ws, data, len(data), opcode, b.SQ_WS_SEND_NO_COMPRESS)
        if st == b.SQ_OK:
            return _DONE
        if st == b.SQ_BACKPRESSURE:
            fut = asyncio.get_event_loop().create_future()
            self._drain_waiters.append(fut)
            return fut
        if st == b.SQ_ERR_CLOSED:
            raise WebSocketClosedError()
        if st == b.SQ_ERR_LIMIT:
            raise BackpressureError("message dropped: the client is not reading")
        if st == b.SQ_ERR_INVALID_ARG:
            raise ValueError("text messages must be valid UTF-8")
        raise WebSocketError(str(_ffi.SquallError(st)))

    def ping(self, data: Union[str, bytes] = b"") -> None:
        if self._ws is None:
            raise WebSocketClosedError()
        if isinstance(data, str):
            data = data.encode("utf-8")
        if len(data) > 125:
            raise ValueError("ping data must be 125 bytes or less")
        st = lib.sq_ws_ping(self._ws, data, len(data))
        if st == b.SQ_ERR_CLOSED:
            raise WebSocketClosedError()

    def close(self, code: Optional[int] = None, reason: Optional[str] = None) -> None:
        """Starts the closing handshake (1000 by default)."""
        if self._ws is None:
            return
        lib.sq_ws_close(self._ws, code if code is not None else 1000, (reason or "").encode("utf-8"))

    def buffered_amount(self) -> int:
        return lib.sq_ws_buffered_amount(self._ws) if self._ws is not None else 0

    @property
    def selected_subprotocol(self) -> Optional[str]:
        if self._ws is None:
            return None
        s = sq_str()
        if lib.sq_ws_subprotocol(self._ws, byref(s)) != b.SQ_OK or not s.len:
            return None
        return string_at(s.ptr, s.len).decode("latin-1")

    def _fail_waiters(self) -> None:
        waiters, self._drain_waiters = self._drain_waiters, []
        for f in waiters:
            if not f.done():
                f.set_exception(WebSocketClosedError())
                # retrieved: a write_message() whose result nobody awaits
                # logs nothing when the connection goes (awaiting it raises)
                f.exception()


class WebSocketHandler(RequestHandler, _SocketMixin):
    """Subclass it and define ``open``, ``on_message``, ``on_close``.

    Options come from the application settings (``websocket_ping_interval``,
    ``websocket_ping_timeout`` in seconds, ``websocket_max_message_size``)
    or from class attributes of the same names without the prefix
    (``ping_interval``, ``ping_timeout``, ``max_message_size``), plus
    squall's ``high_water``, ``max_backpressure`` and ``subprotocols``.
    """

    high_water: Optional[int] = None
    idle_timeout: Optional[float] = None  # seconds without a frame before a 1001 close
    max_backpressure: Optional[int] = None
    subprotocols: Optional[list[str]] = None

    def __init__(self, application: Application, request: HTTPServerRequest, **kwargs: Any) -> None:
        self._init_socket()
        # the socket's protocol object while it is open (None before and after)
        self.ws_connection: Optional[WebSocketProtocol] = None
        super().__init__(application, request, **kwargs)

    # --- what subclasses define ---------------------------------------------

    def _default_open(self, *args: str, **kwargs: str) -> Optional[Awaitable[None]]:
        return None

    # Declared as an attribute, as RequestHandler's verbs are, so that a
    # subclass defines open() with the groups its route captures (``def
    # open(self)``, ``async def open(self, room)``) under a type checker.
    open: Callable[..., Optional[Awaitable[None]]] = _default_open

    def on_message(self, message: Union[str, bytes]) -> Optional[Awaitable[None]]:
        raise NotImplementedError

    def on_close(self) -> None:
        pass

    def on_ping(self, data: bytes) -> None:
        pass

    def on_pong(self, data: bytes) -> None:
        pass

    def check_origin(self, origin: str) -> bool:
        """May a handshake that looks cross-origin (``Origin`` not this
        host, or ``Sec-Fetch-Site`` other than same-origin) go on? Default:
        ``check_trusted_origin`` (the ``trusted_origins`` setting); a
        same-origin handshake never gets here (Tornado 6.6)."""
        return self.check_trusted_origin(origin)

    def set_nodelay(self, value: bool) -> None:
        """squall sets TCP_NODELAY on every connection it accepts, so
        ``True`` is already in effect; ``False`` cannot be had."""
        if not value:
            raise NotImplementedError("squall's connections always have TCP_NODELAY set")

    def select_subprotocol(self, subprotocols: list[str]) -> Optional[str]:
        """Picks one of the offered subprotocols (default: the first one the
        class's ``subprotocols`` list accepts, or none)."""
        if self.subprotocols:
            for p in subprotocols:
                if p in self.subprotocols:
                    return p
        return None

    def get_compression_options(self) -> Optional[dict[str, Any]]:
        """Tornado's: ``None`` (the default) declines permessage-deflate, a
        dict accepts it when the client offers it. squall asks once per
        route, on an instance that has no request yet.

        ``{}`` (or ``{"mode": "shared"}``) runs the shared mode: no context
        takeover either way, no zlib state per idle socket; Tornado's
        ``compression_level`` and ``mem_level`` are not used there.
        ``{"mode": "dedicated"}`` keeps the context both ways (unless the
        client asks for none), with a compressor and an inflater per socket:
        ``window_bits`` (9..15, default 15), Tornado's ``mem_level`` (1..9,
        default 8) and ``compression_level`` (0..9, default 6) set its
        compressor; ``"client_no_context_takeover": True`` answers that to
        every offer, so clients compress each message afresh and the socket
        keeps no inflater of its own (its compressor alone). A bad value
        raises ``ValueError`` when the route is installed."""
        return None

    # --- settings -------------------------------------------------------------

    @property
    def ping_interval(self) -> Optional[float]:
        return self.settings.get("websocket_ping_interval", None)

    @property
    def ping_timeout(self) -> Optional[float]:
        return self.settings.get("websocket_ping_timeout", None)

    @property
    def max_message_size(self) -> int:
        size: int = self.settings.get("websocket_max_message_size", 10 * 1024 * 1024)
        return size

    # --- topics -----------------------------------------------------------------

    def subscribe(self, topic: str) -> None:
        """Receives every message published to ``topic`` from now on."""
        if self._ws is None:
            raise WebSocketClosedError()
        st = lib.sq_ws_subscribe(self._ws, topic.encode("utf-8"))
        if st == b.SQ_ERR_CLOSED:
            raise WebSocketClosedError()
        _ffi.check(st)

    def unsubscribe(self, topic: str) -> None:
        if self._ws is None:
            return
        st = lib.sq_ws_unsubscribe(self._ws, topic.encode("utf-8"))
        if st not in (b.SQ_OK, b.SQ_ERR_CLOSED):
            _ffi.check(st)

    def publish(self, topic: str, message: Union[str, bytes, dict[str, Any]], binary: Optional[bool] = None, *,
                compress: bool = True) -> int:
        return self.application.publish(topic, message, binary, compress=compress)

    # --- plumbing --------------------------------------------------------------

    def _deliver(self, msg: Union[str, bytes]) -> Any:
        return self.on_message(msg)

    def _closed(self, code: int, reason: str) -> None:
        self.close_code = code
        self.close_reason = reason
        self._ws = None
        self.ws_connection = None
        self._fail_waiters()
        try:
            self.on_close()
        except Exception:
            app_log.error("Uncaught exception in on_close", exc_info=True)

    def write(self, chunk: Any) -> None:
        raise RuntimeError("Method not supported for Web Sockets")

    def send_error(self, *args: Any, **kwargs: Any) -> None:
        if self._ws is not None:
            lib.sq_ws_close(self._ws, 1011, b"")


_NOT_IN_101 = {b"content-type", b"content-length", b"transfer-encoding", b"date", b"connection", b"upgrade"}


def _not_for_websockets(*args: Any, **kwargs: Any) -> None:
    raise RuntimeError("Method not supported for Web Sockets")


def _text(value: Optional[bytes]) -> Optional[str]:
    """A path group for a WebSocket handler: UTF-8, undecodable bytes as U+FFFD
    (the handshake is already accepted, so there is no 400 to give)."""
    return value.decode("utf-8", "replace") if value is not None else None


class _WSRoute:
    def __init__(self, app: Application, spec: URLSpec, xheaders: Union[XHeaders, bool] = False,
                 protocol: Optional[str] = None) -> None:
        self.app = app
        self.protocol = protocol
        self.spec = spec
        self.xheaders = xheaders
        self.cls = spec.handler_class

    def _make(self, req: int) -> WebSocketHandler:
        request = HTTPServerRequest.from_handle(req, self.xheaders, self.protocol)
        request._freeze()  # the upgrade request is readable only during the handshake
        _ = request.arguments, request.cookies
        h: WebSocketHandler = self.cls(self.app, request, **self.spec.kwargs)
        return h

    def check(self, req: int, origin: Optional[str]) -> int:
        """The handshake's decision (squall's ``check_origin`` callback):
        1 accept, 0 refuse (403); or, for a coroutine ``prepare()``,
        ``SQ_WS_DECIDE_LATER``: the upgrade waits for it, as in Tornado, and
        ``_prepared`` decides."""
        try:
            h = self._make(req)
            h.set_default_headers()  # as for an HTTP request: before prepare()
            r = h.prepare()
            if r is not None and inspect.isawaitable(r):
                fut = asyncio.ensure_future(r)
                fut.add_done_callback(lambda f: self._prepared(req, h, f))
                return int(b.SQ_WS_DECIDE_LATER)
            status = self._after_prepare(req, h)
        except Exception as e:
            status = self._refusal(e)
        if status == 0:
            return 1
        if status == 403:
            return 0
        # another refusal status (an HTTPError(401) of prepare(), a 500):
        # answered once this callback has returned and the handshake waits
        asyncio.get_event_loop().call_soon(lib.sq_ws_handshake_decide, req, status)
        return int(b.SQ_WS_DECIDE_LATER)

    def _prepared(self, req: int, h: WebSocketHandler, fut: "asyncio.Future[Any]") -> None:
        status = 403
        try:
            if fut.cancelled():
                raise asyncio.CancelledError()
            fut.result()
            status = self._after_prepare(req, h)
        except (Exception, asyncio.CancelledError) as e:
            status = self._refusal(e)
        st = lib.sq_ws_handshake_decide(req, status)
        if st < 0:
            _PENDING.pop(req, None)  # the server went away meanwhile

    @staticmethod
    def _refusal(e: BaseException) -> int:
        """Logs why a handshake is refused; the status to refuse it with."""
        if isinstance(e, HTTPError):
            gen_log.info("WebSocket handshake refused: %s", e)
            return e.status_code if 400 <= e.status_code <= 599 else 403
        if isinstance(e, HTTPInputError):  # a malformed query: refused, not an application error
            gen_log.info("WebSocket handshake refused: %s", e)
            return 400
        app_log.error("Uncaught exception in WebSocket handshake", exc_info=(type(e), e, e.__traceback__))
        return 500

    def _after_prepare(self, req: int, h: WebSocketHandler) -> int:
        """What follows ``prepare()``: 0 to accept (the handler's headers go
        into the 101), or the status to refuse with."""
        try:
            if h._finished:
                # prepare() answered (send_error, finish): no upgrade
                code = h.get_status()
                return code if 400 <= code <= 599 else 403
            # Always on for WebSockets (browsers do not apply the same-origin
            # policy to them), after prepare(), as Tornado 6.6: Sec-Fetch-Site,
            # else Origin against Host, else check_origin().
            why = h._cross_origin_refusal(h.check_origin)
            if why is not None:
                gen_log.debug("Cross origin websockets not allowed: %s", why)
                return 403
            if "Sec-WebSocket-Protocol" not in h.request.headers:
                # Tornado asks select_subprotocol even when none is offered;
                # squall asks only for offers, so ask here (nothing to pick)
                h.select_subprotocol([])
            # As Tornado's 101: the handler's headers (set_default_headers,
            # set_header/set_cookie in prepare), but no Content-Type and none
            # of what the handshake writes itself.
            for name, value in h._header_pairs():
                if name.lower() in _NOT_IN_101 or name.lower().startswith(b"sec-websocket-"):
                    continue
                st = lib.sq_ws_handshake_header(req, name, value, len(value))
                if st < 0:
                    gen_log.warning("header %r left out of the WebSocket handshake: %s", name, _ffi.SquallError(st))
        except Exception as e:
            return self._refusal(e)
        _PENDING[req] = h
        return 0

    def open(self, ws: int, req: int) -> None:
        h = _PENDING.pop(req, None)
        if h is None:
            try:
                h = self._make(req)
            except Exception:
                app_log.error("Uncaught exception creating %s", self.cls.__name__, exc_info=True)
                lib.sq_ws_close(ws, 1011, b"")
                return
        raw_args, raw_kwargs = self.spec.path_arguments(req, h.request.path)
        # str, or None for a group that did not take part: Tornado passes
        # that None too while declaring open(*args: str), and so do we.
        args: list[Any] = [_text(a) for a in raw_args]
        kwargs: dict[str, Any] = {k: _text(v) for k, v in raw_kwargs.items()}
        h.path_args, h.path_kwargs = args, kwargs
        h._ws = ws
        h.ws_connection = WebSocketProtocol13(h)
        # as Tornado: the HTTP response is over, its methods raise now
        for name in ("write", "redirect", "set_header", "set_cookie", "set_status", "flush", "finish"):
            setattr(h, name, _not_for_websockets)
        h._ud = _SOCKETS.put(h)
        lib.sq_ws_set_userdata(ws, h._ud)
        try:
            r = h.open(*args, **kwargs)
        except Exception:
            h._callback_failed()
            return
        if r is not None and inspect.isawaitable(r):
            # Tornado: on_message is not called until a coroutine open() has
            # returned; messages wait in the inbox meanwhile
            h._busy = True
            asyncio.ensure_future(h._finish_async(r))


def _route_options(app: Application, cls: "type[WebSocketHandler]") -> tuple[Any, list[Any]]:
    o = sq_ws_options()
    _ffi.check(lib.sq_ws_options_init(byref(o), sizeof(o)))
    probe = cls.__new__(cls)
    probe.application = app  # settings lookups only

    def setting(attr: str, key: str) -> Any:
        v = cls.__dict__.get(attr) if attr in cls.__dict__ else None
        if v is None or isinstance(v, property):
            try:
                v = getattr(probe, attr)
            except Exception:
                v = app.settings.get(key)
        return v

    mms = setting("max_message_size", "websocket_max_message_size")
    if mms:
        o.max_message_size = int(mms)
    pi = setting("ping_interval", "websocket_ping_interval")
    if pi:
        o.ping_interval_ms = int(float(pi) * 1000)
    pt = setting("ping_timeout", "websocket_ping_timeout")
    if pt:
        o.pong_timeout_ms = int(float(pt) * 1000)
    idle = getattr(cls, "idle_timeout", None)
    if idle:
        o.idle_timeout_ms = int(float(idle) * 1000)
    if cls.high_water:
        o.high_water = int(cls.high_water)
    if cls.max_backpressure:
        o.max_backpressure = int(cls.max_backpressure)
    # a coroutine prepare() decides the handshake later (_WSRoute.check)
    o.flags |= b.SQ_WS_DEFERRED_HANDSHAKE
    try:
        compression = probe.get_compression_options()
    except Exception:
        compression = None
    if compression is not None:
        _set_compression(o, compression)
    keep: list[Any] = []
    if cls.subprotocols:
        sp = ",".join(cls.subprotocols).encode()
        keep.append(sp)
        o.subprotocols = sp
    return o, keep


def _set_compression(o: Any, options: dict[str, Any]) -> None:
    """A route's ``get_compression_options()`` into its C options."""
    mode = options.get("mode", "shared")
    if mode == "shared":
        o.compression = b.SQ_WS_COMPRESSION_SHARED
        return
    if mode != "dedicated":
        raise ValueError(f"compression mode {mode!r}: 'shared' or 'dedicated'")
    o.compression = b.SQ_WS_COMPRESSION_DEDICATED
    for key, field, low, high in (("window_bits", "compression_window_bits", 9, 15),
                                  ("mem_level", "compression_mem_level", 1, 9),
                                  ("compression_level", "compression_level", 0, 9)):
        value = options.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"compression option {key}={value!r}: an int in {low}..{high}")
        setattr(o, field, value)
    if options.get("client_no_context_takeover"):
        # answered to every offer: the client compresses each message
        # afresh and the socket keeps no inflater of its own
        o.compression_client_no_context_takeover = 1


def _install_route(app: Application, srv: Any, spec: URLSpec) -> None:
    # as for the HTTP routes: the HTTPServer's xheaders, else the setting
    http_server = getattr(srv, "_squall_http", None)
    xheaders = XHeaders.of(http_server, app.settings)
    route = _WSRoute(app, spec, xheaders, getattr(http_server, "protocol", None) if http_server else None)
    rid = _ROUTES.put(route)
    options, keep = _route_options(app, spec.handler_class)
    st = lib.sq_ws_route(srv._live(), spec.rust_pattern.encode(), byref(_SERVER_CALLBACKS), byref(options), rid)
    if st < 0:
        _ROUTES.pop(rid)
        raise ValueError("websocket route %r: %s" % (spec.pattern, _ffi.SquallError(st)))
    srv._keep.append((route, options, keep))


# --- the client ------------------------------------------------------------------

class WebSocketClientConnection(_SocketMixin):
    """A client WebSocket: ``read_message()``, ``write_message()``,
    ``close()``, ``ping()``; or pass ``on_message_callback`` to
    ``websocket_connect``."""

    def __init__(self, on_message_callback: Optional[Callable[[Union[None, str, bytes]], Any]] = None) -> None:
        self._init_socket()
        self._on_message_callback = on_message_callback
        self._connect_future: asyncio.Future[WebSocketClientConnection] = asyncio.get_event_loop().create_future()
        self._messages: list[Union[None, str, bytes]] = []
        self._readers: list[asyncio.Future[Union[None, str, bytes]]] = []
        self._closed_flag = False
        # the protocol object once connected; None again after close()
        self.protocol: Optional[WebSocketProtocol] = None
        # the headers of the server's 101, once connected (Tornado's)
        self.headers: Optional[HTTPHeaders] = None
        self.stream: Optional[_ClientStream] = None

    def _opened(self, ws: int) -> None:
        self._ws = ws
        self.protocol = WebSocketProtocol13(self)
        self.stream = _ClientStream(self)
        headers = HTTPHeaders()
        name, value = sq_str(), sq_str()
        i = 0
        while lib.sq_ws_response_header(ws, i, byref(name), byref(value)) == b.SQ_OK:
            headers.add(string_at(name.ptr, name.len).decode("latin-1"), string_at(value.ptr, value.len).decode("latin-1"))
            i += 1
        self.headers = headers
        if not self._connect_future.done():
            self._connect_future.set_result(self)

    def _failed(self, status: int, message: str) -> None:
        if self._connect_future.done():
            return
        if status == b.SQ_ERR_CONNECT:
            exc: Exception = ConnectionRefusedError(message)
        elif status == b.SQ_ERR_TIMEOUT:
            exc = asyncio.TimeoutError(message)
        elif status == b.SQ_ERR_RESOLVE:
            exc = OSError(message)
        else:
            exc = WebSocketError(message or str(_ffi.SquallError(status)))
            m = re.search(r"answered (\d{3})\b", message or "")
            if m:
                # a refused handshake is an HTTP error with its status, as in Tornado
                exc = _handshake_refused(int(m.group(1)), message)
        self._connect_future.set_exception(exc)

    def close(self, code: Optional[int] = None, reason: Optional[str] = None) -> None:
        """Starts the closing handshake (1000 by default)."""
        super().close(code, reason)
        self.protocol = None

    def on_ping(self, data: bytes) -> None:
        """Called when the server pings (squall has already answered)."""

    def on_pong(self, data: bytes) -> None:
        """Called when a pong arrives (for a ``ping()``)."""

    def _deliver(self, msg: Union[str, bytes]) -> Any:
        if self._on_message_callback is not None:
            return self._on_message_callback(msg)
        if self._readers:
            self._readers.pop(0).set_result(msg)
        else:
            self._messages.append(msg)
        return None

    def _closed(self, code: int, reason: str) -> None:
        self.close_code = code
        self.close_reason = reason
        self._ws = None
        self._closed_flag = True
        self._fail_waiters()
        if self._on_message_callback is not None:
            self._guard(self._on_message_callback, None)
        for r in self._readers:
            if not r.done():
                r.set_result(None)
        self._readers = []
        if not self._connect_future.done():
            self._connect_future.set_exception(WebSocketClosedError())

    def read_message(self, callback: Optional[Callable[[Any], Any]] = None) -> "asyncio.Future[Union[None, str, bytes]]":
        """The next message; ``None`` once the connection is closed."""
        fut: asyncio.Future[Union[None, str, bytes]] = asyncio.get_event_loop().create_future()
        if self._messages:
            fut.set_result(self._messages.pop(0))
        elif self._closed_flag:
            fut.set_result(None)
        else:
            self._readers.append(fut)
        if callback is not None:
            fut.add_done_callback(lambda f: callback(f))
        return fut


class _ClientStream:
    """A client connection's TCP stream (Tornado's ``ws.stream``), as far
    as squall's WebSocket client has one in Python: ``close()`` tears the
    connection down at once, with no close frame (``sq_ws_abort``; the
    connection then ends with 1006)."""

    def __init__(self, conn: "WebSocketClientConnection") -> None:
        self._conn = conn
        self._closed = False

    def close(self, exc_info: Any = False) -> None:
        if self._closed:
            return
        self._closed = True
        ws = self._conn._ws
        if ws is not None:
            lib.sq_ws_abort(ws)

    def closed(self) -> bool:
        return self._closed or self._conn._ws is None


def websocket_connect(url: Any, callback: Optional[Callable[[Any], Any]] = None, connect_timeout: Optional[float] = None,
                      on_message_callback: Optional[Callable[[Any], Any]] = None, compression_options: Any = None,
                      ping_interval: Optional[float] = None, ping_timeout: Optional[float] = None,
                      max_message_size: int = 10 * 1024 * 1024, subprotocols: Optional[list[str]] = None,
                      headers: Optional[dict[str, str]] = None, ca_file: Optional[str] = None,
                      resolver: Any = None) -> "asyncio.Future[WebSocketClientConnection]":
    """Connects to ``url`` (ws:// or wss://, or an ``HTTPRequest`` with
    ``url`` and ``headers``); returns a future of the connection."""
    no_verify = False
    if not isinstance(url, str):
        req = url
        url = req.url
        headers = dict(getattr(req, "headers", None) or {}) or headers
        connect_timeout = connect_timeout or getattr(req, "connect_timeout", None)
        ca_file = ca_file or getattr(req, "ca_certs", None)
        # Tornado's validate_cert=False: any certificate (handshake still signed)
        no_verify = getattr(req, "validate_cert", None) is False
    loop = IOLoop.current()
    assert loop is not None
    conn = WebSocketClientConnection(on_message_callback)
    o = sq_ws_options()
    _ffi.check(lib.sq_ws_options_init(byref(o), sizeof(o)))
    o.max_message_size = int(max_message_size)
    if ping_interval:
        o.ping_interval_ms = int(ping_interval * 1000)
    if ping_timeout:
        o.pong_timeout_ms = int(ping_timeout * 1000)
    if connect_timeout:
        o.connect_timeout_ms = max(1, int(connect_timeout * 1000))
    if compression_options is not None:
        # Tornado's meaning: None offers nothing, a dict offers
        # permessage-deflate (its level and mem_level are not used);
        # squall's addition: "client_no_context_takeover": True offers that
        # too (each message compressed on its own)
        o.compression = b.SQ_WS_COMPRESSION_SHARED
        if dict(compression_options).get("client_no_context_takeover"):
            o.compression_client_no_context_takeover = 1
    keep = []
    if subprotocols:
        sp = ",".join(subprotocols).encode()
        keep.append(sp)
        o.subprotocols = sp
    if headers:
        for k, v in headers.items():
            if any(c in str(k) + str(v) for c in "\r\n\0"):
                raise ValueError("header %r has a CR, LF or NUL" % k)
        hb = "\r\n".join(f"{k}: {v}" for k, v in headers.items()).encode("latin-1")
        keep.append(hb)
        o.headers = hb
    if no_verify:
        o.flags |= b.SQ_WS_NO_VERIFY
    elif ca_file:
        cb = str(ca_file).encode()
        keep.append(cb)
        o.ca_file = cb
    conn._ud = _SOCKETS.put(conn)
    st = lib.sq_ws_connect(loop._loop_ptr(), url.encode(), byref(_CLIENT_CALLBACKS), byref(o), conn._ud)
    if st < 0:
        _SOCKETS.pop(conn._ud)
        if st == b.SQ_ERR_INVALID_ARG:
            raise ValueError("bad WebSocket URL %r: %s" % (url, _ffi.SquallError(st)))
        raise WebSocketError(str(_ffi.SquallError(st)))
    fut = conn._connect_future
    if callback is not None:
        fut.add_done_callback(callback)
    return fut
