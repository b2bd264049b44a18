//! The Redis engine: two connections per cluster, one publishing (PUBLISH
//! pipelined, each held until Redis answered it) and one subscribing, both
//! watchers on the loop's reactor 0, over the reactor's own sockets. The
//! protocol is `link.rs` (sans-IO); this file moves bytes, keeps time for
//! reconnects (backoff with jitter), and holds what other threads hand
//! over: the outbox and the wanted channels, under one mutex, with one
//! wake of reactor 0 per batch of changes.
//!
//! Over `rediss://` each connection runs its TLS handshake (the
//! connector's, as the HTTP and WebSocket clients do) before AUTH and
//! SELECT, within the connect timeout; a certificate that does not verify
//! is an error in the log and a failed attempt like any other (`lost`,
//! then retried with backoff). The link sees plaintext either way.

use std::collections::{HashSet, VecDeque};
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use mio::event::Event as MioEvent;

use super::config::Config;
use super::link::{Broken, Event, Link, Role};
use super::engine::{Counters, Engine, Sink};
use crate::http::client::connect::{Connector, Connects, Progress};
use crate::net::tls::{Stream, TlsConfig};
use crate::reactor::watcher::{Step, Stop, Watcher};
use crate::reactor::{LoopHandle, Reactor};
use crate::{Error, ErrorKind, Result};

/// First reconnect delay; doubled per failed attempt up to [`BACKOFF_MAX`].
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Publishes written per pump (the rest wait for the next turn, so one
/// burst does not hold the reactor).
const PUMP_MAX: usize = 4096;

/// A (channel, envelope) on its way.
type Publish = (Vec<u8>, Vec<u8>);

#[derive(Debug, Default)]
struct Pending {
    /// Publishes not yet written to a connection.
    outbox: VecDeque<Publish>,
    /// Publishes held: the outbox and those written but not answered.
    held: usize,
    /// Channels the process hears now.
    wanted: HashSet<Vec<u8>>,
    /// Changes to `wanted` not yet sent, the last word per channel.
    changes: IndexMap<Vec<u8>, bool>,
    /// Which connections are up: [publish, subscribe (and resubscribed)].
    up: [bool; 2],
    /// Watchers' (token, generation), once inserted.
    tokens: Vec<(usize, u64)>,
    stopped: bool,
}

struct Shared {
    config: Config,
    /// TLS for `rediss://`.
    tls: Option<TlsConfig>,
    loop_handle: LoopHandle,
    sink: Weak<dyn Sink>,
    counters: Arc<Counters>,
    pending: Mutex<Pending>,
    /// A wake of reactor 0 is on its way.
    kicked: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Has reactor 0 look at the pending work (one wake per batch).
    fn kick(self: &Arc<Self>) {
        if self.kicked.swap(true, Ordering::AcqRel) {
            return;
        }
        let me = self.clone();
        let sent = self.loop_handle.send_to_reactor(
            0,
            Box::new(move |r: &mut Reactor| {
                me.kicked.store(false, Ordering::Release);
                let tokens = me.lock().tokens.clone();
                for (t, _) in tokens {
                    r.mark_dirty(t);
                }
            }),
        );
        if sent.is_err() {
            // Not started: the watchers look at everything when they start.
            self.kicked.store(false, Ordering::Release);
        }
    }

    /// A connection came up or went down.
    fn set_up(&self, role: Role, up: bool) {
        let i = usize::from(role == Role::Subscribe);
        let all = {
            let mut p = self.lock();
            p.up[i] = up;
            p.up[0] && p.up[1]
        };
        // Down is said on every failure (the core says `lost` once); up
        // when both are.
        if let Some(s) = self.sink.upgrade() {
            if !up {
                s.link(false);
            } else if all {
                s.link(true);
            }
        }
    }
}

/// The Redis engine of a cluster.
pub(crate) struct RedisEngine {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for RedisEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisEngine").finish_non_exhaustive()
    }
}

impl RedisEngine {
    pub(crate) fn new(
        config: Config,
        tls: Option<TlsConfig>,
        loop_handle: LoopHandle,
        sink: Weak<dyn Sink>,
        counters: Arc<Counters>,
    ) -> RedisEngine {
        RedisEngine {
            shared: Arc::new(Shared {
                config,
                tls,
                loop_handle,
                sink,
                counters,
                pending: Mutex::new(Pending::default()),
                kicked: AtomicBool::new(false),
            }),
        }
    }
}

