//! Topics (pub/sub) for WebSockets, kept in Rust.
//!
//! Two levels: the server's [`Registry`] (topic name → [`Topic`], with a
//! subscriber count per reactor, under one mutex touched only by subscribe,
//! unsubscribe and the lookup of a publish), and each reactor's [`Local`]
//! sets (topic → the sockets of that reactor subscribed to it, by token and
//! generation), touched only by that reactor's thread. A publish serializes
//! the frame once, then sends one command to each reactor whose count is not
//! zero; that reactor appends the same shared frame to each subscriber's
//! output queue.
//!
//! A [`Backplane`] (the cluster module's, for topics that span processes)
//! may be attached to a registry: it hears when a topic gets its first
//! subscriber and loses its last, and every publish after the local
//! fan-out. ws names no broker; the backplane is a trait object.
//!
//! Counts are raised synchronously by the subscribing call (so a publish
//! made right after a subscribe, from the same thread, reaches the reactor
//! after the subscription does: commands are FIFO per sender) and corrected
//! on the reactor when a subscription turns out to be a duplicate.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use indexmap::IndexMap;

/// A named topic of one server.
#[derive(Debug)]
pub(crate) struct Topic {
    pub(crate) name: Box<str>,
    /// Subscribers per reactor (including subscriptions on their way).
    counts: Box<[AtomicUsize]>,
}

impl Topic {
    pub(crate) fn count_on(&self, reactor: usize) -> usize {
        self.counts.get(reactor).map_or(0, |c| c.load(Ordering::Acquire))
    }

    pub(crate) fn total(&self) -> usize {
        self.counts.iter().map(|c| c.load(Ordering::Acquire)).sum()
    }

    pub(crate) fn reactors(&self) -> usize {
        self.counts.len()
    }
}

/// What carries a server's topics to other processes (implemented above
/// ws, by the cluster module). Its methods are called with the registry's
/// lock held: they must only queue work, never call back into the registry.
pub(crate) trait Backplane: Send + Sync + std::fmt::Debug {
    /// `name` got its first subscriber on this server.
    fn first(&self, name: &str);
    /// `name` lost its last subscriber on this server.
    fn last(&self, name: &str);
    /// A publish on this server, once its local fan-out is queued. An error
    /// says the message did not go to the other processes (and why).
    /// `compress` false: the message must reach every subscriber
    /// uncompressed.
    fn publish(&self, name: &str, binary: bool, compress: bool, data: &[u8]) -> crate::Result<()>;
}

/// The topics of a server.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    map: Mutex<HashMap<Box<str>, Arc<Topic>>>,
    backplane: Mutex<Option<Arc<dyn Backplane>>>,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, Arc<Topic>>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The topic `name` (made if new) with one more subscriber counted on
    /// `reactor` (of `reactors`).
    pub(crate) fn add_subscriber(&self, name: &str, reactor: usize, reactors: usize) -> Arc<Topic> {
        let mut map = self.lock();
        let mut created = false;
        let topic = map
            .entry(name.into())
            .or_insert_with(|| {
                created = true;
                Arc::new(Topic {
                    name: name.into(),
                    counts: (0..reactors.max(reactor + 1)).map(|_| AtomicUsize::new(0)).collect(),
                })
            })
            .clone();
        if let Some(b) = created.then(|| self.backplane()).flatten() {
            b.first(name);
        }
        if let Some(c) = topic.counts.get(reactor) {
            c.fetch_add(1, Ordering::AcqRel);
        }
        topic
    }

    /// One subscriber fewer on `reactor`; a topic nobody subscribes to any
    /// more leaves the registry.
    pub(crate) fn remove_subscriber(&self, topic: &Arc<Topic>, reactor: usize) {
        let mut map = self.lock();
        if let Some(c) = topic.counts.get(reactor) {
            let _ = c.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| v.checked_sub(1));
        }
        if topic.total() == 0
            && map.get(&topic.name).is_some_and(|t| Arc::ptr_eq(t, topic))
        {
            map.remove(&topic.name);
            if let Some(b) = self.backplane() {
                b.last(&topic.name);
            }
        }
    }

    fn backplane(&self) -> Option<Arc<dyn Backplane>> {
        self.backplane.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Attaches `b` (None: detaches): the new one hears `first` for every
    /// topic that has subscribers now, the old one `last` for each.
    pub(crate) fn set_backplane(&self, b: Option<Arc<dyn Backplane>>) {
        let map = self.lock();
        let old = std::mem::replace(&mut *self.backplane.lock().unwrap_or_else(|p| p.into_inner()), b.clone());
        for name in map.keys() {
            if let Some(o) = &old {
                o.last(name);
            }
            if let Some(n) = &b {
                n.first(name);
            }
        }
    }

    /// Detaches the backplane at `plane` (its address), if it is still the
    /// one attached (a later attach may have replaced it).
    pub(crate) fn detach_backplane(&self, plane: *const ()) {
        let map = self.lock();
        let mut slot = self.backplane.lock().unwrap_or_else(|p| p.into_inner());
        if slot.as_ref().is_some_and(|b| std::ptr::addr_eq(Arc::as_ptr(b), plane)) {
            let old = slot.take();
            drop(slot);
            for name in map.keys() {
                if let Some(o) = &old {
                    o.last(name);
                }
            }
        }
    }

    /// The backplane a publish goes on to, if any.
    pub(crate) fn publish_backplane(&self) -> Option<Arc<dyn Backplane>> {
        self.backplane()
    }

    pub(crate) fn get(&self, name: &str) -> Option<Arc<Topic>> {
        self.lock().get(name).cloned()
    }

    /// Subscribers of `name` across every reactor.
    pub(crate) fn subscribers(&self, name: &str) -> usize {
        self.get(name).map_or(0, |t| t.total())
    }
}

