/* The HTTP client (sq_fetch) and the WebSocket client (sq_ws_connect)
 * through the C ABI, against an in-process squall server on 127.0.0.1:
 *  - GET with every response accessor (status, reason, headers by name and
 *    by index, body, URL, redirects, each SQ_TIME_* phase);
 *  - POST with a body and request headers; a header refused for CR/LF
 *    leaves the request usable;
 *  - a streamed body (on_chunk) with on_headers first;
 *  - 50 concurrent fetches through a pool of 4 connections, and fetches
 *    started from 4 threads at once;
 *  - sq_fetch_cancel mid-body, queued, at once, twice; misuse;
 *  - sq_fetch_pause_reading / _resume_reading on a 32 MiB streamed body;
 *  - a streamed request body: chunked with backpressure and on_drain, a
 *    Content-Length one held to its length, cancelled mid-body; misuse;
 *  - a refused port (SQ_ERR_CONNECT with a message), misuse (NULL
 *    arguments, bad method, URL, header; sq_fetch consumes the request even
 *    when it fails);
 *  - the loop freed with a fetch and a WebSocket handshake in flight, or
 *    never run: no callback, no leak;
 *  - sq_ws_connect to an echo route: open, text and binary both ways, close
 *    with 1000; on_connect_error for a refused port; misuse.
 * Run with io_threads 1 and 0. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <strings.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "check.h"

#define WAIT_MS 20000

static sq_loop *lp;
static sq_server *srv;
static int port;
static pthread_t host;
static char base[64]; /* "http://127.0.0.1:PORT" */

static void *host_main(void *arg) {
    (void)arg;
    CHECK_EQ(sq_loop_run(lp), SQ_OK);
    return NULL;
}

static int wait_for(atomic_int *v, int want, int ms) {
    for (int t = 0; t < ms && atomic_load(v) < want; t += 2) sleep_ms(2);
    return atomic_load(v) >= want;
}

static int str_is(sq_str s, const char *want) {
    return s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0;
}

static void url_of(char *out, size_t n, const char *path) {
    snprintf(out, n, "%s%s", base, path);
}

