//! A WebSocket as the host sees it: a generation-checked handle to this
//! shared part, usable from any thread. Sends are serialized into frames on
//! the calling thread and shipped to the reactor that owns the connection;
//! the byte count still to be written (`buffered`) is kept here, so that a
//! send can answer "queued", "queued above the high-water mark" or "dropped"
//! at once, without asking the reactor.

use std::sync::{Arc, LazyLock};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use super::route::WsRoute;
use super::topics::Registry;
use crate::http::request::ConnAddr;
use crate::http::shared::ServerShared;
use crate::net::writeq::Sent;
use crate::reactor::flow::{EVENT_COST, FlowGate, Marks, cost};
use crate::reactor::lane::Lane;
use crate::reactor::handles::HandleTable;
use crate::{Error, ErrorKind, Result};

/// Every open WebSocket in the process, by handle.
pub(crate) static SOCKETS: LazyLock<HandleTable<WsSocket>> = LazyLock::new(HandleTable::default);

/// The shared part of one WebSocket.
#[derive(Debug)]
pub(crate) struct WsSocket {
    handle: AtomicU64,
    pub(crate) addr: ConnAddr,
    pub(crate) route: Arc<WsRoute>,
    pub(crate) server: Arc<ServerShared>,
    /// The server's topics (its [`Registry`], kept in the server's
    /// extension slot).
    pub(crate) topics: Arc<Registry>,
    /// Bytes queued for the socket and not yet written (frames on their way
    /// to the reactor included).
    pub(crate) buffered: AtomicUsize,
    /// Frames counted in `buffered`: each costs `flow::EVENT_COST` on top
    /// of its bytes in every limit (see [`WsSocket::output_cost`]).
    pub(crate) frames: AtomicUsize,
    /// The host asked to stop reading (`hold_reading`): the connection
    /// follows the latest value, whatever order the commands arrive in.
    pub(crate) host_hold: AtomicBool,
    /// No more sends: a close was started, or the connection is gone.
    pub(crate) closed: AtomicBool,
    /// The host's word for this socket (opaque here): the route's until the
    /// host sets its own; handed to every event.
    user: AtomicUsize,
    /// A send reported backpressure: call `on_drain` when below the mark.
    pub(crate) drain_wanted: AtomicBool,
    /// Message bytes handed to the host and not yet taken by its callback:
    /// more than 1 MiB pauses reading, until under 256 KiB.
    /// The server's flow marks when the socket opened: the inbox's, and
    /// the queued output's above which reading pauses.
    pub(crate) flow: Marks,
    /// The socket's events for the host, in order, in turn with other
    /// sockets' (`reactor::lane`).
    pub(crate) lane: Arc<Lane>,
    /// The server's send timeout when the socket opened (0: none).
    pub(crate) send_timeout_ms: u64,
    pub(crate) inbox: FlowGate,
    pub(crate) protocol: Option<String>,
    /// A client's socket: the headers of the server's 101, set once at open.
    pub(crate) response_headers: std::sync::OnceLock<Vec<(String, Vec<u8>)>>,
    /// A client's socket: frames it sends are masked; no topics.
    pub(crate) client: bool,
    /// permessage-deflate: the window of the thread's shared compressor
    /// that this socket's messages may be compressed with (9..=15), or 0
    /// for never (not negotiated, or the peer asked for a window of 8).
    pub(crate) compress_bits: u8,
    /// permessage-deflate in the dedicated mode with server context
    /// takeover: messages are compressed on the reactor, in the order they
    /// go out, by the connection's own compressor (`WsConn::deflater`).
    pub(crate) dedicated: bool,
}

