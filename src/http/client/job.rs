//! What a fetch is: the request ([`Spec`], checked when built: URL, header
//! bytes), the job running it (deadlines, redirects followed, timings), the
//! response handed to the host ([`Response`], through [`FetchEvents`]), and
//! the pool's key and limits.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::net::tls::TlsConfig;
use crate::reactor::flow::FlowGate;
use crate::reactor::Reactor;
use crate::{Error, ErrorKind, Result};

/// Defaults (Tornado's where it has one).
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
pub(crate) const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
pub(crate) const DEFAULT_MAX_REDIRECTS: u32 = 5;
pub(crate) const DEFAULT_MAX_BODY: u64 = 100 * 1024 * 1024;
pub(crate) const DEFAULT_MAX_CLIENTS: usize = 100;
pub(crate) const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// What a fetch tells its host, on the host thread. Each view lives only
/// during the call.
pub(crate) trait FetchEvents: Send + Sync {
    /// The final response, or the failure (`Response::error`): once per fetch.
    fn on_response(&self, resp: &Response);
    /// Whether the head of the final response is wanted before its body.
    fn wants_headers(&self) -> bool {
        false
    }
    /// The head of the final response (no body yet), when wanted.
    fn on_headers(&self, _head: &Response) {}
    /// Whether the body streams to `on_chunk` (the final response then has
    /// an empty body).
    fn wants_chunks(&self) -> bool {
        false
    }
    /// A piece of the (decompressed) body, in order, when streamed.
    fn on_chunk(&self, _chunk: &[u8]) {}
    /// The streamed request body's queue went low after a write reported
    /// backpressure: write on.
    fn on_drain(&self) {}
}

/// A request: what the host's request builder fills in.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    pub(crate) method: String,
    pub(crate) url: url::Url,
    pub(crate) headers: Vec<(String, Vec<u8>)>,
    pub(crate) body: Arc<[u8]>,
    /// Zero: no limit.
    pub(crate) connect_timeout: Duration,
    pub(crate) request_timeout: Duration,
    /// Redirects followed at most; 0 hands a 3xx back as it is.
    pub(crate) max_redirects: u32,
    /// A redirect past `max_redirects` is handed back as the response
    /// (instead of failing the fetch with `Limit`).
    pub(crate) overflow_redirect_is_response: bool,
    pub(crate) decompress: bool,
    pub(crate) max_decompressed: u64,
    pub(crate) max_body: u64,
    /// The `Authorization` value for basic auth.
    pub(crate) auth: Option<Vec<u8>>,
    /// Trust for https (None: the default roots).
    pub(crate) tls: Option<TlsConfig>,
    /// A body written while the request goes ([`Upload`]) instead of `body`.
    pub(crate) upload: Option<Arc<Upload>>,
    /// Verify the server's certificate (https); false accepts any
    /// (`net::tls::unverified_config`), whatever `tls` says.
    pub(crate) verify: bool,
    /// The local address connections are made from (None: the system's choice).
    pub(crate) source: Option<std::net::IpAddr>,
    /// Where to connect instead of the URL's host and port (which stay the
    /// request's `Host` and TLS name): curl's `--connect-to`.
    pub(crate) connect_to: Option<(String, u16)>,
    /// The address family connections may use: 0 any, 4 IPv4 only, 6 IPv6 only.
    pub(crate) family: u8,
    /// Send `Expect: 100-continue` and hold the body until the server says
    /// `100 Continue` (a final response first: the body never goes).
    pub(crate) expect_continue: bool,
    /// Longest response head accepted (0: the decoder's 64 KiB).
    pub(crate) max_head: usize,
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Parses an http(s) URL (ws(s) too, for the WebSocket client).
pub(crate) fn parse_url(url: &str, schemes: &[&str]) -> Result<url::Url> {
    let u = url::Url::parse(url).map_err(|e| Error::new(ErrorKind::InvalidArg, format!("bad URL {url:?}: {e}")))?;
    if !schemes.contains(&u.scheme()) {
        return Err(Error::new(ErrorKind::InvalidArg, format!("unsupported URL scheme {:?} (expected {})", u.scheme(), schemes.join(", "))));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(Error::new(ErrorKind::InvalidArg, format!("URL {url:?} has no host")));
    }
    Ok(u)
}

