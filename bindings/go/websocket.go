package squall

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"errors"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// MessageType is a WebSocket message's type (gorilla/websocket's values).
type MessageType int

const (
	TextMessage   MessageType = 1 // UTF-8 text
	BinaryMessage MessageType = 2 // bytes
)

// Close codes (RFC 6455 §7.4.1).
const (
	CloseNormalClosure   = 1000
	CloseGoingAway       = 1001
	CloseProtocolError   = 1002
	CloseNoStatus        = 1005
	CloseAbnormal        = 1006
	CloseInvalidPayload  = 1007
	ClosePolicyViolation = 1008
	CloseMessageTooBig   = 1009
	CloseInternalError   = 1011
)

// WebSocketHandler receives the events of the sockets of a route. The
// calls for one socket come one at a time, in order (OnOpen first, OnClose
// last), on a goroutine; different sockets are served in parallel. A
// panic in a call closes that socket with 1011; the server goes on.
//
// squall reads every socket in Rust, so a socket costs no goroutine while
// it waits: this is why the package gives callbacks rather than a
// blocking ReadMessage (sending, Conn.WriteMessage, works from anywhere).
// A handler may also implement OnDrain(*Conn), OnPing(*Conn, []byte) and
// OnPong(*Conn, []byte).
type WebSocketHandler interface {
	OnOpen(c *Conn)
	// OnMessage gets a whole message; data is the handler's to keep.
	OnMessage(c *Conn, typ MessageType, data []byte)
	// OnClose: the socket is closed; code is the peer's close code (1005
	// when it gave none), the code squall sent after a protocol error,
	// 1001 after an idle timeout or a shutdown, 1006 when the connection
	// ended without a close frame.
	OnClose(c *Conn, code int, reason string)
}

// WebSocketFuncs is a WebSocketHandler made of functions; nil ones are skipped.
type WebSocketFuncs struct {
	Open    func(c *Conn)
	Message func(c *Conn, typ MessageType, data []byte)
	Close   func(c *Conn, code int, reason string)
	Drain   func(c *Conn)
}

// OnOpen calls f.Open, if set.
func (f WebSocketFuncs) OnOpen(c *Conn) {
	if f.Open != nil {
		f.Open(c)
	}
}

// OnMessage calls f.Message, if set.
func (f WebSocketFuncs) OnMessage(c *Conn, typ MessageType, data []byte) {
	if f.Message != nil {
		f.Message(c, typ, data)
	}
}

// OnClose calls f.Close, if set.
func (f WebSocketFuncs) OnClose(c *Conn, code int, reason string) {
	if f.Close != nil {
		f.Close(c, code, reason)
	}
}

// OnDrain calls f.Drain, if set.
func (f WebSocketFuncs) OnDrain(c *Conn) {
	if f.Drain != nil {
		f.Drain(c)
	}
}

// WebSocketOptions are a route's limits and keep-alive; zero values keep
// squall's defaults.
type WebSocketOptions struct {
	// MaxMessageSize: a bigger message closes the socket with 1009
	// (default 16 MiB).
	MaxMessageSize int64
	// HighWater: buffered output above which WriteMessage returns
	// ErrBackpressure (default 256 KiB).
	HighWater int
	// MaxBackpressure: buffered output above which a message is dropped
	// (ErrDropped), or the socket closed with CloseOnLimit (default 4 MiB).
	MaxBackpressure int
	CloseOnLimit    bool
	// PingInterval sends a ping this often; a socket whose pong has not
	// come PongTimeout later (default: the interval) is closed.
	PingInterval time.Duration
	PongTimeout  time.Duration
	// IdleTimeout closes (1001) a socket that sent nothing for this long.
	IdleTimeout time.Duration
	// Subprotocols the route speaks; the handshake picks the first one the
	// client offers that is in this list.
	Subprotocols []string
	// CheckOrigin decides whether a handshake is accepted (false: 403). It
	// runs on the host goroutine, so it must be quick. nil accepts
	// same-origin requests and requests without an Origin header.
	CheckOrigin func(r *http.Request) bool
	// Compression accepts permessage-deflate (RFC 7692) when the client
	// offers it, in squall's shared mode: no context takeover either way,
	// each message compressed on its own, no compression state held by an
	// idle socket. A message that does not shrink is sent uncompressed.
	Compression bool
	// CompressionDedicated (with Compression) runs the dedicated mode
	// instead: context takeover both ways (unless the client asks for
	// none), a compressor and an inflater per socket, so repeated content
	// compresses across messages at a memory cost per socket. Its
	// compressor's window (CompressionWindowBits, 9..15, default 15),
	// memory level (CompressionMemLevel, 1..9, default 8) and level
	// (CompressionLevel, 1..9, default 6; zero means the default) follow.
	CompressionDedicated  bool
	CompressionWindowBits int
	CompressionMemLevel   int
	CompressionLevel      int
	// CompressionClientNoContextTakeover puts client_no_context_takeover in
	// the negotiation. Dial (with Compression): the offer carries it, the
	// client compresses each message afresh, and a server that takes only
	// such offers accepts this one. A route in dedicated mode: every answer
	// carries it, so clients compress each message afresh and the socket
	// keeps no inflater of its own (its compressor alone).
	CompressionClientNoContextTakeover bool
}

