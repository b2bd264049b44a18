//! WebSocket connections on a reactor: the connection an HTTP upgrade turned
//! into, its output queue (frames owned, or shared with every subscriber of
//! a topic), keep-alive pings, the close handshake, and the hand-over of
//! events to the host (or, for inline routes, to the reactor thread itself).
//! Everything here runs on the reactor's thread.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use mio::event::Event;
use tungstenite::protocol::Role;

use super::MessageKind;
use super::route::WsRoute;
use super::deflate::codec::{DEFAULT_LEVEL, DEFAULT_MEM_LEVEL, Deflater, Inflater};
use super::deflate::offer::Agreed;
use super::topics::Published;
use super::session::{Limits, Session, WsEvent};
use super::socket::WsSocket;
use super::topics::Topic;
use crate::http::request::{ConnAddr, Request};
use crate::http::shared::ServerShared;
use crate::net::tls::Stream;
use crate::net::writeq::write_queue;
use crate::metrics::{Counter, Writer};
use crate::reactor::flow::cost;
use crate::reactor::read::{Input, ReadEnd, TURN_SHARE, read_ready};
use crate::reactor::watcher::{Group, Step, Stop, Tick, Watcher};
use crate::reactor::{Reactor, SWEEP_INTERVAL, Task};

/// How long a close we started waits for the peer's reply.
const CLOSE_GRACE_MS: u64 = 5_000;
/// A connection that read nothing for this long gives its protocol context
/// and buffers back (see `Session::compact`).
const COMPACT_AFTER_MS: u64 = 200;

/// Output waiting for the socket.
enum Out {
    Owned(Vec<u8>),
    /// A published frame, shared by every subscriber.
    Shared(Arc<[u8]>),
}

impl AsRef<[u8]> for Out {
    fn as_ref(&self) -> &[u8] {
        self.bytes()
    }
}

impl Out {
    fn bytes(&self) -> &[u8] {
        match self {
            Out::Owned(v) => v,
            Out::Shared(a) => a,
        }
    }
}

/// How far a WebSocket connection is through its close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Life {
    Open,
    /// We sent a close frame at `since` (ms) and wait for the peer's, up to
    /// the grace period; what the peer sends meanwhile is still read.
    Closing { since: u64 },
    /// The close frames were exchanged (or a protocol error was answered):
    /// nothing more is read; the connection closes once its output is
    /// written, or when the grace period from `since` is over.
    Flushing { since: u64 },
    /// The socket is finished (EOF, error, or killed): close now.
    Gone,
}

/// One WebSocket connection.
pub(crate) struct WsConn {
    stream: Stream,
    session: Session,
    /// The connection's own compressor (dedicated mode, server context
    /// takeover); `None` otherwise.
    deflater: Option<Box<Deflater>>,
    pub(crate) sock: Arc<WsSocket>,
    out: VecDeque<Out>,
    /// Bytes of the front of `out` already written.
    out_pos: usize,
    /// Bytes at the front of `out` that are no frames (the 101 response):
    /// written, they are not counted as WebSocket wire bytes.
    unmetered: usize,
    topics: Vec<Arc<Topic>>,
    last_read_ms: u64,
    last_ping_ms: u64,
    awaiting_pong_since: Option<u64>,
    life: Life,
    /// What `on_close` will say, once decided.
    close_info: Option<Box<(u16, String)>>,
    /// `on_close` was handed over (or must not be, the server being freed).
    told: bool,
    /// Reading paused: the host has not taken enough of what it was handed
    /// (the socket's `FlowGate`).
    read_paused: bool,
    /// Reading paused by the host (`sq_ws_pause_reading`).
    host_hold: bool,
    /// Reading paused: queued output costs more than the flow's high mark
    /// (a peer that sends and does not read); resumes under its low one.
    output_paused: bool,
    /// The peer shut its side down (an edge seen once): read to EOF.
    read_closed: bool,
    dirty: bool,
    token: usize,
    /// What this socket's connection close is counted as, when not by its
    /// close code (`count_close`): the server stopped it, it went over a limit.
    ended_by: Option<Counter>,
    /// Sweeps that found output waiting since the last byte written (the
    /// send timeout).
    stalled_sweeps: u32,
    /// The socket took less than was queued (it is full): wait for its
    /// writable event before writing again.
    write_blocked: bool,
    /// What is left of this turn's share of parsing (in event cost, see
    /// `reactor::read::TURN_SHARE`), given back at every readiness event
    /// and every `again`.
    share: usize,
}

// ---- entry points -----------------------------------------------------------

