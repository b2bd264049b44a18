//! The C ABI called from Rust, for what needs no socket: the boundary's
//! conversions and panic catching, a loop's callbacks and timers through C
//! function pointers, the fetch request builder. `make test-miri` runs these
//! under Miri, which checks every pointer crossing here for provenance,
//! lifetime and aliasing.

use std::ffi::{CStr, c_char, c_void};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::boundary::{Castable, as_rust, ffi_boundary, into_ptr, set_last_error, str_arg, take_box, try_ref};
use super::*;
use crate::ErrorKind;

/// `sq_last_error()` as a Rust string.
fn last_error() -> String {
    // SAFETY: sq_last_error returns a live NUL-terminated string.
    unsafe { CStr::from_ptr(sq_last_error()) }.to_str().unwrap().to_owned()
}

/// A C-side opaque handle for a boxed Rust value, as the real ones are.
struct sq_thing {
    _private: [u8; 0],
}

impl Castable for sq_thing {
    type Rust = Vec<String>;
}

#[test]
fn str_arg_reads_text_and_refuses_null_and_bad_utf8() {
    // SAFETY: NULL is allowed by str_arg's contract.
    let e = unsafe { str_arg(std::ptr::null(), "name") }.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Null);
    assert_eq!(e.message(), "name is NULL");
    // SAFETY: a NUL-terminated literal that lives for the whole program.
    assert_eq!(unsafe { str_arg(c"h\u{e9}llo".as_ptr(), "name") }.unwrap(), "h\u{e9}llo");
    let bad = [0xffu8, 0xfe, 0];
    // SAFETY: a NUL-terminated array alive across the call.
    let e = unsafe { str_arg(bad.as_ptr().cast::<c_char>(), "name") }.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArg);
}

#[test]
fn boxed_handles_round_trip() {
    let p = into_ptr::<sq_thing>(vec!["a".to_owned(), "b".to_owned()]);
    assert!(!p.is_null());
    // SAFETY: p came from into_ptr and is not freed yet.
    assert_eq!(unsafe { as_rust::<sq_thing>(p) }.unwrap(), &["a", "b"]);
    // SAFETY: NULL is allowed.
    assert!(unsafe { as_rust::<sq_thing>(std::ptr::null()) }.is_none());
    // SAFETY: p is live and not used again.
    let b = unsafe { take_box::<sq_thing>(p) }.unwrap();
    assert_eq!(b.len(), 2);
    // SAFETY: NULL is allowed.
    assert!(unsafe { take_box::<sq_thing>(std::ptr::null_mut()) }.is_none());
}

fn len_of(p: *const sq_thing) -> sq_status {
    ffi_boundary! {
        let v = try_ref!(sq_thing, p, "thing");
        v.len() as sq_status
    }
}

#[allow(unreachable_code)]
fn status_that_panics() -> sq_status {
    ffi_boundary! {
        panic!("boom {}", 1);
        SQ_OK
    }
}

#[allow(unreachable_code)]
fn pointer_that_panics() -> *mut sq_thing {
    ffi_boundary! {
        panic!("boom {}", 2);
        std::ptr::null_mut()
    }
}

#[allow(unreachable_code)]
fn own_value_on_panic() -> i32 {
    ffi_boundary! {
        on_panic = 42;
        panic!("boom {}", 3);
        0
    }
}

#[test]
fn the_boundary_turns_null_and_panics_into_failures() {
    assert_eq!(len_of(std::ptr::null()), SQ_ERR_NULL);
    assert_eq!(last_error(), "thing is NULL");
    let p = into_ptr::<sq_thing>(vec![String::new(); 3]);
    assert_eq!(len_of(p), 3);
    // SAFETY: p is live and not used again.
    drop(unsafe { take_box::<sq_thing>(p) });

    assert_eq!(status_that_panics(), SQ_ERR_PANIC);
    assert_eq!(last_error(), "internal panic: boom 1");
    assert!(pointer_that_panics().is_null());
    assert_eq!(last_error(), "internal panic: boom 2");
    assert_eq!(own_value_on_panic(), 42);
    assert_eq!(last_error(), "internal panic: boom 3");

    set_last_error("a\0b");
    assert_eq!(last_error(), "a\\0b", "an inner NUL cannot cut the message short");
}

#[test]
fn static_strings_are_nul_terminated() {
    for s in [sq_version(), sq_status_str(SQ_ERR_TLS), sq_status_str(12345), sq_log_level_str(SQ_LOG_WARN)] {
        assert!(!s.is_null());
        // SAFETY: static NUL-terminated strings.
        assert!(!unsafe { CStr::from_ptr(s) }.to_bytes().is_empty());
    }
}

/// What the C callbacks below see through their `userdata`.
struct State {
    lp: *mut sq_loop,
    calls: AtomicUsize,
    ticks: AtomicUsize,
    once: AtomicUsize,
}

