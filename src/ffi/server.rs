//! `sq_server`: an HTTP/1.1 server on a loop, its routes, listeners and limits.

use std::ffi::{c_char, c_void};

use super::boundary::{Castable, fail_null, ffi_boundary, ffi_try, id_ptr, into_ptr, str_arg, take_box, try_ref};
use super::event_loop::sq_loop;
use super::request::sq_request;
use super::status::{SQ_OK, sq_status};
use crate::http::server::Server;
use crate::http::shared::{Handler, HandlerFailed, RouteTarget};
use crate::reactor::{RawCallback, Task};
use crate::{Error, ErrorKind};

/// An HTTP/1.1 server attached to a loop: routes, listeners, limits.
///
/// Lifecycle: `sq_server_new(loop)` → setters and `sq_route` →
/// `sq_server_listen` (binds at once; accepting starts when the loop runs) →
/// run the loop → `sq_server_free` (before `sq_loop_free`).
///
/// Handlers run on the loop's host thread, one at a time, unless the route
/// was registered with `SQ_INLINE`.
#[derive(Debug)]
pub struct sq_server {
    _private: [u8; 0],
}

impl Castable for sq_server {
    type Rust = Server;
}

/// A request handler. Return `SQ_OK` when the request was answered or will be
/// answered later (from any thread, with `sq_respond`/`sq_response_finish`);
/// return an error code to have squall answer 500 (or, if the response had
/// already started, close the connection).
pub type sq_handler = Option<unsafe extern "C" fn(userdata: *mut c_void, req: *mut sq_request) -> sq_status>;

/// A C handler and the userdata it was registered with: `sq_route`'s side
/// of [`Handler`].
struct CHandler {
    f: unsafe extern "C" fn(userdata: *mut c_void, req: *mut sq_request) -> sq_status,
    userdata: *mut c_void,
}
// SAFETY: squall never dereferences `userdata`; it only hands it back to the
// host's handler, on the host thread, or on a reactor thread for SQ_INLINE
// routes, whose handlers the host promised are thread-safe.
unsafe impl Send for CHandler {}
// SAFETY: as above; shared only to be read.
unsafe impl Sync for CHandler {}

impl Handler for CHandler {
    fn call(&self, req: u64) -> Result<(), HandlerFailed> {
        // SAFETY: the handler the host registered, with its userdata and a
        // request handle (an id dressed as a pointer, never dereferenced).
        let status = unsafe { (self.f)(self.userdata, id_ptr::<sq_request>(req)) };
        if status == SQ_OK { Ok(()) } else { Err(HandlerFailed { code: status }) }
    }
}

/// Route flag: run the handler on the reactor thread that owns the
/// connection instead of the host thread. The fastest path, for C handlers
/// that never block; with several io_threads the handler must be thread-safe.
pub const SQ_INLINE: u32 = 1;

/// Route flag: call the handler as soon as the request head has arrived and
/// stream the body to the callback the handler sets with
/// `sq_request_on_body` (Tornado's `@stream_request_body`), instead of
/// collecting the whole body first. Not combined with `SQ_INLINE`.
pub const SQ_STREAM_BODY: u32 = 2;

/// Route flag: the route is tried only when no route without this flag
/// matched the path (in any method), whenever either was added: a
/// catch-all registered first that routes added later still go before
/// (an application's own 404 page, Tornado's `default_handler_class`).
/// Static mounts and WebSocket routes still go first.
pub const SQ_FALLBACK: u32 = 4;

/// Creates a server on `loop`. Nothing is bound until `sq_server_listen`.
///
/// Thread: any thread.
/// Ownership: the caller owns the server and frees it with `sq_server_free`,
/// before freeing the loop. The server keeps a reference to the loop's
/// shared state, not to the `sq_loop` pointer.
/// Returns: the server, or NULL (with `sq_last_error()`) if `loop` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn sq_server_new(r#loop: *mut sq_loop) -> *mut sq_server {
    ffi_boundary! {
        let lp = try_ref!(sq_loop, r#loop, "loop");
        into_ptr::<sq_server>(Server::new(lp.handle().clone()))
    }
}

