//! A WebSocket route: the host's side of its events and the route's limits
//! (message size, backpressure, keep-alive).

use std::sync::Arc;

use super::deflate::offer::Policy;
use super::events::{Interest, SocketEvents};

/// What a route allows and how its sockets are kept alive.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// The largest message (and frame) accepted; bigger → close 1009.
    pub(crate) max_message_size: usize,
    /// Buffered output above which a send reports backpressure (and
    /// `on_drain` follows once the buffer is below it again).
    pub(crate) high_water: usize,
    /// Buffered output above which a message is not queued (dropped, or the
    /// socket closed, per `close_on_limit`). A message is always accepted
    /// into an empty buffer, whatever its size.
    pub(crate) max_backpressure: usize,
    pub(crate) close_on_limit: bool,
    /// Send a ping this often (0: never).
    pub(crate) ping_interval_ms: u64,
    /// Close a socket whose pong has not come this long after a ping.
    pub(crate) pong_timeout_ms: u64,
    /// Close a socket that sent nothing for this long (0: never).
    pub(crate) idle_timeout_ms: u64,
    /// Subprotocols the route speaks, in its order of preference.
    pub(crate) protocols: Vec<String>,
    /// Run the callbacks on the reactor thread.
    pub(crate) inline: bool,
    /// permessage-deflate (RFC 7692): the policy offers are answered with,
    /// or `None` to decline every offer (the default).
    pub(crate) compression: Option<Policy>,
}

/// Defaults (docs/ARCHITECTURE.md, "WebSockets").
pub(crate) const DEFAULT_MAX_MESSAGE: usize = 16 << 20;
pub(crate) const DEFAULT_HIGH_WATER: usize = 256 << 10;
pub(crate) const DEFAULT_MAX_BACKPRESSURE: usize = 4 << 20;

impl Default for Options {
    fn default() -> Self {
        Options {
            max_message_size: DEFAULT_MAX_MESSAGE,
            high_water: DEFAULT_HIGH_WATER,
            max_backpressure: DEFAULT_MAX_BACKPRESSURE,
            close_on_limit: false,
            ping_interval_ms: 0,
            pong_timeout_ms: 0,
            idle_timeout_ms: 0,
            protocols: Vec::new(),
            inline: false,
            compression: None,
        }
    }
}

/// A registered route.
pub(crate) struct WsRoute {
    pub(crate) events: Arc<dyn SocketEvents>,
    /// What `events` listens to, read once: checked on every ping and pong.
    pub(crate) interest: Interest,
    pub(crate) opts: Options,
}

impl WsRoute {
    pub(crate) fn new(events: Arc<dyn SocketEvents>, opts: Options) -> WsRoute {
        let interest = events.interest();
        WsRoute { events, interest, opts }
    }

    /// Whether the handshake needs the host's decision (origin check or
    /// subprotocol choice by the host).
    pub(crate) fn asks_host(&self) -> bool {
        self.interest.check_origin || self.interest.select_subprotocol
    }
}

impl std::fmt::Debug for WsRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsRoute").field("interest", &self.interest).field("opts", &self.opts).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;
    use crate::ws::MessageKind;

    /// A host that only decides origins: the core asks it, and nothing else.
    struct OriginOnly;

    impl SocketEvents for OriginOnly {
        fn interest(&self) -> Interest {
            Interest { check_origin: true, ..Interest::default() }
        }
        fn initial_user_word(&self) -> usize {
            7
        }
        fn open(&self, _: u64, _: usize, _: Option<u64>) {}
        fn message(&self, _: u64, _: usize, _: MessageKind, _: &[u8]) {}
        fn ping(&self, _: u64, _: usize, _: &[u8]) {}
        fn pong(&self, _: u64, _: usize, _: &[u8]) {}
        fn drain(&self, _: u64, _: usize) {}
        fn close(&self, _: u64, _: usize, _: u16, _: &str) {}
        fn check_origin(&self, _: u64, origin: &str) -> bool {
            origin == "https://example.com"
        }
        fn select_subprotocol(&self, _: u64, _: &[String]) -> Option<usize> {
            None
        }
        fn connect_failed(&self, _: &Error) {}
    }

    #[test]
    fn a_route_reads_what_its_host_listens_to_once() {
        let route = WsRoute::new(Arc::new(OriginOnly), Options::default());
        assert!(route.asks_host());
        assert!(!route.interest.ping && !route.interest.pong && !route.interest.select_subprotocol);
        assert!(route.events.check_origin(1, "https://example.com"));
        assert_eq!(route.events.initial_user_word(), 7);
        assert!(format!("{route:?}").starts_with("WsRoute"));
    }
}
