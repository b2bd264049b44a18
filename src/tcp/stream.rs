//! One raw TCP stream: the shared part the host's handle points to
//! ([`TcpShared`], any thread) and the reactor part ([`TcpConn`]: the
//! socket, the connect attempts, the output queue).
//!
//! Writes are copied on the calling thread, counted in `buffered` (so a
//! write answers OK / BACKPRESSURE / LIMIT at once) and shipped to the
//! owning reactor as a command; the reactor writes them with `writev`.
//! Events reach the host through the reactor's per-turn batch of host tasks
//! (or, with `Options::inline`, run on the reactor), so they keep their order:
//! `on_connect`, `on_data`…, `on_end`, `on_close` last, after which the
//! handle is released.

use std::collections::VecDeque;
use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, OnceLock};
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::net::TcpStream;
use mio::{Interest, Token};

use super::config::{Config, StreamId};
use crate::reactor::flow::FlowGate;
use crate::reactor::handles::HandleTable;
use crate::reactor::read::{Input, ReadEnd, read_ready};
use crate::reactor::watcher::{Step, Stop, Watcher};
use crate::net::tls::{Stream, is_tls_error};
use crate::net::tls_server::HandshakeBudget;
use crate::net::writeq::write_queue;
use crate::reactor::{LoopHandle, Reactor, Task};
use crate::net::writeq::Sent;
use crate::{Error, ErrorKind, Result};


/// Every open stream in the process, by handle.
pub(crate) static STREAMS: LazyLock<HandleTable<TcpShared>> = LazyLock::new(HandleTable::default);

/// The shared part of one stream: what the handle leads to.
#[derive(Debug)]
pub(crate) struct TcpShared {
    handle: AtomicU64,
    /// The reactor that owns the connection, its token and generation there.
    pub(crate) reactor: usize,
    token: AtomicUsize,
    generation: AtomicU64,
    pub(crate) loop_handle: LoopHandle,
    pub(crate) config: Arc<Config>,
    /// Bytes written by the host and not yet by the socket (writes on their
    /// way to the reactor included).
    pub(crate) buffered: AtomicUsize,
    /// No more writes: a close was asked for, or the connection is gone.
    pub(crate) closed: AtomicBool,
    /// The host closed the stream: no more `on_data`, `on_end`, `on_drain`.
    silenced: AtomicBool,
    /// Not even `on_close` (a stream accepted by a listener being freed).
    muted: AtomicBool,
    /// The host's word for this stream, handed to every event; never interpreted here.
    user: AtomicUsize,
    /// A write reported backpressure: call `on_drain` once at or below the mark.
    drain_wanted: AtomicBool,
    /// Bytes handed to the host whose `on_data` has not returned yet: more
    /// than 1 MiB pauses reading, until under 256 KiB.
    inbox: FlowGate,
    /// Reading paused by the host ([`TcpShared::pause_reading`]).
    pub(crate) host_paused: AtomicBool,
    pub(crate) peer: OnceLock<SocketAddr>,
    pub(crate) local: OnceLock<SocketAddr>,
}

impl TcpShared {
    pub(crate) fn new(config: Arc<Config>, loop_handle: LoopHandle, reactor: usize) -> Arc<TcpShared> {
        let user = config.events.first_user_word();
        let marks = config.opts.read_marks;
        Arc::new(TcpShared {
            handle: AtomicU64::new(0),
            reactor,
            token: AtomicUsize::new(0),
            generation: AtomicU64::new(0),
            loop_handle,
            config,
            buffered: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            silenced: AtomicBool::new(false),
            muted: AtomicBool::new(false),
            user: AtomicUsize::new(user),
            drain_wanted: AtomicBool::new(false),
            inbox: FlowGate::with_marks(marks),
            host_paused: AtomicBool::new(false),
            peer: OnceLock::new(),
            local: OnceLock::new(),
        })
    }

    /// Gives the stream its handle, once its connection has a token.
    fn publish(self: &Arc<Self>, token: usize, generation: u64) {
        self.token.store(token, Ordering::Release);
        self.generation.store(generation, Ordering::Release);
        let h = STREAMS.insert(self.clone(), self.reactor);
        self.handle.store(h, Ordering::Release);
    }

