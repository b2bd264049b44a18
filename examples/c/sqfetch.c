/*
 * sqfetch: fetch URLs with squall's HTTP client, print each response as a
 * JSON line. The client tests and the fetch benchmark drive it.
 *
 *   sqfetch [options] URL
 *     -X METHOD             request method (default GET)
 *     -H "Name: value"      request header (repeatable)
 *     -d DATA               request body
 *     --connect-timeout MS  --timeout MS (whole request)
 *     --max-redirects N     follow up to N redirects (default 5; 0: none)
 *     --no-decompress       --max-decompressed N   --max-body N
 *     --stream              take the body through the chunk callback
 *     -o PATH               with --stream: write each chunk to PATH as it
 *                           comes (a blocking write) instead of keeping it;
 *                           "body" is then empty and "body_len" counts the
 *                           bytes written
 *     --user USER:PASS      basic auth
 *     --cacert FILE         trust this CA (PEM) for https
 *     -n N                  fetch N times (default 1)
 *     -c C                  at most C fetches in flight (default 1)
 *     --max-clients N       --max-per-host N   (the connection pool's caps)
 *     --idle-timeout MS     close pooled connections idle this long
 *     --delay MS            wait this long before each sequential fetch after the first
 *     --threads T           start the fetches from T threads at once
 *     --io-threads N        reactor threads (0: the reactor runs here)
 *     --quiet               only the summary line
 *
 * One line per response: {"url", "error", "message", "status", "reason",
 * "headers", "body" (bytes as latin-1), "body_len", "effective_url",
 * "redirects", "chunks", "timing", "peak_rss_kib"}; with -n > 1 a last summary
 * line. peak_rss_kib is this process's peak resident memory so far (VmHWM,
 * Linux; -1 elsewhere): getrusage's and wait4's ru_maxrss keep the peak of
 * the process image before exec, so a test forking from a large interpreter
 * would read the interpreter's size there.
 * Exit 0 when every fetch got a response, 1 otherwise, 2 on a usage error.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "squall.h"

struct opts {
    const char *method, *url, *body, *user, *cacert, *output;
    const char *headers[64];
    int nheaders;
    long long connect_ms, timeout_ms, max_redirects, max_decompressed, max_body;
    int decompress, stream, quiet;
    long count, concurrency, max_clients, max_per_host, threads, io_threads;
    long long idle_ms, delay_ms;
};

struct fetch_ctx {
    long index;
    long chunks;
    unsigned char *body;
    size_t len, cap;
};

static struct opts O;
static sq_loop *LOOP;
static FILE *OUT; /* -o PATH */
static long started, finished, ok_count;
static atomic_long thread_started;
#define NSTATUS 20
static long errors[NSTATUS];

static const char *status_name(sq_status s) {
    switch (s) {
    case SQ_OK: return "SQ_OK";
    case SQ_ERR_NULL: return "SQ_ERR_NULL";
    case SQ_ERR_INVALID_ARG: return "SQ_ERR_INVALID_ARG";
    case SQ_ERR_CLOSED: return "SQ_ERR_CLOSED";
    case SQ_ERR_ALREADY_DONE: return "SQ_ERR_ALREADY_DONE";
    case SQ_ERR_IO: return "SQ_ERR_IO";
    case SQ_ERR_LIMIT: return "SQ_ERR_LIMIT";
    case SQ_ERR_PANIC: return "SQ_ERR_PANIC";
    case SQ_ERR_STATE: return "SQ_ERR_STATE";
    case SQ_ERR_NOT_FOUND: return "SQ_ERR_NOT_FOUND";
    case SQ_ERR_TIMEOUT: return "SQ_ERR_TIMEOUT";
    case SQ_ERR_RESOLVE: return "SQ_ERR_RESOLVE";
    case SQ_ERR_CONNECT: return "SQ_ERR_CONNECT";
    case SQ_ERR_TLS: return "SQ_ERR_TLS";
    case SQ_ERR_PROTOCOL: return "SQ_ERR_PROTOCOL";
    default: return "SQ_ERR_OTHER";
    }
}

/* A JSON string of bytes read as latin-1 (so every byte survives). */
static void json_bytes(FILE *f, const char *p, size_t n) {
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

static void json_cstr(FILE *f, const char *s) { json_bytes(f, s, strlen(s)); }

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* VmHWM from /proc/self/status in KiB, or -1. */
static long peak_rss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kib) == 1) break;
    fclose(f);
    return kib;
}

