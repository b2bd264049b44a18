//! The HTTP server object a host holds: routes and static mounts added,
//! listeners bound and handed to the reactors, graceful shutdown, and
//! freeing, after which no handler of the server runs.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};
use std::time::Duration;

use super::shared::{Config, Listener, RouteTarget, ServerShared};
use super::upgrade::UpgradeRoute;
use crate::net::listener;
use crate::reactor::watcher::Stop;
use crate::reactor::{LoopHandle, Reactor, Task};
use crate::{Error, ErrorKind, Result};

/// The server object a host holds.
#[derive(Debug)]
pub struct Server {
    pub(crate) shared: Arc<ServerShared>,
}

impl Server {
    pub(crate) fn new(loop_handle: LoopHandle) -> Server {
        Server { shared: ServerShared::new(loop_handle) }
    }

    pub(crate) fn configure(&self, f: impl FnOnce(&mut Config)) {
        f(&mut self.shared.config.write().unwrap_or_else(|p| p.into_inner()));
    }

    /// The flow marks of connections accepted afterwards
    /// (`reactor::flow::Marks`): reading pauses while more than `high`
    /// (bytes plus 1 KiB per event) waits for the host or the peer, and
    /// resumes below `low`. `InvalidArg` unless
    /// `MIN_HIGH_WATER <= high` and `1 <= low <= high`.
    pub(crate) fn set_flow_limits(&self, high: usize, low: usize) -> Result<()> {
        use crate::reactor::flow::{MIN_HIGH_WATER, Marks};
        if high < MIN_HIGH_WATER {
            return Err(crate::Error::new(crate::ErrorKind::InvalidArg, format!("the high-water mark must be at least {MIN_HIGH_WATER}")));
        }
        if low == 0 || low > high {
            return Err(crate::Error::new(crate::ErrorKind::InvalidArg, "the low-water mark must be between 1 and the high-water mark"));
        }
        self.configure(|c| c.flow = Marks { high, low });
        Ok(())
    }

    /// The server's counters, summed now.
    pub(crate) fn metrics(&self) -> crate::metrics::Snapshot {
        self.shared.snapshot()
    }

    /// Serves the counters in Prometheus' text format at GET (and HEAD)
    /// `path`, answered on the reactor (no trip to the host thread, so a
    /// scrape is answered while the host is busy). `path` is a plain path,
    /// not a pattern.
    pub(crate) fn metrics_route(&self, path: &str) -> Result<()> {
        if !path.starts_with('/') {
            return Err(Error::new(ErrorKind::InvalidArg, "the metrics path must start with '/'"));
        }
        let handler = MetricsHandler { server: Arc::downgrade(&self.shared) };
        let target = RouteTarget { handler: Arc::new(handler), inline: true, stream_body: false, fallback: false };
        self.route("GET", &regex::escape(path), target)
    }

    pub(crate) fn route(&self, method: &str, pattern: &str, target: RouteTarget) -> Result<()> {
        let router = if target.fallback { &self.shared.fallback_router } else { &self.shared.router };
        router.write().unwrap_or_else(|p| p.into_inner()).add(method, pattern, target).map(|_| ())
    }

    /// Adds an upgrade route (a WebSocket route: GET only).
    pub(crate) fn upgrade_route(&self, pattern: &str, route: Arc<dyn UpgradeRoute>) -> Result<()> {
        super::upgrade::add_route(&self.shared, pattern, route)
    }

    /// Serves the files under `dir` at URLs starting with `prefix`.
    pub(crate) fn add_static(&self, prefix: &str, dir: &str) -> Result<()> {
        if !prefix.starts_with('/') || prefix.contains(['?', '#']) {
            return Err(Error::new(ErrorKind::InvalidArg, format!("static prefix {prefix:?} must start with '/'")));
        }
        let root = std::path::Path::new(dir)
            .canonicalize()
            .map_err(|e| Error::new(ErrorKind::InvalidArg, format!("static directory {dir:?}: {e}")))?;
        if !root.is_dir() {
            return Err(Error::new(ErrorKind::InvalidArg, format!("{dir:?} is not a directory")));
        }
        let prefix = if prefix.ends_with('/') { prefix.to_owned() } else { format!("{prefix}/") };
        self.shared
            .static_mounts
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(super::static_files::Mount { prefix, root });
        Ok(())
    }

