//! `sq_ws`: WebSocket routes on an `sq_server`, the sockets they accept, and
//! topics (pub/sub).

use std::ffi::{c_char, c_int, c_void};
use std::sync::Arc;

use super::boundary::{fail, fail_null, ffi_boundary, ffi_try, id_ptr, str_arg, try_ref, word_ptr};
use super::request::{sq_request, sq_str};
use super::event_loop::sq_loop;
use super::server::{SQ_INLINE, sq_server};
use super::status::{SQ_OK, sq_status, status_of};
use crate::reactor::handles::Stale;
use crate::ws::deflate::offer::Policy;
use crate::ws::deflate::codec::{DEFAULT_LEVEL, DEFAULT_MEM_LEVEL};
use crate::ws::route::{Options, WsRoute};
use crate::net::writeq::Sent;
use crate::ws::socket::WsSocket;
use crate::ws::{Interest, MessageKind, SocketEvents};
use crate::{Error, ErrorKind};

/// A WebSocket accepted on a route. An opaque handle, not a pointer to
/// memory: squall never dereferences it and neither may the caller. It is
/// valid from `on_open` until the route's `on_close` callback for it has
/// returned; after that every function taking it returns `SQ_ERR_CLOSED`,
/// never undefined behaviour. Between a close (by either side) and
/// `on_close`, sends return `SQ_ERR_CLOSED` too.
#[derive(Debug)]
pub struct sq_ws {
    _private: [u8; 0],
}

/// What `check_origin` returns to decide later, on a route with the
/// `SQ_WS_DEFERRED_HANDSHAKE` flag: the handshake waits, and the host must
/// call `sq_ws_handshake_decide` for its request (an async `prepare()` runs
/// meanwhile). Without the flag it accepts, as any nonzero answer.
pub const SQ_WS_DECIDE_LATER: c_int = 2;

/// Route option: `check_origin` may answer `SQ_WS_DECIDE_LATER`.
pub const SQ_WS_DEFERRED_HANDSHAKE: u32 = 4;

/// Opcode of a text message (valid UTF-8).
pub const SQ_WS_TEXT: c_int = 1;
/// Opcode of a binary message.
pub const SQ_WS_BINARY: c_int = 2;

/// `sq_ws_send` / `sq_publish` status: the message was queued, but more than
/// the route's `high_water` bytes are now buffered for the socket. Not an
/// error (it is positive); the sender should wait for `on_drain` before
/// sending much more.
pub const SQ_BACKPRESSURE: sq_status = 1;

/// Route option: when a message would be buffered beyond
/// `max_backpressure`, close the socket (`on_close` with 1006) instead of
/// dropping the message.
pub const SQ_WS_CLOSE_ON_LIMIT: u32 = 2;

/// Client option (`sq_ws_connect`): accept any certificate from a wss://
/// server (its chain, dates and name unchecked; the handshake must still be
/// signed by the key of the certificate sent), as
/// `sq_fetch_request_set_verify(req, 0)` does for a fetch; `ca_file` is then
/// not used. Ignored by routes.
pub const SQ_WS_NO_VERIFY: u32 = 8;

/// `sq_ws_options.compression`: every permessage-deflate offer declined
/// (the default).
pub const SQ_WS_COMPRESSION_OFF: u64 = 0;
/// `sq_ws_options.compression`: permessage-deflate (RFC 7692) accepted when
/// the client offers it, in the shared mode: no context takeover either
/// way, each message compressed on its own by the sending thread's
/// compressor and inflated by the reactor thread's, so an idle socket holds
/// no compression state. A message that does not shrink goes uncompressed.
pub const SQ_WS_COMPRESSION_SHARED: u64 = 1;
/// `sq_ws_options.compression`: permessage-deflate accepted in the
/// dedicated mode: context takeover both ways (unless the client asks for
/// none), so repeated content compresses across messages, at a memory cost
/// per socket: its own compressor (window `compression_window_bits`, memory
/// level `compression_mem_level`, level `compression_level`) and its own
/// inflater, compressing on the socket's reactor in the order messages go
/// out. Route options only (a client socket offers and speaks what the
/// server accepts, as with `SQ_WS_COMPRESSION_SHARED`).
pub const SQ_WS_COMPRESSION_DEDICATED: u64 = 2;

/// `sq_ws_send_ex` / `sq_publish_ex` flag: never compress this message, whatever the socket
/// negotiated: for a secret sent next to data an attacker chooses, whose
/// compressed size would let them guess it (CRIME, BREACH).
pub const SQ_WS_SEND_NO_COMPRESS: u32 = 1;

