package squall

// The //export trampolines C calls synchronously, and only them (cgo forbids
// definitions in the preamble of a file that exports). Most events do not
// come through here: the shim queues them and the host goroutine reads them
// in batches (loop.go).

/*
#include <stddef.h>
#include <stdint.h>
*/
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

func cgoValue(ud C.uint64_t) any { return cgo.Handle(uintptr(ud)).Value() }

// sqgoCheckOrigin runs a route's CheckOrigin during the handshake, on the
// host goroutine; head is the packed upgrade request, valid for this call.
// A panic refuses the handshake.
//
//export sqgoCheckOrigin
func sqgoCheckOrigin(ud C.uintptr_t, head *C.char, headLen C.size_t, origin *C.char, originLen C.size_t) (ok C.int) {
	defer func() {
		if recover() != nil {
			ok = 0
		}
	}()
	r := cgo.Handle(uintptr(ud)).Value().(*wsRoute)
	req, err := newRequest(C.GoBytes(unsafe.Pointer(head), C.int(headLen)), nil)
	if err != nil {
		return 0
	}
	if r.opts.CheckOrigin(req) {
		return 1
	}
	return 0
}
