/* ticker: the event loop in a few lines of C.
 *
 *   make examples && build/examples/c/ticker [seconds]
 *
 * A periodic timer prints a line every second; a worker thread hands results
 * to the loop with sq_loop_add_callback (the any-thread call); a signal thread
 * calls sq_loop_stop on Ctrl-C, or the loop stops by itself after the given
 * number of seconds (0 = run until Ctrl-C). */
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "squall.h"

struct app {
    sq_loop *loop;
    int ticks;
    long results;
    atomic_int quitting;
};

static void on_tick(void *userdata, sq_timer_id id) {
    struct app *app = userdata;
    (void)id;
    printf("tick %d: %ld results from the worker so far\n", ++app->ticks, app->results);
    fflush(stdout);
}

static void on_result(void *userdata) {
    struct app *app = userdata; /* runs on the host thread: no lock needed */
    app->results++;
}

static void on_deadline(void *userdata, sq_timer_id id) {
    struct app *app = userdata;
    (void)id;
    sq_loop_stop(app->loop);
}

static void *worker(void *arg) {
    struct app *app = arg;
    struct timespec pause = {0, 10 * 1000 * 1000};
    while (!atomic_load(&app->quitting)) {
        if (sq_loop_add_callback(app->loop, on_result, app) != SQ_OK) break;
        nanosleep(&pause, NULL);
    }
    return NULL;
}

static void *signal_waiter(void *arg) {
    struct app *app = arg;
    sigset_t set;
    int sig;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    if (sigwait(&set, &sig) == 0) sq_loop_stop(app->loop); /* any thread may stop the loop */
    return NULL;
}

int main(int argc, char **argv) {
    long seconds = argc > 1 ? strtol(argv[1], NULL, 10) : 0;
    struct app app = {.loop = sq_loop_new()};
    if (app.loop == NULL) return 1;
    if (sq_abi_version() != SQ_ABI_VERSION) {
        fprintf(stderr, "libsquall ABI %u, built for %d\n", sq_abi_version(), SQ_ABI_VERSION);
        return 1;
    }

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* inherited by every thread, squall's too */
    pthread_t sig_thread, work_thread;
    pthread_create(&sig_thread, NULL, signal_waiter, &app);
    pthread_detach(sig_thread);

    sq_call_every(app.loop, 1000, on_tick, &app, NULL);
    if (seconds > 0) sq_call_later(app.loop, (uint64_t)seconds * 1000, on_deadline, &app, NULL);
    pthread_create(&work_thread, NULL, worker, &app);

    printf("squall %s: ticking (Ctrl-C to stop)\n", sq_version());
    sq_status st = sq_loop_run(app.loop);
    if (st != SQ_OK) fprintf(stderr, "sq_loop_run: %s (%s)\n", sq_status_str(st), sq_last_error());
    atomic_store(&app.quitting, 1);
    pthread_join(work_thread, NULL);
    printf("stopped after %d ticks, %ld results\n", app.ticks, app.results);
    sq_loop_free(app.loop);
    return st == SQ_OK ? 0 : 1;
}
