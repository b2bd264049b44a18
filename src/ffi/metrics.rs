//! A server's metrics over the C ABI: a versioned snapshot struct, the
//! Prometheus text format, and a built-in route that serves it.

use std::ffi::c_char;

use super::boundary::{fail, fail_null, ffi_boundary, ffi_try, str_arg, try_ref};
use super::server::sq_server;
use super::status::{SQ_OK, sq_status};
use super::ws::known_prefix;
use super::event_loop::sq_loop;
use crate::metrics::{BUCKETS_US, ClientCounter, Counter, Snapshot};
use crate::{Error, ErrorKind};

/// Buckets of the request latency histogram: the upper bounds, in
/// microseconds, of all but the last (which is above 10 s). Not cumulative.
pub const SQ_METRICS_LATENCY_BUCKETS: usize = 19;

const _: () = assert!(SQ_METRICS_LATENCY_BUCKETS == BUCKETS_US.len() + 1);

/// A server's counters at one moment (`sq_metrics_snapshot`). Counters
/// only grow, from the server's creation. Caller-allocated: pass
/// `sizeof(sq_metrics)`; fields are only ever appended, and a newer library
/// fills no more than that, setting `size` to what it wrote (docs/ABI.md).
///
/// Each counter is exact; the snapshot as a whole is not taken atomically
/// (counters written meanwhile may or may not be in it).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct sq_metrics {
    /// The bytes the library filled (the smaller of the two structs' sizes).
    pub size: usize,
    /// HTTP connections accepted (WebSockets begin as HTTP connections).
    pub connections_accepted: u64,
    /// Connections open now: accepted minus closed.
    pub connections_open: u64,
    /// Connections closed because the client went away or closed.
    pub connections_closed_client: u64,
    /// ... because of a timeout (idle, header, body: 408).
    pub connections_closed_timeout: u64,
    /// ... because of a limit: a request refused with a 4xx/5xx, a
    /// WebSocket protocol or size violation (1002, 1007, 1008, 1009), a
    /// WebSocket over `max_backpressure` with `SQ_WS_CLOSE_ON_LIMIT`.
    pub connections_closed_limit: u64,
    /// ... because of an I/O error or an internal error.
    pub connections_closed_error: u64,
    /// ... because the server shut down or was freed.
    pub connections_closed_server: u64,
    /// Requests by method (heads decoded).
    pub requests_get: u64,
    /// Requests whose method is HEAD.
    pub requests_head: u64,
    /// Requests whose method is POST.
    pub requests_post: u64,
    /// Requests whose method is PUT.
    pub requests_put: u64,
    /// Requests whose method is DELETE.
    pub requests_delete: u64,
    /// Requests of any other method.
    pub requests_other: u64,
    /// Responses completed, by status class (refusals included).
    pub responses_1xx: u64,
    /// Responses with a 2xx status.
    pub responses_2xx: u64,
    /// Responses with a 3xx status.
    pub responses_3xx: u64,
    /// Responses with a 4xx status.
    pub responses_4xx: u64,
    /// Responses with a 5xx status.
    pub responses_5xx: u64,
    /// Bytes read from and written to HTTP connections (before an upgrade).
    pub http_bytes_in: u64,
    /// Bytes written to HTTP connections.
    pub http_bytes_out: u64,
    /// Requests refused before any handler ran, by status.
    pub refused_400: u64,
    /// Requests refused with 408.
    pub refused_408: u64,
    /// Requests refused with 413.
    pub refused_413: u64,
    /// Requests refused with 414.
    pub refused_414: u64,
    /// Requests refused with 417.
    pub refused_417: u64,
    /// Requests refused with 431.
    pub refused_431: u64,
    /// Requests refused with 501.
    pub refused_501: u64,
    /// Requests refused with 505.
    pub refused_505: u64,
    /// Responses whose latency was measured (end of the request's head to
    /// the last byte of the response written), their sum in microseconds,
    /// and the count per bucket: at most 50, 100, 250, 500 µs, 1, 2.5, 5,
    /// 10, 25, 50, 100, 250, 500 ms, 1, 2.5, 5, 7.5, 10 s, and above.
    pub latency_count: u64,
    /// The latencies' sum, in microseconds.
    pub latency_sum_us: u64,
    /// Responses per latency bucket (see `latency_count`).
    pub latency_buckets: [u64; SQ_METRICS_LATENCY_BUCKETS],
    /// WebSockets opened, and closed by the code their `on_close` got.
    pub ws_opened: u64,
    /// WebSockets closed with code 1000.
    pub ws_closed_1000: u64,
    /// WebSockets closed with code 1001.
    pub ws_closed_1001: u64,
    /// WebSockets closed with code 1002.
    pub ws_closed_1002: u64,
    /// WebSockets closed with code 1006.
    pub ws_closed_1006: u64,
    /// WebSockets closed with code 1007.
    pub ws_closed_1007: u64,
    /// WebSockets closed with code 1008.
    pub ws_closed_1008: u64,
    /// WebSockets closed with code 1009.
    pub ws_closed_1009: u64,
    /// WebSockets closed with code 1011.
    pub ws_closed_1011: u64,
    /// WebSockets closed with any other code.
    pub ws_closed_other: u64,
    /// Data messages received (handed to `on_message`) and sent (queued; a
    /// topic delivery counts once per subscriber), and their payload bytes.
    pub ws_messages_in: u64,
    /// Data messages sent.
    pub ws_messages_out: u64,
    /// Payload bytes received.
    pub ws_bytes_in: u64,
    /// Payload bytes sent.
    pub ws_bytes_out: u64,
    /// Times a socket stopped reading because the host was behind (input)
    /// or its peer did not read what was sent (output).
    pub ws_paused_input: u64,
    /// Pauses because the peer did not read.
    pub ws_paused_output: u64,
    /// Sends refused over `max_backpressure`, and sockets closed for it.
    pub ws_dropped: u64,
    /// Sockets closed over `max_backpressure`.
    pub ws_closed_backpressure: u64,
    /// `sq_publish` calls, messages queued to subscribers, and messages not
    /// queued to a subscriber over its `max_backpressure`.
    pub topic_publishes: u64,
    /// Topic messages queued to subscribers.
    pub topic_deliveries: u64,
    /// Topic messages not queued over a subscriber's `max_backpressure`.
    pub topic_drops: u64,
    /// TLS handshakes completed on the server's connections.
    pub tls_handshakes: u64,
    /// TLS handshakes that failed: an alert, a reset, the peer left, plain
    /// HTTP on the TLS port.
    pub tls_handshake_failures: u64,
    /// TLS handshakes not done within the header timeout.
    pub tls_handshake_timeouts: u64,
    /// The server's loop: tasks queued for the host thread and not taken
    /// yet (request and WebSocket events, calls from other threads; a
    /// WebSocket's queued events count as one task per turn of its lane).
    pub host_queue_depth: u64,
    /// The server's loop: tasks the host thread has taken.
    pub host_tasks: u64,
    /// The server's loop: batches of tasks the host thread has taken, the
    /// sum of how long each batch's oldest task waited (microseconds), and
    /// the batches per wait bucket (the latency buckets' bounds).
    pub host_batches: u64,
    /// The batches' oldest waits, summed, in microseconds.
    pub host_wait_sum_us: u64,
    /// Batches per wait bucket (see `host_batches`).
    pub host_wait_buckets: [u64; SQ_METRICS_LATENCY_BUCKETS],
    /// 1 when a cluster is attached to the server (`sq_cluster_attach`);
    /// the `cluster_*` fields below are 0 when none is.
    pub cluster_attached: u64,
    /// 1 when the cluster's broker connections are all up now, else 0.
    pub cluster_connected: u64,
    /// Publishes sent to the broker (to the other processes).
    pub cluster_published: u64,
    /// Publishes not sent: the cluster's outbox was full.
    pub cluster_outbox_full: u64,
    /// Messages received from the broker.
    pub cluster_received: u64,
    /// Of those, messages fanned out to local subscribers.
    pub cluster_delivered: u64,
    /// This process's own messages heard back (ignored).
    pub cluster_echo: u64,
    /// Messages of other processes missed (sequence gaps).
    pub cluster_gaps: u64,
    /// Messages heard twice (replays dropped).
    pub cluster_repeats: u64,
    /// Broker messages that are no squall envelope.
    pub cluster_junk: u64,
    /// Broker messages over the size limit.
    pub cluster_oversized: u64,
    /// Broker messages on a channel that names no squall topic.
    pub cluster_bad_topic: u64,
    /// Reconnections to the broker.
    pub cluster_reconnects: u64,
    /// Broker channels heard now.
    pub cluster_subscribed: u64,
    /// Publishes waiting to be written to the broker now.
    pub cluster_outbox: u64,
    /// The loop's HTTP client (`sq_fetch`; the same figures in every server
    /// of the loop): fetches started (redirects and retries are part of
    /// their fetch), and completed with a response, by status class.
    pub client_started: u64,
    /// Fetches completed with a 1xx status.
    pub client_responses_1xx: u64,
    /// Fetches completed with a 2xx status.
    pub client_responses_2xx: u64,
    /// Fetches completed with a 3xx status (a redirect not followed).
    pub client_responses_3xx: u64,
    /// Fetches completed with a 4xx status.
    pub client_responses_4xx: u64,
    /// Fetches completed with a 5xx status.
    pub client_responses_5xx: u64,
    /// Fetches failed: the name did not resolve or no address took the
    /// connection (`SQ_ERR_RESOLVE`, `SQ_ERR_CONNECT`).
    pub client_failed_connect: u64,
    /// Fetches failed in the TLS handshake or its verification.
    pub client_failed_tls: u64,
    /// Fetches failed on a connect, request or pool-wait timeout.
    pub client_failed_timeout: u64,
    /// Fetches cancelled (`sq_fetch_cancel`).
    pub client_failed_cancelled: u64,
    /// Fetches failed on a malformed or over-limit response.
    pub client_failed_protocol: u64,
    /// Fetches failed for any other reason (an I/O error, a limit...).
    pub client_failed_other: u64,
    /// Connections the client's pool opened.
    pub client_connections_opened: u64,
    /// Requests sent on a pooled connection that had served one before.
    pub client_connections_reused: u64,
    /// Bytes the client read (after TLS) and wrote (before TLS).
    pub client_bytes_in: u64,
    /// Bytes the client wrote.
    pub client_bytes_out: u64,
    /// WebSocket client connects (`sq_ws_connect`) started, opened (the
    /// server's 101 accepted) and failed (resolve, connect, TLS, timeout, a
    /// refused handshake: what `on_connect_error` is told).
    pub client_ws_connects: u64,
    /// WebSocket client connects that opened.
    pub client_ws_opened: u64,
    /// WebSocket client connects that failed.
    pub client_ws_failed: u64,
    /// WebSocket bytes read as frames (headers included, payloads as they
    /// came: compressed when they were; after TLS). With `ws_bytes_in`, the
    /// deflate ratio.
    pub ws_wire_bytes_in: u64,
    /// WebSocket bytes written as frames (headers included, payloads as
    /// sent: compressed when they were; before TLS).
    pub ws_wire_bytes_out: u64,
}

