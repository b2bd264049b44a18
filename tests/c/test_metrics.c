/* A server's metrics checked against known traffic: 8 client threads x N
 * requests on a loop with 2 reactor threads (the counters are sharded per
 * reactor and must still be exact), refusals counted by status, a handler
 * failure as a 5xx, a WebSocket's messages and close code, the Prometheus
 * text (sq_metrics_prometheus: too small a buffer, then whole) and the
 * built-in /metrics route. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "http_client.h"
#include "ws_client.h"

#define THREADS 8
#define PER_THREAD 25

static int port;

static sq_status h_hello(void *userdata, sq_request *req) {
    (void)userdata;
    return sq_respond(req, 200, NULL, 0, "hi", 2);
}

static sq_status h_fail(void *userdata, sq_request *req) {
    (void)userdata;
    (void)req;
    return SQ_ERR_INVALID_ARG; /* squall answers 500 */
}

static void on_message(void *userdata, sq_ws *ws, const void *data, size_t len, int opcode) {
    (void)userdata;
    CHECK_EQ(sq_ws_send(ws, data, len, opcode), SQ_OK);
}

static void *serve(void *lp) {
    CHECK_EQ(sq_loop_run((sq_loop *)lp), SQ_OK);
    return NULL;
}

static void *client(void *arg) {
    (void)arg;
    char body[16];
    for (int i = 0; i < PER_THREAD; i++) {
        CHECK_EQ(http_get(port, "/hello", body, sizeof body), 200);
        CHECK(strcmp(body, "hi") == 0);
    }
    return NULL;
}

static sq_metrics snapshot(sq_server *srv) {
    sq_metrics m;
    memset(&m, 0xff, sizeof m);
    CHECK_EQ(sq_metrics_snapshot(srv, &m, sizeof m), SQ_OK);
    CHECK_EQ(m.size, sizeof m);
    return m;
}

