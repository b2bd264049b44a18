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

/// An echo server in Rust: what the host sees, in order, with its user words.
#[derive(Debug)]
struct Echo {
    lp: crate::reactor::LoopHandle,
    seen: std::sync::Mutex<Vec<String>>,
}

impl StreamEvents for Echo {
    fn first_user_word(&self) -> usize {
        7
    }
    fn wants_end(&self) -> bool {
        false
    }
    fn on_connect(&self, user: usize, outcome: Result<StreamId, &Error>) {
        let id = outcome.expect("an accepted stream");
        super::stream::STREAMS.get(id).expect("a live handle").set_user_word(8);
        self.seen.lock().unwrap().push(format!("connect {user}"));
    }
    fn on_data(&self, user: usize, id: StreamId, data: &[u8]) {
        self.seen.lock().unwrap().push(format!("data {user} {}", String::from_utf8_lossy(data)));
        super::stream::STREAMS.get(id).expect("a live handle").write(data).expect("queued");
    }
    fn on_end(&self, _user: usize, _id: StreamId) {
        unreachable!("the stream closes itself at EOF without wants_end");
    }
    fn on_drain(&self, _user: usize, _id: StreamId) {}
    fn on_close(&self, user: usize, _id: StreamId, outcome: Result<(), &Error>) {
        self.seen.lock().unwrap().push(format!("close {user} {:?}", outcome.map_err(Error::kind)));
        self.lp.stop();
    }
}

#[test]
fn a_rust_host_echoes_and_the_stream_closes_at_eof() {
    use std::io::{Read, Write};

    let lp = crate::Loop::new();
    let echo = Arc::new(Echo { lp: lp.handle().clone(), seen: Default::default() });
    let config = Config { events: echo.clone(), opts: Options::default(), listener_dead: None };
    let listener = super::listener::Listener::bind(lp.handle(), "127.0.0.1", 0, config).unwrap();
    let port = listener.shared.addr.port();
    let client = std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        s.write_all(b"hello").unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut back = Vec::new();
        s.read_to_end(&mut back).unwrap();
        back
    });
    // A safety net: a broken stream must fail the test, not hang it.
    lp.handle().call_later(std::time::Duration::from_secs(10), {
        let h = lp.handle().clone();
        move || h.stop()
    }).unwrap();
    lp.run().unwrap();
    assert_eq!(client.join().unwrap(), b"hello");
    // The bytes may come in more than one piece.
    let seen = echo.seen.lock().unwrap().clone();
    let (first, rest) = seen.split_first().unwrap();
    let (last, middle) = rest.split_last().unwrap();
    assert_eq!((first.as_str(), last.as_str()), ("connect 7", "close 8 Ok(())"), "{seen:?}");
    let data: Vec<&str> = middle.iter().map(|e| e.strip_prefix("data 8 ").expect("data with the stream's word")).collect();
    assert_eq!(data.concat(), "hello");
    drop(listener);
}
