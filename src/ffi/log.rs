//! Log records delivered to the host.

use std::ffi::{c_char, c_int, c_void};

use super::boundary::{fail, ffi_boundary};
use super::status::{SQ_OK, sq_status};
use crate::{Error, ErrorKind};

/// Log levels. A callback set for a level receives that level and the more
/// severe ones.
pub type sq_log_level = c_int;
/// No records.
pub const SQ_LOG_OFF: sq_log_level = 0;
/// Failures that lose work: a handler's panic, a poll error.
pub const SQ_LOG_ERROR: sq_log_level = 1;
/// Problems the library recovered from.
pub const SQ_LOG_WARN: sq_log_level = 2;
/// Lifecycle: listening, shutting down.
pub const SQ_LOG_INFO: sq_log_level = 3;
/// Per-connection detail.
pub const SQ_LOG_DEBUG: sq_log_level = 4;
/// Everything.
pub const SQ_LOG_TRACE: sq_log_level = 5;

/// Receives one log record: its level, its target (the squall module that
/// logged it, e.g. "squall::loop") and its message.
pub type sq_log_callback = Option<
    unsafe extern "C" fn(userdata: *mut c_void, level: sq_log_level, target: *const c_char, message: *const c_char),
>;

/// Sends squall's log records at `level` and more severe to `cb`, or with `cb`
/// NULL stops sending them (then nothing is printed, unless the `SQUALL_LOG`
/// environment variable named a level when the first loop was created, which
/// prints on stderr). Process-wide: one callback for every loop.
///
/// The callback is called on whatever thread logs, reactor threads included,
/// possibly on several threads at once: it must be thread-safe, and it must
/// not block for long. Records logged by squall calls made from inside the
/// callback are dropped (no recursion).
///
/// Thread: any thread, except from inside the log callback itself.
/// Ownership: squall keeps `userdata` (without dereferencing it) until the
/// callback is replaced. When this returns, no thread is still inside the old
/// callback. `target` and `message` are valid only during the callback; copy
/// them to keep them.
/// Returns: `SQ_OK`; `SQ_ERR_INVALID_ARG` for a level outside
/// `SQ_LOG_OFF`..`SQ_LOG_TRACE`; `SQ_ERR_REENTRANT` from inside the callback.
#[unsafe(no_mangle)]
pub extern "C" fn sq_log_set_callback(level: sq_log_level, cb: sq_log_callback, userdata: *mut c_void) -> sq_status {
    ffi_boundary! {
        if !(SQ_LOG_OFF..=SQ_LOG_TRACE).contains(&level) {
            return fail(Error::new(ErrorKind::InvalidArg, "level must be between SQ_LOG_OFF and SQ_LOG_TRACE"));
        }
        if crate::log::in_log_callback() {
            return fail(Error::new(ErrorKind::Reentrant, "the log callback cannot be changed from inside itself"));
        }
        crate::log::set_raw_callback(level as u8, cb, userdata);
        SQ_OK
    }
}

/// The name of a log level: "off", "error", "warn", "info", "debug", "trace",
/// or "unknown".
///
/// Thread: any thread.
/// Ownership: a static string; do not free.
/// Returns: never NULL.
#[unsafe(no_mangle)]
pub extern "C" fn sq_log_level_str(level: sq_log_level) -> *const c_char {
    ffi_boundary! {
        let s: &'static str = match crate::log::level_name(level) {
            "off" => "off\0",
            "error" => "error\0",
            "warn" => "warn\0",
            "info" => "info\0",
            "debug" => "debug\0",
            "trace" => "trace\0",
            _ => "unknown\0",
        };
        s.as_ptr().cast()
    }
}
