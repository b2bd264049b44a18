"""HTTP conformance of a demo server (DESIGN §6 routes, RFC 9112 framing,
limits and bad input). Each bad-input test checks the exact status, that the
connection is closed, and that the server still answers afterwards."""
import http.client
import socket
import subprocess
import threading
import time

import pytest

from conftest import CURL_TLS, SCHEME
from httpraw import Raw


def get(port, path, method="GET", body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r, data


def still_serving(port):
    r, data = get(port, "/")
    assert (r.status, data) == (200, b"Hello, world")


# ---- the demo routes --------------------------------------------------------

def test_root(demo):
    r, data = get(demo.port, "/")
    assert r.status == 200 and data == b"Hello, world"
    assert r.getheader("Content-Type") == "text/plain"
    assert r.getheader("Content-Length") == "12"
    assert r.getheader("Date", "").endswith("GMT")


def test_echo_keeps_body_and_content_type(demo):
    payload = bytes(range(256)) * 4096  # 1 MiB of every byte value
    r, data = get(demo.port, "/echo", "POST", payload, {"Content-Type": "application/x-test"})
    assert r.status == 200 and data == payload
    assert r.getheader("Content-Type") == "application/x-test"


def test_echo_chunked_request_body(demo):
    c = http.client.HTTPConnection("127.0.0.1", demo.port, timeout=10)
    parts = [b"alpha-", b"beta-", b"gamma" * 1000]
    c.request("POST", "/echo", body=iter(parts), headers={"Transfer-Encoding": "chunked"}, encode_chunked=True)
    r = c.getresponse()
    assert r.status == 200 and r.read() == b"".join(parts)


def test_args(demo):
    assert get(demo.port, "/args/abc123/42")[1] == b"a=abc123 b=42"
    assert get(demo.port, "/args/ABC/42")[0].status == 404
    assert get(demo.port, "/args/abc/4x")[0].status == 404


def test_query(demo):
    r, data = get(demo.port, "/query?name=J%C3%BCrgen+M%20x&other=1")
    assert r.status == 200 and data.decode() == "name=Jürgen M x"
    assert get(demo.port, "/query?nom=x")[0].status == 400
    assert get(demo.port, "/query?name=a&name=b")[1] == b"name=b"


def test_stream_is_chunked_and_flushed_per_chunk(demo):
    raw = Raw(demo.port)
    raw.send(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
    r = raw.read_response()
    assert r.status == 200
    assert r.header("Transfer-Encoding") == "chunked" and r.header("Content-Length") is None
    assert r.chunks == [f"chunk {i}\n".encode() for i in range(5)]
    raw.close()


def test_slow(demo):
    t = time.monotonic()
    r, data = get(demo.port, "/slow?ms=300")
    assert (r.status, data) == (200, b"slept 300")
    assert time.monotonic() - t >= 0.29


def test_slow_requests_do_not_block_others(demo):
    results = []
    th = threading.Thread(target=lambda: results.append(get(demo.port, "/slow?ms=800")[1]))
    th.start()
    time.sleep(0.1)
    t = time.monotonic()
    still_serving(demo.port)
    assert time.monotonic() - t < 0.5
    th.join()
    assert results == [b"slept 800"]


def test_defer(demo):
    for _ in range(20):
        r, data = get(demo.port, "/defer")
        assert (r.status, data) == (200, b"deferred")


def test_headers(demo):
    r, data = get(demo.port, "/headers", headers={"X-Test": "some value"})
    assert r.status == 200 and data == b"ok" and r.getheader("X-Echo") == "some value"


@pytest.mark.parametrize("code", [200, 201, 299, 404, 418, 503, 599])
def test_status_with_body(demo, code):
    r, data = get(demo.port, f"/status/{code}")
    assert r.status == code and data == b"status"


@pytest.mark.parametrize("code", [204, 304])
def test_status_without_body(demo, code):
    raw = Raw(demo.port)
    raw.send(f"GET /status/{code} HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    r = raw.read_response()
    assert r.status == code and r.body == b""
    assert r.header("Transfer-Encoding") is None
    if code == 204:
        assert r.header("Content-Length") is None
    # the next response follows immediately: no stray body bytes
    r2 = raw.read_response()
    assert r2.status == 200 and r2.body == b"Hello, world"
    raw.close()


def test_error_is_500_and_server_goes_on(demo):
    for _ in range(3):
        r, data = get(demo.port, "/error")
        assert r.status == 500
    still_serving(demo.port)


def test_not_found_and_method_not_allowed(demo):
    assert get(demo.port, "/nope")[0].status == 404
    r, _ = get(demo.port, "/", "POST", b"x")
    assert r.status == 405
    assert set(r.getheader("Allow").split(", ")) == {"GET", "HEAD"}
    r, _ = get(demo.port, "/echo", "GET")
    assert r.status == 405 and r.getheader("Allow") == "POST"


def test_head(demo):
    raw = Raw(demo.port)
    raw.send(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
    r = raw.read_response(head_request=True)
    assert r.status == 200 and r.header("Content-Length") == "12"
    r2 = raw.read_response()
    assert r2.body == b"Hello, world", "no body bytes after the HEAD response"
    raw.close()


# ---- connection management --------------------------------------------------

def test_keep_alive_reuses_one_connection(demo):
    c = http.client.HTTPConnection("127.0.0.1", demo.port, timeout=10)
    c.connect()
    local = c.sock.getsockname()
    for i in range(50):
        c.request("GET", f"/args/x/{i}")
        r = c.getresponse()
        assert r.read() == f"a=x b={i}".encode()
        assert c.sock is not None and c.sock.getsockname() == local
    c.close()


def test_pipelining_answers_in_order(demo):
    raw = Raw(demo.port)
    reqs = b"".join(
        [
            b"GET /slow?ms=200 HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /args/a/1 HTTP/1.1\r\nHost: x\r\n\r\n",
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
            b"GET /defer HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        ]
    )
    raw.send(reqs)
    bodies = [raw.read_response().body for _ in range(6)]
    # the 404 page: squall's own (C, Go), or the Python application's (Tornado's page)
    assert bodies[4] in (b"404 Not Found\n", b"<html><title>404: Not Found</title><body>404: Not Found</body></html>")
    assert bodies[:4] + bodies[5:] == [b"slept 200", b"a=a b=1", b"hello", b"deferred", b"Hello, world"]
    raw.close()


def test_http10_closes_unless_keep_alive(demo):
    raw = Raw(demo.port)
    raw.send(b"GET / HTTP/1.0\r\n\r\n")
    r = raw.read_response()
    # answered as HTTP/1.1, the highest version of the request's major
    # (RFC 9112 §2.6); no Connection header: closing is HTTP/1.0's default
    assert r.version == "HTTP/1.1" and r.status == 200 and r.body == b"Hello, world"
    assert r.header("Connection") is None
    assert raw.closed_by_peer()
    raw = Raw(demo.port)
    raw.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    r = raw.read_response()
    assert r.header("Connection").lower() == "keep-alive"
    raw.send(b"GET /args/q/7 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    assert raw.read_response().body == b"a=q b=7"
    raw.close()


def test_http10_streaming_runs_until_close(demo):
    raw = Raw(demo.port)
    raw.send(b"GET /stream HTTP/1.0\r\n\r\n")
    r = raw.read_response()
    assert r.header("Transfer-Encoding") is None
    assert r.body == b"".join(f"chunk {i}\n".encode() for i in range(5))


def test_connection_close_is_honoured(demo):
    raw = Raw(demo.port)
    raw.send(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    r = raw.read_response()
    assert r.header("Connection") == "close"
    assert raw.closed_by_peer()


def test_expect_100_continue(demo):
    raw = Raw(demo.port)
    raw.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
    interim = raw.read_response()
    assert interim.status == 100
    raw.send(b"data")
    r = raw.read_response()
    assert r.status == 200 and r.body == b"data"
    raw.close()


def test_client_that_leaves_does_not_hurt(demo):
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", demo.port))
        s.sendall(b"GET /slow?ms=100 HTTP/1.1\r\nHost: x\r\n\r\nGET /defer HTTP/1.1\r\nHost: x\r\n\r\n")
        s.close()
    time.sleep(0.3)
    still_serving(demo.port)


def test_curl(demo):
    out = subprocess.run(["curl", "-sS", "--max-time", "10", *CURL_TLS, f"{SCHEME}://127.0.0.1:{demo.port}/"],
                         capture_output=True, check=True)
    assert out.stdout == b"Hello, world"
    out = subprocess.run(
        ["curl", "-sS", "--max-time", "10", *CURL_TLS, "--data-binary", "@-", "-H", "Content-Type: text/x-curl",
         f"{SCHEME}://127.0.0.1:{demo.port}/echo"],
        input=b"from curl " * 1000, capture_output=True, check=True,
    )
    assert out.stdout == b"from curl " * 1000


# ---- bad input: exact status, connection closed, server goes on ------------

BAD = [
    ("cl-and-te", b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("two-cl", b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
    ("cl-plus", b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc", 400),
    ("cl-hex", b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0x3\r\n\r\nabc", 400),
    ("cl-list", b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 4\r\n\r\nabc", 400),
    ("cl-overflow", b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400),
    ("te-gzip-chunked", b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
    ("te-chunked-gzip", b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
    ("te-unknown", b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: foo\r\n\r\n", 501),
    ("te-http10", b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("chunk-size-garbage", b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n", 400),
    ("chunk-size-overflow", b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff\r\n", 400),
    ("chunk-size-signed", b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", 400),
    ("obs-fold", b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", 400),
    ("space-before-colon", b"GET / HTTP/1.1\r\nHost: x\r\nX-A : a\r\n\r\n", 400),
    ("bare-cr-value", b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", 400),
    ("nul-value", b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400),
    ("ctl-in-name", b"GET / HTTP/1.1\r\nHost: x\r\nX\x01A: a\r\n\r\n", 400),
    ("no-host", b"GET / HTTP/1.1\r\n\r\n", 400),
    ("two-hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ("garbage-line", b"HELLO THERE\r\n\r\n", 400),
    ("binary-garbage", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(40)) + b"\r\n\r\n", 400),
    ("http2-version", b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    ("http09-version", b"GET / HTTP/0.9\r\nHost: x\r\n\r\n", 505),
    ("lowercase-version", b"GET / http/1.1\r\nHost: x\r\n\r\n", 400),
    ("bare-lf", b"GET / HTTP/1.1\nHost: x\n\n", 400),
    ("bare-lf-before-request", b"\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("double-space", b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("target-char", b"GET /a<b> HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("target-bad-pct", b"GET /a%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("asterisk-with-get", b"GET * HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("host-malformed", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    ("expect-unknown", b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 0\r\n\r\n", 417),
    ("te-chunked-twice", b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("chunk-size-space", b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n", 400),
    ("chunk-ext-empty", b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;\r\nabc\r\n0\r\n\r\n", 400),
    ("chunk-data-no-crlf", b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX0\r\n\r\n", 400),
    ("trailer-malformed", b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nBad Trailer\r\n\r\n", 400),
    ("long-target", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    ("long-target-partial", b"GET /" + b"a" * 9000, 414),
    ("huge-header", b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"v" * 70000 + b"\r\n\r\n", 431),
    ("many-headers", b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(150)) + b"\r\n", 431),
    ("body-too-large", b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 67108865\r\n\r\n", 413),
]


@pytest.mark.parametrize("name,request_bytes,status", BAD, ids=[b[0] for b in BAD])
def test_bad_input(demo, name, request_bytes, status):
    raw = Raw(demo.port)
    try:
        raw.send(request_bytes)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may answer and close before reading everything
    r = raw.read_response()
    assert r.status == status, f"{name}: {r.status} {r.body!r}"
    assert r.header("Connection") == "close"
    assert raw.closed_by_peer()
    raw.close()
    still_serving(demo.port)


def test_chunked_body_crossing_the_limit_gets_413(demo):
    raw = Raw(demo.port, timeout=30)
    raw.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n" % (1 << 20) + b"x" * (1 << 20) + b"\r\n"
    try:
        for _ in range(70):  # 70 MiB > the demo's 64 MiB limit
            raw.send(chunk)
    except (BrokenPipeError, ConnectionResetError, OSError):  # OSError: ssl.SSLEOFError over TLS
        pass
    r = raw.read_response()
    assert r.status == 413
    raw.close()
    still_serving(demo.port)


def test_pipelined_good_then_bad(demo):
    raw = Raw(demo.port)
    raw.send(b"GET /args/z/1 HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n")
    assert raw.read_response().body == b"a=z b=1"
    assert raw.read_response().status == 400
    assert raw.closed_by_peer()


# ---- timeouts (the demo is started with 700 ms timeouts) ---------------------

def test_header_timeout_slowloris(fast_timeouts_demo):
    port = fast_timeouts_demo.port
    raw = Raw(port)
    raw.send(b"GET / HTTP/1.1\r\nHost: x\r\n")
    t = time.monotonic()
    r = raw.read_response()
    assert r.status == 408
    assert 0.5 < time.monotonic() - t < 3.0
    assert raw.closed_by_peer()
    # a client that connects and sends nothing is closed too
    raw = Raw(port)
    assert raw.closed_by_peer(timeout=3.0)
    still_serving(port)


def test_body_timeout(fast_timeouts_demo):
    raw = Raw(fast_timeouts_demo.port)
    raw.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
    r = raw.read_response()
    assert r.status == 408
    assert raw.closed_by_peer()


def test_idle_keep_alive_timeout(fast_timeouts_demo):
    raw = Raw(fast_timeouts_demo.port)
    raw.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert raw.read_response().status == 200
    t = time.monotonic()
    assert raw.closed_by_peer(timeout=3.0)
    assert time.monotonic() - t > 0.4


def test_client_that_never_reads_is_dropped(fast_timeouts_demo):
    """A client that sends a request and never reads the (large) response is
    disconnected after the idle timeout instead of holding the connection:
    the part of the response beyond the kernel's socket buffers is dropped."""
    port = fast_timeouts_demo.port
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    body = b"x" * (40 << 20)  # far more than the kernel buffers hold
    s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    time.sleep(2.0)  # never read: the server's writes block, the idle timeout (700 ms) passes
    got = 0
    try:
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            got += len(chunk)
    except ConnectionResetError:
        pass
    s.close()
    assert 0 < got < len(body), f"the response was cut short ({got} of {len(body)} bytes), not held open"
    still_serving(port)
