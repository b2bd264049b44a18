/* The C side of squall's Go package: see shim.h. */
#include <stdlib.h>
#include <string.h>

#include "shim.h"
#include "_cgo_export.h"

#define REQ(h) ((sq_request *)(uintptr_t)(h))
#define WS(h) ((sq_ws *)(uintptr_t)(h))
#define UD(p) ((uint64_t)(uintptr_t)(p))

/* The pump of the sq_loop_poll running on this thread (callbacks of a loop
 * run only inside its poll, on the polling thread). */
static __thread sqgo_pump *current;

sqgo_pump *sqgo_pump_new(sq_loop *loop) {
    sqgo_pump *p = calloc(1, sizeof *p);
    if (p) p->loop = loop;
    return p;
}

void sqgo_pump_free(sqgo_pump *p) {
    if (!p) return;
    free(p->events);
    free(p->arena);
    free(p);
}

static sqgo_event *push(sqgo_pump *p, int32_t kind, uint64_t ud, uint64_t handle) {
    if (p->nevents == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 256;
        sqgo_event *e = realloc(p->events, cap * sizeof *e);
        if (!e) {
            p->oom++;
            return NULL;
        }
        p->events = e;
        p->cap = cap;
    }
    sqgo_event *e = &p->events[p->nevents++];
    memset(e, 0, sizeof *e);
    e->kind = kind;
    e->ud = ud;
    e->handle = handle;
    return e;
}

/* Reserves n bytes of the arena; returns their offset or -1. */
static int64_t reserve(sqgo_pump *p, size_t n) {
    if (p->acap - p->used < n) {
        size_t cap = p->acap ? p->acap : 64 * 1024;
        while (cap - p->used < n) cap *= 2;
        char *a = realloc(p->arena, cap);
        if (!a) {
            p->oom++;
            return -1;
        }
        p->arena = a;
        p->acap = cap;
    }
    int64_t off = (int64_t)p->used;
    p->used += n;
    return off;
}

static int copy_bytes(sqgo_pump *p, sqgo_event *e, const void *data, size_t len) {
    int64_t off = reserve(p, len);
    if (off < 0) return -1;
    if (len) memcpy(p->arena + off, data, len);
    e->off = (uint64_t)off;
    e->len = len;
    return 0;
}

/* Appends one field (a native u32 length and its bytes) to the arena. */
static int put_field(sqgo_pump *p, const char *s, size_t n) {
    int64_t off = reserve(p, 4 + n);
    if (off < 0) return -1;
    uint32_t len = (uint32_t)n;
    memcpy(p->arena + off, &len, 4);
    if (n) memcpy(p->arena + off + 4, s, n);
    return 0;
}

/* Packs a request head into the arena, in one pass over the request:
 * method, request-target, remote IP, a native u32 holding the peer port
 * (low 16 bits) and the HTTP minor version (bits 16-23), then a native u32
 * count and that many header name/value pairs.
 * Returns the offset (and the length in *len_out), or -1 with the arena as
 * it was. */
static int64_t pack_head(sqgo_pump *p, sq_request *req, size_t *len_out) {
    sq_str method = {0}, uri = {0}, ip = {0}, name, value;
    size_t nh = 0, start = p->used;
    if (sq_request_method(req, &method) != SQ_OK || sq_request_uri(req, &uri) != SQ_OK ||
        sq_request_header_count(req, &nh) != SQ_OK)
        return -1;
    uint16_t pport = 0;
    uint32_t major = 1, minor = 1;
    (void)sq_request_remote_ip(req, &ip);
    (void)sq_request_remote_port(req, &pport);
    (void)sq_request_version(req, &major, &minor);
    int ok = put_field(p, method.ptr, method.len) == 0 && put_field(p, uri.ptr, uri.len) == 0 &&
             put_field(p, ip.ptr, ip.len) == 0;
    int64_t peer = ok ? reserve(p, 4) : -1;
    if (peer >= 0) {
        uint32_t word = (uint32_t)pport | ((minor & 0xff) << 16);
        memcpy(p->arena + peer, &word, 4);
    }
    int64_t count = peer >= 0 ? reserve(p, 4) : -1;
    if (count >= 0) {
        uint32_t n32 = (uint32_t)nh;
        memcpy(p->arena + count, &n32, 4);
    }
    for (size_t i = 0; count >= 0 && i < nh; i++) {
        if (sq_request_header_at(req, i, &name, &value) != SQ_OK || put_field(p, name.ptr, name.len) < 0 ||
            put_field(p, value.ptr, value.len) < 0)
            count = -1;
    }
    if (count < 0) {
        p->used = start;
        return -1;
    }
    *len_out = p->used - start;
    return (int64_t)start;
}

