//! A timer queue that never reads the clock: every call takes `now` (in
//! nanoseconds since an origin the caller chooses), so its ordering and
//! rescheduling rules are tested with a virtual clock.
//!
//! Structure: a binary min-heap of `(deadline, seq, slot)` plus a slab of
//! timer entries addressed by generation-checked ids. Cancelling is O(1): it
//! frees the slab slot and leaves the heap entry behind as garbage, skipped
//! when it surfaces; once garbage outnumbers live entries the heap is rebuilt
//! (amortised O(1) per cancel). Insert is O(log n). A million pending timers
//! cost ~24 bytes of heap and one slab slot each.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// Identifies a timer. Never 0; a fired (one-shot) or cancelled timer's id is
/// never handed out again: freed slots are reused oldest first, and a slot
/// whose 32-bit generation would wrap is retired instead of reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimerId(pub(crate) u64);

impl TimerId {
    /// The id as a plain integer (what the C ABI hands out).
    pub fn as_u64(self) -> u64 {
        self.0
    }

    /// Rebuilds an id from [`TimerId::as_u64`]'s value.
    pub fn from_u64(raw: u64) -> TimerId {
        TimerId(raw)
    }

    fn new(slot: u32, generation: u32) -> TimerId {
        TimerId(((generation as u64) << 32) | (slot as u64 + 1))
    }

    /// (slot, generation), or None for a value no queue ever produced.
    fn parts(self) -> Option<(u32, u32)> {
        let low = (self.0 & 0xffff_ffff) as u32;
        if low == 0 {
            return None;
        }
        Some((low - 1, (self.0 >> 32) as u32))
    }
}

/// Why a cancel failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CancelError {
    /// The timer already fired (one-shot) or was already cancelled.
    AlreadyDone,
    /// No timer ever had this id.
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct HeapEntry {
    deadline: u64,
    seq: u64,
    slot: u32,
}

struct Entry<T> {
    deadline: u64,
    /// seq of this timer's one live heap entry.
    seq: u64,
    /// Some for a periodic timer.
    interval: Option<u64>,
    /// None while a fired periodic timer's payload is out being run.
    payload: Option<T>,
}

struct Slot<T> {
    generation: u32,
    entry: Option<Entry<T>>,
}

/// A timer that came due, taken out of the queue to be run.
pub(crate) struct Fired<T> {
    pub(crate) id: TimerId,
    pub(crate) payload: T,
    /// A periodic timer stays scheduled; hand its payload back with
    /// [`TimerQueue::restore`] after running it.
    pub(crate) periodic: bool,
}

/// The timer queue. `T` is what a timer carries (its callback).
pub(crate) struct TimerQueue<T> {
    heap: BinaryHeap<Reverse<HeapEntry>>,
    slots: Vec<Slot<T>>,
    /// Freed slots, oldest first. A slot released at generation `u32::MAX`
    /// is retired: never put back here.
    free: VecDeque<u32>,
    live: usize,
    next_seq: u64,
    /// The generation a new slot starts at: 1, but for the wrap test.
    first_generation: u32,
}

impl<T> Default for TimerQueue<T> {
    fn default() -> Self {
        TimerQueue { heap: BinaryHeap::new(), slots: Vec::new(), free: VecDeque::new(), live: 0, next_seq: 0, first_generation: 1 }
    }
}

impl<T> TimerQueue<T> {
    /// A queue whose new slots start at `generation`, so a test reaches the
    /// end of a slot's generations in a few timers.
    #[cfg(test)]
    fn with_first_generation(generation: u32) -> Self {
        TimerQueue { first_generation: generation.max(1), ..Self::default() }
    }

    /// Number of pending timers.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// The sequence number the next insert will get. Pass it to
    /// [`TimerQueue::pop_due`] as `seq_limit` to fire only timers that existed
    /// before a pass began.
    pub(crate) fn seq(&self) -> u64 {
        self.next_seq
    }

    /// Schedules `payload` at `now + delay`, repeating every `interval` if
    /// given (an interval of 0 is the caller's to refuse).
    pub(crate) fn insert(&mut self, now: u64, delay: u64, interval: Option<u64>, payload: T) -> TimerId {
        let deadline = now.saturating_add(delay);
        let seq = self.bump_seq();
        let entry = Entry { deadline, seq, interval, payload: Some(payload) };
        let slot = match self.free.pop_front() {
            Some(s) => {
                self.slots[s as usize].entry = Some(entry);
                s
            }
            None => {
                let s = u32::try_from(self.slots.len()).expect("more than 2^32 timers");
                self.slots.push(Slot { generation: self.first_generation, entry: Some(entry) });
                s
            }
        };
        self.live += 1;
        self.heap.push(Reverse(HeapEntry { deadline, seq, slot }));
        TimerId::new(slot, self.slots[slot as usize].generation)
    }

