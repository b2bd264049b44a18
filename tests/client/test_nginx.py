"""Against nginx (a server nobody here wrote): GET, HEAD, keep-alive, gzip,
a redirect, 204. Skipped when nginx is not installed."""
import gzip

from scripted import NGINX_FILE
from sqf import body, header, ok, sqfetch


def url(nginx, path):
    return f"http://127.0.0.1:{nginx.port}{path}"


def test_get_gzip_decoded(nginx):
    before = len(nginx.access())
    r = ok(sqfetch(url(nginx, "/hello.txt")))
    assert r["status"] == 200 and body(r) == NGINX_FILE
    line = nginx.access()[before]
    assert line[2] == "GET" and "gzip" in line[4], line


def test_gzip_really_used(nginx):
    r = ok(sqfetch("-H", "Accept-Encoding: gzip", "--no-decompress", url(nginx, "/hello.txt")))
    assert header(r["headers"], "Content-Encoding") == "gzip"
    assert gzip.decompress(body(r)) == NGINX_FILE


def test_no_decompress_gets_identity(nginx):
    r = ok(sqfetch("--no-decompress", url(nginx, "/hello.txt")))
    assert body(r) == NGINX_FILE and header(r["headers"], "Content-Encoding") is None
    assert header(r["headers"], "Content-Length") == str(len(NGINX_FILE))


def test_head(nginx):
    run = sqfetch("-X", "HEAD", "-n", 3, "--no-decompress", url(nginx, "/hello.txt"), timeout=10)
    assert run.rc == 0 and len(run.results) == 3, str(run)
    for r in run.results:
        assert r["status"] == 200 and r["body_len"] == 0
        assert header(r["headers"], "Content-Length") == str(len(NGINX_FILE))


def test_keep_alive(nginx):
    before = len(nginx.access())
    run = sqfetch("-n", 20, url(nginx, "/hello.txt"))
    assert run.rc == 0 and run.summary["ok"] == 20, str(run)
    assert all(body(r) == NGINX_FILE for r in run.results)
    lines = nginx.access()[before:]
    assert len(lines) == 20
    assert len({line[0] for line in lines}) == 1, "one TCP connection"
    assert [int(line[1]) for line in lines] == list(range(1, 21))


def test_redirect_and_204(nginx):
    r = ok(sqfetch(url(nginx, "/redirect")))
    assert r["redirects"] == 1 and r["effective_url"] == url(nginx, "/hello.txt") and body(r) == NGINX_FILE
    run = sqfetch("-n", 2, url(nginx, "/empty"), timeout=10)
    assert run.rc == 0 and len(run.results) == 2, str(run)
    assert all(r["status"] == 204 and r["body_len"] == 0 for r in run.results)


def test_404_is_not_an_error(nginx):
    r = ok(sqfetch(url(nginx, "/missing")))
    assert r["status"] == 404 and r["body_len"] > 0


def test_concurrent(nginx):
    run = sqfetch("-n", 100, "-c", 20, "--max-clients", 8, "--quiet", url(nginx, "/small.txt"), timeout=30)
    assert run.rc == 0 and run.summary["ok"] == 100, str(run)
