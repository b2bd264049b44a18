/* A small blocking WebSocket client for the C tests: the handshake, masked
 * frames out, frames in (any length), over a plain TCP socket. */
#ifndef SQUALL_TEST_WS_CLIENT_H
#define SQUALL_TEST_WS_CLIENT_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_client.h"

static inline int ws_write_all(int fd, const void *p, size_t n) {
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w <= 0) return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

static inline int ws_read_all(int fd, void *p, size_t n) {
    uint8_t *b = p;
    while (n > 0) {
        ssize_t r = recv(fd, b, n, 0);
        if (r <= 0) return -1;
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Connects and upgrades; returns the fd, or -1 (and *status the HTTP status). */
static inline int ws_open(int port, const char *path, int *status) {
    int fd = http_connect(port);
    if (fd < 0) return -1;
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                     path, port);
    if (ws_write_all(fd, req, (size_t)n) != 0) goto fail;
    /* read the head byte by byte: nothing after it may be consumed */
    char head[1024];
    size_t len = 0;
    while (len < sizeof head - 1) {
        if (recv(fd, head + len, 1, 0) != 1) goto fail;
        len++;
        if (len >= 4 && memcmp(head + len - 4, "\r\n\r\n", 4) == 0) break;
    }
    head[len] = 0;
    int code = 0;
    sscanf(head, "HTTP/1.1 %d", &code);
    if (status) *status = code;
    if (code != 101 || !strstr(head, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")) goto fail;
    return fd;
fail:
    close(fd);
    return -1;
}

/* Sends one masked frame (fin set). */
static inline int ws_send_frame(int fd, int opcode, const void *data, size_t len) {
    uint8_t h[14];
    size_t hl = 0;
    h[hl++] = (uint8_t)(0x80 | opcode);
    if (len < 126) {
        h[hl++] = (uint8_t)(0x80 | len);
    } else if (len < 65536) {
        h[hl++] = 0x80 | 126;
        h[hl++] = (uint8_t)(len >> 8);
        h[hl++] = (uint8_t)len;
    } else {
        h[hl++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--) h[hl++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    const uint8_t mask[4] = {0x12, 0x34, 0x56, 0x78};
    memcpy(h + hl, mask, 4);
    hl += 4;
    uint8_t *buf = malloc(hl + len + 1);
    memcpy(buf, h, hl);
    for (size_t i = 0; i < len; i++) buf[hl + i] = ((const uint8_t *)data)[i] ^ mask[i % 4];
    int rc = ws_write_all(fd, buf, hl + len);
    free(buf);
    return rc;
}

/* Reads one frame; returns its opcode (payload malloc'd into *data, the
 * caller frees), or -1 on EOF or error. Server frames are never masked. */
static inline int ws_read_frame(int fd, uint8_t **data, size_t *len) {
    uint8_t h[2];
    if (ws_read_all(fd, h, 2) != 0) return -1;
    if (h[1] & 0x80) return -1;
    uint64_t n = h[1] & 0x7f;
    if (n == 126) {
        uint8_t e[2];
        if (ws_read_all(fd, e, 2) != 0) return -1;
        n = ((uint64_t)e[0] << 8) | e[1];
    } else if (n == 127) {
        uint8_t e[8];
        if (ws_read_all(fd, e, 8) != 0) return -1;
        n = 0;
        for (int i = 0; i < 8; i++) n = (n << 8) | e[i];
    }
    uint8_t *p = malloc(n + 1);
    if (n && ws_read_all(fd, p, n) != 0) {
        free(p);
        return -1;
    }
    p[n] = 0;
    *data = p;
    *len = n;
    return h[0] & 0x0f;
}

#endif
