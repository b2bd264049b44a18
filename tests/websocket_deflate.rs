//! permessage-deflate (RFC 7692) over real sockets through the Rust API:
//! Python's `websockets` (which offers deflate by default) echoes text,
//! binary, large and fragmented messages through a compressing route; raw
//! sockets check what a client library would hide: the negotiated header,
//! RSV1 on the server's frames, a decompression bomb (1009, memory bounded,
//! the server goes on), RSV1 where it may not be (1002), offers that must be
//! declined, and a topic's one compressed frame reaching compressed and
//! uncompressed subscribers.

mod util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::{Arc, Mutex, mpsc};

use flate2::{Compress, Compression as Level, Decompress, FlushCompress, FlushDecompress};
use squall::Loop;
use squall::api::Server;
use squall::api::ws::{Compression, Events, Message, RouteOptions, WebSocket};
use util::{Running, WAIT, dial, next};

/// Echoes every message ("secret:..." never compressed); subscribes every
/// socket to "news"; reports opens and closes.
struct Echo {
    tx: Mutex<mpsc::Sender<String>>,
}

impl Events for Echo {
    fn on_open(&self, ws: &WebSocket, _req: Option<&squall::api::Request>) {
        ws.subscribe("news").unwrap();
        let _ = self.tx.lock().unwrap().send("open".into());
    }

    fn on_message(&self, ws: &WebSocket, msg: Message<'_>) {
        match msg {
            Message::Text(t) if t.starts_with("secret:") => drop(ws.send_uncompressed(msg)),
            _ => drop(ws.send(msg)),
        }
    }

    fn on_close(&self, _ws: &WebSocket, code: u16, _reason: &str) {
        let _ = self.tx.lock().unwrap().send(format!("close {code}"));
    }
}

struct Setup {
    lp: Arc<Loop>,
    server: Arc<Server>,
    addr: SocketAddr,
    rx: mpsc::Receiver<String>,
}

/// `/deflate` compresses (shared mode), `/dedicated` too (dedicated mode,
/// window 15), `/plain` does not.
fn start() -> Setup {
    let lp = Arc::new(Loop::new());
    let server = Server::new(&lp);
    let (tx, rx) = mpsc::channel();
    let opts = RouteOptions::with_compression(Compression::Shared);
    server.ws_route_with("/deflate", Echo { tx: Mutex::new(tx.clone()) }, opts).unwrap();
    let dedicated = RouteOptions::with_compression(Compression::Dedicated { window_bits: 15 });
    server.ws_route_with("/dedicated", Echo { tx: Mutex::new(tx.clone()) }, dedicated).unwrap();
    let small = RouteOptions::with_compression(Compression::Dedicated { window_bits: 9 });
    server.ws_route_with("/dedicated9", Echo { tx: Mutex::new(tx.clone()) }, small).unwrap();
    let tuned = RouteOptions::with_compression(Compression::DedicatedTuned { window_bits: 12, mem_level: 2, level: 9, client_no_context_takeover: false });
    server.ws_route_with("/dedicated-tuned", Echo { tx: Mutex::new(tx.clone()) }, tuned).unwrap();
    // uWebSockets' DEDICATED_COMPRESSOR_3KB with its shared decompressor
    let small = Compression::DedicatedTuned { window_bits: 9, mem_level: 1, level: 6, client_no_context_takeover: true };
    server.ws_route_with("/dedicated3k", Echo { tx: Mutex::new(tx.clone()) }, RouteOptions::with_compression(small)).unwrap();
    for (window_bits, mem_level, level) in [(12, 0, 6), (12, 10, 6), (12, 8, 10)] {
        let bad = RouteOptions::with_compression(Compression::DedicatedTuned { window_bits, mem_level, level, client_no_context_takeover: false });
        assert!(server.ws_route_with("/bad", Echo { tx: Mutex::new(tx.clone()) }, bad).is_err(), "{mem_level} {level}");
    }
    let bad = RouteOptions::with_compression(Compression::Dedicated { window_bits: 8 });
    assert!(server.ws_route_with("/bad", Echo { tx: Mutex::new(tx.clone()) }, bad).is_err(), "window 8 refused");
    server.ws_route("/plain", Echo { tx: Mutex::new(tx) }).unwrap();
    let addr = server.listen("127.0.0.1:0").unwrap();
    Setup { lp, server: Arc::new(server), addr, rx }
}

