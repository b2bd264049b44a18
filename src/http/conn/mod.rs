//! HTTP connections on a reactor: the connection's state, its socket I/O
//! and backpressure. Its other jobs are in the child modules: decoding,
//! routing and calling handlers (`route`), answering in pipeline order
//! (`pipeline`), and the HTTP side of an upgrade (`switch`); accepting is
//! in `http::accept`, static responses in `http::static_files`. Everything
//! here runs on the reactor's thread.
//!
//! The children add methods to [`Conn`] and use the types declared here;
//! this file imports nothing from them.

mod pipeline;
mod route;
mod switch;

pub(crate) use switch::decide_parked;

use std::collections::VecDeque;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use mio::event::Event;
use mio::net::TcpStream;
use mio::{Interest, Token};
use std::io::Write as _;
use std::os::unix::fs::FileExt;

use super::h1::{Decoder, HttpError, RequestHead, Timeout};
use super::request::{ConnAddr, ConnMessage, Request};
use super::shared::{Config, RouteTarget, ServerShared};
use super::static_files::FileRange;
use super::upgrade::{Handshake, UpgradeRoute};
use crate::net::tls::{Stream, is_not_tls};
use crate::net::tls_server::HandshakeBudget;
use crate::reactor::Reactor;
use crate::metrics::{Counter, Writer};
use crate::reactor::flow::Marks;
use crate::reactor::SWEEP_INTERVAL;
use crate::reactor::read::{Input, ReadEnd, read_ready};
use crate::reactor::watcher::{Group, Step, Stop, Tick, Watcher};

/// The answer to plain HTTP sent to a TLS port (nginx's choice: a 400 in
/// plaintext, then close), so that a client that forgot `https://` is told
/// why.
const PLAIN_HTTP_TO_TLS: &[u8] = b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 60\r\nConnection: close\r\n\r\nThis port speaks TLS: a plain HTTP request was sent to it.\r\n";

struct Inflight {
    req: Option<Arc<Request>>,
    out: Vec<u8>,
    /// A file range to send (sendfile) after `out`, once the response is done.
    file: Option<FileRange>,
    done: bool,
    close: bool,
    /// When its head was decoded: the start of its latency.
    since: Instant,
}

impl Inflight {
    /// A response the server made itself (its head and body in `out`).
    fn made(out: Vec<u8>, file: Option<FileRange>, close: bool) -> Inflight {
        Inflight { req: None, out, file, done: true, close, since: crate::metrics::stamp() }
    }

    /// A request its handler answers.
    fn handled(req: Arc<Request>) -> Inflight {
        Inflight { req: Some(req), out: Vec::new(), file: None, done: false, close: false, since: crate::metrics::stamp() }
    }

    /// Its response's status: the handler's, or the one in a made head.
    fn status(&self, head: &[u8]) -> u16 {
        match &self.req {
            Some(req) => req.lock().status,
            None => head.get(9..12).and_then(|s| std::str::from_utf8(s).ok()?.parse().ok()).unwrap_or(0),
        }
    }
}

/// What the connection has yet to write, in order.
enum OutItem {
    Bytes(Vec<u8>, usize),
    File(FileRange),
}

/// Where a request's head leads once its body has arrived.
enum Route {
    Handler(RouteTarget, Vec<Option<String>>),
    /// A response the server makes itself (404, 405 with Allow).
    Builtin(u16, Vec<(String, Vec<u8>)>),
    /// A file under a static mount: (mount index, path below the prefix).
    Static(usize, String),
    /// An upgrade route (a WebSocket's): the handshake, then the switch.
    Upgrade(Arc<dyn UpgradeRoute>, Vec<Option<String>>),
}

/// An upgrade in progress: waits for the decision (made on the host thread
/// when the route asks the host) and for the responses before it to be
/// written.
struct PendingUpgrade {
    /// None while it is on the host thread being decided.
    handshake: Option<Box<dyn Handshake>>,
    /// The upgrade request (finished: a view for the host).
    req: Arc<Request>,
    /// Ok to switch, Err(status) to refuse; None until decided.
    decision: Option<Result<(), u16>>,
}

