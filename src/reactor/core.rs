//! The reactor's types, which refer to one another and so live together: a
//! reactor and the watchers it holds, the links other threads reach it by
//! and the commands they carry, the per-thread batching of those commands,
//! and the loop handle a reactor hands its host work back through. What
//! they do is elsewhere: turning a reactor in `io`, working on watchers in
//! `watcher`, the loop and the host thread in the module root.

use std::any::{Any, TypeId};
use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::{Events, Poll, Token};

use super::queue::{Notifier, Queue};
use super::task::{RawTimerCallback, Task};
use super::timer::{TimerId, TimerQueue};

/// Work sent to a reactor from any thread; it runs on the reactor's thread.
pub(crate) type Command = Box<dyn FnOnce(&mut Reactor) + Send>;

/// How often a reactor ticks its watchers (connection timeouts, paused
/// listeners, keep-alive pings).
pub(crate) const SWEEP_INTERVAL: Duration = Duration::from_millis(250);

/// The token of the wake-up eventfd in every poll.
pub(crate) const WAKE: Token = Token(usize::MAX);

/// The sending side of a reactor: what other threads hold.
#[derive(Clone)]
pub(crate) struct ReactorLink {
    pub(crate) commands: Arc<Queue<Command>>,
    pub(crate) notifier: Arc<Notifier>,
}

impl std::fmt::Debug for ReactorLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReactorLink").finish_non_exhaustive()
    }
}

impl ReactorLink {
    pub(crate) fn new(notifier: Arc<Notifier>) -> ReactorLink {
        ReactorLink { commands: Arc::new(Queue::default()), notifier }
    }

    /// Queues a command and wakes the reactor (one wake per batch). On the
    /// host thread during a batch of callbacks, the command waits for the end
    /// of the batch and goes with the others.
    pub(crate) fn send(&self, cmd: Command) {
        if self.is_current() {
            // From this reactor's own thread (an inline callback): later in
            // this turn, once the current operation is over.
            LOCAL.with(|l| l.borrow_mut().push(cmd));
            return;
        }
        let cmd = HOST_BATCH.with(|b| match b.borrow_mut().as_mut() {
            Some(batch) => {
                batch.push((self.clone(), cmd));
                None
            }
            None => Some(cmd),
        });
        if let Some(cmd) = cmd {
            self.commands.push(cmd);
            self.notifier.notify();
        }
    }

    /// Queues a command now, even inside a host batch (for callers that
    /// then wait for the reactor).
    pub(crate) fn send_now(&self, cmd: Command) {
        self.commands.push(cmd);
        self.notifier.notify();
    }

    pub(super) fn identity(&self) -> usize {
        Arc::as_ptr(&self.commands) as usize
    }

    /// Whether the calling thread is inside this reactor's turn (then output
    /// for its connections is queued locally, without a wake-up).
    pub(crate) fn is_current(&self) -> bool {
        CURRENT.with(|c| c.get() == self.identity())
    }
}

thread_local! {
    /// The identity of the reactor whose turn this thread is running, or 0.
    pub(super) static CURRENT: Cell<usize> = const { Cell::new(0) };
    /// While the host runs a batch of callbacks: commands for reactors,
    /// sent together (one wake per reactor) when the batch ends.
    static HOST_BATCH: RefCell<Option<Vec<(ReactorLink, Command)>>> = const { RefCell::new(None) };
    /// Commands for the reactor whose turn this thread is running, sent from
    /// inside that turn: run before the turn ends.
    pub(super) static LOCAL: RefCell<Vec<Command>> = const { RefCell::new(Vec::new()) };
}

/// Whether the calling thread is running a reactor's turn.
pub(crate) fn in_reactor_turn() -> bool {
    CURRENT.with(|c| c.get()) != 0
}

/// Hands `task` to the host after the tasks the current reactor turn has
/// queued so far (so that, e.g., a shutdown's completion follows the last
/// `on_close`). Err(task) when the calling thread is not in a reactor turn:
/// the caller queues it directly.
pub(crate) fn host_task_after_turn(task: Task) -> Result<(), Task> {
    if CURRENT.with(|c| c.get()) == 0 {
        return Err(task);
    }
    push_local(Box::new(move |r: &mut Reactor| r.host_tasks.push(task)));
    Ok(())
}

