//! What the cluster core and an engine (a broker's side) say to each
//! other: the [`Engine`] the core drives, the [`Sink`] an engine reports
//! to, and the [`Counters`] both keep.

use std::sync::atomic::AtomicU64;

use crate::Result;

/// A cluster's counters (see `Cluster::counter` for their names).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) published: AtomicU64,
    pub(crate) outbox_full: AtomicU64,
    pub(crate) received: AtomicU64,
    pub(crate) delivered: AtomicU64,
    pub(crate) echo: AtomicU64,
    pub(crate) gaps: AtomicU64,
    pub(crate) repeats: AtomicU64,
    pub(crate) junk: AtomicU64,
    pub(crate) oversized: AtomicU64,
    pub(crate) bad_topic: AtomicU64,
    pub(crate) reconnects: AtomicU64,
    pub(crate) subscribed: AtomicU64,
    pub(crate) outbox: AtomicU64,
}

/// A broker, as the cluster core sees it.
pub(crate) trait Engine: Send + Sync + std::fmt::Debug {
    /// Starts connecting (once the loop's reactors exist).
    fn start(&self);
    /// Hear `channel` (`on`) or stop hearing it; batched by the engine.
    fn want(&self, channel: &[u8], on: bool);
    /// Publishes an envelope on `channel`; Err when the outbox is full.
    fn publish(&self, channel: &[u8], payload: Vec<u8>) -> Result<()>;
    /// Closes the connections; nothing is called back afterwards.
    fn stop(&self);
}

/// What an engine tells the core (the core implements it).
pub(crate) trait Sink: Send + Sync {
    /// A message arrived on `channel`.
    fn message(&self, channel: &[u8], payload: &[u8]);
    /// The engine's connections are all up (`true`) or one is down.
    fn link(&self, up: bool);
}

