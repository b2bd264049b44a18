package squall

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"runtime"
	"runtime/cgo"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// Transport is an http.RoundTripper whose requests squall's HTTP client
// (sq_fetch) makes: Rust resolves, connects, speaks TLS, writes the request
// and parses the response, on a reactor thread of the Transport's own
// squall loop; Go sees the response head, then its body as it arrives.
//
//	c := &http.Client{Transport: &squall.Transport{}}
//
// The zero value is ready to use. As with http.Transport, Transports should
// be reused: each holds a loop (one reactor thread and the goroutine that
// drains it, locked to its OS thread) and its pool of keep-alive
// connections, from the first request until Close.
//
// It keeps net/http's semantics where squall can honour them:
//   - Redirects are not followed: http.Client follows them (CheckRedirect).
//   - Response.Body streams: reading stops (squall stops reading the
//     socket) while more than 1 MiB waits unread, and goes on below 256 KiB.
//   - Request.Body streams to the server as it is read (chunked when
//     ContentLength is not known), with backpressure; a body whose Read
//     fails makes RoundTrip (or the response body) fail with that error
//     and the request is abandoned, never sent as if complete. Bodies of at
//     most 64 KiB with a known ContentLength are read first and sent whole.
//   - Request.Context cancels the request at any point: before the head it
//     makes RoundTrip return the context's error; while the body streams,
//     Read returns it. Closing Response.Body before its end abandons the
//     connection.
//   - Compression: unless DisableCompression or the request sets its own
//     Accept-Encoding, squall asks for "gzip, deflate" and decompresses;
//     the Response then has Uncompressed set, no Content-Encoding or
//     Content-Length, and ContentLength -1 — as net/http does for gzip.
//   - A header name that is not a token, a value holding CR, LF or NUL, a
//     malformed or non-http(s) URL: RoundTrip fails before anything is sent.
//
// What does not map: proxies (Proxy, ProxyConnectHeader), DialContext and
// DialTLSContext (squall dials in Rust), HTTP/2 (ForceAttemptHTTP2,
// TLSNextProto: squall's client speaks HTTP/1.1), MaxIdleConns and
// MaxIdleConnsPerHost (squall keeps idle connections until IdleConnTimeout,
// or closes one when the total cap needs room), MaxResponseHeaderBytes,
// Response.TLS.PeerCertificates and VerifiedChains (not reported by the C
// API), httptrace hooks (none is called: the connection is Rust's), and
// TLSClientConfig beyond what Transport says below.
type Transport struct {
	// MaxConnsPerHost caps the connections per origin (scheme, host, port);
	// requests beyond wait for one. Zero: only the total cap (MaxConns).
	MaxConnsPerHost int
	// MaxConns caps the Transport's connections in all (squall's
	// max_clients). Zero: 100, or MaxConnsPerHost if larger.
	MaxConns int
	// IdleConnTimeout closes a keep-alive connection idle this long.
	// Zero: squall's default, 30 s.
	IdleConnTimeout time.Duration
	// ResponseHeaderTimeout, when non-zero, bounds the wait for the
	// response head, measured from the start of RoundTrip (squall reports
	// no "request written" moment, so connecting counts too). Past it
	// RoundTrip fails with an error whose Timeout() is true.
	ResponseHeaderTimeout time.Duration
	// ConnectTimeout bounds resolving, connecting and the TLS handshake of
	// a new connection. Zero: 30 s (net/http's dialer default).
	ConnectTimeout time.Duration
	// DisableCompression: send no Accept-Encoding of squall's own and hand
	// back bodies as they came.
	DisableCompression bool
	// MaxResponseBytes caps a response body (squall fails the body past
	// it). Zero: no cap.
	MaxResponseBytes int64
	// TLSClientConfig: squall verifies certificates in Rust (rustls), so only
	// a nil config, or one whose only settings are ServerName-less defaults,
	// is accepted; RootCAs (an x509.CertPool cannot be read back) and
	// InsecureSkipVerify make RoundTrip fail with an error saying so. Trust a
	// private CA with RootCAFile instead.
	TLSClientConfig *tls.Config
	// RootCAFile is a PEM file of the CA certificates to trust for https
	// instead of the built-in webpki roots (sq_fetch_request_set_ca_file;
	// read once per path and process).
	RootCAFile string

	once sync.Once
	err  error // from starting the loop

	mu     sync.RWMutex // held (read) around every use of lp.ptr off the loop goroutine
	lp     *loop
	closed bool
	done   chan struct{} // the loop goroutine returned

	fmu      sync.Mutex
	inflight map[*fetch]struct{}
}

