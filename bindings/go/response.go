package squall

/*
#include "shim.h"
*/
import "C"

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// flushAt is the buffered body size past which Write sends what it has
// (chunked) instead of growing the buffer.
const flushAt = 1 << 20

// response is the http.ResponseWriter of one request; it also owns the
// request's squall handle until the response is finished.
type response struct {
	srv     *Server
	req     uint64         // squall's request handle
	head    []byte         // the packed request head (Go memory, immutable)
	body    unsafe.Pointer // the request body in squall's memory, valid until done
	bodyLen int

	mu          sync.Mutex // guards everything below (Write from another goroutine, body reads)
	done        bool       // finished: the handle is stale and body gone
	header      http.Header
	status      int
	wroteHeader bool
	block       []byte // the header snapshot: "name\0value\0" pairs
	nblock      int
	hasType     bool
	flushed     bool // the head went out: the body is streamed
	buf         []byte
	gone        bool // the client left
	method      string
	ctx         requestContext
	watching    bool // registered for the client's leaving
}

// parseHead decodes the shim's packed head (method, target, remote IP, peer
// port and HTTP minor version, headers). The strings share b's memory, which
// is never written again.
func parseHead(b []byte) (method, target, ip string, port uint16, minor int, h http.Header, ok bool) {
	field := func() (string, bool) {
		if len(b) < 4 {
			return "", false
		}
		n := int(binary.NativeEndian.Uint32(b))
		if len(b) < 4+n {
			return "", false
		}
		s := unsafe.String(unsafe.SliceData(b[4:]), n)
		b = b[4+n:]
		return s, true
	}
	var ok1, ok2, ok3 bool
	method, ok1 = field()
	target, ok2 = field()
	ip, ok3 = field()
	if !ok1 || !ok2 || !ok3 || len(b) < 8 {
		return
	}
	peer := binary.NativeEndian.Uint32(b)
	port, minor = uint16(peer), int(peer>>16&0xff)
	b = b[4:]
	n := int(binary.NativeEndian.Uint32(b))
	b = b[4:]
	h = make(http.Header, n)
	for i := 0; i < n; i++ {
		name, ok1 := field()
		value, ok2 := field()
		if !ok1 || !ok2 {
			return
		}
		key := textproto.CanonicalMIMEHeaderKey(name)
		h[key] = append(h[key], value)
	}
	ok = true
	return
}

// protos are the request versions the server speaks, by minor version.
var protos = [2]string{"HTTP/1.0", "HTTP/1.1"}

// newRequest builds the *http.Request of a packed head, with ctx (nil:
// context.Background). The first copy stays on the stack: WithContext's is
// the only one on the heap.
func newRequest(head []byte, ctx context.Context) (*http.Request, error) {
	method, target, ip, port, minor, h, ok := parseHead(head)
	if !ok {
		return nil, errors.New("malformed request head")
	}
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return nil, err
	}
	r := http.Request{
		Method:     method,
		URL:        u,
		Proto:      protos[minor&1],
		ProtoMajor: 1,
		ProtoMinor: minor,
		Header:     h,
		RequestURI: target,
		RemoteAddr: net.JoinHostPort(ip, strconv.Itoa(int(port))),
		Body:       http.NoBody,
	}
	if hosts, ok := h["Host"]; ok {
		r.Host = hosts[0]
		delete(h, "Host")
	}
	if c := h["Connection"]; len(c) > 0 && strings.EqualFold(c[0], "close") {
		r.Close = true
	}
	if te := h["Transfer-Encoding"]; len(te) > 0 {
		r.TransferEncoding = te
	}
	if ctx == nil {
		ctx = context.Background()
	}
	return r.WithContext(ctx), nil
}

// serve runs the handler on this goroutine, then finishes the response.
func (w *response) serve() {
	w.ctx.w = w
	r, err := newRequest(w.head, &w.ctx)
	if err != nil {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
		msg := []byte("400 Bad Request: " + err.Error())
		C.sqgo_respond(C.uint64_t(w.req), 400, nil, 0, bytesPtr(msg), C.size_t(len(msg)))
		return
	}
	w.method = r.Method
	if w.srv.tlsOn {
		r.TLS = tlsState(w.req)
	}
	if w.bodyLen > 0 {
		r.Body = &requestBody{w: w}
		r.ContentLength = int64(w.bodyLen)
	}
	defer func() {
		if p := recover(); p != nil {
			if p != http.ErrAbortHandler {
				stack := make([]byte, 64<<10)
				stack = stack[:runtime.Stack(stack, false)]
				w.srv.logf("squall: panic serving %s %s: %v\n%s", r.Method, r.RequestURI, p, stack)
			}
			w.fail()
		}
		w.finish()
		w.ctx.cancel(context.Canceled)
	}()
	handler := w.srv.Handler
	if handler == nil {
		handler = http.DefaultServeMux
	}
	handler.ServeHTTP(w, r)
}