/// The callbacks of a WebSocket route. Every callback is optional (NULL).
/// `userdata` is the socket's userdata: the route's, until the socket sets
/// its own with `sq_ws_set_userdata`. Callbacks run on the loop's host
/// thread, one at a time (on the reactor thread for an `SQ_INLINE` route).
/// Pointers handed to a callback are valid until it returns.
///
/// Set `size` to `sizeof(sq_ws_callbacks)`: a library newer than the
/// program reads only the fields the program knew about.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct sq_ws_callbacks {
    /// `sizeof(sq_ws_callbacks)` as the program was compiled.
    pub size: usize,
    /// The handshake succeeded. `req` is the upgrade request: its accessors
    /// (`sq_request_header`, `_query`, `_capture`, `_cookie`, …) work during
    /// this call only; its response functions return `SQ_ERR_ALREADY_DONE`.
    pub on_open: Option<unsafe extern "C" fn(userdata: *mut c_void, ws: *mut sq_ws, req: *mut sq_request)>,
    /// A whole message (fragments reassembled): `opcode` is `SQ_WS_TEXT`
    /// (valid UTF-8, not NUL-terminated) or `SQ_WS_BINARY`.
    pub on_message:
        Option<unsafe extern "C" fn(userdata: *mut c_void, ws: *mut sq_ws, data: *const c_void, len: usize, opcode: c_int)>,
    /// The socket is closed: `code` is the peer's close code (1005 when its
    /// close frame had none), the code squall sent after a protocol error
    /// (1002, 1007, 1009), 1001 after an idle timeout, or 1006 when the
    /// connection ended without a close frame. Called once per socket; the
    /// handle is invalid after it returns.
    pub on_close:
        Option<unsafe extern "C" fn(userdata: *mut c_void, ws: *mut sq_ws, code: u16, reason: *const c_char, reason_len: usize)>,
    /// The socket's buffered output fell back under `high_water` after a send
    /// returned `SQ_BACKPRESSURE`.
    pub on_drain: Option<unsafe extern "C" fn(userdata: *mut c_void, ws: *mut sq_ws)>,
    /// A ping arrived (squall already answered it).
    pub on_ping: Option<unsafe extern "C" fn(userdata: *mut c_void, ws: *mut sq_ws, data: *const c_void, len: usize)>,
    /// A pong arrived.
    pub on_pong: Option<unsafe extern "C" fn(userdata: *mut c_void, ws: *mut sq_ws, data: *const c_void, len: usize)>,
    /// Decides whether a handshake whose `Origin` is `origin` (`origin_len`
    /// 0 when the request had none) is accepted: return nonzero to accept, 0
    /// to refuse with 403; on a route with `SQ_WS_DEFERRED_HANDSHAKE`,
    /// `SQ_WS_DECIDE_LATER` to decide later with `sq_ws_handshake_decide`
    /// (the handshake waits; `select_subprotocol` is called then). NULL: same-origin only (no `Origin` passes; a
    /// browser's must name the `Host`). Gets the route's userdata.
    pub check_origin: Option<
        unsafe extern "C" fn(userdata: *mut c_void, req: *mut sq_request, origin: *const c_char, origin_len: usize) -> c_int,
    >,
    /// Picks a subprotocol among the `count` the client offered (in its
    /// order): return an index, or -1 for none. NULL: the first offered one
    /// that is in the route's `subprotocols` option. Gets the route's userdata.
    pub select_subprotocol: Option<
        unsafe extern "C" fn(userdata: *mut c_void, req: *mut sq_request, offered: *const sq_str, count: usize) -> c_int,
    >,
    /// Client sockets (`sq_ws_connect`) only: the connection or the
    /// handshake failed (`status`: `SQ_ERR_TIMEOUT`, `SQ_ERR_RESOLVE`,
    /// `SQ_ERR_CONNECT`, `SQ_ERR_TLS`, `SQ_ERR_PROTOCOL` for a refused
    /// handshake, `SQ_ERR_CLOSED`), with a message (not NUL-terminated).
    /// Called instead of `on_open`; no other callback follows.
    pub on_connect_error:
        Option<unsafe extern "C" fn(userdata: *mut c_void, status: sq_status, message: *const c_char, message_len: usize)>,
}

/// Limits and keep-alive of a WebSocket route. Fill it with
/// `sq_ws_options_init(&o, sizeof o)`, then change what you need. Every
/// field is 8 bytes wide, so that `size` always ends on a field.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct sq_ws_options {
    /// `sizeof(sq_ws_options)` as the program was compiled (set by init).
    pub size: usize,
    /// Largest message (and frame) accepted; a bigger one closes the socket
    /// with 1009 before its payload is buffered. Default 16 MiB.
    pub max_message_size: usize,
    /// Buffered output above which sends return `SQ_BACKPRESSURE`. Default 256 KiB.
    pub high_water: usize,
    /// Buffered output above which a message is not queued: dropped
    /// (`SQ_ERR_LIMIT`), or the socket closed with `SQ_WS_CLOSE_ON_LIMIT`. A
    /// message always fits into an empty buffer. Default 4 MiB.
    pub max_backpressure: usize,
    /// Send a ping every this many milliseconds (0: never, the default).
    pub ping_interval_ms: u64,
    /// Close a socket whose pong has not come this long after a ping
    /// (0: the ping interval).
    pub pong_timeout_ms: u64,
    /// Close (1001) a socket that sent nothing for this long (0: never, the default).
    pub idle_timeout_ms: u64,
    /// Subprotocols the route speaks, comma-separated, in its order of
    /// preference; NULL for none. Copied by `sq_ws_route`.
    pub subprotocols: *const c_char,
    /// `SQ_INLINE` (callbacks on the reactor thread), `SQ_WS_CLOSE_ON_LIMIT`,
    /// `SQ_WS_DEFERRED_HANDSHAKE` and, for a client socket, `SQ_WS_NO_VERIFY`.
    pub flags: u64,
    /// Client sockets only: the time allowed to resolve, connect, do TLS
    /// and the handshake, in milliseconds (0: none). Default 20000.
    pub connect_timeout_ms: u64,
    /// Client sockets only: extra handshake headers, "Name: value" lines
    /// separated by "\r\n" (or "\n"); NULL for none. Copied.
    pub headers: *const c_char,
    /// Client sockets only: a PEM file of CA certificates to trust for
    /// wss:// instead of the built-in roots; NULL for those. Read by
    /// `sq_ws_connect`.
    pub ca_file: *const c_char,
    /// `SQ_WS_COMPRESSION_OFF` (the default) or `SQ_WS_COMPRESSION_SHARED`:
    /// a route accepts permessage-deflate when the client offers it; a
    /// client socket (`sq_ws_connect`) offers it (`permessage-deflate;
    /// client_max_window_bits`, as browsers do) and speaks what the server
    /// accepts. `SQ_WS_COMPRESSION_DEDICATED`: routes only, see the constant.
    pub compression: u64,
    /// Dedicated mode: the compressor's window, 9..=15 (default 15; the
    /// window is 2^bits bytes). Ignored in the other modes.
    pub compression_window_bits: u64,
    /// Dedicated mode: the compressor's memory level, 1..=9 (default 8,
    /// zlib's: its hash table has 2^(level + 7) entries). Ignored in the
    /// other modes.
    pub compression_mem_level: u64,
    /// Dedicated mode: the compression level, 0..=9 (default 6, zlib's).
    /// Ignored in the other modes.
    pub compression_level: u64,
    /// `client_no_context_takeover` (RFC 7692 §7.1.1.2) in the negotiation;
    /// default 0.
    ///
    /// Client sockets, with compression on: non-zero adds it to the offer.
    /// The client then compresses each message on its own (no compression
    /// context kept between messages: less memory, a lower ratio on
    /// similar messages) whatever the server answers, and a server that
    /// accepts only offers with it (some do, to bound their memory) takes
    /// this one.
    ///
    /// Routes in `SQ_WS_COMPRESSION_DEDICATED`: non-zero answers it to every
    /// accepted offer (a server may add it whether or not the client
    /// offered it), so the client compresses each message afresh and the
    /// socket inflates with its reactor thread's shared inflater, keeping
    /// none of its own: the socket's compression state is its compressor
    /// alone (window 9 and memory level 1 make that about 3 KiB, as
    /// uWebSockets' `DEDICATED_COMPRESSOR_3KB` with its shared
    /// decompressor). Shared mode always answers it.
    pub compression_client_no_context_takeover: u64,
}