static void print_error_line(sq_status st, const char *msg) {
    printf("{\"url\": ");
    json_cstr(stdout, O.url);
    printf(", \"error\": \"%s\", \"message\": ", status_name(st));
    json_cstr(stdout, msg);
    printf(", \"status\": 0}\n");
    fflush(stdout);
}

static int start_one(long index);

static void start_later(void *ud, sq_timer_id id) {
    (void)id;
    start_one((long)(intptr_t)ud);
}

static void on_chunk(void *ud, const uint8_t *data, size_t len) {
    struct fetch_ctx *c = ud;
    c->chunks++;
    if (OUT) {
        /* Blocks while PATH does not take the bytes (a pipe nobody reads):
         * the host falls behind and the library must stop reading. */
        if (fwrite(data, 1, len, OUT) != len || fflush(OUT) != 0) {
            perror("sqfetch: -o");
            exit(1);
        }
        c->len += len;
        return;
    }
    if (c->len + len > c->cap) {
        size_t cap = c->cap ? c->cap : 4096;
        while (cap < c->len + len) cap *= 2;
        unsigned char *nb = realloc(c->body, cap);
        if (!nb) abort();
        c->body = nb;
        c->cap = cap;
    }
    memcpy(c->body + c->len, data, len);
    c->len += len;
}

static void on_response(void *ud, const sq_fetch_response *resp) {
    struct fetch_ctx *c = ud;
    sq_status err = sq_fetch_response_error(resp);
    if (err == SQ_OK) ok_count++;
    else errors[-err < NSTATUS ? -err : 0]++;
    if (!O.quiet) {
        sq_str s;
        printf("{\"url\": ");
        json_cstr(stdout, O.url);
        if (err == SQ_OK) printf(", \"error\": null");
        else printf(", \"error\": \"%s\"", status_name(err));
        sq_fetch_response_message(resp, &s);
        printf(", \"message\": ");
        json_bytes(stdout, s.ptr, s.len);
        printf(", \"status\": %u", sq_fetch_response_status(resp));
        sq_fetch_response_reason(resp, &s);
        printf(", \"reason\": ");
        json_bytes(stdout, s.ptr, s.len);
        size_t n = 0;
        sq_fetch_response_header_count(resp, &n);
        printf(", \"headers\": [");
        for (size_t i = 0; i < n; i++) {
            sq_str name, value;
            sq_fetch_response_header_at(resp, i, &name, &value);
            printf(i ? ", [" : "[");
            json_bytes(stdout, name.ptr, name.len);
            printf(", ");
            json_bytes(stdout, value.ptr, value.len);
            printf("]");
        }
        printf("]");
        if (O.stream) {
            s.ptr = (const char *)c->body;
            s.len = OUT ? 0 : c->len;
        } else {
            sq_fetch_response_body(resp, &s);
        }
        printf(", \"body\": ");
        json_bytes(stdout, s.ptr, s.len);
        printf(", \"body_len\": %zu", OUT ? c->len : s.len);
        sq_fetch_response_url(resp, &s);
        printf(", \"effective_url\": ");
        json_bytes(stdout, s.ptr, s.len);
        printf(", \"redirects\": %u, \"chunks\": %ld", sq_fetch_response_redirects(resp), c->chunks);
        static const char *names[] = {"queue", "namelookup", "connect", "tls", "first_byte", "total"};
        printf(", \"timing\": {");
        for (uint32_t i = 0; i < 6; i++) {
            double ms = -1;
            sq_fetch_response_time(resp, i, &ms);
            printf("%s\"%s\": %.3f", i ? ", " : "", names[i], ms);
        }
        printf("}, \"peak_rss_kib\": %ld}\n", peak_rss_kib());
        fflush(stdout);
    }
    free(c->body);
    free(c);
    finished++;
    if (O.threads == 0 && started < O.count) {
        long next = started++;
        if (O.delay_ms > 0) sq_call_later(LOOP, (uint64_t)O.delay_ms, start_later, (void *)(intptr_t)next, NULL);
        else start_one(next);
    }
    if (finished == O.count) sq_loop_stop(LOOP);
}

/* Builds and starts fetch number `index`; on a refused request, reports it
 * and counts it as finished. */
