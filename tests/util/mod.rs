//! What the integration tests share: a loop running on its own thread that
//! is stopped (and joined) however the test ends, and a hand-written
//! HTTP/1.1 client on a blocking std socket, every wait bounded.

#![allow(dead_code)] // each test file uses its own part of this

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use squall::Loop;

/// The longest any single wait may take: a test that needs more is hung.
pub const WAIT: Duration = Duration::from_secs(5);

/// A loop run on a thread of its own, so the test thread can play the
/// client. Dropping it stops the loop and joins the thread, also when the
/// test fails half-way, so no test leaves a loop behind.
pub struct Running {
    lp: Arc<Loop>,
    thread: Option<JoinHandle<squall::Result<()>>>,
}

impl Running {
    pub fn start(lp: &Arc<Loop>) -> Running {
        let l = lp.clone();
        let thread = std::thread::Builder::new().name("test-loop".into()).spawn(move || l.run()).unwrap();
        Running { lp: lp.clone(), thread: Some(thread) }
    }

    /// Stops the loop and checks that `run` returned Ok.
    pub fn stop(mut self) {
        let result = self.halt();
        result.expect("Loop::run failed");
    }

    fn halt(&mut self) -> squall::Result<()> {
        self.lp.handle().stop();
        match self.thread.take() {
            Some(t) => t.join().expect("the loop thread panicked"),
            None => Ok(()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.halt();
        }
    }
}

/// The next value from `rx`, or a failure naming what did not come.
pub fn next<T>(rx: &Receiver<T>, what: &str) -> T {
    rx.recv_timeout(WAIT).unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// Polls `cond` until it holds or WAIT passes.
pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A loopback port nothing listens on (bound, then closed at once).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A blocking client socket whose reads and writes give up after WAIT.
pub fn dial(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, WAIT).expect("connect");
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.set_write_timeout(Some(WAIT)).unwrap();
    s
}

/// A response as read off the wire.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("a UTF-8 body")
    }
}

/// An HTTP/1.1 client connection: requests written by hand, responses read
/// by Content-Length or chunked framing.
pub struct Client {
    reader: BufReader<TcpStream>,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Client {
        Client { reader: BufReader::new(dial(addr)) }
    }

    pub fn send(&mut self, raw: &[u8]) {
        self.reader.get_mut().write_all(raw).expect("write the request");
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        let n = self.reader.read_line(&mut l).expect("read a line");
        assert!(n > 0, "the server closed the connection");
        l.trim_end_matches(['\r', '\n']).to_owned()
    }

    pub fn read_response(&mut self) -> Response {
        let status_line = self.line();
        let mut parts = status_line.splitn(3, ' ');
        assert_eq!(parts.next(), Some("HTTP/1.1"), "status line {status_line:?}");
        let status = parts.next().and_then(|s| s.parse().ok()).expect("a status code");
        let mut headers = vec![];
        loop {
            let l = self.line();
            if l.is_empty() {
                break;
            }
            let (n, v) = l.split_once(':').expect("a header line");
            headers.push((n.to_owned(), v.trim().to_owned()));
        }
        let mut resp = Response { status, headers, body: vec![] };
        if resp.header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            loop {
                let size = usize::from_str_radix(self.line().split(';').next().unwrap().trim(), 16).expect("a chunk size");
                let mut chunk = vec![0; size];
                self.reader.read_exact(&mut chunk).expect("a chunk");
                assert_eq!(self.line(), "", "CRLF after a chunk");
                if size == 0 {
                    break;
                }
                resp.body.extend_from_slice(&chunk);
            }
        } else if let Some(len) = resp.header("content-length") {
            let mut body = vec![0; len.parse().expect("a Content-Length")];
            self.reader.read_exact(&mut body).expect("the body");
            resp.body = body;
        }
        resp
    }

    /// One request, its response.
    pub fn request(&mut self, raw: &[u8]) -> Response {
        self.send(raw);
        self.read_response()
    }

    /// Whether the server closed the connection (EOF within WAIT).
    pub fn closed_by_server(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.reader.read(&mut b), Ok(0))
    }
}

/// A GET of `path`, keeping the connection open.
pub fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").into_bytes()
}

impl Client {
    /// A client on a socket the test made itself (sized buffers, say).
    pub fn from_stream(s: TcpStream) -> Client {
        s.set_read_timeout(Some(WAIT)).unwrap();
        s.set_write_timeout(Some(WAIT)).unwrap();
        Client { reader: BufReader::new(s) }
    }
}
