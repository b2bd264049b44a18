//! WebSocket routes over real sockets through the Rust API: an echo of
//! text and binary, close codes both ways, and a topic reaching two
//! subscribers; the client is tungstenite on a blocking std socket.

mod util;

use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex, mpsc};

use squall::Loop;
use squall::api::Server;
use squall::api::ws::{Events, Message, WebSocket};
use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;
use util::{Running, dial, next};

/// What the server side saw, in order.
#[derive(Debug, PartialEq)]
enum Seen {
    Open(Option<String>),
    Text(String),
    Binary(Vec<u8>),
    Close(u16, String),
}

/// Echoes every message back; "close me" makes the server close with 4000.
/// Subscribes every socket to "news". Reports everything on `tx`.
struct Echo {
    tx: Mutex<mpsc::Sender<Seen>>,
}

impl Echo {
    fn new() -> (Echo, mpsc::Receiver<Seen>) {
        let (tx, rx) = mpsc::channel();
        (Echo { tx: Mutex::new(tx) }, rx)
    }

    fn saw(&self, s: Seen) {
        let _ = self.tx.lock().unwrap().send(s);
    }
}

impl Events for Echo {
    fn on_open(&self, ws: &WebSocket, req: Option<&squall::api::Request>) {
        ws.subscribe("news").unwrap();
        self.saw(Seen::Open(req.and_then(|r| r.capture(0)).map(str::to_owned)));
    }

    fn on_message(&self, ws: &WebSocket, msg: Message<'_>) {
        match msg {
            Message::Text("close me") => ws.close(4000, "asked").unwrap(),
            Message::Text(t) => {
                ws.send_text(t).unwrap();
                self.saw(Seen::Text(t.to_owned()));
            }
            Message::Binary(b) => {
                ws.send_binary(b).unwrap();
                self.saw(Seen::Binary(b.to_vec()));
            }
        }
    }

    fn on_close(&self, _ws: &WebSocket, code: u16, reason: &str) {
        self.saw(Seen::Close(code, reason.to_owned()));
    }
}

type Client = tungstenite::WebSocket<TcpStream>;

fn start() -> (Arc<Loop>, Server, SocketAddr, mpsc::Receiver<Seen>) {
    let lp = Arc::new(Loop::new());
    let server = Server::new(&lp);
    let (echo, rx) = Echo::new();
    server.ws_route("/ws/([a-z0-9]+)", echo).unwrap();
    let addr = server.listen("127.0.0.1:0").unwrap();
    (lp, server, addr, rx)
}

fn open(addr: SocketAddr, room: &str) -> Client {
    let (ws, resp) = tungstenite::client::client(format!("ws://{addr}/ws/{room}"), dial(addr)).expect("the handshake");
    assert_eq!(resp.status(), 101);
    ws
}

/// The next data message (pings are answered by the client on its own).
fn read(ws: &mut Client) -> tungstenite::Message {
    loop {
        match ws.read().expect("a message") {
            tungstenite::Message::Ping(_) | tungstenite::Message::Pong(_) => continue,
            m => return m,
        }
    }
}

#[test]
fn text_and_binary_are_echoed_and_the_clients_close_code_arrives() {
    let (lp, server, addr, rx) = start();
    let running = Running::start(&lp);
    let mut ws = open(addr, "room1");
    assert_eq!(next(&rx, "on_open"), Seen::Open(Some("room1".into())));

    ws.send(tungstenite::Message::text("héllo")).unwrap();
    assert_eq!(read(&mut ws), tungstenite::Message::text("héllo"));
    assert_eq!(next(&rx, "the text"), Seen::Text("héllo".into()));

    let bytes = vec![0u8, 1, 2, 0xff, 0xfe];
    ws.send(tungstenite::Message::binary(bytes.clone())).unwrap();
    assert_eq!(read(&mut ws), tungstenite::Message::binary(bytes.clone()));
    assert_eq!(next(&rx, "the binary"), Seen::Binary(bytes));

    // A message big enough for a 16-bit length comes back whole.
    let big = "x".repeat(70_000);
    ws.send(tungstenite::Message::text(big.clone())).unwrap();
    assert_eq!(read(&mut ws), tungstenite::Message::text(big.clone()));
    assert_eq!(next(&rx, "the big text"), Seen::Text(big));

    ws.close(Some(CloseFrame { code: CloseCode::from(4001), reason: "bye".into() })).unwrap();
    // The server answers the close; the client then sees the end.
    loop {
        match ws.read() {
            Ok(tungstenite::Message::Close(f)) => assert_eq!(f.map(|f| u16::from(f.code)), Some(4001)),
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("closing: {e}"),
        }
    }
    assert_eq!(next(&rx, "on_close"), Seen::Close(4001, "bye".into()));
    running.stop();
    drop(server);
}

