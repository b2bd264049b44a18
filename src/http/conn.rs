//! HTTP connections on a reactor: accept, read, decode (the sans-IO decoder
//! in `h1`), route, dispatch to the handler, and write responses in pipeline
//! order. Everything here runs on the reactor's thread.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Token};

use super::h1::{Decoded, Decoder, HttpError, RequestHead, Timeout};
use super::request::{ConnAddr, Output, Request, RequestData};
use super::response;
use super::router::{Lookup, decode_capture};
use super::server::{Config, RouteTarget, ServerShared};
use crate::reactor::Reactor;

/// How long accepting pauses after EMFILE/ENFILE.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
const READ_CHUNK: usize = 64 * 1024;
/// Queued output above which a connection stops reading new requests (a
/// client that pipelines and does not read), and below which it reads again.
const OUT_HIGH_WATER: usize = 1 << 20;
const OUT_LOW_WATER: usize = 256 << 10;

/// What a reactor token leads to.
pub(crate) enum Source {
    Listener(ListenerSource),
    Http(Box<Conn>),
    Ws(Box<crate::ws::conn::WsConn>),
    /// Client connections, raw TCP streams (see `net::driven`).
    Driven(Box<dyn crate::reactor::watcher::Driven>),
}

pub(crate) struct ListenerSource {
    socket: TcpListener,
    server: Arc<ServerShared>,
    paused_until: Option<Instant>,
}

struct Inflight {
    req: Option<Arc<Request>>,
    out: Vec<u8>,
    /// A file range to send (sendfile) after `out`, once the response is done.
    file: Option<FileRange>,
    done: bool,
    close: bool,
}

/// Part of a file still to be sent.
struct FileRange {
    file: std::fs::File,
    offset: u64,
    remaining: u64,
}

/// What the connection has yet to write, in order.
enum Chunk {
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
    /// A WebSocket route: the handshake, then the upgrade.
    Ws(Arc<crate::ws::route::WsRoute>, Vec<Option<String>>),
}

/// A WebSocket handshake in progress: waits for the decision (origin,
/// subprotocol: the host's, when the route has callbacks for them) and for
/// the responses before it to be written.
struct PendingUpgrade {
    route: Arc<crate::ws::route::WsRoute>,
    /// The upgrade request, for `on_open` (finished: no response through it).
    req: Arc<Request>,
    key: String,
    /// Ok(subprotocol) to accept, Err(status) to refuse; None until decided.
    decision: Option<Result<Option<String>, u16>>,
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
    /// Dropped by `Drop` unless an upgrade moved it to a WebSocket.
    stream: std::mem::ManuallyDrop<TcpStream>,
    server: Arc<ServerShared>,
    /// Requests that may be in flight before reading pauses.
    max_pipeline: usize,
    remote: SocketAddr,
    decoder: Decoder,
    /// Input not yet decoded (a partial request, or requests waiting while
    /// the pipeline is full); empty most of the time.
    rbuf: Vec<u8>,
    /// Output not yet written, in order.
    out: VecDeque<Chunk>,
    /// Bytes in `out` (file ranges counted by their remaining length).
    out_bytes: usize,
    /// Reading paused until `out` drains (see OUT_HIGH_WATER).
    write_paused: bool,
    next_seq: u64,
    write_seq: u64,
    inflight: VecDeque<Inflight>,
    /// Boxed: an idle connection (most of them) pays 8 bytes for it.
    current: Option<Box<Partial>>,
    /// No more requests are read (a response said close, or input was bad).
    no_more_requests: bool,
    /// Close as soon as every queued byte is written.
    close_when_flushed: bool,
    /// The last event said the peer shut its side down: read to EOF even
    /// after a short read.
    read_closed: bool,
    peer_closed: bool,
    /// Decoding paused because too many requests are in flight.
    paused: bool,
    /// Reading paused until the host takes more of a streamed body.
    body_paused: bool,
    /// A pause ended: decode what is buffered and read again once the
    /// current operation is over (see `settle`).
    read_again: bool,
    /// The stream moved to a WebSocket: nothing of this connection remains.
    upgraded: bool,
    /// A WebSocket handshake waiting for its decision or its turn.
    upgrade: Option<Box<PendingUpgrade>>,
    token: usize,
    generation: u64,
}

thread_local! {
    /// Output produced on a reactor's own thread (inline handlers) for its
    /// connections: applied right after the handler returns, no wake-up.
    static IMMEDIATE: RefCell<Vec<Output>> = const { RefCell::new(Vec::new()) };
}

// ---- entry points from the reactor and other threads ------------------------

/// Delivers response output to the reactor that owns the connection: queued
/// locally when called on that reactor's own thread, else as a command.
pub(crate) fn deliver(server: &Arc<ServerShared>, output: Output) {
    let Some(link) = server.loop_handle.reactor_link(output.conn.reactor) else { return };
    if link.is_current() {
        IMMEDIATE.with(|q| q.borrow_mut().push(output));
    } else {
        link.send(Box::new(move |r: &mut Reactor| apply_output(r, output)));
    }
}

/// Asks the owning reactor to read again (a streamed body was taken by the host).
pub(crate) fn resume_reading(server: &Arc<ServerShared>, conn: ConnAddr) {
    if let Some(link) = server.loop_handle.reactor_link(conn.reactor) {
        link.send(Box::new(move |r: &mut Reactor| with_conn(r, conn.token, Some(conn.generation), |r, c| c.resume(r))));
    }
}