    /// The stream's handle (0 before it has one).
    pub(crate) fn id(&self) -> StreamId {
        self.handle.load(Ordering::Acquire)
    }

    /// Drops the handle from the table: later calls with it get Closed.
    fn release(&self) {
        let h = self.handle.load(Ordering::Acquire);
        if h != 0 {
            STREAMS.remove(h);
        }
    }

    /// The host's word for this stream (the events' first one until set).
    pub(crate) fn user_word(&self) -> usize {
        self.user.load(Ordering::Acquire)
    }

    pub(crate) fn set_user_word(&self, word: usize) {
        self.user.store(word, Ordering::Release);
    }

    /// Counts `n` more bytes against the limits: over `max_buffer` with
    /// something already buffered → Err(Limit), nothing counted; above
    /// `high_water` → Backpressure (and `on_drain` will follow).
    pub(crate) fn admit(&self, n: usize) -> Result<Sent> {
        let opts = &self.config.opts;
        let before = self.buffered.fetch_add(n, Ordering::AcqRel);
        if before > 0 && before + n > opts.max_buffer {
            self.buffered.fetch_sub(n, Ordering::AcqRel);
            return Err(Error::new(
                ErrorKind::Limit,
                format!("write refused: {before} bytes already buffered (max_buffer {})", opts.max_buffer),
            ));
        }
        if before + n > opts.high_water {
            self.drain_wanted.store(true, Ordering::Release);
            Ok(Sent::Backpressure)
        } else {
            Ok(Sent::Queued)
        }
    }

    /// Queues `data` for the socket. Any thread.
    pub(crate) fn write(self: &Arc<Self>, data: &[u8]) -> Result<Sent> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::new(ErrorKind::Closed, "the stream is closed"));
        }
        if data.is_empty() {
            let over = self.buffered.load(Ordering::Acquire) > self.config.opts.high_water;
            return Ok(if over { Sent::Backpressure } else { Sent::Queued });
        }
        let sent = self.admit(data.len())?;
        let bytes = data.to_vec();
        let n = bytes.len();
        let me = self.clone();
        if !self.command_else(move |_r, c| c.queue(bytes), move || {
            me.buffered.fetch_sub(n, Ordering::AcqRel);
        }) {
            self.buffered.fetch_sub(n, Ordering::AcqRel);
            return Err(Error::new(ErrorKind::Closed, "the loop is gone"));
        }
        Ok(sent)
    }

    /// Closes the stream: gracefully (what is queued is written, then the
    /// connection is shut down) or at once (`abort`: queued output dropped,
    /// the peer gets a reset). Any thread. No data callback runs after it.
    pub(crate) fn close(self: &Arc<Self>, abort: bool) -> Result<()> {
        let was_closed = self.closed.swap(true, Ordering::AcqRel);
        self.silenced.store(true, Ordering::Release);
        if was_closed && !abort {
            return Err(Error::new(ErrorKind::Closed, "the stream is already closing or closed"));
        }
        // An abort may follow a graceful close that takes too long.
        if abort {
            self.command(|r, c| c.end(r, Ending::reset()));
        } else {
            self.command(|r, c| c.close_when_flushed(r));
        }
        Ok(())
    }

    /// The host pauses reading (its own flow control). Any thread.
    pub(crate) fn pause_reading(&self) -> Result<()> {
        self.check_open()?;
        self.host_paused.store(true, Ordering::Release);
        Ok(())
    }

    /// The host reads again. Any thread.
    pub(crate) fn resume_reading(self: &Arc<Self>) -> Result<()> {
        self.check_open()?;
        if self.host_paused.swap(false, Ordering::AcqRel) {
            self.command(|r, c| c.on_readable(r));
        }
        Ok(())
    }

    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::new(ErrorKind::Closed, "the stream is closed"));
        }
        Ok(())
    }

    /// The host's `on_data` returned: read again if the stream paused for it.
    fn data_taken(self: &Arc<Self>, n: usize) {
        if self.inbox.taken(n) {
            self.command(|r, c| {
                c.auto_paused = false;
                c.on_readable(r);
            });
        }
    }

    /// Runs `f` on the stream's connection, on its reactor (later in this
    /// turn when called on that reactor's thread).
    fn command(self: &Arc<Self>, f: impl FnOnce(&mut Reactor, &mut TcpConn) + Send + 'static) {
        self.command_else(f, || {});
    }

    /// Like [`TcpShared::command`]; `missing` runs instead when the
    /// connection is gone. Returns false when the loop is gone (neither ran).
    fn command_else(
        self: &Arc<Self>,
        f: impl FnOnce(&mut Reactor, &mut TcpConn) + Send + 'static,
        missing: impl FnOnce() + Send + 'static,
    ) -> bool {
        let token = self.token.load(Ordering::Acquire);
        let generation = self.generation.load(Ordering::Acquire);
        let cmd = Box::new(move |r: &mut Reactor| {
            let found = r.with_watcher_as::<TcpConn, _>(token, Some(generation), |r, c| {
                f(r, c);
                c.settle(r)
            });
            if !found {
                missing();
            }
        });
        self.loop_handle.send_to_reactor(self.reactor, cmd).is_ok()
    }

    /// Runs the host's `on_close` (unless muted), then releases the handle.
    fn tell_closed(&self, outcome: std::result::Result<(), &Error>) {
        if !self.muted.load(Ordering::Acquire) {
            self.config.events.on_close(self.user_word(), self.id(), outcome);
        }
        self.release();
    }
}

