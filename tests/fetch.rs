//! The HTTP client over real sockets through the Rust API: fetches from a
//! tiny std server (what was sent, what came back) and to a closed port.

mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use squall::api::fetch::{Request, Response};
use squall::{ErrorKind, Loop};
use util::{Running, WAIT, closed_port, next};

/// What the tiny server read: the request line, the header lines, the body.
type Received = (String, Vec<String>, Vec<u8>);

/// A one-shot server: reads one request (body by Content-Length), answers
/// with `response` and closes. Hands back what it read.
fn tiny_server(response: &'static [u8]) -> (u16, JoinHandle<Received>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let t = std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        let mut r = BufReader::new(s);
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        let request_line = line.trim_end().to_owned();
        let mut headers = vec![];
        loop {
            line.clear();
            r.read_line(&mut line).unwrap();
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            headers.push(l.to_owned());
        }
        let len = headers
            .iter()
            .find_map(|h| h.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap()))
            .unwrap_or(0);
        let mut body = vec![0; len];
        r.read_exact(&mut body).unwrap();
        r.get_mut().write_all(response).unwrap();
        (request_line, headers, body)
    });
    (port, t)
}

fn fetch(lp: &Loop, req: Request) -> mpsc::Receiver<squall::Result<Response>> {
    let (tx, rx) = mpsc::channel();
    squall::api::fetch(lp, req, move |r| tx.send(r).unwrap()).unwrap();
    rx
}

#[test]
fn a_get_brings_back_status_headers_and_body() {
    let (port, server) =
        tiny_server(b"HTTP/1.1 203 Sort Of\r\nContent-Length: 11\r\nX-Test: yes\r\nConnection: close\r\n\r\nhello world");
    let lp = Arc::new(Loop::new());
    let running = Running::start(&lp);
    let mut req = Request::get(&format!("http://127.0.0.1:{port}/path/to?x=1"));
    req.headers.push(("X-Client".into(), b"squall-test".to_vec()));
    let rx = fetch(&lp, req);

    let resp = next(&rx, "the response").expect("a response");
    assert_eq!(resp.status, 203);
    assert_eq!(resp.reason, "Sort Of");
    assert_eq!(resp.header("x-test"), Some(&b"yes"[..]));
    assert_eq!(resp.body, b"hello world");
    assert_eq!(resp.redirects, 0);
    let (line, headers, body) = server.join().unwrap();
    assert_eq!(line, "GET /path/to?x=1 HTTP/1.1");
    assert!(headers.iter().any(|h| h.eq_ignore_ascii_case("x-client: squall-test")), "{headers:?}");
    assert!(headers.iter().any(|h| h.to_ascii_lowercase().starts_with("host: 127.0.0.1")), "{headers:?}");
    assert!(body.is_empty());
    running.stop();
}

