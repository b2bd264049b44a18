//! One client connection on reactor 0: resolve (on the resolver threads),
//! connect (each address in turn, within the connect timeout), TLS, then
//! requests one at a time; between them it waits in the pool, watched for
//! the server closing it. The pool is here too: it opens connections and
//! they report back to it, so the two live in one file.

use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::time::Instant;

use mio::event::Event;

use super::connect::{Connector, Connects, Progress};
use super::job::{Job, Key, Limits, Response, Running, Spec};
use super::response::{DecodeError, Event as Ev, Framing, ResponseDecoder, ResponseHead};
use crate::net::tls::{Stream, TlsInfo, is_tls_error};
use crate::reactor::read::{Input, ReadEnd, read_ready};
use crate::reactor::watcher::{Step, Stop, Watcher};
use crate::metrics::ClientCounter;
use crate::reactor::Reactor;
use crate::{Error, ErrorKind};

/// Streamed body bytes the host may fall behind by before reading pauses.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Resolving, connecting, TLS handshake (the connector's part).
    Connecting,
    /// A request is being sent and its response read.
    Busy,
    /// In the pool, waiting for a request.
    Idle,
    Closed,
}

/// Turns compressed body bytes into plain ones, into `out`, up to a cap.
enum Inflate {
    Gzip(flate2::write::MultiGzDecoder<Sink>),
    Zlib(flate2::write::ZlibDecoder<Sink>),
    Raw(flate2::write::DeflateDecoder<Sink>),
    /// "deflate": zlib or raw, told apart by the first two bytes.
    Deflate(Sink, Vec<u8>),
}

/// Decompressed output with a cap: a write past it fails, which stops the
/// decoder at once (a small input cannot grow into a huge buffer).
struct Sink {
    buf: Vec<u8>,
    total: u64,
    cap: u64,
}

impl Write for Sink {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.total + data.len() as u64 > self.cap {
            return Err(io::Error::other("decompressed body over the cap"));
        }
        self.total += data.len() as u64;
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Inflate {
    fn sink(&mut self) -> &mut Sink {
        match self {
            Inflate::Gzip(d) => d.get_mut(),
            Inflate::Zlib(d) => d.get_mut(),
            Inflate::Raw(d) => d.get_mut(),
            Inflate::Deflate(s, _) => s,
        }
    }

    fn write(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Inflate::Gzip(d) => d.write_all(data),
            Inflate::Zlib(d) => d.write_all(data),
            Inflate::Raw(d) => d.write_all(data),
            Inflate::Deflate(sink, head) => {
                head.extend_from_slice(data);
                if head.len() < 2 {
                    return Ok(());
                }
                let zlib = head[0] & 0x0f == 8 && (u16::from(head[0]) << 8 | u16::from(head[1])) % 31 == 0;
                let sink = std::mem::replace(sink, Sink { buf: Vec::new(), total: 0, cap: 0 });
                let head = std::mem::take(head);
                *self = if zlib {
                    Inflate::Zlib(flate2::write::ZlibDecoder::new(sink))
                } else {
                    Inflate::Raw(flate2::write::DeflateDecoder::new(sink))
                };
                self.write(&head)
            }
        }
    }

    fn finish(&mut self) -> io::Result<()> {
        match self {
            Inflate::Gzip(d) => d.try_finish(),
            Inflate::Zlib(d) => d.try_finish(),
            Inflate::Raw(d) => d.try_finish(),
            Inflate::Deflate(_, head) if head.is_empty() => Ok(()),
            Inflate::Deflate(..) => Err(io::Error::other("truncated deflate body")),
        }
    }
}

/// The response being read.
struct Incoming {
    head: ResponseHead,
    body: Vec<u8>,
    /// Decoded body bytes so far.
    size: u64,
    inflate: Option<Inflate>,
    /// A redirect to follow once the body (discarded) is through.
    redirect: Option<Spec>,
    streamed: bool,
    /// Compressed body bytes not inflated yet: held while the host is
    /// behind (see `inflate_streamed`).
    held: Vec<u8>,
}

/// Compressed bytes inflated in one step of a streamed body. Deflate
/// expands up to about 1,000 times, so one step hands the host at most a
/// few MiB before the flow gate is looked at again.
const INFLATE_STEP: usize = 4096;

/// One client connection.
pub(crate) struct FetchConn {
    key: Key,
    token: usize,
    generation: u64,
    phase: Phase,
    connector: Connector,
    stream: Option<Stream>,
    job: Option<Job>,
    out: Vec<u8>,
    out_pos: usize,
    rbuf: Vec<u8>,
    decoder: ResponseDecoder,
    incoming: Option<Incoming>,
    /// Requests completed on this connection.
    served: u32,
    /// Bytes of the current response seen.
    got_bytes: bool,
    /// Bytes of the current request written (so it must not go twice
    /// unless idempotent).
    sent_any: bool,
    idle_since: Instant,
    /// Reading stopped: the host is behind on streamed chunks.
    read_paused: bool,
    /// Reading held by the host (`Control::Hold`) until it releases it.
    host_hold: bool,
    /// The request's streamed body is not all sent yet.
    body_pending: bool,
    /// The last decode, during a read, ended the connection.
    decode_ended: bool,
    /// The request said `Expect: 100-continue`: its body waits for the
    /// server's `100 Continue`.
    awaiting_continue: bool,
    /// When the body goes anyway, without a `100 Continue` (RFC 9110 §10.1.1:
    /// a client need not wait for ever).
    continue_by: Instant,
    /// The final response came while the body still waited for `100
    /// Continue`: the body is never sent (`body_pending` stays set, so the
    /// connection is not reused).
    body_withheld: bool,
}

