/* Raw TCP streams through the C ABI, over real sockets on 127.0.0.1:
 *  - an echo server (squall) and 40 squall clients at once, each checking
 *    its echo, then closing; the server side sees EOF and closes by itself;
 *  - blocking POSIX clients from threads sending 4 MB each while reading
 *    the echo; the server writes with backpressure (pause on
 *    SQ_BACKPRESSURE, resume in on_drain), then half-closes after EOF;
 *  - a squall client sending 3 MB to a sink that pauses reading for a
 *    while (sq_tcp_pause_reading / a timer / resume);
 *  - close from inside on_data (the reply still arrives), a reset peer
 *    (SQ_ERR_IO), abort, an inline (SQ_INLINE) listener;
 *  - connect refused, connect timeout (a backlog that is full), a name
 *    that resolves ("localhost") and one that does not;
 *  - misuse: NULL, forged and stale handles, bad sizes and flags;
 *  - the loop freed with streams open: no callback afterwards.
 * Run with io_threads 2, 1 and 0. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"

static sq_loop *lp;
static pthread_t host;
static atomic_int freed;

static void *host_main(void *arg) {
    (void)arg;
    CHECK_EQ(sq_loop_run(lp), SQ_OK);
    return NULL;
}

static int wait_for(atomic_int *v, int want, int ms) {
    for (int t = 0; t < ms && atomic_load(v) < want; t += 2) sleep_ms(2);
    return atomic_load(v) >= want;
}

static sq_tcp_options opts(void) {
    sq_tcp_options o;
    CHECK_EQ(sq_tcp_options_init(&o, sizeof o), SQ_OK);
    return o;
}

/* ---- the echo server ------------------------------------------------------ */

static atomic_int srv_accepted, srv_closed, srv_closed_ok, srv_drains, srv_pauses, srv_limit;

static void srv_connect(void *ud, sq_tcp *s, sq_status st) {
    (void)ud;
    CHECK(!atomic_load(&freed));
    CHECK_EQ(st, SQ_OK);
    CHECK(s != NULL);
    char ip[64];
    uint16_t port = 0;
    CHECK_EQ(sq_tcp_address(s, 1, ip, sizeof ip, &port), SQ_OK);
    CHECK(strcmp(ip, "127.0.0.1") == 0 && port != 0);
    CHECK_EQ(sq_tcp_address(s, 0, ip, 4, &port), SQ_ERR_LIMIT);
    atomic_fetch_add(&srv_accepted, 1);
}

static void srv_data(void *ud, sq_tcp *s, const void *data, size_t len) {
    (void)ud;
    CHECK(!atomic_load(&freed));
    CHECK(len > 0);
    sq_status st = sq_tcp_write(s, data, len);
    if (st == SQ_BACKPRESSURE) {
        atomic_fetch_add(&srv_pauses, 1);
        CHECK_EQ(sq_tcp_pause_reading(s), SQ_OK);
    } else if (st == SQ_ERR_LIMIT) {
        atomic_fetch_add(&srv_limit, 1);
    } else {
        CHECK_EQ(st, SQ_OK);
    }
}

static void srv_drain(void *ud, sq_tcp *s) {
    (void)ud;
    CHECK(!atomic_load(&freed));
    atomic_fetch_add(&srv_drains, 1);
    CHECK_EQ(sq_tcp_resume_reading(s), SQ_OK);
}

static void srv_close(void *ud, sq_tcp *s, sq_status st) {
    (void)ud;
    (void)s;
    CHECK(!atomic_load(&freed));
    atomic_fetch_add(&srv_closed, 1);
    if (st == SQ_OK) atomic_fetch_add(&srv_closed_ok, 1);
}

static const sq_tcp_callbacks srv_cb = {sizeof(sq_tcp_callbacks), srv_connect, srv_data, NULL, srv_drain, srv_close};

/* ---- squall echo clients -------------------------------------------------- */