/// Registers a listening socket bound by the host.
pub(crate) fn add_listener(r: &mut Reactor, server: Arc<ServerShared>, socket: std::net::TcpListener) {
    if server.dead.load(Ordering::Acquire) {
        return;
    }
    let source = ListenerSource { socket: TcpListener::from_std(socket), server, paused_until: None };
    let (token, _) = r.insert_source(Source::Listener(source));
    if let Some((Source::Listener(mut l), _)) = r.take_source(token, None) {
        match r.registry().register(&mut l.socket, Token(token), Interest::READABLE) {
            Ok(()) => r.put_back(token, Source::Listener(l)),
            Err(e) => {
                tracing::error!(target: "squall::http", "cannot watch a listener: {e}");
                r.release_token(token);
            }
        }
    }
}

/// Readiness on a token.
pub(crate) fn on_event(r: &mut Reactor, token: usize, ev: &Event) {
    let Some((source, generation)) = r.take_source(token, None) else { return };
    match source {
        Source::Listener(mut l) => {
            accept_all(r, &mut l);
            r.put_back(token, Source::Listener(l));
        }
        Source::Ws(c) => {
            r.put_back(token, Source::Ws(c));
            crate::ws::conn::on_event(r, token, ev);
        }
        Source::Driven(d) => {
            r.put_back(token, Source::Driven(d));
            crate::reactor::watcher::run(r, token, None, |r, d| d.ready(r, token, ev));
        }
        Source::Http(c) => {
            debug_assert_eq!(c.generation, generation);
            r.put_back(token, Source::Http(c));
            let (readable, writable, read_closed) = crate::reactor::readiness(ev);
            // A bug while serving one connection closes that connection (its
            // Drop tells its handlers) and is logged; the reactor goes on.
            with_conn(r, token, None, |r, c| {
                c.read_closed |= read_closed;
                if readable {
                    c.on_readable(r);
                }
                if writable && c.pending_write() {
                    c.flush(r);
                }
            });
        }
    }
}

/// Puts a connection back, or closes it (or hands it to a WebSocket).
fn finish_event(r: &mut Reactor, token: usize, mut c: Box<Conn>) {
    c.settle(r);
    if c.upgrade_ready() {
        c.into_websocket(r);
        return;
    }
    if c.should_close() {
        c.close(r);
        r.release_token(token);
    } else {
        r.put_back(token, Source::Http(c));
    }
}

/// Runs `f` on the connection at `token` (of `generation`, if given), then
/// puts it back or closes it. A panic inside `f` drops that connection only.
fn with_conn(r: &mut Reactor, token: usize, generation: Option<u64>, f: impl FnOnce(&mut Reactor, &mut Conn)) {
    let c = match r.take_source(token, generation) {
        Some((Source::Http(c), _)) => c,
        Some((other, _)) => {
            r.put_back(token, other);
            return;
        }
        None => return,
    };
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut c = c;
        f(r, &mut c);
        c.settle(r);
        c
    }));
    match outcome {
        Ok(c) => finish_event(r, token, c),
        Err(p) => {
            tracing::error!(target: "squall::http", "panic while serving a connection (closed): {}", crate::error::panic_message(&p));
            r.release_token(token);
        }
    }
}

/// Response output arriving (command from another thread, or immediate).
pub(crate) fn apply_output(r: &mut Reactor, output: Output) {
    let (token, generation) = (output.conn.token, output.conn.generation);
    if r.is_taken(token, generation) {
        // That connection is in the middle of an operation further up this
        // thread's stack (inline handlers finishing each other's requests):
        // apply it once that operation is over.
        r.deferred.push(output);
        return;
    }
    // A connection that is gone had its requests marked closed: nothing to do.
    with_conn(r, token, Some(generation), |r, c| c.take_output(r, output));
}

/// Writes what connections produced during the turn.
pub(crate) fn flush_dirty(r: &mut Reactor) {
    let dirty = std::mem::take(&mut r.dirty);
    for token in dirty.iter().copied() {
        match r.source_ref(token) {
            Some(Source::Ws(_)) => crate::ws::conn::flush_token(r, token),
            Some(Source::Driven(_)) => {
                crate::reactor::watcher::run(r, token, None, |r, d| d.flush(r, token));
            }
            _ => 
with_conn(r, token, None, |r, c| c.flush(r)),
        }
    }
    let mut dirty = dirty;
    dirty.clear();
    if r.dirty.is_empty() {
        r.dirty = dirty;
    }
}

/// Timeouts and paused listeners.
pub(crate) fn sweep(r: &mut Reactor) {
    let now_ms = r.now_ms();
    for token in r.live_tokens() {
        let Some((source, _)) = r.take_source(token, None) else { continue };
        match source {
            Source::Listener(mut l) => {
                if l.paused_until.is_some_and(|t| r.now >= t) {
                    l.paused_until = None;
                    accept_all(r, &mut l);
                }
                r.put_back(token, Source::Listener(l));
            }
            Source::Ws(c) => {
                let wants = crate::ws::conn::wants_sweep(&c);
                r.put_back(token, Source::Ws(c));
                if wants {
                    crate::ws::conn::sweep(r, token);
                }
            }
            Source::Http(c) => {
                let due = c.decoder.check_timeout(now_ms);
                r.put_back(token, Source::Http(c));
                if let Some(t) = due {
                    with_conn(r, token, None, |r, c| c.on_timeout(r, t));
                }
            }
            Source::Driven(d) => {
                r.put_back(token, Source::Driven(d));
                crate::reactor::watcher::run(r, token, None, |r, d| d.tick(r, token));
            }
        }
    }
    crate::http::client::tick(r);
}

