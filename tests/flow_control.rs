//! Flow control observed over real sockets: a host callback that blocks,
//! a peer that keeps sending. While the host is stuck, squall must stop
//! reading once about 1 MiB (src/reactor/flow.rs: HIGH_WATER, each event
//! counting 1 KiB more) waits for the host, so the peer's non-blocking
//! writes stop making progress; once the host is released, reading resumes
//! and everything arrives, in order, counted and checksummed.
//!
//! What squall itself holds is measured exactly: the bytes the peer wrote,
//! minus those still in the peer's send queue and in squall's receive queue
//! (the kernel's `tx_queue` and `rx_queue` in /proc/net/tcp). Linux only.
#![cfg(target_os = "linux")]

mod util;

use std::io::{ErrorKind as IoKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use squall::api::Server;
use squall::api::tcp::{self, Stream};
use squall::api::ws::{self, Message, WebSocket};
use squall::{Error, Loop};
use util::{Client, Running, WAIT, eventually};

/// The gate's marks and the per-event cost (src/reactor/flow.rs), and the
/// size of one read (src/reactor/read.rs): the bounds the tests hold squall to.
const HIGH_WATER: usize = 1 << 20;
const EVENT_COST: usize = 1024;
const READ_CHUNK: usize = 64 * 1024;

/// Writes that make no progress for this long mean the peer is paused.
const STALL: Duration = Duration::from_millis(400);
/// A flood that got this far without pausing was never going to.
const FLOOD_CAP: usize = 64 << 20;

/// Where a host callback waits until the test lets it go on.
#[derive(Default)]
struct Hold {
    open: Mutex<bool>,
    cv: Condvar,
    entered: AtomicBool,
}

impl Hold {
    /// Blocks (at most 10 s, so that a failing test cannot hang) until opened.
    fn wait(&self) {
        self.entered.store(true, Ordering::SeqCst);
        let g = self.open.lock().unwrap();
        let _g = self.cv.wait_timeout_while(g, Duration::from_secs(10), |open| !*open).unwrap();
    }

    fn release(&self) {
        *self.open.lock().unwrap() = true;
        self.cv.notify_all();
    }
}

/// FNV-1a, 64 bits: the checksum both sides keep.
fn fnv(mut h: u64, data: &[u8]) -> u64 {
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

/// What one side saw: events, bytes, a checksum over them in order, and
/// the numbered events (those of 8 bytes or more start with their number),
/// which must come 0, 1, 2, …
#[derive(Debug, PartialEq, Eq)]
struct Tally {
    events: u64,
    bytes: u64,
    hash: u64,
    numbered: u64,
    disorder: Option<String>,
}

impl Default for Tally {
    fn default() -> Tally {
        Tally { events: 0, bytes: 0, hash: 0xcbf2_9ce4_8422_2325, numbered: 0, disorder: None }
    }
}

impl Tally {
    /// One event (a message) carrying `data`.
    fn message(&mut self, data: &[u8]) {
        self.events += 1;
        self.bytes += data.len() as u64;
        self.hash = fnv(self.hash, data);
        if data.len() >= 8 {
            let n = u64::from_le_bytes(data[..8].try_into().unwrap());
            if n != self.numbered && self.disorder.is_none() {
                self.disorder = Some(format!("message {n} came where {} was due", self.numbered));
            }
            self.numbered += 1;
        }
    }

    /// Stream bytes: only their count and checksum matter, not how they
    /// were cut into events.
    fn stream(&mut self, data: &[u8]) {
        self.bytes += data.len() as u64;
        self.hash = fnv(self.hash, data);
    }
}

/// The kernel's (tx_queue, rx_queue) of the IPv4 TCP socket `local` → `remote`.
fn kernel_queues(local: SocketAddr, remote: SocketAddr) -> (usize, usize) {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    let port = |field: &str| u16::from_str_radix(field.rsplit(':').next().unwrap(), 16).unwrap();
    for line in table.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if port(f[1]) == local.port() && port(f[2]) == remote.port() {
            let (tx, rx) = f[4].split_once(':').unwrap();
            return (usize::from_str_radix(tx, 16).unwrap(), usize::from_str_radix(rx, 16).unwrap());
        }
    }
    panic!("no socket {local} -> {remote} in /proc/net/tcp");
}

/// A client socket with a small send buffer (no autotuning), so that a
/// pause shows quickly and what the kernel holds stays small.
fn small_socket(addr: SocketAddr, sndbuf: usize, rcvbuf: usize) -> TcpStream {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.set_send_buffer_size(sndbuf).unwrap();
    s.set_recv_buffer_size(rcvbuf).unwrap();
    s.connect_timeout(&addr.into(), WAIT).expect("connect");
    let s: TcpStream = s.into();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.set_write_timeout(Some(WAIT)).unwrap();
    s
}

/// A peer that writes units (frames, stream pieces) made by `make(n)` on
/// a non-blocking socket.
struct Flood {
    sock: TcpStream,
    pending: Vec<u8>,
    off: usize,
    sent: usize,
    units: u64,
}

impl Flood {
    fn new(sock: TcpStream) -> Flood {
        sock.set_nonblocking(true).unwrap();
        Flood { sock, pending: Vec::new(), off: 0, sent: 0, units: 0 }
    }

    /// Writes until the socket takes nothing for STALL (true), or until
    /// FLOOD_CAP bytes (or every unit: `make` returns nothing) went out
    /// without that happening (false).
    fn until_stalled(&mut self, make: &mut impl FnMut(u64) -> Vec<u8>) -> bool {
        let mut progress = Instant::now();
        loop {
            if self.off == self.pending.len() {
                self.pending = make(self.units);
                if self.pending.is_empty() {
                    return false;
                }
                self.units += 1;
                self.off = 0;
            }
            match self.sock.write(&self.pending[self.off..]) {
                Ok(n) => {
                    self.off += n;
                    self.sent += n;
                    progress = Instant::now();
                    if self.sent > FLOOD_CAP {
                        return false;
                    }
                }
                Err(e) if e.kind() == IoKind::WouldBlock => {
                    if progress.elapsed() > STALL {
                        return true;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => panic!("the flood's write failed: {e}"),
            }
        }
    }

    /// The bytes squall has taken off the socket: written, minus what
    /// waits in our send queue and in squall's receive queue.
    fn taken_by_squall(&self) -> usize {
        let local = self.sock.local_addr().unwrap();
        let peer = self.sock.peer_addr().unwrap();
        let (ours, _) = kernel_queues(local, peer);
        let (_, theirs) = kernel_queues(peer, local);
        self.sent - ours - theirs
    }

    /// Checks the pause: nothing more is taken over a while, and what was
    /// taken is within `bound`. Returns it.
    fn check_paused(&self, bound: usize, what: &str) -> usize {
        let first = self.taken_by_squall();
        std::thread::sleep(Duration::from_millis(300));
        let second = self.taken_by_squall();
        assert_eq!(first, second, "{what}: squall kept reading while its host was stuck");
        assert!(second <= bound, "{what}: squall took {second} bytes while its host was stuck (bound {bound})");
        second
    }

    /// Blocking again: finishes the unit in progress, then writes `more`
    /// whole units. Every write must go through: reading resumed.
    fn finish(&mut self, make: &mut impl FnMut(u64) -> Vec<u8>, more: u64) -> &mut TcpStream {
        self.sock.set_nonblocking(false).unwrap();
        self.sock.set_write_timeout(Some(WAIT)).unwrap();
        self.sock.write_all(&self.pending[self.off..]).expect("the rest of the unit after the release");
        self.sent += self.pending.len() - self.off;
        self.off = self.pending.len();
        for _ in 0..more {
            let u = make(self.units);
            self.units += 1;
            self.sock.write_all(&u).expect("a write after the release");
            self.sent += u.len();
        }
        &mut self.sock
    }
}

// ---------------------------------------------------------------- WebSocket

/// A masked client frame (FIN set).
fn ws_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x80 | opcode];
    let n = payload.len();
    if n < 126 {
        f.push(0x80 | n as u8);
    } else if n < 65536 {
        f.push(0x80 | 126);
        f.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        f.push(0x80 | 127);
        f.extend_from_slice(&(n as u64).to_be_bytes());
    }
    let key = [0x37u8, 0xfa, 0x21, 0x3d];
    f.extend_from_slice(&key);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    f
}

/// Opens a WebSocket on `path` by hand; returns the socket after the 101.
fn ws_handshake(addr: SocketAddr, path: &str) -> TcpStream {
    let mut s = small_socket(addr, 32 << 10, 64 << 10);
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut b).expect("the handshake response"), 1, "closed during the handshake");
        head.push(b[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
    s
}

/// A WebSocket route whose `on_message` waits at the hold, then counts.
struct StuckWs {
    hold: Arc<Hold>,
    tally: Arc<Mutex<Tally>>,
}

impl ws::Events for StuckWs {
    fn on_message(&self, _ws: &WebSocket, msg: Message<'_>) {
        self.hold.wait();
        let data = match msg {
            Message::Binary(b) => b,
            Message::Text(t) => t.as_bytes(),
        };
        self.tally.lock().unwrap().message(data);
    }
}

/// A server with the stuck WebSocket route on /ws (and the flow limits
/// given, else the defaults), running, and a client on it.
fn stuck_ws(flow: Option<(usize, usize)>) -> (Running, Server, Flood, Arc<Hold>, Arc<Mutex<Tally>>) {
    let lp = Arc::new(Loop::new());
    let server = Server::new(&lp);
    if let Some((high, low)) = flow {
        server.set_flow_limits(high, low).unwrap();
    }
    let hold = Arc::new(Hold::default());
    let tally = Arc::new(Mutex::new(Tally::default()));
    server.ws_route("/ws", StuckWs { hold: hold.clone(), tally: tally.clone() }).unwrap();
    let addr = server.listen("127.0.0.1:0").unwrap();
    let running = Running::start(&lp);
    let flood = Flood::new(ws_handshake(addr, "/ws"));
    (running, server, flood, hold, tally)
}

/// Floods a stuck route with the frames `make` builds, checks the pause
/// (squall took at most `bound`), releases, sends `more` units and checks
/// that the host got exactly `expect`.
fn flood_stuck_ws(make: &mut impl FnMut(u64) -> Vec<u8>, expect: &Mutex<Tally>, bound: usize, more: u64, what: &str) {
    flood_stuck_ws_with(None, make, expect, bound, more, what)
}

fn flood_stuck_ws_with(
    flow: Option<(usize, usize)>,
    make: &mut impl FnMut(u64) -> Vec<u8>,
    expect: &Mutex<Tally>,
    bound: usize,
    more: u64,
    what: &str,
) {
    let (running, server, mut flood, hold, tally) = stuck_ws(flow);
    assert!(flood.until_stalled(make), "{what}: {} bytes went out and the writes never stopped", flood.sent);
    assert!(hold.entered.load(Ordering::SeqCst), "{what}: the host never got a message");
    let taken = flood.check_paused(bound, what);
    assert_eq!(tally.lock().unwrap().events, 0, "{what}: the host callback is stuck in the first message");

    hold.release();
    flood.finish(make, more);
    let want = expect.lock().unwrap();
    eventually("every message to reach the host", || tally.lock().unwrap().events == want.events);
    assert_eq!(*tally.lock().unwrap(), *want, "{what}: what the host got (squall had taken {taken} of {} bytes)", flood.sent);
    drop(want);
    running.stop();
    drop(server);
}

#[test]
fn a_websocket_flood_pauses_while_the_host_is_stuck_then_arrives_whole() {
    const SIZE: usize = 16 << 10;
    let expect = Mutex::new(Tally::default());
    let mut make = |n: u64| {
        let mut p: Vec<u8> = (0..SIZE).map(|i| (i as u64).wrapping_mul(31).wrapping_add(n) as u8).collect();
        p[..8].copy_from_slice(&n.to_le_bytes());
        expect.lock().unwrap().message(&p);
        ws_frame(2, &p)
    };
    // Handed over: at most HIGH_WATER, plus the message that crossed it;
    // read and not yet parsed: at most one read.
    let bound = HIGH_WATER + SIZE + 16 + READ_CHUNK;
    flood_stuck_ws(&mut make, &expect, bound, 128, "16 KiB messages");
    assert!(expect.lock().unwrap().events > 128);
}

#[test]
fn the_flow_limits_are_the_servers_to_set() {
    // The same flood with the marks at 64 KiB / 16 KiB: squall takes a
    // sixteenth of what the defaults let it take.
    const SIZE: usize = 4 << 10;
    const HIGH: usize = 64 << 10;
    let expect = Mutex::new(Tally::default());
    let mut make = |n: u64| {
        let mut p: Vec<u8> = (0..SIZE).map(|i| (i as u64).wrapping_mul(7).wrapping_add(n) as u8).collect();
        p[..8].copy_from_slice(&n.to_le_bytes());
        expect.lock().unwrap().message(&p);
        ws_frame(2, &p)
    };
    let bound = HIGH + SIZE + 16 + READ_CHUNK;
    flood_stuck_ws_with(Some((HIGH, HIGH / 4)), &mut make, &expect, bound, 64, "4 KiB messages, 64 KiB marks");

    let lp = Loop::new();
    let server = Server::new(&lp);
    for (high, low) in [(4095, 1000), (65536, 0), (65536, 65537)] {
        let e = server.set_flow_limits(high, low).expect_err("marks out of range");
        assert_eq!(e.kind(), squall::ErrorKind::InvalidArg, "({high}, {low}): {e}");
    }
    server.set_flow_limits(4096, 4096).unwrap();
}

#[test]
fn a_flood_of_empty_websocket_messages_pauses_too() {
    // Units of 256 frames: one numbered 8-byte message, 255 empty ones.
    let expect = Mutex::new(Tally::default());
    let mut make = |n: u64| {
        let mut e = expect.lock().unwrap();
        e.message(&n.to_le_bytes());
        let mut unit = ws_frame(2, &n.to_le_bytes());
        for _ in 0..255 {
            e.message(&[]);
            unit.extend_from_slice(&ws_frame(2, &[]));
        }
        unit
    };
    // An empty frame is 6 bytes on the wire; each counts EVENT_COST, so at
    // most HIGH_WATER / EVENT_COST (+1) are handed over, plus one read.
    let bound = (HIGH_WATER / EVENT_COST + 1) * 14 + READ_CHUNK;
    flood_stuck_ws(&mut make, &expect, bound, 64, "empty messages");
}

// ---------------------------------------------------------------- TCP

/// Stream events whose `on_data` waits at the hold, then counts.
struct StuckTcp {
    hold: Arc<Hold>,
    tally: Arc<Mutex<Tally>>,
}

impl tcp::Events for StuckTcp {
    fn on_connect(&self, _stream: Result<&Stream, &Error>) {}

    fn on_data(&self, _stream: &Stream, data: &[u8]) {
        self.hold.wait();
        self.tally.lock().unwrap().stream(data);
    }
}

/// Piece `n` of a byte stream: 64 KiB, numbered so that a lost or
/// reordered piece changes the checksum.
fn stream_piece(n: u64) -> Vec<u8> {
    let mut p: Vec<u8> = (0..64 << 10).map(|i: u64| (i.wrapping_mul(131) ^ n) as u8).collect();
    p[..8].copy_from_slice(&n.to_le_bytes());
    p
}

#[test]
fn a_tcp_stream_pauses_while_on_data_is_stuck_then_delivers_every_byte() {
    let lp = Arc::new(Loop::new());
    let hold = Arc::new(Hold::default());
    let tally = Arc::new(Mutex::new(Tally::default()));
    let listener = tcp::listen(&lp, "127.0.0.1:0", StuckTcp { hold: hold.clone(), tally: tally.clone() }).unwrap();
    let running = Running::start(&lp);
    let mut flood = Flood::new(small_socket(listener.local_addr(), 32 << 10, 64 << 10));

    let mut expect = Tally::default();
    let mut make = |n: u64| {
        let p = stream_piece(n);
        expect.stream(&p);
        p
    };
    assert!(flood.until_stalled(&mut make), "{} bytes went out and the writes never stopped", flood.sent);
    assert!(hold.entered.load(Ordering::SeqCst), "on_data never ran");
    // Handed over: at most HIGH_WATER plus the read that crossed it; and
    // at most one more read taken before the pause was seen.
    flood.check_paused(HIGH_WATER + 2 * READ_CHUNK, "tcp");
    assert_eq!(tally.lock().unwrap().bytes, 0);

    hold.release();
    flood.finish(&mut make, 32);
    let want_bytes = flood.sent as u64;
    eventually("every byte to reach on_data", || tally.lock().unwrap().bytes == want_bytes);
    let got = tally.lock().unwrap();
    assert_eq!((got.bytes, got.hash), (expect.bytes, expect.hash), "the stream as on_data got it");
    drop(got);
    running.stop();
    drop(listener);
}

// ---------------------------------------------------------------- HTTP output

/// The body of /big/{n}: 512 KiB, numbered.
fn big_body(n: u64) -> Vec<u8> {
    let mut b: Vec<u8> = (0..512u64 << 10).map(|i| (i.wrapping_mul(7) ^ n) as u8).collect();
    b[..8].copy_from_slice(&n.to_le_bytes());
    b
}

#[test]
fn a_client_that_reads_nothing_stops_the_server_reading_requests() {
    const REQUESTS: u64 = 40;
    let lp = Arc::new(Loop::new());
    let server = Server::new(&lp);
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    server
        .route("GET", "/big/([0-9]+)", move |req| {
            c.fetch_add(1, Ordering::SeqCst);
            let n: u64 = req.capture(0).unwrap().parse().unwrap();
            req.respond(200, &[("X-N", n.to_string().as_bytes())], &big_body(n)).map_err(|_| 1)
        })
        .unwrap();
    let addr = server.listen("127.0.0.1:0").unwrap();
    let running = Running::start(&lp);

    // One request at a time, each written once the one before reached its
    // handler, until one does not: the server stopped reading requests.
    // (A burst would be decoded up to the 32-in-flight cap before any output
    // exists to pause on.)
    let mut s = small_socket(addr, 64 << 10, 64 << 10);
    let request = |n: u64| format!("GET /big/{n} HTTP/1.1\r\nHost: t\r\n\r\n").into_bytes();
    let mut written = 0;
    while written < REQUESTS {
        s.write_all(&request(written)).unwrap();
        written += 1;
        let end = Instant::now() + Duration::from_millis(500);
        while calls.load(Ordering::SeqCst) < written as usize && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(2));
        }
        if calls.load(Ordering::SeqCst) < written as usize {
            break;
        }
        // Time for the response to reach the connection's output queue
        // before the next request is decoded.
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(written < REQUESTS, "all {REQUESTS} handlers ran for a client that reads nothing");
    // The rest, at once: none of them reaches a handler.
    for n in written..REQUESTS {
        s.write_all(&request(n)).unwrap();
    }
    let stuck = calls.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(calls.load(Ordering::SeqCst), stuck, "handlers kept running for a client that reads nothing");
    assert!(stuck >= 2, "the server paused after {stuck} responses");
    // What the server produced and still holds: at most HIGH_WATER, the
    // response that crossed it, and one more whose request was decoded
    // while the output before it was still on its way from the host (the
    // rest is in the kernel's queues).
    let local = s.local_addr().unwrap();
    let (_, ours) = kernel_queues(local, addr);
    let (theirs, _) = kernel_queues(addr, local);
    let response = (512 << 10) + 200;
    let produced = stuck * response;
    let held = produced.saturating_sub(ours + theirs);
    assert!(held <= HIGH_WATER + 2 * response, "the server holds about {held} bytes of output ({stuck} responses)");

    // The client reads: every response, in order.
    let mut c = Client::from_stream(s);
    for n in 0..REQUESTS {
        let r = c.read_response();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-n"), Some(n.to_string().as_str()), "response {n} out of order");
        assert!(r.body == big_body(n), "the body of response {n}");
    }
    assert_eq!(calls.load(Ordering::SeqCst), REQUESTS as usize);
    running.stop();
    drop(server);
}