/// A request whose head arrived and whose body is arriving.
struct Partial {
    head: RequestHead,
    route: Route,
    body: Vec<u8>,
    /// For a route that streams the body: the request, already dispatched.
    stream: Option<Arc<Request>>,
}

pub(crate) struct Conn {
    /// Dropped by `Drop` unless an upgrade moved it to a WebSocket. Plain,
    /// or TLS (a layer between the socket and the buffers below).
    stream: std::mem::ManuallyDrop<Stream>,
    server: Arc<ServerShared>,
    /// Requests that may be in flight before reading pauses.
    max_pipeline: u32,
    /// The server's flow marks when this connection was accepted.
    flow: Marks,
    remote: SocketAddr,
    decoder: Decoder,
    /// Input not yet decoded (a partial request, or requests waiting while
    /// the pipeline is full); empty most of the time.
    rbuf: Vec<u8>,
    /// Output not yet written, in order.
    out: VecDeque<OutItem>,
    /// Bytes in `out` (file ranges counted by their remaining length).
    out_bytes: usize,
    next_seq: u64,
    write_seq: u64,
    inflight: VecDeque<Inflight>,
    /// Boxed: an idle connection (most of them) pays 8 bytes for it.
    current: Option<Box<Partial>>,
    life: Lifecycle,
    peer: Peer,
    pauses: Pauses,
    /// An upgrade request waiting for its decision or its turn.
    upgrade: Option<Box<PendingUpgrade>>,
    /// Writing failed (or output was dropped): what TLS still holds is
    /// never sent.
    broken: bool,
    /// Its TLS handshake step waits for the next turn (the turn's
    /// [`HandshakeBudget`] was spent).
    handshake_waits: bool,
    /// A TLS connection whose handshake is not counted in the metrics yet
    /// (done, failed or timed out): counted once, when it ends.
    tls_uncounted: bool,
    token: usize,
    generation: u64,
    /// The reactor it lives on (its metrics shard).
    reactor: u16,
    /// The send timeout, in ms (0: none), and the sweeps that found output
    /// waiting since the last byte written.
    send_timeout_ms: u32,
    stalled_sweeps: u16,
    /// What its close is counted as (`metrics::Counter::ConnClosed*`).
    close_reason: Counter,
    /// Bytes written since the accept; and for each response whose last
    /// byte is not written yet, where it ends in that count and when its
    /// request's head arrived (its latency ends when `written` passes it).
    written: u64,
    ends: VecDeque<(u64, Instant)>,
}

/// How far a connection is through its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lifecycle {
    /// Reading and serving requests.
    Serving,
    /// No more requests are read (a response said close, input was bad, an
    /// upgrade was asked for, the server shuts down); those in flight are
    /// answered.
    Finishing,
    /// Closes as soon as every queued byte is written; no more requests.
    Closing,
    /// The stream moved to another protocol: nothing of this connection
    /// remains.
    Upgraded,
}

/// What the peer did to its side of the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Peer {
    Open,
    /// An event said it shut its side down: read on to the EOF even after a
    /// short read (no edge would follow).
    ShutDown,
    /// Its EOF was read, or the socket failed: nothing more to read.
    Gone,
}

/// Why a connection does not read now; it reads while none holds.
#[derive(Debug, Clone, Copy, Default)]
struct Pauses {
    /// Too many requests in flight (pipelining): decoding waits too.
    pipeline_full: bool,
    /// The host has not taken enough of a streamed body (its `FlowGate`).
    body_backlog: bool,
    /// Too much output is queued: a client that pipelines and does not read
    /// (more than the flow's high mark; reading resumes below its low one).
    output_backlog: bool,
    /// The bodies of the requests in flight hold more than the flow's high
    /// mark: the next request is not read until responses free them
    /// (pipelined uploads cost one body at a time, not a pipeline's worth).
    bodies_held: bool,
    /// One of them ended: decode what is buffered and read again once the
    /// current operation is over (see `Conn::catch_up`).
    ended: bool,
}

impl Pauses {
    fn any(&self) -> bool {
        self.pipeline_full || self.body_backlog || self.output_backlog || self.bodies_held
    }
}