/// Queues a command for the reactor whose turn the calling thread is running
/// (an event for an inline callback): it runs once the current operation on
/// a connection is over, before the turn ends.
pub(crate) fn push_local(cmd: Command) {
    LOCAL.with(|l| l.borrow_mut().push(cmd));
}

/// Starts collecting reactor commands sent from this (host) thread.
pub(crate) fn begin_host_batch() {
    HOST_BATCH.with(|b| {
        let mut b = b.borrow_mut();
        if b.is_none() {
            *b = Some(Vec::new());
        }
    });
}

thread_local! {
    /// `sq_batch_begin` nesting on this thread, and whether the outermost
    /// begin started the collection (inside a host batch it did not, and
    /// the poll's own end sends everything).
    static USER_BATCH: Cell<(u32, bool)> = const { Cell::new((0, false)) };
}

/// `sq_batch_begin`: collects the commands this thread sends until the
/// matching [`user_batch_end`].
pub(crate) fn user_batch_begin() {
    let (depth, owned) = USER_BATCH.with(|b| b.get());
    let owned = if depth == 0 { HOST_BATCH.with(|b| b.borrow().is_none()) } else { owned };
    begin_host_batch();
    USER_BATCH.with(|b| b.set((depth.saturating_add(1), owned)));
}

/// `sq_batch_end`: false without a matching begin.
pub(crate) fn user_batch_end() -> bool {
    let (depth, owned) = USER_BATCH.with(|b| b.get());
    if depth == 0 {
        return false;
    }
    USER_BATCH.with(|b| b.set((depth - 1, owned)));
    if depth == 1 && owned {
        end_host_batch();
    }
    true
}

/// Sends the collected commands and stops collecting.
pub(crate) fn end_host_batch() {
    if let Some(batch) = HOST_BATCH.with(|b| b.borrow_mut().take()) {
        send_grouped(batch);
    }
}

/// Sends what was collected so far, in order, and goes on collecting (for
/// callers that must wait for a reactor's answer, and for commands another
/// thread may rely on once the call returns: a subscription).
pub(crate) fn flush_host_batch() {
    let batch = HOST_BATCH.with(|b| b.borrow_mut().as_mut().map(std::mem::take));
    if let Some(batch) = batch {
        send_grouped(batch);
    }
}

/// Each reactor gets its share of `batch` under one lock and one wake.
fn send_grouped(mut batch: Vec<(ReactorLink, Command)>) {
    while !batch.is_empty() {
        let first = batch[0].0.clone();
        let id = first.identity();
        let mut mine = Vec::new();
        let mut rest = Vec::new();
        for (link, cmd) in batch.drain(..) {
            if link.identity() == id {
                mine.push(cmd);
            } else {
                rest.push((link, cmd));
            }
        }
        first.commands.append(&mut mine);
        first.notifier.notify();
        batch = rest;
    }
}

/// A slot of the watcher slab: the generation tells a connection from a
/// later one that reuses its token.
pub(super) struct Slot {
    /// Taken from the reactor's one counter (`next_generation`, a `u64`
    /// that starts at 1 and only counts up by one per watcher inserted),
    /// not per slot, so it cannot wrap in practice: at a billion watchers a
    /// second it would take 584 years. Generations never repeat within a
    /// reactor, whatever order tokens are reused in.
    pub(super) generation: u64,
    /// None while the watcher is taken out to be worked on, or free.
    pub(super) watcher: Option<Box<dyn Watcher>>,
    /// Whether the token is in `Reactor::again` (listed once).
    pub(super) again: bool,
}

/// A function run on every tick of a reactor (see [`Reactor::add_tick_hook`]).
pub(crate) type TickHook = fn(&mut Reactor);

