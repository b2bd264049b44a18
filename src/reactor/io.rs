//! Turning a reactor: its poll, the commands queued for it, its watchers'
//! slots and per-reactor state, and the order of one turn. A reactor knows
//! no protocol: what a protocol keeps per reactor lives in the extension
//! slot ([`Reactor::ext`]). Only Rust code runs here, except handlers
//! registered inline.
//!
//! With `io_threads = 0` the host thread owns the one reactor and turns it
//! inside `sq_loop_poll`; otherwise each reactor runs [`Reactor::run`] on a
//! thread of its own.

use std::any::TypeId;
use std::io;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll};

use super::core::{CURRENT, Command, LOCAL, LoopHandle, Reactor, ReactorLink, SWEEP_INTERVAL, Slot, Tick, TickHook, WAKE, Watcher, push_local};
use super::task::Task;

impl Reactor {
    /// A reactor whose poll watches `link`'s notifier (initialising its eventfd).
    pub(crate) fn new(link: ReactorLink, index: usize, loop_handle: LoopHandle) -> io::Result<Reactor> {
        let poll = Poll::new()?;
        let fd = link.notifier.init()?.raw();
        poll.registry().register(&mut SourceFd(&fd), WAKE, Interest::READABLE)?;
        let now = Instant::now();
        Ok(Reactor {
            poll,
            events: Events::with_capacity(1024),
            link,
            batch: Vec::new(),
            shutdown: false,
            index,
            loop_handle,
            slots: Vec::new(),
            free: Vec::new(),
            next_generation: 1,
            dirty: Vec::new(),
            now,
            origin: now,
            last_sweep: now,
            scratch: Vec::new(),
            host_tasks: Vec::new(),
            deferred: Vec::new(),
            extensions: Vec::new(),
            tick_hooks: Vec::new(),
            wake_at: None,
            again: Vec::new(),
        })
    }

    /// The poll's own descriptor (what `sq_loop_fd` hands out with io_threads = 0).
    pub(crate) fn poll_fd(&self) -> i32 {
        use std::os::fd::AsRawFd;
        self.poll.as_raw_fd()
    }

    pub(crate) fn registry(&self) -> &mio::Registry {
        self.poll.registry()
    }

    /// Milliseconds since the reactor was created: the protocol code's clock.
    pub(crate) fn now_ms(&self) -> u64 {
        u64::try_from(self.now.duration_since(self.origin).as_millis()).unwrap_or(u64::MAX)
    }

    /// Stores a watcher; returns (token, generation). See [`Reactor::insert`]
    /// for the usual way in.
    pub(crate) fn insert_watcher(&mut self, watcher: Box<dyn Watcher>) -> (usize, u64) {
        let generation = self.next_generation;
        self.next_generation += 1;
        let slot = Slot { generation, watcher: Some(watcher), again: false };
        let token = match self.free.pop() {
            Some(t) => {
                // still listed in `again` if its last watcher asked: once
                let again = self.slots[t].again;
                self.slots[t] = Slot { again, ..slot };
                t
            }
            None => {
                self.slots.push(slot);
                self.slots.len() - 1
            }
        };
        (token, generation)
    }

    /// Takes a watcher out to work on it; put it back with
    /// [`Reactor::put_back`] or free the token with [`Reactor::release_token`].
    /// [`Reactor::with_watcher`] is the one user.
    pub(super) fn take_watcher(&mut self, token: usize, generation: Option<u64>) -> Option<Box<dyn Watcher>> {
        let slot = self.slots.get_mut(token)?;
        if generation.is_some_and(|g| g != slot.generation) {
            return None;
        }
        slot.watcher.take()
    }

    /// Puts a watcher into the slot of `token` (its own, or, for an upgrade,
    /// the one it replaces).
    pub(crate) fn put_back(&mut self, token: usize, watcher: Box<dyn Watcher>) {
        if let Some(slot) = self.slots.get_mut(token) {
            slot.watcher = Some(watcher);
        }
    }

    /// Whether the watcher at `token` (of `generation`) is taken out now:
    /// an operation on it is in progress further up this thread's stack.
    pub(crate) fn is_taken(&self, token: usize, generation: u64) -> bool {
        self.slots.get(token).is_some_and(|s| s.generation == generation && s.watcher.is_none())
    }

    /// Whether `token` holds a watcher now.
    pub(super) fn is_occupied(&self, token: usize) -> bool {
        self.slots.get(token).is_some_and(|s| s.watcher.is_some())
    }

    /// Whether `token` still belongs to the watcher of `generation`.
    pub(super) fn is_live(&self, token: usize, generation: u64) -> bool {
        self.slots.get(token).is_some_and(|s| s.generation == generation && s.watcher.is_some())
    }

