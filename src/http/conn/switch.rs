//! The HTTP side of an upgrade (RFC 9110 §7.8): the request on an upgrade
//! route is checked, held until it is decided and its turn has come, then
//! the connection is handed to what the route makes of it (see
//! `http::upgrade`).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, LazyLock, Mutex};

use super::{Conn, Inflight, Lifecycle, PendingUpgrade, Peer};
use crate::http::h1::RequestHead;
use crate::http::request::{ConnAddr, REQUESTS, Request};
use crate::http::response;
use crate::http::shared::ServerShared;
use crate::http::upgrade::{Handshake, UpgradeRoute, Upgraded};
use crate::reactor::Reactor;
use crate::reactor::watcher::Step;

/// Hands a decision taken away from the reactor (on the host thread, now or
/// later) to the connection at `addr`, which switches or refuses once its
/// turn has come. Nothing happens if the connection is gone.
fn hand_decision(server: &ServerShared, addr: ConnAddr, handshake: Box<dyn Handshake>, decision: Result<(), u16>) {
    let Some(link) = server.loop_handle.reactor_link(addr.reactor) else { return };
    link.send(Box::new(move |r: &mut Reactor| {
        r.with_watcher_as::<Conn, _>(addr.token, Some(addr.generation), |_r, c| {
            if let Some(u) = c.upgrade.as_mut() {
                u.handshake = Some(handshake);
                u.decision = Some(decision);
            }
            Step::Keep
        });
    }));
}

impl Conn {
    /// A request on an upgrade route: refused at once (the route's check
    /// failed), or held until decided and until the responses before it are
    /// written. No HTTP request is read after it either way.
    pub(super) fn on_upgrade_request(
        &mut self,
        r: &mut Reactor,
        head: RequestHead,
        body: Vec<u8>,
        route: Arc<dyn UpgradeRoute>,
        captures: Vec<Option<String>>,
    ) {
        self.stop_taking_requests();
        let mut handshake = match route.check(&head) {
            Ok(h) => h,
            Err(refusal) => {
                tracing::debug!(target: "squall::http", "{}: upgrade refused: {} {}", self.remote, refusal.status, refusal.reason);
                self.refuse_upgrade(r, refusal.status, refusal.headers);
                return;
            }
        };
        let data = self.request_data(head, body, captures, false);
        let req = Request::new(self.server.clone(), self.addr(r), self.next_seq, data, false, self.flow);
        req.lock().finished = true; // a view for the host: no response through it
        let handle = REQUESTS.insert(req.clone(), r.index);
        req.set_handle(handle);
        if handshake.decides_on_host() {
            let (server, addr, req2) = (self.server.clone(), self.addr(r), req.clone());
            r.deliver(false, move || {
                if server.dead.load(Ordering::Acquire) {
                    req2.release(); // no callback once the server is freed
                    return;
                }
                match handshake.decide(&req2) {
                    Some(decision) => hand_decision(&server, addr, handshake, decision),
                    // the host decides later (sq_ws_handshake_decide)
                    None => park(Parked { handshake, server, addr, req: req2 }),
                }
            });
            self.upgrade = Some(Box::new(PendingUpgrade { handshake: None, req, decision: None }));
        } else {
            match handshake.decide(&req) {
                Some(decision) => {
                    self.upgrade = Some(Box::new(PendingUpgrade { handshake: Some(handshake), req, decision: Some(decision) }));
                }
                None => {
                    let (server, addr) = (self.server.clone(), self.addr(r));
                    park(Parked { handshake, server, addr, req: req.clone() });
                    self.upgrade = Some(Box::new(PendingUpgrade { handshake: None, req, decision: None }));
                }
            }
        }
    }

    pub(super) fn refuse_upgrade(&mut self, r: &mut Reactor, status: u16, headers: Vec<(String, Vec<u8>)>) {
        self.next_seq += 1;
        let mut out = Vec::with_capacity(256);
        response::simple(&mut out, status, &headers, true, false, &self.server.date());
        self.inflight.push_back(Inflight::made(out, None, true));
        self.pump(r);
    }

