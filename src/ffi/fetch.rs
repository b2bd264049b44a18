//! `sq_fetch`: the asynchronous HTTP client (Tornado's `AsyncHTTPClient`).

use std::ffi::{c_char, c_int, c_void};
use std::sync::Arc;
use std::time::Duration;

use super::boundary::{Castable, fail, fail_null, ffi_boundary, ffi_try, into_ptr, str_arg, take_box, try_ref};
use super::event_loop::sq_loop;
use super::request::{sq_str, sq_tls_info, write_tls_info};
use super::status::{SQ_OK, sq_status, status_of};
use super::event_loop::sq_callback;
use super::ws::{SQ_BACKPRESSURE, bytes_arg};
use crate::http::client::conn::Control;
use crate::http::client::{self, FetchEvents, Limits, Queued, Response, Spec, Upload};
use crate::{Error, ErrorKind};

/// A request being built for `sq_fetch`: `sq_fetch_request_new(method, url)`,
/// then setters, then `sq_fetch` (which takes it over). Defaults: connect and
/// request timeouts 20 s, up to 5 redirects followed, gzip/deflate
/// responses decompressed, response bodies up to 100 MiB, certificates
/// verified against the built-in webpki roots.
#[derive(Debug)]
pub struct sq_fetch_request {
    _private: [u8; 0],
}

/// What the request builder holds.
pub(crate) struct RequestBuilder {
    /// The fetch's id (`sq_fetch_request_id`), fixed when the request is made.
    id: u64,
    spec: Spec,
    on_headers: sq_fetch_callback,
    on_chunk: sq_fetch_chunk_callback,
    on_drain: sq_callback,
}

impl Castable for sq_fetch_request {
    type Rust = RequestBuilder;
}

/// A response (or the failure of a fetch) as a callback sees it. Read it
/// with the `sq_fetch_response_*` accessors, inside the callback only.
#[derive(Debug)]
pub struct sq_fetch_response {
    _private: [u8; 0],
}

/// The `sq_fetch_response` a callback gets for a response: the response
/// itself, borrowed for the call (the accessors cast it back).
fn response_ptr(resp: &Response) -> *const sq_fetch_response {
    std::ptr::from_ref(resp).cast()
}

/// The C callbacks of one fetch and the userdata given to `sq_fetch`:
/// `sq_fetch`'s side of [`FetchEvents`].
struct CFetchEvents {
    on_response: unsafe extern "C" fn(userdata: *mut c_void, resp: *const sq_fetch_response),
    on_headers: sq_fetch_callback,
    on_chunk: sq_fetch_chunk_callback,
    on_drain: sq_callback,
    userdata: *mut c_void,
}
// SAFETY: squall never dereferences `userdata`; it only hands it back,
// untouched, to the host's callbacks on the host thread.
unsafe impl Send for CFetchEvents {}
// SAFETY: as above; shared only to be read.
unsafe impl Sync for CFetchEvents {}

impl FetchEvents for CFetchEvents {
    fn on_response(&self, resp: &Response) {
        // SAFETY: the host's callback with its userdata; the response lives
        // until the callback returns, as documented.
        unsafe { (self.on_response)(self.userdata, response_ptr(resp)) };
    }

    fn wants_headers(&self) -> bool {
        self.on_headers.is_some()
    }

    fn on_headers(&self, head: &Response) {
        if let Some(f) = self.on_headers {
            // SAFETY: as for on_response; the head lives until the callback returns.
            unsafe { f(self.userdata, response_ptr(head)) };
        }
    }

    fn wants_chunks(&self) -> bool {
        self.on_chunk.is_some()
    }

    fn on_chunk(&self, chunk: &[u8]) {
        if let Some(f) = self.on_chunk {
            // SAFETY: the host's callback with its userdata; the bytes live
            // until it returns.
            unsafe { f(self.userdata, chunk.as_ptr(), chunk.len()) };
        }
    }

    fn on_drain(&self) {
        if let Some(f) = self.on_drain {
            // SAFETY: the host's callback with its userdata.
            unsafe { f(self.userdata) };
        }
    }
}

/// Called on the host thread with a response: `on_response` once per
/// `sq_fetch` (also on failure: `sq_fetch_response_error` says), or the head
/// of the final response (`sq_fetch_request_set_on_headers`, before its body).
/// `resp` is valid until the callback returns.
pub type sq_fetch_callback = Option<unsafe extern "C" fn(userdata: *mut c_void, resp: *const sq_fetch_response)>;

/// Called on the host thread with a piece of the response body
/// (`sq_fetch_request_set_on_chunk`), in order. `data` is valid until the
/// callback returns.
pub type sq_fetch_chunk_callback = Option<unsafe extern "C" fn(userdata: *mut c_void, data: *const u8, len: usize)>;

/// `sq_fetch_response_time`: when the request was handed to a connection.
pub const SQ_TIME_QUEUE: u32 = 0;
/// `sq_fetch_response_time`: when the host name was resolved.
pub const SQ_TIME_NAMELOOKUP: u32 = 1;
/// `sq_fetch_response_time`: when the TCP connection was made.
pub const SQ_TIME_CONNECT: u32 = 2;
/// `sq_fetch_response_time`: when the TLS handshake was done (https).
pub const SQ_TIME_TLS: u32 = 3;
/// `sq_fetch_response_time`: when the first byte of the response arrived.
pub const SQ_TIME_FIRST_BYTE: u32 = 4;
/// `sq_fetch_response_time`: when the response was complete.
pub const SQ_TIME_TOTAL: u32 = 5;

