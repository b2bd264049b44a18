//! The panic boundary at run time (built with `--features fault-injection`):
//! a panic injected inside an export, a request's handling, an accept, a
//! WebSocket message and a timer stays where docs/ARCHITECTURE.md says: the
//! export returns `SQ_ERR_PANIC` with a log record, the reactor drops only
//! that connection (or that accepted socket), the loop drops only that
//! timer firing, and the server goes on answering a plain GET on a new
//! connection (a TCP listener, an echo on a new stream). Each test also checks that its armed point was hit, so a
//! point that is never reached fails instead of passing by doing nothing.

mod util;

use std::ffi::{CStr, c_char, c_int, c_void};
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::time::Duration;

use squall::Loop;
use squall::api::Server;
use squall::api::ws::{Events, Message, WebSocket};
use squall::fault::{self, Point};
use util::{Client, Running, dial, get, next};

/// The points are process-wide: one test at a time arms them.
fn serial() -> MutexGuard<'static, ()> {
    static ONE: Mutex<()> = Mutex::new(());
    ONE.lock().unwrap_or_else(|p| p.into_inner())
}

/// A loop with a server answering GET /hello, listening on 127.0.0.1.
fn hello_server() -> (Arc<Loop>, Server, SocketAddr) {
    let lp = Arc::new(Loop::new());
    let server = Server::new(&lp);
    server.route("GET", "/hello", |req| req.respond(200, &[], b"hello").map_err(|_| 1)).unwrap();
    let addr = server.listen("127.0.0.1:0").unwrap();
    (lp, server, addr)
}

/// Sends a GET on a new connection and reads until the server closes it:
/// true when it closed (the end, or a reset: the request may still be
/// unread in the server's socket) without a byte of response; false when a
/// response came or nothing happened within the wait.
fn dropped_without_response(addr: SocketAddr) -> bool {
    let mut s = dial(addr);
    s.write_all(&get("/hello")).expect("write the request");
    let mut b = [0u8; 1];
    match s.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted),
    }
}

/// The server answers a plain GET on a new connection.
fn still_serves(addr: SocketAddr) {
    let mut c = Client::new(addr);
    let r = c.request(&get("/hello"));
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "hello");
}

#[test]
fn a_panic_in_a_requests_handling_closes_that_connection_only() {
    let _one = serial();
    let (lp, _server, addr) = hello_server();
    let running = Running::start(&lp);
    // a keep-alive connection opened before, served before and after
    let mut other = Client::new(addr);
    assert_eq!(other.request(&get("/hello")).status, 200);

    fault::arm(Point::Request, 1);
    assert!(dropped_without_response(addr), "the connection whose request panicked is closed, with no response");
    assert_eq!(fault::pending(Point::Request), 0, "the request point was hit");

    assert_eq!(other.request(&get("/hello")).status, 200, "another connection is untouched");
    still_serves(addr);
    running.stop();
}

#[test]
fn a_panic_in_accept_drops_that_connection_and_the_listener_accepts_on() {
    let _one = serial();
    let (lp, _server, addr) = hello_server();
    let running = Running::start(&lp);

    fault::arm(Point::Accept, 1);
    assert!(dropped_without_response(addr), "the connection accepted when the panic hit is closed");
    assert_eq!(fault::pending(Point::Accept), 0, "the accept point was hit");

    // the listener survived: new connections, more than one, are served
    for _ in 0..3 {
        still_serves(addr);
    }
    running.stop();
}

/// TCP streams that echo what they read.
struct TcpEcho;

impl squall::api::tcp::Events for TcpEcho {
    fn on_connect(&self, _stream: Result<&squall::api::tcp::Stream, &squall::Error>) {}

    fn on_data(&self, stream: &squall::api::tcp::Stream, data: &[u8]) {
        stream.write(data).unwrap();
    }
}

#[test]
fn a_panic_in_a_tcp_listeners_accept_drops_that_stream_and_it_accepts_on() {
    let _one = serial();
    let lp = Arc::new(Loop::new());
    let listener = squall::api::tcp::listen(&lp, "127.0.0.1:0", TcpEcho).unwrap();
    let addr = listener.local_addr();
    let running = Running::start(&lp);

    fault::arm(Point::Accept, 1);
    let mut victim = dial(addr);
    victim.write_all(b"ping").unwrap();
    let mut b = [0u8; 4];
    match victim.read(&mut b) {
        Ok(0) => {}
        Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted) => {}
        other => panic!("the stream accepted when the panic hit was not closed: {other:?}"),
    }
    assert_eq!(fault::pending(Point::Accept), 0, "the accept point was hit");

    for _ in 0..3 {
        let mut s = dial(addr);
        s.write_all(b"echo").unwrap();
        s.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"echo", "the listener accepts on");
    }
    drop(listener);
    running.stop();
}

/// A WebSocket route that echoes text and reports what it saw.
struct Echo(Mutex<mpsc::Sender<String>>);

impl Events for Echo {
    fn on_message(&self, ws: &WebSocket, msg: Message<'_>) {
        if let Message::Text(t) = msg {
            ws.send_text(t).unwrap();
        }
    }

