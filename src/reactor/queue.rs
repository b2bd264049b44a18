//! Cross-thread queues with batched, level-triggered wake-ups.
//!
//! A [`Notifier`] is an eventfd plus a `signaled` flag. Producers push under a
//! short lock and write the eventfd only when the flag goes from clear to set,
//! so a burst of N pushes costs one `write(2)`; the consumer drains the eventfd,
//! clears the flag, then swaps the whole queue out (in that order: see
//! [`Notifier::consume`]). The invariant the consumer relies on, and the one
//! `sq_loop_fd` promises to hosts: while a queue holds anything, the eventfd is
//! readable or about to be.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

use crate::net::sys::EventFd;

/// The wake-up side of one or more queues.
#[derive(Debug, Default)]
pub(crate) struct Notifier {
    fd: OnceLock<EventFd>,
    signaled: AtomicBool,
}

impl Notifier {
    /// Creates the eventfd (once) and leaves it readable, so whoever waits on
    /// it first looks at the queues straight away. Nothing is created before
    /// this is called: a loop that was never started owns no descriptor, which
    /// keeps `fork(2)` before start safe.
    pub(crate) fn init(&self) -> io::Result<&EventFd> {
        if let Some(fd) = self.fd.get() {
            return Ok(fd);
        }
        let fd = EventFd::new()?;
        let fd = match self.fd.set(fd) {
            Ok(()) => self.fd.get().expect("just set"),
            Err(_) => self.fd.get().expect("set by another thread"),
        };
        // Covers pushes that happened before the fd existed (they found no fd
        // to write) and pushes racing with this init.
        fd.signal();
        Ok(fd)
    }

    /// The eventfd, once [`Notifier::init`] has run.
    #[cfg(test)]
    pub(crate) fn fd(&self) -> Option<&EventFd> {
        self.fd.get()
    }

    /// Says "look at the queues". Cheap when already signaled.
    pub(crate) fn notify(&self) {
        if !self.signaled.swap(true, Ordering::AcqRel)
            && let Some(fd) = self.fd.get()
        {
            fd.signal();
        }
    }

    /// Called by the consumer before it takes the queues. Drains the eventfd
    /// first and clears the flag second: a producer whose flag swap comes after
    /// the clear writes the eventfd after the drain, so its item is never left
    /// behind without the fd being readable. The worst case is one spurious
    /// wake-up with nothing to do.
    pub(crate) fn consume(&self) {
        if let Some(fd) = self.fd.get() {
            fd.drain();
        }
        self.signaled.store(false, Ordering::SeqCst);
    }
}

/// A multi-producer queue drained in batches by one consumer. Items pushed by
/// one thread are taken in the order that thread pushed them.
pub(crate) struct Queue<T> {
    items: Mutex<Vec<T>>,
    /// When the queue last stopped being empty (a caller's clock, written
    /// under the lock by [`Queue::append_at`]); read by
    /// [`Queue::take_all_since`].
    since: AtomicU64,
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Queue { items: Mutex::new(Vec::new()), since: AtomicU64::new(0) }
    }
}

impl<T> Queue<T> {
    fn lock(&self) -> MutexGuard<'_, Vec<T>> {
        // A panic while holding this lock cannot leave the Vec inconsistent.
        self.items.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends an item; the caller then notifies the consumer's notifier.
    pub(crate) fn push(&self, item: T) {
        self.lock().push(item);
    }

    /// Appends several items under one lock (emptying `items`).
    pub(crate) fn append(&self, items: &mut Vec<T>) {
        self.lock().append(items);
    }

    /// [`Queue::append`], noting `now` (the caller's clock) as the time the
    /// queue stopped being empty when it was empty.
    pub(crate) fn append_at(&self, items: &mut Vec<T>, now: u64) {
        let mut q = self.lock();
        if q.is_empty() {
            self.since.store(now, Ordering::Relaxed);
        }
        q.append(items);
    }

    /// [`Queue::push`], noting the time as [`Queue::append_at`] does.
    pub(crate) fn push_at(&self, item: T, now: u64) {
        let mut q = self.lock();
        if q.is_empty() {
            self.since.store(now, Ordering::Relaxed);
        }
        q.push(item);
    }

    /// [`Queue::take_all`], returning the time the oldest item taken arrived
    /// (as given to [`Queue::append_at`]), or `None` when nothing was taken.
    pub(crate) fn take_all_since(&self, into: &mut Vec<T>) -> Option<u64> {
        let mut items = self.lock();
        if items.is_empty() {
            return None;
        }
        let since = self.since.load(Ordering::Relaxed);
        if into.is_empty() {
            std::mem::swap(&mut *items, into);
        } else {
            into.append(&mut items);
        }
        Some(since)
    }