/// A connection about to become a WebSocket.
pub(crate) struct Opening {
    pub(crate) stream: Stream,
    pub(crate) role: Role,
    pub(crate) protocol: Option<String>,
    /// Bytes read past the handshake.
    pub(crate) leftover: Vec<u8>,
    pub(crate) read_closed: bool,
    /// What to write first (the server's 101).
    pub(crate) hello: Vec<u8>,
    /// permessage-deflate as negotiated in the handshake.
    pub(crate) deflate: Option<Agreed>,
    /// A client's: the headers of the server's 101 (empty for a server's).
    pub(crate) response_headers: Vec<(String, Vec<u8>)>,
}

/// Makes the WebSocket at `addr` (whose slot is taken out now): tells the
/// host (`on_open`, with the upgrade request on the server side), then
/// handles the bytes that followed the handshake and whatever the socket
/// holds. Server sockets come from an HTTP upgrade (`super::upgrade`),
/// client ones from the WebSocket client's handshake.
pub(crate) fn open(r: &mut Reactor, addr: ConnAddr, server: Arc<ServerShared>, route: Arc<WsRoute>, conn: Opening, req: Option<Arc<Request>>) {
    let Opening { stream, role, protocol, leftover, read_closed, hello, deflate, response_headers } = conn;
    // frames that came in the same read as the upgrade's head
    let early = leftover.len() as u64;
    let limits = Limits { max_message_size: route.opts.max_message_size };
    // The window our messages may use; 0: never compress (not negotiated,
    // or a window of 8 asked for: see `deflate::offer`).
    let (compress_bits, deflater, session) = if role == Role::Client {
        // The client compresses with its thread's shared compressor, never
        // keeping history (always allowed), in the window the server
        // allows (8: never); it inflates with history unless the server
        // said it keeps none.
        let bits = deflate.map_or(0, |a| if a.client_max_window_bits >= 9 { a.client_max_window_bits } else { 0 });
        let session = match deflate {
            None => Session::new(role, limits, leftover),
            Some(a) if a.server_no_context_takeover => Session::new(role, limits, leftover).with_deflate(true),
            Some(a) => Session::new(role, limits, leftover).with_own_inflater(Inflater::new(a.server_max_window_bits.max(9), true)),
        };
        (bits, None, session)
    } else {
        let bits = deflate.filter(Agreed::server_compresses).map_or(0, |a| a.deflate_window());
        // Dedicated mode: a compressor per connection when the server keeps
        // its context, an inflater per connection when the client keeps its own.
        // At the route's level and memory level.
        let (level, mem_level) =
            route.opts.compression.map_or((DEFAULT_LEVEL, DEFAULT_MEM_LEVEL), |p| (p.level, p.mem_level));
        let deflater = deflate
            .filter(|a| a.server_compresses() && !a.server_no_context_takeover)
            .map(|a| Box::new(Deflater::with_levels(a.deflate_window(), true, level, mem_level)));
        let session = match deflate {
            None => Session::new(role, limits, leftover),
            Some(a) if a.client_no_context_takeover => Session::new(role, limits, leftover).with_deflate(true),
            Some(a) => Session::new(role, limits, leftover).with_own_inflater(Inflater::new(a.inflate_window(), true)),
        };
        (bits, deflater, session)
    };
    let sock = WsSocket::new(addr, route, server, protocol, role == Role::Client, compress_bits, deflater.is_some());
    if !response_headers.is_empty() {
        let _ = sock.response_headers.set(response_headers);
    }
    let now = r.now_ms();
    let mut c = Box::new(WsConn {
        stream,
        session,
        deflater,
        sock: sock.clone(),
        out: VecDeque::new(),
        out_pos: 0,
        unmetered: 0,
        topics: Vec::new(),
        last_read_ms: now,
        last_ping_ms: now,
        awaiting_pong_since: None,
        life: Life::Open,
        close_info: None,
        told: false,
        read_paused: false,
        host_hold: false,
        output_paused: false,
        read_closed,
        dirty: false,
        token: addr.token,
        share: TURN_SHARE,
        ended_by: None,
        stalled_sweeps: 0,
        write_blocked: false,
    });
    c.count(Counter::WsOpened, 1);
    c.count(Counter::WsWireIn, early);
    tracing::trace!(target: "squall::ws", "WebSocket open on token {}", addr.token);
    if !hello.is_empty() {
        c.unmetered = hello.len();
        c.queue_new(hello);
    }
    let s = sock.clone();
    r.deliver_in(&sock.lane, sock.route.opts.inline, move || {
        if !s.server.dead.load(Ordering::Acquire) {
            s.route.events.open(s.handle(), s.user_word(), req.as_ref().map(|q| q.handle()));
        }
        if let Some(req) = req {
            req.release();
        }
    });
    // Into the slot (empty now: what it replaces was taken out further up
    // the stack), then what the peer sent is parsed through the one take /
    // catch / put-back: a bug there closes this connection only (its Drop
    // tells the host and keeps the count right).
    let token = addr.token;
    r.put_back(token, c);
    r.with_watcher_as::<WsConn, _>(token, Some(addr.generation), |r, c| {
        c.feed(r, &[]);
        c.on_readable(r);
        Step::Keep
    });
}

