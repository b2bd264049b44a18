/* The HTTP server through the C ABI, over real sockets: deferred responses
 * from 8 threads, responding twice, responding after the client left (with
 * the on-close callback), stale and forged request handles, header injection
 * refused, a failing handler (500), requests aborted (sq_request_abort)
 * before and after the head, an inline handler, and a graceful
 * shutdown with a request in flight, a listening socket handed over by the
 * caller (sq_server_listen_fd). Run with io_threads
 * 1, 0 and 2. */
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdint.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include "check.h"
#include "http_client.h"

#define WORKERS 8
#define CLIENTS 8
#define PER_CLIENT 60

static sq_loop *lp;
static sq_server *srv;
static int port;
static int adopted_port; /* a socket bound here and handed over with sq_server_listen_fd */
static pthread_t host;

/* ---- a queue of deferred requests answered by worker threads ---- */
static pthread_mutex_t qm = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t qc = PTHREAD_COND_INITIALIZER;
static sq_request *queue[CLIENTS * PER_CLIENT + WORKERS];
static int qhead, qtail;

static void push(sq_request *r) {
    pthread_mutex_lock(&qm);
    queue[qtail++] = r;
    pthread_cond_signal(&qc);
    pthread_mutex_unlock(&qm);
}

static sq_request *pop(void) {
    pthread_mutex_lock(&qm);
    while (qhead == qtail) pthread_cond_wait(&qc, &qm);
    sq_request *r = queue[qhead++];
    pthread_mutex_unlock(&qm);
    return r;
}

static void *worker(void *arg) {
    (void)arg;
    CHECK_EQ(sq_batch_end(), SQ_ERR_STATE); /* no batch open on this thread */
    for (unsigned i = 0;; i++) {
        sq_request *req = pop();
        if (req == NULL) return NULL; /* stop marker */
        /* every other answer goes inside a (nested) batch, sent at its outermost end */
        int batched = i % 2;
        if (batched) {
            CHECK_EQ(sq_batch_begin(), SQ_OK);
            CHECK_EQ(sq_batch_begin(), SQ_OK);
        }
        sq_str n;
        CHECK_EQ(sq_request_capture(req, 0, &n), SQ_OK);
        char body[64];
        int len = snprintf(body, sizeof body, "deferred %.*s", (int)n.len, n.ptr);
        CHECK_EQ(sq_respond(req, 200, NULL, 0, body, (size_t)len), SQ_OK);
        /* the handle is stale now, whatever thread asks */
        CHECK_EQ(sq_respond(req, 200, NULL, 0, "x", 1), SQ_ERR_ALREADY_DONE);
        CHECK_EQ(sq_request_capture(req, 0, &n), SQ_ERR_ALREADY_DONE);
        if (batched) {
            CHECK_EQ(sq_batch_end(), SQ_OK);
            CHECK_EQ(sq_batch_end(), SQ_OK);
        }
    }
}

static sq_status h_defer(void *ud, sq_request *req) {
    (void)ud;
    CHECK(pthread_equal(pthread_self(), host));
    push(req);
    return SQ_OK;
}

static sq_status h_twice(void *ud, sq_request *req) {
    (void)ud;
    sq_str m;
    CHECK_EQ(sq_request_method(req, &m), SQ_OK);
    CHECK(m.len == 3 && memcmp(m.ptr, "GET", 3) == 0);
    CHECK_EQ(sq_respond(req, 200, NULL, 0, "once", 4), SQ_OK);
    CHECK_EQ(sq_respond(req, 200, NULL, 0, "twice", 5), SQ_ERR_ALREADY_DONE);
    CHECK(strlen(sq_last_error()) > 0);
    CHECK_EQ(sq_response_write(req, "x", 1), SQ_ERR_ALREADY_DONE);
    CHECK_EQ(sq_response_finish(req), SQ_ERR_ALREADY_DONE);
    CHECK_EQ(sq_request_method(req, &m), SQ_ERR_ALREADY_DONE);
    return SQ_OK;
}