impl Engine for RedisEngine {
    fn start(&self) {
        let shared = self.shared.clone();
        let _ = self.shared.loop_handle.send_to_reactor(
            0,
            Box::new(move |r: &mut Reactor| {
                if shared.lock().stopped {
                    return;
                }
                for role in [Role::Publish, Role::Subscribe] {
                    let conn = RedisConn::new(shared.clone(), role);
                    let at = r.insert(Box::new(conn), |r, w, token, generation| {
                        let Some(c) = w.as_any().downcast_mut::<RedisConn>() else { return Step::Close };
                        c.token = token;
                        c.generation = generation;
                        c.connect(r);
                        Step::Keep
                    });
                    if let Some(at) = at {
                        shared.lock().tokens.push(at);
                    }
                }
            }),
        );
    }

    fn want(&self, channel: &[u8], on: bool) {
        {
            let mut p = self.shared.lock();
            if on {
                p.wanted.insert(channel.to_vec());
            } else {
                p.wanted.remove(channel);
            }
            p.changes.insert(channel.to_vec(), on);
        }
        self.shared.kick();
    }

    fn publish(&self, channel: &[u8], payload: Vec<u8>) -> Result<()> {
        {
            let mut p = self.shared.lock();
            if p.stopped {
                return Err(Error::new(ErrorKind::Closed, "the cluster was freed"));
            }
            if p.held >= self.shared.config.outbox {
                return Err(Error::new(
                    ErrorKind::Limit,
                    format!(
                        "delivered locally only: the cluster outbox is full ({} publishes wait for Redis)",
                        p.held
                    ),
                ));
            }
            p.outbox.push_back((channel.to_vec(), payload));
            p.held += 1;
            self.shared.counters.outbox.store(p.held as u64, Ordering::Relaxed);
        }
        self.shared.kick();
        Ok(())
    }

    fn stop(&self) {
        let tokens = {
            let mut p = self.shared.lock();
            p.stopped = true;
            std::mem::take(&mut p.tokens)
        };
        let _ = self.shared.loop_handle.send_to_reactor(
            0,
            Box::new(move |r: &mut Reactor| {
                for (t, g) in tokens {
                    r.with_watcher_as::<RedisConn, _>(t, Some(g), |r, c| {
                        c.close(r);
                        Step::Close
                    });
                }
            }),
        );
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Connecting,
    Up,
    /// Waiting to connect again.
    Waiting(Instant),
    Closed,
}

/// One of the two connections.
struct RedisConn {
    shared: Arc<Shared>,
    role: Role,
    token: usize,
    generation: u64,
    connector: Connector,
    phase: Phase,
    stream: Option<Stream>,
    link: Option<Link>,
    /// Bytes not yet written.
    out: Vec<u8>,
    /// Failed attempts since the last connection that came up.
    attempts: u32,
    /// Whether a connection of this role was ever up.
    was_up: bool,
    /// Publish: written, not yet answered (oldest first).
    inflight: VecDeque<Publish>,
    /// Subscribe: channels SUBSCRIBEd on this connection.
    heard: HashSet<Vec<u8>>,
    /// Subscribe: confirmations awaited before the connection counts as up.
    resub_wait: usize,
}

impl RedisConn {
    fn new(shared: Arc<Shared>, role: Role) -> RedisConn {
        let connector = Connector::new(&shared.config.host, shared.config.port, None, None);
        RedisConn {
            shared,
            role,
            token: 0,
            generation: 0,
            connector,
            phase: Phase::Connecting,
            stream: None,
            link: None,
            out: Vec::new(),
            attempts: 0,
            was_up: false,
            inflight: VecDeque::new(),
            heard: HashSet::new(),
            resub_wait: 0,
        }
    }

    fn connect(&mut self, r: &mut Reactor) {
        let c = &self.shared.config;
        self.connector = Connector::new(&c.host, c.port, self.shared.tls.clone(), Some(r.now + c.timeout));
        self.phase = Phase::Connecting;
        self.connector.start::<RedisConn>(r, self.token, self.generation);
    }

    fn close(&mut self, r: &mut Reactor) {
        self.connector.abandon(r);
        if let Some(mut s) = self.stream.take() {
            let _ = r.registry().deregister(s.socket());
        }
        self.link = None;
        self.phase = Phase::Closed;
    }

