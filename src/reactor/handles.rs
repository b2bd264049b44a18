//! Generation-checked handles: the ids handed out for connection-scoped
//! objects (whatever the protocols above make: requests, sockets, streams),
//! so that a stale handle is an error code, never a dangling pointer.
//!
//! A handle is a `u64`: generation (32 bits) | slot (28 bits) | shard (4 bits).
//! It is never 0. Sixteen shards, each a mutex-protected slab, keep reactor
//! threads and the host from contending on one lock. A released slot's
//! generation is bumped, so every old handle to it reads as released.
//!
//! Handles never alias: freed slots are reused first-in first-out (a slot
//! waits behind every other free slot of its shard before it comes back),
//! and a slot released at generation `u32::MAX` is retired: its generation
//! stays, it never goes back on the free list, so no later object can be
//! reached through a handle that once named it. A retired slot costs its
//! 16 bytes for the life of the table; at one reuse per request on one slot
//! and 130k requests per second, a slot retires every nine hours.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

const SHARDS: usize = 16;
const SLOT_BITS: u32 = 28;

/// Why a handle did not resolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stale {
    /// The object was released (finished, closed): the handle is stale.
    Released,
    /// No object ever had this handle.
    Invalid,
}

struct Slot<T> {
    generation: u32,
    value: Option<Arc<T>>,
}

struct Shard<T> {
    slots: Vec<Slot<T>>,
    /// Released slots, oldest release first.
    free: VecDeque<u32>,
}

/// A table of `Arc<T>` addressed by generation-checked handles.
pub(crate) struct HandleTable<T> {
    shards: [Mutex<Shard<T>>; SHARDS],
    next_shard: std::sync::atomic::AtomicUsize,
    /// The generation a new slot starts at: 1, but for the wrap tests.
    first_generation: u32,
}

impl<T> Default for HandleTable<T> {
    fn default() -> Self {
        Self::starting_at(1)
    }
}

fn split(handle: u64) -> Option<(usize, usize, u32)> {
    if handle == 0 {
        return None;
    }
    let shard = (handle & (SHARDS as u64 - 1)) as usize;
    let slot = ((handle >> 4) & ((1 << SLOT_BITS) - 1)) as usize;
    let generation = (handle >> 32) as u32;
    Some((shard, slot, generation))
}

impl<T> HandleTable<T> {
    fn starting_at(first_generation: u32) -> Self {
        HandleTable {
            shards: std::array::from_fn(|_| Mutex::new(Shard { slots: Vec::new(), free: VecDeque::new() })),
            next_shard: std::sync::atomic::AtomicUsize::new(0),
            first_generation: first_generation.max(1),
        }
    }

    /// A table whose new slots start at `generation`, so a test reaches the
    /// end of a slot's generations in a few releases.
    #[cfg(test)]
    fn with_first_generation(generation: u32) -> Self {
        Self::starting_at(generation)
    }

    fn shard(&self, i: usize) -> MutexGuard<'_, Shard<T>> {
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores `value`; returns its handle. `hint` spreads objects over shards
    /// (e.g. the reactor index), so one reactor mostly meets its own lock.
    pub(crate) fn insert(&self, value: Arc<T>, hint: usize) -> u64 {
        let si = if hint == usize::MAX {
            self.next_shard.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % SHARDS
        } else {
            hint % SHARDS
        };
        let mut shard = self.shard(si);
        let first_generation = self.first_generation;
        let slot = match shard.free.pop_front() {
            Some(s) => s as usize,
            None => {
                shard.slots.push(Slot { generation: first_generation, value: None });
                shard.slots.len() - 1
            }
        };
        assert!(slot < (1 << SLOT_BITS), "too many live handles");
        shard.slots[slot].value = Some(value);
        let generation = shard.slots[slot].generation;
        ((generation as u64) << 32) | ((slot as u64) << 4) | si as u64
    }

    /// The object behind a handle.
    pub(crate) fn get(&self, handle: u64) -> Result<Arc<T>, Stale> {
        let (si, slot, generation) = split(handle).ok_or(Stale::Invalid)?;
        let shard = self.shard(si);
        let s = shard.slots.get(slot).ok_or(Stale::Invalid)?;
        if s.generation == generation {
            s.value.clone().ok_or(Stale::Released)
        } else if generation < s.generation && generation != 0 {
            Err(Stale::Released)
        } else {
            Err(Stale::Invalid)
        }
    }

    /// Releases a handle; later lookups say [`Stale::Released`].
    pub(crate) fn remove(&self, handle: u64) -> Option<Arc<T>> {
        let (si, slot, generation) = split(handle)?;
        let mut shard = self.shard(si);
        let s = shard.slots.get_mut(slot)?;
        if s.generation != generation {
            return None;
        }
        let v = s.value.take()?;
        // The last generation retires the slot: bumping it would wrap to a
        // generation an old handle may still carry.
        if let Some(next) = s.generation.checked_add(1) {
            s.generation = next;
            shard.free.push_back(slot as u32);
        }
        Some(v)
    }

