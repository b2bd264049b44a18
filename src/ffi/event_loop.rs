//! `sq_loop`: the event loop, its callbacks and its timers.

use std::ffi::c_void;
use std::time::Duration;

use super::boundary::{Castable, fail, ffi_boundary, ffi_try, into_ptr, take_box, try_ref};
use super::status::{SQ_OK, sq_status};
use crate::reactor::{RawCallback, RawTimerCallback};
use crate::{Error, ErrorKind, Loop, TimerId};

/// An event loop: reactor threads that own all I/O, and the host thread (the
/// one inside `sq_loop_run` or `sq_loop_poll`) that runs every callback, one
/// at a time, in order.
///
/// Lifecycle: `sq_loop_new` → setters (`sq_loop_set_io_threads`) → either
/// `sq_loop_run` (blocks until `sq_loop_stop`) or, for a host with an event
/// loop of its own, wait on `sq_loop_fd` for at most `sq_loop_timeout_ms` and
/// then `sq_loop_poll(loop, 0)` → `sq_loop_free`.
///
/// Thread safety: `sq_loop_add_callback`, `sq_call_later`, `sq_call_every`,
/// `sq_timer_cancel`, `sq_loop_stop` and `sq_loop_timeout_ms` may be called
/// from any thread at any time while the loop exists. `sq_loop_run`,
/// `sq_loop_poll` and `sq_loop_fd` are for one thread at a time (another
/// thread gets `SQ_ERR_BUSY`) and never from inside the loop's callbacks
/// (`SQ_ERR_REENTRANT`). The loop creates no thread and no file descriptor
/// before its first run, poll or fd call, so a program may create it, fork,
/// and start it in the child; a loop that had started is refused in a child
/// with `SQ_ERR_FORKED`.
#[derive(Debug)]
pub struct sq_loop {
    _private: [u8; 0],
}

impl Castable for sq_loop {
    type Rust = Loop;
}

/// A callback run once on the host thread. `userdata` is the pointer given
/// when it was scheduled; squall never dereferences it.
pub type sq_callback = Option<unsafe extern "C" fn(userdata: *mut c_void)>;

/// A timer callback, run on the host thread. `id` is the timer's id (a
/// periodic timer may cancel itself with it).
pub type sq_timer_callback = Option<unsafe extern "C" fn(userdata: *mut c_void, id: sq_timer_id)>;

/// Identifies a timer of one loop. Never 0.
pub type sq_timer_id = u64;

fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// Creates an event loop with default options (one reactor thread).
///
/// Thread: any thread.
/// Ownership: the caller owns the loop and frees it with `sq_loop_free`.
/// Returns: the loop; never NULL in practice (NULL only if an internal error
/// was caught, with `sq_last_error()` set).
#[unsafe(no_mangle)]
pub extern "C" fn sq_loop_new() -> *mut sq_loop {
    ffi_boundary! {
        into_ptr::<sq_loop>(Loop::new())
    }
}

