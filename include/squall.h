/*
 * squall.h: the C API of squall, an event loop, HTTP/1.1 server, WebSockets
 * with pub/sub and HTTP client whose I/O is done in Rust.
 *
 * Generated from src/ffi/ by build.rs (cbindgen). Do not edit.
 *
 * Conventions:
 *  - Functions return sq_status: SQ_OK (0) on success or a negative SQ_ERR_*
 *    code. Constructors return NULL on failure. Functions returning an fd or a
 *    count return a negative sq_status on failure.
 *  - sq_last_error() describes the calling thread's last failure.
 *  - Out-parameters are written only on success.
 *  - When a function that takes a callback returns an error, that callback
 *    will never be called.
 *  - What you create with sq_X_new you free with sq_X_free; sq_X_free(NULL)
 *    is a harmless no-op.
 *  - Objects are not thread-safe except where a function says
 *    "Thread: any thread"; such functions may be called concurrently.
 *  - Every callback of a loop runs on its host thread (the one inside
 *    sq_loop_run or sq_loop_poll), one at a time.
 *  - Strings passed in are NUL-terminated UTF-8; payloads are pointer + length.
 */

#ifndef SQUALL_H
#define SQUALL_H

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>

/** The version of squall this header belongs to. */
#define SQ_VERSION_MAJOR 0
#define SQ_VERSION_MINOR 1
#define SQ_VERSION_PATCH 0
#define SQ_VERSION_STRING "0.1.0"
/** Compare with sq_abi_version() at run time; see docs/ABI.md. */
#define SQ_ABI_VERSION 1


/**
 * Cluster state: not connected yet.
 */
#define SQ_CLUSTER_CONNECTING 0

/**
 * Cluster state: connected to the broker (first time).
 */
#define SQ_CLUSTER_CONNECTED 1

/**
 * Cluster state: a broker connection was lost or could not be made; local
 * delivery goes on, publishes wait in the outbox, messages from other
 * processes may be missed.
 */
#define SQ_CLUSTER_LOST 2

/**
 * Cluster state: connected again after `SQ_CLUSTER_LOST`, resubscribed,
 * the outbox being replayed. The application may resync.
 */
#define SQ_CLUSTER_RESYNCED 3

/**
 * Not a state but an event for the state callback: messages published by
 * another process were missed (its sequence jumped; counter "gaps").
 */
#define SQ_CLUSTER_GAP 4

/**
 * `sq_fetch_response_time`: when the request was handed to a connection.
 */
#define SQ_TIME_QUEUE 0

/**
 * `sq_fetch_response_time`: when the host name was resolved.
 */
#define SQ_TIME_NAMELOOKUP 1

/**
 * `sq_fetch_response_time`: when the TCP connection was made.
 */
#define SQ_TIME_CONNECT 2

/**
 * `sq_fetch_response_time`: when the TLS handshake was done (https).
 */
#define SQ_TIME_TLS 3

/**
 * `sq_fetch_response_time`: when the first byte of the response arrived.
 */
#define SQ_TIME_FIRST_BYTE 4

/**
 * `sq_fetch_response_time`: when the response was complete.
 */
#define SQ_TIME_TOTAL 5

/**
 * Buckets of the request latency histogram: the upper bounds, in
 * microseconds, of all but the last (which is above 10 s). Not cumulative.
 */
#define SQ_METRICS_LATENCY_BUCKETS 19

/**
 * Route flag: run the handler on the reactor thread that owns the
 * connection instead of the host thread. The fastest path, for C handlers
 * that never block; with several io_threads the handler must be thread-safe.
 */
#define SQ_INLINE 1

/**
 * Route flag: call the handler as soon as the request head has arrived and
 * stream the body to the callback the handler sets with
 * `sq_request_on_body` (Tornado's `@stream_request_body`), instead of
 * collecting the whole body first. Not combined with `SQ_INLINE`.
 */
#define SQ_STREAM_BODY 2

/**
 * Route flag: the route is tried only when no route without this flag
 * matched the path (in any method), whenever either was added: a
 * catch-all registered first that routes added later still go before
 * (an application's own 404 page, Tornado's `default_handler_class`).
 * Static mounts and WebSocket routes still go first.
 */
#define SQ_FALLBACK 4

/**
 * What `check_origin` returns to decide later, on a route with the
 * `SQ_WS_DEFERRED_HANDSHAKE` flag: the handshake waits, and the host must
 * call `sq_ws_handshake_decide` for its request (an async `prepare()` runs
 * meanwhile). Without the flag it accepts, as any nonzero answer.
 */
#define SQ_WS_DECIDE_LATER 2

/**
 * Route option: `check_origin` may answer `SQ_WS_DECIDE_LATER`.
 */
#define SQ_WS_DEFERRED_HANDSHAKE 4

/**
 * Opcode of a text message (valid UTF-8).
 */
#define SQ_WS_TEXT 1

/**
 * Opcode of a binary message.
 */
#define SQ_WS_BINARY 2

/**
 * Route option: when a message would be buffered beyond
 * `max_backpressure`, close the socket (`on_close` with 1006) instead of
 * dropping the message.
 */
#define SQ_WS_CLOSE_ON_LIMIT 2

/**
 * Client option (`sq_ws_connect`): accept any certificate from a wss://
 * server (its chain, dates and name unchecked; the handshake must still be
 * signed by the key of the certificate sent), as
 * `sq_fetch_request_set_verify(req, 0)` does for a fetch; `ca_file` is then
 * not used. Ignored by routes.
 */
#define SQ_WS_NO_VERIFY 8

/**
 * `sq_ws_options.compression`: every permessage-deflate offer declined
 * (the default).
 */
#define SQ_WS_COMPRESSION_OFF 0

/**
 * `sq_ws_options.compression`: permessage-deflate (RFC 7692) accepted when
 * the client offers it, in the shared mode: no context takeover either
 * way, each message compressed on its own by the sending thread's
 * compressor and inflated by the reactor thread's, so an idle socket holds
 * no compression state. A message that does not shrink goes uncompressed.
 */
#define SQ_WS_COMPRESSION_SHARED 1

/**
 * `sq_ws_options.compression`: permessage-deflate accepted in the
 * dedicated mode: context takeover both ways (unless the client asks for
 * none), so repeated content compresses across messages, at a memory cost
 * per socket: its own compressor (window `compression_window_bits`, memory
 * level `compression_mem_level`, level `compression_level`) and its own
 * inflater, compressing on the socket's reactor in the order messages go
 * out. Route options only (a client socket offers and speaks what the
 * server accepts, as with `SQ_WS_COMPRESSION_SHARED`).
 */
#define SQ_WS_COMPRESSION_DEDICATED 2

/**
 * `sq_ws_send_ex` / `sq_publish_ex` flag: never compress this message, whatever the socket
 * negotiated: for a secret sent next to data an attacker chooses, whose
 * compressed size would let them guess it (CRIME, BREACH).
 */
#define SQ_WS_SEND_NO_COMPRESS 1

/**
 * A cluster: the topics of the servers attached to it span every process
 * attached to the same broker and channel prefix.
 *
 * Lifecycle: `sq_cluster_new(loop, url)` → `sq_cluster_attach(cluster,
 * server)` for each server whose topics should span processes →
 * optionally `sq_cluster_on_state` → run the loop (the cluster connects
 * once the loop has started) → `sq_cluster_free` (before the loop is
 * freed). `sq_publish` on an attached server delivers to the local
 * subscribers first, never waiting on the broker, then publishes through
 * the broker; messages from other processes fan out to local subscribers
 * exactly as local publishes do. docs/ARCHITECTURE.md ("Topics across
 * processes") says what is promised and what is counted.
 */
typedef struct sq_cluster sq_cluster;

/**
 * A request being built for `sq_fetch`: `sq_fetch_request_new(method, url)`,
 * then setters, then `sq_fetch` (which takes it over). Defaults: connect and
 * request timeouts 20 s, up to 5 redirects followed, gzip/deflate
 * responses decompressed, response bodies up to 100 MiB, certificates
 * verified against the built-in webpki roots.
 */
typedef struct sq_fetch_request sq_fetch_request;

/**
 * A response (or the failure of a fetch) as a callback sees it. Read it
 * with the `sq_fetch_response_*` accessors, inside the callback only.
 */
typedef struct sq_fetch_response sq_fetch_response;

/**
 * An event loop: reactor threads that own all I/O, and the host thread (the
 * one inside `sq_loop_run` or `sq_loop_poll`) that runs every callback, one
 * at a time, in order.
 *
 * Lifecycle: `sq_loop_new` → setters (`sq_loop_set_io_threads`) → either
 * `sq_loop_run` (blocks until `sq_loop_stop`) or, for a host with an event
 * loop of its own, wait on `sq_loop_fd` for at most `sq_loop_timeout_ms` and
 * then `sq_loop_poll(loop, 0)` → `sq_loop_free`.
 *
 * Thread safety: `sq_loop_add_callback`, `sq_call_later`, `sq_call_every`,
 * `sq_timer_cancel`, `sq_loop_stop` and `sq_loop_timeout_ms` may be called
 * from any thread at any time while the loop exists. `sq_loop_run`,
 * `sq_loop_poll` and `sq_loop_fd` are for one thread at a time (another
 * thread gets `SQ_ERR_BUSY`) and never from inside the loop's callbacks
 * (`SQ_ERR_REENTRANT`). The loop creates no thread and no file descriptor
 * before its first run, poll or fd call, so a program may create it, fork,
 * and start it in the child; a loop that had started is refused in a child
 * with `SQ_ERR_FORKED`.
 */
typedef struct sq_loop sq_loop;

/**
 * A request in flight. This is an opaque handle, not a pointer to memory:
 * squall never dereferences it and neither may the caller. It stays valid
 * until the response is finished (`sq_respond`, `sq_response_finish`, or a
 * finishing call that returned `SQ_ERR_CLOSED`); after that every function
 * taking it returns `SQ_ERR_ALREADY_DONE`, never undefined behaviour.
 *
 * Accessors: `sq_request_method`, `_uri`, `_path`, `_query`, `_header`,
 * `_header_count`, `_header_at`, `_cookie`, `_body`, `_argument`, `_argument_count`,
 * `_argument_at`, `_capture`, `_capture_count`, `_remote_ip`, `_remote_port`,
 * `_version`, `_on_close`,
 * `_on_body` (streamed bodies).
 * Response: `sq_respond` (one call), or `sq_response_status`,
 * `sq_response_header`, `sq_response_write`, `sq_response_flush`,
 * `sq_response_finish`. Every response function may be called from any
 * thread, also after the handler returned (deferred responses).
 */
typedef struct sq_request sq_request;

/**
 * An HTTP/1.1 server attached to a loop: routes, listeners, limits.
 *
 * Lifecycle: `sq_server_new(loop)` → setters and `sq_route` →
 * `sq_server_listen` (binds at once; accepting starts when the loop runs) →
 * run the loop → `sq_server_free` (before `sq_loop_free`).
 *
 * Handlers run on the loop's host thread, one at a time, unless the route
 * was registered with `SQ_INLINE`.
 */
typedef struct sq_server sq_server;

/**
 * A TCP stream (accepted by a listener, or connected). An opaque handle,
 * not a pointer to memory: squall never dereferences it and neither may
 * the caller. It is valid from `on_connect` until the `on_close` callback
 * for it has returned; after that every function taking it returns
 * `SQ_ERR_CLOSED`, never undefined behaviour.
 */
typedef struct sq_tcp sq_tcp;

/**
 * A listening TCP socket made by `sq_tcp_listen`, freed with
 * `sq_tcp_listener_free`.
 */
typedef struct sq_tcp_listener sq_tcp_listener;

/**
 * A server's TLS configuration: certificate chains with their keys, and
 * options. Made with `sq_tls_config_new`, filled with
 * `sq_tls_config_add_cert_file` / `sq_tls_config_add_cert_pem`, given to
 * servers with `sq_server_set_tls` (which copies what it needs: the config
 * may be changed or freed afterwards), freed with `sq_tls_config_free`.
 */
typedef struct sq_tls_config sq_tls_config;

/**
 * A WebSocket accepted on a route. An opaque handle, not a pointer to
 * memory: squall never dereferences it and neither may the caller. It is
 * valid from `on_open` until the route's `on_close` callback for it has
 * returned; after that every function taking it returns `SQ_ERR_CLOSED`,
 * never undefined behaviour. Between a close (by either side) and
 * `on_close`, sends return `SQ_ERR_CLOSED` too.
 */
typedef struct sq_ws sq_ws;

/**
 * The result of most squall functions: `SQ_OK` (0) on success, a negative
 * `SQ_ERR_*` code on failure. Codes are stable: a code's number is never
 * reused for another meaning.
 */
typedef int32_t sq_status;

/**
 * The cluster-state callback: `state` is one of the `SQ_CLUSTER_*`
 * values. Runs on the loop's host thread.
 */
typedef void (*sq_cluster_state_callback)(void *userdata, int state);

/**
 * A callback run once on the host thread. `userdata` is the pointer given
 * when it was scheduled; squall never dereferences it.
 */
typedef void (*sq_callback)(void *userdata);

/**
 * Identifies a timer of one loop. Never 0.
 */
typedef uint64_t sq_timer_id;

/**
 * A timer callback, run on the host thread. `id` is the timer's id (a
 * periodic timer may cancel itself with it).
 */
typedef void (*sq_timer_callback)(void *userdata, sq_timer_id id);

/**
 * Called on the host thread with a response: `on_response` once per
 * `sq_fetch` (also on failure: `sq_fetch_response_error` says), or the head
 * of the final response (`sq_fetch_request_set_on_headers`, before its body).
 * `resp` is valid until the callback returns.
 */
typedef void (*sq_fetch_callback)(void *userdata, const sq_fetch_response *resp);

/**
 * Called on the host thread with a piece of the response body
 * (`sq_fetch_request_set_on_chunk`), in order. `data` is valid until the
 * callback returns.
 */
typedef void (*sq_fetch_chunk_callback)(void *userdata, const uint8_t *data, size_t len);

/**
 * A borrowed byte string (not NUL-terminated). A view struct: squall fills
 * it in; it points into memory squall owns, valid for as long as the
 * function that filled it says.
 */
typedef struct {
  /**
   * The first byte; NULL only when `len` is 0.
   */
  const char *ptr;
  /**
   * The number of bytes.
   */
  size_t len;
} sq_str;

/**
 * What the TLS handshake of a request's connection agreed on, filled by
 * `sq_request_tls`. A view struct squall fills that may grow at the end:
 * set `size` to `sizeof(sq_tls_info)` as the program was compiled; squall
 * writes only the fields that size covers.
 */
typedef struct {
  /**
   * `sizeof(sq_tls_info)` as the program was compiled (set by the caller).
   */
  size_t size;
  /**
   * The protocol version: 0x0303 for TLS 1.2, 0x0304 for TLS 1.3.
   */
  uint64_t version;
  /**
   * The cipher suite's IANA number (0x1301 for TLS_AES_128_GCM_SHA256).
   */
  uint64_t cipher_suite;
  /**
   * The name the client asked for (SNI); empty if it sent none.
   */
  sq_str server_name;
  /**
   * The protocol agreed by ALPN ("http/1.1"); empty if none.
   */
  sq_str alpn;
} sq_tls_info;

/**
 * Log levels. A callback set for a level receives that level and the more
 * severe ones.
 */
typedef int sq_log_level;

/**
 * Receives one log record: its level, its target (the squall module that
 * logged it, e.g. "squall::loop") and its message.
 */
typedef void (*sq_log_callback)(void *userdata,
                                sq_log_level level,
                                const char *target,
                                const char *message);

/**
 * A server's counters at one moment (`sq_metrics_snapshot`). Counters
 * only grow, from the server's creation. Caller-allocated: pass
 * `sizeof(sq_metrics)`; fields are only ever appended, and a newer library
 * fills no more than that, setting `size` to what it wrote (docs/ABI.md).
 *
 * Each counter is exact; the snapshot as a whole is not taken atomically
 * (counters written meanwhile may or may not be in it).
 */
