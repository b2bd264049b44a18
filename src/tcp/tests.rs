//! The any-thread accounting of a stream (no socket needed).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::stream::TcpShared;
use super::{Config, HostPtr, Options};
use crate::ffi::tcp::sq_tcp_callbacks;
use crate::net::writeq::Sent;

fn shared(high_water: usize, max_buffer: usize) -> Arc<TcpShared> {
    let callbacks = sq_tcp_callbacks { size: 0, on_connect: None, on_data: None, on_end: None, on_drain: None, on_close: None };
    let opts = Options { high_water, max_buffer, ..Options::default() };
    let lp = crate::Loop::new();
    TcpShared::new(Arc::new(Config { callbacks, opts, listener_dead: None }), HostPtr(std::ptr::null_mut()), lp.handle().clone(), 0)
}

#[test]
fn writes_are_queued_then_backpressured_then_refused() {
    let s = shared(100, 250);
    assert_eq!(s.admit(60).unwrap(), Sent::Queued);
    assert_eq!(s.admit(40).unwrap(), Sent::Queued, "at the mark is not above it");
    assert_eq!(s.admit(1).unwrap(), Sent::Backpressure);
    assert_eq!(s.admit(149).unwrap(), Sent::Backpressure, "up to the cap");
    let err = s.admit(1).unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::Limit);
    assert_eq!(s.buffered.load(Ordering::Acquire), 250, "a refused write counts nothing");
}

#[test]
fn one_write_always_fits_an_empty_buffer() {
    let s = shared(100, 250);
    assert_eq!(s.admit(10_000).unwrap(), Sent::Backpressure);
    assert!(s.admit(1).is_err());
}

#[test]
fn a_stream_without_a_running_loop_refuses_writes_cleanly() {
    let s = shared(100, 250);
    // Never started: the command cannot be sent; nothing stays counted.
    let err = s.write(b"abc").unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::Closed);
    assert_eq!(s.buffered.load(Ordering::Acquire), 0);
    assert!(s.close(false).is_ok());
    assert_eq!(s.write(b"x").unwrap_err().kind(), crate::ErrorKind::Closed);
    assert_eq!(s.close(false).unwrap_err().kind(), crate::ErrorKind::Closed);
    assert!(s.close(true).is_ok(), "an abort may follow a graceful close");
}