/// Checks a header a caller adds: a token name, a value without CR, LF or NUL.
pub(crate) fn check_header(name: &str, value: &[u8]) -> Result<()> {
    if !is_token(name) {
        return Err(Error::new(ErrorKind::InvalidArg, format!("header name {name:?} is not an HTTP token")));
    }
    if value.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(Error::new(ErrorKind::InvalidArg, format!("the value of header {name:?} holds CR, LF or NUL")));
    }
    Ok(())
}

impl Spec {
    pub(crate) fn new(method: &str, url: &str) -> Result<Spec> {
        if !is_token(method) {
            return Err(Error::new(ErrorKind::InvalidArg, format!("method {method:?} is not an HTTP token")));
        }
        Ok(Spec {
            method: method.to_owned(),
            url: parse_url(url, &["http", "https"])?,
            headers: Vec::new(),
            body: Arc::from(&[][..]),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_redirects: DEFAULT_MAX_REDIRECTS,
            overflow_redirect_is_response: false,
            decompress: true,
            max_decompressed: DEFAULT_MAX_BODY,
            max_body: DEFAULT_MAX_BODY,
            auth: None,
            tls: None,
            upload: None,
            verify: true,
            source: None,
            connect_to: None,
            family: 0,
            expect_continue: false,
            max_head: 0,
        })
    }

