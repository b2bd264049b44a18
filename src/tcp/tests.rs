//! The any-thread accounting of a stream (no socket needed).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::config::{Config, Options, StreamEvents, StreamId};
use super::stream::TcpShared;
use crate::Error;
use crate::net::writeq::Sent;

/// A host that listens to nothing.
#[derive(Debug)]
struct Deaf;

impl StreamEvents for Deaf {
    fn wants_end(&self) -> bool {
        false
    }
    fn on_connect(&self, _user: usize, _outcome: Result<StreamId, &Error>) {}
    fn on_data(&self, _user: usize, _id: StreamId, _data: &[u8]) {}
    fn on_end(&self, _user: usize, _id: StreamId) {}
    fn on_drain(&self, _user: usize, _id: StreamId) {}
    fn on_close(&self, _user: usize, _id: StreamId, _outcome: Result<(), &Error>) {}
}

fn shared(high_water: usize, max_buffer: usize) -> Arc<TcpShared> {
    let opts = Options { high_water, max_buffer, ..Options::default() };
    let lp = crate::Loop::new();
    TcpShared::new(Arc::new(Config { events: Arc::new(Deaf), opts, listener_dead: None }), lp.handle().clone(), 0)
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
