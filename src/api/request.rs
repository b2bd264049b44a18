//! A request handed to a route's closure, and the handle that answers it
//! from any thread (`sq_request` and its functions, for Rust).

use std::sync::Arc;

use crate::http::request::{BodySink, Request as Core};
use crate::reactor::handles::Stale;
use crate::{Error, ErrorKind, Result};

/// A request, lent to a handler for the duration of the call (and to a
/// WebSocket's `on_open` for the upgrade request). Its accessors read the
/// request's head and body; to answer after the handler returned, or from
/// another thread, take a [`RequestHandle`] with [`Request::handle`].
#[derive(Debug)]
pub struct Request {
    handle: RequestHandle,
    core: Arc<Core>,
}

impl Request {
    /// The request behind handle `id`, as the core hands it to a handler.
    pub(super) fn lookup(id: u64) -> Result<Request> {
        Ok(Request { handle: RequestHandle { id }, core: core(id)? })
    }

    /// The method ("GET", "POST", …).
    pub fn method(&self) -> &str {
        &self.core.data.method
    }

    /// The request-target as sent: path and query ("/a/b?x=1").
    pub fn uri(&self) -> &str {
        &self.core.data.target
    }

    /// The path, as sent (not percent-decoded).
    pub fn path(&self) -> &str {
        self.core.data.path()
    }

    /// The raw query string (after `?`, not decoded; "" when there is none).
    pub fn query(&self) -> &str {
        self.core.data.query()
    }

    /// The value of header `name` (case-insensitive); the last one when it
    /// is repeated.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.core.data.header(name)
    }

    /// Every header line in the order received: the name as sent, the value.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.core.data.headers.iter().map(|(n, v)| (n.as_str(), v.as_slice()))
    }

    /// The last value of argument `name`, from the query or a form body,
    /// percent-decoded.
    pub fn argument(&self, name: &str) -> Option<&str> {
        self.core.args().iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Group `index` (0-based) captured by the route's pattern,
    /// percent-decoded; None past the last group or for a group that did
    /// not take part in the match.
    pub fn capture(&self, index: usize) -> Option<&str> {
        self.core.data.captures.get(index)?.as_deref()
    }

    /// The whole body (empty when there is none).
    pub fn body(&self) -> &[u8] {
        &self.core.data.body
    }

    /// The client's IP address as text.
    pub fn remote_ip(&self) -> &str {
        self.core.remote_ip()
    }

    /// A handle that answers this request later, from any thread.
    pub fn handle(&self) -> RequestHandle {
        self.handle.clone()
    }

    /// Answers in one call: see [`RequestHandle::respond`].
    pub fn respond(&self, status: u16, headers: &[(&str, &[u8])], body: &[u8]) -> Result<()> {
        self.handle.respond(status, headers, body)
    }
}

/// The response side of a request in flight, usable from any thread and
/// after the handler returned (a deferred response). Every call looks the
/// request up again, so a handle whose response is finished gets
/// [`ErrorKind::AlreadyDone`], never a stale request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHandle {
    id: u64,
}

fn core(id: u64) -> Result<Arc<Core>> {
    crate::http::lookup_request(id).map_err(|s| match s {
        Stale::Released => Error::new(ErrorKind::AlreadyDone, "the request's response is already finished"),
        Stale::Invalid => Error::new(ErrorKind::InvalidArg, "not a request handle"),
    })
}

impl RequestHandle {
    /// Answers the request in one call: status, headers and the whole body.
    /// The server adds `Date`, `Content-Length` and `Connection` itself.
    /// Finishes the request. [`ErrorKind::Closed`] when the client left.
    pub fn respond(&self, status: u16, headers: &[(&str, &[u8])], body: &[u8]) -> Result<()> {
        core(self.id)?.respond(status, headers, body)
    }

    /// Sets the status (and a reason phrase; None for the standard one).
    pub fn set_status(&self, status: u16, reason: Option<&str>) -> Result<()> {
        core(self.id)?.set_status(status, reason)
    }

    /// Adds a response header (`replace`: first removes those of that name).
    pub fn add_header(&self, name: &str, value: &[u8], replace: bool) -> Result<()> {
        core(self.id)?.add_header(name, value, replace)
    }

    /// Appends to the response body (sent on `flush` or `finish`).
    pub fn write(&self, data: &[u8]) -> Result<()> {
        core(self.id)?.write(data)
    }

    /// Sends what was written so far; the first flush sends the head and the
    /// body goes on chunked.
    pub fn flush(&self) -> Result<()> {
        core(self.id)?.flush()
    }

    /// Takes the body of a request whose route streams it
    /// ([`Server::route_streamed`](super::Server::route_streamed)):
    /// `on_body(handle, chunk, last)` runs on the loop's thread with each
    /// piece in order, then once more with `last` true and no bytes.
    /// Pieces that arrived before are delivered first, never from inside
    /// this call. `State` when the route does not stream the body,
    /// `AlreadyDone` when a callback is set already or the response is
    /// finished.
    pub fn on_body(&self, on_body: impl Fn(&RequestHandle, &[u8], bool) + Send + Sync + 'static) -> Result<()> {
        core(self.id)?.set_on_body(Arc::new(FnBody(on_body)))
    }

    /// Finishes the response and releases the request.
    pub fn finish(&self) -> Result<()> {
        core(self.id)?.finish()
    }
}

/// A closure taking a streamed body: `sq_request_on_body`'s C callback, in Rust.
struct FnBody<F>(F);

impl<F: Fn(&RequestHandle, &[u8], bool) + Send + Sync> BodySink for FnBody<F> {
    fn on_body(&self, req: u64, chunk: &[u8], last: bool) {
        (self.0)(&RequestHandle { id: req }, chunk, last);
    }
}
