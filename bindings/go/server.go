package squall

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/cgo"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// HostReactor as Server.IOThreads runs squall's reactor on the host
// goroutine's thread instead of a thread of its own.
const HostReactor = -1

// Server serves HTTP/1.1 and WebSockets through squall. Its fields mirror
// net/http.Server's; set them before ListenAndServe or Serve. A zero limit
// keeps squall's default.
type Server struct {
	// Addr is "host:port" for ListenAndServe (":8080" listens on every IPv4
	// address; an empty Addr means ":http").
	Addr string
	// Handler answers every request that no WebSocket route took
	// (http.DefaultServeMux when nil).
	Handler http.Handler

	// ReadHeaderTimeout bounds the arrival of a request head (squall's
	// default: 10 s); past it the client gets 408 (a connection that sent
	// nothing at all is closed without one).
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds the arrival of a request body after its head
	// (default 60 s).
	ReadTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle this long, and new ones
	// that send nothing for this long when it is shorter than
	// ReadHeaderTimeout (default 75 s).
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request head (default 64 KiB; at least 256);
	// a larger one gets 431.
	MaxHeaderBytes int
	// MaxBodyBytes bounds a request body (default 64 MiB); a larger one
	// gets 413 before the handler runs. Bodies are collected whole before
	// the handler is called.
	MaxBodyBytes int64
	// MaxConnections bounds open connections (default 100000).
	MaxConnections int
	// FlowHighWater and FlowLowWater are the flow limits of each
	// connection (sq_server_set_flow_limits): reading pauses while more
	// than FlowHighWater waits — bytes plus 1 KiB per event: WebSocket
	// messages queued for their handler, request bodies in flight,
	// output the peer has not read — and resumes under FlowLowWater.
	// Defaults 1 MiB and 256 KiB; zero keeps a default, and a
	// FlowHighWater alone gets a quarter of it as FlowLowWater.
	FlowHighWater int
	FlowLowWater  int
	// SendTimeout is how long a peer may read none of the output waiting
	// for it before its connection is closed (sq_server_set_send_timeout_ms;
	// a WebSocket's handler sees close code 1008). Zero: squall's default,
	// 60 s; negative: no limit.
	SendTimeout time.Duration
	// IOThreads is the number of reactor threads doing the I/O: 0 means
	// the default (1), HostReactor runs the reactor on the host goroutine.
	IOThreads int
	// ErrorLog receives handler panics and other errors (the standard
	// logger when nil).
	ErrorLog *log.Logger
	// TLSConfig, for ServeTLS and ListenAndServeTLS: squall's TLS runs in
	// Rust, so only what it can honour is taken: Certificates (the first
	// is the default, the others are chosen by SNI) and MinVersion
	// (TLS 1.2 or 1.3). GetCertificate, GetConfigForClient, client
	// certificates and a MaxVersion below TLS 1.3 are refused with an error.
	TLSConfig *tls.Config
	// Cluster, when set ("redis://[[user]:password@]host[:port][/db][?options]",
	// or rediss:// for TLS, docs/DEPLOYMENT.md), makes the server's topics
	// span every process joined to the same Redis: Publish delivers
	// locally first, then through Redis. A URL that does not parse makes Serve fail.
	Cluster string
	// OnClusterState hears the cluster's state changes: "connected",
	// "lost", "resynced", and "gap" (messages of another process were
	// missed). Called in order on the goroutine that runs the loop: it must
	// return quickly.
	OnClusterState func(state string)

	mu        sync.RWMutex
	started   bool // a Serve began
	closed    bool // Shutdown or Close was called
	loop      *loop
	srv       *C.sq_server
	cluster   *C.sq_cluster
	handles   []cgo.Handle // routes, released with the server
	wsRoutes  []*wsRoute
	statics   [][2]string
	tlsOn     bool             // ServeTLS / ListenAndServeTLS
	tlsFiles  [2]string        // their certFile and keyFile ("" when TLSConfig has the certificates)
	conns     map[uint64]*Conn // open WebSockets, host goroutine only
	inflight  sync.Map         // request handle → *response watching its client
	serveDone chan struct{}
	shutdownH cgo.Handle // a shutdown's done callback, until it runs

	workers workers // goroutines that served a request and wait for the next

	outMu     sync.Mutex
	out       []*response   // finished responses waiting for the flusher
	outSpare  []*response   // the flusher's previous batch, reused
	outSignal chan struct{} // wakes the flusher
	outDone   bool          // no flusher: send directly
}