#[test]
fn the_server_closes_with_its_own_code() {
    let (lp, server, addr, rx) = start();
    let running = Running::start(&lp);
    let mut ws = open(addr, "x");
    assert_eq!(next(&rx, "on_open"), Seen::Open(Some("x".into())));

    ws.send(tungstenite::Message::text("close me")).unwrap();
    match read(&mut ws) {
        tungstenite::Message::Close(Some(f)) => {
            assert_eq!(u16::from(f.code), 4000);
            assert_eq!(f.reason.as_str(), "asked");
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
    // The client's answer completes the handshake: on_close gets the code
    // the client echoed back.
    while ws.read().is_ok() {}
    assert_eq!(next(&rx, "on_close"), Seen::Close(4000, "asked".into()));
    running.stop();
    drop(server);
}

/// Publishes from the loop's thread (as a handler would) and returns how
/// many subscribers there were. A subscribe made in `on_open` leaves for
/// the reactor at the end of that loop turn; a publish from a later turn
/// is ordered after it. (From another thread it is not: see
/// `a_publish_from_another_thread_right_after_on_open_subscribed`.)
fn publish_on_loop(lp: &Loop, server: &Arc<Server>, topic: &'static str, msg: Vec<u8>, binary: bool) -> usize {
    let (tx, rx) = mpsc::channel();
    let s = server.clone();
    lp.handle()
        .add_callback(move || {
            let msg = if binary { Message::Binary(&msg) } else { Message::Text(std::str::from_utf8(&msg).unwrap()) };
            tx.send(s.publish(topic, msg)).unwrap();
        })
        .unwrap();
    next(&rx, "the publish").expect("publish")
}

/// Two clients on the topic route, both opened (and so subscribed).
fn two_subscribers(rx: &mpsc::Receiver<Seen>, addr: SocketAddr) -> (Client, Client) {
    let a = open(addr, "a");
    let b = open(addr, "b");
    let mut opened = vec![next(rx, "open a"), next(rx, "open b")];
    opened.sort_by_key(|s| format!("{s:?}"));
    assert_eq!(opened, [Seen::Open(Some("a".into())), Seen::Open(Some("b".into()))]);
    (a, b)
}

#[test]
fn a_topic_publish_reaches_both_subscribers() {
    let (lp, server, addr, rx) = start();
    let server = Arc::new(server);
    let running = Running::start(&lp);
    let (mut a, mut b) = two_subscribers(&rx, addr);
    assert_eq!(server.subscribers("news"), 2);

    assert_eq!(publish_on_loop(&lp, &server, "news", b"breaking".to_vec(), false), 2);
    assert_eq!(publish_on_loop(&lp, &server, "sports", b"nobody".to_vec(), false), 0);
    // Once the subscriptions are in place, any thread may publish.
    assert_eq!(server.publish("news", Message::Binary(&[7, 8, 9])).unwrap(), 2);
    for ws in [&mut a, &mut b] {
        assert_eq!(read(ws), tungstenite::Message::text("breaking"));
        assert_eq!(read(ws), tungstenite::Message::binary(vec![7u8, 8, 9]));
    }

    // A socket that leaves stops counting.
    a.close(None).unwrap();
    while a.read().is_ok() {}
    assert_eq!(next(&rx, "a's on_close"), Seen::Close(1005, String::new()));
    util::eventually("a's subscription to end", || server.subscribers("news") == 1);
    assert_eq!(server.publish("news", Message::Text("still here")).unwrap(), 1);
    assert_eq!(read(&mut b), tungstenite::Message::text("still here"));
    running.stop();
    drop(server);
}

/// The C header promises that a publish made after `sq_ws_subscribe`
/// returns, from any thread, reaches the socket, also when the subscribe is
/// made inside a loop callback (whose other commands the loop holds until
/// the end of its turn): the subscription is not held with them. (It failed
/// about one run in three while it was.)
#[test]
fn a_publish_from_another_thread_right_after_on_open_subscribed() {
    for _ in 0..10 {
        let (lp, server, addr, rx) = start();
        let running = Running::start(&lp);
        let (mut a, mut b) = two_subscribers(&rx, addr);
        assert_eq!(server.publish("news", Message::Text("breaking")).unwrap(), 2);
        for ws in [&mut a, &mut b] {
            assert_eq!(read(ws), tungstenite::Message::text("breaking"));
        }
        running.stop();
        drop(server);
    }
}
