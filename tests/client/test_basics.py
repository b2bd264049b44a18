"""Requests, responses and framing against the scripted Python server."""
import base64
import json

import pytest

from scripted import Handler, has_ipv6_loopback, pattern
from sqf import body, failed, header, ok, sqfetch


def echo(r):
    return json.loads(body(r))


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
def test_methods(srv, method):
    data = [] if method in ("GET", "DELETE") else ["-d", f"payload of {method}: a=1&b=2\tend"]
    r = ok(sqfetch("-X", method, *data, srv.url(f"/echo?m={method}")))
    assert r["status"] == 200 and r["reason"] == "OK"
    e = echo(r)
    assert e["method"] == method and e["target"] == f"/echo?m={method}"
    if data:
        sent = data[1].encode()
        assert e["body"].encode("latin-1") == sent
        assert header(e["headers"], "Content-Length") == str(len(sent))
    else:
        assert e["body"] == ""
    assert header(e["headers"], "Host") == f"127.0.0.1:{srv.port}"
    assert r["effective_url"] == srv.url(f"/echo?m={method}") and r["url"] == r["effective_url"]
    assert r["redirects"] == 0


def test_request_headers_sent_and_response_names_as_received(srv):
    r = ok(sqfetch("-H", "X-One: 1", "-H", "X-Two:  two words ", "-H", "X-Dup: a", "-H", "X-Dup: b",
                   srv.url("/echo")))
    seen = echo(r)["headers"]
    assert header(seen, "X-One") == "1"
    assert header(seen, "X-Two").strip() == "two words"
    assert [v for n, v in seen if n.lower() == "x-dup"] == ["a", "b"]
    assert [n for n, _ in seen if n.lower() == "host"] != [] and len([n for n, _ in seen if n.lower() == "host"]) == 1
    names = [n for n, _ in r["headers"]]
    assert "X-MiXed-Case" in names, "header names as received"
    assert header(r["headers"], "x-conn-req") == "1"


def test_caller_host_header_replaces_the_default(srv):
    r = ok(sqfetch("-H", "Host: example.test", srv.url("/echo")))
    hosts = [v for n, v in echo(r)["headers"] if n.lower() == "host"]
    assert hosts == ["example.test"]


def test_binary_body(srv):
    r = ok(sqfetch(srv.url("/big?n=70001")))
    assert body(r) == pattern(70001) and r["body_len"] == 70001


@pytest.mark.parametrize("ext", [False, True], ids=["plain", "extensions-and-trailer"])
def test_chunked_response(srv, ext):
    r = ok(sqfetch(srv.url("/chunked?ext=1" if ext else "/chunked")))
    assert body(r) == b"".join(Handler.CHUNKS)
    assert header(r["headers"], "Content-Length") is None


def test_chunked_large(srv):
    r = ok(sqfetch(srv.url("/big?n=1000000&chunked=1")))
    assert body(r) == pattern(1000000)


def test_interim_responses_are_skipped(srv):
    run = sqfetch("-n", 2, srv.url("/interim"))
    assert run.rc == 0 and len(run.results) == 2, str(run)
    for r in run.results:
        assert r["error"] is None and r["status"] == 200
        assert body(r) == b"final body" and header(r["headers"], "X-Final") == "yes"


@pytest.mark.parametrize("code", [204, 304])
def test_no_body_statuses_and_the_connection_goes_on(srv, code):
    run = sqfetch("-n", 3, srv.url(f"/status/{code}"), timeout=10)
    assert run.rc == 0, str(run)
    assert len(run.results) == 3
    for r in run.results:
        assert r["error"] is None and r["status"] == code and r["body"] == "" and r["body_len"] == 0, str(run)
    assert len(srv.seen()) == 3 and len(srv.conn_ids()) == 1, "the no-body response kept the connection usable"


def test_head_has_no_body_even_with_content_length(srv):
    run = sqfetch("-X", "HEAD", "-n", 3, srv.url("/head"), timeout=10)
    assert run.rc == 0 and len(run.results) == 3, str(run)
    for r in run.results:
        assert r["error"] is None and r["status"] == 200 and r["body_len"] == 0
        assert header(r["headers"], "Content-Length") == "5000"
    assert [s["method"] for s in srv.seen()] == ["HEAD"] * 3 and len(srv.conn_ids()) == 1


def test_http_error_statuses_are_not_errors(srv):
    for code in (404, 500, 503):
        r = ok(sqfetch(srv.url(f"/status/{code}")))
        assert r["status"] == code and body(r) == b"status"


def test_keep_alive_one_connection_for_sequential_requests(srv):
    run = sqfetch("-n", 20, srv.url("/echo"))
    assert run.rc == 0 and len(run.results) == 20, str(run)
    echoes = [echo(r) for r in run.results]
    assert len({e["conn"] for e in echoes}) == 1
    assert len({tuple(e["peer"]) for e in echoes}) == 1
    assert sorted(e["conn_req"] for e in echoes) == list(range(1, 21))
    assert srv.connections == 1
    s = run.summary
    assert s["count"] == 20 and s["ok"] == 20 and s["errors"] == {}


def test_connection_close_is_honoured(srv):
    run = sqfetch("-n", 3, srv.url("/echo?close=1"))
    assert run.rc == 0 and len(run.results) == 3, str(run)
    assert len({json.loads(body(r))["conn"] for r in run.results}) == 3
    assert srv.connections == 3


def test_body_delimited_by_close(srv):
    r = ok(sqfetch(srv.url("/until-close")))
    assert body(r) == pattern(50000)


def test_basic_auth(srv):
    r = ok(sqfetch("--user", "alice:s3cr:et", srv.url("/echo")))
    auth = header(echo(r)["headers"], "Authorization")
    assert auth is not None and auth.startswith("Basic ")
    assert base64.b64decode(auth[6:]) == b"alice:s3cr:et"