    fn has_header(&self, name: &str) -> bool {
        self.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    /// The request's bytes: head and body (the head alone when the body
    /// waits for `100 Continue`).
    pub(crate) fn encode(&self) -> Vec<u8> {
        let u = &self.url;
        let mut out = Vec::with_capacity(256 + self.body.len());
        out.extend_from_slice(self.method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(u.path().as_bytes());
        if let Some(q) = u.query() {
            out.push(b'?');
            out.extend_from_slice(q.as_bytes());
        }
        out.extend_from_slice(b" HTTP/1.1\r\n");
        if !self.has_header("host") {
            out.extend_from_slice(b"Host: ");
            out.extend_from_slice(u.host_str().unwrap_or("").as_bytes());
            if let Some(p) = u.port() {
                out.extend_from_slice(format!(":{p}").as_bytes());
            }
            out.extend_from_slice(b"\r\n");
        }
        for (n, v) in &self.headers {
            // Framing is the client's to say.
            if n.eq_ignore_ascii_case("content-length") || n.eq_ignore_ascii_case("transfer-encoding") {
                continue;
            }
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v);
            out.extend_from_slice(b"\r\n");
        }
        if !self.has_header("user-agent") {
            out.extend_from_slice(concat!("User-Agent: squall/", env!("CARGO_PKG_VERSION"), "\r\n").as_bytes());
        }
        if self.decompress && !self.has_header("accept-encoding") {
            out.extend_from_slice(b"Accept-Encoding: gzip, deflate\r\n");
        }
        if let Some(auth) = &self.auth
            && !self.has_header("authorization")
        {
            out.extend_from_slice(b"Authorization: ");
            out.extend_from_slice(auth);
            out.extend_from_slice(b"\r\n");
        }
        match self.upload.as_ref().map(|u| u.length) {
            Some(Some(n)) => out.extend_from_slice(format!("Content-Length: {n}\r\n").as_bytes()),
            Some(None) => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
            None if !self.body.is_empty() || matches!(self.method.as_str(), "POST" | "PUT" | "PATCH") => {
                out.extend_from_slice(format!("Content-Length: {}\r\n", self.body.len()).as_bytes());
            }
            None => {}
        }
        if self.waits_for_continue() && !self.has_header("expect") {
            out.extend_from_slice(b"Expect: 100-continue\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if !self.waits_for_continue() {
            out.extend_from_slice(&self.body);
        }
        out
    }

    /// Whether the body waits for `100 Continue`: asked for, and there is a
    /// body (RFC 9110 §10.1.1: a client must not send the expectation for a
    /// request without content; a POST turned into a GET by a redirect has
    /// none).
    pub(crate) fn waits_for_continue(&self) -> bool {
        self.expect_continue && (self.upload.is_some() || !self.body.is_empty())
    }

    /// Whether the request may be sent twice (RFC 9110 §9.2.2).
    pub(crate) fn idempotent(&self) -> bool {
        matches!(self.method.as_str(), "GET" | "HEAD" | "OPTIONS" | "TRACE" | "PUT" | "DELETE")
    }

    /// Whether the caller asked for the connection to close after this request.
    pub(crate) fn wants_close(&self) -> bool {
        self.headers.iter().any(|(n, v)| n.eq_ignore_ascii_case("connection") && v.eq_ignore_ascii_case(b"close"))
    }

    pub(crate) fn key(&self) -> Key {
        let https = self.url.scheme() == "https";
        Key {
            https,
            host: self.url.host_str().unwrap_or("").to_owned(),
            port: self.url.port_or_known_default().unwrap_or(if https { 443 } else { 80 }),
            tls_id: match (https, self.verify) {
                (false, _) => 0,
                (true, false) => crate::net::tls::UNVERIFIED_ID,
                (true, true) => self.tls.as_ref().map_or(0, |t| t.id),
            },
            source: self.source,
            connect_to: self.connect_to.clone(),
            family: self.family,
        }
    }

    /// The request that follows a redirect to `location`, as browsers do
    /// it (Fetch standard, "HTTP-redirect fetch").
    pub(crate) fn redirected(&self, status: u16, location: &[u8]) -> Result<Spec> {
        let loc = std::str::from_utf8(location)
            .map_err(|_| Error::new(ErrorKind::Protocol, "a redirect's Location is not UTF-8"))?;
        let url = self
            .url
            .join(loc.trim())
            .map_err(|e| Error::new(ErrorKind::Protocol, format!("bad redirect Location {loc:?}: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::new(ErrorKind::InvalidArg, format!("redirect to unsupported scheme {:?}: {url}", url.scheme())));
        }
        let mut next = self.clone();
        let to_get = ((status == 301 || status == 302) && self.method == "POST")
            || (status == 303 && self.method != "GET" && self.method != "HEAD");
        if to_get {
            next.method = "GET".to_owned();
            next.body = Arc::from(&[][..]);
            next.headers.retain(|(n, _)| {
                !["content-type", "content-length", "content-encoding", "content-language", "content-location"]
                    .iter()
                    .any(|h| n.eq_ignore_ascii_case(h))
            });
        }
        if url.origin() != self.url.origin() {
            // Credentials are for the origin they were given for.
            next.headers.retain(|(n, _)| {
                !["authorization", "cookie", "proxy-authorization"].iter().any(|h| n.eq_ignore_ascii_case(h))
            });
            next.auth = None;
            // The address given was for the request's origin, not this one.
            next.connect_to = None;
        }
        next.url = url;
        Ok(next)
    }
}

/// Fetch id -> the connection (token, generation) that took it last, per
/// reactor: how a fetch is found to cancel, pause or resume it. An entry
/// may be stale (the fetch moved on); the connection's job id says.
#[derive(Debug, Default)]
pub(crate) struct Running(pub(crate) std::collections::HashMap<u64, (usize, u64)>);

/// Streamed request-body bytes queued above which a write reports
/// backpressure, and below which the host hears `on_drain` again.
pub(crate) const UPLOAD_HIGH: usize = crate::reactor::flow::HIGH_WATER;
pub(crate) const UPLOAD_LOW: usize = crate::reactor::flow::LOW_WATER;
/// Queued bytes past which a write is refused (a host that ignores
/// backpressure).
pub(crate) const UPLOAD_MAX_QUEUED: usize = 64 << 20;

/// A request body the host writes while the request goes (any thread):
/// pieces queue here; the connection sending the request takes them as the
/// socket accepts them and frames them (chunked, or within the
/// `Content-Length` given).
pub(crate) struct Upload {
    /// `Content-Length` (None: chunked).
    pub(crate) length: Option<u64>,
    state: std::sync::Mutex<UploadState>,
}

#[derive(Default)]
struct UploadState {
    queue: std::collections::VecDeque<Vec<u8>>,
    queued: usize,
    /// Bytes written by the host in all.
    written: u64,
    /// Bytes taken by a connection (so the request cannot go again).
    taken: u64,
    finished: bool,
    /// The fetch is over: writes fail.
    over: bool,
    /// A write reported backpressure: `on_drain` once the queue is low.
    backpressured: bool,
    /// Wakes the connection sending the body when a piece arrives.
    waker: Option<Waker>,
    wake_sent: bool,
}

/// What wakes the connection sending a streamed body (it sends it a
/// command): set by the connection, called by the host's writes.
pub(crate) type Waker = Arc<dyn Fn() + Send + Sync>;

impl std::fmt::Debug for Upload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.lock();
        f.debug_struct("Upload").field("length", &self.length).field("written", &st.written).field("queued", &st.queued).finish()
    }
}

/// What a write or finish did ([`Upload::write`]).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Queued {
    Ok,
    /// Queued, above the high mark: wait for `on_drain`.
    Backpressure,
}

/// What a connection takes from an upload ([`Upload::take`]).
#[derive(Debug, Default)]
pub(crate) struct Taken {
    pub(crate) pieces: Vec<Vec<u8>>,
    /// The host finished and everything is taken.
    pub(crate) done: bool,
    /// The host should hear `on_drain`.
    pub(crate) drained: bool,
}

/// The uploads of running fetches, by fetch id (ids are unique in the process).
fn uploads() -> std::sync::MutexGuard<'static, std::collections::HashMap<u64, Arc<Upload>>> {
    static UPLOADS: std::sync::LazyLock<std::sync::Mutex<std::collections::HashMap<u64, Arc<Upload>>>> =
        std::sync::LazyLock::new(Default::default);
    UPLOADS.lock().unwrap_or_else(|p| p.into_inner())
}

