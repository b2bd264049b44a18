//! WebSocket routes for Rust: the events of a route's sockets as a trait,
//! and the handle that sends on a socket from any thread (`sq_ws`).

use std::sync::Arc;

use super::Sent;
use super::request::Request;
use crate::reactor::handles::Stale;
use crate::ws::deflate::offer::Policy;
use crate::ws::route::{Options, WsRoute};
use crate::ws::socket::WsSocket;
use crate::ws::{Interest, MessageKind, SocketEvents};
use crate::{Error, ErrorKind, Result};

/// A whole message (fragments reassembled).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message<'a> {
    /// A text message (valid UTF-8).
    Text(&'a str),
    /// A binary message.
    Binary(&'a [u8]),
}

impl Message<'_> {
    /// Whether it is binary, and its bytes: what the core's send takes.
    pub(super) fn parts(&self) -> (bool, &[u8]) {
        match *self {
            Message::Text(t) => (false, t.as_bytes()),
            Message::Binary(b) => (true, b),
        }
    }
}

/// What a WebSocket route's sockets tell the program. Every method runs on
/// the thread that runs the loop, one at a time; what it is handed lives
/// during the call only. A program that keeps state per socket keys it by
/// [`WebSocket::id`].
pub trait Events: Send + Sync + 'static {
    /// The handshake succeeded. `req` is the upgrade request (its head, its
    /// route captures), readable during this call only.
    fn on_open(&self, ws: &WebSocket, req: Option<&Request>) {
        let _ = (ws, req);
    }

    /// A whole message arrived.
    fn on_message(&self, ws: &WebSocket, msg: Message<'_>);

    /// The socket closed: the peer's close code (1005 when its close frame
    /// had none), the code squall sent after a protocol error, 1001 after an
    /// idle timeout, or 1006 when the connection ended without a close
    /// frame. Called once per socket; the handle is stale afterwards.
    fn on_close(&self, ws: &WebSocket, code: u16, reason: &str) {
        let _ = (ws, code, reason);
    }

    /// The buffered output fell back under the high-water mark after a
    /// send returned [`Sent::Backpressure`].
    fn on_drain(&self, ws: &WebSocket) {
        let _ = ws;
    }
}

/// A WebSocket accepted on a route: a handle (an id), valid from `on_open`
/// until `on_close` has returned; afterwards every call gets
/// [`ErrorKind::Closed`]. Usable from any thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WebSocket {
    id: u64,
}

impl WebSocket {
    /// The socket's id: unique while it is open, for keeping state per socket.
    pub fn id(&self) -> u64 {
        self.id
    }

    fn socket(&self) -> Result<Arc<WsSocket>> {
        crate::ws::SOCKETS.get(self.id).map_err(|s| match s {
            Stale::Released => Error::new(ErrorKind::Closed, "the WebSocket is closed"),
            Stale::Invalid => Error::new(ErrorKind::InvalidArg, "not a WebSocket handle"),
        })
    }

    /// Sends a message (copied now, written by the socket's reactor in the
    /// order of each thread's calls). `Limit` when over the route's
    /// backpressure limit, `Closed` once closing.
    pub fn send(&self, msg: Message<'_>) -> Result<Sent> {
        let (binary, data) = msg.parts();
        self.socket()?.send(binary, data).map(Sent::from)
    }

    /// Sends a message never compressed, whatever the socket negotiated:
    /// for a secret sent next to data an attacker chooses, which compression
    /// would let them guess from the sizes (CRIME, BREACH).
    pub fn send_uncompressed(&self, msg: Message<'_>) -> Result<Sent> {
        let (binary, data) = msg.parts();
        self.socket()?.send_with(binary, data, false).map(Sent::from)
    }

    /// Sends a text message.
    pub fn send_text(&self, text: &str) -> Result<Sent> {
        self.send(Message::Text(text))
    }

    /// Sends a binary message.
    pub fn send_binary(&self, data: &[u8]) -> Result<Sent> {
        self.send(Message::Binary(data))
    }

    /// Starts the close handshake with `code` (1000–1003, 1007–1014 or
    /// 3000–4999) and `reason` (at most 123 bytes); `on_close` follows.
    pub fn close(&self, code: u16, reason: &str) -> Result<()> {
        self.socket()?.close(code, reason)
    }

    /// Sends a ping carrying at most 125 bytes.
    pub fn ping(&self, data: &[u8]) -> Result<()> {
        self.socket()?.ping(data)
    }

    /// Subscribes to `topic` of the socket's server: a publish made after
    /// this returns, from any thread, reaches it.
    pub fn subscribe(&self, topic: &str) -> Result<()> {
        self.socket()?.subscribe(topic)
    }

    /// Ends the subscription to `topic` (no error if there was none).
    pub fn unsubscribe(&self, topic: &str) -> Result<()> {
        self.socket()?.unsubscribe(topic)
    }

    /// The bytes queued for the socket and not yet written.
    pub fn buffered_amount(&self) -> usize {
        self.socket().map_or(0, |s| s.buffered.load(std::sync::atomic::Ordering::Acquire))
    }
}

