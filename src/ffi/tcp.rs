//! `sq_tcp`: raw TCP streams (Tornado's IOStream), listeners that accept
//! them (TCPServer) and connects (TCPClient).

use std::ffi::{c_char, c_void};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::boundary::{
    Castable, fail, fail_null, ffi_boundary, ffi_try, id_ptr, into_ptr, set_last_error, str_arg, take_box, try_ref,
    word_ptr,
};
use super::event_loop::sq_loop;
use super::server::SQ_INLINE;
use super::status::{SQ_OK, sq_status, status_of};
use super::ws::{SQ_BACKPRESSURE, bytes_arg, known_prefix, read_versioned};
use crate::reactor::flow::{MIN_HIGH_WATER, Marks};
use crate::reactor::handles::Stale;
use crate::tcp::listener::Listener;
use crate::tcp::stream::TcpShared;
use crate::tcp::{Config, Options, StreamEvents, StreamId};
use crate::net::writeq::Sent;
use crate::{Error, ErrorKind};

/// A TCP stream (accepted by a listener, or connected). An opaque handle,
/// not a pointer to memory: squall never dereferences it and neither may
/// the caller. It is valid from `on_connect` until the `on_close` callback
/// for it has returned; after that every function taking it returns
/// `SQ_ERR_CLOSED`, never undefined behaviour.
#[derive(Debug)]
pub struct sq_tcp {
    _private: [u8; 0],
}

/// A listening TCP socket made by `sq_tcp_listen`, freed with
/// `sq_tcp_listener_free`.
#[derive(Debug)]
pub struct sq_tcp_listener {
    _private: [u8; 0],
}

impl Castable for sq_tcp_listener {
    type Rust = Listener;
}

/// The callbacks of a listener's streams or of a connect. `userdata` is the
/// stream's: the one given to `sq_tcp_listen`/`sq_tcp_connect`, until the
/// stream sets its own with `sq_tcp_set_userdata`. Callbacks run on the
/// loop's host thread, one at a time (on the reactor thread with
/// `SQ_INLINE`), in order: `on_connect`, `on_data`…, `on_end`, `on_close`.
/// Pointers handed to a callback are valid until it returns.
///
/// Set `size` to `sizeof(sq_tcp_callbacks)`: a library newer than the
/// program reads only the fields the program knew about.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct sq_tcp_callbacks {
    /// `sizeof(sq_tcp_callbacks)` as the program was compiled.
    pub size: usize,
    /// A stream was accepted (`status` `SQ_OK`), or a connect finished:
    /// `SQ_OK` with the new stream, or a failure with `stream` NULL and
    /// `sq_last_error()` saying why: `SQ_ERR_RESOLVE` (the name did not
    /// resolve), `SQ_ERR_CONNECT` (refused or unreachable at every address),
    /// `SQ_ERR_TIMEOUT` (the connect timeout passed). Required for a connect.
    pub on_connect: Option<unsafe extern "C" fn(userdata: *mut c_void, stream: *mut sq_tcp, status: sq_status)>,
    /// Bytes arrived (`len` > 0). Not called after `sq_tcp_close` or
    /// `sq_tcp_abort` returned.
    pub on_data: Option<unsafe extern "C" fn(userdata: *mut c_void, stream: *mut sq_tcp, data: *const c_void, len: usize)>,
    /// The peer finished sending (EOF); the stream stays open for writing
    /// until `sq_tcp_close`. NULL: the stream is closed gracefully at EOF
    /// (after the `on_data` calls before it, whose writes are still sent).
    pub on_end: Option<unsafe extern "C" fn(userdata: *mut c_void, stream: *mut sq_tcp)>,
    /// The buffered output fell to `high_water` or below after a write
    /// returned `SQ_BACKPRESSURE`.
    pub on_drain: Option<unsafe extern "C" fn(userdata: *mut c_void, stream: *mut sq_tcp)>,
    /// The stream is closed: `SQ_OK` (closed by `sq_tcp_close` or
    /// `sq_tcp_abort`, or by squall after the peer's EOF), `SQ_ERR_IO` (reset
    /// or another socket error; `sq_last_error()` says which),
    /// `SQ_ERR_TIMEOUT` (a graceful close could not write its output within
    /// `close_timeout_ms`), `SQ_ERR_PANIC`. Called once per stream; the
    /// handle is invalid after it returns.
    pub on_close: Option<unsafe extern "C" fn(userdata: *mut c_void, stream: *mut sq_tcp, status: sq_status)>,
}

