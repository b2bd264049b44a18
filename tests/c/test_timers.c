/* 10,000 mixed call_later / call_every / cancel: timers fire in deadline
 * order and never early; none runs after a successful cancel; periodic timers
 * repeat until cancelled; sq_loop_stop from another thread ends sq_loop_run. */
#include <pthread.h>
#include <stdatomic.h>

#include "check.h"

#define N 10000
#define MAX_DELAY_MS 200

struct timer {
    sq_timer_id id;
    long long lo, hi; /* bounds of the deadline the loop computed */
    int delay_ms;
    int periodic;
    atomic_int cancelled; /* set once sq_timer_cancel returned SQ_OK */
    int runs;
    int cancel_victim; /* index of a timer this one cancels when it fires, or -1 */
};

static struct timer timers[N];
static sq_loop *lp;
static pthread_t host;
static long long max_lo_fired;
static atomic_int oneshots_done; /* fired or cancelled */
static int oneshot_total;
static atomic_int periodic_live;
static atomic_int stop_now;

static unsigned rng = 12345;
static unsigned next_rand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

static void cancel_ok(struct timer *t) {
    sq_status st = sq_timer_cancel(lp, t->id);
    if (st == SQ_OK) {
        /* From here on the callback must never run (checked in on_timer and
         * by the final tally of runs). */
        atomic_store(&t->cancelled, 1);
        if (!t->periodic) atomic_fetch_add(&oneshots_done, 1);
        else atomic_fetch_sub(&periodic_live, 1);
    } else {
        CHECK_EQ(st, SQ_ERR_ALREADY_DONE);
    }
}

static void on_timer(void *userdata, sq_timer_id id) {
    struct timer *t = userdata;
    long long now = now_ns();
    CHECK(pthread_equal(pthread_self(), host));
    CHECK_EQ(id, t->id);
    CHECK_EQ(atomic_load(&t->cancelled), 0);
    if (!t->periodic) {
        CHECK_EQ(t->runs, 0);
        CHECK(now >= t->lo); /* never early */
        /* deadline order: no timer that already fired had a deadline surely later */
        CHECK(t->hi >= max_lo_fired);
        if (t->lo > max_lo_fired) max_lo_fired = t->lo;
        /* a one-shot cannot be cancelled once it fired */
        CHECK_EQ(sq_timer_cancel(lp, id), SQ_ERR_ALREADY_DONE);
        atomic_fetch_add(&oneshots_done, 1);
    }
    t->runs++;
    if (t->cancel_victim >= 0) {
        cancel_ok(&timers[t->cancel_victim]);
        t->cancel_victim = -1;
    }
    if (t->periodic && t->runs == 3) {
        cancel_ok(t); /* a periodic timer cancels itself */
        CHECK_EQ(sq_timer_cancel(lp, id), SQ_ERR_ALREADY_DONE);
    }
}

static void *canceller(void *arg) {
    (void)arg;
    /* cancel one-shot timers from another thread while the loop runs */
    for (int i = 0; i < N; i += 7)
        if (!timers[i].periodic) cancel_ok(&timers[i]);
    return NULL;
}

static void *stopper(void *arg) {
    (void)arg;
    long long start = now_ns();
    while ((atomic_load(&oneshots_done) < oneshot_total || atomic_load(&periodic_live) > 0) &&
           now_ns() - start < 60LL * 1000000000LL)
        sleep_ms(5);
    sleep_ms(50); /* a timer that should never fire would show up now */
    atomic_store(&stop_now, 1);
    CHECK_EQ(sq_loop_stop(lp), SQ_OK);
    return NULL;
}

int main(void) {
    lp = sq_loop_new();
    CHECK(lp != NULL);
    host = pthread_self();
    for (int i = 0; i < N; i++) {
        struct timer *t = &timers[i];
        t->delay_ms = (int)(next_rand() % MAX_DELAY_MS);
        t->periodic = (i % 50 == 0);
        t->cancel_victim = (i % 11 == 0 && i + 1 < N && (i + 1) % 50 != 0) ? i + 1 : -1;
        atomic_init(&t->cancelled, 0);
        t->lo = now_ns() + (long long)t->delay_ms * 1000000LL;
        sq_status st = t->periodic ? sq_call_every(lp, (uint64_t)t->delay_ms + 1, on_timer, t, &t->id)
                                   : sq_call_later(lp, (uint64_t)t->delay_ms, on_timer, t, &t->id);
        t->hi = now_ns() + (long long)(t->delay_ms + t->periodic) * 1000000LL;
        if (t->periodic) t->lo += 1000000LL;
        CHECK_EQ(st, SQ_OK);
        CHECK(t->id != 0);
        if (t->periodic) atomic_fetch_add(&periodic_live, 1);
        else oneshot_total++;
    }
    /* some cancelled before the loop even runs */
    for (int i = 3; i < N; i += 13)
        if (!timers[i].periodic) cancel_ok(&timers[i]);
    /* an id never issued */
    CHECK_EQ(sq_timer_cancel(lp, 0), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_timer_cancel(lp, 0xdead00000000beefULL), SQ_ERR_INVALID_ARG);

    pthread_t c, s;
    CHECK_EQ(pthread_create(&c, NULL, canceller, NULL), 0);
    CHECK_EQ(pthread_create(&s, NULL, stopper, NULL), 0);
    CHECK_EQ(sq_loop_run(lp), SQ_OK);
    CHECK_EQ(atomic_load(&stop_now), 1); /* run returned because of the stop */
    CHECK_EQ(pthread_join(c, NULL), 0);
    CHECK_EQ(pthread_join(s, NULL), 0);

    int fired = 0, cancelled = 0;
    for (int i = 0; i < N; i++) {
        struct timer *t = &timers[i];
        if (t->periodic) {
            CHECK_EQ(t->runs, 3);
            CHECK_EQ(atomic_load(&t->cancelled), 1);
        } else if (atomic_load(&t->cancelled)) {
            CHECK_EQ(t->runs, 0);
            cancelled++;
        } else {
            CHECK_EQ(t->runs, 1);
            fired++;
        }
    }
    CHECK_EQ(fired + cancelled, oneshot_total);
    CHECK(cancelled > 1000);
    CHECK(fired > 1000);
    CHECK_EQ(sq_loop_timeout_ms(lp), -1); /* nothing left */
    sq_loop_free(lp);
    printf("test_timers: ok (%d fired, %d cancelled)\n", fired, cancelled);
    return 0;
}