    /// The connection failed or broke: requeue what it held, tell the
    /// core, and try again after a backoff.
    fn down(&mut self, r: &mut Reactor, why: &str) {
        if self.phase == Phase::Closed {
            return;
        }
        tracing::warn!(target: "squall::cluster", "redis {:?} connection to {}:{}: {why}", self.role, self.shared.config.host, self.shared.config.port);
        self.close(r);
        self.out.clear();
        self.heard.clear();
        self.resub_wait = 0;
        if !self.inflight.is_empty() {
            let mut p = self.shared.lock();
            while let Some(m) = self.inflight.pop_back() {
                p.outbox.push_front(m);
            }
        }
        self.shared.set_up(self.role, false);
        if self.shared.lock().stopped {
            return;
        }
        let base = BACKOFF_MIN.saturating_mul(1 << self.attempts.min(6)).min(BACKOFF_MAX);
        // Full jitter over the upper half: processes that lost Redis
        // together do not come back together.
        let ms = base.as_millis() as u64;
        let delay = Duration::from_millis(rand::random_range(ms / 2..=ms));
        self.attempts = self.attempts.saturating_add(1);
        let until = r.now + delay;
        self.phase = Phase::Waiting(until);
        r.wake_at(until);
    }

    /// TCP connected: set up the link and send what it must.
    fn established(&mut self, r: &mut Reactor) {
        let Some(stream) = self.connector.take() else {
            self.down(r, "connected without a stream");
            return;
        };
        self.stream = Some(stream);
        self.link = Some(Link::new(self.role, &self.shared.config, r.now));
        self.phase = Phase::Up;
        if self.role == Role::Subscribe {
            let wanted: Vec<Vec<u8>> = {
                let mut p = self.shared.lock();
                p.changes.clear();
                p.wanted.iter().cloned().collect()
            };
            let refs: Vec<&[u8]> = wanted.iter().map(Vec::as_slice).collect();
            if let Some(l) = self.link.as_mut() {
                l.subscribe(true, &refs);
            }
            self.resub_wait = wanted.len();
            self.heard = wanted.into_iter().collect();
            self.shared.counters.subscribed.store(self.heard.len() as u64, Ordering::Relaxed);
        }
        self.input(r, &[]);
        self.pump(r);
    }