/// Options of a listener's streams or of a connect. Fill it with
/// `sq_tcp_options_init(&o, sizeof o)`, then change what you need. Every
/// field is 8 bytes wide, so that `size` always ends on a field.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct sq_tcp_options {
    /// `sizeof(sq_tcp_options)` as the program was compiled (set by init).
    pub size: usize,
    /// A connect (name resolution and every address) fails with
    /// `SQ_ERR_TIMEOUT` after this many milliseconds; 0: no limit. Default 20000.
    pub connect_timeout_ms: u64,
    /// Buffered output above which writes return `SQ_BACKPRESSURE`. Default 256 KiB.
    pub high_water: usize,
    /// Buffered output above which a write is refused (`SQ_ERR_LIMIT`,
    /// nothing queued). A write always fits into an empty buffer. Default 16 MiB.
    pub max_buffer: usize,
    /// How long a graceful close waits for its output to be written before
    /// the connection is dropped (`on_close` with `SQ_ERR_TIMEOUT`); 0: no
    /// limit. Default 30000.
    pub close_timeout_ms: u64,
    /// The listen backlog (listeners only). Default 1024.
    pub backlog: u64,
    /// Nonzero sets TCP_NODELAY on every stream (the default, 1).
    pub nodelay: u64,
    /// `SQ_INLINE`: callbacks run on the reactor thread that owns the stream.
    pub flags: u64,
    /// Input handed to `on_data` and not yet returned from it above which
    /// reading pauses (each call counting 1 KiB more than its bytes); it
    /// resumes below a quarter of it. At least 4096. Default 1 MiB.
    pub read_high_water: usize,
    /// Listeners only: serve TLS with this configuration (see
    /// `sq_tls_config`; no ALPN protocol is offered, a client's ALPN list is
    /// ignored); NULL (the default): plain TCP. What the streams need is
    /// copied by `sq_tcp_listen`: the config may be freed afterwards. The
    /// handshake runs before the first `on_data` (`on_connect` comes at
    /// accept; what is written before the handshake ends waits for it) and
    /// must end within 10 s, or the stream closes with `SQ_ERR_TIMEOUT`. A
    /// connect with a TLS configuration is `SQ_ERR_INVALID_ARG`.
    pub tls: *const super::tls::sq_tls_config,
}

const _: () = assert!(std::mem::size_of::<sq_tcp_options>() == 10 * 8);
const _: () = assert!(std::mem::size_of::<sq_tcp_callbacks>() == 6 * 8);

/// The C host's stream events: its callbacks for the streams of one
/// listener or connect, and the userdata each of those streams starts with
/// (the stream's user word holds its userdata from then on).
#[derive(Debug)]
struct CStreamEvents {
    cb: sq_tcp_callbacks,
    userdata: *mut c_void,
}

// SAFETY: `userdata` is only handed back to the host's callbacks, which is
// what the host asked for; squall never reads through it. The callbacks
// are plain function pointers.
unsafe impl Send for CStreamEvents {}
// SAFETY: as above: nothing here is dereferenced or mutated.
unsafe impl Sync for CStreamEvents {}

/// The status of a failure handed to a callback, with `sq_last_error()`
/// set to its message on this thread first.
fn failure_status(e: &Error) -> sq_status {
    set_last_error(e.message());
    status_of(e.kind())
}

impl StreamEvents for CStreamEvents {
    fn first_user_word(&self) -> usize {
        self.userdata as usize
    }

    fn wants_end(&self) -> bool {
        self.cb.on_end.is_some()
    }

    fn on_connect(&self, user: usize, outcome: Result<StreamId, &Error>) {
        let Some(cb) = self.cb.on_connect else { return };
        let (stream, status) = match outcome {
            Ok(id) => (id_ptr::<sq_tcp>(id), SQ_OK),
            Err(e) => (std::ptr::null_mut(), failure_status(e)),
        };
        // SAFETY: a callback the host registered, with its userdata and the
        // stream's handle (an id, never dereferenced), or NULL for a failure.
        unsafe { cb(word_ptr(user), stream, status) };
    }

    fn on_data(&self, user: usize, id: StreamId, data: &[u8]) {
        if let Some(cb) = self.cb.on_data {
            // SAFETY: as in `on_connect`; `data` outlives the call.
            unsafe { cb(word_ptr(user), id_ptr::<sq_tcp>(id), data.as_ptr().cast(), data.len()) };
        }
    }