/// Closes every listener and connection of a freed server.
pub(crate) fn remove_server(r: &mut Reactor, server: &Arc<ServerShared>) {
    for token in r.live_tokens() {
        let Some((source, _)) = r.take_source(token, None) else { continue };
        let mine = match &source {
            Source::Listener(l) => Arc::ptr_eq(&l.server, server),
            Source::Http(c) => Arc::ptr_eq(&c.server, server),
            Source::Ws(c) => Arc::ptr_eq(c.server(), server),
            Source::Driven(_) => false,
        };
        if !mine {
            r.put_back(token, source);
            continue;
        }
        match source {
            Source::Listener(mut l) => {
                let _ = r.registry().deregister(&mut l.socket);
            }
            Source::Http(mut c) => c.close(r),
            Source::Ws(c) => {
                crate::ws::conn::remove(r, token, c, true);
                continue;
            }
            Source::Driven(d) => {
                r.put_back(token, Source::Driven(d));
                continue;
            }
        }
        r.release_token(token);
    }
}

/// The reactor's part of a graceful shutdown: close the server's listeners
/// and every connection with nothing in flight; the others close after their
/// responses (which say `Connection: close`).
pub(crate) fn begin_shutdown(r: &mut Reactor, server: &Arc<ServerShared>) {
    for token in r.live_tokens() {
        let Some((source, _)) = r.take_source(token, None) else { continue };
        match source {
            Source::Listener(mut l) if Arc::ptr_eq(&l.server, server) => {
                let _ = r.registry().deregister(&mut l.socket);
                r.release_token(token);
            }
            Source::Http(mut c) if Arc::ptr_eq(&c.server, server) => {
                // A request still arriving is read to its end (its response
                // then closes the connection); otherwise nothing new is read.
                if c.current.is_none() {
                    c.no_more_requests = true;
                    if c.inflight.is_empty() {
                        c.close_when_flushed = true;
                    }
                }
                finish_event(r, token, c);
            }
            Source::Ws(c) if Arc::ptr_eq(c.server(), server) => {
                r.put_back(token, Source::Ws(c));
                crate::ws::conn::begin_shutdown(r, token);
            }
            other => r.put_back(token, other),
        }
    }
}

/// Closes everything (the reactor is stopping).
pub(crate) fn close_all(r: &mut Reactor) {
    for token in r.live_tokens() {
        if let Some((source, _)) = r.take_source(token, None) {
            match source {
                Source::Listener(mut l) => {
                    let _ = r.registry().deregister(&mut l.socket);
                }
                Source::Http(mut c) => c.close(r),
                Source::Ws(c) => {
                    crate::ws::conn::remove(r, token, c, false);
                    continue;
                }
                Source::Driven(mut d) => {
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| d.shutdown(r)));
                }
            }
            r.release_token(token);
        }
    }
}

// ---- accepting --------------------------------------------------------------

fn accept_all(r: &mut Reactor, l: &mut ListenerSource) {
    if l.paused_until.is_some() || l.server.dead.load(Ordering::Acquire) {
        return;
    }
    loop {
        match l.socket.accept() {
            Ok((stream, remote)) => {
                let config = l.server.config();
                if l.server.connections.load(Ordering::Relaxed) >= config.max_connections {
                    tracing::warn!(target: "squall::http", "max_connections ({}) reached: refusing {remote}", config.max_connections);
                    drop(stream);
                    continue;
                }
                let _ = stream.set_nodelay(true);
                add_conn(r, l.server.clone(), config, stream, remote);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::ENOBUFS) | Some(libc::ENOMEM)) => {
                // Out of descriptors: leave the connection in the backlog and
                // try again after a pause (the sweep resumes accepting).
                tracing::warn!(target: "squall::http", "accept: {e}; pausing accepts for {ACCEPT_BACKOFF:?}");
                l.paused_until = Some(r.now + ACCEPT_BACKOFF);
                return;
            }
            Err(e) => {
                // ECONNABORTED and the like concern one connection only.
                tracing::debug!(target: "squall::http", "accept: {e}");
            }
        }
    }
}

fn add_conn(r: &mut Reactor, server: Arc<ServerShared>, config: Config, stream: TcpStream, remote: SocketAddr) {
    let max_pipeline = config.max_pipeline;
    let decoder = Decoder::new(config.limits, r.now_ms());
    let conn = Box::new(Conn {
        stream: std::mem::ManuallyDrop::new(stream),
        server,
        max_pipeline,
        remote,
        decoder,
        rbuf: Vec::new(),
        out: VecDeque::new(),
        out_bytes: 0,
        write_paused: false,
        next_seq: 0,
        write_seq: 0,
        inflight: VecDeque::new(),
        current: None,
        no_more_requests: false,
        close_when_flushed: false,
        read_closed: false,
        peer_closed: false,
        paused: false,
        body_paused: false,
        read_again: false,
        upgraded: false,
        upgrade: None,
        token: 0,
        generation: 0,
    });
    conn.server.connections.fetch_add(1, Ordering::Relaxed);
    let (token, generation) = r.insert_source(Source::Http(conn));
    let Some((Source::Http(mut c), _)) = r.take_source(token, None) else { return };
    c.token = token;
    c.generation = generation;
    if let Err(e) = r.registry().register(&mut *c.stream, Token(token), Interest::READABLE | Interest::WRITABLE) {
        tracing::warn!(target: "squall::http", "cannot watch a connection: {e}");
        r.release_token(token);
        return;
    }
    tracing::trace!(target: "squall::http", "accepted {} as token {token}", c.remote);
    r.put_back(token, Source::Http(c));
}

// ---- one connection ---------------------------------------------------------

impl Conn {
    fn addr(&self, r: &Reactor) -> ConnAddr {
        ConnAddr { reactor: r.index, token: self.token, generation: self.generation }
    }

    fn pending_write(&self) -> bool {
        !self.out.is_empty()
    }

    fn push_bytes(&mut self, bytes: Vec<u8>) {
        if bytes.is_empty() {
            return;
        }
        self.out_bytes += bytes.len();
        if let Some(Chunk::Bytes(last, _)) = self.out.back_mut()
            && last.len() < 64 * 1024
        {
            last.extend_from_slice(&bytes);
            return;
        }
        self.out.push_back(Chunk::Bytes(bytes, 0));
    }

