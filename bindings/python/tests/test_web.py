"""squall.web over real sockets: one application (in a subprocess) with a
handler per feature, driven by http.client, raw sockets and curl."""
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import child_env, free_port, wait_port

APP = r'''
import asyncio, os, sys, threading
from squall import web, ioloop

class Verbs(web.RequestHandler):
    def get(self): self.write("get")
    async def post(self): self.write("post:" + self.request.body.decode())
    def put(self): self.write("put")
    def delete(self): self.write("delete")
    async def patch(self): await asyncio.sleep(0.01); self.write("patch")
    def options(self): self.set_status(204)
    def head(self): self.set_header("X-Head", "1")

class Groups(web.RequestHandler):
    def get(self, a, b): self.write({"a": a, "b": b})

class Named(web.RequestHandler):
    def get(self, year, slug): self.write(f"{year}/{slug}")

class Args(web.RequestHandler):
    def get(self):
        self.write({"one": self.get_argument("one"), "many": self.get_arguments("m"),
                    "q": self.get_query_argument("one", None), "dflt": self.get_argument("nope", "d")})
    def post(self):
        self.write({"b": self.get_body_argument("b", None), "q": self.get_query_argument("q", None),
                    "all": self.get_arguments("b"),
                    "files": {k: [(f.filename, f.body.decode(), f.content_type) for f in v]
                              for k, v in self.request.files.items()}})

class Req(web.RequestHandler):
    def get(self):
        r = self.request
        self.write({"method": r.method, "uri": r.uri, "path": r.path, "query": r.query,
                    "ua": r.headers.get("User-Agent"), "ip": r.remote_ip, "host": r.host,
                    "args": {k: [x.decode() for x in v] for k, v in r.arguments.items()}})

class Status(web.RequestHandler):
    def get(self):
        self.set_status(299, "Fine Enough")
        self.set_header("X-One", "1")
        self.add_header("X-Multi", "a")
        self.add_header("X-Multi", "b")
        self.set_header("X-Gone", "x")
        self.clear_header("X-Gone")
        self.write(b"bytes;")
        self.write("str")

class Stream(web.RequestHandler):
    async def get(self):
        for i in range(3):
            self.write(f"part{i};")
            await self.flush()
            await asyncio.sleep(0.05)

class Redir(web.RequestHandler):
    def get(self, kind):
        if kind == "perm": self.redirect("/verbs", permanent=True)
        elif kind == "307": self.redirect("/verbs", status=307)
        else: self.redirect("/verbs")

class Errors(web.RequestHandler):
    def get(self, kind):
        if kind == "http": raise web.HTTPError(418, "log only %s", "x", reason="Teapot Here")
        if kind == "finish": raise web.Finish("finished early")
        if kind == "send": self.send_error(503); return
        if kind == "missing": self.get_argument("absent")
        raise ValueError("boom")

class CustomError(web.RequestHandler):
    def get(self): raise web.HTTPError(409)
    def write_error(self, status_code, **kw): self.finish({"error": status_code})

class Prep(web.RequestHandler):
    async def prepare(self):
        await asyncio.sleep(0.01)
        if self.get_argument("stop", None): self.finish("stopped in prepare")
    def get(self): self.write("after prepare")

class Cookies(web.RequestHandler):
    def get(self, op):
        if op == "set":
            self.set_cookie("plain", "v1", path="/c", domain="example.test", expires_days=1, httponly=True,
                            secure=True, samesite="Lax")
            self.set_signed_cookie("signed", "secret-value")
        elif op == "read":
            self.write({"plain": self.get_cookie("plain"), "signed": (self.get_signed_cookie("signed") or b"").decode()})
        elif op == "clear":
            self.clear_cookie("plain")

class Tmpl(web.RequestHandler):
    def get(self): self.render("page.html", title="<b>T</b>", items=["x", "y"])

class Finisher(web.RequestHandler):
    def get(self): self.write("ok")
    def on_finish(self): FINISHED.append(self.request.uri)

FINISHED = []
class Finished(web.RequestHandler):
    def get(self): self.write({"finished": FINISHED})

CLOSED = []
class Long(web.RequestHandler):
    async def get(self):
        await asyncio.sleep(2)
        self.write("late")
    def on_connection_close(self): CLOSED.append(1)
class Closed(web.RequestHandler):
    def get(self): self.write({"closed": len(CLOSED)})

@web.stream_request_body
class Upload(web.RequestHandler):
    def prepare(self):
        self.chunks = 0; self.size = 0; self.order = ["prepare"]
    def data_received(self, chunk):
        self.chunks += 1; self.size += len(chunk)
        if self.order[-1] != "data": self.order.append("data")
    def put(self):
        self.order.append("put")
        self.write({"chunks": self.chunks, "size": self.size, "order": self.order})

class Fallback(web.RequestHandler):
    def get(self): self.set_status(404); self.write("fallback " + self.request.path)

class Rev(web.RequestHandler):
    def get(self): self.write(self.reverse_url("named", "2024", "abc"))

class XH(web.RequestHandler):
    def get(self): self.write({"ip": self.request.remote_ip, "proto": self.request.protocol})

here = os.path.dirname(os.path.abspath(__file__))
os.makedirs(os.path.join(here, "templates"), exist_ok=True)
os.makedirs(os.path.join(here, "static"), exist_ok=True)
open(os.path.join(here, "templates", "page.html"), "w").write(
    "<h1>{{ title }}</h1>{% for i in items %}<i>{{ i }}</i>{% endfor %}<link href=\"{{ static_url('app.css') }}\">")
open(os.path.join(here, "static", "app.css"), "w").write("body{color:red}")

app = web.Application([
    (r"/verbs", Verbs), (r"/groups/([a-z]+)/(\d+)", Groups),
    web.url(r"/named/(?P<year>\d{4})/(?P<slug>[a-z]+)", Named, name="named"),
    (r"/args", Args), (r"/req", Req), (r"/status", Status), (r"/stream", Stream),
    (r"/redir/(\w+)", Redir), (r"/err/(\w+)", Errors), (r"/custom", CustomError), (r"/prep", Prep),
    (r"/c/(\w+)", Cookies), (r"/tmpl", Tmpl), (r"/fin", Finisher), (r"/finished", Finished),
    (r"/long", Long), (r"/closed", Closed), (r"/upload", Upload), (r"/rev", Rev), (r"/xh", XH),
    (r"/files/(.*)", web.StaticFileHandler, {"path": os.path.join(here, "static")}),
], template_path=os.path.join(here, "templates"), static_path=os.path.join(here, "static"),
   cookie_secret="s3cret", default_handler_class=Fallback, debug=os.environ.get("DEBUG") == "1",
   xheaders=True)

app.route(r"/fast/bytes", lambda req: b"fast")
app.route(r"/fast/str", lambda req: "caf\u00e9")
app.route(r"/fast/json", lambda req: {"m": req.method, "h": req.header("X-T"), "a": req.argument("a")})
app.route(r"/fast/tuple", lambda req: (201, "made"))
app.route(r"/fast/full", lambda req: (202, {"X-F": "1", "Content-Type": "text/x-f"}, b"full"))
app.route(r"/fast/cap/(\d+)", lambda req: "cap " + req.captures[0])
app.route(r"/fast/body", lambda req: req.body[::-1], methods=["POST"])
def boom(req): raise RuntimeError("fast boom")
app.route(r"/fast/boom", boom)
def deferred(req):
    threading.Thread(target=lambda: req.respond("from a thread", status=200)).start()
    return web.DEFER
app.route(r"/fast/defer", deferred)

app.listen(int(os.environ["PORT"]), "127.0.0.1")
print("ready", flush=True)
ioloop.IOLoop.current().start()
'''


