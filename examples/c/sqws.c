/*
 * sqws: a WebSocket client on squall (sq_ws_connect). It opens URL, sends
 * the messages given in order, waits for as many messages back (or
 * --expect N), pings if asked, then closes — or waits for the server to
 * close (--wait-close). Every event is printed as a JSON line:
 *   {"event": "open", "protocol": "..."}
 *   {"event": "message", "opcode": 1|2, "data": "<latin-1>", "len": n}
 *       (with --hash: "fnv1a": "<16 hex digits>", the FNV-1a 64 hash of the
 *       message, instead of "data")
 *   {"event": "pong", "data": "..."}     {"event": "ping", "data": "..."}
 *   {"event": "close", "code": n, "reason": "...", "peak_rss_kib": n}
 *   {"event": "error", "status": "SQ_ERR_...", "message": "...", "peak_rss_kib": n}
 * peak_rss_kib: this process's peak resident memory so far (VmHWM, Linux;
 * -1 elsewhere; wait4's ru_maxrss would count the image before exec).
 *
 *   sqws [-t TEXT] [-b HEX] [-g N] [--hash] [--expect N] [--ping DATA]
 *        [--close CODE [REASON]] [--wait-close] [--protocol LIST]
 *        [-H "Name: value"] [--cacert FILE] [--connect-timeout MS]
 *        [--max-message N] [--io-threads N] URL
 *
 * -g N sends a generated binary message of N bytes (byte i is
 * (i * 131 + (i >> 8)) mod 256), for payloads too large for a command line.
 *
 * Exit 0 once the socket closed (whoever closed it: the close event has the
 * code), 1 on a connect error.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "squall.h"

struct msg {
    int binary;
    unsigned char *data;
    size_t len;
};

static struct msg msgs[64];
static int nmsgs;
static long expect = -1, received;
static const char *ping_data;
static int close_code = 1000, wait_close, failed, hash_only;
static const char *close_reason = "";
static sq_loop *LOOP;

static void json_bytes(const void *p, size_t n) {
    const unsigned char *s = p;
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"' || s[i] == '\\') printf("\\%c", s[i]);
        else if (s[i] < 0x20 || s[i] >= 0x7f) printf("\\u%04x", s[i]);
        else putchar(s[i]);
    }
    putchar('"');
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

static void finish_if_done(sq_ws *ws) {
    if (received < expect) return;
    if (ping_data) {
        sq_ws_ping(ws, ping_data, strlen(ping_data));
        ping_data = NULL;
        return; /* closes after the pong */
    }
    if (!wait_close && sq_ws_close(ws, (uint16_t)close_code, close_reason) != SQ_OK) {
        fprintf(stderr, "sqws: close: %s\n", sq_last_error());
        failed = 1;
        sq_loop_stop(LOOP);
    }
}

static void on_open(void *ud, sq_ws *ws, sq_request *req) {
    (void)ud;
    (void)req;
    sq_str proto = {0};
    sq_ws_subprotocol(ws, &proto);
    printf("{\"event\": \"open\", \"protocol\": ");
    json_bytes(proto.ptr, proto.len);
    printf("}\n");
    fflush(stdout);
    for (int i = 0; i < nmsgs; i++) {
        sq_status st = sq_ws_send(ws, msgs[i].data, msgs[i].len, msgs[i].binary ? SQ_WS_BINARY : SQ_WS_TEXT);
        if (st < 0) fprintf(stderr, "sqws: send: %s\n", sq_last_error());
    }
    finish_if_done(ws);
}

static void on_message(void *ud, sq_ws *ws, const void *data, size_t len, int opcode) {
    (void)ud;
    printf("{\"event\": \"message\", \"opcode\": %d, \"len\": %zu, ", opcode, len);
    if (hash_only) {
        uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a 64 */
        for (size_t i = 0; i < len; i++) h = (h ^ ((const unsigned char *)data)[i]) * 0x100000001b3ull;
        printf("\"fnv1a\": \"%016llx\"}\n", (unsigned long long)h);
    } else {
        printf("\"data\": ");
        json_bytes(data, len);
        printf("}\n");
    }
    fflush(stdout);
    received++;
    finish_if_done(ws);
}

static void on_pong(void *ud, sq_ws *ws, const void *data, size_t len) {
    (void)ud;
    printf("{\"event\": \"pong\", \"data\": ");
    json_bytes(data, len);
    printf("}\n");
    fflush(stdout);
    finish_if_done(ws);
}

static void on_ping(void *ud, sq_ws *ws, const void *data, size_t len) {
    (void)ud;
    (void)ws;
    printf("{\"event\": \"ping\", \"data\": ");
    json_bytes(data, len);
    printf("}\n");
    fflush(stdout);
}

