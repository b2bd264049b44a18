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
    pub(crate) decompress: bool,
    pub(crate) max_decompressed: u64,
    pub(crate) max_body: u64,
    /// The `Authorization` value for basic auth.
    pub(crate) auth: Option<Vec<u8>>,
    /// Trust for https (None: the default roots).
    pub(crate) tls: Option<TlsConfig>,
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
            decompress: true,
            max_decompressed: DEFAULT_MAX_BODY,
            max_body: DEFAULT_MAX_BODY,
            auth: None,
            tls: None,
        })
    }

    fn has_header(&self, name: &str) -> bool {
        self.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    /// The request's bytes: head and body.
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
        if !self.body.is_empty() || matches!(self.method.as_str(), "POST" | "PUT" | "PATCH") {
            out.extend_from_slice(format!("Content-Length: {}\r\n", self.body.len()).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
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
            tls_id: if https { self.tls.as_ref().map_or(0, |t| t.id) } else { 0 },
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
        }
        next.url = url;
        Ok(next)
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

/// One fetch between its start and its `on_response`.
pub(crate) struct Job {
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
}

impl Job {
    pub(crate) fn new(spec: Spec, events: Arc<dyn FetchEvents>) -> Job {
        let start = Instant::now();
        let deadline = (!spec.request_timeout.is_zero()).then(|| start + spec.request_timeout);
        Job {
            spec,
            events,
            start,
            deadline,
            redirects: 0,
            retried: false,
            fresh: false,
            times: Times::default(),
            pending: Arc::new(FlowGate::default()),
        }
    }

    fn ms(&self, t: Option<Instant>) -> f64 {
        t.map_or(-1.0, |t| t.saturating_duration_since(self.start).as_secs_f64() * 1000.0)
    }

    /// Hands the outcome to the host (on_response, once).
    pub(crate) fn finish(self, r: &mut Reactor, outcome: std::result::Result<Response, Error>) {
        let now = Instant::now();
        let t = self.times;
        let times = [self.ms(t.queue), self.ms(t.namelookup), self.ms(t.connect), self.ms(t.tls), self.ms(t.first_byte), self.ms(Some(now))];
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
        let events = self.events;
        r.deliver(false, move || events.on_response(&resp));
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
}

/// Where connections go: scheme, host, port and the TLS trust they were
/// verified with.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub(crate) https: bool,
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) tls_id: usize,
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