/// Frees a server: closes its listeners and connections (requests in flight
/// then fail with `SQ_ERR_CLOSED`). When it returns, no handler of this
/// server is running on a reactor thread and none will be called again.
/// Calling with NULL is a harmless no-op.
///
/// Thread: the host thread (from a host-thread handler too). Not from an
/// `SQ_INLINE` handler.
/// Ownership: takes the server back; the pointer must not be used again.
/// Route userdata may be freed once this returns.
/// Returns: nothing.
#[unsafe(no_mangle)]
pub extern "C" fn sq_server_free(server: *mut sq_server) {
    ffi_boundary! {
        // SAFETY: NULL or a live server from sq_server_new, handed back.
        drop(unsafe { take_box::<sq_server>(server) });
    }
}

/// Adds a route: requests whose method is `method` ("GET", …; "*" for any)
/// and whose whole path matches the regular expression `pattern` go to
/// `handler`. Groups captured by the pattern are available through
/// `sq_request_capture`. Routes are tried in the order they were added
/// (those with `SQ_FALLBACK` after all the others); a path matched only by
/// routes of other methods gets 405 with `Allow`, an unmatched path 404. A GET route also answers HEAD (without the body).
///
/// Thread: the host thread, before or while the loop runs.
/// Ownership: `method` and `pattern` are copied. squall keeps `userdata`
/// (without dereferencing it) until `sq_server_free`.
/// Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` for a bad method,
/// a bad pattern (the message says why), unknown flags, or `SQ_INLINE`
/// with `SQ_STREAM_BODY`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_route(
    server: *mut sq_server,
    method: *const c_char,
    pattern: *const c_char,
    handler: sq_handler,
    userdata: *mut c_void,
    flags: u32,
) -> sq_status {
    ffi_boundary! {
        let s = try_ref!(sq_server, server, "server");
        // SAFETY: NUL-terminated strings per the API contract.
        let method = ffi_try!(unsafe { str_arg(method, "method") });
        // SAFETY: as above.
        let pattern = ffi_try!(unsafe { str_arg(pattern, "pattern") });
        let Some(f) = handler else { return fail_null("handler") };
        if flags & !(SQ_INLINE | SQ_STREAM_BODY | SQ_FALLBACK) != 0 {
            return super::boundary::fail(Error::new(ErrorKind::InvalidArg, format!("unknown route flags {flags:#x}")));
        }
        if flags & SQ_INLINE != 0 && flags & SQ_STREAM_BODY != 0 {
            return super::boundary::fail(Error::new(ErrorKind::InvalidArg, "SQ_INLINE and SQ_STREAM_BODY do not combine"));
        }
        let target = RouteTarget {
            handler: std::sync::Arc::new(CHandler { f, userdata }),
            inline: flags & SQ_INLINE != 0,
            stream_body: flags & SQ_STREAM_BODY != 0,
            fallback: flags & SQ_FALLBACK != 0,
        };
        ffi_try!(s.route(method, pattern, target));
        SQ_OK
    }
}

/// Serves the files under `directory` at URLs that start with `url_prefix`
/// ("/static/"), from the reactor: GET and HEAD (other methods get 405),
/// `Content-Type` from the file name, `ETag` and `Last-Modified` with
/// `If-None-Match` / `If-Modified-Since` → 304, a single `Range` → 206 (or
/// 416), the body sent with sendfile(2). Paths that would leave the
/// directory (`..`, `%2e%2e`, symlinks pointing out) get 403; a directory is
/// served through its `index.html`. Static mounts are looked up before routes.
///
/// Thread: the host thread.
/// Ownership: both strings are copied.
/// Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` when the prefix
/// does not start with '/' or the directory does not exist.
#[unsafe(no_mangle)]
pub extern "C" fn sq_server_static(server: *mut sq_server, url_prefix: *const c_char, directory: *const c_char) -> sq_status {
    ffi_boundary! {
        let s = try_ref!(sq_server, server, "server");
        // SAFETY: NUL-terminated strings per the API contract.
        let prefix = ffi_try!(unsafe { str_arg(url_prefix, "url_prefix") });
        // SAFETY: as above.
        let dir = ffi_try!(unsafe { str_arg(directory, "directory") });
        ffi_try!(s.add_static(prefix, dir));
        SQ_OK
    }
}