static int start_one(long index) {
    sq_fetch_request *req = sq_fetch_request_new(O.method, O.url);
    sq_status st = SQ_OK;
    if (!req) {
        st = SQ_ERR_INVALID_ARG;
    }
    for (int i = 0; req && st == SQ_OK && i < O.nheaders; i++) {
        const char *h = O.headers[i];
        const char *colon = strchr(h, ':');
        if (!colon) {
            print_error_line(SQ_ERR_INVALID_ARG, "a -H header needs a ':' between its name and value");
            sq_fetch_request_free(req);
            return -1;
        }
        char name[256];
        size_t nl = (size_t)(colon - h);
        if (nl >= sizeof name) nl = sizeof name - 1;
        memcpy(name, h, nl);
        name[nl] = 0;
        const char *v = colon + 1;
        while (*v == ' ') v++;
        st = sq_fetch_request_set_header(req, name, v, strlen(v));
    }
    if (req && st == SQ_OK && O.body) st = sq_fetch_request_set_body(req, O.body, strlen(O.body));
    if (req && st == SQ_OK && (O.connect_ms >= 0 || O.timeout_ms >= 0))
        st = sq_fetch_request_set_timeouts(req, O.connect_ms >= 0 ? (uint64_t)O.connect_ms : 20000,
                                           O.timeout_ms >= 0 ? (uint64_t)O.timeout_ms : 20000);
    if (req && st == SQ_OK && O.max_redirects >= 0) st = sq_fetch_request_set_max_redirects(req, (uint32_t)O.max_redirects);
    if (req && st == SQ_OK && (!O.decompress || O.max_decompressed >= 0))
        st = sq_fetch_request_set_decompress(req, O.decompress,
                                             O.max_decompressed >= 0 ? (uint64_t)O.max_decompressed : UINT64_MAX);
    if (req && st == SQ_OK && O.max_body >= 0) st = sq_fetch_request_set_max_body(req, (uint64_t)O.max_body);
    if (req && st == SQ_OK && O.user) {
        char user[256];
        const char *colon = strchr(O.user, ':');
        size_t ul = colon ? (size_t)(colon - O.user) : strlen(O.user);
        if (ul >= sizeof user) ul = sizeof user - 1;
        memcpy(user, O.user, ul);
        user[ul] = 0;
        st = sq_fetch_request_set_basic_auth(req, user, colon ? colon + 1 : "");
    }
    if (req && st == SQ_OK && O.cacert) st = sq_fetch_request_set_ca_file(req, O.cacert);
    if (req && st == SQ_OK && O.stream) st = sq_fetch_request_set_on_chunk(req, on_chunk);
    struct fetch_ctx *c = calloc(1, sizeof *c);
    if (!c) abort();
    c->index = index;
    if (st == SQ_OK) st = sq_fetch(LOOP, req, on_response, c);
    else sq_fetch_request_free(req);
    if (st != SQ_OK) {
        print_error_line(st, sq_last_error());
        free(c);
        return -1;
    }
    return 0;
}

struct thread_arg {
    long from, to;
};

static void *starter(void *p) {
    struct thread_arg *a = p;
    for (long i = a->from; i < a->to; i++) {
        if (start_one(i) != 0) exit(1);
        atomic_fetch_add(&thread_started, 1);
    }
    return NULL;
}

static void usage(void) {
    fprintf(stderr, "usage: sqfetch [-X METHOD] [-H 'Name: value'] [-d DATA] [--timeout MS] [-n N] [-c C] ... URL\n");
    exit(2);
}

static long long num(const char *s) {
    char *end;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || v < 0) usage();
    return v;
}

