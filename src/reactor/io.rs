//! The reactor: a `mio::Poll`, the command queue that any thread may push to,
//! and (as the HTTP and WebSocket layers arrive) the sockets it owns. Only
//! Rust code runs here.
//!
//! With `io_threads = 0` the host thread owns the one reactor and turns it
//! inside `sq_loop_poll`; otherwise each reactor runs [`Reactor::run`] on a
//! thread of its own.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use super::queue::{Notifier, Queue};

/// Work sent to a reactor from any thread; it runs on the reactor's thread.
pub(crate) type Command = Box<dyn FnOnce(&mut Reactor) + Send>;

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

    /// Queues a command and wakes the reactor (one wake per batch).
    pub(crate) fn send(&self, cmd: Command) {
        self.commands.push(cmd);
        self.notifier.notify();
    }
}

/// One reactor: its poll and the commands addressed to it.
pub(crate) struct Reactor {
    poll: Poll,
    events: Events,
    link: ReactorLink,
    batch: Vec<Command>,
    shutdown: bool,
    /// Index of this reactor among the loop's reactors.
    pub(crate) index: usize,
}

impl std::fmt::Debug for Reactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reactor").field("index", &self.index).finish_non_exhaustive()
    }
}

impl Reactor {
    /// A reactor whose poll watches `link`'s notifier (initialising its eventfd).
    pub(crate) fn new(link: ReactorLink, index: usize) -> io::Result<Reactor> {
        let poll = Poll::new()?;
        let fd = link.notifier.init()?.raw();
        poll.registry().register(&mut SourceFd(&fd), WAKE, Interest::READABLE)?;
        Ok(Reactor { poll, events: Events::with_capacity(1024), link, batch: Vec::new(), shutdown: false, index })
    }

    /// The poll's own descriptor (what `sq_loop_fd` hands out with io_threads = 0).
    pub(crate) fn poll_fd(&self) -> i32 {
        use std::os::fd::AsRawFd;
        self.poll.as_raw_fd()
    }

    /// Waits for I/O or a wake-up (up to `timeout`), handles the I/O events,
    /// then runs every queued command. Returns how many events arrived.
    pub(crate) fn turn(&mut self, timeout: Option<Duration>) -> io::Result<usize> {
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(0),
            Err(e) => return Err(e),
        }
        let n = self.events.iter().count();
        // Sockets join here with the HTTP layer; the wake token only means
        // "look at the queues", which happens below whatever the token.
        self.link.notifier.consume();
        self.run_commands();
        Ok(n)
    }

    /// Runs the commands queued so far (not those they queue in turn).
    pub(crate) fn run_commands(&mut self) {
        let mut batch = std::mem::take(&mut self.batch);
        self.link.commands.take_all(&mut batch);
        for cmd in batch.drain(..) {
            if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cmd(self))) {
                tracing::error!(target: "squall::reactor", "a reactor command panicked: {}", crate::panic_message(&panic));
            }
        }
        self.batch = batch;
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
        tracing::debug!(target: "squall::reactor", "reactor {} stopped", self.index);
    }
}