/// Binds a listening socket on `host:port` now (port 0 picks a free port;
/// the bound port is written to `port_out` if it is not NULL) and starts
/// accepting when the loop runs, on every reactor thread. May be called
/// several times for several addresses. `host` is an IP address or a name
/// resolved once, here ("127.0.0.1", "::1", "0.0.0.0", "localhost").
///
/// Thread: the host thread.
/// Ownership: `host` is copied.
/// Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` for a host that
/// does not resolve; `SQ_ERR_IO` when binding fails (address in use,
/// permission), with the reason in `sq_last_error()`; `SQ_ERR_CLOSED`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_server_listen(server: *mut sq_server, host: *const c_char, port: u16, port_out: *mut u16) -> sq_status {
    ffi_boundary! {
        let s = try_ref!(sq_server, server, "server");
        // SAFETY: NUL-terminated string per the API contract.
        let host = ffi_try!(unsafe { str_arg(host, "host") });
        let addr = ffi_try!(s.listen(host, port));
        if !port_out.is_null() {
            // SAFETY: non-NULL out-parameter given by the caller.
            unsafe { *port_out = addr.port() };
        }
        SQ_OK
    }
}

/// Serves on a socket the caller already bound and put in listening state
/// (`socket(2)`, `bind(2)`, `listen(2)`; a Go `net.Listener`'s descriptor, a
/// socket inherited from a supervisor), instead of binding one with
/// `sq_server_listen`. squall makes it non-blocking and accepts from it when
/// the loop runs, on every reactor thread (the others watch duplicates).
///
/// Thread: the host thread.
/// Ownership: on `SQ_OK` squall owns `fd` and closes it with the server;
/// on an error the caller still owns it. The bound port is written to
/// `port_out` if it is not NULL.
/// Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` when `fd` is not a
/// listening TCP socket (the message says why); `SQ_ERR_IO`; `SQ_ERR_CLOSED`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_server_listen_fd(server: *mut sq_server, fd: i32, port_out: *mut u16) -> sq_status {
    ffi_boundary! {
        let s = try_ref!(sq_server, server, "server");
        let socket = ffi_try!(crate::net::sys::adopt_tcp_listener(fd)
            .map_err(|e| Error::new(ErrorKind::InvalidArg, e.to_string())));
        let addr = match s.listen_socket(socket) {
            Ok(addr) => addr,
            Err((e, socket)) => {
                // The descriptor stays the caller's on an error.
                let _ = std::os::fd::IntoRawFd::into_raw_fd(socket);
                ffi_try!(Err(e))
            }
        };
        if !port_out.is_null() {
            // SAFETY: non-NULL out-parameter given by the caller.
            unsafe { *port_out = addr.port() };
        }
        SQ_OK
    }
}

/// Shuts the server down gracefully: it stops accepting at once, closes
/// idle keep-alive connections, lets requests in flight finish (their
/// responses carry `Connection: close`), and after `deadline_ms` closes
/// whatever is still open (handlers then get `SQ_ERR_CLOSED`). When every
/// connection is closed, `done(userdata)` runs once on the host thread (it may
/// stop the loop or free the server). The server stays allocated: free it
/// with `sq_server_free`.
///
/// Thread: any thread (a signal-handling thread, say).
/// Ownership: squall keeps `userdata` (without dereferencing it) until
/// `done` has run.
/// Returns: `SQ_OK`; `SQ_ERR_ALREADY_DONE` if a shutdown was already asked
/// for (`done` will not be called for this call); `SQ_ERR_NULL` (server);
/// `SQ_ERR_CLOSED` when the loop is gone. `done` may be NULL.
#[unsafe(no_mangle)]
pub extern "C" fn sq_server_shutdown(server: *mut sq_server, deadline_ms: u64, done: super::event_loop::sq_callback, userdata: *mut c_void) -> sq_status {
    ffi_boundary! {
        let s = try_ref!(sq_server, server, "server");
        let cb = done.map(|f| Task::Raw(RawCallback { f, data: userdata }));
        ffi_try!(s.shutdown(std::time::Duration::from_millis(deadline_ms), cb));
        SQ_OK
    }
}