/// One reactor: its poll, the commands addressed to it, and its watchers.
pub(crate) struct Reactor {
    pub(super) poll: Poll,
    pub(super) events: Events,
    pub(super) link: ReactorLink,
    pub(super) batch: Vec<Command>,
    pub(super) shutdown: bool,
    /// Index of this reactor among the loop's reactors.
    pub(crate) index: usize,
    pub(crate) loop_handle: LoopHandle,
    pub(super) slots: Vec<Slot>,
    pub(super) free: Vec<usize>,
    pub(super) next_generation: u64,
    /// Tokens with output to write before the turn ends.
    pub(crate) dirty: Vec<usize>,
    /// The time at the start of the current turn.
    pub(crate) now: Instant,
    pub(super) origin: Instant,
    pub(super) last_sweep: Instant,
    /// Read buffer shared by every connection of the reactor: data is read
    /// here and only a partial message left over is kept by the connection.
    pub(super) scratch: Vec<u8>,
    /// Callbacks for the host thread, handed over once per turn (queued with
    /// `Reactor::deliver`, the one way in).
    pub(super) host_tasks: Vec<Task>,
    /// Work for a watcher that was busy further up the stack, run once the
    /// current operation is over.
    pub(super) deferred: Vec<Command>,
    /// What the protocols above keep per reactor, one value per type.
    pub(super) extensions: Vec<(TypeId, Box<dyn Any + Send>)>,
    /// Run on every sweep and deadline tick, after the watchers.
    pub(super) tick_hooks: Vec<TickHook>,
    /// The earliest deadline a watcher asked to be ticked at.
    pub(super) wake_at: Option<Instant>,
    /// Watchers that used up their share of a turn with input still
    /// waiting ([`Reactor::read_again`]): [`Watcher::again`] runs for each
    /// in the next turn, after that turn's I/O events.
    pub(super) again: Vec<usize>,
}

impl std::fmt::Debug for Reactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reactor").field("index", &self.index).finish_non_exhaustive()
    }
}

/// What a watcher says after an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// It lives on: put it back.
    Keep,
    /// It is finished: it has deregistered its socket and told whoever waits
    /// for it; the reactor drops it and frees the token.
    Close,
    /// It put another watcher into its own slot (a connection upgraded to
    /// another protocol), which keeps the token: drop this one only.
    Replaced,
}

impl From<bool> for Step {
    /// `true`: keep; `false`: close.
    fn from(live: bool) -> Step {
        if live { Step::Keep } else { Step::Close }
    }
}

/// Why a watcher is ticked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tick {
    /// The periodic sweep ([`super::SWEEP_INTERVAL`]): timeouts, keep-alive.
    Sweep,
    /// A deadline some watcher asked for with [`Reactor::wake_at`] passed.
    Deadline,
}

/// How a watcher is asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// Its owner begins a graceful shutdown: finish what is in flight, take
    /// nothing new, then close.
    Graceful,
    /// Its owner is gone or its shutdown deadline passed: close now, and
    /// tell the host what it can.
    Now,
    /// The reactor itself is stopping: close now; nothing would run a
    /// callback any more.
    Halt,
}

/// The owner of a set of watchers (a server), or [`Group::NONE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Group(u64);

impl Group {
    /// Watchers that no group operation concerns.
    pub(crate) const NONE: Group = Group(0);