/* Answers "<major>.<minor> <peer port>" (sq_request_version, sq_request_remote_port). */
static sq_status h_peer(void *ud, sq_request *req) {
    (void)ud;
    uint32_t major = 0, minor = 0;
    uint16_t pport = 0;
    CHECK_EQ(sq_request_version(req, &major, &minor), SQ_OK);
    CHECK_EQ(sq_request_version(req, NULL, &minor), SQ_ERR_NULL);
    CHECK_EQ(sq_request_remote_port(req, &pport), SQ_OK);
    CHECK_EQ(sq_request_remote_port(req, NULL), SQ_ERR_NULL);
    char out[64];
    int n = snprintf(out, sizeof out, "%u.%u %u", major, minor, (unsigned)pport);
    CHECK_EQ(sq_respond(req, 200, NULL, 0, out, (size_t)n), SQ_OK);
    CHECK_EQ(sq_request_remote_port(req, &pport), SQ_ERR_ALREADY_DONE);
    CHECK_EQ(sq_request_version(req, &major, &minor), SQ_ERR_ALREADY_DONE);
    return SQ_OK;
}

/* sq_response_set_length: a streamed body of declared length goes out
 * unchunked; sq_response_backlog answers while it is sent. */
static sq_status h_length(void *ud, sq_request *req) {
    (void)ud;
    size_t backlog = 99;
    CHECK_EQ(sq_response_set_length(req, 10), SQ_OK);
    CHECK_EQ(sq_response_write(req, "01234", 5), SQ_OK);
    CHECK_EQ(sq_response_flush(req), SQ_OK);
    CHECK_EQ(sq_response_set_length(req, 11), SQ_ERR_STATE); /* the head is out */
    CHECK_EQ(sq_response_backlog(req, &backlog), SQ_OK);
    CHECK(backlog <= 1024);
    CHECK_EQ(sq_response_backlog(req, NULL), SQ_ERR_NULL);
    CHECK_EQ(sq_response_write(req, "56789", 5), SQ_OK);
    CHECK_EQ(sq_response_finish(req), SQ_OK);
    CHECK_EQ(sq_response_backlog(req, &backlog), SQ_ERR_ALREADY_DONE);
    return SQ_OK;
}

/* A body that does not come to the declared length: SQ_ERR_LIMIT, and the
 * client gets a cut response (the head, what fits, then the close). */
static sq_status h_short(void *ud, sq_request *req) {
    (void)ud;
    CHECK_EQ(sq_response_set_length(req, 10), SQ_OK);
    CHECK_EQ(sq_respond(req, 200, NULL, 0, "abc", 3), SQ_ERR_LIMIT);
    CHECK_EQ(sq_respond(req, 200, NULL, 0, "abc", 3), SQ_ERR_ALREADY_DONE);
    return SQ_OK;
}

/* The fallback route: registered first, tried last. */
static sq_status h_fallback(void *ud, sq_request *req) {
    (void)ud;
    return sq_respond(req, 404, NULL, 0, "fallback", 8);
}

static sq_status h_badheader(void *ud, sq_request *req) {
    (void)ud;
    CHECK_EQ(sq_response_header(req, "X-Bad", "a\r\nInjected: 1", 14, 0), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_response_header(req, "X-Bad", "a\0b", 3, 0), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_response_header(req, "Bad Name", "v", 1, 0), SQ_ERR_INVALID_ARG);
    sq_header bad = {"X-Evil", "v\nx", 3};
    CHECK_EQ(sq_respond(req, 200, &bad, 1, "no", 2), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_response_status(req, 42, NULL), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_response_status(req, 200, "Fine\r\n"), SQ_ERR_INVALID_ARG);
    /* nothing was sent: the request is still answerable */
    sq_header good = {"X-Good", "yes", 3};
    CHECK_EQ(sq_respond(req, 200, &good, 1, "fine", 4), SQ_OK);
    return SQ_OK;
}

