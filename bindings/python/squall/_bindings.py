"""ctypes declarations for libsquall, generated from include/squall.h.

This is a generated file: DO NOT EDIT. Regenerate with
`python3 bindings/python/tools/gen_bindings.py`; the test suite fails when
it is stale."""
# fmt: off
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char_p, c_double, c_int,
                    c_int32, c_int64, c_size_t, c_uint8, c_uint16, c_uint32,
                    c_uint64, c_void_p)

SQ_VERSION_MAJOR = 0
SQ_VERSION_MINOR = 1
SQ_VERSION_PATCH = 0
SQ_VERSION_STRING = "0.1.0"
SQ_ABI_VERSION = 1
SQ_CLUSTER_CONNECTING = 0
SQ_CLUSTER_CONNECTED = 1
SQ_CLUSTER_LOST = 2
SQ_CLUSTER_RESYNCED = 3
SQ_CLUSTER_GAP = 4
SQ_TIME_QUEUE = 0
SQ_TIME_NAMELOOKUP = 1
SQ_TIME_CONNECT = 2
SQ_TIME_TLS = 3
SQ_TIME_FIRST_BYTE = 4
SQ_TIME_TOTAL = 5
SQ_METRICS_LATENCY_BUCKETS = 19
SQ_INLINE = 1
SQ_STREAM_BODY = 2
SQ_FALLBACK = 4
SQ_WS_DECIDE_LATER = 2
SQ_WS_DEFERRED_HANDSHAKE = 4
SQ_WS_TEXT = 1
SQ_WS_BINARY = 2
SQ_WS_CLOSE_ON_LIMIT = 2
SQ_WS_NO_VERIFY = 8
SQ_WS_COMPRESSION_OFF = 0
SQ_WS_COMPRESSION_SHARED = 1
SQ_WS_COMPRESSION_DEDICATED = 2
SQ_WS_SEND_NO_COMPRESS = 1
SQ_LOG_OFF = 0
SQ_LOG_ERROR = 1
SQ_LOG_WARN = 2
SQ_LOG_INFO = 3
SQ_LOG_DEBUG = 4
SQ_LOG_TRACE = 5
SQ_OK = 0
SQ_ERR_NULL = -1
SQ_ERR_INVALID_ARG = -2
SQ_ERR_CLOSED = -3
SQ_ERR_ALREADY_DONE = -4
SQ_ERR_IO = -5
SQ_ERR_LIMIT = -6
SQ_ERR_PANIC = -7
SQ_ERR_REENTRANT = -8
SQ_ERR_BUSY = -9
SQ_ERR_FORKED = -10
SQ_ERR_STATE = -11
SQ_ERR_NOT_FOUND = -12
SQ_ERR_TIMEOUT = -13
SQ_ERR_RESOLVE = -14
SQ_ERR_CONNECT = -15
SQ_ERR_TLS = -16
SQ_ERR_PROTOCOL = -17
SQ_ERR_CANCELLED = -18
SQ_BACKPRESSURE = 1


class sq_cluster(Structure):
    """Opaque `sq_cluster` handle (only ever used through a pointer)."""

class sq_fetch_request(Structure):
    """Opaque `sq_fetch_request` handle (only ever used through a pointer)."""

class sq_fetch_response(Structure):
    """Opaque `sq_fetch_response` handle (only ever used through a pointer)."""

class sq_loop(Structure):
    """Opaque `sq_loop` handle (only ever used through a pointer)."""

class sq_request(Structure):
    """Opaque `sq_request` handle (only ever used through a pointer)."""

class sq_server(Structure):
    """Opaque `sq_server` handle (only ever used through a pointer)."""

class sq_tcp(Structure):
    """Opaque `sq_tcp` handle (only ever used through a pointer)."""

class sq_tcp_listener(Structure):
    """Opaque `sq_tcp_listener` handle (only ever used through a pointer)."""

class sq_tls_config(Structure):
    """Opaque `sq_tls_config` handle (only ever used through a pointer)."""

class sq_ws(Structure):
    """Opaque `sq_ws` handle (only ever used through a pointer)."""

sq_cluster_state_callback = CFUNCTYPE(None, c_void_p, c_int)

sq_callback = CFUNCTYPE(None, c_void_p)

sq_timer_callback = CFUNCTYPE(None, c_void_p, c_uint64)

sq_fetch_callback = CFUNCTYPE(None, c_void_p, c_void_p)

sq_fetch_chunk_callback = CFUNCTYPE(None, c_void_p, c_void_p, c_size_t)

class sq_str(Structure):
    _fields_ = [
        ('ptr', c_void_p),
        ('len', c_size_t),
    ]

class sq_tls_info(Structure):
    _fields_ = [
        ('size', c_size_t),
        ('version', c_uint64),
        ('cipher_suite', c_uint64),
        ('server_name', sq_str),
        ('alpn', sq_str),
    ]

sq_log_callback = CFUNCTYPE(None, c_void_p, c_int, c_void_p, c_void_p)