/// Members of a topic on one reactor: token → generation.
pub(crate) type Members = IndexMap<usize, u64>;

/// One reactor's subscriptions.
#[derive(Debug, Default)]
pub(crate) struct Local {
    sets: HashMap<usize, (Arc<Topic>, Members)>,
}

fn key(topic: &Arc<Topic>) -> usize {
    Arc::as_ptr(topic) as usize
}

impl Local {
    /// Adds a member; false when it was already there.
    pub(crate) fn insert(&mut self, topic: &Arc<Topic>, token: usize, generation: u64) -> bool {
        let entry = self.sets.entry(key(topic)).or_insert_with(|| (topic.clone(), Members::new()));
        entry.1.insert(token, generation) != Some(generation)
    }

    /// Removes a member (that token of that generation: not a later socket
    /// that reuses the token); false when it was not there.
    pub(crate) fn remove(&mut self, topic: &Arc<Topic>, token: usize, generation: u64) -> bool {
        let k = key(topic);
        let Some(entry) = self.sets.get_mut(&k) else { return false };
        if entry.1.get(&token) != Some(&generation) {
            return false;
        }
        let removed = entry.1.swap_remove(&token).is_some();
        if entry.1.is_empty() {
            self.sets.remove(&k);
        }
        removed
    }

    /// Takes the member set out (to fan out without borrowing the reactor);
    /// give it back with [`Local::restore`].
    pub(crate) fn take(&mut self, topic: &Arc<Topic>) -> Option<Members> {
        self.sets.get_mut(&key(topic)).map(|e| std::mem::take(&mut e.1))
    }

    pub(crate) fn restore(&mut self, topic: &Arc<Topic>, members: Members) {
        let k = key(topic);
        if members.is_empty() {
            self.sets.remove(&k);
        } else if let Some(e) = self.sets.get_mut(&k) {
            // Members added meanwhile (none expected: fanning out does not
            // subscribe) are kept.
            let added = std::mem::replace(&mut e.1, members);
            e.1.extend(added);
        }
    }
}

/// One publish's frames, made once for every subscriber on every reactor:
/// the plain frame, and the permessage-deflate one (RSV1, no context
/// takeover, window 15), made by the first reactor that has a subscriber
/// that negotiated it (with that reactor's shared compressor). Every such
/// subscriber is sent the same bytes; one whose window is smaller than 15,
/// or a message compression does not shrink, gets the plain frame.
#[derive(Debug)]
pub(crate) struct Published {
    pub(crate) plain: Arc<[u8]>,
    binary: bool,
    compressed: std::sync::OnceLock<Option<Arc<[u8]>>>,
}

impl Published {
    pub(crate) fn new(binary: bool, plain: Arc<[u8]>) -> Published {
        Published { plain, binary, compressed: std::sync::OnceLock::new() }
    }

    /// A message every subscriber gets uncompressed (RSV1 clear), whatever
    /// it negotiated: a secret next to data an attacker chooses.
    pub(crate) fn never_compressed(binary: bool, plain: Arc<[u8]>) -> Published {
        Published { plain, binary, compressed: std::sync::OnceLock::from(None) }
    }

    /// The frame for a subscriber whose messages may be compressed with a
    /// window of `compress_bits` (0: never).
    pub(crate) fn frame_for(&self, compress_bits: u8) -> &Arc<[u8]> {
        if compress_bits != 15 {
            return &self.plain;
        }
        let c = self.compressed.get_or_init(|| {
            let payload = &self.plain[self.plain.len() - super::session::payload_len(&self.plain)..];
            super::session::encode_compressed(self.binary, payload, false, 15).map(Arc::from)
        });
        c.as_ref().unwrap_or(&self.plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_cleanup() {
        let reg = Registry::default();
        let t = reg.add_subscriber("room", 1, 2);
        let t2 = reg.add_subscriber("room", 0, 2);
        assert!(Arc::ptr_eq(&t, &t2));
        assert_eq!(reg.subscribers("room"), 2);
        assert_eq!(t.count_on(0), 1);
        assert_eq!(t.count_on(1), 1);
        reg.remove_subscriber(&t, 1);
        assert_eq!(reg.subscribers("room"), 1);
        reg.remove_subscriber(&t, 0);
        assert_eq!(reg.subscribers("room"), 0);
        assert!(reg.get("room").is_none(), "an empty topic leaves the registry");
        // a stale topic object does not remove a newer one of the same name
        let t3 = reg.add_subscriber("room", 0, 2);
        reg.remove_subscriber(&t, 0);
        assert!(reg.get("room").is_some_and(|x| Arc::ptr_eq(&x, &t3)));
    }

    #[test]
    fn local_members() {
        let reg = Registry::default();
        let t = reg.add_subscriber("a", 0, 1);
        let mut l = Local::default();
        assert!(l.insert(&t, 5, 1));
        assert!(!l.insert(&t, 5, 1), "duplicate");
        assert!(l.insert(&t, 7, 3));
        let m = l.take(&t).unwrap();
        assert_eq!(m.len(), 2);
        l.restore(&t, m);
        assert!(!l.remove(&t, 7, 4), "a later socket on the same token is not the member");
        assert!(l.remove(&t, 5, 1));
        assert!(!l.remove(&t, 5, 1));
        assert!(l.remove(&t, 7, 3));
        assert!(l.take(&t).is_none(), "an empty set is dropped");
    }
}