// queueAnswer hands a finished response to the flusher.
func (s *Server) queueAnswer(w *response) {
	s.outMu.Lock()
	if s.outDone || s.outSignal == nil {
		s.outMu.Unlock()
		w.send()
		return
	}
	s.out = append(s.out, w)
	first := len(s.out) == 1
	s.outMu.Unlock()
	if first {
		select {
		case s.outSignal <- struct{}{}:
		default:
		}
	}
}

// flusher sends finished responses in batches: it first yields, so that the
// handlers already runnable finish too, then passes the whole batch to
// squall between sq_batch_begin and sq_batch_end, which costs the reactor
// one wake-up instead of one per response.
func (s *Server) flusher(signal chan struct{}) {
	for range signal {
		runtime.Gosched()
		s.outMu.Lock()
		batch := s.out
		s.out = s.outSpare[:0]
		s.outMu.Unlock()
		runtime.LockOSThread() // the batch belongs to this thread
		C.sq_batch_begin()
		for _, w := range batch {
			w.send()
		}
		C.sq_batch_end()
		runtime.UnlockOSThread()
		clear(batch)
		s.outMu.Lock()
		s.outSpare = batch
		s.outMu.Unlock()
	}
}

// stopFlusher sends what is queued and makes later answers go directly.
func (s *Server) stopFlusher() {
	s.outMu.Lock()
	batch := s.out
	s.out = nil
	s.outDone = true
	if s.outSignal != nil {
		close(s.outSignal)
	}
	s.outMu.Unlock()
	for _, w := range batch {
		w.send()
	}
}

// init creates the loop and server on first use (no thread starts before
// Serve). The caller holds s.mu.
func (s *Server) init() error {
	if s.loop != nil {
		return nil
	}
	if s.closed {
		return ErrServerClosed
	}
	if err := checkABI(); err != nil {
		return err
	}
	threads := s.IOThreads
	switch {
	case threads == 0:
		threads = 1
	case threads < 0:
		threads = 0
	}
	l, err := newLoop(threads)
	if err != nil {
		return err
	}
	s.loop = l
	s.srv = C.sq_server_new(l.ptr)
	s.conns = map[uint64]*Conn{}
	// A server dropped without serving (after AfterFunc made its loop)
	// gives its loop and timers back when collected. Nothing refers back
	// to s from the loop until serve sets dispatch, and a serving server
	// is kept alive by its route handles until Shutdown or Close.
	runtime.SetFinalizer(s, func(s *Server) {
		if !s.started {
			s.release()
		}
	})
	return nil
}

func ms(d time.Duration) C.uint64_t {
	return C.uint64_t(max((d+time.Millisecond-1)/time.Millisecond, 1))
}

// configure applies the limits and registers the routes. Caller holds s.mu.
func (s *Server) configure() error {
	srv := s.srv
	steps := []struct {
		op  string
		set bool
		f   func() C.sq_status
	}{
		{"ReadHeaderTimeout", s.ReadHeaderTimeout > 0, func() C.sq_status { return C.sq_server_set_header_timeout_ms(srv, ms(s.ReadHeaderTimeout)) }},
		{"ReadTimeout", s.ReadTimeout > 0, func() C.sq_status { return C.sq_server_set_body_timeout_ms(srv, ms(s.ReadTimeout)) }},
		{"IdleTimeout", s.IdleTimeout > 0, func() C.sq_status { return C.sq_server_set_idle_timeout_ms(srv, ms(s.IdleTimeout)) }},
		{"MaxHeaderBytes", s.MaxHeaderBytes > 0, func() C.sq_status { return C.sq_server_set_max_header_size(srv, C.size_t(s.MaxHeaderBytes)) }},
		{"MaxBodyBytes", s.MaxBodyBytes > 0, func() C.sq_status { return C.sq_server_set_max_body_size(srv, C.uint64_t(s.MaxBodyBytes)) }},
		{"MaxConnections", s.MaxConnections > 0, func() C.sq_status { return C.sq_server_set_max_connections(srv, C.uint32_t(s.MaxConnections)) }},
		{"SendTimeout", s.SendTimeout != 0, func() C.sq_status {
			if s.SendTimeout < 0 {
				return C.sq_server_set_send_timeout_ms(srv, 0)
			}
			return C.sq_server_set_send_timeout_ms(srv, ms(s.SendTimeout))
		}},
		{"FlowHighWater", s.FlowHighWater != 0 || s.FlowLowWater != 0, func() C.sq_status {
			high, low := s.flowMarks()
			return C.sq_server_set_flow_limits(srv, C.size_t(high), C.size_t(low))
		}},
	}
	for _, st := range steps {
		if st.set {
			if err := call(st.op, st.f); err != nil {
				return err
			}
		}
	}
	if s.tlsOn {
		if err := s.configureTLS(); err != nil {
			return err
		}
	}
	for _, m := range s.statics {
		prefix, dir := C.CString(m[0]), C.CString(m[1])
		err := call("static "+m[0], func() C.sq_status { return C.sq_server_static(srv, prefix, dir) })
		C.free(unsafe.Pointer(prefix))
		C.free(unsafe.Pointer(dir))
		if err != nil {
			return err
		}
	}
	for _, r := range s.wsRoutes {
		if err := r.register(s); err != nil {
			return err
		}
	}
	if s.Cluster != "" {
		if err := s.joinCluster(); err != nil {
			return err
		}
	}
	h := newHandle(s)
	s.handles = append(s.handles, h)
	method, pattern := C.CString("*"), C.CString(".*")
	defer C.free(unsafe.Pointer(method))
	defer C.free(unsafe.Pointer(pattern))
	return call("route", func() C.sq_status { return C.sqgo_route(srv, method, pattern, C.uintptr_t(h)) })
}

