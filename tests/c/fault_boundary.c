/* The panic boundary seen from C, against a library built with the
 * fault-injection feature (make test-fault), run with
 * SQUALL_FAULT=export:3,timer:1,accept:1,request:1,websocket:1:
 *  - the third export call panics inside squall: it returns SQ_ERR_PANIC,
 *    sq_last_error() says so and an error record reaches the log callback;
 *    the same call then works;
 *  - the first timer firing panics before its C callback: that callback never
 *    runs, the loop goes on, the next timer fires and sq_loop_run returns
 *    SQ_OK;
 *  - on a server served by a reactor thread: the first accepted connection
 *    panics in accept (that socket is dropped, the listener accepts on), the
 *    first request panics in its handling (that connection closes, the next
 *    one is answered), the first WebSocket message panics before its
 *    callback (that socket closes with on_close 1006, the next socket
 *    echoes). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "http_client.h"
#include "ws_client.h"

static atomic_int panic_records;

static void on_log(void *userdata, sq_log_level level, const char *target, const char *message) {
    (void)userdata;
    if (level == SQ_LOG_ERROR && strcmp(target, "squall::ffi") == 0 &&
        strstr(message, "panic caught at the C boundary: injected fault at export") != NULL) {
        atomic_fetch_add(&panic_records, 1);
    }
}

static int fired_first, fired_second;

static void on_first(void *userdata, sq_timer_id id) {
    (void)id;
    (void)userdata;
    fired_first++;
}

static void on_second(void *userdata, sq_timer_id id) {
    (void)id;
    fired_second++;
    CHECK_EQ(sq_loop_stop((sq_loop *)userdata), SQ_OK);
}

/* Stops a loop whose timers went missing, so a failure is a failure, not a hang. */
static void on_deadline(void *userdata, sq_timer_id id) {
    (void)id;
    CHECK_EQ(sq_loop_stop((sq_loop *)userdata), SQ_OK);
}

static atomic_int handled, messages, closes_1006;

static sq_status h_hello(void *userdata, sq_request *req) {
    (void)userdata;
    atomic_fetch_add(&handled, 1);
    return sq_respond(req, 200, NULL, 0, "hi", 2);
}

static void on_message(void *userdata, sq_ws *ws, const void *data, size_t len, int opcode) {
    (void)userdata;
    atomic_fetch_add(&messages, 1);
    CHECK_EQ(sq_ws_send(ws, data, len, opcode), SQ_OK);
}

static void on_close(void *userdata, sq_ws *ws, uint16_t code, const char *reason, size_t reason_len) {
    (void)userdata;
    (void)ws;
    (void)reason;
    (void)reason_len;
    if (code == 1006) atomic_fetch_add(&closes_1006, 1);
}

static void *serve(void *lp) {
    CHECK_EQ(sq_loop_run((sq_loop *)lp), SQ_OK);
    return NULL;
}

/* accept, request and WebSocket faults on a reactor thread: each costs one
 * connection, and the server goes on */
