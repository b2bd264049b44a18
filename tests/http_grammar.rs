//! HTTP/1.1 grammar over real sockets. For a representative refusal of each
//! rule the server decodes (docs/ARCHITECTURE.md, "HTTP/1.1 parsing: the
//! grammar and our decisions"), a raw client sends the bad request with a
//! valid `GET /smuggled` pipelined behind it on the same connection, and
//! checks: the refusal's status, `Connection: close`, the connection closed
//! right after that one response, and the /smuggled handler never run.
//! Then the client side: `squall::api::fetch` against a hostile raw server.

mod util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};

use squall::api::Server;
use squall::api::fetch::{Request, Response};
use squall::{ErrorKind, Loop};
use util::{Running, WAIT, dial, next};

const SMUGGLED: &[u8] = b"GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n";

/// A server whose /smuggled handler counts its calls; every other path
/// answers 200 to any method.
fn server() -> (Server, SocketAddr, Arc<AtomicUsize>, Running) {
    let lp = Arc::new(Loop::new());
    let server = Server::new(&lp);
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    server
        .route("GET", "/smuggled", move |req| {
            h.fetch_add(1, Ordering::SeqCst);
            req.respond(200, &[], b"smuggled").map_err(|_| 1)
        })
        .unwrap();
    server.route("*", "/.*", |req| req.respond(200, &[], b"ok").map_err(|_| 1)).unwrap();
    let addr = server.listen("127.0.0.1:0").unwrap();
    let running = Running::start(&lp);
    (server, addr, hits, running)
}

/// Sends `raw` and reads until the server closes: everything it sent.
fn exchange(addr: SocketAddr, raw: &[u8]) -> Vec<u8> {
    let mut s = dial(addr);
    s.write_all(raw).unwrap();
    let mut out = Vec::new();
    // An error (a reset after close with unread input) ends the read too;
    // what was received before it is what counts.
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
                panic!("the server did not close the connection; got {:?}", String::from_utf8_lossy(&out))
            }
            Err(_) => break,
        }
    }
    out
}

/// Checks that `out` is exactly one response with `status` and
/// `Connection: close`, and nothing after it.
fn one_closing_response(out: &[u8], status: u16, what: &str) {
    let text = String::from_utf8_lossy(out);
    let head_end = text.find("\r\n\r\n").unwrap_or_else(|| panic!("{what}: no complete response in {text:?}")) + 4;
    let head = &text[..head_end];
    assert!(head.starts_with(&format!("HTTP/1.1 {status} ")), "{what}: {head:?}");
    let lower = head.to_ascii_lowercase();
    assert!(lower.contains("\r\nconnection: close\r\n"), "{what}: {head:?}");
    let len: usize = lower
        .split("\r\n")
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or_else(|| panic!("{what}: no Content-Length in {head:?}"));
    assert_eq!(out.len(), head_end + len, "{what}: bytes after the refusal: {text:?}");
}

