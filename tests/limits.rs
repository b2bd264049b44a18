//! The server's limits over real sockets: max_connections, the
//! 32-in-flight pipeline cap, the WebSocket close grace, and the TCP
//! listener's back-off when accept runs out of descriptors.

mod util;

use std::io::{BufRead, BufReader, ErrorKind as IoKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use squall::Loop;
use squall::api::ws::{self, Message, WebSocket};
use squall::api::{RequestHandle, Server};
use util::{Client, Running, WAIT, dial, eventually, get, next};

/// Whether the server closed `s` without a word (EOF or a reset).
fn refused(s: &mut TcpStream) -> bool {
    let _ = s.write_all(&get("/n"));
    let mut b = [0u8; 1];
    match s.read(&mut b) {
        Ok(0) => true,
        Err(e) => matches!(e.kind(), IoKind::ConnectionReset | IoKind::ConnectionAborted | IoKind::BrokenPipe),
        Ok(_) => false,
    }
}

#[test]
fn max_connections_refuses_the_extra_ones_and_frees_up_when_some_close() {
    const MAX: usize = 3;
    let lp = Arc::new(Loop::new());
    let server = Server::new(&lp);
    server.set_max_connections(MAX).unwrap();
    assert_eq!(server.set_max_connections(0).unwrap_err().kind(), squall::ErrorKind::InvalidArg);
    server.route("GET", "/n", |req| req.respond(200, &[], b"ok").map_err(|_| 1)).unwrap();
    let addr = server.listen("127.0.0.1:0").unwrap();
    let running = Running::start(&lp);

    // The first MAX are served (and so are counted).
    let mut kept: Vec<Client> = (0..MAX).map(|_| Client::new(addr)).collect();
    for c in &mut kept {
        assert_eq!(c.request(&get("/n")).text(), "ok");
    }
    // The extra ones are closed at once.
    for k in 0..2 {
        assert!(refused(&mut dial(addr)), "extra connection {k} was served beyond max_connections {MAX}");
    }
    // The first MAX still work.
    for c in &mut kept {
        assert_eq!(c.request(&get("/n")).text(), "ok");
    }
    // One leaves: a new one gets in (once the server saw the close).
    drop(kept.remove(0));
    let end = Instant::now() + WAIT;
    loop {
        let mut s = dial(addr);
        let _ = s.write_all(&get("/n"));
        let mut b = [0u8; 1];
        if matches!(s.peek(&mut b), Ok(1)) {
            assert_eq!(Client::from_stream(s).read_response().text(), "ok");
            break;
        }
        assert!(Instant::now() < end, "no connection got in after one of {MAX} closed");
        std::thread::sleep(Duration::from_millis(50));
    }
    running.stop();
    drop(server);
}

#[test]
fn at_most_32_pipelined_requests_reach_their_handlers_until_some_finish() {
    const REQUESTS: usize = 40;
    let lp = Arc::new(Loop::new());
    let server = Server::new(&lp);
    let held: Arc<Mutex<Vec<(u64, RequestHandle)>>> = Arc::default();
    let h = held.clone();
    server
        .route("GET", "/p/([0-9]+)", move |req| {
            h.lock().unwrap().push((req.capture(0).unwrap().parse().unwrap(), req.handle()));
            Ok(())
        })
        .unwrap();
    let addr = server.listen("127.0.0.1:0").unwrap();
    let running = Running::start(&lp);

    let mut c = Client::new(addr);
    let all: Vec<u8> = (0..REQUESTS).flat_map(|n| get(&format!("/p/{n}"))).collect();
    c.send(&all);
    eventually("32 handler calls", || held.lock().unwrap().len() >= 32);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(held.lock().unwrap().len(), 32, "handler calls with none of them finished");

    // The first 8 finish: 8 more come in, no more.
    let answer = |n: u64, h: &RequestHandle| h.respond(200, &[], n.to_string().as_bytes()).unwrap();
    for (n, h) in held.lock().unwrap().iter().take(8) {
        answer(*n, h);
    }
    eventually("the last 8 handler calls", || held.lock().unwrap().len() == REQUESTS);
    for (n, h) in held.lock().unwrap().iter().skip(8) {
        answer(*n, h);
    }
    for n in 0..REQUESTS {
        let r = c.read_response();
        assert_eq!((r.status, r.text()), (200, n.to_string().as_str()), "response {n}");
    }
    let order: Vec<u64> = held.lock().unwrap().iter().map(|(n, _)| *n).collect();
    assert_eq!(order, (0..REQUESTS as u64).collect::<Vec<_>>(), "handler calls in request order");
    running.stop();
    drop(server);
}

/// Reports opens and closes.
struct Watch {
    tx: Mutex<mpsc::Sender<(WebSocket, Option<u16>)>>,
}

impl ws::Events for Watch {
    fn on_open(&self, ws: &WebSocket, _req: Option<&squall::api::Request>) {
        let _ = self.tx.lock().unwrap().send((*ws, None));
    }

    fn on_message(&self, _ws: &WebSocket, _msg: Message<'_>) {}

    fn on_close(&self, ws: &WebSocket, code: u16, _reason: &str) {
        let _ = self.tx.lock().unwrap().send((*ws, Some(code)));
    }
}

/// A WebSocket upgrade request for /ws (the RFC 6455 sample key).
fn upgrade_request(addr: SocketAddr) -> Vec<u8> {
    format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes()
}

/// A client socket with a 4 KiB receive buffer: a peer that reads nothing
/// holds the server's output back at once.
fn small_reader(addr: SocketAddr) -> TcpStream {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.set_recv_buffer_size(4096).unwrap();
    s.connect_timeout(&addr.into(), WAIT).unwrap();
    s.into()
}

#[test]
fn a_websocket_close_the_peer_never_answers_ends_after_the_5_s_grace() {
    let lp = Arc::new(Loop::new());
    let server = Server::new(&lp);
    let (tx, rx) = mpsc::channel();
    server.ws_route("/ws", Watch { tx: Mutex::new(tx) }).unwrap();
    let addr = server.listen("127.0.0.1:0").unwrap();
    let running = Running::start(&lp);

    let mut s = dial(addr);
    s.write_all(&upgrade_request(addr)).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 101"), "{line}");
    while line != "\r\n" {
        line.clear();
        r.read_line(&mut line).unwrap();
    }
    let (ws, none) = next(&rx, "on_open");
    assert_eq!(none, None);

    ws.close(1000, "bye").unwrap();
    let started = Instant::now();
    // The close frame arrives; the peer never answers it.
    let mut frame = [0u8; 2];
    r.read_exact(&mut frame).unwrap();
    assert_eq!(frame[0], 0x88, "a close frame");
    let mut rest = vec![0u8; usize::from(frame[1])];
    r.read_exact(&mut rest).unwrap();
    assert_eq!(&rest[..2], &1000u16.to_be_bytes());

    s.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
    let mut b = [0u8; 1];
    let end = r.read(&mut b);
    let took = started.elapsed();
    assert!(matches!(end, Ok(0)) || matches!(&end, Err(e) if e.kind() == IoKind::ConnectionReset), "{end:?}");
    assert!(took >= Duration::from_millis(4500) && took <= Duration::from_millis(6500), "closed after {took:?}");
    let (_, code) = next(&rx, "on_close");
    assert_eq!(code, Some(1006), "no close frame came back");
    running.stop();
    drop(server);
}

// ---------------------------------------------------------------- EMFILE

/// The child's side: an echo listener in a process with no descriptors
/// left. Runs only when the parent test starts it.
#[test]
#[ignore = "run by out_of_descriptors_the_listener_backs_off_and_accepts_again, in a child process"]
fn emfile_child() {
    if std::env::var_os("SQUALL_EMFILE_CHILD").is_none() {
        return;
    }
    struct Echo;
    impl squall::api::tcp::Events for Echo {
        fn on_connect(&self, _s: Result<&squall::api::tcp::Stream, &squall::Error>) {}
        fn on_data(&self, s: &squall::api::tcp::Stream, data: &[u8]) {
            let _ = s.write(data);
        }
    }
    let lp = Arc::new(Loop::new());
    let listener = squall::api::tcp::listen(&lp, "127.0.0.1:0", Echo).unwrap();
    let running = Running::start(&lp);
    std::thread::sleep(Duration::from_millis(100));

    // Use up every descriptor under a low limit.
    let lim = libc::rlimit { rlim_cur: 64, rlim_max: libc::RLIM_INFINITY };
    let mut old = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: plain getrlimit/setrlimit on valid structs.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut old), 0);
        let lim = libc::rlimit { rlim_max: old.rlim_max, ..lim };
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
    }
    let mut filler = Vec::new();
    loop {
        match std::fs::File::open("/dev/null") {
            Ok(f) => filler.push(f),
            Err(e) if e.raw_os_error() == Some(libc::EMFILE) => break,
            Err(e) => panic!("{e}"),
        }
    }
    println!("ready {}", listener.local_addr().port());
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    drop(filler);
    println!("freed");
    line.clear();
    std::io::stdin().read_line(&mut line).unwrap();
    running.stop();
}

