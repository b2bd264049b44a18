//! The HTTP server object: configuration, routes, listeners, and the table of
//! requests in flight. Shared (`Arc`) between the host, the reactors and the
//! requests.

use std::any::Any;
use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, mpsc};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::router::{Lookup, Router};
use super::upgrade::UpgradeRoute;
use crate::net::listener;
use crate::reactor::watcher::{Group, Stop};
use crate::reactor::{LoopHandle, Reactor, Task};
use crate::{Error, ErrorKind, Result};

/// A request handler: called with the request's handle (an id in
/// [`super::REQUESTS`]) once the request has arrived (its head, for a route
/// that streams the body), on the host thread or, for inline routes, on the
/// reactor thread that owns the connection. `Ok` means the request was
/// answered or will be, from any thread; a failure gets the client a 500
/// (or a cut connection if the response had started).
pub(crate) trait Handler: Send + Sync {
    fn call(&self, req: u64) -> std::result::Result<(), HandlerFailed>;
}

impl std::fmt::Debug for dyn Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Handler")
    }
}

/// A handler's failure. `code` is the handler's own number for it, kept for
/// the log only: whatever it is, the client gets the same 500.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HandlerFailed {
    pub(crate) code: i32,
}

/// What a route leads to.
#[derive(Debug, Clone)]
pub(crate) struct RouteTarget {
    pub(crate) handler: Arc<dyn Handler>,
    /// Run on the reactor thread instead of the host thread.
    pub(crate) inline: bool,
    /// Call the handler when the head arrives and stream the body to the
    /// sink it sets (`Request::set_on_body`).
    pub(crate) stream_body: bool,
}

/// Limits and timeouts, each with a safe default (docs/ARCHITECTURE.md).
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// What the request decoder enforces (sizes and timeouts; defaults there).
    pub(crate) limits: super::h1::Limits,
    pub(crate) max_connections: usize,
    /// Requests of one connection that may be in flight at once (pipelining).
    pub(crate) max_pipeline: usize,
    pub(crate) backlog: i32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            limits: super::h1::Limits::default(),
            max_connections: 100_000,
            max_pipeline: 32,
            backlog: listener::DEFAULT_BACKLOG,
        }
    }
}

#[derive(Debug)]
struct Listener {
    addr: SocketAddr,
    /// The socket bound at listen time, until a reactor takes it.
    socket: Option<std::net::TcpListener>,
    /// A socket the host handed over (`Server::listen_socket`): the other
    /// reactors watch duplicates of it instead of binding siblings, since
    /// it may lack SO_REUSEPORT.
    adopted: bool,
}

/// Everything a server shares with its reactors and requests.
pub(crate) struct ServerShared {
    pub(crate) loop_handle: LoopHandle,
    /// What this server's listeners and connections belong to on the
    /// reactors (shutdown and removal are group operations).
    pub(crate) group: Group,
    pub(crate) router: RwLock<Router<RouteTarget>>,
    /// Upgrade routes (WebSocket routes), matched before `router`.
    upgrade_router: RwLock<Router<Arc<dyn UpgradeRoute>>>,
    has_upgrade_routes: AtomicBool,
    /// What the protocols above HTTP keep per server (WebSocket topics),
    /// one value per type.
    extensions: RwLock<Vec<Arc<dyn Any + Send + Sync>>>,
    static_mounts: RwLock<Vec<super::static_files::Mount>>,
    config: RwLock<Config>,
    listeners: Mutex<Vec<Listener>>,
    shutting_down: AtomicBool,
    /// Set by free: no handler of this server runs any more.
    pub(crate) dead: AtomicBool,
    pub(crate) connections: AtomicUsize,
    /// Graceful shutdown: reactors that have not yet closed their listeners
    /// and idle connections, and what to call when everything is closed.
    shutdown_pending_reactors: AtomicUsize,
    shutdown_done: Mutex<Option<Task>>,
    shutdown_finished: AtomicBool,
    shutdown_requested: AtomicBool,
}

impl std::fmt::Debug for ServerShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerShared").finish_non_exhaustive()
    }
}

thread_local! {
    static DATE: RefCell<(u64, Vec<u8>)> = const { RefCell::new((0, Vec::new())) };
}

impl ServerShared {
    /// A server's shared state: no routes, no listeners yet. (The WebSocket
    /// client's sockets hang off one of these too, made per loop.)
    pub(crate) fn new(loop_handle: LoopHandle) -> Arc<ServerShared> {
        Arc::new(ServerShared {
            loop_handle,
            group: Group::new(),
            router: RwLock::new(Router::default()),
            upgrade_router: RwLock::new(Router::default()),
            has_upgrade_routes: AtomicBool::new(false),
            extensions: RwLock::new(Vec::new()),
            static_mounts: RwLock::new(Vec::new()),
            config: RwLock::new(Config::default()),
            listeners: Mutex::new(Vec::new()),
            shutting_down: AtomicBool::new(false),
            dead: AtomicBool::new(false),
            connections: AtomicUsize::new(0),
            shutdown_pending_reactors: AtomicUsize::new(0),
            shutdown_done: Mutex::new(None),
            shutdown_finished: AtomicBool::new(false),
            shutdown_requested: AtomicBool::new(false),
        })
    }

