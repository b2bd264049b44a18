//! `sq_request`: a request handed to a handler, and its response.

use std::ffi::{c_char, c_int, c_void};
use std::sync::Arc;

use super::boundary::{fail, fail_null, ffi_boundary, ffi_try, id_ptr, str_arg};
use super::event_loop::sq_callback;
use super::status::{SQ_OK, sq_status};
use crate::http::request::{BodySink, Request};
use crate::reactor::{RawCallback, Task};
use crate::reactor::handles::Stale;
use crate::{Error, ErrorKind};

/// A request in flight. This is an opaque handle, not a pointer to memory:
/// squall never dereferences it and neither may the caller. It stays valid
/// until the response is finished (`sq_respond`, `sq_response_finish`, or a
/// finishing call that returned `SQ_ERR_CLOSED`); after that every function
/// taking it returns `SQ_ERR_ALREADY_DONE`, never undefined behaviour.
///
/// Accessors: `sq_request_method`, `_uri`, `_path`, `_query`, `_header`,
/// `_header_count`, `_header_at`, `_cookie`, `_body`, `_argument`, `_argument_count`,
/// `_argument_at`, `_capture`, `_capture_count`, `_remote_ip`, `_remote_port`,
/// `_version`, `_on_close`,
/// `_on_body` (streamed bodies).
/// Response: `sq_respond` (one call), or `sq_response_status`,
/// `sq_response_header`, `sq_response_write`, `sq_response_flush`,
/// `sq_response_finish`. Every response function may be called from any
/// thread, also after the handler returned (deferred responses).
#[derive(Debug)]
pub struct sq_request {
    _private: [u8; 0],
}

/// A borrowed byte string (not NUL-terminated). A view struct: squall fills
/// it in; it points into memory squall owns, valid for as long as the
/// function that filled it says.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct sq_str {
    /// The first byte; NULL only when `len` is 0.
    pub ptr: *const c_char,
    /// The number of bytes.
    pub len: usize,
}

/// One response header for `sq_respond`: a NUL-terminated name and a value of
/// `value_len` bytes (no CR, LF or NUL).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct sq_header {
    /// The header name, NUL-terminated; must be an HTTP token.
    pub name: *const c_char,
    /// The value's bytes.
    pub value: *const c_char,
    /// The value's length in bytes.
    pub value_len: usize,
}

pub(super) fn request(req: *mut sq_request) -> Result<Arc<Request>, Error> {
    let id = req as usize as u64;
    if id == 0 {
        return Err(Error::new(ErrorKind::Null, "req is NULL"));
    }
    crate::http::lookup_request(id).map_err(|s| match s {
        Stale::Released => Error::new(ErrorKind::AlreadyDone, "the request's response is already finished"),
        Stale::Invalid => Error::new(ErrorKind::InvalidArg, "not a request handle"),
    })
}

fn view(bytes: &[u8]) -> sq_str {
    sq_str { ptr: if bytes.is_empty() { std::ptr::null() } else { bytes.as_ptr().cast() }, len: bytes.len() }
}

fn write_out(out: *mut sq_str, bytes: &[u8]) -> sq_status {
    if out.is_null() {
        return fail_null("out");
    }
    // SAFETY: non-NULL out-parameter given by the caller.
    unsafe { *out = view(bytes) };
    SQ_OK
}

fn not_found(what: String) -> sq_status {
    fail(Error::new(ErrorKind::NotFound, what))
}

// The pointers written by the accessors point into the request, which the
// handle table keeps alive until the response is finished.

/// The request method ("GET", "POST", …).
///
/// Thread: any thread.
/// Ownership: `*out` points into the request: valid until the response is
/// finished; do not free.
/// Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_ALREADY_DONE` (stale handle);
/// `SQ_ERR_INVALID_ARG` (not a request handle).
#[unsafe(no_mangle)]
pub extern "C" fn sq_request_method(req: *mut sq_request, out: *mut sq_str) -> sq_status {
    ffi_boundary! {
        let r = ffi_try!(request(req));
        write_out(out, r.data.method.as_bytes())
    }
}

