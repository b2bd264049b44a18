//! The HTTP/1.1 server over real sockets, driven through the Rust API:
//! routes with captures, bodies, keep-alive, failing handlers and deferred
//! responses, each seen by a hand-written client on 127.0.0.1.

mod util;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use squall::api::Server;
use squall::{ErrorKind, Loop};
use util::{Client, Running, get, next};

fn server() -> (Arc<Loop>, Server) {
    let lp = Arc::new(Loop::new());
    let server = Server::new(&lp);
    (lp, server)
}

#[test]
fn a_get_reaches_its_route_with_captures_query_and_headers() {
    let (lp, server) = server();
    server
        .route("GET", "/users/([0-9]+)/posts/([a-z-]+)", |req| {
            let body = format!(
                "{} {} user={} post={} q={} agent={}",
                req.method(),
                req.path(),
                req.capture(0).unwrap_or("?"),
                req.capture(1).unwrap_or("?"),
                req.argument("q").unwrap_or("?"),
                String::from_utf8_lossy(req.header("x-agent").unwrap_or(b"?")),
            );
            req.respond(200, &[("Content-Type", b"text/plain"), ("X-Route", b"posts")], body.as_bytes()).map_err(|_| 1)
        })
        .unwrap();
    let addr = server.listen("127.0.0.1:0").unwrap();
    assert_ne!(addr.port(), 0);
    let running = Running::start(&lp);

    let mut c = Client::new(addr);
    let r = c.request(b"GET /users/42/posts/hello-world?q=rust%21 HTTP/1.1\r\nHost: t\r\nX-Agent: test-1\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.header("x-route"), Some("posts"));
    assert_eq!(r.text(), "GET /users/42/posts/hello-world user=42 post=hello-world q=rust! agent=test-1");

    // The whole path must match: a longer one is not this route's.
    let r = c.request(&get("/users/42/posts/hello/extra"));
    assert_eq!(r.status, 404);
    // Another method on a matched path is told which one is allowed.
    let r = c.request(b"DELETE /users/1/posts/a HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 405);
    assert!(r.header("allow").is_some_and(|a| a.contains("GET")), "{:?}", r.headers);
    running.stop();
}

#[test]
fn a_post_body_is_echoed() {
    let (lp, server) = server();
    server
        .route("POST", "/echo", |req| {
            let kind = req.header("content-type").unwrap_or(b"application/octet-stream").to_vec();
            req.respond(201, &[("Content-Type", &kind)], req.body()).map_err(|_| 1)
        })
        .unwrap();
    let addr = server.listen("127.0.0.1:0").unwrap();
    let running = Running::start(&lp);

    let body = b"hello\x00world \xff binary-safe";
    let mut raw = format!(
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-test\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(body);
    let mut c = Client::new(addr);
    let r = c.request(&raw);
    assert_eq!(r.status, 201);
    assert_eq!(r.header("content-type"), Some("application/x-test"));
    assert_eq!(r.body, body);

    // A chunked request body arrives whole.
    let r = c.request(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n");
    assert_eq!(r.status, 201);
    assert_eq!(r.body, b"abcdefg");
    running.stop();
}

#[test]
fn keep_alive_serves_two_requests_on_one_connection() {
    let (lp, server) = server();
    let peers = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = peers.clone();
    server
        .route("GET", "/n/([0-9]+)", move |req| {
            seen.lock().unwrap().push(req.remote_ip().to_owned());
            let n: u32 = req.capture(0).unwrap().parse().unwrap();
            req.respond(200, &[], (n * 2).to_string().as_bytes()).map_err(|_| 1)
        })
        .unwrap();
    let addr = server.listen("127.0.0.1:0").unwrap();
    let running = Running::start(&lp);

    let mut c = Client::new(addr);
    let first = c.request(&get("/n/21"));
    assert_eq!((first.status, first.text()), (200, "42"));
    assert_ne!(first.header("connection"), Some("close"));
    let second = c.request(&get("/n/50"));
    assert_eq!((second.status, second.text()), (200, "100"));
    assert_eq!(*peers.lock().unwrap(), ["127.0.0.1", "127.0.0.1"]);

    // Asked to close, the server answers and then closes.
    let last = c.request(b"GET /n/1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!((last.status, last.text()), (200, "2"));
    assert!(c.closed_by_server(), "the connection stayed open after Connection: close");
    running.stop();
}

#[test]
fn a_failing_handler_gets_a_500_and_the_server_goes_on() {
    let (lp, server) = server();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    server
        .route("GET", "/fail", move |_req| {
            counted.fetch_add(1, Ordering::SeqCst);
            Err(7)
        })
        .unwrap();
    server.route("GET", "/panic", |_req| panic!("a handler bug")).unwrap();
    server.route("GET", "/ok", |req| req.respond(200, &[], b"fine").map_err(|_| 1)).unwrap();
    let addr = server.listen("127.0.0.1:0").unwrap();
    let running = Running::start(&lp);

    let r = Client::new(addr).request(&get("/fail"));
    assert_eq!(r.status, 500);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let r = Client::new(addr).request(&get("/panic"));
    assert_eq!(r.status, 500);
    // Neither took the server (or its loop thread) down.
    for _ in 0..2 {
        let r = Client::new(addr).request(&get("/ok"));
        assert_eq!((r.status, r.text()), (200, "fine"));
    }
    running.stop();
}

#[test]
fn a_response_comes_from_another_thread_after_the_handler_returned() {
    let (lp, server) = server();
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    server
        .route("GET", "/defer", move |req| {
            let handle = req.handle();
            let returned = Arc::new(AtomicBool::new(false));
            let after = returned.clone();
            let tx = tx.lock().unwrap().clone();
            std::thread::spawn(move || {
                // Answer only once the handler is known to have returned.
                while !after.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(1));
                }
                let first = handle.respond(202, &[("X-From", b"worker")], b"later");
                let again = handle.respond(200, &[], b"twice");
                tx.send((first.map_err(|e| e.kind()), again.map_err(|e| e.kind()))).unwrap();
            });
            returned.store(true, Ordering::SeqCst);
            Ok(())
        })
        .unwrap();
    let addr = server.listen("127.0.0.1:0").unwrap();
    let running = Running::start(&lp);

    let mut c = Client::new(addr);
    let r = c.request(&get("/defer"));
    assert_eq!(r.status, 202);
    assert_eq!(r.header("x-from"), Some("worker"));
    assert_eq!(r.text(), "later");
    let (first, again) = next(&rx, "the worker's outcome");
    assert_eq!(first, Ok(()));
    assert_eq!(again, Err(ErrorKind::AlreadyDone), "a finished request answered twice");
    // The connection carries on after a deferred response.
    let r = c.request(&get("/defer"));
    assert_eq!(r.text(), "later");
    running.stop();
}

#[test]
fn a_graceful_shutdown_runs_its_callback_and_stops_accepting() {
    let (lp, server) = server();
    server.route("GET", "/", |req| req.respond(200, &[], b"up").map_err(|_| 1)).unwrap();
    let addr = server.listen("127.0.0.1:0").unwrap();
    let running = Running::start(&lp);
    assert_eq!(Client::new(addr).request(&get("/")).text(), "up");

    let (tx, rx) = mpsc::channel();
    server.shutdown(Duration::from_secs(2), move || tx.send(()).unwrap()).unwrap();
    next(&rx, "the shutdown callback");
    assert_eq!(
        server.shutdown(Duration::from_secs(1), || ()).unwrap_err().kind(),
        ErrorKind::AlreadyDone
    );
    assert!(std::net::TcpStream::connect(addr).is_err(), "the listener still accepts after shutdown");
    running.stop();
}
