//! A request as the host sees it, and its response state.
//!
//! A `Request` is made on the reactor that owns the connection once the whole
//! request (head and body) has arrived, stored in the server's handle table
//! and handed to the handler as a generation-checked handle. Its head and body
//! are immutable; its response state sits behind a mutex, so any thread may
//! build and send the response. Response bytes are serialized on the calling
//! thread and shipped to the owning reactor as a command, which writes them in
//! pipeline order. The handle is released when the response is finished (or a
//! finishing call learns that the client went away).

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, OnceLock};

use super::response;
use super::shared::ServerShared;
use crate::reactor::{Reactor, Task};
use crate::reactor::handles::{HandleTable, Stale};
use crate::reactor::flow::{FlowGate, Marks};
use crate::{Error, ErrorKind, Result};

/// Where a request's connection lives.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnAddr {
    pub(crate) reactor: usize,
    pub(crate) token: usize,
    pub(crate) generation: u64,
}

/// The immutable part of a request.
#[derive(Debug)]
pub(crate) struct RequestData {
    pub(crate) method: String,
    /// The request-target as sent (path and query).
    pub(crate) target: String,
    pub(crate) path_len: usize,
    pub(crate) version_minor: u8,
    pub(crate) headers: Vec<(String, Vec<u8>)>,
    pub(crate) body: Vec<u8>,
    pub(crate) captures: Vec<Option<String>>,
    pub(crate) remote: std::net::SocketAddr,
    pub(crate) keep_alive: bool,
    pub(crate) head_only: bool,
    /// What the connection's TLS agreed on (None: plain HTTP).
    pub(crate) tls: Option<Arc<crate::net::tls::TlsInfo>>,
}

impl RequestData {
    pub(crate) fn path(&self) -> &str {
        &self.target[..self.path_len]
    }

    pub(crate) fn query(&self) -> &str {
        self.target.get(self.path_len + 1..).unwrap_or("")
    }

    /// The value of cookie `name` from the `Cookie` headers (RFC 6265 §5.4:
    /// `name=value` pairs separated by `;`), quotes around it removed; the
    /// first one wins, as browsers send the most specific first.
    pub(crate) fn cookie(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("cookie"))
            .flat_map(|(_, v)| v.split(|&b| b == b';'))
            .find_map(|pair| {
                let pair = pair.trim_ascii();
                let eq = pair.iter().position(|&b| b == b'=')?;
                if pair[..eq].trim_ascii() != name.as_bytes() {
                    return None;
                }
                let v = pair[eq + 1..].trim_ascii();
                Some(v.strip_prefix(b"\"").and_then(|v| v.strip_suffix(b"\"")).unwrap_or(v))
            })
    }

    /// The last value of a header (names compare case-insensitively).
    pub(crate) fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().rev().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_slice())
    }
}

/// What a request sends the connection it came on, through the reactor
/// ([`crate::reactor::watcher::Watcher::message`]): the connection's type
/// stays unknown here, so requests (below) and connections (above) do not
/// depend on each other.
#[derive(Debug)]
pub(crate) enum ConnMessage {
    /// Output is ready in a request's outbox.
    Output(OutputReady),
    /// The host took enough of a streamed body: read again.
    Resume,
}

thread_local! {
    /// Output produced on a reactor's own thread (inline handlers) for its
    /// connections: applied right after the handler returns, no wake-up.
    static IMMEDIATE: RefCell<Vec<OutputReady>> = const { RefCell::new(Vec::new()) };
}

/// Sends response output to the reactor that owns the connection: queued
/// locally when called on that reactor's own thread, else as a command.
pub(crate) fn send_output(server: &Arc<ServerShared>, output: OutputReady) {
    let Some(link) = server.loop_handle.reactor_link(output.conn.reactor) else { return };
    if link.is_current() {
        IMMEDIATE.with(|q| q.borrow_mut().push(output));
    } else {
        link.send(Box::new(move |r: &mut Reactor| apply_output(r, output)));
    }
}

