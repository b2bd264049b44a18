/* WebSockets through the C ABI, over real sockets:
 *  - 8 threads send to 100 sockets while half of them close (by a close
 *    frame or by dropping the TCP connection): every status is one the API
 *    promises, every message accepted for a socket that stays open arrives,
 *    and a socket whose on_close ran answers SQ_ERR_CLOSED;
 *  - a client that stops reading: SQ_OK, then SQ_BACKPRESSURE, then
 *    SQ_ERR_LIMIT with the buffer bounded; on_drain once it reads again; and
 *    with SQ_WS_CLOSE_ON_LIMIT, the socket closed (1006);
 *  - publish to a topic from a foreign thread, subscriber counts, bad args;
 *  - a handshake decided later, with the host's headers in the 101; a
 *    client reading them, then aborting.
 * Run with io_threads 2 and 1. */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#include "check.h"
#include "ws_client.h"

#define SOCKETS 100
#define SENDERS 8
#define ROUNDS 40

static sq_loop *lp;
static sq_server *srv;
static int port;
static pthread_t host;

static _Atomic(sq_ws *) handles[SOCKETS];
static atomic_int closed_cb[SOCKETS];
static atomic_int close_code[SOCKETS];
static atomic_long accepted[SOCKETS];
static atomic_long dropped;
static atomic_int opened;

/* the slow-reader routes */
static _Atomic(sq_ws *) slow_ws;
static atomic_int slow_closed, slow_close_code, drains;

static void *host_main(void *arg) {
    (void)arg;
    CHECK_EQ(sq_loop_run(lp), SQ_OK);
    return NULL;
}

static void on_open(void *ud, sq_ws *ws, sq_request *req) {
    (void)ud;
    sq_str k;
    CHECK_EQ(sq_request_capture(req, 0, &k), SQ_OK);
    int i = 0; /* not NUL-terminated: parse by length */
    for (size_t j = 0; j < k.len; j++) i = i * 10 + (k.ptr[j] - '0');
    CHECK(i >= 0 && i < SOCKETS);
    /* the upgrade request is a read-only view */
    CHECK_EQ(sq_respond(req, 200, NULL, 0, "x", 1), SQ_ERR_ALREADY_DONE);
    CHECK_EQ(sq_ws_set_userdata(ws, (void *)(intptr_t)(i + 1)), SQ_OK);
    CHECK(sq_ws_userdata(ws) == (void *)(intptr_t)(i + 1));
    atomic_store(&handles[i], ws);
    atomic_fetch_add(&opened, 1);
}

static void on_close(void *ud, sq_ws *ws, uint16_t code, const char *reason, size_t len) {
    (void)ws;
    (void)reason;
    (void)len;
    int i = (int)(intptr_t)ud - 1;
    CHECK(i >= 0 && i < SOCKETS);
    CHECK_EQ(atomic_fetch_add(&closed_cb[i], 1), 0); /* once */
    atomic_store(&close_code[i], code);
}

static void *sender(void *arg) {
    int id = (int)(intptr_t)arg;
    char msg[64];
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < SOCKETS; i++) {
            sq_ws *ws = atomic_load(&handles[i]);
            int n = snprintf(msg, sizeof msg, "t%d r%d s%d", id, r, i);
            sq_status st = sq_ws_send(ws, msg, (size_t)n, SQ_WS_TEXT);
            if (st == SQ_OK || st == SQ_BACKPRESSURE) {
                atomic_fetch_add(&accepted[i], 1);
            } else if (st == SQ_ERR_LIMIT) {
                atomic_fetch_add(&dropped, 1);
            } else {
                CHECK_EQ(st, SQ_ERR_CLOSED);
            }
        }
    }
    return NULL;
}

/* Reads the odd sockets until each got the server's close frame. */
static int fds[SOCKETS];
static long received[SOCKETS];