fn builder<'a>(req: *mut sq_fetch_request) -> Result<&'a mut RequestBuilder, Error> {
    if req.is_null() {
        return Err(Error::new(ErrorKind::Null, "req is NULL"));
    }
    // SAFETY: a live builder from sq_fetch_request_new (API contract),
    // used by one thread at a time.
    Ok(unsafe { &mut *req.cast::<RequestBuilder>() })
}

/// Creates a request for `method` (an HTTP token: "GET", "POST", …) and
/// `url` (http:// or https://, with a host).
///
/// Thread: any thread.
/// Ownership: the caller owns the request until it hands it to `sq_fetch`;
/// if it never does, it frees it with `sq_fetch_request_free`. The strings
/// are copied.
/// Returns: the request, or NULL (with `sq_last_error()`) for a NULL
/// argument, a bad method, or a URL that does not parse or is not http(s).
#[unsafe(no_mangle)]
pub extern "C" fn sq_fetch_request_new(method: *const c_char, url: *const c_char) -> *mut sq_fetch_request {
    ffi_boundary! {
        // SAFETY: NUL-terminated strings per the API contract.
        let method = ffi_try!(unsafe { str_arg(method, "method") });
        // SAFETY: as above.
        let url = ffi_try!(unsafe { str_arg(url, "url") });
        let spec = ffi_try!(Spec::new(method, url));
        into_ptr::<sq_fetch_request>(RequestBuilder { id: client::next_id(), spec, on_headers: None, on_chunk: None, on_drain: None })
    }
}

/// The id the fetch of this request has: read it before `sq_fetch` takes
/// the request, to cancel the fetch (`sq_fetch_cancel`) or pause and resume
/// the reading of its response (`sq_fetch_pause_reading`). Ids are unique
/// in the process and never 0.
///
/// Thread: the thread that holds the request.
/// Ownership: nothing changes hands.
/// Returns: the id; 0 for a NULL `req`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_fetch_request_id(req: *const sq_fetch_request) -> u64 {
    ffi_boundary! {
        ffi_try!(builder(req.cast_mut())).id
    }
}

/// Frees a request that was not handed to `sq_fetch`. NULL is a no-op.
///
/// Thread: any thread.
/// Ownership: takes the request back; the pointer must not be used again.
/// Returns: nothing.
#[unsafe(no_mangle)]
pub extern "C" fn sq_fetch_request_free(req: *mut sq_fetch_request) {
    ffi_boundary! {
        // SAFETY: NULL or a live request, handed back by the caller.
        drop(unsafe { take_box::<sq_fetch_request>(req) });
    }
}

/// Adds a request header. `Host`, `User-Agent` and `Accept-Encoding`
/// replace the client's own; `Content-Length` and `Transfer-Encoding` are
/// the client's and are ignored.
///
/// Thread: the thread that holds the request.
/// Ownership: `name` and `value` are copied.
/// Returns: `SQ_OK`; `SQ_ERR_INVALID_ARG` (nothing added) for a name that
/// is not an HTTP token or a value holding CR, LF or NUL; `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_fetch_request_set_header(
    req: *mut sq_fetch_request,
    name: *const c_char,
    value: *const c_char,
    value_len: usize,
) -> sq_status {
    ffi_boundary! {
        let b = ffi_try!(builder(req));
        // SAFETY: NUL-terminated string per the API contract.
        let name = ffi_try!(unsafe { str_arg(name, "name") });
        let value = ffi_try!(bytes_arg(value.cast(), value_len));
        ffi_try!(client::check_header(name, value));
        b.spec.headers.push((name.to_owned(), value.to_vec()));
        SQ_OK
    }
}

/// Sets the request body (sent with a `Content-Length`); undoes
/// `sq_fetch_request_stream_body`.
///
/// Thread: the thread that holds the request.
/// Ownership: `data` is copied.
/// Returns: `SQ_OK`; `SQ_ERR_NULL` (NULL data with a non-zero length, or req).
#[unsafe(no_mangle)]
pub extern "C" fn sq_fetch_request_set_body(req: *mut sq_fetch_request, data: *const c_void, len: usize) -> sq_status {
    ffi_boundary! {
        let b = ffi_try!(builder(req));
        let data = ffi_try!(bytes_arg(data, len));
        b.spec.body = Arc::from(data);
        b.spec.upload = None;
        SQ_OK
    }
}

