"""squall.web as Tornado's Application behaves, over real sockets: the Python
StaticFileHandler (its hooks, ranges, versions, symlinks, streaming a file
bigger than one chunk with a Content-Length), RustStaticFileHandler as the
opt-in, a handler's wrong Content-Length, host patterns, the application's
404 page, and a client leaving an HTTP/1.0 request or a streamed upload."""
import hashlib
import http.client
import os
import socket
import time

import pytest

from conftest import launch

APP = r'''
import asyncio, os, sys
from squall import web

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.join(here, "www")
os.makedirs(os.path.join(root, "dir"), exist_ok=True)
with open(os.path.join(root, "small.txt"), "wb") as f:
    f.write(b"hello static\n")
with open(os.path.join(root, "big.bin"), "wb") as f:
    f.write(bytes(range(256)) * 1000)  # 256000 bytes: four chunks of 64 KiB
with open(os.path.join(root, "dir", "index.html"), "wb") as f:
    f.write(b"<p>index</p>")
with open(os.path.join(here, "secret.txt"), "wb") as f:
    f.write(b"secret")
with open(os.path.join(root, "huge.bin"), "wb") as f:
    f.write(b"x" * (16 << 20))
if not os.path.lexists(os.path.join(root, "out.txt")):
    os.symlink(os.path.join(here, "secret.txt"), os.path.join(root, "out.txt"))

class Hooked(web.StaticFileHandler):
    @classmethod
    def get_content(cls, abspath, start=None, end=None):
        data = b"made by the hook"
        return data[start:end]

    def get_content_size(self):
        return len(b"made by the hook")

    def validate_absolute_path(self, root, absolute_path):
        return absolute_path

    def get_modified_time(self):
        return None

chunks_read = [0]

class Counting(web.StaticFileHandler):
    @classmethod
    def get_content_version(cls, abspath):
        return "v1"  # no hashing: every chunk counted is one sent

    @classmethod
    def get_content(cls, abspath, start=None, end=None):
        for chunk in super().get_content(abspath, start, end):
            chunks_read[0] += 1
            yield chunk

class Chunks(web.RequestHandler):
    def get(self):
        self.write(str(chunks_read[0]))

class Url(web.RequestHandler):
    def get(self, path):
        self.write(self.static_url(path))

class WrongLength(web.RequestHandler):
    def get(self, n):
        self.set_header("Content-Length", n)
        self.finish("hello")

class Where(web.RequestHandler):
    def initialize(self, name):
        self.name = name
    def get(self):
        self.write(self.name)

class Late(web.RequestHandler):
    def get(self):
        self.write("late")

closed = []

class Hang(web.RequestHandler):
    async def get(self):
        await asyncio.sleep(5)
    def on_connection_close(self):
        closed.append("hang")

class Closed(web.RequestHandler):
    def get(self):
        self.write(",".join(closed))

@web.stream_request_body
class EarlyUpload(web.RequestHandler):
    def prepare(self):
        raise web.HTTPError(401)

app = web.Application([
    (r"/hooked/(.*)", Hooked, {"path": root}),
    (r"/rust/(.*)", web.RustStaticFileHandler, {"path": root}),
    (r"/index/(.*)", web.StaticFileHandler, {"path": root, "default_filename": "index.html"}),
    (r"/url/(.*)", Url),
    (r"/counting/(.*)", Counting, {"path": root}),
    (r"/chunks", Chunks),
    (r"/length/(\d+)", WrongLength),
    (r"/where", Where, {"name": "any host"}),
    (r"/hang", Hang),
    (r"/closed", Closed),
    (r"/upload", EarlyUpload),
], static_path=root)

async def main():
    app.listen(int(os.environ["PORT"]), "127.0.0.1")
    await asyncio.sleep(0.2)
    # after listen: host patterns, and a route the 404 page must not shadow
    app.add_handlers(r"www\.example\.com", [(r"/where", Where, {"name": "example"}),
                                            (r"/only-example", Where, {"name": "only example"})])
    app.add_handlers(".*$", [(r"/late", Late)])
    await asyncio.Event().wait()

asyncio.run(main())
'''


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    d = tmp_path_factory.mktemp("tornado_web")
    server = launch(d, APP, name="app")
    deadline = time.monotonic() + 10
    while req(server.port, "/late")[0].status != 200:  # the routes added after listen are there
        assert time.monotonic() < deadline
        time.sleep(0.05)
    yield server.port, d
    server.stop()