/// Fills `options` with the defaults and sets its `size`. Pass
/// `sizeof(sq_ws_options)` as the program sees it: a newer library writes no
/// more than that.
///
/// Thread: any thread.
/// Ownership: writes at most `size` bytes into the caller's struct.
/// Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` when `size` is
/// smaller than the `size` field itself.
#[unsafe(no_mangle)]
pub extern "C" fn sq_ws_options_init(options: *mut sq_ws_options, size: usize) -> sq_status {
    ffi_boundary! {
        if options.is_null() {
            return fail_null("options");
        }
        let n = known_prefix::<sq_ws_options>(size);
        if n == 0 {
            return fail(Error::new(ErrorKind::InvalidArg, "size is smaller than the struct's size field"));
        }
        let o = sq_ws_options { size: n, ..default_options() };
        // SAFETY: the caller's struct has at least `size` >= n bytes.
        unsafe { std::ptr::copy_nonoverlapping((&raw const o).cast::<u8>(), options.cast::<u8>(), n) };
        SQ_OK
    }
}

// Versioned structs: every field 8 bytes wide, no padding, so that a `size`
// cut to a multiple of 8 ends on a field.
const _: () = assert!(std::mem::size_of::<sq_ws_options>() == 17 * 8);
const _: () = assert!(std::mem::size_of::<sq_ws_callbacks>() == 10 * 8);

const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 20_000;

/// The bytes of a versioned struct (every field 8 bytes wide) that both
/// sides know: `size` cut to this library's struct and to whole fields.
pub(crate) fn known_prefix<T>(size: usize) -> usize {
    size.min(std::mem::size_of::<T>()) / 8 * 8
}

/// Copies the fields the caller's `size` covers, defaults for the rest.
///
/// # Safety
/// `p` points to a struct whose first field is its size, of at least that size.
pub(crate) unsafe fn read_versioned<T: Copy>(p: *const T, defaults: T) -> Result<T, Error> {
    // SAFETY: the first field is a size_t, per the contract.
    let size = unsafe { p.cast::<usize>().read_unaligned() };
    if size < std::mem::size_of::<usize>() {
        return Err(Error::new(ErrorKind::InvalidArg, "the struct's size field is not set"));
    }
    let mut out = defaults;
    let n = known_prefix::<T>(size);
    // SAFETY: both regions are at least `n` bytes; `T` is a plain C struct.
    unsafe { std::ptr::copy_nonoverlapping(p.cast::<u8>(), (&raw mut out).cast::<u8>(), n) };
    Ok(out)
}

/// Adds a WebSocket route: GET requests whose path matches `pattern` (a
/// regular expression, as for `sq_route`; captured groups through
/// `sq_request_capture` in `on_open`) are upgraded (RFC 6455 §4.2): a bad
/// version gets 426 with `Sec-WebSocket-Version: 13`, another malformed
/// handshake 400, a refused origin 403. WebSocket routes are matched before
/// the HTTP routes.
///
/// Thread: the host thread, before or while the loop runs.
/// Ownership: `pattern`, `*callbacks`, `*options` and its `subprotocols`
/// string are copied. squall keeps `userdata` (without dereferencing it)
/// until `sq_server_free`.
/// Returns: `SQ_OK`; `SQ_ERR_NULL` (`options` may be NULL: defaults);
/// `SQ_ERR_INVALID_ARG` for a bad pattern, unknown flags, a zero limit or a
/// `size` field not set.
#[unsafe(no_mangle)]
pub extern "C" fn sq_ws_route(
    server: *mut sq_server,
    pattern: *const c_char,
    callbacks: *const sq_ws_callbacks,
    options: *const sq_ws_options,
    userdata: *mut c_void,
) -> sq_status {
    ffi_boundary! {
        let s = try_ref!(sq_server, server, "server");
        // SAFETY: NUL-terminated string per the API contract.
        let pattern = ffi_try!(unsafe { str_arg(pattern, "pattern") });
        let (route, _) = ffi_try!(read_route(callbacks, options, userdata));
        ffi_try!(s.upgrade_route(pattern, std::sync::Arc::new(route)));
        SQ_OK
    }
}

/// The defaults, with `size` 0.
fn default_options() -> sq_ws_options {
    let d = Options::default();
    sq_ws_options {
        size: 0,
        max_message_size: d.max_message_size,
        high_water: d.high_water,
        max_backpressure: d.max_backpressure,
        ping_interval_ms: 0,
        pong_timeout_ms: 0,
        idle_timeout_ms: 0,
        subprotocols: std::ptr::null(),
        flags: 0,
        connect_timeout_ms: DEFAULT_CONNECT_TIMEOUT_MS,
        headers: std::ptr::null(),
        ca_file: std::ptr::null(),
        compression: SQ_WS_COMPRESSION_OFF,
        compression_window_bits: 15,
        compression_mem_level: u64::from(DEFAULT_MEM_LEVEL),
        compression_level: u64::from(DEFAULT_LEVEL),
        compression_client_no_context_takeover: 0,
    }
}

/// The options as the caller's struct gives them, with defaults for what
/// its `size` leaves out.
fn read_options(options: *const sq_ws_options) -> Result<sq_ws_options, Error> {
    let defaults = default_options();
    if options.is_null() {
        return Ok(defaults);
    }
    // SAFETY: a live struct starting with its size, per the contract.
    unsafe { read_versioned(options, defaults) }
}