impl Input for Conn {
    fn socket(&mut self) -> Option<&mut dyn Read> {
        Some(&mut *self.stream)
    }

    /// Input we will not decode is not buffered: the kernel holds it.
    fn wants_input(&self) -> bool {
        self.peer != Peer::Gone && self.takes_requests() && !self.pauses.any()
    }

    fn short_read_drains(&self) -> bool {
        self.peer == Peer::Open && !self.stream.is_tls()
    }

    fn input(&mut self, r: &mut Reactor, bytes: &[u8]) {
        // plaintext means the handshake is done: counted before the request
        // it carries is decoded (and perhaps answered on this reactor)
        self.handshake_ended(Counter::TlsHandshakes);
        self.count(Counter::BytesIn, bytes.len() as u64);
        if self.rbuf.is_empty() {
            let used = self.decode(r, bytes);
            if used < bytes.len() {
                self.rbuf.extend_from_slice(&bytes[used..]);
            }
        } else {
            self.rbuf.extend_from_slice(bytes);
            self.decode_buffered(r);
        }
    }
}

impl Watcher for Conn {
    fn ready(&mut self, r: &mut Reactor, _token: usize, ev: &Event) -> Step {
        let (readable, writable, read_closed) = crate::reactor::readiness(ev);
        if read_closed && self.peer == Peer::Open {
            self.peer = Peer::ShutDown;
        }
        if read_closed && self.peer != Peer::Gone && !self.takes_requests() && !self.inflight.is_empty() {
            // No more requests are read here (an HTTP/1.0 or `Connection:
            // close` request), so no read would see the EOF: the event says
            // it. The requests in flight learn that their client left (their
            // on-close callbacks run), as on a connection still read.
            self.peer = Peer::Gone;
            self.on_peer_closed();
        }
        if readable {
            self.on_readable(r);
        }
        if writable && self.pending_write() {
            self.flush(r);
        }
        Step::Keep
    }

    /// The next share of input (the last turn's ran out).
    fn again(&mut self, r: &mut Reactor, _token: usize) -> Step {
        self.on_readable(r);
        Step::Keep
    }

    fn wants_tick(&self, r: &Reactor, why: Tick) -> bool {
        self.handshake_waits
            || (why == Tick::Sweep
                && (self.decoder.check_timeout(r.now_ms()).is_some() || (self.send_timeout_ms > 0 && self.pending_write())))
    }

    fn tick(&mut self, r: &mut Reactor, _token: usize) -> Step {
        if self.handshake_waits {
            self.handshake_waits = false;
            self.on_readable(r);
        }
        if let Some(t) = self.decoder.check_timeout(r.now_ms()) {
            self.on_timeout(r, t);
        }
        self.check_send_stall();
        Step::Keep
    }

    fn flush(&mut self, r: &mut Reactor, _token: usize) -> Step {
        Conn::flush(self, r);
        Step::Keep
    }

    /// After every operation: catch up (see [`Conn::catch_up`]), then switch
    /// protocols once an upgrade is decided and due, or close once the last byte
    /// of a closing connection is written.
    fn settle(&mut self, r: &mut Reactor, _token: usize) -> Step {
        self.catch_up(r);
        if self.upgrade_ready() {
            if self.switch_protocols(r) == Step::Replaced {
                return Step::Replaced;
            }
            // Refused: the refusal is queued like any response.
            self.catch_up(r);
        }
        if self.should_close() {
            self.close(r);
            return Step::Close;
        }
        Step::Keep
    }

    /// What the requests send their connection (see [`ConnMessage`]).
    fn message(&mut self, r: &mut Reactor, _token: usize, msg: &mut dyn std::any::Any) -> Step {
        match msg.downcast_mut::<ConnMessage>() {
            Some(ConnMessage::Output(output)) => self.take_output(r, *output),
            Some(ConnMessage::Resume) => self.resume(r),
            None => {}
        }
        Step::Keep
    }