typedef struct {
  /**
   * The bytes the library filled (the smaller of the two structs' sizes).
   */
  size_t size;
  /**
   * HTTP connections accepted (WebSockets begin as HTTP connections).
   */
  uint64_t connections_accepted;
  /**
   * Connections open now: accepted minus closed.
   */
  uint64_t connections_open;
  /**
   * Connections closed because the client went away or closed.
   */
  uint64_t connections_closed_client;
  /**
   * ... because of a timeout (idle, header, body: 408).
   */
  uint64_t connections_closed_timeout;
  /**
   * ... because of a limit: a request refused with a 4xx/5xx, a
   * WebSocket protocol or size violation (1002, 1007, 1008, 1009), a
   * WebSocket over `max_backpressure` with `SQ_WS_CLOSE_ON_LIMIT`.
   */
  uint64_t connections_closed_limit;
  /**
   * ... because of an I/O error or an internal error.
   */
  uint64_t connections_closed_error;
  /**
   * ... because the server shut down or was freed.
   */
  uint64_t connections_closed_server;
  /**
   * Requests by method (heads decoded).
   */
  uint64_t requests_get;
  /**
   * Requests whose method is HEAD.
   */
  uint64_t requests_head;
  /**
   * Requests whose method is POST.
   */
  uint64_t requests_post;
  /**
   * Requests whose method is PUT.
   */
  uint64_t requests_put;
  /**
   * Requests whose method is DELETE.
   */
  uint64_t requests_delete;
  /**
   * Requests of any other method.
   */
  uint64_t requests_other;
  /**
   * Responses completed, by status class (refusals included).
   */
  uint64_t responses_1xx;
  /**
   * Responses with a 2xx status.
   */
  uint64_t responses_2xx;
  /**
   * Responses with a 3xx status.
   */
  uint64_t responses_3xx;
  /**
   * Responses with a 4xx status.
   */
  uint64_t responses_4xx;
  /**
   * Responses with a 5xx status.
   */
  uint64_t responses_5xx;
  /**
   * Bytes read from and written to HTTP connections (before an upgrade).
   */
  uint64_t http_bytes_in;
  /**
   * Bytes written to HTTP connections.
   */
  uint64_t http_bytes_out;
  /**
   * Requests refused before any handler ran, by status.
   */
  uint64_t refused_400;
  /**
   * Requests refused with 408.
   */
  uint64_t refused_408;
  /**
   * Requests refused with 413.
   */
  uint64_t refused_413;
  /**
   * Requests refused with 414.
   */
  uint64_t refused_414;
  /**
   * Requests refused with 417.
   */
  uint64_t refused_417;
  /**
   * Requests refused with 431.
   */
  uint64_t refused_431;
  /**
   * Requests refused with 501.
   */
  uint64_t refused_501;
  /**
   * Requests refused with 505.
   */
  uint64_t refused_505;
  /**
   * Responses whose latency was measured (end of the request's head to
   * the last byte of the response written), their sum in microseconds,
   * and the count per bucket: at most 50, 100, 250, 500 µs, 1, 2.5, 5,
   * 10, 25, 50, 100, 250, 500 ms, 1, 2.5, 5, 7.5, 10 s, and above.
   */
  uint64_t latency_count;
  /**
   * The latencies' sum, in microseconds.
   */
  uint64_t latency_sum_us;
  /**
   * Responses per latency bucket (see `latency_count`).
   */
  uint64_t latency_buckets[SQ_METRICS_LATENCY_BUCKETS];
  /**
   * WebSockets opened, and closed by the code their `on_close` got.
   */
  uint64_t ws_opened;
  /**
   * WebSockets closed with code 1000.
   */
  uint64_t ws_closed_1000;
  /**
   * WebSockets closed with code 1001.
   */
  uint64_t ws_closed_1001;
  /**
   * WebSockets closed with code 1002.
   */
  uint64_t ws_closed_1002;
  /**
   * WebSockets closed with code 1006.
   */
  uint64_t ws_closed_1006;
  /**
   * WebSockets closed with code 1007.
   */
  uint64_t ws_closed_1007;
  /**
   * WebSockets closed with code 1008.
   */
  uint64_t ws_closed_1008;
  /**
   * WebSockets closed with code 1009.
   */
  uint64_t ws_closed_1009;
  /**
   * WebSockets closed with code 1011.
   */
  uint64_t ws_closed_1011;
  /**
   * WebSockets closed with any other code.
   */
  uint64_t ws_closed_other;
  /**
   * Data messages received (handed to `on_message`) and sent (queued; a
   * topic delivery counts once per subscriber), and their payload bytes.
   */
  uint64_t ws_messages_in;
  /**
   * Data messages sent.
   */
  uint64_t ws_messages_out;
  /**
   * Payload bytes received.
   */
  uint64_t ws_bytes_in;
  /**
   * Payload bytes sent.
   */
  uint64_t ws_bytes_out;
  /**
   * Times a socket stopped reading because the host was behind (input)
   * or its peer did not read what was sent (output).
   */
  uint64_t ws_paused_input;
  /**
   * Pauses because the peer did not read.
   */
  uint64_t ws_paused_output;
  /**
   * Sends refused over `max_backpressure`, and sockets closed for it.
   */
  uint64_t ws_dropped;
  /**
   * Sockets closed over `max_backpressure`.
   */
  uint64_t ws_closed_backpressure;
  /**
   * `sq_publish` calls, messages queued to subscribers, and messages not
   * queued to a subscriber over its `max_backpressure`.
   */
  uint64_t topic_publishes;
  /**
   * Topic messages queued to subscribers.
   */
  uint64_t topic_deliveries;
  /**
   * Topic messages not queued over a subscriber's `max_backpressure`.
   */
  uint64_t topic_drops;
  /**
   * TLS handshakes completed on the server's connections.
   */
  uint64_t tls_handshakes;
  /**
   * TLS handshakes that failed: an alert, a reset, the peer left, plain
   * HTTP on the TLS port.
   */
  uint64_t tls_handshake_failures;
  /**
   * TLS handshakes not done within the header timeout.
   */
  uint64_t tls_handshake_timeouts;
  /**
   * The server's loop: tasks queued for the host thread and not taken
   * yet (request and WebSocket events, calls from other threads; a
   * WebSocket's queued events count as one task per turn of its lane).
   */
  uint64_t host_queue_depth;
  /**
   * The server's loop: tasks the host thread has taken.
   */
  uint64_t host_tasks;
  /**
   * The server's loop: batches of tasks the host thread has taken, the
   * sum of how long each batch's oldest task waited (microseconds), and
   * the batches per wait bucket (the latency buckets' bounds).
   */
  uint64_t host_batches;
  /**
   * The batches' oldest waits, summed, in microseconds.
   */
  uint64_t host_wait_sum_us;
  /**
   * Batches per wait bucket (see `host_batches`).
   */
  uint64_t host_wait_buckets[SQ_METRICS_LATENCY_BUCKETS];
  /**
   * 1 when a cluster is attached to the server (`sq_cluster_attach`);
   * the `cluster_*` fields below are 0 when none is.
   */
  uint64_t cluster_attached;
  /**
   * 1 when the cluster's broker connections are all up now, else 0.
   */
  uint64_t cluster_connected;
  /**
   * Publishes sent to the broker (to the other processes).
   */
  uint64_t cluster_published;
  /**
   * Publishes not sent: the cluster's outbox was full.
   */
  uint64_t cluster_outbox_full;
  /**
   * Messages received from the broker.
   */
  uint64_t cluster_received;
  /**
   * Of those, messages fanned out to local subscribers.
   */
  uint64_t cluster_delivered;
  /**
   * This process's own messages heard back (ignored).
   */
  uint64_t cluster_echo;
  /**
   * Messages of other processes missed (sequence gaps).
   */
  uint64_t cluster_gaps;
  /**
   * Messages heard twice (replays dropped).
   */
  uint64_t cluster_repeats;
  /**
   * Broker messages that are no squall envelope.
   */
  uint64_t cluster_junk;
  /**
   * Broker messages over the size limit.
   */
  uint64_t cluster_oversized;
  /**
   * Broker messages on a channel that names no squall topic.
   */
  uint64_t cluster_bad_topic;
  /**
   * Reconnections to the broker.
   */
  uint64_t cluster_reconnects;
  /**
   * Broker channels heard now.
   */
  uint64_t cluster_subscribed;
  /**
   * Publishes waiting to be written to the broker now.
   */
  uint64_t cluster_outbox;
  /**
   * The loop's HTTP client (`sq_fetch`; the same figures in every server
   * of the loop): fetches started (redirects and retries are part of
   * their fetch), and completed with a response, by status class.
   */
  uint64_t client_started;
  /**
   * Fetches completed with a 1xx status.
   */
  uint64_t client_responses_1xx;
  /**
   * Fetches completed with a 2xx status.
   */
  uint64_t client_responses_2xx;
  /**
   * Fetches completed with a 3xx status (a redirect not followed).
   */
  uint64_t client_responses_3xx;
  /**
   * Fetches completed with a 4xx status.
   */
  uint64_t client_responses_4xx;
  /**
   * Fetches completed with a 5xx status.
   */
  uint64_t client_responses_5xx;
  /**
   * Fetches failed: the name did not resolve or no address took the
   * connection (`SQ_ERR_RESOLVE`, `SQ_ERR_CONNECT`).
   */
  uint64_t client_failed_connect;
  /**
   * Fetches failed in the TLS handshake or its verification.
   */
  uint64_t client_failed_tls;
  /**
   * Fetches failed on a connect, request or pool-wait timeout.
   */
  uint64_t client_failed_timeout;
  /**
   * Fetches cancelled (`sq_fetch_cancel`).
   */
  uint64_t client_failed_cancelled;
  /**
   * Fetches failed on a malformed or over-limit response.
   */
  uint64_t client_failed_protocol;
  /**
   * Fetches failed for any other reason (an I/O error, a limit...).
   */
  uint64_t client_failed_other;
  /**
   * Connections the client's pool opened.
   */
  uint64_t client_connections_opened;
  /**
   * Requests sent on a pooled connection that had served one before.
   */
  uint64_t client_connections_reused;
  /**
   * Bytes the client read (after TLS) and wrote (before TLS).
   */
  uint64_t client_bytes_in;
  /**
   * Bytes the client wrote.
   */
  uint64_t client_bytes_out;
  /**
   * WebSocket client connects (`sq_ws_connect`) started, opened (the
   * server's 101 accepted) and failed (resolve, connect, TLS, timeout, a
   * refused handshake: what `on_connect_error` is told).
   */
  uint64_t client_ws_connects;
  /**
   * WebSocket client connects that opened.
   */
  uint64_t client_ws_opened;
  /**
   * WebSocket client connects that failed.
   */
  uint64_t client_ws_failed;
  /**
   * WebSocket bytes read as frames (headers included, payloads as they
   * came: compressed when they were; after TLS). With `ws_bytes_in`, the
   * deflate ratio.
   */
  uint64_t ws_wire_bytes_in;
  /**
   * WebSocket bytes written as frames (headers included, payloads as
   * sent: compressed when they were; before TLS).
   */
  uint64_t ws_wire_bytes_out;
} sq_metrics;

/**
 * Receives a streamed request body: `len` bytes at `data` (valid only
 * during the call), in order; the last call has `last` = 1 (and usually
 * `len` = 0).
 */
typedef void (*sq_body_callback)(void *userdata,
                                 sq_request *req,
                                 const void *data,
                                 size_t len,
                                 int last);

/**
 * One response header for `sq_respond`: a NUL-terminated name and a value of
 * `value_len` bytes (no CR, LF or NUL).
 */
typedef struct {
  /**
   * The header name, NUL-terminated; must be an HTTP token.
   */
  const char *name;
  /**
   * The value's bytes.
   */
  const char *value;
  /**
   * The value's length in bytes.
   */
  size_t value_len;
} sq_header;

/**
 * A request handler. Return `SQ_OK` when the request was answered or will be
 * answered later (from any thread, with `sq_respond`/`sq_response_finish`);
 * return an error code to have squall answer 500 (or, if the response had
 * already started, close the connection).
 */
typedef sq_status (*sq_handler)(void *userdata, sq_request *req);

/**
 * Options of a listener's streams or of a connect. Fill it with
 * `sq_tcp_options_init(&o, sizeof o)`, then change what you need. Every
 * field is 8 bytes wide, so that `size` always ends on a field.
 */
typedef struct {
  /**
   * `sizeof(sq_tcp_options)` as the program was compiled (set by init).
   */
  size_t size;
  /**
   * A connect (name resolution and every address) fails with
   * `SQ_ERR_TIMEOUT` after this many milliseconds; 0: no limit. Default 20000.
   */
  uint64_t connect_timeout_ms;
  /**
   * Buffered output above which writes return `SQ_BACKPRESSURE`. Default 256 KiB.
   */
  size_t high_water;
  /**
   * Buffered output above which a write is refused (`SQ_ERR_LIMIT`,
   * nothing queued). A write always fits into an empty buffer. Default 16 MiB.
   */
  size_t max_buffer;
  /**
   * How long a graceful close waits for its output to be written before
   * the connection is dropped (`on_close` with `SQ_ERR_TIMEOUT`); 0: no
   * limit. Default 30000.
   */
  uint64_t close_timeout_ms;
  /**
   * The listen backlog (listeners only). Default 1024.
   */
  uint64_t backlog;
  /**
   * Nonzero sets TCP_NODELAY on every stream (the default, 1).
   */
  uint64_t nodelay;
  /**
   * `SQ_INLINE`: callbacks run on the reactor thread that owns the stream.
   */
  uint64_t flags;
  /**
   * Input handed to `on_data` and not yet returned from it above which
   * reading pauses (each call counting 1 KiB more than its bytes); it
   * resumes below a quarter of it. At least 4096. Default 1 MiB.
   */
  size_t read_high_water;
  /**
   * Listeners only: serve TLS with this configuration (see
   * `sq_tls_config`; no ALPN protocol is offered, a client's ALPN list is
   * ignored); NULL (the default): plain TCP. What the streams need is
   * copied by `sq_tcp_listen`: the config may be freed afterwards. The
   * handshake runs before the first `on_data` (`on_connect` comes at
   * accept; what is written before the handshake ends waits for it) and
   * must end within 10 s, or the stream closes with `SQ_ERR_TIMEOUT`. A
   * connect with a TLS configuration is `SQ_ERR_INVALID_ARG`.
   */
  const sq_tls_config *tls;
} sq_tcp_options;

/**
 * The callbacks of a listener's streams or of a connect. `userdata` is the
 * stream's: the one given to `sq_tcp_listen`/`sq_tcp_connect`, until the
 * stream sets its own with `sq_tcp_set_userdata`. Callbacks run on the
 * loop's host thread, one at a time (on the reactor thread with
 * `SQ_INLINE`), in order: `on_connect`, `on_data`…, `on_end`, `on_close`.
 * Pointers handed to a callback are valid until it returns.
 *
 * Set `size` to `sizeof(sq_tcp_callbacks)`: a library newer than the
 * program reads only the fields the program knew about.
 */
typedef struct {
  /**
   * `sizeof(sq_tcp_callbacks)` as the program was compiled.
   */
  size_t size;
  /**
   * A stream was accepted (`status` `SQ_OK`), or a connect finished:
   * `SQ_OK` with the new stream, or a failure with `stream` NULL and
   * `sq_last_error()` saying why: `SQ_ERR_RESOLVE` (the name did not
   * resolve), `SQ_ERR_CONNECT` (refused or unreachable at every address),
   * `SQ_ERR_TIMEOUT` (the connect timeout passed). Required for a connect.
   */
  void (*on_connect)(void *userdata, sq_tcp *stream, sq_status status);
  /**
   * Bytes arrived (`len` > 0). Not called after `sq_tcp_close` or
   * `sq_tcp_abort` returned.
   */
  void (*on_data)(void *userdata, sq_tcp *stream, const void *data, size_t len);
  /**
   * The peer finished sending (EOF); the stream stays open for writing
   * until `sq_tcp_close`. NULL: the stream is closed gracefully at EOF
   * (after the `on_data` calls before it, whose writes are still sent).
   */
  void (*on_end)(void *userdata, sq_tcp *stream);
  /**
   * The buffered output fell to `high_water` or below after a write
   * returned `SQ_BACKPRESSURE`.
   */
  void (*on_drain)(void *userdata, sq_tcp *stream);
  /**
   * The stream is closed: `SQ_OK` (closed by `sq_tcp_close` or
   * `sq_tcp_abort`, or by squall after the peer's EOF), `SQ_ERR_IO` (reset
   * or another socket error; `sq_last_error()` says which),
   * `SQ_ERR_TIMEOUT` (a graceful close could not write its output within
   * `close_timeout_ms`), `SQ_ERR_PANIC`. Called once per stream; the
   * handle is invalid after it returns.
   */
  void (*on_close)(void *userdata, sq_tcp *stream, sq_status status);
} sq_tcp_callbacks;

/**
 * Options of a TLS configuration. Fill it with
 * `sq_tls_options_init(&o, sizeof o)`, then change what you need. Every
 * field is 8 bytes wide, so that `size` always ends on a field.
 */
typedef struct {
  /**
   * `sizeof(sq_tls_options)` as the program was compiled (set by init).
   */
  size_t size;
  /**
   * 1: TLS 1.3 only; 0 (the default): TLS 1.2 and 1.3.
   */
  uint64_t tls13_only;
  /**
   * 1 (the default): session resumption by tickets (TLS 1.2 and 1.3);
   * 0: full handshakes only.
   */
  uint64_t tickets;
} sq_tls_options;

/**
 * Limits and keep-alive of a WebSocket route. Fill it with
 * `sq_ws_options_init(&o, sizeof o)`, then change what you need. Every
 * field is 8 bytes wide, so that `size` always ends on a field.
 */
