/* The C side of squall's Go package.
 *
 * The callbacks squall calls live here, in C, so that draining the loop costs
 * one cgo call per batch instead of one Go callback per event: while
 * sqgo_poll runs sq_loop_poll on the host goroutine's thread, every callback
 * appends an event (and copies what it must) into the pump's buffers, and Go
 * reads the batch after the call returns. Userdata given to squall is a
 * cgo.Handle value or a squall handle; the integer/pointer casts happen here
 * and nowhere in Go. No Go pointer is stored on this side. */
#ifndef SQUALL_GO_SHIM_H
#define SQUALL_GO_SHIM_H

#include <stddef.h>
#include <stdint.h>
#include "squall.h"

enum {
    SQGO_REQUEST = 1,    /* ud: route handle; handle: request; off/len: packed head; body/body_len */
    SQGO_REQ_CLOSED,     /* handle: request whose client left */
    SQGO_WS_OPEN,        /* ud: route; handle: ws; off/len: packed head of the upgrade request */
    SQGO_WS_MESSAGE,     /* ud: route; handle: ws; arg: opcode; off/len: payload */
    SQGO_WS_CLOSE,       /* ud: route; handle: ws; arg: code; off/len: reason */
    SQGO_WS_DRAIN,       /* ud: route; handle: ws */
    SQGO_WS_PING,        /* ud: route; handle: ws; off/len: payload */
    SQGO_WS_PONG,        /* ud: route; handle: ws; off/len: payload */
    SQGO_TIMER,          /* ud: timer handle; handle: timer id */
    SQGO_CALLBACK,       /* ud: callback handle */
    SQGO_CLUSTER_STATE,  /* arg: the SQ_CLUSTER_* state */
    SQGO_FETCH_HEAD,     /* ud: fetch handle; arg: status; off/len: packed response head */
    SQGO_FETCH_CHUNK,    /* ud: fetch handle; off/len: a piece of the response body */
    SQGO_FETCH_DONE,     /* ud: fetch handle; arg: sq_status of the fetch; off/len: its message */
    SQGO_FETCH_DRAIN,    /* ud: fetch handle: the streamed request body's queue is low again */
    SQGO_WS_CONNECT_ERROR /* ud: dial's route handle; arg: sq_status; off/len: message */
};

typedef struct {
    int32_t kind;
    int32_t arg;
    uint64_t ud;
    uint64_t handle;
    uint64_t off;
    uint64_t len;
    const void *body; /* SQGO_REQUEST: the request body, valid until the response is finished */
    uint64_t body_len;
} sqgo_event;

typedef struct {
    sq_loop *loop;
    sqgo_event *events;
    size_t nevents, cap;
    char *arena;
    size_t used, acap;
    int32_t oom; /* events lost to a failed allocation during the last poll */
} sqgo_pump;

sqgo_pump *sqgo_pump_new(sq_loop *loop);
void sqgo_pump_free(sqgo_pump *p);
/* sq_loop_poll(p->loop, timeout_ms) collecting the callbacks' events. */
sq_status sqgo_poll(sqgo_pump *p, int32_t timeout_ms);

/* Routes: userdata is a cgo.Handle value. */
sq_status sqgo_route(sq_server *s, const char *method, const char *pattern, uintptr_t ud);
sq_status sqgo_ws_route(sq_server *s, const char *pattern, const sq_ws_options *o, uintptr_t ud, int check_origin);

/* Timers and callbacks. */
sq_status sqgo_call_later(sq_loop *l, uint64_t ms, uintptr_t ud, uint64_t *id);
sq_status sqgo_add_callback(sq_loop *l, uintptr_t ud);
sq_status sqgo_server_shutdown(sq_server *s, uint64_t ms, uintptr_t ud);
sq_status sqgo_cluster_on_state(sq_cluster *c);

/* Requests: `req` is the squall handle as an integer. `hdrs` holds `nh`
 * pairs "name\0value\0". */
sq_status sqgo_respond(uint64_t req, int status, const char *hdrs, size_t nh, const void *body, size_t len);
sq_status sqgo_response_head(uint64_t req, int status, const char *hdrs, size_t nh);
sq_status sqgo_response_write(uint64_t req, const void *data, size_t len, int flush);
sq_status sqgo_response_finish(uint64_t req);
sq_status sqgo_request_on_close(uint64_t req);

/* WebSockets: `ws` is the squall handle as an integer. */
sq_status sqgo_ws_send(uint64_t ws, const void *data, size_t len, int opcode);
sq_status sqgo_ws_send_ex(uint64_t ws, const void *data, size_t len, int opcode, uint32_t flags);
sq_status sqgo_ws_close(uint64_t ws, uint16_t code, const char *reason);
sq_status sqgo_ws_ping(uint64_t ws, const void *data, size_t len);
size_t sqgo_ws_buffered_amount(uint64_t ws);
sq_status sqgo_ws_pause_reading(uint64_t ws);
sq_status sqgo_ws_resume_reading(uint64_t ws);
sq_status sqgo_ws_subscribe(uint64_t ws, const char *topic, int on);
sq_status sqgo_ws_subprotocol(uint64_t ws, sq_str *out);

/* The WebSocket client (squall.Dial): the route callbacks plus
 * on_connect_error; `ud` is the dial's route handle. */
sq_status sqgo_ws_connect(sq_loop *l, const char *url, const sq_ws_options *o, uintptr_t ud);

/* The client (squall.Transport). `hdrs` holds `nh` pairs "name\0value\0".
 * sqgo_fetch sets the head, chunk and drain callbacks, then calls sq_fetch
 * with `ud` (a cgo.Handle value); the events above report the fetch. */
sq_status sqgo_fetch_headers(sq_fetch_request *req, const char *hdrs, size_t nh);
sq_status sqgo_fetch(sq_loop *l, sq_fetch_request *req, uintptr_t ud);

/* sq_request_tls for a request handle Go holds as an integer. */
sq_status sqgo_request_tls(uint64_t req, sq_tls_info *out);

#endif