def test_timing_is_cumulative(srv):
    run = sqfetch(srv.url("/echo?ms=50"))
    t = ok(run)["timing"]
    for k in ("queue", "namelookup", "connect", "tls", "first_byte", "total"):
        assert isinstance(t[k], (int, float)), t
    for k in ("queue", "namelookup", "connect", "first_byte", "total"):
        assert t[k] >= 0, t
    assert t["queue"] <= t["namelookup"] <= t["connect"] <= t["first_byte"] <= t["total"], t
    # no TLS on http: -1 (not applicable) or a time between connect and first byte
    assert t["tls"] == -1 or t["connect"] <= t["tls"] <= t["first_byte"], t
    assert t["first_byte"] >= 45, "the server waited 50 ms before answering"
    assert t["total"] <= run.elapsed * 1000 + 5


def test_summary_and_quiet(srv):
    run = sqfetch("-n", 5, "--quiet", srv.url("/echo"))
    assert run.rc == 0 and len(run.lines) == 1, str(run)
    s = run.summary
    assert s["count"] == 5 and s["ok"] == 5 and s["errors"] == {}
    assert s["elapsed_s"] > 0 and s["req_per_s"] > 0 and s["cpu_s"] >= 0
    assert len(srv.seen()) == 5


def test_summary_counts_errors(srv):
    run = sqfetch("-n", 3, "--timeout", 300, srv.url("/stall"), timeout=10)
    assert run.rc == 1 and len(run.results) == 3
    s = run.summary
    assert s["count"] == 3 and s["ok"] == 0 and s["errors"] == {"SQ_ERR_TIMEOUT": 3}, str(run)


@pytest.mark.parametrize("args", [[], ["--no-such-option", "http://127.0.0.1:9/"], ["-n"], ["-n", "x", "http://127.0.0.1:9/"]],
                         ids=["no-url", "unknown-option", "missing-value", "bad-number"])
def test_usage_errors_exit_2(args):
    run = sqfetch(*args, timeout=10)
    assert run.rc == 2, str(run)


@pytest.mark.parametrize("url", ["notaurl", "http://", "http://127.0.0.1:99999/", "gopher://127.0.0.1/"])
def test_bad_url(url):
    failed(sqfetch(url, timeout=10), "SQ_ERR_INVALID_ARG")


@pytest.mark.parametrize("value", ["a\r\nInjected: 1", "a\nInjected: 1", "a\rb"], ids=["crlf", "lf", "cr"])
def test_header_with_cr_or_lf_is_refused_before_sending(srv, value):
    run = sqfetch("-H", f"X-Bad: {value}", srv.url("/echo"), timeout=10)
    failed(run, "SQ_ERR_INVALID_ARG")
    assert srv.seen() == [] and srv.connections == 0, "nothing reached the server"


def test_header_name_with_lf_is_refused(srv):
    run = sqfetch("-H", "X-Bad\nInjected: 1", srv.url("/echo"), timeout=10)
    assert run.rc in (1, 2), str(run)
    if run.rc == 1:
        failed(run, "SQ_ERR_INVALID_ARG")
    assert srv.seen() == [] and srv.connections == 0


def test_header_without_colon_is_refused(srv):
    run = sqfetch("-H", "NoColonHere", srv.url("/echo"), timeout=10)
    assert run.rc in (1, 2), str(run)
    if run.rc == 1:
        failed(run, "SQ_ERR_INVALID_ARG")
    assert srv.seen() == [] and srv.connections == 0


def test_localhost_ipv4(make_server):
    s = make_server(host="127.0.0.1")
    r = ok(sqfetch(f"http://localhost:{s.port}/echo"))
    assert header(echo(r)["headers"], "Host") == f"localhost:{s.port}"


def test_ipv6_loopback(make_server):
    if not has_ipv6_loopback():
        pytest.skip("no ::1 on this machine")
    s = make_server(host="::1")
    r = ok(sqfetch(f"http://[::1]:{s.port}/echo"))
    e = echo(r)
    assert e["peer"][0] == "::1"
    assert header(e["headers"], "Host") == f"[::1]:{s.port}"


@pytest.mark.parametrize("path", ["/big?n=3000000", "/big?n=3000000&chunked=1", "/chunked", "/echo"])
def test_stream_gives_the_same_bytes(srv, path):
    buffered = ok(sqfetch(srv.url(path)))
    streamed = ok(sqfetch("--stream", srv.url(path)))
    if path == "/echo":
        assert echo(streamed)["method"] == "GET"
    else:
        assert body(streamed) == body(buffered)
    assert streamed["body_len"] == buffered["body_len"] > 0
    assert streamed["chunks"] >= 1
    if path.startswith("/big"):
        assert streamed["chunks"] >= 2, "3 MB arrive in more than one piece"


@pytest.mark.parametrize("conc", [[], ["-c", 8]], ids=["default-c", "c8"])
def test_threads(srv, conc):
    run = sqfetch("--threads", 4, "-n", 100, *conc, srv.url("/echo"), timeout=30)
    assert run.rc == 0 and len(run.results) == 100, str(run)
    assert all(r["error"] is None and r["status"] == 200 for r in run.results)
    s = run.summary
    assert s["count"] == 100 and s["ok"] == 100 and s["errors"] == {}
    assert len(srv.seen()) == 100


def test_io_threads(srv):
    run = sqfetch("--io-threads", 3, "-n", 60, "-c", 12, "--quiet", srv.url("/echo?ms=5"), timeout=30)
    assert run.rc == 0 and run.summary["ok"] == 60, str(run)
    assert len(srv.seen()) == 60