#define CLIENTS 40

struct client {
    int id;
    char msg[64];
    size_t len, got;
    char buf[64];
    _Atomic(sq_tcp *) stream;
};
static struct client clients[CLIENTS];
static atomic_int cl_connected, cl_done, cl_closed, cl_closed_ok;

static void cl_connect(void *ud, sq_tcp *s, sq_status st) {
    struct client *c = ud;
    CHECK(!atomic_load(&freed));
    CHECK_EQ(st, SQ_OK);
    CHECK(sq_tcp_userdata(s) == c);
    atomic_store(&c->stream, s);
    atomic_fetch_add(&cl_connected, 1);
    /* in two pieces: the echo may come back in one or two */
    CHECK_EQ(sq_tcp_write(s, c->msg, 5), SQ_OK);
    CHECK_EQ(sq_tcp_write(s, c->msg + 5, c->len - 5), SQ_OK);
}

static void cl_data(void *ud, sq_tcp *s, const void *data, size_t len) {
    struct client *c = ud;
    CHECK(c->got + len <= c->len);
    memcpy(c->buf + c->got, data, len);
    c->got += len;
    if (c->got == c->len) {
        CHECK(memcmp(c->buf, c->msg, c->len) == 0);
        atomic_fetch_add(&cl_done, 1);
        CHECK_EQ(sq_tcp_close(s), SQ_OK);
        CHECK_EQ(sq_tcp_close(s), SQ_ERR_CLOSED);
        CHECK_EQ(sq_tcp_write(s, "x", 1), SQ_ERR_CLOSED);
    }
}

static void cl_close(void *ud, sq_tcp *s, sq_status st) {
    (void)ud;
    (void)s;
    CHECK(!atomic_load(&freed));
    atomic_fetch_add(&cl_closed, 1);
    if (st == SQ_OK) atomic_fetch_add(&cl_closed_ok, 1);
}

static const sq_tcp_callbacks cl_cb = {sizeof(sq_tcp_callbacks), cl_connect, cl_data, NULL, NULL, cl_close};

/* ---- blocking POSIX clients ------------------------------------------------ */

#define BIG (4 << 20)

static int posix_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
    return fd;
}

static unsigned char pattern_at(size_t i) { return (unsigned char)((i * 7 + (i >> 12)) & 0xff); }

static void *posix_writer(void *arg) {
    int fd = (int)(intptr_t)arg;
    static _Thread_local unsigned char chunk[32 << 10];
    for (size_t off = 0; off < BIG;) {
        size_t n = sizeof chunk < BIG - off ? sizeof chunk : BIG - off;
        for (size_t i = 0; i < n; i++) chunk[i] = pattern_at(off + i);
        ssize_t w = send(fd, chunk, n, MSG_NOSIGNAL);
        CHECK(w > 0);
        off += (size_t)w;
    }
    CHECK(shutdown(fd, SHUT_WR) == 0);
    return NULL;
}

static void *posix_client(void *arg) {
    int port = (int)(intptr_t)arg;
    int fd = posix_connect(port);
    pthread_t w;
    CHECK(pthread_create(&w, NULL, posix_writer, (void *)(intptr_t)fd) == 0);
    static _Thread_local unsigned char buf[64 << 10];
    size_t got = 0;
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        CHECK(poll(&p, 1, 20000) == 1);
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        CHECK(n >= 0);
        if (n == 0) break;
        for (ssize_t i = 0; i < n; i++) CHECK_EQ(buf[i], pattern_at(got + (size_t)i));
        got += (size_t)n;
    }
    CHECK_EQ(got, BIG);
    pthread_join(w, NULL);
    close(fd);
    return NULL;
}

/* ---- a sink that pauses, fed by a squall client ---------------------------- */

#define SINK_TOTAL (3 << 20)

static atomic_long sink_got;
static atomic_int sink_paused_once, sink_resumed, sink_closed;
static _Atomic(sq_tcp *) sink_stream;
static atomic_long sink_bytes_while_paused;