/* sq_request_abort: nothing sent (the client sees the connection close), or
 * a started response cut before its last chunk. */
static sq_status h_abort(void *ud, sq_request *req) {
    (void)ud;
    CHECK_EQ(sq_request_abort(req), SQ_OK);
    CHECK_EQ(sq_request_abort(req), SQ_ERR_ALREADY_DONE);
    CHECK_EQ(sq_respond(req, 200, NULL, 0, "late", 4), SQ_ERR_ALREADY_DONE);
    return SQ_OK;
}

static sq_status h_abort_started(void *ud, sq_request *req) {
    (void)ud;
    CHECK_EQ(sq_response_write(req, "part", 4), SQ_OK);
    CHECK_EQ(sq_response_flush(req), SQ_OK);
    CHECK_EQ(sq_request_abort(req), SQ_OK);
    CHECK_EQ(sq_response_finish(req), SQ_ERR_ALREADY_DONE);
    CHECK_EQ(sq_request_abort(NULL), SQ_ERR_NULL);
    return SQ_OK;
}

static sq_request *left_req;
static atomic_int left_registered, left_closed;

static void on_left_close(void *ud) {
    CHECK(ud == &left_registered);
    CHECK(pthread_equal(pthread_self(), host));
    CHECK_EQ(sq_respond(left_req, 200, NULL, 0, "late", 4), SQ_ERR_CLOSED);
    CHECK(strstr(sq_last_error(), "closed") != NULL);
    /* a finishing call that saw SQ_ERR_CLOSED released the handle */
    CHECK_EQ(sq_respond(left_req, 200, NULL, 0, "late", 4), SQ_ERR_ALREADY_DONE);
    atomic_store(&left_closed, 1);
}

static sq_status h_leave(void *ud, sq_request *req) {
    (void)ud;
    left_req = req;
    CHECK_EQ(sq_request_on_close(req, on_left_close, &left_registered), SQ_OK);
    atomic_store(&left_registered, 1);
    return SQ_OK;
}

static sq_status h_fail(void *ud, sq_request *req) {
    (void)ud;
    (void)req;
    return SQ_ERR_INVALID_ARG;
}

static sq_status h_inline(void *ud, sq_request *req) {
    (void)ud;
    unsigned io = *(unsigned *)ud == 0;
    /* inline handlers run on the reactor thread (the host thread when io_threads is 0) */
    CHECK(io ? pthread_equal(pthread_self(), host) : !pthread_equal(pthread_self(), host));
    sq_str v;
    CHECK_EQ(sq_request_header(req, "X-Missing", &v), SQ_ERR_NOT_FOUND);
    return sq_respond(req, 200, NULL, 0, "inline", 6);
}

static sq_request *held;
static atomic_int held_ready, shutdown_finished;

static sq_status h_hold(void *ud, sq_request *req) {
    (void)ud;
    held = req;
    atomic_store(&held_ready, 1);
    return SQ_OK;
}

static void on_shutdown_done(void *ud) {
    CHECK(ud == &shutdown_finished);
    CHECK(pthread_equal(pthread_self(), host));
    atomic_store(&shutdown_finished, 1);
    CHECK_EQ(sq_loop_stop(lp), SQ_OK);
}

static void *held_client(void *arg) {
    (void)arg;
    char body[64];
    CHECK_EQ(http_get(port, "/hold", body, sizeof body), 200);
    CHECK(strcmp(body, "held") == 0);
    return NULL;
}

/* ---- streamed request bodies ---- */
struct upload {
    unsigned long long bytes;
    uint32_t sum;
    int calls;
};

static void on_chunk(void *ud, sq_request *req, const void *data, size_t len, int last) {
    struct upload *u = ud;
    CHECK(pthread_equal(pthread_self(), host));
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) u->sum = u->sum * 31u + p[i];
    u->bytes += len;
    u->calls++;
    if (last) {
        char out[64];
        int n = snprintf(out, sizeof out, "%llu %u", u->bytes, u->sum);
        CHECK_EQ(sq_respond(req, 200, NULL, 0, out, (size_t)n), SQ_OK);
        free(u);
    }
}

