package squall

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"net/http"
	"unsafe"
)

// Metrics is a server's counters at one moment (sq_metrics_snapshot): they
// only grow, from the server's start. Each is exact; the snapshot as a
// whole is not atomic. The fields are sq_metrics' (include/squall.h says
// what each counts); the latency buckets' upper bounds are
// LatencyBucketsUS, and the last bucket is above them all.
type Metrics struct {
	ConnectionsAccepted      uint64
	ConnectionsOpen          uint64
	ConnectionsClosedClient  uint64
	ConnectionsClosedTimeout uint64
	ConnectionsClosedLimit   uint64
	ConnectionsClosedError   uint64
	ConnectionsClosedServer  uint64
	RequestsGet              uint64
	RequestsHead             uint64
	RequestsPost             uint64
	RequestsPut              uint64
	RequestsDelete           uint64
	RequestsOther            uint64
	Responses1xx             uint64
	Responses2xx             uint64
	Responses3xx             uint64
	Responses4xx             uint64
	Responses5xx             uint64
	HTTPBytesIn              uint64
	HTTPBytesOut             uint64
	Refused400               uint64
	Refused408               uint64
	Refused413               uint64
	Refused414               uint64
	Refused417               uint64
	Refused431               uint64
	Refused501               uint64
	Refused505               uint64
	LatencyCount             uint64
	LatencySumUS             uint64
	LatencyBuckets           [19]uint64
	WSOpened                 uint64
	WSClosed1000             uint64
	WSClosed1001             uint64
	WSClosed1002             uint64
	WSClosed1006             uint64
	WSClosed1007             uint64
	WSClosed1008             uint64
	WSClosed1009             uint64
	WSClosed1011             uint64
	WSClosedOther            uint64
	WSMessagesIn             uint64
	WSMessagesOut            uint64
	WSBytesIn                uint64
	WSBytesOut               uint64
	WSPausedInput            uint64
	WSPausedOutput           uint64
	WSDropped                uint64
	WSClosedBackpressure     uint64
	TopicPublishes           uint64
	TopicDeliveries          uint64
	TopicDrops               uint64
	TLSHandshakes            uint64
	TLSHandshakeFailures     uint64
	TLSHandshakeTimeouts     uint64
	// The server's loop: tasks waiting for the host thread now, tasks it
	// has taken, the batches it took, and per batch how long its oldest
	// task waited (sum in µs, per LatencyBucketsUS bucket).
	HostQueueDepth  uint64
	HostTasks       uint64
	HostBatches     uint64
	HostWaitSumUS   uint64
	HostWaitBuckets [19]uint64
	// The cluster attached to the server (sq_cluster_attach), all 0 when
	// none is: ClusterAttached and ClusterConnected are 1 or 0; the others
	// count broker traffic (ClusterSubscribed and ClusterOutbox are now).
	ClusterAttached   uint64
	ClusterConnected  uint64
	ClusterPublished  uint64
	ClusterOutboxFull uint64
	ClusterReceived   uint64
	ClusterDelivered  uint64
	ClusterEcho       uint64
	ClusterGaps       uint64
	ClusterRepeats    uint64
	ClusterJunk       uint64
	ClusterOversized  uint64
	ClusterBadTopic   uint64
	ClusterReconnects uint64
	ClusterSubscribed uint64
	ClusterOutbox     uint64
	// The loop's HTTP client (the same in every server of the loop; a
	// Transport's own with Transport.Metrics): fetches started, completed
	// by status class, failed by reason; connections its pool opened and
	// requests on reused ones; bytes read and written.
	ClientStarted           uint64
	ClientResponses1xx      uint64
	ClientResponses2xx      uint64
	ClientResponses3xx      uint64
	ClientResponses4xx      uint64
	ClientResponses5xx      uint64
	ClientFailedConnect     uint64
	ClientFailedTLS         uint64
	ClientFailedTimeout     uint64
	ClientFailedCancelled   uint64
	ClientFailedProtocol    uint64
	ClientFailedOther       uint64
	ClientConnectionsOpened uint64
	ClientConnectionsReused uint64
	ClientBytesIn           uint64
	ClientBytesOut          uint64
	// WebSocket client connects (sq_ws_connect) started, opened, failed.
	ClientWSConnects uint64
	ClientWSOpened   uint64
	ClientWSFailed   uint64
	// WebSocket bytes as frames on the connections (headers included,
	// payloads compressed when they were; inside TLS): beside WSBytesIn and
	// WSBytesOut, the deflate ratio.
	WSWireBytesIn  uint64
	WSWireBytesOut uint64
}