// Bytes of response body waiting unread above which squall stops reading a
// fetch's socket, and below which it goes on.
const (
	bodyHighWater = 1 << 20
	bodyLowWater  = 256 << 10
	// smallBody: request bodies up to this size, of known length, are read
	// before the request goes and sent in one piece.
	smallBody = 64 << 10
)

// start creates and runs the loop, once.
func (t *Transport) start() error {
	t.once.Do(func() {
		if err := checkABI(); err != nil {
			t.err = err
			return
		}
		l, err := newLoop(1)
		if err != nil {
			t.err = err
			return
		}
		perHost := max(t.MaxConnsPerHost, 0)
		total := t.MaxConns
		if total <= 0 {
			total = max(100, perHost)
		}
		idle := uint64(30000)
		if t.IdleConnTimeout > 0 {
			idle = uint64(max(t.IdleConnTimeout.Milliseconds(), 1))
		}
		if err := call("setting the pool limits", func() C.sq_status {
			return C.sq_fetch_set_limits(l.ptr, C.uint32_t(total), C.uint32_t(perHost), C.uint64_t(idle))
		}); err != nil {
			l.free()
			t.err = err
			return
		}
		l.dispatch = t.dispatch
		t.mu.Lock()
		t.lp = l
		t.done = make(chan struct{})
		t.mu.Unlock()
		go func() {
			defer close(t.done)
			if err := l.run(); err != nil {
				t.fmu.Lock()
				pending := t.inflight
				t.inflight = nil
				t.fmu.Unlock()
				for f := range pending {
					f.end(err)
				}
			}
		}()
	})
	return t.err
}

// Close stops the Transport's loop and closes its connections; requests in
// flight fail with ErrClosed. The Transport cannot be used afterwards.
func (t *Transport) Close() error {
	t.once.Do(func() { t.err = ErrClosed })
	t.mu.Lock()
	if t.lp == nil || t.closed {
		t.closed = true
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	l := t.lp
	t.mu.Unlock()
	l.stop()
	<-t.done
	t.mu.Lock()
	l.free()
	t.mu.Unlock()
	t.fmu.Lock()
	pending := t.inflight
	t.inflight = nil
	t.fmu.Unlock()
	for f := range pending {
		f.end(ErrClosed)
	}
	return nil
}

// withLoop runs f with the loop pointer, unless the Transport is closed.
func (t *Transport) withLoop(f func(l *C.sq_loop) C.sq_status) C.sq_status {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.closed || t.lp == nil || t.lp.ptr == nil {
		return C.SQ_ERR_CLOSED
	}
	return f(t.lp.ptr)
}

// fetch is one RoundTrip between its start and squall's final callback.
type fetch struct {
	t   *Transport
	id  C.uint64_t
	h   cgo.Handle
	req *http.Request

	head    chan struct{} // closed when resp is set or the fetch ended without one
	resp    *http.Response
	drain   chan struct{} // cap 1: the request body's queue went low
	over    chan struct{} // closed when the fetch ended
	stopCtx func() bool   // stops the context's AfterFunc
	timer   *time.Timer   // ResponseHeaderTimeout

	mu         sync.Mutex
	chunks     [][]byte
	buffered   int
	paused     bool
	finished   bool
	err        error // why the fetch ended, when it failed
	cause      error // why it was cancelled from this side (context, timeout, body)
	userClosed bool
	headDone   bool
	readable   chan struct{} // cap 1
}

// headerTimeoutError is ResponseHeaderTimeout's error (a net.Error).
type headerTimeoutError struct{}

func (headerTimeoutError) Error() string   { return "squall: timeout awaiting response headers" }
func (headerTimeoutError) Timeout() bool   { return true }
func (headerTimeoutError) Temporary() bool { return true }

// RoundTrip sends req and returns its response once the head has arrived;
// the body streams from Response.Body.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := req.Context().Err(); err != nil { // nothing is started, as with net/http
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	creq, streamed, err := t.build(req)
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	f := &fetch{t: t, req: req, head: make(chan struct{}), drain: make(chan struct{}, 1),
		over: make(chan struct{}), readable: make(chan struct{}, 1)}
	f.id = C.sq_fetch_request_id(creq)
	f.h = newHandle(f)
	t.fmu.Lock()
	if t.inflight == nil {
		t.inflight = map[*fetch]struct{}{}
	}
	t.inflight[f] = struct{}{}
	t.fmu.Unlock()
	st := t.withLoop(func(l *C.sq_loop) C.sq_status { return C.sqgo_fetch(l, creq, C.uintptr_t(f.h)) })
	if st != C.SQ_OK {
		if st == C.SQ_ERR_CLOSED {
			C.sq_fetch_request_free(creq) // not taken: the loop was gone
		}
		t.fmu.Lock()
		delete(t.inflight, f)
		t.fmu.Unlock()
		deleteHandle(f.h)
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, statusError("starting the fetch", st)
	}
	// Watched only once the fetch is on its way: a cancel sent before it
	// would find nothing to cancel.
	ctx := req.Context()
	f.mu.Lock()
	if !f.finished {
		f.stopCtx = context.AfterFunc(ctx, func() { f.cancel(ctx.Err()) })
		if t.ResponseHeaderTimeout > 0 {
			f.timer = time.AfterFunc(t.ResponseHeaderTimeout, func() {
				f.mu.Lock()
				late := f.headDone
				f.mu.Unlock()
				if !late {
					f.cancel(headerTimeoutError{})
				}
			})
		}
	}
	f.mu.Unlock()
	if streamed {
		go f.upload(req.Body)
	}
	<-f.head
	f.mu.Lock()
	if f.timer != nil {
		f.timer.Stop()
	}
	f.mu.Unlock()
	if f.resp == nil {
		f.mu.Lock()
		err := f.err
		f.mu.Unlock()
		return nil, err
	}
	return f.resp, nil
}

