//! Topics across processes through a real redis-server (Debian's package,
//! installed by tests/test-deps.sh), started by each test on a free
//! loopback port with no persistence and stopped by PID. Two clusters in
//! one test process are two nodes to Redis (each has its own node id and
//! its own two connections), which is what these tests need: the state,
//! the counters and the outbox are read through the Rust API. The C demo
//! processes are tested in tests/cluster/test_cluster.py.
//!
//! The `tls_` tests run Redis over TLS (`--tls-port`, `--port 0`) with
//! certificates made at test time by Python's trustme (a CA, a certificate
//! for 127.0.0.1 and one for a client, and a CA that signed neither), in a
//! directory of their own removed at the end; no key is in the repository.

mod util;

use std::ffi::{CStr, c_char, c_int, c_void};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use squall::Loop;
use squall::api::ws::{Events, Message, WebSocket};
use squall::api::{Cluster, ClusterEvents, ClusterState, Server};
use tungstenite::WebSocket as Client;
use util::{Running, closed_port, dial};

/// A redis-server of our own.
struct Redis {
    child: Child,
    port: u16,
    password: Option<String>,
    /// Over TLS: the certificates it serves and trusts, and whether it asks
    /// clients for a certificate.
    tls: Option<(Arc<Certs>, bool)>,
}

impl Redis {
    fn start(password: Option<&str>) -> Redis {
        Redis::start_on(closed_port(), password)
    }

    fn start_on(port: u16, password: Option<&str>) -> Redis {
        Redis::launch(port, password, None)
    }

    /// Over TLS only (no plaintext port); `auth_clients`: clients must show
    /// a certificate signed by the CA.
    fn start_tls(port: u16, password: Option<&str>, certs: &Arc<Certs>, auth_clients: bool) -> Redis {
        Redis::launch(port, password, Some((certs.clone(), auth_clients)))
    }