// LatencyBucketsUS are the upper bounds, in microseconds, of the request
// latency histogram's buckets but the last (Metrics.LatencyBuckets).
var LatencyBucketsUS = [18]uint64{50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000,
	500000, 1000000, 2500000, 5000000, 7500000, 10000000}

func metricsFrom(c *C.sq_metrics) Metrics {
	var m Metrics
	m.ConnectionsAccepted = uint64(c.connections_accepted)
	m.ConnectionsOpen = uint64(c.connections_open)
	m.ConnectionsClosedClient = uint64(c.connections_closed_client)
	m.ConnectionsClosedTimeout = uint64(c.connections_closed_timeout)
	m.ConnectionsClosedLimit = uint64(c.connections_closed_limit)
	m.ConnectionsClosedError = uint64(c.connections_closed_error)
	m.ConnectionsClosedServer = uint64(c.connections_closed_server)
	m.RequestsGet = uint64(c.requests_get)
	m.RequestsHead = uint64(c.requests_head)
	m.RequestsPost = uint64(c.requests_post)
	m.RequestsPut = uint64(c.requests_put)
	m.RequestsDelete = uint64(c.requests_delete)
	m.RequestsOther = uint64(c.requests_other)
	m.Responses1xx = uint64(c.responses_1xx)
	m.Responses2xx = uint64(c.responses_2xx)
	m.Responses3xx = uint64(c.responses_3xx)
	m.Responses4xx = uint64(c.responses_4xx)
	m.Responses5xx = uint64(c.responses_5xx)
	m.HTTPBytesIn = uint64(c.http_bytes_in)
	m.HTTPBytesOut = uint64(c.http_bytes_out)
	m.Refused400 = uint64(c.refused_400)
	m.Refused408 = uint64(c.refused_408)
	m.Refused413 = uint64(c.refused_413)
	m.Refused414 = uint64(c.refused_414)
	m.Refused417 = uint64(c.refused_417)
	m.Refused431 = uint64(c.refused_431)
	m.Refused501 = uint64(c.refused_501)
	m.Refused505 = uint64(c.refused_505)
	m.LatencyCount = uint64(c.latency_count)
	m.LatencySumUS = uint64(c.latency_sum_us)
	for i := range m.LatencyBuckets {
		m.LatencyBuckets[i] = uint64(c.latency_buckets[i])
	}
	m.WSOpened = uint64(c.ws_opened)
	m.WSClosed1000 = uint64(c.ws_closed_1000)
	m.WSClosed1001 = uint64(c.ws_closed_1001)
	m.WSClosed1002 = uint64(c.ws_closed_1002)
	m.WSClosed1006 = uint64(c.ws_closed_1006)
	m.WSClosed1007 = uint64(c.ws_closed_1007)
	m.WSClosed1008 = uint64(c.ws_closed_1008)
	m.WSClosed1009 = uint64(c.ws_closed_1009)
	m.WSClosed1011 = uint64(c.ws_closed_1011)
	m.WSClosedOther = uint64(c.ws_closed_other)
	m.WSMessagesIn = uint64(c.ws_messages_in)
	m.WSMessagesOut = uint64(c.ws_messages_out)
	m.WSBytesIn = uint64(c.ws_bytes_in)
	m.WSBytesOut = uint64(c.ws_bytes_out)
	m.WSPausedInput = uint64(c.ws_paused_input)
	m.WSPausedOutput = uint64(c.ws_paused_output)
	m.WSDropped = uint64(c.ws_dropped)
	m.WSClosedBackpressure = uint64(c.ws_closed_backpressure)
	m.TopicPublishes = uint64(c.topic_publishes)
	m.TopicDeliveries = uint64(c.topic_deliveries)
	m.TopicDrops = uint64(c.topic_drops)
	m.TLSHandshakes = uint64(c.tls_handshakes)
	m.TLSHandshakeFailures = uint64(c.tls_handshake_failures)
	m.TLSHandshakeTimeouts = uint64(c.tls_handshake_timeouts)
	m.HostQueueDepth = uint64(c.host_queue_depth)
	m.HostTasks = uint64(c.host_tasks)
	m.HostBatches = uint64(c.host_batches)
	m.HostWaitSumUS = uint64(c.host_wait_sum_us)
	for i := range m.HostWaitBuckets {
		m.HostWaitBuckets[i] = uint64(c.host_wait_buckets[i])
	}
	m.ClusterAttached = uint64(c.cluster_attached)
	m.ClusterConnected = uint64(c.cluster_connected)
	m.ClusterPublished = uint64(c.cluster_published)
	m.ClusterOutboxFull = uint64(c.cluster_outbox_full)
	m.ClusterReceived = uint64(c.cluster_received)
	m.ClusterDelivered = uint64(c.cluster_delivered)
	m.ClusterEcho = uint64(c.cluster_echo)
	m.ClusterGaps = uint64(c.cluster_gaps)
	m.ClusterRepeats = uint64(c.cluster_repeats)
	m.ClusterJunk = uint64(c.cluster_junk)
	m.ClusterOversized = uint64(c.cluster_oversized)
	m.ClusterBadTopic = uint64(c.cluster_bad_topic)
	m.ClusterReconnects = uint64(c.cluster_reconnects)
	m.ClusterSubscribed = uint64(c.cluster_subscribed)
	m.ClusterOutbox = uint64(c.cluster_outbox)
	m.ClientStarted = uint64(c.client_started)
	m.ClientResponses1xx = uint64(c.client_responses_1xx)
	m.ClientResponses2xx = uint64(c.client_responses_2xx)
	m.ClientResponses3xx = uint64(c.client_responses_3xx)
	m.ClientResponses4xx = uint64(c.client_responses_4xx)
	m.ClientResponses5xx = uint64(c.client_responses_5xx)
	m.ClientFailedConnect = uint64(c.client_failed_connect)
	m.ClientFailedTLS = uint64(c.client_failed_tls)
	m.ClientFailedTimeout = uint64(c.client_failed_timeout)
	m.ClientFailedCancelled = uint64(c.client_failed_cancelled)
	m.ClientFailedProtocol = uint64(c.client_failed_protocol)
	m.ClientFailedOther = uint64(c.client_failed_other)
	m.ClientConnectionsOpened = uint64(c.client_connections_opened)
	m.ClientConnectionsReused = uint64(c.client_connections_reused)
	m.ClientBytesIn = uint64(c.client_bytes_in)
	m.ClientBytesOut = uint64(c.client_bytes_out)
	m.ClientWSConnects = uint64(c.client_ws_connects)
	m.ClientWSOpened = uint64(c.client_ws_opened)
	m.ClientWSFailed = uint64(c.client_ws_failed)
	m.WSWireBytesIn = uint64(c.ws_wire_bytes_in)
	m.WSWireBytesOut = uint64(c.ws_wire_bytes_out)
	return m
}

