/* demo_server: the HTTP routes of the demo contract (docs/ARCHITECTURE.md,
 * "Demo routes"), in C.
 *
 *   make examples && PORT=8888 build/examples/c/demo_server
 *
 * Environment: PORT (default 8888), SQUALL_IO_THREADS (reactor threads,
 * default 1), SQUALL_INLINE=1 (serve "/" from an SQ_INLINE handler on the
 * reactor thread), SQUALL_HEADER_TIMEOUT_MS / SQUALL_BODY_TIMEOUT_MS /
 * SQUALL_IDLE_TIMEOUT_MS (the conformance suite shortens them),
 * SQUALL_STATIC_DIR (served under /static/), SQUALL_WS_PING_MS /
 * SQUALL_WS_IDLE_MS (WebSocket keep-alive ping interval and idle timeout),
 * SQUALL_CLUSTER=redis://... or rediss://... (/ws/chat spans every process
 * joined to the same Redis; GET /cluster then shows the cluster's state and counters, and
 * each state change is printed as a line "cluster <state>").
 * WebSockets: /ws/echo echoes every message; /ws/chat forwards every message
 * to every client of the room (topic "chat"), sender included. Ctrl-C or
 * SIGTERM stops it (WebSockets get a 1001 close). */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "squall.h"

static sq_loop *loop;
static sq_server *server;

#define TEXT_PLAIN {"Content-Type", "text/plain", 10}

static sq_status hello(void *ud, sq_request *req) {
    (void)ud;
    static const sq_header h[] = {TEXT_PLAIN};
    return sq_respond(req, 200, h, 1, "Hello, world", 12);
}

static sq_status echo(void *ud, sq_request *req) {
    (void)ud;
    sq_str body, ctype;
    sq_status st = sq_request_body(req, &body);
    if (st != SQ_OK) return st;
    if (sq_request_header(req, "Content-Type", &ctype) == SQ_OK) {
        sq_header h = {"Content-Type", ctype.ptr, ctype.len};
        return sq_respond(req, 200, &h, 1, body.ptr, body.len);
    }
    return sq_respond(req, 200, NULL, 0, body.ptr, body.len);
}

static sq_status args(void *ud, sq_request *req) {
    (void)ud;
    sq_str a, b;
    if (sq_request_capture(req, 0, &a) != SQ_OK || sq_request_capture(req, 1, &b) != SQ_OK) return SQ_ERR_INVALID_ARG;
    char out[256];
    int n = snprintf(out, sizeof out, "a=%.*s b=%.*s", (int)a.len, a.ptr, (int)b.len, b.ptr);
    static const sq_header h[] = {TEXT_PLAIN};
    return sq_respond(req, 200, h, 1, out, (size_t)n < sizeof out ? (size_t)n : sizeof out - 1);
}

static sq_status query(void *ud, sq_request *req) {
    (void)ud;
    sq_str name;
    static const sq_header h[] = {TEXT_PLAIN};
    if (sq_request_argument(req, "name", &name) != SQ_OK)
        return sq_respond(req, 400, h, 1, "missing argument name", 21);
    sq_response_status(req, 200, NULL);
    sq_response_header(req, "Content-Type", "text/plain; charset=utf-8", 25, 1);
    sq_response_write(req, "name=", 5);
    sq_response_write(req, name.ptr, name.len);
    return sq_response_finish(req);
}

static sq_status stream(void *ud, sq_request *req) {
    (void)ud;
    sq_response_header(req, "Content-Type", "text/plain", 10, 1);
    for (int i = 0; i < 5; i++) {
        char line[32];
        int n = snprintf(line, sizeof line, "chunk %d\n", i);
        sq_status st = sq_response_write(req, line, (size_t)n);
        if (st == SQ_OK) st = sq_response_flush(req);
        if (st != SQ_OK) return st == SQ_ERR_CLOSED ? SQ_OK : st;
    }
    return sq_response_finish(req);
}

struct slow {
    sq_request *req;
    unsigned long ms;
};

static void slow_done(void *ud, sq_timer_id id) {
    (void)id;
    struct slow *s = ud;
    char out[64];
    int n = snprintf(out, sizeof out, "slept %lu", s->ms);
    static const sq_header h[] = {TEXT_PLAIN};
    sq_respond(s->req, 200, h, 1, out, (size_t)n); /* SQ_ERR_CLOSED if the client left: fine */
    free(s);
}