// Static serves the files under dir at URLs starting with prefix
// ("/static/"), from squall's reactor (sendfile, ETag, Range): those URLs
// never reach the Handler. Call before serving.
func (s *Server) Static(prefix, dir string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("squall: Static after the server started")
	}
	s.statics = append(s.statics, [2]string{prefix, dir})
	return nil
}

// ListenAndServe listens on s.Addr and serves until Shutdown or Close,
// then returns ErrServerClosed. The calling goroutine becomes the loop's
// host thread (locked to its OS thread while it serves).
func (s *Server) ListenAndServe() error {
	return s.listenAndServe(":http")
}

func (s *Server) listenAndServe(defaultAddr string) error {
	addr := s.Addr
	if addr == "" {
		addr = defaultAddr
	}
	host, portName, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	port, err := strconv.Atoi(portName)
	if err != nil {
		if port, err = net.LookupPort("tcp", portName); err != nil {
			return err
		}
	}
	if host == "" {
		host = "0.0.0.0"
	}
	chost := C.CString(host)
	defer C.free(unsafe.Pointer(chost))
	return s.serve(func() error {
		return call("listen on "+addr, func() C.sq_status { return C.sq_server_listen(s.srv, chost, C.uint16_t(port), nil) })
	})
}

// Serve serves on l until Shutdown or Close, then returns ErrServerClosed.
// l must be a TCP listener (a *net.TCPListener or another listener with a
// SyscallConn): squall takes over a duplicate of its socket and accepts
// from it, and l itself is closed at once. The calling goroutine becomes
// the loop's host thread.
func (s *Server) Serve(l net.Listener) error {
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return ErrServerClosed
	}
	sc, ok := l.(syscall.Conn)
	if !ok {
		return fmt.Errorf("squall: Serve needs a listener with a socket (a *net.TCPListener), not %T", l)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	dup := -1
	var dupErr error
	if err := rc.Control(func(fd uintptr) {
		r, _, errno := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_DUPFD_CLOEXEC, 0)
		if errno != 0 {
			dupErr = os.NewSyscallError("fcntl(F_DUPFD_CLOEXEC)", errno)
		} else {
			dup = int(r)
		}
	}); err != nil {
		return err
	}
	if dupErr != nil {
		return dupErr
	}
	handed := false
	err = s.serve(func() error {
		err := call("serve on "+l.Addr().String(), func() C.sq_status { return C.sq_server_listen_fd(s.srv, C.int32_t(dup), nil) })
		if err != nil {
			return err
		}
		handed = true
		l.Close()
		return nil
	})
	if !handed { // squall never took the duplicate (setup failed first)
		syscall.Close(dup)
	}
	return err
}