class sq_metrics(Structure):
    _fields_ = [
        ('size', c_size_t),
        ('connections_accepted', c_uint64),
        ('connections_open', c_uint64),
        ('connections_closed_client', c_uint64),
        ('connections_closed_timeout', c_uint64),
        ('connections_closed_limit', c_uint64),
        ('connections_closed_error', c_uint64),
        ('connections_closed_server', c_uint64),
        ('requests_get', c_uint64),
        ('requests_head', c_uint64),
        ('requests_post', c_uint64),
        ('requests_put', c_uint64),
        ('requests_delete', c_uint64),
        ('requests_other', c_uint64),
        ('responses_1xx', c_uint64),
        ('responses_2xx', c_uint64),
        ('responses_3xx', c_uint64),
        ('responses_4xx', c_uint64),
        ('responses_5xx', c_uint64),
        ('http_bytes_in', c_uint64),
        ('http_bytes_out', c_uint64),
        ('refused_400', c_uint64),
        ('refused_408', c_uint64),
        ('refused_413', c_uint64),
        ('refused_414', c_uint64),
        ('refused_417', c_uint64),
        ('refused_431', c_uint64),
        ('refused_501', c_uint64),
        ('refused_505', c_uint64),
        ('latency_count', c_uint64),
        ('latency_sum_us', c_uint64),
        ('latency_buckets', c_uint64 * SQ_METRICS_LATENCY_BUCKETS),
        ('ws_opened', c_uint64),
        ('ws_closed_1000', c_uint64),
        ('ws_closed_1001', c_uint64),
        ('ws_closed_1002', c_uint64),
        ('ws_closed_1006', c_uint64),
        ('ws_closed_1007', c_uint64),
        ('ws_closed_1008', c_uint64),
        ('ws_closed_1009', c_uint64),
        ('ws_closed_1011', c_uint64),
        ('ws_closed_other', c_uint64),
        ('ws_messages_in', c_uint64),
        ('ws_messages_out', c_uint64),
        ('ws_bytes_in', c_uint64),
        ('ws_bytes_out', c_uint64),
        ('ws_paused_input', c_uint64),
        ('ws_paused_output', c_uint64),
        ('ws_dropped', c_uint64),
        ('ws_closed_backpressure', c_uint64),
        ('topic_publishes', c_uint64),
        ('topic_deliveries', c_uint64),
        ('topic_drops', c_uint64),
        ('tls_handshakes', c_uint64),
        ('tls_handshake_failures', c_uint64),
        ('tls_handshake_timeouts', c_uint64),
        ('host_queue_depth', c_uint64),
        ('host_tasks', c_uint64),
        ('host_batches', c_uint64),
        ('host_wait_sum_us', c_uint64),
        ('host_wait_buckets', c_uint64 * SQ_METRICS_LATENCY_BUCKETS),
        ('cluster_attached', c_uint64),
        ('cluster_connected', c_uint64),
        ('cluster_published', c_uint64),
        ('cluster_outbox_full', c_uint64),
        ('cluster_received', c_uint64),
        ('cluster_delivered', c_uint64),
        ('cluster_echo', c_uint64),
        ('cluster_gaps', c_uint64),
        ('cluster_repeats', c_uint64),
        ('cluster_junk', c_uint64),
        ('cluster_oversized', c_uint64),
        ('cluster_bad_topic', c_uint64),
        ('cluster_reconnects', c_uint64),
        ('cluster_subscribed', c_uint64),
        ('cluster_outbox', c_uint64),
        ('client_started', c_uint64),
        ('client_responses_1xx', c_uint64),
        ('client_responses_2xx', c_uint64),
        ('client_responses_3xx', c_uint64),
        ('client_responses_4xx', c_uint64),
        ('client_responses_5xx', c_uint64),
        ('client_failed_connect', c_uint64),
        ('client_failed_tls', c_uint64),
        ('client_failed_timeout', c_uint64),
        ('client_failed_cancelled', c_uint64),
        ('client_failed_protocol', c_uint64),
        ('client_failed_other', c_uint64),
        ('client_connections_opened', c_uint64),
        ('client_connections_reused', c_uint64),
        ('client_bytes_in', c_uint64),
        ('client_bytes_out', c_uint64),
        ('client_ws_connects', c_uint64),
        ('client_ws_opened', c_uint64),
        ('client_ws_failed', c_uint64),
        ('ws_wire_bytes_in', c_uint64),
        ('ws_wire_bytes_out', c_uint64),
    ]

sq_body_callback = CFUNCTYPE(None, c_void_p, c_void_p, c_void_p, c_size_t, c_int)

class sq_header(Structure):
    _fields_ = [
        ('name', c_char_p),
        ('value', c_char_p),
        ('value_len', c_size_t),
    ]

sq_handler = CFUNCTYPE(c_int32, c_void_p, c_void_p)

class sq_tcp_options(Structure):
    _fields_ = [
        ('size', c_size_t),
        ('connect_timeout_ms', c_uint64),
        ('high_water', c_size_t),
        ('max_buffer', c_size_t),
        ('close_timeout_ms', c_uint64),
        ('backlog', c_uint64),
        ('nodelay', c_uint64),
        ('flags', c_uint64),
        ('read_high_water', c_size_t),
        ('tls', POINTER(sq_tls_config)),
    ]

class sq_tcp_callbacks(Structure):
    _fields_ = [
        ('size', c_size_t),
        ('on_connect', CFUNCTYPE(None, c_void_p, c_void_p, c_int32)),
        ('on_data', CFUNCTYPE(None, c_void_p, c_void_p, c_void_p, c_size_t)),
        ('on_end', CFUNCTYPE(None, c_void_p, c_void_p)),
        ('on_drain', CFUNCTYPE(None, c_void_p, c_void_p)),
        ('on_close', CFUNCTYPE(None, c_void_p, c_void_p, c_int32)),
    ]

class sq_tls_options(Structure):
    _fields_ = [
        ('size', c_size_t),
        ('tls13_only', c_uint64),
        ('tickets', c_uint64),
    ]