    /// The link is through its set-up, and resubscribed.
    fn came_up(&mut self) {
        self.attempts = 0;
        if self.was_up {
            self.shared.counters.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        self.was_up = true;
        self.shared.set_up(self.role, true);
    }

    /// Moves pending work onto the link, then writes.
    fn pump(&mut self, r: &mut Reactor) {
        if self.phase != Phase::Up {
            return;
        }
        let Some(link) = self.link.as_mut() else { return };
        match self.role {
            Role::Publish => {
                let mut p = self.shared.lock();
                for _ in 0..PUMP_MAX {
                    let Some(m) = p.outbox.pop_front() else { break };
                    link.publish(&m.0, &m.1);
                    self.inflight.push_back(m);
                }
                if !p.outbox.is_empty() {
                    r.mark_dirty(self.token);
                }
            }
            Role::Subscribe => {
                let changes = std::mem::take(&mut self.shared.lock().changes);
                let mut on = Vec::new();
                let mut off = Vec::new();
                for (ch, want) in changes {
                    if want && !self.heard.contains(&ch) {
                        on.push(ch);
                    } else if !want && self.heard.remove(&ch) {
                        off.push(ch);
                    }
                }
                let refs: Vec<&[u8]> = on.iter().map(Vec::as_slice).collect();
                link.subscribe(true, &refs);
                let refs: Vec<&[u8]> = off.iter().map(Vec::as_slice).collect();
                link.subscribe(false, &refs);
                self.heard.extend(on);
                self.shared.counters.subscribed.store(self.heard.len() as u64, Ordering::Relaxed);
            }
        }
        self.write(r);
    }

    fn write(&mut self, r: &mut Reactor) {
        if let Some(l) = self.link.as_mut() {
            if l.has_output() {
                let more = l.take_output();
                if self.out.is_empty() {
                    self.out = more;
                } else {
                    self.out.extend_from_slice(&more);
                }
            }
        }
        let Some(s) = self.stream.as_mut() else { return };
        let mut done = 0;
        let failed = loop {
            if done == self.out.len() {
                break None;
            }
            match s.write(&self.out[done..]) {
                Ok(0) => break Some(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break None,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Some(e),
            }
        };
        self.out.drain(..done);
        // TLS records made from plaintext already taken, which the socket
        // did not take then: sent as it drains (the socket's writable edge
        // comes back here).
        let failed = match failed {
            None if s.wants_write() => match s.flush() {
                Err(e) if e.kind() != io::ErrorKind::WouldBlock && e.kind() != io::ErrorKind::Interrupted => Some(e),
                _ => None,
            },
            f => f,
        };
        if let Some(e) = failed {
            self.down(r, &format!("write failed: {e}"));
        }
    }

    fn read(&mut self, r: &mut Reactor) {
        let mut buf = [0u8; 16 * 1024];
        loop {
            let Some(s) = self.stream.as_mut() else { return };
            match s.read(&mut buf) {
                Ok(0) => return self.down(r, "closed by the server"),
                Ok(n) => {
                    self.input(r, &buf[..n]);
                    if self.phase != Phase::Up {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.down(r, &format!("read failed: {e}")),
            }
        }
    }

    fn input(&mut self, r: &mut Reactor, bytes: &[u8]) {
        let Some(link) = self.link.as_mut() else { return };
        let mut events = Vec::new();
        let result = link.input(bytes, r.now, &mut events);
        let ready = link.is_ready();
        let sink = self.shared.sink.upgrade();
        for ev in events {
            match ev {
                Event::Ready => {
                    if self.role == Role::Publish || self.resub_wait == 0 {
                        self.came_up();
                    }
                }
                Event::Published(_) => {
                    if self.inflight.pop_front().is_some() {
                        let mut p = self.shared.lock();
                        p.held = p.held.saturating_sub(1);
                        self.shared.counters.outbox.store(p.held as u64, Ordering::Relaxed);
                    }
                }
                Event::Subscribed(_) => {
                    if self.resub_wait > 0 {
                        self.resub_wait -= 1;
                        if self.resub_wait == 0 && ready {
                            self.came_up();
                        }
                    }
                }
                Event::Unsubscribed(_) => {}
                Event::Message(ch, data) => {
                    if let Some(s) = &sink {
                        s.message(&ch, &data);
                    }
                }
            }
        }
        if let Err(b) = result {
            let why = b.to_string();
            if matches!(b, Broken::Refused(_)) {
                tracing::error!(target: "squall::cluster", "redis refused the connection: {why}");
            }
            self.down(r, &why);
        }
    }
}

impl Connects for RedisConn {
    fn connector(&mut self) -> &mut Connector {
        &mut self.connector
    }

    fn progressed(&mut self, r: &mut Reactor, p: Progress) -> bool {
        match p {
            Progress::Pending => {}
            Progress::Ready => self.established(r),
            Progress::Failed(e) => {
                if e.kind() == ErrorKind::Tls {
                    // A certificate that does not verify, or a server that
                    // does not speak TLS: retrying will not mend it by itself.
                    tracing::error!(target: "squall::cluster", "redis over TLS: {e}");
                }
                self.down(r, &e.to_string());
            }
        }
        self.phase != Phase::Closed
    }
}

impl Watcher for RedisConn {
    fn ready(&mut self, r: &mut Reactor, _token: usize, _ev: &MioEvent) -> Step {
        match self.phase {
            Phase::Connecting => {
                let p = self.connector.ready(r);
                self.progressed(r, p);
            }
            Phase::Up => {
                self.read(r);
                if self.phase == Phase::Up {
                    self.pump(r);
                }
            }
            Phase::Waiting(_) | Phase::Closed => {}
        }
        (self.phase != Phase::Closed).into()
    }

    fn tick(&mut self, r: &mut Reactor, _token: usize) -> Step {
        let now = r.now;
        match self.phase {
            Phase::Waiting(until) if now >= until => self.connect(r),
            Phase::Waiting(until) => r.wake_at(until),
            Phase::Connecting => {
                let ms = self.shared.config.timeout.as_millis();
                if let Some(e) = self.connector.timed_out(r, now, ms) {
                    self.down(r, &e.to_string());
                }
            }
            Phase::Up => match self.link.as_mut().map(|l| l.tick(now)) {
                Some(Ok(next)) => {
                    r.wake_at(next);
                    self.write(r);
                }
                Some(Err(b)) => self.down(r, &b.to_string()),
                None => {}
            },
            Phase::Closed => {}
        }
        (self.phase != Phase::Closed).into()
    }

    fn flush(&mut self, r: &mut Reactor, _token: usize) -> Step {
        self.pump(r);
        (self.phase != Phase::Closed).into()
    }

    fn stop(&mut self, r: &mut Reactor, _token: usize, _how: Stop) -> Step {
        self.close(r);
        Step::Close
    }

    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }
}
