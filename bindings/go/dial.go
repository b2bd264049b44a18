package squall

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"runtime/cgo"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// DialOptions are a dialed WebSocket's settings; zero values keep squall's
// defaults.
type DialOptions struct {
	// The socket's limits and keep-alive, as for a route; Subprotocols are
	// the ones offered, in order of preference. CheckOrigin is not used.
	WebSocketOptions
	// Header holds extra handshake headers (Origin, Authorization, …).
	Header http.Header
	// RootCAFile: a PEM file of the CA certificates to trust for wss://
	// instead of the built-in webpki roots.
	RootCAFile string
	// HandshakeTimeout bounds resolving, connecting, TLS and the handshake
	// (default 20 s).
	HandshakeTimeout time.Duration
}

type dialResult struct {
	c   *Conn
	err error
}

// dialer runs the loop of every dialed socket: one reactor thread and its
// host goroutine, made on the first Dial and kept for the process (as
// net/http's DefaultTransport is).
type dialer struct {
	once sync.Once
	err  error
	srv  *Server // holds the sockets' table and flow marks; never serves
}

var defaultDialer dialer

func (d *dialer) start() error {
	d.once.Do(func() {
		if err := checkABI(); err != nil {
			d.err = err
			return
		}
		l, err := newLoop(1)
		if err != nil {
			d.err = err
			return
		}
		d.srv = &Server{loop: l, conns: map[uint64]*Conn{}}
		l.dispatch = d.dispatch
		go func() {
			if err := l.run(); err != nil {
				d.srv.logf("squall: the WebSocket dialer's loop stopped: %v", err)
			}
		}()
	})
	return d.err
}

// Dial opens a WebSocket to rawURL (ws:// or wss://) through squall's
// client (sq_ws_connect) and hands it to h, with the same Conn and handler
// interface as a server's sockets: OnOpen, then OnMessage in order, then
// OnClose, on a goroutine of the socket's; every Conn method works from any
// goroutine. Dial returns once the handshake is done (the Conn, also given
// to OnOpen) or failed (an *Error: Code says how — SQ_ERR_CONNECT,
// SQ_ERR_TLS, SQ_ERR_PROTOCOL for a refused handshake, SQ_ERR_TIMEOUT — and
// no handler method is called). When ctx ends first Dial returns its
// error, and a handshake that completes later is closed with 1001 without
// reaching h. Redirects are not followed; topics (Subscribe) are a server's.
func Dial(ctx context.Context, rawURL string, h WebSocketHandler, opts *DialOptions) (*Conn, error) {
	if h == nil {
		return nil, errors.New("squall: Dial with a nil handler")
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "ws" && u.Scheme != "wss" {
		return nil, errors.New("squall: Dial: the URL's scheme must be ws or wss")
	}
	var o DialOptions
	if opts != nil {
		o = *opts
	}
	var hdr strings.Builder
	for name, values := range o.Header {
		if !validHeaderName(name) {
			return nil, errors.New("squall: Dial: invalid header name " + name)
		}
		for _, v := range values {
			if strings.ContainsAny(v, "\r\n\x00") {
				return nil, errors.New("squall: Dial: the value of header " + name + " holds CR, LF or NUL")
			}
			hdr.WriteString(name + ": " + v + "\r\n")
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := defaultDialer.start(); err != nil {
		return nil, err
	}
	r := &wsRoute{pattern: u.Redacted(), h: h, opts: o.WebSocketOptions, dial: make(chan dialResult, 1)}
	var co C.sq_ws_options
	free := r.fillOptions(&co)
	defer free()
	if o.HandshakeTimeout > 0 {
		co.connect_timeout_ms = C.uint64_t(max(o.HandshakeTimeout.Milliseconds(), 1))
	}
	if hdr.Len() > 0 {
		ch := C.CString(hdr.String())
		defer C.free(unsafe.Pointer(ch))
		co.headers = ch
	}
	if o.RootCAFile != "" {
		ca := C.CString(o.RootCAFile)
		defer C.free(unsafe.Pointer(ca))
		co.ca_file = ca
	}
	cu := C.CString(rawURL)
	defer C.free(unsafe.Pointer(cu))
	handle := newHandle(r)
	if err := call("WebSocket dial "+r.pattern, func() C.sq_status {
		return C.sqgo_ws_connect(defaultDialer.srv.loop.ptr, cu, &co, C.uintptr_t(handle))
	}); err != nil {
		deleteHandle(handle)
		return nil, err
	}
	select {
	case res := <-r.dial:
		return res.c, res.err
	case <-ctx.Done():
		r.abandoned.Store(true)
		select { // the handshake may have just finished
		case res := <-r.dial:
			if res.c != nil {
				res.c.Close(CloseGoingAway, "")
			}
		default:
		}
		return nil, ctx.Err()
	}
}

// dispatch handles the events of dialed sockets, on the dialer's loop
// goroutine; a dial's route handle is released with its socket's end.
func (d *dialer) dispatch(ev *C.sqgo_event, arena []byte) {
	switch ev.kind {
	case C.SQGO_WS_CONNECT_ERROR:
		r := cgoValue(ev.ud).(*wsRoute)
		msg := string(arena[ev.off : ev.off+ev.len])
		deleteHandle(cgo.Handle(ev.ud)) // before Dial wakes (and may count handles)
		r.dial <- dialResult{err: &Error{Op: "WebSocket dial " + r.pattern, Code: int(ev.arg), Message: msg}}
	case C.SQGO_WS_OPEN:
		r := cgoValue(ev.ud).(*wsRoute)
		if r.abandoned.Load() {
			C.sqgo_ws_close(C.uint64_t(ev.handle), CloseGoingAway, nil)
			return // its close event releases the handle; h never sees it
		}
		d.srv.dispatchWS(ev, arena)
		r.dial <- dialResult{c: d.srv.conns[uint64(ev.handle)]}
	case C.SQGO_WS_CLOSE:
		deleteHandle(cgo.Handle(ev.ud)) // before OnClose can run
		d.srv.dispatchWS(ev, arena)
	default:
		d.srv.dispatchWS(ev, arena)
	}
}
