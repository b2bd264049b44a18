package squall

/*
#include "shim.h"
*/
import "C"

import (
	"errors"
	"os"
	"runtime"
	"runtime/cgo"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// loop owns one sq_loop and its pump; run is its host goroutine.
type loop struct {
	ptr  *C.sq_loop
	pump *C.sqgo_pump

	stopping atomic.Bool
	mu       sync.Mutex
	timers   map[*Timer]struct{} // pending, so that a freed loop leaves no handle behind

	// dispatch receives every event but timers and callbacks, on the host goroutine.
	dispatch func(ev *C.sqgo_event, arena []byte)
}

func newLoop(ioThreads int) (*loop, error) {
	l := &loop{timers: map[*Timer]struct{}{}}
	l.ptr = C.sq_loop_new()
	if l.ptr == nil {
		return nil, errors.New("squall: sq_loop_new failed")
	}
	if err := call("setting io_threads", func() C.sq_status { return C.sq_loop_set_io_threads(l.ptr, C.uint32_t(ioThreads)) }); err != nil {
		C.sq_loop_free(l.ptr)
		return nil, err
	}
	l.pump = C.sqgo_pump_new(l.ptr)
	return l, nil
}

// run is the host goroutine: locked to its OS thread, it waits for the
// loop's descriptor in Go's netpoller (so the goroutines of handlers keep
// running while it waits), then drains every pending event with one
// sq_loop_poll(0). It returns after stop.
func (l *loop) run() error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var fd C.int32_t
	if err := call("starting the loop", func() C.sq_status { fd = C.sq_loop_fd(l.ptr); return C.sq_status(min(fd, 0)) }); err != nil {
		return err
	}
	// A duplicate for the netpoller (the loop's own descriptor is squall's to
	// close). O_NONBLOCK on the shared file description does not change
	// epoll_wait, which is all squall does with it.
	dup, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
	if errno != 0 {
		return os.NewSyscallError("fcntl(F_DUPFD_CLOEXEC)", errno)
	}
	if err := syscall.SetNonblock(int(dup), true); err != nil {
		syscall.Close(int(dup))
		return os.NewSyscallError("fcntl(O_NONBLOCK)", err)
	}
	f := os.NewFile(dup, "squall-loop")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	wait := func(fd uintptr) bool { return readable(int32(fd)) }
	for {
		if err := l.poll(); err != nil {
			return err
		}
		if l.stopping.Load() {
			return nil
		}
		t := C.sq_loop_timeout_ms(l.ptr)
		if t == 0 {
			continue
		}
		if t > 0 {
			f.SetReadDeadline(time.Now().Add(time.Duration(t) * time.Millisecond))
		} else {
			f.SetReadDeadline(time.Time{})
		}
		if err := rc.Read(wait); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return err
		}
	}
}

// readable asks poll(2), without waiting, whether the loop's descriptor is
// readable: the netpoller is edge-triggered, the descriptor level-triggered,
// so a wait starts only once the level says there is nothing to do.
func readable(fd int32) bool {
	pfd := struct {
		fd      int32
		events  int16
		revents int16
	}{fd: fd, events: 0x1} // POLLIN
	var ts syscall.Timespec
	n, _, errno := syscall.RawSyscall6(syscall.SYS_PPOLL, uintptr(unsafe.Pointer(&pfd)), 1, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
	return errno != 0 || n > 0
}

// poll runs one sq_loop_poll(0) and handles the events it collected.
func (l *loop) poll() error {
	st := C.sqgo_poll(l.pump, 0)
	if st != C.SQ_OK {
		return statusError("polling the loop", st)
	}
	p := l.pump
	n := int(p.nevents)
	if n == 0 {
		return nil
	}
	evs := unsafe.Slice((*C.sqgo_event)(unsafe.Pointer(p.events)), n)
	var arena []byte
	if p.used > 0 {
		arena = unsafe.Slice((*byte)(unsafe.Pointer(p.arena)), int(p.used))
	}
	for i := range evs {
		ev := &evs[i]
		switch ev.kind {
		case C.SQGO_TIMER:
			h := cgo.Handle(ev.ud)
			t := h.Value().(*Timer)
			l.forget(t)
			deleteHandle(h)
			if t.state.CompareAndSwap(timerPending, timerFired) {
				go t.f()
			}
		case C.SQGO_CALLBACK:
			if ev.ud != 0 {
				h := cgo.Handle(ev.ud)
				f := h.Value().(func())
				deleteHandle(h)
				f()
			}
		default:
			l.dispatch(ev, arena)
		}
	}
	return nil
}

// stop makes run return after its current batch. Any goroutine.
func (l *loop) stop() {
	l.stopping.Store(true)
	l.mu.Lock()
	if l.ptr != nil {
		C.sqgo_add_callback(l.ptr, 0) // wakes the wait
	}
	l.mu.Unlock()
}

// free releases the loop; every timer still pending is dropped. Timers are
// cut off first (under mu, as Stop and afterFunc use the loop), so no
// goroutine reaches the loop once it is freed.
func (l *loop) free() {
	l.mu.Lock()
	pending := l.timers
	l.timers = nil
	C.sq_loop_free(l.ptr)
	C.sqgo_pump_free(l.pump)
	l.ptr, l.pump = nil, nil
	l.mu.Unlock()
	for t := range pending {
		t.state.CompareAndSwap(timerPending, timerStopped)
		deleteHandle(t.h)
	}
}

func (l *loop) forget(t *Timer) {
	l.mu.Lock()
	delete(l.timers, t)
	l.mu.Unlock()
}

const (
	timerPending int32 = iota
	timerFired
	timerStopped
)

// Timer is a function scheduled on a server's loop with AfterFunc. Like
// time.AfterFunc, the function runs on a goroutine of its own.
type Timer struct {
	loop  *loop
	id    C.sq_timer_id
	h     cgo.Handle
	f     func()
	state atomic.Int32
}

// afterFunc schedules f on the loop's timers.
func (l *loop) afterFunc(d time.Duration, f func()) (*Timer, error) {
	t := &Timer{loop: l, f: f}
	t.h = newHandle(t)
	ms := uint64(0)
	if d > 0 {
		ms = uint64((d + time.Millisecond - 1) / time.Millisecond)
	}
	l.mu.Lock()
	if l.timers == nil {
		l.mu.Unlock()
		deleteHandle(t.h)
		return nil, ErrNotRunning
	}
	l.timers[t] = struct{}{}
	var id C.sq_timer_id
	st := C.sqgo_call_later(l.ptr, C.uint64_t(ms), C.uintptr_t(t.h), &id)
	t.id = id
	l.mu.Unlock()
	if st != C.SQ_OK {
		l.forget(t)
		deleteHandle(t.h)
		return nil, statusError("scheduling a timer", st)
	}
	return t, nil
}

// Stop prevents the timer's function from running. It returns false if the
// function already ran or was started, or the timer was already stopped.
// Any goroutine.
func (t *Timer) Stop() bool {
	if !t.state.CompareAndSwap(timerPending, timerStopped) {
		return false
	}
	t.loop.mu.Lock()
	defer t.loop.mu.Unlock()
	if t.loop.timers == nil { // the loop is gone; free released the handle
		return true
	}
	if C.sq_timer_cancel(t.loop.ptr, t.id) == C.SQ_OK {
		delete(t.loop.timers, t)
		deleteHandle(t.h)
	} // otherwise the timer's event is on its way and releases the handle
	return true
}