    fn on_close(&self, _ws: &WebSocket, code: u16, _reason: &str) {
        let _ = self.0.lock().unwrap().send(format!("close {code}"));
    }
}

#[test]
fn a_panic_in_a_websocket_message_closes_that_socket_only() {
    let _one = serial();
    let (lp, server, addr) = hello_server();
    let (tx, closes) = mpsc::channel();
    server.ws_route("/ws", Echo(Mutex::new(tx))).unwrap();
    let running = Running::start(&lp);
    let open = || tungstenite::client::client(format!("ws://{addr}/ws"), dial(addr)).expect("the handshake").0;
    let mut victim = open();
    let mut other = open();

    fault::arm(Point::WebSocket, 1);
    victim.send(tungstenite::Message::text("boom")).unwrap();
    // the server drops the connection: no echo, only an error or the end
    loop {
        match victim.read() {
            Ok(tungstenite::Message::Text(t)) => panic!("the message that panicked was echoed: {t}"),
            Ok(tungstenite::Message::Close(_)) | Err(_) => break,
            Ok(_) => continue,
        }
    }
    assert_eq!(fault::pending(Point::WebSocket), 0, "the WebSocket point was hit");
    assert_eq!(next(&closes, "on_close of the dropped socket"), "close 1011");

    other.send(tungstenite::Message::text("still here")).unwrap();
    assert_eq!(other.read().unwrap(), tungstenite::Message::text("still here"));
    still_serves(addr);
    other.close(None).unwrap();
    running.stop();
}

#[test]
fn a_panic_in_a_timer_drops_that_firing_only() {
    let _one = serial();
    let (lp, _server, addr) = hello_server();
    let (tx, fired) = mpsc::channel::<&str>();
    fault::arm(Point::Timer, 1);
    let t = tx.clone();
    lp.handle().call_later(Duration::from_millis(10), move || t.send("first").unwrap()).unwrap();
    let t = tx.clone();
    lp.handle().call_later(Duration::from_millis(60), move || t.send("second").unwrap()).unwrap();
    let t = Mutex::new(tx);
    lp.handle().call_every(Duration::from_millis(20), move |_| {
        let _ = t.lock().unwrap().send("periodic");
    })
    .unwrap();
    let running = Running::start(&lp);

    // the first firing panicked before its callback; the others run, the
    // periodic timer more than once
    let mut seen = vec![];
    while !(seen.contains(&"second") && seen.iter().filter(|s| **s == "periodic").count() >= 2) {
        seen.push(next(&fired, "the timers after the one that panicked"));
    }
    assert!(!seen.contains(&"first"), "the timer whose firing panicked did not run: {seen:?}");
    assert_eq!(fault::pending(Point::Timer), 0, "the timer point was hit");
    still_serves(addr);
    running.stop();
}

static RECORDS: Mutex<Vec<String>> = Mutex::new(Vec::new());

unsafe extern "C" fn keep_record(_userdata: *mut c_void, _level: c_int, target: *const c_char, message: *const c_char) {
    // SAFETY: squall passes NUL-terminated strings valid during the call.
    let (target, message) = unsafe { (CStr::from_ptr(target), CStr::from_ptr(message)) };
    RECORDS.lock().unwrap().push(format!("{}: {}", target.to_string_lossy(), message.to_string_lossy()));
}

#[test]
fn a_panic_inside_an_export_returns_sq_err_panic_with_a_log_record() {
    use squall::ffi::event_loop::{sq_loop_free, sq_loop_new, sq_loop_set_io_threads};
    use squall::ffi::log::{SQ_LOG_ERROR, sq_log_set_callback};
    use squall::ffi::status::{SQ_ERR_PANIC, SQ_OK};
    use squall::ffi::version::sq_last_error;

    let _one = serial();
    assert_eq!(sq_log_set_callback(SQ_LOG_ERROR, Some(keep_record), std::ptr::null_mut()), SQ_OK);
    let lp = sq_loop_new();
    assert!(!lp.is_null());

    fault::arm(Point::Export, 1);
    assert_eq!(sq_loop_set_io_threads(lp, 2), SQ_ERR_PANIC, "the export that panicked says so");
    assert_eq!(fault::pending(Point::Export), 0, "the export point was hit");
    // SAFETY: sq_last_error returns a NUL-terminated string of this thread.
    let last = unsafe { CStr::from_ptr(sq_last_error()) }.to_string_lossy().into_owned();
    assert!(last.contains("internal panic") && last.contains("injected fault at export"), "sq_last_error: {last:?}");
    let records = RECORDS.lock().unwrap().clone();
    assert!(
        records.iter().any(|r| r.starts_with("squall::ffi:") && r.contains("panic caught at the C boundary: injected fault at export")),
        "no log record of the panic: {records:?}"
    );

    // the library goes on: the same call on the same loop works now
    assert_eq!(sq_loop_set_io_threads(lp, 2), SQ_OK);
    sq_loop_free(lp);
    assert_eq!(sq_log_set_callback(SQ_LOG_ERROR, None, std::ptr::null_mut()), SQ_OK);
}
