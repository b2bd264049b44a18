//! The event loop: reactor threads that own the I/O, and the host thread that
//! runs every callback.
//!
//! ```text
//!  sockets ──► Reactor(s) ──tasks──► host queue ──► host thread (sq_loop_run / sq_loop_poll)
//!                 ▲                                    runs callbacks and timers, one at a time
//!                 └──── commands ◄── any thread
//! ```
//!
//! A [`Loop`] is created without any thread or descriptor. It *starts* on the
//! first [`Loop::run`], [`Loop::poll`] or [`Loop::fd`]: the eventfd and the
//! poll are made then, and the reactor threads (`io_threads` of them) on the
//! first run or poll. A loop that started and is then used in a child of
//! `fork(2)` refuses every call with [`ErrorKind::Forked`].
//!
//! Everything that schedules work ([`LoopHandle::add_callback`],
//! [`LoopHandle::call_later`], [`LoopHandle::call_every`],
//! [`LoopHandle::cancel`], [`LoopHandle::stop`]) is safe from any thread.
//! Driving the loop ([`Loop::run`], [`Loop::poll`]) is for one thread at a
//! time, never from inside one of the loop's own callbacks.

mod core;
pub(crate) mod flow;
pub(crate) mod handles;
mod io;
pub(crate) mod lane;
mod queue;
pub(crate) mod read;
mod task;
mod timer;
pub(crate) mod watcher;

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, TryLockError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll};

use crate::error::{Error, ErrorKind, Result};
use crate::net::sys;

pub(crate) use self::core::{
    Command, Reactor, ReactorLink, SWEEP_INTERVAL, flush_host_batch, host_task_after_turn, in_reactor_turn,
    push_local, user_batch_begin, user_batch_end,
};
pub use self::core::LoopHandle;
use self::core::{Shared, TimerTask, WAKE, begin_host_batch, end_host_batch};
pub(crate) use task::{RawCallback, RawTimerCallback, Task};
pub(crate) use watcher::readiness;
use queue::{Notifier, Queue};
pub use timer::TimerId;
use timer::{CancelError, TimerQueue};

/// The most reactor threads a loop may have.
pub const MAX_IO_THREADS: usize = 64;

fn thread_token() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local!(static TOKEN: u64 = NEXT.fetch_add(1, Ordering::Relaxed));
    TOKEN.with(|t| *t)
}

impl Shared {
    fn now(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn check_usable(&self) -> Result<()> {
        if self.started.load(Ordering::Acquire) && sys::fork_generation() != self.fork_generation.load(Ordering::Relaxed) {
            return Err(Error::new(
                ErrorKind::Forked,
                "this loop was started before fork(); a child process must create its own loop",
            ));
        }
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::new(ErrorKind::Closed, "the loop has been freed"));
        }
        Ok(())
    }

    /// The clock the host queue's waits are measured on (none in the
    /// benchmark build without metrics).
    fn stamp(&self) -> u64 {
        if cfg!(feature = "bench-metrics-off") { 0 } else { self.now() }
    }

    fn push_tasks(&self, tasks: &mut Vec<Task>) -> Result<()> {
        self.check_usable()?;
        self.host_stats.queued(tasks.len());
        self.tasks.append_at(tasks, self.stamp());
        self.notifier.notify();
        Ok(())
    }

    fn push_task(&self, task: Task) -> Result<()> {
        self.check_usable()?;
        self.host_stats.queued(1);
        self.tasks.push_at(task, self.stamp());
        self.notifier.notify();
        Ok(())
    }

    fn schedule(&self, delay: Duration, interval: Option<Duration>, task: TimerTask) -> Result<TimerId> {
        self.check_usable()?;
        let delay = u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX);
        let interval = match interval {
            Some(i) if i.is_zero() => {
                return Err(Error::new(ErrorKind::InvalidArg, "a periodic timer needs an interval above 0"));
            }
            Some(i) => Some(u64::try_from(i.as_nanos()).unwrap_or(u64::MAX)),
            None => None,
        };
        let now = self.now();
        let mut timers = lock(&self.timers);
        let before = timers.next_deadline();
        let id = timers.insert(now, delay, interval, task);
        let earlier = before.is_none_or(|b| now.saturating_add(delay) < b);
        drop(timers);
        // The host may be asleep with a timeout computed for the old earliest
        // deadline: wake it so it recomputes. Not needed from the host thread
        // itself inside run/poll, which recomputes before it sleeps.
        if earlier && self.poller.load(Ordering::Relaxed) != thread_token() {
            self.notifier.notify();
        }
        Ok(id)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What the host waits on.
