//! Status codes, the last-error message and version numbers.

use std::ffi::c_char;

use super::boundary::{ffi_boundary, last_error_ptr};
use crate::ErrorKind;

/// The result of most squall functions: `SQ_OK` (0) on success, a negative
/// `SQ_ERR_*` code on failure. Codes are stable: a code's number is never
/// reused for another meaning.
pub type sq_status = i32;

/// Success.
pub const SQ_OK: sq_status = 0;
/// A required pointer argument (a handle, a callback, an out-parameter) was NULL.
pub const SQ_ERR_NULL: sq_status = -1;
/// An argument was out of range or malformed.
pub const SQ_ERR_INVALID_ARG: sq_status = -2;
/// The object is closed: the loop was freed, the peer went away.
pub const SQ_ERR_CLOSED: sq_status = -3;
/// The operation was already done: a timer that fired or was cancelled, a
/// response already finished.
pub const SQ_ERR_ALREADY_DONE: sq_status = -4;
/// An operating-system call failed; `sq_last_error()` has the details.
pub const SQ_ERR_IO: sq_status = -5;
/// A configured limit was reached.
pub const SQ_ERR_LIMIT: sq_status = -6;
/// A bug inside squall was caught before it could cross into the caller.
pub const SQ_ERR_PANIC: sq_status = -7;
/// Called from inside one of the loop's own callbacks where that is not allowed
/// (running, polling or freeing the loop; setting the log callback from the log callback).
pub const SQ_ERR_REENTRANT: sq_status = -8;
/// Another thread is already running or polling this loop.
pub const SQ_ERR_BUSY: sq_status = -9;
/// The loop was started before `fork()`; a child process must create its own.
pub const SQ_ERR_FORKED: sq_status = -10;
/// The object is in the wrong state for this call (an option set after start).
pub const SQ_ERR_STATE: sq_status = -11;

/// The thing asked for is not there: a header or argument the request does
/// not have, a capture group that did not participate in the match.
pub const SQ_ERR_NOT_FOUND: sq_status = -12;
/// The operation timed out (a connect, a close waiting for its output).
pub const SQ_ERR_TIMEOUT: sq_status = -13;
/// A host name did not resolve.
pub const SQ_ERR_RESOLVE: sq_status = -14;
/// A connection could not be established: refused or unreachable at every
/// address of the host.
pub const SQ_ERR_CONNECT: sq_status = -15;
/// A TLS handshake or record failed.
pub const SQ_ERR_TLS: sq_status = -16;
/// The peer broke the protocol.
pub const SQ_ERR_PROTOCOL: sq_status = -17;

/// The status code of an error kind.
pub(crate) fn status_of(kind: ErrorKind) -> sq_status {
    match kind {
        ErrorKind::Null => SQ_ERR_NULL,
        ErrorKind::InvalidArg => SQ_ERR_INVALID_ARG,
        ErrorKind::Closed => SQ_ERR_CLOSED,
        ErrorKind::AlreadyDone => SQ_ERR_ALREADY_DONE,
        ErrorKind::Io => SQ_ERR_IO,
        ErrorKind::Limit => SQ_ERR_LIMIT,
        ErrorKind::Panic => SQ_ERR_PANIC,
        ErrorKind::Reentrant => SQ_ERR_REENTRANT,
        ErrorKind::Busy => SQ_ERR_BUSY,
        ErrorKind::Forked => SQ_ERR_FORKED,
        ErrorKind::State => SQ_ERR_STATE,
        ErrorKind::NotFound => SQ_ERR_NOT_FOUND,
        ErrorKind::Timeout => SQ_ERR_TIMEOUT,
        ErrorKind::Resolve => SQ_ERR_RESOLVE,
        ErrorKind::Connect => SQ_ERR_CONNECT,
        ErrorKind::Tls => SQ_ERR_TLS,
        ErrorKind::Protocol => SQ_ERR_PROTOCOL,
    }
}

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