// serve sets the server up, binds with listen and runs the host goroutine.
func (s *Server) serve(listen func() error) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrServerClosed
	}
	if s.started {
		s.mu.Unlock()
		return errors.New("squall: the server is already serving")
	}
	if err := s.init(); err != nil {
		s.mu.Unlock()
		return err
	}
	if err := s.configure(); err != nil {
		s.mu.Unlock()
		s.release()
		return err
	}
	if err := listen(); err != nil {
		s.mu.Unlock()
		s.release()
		return err
	}
	s.started = true
	s.loop.dispatch = s.dispatch
	s.serveDone = make(chan struct{})
	s.outMu.Lock()
	s.outSignal = make(chan struct{}, 1)
	go s.flusher(s.outSignal)
	s.outMu.Unlock()
	s.mu.Unlock()

	err := s.loop.run()
	s.stopFlusher()
	s.release()
	close(s.serveDone)
	if err != nil {
		return err
	}
	return ErrServerClosed
}

// release frees the server and loop (on the host goroutine, or before it
// started) and every handle they held.
func (s *Server) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loop == nil {
		return
	}
	C.sq_cluster_free(s.cluster)
	s.cluster = nil
	C.sq_server_free(s.srv)
	s.srv = nil
	s.loop.free()
	s.loop = nil
	for _, h := range s.handles {
		deleteHandle(h)
	}
	s.handles = nil
	if s.shutdownH != 0 {
		deleteHandle(s.shutdownH)
		s.shutdownH = 0
	}
	for _, c := range s.conns { // sockets whose on_close never came
		c.enqueue(connEvent{kind: evClose, code: 1006})
	}
	s.conns = nil
	// Requests whose client-gone report never came (a forced close at the
	// shutdown deadline reports after the loop stopped): with the server
	// gone, their clients are too, and handlers waiting on the context end.
	s.inflight.Range(func(k, v any) bool {
		s.inflight.Delete(k)
		v.(*response).clientGone()
		return true
	})
	s.closed = true
	s.workers.close()
}

// Shutdown stops the server gracefully: it stops accepting, closes idle
// connections, lets requests in flight finish, closes WebSockets with 1001
// (going away), and returns once every connection is closed and the host
// goroutine has stopped. If ctx ends first, whatever is still open is
// closed at once (as Close) and ctx's error is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.started || s.closed || s.srv == nil {
		s.closed = true
		done := s.serveDone
		s.mu.Unlock()
		if done != nil {
			<-done
		}
		return nil
	}
	s.closed = true
	deadline := time.Duration(1<<62 - 1)
	if d, ok := ctx.Deadline(); ok {
		// rounded up: squall's forced close comes no earlier than ctx's end
		deadline = max(time.Until(d)+time.Millisecond-1, time.Millisecond)
	}
	finished := make(chan struct{})
	lp := s.loop
	h := newHandle(func() {
		s.mu.Lock()
		s.shutdownH = 0
		s.mu.Unlock()
		close(finished)
		lp.stop()
	})
	s.shutdownH = h
	st := C.sqgo_server_shutdown(s.srv, C.uint64_t(deadline/time.Millisecond), C.uintptr_t(h))
	if st != C.SQ_OK {
		s.shutdownH = 0
		deleteHandle(h)
		lp.stop()
	}
	done := s.serveDone
	s.mu.Unlock()
	select {
	case <-done:
		// squall closes what is still open at ctx's deadline, so the end
		// can come before ctx.Done is seen: a shutdown that ran into the
		// deadline reports it all the same.
		// (ctx.Err() may still be nil for a moment past the deadline.)
		if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
			return context.DeadlineExceeded
		}
		return nil
	case <-ctx.Done():
		lp.stop()
		<-done
		return ctx.Err()
	}
}

// Close closes the server at once: listeners, connections (WebSockets end
// without a close handshake), requests in flight (their responses fail).
// It returns once the host goroutine has stopped.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	if !s.started {
		s.mu.Unlock()
		s.release()
		return nil
	}
	done := s.serveDone
	if s.loop != nil {
		s.loop.stop()
	}
	s.mu.Unlock()
	<-done
	return nil
}

// AfterFunc runs f on a goroutine of its own after d, timed by the
// server's loop (like time.AfterFunc). It may be called before serving
// starts; the timer then counts from the start. Any goroutine.
func (s *Server) AfterFunc(d time.Duration, f func()) (*Timer, error) {
	s.mu.Lock()
	if err := s.init(); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	l := s.loop
	s.mu.Unlock()
	t, err := l.afterFunc(d, f)
	runtime.KeepAlive(s) // its finalizer frees l
	return t, err
}

