//! What a C program asks about the library and its failures: the version
//! numbers, a status code's description and the last error's message.

use std::ffi::c_char;

use super::boundary::{ffi_boundary, last_error_ptr};
use super::status::*;

/// The squall library version, "MAJOR.MINOR.PATCH", as built.
///
/// Thread: any thread.
/// Ownership: a static string; do not free.
/// Returns: never NULL.
#[unsafe(no_mangle)]
pub extern "C" fn sq_version() -> *const c_char {
    ffi_boundary! {
        concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
    }
}

/// The ABI version of the library. A program or binding built against
/// `squall.h` should refuse to run when `sq_abi_version() != SQ_ABI_VERSION`.
///
/// Thread: any thread.
/// Ownership: nothing is returned that needs freeing.
/// Returns: the library's ABI version number.
#[unsafe(no_mangle)]
pub extern "C" fn sq_abi_version() -> u32 {
    ffi_boundary! {
        super::ABI_VERSION
    }
}

/// A static description of a status code, e.g. "SQ_ERR_NULL: a required
/// pointer argument was NULL". Unknown codes give "unknown status code".
///
/// Thread: any thread.
/// Ownership: a static string; do not free.
/// Returns: never NULL.
#[unsafe(no_mangle)]
pub extern "C" fn sq_status_str(status: sq_status) -> *const c_char {
    ffi_boundary! {
        let s: &'static str = match status {
            SQ_OK => "SQ_OK: success\0",
            SQ_ERR_NULL => "SQ_ERR_NULL: a required pointer argument was NULL\0",
            SQ_ERR_INVALID_ARG => "SQ_ERR_INVALID_ARG: an argument was out of range or malformed\0",
            SQ_ERR_CLOSED => "SQ_ERR_CLOSED: the object is closed\0",
            SQ_ERR_ALREADY_DONE => "SQ_ERR_ALREADY_DONE: the operation was already done\0",
            SQ_ERR_IO => "SQ_ERR_IO: an operating-system call failed\0",
            SQ_ERR_LIMIT => "SQ_ERR_LIMIT: a configured limit was reached\0",
            SQ_ERR_PANIC => "SQ_ERR_PANIC: an internal error was caught\0",
            SQ_ERR_REENTRANT => "SQ_ERR_REENTRANT: not allowed from inside a callback of the same loop\0",
            SQ_ERR_BUSY => "SQ_ERR_BUSY: another thread is running or polling the loop\0",
            SQ_ERR_FORKED => "SQ_ERR_FORKED: the loop was started before fork()\0",
            SQ_ERR_STATE => "SQ_ERR_STATE: the object is in the wrong state for this call\0",
            SQ_ERR_NOT_FOUND => "SQ_ERR_NOT_FOUND: no such header, argument or capture\0",
            SQ_ERR_TIMEOUT => "SQ_ERR_TIMEOUT: the operation timed out\0",
            SQ_ERR_RESOLVE => "SQ_ERR_RESOLVE: the host name did not resolve\0",
            SQ_ERR_CONNECT => "SQ_ERR_CONNECT: the connection could not be established\0",
            SQ_ERR_TLS => "SQ_ERR_TLS: the TLS handshake or a TLS record failed\0",
            SQ_ERR_PROTOCOL => "SQ_ERR_PROTOCOL: the peer broke the protocol\0",
            SQ_ERR_CANCELLED => "SQ_ERR_CANCELLED: the caller cancelled the operation\0",
            _ => "unknown status code\0",
        };
        s.as_ptr().cast()
    }
}

/// A message describing the last failure of a squall call on the calling
/// thread (every call that returns an error code, NULL or a negative value
/// records one). Successful calls do not clear it, so read it only right after
/// a failure.
///
/// Thread: any thread; each thread has its own message.
/// Ownership: owned by the library; valid until the next failing squall call
/// on the same thread. Do not free.
/// Returns: never NULL; "" when nothing has failed on this thread yet.
#[unsafe(no_mangle)]
pub extern "C" fn sq_last_error() -> *const c_char {
    ffi_boundary! {
        last_error_ptr()
    }
}