static void sink_resume(void *ud, sq_timer_id id) {
    (void)ud;
    (void)id;
    atomic_store(&sink_bytes_while_paused, atomic_load(&sink_got));
    CHECK_EQ(sq_tcp_resume_reading(atomic_load(&sink_stream)), SQ_OK);
    atomic_fetch_add(&sink_resumed, 1);
}

static void sink_connect(void *ud, sq_tcp *s, sq_status st) {
    (void)ud;
    CHECK_EQ(st, SQ_OK);
    atomic_store(&sink_stream, s);
}

static void sink_data(void *ud, sq_tcp *s, const void *data, size_t len) {
    (void)ud;
    const unsigned char *d = data;
    long at = atomic_load(&sink_got);
    for (size_t i = 0; i < len; i += 4093) CHECK_EQ(d[i], pattern_at((size_t)at + i));
    atomic_fetch_add(&sink_got, (long)len);
    if (!atomic_load(&sink_paused_once) && atomic_load(&sink_got) > (1 << 20)) {
        atomic_store(&sink_paused_once, 1);
        CHECK_EQ(sq_tcp_pause_reading(s), SQ_OK);
        CHECK_EQ(sq_call_later(lp, 150, sink_resume, NULL, NULL), SQ_OK);
    }
    if (atomic_load(&sink_got) == SINK_TOTAL) CHECK_EQ(sq_tcp_write(s, "ok", 2), SQ_OK);
}

static void sink_close(void *ud, sq_tcp *s, sq_status st) {
    (void)ud;
    (void)s;
    (void)st;
    atomic_fetch_add(&sink_closed, 1);
}

static const sq_tcp_callbacks sink_cb = {sizeof(sq_tcp_callbacks), sink_connect, sink_data, NULL, NULL, sink_close};

/* the feeding client: writes until BACKPRESSURE, goes on in on_drain */
static atomic_long feed_sent;
static atomic_int feed_drains, feed_ok, feed_closed, feed_bp;

static void feed_more(sq_tcp *s) {
    static unsigned char chunk[16 << 10];
    for (;;) {
        long off = atomic_load(&feed_sent);
        if (off >= SINK_TOTAL) return;
        size_t n = sizeof chunk;
        for (size_t i = 0; i < n; i++) chunk[i] = pattern_at((size_t)off + i);
        sq_status st = sq_tcp_write(s, chunk, n);
        CHECK(st == SQ_OK || st == SQ_BACKPRESSURE);
        CHECK(sq_tcp_buffered_amount(s) <= (256 << 10) + n);
        atomic_fetch_add(&feed_sent, (long)n);
        if (st == SQ_BACKPRESSURE) {
            atomic_fetch_add(&feed_bp, 1);
            return;
        }
    }
}

static void feed_connect(void *ud, sq_tcp *s, sq_status st) {
    (void)ud;
    CHECK_EQ(st, SQ_OK);
    feed_more(s);
}
static void feed_drain(void *ud, sq_tcp *s) {
    (void)ud;
    atomic_fetch_add(&feed_drains, 1);
    feed_more(s);
}
static void feed_data(void *ud, sq_tcp *s, const void *data, size_t len) {
    (void)ud;
    CHECK(len == 2 && memcmp(data, "ok", 2) == 0);
    atomic_fetch_add(&feed_ok, 1);
    CHECK_EQ(sq_tcp_close(s), SQ_OK);
}
static void feed_close(void *ud, sq_tcp *s, sq_status st) {
    (void)ud;
    (void)s;
    CHECK_EQ(st, SQ_OK);
    atomic_fetch_add(&feed_closed, 1);
}

static const sq_tcp_callbacks feed_cb = {sizeof(sq_tcp_callbacks), feed_connect, feed_data, NULL, feed_drain, feed_close};

/* ---- close from on_data, reset peers, abort ------------------------------- */