    fn stop(&mut self, r: &mut Reactor, _token: usize, how: Stop) -> Step {
        match how {
            Stop::Graceful => {
                self.close_reason = Counter::ConnClosedServer;
                // A request still arriving is read to its end (its response
                // then closes the connection); otherwise nothing new is read.
                if self.current.is_none() {
                    self.stop_taking_requests();
                    if self.inflight.is_empty() {
                        self.close_after_output();
                    }
                }
                Step::Keep
            }
            Stop::Now | Stop::Halt => {
                self.close_reason = Counter::ConnClosedServer;
                self.close(r);
                Step::Close
            }
        }
    }

    fn group(&self) -> Group {
        self.server.group
    }

    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// A connection the listener accepted enters the reactor.
pub(super) fn add_conn(r: &mut Reactor, server: Arc<ServerShared>, config: Config, stream: TcpStream, remote: SocketAddr) {
    let stream = match &config.tls {
        None => Stream::Plain(stream),
        Some(tls) => match Stream::tls_server(stream, tls) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(target: "squall::http", "{remote}: {e}");
                return;
            }
        },
    };
    let max_pipeline = u32::try_from(config.max_pipeline).unwrap_or(u32::MAX);
    let flow = config.flow;
    let decoder = Decoder::new(config.limits, r.now_ms());
    let conn = Box::new(Conn {
        stream: std::mem::ManuallyDrop::new(stream),
        server,
        max_pipeline,
        flow,
        remote,
        decoder,
        rbuf: Vec::new(),
        out: VecDeque::new(),
        out_bytes: 0,
        next_seq: 0,
        write_seq: 0,
        inflight: VecDeque::new(),
        current: None,
        life: Lifecycle::Serving,
        peer: Peer::Open,
        pauses: Pauses::default(),
        upgrade: None,
        broken: false,
        handshake_waits: false,
        tls_uncounted: config.tls.is_some(),
        token: 0,
        generation: 0,
        reactor: r.index as u16, // MAX_IO_THREADS is 64
        send_timeout_ms: u32::try_from(config.send_timeout_ms).unwrap_or(u32::MAX),
        stalled_sweeps: 0,
        close_reason: Counter::ConnClosedClient,
        written: 0,
        ends: VecDeque::new(),
    });
    conn.server.connections.fetch_add(1, Ordering::Relaxed);
    conn.count(Counter::ConnAccepted, 1);
    r.insert(conn, |r, w, token, generation| {
        let Some(c) = w.as_any().downcast_mut::<Conn>() else { return Step::Close };
        c.token = token;
        c.generation = generation;
        if let Err(e) = r.registry().register(c.stream.socket(), Token(token), Interest::READABLE | Interest::WRITABLE) {
            tracing::warn!(target: "squall::http", "cannot watch a connection: {e}");
            return Step::Close;
        }
        tracing::trace!(target: "squall::http", "accepted {} as token {token}", c.remote);
        Step::Keep
    });
}

// ---- one connection ---------------------------------------------------------

impl Conn {
    /// Whether requests are still read and served.
    fn takes_requests(&self) -> bool {
        self.life == Lifecycle::Serving
    }

    /// No more requests are read; those in flight are answered.
    fn stop_taking_requests(&mut self) {
        if self.life == Lifecycle::Serving {
            self.life = Lifecycle::Finishing;
        }
    }

    /// Whether the connection closes once its output is written.
    fn closing(&self) -> bool {
        self.life == Lifecycle::Closing
    }

    /// Close as soon as every queued byte is written.
    fn close_after_output(&mut self) {
        if self.life != Lifecycle::Upgraded {
            self.life = Lifecycle::Closing;
        }
    }

    fn addr(&self, r: &Reactor) -> ConnAddr {
        ConnAddr { reactor: r.index, token: self.token, generation: self.generation }
    }

    /// Whether output waits for the socket: queued here, or records TLS
    /// made and could not send yet (unless writing failed).
    fn pending_write(&self) -> bool {
        !self.out.is_empty() || (!self.broken && self.stream.wants_write())
    }