// validHeaderName: an HTTP token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}

// build checks req and makes squall's request. Nothing is sent on error.
func (t *Transport) build(req *http.Request) (creq *C.sq_fetch_request, streamed bool, err error) {
	u := req.URL
	if u == nil {
		return nil, false, errors.New("squall: nil Request.URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, false, fmt.Errorf("squall: unsupported protocol scheme %q", u.Scheme)
	}
	if u.Host == "" {
		return nil, false, errors.New("squall: no Host in request URL")
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	if !validHeaderName(method) {
		return nil, false, fmt.Errorf("squall: invalid method %q", method)
	}
	if u.Scheme == "https" && t.TLSClientConfig != nil {
		c := t.TLSClientConfig
		if c.RootCAs != nil {
			return nil, false, errors.New("squall: TLSClientConfig.RootCAs cannot be read back from an x509.CertPool; set Transport.RootCAFile (PEM) instead")
		}
		if c.InsecureSkipVerify || c.Certificates != nil || c.GetClientCertificate != nil || c.VerifyPeerCertificate != nil {
			return nil, false, errors.New("squall: TLSClientConfig: only the defaults are supported (no InsecureSkipVerify, client certificates or custom verification)")
		}
	}
	// The headers, as "name\0value\0" pairs; each refused here when bad.
	var hdrs []byte
	nh := 0
	add := func(name, value string) error {
		if !validHeaderName(name) {
			return fmt.Errorf("squall: invalid header field name %q", name)
		}
		if strings.ContainsAny(value, "\r\n\x00") {
			return fmt.Errorf("squall: invalid header field value for %q (CR, LF or NUL)", name)
		}
		hdrs = append(hdrs, name...)
		hdrs = append(hdrs, 0)
		hdrs = append(hdrs, value...)
		hdrs = append(hdrs, 0)
		nh++
		return nil
	}
	host := req.Host
	if host == "" {
		host = u.Host
	}
	if err := add("Host", host); err != nil {
		return nil, false, err
	}
	ownEncoding := false
	for name, values := range req.Header {
		switch textproto.CanonicalMIMEHeaderKey(name) {
		case "Host", "Content-Length", "Transfer-Encoding":
			continue // squall's (Host: from req.Host, as net/http does)
		case "Accept-Encoding", "Range":
			ownEncoding = true // as net/http: no transparent gzip then
		}
		for _, v := range values {
			if err := add(name, v); err != nil {
				return nil, false, err
			}
		}
	}
	if req.Close {
		if err := add("Connection", "close"); err != nil {
			return nil, false, err
		}
	}
	if u.User != nil && req.Header.Get("Authorization") == "" {
		pw, _ := u.User.Password()
		auth := base64.StdEncoding.EncodeToString([]byte(u.User.Username() + ":" + pw))
		if err := add("Authorization", "Basic "+auth); err != nil {
			return nil, false, err
		}
	}
	target := *u
	target.User = nil
	target.Fragment, target.RawFragment = "", ""
	// A small body of known length is read now (its error comes before
	// anything is sent); any other one streams.
	var small []byte
	hasBody := req.Body != nil && req.Body != http.NoBody
	if hasBody && req.ContentLength > 0 && req.ContentLength <= smallBody {
		small = make([]byte, req.ContentLength)
		n, err := io.ReadFull(req.Body, small)
		if err != nil && !(errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)) {
			return nil, false, fmt.Errorf("squall: reading the request body: %w", err)
		}
		if n != len(small) {
			return nil, false, fmt.Errorf("squall: http: ContentLength=%d with Body length %d", req.ContentLength, n)
		}
		req.Body.Close()
		hasBody = false
	}
	if err := t.start(); err != nil {
		return nil, false, err
	}
	runtime.LockOSThread() // sq_last_error is per thread
	defer runtime.UnlockOSThread()
	cm, cu := cstr(method), cstr(target.String())
	creq = C.sq_fetch_request_new((*C.char)(unsafe.Pointer(&cm[0])), (*C.char)(unsafe.Pointer(&cu[0])))
	if creq == nil {
		return nil, false, &Error{Op: "building the request", Code: int(C.SQ_ERR_INVALID_ARG), Message: C.GoString(C.sq_last_error())}
	}
	fail := func(op string, st C.sq_status) error {
		msg := C.GoString(C.sq_last_error())
		C.sq_fetch_request_free(creq)
		return &Error{Op: op, Code: int(st), Message: msg}
	}
	if nh > 0 {
		if st := C.sqgo_fetch_headers(creq, (*C.char)(unsafe.Pointer(&hdrs[0])), C.size_t(nh)); st != C.SQ_OK {
			return nil, false, fail("setting a header", st)
		}
	}
	connect := t.ConnectTimeout
	if connect <= 0 {
		connect = 30 * time.Second
	}
	C.sq_fetch_request_set_timeouts(creq, C.uint64_t(max(connect.Milliseconds(), 1)), 0)
	C.sq_fetch_request_set_max_redirects(creq, 0)
	maxBody := uint64(1) << 62
	if t.MaxResponseBytes > 0 {
		maxBody = uint64(t.MaxResponseBytes)
	}
	decompress := C.int(0)
	if !t.DisableCompression && !ownEncoding && method != http.MethodHead {
		decompress = 1
	}
	C.sq_fetch_request_set_decompress(creq, decompress, C.uint64_t(maxBody))
	C.sq_fetch_request_set_max_body(creq, C.uint64_t(maxBody))
	if t.RootCAFile != "" && u.Scheme == "https" {
		p := cstr(t.RootCAFile)
		if st := C.sq_fetch_request_set_ca_file(creq, (*C.char)(unsafe.Pointer(&p[0]))); st != C.SQ_OK {
			return nil, false, fail("reading RootCAFile", st)
		}
	}
	switch {
	case small != nil:
		C.sq_fetch_request_set_body(creq, unsafe.Pointer(&small[0]), C.size_t(len(small)))
	case hasBody:
		length := int64(-1)
		if req.ContentLength > 0 {
			length = req.ContentLength
		}
		C.sq_fetch_request_stream_body(creq, C.int64_t(length))
		streamed = true
	}
	return creq, streamed, nil
}

// cancel abandons the fetch from any goroutine, with cause as its error
// (unless it already ended).
func (f *fetch) cancel(cause error) {
	f.mu.Lock()
	if f.finished || f.cause != nil {
		f.mu.Unlock()
		return
	}
	f.cause = cause
	f.mu.Unlock()
	f.t.withLoop(func(l *C.sq_loop) C.sq_status { return C.sq_fetch_cancel(l, f.id) })
}

// upload streams the request body, with squall's backpressure.
func (f *fetch) upload(body io.ReadCloser) {
	defer body.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := body.Read(buf)
		if n > 0 {
			st := f.t.withLoop(func(l *C.sq_loop) C.sq_status {
				return C.sq_fetch_body_write(l, f.id, unsafe.Pointer(&buf[0]), C.size_t(n))
			})
			switch st {
			case C.SQ_OK:
			case C.SQ_BACKPRESSURE:
				select {
				case <-f.drain:
				case <-f.over:
					return
				}
			case C.SQ_ERR_CLOSED, C.SQ_ERR_ALREADY_DONE:
				return // the fetch is over (answered early, or cancelled)
			case C.SQ_ERR_INVALID_ARG:
				f.cancel(fmt.Errorf("squall: http: ContentLength=%d with a longer Body", f.req.ContentLength))
				return
			default:
				f.cancel(statusError("writing the request body", st))
				return
			}
		}
		if errors.Is(err, io.EOF) {
			st := f.t.withLoop(func(l *C.sq_loop) C.sq_status { return C.sq_fetch_body_finish(l, f.id) })
			if st == C.SQ_ERR_INVALID_ARG {
				f.cancel(fmt.Errorf("squall: http: ContentLength=%d with a shorter Body", f.req.ContentLength))
			}
			return
		}
		if err != nil {
			f.cancel(fmt.Errorf("squall: reading the request body: %w", err))
			return
		}
	}
}

