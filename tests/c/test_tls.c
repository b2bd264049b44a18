/* The TLS server through the C ABI (run plain, under ASan and valgrind):
 *  - sq_tls_options / sq_tls_config misuse: NULLs, an unset size, bad
 *    fields, garbage PEM, a key that does not match its certificate, an
 *    empty config handed to a server: error codes with a message, no crash;
 *  - certificates made at test time (openssl, in a temporary directory),
 *    added from a file and from memory;
 *  - https served to squall's own client trusting the test certificate
 *    (sq_fetch_request_set_ca_file), a 300 KB body, a failed verification
 *    against another certificate;
 *  - reload: sq_server_set_tls again, from another thread while the loop
 *    runs; new connections get the new certificate;
 *  - the server and loop freed with a TLS connection open and a handshake
 *    stalled halfway: no leak.
 *  - a raw TCP listener with TLS (sq_tcp_options.tls) against openssl
 *    s_client: an echo, then a clean close; a stalled handshake closed
 *    with SQ_ERR_TIMEOUT after 10 s;
 *  - sq_request_tls: version, cipher suite, SNI and ALPN of the request's
 *    connection.
 * Run with io_threads 1 and 0. */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"

#define WAIT_MS 20000

static char dir[64];
static sq_loop *lp;
static sq_server *srv;
static pthread_t host;
static int port;

static void *host_main(void *arg) {
    (void)arg;
    CHECK_EQ(sq_loop_run(lp), SQ_OK);
    return NULL;
}

static void path_of(char *out, size_t n, const char *name) {
    snprintf(out, n, "%s/%s", dir, name);
}

/* A self-signed ECDSA P-256 certificate for localhost: NAME.pem, NAME.key */
static void make_cert(const char *name) {
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost "
             "-addext subjectAltName=DNS:localhost -addext basicConstraints=critical,CA:FALSE -keyout %s/%s.key -out %s/%s.pem 2>/dev/null",
             dir, name, dir, name);
    CHECK_EQ(system(cmd), 0);
}

static char *slurp(const char *name, size_t *len) {
    char p[128];
    path_of(p, sizeof p, name);
    FILE *f = fopen(p, "rb");
    CHECK(f != NULL);
    static char bufs[4][8192];
    static int next;
    char *b = bufs[next++ % 4];
    *len = fread(b, 1, sizeof bufs[0], f);
    fclose(f);
    return b;
}

static sq_tls_config *config_of(const char *name) {
    char c[16], k[16];
    snprintf(c, sizeof c, "%.8s.pem", name);
    snprintf(k, sizeof k, "%.8s.key", name);
    char cp[128], kp[128];
    path_of(cp, sizeof cp, c);
    path_of(kp, sizeof kp, k);
    sq_tls_config *cfg = sq_tls_config_new(NULL);
    CHECK(cfg != NULL);
    CHECK_EQ(sq_tls_config_add_cert_file(cfg, cp, kp), SQ_OK);
    return cfg;
}

static void misuse(void) {
    sq_tls_options o;
    CHECK_EQ(sq_tls_options_init(NULL, sizeof o), SQ_ERR_NULL);
    CHECK_EQ(sq_tls_options_init(&o, 4), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_tls_options_init(&o, sizeof o), SQ_OK);
    CHECK_EQ(o.size, sizeof o);
    CHECK_EQ(o.tickets, 1);
    o.tls13_only = 7;
    CHECK(sq_tls_config_new(&o) == NULL);
    CHECK(strstr(sq_last_error(), "tls13_only") != NULL);
    sq_tls_options unset = {0};
    CHECK(sq_tls_config_new(&unset) == NULL);
    o.tls13_only = 1;
    sq_tls_config *cfg = sq_tls_config_new(&o);
    CHECK(cfg != NULL);

    CHECK_EQ(sq_tls_config_add_cert_file(NULL, "a", "b"), SQ_ERR_NULL);
    CHECK_EQ(sq_tls_config_add_cert_file(cfg, NULL, "b"), SQ_ERR_NULL);
    CHECK_EQ(sq_tls_config_add_cert_file(cfg, "/nonexistent.pem", "/nonexistent.key"), SQ_ERR_INVALID_ARG);
    CHECK(strstr(sq_last_error(), "cannot read") != NULL);
    CHECK_EQ(sq_tls_config_add_cert_pem(cfg, NULL, 0, (const uint8_t *)"x", 1), SQ_ERR_NULL);
    CHECK_EQ(sq_tls_config_add_cert_pem(cfg, (const uint8_t *)"junk", 4, (const uint8_t *)"junk", 4), SQ_ERR_INVALID_ARG);
    CHECK(strstr(sq_last_error(), "no PEM certificate") != NULL);
    size_t cl, kl;
    const char *cert_a = slurp("a.pem", &cl);
    const char *key_b = slurp("b.key", &kl);
    CHECK_EQ(sq_tls_config_add_cert_pem(cfg, (const uint8_t *)cert_a, cl, (const uint8_t *)key_b, kl), SQ_ERR_INVALID_ARG);
    CHECK(strstr(sq_last_error(), "does not match") != NULL);
    CHECK_EQ(sq_tls_config_add_cert_pem(cfg, (const uint8_t *)cert_a, cl, (const uint8_t *)cert_a, cl), SQ_ERR_INVALID_ARG);
    CHECK(strstr(sq_last_error(), "private key") != NULL);
    /* still empty: a server refuses it */
    CHECK_EQ(sq_server_set_tls(srv, cfg), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_server_set_tls(NULL, cfg), SQ_ERR_NULL);
    sq_tls_config_free(cfg);
    sq_tls_config_free(NULL);
}