/// The request-target as sent: path and query ("/a/b?x=1").
///
/// Thread: any thread.
/// Ownership: `*out` points into the request: valid until the response is
/// finished; do not free.
/// Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_ALREADY_DONE`; `SQ_ERR_INVALID_ARG`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_request_uri(req: *mut sq_request, out: *mut sq_str) -> sq_status {
    ffi_boundary! {
        let r = ffi_try!(request(req));
        write_out(out, r.data.target.as_bytes())
    }
}

/// The path part of the request-target, as sent (not percent-decoded).
///
/// Thread: any thread.
/// Ownership: `*out` points into the request: valid until the response is
/// finished; do not free.
/// Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_ALREADY_DONE`; `SQ_ERR_INVALID_ARG`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_request_path(req: *mut sq_request, out: *mut sq_str) -> sq_status {
    ffi_boundary! {
        let r = ffi_try!(request(req));
        write_out(out, r.data.path().as_bytes())
    }
}

/// The raw query string (after `?`, not decoded; empty when there is none).
///
/// Thread: any thread.
/// Ownership: `*out` points into the request: valid until the response is
/// finished; do not free.
/// Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_ALREADY_DONE`; `SQ_ERR_INVALID_ARG`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_request_query(req: *mut sq_request, out: *mut sq_str) -> sq_status {
    ffi_boundary! {
        let r = ffi_try!(request(req));
        write_out(out, r.data.query().as_bytes())
    }
}

/// The value of cookie `name` (case-sensitive) from the request's `Cookie`
/// headers, with surrounding double quotes removed; not percent-decoded.
///
/// Thread: any thread.
/// Ownership: `name` is only read during the call. `*out` points into the
/// request: valid until the response is finished; do not free.
/// Returns: `SQ_OK`; `SQ_ERR_NOT_FOUND` when there is no such cookie;
/// `SQ_ERR_NULL`; `SQ_ERR_ALREADY_DONE`; `SQ_ERR_INVALID_ARG`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_request_cookie(req: *mut sq_request, name: *const c_char, out: *mut sq_str) -> sq_status {
    ffi_boundary! {
        let r = ffi_try!(request(req));
        // SAFETY: NUL-terminated string per the API contract.
        let name = ffi_try!(unsafe { str_arg(name, "name") });
        match r.data.cookie(name) {
            Some(v) => write_out(out, v),
            None => not_found(format!("no cookie {name:?}")),
        }
    }
}

/// The value of header `name` (case-insensitive); with repeated headers, the
/// last one (use `sq_request_header_at` to see them all).
///
/// Thread: any thread.
/// Ownership: `name` is only read during the call. `*out` points into the
/// request: valid until the response is finished; do not free.
/// Returns: `SQ_OK`; `SQ_ERR_NOT_FOUND` when the request has no such header;
/// `SQ_ERR_NULL`; `SQ_ERR_ALREADY_DONE`; `SQ_ERR_INVALID_ARG`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_request_header(req: *mut sq_request, name: *const c_char, out: *mut sq_str) -> sq_status {
    ffi_boundary! {
        let r = ffi_try!(request(req));
        // SAFETY: NUL-terminated string per the API contract.
        let name = ffi_try!(unsafe { str_arg(name, "name") });
        match r.data.header(name) {
            Some(v) => write_out(out, v),
            None => not_found(format!("no header {name:?}")),
        }
    }
}

/// The number of header lines in the request.
///
/// Thread: any thread.
/// Ownership: nothing changes hands.
/// Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_ALREADY_DONE`; `SQ_ERR_INVALID_ARG`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_request_header_count(req: *mut sq_request, count_out: *mut usize) -> sq_status {
    ffi_boundary! {
        let r = ffi_try!(request(req));
        if count_out.is_null() {
            return fail_null("count_out");
        }
        // SAFETY: non-NULL out-parameter given by the caller.
        unsafe { *count_out = r.data.headers.len() };
        SQ_OK
    }
}