fn fill(s: &Snapshot) -> sq_metrics {
    let g = |c| s.get(c);
    sq_metrics {
        size: std::mem::size_of::<sq_metrics>(),
        connections_accepted: g(Counter::ConnAccepted),
        connections_open: s.open_connections(),
        connections_closed_client: g(Counter::ConnClosedClient),
        connections_closed_timeout: g(Counter::ConnClosedTimeout),
        connections_closed_limit: g(Counter::ConnClosedLimit),
        connections_closed_error: g(Counter::ConnClosedError),
        connections_closed_server: g(Counter::ConnClosedServer),
        requests_get: g(Counter::ReqGet),
        requests_head: g(Counter::ReqHead),
        requests_post: g(Counter::ReqPost),
        requests_put: g(Counter::ReqPut),
        requests_delete: g(Counter::ReqDelete),
        requests_other: g(Counter::ReqOther),
        responses_1xx: g(Counter::Status1xx),
        responses_2xx: g(Counter::Status2xx),
        responses_3xx: g(Counter::Status3xx),
        responses_4xx: g(Counter::Status4xx),
        responses_5xx: g(Counter::Status5xx),
        http_bytes_in: g(Counter::BytesIn),
        http_bytes_out: g(Counter::BytesOut),
        refused_400: g(Counter::Refused400),
        refused_408: g(Counter::Refused408),
        refused_413: g(Counter::Refused413),
        refused_414: g(Counter::Refused414),
        refused_417: g(Counter::Refused417),
        refused_431: g(Counter::Refused431),
        refused_501: g(Counter::Refused501),
        refused_505: g(Counter::Refused505),
        latency_count: s.latency_count(),
        latency_sum_us: s.latency_sum_us,
        latency_buckets: s.buckets,
        ws_opened: g(Counter::WsOpened),
        ws_closed_1000: g(Counter::WsClosed1000),
        ws_closed_1001: g(Counter::WsClosed1001),
        ws_closed_1002: g(Counter::WsClosed1002),
        ws_closed_1006: g(Counter::WsClosed1006),
        ws_closed_1007: g(Counter::WsClosed1007),
        ws_closed_1008: g(Counter::WsClosed1008),
        ws_closed_1009: g(Counter::WsClosed1009),
        ws_closed_1011: g(Counter::WsClosed1011),
        ws_closed_other: g(Counter::WsClosedOther),
        ws_messages_in: g(Counter::WsMessagesIn),
        ws_messages_out: g(Counter::WsMessagesOut),
        ws_bytes_in: g(Counter::WsBytesIn),
        ws_bytes_out: g(Counter::WsBytesOut),
        ws_paused_input: g(Counter::WsPausedInput),
        ws_paused_output: g(Counter::WsPausedOutput),
        ws_dropped: g(Counter::WsDropped),
        ws_closed_backpressure: g(Counter::WsClosedBackpressure),
        topic_publishes: g(Counter::TopicPublishes),
        topic_deliveries: g(Counter::TopicDeliveries),
        topic_drops: g(Counter::TopicDrops),
        tls_handshakes: g(Counter::TlsHandshakes),
        tls_handshake_failures: g(Counter::TlsHandshakeFailures),
        tls_handshake_timeouts: g(Counter::TlsHandshakeTimeouts),
        host_queue_depth: s.host.depth,
        host_tasks: s.host.run,
        host_batches: s.host.batches,
        host_wait_sum_us: s.host.wait_sum_us,
        host_wait_buckets: s.host.wait_buckets,
        cluster_attached: u64::from(s.cluster.attached),
        cluster_connected: u64::from(s.cluster.connected),
        cluster_published: s.cluster.published,
        cluster_outbox_full: s.cluster.outbox_full,
        cluster_received: s.cluster.received,
        cluster_delivered: s.cluster.delivered,
        cluster_echo: s.cluster.echo,
        cluster_gaps: s.cluster.gaps,
        cluster_repeats: s.cluster.repeats,
        cluster_junk: s.cluster.junk,
        cluster_oversized: s.cluster.oversized,
        cluster_bad_topic: s.cluster.bad_topic,
        cluster_reconnects: s.cluster.reconnects,
        cluster_subscribed: s.cluster.subscribed,
        cluster_outbox: s.cluster.outbox,
        client_started: s.client.get(ClientCounter::Started),
        client_responses_1xx: s.client.get(ClientCounter::Status1xx),
        client_responses_2xx: s.client.get(ClientCounter::Status2xx),
        client_responses_3xx: s.client.get(ClientCounter::Status3xx),
        client_responses_4xx: s.client.get(ClientCounter::Status4xx),
        client_responses_5xx: s.client.get(ClientCounter::Status5xx),
        client_failed_connect: s.client.get(ClientCounter::FailedConnect),
        client_failed_tls: s.client.get(ClientCounter::FailedTls),
        client_failed_timeout: s.client.get(ClientCounter::FailedTimeout),
        client_failed_cancelled: s.client.get(ClientCounter::FailedCancelled),
        client_failed_protocol: s.client.get(ClientCounter::FailedProtocol),
        client_failed_other: s.client.get(ClientCounter::FailedOther),
        client_connections_opened: s.client.get(ClientCounter::ConnOpened),
        client_connections_reused: s.client.get(ClientCounter::ConnReused),
        client_bytes_in: s.client.get(ClientCounter::BytesIn),
        client_bytes_out: s.client.get(ClientCounter::BytesOut),
        client_ws_connects: s.client.get(ClientCounter::WsConnects),
        client_ws_opened: s.client.get(ClientCounter::WsOpened),
        client_ws_failed: s.client.get(ClientCounter::WsFailed),
        ws_wire_bytes_in: g(Counter::WsWireIn),
        ws_wire_bytes_out: g(Counter::WsWireOut),
    }
}