static sq_status h_upload(void *ud, sq_request *req) {
    (void)ud;
    sq_str body;
    CHECK_EQ(sq_request_body(req, &body), SQ_OK);
    CHECK_EQ(body.len, 0); /* streamed: nothing collected */
    struct upload *u = calloc(1, sizeof *u);
    CHECK_EQ(sq_request_on_body(req, on_chunk, u), SQ_OK);
    CHECK_EQ(sq_request_on_body(req, on_chunk, u), SQ_ERR_ALREADY_DONE);
    return SQ_OK;
}

static sq_status h_not_streamed(void *ud, sq_request *req) {
    (void)ud;
    CHECK_EQ(sq_request_on_body(req, on_chunk, NULL), SQ_ERR_STATE);
    return sq_respond(req, 200, NULL, 0, "plain", 5);
}

static void send_all(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        CHECK(n > 0);
        p += n;
        len -= (size_t)n;
    }
}

/* GET /peer with `version` ("1.0" or "1.1") from a socket whose port is known:
 * the body must name that version and port. */
static void check_peer(const char *version) {
    int fd = http_connect(port);
    CHECK(fd >= 0);
    struct sockaddr_in me;
    socklen_t mlen = sizeof me;
    CHECK_EQ(getsockname(fd, (struct sockaddr *)&me, &mlen), 0);
    char req[128], buf[1024], want[64];
    int n = snprintf(req, sizeof req, "GET /peer HTTP/%s\r\nHost: t\r\nConnection: close\r\n\r\n", version);
    send_all(fd, req, (size_t)n);
    size_t got = 0;
    for (;;) {
        ssize_t r = read(fd, buf + got, sizeof buf - 1 - got);
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = 0;
    snprintf(want, sizeof want, "\r\n\r\n%s %u", version, (unsigned)ntohs(me.sin_port));
    CHECK(strstr(buf, want) != NULL);
}

/* POSTs `total` pattern bytes to /upload (chunked or with a length) and
 * checks the byte count and checksum the server computed. */
static void upload(size_t total, int chunked) {
    int fd = http_connect(port);
    CHECK(fd >= 0);
    char head[256];
    int n = chunked ? snprintf(head, sizeof head, "POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
                    : snprintf(head, sizeof head, "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", total);
    send_all(fd, head, (size_t)n);
    static unsigned char buf[65536];
    uint32_t sum = 0;
    size_t sent = 0;
    while (sent < total) {
        size_t k = total - sent < sizeof buf ? total - sent : sizeof buf;
        for (size_t i = 0; i < k; i++) {
            buf[i] = (unsigned char)((sent + i) * 7 + 3);
            sum = sum * 31u + buf[i];
        }
        if (chunked) {
            char line[32];
            int m = snprintf(line, sizeof line, "%zx\r\n", k);
            send_all(fd, line, (size_t)m);
        }
        send_all(fd, buf, k);
        if (chunked) send_all(fd, "\r\n", 2);
        sent += k;
    }
    if (chunked) send_all(fd, "0\r\n\r\n", 5);
    char resp[512];
    size_t got = 0;
    for (;;) {
        ssize_t r = read(fd, resp + got, sizeof resp - 1 - got);
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    resp[got] = 0;
    char expect[64];
    snprintf(expect, sizeof expect, "\r\n\r\n%zu %u", total, sum);
    CHECK(strncmp(resp, "HTTP/1.1 200", 12) == 0);
    CHECK(strstr(resp, expect) != NULL);
}

static void *client(void *arg) {
    int id = (int)(long)arg;
    for (int i = 0; i < PER_CLIENT; i++) {
        char path[64], body[256], expect[64];
        int n = id * 1000 + i;
        snprintf(path, sizeof path, "/defer/%d", n);
        snprintf(expect, sizeof expect, "deferred %d", n);
        CHECK_EQ(http_get(port, path, body, sizeof body), 200);
        CHECK(strcmp(body, expect) == 0);
    }
    return NULL;
}

static void *driver(void *arg) {
    (void)arg;
    char body[256];
    pthread_t workers[WORKERS], clients[CLIENTS];
    for (int i = 0; i < WORKERS; i++) CHECK_EQ(pthread_create(&workers[i], NULL, worker, NULL), 0);
    for (long i = 0; i < CLIENTS; i++) CHECK_EQ(pthread_create(&clients[i], NULL, client, (void *)i), 0);
    for (int i = 0; i < CLIENTS; i++) CHECK_EQ(pthread_join(clients[i], NULL), 0);
    for (int i = 0; i < WORKERS; i++) push(NULL);
    for (int i = 0; i < WORKERS; i++) CHECK_EQ(pthread_join(workers[i], NULL), 0);

    CHECK_EQ(http_get(port, "/twice", body, sizeof body), 200);
    CHECK(strcmp(body, "once") == 0);
    CHECK_EQ(http_get(port, "/nowhere", body, sizeof body), 404);
    CHECK(strcmp(body, "fallback") == 0);
    {
        char raw[1024];
        CHECK_EQ(http_exchange(port, "GET /length HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", raw, sizeof raw), 200);
        CHECK(strcmp(raw, "0123456789") == 0);
        /* http_exchange keeps only the body: look at the head through its buffer */
        int fd = http_connect(port);
        const char *rq = "GET /length HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
        CHECK(write(fd, rq, strlen(rq)) == (ssize_t)strlen(rq));
        size_t got = 0;
        for (ssize_t n; (n = read(fd, raw + got, sizeof raw - 1 - got)) > 0;) got += (size_t)n;
        close(fd);
        raw[got] = 0;
        CHECK(strstr(raw, "Content-Length: 10\r\n") != NULL);
        CHECK(strstr(raw, "Transfer-Encoding") == NULL);
        fd = http_connect(port);
        rq = "GET /short HTTP/1.1\r\nHost: t\r\n\r\n"; /* keep-alive asked: the cut closes all the same */
        CHECK(write(fd, rq, strlen(rq)) == (ssize_t)strlen(rq));
        got = 0;
        for (ssize_t n; (n = read(fd, raw + got, sizeof raw - 1 - got)) > 0;) got += (size_t)n;
        close(fd);
        raw[got] = 0;
        CHECK(strstr(raw, "Content-Length: 10\r\n") != NULL);
        CHECK(strcmp(strstr(raw, "\r\n\r\n") + 4, "abc") == 0); /* 3 of the 10 bytes, then the close */
    }
    CHECK_EQ(http_get(port, "/badheader", body, sizeof body), 200);
    CHECK(strcmp(body, "fine") == 0);
    CHECK_EQ(http_get(port, "/error", body, sizeof body), 500);
    CHECK_EQ(http_get(port, "/abort", body, sizeof body), -1); /* closed, no response */
    CHECK_EQ(http_get(port, "/abort-started", body, sizeof body), 200);
    CHECK(strstr(body, "part") != NULL && strstr(body, "0\r\n\r\n") == NULL); /* no last chunk */
    check_peer("1.0");
    check_peer("1.1");
    upload(3u << 20, 0); /* past the 1 MiB flow-control mark */
    upload(3u << 20, 1);
    upload(0, 0);
    CHECK_EQ(http_exchange(port, "POST /plain HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi", body, sizeof body), 200);
    CHECK(strcmp(body, "plain") == 0);
    CHECK_EQ(http_get(port, "/inline", body, sizeof body), 200);
    CHECK(strcmp(body, "inline") == 0);
    for (int i = 0; i < 4; i++) { /* every reactor accepts from the adopted socket */
        CHECK_EQ(http_get(adopted_port, "/twice", body, sizeof body), 200);
        CHECK(strcmp(body, "once") == 0);
    }

    /* a client that leaves before its answer */
    int fd = http_connect(port);
    CHECK(fd >= 0);
    const char *req = "GET /leave HTTP/1.1\r\nHost: t\r\n\r\n";
    CHECK_EQ(write(fd, req, strlen(req)), (long)strlen(req));
    long long start = now_ns();
    while (!atomic_load(&left_registered)) {
        CHECK(now_ns() - start < 10LL * 1000000000LL);
        sleep_ms(1);
    }
    close(fd);
    while (!atomic_load(&left_closed)) {
        CHECK(now_ns() - start < 10LL * 1000000000LL);
        sleep_ms(1);
    }
    /* forged and NULL handles */
    CHECK_EQ(sq_respond((sq_request *)(uintptr_t)0x1234567, 200, NULL, 0, NULL, 0), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_respond(NULL, 200, NULL, 0, NULL, 0), SQ_ERR_NULL);
    sq_str s;
    CHECK_EQ(sq_request_path((sq_request *)(uintptr_t)0xfff0, &s), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_request_body(NULL, &s), SQ_ERR_NULL);
    /* still serving */
    CHECK_EQ(http_get(port, "/twice", body, sizeof body), 200);

    /* graceful shutdown from this (non-host) thread with a request in flight */
    pthread_t hc;
    CHECK_EQ(pthread_create(&hc, NULL, held_client, NULL), 0);
    start = now_ns();
    while (!atomic_load(&held_ready)) {
        CHECK(now_ns() - start < 10LL * 1000000000LL);
        sleep_ms(1);
    }
    CHECK_EQ(sq_server_shutdown(srv, 20000, on_shutdown_done, &shutdown_finished), SQ_OK);
    CHECK_EQ(sq_server_shutdown(srv, 20000, on_shutdown_done, &shutdown_finished), SQ_ERR_ALREADY_DONE);
    for (;;) { /* new connections are refused once the reactors closed the listeners */
        int c = http_connect(port);
        if (c < 0) break;
        close(c);
        CHECK(now_ns() - start < 10LL * 1000000000LL);
        sleep_ms(5);
    }
    sleep_ms(50);
    CHECK_EQ(atomic_load(&shutdown_finished), 0); /* one request is still in flight */
    CHECK_EQ(sq_respond(held, 200, NULL, 0, "held", 4), SQ_OK);
    CHECK_EQ(pthread_join(hc, NULL), 0);
    while (!atomic_load(&shutdown_finished)) { /* on_shutdown_done stops the loop */
        CHECK(now_ns() - start < 10LL * 1000000000LL);
        sleep_ms(1);
    }
    return NULL;
}

/* Binds a socket here and hands it to the server; a descriptor that is not a
 * listening TCP socket is refused and stays the caller's. */
static int adopt_listener(void) {
    CHECK_EQ(sq_server_listen_fd(srv, -1, NULL), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_server_listen_fd(NULL, 0, NULL), SQ_ERR_NULL);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK_EQ(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    CHECK_EQ(sq_server_listen_fd(srv, fd, NULL), SQ_ERR_INVALID_ARG); /* not listening yet */
    CHECK(fcntl(fd, F_GETFD) != -1);                                  /* and still open */
    CHECK_EQ(listen(fd, 64), 0);
    uint16_t p = 0;
    CHECK_EQ(sq_server_listen_fd(srv, fd, &p), SQ_OK);
    socklen_t len = sizeof a;
    CHECK_EQ(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    CHECK_EQ(p, ntohs(a.sin_port));
    return p;
}

static void run(unsigned io_threads) {
    qhead = qtail = 0;
    atomic_store(&left_registered, 0);
    atomic_store(&left_closed, 0);
    atomic_store(&held_ready, 0);
    atomic_store(&shutdown_finished, 0);
    host = pthread_self();
    lp = sq_loop_new();
    CHECK_EQ(sq_loop_set_io_threads(lp, io_threads), SQ_OK);
    srv = sq_server_new(lp);
    CHECK(srv != NULL);
    CHECK_EQ(sq_route(srv, "GET", "/.*", h_fallback, NULL, SQ_FALLBACK), SQ_OK);
    CHECK_EQ(sq_route(srv, "GET", "/defer/(\\d+)", h_defer, NULL, 0), SQ_OK);
    CHECK_EQ(sq_route(srv, "GET", "/length", h_length, NULL, 0), SQ_OK);
    CHECK_EQ(sq_route(srv, "GET", "/short", h_short, NULL, 0), SQ_OK);
    CHECK_EQ(sq_route(srv, "GET", "/twice", h_twice, NULL, 0), SQ_OK);
    CHECK_EQ(sq_route(srv, "GET", "/badheader", h_badheader, NULL, 0), SQ_OK);
    CHECK_EQ(sq_route(srv, "GET", "/peer", h_peer, NULL, 0), SQ_OK);
    CHECK_EQ(sq_route(srv, "GET", "/leave", h_leave, NULL, 0), SQ_OK);
    CHECK_EQ(sq_route(srv, "GET", "/error", h_fail, NULL, 0), SQ_OK);
    CHECK_EQ(sq_route(srv, "GET", "/abort", h_abort, NULL, 0), SQ_OK);
    CHECK_EQ(sq_route(srv, "GET", "/abort-started", h_abort_started, NULL, 0), SQ_OK);
    CHECK_EQ(sq_route(srv, "GET", "/hold", h_hold, NULL, 0), SQ_OK);
    CHECK_EQ(sq_route(srv, "POST", "/upload", h_upload, NULL, SQ_STREAM_BODY), SQ_OK);
    CHECK_EQ(sq_route(srv, "POST", "/plain", h_not_streamed, NULL, 0), SQ_OK);
    CHECK_EQ(sq_route(srv, "POST", "/x", h_upload, NULL, SQ_STREAM_BODY | SQ_INLINE), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_route(srv, "GET", "/inline", h_inline, &io_threads, SQ_INLINE), SQ_OK);
    CHECK_EQ(sq_route(srv, "GET", "/(unclosed", h_fail, NULL, 0), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_route(srv, "GET", "/x", NULL, NULL, 0), SQ_ERR_NULL);
    CHECK_EQ(sq_route(srv, "GET", "/x", h_fail, NULL, 0x80), SQ_ERR_INVALID_ARG);
    /* flow limits: a high mark of at least 4096, a low one in 1..high */
    CHECK_EQ(sq_server_set_flow_limits(NULL, 1 << 20, 1 << 18), SQ_ERR_NULL);
    CHECK_EQ(sq_server_set_flow_limits(srv, 4095, 1024), SQ_ERR_INVALID_ARG);
    CHECK(strstr(sq_last_error(), "4096") != NULL);
    CHECK_EQ(sq_server_set_flow_limits(srv, 1 << 20, 0), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_server_set_flow_limits(srv, 1 << 20, (1 << 20) + 1), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_server_set_flow_limits(srv, 2 << 20, 512 << 10), SQ_OK);
    uint16_t p = 0;
    CHECK_EQ(sq_server_listen(srv, "127.0.0.1", 0, &p), SQ_OK);
    CHECK(p != 0);
    port = p;
    uint16_t p2 = 0;
    CHECK_EQ(sq_server_listen(srv, "127.0.0.1", p, &p2), SQ_OK); /* a sibling on the same port */
    CHECK_EQ(sq_server_listen(srv, "not a host name.invalid", 0, NULL), SQ_ERR_INVALID_ARG);
    adopted_port = adopt_listener();
    pthread_t d;
    CHECK_EQ(pthread_create(&d, NULL, driver, NULL), 0);
    CHECK_EQ(sq_loop_run(lp), SQ_OK);
    CHECK_EQ(pthread_join(d, NULL), 0);
    sq_server_free(srv);
    sq_server_free(NULL);
    sq_loop_free(lp);
    printf("test_server: io_threads=%u ok\n", io_threads);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    run(1);
    run(0);
    run(2);
    return 0;
}