/// How long a request that said `Expect: 100-continue` waits for the
/// server's `100 Continue` before sending its body all the same (curl's
/// default).
const CONTINUE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

impl FetchConn {
    /// Opens a connection for `job` (the pool counted it already).
    pub(crate) fn open(r: &mut Reactor, key: Key, mut job: Job) {
        let now = Instant::now();
        job.times.queue = Some(now);
        let tls = if key.https {
            let config = if job.spec.verify {
                job.spec.tls.clone().map_or_else(crate::net::tls::default_config, Ok)
            } else {
                crate::net::tls::unverified_config()
            };
            match config {
                Ok(t) => Some(t),
                Err(e) => {
                    job.finish(r, Err(e));
                    conn_closed(r, &key, usize::MAX, 0);
                    return;
                }
            }
        } else {
            None
        };
        r.loop_handle.client_stats().inc(ClientCounter::ConnOpened);
        let deadline = (!job.spec.connect_timeout.is_zero()).then(|| now + job.spec.connect_timeout);
        let conn = FetchConn {
            connector: Connector::new(&key.host, key.port, tls, deadline)
                .bound_to(key.source)
                .via(key.connect_to.clone(), key.family),
            key: key.clone(),
            token: 0,
            generation: 0,
            phase: Phase::Connecting,
            stream: None,
            job: Some(job),
            out: Vec::new(),
            out_pos: 0,
            rbuf: Vec::new(),
            decoder: ResponseDecoder::new(false, false),
            incoming: None,
            served: 0,
            got_bytes: false,
            sent_any: false,
            idle_since: now,
            read_paused: false,
            host_hold: false,
            body_pending: false,
            decode_ended: false,
            awaiting_continue: false,
            continue_by: now,
            body_withheld: false,
        };
        let inserted = r.insert(Box::new(conn), |r, d, token, generation| {
            let Some(c) = d.as_any().downcast_mut::<FetchConn>() else { return false };
            c.token = token;
            c.generation = generation;
            if let Some(job) = c.job.as_ref() {
                c.host_hold = job.held;
                r.ext::<Running>().0.insert(job.id, (token, generation));
            }
            c.arm(r);
            c.connector.start::<FetchConn>(r, token, generation);
            true
        });
        if inserted.is_none() {
            conn_closed(r, &key, usize::MAX, 0);
        }
    }

    /// Whether the connection is still of use.
    pub(crate) fn alive(&self) -> bool {
        self.phase != Phase::Closed
    }

    /// Asks to be ticked at the next deadline.
    fn arm(&self, r: &mut Reactor) {
        let d = match self.phase {
            Phase::Connecting => min(self.connector.deadline, self.job.as_ref().and_then(|j| j.deadline)),
            Phase::Busy => min(self.job.as_ref().and_then(|j| j.deadline), self.awaiting_continue.then_some(self.continue_by)),
            Phase::Idle | Phase::Closed => None,
        };
        if let Some(d) = d {
            r.wake_at(d);
        }
    }

    /// Copies the connector's times into the job.
    fn note_times(&mut self) {
        if let Some(job) = self.job.as_mut() {
            let c = &self.connector;
            job.times.namelookup = job.times.namelookup.or(c.namelookup);
            job.times.connect = job.times.connect.or(c.connected);
            job.times.tls = job.times.tls.or(c.tls_done);
        }
    }

    fn drop_socket(&mut self, r: &mut Reactor) {
        self.connector.abandon(r);
        if let Some(mut s) = self.stream.take() {
            let _ = r.registry().deregister(s.socket());
        }
    }

    /// Takes a request from the pool (this connection was idle).
    pub(crate) fn assign(&mut self, r: &mut Reactor, mut job: Job) {
        r.loop_handle.client_stats().inc(ClientCounter::ConnReused);
        let now = Instant::now();
        job.times.queue = Some(now);
        job.times.namelookup = Some(now);
        job.times.connect = Some(now);
        if self.key.https {
            job.times.tls = Some(now);
        }
        self.host_hold = job.held;
        r.ext::<Running>().0.insert(job.id, (self.token, self.generation));
        self.job = Some(job);
        if !self.begin(r) {
            self.phase = Phase::Closed;
        }
    }

    /// Sends the current job's request.
    fn begin(&mut self, r: &mut Reactor) -> bool {
        let Some(job) = self.job.as_ref() else {
            return self.go_idle(r);
        };
        if self.stream.is_none() {
            return false;
        }
        self.phase = Phase::Busy;
        self.out = job.spec.encode();
        self.out_pos = 0;
        self.got_bytes = false;
        self.sent_any = false;
        self.incoming = None;
        self.decoder = ResponseDecoder::new(job.spec.method == "HEAD", false).with_max_head(job.spec.max_head);
        self.body_pending = false;
        self.awaiting_continue = job.spec.waits_for_continue();
        self.continue_by = Instant::now() + CONTINUE_WAIT;
        self.body_withheld = false;
        if job.spec.waits_for_continue() && job.spec.upload.is_none() {
            // The fixed body waits too: not sent, the connection is not reusable.
            self.body_pending = true;
        }
        if let Some(up) = job.spec.upload.as_ref() {
            if let Some(link) = r.loop_handle.reactor_link(r.index).cloned() {
                let (token, generation) = (self.token, self.generation);
                up.attach(std::sync::Arc::new(move || {
                    link.send(Box::new(move |r: &mut Reactor| {
                        r.with_watcher_as::<FetchConn, _>(token, Some(generation), |r, c| c.body_ready(r));
                    }));
                }));
            }
            self.body_pending = true;
        }
        self.arm(r);
        // The response raises a readiness edge of its own (or the read loop
        // this runs under goes on reading).
        self.write_out(r)
    }