/// Makes the request body a stream the host writes after `sq_fetch`, from
/// any thread, with `sq_fetch_body_write` and ends with
/// `sq_fetch_body_finish` (instead of `sq_fetch_request_set_body`). With
/// `length` >= 0 the request says `Content-Length: length` and the body must
/// be exactly that long (it is complete with its last byte:
/// `sq_fetch_body_finish` is then optional); with `length` < 0 it goes
/// chunked and ends with `sq_fetch_body_finish`. Writes queue
/// while the connection is made and are sent as the socket takes them; a
/// write that leaves more than 1 MiB queued returns `SQ_BACKPRESSURE`, and
/// the callback set with `sq_fetch_request_set_on_drain` then says when the
/// queue is below 256 KiB again. A streamed request is never sent twice: a
/// 3xx response to it is handed back as it is (no redirect followed), and a
/// pooled connection found closed fails it once a byte of the body went.
/// The response may come before the body is finished (a 413, say); then
/// later writes return `SQ_ERR_CLOSED`.
///
/// Thread: the thread that holds the request.
/// Ownership: nothing changes hands.
/// Returns: `SQ_OK`; `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_fetch_request_stream_body(req: *mut sq_fetch_request, length: i64) -> sq_status {
    ffi_boundary! {
        let b = ffi_try!(builder(req));
        b.spec.body = Arc::from(&[][..]);
        b.spec.upload = Some(Arc::new(Upload::new(u64::try_from(length).ok())));
        SQ_OK
    }
}

/// Sets the callback that says, on the host thread and with the userdata
/// given to `sq_fetch`, that a streamed request body
/// (`sq_fetch_request_stream_body`) which had returned `SQ_BACKPRESSURE` has
/// less than 256 KiB queued again. NULL removes it.
///
/// Thread: the thread that holds the request.
/// Ownership: nothing changes hands.
/// Returns: `SQ_OK`; `SQ_ERR_NULL` (req).
#[unsafe(no_mangle)]
pub extern "C" fn sq_fetch_request_set_on_drain(req: *mut sq_fetch_request, cb: sq_callback) -> sq_status {
    ffi_boundary! {
        let b = ffi_try!(builder(req));
        b.on_drain = cb;
        SQ_OK
    }
}

/// Queues `len` bytes of the streamed request body of fetch `id` (see
/// `sq_fetch_request_stream_body`); they are sent in order.
///
/// Thread: any thread.
/// Ownership: `data` is copied.
/// Returns: `SQ_OK`; `SQ_BACKPRESSURE` (queued, but more than 1 MiB waits:
/// wait for `on_drain`); `SQ_ERR_LIMIT` (not queued: 64 MiB wait already);
/// `SQ_ERR_INVALID_ARG` (past the `Content-Length` given, or an id never
/// issued); `SQ_ERR_ALREADY_DONE` (the body was finished, or has all of
/// its `Content-Length`); `SQ_ERR_CLOSED`
/// (the fetch is over — answered, failed, cancelled — or its body is not
/// streamed); `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_fetch_body_write(r#loop: *mut sq_loop, id: u64, data: *const c_void, len: usize) -> sq_status {
    ffi_boundary! {
        let lp = try_ref!(sq_loop, r#loop, "loop");
        ffi_try!(lp.handle().check_usable());
        let data = ffi_try!(bytes_arg(data, len));
        let up = ffi_try!(Upload::of(id));
        match ffi_try!(up.write(data)) {
            Queued::Ok => SQ_OK,
            Queued::Backpressure => SQ_BACKPRESSURE,
        }
    }
}

/// Ends the streamed request body of fetch `id`: the last piece goes (and
/// the chunked body's end), then the response is awaited.
///
/// Thread: any thread.
/// Ownership: nothing changes hands.
/// Returns: `SQ_OK` (also for a `Content-Length` body that has all its
/// bytes already); `SQ_ERR_INVALID_ARG` (fewer bytes than the
/// `Content-Length` given: the body is not finished; or an id never
/// issued); `SQ_ERR_ALREADY_DONE` (a chunked body finished before);
/// `SQ_ERR_CLOSED` (the fetch is over — which a complete body's response
/// may already have made it — or its body is not streamed); `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_fetch_body_finish(r#loop: *mut sq_loop, id: u64) -> sq_status {
    ffi_boundary! {
        let lp = try_ref!(sq_loop, r#loop, "loop");
        ffi_try!(lp.handle().check_usable());
        let up = ffi_try!(Upload::of(id));
        ffi_try!(up.finish());
        SQ_OK
    }
}

/// Sets the timeouts in milliseconds (0: none): `connect_ms` for resolving,
/// connecting and the TLS handshake; `request_ms` for the whole fetch from
/// `sq_fetch` to the last byte, redirects and time queued included.
///
/// Thread: the thread that holds the request.
/// Ownership: nothing changes hands.
/// Returns: `SQ_OK`; `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_fetch_request_set_timeouts(req: *mut sq_fetch_request, connect_ms: u64, request_ms: u64) -> sq_status {
    ffi_boundary! {
        let b = ffi_try!(builder(req));
        b.spec.connect_timeout = Duration::from_millis(connect_ms);
        b.spec.request_timeout = Duration::from_millis(request_ms);
        SQ_OK
    }
}

/// Sets how many redirects are followed (default 5); 0 hands a 3xx
/// response back as it is. More redirects than that fail the fetch with
/// `SQ_ERR_LIMIT`.
///
/// Thread: the thread that holds the request.
/// Ownership: nothing changes hands.
/// Returns: `SQ_OK`; `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_fetch_request_set_max_redirects(req: *mut sq_fetch_request, max_redirects: u32) -> sq_status {
    ffi_boundary! {
        let b = ffi_try!(builder(req));
        b.spec.max_redirects = max_redirects;
        SQ_OK
    }
}