static atomic_int bye_closed, bye_status;

static void bye_data(void *ud, sq_tcp *s, const void *data, size_t len) {
    (void)ud;
    (void)data;
    (void)len;
    CHECK_EQ(sq_tcp_write(s, "bye", 3), SQ_OK);
    CHECK_EQ(sq_tcp_close(s), SQ_OK);
    CHECK_EQ(sq_tcp_write(s, "late", 4), SQ_ERR_CLOSED);
}
static void bye_close(void *ud, sq_tcp *s, sq_status st) {
    (void)ud;
    (void)s;
    atomic_store(&bye_status, st);
    atomic_fetch_add(&bye_closed, 1);
}
static const sq_tcp_callbacks bye_cb = {sizeof(sq_tcp_callbacks), NULL, bye_data, NULL, NULL, bye_close};

/* ---- connect outcomes ------------------------------------------------------ */

static atomic_int outcome_count, outcome_status;
static _Atomic(sq_tcp *) outcome_stream;

static void outcome_connect(void *ud, sq_tcp *s, sq_status st) {
    (void)ud;
    CHECK(!atomic_load(&freed));
    if (st == SQ_OK) {
        CHECK(s != NULL);
        atomic_store(&outcome_stream, s);
    } else {
        CHECK(s == NULL);
        CHECK(strlen(sq_last_error()) > 0);
    }
    atomic_store(&outcome_status, st);
    atomic_fetch_add(&outcome_count, 1);
}
static atomic_int outcome_closed, outcome_close_status, outcome_ended;
static void outcome_close(void *ud, sq_tcp *s, sq_status st) {
    (void)ud;
    (void)s;
    CHECK(!atomic_load(&freed));
    atomic_store(&outcome_close_status, st);
    atomic_fetch_add(&outcome_closed, 1);
}
static void outcome_end(void *ud, sq_tcp *s) {
    (void)ud;
    (void)s;
    CHECK(!atomic_load(&freed));
    atomic_fetch_add(&outcome_ended, 1);
}
static const sq_tcp_callbacks outcome_cb = {sizeof(sq_tcp_callbacks), outcome_connect, NULL, outcome_end, NULL, outcome_close};

static sq_status connect_outcome(const char *host, int port, uint64_t timeout_ms, int ms) {
    atomic_store(&outcome_count, 0);
    atomic_store(&outcome_stream, NULL);
    sq_tcp_options o = opts();
    o.connect_timeout_ms = timeout_ms;
    CHECK_EQ(sq_tcp_connect(lp, host, (uint16_t)port, &outcome_cb, &o, NULL), SQ_OK);
    CHECK(wait_for(&outcome_count, 1, ms));
    return atomic_load(&outcome_status);
}

