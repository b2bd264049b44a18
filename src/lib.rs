//! # squall
//!
//! Tornado's core — an event loop, timers, TCP streams, an HTTP/1.1 server,
//! WebSockets with pub/sub, an HTTP and WebSocket client — in Rust, behind a
//! stable C ABI (`include/squall.h`) that C, Python (ctypes) and Go (cgo)
//! programs use to register handlers, while Rust owns all I/O.
//!
//! The Rust API is the layer the C ABI is built on: [`Loop`] and
//! [`LoopHandle`] here; the C functions live in the `ffi` module and are
//! documented in the header. `docs/ARCHITECTURE.md` explains the threads.

#![deny(missing_docs, rust_2018_idioms, missing_debug_implementations)]
#![warn(clippy::undocumented_unsafe_blocks)]

// The C handles (`sq_request *`, `sq_ws *`, `sq_tcp *`) carry a 64-bit id
// in a pointer, and the versioned option structs promise 8-byte fields:
// see docs/ABI.md, "Handles and 64-bit targets".
#[cfg(not(target_pointer_width = "64"))]
compile_error!("squall supports 64-bit targets only (docs/ABI.md, \"Handles and 64-bit targets\")");

pub mod api;
pub(crate) mod cluster;
mod error;
/// Fault injection for the panic-boundary tests (feature `fault-injection`).
#[cfg(feature = "fault-injection")]
pub mod fault;
#[cfg(not(feature = "fault-injection"))]
mod fault;
pub mod ffi;
pub(crate) mod http;
mod log;
pub(crate) mod metrics;
pub(crate) mod net;
mod reactor;
pub(crate) mod tcp;
pub(crate) mod ws;

pub use error::{Error, ErrorKind, Result};
pub use reactor::{Loop, LoopHandle, LoopOptions, MAX_IO_THREADS, TimerId};

/// Entry points for the fuzz targets in `fuzz/` (not a stable API).
#[doc(hidden)]
pub mod fuzzing {
    /// Feeds `data` to a fresh HTTP/1.1 decoder in two pieces (split at
    /// `split`), asserting the decoder's invariants; panics only on a bug.
    pub fn h1_decode(data: &[u8], split: usize) {
        crate::http::h1::fuzz_feed(data, split);
    }

    /// Feeds `data` to two WebSocket server sessions, one compacted between
    /// reads and one not (the first byte picks the read sizes); panics only
    /// on a bug: a difference between them, or a panic inside.
    pub fn ws_session(data: &[u8]) {
        crate::ws::session::fuzz_feed(data);
    }

    /// Feeds `data` to the WebSocket message assembler (permessage-deflate
    /// on or off, the limit and read sizes picked by the first byte) in
    /// irregular reads and in one; panics only on a bug: the two differ, a
    /// message passes the limit, a text message is not UTF-8.
    pub fn ws_message(data: &[u8]) {
        crate::ws::message::fuzz_feed(data);
    }

    /// How the HTTP/1.1 request decoder reads `data` as one connection's
    /// whole input: one line of the differential harness
    /// (tests/http_differential.rs).
    pub fn h1_transcript(data: &[u8]) -> String {
        crate::http::h1::transcript(data)
    }

    /// Feeds `data` to the HTTP client's response decoder in two pieces
    /// (split at `split`), for a GET and a HEAD; panics only on a bug.
    pub fn h1_response(data: &[u8], split: usize) {
        crate::http::client::response::fuzz_feed(data, split);
    }

    /// How the HTTP client's response decoder reads `data` as one
    /// connection's whole input, the responses answering requests whose
    /// methods `head` gives (true: HEAD): one line of the differential
    /// harness (tests/http_response_differential.rs).
    pub fn h1_response_transcript(data: &[u8], head: &[bool]) -> String {
        crate::http::client::response::transcript(data, head)
    }

    /// Decodes `data` as a chunked body in one read and in reads of sizes
    /// picked by the first byte; panics only on a bug (a disagreement, a
    /// complete body that re-encoded decodes differently).
    pub fn chunked(data: &[u8]) {
        crate::http::h1::fuzz_chunked(data);
    }

    /// Runs the rules of `http::grammar` over `data` and its lines, each
    /// answer checked a second way; panics only on a bug.
    pub fn grammar(data: &[u8]) {
        crate::http::grammar::fuzz_check(data);
    }

    /// A WebSocket opening handshake: a request (server checks, then the
    /// server's 101 through the client's checks), a NUL, a response (client
    /// checks); panics only on a bug.
    pub fn ws_handshake(data: &[u8]) {
        crate::ws::client::fuzz_handshake(data);
    }

    /// Route lookup and capture percent-decoding of a path (the first byte
    /// picks the method); panics only on a bug.
    pub fn router(data: &[u8]) {
        crate::http::router::fuzz_lookup(data);
    }

    /// Query and form-body argument decoding (query NUL content-type NUL
    /// body); panics only on a bug.
    pub fn args(data: &[u8]) {
        crate::http::request::fuzz_args(data);
    }

    /// Cookie lookup (a name, then one Cookie header per line); panics only
    /// on a bug.
    pub fn cookie(data: &[u8]) {
        crate::http::request::fuzz_cookie(data);
    }

    /// RESP2 replies and pushes from a broker (the first byte picks the
    /// read size): one read and small reads agree, values re-encode to
    /// themselves; panics only on a bug.
    pub fn resp(data: &[u8]) {
        crate::cluster::resp::fuzz_check(data);
    }

    /// permessage-deflate negotiation: `Sec-WebSocket-Extensions` values
    /// (NUL-separated) under every policy the fronts make, and each read as
    /// a server's answer by the client; panics only on a bug.
    pub fn deflate_offer(data: &[u8]) {
        crate::ws::deflate::offer::fuzz_check(data);
    }

    /// TLS server configuration loading: a chain's PEM, NUL, a key's PEM,
    /// NUL, an SNI name; panics only on a bug.
    pub fn tls_config(data: &[u8]) {
        crate::net::tls_server::fuzz_check(data);
    }
}