/// Header line `index` (0-based, in the order received): its name as sent
/// and its value.
///
/// Thread: any thread.
/// Ownership: `*name_out` and `*value_out` point into the request: valid
/// until the response is finished; do not free.
/// Returns: `SQ_OK`; `SQ_ERR_INVALID_ARG` for an index past the last;
/// `SQ_ERR_NULL`; `SQ_ERR_ALREADY_DONE`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_request_header_at(
    req: *mut sq_request,
    index: usize,
    name_out: *mut sq_str,
    value_out: *mut sq_str,
) -> sq_status {
    ffi_boundary! {
        let r = ffi_try!(request(req));
        if name_out.is_null() || value_out.is_null() {
            return fail_null("name_out or value_out");
        }
        let Some((n, v)) = r.data.headers.get(index) else {
            return fail(Error::new(ErrorKind::InvalidArg, format!("no header line {index}")));
        };
        write_out(name_out, n.as_bytes());
        write_out(value_out, v)
    }
}

/// The whole request body (empty when there is none).
///
/// Thread: any thread.
/// Ownership: `*out` points into the request: valid until the response is
/// finished; do not free.
/// Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_ALREADY_DONE`; `SQ_ERR_INVALID_ARG`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_request_body(req: *mut sq_request, out: *mut sq_str) -> sq_status {
    ffi_boundary! {
        let r = ffi_try!(request(req));
        write_out(out, &r.data.body)
    }
}

/// The last value of argument `name`: query arguments and, for an
/// `application/x-www-form-urlencoded` body, body arguments, percent-decoded
/// (as Tornado's `get_argument`).
///
/// Thread: any thread.
/// Ownership: `name` is only read during the call. `*out` points into the
/// request: valid until the response is finished; do not free.
/// Returns: `SQ_OK`; `SQ_ERR_NOT_FOUND` when there is no such argument;
/// `SQ_ERR_NULL`; `SQ_ERR_ALREADY_DONE`; `SQ_ERR_INVALID_ARG`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_request_argument(req: *mut sq_request, name: *const c_char, out: *mut sq_str) -> sq_status {
    ffi_boundary! {
        let r = ffi_try!(request(req));
        // SAFETY: NUL-terminated string per the API contract.
        let name = ffi_try!(unsafe { str_arg(name, "name") });
        match r.args().iter().rev().find(|(k, _)| k == name) {
            Some((_, v)) => write_out(out, v.as_bytes()),
            None => not_found(format!("no argument {name:?}")),
        }
    }
}

/// How many values argument `name` has (repeated names are kept).
///
/// Thread: any thread.
/// Ownership: `name` is only read during the call.
/// Returns: `SQ_OK` (with 0 for an absent argument); `SQ_ERR_NULL`;
/// `SQ_ERR_ALREADY_DONE`; `SQ_ERR_INVALID_ARG`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_request_argument_count(req: *mut sq_request, name: *const c_char, count_out: *mut usize) -> sq_status {
    ffi_boundary! {
        let r = ffi_try!(request(req));
        // SAFETY: NUL-terminated string per the API contract.
        let name = ffi_try!(unsafe { str_arg(name, "name") });
        if count_out.is_null() {
            return fail_null("count_out");
        }
        // SAFETY: non-NULL out-parameter given by the caller.
        unsafe { *count_out = r.args().iter().filter(|(k, _)| k == name).count() };
        SQ_OK
    }
}

/// Value `index` (0-based, in order of appearance) of argument `name`.
///
/// Thread: any thread.
/// Ownership: `*out` points into the request: valid until the response is
/// finished; do not free.
/// Returns: `SQ_OK`; `SQ_ERR_NOT_FOUND` past the last value; `SQ_ERR_NULL`;
/// `SQ_ERR_ALREADY_DONE`; `SQ_ERR_INVALID_ARG`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_request_argument_at(
    req: *mut sq_request,
    name: *const c_char,
    index: usize,
    out: *mut sq_str,
) -> sq_status {
    ffi_boundary! {
        let r = ffi_try!(request(req));
        // SAFETY: NUL-terminated string per the API contract.
        let name = ffi_try!(unsafe { str_arg(name, "name") });
        match r.args().iter().filter(|(k, _)| k == name).nth(index) {
            Some((_, v)) => write_out(out, v.as_bytes()),
            None => not_found(format!("argument {name:?} has no value {index}")),
        }
    }
}