    /// Writes queued request bytes (and the streamed body's pieces as they
    /// come); false when the connection ended.
    fn write_out(&mut self, r: &mut Reactor) -> bool {
        loop {
            let Some(st) = self.stream.as_mut() else { return false };
            while self.out_pos < self.out.len() {
                match st.write(&self.out[self.out_pos..]) {
                    Ok(0) => return self.io_failed(r, io::ErrorKind::WriteZero.into()),
                    Ok(n) => {
                        self.out_pos += n;
                        self.sent_any = true;
                        r.loop_handle.client_stats().add(ClientCounter::BytesOut, n as u64);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return self.io_failed(r, e),
                }
            }
            if !self.refill(r) {
                break;
            }
        }
        let Some(st) = self.stream.as_mut() else { return false };
        match st.flush() {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) => return self.io_failed(r, e),
        }
        if self.out_pos >= self.out.len() && !self.out.is_empty() {
            self.out = Vec::new();
            self.out_pos = 0;
        }
        true
    }

    /// Moves the streamed body's queued pieces into `out`, framed; true when
    /// there are bytes to write.
    fn refill(&mut self, r: &mut Reactor) -> bool {
        if !self.body_pending || self.awaiting_continue || self.body_withheld {
            return false;
        }
        let Some(job) = self.job.as_ref() else { return false };
        let Some(up) = job.spec.upload.clone() else {
            // A fixed body that waited for 100 Continue.
            if self.out_pos >= self.out.len() {
                self.out.clear();
                self.out_pos = 0;
            }
            self.out.extend_from_slice(&job.spec.body);
            self.body_pending = false;
            return self.out_pos < self.out.len();
        };
        let taken = up.take();
        if taken.drained {
            let events = job.events.clone();
            r.deliver(false, move || events.on_drain());
        }
        if self.out_pos >= self.out.len() {
            self.out.clear();
            self.out_pos = 0;
        }
        let chunked = up.length.is_none();
        for piece in taken.pieces {
            if chunked {
                self.out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            }
            self.out.extend_from_slice(&piece);
            if chunked {
                self.out.extend_from_slice(b"\r\n");
            }
        }
        if taken.done {
            if chunked {
                self.out.extend_from_slice(b"0\r\n\r\n");
            }
            self.body_pending = false;
        }
        self.out_pos < self.out.len()
    }

    /// The body that waited for `100 Continue` goes now (the server said
    /// so, or did not answer within `CONTINUE_WAIT`); the host of a streamed
    /// one hears `on_drain`: write. False when the connection ended.
    fn release_body(&mut self, r: &mut Reactor) -> bool {
        self.awaiting_continue = false;
        if let Some(job) = self.job.as_ref()
            && job.spec.upload.is_some()
        {
            let events = job.events.clone();
            r.deliver(false, move || events.on_drain());
        }
        self.write_out(r)
    }

    /// A streamed body piece (or its end) was queued: send it.
    pub(crate) fn body_ready(&mut self, r: &mut Reactor) -> bool {
        if self.phase == Phase::Busy && self.body_pending {
            return self.write_out(r);
        }
        self.alive()
    }

    /// Reads and decodes what the socket holds; false when the connection ended.
    fn read(&mut self, r: &mut Reactor) -> bool {
        self.decode_ended = false;
        match read_ready(r, self) {
            ReadEnd::Eof => self.on_eof(r),
            ReadEnd::Failed(e) => self.io_failed(r, e),
            ReadEnd::Drained => !self.decode_ended && self.stream.is_some(),
            ReadEnd::Paused => !self.decode_ended && self.alive(),
            ReadEnd::Share => {
                r.read_again(self.token);
                !self.decode_ended && self.stream.is_some()
            }
        }
    }

    /// Decodes `rbuf`; false when the connection ended. Stops after the end
    /// of a response: the next one is read afresh.
    fn decode(&mut self, r: &mut Reactor) -> bool {
        let rbuf = std::mem::take(&mut self.rbuf);
        let mut pos = 0;
        let alive = loop {
            if self.phase != Phase::Busy || self.read_paused || self.host_hold {
                break self.alive();
            }
            let (used, ev) = match self.decoder.decode(&rbuf[pos..]) {
                Ok(x) => x,
                Err(DecodeError::Protocol(why)) => {
                    let msg = format!("malformed response from {}:{}: {why}", self.key.host, self.key.port);
                    break self.fail(r, Error::new(ErrorKind::Protocol, msg));
                }
                Err(DecodeError::Closed { .. }) => break self.fail(r, Error::new(ErrorKind::Closed, "closed")),
            };
            let start = pos;
            pos += used;
            match ev {
                Ev::NeedMore if used == 0 => break true,
                Ev::NeedMore => {
                    if self.decoder.take_continue() && self.awaiting_continue && !self.release_body(r) {
                        break false;
                    }
                }
                Ev::Head(head) => {
                    if !self.on_head(r, head) {
                        break false;
                    }
                }
                Ev::Body(a, b) => {
                    if !self.on_body(r, &rbuf[start + a..start + b]) {
                        break false;
                    }
                }
                Ev::End => {
                    if pos < rbuf.len() {
                        // Bytes after a complete response (nothing was
                        // pipelined): a confused server; not reused.
                        pos = rbuf.len();
                        if let Some(inc) = self.incoming.as_mut() {
                            inc.head.keep_alive = false;
                        }
                    }
                    break self.on_end(r);
                }
            }
        };
        if alive && pos < rbuf.len() {
            let mut rest = rbuf;
            rest.drain(..pos);
            rest.extend_from_slice(&self.rbuf);
            self.rbuf = rest;
        }
        alive
    }