    fn on_end(&self, user: usize, id: StreamId) {
        if let Some(cb) = self.cb.on_end {
            // SAFETY: as in `on_connect`.
            unsafe { cb(word_ptr(user), id_ptr::<sq_tcp>(id)) };
        }
    }

    fn on_drain(&self, user: usize, id: StreamId) {
        if let Some(cb) = self.cb.on_drain {
            // SAFETY: as in `on_connect`.
            unsafe { cb(word_ptr(user), id_ptr::<sq_tcp>(id)) };
        }
    }

    fn on_close(&self, user: usize, id: StreamId, outcome: Result<(), &Error>) {
        let Some(cb) = self.cb.on_close else { return };
        let status = match outcome {
            Ok(()) => SQ_OK,
            Err(e) => failure_status(e),
        };
        // SAFETY: as in `on_connect`.
        unsafe { cb(word_ptr(user), id_ptr::<sq_tcp>(id), status) };
    }
}

fn default_options() -> sq_tcp_options {
    let d = Options::default();
    sq_tcp_options {
        size: std::mem::size_of::<sq_tcp_options>(),
        connect_timeout_ms: d.connect_timeout_ms,
        high_water: d.high_water,
        max_buffer: d.max_buffer,
        close_timeout_ms: d.close_timeout_ms,
        backlog: d.backlog as u64,
        nodelay: u64::from(d.nodelay),
        flags: 0,
        read_high_water: d.read_marks.high,
        tls: std::ptr::null(),
    }
}

/// Fills `options` with the defaults and sets its `size`. Pass
/// `sizeof(sq_tcp_options)` as the program sees it: a newer library writes
/// no more than that.
///
/// Thread: any thread.
/// Ownership: writes at most `size` bytes into the caller's struct.
/// Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` when `size` is
/// smaller than the `size` field itself.
#[unsafe(no_mangle)]
pub extern "C" fn sq_tcp_options_init(options: *mut sq_tcp_options, size: usize) -> sq_status {
    ffi_boundary! {
        if options.is_null() {
            return fail_null("options");
        }
        let n = known_prefix::<sq_tcp_options>(size);
        if n == 0 {
            return fail(Error::new(ErrorKind::InvalidArg, "size is smaller than the struct's size field"));
        }
        let o = sq_tcp_options { size: n, ..default_options() };
        // SAFETY: the caller's struct has at least `size` >= n bytes.
        unsafe { std::ptr::copy_nonoverlapping((&raw const o).cast::<u8>(), options.cast::<u8>(), n) };
        SQ_OK
    }
}

/// Reads the callbacks and options structs: the streams' events (with
/// their first userdata) and options.
fn config(
    callbacks: *const sq_tcp_callbacks,
    options: *const sq_tcp_options,
    userdata: *mut c_void,
    listener: bool,
) -> Result<(CStreamEvents, Options), Error> {
    if callbacks.is_null() {
        return Err(Error::new(ErrorKind::Null, "callbacks is NULL"));
    }
    let none = sq_tcp_callbacks { size: 0, on_connect: None, on_data: None, on_end: None, on_drain: None, on_close: None };
    // SAFETY: a live struct starting with its size, per the API contract.
    let callbacks = unsafe { read_versioned(callbacks, none) }?;
    let o = if options.is_null() {
        default_options()
    } else {
        // SAFETY: as above.
        unsafe { read_versioned(options, default_options()) }?
    };
    if o.flags & !u64::from(SQ_INLINE) != 0 {
        return Err(Error::new(ErrorKind::InvalidArg, format!("unknown TCP flags {:#x}", o.flags)));
    }
    if o.high_water == 0 || o.max_buffer == 0 {
        return Err(Error::new(ErrorKind::InvalidArg, "high_water and max_buffer must not be 0"));
    }
    if o.read_high_water < MIN_HIGH_WATER {
        return Err(Error::new(ErrorKind::InvalidArg, format!("read_high_water must be at least {MIN_HIGH_WATER}")));
    }
    let backlog = i32::try_from(o.backlog).map_err(|_| Error::new(ErrorKind::InvalidArg, "backlog is too large"))?;
    let opts = Options {
        connect_timeout_ms: o.connect_timeout_ms,
        high_water: o.high_water,
        max_buffer: o.max_buffer.max(o.high_water),
        close_timeout_ms: o.close_timeout_ms,
        backlog,
        nodelay: o.nodelay != 0,
        inline: o.flags & u64::from(SQ_INLINE) != 0,
        read_marks: Marks { high: o.read_high_water, low: o.read_high_water / 4 },
        tls: match (o.tls.is_null(), listener) {
            (true, _) => None,
            (false, true) => Some(super::tls::build_for_tcp(o.tls)?),
            (false, false) => {
                return Err(Error::new(ErrorKind::InvalidArg, "options.tls is for listeners: a TLS connect is not supported"));
            }
        },
    };
    Ok((CStreamEvents { cb: callbacks, userdata }, opts))
}