class sq_ws_options(Structure):
    _fields_ = [
        ('size', c_size_t),
        ('max_message_size', c_size_t),
        ('high_water', c_size_t),
        ('max_backpressure', c_size_t),
        ('ping_interval_ms', c_uint64),
        ('pong_timeout_ms', c_uint64),
        ('idle_timeout_ms', c_uint64),
        ('subprotocols', c_char_p),
        ('flags', c_uint64),
        ('connect_timeout_ms', c_uint64),
        ('headers', c_char_p),
        ('ca_file', c_char_p),
        ('compression', c_uint64),
        ('compression_window_bits', c_uint64),
        ('compression_mem_level', c_uint64),
        ('compression_level', c_uint64),
        ('compression_client_no_context_takeover', c_uint64),
    ]

class sq_ws_callbacks(Structure):
    _fields_ = [
        ('size', c_size_t),
        ('on_open', CFUNCTYPE(None, c_void_p, c_void_p, c_void_p)),
        ('on_message', CFUNCTYPE(None, c_void_p, c_void_p, c_void_p, c_size_t, c_int)),
        ('on_close', CFUNCTYPE(None, c_void_p, c_void_p, c_uint16, c_void_p, c_size_t)),
        ('on_drain', CFUNCTYPE(None, c_void_p, c_void_p)),
        ('on_ping', CFUNCTYPE(None, c_void_p, c_void_p, c_void_p, c_size_t)),
        ('on_pong', CFUNCTYPE(None, c_void_p, c_void_p, c_void_p, c_size_t)),
        ('check_origin', CFUNCTYPE(c_int, c_void_p, c_void_p, c_void_p, c_size_t)),
        ('select_subprotocol', CFUNCTYPE(c_int, c_void_p, c_void_p, POINTER(sq_str), c_size_t)),
        ('on_connect_error', CFUNCTYPE(None, c_void_p, c_int32, c_void_p, c_size_t)),
    ]


