//! A WebSocket route as an HTTP upgrade route: the opening handshake's
//! checks (`handshake`), the origin check and the subprotocol choice (the
//! host's, when the route has callbacks for them), and the switch, after
//! which the connection is a WebSocket in the same reactor slot.

use std::sync::Arc;

use tungstenite::protocol::Role;

use super::conn::{Opening, open};
use super::deflate::offer::negotiate;
use super::handshake::{self, Upgrade};
use super::route::WsRoute;
use crate::http::h1::RequestHead;
use crate::http::request::Request;
use crate::http::upgrade::{Handshake, Refusal, UpgradeRoute, Upgraded};
use crate::reactor::Reactor;

impl UpgradeRoute for WsRoute {
    fn check(self: Arc<Self>, head: &RequestHead) -> Result<Box<dyn Handshake>, Refusal> {
        let up = handshake::check(head)?;
        Ok(Box::new(WsHandshake { route: self, up, protocol: None }))
    }
}

/// A WebSocket handshake that passed the checks of RFC 6455 §4.2.1.
struct WsHandshake {
    route: Arc<WsRoute>,
    up: Upgrade,
    /// The subprotocol chosen by [`Handshake::decide`].
    protocol: Option<String>,
}

impl Handshake for WsHandshake {
    /// The host decides when the route has an origin check or a subprotocol
    /// choice of its own, unless the route is inline (then its callbacks run
    /// on the reactor, like every other callback of the route).
    fn decides_on_host(&self) -> bool {
        self.route.asks_host() && !self.route.opts.inline
    }

    /// The origin check and the subprotocol choice: by the route's callbacks
    /// when it has them, else same-origin and the route's own list. The
    /// host's origin check may answer "later" (None): the subprotocol is
    /// chosen once it has decided ([`Handshake::resume`]).
    fn decide(&mut self, req: &Arc<Request>) -> Option<Result<(), u16>> {
        let (route, up) = (&self.route, &self.up);
        let ok = if route.interest.check_origin {
            route.events.check_origin_or_later(req.handle(), up.origin.as_deref().unwrap_or(""))?
        } else {
            handshake::same_origin(up.origin.as_deref(), &up.host)
        };
        if !ok {
            tracing::debug!(target: "squall::ws", "handshake refused: origin {:?} (host {:?})", up.origin, up.host);
            return Some(Err(403));
        }
        self.choose_protocol(req);
        Some(Ok(()))
    }

    fn resume(&mut self, req: &Arc<Request>, status: u16) -> Result<(), u16> {
        if status != 0 {
            tracing::debug!(target: "squall::ws", "handshake refused by the host later: {status}");
            return Err(status);
        }
        self.choose_protocol(req);
        Ok(())
    }

    /// Writes the 101, tells the host (`on_open`), then handles the bytes
    /// that followed the handshake and whatever the socket holds.
    fn take_over(self: Box<Self>, r: &mut Reactor, conn: Upgraded) {
        let WsHandshake { route, up, protocol } = *self;
        let Upgraded { addr, stream, server, req, leftover, read_closed } = conn;
        // permessage-deflate: the first acceptable offer, when the route
        // compresses; a bad offer is declined, never a failed handshake.
        let deflate = route.opts.compression.as_ref().and_then(|p| negotiate(up.extensions.iter().map(String::as_str), p));
        let extension = deflate.map(|a| a.response_value());
        let mut hello = Vec::with_capacity(256);
        // the host's own headers for the 101 (sq_ws_handshake_header), kept
        // in the upgrade request's response headers, which nothing else uses
        let extra = std::mem::take(&mut req.lock().headers);
        crate::http::shared::with_date(|d| {
            handshake::accept(&mut hello, &up.key, protocol.as_deref(), extension.as_deref(), &extra, d)
        });
        let opening =
            Opening { stream, role: Role::Server, protocol, leftover, read_closed, hello, deflate, response_headers: Vec::new() };
        open(r, addr, server, route, opening, Some(req));
    }
}

impl WsHandshake {
    /// The subprotocol: by the route's callback when it has one, else the
    /// first offered one in the route's own list.
    fn choose_protocol(&mut self, req: &Arc<Request>) {
        let (route, up) = (&self.route, &self.up);
        self.protocol = if !route.interest.select_subprotocol {
            handshake::select_protocol(&up.protocols, &route.opts.protocols)
        } else if up.protocols.is_empty() {
            None
        } else {
            route.events.select_subprotocol(req.handle(), &up.protocols).and_then(|i| up.protocols.get(i).cloned())
        };
    }
}