/// Releases a stream's handle when dropped: an `on_close` task that never
/// runs (the loop was freed) still frees its table slot.
struct Release(Arc<TcpShared>);

impl Drop for Release {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// Why and how a connection ends.
#[derive(Debug)]
struct Ending {
    /// Why, when it is not a close asked for (`on_close` gets it).
    error: Option<Error>,
    /// Shut the write side down first (a graceful close: our FIN follows the output).
    graceful: bool,
    /// Reset the connection (SO_LINGER 0): an abort.
    reset: bool,
}

impl Ending {
    fn graceful() -> Ending {
        Ending { error: None, graceful: true, reset: false }
    }
    fn reset() -> Ending {
        Ending { error: None, graceful: false, reset: true }
    }
    fn error(kind: ErrorKind, message: String) -> Ending {
        Ending { error: Some(Error::new(kind, message)), graceful: false, reset: false }
    }
}

/// Where a stream is in its life.
#[derive(Debug)]
enum Phase {
    /// A connect waiting for the resolver.
    Resolving,
    /// A connect trying `addrs[next]`.
    Connecting { addrs: Vec<SocketAddr>, next: usize, last_error: String },
    Open,
    /// A connect that failed (the host was told).
    Failed,
}

/// One stream on its reactor.
pub(crate) struct TcpConn {
    /// Plain, or TLS for a listener with TLS (a layer of the stream).
    stream: Option<Stream>,
    /// An accepted TLS stream's handshake must be done by then.
    handshake_deadline: Option<Instant>,
    /// Its TLS handshake step waits for the next turn (the turn's
    /// [`HandshakeBudget`] was spent).
    handshake_waits: bool,
    shared: Arc<TcpShared>,
    phase: Phase,
    /// When a connect gives up.
    connect_deadline: Option<Instant>,
    /// When a graceful close stops waiting for its output.
    close_deadline: Option<Instant>,
    out: VecDeque<Vec<u8>>,
    /// Bytes of the front of `out` already written.
    out_pos: usize,
    token: usize,
    generation: u64,
    dirty: bool,
    /// The last event said the peer shut its side down: read to EOF.
    read_closed: bool,
    eof: bool,
    auto_paused: bool,
    closing: bool,
    /// Decided: the connection ends at the end of this operation.
    ending: Option<Ending>,
    /// The host was told how it ended (or must not be).
    told: bool,
}

impl std::fmt::Debug for TcpConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpConn").field("token", &self.token).field("phase", &self.phase).finish_non_exhaustive()
    }
}

/// The reactor index the next connect goes to.
static NEXT_REACTOR: AtomicUsize = AtomicUsize::new(0);