    /// Binds `host:port` now (so the port is known) and starts accepting on
    /// every reactor once the loop runs. Returns the bound address.
    pub(crate) fn listen(&self, host: &str, port: u16) -> Result<SocketAddr> {
        if self.shared.dead.load(Ordering::Acquire) {
            return Err(Error::new(ErrorKind::Closed, "the server was freed"));
        }
        let addr = listener::resolve(host, port)?;
        let backlog = self.shared.config().backlog;
        let socket = listener::bind(addr, backlog)?;
        let bound = socket.local_addr().map_err(|e| Error::io("getsockname", e))?;
        let index = {
            let mut ls = self.shared.listeners.lock().unwrap_or_else(|p| p.into_inner());
            ls.push(Listener { addr: bound, socket: Some(socket), adopted: false });
            ls.len() - 1
        };
        let shared = self.shared.clone();
        self.shared.loop_handle.when_started(Box::new(move || start_listener(&shared, index)));
        tracing::info!(target: "squall::http", "listening on http://{bound}");
        Ok(bound)
    }

    /// Takes over a socket the host already bound and put in listening state
    /// (a Go `net.Listener`, a socket passed by a supervisor). Every reactor
    /// accepts from it (the others through duplicates). Returns its address.
    /// On an error the socket is handed back, still open (its descriptor is
    /// the caller's again).
    pub(crate) fn listen_socket(
        &self,
        socket: std::net::TcpListener,
    ) -> std::result::Result<SocketAddr, (Error, std::net::TcpListener)> {
        if self.shared.dead.load(Ordering::Acquire) {
            return Err((Error::new(ErrorKind::Closed, "the server was freed"), socket));
        }
        let bound = match socket.local_addr().and_then(|a| socket.set_nonblocking(true).map(|()| a)) {
            Ok(a) => a,
            Err(e) => return Err((Error::io("preparing the listening socket", e), socket)),
        };
        let index = {
            let mut ls = self.shared.listeners.lock().unwrap_or_else(|p| p.into_inner());
            ls.push(Listener { addr: bound, socket: Some(socket), adopted: true });
            ls.len() - 1
        };
        let shared = self.shared.clone();
        self.shared.loop_handle.when_started(Box::new(move || start_listener(&shared, index)));
        tracing::info!(target: "squall::http", "listening on http://{bound} (adopted socket)");
        Ok(bound)
    }
}

/// Hands a bound listener to every reactor: reactor 0 gets the socket bound at
/// listen time, the others siblings on the same address (SO_REUSEPORT).
fn start_listener(shared: &Arc<ServerShared>, index: usize) {
    let (addr, first, adopted) = {
        let mut ls = shared.listeners.lock().unwrap_or_else(|p| p.into_inner());
        let l = &mut ls[index];
        (l.addr, l.socket.take(), l.adopted)
    };
    let Some(first) = first else { return };
    let mut first = Some(first);
    let n = shared.loop_handle.reactor_count().max(1);
    let backlog = shared.config().backlog;
    for r in 0..n {
        let socket = if let Some(s) = first.take() {
            if adopted && r + 1 < n {
                match s.try_clone() {
                    Ok(dup) => first = Some(dup),
                    Err(e) => tracing::error!(target: "squall::http", "cannot share {addr} with reactor {}: {e}", r + 1),
                }
            }
            s
        } else if adopted {
            continue;
        } else {
            match listener::bind(addr, backlog) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(target: "squall::http", "reactor {r} cannot share {addr}: {e}");
                    continue;
                }
            }
        };
        let server = shared.clone();
        let _ = shared.loop_handle.send_to_reactor(
            r,
            Box::new(move |reactor: &mut Reactor| super::accept::add_listener(reactor, server, socket)),
        );
    }
}