def declare(lib):
    """Sets argtypes and restype of every function of the header on `lib`."""
    lib.sq_cluster_new.argtypes = [POINTER(sq_loop), c_char_p]
    lib.sq_cluster_new.restype = POINTER(sq_cluster)
    lib.sq_cluster_attach.argtypes = [POINTER(sq_cluster), POINTER(sq_server)]
    lib.sq_cluster_attach.restype = c_int32
    lib.sq_cluster_on_state.argtypes = [POINTER(sq_cluster), sq_cluster_state_callback, c_void_p]
    lib.sq_cluster_on_state.restype = c_int32
    lib.sq_cluster_state.argtypes = [POINTER(sq_cluster)]
    lib.sq_cluster_state.restype = c_int
    lib.sq_cluster_counter.argtypes = [POINTER(sq_cluster), c_char_p]
    lib.sq_cluster_counter.restype = c_int64
    lib.sq_cluster_free.argtypes = [POINTER(sq_cluster)]
    lib.sq_cluster_free.restype = None
    lib.sq_loop_new.argtypes = []
    lib.sq_loop_new.restype = POINTER(sq_loop)
    lib.sq_loop_free.argtypes = [POINTER(sq_loop)]
    lib.sq_loop_free.restype = None
    lib.sq_loop_set_io_threads.argtypes = [POINTER(sq_loop), c_uint32]
    lib.sq_loop_set_io_threads.restype = c_int32
    lib.sq_loop_run.argtypes = [POINTER(sq_loop)]
    lib.sq_loop_run.restype = c_int32
    lib.sq_loop_stop.argtypes = [POINTER(sq_loop)]
    lib.sq_loop_stop.restype = c_int32
    lib.sq_loop_poll.argtypes = [POINTER(sq_loop), c_int32]
    lib.sq_loop_poll.restype = c_int32
    lib.sq_loop_fd.argtypes = [POINTER(sq_loop)]
    lib.sq_loop_fd.restype = c_int32
    lib.sq_loop_timeout_ms.argtypes = [POINTER(sq_loop)]
    lib.sq_loop_timeout_ms.restype = c_int32
    lib.sq_loop_add_callback.argtypes = [POINTER(sq_loop), sq_callback, c_void_p]
    lib.sq_loop_add_callback.restype = c_int32
    lib.sq_call_later.argtypes = [POINTER(sq_loop), c_uint64, sq_timer_callback, c_void_p, POINTER(c_uint64)]
    lib.sq_call_later.restype = c_int32
    lib.sq_call_every.argtypes = [POINTER(sq_loop), c_uint64, sq_timer_callback, c_void_p, POINTER(c_uint64)]
    lib.sq_call_every.restype = c_int32
    lib.sq_timer_cancel.argtypes = [POINTER(sq_loop), c_uint64]
    lib.sq_timer_cancel.restype = c_int32
    lib.sq_batch_begin.argtypes = []
    lib.sq_batch_begin.restype = c_int32
    lib.sq_batch_end.argtypes = []
    lib.sq_batch_end.restype = c_int32
    lib.sq_fetch_request_new.argtypes = [c_char_p, c_char_p]
    lib.sq_fetch_request_new.restype = POINTER(sq_fetch_request)
    lib.sq_fetch_request_id.argtypes = [POINTER(sq_fetch_request)]
    lib.sq_fetch_request_id.restype = c_uint64
    lib.sq_fetch_request_free.argtypes = [POINTER(sq_fetch_request)]
    lib.sq_fetch_request_free.restype = None
    lib.sq_fetch_request_set_header.argtypes = [POINTER(sq_fetch_request), c_char_p, c_char_p, c_size_t]
    lib.sq_fetch_request_set_header.restype = c_int32
    lib.sq_fetch_request_set_body.argtypes = [POINTER(sq_fetch_request), c_void_p, c_size_t]
    lib.sq_fetch_request_set_body.restype = c_int32
    lib.sq_fetch_request_stream_body.argtypes = [POINTER(sq_fetch_request), c_int64]
    lib.sq_fetch_request_stream_body.restype = c_int32
    lib.sq_fetch_request_set_on_drain.argtypes = [POINTER(sq_fetch_request), sq_callback]
    lib.sq_fetch_request_set_on_drain.restype = c_int32
    lib.sq_fetch_body_write.argtypes = [POINTER(sq_loop), c_uint64, c_void_p, c_size_t]
    lib.sq_fetch_body_write.restype = c_int32
    lib.sq_fetch_body_finish.argtypes = [POINTER(sq_loop), c_uint64]
    lib.sq_fetch_body_finish.restype = c_int32
    lib.sq_fetch_request_set_timeouts.argtypes = [POINTER(sq_fetch_request), c_uint64, c_uint64]
    lib.sq_fetch_request_set_timeouts.restype = c_int32
    lib.sq_fetch_request_set_max_redirects.argtypes = [POINTER(sq_fetch_request), c_uint32]
    lib.sq_fetch_request_set_max_redirects.restype = c_int32
    lib.sq_fetch_request_set_redirect_overflow.argtypes = [POINTER(sq_fetch_request), c_int]
    lib.sq_fetch_request_set_redirect_overflow.restype = c_int32
    lib.sq_fetch_request_set_verify.argtypes = [POINTER(sq_fetch_request), c_int]
    lib.sq_fetch_request_set_verify.restype = c_int32
    lib.sq_fetch_request_set_source_address.argtypes = [POINTER(sq_fetch_request), c_char_p]
    lib.sq_fetch_request_set_source_address.restype = c_int32
    lib.sq_fetch_request_set_connect_to.argtypes = [POINTER(sq_fetch_request), c_char_p, c_uint16]
    lib.sq_fetch_request_set_connect_to.restype = c_int32
    lib.sq_fetch_request_set_ip_family.argtypes = [POINTER(sq_fetch_request), c_int]
    lib.sq_fetch_request_set_ip_family.restype = c_int32
    lib.sq_fetch_request_set_expect_continue.argtypes = [POINTER(sq_fetch_request), c_int]
    lib.sq_fetch_request_set_expect_continue.restype = c_int32
    lib.sq_fetch_request_set_max_header_size.argtypes = [POINTER(sq_fetch_request), c_size_t]
    lib.sq_fetch_request_set_max_header_size.restype = c_int32
    lib.sq_fetch_request_set_decompress.argtypes = [POINTER(sq_fetch_request), c_int, c_uint64]
    lib.sq_fetch_request_set_decompress.restype = c_int32
    lib.sq_fetch_request_set_max_body.argtypes = [POINTER(sq_fetch_request), c_uint64]
    lib.sq_fetch_request_set_max_body.restype = c_int32
    lib.sq_fetch_request_set_basic_auth.argtypes = [POINTER(sq_fetch_request), c_char_p, c_char_p]
    lib.sq_fetch_request_set_basic_auth.restype = c_int32
    lib.sq_fetch_request_set_ca_file.argtypes = [POINTER(sq_fetch_request), c_char_p]
    lib.sq_fetch_request_set_ca_file.restype = c_int32
    lib.sq_fetch_request_set_on_headers.argtypes = [POINTER(sq_fetch_request), sq_fetch_callback]
    lib.sq_fetch_request_set_on_headers.restype = c_int32
    lib.sq_fetch_request_set_on_chunk.argtypes = [POINTER(sq_fetch_request), sq_fetch_chunk_callback]
    lib.sq_fetch_request_set_on_chunk.restype = c_int32
    lib.sq_fetch.argtypes = [POINTER(sq_loop), POINTER(sq_fetch_request), sq_fetch_callback, c_void_p]
    lib.sq_fetch.restype = c_int32
    lib.sq_fetch_cancel.argtypes = [POINTER(sq_loop), c_uint64]
    lib.sq_fetch_cancel.restype = c_int32
    lib.sq_fetch_pause_reading.argtypes = [POINTER(sq_loop), c_uint64]
    lib.sq_fetch_pause_reading.restype = c_int32
    lib.sq_fetch_resume_reading.argtypes = [POINTER(sq_loop), c_uint64]
    lib.sq_fetch_resume_reading.restype = c_int32
    lib.sq_fetch_set_limits.argtypes = [POINTER(sq_loop), c_uint32, c_uint32, c_uint64]
    lib.sq_fetch_set_limits.restype = c_int32
    lib.sq_fetch_queued.argtypes = [POINTER(sq_loop), POINTER(c_uint64)]
    lib.sq_fetch_queued.restype = c_int32
    lib.sq_fetch_response_error.argtypes = [c_void_p]
    lib.sq_fetch_response_error.restype = c_int32
    lib.sq_fetch_response_message.argtypes = [c_void_p, POINTER(sq_str)]
    lib.sq_fetch_response_message.restype = c_int32
    lib.sq_fetch_response_status.argtypes = [c_void_p]
    lib.sq_fetch_response_status.restype = c_uint32
    lib.sq_fetch_response_reason.argtypes = [c_void_p, POINTER(sq_str)]
    lib.sq_fetch_response_reason.restype = c_int32
    lib.sq_fetch_response_header.argtypes = [c_void_p, c_char_p, POINTER(sq_str)]
    lib.sq_fetch_response_header.restype = c_int32
    lib.sq_fetch_response_header_count.argtypes = [c_void_p, POINTER(c_size_t)]
    lib.sq_fetch_response_header_count.restype = c_int32
    lib.sq_fetch_response_header_at.argtypes = [c_void_p, c_size_t, POINTER(sq_str), POINTER(sq_str)]
    lib.sq_fetch_response_header_at.restype = c_int32
    lib.sq_fetch_response_body.argtypes = [c_void_p, POINTER(sq_str)]
    lib.sq_fetch_response_body.restype = c_int32
    lib.sq_fetch_response_url.argtypes = [c_void_p, POINTER(sq_str)]
    lib.sq_fetch_response_url.restype = c_int32
    lib.sq_fetch_response_redirects.argtypes = [c_void_p]
    lib.sq_fetch_response_redirects.restype = c_uint32
    lib.sq_fetch_response_tls.argtypes = [c_void_p, POINTER(sq_tls_info)]
    lib.sq_fetch_response_tls.restype = c_int32
    lib.sq_fetch_response_time.argtypes = [c_void_p, c_uint32, POINTER(c_double)]
    lib.sq_fetch_response_time.restype = c_int32
    lib.sq_log_set_callback.argtypes = [c_int, sq_log_callback, c_void_p]
    lib.sq_log_set_callback.restype = c_int32
    lib.sq_log_level_str.argtypes = [c_int]
    lib.sq_log_level_str.restype = c_char_p
    lib.sq_metrics_snapshot.argtypes = [POINTER(sq_server), POINTER(sq_metrics), c_size_t]
    lib.sq_metrics_snapshot.restype = c_int32
    lib.sq_loop_metrics_snapshot.argtypes = [POINTER(sq_loop), POINTER(sq_metrics), c_size_t]
    lib.sq_loop_metrics_snapshot.restype = c_int32
    lib.sq_metrics_prometheus.argtypes = [POINTER(sq_server), c_char_p, c_size_t, POINTER(c_size_t)]
    lib.sq_metrics_prometheus.restype = c_int32
    lib.sq_server_metrics_route.argtypes = [POINTER(sq_server), c_char_p]
    lib.sq_server_metrics_route.restype = c_int32
    lib.sq_request_method.argtypes = [c_void_p, POINTER(sq_str)]
    lib.sq_request_method.restype = c_int32
    lib.sq_request_uri.argtypes = [c_void_p, POINTER(sq_str)]
    lib.sq_request_uri.restype = c_int32
    lib.sq_request_path.argtypes = [c_void_p, POINTER(sq_str)]
    lib.sq_request_path.restype = c_int32
    lib.sq_request_query.argtypes = [c_void_p, POINTER(sq_str)]
    lib.sq_request_query.restype = c_int32
    lib.sq_request_cookie.argtypes = [c_void_p, c_char_p, POINTER(sq_str)]
    lib.sq_request_cookie.restype = c_int32
    lib.sq_request_header.argtypes = [c_void_p, c_char_p, POINTER(sq_str)]
    lib.sq_request_header.restype = c_int32
    lib.sq_request_header_count.argtypes = [c_void_p, POINTER(c_size_t)]
    lib.sq_request_header_count.restype = c_int32
    lib.sq_request_header_at.argtypes = [c_void_p, c_size_t, POINTER(sq_str), POINTER(sq_str)]
    lib.sq_request_header_at.restype = c_int32
    lib.sq_request_body.argtypes = [c_void_p, POINTER(sq_str)]
    lib.sq_request_body.restype = c_int32
    lib.sq_request_argument.argtypes = [c_void_p, c_char_p, POINTER(sq_str)]
    lib.sq_request_argument.restype = c_int32
    lib.sq_request_argument_count.argtypes = [c_void_p, c_char_p, POINTER(c_size_t)]
    lib.sq_request_argument_count.restype = c_int32
    lib.sq_request_argument_at.argtypes = [c_void_p, c_char_p, c_size_t, POINTER(sq_str)]
    lib.sq_request_argument_at.restype = c_int32
    lib.sq_request_capture.argtypes = [c_void_p, c_size_t, POINTER(sq_str)]
    lib.sq_request_capture.restype = c_int32
    lib.sq_request_capture_count.argtypes = [c_void_p, POINTER(c_size_t)]
    lib.sq_request_capture_count.restype = c_int32
    lib.sq_request_remote_ip.argtypes = [c_void_p, POINTER(sq_str)]
    lib.sq_request_remote_ip.restype = c_int32
    lib.sq_request_remote_port.argtypes = [c_void_p, POINTER(c_uint16)]
    lib.sq_request_remote_port.restype = c_int32
    lib.sq_request_version.argtypes = [c_void_p, POINTER(c_uint32), POINTER(c_uint32)]
    lib.sq_request_version.restype = c_int32
    lib.sq_request_tls.argtypes = [c_void_p, POINTER(sq_tls_info)]
    lib.sq_request_tls.restype = c_int32
    lib.sq_request_on_body.argtypes = [c_void_p, sq_body_callback, c_void_p]
    lib.sq_request_on_body.restype = c_int32
    lib.sq_request_on_close.argtypes = [c_void_p, sq_callback, c_void_p]
    lib.sq_request_on_close.restype = c_int32
    lib.sq_respond.argtypes = [c_void_p, c_int, POINTER(sq_header), c_size_t, c_void_p, c_size_t]
    lib.sq_respond.restype = c_int32
    lib.sq_response_status.argtypes = [c_void_p, c_int, c_char_p]
    lib.sq_response_status.restype = c_int32
    lib.sq_response_header.argtypes = [c_void_p, c_char_p, c_char_p, c_size_t, c_int]
    lib.sq_response_header.restype = c_int32
    lib.sq_response_write.argtypes = [c_void_p, c_void_p, c_size_t]
    lib.sq_response_write.restype = c_int32
    lib.sq_response_flush.argtypes = [c_void_p]
    lib.sq_response_flush.restype = c_int32
    lib.sq_request_abort.argtypes = [c_void_p]
    lib.sq_request_abort.restype = c_int32
    lib.sq_response_set_length.argtypes = [c_void_p, c_uint64]
    lib.sq_response_set_length.restype = c_int32
    lib.sq_response_backlog.argtypes = [c_void_p, POINTER(c_size_t)]
    lib.sq_response_backlog.restype = c_int32
    lib.sq_response_finish.argtypes = [c_void_p]
    lib.sq_response_finish.restype = c_int32
    lib.sq_server_new.argtypes = [POINTER(sq_loop)]
    lib.sq_server_new.restype = POINTER(sq_server)
    lib.sq_server_free.argtypes = [POINTER(sq_server)]
    lib.sq_server_free.restype = None
    lib.sq_route.argtypes = [POINTER(sq_server), c_char_p, c_char_p, sq_handler, c_void_p, c_uint32]
    lib.sq_route.restype = c_int32
    lib.sq_server_static.argtypes = [POINTER(sq_server), c_char_p, c_char_p]
    lib.sq_server_static.restype = c_int32
    lib.sq_server_listen.argtypes = [POINTER(sq_server), c_char_p, c_uint16, POINTER(c_uint16)]
    lib.sq_server_listen.restype = c_int32
    lib.sq_server_listen_fd.argtypes = [POINTER(sq_server), c_int32, POINTER(c_uint16)]
    lib.sq_server_listen_fd.restype = c_int32
    lib.sq_server_shutdown.argtypes = [POINTER(sq_server), c_uint64, sq_callback, c_void_p]
    lib.sq_server_shutdown.restype = c_int32
    lib.sq_server_set_max_header_size.argtypes = [POINTER(sq_server), c_size_t]
    lib.sq_server_set_max_header_size.restype = c_int32
    lib.sq_server_set_max_headers.argtypes = [POINTER(sq_server), c_uint32]
    lib.sq_server_set_max_headers.restype = c_int32
    lib.sq_server_set_max_request_target.argtypes = [POINTER(sq_server), c_size_t]
    lib.sq_server_set_max_request_target.restype = c_int32
    lib.sq_server_set_max_body_size.argtypes = [POINTER(sq_server), c_uint64]
    lib.sq_server_set_max_body_size.restype = c_int32
    lib.sq_server_set_header_timeout_ms.argtypes = [POINTER(sq_server), c_uint64]
    lib.sq_server_set_header_timeout_ms.restype = c_int32
    lib.sq_server_set_body_timeout_ms.argtypes = [POINTER(sq_server), c_uint64]
    lib.sq_server_set_body_timeout_ms.restype = c_int32
    lib.sq_server_set_idle_timeout_ms.argtypes = [POINTER(sq_server), c_uint64]
    lib.sq_server_set_idle_timeout_ms.restype = c_int32
    lib.sq_server_set_max_connections.argtypes = [POINTER(sq_server), c_uint32]
    lib.sq_server_set_max_connections.restype = c_int32
    lib.sq_server_set_backlog.argtypes = [POINTER(sq_server), c_int32]
    lib.sq_server_set_backlog.restype = c_int32
    lib.sq_server_set_flow_limits.argtypes = [POINTER(sq_server), c_size_t, c_size_t]
    lib.sq_server_set_flow_limits.restype = c_int32
    lib.sq_server_set_send_timeout_ms.argtypes = [POINTER(sq_server), c_uint64]
    lib.sq_server_set_send_timeout_ms.restype = c_int32
    lib.sq_version.argtypes = []
    lib.sq_version.restype = c_char_p
    lib.sq_abi_version.argtypes = []
    lib.sq_abi_version.restype = c_uint32
    lib.sq_status_str.argtypes = [c_int32]
    lib.sq_status_str.restype = c_char_p
    lib.sq_last_error.argtypes = []
    lib.sq_last_error.restype = c_char_p
    lib.sq_tcp_options_init.argtypes = [POINTER(sq_tcp_options), c_size_t]
    lib.sq_tcp_options_init.restype = c_int32
    lib.sq_tcp_listen.argtypes = [POINTER(sq_loop), c_char_p, c_uint16, POINTER(sq_tcp_callbacks), POINTER(sq_tcp_options), c_void_p]
    lib.sq_tcp_listen.restype = POINTER(sq_tcp_listener)
    lib.sq_tcp_listener_port.argtypes = [POINTER(sq_tcp_listener)]
    lib.sq_tcp_listener_port.restype = c_int32
    lib.sq_tcp_listener_free.argtypes = [POINTER(sq_tcp_listener)]
    lib.sq_tcp_listener_free.restype = None
    lib.sq_tcp_connect.argtypes = [POINTER(sq_loop), c_char_p, c_uint16, POINTER(sq_tcp_callbacks), POINTER(sq_tcp_options), c_void_p]
    lib.sq_tcp_connect.restype = c_int32
    lib.sq_tcp_write.argtypes = [c_void_p, c_void_p, c_size_t]
    lib.sq_tcp_write.restype = c_int32
    lib.sq_tcp_buffered_amount.argtypes = [c_void_p]
    lib.sq_tcp_buffered_amount.restype = c_size_t
    lib.sq_tcp_close.argtypes = [c_void_p]
    lib.sq_tcp_close.restype = c_int32
    lib.sq_tcp_abort.argtypes = [c_void_p]
    lib.sq_tcp_abort.restype = c_int32
    lib.sq_tcp_pause_reading.argtypes = [c_void_p]
    lib.sq_tcp_pause_reading.restype = c_int32
    lib.sq_tcp_resume_reading.argtypes = [c_void_p]
    lib.sq_tcp_resume_reading.restype = c_int32
    lib.sq_tcp_set_userdata.argtypes = [c_void_p, c_void_p]
    lib.sq_tcp_set_userdata.restype = c_int32
    lib.sq_tcp_userdata.argtypes = [c_void_p]
    lib.sq_tcp_userdata.restype = c_void_p
    lib.sq_tcp_address.argtypes = [c_void_p, c_int32, c_char_p, c_size_t, POINTER(c_uint16)]
    lib.sq_tcp_address.restype = c_int32
    lib.sq_tls_options_init.argtypes = [POINTER(sq_tls_options), c_size_t]
    lib.sq_tls_options_init.restype = c_int32
    lib.sq_tls_config_new.argtypes = [POINTER(sq_tls_options)]
    lib.sq_tls_config_new.restype = POINTER(sq_tls_config)
    lib.sq_tls_config_free.argtypes = [POINTER(sq_tls_config)]
    lib.sq_tls_config_free.restype = None
    lib.sq_tls_config_add_cert_file.argtypes = [POINTER(sq_tls_config), c_char_p, c_char_p]
    lib.sq_tls_config_add_cert_file.restype = c_int32
    lib.sq_tls_config_add_cert_pem.argtypes = [POINTER(sq_tls_config), c_void_p, c_size_t, c_void_p, c_size_t]
    lib.sq_tls_config_add_cert_pem.restype = c_int32
    lib.sq_server_set_tls.argtypes = [POINTER(sq_server), POINTER(sq_tls_config)]
    lib.sq_server_set_tls.restype = c_int32
    lib.sq_ws_options_init.argtypes = [POINTER(sq_ws_options), c_size_t]
    lib.sq_ws_options_init.restype = c_int32
    lib.sq_ws_route.argtypes = [POINTER(sq_server), c_char_p, POINTER(sq_ws_callbacks), POINTER(sq_ws_options), c_void_p]
    lib.sq_ws_route.restype = c_int32
    lib.sq_ws_connect.argtypes = [POINTER(sq_loop), c_char_p, POINTER(sq_ws_callbacks), POINTER(sq_ws_options), c_void_p]
    lib.sq_ws_connect.restype = c_int32
    lib.sq_ws_send.argtypes = [c_void_p, c_void_p, c_size_t, c_int]
    lib.sq_ws_send.restype = c_int32
    lib.sq_ws_send_ex.argtypes = [c_void_p, c_void_p, c_size_t, c_int, c_uint32]
    lib.sq_ws_send_ex.restype = c_int32
    lib.sq_ws_close.argtypes = [c_void_p, c_uint16, c_char_p]
    lib.sq_ws_close.restype = c_int32
    lib.sq_ws_abort.argtypes = [c_void_p]
    lib.sq_ws_abort.restype = c_int32
    lib.sq_ws_response_header.argtypes = [c_void_p, c_size_t, POINTER(sq_str), POINTER(sq_str)]
    lib.sq_ws_response_header.restype = c_int32
    lib.sq_ws_handshake_header.argtypes = [c_void_p, c_char_p, c_void_p, c_size_t]
    lib.sq_ws_handshake_header.restype = c_int32
    lib.sq_ws_handshake_decide.argtypes = [c_void_p, c_uint16]
    lib.sq_ws_handshake_decide.restype = c_int32
    lib.sq_ws_ping.argtypes = [c_void_p, c_void_p, c_size_t]
    lib.sq_ws_ping.restype = c_int32
    lib.sq_ws_pause_reading.argtypes = [c_void_p]
    lib.sq_ws_pause_reading.restype = c_int32
    lib.sq_ws_resume_reading.argtypes = [c_void_p]
    lib.sq_ws_resume_reading.restype = c_int32
    lib.sq_ws_buffered_amount.argtypes = [c_void_p]
    lib.sq_ws_buffered_amount.restype = c_size_t
    lib.sq_ws_set_userdata.argtypes = [c_void_p, c_void_p]
    lib.sq_ws_set_userdata.restype = c_int32
    lib.sq_ws_userdata.argtypes = [c_void_p]
    lib.sq_ws_userdata.restype = c_void_p
    lib.sq_ws_subprotocol.argtypes = [c_void_p, POINTER(sq_str)]
    lib.sq_ws_subprotocol.restype = c_int32
    lib.sq_ws_subscribe.argtypes = [c_void_p, c_char_p]
    lib.sq_ws_subscribe.restype = c_int32
    lib.sq_ws_unsubscribe.argtypes = [c_void_p, c_char_p]
    lib.sq_ws_unsubscribe.restype = c_int32
    lib.sq_publish.argtypes = [POINTER(sq_server), c_char_p, c_void_p, c_size_t, c_int]
    lib.sq_publish.restype = c_int32
    lib.sq_publish_ex.argtypes = [POINTER(sq_server), c_char_p, c_void_p, c_size_t, c_int, c_uint32]
    lib.sq_publish_ex.restype = c_int32
    lib.sq_topic_subscribers.argtypes = [POINTER(sq_server), c_char_p]
    lib.sq_topic_subscribers.restype = c_size_t