/// The output this thread queued for its own reactor's connections so far.
pub(crate) fn take_immediate() -> Vec<OutputReady> {
    IMMEDIATE.with(|q| std::mem::take(&mut *q.borrow_mut()))
}

/// Response output arriving (command from another thread, or immediate).
pub(crate) fn apply_output(r: &mut Reactor, output: OutputReady) {
    let (token, generation) = (output.conn.token, output.conn.generation);
    if r.is_taken(token, generation) {
        // That connection is in the middle of an operation further up this
        // thread's stack (inline handlers finishing each other's requests):
        // apply it once that operation is over.
        r.defer(Box::new(move |r: &mut Reactor| apply_output(r, output)));
        return;
    }
    // A connection that is gone had its requests marked closed: nothing to do.
    r.with_watcher(token, Some(generation), |r, w| w.message(r, token, &mut ConnMessage::Output(output)));
}

/// Asks the owning reactor to read again (a streamed body was taken by the host).
pub(crate) fn resume_reading(server: &Arc<ServerShared>, conn: ConnAddr) {
    if let Some(link) = server.loop_handle.reactor_link(conn.reactor) {
        link.send(Box::new(move |r: &mut Reactor| {
            r.with_watcher(conn.token, Some(conn.generation), |r, w| w.message(r, conn.token, &mut ConnMessage::Resume));
        }));
    }
}

/// Every request in flight in the process, by handle. One table for all
/// servers, so that a handle alone finds its request.
pub(crate) static REQUESTS: LazyLock<HandleTable<Request>> = LazyLock::new(HandleTable::default);

/// The request behind a handle.
pub(crate) fn lookup_request(handle: u64) -> std::result::Result<Arc<Request>, Stale> {
    REQUESTS.get(handle)
}

/// Appends `src` to `dst`, moving it instead of copying when `dst` is empty.
pub(crate) fn append_bytes(dst: &mut Vec<u8>, src: Vec<u8>) {
    if dst.is_empty() {
        *dst = src;
    } else {
        dst.extend_from_slice(&src);
    }
}

/// Query arguments, then the body's when `content_type` is
/// `application/x-www-form-urlencoded`: names and values percent-decoded
/// (`+` is a space), repeated names kept in order.
pub(crate) fn parse_args(query: &str, content_type: Option<&[u8]>, body: &[u8]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let form = content_type.is_some_and(|ct| {
        let ct = String::from_utf8_lossy(ct);
        ct.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/x-www-form-urlencoded")
    });
    if form {
        out.extend(form_urlencoded::parse(body).into_owned());
    }
    out
}

/// The `args` fuzz target's driver: `data` is a query, a NUL, a
/// Content-Type, a NUL and a body. The arguments decoded must be the
/// query's then (for a form) the body's, and arguments encoded again and
/// decoded must come back unchanged. Panics only on a bug.
pub(crate) fn fuzz_args(data: &[u8]) {
    let mut parts = data.splitn(3, |&b| b == 0);
    let query = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let ct = parts.next();
    let body = parts.next().unwrap_or_default();
    let args = parse_args(&query, ct, body);
    let from_query = parse_args(&query, None, b"");
    assert!(args.starts_with(&from_query));
    let from_body = &args[from_query.len()..];
    assert!(from_body.is_empty() || parse_args("", ct, body) == from_body);
    let encoded = form_urlencoded::Serializer::new(String::new()).extend_pairs(&args).finish();
    assert_eq!(parse_args(&encoded, None, b""), args, "arguments encoded and decoded again");
    assert_eq!(parse_args("", Some(b"application/x-www-form-urlencoded; charset=utf-8"), encoded.as_bytes()), args);
}