/// A Rust route's events handed to the core: `sq_ws_route`'s C callbacks,
/// in Rust. Origins, subprotocols, pings and pongs are left to the core's
/// defaults (same-origin only, none, answered).
struct Adapter<E>(E);

impl<E: Events> SocketEvents for Adapter<E> {
    fn interest(&self) -> Interest {
        Interest::default()
    }

    fn initial_user_word(&self) -> usize {
        0
    }

    fn open(&self, ws: u64, _user: usize, req: Option<u64>) {
        let req = req.and_then(|id| Request::lookup(id).ok());
        self.0.on_open(&WebSocket { id: ws }, req.as_ref());
    }

    fn message(&self, ws: u64, _user: usize, kind: MessageKind, data: &[u8]) {
        let msg = match kind {
            // The core hands over text only once it checked the UTF-8.
            MessageKind::Text => std::str::from_utf8(data).map_or(Message::Binary(data), Message::Text),
            MessageKind::Binary => Message::Binary(data),
        };
        self.0.on_message(&WebSocket { id: ws }, msg);
    }

    fn ping(&self, _ws: u64, _user: usize, _data: &[u8]) {}

    fn pong(&self, _ws: u64, _user: usize, _data: &[u8]) {}

    fn drain(&self, ws: u64, _user: usize) {
        self.0.on_drain(&WebSocket { id: ws });
    }

    fn close(&self, ws: u64, _user: usize, code: u16, reason: &str) {
        self.0.on_close(&WebSocket { id: ws }, code, reason);
    }

    fn check_origin(&self, _req: u64, _origin: &str) -> bool {
        true
    }

    fn select_subprotocol(&self, _req: u64, _offered: &[String]) -> Option<usize> {
        None
    }

    fn connect_failed(&self, _e: &Error) {}
}

/// The core route for `events`, with the default limits.
pub(super) fn route(events: impl Events) -> WsRoute {
    WsRoute::new(Arc::new(Adapter(events)), Options::default())
}

/// permessage-deflate (RFC 7692) on a route.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Compression {
    /// Every offer declined (the default).
    #[default]
    Off,
    /// Accepted without context takeover either way: every message is
    /// compressed on its own by the sending thread's compressor, and
    /// inflated by a reactor thread's inflater; an idle socket holds no
    /// compression state.
    Shared,
    /// Accepted with context takeover both ways (unless the client asks
    /// for none): each socket keeps its own compressor, with a window of
    /// `window_bits` (9..=15), and its own inflater, so repeated content
    /// compresses better, at a memory cost per socket (see
    /// docs/ARCHITECTURE.md, "permessage-deflate"). Messages are compressed
    /// on the socket's reactor, in the order they go out.
    Dedicated {
        /// The compressor's window, 9..=15.
        window_bits: u8,
    },
    /// `Dedicated` with the compressor's memory level and compression
    /// level chosen too (zlib's meanings; `Dedicated` uses 8 and 6): a
    /// smaller memory level costs less per socket and compresses less.
    DedicatedTuned {
        /// The compressor's window, 9..=15.
        window_bits: u8,
        /// The compressor's memory level, 1..=9 (a hash table of
        /// 2^(mem_level + 7) entries).
        mem_level: u8,
        /// The compression level, 0..=9.
        level: u8,
        /// Answer `client_no_context_takeover` to every accepted offer: the
        /// client compresses each message afresh and the socket inflates
        /// with its reactor's shared inflater, keeping only its compressor
        /// (window 9, memory level 1: about 3 KiB).
        client_no_context_takeover: bool,
    },
}

/// Options of a WebSocket route ([`Server::ws_route_with`](super::Server::ws_route_with)).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RouteOptions {
    /// permessage-deflate, when the client offers it.
    pub compression: Compression,
}

impl RouteOptions {
    /// The defaults, with `compression`.
    pub fn with_compression(compression: Compression) -> RouteOptions {
        RouteOptions { compression }
    }
}

/// The core route for `events` with `options`; `InvalidArg` for a window
/// outside 9..=15.
pub(super) fn route_with(events: impl Events, options: RouteOptions) -> Result<WsRoute> {
    let compression = match options.compression {
        Compression::Off => None,
        Compression::Shared => Some(Policy::SHARED),
        Compression::Dedicated { window_bits } => {
            let p = Policy::dedicated(window_bits);
            if !p.is_valid() {
                return Err(Error::new(ErrorKind::InvalidArg, format!("window_bits {window_bits} is not in 9..=15")));
            }
            Some(p)
        }
        Compression::DedicatedTuned { window_bits, mem_level, level, client_no_context_takeover } => {
            let mut p = Policy::dedicated_with(window_bits, level, mem_level);
            p.client_no_context_takeover = client_no_context_takeover;
            if !p.is_valid() {
                return Err(Error::new(
                    ErrorKind::InvalidArg,
                    format!("window_bits {window_bits} (9..=15), mem_level {mem_level} (1..=9) or level {level} (0..=9) out of range"),
                ));
            }
            Some(p)
        }
    };
    let opts = Options { compression, ..Options::default() };
    Ok(WsRoute::new(Arc::new(Adapter(events)), opts))
}
