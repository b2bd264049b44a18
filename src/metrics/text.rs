//! Prometheus' text exposition format, version 0.0.4: `# HELP` and
//! `# TYPE` before each family, a family's samples together, label values
//! escaped (`\\`, `\"`, `\n`), histograms as cumulative `_bucket{le=…}`
//! (`+Inf` equal to `_count`), `_sum` and `_count`, a newline at the end.

use std::fmt::Write;

use super::{BUCKETS_US, Counter, Snapshot};

/// The `Content-Type` a scrape gets.
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A family: its name, kind and help, and its samples (label pairs, counter).
struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    samples: &'static [(&'static [(&'static str, &'static str)], Counter)],
}

const FAMILIES: &[Family] = &[
    Family {
        name: "squall_connections_accepted_total",
        kind: "counter",
        help: "HTTP connections accepted (WebSockets included: they begin as HTTP).",
        samples: &[(&[], Counter::ConnAccepted)],
    },
    Family {
        name: "squall_connections_closed_total",
        kind: "counter",
        help: "HTTP connections closed, by reason: the client left, a timeout, a limit (a refused request, max_connections), an I/O error, the server (shutdown).",
        samples: &[
            (&[("reason", "client")], Counter::ConnClosedClient),
            (&[("reason", "timeout")], Counter::ConnClosedTimeout),
            (&[("reason", "limit")], Counter::ConnClosedLimit),
            (&[("reason", "error")], Counter::ConnClosedError),
            (&[("reason", "server")], Counter::ConnClosedServer),
        ],
    },
    Family {
        name: "squall_http_requests_total",
        kind: "counter",
        help: "HTTP requests whose head was accepted, by method.",
        samples: &[
            (&[("method", "GET")], Counter::ReqGet),
            (&[("method", "HEAD")], Counter::ReqHead),
            (&[("method", "POST")], Counter::ReqPost),
            (&[("method", "PUT")], Counter::ReqPut),
            (&[("method", "DELETE")], Counter::ReqDelete),
            (&[("method", "other")], Counter::ReqOther),
        ],
    },
    Family {
        name: "squall_http_responses_total",
        kind: "counter",
        help: "HTTP responses completed, by status class (refusals included).",
        samples: &[
            (&[("class", "1xx")], Counter::Status1xx),
            (&[("class", "2xx")], Counter::Status2xx),
            (&[("class", "3xx")], Counter::Status3xx),
            (&[("class", "4xx")], Counter::Status4xx),
            (&[("class", "5xx")], Counter::Status5xx),
        ],
    },
    Family {
        name: "squall_http_refused_total",
        kind: "counter",
        help: "Requests refused before any handler ran, by the status sent.",
        samples: &[
            (&[("status", "400")], Counter::Refused400),
            (&[("status", "408")], Counter::Refused408),
            (&[("status", "413")], Counter::Refused413),
            (&[("status", "414")], Counter::Refused414),
            (&[("status", "417")], Counter::Refused417),
            (&[("status", "431")], Counter::Refused431),
            (&[("status", "501")], Counter::Refused501),
            (&[("status", "505")], Counter::Refused505),
        ],
    },
    Family {
        name: "squall_http_received_bytes_total",
        kind: "counter",
        help: "Bytes read from HTTP connections (before an upgrade).",
        samples: &[(&[], Counter::BytesIn)],
    },
    Family {
        name: "squall_http_sent_bytes_total",
        kind: "counter",
        help: "Bytes written to HTTP connections (before an upgrade; files included).",
        samples: &[(&[], Counter::BytesOut)],
    },
    Family {
        name: "squall_websocket_opened_total",
        kind: "counter",
        help: "WebSockets opened.",
        samples: &[(&[], Counter::WsOpened)],
    },
    Family {
        name: "squall_websocket_closed_total",
        kind: "counter",
        help: "WebSockets closed, by the close code the host was told.",
        samples: &[
            (&[("code", "1000")], Counter::WsClosed1000),
            (&[("code", "1001")], Counter::WsClosed1001),
            (&[("code", "1002")], Counter::WsClosed1002),
            (&[("code", "1006")], Counter::WsClosed1006),
            (&[("code", "1007")], Counter::WsClosed1007),
            (&[("code", "1008")], Counter::WsClosed1008),
            (&[("code", "1009")], Counter::WsClosed1009),
            (&[("code", "1011")], Counter::WsClosed1011),
            (&[("code", "other")], Counter::WsClosedOther),
        ],
    },
    Family {
        name: "squall_websocket_messages_total",
        kind: "counter",
        help: "WebSocket data messages, received (handed to the host) and sent (queued; a topic delivery counts once per subscriber).",
        samples: &[(&[("direction", "in")], Counter::WsMessagesIn), (&[("direction", "out")], Counter::WsMessagesOut)],
    },
    Family {
        name: "squall_websocket_payload_bytes_total",
        kind: "counter",
        help: "WebSocket data message payload bytes, received and sent.",
        samples: &[(&[("direction", "in")], Counter::WsBytesIn), (&[("direction", "out")], Counter::WsBytesOut)],
    },
    Family {
        name: "squall_websocket_wire_bytes_total",
        kind: "counter",
        help: "WebSocket bytes as frames on the connection (headers included, payloads compressed when they were; inside TLS), received and sent.",
        samples: &[(&[("direction", "in")], Counter::WsWireIn), (&[("direction", "out")], Counter::WsWireOut)],
    },
    Family {
        name: "squall_websocket_pauses_total",
        kind: "counter",
        help: "Times a WebSocket stopped reading: the host was behind (input) or the peer did not read its output (output).",
        samples: &[(&[("cause", "input")], Counter::WsPausedInput), (&[("cause", "output")], Counter::WsPausedOutput)],
    },
    Family {
        name: "squall_websocket_dropped_total",
        kind: "counter",
        help: "Messages not queued because the socket's output was over max_backpressure.",
        samples: &[(&[], Counter::WsDropped)],
    },
    Family {
        name: "squall_websocket_backpressure_closed_total",
        kind: "counter",
        help: "WebSockets closed because their output went over max_backpressure (SQ_WS_CLOSE_ON_LIMIT).",
        samples: &[(&[], Counter::WsClosedBackpressure)],
    },
    Family {
        name: "squall_topic_publishes_total",
        kind: "counter",
        help: "Publishes to a topic.",
        samples: &[(&[], Counter::TopicPublishes)],
    },
    Family {
        name: "squall_topic_deliveries_total",
        kind: "counter",
        help: "Topic messages queued to a subscriber.",
        samples: &[(&[], Counter::TopicDeliveries)],
    },
    Family {
        name: "squall_topic_drops_total",
        kind: "counter",
        help: "Topic messages not queued to a subscriber over its max_backpressure.",
        samples: &[(&[], Counter::TopicDrops)],
    },
    Family {
        name: "squall_tls_handshakes_total",
        kind: "counter",
        help: "TLS handshakes on the server's connections, by result: ok, failed (an alert, a reset, the peer left, plain HTTP), timeout (not done within the header timeout).",
        samples: &[
            (&[("result", "ok")], Counter::TlsHandshakes),
            (&[("result", "failed")], Counter::TlsHandshakeFailures),
            (&[("result", "timeout")], Counter::TlsHandshakeTimeouts),
        ],
    },
];