/// Says what a redirect past the maximum (`sq_fetch_request_set_max_redirects`)
/// does: with `on` 0 (the default) the fetch fails with `SQ_ERR_LIMIT`; with
/// `on` non-zero that 3xx response is handed back as the response, its
/// status, headers (`Location`) and body as they came (what Tornado 6.6's
/// client does).
///
/// Thread: the thread that holds the request.
/// Ownership: nothing changes hands.
/// Returns: `SQ_OK`; `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_fetch_request_set_redirect_overflow(req: *mut sq_fetch_request, hand_back: c_int) -> sq_status {
    ffi_boundary! {
        let b = ffi_try!(builder(req));
        b.spec.overflow_redirect_is_response = hand_back != 0;
        SQ_OK
    }
}

/// Turns verification of the server's certificate (https) on (the default)
/// or off. Off, any certificate is accepted — its chain, dates and name are
/// not checked (Tornado's `validate_cert=False`, curl's `-k`, Go's
/// `InsecureSkipVerify`) — but the handshake must still be signed with the
/// key of the certificate the server sent. Such a connection is open to
/// whoever sits on the path: for tests and for servers known by other
/// means. Off overrides `sq_fetch_request_set_ca_file`; unverified
/// connections are pooled apart from verified ones, and a redirect keeps
/// the setting.
///
/// Thread: the thread that holds the request.
/// Ownership: nothing changes hands.
/// Returns: `SQ_OK`; `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_fetch_request_set_verify(req: *mut sq_fetch_request, on: c_int) -> sq_status {
    ffi_boundary! {
        let b = ffi_try!(builder(req));
        b.spec.verify = on != 0;
        SQ_OK
    }
}

/// Makes the fetch's connections from the local IP address `address` (an
/// IPv4 or IPv6 literal; the port is the system's choice), as curl's
/// `--interface` with an address. An address of the other family than the
/// server's fails that address's connect (`SQ_ERR_CONNECT`); so does one
/// this host does not have. NULL goes back to the system's choice.
/// Connections are pooled per source address.
///
/// Thread: the thread that holds the request.
/// Ownership: `address` is copied.
/// Returns: `SQ_OK`; `SQ_ERR_INVALID_ARG` when `address` is not an IP
/// address (nothing changes); `SQ_ERR_NULL` (req).
#[unsafe(no_mangle)]
pub extern "C" fn sq_fetch_request_set_source_address(req: *mut sq_fetch_request, address: *const c_char) -> sq_status {
    ffi_boundary! {
        let b = ffi_try!(builder(req));
        if address.is_null() {
            b.spec.source = None;
            return SQ_OK;
        }
        // SAFETY: NUL-terminated string per the API contract.
        let text = ffi_try!(unsafe { str_arg(address, "address") });
        let Ok(ip) = text.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>() else {
            return fail(Error::new(ErrorKind::InvalidArg, format!("{text:?} is not an IP address to bind the connection to")));
        };
        b.spec.source = Some(ip);
        SQ_OK
    }
}

/// Connects to `host`:`port` instead of the URL's host and port, which stay
/// what the request names (`Host`) and, for https, the name the
/// certificate is checked against (SNI): curl's `--connect-to`. `host` is
/// resolved like a URL's host (a name or an IP literal). NULL goes back to
/// the URL's. A redirect to another origin connects to its own host.
///
/// Thread: the thread that holds the request.
/// Ownership: `host` is copied.
/// Returns: `SQ_OK`; `SQ_ERR_INVALID_ARG` for an empty `host` or port 0;
/// `SQ_ERR_NULL` (req).
#[unsafe(no_mangle)]
pub extern "C" fn sq_fetch_request_set_connect_to(req: *mut sq_fetch_request, host: *const c_char, port: u16) -> sq_status {
    ffi_boundary! {
        let b = ffi_try!(builder(req));
        if host.is_null() {
            b.spec.connect_to = None;
            return SQ_OK;
        }
        // SAFETY: NUL-terminated string per the API contract.
        let text = ffi_try!(unsafe { str_arg(host, "host") });
        let bare = text.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(text);
        if bare.is_empty() || port == 0 {
            return fail(Error::new(ErrorKind::InvalidArg, "connect_to needs a host and a port"));
        }
        b.spec.connect_to = Some((bare.to_owned(), port));
        SQ_OK
    }
}

/// Restricts the addresses connected to: `family` 4 (IPv4 only), 6 (IPv6
/// only) or 0 (any: the default). A host with no address of that family
/// fails the fetch with `SQ_ERR_RESOLVE`.
///
/// Thread: the thread that holds the request.
/// Ownership: nothing changes hands.
/// Returns: `SQ_OK`; `SQ_ERR_INVALID_ARG` for another `family`; `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_fetch_request_set_ip_family(req: *mut sq_fetch_request, family: c_int) -> sq_status {
    ffi_boundary! {
        let b = ffi_try!(builder(req));
        let Ok(f @ (0 | 4 | 6)) = u8::try_from(family) else {
            return fail(Error::new(ErrorKind::InvalidArg, format!("IP family {family}: expected 0, 4 or 6")));
        };
        b.spec.family = f;
        SQ_OK
    }
}