type wsRoute struct {
	pattern string
	h       WebSocketHandler
	opts    WebSocketOptions

	// A Dial's own route (nil for a server's): where the outcome of the
	// handshake goes, and whether Dial gave up waiting for it.
	dial      chan dialResult
	abandoned atomic.Bool
}

// HandleWebSocket upgrades GET requests whose path matches pattern (a
// regular expression matched against the whole path, like "/ws/[a-z]+")
// and hands their sockets to h. WebSocket routes are matched before the
// Handler. Call before serving.
func (s *Server) HandleWebSocket(pattern string, h WebSocketHandler, opts *WebSocketOptions) error {
	if h == nil {
		return errors.New("squall: HandleWebSocket with a nil handler")
	}
	r := &wsRoute{pattern: pattern, h: h}
	if opts != nil {
		r.opts = *opts
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("squall: HandleWebSocket after the server started")
	}
	s.wsRoutes = append(s.wsRoutes, r)
	return nil
}

func (r *wsRoute) register(s *Server) error {
	var o C.sq_ws_options
	free := r.fillOptions(&o)
	defer free()
	h := newHandle(r)
	s.handles = append(s.handles, h)
	pattern := C.CString(r.pattern)
	defer C.free(unsafe.Pointer(pattern))
	check := C.int(0)
	if r.opts.CheckOrigin != nil {
		check = 1
	}
	return call("WebSocket route "+r.pattern, func() C.sq_status {
		return C.sqgo_ws_route(s.srv, pattern, &o, C.uintptr_t(h), check)
	})
}

// fillOptions sets o from the route's options (squall's defaults for the
// zero ones); free releases the C strings it made, after the C call.
func (r *wsRoute) fillOptions(o *C.sq_ws_options) (free func()) {
	free = func() {}
	C.sq_ws_options_init(o, C.size_t(unsafe.Sizeof(*o)))
	if r.opts.MaxMessageSize > 0 {
		o.max_message_size = C.size_t(r.opts.MaxMessageSize)
	}
	if r.opts.HighWater > 0 {
		o.high_water = C.size_t(r.opts.HighWater)
	}
	if r.opts.MaxBackpressure > 0 {
		o.max_backpressure = C.size_t(r.opts.MaxBackpressure)
	}
	if r.opts.PingInterval > 0 {
		o.ping_interval_ms = ms(r.opts.PingInterval)
	}
	if r.opts.PongTimeout > 0 {
		o.pong_timeout_ms = ms(r.opts.PongTimeout)
	}
	if r.opts.IdleTimeout > 0 {
		o.idle_timeout_ms = ms(r.opts.IdleTimeout)
	}
	if r.opts.CloseOnLimit {
		o.flags |= C.SQ_WS_CLOSE_ON_LIMIT
	}
	if r.opts.Compression {
		o.compression = C.SQ_WS_COMPRESSION_SHARED
		if r.opts.CompressionDedicated {
			o.compression = C.SQ_WS_COMPRESSION_DEDICATED
		}
		if r.opts.CompressionWindowBits != 0 {
			o.compression_window_bits = C.uint64_t(r.opts.CompressionWindowBits)
		}
		if r.opts.CompressionMemLevel != 0 {
			o.compression_mem_level = C.uint64_t(r.opts.CompressionMemLevel)
		}
		if r.opts.CompressionLevel != 0 {
			o.compression_level = C.uint64_t(r.opts.CompressionLevel)
		}
		if r.opts.CompressionClientNoContextTakeover {
			o.compression_client_no_context_takeover = 1
		}
	}
	if len(r.opts.Subprotocols) > 0 {
		p := C.CString(strings.Join(r.opts.Subprotocols, ","))
		o.subprotocols = p
		free = func() { C.free(unsafe.Pointer(p)) }
	}
	return free
}

