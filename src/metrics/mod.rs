//! A server's counters: cheap enough to be always on.
//!
//! Each server owns one [`Metrics`]: a few cache-line-aligned shards of
//! relaxed atomic counters. A reactor thread writes the shard of its index
//! (one writer per shard as long as there are fewer reactors than shards),
//! other threads (the host, a worker sending on a WebSocket) the last one.
//! Reading sums the shards: a snapshot is not atomic across counters, each
//! counter is exact. No lock on any path that counts.
//!
//! What is counted, and the names it has in Prometheus' text format, is the
//! table [`COUNTERS`]; the request latency histogram is [`BUCKETS_US`].

mod text;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub(crate) use text::{CONTENT_TYPE, prometheus};

/// One counter: its place in a shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Counter {
    ConnAccepted,
    ConnClosedClient,
    ConnClosedTimeout,
    ConnClosedLimit,
    ConnClosedError,
    ConnClosedServer,
    ReqGet,
    ReqHead,
    ReqPost,
    ReqPut,
    ReqDelete,
    ReqOther,
    Status1xx,
    Status2xx,
    Status3xx,
    Status4xx,
    Status5xx,
    BytesIn,
    BytesOut,
    Refused400,
    Refused408,
    Refused413,
    Refused414,
    Refused417,
    Refused431,
    Refused501,
    Refused505,
    WsOpened,
    WsClosed1000,
    WsClosed1001,
    WsClosed1002,
    WsClosed1006,
    WsClosed1007,
    WsClosed1008,
    WsClosed1009,
    WsClosed1011,
    WsClosedOther,
    WsMessagesIn,
    WsMessagesOut,
    WsBytesIn,
    WsBytesOut,
    WsPausedInput,
    WsPausedOutput,
    WsDropped,
    WsClosedBackpressure,
    TopicPublishes,
    TopicDeliveries,
    TopicDrops,
    TlsHandshakes,
    TlsHandshakeFailures,
    TlsHandshakeTimeouts,
    /// WebSocket bytes as frames on the connection (headers included,
    /// payloads as sent: compressed when they were; before TLS), read and
    /// written. Beside the payload counters, the deflate ratio.
    WsWireIn,
    WsWireOut,
}

/// How many counters a shard holds.
pub(crate) const COUNTERS: usize = Counter::WsWireOut as usize + 1;

/// The upper bounds of the request latency histogram, in microseconds:
/// log-spaced, 50 µs to 10 s (the `+Inf` bucket is the count).
pub(crate) const BUCKETS_US: [u64; 18] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000, 5_000_000, 7_500_000, 10_000_000,
];

/// Shards per server: reactor `i` writes shard `i % (SHARDS - 1)`, every
/// other thread the last.
const SHARDS: usize = 8;

#[repr(align(64))]
struct Shard {
    counters: [AtomicU64; COUNTERS],
    /// Requests per latency bucket (not cumulative; the last is `+Inf`).
    buckets: [AtomicU64; BUCKETS_US.len() + 1],
    latency_sum_us: AtomicU64,
}

impl Default for Shard {
    fn default() -> Self {
        Shard {
            counters: [const { AtomicU64::new(0) }; COUNTERS],
            buckets: [const { AtomicU64::new(0) }; BUCKETS_US.len() + 1],
            latency_sum_us: AtomicU64::new(0),
        }
    }
}

/// Which shard a writer uses: its reactor's, or the shared one.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Writer {
    Reactor(usize),
    Other,
}

impl Writer {
    fn shard(self) -> usize {
        match self {
            Writer::Reactor(i) => i % (SHARDS - 1),
            Writer::Other => SHARDS - 1,
        }
    }
}

/// The loop's own figures, kept by the reactor module: the tasks it hands
/// the host thread (request and WebSocket events, calls from other threads)
/// and how long each batch's oldest task waited for the host to take it.
/// Producers (any thread) add to `queued` once per batch; only the host
/// thread writes the rest.
#[derive(Default)]
pub(crate) struct HostStats {
    queued: AtomicU64,
    run: AtomicU64,
    batches: AtomicU64,
    wait_sum_us: AtomicU64,
    /// Batches per wait bucket (not cumulative; the last is `+Inf`).
    wait_buckets: [AtomicU64; BUCKETS_US.len() + 1],
}

impl std::fmt::Debug for HostStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostStats").finish_non_exhaustive()
    }
}

