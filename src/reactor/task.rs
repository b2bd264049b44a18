//! Work for the host thread: a boxed closure, or a C function and its word
//! (the allocation-free path of `sq_loop_add_callback` and the timers, the
//! one C shape the reactor keeps: its callers are the C API and the
//! bindings' hot paths).

use std::ffi::c_void;

/// A C callback and its userdata: no allocation on the way through the queue.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawCallback {
    pub(crate) f: unsafe extern "C" fn(*mut c_void),
    pub(crate) data: *mut c_void,
}
// SAFETY: the library never dereferences `data`; it hands it back to `f` on the
// host thread, which is what the C caller asked for.
unsafe impl Send for RawCallback {}

/// A C timer callback and its userdata.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawTimerCallback {
    pub(crate) f: unsafe extern "C" fn(*mut c_void, u64),
    pub(crate) data: *mut c_void,
}
// SAFETY: as for RawCallback.
unsafe impl Send for RawTimerCallback {}

/// Work for the host thread.
pub(crate) enum Task {
    Raw(RawCallback),
    Boxed(Box<dyn FnOnce() + Send>),
}