// Publish sends a message to every WebSocket subscribed to topic (with
// Conn.Subscribe) on this server: the frame is built once and written by
// the reactors, under each socket's backpressure rules. Any goroutine.
func (s *Server) Publish(topic string, typ MessageType, data []byte) error {
	t := cstr(topic)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.srv == nil || !s.started {
		return ErrNotRunning
	}
	st := C.sq_publish(s.srv, (*C.char)(unsafe.Pointer(&t[0])), bytesPtr(data), C.size_t(len(data)), C.int(typ))
	if st == C.SQ_ERR_LIMIT && s.cluster != nil {
		return ErrClusterOutboxFull
	}
	return statusError("publish", st)
}

// PublishUncompressed is Publish with the message never compressed for
// any subscriber (here or in the cluster's other processes), whatever it
// negotiated: for a secret next to data an attacker chooses (CRIME,
// BREACH). Any goroutine.
func (s *Server) PublishUncompressed(topic string, typ MessageType, data []byte) error {
	t := cstr(topic)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.srv == nil || !s.started {
		return ErrNotRunning
	}
	st := C.sq_publish_ex(s.srv, (*C.char)(unsafe.Pointer(&t[0])), bytesPtr(data), C.size_t(len(data)), C.int(typ), C.SQ_WS_SEND_NO_COMPRESS)
	if st == C.SQ_ERR_LIMIT && s.cluster != nil {
		return ErrClusterOutboxFull
	}
	return statusError("publish", st)
}

var clusterStates = map[C.int]string{0: "connecting", 1: "connected", 2: "lost", 3: "resynced", 4: "gap"}

// joinCluster makes the cluster of s.Cluster and attaches the server (in
// configure, with s.mu held).
func (s *Server) joinCluster() error {
	u := C.CString(s.Cluster)
	defer C.free(unsafe.Pointer(u))
	runtime.LockOSThread()
	c := C.sq_cluster_new(s.loop.ptr, u)
	msg := C.GoString(C.sq_last_error())
	runtime.UnlockOSThread()
	if c == nil {
		return &Error{Op: "cluster", Code: int(C.SQ_ERR_INVALID_ARG), Message: msg}
	}
	s.cluster = c
	if err := call("cluster state callback", func() C.sq_status { return C.sqgo_cluster_on_state(c) }); err != nil {
		return err
	}
	return call("cluster attach", func() C.sq_status { return C.sq_cluster_attach(c, s.srv) })
}

// ClusterState is the cluster's state now: "connecting", "connected",
// "lost" or "resynced"; "" without a cluster (or before Serve).
func (s *Server) ClusterState() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.cluster == nil {
		return ""
	}
	return clusterStates[C.sq_cluster_state(s.cluster)]
}

// ClusterCounter reads a counter of the cluster by name ("published",
// "outbox", "outbox_full", "received", "delivered", "echo", "gaps",
// "repeats", "junk", "oversized", "bad_topic", "reconnects", "subscribed").
func (s *Server) ClusterCounter(name string) (int64, error) {
	n := cstr(name)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.cluster == nil {
		return 0, errors.New("squall: the server has no cluster (or is not serving)")
	}
	v := C.sq_cluster_counter(s.cluster, (*C.char)(unsafe.Pointer(&n[0])))
	if v < 0 {
		return 0, statusError("cluster counter "+name, C.sq_status(v))
	}
	return int64(v), nil
}

// Subscribers is the number of WebSockets subscribed to topic.
func (s *Server) Subscribers(topic string) int {
	t := cstr(topic)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.srv == nil {
		return 0
	}
	return int(C.sq_topic_subscribers(s.srv, (*C.char)(unsafe.Pointer(&t[0]))))
}

func (s *Server) logf(format string, args ...any) {
	if s.ErrorLog != nil {
		s.ErrorLog.Printf(format, args...)
	} else {
		log.Printf(format, args...)
	}
}

// cstr is s NUL-terminated in Go memory (passed to C for one call).
func cstr(s string) []byte {
	b := make([]byte, len(s)+1)
	copy(b, s)
	return b
}

func bytesPtr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