FUNCTIONS = ('sq_cluster_new', 'sq_cluster_attach', 'sq_cluster_on_state', 'sq_cluster_state', 'sq_cluster_counter', 'sq_cluster_free', 'sq_loop_new', 'sq_loop_free', 'sq_loop_set_io_threads', 'sq_loop_run', 'sq_loop_stop', 'sq_loop_poll', 'sq_loop_fd', 'sq_loop_timeout_ms', 'sq_loop_add_callback', 'sq_call_later', 'sq_call_every', 'sq_timer_cancel', 'sq_batch_begin', 'sq_batch_end', 'sq_fetch_request_new', 'sq_fetch_request_id', 'sq_fetch_request_free', 'sq_fetch_request_set_header', 'sq_fetch_request_set_body', 'sq_fetch_request_stream_body', 'sq_fetch_request_set_on_drain', 'sq_fetch_body_write', 'sq_fetch_body_finish', 'sq_fetch_request_set_timeouts', 'sq_fetch_request_set_max_redirects', 'sq_fetch_request_set_redirect_overflow', 'sq_fetch_request_set_verify', 'sq_fetch_request_set_source_address', 'sq_fetch_request_set_connect_to', 'sq_fetch_request_set_ip_family', 'sq_fetch_request_set_expect_continue', 'sq_fetch_request_set_max_header_size', 'sq_fetch_request_set_decompress', 'sq_fetch_request_set_max_body', 'sq_fetch_request_set_basic_auth', 'sq_fetch_request_set_ca_file', 'sq_fetch_request_set_on_headers', 'sq_fetch_request_set_on_chunk', 'sq_fetch', 'sq_fetch_cancel', 'sq_fetch_pause_reading', 'sq_fetch_resume_reading', 'sq_fetch_set_limits', 'sq_fetch_queued', 'sq_fetch_response_error', 'sq_fetch_response_message', 'sq_fetch_response_status', 'sq_fetch_response_reason', 'sq_fetch_response_header', 'sq_fetch_response_header_count', 'sq_fetch_response_header_at', 'sq_fetch_response_body', 'sq_fetch_response_url', 'sq_fetch_response_redirects', 'sq_fetch_response_tls', 'sq_fetch_response_time', 'sq_log_set_callback', 'sq_log_level_str', 'sq_metrics_snapshot', 'sq_loop_metrics_snapshot', 'sq_metrics_prometheus', 'sq_server_metrics_route', 'sq_request_method', 'sq_request_uri', 'sq_request_path', 'sq_request_query', 'sq_request_cookie', 'sq_request_header', 'sq_request_header_count', 'sq_request_header_at', 'sq_request_body', 'sq_request_argument', 'sq_request_argument_count', 'sq_request_argument_at', 'sq_request_capture', 'sq_request_capture_count', 'sq_request_remote_ip', 'sq_request_remote_port', 'sq_request_version', 'sq_request_tls', 'sq_request_on_body', 'sq_request_on_close', 'sq_respond', 'sq_response_status', 'sq_response_header', 'sq_response_write', 'sq_response_flush', 'sq_request_abort', 'sq_response_set_length', 'sq_response_backlog', 'sq_response_finish', 'sq_server_new', 'sq_server_free', 'sq_route', 'sq_server_static', 'sq_server_listen', 'sq_server_listen_fd', 'sq_server_shutdown', 'sq_server_set_max_header_size', 'sq_server_set_max_headers', 'sq_server_set_max_request_target', 'sq_server_set_max_body_size', 'sq_server_set_header_timeout_ms', 'sq_server_set_body_timeout_ms', 'sq_server_set_idle_timeout_ms', 'sq_server_set_max_connections', 'sq_server_set_backlog', 'sq_server_set_flow_limits', 'sq_server_set_send_timeout_ms', 'sq_version', 'sq_abi_version', 'sq_status_str', 'sq_last_error', 'sq_tcp_options_init', 'sq_tcp_listen', 'sq_tcp_listener_port', 'sq_tcp_listener_free', 'sq_tcp_connect', 'sq_tcp_write', 'sq_tcp_buffered_amount', 'sq_tcp_close', 'sq_tcp_abort', 'sq_tcp_pause_reading', 'sq_tcp_resume_reading', 'sq_tcp_set_userdata', 'sq_tcp_userdata', 'sq_tcp_address', 'sq_tls_options_init', 'sq_tls_config_new', 'sq_tls_config_free', 'sq_tls_config_add_cert_file', 'sq_tls_config_add_cert_pem', 'sq_server_set_tls', 'sq_ws_options_init', 'sq_ws_route', 'sq_ws_connect', 'sq_ws_send', 'sq_ws_send_ex', 'sq_ws_close', 'sq_ws_abort', 'sq_ws_response_header', 'sq_ws_handshake_header', 'sq_ws_handshake_decide', 'sq_ws_ping', 'sq_ws_pause_reading', 'sq_ws_resume_reading', 'sq_ws_buffered_amount', 'sq_ws_set_userdata', 'sq_ws_userdata', 'sq_ws_subprotocol', 'sq_ws_subscribe', 'sq_ws_unsubscribe', 'sq_publish', 'sq_publish_ex', 'sq_topic_subscribers',)
