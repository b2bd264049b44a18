/* The panic boundary seen from C, against a library built with the
 * fault-injection feature (make test-fault), run with
 * SQUALL_FAULT=export:3,timer:1:
 *  - the third export call panics inside squall: it returns SQ_ERR_PANIC,
 *    sq_last_error() says so and an error record reaches the log callback;
 *    the same call then works;
 *  - the first timer firing panics before its C callback: that callback never
 *    runs, the loop goes on, the next timer fires and sq_loop_run returns
 *    SQ_OK. */
#include <stdatomic.h>
#include <string.h>

#include "check.h"

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

int main(void) {
    const char *spec = getenv("SQUALL_FAULT");
    CHECK(spec != NULL && strcmp(spec, "export:3,timer:1") == 0);

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
    CHECK_EQ(sq_log_set_callback(SQ_LOG_OFF, NULL, NULL), SQ_OK);
    printf("fault_boundary: ok\n");
    return 0;
}