impl HostStats {
    /// `n` tasks were queued for the host.
    #[inline]
    pub(crate) fn queued(&self, n: usize) {
        if cfg!(feature = "bench-metrics-off") {
            return;
        }
        self.queued.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// The host took a batch of `n` tasks whose oldest had waited `waited`.
    pub(crate) fn took(&self, n: usize, waited: Duration) {
        if cfg!(feature = "bench-metrics-off") || n == 0 {
            return;
        }
        let us = u64::try_from(waited.as_micros()).unwrap_or(u64::MAX);
        let i = BUCKETS_US.iter().position(|&b| us <= b).unwrap_or(BUCKETS_US.len());
        self.wait_buckets[i].fetch_add(1, Ordering::Relaxed);
        self.wait_sum_us.fetch_add(us, Ordering::Relaxed);
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.run.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// The figures now.
    pub(crate) fn snapshot(&self) -> HostSnapshot {
        let run = self.run.load(Ordering::Relaxed);
        // `queued` is read second: a batch taken between the two loads is
        // counted queued, never run and not queued (no negative depth).
        let queued = self.queued.load(Ordering::Relaxed);
        let mut wait_buckets = [0; BUCKETS_US.len() + 1];
        for (o, b) in wait_buckets.iter_mut().zip(&self.wait_buckets) {
            *o = b.load(Ordering::Relaxed);
        }
        HostSnapshot {
            depth: queued.saturating_sub(run),
            run,
            batches: self.batches.load(Ordering::Relaxed),
            wait_sum_us: self.wait_sum_us.load(Ordering::Relaxed),
            wait_buckets,
        }
    }
}

/// [`HostStats`] read at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct HostSnapshot {
    /// Tasks queued for the host and not taken yet.
    pub(crate) depth: u64,
    /// Tasks the host has taken.
    pub(crate) run: u64,
    /// Batches the host has taken (each a histogram sample).
    pub(crate) batches: u64,
    /// The batches' oldest waits, summed, in microseconds.
    pub(crate) wait_sum_us: u64,
    /// Batches per wait bucket (not cumulative; the last is `+Inf`).
    pub(crate) wait_buckets: [u64; BUCKETS_US.len() + 1],
}

/// One of the HTTP client's counters (per loop: [`ClientStats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum ClientCounter {
    /// Fetches handed to the client (on its reactor).
    Started,
    /// Fetches completed with a response, by status class.
    Status1xx,
    Status2xx,
    Status3xx,
    Status4xx,
    Status5xx,
    /// Fetches that failed, by reason.
    FailedConnect,
    FailedTls,
    FailedTimeout,
    FailedCancelled,
    FailedProtocol,
    FailedOther,
    /// Connections the pool opened, and requests sent on a connection that
    /// had served one before.
    ConnOpened,
    ConnReused,
    /// Bytes read (after TLS) and written (before TLS) on its connections.
    BytesIn,
    BytesOut,
    /// WebSocket client connects started, opened (the server's 101
    /// accepted), and failed (resolve, connect, TLS, timeout, a refused
    /// handshake).
    WsConnects,
    WsOpened,
    WsFailed,
}

/// How many client counters there are.
pub(crate) const CLIENT_COUNTERS: usize = ClientCounter::WsFailed as usize + 1;

/// The HTTP client's counters, one set per loop: the client runs on the
/// loop's first reactor, the only thread that writes them (relaxed adds,
/// no lock); any thread reads them.
pub(crate) struct ClientStats {
    counters: [AtomicU64; CLIENT_COUNTERS],
    /// Requests waiting for a connection now (a gauge: `sq_fetch_queued`).
    queued: AtomicU64,
}

impl Default for ClientStats {
    fn default() -> Self {
        ClientStats { counters: [const { AtomicU64::new(0) }; CLIENT_COUNTERS], queued: AtomicU64::new(0) }
    }
}

impl std::fmt::Debug for ClientStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientStats").finish_non_exhaustive()
    }
}

impl ClientStats {
    /// Sets how many requests wait for a connection (the pool, on its reactor).
    pub(crate) fn set_queued(&self, n: usize) {
        self.queued.store(n as u64, Ordering::Relaxed);
    }

    /// How many requests wait for a connection (any thread).
    pub(crate) fn queued(&self) -> u64 {
        self.queued.load(Ordering::Relaxed)
    }

