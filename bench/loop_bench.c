/* Loop micro-benchmarks (issue: core loop):
 *   1. cross-thread sq_loop_add_callback throughput: P producer threads each
 *      schedule N callbacks; the host thread (sq_loop_run) runs them all.
 *      Figure: callbacks delivered per second, from the producers' start to the
 *      last callback run. Host pinned to CPU 1, producers to CPU 0 (2-core
 *      machine: the two sides never share a core).
 *   2. timers: with 1,000,000 timers pending, the cost of one
 *      sq_call_later + sq_timer_cancel pair, and of each alone.
 * Prints one line per figure: "name value unit". */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "squall.h"

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static sq_loop *lp;
static long expected, seen;
static atomic_int go;
static long per_thread;

static void on_cb(void *ud) {
    (void)ud;
    if (++seen == expected) sq_loop_stop(lp);
}

static void *producer(void *arg) {
    (void)arg;
    pin(0);
    while (!atomic_load(&go)) {
    }
    for (long i = 0; i < per_thread; i++)
        if (sq_loop_add_callback(lp, on_cb, NULL) != SQ_OK) abort();
    return NULL;
}

static void bench_callbacks(int producers, long total, unsigned io_threads) {
    lp = sq_loop_new();
    sq_loop_set_io_threads(lp, io_threads);
    sq_loop_poll(lp, 0); /* start outside the measurement */
    expected = total;
    seen = 0;
    per_thread = total / producers;
    atomic_store(&go, 0);
    pin(1);
    pthread_t t[64];
    for (int i = 0; i < producers; i++) pthread_create(&t[i], NULL, producer, NULL);
    long long start = now_ns();
    atomic_store(&go, 1);
    sq_loop_run(lp);
    long long el = now_ns() - start;
    for (int i = 0; i < producers; i++) pthread_join(t[i], NULL);
    printf("callbacks_per_s producers=%d io_threads=%u %.0f callbacks/s\n", producers, io_threads,
           (double)total / ((double)el / 1e9));
    sq_loop_free(lp);
}

static void nop_timer(void *ud, sq_timer_id id) {
    (void)ud;
    (void)id;
}

static void bench_timers(long pending, long pairs) {
    lp = sq_loop_new();
    for (long i = 0; i < pending; i++)
        sq_call_later(lp, 3600 * 1000 + (uint64_t)(i % 100000), nop_timer, NULL, NULL);
    sq_timer_id *ids = malloc(sizeof *ids * (size_t)pairs);
    long long t0 = now_ns();
    for (long i = 0; i < pairs; i++) {
        sq_timer_id id;
        sq_call_later(lp, 1000 + (uint64_t)(i % 5000), nop_timer, NULL, &id);
        sq_timer_cancel(lp, id);
    }
    long long t1 = now_ns();
    for (long i = 0; i < pairs; i++) sq_call_later(lp, 1000 + (uint64_t)(i % 5000), nop_timer, NULL, &ids[i]);
    long long t2 = now_ns();
    for (long i = 0; i < pairs; i++) sq_timer_cancel(lp, ids[i]);
    long long t3 = now_ns();
    printf("timer_insert_cancel_pair pending=%ld %.1f ns\n", pending, (double)(t1 - t0) / (double)pairs);
    printf("timer_insert pending=%ld %.1f ns\n", pending, (double)(t2 - t1) / (double)pairs);
    printf("timer_cancel pending=%ld %.1f ns\n", pending, (double)(t3 - t2) / (double)pairs);
    free(ids);
    sq_loop_free(lp);
}

int main(int argc, char **argv) {
    long total = argc > 1 ? atol(argv[1]) : 4000000;
    bench_callbacks(1, total, 1);
    bench_callbacks(8, total, 1);
    bench_callbacks(1, total, 0);
    bench_callbacks(8, total, 0);
    bench_timers(1000000, 1000000);
    return 0;
}