/// A histogram family over [`BUCKETS_US`]: `per_bucket` counts (not
/// cumulative; the last is above every bound) become cumulative `le`
/// buckets, `+Inf` equal to `count`, then `_sum` (seconds) and `_count`.
fn histogram(out: &mut String, name: &str, help: &str, per_bucket: &[u64], sum_us: u64, count: u64) {
    header(out, name, "histogram", help);
    let bucket = format!("{name}_bucket");
    let mut cumulative = 0u64;
    for (i, &b) in BUCKETS_US.iter().enumerate() {
        cumulative += per_bucket[i];
        sample(out, &bucket, &[("le", &seconds(b))], cumulative);
    }
    sample(out, &bucket, &[("le", "+Inf")], count);
    sample(out, &format!("{name}_sum"), &[], seconds(sum_us));
    sample(out, &format!("{name}_count"), &[], count);
}

/// Escapes a `# HELP` text: `\` and newline.
fn escape_help(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Escapes a label value: `\`, `"` and newline.
pub(crate) fn escape_label(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    out.push_str("# HELP ");
    out.push_str(name);
    out.push(' ');
    escape_help(help, out);
    out.push_str("\n# TYPE ");
    out.push_str(name);
    out.push(' ');
    out.push_str(kind);
    out.push('\n');
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(k);
            out.push_str("=\"");
            escape_label(v, out);
            out.push('"');
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// Seconds from microseconds, as Prometheus wants them (no exponent).
fn seconds(us: u64) -> String {
    let s = format!("{}.{:06}", us / 1_000_000, us % 1_000_000);
    let s = s.trim_end_matches('0');
    s.strip_suffix('.').map_or_else(|| s.to_owned(), str::to_owned)
}

/// The snapshot in Prometheus' text format 0.0.4.
pub(crate) fn prometheus(s: &Snapshot) -> String {
    let mut out = String::with_capacity(8 << 10);
    for f in FAMILIES {
        header(&mut out, f.name, f.kind, f.help);
        for (labels, c) in f.samples {
            sample(&mut out, f.name, labels, s.get(*c));
        }
    }
    let name = "squall_connections_open";
    header(&mut out, name, "gauge", "HTTP connections open now (accepted minus closed).");
    sample(&mut out, name, &[], s.open_connections());

    histogram(
        &mut out,
        "squall_http_request_duration_seconds",
        "Time from the end of a request's head to the last byte of its response written.",
        &s.buckets,
        s.latency_sum_us,
        s.latency_count(),
    );

    let h = &s.host;
    let name = "squall_host_queue_depth";
    header(&mut out, name, "gauge", "Tasks queued for the host thread and not taken yet (the server's loop).");
    sample(&mut out, name, &[], h.depth);
    let name = "squall_host_tasks_total";
    header(&mut out, name, "counter", "Tasks the host thread has taken (the server's loop).");
    sample(&mut out, name, &[], h.run);
    histogram(
        &mut out,
        "squall_host_wait_seconds",
        "Per batch the host thread takes, how long its oldest task waited for it (the server's loop).",
        &h.wait_buckets,
        h.wait_sum_us,
        h.batches,
    );
    client(&mut out, &s.client);
    cluster(&mut out, &s.cluster);
    out
}

/// The loop's HTTP client's families (`squall_client_*`).
fn client(out: &mut String, c: &super::ClientSnapshot) {
    use super::ClientCounter as C;
    let name = "squall_client_fetches_started_total";
    header(out, name, "counter", "Fetches the loop's HTTP client started.");
    sample(out, name, &[], c.get(C::Started));
    let name = "squall_client_responses_total";
    header(out, name, "counter", "Fetches completed with a response, by status class.");
    for (class, k) in [("1xx", C::Status1xx), ("2xx", C::Status2xx), ("3xx", C::Status3xx), ("4xx", C::Status4xx), ("5xx", C::Status5xx)] {
        sample(out, name, &[("class", class)], c.get(k));
    }
    let name = "squall_client_failures_total";
    header(out, name, "counter", "Fetches that failed, by reason: connect (resolve or connect), tls, timeout, cancelled, protocol, other.");
    for (reason, k) in [
        ("connect", C::FailedConnect),
        ("tls", C::FailedTls),
        ("timeout", C::FailedTimeout),
        ("cancelled", C::FailedCancelled),
        ("protocol", C::FailedProtocol),
        ("other", C::FailedOther),
    ] {
        sample(out, name, &[("reason", reason)], c.get(k));
    }
    for (name, help, k) in [
        ("squall_client_connections_opened_total", "Connections the HTTP client's pool opened.", C::ConnOpened),
        ("squall_client_connections_reused_total", "Requests sent on a pooled connection that had served one before.", C::ConnReused),
        ("squall_client_received_bytes_total", "Bytes the HTTP client read (after TLS).", C::BytesIn),
        ("squall_client_sent_bytes_total", "Bytes the HTTP client wrote (before TLS).", C::BytesOut),
        ("squall_client_websocket_connects_total", "WebSocket client connects started.", C::WsConnects),
        ("squall_client_websocket_opened_total", "WebSocket client connects that opened (the server's 101 accepted).", C::WsOpened),
        ("squall_client_websocket_failed_total", "WebSocket client connects that failed (resolve, connect, TLS, timeout, a refused handshake).", C::WsFailed),
    ] {
        header(out, name, "counter", help);
        sample(out, name, &[], c.get(k));
    }
}

/// The attached cluster's families (`squall_cluster_*`), none when no
/// cluster is attached.
fn cluster(out: &mut String, c: &super::ClusterSnapshot) {
    if !c.attached {
        return;
    }
    let counters: [(&str, &str, u64); 11] = [
        ("squall_cluster_published_total", "Publishes sent to the broker (to the other processes).", c.published),
        ("squall_cluster_outbox_full_total", "Publishes not sent to the broker: its outbox was full.", c.outbox_full),
        ("squall_cluster_received_total", "Messages received from the broker.", c.received),
        ("squall_cluster_delivered_total", "Messages received from the broker and fanned out to local subscribers.", c.delivered),
        ("squall_cluster_echo_total", "This process's own messages heard back from the broker (ignored).", c.echo),
        ("squall_cluster_gaps_total", "Messages of other processes missed (sequence gaps).", c.gaps),
        ("squall_cluster_repeats_total", "Messages heard twice (replays dropped).", c.repeats),
        ("squall_cluster_junk_total", "Broker messages that are no squall envelope.", c.junk),
        ("squall_cluster_oversized_total", "Broker messages over the size limit.", c.oversized),
        ("squall_cluster_bad_topic_total", "Broker messages on a channel that names no squall topic.", c.bad_topic),
        ("squall_cluster_reconnects_total", "Reconnections to the broker.", c.reconnects),
    ];
    for (name, help, v) in counters {
        header(out, name, "counter", help);
        sample(out, name, &[], v);
    }
    let gauges: [(&str, &str, u64); 3] = [
        ("squall_cluster_connected", "1 when the cluster's broker connections are all up, else 0.", u64::from(c.connected)),
        ("squall_cluster_subscribed", "Broker channels heard now.", c.subscribed),
        ("squall_cluster_outbox", "Publishes waiting to be written to the broker now.", c.outbox),
    ];
    for (name, help, v) in gauges {
        header(out, name, "gauge", help);
        sample(out, name, &[], v);
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Metrics, Writer};
    use super::*;

    #[test]
    fn escapes_per_the_format() {
        let mut o = String::new();
        escape_label("a\\b\"c\nd", &mut o);
        assert_eq!(o, "a\\\\b\\\"c\\nd");
        let mut o = String::new();
        escape_help("x\\y\n\"z\"", &mut o);
        assert_eq!(o, "x\\\\y\\n\"z\"");
    }

    #[test]
    fn seconds_are_plain_decimals() {
        assert_eq!(seconds(50), "0.00005");
        assert_eq!(seconds(1_000_000), "1");
        assert_eq!(seconds(2_500_000), "2.5");
        assert_eq!(seconds(0), "0");
    }

    #[test]
    fn families_are_whole_and_the_histogram_cumulative() {
        let m = Metrics::default();
        m.add(Writer::Reactor(0), Counter::ReqGet, 3);
        m.latency(Writer::Reactor(0), std::time::Duration::from_micros(40));
        m.latency(Writer::Reactor(0), std::time::Duration::from_millis(3));
        let mut snap = m.snapshot();
        let text = prometheus(&snap);
        assert!(text.ends_with('\n'));
        assert!(!text.contains("squall_cluster_"), "no cluster attached: no cluster families");
        assert!(text.contains("squall_http_requests_total{method=\"GET\"} 3\n"));
        assert!(text.contains("squall_http_request_duration_seconds_bucket{le=\"0.00005\"} 1\n"));
        assert!(text.contains("squall_http_request_duration_seconds_bucket{le=\"0.005\"} 2\n"));
        assert!(text.contains("squall_http_request_duration_seconds_bucket{le=\"+Inf\"} 2\n"));
        assert!(text.contains("squall_http_request_duration_seconds_count 2\n"));
        assert!(text.contains("squall_http_request_duration_seconds_sum 0.00304\n"));
        // each family's samples follow its TYPE line, before the next family
        let mut seen = std::collections::HashSet::new();
        let mut current = "";
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                current = rest.split(' ').next().unwrap();
                assert!(seen.insert(current.to_owned()), "{current} twice");
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                assert!(name.starts_with(current), "{name} outside its family {current}");
            }
        }
        snap.cluster = super::super::ClusterSnapshot { attached: true, connected: true, published: 7, ..Default::default() };
        let text = prometheus(&snap);
        assert!(text.contains("# TYPE squall_cluster_published_total counter\nsquall_cluster_published_total 7\n"));
        assert!(text.contains("# TYPE squall_cluster_connected gauge\nsquall_cluster_connected 1\n"));
    }
}