// dispatch handles the request and WebSocket events of a batch, on the
// host goroutine.
func (s *Server) dispatch(ev *C.sqgo_event, arena []byte) {
	switch ev.kind {
	case C.SQGO_REQUEST:
		head := make([]byte, int(ev.len))
		copy(head, arena[ev.off:ev.off+ev.len])
		w := &response{srv: s, req: uint64(ev.handle), head: head, body: ev.body, bodyLen: int(ev.body_len)}
		s.workers.run(w)
	case C.SQGO_REQ_CLOSED:
		if v, ok := s.inflight.LoadAndDelete(uint64(ev.handle)); ok {
			v.(*response).clientGone()
		}
	case C.SQGO_CLUSTER_STATE:
		if s.OnClusterState != nil {
			s.OnClusterState(clusterStates[C.int(ev.arg)])
		}
	default:
		s.dispatchWS(ev, arena)
	}
}

// maxIdleWorkers bounds the goroutines kept waiting for a request.
const maxIdleWorkers = 512

// workers runs each request's handler on a goroutine of its own, as a new
// goroutine would, but reuses the goroutines of handlers that returned: a
// goroutine whose stack has already grown to what handlers need costs
// neither a start nor stack copies (LIFO, so the warm ones go first). A
// handler that blocks holds only its own goroutine; when none waits, a new
// one starts.
type workers struct {
	mu     sync.Mutex
	idle   []chan *response
	closed bool
}

func (p *workers) run(w *response) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		ch := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		ch <- w // buffered: never blocks
		return
	}
	p.mu.Unlock()
	go p.work(w)
}

func (p *workers) work(w *response) {
	var ch chan *response
	for w != nil {
		w.serve()
		w = nil
		if ch == nil {
			ch = make(chan *response, 1)
		}
		p.mu.Lock()
		if p.closed || len(p.idle) >= maxIdleWorkers {
			p.mu.Unlock()
			return
		}
		p.idle = append(p.idle, ch)
		p.mu.Unlock()
		w = <-ch
	}
}

// close ends the waiting goroutines.
func (p *workers) close() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, ch := range idle {
		ch <- nil
	}
}

// flowMarks is the flow limits in effect: the fields, or the defaults.
func (s *Server) flowMarks() (high, low int) {
	high, low = s.FlowHighWater, s.FlowLowWater
	if high <= 0 {
		high = defaultFlowHigh
	}
	if low <= 0 {
		low = high / 4
		if s.FlowHighWater <= 0 {
			low = defaultFlowLow
		}
	}
	return high, low
}

const (
	defaultFlowHigh = 1 << 20
	defaultFlowLow  = 256 << 10
)

// ListenAndServeTLS is ListenAndServe over TLS (https, and wss for the
// WebSocket routes): certFile holds the certificate chain (leaf first) and
// keyFile its private key, both PEM; with both empty, TLSConfig.Certificates
// are used. An empty Addr means ":https". Requests carry r.TLS (version,
// cipher suite, server name, negotiated protocol).
func (s *Server) ListenAndServeTLS(certFile, keyFile string) error {
	if err := s.useTLS(certFile, keyFile); err != nil {
		return err
	}
	return s.listenAndServe(":https")
}

// ServeTLS is Serve over TLS, with the certificate as ListenAndServeTLS
// takes it.
func (s *Server) ServeTLS(l net.Listener, certFile, keyFile string) error {
	if err := s.useTLS(certFile, keyFile); err != nil {
		return err
	}
	return s.Serve(l)
}

// ListenAndServeTLS serves handler over TLS on addr, as net/http's does.
func ListenAndServeTLS(addr, certFile, keyFile string, handler http.Handler) error {
	s := &Server{Addr: addr, Handler: handler}
	return s.ListenAndServeTLS(certFile, keyFile)
}

func (s *Server) useTLS(certFile, keyFile string) error {
	if (certFile == "") != (keyFile == "") {
		return errors.New("squall: ServeTLS needs both certFile and keyFile (or neither, with TLSConfig.Certificates)")
	}
	if certFile == "" && (s.TLSConfig == nil || len(s.TLSConfig.Certificates) == 0) {
		return errors.New("squall: ServeTLS needs certFile and keyFile, or TLSConfig.Certificates")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("squall: ServeTLS after the server started")
	}
	s.tlsOn = true
	s.tlsFiles = [2]string{certFile, keyFile}
	return nil
}

