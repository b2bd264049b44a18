//! Topics across processes through a broker (Redis first): see
//! docs/ARCHITECTURE.md, "Topics across processes".
//!
//! A [`Cluster`] is attached to one or more servers of a loop as their
//! topics' backplane (`ws::topics::Backplane`). A publish on a server is
//! fanned out to its local subscribers first (ws does that, never waiting
//! on the broker), then to the other attached servers of the process, then
//! wrapped in an envelope (node id, per-topic sequence) and handed to the
//! [`Engine`]. What the engine hears on a channel comes back here: the
//! process's own echo is ignored, junk and oversized messages are counted
//! and dropped, a gap or a repeat in a publisher's sequence is counted, and
//! the rest fans out to every attached server exactly as a local publish.
//!
//! The engine is the broker's side: which channels to hear (it batches the
//! changes), publishes (held in a bounded outbox while the broker is away),
//! and the state of its connections. Redis is the one engine
//! (`redis.rs`); the trait leaves room for NATS.

pub(crate) mod config;
pub(crate) mod engine;
pub(crate) mod envelope;
pub(crate) mod link;
pub(crate) mod redis;
pub(crate) mod resp;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use crate::http::shared::ServerShared;
use crate::metrics::{ClusterSlot, ClusterSnapshot, ClusterSource};
use crate::reactor::LoopHandle;
use crate::ws::topics::{Backplane, Registry};
use crate::{Error, ErrorKind, Result};
use config::Config;
use engine::{Counters, Engine, Sink};
use envelope::{NodeId, Seen, Tracker};

/// Where a cluster's connection to its broker stands (and the one event
/// that is not a state: a gap).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ClusterState {
    /// Not connected yet.
    Connecting = 0,
    /// Connected for the first time: publishing and subscribed.
    Connected = 1,
    /// A connection to the broker was lost (or could not be made): local
    /// delivery goes on, publishes wait in the outbox, messages from other
    /// processes may be missed.
    Lost = 2,
    /// Connected again after `Lost`: resubscribed, the outbox replayed. The
    /// application may resync (a chat room re-sends its recent history).
    Resynced = 3,
    /// Not a state: messages of another process were missed (its sequence
    /// jumped); the gap counter says how many.
    Gap = 4,
}

impl ClusterState {
    fn from_u8(v: u8) -> ClusterState {
        match v {
            1 => ClusterState::Connected,
            2 => ClusterState::Lost,
            3 => ClusterState::Resynced,
            _ => ClusterState::Connecting,
        }
    }
}

/// What the host hears of a cluster's state (implemented by each front).
pub trait ClusterEvents: Send + Sync {
    /// A change of state, or a gap; on the host thread.
    fn on_state(&self, state: ClusterState);
}

pub(crate) struct Core {
    /// Made when the loop starts (in the process that runs it: a cluster
    /// made before a fork gets one per child), or at the first publish.
    node: OnceLock<NodeId>,
    pub(crate) config: Config,
    loop_handle: LoopHandle,
    engine: OnceLock<Box<dyn Engine>>,
    /// The attached servers, with what the cluster attached to each (a
    /// server attached to another cluster since is no longer served).
    servers: Mutex<Vec<(Weak<ServerShared>, Weak<Attached>)>>,
    /// Topic → attached servers that have subscribers to it.
    refs: Mutex<HashMap<Box<str>, usize>>,
    /// Topic → the last sequence this process published on it.
    seqs: Mutex<HashMap<Box<str>, u64>>,
    tracker: Mutex<Tracker>,
    pub(crate) counters: Arc<Counters>,
    state: AtomicU8,
    /// Whether the cluster was ever connected (then an `up` after `Lost`
    /// is `Resynced`).
    ever: AtomicBool,
    events: Mutex<Option<Arc<dyn ClusterEvents>>>,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core").field("config", &self.config).finish_non_exhaustive()
    }
}

