//! Accepting: a server's listening socket on one reactor, a watcher of its
//! own. What it accepts becomes a connection (`conn`).

use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::net::TcpListener;
use mio::{Interest, Token};

use super::shared::ServerShared;
use crate::reactor::Reactor;
use crate::reactor::watcher::{Group, Step, Stop, Tick, Watcher};

/// How long accepting pauses after EMFILE/ENFILE.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// A listening socket of a server on one reactor.
pub(crate) struct Listener {
    socket: TcpListener,
    server: Arc<ServerShared>,
    paused_until: Option<Instant>,
}

/// Registers a listening socket bound by the host.
pub(crate) fn add_listener(r: &mut Reactor, server: Arc<ServerShared>, socket: std::net::TcpListener) {
    if server.dead.load(Ordering::Acquire) {
        return;
    }
    let listener = Listener { socket: TcpListener::from_std(socket), server, paused_until: None };
    r.insert(Box::new(listener), |r, w, token, _| {
        let Some(l) = w.as_any().downcast_mut::<Listener>() else { return Step::Close };
        match r.registry().register(&mut l.socket, Token(token), Interest::READABLE) {
            Ok(()) => Step::Keep,
            Err(e) => {
                tracing::error!(target: "squall::http", "cannot watch a listener: {e}");
                Step::Close
            }
        }
    });
}

impl Watcher for Listener {
    fn ready(&mut self, r: &mut Reactor, _token: usize, _ev: &Event) -> Step {
        accept_all(r, self);
        Step::Keep
    }

    fn wants_tick(&self, r: &Reactor, why: Tick) -> bool {
        why == Tick::Sweep && self.paused_until.is_some_and(|t| r.now >= t)
    }

    /// Accepting resumes after a pause for lack of descriptors.
    fn tick(&mut self, r: &mut Reactor, _token: usize) -> Step {
        if self.paused_until.is_some_and(|t| r.now >= t) {
            self.paused_until = None;
            accept_all(r, self);
        }
        Step::Keep
    }

    fn stop(&mut self, r: &mut Reactor, _token: usize, _how: Stop) -> Step {
        let _ = r.registry().deregister(&mut self.socket);
        Step::Close
    }

    fn group(&self) -> Group {
        self.server.group
    }

    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

fn accept_all(r: &mut Reactor, l: &mut Listener) {
    if l.paused_until.is_some() || l.server.dead.load(Ordering::Acquire) {
        return;
    }
    loop {
        match l.socket.accept() {
            // A panic while taking one connection on drops that connection
            // only: the listener accepts on.
            Ok((stream, remote)) => r.guard("accepting a connection", |r| {
                crate::fault::hit(crate::fault::Point::Accept);
                let config = l.server.config();
                if l.server.connections.load(Ordering::Relaxed) >= config.max_connections {
                    tracing::warn!(target: "squall::http", "max_connections ({}) reached: refusing {remote}", config.max_connections);
                    let w = crate::metrics::Writer::Reactor(r.index);
                    l.server.metrics.inc(w, crate::metrics::Counter::ConnAccepted);
                    l.server.metrics.inc(w, crate::metrics::Counter::ConnClosedLimit);
                    drop(stream);
                    return;
                }
                let _ = stream.set_nodelay(true);
                super::conn::add_conn(r, l.server.clone(), config, stream, remote);
            }),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::ENOBUFS) | Some(libc::ENOMEM)) => {
                // Out of descriptors: leave the connection in the backlog and
                // try again after a pause (the sweep resumes accepting).
                tracing::warn!(target: "squall::http", "accept: {e}; pausing accepts for {ACCEPT_BACKOFF:?}");
                l.paused_until = Some(r.now + ACCEPT_BACKOFF);
                return;
            }
            Err(e) => {
                // ECONNABORTED and the like concern one connection only.
                tracing::debug!(target: "squall::http", "accept: {e}");
            }
        }
    }
}