static void *reader(void *arg) {
    (void)arg;
    int open_left = SOCKETS / 2;
    int done[SOCKETS] = {0};
    while (open_left > 0) {
        struct pollfd p[SOCKETS / 2];
        int idx[SOCKETS / 2], np = 0;
        for (int i = 1; i < SOCKETS; i += 2) {
            if (done[i]) continue;
            p[np].fd = fds[i];
            p[np].events = POLLIN;
            idx[np++] = i;
        }
        int rc = poll(p, (nfds_t)np, 20000);
        CHECK(rc > 0);
        for (int k = 0; k < np; k++) {
            if (!(p[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            int i = idx[k];
            uint8_t *data;
            size_t len;
            int op = ws_read_frame(fds[i], &data, &len);
            CHECK(op >= 0);
            if (op == 1) {
                received[i]++;
            } else if (op == 8) {
                CHECK(len >= 2);
                CHECK_EQ((data[0] << 8) | data[1], 1000);
                ws_send_frame(fds[i], 8, data, 2); /* the close reply */
                done[i] = 1;
                open_left--;
            }
            free(data);
        }
    }
    return NULL;
}

/* Opens n WebSockets on `pattern` % i (i = 0..n-1) into fd[]. */
static void open_all(int *fd, int n, const char *pattern) {
    char path[32];
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, pattern, i);
        fd[i] = ws_open(port, path, NULL);
        CHECK(fd[i] >= 0);
    }
}

static int wait_for(atomic_int *v, int want, int ms) {
    for (int t = 0; t < ms && atomic_load(v) < want; t += 5) sleep_ms(5);
    return atomic_load(v) >= want;
}

static void on_slow_open(void *ud, sq_ws *ws, sq_request *req) {
    (void)ud;
    (void)req;
    atomic_store(&slow_ws, ws);
}
static void on_slow_close(void *ud, sq_ws *ws, uint16_t code, const char *r, size_t n) {
    (void)ud;
    (void)ws;
    (void)r;
    (void)n;
    atomic_store(&slow_close_code, code);
    atomic_fetch_add(&slow_closed, 1);
}
static void on_slow_drain(void *ud, sq_ws *ws) {
    (void)ud;
    (void)ws;
    atomic_fetch_add(&drains, 1);
}

#define HIGH (64 << 10)
#define MAXBP (1 << 20)
#define CHUNK (16 << 10)

/* A client that does not read: returns the status sequence's last status. */
static void slow_reader(const char *path, int close_policy) {
    atomic_store(&slow_ws, NULL);
    atomic_store(&slow_closed, 0);
    atomic_store(&drains, 0);
    int fd = ws_open(port, path, NULL);
    CHECK(fd >= 0);
    for (int t = 0; t < 4000 && !atomic_load(&slow_ws); t++) sleep_ms(1);
    sq_ws *ws = atomic_load(&slow_ws);
    CHECK(ws != NULL);
    static char chunk[CHUNK];
    memset(chunk, 'z', sizeof chunk);
    int saw_ok = 0, saw_bp = 0, saw_limit = 0;
    for (int i = 0; i < 20000 && !saw_limit; i++) {
        sq_status st = sq_ws_send(ws, chunk, sizeof chunk, SQ_WS_BINARY);
        if (st == SQ_OK) saw_ok++;
        else if (st == SQ_BACKPRESSURE) saw_bp++;
        else if (st == SQ_ERR_LIMIT) saw_limit++;
        else CHECK(0 && "unexpected status");
        /* never more than max_backpressure plus one message (and frame headers) */
        CHECK(sq_ws_buffered_amount(ws) <= MAXBP + CHUNK + 64);
        if (i % 64 == 0) sleep_ms(1); /* let the reactor write what the kernel takes */
    }
    CHECK(saw_ok > 0 && saw_bp > 0 && saw_limit > 0);
    if (!close_policy) {
        /* read everything that was queued (no more, no less): on_drain follows */
        long got = 0;
        while (got < saw_ok + saw_bp) {
            uint8_t *data;
            size_t len;
            CHECK_EQ(ws_read_frame(fd, &data, &len), 2);
            CHECK_EQ(len, CHUNK);
            free(data);
            got++;
        }
        CHECK(wait_for(&drains, 1, 10000));
        /* the reactor counts what it wrote right after writev returns */
        for (int t = 0; t < 5000 && sq_ws_buffered_amount(ws) > 0; t++) sleep_ms(1);
        CHECK_EQ(sq_ws_buffered_amount(ws), 0);
        /* a marker after everything queued: nothing else was in between */
        CHECK_EQ(sq_ws_send(ws, "after", 5, SQ_WS_TEXT), SQ_OK);
        uint8_t *marker;
        size_t marker_len;
        CHECK_EQ(ws_read_frame(fd, &marker, &marker_len), 1);
        CHECK(marker_len == 5 && memcmp(marker, "after", 5) == 0);
        free(marker);
        CHECK_EQ(sq_ws_close(ws, 1000, "bye"), SQ_OK);
        CHECK_EQ(sq_ws_send(ws, "late", 4, SQ_WS_TEXT), SQ_ERR_CLOSED);
        /* read on to the close frame, answer it */
        for (;;) {
            uint8_t *data;
            size_t len;
            int op = ws_read_frame(fd, &data, &len);
            CHECK(op >= 0);
            free(data);
            if (op == 8) break;
        }
        ws_send_frame(fd, 8, "\x03\xe8", 2);
        CHECK(wait_for(&slow_closed, 1, 10000));
        CHECK_EQ(atomic_load(&slow_close_code), 1000);
    } else {
        /* the policy closed the socket */
        CHECK(wait_for(&slow_closed, 1, 10000));
        CHECK_EQ(atomic_load(&slow_close_code), 1006);
        CHECK_EQ(sq_ws_send(ws, "x", 1, SQ_WS_TEXT), SQ_ERR_CLOSED);
    }
    close(fd);
}

/* ---- topics from a foreign thread ---- */
static _Atomic(sq_ws *) sub_ws[3];
static atomic_int sub_opened;
static void on_sub_open(void *ud, sq_ws *ws, sq_request *req) {
    (void)ud;
    sq_str k;
    CHECK_EQ(sq_request_capture(req, 0, &k), SQ_OK);
    int i = k.ptr[0] - '0';
    CHECK_EQ(sq_ws_subscribe(ws, "room"), SQ_OK);
    CHECK_EQ(sq_ws_subscribe(ws, "room"), SQ_OK); /* twice is once */
    if (i == 2) CHECK_EQ(sq_ws_subscribe(ws, "other"), SQ_OK);
    atomic_store(&sub_ws[i], ws);
    atomic_fetch_add(&sub_opened, 1);
}

static void topics(void) {
    atomic_store(&sub_opened, 0);
    int fd[3];
    open_all(fd, 3, "/sub/%d");
    CHECK(wait_for(&sub_opened, 3, 10000));
    /* counts settle once the reactor has seen the duplicate */
    for (int t = 0; t < 2000 && sq_topic_subscribers(srv, "room") != 3; t++) sleep_ms(1);
    CHECK_EQ(sq_topic_subscribers(srv, "room"), 3);
    CHECK_EQ(sq_topic_subscribers(srv, "other"), 1);
    CHECK_EQ(sq_topic_subscribers(srv, "nobody"), 0);
    CHECK_EQ(sq_publish(srv, "room", "hello room", 10, SQ_WS_TEXT), SQ_OK);
    CHECK_EQ(sq_publish(srv, "other", "\x01\x02", 2, SQ_WS_BINARY), SQ_OK);
    CHECK_EQ(sq_publish(srv, "nobody", "x", 1, SQ_WS_TEXT), SQ_OK);
    CHECK_EQ(sq_publish(srv, "room", "\xff", 1, SQ_WS_TEXT), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_publish(srv, "room", "x", 1, 9), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_publish(srv, "", "x", 1, SQ_WS_TEXT), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_publish(NULL, "room", "x", 1, SQ_WS_TEXT), SQ_ERR_NULL);
    for (int i = 0; i < 3; i++) {
        uint8_t *data;
        size_t len;
        CHECK_EQ(ws_read_frame(fd[i], &data, &len), 1);
        CHECK(len == 10 && memcmp(data, "hello room", 10) == 0);
        free(data);
    }
    uint8_t *data;
    size_t len;
    CHECK_EQ(ws_read_frame(fd[2], &data, &len), 2);
    CHECK(len == 2 && data[0] == 1 && data[1] == 2);
    free(data);
    /* unsubscribe, then a publish reaches the others only */
    CHECK_EQ(sq_ws_unsubscribe(atomic_load(&sub_ws[0]), "room"), SQ_OK);
    CHECK_EQ(sq_ws_unsubscribe(atomic_load(&sub_ws[0]), "never"), SQ_OK);
    for (int t = 0; t < 2000 && sq_topic_subscribers(srv, "room") != 2; t++) sleep_ms(1);
    CHECK_EQ(sq_topic_subscribers(srv, "room"), 2);
    CHECK_EQ(sq_publish(srv, "room", "second", 6, SQ_WS_TEXT), SQ_OK);
    for (int i = 1; i < 3; i++) {
        CHECK_EQ(ws_read_frame(fd[i], &data, &len), 1);
        CHECK(len == 6 && memcmp(data, "second", 6) == 0);
        free(data);
    }
    CHECK_EQ(sq_ws_send(atomic_load(&sub_ws[0]), "direct", 6, SQ_WS_TEXT), SQ_OK);
    CHECK_EQ(ws_read_frame(fd[0], &data, &len), 1);
    CHECK(len == 6 && memcmp(data, "direct", 6) == 0); /* not "second" */
    free(data);
    /* subscriptions end with the socket */
    for (int i = 0; i < 3; i++) close(fd[i]);
    for (int t = 0; t < 5000 && (sq_topic_subscribers(srv, "room") || sq_topic_subscribers(srv, "other")); t++) sleep_ms(1);
    CHECK_EQ(sq_topic_subscribers(srv, "room"), 0);
    CHECK_EQ(sq_topic_subscribers(srv, "other"), 0);
}

/* ---- graceful shutdown: every socket gets 1001, and `done` comes after
 * the last on_close ---- */
static atomic_int done_calls, closes_before_done;
static void on_shutdown_done(void *ud) {
    (void)ud;
    int n = 0;
    for (int i = 0; i < 5; i++) n += atomic_load(&closed_cb[i]);
    atomic_store(&closes_before_done, n);
    atomic_fetch_add(&done_calls, 1);
}

static void shutdown_with_websockets(void) {
    atomic_store(&opened, 0);
    atomic_store(&done_calls, 0);
    for (int i = 0; i < 5; i++) atomic_store(&closed_cb[i], 0);
    int fd[5];
    open_all(fd, 5, "/ws/%d");
    CHECK(wait_for(&opened, 5, 10000));
    CHECK_EQ(sq_server_shutdown(srv, 5000, on_shutdown_done, NULL), SQ_OK);
    for (int i = 0; i < 5; i++) {
        uint8_t *data;
        size_t len;
        int op;
        while ((op = ws_read_frame(fd[i], &data, &len)) != 8) {
            CHECK(op >= 0);
            free(data);
        }
        CHECK(len >= 2);
        CHECK_EQ((data[0] << 8) | data[1], 1001);
        free(data);
        ws_send_frame(fd[i], 8, "\x03\xe9", 2);
    }
    CHECK(wait_for(&done_calls, 1, 10000));
    CHECK_EQ(atomic_load(&closes_before_done), 5);
    for (int i = 0; i < 5; i++) {
        CHECK_EQ(atomic_load(&close_code[i]), 1001);
        close(fd[i]);
    }
}

/* A handshake decided later (SQ_WS_DEFERRED_HANDSHAKE): check_origin
 * answers SQ_WS_DECIDE_LATER, the 101 waits for sq_ws_handshake_decide (on
 * a timer here, as an async prepare() would) and carries the host's header;
 * a refusal gets its status. A client (sq_ws_connect) reads the 101's
 * headers and aborts its connection: both sides see 1006. */
static atomic_int later_opened, later_closed, later_close_code;
static atomic_int client_opened, client_closed, client_close_code, client_saw_header;

static void later_decide(void *ud, sq_timer_id id) {
    (void)id;
    sq_request *req = ud;
    sq_str k;
    CHECK_EQ(sq_request_capture(req, 0, &k), SQ_OK); /* still readable while it waits */
    int status = 0;
    for (size_t j = 0; j < k.len; j++) status = status * 10 + (k.ptr[j] - '0');
    CHECK_EQ(sq_ws_handshake_header(req, "X-Decided", "later", 5), SQ_OK);
    CHECK_EQ(sq_ws_handshake_decide(req, (uint16_t)status), SQ_OK);
}

static int later_origin(void *ud, sq_request *req, const char *origin, size_t n) {
    (void)ud, (void)origin, (void)n;
    CHECK_EQ(sq_ws_handshake_header(req, "X-Later", "yes", 3), SQ_OK);
    CHECK_EQ(sq_ws_handshake_header(req, "Upgrade", "h2c", 3), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_ws_handshake_header(req, "Sec-WebSocket-Accept", "x", 1), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_ws_handshake_header(req, "Bad Name", "v", 1), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_ws_handshake_header(req, "X-Split", "a\r\nb", 4), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_ws_handshake_header(NULL, "X-A", "b", 1), SQ_ERR_NULL);
    /* nothing is parked until this callback returns */
    CHECK_EQ(sq_ws_handshake_decide(req, 0), SQ_ERR_NOT_FOUND);
    CHECK_EQ(sq_ws_handshake_decide(req, 302), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_call_later(lp, 150, later_decide, req, NULL), SQ_OK);
    return SQ_WS_DECIDE_LATER;
}

static void later_open(void *ud, sq_ws *ws, sq_request *req) {
    (void)ud, (void)ws, (void)req;
    atomic_fetch_add(&later_opened, 1);
}

static void later_close(void *ud, sq_ws *ws, uint16_t code, const char *r, size_t n) {
    (void)ud, (void)ws, (void)r, (void)n;
    atomic_store(&later_close_code, code);
    atomic_fetch_add(&later_closed, 1);
}

static void client_open(void *ud, sq_ws *ws, sq_request *req) {
    (void)ud, (void)req;
    sq_str name, value;
    size_t i = 0;
    for (; sq_ws_response_header(ws, i, &name, &value) == SQ_OK; i++) {
        if (name.len == 7 && strncasecmp(name.ptr, "x-later", 7) == 0 && value.len == 3 && memcmp(value.ptr, "yes", 3) == 0)
            atomic_store(&client_saw_header, 1);
    }
    CHECK(i >= 4); /* Upgrade, Connection, Sec-WebSocket-Accept, the host's */
    CHECK_EQ(sq_ws_response_header(ws, i, &name, &value), SQ_ERR_NOT_FOUND);
    CHECK_EQ(sq_ws_response_header(ws, 0, NULL, &value), SQ_ERR_NULL);
    atomic_fetch_add(&client_opened, 1);
    CHECK_EQ(sq_ws_abort(ws), SQ_OK);
}

static void client_close(void *ud, sq_ws *ws, uint16_t code, const char *r, size_t n) {
    (void)ud, (void)ws, (void)r, (void)n;
    atomic_store(&client_close_code, code);
    atomic_fetch_add(&client_closed, 1);
}

/* The raw handshake on `path`: the response head, and how long it took. */
static int raw_handshake(const char *path, char *head, size_t cap, long long *took_ms) {
    int fd = http_connect(port);
    CHECK(fd >= 0);
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                     path, port);
    long long t0 = now_ns();
    CHECK_EQ(ws_write_all(fd, req, (size_t)n), 0);
    size_t len = 0;
    while (len < cap - 1) {
        CHECK_EQ(recv(fd, head + len, 1, 0), 1);
        len++;
        if (len >= 4 && memcmp(head + len - 4, "\r\n\r\n", 4) == 0) break;
    }
    head[len] = 0;
    *took_ms = (now_ns() - t0) / 1000000;
    return fd;
}