/// Applies one limit after checking its minimum.
fn set_limit(server: *mut sq_server, value: u64, min: u64, name: &str, apply: impl FnOnce(&mut crate::http::shared::Config, u64)) -> sq_status {
    let s = try_ref!(sq_server, server, "server");
    if value < min {
        return super::boundary::fail(Error::new(ErrorKind::InvalidArg, format!("{name} must be at least {min}")));
    }
    s.configure(|c| apply(c, value));
    SQ_OK
}

    /// Largest request head (request line and headers) in bytes; a larger one
    /// gets 431. Default 65536. Applies to connections accepted afterwards.
    ///
    /// Thread: the host thread.
    /// Ownership: nothing changes hands.
    /// Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` below 256.
#[unsafe(no_mangle)]
pub extern "C" fn sq_server_set_max_header_size(server: *mut sq_server, value: usize) -> sq_status {
    ffi_boundary! {
        set_limit(server, value as u64, 256, "sq_server_set_max_header_size", |c, v| c.limits.max_header_size = v as usize)
    }
}

    /// Most header lines in a request; more get 431. Default 100.
    ///
    /// Thread: the host thread.
    /// Ownership: nothing changes hands.
    /// Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` below 1.
#[unsafe(no_mangle)]
pub extern "C" fn sq_server_set_max_headers(server: *mut sq_server, value: u32) -> sq_status {
    ffi_boundary! {
        set_limit(server, u64::from(value), 1, "sq_server_set_max_headers", |c, v| c.limits.max_headers = v as usize)
    }
}

    /// Longest request-target (path and query) in bytes; longer gets 414.
    /// Default 8192.
    ///
    /// Thread: the host thread.
    /// Ownership: nothing changes hands.
    /// Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` below 16.
#[unsafe(no_mangle)]
pub extern "C" fn sq_server_set_max_request_target(server: *mut sq_server, value: usize) -> sq_status {
    ffi_boundary! {
        set_limit(server, value as u64, 16, "sq_server_set_max_request_target", |c, v| c.limits.max_request_target = v as usize)
    }
}

    /// Largest request body in bytes; a larger one gets 413, before the body
    /// is read when Content-Length says so, and as soon as a chunked body
    /// crosses it. Default 64 MiB.
    ///
    /// Thread: the host thread.
    /// Ownership: nothing changes hands.
    /// Returns: `SQ_OK`; `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_server_set_max_body_size(server: *mut sq_server, value: u64) -> sq_status {
    ffi_boundary! {
        set_limit(server, value, 0, "sq_server_set_max_body_size", |c, v| c.limits.max_body_size = v)
    }
}

    /// Time allowed to receive a whole request head, counted from the
    /// connection's accept for the first request (slowloris) and from the
    /// first byte for later ones; past it the client gets 408 (a connection
    /// that sent nothing at all is closed without one). Default 10000 ms.
    ///
    /// Thread: the host thread.
    /// Ownership: nothing changes hands.
    /// Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` below 1.
#[unsafe(no_mangle)]
pub extern "C" fn sq_server_set_header_timeout_ms(server: *mut sq_server, value: u64) -> sq_status {
    ffi_boundary! {
        set_limit(server, value, 1, "sq_server_set_header_timeout_ms", |c, v| c.limits.header_timeout_ms = v)
    }
}

    /// Time allowed to receive a request body after its head; past it the
    /// client gets 408. Default 60000 ms.
    ///
    /// Thread: the host thread.
    /// Ownership: nothing changes hands.
    /// Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` below 1.