impl Input for WsConn {
    fn socket(&mut self) -> Option<&mut dyn io::Read> {
        Some(&mut self.stream)
    }

    fn wants_input(&self) -> bool {
        matches!(self.life, Life::Open | Life::Closing { .. })
            && !self.read_paused
            && !self.output_paused
            && !self.host_hold
            && !self.session.has_unparsed()
    }

    /// A short read drained a plain socket; TLS may hold more.
    fn short_read_drains(&self) -> bool {
        !self.read_closed && !self.stream.is_tls()
    }

    fn input(&mut self, r: &mut Reactor, bytes: &[u8]) {
        self.last_read_ms = r.now_ms();
        self.count(Counter::WsWireIn, bytes.len() as u64);
        self.feed(r, bytes);
    }
}

impl Watcher for WsConn {
    fn ready(&mut self, r: &mut Reactor, _token: usize, ev: &Event) -> Step {
        let (readable, writable, read_closed) = crate::reactor::readiness(ev);
        self.read_closed |= read_closed;
        self.share = TURN_SHARE;
        if readable {
            self.on_readable(r);
        }
        if writable {
            self.write_blocked = false;
            if !self.out.is_empty() || self.stream.wants_write() {
                WsConn::flush(self, r);
            }
        }
        Step::Keep
    }

    /// Keep-alive pings, pong and idle timeouts, the close grace, giving
    /// idle memory back: only on the sweep, and only for sockets that have
    /// one of these to look at.
    fn wants_tick(&self, _r: &Reactor, why: Tick) -> bool {
        let o = &self.sock.route.opts;
        why == Tick::Sweep
            && (self.closing_since().is_some()
                || o.ping_interval_ms > 0
                || o.idle_timeout_ms > 0
                || self.session.is_expanded()
                || (self.sock.send_timeout_ms > 0 && !self.out.is_empty())
                || (self.out.is_empty() && self.out.capacity() > 0))
    }

    fn tick(&mut self, r: &mut Reactor, _token: usize) -> Step {
        let now = r.now_ms();
        self.on_sweep(r, now);
        Step::Keep
    }

    /// The next share: what the session holds unparsed, then the socket.
    fn again(&mut self, r: &mut Reactor, _token: usize) -> Step {
        self.share = TURN_SHARE;
        if !self.read_paused && !self.gone() {
            self.read_on(r);
        }
        Step::Keep
    }

    fn flush(&mut self, r: &mut Reactor, _token: usize) -> Step {
        WsConn::flush(self, r);
        Step::Keep
    }

    /// Closes a finished connection, or notes it for the end-of-turn write.
    fn settle(&mut self, r: &mut Reactor, token: usize) -> Step {
        if matches!(self.life, Life::Flushing { .. }) && self.out.is_empty() && self.stream.is_tls() {
            // The close handshake is done and every frame out: TLS says it
            // is done writing too (close_notify, once), best effort.
            self.stream.close_notify();
            let _ = self.stream.flush();
        }
        if self.should_close() {
            self.finish_close(r, true);
            return Step::Close;
        }
        // Output waits: write it this turn, unless the socket is full (its
        // writable event will say when): flushing a full socket each turn
        // would spin the reactor.
        if !self.out.is_empty() && !self.dirty && !self.write_blocked {
            self.dirty = true;
            r.dirty.push(token);
        }
        Step::Keep
    }

    /// Graceful: a close with 1001. Now: closed at once (the server was
    /// freed: no callback; or its shutdown deadline passed: `on_close` with
    /// 1006). Halt: the reactor is stopping; nothing would run the callback,
    /// the handle is released.
    fn stop(&mut self, r: &mut Reactor, _token: usize, how: Stop) -> Step {
        self.ended_by = Some(Counter::ConnClosedServer);
        match how {
            Stop::Graceful => {
                self.sock.closed.store(true, Ordering::Release);
                self.start_close(r, 1001, "server shutting down");
                Step::Keep
            }
            Stop::Now | Stop::Halt => {
                let tell = how == Stop::Now && !self.sock.server.dead.load(Ordering::Acquire);
                self.set_close(1006, "server shut down");
                self.finish_close(r, tell);
                Step::Close
            }
        }
    }