    fn push_bytes(&mut self, bytes: Vec<u8>) {
        if bytes.is_empty() {
            return;
        }
        self.out_bytes += bytes.len();
        if let Some(OutItem::Bytes(last, _)) = self.out.back_mut()
            && last.len() < 64 * 1024
        {
            last.extend_from_slice(&bytes);
            return;
        }
        self.out.push_back(OutItem::Bytes(bytes, 0));
    }

    fn should_close(&self) -> bool {
        self.closing() && !self.pending_write()
    }

    fn mark_dirty(&self, r: &mut Reactor) {
        r.mark_dirty(self.token);
    }

    /// Reads until the socket has no more (or this turn's share is read),
    /// decoding as it goes. A TLS connection whose handshake runs takes a
    /// step of the turn's handshake budget first; without one it waits for
    /// the next turn.
    fn on_readable(&mut self, r: &mut Reactor) {
        let handshaking = self.stream.is_handshaking() && self.peer != Peer::Gone;
        if handshaking {
            let now = r.now;
            if !r.ext::<HandshakeBudget>().take(now) {
                self.handshake_waits = true;
                r.wake_at(now);
                return;
            }
        }
        let end = read_ready(r, self);
        if !self.stream.is_handshaking() {
            self.handshake_ended(Counter::TlsHandshakes);
        } else if matches!(end, ReadEnd::Eof | ReadEnd::Failed(_)) {
            self.handshake_ended(Counter::TlsHandshakeFailures);
        }
        match end {
            ReadEnd::Eof => {
                self.peer = Peer::Gone;
                self.on_peer_closed();
            }
            // Failed handshakes are warnings, worded as Tornado's ("SSL
            // Error on <peer>: ...") so that programs and tests watching its
            // log find them; errors after the handshake (resets) are debug.
            ReadEnd::Failed(e) if is_not_tls(&e) => {
                tracing::warn!(target: "squall::http", "SSL Error on {}: plain HTTP on a TLS port: answered 400", self.remote);
                let sock = self.stream.socket();
                let _ = sock.write(PLAIN_HTTP_TO_TLS);
                let _ = sock.shutdown(std::net::Shutdown::Write);
                self.on_socket_error();
            }
            ReadEnd::Failed(e) => {
                if handshaking {
                    tracing::warn!(target: "squall::http", "SSL Error on {}: {e}", self.remote);
                } else if self.stream.is_tls() {
                    tracing::debug!(target: "squall::http", "{}: {e}", self.remote);
                }
                self.on_socket_error();
            }
            ReadEnd::Share => r.read_again(self.token),
            ReadEnd::Drained | ReadEnd::Paused => {}
        }
    }

    /// The socket failed (reset, broken pipe): nothing more can be written;
    /// close, and tell the requests in flight.
    fn on_socket_error(&mut self) {
        self.peer = Peer::Gone;
        self.close_reason = Counter::ConnClosedError;
        self.broken = true;
        self.close_after_output();
        self.out.clear();
        self.out_bytes = 0;
        self.abandon_inflight();
    }

    /// EOF from the client: it went away (Tornado's reading, and nginx's by
    /// default). Requests in flight are told (on-close callbacks, response
    /// calls fail with Closed); bytes already queued are still flushed.
    fn on_peer_closed(&mut self) {
        self.current = None;
        self.stop_taking_requests();
        self.close_after_output();
        self.abandon_inflight();
    }

    /// The host took enough of a streamed body: read again.
    fn resume(&mut self, _r: &mut Reactor) {
        tracing::trace!(target: "squall::http", "resume: paused {} rbuf {}", self.pauses.body_backlog, self.rbuf.len());
        if self.pauses.body_backlog {
            self.pauses.body_backlog = false;
            self.pauses.ended = true;
        }
    }

    /// The I/O part of settling after every operation on the connection:
    /// applies output produced on this thread, and after a pause ends,
    /// decodes what is buffered (even nothing: the decoder may hold a
    /// pending end of request) and reads what arrived meanwhile
    /// (edge-triggered: no new event would say so).
    fn catch_up(&mut self, r: &mut Reactor) {
        loop {
            self.apply_immediate(r);
            if !self.pauses.ended || self.pauses.any() || !self.takes_requests() {
                return;
            }
            self.pauses.ended = false;
            self.decode_buffered(r);
            self.on_readable(r);
        }
    }

