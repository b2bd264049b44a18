//! The HTTP client for Rust (`sq_fetch`): a request as plain data, the
//! outcome handed to a closure.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::http::client::{self, FetchEvents, Spec};
use crate::{Error, ErrorKind, Loop, Result};

/// A request for [`fetch`](super::fetch). Connections are pooled per
/// origin; redirects (up to 5) are followed; gzip and deflate responses
/// are decompressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// An HTTP token: "GET", "POST", …
    pub method: String,
    /// An http:// or https:// URL with a host.
    pub url: String,
    /// Extra request headers. `Host`, `User-Agent` and `Accept-Encoding`
    /// replace the client's own; `Content-Length` and `Transfer-Encoding`
    /// are the client's and are ignored.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body, sent with a `Content-Length`.
    pub body: Vec<u8>,
    /// The time allowed for the whole fetch (None: the default, 20 s).
    pub timeout: Option<Duration>,
}

impl Request {
    /// A request for `method` and `url`, without headers or body.
    pub fn new(method: &str, url: &str) -> Request {
        Request { method: method.to_owned(), url: url.to_owned(), headers: Vec::new(), body: Vec::new(), timeout: None }
    }

    /// A GET of `url`.
    pub fn get(url: &str) -> Request {
        Request::new("GET", url)
    }
}

/// The final response of a fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The reason phrase of the status line.
    pub reason: String,
    /// Header lines in the order received (name as sent, value).
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body, decompressed.
    pub body: Vec<u8>,
    /// The URL it came from: the request's, or the last redirect's.
    pub url: String,
    /// How many redirects were followed.
    pub redirects: u32,
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_slice())
    }
}

type OnResponse = Box<dyn FnOnce(Result<Response>) + Send>;
type OnChunk = Box<dyn FnMut(&[u8]) + Send>;

/// A closure waiting for a fetch's outcome: `sq_fetch`'s C callback, in Rust.
struct Pending(Mutex<Option<OnResponse>>);

impl FetchEvents for Pending {
    fn on_response(&self, resp: &client::Response) {
        let Some(f) = self.0.lock().unwrap_or_else(|p| p.into_inner()).take() else { return };
        f(match &resp.error {
            Some(e) => Err(e.clone()),
            None => Ok(Response {
                status: resp.status,
                reason: resp.reason.clone(),
                headers: resp.headers.clone(),
                body: resp.body.clone(),
                url: resp.url.clone(),
                redirects: resp.redirects,
            }),
        });
    }
}

/// A fetch whose body goes to a closure as it arrives (`sq_fetch_request_set_on_chunk`).
struct Streaming {
    on_chunk: Mutex<OnChunk>,
    done: Pending,
}

impl FetchEvents for Streaming {
    fn on_response(&self, resp: &client::Response) {
        self.done.on_response(resp);
    }

    fn wants_chunks(&self) -> bool {
        true
    }

    fn on_chunk(&self, chunk: &[u8]) {
        (self.on_chunk.lock().unwrap_or_else(|p| p.into_inner()))(chunk);
    }
}

/// The core's request for `req`, checked.
fn spec(req: Request) -> Result<Spec> {
    let mut spec = Spec::new(&req.method, &req.url)?;
    for (name, value) in req.headers {
        client::check_header(&name, &value)?;
        spec.headers.push((name, value));
    }
    spec.body = Arc::from(req.body);
    if let Some(t) = req.timeout {
        if t.is_zero() {
            return Err(Error::new(ErrorKind::InvalidArg, "a fetch timeout must be above zero"));
        }
        spec.request_timeout = t;
    }
    Ok(spec)
}

/// Starts a fetch: it runs on the loop's first reactor once the loop runs,
/// and `on_response` gets the response or the failure (`Timeout`,
/// `Resolve`, `Connect`, `Tls`, `Protocol`, `Limit`, `Closed`) on the
/// thread that runs the loop, exactly once — unless the loop is dropped
/// first. Any thread. A bad method, URL or header is refused here, and
/// `on_response` is then never called.
pub fn fetch(lp: &Loop, req: Request, on_response: impl FnOnce(Result<Response>) + Send + 'static) -> Result<()> {
    client::start(lp.handle(), client::next_id(), spec(req)?, Arc::new(Pending(Mutex::new(Some(Box::new(on_response))))))
}

/// A [`fetch`] whose body is not gathered: `on_chunk` gets each piece as it
/// arrives, in order, on the loop's thread, and the final response has an
/// empty body. While the pieces wait for the host (more than 1 MiB), the
/// connection is not read.
pub fn fetch_streamed(
    lp: &Loop,
    req: Request,
    on_chunk: impl FnMut(&[u8]) + Send + 'static,
    on_response: impl FnOnce(Result<Response>) + Send + 'static,
) -> Result<()> {
    let events = Streaming { on_chunk: Mutex::new(Box::new(on_chunk)), done: Pending(Mutex::new(Some(Box::new(on_response)))) };
    client::start(lp.handle(), client::next_id(), spec(req)?, Arc::new(events))
}