// dispatch handles the fetch events of a batch, on the loop's goroutine.
func (t *Transport) dispatch(ev *C.sqgo_event, arena []byte) {
	h := cgo.Handle(ev.ud)
	f, ok := h.Value().(*fetch)
	if !ok {
		return
	}
	switch ev.kind {
	case C.SQGO_FETCH_HEAD:
		f.onHead(int(ev.arg), arena[ev.off:ev.off+ev.len])
	case C.SQGO_FETCH_CHUNK:
		if ev.arg < 0 {
			f.mu.Lock()
			f.cause = errors.New("squall: a piece of the response body was lost (out of memory)")
			f.mu.Unlock()
			C.sq_fetch_cancel(t.lp.ptr, f.id)
			return
		}
		f.onChunk(arena[ev.off : ev.off+ev.len])
	case C.SQGO_FETCH_DRAIN:
		select {
		case f.drain <- struct{}{}:
		default:
		}
	case C.SQGO_FETCH_DONE:
		var err error
		if st := C.sq_status(ev.arg); st != C.SQ_OK {
			err = &Error{Op: "fetch " + f.req.URL.Redacted(), Code: int(st), Message: string(arena[ev.off : ev.off+ev.len])}
		}
		t.fmu.Lock()
		delete(t.inflight, f)
		t.fmu.Unlock()
		f.end(err)
	}
}

