//! Lanes: one source's tasks for the host thread, run a few at a time in
//! turn with every other busy source's.
//!
//! The host queue is first come, first served. A source that hands over
//! events faster than the host runs them (a peer flooding small messages)
//! would put all of its allowance (the flow limit: up to 1,024 events)
//! ahead of a newcomer's first event. A source's events go into its lane
//! instead; the lane has one entry in the host queue at a time, which runs
//! up to [`QUANTUM`] of them and queues itself again behind everything
//! queued meanwhile. A newcomer then waits for a quantum of each busy
//! source, not for their backlogs; one source's events keep their order.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{LoopHandle, Task};

/// Tasks a lane runs per turn in the host queue.
pub(crate) const QUANTUM: usize = 16;

/// One source's queue of host tasks.
pub(crate) struct Lane {
    inner: Mutex<Inner>,
    handle: LoopHandle,
    /// Lanes with tasks waiting, counted for whoever must run after all of
    /// them (a server's shutdown callback follows every `on_close`).
    busy: Arc<AtomicUsize>,
}

struct Inner {
    tasks: VecDeque<Task>,
    /// The lane has an entry in the host queue (or is running).
    scheduled: bool,
}

impl std::fmt::Debug for Lane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lane").finish_non_exhaustive()
    }
}

impl Lane {
    /// A lane whose tasks run on `handle`'s host thread; `busy` counts the
    /// lanes of its group that have tasks waiting.
    pub(crate) fn new(handle: LoopHandle, busy: Arc<AtomicUsize>) -> Arc<Lane> {
        Arc::new(Lane { inner: Mutex::new(Inner { tasks: VecDeque::new(), scheduled: false }), handle, busy })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds `task`. Returns the lane's entry for the host queue when it had
    /// none (the caller queues it), None when it is already there.
    pub(crate) fn push(self: &Arc<Self>, task: Task) -> Option<Task> {
        let mut g = self.lock();
        g.tasks.push_back(task);
        if g.scheduled {
            return None;
        }
        g.scheduled = true;
        self.busy.fetch_add(1, Ordering::AcqRel);
        let lane = self.clone();
        Some(Task::Boxed(Box::new(move || lane.run())))
    }

    /// The lane's entry in the host queue: up to QUANTUM tasks, then again
    /// at the back of the queue while tasks wait.
    fn run(self: Arc<Self>) {
        let batch: Vec<Task> = {
            let mut g = self.lock();
            let n = g.tasks.len().min(QUANTUM);
            g.tasks.drain(..n).collect()
        };
        for task in batch {
            super::run_task(task);
        }
        let more = {
            let mut g = self.lock();
            if g.tasks.is_empty() {
                g.scheduled = false;
                false
            } else {
                true
            }
        };
        if more {
            let lane = self.clone();
            let mut again = vec![Task::Boxed(Box::new(move || lane.run()))];
            if self.handle.add_tasks(&mut again).is_err() {
                // the loop is gone: nothing will run them
                let mut g = self.lock();
                g.tasks.clear();
                g.scheduled = false;
                drop(g);
                self.busy.fetch_sub(1, Ordering::AcqRel);
            }
        } else {
            self.busy.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex as StdMutex;

    use super::*;
    use crate::reactor::Loop;

    #[test]
    fn lanes_take_turns_and_keep_their_order() {
        let lp = Loop::new();
        let busy = Arc::new(AtomicUsize::new(0));
        let log = Arc::new(StdMutex::new(Vec::new()));
        let flood = Lane::new(lp.handle().clone(), busy.clone());
        let other = Lane::new(lp.handle().clone(), busy.clone());
        let mut first = Vec::new();
        for i in 0..100 {
            let log = log.clone();
            if let Some(t) = flood.push(Task::Boxed(Box::new(move || log.lock().unwrap().push(("flood", i))))) {
                first.push(t);
            }
        }
        let l = log.clone();
        if let Some(t) = other.push(Task::Boxed(Box::new(move || l.lock().unwrap().push(("other", 0))))) {
            first.push(t);
        }
        assert_eq!(first.len(), 2, "one host entry per lane");
        assert_eq!(busy.load(Ordering::SeqCst), 2);
        lp.handle().add_tasks(&mut first).unwrap();
        for _ in 0..20 {
            lp.poll(Some(std::time::Duration::ZERO)).unwrap();
        }
        let log = log.lock().unwrap();
        assert_eq!(log.len(), 101);
        let other_at = log.iter().position(|e| e.0 == "other").unwrap();
        assert_eq!(other_at, QUANTUM, "the other lane ran after one quantum of the flood");
        let flood: Vec<i32> = log.iter().filter(|e| e.0 == "flood").map(|e| e.1).collect();
        assert_eq!(flood, (0..100).collect::<Vec<_>>(), "in order");
        assert_eq!(busy.load(Ordering::SeqCst), 0);
    }
}