/// With `on` non-zero the request says `Expect: 100-continue` and its body
/// waits for the server's `100 Continue` (RFC 9110 §10.1.1), or for one
/// second without an answer. A final response first (a 401, a 413) ends the
/// fetch without the body being sent (the connection is then not reused).
/// A streamed body (`sq_fetch_request_stream_body`) may be written before;
/// its host hears `on_drain` when the body may go, so it can wait for that
/// before producing anything.
///
/// Thread: the thread that holds the request.
/// Ownership: nothing changes hands.
/// Returns: `SQ_OK`; `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_fetch_request_set_expect_continue(req: *mut sq_fetch_request, on: c_int) -> sq_status {
    ffi_boundary! {
        let b = ffi_try!(builder(req));
        b.spec.expect_continue = on != 0;
        SQ_OK
    }
}

/// Caps the response head (status line and headers) at `max_bytes` (0:
/// the default and most, 64 KiB); a longer one fails the fetch with
/// `SQ_ERR_PROTOCOL` ("response head too large").
///
/// Thread: the thread that holds the request.
/// Ownership: nothing changes hands.
/// Returns: `SQ_OK`; `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_fetch_request_set_max_header_size(req: *mut sq_fetch_request, max_bytes: usize) -> sq_status {
    ffi_boundary! {
        let b = ffi_try!(builder(req));
        b.spec.max_head = max_bytes;
        SQ_OK
    }
}

/// Turns decompression of gzip/deflate responses on (the default) or off,
/// and caps the decompressed size: a body that grows past `max_decompressed`
/// bytes fails the fetch with `SQ_ERR_LIMIT` as soon as it does. With
/// decompression on, the request says `Accept-Encoding: gzip, deflate`
/// unless it has its own.
///
/// Thread: the thread that holds the request.
/// Ownership: nothing changes hands.
/// Returns: `SQ_OK`; `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_fetch_request_set_decompress(req: *mut sq_fetch_request, on: c_int, max_decompressed: u64) -> sq_status {
    ffi_boundary! {
        let b = ffi_try!(builder(req));
        b.spec.decompress = on != 0;
        b.spec.max_decompressed = max_decompressed;
        SQ_OK
    }
}

/// Caps the response body (after decompression): a larger one fails the
/// fetch with `SQ_ERR_LIMIT`, never a truncated body. Default 100 MiB.
///
/// Thread: the thread that holds the request.
/// Ownership: nothing changes hands.
/// Returns: `SQ_OK`; `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_fetch_request_set_max_body(req: *mut sq_fetch_request, max_body: u64) -> sq_status {
    ffi_boundary! {
        let b = ffi_try!(builder(req));
        b.spec.max_body = max_body;
        SQ_OK
    }
}

/// Sets basic authentication (`Authorization: Basic …`). Dropped when a
/// redirect goes to another origin.
///
/// Thread: the thread that holds the request.
/// Ownership: the strings are copied.
/// Returns: `SQ_OK`; `SQ_ERR_INVALID_ARG` when `user` holds a ':' or either
/// is not UTF-8; `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_fetch_request_set_basic_auth(req: *mut sq_fetch_request, user: *const c_char, password: *const c_char) -> sq_status {
    ffi_boundary! {
        use base64::Engine as _;
        let b = ffi_try!(builder(req));
        // SAFETY: NUL-terminated strings per the API contract.
        let user = ffi_try!(unsafe { str_arg(user, "user") });
        // SAFETY: as above.
        let password = ffi_try!(unsafe { str_arg(password, "password") });
        if user.contains(':') {
            return fail(Error::new(ErrorKind::InvalidArg, "a basic-auth user name cannot hold ':'"));
        }
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        b.spec.auth = Some(format!("Basic {token}").into_bytes());
        SQ_OK
    }
}

/// Trusts only the CA certificates in the PEM file `path` for https (instead
/// of the built-in roots). The file is read now, on the calling thread.
///
/// Thread: the thread that holds the request.
/// Ownership: `path` is copied.
/// Returns: `SQ_OK`; `SQ_ERR_INVALID_ARG` when the file cannot be read or
/// holds no usable certificate; `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_fetch_request_set_ca_file(req: *mut sq_fetch_request, path: *const c_char) -> sq_status {
    ffi_boundary! {
        let b = ffi_try!(builder(req));
        // SAFETY: NUL-terminated string per the API contract.
        let path = ffi_try!(unsafe { str_arg(path, "path") });
        b.spec.tls = Some(ffi_try!(crate::net::tls::ca_file_config(path)));
        SQ_OK
    }
}

/// Sets a callback for the head of the final response (status and headers,
/// no body yet), called on the host thread before its body arrives, with
/// the userdata given to `sq_fetch`. NULL removes it.
///
/// Thread: the thread that holds the request.
/// Ownership: nothing changes hands.
/// Returns: `SQ_OK`; `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_fetch_request_set_on_headers(req: *mut sq_fetch_request, cb: sq_fetch_callback) -> sq_status {
    ffi_boundary! {
        let b = ffi_try!(builder(req));
        b.on_headers = cb;
        SQ_OK
    }
}

/// Streams the body: `cb` gets each piece as it arrives (decompressed), on
/// the host thread, with the userdata given to `sq_fetch`; the final
/// response then has an empty body. Reading pauses while the host is more
/// than 1 MiB behind. NULL removes it.
///
/// Thread: the thread that holds the request.
/// Ownership: nothing changes hands.
/// Returns: `SQ_OK`; `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_fetch_request_set_on_chunk(req: *mut sq_fetch_request, cb: sq_fetch_chunk_callback) -> sq_status {
    ffi_boundary! {
        let b = ffi_try!(builder(req));
        b.on_chunk = cb;
        SQ_OK
    }
}