/* A port nobody listens on: bound, then closed. */
static int closed_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
    socklen_t n = sizeof a;
    CHECK(getsockname(fd, (struct sockaddr *)&a, &n) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* ---- misuse ---------------------------------------------------------------- */

static void misuse(int port) {
    sq_tcp_options o;
    CHECK_EQ(sq_tcp_options_init(NULL, sizeof o), SQ_ERR_NULL);
    CHECK_EQ(sq_tcp_options_init(&o, 4), SQ_ERR_INVALID_ARG);
    o = opts();
    CHECK_EQ(o.size, sizeof o);
    CHECK_EQ(o.nodelay, 1);
    CHECK(o.high_water > 0 && o.max_buffer >= o.high_water);

    CHECK(sq_tcp_listen(NULL, "127.0.0.1", 0, &srv_cb, NULL, NULL) == NULL);
    CHECK(sq_tcp_listen(lp, NULL, 0, &srv_cb, NULL, NULL) == NULL);
    CHECK(sq_tcp_listen(lp, "127.0.0.1", 0, NULL, NULL, NULL) == NULL);
    sq_tcp_callbacks bad = srv_cb;
    bad.size = 0;
    CHECK(sq_tcp_listen(lp, "127.0.0.1", 0, &bad, NULL, NULL) == NULL);
    o.flags = 0x80;
    CHECK(sq_tcp_listen(lp, "127.0.0.1", 0, &srv_cb, &o, NULL) == NULL);
    o = opts();
    o.high_water = 0;
    CHECK(sq_tcp_listen(lp, "127.0.0.1", 0, &srv_cb, &o, NULL) == NULL);
    o = opts();
    CHECK_EQ(o.read_high_water, 1 << 20);
    o.read_high_water = 4095;
    CHECK(sq_tcp_listen(lp, "127.0.0.1", 0, &srv_cb, &o, NULL) == NULL);
    CHECK(strstr(sq_last_error(), "read_high_water") != NULL);
    CHECK(sq_tcp_listen(lp, "no such host.invalid", 0, &srv_cb, NULL, NULL) == NULL);
    /* an older program's smaller struct: the fields it knew, defaults for the rest */
    o = opts();
    o.size = 8;
    sq_tcp_listener *l = sq_tcp_listen(lp, "127.0.0.1", 0, &srv_cb, &o, NULL);
    CHECK(l != NULL);
    CHECK(sq_tcp_listener_port(l) > 0);
    sq_tcp_listener_free(l);
    sq_tcp_listener_free(NULL);
    CHECK_EQ(sq_tcp_listener_port(NULL), SQ_ERR_NULL);

    CHECK_EQ(sq_tcp_connect(NULL, "127.0.0.1", (uint16_t)port, &cl_cb, NULL, NULL), SQ_ERR_NULL);
    CHECK_EQ(sq_tcp_connect(lp, NULL, (uint16_t)port, &cl_cb, NULL, NULL), SQ_ERR_NULL);
    CHECK_EQ(sq_tcp_connect(lp, "127.0.0.1", (uint16_t)port, NULL, NULL, NULL), SQ_ERR_NULL);
    CHECK_EQ(sq_tcp_connect(lp, "127.0.0.1", (uint16_t)port, &bye_cb, NULL, NULL), SQ_ERR_NULL); /* no on_connect */
    CHECK_EQ(sq_tcp_connect(lp, "127.0.0.1", 0, &cl_cb, NULL, NULL), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_tcp_connect(lp, "", (uint16_t)port, &cl_cb, NULL, NULL), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_tcp_connect(lp, "127.0.0.1", (uint16_t)port, &bad, NULL, NULL), SQ_ERR_INVALID_ARG);

    sq_tcp *forged = (sq_tcp *)(uintptr_t)0x1234567;
    CHECK_EQ(sq_tcp_write(NULL, "x", 1), SQ_ERR_NULL);
    CHECK_EQ(sq_tcp_write(forged, "x", 1), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_tcp_close(forged), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_tcp_abort(NULL), SQ_ERR_NULL);
    CHECK_EQ(sq_tcp_pause_reading(forged), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_tcp_resume_reading(NULL), SQ_ERR_NULL);
    CHECK_EQ(sq_tcp_set_userdata(forged, NULL), SQ_ERR_INVALID_ARG);
    CHECK(sq_tcp_userdata(forged) == NULL);
    CHECK_EQ(sq_tcp_buffered_amount(NULL), 0);
    char ip[64];
    CHECK_EQ(sq_tcp_address(forged, 1, ip, sizeof ip, NULL), SQ_ERR_INVALID_ARG);

    /* stale handles: every client of the echo part has had its on_close */
    for (int i = 0; i < CLIENTS; i++) {
        sq_tcp *s = atomic_load(&clients[i].stream);
        CHECK_EQ(sq_tcp_write(s, "x", 1), SQ_ERR_CLOSED);
        CHECK_EQ(sq_tcp_close(s), SQ_ERR_CLOSED);
        CHECK_EQ(sq_tcp_abort(s), SQ_ERR_CLOSED);
        CHECK_EQ(sq_tcp_pause_reading(s), SQ_ERR_CLOSED);
        CHECK_EQ(sq_tcp_buffered_amount(s), 0);
        CHECK(sq_tcp_userdata(s) == NULL);
        CHECK_EQ(sq_tcp_address(s, 0, ip, sizeof ip, NULL), SQ_ERR_CLOSED);
    }
    CHECK(strcmp(sq_status_str(SQ_ERR_TIMEOUT), "SQ_ERR_TIMEOUT: the operation timed out") == 0);
    CHECK(strncmp(sq_status_str(SQ_ERR_CONNECT), "SQ_ERR_CONNECT: ", 16) == 0);
}

/* ---- the run ---------------------------------------------------------------- */

static void reset_counters(void) {
    atomic_store(&srv_accepted, 0);
    atomic_store(&srv_closed, 0);
    atomic_store(&srv_closed_ok, 0);
    atomic_store(&srv_drains, 0);
    atomic_store(&srv_pauses, 0);
    atomic_store(&srv_limit, 0);
    atomic_store(&cl_connected, 0);
    atomic_store(&cl_done, 0);
    atomic_store(&cl_closed, 0);
    atomic_store(&cl_closed_ok, 0);
    atomic_store(&sink_got, 0);
    atomic_store(&sink_paused_once, 0);
    atomic_store(&sink_resumed, 0);
    atomic_store(&sink_closed, 0);
    atomic_store(&feed_sent, 0);
    atomic_store(&feed_drains, 0);
    atomic_store(&feed_ok, 0);
    atomic_store(&feed_closed, 0);
    atomic_store(&feed_bp, 0);
    atomic_store(&bye_closed, 0);
    atomic_store(&outcome_closed, 0);
    atomic_store(&outcome_ended, 0);
    atomic_store(&freed, 0);
}

static void run(unsigned io_threads, int inline_echo) {
    long long t0 = now_ns();
    reset_counters();
    lp = sq_loop_new();
    CHECK(lp != NULL);
    CHECK_EQ(sq_loop_set_io_threads(lp, io_threads), SQ_OK);

    /* listeners bound before the loop runs: the port is known at once */
    sq_tcp_options so = opts();
    so.high_water = 64 << 10;
    if (inline_echo) so.flags = SQ_INLINE;
    sq_tcp_listener *echo = sq_tcp_listen(lp, "127.0.0.1", 0, &srv_cb, &so, NULL);
    CHECK(echo != NULL);
    int port = sq_tcp_listener_port(echo);
    CHECK(port > 0);
    sq_tcp_listener *sink = sq_tcp_listen(lp, "127.0.0.1", 0, &sink_cb, NULL, NULL);
    CHECK(sink != NULL);
    sq_tcp_listener *bye = sq_tcp_listen(lp, "127.0.0.1", 0, &bye_cb, NULL, NULL);
    CHECK(bye != NULL);

    /* a connect asked for before the loop runs starts when it does */
    for (int i = 0; i < CLIENTS / 2; i++) {
        struct client *c = &clients[i];
        memset(c, 0, sizeof *c);
        c->id = i;
        c->len = (size_t)snprintf(c->msg, sizeof c->msg, "hello from client %d", i);
        CHECK_EQ(sq_tcp_connect(lp, "127.0.0.1", (uint16_t)port, &cl_cb, NULL, c), SQ_OK);
    }
    CHECK(pthread_create(&host, NULL, host_main, NULL) == 0);
    for (int i = CLIENTS / 2; i < CLIENTS; i++) {
        struct client *c = &clients[i];
        memset(c, 0, sizeof *c);
        c->id = i;
        c->len = (size_t)snprintf(c->msg, sizeof c->msg, "hello from client %d", i);
        CHECK_EQ(sq_tcp_connect(lp, "127.0.0.1", (uint16_t)port, &cl_cb, NULL, c), SQ_OK);
    }

    /* 1. many squall clients at once */
    CHECK(wait_for(&cl_done, CLIENTS, 20000));
    CHECK(wait_for(&cl_closed, CLIENTS, 20000));
    CHECK(wait_for(&srv_closed, CLIENTS, 20000));
    CHECK_EQ(atomic_load(&cl_closed_ok), CLIENTS);
    CHECK_EQ(atomic_load(&srv_closed_ok), CLIENTS);
    CHECK_EQ(atomic_load(&srv_accepted), CLIENTS);

    /* 2. blocking POSIX clients, 4 MB each, echoed with backpressure */
    pthread_t pc[3];
    for (int i = 0; i < 3; i++) CHECK(pthread_create(&pc[i], NULL, posix_client, (void *)(intptr_t)port) == 0);
    for (int i = 0; i < 3; i++) pthread_join(pc[i], NULL);
    CHECK(wait_for(&srv_closed, CLIENTS + 3, 10000));
    CHECK_EQ(atomic_load(&srv_closed_ok), CLIENTS + 3);
    CHECK(atomic_load(&srv_pauses) > 0);
    CHECK(atomic_load(&srv_drains) > 0);
    CHECK_EQ(atomic_load(&srv_limit), 0);

    /* 3. a squall client feeding a sink that pauses for a while */
    long long tp = now_ns();
    CHECK_EQ(sq_tcp_connect(lp, "127.0.0.1", (uint16_t)sq_tcp_listener_port(sink), &feed_cb, NULL, NULL), SQ_OK);
    CHECK(wait_for(&feed_closed, 1, 20000));
    CHECK_EQ(atomic_load(&feed_ok), 1);
    CHECK_EQ(atomic_load(&sink_got), SINK_TOTAL);
    CHECK_EQ(atomic_load(&sink_resumed), 1);
    CHECK(atomic_load(&feed_bp) > 0 && atomic_load(&feed_drains) > 0);
    CHECK(now_ns() - tp >= 150LL * 1000000);
    CHECK(atomic_load(&sink_bytes_while_paused) < SINK_TOTAL);
    CHECK(wait_for(&sink_closed, 1, 5000));

    /* 4. close from inside on_data: the reply still arrives, then EOF */
    int fd = posix_connect(sq_tcp_listener_port(bye));
    CHECK(send(fd, "hi", 2, 0) == 2);
    char buf[16];
    size_t got = 0;
    for (;;) {
        ssize_t n = recv(fd, buf + got, sizeof buf - got, 0);
        CHECK(n >= 0);
        if (n == 0) break;
        got += (size_t)n;
    }
    CHECK(got == 3 && memcmp(buf, "bye", 3) == 0);
    close(fd);
    CHECK(wait_for(&bye_closed, 1, 5000));
    CHECK_EQ(atomic_load(&bye_status), SQ_OK);

    /* 5. a peer that resets: on_close says SQ_ERR_IO */
    int closed_before = atomic_load(&srv_closed);
    fd = posix_connect(port);
    CHECK(wait_for(&srv_accepted, CLIENTS + 4, 5000));
    CHECK(send(fd, "x", 1, 0) == 1);
    struct pollfd p = {fd, POLLIN, 0};
    CHECK(poll(&p, 1, 5000) == 1 && recv(fd, buf, 1, 0) == 1); /* the echo */
    struct linger lg = {1, 0};
    CHECK(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0);
    close(fd);
    CHECK(wait_for(&srv_closed, closed_before + 1, 5000));
    CHECK_EQ(atomic_load(&srv_closed_ok), CLIENTS + 3);

    /* 6. connect outcomes */
    CHECK_EQ(connect_outcome("127.0.0.1", closed_port(), 5000, 10000), SQ_ERR_CONNECT);
    /* a full backlog that nobody accepts: SYNs are dropped, the connect times out */
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(lfd, (struct sockaddr *)&a, sizeof a) == 0 && listen(lfd, 0) == 0);
    socklen_t al = sizeof a;
    CHECK(getsockname(lfd, (struct sockaddr *)&a, &al) == 0);
    int fill[4];
    for (int i = 0; i < 4; i++) {
        fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        CHECK(connect(fill[i], (struct sockaddr *)&a, sizeof a) == 0 || errno == EINPROGRESS);
    }
    sleep_ms(50);
    long long tt = now_ns();
    CHECK_EQ(connect_outcome("127.0.0.1", ntohs(a.sin_port), 300, 10000), SQ_ERR_TIMEOUT);
    long long ms = (now_ns() - tt) / 1000000;
    CHECK(ms >= 280 && ms < 3000);
    for (int i = 0; i < 4; i++) close(fill[i]);
    close(lfd);
    /* names go through the resolver pool */
    sq_status st = connect_outcome("no-such-host.invalid", 80, 5000, 15000);
    CHECK(st == SQ_ERR_RESOLVE || st == SQ_ERR_TIMEOUT);
    CHECK_EQ(connect_outcome("localhost", sq_tcp_listener_port(bye), 5000, 15000), SQ_OK);
    /* with on_end: the peer's EOF is reported and the stream stays writable */
    sq_tcp *s = atomic_load(&outcome_stream);
    CHECK_EQ(sq_tcp_write(s, "hi", 2), SQ_OK); /* bye answers and closes */
    CHECK(wait_for(&outcome_ended, 1, 5000));
    CHECK_EQ(sq_tcp_write(s, "still open", 10), SQ_OK);
    /* the peer has closed: our bytes may draw a reset that ends the stream first */
    st = sq_tcp_close(s);
    CHECK(st == SQ_OK || st == SQ_ERR_CLOSED);
    CHECK(wait_for(&outcome_closed, 1, 5000));
    CHECK(atomic_load(&outcome_close_status) == SQ_OK || atomic_load(&outcome_close_status) == SQ_ERR_IO);

    /* 7. abort with output queued: the peer sees a reset */
    CHECK_EQ(connect_outcome("127.0.0.1", port, 5000, 10000), SQ_OK);
    s = atomic_load(&outcome_stream);
    CHECK(wait_for(&srv_accepted, CLIENTS + 5, 5000));
    closed_before = atomic_load(&srv_closed);
    CHECK_EQ(sq_tcp_abort(s), SQ_OK);
    CHECK(wait_for(&outcome_closed, 2, 5000));
    CHECK_EQ(atomic_load(&outcome_close_status), SQ_OK);
    CHECK(wait_for(&srv_closed, closed_before + 1, 5000));

    misuse(port);

    /* 8. streams left open when the loop is freed: no callback afterwards */
    CHECK_EQ(connect_outcome("127.0.0.1", port, 5000, 10000), SQ_OK);
    CHECK(wait_for(&srv_accepted, CLIENTS + 6, 5000));
    s = atomic_load(&outcome_stream);
    CHECK_EQ(sq_tcp_write(s, "pending", 7), SQ_OK);
    sq_tcp_listener_free(echo);
    sq_tcp_listener_free(sink);
    /* a freed listener accepts no more */
    CHECK(connect_outcome("127.0.0.1", port, 2000, 10000) != SQ_OK);
    sq_loop_stop(lp);
    pthread_join(host, NULL);
    atomic_store(&freed, 1);
    sq_loop_free(lp);
    CHECK_EQ(sq_tcp_write(s, "x", 1), SQ_ERR_CLOSED);
    sq_tcp_listener_free(bye); /* after the loop: harmless */
    printf("  io_threads %u%s: ok (%lld ms)\n", io_threads, inline_echo ? " inline" : "", (now_ns() - t0) / 1000000);
}

int main(void) {
    run(2, 0);
    run(1, 1);
    run(0, 0);
    printf("test_tcp: ok\n");
    return 0;
}