/// The child process, killed if the test fails half-way.
struct KillOnDrop(std::process::Child);

impl KillOnDrop {
    fn wait(mut self) -> std::process::ExitStatus {
        let end = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < end, "the child did not end");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// User plus system CPU time of process `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split(' ').collect();
    // Fields 14 and 15 of the line; 3 is the first after the name.
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

#[test]
#[cfg(target_os = "linux")]
fn out_of_descriptors_the_listener_backs_off_and_accepts_again() {
    use std::process::{Command, Stdio};
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "emfile_child", "--ignored", "--nocapture", "--test-threads=1"])
        .env("SQUALL_EMFILE_CHILD", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut stdin = child.stdin.take().unwrap();
    let child = KillOnDrop(child);
    let mut line = String::new();
    let port: u16 = loop {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "the child ended before it was ready");
        // The harness may have begun the line ("test emfile_child ... ").
        if let Some((_, p)) = line.trim().split_once("ready ") {
            break p.parse().unwrap();
        }
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));

    // The connection waits in the backlog: no echo, and the child idles.
    let mut c = dial(addr);
    c.write_all(b"ping").unwrap();
    let before = cpu_ticks(child.0.id());
    c.set_read_timeout(Some(Duration::from_millis(1500))).unwrap();
    let mut buf = [0u8; 4];
    let early = c.read(&mut buf);
    let spent = cpu_ticks(child.0.id()) - before;
    assert!(matches!(&early, Err(e) if matches!(e.kind(), IoKind::WouldBlock | IoKind::TimedOut)), "{early:?}");
    // 1.5 s at 100 Hz: a spinning accept loop would burn about 150 ticks.
    assert!(spent < 40, "the child used {spent} ticks of CPU in 1.5 s while out of descriptors");

    // Descriptors free up: the connection is accepted and echoed.
    stdin.write_all(b"free\n").unwrap();
    c.set_read_timeout(Some(WAIT)).unwrap();
    c.read_exact(&mut buf).expect("the echo once descriptors are free");
    assert_eq!(&buf, b"ping");
    let mut again = dial(addr);
    again.write_all(b"pong").unwrap();
    again.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"pong");

    stdin.write_all(b"quit\n").unwrap();
    let status = child.wait();
    assert!(status.success(), "the child failed: {status}");
}