/// Starts a fetch. It runs on the loop's first reactor once the loop runs
/// (connections are pooled per origin: see `sq_fetch_set_limits`);
/// `on_response` is called exactly once, on the host thread, with the
/// response or the failure (`sq_fetch_response_error`: `SQ_ERR_TIMEOUT`,
/// `SQ_ERR_RESOLVE`, `SQ_ERR_CONNECT`, `SQ_ERR_TLS`, `SQ_ERR_PROTOCOL`,
/// `SQ_ERR_LIMIT`, `SQ_ERR_CLOSED`, `SQ_ERR_CANCELLED` (`sq_fetch_cancel`), `SQ_ERR_INVALID_ARG` for a redirect to
/// another scheme) — unless the loop is freed first, in which case no
/// callback of this fetch runs.
///
/// Thread: any thread.
/// Ownership: takes `req` over in every case (also when it fails): do not
/// use or free it afterwards. `userdata` must stay valid until
/// `on_response` has run.
/// Returns: `SQ_OK`; `SQ_ERR_NULL` (loop, req or on_response); `SQ_ERR_CLOSED`
/// (loop freed); `SQ_ERR_FORKED`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_fetch(
    r#loop: *mut sq_loop,
    req: *mut sq_fetch_request,
    on_response: sq_fetch_callback,
    userdata: *mut c_void,
) -> sq_status {
    ffi_boundary! {
        // SAFETY: NULL or a live request handed over by the caller.
        let b = unsafe { take_box::<sq_fetch_request>(req) };
        let Some(b) = b else { return fail_null("req") };
        let lp = try_ref!(sq_loop, r#loop, "loop");
        let Some(on_response) = on_response else { return fail_null("on_response") };
        let events = CFetchEvents { on_response, on_headers: b.on_headers, on_chunk: b.on_chunk, on_drain: b.on_drain, userdata };
        ffi_try!(client::start(lp.handle(), b.id, b.spec, Arc::new(events)));
        SQ_OK
    }
}

/// Cancels fetch `id` (from `sq_fetch_request_id`) of this loop: it stops
/// wherever it is (queued for a connection, connecting, sending, reading
/// the response; its connection is closed, not reused) and its
/// `on_response` is called with `SQ_ERR_CANCELLED`, on the host thread,
/// after any chunk already handed over. A fetch whose response was already
/// on its way to the host is not cancelled: `on_response` runs exactly
/// once either way. Cancelling a fetch that is done, or twice, does nothing.
///
/// Thread: any thread (also inside a callback of the fetch); it takes effect
/// on the loop's first reactor, after what this thread asked before.
/// Ownership: nothing changes hands.
/// Returns: `SQ_OK` (the cancel is on its way); `SQ_ERR_INVALID_ARG` for an
/// id that no request was given (0, or never issued); `SQ_ERR_NULL`;
/// `SQ_ERR_CLOSED` (loop freed); `SQ_ERR_FORKED`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_fetch_cancel(r#loop: *mut sq_loop, id: u64) -> sq_status {
    ffi_boundary! {
        let lp = try_ref!(sq_loop, r#loop, "loop");
        ffi_try!(client::control(lp.handle(), id, Control::Cancel));
        SQ_OK
    }
}

/// Stops reading the response of fetch `id` (from `sq_fetch_request_id`)
/// until `sq_fetch_resume_reading`: the host's own flow control for a
/// streamed body (`sq_fetch_request_set_on_chunk`), when it hands the
/// chunks on to a consumer slower than its callback. Chunks already handed
/// over still arrive; then the kernel's buffers fill and the server slows
/// down. The request timeout keeps running. Pausing a fetch queued for a
/// connection holds it from its first byte.
///
/// Thread: any thread; takes effect on the loop's first reactor.
/// Ownership: nothing changes hands.
/// Returns: `SQ_OK` (also for a fetch that is done: nothing happens);
/// `SQ_ERR_INVALID_ARG` for an id never issued; `SQ_ERR_NULL`;
/// `SQ_ERR_CLOSED`; `SQ_ERR_FORKED`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_fetch_pause_reading(r#loop: *mut sq_loop, id: u64) -> sq_status {
    ffi_boundary! {
        let lp = try_ref!(sq_loop, r#loop, "loop");
        ffi_try!(client::control(lp.handle(), id, Control::Hold));
        SQ_OK
    }
}

/// Reads the response of fetch `id` again after `sq_fetch_pause_reading`.
///
/// Thread: any thread; takes effect on the loop's first reactor.
/// Ownership: nothing changes hands.
/// Returns: `SQ_OK` (also when it was not paused, or is done);
/// `SQ_ERR_INVALID_ARG` for an id never issued; `SQ_ERR_NULL`;
/// `SQ_ERR_CLOSED`; `SQ_ERR_FORKED`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_fetch_resume_reading(r#loop: *mut sq_loop, id: u64) -> sq_status {
    ffi_boundary! {
        let lp = try_ref!(sq_loop, r#loop, "loop");
        ffi_try!(client::control(lp.handle(), id, Control::Release));
        SQ_OK
    }
}

/// Sets the client's connection pool limits for this loop: at most
/// `max_clients` connections in all (default 100) and `max_per_host` per
/// origin (0: the same as `max_clients`); requests beyond wait in a queue
/// (their request timeout runs). An idle kept-alive connection closes after
/// `idle_timeout_ms` (default 30000).
///
/// Thread: any thread; applies to requests that start afterwards.
/// Ownership: nothing changes hands.
/// Returns: `SQ_OK`; `SQ_ERR_INVALID_ARG` for `max_clients` 0;
/// `SQ_ERR_NULL`; `SQ_ERR_CLOSED`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_fetch_set_limits(r#loop: *mut sq_loop, max_clients: u32, max_per_host: u32, idle_timeout_ms: u64) -> sq_status {
    ffi_boundary! {
        let lp = try_ref!(sq_loop, r#loop, "loop");
        if max_clients == 0 {
            return fail(Error::new(ErrorKind::InvalidArg, "max_clients must be at least 1"));
        }
        let max_clients = max_clients as usize;
        let max_per_host = if max_per_host == 0 { max_clients } else { (max_per_host as usize).min(max_clients) };
        let limits = Limits { max_clients, max_per_host, idle_timeout: Duration::from_millis(idle_timeout_ms.max(1)) };
        ffi_try!(client::set_limits(lp.handle(), limits));
        SQ_OK
    }
}

/// How many requests of this loop wait for a connection now (over
/// `sq_fetch_set_limits`' caps), as the pool last counted them on the
/// loop's first reactor (Tornado's `len(client.queue)`).
///
/// Thread: any thread.
/// Ownership: nothing changes hands.
/// Returns: `SQ_OK`; `SQ_ERR_NULL` (loop or count_out).
#[unsafe(no_mangle)]
pub extern "C" fn sq_fetch_queued(r#loop: *mut sq_loop, count_out: *mut u64) -> sq_status {
    ffi_boundary! {
        let lp = try_ref!(sq_loop, r#loop, "loop");
        if count_out.is_null() {
            return fail_null("count_out");
        }
        // SAFETY: non-NULL out-parameter given by the caller.
        unsafe { *count_out = lp.handle().client_stats().queued() };
        SQ_OK
    }
}

fn response<'a>(resp: *const sq_fetch_response) -> Result<&'a Response, Error> {
    if resp.is_null() {
        return Err(Error::new(ErrorKind::Null, "resp is NULL"));
    }
    // SAFETY: a response handed to a callback that is still running (API
    // contract): a `Response` borrowed for the call (see `response_ptr`).
    Ok(unsafe { &*resp.cast::<Response>() })
}

fn write_str(out: *mut sq_str, bytes: &[u8]) -> sq_status {
    if out.is_null() {
        return fail_null("out");
    }
    let view = sq_str { ptr: if bytes.is_empty() { std::ptr::null() } else { bytes.as_ptr().cast() }, len: bytes.len() };
    // SAFETY: non-NULL out-parameter given by the caller.
    unsafe { *out = view };
    SQ_OK
}

/// Whether the fetch failed, and how.
///
/// Thread: inside the callback that got `resp`.
/// Ownership: nothing changes hands.
/// Returns: `SQ_OK` when a response arrived (whatever its HTTP status), else
/// the failure's code (see `sq_fetch`); `SQ_ERR_NULL` for a NULL `resp`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_fetch_response_error(resp: *const sq_fetch_response) -> sq_status {
    ffi_boundary! {
        let r = ffi_try!(response(resp));
        r.error.as_ref().map_or(SQ_OK, |e| status_of(e.kind()))
    }
}

/// The failure's message ("" when the fetch did not fail).
///
/// Thread: inside the callback that got `resp`.
/// Ownership: `*out` points into the response: valid until the callback returns.
/// Returns: `SQ_OK`; `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_fetch_response_message(resp: *const sq_fetch_response, out: *mut sq_str) -> sq_status {
    ffi_boundary! {
        let r = ffi_try!(response(resp));
        write_str(out, r.error.as_ref().map_or("", |e| e.message()).as_bytes())
    }
}