    /// The watcher at `token`, if it is in place.
    pub(crate) fn watcher_ref(&self, token: usize) -> Option<&dyn Watcher> {
        self.slots.get(token).and_then(|s| s.watcher.as_deref())
    }

    /// The watcher at `token` of `generation`, in place.
    pub(crate) fn slot_mut(&mut self, token: usize, generation: u64) -> Option<&mut dyn Watcher> {
        let slot = self.slots.get_mut(token)?;
        if slot.generation != generation {
            return None;
        }
        slot.watcher.as_deref_mut()
    }

    /// Frees a token (once: a second release of a free slot does nothing,
    /// so the slot can never be handed out twice).
    pub(crate) fn release_token(&mut self, token: usize) {
        if let Some(slot) = self.slots.get_mut(token) {
            if slot.generation == 0 {
                return;
            }
            slot.watcher = None;
            slot.generation = 0;
            self.free.push(token);
        }
    }

    /// Notes that the watcher at `token` has output to write before the turn
    /// ends ([`Watcher::flush`]).
    pub(crate) fn mark_dirty(&mut self, token: usize) {
        if !self.dirty.contains(&token) {
            self.dirty.push(token);
        }
    }

    /// Delivers an event to the host: `f` runs on the host thread, in the
    /// order of this reactor's other deliveries (one batch per turn), or,
    /// for callbacks registered inline, on this reactor once the current
    /// operation is over (never while a watcher is taken out).
    pub(crate) fn deliver(&mut self, inline: bool, f: impl FnOnce() + Send + 'static) {
        if inline {
            push_local(Box::new(move |_r: &mut Reactor| f()));
        } else {
            self.host_tasks.push(Task::Boxed(Box::new(f)));
        }
    }

    /// Runs `cmd` once the current operation is over (for work addressed to
    /// a watcher that is taken out further up the stack).
    pub(crate) fn defer(&mut self, cmd: Command) {
        self.deferred.push(cmd);
    }