// Metrics returns the server's counters now. ErrNotRunning before Serve.
func (s *Server) Metrics() (Metrics, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.srv == nil {
		return Metrics{}, ErrNotRunning
	}
	var c C.sq_metrics
	if err := statusError("metrics", C.sq_metrics_snapshot(s.srv, &c, C.size_t(unsafe.Sizeof(c)))); err != nil {
		return Metrics{}, err
	}
	return metricsFrom(&c), nil
}

// MetricsText returns the server's counters in Prometheus' text format
// 0.0.4 (sq_metrics_prometheus). ErrNotRunning before Serve.
func (s *Server) MetricsText() (string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.srv == nil {
		return "", ErrNotRunning
	}
	size := 16 << 10
	for {
		buf := C.malloc(C.size_t(size))
		var needed C.size_t
		st := C.sq_metrics_prometheus(s.srv, (*C.char)(buf), C.size_t(size), &needed)
		if st == C.SQ_OK {
			text := C.GoStringN((*C.char)(buf), C.int(needed))
			C.free(buf)
			return text, nil
		}
		C.free(buf)
		if st != C.SQ_ERR_LIMIT {
			return "", statusError("metrics", st)
		}
		size = int(needed) + 1
	}
}

// MetricsHandler serves the server's counters in Prometheus' text format,
// in a mux of the program's own: mux.Handle("GET /metrics", srv.MetricsHandler()).
func (s *Server) MetricsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		text, err := s.MetricsText()
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = w.Write([]byte(text))
	})
}

// Metrics returns the figures of the Transport's own loop
// (sq_loop_metrics_snapshot): its HTTP client's Client* fields (fetches,
// responses by class, failures by reason, pool connections, bytes) and the
// loop's Host* ones; every server field is 0. ErrClosed after Close; all
// zero before the first request.
func (t *Transport) Metrics() (Metrics, error) {
	var c C.sq_metrics
	st := t.withLoop(func(l *C.sq_loop) C.sq_status {
		return C.sq_loop_metrics_snapshot(l, &c, C.size_t(unsafe.Sizeof(c)))
	})
	if st == C.SQ_ERR_CLOSED {
		t.mu.RLock()
		closed := t.closed
		t.mu.RUnlock()
		if !closed {
			return Metrics{}, nil // no loop yet: nothing fetched
		}
	}
	if err := statusError("metrics", st); err != nil {
		return Metrics{}, err
	}
	return metricsFrom(&c), nil
}