/// The callbacks and options of `sq_ws_route` / `sq_ws_connect`, checked:
/// a route, and the raw options for the client's own fields.
fn read_route(
    callbacks: *const sq_ws_callbacks,
    options: *const sq_ws_options,
    userdata: *mut c_void,
) -> Result<(WsRoute, sq_ws_options), Error> {
    if callbacks.is_null() {
        return Err(Error::new(ErrorKind::Null, "callbacks is NULL"));
    }
    let none = sq_ws_callbacks {
        size: 0,
        on_open: None,
        on_message: None,
        on_close: None,
        on_drain: None,
        on_ping: None,
        on_pong: None,
        check_origin: None,
        select_subprotocol: None,
        on_connect_error: None,
    };
    // SAFETY: a live struct starting with its size, per the contract.
    let cb = unsafe { read_versioned(callbacks, none) }?;
    let o = read_options(options)?;
    if o.flags & !u64::from(SQ_INLINE | SQ_WS_CLOSE_ON_LIMIT | SQ_WS_DEFERRED_HANDSHAKE | SQ_WS_NO_VERIFY) != 0 {
        return Err(Error::new(ErrorKind::InvalidArg, format!("unknown WebSocket flags {:#x}", o.flags)));
    }
    if o.max_message_size == 0 || o.high_water == 0 || o.max_backpressure == 0 {
        return Err(Error::new(ErrorKind::InvalidArg, "max_message_size, high_water and max_backpressure must not be 0"));
    }
    let compression = match o.compression {
        SQ_WS_COMPRESSION_OFF => None,
        SQ_WS_COMPRESSION_SHARED => Some(Policy::SHARED),
        SQ_WS_COMPRESSION_DEDICATED => {
            let narrow = |v: u64| u8::try_from(v).unwrap_or(u8::MAX);
            let mut p = Policy::dedicated_with(
                narrow(o.compression_window_bits),
                narrow(o.compression_level),
                narrow(o.compression_mem_level),
            );
            p.client_no_context_takeover = o.compression_client_no_context_takeover != 0;
            if !p.is_valid() {
                return Err(Error::new(
                    ErrorKind::InvalidArg,
                    format!(
                        "dedicated compression: window bits {} (9..=15), memory level {} (1..=9), level {} (0..=9)",
                        o.compression_window_bits, o.compression_mem_level, o.compression_level
                    ),
                ));
            }
            Some(p)
        }
        other => return Err(Error::new(ErrorKind::InvalidArg, format!("unknown compression mode {other}"))),
    };
    let mut opts = Options {
        compression,
        max_message_size: o.max_message_size,
        high_water: o.high_water,
        max_backpressure: o.max_backpressure.max(o.high_water),
        ping_interval_ms: o.ping_interval_ms,
        pong_timeout_ms: o.pong_timeout_ms,
        idle_timeout_ms: o.idle_timeout_ms,
        inline: o.flags & u64::from(SQ_INLINE) != 0,
        close_on_limit: o.flags & u64::from(SQ_WS_CLOSE_ON_LIMIT) != 0,
        ..Options::default()
    };
    if !o.subprotocols.is_null() {
        // SAFETY: NUL-terminated string per the API contract.
        let list = unsafe { str_arg(o.subprotocols, "subprotocols") }?;
        opts.protocols = list.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_owned).collect();
    }
    let later = o.flags & u64::from(SQ_WS_DEFERRED_HANDSHAKE) != 0;
    Ok((WsRoute::new(Arc::new(CSocketEvents { cb, userdata, later }), opts), o))
}

/// A route's (or a client socket's) events, handed to the host's C
/// callbacks: handles become the opaque pointers the C types carry, the
/// user word the host's `userdata` again.
#[derive(Debug)]
struct CSocketEvents {
    cb: sq_ws_callbacks,
    /// The route's userdata: every socket's until it sets its own; the one
    /// `check_origin`, `select_subprotocol` and `on_connect_error` get.
    userdata: *mut c_void,
    /// `SQ_WS_DEFERRED_HANDSHAKE`: `check_origin` may answer later.
    later: bool,
}

// SAFETY: squall never dereferences `userdata`; the callbacks run where the
// core hands the events over: on the loop's host thread, or, for an inline
// route, on reactor threads, which the host promised is safe when it asked
// for `SQ_INLINE`.
unsafe impl Send for CSocketEvents {}
// SAFETY: as for Send; the struct is never changed after the route is made.
unsafe impl Sync for CSocketEvents {}

impl SocketEvents for CSocketEvents {
    fn interest(&self) -> Interest {
        let cb = &self.cb;
        Interest {
            ping: cb.on_ping.is_some(),
            pong: cb.on_pong.is_some(),
            check_origin: cb.check_origin.is_some(),
            select_subprotocol: cb.select_subprotocol.is_some(),
            connect_error: cb.on_connect_error.is_some(),
        }
    }

    fn initial_user_word(&self) -> usize {
        self.userdata as usize
    }

    fn open(&self, ws: u64, user: usize, req: Option<u64>) {
        if let Some(cb) = self.cb.on_open {
            let req = id_ptr::<sq_request>(req.unwrap_or(0));
            // SAFETY: a callback the host registered, called with its userdata
            // and handles (ids dressed as pointers, never dereferenced).
            unsafe { cb(word_ptr(user), id_ptr::<sq_ws>(ws), req) };
        }
    }

    fn message(&self, ws: u64, user: usize, kind: MessageKind, data: &[u8]) {
        if let Some(cb) = self.cb.on_message {
            let opcode = match kind {
                MessageKind::Text => SQ_WS_TEXT,
                MessageKind::Binary => SQ_WS_BINARY,
            };
            // SAFETY: as in `open`; `data` outlives the call.
            unsafe { cb(word_ptr(user), id_ptr::<sq_ws>(ws), data.as_ptr().cast(), data.len(), opcode) };
        }
    }

    fn ping(&self, ws: u64, user: usize, data: &[u8]) {
        if let Some(cb) = self.cb.on_ping {
            // SAFETY: as in `open`; `data` outlives the call.
            unsafe { cb(word_ptr(user), id_ptr::<sq_ws>(ws), data.as_ptr().cast(), data.len()) };
        }
    }

    fn pong(&self, ws: u64, user: usize, data: &[u8]) {
        if let Some(cb) = self.cb.on_pong {
            // SAFETY: as in `open`; `data` outlives the call.
            unsafe { cb(word_ptr(user), id_ptr::<sq_ws>(ws), data.as_ptr().cast(), data.len()) };
        }
    }

    fn drain(&self, ws: u64, user: usize) {
        if let Some(cb) = self.cb.on_drain {
            // SAFETY: as in `open`.
            unsafe { cb(word_ptr(user), id_ptr::<sq_ws>(ws)) };
        }
    }