/// Group `index` (0-based) captured by the route's pattern, percent-decoded.
///
/// Thread: any thread.
/// Ownership: `*out` points into the request: valid until the response is
/// finished; do not free.
/// Returns: `SQ_OK`; `SQ_ERR_NOT_FOUND` for an optional group that did not
/// participate; `SQ_ERR_INVALID_ARG` for an index past the last group;
/// `SQ_ERR_NULL`; `SQ_ERR_ALREADY_DONE`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_request_capture(req: *mut sq_request, index: usize, out: *mut sq_str) -> sq_status {
    ffi_boundary! {
        let r = ffi_try!(request(req));
        match r.data.captures.get(index) {
            Some(Some(v)) => write_out(out, v.as_bytes()),
            Some(None) => not_found(format!("group {index} did not participate in the match")),
            None => fail(Error::new(ErrorKind::InvalidArg, format!("the pattern has no group {index}"))),
        }
    }
}

/// The number of groups the route's pattern captures.
///
/// Thread: any thread.
/// Ownership: nothing changes hands.
/// Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_ALREADY_DONE`; `SQ_ERR_INVALID_ARG`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_request_capture_count(req: *mut sq_request, count_out: *mut usize) -> sq_status {
    ffi_boundary! {
        let r = ffi_try!(request(req));
        if count_out.is_null() {
            return fail_null("count_out");
        }
        // SAFETY: non-NULL out-parameter given by the caller.
        unsafe { *count_out = r.data.captures.len() };
        SQ_OK
    }
}

/// The client's IP address as text ("127.0.0.1", "::1").
///
/// Thread: any thread.
/// Ownership: `*out` points into the request: valid until the response is
/// finished; do not free.
/// Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_ALREADY_DONE`; `SQ_ERR_INVALID_ARG`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_request_remote_ip(req: *mut sq_request, out: *mut sq_str) -> sq_status {
    ffi_boundary! {
        let r = ffi_try!(request(req));
        write_out(out, r.remote_ip().as_bytes())
    }
}

/// The client's TCP port (the peer port of the connection the request came on).
///
/// Thread: any thread.
/// Ownership: nothing changes hands.
/// Returns: `SQ_OK` with the port in `*port_out`; `SQ_ERR_NULL`;
/// `SQ_ERR_ALREADY_DONE`; `SQ_ERR_INVALID_ARG`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_request_remote_port(req: *mut sq_request, port_out: *mut u16) -> sq_status {
    ffi_boundary! {
        let r = ffi_try!(request(req));
        if port_out.is_null() {
            return fail_null("port_out");
        }
        // SAFETY: non-NULL out-parameter given by the caller.
        unsafe { *port_out = r.data.remote.port() };
        SQ_OK
    }
}

/// The HTTP version of the request line: `*major_out` and `*minor_out` get
/// 1 and 1 for "HTTP/1.1", 1 and 0 for "HTTP/1.0" (the server speaks
/// HTTP/1.x only).
///
/// Thread: any thread.
/// Ownership: nothing changes hands.
/// Returns: `SQ_OK`; `SQ_ERR_NULL` (req or an out-parameter);
/// `SQ_ERR_ALREADY_DONE`; `SQ_ERR_INVALID_ARG`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_request_version(req: *mut sq_request, major_out: *mut u32, minor_out: *mut u32) -> sq_status {
    ffi_boundary! {
        let r = ffi_try!(request(req));
        if major_out.is_null() || minor_out.is_null() {
            return fail_null("major_out/minor_out");
        }
        // SAFETY: non-NULL out-parameters given by the caller.
        unsafe {
            *major_out = 1;
            *minor_out = u32::from(r.data.version_minor);
        }
        SQ_OK
    }
}

/// What the TLS handshake of a request's connection agreed on, filled by
/// `sq_request_tls`. A view struct squall fills that may grow at the end:
/// set `size` to `sizeof(sq_tls_info)` as the program was compiled; squall
/// writes only the fields that size covers.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct sq_tls_info {
    /// `sizeof(sq_tls_info)` as the program was compiled (set by the caller).
    pub size: usize,
    /// The protocol version: 0x0303 for TLS 1.2, 0x0304 for TLS 1.3.
    pub version: u64,
    /// The cipher suite's IANA number (0x1301 for TLS_AES_128_GCM_SHA256).
    pub cipher_suite: u64,
    /// The name the client asked for (SNI); empty if it sent none.
    pub server_name: sq_str,
    /// The protocol agreed by ALPN ("http/1.1"); empty if none.
    pub alpn: sq_str,
}