static sq_status slow(void *ud, sq_request *req) {
    (void)ud;
    sq_str ms;
    static const sq_header h[] = {TEXT_PLAIN};
    if (sq_request_argument(req, "ms", &ms) != SQ_OK || ms.len == 0 || ms.len > 9)
        return sq_respond(req, 400, h, 1, "ms must be a number of milliseconds", 35);
    unsigned long v = 0;
    for (size_t i = 0; i < ms.len; i++) {
        if (ms.ptr[i] < '0' || ms.ptr[i] > '9') return sq_respond(req, 400, h, 1, "ms must be a number", 19);
        v = v * 10 + (unsigned long)(ms.ptr[i] - '0');
    }
    struct slow *s = malloc(sizeof *s);
    if (s == NULL) return SQ_ERR_LIMIT;
    s->req = req;
    s->ms = v;
    sq_status st = sq_call_later(loop, v, slow_done, s, NULL);
    if (st != SQ_OK) free(s);
    return st;
}

static void *defer_thread(void *arg) {
    sq_request *req = arg;
    static const sq_header h[] = {TEXT_PLAIN};
    sq_respond(req, 200, h, 1, "deferred", 8); /* from a thread squall does not know */
    return NULL;
}

static sq_status defer(void *ud, sq_request *req) {
    (void)ud;
    pthread_t t;
    if (pthread_create(&t, NULL, defer_thread, req) != 0) return SQ_ERR_LIMIT;
    pthread_detach(t);
    return SQ_OK;
}

static sq_status headers(void *ud, sq_request *req) {
    (void)ud;
    sq_str v = {"", 0};
    sq_request_header(req, "X-Test", &v);
    sq_header h[] = {TEXT_PLAIN, {"X-Echo", v.ptr, v.len}};
    return sq_respond(req, 200, h, 2, "ok", 2);
}

static sq_status status(void *ud, sq_request *req) {
    (void)ud;
    sq_str code;
    if (sq_request_capture(req, 0, &code) != SQ_OK || code.len != 3) {
        static const sq_header h[] = {TEXT_PLAIN};
        return sq_respond(req, 400, h, 1, "status must have 3 digits", 25);
    }
    int c = (code.ptr[0] - '0') * 100 + (code.ptr[1] - '0') * 10 + (code.ptr[2] - '0');
    if (c < 200) c = 400; /* 1xx are not final responses */
    int empty = c == 204 || c == 304;
    static const sq_header h[] = {TEXT_PLAIN};
    return sq_respond(req, c, h, empty ? 0 : 1, empty ? NULL : "status", empty ? 0 : 6);
}

static sq_status fail(void *ud, sq_request *req) {
    (void)ud;
    (void)req;
    return SQ_ERR_INVALID_ARG; /* a failing handler: squall answers 500 */
}

/* ---- the cluster (SQUALL_CLUSTER) ----------------------------------------- */

static sq_cluster *cluster;

static const char *const cluster_states[] = {"connecting", "connected", "lost", "resynced", "gap"};

static void on_cluster_state(void *ud, int state) {
    (void)ud;
    printf("cluster %s\n", state >= 0 && state <= 4 ? cluster_states[state] : "unknown");
    fflush(stdout);
}

static sq_status cluster_info(void *ud, sq_request *req) {
    (void)ud;
    static const char *const names[] = {"published", "outbox_full", "outbox", "received", "delivered",
                                        "echo", "gaps", "repeats", "junk", "oversized", "bad_topic",
                                        "reconnects", "subscribed"};
    char buf[1024];
    int state = sq_cluster_state(cluster);
    int n = snprintf(buf, sizeof buf, "state %s\n", state >= 0 && state <= 4 ? cluster_states[state] : "unknown");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        n += snprintf(buf + n, sizeof buf - (size_t)n, "%s %lld\n", names[i], (long long)sq_cluster_counter(cluster, names[i]));
    static const sq_header h[] = {TEXT_PLAIN};
    return sq_respond(req, 200, h, 1, buf, (size_t)n);
}

static void on_shutdown_done(void *ud) {
    (void)ud;
    sq_loop_stop(loop);
}

/* ---- WebSockets ---------------------------------------------------------- */