    pub(crate) fn config(&self) -> Config {
        self.config.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// The current `Date` value (IMF-fixdate), as an owned copy.
    pub(crate) fn date(&self) -> Vec<u8> {
        with_date(|d| d.to_vec())
    }

    /// This server's value of type `T` (made with `T::default()` on first
    /// use): where a protocol above HTTP keeps its per-server state (the
    /// WebSocket topics), so that HTTP needs to know none of them.
    pub(crate) fn ext<T: Default + Send + Sync + 'static>(&self) -> Arc<T> {
        let found = |v: &[Arc<dyn Any + Send + Sync>]| v.iter().find_map(|e| e.clone().downcast::<T>().ok());
        if let Some(t) = found(&self.extensions.read().unwrap_or_else(|p| p.into_inner())) {
            return t;
        }
        let mut v = self.extensions.write().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = found(&v) {
            return t;
        }
        let t = Arc::new(T::default());
        v.push(t.clone());
        t
    }

    /// Called when a reactor finished its part of a shutdown and whenever a
    /// connection of a shutting-down server closes: once nothing is left,
    /// the host's callback runs (once) on the host thread.
    pub(crate) fn maybe_shutdown_finished(&self) {
        if !self.is_shutting_down()
            || self.shutdown_pending_reactors.load(Ordering::Acquire) != 0
            || self.connections.load(Ordering::Acquire) != 0
            || self.shutdown_finished.swap(true, Ordering::AcqRel)
        {
            return;
        }
        tracing::info!(target: "squall::http", "server shut down");
        let cb = self.shutdown_done.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(cb) = cb {
            // After the callbacks this reactor turn queued (the last
            // on_close calls among them).
            host_task_after_turn(&self.loop_handle, cb);
        }
    }

    /// The static mount whose prefix starts `path`, with the rest of the path.
    pub(crate) fn static_lookup(&self, path: &str) -> Option<(usize, String)> {
        let mounts = self.static_mounts.read().unwrap_or_else(|p| p.into_inner());
        if mounts.is_empty() {
            return None;
        }
        mounts.iter().enumerate().find_map(|(i, m)| {
            path.strip_prefix(m.prefix.as_str()).map(|rest| (i, rest.to_owned())).or_else(|| {
                // the prefix without its trailing slash serves the directory
                (path.len() + 1 == m.prefix.len() && m.prefix.starts_with(path)).then(|| (i, String::new()))
            })
        })
    }

    pub(crate) fn static_root(&self, index: usize) -> Option<std::path::PathBuf> {
        self.static_mounts.read().unwrap_or_else(|p| p.into_inner()).get(index).map(|m| m.root.clone())
    }

    pub(crate) fn lookup(&self, method: &str, path: &str) -> (Lookup, Option<RouteTarget>) {
        let router = self.router.read().unwrap_or_else(|p| p.into_inner());
        let l = router.lookup(method, path);
        let t = match &l {
            Lookup::Found(i, _) => router.get(*i).map(|r| r.target.clone()),
            _ => None,
        };
        (l, t)
    }
}

impl ServerShared {
    /// The upgrade route for `method` and `path`: Ok(Some) when one
    /// matches, Err(allowed) when a route matches the path for GET only.
    #[allow(clippy::type_complexity)]
    pub(crate) fn upgrade_lookup(
        &self,
        method: &str,
        path: &str,
    ) -> std::result::Result<Option<(Arc<dyn UpgradeRoute>, Vec<Option<(usize, usize)>>)>, Vec<String>> {
        if !self.has_upgrade_routes.load(Ordering::Acquire) {
            return Ok(None);
        }
        let router = self.upgrade_router.read().unwrap_or_else(|p| p.into_inner());
        match router.lookup(method, path) {
            Lookup::Found(i, spans) => Ok(router.get(i).map(|r| (r.target.clone(), spans))),
            Lookup::MethodNotAllowed(allow) => Err(allow),
            Lookup::NotFound => Ok(None),
        }
    }
}

/// Queues `task` for the host thread: after the tasks the current reactor
/// turn has queued when called from one, else at once.
pub(crate) fn host_task_after_turn(lp: &LoopHandle, task: Task) {
    match crate::reactor::host_task_after_turn(task) {
        Ok(()) => {}
        Err(Task::Raw(cb)) => {
            let _ = lp.add_raw_callback(cb);
        }
        Err(Task::Boxed(f)) => {
            let _ = lp.add_callback(f);
        }
    }
}

/// Runs `f` with the current `Date` value (IMF-fixdate), formatted once per
/// second per thread, without copying it.
pub(crate) fn with_date<R>(f: impl FnOnce(&[u8]) -> R) -> R {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    DATE.with(|d| {
        let mut d = d.borrow_mut();
        if d.0 != secs || d.1.is_empty() {
            *d = (secs, httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs)).into_bytes());
        }
        f(&d.1)
    })
}

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

    pub(crate) fn route(&self, method: &str, pattern: &str, target: RouteTarget) -> Result<()> {
        self.shared.router.write().unwrap_or_else(|p| p.into_inner()).add(method, pattern, target).map(|_| ())
    }

    /// Adds an upgrade route (a WebSocket route: GET only).
    pub(crate) fn upgrade_route(&self, pattern: &str, route: Arc<dyn UpgradeRoute>) -> Result<()> {
        self.shared.upgrade_router.write().unwrap_or_else(|p| p.into_inner()).add("GET", pattern, route)?;
        self.shared.has_upgrade_routes.store(true, Ordering::Release);
        Ok(())
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
        for req in super::REQUESTS.all() {
            if Arc::ptr_eq(&req.server, shared) {
                req.mark_closed();
            }
        }
    }
}