/// The `cookie` fuzz target's driver: `data` is a cookie name, then one
/// `Cookie` header value per line. A value found must be part of a header
/// value and hold no `;`; a `name=value` pair put first must be the one
/// found for its name. Panics only on a bug.
pub(crate) fn fuzz_cookie(data: &[u8]) {
    let mut lines = data.split(|&b| b == b'\n');
    let name = String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
    let make = |headers: Vec<(String, Vec<u8>)>| RequestData {
        method: "GET".into(),
        target: "/".into(),
        path_len: 1,
        version_minor: 1,
        headers,
        body: Vec::new(),
        captures: Vec::new(),
        remote: std::net::SocketAddr::from(([127, 0, 0, 1], 1)),
        keep_alive: true,
        head_only: false,
        tls: None,
    };
    let values: Vec<Vec<u8>> = lines.map(<[u8]>::to_vec).collect();
    let data = make(values.iter().map(|v| ("Cookie".to_owned(), v.clone())).collect());
    if let Some(v) = data.cookie(&name) {
        assert!(!v.contains(&b';'));
        let inside = |h: &Vec<u8>| h.as_ptr_range().start <= v.as_ptr_range().start && v.as_ptr_range().end <= h.as_ptr_range().end;
        assert!(data.headers.iter().any(|(_, h)| inside(h)), "the value is not part of a header");
    }
    // The pair placed first wins when its name and value are plain.
    let value = values.first().cloned().unwrap_or_default();
    let plain_name = !name.is_empty() && name.trim_ascii() == name && !name.contains(['=', ';']);
    let plain_value =
        !value.contains(&b';') && value.trim_ascii() == value.as_slice() && !(value.len() >= 2 && value.starts_with(b"\"") && value.ends_with(b"\""));
    if plain_name && plain_value {
        let mut first = format!("{name}=").into_bytes();
        first.extend_from_slice(&value);
        first.extend_from_slice(b"; ");
        let mut headers = vec![("cookie".to_owned(), first)];
        headers.extend(values.iter().map(|v| ("Cookie".to_owned(), v.clone())));
        assert_eq!(make(headers).cookie(&name), Some(&value[..]));
    }
}

#[cfg(test)]
mod cookie_tests {
    #[test]
    fn cookies() {
        let data = super::RequestData {
            method: "GET".into(),
            target: "/".into(),
            path_len: 1,
            version_minor: 1,
            headers: vec![
                ("Cookie".into(), b"a=1; session=\"xyz\";empty=; b = 2".to_vec()),
                ("cookie".into(), b"a=late; c=3=4".to_vec()),
            ],
            body: vec![],
            captures: vec![],
            remote: "127.0.0.1:1".parse().unwrap(),
            keep_alive: true,
            head_only: false,
            tls: None,
        };
        assert_eq!(data.cookie("a"), Some(&b"1"[..]));
        assert_eq!(data.cookie("session"), Some(&b"xyz"[..]));
        assert_eq!(data.cookie("empty"), Some(&b""[..]));
        assert_eq!(data.cookie("b"), Some(&b"2"[..]));
        assert_eq!(data.cookie("c"), Some(&b"3=4"[..]));
        assert_eq!(data.cookie("A"), None, "names are case-sensitive");
        assert_eq!(data.cookie("missing"), None);
    }
}

#[derive(Debug, Default)]
pub(crate) struct ResponseState {
    pub(crate) status: u16,
    pub(crate) reason: Option<String>,
    pub(crate) headers: Vec<(String, Vec<u8>)>,
    /// Body written but not yet sent.
    pub(crate) pending: Vec<u8>,
    pub(crate) head_sent: bool,
    pub(crate) chunked: bool,
    pub(crate) finished: bool,
    /// The connection is gone: every call fails with Closed.
    pub(crate) closed: bool,
    pub(crate) on_close: Option<OnClose>,
    /// The body's length as the caller declared it (`sq_response_set_length`).
    length: Option<u64>,
    /// The head went out framed by `length` (a streamed response of known
    /// length), and the body bytes sent against it so far.
    declared: Option<u64>,
    sent: u64,
    /// Serialized output not yet taken by the reactor, appended under this
    /// lock so that parts sent from different threads keep their order.
    outbox: Vec<u8>,
    out_done: bool,
    out_close: bool,
}

/// What runs on the host thread when the client goes away before the
/// response is finished. A reactor task, so that a host's plain callback
/// is kept without an allocation.
pub(crate) struct OnClose(pub(crate) Task);