    /// Adds `n` to `c`.
    #[inline]
    pub(crate) fn add(&self, c: ClientCounter, n: u64) {
        if cfg!(feature = "bench-metrics-off") {
            return;
        }
        self.counters[c as usize].fetch_add(n, Ordering::Relaxed);
    }

    /// Adds one to `c`.
    #[inline]
    pub(crate) fn inc(&self, c: ClientCounter) {
        self.add(c, 1);
    }

    /// A fetch completed with `status`.
    pub(crate) fn completed(&self, status: u16) {
        self.inc(match status {
            100..=199 => ClientCounter::Status1xx,
            200..=299 => ClientCounter::Status2xx,
            300..=399 => ClientCounter::Status3xx,
            400..=499 => ClientCounter::Status4xx,
            _ => ClientCounter::Status5xx,
        });
    }

    /// A fetch failed with an error of `kind`.
    pub(crate) fn failed(&self, kind: crate::ErrorKind) {
        use crate::ErrorKind as K;
        self.inc(match kind {
            K::Connect | K::Resolve => ClientCounter::FailedConnect,
            K::Tls => ClientCounter::FailedTls,
            K::Timeout => ClientCounter::FailedTimeout,
            K::Cancelled => ClientCounter::FailedCancelled,
            K::Protocol => ClientCounter::FailedProtocol,
            _ => ClientCounter::FailedOther,
        });
    }

    /// The counters now.
    pub(crate) fn snapshot(&self) -> ClientSnapshot {
        let mut counters = [0; CLIENT_COUNTERS];
        for (o, c) in counters.iter_mut().zip(&self.counters) {
            *o = c.load(Ordering::Relaxed);
        }
        ClientSnapshot { counters }
    }
}

/// [`ClientStats`] read at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ClientSnapshot {
    pub(crate) counters: [u64; CLIENT_COUNTERS],
}

impl ClientSnapshot {
    pub(crate) fn get(&self, c: ClientCounter) -> u64 {
        self.counters[c as usize]
    }
}

/// A cluster's counters, as the metrics show them (the cluster module
/// fills them; see `cluster::engine::Counters`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ClusterSnapshot {
    /// Whether a cluster is attached to the server (else all zero).
    pub(crate) attached: bool,
    /// Whether its broker connections are all up now.
    pub(crate) connected: bool,
    pub(crate) published: u64,
    pub(crate) outbox_full: u64,
    pub(crate) received: u64,
    pub(crate) delivered: u64,
    pub(crate) echo: u64,
    pub(crate) gaps: u64,
    pub(crate) repeats: u64,
    pub(crate) junk: u64,
    pub(crate) oversized: u64,
    pub(crate) bad_topic: u64,
    pub(crate) reconnects: u64,
    /// Channels heard now (a gauge).
    pub(crate) subscribed: u64,
    /// Publishes waiting to be written now (a gauge).
    pub(crate) outbox: u64,
}

/// What reads a cluster's counters (the cluster module implements it).
pub(crate) trait ClusterSource: Send + Sync {
    fn cluster_snapshot(&self) -> ClusterSnapshot;
}

/// Where a server finds the cluster attached to it, if any: kept as one of
/// the server's extensions, set by the cluster when it attaches (a weak
/// reference: the server does not keep the cluster alive). Read only when
/// a snapshot is taken, never on a path that counts.
#[derive(Default)]
pub(crate) struct ClusterSlot {
    source: std::sync::Mutex<Option<std::sync::Weak<dyn ClusterSource>>>,
}

impl std::fmt::Debug for ClusterSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterSlot").finish_non_exhaustive()
    }
}

impl ClusterSlot {
    /// Sets (or clears) the cluster read from now on.
    pub(crate) fn set(&self, source: Option<std::sync::Weak<dyn ClusterSource>>) {
        *self.source.lock().unwrap_or_else(|p| p.into_inner()) = source;
    }

    /// Clears the slot if it still holds `source` (its address).
    pub(crate) fn clear_if(&self, source: *const ()) {
        let mut slot = self.source.lock().unwrap_or_else(|p| p.into_inner());
        if slot.as_ref().is_some_and(|w| w.as_ptr().cast::<()>() == source) {
            *slot = None;
        }
    }

    /// The attached cluster's counters, or all zero (`attached` false).
    pub(crate) fn snapshot(&self) -> ClusterSnapshot {
        let source = self.source.lock().unwrap_or_else(|p| p.into_inner()).as_ref().and_then(std::sync::Weak::upgrade);
        source.map(|s| ClusterSnapshot { attached: true, ..s.cluster_snapshot() }).unwrap_or_default()
    }
}