typedef struct {
  /**
   * `sizeof(sq_ws_options)` as the program was compiled (set by init).
   */
  size_t size;
  /**
   * Largest message (and frame) accepted; a bigger one closes the socket
   * with 1009 before its payload is buffered. Default 16 MiB.
   */
  size_t max_message_size;
  /**
   * Buffered output above which sends return `SQ_BACKPRESSURE`. Default 256 KiB.
   */
  size_t high_water;
  /**
   * Buffered output above which a message is not queued: dropped
   * (`SQ_ERR_LIMIT`), or the socket closed with `SQ_WS_CLOSE_ON_LIMIT`. A
   * message always fits into an empty buffer. Default 4 MiB.
   */
  size_t max_backpressure;
  /**
   * Send a ping every this many milliseconds (0: never, the default).
   */
  uint64_t ping_interval_ms;
  /**
   * Close a socket whose pong has not come this long after a ping
   * (0: the ping interval).
   */
  uint64_t pong_timeout_ms;
  /**
   * Close (1001) a socket that sent nothing for this long (0: never, the default).
   */
  uint64_t idle_timeout_ms;
  /**
   * Subprotocols the route speaks, comma-separated, in its order of
   * preference; NULL for none. Copied by `sq_ws_route`.
   */
  const char *subprotocols;
  /**
   * `SQ_INLINE` (callbacks on the reactor thread), `SQ_WS_CLOSE_ON_LIMIT`,
   * `SQ_WS_DEFERRED_HANDSHAKE` and, for a client socket, `SQ_WS_NO_VERIFY`.
   */
  uint64_t flags;
  /**
   * Client sockets only: the time allowed to resolve, connect, do TLS
   * and the handshake, in milliseconds (0: none). Default 20000.
   */
  uint64_t connect_timeout_ms;
  /**
   * Client sockets only: extra handshake headers, "Name: value" lines
   * separated by "\r\n" (or "\n"); NULL for none. Copied.
   */
  const char *headers;
  /**
   * Client sockets only: a PEM file of CA certificates to trust for
   * wss:// instead of the built-in roots; NULL for those. Read by
   * `sq_ws_connect`.
   */
  const char *ca_file;
  /**
   * `SQ_WS_COMPRESSION_OFF` (the default) or `SQ_WS_COMPRESSION_SHARED`:
   * a route accepts permessage-deflate when the client offers it; a
   * client socket (`sq_ws_connect`) offers it (`permessage-deflate;
   * client_max_window_bits`, as browsers do) and speaks what the server
   * accepts. `SQ_WS_COMPRESSION_DEDICATED`: routes only, see the constant.
   */
  uint64_t compression;
  /**
   * Dedicated mode: the compressor's window, 9..=15 (default 15; the
   * window is 2^bits bytes). Ignored in the other modes.
   */
  uint64_t compression_window_bits;
  /**
   * Dedicated mode: the compressor's memory level, 1..=9 (default 8,
   * zlib's: its hash table has 2^(level + 7) entries). Ignored in the
   * other modes.
   */
  uint64_t compression_mem_level;
  /**
   * Dedicated mode: the compression level, 0..=9 (default 6, zlib's).
   * Ignored in the other modes.
   */
  uint64_t compression_level;
  /**
   * `client_no_context_takeover` (RFC 7692 §7.1.1.2) in the negotiation;
   * default 0.
   *
   * Client sockets, with compression on: non-zero adds it to the offer.
   * The client then compresses each message on its own (no compression
   * context kept between messages: less memory, a lower ratio on
   * similar messages) whatever the server answers, and a server that
   * accepts only offers with it (some do, to bound their memory) takes
   * this one.
   *
   * Routes in `SQ_WS_COMPRESSION_DEDICATED`: non-zero answers it to every
   * accepted offer (a server may add it whether or not the client
   * offered it), so the client compresses each message afresh and the
   * socket inflates with its reactor thread's shared inflater, keeping
   * none of its own: the socket's compression state is its compressor
   * alone (window 9 and memory level 1 make that about 3 KiB, as
   * uWebSockets' `DEDICATED_COMPRESSOR_3KB` with its shared
   * decompressor). Shared mode always answers it.
   */
  uint64_t compression_client_no_context_takeover;
} sq_ws_options;

/**
 * The callbacks of a WebSocket route. Every callback is optional (NULL).
 * `userdata` is the socket's userdata: the route's, until the socket sets
 * its own with `sq_ws_set_userdata`. Callbacks run on the loop's host
 * thread, one at a time (on the reactor thread for an `SQ_INLINE` route).
 * Pointers handed to a callback are valid until it returns.
 *
 * Set `size` to `sizeof(sq_ws_callbacks)`: a library newer than the
 * program reads only the fields the program knew about.
 */
typedef struct {
  /**
   * `sizeof(sq_ws_callbacks)` as the program was compiled.
   */
  size_t size;
  /**
   * The handshake succeeded. `req` is the upgrade request: its accessors
   * (`sq_request_header`, `_query`, `_capture`, `_cookie`, …) work during
   * this call only; its response functions return `SQ_ERR_ALREADY_DONE`.
   */
  void (*on_open)(void *userdata, sq_ws *ws, sq_request *req);
  /**
   * A whole message (fragments reassembled): `opcode` is `SQ_WS_TEXT`
   * (valid UTF-8, not NUL-terminated) or `SQ_WS_BINARY`.
   */
  void (*on_message)(void *userdata, sq_ws *ws, const void *data, size_t len, int opcode);
  /**
   * The socket is closed: `code` is the peer's close code (1005 when its
   * close frame had none), the code squall sent after a protocol error
   * (1002, 1007, 1009), 1001 after an idle timeout, or 1006 when the
   * connection ended without a close frame. Called once per socket; the
   * handle is invalid after it returns.
   */
  void (*on_close)(void *userdata, sq_ws *ws, uint16_t code, const char *reason, size_t reason_len);
  /**
   * The socket's buffered output fell back under `high_water` after a send
   * returned `SQ_BACKPRESSURE`.
   */
  void (*on_drain)(void *userdata, sq_ws *ws);
  /**
   * A ping arrived (squall already answered it).
   */
  void (*on_ping)(void *userdata, sq_ws *ws, const void *data, size_t len);
  /**
   * A pong arrived.
   */
  void (*on_pong)(void *userdata, sq_ws *ws, const void *data, size_t len);
  /**
   * Decides whether a handshake whose `Origin` is `origin` (`origin_len`
   * 0 when the request had none) is accepted: return nonzero to accept, 0
   * to refuse with 403; on a route with `SQ_WS_DEFERRED_HANDSHAKE`,
   * `SQ_WS_DECIDE_LATER` to decide later with `sq_ws_handshake_decide`
   * (the handshake waits; `select_subprotocol` is called then). NULL: same-origin only (no `Origin` passes; a
   * browser's must name the `Host`). Gets the route's userdata.
   */
  int (*check_origin)(void *userdata, sq_request *req, const char *origin, size_t origin_len);
  /**
   * Picks a subprotocol among the `count` the client offered (in its
   * order): return an index, or -1 for none. NULL: the first offered one
   * that is in the route's `subprotocols` option. Gets the route's userdata.
   */
  int (*select_subprotocol)(void *userdata, sq_request *req, const sq_str *offered, size_t count);
  /**
   * Client sockets (`sq_ws_connect`) only: the connection or the
   * handshake failed (`status`: `SQ_ERR_TIMEOUT`, `SQ_ERR_RESOLVE`,
   * `SQ_ERR_CONNECT`, `SQ_ERR_TLS`, `SQ_ERR_PROTOCOL` for a refused
   * handshake, `SQ_ERR_CLOSED`), with a message (not NUL-terminated).
   * Called instead of `on_open`; no other callback follows.
   */
  void (*on_connect_error)(void *userdata, sq_status status, const char *message, size_t message_len);
} sq_ws_callbacks;

/**
 * No records.
 */
#define SQ_LOG_OFF 0

/**
 * Failures that lose work: a handler's panic, a poll error.
 */
#define SQ_LOG_ERROR 1

/**
 * Problems the library recovered from.
 */
#define SQ_LOG_WARN 2

/**
 * Lifecycle: listening, shutting down.
 */
#define SQ_LOG_INFO 3

/**
 * Per-connection detail.
 */
#define SQ_LOG_DEBUG 4

/**
 * Everything.
 */
#define SQ_LOG_TRACE 5

/**
 * Success.
 */
#define SQ_OK 0

/**
 * A required pointer argument (a handle, a callback, an out-parameter) was NULL.
 */
#define SQ_ERR_NULL (-1)

/**
 * An argument was out of range or malformed.
 */
#define SQ_ERR_INVALID_ARG (-2)

/**
 * The object is closed: the loop was freed, the peer went away.
 */
#define SQ_ERR_CLOSED (-3)

/**
 * The operation was already done: a timer that fired or was cancelled, a
 * response already finished.
 */
#define SQ_ERR_ALREADY_DONE (-4)

/**
 * An operating-system call failed; `sq_last_error()` has the details.
 */
#define SQ_ERR_IO (-5)

/**
 * A configured limit was reached.
 */
#define SQ_ERR_LIMIT (-6)

/**
 * A bug inside squall was caught before it could cross into the caller.
 */
#define SQ_ERR_PANIC (-7)

/**
 * Called from inside one of the loop's own callbacks where that is not allowed
 * (running, polling or freeing the loop; setting the log callback from the log callback).
 */
#define SQ_ERR_REENTRANT (-8)

/**
 * Another thread is already running or polling this loop.
 */
#define SQ_ERR_BUSY (-9)

/**
 * The loop was started before `fork()`; a child process must create its own.
 */
#define SQ_ERR_FORKED (-10)

/**
 * The object is in the wrong state for this call (an option set after start).
 */
#define SQ_ERR_STATE (-11)

/**
 * The thing asked for is not there: a header or argument the request does
 * not have, a capture group that did not participate in the match.
 */
#define SQ_ERR_NOT_FOUND (-12)

/**
 * The operation timed out (a connect, a close waiting for its output).
 */
#define SQ_ERR_TIMEOUT (-13)

/**
 * A host name did not resolve.
 */
#define SQ_ERR_RESOLVE (-14)

/**
 * A connection could not be established: refused or unreachable at every
 * address of the host.
 */
#define SQ_ERR_CONNECT (-15)

/**
 * A TLS handshake or record failed.
 */
#define SQ_ERR_TLS (-16)

/**
 * The peer broke the protocol.
 */
#define SQ_ERR_PROTOCOL (-17)

/**
 * The caller cancelled the operation (a fetch: `sq_fetch_cancel`).
 */
#define SQ_ERR_CANCELLED (-18)

/**
 * `sq_ws_send` / `sq_publish` status: the message was queued, but more than
 * the route's `high_water` bytes are now buffered for the socket. Not an
 * error (it is positive); the sender should wait for `on_drain` before
 * sending much more.
 */
#define SQ_BACKPRESSURE 1

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/**
 * Creates a cluster on `loop` reached through `url`:
 * `redis://[[user]:password@]host[:port][/db][?option=value&...]`, with
 * options `prefix` (channels are `<prefix>:<topic>`; default `squall`),
 * `outbox` (publishes held while Redis is away or slow; default 10000),
 * `max_message` (largest message accepted from the broker, in bytes;
 * default 16 MiB), `ping_ms` (idle time before a PING; default 1000) and
 * `timeout_ms` (a PING unanswered or a connect not done this long drops
 * the connection; default 3000). `rediss://` is Redis over TLS: the
 * server's certificate is verified against the webpki roots, or only
 * against the PEM file of option `ca`; options `cert` and `key` (PEM files,
 * both or neither) present a client certificate. There is no option that
 * skips verification. Nothing is connected before the loop starts; a
 * broker that cannot be reached (or whose certificate does not verify) is
 * retried with backoff and logged, never an error here.
 *
 * Thread: any thread.
 * Ownership: `url` is copied; the files it names are read during the call. The caller owns the cluster and frees it with
 * `sq_cluster_free`, before freeing the loop.
 * Returns: the cluster, or NULL with `sq_last_error()` saying why (a URL
 * that does not parse or names an unknown option, another scheme, a TLS
 * file named by `ca`, `cert` or `key` that cannot be read or used, a NULL
 * argument, a freed loop).
 */
sq_cluster *sq_cluster_new(sq_loop *loop,
                           const char *url);

/**
 * Makes `cluster` carry the topics of `server` (a server of the same
 * loop): its topics' subscriptions become the cluster's, its publishes go
 * to the other processes too. A server has one cluster at most; attaching
 * another replaces it. Attaching twice is a no-op. A publish on any
 * attached server reaches the subscribers of every attached server of this
 * process (and of the other processes) once: publish on one of them.
 *
 * Thread: any thread.
 * Ownership: neither object is taken; the cluster holds the server weakly.
 * Free the cluster before the server or after it, either works.
 * Returns: `SQ_OK`; `SQ_ERR_INVALID_ARG` when they belong to different
 * loops; `SQ_ERR_NULL`.
 */
sq_status sq_cluster_attach(sq_cluster *cluster, sq_server *server);

/**
 * Sets the callback told of state changes (`SQ_CLUSTER_CONNECTED`,
 * `SQ_CLUSTER_LOST`, `SQ_CLUSTER_RESYNCED`) and of gaps
 * (`SQ_CLUSTER_GAP`); NULL removes it. Each change is told once, in order.
 *
 * Thread: any thread; the callback runs on the host thread.
 * Ownership: squall keeps `userdata` (never dereferenced) until the next
 * call of this function or `sq_cluster_free`; no callback runs after
 * `sq_cluster_free` returns.
 * Returns: `SQ_OK`; `SQ_ERR_NULL` for a NULL cluster.
 */
sq_status sq_cluster_on_state(sq_cluster *cluster, sq_cluster_state_callback cb, void *userdata);

/**
 * The cluster's state now: `SQ_CLUSTER_CONNECTING`, `SQ_CLUSTER_CONNECTED`,
 * `SQ_CLUSTER_LOST` or `SQ_CLUSTER_RESYNCED`.
 *
 * Thread: any thread.
 * Ownership: nothing is kept.
 * Returns: the state (≥ 0); `SQ_ERR_NULL` for a NULL cluster.
 */
int sq_cluster_state(sq_cluster *cluster);

/**
 * A counter of the cluster, by name: "published" (sent towards the
 * broker), "outbox_full" (publishes refused, `SQ_ERR_LIMIT`), "outbox"
 * (publishes waiting now), "received" (messages from the broker),
 * "delivered" (of those, fanned out here), "echo" (this process's own,
 * ignored), "gaps" (messages of other processes missed), "repeats"
 * (replays dropped), "junk" (not squall's), "oversized" (over
 * `max_message`), "bad_topic" (a channel that is no squall topic),
 * "reconnects", "subscribed" (channels heard now).
 *
 * Thread: any thread.
 * Ownership: `name` is read during the call.
 * Returns: the value (≥ 0); `SQ_ERR_NOT_FOUND` for an unknown name;
 * `SQ_ERR_NULL`.
 */
int64_t sq_cluster_counter(sq_cluster *cluster, const char *name);

/**
 * Frees a cluster: the attached servers' topics are local again, the
 * broker connections close, and no state callback runs afterwards.
 * Publishes still in the outbox are dropped. NULL is a harmless no-op.
 *
 * Thread: the host thread.
 * Ownership: takes the cluster back; the pointer must not be used again.
 * The state callback's userdata may be freed once this returns.
 * Returns: nothing.
 */
void sq_cluster_free(sq_cluster *cluster);

/**
 * Creates an event loop with default options (one reactor thread).
 *
 * Thread: any thread.
 * Ownership: the caller owns the loop and frees it with `sq_loop_free`.
 * Returns: the loop; never NULL in practice (NULL only if an internal error
 * was caught, with `sq_last_error()` set).
 */
sq_loop *sq_loop_new(void);

/**
 * Frees a loop: stops and joins its reactor threads, closes its descriptors,
 * and drops every callback and timer still pending without running it.
 * Calling with NULL is a harmless no-op.
 *
 * Thread: the host thread (or any thread, as long as no thread is inside
 * `sq_loop_run`/`sq_loop_poll` of this loop). From inside one of the loop's
 * own callbacks, or while another thread runs it, the call is refused: the
 * loop is not freed and `sq_last_error()` says why.
 * Ownership: takes the loop back; the pointer must not be used again (by
 * any thread) once the call returns, and it must not be freed twice.
 * Returns: nothing.
 */
void sq_loop_free(sq_loop *loop);

/**
 * Sets the number of reactor threads: 0 runs the reactor on the host thread
 * inside `sq_loop_run`/`sq_loop_poll` (no thread is ever spawned); N ≥ 1
 * runs N reactor threads. The default is 1. At most 64.
 *
 * Thread: any thread, before the loop starts (its first run, poll or fd call).
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` above 64;
 * `SQ_ERR_STATE` once the loop has started.
 */
sq_status sq_loop_set_io_threads(sq_loop *loop, uint32_t io_threads);

/**
 * Runs the loop on the calling thread, which becomes its host thread, until
 * `sq_loop_stop` is called. Every callback of the loop runs on this thread.
 * If `sq_loop_stop` was called while the loop was not running, returns at
 * once (and consumes that stop).
 *
 * Thread: one thread at a time; not from inside the loop's callbacks.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK` after a stop; `SQ_ERR_NULL`; `SQ_ERR_REENTRANT` from a
 * callback of this loop; `SQ_ERR_BUSY` if another thread runs or polls it;
 * `SQ_ERR_FORKED` in a child of fork() after the loop started;
 * `SQ_ERR_IO` if the loop's descriptors or threads could not be created.
 */