/* A port on 127.0.0.1 where nothing listens. */
static int refused_port(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(s >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK_EQ(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t l = sizeof a;
    CHECK_EQ(getsockname(s, (struct sockaddr *)&a, &l), 0);
    close(s);
    return ntohs(a.sin_port);
}

/* ---- server routes ---------------------------------------------------------- */

static sq_status h_hello(void *ud, sq_request *req) {
    (void)ud;
    CHECK_EQ(sq_response_status(req, 203, "Quite Fine"), SQ_OK);
    CHECK_EQ(sq_response_header(req, "X-One", "1", 1, 0), SQ_OK);
    CHECK_EQ(sq_response_header(req, "X-Multi", "a", 1, 0), SQ_OK);
    CHECK_EQ(sq_response_header(req, "X-Multi", "b", 1, 0), SQ_OK);
    CHECK_EQ(sq_response_write(req, "hello ", 6), SQ_OK);
    CHECK_EQ(sq_response_write(req, "world", 5), SQ_OK);
    CHECK_EQ(sq_response_finish(req), SQ_OK);
    return SQ_OK;
}

/* POST /echo: the body back, with the method, X-Req and whether X-Bad came */
static sq_status h_echo(void *ud, sq_request *req) {
    (void)ud;
    sq_str m, b, x;
    CHECK_EQ(sq_request_method(req, &m), SQ_OK);
    CHECK_EQ(sq_request_body(req, &b), SQ_OK);
    sq_header h[3];
    size_t n = 0;
    h[n++] = (sq_header){"X-Method", m.ptr, m.len};
    if (sq_request_header(req, "X-Req", &x) == SQ_OK) h[n++] = (sq_header){"X-Req", x.ptr, x.len};
    h[n++] = (sq_header){"X-Had-Bad", sq_request_header(req, "X-Bad", &x) == SQ_OK ? "yes" : "no", 2};
    if (h[n - 1].value[0] == 'y') h[n - 1].value_len = 3;
    CHECK_EQ(sq_respond(req, 200, h, n, b.ptr, b.len), SQ_OK);
    return SQ_OK;
}

#define BIG (300 * 1000)
static unsigned char big[BIG];

/* GET /big: written and flushed in pieces (a chunked body) */
static sq_status h_big(void *ud, sq_request *req) {
    (void)ud;
    CHECK_EQ(sq_response_header(req, "X-Big", "yes", 3, 0), SQ_OK);
    for (size_t off = 0; off < BIG; off += 50000) {
        CHECK_EQ(sq_response_write(req, big + off, 50000), SQ_OK);
        CHECK_EQ(sq_response_flush(req), SQ_OK);
    }
    CHECK_EQ(sq_response_finish(req), SQ_OK);
    return SQ_OK;
}

/* GET /id/N: body "N" (the client of /id/8 may have cancelled and left) */
static sq_status h_id(void *ud, sq_request *req) {
    (void)ud;
    sq_str n;
    CHECK_EQ(sq_request_capture(req, 0, &n), SQ_OK);
    int may_leave = n.len == 1 && n.ptr[0] == '8';
    sq_status st = sq_respond(req, 200, NULL, 0, n.ptr, n.len);
    CHECK(st == SQ_OK || (may_leave && st == SQ_ERR_CLOSED));
    return SQ_OK;
}

/* GET /slow/N: answered 20 ms later; counts requests in progress */
static atomic_int slow_inflight, slow_max;
static void slow_answer(void *ud, sq_timer_id id) {
    (void)id;
    sq_request *req = ud;
    sq_str n;
    CHECK_EQ(sq_request_capture(req, 0, &n), SQ_OK);
    char body[32];
    int len = snprintf(body, sizeof body, "slow %.*s", (int)n.len, n.ptr);
    atomic_fetch_sub(&slow_inflight, 1);
    CHECK_EQ(sq_respond(req, 200, NULL, 0, body, (size_t)len), SQ_OK);
}
static sq_status h_slow(void *ud, sq_request *req) {
    (void)ud;
    int now = atomic_fetch_add(&slow_inflight, 1) + 1;
    int m = atomic_load(&slow_max);
    while (now > m && !atomic_compare_exchange_weak(&slow_max, &m, now)) {
    }
    CHECK_EQ(sq_call_later(lp, 20, slow_answer, req, NULL), SQ_OK);
    return SQ_OK;
}

/* GET /hang: the head and 1000 bytes of a chunked body, then nothing until
 * the client leaves (counted in hang_closed; the request is then finished,
 * which releases it). */
static atomic_int hang_closed;
static void on_hang_close(void *ud) {
    CHECK_EQ(sq_response_finish((sq_request *)ud), SQ_ERR_CLOSED);
    atomic_fetch_add(&hang_closed, 1);
}
static sq_status h_hang(void *ud, sq_request *req) {
    (void)ud;
    sq_status st = sq_request_on_close(req, on_hang_close, req);
    if (st == SQ_ERR_CLOSED) {
        /* the client left before this handler ran (a fetch cancelled while
         * the host thread was slow, as under valgrind): finish it here */
        on_hang_close(req);
        return SQ_OK;
    }
    CHECK_EQ(st, SQ_OK);
    /* from here a close calls on_hang_close, which finishes the request */
    st = sq_response_write(req, big, 1000);
    CHECK(st == SQ_OK || st == SQ_ERR_CLOSED);
    st = sq_response_flush(req);
    CHECK(st == SQ_OK || st == SQ_ERR_CLOSED);
    return SQ_OK;
}

/* GET /huge: HUGE bytes (big repeated), written at once */
#define HUGE (32u << 20)
static sq_status h_huge(void *ud, sq_request *req) {
    (void)ud;
    for (size_t off = 0; off < HUGE; off += BIG) {
        size_t n = HUGE - off < BIG ? HUGE - off : BIG;
        CHECK_EQ(sq_response_write(req, big, n), SQ_OK);
    }
    CHECK_EQ(sq_response_finish(req), SQ_OK);
    return SQ_OK;
}

/* the WebSocket echo route */
static atomic_int srv_ws_closed, srv_ws_code;
static void ws_srv_message(void *ud, sq_ws *ws, const void *data, size_t len, int opcode) {
    (void)ud;
    CHECK_EQ(sq_ws_send(ws, data, len, opcode), SQ_OK);
}
static void ws_srv_close(void *ud, sq_ws *ws, uint16_t code, const char *reason, size_t len) {
    (void)ud;
    (void)ws;
    (void)reason;
    (void)len;
    atomic_store(&srv_ws_code, code);
    atomic_fetch_add(&srv_ws_closed, 1);
}

/* ---- fetch results -------------------------------------------------------------- */

struct result {
    atomic_int done;
    int calls;
    sq_status err;
    uint32_t status;
    char body[64];
    size_t body_len;
    int expect_id; /* for /id and /slow */
};

static void on_plain(void *ud, const sq_fetch_response *resp) {
    struct result *r = ud;
    CHECK(pthread_equal(pthread_self(), host));
    r->calls++;
    r->err = sq_fetch_response_error(resp);
    r->status = sq_fetch_response_status(resp);
    sq_str b;
    CHECK_EQ(sq_fetch_response_body(resp, &b), SQ_OK);
    r->body_len = b.len;
    memcpy(r->body, b.ptr, b.len < sizeof r->body ? b.len : sizeof r->body);
    atomic_store(&r->done, 1);
}

static void fetch_and_wait(sq_fetch_request *req, sq_fetch_callback cb, struct result *r) {
    CHECK_EQ(sq_fetch(lp, req, cb, r), SQ_OK);
    CHECK(wait_for(&r->done, 1, WAIT_MS));
    CHECK_EQ(r->calls, 1);
}

/* GET with every accessor */
static void on_hello(void *ud, const sq_fetch_response *resp) {
    struct result *r = ud;
    r->calls++;
    CHECK_EQ(sq_fetch_response_error(resp), SQ_OK);
    CHECK_EQ(sq_fetch_response_status(resp), 203);
    sq_str s, n, v;
    CHECK_EQ(sq_fetch_response_message(resp, &s), SQ_OK);
    CHECK_EQ(s.len, 0);
    CHECK_EQ(sq_fetch_response_reason(resp, &s), SQ_OK);
    CHECK(str_is(s, "Quite Fine"));
    CHECK_EQ(sq_fetch_response_header(resp, "x-one", &s), SQ_OK);
    CHECK(str_is(s, "1"));
    CHECK_EQ(sq_fetch_response_header(resp, "X-MULTI", &s), SQ_OK);
    CHECK(str_is(s, "a")); /* the first value */
    CHECK_EQ(sq_fetch_response_header(resp, "X-None", &s), SQ_ERR_NOT_FOUND);
    CHECK_EQ(sq_fetch_response_header(resp, NULL, &s), SQ_ERR_NULL);
    CHECK_EQ(sq_fetch_response_header(resp, "X-One", NULL), SQ_ERR_NULL);
    size_t count = 0;
    CHECK_EQ(sq_fetch_response_header_count(resp, &count), SQ_OK);
    CHECK(count >= 4); /* X-One, X-Multi twice, Content-Length, Date, ... */
    int one = 0, multi = 0, clen = 0;
    for (size_t i = 0; i < count; i++) {
        CHECK_EQ(sq_fetch_response_header_at(resp, i, &n, &v), SQ_OK);
        CHECK(n.len > 0);
        if (n.len == 5 && strncasecmp(n.ptr, "x-one", 5) == 0) {
            CHECK(str_is(v, "1"));
            one++;
        }
        if (n.len == 7 && strncasecmp(n.ptr, "x-multi", 7) == 0) {
            CHECK(str_is(v, multi == 0 ? "a" : "b")); /* in the order received */
            multi++;
        }
        if (n.len == 14 && strncasecmp(n.ptr, "content-length", 14) == 0) {
            CHECK(str_is(v, "11"));
            clen++;
        }
    }
    CHECK(one == 1 && multi == 2 && clen == 1);
    CHECK_EQ(sq_fetch_response_header_at(resp, count, &n, &v), SQ_ERR_NOT_FOUND);
    CHECK_EQ(sq_fetch_response_header_count(resp, NULL), SQ_ERR_NULL);
    CHECK_EQ(sq_fetch_response_body(resp, &s), SQ_OK);
    CHECK(str_is(s, "hello world"));
    CHECK_EQ(sq_fetch_response_url(resp, &s), SQ_OK);
    char want[96];
    url_of(want, sizeof want, "/hello?q=1");
    CHECK(str_is(s, want));
    CHECK_EQ(sq_fetch_response_redirects(resp), 0);
    double t[6];
    for (uint32_t w = SQ_TIME_QUEUE; w <= SQ_TIME_TOTAL; w++) CHECK_EQ(sq_fetch_response_time(resp, w, &t[w]), SQ_OK);
    CHECK(t[SQ_TIME_QUEUE] >= 0);
    CHECK(t[SQ_TIME_NAMELOOKUP] >= t[SQ_TIME_QUEUE]);
    CHECK(t[SQ_TIME_CONNECT] >= t[SQ_TIME_NAMELOOKUP]);
    CHECK_EQ(t[SQ_TIME_TLS], -1); /* plain http */
    CHECK(t[SQ_TIME_FIRST_BYTE] >= t[SQ_TIME_CONNECT]);
    CHECK(t[SQ_TIME_TOTAL] >= t[SQ_TIME_FIRST_BYTE]);
    CHECK(t[SQ_TIME_TOTAL] < WAIT_MS);
    double x;
    CHECK_EQ(sq_fetch_response_time(resp, 6, &x), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_fetch_response_time(resp, SQ_TIME_TOTAL, NULL), SQ_ERR_NULL);
    CHECK_EQ(sq_fetch_response_time(NULL, SQ_TIME_TOTAL, &x), SQ_ERR_NULL);
    atomic_store(&r->done, 1);
}

static void get_with_accessors(void) {
    char url[96];
    url_of(url, sizeof url, "/hello?q=1");
    sq_fetch_request *req = sq_fetch_request_new("GET", url);
    CHECK(req != NULL);
    struct result r = {0};
    fetch_and_wait(req, on_hello, &r);
}

/* POST with a body; a refused header leaves the request usable */
static void on_post(void *ud, const sq_fetch_response *resp) {
    struct result *r = ud;
    r->calls++;
    CHECK_EQ(sq_fetch_response_error(resp), SQ_OK);
    CHECK_EQ(sq_fetch_response_status(resp), 200);
    sq_str s;
    CHECK_EQ(sq_fetch_response_header(resp, "X-Method", &s), SQ_OK);
    CHECK(str_is(s, "POST"));
    CHECK_EQ(sq_fetch_response_header(resp, "X-Req", &s), SQ_OK);
    CHECK(str_is(s, "value 1"));
    CHECK_EQ(sq_fetch_response_header(resp, "X-Had-Bad", &s), SQ_OK);
    CHECK(str_is(s, "no"));
    CHECK_EQ(sq_fetch_response_body(resp, &s), SQ_OK);
    CHECK_EQ(s.len, 9);
    CHECK(memcmp(s.ptr, "a\0b=c&d\r\n", 9) == 0);
    atomic_store(&r->done, 1);
}

static void post_with_body(void) {
    char url[96];
    url_of(url, sizeof url, "/echo");
    sq_fetch_request *req = sq_fetch_request_new("POST", url);
    CHECK(req != NULL);
    CHECK_EQ(sq_fetch_request_set_header(req, "X-Bad", "a\r\nInjected: 1", 14), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_fetch_request_set_header(req, "X-Bad", "a\nb", 3), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_fetch_request_set_header(req, "X-Bad", "a\0b", 3), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_fetch_request_set_header(req, "Bad Name", "v", 1), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_fetch_request_set_header(req, "X-Bad\r\n", "v", 1), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_fetch_request_set_header(req, NULL, "v", 1), SQ_ERR_NULL);
    CHECK_EQ(sq_fetch_request_set_header(NULL, "X-A", "v", 1), SQ_ERR_NULL);
    CHECK_EQ(sq_fetch_request_set_header(req, "X-Req", "value 1", 7), SQ_OK);
    CHECK_EQ(sq_fetch_request_set_body(req, NULL, 3), SQ_ERR_NULL);
    CHECK_EQ(sq_fetch_request_set_body(NULL, "x", 1), SQ_ERR_NULL);
    CHECK_EQ(sq_fetch_request_set_body(req, "a\0b=c&d\r\n", 9), SQ_OK);
    CHECK_EQ(sq_fetch_request_set_timeouts(req, 5000, 15000), SQ_OK);
    struct result r = {0};
    fetch_and_wait(req, on_post, &r);
}

/* streaming: on_headers, then the chunks in order, then the (empty) response */
static struct {
    atomic_int done;
    int headers_calls, final_calls;
    size_t got, chunks;
    int mismatch, order_bad;
} st;

static void on_stream_headers(void *ud, const sq_fetch_response *resp) {
    CHECK(ud == &st);
    CHECK(st.got == 0 && st.final_calls == 0);
    st.headers_calls++;
    CHECK_EQ(sq_fetch_response_error(resp), SQ_OK);
    CHECK_EQ(sq_fetch_response_status(resp), 200);
    sq_str s;
    CHECK_EQ(sq_fetch_response_header(resp, "X-Big", &s), SQ_OK);
    CHECK(str_is(s, "yes"));
}
static void on_stream_chunk(void *ud, const uint8_t *data, size_t len) {
    CHECK(ud == &st);
    if (st.headers_calls != 1 || st.final_calls) st.order_bad = 1;
    CHECK(st.got + len <= BIG);
    if (memcmp(big + st.got, data, len) != 0) st.mismatch = 1;
    st.got += len;
    st.chunks++;
}
static void on_stream_done(void *ud, const sq_fetch_response *resp) {
    CHECK(ud == &st);
    st.final_calls++;
    CHECK_EQ(sq_fetch_response_error(resp), SQ_OK);
    CHECK_EQ(sq_fetch_response_status(resp), 200);
    sq_str b;
    CHECK_EQ(sq_fetch_response_body(resp, &b), SQ_OK);
    CHECK_EQ(b.len, 0); /* streamed */
    atomic_store(&st.done, 1);
}

static void streaming(void) {
    memset(&st, 0, sizeof st);
    char url[96];
    url_of(url, sizeof url, "/big");
    sq_fetch_request *req = sq_fetch_request_new("GET", url);
    CHECK(req != NULL);
    CHECK_EQ(sq_fetch_request_set_on_headers(req, on_stream_headers), SQ_OK);
    CHECK_EQ(sq_fetch_request_set_on_chunk(req, on_stream_chunk), SQ_OK);
    CHECK_EQ(sq_fetch_request_set_on_chunk(NULL, on_stream_chunk), SQ_ERR_NULL);
    CHECK_EQ(sq_fetch_request_set_on_headers(NULL, on_stream_headers), SQ_ERR_NULL);
    CHECK_EQ(sq_fetch(lp, req, on_stream_done, &st), SQ_OK);
    CHECK(wait_for(&st.done, 1, WAIT_MS));
    CHECK_EQ(st.headers_calls, 1);
    CHECK_EQ(st.final_calls, 1);
    CHECK_EQ(st.got, BIG);
    CHECK(st.chunks >= 1);
    CHECK_EQ(st.mismatch, 0);
    CHECK_EQ(st.order_bad, 0);
}

/* sq_fetch_cancel: mid-body (from inside on_chunk), queued behind the
 * per-host cap, right after sq_fetch, after the response; misuse. */
static struct cancelled {
    atomic_int done;
    int calls, chunks;
    sq_status err;
    uint64_t id;
} cx[4];

static void on_cancel_chunk(void *ud, const uint8_t *data, size_t len) {
    struct cancelled *c = ud;
    (void)data;
    (void)len;
    if (c->chunks++ == 0) CHECK_EQ(sq_fetch_cancel(lp, c->id), SQ_OK);
}
static void on_cancel_done(void *ud, const sq_fetch_response *resp) {
    struct cancelled *c = ud;
    CHECK(pthread_equal(pthread_self(), host));
    c->calls++;
    c->err = sq_fetch_response_error(resp);
    if (c->err == SQ_ERR_CANCELLED) {
        sq_str m;
        CHECK_EQ(sq_fetch_response_message(resp, &m), SQ_OK);
        CHECK(m.len > 0 && memmem(m.ptr, m.len, "cancel", 6) != NULL);
        CHECK_EQ(sq_fetch_response_status(resp), 0);
    }
    atomic_store(&c->done, 1);
}

/* `path` on base, or on "http://localhost:PORT" (an origin of its own, with
 * no idle connection in the pool) when `other_origin` */
static uint64_t start_cancellable(const char *path, struct cancelled *c, int chunked, int other_origin) {
    memset(c, 0, sizeof *c);
    char url[96];
    if (other_origin)
        snprintf(url, sizeof url, "http://localhost:%d%s", port, path);
    else
        url_of(url, sizeof url, path);
    sq_fetch_request *req = sq_fetch_request_new("GET", url);
    CHECK(req != NULL);
    c->id = sq_fetch_request_id(req);
    CHECK(c->id != 0);
    if (chunked) CHECK_EQ(sq_fetch_request_set_on_chunk(req, on_cancel_chunk), SQ_OK);
    CHECK_EQ(sq_fetch(lp, req, on_cancel_done, c), SQ_OK);
    return c->id;
}

static void cancelling(void) {
    /* mid-body: the server sees the connection close */
    int closed_before = atomic_load(&hang_closed);
    start_cancellable("/hang", &cx[0], 1, 0);
    CHECK(wait_for(&cx[0].done, 1, WAIT_MS));
    CHECK_EQ(cx[0].err, SQ_ERR_CANCELLED);
    CHECK_EQ(cx[0].chunks, 1);
    CHECK(wait_for(&hang_closed, closed_before + 1, WAIT_MS));
    /* twice, and after it ended: nothing more happens */
    CHECK_EQ(sq_fetch_cancel(lp, cx[0].id), SQ_OK);

    /* queued: one connection per host (a fresh origin), held by /hang; the
     * queued fetch is cancelled without ever being sent, then the one
     * holding the slot */
    CHECK_EQ(sq_fetch_set_limits(lp, 100, 1, 30000), SQ_OK);
    start_cancellable("/hang", &cx[1], 0, 1);
    start_cancellable("/id/7", &cx[2], 0, 1);
    sleep_ms(50);
    CHECK_EQ(atomic_load(&cx[2].done), 0);
    CHECK_EQ(sq_fetch_cancel(lp, cx[2].id), SQ_OK);
    CHECK(wait_for(&cx[2].done, 1, WAIT_MS));
    CHECK_EQ(cx[2].err, SQ_ERR_CANCELLED);
    CHECK_EQ(atomic_load(&cx[1].done), 0);
    CHECK_EQ(sq_fetch_cancel(lp, cx[1].id), SQ_OK);
    CHECK(wait_for(&cx[1].done, 1, WAIT_MS));
    CHECK_EQ(cx[1].err, SQ_ERR_CANCELLED);
    CHECK_EQ(sq_fetch_set_limits(lp, 100, 0, 30000), SQ_OK);

    /* right after sq_fetch: cancelled or answered, exactly once */
    start_cancellable("/id/8", &cx[3], 0, 0);
    CHECK_EQ(sq_fetch_cancel(lp, cx[3].id), SQ_OK);
    CHECK(wait_for(&cx[3].done, 1, WAIT_MS));
    CHECK(cx[3].err == SQ_ERR_CANCELLED || cx[3].err == SQ_OK);

    /* the pool is still good: a fetch goes through */
    char url[96];
    url_of(url, sizeof url, "/id/9");
    struct result r = {0};
    fetch_and_wait(sq_fetch_request_new("GET", url), on_plain, &r);
    CHECK_EQ(r.err, SQ_OK);
    CHECK(r.body_len == 1 && r.body[0] == '9');

    sleep_ms(50);
    for (int i = 0; i < 4; i++) CHECK_EQ(cx[i].calls, 1);

    /* misuse */
    CHECK_EQ(sq_fetch_cancel(NULL, cx[0].id), SQ_ERR_NULL);
    CHECK_EQ(sq_fetch_cancel(lp, 0), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_fetch_cancel(lp, UINT64_MAX), SQ_ERR_INVALID_ARG);
    CHECK(strlen(sq_last_error()) > 0);
    CHECK_EQ(sq_fetch_pause_reading(lp, 0), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_fetch_resume_reading(NULL, cx[0].id), SQ_ERR_NULL);
    CHECK_EQ(sq_fetch_request_id(NULL), 0);
    CHECK(strcmp(sq_status_str(SQ_ERR_CANCELLED), "unknown status code") != 0);
}

/* sq_fetch_pause_reading: a streamed 32 MiB body paused at its first chunk
 * stops arriving (what the kernel buffers aside), then completes intact
 * after sq_fetch_resume_reading. */
static struct {
    atomic_int done;
    atomic_size_t got;
    uint64_t id;
    int mismatch, calls;
    sq_status err;
} pz;

static void on_pause_chunk(void *ud, const uint8_t *data, size_t len) {
    (void)ud;
    size_t got = atomic_load(&pz.got);
    for (size_t i = 0; i < len && !pz.mismatch; i += 4093)
        if (data[i] != big[(got + i) % BIG]) pz.mismatch = 1;
    if (got == 0) CHECK_EQ(sq_fetch_pause_reading(lp, pz.id), SQ_OK);
    atomic_store(&pz.got, got + len);
}
static void on_pause_done(void *ud, const sq_fetch_response *resp) {
    (void)ud;
    pz.calls++;
    pz.err = sq_fetch_response_error(resp);
    atomic_store(&pz.done, 1);
}

static void pausing(void) {
    memset(&pz, 0, sizeof pz);
    char url[96];
    url_of(url, sizeof url, "/huge");
    sq_fetch_request *req = sq_fetch_request_new("GET", url);
    CHECK(req != NULL);
    pz.id = sq_fetch_request_id(req);
    CHECK_EQ(sq_fetch_request_set_on_chunk(req, on_pause_chunk), SQ_OK);
    CHECK_EQ(sq_fetch(lp, req, on_pause_done, NULL), SQ_OK);
    size_t before = 0;
    for (int i = 0; i < 200; i++) { /* wait until the flow stops */
        sleep_ms(50);
        size_t now = atomic_load(&pz.got);
        if (now > 0 && now == before) break;
        before = now;
    }
    sleep_ms(200);
    size_t paused = atomic_load(&pz.got);
    CHECK(paused > 0);
    CHECK(paused < HUGE / 2);
    printf("pausing: %zu of %u bytes arrived while paused\n", paused, HUGE);
    CHECK_EQ(atomic_load(&pz.done), 0);
    CHECK_EQ(sq_fetch_resume_reading(lp, pz.id), SQ_OK);
    CHECK(wait_for(&pz.done, 1, WAIT_MS));
    CHECK_EQ(pz.err, SQ_OK);
    CHECK_EQ(pz.calls, 1);
    CHECK_EQ(atomic_load(&pz.got), HUGE);
    CHECK_EQ(pz.mismatch, 0);
}

/* A streamed request body (sq_fetch_request_stream_body): 3 MiB chunked
 * from another thread, which waits for on_drain whenever a write reports
 * SQ_BACKPRESSURE, echoed back whole; a Content-Length body held to its
 * length; writes after the response and after a cancel; misuse. */
#define UPLOAD (3u << 20)
static struct {
    atomic_int done, drains;
    int calls, backpressured;
    sq_status err;
    uint32_t status;
    size_t len;
    int same;
    uint64_t id;
    char small[16];
} up;

static void on_up_drain(void *ud) {
    CHECK(ud == &up);
    CHECK(pthread_equal(pthread_self(), host));
    atomic_fetch_add(&up.drains, 1);
}
static void on_up_done(void *ud, const sq_fetch_response *resp) {
    CHECK(ud == &up);
    up.calls++;
    up.err = sq_fetch_response_error(resp);
    up.status = sq_fetch_response_status(resp);
    sq_str b = {0};
    CHECK_EQ(sq_fetch_response_body(resp, &b), SQ_OK);
    up.len = b.len;
    if (b.len == UPLOAD) {
        up.same = 1;
        for (size_t off = 0; off < UPLOAD && up.same; off += BIG) {
            size_t n = UPLOAD - off < BIG ? UPLOAD - off : BIG;
            up.same = memcmp((const char *)b.ptr + off, big, n) == 0;
        }
    }
    snprintf(up.small, sizeof up.small, "%.*s", (int)(b.len < 15 ? b.len : 15), b.ptr ? b.ptr : "");
    atomic_store(&up.done, 1);
}

static uint64_t start_upload(int64_t length) {
    memset(&up, 0, sizeof up);
    char url[96];
    url_of(url, sizeof url, "/echo");
    sq_fetch_request *req = sq_fetch_request_new("POST", url);
    CHECK(req != NULL);
    CHECK_EQ(sq_fetch_request_stream_body(req, length), SQ_OK);
    CHECK_EQ(sq_fetch_request_set_on_drain(req, on_up_drain), SQ_OK);
    up.id = sq_fetch_request_id(req);
    CHECK_EQ(sq_fetch(lp, req, on_up_done, &up), SQ_OK);
    return up.id;
}

static void *upload_writer(void *arg) {
    (void)arg;
    size_t off = 0;
    while (off < UPLOAD) {
        size_t n = 64 * 1024;
        if (n > UPLOAD - off) n = UPLOAD - off;
        /* big repeats every BIG bytes; a piece never crosses its end */
        size_t in = off % BIG;
        if (n > BIG - in) n = BIG - in;
        int drains = atomic_load(&up.drains);
        sq_status st = sq_fetch_body_write(lp, up.id, big + in, n);
        CHECK(st == SQ_OK || st == SQ_BACKPRESSURE);
        off += n;
        if (st == SQ_BACKPRESSURE) {
            up.backpressured++;
            CHECK(wait_for(&up.drains, drains + 1, WAIT_MS));
        }
    }
    CHECK_EQ(sq_fetch_body_finish(lp, up.id), SQ_OK);
    return NULL;
}

static void uploading(void) {
    /* chunked, from a writer thread */
    start_upload(-1);
    pthread_t w;
    CHECK_EQ(pthread_create(&w, NULL, upload_writer, NULL), 0);
    CHECK_EQ(pthread_join(w, NULL), 0);
    CHECK(wait_for(&up.done, 1, WAIT_MS));
    CHECK_EQ(up.err, SQ_OK);
    CHECK_EQ(up.status, 200);
    CHECK_EQ(up.len, UPLOAD);
    CHECK(up.same);
    CHECK(up.backpressured >= 1);
    CHECK(atomic_load(&up.drains) >= up.backpressured);
    uint64_t done_id = up.id;
    CHECK_EQ(sq_fetch_body_write(lp, done_id, "x", 1), SQ_ERR_CLOSED); /* the fetch is over */
    CHECK_EQ(sq_fetch_body_finish(lp, done_id), SQ_ERR_CLOSED);

    /* Content-Length 5: held to exactly five bytes */
    uint64_t id = start_upload(5);
    CHECK_EQ(sq_fetch_body_write(lp, id, "hel", 3), SQ_OK);
    CHECK_EQ(sq_fetch_body_finish(lp, id), SQ_ERR_INVALID_ARG); /* short */
    CHECK_EQ(sq_fetch_body_write(lp, id, "lo!", 3), SQ_ERR_INVALID_ARG); /* past the length */
    CHECK_EQ(sq_fetch_body_write(lp, id, NULL, 0), SQ_OK);
    CHECK_EQ(sq_fetch_body_write(lp, id, "lo", 2), SQ_OK); /* complete: it goes */
    /* finished, or (once the answer came) over */
    sq_status st = sq_fetch_body_write(lp, id, "x", 1);
    CHECK(st == SQ_ERR_ALREADY_DONE || st == SQ_ERR_CLOSED);
    st = sq_fetch_body_finish(lp, id); /* optional, and harmless */
    CHECK(st == SQ_OK || st == SQ_ERR_CLOSED);
    CHECK(wait_for(&up.done, 1, WAIT_MS));
    CHECK_EQ(up.err, SQ_OK);
    CHECK(strcmp(up.small, "hello") == 0);
    CHECK_EQ(sq_fetch_body_write(lp, id, "x", 1), SQ_ERR_CLOSED);

    /* cancelled mid-body: the writer hears SQ_ERR_CLOSED */
    id = start_upload(-1);
    CHECK_EQ(sq_fetch_body_write(lp, id, "part", 4), SQ_OK);
    sleep_ms(20);
    CHECK_EQ(sq_fetch_cancel(lp, id), SQ_OK);
    CHECK(wait_for(&up.done, 1, WAIT_MS));
    CHECK_EQ(up.err, SQ_ERR_CANCELLED);
    CHECK_EQ(sq_fetch_body_write(lp, id, "more", 4), SQ_ERR_CLOSED);

    /* misuse */
    CHECK_EQ(sq_fetch_body_write(NULL, id, "x", 1), SQ_ERR_NULL);
    CHECK_EQ(sq_fetch_body_write(lp, 0, "x", 1), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_fetch_body_write(lp, UINT64_MAX, "x", 1), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_fetch_body_write(lp, id, NULL, 1), SQ_ERR_NULL);
    CHECK_EQ(sq_fetch_body_finish(lp, 0), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_fetch_request_stream_body(NULL, -1), SQ_ERR_NULL);
    CHECK_EQ(sq_fetch_request_set_on_drain(NULL, on_up_drain), SQ_ERR_NULL);
    /* a fetch whose body is not streamed has nothing to write to */
    char url[96];
    url_of(url, sizeof url, "/slow/1");
    sq_fetch_request *plain = sq_fetch_request_new("GET", url);
    uint64_t pid = sq_fetch_request_id(plain);
    struct result r = {0};
    CHECK_EQ(sq_fetch(lp, plain, on_plain, &r), SQ_OK);
    CHECK_EQ(sq_fetch_body_write(lp, pid, "x", 1), SQ_ERR_CLOSED);
    CHECK(wait_for(&r.done, 1, WAIT_MS));
}

/* 50 concurrent fetches through at most 4 connections */
#define CONC 50
static struct result conc[CONC];
static atomic_int conc_done;

static void on_numbered(void *ud, const sq_fetch_response *resp) {
    struct result *r = ud;
    CHECK(pthread_equal(pthread_self(), host));
    r->calls++;
    CHECK_EQ(sq_fetch_response_error(resp), SQ_OK);
    CHECK_EQ(sq_fetch_response_status(resp), 200);
    sq_str b;
    CHECK_EQ(sq_fetch_response_body(resp, &b), SQ_OK);
    char want[32];
    int n = snprintf(want, sizeof want, "slow %d", r->expect_id);
    CHECK(b.len == (size_t)n && memcmp(b.ptr, want, b.len) == 0);
    atomic_store(&r->done, 1);
    atomic_fetch_add(&conc_done, 1);
}

static void concurrent(void) {
    CHECK_EQ(sq_fetch_set_limits(lp, 4, 0, 1000), SQ_OK);
    atomic_store(&slow_max, 0);
    atomic_store(&conc_done, 0);
    memset(conc, 0, sizeof conc);
    for (int i = 0; i < CONC; i++) {
        char url[96], path[32];
        snprintf(path, sizeof path, "/slow/%d", i);
        url_of(url, sizeof url, path);
        conc[i].expect_id = i;
        sq_fetch_request *req = sq_fetch_request_new("GET", url);
        CHECK(req != NULL);
        CHECK_EQ(sq_fetch(lp, req, on_numbered, &conc[i]), SQ_OK);
    }
    CHECK(wait_for(&conc_done, CONC, 60000));
    for (int i = 0; i < CONC; i++) CHECK_EQ(conc[i].calls, 1);
    int m = atomic_load(&slow_max);
    CHECK(m <= 4);  /* the pool's limit */
    CHECK(m >= 2);  /* and it did run requests side by side */
    CHECK_EQ(atomic_load(&slow_inflight), 0);
    CHECK_EQ(sq_fetch_set_limits(lp, 100, 0, 30000), SQ_OK);
}

/* fetches started from 4 threads at once */
#define THREADS 4
#define PER_THREAD 10
static struct result thr_res[THREADS][PER_THREAD];
static atomic_int thr_done;
static pthread_barrier_t barrier;

static void on_id(void *ud, const sq_fetch_response *resp) {
    struct result *r = ud;
    CHECK(pthread_equal(pthread_self(), host));
    r->calls++;
    CHECK_EQ(sq_fetch_response_error(resp), SQ_OK);
    CHECK_EQ(sq_fetch_response_status(resp), 200);
    sq_str b;
    CHECK_EQ(sq_fetch_response_body(resp, &b), SQ_OK);
    char want[32];
    int n = snprintf(want, sizeof want, "%d", r->expect_id);
    CHECK(b.len == (size_t)n && memcmp(b.ptr, want, b.len) == 0);
    atomic_store(&r->done, 1);
    atomic_fetch_add(&thr_done, 1);
}

static void *fetcher(void *arg) {
    int t = (int)(intptr_t)arg;
    sq_fetch_request *reqs[PER_THREAD];
    for (int i = 0; i < PER_THREAD; i++) {
        char url[96], path[32];
        int id = t * 1000 + i;
        snprintf(path, sizeof path, "/id/%d", id);
        url_of(url, sizeof url, path);
        thr_res[t][i].expect_id = id;
        reqs[i] = sq_fetch_request_new("GET", url);
        CHECK(reqs[i] != NULL);
    }
    pthread_barrier_wait(&barrier);
    for (int i = 0; i < PER_THREAD; i++) CHECK_EQ(sq_fetch(lp, reqs[i], on_id, &thr_res[t][i]), SQ_OK);
    return NULL;
}

static void from_threads(void) {
    memset(thr_res, 0, sizeof thr_res);
    atomic_store(&thr_done, 0);
    pthread_barrier_init(&barrier, NULL, THREADS);
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++) CHECK_EQ(pthread_create(&th[t], NULL, fetcher, (void *)(intptr_t)t), 0);
    for (int t = 0; t < THREADS; t++) CHECK_EQ(pthread_join(th[t], NULL), 0);
    pthread_barrier_destroy(&barrier);
    CHECK(wait_for(&thr_done, THREADS * PER_THREAD, 30000));
    for (int t = 0; t < THREADS; t++)
        for (int i = 0; i < PER_THREAD; i++) CHECK_EQ(thr_res[t][i].calls, 1);
}

/* a refused port */
static void on_refused(void *ud, const sq_fetch_response *resp) {
    struct result *r = ud;
    r->calls++;
    r->err = sq_fetch_response_error(resp);
    CHECK_EQ(r->err, SQ_ERR_CONNECT);
    CHECK_EQ(sq_fetch_response_status(resp), 0);
    sq_str s;
    CHECK_EQ(sq_fetch_response_message(resp, &s), SQ_OK);
    CHECK(s.len > 0);
    CHECK_EQ(sq_fetch_response_message(resp, NULL), SQ_ERR_NULL);
    CHECK_EQ(sq_fetch_response_body(resp, &s), SQ_OK);
    CHECK_EQ(s.len, 0);
    size_t count = 99;
    CHECK_EQ(sq_fetch_response_header_count(resp, &count), SQ_OK);
    CHECK_EQ(count, 0);
    double t;
    CHECK_EQ(sq_fetch_response_time(resp, SQ_TIME_FIRST_BYTE, &t), SQ_OK);
    CHECK_EQ(t, -1); /* not reached */
    CHECK_EQ(sq_fetch_response_time(resp, SQ_TIME_TLS, &t), SQ_OK);
    CHECK_EQ(t, -1);
    atomic_store(&r->done, 1);
}

static void refused(void) {
    char url[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", refused_port());
    sq_fetch_request *req = sq_fetch_request_new("GET", url);
    CHECK(req != NULL);
    struct result r = {0};
    fetch_and_wait(req, on_refused, &r);
}

/* misuse */
static atomic_int never_called;
static void on_never(void *ud, const sq_fetch_response *resp) {
    (void)ud;
    (void)resp;
    atomic_fetch_add(&never_called, 1);
}

static void misuse(void) {
    char url[96];
    url_of(url, sizeof url, "/hello");
    CHECK(sq_fetch_request_new(NULL, url) == NULL);
    CHECK(strlen(sq_last_error()) > 0);
    CHECK(sq_fetch_request_new("GET", NULL) == NULL);
    CHECK(sq_fetch_request_new("GE T", url) == NULL);
    CHECK(sq_fetch_request_new("", url) == NULL);
    CHECK(sq_fetch_request_new("GET\r\n", url) == NULL);
    CHECK(sq_fetch_request_new("GET", "not a url") == NULL);
    CHECK(sq_fetch_request_new("GET", "ftp://127.0.0.1/") == NULL);
    CHECK(sq_fetch_request_new("GET", "ws://127.0.0.1/") == NULL);
    CHECK(sq_fetch_request_new("GET", "http://") == NULL);
    CHECK(sq_fetch_request_new("GET", "/relative") == NULL);
    sq_fetch_request_free(NULL);

    /* a request refused a header, then freed without a fetch */
    sq_fetch_request *req = sq_fetch_request_new("GET", url);
    CHECK(req != NULL);
    CHECK_EQ(sq_fetch_request_set_header(req, "X-Bad", "a\rb", 3), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_fetch_request_set_header(req, "X-Good", "v", 1), SQ_OK);
    CHECK_EQ(sq_fetch_request_set_body(req, "data", 4), SQ_OK);
    sq_fetch_request_free(req);

    /* sq_fetch takes the request over also when it fails (no leak) */
    req = sq_fetch_request_new("GET", url);
    CHECK(req != NULL);
    CHECK_EQ(sq_fetch_request_set_body(req, "data", 4), SQ_OK);
    CHECK_EQ(sq_fetch(NULL, req, on_never, NULL), SQ_ERR_NULL);
    req = sq_fetch_request_new("GET", url);
    CHECK(req != NULL);
    CHECK_EQ(sq_fetch(lp, req, NULL, NULL), SQ_ERR_NULL);
    CHECK_EQ(sq_fetch(lp, NULL, on_never, NULL), SQ_ERR_NULL);

    /* setters */
    req = sq_fetch_request_new("DELETE", url);
    CHECK(req != NULL);
    CHECK_EQ(sq_fetch_request_set_timeouts(NULL, 1, 1), SQ_ERR_NULL);
    CHECK_EQ(sq_fetch_request_set_max_redirects(NULL, 1), SQ_ERR_NULL);
    CHECK_EQ(sq_fetch_request_set_decompress(NULL, 1, 1), SQ_ERR_NULL);
    CHECK_EQ(sq_fetch_request_set_max_body(NULL, 1), SQ_ERR_NULL);
    CHECK_EQ(sq_fetch_request_set_basic_auth(req, "a:b", "c"), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_fetch_request_set_basic_auth(req, NULL, "c"), SQ_ERR_NULL);
    CHECK_EQ(sq_fetch_request_set_ca_file(req, "/nonexistent/ca.pem"), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_fetch_request_set_ca_file(req, NULL), SQ_ERR_NULL);
    sq_fetch_request_free(req);

    CHECK_EQ(sq_fetch_set_limits(NULL, 4, 0, 0), SQ_ERR_NULL);
    CHECK_EQ(sq_fetch_set_limits(lp, 0, 0, 1000), SQ_ERR_INVALID_ARG);

    /* response accessors with NULL */
    sq_str s;
    size_t n;
    CHECK_EQ(sq_fetch_response_error(NULL), SQ_ERR_NULL);
    CHECK_EQ(sq_fetch_response_status(NULL), 0);
    CHECK_EQ(sq_fetch_response_redirects(NULL), 0);
    CHECK_EQ(sq_fetch_response_body(NULL, &s), SQ_ERR_NULL);
    CHECK_EQ(sq_fetch_response_reason(NULL, &s), SQ_ERR_NULL);
    CHECK_EQ(sq_fetch_response_url(NULL, &s), SQ_ERR_NULL);
    CHECK_EQ(sq_fetch_response_message(NULL, &s), SQ_ERR_NULL);
    CHECK_EQ(sq_fetch_response_header(NULL, "x", &s), SQ_ERR_NULL);
    CHECK_EQ(sq_fetch_response_header_count(NULL, &n), SQ_ERR_NULL);
    CHECK_EQ(sq_fetch_response_header_at(NULL, 0, &s, &s), SQ_ERR_NULL);

    /* the loop still works, and no callback came from the failed calls */
    struct result r = {0};
    req = sq_fetch_request_new("GET", url);
    CHECK(req != NULL);
    fetch_and_wait(req, on_plain, &r);
    CHECK_EQ(r.err, SQ_OK);
    CHECK_EQ(r.status, 203);
    CHECK_EQ(atomic_load(&never_called), 0);
}

/* A loop freed with a fetch in flight (connected, request sent, no answer)
 * or queued on a loop that never ran: no callback, nothing leaked. */
static void ws_never_open(void *ud, sq_ws *ws, sq_request *req) {
    (void)ud;
    (void)ws;
    (void)req;
    atomic_fetch_add(&never_called, 1);
}
static void ws_never_close(void *ud, sq_ws *ws, uint16_t code, const char *reason, size_t len) {
    (void)ud;
    (void)ws;
    (void)code;
    (void)reason;
    (void)len;
    atomic_fetch_add(&never_called, 1);
}
static void ws_never_error(void *ud, sq_status status, const char *message, size_t len) {
    (void)ud;
    (void)status;
    (void)message;
    (void)len;
    atomic_fetch_add(&never_called, 1);
}

static void free_loop_in_flight(uint32_t io_threads) {
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(ls >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK_EQ(bind(ls, (struct sockaddr *)&a, sizeof a), 0);
    CHECK_EQ(listen(ls, 16), 0); /* the kernel completes connects; never accepted */
    socklen_t l = sizeof a;
    CHECK_EQ(getsockname(ls, (struct sockaddr *)&a, &l), 0);
    char url[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/never", ntohs(a.sin_port));

    atomic_store(&never_called, 0);
    sq_loop *l2 = sq_loop_new();
    CHECK(l2 != NULL);
    CHECK_EQ(sq_loop_set_io_threads(l2, io_threads), SQ_OK);
    /* a WebSocket handshake in flight too */
    sq_ws_callbacks wcb = {.size = sizeof wcb, .on_open = ws_never_open, .on_close = ws_never_close,
                           .on_connect_error = ws_never_error};
    char wsurl[96];
    snprintf(wsurl, sizeof wsurl, "ws://127.0.0.1:%d/never", ntohs(a.sin_port));
    CHECK_EQ(sq_ws_connect(l2, wsurl, &wcb, NULL, NULL), SQ_OK);
    for (int i = 0; i < 3; i++) {
        sq_fetch_request *req = sq_fetch_request_new("POST", url);
        CHECK(req != NULL);
        CHECK_EQ(sq_fetch_request_set_body(req, "pending", 7), SQ_OK);
        CHECK_EQ(sq_fetch(l2, req, on_never, NULL), SQ_OK);
    }
    long long start = now_ns();
    while (now_ns() - start < 300LL * 1000000) CHECK_EQ(sq_loop_poll(l2, 20), SQ_OK);
    CHECK_EQ(atomic_load(&never_called), 0);
    sq_loop_free(l2);
    sleep_ms(50);
    CHECK_EQ(atomic_load(&never_called), 0);

    /* never run at all */
    sq_loop *l3 = sq_loop_new();
    sq_fetch_request *req = sq_fetch_request_new("GET", url);
    CHECK_EQ(sq_fetch(l3, req, on_never, NULL), SQ_OK);
    CHECK_EQ(sq_ws_connect(l3, wsurl, &wcb, NULL, NULL), SQ_OK);
    sq_loop_free(l3);
    CHECK_EQ(atomic_load(&never_called), 0);
    close(ls);
}

/* ---- the WebSocket client ---------------------------------------------------------- */

static struct {
    atomic_int opened, closed, errors, messages;
    int got_text, got_binary, bad;
    uint16_t code;
    char reason[32];
    sq_status err;
    int err_msg_len;
} wc;
static int wc_tag;

static void wc_open(void *ud, sq_ws *ws, sq_request *req) {
    CHECK(ud == &wc_tag);
    CHECK(req == NULL);
    CHECK(pthread_equal(pthread_self(), host));
    sq_str p;
    CHECK_EQ(sq_ws_subprotocol(ws, &p), SQ_ERR_NOT_FOUND);
    CHECK_EQ(sq_ws_send(ws, "hi there", 8, SQ_WS_TEXT), SQ_OK);
    CHECK_EQ(sq_ws_send(ws, "\x00\x01\x02\xff", 4, SQ_WS_BINARY), SQ_OK);
    CHECK_EQ(sq_ws_send(ws, "\xff", 1, SQ_WS_TEXT), SQ_ERR_INVALID_ARG);
    atomic_fetch_add(&wc.opened, 1);
}
static void wc_message(void *ud, sq_ws *ws, const void *data, size_t len, int opcode) {
    CHECK(ud == &wc_tag);
    if (opcode == SQ_WS_TEXT && len == 8 && memcmp(data, "hi there", 8) == 0 && !wc.got_binary) wc.got_text++;
    else if (opcode == SQ_WS_BINARY && len == 4 && memcmp(data, "\x00\x01\x02\xff", 4) == 0 && wc.got_text) wc.got_binary++;
    else wc.bad++;
    if (atomic_fetch_add(&wc.messages, 1) + 1 == 2) {
        CHECK_EQ(sq_ws_close(ws, 1000, "done"), SQ_OK);
        CHECK_EQ(sq_ws_send(ws, "late", 4, SQ_WS_TEXT), SQ_ERR_CLOSED);
    }
}
static void wc_close(void *ud, sq_ws *ws, uint16_t code, const char *reason, size_t len) {
    (void)ws;
    CHECK(ud == &wc_tag);
    wc.code = code;
    CHECK(len < sizeof wc.reason);
    memcpy(wc.reason, reason, len);
    wc.reason[len] = 0;
    atomic_fetch_add(&wc.closed, 1);
}
static void wc_connect_error(void *ud, sq_status status, const char *message, size_t len) {
    CHECK(ud == &wc_tag);
    (void)message;
    wc.err = status;
    wc.err_msg_len = (int)len;
    atomic_fetch_add(&wc.errors, 1);
}

static void ws_client(void) {
    memset(&wc, 0, sizeof wc);
    atomic_store(&srv_ws_closed, 0);
    sq_ws_callbacks cb = {.size = sizeof cb,
                          .on_open = wc_open,
                          .on_message = wc_message,
                          .on_close = wc_close,
                          .on_connect_error = wc_connect_error};
    char url[96];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/ws/echo", port);
    sq_ws_options o;
    CHECK_EQ(sq_ws_options_init(&o, sizeof o), SQ_OK);
    o.connect_timeout_ms = 5000;
    o.headers = "X-Client: test";

    /* misuse: nothing follows these */
    CHECK_EQ(sq_ws_connect(NULL, url, &cb, NULL, &wc_tag), SQ_ERR_NULL);
    CHECK_EQ(sq_ws_connect(lp, NULL, &cb, NULL, &wc_tag), SQ_ERR_NULL);
    CHECK_EQ(sq_ws_connect(lp, url, NULL, NULL, &wc_tag), SQ_ERR_NULL);
    CHECK_EQ(sq_ws_connect(lp, "http://127.0.0.1/", &cb, NULL, &wc_tag), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_ws_connect(lp, "not a url", &cb, NULL, &wc_tag), SQ_ERR_INVALID_ARG);
    sq_ws_options bad = o;
    bad.headers = "Bad Name: v";
    CHECK_EQ(sq_ws_connect(lp, url, &cb, &bad, &wc_tag), SQ_ERR_INVALID_ARG);
    bad = o;
    bad.ca_file = "/nonexistent/ca.pem";
    CHECK_EQ(sq_ws_connect(lp, "wss://127.0.0.1:1/", &cb, &bad, &wc_tag), SQ_ERR_INVALID_ARG);
    bad = o;
    bad.flags = 0x100;
    CHECK_EQ(sq_ws_connect(lp, url, &cb, &bad, &wc_tag), SQ_ERR_INVALID_ARG);
    sq_ws_callbacks unsized = cb;
    unsized.size = 0;
    CHECK_EQ(sq_ws_connect(lp, url, &unsized, NULL, &wc_tag), SQ_ERR_INVALID_ARG);

    CHECK_EQ(sq_ws_connect(lp, url, &cb, &o, &wc_tag), SQ_OK);
    CHECK(wait_for(&wc.closed, 1, WAIT_MS));
    CHECK_EQ(atomic_load(&wc.opened), 1);
    CHECK_EQ(wc.got_text, 1);
    CHECK_EQ(wc.got_binary, 1);
    CHECK_EQ(wc.bad, 0);
    CHECK_EQ(wc.code, 1000);
    CHECK_EQ(atomic_load(&wc.errors), 0);
    CHECK(wait_for(&srv_ws_closed, 1, WAIT_MS));
    CHECK_EQ(atomic_load(&srv_ws_code), 1000); /* the client's close reached the route */

    /* a refused port: on_connect_error, nothing else */
    memset(&wc, 0, sizeof wc);
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/ws/echo", refused_port());
    CHECK_EQ(sq_ws_connect(lp, url, &cb, NULL, &wc_tag), SQ_OK);
    CHECK(wait_for(&wc.errors, 1, WAIT_MS));
    CHECK_EQ(wc.err, SQ_ERR_CONNECT);
    CHECK(wc.err_msg_len > 0);
    sleep_ms(50);
    CHECK_EQ(atomic_load(&wc.errors), 1);
    CHECK_EQ(atomic_load(&wc.opened), 0);
    CHECK_EQ(atomic_load(&wc.closed), 0);

    /* an HTTP route is not a WebSocket: SQ_ERR_PROTOCOL */
    memset(&wc, 0, sizeof wc);
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/hello", port);
    CHECK_EQ(sq_ws_connect(lp, url, &cb, NULL, &wc_tag), SQ_OK);
    CHECK(wait_for(&wc.errors, 1, WAIT_MS));
    CHECK_EQ(wc.err, SQ_ERR_PROTOCOL);
    CHECK_EQ(atomic_load(&wc.opened), 0);
}

/* ---- driver ---------------------------------------------------------------------- */

static void run(uint32_t io_threads) {
    lp = sq_loop_new();
    CHECK(lp != NULL);
    CHECK_EQ(sq_loop_set_io_threads(lp, io_threads), SQ_OK);
    srv = sq_server_new(lp);
    CHECK(srv != NULL);
    CHECK_EQ(sq_route(srv, "GET", "/hello", h_hello, NULL, 0), SQ_OK);
    CHECK_EQ(sq_route(srv, "POST", "/echo", h_echo, NULL, 0), SQ_OK);
    CHECK_EQ(sq_route(srv, "GET", "/big", h_big, NULL, 0), SQ_OK);
    CHECK_EQ(sq_route(srv, "GET", "/id/(\\d+)", h_id, NULL, 0), SQ_OK);
    CHECK_EQ(sq_route(srv, "GET", "/slow/(\\d+)", h_slow, NULL, 0), SQ_OK);
    CHECK_EQ(sq_route(srv, "GET", "/hang", h_hang, NULL, 0), SQ_OK);
    CHECK_EQ(sq_route(srv, "GET", "/huge", h_huge, NULL, 0), SQ_OK);
    sq_ws_callbacks wcb = {.size = sizeof wcb, .on_message = ws_srv_message, .on_close = ws_srv_close};
    CHECK_EQ(sq_ws_route(srv, "/ws/echo", &wcb, NULL, NULL), SQ_OK);
    uint16_t bound = 0;
    CHECK_EQ(sq_server_listen(srv, "127.0.0.1", 0, &bound), SQ_OK);
    port = bound;
    snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
    CHECK_EQ(pthread_create(&host, NULL, host_main, NULL), 0);

    get_with_accessors();
    post_with_body();
    streaming();
    concurrent();
    from_threads();
    refused();
    cancelling();
    pausing();
    uploading();
    misuse();
    ws_client();

    CHECK_EQ(sq_loop_stop(lp), SQ_OK);
    CHECK_EQ(pthread_join(host, NULL), 0);
    sq_server_free(srv);
    sq_loop_free(lp);
    free_loop_in_flight(io_threads);
    printf("test_fetch (io_threads %u): ok\n", io_threads);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    for (size_t i = 0; i < BIG; i++) big[i] = (unsigned char)(i * 131 + (i >> 8));
    run(1);
    run(0);
    return 0;
}