    /// Cancels a pending timer and returns its payload (None when a periodic
    /// timer is cancelled from inside its own run: the payload is out, and
    /// [`TimerQueue::restore`] will drop it).
    pub(crate) fn cancel(&mut self, id: TimerId) -> Result<Option<T>, CancelError> {
        let (slot, generation) = id.parts().ok_or(CancelError::Unknown)?;
        let s = self.slots.get_mut(slot as usize).ok_or(CancelError::Unknown)?;
        if s.generation != generation {
            return Err(if generation < s.generation { CancelError::AlreadyDone } else { CancelError::Unknown });
        }
        let entry = s.entry.take().ok_or(CancelError::AlreadyDone)?;
        self.release(slot);
        self.maybe_compact();
        Ok(entry.payload)
    }

    /// The earliest deadline among pending timers.
    pub(crate) fn next_deadline(&mut self) -> Option<u64> {
        self.skip_garbage();
        self.heap.peek().map(|Reverse(h)| h.deadline)
    }

    /// Takes out the earliest timer due at `now` that was inserted (or last
    /// rescheduled) before `seq_limit`. A one-shot timer is gone from the queue
    /// (cancelling it now says AlreadyDone); a periodic one is rescheduled
    /// first, at the next multiple of its interval after `now` (missed beats
    /// are skipped, not bunched up).
    pub(crate) fn pop_due(&mut self, now: u64, seq_limit: u64) -> Option<Fired<T>> {
        self.skip_garbage();
        let Reverse(top) = *self.heap.peek()?;
        if top.deadline > now || top.seq >= seq_limit {
            return None;
        }
        self.heap.pop();
        let slot = top.slot;
        let generation = self.slots[slot as usize].generation;
        let id = TimerId::new(slot, generation);
        let interval = self.slots[slot as usize].entry.as_ref().and_then(|e| e.interval);
        match interval {
            None => {
                let entry = self.slots[slot as usize].entry.take().expect("live heap entry has an entry");
                self.release(slot);
                let payload = entry.payload.expect("one-shot payload present");
                Some(Fired { id, payload, periodic: false })
            }
            Some(interval) => {
                let seq = self.bump_seq();
                let e = self.slots[slot as usize].entry.as_mut().expect("live heap entry has an entry");
                let behind = now.saturating_sub(e.deadline) / interval;
                e.deadline = e.deadline.saturating_add((behind + 1).saturating_mul(interval));
                e.seq = seq;
                let deadline = e.deadline;
                let payload = e.payload.take();
                self.heap.push(Reverse(HeapEntry { deadline, seq, slot }));
                // A payload that is out being run cannot come due again within
                // one pass (seq_limit); if it ever did, the timer stays scheduled.
                payload.map(|payload| Fired { id, payload, periodic: true })
            }
        }
    }

    /// Hands a periodic timer's payload back after its run. Returns it back to
    /// the caller (to drop outside any lock) when the timer was cancelled
    /// meanwhile.
    pub(crate) fn restore(&mut self, id: TimerId, payload: T) -> Option<T> {
        let Some((slot, generation)) = id.parts() else { return Some(payload) };
        match self.slots.get_mut(slot as usize) {
            Some(s) if s.generation == generation => match s.entry.as_mut() {
                Some(e) if e.payload.is_none() => {
                    e.payload = Some(payload);
                    None
                }
                _ => Some(payload),
            },
            _ => Some(payload),
        }
    }

    /// Removes every timer, returning their payloads.
    pub(crate) fn drain(&mut self) -> Vec<T> {
        let mut out = Vec::with_capacity(self.live);
        for slot in 0..self.slots.len() as u32 {
            if let Some(e) = self.slots[slot as usize].entry.take() {
                self.free_slot(slot);
                out.extend(e.payload);
            }
        }
        self.heap.clear();
        self.live = 0;
        out
    }

    fn bump_seq(&mut self) -> u64 {
        let s = self.next_seq;
        self.next_seq += 1;
        s
    }

    fn release(&mut self, slot: u32) {
        self.free_slot(slot);
        self.live -= 1;
    }

    /// A new generation for an emptied slot, which joins the end of the free
    /// list; at the last generation the slot retires instead (bumping it would
    /// wrap to a generation an old id may still carry).
    fn free_slot(&mut self, slot: u32) {
        let s = &mut self.slots[slot as usize];
        if let Some(next) = s.generation.checked_add(1) {
            s.generation = next;
            self.free.push_back(slot);
        }
    }

    fn is_live(&self, h: &HeapEntry) -> bool {
        matches!(&self.slots[h.slot as usize].entry, Some(e) if e.seq == h.seq)
    }