/// A raw WebSocket client: the handshake's response head, then frames.
struct Raw {
    s: TcpStream,
    buf: Vec<u8>,
    head: String,
}

impl Raw {
    /// Opens `path` offering `extensions` (none if empty).
    fn open(addr: SocketAddr, path: &str, extensions: &str) -> Raw {
        let mut s = dial(addr);
        s.set_read_timeout(Some(WAIT)).unwrap();
        let ext = if extensions.is_empty() { String::new() } else { format!("Sec-WebSocket-Extensions: {extensions}\r\n") };
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{ext}\r\n"
        );
        s.write_all(req.as_bytes()).unwrap();
        let mut buf = Vec::new();
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            let n = s.read(&mut chunk).expect("the handshake's response");
            assert!(n > 0, "closed during the handshake");
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8(buf[..end].to_vec()).unwrap();
        assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
        Raw { s, buf: buf[end..].to_vec(), head }
    }

    /// The response's `Sec-WebSocket-Extensions` value, if any.
    fn extension(&self) -> Option<String> {
        self.head
            .lines()
            .find_map(|l| l.split_once(':').filter(|(n, _)| n.eq_ignore_ascii_case("sec-websocket-extensions")))
            .map(|(_, v)| v.trim().to_owned())
    }

    /// Sends one masked frame: `b0` whole (FIN, RSV, opcode).
    fn send(&mut self, b0: u8, payload: &[u8]) {
        self.s.write_all(&client_frame(b0, payload)).unwrap();
    }

    /// The next frame: first byte and payload; `None` at EOF.
    fn frame(&mut self) -> Option<(u8, Vec<u8>)> {
        loop {
            if self.buf.len() >= 2 {
                let (len, hdr) = match self.buf[1] & 0x7f {
                    126 if self.buf.len() >= 4 => (usize::from(u16::from_be_bytes([self.buf[2], self.buf[3]])), 4),
                    127 if self.buf.len() >= 10 => (u64::from_be_bytes(self.buf[2..10].try_into().unwrap()) as usize, 10),
                    126 | 127 => (usize::MAX, 0),
                    n => (usize::from(n), 2),
                };
                assert_eq!(self.buf[1] & 0x80, 0, "server frames are not masked");
                if len != usize::MAX && self.buf.len() >= hdr + len {
                    let f = (self.buf[0], self.buf[hdr..hdr + len].to_vec());
                    self.buf.drain(..hdr + len);
                    return Some(f);
                }
            }
            let mut chunk = [0u8; 65536];
            match self.s.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) => panic!("reading a frame: {e}"),
            }
        }
    }

    /// The close code the server sent (skipping other frames).
    fn close_code(&mut self) -> u16 {
        while let Some((b0, p)) = self.frame() {
            if b0 & 0x0f == 8 {
                return u16::from_be_bytes([p[0], p[1]]);
            }
        }
        panic!("no close frame before EOF");
    }
}

fn client_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x11, 0x22, 0x33, 0x44];
    let mut f = vec![b0];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n <= 0xffff => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&key);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    f
}