/// Starts a connect to `host:port` once the loop runs: resolution on the
/// resolver pool, then every address in order; `on_connect` tells the
/// outcome. Any thread.
pub(crate) fn connect(loop_handle: &LoopHandle, host: String, port: u16, config: Arc<Config>) {
    let lh = loop_handle.clone();
    loop_handle.when_started(Box::new(move || {
        let index = NEXT_REACTOR.fetch_add(1, Ordering::Relaxed) % lh.reactor_count().max(1);
        let shared = TcpShared::new(config, lh.clone(), index);
        let _ = lh.send_to_reactor(index, Box::new(move |r: &mut Reactor| begin_connect(r, shared, host, port)));
    }));
}

/// On the reactor: the connection enters the slab (resolving), the lookup goes out.
fn begin_connect(r: &mut Reactor, shared: Arc<TcpShared>, host: String, port: u16) {
    let timeout = shared.config.opts.connect_timeout_ms;
    let deadline = (timeout > 0).then(|| r.now + Duration::from_millis(timeout));
    let conn = TcpConn::new(None, shared.clone(), Phase::Resolving);
    let Some((token, generation)) = r.insert(Box::new(conn), |r, d, token, generation| {
        let Some(c) = d.as_any().downcast_mut::<TcpConn>() else { return false };
        c.token = token;
        c.generation = generation;
        c.connect_deadline = deadline;
        if let Some(d) = deadline {
            r.wake_at(d);
        }
        true
    }) else {
        return;
    };
    let lh = shared.loop_handle.clone();
    let index = shared.reactor;
    crate::net::resolve::resolve(&host, port, move |result| {
        let _ = lh.send_to_reactor(
            index,
            Box::new(move |r: &mut Reactor| {
                r.with_watcher_as::<TcpConn, _>(token, Some(generation), |r, c| {
                    c.resolved(r, result);
                    c.settle(r)
                });
            }),
        );
    });
}

/// On the reactor: a stream a listener accepted enters the slab and the
/// host is told (`on_connect`).
pub(crate) fn accepted(r: &mut Reactor, stream: TcpStream, config: &Arc<Config>) {
    let stream = match &config.opts.tls {
        None => Stream::Plain(stream),
        Some(tls) => match Stream::tls_server(stream, tls) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(target: "squall::tcp", "{e}");
                return;
            }
        },
    };
    let shared = TcpShared::new(config.clone(), r.loop_handle.clone(), r.index);
    let mut conn = TcpConn::new(Some(stream), shared, Phase::Open);
    if config.opts.tls.is_some() {
        let d = r.now + Duration::from_millis(super::config::TLS_HANDSHAKE_TIMEOUT_MS);
        conn.handshake_deadline = Some(d);
        r.wake_at(d);
    }
    r.insert(Box::new(conn), |r, d, token, generation| {
        let Some(c) = d.as_any().downcast_mut::<TcpConn>() else { return false };
        c.token = token;
        c.generation = generation;
        let Some(s) = c.stream.as_mut() else { return false };
        if let Err(e) = r.registry().register(s.socket(), Token(token), Interest::READABLE | Interest::WRITABLE) {
            tracing::error!(target: "squall::tcp", "cannot watch an accepted stream: {e}");
            c.told = true;
            return false;
        }
        c.announce(r);
        true
    });
}

impl TcpConn {
    fn new(stream: Option<Stream>, shared: Arc<TcpShared>, phase: Phase) -> TcpConn {
        TcpConn {
            stream,
            handshake_deadline: None,
            handshake_waits: false,
            shared,
            phase,
            connect_deadline: None,
            close_deadline: None,
            out: VecDeque::new(),
            out_pos: 0,
            token: 0,
            generation: 0,
            dirty: false,
            read_closed: false,
            eof: false,
            auto_paused: false,
            closing: false,
            ending: None,
            told: false,
        }
    }

