/* Embedding the libuv way: the host waits on sq_loop_fd() with poll(2) for at
 * most sq_loop_timeout_ms(), then calls sq_loop_poll(loop, 0). Every callback
 * (from another thread) and every timer is seen; the fd is level-triggered;
 * a callback that does not wake the fd fails the test (a wait with no timer
 * due that runs out). */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>

#include "check.h"

#define CALLBACKS 2000
#define TIMERS 200
/* The longest a wait with no timer due may last before it counts as a lost
 * wake-up (the producer's callbacks come every millisecond or so; its second
 * half only once every timer has fired, when nothing else wakes the host). */
#define WAKE_BOUND_MS 5000

static sq_loop *lp;
static int callbacks_seen, timers_seen, ticks;
/* Set by the host once every timer has fired: the producer's second half
 * then comes while no timer is due, so only the fd can wake the host. */
static atomic_int timers_done;
static sq_timer_id ticker;
static int seq_expected;

static int fd_readable(int fd) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) == 1;
}

static void on_callback(void *userdata) {
    CHECK_EQ((int)(long)userdata, seq_expected);
    seq_expected++;
    callbacks_seen++;
}

static void on_timer(void *userdata, sq_timer_id id) {
    (void)userdata;
    (void)id;
    timers_seen++;
}

static void on_tick(void *userdata, sq_timer_id id) {
    (void)userdata;
    CHECK_EQ(id, ticker);
    if (++ticks == 5) CHECK_EQ(sq_timer_cancel(lp, id), SQ_OK);
}

static void *producer(void *arg) {
    (void)arg;
    for (long i = 0; i < CALLBACKS; i++) {
        if (i == CALLBACKS / 2) {
            long long start = now_ns();
            while (!atomic_load(&timers_done)) {
                CHECK(now_ns() - start < 10LL * 1000000000LL);
                sleep_ms(1);
            }
        }
        CHECK_EQ(sq_loop_add_callback(lp, on_callback, (void *)i), SQ_OK);
        if (i % 20 == 0) sleep_ms(1);
    }
    return NULL;
}

static void run(unsigned io_threads) {
    callbacks_seen = timers_seen = ticks = seq_expected = 0;
    atomic_store(&timers_done, 0);
    lp = sq_loop_new();
    CHECK_EQ(sq_loop_set_io_threads(lp, io_threads), SQ_OK);
    CHECK_EQ(sq_loop_timeout_ms(lp), 0); /* not started: poll right away */
    int fd = sq_loop_fd(lp);
    CHECK(fd >= 0);
    CHECK_EQ(sq_loop_fd(lp), fd); /* stable */
    CHECK(fd_readable(fd));       /* readable until the first poll */
    CHECK_EQ(sq_loop_poll(lp, 0), SQ_OK);
    CHECK(!fd_readable(fd));
    CHECK_EQ(sq_loop_timeout_ms(lp), -1); /* nothing pending, no timer */

    /* level-triggered: pending work keeps it readable until polled */
    CHECK_EQ(sq_loop_add_callback(lp, on_callback, (void *)0), SQ_OK);
    CHECK(fd_readable(fd));
    CHECK(fd_readable(fd));
    CHECK_EQ(sq_loop_timeout_ms(lp), 0);
    CHECK_EQ(sq_loop_poll(lp, 0), SQ_OK);
    CHECK_EQ(callbacks_seen, 1);
    CHECK(!fd_readable(fd));
    seq_expected = 0;
    callbacks_seen = 0;

    for (int i = 0; i < TIMERS; i++) CHECK_EQ(sq_call_later(lp, (uint64_t)(i % 40), on_timer, NULL, NULL), SQ_OK);
    CHECK_EQ(sq_call_every(lp, 3, on_tick, NULL, &ticker), SQ_OK);
    int t = sq_loop_timeout_ms(lp);
    CHECK(t >= 0 && t <= 40);

    pthread_t p;
    CHECK_EQ(pthread_create(&p, NULL, producer, NULL), 0);
    long long start = now_ns();
    int wakeups = 0;
    while (callbacks_seen < CALLBACKS || timers_seen < TIMERS || ticks < 5) {
        CHECK(now_ns() - start < 20LL * 1000000000LL);
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int timeout = sq_loop_timeout_ms(lp);
        /* The loop's deadline is all the host waits for, as an embedder
         * would: with no timer due (-1), only the fd can end the wait. The
         * producer posts every callback within a few tens of milliseconds,
         * so a wait that runs out instead of being woken means a callback
         * (or a timer missing from the deadline) did not wake the fd: a
         * lost wake-up, which fails here instead of showing as a delay. */
        CHECK(timeout <= 40);
        int rc;
        do rc = poll(&pfd, 1, timeout < 0 ? WAKE_BOUND_MS : timeout);
        while (rc == -1 && errno == EINTR);
        CHECK(rc >= 0);
        if (timeout < 0 && rc == 0) {
            fprintf(stderr, "test_embed: lost wake-up: no timer due, %d/%d callbacks, %d/%d timers, %d/5 ticks, "
                            "and the fd stayed quiet for %d ms\n",
                    callbacks_seen, CALLBACKS, timers_seen, TIMERS, ticks, WAKE_BOUND_MS);
            exit(1);
        }
        CHECK_EQ(sq_loop_poll(lp, 0), SQ_OK);
        wakeups++;
        if (timers_seen == TIMERS && ticks == 5) atomic_store(&timers_done, 1);
    }
    CHECK_EQ(pthread_join(p, NULL), 0);
    CHECK_EQ(sq_loop_poll(lp, 0), SQ_OK);
    CHECK_EQ(callbacks_seen, CALLBACKS);
    CHECK_EQ(timers_seen, TIMERS);
    CHECK_EQ(ticks, 5);
    CHECK_EQ(sq_loop_timeout_ms(lp), -1);
    CHECK(!fd_readable(fd));
    sq_loop_free(lp);
    printf("test_embed: io_threads=%u ok (%d wake-ups for %d callbacks)\n", io_threads, wakeups, CALLBACKS);
}

int main(void) {
    run(0);
    run(1);
    return 0;
}