// configureTLS hands the certificates to squall. Caller holds s.mu.
func (s *Server) configureTLS() error {
	c := s.TLSConfig
	tls13 := false
	if c != nil {
		switch {
		case c.GetCertificate != nil || c.GetConfigForClient != nil:
			return errors.New("squall: TLSConfig.GetCertificate/GetConfigForClient cannot be honoured (squall's TLS runs in Rust): use Certificates")
		case c.ClientAuth != tls.NoClientCert:
			return errors.New("squall: TLSConfig.ClientAuth: client certificates are not supported")
		case c.MaxVersion != 0 && c.MaxVersion < tls.VersionTLS13:
			return errors.New("squall: TLSConfig.MaxVersion below TLS 1.3 cannot be honoured (squall speaks TLS 1.2 and 1.3)")
		}
		tls13 = c.MinVersion >= tls.VersionTLS13
	}
	var opts C.sq_tls_options
	C.sq_tls_options_init(&opts, C.size_t(unsafe.Sizeof(opts)))
	if tls13 {
		opts.tls13_only = 1
	}
	cfg := C.sq_tls_config_new(&opts)
	if cfg == nil {
		return &Error{Op: "TLS", Code: int(C.SQ_ERR_NULL), Message: C.GoString(C.sq_last_error())}
	}
	defer C.sq_tls_config_free(cfg)
	if f := s.tlsFiles; f[0] != "" {
		cf, kf := C.CString(f[0]), C.CString(f[1])
		err := call("TLS certificate "+f[0], func() C.sq_status { return C.sq_tls_config_add_cert_file(cfg, cf, kf) })
		C.free(unsafe.Pointer(cf))
		C.free(unsafe.Pointer(kf))
		if err != nil {
			return err
		}
	}
	if c != nil {
		for i, cert := range c.Certificates {
			var chain []byte
			for _, der := range cert.Certificate {
				chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
			}
			keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
			if err != nil {
				return fmt.Errorf("squall: TLSConfig.Certificates[%d]: %w", i, err)
			}
			key := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
			err = call(fmt.Sprintf("TLSConfig.Certificates[%d]", i), func() C.sq_status {
				return C.sq_tls_config_add_cert_pem(cfg, (*C.uint8_t)(unsafe.Pointer(&chain[0])), C.size_t(len(chain)),
					(*C.uint8_t)(unsafe.Pointer(&key[0])), C.size_t(len(key)))
			})
			clear(key)
			if err != nil {
				return err
			}
		}
	}
	return call("TLS", func() C.sq_status { return C.sq_server_set_tls(s.srv, cfg) })
}

// tlsFromArena is r.TLS for a WebSocket's upgrade request, from what the
// shim packed in its open event (on_ws_open): a native u32 (version low,
// cipher suite high), then the server name and the ALPN protocol as
// length-prefixed fields. Nil if the bytes are short.
func tlsFromArena(b []byte) *tls.ConnectionState {
	if len(b) < 4 {
		return nil
	}
	vc := binary.NativeEndian.Uint32(b)
	b = b[4:]
	field := func() (string, bool) {
		if len(b) < 4 {
			return "", false
		}
		n := int(binary.NativeEndian.Uint32(b))
		if len(b) < 4+n {
			return "", false
		}
		s := string(b[4 : 4+n])
		b = b[4+n:]
		return s, true
	}
	name, ok1 := field()
	alpn, ok2 := field()
	if !ok1 || !ok2 {
		return nil
	}
	return &tls.ConnectionState{
		Version:                    uint16(vc),
		CipherSuite:                uint16(vc >> 16),
		ServerName:                 name,
		NegotiatedProtocol:         alpn,
		NegotiatedProtocolIsMutual: true,
		HandshakeComplete:          true,
	}
}

// tlsState is r.TLS for a request that came over TLS.
func tlsState(req uint64) *tls.ConnectionState {
	var info C.sq_tls_info
	info.size = C.size_t(unsafe.Sizeof(info))
	if C.sqgo_request_tls(C.uint64_t(req), &info) != C.SQ_OK {
		return nil
	}
	return &tls.ConnectionState{
		Version:                    uint16(info.version),
		CipherSuite:                uint16(info.cipher_suite),
		ServerName:                 C.GoStringN((*C.char)(unsafe.Pointer(info.server_name.ptr)), C.int(info.server_name.len)),
		NegotiatedProtocol:         C.GoStringN((*C.char)(unsafe.Pointer(info.alpn.ptr)), C.int(info.alpn.len)),
		NegotiatedProtocolIsMutual: true,
		HandshakeComplete:          true,
	}
}
