//! Generation-checked handles: the ids handed out for connection-scoped
//! objects (whatever the protocols above make: requests, sockets, streams),
//! so that a stale handle is an error code, never a dangling pointer.
//!
//! A handle is a `u64`: generation (32 bits) | slot (28 bits) | shard (4 bits).
//! It is never 0. Sixteen shards, each a mutex-protected slab, keep reactor
//! threads and the host from contending on one lock. A released slot's
//! generation is bumped, so every old handle to it reads as released.

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
    free: Vec<u32>,
}

/// A table of `Arc<T>` addressed by generation-checked handles.
pub(crate) struct HandleTable<T> {
    shards: [Mutex<Shard<T>>; SHARDS],
    next_shard: std::sync::atomic::AtomicUsize,
}

impl<T> Default for HandleTable<T> {
    fn default() -> Self {
        HandleTable {
            shards: std::array::from_fn(|_| Mutex::new(Shard { slots: Vec::new(), free: Vec::new() })),
            next_shard: std::sync::atomic::AtomicUsize::new(0),
        }
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
        let slot = match shard.free.pop() {
            Some(s) => s as usize,
            None => {
                shard.slots.push(Slot { generation: 1, value: None });
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
        s.generation = s.generation.wrapping_add(1).max(1);
        shard.free.push(slot as u32);
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