// Conn is an open WebSocket. Its methods may be called from any goroutine.
type Conn struct {
	h     uint64 // squall's handle
	srv   *Server
	route *wsRoute
	req   *http.Request

	mu      sync.Mutex
	queue   []connEvent
	queued  int  // what queue holds, by eventCost
	held    bool // reading paused because queue is over the flow's high mark
	running bool
	closed  atomic.Bool

	// Data is the handler's own, for whatever it keeps per socket.
	Data any
}

const (
	evOpen = iota
	evMessage
	evClose
	evDrain
	evPing
	evPong
)

type connEvent struct {
	kind int
	typ  MessageType
	code int
	data []byte
}

// The socket's own flow control: squall counts an event as taken once the
// pump has copied it, so the queue in front of the handler's goroutine is
// bounded here, by the core's rule (bytes plus 1 KiB per event) and the
// server's flow limits: reading pauses above FlowHighWater (1 MiB) and
// resumes under FlowLowWater (256 KiB).

func eventCost(ev *connEvent) int { return len(ev.data) + 1024 }

func (s *Server) dispatchWS(ev *C.sqgo_event, arena []byte) {
	handle := uint64(ev.handle)
	var data []byte
	if ev.len > 0 {
		data = make([]byte, int(ev.len))
		copy(data, arena[ev.off:ev.off+ev.len])
	}
	if ev.kind == C.SQGO_WS_OPEN {
		route := cgoValue(ev.ud).(*wsRoute)
		c := &Conn{h: handle, srv: s, route: route}
		if ev.arg&1 != 0 {
			c.req, _ = newRequest(data, nil)
		}
		if c.req != nil && ev.arg&2 != 0 {
			c.req.TLS = tlsFromArena(arena[ev.body_len:])
		}
		s.conns[handle] = c
		c.enqueue(connEvent{kind: evOpen})
		return
	}
	c := s.conns[handle]
	if c == nil {
		return
	}
	switch ev.kind {
	case C.SQGO_WS_MESSAGE:
		if data == nil {
			data = []byte{}
		}
		c.enqueue(connEvent{kind: evMessage, typ: MessageType(ev.arg), data: data})
	case C.SQGO_WS_CLOSE:
		delete(s.conns, handle)
		c.enqueue(connEvent{kind: evClose, code: int(ev.arg), data: data})
	case C.SQGO_WS_DRAIN:
		c.enqueue(connEvent{kind: evDrain})
	case C.SQGO_WS_PING:
		c.enqueue(connEvent{kind: evPing, data: data})
	case C.SQGO_WS_PONG:
		c.enqueue(connEvent{kind: evPong, data: data})
	}
}

// enqueue hands an event to the socket's goroutine, starting one when none
// runs: a socket with nothing to deliver holds no goroutine.
func (c *Conn) enqueue(ev connEvent) {
	if ev.kind == evClose {
		c.closed.Store(true)
	}
	c.mu.Lock()
	c.queue = append(c.queue, ev)
	c.queued += eventCost(&ev)
	high, _ := c.srv.flowMarks()
	hold := !c.held && c.queued > high && ev.kind != evClose
	c.held = c.held || hold
	start := !c.running
	c.running = true
	if hold {
		// under the lock: the core follows the last of pause and resume
		C.sqgo_ws_pause_reading(C.uint64_t(c.h))
	}
	c.mu.Unlock()
	if start {
		go c.deliver()
	}
}

func (c *Conn) deliver() {
	for {
		c.mu.Lock()
		if len(c.queue) == 0 {
			c.running = false
			c.queue = nil
			c.mu.Unlock()
			return
		}
		ev := c.queue[0]
		c.queue[0] = connEvent{}
		c.queue = c.queue[1:]
		c.queued -= eventCost(&ev)
		if _, low := c.srv.flowMarks(); c.held && c.queued < low {
			c.held = false
			C.sqgo_ws_resume_reading(C.uint64_t(c.h))
		}
		c.mu.Unlock()
		c.call(ev)
	}
}