sq_status sq_loop_run(sq_loop *loop);

/**
 * Makes `sq_loop_run` return once the callback running now (if any) has
 * returned. If the loop is not running, the next `sq_loop_run` returns at once.
 *
 * Thread: any thread, including the loop's own callbacks.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`.
 */
sq_status sq_loop_stop(sq_loop *loop);

/**
 * One iteration of the loop on the calling thread: waits up to `timeout_ms`
 * (0: do not wait; -1: until something happens) for work, then runs every
 * callback that was pending when it woke and every timer that is due.
 * Callbacks scheduled by those callbacks wait for the next call. This is the
 * embedding entry point: wait on `sq_loop_fd` for at most
 * `sq_loop_timeout_ms`, then call `sq_loop_poll(loop, 0)`.
 *
 * Thread: one thread at a time; not from inside the loop's callbacks.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` for a timeout below
 * -1; `SQ_ERR_REENTRANT`; `SQ_ERR_BUSY`; `SQ_ERR_FORKED`; `SQ_ERR_IO`.
 */
sq_status sq_loop_poll(sq_loop *loop, int32_t timeout_ms);

/**
 * A file descriptor for a host that runs its own event loop: it is readable
 * while the loop has work pending (callbacks, I/O results, a stop) and stays
 * readable until `sq_loop_poll` has taken that work (level-triggered). Timers
 * do not make it readable: wait at most `sq_loop_timeout_ms()`. The first
 * call creates the loop's descriptors (not its threads, which start with the
 * first `sq_loop_poll`); the fd is readable until then.
 *
 * Thread: one thread at a time, as for `sq_loop_poll` (any thread once the fd
 * exists).
 * Ownership: the descriptor belongs to the loop: watch it, never read it,
 * write it or close it. It is closed by `sq_loop_free`.
 * Returns: the descriptor (≥ 0), or a negative `sq_status`: `SQ_ERR_NULL`,
 * `SQ_ERR_REENTRANT`, `SQ_ERR_BUSY`, `SQ_ERR_FORKED`, `SQ_ERR_IO`.
 */
int32_t sq_loop_fd(sq_loop *loop);

/**
 * How long a host may wait on `sq_loop_fd` before it must call
 * `sq_loop_poll`: 0 when work is pending (or the loop has not started yet),
 * the milliseconds until the next timer is due (rounded up), or -1 when there
 * is no timer (wait for the fd alone). With `io_threads` 0 the reactor's own
 * deadlines count as timers too (connection timeouts, keep-alive pings,
 * client deadlines): a loop with connections asks for a poll at least every
 * quarter second.
 *
 * Thread: any thread.
 * Ownership: nothing changes hands.
 * Returns: -1, or a timeout in milliseconds (at most INT32_MAX). For a NULL
 * loop, 0 (so that the following `sq_loop_poll` reports `SQ_ERR_NULL`).
 */
int32_t sq_loop_timeout_ms(const sq_loop *loop);

/**
 * Schedules `cb(userdata)` to run once on the host thread, after every
 * callback the calling thread scheduled before (FIFO per calling thread).
 * A callback scheduled while the loop lives is run exactly once, unless the
 * loop is freed first (then it is dropped without running).
 *
 * Thread: any thread, including the loop's own callbacks.
 * Ownership: squall keeps `userdata` (without dereferencing it) until it
 * hands it to `cb`; what it points to stays the caller's.
 * Returns: `SQ_OK`; `SQ_ERR_NULL` (loop or cb); `SQ_ERR_FORKED`. On an error
 * the callback will never be called.
 */
sq_status sq_loop_add_callback(sq_loop *loop, sq_callback cb, void *userdata);

/**
 * Schedules `cb(userdata, id)` to run once on the host thread `delay_ms`
 * milliseconds from now (0: on the next iteration). Timers due at the same
 * time run in the order they were scheduled.
 *
 * Thread: any thread, including the loop's own callbacks.
 * Ownership: squall keeps `userdata` (without dereferencing it) until the
 * timer fires or is cancelled. `id_out` may be NULL; otherwise the timer's id
 * is written there on success.
 * Returns: `SQ_OK`; `SQ_ERR_NULL` (loop or cb); `SQ_ERR_FORKED`. On an error
 * the callback will never be called.
 */
sq_status sq_call_later(sq_loop *loop,
                        uint64_t delay_ms,
                        sq_timer_callback cb,
                        void *userdata,
                        sq_timer_id *id_out);

/**
 * Schedules `cb(userdata, id)` to run on the host thread every `interval_ms`
 * milliseconds, first `interval_ms` from now, at a fixed rate: a run that
 * comes late does not shift the later ones, and beats missed while the host
 * was busy are skipped, not run in a burst. Runs until `sq_timer_cancel`.
 *
 * Thread: any thread, including the loop's own callbacks.
 * Ownership: squall keeps `userdata` (without dereferencing it) until the
 * timer is cancelled or the loop freed. `id_out` may be NULL (then the timer
 * can still cancel itself with the id its callback receives).
 * Returns: `SQ_OK`; `SQ_ERR_NULL` (loop or cb); `SQ_ERR_INVALID_ARG` for an
 * interval of 0; `SQ_ERR_FORKED`. On an error the callback will never be called.
 */
sq_status sq_call_every(sq_loop *loop,
                        uint64_t interval_ms,
                        sq_timer_callback cb,
                        void *userdata,
                        sq_timer_id *id_out);

/**
 * Cancels a timer: its callback will not run again, even if it was already
 * due. A timer may cancel itself from its own callback.
 *
 * Thread: any thread, including the loop's own callbacks.
 * Ownership: squall lets go of the timer's `userdata`; freeing what it
 * points to is the caller's business, and safe once this returns `SQ_OK`
 * (or, from another thread, once the callback can no longer be running:
 * cancel from the host thread to be sure).
 * Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_ALREADY_DONE` for a one-shot
 * timer that already fired or a timer already cancelled; `SQ_ERR_INVALID_ARG`
 * for an id this loop never issued; `SQ_ERR_FORKED`.
 */
sq_status sq_timer_cancel(sq_loop *loop, sq_timer_id id);

/**
 * Starts a batch on the calling thread: the commands it sends from now on
 * (responses, WebSocket sends, closes, publishes) are held and handed to
 * the reactors together, one wake-up per reactor, at the matching
 * `sq_batch_end`. A host that answers many requests from one thread in a
 * burst (a language runtime's worker, a flush of queued responses) saves a
 * reactor wake-up per command. Batches nest; only the outermost end sends.
 * The loop's own callbacks are already batched this way.
 *
 * Thread: any thread; end the batch on the same thread, soon (held
 * commands wait for it).
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK`.
 */
sq_status sq_batch_begin(void);

/**
 * Ends a batch started with `sq_batch_begin` on this thread; the outermost
 * end sends what the batch held.
 *
 * Thread: the thread that began the batch.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK`; `SQ_ERR_STATE` when this thread has no batch open.
 */
sq_status sq_batch_end(void);

/**
 * Creates a request for `method` (an HTTP token: "GET", "POST", …) and
 * `url` (http:// or https://, with a host).
 *
 * Thread: any thread.
 * Ownership: the caller owns the request until it hands it to `sq_fetch`;
 * if it never does, it frees it with `sq_fetch_request_free`. The strings
 * are copied.
 * Returns: the request, or NULL (with `sq_last_error()`) for a NULL
 * argument, a bad method, or a URL that does not parse or is not http(s).
 */
sq_fetch_request *sq_fetch_request_new(const char *method, const char *url);

/**
 * The id the fetch of this request has: read it before `sq_fetch` takes
 * the request, to cancel the fetch (`sq_fetch_cancel`) or pause and resume
 * the reading of its response (`sq_fetch_pause_reading`). Ids are unique
 * in the process and never 0.
 *
 * Thread: the thread that holds the request.
 * Ownership: nothing changes hands.
 * Returns: the id; 0 for a NULL `req`.
 */
uint64_t sq_fetch_request_id(const sq_fetch_request *req);

/**
 * Frees a request that was not handed to `sq_fetch`. NULL is a no-op.
 *
 * Thread: any thread.
 * Ownership: takes the request back; the pointer must not be used again.
 * Returns: nothing.
 */
void sq_fetch_request_free(sq_fetch_request *req);

/**
 * Adds a request header. `Host`, `User-Agent` and `Accept-Encoding`
 * replace the client's own; `Content-Length` and `Transfer-Encoding` are
 * the client's and are ignored.
 *
 * Thread: the thread that holds the request.
 * Ownership: `name` and `value` are copied.
 * Returns: `SQ_OK`; `SQ_ERR_INVALID_ARG` (nothing added) for a name that
 * is not an HTTP token or a value holding CR, LF or NUL; `SQ_ERR_NULL`.
 */
sq_status sq_fetch_request_set_header(sq_fetch_request *req,
                                      const char *name,
                                      const char *value,
                                      size_t value_len);

/**
 * Sets the request body (sent with a `Content-Length`); undoes
 * `sq_fetch_request_stream_body`.
 *
 * Thread: the thread that holds the request.
 * Ownership: `data` is copied.
 * Returns: `SQ_OK`; `SQ_ERR_NULL` (NULL data with a non-zero length, or req).
 */
sq_status sq_fetch_request_set_body(sq_fetch_request *req, const void *data, size_t len);

/**
 * Makes the request body a stream the host writes after `sq_fetch`, from
 * any thread, with `sq_fetch_body_write` and ends with
 * `sq_fetch_body_finish` (instead of `sq_fetch_request_set_body`). With
 * `length` >= 0 the request says `Content-Length: length` and the body must
 * be exactly that long (it is complete with its last byte:
 * `sq_fetch_body_finish` is then optional); with `length` < 0 it goes
 * chunked and ends with `sq_fetch_body_finish`. Writes queue
 * while the connection is made and are sent as the socket takes them; a
 * write that leaves more than 1 MiB queued returns `SQ_BACKPRESSURE`, and
 * the callback set with `sq_fetch_request_set_on_drain` then says when the
 * queue is below 256 KiB again. A streamed request is never sent twice: a
 * 3xx response to it is handed back as it is (no redirect followed), and a
 * pooled connection found closed fails it once a byte of the body went.
 * The response may come before the body is finished (a 413, say); then
 * later writes return `SQ_ERR_CLOSED`.
 *
 * Thread: the thread that holds the request.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`.
 */
sq_status sq_fetch_request_stream_body(sq_fetch_request *req, int64_t length);

/**
 * Sets the callback that says, on the host thread and with the userdata
 * given to `sq_fetch`, that a streamed request body
 * (`sq_fetch_request_stream_body`) which had returned `SQ_BACKPRESSURE` has
 * less than 256 KiB queued again. NULL removes it.
 *
 * Thread: the thread that holds the request.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK`; `SQ_ERR_NULL` (req).
 */
sq_status sq_fetch_request_set_on_drain(sq_fetch_request *req, sq_callback cb);

/**
 * Queues `len` bytes of the streamed request body of fetch `id` (see
 * `sq_fetch_request_stream_body`); they are sent in order.
 *
 * Thread: any thread.
 * Ownership: `data` is copied.
 * Returns: `SQ_OK`; `SQ_BACKPRESSURE` (queued, but more than 1 MiB waits:
 * wait for `on_drain`); `SQ_ERR_LIMIT` (not queued: 64 MiB wait already);
 * `SQ_ERR_INVALID_ARG` (past the `Content-Length` given, or an id never
 * issued); `SQ_ERR_ALREADY_DONE` (the body was finished, or has all of
 * its `Content-Length`); `SQ_ERR_CLOSED`
 * (the fetch is over — answered, failed, cancelled — or its body is not
 * streamed); `SQ_ERR_NULL`.
 */
sq_status sq_fetch_body_write(sq_loop *loop, uint64_t id, const void *data, size_t len);

/**
 * Ends the streamed request body of fetch `id`: the last piece goes (and
 * the chunked body's end), then the response is awaited.
 *
 * Thread: any thread.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK` (also for a `Content-Length` body that has all its
 * bytes already); `SQ_ERR_INVALID_ARG` (fewer bytes than the
 * `Content-Length` given: the body is not finished; or an id never
 * issued); `SQ_ERR_ALREADY_DONE` (a chunked body finished before);
 * `SQ_ERR_CLOSED` (the fetch is over — which a complete body's response
 * may already have made it — or its body is not streamed); `SQ_ERR_NULL`.
 */
sq_status sq_fetch_body_finish(sq_loop *loop, uint64_t id);

/**
 * Sets the timeouts in milliseconds (0: none): `connect_ms` for resolving,
 * connecting and the TLS handshake; `request_ms` for the whole fetch from
 * `sq_fetch` to the last byte, redirects and time queued included.
 *
 * Thread: the thread that holds the request.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`.
 */
sq_status sq_fetch_request_set_timeouts(sq_fetch_request *req,
                                        uint64_t connect_ms,
                                        uint64_t request_ms);

/**
 * Sets how many redirects are followed (default 5); 0 hands a 3xx
 * response back as it is. More redirects than that fail the fetch with
 * `SQ_ERR_LIMIT`.
 *
 * Thread: the thread that holds the request.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`.
 */
sq_status sq_fetch_request_set_max_redirects(sq_fetch_request *req, uint32_t max_redirects);

/**
 * Says what a redirect past the maximum (`sq_fetch_request_set_max_redirects`)
 * does: with `on` 0 (the default) the fetch fails with `SQ_ERR_LIMIT`; with
 * `on` non-zero that 3xx response is handed back as the response, its
 * status, headers (`Location`) and body as they came (what Tornado 6.6's
 * client does).
 *
 * Thread: the thread that holds the request.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`.
 */
sq_status sq_fetch_request_set_redirect_overflow(sq_fetch_request *req, int hand_back);

/**
 * Turns verification of the server's certificate (https) on (the default)
 * or off. Off, any certificate is accepted — its chain, dates and name are
 * not checked (Tornado's `validate_cert=False`, curl's `-k`, Go's
 * `InsecureSkipVerify`) — but the handshake must still be signed with the
 * key of the certificate the server sent. Such a connection is open to
 * whoever sits on the path: for tests and for servers known by other
 * means. Off overrides `sq_fetch_request_set_ca_file`; unverified
 * connections are pooled apart from verified ones, and a redirect keeps
 * the setting.
 *
 * Thread: the thread that holds the request.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`.
 */
sq_status sq_fetch_request_set_verify(sq_fetch_request *req, int on);

/**
 * Makes the fetch's connections from the local IP address `address` (an
 * IPv4 or IPv6 literal; the port is the system's choice), as curl's
 * `--interface` with an address. An address of the other family than the
 * server's fails that address's connect (`SQ_ERR_CONNECT`); so does one
 * this host does not have. NULL goes back to the system's choice.
 * Connections are pooled per source address.
 *
 * Thread: the thread that holds the request.
 * Ownership: `address` is copied.
 * Returns: `SQ_OK`; `SQ_ERR_INVALID_ARG` when `address` is not an IP
 * address (nothing changes); `SQ_ERR_NULL` (req).
 */
sq_status sq_fetch_request_set_source_address(sq_fetch_request *req, const char *address);

/**
 * Connects to `host`:`port` instead of the URL's host and port, which stay
 * what the request names (`Host`) and, for https, the name the
 * certificate is checked against (SNI): curl's `--connect-to`. `host` is
 * resolved like a URL's host (a name or an IP literal). NULL goes back to
 * the URL's. A redirect to another origin connects to its own host.
 *
 * Thread: the thread that holds the request.
 * Ownership: `host` is copied.
 * Returns: `SQ_OK`; `SQ_ERR_INVALID_ARG` for an empty `host` or port 0;
 * `SQ_ERR_NULL` (req).
 */
sq_status sq_fetch_request_set_connect_to(sq_fetch_request *req, const char *host, uint16_t port);

/**
 * Restricts the addresses connected to: `family` 4 (IPv4 only), 6 (IPv6
 * only) or 0 (any: the default). A host with no address of that family
 * fails the fetch with `SQ_ERR_RESOLVE`.
 *
 * Thread: the thread that holds the request.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK`; `SQ_ERR_INVALID_ARG` for another `family`; `SQ_ERR_NULL`.
 */
sq_status sq_fetch_request_set_ip_family(sq_fetch_request *req, int family);

/**
 * With `on` non-zero the request says `Expect: 100-continue` and its body
 * waits for the server's `100 Continue` (RFC 9110 §10.1.1), or for one
 * second without an answer. A final response first (a 401, a 413) ends the
 * fetch without the body being sent (the connection is then not reused).
 * A streamed body (`sq_fetch_request_stream_body`) may be written before;
 * its host hears `on_drain` when the body may go, so it can wait for that
 * before producing anything.
 *
 * Thread: the thread that holds the request.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`.
 */
sq_status sq_fetch_request_set_expect_continue(sq_fetch_request *req, int on);