unsafe extern "C" fn on_call(userdata: *mut c_void) {
    ffi_boundary! {
        // SAFETY: the State the test gave, alive until the loop is freed.
        let st = unsafe { &*userdata.cast::<State>() };
        st.calls.fetch_add(1, Ordering::SeqCst);
    }
}

unsafe extern "C" fn on_tick(userdata: *mut c_void, id: sq_timer_id) {
    ffi_boundary! {
        // SAFETY: as in on_call.
        let st = unsafe { &*userdata.cast::<State>() };
        if st.ticks.fetch_add(1, Ordering::SeqCst) + 1 == 3 {
            assert_eq!(sq_timer_cancel(st.lp, id), SQ_OK);
        }
    }
}

unsafe extern "C" fn on_later(userdata: *mut c_void, _id: sq_timer_id) {
    ffi_boundary! {
        // SAFETY: as in on_call.
        let st = unsafe { &*userdata.cast::<State>() };
        st.once.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_loop_runs_c_callbacks_and_timers() {
    for io_threads in [0, 1] {
        let lp = sq_loop_new();
        assert!(!lp.is_null());
        assert_eq!(sq_loop_set_io_threads(lp, io_threads), SQ_OK);
        let st = State { lp, calls: AtomicUsize::new(0), ticks: AtomicUsize::new(0), once: AtomicUsize::new(0) };
        let data = (&st as *const State).cast_mut().cast::<c_void>();
        assert_eq!(sq_loop_add_callback(lp, None, data), SQ_ERR_NULL);
        assert_eq!(sq_loop_add_callback(std::ptr::null_mut(), Some(on_call), data), SQ_ERR_NULL);
        assert_eq!(sq_loop_add_callback(lp, Some(on_call), data), SQ_OK);
        let mut every = 0;
        assert_eq!(sq_call_every(lp, 1, Some(on_tick), data, &mut every), SQ_OK);
        assert_ne!(every, 0);
        let mut later = 0;
        assert_eq!(sq_call_later(lp, 2, Some(on_later), data, &mut later), SQ_OK);
        let mut cancelled = 0;
        assert_eq!(sq_call_later(lp, 0, Some(on_later), data, &mut cancelled), SQ_OK);
        assert_eq!(sq_timer_cancel(lp, cancelled), SQ_OK);
        assert_eq!(sq_timer_cancel(lp, cancelled), SQ_ERR_ALREADY_DONE);
        let start = Instant::now();
        while st.ticks.load(Ordering::SeqCst) < 3 || st.once.load(Ordering::SeqCst) < 1 {
            assert!(start.elapsed() < Duration::from_secs(30), "callbacks did not run (io_threads {io_threads})");
            assert_eq!(sq_loop_poll(lp, 20), SQ_OK);
        }
        assert_eq!(sq_timer_cancel(lp, every), SQ_ERR_ALREADY_DONE, "cancelled from its own run");
        assert_eq!(sq_loop_poll(lp, 10), SQ_OK);
        assert_eq!(st.calls.load(Ordering::SeqCst), 1);
        assert_eq!(st.ticks.load(Ordering::SeqCst), 3);
        assert_eq!(st.once.load(Ordering::SeqCst), 1, "the cancelled timer never ran");
        sq_loop_free(lp);
    }
    sq_loop_free(std::ptr::null_mut());
}

#[test]
fn the_fetch_request_builder_copies_and_checks_its_arguments() {
    let req = sq_fetch_request_new(c"GET".as_ptr(), c"http://127.0.0.1:9/x".as_ptr());
    assert!(!req.is_null(), "{}", last_error());
    let v = *b"value";
    assert_eq!(sq_fetch_request_set_header(req, c"X-Test".as_ptr(), v.as_ptr().cast(), v.len()), SQ_OK);
    assert_eq!(sq_fetch_request_set_header(req, c"bad name".as_ptr(), v.as_ptr().cast(), 1), SQ_ERR_INVALID_ARG);
    assert_eq!(sq_fetch_request_set_header(req, c"X-Crlf".as_ptr(), c"a\r\nb".as_ptr(), 4), SQ_ERR_INVALID_ARG);
    let body = vec![7u8; 100];
    assert_eq!(sq_fetch_request_set_body(req, body.as_ptr().cast(), body.len()), SQ_OK);
    drop(body);
    assert_eq!(sq_fetch_request_set_body(req, std::ptr::null(), 3), SQ_ERR_NULL);
    assert_eq!(sq_fetch_request_set_basic_auth(req, c"user".as_ptr(), c"pw".as_ptr()), SQ_OK);
    assert_eq!(sq_fetch_request_set_timeouts(std::ptr::null_mut(), 1, 1), SQ_ERR_NULL);
    assert_eq!(sq_fetch_request_set_verify(req, 0), SQ_OK);
    assert_eq!(sq_fetch_request_set_verify(std::ptr::null_mut(), 0), SQ_ERR_NULL);
    assert_eq!(sq_fetch_request_set_redirect_overflow(req, 1), SQ_OK);
    assert_eq!(sq_fetch_request_set_expect_continue(req, 1), SQ_OK);
    assert_eq!(sq_fetch_request_set_source_address(req, c"127.0.0.2".as_ptr()), SQ_OK);
    assert_eq!(sq_fetch_request_set_source_address(req, c"[::1]".as_ptr()), SQ_OK);
    assert_eq!(sq_fetch_request_set_source_address(req, c"eth0".as_ptr()), SQ_ERR_INVALID_ARG);
    assert!(last_error().contains("eth0"), "{}", last_error());
    assert_eq!(sq_fetch_request_set_source_address(req, std::ptr::null()), SQ_OK);
    assert_eq!(sq_fetch_request_set_connect_to(req, c"127.0.0.1".as_ptr(), 8080), SQ_OK);
    assert_eq!(sq_fetch_request_set_connect_to(req, c"127.0.0.1".as_ptr(), 0), SQ_ERR_INVALID_ARG);
    assert_eq!(sq_fetch_request_set_connect_to(req, c"[]".as_ptr(), 80), SQ_ERR_INVALID_ARG);
    assert_eq!(sq_fetch_request_set_connect_to(req, std::ptr::null(), 0), SQ_OK);
    for family in [0, 4, 6] {
        assert_eq!(sq_fetch_request_set_ip_family(req, family), SQ_OK);
    }
    for family in [-1, 5, 260] {
        assert_eq!(sq_fetch_request_set_ip_family(req, family), SQ_ERR_INVALID_ARG);
    }
    let mut queued = 7u64;
    assert_eq!(sq_fetch_queued(std::ptr::null_mut(), &mut queued), SQ_ERR_NULL);
    let lp = sq_loop_new();
    assert_eq!(sq_fetch_queued(lp, &mut queued), SQ_OK);
    assert_eq!(queued, 0, "nothing waits on a new loop");
    assert_eq!(sq_fetch_queued(lp, std::ptr::null_mut()), SQ_ERR_NULL);
    sq_loop_free(lp);
    sq_fetch_request_free(req);
    sq_fetch_request_free(std::ptr::null_mut());

    let bad = [b'G', 0xff, 0];
    assert!(sq_fetch_request_new(bad.as_ptr().cast(), c"http://127.0.0.1:9/".as_ptr()).is_null());
    assert!(last_error().contains("method"), "{}", last_error());
    assert!(sq_fetch_request_new(c"GET".as_ptr(), c"ftp://x/".as_ptr()).is_null());
    assert!(sq_fetch_request_new(c"GET".as_ptr(), std::ptr::null()).is_null());
    assert_eq!(last_error(), "url is NULL");
}

/// The records `on_log` received that mention "boom 4".
static LOGGED: std::sync::Mutex<Vec<(sq_log_level, String, String)>> = std::sync::Mutex::new(Vec::new());

unsafe extern "C" fn on_log(userdata: *mut c_void, level: sq_log_level, target: *const c_char, message: *const c_char) {
    ffi_boundary! {
        assert_eq!(userdata.addr(), 7);
        // SAFETY: two NUL-terminated strings alive for the call, per the header.
        let (target, message) = unsafe { (CStr::from_ptr(target), CStr::from_ptr(message)) };
        let (target, message) = (target.to_str().unwrap().to_owned(), message.to_str().unwrap().to_owned());
        if message.contains("boom 4") {
            LOGGED.lock().unwrap().push((level, target, message));
        }
    }
}

#[allow(unreachable_code)]
fn status_that_panics_4() -> sq_status {
    ffi_boundary! {
        panic!("boom {}", 4);
        SQ_OK
    }
}

#[test]
fn log_records_reach_a_c_callback() {
    assert_eq!(sq_log_set_callback(SQ_LOG_TRACE + 1, Some(on_log), std::ptr::null_mut()), SQ_ERR_INVALID_ARG);
    assert_eq!(sq_log_set_callback(SQ_LOG_ERROR, Some(on_log), std::ptr::without_provenance_mut(7)), SQ_OK);
    assert_eq!(status_that_panics_4(), SQ_ERR_PANIC);
    assert_eq!(sq_log_set_callback(SQ_LOG_OFF, None, std::ptr::null_mut()), SQ_OK);
    assert_eq!(status_that_panics_4(), SQ_ERR_PANIC, "logged nowhere now");
    let logged = LOGGED.lock().unwrap();
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert_eq!(logged[0].0, SQ_LOG_ERROR);
    assert_eq!(logged[0].1, "squall::ffi");
    assert!(logged[0].2.contains("panic caught at the C boundary: boom 4"), "{logged:?}");
}
