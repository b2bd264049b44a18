"""Against squall's own C demo server (routes in examples/c/demo_server.c)."""
from sqf import body, header, ok, sqfetch


def url(port, path):
    return f"http://127.0.0.1:{port}{path}"


def test_get(demo):
    r = ok(sqfetch(url(demo, "/")))
    assert r["status"] == 200 and body(r) == b"Hello, world"
    assert header(r["headers"], "Content-Type") == "text/plain"


def test_post_echo(demo):
    r = ok(sqfetch("-X", "POST", "-d", "echo me", "-H", "Content-Type: application/x-test", url(demo, "/echo")))
    assert r["status"] == 200 and body(r) == b"echo me"
    assert header(r["headers"], "Content-Type") == "application/x-test"


def test_put_and_delete_reach_the_server(demo):
    # the demo routes /echo for POST only: PUT and DELETE get 405 with Allow
    for method, data in (("PUT", ["-d", "x"]), ("DELETE", [])):
        r = ok(sqfetch("-X", method, *data, url(demo, "/echo")))
        assert r["status"] == 405 and header(r["headers"], "Allow") == "POST", r


def test_head(demo):
    r = ok(sqfetch("-X", "HEAD", url(demo, "/")))
    assert r["status"] == 200 and r["body_len"] == 0 and header(r["headers"], "Content-Length") == "12"


def test_chunked_stream(demo):
    expected = b"".join(b"chunk %d\n" % i for i in range(5))
    r = ok(sqfetch(url(demo, "/stream")))
    assert body(r) == expected
    r = ok(sqfetch("--stream", url(demo, "/stream")))
    assert body(r) == expected and r["chunks"] >= 1


def test_status_without_body(demo):
    for code in (204, 304):
        run = sqfetch("-n", 2, url(demo, f"/status/{code}"), timeout=10)
        assert run.rc == 0 and all(r["status"] == code and r["body_len"] == 0 for r in run.results), str(run)


def test_headers_round_trip(demo):
    r = ok(sqfetch("-H", "X-Test: some value", url(demo, "/headers")))
    assert header(r["headers"], "X-Echo") == "some value"


def test_keep_alive_one_connection(demo, make_proxy):
    proxy = make_proxy(demo)
    run = sqfetch("-n", 20, url(proxy.port, "/"))
    assert run.rc == 0 and run.summary["ok"] == 20, str(run)
    assert all(body(r) == b"Hello, world" for r in run.results)
    assert proxy.accepted == 1


def test_slow_timeout_then_ok(demo):
    run = sqfetch("--timeout", 300, url(demo, "/slow?ms=2000"), timeout=10)
    assert run.one()["error"] == "SQ_ERR_TIMEOUT" and run.rc == 1, str(run)
    assert body(ok(sqfetch(url(demo, "/slow?ms=50")))) == b"slept 50"


def test_concurrent(demo):
    run = sqfetch("-n", 200, "-c", 50, "--max-clients", 10, "--quiet", url(demo, "/"), timeout=30)
    assert run.rc == 0 and run.summary["ok"] == 200, str(run)