impl Server {
    /// Graceful shutdown: stop accepting, close idle keep-alive connections,
    /// let requests in flight finish (their responses close the connection),
    /// force-close what is left after `deadline`, then run `done` on the host
    /// thread. Any thread.
    pub(crate) fn shutdown(&self, deadline: Duration, done: Option<Task>) -> Result<()> {
        let shared = &self.shared;
        if shared.dead.load(Ordering::Acquire) {
            return Err(Error::new(ErrorKind::Closed, "the server was freed"));
        }
        if shared.shutdown_requested.swap(true, Ordering::AcqRel) {
            return Err(Error::new(ErrorKind::AlreadyDone, "the server is already shutting down"));
        }
        // Everything completion depends on is in place before the flag is
        // published; the extra count (a guard) is removed once every reactor
        // has been asked, so no connection closing meanwhile can finish the
        // shutdown early or without its callback.
        *shared.shutdown_done.lock().unwrap_or_else(|p| p.into_inner()) = done;
        let n = shared.loop_handle.reactor_count();
        shared.shutdown_pending_reactors.store(n + 1, Ordering::Release);
        shared.shutting_down.store(true, Ordering::Release);
        tracing::info!(target: "squall::http", "shutting down (deadline {deadline:?})");
        // Listeners not yet handed to a reactor are simply dropped.
        for l in shared.listeners.lock().unwrap_or_else(|p| p.into_inner()).iter_mut() {
            l.socket = None;
        }
        for r in 0..n {
            let server = shared.clone();
            let sent = shared.loop_handle.send_to_reactor(
                r,
                Box::new(move |reactor: &mut Reactor| {
                    // Listeners close, idle connections close, requests in
                    // flight finish with `Connection: close`; WebSockets
                    // close with 1001.
                    reactor.stop_group(server.group, Stop::Graceful);
                    server.shutdown_pending_reactors.fetch_sub(1, Ordering::AcqRel);
                    server.maybe_shutdown_finished();
                }),
            );
            if sent.is_err() {
                shared.shutdown_pending_reactors.fetch_sub(1, Ordering::AcqRel);
            }
        }
        // At the deadline, whatever is still open is closed.
        let server = shared.clone();
        let force = move || {
            let n = server.loop_handle.reactor_count();
            for r in 0..n {
                let s2 = server.clone();
                let _ = server.loop_handle.send_to_reactor(
                    r,
                    Box::new(move |reactor: &mut Reactor| reactor.stop_group(s2.group, Stop::Now)),
                );
            }
        };
        let timer = shared.loop_handle.call_later(deadline, force);
        shared.shutdown_pending_reactors.fetch_sub(1, Ordering::AcqRel);
        shared.maybe_shutdown_finished();
        timer.map(|_| ())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let shared = &self.shared;
        shared.dead.store(true, Ordering::Release);
        // Close this server's listeners and connections on every reactor, and
        // wait until each reactor has done so: after free returns, no inline
        // handler of this server is running or will run. (With io_threads = 0
        // the reactor runs on this very thread, so nothing runs concurrently;
        // the sweep happens on its next turn.)
        let n = shared.loop_handle.reactor_count();
        let local = shared.loop_handle.local_reactor();
        let (tx, rx) = mpsc::channel::<()>();
        let mut sent = 0;
        for r in 0..n {
            let server = shared.clone();
            let tx = tx.clone();
            let ok = shared.loop_handle.send_to_reactor(
                r,
                Box::new(move |reactor: &mut Reactor| {
                    reactor.stop_group(server.group, Stop::Now);
                    let _ = tx.send(());
                }),
            );
            if ok.is_ok() {
                sent += 1;
            }
        }
        // Commands sent from a host callback wait for the end of its batch;
        // these must leave now, since we wait for their answers.
        crate::reactor::flush_host_batch();
        if !local {
            for _ in 0..sent {
                if rx.recv_timeout(Duration::from_secs(10)).is_err() {
                    tracing::warn!(target: "squall::http", "a reactor did not confirm closing a freed server");
                    break;
                }
            }
        }
        // Requests still in the table fail with Closed from now on.
        for req in super::request::REQUESTS.all() {
            if Arc::ptr_eq(&req.server, shared) {
                req.mark_closed();
            }
        }
    }
}

/// The metrics route's handler (weak: the server's router holds it).
struct MetricsHandler {
    server: std::sync::Weak<ServerShared>,
}

impl super::shared::Handler for MetricsHandler {
    fn call(&self, req: u64) -> std::result::Result<(), super::shared::HandlerFailed> {
        let (Some(server), Ok(req)) = (self.server.upgrade(), super::request::lookup_request(req)) else { return Ok(()) };
        let text = crate::metrics::prometheus(&server.snapshot());
        let _ = req.respond(200, &[("Content-Type", crate::metrics::CONTENT_TYPE.as_bytes())], text.as_bytes());
        Ok(())
    }
}