    fn close(&self, ws: u64, user: usize, code: u16, reason: &str) {
        if let Some(cb) = self.cb.on_close {
            // SAFETY: as in `open`; `reason` outlives the call.
            unsafe { cb(word_ptr(user), id_ptr::<sq_ws>(ws), code, reason.as_ptr().cast(), reason.len()) };
        }
    }

    fn check_origin(&self, req: u64, origin: &str) -> bool {
        self.check_origin_or_later(req, origin).unwrap_or(false)
    }

    fn check_origin_or_later(&self, req: u64, origin: &str) -> Option<bool> {
        let Some(cb) = self.cb.check_origin else { return Some(true) };
        let req = id_ptr::<sq_request>(req);
        // SAFETY: a callback the host registered, with the route's userdata,
        // a request handle and a string valid during the call.
        match unsafe { cb(self.userdata, req, origin.as_ptr().cast(), origin.len()) } {
            SQ_WS_DECIDE_LATER if self.later => None,
            answer => Some(answer != 0),
        }
    }

    fn select_subprotocol(&self, req: u64, offered: &[String]) -> Option<usize> {
        let cb = self.cb.select_subprotocol?;
        let req = id_ptr::<sq_request>(req);
        let list: Vec<sq_str> = offered.iter().map(|p| sq_str { ptr: p.as_ptr().cast(), len: p.len() }).collect();
        // SAFETY: as in `check_origin`; `list` points into `offered`, alive
        // during the call.
        let i = unsafe { cb(self.userdata, req, list.as_ptr(), list.len()) };
        usize::try_from(i).ok()
    }

    fn connect_failed(&self, e: &Error) {
        if let Some(cb) = self.cb.on_connect_error {
            let msg = e.message();
            // SAFETY: the host's callback with its userdata; the message
            // lives until it returns.
            unsafe { cb(self.userdata, status_of(e.kind()), msg.as_ptr().cast(), msg.len()) };
        }
    }
}

/// Opens a client WebSocket to `url` (ws:// or wss://; Tornado's
/// `websocket_connect`): the connection is made and the handshake sent on
/// the loop's first reactor once the loop runs. Then `on_open` gets the
/// socket (its `req` argument is NULL) — the same `sq_ws` handle as a
/// server's, with the same functions, except topics — or
/// `on_connect_error` says why not. Every frame the client sends is masked.
/// `options` (NULL: defaults) gives the limits and keep-alive as for a
/// route, `subprotocols` to offer, `connect_timeout_ms`, extra `headers`
/// and a `ca_file` for wss:// (or `SQ_WS_NO_VERIFY` in `flags`: any
/// certificate). Redirects are not followed.
///
/// Thread: any thread.
/// Ownership: `url`, `*callbacks`, `*options` and its strings are copied
/// (the CA file is read now). squall keeps `userdata` (never dereferenced)
/// until `on_close` or `on_connect_error` has returned.
/// Returns: `SQ_OK` (the outcome comes through the callbacks); `SQ_ERR_NULL`;
/// `SQ_ERR_INVALID_ARG` for a bad URL, header line, CA file, flag or limit
/// (no callback follows); `SQ_ERR_CLOSED` when the loop was freed.
#[unsafe(no_mangle)]
pub extern "C" fn sq_ws_connect(
    r#loop: *mut sq_loop,
    url: *const c_char,
    callbacks: *const sq_ws_callbacks,
    options: *const sq_ws_options,
    userdata: *mut c_void,
) -> sq_status {
    ffi_boundary! {
        let lp = try_ref!(sq_loop, r#loop, "loop");
        // SAFETY: NUL-terminated string per the API contract.
        let url = ffi_try!(unsafe { str_arg(url, "url") });
        let (route, o) = ffi_try!(read_route(callbacks, options, userdata));
        let mut headers = Vec::new();
        if !o.headers.is_null() {
            // SAFETY: NUL-terminated string per the API contract.
            let text = ffi_try!(unsafe { str_arg(o.headers, "headers") });
            for line in text.split('\n').map(|l| l.trim_end_matches('\r')).filter(|l| !l.is_empty()) {
                let Some((name, value)) = line.split_once(':') else {
                    return fail(Error::new(ErrorKind::InvalidArg, format!("header line {line:?} has no ':'")));
                };
                headers.push((name.trim().to_owned(), value.trim().as_bytes().to_vec()));
            }
        }
        let tls = if o.flags & u64::from(SQ_WS_NO_VERIFY) != 0 {
            Some(ffi_try!(crate::net::tls::unverified_config()))
        } else if o.ca_file.is_null() {
            None
        } else {
            // SAFETY: NUL-terminated string per the API contract.
            let path = ffi_try!(unsafe { str_arg(o.ca_file, "ca_file") });
            Some(ffi_try!(crate::net::tls::ca_file_config(path)))
        };
        let opts = crate::ws::client::ClientOptions {
            connect_timeout: std::time::Duration::from_millis(o.connect_timeout_ms),
            headers,
            tls,
            deflate: o.compression != SQ_WS_COMPRESSION_OFF,
            deflate_no_context_takeover: o.compression_client_no_context_takeover != 0,
        };
        ffi_try!(crate::ws::client::connect(lp.handle(), url, route, opts));
        SQ_OK
    }
}

fn socket(ws: *mut sq_ws) -> Result<Arc<WsSocket>, Error> {
    let id = ws as usize as u64;
    if id == 0 {
        return Err(Error::new(ErrorKind::Null, "ws is NULL"));
    }
    crate::ws::SOCKETS.get(id).map_err(|s| match s {
        Stale::Released => Error::new(ErrorKind::Closed, "the WebSocket is closed"),
        Stale::Invalid => Error::new(ErrorKind::InvalidArg, "not a WebSocket handle"),
    })
}

/// The bytes of a (pointer, length) argument; NULL is fine when `len` is 0.
pub(crate) fn bytes_arg<'a>(data: *const c_void, len: usize) -> Result<&'a [u8], Error> {
    if len == 0 {
        return Ok(&[]);
    }
    if data.is_null() {
        return Err(Error::new(ErrorKind::Null, "data is NULL"));
    }
    // SAFETY: the caller passes `len` readable bytes, per the API contract.
    Ok(unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len) })
}