// Header is the response's header map; changes after WriteHeader (or the
// first Write) have no effect, as with net/http.
func (w *response) Header() http.Header {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.header == nil {
		w.header = make(http.Header)
	}
	return w.header
}

// WriteHeader sends the status with the header (when the body is
// complete, or at the first Flush). 1xx statuses are not sent.
func (w *response) WriteHeader(code int) {
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writeHeaderLocked(code)
}

func (w *response) writeHeaderLocked(code int) {
	if w.wroteHeader || w.done {
		if !w.done {
			w.srv.logf("squall: superfluous response.WriteHeader call (status %d after %d)", code, w.status)
		}
		return
	}
	if code < 200 {
		return // informational responses are not sent
	}
	w.wroteHeader = true
	w.status = code
	w.snapshot()
}

// snapshot encodes the header map as the shim's "name\0value\0" pairs,
// dropping invalid names and turning CR, LF and NUL in values into spaces,
// as net/http does with CR and LF.
func (w *response) snapshot() {
	if w.block == nil {
		w.block = getBuf()
	}
	w.block = w.block[:0]
	w.nblock = 0
	for k, vs := range w.header {
		if !validName(k) {
			continue
		}
		if k == "Content-Type" {
			w.hasType = true
		}
		for _, v := range vs {
			w.block = append(w.block, k...)
			w.block = append(w.block, 0)
			for i := 0; i < len(v); i++ {
				c := v[i]
				if c == '\r' || c == '\n' || c == 0 {
					c = ' '
				}
				w.block = append(w.block, c)
			}
			w.block = append(w.block, 0)
			w.nblock++
		}
	}
}

func validName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}

func bodyAllowed(status int) bool {
	return status != 204 && status != 304 && status >= 200
}