impl Upload {
    pub(crate) fn new(length: Option<u64>) -> Upload {
        Upload { length, state: std::sync::Mutex::new(UploadState::default()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, UploadState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The upload of fetch `id`, while it runs.
    pub(crate) fn of(id: u64) -> Result<Arc<Upload>> {
        uploads().get(&id).cloned().ok_or_else(|| {
            if id_issued(id) {
                Error::new(ErrorKind::Closed, format!("fetch {id} is over, or its body is not streamed"))
            } else {
                Error::new(ErrorKind::InvalidArg, format!("{id} is not a fetch id"))
            }
        })
    }

    /// Queues `data` (any thread).
    pub(crate) fn write(&self, data: &[u8]) -> Result<Queued> {
        let mut st = self.lock();
        if st.finished {
            return Err(Error::new(ErrorKind::AlreadyDone, "the body was already finished"));
        }
        if st.over {
            return Err(Error::new(ErrorKind::Closed, "the fetch is over"));
        }
        if let Some(n) = self.length
            && st.written + data.len() as u64 > n
        {
            return Err(Error::new(ErrorKind::InvalidArg, format!("the body would exceed its Content-Length of {n} bytes")));
        }
        if st.queued + data.len() > UPLOAD_MAX_QUEUED {
            return Err(Error::new(ErrorKind::Limit, format!("over {UPLOAD_MAX_QUEUED} bytes of body queued: wait for on_drain")));
        }
        if data.is_empty() {
            return Ok(if st.queued > UPLOAD_HIGH { Queued::Backpressure } else { Queued::Ok });
        }
        st.queue.push_back(data.to_vec());
        st.queued += data.len();
        st.written += data.len() as u64;
        if self.length == Some(st.written) {
            // A Content-Length body is complete with its last byte.
            st.finished = true;
        }
        let full = st.queued > UPLOAD_HIGH;
        if full {
            st.backpressured = true;
        }
        Self::wake(&mut st);
        Ok(if full { Queued::Backpressure } else { Queued::Ok })
    }

    /// Ends the body (any thread). A body shorter than its Content-Length is
    /// refused (the fetch goes on waiting for the rest); one that has all of
    /// its Content-Length was complete with its last byte (this is then a
    /// no-op).
    pub(crate) fn finish(&self) -> Result<()> {
        let mut st = self.lock();
        if self.length.is_some_and(|n| n == st.written) {
            return Ok(());
        }
        if st.over {
            return Err(Error::new(ErrorKind::Closed, "the fetch is over"));
        }
        if st.finished {
            return Err(Error::new(ErrorKind::AlreadyDone, "the body was already finished"));
        }
        if let Some(n) = self.length
            && st.written < n
        {
            return Err(Error::new(ErrorKind::InvalidArg, format!("the body has {} of its {n} bytes", st.written)));
        }
        st.finished = true;
        Self::wake(&mut st);
        Ok(())
    }

    fn wake(st: &mut UploadState) {
        if st.wake_sent {
            return;
        }
        let Some(waker) = st.waker.clone() else { return };
        st.wake_sent = true;
        waker();
    }

    /// A connection starts sending the request: `waker` wakes it as pieces come.
    pub(crate) fn attach(&self, waker: Waker) {
        let mut st = self.lock();
        st.waker = Some(waker);
        st.wake_sent = false;
    }

    /// Takes what is queued (on the connection's reactor).
    pub(crate) fn take(&self) -> Taken {
        let mut st = self.lock();
        st.wake_sent = false;
        let pieces: Vec<Vec<u8>> = st.queue.drain(..).collect();
        let n: usize = pieces.iter().map(Vec::len).sum();
        st.queued -= n;
        st.taken += n as u64;
        let drained = st.backpressured && st.queued < UPLOAD_LOW;
        if drained {
            st.backpressured = false;
        }
        Taken { pieces, done: st.finished && st.queue.is_empty(), drained }
    }

    /// Whether any byte was taken (the request must not go again).
    pub(crate) fn started(&self) -> bool {
        self.lock().taken > 0
    }

    /// The fetch is over: later writes fail; nothing wakes a connection.
    fn end(&self) {
        let mut st = self.lock();
        st.over = true;
        st.waker = None;
        st.queue.clear();
        st.queued = 0;
    }
}

/// Times of a fetch's phases, as offsets from its start.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Times {
    pub(crate) queue: Option<Instant>,
    pub(crate) namelookup: Option<Instant>,
    pub(crate) connect: Option<Instant>,
    pub(crate) tls: Option<Instant>,
    pub(crate) first_byte: Option<Instant>,
}

/// The ids of fetches ([`next_id`]): unique in the process, never 0.
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// A new fetch id (for cancelling, pausing and resuming a fetch).
pub(crate) fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Whether `id` was ever handed out by [`next_id`].
pub(crate) fn id_issued(id: u64) -> bool {
    id != 0 && id < NEXT_ID.load(std::sync::atomic::Ordering::Relaxed)
}

/// One fetch between its start and its `on_response`.
pub(crate) struct Job {
    /// The fetch's id ([`next_id`]).
    pub(crate) id: u64,
    pub(crate) spec: Spec,
    pub(crate) events: Arc<dyn FetchEvents>,
    pub(crate) start: Instant,
    pub(crate) deadline: Option<Instant>,
    pub(crate) redirects: u32,
    /// Already retried once on a fresh connection.
    pub(crate) retried: bool,
    /// Must not go to a pooled connection (a retry).
    pub(crate) fresh: bool,
    pub(crate) times: Times,
    /// Streamed body bytes handed to the host and not yet taken: more than
    /// 1 MiB pauses the connection's reading, until under 256 KiB.
    pub(crate) pending: Arc<FlowGate>,
    /// The host holds the reading of the response (`Control::Hold`).
    pub(crate) held: bool,
}

impl Job {
    pub(crate) fn new(id: u64, spec: Spec, events: Arc<dyn FetchEvents>) -> Job {
        if let Some(u) = spec.upload.as_ref() {
            uploads().insert(id, u.clone());
        }
        let start = Instant::now();
        let deadline = (!spec.request_timeout.is_zero()).then(|| start + spec.request_timeout);
        Job {
            id,
            spec,
            events,
            start,
            deadline,
            redirects: 0,
            retried: false,
            fresh: false,
            times: Times::default(),
            pending: Arc::new(FlowGate::default()),
            held: false,
        }
    }

    /// When a request still waiting for a connection gives up: its connect
    /// timeout (waiting for a connection is part of getting one) or its
    /// request timeout, whichever comes first.
    pub(crate) fn queue_deadline(&self) -> Option<Instant> {
        let connect = (!self.spec.connect_timeout.is_zero()).then(|| self.start + self.spec.connect_timeout);
        match (connect, self.deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn ms(&self, t: Option<Instant>) -> f64 {
        t.map_or(-1.0, |t| t.saturating_duration_since(self.start).as_secs_f64() * 1000.0)
    }

    /// Hands the outcome to the host (on_response, once).
    pub(crate) fn finish(self, r: &mut Reactor, outcome: std::result::Result<Response, Error>) {
        r.ext::<Running>().0.remove(&self.id);
        self.end_upload();
        let now = Instant::now();
        let t = self.times;
        let times = [self.ms(t.queue), self.ms(t.namelookup), self.ms(t.connect), self.ms(t.tls), self.ms(t.first_byte), self.ms(Some(now))];
        let stats = r.loop_handle.client_stats();
        match &outcome {
            Ok(resp) => stats.completed(resp.status),
            Err(e) => stats.failed(e.kind()),
        }
        let resp = match outcome {
            Ok(mut resp) => {
                resp.times = times;
                resp.redirects = self.redirects;
                resp
            }
            Err(e) => {
                tracing::debug!(target: "squall::client", "{} {}: {}", self.spec.method, self.spec.url, e.message());
                Response {
                    error: Some(e),
                    url: self.spec.url.to_string(),
                    redirects: self.redirects,
                    times,
                    ..Response::default()
                }
            }
        };
        let events = self.events.clone();
        r.deliver(false, move || events.on_response(&resp));
    }
}

impl Job {
    /// Ends the upload, if any: no longer found by id, writes fail.
    fn end_upload(&self) {
        if let Some(u) = self.spec.upload.as_ref() {
            u.end();
            uploads().remove(&self.id);
        }
    }
}

impl Drop for Job {
    /// A job dropped unfinished (its loop went away) leaves no upload behind.
    fn drop(&mut self) {
        self.end_upload();
    }
}

/// A finished response, as the host sees it.
#[derive(Debug, Default)]
pub(crate) struct Response {
    pub(crate) error: Option<Error>,
    pub(crate) status: u16,
    pub(crate) reason: String,
    pub(crate) headers: Vec<(String, Vec<u8>)>,
    pub(crate) body: Vec<u8>,
    pub(crate) url: String,
    pub(crate) redirects: u32,
    /// Milliseconds from the start: queue, namelookup, connect, tls,
    /// first byte, total (-1: not reached).
    pub(crate) times: [f64; 6],
    /// What the TLS handshake agreed on (None: plain http, or a failure).
    pub(crate) tls: Option<Arc<crate::net::tls::TlsInfo>>,
}

/// Where connections go: scheme, host, port, the TLS trust they were
/// verified with (or none), and the local address they come from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub(crate) https: bool,
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) tls_id: usize,
    pub(crate) source: Option<std::net::IpAddr>,
    pub(crate) connect_to: Option<(String, u16)>,
    pub(crate) family: u8,
}

/// The pool's limits ([`set_limits`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_clients: usize,
    pub(crate) max_per_host: usize,
    pub(crate) idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_clients: DEFAULT_MAX_CLIENTS, max_per_host: DEFAULT_MAX_CLIENTS, idle_timeout: DEFAULT_IDLE_TIMEOUT }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(method: &str, url: &str) -> Spec {
        let mut s = Spec::new(method, url).unwrap();
        s.headers.push(("Authorization".into(), b"Bearer x".to_vec()));
        s.headers.push(("Cookie".into(), b"a=b".to_vec()));
        s.headers.push(("Content-Type".into(), b"text/plain".to_vec()));
        s.body = Arc::from(&b"payload"[..]);
        s
    }