sq_status sqgo_poll(sqgo_pump *p, int32_t timeout_ms) {
    p->nevents = 0;
    p->used = 0;
    p->oom = 0;
    if (p->acap > (8u << 20)) { /* give a large message's arena back */
        free(p->arena);
        p->arena = NULL;
        p->acap = 0;
    }
    current = p;
    sq_status st = sq_loop_poll(p->loop, timeout_ms);
    current = NULL;
    return st;
}

/* ---- HTTP -------------------------------------------------------------- */

static void on_req_closed(void *ud) {
    sqgo_pump *p = current;
    if (p) push(p, SQGO_REQ_CLOSED, 0, UD(ud));
}

static sq_status on_request(void *ud, sq_request *req) {
    sqgo_pump *p = current;
    if (!p) return SQ_ERR_STATE;
    size_t len = 0;
    int64_t off = pack_head(p, req, &len);
    sq_str body = {0};
    if (off < 0 || sq_request_body(req, &body) != SQ_OK) return SQ_ERR_LIMIT; /* squall answers 500 */
    sqgo_event *e = push(p, SQGO_REQUEST, UD(ud), UD(req));
    if (!e) return SQ_ERR_LIMIT;
    e->off = (uint64_t)off;
    e->len = len;
    e->body = body.ptr;
    e->body_len = body.len;
    return SQ_OK;
}

sq_status sqgo_route(sq_server *s, const char *method, const char *pattern, uintptr_t ud) {
    return sq_route(s, method, pattern, on_request, (void *)ud, 0);
}

sq_status sqgo_request_on_close(uint64_t req) {
    return sq_request_on_close(REQ(req), on_req_closed, (void *)(uintptr_t)req);
}

/* Builds the sq_header array for "name\0value\0" pairs. */
static sq_header *headers(const char *hdrs, size_t nh, sq_header *stack, size_t nstack) {
    sq_header *h = nh <= nstack ? stack : malloc(nh * sizeof *h);
    if (!h) return NULL;
    const char *at = hdrs;
    for (size_t i = 0; i < nh; i++) {
        h[i].name = at;
        at += strlen(at) + 1;
        h[i].value = at;
        h[i].value_len = strlen(at);
        at += h[i].value_len + 1;
    }
    return h;
}

sq_status sqgo_respond(uint64_t req, int status, const char *hdrs, size_t nh, const void *body, size_t len) {
    sq_header stack[32];
    sq_header *h = headers(hdrs, nh, stack, 32);
    if (!h && nh) return SQ_ERR_LIMIT;
    sq_status st = sq_respond(REQ(req), status, h, nh, body, len);
    if (h != stack) free(h);
    return st;
}

sq_status sqgo_response_head(uint64_t req, int status, const char *hdrs, size_t nh) {
    sq_status st = sq_response_status(REQ(req), status, NULL);
    const char *at = hdrs;
    for (size_t i = 0; i < nh && st == SQ_OK; i++) {
        const char *name = at;
        at += strlen(at) + 1;
        size_t vlen = strlen(at);
        st = sq_response_header(REQ(req), name, at, vlen, 0);
        at += vlen + 1;
    }
    return st;
}

sq_status sqgo_response_write(uint64_t req, const void *data, size_t len, int flush) {
    sq_status st = len ? sq_response_write(REQ(req), data, len) : SQ_OK;
    if (st == SQ_OK && flush) st = sq_response_flush(REQ(req));
    return st;
}

sq_status sqgo_response_finish(uint64_t req) { return sq_response_finish(REQ(req)); }

/* ---- timers and callbacks ---------------------------------------------- */