/// Fills `out` with the server's counters now: pass `sizeof(sq_metrics)`
/// as `size`. No more than `size` bytes are written, so a program built
/// against an older header gets the fields it knows; `out->size` says how
/// many were.
///
/// Thread: any thread (the counters are read with relaxed atomic loads;
/// an attached cluster's are found under two short locks, held for a
/// pointer's read: never a wait on I/O or on a reactor).
/// Ownership: writes into the caller's struct; nothing changes hands.
/// Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` when `size` is
/// smaller than the `size` field itself.
#[unsafe(no_mangle)]
pub extern "C" fn sq_metrics_snapshot(server: *mut sq_server, out: *mut sq_metrics, size: usize) -> sq_status {
    ffi_boundary! {
        let s = try_ref!(sq_server, server, "server");
        if out.is_null() {
            return fail_null("out");
        }
        let n = known_prefix::<sq_metrics>(size);
        if n == 0 {
            return fail(Error::new(ErrorKind::InvalidArg, "size is smaller than the struct's size field"));
        }
        let m = sq_metrics { size: n, ..fill(&s.metrics()) };
        // SAFETY: the caller's struct has at least `size` >= n bytes.
        unsafe { std::ptr::copy_nonoverlapping((&raw const m).cast::<u8>(), out.cast::<u8>(), n) };
        SQ_OK
    }
}

