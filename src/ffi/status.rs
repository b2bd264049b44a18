//! Status codes and the core's error kinds mapped to them. The functions
//! that describe them to C (`sq_status_str`, `sq_last_error`, the versions)
//! are in `version`.

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

/// The caller cancelled the operation (a fetch: `sq_fetch_cancel`).
pub const SQ_ERR_CANCELLED: sq_status = -18;

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
        ErrorKind::Cancelled => SQ_ERR_CANCELLED,
    }
}