    fn launch(port: u16, password: Option<&str>, tls: Option<(Arc<Certs>, bool)>) -> Redis {
        let mut cmd = Command::new("redis-server");
        match &tls {
            None => cmd.args(["--port", &port.to_string()]),
            Some((c, auth)) => cmd.args(["--port", "0", "--tls-port", &port.to_string()]).args([
                "--tls-cert-file",
                &c.path("server.pem"),
                "--tls-key-file",
                &c.path("server.key"),
                "--tls-ca-cert-file",
                &c.path("ca.pem"),
                "--tls-auth-clients",
                if *auth { "yes" } else { "no" },
            ]),
        };
        cmd.args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
        if let Some(pw) = password {
            cmd.args(["--requirepass", pw]);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is not installed: run tests/test-deps.sh (apt-get install redis-server)");
        let r = Redis { child, port, password: password.map(str::to_owned), tls };
        let end = Instant::now() + Duration::from_secs(10);
        while r.cli(&["PING"]) != "PONG" {
            assert!(Instant::now() < end, "redis-server did not answer PING within 10 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        r
    }

    /// redis-cli's answer, trimmed.
    fn cli(&self, args: &[&str]) -> String {
        let mut cmd = Command::new("redis-cli");
        cmd.args(["-p", &self.port.to_string(), "--no-auth-warning"]);
        if let Some((c, _)) = &self.tls {
            cmd.args(["--tls", "--cacert", &c.path("ca.pem"), "--cert", &c.path("client.pem"), "--key", &c.path("client.key")]);
        }
        if let Some(pw) = &self.password {
            cmd.args(["-a", pw]);
        }
        let out = cmd.args(args).output().expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn url(&self, auth: &str, opts: &str) -> String {
        let scheme = if self.tls.is_some() { "rediss" } else { "redis" };
        format!("{scheme}://{auth}127.0.0.1:{}/0?ping_ms=100&timeout_ms=1000{opts}", self.port)
    }

    /// SIGKILL, by PID.
    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Certificates made for one test, in a directory removed at the end:
/// `ca.pem`; `server.pem` (chain) and `server.key` for 127.0.0.1;
/// `client.pem` and `client.key`; `other-ca.pem`, a CA that signed none.
struct Certs {
    dir: PathBuf,
}

impl Certs {
    fn make() -> Arc<Certs> {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("squall-rediss-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let script = r#"
import sys, trustme
d = sys.argv[1]
ca = trustme.CA()
ca.cert_pem.write_to_path(d + "/ca.pem")
server = ca.issue_cert("127.0.0.1")
server.private_key_pem.write_to_path(d + "/server.key")
with open(d + "/server.pem", "wb") as f:
    for blob in server.cert_chain_pems:
        f.write(blob.bytes())
client = ca.issue_cert("client@squall.test")
client.private_key_pem.write_to_path(d + "/client.key")
client.cert_chain_pems[0].write_to_path(d + "/client.pem")
trustme.CA().cert_pem.write_to_path(d + "/other-ca.pem")
"#;
        let out = Command::new("python3").args(["-c", script]).arg(&dir).output().expect("python3");
        assert!(out.status.success(), "trustme (pip install trustme): {}", String::from_utf8_lossy(&out.stderr));
        Arc::new(Certs { dir })
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_str().unwrap().to_owned()
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// squall's log records (warnings and errors), kept from the first call on.
static RECORDS: Mutex<Vec<String>> = Mutex::new(Vec::new());

unsafe extern "C" fn keep_record(_userdata: *mut c_void, _level: c_int, target: *const c_char, message: *const c_char) {
    // SAFETY: squall passes NUL-terminated strings valid during the call.
    let (target, message) = unsafe { (CStr::from_ptr(target), CStr::from_ptr(message)) };
    RECORDS.lock().unwrap().push(format!("{}: {}", target.to_string_lossy(), message.to_string_lossy()));
}

fn keep_log_records() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use squall::ffi::log::{SQ_LOG_WARN, sq_log_set_callback};
        assert_eq!(sq_log_set_callback(SQ_LOG_WARN, Some(keep_record), std::ptr::null_mut()), 0);
    });
}

/// The records so far that contain every one of `words`.
fn records_with(words: &[&str]) -> Vec<String> {
    RECORDS.lock().unwrap().iter().filter(|r| words.iter().all(|w| r.contains(w))).cloned().collect()
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Subscribes every socket to the topics it was made with.
struct Subscriber {
    topics: Vec<String>,
}

impl Events for Subscriber {
    fn on_open(&self, ws: &WebSocket, _req: Option<&squall::api::Request>) {
        for t in &self.topics {
            ws.subscribe(t).expect("subscribe");
        }
    }
    fn on_message(&self, _ws: &WebSocket, _msg: Message<'_>) {}
}

struct States(Mutex<mpsc::Sender<ClusterState>>);

impl ClusterEvents for States {
    fn on_state(&self, s: ClusterState) {
        let _ = self.0.lock().unwrap().send(s);
    }
}

/// A loop with a server whose `/ws` sockets subscribe to `topics`, in a
/// cluster.
struct Node {
    lp: Arc<Loop>,
    _running: Running,
    server: Server,
    cluster: Cluster,
    addr: SocketAddr,
    states: mpsc::Receiver<ClusterState>,
}

impl Node {
    fn new(url: &str, topics: &[String]) -> Node {
        let lp = Arc::new(Loop::new());
        let server = Server::new(&lp);
        server.ws_route("/ws", Subscriber { topics: topics.to_vec() }).unwrap();
        let addr = server.listen("127.0.0.1:0").unwrap();
        let cluster = Cluster::new(lp.handle(), url).expect("cluster");
        let (tx, states) = mpsc::channel();
        cluster.set_events(Some(Arc::new(States(Mutex::new(tx)))));
        server.attach_cluster(&cluster).unwrap();
        let running = Running::start(&lp);
        Node { lp, _running: running, server, cluster, addr, states }
    }

    fn cluster_loop(&self) -> &squall::LoopHandle {
        self.lp.handle()
    }

    fn client(&self) -> Client<TcpStream> {
        let (ws, _) = tungstenite::client::client(format!("ws://{}/ws", self.addr), dial(self.addr)).expect("handshake");
        ws
    }

    fn counter(&self, name: &str) -> u64 {
        self.cluster.counter(name).unwrap_or_else(|| panic!("no counter {name}"))
    }

    /// Waits for the state callback to say `want` (skipping others).
    fn wait_state(&self, want: ClusterState, within: Duration) {
        let end = Instant::now() + within;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.states.recv_timeout(left) {
                Ok(s) if s == want => return,
                Ok(_) => {}
                Err(_) => panic!("no {want:?} within {within:?} (state now {:?})", self.cluster.state()),
            }
        }
    }
}

/// Waits until `a` and `b` are connected and both subscribed to the test
/// topic in Redis (two subscribers of its channel, no more), with one
/// WebSocket client on each: (a's, b's).
fn joined(redis: &Redis, a: &Node, b: &Node) -> (Client<TcpStream>, Client<TcpStream>) {
    a.wait_state(ClusterState::Connected, T5);
    b.wait_state(ClusterState::Connected, T5);
    let ca = a.client();
    let cb = b.client();
    eventually("both nodes subscribed", T5, || redis.cli(&["PUBSUB", "NUMSUB", "squall:room"]).ends_with("\n2"));
    (ca, cb)
}

fn eventually(what: &str, within: Duration, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + within;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn text(ws: &mut Client<TcpStream>) -> String {
    loop {
        match ws.read().expect("a message") {
            tungstenite::Message::Text(t) => return t.to_string(),
            tungstenite::Message::Ping(_) | tungstenite::Message::Pong(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

const T5: Duration = Duration::from_secs(5);

#[test]
fn ten_thousand_topics_subscribed_and_released_in_batches() {
    let redis = Redis::start(None);
    let topics: Vec<String> = (0..10_000).map(|i| format!("t{i}")).collect();
    let node = Node::new(&redis.url("", ""), &topics);
    node.wait_state(ClusterState::Connected, T5);
    let mut ws = node.client();
    let count = || redis.cli(&["PUBSUB", "CHANNELS", "squall:t*"]).lines().count();
    eventually("10000 channels subscribed in Redis", Duration::from_secs(20), || count() == 10_000);
    assert_eq!(node.counter("subscribed"), 10_000);
    ws.close(None).unwrap();
    let _ = ws.read();
    eventually("every channel released", Duration::from_secs(20), || redis.cli(&["PUBSUB", "CHANNELS", "squall:t*"]).is_empty());
    assert_eq!(node.counter("subscribed"), 0);
}

#[test]
fn two_nodes_in_order_none_twice_and_own_echo_ignored() {
    let redis = Redis::start(None);
    let room = vec!["room".to_owned()];
    let a = Node::new(&redis.url("", ""), &room);
    let b = Node::new(&redis.url("", ""), &room);
    let (mut ca, mut cb) = joined(&redis, &a, &b);
    for i in 0..300 {
        let (from, tag) = if i % 3 == 0 { (&b, "b") } else { (&a, "a") };
        from.server.publish("room", Message::Text(&format!("{tag}{i}"))).unwrap();
    }
    let expect: Vec<String> = (0..300).map(|i| format!("{}{i}", if i % 3 == 0 { "b" } else { "a" })).collect();
    for (who, ws) in [("a", &mut ca), ("b", &mut cb)] {
        let got: Vec<String> = (0..300).map(|_| text(ws)).collect();
        // Per publisher, in order; each exactly once.
        for tag in ["a", "b"] {
            let g: Vec<&String> = got.iter().filter(|m| m.starts_with(tag)).collect();
            let e: Vec<&String> = expect.iter().filter(|m| m.starts_with(tag)).collect();
            assert_eq!(g, e, "{tag}'s messages as {who} saw them");
        }
    }
    // a's own messages reach its client locally, before Redis echoes them
    // back: the echoes may still be on their way when the clients have read
    // everything
    eventually("a to hear its own 200 back (and ignore them)", T5, || a.counter("echo") >= 200);
    assert_eq!(a.counter("echo"), 200, "a heard its own 200 back and ignored them");
    assert_eq!(b.counter("delivered"), 200);
    assert_eq!(a.counter("delivered"), 100);
    assert_eq!(a.counter("gaps") + b.counter("gaps") + a.counter("repeats") + b.counter("repeats"), 0);
}

#[test]
fn redis_killed_then_restarted_outbox_replayed_gaps_exact() {
    let mut redis = Redis::start(None);
    let port = redis.port;
    let room = vec!["room".to_owned()];
    let a = Node::new(&redis.url("", ""), &room);
    let b = Node::new(&redis.url("", ""), &room);
    let (mut ca, mut cb) = joined(&redis, &a, &b);
    for i in 0..20 {
        a.server.publish("room", Message::Text(&format!("m{i}"))).unwrap();
    }
    for i in 0..20 {
        assert_eq!(text(&mut ca), format!("m{i}"));
        assert_eq!(text(&mut cb), format!("m{i}"));
    }

    redis.kill9();
    a.wait_state(ClusterState::Lost, T5);
    b.wait_state(ClusterState::Lost, T5);
    // Local delivery goes on; the publishes wait in a's outbox.
    for i in 20..40 {
        a.server.publish("room", Message::Text(&format!("m{i}"))).unwrap();
    }
    for i in 20..40 {
        assert_eq!(text(&mut ca), format!("m{i}"), "local delivery while Redis is down");
    }
    assert_eq!(a.counter("outbox"), 20);

    let _redis2 = Redis::start_on(port, None);
    a.wait_state(ClusterState::Resynced, Duration::from_secs(15));
    b.wait_state(ClusterState::Resynced, Duration::from_secs(15));
    eventually("a's outbox replayed", T5, || a.counter("outbox") == 0);
    // One more, so that a loss at the end would show as a gap too.
    a.server.publish("room", Message::Text("m40")).unwrap();
    assert_eq!(text(&mut ca), "m40");
    // b gets what Redis delivered after it resubscribed: in order, none
    // twice, and whatever it missed is exactly its gap count.
    let mut got = Vec::new();
    loop {
        let m = text(&mut cb);
        got.push(m.clone());
        if m == "m40" {
            break;
        }
    }
    let nums: Vec<u32> = got.iter().map(|m| m[1..].parse().unwrap()).collect();
    eprintln!("b got {nums:?}, gaps {}, repeats {}, a repeats {}", b.counter("gaps"), b.counter("repeats"), a.counter("repeats"));
    assert!(nums.windows(2).all(|w| w[0] < w[1]), "in order, none twice: {nums:?}");
    assert!(nums.iter().all(|&n| (20..=40).contains(&n)), "{nums:?}");
    assert_eq!(nums.len() as u64 + b.counter("gaps"), 21, "delivered + counted as lost = published ({nums:?})");
    assert_eq!(a.counter("reconnects"), 2, "both of a's connections came back once");
}

#[test]
fn wrong_password_is_lost_then_right_one_connects() {
    let redis = Redis::start(Some("s3cret"));
    let bad = Node::new(&redis.url(":wrong@", ""), &[]);
    bad.wait_state(ClusterState::Lost, T5);
    assert_eq!(bad.cluster.state(), ClusterState::Lost);
    let good = Node::new(&redis.url(":s3cret@", ""), &[]);
    good.wait_state(ClusterState::Connected, T5);
}

#[test]
fn junk_on_the_prefix_is_counted_and_dropped() {
    let redis = Redis::start(None);
    let room = vec!["room".to_owned()];
    let a = Node::new(&redis.url("", ""), &room);
    a.wait_state(ClusterState::Connected, T5);
    let mut ca = a.client();
    eventually("subscribed", T5, || redis.cli(&["PUBSUB", "NUMSUB", "squall:room"]).ends_with("\n1"));
    assert_eq!(redis.cli(&["PUBLISH", "squall:room", "not an envelope"]), "1");
    eventually("junk counted", T5, || a.counter("junk") == 1);
    // The socket got nothing from it: the next thing it reads is this.
    a.server.publish("room", Message::Text("after")).unwrap();
    assert_eq!(text(&mut ca), "after");
    assert_eq!(a.counter("delivered"), 0);
}

#[test]
fn urls_that_do_not_parse_are_clear_errors() {
    let lp = Loop::new();
    for url in ["", "redis//x", "http://127.0.0.1:6379", "redis://127.0.0.1:6379/x", "redis://h?nope=1"] {
        let e = Cluster::new(lp.handle(), url).unwrap_err();
        assert_eq!(e.kind(), squall::ErrorKind::InvalidArg, "{url}");
        assert!(e.message().contains("cluster URL"), "{url}: {e}");
    }
}

#[test]
fn an_oversized_message_is_counted_and_dropped() {
    let redis = Redis::start(None);
    let room = vec!["room".to_owned()];
    let small = Node::new(&redis.url("", "&max_message=100"), &room);
    let big = Node::new(&redis.url("", ""), &room);
    let (mut cs, mut cb) = joined(&redis, &small, &big);
    big.server.publish("room", Message::Text("first")).unwrap();
    big.server.publish("room", Message::Text(&"x".repeat(101))).unwrap();
    big.server.publish("room", Message::Text(&"y".repeat(100))).unwrap();
    assert_eq!(text(&mut cb), "first");
    assert_eq!(text(&mut cb), "x".repeat(101), "the publisher's own subscribers are not limited by another's max_message");
    assert_eq!(text(&mut cs), "first");
    assert_eq!(text(&mut cs), "y".repeat(100), "the 101-byte one was dropped, the 100-byte one delivered");
    assert_eq!(small.counter("oversized"), 1);
    assert_eq!(small.counter("delivered"), 2);
    assert_eq!(small.counter("gaps"), 0, "a message dropped as oversized is not counted again as a gap");
}

#[test]
fn a_server_moved_to_another_cluster_leaves_the_first() {
    let redis = Redis::start(None);
    let room = vec!["room".to_owned()];
    // `node` starts on prefix "one", then moves to prefix "two".
    let node = Node::new(&redis.url("", "&prefix=one"), &room);
    node.wait_state(ClusterState::Connected, T5);
    let two = Cluster::new(node.cluster_loop(), &redis.url("", "&prefix=two")).unwrap();
    node.server.attach_cluster(&two).unwrap();
    let one_peer = Node::new(&redis.url("", "&prefix=one"), &room);
    let two_peer = Node::new(&redis.url("", "&prefix=two"), &room);
    one_peer.wait_state(ClusterState::Connected, T5);
    two_peer.wait_state(ClusterState::Connected, T5);
    let mut c = node.client();
    eventually("subscribed on two only", T5, || {
        redis.cli(&["PUBSUB", "NUMSUB", "two:room"]).ends_with("\n1") && redis.cli(&["PUBSUB", "NUMSUB", "one:room"]).ends_with("\n0")
    });
    one_peer.server.publish("room", Message::Text("via one")).unwrap();
    two_peer.server.publish("room", Message::Text("via two")).unwrap();
    assert_eq!(text(&mut c), "via two", "nothing from the cluster it left");
    // Freeing the first cluster does not detach the second.
    let Node { cluster: one, .. } = node;
    drop(one);
    two_peer.server.publish("room", Message::Text("still two")).unwrap();
    assert_eq!(text(&mut c), "still two");
}

/// Every byte value, tagged: what a binary message crosses Redis with.
fn binary(tag: u8, i: u16) -> Vec<u8> {
    let mut m = vec![tag];
    m.extend_from_slice(&i.to_be_bytes());
    m.extend((0..=255u8).cycle().take(256 * (1 + usize::from(i % 3))));
    m
}

fn bytes_of(ws: &mut Client<TcpStream>) -> Vec<u8> {
    loop {
        match ws.read().expect("a message") {
            tungstenite::Message::Binary(b) => return b.to_vec(),
            tungstenite::Message::Ping(_) | tungstenite::Message::Pong(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn tls_two_nodes_both_ways_in_order_byte_for_byte() {
    let certs = Certs::make();
    let redis = Redis::start_tls(closed_port(), None, &certs, false);
    let room = vec!["room".to_owned()];
    let url = redis.url("", &format!("&ca={}", certs.path("ca.pem")));
    let a = Node::new(&url, &room);
    let b = Node::new(&url, &room);
    let (mut ca, mut cb) = joined(&redis, &a, &b);
    let mut sent = Vec::new();
    for i in 0..200u16 {
        let (from, tag) = if i % 2 == 0 { (&a, b'a') } else { (&b, b'b') };
        let m = binary(tag, i);
        from.server.publish("room", Message::Binary(&m)).unwrap();
        sent.push(m);
    }
    for (who, ws) in [("a", &mut ca), ("b", &mut cb)] {
        let got: Vec<Vec<u8>> = (0..sent.len()).map(|_| bytes_of(ws)).collect();
        for tag in [b'a', b'b'] {
            let g: Vec<&Vec<u8>> = got.iter().filter(|m| m[0] == tag).collect();
            let e: Vec<&Vec<u8>> = sent.iter().filter(|m| m[0] == tag).collect();
            assert!(g == e, "{}'s messages as {who} saw them: in order, none twice, every byte", tag as char);
        }
    }
    assert_eq!(a.counter("delivered"), 100, "b's 100 reached a through Redis");
    assert_eq!(b.counter("delivered"), 100, "a's 100 reached b through Redis");
    assert_eq!(a.counter("gaps") + b.counter("gaps") + a.counter("repeats") + b.counter("repeats"), 0);
    // Redis saw TLS clients: a plaintext client is not served on that port.
    let mut plain = TcpStream::connect(("127.0.0.1", redis.port)).unwrap();
    use std::io::{Read, Write};
    plain.set_read_timeout(Some(T5)).unwrap();
    plain.write_all(b"PING\r\n").unwrap();
    let mut buf = [0u8; 64];
    assert!(!matches!(plain.read(&mut buf), Ok(n) if buf[..n].starts_with(b"+PONG")), "the port speaks TLS only");
}

#[test]
fn tls_untrusted_certificate_is_lost_with_a_clear_error_and_backoff() {
    keep_log_records();
    let certs = Certs::make();
    let redis = Redis::start_tls(closed_port(), None, &certs, false);
    let room = vec!["room".to_owned()];
    let good = Node::new(&redis.url("", &format!("&ca={}", certs.path("ca.pem"))), &room);
    let t0 = Instant::now();
    let bad = Node::new(&redis.url("", &format!("&ca={}", certs.path("other-ca.pem"))), &room);
    good.wait_state(ClusterState::Connected, T5);
    bad.wait_state(ClusterState::Lost, T5);
    let port = format!("127.0.0.1:{}", redis.port);
    eventually("the certificate error in the log", T5, || {
        !records_with(&["squall::cluster", &port, "TLS handshake", "invalid peer certificate", "UnknownIssuer"]).is_empty()
    });
    let mut cg = good.client();
    let mut cbad = bad.client();
    eventually("good subscribed, bad not", T5, || redis.cli(&["PUBSUB", "NUMSUB", "squall:room"]).ends_with("\n1"));
    // Nothing crosses: bad's publish stays local (held in its outbox),
    // good's does not reach bad.
    bad.server.publish("room", Message::Text("from bad")).unwrap();
    assert_eq!(text(&mut cbad), "from bad", "the process goes on serving locally");
    good.server.publish("room", Message::Text("from good")).unwrap();
    assert_eq!(text(&mut cg), "from good", "bad's message never reached good");
    bad.server.publish("room", Message::Text("again")).unwrap();
    assert_eq!(text(&mut cbad), "again", "good's message never reached bad");
    assert_eq!(bad.counter("delivered"), 0);
    assert_eq!(good.counter("delivered"), 0);
    assert_eq!(bad.counter("outbox"), 2, "bad's publishes wait for a Redis it can trust");
    assert_eq!(bad.cluster.state(), ClusterState::Lost);
    // Retried with backoff (100 ms doubling, jittered), not in a busy loop:
    // over 2 s each of the two connections tries a handful of times.
    std::thread::sleep(Duration::from_secs(2).saturating_sub(t0.elapsed()));
    let elapsed = t0.elapsed();
    let tries = records_with(&["squall::cluster", &port, "redis over TLS", "UnknownIssuer"]).len();
    assert!((2..=2 * 8).contains(&tries), "{tries} failed handshakes in {elapsed:?}");
    assert_eq!(bad.cluster.state(), ClusterState::Lost, "still lost, never connected");
}

#[test]
fn tls_redis_killed_then_restarted_resubscribed_outbox_replayed() {
    let certs = Certs::make();
    let mut redis = Redis::start_tls(closed_port(), None, &certs, false);
    let port = redis.port;
    let room = vec!["room".to_owned()];
    let url = redis.url("", &format!("&ca={}", certs.path("ca.pem")));
    let a = Node::new(&url, &room);
    let b = Node::new(&url, &room);
    let (mut ca, mut cb) = joined(&redis, &a, &b);
    a.server.publish("room", Message::Text("before")).unwrap();
    assert_eq!(text(&mut ca), "before");
    assert_eq!(text(&mut cb), "before");

    redis.kill9();
    a.wait_state(ClusterState::Lost, T5);
    b.wait_state(ClusterState::Lost, T5);
    for i in 0..10 {
        a.server.publish("room", Message::Text(&format!("held{i}"))).unwrap();
        assert_eq!(text(&mut ca), format!("held{i}"), "local delivery while Redis is down");
    }
    assert_eq!(a.counter("outbox"), 10);

    let redis2 = Redis::start_tls(port, None, &certs, false);
    a.wait_state(ClusterState::Resynced, Duration::from_secs(15));
    b.wait_state(ClusterState::Resynced, Duration::from_secs(15));
    eventually("a's outbox replayed", T5, || a.counter("outbox") == 0);
    assert_eq!(redis2.cli(&["PUBSUB", "NUMSUB", "squall:room"]), "squall:room\n2", "both resubscribed over TLS");
    a.server.publish("room", Message::Text("after")).unwrap();
    b.server.publish("room", Message::Text("from b")).unwrap();
    // (a's own arrives locally, b's through Redis: in either order)
    let mut two = [text(&mut ca), text(&mut ca)];
    two.sort();
    assert_eq!(two, ["after", "from b"], "b's publish reached a over the new connection");
    // b gets what Redis delivered after it resubscribed: in order, none
    // twice, what it missed counted as a gap.
    // (b's own "from b" arrives locally, in any order with a's.)
    let mut got = Vec::new();
    while !(got.iter().any(|m| m == "after") && got.iter().any(|m| m == "from b")) {
        got.push(text(&mut cb));
    }
    let from_a: Vec<&String> = got.iter().filter(|m| *m != "from b").collect();
    assert_eq!(from_a.last().map(|s| s.as_str()), Some("after"), "a's, in order: {got:?}");
    let held: Vec<&String> = got.iter().filter(|m| m.starts_with("held")).collect();
    let want: Vec<String> = (10 - held.len()..10).map(|i| format!("held{i}")).collect();
    assert!(held.iter().map(|s| s.as_str()).eq(want.iter().map(String::as_str)), "{got:?}");
    assert_eq!(held.len() as u64 + b.counter("gaps"), 10, "delivered + counted as lost = held ({got:?})");
    assert_eq!(a.counter("reconnects"), 2, "both of a's connections came back once");
}

#[test]
fn tls_with_a_password_wrong_then_right() {
    let certs = Certs::make();
    let redis = Redis::start_tls(closed_port(), Some("s3cret"), &certs, false);
    let ca = format!("&ca={}", certs.path("ca.pem"));
    let bad = Node::new(&redis.url(":wrong@", &ca), &[]);
    bad.wait_state(ClusterState::Lost, T5);
    let room = vec!["room".to_owned()];
    let a = Node::new(&redis.url(":s3cret@", &ca), &room);
    let b = Node::new(&redis.url("default:s3cret@", &ca), &room);
    let (_ca, mut cb) = joined(&redis, &a, &b);
    a.server.publish("room", Message::Text("over TLS, authenticated")).unwrap();
    assert_eq!(text(&mut cb), "over TLS, authenticated");
    assert_eq!(bad.cluster.state(), ClusterState::Lost);
}

#[test]
fn tls_client_certificate_when_redis_asks_for_one() {
    let certs = Certs::make();
    let redis = Redis::start_tls(closed_port(), None, &certs, true);
    let room = vec!["room".to_owned()];
    let ca = format!("&ca={}", certs.path("ca.pem"));
    let without = Node::new(&redis.url("", &ca), &room);
    without.wait_state(ClusterState::Lost, T5);
    let with = format!("{ca}&cert={}&key={}", certs.path("client.pem"), certs.path("client.key"));
    let a = Node::new(&redis.url("", &with), &room);
    let b = Node::new(&redis.url("", &with), &room);
    let (_ca, mut cb) = joined(&redis, &a, &b);
    a.server.publish("room", Message::Text("with a client certificate")).unwrap();
    assert_eq!(text(&mut cb), "with a client certificate");
    assert_eq!(without.cluster.state(), ClusterState::Lost);
}

#[test]
fn tls_files_that_cannot_be_used_are_errors_when_the_cluster_is_made() {
    let certs = Certs::make();
    let lp = Loop::new();
    for (url, why) in [
        (format!("rediss://127.0.0.1?ca={}", certs.path("missing.pem")), "cannot read CA file"),
        (format!("rediss://127.0.0.1?ca={}", certs.path("server.key")), "no certificate in"),
        (format!("rediss://127.0.0.1?cert={}&key={}", certs.path("client.pem"), certs.path("ca.pem")), "private key"),
        (format!("rediss://127.0.0.1?cert={}&key={}", certs.path("client.pem"), certs.path("server.key")), "client certificate"),
        ("redis://127.0.0.1?ca=/etc/ssl/ca.pem".to_owned(), "rediss://"),
        ("rediss://127.0.0.1?insecure=1".to_owned(), "cannot be turned off"),
    ] {
        let e = Cluster::new(lp.handle(), &url).unwrap_err();
        assert_eq!(e.kind(), squall::ErrorKind::InvalidArg, "{url}: {e}");
        assert!(e.message().contains("cluster URL") && e.message().contains(why), "{url}: {e}");
    }
    // The webpki roots, and a CA file that can be used: made (connected later).
    Cluster::new(lp.handle(), "rediss://127.0.0.1").unwrap();
    Cluster::new(lp.handle(), &format!("rediss://127.0.0.1?ca={}", certs.path("ca.pem"))).unwrap();
}

#[test]
fn tls_a_handshake_that_stalls_counts_under_the_connect_timeout() {
    keep_log_records();
    // A port that accepts and never answers the ClientHello.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = Arc::new(Mutex::new(Vec::new()));
    let h2 = held.clone();
    std::thread::spawn(move || {
        for s in silent.incoming().flatten() {
            h2.lock().unwrap().push(s);
        }
    });
    let t0 = Instant::now();
    let node = Node::new(&format!("rediss://127.0.0.1:{port}?timeout_ms=300"), &[]);
    node.wait_state(ClusterState::Lost, T5);
    let waited = t0.elapsed();
    assert!(waited >= Duration::from_millis(250) && waited < Duration::from_secs(3), "lost after {waited:?}");
    let at = format!("127.0.0.1:{port}");
    eventually("the timeout in the log", T5, || !records_with(&["squall::cluster", &at, "timed out after 300 ms"]).is_empty());
    eventually("tried again after the backoff", T5, || held.lock().unwrap().len() >= 3);
    assert_eq!(node.cluster.state(), ClusterState::Lost);
}

#[test]
fn tls_a_burst_larger_than_the_socket_buffers_is_all_sent() {
    // rustls takes plaintext into its own buffer while the socket is full:
    // every byte of a burst that fills the kernel's buffers must still go
    // out once Redis reads again, with no PING to push anything along
    // (ping_ms is long here). (Each TLS read also sends records rustls
    // holds, and Redis answers every PUBLISH, so this passes with or
    // without the write path's own flush: that one is defensive.)
    let certs = Certs::make();
    let redis = Redis::start_tls(closed_port(), None, &certs, false);
    let a = Node::new(&redis.url("", &format!("&ca={}&ping_ms=60000&timeout_ms=120000", certs.path("ca.pem"))), &[]);
    a.wait_state(ClusterState::Connected, T5);
    let pid = redis.child.id().to_string();
    let signal = |sig: &str| assert!(Command::new("kill").args([sig, &pid]).status().unwrap().success());
    signal("-STOP");
    let chunk = vec![b'x'; 8192];
    for _ in 0..3000 {
        a.server.publish("room", Message::Binary(&chunk)).unwrap();
    }
    // 24 MB: more than the kernel buffers between a and a stopped Redis.
    std::thread::sleep(Duration::from_millis(500));
    signal("-CONT");
    eventually("every publish answered by Redis", Duration::from_secs(20), || a.counter("outbox") == 0);
    assert_eq!(a.counter("published"), 3000);
}

/// The value of the sample `name` (no labels) in a Prometheus text.
fn sample(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn cluster_counters_are_in_the_metrics_and_promtool_accepts_them() {
    let redis = Redis::start(None);
    let room = vec!["room".to_owned()];
    let a = Node::new(&redis.url("", ""), &room);
    let b = Node::new(&redis.url("", ""), &room);
    let (_ca, mut cb) = joined(&redis, &a, &b);
    const M: u64 = 120;
    for i in 0..M {
        a.server.publish("room", Message::Text(&format!("m{i}"))).unwrap();
    }
    for _ in 0..M {
        text(&mut cb);
    }
    eventually("a to hear its own messages back", T5, || a.counter("echo") >= M);
    let ta = a.server.metrics_text();
    let tb = b.server.metrics_text();
    assert_eq!(sample(&ta, "squall_cluster_published_total"), Some(M), "{ta}");
    assert_eq!(sample(&ta, "squall_cluster_echo_total"), Some(M));
    assert_eq!(sample(&tb, "squall_cluster_received_total"), Some(M));
    assert_eq!(sample(&tb, "squall_cluster_delivered_total"), Some(M));
    assert_eq!(sample(&tb, "squall_cluster_published_total"), Some(0));
    for t in [&ta, &tb] {
        assert_eq!(sample(t, "squall_cluster_connected"), Some(1));
        assert_eq!(sample(t, "squall_cluster_gaps_total"), Some(0));
        assert_eq!(sample(t, "squall_cluster_subscribed"), Some(1));
    }
    // what the text says is what the cluster's own counters say
    assert_eq!(sample(&ta, "squall_cluster_reconnects_total"), Some(a.counter("reconnects")));
    // A server with no cluster has no cluster families.
    let lp = Loop::new();
    let plain = Server::new(&lp);
    assert!(!plain.metrics_text().contains("squall_cluster_"));
    // The format, checked by Prometheus' own tool.
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package, installed by tests/setup.sh)");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(ta.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "promtool: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    // The cluster down: the gauge says so.
    drop(redis);
    a.wait_state(ClusterState::Lost, Duration::from_secs(10));
    assert_eq!(sample(&a.server.metrics_text(), "squall_cluster_connected"), Some(0));
}