/// Raw deflate of one message, sync flush, tail taken off (RFC 7692 §7.2.1).
fn deflate(data: &[u8]) -> Vec<u8> {
    let mut c = Compress::new(Level::default(), false);
    let mut out = Vec::with_capacity(data.len() + 1024);
    c.compress_vec(data, &mut out, FlushCompress::Sync).unwrap();
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

/// Inflates one message's payload (tail put back).
fn inflate(data: &[u8]) -> Vec<u8> {
    let mut d = Decompress::new(false);
    let mut input = data.to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut out = Vec::with_capacity(1 << 20);
    d.decompress_vec(&input, &mut out, FlushDecompress::Sync).unwrap();
    out
}

/// A JSON-like text that compresses well.
fn chatty(n: usize) -> String {
    let mut s = String::new();
    let mut i = 0;
    while s.len() < n {
        s.push_str(&format!("{{\"user\":\"user{}\",\"room\":\"lobby\",\"text\":\"hello there number {i}\"}},", i % 7));
        i += 1;
    }
    s.truncate(n);
    s
}

/// The Python client: `websockets` (deflate offered by default) echoes
/// text, binary, a 1 MiB text and a fragmented message, checks each echo
/// and prints the negotiated extension.
const PY_ECHO: &str = r#"
import sys
from websockets.sync.client import connect
url = sys.argv[1]
with connect(url, max_size=1 << 24) as ws:
    print(ws.response.headers.get("Sec-WebSocket-Extensions"))
    big = ("{\"k\": \"value\", \"n\": 12345}," * 40000)[: 1 << 20]
    cases = ["héllo, world " * 20, b"\x00\x01\x02" * 1000, big, bytes(range(256)) * 300]
    for m in cases:
        ws.send(m)
        assert ws.recv() == m, "echo differs"
    # fragmented: three frames, the first compressed, continuations not
    ws.send(["part one, ", "part two, ", "part three"])
    assert ws.recv() == "part one, part two, part three"
    ws.send(b"")
    assert ws.recv() == b""
print("ok")
"#;

fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new("python3").arg("-c").arg(script).args(args).output().expect("python3 runs");
    assert!(out.status.success(), "python failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn python_websockets_echo_through_a_compressing_route() {
    let t = start();
    let running = Running::start(&t.lp);
    let out = python(PY_ECHO, &[&format!("ws://{}/deflate", t.addr)]);
    let mut lines = out.lines();
    let ext = lines.next().unwrap();
    assert!(ext.starts_with("permessage-deflate"), "negotiated: {out}");
    assert!(ext.contains("server_no_context_takeover") && ext.contains("client_no_context_takeover"), "{ext}");
    assert_eq!(lines.next(), Some("ok"), "{out}");
    // The route without compression declines the same client's offer.
    let out = python(PY_ECHO, &[&format!("ws://{}/plain", t.addr)]);
    assert_eq!(out, "None\nok\n");
    running.stop();
}

#[test]
fn the_server_compresses_what_shrinks_and_nothing_flagged_secret() {
    let t = start();
    let running = Running::start(&t.lp);
    let mut c = Raw::open(t.addr, "/deflate", "permessage-deflate; client_max_window_bits");
    assert_eq!(
        c.extension().as_deref(),
        Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover")
    );
    next(&t.rx, "open");
    let text = chatty(4000);
    // A compressed message in, the echo comes back compressed (RSV1) and smaller.
    c.send(0x80 | 0x40 | 0x1, &deflate(text.as_bytes()));
    let (b0, p) = c.frame().unwrap();
    assert_eq!(b0, 0x80 | 0x40 | 0x1, "FIN, RSV1, text");
    assert!(p.len() < text.len() / 3, "{} bytes for {}", p.len(), text.len());
    assert_eq!(inflate(&p), text.as_bytes());
    // The same as a plain frame: the echo is compressed all the same.
    c.send(0x82, text.as_bytes());
    let (b0, p) = c.frame().unwrap();
    assert_eq!(b0, 0x80 | 0x40 | 0x2);
    assert_eq!(inflate(&p), text.as_bytes());
    // What does not shrink goes plain (RSV1 clear).
    c.send(0x82, &[7]);
    assert_eq!(c.frame().unwrap(), (0x82, vec![7]));
    // The never-compress flag.
    let secret = format!("secret:{text}");
    c.send(0x81, secret.as_bytes());
    assert_eq!(c.frame().unwrap(), (0x81, secret.into_bytes()));
    // Without an offer, nothing is compressed on the same route.
    let mut p = Raw::open(t.addr, "/deflate", "");
    assert_eq!(p.extension(), None);
    p.send(0x81, text.as_bytes());
    assert_eq!(p.frame().unwrap(), (0x81, text.clone().into_bytes()));
    // And a compressed frame there is a protocol error.
    p.send(0xc1, &deflate(b"hello"));
    assert_eq!(p.close_code(), 1002);
    running.stop();
}

#[test]
fn bad_offers_are_declined_and_a_later_good_one_wins() {
    let t = start();
    let running = Running::start(&t.lp);
    for bad in [
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; client_max_window_bits=010",
        "permessage-deflate; unknown_param",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; server_no_context_takeover=1",
        "x-webkit-deflate-frame",
    ] {
        let c = Raw::open(t.addr, "/deflate", bad);
        assert_eq!(c.extension(), None, "{bad}");
    }
    let c = Raw::open(t.addr, "/deflate", "permessage-deflate; foo, permessage-deflate; server_max_window_bits=10");
    assert_eq!(
        c.extension().as_deref(),
        Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10")
    );
    running.stop();
}

#[test]
fn rsv1_on_a_continuation_or_a_control_frame_is_1002() {
    let t = start();
    let running = Running::start(&t.lp);
    let offer = "permessage-deflate";
    let mut c = Raw::open(t.addr, "/deflate", offer);
    c.send(0x40 | 0x1, &deflate(b"first"));
    c.send(0x80 | 0x40, &deflate(b"second"));
    assert_eq!(c.close_code(), 1002, "RSV1 on a continuation");
    let mut c = Raw::open(t.addr, "/deflate", offer);
    c.send(0x80 | 0x40 | 0x9, b"ping");
    assert_eq!(c.close_code(), 1002, "RSV1 on a ping");
    // A fragmented compressed message the right way is fine.
    let mut c = Raw::open(t.addr, "/deflate", offer);
    let z = deflate(chatty(3000).as_bytes());
    let (a, b) = z.split_at(z.len() / 2);
    c.send(0x40 | 0x1, a);
    c.send(0x89, b"between");
    c.send(0x80, b);
    assert_eq!(c.frame().unwrap(), (0x8a, b"between".to_vec()), "the pong");
    let (b0, p) = c.frame().unwrap();
    assert_eq!(b0 & 0x40, 0x40);
    assert_eq!(inflate(&p), chatty(3000).as_bytes());
    running.stop();
}

/// VmRSS of this process, in KiB.
fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()).unwrap()
}