    /// What the connection's TLS handshake agreed on (None: plain http), with
    /// the name this client asked for as the server name.
    fn tls_of(&mut self) -> Option<std::sync::Arc<TlsInfo>> {
        let info = self.stream.as_mut()?.tls_info()?;
        if !info.server_name.is_empty() {
            return Some(info);
        }
        let mut named = (*info).clone();
        named.server_name = self.key.host.clone();
        Some(std::sync::Arc::new(named))
    }

    fn on_head(&mut self, r: &mut Reactor, head: ResponseHead) -> bool {
        if self.awaiting_continue {
            // A final answer instead of `100 Continue`: the body never goes
            // (neither now nor when the wait runs out), and the connection,
            // its request unfinished, is not reused.
            self.awaiting_continue = false;
            self.body_withheld = true;
        }
        let tls = self.tls_of();
        let Some(job) = self.job.as_ref() else { return false };
        let spec = &job.spec;
        let mut redirect = None;
        // A streamed body cannot go again: its 3xx is handed back as it is.
        if spec.max_redirects > 0
            && spec.upload.is_none()
            && matches!(head.status, 301 | 302 | 303 | 307 | 308)
            && let Some(loc) = head.header("location")
        {
            if job.redirects >= spec.max_redirects {
                // One redirect too many: a failure, or (when the host asked,
                // as Tornado 6.6 does) the 3xx itself is the response.
                if !spec.overflow_redirect_is_response {
                    let msg = format!("too many redirects (the maximum is {}); the last went to {}", spec.max_redirects, String::from_utf8_lossy(loc));
                    return self.fail(r, Error::new(ErrorKind::Limit, msg));
                }
            } else {
                match spec.redirected(head.status, loc) {
                    Ok(next) => redirect = Some(next),
                    Err(e) => return self.fail(r, e),
                }
            }
        }
        let mut inflate = None;
        // No body (HEAD, 204, 304): nothing to decompress, whatever the
        // Content-Encoding says.
        if redirect.is_none() && spec.decompress && head.framing != Framing::None {
            let cap = spec.max_decompressed.min(spec.max_body);
            let sink = Sink { buf: Vec::new(), total: 0, cap };
            inflate = match head.header("content-encoding").map(<[u8]>::trim_ascii) {
                Some(e) if e.eq_ignore_ascii_case(b"gzip") || e.eq_ignore_ascii_case(b"x-gzip") => {
                    Some(Inflate::Gzip(flate2::write::MultiGzDecoder::new(sink)))
                }
                Some(e) if e.eq_ignore_ascii_case(b"deflate") => Some(Inflate::Deflate(sink, Vec::new())),
                _ => None,
            };
        }
        if redirect.is_none()
            && inflate.is_none()
            && let Framing::Length(n) = head.framing
            && n > spec.max_body
        {
            let msg = format!("response body of {n} bytes is over the limit of {} bytes", spec.max_body);
            return self.fail(r, Error::new(ErrorKind::Limit, msg));
        }
        let mut head = head;
        if inflate.is_some() {
            // As Tornado does: the body handed over is decoded, so the
            // header says what was consumed instead.
            for (name, _) in head.headers.iter_mut().filter(|(n, _)| n.eq_ignore_ascii_case("content-encoding")) {
                *name = "X-Consumed-Content-Encoding".to_owned();
            }
        }
        let streamed = redirect.is_none() && job.events.wants_chunks();
        if redirect.is_none() && job.events.wants_headers() {
            let resp = Response {
                status: head.status,
                reason: head.reason.clone(),
                headers: head.headers.clone(),
                url: spec.url.to_string(),
                redirects: job.redirects,
                tls,
                ..Response::default()
            };
            let events = job.events.clone();
            r.deliver(false, move || events.on_headers(&resp));
        }
        self.incoming = Some(Incoming { head, body: Vec::new(), size: 0, inflate, redirect, streamed, held: Vec::new() });
        true
    }

    fn on_body(&mut self, r: &mut Reactor, data: &[u8]) -> bool {
        let Some(inc) = self.incoming.as_mut() else { return false };
        if inc.redirect.is_some() {
            return true;
        }
        let Some(job) = self.job.as_ref() else { return false };
        let (max_body, max_dec) = (job.spec.max_body, job.spec.max_decompressed);
        if inc.streamed && inc.inflate.is_some() {
            return self.inflate_streamed(r, data);
        }
        let plain: Vec<u8> = match inc.inflate.as_mut() {
            Some(inf) => {
                if let Err(e) = inf.write(data) {
                    let over = inf.sink().total + 1 > inf.sink().cap || e.to_string().contains("cap");
                    return self.fail(r, inflate_error(over, &e, max_body, max_dec));
                }
                std::mem::take(&mut inf.sink().buf)
            }
            None => {
                if inc.size + data.len() as u64 > max_body {
                    let msg = format!("response body over the limit of {max_body} bytes");
                    return self.fail(r, Error::new(ErrorKind::Limit, msg));
                }
                data.to_vec()
            }
        };
        inc.size += plain.len() as u64;
        if plain.is_empty() {
            return true;
        }
        if inc.streamed {
            self.send_chunk(r, plain);
        } else {
            inc.body.extend_from_slice(&plain);
        }
        true
    }

