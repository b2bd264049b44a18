/* Misuse gets documented error codes, never a crash: every export with NULLs,
 * double cancel, poll/run/free from inside a callback, free(NULL), bad
 * arguments, the log callback's rules, and a loop used after fork(). */
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

static sq_loop *lp;
static int inner_ran;

static void noop(void *userdata) { (void)userdata; }
static void noop_timer(void *userdata, sq_timer_id id) {
    (void)userdata;
    (void)id;
}

static void reentrant(void *userdata) {
    (void)userdata;
    CHECK_EQ(sq_loop_poll(lp, 0), SQ_ERR_REENTRANT);
    CHECK(strlen(sq_last_error()) > 0);
    CHECK_EQ(sq_loop_run(lp), SQ_ERR_REENTRANT);
    CHECK_EQ(sq_loop_fd(lp) >= 0, 1); /* already started: the fd is just returned */
    sq_loop_free(lp);                 /* refused: the loop stays usable */
    CHECK(strstr(sq_last_error(), "inside") != NULL);
    CHECK_EQ(sq_loop_add_callback(lp, noop, NULL), SQ_OK);
    inner_ran = 1;
}

static void *other_thread_poll(void *arg) {
    (void)arg;
    return (void *)(long)sq_loop_poll(lp, 0);
}

static void busy(void *userdata) {
    (void)userdata;
    pthread_t t;
    void *res;
    CHECK_EQ(pthread_create(&t, NULL, other_thread_poll, NULL), 0);
    CHECK_EQ(pthread_join(t, &res), 0);
    CHECK_EQ((long)res, SQ_ERR_BUSY);
}

static int log_records;
static int log_saw_loop_target;
static void on_log(void *userdata, sq_log_level level, const char *target, const char *message) {
    CHECK(userdata == &log_records);
    CHECK(level >= SQ_LOG_ERROR && level <= SQ_LOG_TRACE);
    CHECK(target != NULL && message != NULL);
    CHECK(strncmp(target, "squall", 6) == 0);
    if (strcmp(target, "squall::loop") == 0) log_saw_loop_target = 1;
    __atomic_fetch_add(&log_records, 1, __ATOMIC_SEQ_CST);
    /* changing the callback from inside it is refused, not a deadlock */
    CHECK_EQ(sq_log_set_callback(SQ_LOG_OFF, NULL, NULL), SQ_ERR_REENTRANT);
}

static void test_nulls(void) {
    sq_timer_id id = 0;
    CHECK_EQ(sq_loop_set_io_threads(NULL, 1), SQ_ERR_NULL);
    CHECK(strstr(sq_last_error(), "NULL") != NULL);
    CHECK_EQ(sq_loop_run(NULL), SQ_ERR_NULL);
    CHECK_EQ(sq_loop_stop(NULL), SQ_ERR_NULL);
    CHECK_EQ(sq_loop_poll(NULL, 0), SQ_ERR_NULL);
    CHECK_EQ(sq_loop_fd(NULL), SQ_ERR_NULL);
    CHECK_EQ(sq_loop_timeout_ms(NULL), 0);
    CHECK_EQ(sq_loop_add_callback(NULL, noop, NULL), SQ_ERR_NULL);
    CHECK_EQ(sq_call_later(NULL, 1, noop_timer, NULL, &id), SQ_ERR_NULL);
    CHECK_EQ(sq_call_every(NULL, 1, noop_timer, NULL, &id), SQ_ERR_NULL);
    CHECK_EQ(sq_timer_cancel(NULL, 1), SQ_ERR_NULL);
    CHECK_EQ(id, 0); /* out-parameters untouched on failure */
    sq_loop_free(NULL); /* harmless */

    sq_loop *l = sq_loop_new();
    CHECK_EQ(sq_loop_add_callback(l, NULL, NULL), SQ_ERR_NULL);
    CHECK(strstr(sq_last_error(), "callback") != NULL);
    CHECK_EQ(sq_call_later(l, 1, NULL, NULL, &id), SQ_ERR_NULL);
    CHECK_EQ(sq_call_every(l, 1, NULL, NULL, &id), SQ_ERR_NULL);
    CHECK_EQ(sq_call_every(l, 0, noop_timer, NULL, &id), SQ_ERR_INVALID_ARG);
    CHECK_EQ(id, 0);
    CHECK_EQ(sq_call_later(l, 1, noop_timer, NULL, NULL), SQ_OK); /* id_out may be NULL */
    CHECK_EQ(sq_loop_poll(l, -2), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_loop_set_io_threads(l, 65), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_loop_set_io_threads(l, 0), SQ_OK);
    CHECK_EQ(sq_loop_poll(l, 0), SQ_OK);
    CHECK_EQ(sq_loop_set_io_threads(l, 1), SQ_ERR_STATE);
    sq_loop_free(l);
}

static void test_cancel_rules(void) {
    sq_loop *l = sq_loop_new();
    sq_timer_id a, b;
    CHECK_EQ(sq_call_later(l, 0, noop_timer, NULL, &a), SQ_OK);
    CHECK_EQ(sq_call_later(l, 10000, noop_timer, NULL, &b), SQ_OK);
    CHECK(a != b && a != 0 && b != 0);
    CHECK_EQ(sq_timer_cancel(l, b), SQ_OK);
    CHECK_EQ(sq_timer_cancel(l, b), SQ_ERR_ALREADY_DONE); /* double cancel */
    CHECK(strlen(sq_last_error()) > 0);
    CHECK_EQ(sq_loop_poll(l, 0), SQ_OK);                  /* a fires */
    CHECK_EQ(sq_timer_cancel(l, a), SQ_ERR_ALREADY_DONE); /* fired */
    CHECK_EQ(sq_timer_cancel(l, 0), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_timer_cancel(l, ~0ULL), SQ_ERR_INVALID_ARG);
    sq_loop_free(l);
}