#[test]
fn a_decompression_bomb_is_1009_with_memory_bounded_and_the_server_goes_on() {
    let t = start();
    let running = Running::start(&t.lp);
    // 1 GiB of zeros as 1024 independent sync-flushed blocks of 1 MiB each
    // (about 1 KiB apiece on the wire): a valid stream far past the route's
    // 16 MiB limit.
    let mut one = {
        let mut c = Compress::new(Level::best(), false);
        let mut out = Vec::with_capacity(1 << 16);
        c.compress_vec(&vec![0u8; 1 << 20], &mut out, FlushCompress::Sync).unwrap();
        out
    };
    let block = one.clone();
    for _ in 1..1024 {
        one.extend_from_slice(&block);
    }
    one.truncate(one.len() - 4);
    assert!(one.len() < 2 << 20, "the bomb is {} bytes", one.len());
    let before = rss_kib();
    let mut c = Raw::open(t.addr, "/deflate", "permessage-deflate");
    next(&t.rx, "open");
    c.send(0x80 | 0x40 | 0x2, &one);
    assert_eq!(c.close_code(), 1009);
    assert_eq!(next(&t.rx, "close"), "close 1009");
    let grew = rss_kib().saturating_sub(before);
    assert!(grew < 64 << 10, "RSS grew by {grew} KiB for a 1 GiB bomb");
    // The server goes on.
    let mut c = Raw::open(t.addr, "/deflate", "permessage-deflate");
    c.send(0x81, b"still here");
    assert_eq!(c.frame().unwrap(), (0x81, b"still here".to_vec()));
    running.stop();
}

#[test]
fn a_topic_reaches_compressed_and_plain_subscribers_byte_for_byte() {
    let t = start();
    let running = Running::start(&t.lp);
    let mut z1 = Raw::open(t.addr, "/deflate", "permessage-deflate");
    let mut z2 = Raw::open(t.addr, "/deflate", "permessage-deflate; client_max_window_bits");
    let mut small = Raw::open(t.addr, "/deflate", "permessage-deflate; server_max_window_bits=9");
    let mut plain = Raw::open(t.addr, "/deflate", "");
    let mut other = Raw::open(t.addr, "/plain", "permessage-deflate");
    for _ in 0..5 {
        next(&t.rx, "open");
    }
    util::eventually("five subscribers", || t.server.subscribers("news") == 5);
    let text = chatty(5000);
    assert_eq!(t.server.publish("news", Message::Text(&text)).unwrap(), 5);
    let (b0a, pa) = z1.frame().unwrap();
    let (b0b, pb) = z2.frame().unwrap();
    assert_eq!((b0a, b0b), (0xc1, 0xc1), "compressed for both");
    assert_eq!(pa, pb, "the same compressed bytes");
    assert_eq!(inflate(&pa), text.as_bytes());
    // A 9-bit window asked for: plain (the shared frame uses 15).
    assert_eq!(small.frame().unwrap(), (0x81, text.clone().into_bytes()));
    for c in [&mut plain, &mut other] {
        assert_eq!(c.frame().unwrap(), (0x81, text.clone().into_bytes()));
    }
    // A binary publish that does not shrink goes plain to everyone.
    assert_eq!(t.server.publish("news", Message::Binary(&[1, 2, 3])).unwrap(), 5);
    for c in [&mut z1, &mut z2, &mut small, &mut plain, &mut other] {
        assert_eq!(c.frame().unwrap(), (0x82, vec![1, 2, 3]));
    }
    running.stop();
}

