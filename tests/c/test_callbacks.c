/* 8 threads x 10,000 sq_loop_add_callback each: every callback runs exactly
 * once, on the host thread, in FIFO order per producing thread. Run with
 * io_threads 0 and 1. */
#include <pthread.h>
#include <stdatomic.h>

#include "check.h"

#define THREADS 8
#define PER_THREAD 10000

struct item {
    int thread;
    int seq;
    int runs;
};

static struct item items[THREADS * PER_THREAD];
static int next_seq[THREADS];
static int total_run;
static pthread_t host;
static sq_loop *lp;
static atomic_int producers_ready;

static void on_callback(void *userdata) {
    struct item *it = userdata;
    CHECK(pthread_equal(pthread_self(), host));
    CHECK_EQ(it->runs, 0);
    it->runs++;
    CHECK_EQ(it->seq, next_seq[it->thread]);
    next_seq[it->thread]++;
    if (++total_run == THREADS * PER_THREAD) CHECK_EQ(sq_loop_stop(lp), SQ_OK);
}

static void *producer(void *arg) {
    int t = (int)(long)arg;
    atomic_fetch_add(&producers_ready, 1);
    while (atomic_load(&producers_ready) < THREADS) {
    }
    for (int i = 0; i < PER_THREAD; i++) {
        struct item *it = &items[t * PER_THREAD + i];
        it->thread = t;
        it->seq = i;
        CHECK_EQ(sq_loop_add_callback(lp, on_callback, it), SQ_OK);
    }
    return NULL;
}

static void run_once(unsigned io_threads) {
    memset(items, 0, sizeof items);
    memset(next_seq, 0, sizeof next_seq);
    total_run = 0;
    atomic_store(&producers_ready, 0);
    lp = sq_loop_new();
    CHECK(lp != NULL);
    CHECK_EQ(sq_loop_set_io_threads(lp, io_threads), SQ_OK);
    host = pthread_self();
    pthread_t threads[THREADS];
    for (long t = 0; t < THREADS; t++) CHECK_EQ(pthread_create(&threads[t], NULL, producer, (void *)t), 0);
    CHECK_EQ(sq_loop_run(lp), SQ_OK);
    for (int t = 0; t < THREADS; t++) CHECK_EQ(pthread_join(threads[t], NULL), 0);
    CHECK_EQ(total_run, THREADS * PER_THREAD);
    for (int i = 0; i < THREADS * PER_THREAD; i++) CHECK_EQ(items[i].runs, 1);
    for (int t = 0; t < THREADS; t++) CHECK_EQ(next_seq[t], PER_THREAD);
    /* nothing left over: a zero-timeout poll runs nothing more */
    CHECK_EQ(sq_loop_poll(lp, 0), SQ_OK);
    CHECK_EQ(total_run, THREADS * PER_THREAD);
    sq_loop_free(lp);
}

int main(void) {
    run_once(1);
    run_once(0);
    printf("test_callbacks: ok\n");
    return 0;
}