    /// A streamed compressed body, inflated INFLATE_STEP input bytes at a
    /// time, each step's output handed over before the next. Once the host
    /// is behind (reading paused) the compressed rest is held until it
    /// catches up (`resume`). Inflated whole, one read of a small gzip bomb
    /// became one chunk of hundreds of MiB, however far behind the host was.
    fn inflate_streamed(&mut self, r: &mut Reactor, data: &[u8]) -> bool {
        let mut off = 0;
        while off < data.len() {
            let Some(inc) = self.incoming.as_mut() else { return false };
            if self.read_paused || self.host_hold {
                inc.held.extend_from_slice(&data[off..]);
                return true;
            }
            let Some(job) = self.job.as_ref() else { return false };
            let (max_body, max_dec) = (job.spec.max_body, job.spec.max_decompressed);
            let Some(inf) = inc.inflate.as_mut() else { return false };
            let end = data.len().min(off + INFLATE_STEP);
            if let Err(e) = inf.write(&data[off..end]) {
                let over = inf.sink().total + 1 > inf.sink().cap || e.to_string().contains("cap");
                return self.fail(r, inflate_error(over, &e, max_body, max_dec));
            }
            off = end;
            let plain = std::mem::take(&mut inf.sink().buf);
            inc.size += plain.len() as u64;
            if !plain.is_empty() {
                self.send_chunk(r, plain);
            }
        }
        true
    }

    /// Hands a body chunk to the host; pauses reading when it falls behind.
    fn send_chunk(&mut self, r: &mut Reactor, chunk: Vec<u8>) {
        let Some(job) = self.job.as_ref() else { return };
        if !job.events.wants_chunks() {
            return;
        }
        let events = job.events.clone();
        let pending = job.pending.clone();
        let n = crate::reactor::flow::cost(chunk.len());
        if pending.handed(n) {
            self.read_paused = true;
        }
        let link = r.loop_handle.reactor_link(r.index).cloned();
        let (token, generation) = (self.token, self.generation);
        r.deliver(false, move || {
            events.on_chunk(&chunk);
            if pending.taken(n)
                && let Some(link) = link
            {
                link.send(Box::new(move |r: &mut Reactor| {
                    r.with_watcher_as::<FetchConn, _>(token, Some(generation), |r, c| c.resume(r));
                }));
            }
        });
    }

    fn resume(&mut self, r: &mut Reactor) -> bool {
        if !self.read_paused {
            return self.alive();
        }
        self.read_paused = false;
        self.unpause(r)
    }

    /// The host let go of its hold on reading (`Control::Release`).
    fn release(&mut self, r: &mut Reactor) -> bool {
        if !self.host_hold {
            return self.alive();
        }
        self.host_hold = false;
        self.unpause(r)
    }

    /// Reads on, unless the gate or the host still holds reading.
    fn unpause(&mut self, r: &mut Reactor) -> bool {
        if self.read_paused || self.host_hold || self.phase != Phase::Busy {
            return self.alive();
        }
        // Compressed bytes held back come before anything still unread.
        let held = self.incoming.as_mut().map(|inc| std::mem::take(&mut inc.held)).unwrap_or_default();
        if !held.is_empty() && !self.inflate_streamed(r, &held) {
            return false;
        }
        if self.read_paused || self.host_hold {
            return self.alive();
        }
        // Edge-triggered: what arrived meanwhile raised no new event.
        self.decode(r) && self.read(r)
    }

    fn on_end(&mut self, r: &mut Reactor) -> bool {
        let tls = self.tls_of();
        let Some(mut inc) = self.incoming.take() else { return false };
        let Some(mut job) = self.job.take() else { return false };
        if let Some(inf) = inc.inflate.as_mut() {
            let finished = inf.finish();
            let tail = std::mem::take(&mut inf.sink().buf);
            if let Err(e) = finished {
                self.job = Some(job);
                let err = if e.to_string().contains("cap") {
                    Error::new(ErrorKind::Limit, format!("decompressed body over the limit of {} bytes", self.cap_of()))
                } else {
                    Error::new(ErrorKind::Protocol, format!("cannot decompress the response body: {e}"))
                };
                return self.fail(r, err);
            }
            if !tail.is_empty() {
                if inc.streamed {
                    self.job = Some(job);
                    self.send_chunk(r, tail);
                    job = self.job.take().expect("just put back");
                } else {
                    inc.body.extend_from_slice(&tail);
                }
            }
        }
        // A response that came before the whole streamed body went leaves
        // the connection mid-request: not reused.
        let reuse = inc.head.keep_alive && !job.spec.wants_close() && self.rbuf.is_empty() && !self.body_pending;
        self.served += 1;
        match inc.redirect.take() {
            Some(next) => {
                job.spec = next;
                job.redirects += 1;
                job.times.first_byte = None;
                if reuse && job.spec.key() == self.key {
                    // Same origin: go on on this connection.
                    self.job = Some(job);
                    return self.begin(r);
                }
                let alive = self.after_request(r, reuse);
                submit(r, job);
                alive
            }
            None => {
                let resp = Response {
                    status: inc.head.status,
                    reason: inc.head.reason,
                    headers: inc.head.headers,
                    body: inc.body,
                    url: job.spec.url.to_string(),
                    tls,
                    ..Response::default()
                };
                job.finish(r, Ok(resp));
                self.after_request(r, reuse)
            }
        }
    }

    fn cap_of(&self) -> u64 {
        self.job.as_ref().map_or(0, |j| j.spec.max_decompressed.min(j.spec.max_body))
    }