    fn should_close(&self) -> bool {
        self.close_when_flushed && !self.pending_write()
    }

    fn mark_dirty(&self, r: &mut Reactor) {
        if !r.dirty.contains(&self.token) {
            r.dirty.push(self.token);
        }
    }

    /// Reads until the socket has no more, decoding as it goes.
    fn on_readable(&mut self, r: &mut Reactor) {
        if self.peer_closed {
            return;
        }
        let mut scratch = std::mem::take(&mut r.scratch);
        if scratch.len() < READ_CHUNK {
            scratch.resize(READ_CHUNK, 0);
        }
        loop {
            if self.no_more_requests || self.paused || self.body_paused || self.write_paused {
                // Do not buffer input we will not decode; the kernel holds it.
                break;
            }
            match self.stream.read(&mut scratch) {
                Ok(0) => {
                    self.peer_closed = true;
                    self.on_peer_closed();
                    break;
                }
                Ok(n) => {
                    if self.rbuf.is_empty() {
                        let used = self.decode(r, &scratch[..n]);
                        if used < n {
                            self.rbuf.extend_from_slice(&scratch[used..n]);
                        }
                    } else {
                        self.rbuf.extend_from_slice(&scratch[..n]);
                        self.decode_buffered(r);
                    }
                    if n < scratch.len() && !self.read_closed {
                        // A short read emptied the socket's receive queue; data
                        // arriving later raises a new edge. Skipping the read
                        // that would only say EAGAIN saves a syscall per request.
                        // (Not after the peer's FIN: no edge would follow, so
                        // read on to the EOF.)
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.on_socket_error();
                    break;
                }
            }
        }
        r.scratch = scratch;
    }

    /// The socket failed (reset, broken pipe): nothing more can be written;
    /// close, and tell the requests in flight.
    fn on_socket_error(&mut self) {
        self.peer_closed = true;
        self.close_when_flushed = true;
        self.out.clear();
        self.out_bytes = 0;
        self.abandon_inflight();
    }

    /// EOF from the client: it went away (Tornado's reading, and nginx's by
    /// default). Requests in flight are told (on-close callbacks, response
    /// calls fail with Closed); bytes already queued are still flushed.
    fn on_peer_closed(&mut self) {
        self.current = None;
        self.no_more_requests = true;
        self.close_when_flushed = true;
        self.abandon_inflight();
    }

    fn decode_buffered(&mut self, r: &mut Reactor) {
        let buf = std::mem::take(&mut self.rbuf);
        let used = self.decode(r, &buf);
        let mut buf = buf;
        buf.drain(..used);
        if buf.is_empty() {
            buf = Vec::new(); // an idle connection keeps no buffer
        }
        self.rbuf = buf;
    }

    /// Decodes as much of `input` as possible; returns the bytes used.
    fn decode(&mut self, r: &mut Reactor, input: &[u8]) -> usize {
        let mut pos = 0;
        while !self.no_more_requests && !self.paused && !self.body_paused && !self.write_paused {
            let now = r.now_ms();
            let result = self.decoder.decode(&input[pos..], now);
            match result {
                Ok((used, decoded)) => {
                    pos += used;
                    match decoded {
                        Decoded::NeedMore if used == 0 => break,
                        Decoded::NeedMore => {}
                        Decoded::Head(head) => self.on_head(r, head),
                        Decoded::Body(start, end) => {
                            let chunk = &input[pos - used + start..pos - used + end];
                            self.on_body(r, chunk);
                        }
                        Decoded::End => self.on_end(r),
                    }
                }
                Err(e) => {
                    self.on_bad_input(r, e);
                    break;
                }
            }
        }
        pos
    }

    fn on_head(&mut self, r: &mut Reactor, head: RequestHead) {
        let path = head.target.split('?').next().unwrap_or("");
        let route = match self.server.static_lookup(path) {
            Some((i, rel)) if head.method == "GET" || head.method == "HEAD" => Some(Route::Static(i, rel)),
            Some(_) => Some(Route::Builtin(405, vec![("Allow".into(), b"GET, HEAD".to_vec())])),
            None => None,
        };
        let captures_of = |spans: &[Option<(usize, usize)>]| spans.iter().map(|s| s.map(|(a, b)| decode_capture(&path[a..b]))).collect();
        let mut ws_allow = None;
        let route = match route {
            Some(route) => Some(route),
            None => match self.server.ws_lookup(&head.method, path) {
                Ok(Some((ws, spans))) => Some(Route::Ws(ws, captures_of(&spans))),
                Ok(None) => None,
                Err(allow) => {
                    ws_allow = Some(allow);
                    None
                }
            },
        };
        let route = if let Some(route) = route { route } else { match self.server.lookup(&head.method, path) {
            (Lookup::Found(_, spans), Some(target)) => Route::Handler(target, captures_of(&spans)),
            (Lookup::MethodNotAllowed(allow), _) => Route::Builtin(405, vec![("Allow".into(), allow.join(", ").into_bytes())]),
            _ => match ws_allow {
                Some(allow) => Route::Builtin(405, vec![("Allow".into(), allow.join(", ").into_bytes())]),
                None => Route::Builtin(404, vec![]),
            },
        } };
        if head.expect_continue && matches!(route, Route::Handler(..)) && self.inflight.is_empty() {
            self.queue_raw(r, b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        if let Route::Handler(target, _) = &route
            && target.stream_body
        {
            let Route::Handler(target, captures) = route else { unreachable!() };
            let keep_alive = self.keep_alive(&head);
            let data = self.request_data(head.clone(), Vec::new(), captures, keep_alive);
            let req = self.dispatch(r, data, target, true);
            let route = Route::Builtin(0, Vec::new()); // unused: the body goes to `stream`
            self.current = Some(Box::new(Partial { head, route, body: Vec::new(), stream: Some(req) }));
            return;
        }
        let cap = head.content_length.unwrap_or(0).min(1 << 20) as usize;
        self.current = Some(Box::new(Partial { head, route, body: Vec::with_capacity(cap), stream: None }));
    }

    /// Body bytes of the current request.
    fn on_body(&mut self, r: &mut Reactor, chunk: &[u8]) {
        let Some(p) = self.current.as_mut() else { return };
        if let Some(req) = &p.stream {
            if req.push_body(chunk) {
                let req = req.clone();
                r.host_tasks.push(crate::reactor::Task::Boxed(Box::new(move || req.deliver_body())));
            }
            if req.body_over_high_water() {
                tracing::trace!(target: "squall::http", "pausing reads: {} body bytes undelivered", req.backlog.load(Ordering::Relaxed));
                // SeqCst on both sides (here and where the host takes the
                // body): the store must not pass the re-check's load.
                req.reading_paused.store(true, Ordering::SeqCst);
                self.body_paused = true;
                // The host may have caught up meanwhile: re-check once.
                if !req.body_over_high_water() && req.reading_paused.swap(false, Ordering::SeqCst) {
                    self.body_paused = false;
                }
            }
        } else if matches!(p.route, Route::Handler(..)) {
            p.body.extend_from_slice(chunk);
        }
    }

    /// Whether the connection stays open after this request. (Reading stops
    /// only at the request's end: its body must still be read.)
    fn keep_alive(&self, head: &RequestHead) -> bool {
        head.keep_alive && !self.server.is_shutting_down()
    }

    fn request_data(&self, head: RequestHead, body: Vec<u8>, captures: Vec<Option<String>>, keep_alive: bool) -> RequestData {
        RequestData {
            head_only: head.method == "HEAD",
            path_len: head.target.find('?').unwrap_or(head.target.len()),
            method: head.method,
            target: head.target,
            version_minor: head.version_minor,
            headers: head.headers,
            body,
            captures,
            remote: self.remote,
            keep_alive,
        }
    }

    /// Registers a request and calls its handler (here, or on the host).
    fn dispatch(&mut self, r: &mut Reactor, data: RequestData, target: RouteTarget, streaming: bool) -> Arc<Request> {
        let seq = self.next_seq;
        self.next_seq += 1;
        let req = Request::new(self.server.clone(), self.addr(r), seq, data, streaming);
        let handle = super::REQUESTS.insert(req.clone(), r.index);
        req.set_handle(handle);
        self.inflight.push_back(Inflight { req: Some(req.clone()), out: Vec::new(), file: None, done: false, close: false });
        self.cap_pipeline();
        if target.inline || r.loop_handle.local_reactor() {
            run_handler(&req, target);
            self.apply_immediate(r);
        } else {
            // Handed to the host with the rest of this turn's batch.
            let req = req.clone();
            r.host_tasks.push(crate::reactor::Task::Boxed(Box::new(move || run_handler(&req, target))));
        }
        req
    }

    /// Too many requests in flight: stop decoding new ones until some finish.
    fn cap_pipeline(&mut self) {
        if self.inflight.len() >= self.max_pipeline {
            self.paused = true;
        }
    }

    /// The host took enough of a streamed body: read again.
    fn resume(&mut self, _r: &mut Reactor) {
        tracing::trace!(target: "squall::http", "resume: paused {} rbuf {}", self.body_paused, self.rbuf.len());
        if self.body_paused {
            self.body_paused = false;
            self.read_again = true;
        }
    }

    /// Runs after every operation on the connection: applies output produced
    /// on this thread, and after a pause ends, decodes what is buffered (even
    /// nothing: the decoder may hold a pending end of request) and reads what
    /// arrived meanwhile (edge-triggered: no new event would say so).
    fn settle(&mut self, r: &mut Reactor) {
        loop {
            self.apply_immediate(r);
            if !self.read_again || self.paused || self.body_paused || self.write_paused || self.no_more_requests {
                return;
            }
            self.read_again = false;
            self.decode_buffered(r);
            self.on_readable(r);
        }
    }

    /// Bytes written ahead of every queued response (100 Continue).
    fn queue_raw(&mut self, r: &mut Reactor, bytes: &[u8]) {
        self.push_bytes(bytes.to_vec());
        self.mark_dirty(r);
    }

    fn on_end(&mut self, r: &mut Reactor) {
        let Some(p) = self.current.take() else { return };
        let p = *p;
        if let Some(req) = p.stream {
            if !req.data.keep_alive {
                self.no_more_requests = true;
            }
            if req.end_body() {
                r.host_tasks.push(crate::reactor::Task::Boxed(Box::new(move || req.deliver_body())));
            }
            // The response may have finished before the body did.
            self.after_response(r);
            return;
        }
        let keep_alive = self.keep_alive(&p.head);
        if !keep_alive {
            self.no_more_requests = true;
        }
        match p.route {
            Route::Builtin(status, extra) => {
                self.next_seq += 1;
                let mut out = Vec::with_capacity(256);
                response::simple(&mut out, status, &extra, !keep_alive, p.head.method == "HEAD", &self.server.date());
                self.inflight.push_back(Inflight { req: None, out, file: None, done: true, close: !keep_alive });
                self.cap_pipeline();
                self.pump(r);
            }
            Route::Static(mount, rel) => {
                self.next_seq += 1;
                let (out, file) = self.serve_static(mount, &rel, &p.head, keep_alive);
                self.inflight.push_back(Inflight { req: None, out, file, done: true, close: !keep_alive });
                self.cap_pipeline();
                self.pump(r);
            }
            Route::Handler(target, captures) => {
                let data = self.request_data(p.head, p.body, captures, keep_alive);
                self.dispatch(r, data, target, false);
            }
            Route::Ws(route, captures) => self.on_upgrade_request(r, p.head, p.body, route, captures),
        }
    }

    /// A request on a WebSocket route: refused at once (400, 426), or held
    /// until decided (origin, subprotocol) and until the responses before it
    /// are written. No HTTP request is read after it either way.
    fn on_upgrade_request(
        &mut self,
        r: &mut Reactor,
        head: RequestHead,
        body: Vec<u8>,
        route: Arc<crate::ws::route::WsRoute>,
        captures: Vec<Option<String>>,
    ) {
        use crate::ws::handshake;
        self.no_more_requests = true;
        let up = match handshake::check(&head) {
            Ok(up) => up,
            Err(refusal) => {
                tracing::debug!(target: "squall::ws", "{}: handshake refused: {} {}", self.remote, refusal.status, refusal.reason);
                self.refuse_upgrade(r, refusal.status, refusal.headers);
                return;
            }
        };
        let data = self.request_data(head, body, captures, false);
        let req = Request::new(self.server.clone(), self.addr(r), self.next_seq, data, false);
        req.lock().finished = true; // a view for on_open: no response through it
        let handle = super::REQUESTS.insert(req.clone(), r.index);
        req.set_handle(handle);
        let key = up.key.clone();
        if route.asks_host() && !route.opts.inline {
            let (server, addr, route2, req2) = (self.server.clone(), self.addr(r), route.clone(), req.clone());
            r.host_tasks.push(crate::reactor::Task::Boxed(Box::new(move || {
                if server.dead.load(Ordering::Acquire) {
                    req2.release(); // no callback after sq_server_free
                    return;
                }
                let decision = decide_upgrade(&route2, &req2, &up);
                let Some(link) = server.loop_handle.reactor_link(addr.reactor) else { return };
                link.send(Box::new(move |r: &mut Reactor| {
                    with_conn(r, addr.token, Some(addr.generation), |_r, c| {
                        if let Some(u) = c.upgrade.as_mut() {
                            u.decision = Some(decision);
                        }
                    });
                }));
            })));
            self.upgrade = Some(Box::new(PendingUpgrade { route, req, key, decision: None }));
        } else {
            let decision = decide_upgrade(&route, &req, &up);
            self.upgrade = Some(Box::new(PendingUpgrade { route, req, key, decision: Some(decision) }));
        }
    }

    fn refuse_upgrade(&mut self, r: &mut Reactor, status: u16, headers: Vec<(String, Vec<u8>)>) {
        self.next_seq += 1;
        let mut out = Vec::with_capacity(256);
        response::simple(&mut out, status, &headers, true, false, &self.server.date());
        self.inflight.push_back(Inflight { req: None, out, file: None, done: true, close: true });
        self.pump(r);
    }

    /// Whether the handshake is decided and its turn has come; a refusal is
    /// answered here.
    fn upgrade_ready(&mut self) -> bool {
        if self.upgrade.is_some() && (self.close_when_flushed || self.peer_closed) {
            // An earlier response closes the connection (or the client left):
            // no 101 after it.
            if let Some(u) = self.upgrade.take() {
                u.req.release();
            }
            return false;
        }
        let Some(u) = self.upgrade.as_ref() else { return false };
        if u.decision.is_none() || !self.inflight.is_empty() || self.pending_write() || self.peer_closed {
            return false;
        }
        true
    }

    /// The upgrade itself: the connection becomes a WebSocket in the same
    /// slot (same token and generation), or gets its refusal.
    fn into_websocket(mut self: Box<Self>, r: &mut Reactor) {
        let token = self.token;
        let u = *self.upgrade.take().expect("upgrade_ready checked it");
        let refused = match u.decision {
            Some(Ok(_)) if self.server.is_shutting_down() => Some(503),
            Some(Ok(_)) => None,
            Some(Err(status)) => Some(status),
            None => unreachable!("upgrade_ready checked it"),
        };
        if let Some(status) = refused {
            u.req.release();
            self.refuse_upgrade(r, status, Vec::new());
            finish_event(r, token, self);
            return;
        }
        let protocol = match u.decision {
            Some(Ok(p)) => p,
            _ => None,
        };
        let addr = self.addr(r);
        let leftover = std::mem::take(&mut self.rbuf);
        self.upgraded = true;
        // SAFETY: `upgraded` is set, so Drop will not drop the stream again;
        // it is moved out exactly once.
        let stream = unsafe { std::mem::ManuallyDrop::take(&mut self.stream) };
        let server = self.server.clone();
        let read_closed = self.read_closed;
        drop(self);
        crate::ws::conn::upgrade(r, addr, stream, server, u.route, u.req, &u.key, protocol, leftover, read_closed);
    }

    /// Applies output produced on this thread by handlers.
    fn apply_immediate(&mut self, r: &mut Reactor) {
        loop {
            let batch = IMMEDIATE.with(|q| std::mem::take(&mut *q.borrow_mut()));
            if batch.is_empty() {
                return;
            }
            for output in batch {
                if output.conn.token == self.token && output.conn.generation == self.generation {
                    self.take_output(r, output);
                } else {
                    apply_output(r, output);
                }
            }
        }
    }

    fn take_output(&mut self, r: &mut Reactor, output: Output) {
        let Some(index) = output.seq.checked_sub(self.write_seq) else { return };
        let Some(slot) = self.inflight.get_mut(index as usize) else { return };
        let Some(req) = slot.req.as_ref() else { return };
        let (bytes, done, close) = req.take_outbox();
        super::append_bytes(&mut slot.out, bytes);
        slot.done |= done;
        slot.close |= close;
        self.pump(r);
    }

    /// Moves finished (and streaming) output of the oldest requests, in
    /// order, to the output queue.
    fn pump(&mut self, r: &mut Reactor) {
        let mut wrote = false;
        loop {
            let Some(front) = self.inflight.front_mut() else { break };
            let bytes = std::mem::take(&mut front.out);
            let done = front.done;
            if !bytes.is_empty() {
                self.push_bytes(bytes);
                wrote = true;
            }
            if !done {
                break;
            }
            let f = self.inflight.pop_front().expect("front exists");
            if let Some(file) = f.file {
                self.out_bytes += usize::try_from(file.remaining).unwrap_or(usize::MAX);
                self.out.push_back(Chunk::File(file));
                wrote = true;
            }
            self.write_seq += 1;
            if f.close {
                // Nothing after a closing response is written.
                self.close_when_flushed = true;
                self.no_more_requests = true;
                self.abandon_inflight();
                break;
            }
        }
        if wrote {
            self.mark_dirty(r);
            if self.out_bytes > OUT_HIGH_WATER {
                self.write_paused = true;
            }
        }
        if self.paused && self.inflight.len() < self.max_pipeline && !self.no_more_requests {
            self.paused = false;
            // Not from here: pump may run in the middle of a decode.
            self.read_again = true;
        }
        self.after_response(r);
    }

    /// When nothing is in flight: the connection is idle (its keep-alive
    /// timeout runs), or, if it reads no more requests, it closes once the
    /// output is written.
    fn after_response(&mut self, r: &mut Reactor) {
        if self.inflight.is_empty() && self.current.is_none() {
            self.decoder.on_response_done(r.now_ms());
            // Idle from here: keep no queue capacity around.
            self.inflight = VecDeque::new();
            if self.no_more_requests {
                self.close_when_flushed = true;
            }
        }
    }

    /// Writes as much of the output queue as the socket takes.
    fn flush(&mut self, _r: &mut Reactor) {
        use std::os::fd::AsRawFd;
        while let Some(front) = self.out.front_mut() {
            let result = match front {
                Chunk::Bytes(v, pos) => match self.stream.write(&v[*pos..]) {
                    Ok(n) => {
                        *pos += n;
                        self.out_bytes = self.out_bytes.saturating_sub(n);
                        Ok(*pos == v.len())
                    }
                    Err(e) => Err(e),
                },
                Chunk::File(f) => {
                    let count = f.remaining.min(1 << 20) as usize;
                    match crate::net::sys::sendfile(self.stream.as_raw_fd(), f.file.as_raw_fd(), &mut f.offset, count) {
                        // The file shrank under us: the response cannot be completed.
                        Ok(0) => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file truncated while sending")),
                        Ok(n) => {
                            f.remaining -= n as u64;
                            self.out_bytes = self.out_bytes.saturating_sub(n);
                            Ok(f.remaining == 0)
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
        if self.close_when_flushed {
            let _ = self.stream.shutdown(std::net::Shutdown::Write);
        }
    }

    /// The client is reading again: read new requests again too.
    fn maybe_unpause_writes(&mut self) {
        if self.write_paused && self.out_bytes < OUT_LOW_WATER {
            self.write_paused = false;
            self.read_again = true;
        }
    }

    /// A request the client will never see answered: tell its handler.
    fn abandon_inflight(&mut self) {
        for f in self.inflight.drain(..) {
            if let Some(req) = f.req {
                req.mark_closed();
            }
        }
    }

    /// A static file response: head bytes and, for a body, the file range.
    fn serve_static(&self, mount: usize, rel: &str, head: &RequestHead, keep_alive: bool) -> (Vec<u8>, Option<FileRange>) {
        use super::static_files::{Plan, etag, open, plan};
        let head_only = head.method == "HEAD";
        let date = self.server.date();
        let mut out = Vec::with_capacity(512);
        let Some(root) = self.server.static_root(mount) else {
            response::simple(&mut out, 404, &[], !keep_alive, head_only, &date);
            return (out, None);
        };
        let opened = match open(&root, rel) {
            Ok(o) => o,
            Err(e) => {
                response::simple(&mut out, e.status(), &[], !keep_alive, head_only, &date);
                return (out, None);
            }
        };
        let tag = etag(opened.size, opened.mtime);
        let header = |n: &str| {
            head.headers.iter().rev().find(|(k, _)| k.eq_ignore_ascii_case(n)).map(|(_, v)| v.as_slice())
        };
        let mut headers: Vec<(String, Vec<u8>)> = vec![
            ("ETag".into(), tag.clone().into_bytes()),
            ("Last-Modified".into(), httpdate::fmt_http_date(opened.mtime).into_bytes()),
            ("Accept-Ranges".into(), b"bytes".to_vec()),
        ];
        let (status, range) = match plan(header, opened.size, opened.mtime, &tag) {
            Plan::NotModified => (304, None),
            Plan::Unsatisfiable => {
                headers.push(("Content-Range".into(), format!("bytes */{}", opened.size).into_bytes()));
                response::simple(&mut out, 416, &headers, !keep_alive, head_only, &date);
                return (out, None);
            }
            Plan::Full => (200, Some((0, opened.size))),
            Plan::Partial(a, b) => {
                headers.push(("Content-Range".into(), format!("bytes {a}-{b}/{}", opened.size).into_bytes()));
                (206, Some((a, b - a + 1)))
            }
        };
        let mime = mime_guess::from_path(&opened.path).first_or_octet_stream();
        let ctype = if mime.type_() == mime_guess::mime::TEXT { format!("{mime}; charset=utf-8") } else { mime.to_string() };
        headers.push(("Content-Type".into(), ctype.into_bytes()));
        let framing = match range {
            Some((_, len)) => response::Framing::Length(len),
            None => response::Framing::NoBody,
        };
        response::write_head(
            &mut out,
            &response::Head {
                status,
                reason: None,
                headers: &headers,
                framing,
                close: !keep_alive,
                version_minor: head.version_minor,
                client_keep_alive_10: head.version_minor == 0 && keep_alive,
            },
            &date,
        );
        let file = match range {
            Some((offset, len)) if !head_only && len > 0 => Some(FileRange { file: opened.file, offset, remaining: len }),
            _ => None,
        };
        (out, file)
    }

    fn on_bad_input(&mut self, r: &mut Reactor, e: HttpError) {
        tracing::debug!(target: "squall::http", "{}: {} {}", self.remote, e.status, e.reason);
        self.current = None;
        self.no_more_requests = true;
        let mut out = Vec::with_capacity(256);
        response::simple(&mut out, e.status, &[], true, false, &self.server.date());
        self.next_seq += 1;
        self.inflight.push_back(Inflight { req: None, out, file: None, done: true, close: true });
        self.pump(r);
    }

    fn on_timeout(&mut self, r: &mut Reactor, t: Timeout) {
        match t {
            Timeout::Idle => {
                self.no_more_requests = true;
                self.close_when_flushed = true;
                if self.pending_write() {
                    // The client stopped reading: drop what it will not take.
                    self.out.clear();
                    self.out_bytes = 0;
                }
            }
            Timeout::Request => {
                // Only while reading a request: answer 408 if nothing else is
                // being answered, else just stop.
                if self.inflight.is_empty() {
                    self.on_bad_input(r, HttpError { status: 408, reason: "request timed out" });
                } else {
                    self.current = None;
                    self.no_more_requests = true;
                }
            }
        }
    }

    fn close(&mut self, r: &mut Reactor) {
        let _ = r.registry().deregister(&mut *self.stream);
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
        if self.upgraded {
            // The WebSocket that took the stream counts the connection now.
            return;
        }
        self.abandon_inflight();
        // SAFETY: not upgraded, so the stream is still here; dropped once.
        unsafe { std::mem::ManuallyDrop::drop(&mut self.stream) };
        self.server.connections.fetch_sub(1, Ordering::AcqRel);
        self.server.maybe_shutdown_finished();
    }
}

/// The origin check and the subprotocol choice of a handshake: by the
/// route's callbacks when it has them (on the host thread, or the reactor
/// for inline routes), else same-origin and the route's list.
fn decide_upgrade(
    route: &crate::ws::route::WsRoute,
    req: &Arc<Request>,
    up: &crate::ws::handshake::Upgrade,
) -> Result<Option<String>, u16> {
    use crate::ws::handshake;
    let handle = req.handle() as usize as *mut crate::ffi::request::sq_request;
    let ok = match route.callbacks.check_origin {
        Some(cb) => {
            let origin = up.origin.as_deref().unwrap_or("");
            // SAFETY: a callback the host registered, with its userdata, a
            // request handle and a string valid during the call.
            unsafe { cb(route.userdata, handle, origin.as_ptr().cast(), origin.len()) != 0 }
        }
        None => handshake::same_origin(up.origin.as_deref(), &up.host),
    };
    if !ok {
        tracing::debug!(target: "squall::ws", "handshake refused: origin {:?} (host {:?})", up.origin, up.host);
        return Err(403);
    }
    let protocol = match route.callbacks.select_subprotocol {
        Some(cb) if !up.protocols.is_empty() => {
            let offered: Vec<crate::ffi::request::sq_str> =
                up.protocols.iter().map(|p| crate::ffi::request::sq_str { ptr: p.as_ptr().cast(), len: p.len() }).collect();
            // SAFETY: as above; `offered` points into `up`, alive during the call.
            let i = unsafe { cb(route.userdata, handle, offered.as_ptr(), offered.len()) };
            usize::try_from(i).ok().and_then(|i| up.protocols.get(i).cloned())
        }
        Some(_) => None,
        None => handshake::select_protocol(&up.protocols, &route.opts.protocols),
    };
    Ok(protocol)
}

/// Calls the handler (on the host thread, or inline on the reactor), and
/// turns a failure into a 500 (or an aborted connection if the response had
/// started).
pub(crate) fn run_handler(req: &Arc<Request>, target: RouteTarget) {
    if req.server.dead.load(Ordering::Acquire) {
        req.release();
        return;
    }
    if let Err(e) = target.handler.call(req.handle()) {
        handler_failed(req, e);
    }
}

/// A handler failed.
pub(crate) fn handler_failed(req: &Arc<Request>, e: super::server::HandlerFailed) {
    tracing::error!(
        target: "squall::http",
        "handler for {} {} failed with status {}",
        req.data.method,
        req.data.path(),
        e.code
    );
    let (finished, closed, head_sent) = {
        let st = req.lock();
        (st.finished, st.closed, st.head_sent)
    };
    if closed {
        req.release(); // the client left: nobody will finish this request
        return;
    }
    if finished {
        return;
    }
    if head_sent {
        // Too late for a 500: cut the connection so the client sees a broken
        // response rather than a truncated one that looks complete.
        req.abort();
        return;
    }
    {
        let mut st = req.lock();
        st.headers.clear();
        st.pending.clear();
        st.reason = None;
    }
    let _ = req.respond(500, &[("Content-Type", b"text/plain; charset=utf-8")], b"500 Internal Server Error\n");
}


#[cfg(test)]
mod tests {
    /// Idle connections must stay under 1 KiB each (with the slab slot and
    /// the allocator's overhead): keep the struct itself small.
    #[test]
    fn a_connection_is_small() {
        let size = std::mem::size_of::<super::Conn>();
        assert!(size <= 320, "Conn is {size} bytes");
    }
}