    /// Whether the handshake is decided and its turn has come; a refusal is
    /// answered here.
    pub(super) fn upgrade_ready(&mut self) -> bool {
        if self.upgrade.is_some() && (self.closing() || self.peer == Peer::Gone) {
            // An earlier response closes the connection (or the client left):
            // no 101 after it.
            if let Some(u) = self.upgrade.take() {
                u.req.release();
            }
            return false;
        }
        let Some(u) = self.upgrade.as_ref() else { return false };
        if u.decision.is_none() || !self.inflight.is_empty() || self.pending_write() || self.peer == Peer::Gone {
            return false;
        }
        true
    }

    /// The switch itself: the connection becomes what the upgrade route
    /// makes of it, in the same slot (same token and generation):
    /// `Step::Replaced`; or it gets its refusal and stays an HTTP
    /// connection: `Step::Keep`.
    pub(super) fn switch_protocols(&mut self, r: &mut Reactor) -> Step {
        let u = *self.upgrade.take().expect("upgrade_ready checked it");
        let refused = match u.decision {
            Some(Ok(())) if self.server.is_shutting_down() => Some(503),
            Some(Ok(())) => None,
            Some(Err(status)) => Some(status),
            None => unreachable!("upgrade_ready checked it"),
        };
        let handshake = match (refused, u.handshake) {
            (None, Some(h)) => h,
            (status, _) => {
                u.req.release();
                self.refuse_upgrade(r, status.unwrap_or(500), Vec::new());
                return Step::Keep;
            }
        };
        let addr = self.addr(r);
        let leftover = std::mem::take(&mut self.rbuf);
        self.life = Lifecycle::Upgraded;
        // SAFETY: the connection is `Upgraded`, so Drop will not drop the
        // stream again; it is moved out exactly once.
        let stream = unsafe { std::mem::ManuallyDrop::take(&mut self.stream) };
        let conn = Upgraded { addr, stream, server: self.server.clone(), req: u.req, leftover, read_closed: self.peer != Peer::Open };
        handshake.take_over(r, conn);
        Step::Replaced
    }
}

/// A handshake whose host decides later, with what it takes to hand the
/// decision to the connection's reactor.
struct Parked {
    handshake: Box<dyn Handshake>,
    server: Arc<ServerShared>,
    addr: ConnAddr,
    req: Arc<Request>,
}

/// Parked handshakes, by the upgrade request's handle.
static PARKED: LazyLock<Mutex<HashMap<u64, Parked>>> = LazyLock::new(Default::default);

/// Parks a handshake until [`decide_parked`] for `req`.
fn park(p: Parked) {
    let key = p.req.handle();
    PARKED.lock().unwrap_or_else(|e| e.into_inner()).insert(key, p);
}

/// The host's later decision for the parked handshake of request `req`:
/// `status` 0 goes on (the rest of the decision runs now, on the calling
/// thread), 400..=599 refuses with it. NotFound: no handshake of that
/// request waits for a decision.
pub(crate) fn decide_parked(req: u64, status: u16) -> crate::Result<()> {
    if status != 0 && !(400..=599).contains(&status) {
        return Err(crate::Error::new(crate::ErrorKind::InvalidArg, format!("{status}: 0 or a status of 400..=599")));
    }
    let parked = PARKED.lock().unwrap_or_else(|e| e.into_inner()).remove(&req);
    let Some(Parked { mut handshake, server, addr, req }) = parked else {
        return Err(crate::Error::new(crate::ErrorKind::NotFound, "no WebSocket handshake of this request waits for a decision"));
    };
    if server.dead.load(Ordering::Acquire) {
        req.release();
        return Ok(());
    }
    // The connection released the request when its client left: the host
    // hears so (and drops what it kept for the socket that never opens).
    if crate::http::request::lookup_request(req.handle()).is_err() {
        return Err(crate::Error::new(crate::ErrorKind::Closed, "the client left before the WebSocket handshake was decided"));
    }
    let decision = handshake.resume(&req, status);
    hand_decision(&server, addr, handshake, decision);
    Ok(())
}
