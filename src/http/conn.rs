//! HTTP connections on a reactor: read, decode (the sans-IO decoder in
//! `h1`), route, dispatch to the handler, and write responses in pipeline
//! order (accepting is in `accept`, static responses in `static_files`).
//! Everything here runs on the reactor's thread.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use mio::event::Event;
use mio::net::TcpStream;
use mio::{Interest, Token};

use super::h1::{Decoded, Decoder, HttpError, RequestHead, Timeout};
use super::request::{ConnAddr, ConnMessage, OutputReady, Request, RequestData, apply_output, take_immediate};
use super::response;
use super::router::{Lookup, decode_capture};
use super::static_files::FileRange;
use super::upgrade::{Handshake, UpgradeRoute, Upgraded};
use super::shared::{Config, RouteTarget, ServerShared};
use crate::reactor::Reactor;
use crate::reactor::read::{Input, ReadEnd, read_ready};
use crate::reactor::watcher::{Group, Step, Stop, Tick, Watcher};

/// Queued output above which a connection stops reading new requests (a
/// client that pipelines and does not read), and below which it reads again.
const OUT_HIGH_WATER: usize = 1 << 20;
const OUT_LOW_WATER: usize = 256 << 10;

struct Inflight {
    req: Option<Arc<Request>>,
    out: Vec<u8>,
    /// A file range to send (sendfile) after `out`, once the response is done.
    file: Option<FileRange>,
    done: bool,
    close: bool,
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
    token: usize,
    generation: u64,
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
    /// (`OUT_HIGH_WATER`).
    output_backlog: bool,
    /// One of them ended: decode what is buffered and read again once the
    /// current operation is over (see `settle`).
    ended: bool,
}

impl Pauses {
    fn any(&self) -> bool {
        self.pipeline_full || self.body_backlog || self.output_backlog
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
        self.peer == Peer::Open
    }

    fn input(&mut self, r: &mut Reactor, bytes: &[u8]) {
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
        if readable {
            self.on_readable(r);
        }
        if writable && self.pending_write() {
            self.flush(r);
        }
        Step::Keep
    }

    fn wants_tick(&self, r: &Reactor, why: Tick) -> bool {
        why == Tick::Sweep && self.decoder.check_timeout(r.now_ms()).is_some()
    }

    fn tick(&mut self, r: &mut Reactor, _token: usize) -> Step {
        if let Some(t) = self.decoder.check_timeout(r.now_ms()) {
            self.on_timeout(r, t);
        }
        Step::Keep
    }

    fn flush(&mut self, r: &mut Reactor, _token: usize) -> Step {
        Conn::flush(self, r);
        Step::Keep
    }