/// Frees a loop: stops and joins its reactor threads, closes its descriptors,
/// and drops every callback and timer still pending without running it.
/// Calling with NULL is a harmless no-op.
///
/// Thread: the host thread (or any thread, as long as no thread is inside
/// `sq_loop_run`/`sq_loop_poll` of this loop). From inside one of the loop's
/// own callbacks, or while another thread runs it, the call is refused: the
/// loop is not freed and `sq_last_error()` says why.
/// Ownership: takes the loop back; the pointer must not be used again (by
/// any thread) once the call returns, and it must not be freed twice.
/// Returns: nothing.
#[unsafe(no_mangle)]
pub extern "C" fn sq_loop_free(r#loop: *mut sq_loop) {
    ffi_boundary! {
        if r#loop.is_null() {
            return;
        }
        let lp = try_ref!(sq_loop, r#loop, "loop");
        if let Err(e) = lp.check_free() {
            tracing::error!(target: "squall::ffi", "sq_loop_free refused: {}", e.message());
            return fail::<()>(e);
        }
        // SAFETY: a live loop made by sq_loop_new, handed back by the owner.
        drop(unsafe { take_box::<sq_loop>(r#loop) });
    }
}

/// Sets the number of reactor threads: 0 runs the reactor on the host thread
/// inside `sq_loop_run`/`sq_loop_poll` (no thread is ever spawned); N ≥ 1
/// runs N reactor threads. The default is 1. At most 64.
///
/// Thread: any thread, before the loop starts (its first run, poll or fd call).
/// Ownership: nothing changes hands.
/// Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` above 64;
/// `SQ_ERR_STATE` once the loop has started.
#[unsafe(no_mangle)]
pub extern "C" fn sq_loop_set_io_threads(r#loop: *mut sq_loop, io_threads: u32) -> sq_status {
    ffi_boundary! {
        let lp = try_ref!(sq_loop, r#loop, "loop");
        ffi_try!(lp.set_io_threads(io_threads as usize));
        SQ_OK
    }
}

/// Runs the loop on the calling thread, which becomes its host thread, until
/// `sq_loop_stop` is called. Every callback of the loop runs on this thread.
/// If `sq_loop_stop` was called while the loop was not running, returns at
/// once (and consumes that stop).
///
/// Thread: one thread at a time; not from inside the loop's callbacks.
/// Ownership: nothing changes hands.
/// Returns: `SQ_OK` after a stop; `SQ_ERR_NULL`; `SQ_ERR_REENTRANT` from a
/// callback of this loop; `SQ_ERR_BUSY` if another thread runs or polls it;
/// `SQ_ERR_FORKED` in a child of fork() after the loop started;
/// `SQ_ERR_IO` if the loop's descriptors or threads could not be created.
#[unsafe(no_mangle)]
pub extern "C" fn sq_loop_run(r#loop: *mut sq_loop) -> sq_status {
    ffi_boundary! {
        let lp = try_ref!(sq_loop, r#loop, "loop");
        ffi_try!(lp.run());
        SQ_OK
    }
}

/// Makes `sq_loop_run` return once the callback running now (if any) has
/// returned. If the loop is not running, the next `sq_loop_run` returns at once.
///
/// Thread: any thread, including the loop's own callbacks.
/// Ownership: nothing changes hands.
/// Returns: `SQ_OK`; `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_loop_stop(r#loop: *mut sq_loop) -> sq_status {
    ffi_boundary! {
        let lp = try_ref!(sq_loop, r#loop, "loop");
        lp.handle().stop();
        SQ_OK
    }
}

/// One iteration of the loop on the calling thread: waits up to `timeout_ms`
/// (0: do not wait; -1: until something happens) for work, then runs every
/// callback that was pending when it woke and every timer that is due.
/// Callbacks scheduled by those callbacks wait for the next call. This is the
/// embedding entry point: wait on `sq_loop_fd` for at most
/// `sq_loop_timeout_ms`, then call `sq_loop_poll(loop, 0)`.
///
/// Thread: one thread at a time; not from inside the loop's callbacks.
/// Ownership: nothing changes hands.
/// Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` for a timeout below
/// -1; `SQ_ERR_REENTRANT`; `SQ_ERR_BUSY`; `SQ_ERR_FORKED`; `SQ_ERR_IO`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_loop_poll(r#loop: *mut sq_loop, timeout_ms: i32) -> sq_status {
    ffi_boundary! {
        let lp = try_ref!(sq_loop, r#loop, "loop");
        let timeout = match timeout_ms {
            -1 => None,
            t if t >= 0 => Some(millis(t as u64)),
            _ => return fail(Error::new(ErrorKind::InvalidArg, "timeout_ms must be -1 or at least 0")),
        };
        ffi_try!(lp.poll(timeout));
        SQ_OK
    }
}

/// A file descriptor for a host that runs its own event loop: it is readable
/// while the loop has work pending (callbacks, I/O results, a stop) and stays
/// readable until `sq_loop_poll` has taken that work (level-triggered). Timers
/// do not make it readable: wait at most `sq_loop_timeout_ms()`. The first
/// call creates the loop's descriptors (not its threads, which start with the
/// first `sq_loop_poll`); the fd is readable until then.
///
/// Thread: one thread at a time, as for `sq_loop_poll` (any thread once the fd
/// exists).
/// Ownership: the descriptor belongs to the loop: watch it, never read it,
/// write it or close it. It is closed by `sq_loop_free`.
/// Returns: the descriptor (≥ 0), or a negative `sq_status`: `SQ_ERR_NULL`,
/// `SQ_ERR_REENTRANT`, `SQ_ERR_BUSY`, `SQ_ERR_FORKED`, `SQ_ERR_IO`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_loop_fd(r#loop: *mut sq_loop) -> i32 {
    ffi_boundary! {
        let lp = try_ref!(sq_loop, r#loop, "loop");
        ffi_try!(lp.fd())
    }
}

/// How long a host may wait on `sq_loop_fd` before it must call
/// `sq_loop_poll`: 0 when work is pending (or the loop has not started yet),
/// the milliseconds until the next timer is due (rounded up), or -1 when there
/// is no timer (wait for the fd alone). With `io_threads` 0 the reactor's own
/// deadlines count as timers too (connection timeouts, keep-alive pings,
/// client deadlines): a loop with connections asks for a poll at least every
/// quarter second.
///
/// Thread: any thread.
/// Ownership: nothing changes hands.
/// Returns: -1, or a timeout in milliseconds (at most INT32_MAX). For a NULL
/// loop, 0 (so that the following `sq_loop_poll` reports `SQ_ERR_NULL`).
#[unsafe(no_mangle)]
pub extern "C" fn sq_loop_timeout_ms(r#loop: *const sq_loop) -> i32 {
    ffi_boundary! {
        on_panic = 0;
        if r#loop.is_null() {
            // Not SQ_ERR_NULL (-1), which would read as "no deadline".
            super::boundary::set_last_error("loop is NULL");
            return 0;
        }
        let lp = try_ref!(sq_loop, r#loop, "loop");
        match lp.timeout() {
            None => -1,
            Some(d) => {
                let ms = d.as_nanos().div_ceil(1_000_000);
                i32::try_from(ms).unwrap_or(i32::MAX)
            }
        }
    }
}

/// Schedules `cb(userdata)` to run once on the host thread, after every
/// callback the calling thread scheduled before (FIFO per calling thread).
/// A callback scheduled while the loop lives is run exactly once, unless the
/// loop is freed first (then it is dropped without running).
///
/// Thread: any thread, including the loop's own callbacks.
/// Ownership: squall keeps `userdata` (without dereferencing it) until it
/// hands it to `cb`; what it points to stays the caller's.
/// Returns: `SQ_OK`; `SQ_ERR_NULL` (loop or cb); `SQ_ERR_FORKED`. On an error
/// the callback will never be called.
#[unsafe(no_mangle)]
pub extern "C" fn sq_loop_add_callback(r#loop: *mut sq_loop, cb: sq_callback, userdata: *mut c_void) -> sq_status {
    ffi_boundary! {
        let lp = try_ref!(sq_loop, r#loop, "loop");
        let Some(f) = cb else { return super::boundary::fail_null("callback") };
        ffi_try!(lp.handle().add_raw_callback(RawCallback { f, data: userdata }));
        SQ_OK
    }
}

fn schedule(
    r#loop: *mut sq_loop,
    delay_ms: u64,
    periodic: bool,
    cb: sq_timer_callback,
    userdata: *mut c_void,
    id_out: *mut sq_timer_id,
) -> sq_status {
    let lp = try_ref!(sq_loop, r#loop, "loop");
    let Some(f) = cb else { return super::boundary::fail_null("callback") };
    let interval = periodic.then(|| millis(delay_ms));
    let id = ffi_try!(lp.handle().call_raw(millis(delay_ms), interval, RawTimerCallback { f, data: userdata }));
    if !id_out.is_null() {
        // SAFETY: non-NULL out-parameter the caller gave us to write.
        unsafe { *id_out = id.as_u64() };
    }
    SQ_OK
}

/// Schedules `cb(userdata, id)` to run once on the host thread `delay_ms`
/// milliseconds from now (0: on the next iteration). Timers due at the same
/// time run in the order they were scheduled.
///
/// Thread: any thread, including the loop's own callbacks.
/// Ownership: squall keeps `userdata` (without dereferencing it) until the
/// timer fires or is cancelled. `id_out` may be NULL; otherwise the timer's id
/// is written there on success.
/// Returns: `SQ_OK`; `SQ_ERR_NULL` (loop or cb); `SQ_ERR_FORKED`. On an error
/// the callback will never be called.
#[unsafe(no_mangle)]
pub extern "C" fn sq_call_later(
    r#loop: *mut sq_loop,
    delay_ms: u64,
    cb: sq_timer_callback,
    userdata: *mut c_void,
    id_out: *mut sq_timer_id,
) -> sq_status {
    ffi_boundary! {
        schedule(r#loop, delay_ms, false, cb, userdata, id_out)
    }
}

/// Schedules `cb(userdata, id)` to run on the host thread every `interval_ms`
/// milliseconds, first `interval_ms` from now, at a fixed rate: a run that
/// comes late does not shift the later ones, and beats missed while the host
/// was busy are skipped, not run in a burst. Runs until `sq_timer_cancel`.
///
/// Thread: any thread, including the loop's own callbacks.
/// Ownership: squall keeps `userdata` (without dereferencing it) until the
/// timer is cancelled or the loop freed. `id_out` may be NULL (then the timer
/// can still cancel itself with the id its callback receives).
/// Returns: `SQ_OK`; `SQ_ERR_NULL` (loop or cb); `SQ_ERR_INVALID_ARG` for an
/// interval of 0; `SQ_ERR_FORKED`. On an error the callback will never be called.
#[unsafe(no_mangle)]
pub extern "C" fn sq_call_every(
    r#loop: *mut sq_loop,
    interval_ms: u64,
    cb: sq_timer_callback,
    userdata: *mut c_void,
    id_out: *mut sq_timer_id,
) -> sq_status {
    ffi_boundary! {
        schedule(r#loop, interval_ms, true, cb, userdata, id_out)
    }
}

/// Cancels a timer: its callback will not run again, even if it was already
/// due. A timer may cancel itself from its own callback.
///
/// Thread: any thread, including the loop's own callbacks.
/// Ownership: squall lets go of the timer's `userdata`; freeing what it
/// points to is the caller's business, and safe once this returns `SQ_OK`
/// (or, from another thread, once the callback can no longer be running:
/// cancel from the host thread to be sure).
/// Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_ALREADY_DONE` for a one-shot
/// timer that already fired or a timer already cancelled; `SQ_ERR_INVALID_ARG`
/// for an id this loop never issued; `SQ_ERR_FORKED`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_timer_cancel(r#loop: *mut sq_loop, id: sq_timer_id) -> sq_status {
    ffi_boundary! {
        let lp = try_ref!(sq_loop, r#loop, "loop");
        ffi_try!(lp.handle().cancel(TimerId::from_u64(id)));
        SQ_OK
    }
}

/// Starts a batch on the calling thread: the commands it sends from now on
/// (responses, WebSocket sends, closes, publishes) are held and handed to
/// the reactors together, one wake-up per reactor, at the matching
/// `sq_batch_end`. A host that answers many requests from one thread in a
/// burst (a language runtime's worker, a flush of queued responses) saves a
/// reactor wake-up per command. Batches nest; only the outermost end sends.
/// The loop's own callbacks are already batched this way.
///
/// Thread: any thread; end the batch on the same thread, soon (held
/// commands wait for it).
/// Ownership: nothing changes hands.
/// Returns: `SQ_OK`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_batch_begin() -> sq_status {
    ffi_boundary! {
        crate::reactor::user_batch_begin();
        SQ_OK
    }
}

/// Ends a batch started with `sq_batch_begin` on this thread; the outermost
/// end sends what the batch held.
///
/// Thread: the thread that began the batch.
/// Ownership: nothing changes hands.
/// Returns: `SQ_OK`; `SQ_ERR_STATE` when this thread has no batch open.
#[unsafe(no_mangle)]
pub extern "C" fn sq_batch_end() -> sq_status {
    ffi_boundary! {
        if crate::reactor::user_batch_end() {
            SQ_OK
        } else {
            fail(Error::new(ErrorKind::State, "sq_batch_end without sq_batch_begin on this thread"))
        }
    }
}
