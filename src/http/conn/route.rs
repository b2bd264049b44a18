//! Routing and handler invocation: decoding a connection's input into
//! requests, finding where each leads (static mount, upgrade route, handler,
//! or a response the server makes itself), building the request the host
//! sees and calling its handler, on the host thread or inline.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{Conn, Inflight, Partial, Route};
use crate::http::h1::{Decoded, HttpError, RequestHead};
use crate::http::request::{REQUESTS, Request, RequestData};
use crate::http::response;
use crate::http::router::{Lookup, decode_capture};
use crate::http::shared::{HandlerFailed, RouteTarget};
use crate::reactor::Reactor;

impl Conn {
    pub(super) fn decode_buffered(&mut self, r: &mut Reactor) {
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
    pub(super) fn decode(&mut self, r: &mut Reactor, input: &[u8]) -> usize {
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

    pub(super) fn on_head(&mut self, r: &mut Reactor, head: RequestHead) {
        crate::fault::hit(crate::fault::Point::Request);
        self.count(crate::metrics::method_counter(&head.method), 1);
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
            None => match crate::http::upgrade::lookup(&self.server, &head.method, path) {
                Ok(Some((up, spans))) => Some(Route::Upgrade(up, captures_of(&spans))),
                Ok(None) => None,
                Err(allow) => {
                    upgrade_allow = Some(allow);
                    None
                }
            },
        };
        let route = if let Some(route) = route { route } else { match self.server.lookup(&head.method, path) {
            // a WebSocket route took the path for GET: a fallback route does not make it a 404
            (Lookup::Found(..), Some(target)) if target.fallback && upgrade_allow.is_some() => {
                let allow = upgrade_allow.take().unwrap_or_default();
                Route::Builtin(405, vec![("Allow".into(), allow.join(", ").into_bytes())])
            }
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
            // A head that frames no body: the (empty) body is read already,
            // so a response sent at once keeps the connection.
            let bodiless = !head.chunked && head.content_length.unwrap_or(0) == 0;
            let req = self.dispatch(r, data, target, true, bodiless);
            let route = Route::Builtin(0, Vec::new()); // unused: the body goes to `stream`
            self.current = Some(Box::new(Partial { head, route, body: Vec::new(), stream: Some(req) }));
            return;
        }
        let cap = head.content_length.unwrap_or(0).min(1 << 20) as usize;
        self.current = Some(Box::new(Partial { head, route, body: Vec::with_capacity(cap), stream: None }));
    }

    /// Body bytes of the current request.
    pub(super) fn on_body(&mut self, r: &mut Reactor, chunk: &[u8]) {
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
    pub(super) fn keep_alive(&self, head: &RequestHead) -> bool {
        head.keep_alive && !self.server.is_shutting_down()
    }

    pub(super) fn request_data(&mut self, head: RequestHead, body: Vec<u8>, captures: Vec<Option<String>>, keep_alive: bool) -> RequestData {
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
            // The handshake is done once a request arrives: its details
            // (made once per connection) go with every request.
            tls: self.stream.tls_info(),
        }
    }

    /// Registers a request and calls its handler (here, or on the host).
    /// `bodiless`: a streamed request whose head frames no body (its end is
    /// known before the handler runs).
    pub(super) fn dispatch(&mut self, r: &mut Reactor, data: RequestData, target: RouteTarget, streaming: bool, bodiless: bool) -> Arc<Request> {
        let seq = self.next_seq;
        self.next_seq += 1;
        let req = Request::new(self.server.clone(), self.addr(r), seq, data, streaming, self.flow);
        if streaming && bodiless {
            req.body_framed_empty();
        }
        let handle = REQUESTS.insert(req.clone(), r.index);
        req.set_handle(handle);
        self.inflight.push_back(Inflight::handled(req.clone()));
        self.cap_pipeline();
        if target.inline || r.loop_handle.local_reactor() {
            run_handler(&req, target);
            self.apply_immediate(r);
        } else {
            // Handed to the host with the rest of this turn's batch.
            let req = req.clone();
            r.deliver(false, move || run_handler(&req, target));
        }
        req
    }

    /// Bytes written ahead of every queued response (100 Continue).
    pub(super) fn queue_raw(&mut self, r: &mut Reactor, bytes: &[u8]) {
        self.push_bytes(bytes.to_vec());
        self.mark_dirty(r);
    }

    pub(super) fn on_end(&mut self, r: &mut Reactor) {
        let Some(p) = self.current.take() else { return };
        let p = *p;
        if let Some(req) = p.stream {
            if !req.data.keep_alive {
                self.stop_taking_requests();
            }
            if req.end_body() {
                r.deliver(false, move || req.deliver_body());
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
                self.inflight.push_back(Inflight::made(out, None, !keep_alive));
                self.cap_pipeline();
                self.pump(r);
            }
            Route::Static(mount, rel) => {
                self.next_seq += 1;
                let root = self.server.static_root(mount);
                let (out, file) = crate::http::static_files::respond(root.as_deref(), &rel, &p.head, keep_alive, &self.server.date());
                self.inflight.push_back(Inflight::made(out, file, !keep_alive));
                self.cap_pipeline();
                self.pump(r);
            }
            Route::Handler(target, captures) => {
                let data = self.request_data(p.head, p.body, captures, keep_alive);
                self.dispatch(r, data, target, false, true);
            }
            Route::Upgrade(route, captures) => self.on_upgrade_request(r, p.head, p.body, route, captures),
        }
    }

    pub(super) fn on_bad_input(&mut self, r: &mut Reactor, e: HttpError) {
        // INFO under its own target, worded as Tornado's server words it
        // (bindings log it at INFO, e.g. Python's squall.general logger).
        if e.status == 408 {
            tracing::info!(target: "squall::http::refused", "Timeout reading request from {}: {} {}", self.remote.ip(), e.status, e.reason);
        } else if e.status == 414 || e.status == 431 {
            // Tornado reads a head up to max_header_size: a longer one is
            // its "unsatisfiable read"
            tracing::info!(target: "squall::http::refused", "Unsatisfiable read, closing connection from {}: {} ({} {})",
                           self.remote.ip(), e.reason, e.status, response::reason(e.status));
        } else {
            tracing::info!(target: "squall::http::refused", "Malformed HTTP message from {}: {} ({} {})",
                           self.remote.ip(), e.reason, e.status, response::reason(e.status));
        }
        self.current = None;
        self.stop_taking_requests();
        let mut out = Vec::with_capacity(256);
        response::simple(&mut out, e.status, &[], true, false, &self.server.date());
        self.next_seq += 1;
        self.inflight.push_back(Inflight::made(out, None, true));
        if let Some(c) = crate::metrics::refusal_counter(e.status) {
            self.count(c, 1);
        }
        self.close_reason = if e.status == 408 { crate::metrics::Counter::ConnClosedTimeout } else { crate::metrics::Counter::ConnClosedLimit };
        self.pump(r);
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
pub(crate) fn handler_failed(req: &Arc<Request>, e: HandlerFailed) {
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
