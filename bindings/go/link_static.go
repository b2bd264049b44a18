//go:build !squall_pkgconfig

package squall

// By default the package links the static library a checkout builds with
// `make` (target/release/libsquall.a) and the header in include/: a plain
// `go build` then works with no library installed. Build with
// `-tags squall_pkgconfig` to use an installed squall (`make install`)
// through pkg-config instead.

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: ${SRCDIR}/../../target/release/libsquall.a -lgcc_s -lutil -lrt -lpthread -lm -ldl
*/
import "C"