    /// Every live object (for shutdown sweeps).
    pub(crate) fn all(&self) -> Vec<Arc<T>> {
        let mut out = Vec::new();
        for i in 0..SHARDS {
            out.extend(self.shard(i).slots.iter().filter_map(|s| s.value.clone()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_get_remove_and_staleness() {
        let t: HandleTable<u32> = HandleTable::default();
        let a = t.insert(Arc::new(1), 0);
        let b = t.insert(Arc::new(2), 0);
        let c = t.insert(Arc::new(3), 5);
        assert_ne!(a, 0);
        assert_eq!(*t.get(a).unwrap(), 1);
        assert_eq!(*t.get(b).unwrap(), 2);
        assert_eq!(*t.get(c).unwrap(), 3);
        assert_eq!(*t.remove(a).unwrap(), 1);
        assert_eq!(t.get(a).unwrap_err(), Stale::Released);
        assert!(t.remove(a).is_none(), "double release is harmless");
        let d = t.insert(Arc::new(4), 0); // reuses a's slot
        assert_ne!(d, a);
        assert_eq!(t.get(a).unwrap_err(), Stale::Released);
        assert_eq!(*t.get(d).unwrap(), 4);
        assert_eq!(t.get(0).unwrap_err(), Stale::Invalid);
        assert_eq!(t.get(0xffff_ffff_ffff_fff0).unwrap_err(), Stale::Invalid);
        assert_eq!(t.get(d + (1 << 32)).unwrap_err(), Stale::Invalid, "a future generation");
    }

    #[test]
    fn freed_slots_are_reused_oldest_first() {
        let t: HandleTable<u32> = HandleTable::default();
        let a = t.insert(Arc::new(1), 0);
        let b = t.insert(Arc::new(2), 0);
        let slot = |h: u64| split(h).unwrap().1;
        t.remove(a).unwrap();
        t.remove(b).unwrap();
        let c = t.insert(Arc::new(3), 0);
        let d = t.insert(Arc::new(4), 0);
        assert_eq!(slot(c), slot(a), "the slot freed first comes back first");
        assert_eq!(slot(d), slot(b));
        // released again in the other order, they come back in that order
        t.remove(d).unwrap();
        t.remove(c).unwrap();
        assert_eq!(slot(t.insert(Arc::new(5), 0)), slot(b));
    }

    #[test]
    fn a_slot_at_its_last_generation_retires() {
        let t: HandleTable<u32> = HandleTable::with_first_generation(u32::MAX - 2);
        let mut old = vec![];
        // one slot, released and reused until its generations run out
        for i in 0..3 {
            let h = t.insert(Arc::new(i), 0);
            assert_eq!(split(h).unwrap().1, 0, "the one freed slot is reused");
            assert_eq!(split(h).unwrap().2, u32::MAX - 2 + i);
            assert_eq!(*t.remove(h).unwrap(), i);
            old.push(h);
        }
        // released at u32::MAX, the slot is retired: the next object gets a
        // new slot, and no generation of the old one names it
        let n = t.insert(Arc::new(7), 0);
        assert_eq!(split(n).unwrap().1, 1, "a retired slot is not reused");
        assert_eq!(*t.get(n).unwrap(), 7);
        for &h in &old {
            assert_eq!(t.get(h).unwrap_err(), Stale::Released, "stale handle {h:#x} stays stale");
            assert!(t.remove(h).is_none());
        }
        // what a wrapped generation would have been: an old one, still released
        let slot0 = old[0] & 0xffff_ffff;
        assert_eq!(t.get((1 << 32) | slot0).unwrap_err(), Stale::Released);
        assert_eq!(t.get(slot0).unwrap_err(), Stale::Invalid, "generation 0 is never handed out");
        // many more objects through the shard: none lands on the retired slot
        for i in 0..100 {
            let h = t.insert(Arc::new(100 + i), 0);
            assert_ne!(split(h).unwrap().1, 0);
            for &o in &old {
                assert!(t.get(o).is_err());
            }
            t.remove(h).unwrap();
        }
    }

    #[test]
    fn concurrent_use() {
        // fewer rounds under Miri, which interprets every step
        const ROUNDS: usize = if cfg!(miri) { 50 } else { 10_000 };
        let t = Arc::new(HandleTable::<usize>::default());
        let threads: Vec<_> = (0..8)
            .map(|k| {
                let t = t.clone();
                std::thread::spawn(move || {
                    for i in 0..ROUNDS {
                        let h = t.insert(Arc::new(i), k);
                        assert_eq!(*t.get(h).unwrap(), i);
                        assert_eq!(*t.remove(h).unwrap(), i);
                        assert_eq!(t.get(h).unwrap_err(), Stale::Released);
                    }
                })
            })
            .collect();
        for th in threads {
            th.join().unwrap();
        }
        assert!(t.all().is_empty());
    }
}