    fn group(&self) -> Group {
        self.sock.server.group
    }

    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// Runs `f` on the WebSocket at `token` (of `generation`, if given), then
/// puts it back or closes it. Returns false when there is no such socket. A
/// panic inside `f` drops that connection only.
pub(crate) fn with_ws(r: &mut Reactor, token: usize, generation: Option<u64>, f: impl FnOnce(&mut Reactor, &mut WsConn)) -> bool {
    r.with_watcher_as::<WsConn, _>(token, generation, |r, c| {
        f(r, c);
        Step::Keep
    })
}

/// Runs `f` on the socket's connection, on its reactor (later in this turn
/// when called on that reactor's thread).
pub(crate) fn command(sock: &Arc<WsSocket>, f: impl FnOnce(&mut Reactor, &mut WsConn) + Send + 'static) {
    command_else(sock, f, || {});
}

/// Like [`command`]; `missing` runs instead when the connection is gone.
pub(crate) fn command_else(
    sock: &Arc<WsSocket>,
    f: impl FnOnce(&mut Reactor, &mut WsConn) + Send + 'static,
    missing: impl FnOnce() + Send + 'static,
) {
    let addr = sock.addr;
    match sock.server.loop_handle.reactor_link(addr.reactor) {
        Some(link) => link.send(Box::new(move |r: &mut Reactor| {
            if !with_ws(r, addr.token, Some(addr.generation), f) {
                missing();
            }
        })),
        None => missing(),
    }
}

/// A published frame for the subscribers of `topic` on this reactor.
pub(crate) fn fan_out(r: &mut Reactor, topic: &Arc<Topic>, published: Arc<Published>) {
    let Some(mut members) = r.ext::<super::topics::Local>().take(topic) else { return };
    let mut stale = Vec::new();
    let mut dirty = Vec::new();
    // the message's own length, whichever frame a member gets
    let payload = super::session::payload_len(&published.plain);
    for (&token, &generation) in &members {
        match r.watcher_mut::<WsConn>(token, generation) {
            Some(c) => {
                let frame = published.frame_for(c.sock.compress_bits);
                let shared_compressed = !Arc::ptr_eq(frame, &published.plain);
                let taken = c.accept_shared(frame, payload);
                // The shared frame refers to no history, but the peer's
                // inflater appends it to its window, which our compressor
                // does not hold: forget our history (always safe).
                if taken
                    && shared_compressed
                    && let Some(d) = &mut c.deflater
                {
                    d.reset();
                }
                if taken && !c.dirty && !c.write_blocked {
                    c.dirty = true;
                    dirty.push(token);
                }
            }
            // A member that ended without unsubscribing (a panic while
            // serving it): forget it.
            None => stale.push(token),
        }
    }
    for t in stale {
        members.swap_remove(&t);
    }
    r.ext::<super::topics::Local>().restore(topic, members);
    r.dirty.extend(dirty);
}

// ---- one connection ---------------------------------------------------------

impl WsConn {
    fn gone(&self) -> bool {
        self.life == Life::Gone
    }

    /// When the close started, while one is under way.
    fn closing_since(&self) -> Option<u64> {
        match self.life {
            Life::Closing { since } | Life::Flushing { since } => Some(since),
            Life::Open | Life::Gone => None,
        }
    }

    fn should_close(&self) -> bool {
        self.gone() || (matches!(self.life, Life::Flushing { .. }) && self.out.is_empty() && !self.stream.wants_write())
    }