/**
 * Caps the response head (status line and headers) at `max_bytes` (0:
 * the default and most, 64 KiB); a longer one fails the fetch with
 * `SQ_ERR_PROTOCOL` ("response head too large").
 *
 * Thread: the thread that holds the request.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`.
 */
sq_status sq_fetch_request_set_max_header_size(sq_fetch_request *req, size_t max_bytes);

/**
 * Turns decompression of gzip/deflate responses on (the default) or off,
 * and caps the decompressed size: a body that grows past `max_decompressed`
 * bytes fails the fetch with `SQ_ERR_LIMIT` as soon as it does. With
 * decompression on, the request says `Accept-Encoding: gzip, deflate`
 * unless it has its own.
 *
 * Thread: the thread that holds the request.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`.
 */
sq_status sq_fetch_request_set_decompress(sq_fetch_request *req, int on, uint64_t max_decompressed);

/**
 * Caps the response body (after decompression): a larger one fails the
 * fetch with `SQ_ERR_LIMIT`, never a truncated body. Default 100 MiB.
 *
 * Thread: the thread that holds the request.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`.
 */
sq_status sq_fetch_request_set_max_body(sq_fetch_request *req, uint64_t max_body);

/**
 * Sets basic authentication (`Authorization: Basic …`). Dropped when a
 * redirect goes to another origin.
 *
 * Thread: the thread that holds the request.
 * Ownership: the strings are copied.
 * Returns: `SQ_OK`; `SQ_ERR_INVALID_ARG` when `user` holds a ':' or either
 * is not UTF-8; `SQ_ERR_NULL`.
 */
sq_status sq_fetch_request_set_basic_auth(sq_fetch_request *req,
                                          const char *user,
                                          const char *password);

/**
 * Trusts only the CA certificates in the PEM file `path` for https (instead
 * of the built-in roots). The file is read now, on the calling thread.
 *
 * Thread: the thread that holds the request.
 * Ownership: `path` is copied.
 * Returns: `SQ_OK`; `SQ_ERR_INVALID_ARG` when the file cannot be read or
 * holds no usable certificate; `SQ_ERR_NULL`.
 */
sq_status sq_fetch_request_set_ca_file(sq_fetch_request *req, const char *path);

/**
 * Sets a callback for the head of the final response (status and headers,
 * no body yet), called on the host thread before its body arrives, with
 * the userdata given to `sq_fetch`. NULL removes it.
 *
 * Thread: the thread that holds the request.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`.
 */
sq_status sq_fetch_request_set_on_headers(sq_fetch_request *req, sq_fetch_callback cb);

/**
 * Streams the body: `cb` gets each piece as it arrives (decompressed), on
 * the host thread, with the userdata given to `sq_fetch`; the final
 * response then has an empty body. Reading pauses while the host is more
 * than 1 MiB behind. NULL removes it.
 *
 * Thread: the thread that holds the request.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`.
 */
sq_status sq_fetch_request_set_on_chunk(sq_fetch_request *req, sq_fetch_chunk_callback cb);

/**
 * Starts a fetch. It runs on the loop's first reactor once the loop runs
 * (connections are pooled per origin: see `sq_fetch_set_limits`);
 * `on_response` is called exactly once, on the host thread, with the
 * response or the failure (`sq_fetch_response_error`: `SQ_ERR_TIMEOUT`,
 * `SQ_ERR_RESOLVE`, `SQ_ERR_CONNECT`, `SQ_ERR_TLS`, `SQ_ERR_PROTOCOL`,
 * `SQ_ERR_LIMIT`, `SQ_ERR_CLOSED`, `SQ_ERR_CANCELLED` (`sq_fetch_cancel`), `SQ_ERR_INVALID_ARG` for a redirect to
 * another scheme) — unless the loop is freed first, in which case no
 * callback of this fetch runs.
 *
 * Thread: any thread.
 * Ownership: takes `req` over in every case (also when it fails): do not
 * use or free it afterwards. `userdata` must stay valid until
 * `on_response` has run.
 * Returns: `SQ_OK`; `SQ_ERR_NULL` (loop, req or on_response); `SQ_ERR_CLOSED`
 * (loop freed); `SQ_ERR_FORKED`.
 */
sq_status sq_fetch(sq_loop *loop,
                   sq_fetch_request *req,
                   sq_fetch_callback on_response,
                   void *userdata);

/**
 * Cancels fetch `id` (from `sq_fetch_request_id`) of this loop: it stops
 * wherever it is (queued for a connection, connecting, sending, reading
 * the response; its connection is closed, not reused) and its
 * `on_response` is called with `SQ_ERR_CANCELLED`, on the host thread,
 * after any chunk already handed over. A fetch whose response was already
 * on its way to the host is not cancelled: `on_response` runs exactly
 * once either way. Cancelling a fetch that is done, or twice, does nothing.
 *
 * Thread: any thread (also inside a callback of the fetch); it takes effect
 * on the loop's first reactor, after what this thread asked before.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK` (the cancel is on its way); `SQ_ERR_INVALID_ARG` for an
 * id that no request was given (0, or never issued); `SQ_ERR_NULL`;
 * `SQ_ERR_CLOSED` (loop freed); `SQ_ERR_FORKED`.
 */
sq_status sq_fetch_cancel(sq_loop *loop, uint64_t id);

/**
 * Stops reading the response of fetch `id` (from `sq_fetch_request_id`)
 * until `sq_fetch_resume_reading`: the host's own flow control for a
 * streamed body (`sq_fetch_request_set_on_chunk`), when it hands the
 * chunks on to a consumer slower than its callback. Chunks already handed
 * over still arrive; then the kernel's buffers fill and the server slows
 * down. The request timeout keeps running. Pausing a fetch queued for a
 * connection holds it from its first byte.
 *
 * Thread: any thread; takes effect on the loop's first reactor.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK` (also for a fetch that is done: nothing happens);
 * `SQ_ERR_INVALID_ARG` for an id never issued; `SQ_ERR_NULL`;
 * `SQ_ERR_CLOSED`; `SQ_ERR_FORKED`.
 */
sq_status sq_fetch_pause_reading(sq_loop *loop, uint64_t id);

/**
 * Reads the response of fetch `id` again after `sq_fetch_pause_reading`.
 *
 * Thread: any thread; takes effect on the loop's first reactor.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK` (also when it was not paused, or is done);
 * `SQ_ERR_INVALID_ARG` for an id never issued; `SQ_ERR_NULL`;
 * `SQ_ERR_CLOSED`; `SQ_ERR_FORKED`.
 */
sq_status sq_fetch_resume_reading(sq_loop *loop, uint64_t id);

/**
 * Sets the client's connection pool limits for this loop: at most
 * `max_clients` connections in all (default 100) and `max_per_host` per
 * origin (0: the same as `max_clients`); requests beyond wait in a queue
 * (their request timeout runs). An idle kept-alive connection closes after
 * `idle_timeout_ms` (default 30000).
 *
 * Thread: any thread; applies to requests that start afterwards.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK`; `SQ_ERR_INVALID_ARG` for `max_clients` 0;
 * `SQ_ERR_NULL`; `SQ_ERR_CLOSED`.
 */
sq_status sq_fetch_set_limits(sq_loop *loop,
                              uint32_t max_clients,
                              uint32_t max_per_host,
                              uint64_t idle_timeout_ms);

/**
 * How many requests of this loop wait for a connection now (over
 * `sq_fetch_set_limits`' caps), as the pool last counted them on the
 * loop's first reactor (Tornado's `len(client.queue)`).
 *
 * Thread: any thread.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK`; `SQ_ERR_NULL` (loop or count_out).
 */
sq_status sq_fetch_queued(sq_loop *loop, uint64_t *count_out);

/**
 * Whether the fetch failed, and how.
 *
 * Thread: inside the callback that got `resp`.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK` when a response arrived (whatever its HTTP status), else
 * the failure's code (see `sq_fetch`); `SQ_ERR_NULL` for a NULL `resp`.
 */
sq_status sq_fetch_response_error(const sq_fetch_response *resp);

/**
 * The failure's message ("" when the fetch did not fail).
 *
 * Thread: inside the callback that got `resp`.
 * Ownership: `*out` points into the response: valid until the callback returns.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`.
 */
sq_status sq_fetch_response_message(const sq_fetch_response *resp, sq_str *out);

/**
 * The HTTP status code (0 when the fetch failed).
 *
 * Thread: inside the callback that got `resp`.
 * Ownership: nothing changes hands.
 * Returns: the status, 0 on failure or for a NULL `resp`.
 */
uint32_t sq_fetch_response_status(const sq_fetch_response *resp);

/**
 * The reason phrase of the status line.
 *
 * Thread: inside the callback that got `resp`.
 * Ownership: `*out` points into the response: valid until the callback returns.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`.
 */
sq_status sq_fetch_response_reason(const sq_fetch_response *resp, sq_str *out);

/**
 * The first value of header `name` (case-insensitive).
 *
 * Thread: inside the callback that got `resp`.
 * Ownership: `*out` points into the response: valid until the callback returns.
 * Returns: `SQ_OK`; `SQ_ERR_NOT_FOUND` when there is no such header; `SQ_ERR_NULL`.
 */
sq_status sq_fetch_response_header(const sq_fetch_response *resp, const char *name, sq_str *out);

/**
 * The number of header lines in the response.
 *
 * Thread: inside the callback that got `resp`.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`.
 */
sq_status sq_fetch_response_header_count(const sq_fetch_response *resp, size_t *count_out);

/**
 * Header line `index` (0-based, in the order received): name and value.
 *
 * Thread: inside the callback that got `resp`.
 * Ownership: `*name_out` and `*value_out` point into the response: valid
 * until the callback returns.
 * Returns: `SQ_OK`; `SQ_ERR_NOT_FOUND` for an index past the end; `SQ_ERR_NULL`.
 */
sq_status sq_fetch_response_header_at(const sq_fetch_response *resp,
                                      size_t index,
                                      sq_str *name_out,
                                      sq_str *value_out);

/**
 * The response body (decompressed; empty when it was streamed).
 *
 * Thread: inside the callback that got `resp`.
 * Ownership: `*out` points into the response: valid until the callback
 * returns; copy what you keep.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`.
 */
sq_status sq_fetch_response_body(const sq_fetch_response *resp, sq_str *out);

/**
 * The URL the response came from: the request's, or the last redirect's.
 *
 * Thread: inside the callback that got `resp`.
 * Ownership: `*out` points into the response: valid until the callback returns.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`.
 */
sq_status sq_fetch_response_url(const sq_fetch_response *resp, sq_str *out);

/**
 * How many redirects were followed.
 *
 * Thread: inside the callback that got `resp`.
 * Ownership: nothing changes hands.
 * Returns: the count; 0 for a NULL `resp`.
 */
uint32_t sq_fetch_response_redirects(const sq_fetch_response *resp);

/**
 * What the TLS handshake of the response's connection agreed on (Go's
 * `Response.TLS`): the version, the cipher suite, the server name this
 * client asked for (SNI) and the ALPN protocol, in the caller's
 * `sq_tls_info` (set its `size` first, as for `sq_request_tls`). Works on
 * the head (`sq_fetch_request_set_on_headers`) and the final response.
 *
 * Thread: inside the callback that got `resp`.
 * Ownership: the strings in `*out` point into the response: valid until
 * the callback returns.
 * Returns: `SQ_OK`; `SQ_ERR_NOT_FOUND` for plain http or a failed fetch
 * (`*out` untouched); `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` for a `size`
 * smaller than the `size` field.
 */
sq_status sq_fetch_response_tls(const sq_fetch_response *resp, sq_tls_info *out);

/**
 * When a phase of the fetch ended, in milliseconds since `sq_fetch`:
 * `which` is one of `SQ_TIME_QUEUE`, `SQ_TIME_NAMELOOKUP`,
 * `SQ_TIME_CONNECT`, `SQ_TIME_TLS`, `SQ_TIME_FIRST_BYTE`, `SQ_TIME_TOTAL`
 * (cumulative, as curl reports them; a reused connection's lookup,
 * connect and TLS times equal its queue time). A phase not reached (a
 * failure before it, TLS on http) gives -1.
 *
 * Thread: inside the callback that got `resp`.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK`; `SQ_ERR_INVALID_ARG` for an unknown `which`; `SQ_ERR_NULL`.
 */
sq_status sq_fetch_response_time(const sq_fetch_response *resp, uint32_t which, double *ms_out);

/**
 * Sends squall's log records at `level` and more severe to `cb`, or with `cb`
 * NULL stops sending them (then nothing is printed, unless the `SQUALL_LOG`
 * environment variable named a level when the first loop was created, which
 * prints on stderr). Process-wide: one callback for every loop.
 *
 * The callback is called on whatever thread logs, reactor threads included,
 * possibly on several threads at once: it must be thread-safe, and it must
 * not block for long. Records logged by squall calls made from inside the
 * callback are dropped (no recursion).
 *
 * Thread: any thread, except from inside the log callback itself.
 * Ownership: squall keeps `userdata` (without dereferencing it) until the
 * callback is replaced. When this returns, no thread is still inside the old
 * callback. `target` and `message` are valid only during the callback; copy
 * them to keep them.
 * Returns: `SQ_OK`; `SQ_ERR_INVALID_ARG` for a level outside
 * `SQ_LOG_OFF`..`SQ_LOG_TRACE`; `SQ_ERR_REENTRANT` from inside the callback.
 */
sq_status sq_log_set_callback(sq_log_level level, sq_log_callback cb, void *userdata);

/**
 * The name of a log level: "off", "error", "warn", "info", "debug", "trace",
 * or "unknown".
 *
 * Thread: any thread.
 * Ownership: a static string; do not free.
 * Returns: never NULL.
 */
const char *sq_log_level_str(sq_log_level level);

/**
 * Fills `out` with the server's counters now: pass `sizeof(sq_metrics)`
 * as `size`. No more than `size` bytes are written, so a program built
 * against an older header gets the fields it knows; `out->size` says how
 * many were.
 *
 * Thread: any thread (the counters are read with relaxed atomic loads;
 * an attached cluster's are found under two short locks, held for a
 * pointer's read: never a wait on I/O or on a reactor).
 * Ownership: writes into the caller's struct; nothing changes hands.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` when `size` is
 * smaller than the `size` field itself.
 */
sq_status sq_metrics_snapshot(sq_server *server, sq_metrics *out, size_t size);

/**
 * Fills `out` with the figures of the loop itself, for a program with no
 * server (a client only): the `host_*` and `client_*` fields; every
 * server field is 0. Pass `sizeof(sq_metrics)` as `size`, as for
 * `sq_metrics_snapshot` (`out->size` says how many bytes were written).
 *
 * Thread: any thread (relaxed atomic loads; nothing waits).
 * Ownership: writes into the caller's struct; nothing changes hands.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` when `size` is
 * smaller than the `size` field itself.
 */
sq_status sq_loop_metrics_snapshot(sq_loop *loop, sq_metrics *out, size_t size);

/**
 * Writes the server's counters in Prometheus' text exposition format
 * (version 0.0.4, served as `text/plain; version=0.0.4; charset=utf-8`)
 * into `buf`, NUL-terminated. `*needed` (if not NULL) gets the text's
 * length without the NUL: when it is `cap` or more nothing useful was
 * written; call again with a buffer of at least `*needed + 1` bytes. The
 * names, labels and help of every family are listed in docs/METRICS.md.
 *
 * Thread: any thread.
 * Ownership: writes into the caller's buffer; nothing changes hands.
 * Returns: `SQ_OK` (the whole text and its NUL fit); `SQ_ERR_LIMIT` (it did
 * not: `*needed` says how much is needed; `buf` holds an empty string when
 * `cap` > 0); `SQ_ERR_NULL` for `server`, or `buf` with `cap` > 0.
 */
sq_status sq_metrics_prometheus(sq_server *server, char *buf, size_t cap, size_t *needed);

/**
 * Serves the server's counters in Prometheus' text format at GET (and
 * HEAD) `path` (a plain path such as "/metrics", not a pattern), answered
 * on the reactor thread, so a scrape gets an answer while the host thread
 * is busy. Routes are tried in the order they were added.
 *
 * Thread: the host thread (like `sq_route`).
 * Ownership: `path` is copied.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` when `path` is not
 * UTF-8 or does not start with '/'.
 */
sq_status sq_server_metrics_route(sq_server *server, const char *path);

/**
 * The request method ("GET", "POST", …).
 *
 * Thread: any thread.
 * Ownership: `*out` points into the request: valid until the response is
 * finished; do not free.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_ALREADY_DONE` (stale handle);
 * `SQ_ERR_INVALID_ARG` (not a request handle).
 */
sq_status sq_request_method(sq_request *req, sq_str *out);

/**
 * The request-target as sent: path and query ("/a/b?x=1").
 *
 * Thread: any thread.
 * Ownership: `*out` points into the request: valid until the response is
 * finished; do not free.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_ALREADY_DONE`; `SQ_ERR_INVALID_ARG`.
 */
sq_status sq_request_uri(sq_request *req, sq_str *out);