    /// Back to the pool (the next queued request, idle) or closed.
    fn after_request(&mut self, r: &mut Reactor, reuse: bool) -> bool {
        if !reuse {
            self.close(r);
            return false;
        }
        match conn_free(r, &self.key, self.token, self.generation) {
            Next::Run(job) => {
                self.assign(r, *job);
                self.alive()
            }
            Next::Idle => self.go_idle(r),
            Next::Close => {
                self.close(r);
                false
            }
        }
    }

    fn go_idle(&mut self, _r: &mut Reactor) -> bool {
        self.phase = Phase::Idle;
        self.idle_since = Instant::now();
        self.out = Vec::new();
        self.rbuf = Vec::new();
        true
    }

    fn on_eof(&mut self, r: &mut Reactor) -> bool {
        match self.decoder.eof() {
            Ok(_) if self.incoming.is_some() => {
                // A body delimited by the close: complete now.
                if let Some(inc) = self.incoming.as_mut() {
                    inc.head.keep_alive = false;
                }
                self.on_end(r);
                self.close(r);
                false
            }
            Ok(_) => {
                self.close(r);
                false
            }
            Err(DecodeError::Closed { body }) => {
                if !body && self.retry(r) {
                    return false;
                }
                let msg = if body {
                    "the server closed the connection before the response body was complete"
                } else {
                    "the server closed the connection before sending a response"
                };
                self.fail(r, Error::new(ErrorKind::Closed, msg))
            }
            Err(DecodeError::Protocol(why)) => self.fail(r, Error::new(ErrorKind::Protocol, why)),
        }
    }

    fn io_failed(&mut self, r: &mut Reactor, e: io::Error) -> bool {
        if self.phase == Phase::Busy && !self.got_bytes && self.retry(r) {
            return false;
        }
        let kind = if is_tls_error(&e) {
            ErrorKind::Tls
        } else if self.phase == Phase::Busy {
            ErrorKind::Closed
        } else {
            ErrorKind::Connect
        };
        let msg = format!("connection to {}:{} failed: {e}", self.key.host, self.key.port);
        self.fail(r, Error::new(kind, msg))
    }

    /// A pooled connection the server had closed: the request goes again,
    /// once, on a new connection, when that is safe (an idempotent request,
    /// or nothing of it sent). True when it was resubmitted.
    fn retry(&mut self, r: &mut Reactor) -> bool {
        let safe = self.job.as_ref().is_some_and(|j| {
            !j.retried && (j.spec.idempotent() || !self.sent_any) && j.spec.upload.as_ref().is_none_or(|u| !u.started())
        });
        if self.served == 0 || !safe || self.got_bytes {
            return false;
        }
        let Some(mut job) = self.job.take() else { return false };
        tracing::debug!(target: "squall::client", "pooled connection to {}:{} was closed; retrying {} {}", self.key.host, self.key.port, job.spec.method, job.spec.url);
        job.retried = true;
        job.fresh = true;
        self.close(r);
        submit(r, job);
        true
    }

    /// Fails the current request (if any) and closes.
    fn fail(&mut self, r: &mut Reactor, err: Error) -> bool {
        self.note_times();
        if let Some(job) = self.job.take() {
            job.finish(r, Err(err));
        }
        self.close(r);
        false
    }

    /// Closes the socket and gives the pool its slot back (once).
    pub(crate) fn close(&mut self, r: &mut Reactor) {
        if self.phase == Phase::Closed {
            return;
        }
        self.phase = Phase::Closed;
        self.drop_socket(r);
        conn_closed(r, &self.key, self.token, self.generation);
    }
}

/// The error of a failed inflate step: over the body or decompressed limit
/// (whichever is smaller), or a corrupt stream.
fn inflate_error(over: bool, e: &std::io::Error, max_body: u64, max_dec: u64) -> Error {
    if over {
        // Said of the decompressed body whichever limit it reached: the
        // compressed bytes were within it.
        Error::new(ErrorKind::Limit, format!("decompressed body over the limit of {} bytes", max_dec.min(max_body)))
    } else {
        Error::new(ErrorKind::Protocol, format!("cannot decompress the response body: {e}"))
    }
}