    /// The connection is open: it gets its handle, the host `on_connect`.
    fn announce(&mut self, r: &mut Reactor) {
        let shared = self.shared.clone();
        if let Some(s) = self.stream.as_mut() {
            let s = s.socket();
            let _ = s.set_nodelay(shared.config.opts.nodelay);
            if let Ok(a) = s.peer_addr() {
                let _ = shared.peer.set(a);
            }
            if let Ok(a) = s.local_addr() {
                let _ = shared.local.set(a);
            }
        }
        shared.publish(self.token, self.generation);
        self.phase = Phase::Open;
        let s = shared.clone();
        r.deliver(shared.config.opts.inline, move || {
            if s.config.listener_dead.as_ref().is_some_and(|d| d.load(Ordering::Acquire)) {
                // Accepted while its listener was being freed: never shown
                // to the host, closed quietly.
                s.muted.store(true, Ordering::Release);
                let _ = s.close(true);
                return;
            }
            s.config.events.on_connect(s.user_word(), Ok(s.id()));
        });
    }

    /// The resolver answered.
    fn resolved(&mut self, r: &mut Reactor, result: io::Result<Vec<SocketAddr>>) {
        if !matches!(self.phase, Phase::Resolving) {
            return;
        }
        match result {
            Ok(addrs) => {
                self.phase = Phase::Connecting { addrs, next: 0, last_error: String::new() };
                self.try_next(r);
            }
            Err(e) => self.connect_failed(r, ErrorKind::Resolve, format!("cannot resolve the host: {e}")),
        }
    }

    /// Starts a connect to the next address; fails the connect when none is left.
    fn try_next(&mut self, r: &mut Reactor) {
        loop {
            let Phase::Connecting { addrs, next, last_error } = &mut self.phase else { return };
            let Some(&addr) = addrs.get(*next) else {
                let msg = format!("cannot connect: {last_error}");
                self.connect_failed(r, ErrorKind::Connect, msg);
                return;
            };
            match TcpStream::connect(addr) {
                Ok(mut s) => match r.registry().register(&mut s, Token(self.token), Interest::READABLE | Interest::WRITABLE) {
                    Ok(()) => {
                        tracing::trace!(target: "squall::tcp", "connecting to {addr}");
                        self.stream = Some(Stream::Plain(s));
                        return;
                    }
                    Err(e) => {
                        *last_error = format!("{addr}: {e}");
                        *next += 1;
                    }
                },
                Err(e) => {
                    *last_error = format!("{addr}: {e}");
                    *next += 1;
                }
            }
        }
    }

    /// Readiness while connecting: connected, or on to the next address.
    fn connect_event(&mut self, r: &mut Reactor, ev: &Event) {
        let Some(s) = self.stream.as_mut() else { return };
        let s = s.socket();
        let failure = match s.take_error() {
            Ok(Some(e)) | Err(e) => Some(e),
            Ok(None) => match s.peer_addr() {
                Ok(_) => None,
                Err(e) if e.kind() == io::ErrorKind::NotConnected && !(ev.is_error() || ev.is_write_closed()) => {
                    return; // not yet
                }
                Err(e) => Some(e),
            },
        };
        match failure {
            None => {
                self.announce(r);
                self.on_readable(r);
            }
            Some(e) => {
                if let Some(mut s) = self.stream.take() {
                    let _ = r.registry().deregister(s.socket());
                }
                if let Phase::Connecting { addrs, next, last_error } = &mut self.phase {
                    *last_error = format!("{}: {e}", addrs[*next]);
                    *next += 1;
                }
                self.try_next(r);
            }
        }
    }

    /// The connect failed: `on_connect` with the error and no stream.
    fn connect_failed(&mut self, r: &mut Reactor, kind: ErrorKind, message: String) {
        tracing::debug!(target: "squall::tcp", "connect failed: {message}");
        if let Some(mut s) = self.stream.take() {
            let _ = r.registry().deregister(s.socket());
        }
        self.phase = Phase::Failed;
        self.told = true;
        let s = self.shared.clone();
        let error = Error::new(kind, message);
        r.deliver(self.shared.config.opts.inline, move || tell_connect_failed(&s, &error));
    }

