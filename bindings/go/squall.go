// Package squall serves HTTP/1.1 and WebSockets from Go through squall, an
// event loop, HTTP server and WebSocket stack written in Rust: Rust owns
// every socket, parse and write; Go code runs as ordinary http.Handlers on
// goroutines, and gains squall's publish/subscribe fan-out, which runs in
// Rust across threads.
//
//	srv := &squall.Server{Addr: "127.0.0.1:8080", Handler: mux}
//	srv.HandleWebSocket("/ws", squall.WebSocketFuncs{Message: echo}, nil)
//	log.Fatal(srv.ListenAndServe())
//
// # Threads
//
// A server runs one squall loop. Its host thread is the goroutine inside
// ListenAndServe or Serve, locked to its OS thread (runtime.LockOSThread)
// for as long as it serves; it waits on the loop's descriptor through Go's
// netpoller and drains the loop's events in batches (one cgo call per
// batch). Every request then runs its handler on a goroutine of its own,
// and the messages of each WebSocket reach its handler on a goroutine, one
// at a time and in order. The reactor threads (Server.IOThreads) do the I/O
// meanwhile. Every method of Conn and Server.Publish may be called from any
// goroutine.
//
// # Linking
//
// By default the package links the static library built by `make` in the
// checkout (target/release/libsquall.a) and includes include/squall.h, so
// `go build` needs no installed library. With `-tags squall_pkgconfig` it
// uses an installed squall through pkg-config instead.
package squall

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"runtime/cgo"
	"sync/atomic"
)

// Errors returned by the package. Compare with errors.Is.
var (
	// ErrServerClosed is returned by ListenAndServe and Serve after
	// Shutdown or Close (it is net/http's, so existing checks work).
	ErrServerClosed = http.ErrServerClosed
	// ErrClosed: the WebSocket (or request) is closing or closed.
	ErrClosed = errors.New("squall: closed")
	// ErrBackpressure: the message was queued, but the socket's buffered
	// output is now above its high-water mark; slow down until OnDrain.
	ErrBackpressure = errors.New("squall: message queued above the high-water mark")
	// ErrDropped: the message was not queued, because the socket's buffered
	// output is over MaxBackpressure.
	ErrDropped = errors.New("squall: message dropped: buffered output over the limit")
	// ErrClusterOutboxFull: Publish delivered the message to this
	// process's subscribers but not to the other processes of the cluster:
	// its outbox (publishes waiting for Redis) is full.
	ErrClusterOutboxFull = errors.New("squall: delivered locally only: the cluster outbox is full")
	// ErrNotRunning: the server is not serving (not started yet, or done).
	ErrNotRunning = errors.New("squall: server not running")
)

// Error is a failure reported by the squall library.
type Error struct {
	Op      string // what was being done
	Code    int    // the library's status code (negative)
	Message string // the library's description
}

// Error says which operation failed and the library's description.
func (e *Error) Error() string {
	return fmt.Sprintf("squall: %s: %s", e.Op, e.Message)
}

// Timeout reports whether the library gave up waiting (SQ_ERR_TIMEOUT), as
// net.Error's Timeout does.
func (e *Error) Timeout() bool { return e.Code == int(C.SQ_ERR_TIMEOUT) }

// Is makes a closed-object error match ErrClosed.
func (e *Error) Is(target error) bool {
	return target == ErrClosed && e.Code == int(C.SQ_ERR_CLOSED)
}

// statusError turns a status into an error; the message is the static one
// (sq_last_error is per OS thread and this may run on another one).
func statusError(op string, st C.sq_status) error {
	switch st {
	case C.SQ_OK:
		return nil
	case C.SQ_BACKPRESSURE:
		return ErrBackpressure
	case C.SQ_ERR_LIMIT:
		return ErrDropped
	case C.SQ_ERR_CLOSED, C.SQ_ERR_ALREADY_DONE:
		return ErrClosed
	}
	return &Error{Op: op, Code: int(st), Message: C.GoString(C.sq_status_str(st))}
}

// call runs a setup call with the OS thread held, so that a failure's
// sq_last_error message belongs to it.
func call(op string, f func() C.sq_status) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	st := f()
	if st >= 0 {
		return nil
	}
	return &Error{Op: op, Code: int(st), Message: C.GoString(C.sq_last_error())}
}

// Version is the squall library's version ("0.1.0").
func Version() string { return C.GoString(C.sq_version()) }

// checkABI refuses a library built for another ABI (possible with the
// pkg-config build, which links whatever is installed).
func checkABI() error {
	if got := uint32(C.sq_abi_version()); got != C.SQ_ABI_VERSION {
		return fmt.Errorf("squall: the library's ABI is %d, this package was built for %d", got, C.SQ_ABI_VERSION)
	}
	return nil
}

// liveHandles counts the cgo.Handles the package holds (tests check that
// traffic leaves none behind).
var liveHandles atomic.Int64

func newHandle(v any) cgo.Handle {
	liveHandles.Add(1)
	return cgo.NewHandle(v)
}

func deleteHandle(h cgo.Handle) {
	liveHandles.Add(-1)
	h.Delete()
}