fn min(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl Connects for FetchConn {
    fn connector(&mut self) -> &mut Connector {
        &mut self.connector
    }

    fn progressed(&mut self, r: &mut Reactor, p: Progress) -> bool {
        match p {
            Progress::Pending => self.alive(),
            Progress::Ready => {
                self.stream = self.connector.take();
                self.note_times();
                self.begin(r)
            }
            Progress::Failed(e) => self.fail(r, e),
        }
    }
}

impl Input for FetchConn {
    fn socket(&mut self) -> Option<&mut dyn Read> {
        self.stream.as_mut().map(|s| s as &mut dyn Read)
    }

    fn wants_input(&self) -> bool {
        self.phase == Phase::Busy && !self.read_paused && !self.host_hold && !self.decode_ended
    }

    /// Read on to `EAGAIN`: TLS may hold records, and a response's end is
    /// no reason to stop.
    fn short_read_drains(&self) -> bool {
        false
    }

    fn input(&mut self, r: &mut Reactor, bytes: &[u8]) {
        self.got_bytes = true;
        r.loop_handle.client_stats().add(ClientCounter::BytesIn, bytes.len() as u64);
        if let Some(job) = self.job.as_mut()
            && job.times.first_byte.is_none()
        {
            job.times.first_byte = Some(Instant::now());
        }
        self.rbuf.extend_from_slice(bytes);
        if !self.decode(r) {
            self.decode_ended = true;
        }
    }
}

impl Watcher for FetchConn {
    fn ready(&mut self, r: &mut Reactor, _token: usize, ev: &Event) -> Step {
        let (readable, writable, _) = crate::reactor::readiness(ev);
        match self.phase {
            Phase::Connecting => {
                if !(readable || writable) {
                    return Step::Keep;
                }
                let p = self.connector.ready(r);
                self.progressed(r, p).into()
            }
            Phase::Busy => {
                if writable && (self.out_pos < self.out.len() || self.stream.as_ref().is_some_and(Stream::wants_write)) && !self.write_out(r) {
                    return Step::Close;
                }
                self.read(r).into()
            }
            Phase::Idle => {
                if !readable {
                    return Step::Keep;
                }
                // An idle connection has nothing to say: EOF (the server
                // closed it) or stray bytes both end it.
                let mut probe = [0u8; 64];
                let quiet = matches!(self.stream.as_mut().map(|s| s.read(&mut probe)), Some(Err(e)) if e.kind() == io::ErrorKind::WouldBlock);
                let gone = !quiet;
                if gone {
                    tracing::trace!(target: "squall::client", "idle connection to {}:{} closed by the server", self.key.host, self.key.port);
                    self.close(r);
                    return Step::Close;
                }
                Step::Keep
            }
            Phase::Closed => Step::Close,
        }
    }

    fn tick(&mut self, r: &mut Reactor, _token: usize) -> Step {
        let now = r.now;
        match self.phase {
            Phase::Connecting => {
                let ms = self.job.as_ref().map_or(0, |j| j.spec.connect_timeout.as_millis());
                if let Some(e) = self.connector.timed_out(r, now, ms) {
                    return self.fail(r, e).into();
                }
            }
            Phase::Idle => {
                if now.duration_since(self.idle_since) >= r.ext::<Pool>().limits.idle_timeout {
                    self.close(r);
                    return Step::Close;
                }
                return Step::Keep;
            }
            Phase::Busy => {
                if self.awaiting_continue && self.continue_by <= now && !self.release_body(r) {
                    return false.into();
                }
            }
            Phase::Closed => return Step::Close,
        }
        if let Some(job) = self.job.as_ref()
            && job.deadline.is_some_and(|d| d <= now)
        {
            let ms = job.spec.request_timeout.as_millis();
            return self.fail(r, Error::new(ErrorKind::Timeout, format!("Timeout during request (timed out after {ms} ms)"))).into();
        }
        self.arm(r);
        Step::Keep
    }

    /// The next share of the response (the last turn's ran out).
    fn again(&mut self, r: &mut Reactor, _token: usize) -> Step {
        match self.phase {
            Phase::Busy => self.read(r).into(),
            _ => self.alive().into(),
        }
    }

    fn flush(&mut self, r: &mut Reactor, _token: usize) -> Step {
        if self.phase == Phase::Busy {
            return self.write_out(r).into();
        }
        self.alive().into()
    }

    fn stop(&mut self, r: &mut Reactor, _token: usize, _how: Stop) -> Step {
        // The loop is going away: nobody is left to answer.
        self.job = None;
        self.phase = Phase::Closed;
        self.drop_socket(r);
        Step::Close
    }

    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

// ---- the pool: connections per origin, shared by the fetches of reactor 0 ----

#[derive(Default)]
struct Host {
    /// Idle connections (token, generation), most recent last.
    idle: Vec<(usize, u64)>,
    /// Connections open or opening.
    open: usize,
    queue: VecDeque<Job>,
}

/// A reactor's client connections (only reactor 0's is used).
#[derive(Default)]
pub(crate) struct Pool {
    pub(crate) limits: Limits,
    hosts: HashMap<Key, Host>,
    open: usize,
}

/// What the host asks of a fetch ([`super::control`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Control {
    /// End it now: `on_response` gets a `Cancelled` error.
    Cancel,
    /// Stop reading its response until `Release` (the host's flow control).
    Hold,
    /// Read its response again.
    Release,
}

/// Applies `what` to fetch `id`, wherever it is: queued for a connection,
/// or on one. A fetch that is done is not found (nothing happens).
pub(crate) fn control(r: &mut Reactor, id: u64, what: Control) {
    let mut queued = None;
    for host in r.ext::<Pool>().hosts.values_mut() {
        if let Some(i) = host.queue.iter().position(|j| j.id == id) {
            match what {
                Control::Cancel => queued = host.queue.remove(i),
                Control::Hold => host.queue[i].held = true,
                Control::Release => host.queue[i].held = false,
            }
            break;
        }
    }
    if queued.is_some() {
        note_queued(r);
    }
    if let Some(job) = queued {
        job.finish(r, Err(cancelled()));
        return;
    }
    let Some(&(token, generation)) = r.ext::<Running>().0.get(&id) else { return };
    r.with_watcher_as::<FetchConn, _>(token, Some(generation), |r, c| {
        if c.job.as_ref().is_none_or(|j| j.id != id) {
            return c.alive();
        }
        match what {
            Control::Cancel => c.fail(r, cancelled()),
            Control::Hold => {
                c.host_hold = true;
                if let Some(j) = c.job.as_mut() {
                    j.held = true;
                }
                c.alive()
            }
            Control::Release => {
                if let Some(j) = c.job.as_mut() {
                    j.held = false;
                }
                c.release(r)
            }
        }
    });
}

fn cancelled() -> Error {
    Error::new(ErrorKind::Cancelled, "the fetch was cancelled")
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("open", &self.open).field("hosts", &self.hosts.len()).finish()
    }
}