/**
 * The path part of the request-target, as sent (not percent-decoded).
 *
 * Thread: any thread.
 * Ownership: `*out` points into the request: valid until the response is
 * finished; do not free.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_ALREADY_DONE`; `SQ_ERR_INVALID_ARG`.
 */
sq_status sq_request_path(sq_request *req, sq_str *out);

/**
 * The raw query string (after `?`, not decoded; empty when there is none).
 *
 * Thread: any thread.
 * Ownership: `*out` points into the request: valid until the response is
 * finished; do not free.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_ALREADY_DONE`; `SQ_ERR_INVALID_ARG`.
 */
sq_status sq_request_query(sq_request *req, sq_str *out);

/**
 * The value of cookie `name` (case-sensitive) from the request's `Cookie`
 * headers, with surrounding double quotes removed; not percent-decoded.
 *
 * Thread: any thread.
 * Ownership: `name` is only read during the call. `*out` points into the
 * request: valid until the response is finished; do not free.
 * Returns: `SQ_OK`; `SQ_ERR_NOT_FOUND` when there is no such cookie;
 * `SQ_ERR_NULL`; `SQ_ERR_ALREADY_DONE`; `SQ_ERR_INVALID_ARG`.
 */
sq_status sq_request_cookie(sq_request *req, const char *name, sq_str *out);

/**
 * The value of header `name` (case-insensitive); with repeated headers, the
 * last one (use `sq_request_header_at` to see them all).
 *
 * Thread: any thread.
 * Ownership: `name` is only read during the call. `*out` points into the
 * request: valid until the response is finished; do not free.
 * Returns: `SQ_OK`; `SQ_ERR_NOT_FOUND` when the request has no such header;
 * `SQ_ERR_NULL`; `SQ_ERR_ALREADY_DONE`; `SQ_ERR_INVALID_ARG`.
 */
sq_status sq_request_header(sq_request *req, const char *name, sq_str *out);

/**
 * The number of header lines in the request.
 *
 * Thread: any thread.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_ALREADY_DONE`; `SQ_ERR_INVALID_ARG`.
 */
sq_status sq_request_header_count(sq_request *req, size_t *count_out);

/**
 * Header line `index` (0-based, in the order received): its name as sent
 * and its value.
 *
 * Thread: any thread.
 * Ownership: `*name_out` and `*value_out` point into the request: valid
 * until the response is finished; do not free.
 * Returns: `SQ_OK`; `SQ_ERR_INVALID_ARG` for an index past the last;
 * `SQ_ERR_NULL`; `SQ_ERR_ALREADY_DONE`.
 */
sq_status sq_request_header_at(sq_request *req, size_t index, sq_str *name_out, sq_str *value_out);

/**
 * The whole request body (empty when there is none).
 *
 * Thread: any thread.
 * Ownership: `*out` points into the request: valid until the response is
 * finished; do not free.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_ALREADY_DONE`; `SQ_ERR_INVALID_ARG`.
 */
sq_status sq_request_body(sq_request *req, sq_str *out);

/**
 * The last value of argument `name`: query arguments and, for an
 * `application/x-www-form-urlencoded` body, body arguments, percent-decoded
 * (as Tornado's `get_argument`).
 *
 * Thread: any thread.
 * Ownership: `name` is only read during the call. `*out` points into the
 * request: valid until the response is finished; do not free.
 * Returns: `SQ_OK`; `SQ_ERR_NOT_FOUND` when there is no such argument;
 * `SQ_ERR_NULL`; `SQ_ERR_ALREADY_DONE`; `SQ_ERR_INVALID_ARG`.
 */
sq_status sq_request_argument(sq_request *req, const char *name, sq_str *out);

/**
 * How many values argument `name` has (repeated names are kept).
 *
 * Thread: any thread.
 * Ownership: `name` is only read during the call.
 * Returns: `SQ_OK` (with 0 for an absent argument); `SQ_ERR_NULL`;
 * `SQ_ERR_ALREADY_DONE`; `SQ_ERR_INVALID_ARG`.
 */
sq_status sq_request_argument_count(sq_request *req, const char *name, size_t *count_out);

/**
 * Value `index` (0-based, in order of appearance) of argument `name`.
 *
 * Thread: any thread.
 * Ownership: `*out` points into the request: valid until the response is
 * finished; do not free.
 * Returns: `SQ_OK`; `SQ_ERR_NOT_FOUND` past the last value; `SQ_ERR_NULL`;
 * `SQ_ERR_ALREADY_DONE`; `SQ_ERR_INVALID_ARG`.
 */
sq_status sq_request_argument_at(sq_request *req, const char *name, size_t index, sq_str *out);

/**
 * Group `index` (0-based) captured by the route's pattern, percent-decoded.
 *
 * Thread: any thread.
 * Ownership: `*out` points into the request: valid until the response is
 * finished; do not free.
 * Returns: `SQ_OK`; `SQ_ERR_NOT_FOUND` for an optional group that did not
 * participate; `SQ_ERR_INVALID_ARG` for an index past the last group;
 * `SQ_ERR_NULL`; `SQ_ERR_ALREADY_DONE`.
 */
sq_status sq_request_capture(sq_request *req, size_t index, sq_str *out);

/**
 * The number of groups the route's pattern captures.
 *
 * Thread: any thread.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_ALREADY_DONE`; `SQ_ERR_INVALID_ARG`.
 */
sq_status sq_request_capture_count(sq_request *req, size_t *count_out);

/**
 * The client's IP address as text ("127.0.0.1", "::1").
 *
 * Thread: any thread.
 * Ownership: `*out` points into the request: valid until the response is
 * finished; do not free.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_ALREADY_DONE`; `SQ_ERR_INVALID_ARG`.
 */
sq_status sq_request_remote_ip(sq_request *req, sq_str *out);

/**
 * The client's TCP port (the peer port of the connection the request came on).
 *
 * Thread: any thread.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK` with the port in `*port_out`; `SQ_ERR_NULL`;
 * `SQ_ERR_ALREADY_DONE`; `SQ_ERR_INVALID_ARG`.
 */
sq_status sq_request_remote_port(sq_request *req, uint16_t *port_out);

/**
 * The HTTP version of the request line: `*major_out` and `*minor_out` get
 * 1 and 1 for "HTTP/1.1", 1 and 0 for "HTTP/1.0" (the server speaks
 * HTTP/1.x only).
 *
 * Thread: any thread.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK`; `SQ_ERR_NULL` (req or an out-parameter);
 * `SQ_ERR_ALREADY_DONE`; `SQ_ERR_INVALID_ARG`.
 */
sq_status sq_request_version(sq_request *req, uint32_t *major_out, uint32_t *minor_out);

/**
 * The TLS details of the connection `req` arrived on (Go's `r.TLS`).
 *
 * Thread: any thread.
 * Ownership: the strings in `*out` point into the request: valid until the
 * response is finished; do not free.
 * Returns: `SQ_OK`; `SQ_ERR_NOT_FOUND` when the connection is plain HTTP
 * (`*out` untouched); `SQ_ERR_NULL`; `SQ_ERR_ALREADY_DONE`;
 * `SQ_ERR_INVALID_ARG` for a `size` smaller than the `size` field.
 */
sq_status sq_request_tls(sq_request *req, sq_tls_info *out);

/**
 * Sets the callback that receives the body of a request whose route was
 * registered with `SQ_STREAM_BODY` (normally from the handler, which runs
 * when the head arrives). Chunks that arrived before are delivered first.
 * Calls run on the host thread, one at a time, never from inside this
 * function. While more than 1 MiB of body waits to be delivered, squall
 * stops reading the connection (flow control). Once the response is
 * finished, or the client is gone, remaining chunks are dropped without a
 * call (`sq_request_on_close` tells about the client leaving).
 *
 * Thread: any thread (normally the handler's).
 * Ownership: squall keeps `userdata` (without dereferencing it) until the
 * last call or the end of the request.
 * Returns: `SQ_OK`; `SQ_ERR_STATE` when the route does not stream bodies;
 * `SQ_ERR_ALREADY_DONE` when a body callback is already set or the request
 * is finished; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG`.
 */
sq_status sq_request_on_body(sq_request *req, sq_body_callback cb, void *userdata);

/**
 * Asks to be told when the client goes away before the response is
 * finished: `cb(userdata)` then runs once on the host thread, and response
 * calls return `SQ_ERR_CLOSED` (finish the request anyway to release it).
 * Replaces an earlier callback.
 *
 * Thread: any thread.
 * Ownership: squall keeps `userdata` (without dereferencing it) until the
 * callback runs or the response is finished.
 * Returns: `SQ_OK`; `SQ_ERR_CLOSED` if the client is already gone (the
 * callback will not be called); `SQ_ERR_NULL`; `SQ_ERR_ALREADY_DONE`.
 */
sq_status sq_request_on_close(sq_request *req, sq_callback cb, void *userdata);

/**
 * Answers the request in one call: status, headers and the whole body. The
 * server adds `Date`, `Content-Length` and `Connection` itself (a caller's
 * own copies of those are dropped); HEAD requests get the headers only.
 * After `sq_response_set_length`, that length is the `Content-Length` (a
 * HEAD answer says it) and the body must come to it. Finishes the
 * request: the handle is stale afterwards.
 *
 * Thread: any thread, also after the handler returned.
 * Ownership: `headers` and `body` are copied before the call returns.
 * Returns: `SQ_OK`; `SQ_ERR_CLOSED` when the client went away (the request
 * is released all the same); `SQ_ERR_ALREADY_DONE` when already finished;
 * `SQ_ERR_INVALID_ARG` for a status outside 100–999 or a header whose name
 * is not a token or whose value holds CR, LF or NUL (nothing is sent, the
 * request stays open); `SQ_ERR_STATE` after `sq_response_flush`;
 * `SQ_ERR_LIMIT` when the body does not match the length given to
 * `sq_response_set_length` (the request is finished, the connection cut);
 * `SQ_ERR_NULL` (req, or body/headers NULL with a non-zero length).
 */
sq_status sq_respond(sq_request *req,
                     int status,
                     const sq_header *headers,
                     size_t nheaders,
                     const void *body,
                     size_t body_len);

/**
 * Sets the response status and, optionally, its reason phrase (NULL for the
 * standard one). Default 200.
 *
 * Thread: any thread.
 * Ownership: `reason` is copied.
 * Returns: `SQ_OK`; `SQ_ERR_INVALID_ARG` for a status outside 100–999 or a
 * reason with control characters; `SQ_ERR_STATE` after `sq_response_flush`;
 * `SQ_ERR_CLOSED`; `SQ_ERR_ALREADY_DONE`; `SQ_ERR_NULL`.
 */
sq_status sq_response_status(sq_request *req, int status, const char *reason);

/**
 * Adds a response header (`replace` non-zero: first removes every header of
 * that name). `Date`, `Content-Length`, `Transfer-Encoding` and
 * `Connection` are the server's and are dropped when the head is written
 * (`sq_response_set_length` declares a body's length).
 *
 * Thread: any thread.
 * Ownership: `name` and `value` are copied.
 * Returns: `SQ_OK`; `SQ_ERR_INVALID_ARG` for a name that is not a token or
 * a value holding CR, LF or NUL (nothing is added); `SQ_ERR_STATE` after
 * `sq_response_flush`; `SQ_ERR_CLOSED`; `SQ_ERR_ALREADY_DONE`; `SQ_ERR_NULL`.
 */
sq_status sq_response_header(sq_request *req,
                             const char *name,
                             const char *value,
                             size_t value_len,
                             int replace);

/**
 * Appends to the response body (buffered until `sq_response_flush` or
 * `sq_response_finish`).
 *
 * Thread: any thread.
 * Ownership: `data` is copied.
 * Returns: `SQ_OK`; `SQ_ERR_STATE` for a body on a 1xx/204/304 response;
 * `SQ_ERR_CLOSED`; `SQ_ERR_ALREADY_DONE`; `SQ_ERR_NULL`.
 */
sq_status sq_response_write(sq_request *req, const void *data, size_t len);

/**
 * Sends what was written so far. The first flush sends the head: the body
 * is then chunked (HTTP/1.1) or runs until the connection closes (HTTP/1.0),
 * unless `sq_response_set_length` declared the body's length: then the
 * head carries it, the body is sent as it is and must come to exactly it.
 *
 * Thread: any thread.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK`; `SQ_ERR_LIMIT` when the body would pass the
 * declared length (nothing more is sent, the connection is cut and
 * the request finished); `SQ_ERR_CLOSED`; `SQ_ERR_ALREADY_DONE`; `SQ_ERR_NULL`.
 */
sq_status sq_response_flush(sq_request *req);

/**
 * Gives up on the request: no response is sent (or, when its head was
 * already flushed, the rest of it is not) and the connection is closed
 * once what was queued before is written, so the client sees the exchange
 * cut, never a response that looks whole. For a handler that failed and
 * has already said so. Releases the request: the handle is stale afterwards.
 *
 * Thread: any thread, also after the handler returned.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK`; `SQ_ERR_CLOSED` when the client went away (the request
 * is released all the same); `SQ_ERR_ALREADY_DONE`; `SQ_ERR_NULL`.
 */
sq_status sq_request_abort(sq_request *req);

/**
 * Declares the length of the response body, sent as its `Content-Length`
 * (Tornado's handlers set that header): a HEAD answer carries it, a body
 * sent in pieces with `sq_response_flush` goes out unchunked, and the
 * body must come to exactly this many bytes. If it does not, what fits is
 * sent and the connection is cut (the client sees an incomplete response,
 * never a whole-looking wrong one), and the call that found out
 * (`sq_respond`, `sq_response_flush`, `sq_response_finish`) returns
 * `SQ_ERR_LIMIT`. Ignored for a status without a body (1xx, 204, 304).
 *
 * Thread: any thread.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK`; `SQ_ERR_STATE` after `sq_response_flush`;
 * `SQ_ERR_CLOSED`; `SQ_ERR_ALREADY_DONE`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG`.
 */
sq_status sq_response_set_length(sq_request *req, uint64_t length);

/**
 * How many bytes of output wait for the client: what was flushed for this
 * response (and what the connection still holds before it) that the
 * socket has not taken yet. A streaming sender (a large file) can flush a
 * piece, and send the next once this has fallen, so that a slow client
 * does not make squall hold the whole body. Updated by the connection's
 * reactor as it writes: an estimate, never an undercount of more than
 * what is being written at that moment.
 *
 * Thread: any thread.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK` with the count in `*bytes_out`; `SQ_ERR_CLOSED` once the
 * client has gone; `SQ_ERR_ALREADY_DONE` once the response is finished;
 * `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG`.
 */
sq_status sq_response_backlog(sq_request *req, size_t *bytes_out);

/**
 * Finishes the response (with a Content-Length when nothing was flushed)
 * and releases the request: the handle is stale afterwards.
 *
 * Thread: any thread.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK`; `SQ_ERR_LIMIT` when the body sent and pending does not
 * come to the length declared with `sq_response_set_length` (the connection is cut after
 * what fits; the request is released all the same); `SQ_ERR_CLOSED` when
 * the client went away (the request is released all the same);
 * `SQ_ERR_ALREADY_DONE`; `SQ_ERR_NULL`.
 */
sq_status sq_response_finish(sq_request *req);

/**
 * Creates a server on `loop`. Nothing is bound until `sq_server_listen`.
 *
 * Thread: any thread.
 * Ownership: the caller owns the server and frees it with `sq_server_free`,
 * before freeing the loop. The server keeps a reference to the loop's
 * shared state, not to the `sq_loop` pointer.
 * Returns: the server, or NULL (with `sq_last_error()`) if `loop` is NULL.
 */
sq_server *sq_server_new(sq_loop *loop);

/**
 * Frees a server: closes its listeners and connections (requests in flight
 * then fail with `SQ_ERR_CLOSED`). When it returns, no handler of this
 * server is running on a reactor thread and none will be called again.
 * Calling with NULL is a harmless no-op.
 *
 * Thread: the host thread (from a host-thread handler too). Not from an
 * `SQ_INLINE` handler.
 * Ownership: takes the server back; the pointer must not be used again.
 * Route userdata may be freed once this returns.
 * Returns: nothing.
 */
void sq_server_free(sq_server *server);

/**
 * Adds a route: requests whose method is `method` ("GET", …; "*" for any)
 * and whose whole path matches the regular expression `pattern` go to
 * `handler`. Groups captured by the pattern are available through
 * `sq_request_capture`. Routes are tried in the order they were added
 * (those with `SQ_FALLBACK` after all the others); a path matched only by
 * routes of other methods gets 405 with `Allow`, an unmatched path 404. A GET route also answers HEAD (without the body).
 *
 * Thread: the host thread, before or while the loop runs.
 * Ownership: `method` and `pattern` are copied. squall keeps `userdata`
 * (without dereferencing it) until `sq_server_free`.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` for a bad method,
 * a bad pattern (the message says why), unknown flags, or `SQ_INLINE`
 * with `SQ_STREAM_BODY`.
 */
sq_status sq_route(sq_server *server,
                   const char *method,
                   const char *pattern,
                   sq_handler handler,
                   void *userdata,
                   uint32_t flags);