static void deferred_handshake(void) {
    char head[1024];
    long long took;
    int fd = raw_handshake("/later/0", head, sizeof head, &took);
    CHECK(strncmp(head, "HTTP/1.1 101 ", 13) == 0);
    CHECK(took >= 100); /* it waited for the decision */
    CHECK(strstr(head, "\r\nX-Later: yes\r\n") && strstr(head, "\r\nX-Decided: later\r\n"));
    CHECK(!strstr(head, "h2c") && !strstr(head, "X-Split"));
    CHECK(wait_for(&later_opened, 1, 5000));
    close(fd);
    CHECK(wait_for(&later_closed, 1, 5000));
    fd = raw_handshake("/later/401", head, sizeof head, &took);
    CHECK(strncmp(head, "HTTP/1.1 401 ", 13) == 0);
    CHECK(!strstr(head, "X-Later"));
    close(fd);
    CHECK_EQ(atomic_load(&later_opened), 1);

    /* a client socket: the 101's headers, then an abort */
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/later/0", port);
    sq_ws_callbacks ccb = {.size = sizeof ccb, .on_open = client_open, .on_close = client_close};
    CHECK_EQ(sq_ws_connect(lp, url, &ccb, NULL, NULL), SQ_OK);
    CHECK(wait_for(&client_closed, 1, 5000));
    CHECK_EQ(atomic_load(&client_opened), 1);
    CHECK_EQ(atomic_load(&client_saw_header), 1);
    CHECK_EQ(atomic_load(&client_close_code), 1006);
    CHECK(wait_for(&later_closed, 2, 5000));
    CHECK_EQ(atomic_load(&later_close_code), 1006); /* no close frame came */
    CHECK_EQ(sq_ws_abort(NULL), SQ_ERR_NULL);
    CHECK_EQ(sq_ws_handshake_decide(NULL, 0), SQ_ERR_NULL);
    CHECK_EQ(sq_ws_handshake_decide((sq_request *)(uintptr_t)0x12345, 0), SQ_ERR_NOT_FOUND);
    CHECK_EQ(sq_ws_handshake_header((sq_request *)(uintptr_t)0x12345, "X-A", "b", 1), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_ws_response_header(NULL, 0, NULL, NULL), SQ_ERR_NULL);
}