// ---------------------------------------------------------------- send timeout

/// The number in a sample line of the metrics text.
fn sample(text: &str, name: &str) -> u64 {
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok()).unwrap_or(0)
}

#[test]
fn a_peer_that_reads_nothing_is_closed_after_the_send_timeout() {
    let lp = Arc::new(Loop::new());
    let server = Server::new(&lp);
    server.set_send_timeout(Some(Duration::from_secs(1))).unwrap();
    server.route("GET", "/big", |req| req.respond(200, &[], &vec![7u8; 16 << 20]).map_err(|_| 1)).unwrap();
    let (tx, rx) = mpsc::channel();
    server.ws_route("/ws", Watch { tx: Mutex::new(tx) }).unwrap();
    let addr = server.listen("127.0.0.1:0").unwrap();
    let running = Running::start(&lp);

    let started = Instant::now();
    // HTTP: 16 MiB asked for, none of it read
    let mut http = small_reader(addr);
    http.write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    // WebSocket: the host sends until squall refuses more, none of it read
    let mut s = small_reader(addr);
    s.write_all(&upgrade_request(addr)).unwrap();
    let (ws, _) = next(&rx, "on_open");
    let chunk = vec![1u8; 256 << 10];
    for _ in 0..256 {
        if ws.send(Message::Binary(&chunk)).is_err() {
            break;
        }
    }
    let (_, code) = rx.recv_timeout(Duration::from_secs(10)).expect("on_close within 10 s");
    let took = started.elapsed();
    assert_eq!(code, Some(1008), "closed for the send timeout");
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(6), "closed after {took:?}");
    eventually("both closes counted as timeouts", || {
        sample(&server.metrics_text(), "squall_connections_closed_total{reason=\"timeout\"}") == 2
    });
    let text = server.metrics_text();
    assert_eq!(sample(&text, "squall_websocket_closed_total{code=\"1008\"}"), 1, "{text}");
    // the HTTP peer finds the connection closed under what it did not read
    http.set_read_timeout(Some(WAIT)).unwrap();
    let mut sink = vec![0u8; 1 << 20];
    let mut got = 0usize;
    let end = loop {
        match http.read(&mut sink) {
            Ok(0) => break Ok(()),
            Ok(n) => got += n,
            Err(e) => break Err(e),
        }
    };
    assert!(got < 16 << 20, "the whole body came ({got} bytes)");
    assert!(end.is_ok() || end.as_ref().is_err_and(|e| e.kind() == IoKind::ConnectionReset), "{end:?}");
    drop(s);
    running.stop();
    drop(server);
}