    /// Output from the host (already counted in `buffered`).
    fn queue(&mut self, bytes: Vec<u8>) {
        if self.ending.is_some() || self.stream.is_none() {
            self.shared.buffered.fetch_sub(bytes.len(), Ordering::AcqRel);
            return;
        }
        self.out.push_back(bytes);
    }

    /// A graceful close: once the output is written (or the close timeout
    /// passed), the write side is shut down and the socket closed.
    fn close_when_flushed(&mut self, r: &mut Reactor) {
        if self.closing {
            return;
        }
        self.closing = true;
        let t = self.shared.config.opts.close_timeout_ms;
        if t > 0 && !self.out.is_empty() {
            let d = r.now + Duration::from_millis(t);
            self.close_deadline = Some(d);
            r.wake_at(d);
        }
    }

    /// Ends the connection at the end of this operation (the first reason wins).
    fn end(&mut self, _r: &mut Reactor, ending: Ending) {
        if self.ending.is_none() {
            self.ending = Some(ending);
        }
    }

    /// Reads until the socket has no more, the host is behind, or it paused
    /// us. A TLS stream whose handshake runs takes a step of the turn's
    /// handshake budget first; without one it waits for the next turn.
    fn on_readable(&mut self, r: &mut Reactor) {
        if self.stream.as_ref().is_some_and(Stream::is_handshaking) {
            let now = r.now;
            if !r.ext::<HandshakeBudget>().take(now) {
                self.handshake_waits = true;
                r.wake_at(now);
                return;
            }
        }
        match read_ready(r, self) {
            ReadEnd::Eof => {
                self.eof = true;
                self.on_eof(r);
            }
            ReadEnd::Failed(e) if is_tls_error(&e) => self.end(r, Ending::error(ErrorKind::Tls, e.to_string())),
            ReadEnd::Failed(e) => self.end(r, Ending::error(ErrorKind::Io, format!("read: {e}"))),
            ReadEnd::Share => r.read_again(self.token),
            ReadEnd::Drained | ReadEnd::Paused => {}
        }
    }

    /// Bytes for the host's `on_data`.
    fn deliver(&mut self, r: &mut Reactor, data: Vec<u8>) {
        let n = crate::reactor::flow::cost(data.len());
        let shared = &self.shared;
        if shared.inbox.handed(n) {
            // The host is behind: stop reading until it catches up.
            self.auto_paused = true;
        }
        let s = shared.clone();
        r.deliver(shared.config.opts.inline, move || {
            if !s.silenced.load(Ordering::Acquire) {
                s.config.events.on_data(s.user_word(), s.id(), &data);
            }
            s.data_taken(n);
        });
    }

    /// The peer finished sending: `on_end`, or (without one) a graceful
    /// close decided on the host thread, after the data before the EOF was
    /// handled (so replies written from those `on_data` calls go out).
    fn on_eof(&mut self, r: &mut Reactor) {
        let s = self.shared.clone();
        r.deliver(self.shared.config.opts.inline, move || {
            if s.silenced.load(Ordering::Acquire) {
                return;
            }
            if s.config.events.wants_end() {
                s.config.events.on_end(s.user_word(), s.id());
            } else {
                let _ = s.close(false);
            }
        });
    }

    /// Writes as much queued output as the socket takes.
    fn write_out(&mut self, r: &mut Reactor) {
        self.dirty = false;
        let (written_total, outcome) = match self.stream.as_mut() {
            Some(stream) if self.ending.is_none() => {
                write_queue(&mut self.out, &mut self.out_pos, |bufs| stream.write_vectored(bufs))
            }
            _ => (0, Ok(())),
        };
        match outcome {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WriteZero => {
                self.end(r, Ending::error(ErrorKind::Io, "write: the connection is gone".into()));
            }
            Err(e) => self.end(r, Ending::error(ErrorKind::Io, format!("write: {e}"))),
        }
        if let Some(s) = self.stream.as_mut().filter(|s| s.is_tls())
            && self.ending.is_none()
        {
            if self.closing && self.out.is_empty() {
                s.close_notify(); // TLS says it is done writing, before TCP does
            }
            // Records rustls holds once the socket had no more room.
            match s.flush() {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => self.end(r, Ending::error(ErrorKind::Io, format!("write: {e}"))),
            }
        }
        if written_total > 0 {
            let left = self.shared.buffered.fetch_sub(written_total, Ordering::AcqRel).saturating_sub(written_total);
            if left <= self.shared.config.opts.high_water
                && self.ending.is_none()
                && self.shared.drain_wanted.swap(false, Ordering::AcqRel)
            {
                let s = self.shared.clone();
                r.deliver(self.shared.config.opts.inline, move || {
                    if !s.silenced.load(Ordering::Acquire) {
                        s.config.events.on_drain(s.user_word(), s.id());
                    }
                });
            }
        }
        if self.out.capacity() > 64 && self.out.is_empty() {
            self.out = VecDeque::new();
        }
    }