#[unsafe(no_mangle)]
pub extern "C" fn sq_server_set_body_timeout_ms(server: *mut sq_server, value: u64) -> sq_status {
    ffi_boundary! {
        set_limit(server, value, 1, "sq_server_set_body_timeout_ms", |c, v| c.limits.body_timeout_ms = v)
    }
}

    /// How long a keep-alive connection may stay idle between requests before
    /// the server closes it, and a new connection before its first byte
    /// arrives (when this is shorter than the header timeout). Default 75000 ms.
    ///
    /// Thread: the host thread.
    /// Ownership: nothing changes hands.
    /// Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` below 1.
#[unsafe(no_mangle)]
pub extern "C" fn sq_server_set_idle_timeout_ms(server: *mut sq_server, value: u64) -> sq_status {
    ffi_boundary! {
        set_limit(server, value, 1, "sq_server_set_idle_timeout_ms", |c, v| c.limits.idle_timeout_ms = v)
    }
}

    /// Most open connections; beyond it new connections are accepted and
    /// closed at once. Default 100000.
    ///
    /// Thread: the host thread.
    /// Ownership: nothing changes hands.
    /// Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` below 1.
#[unsafe(no_mangle)]
pub extern "C" fn sq_server_set_max_connections(server: *mut sq_server, value: u32) -> sq_status {
    ffi_boundary! {
        set_limit(server, u64::from(value), 1, "sq_server_set_max_connections", |c, v| c.max_connections = v as usize)
    }
}

    /// The listen(2) backlog of sockets bound afterwards. Default 1024.
    ///
    /// Thread: the host thread.
    /// Ownership: nothing changes hands.
    /// Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` below 1.
#[unsafe(no_mangle)]
pub extern "C" fn sq_server_set_backlog(server: *mut sq_server, value: i32) -> sq_status {
    ffi_boundary! {
        set_limit(server, value.max(0) as u64, 1, "sq_server_set_backlog", |c, v| c.backlog = v as i32)
    }
}

    /// The flow limits of connections accepted afterwards: reading pauses
    /// while more than `high_water` waits, counted as bytes plus 1 KiB per
    /// event — WebSocket messages (and pings and pongs the route listens to)
    /// not yet returned from their callback, the chunks of a streamed
    /// request body not yet taken, the bodies of pipelined requests in
    /// flight, and queued output the peer has not read (responses, frames,
    /// pongs) — and resumes once less than `low_water` does. What is not
    /// read stays in the kernel and TCP slows the peer. Defaults 1 MiB and
    /// 256 KiB (docs/ARCHITECTURE.md, "What a peer can make us hold").
    ///
    /// Thread: the host thread.
    /// Ownership: nothing changes hands.
    /// Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` when
    /// `high_water` is below 4096, or `low_water` is 0 or above `high_water`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_server_set_flow_limits(server: *mut sq_server, high_water: usize, low_water: usize) -> sq_status {
    ffi_boundary! {
        let s = try_ref!(sq_server, server, "server");
        match s.set_flow_limits(high_water, low_water) {
            Ok(()) => SQ_OK,
            Err(e) => super::boundary::fail(e),
        }
    }
}

    /// How long a connection whose peer reads none of the output waiting
    /// for it may stay: past it, an HTTP connection is closed (what it held
    /// is dropped) and a WebSocket is closed with `on_close` 1008; counted
    /// as closed for `timeout` in the metrics. 0: no limit. Default 60000 ms
    /// (nginx's `send_timeout`). Checked on the reactor's sweep (every
    /// 250 ms): a stall is closed after at least this long. Applies to
    /// connections accepted afterwards.
    ///
    /// Thread: the host thread.
    /// Ownership: nothing changes hands.
    /// Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` above 2^31 ms.
#[unsafe(no_mangle)]
pub extern "C" fn sq_server_set_send_timeout_ms(server: *mut sq_server, value: u64) -> sq_status {
    ffi_boundary! {
        if value > (1 << 31) {
            return super::boundary::fail(Error::new(ErrorKind::InvalidArg, "sq_server_set_send_timeout_ms: at most 2^31 ms"));
        }
        set_limit(server, value, 0, "sq_server_set_send_timeout_ms", |c, v| c.send_timeout_ms = v)
    }
}