// onHead makes the Response from the packed head.
func (f *fetch) onHead(status int, b []byte) {
	field := func() string {
		if len(b) < 4 {
			return ""
		}
		n := int(binary.NativeEndian.Uint32(b))
		if len(b) < 4+n {
			b = nil
			return ""
		}
		s := string(b[4 : 4+n])
		b = b[4+n:]
		return s
	}
	word := func() uint32 {
		if len(b) < 4 {
			return 0
		}
		v := binary.NativeEndian.Uint32(b)
		b = b[4:]
		return v
	}
	reason := field()
	version, suite := word(), word()
	serverName, alpn := field(), field()
	n := int(word())
	hdr := make(http.Header, n)
	for i := 0; i < n && len(b) > 0; i++ {
		name, value := field(), field()
		key := textproto.CanonicalMIMEHeaderKey(name)
		hdr[key] = append(hdr[key], value)
	}
	if reason == "" {
		reason = http.StatusText(status)
	}
	resp := &http.Response{
		Status:        strconv.Itoa(status) + " " + reason,
		StatusCode:    status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        hdr,
		Body:          &fetchBody{f: f},
		ContentLength: -1,
		Request:       f.req,
	}
	if _, ok := hdr["X-Consumed-Content-Encoding"]; ok {
		// squall decompressed the body and renamed the header, as Tornado
		// does; net/http drops both headers instead.
		delete(hdr, "X-Consumed-Content-Encoding")
		delete(hdr, "Content-Length")
		resp.Uncompressed = true
	} else if cl := hdr.Get("Content-Length"); cl != "" {
		if v, err := strconv.ParseInt(strings.TrimSpace(cl), 10, 64); err == nil && v >= 0 {
			resp.ContentLength = v
		}
	}
	if status == http.StatusNoContent || status == http.StatusNotModified || f.req.Method == http.MethodHead {
		if f.req.Method != http.MethodHead {
			resp.ContentLength = 0
		}
	}
	if c := hdr.Get("Connection"); strings.EqualFold(strings.TrimSpace(c), "close") {
		resp.Close = true
	}
	if te := hdr["Transfer-Encoding"]; len(te) > 0 {
		resp.TransferEncoding = te
		delete(hdr, "Transfer-Encoding")
	}
	if version != 0 {
		resp.TLS = &tls.ConnectionState{
			Version:            uint16(version),
			CipherSuite:        uint16(suite),
			ServerName:         serverName,
			NegotiatedProtocol: alpn,
			HandshakeComplete:  true,
		}
	}
	f.mu.Lock()
	f.resp = resp
	f.headDone = true
	f.mu.Unlock()
	close(f.head)
}