enum Waiter {
    /// io_threads = 0: the host turns the one reactor itself.
    Local(Box<Reactor>),
    /// io_threads ≥ 1: a poll holding only the host's eventfd.
    Remote { poll: Poll, events: Events },
}

struct Host {
    waiter: Option<Waiter>,
    threads: Vec<JoinHandle<()>>,
    batch: Vec<Task>,
}

impl LoopHandle {
    /// Runs `f` once on the host thread, after the callbacks already queued by
    /// the calling thread (FIFO per calling thread). Never lost while the loop
    /// lives, never run twice. Any thread.
    pub fn add_callback(&self, f: impl FnOnce() + Send + 'static) -> Result<()> {
        self.shared.push_task(Task::Boxed(Box::new(f)))
    }

    /// The host queue's figures now (depth, tasks taken, waits).
    pub(crate) fn host_stats(&self) -> crate::metrics::HostSnapshot {
        self.shared.host_stats.snapshot()
    }

    /// The loop's HTTP client counters: written by the client on reactor 0,
    /// read from any thread.
    pub(crate) fn client_stats(&self) -> &crate::metrics::ClientStats {
        &self.shared.client_stats
    }

    /// Queues several host tasks with one lock and one wake (the reactors'
    /// batch at the end of a turn).
    pub(crate) fn add_tasks(&self, tasks: &mut Vec<Task>) -> Result<()> {
        if tasks.is_empty() {
            return Ok(());
        }
        self.shared.push_tasks(tasks)
    }

    pub(crate) fn add_raw_callback(&self, cb: RawCallback) -> Result<()> {
        self.shared.push_task(Task::Raw(cb))
    }

    /// Runs `f` once on the host thread, `delay` from now. Any thread.
    pub fn call_later(&self, delay: Duration, f: impl FnOnce() + Send + 'static) -> Result<TimerId> {
        let mut f = Some(f);
        let task = TimerTask::Boxed(Box::new(move |_| {
            if let Some(f) = f.take() {
                f()
            }
        }));
        self.shared.schedule(delay, None, task)
    }

    /// Runs `f` on the host thread every `interval`, first `interval` from now,
    /// at a fixed rate (late runs skip missed beats; they do not bunch up),
    /// until cancelled. Any thread.
    pub fn call_every(&self, interval: Duration, f: impl FnMut(TimerId) + Send + 'static) -> Result<TimerId> {
        self.shared.schedule(interval, Some(interval), TimerTask::Boxed(Box::new(f)))
    }

    pub(crate) fn call_raw(&self, delay: Duration, interval: Option<Duration>, cb: RawTimerCallback) -> Result<TimerId> {
        self.shared.schedule(delay, interval, TimerTask::Raw(cb))
    }

    /// Cancels a pending timer: its callback will not run again (not even one
    /// already due in the current pass). Any thread, including the timer's own
    /// callback. Cancelling a timer that fired (one-shot) or was cancelled is
    /// [`ErrorKind::AlreadyDone`]; an id this loop never issued is
    /// [`ErrorKind::InvalidArg`].
    pub fn cancel(&self, id: TimerId) -> Result<()> {
        self.shared.check_usable()?;
        let removed = lock(&self.shared.timers).cancel(id);
        match removed {
            // The payload (a Rust closure) is dropped here, outside the lock.
            Ok(_payload) => Ok(()),
            Err(CancelError::AlreadyDone) => {
                Err(Error::new(ErrorKind::AlreadyDone, "the timer already fired or was cancelled"))
            }
            Err(CancelError::Unknown) => Err(Error::new(ErrorKind::InvalidArg, "no timer with that id exists")),
        }
    }