/// The TLS details of the connection `req` arrived on (Go's `r.TLS`).
///
/// Thread: any thread.
/// Ownership: the strings in `*out` point into the request: valid until the
/// response is finished; do not free.
/// Returns: `SQ_OK`; `SQ_ERR_NOT_FOUND` when the connection is plain HTTP
/// (`*out` untouched); `SQ_ERR_NULL`; `SQ_ERR_ALREADY_DONE`;
/// `SQ_ERR_INVALID_ARG` for a `size` smaller than the `size` field.
#[unsafe(no_mangle)]
pub extern "C" fn sq_request_tls(req: *mut sq_request, out: *mut sq_tls_info) -> sq_status {
    ffi_boundary! {
        let r = ffi_try!(request(req));
        write_tls_info(out, r.data.tls.as_deref(), "the request did not come over TLS")
    }
}

/// Fills the caller's `sq_tls_info` (as much as its `size` covers) from
/// `tls`; `SQ_ERR_NOT_FOUND` with `plain` as the message when there is none.
/// The strings point into `tls`.
pub(super) fn write_tls_info(out: *mut sq_tls_info, tls: Option<&crate::net::tls::TlsInfo>, plain: &str) -> sq_status {
    if out.is_null() {
        return fail_null("out");
    }
    // SAFETY: the caller's struct starts with its size.
    let size = unsafe { out.cast::<usize>().read_unaligned() };
    let n = size.min(std::mem::size_of::<sq_tls_info>()) / 8 * 8;
    if n < 8 {
        return fail(Error::new(ErrorKind::InvalidArg, "out->size is smaller than the struct's size field"));
    }
    let Some(tls) = tls else {
        return not_found(plain.to_owned());
    };
    let info = sq_tls_info {
        size: n,
        version: u64::from(tls.version),
        cipher_suite: u64::from(tls.cipher_suite),
        server_name: view(tls.server_name.as_bytes()),
        alpn: view(&tls.alpn),
    };
    // SAFETY: the caller's struct has at least `size` >= n bytes.
    unsafe { std::ptr::copy_nonoverlapping((&raw const info).cast::<u8>(), out.cast::<u8>(), n) };
    SQ_OK
}

const _: () = assert!(std::mem::size_of::<sq_tls_info>() == 7 * 8);

/// Receives a streamed request body: `len` bytes at `data` (valid only
/// during the call), in order; the last call has `last` = 1 (and usually
/// `len` = 0).
pub type sq_body_callback = Option<
    unsafe extern "C" fn(userdata: *mut c_void, req: *mut sq_request, data: *const c_void, len: usize, last: c_int),
>;

/// A C body callback and its userdata: `sq_request_on_body`'s side of
/// [`BodySink`].
struct CBodySink {
    f: unsafe extern "C" fn(userdata: *mut c_void, req: *mut sq_request, data: *const c_void, len: usize, last: c_int),
    userdata: *mut c_void,
}
// SAFETY: squall never dereferences `userdata`; it only hands it back to the
// host's callback, on the host thread.
unsafe impl Send for CBodySink {}
// SAFETY: as above; shared only to be read.
unsafe impl Sync for CBodySink {}

impl BodySink for CBodySink {
    fn on_body(&self, req: u64, chunk: &[u8], last: bool) {
        // SAFETY: the callback the host registered for this request's body,
        // with its userdata, the request handle (an id dressed as a pointer)
        // and bytes alive during the call.
        unsafe { (self.f)(self.userdata, id_ptr::<sq_request>(req), chunk.as_ptr().cast(), chunk.len(), c_int::from(last)) };
    }
}