/// One direction's inflater with context takeover (the peer keeps history).
struct Takeover(Decompress);

impl Takeover {
    fn inflate(&mut self, payload: &[u8]) -> Vec<u8> {
        let mut input = payload.to_vec();
        input.extend_from_slice(&[0, 0, 0xff, 0xff]);
        let mut out = Vec::with_capacity(1 << 20);
        self.0.decompress_vec(&input, &mut out, FlushDecompress::Sync).expect("a valid stream");
        out
    }
}

#[test]
fn python_websockets_echo_through_a_dedicated_route() {
    let t = start();
    let running = Running::start(&t.lp);
    let out = python(PY_ECHO, &[&format!("ws://{}/dedicated", t.addr)]);
    let mut lines = out.lines();
    let ext = lines.next().unwrap();
    assert!(ext.starts_with("permessage-deflate") && !ext.contains("no_context_takeover"), "negotiated: {out}");
    assert_eq!(lines.next(), Some("ok"), "{out}");
    running.stop();
}

#[test]
fn python_websockets_echo_through_a_tuned_dedicated_route() {
    let t = start();
    let running = Running::start(&t.lp);
    let out = python(PY_ECHO, &[&format!("ws://{}/dedicated-tuned", t.addr)]);
    let mut lines = out.lines();
    let ext = lines.next().unwrap();
    assert!(ext.contains("server_max_window_bits=12") && !ext.contains("no_context_takeover"), "negotiated: {out}");
    assert_eq!(lines.next(), Some("ok"), "{out}");
    running.stop();
}

/// A dedicated route that answers `client_no_context_takeover` (the client
/// did not offer it): the client's messages, each compressed afresh, are
/// inflated by the shared inflater, and the server's own keep their history
/// (window 9): the second echo of the same text refers to the first.
#[test]
fn a_dedicated_route_can_take_the_clients_context_away() {
    let t = start();
    let running = Running::start(&t.lp);
    let mut c = Raw::open(t.addr, "/dedicated3k", "permessage-deflate; client_max_window_bits");
    next(&t.rx, "open");
    let ext = c.extension().expect("negotiated");
    assert!(ext.contains("client_no_context_takeover") && !ext.contains("server_no_context_takeover"), "{ext}");
    let mut inf = Takeover(Decompress::new_with_window_bits(false, 9));
    let text = chatty(3000);
    let mut sizes = Vec::new();
    for _ in 0..2 {
        c.send(0xc1, &deflate(text.as_bytes()));
        let (b0, payload) = c.frame().expect("the echo");
        assert_eq!(b0, 0xc1, "compressed text");
        assert_eq!(inf.inflate(&payload), text.as_bytes());
        sizes.push(payload.len());
    }
    assert!(sizes[1] < sizes[0], "the second echo uses the first's history: {sizes:?}");
    // a plain message still passes
    c.send(0x81, b"plain");
    assert_eq!(c.frame().unwrap(), (0x81, b"plain".to_vec()));
    running.stop();
}