    /// Moves every queued item into `into` (which should be empty), keeping
    /// the order.
    pub(crate) fn take_all(&self, into: &mut Vec<T>) {
        let mut items = self.lock();
        if into.is_empty() {
            std::mem::swap(&mut *items, into);
        } else {
            into.append(&mut items);
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn readable(n: &Notifier) -> bool {
        crate::net::sys::readable_within(n.fd().unwrap().raw(), 0)
    }

    #[test]
    fn take_all_since_gives_when_the_oldest_item_arrived() {
        let q: Queue<u32> = Queue::default();
        let mut out = Vec::new();
        assert_eq!(q.take_all_since(&mut out), None, "nothing to take");
        q.append_at(&mut vec![1, 2], 100);
        q.push_at(3, 250); // not the oldest: the queue was not empty
        assert_eq!(q.take_all_since(&mut out), Some(100));
        assert_eq!(out, [1, 2, 3]);
        q.push_at(4, 900); // empty again: this one is the oldest
        out.clear();
        assert_eq!(q.take_all_since(&mut out), Some(900));
        assert_eq!(out, [4]);
    }

    #[test]
    fn init_leaves_fd_readable_and_consume_clears_it() {
        let n = Notifier::default();
        n.notify(); // before init: no fd, nothing written, not lost
        n.init().unwrap();
        assert!(readable(&n));
        n.consume();
        assert!(!readable(&n));
        n.notify();
        n.notify();
        assert!(readable(&n));
        n.consume();
        assert!(!readable(&n));
    }

    #[test]
    fn no_lost_wakeup_under_contention() {
        // 4 producers push 20k items each (200 under Miri, which interprets
        // every step); the consumer only takes items after seeing the fd
        // readable. Every item must arrive, in per-thread order.
        const EACH: usize = if cfg!(miri) { 200 } else { 20_000 };
        let n = Arc::new(Notifier::default());
        n.init().unwrap();
        let q = Arc::new(Queue::<(usize, usize)>::default());
        let mut producers = vec![];
        for t in 0..4 {
            let (n, q) = (n.clone(), q.clone());
            producers.push(std::thread::spawn(move || {
                for i in 0..EACH {
                    q.push((t, i));
                    n.notify();
                }
            }));
        }
        let mut next = [0usize; 4];
        let mut got = 0;
        let mut batch = vec![];
        while got < 4 * EACH {
            // a 5 s bound, so a lost wake-up fails the test
            let r = crate::net::sys::readable_within(n.fd().unwrap().raw(), 5000);
            assert!(r, "lost wake-up with {got} items received");
            n.consume();
            q.take_all(&mut batch);
            for (t, i) in batch.drain(..) {
                assert_eq!(i, next[t], "FIFO per producer");
                next[t] += 1;
                got += 1;
            }
        }
        for p in producers {
            p.join().unwrap();
        }
    }

    /// Not a correctness test: the figures behind keeping this queue rather
    /// than a crossbeam channel (docs/ARCHITECTURE.md, Threads, Decisions).
    /// 1 and 4 producers push 1,000,000 boxed closures in all to one consumer
    /// that waits on the eventfd and runs them in batches; both sides use the
    /// same Notifier. Run with
    /// `cargo test --release --lib queue_against_channel -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn queue_against_channel() {
        type Job = Box<dyn FnOnce(&mut u64) + Send>;
        const ITEMS: usize = 1_000_000;
        fn run(producers: usize, channel: bool) -> f64 {
            let n = Arc::new(Notifier::default());
            n.init().unwrap();
            n.consume();
            let q = Arc::new(Queue::<Job>::default());
            let (tx, rx) = crossbeam_channel::unbounded::<Job>();
            let each = ITEMS / producers;
            let start = std::time::Instant::now();
            let threads: Vec<_> = (0..producers)
                .map(|_| {
                    let (n, q, tx) = (n.clone(), q.clone(), tx.clone());
                    std::thread::spawn(move || {
                        for i in 0..each {
                            let job: Job = Box::new(move |sum| *sum += i as u64);
                            if channel {
                                tx.send(job).unwrap();
                            } else {
                                q.push(job);
                            }
                            n.notify();
                        }
                    })
                })
                .collect();
            let (mut sum, mut got, mut batch) = (0u64, 0, Vec::new());
            while got < each * producers {
                let mut p = libc::pollfd { fd: n.fd().unwrap().raw(), events: libc::POLLIN, revents: 0 };
                // SAFETY: one valid pollfd; 5 s bound so a lost wake-up fails the run.
                assert_eq!(unsafe { libc::poll(&mut p, 1, 5000) }, 1, "lost wake-up");
                n.consume();
                if channel {
                    batch.extend(rx.try_iter());
                } else {
                    q.take_all(&mut batch);
                }
                got += batch.len();
                batch.drain(..).for_each(|job| job(&mut sum));
            }
            let ns = start.elapsed().as_nanos() as f64 / (each * producers) as f64;
            threads.into_iter().for_each(|t| t.join().unwrap());
            assert_eq!(sum, producers as u64 * (each as u64 * (each as u64 - 1) / 2));
            ns
        }
        for producers in [1, 4] {
            let mut runs = [vec![], vec![]];
            for _ in 0..3 {
                // alternated, so drift in the machine's load hits both alike
                runs[0].push(run(producers, false));
                runs[1].push(run(producers, true));
            }
            for (name, mut r) in ["Queue + Notifier", "crossbeam unbounded + Notifier"].into_iter().zip(runs) {
                r.sort_by(f64::total_cmp);
                println!("{producers} producer(s), {name}: {:.1} ns/item (runs {r:.1?})", r[1]);
            }
        }
    }
}
