//! Raw TCP streams over real sockets through the Rust API: an echo server
//! that sees its peer's EOF, a connect to a std listener, and a connect to
//! a closed port.

mod util;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener};
use std::sync::{Arc, Mutex, mpsc};

use squall::api::tcp::{self, Events, Stream};
use squall::{Error, ErrorKind, Loop};
use util::{Running, WAIT, closed_port, dial, next};

/// A stream's life as the program saw it.
#[derive(Debug, PartialEq)]
enum Seen {
    Connected(Option<std::net::SocketAddr>),
    Failed(ErrorKind),
    Data(Vec<u8>),
    End,
    Closed(Result<(), ErrorKind>),
}

struct Reporter {
    tx: Mutex<mpsc::Sender<Seen>>,
    /// Echo what arrives (a server), or say hello once connected (a client).
    echo: bool,
}

impl Reporter {
    fn new(echo: bool) -> (Reporter, mpsc::Receiver<Seen>) {
        let (tx, rx) = mpsc::channel();
        (Reporter { tx: Mutex::new(tx), echo }, rx)
    }

    fn saw(&self, s: Seen) {
        let _ = self.tx.lock().unwrap().send(s);
    }
}

impl Events for Reporter {
    fn on_connect(&self, stream: Result<&Stream, &Error>) {
        match stream {
            Ok(s) => {
                if !self.echo {
                    s.write(b"hello from squall").unwrap();
                }
                self.saw(Seen::Connected(s.peer_addr()));
            }
            Err(e) => self.saw(Seen::Failed(e.kind())),
        }
    }

    fn on_data(&self, stream: &Stream, data: &[u8]) {
        if self.echo {
            stream.write(data).unwrap();
        }
        self.saw(Seen::Data(data.to_vec()));
    }

    fn on_end(&self, stream: &Stream) {
        self.saw(Seen::End);
        if self.echo {
            // Still open for writing after the peer's EOF: a last word first.
            stream.write(b"bye").unwrap();
        }
        stream.close().unwrap();
    }

    fn on_close(&self, _stream: &Stream, outcome: Result<(), &Error>) {
        self.saw(Seen::Closed(outcome.map_err(|e| e.kind())));
    }
}

/// Data events until `want` bytes have arrived, joined.
fn data(rx: &mpsc::Receiver<Seen>, want: usize) -> Vec<u8> {
    let mut got = vec![];
    while got.len() < want {
        match next(rx, "data") {
            Seen::Data(d) => got.extend(d),
            other => panic!("expected data, got {other:?}"),
        }
    }
    got
}

#[test]
fn an_echo_server_sees_its_peers_eof_and_still_writes_after_it() {
    let lp = Arc::new(Loop::new());
    let (events, rx) = Reporter::new(true);
    let listener = tcp::listen(&lp, "127.0.0.1:0", events).unwrap();
    let addr = listener.local_addr();
    assert_ne!(addr.port(), 0);
    let running = Running::start(&lp);

    let mut c = dial(addr);
    assert_eq!(next(&rx, "on_connect"), Seen::Connected(Some(c.local_addr().unwrap())));
    let mut buf = [0u8; 4];
    c.write_all(b"ping").unwrap();
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    assert_eq!(data(&rx, 4), b"ping");

    c.write_all(b"second line\n").unwrap();
    let mut line = [0u8; 12];
    c.read_exact(&mut line).unwrap();
    assert_eq!(&line, b"second line\n");
    assert_eq!(data(&rx, 12), b"second line\n");

    // Half-close: the server hears the EOF, answers, then closes.
    c.shutdown(Shutdown::Write).unwrap();
    assert_eq!(next(&rx, "on_end"), Seen::End);
    let mut rest = vec![];
    c.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"bye");
    assert_eq!(next(&rx, "on_close"), Seen::Closed(Ok(())));
    running.stop();
    drop(listener);
}

#[test]
fn a_connect_talks_to_a_std_listener() {
    let peer = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = peer.local_addr().unwrap().port();
    let lp = Arc::new(Loop::new());
    let running = Running::start(&lp);
    let (events, rx) = Reporter::new(false);
    tcp::connect(&lp, "127.0.0.1", port, events).unwrap();

    let (mut s, _) = peer.accept().unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    assert_eq!(next(&rx, "on_connect"), Seen::Connected(Some(peer.local_addr().unwrap())));
    let mut hello = [0u8; 17];
    s.read_exact(&mut hello).unwrap();
    assert_eq!(&hello, b"hello from squall");
    s.write_all(b"hello from std").unwrap();
    assert_eq!(data(&rx, 14), b"hello from std");
    // The std side leaves; the stream hears the EOF and closes.
    drop(s);
    assert_eq!(next(&rx, "on_end"), Seen::End);
    assert_eq!(next(&rx, "on_close"), Seen::Closed(Ok(())));
    running.stop();
}

#[test]
fn a_connect_to_a_closed_port_fails_with_a_connect_error() {
    let port = closed_port();
    let lp = Arc::new(Loop::new());
    let running = Running::start(&lp);
    let (events, rx) = Reporter::new(false);
    tcp::connect(&lp, "127.0.0.1", port, events).unwrap();
    assert_eq!(next(&rx, "on_connect"), Seen::Failed(ErrorKind::Connect));
    // Nothing follows a failed connect.
    assert!(rx.recv_timeout(std::time::Duration::from_millis(100)).is_err());

    // Bad arguments are refused at once.
    let (events, _rx) = Reporter::new(false);
    assert_eq!(tcp::connect(&lp, "", 80, events).unwrap_err().kind(), ErrorKind::InvalidArg);
    let (events, _rx) = Reporter::new(false);
    assert_eq!(tcp::listen(&lp, "127.0.0.1", events).unwrap_err().kind(), ErrorKind::InvalidArg);
    running.stop();
}