/// A message sent uncompressed on a dedicated socket goes out with RSV1
/// clear, in order, and leaves the compressor's history as the peer's
/// inflater has it: the next compressed message still refers to the one
/// before the plain one.
#[test]
fn an_uncompressed_send_on_a_dedicated_socket_keeps_the_history() {
    let t = start();
    let running = Running::start(&t.lp);
    let mut c = Raw::open(t.addr, "/dedicated-tuned", "permessage-deflate; client_max_window_bits");
    next(&t.rx, "open");
    let mut inf = Takeover(Decompress::new(false));
    let text = chatty(3000);
    c.send(0x81, text.as_bytes());
    let (b0, first) = c.frame().unwrap();
    assert_eq!(b0, 0xc1);
    assert_eq!(inf.inflate(&first), text.as_bytes());
    let secret = format!("secret:{}", chatty(500));
    c.send(0x81, secret.as_bytes());
    let (b0, plain) = c.frame().unwrap();
    assert_eq!((b0, plain.as_slice()), (0x81, secret.as_bytes()), "RSV1 clear, the bytes as they are");
    c.send(0x81, text.as_bytes());
    let (b0, again) = c.frame().unwrap();
    assert_eq!(b0, 0xc1);
    assert!(again.len() * 4 < first.len(), "history kept: {} then {} bytes", first.len(), again.len());
    assert_eq!(inf.inflate(&again), text.as_bytes());
    running.stop();
}

#[test]
fn dedicated_mode_keeps_history_and_a_shared_frame_does_not_corrupt_it() {
    let t = start();
    let running = Running::start(&t.lp);
    let mut c = Raw::open(t.addr, "/dedicated", "permessage-deflate; client_max_window_bits");
    assert_eq!(c.extension().as_deref(), Some("permessage-deflate"));
    next(&t.rx, "open");
    util::eventually("subscribed", || t.server.subscribers("news") == 1);
    let mut inf = Takeover(Decompress::new(false));
    let text = chatty(4000);
    // The same text twice: the second refers to the first.
    c.send(0x81, text.as_bytes());
    let (b0, first) = c.frame().unwrap();
    assert_eq!(b0, 0xc1);
    assert_eq!(inf.inflate(&first), text.as_bytes());
    c.send(0x81, text.as_bytes());
    let (_, second) = c.frame().unwrap();
    assert!(second.len() * 4 < first.len(), "history used: {} then {} bytes", first.len(), second.len());
    assert_eq!(inf.inflate(&second), text.as_bytes());
    // A publish: the shared frame (no history), then the same text again.
    let news = chatty(3000).replace("hello", "news");
    assert_eq!(t.server.publish("news", Message::Text(&news)).unwrap(), 1);
    let (b0, shared) = c.frame().unwrap();
    assert_eq!(b0, 0xc1);
    assert_eq!(inf.inflate(&shared), news.as_bytes());
    c.send(0x81, text.as_bytes());
    let (_, third) = c.frame().unwrap();
    assert_eq!(inf.inflate(&third), text.as_bytes(), "the connection's context was reset after the shared frame");
    // The client's own context: two compressed messages, the second
    // referring to the first (a takeover compressor on our side).
    let mut z = Compress::new(Level::default(), false);
    let mut send_z = |c: &mut Raw, data: &[u8]| {
        let mut out = Vec::with_capacity(data.len() + 64);
        z.compress_vec(data, &mut out, FlushCompress::Sync).unwrap();
        out.truncate(out.len() - 4);
        c.send(0xc1, &out);
        out.len()
    };
    let n1 = send_z(&mut c, text.as_bytes());
    let n2 = send_z(&mut c, text.as_bytes());
    assert!(n2 * 4 < n1);
    for _ in 0..2 {
        let (_, p) = c.frame().unwrap();
        assert_eq!(inf.inflate(&p), text.as_bytes());
    }
    // Idle past compaction, then the history is still there both ways.
    std::thread::sleep(std::time::Duration::from_millis(700));
    send_z(&mut c, text.as_bytes());
    let (_, p) = c.frame().unwrap();
    assert_eq!(inf.inflate(&p), text.as_bytes());
    running.stop();
}

