//! What an HTTP server shares (`Arc`) with its reactors and its requests:
//! configuration, routes, listeners, shutdown state, and the extension slot
//! where the protocols above HTTP keep their per-server state. The host's
//! object (`server::Server`) owns one.

use std::any::Any;
use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::router::{Lookup, Router};
use crate::net::listener;
use crate::reactor::flow::Marks;
use crate::reactor::watcher::Group;
use crate::reactor::{LoopHandle, Task};

/// A request handler: called with the request's handle (an id in
/// [`super::request::REQUESTS`]) once the request has arrived (its head, for a route
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
    /// Tried only when no other route matched the path (`SQ_FALLBACK`).
    pub(crate) fallback: bool,
}

/// How long a peer may read nothing of the output waiting for it before its
/// connection is closed (nginx's `send_timeout` is 60 s too).
pub(crate) const DEFAULT_SEND_TIMEOUT_MS: u64 = 60_000;

/// Limits and timeouts, each with a safe default (docs/ARCHITECTURE.md).
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// What the request decoder enforces (sizes and timeouts; defaults there).
    pub(crate) limits: super::h1::Limits,
    pub(crate) max_connections: usize,
    /// Requests of one connection that may be in flight at once (pipelining).
    pub(crate) max_pipeline: usize,
    pub(crate) backlog: i32,
    /// The flow marks of every connection accepted afterwards: input held
    /// for the host (WebSocket messages, streamed and pipelined request
    /// bodies) and output held for the peer (`reactor::flow`).
    pub(crate) flow: Marks,
    /// A connection with output waiting that writes nothing for this long
    /// (its peer reads nothing) is closed; 0: never.
    pub(crate) send_timeout_ms: u64,
    /// TLS for the connections accepted from now on (None: plain HTTP).
    pub(crate) tls: Option<Arc<rustls::ServerConfig>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            limits: super::h1::Limits::default(),
            max_connections: 100_000,
            max_pipeline: 32,
            backlog: listener::DEFAULT_BACKLOG,
            flow: Marks::default(),
            send_timeout_ms: DEFAULT_SEND_TIMEOUT_MS,
            tls: None,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Listener {
    pub(crate) addr: SocketAddr,
    /// The socket bound at listen time, until a reactor takes it.
    pub(crate) socket: Option<std::net::TcpListener>,
    /// A socket the host handed over (`Server::listen_socket`): the other
    /// reactors watch duplicates of it instead of binding siblings, since
    /// it may lack SO_REUSEPORT.
    pub(crate) adopted: bool,
}

/// Everything a server shares with its reactors and requests.
pub(crate) struct ServerShared {
    pub(crate) loop_handle: LoopHandle,
    /// What this server's listeners and connections belong to on the
    /// reactors (shutdown and removal are group operations).
    pub(crate) group: Group,
    pub(crate) router: RwLock<Router<RouteTarget>>,
    /// Routes tried only when no route of `router` matched the path
    /// (`SQ_FALLBACK`).
    pub(crate) fallback_router: RwLock<Router<RouteTarget>>,
    /// Whether upgrade routes exist (they live in the extension slot, see
    /// `upgrade::UpgradeRoutes`): one load per request when none does.
    pub(crate) has_upgrade_routes: AtomicBool,
    /// What the protocols above HTTP keep per server (WebSocket topics),
    /// one value per type.
    pub(crate) extensions: RwLock<Vec<Arc<dyn Any + Send + Sync>>>,
    pub(crate) static_mounts: RwLock<Vec<super::static_files::Mount>>,
    pub(crate) config: RwLock<Config>,
    pub(crate) listeners: Mutex<Vec<Listener>>,
    pub(crate) shutting_down: AtomicBool,
    /// Set by free: no handler of this server runs any more.
    pub(crate) dead: AtomicBool,
    pub(crate) connections: AtomicUsize,
    /// What the server counts (`crate::metrics`).
    pub(crate) metrics: crate::metrics::Metrics,
    /// Lanes (`reactor::lane`) of this server's sockets with events waiting
    /// for the host: its shutdown callback waits for them.
    pub(crate) lanes_busy: Arc<AtomicUsize>,
    /// Graceful shutdown: reactors that have not yet closed their listeners
    /// and idle connections, and what to call when everything is closed.
    pub(crate) shutdown_pending_reactors: AtomicUsize,
    pub(crate) shutdown_done: Mutex<Option<Task>>,
    pub(crate) shutdown_finished: AtomicBool,
    pub(crate) shutdown_requested: AtomicBool,
}

