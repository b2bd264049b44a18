/* A tiny blocking HTTP/1.1 client for the C tests (Connection: close, one
 * request per connection). */
#ifndef SQUALL_TEST_HTTP_CLIENT_H
#define SQUALL_TEST_HTTP_CLIENT_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static inline int http_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    return fd;
}

/* Sends `request`, reads the whole response; returns the status code (or -1)
 * and copies the body (NUL-terminated, truncated to cap-1) into body. */
static inline int http_exchange(int port, const char *request, char *body, size_t cap) {
    int fd = http_connect(port);
    if (fd < 0) return -1;
    size_t len = strlen(request), off = 0;
    while (off < len) {
        ssize_t n = write(fd, request + off, len - off);
        if (n <= 0) {
            close(fd);
            return -1;
        }
        off += (size_t)n;
    }
    static __thread char buf[65536];
    size_t got = 0;
    for (;;) {
        ssize_t n = read(fd, buf + got, sizeof buf - 1 - got);
        if (n <= 0) break;
        got += (size_t)n;
        if (got == sizeof buf - 1) break;
    }
    close(fd);
    buf[got] = 0;
    int status = -1;
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1) return -1;
    char *b = strstr(buf, "\r\n\r\n");
    if (body && cap) {
        body[0] = 0;
        if (b) {
            snprintf(body, cap, "%s", b + 4);
        }
    }
    return status;
}

static inline int http_get(int port, const char *path, char *body, size_t cap) {
    char req[512];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n", path);
    return http_exchange(port, req, body, cap);
}

#endif