/// Not a check: the server's memory per idle socket in one mode, printed.
/// `MODE=plain|shared|dedicated|dedicated9|dedicated3k cargo test --release --test
/// websocket_deflate measure -- --ignored --nocapture`, one mode per
/// process. Each socket sends one compressed message (plain for `plain`)
/// and reads its echo; the figure is the slope between 500 and 1,500 idle
/// sockets (past the compaction delay), so per-thread compressors and
/// pools, made once, do not count.
#[test]
#[ignore]
fn measure_idle_memory_per_socket() {
    let t = start();
    let mode = std::env::var("MODE").unwrap_or_else(|_| "shared".into());
    let (path, offer) = match mode.as_str() {
        "plain" => ("/plain", ""),
        "shared" => ("/deflate", "permessage-deflate"),
        "dedicated" => ("/dedicated", "permessage-deflate"),
        "dedicated9" => ("/dedicated9", "permessage-deflate"),
        "dedicated3k" => ("/dedicated3k", "permessage-deflate"),
        m => panic!("unknown MODE {m}"),
    };
    let running = Running::start(&t.lp);
    let text = chatty(1000);
    let mut socks = Vec::new();
    let open = |n: usize, socks: &mut Vec<Raw>| {
        for _ in 0..n {
            let mut c = Raw::open(t.addr, path, offer);
            assert_eq!(c.extension().is_some(), !offer.is_empty());
            if offer.is_empty() {
                c.send(0x81, text.as_bytes());
            } else {
                c.send(0xc1, &deflate(text.as_bytes()));
            }
            c.frame().expect("the echo");
            c.buf = Vec::new();
            c.head = String::new();
            socks.push(c);
        }
        while t.rx.try_recv().is_ok() {}
        std::thread::sleep(std::time::Duration::from_millis(1500));
        rss_kib()
    };
    let a = open(500, &mut socks);
    let b = open(1000, &mut socks);
    println!("{mode}: {:.2} KiB per idle socket ({} KiB for 1,000 more)", (b - a) as f64 / 1000.0, b - a);
    running.stop();
}

/// CPU time (user + system, in ms) of this process's reactor threads.
fn reactor_cpu_ms() -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let p = e.path();
        let comm = std::fs::read_to_string(p.join("comm")).unwrap_or_default();
        if !comm.starts_with("squall-io") {
            continue;
        }
        let stat = std::fs::read_to_string(p.join("stat")).unwrap_or_default();
        let after = &stat[stat.rfind(')').map_or(0, |i| i + 2)..];
        let f: Vec<&str> = after.split(' ').collect();
        // fields 14 and 15 of stat (utime, stime), counted from the state at 3
        let ticks: u64 = f[11].parse::<u64>().unwrap_or(0) + f[12].parse::<u64>().unwrap_or(0);
        total += ticks * 10; // USER_HZ 100
    }
    total
}

/// Not a check: a 1 KiB JSON message published to 1,000 subscribers, 100
/// times, compressed (shared mode) or not; prints deliveries per second and
/// the reactors' CPU per delivery. `MODE=plain|shared cargo test --release
/// --test websocket_deflate broadcast -- --ignored --nocapture`. The
/// readers run in the same process (4 threads), on the same cores.
#[test]
#[ignore]
fn measure_broadcast() {
    let t = start();
    let mode = std::env::var("MODE").unwrap_or_else(|_| "shared".into());
    let (path, offer) = if mode == "plain" { ("/plain", "") } else { ("/deflate", "permessage-deflate") };
    let running = Running::start(&t.lp);
    let (n, m) = (1000usize, 100usize);
    let socks: Vec<Raw> = (0..n).map(|_| Raw::open(t.addr, path, offer)).collect();
    for _ in 0..n {
        next(&t.rx, "open");
    }
    util::eventually("subscribed", || t.server.subscribers("news") == n);
    let msg = chatty(1024);
    let cpu0 = reactor_cpu_ms();
    let t0 = std::time::Instant::now();
    let mut groups: Vec<Vec<Raw>> = (0..4).map(|_| Vec::new()).collect();
    for (i, s) in socks.into_iter().enumerate() {
        groups[i % 4].push(s);
    }
    let readers: Vec<_> = groups
        .into_iter()
        .map(|mut g| {
            std::thread::spawn(move || {
                let mut bytes = 0usize;
                for s in &mut g {
                    for _ in 0..m {
                        bytes += s.frame().expect("a delivery").1.len();
                    }
                }
                bytes
            })
        })
        .collect();
    for _ in 0..m {
        assert_eq!(t.server.publish("news", Message::Text(&msg)).unwrap(), n);
    }
    let wire: usize = readers.into_iter().map(|r| r.join().unwrap()).sum();
    let wall = t0.elapsed().as_secs_f64();
    let cpu = reactor_cpu_ms() - cpu0;
    let deliveries = (n * m) as f64;
    println!(
        "{mode}: {:.0} deliveries/s, reactors' CPU {cpu} ms = {:.2} us per delivery, {:.0} payload bytes per delivery",
        deliveries / wall,
        cpu as f64 * 1000.0 / deliveries,
        wire as f64 / deliveries
    );
    running.stop();
}
