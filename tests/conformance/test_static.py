"""Static files (SQUALL_STATIC_DIR served under /static/): types, validators,
conditional requests, ranges, HEAD, directory index, sendfile bodies, and
paths that try to leave the directory."""
import hashlib
import http.client
import os
import subprocess
import time

import pytest

from conftest import Demo
from httpraw import Raw


@pytest.fixture(scope="module")
def static_demo(tmp_path_factory):
    base = tmp_path_factory.mktemp("static")
    root = base / "root"
    (root / "sub").mkdir(parents=True)
    (root / "style.css").write_text("body { color: red; }\n")
    (root / "app.js").write_text("console.log('hi');\n")
    (root / "hello.txt").write_bytes(b"0123456789abcdef")
    (root / "sub" / "index.html").write_text("<h1>index</h1>")
    (root / "big.bin").write_bytes(os.urandom(5 * 1024 * 1024 + 123))
    (root / "empty.txt").write_bytes(b"")
    (base / "secret.txt").write_text("do not serve")
    os.symlink(base / "secret.txt", root / "link-out")
    d = Demo({"SQUALL_STATIC_DIR": str(root)})
    d.root = root
    yield d
    d.stop()


def get(port, path, headers=None, method="GET"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request(method, path, headers=headers or {})
    r = c.getresponse()
    body = r.read()
    c.close()
    return r, body


def test_types_and_validators(static_demo):
    r, body = get(static_demo.port, "/static/style.css")
    assert r.status == 200 and body == b"body { color: red; }\n"
    assert r.getheader("Content-Type") == "text/css; charset=utf-8"
    assert r.getheader("ETag", "").startswith('"') and r.getheader("Last-Modified", "").endswith("GMT")
    assert r.getheader("Accept-Ranges") == "bytes"
    r, _ = get(static_demo.port, "/static/app.js")
    assert "javascript" in r.getheader("Content-Type")
    r, body = get(static_demo.port, "/static/empty.txt")
    assert r.status == 200 and body == b"" and r.getheader("Content-Length") == "0"


def test_conditional_requests(static_demo):
    r, _ = get(static_demo.port, "/static/hello.txt")
    etag, lm = r.getheader("ETag"), r.getheader("Last-Modified")
    r, body = get(static_demo.port, "/static/hello.txt", {"If-None-Match": etag})
    assert r.status == 304 and body == b"" and r.getheader("ETag") == etag
    r, _ = get(static_demo.port, "/static/hello.txt", {"If-None-Match": '"stale", ' + etag})
    assert r.status == 304
    r, body = get(static_demo.port, "/static/hello.txt", {"If-None-Match": '"stale"'})
    assert r.status == 200 and body == b"0123456789abcdef"
    r, _ = get(static_demo.port, "/static/hello.txt", {"If-Modified-Since": lm})
    assert r.status == 304
    r, _ = get(static_demo.port, "/static/hello.txt", {"If-Modified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"})
    assert r.status == 200


def test_ranges(static_demo):
    r, body = get(static_demo.port, "/static/hello.txt", {"Range": "bytes=2-5"})
    assert r.status == 206 and body == b"2345" and r.getheader("Content-Range") == "bytes 2-5/16"
    r, body = get(static_demo.port, "/static/hello.txt", {"Range": "bytes=-3"})
    assert r.status == 206 and body == b"def"
    r, body = get(static_demo.port, "/static/hello.txt", {"Range": "bytes=10-"})
    assert r.status == 206 and body == b"abcdef"
    r, _ = get(static_demo.port, "/static/hello.txt", {"Range": "bytes=16-"})
    assert r.status == 416 and r.getheader("Content-Range") == "bytes */16"
    r, body = get(static_demo.port, "/static/hello.txt", {"Range": "bytes=0-1,4-5"})
    assert r.status == 200 and len(body) == 16, "several ranges: the whole file"
    r, _ = get(static_demo.port, "/static/hello.txt")
    r2, body = get(static_demo.port, "/static/hello.txt", {"Range": "bytes=0-0", "If-Range": '"old"'})
    assert r2.status == 200 and len(body) == 16


def test_head_and_index_and_methods(static_demo):
    raw = Raw(static_demo.port)
    raw.send(b"HEAD /static/hello.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /static/sub/ HTTP/1.1\r\nHost: x\r\n\r\n")
    r = raw.read_response(head_request=True)
    assert r.status == 200 and r.header("Content-Length") == "16"
    r = raw.read_response()
    assert r.body == b"<h1>index</h1>" and r.header("Content-Type").startswith("text/html")
    raw.close()
    r, _ = get(static_demo.port, "/static/hello.txt", method="POST")
    assert r.status == 405 and "GET" in r.getheader("Allow")
    assert get(static_demo.port, "/static/nope.txt")[0].status == 404


def test_big_file_via_sendfile(static_demo):
    want = hashlib.sha256((static_demo.root / "big.bin").read_bytes()).hexdigest()
    r, body = get(static_demo.port, "/static/big.bin")
    assert r.status == 200 and hashlib.sha256(body).hexdigest() == want
    # pipelined behind and ahead of dynamic responses, in order
    raw = Raw(static_demo.port, timeout=20)
    raw.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /static/big.bin HTTP/1.1\r\nHost: x\r\n\r\nGET /args/a/2 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert raw.read_response().body == b"Hello, world"
    assert hashlib.sha256(raw.read_response().body).hexdigest() == want
    assert raw.read_response().body == b"a=a b=2"
    raw.close()


@pytest.mark.parametrize("path", [
    "/static/../secret.txt",
    "/static/%2e%2e/secret.txt",
    "/static/%2E%2E/secret.txt",
    "/static/sub/%2e%2e/%2e%2e/secret.txt",
    "/static/%2fetc/passwd",
    "/static/link-out",
])
def test_no_escape(static_demo, path):
    raw = Raw(static_demo.port)
    raw.send(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    r = raw.read_response()
    assert r.status == 403 and b"do not serve" not in r.body
    raw.close()
    from conftest import CURL_TLS, SCHEME
    out = subprocess.run(["curl", "-s", "--path-as-is", "-o", "/dev/null", "-w", "%{http_code}", *CURL_TLS,
                          f"{SCHEME}://127.0.0.1:{static_demo.port}{path}"], capture_output=True, text=True)
    assert out.stdout == "403"