static void run(uint32_t io_threads) {
    atomic_store(&later_opened, 0);
    atomic_store(&later_closed, 0);
    atomic_store(&client_opened, 0);
    atomic_store(&client_closed, 0);
    atomic_store(&client_saw_header, 0);
    memset(closed_cb, 0, sizeof closed_cb);
    memset(accepted, 0, sizeof accepted);
    memset(received, 0, sizeof received);
    for (int i = 0; i < SOCKETS; i++) atomic_store(&handles[i], NULL);
    atomic_store(&opened, 0);
    atomic_store(&dropped, 0);

    lp = sq_loop_new();
    CHECK_EQ(sq_loop_set_io_threads(lp, io_threads), SQ_OK);
    srv = sq_server_new(lp);
    sq_ws_callbacks cb = {.size = sizeof cb, .on_open = on_open, .on_close = on_close};
    CHECK_EQ(sq_ws_route(srv, "/ws/(\\d+)", &cb, NULL, NULL), SQ_OK);

    sq_ws_options o;
    CHECK_EQ(sq_ws_options_init(&o, sizeof o), SQ_OK);
    CHECK_EQ(o.size, sizeof o);
    /* an older, shorter struct: nothing written past its size */
    struct { sq_ws_options o; char guard[8]; } g;
    memset(&g, 0x5a, sizeof g);
    CHECK_EQ(sq_ws_options_init(&g.o, 3 * sizeof(size_t)), SQ_OK);
    CHECK_EQ(g.o.size, 3 * sizeof(size_t));
    CHECK_EQ(((unsigned char *)&g.o)[3 * sizeof(size_t)], 0x5a);
    CHECK_EQ(sq_ws_options_init(&g.o, 4), SQ_ERR_INVALID_ARG);
    o.high_water = HIGH;
    o.max_backpressure = MAXBP;
    sq_ws_callbacks slow = {.size = sizeof slow, .on_open = on_slow_open, .on_close = on_slow_close, .on_drain = on_slow_drain};
    CHECK_EQ(sq_ws_route(srv, "/slow", &slow, &o, NULL), SQ_OK);
    o.flags = SQ_WS_CLOSE_ON_LIMIT;
    CHECK_EQ(sq_ws_route(srv, "/slow-close", &slow, &o, NULL), SQ_OK);
    sq_ws_callbacks later = {.size = sizeof later, .on_open = later_open, .on_close = later_close,
                             .check_origin = later_origin};
    o.flags = SQ_WS_DEFERRED_HANDSHAKE;
    CHECK_EQ(sq_ws_route(srv, "/later/(\\d+)", &later, &o, NULL), SQ_OK);
    sq_ws_callbacks sub = {.size = sizeof sub, .on_open = on_sub_open};
    CHECK_EQ(sq_ws_route(srv, "/sub/(\\d)", &sub, NULL, NULL), SQ_OK);

    /* misuse */
    CHECK_EQ(sq_ws_route(srv, "/x", NULL, NULL, NULL), SQ_ERR_NULL);
    CHECK_EQ(sq_ws_route(srv, "(", &cb, NULL, NULL), SQ_ERR_INVALID_ARG);
    sq_ws_callbacks unsized = {.on_open = on_open};
    CHECK_EQ(sq_ws_route(srv, "/y", &unsized, NULL, NULL), SQ_ERR_INVALID_ARG);
    o.flags = 0x100;
    CHECK_EQ(sq_ws_route(srv, "/z", &cb, &o, NULL), SQ_ERR_INVALID_ARG);
    o.flags = 0;
    o.compression = 7; /* no such mode */
    CHECK_EQ(sq_ws_route(srv, "/z", &cb, &o, NULL), SQ_ERR_INVALID_ARG);
    o.compression = SQ_WS_COMPRESSION_SHARED;
    CHECK_EQ(sq_ws_route(srv, "/deflate", &cb, &o, NULL), SQ_OK);
    /* the dedicated mode: defaults from init, each value checked */
    CHECK_EQ(o.compression_window_bits, 15);
    CHECK_EQ(o.compression_mem_level, 8);
    CHECK_EQ(o.compression_level, 6);
    o.compression = SQ_WS_COMPRESSION_DEDICATED;
    o.compression_window_bits = 11;
    o.compression_mem_level = 3;
    CHECK_EQ(sq_ws_route(srv, "/deflate-dedicated", &cb, &o, NULL), SQ_OK);
    o.compression_window_bits = 8;
    CHECK_EQ(sq_ws_route(srv, "/z", &cb, &o, NULL), SQ_ERR_INVALID_ARG);
    o.compression_window_bits = 15;
    o.compression_mem_level = 0;
    CHECK_EQ(sq_ws_route(srv, "/z", &cb, &o, NULL), SQ_ERR_INVALID_ARG);
    o.compression_mem_level = 8;
    o.compression_level = 10;
    CHECK_EQ(sq_ws_route(srv, "/z", &cb, &o, NULL), SQ_ERR_INVALID_ARG);
    o.compression_level = 6;
    o.compression = SQ_WS_COMPRESSION_OFF;
    CHECK_EQ(sq_ws_send(NULL, "x", 1, SQ_WS_TEXT), SQ_ERR_NULL);
    CHECK_EQ(sq_ws_send_ex(NULL, "x", 1, SQ_WS_TEXT, SQ_WS_SEND_NO_COMPRESS), SQ_ERR_NULL);
    CHECK_EQ(sq_publish_ex(srv, "room", "x", 1, SQ_WS_TEXT, 0x80), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_publish_ex(srv, "room", "x", 1, SQ_WS_TEXT, SQ_WS_SEND_NO_COMPRESS), SQ_OK);
    CHECK_EQ(sq_ws_send((sq_ws *)(uintptr_t)0x12345, "x", 1, SQ_WS_TEXT), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_ws_buffered_amount(NULL), 0);

    uint16_t bound;
    CHECK_EQ(sq_server_listen(srv, "127.0.0.1", 0, &bound), SQ_OK);
    port = bound;
    pthread_create(&host, NULL, host_main, NULL);

    /* 100 sockets */
    open_all(fds, SOCKETS, "/ws/%d");
    CHECK(wait_for(&opened, SOCKETS, 20000));
    sq_ws *h0 = atomic_load(&handles[0]);
    CHECK_EQ(sq_ws_send(h0, "\xff\xfe", 2, SQ_WS_TEXT), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_ws_send(h0, "x", 1, 7), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_ws_send_ex(h0, "x", 1, SQ_WS_TEXT, 0x80), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_ws_close(h0, 1005, NULL), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_ws_ping(h0, "x", 126), SQ_ERR_INVALID_ARG);
    sq_str proto;
    CHECK_EQ(sq_ws_subprotocol(h0, &proto), SQ_ERR_NOT_FOUND);

    pthread_t rd, snd[SENDERS];
    pthread_create(&rd, NULL, reader, NULL);
    for (int t = 0; t < SENDERS; t++) pthread_create(&snd[t], NULL, sender, (void *)(intptr_t)t);
    /* close the even sockets while the senders run: by a close frame, or by
     * dropping the connection */
    sleep_ms(5);
    for (int i = 0; i < SOCKETS; i += 2) {
        if (i % 4 == 0) ws_send_frame(fds[i], 8, "\x03\xe8" "bye", 5);
        else close(fds[i]);
    }
    for (int t = 0; t < SENDERS; t++) pthread_join(snd[t], NULL);
    /* now close the odd ones from the server side */
    for (int i = 1; i < SOCKETS; i += 2) CHECK_EQ(sq_ws_close(atomic_load(&handles[i]), 1000, "done"), SQ_OK);
    pthread_join(rd, NULL);
    for (int i = 1; i < SOCKETS; i += 2) {
        if (received[i] != accepted[i])
            fprintf(stderr, "socket %d: accepted %ld, received %ld\n", i, (long)accepted[i], received[i]);
        CHECK_EQ(received[i], accepted[i]);
    }
    /* every socket is told once; handles whose on_close ran are closed */
    for (int i = 0; i < SOCKETS; i++) {
        for (int t = 0; t < 10000 && !atomic_load(&closed_cb[i]); t += 2) sleep_ms(2);
        CHECK_EQ(atomic_load(&closed_cb[i]), 1);
        CHECK_EQ(sq_ws_send(atomic_load(&handles[i]), "x", 1, SQ_WS_TEXT), SQ_ERR_CLOSED);
        CHECK_EQ(sq_ws_close(atomic_load(&handles[i]), 1000, NULL), SQ_ERR_CLOSED);
        int code = atomic_load(&close_code[i]);
        if (i % 4 == 0) CHECK_EQ(code, 1000);      /* the client's close frame */
        else if (i % 2 == 0) CHECK_EQ(code, 1006); /* dropped connection */
        else CHECK_EQ(code, 1000);                 /* our close, answered */
    }
    for (int i = 1; i < SOCKETS; i += 2) close(fds[i]);
    for (int i = 0; i < SOCKETS; i += 4) close(fds[i]);

    slow_reader("/slow", 0);
    slow_reader("/slow-close", 1);
    topics();
    deferred_handshake();
    shutdown_with_websockets();

    sq_loop_stop(lp);
    pthread_join(host, NULL);
    sq_server_free(srv);
    sq_loop_free(lp);
    printf("test_ws (io_threads %u): ok (%ld messages dropped over the limit)\n", io_threads, (long)atomic_load(&dropped));
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    run(2);
    run(1);
    return 0;
}