fn binary_opcode(opcode: c_int) -> Result<bool, Error> {
    match opcode {
        SQ_WS_TEXT => Ok(false),
        SQ_WS_BINARY => Ok(true),
        _ => Err(Error::new(ErrorKind::InvalidArg, format!("opcode {opcode} is neither SQ_WS_TEXT nor SQ_WS_BINARY"))),
    }
}

/// Sends a message: `SQ_WS_TEXT` (must be valid UTF-8) or `SQ_WS_BINARY`.
/// The frame is built on the calling thread and written by the socket's
/// reactor, in the order of the calls made by each thread.
///
/// Thread: any thread.
/// Ownership: `data` is copied before the call returns.
/// Returns: `SQ_OK` (queued); `SQ_BACKPRESSURE` (queued, but more than the
/// route's `high_water` is buffered: wait for `on_drain`); `SQ_ERR_LIMIT`
/// (not queued: over `max_backpressure`; with `SQ_WS_CLOSE_ON_LIMIT` the
/// socket is being closed too); `SQ_ERR_CLOSED` (closing or closed, or a
/// handle whose `on_close` has returned); `SQ_ERR_INVALID_ARG` (bad opcode,
/// text not UTF-8, not a WebSocket handle); `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_ws_send(ws: *mut sq_ws, data: *const c_void, len: usize, opcode: c_int) -> sq_status {
    ffi_boundary! {
        let sock = ffi_try!(socket(ws));
        let binary = ffi_try!(binary_opcode(opcode));
        let bytes = ffi_try!(bytes_arg(data, len));
        match ffi_try!(sock.send(binary, bytes)) {
            Sent::Queued => SQ_OK,
            Sent::Backpressure => SQ_BACKPRESSURE,
        }
    }
}

/// `sq_ws_send` with `flags`: `SQ_WS_SEND_NO_COMPRESS` sends the message
/// uncompressed (RSV1 clear) even when the socket negotiated
/// permessage-deflate; 0 is `sq_ws_send`.
///
/// Thread: any thread.
/// Ownership: `data` is copied before the call returns.
/// Returns: as `sq_ws_send`; `SQ_ERR_INVALID_ARG` for unknown flags too.
#[unsafe(no_mangle)]
pub extern "C" fn sq_ws_send_ex(ws: *mut sq_ws, data: *const c_void, len: usize, opcode: c_int, flags: u32) -> sq_status {
    ffi_boundary! {
        let sock = ffi_try!(socket(ws));
        let binary = ffi_try!(binary_opcode(opcode));
        let bytes = ffi_try!(bytes_arg(data, len));
        if flags & !SQ_WS_SEND_NO_COMPRESS != 0 {
            return fail(Error::new(ErrorKind::InvalidArg, format!("unknown send flags {flags:#x}")));
        }
        let compress = flags & SQ_WS_SEND_NO_COMPRESS == 0;
        match ffi_try!(sock.send_with(binary, bytes, compress)) {
            Sent::Queued => SQ_OK,
            Sent::Backpressure => SQ_BACKPRESSURE,
        }
    }
}

/// Starts the close handshake with `code` (1000–1003, 1007–1014 or
/// 3000–4999) and `reason` (UTF-8, at most 123 bytes; NULL for none). Sends
/// fail with `SQ_ERR_CLOSED` from now on; `on_close` follows when the peer
/// answered (or after 5 s without an answer).
///
/// Thread: any thread.
/// Ownership: `reason` is copied.
/// Returns: `SQ_OK`; `SQ_ERR_CLOSED` (already closing or closed);
/// `SQ_ERR_INVALID_ARG` (code or reason); `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_ws_close(ws: *mut sq_ws, code: u16, reason: *const c_char) -> sq_status {
    ffi_boundary! {
        let sock = ffi_try!(socket(ws));
        let reason = if reason.is_null() {
            ""
        } else {
            // SAFETY: NUL-terminated string per the API contract.
            ffi_try!(unsafe { str_arg(reason, "reason") })
        };
        ffi_try!(sock.close(code, reason));
        SQ_OK
    }
}

/// Ends the connection at once, without a close frame (what closing its
/// TCP stream does; Tornado's `ws.stream.close()`): queued output is
/// dropped, `on_close` follows with 1006. Works while a close handshake is
/// under way too.
///
/// Thread: any thread.
/// Ownership: nothing changes hands.
/// Returns: `SQ_OK`; `SQ_ERR_CLOSED` (its `on_close` has returned);
/// `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_ws_abort(ws: *mut sq_ws) -> sq_status {
    ffi_boundary! {
        let sock = ffi_try!(socket(ws));
        ffi_try!(sock.abort());
        SQ_OK
    }
}

/// A client socket's handshake response: the `index`-th header of the
/// server's 101 (in the order received), name and value.
///
/// Thread: any thread.
/// Ownership: `*name` and `*value` point into the socket's memory, valid
/// until its `on_close` returns.
/// Returns: `SQ_OK`; `SQ_ERR_NOT_FOUND` past the last header (and for a
/// server's socket, which has none); `SQ_ERR_CLOSED`; `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_ws_response_header(ws: *mut sq_ws, index: usize, name: *mut sq_str, value: *mut sq_str) -> sq_status {
    ffi_boundary! {
        let sock = ffi_try!(socket(ws));
        if name.is_null() {
            return fail_null("name");
        }
        if value.is_null() {
            return fail_null("value");
        }
        match sock.response_headers.get().and_then(|h| h.get(index)) {
            Some((n, v)) => {
                // SAFETY: non-NULL out-parameters; the strings live as long
                // as the socket.
                unsafe {
                    *name = sq_str { ptr: n.as_ptr().cast(), len: n.len() };
                    *value = sq_str { ptr: v.as_ptr().cast(), len: v.len() };
                }
                SQ_OK
            }
            None => fail(Error::new(ErrorKind::NotFound, "no such header in the handshake response")),
        }
    }
}