/// Sets the callback that receives the body of a request whose route was
/// registered with `SQ_STREAM_BODY` (normally from the handler, which runs
/// when the head arrives). Chunks that arrived before are delivered first.
/// Calls run on the host thread, one at a time, never from inside this
/// function. While more than 1 MiB of body waits to be delivered, squall
/// stops reading the connection (flow control). Once the response is
/// finished, or the client is gone, remaining chunks are dropped without a
/// call (`sq_request_on_close` tells about the client leaving).
///
/// Thread: any thread (normally the handler's).
/// Ownership: squall keeps `userdata` (without dereferencing it) until the
/// last call or the end of the request.
/// Returns: `SQ_OK`; `SQ_ERR_STATE` when the route does not stream bodies;
/// `SQ_ERR_ALREADY_DONE` when a body callback is already set or the request
/// is finished; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_request_on_body(req: *mut sq_request, cb: sq_body_callback, userdata: *mut c_void) -> sq_status {
    ffi_boundary! {
        let r = ffi_try!(request(req));
        let Some(f) = cb else { return fail_null("callback") };
        if !r.streams_body() {
            return fail(Error::new(ErrorKind::State, "the route does not stream the body (register it with SQ_STREAM_BODY)"));
        }
        ffi_try!(r.set_on_body(Arc::new(CBodySink { f, userdata })));
        SQ_OK
    }
}

/// Asks to be told when the client goes away before the response is
/// finished: `cb(userdata)` then runs once on the host thread, and response
/// calls return `SQ_ERR_CLOSED` (finish the request anyway to release it).
/// Replaces an earlier callback.
///
/// Thread: any thread.
/// Ownership: squall keeps `userdata` (without dereferencing it) until the
/// callback runs or the response is finished.
/// Returns: `SQ_OK`; `SQ_ERR_CLOSED` if the client is already gone (the
/// callback will not be called); `SQ_ERR_NULL`; `SQ_ERR_ALREADY_DONE`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_request_on_close(req: *mut sq_request, cb: sq_callback, userdata: *mut c_void) -> sq_status {
    ffi_boundary! {
        let r = ffi_try!(request(req));
        let Some(f) = cb else { return fail_null("callback") };
        ffi_try!(r.set_on_close(Task::Raw(RawCallback { f, data: userdata })));
        SQ_OK
    }
}

/// Answers the request in one call: status, headers and the whole body. The
/// server adds `Date`, `Content-Length` and `Connection` itself (a caller's
/// own copies of those are dropped); HEAD requests get the headers only.
/// After `sq_response_set_length`, that length is the `Content-Length` (a
/// HEAD answer says it) and the body must come to it. Finishes the
/// request: the handle is stale afterwards.
///
/// Thread: any thread, also after the handler returned.
/// Ownership: `headers` and `body` are copied before the call returns.
/// Returns: `SQ_OK`; `SQ_ERR_CLOSED` when the client went away (the request
/// is released all the same); `SQ_ERR_ALREADY_DONE` when already finished;
/// `SQ_ERR_INVALID_ARG` for a status outside 100–999 or a header whose name
/// is not a token or whose value holds CR, LF or NUL (nothing is sent, the
/// request stays open); `SQ_ERR_STATE` after `sq_response_flush`;
/// `SQ_ERR_LIMIT` when the body does not match the length given to
/// `sq_response_set_length` (the request is finished, the connection cut);
/// `SQ_ERR_NULL` (req, or body/headers NULL with a non-zero length).
#[unsafe(no_mangle)]
pub extern "C" fn sq_respond(
    req: *mut sq_request,
    status: c_int,
    headers: *const sq_header,
    nheaders: usize,
    body: *const c_void,
    body_len: usize,
) -> sq_status {
    ffi_boundary! {
        let r = ffi_try!(request(req));
        if (headers.is_null() && nheaders > 0) || (body.is_null() && body_len > 0) {
            return fail_null("headers or body");
        }
        let hs: &[sq_header] = if nheaders == 0 {
            &[]
        } else {
            // SAFETY: non-NULL array of nheaders entries per the API contract.
            unsafe { std::slice::from_raw_parts(headers, nheaders) }
        };
        let mut pairs: Vec<(&str, &[u8])> = Vec::with_capacity(hs.len());
        for h in hs {
            // SAFETY: NUL-terminated name per the API contract.
            let name = ffi_try!(unsafe { str_arg(h.name, "header name") });
            if h.value.is_null() && h.value_len > 0 {
                return fail_null("header value");
            }
            let value: &[u8] = if h.value_len == 0 {
                &[]
            } else {
                // SAFETY: value_len bytes at value per the API contract.
                unsafe { std::slice::from_raw_parts(h.value.cast(), h.value_len) }
            };
            pairs.push((name, value));
        }
        let body: &[u8] = if body_len == 0 {
            &[]
        } else {
            // SAFETY: body_len bytes at body per the API contract.
            unsafe { std::slice::from_raw_parts(body.cast(), body_len) }
        };
        let status = ffi_try!(u16::try_from(status).map_err(|_| Error::new(ErrorKind::InvalidArg, "status out of range")));
        ffi_try!(r.respond(status, &pairs, body));
        SQ_OK
    }
}