// call runs one handler method; a panic closes the socket with 1011.
func (c *Conn) call(ev connEvent) {
	defer func() {
		if p := recover(); p != nil {
			stack := make([]byte, 32<<10)
			stack = stack[:runtime.Stack(stack, false)]
			c.srv.logf("squall: panic in WebSocket handler (%s): %v\n%s", c.route.pattern, p, stack)
			if ev.kind != evClose {
				c.Close(CloseInternalError, "internal error")
			}
		}
	}()
	h := c.route.h
	switch ev.kind {
	case evOpen:
		h.OnOpen(c)
	case evMessage:
		h.OnMessage(c, ev.typ, ev.data)
	case evClose:
		h.OnClose(c, ev.code, string(ev.data))
	case evDrain:
		if d, ok := h.(interface{ OnDrain(*Conn) }); ok {
			d.OnDrain(c)
		}
	case evPing:
		if d, ok := h.(interface{ OnPing(*Conn, []byte) }); ok {
			d.OnPing(c, ev.data)
		}
	case evPong:
		if d, ok := h.(interface{ OnPong(*Conn, []byte) }); ok {
			d.OnPong(c, ev.data)
		}
	}
}

// WriteMessage sends a message (text must be valid UTF-8): nil when it was
// queued; ErrBackpressure when it was queued but the socket is slow (its
// buffered output is over HighWater: wait for OnDrain before sending much
// more); ErrDropped when it was not queued (over MaxBackpressure);
// ErrClosed when the socket is closing or closed. The data is copied
// before WriteMessage returns.
func (c *Conn) WriteMessage(typ MessageType, data []byte) error {
	if c.closed.Load() {
		return ErrClosed
	}
	return statusError("WebSocket send", C.sqgo_ws_send(C.uint64_t(c.h), bytesPtr(data), C.size_t(len(data)), C.int(typ)))
}

// WriteMessageUncompressed sends a message never compressed, whatever the
// socket negotiated: for a secret sent next to data an attacker chooses,
// whose compressed size would let them guess it (CRIME, BREACH).
func (c *Conn) WriteMessageUncompressed(typ MessageType, data []byte) error {
	if c.closed.Load() {
		return ErrClosed
	}
	return statusError("WebSocket send", C.sqgo_ws_send_ex(C.uint64_t(c.h), bytesPtr(data), C.size_t(len(data)), C.int(typ), C.SQ_WS_SEND_NO_COMPRESS))
}

// WriteText sends a text message.
func (c *Conn) WriteText(s string) error {
	return c.WriteMessage(TextMessage, unsafe.Slice(unsafe.StringData(s), len(s)))
}

// Close starts the closing handshake with code (1000–1003, 1007–1014,
// 3000–4999) and reason (at most 123 bytes of UTF-8); OnClose follows when
// the peer answered.
func (c *Conn) Close(code int, reason string) error {
	r := cstr(reason)
	return statusError("WebSocket close", C.sqgo_ws_close(C.uint64_t(c.h), C.uint16_t(code), (*C.char)(unsafe.Pointer(&r[0]))))
}

// Ping sends a ping with up to 125 bytes of data.
func (c *Conn) Ping(data []byte) error {
	return statusError("WebSocket ping", C.sqgo_ws_ping(C.uint64_t(c.h), bytesPtr(data), C.size_t(len(data))))
}

// Subscribe adds the socket to topic: Server.Publish(topic, …) reaches it
// from then on, until Unsubscribe or its end.
func (c *Conn) Subscribe(topic string) error {
	t := cstr(topic)
	return statusError("subscribe", C.sqgo_ws_subscribe(C.uint64_t(c.h), (*C.char)(unsafe.Pointer(&t[0])), 1))
}

// Unsubscribe removes the socket from topic.
func (c *Conn) Unsubscribe(topic string) error {
	t := cstr(topic)
	return statusError("unsubscribe", C.sqgo_ws_subscribe(C.uint64_t(c.h), (*C.char)(unsafe.Pointer(&t[0])), 0))
}

// BufferedAmount is the number of bytes queued for the socket and not yet written.
func (c *Conn) BufferedAmount() int { return int(C.sqgo_ws_buffered_amount(C.uint64_t(c.h))) }

// Subprotocol is the subprotocol chosen in the handshake ("" for none).
func (c *Conn) Subprotocol() string {
	var s C.sq_str
	if C.sqgo_ws_subprotocol(C.uint64_t(c.h), &s) != C.SQ_OK {
		return ""
	}
	return C.GoStringN(s.ptr, C.int(s.len))
}

// Request is the upgrade request (headers, URL, RemoteAddr).
func (c *Conn) Request() *http.Request { return c.req }

// Server is the server the socket belongs to (for Publish); nil for a
// socket opened with Dial.
func (c *Conn) Server() *Server {
	if c.route.dial != nil {
		return nil
	}
	return c.srv
}