int main(void) {
    sq_loop *lp = sq_loop_new();
    CHECK(lp != NULL);
    CHECK_EQ(sq_loop_set_io_threads(lp, 2), SQ_OK);
    sq_server *srv = sq_server_new(lp);
    CHECK(srv != NULL);
    CHECK_EQ(sq_server_set_max_header_size(srv, 1024), SQ_OK);
    CHECK_EQ(sq_route(srv, "GET", "/hello", h_hello, NULL, 0), SQ_OK);
    CHECK_EQ(sq_route(srv, "GET", "/fail", h_fail, NULL, 0), SQ_OK);
    CHECK_EQ(sq_server_metrics_route(srv, "/metrics"), SQ_OK);
    CHECK_EQ(sq_server_metrics_route(srv, "metrics"), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_server_metrics_route(NULL, "/m"), SQ_ERR_NULL);
    sq_ws_callbacks cb = {.size = sizeof cb, .on_message = on_message};
    CHECK_EQ(sq_ws_route(srv, "/ws", &cb, NULL, NULL), SQ_OK);
    uint16_t p = 0;
    CHECK_EQ(sq_server_listen(srv, "127.0.0.1", 0, &p), SQ_OK);
    port = p;

    /* misuse */
    sq_metrics m;
    CHECK_EQ(sq_metrics_snapshot(NULL, &m, sizeof m), SQ_ERR_NULL);
    CHECK_EQ(sq_metrics_snapshot(srv, NULL, sizeof m), SQ_ERR_NULL);
    CHECK_EQ(sq_metrics_snapshot(srv, &m, 4), SQ_ERR_INVALID_ARG);
    /* an older program's smaller struct: only what it knows is written */
    memset(&m, 0xab, sizeof m);
    CHECK_EQ(sq_metrics_snapshot(srv, &m, 3 * sizeof(uint64_t)), SQ_OK);
    CHECK_EQ(m.size, 3 * sizeof(uint64_t));
    CHECK_EQ(m.connections_accepted, 0);
    CHECK_EQ(m.connections_open, 0);
    CHECK(m.connections_closed_client == 0xababababababababULL);
    /* the loop's own figures: no fetch yet, every server field 0 */
    CHECK_EQ(sq_loop_metrics_snapshot(NULL, &m, sizeof m), SQ_ERR_NULL);
    CHECK_EQ(sq_loop_metrics_snapshot(lp, NULL, sizeof m), SQ_ERR_NULL);
    CHECK_EQ(sq_loop_metrics_snapshot(lp, &m, 4), SQ_ERR_INVALID_ARG);
    memset(&m, 0xab, sizeof m);
    CHECK_EQ(sq_loop_metrics_snapshot(lp, &m, sizeof m), SQ_OK);
    CHECK_EQ(m.size, sizeof m);
    CHECK_EQ(m.client_started, 0);
    CHECK_EQ(m.client_bytes_out, 0);
    CHECK_EQ(m.connections_accepted, 0);
    CHECK_EQ(m.cluster_attached, 0);

    pthread_t loop_thread;
    CHECK_EQ(pthread_create(&loop_thread, NULL, serve, lp), 0);

    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++) CHECK_EQ(pthread_create(&th[t], NULL, client, NULL), 0);
    for (int t = 0; t < THREADS; t++) CHECK_EQ(pthread_join(th[t], NULL), 0);

    char body[4096];
    for (int i = 0; i < 3; i++) CHECK_EQ(http_get(port, "/missing", body, sizeof body), 404);
    CHECK_EQ(http_get(port, "/fail", body, sizeof body), 500);
    char big[4096];
    int n = snprintf(big, sizeof big, "GET /hello HTTP/1.1\r\nHost: t\r\nX-Big: ");
    memset(big + n, 'a', 2000);
    strcpy(big + n + 2000, "\r\n\r\n");
    for (int i = 0; i < 2; i++) CHECK_EQ(http_exchange(port, big, body, sizeof body), 431);

    /* a WebSocket: three messages echoed, then a close with 1000 */
    int status = 0;
    int fd = ws_open(port, "/ws", &status);
    CHECK(fd >= 0);
    const char *msgs[3] = {"one", "two!", "three"};
    size_t payload = 0;
    for (int i = 0; i < 3; i++) {
        size_t len = strlen(msgs[i]);
        payload += len;
        CHECK_EQ(ws_send_frame(fd, 1, msgs[i], len), 0);
        uint8_t *data = NULL;
        size_t got = 0;
        CHECK_EQ(ws_read_frame(fd, &data, &got), 1);
        CHECK(got == len && memcmp(data, msgs[i], len) == 0);
        free(data);
    }
    uint8_t code[2] = {0x03, 0xe8};
    CHECK_EQ(ws_send_frame(fd, 8, code, 2), 0);
    uint8_t *data = NULL;
    size_t got = 0;
    CHECK_EQ(ws_read_frame(fd, &data, &got), 8);
    free(data);
    close(fd);

    /* every connection closed on the server's side too */
    long long deadline = now_ns() + 10000000000LL;
    while (snapshot(srv).connections_open != 0 && now_ns() < deadline) sleep_ms(10);
    m = snapshot(srv);
    const int hellos = THREADS * PER_THREAD;
    CHECK_EQ(m.connections_open, 0);
    CHECK_EQ(m.connections_accepted, hellos + 3 + 1 + 2 + 1);
    CHECK_EQ(m.connections_closed_limit, 2); /* the two 431s */
    CHECK_EQ(m.connections_closed_client + m.connections_closed_limit, m.connections_accepted);
    CHECK_EQ(m.requests_get, hellos + 3 + 1 + 1); /* the 431s never had a head */
    CHECK_EQ(m.requests_post + m.requests_put + m.requests_delete + m.requests_head + m.requests_other, 0);
    CHECK_EQ(m.responses_2xx, hellos);
    CHECK_EQ(m.responses_4xx, 3 + 2);
    CHECK_EQ(m.responses_5xx, 1);
    CHECK_EQ(m.refused_431, 2);
    CHECK_EQ(m.refused_400 + m.refused_408 + m.refused_413 + m.refused_414, 0);
    CHECK_EQ(m.latency_count, hellos + 3 + 1 + 2);
    unsigned long long in_buckets = 0;
    for (int i = 0; i < SQ_METRICS_LATENCY_BUCKETS; i++) in_buckets += m.latency_buckets[i];
    CHECK_EQ(in_buckets, m.latency_count);
    CHECK(m.http_bytes_in > (unsigned long long)hellos * 40 && m.http_bytes_out > (unsigned long long)hellos * 40);
    CHECK_EQ(m.ws_opened, 1);
    CHECK_EQ(m.ws_messages_in, 3);
    CHECK_EQ(m.ws_messages_out, 3);
    CHECK_EQ(m.ws_bytes_in, payload);
    CHECK_EQ(m.ws_bytes_out, payload);
    /* on the wire: our frames masked (2 + 4 + payload each, the close 2 + 4
     * + 2), the server's not (2 + payload each, its close 2 + 2) */
    CHECK_EQ(m.ws_wire_bytes_in, payload + 3 * 6 + 8);
    CHECK_EQ(m.ws_wire_bytes_out, payload + 3 * 2 + 4);
    CHECK_EQ(m.ws_closed_1000, 1);
    CHECK_EQ(m.ws_dropped + m.topic_publishes, 0);
    CHECK_EQ(m.tls_handshakes + m.tls_handshake_failures + m.tls_handshake_timeouts, 0); /* no TLS here */

    /* the loop's host queue: every /hello and /fail ran on the host thread
     * (plus the WebSocket's events), in batches; nothing waits once idle */
    /* one snapshot checked and kept: a late task (a connection's close
     * noticed after its last response) may be queued between two */
    deadline = now_ns() + 10000000000LL;
    for (;;) {
        m = snapshot(srv);
        if (m.host_queue_depth == 0 || now_ns() >= deadline) break;
        sleep_ms(10);
    }
    CHECK_EQ(m.host_queue_depth, 0);
    CHECK(m.host_tasks >= (unsigned long long)hellos + 1 + 3);
    CHECK(m.host_batches >= 1 && m.host_batches <= m.host_tasks);
    unsigned long long waits = 0;
    for (int i = 0; i < SQ_METRICS_LATENCY_BUCKETS; i++) waits += m.host_wait_buckets[i];
    CHECK_EQ(waits, m.host_batches);
    CHECK(m.host_wait_sum_us < m.host_batches * 10000000ULL); /* no batch waited 10 s */

    /* the text: too small a buffer says how much, then the whole */
    char small[16];
    size_t needed = 0;
    CHECK_EQ(sq_metrics_prometheus(srv, small, sizeof small, &needed), SQ_ERR_LIMIT);
    CHECK(needed > 1000 && small[0] == 0);
    CHECK_EQ(sq_metrics_prometheus(srv, NULL, 0, &needed), SQ_ERR_LIMIT);
    char *text = malloc(needed + 1);
    CHECK_EQ(sq_metrics_prometheus(srv, text, needed + 1, &needed), SQ_OK);
    CHECK_EQ(strlen(text), needed);
    char want[128];
    snprintf(want, sizeof want, "\nsquall_http_requests_total{method=\"GET\"} %d\n", hellos + 5);
    CHECK(strstr(text, want) != NULL);
    CHECK(strstr(text, "\nsquall_http_refused_total{status=\"431\"} 2\n") != NULL);
    snprintf(want, sizeof want, "\nsquall_http_request_duration_seconds_count %d\n", hellos + 6);
    CHECK(strstr(text, want) != NULL);
    CHECK(strstr(text, "\n# TYPE squall_host_wait_seconds histogram\n") != NULL);
    CHECK(strstr(text, "\nsquall_tls_handshakes_total{result=\"ok\"} 0\n") != NULL);
    CHECK(strstr(text, "\nsquall_client_fetches_started_total 0\n") != NULL);
    CHECK(strstr(text, "squall_cluster_") == NULL); /* no cluster attached */
    CHECK(text[needed - 1] == '\n');
    free(text);

    /* the route, answered on the reactor */
    static char scraped[65536];
    CHECK_EQ(http_get(port, "/metrics", scraped, sizeof scraped), 200);
    CHECK(strstr(scraped, "# TYPE squall_connections_accepted_total counter\n") != NULL);
    snprintf(want, sizeof want, "\nsquall_http_requests_total{method=\"GET\"} %d\n", hellos + 6);
    CHECK(strstr(scraped, want) != NULL);

    CHECK_EQ(sq_loop_stop(lp), SQ_OK);
    CHECK_EQ(pthread_join(loop_thread, NULL), 0);
    sq_server_free(srv);
    sq_loop_free(lp);
    printf("test_metrics: ok (%d requests counted)\n", (int)m.requests_get);
    return 0;
}