/// Adds a header to the 101 response of a WebSocket handshake (the headers
/// a Tornado handler sets in `prepare()`), for the upgrade request `req`
/// that `check_origin` or `select_subprotocol` was given: during those
/// callbacks or, after `check_origin` answered `SQ_WS_DECIDE_LATER`, until
/// `sq_ws_handshake_decide`. Headers the handshake writes itself
/// (`Upgrade`, `Connection`, `Sec-WebSocket-*`, `Date`, `Content-Length`,
/// `Transfer-Encoding`) are refused.
///
/// Thread: the loop's host thread.
/// Ownership: `name` and `value` are copied.
/// Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` (a name that is
/// not a token, a value with CR, LF or NUL, a header of the handshake's
/// own, or `req` not an upgrade request); `SQ_ERR_ALREADY_DONE` once the
/// handshake is over.
#[unsafe(no_mangle)]
pub extern "C" fn sq_ws_handshake_header(req: *mut sq_request, name: *const c_char, value: *const c_void, value_len: usize) -> sq_status {
    ffi_boundary! {
        let request = ffi_try!(super::request::request(req));
        // SAFETY: NUL-terminated string per the API contract.
        let name = ffi_try!(unsafe { str_arg(name, "name") });
        let value = ffi_try!(bytes_arg(value, value_len));
        ffi_try!(crate::http::response::check_header(name, value));
        if crate::ws::handshake::handshake_owned(name) {
            return fail(Error::new(ErrorKind::InvalidArg, format!("{name} is written by the handshake itself")));
        }
        let mut state = request.lock();
        // the upgrade request is a finished view whose head never goes out
        if !state.finished || state.head_sent {
            return fail(Error::new(ErrorKind::InvalidArg, "not the request of a WebSocket handshake"));
        }
        state.headers.push((name.to_owned(), value.to_vec()));
        SQ_OK
    }
}

/// The host's decision on a handshake whose `check_origin` answered
/// `SQ_WS_DECIDE_LATER`: `status` 0 accepts (the route's
/// `select_subprotocol` is called now, on this thread, then the 101 goes
/// out with the headers given by `sq_ws_handshake_header`); 400..=599
/// refuses with that status. A handshake whose client has left meanwhile
/// is dropped: `SQ_ERR_CLOSED` says so (no `on_open` will come for it).
///
/// Thread: the loop's host thread.
/// Ownership: nothing changes hands; `req` is invalid afterwards.
/// Returns: `SQ_OK`; `SQ_ERR_CLOSED` (the client left before the decision);
/// `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` (another status); `SQ_ERR_NOT_FOUND`
/// (no handshake of `req` waits for a decision).
#[unsafe(no_mangle)]
pub extern "C" fn sq_ws_handshake_decide(req: *mut sq_request, status: u16) -> sq_status {
    ffi_boundary! {
        let id = req as usize as u64;
        if id == 0 {
            return fail_null("req");
        }
        ffi_try!(crate::http::conn::decide_parked(id, status));
        SQ_OK
    }
}

/// Sends a ping carrying `len` (at most 125) bytes.
///
/// Thread: any thread.
/// Ownership: `data` is copied.
/// Returns: `SQ_OK`; `SQ_ERR_CLOSED`; `SQ_ERR_INVALID_ARG` (over 125 bytes);
/// `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_ws_ping(ws: *mut sq_ws, data: *const c_void, len: usize) -> sq_status {
    ffi_boundary! {
        let sock = ffi_try!(socket(ws));
        let bytes = ffi_try!(bytes_arg(data, len));
        ffi_try!(sock.ping(bytes));
        SQ_OK
    }
}

/// Stops reading from the socket (the host's own flow control, for a host
/// that queues messages past its `on_message` and so cannot let squall's
/// count them as taken when the callback returns): the peer is slowed down
/// by TCP once the kernel buffers fill. Events already on their way still
/// arrive. Undone by `sq_ws_resume_reading`. (squall also pauses by itself
/// while more than 1 MiB of events handed to the callbacks, each counted as
/// its bytes plus 1 KiB, are not yet returned from.)
///
/// Thread: any thread.
/// Ownership: nothing changes hands.
/// Returns: `SQ_OK`; `SQ_ERR_CLOSED` (closed or closing); `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_ws_pause_reading(ws: *mut sq_ws) -> sq_status {
    ffi_boundary! {
        let sock = ffi_try!(socket(ws));
        ffi_try!(sock.hold_reading(true));
        SQ_OK
    }
}

/// Reads from the socket again after `sq_ws_pause_reading` (no effect if it
/// was not paused).
///
/// Thread: any thread.
/// Ownership: nothing changes hands.
/// Returns: `SQ_OK`; `SQ_ERR_CLOSED` (closed or closing); `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_ws_resume_reading(ws: *mut sq_ws) -> sq_status {
    ffi_boundary! {
        let sock = ffi_try!(socket(ws));
        ffi_try!(sock.hold_reading(false));
        SQ_OK
    }
}

/// The bytes queued for the socket and not yet written (frames on their way
/// to its reactor included).
///
/// Thread: any thread.
/// Ownership: nothing changes hands.
/// Returns: the count; 0 for a closed or invalid handle.
#[unsafe(no_mangle)]
pub extern "C" fn sq_ws_buffered_amount(ws: *mut sq_ws) -> usize {
    ffi_boundary! {
        match socket(ws) {
            Ok(s) => s.buffered.load(std::sync::atomic::Ordering::Acquire),
            Err(e) => fail(e),
        }
    }
}

/// Sets the userdata handed to this socket's callbacks from now on.
///
/// Thread: any thread (the callbacks see the new value once this returns).
/// Ownership: squall stores the pointer without dereferencing it; the host
/// frees what it points to, at the earliest in `on_close`.
/// Returns: `SQ_OK`; `SQ_ERR_CLOSED`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_ws_set_userdata(ws: *mut sq_ws, userdata: *mut c_void) -> sq_status {
    ffi_boundary! {
        let sock = ffi_try!(socket(ws));
        sock.set_user_word(userdata as usize);
        SQ_OK
    }
}

/// The socket's userdata (the route's until `sq_ws_set_userdata`).
///
/// Thread: any thread.
/// Ownership: the pointer the host stored.
/// Returns: the userdata; NULL for a closed or invalid handle.
#[unsafe(no_mangle)]
pub extern "C" fn sq_ws_userdata(ws: *mut sq_ws) -> *mut c_void {
    ffi_boundary! {
        match socket(ws) {
            Ok(s) => word_ptr(s.user_word()),
            Err(e) => fail(e),
        }
    }
}