    /// Makes [`Loop::run`] return after the callback running now (if any).
    /// If the loop is not running, the next `run` returns at once. Any thread.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.notifier.notify();
    }

    /// Runs `f` once the loop's reactors exist: now if they do, else right
    /// after they are created (on the thread that starts the loop).
    pub(crate) fn when_started(&self, f: Box<dyn FnOnce() + Send>) {
        let mut hooks = lock(&self.shared.start_hooks);
        if self.shared.reactors.get().is_some() && !self.shared.hooks_running.load(Ordering::Acquire) {
            drop(hooks);
            f();
        } else {
            hooks.push(f);
        }
    }

    /// Whether `other` is a handle to the same loop.
    pub(crate) fn same_loop(&self, other: &LoopHandle) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// The link to reactor `index`, once the loop has started.
    pub(crate) fn reactor_link(&self, index: usize) -> Option<&ReactorLink> {
        self.shared.reactors.get().and_then(|l| l.get(index))
    }

    /// How many reactors the loop has (0 before start).
    pub(crate) fn reactor_count(&self) -> usize {
        self.shared.reactors.get().map_or(0, |r| r.len())
    }

    /// Ok while the loop may be used (not freed, not a forked child's copy).
    pub(crate) fn check_usable(&self) -> Result<()> {
        self.shared.check_usable()
    }

    /// Whether the one reactor runs on the host thread (io_threads = 0).
    pub(crate) fn local_reactor(&self) -> bool {
        self.shared.local_reactor.load(Ordering::Acquire)
    }

    /// Sends a command to reactor `index` (modulo the reactor count). Fails
    /// before the loop has started.
    pub(crate) fn send_to_reactor(&self, index: usize, cmd: Command) -> Result<()> {
        self.shared.check_usable()?;
        let links = self
            .shared
            .reactors
            .get()
            .ok_or_else(|| Error::new(ErrorKind::State, "the loop has not started"))?;
        links[index % links.len()].send(cmd);
        Ok(())
    }
}

/// Options fixed when the loop starts.
#[derive(Debug, Clone)]
pub struct LoopOptions {
    /// Reactor threads: 0 runs the reactor on the host thread inside
    /// run/poll (no thread is ever spawned); N ≥ 1 runs N reactor threads.
    /// Default 1.
    pub io_threads: usize,
}

impl Default for LoopOptions {
    fn default() -> Self {
        LoopOptions { io_threads: 1 }
    }
}

/// An event loop. See the [module documentation](self).
pub struct Loop {
    handle: LoopHandle,
    host: Mutex<Host>,
}

impl std::fmt::Debug for Loop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loop").finish_non_exhaustive()
    }
}

/// Held while a thread drives the loop; clears the poller mark on drop.
struct Driving<'a> {
    host: MutexGuard<'a, Host>,
    shared: &'a Shared,
}

impl Drop for Driving<'_> {
    fn drop(&mut self) {
        self.shared.poller.store(0, Ordering::Release);
    }
}

impl Default for Loop {
    fn default() -> Self {
        Loop::new()
    }
}

impl Loop {
    /// A loop with default options. Creates no thread and no descriptor.
    pub fn new() -> Loop {
        Loop::with_options(LoopOptions::default())
    }

    /// A loop with `options` (`io_threads` is capped at [`MAX_IO_THREADS`]).
    pub fn with_options(options: LoopOptions) -> Loop {
        crate::log::init_from_env();
        let shared = Arc::new(Shared {
            notifier: Arc::new(Notifier::default()),
            tasks: Queue::default(),
            host_stats: crate::metrics::HostStats::default(),
            client_stats: crate::metrics::ClientStats::default(),
            timers: Mutex::new(TimerQueue::default()),
            origin: Instant::now(),
            stop: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            poller: AtomicU64::new(0),
            started: AtomicBool::new(false),
            fork_generation: AtomicU64::new(0),
            fd: AtomicI32::new(-1),
            io_threads: AtomicUsize::new(options.io_threads.min(MAX_IO_THREADS)),
            reactors: OnceLock::new(),
            start_hooks: Mutex::new(Vec::new()),
            hooks_running: AtomicBool::new(false),
            local_reactor: AtomicBool::new(false),
            reactor_due: AtomicU64::new(u64::MAX),
        });
        Loop {
            handle: LoopHandle { shared },
            host: Mutex::new(Host { waiter: None, threads: Vec::new(), batch: Vec::new() }),
        }
    }

    /// The thread-safe handle.
    pub fn handle(&self) -> &LoopHandle {
        &self.handle
    }

    fn shared(&self) -> &Shared {
        &self.handle.shared
    }