static void test_reentrancy(void) {
    lp = sq_loop_new();
    CHECK_EQ(sq_loop_add_callback(lp, reentrant, NULL), SQ_OK);
    CHECK_EQ(sq_loop_add_callback(lp, busy, NULL), SQ_OK);
    CHECK_EQ(sq_loop_poll(lp, 1000), SQ_OK);
    CHECK_EQ(inner_ran, 1);
    CHECK_EQ(sq_loop_poll(lp, 0), SQ_OK); /* the loop still works */
    sq_loop_free(lp);
    lp = NULL;
}

static void test_strings(void) {
    sq_status codes[] = {SQ_OK, SQ_ERR_NULL, SQ_ERR_INVALID_ARG, SQ_ERR_CLOSED, SQ_ERR_ALREADY_DONE,
                         SQ_ERR_IO, SQ_ERR_LIMIT, SQ_ERR_PANIC, SQ_ERR_REENTRANT, SQ_ERR_BUSY,
                         SQ_ERR_FORKED, SQ_ERR_STATE};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        const char *s = sq_status_str(codes[i]);
        CHECK(s != NULL && strncmp(s, "SQ_", 3) == 0);
    }
    CHECK(strcmp(sq_status_str(-9999), "unknown status code") == 0);
    CHECK(strcmp(sq_status_str(SQ_ERR_NULL), "SQ_ERR_NULL: a required pointer argument was NULL") == 0);
    CHECK(strcmp(sq_log_level_str(SQ_LOG_WARN), "warn") == 0);
    CHECK(strcmp(sq_log_level_str(42), "unknown") == 0);
    CHECK_EQ(sq_abi_version(), SQ_ABI_VERSION);
    CHECK(strcmp(sq_version(), SQ_VERSION_STRING) == 0);
    CHECK(sq_last_error() != NULL);
    /* macros are safe in expressions */
    CHECK_EQ(1 - SQ_ERR_NULL, 2);
}

static void test_logging(void) {
    CHECK_EQ(sq_log_set_callback(-1, on_log, NULL), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_log_set_callback(6, on_log, NULL), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_log_set_callback(SQ_LOG_DEBUG, on_log, &log_records), SQ_OK);
    sq_loop *l = sq_loop_new();
    CHECK_EQ(sq_loop_poll(l, 0), SQ_OK); /* start logs at debug level */
    sq_loop_free(l);
    CHECK(log_records > 0);
    CHECK_EQ(log_saw_loop_target, 1);
    /* below the level: nothing arrives */
    CHECK_EQ(sq_log_set_callback(SQ_LOG_ERROR, on_log, &log_records), SQ_OK);
    int before = log_records;
    l = sq_loop_new();
    CHECK_EQ(sq_loop_poll(l, 0), SQ_OK);
    sq_loop_free(l);
    CHECK_EQ(log_records, before);
    CHECK_EQ(sq_log_set_callback(SQ_LOG_OFF, NULL, NULL), SQ_OK);
}

static int child_ran;
static void child_cb(void *userdata) {
    (void)userdata;
    child_ran = 1;
}

static void test_fork(void) {
    /* A loop created but not started may be started in a child. */
    sq_loop *fresh = sq_loop_new();
    CHECK_EQ(sq_loop_add_callback(fresh, child_cb, NULL), SQ_OK);
    /* A loop that started is refused in the child. */
    sq_loop *started = sq_loop_new();
    CHECK_EQ(sq_loop_poll(started, 0), SQ_OK);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        if (sq_loop_poll(started, 0) != SQ_ERR_FORKED) _exit(10);
        if (strstr(sq_last_error(), "fork") == NULL) _exit(11);
        if (sq_loop_run(started) != SQ_ERR_FORKED) _exit(12);
        if (sq_loop_add_callback(started, noop, NULL) != SQ_ERR_FORKED) _exit(13);
        if (sq_call_later(started, 1, noop_timer, NULL, NULL) != SQ_ERR_FORKED) _exit(14);
        if (sq_loop_fd(started) != SQ_ERR_FORKED) _exit(15);
        sq_loop_free(started); /* must not hang joining the parent's threads */
        if (sq_loop_poll(fresh, 100) != SQ_OK || !child_ran) _exit(16);
        sq_loop_free(fresh);
        _exit(0);
    }
    int status = 0;
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status));
    CHECK_EQ(WEXITSTATUS(status), 0);
    /* the parent's loops are untouched */
    CHECK_EQ(sq_loop_poll(started, 0), SQ_OK);
    CHECK_EQ(sq_loop_poll(fresh, 0), SQ_OK);
    CHECK_EQ(child_ran, 1);
    sq_loop_free(started);
    sq_loop_free(fresh);
}

int main(int argc, char **argv) {
    /* --no-fork / --fork-only split the run for valgrind: in a forked child the
     * memory of the parent's other threads (its reactor) has no owner, which a
     * leak check reports although nothing leaked. The fork part runs under
     * valgrind with the leak check off and memcheck on. */
    int no_fork = argc > 1 && strcmp(argv[1], "--no-fork") == 0;
    int fork_only = argc > 1 && strcmp(argv[1], "--fork-only") == 0;
    if (!fork_only) {
        test_nulls();
        test_cancel_rules();
        test_reentrancy();
        test_strings();
        test_logging();
    }
    if (!no_fork) test_fork();
    printf("test_misuse: ok%s\n", no_fork ? " (without fork)" : fork_only ? " (fork only)" : "");
    return 0;
}