    /// Output already counted in `buffered` (a send).
    pub(crate) fn queue_counted(&mut self, bytes: Vec<u8>) {
        if self.gone() || !self.session.can_send() {
            self.sock.buffered.fetch_sub(bytes.len(), Ordering::AcqRel);
            self.sock.frames.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        self.out.push_back(Out::Owned(bytes));
    }

    /// A dedicated-mode message: compressed here, in queue order, by the
    /// connection's compressor (plain when that does not shrink it);
    /// `counted` bytes were added to `buffered` for it.
    pub(crate) fn queue_compressing(&mut self, binary: bool, data: &[u8], counted: usize) {
        let frame = match self.deflater.as_mut().and_then(|d| d.compress(data)) {
            Some(z) => super::session::encode_deflated(binary, &z, false),
            None => super::session::encode_frame(binary, data, false),
        };
        // The frame is never longer than counted (the longest header).
        self.sock.buffered.fetch_sub(counted.saturating_sub(frame.len()), Ordering::AcqRel);
        self.queue_counted(frame);
    }

    /// Output the connection makes itself (the 101, pongs, close frames).
    fn queue_new(&mut self, bytes: Vec<u8>) {
        if bytes.is_empty() || self.gone() {
            return;
        }
        self.sock.buffered.fetch_add(bytes.len(), Ordering::AcqRel);
        self.sock.frames.fetch_add(1, Ordering::AcqRel);
        self.out.push_back(Out::Owned(bytes));
    }

    /// A published frame (of a message of `payload` bytes, before any
    /// compression); false when this subscriber does not take it.
    fn accept_shared(&mut self, frame: &Arc<[u8]>, payload: usize) -> bool {
        if self.gone() || !self.session.can_send() {
            return false;
        }
        match self.sock.admit(frame.len(), false) {
            Ok(_) => {
                self.count(Counter::TopicDeliveries, 1);
                self.count(Counter::WsMessagesOut, 1);
                self.count(Counter::WsBytesOut, payload as u64);
                self.out.push_back(Out::Shared(frame.clone()));
                true
            }
            Err(_) if self.sock.route.opts.close_on_limit => {
                self.count(Counter::TopicDrops, 1);
                self.count(Counter::WsClosedBackpressure, 1);
                self.ended_by = Some(Counter::ConnClosedLimit);
                self.sock.closed.store(true, Ordering::Release);
                self.kill(1006, "send buffer over max_backpressure");
                true
            }
            Err(_) => {
                self.count(Counter::TopicDrops, 1);
                false
            }
        }
    }

    /// Adds `n` to a counter of the server's metrics (server sockets only).
    fn count(&self, c: Counter, n: u64) {
        if !self.sock.client {
            self.sock.server.metrics.add(Writer::Reactor(self.sock.addr.reactor), c, n);
        }
    }

    /// Counts the close (by the code the host is told) and the end of the
    /// connection (its reason: the server's stop, a limit, an error, else
    /// the client).
    fn count_close(&self, code: u16) {
        self.count(crate::metrics::ws_close_counter(code), 1);
        let reason = self.ended_by.unwrap_or(match code {
            1002 | 1007 | 1008 | 1009 => Counter::ConnClosedLimit,
            1011 => Counter::ConnClosedError,
            _ => Counter::ConnClosedClient,
        });
        self.count(reason, 1);
    }

    fn set_close(&mut self, code: u16, reason: &str) {
        if self.close_info.is_none() {
            self.close_info = Some(Box::new((code, reason.to_owned())));
        }
    }

    /// Ends the connection now, dropping what is queued.
    pub(crate) fn kill(&mut self, code: u16, reason: &str) {
        self.set_close(code, reason);
        self.drop_output();
        self.life = Life::Gone;
    }

    fn drop_output(&mut self) {
        let queued: usize = self.out.iter().map(|o| o.bytes().len()).sum::<usize>() - self.out_pos;
        self.sock.buffered.fetch_sub(queued, Ordering::AcqRel);
        self.sock.frames.fetch_sub(self.out.len(), Ordering::AcqRel);
        self.out = VecDeque::new();
        self.out_pos = 0;
    }

    /// Starts the close handshake (a close frame; the peer's reply ends it).
    pub(crate) fn start_close(&mut self, r: &mut Reactor, code: u16, reason: &str) {
        if !self.session.can_send() || self.gone() {
            return;
        }
        let _ = self.session.close(code, reason);
        let out = self.session.take_output();
        self.queue_new(out);
        let since = r.now_ms();
        self.life = match self.life {
            Life::Flushing { .. } => Life::Flushing { since },
            _ => Life::Closing { since },
        };
    }

    pub(crate) fn send_ping(&mut self, data: &[u8]) {
        if self.session.control(false, data).is_ok() {
            let out = self.session.take_output();
            self.queue_new(out);
        }
    }

    pub(crate) fn subscribe(&mut self, r: &mut Reactor, topic: Arc<Topic>) {
        if !matches!(self.life, Life::Open | Life::Closing { .. }) {
            self.sock.topics.remove_subscriber(&topic, r.index);
            return;
        }
        let generation = self.sock.addr.generation;
        if r.ext::<super::topics::Local>().insert(&topic, self.token, generation) {
            self.topics.push(topic);
        } else {
            // Already subscribed: the count raised by the call is undone.
            self.sock.topics.remove_subscriber(&topic, r.index);
        }
    }

    pub(crate) fn unsubscribe(&mut self, r: &mut Reactor, topic: &Arc<Topic>) {
        if r.ext::<super::topics::Local>().remove(topic, self.token, self.sock.addr.generation) {
            self.topics.retain(|t| !Arc::ptr_eq(t, topic));
            self.sock.topics.remove_subscriber(topic, r.index);
        }
    }

    /// The host caught up with the messages handed to it: read again.
    pub(crate) fn resume(&mut self, r: &mut Reactor) {
        if self.read_paused {
            self.read_paused = false;
            // time spent waiting for the host is not the peer's idleness
            self.last_read_ms = r.now_ms();
            self.read_on(r);
        }
    }

    /// The host holds reading or lets it go on (its latest word).
    pub(crate) fn follow_host_hold(&mut self, r: &mut Reactor) {
        let hold = self.sock.host_hold.load(Ordering::Acquire);
        if self.host_hold == hold {
            return;
        }
        self.host_hold = hold;
        if !hold {
            self.last_read_ms = r.now_ms();
            self.read_on(r);
        }
    }

    /// After a pause: what the session holds unparsed first, then the
    /// socket (edge-triggered: no new event would say it has more).
    fn read_on(&mut self, r: &mut Reactor) {
        if self.host_hold {
            return;
        }
        self.feed(r, &[]);
        if !self.read_paused && !self.output_paused {
            self.on_readable(r);
        }
    }

    /// Reads until the socket has no more (or the host is behind).
    fn on_readable(&mut self, r: &mut Reactor) {
        match read_ready(r, self) {
            ReadEnd::Eof => {
                self.set_close(1006, "connection lost");
                self.life = Life::Gone;
            }
            ReadEnd::Failed(_) => self.kill(1006, "connection lost"),
            ReadEnd::Share => r.read_again(self.token),
            ReadEnd::Drained | ReadEnd::Paused => {}
        }
    }

    /// Runs bytes through the session and hands what they completed over,
    /// parsing no further than the host's inbox has room for (the rest
    /// stays in the session until the host catches up).
    fn feed(&mut self, r: &mut Reactor, bytes: &[u8]) {
        // Output backed up (over the route's high-water mark): pongs wait,
        // and only the latest one goes out once the output drains.
        let backed_up = self.sock.output_cost() > self.sock.route.opts.high_water;
        self.session.hold_pongs(backed_up);
        let mut events = Vec::new();
        let mut bytes = bytes;
        let mut pinged = false;
        loop {
            // No further than the host's inbox has room for, nor than this
            // turn's share: every event counts for the share, pings answered
            // here included (each is a pong to write).
            let room = self.sock.inbox.room().min(self.share);
            self.session.feed_within(bytes, &mut events, room, WsEvent::cost);
            bytes = &[];
            let spent: usize = events.iter().map(WsEvent::cost).sum();
            self.share = self.share.saturating_sub(spent);
            pinged |= self.hand_events(r, &mut events);
            if !self.session.has_unparsed() || self.read_paused || self.host_hold || self.gone() {
                break;
            }
            if self.share == 0 {
                // the rest waits for this connection's next share
                r.read_again(self.token);
                break;
            }
            if self.sock.inbox.room() == 0 {
                // Over the mark (a resume that was already on its way when
                // buffered input was parsed past the gate again): the gate
                // is paused and its next `taken` resumes.
                self.read_paused = true;
                break;
            }
            // Parsing stopped for want of room, but the host caught up
            // meanwhile (reading did not pause): parse on.
        }
        let out = self.session.take_output();
        self.queue_new(out);
        // The peer makes us hold too much output (it does not read what we
        // send), or pings faster than it reads our pongs: read no more until
        // the output drains.
        if (self.sock.output_cost() > self.sock.flow.high || (backed_up && pinged)) && !self.output_paused {
            self.count(Counter::WsPausedOutput, 1);
            self.output_paused = true;
        }
    }

    /// Hands the session's events over; returns whether a ping came.
    fn hand_events(&mut self, r: &mut Reactor, events: &mut Vec<WsEvent>) -> bool {
        let mut pinged = false;
        for ev in events.drain(..) {
            match ev {
                WsEvent::Message { binary, data } => self.on_message(r, binary, data),
                WsEvent::Ping(data) => {
                    pinged = true;
                    if self.sock.route.interest.ping {
                        self.on_control(r, false, data);
                    }
                }
                WsEvent::Pong(data) => {
                    self.awaiting_pong_since = None;
                    if self.sock.route.interest.pong {
                        self.on_control(r, true, data);
                    }
                }
                WsEvent::Closed { code, reason, by_peer } => {
                    tracing::trace!(target: "squall::ws", "closed ({code} {reason:?}, by peer: {by_peer})");
                    self.sock.closed.store(true, Ordering::Release);
                    self.set_close(code, &reason);
                    // a peer that closes and then stops reading our last
                    // frames is given the same grace as one that never answers
                    if !self.gone() {
                        let since = self.closing_since().unwrap_or(r.now_ms());
                        self.life = Life::Flushing { since };
                    }
                }
            }
        }
        pinged
    }

    /// Counts an event handed to the host (its bytes and its fixed cost):
    /// reading pauses while the host is behind.
    fn hand_over(&mut self, n: usize) {
        if self.sock.inbox.handed(n) {
            if !self.read_paused {
                self.count(Counter::WsPausedInput, 1);
            }
            self.read_paused = true;
        }
    }

    fn on_message(&mut self, r: &mut Reactor, binary: bool, data: Vec<u8>) {
        crate::fault::hit(crate::fault::Point::WebSocket);
        self.count(Counter::WsMessagesIn, 1);
        self.count(Counter::WsBytesIn, data.len() as u64);
        let n = cost(data.len());
        self.hand_over(n);
        let sock = &self.sock;
        let s = sock.clone();
        r.deliver_in(&sock.lane, sock.route.opts.inline, move || {
            if !s.server.dead.load(Ordering::Acquire) {
                let kind = if binary { MessageKind::Binary } else { MessageKind::Text };
                s.route.events.message(s.handle(), s.user_word(), kind, &data);
            }
            s.message_taken(n);
        });
    }

    fn on_control(&mut self, r: &mut Reactor, pong: bool, data: Vec<u8>) {
        let n = cost(data.len());
        self.hand_over(n);
        let s = self.sock.clone();
        r.deliver_in(&self.sock.lane, self.sock.route.opts.inline, move || {
            if !s.server.dead.load(Ordering::Acquire) {
                let events = &s.route.events;
                if pong {
                    events.pong(s.handle(), s.user_word(), &data);
                } else {
                    events.ping(s.handle(), s.user_word(), &data);
                }
            }
            s.message_taken(n);
        });
    }

    /// Writes as much queued output as the socket takes (several frames per
    /// `writev`).
    fn flush(&mut self, r: &mut Reactor) {
        self.dirty = false;
        let gone = self.gone();
        let stream = &mut self.stream;
        let frames_before = self.out.len();
        let (written_total, outcome) = if gone {
            (0, Ok(()))
        } else {
            write_queue(&mut self.out, &mut self.out_pos, |bufs| stream.write_vectored(bufs))
        };
        // what the socket did not take waits for its writable event
        self.write_blocked = !gone && outcome.is_ok() && !self.out.is_empty();
        // (before a kill empties the queue and counts what it dropped)
        let written_frames = frames_before.saturating_sub(self.out.len());
        if written_frames > 0 {
            self.sock.frames.fetch_sub(written_frames, Ordering::AcqRel);
        }
        if outcome.is_err() {
            self.kill(1006, "connection lost");
        }
        // TLS: records rustls holds once the socket had no more room.
        if self.stream.wants_write() && !self.gone() {
            match self.stream.flush() {
                Err(e) if e.kind() != io::ErrorKind::WouldBlock && e.kind() != io::ErrorKind::Interrupted => {
                    self.kill(1006, "connection lost");
                }
                _ => {}
            }
        }
        if written_total > 0 {
            let head = self.unmetered.min(written_total);
            self.unmetered -= head;
            self.count(Counter::WsWireOut, (written_total - head) as u64);
            self.stalled_sweeps = 0;
            self.sock.buffered.fetch_sub(written_total, Ordering::AcqRel);
            let left = self.sock.output_cost();
            if left <= self.sock.route.opts.high_water && self.session.holds_pongs() && !self.gone() {
                // the pending pong (answering the latest ping) goes out now
                self.session.hold_pongs(false);
                let out = self.session.take_output();
                self.queue_new(out);
            }
            if self.output_paused && left < self.sock.flow.low.min(self.sock.route.opts.high_water) && !self.gone() {
                self.output_paused = false;
                self.read_on(r);
            }
            if left <= self.sock.route.opts.high_water && self.sock.drain_wanted.swap(false, Ordering::AcqRel) && !self.gone() {
                let s = self.sock.clone();
                r.deliver_in(&self.sock.lane, self.sock.route.opts.inline, move || {
                    if !s.server.dead.load(Ordering::Acquire) {
                        s.route.events.drain(s.handle(), s.user_word());
                    }
                });
            }
        }
    }

    fn on_sweep(&mut self, r: &mut Reactor, now: u64) {
        if now.saturating_sub(self.last_read_ms) >= COMPACT_AFTER_MS {
            // Quiet for a while: keep only what an idle socket needs.
            self.session.compact();
            if self.out.is_empty() {
                self.out = VecDeque::new();
            }
        }
        if self.sock.send_timeout_ms > 0 && !self.out.is_empty() {
            // sweeps are at least SWEEP_INTERVAL apart: the stall lasted at least this
            self.stalled_sweeps = self.stalled_sweeps.saturating_add(1);
            let stalled_ms = u64::from(self.stalled_sweeps) * SWEEP_INTERVAL.as_millis() as u64;
            if stalled_ms >= self.sock.send_timeout_ms {
                // the peer reads nothing: a close frame would not reach it either
                tracing::debug!(target: "squall::ws", "token {}: nothing read of our output for {stalled_ms} ms: closing", self.token);
                self.ended_by = Some(Counter::ConnClosedTimeout);
                self.sock.closed.store(true, Ordering::Release);
                self.kill(1008, "send timeout: the peer read nothing");
                return;
            }
        }
        let o = &self.sock.route.opts;
        if let Some(since) = self.closing_since() {
            if now.saturating_sub(since) >= CLOSE_GRACE_MS {
                self.kill(1006, "no reply to the close frame");
            }
            return;
        }
        if o.idle_timeout_ms > 0 && now.saturating_sub(self.last_read_ms) >= o.idle_timeout_ms {
            self.sock.closed.store(true, Ordering::Release);
            self.start_close(r, 1001, "idle timeout");
            return;
        }
        if o.ping_interval_ms > 0 {
            let pong_timeout = if o.pong_timeout_ms > 0 { o.pong_timeout_ms } else { o.ping_interval_ms };
            match self.awaiting_pong_since {
                Some(since) if now.saturating_sub(since) >= pong_timeout => {
                    self.sock.closed.store(true, Ordering::Release);
                    self.kill(1006, "no pong before the timeout");
                }
                Some(_) => {}
                None if now.saturating_sub(self.last_ping_ms) >= o.ping_interval_ms => {
                    self.last_ping_ms = now;
                    self.awaiting_pong_since = Some(now);
                    self.send_ping(b"");
                }
                None => {}
            }
        }
    }

    /// The connection ends: subscriptions go, the host is told (`on_close`,
    /// after every message handed over before it), the handle is released
    /// once the callback returned, and the socket leaves the poll.
    fn finish_close(&mut self, r: &mut Reactor, tell: bool) {
        for t in std::mem::take(&mut self.topics) {
            r.ext::<super::topics::Local>().remove(&t, self.token, self.sock.addr.generation);
            self.sock.topics.remove_subscriber(&t, r.index);
        }
        self.sock.closed.store(true, Ordering::Release);
        let _ = r.registry().deregister(self.stream.socket());
        if self.told {
            return;
        }
        self.told = true;
        let (code, reason) = self.close_info.take().map_or((1006, String::new()), |b| *b);
        self.count_close(code);
        tracing::trace!(target: "squall::ws", "token {} closed: {code} {reason:?}", self.token);
        if !tell {
            self.sock.release();
            return;
        }
        let s = self.sock.clone();
        r.deliver_in(&self.sock.lane, self.sock.route.opts.inline, move || tell_closed(&s, code, &reason));
    }
}

/// Tells the host the socket closed, then releases the handle.
fn tell_closed(s: &Arc<WsSocket>, code: u16, reason: &str) {
    if !s.server.dead.load(Ordering::Acquire) {
        s.route.events.close(s.handle(), s.user_word(), code, reason);
    }
    s.release();
}

impl Drop for WsConn {
    /// However a WebSocket ends, the connection count is kept right; one that
    /// ended without `finish_close` (a panic while serving it) still tells
    /// the host and gives its subscriptions back.
    fn drop(&mut self) {
        if !self.told {
            self.told = true;
            self.ended_by = Some(Counter::ConnClosedError);
            self.count_close(1011);
            for t in std::mem::take(&mut self.topics) {
                self.sock.topics.remove_subscriber(&t, self.sock.addr.reactor);
            }
            self.sock.closed.store(true, Ordering::Release);
            let s = self.sock.clone();
            if s.route.opts.inline && crate::reactor::in_reactor_turn() {
                // inline: on the reactor, after what this turn queued
                crate::reactor::push_local(Box::new(move |_r: &mut Reactor| tell_closed(&s, 1011, "internal error")));
            } else if let Some(entry) = self.sock.lane.push(Task::Boxed(Box::new(move || tell_closed(&s, 1011, "internal error")))) {
                // after the messages handed over (in the socket's lane), and
                // after this turn's other tasks
                if let Err(entry) = crate::reactor::host_task_after_turn(entry) {
                    let handle = self.sock.server.loop_handle.clone();
                    let mut one = vec![entry];
                    if handle.add_tasks(&mut one).is_err() {
                        self.sock.release();
                    }
                }
            }
        }
        let server = &self.sock.server;
        server.connections.fetch_sub(1, Ordering::AcqRel);
        server.maybe_shutdown_finished();
    }
}

impl WsSocket {
    /// The host took a message (its callback returned): read again if the
    /// connection paused for the host.
    pub(crate) fn message_taken(self: &Arc<Self>, n: usize) {
        if self.inbox.taken(n) {
            command(self, |r, c: &mut WsConn| c.resume(r));
        }
    }
}

#[cfg(test)]
mod tests {
    /// An idle WebSocket must stay well under 1 KiB with its session.
    #[test]
    fn a_websocket_is_small() {
        let size = std::mem::size_of::<super::WsConn>();
        assert!(size <= 328, "WsConn is {size} bytes");
    }
}
