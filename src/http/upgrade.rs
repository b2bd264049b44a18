//! Leaving HTTP: routes whose requests ask the connection to switch
//! protocols (RFC 9110 §7.8), as an interface the protocols above HTTP
//! implement (the WebSocket routes of `ws`). HTTP routes the request, holds
//! it until the decision is made and every response before it is written,
//! then hands the connection over in its reactor slot; it knows nothing of
//! what the connection becomes.

use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};


use super::h1::RequestHead;
use super::request::{ConnAddr, Request};
use super::router::{Lookup, Router};
use super::shared::ServerShared;
use crate::reactor::Reactor;

/// A route that takes connections over from HTTP.
pub(crate) trait UpgradeRoute: Send + Sync + std::fmt::Debug {
    /// Checks a request's head. Ok: the handshake to complete; Err: the
    /// refusal, answered like any response (the connection then closes:
    /// no HTTP request is read after an upgrade request either way).
    fn check(self: Arc<Self>, head: &RequestHead) -> Result<Box<dyn Handshake>, Refusal>;
}

/// A handshake that passed [`UpgradeRoute::check`], waiting for its
/// decision and for the responses before it to be written.
pub(crate) trait Handshake: Send {
    /// Whether [`Handshake::decide`] must run on the host thread (it asks
    /// the host's callbacks); otherwise it runs on the reactor at once.
    fn decides_on_host(&self) -> bool;

    /// Decides whether the switch happens, for the upgrade request `req`
    /// (a finished request: a view for the host, no response through it).
    /// Err(status): refused with that status. None: the host decides later
    /// (`conn::decide_parked`); the handshake is parked until then.
    fn decide(&mut self, req: &Arc<Request>) -> Option<Result<(), u16>>;

    /// The rest of a decision the host took later: `status` 0 goes on with
    /// the switch (what [`Handshake::decide`] had left to do), another one
    /// refuses with it.
    fn resume(&mut self, req: &Arc<Request>, status: u16) -> Result<(), u16>;

    /// Takes the connection over: whatever it becomes goes into the slot of
    /// `conn.addr` (the same token and generation), which is empty now.
    fn take_over(self: Box<Self>, r: &mut Reactor, conn: Upgraded);
}

/// Why a request on an upgrade route is answered with an HTTP error: the
/// status and extra headers to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) status: u16,
    /// For the log.
    pub(crate) reason: &'static str,
    pub(crate) headers: Vec<(String, Vec<u8>)>,
}

/// A connection handed over by HTTP.
#[derive(Debug)]
pub(crate) struct Upgraded {
    pub(crate) addr: ConnAddr,
    /// Plain or TLS: an upgraded connection keeps its TLS layer.
    pub(crate) stream: crate::net::tls::Stream,
    pub(crate) server: Arc<ServerShared>,
    /// The upgrade request (finished: a view for the host).
    pub(crate) req: Arc<Request>,
    /// Bytes read past the request's head.
    pub(crate) leftover: Vec<u8>,
    /// The peer shut its side down already (read on to the EOF).
    pub(crate) read_closed: bool,
}

/// A server's upgrade routes, matched before its HTTP routes (GET only).
/// Kept in the server's extension slot, so that the server's shared state
/// names no upgrade type.
#[derive(Debug, Default)]
pub(crate) struct UpgradeRoutes(RwLock<Router<Arc<dyn UpgradeRoute>>>);

/// Adds an upgrade route to `server`.
pub(crate) fn add_route(server: &ServerShared, pattern: &str, route: Arc<dyn UpgradeRoute>) -> crate::Result<()> {
    server.ext::<UpgradeRoutes>().0.write().unwrap_or_else(|p| p.into_inner()).add("GET", pattern, route)?;
    server.has_upgrade_routes.store(true, Ordering::Release);
    Ok(())
}

/// The upgrade route for `method` and `path`: Ok(Some) when one matches,
/// Err(allowed) when a route matches the path for GET only.
#[allow(clippy::type_complexity)]
pub(crate) fn lookup(
    server: &ServerShared,
    method: &str,
    path: &str,
) -> std::result::Result<Option<(Arc<dyn UpgradeRoute>, Vec<Option<(usize, usize)>>)>, Vec<String>> {
    if !server.has_upgrade_routes.load(Ordering::Acquire) {
        return Ok(None);
    }
    let routes = server.ext::<UpgradeRoutes>();
    let router = routes.0.read().unwrap_or_else(|p| p.into_inner());
    match router.lookup(method, path) {
        Lookup::Found(i, spans) => Ok(router.get(i).map(|r| (r.target.clone(), spans))),
        Lookup::MethodNotAllowed(allow) => Err(allow),
        Lookup::NotFound => Ok(None),
    }
}