    /// After every operation: settle (see [`Conn::settle`]), then switch
    /// protocols once an upgrade is decided and due, or close once the last byte
    /// of a closing connection is written.
    fn settle(&mut self, r: &mut Reactor, _token: usize) -> Step {
        Conn::settle(self, r);
        if self.upgrade_ready() {
            if self.switch_protocols(r) == Step::Replaced {
                return Step::Replaced;
            }
            // Refused: the refusal is queued like any response.
            Conn::settle(self, r);
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

/// Runs `f` on the connection at `token` (of `generation`, if given), then
/// settles it (see [`Watcher::settle`] for [`Conn`]). A panic inside drops
/// that connection only.
fn with_conn(r: &mut Reactor, token: usize, generation: Option<u64>, f: impl FnOnce(&mut Reactor, &mut Conn)) {
    r.with_watcher_as::<Conn, _>(token, generation, |r, c| {
        f(r, c);
        Step::Keep
    });
}

/// A connection the listener accepted enters the reactor.
pub(super) fn add_conn(r: &mut Reactor, server: Arc<ServerShared>, config: Config, stream: TcpStream, remote: SocketAddr) {
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
        next_seq: 0,
        write_seq: 0,
        inflight: VecDeque::new(),
        current: None,
        life: Lifecycle::Serving,
        peer: Peer::Open,
        pauses: Pauses::default(),
        upgrade: None,
        token: 0,
        generation: 0,
    });
    conn.server.connections.fetch_add(1, Ordering::Relaxed);
    r.insert(conn, |r, w, token, generation| {
        let Some(c) = w.as_any().downcast_mut::<Conn>() else { return Step::Close };
        c.token = token;
        c.generation = generation;
        if let Err(e) = r.registry().register(&mut *c.stream, Token(token), Interest::READABLE | Interest::WRITABLE) {
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

    fn pending_write(&self) -> bool {
        !self.out.is_empty()
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

    /// Reads until the socket has no more, decoding as it goes.
    fn on_readable(&mut self, r: &mut Reactor) {
        match read_ready(r, self) {
            ReadEnd::Eof => {
                self.peer = Peer::Gone;
                self.on_peer_closed();
            }
            ReadEnd::Failed(_) => self.on_socket_error(),
            ReadEnd::Drained | ReadEnd::Paused => {}
        }
    }

    /// The socket failed (reset, broken pipe): nothing more can be written;
    /// close, and tell the requests in flight.
    fn on_socket_error(&mut self) {
        self.peer = Peer::Gone;
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
        while self.takes_requests() && !self.pauses.any() {
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
        let mut upgrade_allow = None;
        let route = match route {
            Some(route) => Some(route),
            None => match super::upgrade::lookup(&self.server, &head.method, path) {
                Ok(Some((up, spans))) => Some(Route::Upgrade(up, captures_of(&spans))),
                Ok(None) => None,
                Err(allow) => {
                    upgrade_allow = Some(allow);
                    None
                }
            },
        };
        let route = if let Some(route) = route { route } else { match self.server.lookup(&head.method, path) {
            (Lookup::Found(_, spans), Some(target)) => Route::Handler(target, captures_of(&spans)),
            (Lookup::MethodNotAllowed(allow), _) => Route::Builtin(405, vec![("Allow".into(), allow.join(", ").into_bytes())]),
            _ => match upgrade_allow {
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
            let (schedule, pause) = req.push_body(chunk);
            if schedule {
                let req = req.clone();
                r.deliver(false, move || req.deliver_body());
            }
            if pause {
                tracing::trace!(target: "squall::http", "pausing reads: {} body bytes undelivered", req.body_gate.backlog());
                self.pauses.body_backlog = true;
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
        let handle = super::request::REQUESTS.insert(req.clone(), r.index);
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
            self.pauses.pipeline_full = true;
        }
    }

    /// The host took enough of a streamed body: read again.
    fn resume(&mut self, _r: &mut Reactor) {
        tracing::trace!(target: "squall::http", "resume: paused {} rbuf {}", self.pauses.body_backlog, self.rbuf.len());
        if self.pauses.body_backlog {
            self.pauses.body_backlog = false;
            self.pauses.ended = true;
        }
    }

    /// Runs after every operation on the connection: applies output produced
    /// on this thread, and after a pause ends, decodes what is buffered (even
    /// nothing: the decoder may hold a pending end of request) and reads what
    /// arrived meanwhile (edge-triggered: no new event would say so).
    fn settle(&mut self, r: &mut Reactor) {
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
                self.stop_taking_requests();
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
            self.stop_taking_requests();
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
                let root = self.server.static_root(mount);
                let (out, file) = super::static_files::respond(root.as_deref(), &rel, &p.head, keep_alive, &self.server.date());
                self.inflight.push_back(Inflight { req: None, out, file, done: true, close: !keep_alive });
                self.cap_pipeline();
                self.pump(r);
            }
            Route::Handler(target, captures) => {
                let data = self.request_data(p.head, p.body, captures, keep_alive);
                self.dispatch(r, data, target, false);
            }
            Route::Upgrade(route, captures) => self.on_upgrade_request(r, p.head, p.body, route, captures),
        }
    }

    /// A request on an upgrade route: refused at once (the route's check
    /// failed), or held until decided and until the responses before it are
    /// written. No HTTP request is read after it either way.
    fn on_upgrade_request(
        &mut self,
        r: &mut Reactor,
        head: RequestHead,
        body: Vec<u8>,
        route: Arc<dyn UpgradeRoute>,
        captures: Vec<Option<String>>,
    ) {
        self.stop_taking_requests();
        let mut handshake = match route.check(&head) {
            Ok(h) => h,
            Err(refusal) => {
                tracing::debug!(target: "squall::http", "{}: upgrade refused: {} {}", self.remote, refusal.status, refusal.reason);
                self.refuse_upgrade(r, refusal.status, refusal.headers);
                return;
            }
        };
        let data = self.request_data(head, body, captures, false);
        let req = Request::new(self.server.clone(), self.addr(r), self.next_seq, data, false);
        req.lock().finished = true; // a view for the host: no response through it
        let handle = super::request::REQUESTS.insert(req.clone(), r.index);
        req.set_handle(handle);
        if handshake.decides_on_host() {
            let (server, addr, req2) = (self.server.clone(), self.addr(r), req.clone());
            r.deliver(false, move || {
                if server.dead.load(Ordering::Acquire) {
                    req2.release(); // no callback once the server is freed
                    return;
                }
                let decision = handshake.decide(&req2);
                let Some(link) = server.loop_handle.reactor_link(addr.reactor) else { return };
                link.send(Box::new(move |r: &mut Reactor| {
                    with_conn(r, addr.token, Some(addr.generation), |_r, c| {
                        if let Some(u) = c.upgrade.as_mut() {
                            u.handshake = Some(handshake);
                            u.decision = Some(decision);
                        }
                    });
                }));
            });
            self.upgrade = Some(Box::new(PendingUpgrade { handshake: None, req, decision: None }));
        } else {
            let decision = handshake.decide(&req);
            self.upgrade = Some(Box::new(PendingUpgrade { handshake: Some(handshake), req, decision: Some(decision) }));
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
        if self.upgrade.is_some() && (self.closing() || self.peer == Peer::Gone) {
            // An earlier response closes the connection (or the client left):
            // no 101 after it.
            if let Some(u) = self.upgrade.take() {
                u.req.release();
            }
            return false;
        }
        let Some(u) = self.upgrade.as_ref() else { return false };
        if u.decision.is_none() || !self.inflight.is_empty() || self.pending_write() || self.peer == Peer::Gone {
            return false;
        }
        true
    }

    /// The switch itself: the connection becomes what the upgrade route
    /// makes of it, in the same slot (same token and generation):
    /// `Step::Replaced`; or it gets its refusal and stays an HTTP
    /// connection: `Step::Keep`.
    fn switch_protocols(&mut self, r: &mut Reactor) -> Step {
        let u = *self.upgrade.take().expect("upgrade_ready checked it");
        let refused = match u.decision {
            Some(Ok(())) if self.server.is_shutting_down() => Some(503),
            Some(Ok(())) => None,
            Some(Err(status)) => Some(status),
            None => unreachable!("upgrade_ready checked it"),
        };
        let handshake = match (refused, u.handshake) {
            (None, Some(h)) => h,
            (status, _) => {
                u.req.release();
                self.refuse_upgrade(r, status.unwrap_or(500), Vec::new());
                return Step::Keep;
            }
        };
        let addr = self.addr(r);
        let leftover = std::mem::take(&mut self.rbuf);
        self.life = Lifecycle::Upgraded;
        // SAFETY: the connection is `Upgraded`, so Drop will not drop the
        // stream again; it is moved out exactly once.
        let stream = unsafe { std::mem::ManuallyDrop::take(&mut self.stream) };
        let conn = Upgraded { addr, stream, server: self.server.clone(), req: u.req, leftover, read_closed: self.peer != Peer::Open };
        handshake.take_over(r, conn);
        Step::Replaced
    }

    /// Applies output produced on this thread by handlers.
    fn apply_immediate(&mut self, r: &mut Reactor) {
        loop {
            let batch = take_immediate();
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

    fn take_output(&mut self, r: &mut Reactor, output: OutputReady) {
        let Some(index) = output.seq.checked_sub(self.write_seq) else { return };
        let Some(slot) = self.inflight.get_mut(index as usize) else { return };
        let Some(req) = slot.req.as_ref() else { return };
        let (bytes, done, close) = req.take_outbox();
        super::request::append_bytes(&mut slot.out, bytes);
        slot.done |= done;
        slot.close |= close;
        self.pump(r);
    }

    /// Moves finished (and streaming) output of the oldest requests, in
    /// order, to the output queue.
    fn pump(&mut self, r: &mut Reactor) {
        let mut wrote = false;
        while let Some(front) = self.inflight.front_mut() {
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
                self.out.push_back(OutItem::File(file));
                wrote = true;
            }
            self.write_seq += 1;
            if f.close {
                // Nothing after a closing response is written.
                self.close_after_output();
                self.stop_taking_requests();
                self.abandon_inflight();
                break;
            }
        }
        if wrote {
            self.mark_dirty(r);
            if self.out_bytes > OUT_HIGH_WATER {
                self.pauses.output_backlog = true;
            }
        }
        if self.pauses.pipeline_full && self.inflight.len() < self.max_pipeline && self.takes_requests() {
            self.pauses.pipeline_full = false;
            // Not from here: pump may run in the middle of a decode.
            self.pauses.ended = true;
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
            if !self.takes_requests() {
                self.close_after_output();
            }
        }
    }

    /// Writes as much of the output queue as the socket takes.
    fn flush(&mut self, _r: &mut Reactor) {
        use std::os::fd::AsRawFd;
        while let Some(front) = self.out.front_mut() {
            let result = match front {
                OutItem::Bytes(v, pos) => match self.stream.write(&v[*pos..]) {
                    Ok(n) => {
                        *pos += n;
                        self.out_bytes = self.out_bytes.saturating_sub(n);
                        Ok(*pos == v.len())
                    }
                    Err(e) => Err(e),
                },
                OutItem::File(f) => {
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
        if self.closing() {
            let _ = self.stream.shutdown(std::net::Shutdown::Write);
        }
    }

    /// The client is reading again: read new requests again too.
    fn maybe_unpause_writes(&mut self) {
        if self.pauses.output_backlog && self.out_bytes < OUT_LOW_WATER {
            self.pauses.output_backlog = false;
            self.pauses.ended = true;
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

    fn on_bad_input(&mut self, r: &mut Reactor, e: HttpError) {
        tracing::debug!(target: "squall::http", "{}: {} {}", self.remote, e.status, e.reason);
        self.current = None;
        self.stop_taking_requests();
        let mut out = Vec::with_capacity(256);
        response::simple(&mut out, e.status, &[], true, false, &self.server.date());
        self.next_seq += 1;
        self.inflight.push_back(Inflight { req: None, out, file: None, done: true, close: true });
        self.pump(r);
    }

    fn on_timeout(&mut self, r: &mut Reactor, t: Timeout) {
        match t {
            Timeout::Idle => {
                self.stop_taking_requests();
                self.close_after_output();
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
                    self.stop_taking_requests();
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
        if self.life == Lifecycle::Upgraded {
            // The WebSocket that took the stream counts the connection now.
            return;
        }
        self.abandon_inflight();
        // SAFETY: not `Upgraded`, so the stream is still here; dropped once.
        unsafe { std::mem::ManuallyDrop::drop(&mut self.stream) };
        self.server.connections.fetch_sub(1, Ordering::AcqRel);
        self.server.maybe_shutdown_finished();
    }
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
pub(crate) fn handler_failed(req: &Arc<Request>, e: super::shared::HandlerFailed) {
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