/// When a request's head arrived, for its latency: the clock, or with the
/// benchmark feature `bench-metrics-off` (every counter compiled out) one
/// fixed instant, so that build reads no clock for metrics either.
#[inline]
pub(crate) fn stamp() -> std::time::Instant {
    #[cfg(feature = "bench-metrics-off")]
    {
        static FIXED: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        *FIXED.get_or_init(std::time::Instant::now)
    }
    #[cfg(not(feature = "bench-metrics-off"))]
    std::time::Instant::now()
}

/// A server's counters.
pub(crate) struct Metrics {
    shards: Box<[Shard]>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics { shards: (0..SHARDS).map(|_| Shard::default()).collect() }
    }
}

impl Metrics {
    /// Adds `n` to `c`.
    #[inline]
    pub(crate) fn add(&self, w: Writer, c: Counter, n: u64) {
        if cfg!(feature = "bench-metrics-off") {
            return;
        }
        self.shards[w.shard()].counters[c as usize].fetch_add(n, Ordering::Relaxed);
    }

    /// Adds one to `c`.
    #[inline]
    pub(crate) fn inc(&self, w: Writer, c: Counter) {
        self.add(w, c, 1);
    }

    /// Counts a request answered in `took` (from the end of its head to the
    /// last byte of its response written).
    pub(crate) fn latency(&self, w: Writer, took: Duration) {
        if cfg!(feature = "bench-metrics-off") {
            return;
        }
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let i = BUCKETS_US.iter().position(|&b| us <= b).unwrap_or(BUCKETS_US.len());
        let s = &self.shards[w.shard()];
        s.buckets[i].fetch_add(1, Ordering::Relaxed);
        s.latency_sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// The sum of every shard now.
    pub(crate) fn snapshot(&self) -> Snapshot {
        let mut out = Snapshot {
            host: HostSnapshot::default(),
            client: ClientSnapshot::default(),
            cluster: ClusterSnapshot::default(),
            counters: [0; COUNTERS],
            buckets: [0; BUCKETS_US.len() + 1],
            latency_sum_us: 0,
        };
        for s in self.shards.iter() {
            for (o, c) in out.counters.iter_mut().zip(&s.counters) {
                *o = o.wrapping_add(c.load(Ordering::Relaxed));
            }
            for (o, b) in out.buckets.iter_mut().zip(&s.buckets) {
                *o = o.wrapping_add(b.load(Ordering::Relaxed));
            }
            out.latency_sum_us = out.latency_sum_us.wrapping_add(s.latency_sum_us.load(Ordering::Relaxed));
        }
        out
    }
}

/// The counters summed at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Snapshot {
    /// The server's loop's figures (zero until the server fills them in).
    pub(crate) host: HostSnapshot,
    /// The loop's HTTP client (zero until the server fills them in).
    pub(crate) client: ClientSnapshot,
    /// The attached cluster's counters (zero until the server fills them in).
    pub(crate) cluster: ClusterSnapshot,
    pub(crate) counters: [u64; COUNTERS],
    /// Per bucket, not cumulative; the last is above every bound.
    pub(crate) buckets: [u64; BUCKETS_US.len() + 1],
    pub(crate) latency_sum_us: u64,
}

impl Snapshot {
    pub(crate) fn get(&self, c: Counter) -> u64 {
        self.counters[c as usize]
    }

    /// Connections open: accepted minus closed for any reason.
    pub(crate) fn open_connections(&self) -> u64 {
        let closed = [
            Counter::ConnClosedClient,
            Counter::ConnClosedTimeout,
            Counter::ConnClosedLimit,
            Counter::ConnClosedError,
            Counter::ConnClosedServer,
        ]
        .iter()
        .map(|&c| self.get(c))
        .sum::<u64>();
        self.get(Counter::ConnAccepted).saturating_sub(closed)
    }

    /// Requests whose latency was measured.
    pub(crate) fn latency_count(&self) -> u64 {
        self.buckets.iter().sum()
    }
}

/// The counter for a request of method `m`.
pub(crate) fn method_counter(m: &str) -> Counter {
    match m {
        "GET" => Counter::ReqGet,
        "HEAD" => Counter::ReqHead,
        "POST" => Counter::ReqPost,
        "PUT" => Counter::ReqPut,
        "DELETE" => Counter::ReqDelete,
        _ => Counter::ReqOther,
    }
}