/// (what, the bad request, the status it gets)
const REFUSALS: &[(&str, &[u8], u16)] = &[
    // RFC 9112 §7.1 chunk-size
    ("chunk-size with a leading space", b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n 3\r\nabc\r\n0\r\n\r\n", 400),
    ("chunk-size 0x prefix", b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n", 400),
    ("chunk-size overflow", b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\nabc\r\n0\r\n\r\n", 400),
    // RFC 9112 §7.1.1 chunk-ext
    ("chunk-ext without a name", b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;\r\nabc\r\n0\r\n\r\n", 400),
    // RFC 9112 §7.1 chunk-data CRLF
    ("chunk-data too long", b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n", 400),
    ("chunk-data bare LF", b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\n0\r\n\r\n", 400),
    // RFC 9112 §7.1.2 trailer section
    ("malformed trailer", b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX : 1\r\n\r\n", 400),
    // RFC 9112 §6.1, §6.3 Transfer-Encoding
    ("unknown coding", b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    ("chunked not last", b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 400),
    ("chunked twice", b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("TE and CL", b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("TE in HTTP/1.0", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    // RFC 9110 §8.6 Content-Length
    ("differing Content-Length", b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\n", 400),
    ("Content-Length with a sign", b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +0\r\n\r\n", 400),
    ("Content-Length overflow", b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551616\r\n\r\n", 400),
    // RFC 9112 §3.2, RFC 9110 §7.2 Host
    ("no Host", b"GET / HTTP/1.1\r\n\r\n", 400),
    ("two Hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ("malformed Host", b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
    // RFC 9110 §10.1.1 Expect
    ("unknown expectation", b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\nContent-Length: 0\r\n\r\n", 417),
    // RFC 9112 §3 request-line
    ("two spaces in the request-line", b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    ("method not a token", b"G@T / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    ("HTTP/2.0", b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
    ("lowercase HTTP-name", b"GET / http/1.1\r\nHost: h\r\n\r\n", 400),
    ("target character outside the grammar", b"GET /a<b HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    ("asterisk-form with GET", b"GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    ("authority-form with GET", b"GET h:80 HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    // RFC 9112 §5 field lines
    ("field-name not a token", b"GET / HTTP/1.1\r\nHost: h\r\nX(Y): 1\r\n\r\n", 400),
    ("whitespace before the colon", b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length : 5\r\n\r\n", 400),
    ("obs-fold", b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 400),
    ("NUL in a field value", b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n", 400),
    // RFC 9112 §2.2 line endings
    ("bare LF", b"GET / HTTP/1.1\nHost: h\n\n", 400),
    ("bare CR", b"GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", 400),
    ("bare LF before the request-line", b"\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
];

#[test]
fn every_refusal_closes_and_the_pipelined_request_never_runs() {
    let (_server, addr, hits, running) = server();
    for (what, bad, status) in REFUSALS {
        let mut raw = bad.to_vec();
        raw.extend_from_slice(SMUGGLED);
        let out = exchange(addr, &raw);
        one_closing_response(&out, *status, what);
        assert_eq!(hits.load(Ordering::SeqCst), 0, "{what}: /smuggled ran");
    }
    running.stop();
}

#[test]
fn a_refusal_behind_a_valid_request_comes_after_its_response() {
    let (_server, addr, hits, running) = server();
    let mut raw = b"GET /first HTTP/1.1\r\nHost: h\r\n\r\n".to_vec();
    raw.extend_from_slice(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n");
    raw.extend_from_slice(SMUGGLED);
    let out = exchange(addr, &raw);
    let first = b"HTTP/1.1 200 ";
    assert!(out.starts_with(first), "{:?}", String::from_utf8_lossy(&out));
    let second = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4 + 2; // "ok"
    one_closing_response(&out[second..], 400, "TE and CL behind a valid request");
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    running.stop();
}

#[test]
fn the_same_pipeline_behind_a_valid_request_does_run() {
    // The control: behind valid requests of each kind, /smuggled runs, so
    // the test above can tell.
    let (_server, addr, hits, running) = server();
    let valid: &[&[u8]] = &[
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;a=\"b\"\r\nabc\r\n0\r\nX: 1\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\nabc",
        b"\r\nGET http://h/x HTTP/1.1\r\nHost: other\r\n\r\n",
        b"OPTIONS * HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
        b"GET / HTTP/1.9\r\nHost: h\r\n\r\n",
    ];
    for (i, v) in valid.iter().enumerate() {
        let mut raw = v.to_vec();
        raw.extend_from_slice(SMUGGLED);
        raw.extend_from_slice(b"GET /last HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        let out = exchange(addr, &raw);
        let text = String::from_utf8_lossy(&out);
        // (OPTIONS * matches no route: 404; the others 200)
        assert_eq!(text.matches("HTTP/1.1 ").count(), 3, "{text}");
        assert!(text.contains("smuggled"), "{text}");
        assert_eq!(hits.load(Ordering::SeqCst), i + 1);
    }
    running.stop();
}

/// A hostile one-shot server: reads the request head, answers `response`,
/// closes.
fn hostile(response: &'static [u8]) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        let _ = s.write_all(response);
    });
    port
}

fn fetch_from(response: &'static [u8]) -> squall::Result<Response> {
    let port = hostile(response);
    let lp = Arc::new(Loop::new());
    let running = Running::start(&lp);
    let (tx, rx) = mpsc::channel();
    squall::api::fetch(&lp, Request::get(&format!("http://127.0.0.1:{port}/")), move |r| tx.send(r).unwrap()).unwrap();
    let r = next(&rx, "the fetch's outcome");
    running.stop();
    r
}

#[test]
fn a_hostile_server_cannot_steer_fetch() {
    // Each response could be read two ways; fetch refuses it rather than
    // pick one (and hand over bytes the server framed otherwise).
    let hostile_responses: &[&[u8]] = &[
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nabc",
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 30\r\n\r\nabc",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\nContent-Length: 3\n\nabc",
        b"HTTP/1.1 200 OK\r\nContent-Length : 3\r\n\r\nabc",
        b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n",
        b"HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n",
    ];
    for raw in hostile_responses {
        let err = fetch_from(raw).expect_err(&String::from_utf8_lossy(raw));
        assert_eq!(err.kind(), ErrorKind::Protocol, "{err} for {:?}", String::from_utf8_lossy(raw));
    }
    // The control: the same server, answering by the grammar, is read.
    let ok = fetch_from(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 \r\nContent-Length: 3, 3\r\nConnection: close\r\n\r\nabc").unwrap();
    assert_eq!((ok.status, ok.reason.as_str(), ok.body.as_slice()), (200, "", &b"abc"[..]));
}
