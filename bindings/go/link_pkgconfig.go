//go:build squall_pkgconfig

package squall

// With `-tags squall_pkgconfig`, the library and header come from an
// installed squall (`make install PREFIX=…`), found through pkg-config
// (PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig) and linked as a shared library
// (libsquall.so.1; outside the loader's default directories the program
// needs LD_LIBRARY_PATH or an rpath).

/*
#cgo pkg-config: squall
*/
import "C"