impl std::fmt::Debug for OnClose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnClose")
    }
}

/// Receives a streamed request body, on the host thread: the chunks in
/// order (`chunk` lives only during the call), then one call with `last`
/// set (usually with no bytes). `req` is the request's handle.
pub(crate) trait BodySink: Send + Sync {
    fn on_body(&self, req: u64, chunk: &[u8], last: bool);
}

impl std::fmt::Debug for dyn BodySink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BodySink")
    }
}

/// The body of a streaming request, on its way to the host.
#[derive(Debug, Default)]
pub(crate) struct BodyStream {
    chunks: std::collections::VecDeque<Vec<u8>>,
    ended: bool,
    last_delivered: bool,
    cb: Option<Arc<dyn BodySink>>,
    /// A delivery task is queued or running.
    scheduled: bool,
}

/// A request in flight.
#[derive(Debug)]
pub(crate) struct Request {
    handle: AtomicU64,
    pub(crate) conn: ConnAddr,
    pub(crate) seq: u64,
    pub(crate) data: RequestData,
    args: OnceLock<Vec<(String, String)>>,
    remote_ip: OnceLock<String>,
    pub(crate) state: Mutex<ResponseState>,
    pub(crate) server: Arc<ServerShared>,
    /// Some for a request whose route streams the body.
    body: Option<Mutex<BodyStream>>,
    /// Bytes of `body` not yet taken by the host: more than 1 MiB pauses
    /// the connection's reading, until under 256 KiB.
    pub(crate) body_gate: FlowGate,
    /// The streamed body has all arrived (read without the body's lock,
    /// which is never taken under the response's).
    body_done: AtomicBool,
    /// The connection's output not yet written to the socket, as its
    /// reactor last saw it while this request's response was being sent
    /// (`sq_response_backlog`).
    pub(crate) conn_backlog: AtomicUsize,
}

/// "Request `seq` of this connection has output": the signal sent to the
/// owning reactor, which then takes the bytes from the request's outbox
/// (see [`Request::take_outbox`]). The bytes never travel in the signal, so
/// parts queued by different threads cannot overtake each other.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OutputReady {
    pub(crate) conn: ConnAddr,
    pub(crate) seq: u64,
}

impl Request {
    pub(crate) fn new(server: Arc<ServerShared>, conn: ConnAddr, seq: u64, data: RequestData, streaming: bool, flow: Marks) -> Arc<Request> {
        Arc::new(Request {
            handle: AtomicU64::new(0),
            conn,
            seq,
            data,
            args: OnceLock::new(),
            remote_ip: OnceLock::new(),
            state: Mutex::new(ResponseState { status: 200, ..Default::default() }),
            server,
            body: streaming.then(|| Mutex::new(BodyStream::default())),
            body_gate: FlowGate::with_marks(flow),
            body_done: AtomicBool::new(false),
            conn_backlog: AtomicUsize::new(0),
        })
    }

    /// Bytes of this response handed over and not yet written to the
    /// client: what waits in the outbox plus the connection's queue.
    pub(crate) fn backlog(&self) -> Result<usize> {
        let waiting = {
            let st = self.lock();
            if st.closed {
                return Err(Error::new(ErrorKind::Closed, "the client closed the connection"));
            }
            st.outbox.len()
        };
        Ok(waiting + self.conn_backlog.load(Ordering::Acquire))
    }

    /// A streamed body is still arriving: a response now ends the
    /// connection (what is left of the body is not read), as Tornado's.
    fn body_unread(&self) -> bool {
        self.body.is_some() && !self.body_done.load(Ordering::Acquire)
    }