    /// This reactor's value of type `T` (made with `T::default()` on first
    /// use): where a protocol keeps its per-reactor state (hyper's
    /// `extensions`). Take what must outlive the borrow with
    /// `std::mem::take` and put it back.
    pub(crate) fn ext<T: Default + Send + 'static>(&mut self) -> &mut T {
        let id = TypeId::of::<T>();
        let i = match self.extensions.iter().position(|(t, _)| *t == id) {
            Some(i) => i,
            None => {
                self.extensions.push((id, Box::new(T::default())));
                self.extensions.len() - 1
            }
        };
        self.extensions[i].1.downcast_mut::<T>().expect("keyed by its TypeId")
    }

    /// Runs `hook` on every sweep and deadline tick from now on (once, however
    /// often it is added): for protocol state that has deadlines of its own
    /// and no socket.
    pub(crate) fn add_tick_hook(&mut self, hook: TickHook) {
        if !self.tick_hooks.iter().any(|h| std::ptr::fn_addr_eq(*h, hook)) {
            self.tick_hooks.push(hook);
        }
    }

    pub(super) fn tick_hook(&self, i: usize) -> Option<TickHook> {
        self.tick_hooks.get(i).copied()
    }

    /// Asks for [`Watcher::again`] on `token` in the next turn: it stopped
    /// reading or parsing at its share of this one with input left (the
    /// fair share that keeps one busy peer from holding the reactor while
    /// others wait, see [`super::read::TURN_SHARE`]).
    pub(crate) fn read_again(&mut self, token: usize) {
        if let Some(slot) = self.slots.get_mut(token)
            && !slot.again
        {
            slot.again = true;
            self.again.push(token);
        }
    }

    /// Asks for the watchers to be ticked at `when` (or soon after).
    pub(crate) fn wake_at(&mut self, when: Instant) {
        if self.wake_at.is_none_or(|w| when < w) {
            self.wake_at = Some(when);
        }
    }

    /// Tokens that hold a watcher now.
    pub(crate) fn live_tokens(&self) -> Vec<usize> {
        self.slots.iter().enumerate().filter(|(_, s)| s.watcher.is_some()).map(|(i, _)| i).collect()
    }

    /// When this reactor next needs a turn even without I/O: the sweep of
    /// watchers' timeouts while it has watchers, or a watcher's deadline.
    /// None: only I/O or commands will need it.
    pub(crate) fn next_turn(&self) -> Option<Instant> {
        if !self.again.is_empty() {
            return Some(self.now);
        }
        let sweep = self.has_watchers().then(|| self.last_sweep + SWEEP_INTERVAL);
        match (sweep, self.wake_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn has_watchers(&self) -> bool {
        self.slots.len() > self.free.len()
    }

    /// Waits for I/O or a wake-up (up to `timeout`), handles the I/O events,
    /// runs every queued command, then writes what was produced. Returns how
    /// many events arrived.
    pub(crate) fn turn(&mut self, timeout: Option<Duration>) -> io::Result<usize> {
        let mut timeout = if self.has_watchers() {
            // Connections need their timeouts looked at now and then.
            let sweep = SWEEP_INTERVAL;
            Some(timeout.map_or(sweep, |t| t.min(sweep)))
        } else {
            timeout
        };
        if let Some(w) = self.wake_at {
            let left = w.saturating_duration_since(Instant::now());
            timeout = Some(timeout.map_or(left, |t| t.min(left)));
        }
        if !self.again.is_empty() {
            // input waits in watchers that used their share: no sleeping
            timeout = Some(Duration::ZERO);
        }
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(0),
            Err(e) => return Err(e),
        }
        self.now = Instant::now();
        let previous = CURRENT.with(|c| c.replace(self.link.identity()));
        // One ordered list: I/O events; the commands this thread queued
        // meanwhile (inline callbacks); commands from other threads; work
        // deferred for a watcher that was busy; the sweep or a deadline;
        // then writing, until nothing new is queued. Local commands run
        // after each step, once every watcher is back in its slot.
        let events = std::mem::replace(&mut self.events, Events::with_capacity(0));
        let mut n = 0;
        for ev in events.iter() {
            n += 1;
            if ev.token() != WAKE {
                let token = ev.token().0;
                self.with_watcher(token, None, |r, w| w.ready(r, token, ev));
            }
        }
        self.events = events;
        self.run_local();
        // Then those that used their share of the last turn, behind every
        // connection that had something new (a newcomer waits for one
        // share of each busy peer, not for all they sent).
        for token in std::mem::take(&mut self.again) {
            if let Some(slot) = self.slots.get_mut(token) {
                slot.again = false;
            }
            self.with_watcher(token, None, |r, w| w.again(r, token));
        }
        self.run_local();
        // The wake token only means "look at the queues", done whatever the token.
        self.link.notifier.consume();
        self.run_commands();
        self.run_local();
        for cmd in std::mem::take(&mut self.deferred) {
            self.run_command(cmd);
        }
        let deadline = self.wake_at.is_some_and(|w| w <= self.now);
        if deadline {
            self.wake_at = None;
        }
        if self.now.duration_since(self.last_sweep) >= SWEEP_INTERVAL {
            self.last_sweep = self.now;
            self.tick_all(Tick::Sweep);
            self.run_local();
        } else if deadline {
            self.tick_all(Tick::Deadline);
            self.run_local();
        }
        // Inline callbacks run while writing (on_drain, say) may queue more
        // output: write it too; if they keep going, the next turn goes on
        // at once.
        let mut rounds = 0;
        while !self.dirty.is_empty() {
            rounds += 1;
            if rounds > 9 {
                self.link.notifier.notify();
                break;
            }
            self.flush_dirty();
            self.run_local();
        }
        if !self.host_tasks.is_empty() {
            let _ = self.loop_handle.add_tasks(&mut self.host_tasks);
            self.host_tasks.clear();
        }
        CURRENT.with(|c| c.set(previous));
        Ok(n)
    }

    /// Runs the commands queued so far (not those they queue in turn).
    pub(crate) fn run_commands(&mut self) {
        let mut batch = std::mem::take(&mut self.batch);
        self.link.commands.take_all(&mut batch);
        for cmd in batch.drain(..) {
            self.run_command(cmd);
        }
        self.batch = batch;
    }

    /// Runs one command; a panic inside it is logged, and the reactor goes on.
    fn run_command(&mut self, cmd: Command) {
        if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cmd(self))) {
            tracing::error!(target: "squall::reactor", "a reactor command panicked: {}", crate::error::panic_message(&panic));
        }
    }

    /// Runs the commands this reactor's own thread queued for it (inline
    /// callbacks and what they sent), until none is left.
    pub(crate) fn run_local(&mut self) {
        loop {
            let batch = LOCAL.with(|l| std::mem::take(&mut *l.borrow_mut()));
            if batch.is_empty() {
                return;
            }
            for cmd in batch {
                self.run_command(cmd);
            }
        }
    }

    /// Asks [`Reactor::run`] to return after the current turn.
    pub(crate) fn request_shutdown(&mut self) {
        self.shutdown = true;
    }

    /// The body of a reactor thread: turns until a shutdown command arrives.
    pub(crate) fn run(mut self) {
        tracing::debug!(target: "squall::reactor", "reactor {} running", self.index);
        while !self.shutdown {
            if let Err(e) = self.turn(None) {
                tracing::error!(target: "squall::reactor", "reactor {} poll failed: {e}", self.index);
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        self.stop_all();
        tracing::debug!(target: "squall::reactor", "reactor {} stopped", self.index);
    }
}