// Write appends to the body; past 1 MiB what was written is sent (the
// response is then chunked).
func (w *response) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return 0, http.ErrHandlerTimeout
	}
	if !w.wroteHeader {
		w.writeHeaderLocked(http.StatusOK)
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if w.gone {
		return 0, ErrClosed
	}
	if w.buf == nil {
		w.buf = getBuf()
	}
	w.buf = append(w.buf, p...)
	if len(w.buf) >= flushAt {
		if err := w.flushLocked(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// WriteString is Write for a string, without a copy to a []byte first.
func (w *response) WriteString(s string) (int, error) {
	return w.Write(unsafe.Slice(unsafe.StringData(s), len(s)))
}

// addType adds a sniffed Content-Type when the handler set none and there
// is a body (net/http's rule).
func (w *response) addType() {
	if w.hasType || len(w.buf) == 0 || !bodyAllowed(w.status) {
		return
	}
	w.block = append(w.block, "Content-Type\x00"...)
	w.block = append(w.block, http.DetectContentType(w.buf)...)
	w.block = append(w.block, 0)
	w.nblock++
	w.hasType = true
}

func (w *response) flushLocked() error {
	if w.done {
		return ErrClosed
	}
	if !w.wroteHeader {
		w.writeHeaderLocked(http.StatusOK)
	}
	req := C.uint64_t(w.req)
	if !w.flushed {
		w.addType()
		w.flushed = true
		if st := C.sqgo_response_head(req, C.int(w.status), blockPtr(w.block), C.size_t(w.nblock)); st != C.SQ_OK {
			return w.failed(st)
		}
	}
	st := C.sqgo_response_write(req, bytesPtr(w.buf), C.size_t(len(w.buf)), 1)
	w.buf = w.buf[:0]
	return w.failed(st)
}

func (w *response) failed(st C.sq_status) error {
	if st == C.SQ_ERR_CLOSED {
		w.gone = true
	}
	return statusError("response", st)
}

func blockPtr(b []byte) *C.char {
	if len(b) == 0 {
		return nil
	}
	return (*C.char)(unsafe.Pointer(&b[0]))
}

// Flush sends the head (first time) and the body written so far
// (http.Flusher).
func (w *response) Flush() { w.FlushError() }

// FlushError is Flush that reports a client gone (for http.ResponseController).
func (w *response) FlushError() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushLocked()
}

// fail answers 500 after a panic, unless the head went out already.
func (w *response) fail() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.flushed || w.done {
		return
	}
	w.header = http.Header{"Content-Type": {"text/plain; charset=utf-8"}, "X-Content-Type-Options": {"nosniff"}}
	w.wroteHeader = false
	w.buf = append(w.buf[:0], "Internal Server Error\n"...)
	w.writeHeaderLocked(http.StatusInternalServerError)
}

// finish completes the response: the handle is released and the request
// body gone from here on. The answer itself is handed to the server's
// flusher, which sends the answers of many handlers in one batch.
func (w *response) finish() {
	w.mu.Lock()
	if w.done {
		w.mu.Unlock()
		return
	}
	if !w.wroteHeader {
		w.writeHeaderLocked(http.StatusOK)
	}
	if !w.flushed {
		w.addType()
	}
	w.done = true
	w.body = nil
	watching := w.watching
	w.mu.Unlock()
	w.srv.queueAnswer(w)
	if watching {
		w.srv.inflight.Delete(w.req)
	}
}

// bufPool recycles response bodies and header blocks once squall has
// copied them (a handler writing after its response finished gets an error
// and never touches them again).
var bufPool = sync.Pool{New: func() any { return new([]byte) }}

func getBuf() []byte { return (*bufPool.Get().(*[]byte))[:0] }

func putBuf(b []byte) {
	if cap(b) == 0 || cap(b) > 64<<10 {
		return
	}
	b = b[:0]
	bufPool.Put(&b)
}

// send passes a finished response to squall (on the flusher's thread,
// inside a batch), then recycles its buffers.
func (w *response) send() {
	defer w.recycle()
	req := C.uint64_t(w.req)
	if !w.flushed {
		C.sqgo_respond(req, C.int(w.status), blockPtr(w.block), C.size_t(w.nblock), bytesPtr(w.buf), C.size_t(len(w.buf)))
	} else {
		if len(w.buf) > 0 {
			C.sqgo_response_write(req, bytesPtr(w.buf), C.size_t(len(w.buf)), 0)
		}
		C.sqgo_response_finish(req)
	}
}

func (w *response) recycle() {
	putBuf(w.buf)
	putBuf(w.block)
	w.buf, w.block = nil, nil
}

// watch asks squall to report the client leaving (once the handler looks
// at the request's context).
func (w *response) watch() {
	w.mu.Lock()
	if w.done || w.watching {
		w.mu.Unlock()
		return
	}
	w.watching = true
	w.srv.inflight.Store(w.req, w)
	st := C.sqgo_request_on_close(C.uint64_t(w.req))
	w.mu.Unlock()
	if st != C.SQ_OK {
		w.srv.inflight.Delete(w.req)
		w.clientGone()
	}
}

func (w *response) clientGone() {
	w.mu.Lock()
	w.gone = true
	w.mu.Unlock()
	w.ctx.cancel(context.Canceled)
}

// requestBody reads the request body from squall's memory; it fails once
// the response is finished (the memory is then gone).
type requestBody struct {
	w   *response
	off int
}

func (b *requestBody) Read(p []byte) (int, error) {
	w := b.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return 0, http.ErrBodyReadAfterClose
	}
	if b.off >= w.bodyLen {
		return 0, io.EOF
	}
	n := copy(p, unsafe.Slice((*byte)(w.body), w.bodyLen)[b.off:])
	b.off += n
	return n, nil
}

func (b *requestBody) Close() error { return nil }

// requestContext is a request's context: cancelled when the client leaves
// or the handler returns. The client is watched only once Done is asked
// for, so handlers that never look cost squall nothing.
type requestContext struct {
	w    *response
	mu   sync.Mutex
	done chan struct{}
	err  error
}

func (c *requestContext) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c *requestContext) Value(key any) any           { return nil }

func (c *requestContext) Done() <-chan struct{} {
	c.mu.Lock()
	if c.done == nil {
		c.done = make(chan struct{})
		if c.err != nil {
			close(c.done)
			c.mu.Unlock()
			return c.done
		}
		c.mu.Unlock()
		c.w.watch()
		return c.done
	}
	d := c.done
	c.mu.Unlock()
	return d
}

func (c *requestContext) Err() error {
	c.Done() // a handler polling Err must see the client leave too
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *requestContext) cancel(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	c.err = err
	if c.done != nil {
		close(c.done)
	}
}

func (c *requestContext) String() string { return "squall.requestContext" }

var _ http.Flusher = (*response)(nil)
var _ io.StringWriter = (*response)(nil)