    fn body_lock(&self) -> Option<MutexGuard<'_, BodyStream>> {
        self.body.as_ref().map(|m| m.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Whether the request's route streams the body (see [`Self::set_on_body`]).
    pub(crate) fn streams_body(&self) -> bool {
        self.body.is_some()
    }

    /// Reactor side: a chunk of a streamed body arrived. Returns whether a
    /// delivery task must be queued, and whether the connection must stop
    /// reading (the host is behind).
    pub(crate) fn push_body(&self, chunk: &[u8]) -> (bool, bool) {
        let Some(mut b) = self.body_lock() else { return (false, false) };
        let pause = self.body_gate.handed(crate::reactor::flow::cost(chunk.len()));
        b.chunks.push_back(chunk.to_vec());
        let schedule = b.cb.is_some() && !b.scheduled;
        b.scheduled |= schedule;
        (schedule, pause)
    }

    /// Reactor side, before the handler runs: the head frames no body, so
    /// nothing of it is left unread (a response sent before the end event
    /// keeps the connection).
    pub(crate) fn body_framed_empty(&self) {
        self.body_done.store(true, Ordering::Release);
    }

    /// Reactor side: the streamed body is complete.
    pub(crate) fn end_body(&self) -> bool {
        let Some(mut b) = self.body_lock() else { return false };
        tracing::trace!(target: "squall::http", "end_body: cb {} scheduled {}", b.cb.is_some(), b.scheduled);
        b.ended = true;
        self.body_done.store(true, Ordering::Release);
        let schedule = b.cb.is_some() && !b.scheduled;
        b.scheduled |= schedule;
        schedule
    }

    /// Sets the body sink (once). Chunks that arrived already are
    /// delivered from a task on the host thread, never from inside this call.
    pub(crate) fn set_on_body(self: &Arc<Self>, cb: Arc<dyn BodySink>) -> Result<()> {
        let Some(mut b) = self.body_lock() else {
            return Err(Error::new(ErrorKind::State, "the route does not stream the body"));
        };
        if b.cb.is_some() {
            return Err(Error::new(ErrorKind::AlreadyDone, "the body callback is already set"));
        }
        if self.lock().finished {
            return Err(Error::new(ErrorKind::AlreadyDone, "the response is already finished"));
        }
        b.cb = Some(cb);
        let schedule = (!b.chunks.is_empty() || b.ended) && !b.scheduled;
        tracing::trace!(target: "squall::http", "set_on_body: {} chunks, ended {}, schedule {schedule}", b.chunks.len(), b.ended);
        b.scheduled |= schedule;
        drop(b);
        if schedule {
            let req = self.clone();
            self.server.loop_handle.add_callback(move || req.deliver_body())?;
        }
        Ok(())
    }

    /// Host side: hands every queued chunk to the callback, in order, then
    /// the final call once the body is complete.
    pub(crate) fn deliver_body(self: &Arc<Self>) {
        tracing::trace!(target: "squall::http", "deliver_body: backlog {}", self.body_gate.backlog());
        loop {
            let (cb, chunk, last) = {
                let Some(mut b) = self.body_lock() else { return };
                let Some(cb) = b.cb.clone() else {
                    b.scheduled = false;
                    return;
                };
                if let Some(c) = b.chunks.pop_front() {
                    (cb, c, false)
                } else if b.ended && !b.last_delivered {
                    b.last_delivered = true;
                    (cb, Vec::new(), true)
                } else {
                    b.scheduled = false;
                    return;
                }
            };
            // Every chunk pushed is counted, the empty one too.
            if !last && self.body_gate.taken(crate::reactor::flow::cost(chunk.len())) {
                resume_reading(&self.server, self.conn);
            }
            let gone = {
                let st = self.lock();
                st.closed || st.finished
            };
            if gone {
                continue; // answered already, or the client left: drop the rest quietly
            }
            cb.on_body(self.handle(), &chunk, last);
        }
    }

    pub(crate) fn set_handle(&self, h: u64) {
        self.handle.store(h, Ordering::Release);
    }

    pub(crate) fn handle(&self) -> u64 {
        self.handle.load(Ordering::Acquire)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, ResponseState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The client's IP address as text (formatted on first use).
    pub(crate) fn remote_ip(&self) -> &str {
        self.remote_ip.get_or_init(|| self.data.remote.ip().to_string())
    }

    /// Query arguments, then `application/x-www-form-urlencoded` body
    /// arguments, decoded, repeated names kept in order.
    pub(crate) fn args(&self) -> &[(String, String)] {
        self.args.get_or_init(|| parse_args(self.data.query(), self.data.header("content-type"), &self.data.body))
    }

    fn check_open(st: &ResponseState) -> Result<()> {
        if st.closed {
            return Err(Error::new(ErrorKind::Closed, "the client closed the connection"));
        }
        if st.finished {
            return Err(Error::new(ErrorKind::AlreadyDone, "the response is already finished"));
        }
        Ok(())
    }

    pub(crate) fn set_status(&self, status: u16, reason: Option<&str>) -> Result<()> {
        if !(100..=999).contains(&status) {
            return Err(Error::new(ErrorKind::InvalidArg, format!("status {status} is not a 3-digit code")));
        }
        if let Some(r) = reason {
            response::check_reason(r)?;
        }
        let mut st = self.lock();
        Self::check_open(&st)?;
        if st.head_sent {
            return Err(Error::new(ErrorKind::State, "the status cannot change after the head was sent (flush)"));
        }
        st.status = status;
        st.reason = reason.map(str::to_owned);
        Ok(())
    }

    pub(crate) fn add_header(&self, name: &str, value: &[u8], replace: bool) -> Result<()> {
        response::check_header(name, value)?;
        let mut st = self.lock();
        Self::check_open(&st)?;
        if st.head_sent {
            return Err(Error::new(ErrorKind::State, "headers cannot change after the head was sent (flush)"));
        }
        if replace {
            st.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        }
        st.headers.push((name.to_owned(), value.to_vec()));
        Ok(())
    }

    /// Declares the body's length (`sq_response_set_length`): the head
    /// carries it and the body must come to it.
    pub(crate) fn set_length(&self, length: u64) -> Result<()> {
        let mut st = self.lock();
        Self::check_open(&st)?;
        if st.head_sent {
            return Err(Error::new(ErrorKind::State, "the length cannot change after the head was sent (flush)"));
        }
        st.length = Some(length);
        Ok(())
    }

    pub(crate) fn write(&self, data: &[u8]) -> Result<()> {
        let mut st = self.lock();
        Self::check_open(&st)?;
        if (matches!(st.status, 204 | 304) || (100..200).contains(&st.status)) && !data.is_empty() {
            return Err(Error::new(ErrorKind::State, format!("a {} response has no body", st.status)));
        }
        st.pending.extend_from_slice(data);
        Ok(())
    }

    /// Sends the head (chunked, unless the client is HTTP/1.0) and what was
    /// written so far.
    pub(crate) fn flush(&self) -> Result<()> {
        let mut st = self.lock();
        Self::check_open(&st)?;
        let mut out = Vec::with_capacity(st.pending.len() + 256);
        let mut close = false;
        if !st.head_sent {
            close = self.write_head(&mut st, None, &mut out)?;
        }
        let pending = std::mem::take(&mut st.pending);
        if let Some(d) = st.declared
            && !self.data.head_only
        {
            if st.sent + pending.len() as u64 > d {
                // more than the head announced: the client would misread
                // what follows as the next response. Cut the connection.
                return Err(self.cut(st, out, &[], "tried to write more data than Content-Length"));
            }
            st.sent += pending.len() as u64;
        }
        if !self.data.head_only {
            if st.chunked {
                response::write_chunk(&mut out, &pending);
            } else {
                out.extend_from_slice(&pending);
            }
        }
        Self::queue(&mut st, out, false, close);
        drop(st);
        self.signal();
        Ok(())
    }

    /// Ends a response whose body does not match the `Content-Length` its
    /// head announced: sends `out` and `partial` (both may be empty), then
    /// closes the connection so the client sees a cut response, never one
    /// that looks whole. Returns the error for the caller.
    fn cut(&self, mut st: MutexGuard<'_, ResponseState>, mut out: Vec<u8>, partial: &[u8], what: &str) -> Error {
        out.extend_from_slice(partial);
        st.finished = true;
        Self::queue(&mut st, out, true, true);
        drop(st);
        self.signal();
        self.release();
        Error::new(ErrorKind::Limit, what.to_owned())
    }

    /// The response state for a finishing call: an error if the response is
    /// finished, or if the client is gone (then the handle is released too:
    /// a finishing call ends the request either way).
    fn lock_to_finish(&self) -> Result<MutexGuard<'_, ResponseState>> {
        let st = self.lock();
        if let Err(e) = Self::check_open(&st) {
            let closed = st.closed;
            drop(st);
            if closed {
                self.release();
            }
            return Err(e);
        }
        Ok(st)
    }

    /// Finishes the response (sending the head with a Content-Length if
    /// nothing was flushed yet) and releases the handle.
    pub(crate) fn finish(&self) -> Result<()> {
        let st = self.lock_to_finish()?;
        self.finish_locked(st)
    }

    fn finish_locked(&self, mut st: MutexGuard<'_, ResponseState>) -> Result<()> {
        let pending = std::mem::take(&mut st.pending);
        let mut out = Vec::with_capacity(pending.len() + 256);
        if !self.data.head_only {
            let expected = match (st.head_sent, st.declared) {
                (true, Some(d)) => Some((d, st.sent + pending.len() as u64)),
                (false, _) if response::status_has_body(st.status) => st.length.map(|d| (d, pending.len() as u64)),
                _ => None,
            };
            if let Some((d, have)) = expected
                && d != have
            {
                // The declared length is wrong: send the head with it (if
                // not sent yet) and what fits, then cut.
                if !st.head_sent {
                    self.write_head(&mut st, Some(pending.len()), &mut out)?;
                }
                let fits = if have < d { &pending[..] } else { &[][..] };
                let what = if have > d { "tried to write more data than Content-Length" } else {
                    "tried to write less data than Content-Length"
                };
                return Err(self.cut(st, out, fits, what));
            }
        }
        let close = if st.head_sent {
            if !self.data.head_only {
                if st.chunked {
                    response::write_chunk(&mut out, &pending);
                    response::write_last_chunk(&mut out);
                } else {
                    out.extend_from_slice(&pending);
                }
            }
            !self.data.keep_alive
                || (!st.chunked && st.declared.is_none() && self.data.version_minor == 0)
                || self.body_unread()
        } else {
            let close = self.write_head(&mut st, Some(pending.len()), &mut out)?;
            if !self.data.head_only && response::status_has_body(st.status) {
                out.extend_from_slice(&pending);
            }
            close
        };
        st.finished = true;
        Self::queue(&mut st, out, true, close);
        drop(st);
        self.signal();
        self.release();
        Ok(())
    }

    /// The single-call fast path: status, headers and the whole body, under
    /// one lock.
    pub(crate) fn respond(&self, status: u16, headers: &[(&str, &[u8])], body: &[u8]) -> Result<()> {
        if !(100..=999).contains(&status) {
            return Err(Error::new(ErrorKind::InvalidArg, format!("status {status} is not a 3-digit code")));
        }
        for (n, v) in headers {
            response::check_header(n, v)?;
        }
        let mut st = self.lock_to_finish()?;
        if st.head_sent {
            return Err(Error::new(ErrorKind::State, "the response was already started with flush"));
        }
        st.status = status;
        st.headers.extend(headers.iter().map(|(n, v)| ((*n).to_owned(), v.to_vec())));
        st.pending.extend_from_slice(body);
        self.finish_locked(st)
    }

    /// Serializes the head. `length` is Some for a complete response
    /// (Content-Length), None for a streamed one (chunked for HTTP/1.1;
    /// until-close for HTTP/1.0). Returns whether the connection closes after.
    fn write_head(&self, st: &mut ResponseState, length: Option<usize>, out: &mut Vec<u8>) -> Result<bool> {
        let d = &self.data;
        let mut close = !d.keep_alive || self.server.is_shutting_down() || self.body_unread();
        // The declared length frames the body when there is one:
        // a HEAD answer says what the GET would send, and a streamed body of
        // known length goes out unchunked (checked against it as it is sent).
        let declared = if response::status_has_body(st.status) { st.length } else { None };
        let framing = match (length, declared) {
            (Some(_), Some(n)) => response::Framing::Length(n),
            (Some(n), None) => response::Framing::Length(n as u64),
            (None, Some(n)) => {
                st.declared = Some(n);
                response::Framing::Length(n)
            }
            (None, None) if d.version_minor >= 1 => {
                st.chunked = true;
                response::Framing::Chunked
            }
            (None, None) => {
                close = true;
                response::Framing::UntilClose
            }
        };
        let framing = if response::status_has_body(st.status) { framing } else { response::Framing::NoBody };
        super::shared::with_date(|date| {
            response::write_head(
                out,
                &response::Head {
                    status: st.status,
                    reason: st.reason.as_deref(),
                    headers: &st.headers,
                    framing,
                    close,
                    version_minor: d.version_minor,
                    client_keep_alive_10: d.version_minor == 0 && d.keep_alive,
                },
                date,
            )
        });
        st.head_sent = true;
        if !response::status_has_body(st.status) {
            st.chunked = false;
        }
        Ok(close)
    }

    fn queue(st: &mut ResponseState, bytes: Vec<u8>, done: bool, close: bool) {
        append_bytes(&mut st.outbox, bytes);
        st.out_done |= done;
        st.out_close |= close;
    }

    /// Tells the owning reactor that output is waiting.
    fn signal(&self) {
        send_output(&self.server, OutputReady { conn: self.conn, seq: self.seq });
    }

    /// Reactor side: the output queued so far, and whether the response is
    /// complete / the connection closes after it.
    pub(crate) fn take_outbox(&self) -> (Vec<u8>, bool, bool) {
        let mut st = self.lock();
        (std::mem::take(&mut st.outbox), st.out_done, st.out_close)
    }

    /// The response cannot be completed (the head was sent, then the
    /// handler failed): end it and close the connection, so the client sees
    /// a cut response, not one that looks whole.
    pub(crate) fn abort(&self) {
        let mut st = self.lock();
        if st.finished || st.closed {
            return;
        }
        st.finished = true;
        Self::queue(&mut st, Vec::new(), true, true);
        drop(st);
        self.signal();
        self.release();
    }

    /// The host gives up on the request (`sq_request_abort`): no response,
    /// or the rest of a started one, is sent; the connection is closed.
    pub(crate) fn abort_by_host(&self) -> Result<()> {
        let st = self.lock_to_finish()?;
        drop(st);
        self.abort();
        Ok(())
    }

    /// Drops the handle from the table (idempotent).
    pub(crate) fn release(&self) {
        let h = self.handle();
        if h != 0 {
            REQUESTS.remove(h);
        }
    }

    /// Called by the reactor when the connection closes before the response
    /// finished: calls fail with Closed from now on, and the host's
    /// on-close callback (if any) runs on the host thread.
    pub(crate) fn mark_closed(self: &Arc<Self>) {
        let cb = {
            let mut st = self.lock();
            if st.finished || st.closed {
                return;
            }
            st.closed = true;
            st.on_close.take()
        };
        if let Some(OnClose(cb)) = cb {
            // After the tasks this reactor turn queued (the handler call of
            // a request that arrived in the same turn, say).
            super::shared::host_task_after_turn(&self.server.loop_handle, cb);
        }
    }

    /// Sets what runs (once, on the host thread) if the client goes away
    /// before the response is finished; replaces an earlier one.
    pub(crate) fn set_on_close(&self, cb: Task) -> Result<()> {
        let mut st = self.lock();
        if st.closed {
            return Err(Error::new(ErrorKind::Closed, "the client closed the connection"));
        }
        if st.finished {
            return Err(Error::new(ErrorKind::AlreadyDone, "the response is already finished"));
        }
        st.on_close = Some(OnClose(cb));
        Ok(())
    }
}