// ---------------------------------------------------------------- streamed request body

const BODY_UNITS: u64 = 128; // 8 MiB

#[test]
fn a_streamed_request_body_pauses_while_the_host_is_stuck_then_arrives_whole() {
    let lp = Arc::new(Loop::new());
    let server = Server::new(&lp);
    let hold = Arc::new(Hold::default());
    let tally = Arc::new(Mutex::new(Tally::default()));
    let (h, t) = (hold.clone(), tally.clone());
    server
        .route_streamed("POST", "/upload", move |req| {
            let (h, t) = (h.clone(), t.clone());
            req.handle()
                .on_body(move |req, chunk, last| {
                    if last {
                        let got = t.lock().unwrap();
                        req.respond(200, &[], format!("{} {:x}", got.bytes, got.hash).as_bytes()).unwrap();
                        return;
                    }
                    h.wait();
                    t.lock().unwrap().stream(chunk);
                })
                .map_err(|_| 1)
        })
        .unwrap();
    let addr = server.listen("127.0.0.1:0").unwrap();
    let running = Running::start(&lp);

    let mut flood = Flood::new(small_socket(addr, 32 << 10, 64 << 10));
    let head = format!("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n", BODY_UNITS << 16).into_bytes();
    let head_len = head.len();
    let mut expect = Tally::default();
    let mut make = |n: u64| match n {
        0 => head.clone(),
        n if n <= BODY_UNITS => {
            let p = stream_piece(n);
            expect.stream(&p);
            p
        }
        _ => Vec::new(),
    };
    assert!(flood.until_stalled(&mut make), "the whole body went out: the writes never stopped");
    assert!(hold.entered.load(Ordering::SeqCst), "no body chunk reached the host");
    // As for TCP: HIGH_WATER, the read that crossed it, one read more.
    flood.check_paused(head_len + HIGH_WATER + 2 * READ_CHUNK, "streamed body");
    assert_eq!(tally.lock().unwrap().bytes, 0);

    hold.release();
    let rest = BODY_UNITS + 1 - flood.units;
    let sock = flood.finish(&mut make, rest).try_clone().unwrap();
    let mut c = Client::from_stream(sock);
    let r = c.read_response();
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), format!("{} {:x}", expect.bytes, expect.hash), "the body as the host got it");
    assert_eq!(expect.bytes, BODY_UNITS << 16);
    running.stop();
    drop(server);
}