def req(port, path, method="GET", headers=None, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r, data


def raw(port, data, timeout=5.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    out = b""
    while True:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        out += chunk
    s.close()
    return out


BIG = bytes(range(256)) * 1000


def test_static_file_of_several_chunks_goes_with_its_content_length(srv):
    port, d = srv
    got = raw(port, b"GET /static/big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, body = got.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert b"Content-Length: 256000" in head and b"Transfer-Encoding" not in head
    assert body == BIG
    etag = '"%s"' % hashlib.sha512(BIG).hexdigest()
    assert ("Etag: " + etag).encode() in head
    r, _ = req(port, "/static/big.bin", headers={"If-None-Match": etag})
    assert r.status == 304
    r, body = req(port, "/static/big.bin", headers={"Range": "bytes=70000-70009"})
    assert r.status == 206 and body == BIG[70000:70010]
    assert r.getheader("Content-Range") == "bytes 70000-70009/256000"
    r, body = req(port, "/static/big.bin", "HEAD")
    assert r.status == 200 and body == b"" and r.getheader("Content-Length") == "256000"
    r, body = req(port, "/static/big.bin", headers={"Range": "bytes=0-"})
    assert r.status == 200 and len(body) == 256000  # the whole file: not a 206
    r, _ = req(port, "/static/big.bin", headers={"Range": "bytes=300000-"})
    assert r.status == 416 and r.getheader("Content-Range") == "bytes */256000"


def test_static_paths_outside_the_root_and_the_default_filename(srv):
    port, _ = srv
    assert req(port, "/static/out.txt")[0].status == 403  # a symlink out of the root
    assert req(port, "/static/missing.txt")[0].status == 404
    assert req(port, "/static/dir")[0].status == 403  # a directory, no default_filename
    r, _ = req(port, "/index/dir")
    assert r.status == 301 and r.getheader("Location") == "/index/dir/"
    assert req(port, "/index/dir/")[1] == b"<p>index</p>"
    r, body = req(port, "/robots.txt")
    assert r.status == 404  # static_path serves /robots.txt: there is none here


def test_static_url_versions_and_hooks(srv):
    port, _ = srv
    url = req(port, "/url/small.txt")[1].decode()
    assert url == "/static/small.txt?v=" + hashlib.sha512(b"hello static\n").hexdigest()
    r, body = req(port, url)
    assert body == b"hello static\n" and r.getheader("Cache-Control") == "max-age=315360000"
    r, body = req(port, "/hooked/anything")
    assert r.status == 200 and body == b"made by the hook"
    r, body = req(port, "/hooked/anything", headers={"Range": "bytes=0-3"})
    assert r.status == 206 and body == b"made"


def test_rust_static_files_are_the_opt_in(srv):
    port, _ = srv
    r, body = req(port, "/rust/big.bin")
    assert r.status == 200 and body == BIG
    # Rust's validator (size and time), not the content's SHA-512
    assert r.getheader("Etag") != '"%s"' % hashlib.sha512(BIG).hexdigest()


def test_a_wrong_content_length_cuts_the_response(srv):
    port, d = srv
    for n in (42, 2):
        got = raw(port, b"GET /length/%d HTTP/1.1\r\nHost: x\r\n\r\n" % n)
        head, _, body = got.partition(b"\r\n\r\n")
        assert b"Content-Length: %d" % n in head
        assert len(body) < n or n == 2 and body == b""  # cut: never a whole response
    log = (d / "app.log").read_text()
    assert "Tried to write 37 bytes less than Content-Length" in log
    assert "Tried to write more data than Content-Length" in log
    assert req(port, "/where")[1] == b"any host"  # and the server goes on


def test_host_patterns_added_while_serving(srv):
    port, _ = srv
    assert req(port, "/where")[1] == b"any host"
    assert req(port, "/where", headers={"Host": "www.example.com"})[1] == b"example"
    assert req(port, "/only-example", headers={"Host": "www.example.com:8080"})[1] == b"only example"
    assert req(port, "/only-example")[0].status == 404


def test_the_404_page_and_routes_added_later(srv):
    port, _ = srv
    r, body = req(port, "/nowhere")
    assert r.status == 404
    assert body == b"<html><title>404: Not Found</title><body>404: Not Found</body></html>"
    assert req(port, "/late")[1] == b"late"


def test_a_client_leaving_an_http10_request_is_noticed(srv):
    port, _ = srv
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /hang HTTP/1.0\r\n\r\n")
    time.sleep(0.3)
    s.close()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        if req(port, "/closed")[1] == b"hang":
            break
        time.sleep(0.1)
    assert req(port, "/closed")[1] == b"hang"


def test_an_answer_before_a_streamed_body_ends_closes_the_connection(srv):
    port, _ = srv
    got = raw(port, b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nasdf\r\n")
    # the server answers and closes (raw() returned at the close, not the timeout)
    assert got.startswith(b"HTTP/1.1 401 ")
    assert b"Connection: close" in got


def test_a_large_file_to_a_slow_client_is_read_as_it_is_sent(srv):
    """16 MiB to a client that reads nothing for a second: the handler's
    flush waits, so only a few of the 256 chunks are read from the disk
    meanwhile (not the whole file into squall's queue); then all of it
    arrives."""
    port, _ = srv
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /counting/huge.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    time.sleep(1.0)
    read_meanwhile = int(req(port, "/chunks")[1])
    # what the socket buffers hold (a few MiB at most) plus squall's 256 KiB
    assert 1 <= read_meanwhile < 128, read_meanwhile
    s.settimeout(20)
    got = b""
    while True:
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        got += chunk
    s.close()
    head, _, body = got.partition(b"\r\n\r\n")
    assert b"Content-Length: 16777216" in head and len(body) == 16 << 20
    assert int(req(port, "/chunks")[1]) == 256
