//! Listening sockets for raw TCP: bound when the host asks (so the port is
//! known at once), handed to every reactor when the loop starts (the first
//! socket to reactor 0, SO_REUSEPORT siblings to the others, as the HTTP
//! server does); a stream stays on the reactor that accepted it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::{Interest, Token};

use super::config::Config;
use crate::reactor::watcher::{Step, Stop, Watcher};
use crate::net::listener as net;
use crate::reactor::{LoopHandle, Reactor};
use crate::{Error, Result};

/// How long accepting pauses after EMFILE/ENFILE (the connection waits in
/// the backlog meanwhile).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// What the host's listener and its reactor sources share.
#[derive(Debug)]
pub(crate) struct ListenerShared {
    loop_handle: LoopHandle,
    config: Arc<Config>,
    pub(crate) addr: SocketAddr,
    /// Set when the host frees the listener.
    dead: Arc<AtomicBool>,
    /// The socket bound at listen time, until the loop starts.
    first: Mutex<Option<std::net::TcpListener>>,
    /// (reactor, token, generation) of each registered socket.
    registered: Mutex<Vec<(usize, usize, u64)>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The host's listener. Dropping it stops accepting on every reactor;
/// streams already accepted live on.
#[derive(Debug)]
pub(crate) struct Listener {
    pub(crate) shared: Arc<ListenerShared>,
}

impl Listener {
    /// Binds `host:port` now and starts accepting once the loop runs.
    pub(crate) fn bind(loop_handle: &LoopHandle, host: &str, port: u16, mut config: Config) -> Result<Listener> {
        let addr = net::resolve(host, port)?;
        let socket = net::bind(addr, config.opts.backlog)?;
        let bound = socket.local_addr().map_err(|e| Error::io("getsockname", e))?;
        let dead = Arc::new(AtomicBool::new(false));
        config.listener_dead = Some(dead.clone());
        let shared = Arc::new(ListenerShared {
            loop_handle: loop_handle.clone(),
            config: Arc::new(config),
            addr: bound,
            dead,
            first: Mutex::new(Some(socket)),
            registered: Mutex::new(Vec::new()),
        });
        // Weak: a listener freed before the loop starts leaves nothing behind.
        let weak = Arc::downgrade(&shared);
        loop_handle.when_started(Box::new(move || {
            if let Some(s) = weak.upgrade() {
                start(&s);
            }
        }));
        tracing::info!(target: "squall::tcp", "listening on {bound}");
        Ok(Listener { shared })
    }
}

/// Hands the bound socket to reactor 0 and siblings to the others.
fn start(shared: &Arc<ListenerShared>) {
    let Some(first) = lock(&shared.first).take() else { return };
    if shared.dead.load(Ordering::Acquire) {
        return;
    }
    let mut first = Some(first);
    let n = shared.loop_handle.reactor_count().max(1);
    for index in 0..n {
        let socket = match first.take() {
            Some(s) => s,
            None => match net::bind(shared.addr, shared.config.opts.backlog) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(target: "squall::tcp", "reactor {index} cannot share {}: {e}", shared.addr);
                    continue;
                }
            },
        };
        let s = shared.clone();
        let _ = shared.loop_handle.send_to_reactor(index, Box::new(move |r: &mut Reactor| add(r, s, socket)));
    }
}

/// On a reactor: watch one listening socket.
fn add(r: &mut Reactor, shared: Arc<ListenerShared>, socket: std::net::TcpListener) {
    if shared.dead.load(Ordering::Acquire) {
        return;
    }
    let source = Acceptor { socket: mio::net::TcpListener::from_std(socket), shared: shared.clone(), paused_until: None };
    let inserted = r.insert(Box::new(source), |r, d, token, _| {
        let Some(l) = d.as_any().downcast_mut::<Acceptor>() else { return false };
        match r.registry().register(&mut l.socket, Token(token), Interest::READABLE) {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(target: "squall::tcp", "cannot watch a listener: {e}");
                false
            }
        }
    });
    if let Some((token, generation)) = inserted {
        lock(&shared.registered).push((r.index, token, generation));
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let shared = &self.shared;
        shared.dead.store(true, Ordering::Release);
        lock(&shared.first).take();
        // Commands from this thread reach each reactor after the ones that
        // added its sockets (FIFO per sender), so `registered` is complete
        // by the time they run. Waited for (except on the reactor this
        // thread is running), so that no accept of this listener is in
        // progress once free returns.
        let n = shared.loop_handle.reactor_count();
        let local = shared.loop_handle.local_reactor();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let mut sent = 0;
        for index in 0..n {
            let s = shared.clone();
            let tx = tx.clone();
            let current = shared.loop_handle.reactor_link(index).is_some_and(|l| l.is_current());
            let cmd = Box::new(move |r: &mut Reactor| {
                let mine: Vec<(usize, u64)> =
                    lock(&s.registered).iter().filter(|e| e.0 == r.index).map(|e| (e.1, e.2)).collect();
                for (token, generation) in mine {
                    r.with_watcher_as::<Acceptor, _>(token, Some(generation), |r, l| {
                        let _ = r.registry().deregister(&mut l.socket);
                        false
                    });
                }
                let _ = tx.send(());
            });
            if shared.loop_handle.send_to_reactor(index, cmd).is_ok() && !current {
                sent += 1;
            }
        }
        crate::reactor::flush_host_batch();
        if !local {
            for _ in 0..sent {
                if rx.recv_timeout(Duration::from_secs(10)).is_err() {
                    tracing::warn!(target: "squall::tcp", "a reactor did not confirm closing a freed listener");
                    break;
                }
            }
        }
    }
}

/// One listening socket on one reactor.
struct Acceptor {
    socket: mio::net::TcpListener,
    shared: Arc<ListenerShared>,
    paused_until: Option<Instant>,
}

impl Acceptor {
    fn accept_all(&mut self, r: &mut Reactor) {
        if self.paused_until.is_some() || self.shared.dead.load(Ordering::Acquire) {
            return;
        }
        loop {
            match self.socket.accept() {
                // A panic while taking one stream on drops that stream only.
                Ok((stream, _peer)) => r.guard("accepting a stream", |r| {
                    crate::fault::hit(crate::fault::Point::Accept);
                    super::stream::accepted(r, stream, &self.shared.config);
                }),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if matches!(e.kind(), std::io::ErrorKind::Interrupted | std::io::ErrorKind::ConnectionAborted) => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)) => {
                    tracing::warn!(target: "squall::tcp", "accept on {}: {e}; pausing {ACCEPT_BACKOFF:?}", self.shared.addr);
                    let until = r.now + ACCEPT_BACKOFF;
                    self.paused_until = Some(until);
                    r.wake_at(until);
                    break;
                }
                Err(e) => {
                    tracing::error!(target: "squall::tcp", "accept on {}: {e}", self.shared.addr);
                    break;
                }
            }
        }
    }
}

impl Watcher for Acceptor {
    fn ready(&mut self, r: &mut Reactor, _token: usize, _ev: &Event) -> Step {
        self.accept_all(r);
        Step::Keep
    }

    fn tick(&mut self, r: &mut Reactor, _token: usize) -> Step {
        if self.paused_until.is_some_and(|t| r.now >= t) {
            self.paused_until = None;
            self.accept_all(r);
        }
        Step::Keep
    }

    fn flush(&mut self, _r: &mut Reactor, _token: usize) -> Step {
        Step::Keep
    }

    fn stop(&mut self, r: &mut Reactor, _token: usize, _how: Stop) -> Step {
        let _ = r.registry().deregister(&mut self.socket);
        Step::Close
    }

    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }
}