func (f *fetch) signal() {
	select {
	case f.readable <- struct{}{}:
	default:
	}
}

// onChunk queues a piece of the body (copied: the arena is reused) and
// pauses squall's reading while the reader is far behind.
func (f *fetch) onChunk(data []byte) {
	f.mu.Lock()
	if f.userClosed {
		f.mu.Unlock()
		return
	}
	f.chunks = append(f.chunks, append([]byte(nil), data...))
	f.buffered += len(data)
	if !f.paused && f.buffered > bodyHighWater {
		f.paused = true
		// Under the lock, as the resume in Read: squall follows the last
		// of the two it gets, so they must reach it in this order.
		C.sq_fetch_pause_reading(f.t.lp.ptr, f.id)
	}
	f.mu.Unlock()
	f.signal()
}

// end records the fetch's end (once): err is squall's failure or nil; a
// cancel from this side reports its own cause instead.
func (f *fetch) end(err error) {
	f.mu.Lock()
	if f.finished {
		f.mu.Unlock()
		return
	}
	f.finished = true
	if f.cause != nil && err != nil {
		err = f.cause
	} else if f.headDone && errors.Is(err, ErrClosed) {
		// The server left mid-body: net/http's error for it.
		err = fmt.Errorf("%w: %v", io.ErrUnexpectedEOF, err)
	}
	f.err = err
	head := f.headDone
	if !head && err == nil {
		f.err = errors.New("squall: the fetch ended without a response")
	}
	f.headDone = true
	stopCtx, timer := f.stopCtx, f.timer
	f.mu.Unlock()
	// First: whoever the channels below wake may count the handles.
	deleteHandle(f.h)
	if stopCtx != nil {
		stopCtx()
	}
	if timer != nil {
		timer.Stop()
	}
	close(f.over)
	if !head {
		close(f.head)
	}
	f.signal()
}

// fetchBody is Response.Body: the pieces squall handed over, in order.
type fetchBody struct {
	f *fetch
}

func (b *fetchBody) Read(p []byte) (int, error) {
	f := b.f
	for {
		f.mu.Lock()
		if f.userClosed {
			f.mu.Unlock()
			return 0, errors.New("squall: read on closed response body")
		}
		if len(f.chunks) > 0 {
			n := 0
			for n < len(p) && len(f.chunks) > 0 {
				c := copy(p[n:], f.chunks[0])
				n += c
				if c == len(f.chunks[0]) {
					f.chunks[0] = nil
					f.chunks = f.chunks[1:]
				} else {
					f.chunks[0] = f.chunks[0][c:]
				}
			}
			f.buffered -= n
			if f.paused && f.buffered < bodyLowWater && !f.finished {
				f.paused = false
				f.t.withLoop(func(l *C.sq_loop) C.sq_status { return C.sq_fetch_resume_reading(l, f.id) })
			}
			f.mu.Unlock()
			return n, nil
		}
		if f.finished {
			err := f.err
			f.mu.Unlock()
			if err == nil {
				return 0, io.EOF
			}
			return 0, err
		}
		f.mu.Unlock()
		<-f.readable
	}
}

// Close abandons what is left of the body (the connection is then closed
// rather than reused, unless the body had ended).
func (b *fetchBody) Close() error {
	f := b.f
	f.mu.Lock()
	if f.userClosed {
		f.mu.Unlock()
		return nil
	}
	f.userClosed = true
	f.chunks, f.buffered = nil, 0
	finished := f.finished
	if !finished && f.cause == nil {
		f.cause = errors.New("squall: response body closed")
	}
	f.mu.Unlock()
	if !finished {
		f.t.withLoop(func(l *C.sq_loop) C.sq_status { return C.sq_fetch_cancel(l, f.id) })
	}
	f.signal()
	return nil
}