    /// Writes as much of the output queue as the socket takes.
    fn flush(&mut self, _r: &mut Reactor) {
        use std::os::fd::AsRawFd;
        if self.broken {
            return;
        }
        while let Some(front) = self.out.front_mut() {
            let result = match front {
                OutItem::Bytes(v, pos) => match self.stream.write(&v[*pos..]) {
                    Ok(n) => {
                        *pos += n;
                        self.out_bytes = self.out_bytes.saturating_sub(n);
                        let whole = *pos == v.len();
                        self.wrote(n);
                        Ok(whole)
                    }
                    Err(e) => Err(e),
                },
                // No sendfile through TLS: read a piece, encrypt it, and read
                // the next only once the socket took it (the same backpressure).
                OutItem::File(f) if self.stream.is_tls() => {
                    let mut piece = [0u8; 16 * 1024];
                    let count = f.remaining.min(piece.len() as u64) as usize;
                    match f.file.read_at(&mut piece[..count], f.offset) {
                        Ok(0) => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file truncated while sending")),
                        Ok(k) => match self.stream.write(&piece[..k]) {
                            Ok(n) => {
                                f.offset += n as u64;
                                f.remaining -= n as u64;
                                self.out_bytes = self.out_bytes.saturating_sub(n);
                                let whole = f.remaining == 0;
                                self.wrote(n);
                                Ok(whole)
                            }
                            Err(e) => Err(e),
                        },
                        Err(e) => Err(e),
                    }
                }
                OutItem::File(f) => {
                    let count = f.remaining.min(1 << 20) as usize;
                    match crate::net::sys::sendfile(self.stream.socket().as_raw_fd(), f.file.as_raw_fd(), &mut f.offset, count) {
                        // The file shrank under us: the response cannot be completed.
                        Ok(0) => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file truncated while sending")),
                        Ok(n) => {
                            f.remaining -= n as u64;
                            self.out_bytes = self.out_bytes.saturating_sub(n);
                            let whole = f.remaining == 0;
                            self.wrote(n);
                            Ok(whole)
                        }
                        Err(e) => Err(e),
                    }
                }
            };
            match result {
                Ok(true) => {
                    self.out.pop_front();
                }
                Ok(false) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.maybe_unpause_writes();
                    self.publish_backlog();
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.on_socket_error();
                    return;
                }
            }
        }
        // All written: an idle connection keeps no buffer.
        self.out = VecDeque::new();
        self.out_bytes = 0;
        self.maybe_unpause_writes();
        self.publish_backlog();
        if self.closing() {
            // TLS says it is done writing (close_notify) before TCP does.
            self.stream.close_notify();
        }
        match self.stream.flush() {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(_) => {
                self.on_socket_error();
                return;
            }
        }
        if self.closing() {
            let _ = self.stream.socket().shutdown(std::net::Shutdown::Write);
        }
    }

    /// Tells the request whose response is being sent (the oldest in
    /// flight) how much output waits for the socket (`sq_response_backlog`).
    fn publish_backlog(&self) {
        if let Some(front) = self.inflight.front()
            && let Some(req) = front.req.as_ref()
        {
            req.conn_backlog.store(self.out_bytes + front.out.len(), std::sync::atomic::Ordering::Release);
        }
    }

    /// The client is reading again: read new requests again too.
    fn maybe_unpause_writes(&mut self) {
        if self.pauses.output_backlog && self.out_bytes < self.flow.low {
            self.pauses.output_backlog = false;
            self.pauses.ended = true;
        }
    }

    /// On the sweep: output waiting and nothing written since the last byte
    /// that was, for longer than the send timeout, closes the connection
    /// (its peer reads nothing: what it holds us to is dropped), counted
    /// as a timeout.
    fn check_send_stall(&mut self) {
        if self.send_timeout_ms == 0 || !self.pending_write() {
            return;
        }
        self.stalled_sweeps = self.stalled_sweeps.saturating_add(1);
        // sweeps are at least SWEEP_INTERVAL apart: the stall lasted at least this
        let stalled_ms = u64::from(self.stalled_sweeps) * SWEEP_INTERVAL.as_millis() as u64;
        if stalled_ms < u64::from(self.send_timeout_ms) {
            return;
        }
        tracing::debug!(target: "squall::http", "{}: nothing read of our output for {} ms: closing", self.remote, self.send_timeout_ms);
        self.close_reason = Counter::ConnClosedTimeout;
        self.stop_taking_requests();
        self.close_after_output();
        self.out.clear();
        self.out_bytes = 0;
        self.abandon_inflight();
    }

    fn on_timeout(&mut self, r: &mut Reactor, t: Timeout) {
        match t {
            _ if self.stream.is_handshaking() => {
                // The handshake did not finish within the header timeout
                // (counted from the accept): nothing can be answered, close.
                tracing::debug!(target: "squall::http", "{}: TLS handshake timed out", self.remote);
                self.handshake_ended(Counter::TlsHandshakeTimeouts);
                self.on_socket_error();
                self.close_reason = Counter::ConnClosedTimeout;
            }
            Timeout::Idle => {
                self.close_reason = Counter::ConnClosedTimeout;
                self.stop_taking_requests();
                self.close_after_output();
                if self.pending_write() {
                    // The client stopped reading: drop what it will not take.
                    self.out.clear();
                    self.out_bytes = 0;
                    self.broken = true;
                }
            }
            Timeout::Request => {
                // Only while reading a request: answer 408 if nothing else is
                // being answered, else just stop.
                if self.inflight.is_empty() {
                    self.on_bad_input(r, HttpError { status: 408, reason: "request timed out" });
                } else {
                    self.current = None;
                    self.stop_taking_requests();
                }
            }
        }
    }

    /// Counts how this connection's TLS handshake ended, once.
    fn handshake_ended(&mut self, how: Counter) {
        if self.tls_uncounted {
            self.tls_uncounted = false;
            self.count(how, 1);
        }
    }

    /// Adds `n` to a counter of the server's metrics.
    pub(super) fn count(&self, c: Counter, n: u64) {
        self.server.metrics.add(Writer::Reactor(self.reactor as usize), c, n);
    }

    /// `n` more bytes were written: counted, and the latency of every
    /// response whose last byte that was.
    fn wrote(&mut self, n: usize) {
        self.written += n as u64;
        self.stalled_sweeps = 0;
        self.count(Counter::BytesOut, n as u64);
        while let Some(&(end, since)) = self.ends.front() {
            if end > self.written {
                break;
            }
            self.ends.pop_front();
            self.server.metrics.latency(Writer::Reactor(self.reactor as usize), since.elapsed());
        }
    }

    fn close(&mut self, r: &mut Reactor) {
        let _ = r.registry().deregister(self.stream.socket());
        tracing::trace!(target: "squall::http", "closed {}", self.remote);
    }
}

impl Drop for Conn {
    /// However a connection ends (closed, its server freed, a panic while
    /// serving it), its handlers are told and the count is kept right. The
    /// socket closes with `stream` (which also takes it out of the poll).
    fn drop(&mut self) {
        if let Some(u) = self.upgrade.take() {
            u.req.release();
        }
        if self.life == Lifecycle::Upgraded {
            // The WebSocket that took the stream counts the connection now.
            return;
        }
        self.abandon_inflight();
        self.count(self.close_reason, 1);
        // SAFETY: not `Upgraded`, so the stream is still here; dropped once.
        unsafe { std::mem::ManuallyDrop::drop(&mut self.stream) };
        self.server.connections.fetch_sub(1, Ordering::AcqRel);
        self.server.maybe_shutdown_finished();
    }
}

#[cfg(test)]
mod tests {

    /// Idle connections must stay under 1 KiB each (with the slab slot and
    /// the allocator's overhead): keep the struct itself small. (320 until
    /// the metrics' latency bookkeeping, 48 bytes, came.)
    #[test]
    fn a_connection_is_small() {
        let size = std::mem::size_of::<super::Conn>();
        assert!(size <= 368, "Conn is {size} bytes");
    }
}