// ---------------------------------------------------------------- fetch on_chunk

#[test]
fn a_fetch_whose_on_chunk_is_stuck_pauses_the_server_then_gets_the_exact_body() {
    let peer = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = peer.local_addr().unwrap().port();
    let lp = Arc::new(Loop::new());
    let running = Running::start(&lp);
    let hold = Arc::new(Hold::default());
    let tally = Arc::new(Mutex::new(Tally::default()));
    let (h, t) = (hold.clone(), tally.clone());
    let (tx, rx) = std::sync::mpsc::channel();
    squall::api::fetch_streamed(
        &lp,
        squall::api::fetch::Request::get(&format!("http://127.0.0.1:{port}/big")),
        move |chunk| {
            h.wait();
            t.lock().unwrap().stream(chunk);
        },
        move |r| tx.send(r).unwrap(),
    )
    .unwrap();

    let (s, _) = peer.accept().unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!((&s).read(&mut b).unwrap(), 1, "the fetch's request ended early");
        head.push(b[0]);
    }
    assert!(head.starts_with(b"GET /big HTTP/1.1\r\n"), "{}", String::from_utf8_lossy(&head));

    let mut flood = Flood::new(s);
    let response_head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", BODY_UNITS << 16).into_bytes();
    let head_len = response_head.len();
    let mut expect = Tally::default();
    let mut make = |n: u64| match n {
        0 => response_head.clone(),
        n if n <= BODY_UNITS => {
            let p = stream_piece(n);
            expect.stream(&p);
            p
        }
        _ => Vec::new(),
    };
    assert!(flood.until_stalled(&mut make), "the whole body went out: the server's writes never stopped");
    assert!(hold.entered.load(Ordering::SeqCst), "on_chunk never ran");
    flood.check_paused(head_len + HIGH_WATER + 2 * READ_CHUNK, "fetch body");
    assert_eq!(tally.lock().unwrap().bytes, 0);

    hold.release();
    let rest = BODY_UNITS + 1 - flood.units;
    flood.finish(&mut make, rest);
    let resp = util::next(&rx, "the response").expect("a response");
    assert_eq!(resp.status, 200);
    assert!(resp.body.is_empty(), "a streamed body is not gathered too");
    let got = tally.lock().unwrap();
    assert_eq!((got.bytes, got.hash), (expect.bytes, expect.hash), "the body as on_chunk got it");
    assert_eq!(got.bytes, BODY_UNITS << 16);
    drop(got);
    running.stop();
}