/// The HTTP status code (0 when the fetch failed).
///
/// Thread: inside the callback that got `resp`.
/// Ownership: nothing changes hands.
/// Returns: the status, 0 on failure or for a NULL `resp`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_fetch_response_status(resp: *const sq_fetch_response) -> u32 {
    ffi_boundary! {
        ffi_try!(response(resp)).status as u32
    }
}

/// The reason phrase of the status line.
///
/// Thread: inside the callback that got `resp`.
/// Ownership: `*out` points into the response: valid until the callback returns.
/// Returns: `SQ_OK`; `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_fetch_response_reason(resp: *const sq_fetch_response, out: *mut sq_str) -> sq_status {
    ffi_boundary! {
        let r = ffi_try!(response(resp));
        write_str(out, r.reason.as_bytes())
    }
}

/// The first value of header `name` (case-insensitive).
///
/// Thread: inside the callback that got `resp`.
/// Ownership: `*out` points into the response: valid until the callback returns.
/// Returns: `SQ_OK`; `SQ_ERR_NOT_FOUND` when there is no such header; `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_fetch_response_header(resp: *const sq_fetch_response, name: *const c_char, out: *mut sq_str) -> sq_status {
    ffi_boundary! {
        let r = ffi_try!(response(resp));
        // SAFETY: NUL-terminated string per the API contract.
        let name = ffi_try!(unsafe { str_arg(name, "name") });
        match r.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            Some((_, v)) => write_str(out, v),
            None => fail(Error::new(ErrorKind::NotFound, format!("no header {name:?}"))),
        }
    }
}