impl WsSocket {
    pub(crate) fn new(
        addr: ConnAddr,
        route: Arc<WsRoute>,
        server: Arc<ServerShared>,
        protocol: Option<String>,
        client: bool,
        compress_bits: u8,
        dedicated: bool,
    ) -> Arc<WsSocket> {
        let user = AtomicUsize::new(route.events.initial_user_word());
        let topics = server.ext::<Registry>();
        let flow = server.flow();
        let lane = Lane::new(server.loop_handle.clone(), server.lanes_busy.clone());
        let send_timeout_ms = if client { 0 } else { server.send_timeout_ms() };
        let sock = Arc::new(WsSocket {
            handle: AtomicU64::new(0),
            addr,
            route,
            server,
            topics,
            buffered: AtomicUsize::new(0),
            frames: AtomicUsize::new(0),
            host_hold: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            user,
            drain_wanted: AtomicBool::new(false),
            inbox: FlowGate::with_marks(flow),
            flow,
            send_timeout_ms,
            lane,
            protocol,
            response_headers: std::sync::OnceLock::new(),
            client,
            compress_bits,
            dedicated,
        });
        let h = SOCKETS.insert(sock.clone(), addr.reactor);
        sock.handle.store(h, Ordering::Release);
        sock
    }

    pub(crate) fn handle(&self) -> u64 {
        self.handle.load(Ordering::Acquire)
    }

    /// Drops the handle from the table: later calls with it get Closed.
    pub(crate) fn release(&self) {
        SOCKETS.remove(self.handle());
    }

    pub(crate) fn user_word(&self) -> usize {
        self.user.load(Ordering::Acquire)
    }

    pub(crate) fn set_user_word(&self, word: usize) {
        self.user.store(word, Ordering::Release);
    }

    pub(crate) fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::new(ErrorKind::Closed, "the WebSocket is closed"));
        }
        Ok(())
    }

    /// Adds `n` to a counter of the server's metrics (server sockets only:
    /// a client socket's server is a stand-in). Any thread.
    pub(crate) fn count(&self, c: crate::metrics::Counter, n: u64) {
        if !self.client {
            self.server.metrics.add(crate::metrics::Writer::Other, c, n);
        }
    }

    /// What the queued output costs: its bytes plus a fixed cost per frame
    /// (a flood of tiny frames weighs what it holds, not just its bytes).
    pub(crate) fn output_cost(&self) -> usize {
        let frames = self.frames.load(Ordering::Acquire);
        self.buffered.load(Ordering::Acquire).saturating_add(frames.saturating_mul(EVENT_COST))
    }

    /// Counts a frame of `n` more bytes against the route's limits: the
    /// backpressure rule shared by sends and publishes (bytes plus the cost
    /// per frame, see [`WsSocket::output_cost`]). Err(Limit) when the
    /// message must not be queued.
    pub(crate) fn admit(&self, n: usize, from_send: bool) -> Result<Sent> {
        let opts = &self.route.opts;
        let before = self.buffered.fetch_add(n, Ordering::AcqRel);
        let frames = self.frames.fetch_add(1, Ordering::AcqRel);
        let after = before.saturating_add(frames.saturating_mul(EVENT_COST)).saturating_add(cost(n));
        if before > 0 && after > opts.max_backpressure {
            self.buffered.fetch_sub(n, Ordering::AcqRel);
            self.frames.fetch_sub(1, Ordering::AcqRel);
            return Err(Error::new(
                ErrorKind::Limit,
                format!("message dropped: {before} bytes already buffered (max_backpressure {})", opts.max_backpressure),
            ));
        }
        if after > opts.high_water {
            // on_drain answers a send that reported backpressure (a publish
            // reports nothing to anyone)
            if from_send {
                self.drain_wanted.store(true, Ordering::Release);
            }
            Ok(Sent::Backpressure)
        } else {
            Ok(Sent::Queued)
        }
    }
}

/// RFC 6455 §7.4: codes an endpoint may put in a close frame.
pub(crate) fn valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

pub(crate) fn check_topic(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 1024 {
        return Err(Error::new(ErrorKind::InvalidArg, "a topic name is 1 to 1024 bytes"));
    }
    Ok(())
}