    fn skip_garbage(&mut self) {
        while let Some(Reverse(top)) = self.heap.peek() {
            if self.is_live(top) {
                break;
            }
            self.heap.pop();
        }
    }

    fn maybe_compact(&mut self) {
        if self.heap.len() > 1024 && self.heap.len() > 2 * self.live {
            let old = std::mem::take(&mut self.heap).into_vec();
            let kept: Vec<_> = old.into_iter().filter(|Reverse(h)| self.is_live(h)).collect();
            self.heap = BinaryHeap::from(kept);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn fire_all(q: &mut TimerQueue<u32>, now: u64) -> Vec<u32> {
        let limit = q.seq();
        let mut out = vec![];
        while let Some(f) = q.pop_due(now, limit) {
            out.push(f.payload);
            if f.periodic {
                assert!(q.restore(f.id, f.payload).is_none());
            }
        }
        out
    }

    #[test]
    fn fires_in_deadline_order_then_insertion_order() {
        let mut q = TimerQueue::default();
        q.insert(0, 30 * MS, None, 3);
        q.insert(0, 10 * MS, None, 1);
        q.insert(0, 20 * MS, None, 2);
        q.insert(0, 10 * MS, None, 11);
        assert_eq!(q.next_deadline(), Some(10 * MS));
        assert_eq!(fire_all(&mut q, 10 * MS - 1), Vec::<u32>::new(), "one ns early fires nothing");
        assert_eq!(fire_all(&mut q, 10 * MS), vec![1, 11]);
        assert_eq!(fire_all(&mut q, 100 * MS), vec![2, 3]);
        assert_eq!(q.len(), 0);
        assert_eq!(q.next_deadline(), None);
    }

    #[test]
    fn cancel_rules() {
        let mut q = TimerQueue::default();
        let a = q.insert(0, MS, None, 1);
        let b = q.insert(0, MS, None, 2);
        assert_eq!(q.cancel(a), Ok(Some(1)));
        assert_eq!(q.cancel(a), Err(CancelError::AlreadyDone));
        assert_eq!(fire_all(&mut q, MS), vec![2]);
        assert_eq!(q.cancel(b), Err(CancelError::AlreadyDone), "fired one-shot");
        assert_eq!(q.cancel(TimerId(0)), Err(CancelError::Unknown));
        assert_eq!(q.cancel(TimerId(12345)), Err(CancelError::Unknown));
        // a reused slot gets a new generation: the old id stays dead
        let c = q.insert(0, MS, None, 3);
        assert_ne!(c, a);
        assert_ne!(c, b);
        assert_eq!(q.cancel(a), Err(CancelError::AlreadyDone));
        let forged = TimerId::new(c.parts().unwrap().0, c.parts().unwrap().1 + 5);
        assert_eq!(q.cancel(forged), Err(CancelError::Unknown));
        assert_eq!(q.cancel(c), Ok(Some(3)));
    }

    #[test]
    fn freed_slots_are_reused_oldest_first() {
        let mut q = TimerQueue::default();
        let a = q.insert(0, MS, None, 1);
        let b = q.insert(0, MS, None, 2);
        assert_eq!(q.cancel(a), Ok(Some(1)));
        assert_eq!(q.cancel(b), Ok(Some(2)));
        let c = q.insert(0, MS, None, 3);
        let d = q.insert(0, MS, None, 4);
        assert_eq!(c.parts().unwrap().0, a.parts().unwrap().0, "the slot freed first comes back first");
        assert_eq!(d.parts().unwrap().0, b.parts().unwrap().0);
    }

    #[test]
    fn a_slot_at_its_last_generation_retires() {
        let mut q = TimerQueue::with_first_generation(u32::MAX - 2);
        let mut old = vec![];
        // one slot, freed and reused (cancelled, fired, drained) until its
        // generations run out
        let a = q.insert(0, MS, None, 1);
        assert_eq!(q.cancel(a), Ok(Some(1)));
        let b = q.insert(0, MS, None, 2);
        assert_eq!(fire_all(&mut q, MS), vec![2]);
        let c = q.insert(0, MS, None, 3);
        assert_eq!(q.drain(), vec![3]);
        old.extend([a, b, c]);
        for id in &old {
            assert_eq!(id.parts().unwrap().0, 0, "the one freed slot was reused");
        }
        assert_eq!(c.parts().unwrap().1, u32::MAX);
        // freed at u32::MAX, slot 0 is retired: the next timer gets a new
        // slot, and no old id reaches it
        let n = q.insert(0, MS, None, 9);
        assert_eq!(n.parts().unwrap().0, 1, "a retired slot is not reused");
        for &id in &old {
            assert_eq!(q.cancel(id), Err(CancelError::AlreadyDone), "stale id {id:?} stays stale");
        }
        // what a wrapped generation would have been is an old one, still done
        assert_eq!(q.cancel(TimerId::new(0, 1)), Err(CancelError::AlreadyDone));
        assert_eq!(q.len(), 1);
        assert_eq!(fire_all(&mut q, MS), vec![9]);
        for i in 0..50 {
            let t = q.insert(0, MS, None, 100 + i);
            assert_ne!(t.parts().unwrap().0, 0);
            assert_eq!(q.cancel(t), Ok(Some(100 + i)));
        }
    }

    #[test]
    fn periodic_keeps_its_rate_and_skips_missed_beats() {
        let mut q = TimerQueue::default();
        let id = q.insert(0, 10 * MS, Some(10 * MS), 7);
        assert_eq!(fire_all(&mut q, 10 * MS), vec![7]);
        assert_eq!(q.next_deadline(), Some(20 * MS));
        // late by 3 ms: the next beat stays on the 10 ms grid
        assert_eq!(fire_all(&mut q, 23 * MS), vec![7]);
        assert_eq!(q.next_deadline(), Some(30 * MS));
        // very late: one run, not a burst of catch-up runs
        assert_eq!(fire_all(&mut q, 95 * MS), vec![7]);
        assert_eq!(q.next_deadline(), Some(100 * MS));
        assert_eq!(q.cancel(id), Ok(Some(7)));
        assert_eq!(fire_all(&mut q, 1000 * MS), Vec::<u32>::new());
    }

    #[test]
    fn periodic_cancelled_during_its_own_run() {
        let mut q = TimerQueue::default();
        let id = q.insert(0, MS, Some(MS), 9);
        let f = q.pop_due(MS, q.seq()).unwrap();
        assert!(f.periodic);
        assert_eq!(q.cancel(id), Ok(None), "payload is out being run");
        assert_eq!(q.restore(f.id, f.payload), Some(9), "handed back to be dropped");
        assert_eq!(q.len(), 0);
        assert_eq!(q.next_deadline(), None);
    }

    #[test]
    fn timers_added_during_a_pass_wait_for_the_next() {
        let mut q = TimerQueue::default();
        q.insert(0, 0, None, 1);
        let limit = q.seq();
        let f = q.pop_due(0, limit).unwrap();
        assert_eq!(f.payload, 1);
        q.insert(0, 0, None, 2); // e.g. call_later(0) from inside the callback
        assert!(q.pop_due(0, limit).is_none());
        assert_eq!(fire_all(&mut q, 0), vec![2]);
        // a zero-interval-like periodic cannot spin within one pass either
        q.insert(0, 1, Some(1), 3);
        let limit = q.seq();
        let f = q.pop_due(5, limit).unwrap();
        q.restore(f.id, f.payload);
        assert!(q.pop_due(5, limit).is_none());
    }

    #[test]
    fn million_timers_insert_cancel_and_compaction() {
        // Miri interprets every step: it runs a smaller count, still past
        // the 1024 entries at which compaction starts.
        const N: u32 = if cfg!(miri) { 4_000 } else { 1_000_000 };
        let mut q = TimerQueue::default();
        let mut ids = Vec::with_capacity(N as usize);
        for i in 0..N {
            ids.push(q.insert(0, (i as u64 % 5000) * MS + MS, None, i));
        }
        assert_eq!(q.len(), N as usize);
        // cancel every other one; the heap gets compacted along the way
        for id in ids.iter().step_by(2) {
            q.cancel(*id).unwrap();
        }
        assert_eq!(q.len(), N as usize / 2);
        assert!(q.heap.len() <= 2 * q.len() + 1024, "garbage is bounded: {}", q.heap.len());
        // insert+cancel churn at 500k pending does not grow the heap without bound
        for i in 0..N / 5 {
            let id = q.insert(0, 10 * MS, None, i);
            q.cancel(id).unwrap();
        }
        assert!(q.heap.len() <= 2 * q.len() + 1024);
        let fired = fire_all(&mut q, u64::MAX);
        assert_eq!(fired.len(), N as usize / 2);
        assert!(fired.iter().all(|v| v % 2 == 1));
        // deadlines were non-decreasing in fire order
        let mut last = 0;
        for v in fired {
            let d = (v as u64 % 5000) * MS + MS;
            assert!(d >= last);
            last = d;
        }
    }

    #[test]
    fn drain_returns_everything() {
        let mut q = TimerQueue::default();
        let a = q.insert(0, MS, None, 1);
        q.insert(0, MS, Some(MS), 2);
        let mut all = q.drain();
        all.sort();
        assert_eq!(all, vec![1, 2]);
        assert_eq!(q.len(), 0);
        assert_eq!(q.cancel(a), Err(CancelError::AlreadyDone));
    }
}