/// CPU seconds (user + system) this process has used.
fn own_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let f: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 1000 / 100)
}

#[test]
fn a_websocket_whose_peer_reads_nothing_costs_no_cpu_while_it_waits() {
    // The host fills a socket whose peer reads nothing; while the output
    // waits for the peer, the reactor must wait for the socket's writable
    // event, not try to write every turn (it did: a turn of flush attempts
    // after another, a core's worth of CPU, until the send timeout).
    let lp = Arc::new(Loop::new());
    let server = Server::new(&lp);
    let (tx, rx) = mpsc::channel();
    server.ws_route("/ws", Watch { tx: Mutex::new(tx) }).unwrap();
    let addr = server.listen("127.0.0.1:0").unwrap();
    let running = Running::start(&lp);

    let mut s = small_reader(addr);
    s.write_all(&upgrade_request(addr)).unwrap();
    let (ws, _) = next(&rx, "on_open");
    let chunk = vec![1u8; 64 << 10];
    for _ in 0..64 {
        // until squall refuses more (max_backpressure) or 4 MiB are queued
        if ws.send(Message::Binary(&chunk)).is_err() {
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(500)); // the kernel's buffers fill up
    let before = own_cpu();
    std::thread::sleep(Duration::from_secs(1));
    let used = own_cpu() - before;
    assert!(used < Duration::from_millis(150), "{used:?} of CPU in 1 s while the output waited for a peer that reads nothing");
    drop(s);
    running.stop();
    drop(server);
}