/// Publishes how many requests wait for a connection (`sq_fetch_queued`).
fn note_queued(r: &mut Reactor) {
    let n = r.ext::<Pool>().hosts.values().map(|h| h.queue.len()).sum();
    r.loop_handle.client_stats().set_queued(n);
}

/// Runs `job`: on an idle connection to its origin, a new one, or queued.
pub(crate) fn submit(r: &mut Reactor, job: Job) {
    // Requests that wait for a connection time out through the reactor's
    // ticks (the pool has no socket of its own).
    r.add_tick_hook(tick);
    let key = job.spec.key();
    let mut slot = Some(job);
    if !slot.as_ref().is_some_and(|j| j.fresh) {
        while let Some((token, generation)) = r.ext::<Pool>().hosts.get_mut(&key).and_then(|h| h.idle.pop()) {
            let found = r.with_watcher_as::<FetchConn, _>(token, Some(generation), |r, c| {
                if let Some(job) = slot.take() {
                    c.assign(r, job);
                }
                c.alive()
            });
            if found && slot.is_none() {
                return;
            }
        }
    }
    let Some(job) = slot else { return };
    let limits = r.ext::<Pool>().limits;
    if r.ext::<Pool>().open >= limits.max_clients {
        evict_idle(r, &key);
    }
    let pool = r.ext::<Pool>();
    let open = pool.open;
    let host = pool.hosts.entry(key.clone()).or_default();
    if host.open < limits.max_per_host.max(1) && open < limits.max_clients.max(1) {
        host.open += 1;
        pool.open += 1;
        FetchConn::open(r, key, job);
    } else {
        let deadline = job.queue_deadline();
        host.queue.push_back(job);
        if let Some(d) = deadline {
            r.wake_at(d);
        }
        r.wake_at(r.now + crate::reactor::SWEEP_INTERVAL);
        note_queued(r);
    }
}

/// Closes one idle connection to an origin other than `key`, to make room.
fn evict_idle(r: &mut Reactor, key: &Key) {
    let victim = r.ext::<Pool>().hosts.iter_mut().filter(|(k, _)| *k != key).find_map(|(_, h)| h.idle.first().copied());
    if let Some((token, generation)) = victim {
        r.with_watcher_as::<FetchConn, _>(token, Some(generation), |r, c| {
            c.close(r);
            false
        });
    }
}

/// What a connection that finished a request does next.
pub(crate) enum Next {
    Run(Box<Job>),
    Idle,
    Close,
}

/// A connection finished its request and may serve another.
pub(crate) fn conn_free(r: &mut Reactor, key: &Key, token: usize, generation: u64) -> Next {
    let waiting_elsewhere = r.ext::<Pool>().open >= r.ext::<Pool>().limits.max_clients
        && r.ext::<Pool>().hosts.iter().any(|(k, h)| k != key && !h.queue.is_empty());
    let Some(host) = r.ext::<Pool>().hosts.get_mut(key) else { return Next::Close };
    if let Some(job) = host.queue.pop_front() {
        note_queued(r);
        return Next::Run(Box::new(job));
    }
    if waiting_elsewhere {
        // Another origin waits for a slot under the total cap: give it ours.
        return Next::Close;
    }
    host.idle.push((token, generation));
    Next::Idle
}

/// A connection closed (once per connection): frees its slot and starts
/// what waited for one.
pub(crate) fn conn_closed(r: &mut Reactor, key: &Key, token: usize, generation: u64) {
    if let Some(host) = r.ext::<Pool>().hosts.get_mut(key) {
        host.idle.retain(|&(t, g)| (t, g) != (token, generation));
        host.open = host.open.saturating_sub(1);
        if host.open == 0 && host.queue.is_empty() {
            r.ext::<Pool>().hosts.remove(key);
        }
    }
    r.ext::<Pool>().open = r.ext::<Pool>().open.saturating_sub(1);
    kick(r);
}

/// Starts queued requests that fit under the caps now.
pub(crate) fn kick(r: &mut Reactor) {
    let limits = r.ext::<Pool>().limits;
    loop {
        if r.ext::<Pool>().open >= limits.max_clients.max(1) {
            return;
        }
        let next = r.ext::<Pool>().hosts.iter_mut().find(|(_, h)| !h.queue.is_empty() && h.open < limits.max_per_host.max(1));
        let Some((key, host)) = next else { return };
        let Some(job) = host.queue.pop_front() else { return };
        host.open += 1;
        let key = key.clone();
        r.ext::<Pool>().open += 1;
        note_queued(r);
        FetchConn::open(r, key, job);
    }
}

/// Fails queued requests whose timeout passed (called as time passes).
pub(crate) fn tick(r: &mut Reactor) {
    let now = r.now;
    let mut expired = Vec::new();
    let mut next: Option<Instant> = None;
    for host in r.ext::<Pool>().hosts.values_mut() {
        let (gone, kept): (VecDeque<Job>, VecDeque<Job>) =
            host.queue.drain(..).partition(|j| j.queue_deadline().is_some_and(|d| d <= now));
        host.queue = kept;
        expired.extend(gone);
        if let Some(d) = host.queue.iter().filter_map(Job::queue_deadline).min() {
            next = Some(next.map_or(d, |n: Instant| n.min(d)));
        }
    }
    if let Some(n) = next {
        r.wake_at(n);
    }
    if !expired.is_empty() {
        note_queued(r);
    }
    for job in expired {
        let ms = now.saturating_duration_since(job.start).as_millis();
        let msg = format!("Timeout in request queue (timed out after {ms} ms waiting for a connection: max_clients)");
        job.finish(r, Err(Error::new(ErrorKind::Timeout, msg)));
    }
}
