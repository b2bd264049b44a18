//! Raw TCP streams: Tornado's `IOStream`, `TCPServer` and `TCPClient`.
//!
//! A stream is two objects, as a WebSocket is: [`stream::TcpConn`] on its
//! reactor (the socket, the output queue, the connect attempts), a
//! [`reactor::watcher::Driven`](crate::reactor::watcher::Driven) source; and
//! [`stream::TcpShared`] (an `Arc`), the target of the host's handle, with
//! the atomics any thread reads (bytes buffered, closed, userdata, read
//! flow control). Handles are generation-checked ids in [`STREAMS`].
//! [`listener`] holds the accepting sockets (one per reactor, SO_REUSEPORT).

use std::ffi::c_void;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, LazyLock};

use crate::ffi::tcp::sq_tcp_callbacks;
use crate::reactor::handles::HandleTable;

pub(crate) mod listener;
pub(crate) mod stream;

#[cfg(test)]
mod tests;

/// Every open stream in the process, by handle.
pub(crate) static STREAMS: LazyLock<HandleTable<stream::TcpShared>> = LazyLock::new(HandleTable::default);

/// Undelivered bytes (handed to the host, its `on_data` not yet returned)
/// above which a stream stops reading, and below which it reads again.
pub(crate) const INBOX_HIGH: usize = 1 << 20;
pub(crate) const INBOX_LOW: usize = 256 << 10;

/// The options of a listener's streams or of a connect.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// Resolution plus every connect attempt; 0: no limit.
    pub(crate) connect_timeout_ms: u64,
    /// Buffered output above which writes answer `SQ_BACKPRESSURE`.
    pub(crate) high_water: usize,
    /// Buffered output above which a write is refused (`SQ_ERR_LIMIT`).
    pub(crate) max_buffer: usize,
    /// How long a graceful close waits for its output to be written; 0: no limit.
    pub(crate) close_timeout_ms: u64,
    pub(crate) backlog: i32,
    pub(crate) nodelay: bool,
    /// Callbacks run on the reactor thread (`SQ_INLINE`).
    pub(crate) inline: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            connect_timeout_ms: 20_000,
            high_water: 256 << 10,
            max_buffer: 16 << 20,
            close_timeout_ms: 30_000,
            backlog: crate::net::listener::DEFAULT_BACKLOG,
            nodelay: true,
            inline: false,
        }
    }
}

/// What every stream of one listener (or one connect) shares.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) callbacks: sq_tcp_callbacks,
    pub(crate) opts: Options,
    /// The listener's "freed" flag: a stream accepted just before
    /// `sq_tcp_listener_free` is closed without being announced.
    pub(crate) listener_dead: Option<Arc<AtomicBool>>,
}

/// A host pointer carried across threads; squall never dereferences it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HostPtr(pub(crate) *mut c_void);
// SAFETY: the pointer is only handed back to the host's callbacks, which
// is what the host asked for; squall never reads through it.
unsafe impl Send for HostPtr {}
// SAFETY: as above: never dereferenced.
unsafe impl Sync for HostPtr {}