    /// A group id never handed out before in this process.
    pub(crate) fn new() -> Group {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Group(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// What a reactor drives at a token. Every method that can end the watcher
/// returns a [`Step`].
pub(crate) trait Watcher: Any + Send {
    /// Readiness on the watcher's socket.
    fn ready(&mut self, r: &mut Reactor, token: usize, ev: &Event) -> Step;

    /// Whether [`Watcher::tick`] has anything to do now (a cheap look, made
    /// before the watcher is taken out of its slot).
    fn wants_tick(&self, _r: &Reactor, _why: Tick) -> bool {
        true
    }

    /// Time passed (see [`Tick`]); look at the clock (`r.now`).
    fn tick(&mut self, _r: &mut Reactor, _token: usize) -> Step {
        Step::Keep
    }

    /// Its share of the last turn ran out with input still waiting (it
    /// called [`Reactor::read_again`]): take the next share. Edge-triggered
    /// readiness would not say so again. May come for a token's next
    /// watcher when the one that asked closed meanwhile: nothing to do is fine.
    fn again(&mut self, _r: &mut Reactor, _token: usize) -> Step {
        Step::Keep
    }

    /// Output was queued (the token was marked dirty with
    /// [`Reactor::mark_dirty`]): write it.
    fn flush(&mut self, _r: &mut Reactor, _token: usize) -> Step {
        Step::Keep
    }

    /// Runs after every operation on the watcher that kept it, before it
    /// goes back into its slot: the place for work an operation left pending
    /// (a pause that ended, output produced meanwhile, a close decided).
    fn settle(&mut self, _r: &mut Reactor, _token: usize) -> Step {
        Step::Keep
    }

    /// Work addressed to this watcher by the layer that made it, as an
    /// opaque message the watcher downcasts (a connection's response
    /// output): so that code below the watcher's own can reach it without
    /// naming its type.
    fn message(&mut self, _r: &mut Reactor, _token: usize, _msg: &mut dyn Any) -> Step {
        Step::Keep
    }

    /// Asked to stop (see [`Stop`]).
    fn stop(&mut self, r: &mut Reactor, token: usize, how: Stop) -> Step;

    /// The group this watcher belongs to.
    fn group(&self) -> Group {
        Group::NONE
    }

    /// For typed access ([`Reactor::with_watcher_as`], [`Reactor::watcher_mut`]).
    fn as_any(&mut self) -> &mut dyn Any;
}

/// A timer's callback.
pub(super) enum TimerTask {
    Raw(RawTimerCallback),
    Boxed(Box<dyn FnMut(TimerId) + Send>),
}

/// What a loop's handles share: the host queue and timers, the state of
/// the loop, and the links to its reactors.
pub(super) struct Shared {
    pub(super) notifier: Arc<Notifier>,
    pub(super) tasks: Queue<Task>,
    /// What the host queue carries and how long its tasks wait
    /// (`crate::metrics`, read by a server's metrics).
    pub(super) host_stats: crate::metrics::HostStats,
    /// The loop's HTTP client's counters (written on reactor 0).
    pub(super) client_stats: crate::metrics::ClientStats,
    pub(super) timers: Mutex<TimerQueue<TimerTask>>,
    pub(super) origin: Instant,
    pub(super) stop: AtomicBool,
    pub(super) closed: AtomicBool,
    /// thread_token() of the thread inside run/poll, 0 when none.
    pub(super) poller: AtomicU64,
    /// Set once the loop's descriptors exist.
    pub(super) started: AtomicBool,
    pub(super) fork_generation: AtomicU64,
    pub(super) fd: AtomicI32,
    pub(super) io_threads: AtomicUsize,
    /// One link per reactor, fixed at start.
    pub(super) reactors: OnceLock<Vec<ReactorLink>>,
    /// Work that waits for the reactors to exist (listeners bound before start).
    pub(super) start_hooks: Mutex<Vec<Box<dyn FnOnce() + Send>>>,
    /// The starting thread is still running `start_hooks` (read and written
    /// under that lock): later work queues behind them, so that work one
    /// thread asks for keeps its order across the start.
    pub(super) hooks_running: AtomicBool,
    /// Whether the reactor is turned by the host thread (io_threads = 0).
    pub(super) local_reactor: AtomicBool,
    /// With a local reactor: when (on `now()`'s clock) it next needs a turn
    /// of its own (its watchers' timeouts and deadlines); `u64::MAX`: never.
    /// Published after each turn so that `timeout()`, which a host waiting on
    /// the loop's fd relies on, includes it.
    pub(super) reactor_due: AtomicU64,
}

/// A thread-safe handle to a loop, for scheduling work on it from anywhere.
/// Cheap to clone. Once the loop is dropped, every call returns
/// [`ErrorKind::Closed`].
#[derive(Clone)]
pub struct LoopHandle {
    pub(super) shared: Arc<Shared>,
}

impl std::fmt::Debug for LoopHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoopHandle").finish_non_exhaustive()
    }
}
