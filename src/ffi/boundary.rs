//! The one boundary every exported function goes through.
//!
//! * [`ffi_boundary!`] wraps a function body in `catch_unwind`; a caught panic
//!   records `sq_last_error()` and returns the failure value of the function's
//!   return type ([`Failure`]): `SQ_ERR_PANIC` for a status, NULL for a
//!   pointer, 0 for unsigned integers and sizes. A body may instead name its
//!   own value with `ffi_boundary!(on_panic = value; ...)`.
//! * [`try_ref!`] / [`try_take!`] turn a possibly-NULL handle into a Rust
//!   reference or box, returning `SQ_ERR_NULL` (or NULL, …) when it is NULL.
//! * [`ffi_try!`] unwraps a `Result`, recording the error message.
//!
//! A test (`tests/ffi_boundary.rs`) fails when an `extern "C" fn` in
//! `src/ffi/` does not start with `ffi_boundary!`.

use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char, c_void};

use super::status::{sq_status, status_of};
use crate::{Error, ErrorKind};

/// What a function returns when it fails before doing its work.
pub(crate) trait Failure {
    fn failure(kind: ErrorKind) -> Self;
}

impl Failure for sq_status {
    fn failure(kind: ErrorKind) -> Self {
        status_of(kind)
    }
}
impl<T> Failure for *mut T {
    fn failure(_: ErrorKind) -> Self {
        std::ptr::null_mut()
    }
}
impl<T> Failure for *const T {
    fn failure(_: ErrorKind) -> Self {
        std::ptr::null()
    }
}
impl Failure for () {
    fn failure(_: ErrorKind) -> Self {}
}
impl Failure for u32 {
    fn failure(_: ErrorKind) -> Self {
        0
    }
}
impl Failure for u64 {
    /// An id (a fetch's): 0 is never one.
    fn failure(_: ErrorKind) -> Self {
        0
    }
}
impl Failure for usize {
    fn failure(_: ErrorKind) -> Self {
        0
    }
}
impl Failure for i64 {
    /// A count or value that is never negative: the status, widened.
    fn failure(kind: ErrorKind) -> Self {
        i64::from(status_of(kind))
    }
}
impl Failure for bool {
    fn failure(_: ErrorKind) -> Self {
        false
    }
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Records `message` as the calling thread's last error.
pub(crate) fn set_last_error(message: &str) {
    let c = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = c);
}

/// The calling thread's last error; the pointer lives until the next failure
/// on this thread.
pub(crate) fn last_error_ptr() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

/// Records the error and returns the failure value for `T`.
pub(crate) fn fail<T: Failure>(err: Error) -> T {
    set_last_error(err.message());
    T::failure(err.kind())
}

/// Records "`what` is NULL" and returns the failure value for `T`.
pub(crate) fn fail_null<T: Failure>(what: &str) -> T {
    set_last_error(&format!("{what} is NULL"));
    T::failure(ErrorKind::Null)
}

/// Records a caught panic.
pub(crate) fn record_panic(payload: &(dyn std::any::Any + Send)) {
    let msg = crate::error::panic_message(payload);
    tracing::error!(target: "squall::ffi", "panic caught at the C boundary: {msg}");
    set_last_error(&format!("internal panic: {msg}"));
}

/// Reads a NUL-terminated string argument as UTF-8.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that lives for `'a`.
pub(crate) unsafe fn str_arg<'a>(p: *const c_char, what: &str) -> Result<&'a str, Error> {
    if p.is_null() {
        return Err(Error::new(ErrorKind::Null, format!("{what} is NULL")));
    }
    // SAFETY: non-NULL and NUL-terminated per the caller's contract.
    let c = unsafe { CStr::from_ptr(p) };
    c.to_str().map_err(|_| Error::new(ErrorKind::InvalidArg, format!("{what} is not valid UTF-8")))
}

/// A connection-scoped handle as C sees it (`sq_request *`, `sq_ws *`,
/// `sq_tcp *`): the id from a handle table, dressed as a pointer that
/// neither side ever dereferences.
pub(crate) fn id_ptr<C>(id: u64) -> *mut C {
    id as usize as *mut C
}

/// A host's word for a socket or stream (its user word) as the `userdata`
/// pointer it gave: handed back, never read through.
pub(crate) fn word_ptr(word: usize) -> *mut c_void {
    word as *mut c_void
}

/// An opaque C type backed by a boxed Rust value.
pub(crate) trait Castable {
    type Rust;
}

/// Boxes `value` and hands the pointer to C.
pub(crate) fn into_ptr<C: Castable>(value: C::Rust) -> *mut C {
    Box::into_raw(Box::new(value)).cast()
}

/// Borrows the Rust value behind a C pointer.
///
/// # Safety
/// `p` is NULL or came from [`into_ptr`] for the same `C` and was not freed.
pub(crate) unsafe fn as_rust<'a, C: Castable>(p: *const C) -> Option<&'a C::Rust> {
    // SAFETY: per the contract above the pointer is NULL or a live box.
    unsafe { p.cast::<C::Rust>().as_ref() }
}

/// Takes the box behind a C pointer back (to free it).
///
/// # Safety
/// As for [`as_rust`]; the pointer must not be used again.
pub(crate) unsafe fn take_box<C: Castable>(p: *mut C) -> Option<Box<C::Rust>> {
    if p.is_null() {
        return None;
    }
    // SAFETY: a live box made by into_ptr, ownership handed back by the caller.
    Some(unsafe { Box::from_raw(p.cast::<C::Rust>()) })
}

/// The panic boundary; see the module docs.
macro_rules! ffi_boundary {
    (on_panic = $default:expr; $($body:tt)*) => {{
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| { $crate::fault::hit($crate::fault::Point::Export); $($body)* })) {
            Ok(v) => v,
            Err(p) => {
                $crate::ffi::boundary::record_panic(&*p);
                $default
            }
        }
    }};
    ($($body:tt)*) => {{
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| { $crate::fault::hit($crate::fault::Point::Export); $($body)* })) {
            Ok(v) => v,
            Err(p) => {
                $crate::ffi::boundary::record_panic(&*p);
                $crate::ffi::boundary::Failure::failure($crate::ErrorKind::Panic)
            }
        }
    }};
}

/// `try_ref!(sq_x, ptr, "name")`: the Rust value behind a handle, or an early
/// return of the NULL failure.
macro_rules! try_ref {
    ($c:ty, $p:expr, $what:literal) => {
        // SAFETY: the C contract says the handle is NULL or live.
        match unsafe { $crate::ffi::boundary::as_rust::<$c>($p) } {
            Some(r) => r,
            None => return $crate::ffi::boundary::fail_null($what),
        }
    };
}

/// `ffi_try!(result)`: the Ok value, or an early return of the failure value
/// with the error recorded.
macro_rules! ffi_try {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(err) => return $crate::ffi::boundary::fail(err),
        }
    };
}

pub(crate) use {ffi_boundary, ffi_try, try_ref};
