//! What every stream of one listener (or one connect) shares: its options
//! and the host's events. The other files of `tcp` build on this one and it
//! on none of them.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::Error;
use crate::reactor::flow::Marks;

/// A stream's handle: a generation-checked id in `stream::STREAMS` (0 before
/// the stream has one).
pub(crate) type StreamId = u64;

/// What a stream tells the host. The core decides where each call runs (a
/// task on the host thread, or on the reactor with `Options::inline`) and
/// in which order: `on_connect`, `on_data`…, `on_end`, `on_close` last,
/// after which the handle is released. `user` is the stream's user word: a
/// value the host stores per stream, never interpreted here.
pub(crate) trait StreamEvents: Send + Sync + fmt::Debug {
    /// The user word a new stream starts with.
    fn first_user_word(&self) -> usize {
        0
    }

    /// Whether the host takes the peer's EOF itself (`on_end`); if not, the
    /// stream is closed gracefully at EOF.
    fn wants_end(&self) -> bool;

    /// A stream was accepted or connected (`Ok` with its handle), or a
    /// connect failed (`Err`: Resolve, Connect, Timeout or Panic).
    fn on_connect(&self, user: usize, outcome: std::result::Result<StreamId, &Error>);

    /// Bytes arrived.
    fn on_data(&self, user: usize, id: StreamId, data: &[u8]);

    /// The peer finished sending (only called when [`wants_end`](Self::wants_end)).
    fn on_end(&self, user: usize, id: StreamId);

    /// The buffered output fell to the high-water mark after a write reported backpressure.
    fn on_drain(&self, user: usize, id: StreamId);

    /// The stream is closed: `Ok` for a close asked for (or the peer's EOF
    /// without `on_end`), else why it ended (Io, Timeout, Panic).
    fn on_close(&self, user: usize, id: StreamId, outcome: std::result::Result<(), &Error>);
}

/// The options of a listener's streams or of a connect.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// Resolution plus every connect attempt; 0: no limit.
    pub(crate) connect_timeout_ms: u64,
    /// Buffered output above which writes answer `Sent::Backpressure`.
    pub(crate) high_water: usize,
    /// Buffered output above which a write is refused (`ErrorKind::Limit`).
    pub(crate) max_buffer: usize,
    /// How long a graceful close waits for its output to be written; 0: no limit.
    pub(crate) close_timeout_ms: u64,
    pub(crate) backlog: i32,
    pub(crate) nodelay: bool,
    /// Events run on the reactor thread that owns the stream.
    pub(crate) inline: bool,
    /// The input gate's marks (`on_data` not yet returned).
    pub(crate) read_marks: Marks,
    /// Listeners only: TLS for the streams accepted (None: plain TCP).
    pub(crate) tls: Option<Arc<rustls::ServerConfig>>,
}

/// How long an accepted stream's TLS handshake may take before the stream
/// is closed (`on_close` with a timeout).
pub(crate) const TLS_HANDSHAKE_TIMEOUT_MS: u64 = 10_000;

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
            read_marks: Marks::default(),
            tls: None,
        }
    }
}

/// What every stream of one listener (or one connect) shares.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) events: Arc<dyn StreamEvents>,
    pub(crate) opts: Options,
    /// The listener's "freed" flag: a stream accepted just before the host
    /// frees its listener is closed without being announced.
    pub(crate) listener_dead: Option<Arc<AtomicBool>>,
}