    #[test]
    fn redirects_as_browsers_do() {
        for (status, method, want_method, body) in [
            (301, "POST", "GET", false),
            (302, "POST", "GET", false),
            (303, "POST", "GET", false),
            (303, "PUT", "GET", false),
            (303, "HEAD", "HEAD", true),
            (301, "PUT", "PUT", true),
            (307, "POST", "POST", true),
            (308, "PUT", "PUT", true),
        ] {
            let next = spec(method, "http://a.test/x").redirected(status, b"/y?z=1").unwrap();
            assert_eq!(next.method, want_method, "{status} {method}");
            assert_eq!(!next.body.is_empty(), body, "{status} {method}");
            assert_eq!(next.url.as_str(), "http://a.test/y?z=1");
            assert!(next.has_header("authorization") && next.has_header("cookie"));
            assert_eq!(next.has_header("content-type"), body);
        }
        let cross = spec("GET", "http://a.test/x").redirected(302, b"http://a.test:81/").unwrap();
        assert!(!cross.has_header("authorization") && !cross.has_header("cookie"));
        let mut routed = spec("GET", "http://a.test/x");
        routed.connect_to = Some(("127.0.0.1".into(), 8080));
        assert!(routed.redirected(302, b"/y").unwrap().connect_to.is_some(), "same origin: same address");
        assert!(routed.redirected(302, b"http://b.test/").unwrap().connect_to.is_none());
        let https = spec("GET", "http://a.test/x").redirected(302, b"https://a.test/").unwrap();
        assert!(!https.has_header("authorization"));
        let e = spec("GET", "http://a.test/x").redirected(302, b"ftp://a.test/f").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArg);
    }

    #[test]
    fn request_bytes() {
        let mut s = Spec::new("POST", "http://127.0.0.1:8080/p/a%20b?q=1").unwrap();
        s.headers.push(("X-A".into(), b"1".to_vec()));
        s.headers.push(("Content-Length".into(), b"999".to_vec()));
        s.body = Arc::from(&b"hi"[..]);
        s.auth = Some(b"Basic dTpw".to_vec());
        let text = String::from_utf8(s.encode()).unwrap();
        assert!(text.starts_with("POST /p/a%20b?q=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nX-A: 1\r\n"), "{text}");
        assert!(text.contains("Accept-Encoding: gzip, deflate\r\n"));
        assert!(text.contains("Authorization: Basic dTpw\r\n"));
        assert!(text.ends_with("Content-Length: 2\r\n\r\nhi"));
        assert!(!text.contains("999"));
        let get = Spec::new("GET", "https://[::1]/").unwrap();
        let text = String::from_utf8(get.encode()).unwrap();
        assert!(text.starts_with("GET / HTTP/1.1\r\nHost: [::1]\r\n"), "{text}");
        assert!(!text.contains("Content-Length"));
        assert_eq!(get.key().port, 443);
    }

    #[test]
    fn expect_continue_sends_the_head_alone() {
        let mut s = Spec::new("POST", "http://a.test/up").unwrap();
        s.body = Arc::from(&b"payload"[..]);
        s.expect_continue = true;
        let text = String::from_utf8(s.encode()).unwrap();
        assert!(text.ends_with("Content-Length: 7\r\nExpect: 100-continue\r\n\r\n"), "{text}");
        // Without a body there is nothing to wait for: no expectation.
        let mut empty = Spec::new("POST", "http://a.test/up").unwrap();
        empty.expect_continue = true;
        let text = String::from_utf8(empty.encode()).unwrap();
        assert!(!text.contains("Expect") && !empty.waits_for_continue(), "{text}");
        // The caller's own Expect is not doubled.
        s.headers.push(("Expect".into(), b"100-continue".to_vec()));
        let text = String::from_utf8(s.encode()).unwrap();
        assert_eq!(text.matches("100-continue").count(), 1, "{text}");
    }

    #[test]
    fn connections_are_pooled_apart_by_trust_source_route_and_family() {
        let base = Spec::new("GET", "https://a.test/").unwrap();
        let mut unverified = base.clone();
        unverified.verify = false;
        let mut sourced = base.clone();
        sourced.source = Some("127.0.0.2".parse().unwrap());
        let mut routed = base.clone();
        routed.connect_to = Some(("127.0.0.1".into(), 8443));
        let mut v4 = base.clone();
        v4.family = 4;
        let keys = [base.key(), unverified.key(), sourced.key(), routed.key(), v4.key()];
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_eq!(unverified.key().tls_id, crate::net::tls::UNVERIFIED_ID);
        // Plain http has no trust to tell apart.
        let mut plain = Spec::new("GET", "http://a.test/").unwrap();
        let k = plain.key();
        plain.verify = false;
        assert_eq!(plain.key(), k);
    }

    #[test]
    fn streamed_body_framing() {
        let mut s = Spec::new("POST", "http://a.test/up").unwrap();
        s.upload = Some(Arc::new(Upload::new(None)));
        let text = String::from_utf8(s.encode()).unwrap();
        assert!(text.ends_with("Transfer-Encoding: chunked\r\n\r\n"), "{text}");
        assert!(!text.contains("Content-Length"));
        s.upload = Some(Arc::new(Upload::new(Some(7))));
        let text = String::from_utf8(s.encode()).unwrap();
        assert!(text.ends_with("Content-Length: 7\r\n\r\n"), "{text}");
    }

    #[test]
    fn upload_queue_backpressure_and_drain() {
        let up = Upload::new(None);
        let piece = vec![7u8; 256 << 10];
        // 4 pieces fill to the high mark; the 5th goes over it.
        for _ in 0..4 {
            assert_eq!(up.write(&piece).unwrap(), Queued::Ok);
        }
        assert_eq!(up.write(&piece).unwrap(), Queued::Backpressure);
        assert!(!up.started());
        let t = up.take();
        assert_eq!(t.pieces.len(), 5);
        assert!(t.drained && !t.done);
        assert!(up.started());
        // Drained once: the next take says nothing.
        assert!(!up.take().drained);
        up.finish().unwrap();
        assert_eq!(up.finish().unwrap_err().kind(), ErrorKind::AlreadyDone);
        assert_eq!(up.write(b"x").unwrap_err().kind(), ErrorKind::AlreadyDone);
        let t = up.take();
        assert!(t.done && t.pieces.is_empty());
        // A host that ignores backpressure is refused past the cap.
        let up = Upload::new(None);
        let big = vec![0u8; 8 << 20];
        for _ in 0..8 {
            up.write(&big).unwrap();
        }
        assert_eq!(up.write(b"x").unwrap_err().kind(), ErrorKind::Limit);
        // The fetch ended: writes and finish are refused.
        up.end();
        assert_eq!(up.write(b"x").unwrap_err().kind(), ErrorKind::Closed);
        assert_eq!(up.finish().unwrap_err().kind(), ErrorKind::Closed);
    }

    #[test]
    fn upload_held_to_its_length() {
        let up = Upload::new(Some(5));
        up.write(b"hel").unwrap();
        assert_eq!(up.finish().unwrap_err().kind(), ErrorKind::InvalidArg);
        assert_eq!(up.write(b"lo!").unwrap_err().kind(), ErrorKind::InvalidArg);
        up.write(b"lo").unwrap();
        // Complete with its last byte: done without a finish.
        let t = up.take();
        assert!(t.done);
        assert_eq!(t.pieces.concat(), b"hello");
        up.finish().unwrap();
        assert_eq!(up.write(b"").unwrap_err().kind(), ErrorKind::AlreadyDone);
    }

    #[test]
    fn fetch_ids() {
        let a = next_id();
        let b = next_id();
        assert!(a != 0 && b > a);
        assert!(id_issued(a) && id_issued(b));
        assert!(!id_issued(0) && !id_issued(u64::MAX));
        // Only a running fetch with a streamed body has an upload.
        assert_eq!(Upload::of(a).unwrap_err().kind(), ErrorKind::Closed);
        assert_eq!(Upload::of(u64::MAX).unwrap_err().kind(), ErrorKind::InvalidArg);
    }

    #[test]
    fn refused_input() {
        assert!(Spec::new("GET", "ftp://a/").is_err());
        assert!(Spec::new("G T", "http://a/").is_err());
        assert!(Spec::new("GET", "http:///nohost").is_err() || Spec::new("GET", "http://").is_err());
        assert!(check_header("X", b"a\r\nB: c").is_err());
        assert!(check_header("X", b"a\0").is_err());
        assert!(check_header("X Y", b"a").is_err());
        assert!(check_header("X-Y", b"a b").is_ok());
    }
}