/* ---- fetch ------------------------------------------------------------------- */

struct result {
    atomic_int done;
    sq_status err;
    uint32_t status;
    size_t body_len;
    int body_ok;
    char text[128];
    sq_status tls_st;      /* sq_fetch_response_tls */
    char tls_text[128];    /* "<version> <suite> <server name> <alpn>" */
};

#define BIG (300 * 1000)
static unsigned char big[BIG];

static sq_status h_big(void *ud, sq_request *req) {
    (void)ud;
    CHECK_EQ(sq_respond(req, 200, NULL, 0, big, BIG), SQ_OK);
    return SQ_OK;
}

/* GET /tls: what sq_request_tls says, as text */
static sq_status h_tls(void *ud, sq_request *req) {
    (void)ud;
    sq_tls_info info = {.size = sizeof info};
    CHECK_EQ(sq_request_tls(req, &info), SQ_OK);
    CHECK_EQ(info.size, sizeof info);
    sq_tls_info tiny = {.size = 4};
    CHECK_EQ(sq_request_tls(req, &tiny), SQ_ERR_INVALID_ARG);
    CHECK_EQ(sq_request_tls(req, NULL), SQ_ERR_NULL);
    char body[128];
    int n = snprintf(body, sizeof body, "%llx %llx %.*s %.*s", (unsigned long long)info.version,
                     (unsigned long long)info.cipher_suite, (int)info.server_name.len, info.server_name.ptr,
                     (int)info.alpn.len, info.alpn.ptr);
    CHECK_EQ(sq_respond(req, 200, NULL, 0, body, (size_t)n), SQ_OK);
    return SQ_OK;
}

static void on_done(void *ud, const sq_fetch_response *resp) {
    struct result *r = ud;
    r->err = sq_fetch_response_error(resp);
    sq_str m;
    if (r->err != SQ_OK && sq_fetch_response_message(resp, &m) == SQ_OK)
        fprintf(stderr, "fetch: %.*s\n", (int)m.len, m.ptr);
    r->status = sq_fetch_response_status(resp);
    sq_str b;
    CHECK_EQ(sq_fetch_response_body(resp, &b), SQ_OK);
    r->body_len = b.len;
    r->body_ok = b.len == BIG && memcmp(b.ptr, big, BIG) == 0;
    snprintf(r->text, sizeof r->text, "%.*s", (int)(b.len < 100 ? b.len : 100), b.ptr ? b.ptr : "");
    sq_tls_info info = {.size = sizeof info};
    r->tls_st = sq_fetch_response_tls(resp, &info);
    if (r->tls_st == SQ_OK)
        snprintf(r->tls_text, sizeof r->tls_text, "%llx %llx %.*s %.*s", (unsigned long long)info.version,
                 (unsigned long long)info.cipher_suite, (int)info.server_name.len, info.server_name.ptr,
                 (int)info.alpn.len, info.alpn.ptr);
    CHECK_EQ(sq_fetch_response_tls(resp, NULL), SQ_ERR_NULL);
    sq_tls_info tiny = {.size = 4};
    CHECK_EQ(sq_fetch_response_tls(resp, &tiny), SQ_ERR_INVALID_ARG);
    atomic_store(&r->done, 1);
}