/// Binds a listening socket on `host:port` now (port 0 picks a free port:
/// see `sq_tcp_listener_port`) and accepts streams once the loop runs, on
/// every reactor thread (each with its own SO_REUSEPORT socket). Each
/// accepted stream gets `on_connect` with `SQ_OK`. `host` is an IP address
/// or a name resolved once, here.
///
/// Thread: the host thread, before or while the loop runs.
/// Ownership: `host`, `*callbacks` and `*options` are copied. The caller
/// frees the listener with `sq_tcp_listener_free`. squall keeps `userdata`
/// (without dereferencing it): it is every accepted stream's first
/// userdata, used until that stream's `on_close` has returned.
/// Returns: the listener; NULL on failure (`sq_last_error()`): a NULL
/// argument, bad options (unknown flags, a zero limit, `size` not set), a
/// host that does not resolve, or a bind that fails (address in use).
#[unsafe(no_mangle)]
pub extern "C" fn sq_tcp_listen(
    r#loop: *mut sq_loop,
    host: *const c_char,
    port: u16,
    callbacks: *const sq_tcp_callbacks,
    options: *const sq_tcp_options,
    userdata: *mut c_void,
) -> *mut sq_tcp_listener {
    ffi_boundary! {
        let lp = try_ref!(sq_loop, r#loop, "loop");
        // SAFETY: NUL-terminated string per the API contract.
        let host = ffi_try!(unsafe { str_arg(host, "host") });
        let (events, opts) = ffi_try!(config(callbacks, options, userdata, true));
        let config = Config { events: Arc::new(events), opts, listener_dead: None };
        let listener = ffi_try!(Listener::bind(lp.handle(), host, port, config));
        into_ptr::<sq_tcp_listener>(listener)
    }
}

/// The port a listener is bound to (the one picked when it asked for 0).
///
/// Thread: any thread.
/// Ownership: nothing changes hands.
/// Returns: the port (1–65535); `SQ_ERR_NULL` for NULL.
#[unsafe(no_mangle)]
pub extern "C" fn sq_tcp_listener_port(listener: *const sq_tcp_listener) -> i32 {
    ffi_boundary! {
        let l = try_ref!(sq_tcp_listener, listener, "listener");
        i32::from(l.shared.addr.port())
    }
}

/// Stops accepting and frees the listener. Streams it accepted live on (and
/// keep their callbacks and userdata); a stream accepted while this runs
/// and not yet announced is closed without any callback. When it returns,
/// `on_connect` is not called again for this listener. NULL is a harmless
/// no-op.
///
/// Thread: the host thread (from a callback too), before or after
/// `sq_loop_free`. Not from an `SQ_INLINE` callback of another reactor.
/// Ownership: takes the listener back; the pointer must not be used again.
/// Returns: nothing.
#[unsafe(no_mangle)]
pub extern "C" fn sq_tcp_listener_free(listener: *mut sq_tcp_listener) {
    ffi_boundary! {
        // SAFETY: NULL or a live listener from sq_tcp_listen, handed back.
        drop(unsafe { take_box::<sq_tcp_listener>(listener) });
    }
}

/// Connects to `host:port`: the name is resolved off the reactor (a literal
/// address is used as is), then every address is tried in order (IPv4 and
/// IPv6, as the resolver lists them) until one accepts, all within
/// `connect_timeout_ms`. `on_connect` tells the outcome: a stream with
/// `SQ_OK`, or NULL and `SQ_ERR_RESOLVE` / `SQ_ERR_CONNECT` /
/// `SQ_ERR_TIMEOUT`. Called before the loop runs, the connect starts when
/// it does.
///
/// Thread: any thread.
/// Ownership: `host`, `*callbacks` and `*options` are copied. squall keeps
/// `userdata` (without dereferencing it) until `on_connect` (failure) or
/// the stream's `on_close` has returned; if the loop is freed first, no
/// callback runs.
/// Returns: `SQ_OK` (`on_connect` will be called); `SQ_ERR_NULL` (a NULL
/// argument, or no `on_connect`); `SQ_ERR_INVALID_ARG` (port 0, an empty
/// host, bad options); `SQ_ERR_CLOSED` (the loop is freed).
#[unsafe(no_mangle)]
pub extern "C" fn sq_tcp_connect(
    r#loop: *mut sq_loop,
    host: *const c_char,
    port: u16,
    callbacks: *const sq_tcp_callbacks,
    options: *const sq_tcp_options,
    userdata: *mut c_void,
) -> sq_status {
    ffi_boundary! {
        let lp = try_ref!(sq_loop, r#loop, "loop");
        // SAFETY: NUL-terminated string per the API contract.
        let host = ffi_try!(unsafe { str_arg(host, "host") });
        let (events, opts) = ffi_try!(config(callbacks, options, userdata, false));
        if events.cb.on_connect.is_none() {
            return fail_null("callbacks->on_connect");
        }
        if host.is_empty() || port == 0 {
            return fail(Error::new(ErrorKind::InvalidArg, "a connect needs a host and a port above 0"));
        }
        ffi_try!(lp.handle().check_usable());
        let config = Config { events: Arc::new(events), opts, listener_dead: None };
        crate::tcp::stream::connect(lp.handle(), host.to_owned(), port, Arc::new(config));
        SQ_OK
    }
}

fn stream(s: *mut sq_tcp) -> Result<Arc<TcpShared>, Error> {
    let id = s as usize as u64;
    if id == 0 {
        return Err(Error::new(ErrorKind::Null, "stream is NULL"));
    }
    crate::tcp::STREAMS.get(id).map_err(|e| match e {
        Stale::Released => Error::new(ErrorKind::Closed, "the stream is closed"),
        Stale::Invalid => Error::new(ErrorKind::InvalidArg, "not a TCP stream handle"),
    })
}

/// Writes `len` bytes to the stream: copied now, written by the stream's
/// reactor in the order of the calls made by each thread.
///
/// Thread: any thread.
/// Ownership: `data` is copied before the call returns.
/// Returns: `SQ_OK` (queued); `SQ_BACKPRESSURE` (queued, but more than
/// `high_water` is buffered: wait for `on_drain`); `SQ_ERR_LIMIT` (not
/// queued: over `max_buffer`); `SQ_ERR_CLOSED` (closing or closed, or a
/// handle whose `on_close` has returned); `SQ_ERR_INVALID_ARG` (not a
/// stream handle); `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_tcp_write(stream: *mut sq_tcp, data: *const c_void, len: usize) -> sq_status {
    ffi_boundary! {
        let s = ffi_try!(self::stream(stream));
        let bytes = ffi_try!(bytes_arg(data, len));
        match ffi_try!(s.write(bytes)) {
            Sent::Queued => SQ_OK,
            Sent::Backpressure => SQ_BACKPRESSURE,
        }
    }
}

/// The bytes written to the stream and not yet taken by the socket (writes
/// on their way to its reactor included).
///
/// Thread: any thread.
/// Ownership: nothing changes hands.
/// Returns: the count; 0 for a closed or invalid handle.
#[unsafe(no_mangle)]
pub extern "C" fn sq_tcp_buffered_amount(stream: *mut sq_tcp) -> usize {
    ffi_boundary! {
        match self::stream(stream) {
            Ok(s) => s.buffered.load(Ordering::Acquire),
            Err(e) => fail(e),
        }
    }
}

/// Closes the stream gracefully: what was written is sent, then the
/// connection is shut down (FIN) and closed; `on_close` follows (with
/// `SQ_ERR_TIMEOUT` if the output could not be written within
/// `close_timeout_ms`). From now on writes return `SQ_ERR_CLOSED` and no
/// `on_data`, `on_end` or `on_drain` is called.
///
/// Thread: any thread (from inside `on_data` too).
/// Ownership: nothing changes hands; the handle stays valid until `on_close` returns.
/// Returns: `SQ_OK`; `SQ_ERR_CLOSED` (already closing or closed);
/// `SQ_ERR_INVALID_ARG`; `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_tcp_close(stream: *mut sq_tcp) -> sq_status {
    ffi_boundary! {
        let s = ffi_try!(self::stream(stream));
        ffi_try!(s.close(false));
        SQ_OK
    }
}