/**
 * Serves the files under `directory` at URLs that start with `url_prefix`
 * ("/static/"), from the reactor: GET and HEAD (other methods get 405),
 * `Content-Type` from the file name, `ETag` and `Last-Modified` with
 * `If-None-Match` / `If-Modified-Since` → 304, a single `Range` → 206 (or
 * 416), the body sent with sendfile(2). Paths that would leave the
 * directory (`..`, `%2e%2e`, symlinks pointing out) get 403; a directory is
 * served through its `index.html`. Static mounts are looked up before routes.
 *
 * Thread: the host thread.
 * Ownership: both strings are copied.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` when the prefix
 * does not start with '/' or the directory does not exist.
 */
sq_status sq_server_static(sq_server *server, const char *url_prefix, const char *directory);

/**
 * Binds a listening socket on `host:port` now (port 0 picks a free port;
 * the bound port is written to `port_out` if it is not NULL) and starts
 * accepting when the loop runs, on every reactor thread. May be called
 * several times for several addresses. `host` is an IP address or a name
 * resolved once, here ("127.0.0.1", "::1", "0.0.0.0", "localhost").
 *
 * Thread: the host thread.
 * Ownership: `host` is copied.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` for a host that
 * does not resolve; `SQ_ERR_IO` when binding fails (address in use,
 * permission), with the reason in `sq_last_error()`; `SQ_ERR_CLOSED`.
 */
sq_status sq_server_listen(sq_server *server, const char *host, uint16_t port, uint16_t *port_out);

/**
 * Serves on a socket the caller already bound and put in listening state
 * (`socket(2)`, `bind(2)`, `listen(2)`; a Go `net.Listener`'s descriptor, a
 * socket inherited from a supervisor), instead of binding one with
 * `sq_server_listen`. squall makes it non-blocking and accepts from it when
 * the loop runs, on every reactor thread (the others watch duplicates).
 *
 * Thread: the host thread.
 * Ownership: on `SQ_OK` squall owns `fd` and closes it with the server;
 * on an error the caller still owns it. The bound port is written to
 * `port_out` if it is not NULL.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` when `fd` is not a
 * listening TCP socket (the message says why); `SQ_ERR_IO`; `SQ_ERR_CLOSED`.
 */
sq_status sq_server_listen_fd(sq_server *server, int32_t fd, uint16_t *port_out);

/**
 * Shuts the server down gracefully: it stops accepting at once, closes
 * idle keep-alive connections, lets requests in flight finish (their
 * responses carry `Connection: close`), and after `deadline_ms` closes
 * whatever is still open (handlers then get `SQ_ERR_CLOSED`). When every
 * connection is closed, `done(userdata)` runs once on the host thread (it may
 * stop the loop or free the server). The server stays allocated: free it
 * with `sq_server_free`.
 *
 * Thread: any thread (a signal-handling thread, say).
 * Ownership: squall keeps `userdata` (without dereferencing it) until
 * `done` has run.
 * Returns: `SQ_OK`; `SQ_ERR_ALREADY_DONE` if a shutdown was already asked
 * for (`done` will not be called for this call); `SQ_ERR_NULL` (server);
 * `SQ_ERR_CLOSED` when the loop is gone. `done` may be NULL.
 */
sq_status sq_server_shutdown(sq_server *server,
                             uint64_t deadline_ms,
                             sq_callback done,
                             void *userdata);

/**
 * Largest request head (request line and headers) in bytes; a larger one
 * gets 431. Default 65536. Applies to connections accepted afterwards.
 *
 * Thread: the host thread.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` below 256.
 */
sq_status sq_server_set_max_header_size(sq_server *server, size_t value);

/**
 * Most header lines in a request; more get 431. Default 100.
 *
 * Thread: the host thread.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` below 1.
 */
sq_status sq_server_set_max_headers(sq_server *server, uint32_t value);

/**
 * Longest request-target (path and query) in bytes; longer gets 414.
 * Default 8192.
 *
 * Thread: the host thread.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` below 16.
 */
sq_status sq_server_set_max_request_target(sq_server *server, size_t value);

/**
 * Largest request body in bytes; a larger one gets 413, before the body
 * is read when Content-Length says so, and as soon as a chunked body
 * crosses it. Default 64 MiB.
 *
 * Thread: the host thread.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`.
 */
sq_status sq_server_set_max_body_size(sq_server *server, uint64_t value);

/**
 * Time allowed to receive a whole request head, counted from the
 * connection's accept for the first request (slowloris) and from the
 * first byte for later ones; past it the client gets 408 (a connection
 * that sent nothing at all is closed without one). Default 10000 ms.
 *
 * Thread: the host thread.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` below 1.
 */
sq_status sq_server_set_header_timeout_ms(sq_server *server, uint64_t value);

/**
 * Time allowed to receive a request body after its head; past it the
 * client gets 408. Default 60000 ms.
 *
 * Thread: the host thread.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` below 1.
 */
sq_status sq_server_set_body_timeout_ms(sq_server *server, uint64_t value);

/**
 * How long a keep-alive connection may stay idle between requests before
 * the server closes it, and a new connection before its first byte
 * arrives (when this is shorter than the header timeout). Default 75000 ms.
 *
 * Thread: the host thread.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` below 1.
 */
sq_status sq_server_set_idle_timeout_ms(sq_server *server, uint64_t value);

/**
 * Most open connections; beyond it new connections are accepted and
 * closed at once. Default 100000.
 *
 * Thread: the host thread.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` below 1.
 */
sq_status sq_server_set_max_connections(sq_server *server, uint32_t value);

/**
 * The listen(2) backlog of sockets bound afterwards. Default 1024.
 *
 * Thread: the host thread.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` below 1.
 */
sq_status sq_server_set_backlog(sq_server *server, int32_t value);

/**
 * The flow limits of connections accepted afterwards: reading pauses
 * while more than `high_water` waits, counted as bytes plus 1 KiB per
 * event — WebSocket messages (and pings and pongs the route listens to)
 * not yet returned from their callback, the chunks of a streamed
 * request body not yet taken, the bodies of pipelined requests in
 * flight, and queued output the peer has not read (responses, frames,
 * pongs) — and resumes once less than `low_water` does. What is not
 * read stays in the kernel and TCP slows the peer. Defaults 1 MiB and
 * 256 KiB (docs/ARCHITECTURE.md, "What a peer can make us hold").
 *
 * Thread: the host thread.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` when
 * `high_water` is below 4096, or `low_water` is 0 or above `high_water`.
 */
sq_status sq_server_set_flow_limits(sq_server *server, size_t high_water, size_t low_water);

/**
 * How long a connection whose peer reads none of the output waiting
 * for it may stay: past it, an HTTP connection is closed (what it held
 * is dropped) and a WebSocket is closed with `on_close` 1008; counted
 * as closed for `timeout` in the metrics. 0: no limit. Default 60000 ms
 * (nginx's `send_timeout`). Checked on the reactor's sweep (every
 * 250 ms): a stall is closed after at least this long. Applies to
 * connections accepted afterwards.
 *
 * Thread: the host thread.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` above 2^31 ms.
 */
sq_status sq_server_set_send_timeout_ms(sq_server *server, uint64_t value);

/**
 * The squall library version, "MAJOR.MINOR.PATCH", as built.
 *
 * Thread: any thread.
 * Ownership: a static string; do not free.
 * Returns: never NULL.
 */
const char *sq_version(void);

/**
 * The ABI version of the library. A program or binding built against
 * `squall.h` should refuse to run when `sq_abi_version() != SQ_ABI_VERSION`.
 *
 * Thread: any thread.
 * Ownership: nothing is returned that needs freeing.
 * Returns: the library's ABI version number.
 */
uint32_t sq_abi_version(void);

/**
 * A static description of a status code, e.g. "SQ_ERR_NULL: a required
 * pointer argument was NULL". Unknown codes give "unknown status code".
 *
 * Thread: any thread.
 * Ownership: a static string; do not free.
 * Returns: never NULL.
 */
const char *sq_status_str(sq_status status);

/**
 * A message describing the last failure of a squall call on the calling
 * thread (every call that returns an error code, NULL or a negative value
 * records one). Successful calls do not clear it, so read it only right after
 * a failure.
 *
 * Thread: any thread; each thread has its own message.
 * Ownership: owned by the library; valid until the next failing squall call
 * on the same thread. Do not free.
 * Returns: never NULL; "" when nothing has failed on this thread yet.
 */
const char *sq_last_error(void);

/**
 * Fills `options` with the defaults and sets its `size`. Pass
 * `sizeof(sq_tcp_options)` as the program sees it: a newer library writes
 * no more than that.
 *
 * Thread: any thread.
 * Ownership: writes at most `size` bytes into the caller's struct.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` when `size` is
 * smaller than the `size` field itself.
 */
sq_status sq_tcp_options_init(sq_tcp_options *options, size_t size);

/**
 * Binds a listening socket on `host:port` now (port 0 picks a free port:
 * see `sq_tcp_listener_port`) and accepts streams once the loop runs, on
 * every reactor thread (each with its own SO_REUSEPORT socket). Each
 * accepted stream gets `on_connect` with `SQ_OK`. `host` is an IP address
 * or a name resolved once, here.
 *
 * Thread: the host thread, before or while the loop runs.
 * Ownership: `host`, `*callbacks` and `*options` are copied. The caller
 * frees the listener with `sq_tcp_listener_free`. squall keeps `userdata`
 * (without dereferencing it): it is every accepted stream's first
 * userdata, used until that stream's `on_close` has returned.
 * Returns: the listener; NULL on failure (`sq_last_error()`): a NULL
 * argument, bad options (unknown flags, a zero limit, `size` not set), a
 * host that does not resolve, or a bind that fails (address in use).
 */
sq_tcp_listener *sq_tcp_listen(sq_loop *loop,
                               const char *host,
                               uint16_t port,
                               const sq_tcp_callbacks *callbacks,
                               const sq_tcp_options *options,
                               void *userdata);

/**
 * The port a listener is bound to (the one picked when it asked for 0).
 *
 * Thread: any thread.
 * Ownership: nothing changes hands.
 * Returns: the port (1–65535); `SQ_ERR_NULL` for NULL.
 */
int32_t sq_tcp_listener_port(const sq_tcp_listener *listener);

/**
 * Stops accepting and frees the listener. Streams it accepted live on (and
 * keep their callbacks and userdata); a stream accepted while this runs
 * and not yet announced is closed without any callback. When it returns,
 * `on_connect` is not called again for this listener. NULL is a harmless
 * no-op.
 *
 * Thread: the host thread (from a callback too), before or after
 * `sq_loop_free`. Not from an `SQ_INLINE` callback of another reactor.
 * Ownership: takes the listener back; the pointer must not be used again.
 * Returns: nothing.
 */
void sq_tcp_listener_free(sq_tcp_listener *listener);

/**
 * Connects to `host:port`: the name is resolved off the reactor (a literal
 * address is used as is), then every address is tried in order (IPv4 and
 * IPv6, as the resolver lists them) until one accepts, all within
 * `connect_timeout_ms`. `on_connect` tells the outcome: a stream with
 * `SQ_OK`, or NULL and `SQ_ERR_RESOLVE` / `SQ_ERR_CONNECT` /
 * `SQ_ERR_TIMEOUT`. Called before the loop runs, the connect starts when
 * it does.
 *
 * Thread: any thread.
 * Ownership: `host`, `*callbacks` and `*options` are copied. squall keeps
 * `userdata` (without dereferencing it) until `on_connect` (failure) or
 * the stream's `on_close` has returned; if the loop is freed first, no
 * callback runs.
 * Returns: `SQ_OK` (`on_connect` will be called); `SQ_ERR_NULL` (a NULL
 * argument, or no `on_connect`); `SQ_ERR_INVALID_ARG` (port 0, an empty
 * host, bad options); `SQ_ERR_CLOSED` (the loop is freed).
 */
sq_status sq_tcp_connect(sq_loop *loop,
                         const char *host,
                         uint16_t port,
                         const sq_tcp_callbacks *callbacks,
                         const sq_tcp_options *options,
                         void *userdata);

/**
 * Writes `len` bytes to the stream: copied now, written by the stream's
 * reactor in the order of the calls made by each thread.
 *
 * Thread: any thread.
 * Ownership: `data` is copied before the call returns.
 * Returns: `SQ_OK` (queued); `SQ_BACKPRESSURE` (queued, but more than
 * `high_water` is buffered: wait for `on_drain`); `SQ_ERR_LIMIT` (not
 * queued: over `max_buffer`); `SQ_ERR_CLOSED` (closing or closed, or a
 * handle whose `on_close` has returned); `SQ_ERR_INVALID_ARG` (not a
 * stream handle); `SQ_ERR_NULL`.
 */
sq_status sq_tcp_write(sq_tcp *stream, const void *data, size_t len);

/**
 * The bytes written to the stream and not yet taken by the socket (writes
 * on their way to its reactor included).
 *
 * Thread: any thread.
 * Ownership: nothing changes hands.
 * Returns: the count; 0 for a closed or invalid handle.
 */
size_t sq_tcp_buffered_amount(sq_tcp *stream);

/**
 * Closes the stream gracefully: what was written is sent, then the
 * connection is shut down (FIN) and closed; `on_close` follows (with
 * `SQ_ERR_TIMEOUT` if the output could not be written within
 * `close_timeout_ms`). From now on writes return `SQ_ERR_CLOSED` and no
 * `on_data`, `on_end` or `on_drain` is called.
 *
 * Thread: any thread (from inside `on_data` too).
 * Ownership: nothing changes hands; the handle stays valid until `on_close` returns.
 * Returns: `SQ_OK`; `SQ_ERR_CLOSED` (already closing or closed);
 * `SQ_ERR_INVALID_ARG`; `SQ_ERR_NULL`.
 */
sq_status sq_tcp_close(sq_tcp *stream);

/**
 * Closes the stream at once: queued output is dropped and the peer gets a
 * reset (RST). `on_close` follows with `SQ_OK`. Also ends a graceful close
 * that is taking too long.
 *
 * Thread: any thread.
 * Ownership: nothing changes hands; the handle stays valid until `on_close` returns.
 * Returns: `SQ_OK`; `SQ_ERR_CLOSED` (a handle whose `on_close` returned);
 * `SQ_ERR_INVALID_ARG`; `SQ_ERR_NULL`.
 */
sq_status sq_tcp_abort(sq_tcp *stream);

/**
 * Stops reading from the stream (the host's own flow control): the peer
 * is slowed down by TCP once the kernel buffers fill. `on_data` calls
 * already on their way still arrive. Undone by `sq_tcp_resume_reading`.
 * (squall also pauses by itself while more than 1 MiB handed to `on_data`
 * is not yet consumed.)
 *
 * Thread: any thread.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK`; `SQ_ERR_CLOSED`; `SQ_ERR_INVALID_ARG`; `SQ_ERR_NULL`.
 */
sq_status sq_tcp_pause_reading(sq_tcp *stream);

/**
 * Reads from the stream again after `sq_tcp_pause_reading` (no effect if
 * it was not paused).
 *
 * Thread: any thread.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK`; `SQ_ERR_CLOSED`; `SQ_ERR_INVALID_ARG`; `SQ_ERR_NULL`.
 */
sq_status sq_tcp_resume_reading(sq_tcp *stream);

/**
 * Sets the userdata handed to this stream's callbacks from now on.
 *
 * Thread: any thread (the callbacks see the new value once this returns).
 * Ownership: squall stores the pointer without dereferencing it; the host
 * frees what it points to, at the earliest in `on_close`.
 * Returns: `SQ_OK`; `SQ_ERR_CLOSED`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG`.
 */
sq_status sq_tcp_set_userdata(sq_tcp *stream, void *userdata);

/**
 * The stream's userdata (the listener's or connect's until
 * `sq_tcp_set_userdata`).
 *
 * Thread: any thread.
 * Ownership: the pointer the host stored.
 * Returns: the userdata; NULL for a closed or invalid handle.
 */
void *sq_tcp_userdata(sq_tcp *stream);

/**
 * Writes the stream's peer address (`peer` nonzero) or local address
 * (`peer` 0): the IP as text, NUL-terminated, into `buf` (`len` bytes;
 * 46 always suffice) and the port into `*port` (if not NULL).
 *
 * Thread: any thread.
 * Ownership: writes into the caller's buffer only.
 * Returns: `SQ_OK`; `SQ_ERR_LIMIT` (`buf` too small, nothing written);
 * `SQ_ERR_CLOSED`; `SQ_ERR_INVALID_ARG`; `SQ_ERR_NULL`.
 */
sq_status sq_tcp_address(sq_tcp *stream, int32_t peer, char *buf, size_t len, uint16_t *port);

/**
 * Fills `options` with the defaults and sets its `size`. Pass
 * `sizeof(sq_tls_options)` as the program sees it: a newer library writes
 * no more than that.
 *
 * Thread: any thread.
 * Ownership: writes at most `size` bytes into the caller's struct.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` when `size` is
 * smaller than the `size` field itself.
 */
sq_status sq_tls_options_init(sq_tls_options *options, size_t size);