/// The subprotocol chosen in the handshake.
///
/// Thread: any thread.
/// Ownership: `*out` points into the socket's memory, valid until its
/// `on_close` returns.
/// Returns: `SQ_OK`; `SQ_ERR_NOT_FOUND` when none was chosen; `SQ_ERR_CLOSED`;
/// `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_ws_subprotocol(ws: *mut sq_ws, out: *mut sq_str) -> sq_status {
    ffi_boundary! {
        let sock = ffi_try!(socket(ws));
        if out.is_null() {
            return fail_null("out");
        }
        match &sock.protocol {
            Some(p) => {
                // SAFETY: non-NULL out-parameter; the string lives as long as the socket.
                unsafe { *out = sq_str { ptr: p.as_ptr().cast(), len: p.len() } };
                SQ_OK
            }
            None => fail(Error::new(ErrorKind::NotFound, "no subprotocol was chosen")),
        }
    }
}

/// Subscribes the socket to `topic` of its server (a second subscription is
/// a no-op). The subscription ends with `sq_ws_unsubscribe` or the socket.
/// A `sq_publish` made after this call returns, from any thread, reaches it.
///
/// Thread: any thread.
/// Ownership: `topic` is copied.
/// Returns: `SQ_OK`; `SQ_ERR_CLOSED`; `SQ_ERR_INVALID_ARG` (empty topic or
/// over 1024 bytes); `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_ws_subscribe(ws: *mut sq_ws, topic: *const c_char) -> sq_status {
    ffi_boundary! {
        let sock = ffi_try!(socket(ws));
        // SAFETY: NUL-terminated string per the API contract.
        let topic = ffi_try!(unsafe { str_arg(topic, "topic") });
        ffi_try!(sock.subscribe(topic));
        SQ_OK
    }
}

/// Ends the socket's subscription to `topic` (no error if it had none).
///
/// Thread: any thread.
/// Ownership: `topic` is copied.
/// Returns: `SQ_OK`; `SQ_ERR_CLOSED`; `SQ_ERR_INVALID_ARG`; `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_ws_unsubscribe(ws: *mut sq_ws, topic: *const c_char) -> sq_status {
    ffi_boundary! {
        let sock = ffi_try!(socket(ws));
        // SAFETY: NUL-terminated string per the API contract.
        let topic = ffi_try!(unsafe { str_arg(topic, "topic") });
        ffi_try!(sock.unsubscribe(topic));
        SQ_OK
    }
}

/// Sends a message to every socket subscribed to `topic` on `server`, on
/// every reactor thread. The frame is built once; each subscriber gets it
/// under its route's backpressure rules (over `max_backpressure` it is
/// skipped, or closed with `SQ_WS_CLOSE_ON_LIMIT`).
///
/// Thread: any thread.
/// Ownership: `topic` and `data` are copied.
/// On a server attached to a cluster (`sq_cluster_attach`) the message
/// then goes to the other processes too, after the local fan-out, which
/// never waits on the broker.
///
/// Returns: `SQ_OK` (also when nobody subscribes); `SQ_ERR_INVALID_ARG` (bad
/// opcode, text not UTF-8, bad topic); `SQ_ERR_CLOSED` (server freed);
/// `SQ_ERR_LIMIT` on a clustered server whose outbox is full: delivered to
/// the local subscribers only, not to other processes (counted in
/// "outbox_full"); `SQ_ERR_NULL`.
#[unsafe(no_mangle)]
pub extern "C" fn sq_publish(server: *mut sq_server, topic: *const c_char, data: *const c_void, len: usize, opcode: c_int) -> sq_status {
    ffi_boundary! {
        let s = try_ref!(sq_server, server, "server");
        // SAFETY: NUL-terminated string per the API contract.
        let topic = ffi_try!(unsafe { str_arg(topic, "topic") });
        let binary = ffi_try!(binary_opcode(opcode));
        let bytes = ffi_try!(bytes_arg(data, len));
        ffi_try!(crate::ws::ops::publish(&s.shared, topic, binary, bytes));
        SQ_OK
    }
}

/// `sq_publish` with `flags`: `SQ_WS_SEND_NO_COMPRESS` sends the message
/// uncompressed (RSV1 clear) to every subscriber, whatever it negotiated,
/// here and (on a clustered server) in the other processes; 0 is
/// `sq_publish`. A process running an older squall drops such a message
/// from the broker rather than compress it.
///
/// Thread: any thread.
/// Ownership: `topic` and `data` are copied.
/// Returns: as `sq_publish`; `SQ_ERR_INVALID_ARG` for unknown flags too.
#[unsafe(no_mangle)]
pub extern "C" fn sq_publish_ex(
    server: *mut sq_server,
    topic: *const c_char,
    data: *const c_void,
    len: usize,
    opcode: c_int,
    flags: u32,
) -> sq_status {
    ffi_boundary! {
        let s = try_ref!(sq_server, server, "server");
        // SAFETY: NUL-terminated string per the API contract.
        let topic = ffi_try!(unsafe { str_arg(topic, "topic") });
        let binary = ffi_try!(binary_opcode(opcode));
        let bytes = ffi_try!(bytes_arg(data, len));
        if flags & !SQ_WS_SEND_NO_COMPRESS != 0 {
            return fail(Error::new(ErrorKind::InvalidArg, format!("unknown publish flags {flags:#x}")));
        }
        let compress = flags & SQ_WS_SEND_NO_COMPRESS == 0;
        ffi_try!(crate::ws::ops::publish_with(&s.shared, topic, binary, compress, bytes));
        SQ_OK
    }
}

/// The number of sockets subscribed to `topic` on `server`, across every
/// reactor (subscriptions in progress included).
///
/// Thread: any thread.
/// Ownership: `topic` is read during the call.
/// Returns: the count; 0 on a NULL argument (with `sq_last_error()`).
#[unsafe(no_mangle)]
pub extern "C" fn sq_topic_subscribers(server: *mut sq_server, topic: *const c_char) -> usize {
    ffi_boundary! {
        let s = try_ref!(sq_server, server, "server");
        // SAFETY: NUL-terminated string per the API contract.
        let topic = ffi_try!(unsafe { str_arg(topic, "topic") });
        s.shared.ext::<crate::ws::topics::Registry>().subscribers(topic)
    }
}