static void reactor_faults(void) {
    sq_loop *lp = sq_loop_new();
    CHECK(lp != NULL);
    CHECK_EQ(sq_loop_set_io_threads(lp, 1), SQ_OK);
    sq_server *srv = sq_server_new(lp);
    CHECK(srv != NULL);
    CHECK_EQ(sq_route(srv, "GET", "/hello", h_hello, NULL, 0), SQ_OK);
    sq_ws_callbacks cb = {.size = sizeof cb, .on_message = on_message, .on_close = on_close};
    CHECK_EQ(sq_ws_route(srv, "/ws", &cb, NULL, NULL), SQ_OK);
    uint16_t port = 0;
    CHECK_EQ(sq_server_listen(srv, "127.0.0.1", 0, &port), SQ_OK);
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, serve, lp), 0);

    char body[64];
    /* accept:1: this connection is dropped as it is accepted */
    CHECK_EQ(http_get(port, "/hello", body, sizeof body), -1);
    CHECK_EQ(atomic_load(&handled), 0);
    /* request:1: this one is accepted; its request panics; it closes */
    CHECK_EQ(http_get(port, "/hello", body, sizeof body), -1);
    CHECK_EQ(atomic_load(&handled), 0);
    /* and the server goes on */
    CHECK_EQ(http_get(port, "/hello", body, sizeof body), 200);
    CHECK(strcmp(body, "hi") == 0);
    CHECK_EQ(atomic_load(&handled), 1);

    /* websocket:1: the first message panics before on_message; that socket
     * closes (on_close 1006), the next one echoes */
    int status = 0;
    int fd = ws_open(port, "/ws", &status);
    CHECK(fd >= 0);
    CHECK_EQ(ws_send_frame(fd, 1, "boom", 4), 0);
    uint8_t *data = NULL;
    size_t len = 0;
    CHECK_EQ(ws_read_frame(fd, &data, &len), -1); /* closed, nothing echoed */
    close(fd);
    fd = ws_open(port, "/ws", &status);
    CHECK(fd >= 0);
    CHECK_EQ(ws_send_frame(fd, 1, "again", 5), 0);
    CHECK_EQ(ws_read_frame(fd, &data, &len), 1);
    CHECK(len == 5 && memcmp(data, "again", 5) == 0);
    free(data);
    close(fd);
    CHECK_EQ(atomic_load(&messages), 1);
    for (int i = 0; i < 500 && atomic_load(&closes_1006) < 1; i++) usleep(10000);
    CHECK(atomic_load(&closes_1006) >= 1);

    CHECK_EQ(sq_loop_stop(lp), SQ_OK);
    CHECK_EQ(pthread_join(t, NULL), 0);
    sq_server_free(srv);
    sq_loop_free(lp);
}

int main(void) {
    const char *spec = getenv("SQUALL_FAULT");
    CHECK(spec != NULL && strcmp(spec, "export:3,timer:1,accept:1,request:1,websocket:1") == 0);

    CHECK_EQ(sq_log_set_callback(SQ_LOG_ERROR, on_log, NULL), SQ_OK); /* export 1 */
    sq_loop *lp = sq_loop_new();                                       /* export 2 */
    CHECK(lp != NULL);

    /* export 3: panics inside */
    CHECK_EQ(sq_loop_set_io_threads(lp, 1), SQ_ERR_PANIC);
    const char *err = sq_last_error();
    CHECK(strstr(err, "internal panic") != NULL && strstr(err, "injected fault at export") != NULL);
    CHECK_EQ(atomic_load(&panic_records), 1);
    /* the library goes on: the same call works now */
    CHECK_EQ(sq_loop_set_io_threads(lp, 1), SQ_OK);

    /* the first firing panics before on_first runs; on_second still fires */
    sq_timer_id a, b, c;
    CHECK_EQ(sq_call_later(lp, 10, on_first, NULL, &a), SQ_OK);
    CHECK_EQ(sq_call_later(lp, 40, on_second, lp, &b), SQ_OK);
    CHECK_EQ(sq_call_later(lp, 5000, on_deadline, lp, &c), SQ_OK);
    long long start = now_ns();
    CHECK_EQ(sq_loop_run(lp), SQ_OK);
    CHECK_EQ(fired_first, 0);
    CHECK_EQ(fired_second, 1);
    CHECK((now_ns() - start) < 4000000000LL); /* not ended by the deadline */
    /* the panicking firing used timer a up; cancelling it says it is done */
    CHECK_EQ(sq_timer_cancel(lp, a), SQ_ERR_ALREADY_DONE);

    sq_loop_free(lp);
    reactor_faults();
    CHECK_EQ(sq_log_set_callback(SQ_LOG_OFF, NULL, NULL), SQ_OK);
    printf("fault_boundary: ok\n");
    return 0;
}
