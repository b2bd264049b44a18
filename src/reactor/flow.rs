//! Input flow control between a reactor and the host thread: one gate type
//! for every kind of connection that hands input to the host.
//!
//! The reactor counts what it hands over and stops reading while more than
//! the high-water mark waits to be consumed (the kernel then holds the
//! input and the transport slows the peer); the host counts what its callbacks took
//! and asks the reactor to read again once the backlog is below the
//! low-water mark.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Handed-over bytes above which reading pauses, and below which it resumes
/// (the defaults every connection kind uses).
pub(crate) const HIGH_WATER: usize = 1 << 20;
pub(crate) const LOW_WATER: usize = 256 << 10;

/// The smallest high mark a host may set: a few events' worth.
pub(crate) const MIN_HIGH_WATER: usize = 4 * EVENT_COST;

/// What one event (a message, a chunk, a ping, a queued frame) counts for
/// beyond its bytes, in every gate and limit: its task, closure, allocation
/// and the work of handing it over. Counting it makes a flood of empty
/// messages (or pings, or tiny chunks) pause reading like a flood of bytes:
/// at most `HIGH_WATER / EVENT_COST` (1024) events wait per connection.
/// Not smaller: the events a connection may queue for the host all wait
/// ahead of every other connection's (docs/ARCHITECTURE.md, "What a peer
/// can make us hold").
pub(crate) const EVENT_COST: usize = 1024;

/// The cost of handing over one event carrying `bytes` bytes.
pub(crate) const fn cost(bytes: usize) -> usize {
    bytes.saturating_add(EVENT_COST)
}

/// A gate's marks: reading pauses while more than `high` waits for the
/// consumer and resumes once less than `low` does. Per server
/// (`sq_server_set_flow_limits`); `low <= high`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Marks {
    pub(crate) high: usize,
    pub(crate) low: usize,
}

impl Default for Marks {
    fn default() -> Self {
        Marks { high: HIGH_WATER, low: LOW_WATER }
    }
}

/// A backlog counter shared by a reactor (the producer) and the host (the
/// consumer), with the pause flag that makes exactly one side resume.
#[derive(Debug)]
pub(crate) struct FlowGate {
    backlog: AtomicUsize,
    paused: AtomicBool,
    high: usize,
    low: usize,
}

impl Default for FlowGate {
    fn default() -> Self {
        FlowGate::new(HIGH_WATER, LOW_WATER)
    }
}

impl FlowGate {
    /// A gate that pauses above `high` and resumes below `low`.
    pub(crate) const fn new(high: usize, low: usize) -> FlowGate {
        FlowGate { backlog: AtomicUsize::new(0), paused: AtomicBool::new(false), high, low }
    }

    /// A gate with `marks`.
    pub(crate) const fn with_marks(marks: Marks) -> FlowGate {
        FlowGate::new(marks.high, marks.low)
    }

    /// Reactor side: `n` more bytes were handed to the host. True: stop
    /// reading now; [`FlowGate::taken`] will say when to read again.
    pub(crate) fn handed(&self, n: usize) -> bool {
        // SeqCst here and in `taken`: the store of `paused` must not pass
        // the re-check of `backlog` below, nor the host's decrement pass its
        // look at `paused`; otherwise both sides could miss the resume.
        if self.backlog.fetch_add(n, Ordering::SeqCst) + n <= self.high {
            return false;
        }
        self.paused.store(true, Ordering::SeqCst);
        // The host may have caught up meanwhile: re-check once.
        !(self.backlog.load(Ordering::SeqCst) < self.low && self.paused.swap(false, Ordering::SeqCst))
    }

    /// Host side: `n` handed bytes were consumed. True, once per pause: the
    /// reader paused and must be told to read again.
    pub(crate) fn taken(&self, n: usize) -> bool {
        let left = self.backlog.fetch_sub(n, Ordering::SeqCst).saturating_sub(n);
        left < self.low && self.paused.swap(false, Ordering::SeqCst)
    }

    /// Bytes handed over and not yet consumed.
    pub(crate) fn backlog(&self) -> usize {
        self.backlog.load(Ordering::Relaxed)
    }

    /// How much more may be handed over before reading pauses (0 when at
    /// or above the mark).
    pub(crate) fn room(&self) -> usize {
        (self.high + 1).saturating_sub(self.backlog.load(Ordering::SeqCst))
    }

    /// Whether the reader is paused by this gate now.
    #[cfg(test)]
    fn is_paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::FlowGate;

    #[test]
    fn pauses_above_high_and_resumes_below_low_once() {
        let g = FlowGate::new(100, 40);
        assert!(!g.handed(60));
        assert!(!g.handed(40), "at the mark is not above it");
        assert!(g.handed(1), "above the mark: pause");
        assert!(g.is_paused());
        assert!(!g.taken(50), "51 left: not below the low mark yet");
        assert!(g.taken(20), "31 left: resume");
        assert!(!g.taken(31), "one resume per pause");
        assert_eq!(g.backlog(), 0);
    }

    #[test]
    fn a_host_that_caught_up_during_the_pause_leaves_reading_on() {
        let g = FlowGate::new(10, 5);
        // What `handed` re-checks: the backlog fell below low between its
        // increment and its store of the flag.
        assert!(g.handed(11));
        assert!(g.taken(11));
        assert!(!g.is_paused());
        assert!(!g.handed(3));
    }

    #[test]
    fn producer_and_consumer_never_both_miss_the_resume() {
        // A producer pauses whenever told to and waits for the resume; the
        // consumer takes everything. A lost resume would hang the producer.
        // a smaller load under Miri, which interprets every step
        let (runs, sends) = if cfg!(miri) { (2, 200) } else { (20, 10_000) };
        for _ in 0..runs {
            let g = Arc::new(FlowGate::new(64, 16));
            let (tx, rx) = std::sync::mpsc::channel::<usize>();
            let (resume_tx, resume_rx) = std::sync::mpsc::channel::<()>();
            let g2 = g.clone();
            let consumer = std::thread::spawn(move || {
                while let Ok(n) = rx.recv() {
                    if g2.taken(n) {
                        resume_tx.send(()).unwrap();
                    }
                }
            });
            for _ in 0..sends {
                let paused = g.handed(8);
                tx.send(8).unwrap();
                if paused {
                    resume_rx.recv_timeout(std::time::Duration::from_secs(5)).expect("a resume after every pause");
                }
            }
            drop(tx);
            consumer.join().unwrap();
            assert_eq!(g.backlog(), 0);
        }
    }
}