/// Fills `out` with the figures of the loop itself, for a program with no
/// server (a client only): the `host_*` and `client_*` fields; every
/// server field is 0. Pass `sizeof(sq_metrics)` as `size`, as for
/// `sq_metrics_snapshot` (`out->size` says how many bytes were written).
///
/// Thread: any thread (relaxed atomic loads; nothing waits).
/// Ownership: writes into the caller's struct; nothing changes hands.
/// Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` when `size` is
/// smaller than the `size` field itself.
#[unsafe(no_mangle)]
pub extern "C" fn sq_loop_metrics_snapshot(r#loop: *mut sq_loop, out: *mut sq_metrics, size: usize) -> sq_status {
    ffi_boundary! {
        let lp = try_ref!(sq_loop, r#loop, "loop");
        if out.is_null() {
            return fail_null("out");
        }
        let n = known_prefix::<sq_metrics>(size);
        if n == 0 {
            return fail(Error::new(ErrorKind::InvalidArg, "size is smaller than the struct's size field"));
        }
        let mut snap = crate::metrics::Metrics::default().snapshot();
        snap.host = lp.handle().host_stats();
        snap.client = lp.handle().client_stats().snapshot();
        let m = sq_metrics { size: n, ..fill(&snap) };
        // SAFETY: the caller's struct has at least `size` >= n bytes.
        unsafe { std::ptr::copy_nonoverlapping((&raw const m).cast::<u8>(), out.cast::<u8>(), n) };
        SQ_OK
    }
}

/// Writes the server's counters in Prometheus' text exposition format
/// (version 0.0.4, served as `text/plain; version=0.0.4; charset=utf-8`)
/// into `buf`, NUL-terminated. `*needed` (if not NULL) gets the text's
/// length without the NUL: when it is `cap` or more nothing useful was
/// written; call again with a buffer of at least `*needed + 1` bytes. The
/// names, labels and help of every family are listed in docs/METRICS.md.
///
/// Thread: any thread.
/// Ownership: writes into the caller's buffer; nothing changes hands.
/// Returns: `SQ_OK` (the whole text and its NUL fit); `SQ_ERR_LIMIT` (it did
/// not: `*needed` says how much is needed; `buf` holds an empty string when
/// `cap` > 0); `SQ_ERR_NULL` for `server`, or `buf` with `cap` > 0.
#[unsafe(no_mangle)]
pub extern "C" fn sq_metrics_prometheus(server: *mut sq_server, buf: *mut c_char, cap: usize, needed: *mut usize) -> sq_status {
    ffi_boundary! {
        let s = try_ref!(sq_server, server, "server");
        if buf.is_null() && cap > 0 {
            return fail_null("buf");
        }
        let text = crate::metrics::prometheus(&s.metrics());
        if !needed.is_null() {
            // SAFETY: a caller's size_t, per the contract.
            unsafe { needed.write(text.len()) };
        }
        if text.len() >= cap {
            if cap > 0 {
                // SAFETY: `buf` has `cap` > 0 bytes.
                unsafe { buf.write(0) };
            }
            return fail(Error::new(ErrorKind::Limit, format!("the metrics text needs {} bytes and a NUL; the buffer has {cap}", text.len())));
        }
        // SAFETY: `buf` has `cap` > text.len() bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast::<u8>(), text.len());
            buf.add(text.len()).write(0);
        }
        SQ_OK
    }
}

/// Serves the server's counters in Prometheus' text format at GET (and
/// HEAD) `path` (a plain path such as "/metrics", not a pattern), answered
/// on the reactor thread, so a scrape gets an answer while the host thread
/// is busy. Routes are tried in the order they were added.
///
/// Thread: the host thread (like `sq_route`).
/// Ownership: `path` is copied.
/// Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` when `path` is not
/// UTF-8 or does not start with '/'.
#[unsafe(no_mangle)]
pub extern "C" fn sq_server_metrics_route(server: *mut sq_server, path: *const c_char) -> sq_status {
    ffi_boundary! {
        let s = try_ref!(sq_server, server, "server");
        // SAFETY: a C string or NULL, per the contract.
        let path = ffi_try!(unsafe { str_arg(path, "path") });
        match s.metrics_route(path) {
            Ok(()) => SQ_OK,
            Err(e) => fail(e),
        }
    }
}