/**
 * Creates an empty TLS configuration (add at least one certificate before
 * handing it to a server). The protocols offered by ALPN are `http/1.1`
 * only: a client whose ALPN list lacks it is refused with the
 * `no_application_protocol` alert; a client that sends no ALPN is served.
 *
 * Thread: any thread.
 * Ownership: `options` (NULL: the defaults) is copied. The caller owns the
 * config and frees it with `sq_tls_config_free`.
 * Returns: the config, or NULL (with `sq_last_error()`) when `options` has
 * its `size` unset or a field out of range.
 */
sq_tls_config *sq_tls_config_new(const sq_tls_options *options);

/**
 * Frees a TLS configuration. Servers it was given to keep what they
 * copied. Calling with NULL is a harmless no-op.
 *
 * Thread: any thread (not while another thread uses the same config).
 * Ownership: takes the config back; the pointer must not be used again.
 * Returns: nothing.
 */
void sq_tls_config_free(sq_tls_config *config);

/**
 * Adds a certificate chain and its private key from PEM files: the chain
 * file holds the server's certificate first, then its intermediates; the
 * key file an ECDSA (P-256, P-384), RSA or Ed25519 key in PKCS#8, PKCS#1
 * or SEC1 form. The first certificate added is the default one; the others
 * are chosen when the name a client asks for (SNI) is among their names.
 *
 * Thread: any thread (not while another thread uses the same config).
 * Ownership: the paths are read now; nothing is kept of them.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` for a file that
 * cannot be read, holds no certificate or no usable key, or a key that
 * does not match its certificate (`sq_last_error()` says which).
 */
sq_status sq_tls_config_add_cert_file(sq_tls_config *config,
                                      const char *cert_file,
                                      const char *key_file);

/**
 * Adds a certificate chain and its private key from PEM in memory, as
 * `sq_tls_config_add_cert_file` takes them from files.
 *
 * Thread: any thread (not while another thread uses the same config).
 * Ownership: both buffers are read now; nothing is kept of them.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` for PEM without a
 * certificate or a usable key, or a key that does not match its
 * certificate (`sq_last_error()` says which).
 */
sq_status sq_tls_config_add_cert_pem(sq_tls_config *config,
                                     const uint8_t *cert_pem,
                                     size_t cert_len,
                                     const uint8_t *key_pem,
                                     size_t key_len);

/**
 * Serves TLS (https, wss) on every listener of `server`, for the
 * connections accepted from now on: calling it again with another config
 * reloads the certificates without a restart (connections already open
 * keep theirs); NULL goes back to plain HTTP. The TLS handshake must end
 * within the header timeout (`sq_server_set_header_timeout_ms`, counted
 * from the accept), or the connection is closed. Plain HTTP sent to a TLS
 * server is answered 400 in plaintext, then closed.
 *
 * Thread: any thread (not while another thread changes the same config).
 * Ownership: what the server needs of `config` is copied (one copy shared
 * by every reactor); the caller still owns `config`.
 * Returns: `SQ_OK`; `SQ_ERR_NULL` when `server` is NULL;
 * `SQ_ERR_INVALID_ARG` when `config` has no certificate; `SQ_ERR_TLS` when
 * the TLS library refuses the configuration.
 */
sq_status sq_server_set_tls(sq_server *server, const sq_tls_config *config);

/**
 * Fills `options` with the defaults and sets its `size`. Pass
 * `sizeof(sq_ws_options)` as the program sees it: a newer library writes no
 * more than that.
 *
 * Thread: any thread.
 * Ownership: writes at most `size` bytes into the caller's struct.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` when `size` is
 * smaller than the `size` field itself.
 */
sq_status sq_ws_options_init(sq_ws_options *options, size_t size);

/**
 * Adds a WebSocket route: GET requests whose path matches `pattern` (a
 * regular expression, as for `sq_route`; captured groups through
 * `sq_request_capture` in `on_open`) are upgraded (RFC 6455 §4.2): a bad
 * version gets 426 with `Sec-WebSocket-Version: 13`, another malformed
 * handshake 400, a refused origin 403. WebSocket routes are matched before
 * the HTTP routes.
 *
 * Thread: the host thread, before or while the loop runs.
 * Ownership: `pattern`, `*callbacks`, `*options` and its `subprotocols`
 * string are copied. squall keeps `userdata` (without dereferencing it)
 * until `sq_server_free`.
 * Returns: `SQ_OK`; `SQ_ERR_NULL` (`options` may be NULL: defaults);
 * `SQ_ERR_INVALID_ARG` for a bad pattern, unknown flags, a zero limit or a
 * `size` field not set.
 */
sq_status sq_ws_route(sq_server *server,
                      const char *pattern,
                      const sq_ws_callbacks *callbacks,
                      const sq_ws_options *options,
                      void *userdata);

/**
 * Opens a client WebSocket to `url` (ws:// or wss://; Tornado's
 * `websocket_connect`): the connection is made and the handshake sent on
 * the loop's first reactor once the loop runs. Then `on_open` gets the
 * socket (its `req` argument is NULL) — the same `sq_ws` handle as a
 * server's, with the same functions, except topics — or
 * `on_connect_error` says why not. Every frame the client sends is masked.
 * `options` (NULL: defaults) gives the limits and keep-alive as for a
 * route, `subprotocols` to offer, `connect_timeout_ms`, extra `headers`
 * and a `ca_file` for wss:// (or `SQ_WS_NO_VERIFY` in `flags`: any
 * certificate). Redirects are not followed.
 *
 * Thread: any thread.
 * Ownership: `url`, `*callbacks`, `*options` and its strings are copied
 * (the CA file is read now). squall keeps `userdata` (never dereferenced)
 * until `on_close` or `on_connect_error` has returned.
 * Returns: `SQ_OK` (the outcome comes through the callbacks); `SQ_ERR_NULL`;
 * `SQ_ERR_INVALID_ARG` for a bad URL, header line, CA file, flag or limit
 * (no callback follows); `SQ_ERR_CLOSED` when the loop was freed.
 */
sq_status sq_ws_connect(sq_loop *loop,
                        const char *url,
                        const sq_ws_callbacks *callbacks,
                        const sq_ws_options *options,
                        void *userdata);

/**
 * Sends a message: `SQ_WS_TEXT` (must be valid UTF-8) or `SQ_WS_BINARY`.
 * The frame is built on the calling thread and written by the socket's
 * reactor, in the order of the calls made by each thread.
 *
 * Thread: any thread.
 * Ownership: `data` is copied before the call returns.
 * Returns: `SQ_OK` (queued); `SQ_BACKPRESSURE` (queued, but more than the
 * route's `high_water` is buffered: wait for `on_drain`); `SQ_ERR_LIMIT`
 * (not queued: over `max_backpressure`; with `SQ_WS_CLOSE_ON_LIMIT` the
 * socket is being closed too); `SQ_ERR_CLOSED` (closing or closed, or a
 * handle whose `on_close` has returned); `SQ_ERR_INVALID_ARG` (bad opcode,
 * text not UTF-8, not a WebSocket handle); `SQ_ERR_NULL`.
 */
sq_status sq_ws_send(sq_ws *ws, const void *data, size_t len, int opcode);

/**
 * `sq_ws_send` with `flags`: `SQ_WS_SEND_NO_COMPRESS` sends the message
 * uncompressed (RSV1 clear) even when the socket negotiated
 * permessage-deflate; 0 is `sq_ws_send`.
 *
 * Thread: any thread.
 * Ownership: `data` is copied before the call returns.
 * Returns: as `sq_ws_send`; `SQ_ERR_INVALID_ARG` for unknown flags too.
 */
sq_status sq_ws_send_ex(sq_ws *ws, const void *data, size_t len, int opcode, uint32_t flags);

/**
 * Starts the close handshake with `code` (1000–1003, 1007–1014 or
 * 3000–4999) and `reason` (UTF-8, at most 123 bytes; NULL for none). Sends
 * fail with `SQ_ERR_CLOSED` from now on; `on_close` follows when the peer
 * answered (or after 5 s without an answer).
 *
 * Thread: any thread.
 * Ownership: `reason` is copied.
 * Returns: `SQ_OK`; `SQ_ERR_CLOSED` (already closing or closed);
 * `SQ_ERR_INVALID_ARG` (code or reason); `SQ_ERR_NULL`.
 */
sq_status sq_ws_close(sq_ws *ws, uint16_t code, const char *reason);

/**
 * Ends the connection at once, without a close frame (what closing its
 * TCP stream does; Tornado's `ws.stream.close()`): queued output is
 * dropped, `on_close` follows with 1006. Works while a close handshake is
 * under way too.
 *
 * Thread: any thread.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK`; `SQ_ERR_CLOSED` (its `on_close` has returned);
 * `SQ_ERR_NULL`.
 */
sq_status sq_ws_abort(sq_ws *ws);

/**
 * A client socket's handshake response: the `index`-th header of the
 * server's 101 (in the order received), name and value.
 *
 * Thread: any thread.
 * Ownership: `*name` and `*value` point into the socket's memory, valid
 * until its `on_close` returns.
 * Returns: `SQ_OK`; `SQ_ERR_NOT_FOUND` past the last header (and for a
 * server's socket, which has none); `SQ_ERR_CLOSED`; `SQ_ERR_NULL`.
 */
sq_status sq_ws_response_header(sq_ws *ws, size_t index, sq_str *name, sq_str *value);

/**
 * Adds a header to the 101 response of a WebSocket handshake (the headers
 * a Tornado handler sets in `prepare()`), for the upgrade request `req`
 * that `check_origin` or `select_subprotocol` was given: during those
 * callbacks or, after `check_origin` answered `SQ_WS_DECIDE_LATER`, until
 * `sq_ws_handshake_decide`. Headers the handshake writes itself
 * (`Upgrade`, `Connection`, `Sec-WebSocket-*`, `Date`, `Content-Length`,
 * `Transfer-Encoding`) are refused.
 *
 * Thread: the loop's host thread.
 * Ownership: `name` and `value` are copied.
 * Returns: `SQ_OK`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` (a name that is
 * not a token, a value with CR, LF or NUL, a header of the handshake's
 * own, or `req` not an upgrade request); `SQ_ERR_ALREADY_DONE` once the
 * handshake is over.
 */
sq_status sq_ws_handshake_header(sq_request *req,
                                 const char *name,
                                 const void *value,
                                 size_t value_len);

/**
 * The host's decision on a handshake whose `check_origin` answered
 * `SQ_WS_DECIDE_LATER`: `status` 0 accepts (the route's
 * `select_subprotocol` is called now, on this thread, then the 101 goes
 * out with the headers given by `sq_ws_handshake_header`); 400..=599
 * refuses with that status. A handshake whose client has left meanwhile
 * is dropped: `SQ_ERR_CLOSED` says so (no `on_open` will come for it).
 *
 * Thread: the loop's host thread.
 * Ownership: nothing changes hands; `req` is invalid afterwards.
 * Returns: `SQ_OK`; `SQ_ERR_CLOSED` (the client left before the decision);
 * `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG` (another status); `SQ_ERR_NOT_FOUND`
 * (no handshake of `req` waits for a decision).
 */
sq_status sq_ws_handshake_decide(sq_request *req, uint16_t status);

/**
 * Sends a ping carrying `len` (at most 125) bytes.
 *
 * Thread: any thread.
 * Ownership: `data` is copied.
 * Returns: `SQ_OK`; `SQ_ERR_CLOSED`; `SQ_ERR_INVALID_ARG` (over 125 bytes);
 * `SQ_ERR_NULL`.
 */
sq_status sq_ws_ping(sq_ws *ws, const void *data, size_t len);

/**
 * Stops reading from the socket (the host's own flow control, for a host
 * that queues messages past its `on_message` and so cannot let squall's
 * count them as taken when the callback returns): the peer is slowed down
 * by TCP once the kernel buffers fill. Events already on their way still
 * arrive. Undone by `sq_ws_resume_reading`. (squall also pauses by itself
 * while more than 1 MiB of events handed to the callbacks, each counted as
 * its bytes plus 1 KiB, are not yet returned from.)
 *
 * Thread: any thread.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK`; `SQ_ERR_CLOSED` (closed or closing); `SQ_ERR_NULL`.
 */
sq_status sq_ws_pause_reading(sq_ws *ws);

/**
 * Reads from the socket again after `sq_ws_pause_reading` (no effect if it
 * was not paused).
 *
 * Thread: any thread.
 * Ownership: nothing changes hands.
 * Returns: `SQ_OK`; `SQ_ERR_CLOSED` (closed or closing); `SQ_ERR_NULL`.
 */
sq_status sq_ws_resume_reading(sq_ws *ws);

/**
 * The bytes queued for the socket and not yet written (frames on their way
 * to its reactor included).
 *
 * Thread: any thread.
 * Ownership: nothing changes hands.
 * Returns: the count; 0 for a closed or invalid handle.
 */
size_t sq_ws_buffered_amount(sq_ws *ws);

/**
 * Sets the userdata handed to this socket's callbacks from now on.
 *
 * Thread: any thread (the callbacks see the new value once this returns).
 * Ownership: squall stores the pointer without dereferencing it; the host
 * frees what it points to, at the earliest in `on_close`.
 * Returns: `SQ_OK`; `SQ_ERR_CLOSED`; `SQ_ERR_NULL`; `SQ_ERR_INVALID_ARG`.
 */
sq_status sq_ws_set_userdata(sq_ws *ws, void *userdata);

/**
 * The socket's userdata (the route's until `sq_ws_set_userdata`).
 *
 * Thread: any thread.
 * Ownership: the pointer the host stored.
 * Returns: the userdata; NULL for a closed or invalid handle.
 */
void *sq_ws_userdata(sq_ws *ws);

/**
 * The subprotocol chosen in the handshake.
 *
 * Thread: any thread.
 * Ownership: `*out` points into the socket's memory, valid until its
 * `on_close` returns.
 * Returns: `SQ_OK`; `SQ_ERR_NOT_FOUND` when none was chosen; `SQ_ERR_CLOSED`;
 * `SQ_ERR_NULL`.
 */
sq_status sq_ws_subprotocol(sq_ws *ws, sq_str *out);

/**
 * Subscribes the socket to `topic` of its server (a second subscription is
 * a no-op). The subscription ends with `sq_ws_unsubscribe` or the socket.
 * A `sq_publish` made after this call returns, from any thread, reaches it.
 *
 * Thread: any thread.
 * Ownership: `topic` is copied.
 * Returns: `SQ_OK`; `SQ_ERR_CLOSED`; `SQ_ERR_INVALID_ARG` (empty topic or
 * over 1024 bytes); `SQ_ERR_NULL`.
 */
sq_status sq_ws_subscribe(sq_ws *ws, const char *topic);

/**
 * Ends the socket's subscription to `topic` (no error if it had none).
 *
 * Thread: any thread.
 * Ownership: `topic` is copied.
 * Returns: `SQ_OK`; `SQ_ERR_CLOSED`; `SQ_ERR_INVALID_ARG`; `SQ_ERR_NULL`.
 */
sq_status sq_ws_unsubscribe(sq_ws *ws, const char *topic);

/**
 * Sends a message to every socket subscribed to `topic` on `server`, on
 * every reactor thread. The frame is built once; each subscriber gets it
 * under its route's backpressure rules (over `max_backpressure` it is
 * skipped, or closed with `SQ_WS_CLOSE_ON_LIMIT`).
 *
 * Thread: any thread.
 * Ownership: `topic` and `data` are copied.
 * On a server attached to a cluster (`sq_cluster_attach`) the message
 * then goes to the other processes too, after the local fan-out, which
 * never waits on the broker.
 *
 * Returns: `SQ_OK` (also when nobody subscribes); `SQ_ERR_INVALID_ARG` (bad
 * opcode, text not UTF-8, bad topic); `SQ_ERR_CLOSED` (server freed);
 * `SQ_ERR_LIMIT` on a clustered server whose outbox is full: delivered to
 * the local subscribers only, not to other processes (counted in
 * "outbox_full"); `SQ_ERR_NULL`.
 */
sq_status sq_publish(sq_server *server,
                     const char *topic,
                     const void *data,
                     size_t len,
                     int opcode);

/**
 * `sq_publish` with `flags`: `SQ_WS_SEND_NO_COMPRESS` sends the message
 * uncompressed (RSV1 clear) to every subscriber, whatever it negotiated,
 * here and (on a clustered server) in the other processes; 0 is
 * `sq_publish`. A process running an older squall drops such a message
 * from the broker rather than compress it.
 *
 * Thread: any thread.
 * Ownership: `topic` and `data` are copied.
 * Returns: as `sq_publish`; `SQ_ERR_INVALID_ARG` for unknown flags too.
 */
sq_status sq_publish_ex(sq_server *server,
                        const char *topic,
                        const void *data,
                        size_t len,
                        int opcode,
                        uint32_t flags);

/**
 * The number of sockets subscribed to `topic` on `server`, across every
 * reactor (subscriptions in progress included).
 *
 * Thread: any thread.
 * Ownership: `topic` is read during the call.
 * Returns: the count; 0 on a NULL argument (with `sq_last_error()`).
 */
size_t sq_topic_subscribers(sq_server *server, const char *topic);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* SQUALL_H */