/// A node id: the process id, then random bytes. The process id keeps
/// apart the children of a program that made its cluster before forking
/// (Tornado's bind, fork, serve order), which share the random part.
fn node_id() -> NodeId {
    let mut id: NodeId = rand::random();
    id[..4].copy_from_slice(&std::process::id().to_be_bytes());
    id
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A cluster: the Rust API the C one is built on.
#[derive(Debug)]
pub struct Cluster {
    core: Arc<Core>,
}

impl Cluster {
    /// A cluster on `loop_handle` reached through `url` (see
    /// `cluster::config`). Connects once the loop has started; nothing is
    /// reached before. An unusable URL is `InvalidArg`, saying why.
    pub fn new(loop_handle: &LoopHandle, url: &str) -> Result<Cluster> {
        loop_handle.check_usable()?;
        let config = Config::parse(url)?;
        let tls = config.tls_config()?;
        let core = Arc::new(Core {
            node: OnceLock::new(),
            config,
            loop_handle: loop_handle.clone(),
            engine: OnceLock::new(),
            servers: Mutex::new(Vec::new()),
            refs: Mutex::new(HashMap::new()),
            seqs: Mutex::new(HashMap::new()),
            tracker: Mutex::new(Tracker::default()),
            counters: Arc::default(),
            state: AtomicU8::new(ClusterState::Connecting as u8),
            ever: AtomicBool::new(false),
            events: Mutex::new(None),
        });
        let sink: Weak<dyn Sink> = Arc::downgrade(&core) as Weak<dyn Sink>;
        let engine = redis::RedisEngine::new(core.config.clone(), tls, loop_handle.clone(), sink, core.counters.clone());
        let _ = core.engine.set(Box::new(engine));
        let c2 = core.clone();
        loop_handle.when_started(Box::new(move || {
            c2.node();
            c2.engine().start();
        }));
        Ok(Cluster { core })
    }

    /// Makes the cluster the backplane of `server`'s topics (a server has
    /// one at most: a later attach replaces an earlier one).
    pub(crate) fn attach(&self, server: &Arc<ServerShared>) -> Result<()> {
        if !server.loop_handle.same_loop(&self.core.loop_handle) {
            return Err(Error::new(ErrorKind::InvalidArg, "the server and the cluster belong to different loops"));
        }
        let plane = Arc::new(Attached { core: self.core.clone(), server: Arc::downgrade(server) });
        {
            let mut servers = lock(&self.core.servers);
            servers.retain(|(w, a)| w.strong_count() > 0 && a.strong_count() > 0);
            if servers.iter().any(|(w, _)| w.upgrade().is_some_and(|s| Arc::ptr_eq(&s, server))) && self.core.serves(server) {
                return Ok(());
            }
            servers.retain(|(w, _)| !w.upgrade().is_some_and(|s| Arc::ptr_eq(&s, server)));
            servers.push((Arc::downgrade(server), Arc::downgrade(&plane)));
        }
        server.ext::<Registry>().set_backplane(Some(plane));
        let source: Weak<dyn ClusterSource> = Arc::downgrade(&self.core) as Weak<dyn ClusterSource>;
        server.ext::<ClusterSlot>().set(Some(source));
        Ok(())
    }

    /// Sets (or clears) what hears the cluster's state changes.
    pub fn set_events(&self, events: Option<Arc<dyn ClusterEvents>>) {
        *lock(&self.core.events) = events;
    }

    /// The state now (never `Gap`).
    pub fn state(&self) -> ClusterState {
        ClusterState::from_u8(self.core.state.load(Ordering::Acquire))
    }

    /// A counter by name (one of [`COUNTERS`]): published, outbox_full
    /// (publishes refused: the outbox was full), received (messages from
    /// the broker), delivered (of those, fanned out), echo (our own,
    /// ignored), gaps (messages of other processes missed), repeats
    /// (replays dropped), junk (not an envelope), oversized, bad_topic
    /// (a channel name that is no squall topic), reconnects, subscribed
    /// (channels heard now), outbox (publishes waiting now).
    pub fn counter(&self, name: &str) -> Option<u64> {
        let c = &self.core.counters;
        let a = match name {
            "published" => &c.published,
            "outbox_full" => &c.outbox_full,
            "received" => &c.received,
            "delivered" => &c.delivered,
            "echo" => &c.echo,
            "gaps" => &c.gaps,
            "repeats" => &c.repeats,
            "junk" => &c.junk,
            "oversized" => &c.oversized,
            "bad_topic" => &c.bad_topic,
            "reconnects" => &c.reconnects,
            "subscribed" => &c.subscribed,
            "outbox" => &c.outbox,
            _ => return None,
        };
        Some(a.load(Ordering::Acquire))
    }
}

impl Drop for Cluster {
    /// Detaches from every server (their topics are local again) and closes
    /// the broker connections; no state callback runs afterwards.
    fn drop(&mut self) {
        *lock(&self.core.events) = None;
        let servers = std::mem::take(&mut *lock(&self.core.servers));
        for (w, a) in &servers {
            if let Some(s) = w.upgrade() {
                s.ext::<Registry>().detach_backplane(Weak::as_ptr(a).cast());
                s.ext::<ClusterSlot>().clear_if(Arc::as_ptr(&self.core).cast());
            }
        }
        self.core.engine().stop();
    }
}

impl Core {
    fn node(&self) -> &NodeId {
        self.node.get_or_init(node_id)
    }

    fn engine(&self) -> &dyn Engine {
        &**self.engine.get().expect("set at creation")
    }

    /// The attached servers whose backplane this cluster still is.
    fn servers(&self) -> Vec<Arc<ServerShared>> {
        let list: Vec<_> = lock(&self.servers).clone();
        list.iter().filter_map(|(w, _)| w.upgrade()).filter(|s| self.serves(s)).collect()
    }

    fn serves(&self, server: &ServerShared) -> bool {
        let ours = lock(&self.servers)
            .iter()
            .filter(|(w, _)| std::ptr::eq(w.as_ptr(), server))
            .map(|(_, a)| Weak::as_ptr(a).cast::<()>())
            .collect::<Vec<_>>();
        server
            .ext::<Registry>()
            .publish_backplane()
            .is_some_and(|b| ours.iter().any(|&p| std::ptr::addr_eq(Arc::as_ptr(&b), p)))
    }

    fn want(&self, topic: &str, on: bool) {
        let mut refs = lock(&self.refs);
        let changed = if on {
            let n = refs.entry(topic.into()).or_insert(0);
            *n += 1;
            *n == 1
        } else {
            match refs.get_mut(topic) {
                Some(n) if *n > 1 => {
                    *n -= 1;
                    false
                }
                Some(_) => {
                    refs.remove(topic);
                    true
                }
                None => false,
            }
        };
        if changed {
            if !on {
                lock(&self.tracker).forget(topic);
            }
            self.engine().want(&self.config.channel(topic), on);
        }
    }

    fn publish(&self, from: &Weak<ServerShared>, topic: &str, binary: bool, compress: bool, data: &[u8]) -> Result<()> {
        for s in self.servers() {
            if !Weak::ptr_eq(&Arc::downgrade(&s), from) {
                let _ = crate::ws::ops::publish_local(&s, topic, binary, compress, data);
            }
        }
        let mut seqs = lock(&self.seqs);
        let next = seqs.get(topic).copied().unwrap_or(0) + 1;
        let env = envelope::encode_with(self.node(), next, binary, compress, data);
        match self.engine().publish(&self.config.channel(topic), env) {
            Ok(()) => {
                seqs.insert(topic.into(), next);
                self.counters.published.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                self.counters.outbox_full.fetch_add(1, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    fn tell(&self, state: ClusterState) {
        if let Some(ev) = lock(&self.events).clone() {
            let _ = self.loop_handle.add_callback(move || ev.on_state(state));
        }
    }
}

impl ClusterSource for Core {
    fn cluster_snapshot(&self) -> ClusterSnapshot {
        let c = &self.counters;
        let l = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let state = ClusterState::from_u8(self.state.load(Ordering::Acquire));
        ClusterSnapshot {
            attached: true,
            connected: matches!(state, ClusterState::Connected | ClusterState::Resynced),
            published: l(&c.published),
            outbox_full: l(&c.outbox_full),
            received: l(&c.received),
            delivered: l(&c.delivered),
            echo: l(&c.echo),
            gaps: l(&c.gaps),
            repeats: l(&c.repeats),
            junk: l(&c.junk),
            oversized: l(&c.oversized),
            bad_topic: l(&c.bad_topic),
            reconnects: l(&c.reconnects),
            subscribed: l(&c.subscribed),
            outbox: l(&c.outbox),
        }
    }
}

impl Sink for Core {
    fn message(&self, channel: &[u8], payload: &[u8]) {
        let c = &self.counters;
        c.received.fetch_add(1, Ordering::Relaxed);
        let topic = match self.config.topic_of(channel).map(std::str::from_utf8) {
            Some(Ok(t)) if crate::ws::socket::check_topic(t).is_ok() => t,
            _ => {
                c.bad_topic.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(target: "squall::cluster", "dropped a message on a channel that is no topic");
                return;
            }
        };
        let Some(env) = envelope::decode(payload) else {
            c.junk.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(target: "squall::cluster", "dropped a message that is not squall's on {topic:?}");
            return;
        };
        if &env.node == self.node() {
            c.echo.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let seen = lock(&self.tracker).see(topic, &env.node, env.seq);
        match seen {
            Seen::Repeat => {
                c.repeats.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Seen::Gap(n) => {
                c.gaps.fetch_add(n, Ordering::Relaxed);
                tracing::warn!(target: "squall::cluster", "{n} message(s) on {topic:?} from another process were missed");
                self.tell(ClusterState::Gap);
            }
            Seen::InOrder => {}
        }
        // After the sequence is noted: a message dropped here is counted
        // once, as oversized, not again as a gap when the next one comes.
        if env.data.len() > self.config.max_message {
            c.oversized.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(target: "squall::cluster", "dropped a {} byte message on {topic:?} (max_message)", env.data.len());
            return;
        }
        c.delivered.fetch_add(1, Ordering::Relaxed);
        for s in self.servers() {
            let _ = crate::ws::ops::publish_local(&s, topic, env.binary, env.compress, env.data);
        }
    }

    fn link(&self, up: bool) {
        let old = ClusterState::from_u8(self.state.load(Ordering::Acquire));
        let new = match (up, old) {
            // Lost before the first connection ever made: that is the first.
            (true, ClusterState::Connecting | ClusterState::Lost) if !self.ever.swap(true, Ordering::AcqRel) => {
                ClusterState::Connected
            }
            (true, ClusterState::Lost) => ClusterState::Resynced,
            (false, ClusterState::Lost) => return,
            (false, _) => ClusterState::Lost,
            (true, _) => return,
        };
        self.state.store(new as u8, Ordering::Release);
        tracing::info!(target: "squall::cluster", "cluster {:?}", new);
        self.tell(new);
    }
}

/// The cluster as one server's backplane.
#[derive(Debug)]
struct Attached {
    core: Arc<Core>,
    server: Weak<ServerShared>,
}

impl Backplane for Attached {
    fn first(&self, name: &str) {
        self.core.want(name, true);
    }

    fn last(&self, name: &str) {
        self.core.want(name, false);
    }

    fn publish(&self, name: &str, binary: bool, compress: bool, data: &[u8]) -> Result<()> {
        self.core.publish(&self.server, name, binary, compress, data)
    }
}