// ---------------------------------------------------------------- fair share

/// A WebSocket route that counts messages, and does nothing else.
struct Counting(Arc<AtomicUsize>);

impl ws::Events for Counting {
    fn on_message(&self, _ws: &WebSocket, _msg: Message<'_>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_newcomer_waits_for_one_share_of_each_busy_peer_not_for_their_floods() {
    // 50 peers keep writing empty messages; the host takes each at once.
    // Were a connection read until it paused (1,024 events for the host)
    // or its socket ran dry, each turn of the reactor would hand the host
    // ~50,000 messages, and a newcomer's request would wait behind a
    // turn's worth. With a share per connection and turn
    // (src/reactor/read.rs, TURN_SHARE: 64 events), it waits for a few
    // thousand: counted by the host, in the order it runs callbacks.
    const PEERS: usize = 50;
    let lp = Arc::new(Loop::new());
    let server = Server::new(&lp);
    let count = Arc::new(AtomicUsize::new(0));
    server.ws_route("/ws", Counting(count.clone())).unwrap();
    let c = count.clone();
    server
        .route("GET", "/", move |req| req.respond(200, &[], c.load(Ordering::SeqCst).to_string().as_bytes()).map_err(|_| 1))
        .unwrap();
    let addr = server.listen("127.0.0.1:0").unwrap();
    let running = Running::start(&lp);

    let peers: Vec<TcpStream> = (0..PEERS)
        .map(|_| {
            let s = ws_handshake(addr, "/ws");
            socket2::SockRef::from(&s).set_send_buffer_size(1 << 20).unwrap();
            s.set_nonblocking(true).unwrap();
            s
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let st = stop.clone();
    let flood = std::thread::spawn(move || {
        let chunk: Vec<u8> = (0..8192).flat_map(|_| ws_frame(2, b"")).collect();
        let mut peers: Vec<(TcpStream, usize)> = peers.into_iter().map(|s| (s, 0)).collect();
        let end = Instant::now() + Duration::from_secs(60);
        while !st.load(Ordering::SeqCst) && Instant::now() < end {
            for (s, at) in &mut peers {
                match s.write(&chunk[*at..]) {
                    Ok(n) => *at = (*at + n) % chunk.len(),
                    Err(e) if e.kind() == IoKind::WouldBlock => {}
                    Err(e) => panic!("a flooding peer: {e}"),
                }
            }
        }
        peers
    });
    eventually("the floods to reach the host", || count.load(Ordering::SeqCst) > 200_000);
    let mut waits = Vec::new();
    for _ in 0..5 {
        let before = count.load(Ordering::SeqCst);
        let mut c = Client::new(addr);
        let r = c.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(r.status, 200);
        let at: usize = r.text().parse().unwrap();
        waits.push(at.saturating_sub(before));
    }
    stop.store(true, Ordering::SeqCst);
    let peers = flood.join().unwrap();
    waits.sort_unstable();
    let median = waits[waits.len() / 2];
    // A share each: 50 x 64 per turn, a turn or two ahead of the newcomer;
    // without shares a single turn is 50 x 1,024.
    assert!(
        median < 16_000,
        "messages the host ran between a newcomer's request and its handler: {waits:?} (median {median})"
    );
    drop(peers);
    running.stop();
    drop(server);
}