static void on_timer(void *ud, sq_timer_id id) {
    sqgo_pump *p = current;
    if (p) push(p, SQGO_TIMER, UD(ud), id);
}

static void on_callback(void *ud) {
    sqgo_pump *p = current;
    if (p) push(p, SQGO_CALLBACK, UD(ud), 0);
}

sq_status sqgo_call_later(sq_loop *l, uint64_t ms, uintptr_t ud, uint64_t *id) {
    return sq_call_later(l, ms, on_timer, (void *)ud, id);
}

static void on_cluster_state(void *ud, int state) {
    sqgo_pump *p = current;
    sqgo_event *e = p ? push(p, SQGO_CLUSTER_STATE, UD(ud), 0) : NULL;
    if (e) e->arg = state;
}

sq_status sqgo_cluster_on_state(sq_cluster *c) { return sq_cluster_on_state(c, on_cluster_state, NULL); }

sq_status sqgo_add_callback(sq_loop *l, uintptr_t ud) { return sq_loop_add_callback(l, on_callback, (void *)ud); }

sq_status sqgo_server_shutdown(sq_server *s, uint64_t ms, uintptr_t ud) {
    return sq_server_shutdown(s, ms, on_callback, (void *)ud);
}

/* ---- WebSockets -------------------------------------------------------- */

static void on_ws_open(void *ud, sq_ws *ws, sq_request *req) {
    sqgo_pump *p = current;
    if (!p) return;
    size_t len = 0;
    int64_t off = req ? pack_head(p, req, &len) : -1;
    sqgo_event *e = push(p, SQGO_WS_OPEN, UD(ud), UD(ws));
    if (!e) {
        sq_ws_close(ws, 1011, "out of memory");
        return;
    }
    if (off >= 0) {
        e->off = (uint64_t)off;
        e->len = len;
        e->arg = 1;
    }
    /* Over TLS: what the handshake agreed on, for the Conn's Request().TLS
     * (the request is only valid during this callback). At body_len: a
     * native u32 (version in the low 16 bits, cipher suite in the high),
     * then the server name and the ALPN protocol as fields; arg bit 2. */
    sq_tls_info info;
    memset(&info, 0, sizeof info);
    info.size = sizeof info;
    if (req && sq_request_tls(req, &info) == SQ_OK) {
        size_t start = p->used;
        int64_t w = reserve(p, 4);
        if (w >= 0) {
            uint32_t vc = (uint32_t)(info.version & 0xffff) | (uint32_t)((info.cipher_suite & 0xffff) << 16);
            memcpy(p->arena + w, &vc, 4);
        }
        if (w >= 0 && put_field(p, info.server_name.ptr, info.server_name.len) == 0 &&
            put_field(p, info.alpn.ptr, info.alpn.len) == 0) {
            e->body_len = (uint64_t)start;
            e->arg |= 2;
        } else {
            p->used = start;
        }
    }
}

static void on_ws_message(void *ud, sq_ws *ws, const void *data, size_t len, int opcode) {
    sqgo_pump *p = current;
    if (!p) return;
    sqgo_event *e = push(p, SQGO_WS_MESSAGE, UD(ud), UD(ws));
    if (!e || copy_bytes(p, e, data, len) < 0) {
        if (e) p->nevents--;
        sq_ws_close(ws, 1011, "out of memory");
        return;
    }
    e->arg = opcode;
}

static void on_ws_close(void *ud, sq_ws *ws, uint16_t code, const char *reason, size_t len) {
    sqgo_pump *p = current;
    if (!p) return;
    sqgo_event *e = push(p, SQGO_WS_CLOSE, UD(ud), UD(ws));
    if (!e) return;
    e->arg = code;
    if (copy_bytes(p, e, reason, len) < 0) e->len = 0;
}

static void on_ws_drain(void *ud, sq_ws *ws) {
    sqgo_pump *p = current;
    if (p) push(p, SQGO_WS_DRAIN, UD(ud), UD(ws));
}

static void on_ws_control(int32_t kind, void *ud, sq_ws *ws, const void *data, size_t len) {
    sqgo_pump *p = current;
    if (!p) return;
    sqgo_event *e = push(p, kind, UD(ud), UD(ws));
    if (e && copy_bytes(p, e, data, len) < 0) e->len = 0;
}