/// Sets the response status and, optionally, its reason phrase (NULL for the
/// standard one). Default 200.
///
/// Thread: any thread.
/// Ownership: `reason` is copied.
/// Returns: `SQ_OK`; `SQ_ERR_INVALID_ARG` for a status outside 100–999 or a
/// reason with control characters; `SQ_ERR_STATE` after `sq_response_flush`;
/// `SQ_ERR_CLOSED`; `SQ_ERR_ALREADY_DONE`; `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_response_status(req: *mut sq_request, status: c_int, reason: *const c_char) -> sq_status {
    ffi_boundary! {
        let r = ffi_try!(request(req));
        let reason = if reason.is_null() {
            None
        } else {
            // SAFETY: NUL-terminated string per the API contract.
            Some(ffi_try!(unsafe { str_arg(reason, "reason") }))
        };
        let status = ffi_try!(u16::try_from(status).map_err(|_| Error::new(ErrorKind::InvalidArg, "status out of range")));
        ffi_try!(r.set_status(status, reason));
        SQ_OK
    }
}

/// Adds a response header (`replace` non-zero: first removes every header of
/// that name). `Date`, `Content-Length`, `Transfer-Encoding` and
/// `Connection` are the server's and are dropped when the head is written
/// (`sq_response_set_length` declares a body's length).
///
/// Thread: any thread.
/// Ownership: `name` and `value` are copied.
/// Returns: `SQ_OK`; `SQ_ERR_INVALID_ARG` for a name that is not a token or
/// a value holding CR, LF or NUL (nothing is added); `SQ_ERR_STATE` after
/// `sq_response_flush`; `SQ_ERR_CLOSED`; `SQ_ERR_ALREADY_DONE`; `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_response_header(
    req: *mut sq_request,
    name: *const c_char,
    value: *const c_char,
    value_len: usize,
    replace: c_int,
) -> sq_status {
    ffi_boundary! {
        let r = ffi_try!(request(req));
        // SAFETY: NUL-terminated string per the API contract.
        let name = ffi_try!(unsafe { str_arg(name, "name") });
        if value.is_null() && value_len > 0 {
            return fail_null("value");
        }
        let v: &[u8] = if value_len == 0 {
            &[]
        } else {
            // SAFETY: value_len bytes at value per the API contract.
            unsafe { std::slice::from_raw_parts(value.cast(), value_len) }
        };
        ffi_try!(r.add_header(name, v, replace != 0));
        SQ_OK
    }
}

/// Appends to the response body (buffered until `sq_response_flush` or
/// `sq_response_finish`).
///
/// Thread: any thread.
/// Ownership: `data` is copied.
/// Returns: `SQ_OK`; `SQ_ERR_STATE` for a body on a 1xx/204/304 response;
/// `SQ_ERR_CLOSED`; `SQ_ERR_ALREADY_DONE`; `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_response_write(req: *mut sq_request, data: *const c_void, len: usize) -> sq_status {
    ffi_boundary! {
        let r = ffi_try!(request(req));
        if data.is_null() && len > 0 {
            return fail_null("data");
        }
        let d: &[u8] = if len == 0 {
            &[]
        } else {
            // SAFETY: len bytes at data per the API contract.
            unsafe { std::slice::from_raw_parts(data.cast(), len) }
        };
        ffi_try!(r.write(d));
        SQ_OK
    }
}