    /// Sets the number of reactor threads. Only before the loop starts.
    pub fn set_io_threads(&self, n: usize) -> Result<()> {
        if n > MAX_IO_THREADS {
            return Err(Error::new(ErrorKind::InvalidArg, format!("io_threads must be at most {MAX_IO_THREADS}")));
        }
        if self.shared().started.load(Ordering::Acquire) {
            return Err(Error::new(ErrorKind::State, "io_threads can only be set before the loop starts"));
        }
        self.shared().io_threads.store(n, Ordering::Relaxed);
        Ok(())
    }

    /// The number of reactor threads the loop has or will have.
    pub fn io_threads(&self) -> usize {
        self.shared().io_threads.load(Ordering::Relaxed)
    }

    /// Takes the driving lock, or says why not.
    fn drive(&self) -> Result<Driving<'_>> {
        let shared = self.shared();
        shared.check_usable()?;
        let host = match self.host.try_lock() {
            Ok(g) => g,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => {
                return Err(if shared.poller.load(Ordering::Acquire) == thread_token() {
                    Error::new(ErrorKind::Reentrant, "the loop cannot be run, polled or freed from inside one of its own callbacks")
                } else {
                    Error::new(ErrorKind::Busy, "another thread is running or polling this loop")
                });
            }
        };
        shared.poller.store(thread_token(), Ordering::Release);
        Ok(Driving { host, shared })
    }

    /// Creates the descriptors (not the threads): the host's eventfd and poll.
    fn start_fds(&self, host: &mut Host) -> Result<()> {
        if host.waiter.is_some() {
            return Ok(());
        }
        let shared = self.shared();
        shared.fork_generation.store(sys::fork_generation(), Ordering::Relaxed);
        let io_threads = shared.io_threads.load(Ordering::Relaxed);
        let waiter = if io_threads == 0 {
            let link = ReactorLink::new(shared.notifier.clone());
            let reactor = Reactor::new(link.clone(), 0, self.handle.clone())
                .map_err(|e| Error::io("creating the reactor", e))?;
            shared.local_reactor.store(true, Ordering::Release);
            self.set_reactors(vec![link]);
            Waiter::Local(Box::new(reactor))
        } else {
            let poll = Poll::new().map_err(|e| Error::io("creating the host poll", e))?;
            let fd = shared.notifier.init().map_err(|e| Error::io("creating the host eventfd", e))?.raw();
            poll.registry()
                .register(&mut SourceFd(&fd), WAKE, Interest::READABLE)
                .map_err(|e| Error::io("registering the host eventfd", e))?;
            Waiter::Remote { poll, events: Events::with_capacity(8) }
        };
        let fd = match &waiter {
            Waiter::Local(r) => r.poll_fd(),
            Waiter::Remote { poll, .. } => {
                use std::os::fd::AsRawFd;
                poll.as_raw_fd()
            }
        };
        host.waiter = Some(waiter);
        shared.fd.store(fd, Ordering::Release);
        shared.started.store(true, Ordering::Release);
        tracing::debug!(target: "squall::loop", "loop started: fd {fd}, io_threads {io_threads}");
        Ok(())
    }

    /// Descriptors plus the reactor threads.
    fn start(&self, host: &mut Host) -> Result<()> {
        self.start_fds(host)?;
        let shared = self.shared();
        let io_threads = shared.io_threads.load(Ordering::Relaxed);
        if io_threads == 0 || !host.threads.is_empty() {
            return Ok(());
        }
        let mut links = Vec::with_capacity(io_threads);
        for index in 0..io_threads {
            let link = ReactorLink::new(Arc::new(Notifier::default()));
            let reactor =
                Reactor::new(link.clone(), index, self.handle.clone()).map_err(|e| Error::io("creating a reactor", e))?;
            let thread = std::thread::Builder::new()
                .name(format!("squall-io-{index}"))
                .spawn(move || {
                    crate::net::sys::block_sigpipe();
                    reactor.run()
                })
                .map_err(|e| Error::io("spawning a reactor thread", e))?;
            host.threads.push(thread);
            links.push(link);
        }
        self.set_reactors(links);
        Ok(())
    }

    fn set_reactors(&self, links: Vec<ReactorLink>) {
        let shared = self.shared();
        {
            let _hooks = lock(&shared.start_hooks);
            let _ = shared.reactors.set(links);
            shared.hooks_running.store(true, Ordering::Release);
        }
        // Hooks queued while these run (from any thread, or by a hook) run
        // after them, in order: a fetch's cancel never overtakes the fetch.
        loop {
            let batch = {
                let mut hooks = lock(&shared.start_hooks);
                if hooks.is_empty() {
                    shared.hooks_running.store(false, Ordering::Release);
                    break;
                }
                std::mem::take(&mut *hooks)
            };
            for hook in batch {
                hook();
            }
        }
    }

    /// The descriptor a host with its own event loop waits on: readable while
    /// anything is pending (callbacks, I/O results, a stop), so the host then
    /// calls [`Loop::poll`] with a zero timeout. Wait at most
    /// [`Loop::timeout`] for it: timers do not make it readable. Creates the
    /// loop's descriptors on first call (the threads wait for the first poll);
    /// the fd is readable until then.
    pub fn fd(&self) -> Result<RawFd> {
        let shared = self.shared();
        shared.check_usable()?;
        let fd = shared.fd.load(Ordering::Acquire);
        if fd >= 0 {
            return Ok(fd);
        }
        let mut driving = self.drive()?;
        self.start_fds(&mut driving.host)?;
        Ok(shared.fd.load(Ordering::Acquire))
    }

    /// How long the host may wait on [`Loop::fd`] before it must call
    /// [`Loop::poll`]: `Some(0)` when work is pending (or the loop has not
    /// started), the time to the next timer, or `None` (no deadline).
    pub fn timeout(&self) -> Option<Duration> {
        let shared = self.shared();
        if !shared.started.load(Ordering::Acquire) || !shared.tasks.is_empty() {
            return Some(Duration::ZERO);
        }
        let timer = lock(&shared.timers).next_deadline();
        let reactor = match shared.reactor_due.load(Ordering::Acquire) {
            u64::MAX => None,
            due => Some(due),
        };
        let deadline = match (timer, reactor) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        };
        Some(Duration::from_nanos(deadline.saturating_sub(shared.now())))
    }

    /// Runs the loop on the calling thread until [`LoopHandle::stop`].
    pub fn run(&self) -> Result<()> {
        let mut driving = self.drive()?;
        self.start(&mut driving.host)?;
        while !self.shared().stop.swap(false, Ordering::SeqCst) {
            self.turn(&mut driving.host, None)?;
        }
        Ok(())
    }

    /// One iteration: waits up to `timeout` (None = until something happens)
    /// for work, then runs every callback that was pending when it woke and
    /// every timer that is due. A zero timeout never blocks.
    pub fn poll(&self, timeout: Option<Duration>) -> Result<()> {
        let mut driving = self.drive()?;
        self.start(&mut driving.host)?;
        self.turn(&mut driving.host, timeout)
    }

    fn turn(&self, host: &mut Host, timeout: Option<Duration>) -> Result<()> {
        let shared = self.shared();
        let mut wait = timeout;
        if !shared.tasks.is_empty() || shared.stop.load(Ordering::Relaxed) {
            wait = Some(Duration::ZERO);
        } else if let Some(deadline) = lock(&shared.timers).next_deadline() {
            let until = Duration::from_nanos(deadline.saturating_sub(shared.now()));
            wait = Some(wait.map_or(until, |w| w.min(until)));
        }
        match host.waiter.as_mut() {
            Some(Waiter::Local(reactor)) => {
                // Turning the reactor consumes the notifier and runs commands.
                reactor.turn(wait).map_err(|e| Error::io("polling", e))?;
                let due = reactor.next_turn().map_or(u64::MAX, |at| {
                    let left = at.saturating_duration_since(std::time::Instant::now());
                    shared.now().saturating_add(u64::try_from(left.as_nanos()).unwrap_or(u64::MAX))
                });
                shared.reactor_due.store(due, Ordering::Release);
            }
            Some(Waiter::Remote { poll, events }) => {
                match poll.poll(events, wait) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(Error::io("polling", e)),
                }
                shared.notifier.consume();
            }
            None => return Err(Error::new(ErrorKind::State, "the loop has not started")),
        }
        begin_host_batch();
        self.run_tasks(host);
        self.run_timers();
        end_host_batch();
        Ok(())
    }

    fn run_tasks(&self, host: &mut Host) {
        let mut batch = std::mem::take(&mut host.batch);
        let shared = self.shared();
        if let Some(since) = shared.tasks.take_all_since(&mut batch) {
            let waited = Duration::from_nanos(shared.stamp().saturating_sub(since));
            shared.host_stats.took(batch.len(), waited);
        }
        for task in batch.drain(..) {
            run_task(task);
        }
        host.batch = batch;
    }

    fn run_timers(&self) {
        let shared = self.shared();
        let now = shared.now();
        let limit = lock(&shared.timers).seq();
        loop {
            let fired = lock(&shared.timers).pop_due(now, limit);
            let Some(fired) = fired else { break };
            let id = fired.id;
            let mut task = fired.payload;
            // A panic drops this firing only: a periodic timer is restored
            // below and fires again, and the other timers run.
            let fire = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                crate::fault::hit(crate::fault::Point::Timer);
                match &mut task {
                    // SAFETY: as for raw callbacks.
                    TimerTask::Raw(cb) => unsafe { (cb.f)(cb.data, id.as_u64()) },
                    TimerTask::Boxed(f) => f(id),
                }
            }));
            if let Err(p) = fire {
                tracing::error!(target: "squall::loop", "a timer callback panicked: {}", crate::error::panic_message(&p));
            }
            if fired.periodic {
                // Dropped outside the lock if the timer was cancelled meanwhile.
                let leftover = lock(&shared.timers).restore(id, task);
                drop(leftover);
            }
        }
    }

    /// Ok when nothing is driving the loop, so that it may be dropped; the
    /// error says who is (this thread from a callback, or another thread).
    pub fn check_free(&self) -> Result<()> {
        match self.host.try_lock() {
            Ok(_) | Err(TryLockError::Poisoned(_)) => Ok(()),
            Err(TryLockError::WouldBlock) => Err(if self.in_callback() {
                Error::new(ErrorKind::Reentrant, "a loop cannot be freed from inside one of its own callbacks")
            } else {
                Error::new(ErrorKind::Busy, "a loop cannot be freed while another thread runs or polls it")
            }),
        }
    }

    /// Whether the calling thread is inside this loop's run/poll (a callback).
    pub fn in_callback(&self) -> bool {
        self.shared().poller.load(Ordering::Acquire) == thread_token()
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let shared = self.handle.shared.clone();
        shared.closed.store(true, Ordering::Release);
        let forked = shared.started.load(Ordering::Acquire)
            && sys::fork_generation() != shared.fork_generation.load(Ordering::Relaxed);
        let host = self.host.get_mut().unwrap_or_else(|p| p.into_inner());
        if forked {
            // The reactor threads exist only in the parent: never join them here.
            std::mem::forget(std::mem::take(&mut host.threads));
        } else if let Some(links) = shared.reactors.get() {
            if !host.threads.is_empty() {
                for link in links {
                    // Not batched: we join the threads right after.
                    link.send_now(Box::new(|r: &mut Reactor| r.request_shutdown()));
                }
            }
            for t in host.threads.drain(..) {
                let _ = t.join();
            }
        }
        // Commands nobody will run (sent after the last turn) are dropped:
        // they may hold objects that hold this loop, a cycle otherwise.
        if let Some(links) = shared.reactors.get() {
            for link in links {
                let mut commands = Vec::new();
                link.commands.take_all(&mut commands);
                drop(commands);
            }
        }
        // Work waiting for a start that will never come (a connect asked for
        // before the loop ran) holds this loop's handle: a cycle otherwise.
        let hooks = std::mem::take(&mut *lock(&shared.start_hooks));
        drop(hooks);
        // Pending callbacks and timers are dropped without running.
        let mut pending = Vec::new();
        shared.tasks.take_all(&mut pending);
        let timers = lock(&shared.timers).drain();
        drop(pending);
        drop(timers);
    }
}

#[cfg(test)]
mod tests;

/// Runs one host task (on the host thread); a panic in it is logged.
pub(crate) fn run_task(task: Task) {
    match task {
        // SAFETY: the C caller gave us this function and userdata to be
        // called exactly like this on the host thread.
        Task::Raw(cb) => unsafe { (cb.f)(cb.data) },
        Task::Boxed(f) => {
            if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
                tracing::error!(target: "squall::loop", "a callback panicked: {}", crate::error::panic_message(&p));
            }
        }
    }
}