static void on_ws_ping(void *ud, sq_ws *ws, const void *data, size_t len) {
    on_ws_control(SQGO_WS_PING, ud, ws, data, len);
}

static void on_ws_pong(void *ud, sq_ws *ws, const void *data, size_t len) {
    on_ws_control(SQGO_WS_PONG, ud, ws, data, len);
}

/* Asks the route's Go CheckOrigin, with the upgrade request packed into the
 * arena for the duration of the call. */
static int check_origin(void *ud, sq_request *req, const char *origin, size_t origin_len) {
    sqgo_pump *p = current;
    if (!p) return 0;
    size_t mark = p->used, len = 0;
    int64_t off = pack_head(p, req, &len);
    if (off < 0) return 0;
    int ok = sqgoCheckOrigin((uintptr_t)ud, p->arena + off, len, (char *)origin, origin_len);
    p->used = mark;
    return ok;
}

/* The events every socket of the Go package hands on, server's or dialed. */
static void ws_callbacks(sq_ws_callbacks *cb) {
    memset(cb, 0, sizeof *cb);
    cb->size = sizeof *cb;
    cb->on_open = on_ws_open;
    cb->on_message = on_ws_message;
    cb->on_close = on_ws_close;
    cb->on_drain = on_ws_drain;
    cb->on_ping = on_ws_ping;
    cb->on_pong = on_ws_pong;
}

sq_status sqgo_ws_route(sq_server *s, const char *pattern, const sq_ws_options *o, uintptr_t ud, int with_check) {
    sq_ws_callbacks cb;
    ws_callbacks(&cb);
    if (with_check) cb.check_origin = check_origin;
    return sq_ws_route(s, pattern, &cb, o, (void *)ud);
}

static void on_ws_connect_error(void *ud, sq_status status, const char *message, size_t len) {
    sqgo_pump *p = current;
    if (!p) return;
    sqgo_event *e = push(p, SQGO_WS_CONNECT_ERROR, UD(ud), 0);
    if (!e) return;
    e->arg = status;
    if (copy_bytes(p, e, message, len) < 0) e->len = 0;
}

sq_status sqgo_ws_connect(sq_loop *l, const char *url, const sq_ws_options *o, uintptr_t ud) {
    sq_ws_callbacks cb;
    ws_callbacks(&cb);
    cb.on_connect_error = on_ws_connect_error;
    return sq_ws_connect(l, url, &cb, o, (void *)ud);
}

sq_status sqgo_ws_send(uint64_t ws, const void *data, size_t len, int opcode) {
    return sq_ws_send(WS(ws), data, len, opcode);
}

sq_status sqgo_ws_send_ex(uint64_t ws, const void *data, size_t len, int opcode, uint32_t flags) {
    return sq_ws_send_ex(WS(ws), data, len, opcode, flags);
}

sq_status sqgo_ws_close(uint64_t ws, uint16_t code, const char *reason) { return sq_ws_close(WS(ws), code, reason); }

sq_status sqgo_ws_ping(uint64_t ws, const void *data, size_t len) { return sq_ws_ping(WS(ws), data, len); }

size_t sqgo_ws_buffered_amount(uint64_t ws) { return sq_ws_buffered_amount(WS(ws)); }
sq_status sqgo_ws_pause_reading(uint64_t ws) { return sq_ws_pause_reading(WS(ws)); }
sq_status sqgo_ws_resume_reading(uint64_t ws) { return sq_ws_resume_reading(WS(ws)); }

sq_status sqgo_ws_subscribe(uint64_t ws, const char *topic, int on) {
    return on ? sq_ws_subscribe(WS(ws), topic) : sq_ws_unsubscribe(WS(ws), topic);
}

sq_status sqgo_ws_subprotocol(uint64_t ws, sq_str *out) { return sq_ws_subprotocol(WS(ws), out); }

sq_status sqgo_request_tls(uint64_t req, sq_tls_info *out) {
    return sq_request_tls((sq_request *)(uintptr_t)req, out);
}

/* ---- the client -------------------------------------------------------- */