def start(tmp_path_factory, debug):
    d = tmp_path_factory.mktemp("webapp")
    (d / "app.py").write_text(APP)
    port = free_port()
    log = open(d / "log.txt", "wb")
    proc = subprocess.Popen([sys.executable, str(d / "app.py")], env=child_env(PORT=str(port), DEBUG=debug),
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    wait_port(port, proc)
    return proc, port, d


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    proc, port, d = start(tmp_path_factory, "0")
    yield port, d
    proc.terminate()
    proc.wait(10)


def req(port, path, method="GET", body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r, data


def test_verbs(srv):
    port, _ = srv
    assert req(port, "/verbs")[1] == b"get"
    assert req(port, "/verbs", "POST", b"x")[1] == b"post:x"
    assert req(port, "/verbs", "PUT", b"")[1] == b"put"
    assert req(port, "/verbs", "DELETE")[1] == b"delete"
    assert req(port, "/verbs", "PATCH", b"")[1] == b"patch"
    assert req(port, "/verbs", "OPTIONS")[0].status == 204
    r, body = req(port, "/verbs", "HEAD")
    assert r.status == 200 and r.getheader("X-Head") == "1" and body == b""


def test_405_has_allow(srv):
    r, _ = req(srv[0], "/groups/a/1", "POST", b"")
    assert r.status == 405 and r.getheader("Allow") == "GET"


def test_groups_positional_and_named(srv):
    assert json.loads(req(srv[0], "/groups/abc/42")[1]) == {"a": "abc", "b": "42"}
    assert req(srv[0], "/named/2024/hello")[1] == b"2024/hello"
    assert req(srv[0], "/rev")[1] == b"/named/2024/abc"


def test_arguments(srv):
    d = json.loads(req(srv[0], "/args?one=1&m=a&m=b&m=%20c%20")[1])
    assert d == {"one": "1", "many": ["a", "b", "c"], "q": "1", "dflt": "d"}
    r, body = req(srv[0], "/args")
    assert r.status == 400 and b"400" in body


def test_urlencoded_and_multipart_bodies(srv):
    d = json.loads(req(srv[0], "/args?q=9", "POST", b"b=1&b=2",
                       {"Content-Type": "application/x-www-form-urlencoded"})[1])
    assert d["b"] == "2" and d["all"] == ["1", "2"] and d["q"] == "9"
    body = (b"--BB\r\nContent-Disposition: form-data; name=\"b\"\r\n\r\nfield\r\n"
            b"--BB\r\nContent-Disposition: form-data; name=\"up\"; filename=\"a.txt\"\r\n"
            b"Content-Type: text/plain\r\n\r\nfile body\r\n--BB--\r\n")
    d = json.loads(req(srv[0], "/args", "POST", body, {"Content-Type": "multipart/form-data; boundary=BB"})[1])
    assert d["b"] == "field" and d["files"] == {"up": [["a.txt", "file body", "text/plain"]]}


def test_request_attributes(srv):
    d = json.loads(req(srv[0], "/req?x=1&x=2", headers={"User-Agent": "ua/1"})[1])
    assert d["method"] == "GET" and d["uri"] == "/req?x=1&x=2" and d["path"] == "/req"
    assert d["query"] == "x=1&x=2" and d["ua"] == "ua/1" and d["ip"] == "127.0.0.1"
    assert d["args"] == {"x": ["1", "2"]} and d["host"].startswith("127.0.0.1")


def test_status_headers_and_writes(srv):
    r, body = req(srv[0], "/status")
    assert r.status == 299 and r.reason == "Fine Enough"
    assert r.getheader("X-One") == "1" and r.getheader("X-Gone") is None
    assert r.headers.get_all("X-Multi") == ["a", "b"]
    assert body == b"bytes;str"


def test_flush_streams_chunks(srv):
    s = socket.create_connection(("127.0.0.1", srv[0]), timeout=5)
    s.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
    first = s.recv(65536)
    assert b"Transfer-Encoding: chunked" in first and b"part0;" in first and b"part2" not in first
    data = first
    while not data.endswith(b"0\r\n\r\n"):
        chunk = s.recv(65536)
        assert chunk
        data += chunk
    assert b"part1;" in data and b"part2;" in data
    s.close()


def test_redirects(srv):
    assert req(srv[0], "/redir/perm")[0].status == 301
    r = req(srv[0], "/redir/temp")[0]
    assert r.status == 302 and r.getheader("Location") == "/verbs"
    assert req(srv[0], "/redir/307")[0].status == 307


def test_errors(srv):
    r, body = req(srv[0], "/err/http")
    assert r.status == 418 and r.reason == "Teapot Here" and b"log only" not in body
    assert req(srv[0], "/err/finish")[1] == b"finished early"
    assert req(srv[0], "/err/send")[0].status == 503
    assert req(srv[0], "/err/missing")[0].status == 400
    r, body = req(srv[0], "/err/boom")
    assert r.status == 500 and b"Traceback" not in body
    assert json.loads(req(srv[0], "/custom")[1]) == {"error": 409}


def test_many_failures_then_the_server_goes_on(srv):
    for _ in range(100):
        assert req(srv[0], "/err/boom")[0].status == 500
    assert req(srv[0], "/verbs")[1] == b"get"


def test_debug_shows_the_traceback(tmp_path_factory):
    proc, port, _ = start(tmp_path_factory, "1")
    try:
        r, body = req(port, "/err/boom")
        assert r.status == 500 and b"Traceback" in body and b"ValueError: boom" in body
    finally:
        proc.terminate()
        proc.wait(10)


def test_prepare(srv):
    assert req(srv[0], "/prep")[1] == b"after prepare"
    assert req(srv[0], "/prep?stop=1")[1] == b"stopped in prepare"


def test_cookies(srv):
    r, _ = req(srv[0], "/c/set")
    cookies = r.headers.get_all("Set-Cookie")
    plain = [c for c in cookies if c.startswith("plain=")][0]
    for attr in ("Path=/c", "Domain=example.test", "expires=", "HttpOnly", "Secure", "SameSite=Lax"):
        assert attr.lower() in plain.lower(), (attr, plain)
    signed = [c for c in cookies if c.startswith("signed=")][0].split(";")[0].split("=", 1)[1]
    d = json.loads(req(srv[0], "/c/read", headers={"Cookie": f"plain=v1; signed={signed}"})[1])
    assert d == {"plain": "v1", "signed": "secret-value"}
    tampered = signed[:-1] + ("0" if signed[-1] != "0" else "1")
    d = json.loads(req(srv[0], "/c/read", headers={"Cookie": f"signed={tampered}"})[1])
    assert d == {"plain": None, "signed": ""}
    r, _ = req(srv[0], "/c/clear")
    gone = r.getheader("Set-Cookie")
    assert gone.startswith("plain=") and "Max-Age=0" in gone


def test_templates_and_static(srv):
    port, _ = srv
    r, body = req(port, "/tmpl")
    assert b"<h1>&lt;b&gt;T&lt;/b&gt;</h1>" in body and b"<i>x</i><i>y</i>" in body
    href = body.split(b'href="')[1].split(b'"')[0].decode()
    assert href.startswith("/static/app.css?v=")
    r, css = req(port, href)
    assert r.status == 200 and css == b"body{color:red}" and r.getheader("Content-Type").startswith("text/css")
    etag = r.getheader("ETag")
    assert req(port, "/static/app.css", headers={"If-None-Match": etag})[0].status == 304
    r, part = req(port, "/static/app.css", headers={"Range": "bytes=0-3"})
    assert r.status == 206 and part == b"body"
    assert req(port, "/files/app.css")[1] == b"body{color:red}"


def test_etag_304_on_a_handler(srv):
    r, _ = req(srv[0], "/verbs")
    etag = r.getheader("Etag")
    assert etag
    r, body = req(srv[0], "/verbs", headers={"If-None-Match": etag})
    assert r.status == 304 and body == b""


def test_on_finish_and_on_connection_close(srv):
    req(srv[0], "/fin?x=1")
    assert "/fin?x=1" in json.loads(req(srv[0], "/finished")[1])["finished"]
    before = json.loads(req(srv[0], "/closed")[1])["closed"]
    s = socket.create_connection(("127.0.0.1", srv[0]), timeout=5)
    s.sendall(b"GET /long HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.2)
    s.close()
    deadline = time.monotonic() + 5
    while json.loads(req(srv[0], "/closed")[1])["closed"] == before:
        assert time.monotonic() < deadline, "on_connection_close never ran"
        time.sleep(0.05)


def test_stream_request_body(srv):
    size = 5 * 1024 * 1024
    d = json.loads(req(srv[0], "/upload", "PUT", b"z" * size)[1])
    assert d["size"] == size and d["chunks"] > 1 and d["order"] == ["prepare", "data", "put"]


def test_default_handler_class(srv):
    r, body = req(srv[0], "/no/such/thing")
    assert r.status == 404 and body == b"fallback /no/such/thing"


def test_xheaders(srv):
    d = json.loads(req(srv[0], "/xh", headers={"X-Real-Ip": "10.1.2.3", "X-Scheme": "https"})[1])
    assert d == {"ip": "10.1.2.3", "proto": "https"}
    d = json.loads(req(srv[0], "/xh", headers={"X-Forwarded-For": "1.1.1.1, 10.0.0.9"})[1])
    assert d["ip"] == "10.0.0.9"


def test_fast_path(srv):
    port = srv[0]
    r, body = req(port, "/fast/bytes")
    assert body == b"fast" and r.getheader("Content-Type").startswith("text/plain")
    assert req(port, "/fast/str")[1] == "café".encode()
    d = json.loads(req(port, "/fast/json?a=%20b", headers={"X-T": "t"})[1])
    assert d == {"m": "GET", "h": "t", "a": " b"}
    r, body = req(port, "/fast/tuple")
    assert r.status == 201 and body == b"made"
    r, body = req(port, "/fast/full")
    assert r.status == 202 and r.getheader("X-F") == "1" and r.getheader("Content-Type") == "text/x-f"
    assert req(port, "/fast/cap/77")[1] == b"cap 77"
    assert req(port, "/fast/body", "POST", b"abc")[1] == b"cba"
    # other methods fall through to the next route: here default_handler_class
    assert req(port, "/fast/body", "GET")[1] == b"fallback /fast/body"
    assert req(port, "/fast/boom")[0].status == 500
    assert req(port, "/fast/defer")[1] == b"from a thread"
    assert req(port, "/fast/bytes")[1] == b"fast"


def test_curl_keepalive(srv):
    url = f"http://127.0.0.1:{srv[0]}/verbs"
    out = subprocess.run(["curl", "-sS", "--max-time", "10", url, url, url], capture_output=True, text=True)
    assert out.stdout == "getgetget"