static void ws_echo_message(void *ud, sq_ws *ws, const void *data, size_t len, int opcode) {
    (void)ud;
    /* SQ_BACKPRESSURE and SQ_ERR_LIMIT (a client that does not read) are the
     * route's policy at work: nothing to do here. */
    sq_ws_send(ws, data, len, opcode);
}

static void ws_chat_open(void *ud, sq_ws *ws, sq_request *req) {
    (void)ud;
    (void)req;
    if (sq_ws_subscribe(ws, "chat") != SQ_OK) fprintf(stderr, "subscribe: %s\n", sq_last_error());
}

static void ws_chat_message(void *ud, sq_ws *ws, const void *data, size_t len, int opcode) {
    (void)ud;
    (void)ws;
    if (sq_publish(server, "chat", data, len, opcode) != SQ_OK) fprintf(stderr, "publish: %s\n", sq_last_error());
}

static int ws_routes(uint32_t inline_flag) {
    sq_ws_options o;
    sq_ws_options_init(&o, sizeof o);
    o.max_message_size = 64u << 20;
    o.max_backpressure = 80u << 20; /* room for one 64 MiB echo and then some */
    o.flags = inline_flag;
    o.compression = SQ_WS_COMPRESSION_SHARED; /* permessage-deflate when the client offers it */
    const char *t;
    if ((t = getenv("SQUALL_WS_PING_MS"))) o.ping_interval_ms = strtoull(t, NULL, 10);
    if ((t = getenv("SQUALL_WS_IDLE_MS"))) o.idle_timeout_ms = strtoull(t, NULL, 10);
    sq_ws_callbacks echo_cb = {.size = sizeof echo_cb, .on_message = ws_echo_message};
    sq_ws_callbacks chat_cb = {.size = sizeof chat_cb, .on_open = ws_chat_open, .on_message = ws_chat_message};
    if (sq_ws_route(server, "/ws/echo", &echo_cb, &o, NULL) != SQ_OK ||
        sq_ws_route(server, "/ws/chat", &chat_cb, &o, NULL) != SQ_OK) {
        fprintf(stderr, "ws route: %s\n", sq_last_error());
        return 1;
    }
    return 0;
}

/* https and wss when SQUALL_TLS_CERT and SQUALL_TLS_KEY name PEM files
 * (a chain, then its key); SQUALL_TLS_CERT2/SQUALL_TLS_KEY2 add a second
 * certificate chosen by SNI. The files are read again on SIGHUP (a reload:
 * new connections get the new certificates). Returns 0 when TLS is off. */
static int load_tls(void) {
    const char *cert = getenv("SQUALL_TLS_CERT"), *key = getenv("SQUALL_TLS_KEY");
    if (!cert || !key) return 0;
    const char *cert2 = getenv("SQUALL_TLS_CERT2"), *key2 = getenv("SQUALL_TLS_KEY2");
    sq_tls_config *tls = sq_tls_config_new(NULL);
    int ok = tls && sq_tls_config_add_cert_file(tls, cert, key) == SQ_OK &&
             (!cert2 || !key2 || sq_tls_config_add_cert_file(tls, cert2, key2) == SQ_OK) &&
             sq_server_set_tls(server, tls) == SQ_OK;
    if (!ok) fprintf(stderr, "TLS: %s\n", sq_last_error());
    sq_tls_config_free(tls);
    return ok ? 1 : -1;
}

/* SIGINT/SIGTERM: graceful shutdown (requests in flight get up to
 * SQUALL_SHUTDOWN_MS, default 5000 ms); a second signal stops at once.
 * SIGHUP: reload the TLS certificates. */
static void *signal_waiter(void *arg) {
    (void)arg;
    sigset_t set;
    int sig, stops = 0;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    const char *d = getenv("SQUALL_SHUTDOWN_MS");
    uint64_t deadline = d ? strtoull(d, NULL, 10) : 5000;
    while (stops < 2 && sigwait(&set, &sig) == 0) {
        if (sig == SIGHUP) {
            if (load_tls() > 0) printf("TLS certificates reloaded\n");
            fflush(stdout);
            continue;
        }
        if (stops++ == 0 && sq_server_shutdown(server, deadline, on_shutdown_done, NULL) == SQ_OK) continue;
        sq_loop_stop(loop);
        break;
    }
    return NULL;
}