/// Closes the stream at once: queued output is dropped and the peer gets a
/// reset (RST). `on_close` follows with `SQ_OK`. Also ends a graceful close
/// that is taking too long.
///
/// Thread: any thread.
/// Ownership: nothing changes hands; the handle stays valid until `on_close` returns.
/// Returns: `SQ_OK`; `SQ_ERR_CLOSED` (a handle whose `on_close` returned);
/// `SQ_ERR_INVALID_ARG`; `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_tcp_abort(stream: *mut sq_tcp) -> sq_status {
    ffi_boundary! {
        let s = ffi_try!(self::stream(stream));
        ffi_try!(s.close(true));
        SQ_OK
    }
}

/// Stops reading from the stream (the host's own flow control): the peer
/// is slowed down by TCP once the kernel buffers fill. `on_data` calls
/// already on their way still arrive. Undone by `sq_tcp_resume_reading`.
/// (squall also pauses by itself while more than 1 MiB handed to `on_data`
/// is not yet consumed.)
///
/// Thread: any thread.
/// Ownership: nothing changes hands.
/// Returns: `SQ_OK`; `SQ_ERR_CLOSED`; `SQ_ERR_INVALID_ARG`; `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_tcp_pause_reading(stream: *mut sq_tcp) -> sq_status {
    ffi_boundary! {
        let s = ffi_try!(self::stream(stream));
        ffi_try!(s.pause_reading());
        SQ_OK
    }
}