/// Sends what was written so far. The first flush sends the head: the body
/// is then chunked (HTTP/1.1) or runs until the connection closes (HTTP/1.0),
/// unless `sq_response_set_length` declared the body's length: then the
/// head carries it, the body is sent as it is and must come to exactly it.
///
/// Thread: any thread.
/// Ownership: nothing changes hands.
/// Returns: `SQ_OK`; `SQ_ERR_LIMIT` when the body would pass the
/// declared length (nothing more is sent, the connection is cut and
/// the request finished); `SQ_ERR_CLOSED`; `SQ_ERR_ALREADY_DONE`; `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_response_flush(req: *mut sq_request) -> sq_status {
    ffi_boundary! {
        let r = ffi_try!(request(req));
        ffi_try!(r.flush());
        SQ_OK
    }
}

/// Gives up on the request: no response is sent (or, when its head was
/// already flushed, the rest of it is not) and the connection is closed
/// once what was queued before is written, so the client sees the exchange
/// cut, never a response that looks whole. For a handler that failed and
/// has already said so. Releases the request: the handle is stale afterwards.
///
/// Thread: any thread, also after the handler returned.
/// Ownership: nothing changes hands.
/// Returns: `SQ_OK`; `SQ_ERR_CLOSED` when the client went away (the request
/// is released all the same); `SQ_ERR_ALREADY_DONE`; `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_request_abort(req: *mut sq_request) -> sq_status {
    ffi_boundary! {
        let r = ffi_try!(request(req));
        ffi_try!(r.abort_by_host());
        SQ_OK
    }
}

/// Declares the length of the response body, sent as its `Content-Length`
/// (Tornado's handlers set that header): a HEAD answer carries it, a body
/// sent in pieces with `sq_response_flush` goes out unchunked, and the
/// body must come to exactly this many bytes. If it does not, what fits is
/// sent and the connection is cut (the client sees an incomplete response,
/// never a whole-looking wrong one), and the call that found out
/// (`sq_respond`, `sq_response_flush`, `sq_response_finish`) returns
/// `SQ_ERR_LIMIT`. Ignored for a status without a body (1xx, 204, 304).
///
/// Thread: any thread.
/// Ownership: nothing changes hands.
/// Returns: `SQ_OK`; `SQ_ERR_STATE` after `sq_response_flush`;
/// `SQ_ERR_CLOSED`; `SQ_ERR_ALREADY_DONE`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_response_set_length(req: *mut sq_request, length: u64) -> sq_status {
    ffi_boundary! {
        let r = ffi_try!(request(req));
        ffi_try!(r.set_length(length));
        SQ_OK
    }
}

/// How many bytes of output wait for the client: what was flushed for this
/// response (and what the connection still holds before it) that the
/// socket has not taken yet. A streaming sender (a large file) can flush a
/// piece, and send the next once this has fallen, so that a slow client
/// does not make squall hold the whole body. Updated by the connection's
/// reactor as it writes: an estimate, never an undercount of more than
/// what is being written at that moment.
///
/// Thread: any thread.
/// Ownership: nothing changes hands.
/// Returns: `SQ_OK` with the count in `*bytes_out`; `SQ_ERR_CLOSED` once the
/// client has gone; `SQ_ERR_ALREADY_DONE` once the response is finished;
/// `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_response_backlog(req: *mut sq_request, bytes_out: *mut usize) -> sq_status {
    ffi_boundary! {
        let r = ffi_try!(request(req));
        if bytes_out.is_null() {
            return fail_null("bytes_out");
        }
        let n = ffi_try!(r.backlog());
        // SAFETY: non-NULL out-parameter given by the caller.
        unsafe { *bytes_out = n };
        SQ_OK
    }
}

/// Finishes the response (with a Content-Length when nothing was flushed)
/// and releases the request: the handle is stale afterwards.
///
/// Thread: any thread.
/// Ownership: nothing changes hands.
/// Returns: `SQ_OK`; `SQ_ERR_LIMIT` when the body sent and pending does not
/// come to the length declared with `sq_response_set_length` (the connection is cut after
/// what fits; the request is released all the same); `SQ_ERR_CLOSED` when
/// the client went away (the request is released all the same);
/// `SQ_ERR_ALREADY_DONE`; `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_response_finish(req: *mut sq_request) -> sq_status {
    ffi_boundary! {
        let r = ffi_try!(request(req));
        ffi_try!(r.finish());
        SQ_OK
    }
}