    /// The end of every operation: close if decided (or if a graceful close
    /// has written everything), else note pending output for the end of the
    /// turn. Returns whether the connection lives on.
    fn settle(&mut self, r: &mut Reactor) -> bool {
        if matches!(self.phase, Phase::Failed) {
            return false;
        }
        let tls_pending = self.stream.as_ref().is_some_and(Stream::wants_write);
        if self.ending.is_none() && self.closing && self.out.is_empty() {
            if let Some(s) = self.stream.as_mut().filter(|s| s.is_tls() && !s.is_handshaking()) {
                s.close_notify();
            }
            if !self.stream.as_ref().is_some_and(Stream::wants_write) {
                self.ending = Some(Ending::graceful());
            }
        }
        if let Some(ending) = self.ending.take() {
            self.finish(r, ending);
            return false;
        }
        if (!self.out.is_empty() || tls_pending) && !self.dirty && matches!(self.phase, Phase::Open) {
            self.dirty = true;
            r.dirty.push(self.token);
        }
        true
    }

    /// Closes the socket and tells the host (`on_close` after everything
    /// handed over before it; the handle is released once it returned).
    fn finish(&mut self, r: &mut Reactor, ending: Ending) {
        self.shared.closed.store(true, Ordering::Release);
        if let Some(mut st) = self.stream.take() {
            let _ = r.registry().deregister(st.socket());
            let s = st.socket();
            if ending.reset {
                let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
            } else if ending.graceful {
                let _ = s.shutdown(Shutdown::Write);
            }
        }
        self.drop_output();
        if std::mem::replace(&mut self.told, true) {
            return;
        }
        tracing::trace!(target: "squall::tcp", "token {} closed: {:?}", self.token, ending.error);
        let guard = Release(self.shared.clone());
        r.deliver(self.shared.config.opts.inline, move || {
            guard.0.tell_closed(ending.error.as_ref().map_or(Ok(()), Err));
            drop(guard);
        });
    }

    fn drop_output(&mut self) {
        let queued = self.out.iter().map(Vec::len).sum::<usize>() - self.out_pos;
        self.shared.buffered.fetch_sub(queued, Ordering::AcqRel);
        self.out = VecDeque::new();
        self.out_pos = 0;
    }
}

/// Runs `on_connect` for a failed connect: no stream, the error says why.
fn tell_connect_failed(s: &TcpShared, error: &Error) {
    s.config.events.on_connect(s.user_word(), Err(error));
}

impl Input for TcpConn {
    fn socket(&mut self) -> Option<&mut dyn Read> {
        self.stream.as_mut().map(|s| s as &mut dyn Read)
    }

    fn wants_input(&self) -> bool {
        matches!(self.phase, Phase::Open)
            && self.ending.is_none()
            && !self.eof
            && !self.closing
            && !self.auto_paused
            && !self.shared.host_paused.load(Ordering::Acquire)
    }

    fn short_read_drains(&self) -> bool {
        !self.read_closed && !self.stream.as_ref().is_some_and(Stream::is_tls)
    }

    fn input(&mut self, r: &mut Reactor, bytes: &[u8]) {
        self.deliver(r, bytes.to_vec());
    }
}