/// Reads from the stream again after `sq_tcp_pause_reading` (no effect if
/// it was not paused).
///
/// Thread: any thread.
/// Ownership: nothing changes hands.
/// Returns: `SQ_OK`; `SQ_ERR_CLOSED`; `SQ_ERR_INVALID_ARG`; `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_tcp_resume_reading(stream: *mut sq_tcp) -> sq_status {
    ffi_boundary! {
        let s = ffi_try!(self::stream(stream));
        ffi_try!(s.resume_reading());
        SQ_OK
    }
}

/// Sets the userdata handed to this stream's callbacks from now on.
///
/// Thread: any thread (the callbacks see the new value once this returns).
/// Ownership: squall stores the pointer without dereferencing it; the host
/// frees what it points to, at the earliest in `on_close`.
/// Returns: `SQ_OK`; `SQ_ERR_CLOSED`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_tcp_set_userdata(stream: *mut sq_tcp, userdata: *mut c_void) -> sq_status {
    ffi_boundary! {
        let s = ffi_try!(self::stream(stream));
        s.set_user_word(userdata as usize);
        SQ_OK
    }
}

/// The stream's userdata (the listener's or connect's until
/// `sq_tcp_set_userdata`).
///
/// Thread: any thread.
/// Ownership: the pointer the host stored.
/// Returns: the userdata; NULL for a closed or invalid handle.
#[unsafe(no_mangle)]
pub extern "C" fn sq_tcp_userdata(stream: *mut sq_tcp) -> *mut c_void {
    ffi_boundary! {
        match self::stream(stream) {
            Ok(s) => word_ptr(s.user_word()),
            Err(e) => fail(e),
        }
    }
}

/// Writes the stream's peer address (`peer` nonzero) or local address
/// (`peer` 0): the IP as text, NUL-terminated, into `buf` (`len` bytes;
/// 46 always suffice) and the port into `*port` (if not NULL).
///
/// Thread: any thread.
/// Ownership: writes into the caller's buffer only.
/// Returns: `SQ_OK`; `SQ_ERR_LIMIT` (`buf` too small, nothing written);
/// `SQ_ERR_CLOSED`; `SQ_ERR_INVALID_ARG`; `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_tcp_address(stream: *mut sq_tcp, peer: i32, buf: *mut c_char, len: usize, port: *mut u16) -> sq_status {
    ffi_boundary! {
        let s = ffi_try!(self::stream(stream));
        if buf.is_null() {
            return fail_null("buf");
        }
        let addr = if peer != 0 { s.peer.get() } else { s.local.get() };
        let Some(addr) = addr else {
            return fail(Error::new(ErrorKind::Closed, "the address is not known"));
        };
        let text = addr.ip().to_string();
        if text.len() + 1 > len {
            return fail(Error::new(ErrorKind::Limit, format!("the address needs {} bytes", text.len() + 1)));
        }
        // SAFETY: the caller's buffer holds `len` > text.len() bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast::<u8>(), text.len());
            *buf.add(text.len()) = 0;
        }
        if !port.is_null() {
            // SAFETY: non-NULL out-parameter given by the caller.
            unsafe { *port = addr.port() };
        }
        SQ_OK
    }
}