static void on_close(void *ud, sq_ws *ws, uint16_t code, const char *reason, size_t len) {
    (void)ud;
    (void)ws;
    printf("{\"event\": \"close\", \"code\": %u, \"reason\": ", code);
    json_bytes(reason, len);
    printf(", \"peak_rss_kib\": %ld}\n", peak_rss_kib());
    fflush(stdout);
    sq_loop_stop(LOOP);
}

static void on_connect_error(void *ud, sq_status status, const char *message, size_t len) {
    (void)ud;
    const char *name = sq_status_str(status); /* "SQ_ERR_X: description": the name only */
    printf("{\"event\": \"error\", \"status\": \"%.*s\", \"message\": ", (int)strcspn(name, ":"), name);
    json_bytes(message, len);
    printf(", \"peak_rss_kib\": %ld}\n", peak_rss_kib());
    fflush(stdout);
    failed = 1;
    sq_loop_stop(LOOP);
}

static void usage(void) {
    fprintf(stderr, "usage: sqws [-t TEXT] [-b HEX] [-g N] [--hash] [--expect N] [--ping DATA] [--close CODE [REASON]] [--wait-close] URL\n");
    exit(2);
}

static unsigned char *hex(const char *s, size_t *len) {
    size_t n = strlen(s);
    if (n % 2) usage();
    unsigned char *out = malloc(n / 2 + 1);
    if (!out) abort();
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1) usage();
        out[i] = (unsigned char)v;
    }
    *len = n / 2;
    return out;
}

int main(int argc, char **argv) {
    const char *url = NULL;
    char headers[4096] = "";
    sq_ws_options o;
    sq_ws_options_init(&o, sizeof o);
    long io_threads = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "-t") && more && nmsgs < 64) {
            msgs[nmsgs].data = (unsigned char *)argv[++i];
            msgs[nmsgs].len = strlen(argv[i]);
            msgs[nmsgs++].binary = 0;
        } else if (!strcmp(a, "-b") && more && nmsgs < 64) {
            msgs[nmsgs].data = hex(argv[++i], &msgs[nmsgs].len);
            msgs[nmsgs++].binary = 1;
        } else if (!strcmp(a, "-g") && more && nmsgs < 64) {
            size_t n = (size_t)atoll(argv[++i]);
            unsigned char *g = malloc(n + 1);
            if (!g) abort();
            for (size_t k = 0; k < n; k++) g[k] = (unsigned char)(k * 131 + (k >> 8));
            msgs[nmsgs].data = g;
            msgs[nmsgs].len = n;
            msgs[nmsgs++].binary = 1;
        } else if (!strcmp(a, "--hash")) hash_only = 1;
        else if (!strcmp(a, "--expect") && more) expect = atol(argv[++i]);
        else if (!strcmp(a, "--ping") && more) ping_data = argv[++i];
        else if (!strcmp(a, "--close") && more) {
            close_code = atoi(argv[++i]);
            if (i + 1 < argc && argv[i + 1][0] != '-' && i + 2 < argc) close_reason = argv[++i];
        } else if (!strcmp(a, "--wait-close")) wait_close = 1;
        else if (!strcmp(a, "--protocol") && more) o.subprotocols = argv[++i];
        else if (!strcmp(a, "-H") && more) {
            strncat(headers, argv[++i], sizeof headers - strlen(headers) - 3);
            strcat(headers, "\r\n");
        } else if (!strcmp(a, "--cacert") && more) o.ca_file = argv[++i];
        else if (!strcmp(a, "--connect-timeout") && more) o.connect_timeout_ms = (uint64_t)atoll(argv[++i]);
        else if (!strcmp(a, "--max-message") && more) o.max_message_size = (size_t)atoll(argv[++i]);
        else if (!strcmp(a, "--io-threads") && more) io_threads = atol(argv[++i]);
        else if (a[0] == '-' || url) usage();
        else url = a;
    }
    if (!url) usage();
    if (expect < 0) expect = nmsgs;
    if (headers[0]) o.headers = headers;
    LOOP = sq_loop_new();
    sq_loop_set_io_threads(LOOP, (uint32_t)io_threads);
    sq_ws_callbacks cb = {.size = sizeof cb,
                          .on_open = on_open,
                          .on_message = on_message,
                          .on_close = on_close,
                          .on_ping = on_ping,
                          .on_pong = on_pong,
                          .on_connect_error = on_connect_error};
    if (sq_ws_connect(LOOP, url, &cb, &o, NULL) != SQ_OK) {
        printf("{\"event\": \"error\", \"status\": \"refused\", \"message\": ");
        json_bytes(sq_last_error(), strlen(sq_last_error()));
        printf("}\n");
        sq_loop_free(LOOP);
        return 1;
    }
    sq_loop_run(LOOP);
    sq_loop_free(LOOP);
    for (int i = 0; i < nmsgs; i++)
        if (msgs[i].binary) free(msgs[i].data);
    return failed;
}