/// The number of header lines in the response.
///
/// Thread: inside the callback that got `resp`.
/// Ownership: nothing changes hands.
/// Returns: `SQ_OK`; `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_fetch_response_header_count(resp: *const sq_fetch_response, count_out: *mut usize) -> sq_status {
    ffi_boundary! {
        let r = ffi_try!(response(resp));
        if count_out.is_null() {
            return fail_null("count_out");
        }
        // SAFETY: non-NULL out-parameter given by the caller.
        unsafe { *count_out = r.headers.len() };
        SQ_OK
    }
}

/// Header line `index` (0-based, in the order received): name and value.
///
/// Thread: inside the callback that got `resp`.
/// Ownership: `*name_out` and `*value_out` point into the response: valid
/// until the callback returns.
/// Returns: `SQ_OK`; `SQ_ERR_NOT_FOUND` for an index past the end; `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_fetch_response_header_at(
    resp: *const sq_fetch_response,
    index: usize,
    name_out: *mut sq_str,
    value_out: *mut sq_str,
) -> sq_status {
    ffi_boundary! {
        let r = ffi_try!(response(resp));
        if name_out.is_null() || value_out.is_null() {
            return fail_null("name_out/value_out");
        }
        let Some((n, v)) = r.headers.get(index) else {
            return fail(Error::new(ErrorKind::NotFound, format!("no header line {index}")));
        };
        write_str(name_out, n.as_bytes());
        write_str(value_out, v)
    }
}

/// The response body (decompressed; empty when it was streamed).
///
/// Thread: inside the callback that got `resp`.
/// Ownership: `*out` points into the response: valid until the callback
/// returns; copy what you keep.
/// Returns: `SQ_OK`; `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_fetch_response_body(resp: *const sq_fetch_response, out: *mut sq_str) -> sq_status {
    ffi_boundary! {
        let r = ffi_try!(response(resp));
        write_str(out, &r.body)
    }
}

/// The URL the response came from: the request's, or the last redirect's.
///
/// Thread: inside the callback that got `resp`.
/// Ownership: `*out` points into the response: valid until the callback returns.
/// Returns: `SQ_OK`; `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_fetch_response_url(resp: *const sq_fetch_response, out: *mut sq_str) -> sq_status {
    ffi_boundary! {
        let r = ffi_try!(response(resp));
        write_str(out, r.url.as_bytes())
    }
}

/// How many redirects were followed.
///
/// Thread: inside the callback that got `resp`.
/// Ownership: nothing changes hands.
/// Returns: the count; 0 for a NULL `resp`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_fetch_response_redirects(resp: *const sq_fetch_response) -> u32 {
    ffi_boundary! {
        ffi_try!(response(resp)).redirects
    }
}

/// What the TLS handshake of the response's connection agreed on (Go's
/// `Response.TLS`): the version, the cipher suite, the server name this
/// client asked for (SNI) and the ALPN protocol, in the caller's
/// `sq_tls_info` (set its `size` first, as for `sq_request_tls`). Works on
/// the head (`sq_fetch_request_set_on_headers`) and the final response.
///
/// Thread: inside the callback that got `resp`.
/// Ownership: the strings in `*out` point into the response: valid until
/// the callback returns.
/// Returns: `SQ_OK`; `SQ_ERR_NOT_FOUND` for plain http or a failed fetch
/// (`*out` untouched); `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` for a `size`
/// smaller than the `size` field.
#[unsafe(no_mangle)]
pub extern "C" fn sq_fetch_response_tls(resp: *const sq_fetch_response, out: *mut sq_tls_info) -> sq_status {
    ffi_boundary! {
        let r = ffi_try!(response(resp));
        write_tls_info(out, r.tls.as_deref(), "the response did not come over TLS")
    }
}

/// When a phase of the fetch ended, in milliseconds since `sq_fetch`:
/// `which` is one of `SQ_TIME_QUEUE`, `SQ_TIME_NAMELOOKUP`,
/// `SQ_TIME_CONNECT`, `SQ_TIME_TLS`, `SQ_TIME_FIRST_BYTE`, `SQ_TIME_TOTAL`
/// (cumulative, as curl reports them; a reused connection's lookup,
/// connect and TLS times equal its queue time). A phase not reached (a
/// failure before it, TLS on http) gives -1.
///
/// Thread: inside the callback that got `resp`.
/// Ownership: nothing changes hands.
/// Returns: `SQ_OK`; `SQ_ERR_INVALID_ARG` for an unknown `which`; `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_fetch_response_time(resp: *const sq_fetch_response, which: u32, ms_out: *mut f64) -> sq_status {
    ffi_boundary! {
        let r = ffi_try!(response(resp));
        if ms_out.is_null() {
            return fail_null("ms_out");
        }
        let Some(&t) = r.times.get(which as usize) else {
            return fail(Error::new(ErrorKind::InvalidArg, format!("no time {which}")));
        };
        // SAFETY: non-NULL out-parameter given by the caller.
        unsafe { *ms_out = t };
        SQ_OK
    }
}