impl Watcher for TcpConn {
    fn ready(&mut self, r: &mut Reactor, _token: usize, ev: &Event) -> Step {
        match self.phase {
            Phase::Connecting { .. } => self.connect_event(r, ev),
            Phase::Open => {
                self.read_closed |= ev.is_read_closed();
                if ev.is_error()
                    && let Some(Ok(Some(e))) = self.stream.as_mut().map(|s| s.socket().take_error())
                {
                    self.end(r, Ending::error(ErrorKind::Io, e.to_string()));
                }
                if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                    self.on_readable(r);
                }
                if ev.is_writable() && (!self.out.is_empty() || self.stream.as_ref().is_some_and(Stream::wants_write)) {
                    self.write_out(r);
                }
            }
            Phase::Resolving | Phase::Failed => {}
        }
        self.settle(r).into()
    }

    fn tick(&mut self, r: &mut Reactor, _token: usize) -> Step {
        let now = r.now;
        if std::mem::take(&mut self.handshake_waits) {
            self.on_readable(r);
        }
        if let Some(d) = self.handshake_deadline {
            if !self.stream.as_ref().is_some_and(Stream::is_handshaking) {
                self.handshake_deadline = None;
            } else if now >= d {
                self.handshake_deadline = None;
                let t = super::config::TLS_HANDSHAKE_TIMEOUT_MS;
                self.end(r, Ending::error(ErrorKind::Timeout, format!("the TLS handshake timed out after {t} ms")));
            }
        }
        match self.phase {
            Phase::Resolving | Phase::Connecting { .. } if self.connect_deadline.is_some_and(|d| now >= d) => {
                let t = self.shared.config.opts.connect_timeout_ms;
                self.connect_failed(r, ErrorKind::Timeout, format!("the connect timed out after {t} ms"));
            }
            Phase::Open if self.close_deadline.is_some_and(|d| now >= d) && !self.out.is_empty() => {
                let t = self.shared.config.opts.close_timeout_ms;
                self.end(r, Ending::error(ErrorKind::Timeout, format!("the close timed out after {t} ms with output unwritten")));
            }
            _ => {}
        }
        self.settle(r).into()
    }

    /// The next share of input (the last turn's ran out).
    fn again(&mut self, r: &mut Reactor, _token: usize) -> Step {
        if matches!(self.phase, Phase::Open) {
            self.on_readable(r);
        }
        self.settle(r).into()
    }

    fn flush(&mut self, r: &mut Reactor, _token: usize) -> Step {
        if matches!(self.phase, Phase::Open) {
            self.write_out(r);
        } else {
            self.dirty = false;
        }
        self.settle(r).into()
    }

    fn stop(&mut self, r: &mut Reactor, _token: usize, _how: Stop) -> Step {
        // The loop is stopping: nothing would run a callback now.
        self.told = true;
        self.shared.closed.store(true, Ordering::Release);
        if let Some(mut s) = self.stream.take() {
            let _ = r.registry().deregister(s.socket());
        }
        self.drop_output();
        self.shared.release();
        Step::Close
    }

    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

impl Drop for TcpConn {
    /// A connection dropped without telling the host (a panic while serving
    /// it, a loop freed with io_threads = 0) still tells it if anything can
    /// run the callback, and always frees its handle.
    fn drop(&mut self) {
        if self.told {
            return;
        }
        self.told = true;
        self.shared.closed.store(true, Ordering::Release);
        let s = self.shared.clone();
        let open = matches!(self.phase, Phase::Open);
        let guard = Release(s.clone());
        let f = move || {
            if open {
                guard.0.tell_closed(Err(&Error::new(ErrorKind::Panic, "internal error: the stream was closed")));
            } else {
                let error = Error::new(ErrorKind::Panic, "internal error: the connect was abandoned");
                tell_connect_failed(&guard.0, &error);
            }
            drop(guard);
        };
        if s.config.opts.inline && crate::reactor::in_reactor_turn() {
            crate::reactor::push_local(Box::new(move |_r: &mut Reactor| f()));
        } else if let Err(task) = crate::reactor::host_task_after_turn(Task::Boxed(Box::new(f))) {
            // Not in a turn: queued directly, or dropped (releasing the
            // handle) when the loop is gone.
            let _ = s.loop_handle.add_tasks(&mut vec![task]);
        }
    }
}