/// The counter for a response of status `s`.
pub(crate) fn status_counter(s: u16) -> Counter {
    match s {
        100..=199 => Counter::Status1xx,
        200..=299 => Counter::Status2xx,
        300..=399 => Counter::Status3xx,
        400..=499 => Counter::Status4xx,
        _ => Counter::Status5xx,
    }
}

/// The counter for a request refused with `status` before any handler ran,
/// if it is one of the refusals counted by reason.
pub(crate) fn refusal_counter(status: u16) -> Option<Counter> {
    Some(match status {
        400 => Counter::Refused400,
        408 => Counter::Refused408,
        413 => Counter::Refused413,
        414 => Counter::Refused414,
        417 => Counter::Refused417,
        431 => Counter::Refused431,
        501 => Counter::Refused501,
        505 => Counter::Refused505,
        _ => return None,
    })
}

/// The counter for a WebSocket closed with `code`.
pub(crate) fn ws_close_counter(code: u16) -> Counter {
    match code {
        1000 => Counter::WsClosed1000,
        1001 => Counter::WsClosed1001,
        1002 => Counter::WsClosed1002,
        1006 => Counter::WsClosed1006,
        1007 => Counter::WsClosed1007,
        1008 => Counter::WsClosed1008,
        1009 => Counter::WsClosed1009,
        1011 => Counter::WsClosed1011,
        _ => Counter::WsClosedOther,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_stats_count_depth_and_waits() {
        let h = HostStats::default();
        h.queued(5);
        h.queued(2);
        assert_eq!(h.snapshot().depth, 7);
        h.took(5, Duration::from_micros(40)); // the first bucket (<= 50 µs)
        h.took(1, Duration::from_millis(3)); // <= 5 ms
        h.took(0, Duration::from_secs(1)); // an empty batch is no sample
        let s = h.snapshot();
        assert_eq!((s.depth, s.run, s.batches, s.wait_sum_us), (1, 6, 2, 3040));
        assert_eq!(s.wait_buckets[0], 1);
        assert_eq!(s.wait_buckets[BUCKETS_US.iter().position(|&b| b == 5_000).unwrap()], 1);
        assert_eq!(s.wait_buckets.iter().sum::<u64>(), 2);
    }

    #[test]
    fn shards_sum_and_histogram_buckets() {
        let m = Metrics::default();
        for i in 0..20 {
            m.inc(Writer::Reactor(i), Counter::ReqGet);
        }
        m.add(Writer::Other, Counter::BytesIn, 1000);
        m.latency(Writer::Reactor(0), Duration::from_micros(50));
        m.latency(Writer::Reactor(1), Duration::from_micros(51));
        m.latency(Writer::Other, Duration::from_secs(11));
        let s = m.snapshot();
        assert_eq!(s.get(Counter::ReqGet), 20);
        assert_eq!(s.get(Counter::BytesIn), 1000);
        assert_eq!(s.buckets[0], 1, "50 µs is in the 50 µs bucket (le is inclusive)");
        assert_eq!(s.buckets[1], 1);
        assert_eq!(s.buckets[BUCKETS_US.len()], 1, "past 10 s: only +Inf");
        assert_eq!(s.latency_count(), 3);
        assert_eq!(s.latency_sum_us, 50 + 51 + 11_000_000);
    }

    #[test]
    fn counters_are_exact_under_concurrent_writers() {
        let m = std::sync::Arc::new(Metrics::default());
        let n = if cfg!(miri) { 50 } else { 100_000 };
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let m = m.clone();
                std::thread::spawn(move || {
                    for _ in 0..n {
                        m.inc(if t % 2 == 0 { Writer::Reactor(t) } else { Writer::Other }, Counter::WsMessagesIn);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(m.snapshot().get(Counter::WsMessagesIn), 8 * n);
    }

    #[test]
    fn open_connections_is_accepted_minus_closed() {
        let m = Metrics::default();
        m.add(Writer::Reactor(0), Counter::ConnAccepted, 5);
        m.inc(Writer::Reactor(0), Counter::ConnClosedClient);
        m.inc(Writer::Reactor(1), Counter::ConnClosedLimit);
        assert_eq!(m.snapshot().open_connections(), 3);
    }
}
