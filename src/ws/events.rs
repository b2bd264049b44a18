//! What a WebSocket route tells its host, as a Rust trait: the core decides
//! when and on which thread each event is handed over (the host thread, or
//! the reactor for inline routes); the host's side (the C callbacks, in the
//! C API's module) implements the trait once. Sockets and upgrade requests are
//! named by their handle ids; a socket's user word is an opaque `usize` the
//! host set (never dereferenced here).

use crate::Error;

/// A whole message's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MessageKind {
    /// Valid UTF-8.
    Text,
    Binary,
}

/// Which optional events the host listens to, where the core acts on it
/// (a ping or pong nobody listens to is not handed over at all; an origin
/// check or subprotocol choice nobody makes is done by the core, at once).
/// Fixed when the route is made.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Interest {
    pub(crate) ping: bool,
    pub(crate) pong: bool,
    pub(crate) check_origin: bool,
    pub(crate) select_subprotocol: bool,
    pub(crate) connect_error: bool,
}

/// The host's side of a WebSocket route (or of a client socket). Every
/// method runs on the thread the core picked for it (the loop's host
/// thread, or a reactor thread for an inline route); the slices and
/// strings it gets live during the call only.
pub(crate) trait SocketEvents: Send + Sync {
    /// Which optional events are wanted (read once, when the route is made).
    fn interest(&self) -> Interest;

    /// The user word a new socket starts with (until the host sets its own).
    fn initial_user_word(&self) -> usize;

    /// The socket `ws` opened; `req` is the upgrade request on a server
    /// (valid during the call), None on a client.
    fn open(&self, ws: u64, user: usize, req: Option<u64>);

    fn message(&self, ws: u64, user: usize, kind: MessageKind, data: &[u8]);

    /// Called only when [`Interest::ping`] is set.
    fn ping(&self, ws: u64, user: usize, data: &[u8]);

    /// Called only when [`Interest::pong`] is set.
    fn pong(&self, ws: u64, user: usize, data: &[u8]);

    /// The buffered output fell under the high-water mark after a send
    /// reported backpressure.
    fn drain(&self, ws: u64, user: usize);

    /// The socket closed; its handle is released once this returns.
    fn close(&self, ws: u64, user: usize, code: u16, reason: &str);

    /// Whether a handshake with this `Origin` ("" for none) is accepted.
    /// Called only when [`Interest::check_origin`] is set.
    fn check_origin(&self, req: u64, origin: &str) -> bool;

    /// [`SocketEvents::check_origin`], or None: the host decides later
    /// (`sq_ws_handshake_decide`), the handshake waits for it.
    fn check_origin_or_later(&self, req: u64, origin: &str) -> Option<bool> {
        Some(self.check_origin(req, origin))
    }

    /// The index of the subprotocol chosen among those `offered` (never
    /// empty), or None. Called only when [`Interest::select_subprotocol`]
    /// is set.
    fn select_subprotocol(&self, req: u64, offered: &[String]) -> Option<usize>;

    /// A client socket's connection or handshake failed (no other event
    /// follows). Called only when [`Interest::connect_error`] is set.
    fn connect_failed(&self, e: &Error);
}