#[test]
fn a_post_sends_its_body() {
    let (port, server) = tiny_server(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let lp = Arc::new(Loop::new());
    let running = Running::start(&lp);
    let mut req = Request::new("POST", &format!("http://127.0.0.1:{port}/items"));
    req.body = b"{\"name\":\"squall\"}".to_vec();
    req.headers.push(("Content-Type".into(), b"application/json".to_vec()));
    let rx = fetch(&lp, req);

    let resp = next(&rx, "the response").expect("a response");
    assert_eq!(resp.status, 201);
    assert!(resp.body.is_empty());
    let (line, headers, body) = server.join().unwrap();
    assert_eq!(line, "POST /items HTTP/1.1");
    assert!(headers.iter().any(|h| h.eq_ignore_ascii_case("content-type: application/json")), "{headers:?}");
    assert_eq!(body, b"{\"name\":\"squall\"}");
    running.stop();
}

#[test]
fn a_fetch_to_a_closed_port_is_a_connect_error() {
    let port = closed_port();
    let lp = Arc::new(Loop::new());
    let running = Running::start(&lp);
    let rx = fetch(&lp, Request::get(&format!("http://127.0.0.1:{port}/")));
    let err = next(&rx, "the failure").expect_err("a response from a closed port");
    assert_eq!(err.kind(), ErrorKind::Connect, "{err}");
    running.stop();
}

#[test]
fn a_bad_request_is_refused_before_it_starts() {
    let lp = Loop::new();
    let (tx, rx) = mpsc::channel::<()>();
    let refused = |req: Request| {
        let tx = tx.clone();
        squall::api::fetch(&lp, req, move |_| tx.send(()).unwrap()).unwrap_err().kind()
    };
    assert_eq!(refused(Request::get("ftp://example.com/")), ErrorKind::InvalidArg);
    assert_eq!(refused(Request::new("GE T", "http://example.com/")), ErrorKind::InvalidArg);
    let mut bad_header = Request::get("http://example.com/");
    bad_header.headers.push(("X-Bad".into(), b"a\r\nInjected: 1".to_vec()));
    assert_eq!(refused(bad_header), ErrorKind::InvalidArg);
    drop(tx);
    // Refused fetches never call back: their closures were dropped unused.
    assert!(matches!(rx.recv_timeout(WAIT), Err(mpsc::RecvTimeoutError::Disconnected)));
}

/// The value of the sample `name` (labels included, as written) in a
/// Prometheus text.
fn sample(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no sample {name} in\n{text}"))
}

#[test]
fn the_client_counters_follow_known_fetches() {
    const N: usize = 10;
    const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    const MISSING: &[u8] = b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope";
    // One keep-alive connection: N requests, every fourth answered 404.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        let mut r = BufReader::new(s);
        let (mut read, mut written) = (0u64, 0u64);
        for i in 0..N {
            let mut line = String::new();
            loop {
                line.clear();
                read += r.read_line(&mut line).unwrap() as u64;
                if line == "\r\n" {
                    break;
                }
            }
            let resp = if i % 4 == 3 { MISSING } else { OK };
            r.get_mut().write_all(resp).unwrap();
            written += resp.len() as u64;
        }
        (read, written)
    });
    let lp = Arc::new(Loop::new());
    let running = Running::start(&lp);
    let text = || squall::api::Server::new(&lp).metrics_text();
    assert_eq!(sample(&text(), "squall_client_fetches_started_total"), 0);
    for i in 0..N {
        let resp = next(&fetch(&lp, Request::get(&format!("http://127.0.0.1:{port}/{i}"))), "a response").expect("a response");
        assert_eq!(resp.status, if i % 4 == 3 { 404 } else { 200 });
    }
    let (server_read, server_wrote) = server.join().unwrap();
    // A refused connect.
    let err = next(&fetch(&lp, Request::get(&format!("http://127.0.0.1:{}/", closed_port()))), "the error").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connect);
    let t = text();
    assert_eq!(sample(&t, "squall_client_fetches_started_total"), N as u64 + 1);
    let missing = (0..N).filter(|i| i % 4 == 3).count() as u64;
    assert_eq!(sample(&t, "squall_client_responses_total{class=\"2xx\"}"), N as u64 - missing);
    assert_eq!(sample(&t, "squall_client_responses_total{class=\"4xx\"}"), missing);
    assert_eq!(sample(&t, "squall_client_failures_total{reason=\"connect\"}"), 1);
    assert_eq!(sample(&t, "squall_client_failures_total{reason=\"timeout\"}"), 0);
    // one connection for the N keep-alive requests, one for the refused one
    assert_eq!(sample(&t, "squall_client_connections_opened_total"), 2);
    assert_eq!(sample(&t, "squall_client_connections_reused_total"), N as u64 - 1);
    assert_eq!(sample(&t, "squall_client_received_bytes_total"), server_wrote);
    assert_eq!(sample(&t, "squall_client_sent_bytes_total"), server_read);
    assert_eq!(sample(&t, "squall_client_websocket_connects_total"), 0, "a fetch is no WebSocket connect");
    running.stop();
}