sq_status sqgo_fetch_headers(sq_fetch_request *req, const char *hdrs, size_t nh) {
    const char *at = hdrs;
    for (size_t i = 0; i < nh; i++) {
        const char *name = at;
        at += strlen(at) + 1;
        size_t vlen = strlen(at);
        sq_status st = sq_fetch_request_set_header(req, name, at, vlen);
        if (st != SQ_OK) return st;
        at += vlen + 1;
    }
    return SQ_OK;
}

static void put_u32(sqgo_pump *p, int64_t *at, uint32_t v) {
    if (*at < 0) return;
    int64_t off = reserve(p, 4);
    if (off < 0) {
        *at = -1;
        return;
    }
    memcpy(p->arena + off, &v, 4);
}

/* The head of the final response: reason, a native u32 TLS version (0:
 * plain http) and cipher suite, server name, ALPN, then a native u32 count
 * and that many header name/value pairs. */
static void on_fetch_head(void *ud, const sq_fetch_response *resp) {
    sqgo_pump *p = current;
    if (!p) return;
    size_t start = p->used, nh = 0;
    sq_str reason = {0}, name, value;
    sq_tls_info tls = {.size = sizeof tls};
    int has_tls = sq_fetch_response_tls(resp, &tls) == SQ_OK;
    (void)sq_fetch_response_reason(resp, &reason);
    (void)sq_fetch_response_header_count(resp, &nh);
    int64_t ok = put_field(p, reason.ptr, reason.len) == 0 ? 0 : -1;
    put_u32(p, &ok, has_tls ? (uint32_t)tls.version : 0);
    put_u32(p, &ok, has_tls ? (uint32_t)tls.cipher_suite : 0);
    if (ok == 0 && (put_field(p, has_tls ? tls.server_name.ptr : NULL, has_tls ? tls.server_name.len : 0) < 0 ||
                    put_field(p, has_tls ? tls.alpn.ptr : NULL, has_tls ? tls.alpn.len : 0) < 0))
        ok = -1;
    put_u32(p, &ok, (uint32_t)nh);
    for (size_t i = 0; ok == 0 && i < nh; i++) {
        if (sq_fetch_response_header_at(resp, i, &name, &value) != SQ_OK || put_field(p, name.ptr, name.len) < 0 ||
            put_field(p, value.ptr, value.len) < 0)
            ok = -1;
    }
    sqgo_event *e = ok == 0 ? push(p, SQGO_FETCH_HEAD, UD(ud), 0) : NULL;
    if (!e) { /* the Go side then sees the fetch end without a head */
        p->used = start;
        return;
    }
    e->arg = (int32_t)sq_fetch_response_status(resp);
    e->off = start;
    e->len = p->used - start;
}

static void on_fetch_chunk(void *ud, const uint8_t *data, size_t len) {
    sqgo_pump *p = current;
    if (!p) return;
    sqgo_event *e = push(p, SQGO_FETCH_CHUNK, UD(ud), 0);
    if (e && copy_bytes(p, e, data, len) < 0) e->arg = -1; /* lost: the Go side fails the body */
}

static void on_fetch_done(void *ud, const sq_fetch_response *resp) {
    sqgo_pump *p = current;
    if (!p) return;
    sqgo_event *e = push(p, SQGO_FETCH_DONE, UD(ud), 0);
    if (!e) return;
    sq_str m = {0};
    e->arg = sq_fetch_response_error(resp);
    (void)sq_fetch_response_message(resp, &m);
    (void)copy_bytes(p, e, m.ptr, m.len);
}

static void on_fetch_drain(void *ud) {
    sqgo_pump *p = current;
    if (p) push(p, SQGO_FETCH_DRAIN, UD(ud), 0);
}

sq_status sqgo_fetch(sq_loop *l, sq_fetch_request *req, uintptr_t ud) {
    if (sq_fetch_request_set_on_headers(req, on_fetch_head) != SQ_OK ||
        sq_fetch_request_set_on_chunk(req, on_fetch_chunk) != SQ_OK ||
        sq_fetch_request_set_on_drain(req, on_fetch_drain) != SQ_OK) {
        sq_fetch_request_free(req);
        return SQ_ERR_NULL;
    }
    return sq_fetch(l, req, on_fetch_done, (void *)ud);
}