static void fetch_path(const char *ca_name, const char *path, struct result *r) {
    char url[64], ca[128];
    snprintf(url, sizeof url, "https://localhost:%d%s", port, path);
    path_of(ca, sizeof ca, ca_name);
    sq_fetch_request *req = sq_fetch_request_new("GET", url);
    CHECK(req != NULL);
    CHECK_EQ(sq_fetch_request_set_ca_file(req, ca), SQ_OK);
    memset(r, 0, sizeof *r);
    CHECK_EQ(sq_fetch(lp, req, on_done, r), SQ_OK);
    for (int t = 0; t < WAIT_MS && !atomic_load(&r->done); t += 2) sleep_ms(2);
    CHECK(atomic_load(&r->done));
}

static void fetch_trusting(const char *ca_name, struct result *r) {
    fetch_path(ca_name, "/big", r);
}

/* ---- raw sockets ------------------------------------------------------------- */

static int connect_raw(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(s >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK_EQ(connect(s, (struct sockaddr *)&a, sizeof a), 0);
    return s;
}

/* ---- a raw TCP listener with TLS ---------------------------------------------- */

static atomic_int tcp_closed, tcp_status;

/* echoes what arrives, upper-cased, then closes (close_notify, then FIN) */
static void tcp_data(void *ud, sq_tcp *s, const void *data, size_t len) {
    (void)ud;
    char up[256];
    size_t n = len < sizeof up ? len : sizeof up;
    for (size_t i = 0; i < n; i++) up[i] = (char)toupper(((const unsigned char *)data)[i]);
    CHECK_EQ(sq_tcp_write(s, up, n), SQ_OK);
    CHECK_EQ(sq_tcp_close(s), SQ_OK);
}
static void tcp_close(void *ud, sq_tcp *s, sq_status st) {
    (void)ud;
    (void)s;
    atomic_store(&tcp_status, st);
    atomic_fetch_add(&tcp_closed, 1);
}
static const sq_tcp_callbacks tcp_cb = {sizeof(sq_tcp_callbacks), NULL, tcp_data, NULL, NULL, tcp_close};

/* openssl s_client against a TLS TCP listener: the echo comes back, and
 * the listener's streams close cleanly. */
static void tcp_over_tls(int stall_test) {
    sq_tcp_options o;
    CHECK_EQ(sq_tcp_options_init(&o, sizeof o), SQ_OK);
    CHECK(o.tls == NULL);
    o.tls = config_of("a");
    sq_tcp_listener *l = sq_tcp_listen(lp, "127.0.0.1", 0, &tcp_cb, &o, NULL);
    CHECK(l != NULL);
    sq_tls_config_free((sq_tls_config *)o.tls);
    int p = sq_tcp_listener_port(l);
    CHECK(p > 0);
    char cmd[512], out[128];
    path_of(out, sizeof out, "tcp.out");
    snprintf(cmd, sizeof cmd,
             "printf 'hello over tls' | timeout 20 openssl s_client -quiet -ign_eof -connect 127.0.0.1:%d "
             "-CAfile %s/a.pem -verify_return_error > %s 2>/dev/null",
             p, dir, out);
    CHECK_EQ(system(cmd), 0);
    size_t len;
    const char *got = slurp("tcp.out", &len);
    CHECK(len == 14 && memcmp(got, "HELLO OVER TLS", 14) == 0);
    for (int t = 0; t < WAIT_MS && atomic_load(&tcp_closed) < 1; t += 2) sleep_ms(2);
    CHECK_EQ(atomic_load(&tcp_status), SQ_OK);
    /* a connect cannot take a TLS configuration */
    sq_tcp_options c;
    CHECK_EQ(sq_tcp_options_init(&c, sizeof c), SQ_OK);
    c.tls = config_of("a");
    CHECK_EQ(sq_tcp_connect(lp, "127.0.0.1", (uint16_t)p, &tcp_cb, &c, NULL), SQ_ERR_INVALID_ARG);
    sq_tls_config_free((sq_tls_config *)c.tls);
    if (stall_test) {
        /* a stalled handshake (half a record): closed with SQ_ERR_TIMEOUT after 10 s */
        atomic_store(&tcp_closed, 0);
        int s = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        CHECK_EQ(connect(s, (struct sockaddr *)&a, sizeof a), 0);
        const unsigned char half[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00};
        CHECK_EQ(write(s, half, sizeof half), (ssize_t)sizeof half);
        long long t0 = now_ns();
        for (int t = 0; t < 15000 && atomic_load(&tcp_closed) < 1; t += 5) sleep_ms(5);
        long long took_ms = (now_ns() - t0) / 1000000;
        CHECK_EQ(atomic_load(&tcp_closed), 1);
        CHECK_EQ(atomic_load(&tcp_status), SQ_ERR_TIMEOUT);
        CHECK(took_ms >= 9000 && took_ms < 13000);
        char b;
        CHECK(read(s, &b, 1) <= 0); /* closed by the server */
        close(s);
    }
    sq_tcp_listener_free(l);
    atomic_store(&tcp_closed, 0);
}

struct reloader {
    sq_tls_config *cfg;
    sq_status st;
};

static void *reload_main(void *arg) {
    struct reloader *r = arg;
    r->st = sq_server_set_tls(srv, r->cfg);
    return NULL;
}

static void run(uint32_t io_threads) {
    lp = sq_loop_new();
    CHECK(lp != NULL);
    CHECK_EQ(sq_loop_set_io_threads(lp, io_threads), SQ_OK);
    srv = sq_server_new(lp);
    CHECK(srv != NULL);
    CHECK_EQ(sq_route(srv, "GET", "/big", h_big, NULL, 0), SQ_OK);
    CHECK_EQ(sq_route(srv, "GET", "/tls", h_tls, NULL, 0), SQ_OK);
    misuse();

    /* from memory */
    size_t cl, kl;
    const char *cert = slurp("a.pem", &cl);
    const char *key = slurp("a.key", &kl);
    sq_tls_config *a = sq_tls_config_new(NULL);
    CHECK_EQ(sq_tls_config_add_cert_pem(a, (const uint8_t *)cert, cl, (const uint8_t *)key, kl), SQ_OK);
    CHECK_EQ(sq_server_set_tls(srv, a), SQ_OK);
    sq_tls_config_free(a); /* the server keeps what it needs */

    uint16_t bound = 0;
    CHECK_EQ(sq_server_listen(srv, "127.0.0.1", 0, &bound), SQ_OK);
    port = bound;
    CHECK_EQ(pthread_create(&host, NULL, host_main, NULL), 0);

    struct result r;
    fetch_trusting("a.pem", &r);
    CHECK_EQ(r.err, SQ_OK);
    CHECK_EQ(r.status, 200);
    CHECK(r.body_ok);
    fetch_trusting("b.pem", &r);
    CHECK_EQ(r.err, SQ_ERR_TLS);
    CHECK_EQ(r.tls_st, SQ_ERR_NOT_FOUND); /* a failed fetch has none */
    /* the request's view of its TLS: 1.3, an AEAD suite, SNI, ALPN */
    fetch_path("a.pem", "/tls", &r);
    CHECK_EQ(r.err, SQ_OK);
    CHECK(strncmp(r.text, "304 130", 7) == 0);
    CHECK(strstr(r.text, " localhost http/1.1") != NULL);
    /* and the client's view of the same handshake (sq_fetch_response_tls) */
    CHECK_EQ(r.tls_st, SQ_OK);
    CHECK(strncmp(r.tls_text, "304 130", 7) == 0);
    CHECK(strstr(r.tls_text, " localhost http/1.1") != NULL);

    /* reload from another thread while the loop runs */
    struct reloader rl = {config_of("b"), SQ_ERR_IO};
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, reload_main, &rl), 0);
    CHECK_EQ(pthread_join(t, NULL), 0);
    CHECK_EQ(rl.st, SQ_OK);
    sq_tls_config_free(rl.cfg);
    fetch_trusting("b.pem", &r);
    CHECK_EQ(r.err, SQ_OK);
    CHECK(r.body_ok);

    tcp_over_tls(io_threads == 1);

    /* plain HTTP to the TLS port: 400 in plaintext */
    int s = connect_raw();
    const char *get = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    CHECK_EQ(write(s, get, strlen(get)), (ssize_t)strlen(get));
    char buf[256] = {0};
    ssize_t n = read(s, buf, sizeof buf - 1);
    CHECK(n > 12 && memcmp(buf, "HTTP/1.1 400", 12) == 0);
    close(s);

    /* left open at free: a stalled handshake (half a record) */
    int stalled = connect_raw();
    const unsigned char half[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00};
    CHECK_EQ(write(stalled, half, sizeof half), (ssize_t)sizeof half);
    sleep_ms(50);

    CHECK_EQ(sq_loop_stop(lp), SQ_OK);
    CHECK_EQ(pthread_join(host, NULL), 0);
    sq_server_free(srv);
    sq_loop_free(lp);
    close(stalled);
    printf("test_tls (io_threads %u): ok\n", io_threads);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    snprintf(dir, sizeof dir, "/tmp/squall-tls-XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    make_cert("a");
    make_cert("b");
    for (size_t i = 0; i < BIG; i++) big[i] = (unsigned char)(i * 131 + (i >> 8));
    run(1);
    run(0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK_EQ(system(cmd), 0);
    return 0;
}