#define ROUTE(m, p, h, f)                                                          \
    do {                                                                           \
        if (sq_route(server, m, p, h, NULL, f) != SQ_OK) {                         \
            fprintf(stderr, "route %s %s: %s\n", m, p, sq_last_error());           \
            return 1;                                                              \
        }                                                                          \
    } while (0)

int main(void) {
    const char *port_env = getenv("PORT");
    const char *io_env = getenv("SQUALL_IO_THREADS");
    const char *inline_env = getenv("SQUALL_INLINE");
    int port = port_env ? atoi(port_env) : 8888;
    if (port < 0 || port > 65535) {
        fprintf(stderr, "PORT must be 0-65535\n");
        return 2;
    }

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    loop = sq_loop_new();
    if (io_env && sq_loop_set_io_threads(loop, (uint32_t)atoi(io_env)) != SQ_OK) {
        fprintf(stderr, "SQUALL_IO_THREADS: %s\n", sq_last_error());
        return 2;
    }
    server = sq_server_new(loop);
    sq_server_set_max_body_size(server, 64u << 20);
    /* the conformance suite shortens the timeouts to test them */
    const char *t;
    if ((t = getenv("SQUALL_HEADER_TIMEOUT_MS"))) sq_server_set_header_timeout_ms(server, strtoull(t, NULL, 10));
    if ((t = getenv("SQUALL_BODY_TIMEOUT_MS"))) sq_server_set_body_timeout_ms(server, strtoull(t, NULL, 10));
    if ((t = getenv("SQUALL_IDLE_TIMEOUT_MS"))) sq_server_set_idle_timeout_ms(server, strtoull(t, NULL, 10));
    if ((t = getenv("SQUALL_STATIC_DIR")) && sq_server_static(server, "/static/", t) != SQ_OK) {
        fprintf(stderr, "SQUALL_STATIC_DIR: %s\n", sq_last_error());
        return 2;
    }
    uint32_t inline_flag = (inline_env && inline_env[0] == '1') ? SQ_INLINE : 0;
    ROUTE("GET", "/", hello, inline_flag);
    ROUTE("POST", "/echo", echo, 0);
    ROUTE("GET", "/args/([a-z0-9]+)/(\\d+)", args, 0);
    ROUTE("GET", "/query", query, 0);
    ROUTE("GET", "/stream", stream, 0);
    ROUTE("GET", "/slow", slow, 0);
    ROUTE("GET", "/defer", defer, 0);
    ROUTE("GET", "/headers", headers, 0);
    ROUTE("GET", "/status/(\\d+)", status, 0);
    ROUTE("GET", "/error", fail, 0);
    if (sq_server_metrics_route(server, "/metrics") != SQ_OK) {
        fprintf(stderr, "metrics route: %s\n", sq_last_error());
        return 1;
    }
    if (ws_routes(inline_flag)) return 1;
    if ((t = getenv("SQUALL_CLUSTER")) && *t) {
        cluster = sq_cluster_new(loop, t);
        if (!cluster) {
            fprintf(stderr, "SQUALL_CLUSTER: %s\n", sq_last_error());
            return 2;
        }
        sq_cluster_on_state(cluster, on_cluster_state, NULL);
        if (sq_cluster_attach(cluster, server) != SQ_OK) {
            fprintf(stderr, "SQUALL_CLUSTER: %s\n", sq_last_error());
            return 2;
        }
        ROUTE("GET", "/cluster", cluster_info, 0);
    }

    int tls = load_tls();
    if (tls < 0) return 2;
    const char *scheme = tls ? "https" : "http";

    uint16_t bound = 0;
    if (sq_server_listen(server, "127.0.0.1", (uint16_t)port, &bound) != SQ_OK) {
        fprintf(stderr, "listen: %s\n", sq_last_error());
        return 1;
    }
    pthread_t sig_thread;
    pthread_create(&sig_thread, NULL, signal_waiter, NULL);
    pthread_detach(sig_thread);
    printf("squall %s demo server on %s://127.0.0.1:%u/\n", sq_version(), scheme, bound);
    fflush(stdout);
    sq_status st = sq_loop_run(loop);
    sq_cluster_free(cluster);
    sq_server_free(server);
    sq_loop_free(loop);
    return st == SQ_OK ? 0 : 1;
}