impl ServerShared {
    /// The server's counters summed now, with its loop's host queue figures.
    pub(crate) fn snapshot(&self) -> crate::metrics::Snapshot {
        let mut s = self.metrics.snapshot();
        s.host = self.loop_handle.host_stats();
        s.client = self.loop_handle.client_stats().snapshot();
        s.cluster = self.ext::<crate::metrics::ClusterSlot>().snapshot();
        s
    }
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
            fallback_router: RwLock::new(Router::default()),
            has_upgrade_routes: AtomicBool::new(false),
            extensions: RwLock::new(Vec::new()),
            static_mounts: RwLock::new(Vec::new()),
            config: RwLock::new(Config::default()),
            listeners: Mutex::new(Vec::new()),
            shutting_down: AtomicBool::new(false),
            dead: AtomicBool::new(false),
            connections: AtomicUsize::new(0),
            metrics: crate::metrics::Metrics::default(),
            lanes_busy: Arc::new(AtomicUsize::new(0)),
            shutdown_pending_reactors: AtomicUsize::new(0),
            shutdown_done: Mutex::new(None),
            shutdown_finished: AtomicBool::new(false),
            shutdown_requested: AtomicBool::new(false),
        })
    }

    /// The flow marks connections accepted now get.
    pub(crate) fn flow(&self) -> Marks {
        self.config.read().unwrap_or_else(|p| p.into_inner()).flow
    }

    /// The send timeout connections accepted now get (0: none).
    pub(crate) fn send_timeout_ms(&self) -> u64 {
        self.config.read().unwrap_or_else(|p| p.into_inner()).send_timeout_ms
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
            // After the callbacks every reactor has queued for the host (the
            // last on_close calls among them), and after every socket's lane
            // has run out (its on_close may wait behind its messages there).
            let cb = after_lanes(self.loop_handle.clone(), self.lanes_busy.clone(), cb);
            after_every_reactor(&self.loop_handle, cb);
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
        let found = Self::lookup_in(&self.router, method, path);
        if matches!(found.0, Lookup::NotFound) {
            return Self::lookup_in(&self.fallback_router, method, path);
        }
        found
    }

    fn lookup_in(router: &RwLock<Router<RouteTarget>>, method: &str, path: &str) -> (Lookup, Option<RouteTarget>) {
        let router = router.read().unwrap_or_else(|p| p.into_inner());
        let l = router.lookup(method, path);
        let t = match &l {
            Lookup::Found(i, _) => router.get(*i).map(|r| r.target.clone()),
            _ => None,
        };
        (l, t)
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

/// Queues `task` for the host thread once every reactor has handed over the
/// host tasks it queued before now. Each reactor gets a command that queues
/// a marker behind its pending host tasks; the last marker to run on the
/// host queues `task`. A reactor hands its tasks over at the end of its own
/// turn, so following only the reactor that closed the last connection
/// (`host_task_after_turn`) would let another reactor's last `on_close`
/// reach the host after a shutdown's completion.
/// `task`, run once no lane counted by `busy` has tasks waiting: until
/// then it queues itself again behind them.
fn after_lanes(lp: LoopHandle, busy: Arc<AtomicUsize>, task: Task) -> Task {
    Task::Boxed(Box::new(move || {
        if busy.load(Ordering::Acquire) == 0 {
            crate::reactor::run_task(task);
            return;
        }
        let again = after_lanes(lp.clone(), busy, task);
        if let Err(e) = lp.add_tasks(&mut vec![again]) {
            tracing::debug!(target: "squall::http", "shutdown callback dropped: {e}");
        }
    }))
}

fn after_every_reactor(lp: &LoopHandle, task: Task) {
    struct Barrier {
        left: AtomicUsize,
        task: Mutex<Option<Task>>,
        lp: LoopHandle,
    }
    impl Barrier {
        fn arrive(&self) {
            if self.left.fetch_sub(1, Ordering::AcqRel) == 1
                && let Some(task) = self.task.lock().unwrap_or_else(|p| p.into_inner()).take()
            {
                host_task_after_turn(&self.lp, task);
            }
        }
    }
    let n = lp.reactor_count();
    let barrier = Arc::new(Barrier { left: AtomicUsize::new(n.max(1)), task: Mutex::new(Some(task)), lp: lp.clone() });
    if n == 0 {
        barrier.arrive();
        return;
    }
    for i in 0..n {
        let b = barrier.clone();
        let sent = lp.send_to_reactor(i, Box::new(move |r: &mut crate::reactor::Reactor| r.deliver(false, move || b.arrive())));
        if sent.is_err() {
            // The loop is going away: nothing more will come from that reactor.
            barrier.arrive();
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