int main(int argc, char **argv) {
    O = (struct opts){.method = "GET", .connect_ms = -1, .timeout_ms = -1, .max_redirects = -1,
                      .max_decompressed = -1, .max_body = -1, .decompress = 1, .count = 1, .concurrency = 1,
                      .max_clients = 0, .max_per_host = 0, .threads = 0, .io_threads = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
#define ARG(flag) (strcmp(a, flag) == 0 && (more || (usage(), 0)))
        if (ARG("-X")) O.method = argv[++i];
        else if (ARG("-H")) {
            if (O.nheaders == 64) usage();
            O.headers[O.nheaders++] = argv[++i];
        } else if (ARG("-d")) O.body = argv[++i];
        else if (ARG("--connect-timeout")) O.connect_ms = num(argv[++i]);
        else if (ARG("--timeout")) O.timeout_ms = num(argv[++i]);
        else if (ARG("--max-redirects")) O.max_redirects = num(argv[++i]);
        else if (strcmp(a, "--no-decompress") == 0) O.decompress = 0;
        else if (ARG("--max-decompressed")) O.max_decompressed = num(argv[++i]);
        else if (ARG("--max-body")) O.max_body = num(argv[++i]);
        else if (strcmp(a, "--stream") == 0) O.stream = 1;
        else if (ARG("-o")) O.output = argv[++i];
        else if (ARG("--user")) O.user = argv[++i];
        else if (ARG("--cacert")) O.cacert = argv[++i];
        else if (ARG("-n")) O.count = (long)num(argv[++i]);
        else if (ARG("-c")) O.concurrency = (long)num(argv[++i]);
        else if (ARG("--max-clients")) O.max_clients = (long)num(argv[++i]);
        else if (ARG("--max-per-host")) O.max_per_host = (long)num(argv[++i]);
        else if (ARG("--threads")) O.threads = (long)num(argv[++i]);
        else if (ARG("--io-threads")) O.io_threads = (long)num(argv[++i]);
        else if (ARG("--idle-timeout")) O.idle_ms = num(argv[++i]);
        else if (ARG("--delay")) O.delay_ms = num(argv[++i]);
        else if (strcmp(a, "--quiet") == 0) O.quiet = 1;
        else if (a[0] == '-' || O.url) usage();
        else O.url = a;
#undef ARG
    }
    if (!O.url || O.count < 1 || O.concurrency < 1 || (O.output && !O.stream)) usage();
    if (O.output && !(OUT = fopen(O.output, "wb"))) {
        perror(O.output);
        return 2;
    }

    LOOP = sq_loop_new();
    if (!LOOP || sq_loop_set_io_threads(LOOP, (uint32_t)O.io_threads) != SQ_OK) {
        fprintf(stderr, "sqfetch: %s\n", sq_last_error());
        return 2;
    }
    if ((O.max_clients || O.max_per_host || O.idle_ms) &&
        sq_fetch_set_limits(LOOP, O.max_clients ? (uint32_t)O.max_clients : 100, (uint32_t)O.max_per_host,
                            O.idle_ms ? (uint64_t)O.idle_ms : 30000) != SQ_OK) {
        fprintf(stderr, "sqfetch: %s\n", sq_last_error());
        return 2;
    }
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    double t0 = now_s();
    pthread_t tids[64];
    long nthreads = O.threads > 64 ? 64 : O.threads;
    int refused = 0;
    if (nthreads > 0) {
        struct thread_arg args[64];
        for (long t = 0; t < nthreads; t++) {
            args[t].from = O.count * t / nthreads;
            args[t].to = O.count * (t + 1) / nthreads;
            pthread_create(&tids[t], NULL, starter, &args[t]);
        }
        for (long t = 0; t < nthreads; t++) pthread_join(tids[t], NULL);
        started = O.count;
    } else {
        while (started < O.count && started < O.concurrency) {
            if (start_one(started++) != 0) {
                refused = 1;
                break;
            }
        }
    }
    if (!refused) {
        sq_status st = sq_loop_run(LOOP);
        if (st != SQ_OK) fprintf(stderr, "sqfetch: loop: %s\n", sq_last_error());
    }
    double elapsed = now_s() - t0;
    getrusage(RUSAGE_SELF, &ru1);
    double cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) + (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
                 (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) + (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
    sq_loop_free(LOOP);
    if (O.count > 1) {
        printf("{\"summary\": true, \"count\": %ld, \"ok\": %ld, \"errors\": {", O.count, ok_count);
        int first = 1;
        for (int i = 0; i < NSTATUS; i++) {
            if (!errors[i]) continue;
            printf("%s\"%s\": %ld", first ? "" : ", ", i ? status_name(-i) : "SQ_ERR_OTHER", errors[i]);
            first = 0;
        }
        printf("}, \"elapsed_s\": %.4f, \"req_per_s\": %.1f, \"cpu_s\": %.4f}\n", elapsed, (double)finished / elapsed, cpu);
    }
    return (refused || ok_count != O.count) ? 1 : 0;
}
