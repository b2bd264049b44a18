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

from conftest import child_env, launch

APP = r'''
import asyncio, os, sys, threading
import jinja2
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

SEEN = {"prepare": 0, "post": 0}
class Form(web.RequestHandler):
    def prepare(self):
        if self.request.method == "POST": SEEN["prepare"] += 1
    def get(self): self.write(SEEN)
    def post(self):
        SEEN["post"] += 1
        self.write({"args": {k: self.get_arguments(k) for k in self.request.arguments},
                    "files": sorted(self.request.files)})

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
    (r"/long", Long), (r"/closed", Closed), (r"/upload", Upload), (r"/rev", Rev), (r"/xh", XH), (r"/form", Form),
    (r"/files/(.*)", web.StaticFileHandler, {"path": os.path.join(here, "static")}),
], template_path=os.path.join(here, "templates"), static_path=os.path.join(here, "static"),
   template_loader=jinja2.FileSystemLoader(os.path.join(here, "templates")),  # page.html is Jinja2
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
    return launch(d, APP, name="app", env={"DEBUG": debug}), d


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    server, d = start(tmp_path_factory, "0")
    yield server.port, d
    server.stop()


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


MP = "multipart/form-data; boundary=BB"


def mp(*parts):
    return b"".join(b"--BB\r\n" + h + b"\r\n\r\n" + v + b"\r\n" for h, v in parts) + b"--BB--\r\n"


GOOD_PART = (b'Content-Disposition: form-data; name="a"', b"1")


@pytest.mark.parametrize("ctype,body,extra", [
    (MP, mp(GOOD_PART)[:-8], {}),                                                   # no close delimiter
    (MP, mp(GOOD_PART, (b"Content-Type: text/plain", b"v")), {}),                    # no Content-Disposition
    (MP, mp(GOOD_PART, (b"Content-Disposition: attachment; name=b", b"v")), {}),     # not form-data
    (MP, mp(GOOD_PART, (b"Content-Disposition: form-data", b"v")), {}),              # no name
    (MP, mp(GOOD_PART, (b"Content-Disposition: form-data; name=b\r\n folded", b"v")), {}),
    (MP, mp(GOOD_PART, (b"Content-Disposition: form-data; name=b\r\nX: a\x00b", b"v")), {}),
    (MP, b"preamble\r\n" + mp(GOOD_PART), {}),
    (MP, mp(*[(b"Content-Disposition: form-data; name=f%d" % i, b"v") for i in range(101)]), {}),
    ("multipart/form-data", mp(GOOD_PART), {}),                                      # no boundary
    ("multipart/form-data; boundary=" + "B" * 71, mp(GOOD_PART).replace(b"BB", b"B" * 71), {}),
    (MP, mp(GOOD_PART), {"Content-Encoding": "gzip"}),
    ("application/x-www-form-urlencoded", b"&".join([b"a=1"] * 1001), {}),
])
def test_malformed_form_body_is_a_400_before_any_handler_code(srv, ctype, body, extra):
    before = json.loads(req(srv[0], "/form")[1])
    c = http.client.HTTPConnection("127.0.0.1", srv[0], timeout=10)
    c.request("POST", "/form", body=body, headers={"Content-Type": ctype, **extra})
    r = c.getresponse()
    r.read()
    assert r.status == 400
    # the server goes on, on the same connection too, and nothing of the bad request ran
    c.request("POST", "/form", body=mp(GOOD_PART, (b'Content-Disposition: form-data; name="f"; filename="x"', b"F")),
              headers={"Content-Type": MP})
    r = c.getresponse()
    assert r.status == 200 and json.loads(r.read()) == {"args": {"a": ["1"]}, "files": ["f"]}
    c.close()
    after = json.loads(req(srv[0], "/form")[1])
    assert after == {"prepare": before["prepare"] + 1, "post": before["post"] + 1}


def test_malformed_query_and_arguments_are_400(srv):
    before = json.loads(req(srv[0], "/form")[1])
    assert req(srv[0], "/form?" + "&".join(["q=1"] * 1001), "POST", b"", {"Content-Type": "text/plain"})[0].status == 400
    assert json.loads(req(srv[0], "/form")[1]) == before
    # 1000 fields is the limit, not over it
    d = json.loads(req(srv[0], "/form?" + "&".join(["q=1"] * 1000), "POST", b"", {"Content-Type": "text/plain"})[1])
    assert len(d["args"]["q"]) == 1000
    # in a body, escapes that are not escapes stay as they are (in the target the core refuses them);
    # invalid UTF-8 is a 400 when the argument is read
    assert req(srv[0], "/form?a=%zz", "POST", b"", {"Content-Type": "text/plain"})[0].status == 400
    d = json.loads(req(srv[0], "/form", "POST", b"a=%zz&b=%4&c=%",
                       {"Content-Type": "application/x-www-form-urlencoded"})[1])
    assert d["args"] == {"a": ["%zz"], "b": ["%4"], "c": ["%"]}
    for query, body in [("a=%ff", b""), ("", b"a=%C3%28")]:
        r, _ = req(srv[0], "/form?" + query, "POST", body, {"Content-Type": "application/x-www-form-urlencoded"})
        assert r.status == 400


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
    server, _ = start(tmp_path_factory, "1")
    try:
        r, body = req(server.port, "/err/boom")
        assert r.status == 500 and b"Traceback" in body and b"ValueError: boom" in body
    finally:
        server.stop()


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


# --- a second application: async verbs, prepare paths, argument errors,
# path-argument decoding, auth, helpers, long polls, streamed bodies ---------

APP2 = r'''
import asyncio, datetime, os, sys, threading, time
from squall import web, ioloop

LOG = []

class AsyncVerbs(web.RequestHandler):
    async def get(self): await asyncio.sleep(0); self.write("aget")
    async def head(self): self.set_header("X-Head", "async")
    async def post(self): self.write("apost:" + self.request.body.decode())
    async def put(self): self.write("aput:" + self.request.body.decode())
    async def delete(self): self.write("adelete")
    async def patch(self): self.write("apatch")
    async def options(self): self.set_header("Allow", "GET, POST"); self.set_status(204)

class GetOnly(web.RequestHandler):
    def get(self): self.write("only get")

class SyncPrepare(web.RequestHandler):
    def prepare(self):
        LOG.append("prepare")
        if self.get_argument("finish", None): self.finish("finished in prepare")
        elif self.get_argument("deny", None): raise web.HTTPError(403, reason="Denied Here")
    def get(self): LOG.append("get"); self.write("got")
    def on_finish(self): LOG.append("on_finish")

class AsyncPrepareError(web.RequestHandler):
    async def prepare(self):
        await asyncio.sleep(0)
        raise web.HTTPError(401, reason="Who Goes There")
    def get(self): LOG.append("never"); self.write("no")

class Log(web.RequestHandler):
    def get(self):
        self.write({"log": list(LOG)})
        LOG.clear()

class ArgErrors(web.RequestHandler):
    def get(self, which):
        if which == "query": self.write(self.get_query_argument("missing"))
        elif which == "list": self.write({"q": self.get_query_arguments("q"), "raw": self.get_arguments("q", strip=False),
                                           "none": self.get_query_arguments("none"), "dflt": self.get_query_argument("none", "D")})
        else: self.write(self.get_argument("a"))
    def post(self, which):
        if which == "body": self.write(self.get_body_argument("missing"))
        else:
            self.write({"body": self.get_body_arguments("b"), "body1": self.get_body_argument("b", None),
                        "dflt": self.get_body_argument("zz", "dz"), "query": self.get_query_arguments("b"),
                        "all": self.get_arguments("b"), "arguments": sorted(self.request.arguments),
                        "files": {k: [[f.filename, f.content_type, len(f.body)] for f in v]
                                  for k, v in self.request.files.items()}})

class PathArg(web.RequestHandler):
    def get(self, value): self.write({"value": value, "type": type(value).__name__})

class Latin1PathArg(PathArg):
    def decode_argument(self, value, name=None): return value.decode("latin-1")

class Headers(web.RequestHandler):
    def get(self):
        self.set_header("X-Int", 42)
        self.set_header("X-Date", datetime.datetime(2020, 1, 2, 3, 4, 5))
        self.add_header("X-Replaced", "first")
        self.set_header("X-Replaced", "second")
        try:
            self.set_header("X-Bad", "a\r\nInjected: 1")
        except ValueError:
            self.set_header("X-Bad-Refused", "yes")
        self.write({"list": self.request.headers.get_list("X-Many"), "body": self.request.body.decode()})

class NoContent(web.RequestHandler):
    def get(self): self.set_status(204)

class Finishes(web.RequestHandler):
    def get(self, kind):
        if kind == "bare":
            self.write("written before Finish;")
            raise web.Finish()
        if kind == "twice":
            self.finish("once")
            try:
                self.finish("again")
            except RuntimeError:
                LOG.append("second finish refused")
        if kind == "redirect-after-flush":
            self.write("flushed;")
            self.flush()
            try:
                self.redirect("/elsewhere")
            except RuntimeError:
                LOG.append("redirect refused")
            self.finish("end")

class ErrorPages(web.RequestHandler):
    async def get(self, kind):
        await asyncio.sleep(0)
        if kind == "async": raise KeyError("async failure")
        if kind == "reason": self.send_error(400, reason="Bad Thing"); return
        if kind == "after-flush":
            self.write("partial;")
            await self.flush()
            raise ValueError("too late for an error page")
        1 / 0
    def write_error(self, status_code, **kwargs):
        exc = kwargs.get("exc_info")
        self.finish({"status": status_code, "exception": exc[0].__name__ if exc else None,
                     "reason": self._reason})

class RenderString(web.RequestHandler):
    def get(self):
        s = self.render_string("frag.html", value="<x & y>")
        self.write({"type": type(s).__name__, "html": s.decode()})

class Private(web.RequestHandler):
    def get_current_user(self): return self.get_cookie("user")
    @web.authenticated
    def get(self): self.write("hello " + self.current_user)
    @web.authenticated
    def post(self): self.write("posted")

class FixedEtag(web.RequestHandler):
    def compute_etag(self): return '"v1"'
    def get(self): self.write("etagged")

class Long(web.RequestHandler):
    async def get(self):
        await asyncio.sleep(0.4)
        try:
            self.write("late;")
            await self.flush()
            self.finish("end")
            LOG.append("long finished quietly")
        except Exception as e:
            LOG.append("long raised " + repr(e))
    def on_connection_close(self): LOG.append("long closed")

class Quick(web.RequestHandler):
    def get(self): self.write("quick")
    def on_connection_close(self): LOG.append("quick closed")

@web.stream_request_body
class AsyncUpload(web.RequestHandler):
    async def prepare(self):
        await asyncio.sleep(0.01)
        self.size = 0; self.chunks = 0; self.order = ["prepare"]
    async def data_received(self, chunk):
        await asyncio.sleep(0)
        self.size += len(chunk); self.chunks += 1
        if self.order[-1] != "data": self.order.append("data")
    async def post(self):
        self.order.append("post")
        self.write({"size": self.size, "chunks": self.chunks, "order": self.order})

class Slow(web.RequestHandler):
    async def get(self, n):
        await asyncio.sleep((int(n) % 7) / 1000)
        self.write({"n": n, "q": self.get_argument("q")})

class Plain(web.RequestHandler):
    def get(self): self.write("plain")

class Proto(web.RequestHandler):
    def get(self):
        r = self.request
        self.write({"protocol": r.protocol, "full_url": r.full_url(), "host": r.host, "ip": r.remote_ip})

class CookieJar(web.RequestHandler):
    def get(self, op):
        if op == "set":
            self.set_cookie("two_days", "v", expires_days=2)
            self.set_cookie("session", "s")
            self.set_signed_cookie("a", "for a", expires_days=None)
        elif op == "read-as-b":
            self.write({"b": self.get_signed_cookie("b", value=self.get_cookie("a")),
                        "a": (self.get_signed_cookie("a") or b"").decode()})
        elif op == "all":
            self.write({k: v.value for k, v in self.cookies.items()})

def respond_late(req):
    def later():
        time.sleep(0.4)
        LOG.append("respond returned %s" % req.respond("too late"))
    threading.Thread(target=later).start()
    return web.DEFER

here = os.path.dirname(os.path.abspath(__file__))
os.makedirs(os.path.join(here, "templates2"), exist_ok=True)
open(os.path.join(here, "templates2", "frag.html"), "w").write("[{{ value }}]")
os.makedirs(os.path.join(here, "assets", "sub"), exist_ok=True)
open(os.path.join(here, "assets", "data.json"), "w").write('{"k": 1}')
open(os.path.join(here, "assets", "sub", "big.bin"), "wb").write(bytes(range(256)) * 4096)
open(os.path.join(here, "secret.txt"), "w").write("outside the static root")

app = web.Application([
    (r"/averbs", AsyncVerbs), (r"/getonly", GetOnly), (r"/sprep", SyncPrepare), (r"/aprep", AsyncPrepareError),
    (r"/log", Log), (r"/argerr/(\w+)", ArgErrors), (r"/patharg/(.*)", PathArg), (r"/latin1/(.*)", Latin1PathArg),
    (r"/headers", Headers), (r"/nocontent", NoContent), (r"/finishes/([\w-]+)", Finishes),
    (r"/errpage/([\w-]+)", ErrorPages), (r"/renderstring", RenderString), (r"/private", Private),
    (r"/fixedetag", FixedEtag), (r"/long", Long), (r"/quick", Quick), (r"/aupload", AsyncUpload),
    (r"/slow/(\d+)", Slow), (r"/gone", web.ErrorHandler, {"status_code": 410}),
    (r"/moved/(\w+)", web.RedirectHandler, {"url": "/plain/{0}"}), (r"/proto", Proto),
    (r"/jar/([\w-]+)", CookieJar),
    (r"/assets/(.*)", web.RustStaticFileHandler, {"path": os.path.join(here, "assets")}),
], template_path=os.path.join(here, "templates2"), login_url="/login", xheaders=True, cookie_secret="k" * 32,
   static_path=os.path.join(here, "assets"), static_url_prefix="/pub/")
app.route(r"/fast/none", lambda req: None)
app.route(r"/fast/repeat", lambda req: (200, [("X-Rep", "1"), ("X-Rep", "2")], "two headers"))
app.route(r"/fast/postonly", lambda req: "fast post", methods="POST")
app.route(r"/fast/late", respond_late)
app.route(r"/fast/arg", lambda req: {"a": req.argument("a"), "missing": req.argument("zz", "dflt")})
def deferred_reads(req):
    def work():  # the request is read from the other thread, before answering
        req.respond({"body": req.body.decode(), "h": req.header("X-T"), "a": req.argument("a"), "m": req.method,
                     "p": req.path, "caps": list(req.captures)}, status=201, headers={"X-Thread": "1"})
    threading.Thread(target=work).start()
    return web.DEFER
app.route(r"/fast/deferred/(\w+)", deferred_reads)
def deferred_on_loop(req):
    ioloop.IOLoop.current().call_later(0.05, lambda: req.respond(b"from a timer", 202))
    return web.DEFER
app.route(r"/fast/timer", deferred_on_loop)
app.add_handlers(".*$", [(r"/fast/postonly", Plain)])
app.listen(int(os.environ["PORT"]), "127.0.0.1")
app.add_handlers(".*$", [(r"/added-later", Plain)])
ioloop.IOLoop.current().start()
'''


@pytest.fixture(scope="module")
def srv2(tmp_path_factory):
    server = launch(tmp_path_factory.mktemp("webapp2"), APP2, name="app")
    yield server.port
    server.stop()


def log_of(port):
    return json.loads(req(port, "/log")[1])["log"]


def test_async_verbs(srv2):
    p = srv2
    assert req(p, "/averbs")[1] == b"aget"
    r, body = req(p, "/averbs", "HEAD")
    assert r.status == 200 and r.getheader("X-Head") == "async" and body == b""
    assert req(p, "/averbs", "POST", "é".encode())[1] == "apost:é".encode()
    assert req(p, "/averbs", "PUT", b"v")[1] == b"aput:v"
    assert req(p, "/averbs", "DELETE")[1] == b"adelete"
    assert req(p, "/averbs", "PATCH", b"")[1] == b"apatch"
    r, body = req(p, "/averbs", "OPTIONS")
    assert r.status == 204 and r.getheader("Allow") == "GET, POST" and body == b""


def test_undefined_verbs_are_405(srv2):
    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"):
        r, _ = req(srv2, "/getonly", method, b"" if method in ("POST", "PUT", "PATCH") else None)
        assert r.status == 405, method
    assert req(srv2, "/getonly")[1] == b"only get"


def test_sync_prepare_paths(srv2):
    log_of(srv2)
    assert req(srv2, "/sprep")[1] == b"got"
    assert log_of(srv2) == ["prepare", "get", "on_finish"]
    assert req(srv2, "/sprep?finish=1")[1] == b"finished in prepare"
    assert log_of(srv2) == ["prepare", "on_finish"]
    r, _ = req(srv2, "/sprep?deny=1")
    assert r.status == 403 and r.reason == "Denied Here"
    assert log_of(srv2) == ["prepare", "on_finish"]


def test_async_prepare_error_skips_the_method(srv2):
    r, body = req(srv2, "/aprep")
    assert r.status == 401 and r.reason == "Who Goes There" and b"401" in body
    assert "never" not in log_of(srv2)


def test_missing_query_and_body_arguments_are_400(srv2):
    assert req(srv2, "/argerr/query")[0].status == 400
    assert req(srv2, "/argerr/any")[0].status == 400
    r, _ = req(srv2, "/argerr/body", "POST", b"other=1", {"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 400
    # a value that is not UTF-8 is a 400 too
    assert req(srv2, "/argerr/any?a=%FF")[0].status == 400
    assert req(srv2, "/argerr/any?a=%C3%A9+x")[1] == "é x".encode()


def test_query_and_body_argument_lists(srv2):
    d = json.loads(req(srv2, "/argerr/list?q=+a+&q=b%20c")[1])
    assert d == {"q": ["a", "b c"], "raw": [" a ", "b c"], "none": [], "dflt": "D"}
    d = json.loads(req(srv2, "/argerr/lists?b=q1", "POST", b"b=1&b=%20two%20&c=3",
                       {"Content-Type": "application/x-www-form-urlencoded"})[1])
    assert d["body"] == ["1", "two"] and d["body1"] == "two" and d["dflt"] == "dz"
    assert d["query"] == ["q1"] and d["all"] == ["q1", "1", "two"] and d["arguments"] == ["b", "c"]


def test_multipart_with_two_files(srv2):
    body = (b"--XYZ\r\nContent-Disposition: form-data; name=\"b\"\r\n\r\nfield value\r\n"
            b"--XYZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"one.bin\"\r\n"
            b"Content-Type: application/octet-stream\r\n\r\n" + bytes(range(256)) + b"\r\n"
            b"--XYZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"two.txt\"\r\n"
            b"Content-Type: text/plain\r\n\r\nsecond\r\n--XYZ--\r\n")
    d = json.loads(req(srv2, "/argerr/lists", "POST", body, {"Content-Type": "multipart/form-data; boundary=XYZ"})[1])
    assert d["body"] == ["field value"]
    assert d["files"] == {"f": [["one.bin", "application/octet-stream", 256], ["two.txt", "text/plain", 6]]}


def test_multipart_upload_with_curl(srv2, tmp_path):
    f = tmp_path / "upload.txt"
    f.write_bytes(b"u" * 100_000)
    out = subprocess.run(["curl", "-sS", "--max-time", "10", "-F", "b=from curl", "-F", f"f=@{f};type=text/x-up",
                          f"http://127.0.0.1:{srv2}/argerr/lists"], capture_output=True, timeout=20)
    d = json.loads(out.stdout)
    assert d["body"] == ["from curl"] and d["files"] == {"f": [["upload.txt", "text/x-up", 100_000]]}


def test_path_arguments_are_unquoted_and_decoded(srv2):
    assert json.loads(req(srv2, "/patharg/a%20b%2Fc")[1]) == {"value": "a b/c", "type": "str"}
    assert json.loads(req(srv2, "/patharg/%C3%A9t%C3%A9")[1])["value"] == "été"
    # Tornado: a path argument that is not UTF-8 is a 400 ...
    assert req(srv2, "/patharg/%FF")[0].status == 400
    # ... unless the handler's decode_argument says otherwise
    assert json.loads(req(srv2, "/latin1/%FF")[1])["value"] == "\u00ff"


def test_header_values_and_request_headers(srv2):
    c = http.client.HTTPConnection("127.0.0.1", srv2, timeout=10)
    c.putrequest("GET", "/headers")
    c.putheader("X-Many", "one")
    c.putheader("X-Many", "two")
    c.putheader("Content-Length", "4")
    c.endheaders(b"body")
    r = c.getresponse()
    d = json.loads(r.read())
    c.close()
    assert r.getheader("X-Int") == "42" and r.getheader("X-Date") == "Thu, 02 Jan 2020 03:04:05 GMT"
    assert r.headers.get_all("X-Replaced") == ["second"]
    assert r.getheader("X-Bad") is None and r.getheader("X-Bad-Refused") == "yes" and r.getheader("Injected") is None
    assert r.getheader("Content-Type") == "application/json; charset=UTF-8"
    assert d == {"list": ["one", "two"], "body": "body"}


def test_204_has_no_body_and_no_content_type(srv2):
    s = socket.create_connection(("127.0.0.1", srv2), timeout=5)
    s.sendall(b"GET /nocontent HTTP/1.1\r\nHost: x\r\n\r\nGET /getonly HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    while not data.endswith(b"only get"):
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    first, _, rest = data.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 204") and b"Content-Type" not in first
    assert rest.startswith(b"HTTP/1.1 200")  # the next response follows at once: no body bytes in between


def test_finish_variants(srv2):
    log_of(srv2)
    assert req(srv2, "/finishes/bare")[1] == b"written before Finish;"
    assert req(srv2, "/finishes/twice")[1] == b"once"
    assert req(srv2, "/finishes/redirect-after-flush")[1] == b"flushed;end"
    assert log_of(srv2) == ["second finish refused", "redirect refused"]


def test_error_pages(srv2):
    r, body = req(srv2, "/errpage/async")
    assert r.status == 500 and json.loads(body) == {"status": 500, "exception": "KeyError", "reason": None}
    r, body = req(srv2, "/errpage/reason")
    assert r.status == 400 and r.reason == "Bad Thing" and json.loads(body)["reason"] == "Bad Thing"
    r, body = req(srv2, "/errpage/zero")
    assert r.status == 500 and json.loads(body)["exception"] == "ZeroDivisionError"
    # an exception after the head was sent cannot become an error page: the
    # response ends with what was written, and the connection stays usable
    c = http.client.HTTPConnection("127.0.0.1", srv2, timeout=10)
    c.request("GET", "/errpage/after-flush")
    r = c.getresponse()
    assert r.status == 200 and r.read() == b"partial;"
    c.request("GET", "/getonly")
    assert c.getresponse().read() == b"only get"
    c.close()


def test_render_string_is_escaped_bytes(srv2):
    d = json.loads(req(srv2, "/renderstring")[1])
    assert d == {"type": "bytes", "html": "[&lt;x &amp; y&gt;]"}


def test_authenticated(srv2):
    r, _ = req(srv2, "/private")
    assert r.status == 302 and r.getheader("Location") == "/login?next=%2Fprivate"
    assert req(srv2, "/private", "POST", b"")[0].status == 403
    assert req(srv2, "/private", headers={"Cookie": "user=ann"})[1] == b"hello ann"
    assert req(srv2, "/private", "POST", b"", headers={"Cookie": "user=ann"})[1] == b"posted"


def test_error_and_redirect_handlers(srv2):
    assert req(srv2, "/gone")[0].status == 410
    r, _ = req(srv2, "/moved/abc?x=1")
    assert r.status == 301 and r.getheader("Location") == "/plain/abc?x=1"


def test_etag_variants(srv2):
    r, _ = req(srv2, "/fixedetag")
    assert r.getheader("Etag") == '"v1"'
    for inm in ('"v1"', 'W/"v1"', '"other", "v1"', "*"):
        r, body = req(srv2, "/fixedetag", headers={"If-None-Match": inm})
        assert r.status == 304 and body == b"", inm
    r, body = req(srv2, "/fixedetag", headers={"If-None-Match": '"v2"'})
    assert r.status == 200 and body == b"etagged"
    # only GET and HEAD answer 304
    assert req(srv2, "/averbs", "POST", b"", headers={"If-None-Match": "*"})[0].status == 200


def test_client_gone_during_a_long_get(srv2):
    log_of(srv2)
    s = socket.create_connection(("127.0.0.1", srv2), timeout=5)
    s.sendall(b"GET /long HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.1)
    s.close()
    deadline = time.monotonic() + 5
    log = []
    while not any(e.startswith("long ") and e != "long closed" for e in log) and time.monotonic() < deadline:
        time.sleep(0.1)
        log += log_of(srv2)
    # as in Tornado: the awaited flush raises once the client has gone
    assert "long closed" in log and any(e.startswith("long raised StreamClosedError") for e in log), log
    # a request finished on a keep-alive connection that then closes is not a "connection close"
    c = http.client.HTTPConnection("127.0.0.1", srv2, timeout=5)
    c.request("GET", "/quick")
    assert c.getresponse().read() == b"quick"
    c.close()
    time.sleep(0.2)
    assert "quick closed" not in log_of(srv2)


def test_streamed_body_with_async_callbacks_and_chunked_upload(srv2):
    size = 3 * 1024 * 1024
    d = json.loads(req(srv2, "/aupload", "POST", b"a" * size)[1])
    assert d["size"] == size and d["chunks"] > 1 and d["order"] == ["prepare", "data", "post"]

    def gen():
        for _ in range(64):
            yield b"c" * 16384
    c = http.client.HTTPConnection("127.0.0.1", srv2, timeout=10)
    c.request("POST", "/aupload", body=gen(), encode_chunked=True, headers={"Transfer-Encoding": "chunked"})
    d = json.loads(c.getresponse().read())
    c.close()
    assert d["size"] == 64 * 16384 and d["order"] == ["prepare", "data", "post"]


def test_concurrent_requests_get_their_own_answers(srv2):
    errors = []

    def worker(t):
        c = http.client.HTTPConnection("127.0.0.1", srv2, timeout=10)
        for i in range(40):
            n = t * 1000 + i
            c.request("GET", f"/slow/{n}?q=t{t}i{i}")
            d = json.loads(c.getresponse().read())
            if d != {"n": str(n), "q": f"t{t}i{i}"}:
                errors.append(d)
        c.close()
    threads = [threading.Thread(target=worker, args=(t,)) for t in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors[:3]


def test_fast_path_extras(srv2):
    r, body = req(srv2, "/fast/none")
    assert r.status == 200 and body == b""
    r, body = req(srv2, "/fast/repeat")
    assert r.headers.get_all("X-Rep") == ["1", "2"] and body == b"two headers"
    assert req(srv2, "/fast/postonly", "POST", b"")[1] == b"fast post"
    assert req(srv2, "/fast/postonly")[1] == b"plain"  # GET falls through to the handler route
    assert req(srv2, "/added-later")[1] == b"plain"    # add_handlers after listen
    log_of(srv2)
    with pytest.raises(OSError):
        c = http.client.HTTPConnection("127.0.0.1", srv2, timeout=0.1)
        c.request("GET", "/fast/late")
        c.getresponse()
    c.close()
    deadline = time.monotonic() + 5
    while not (log := log_of(srv2)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert log == ["respond returned False"]
    assert req(srv2, "/fast/none")[0].status == 200


def test_xheaders_protocol_and_full_url(srv2):
    d = json.loads(req(srv2, "/proto", headers={"X-Forwarded-Proto": "https", "Host": "example.test:8443"})[1])
    assert d == {"protocol": "https", "full_url": "https://example.test:8443/proto", "host": "example.test:8443",
                 "ip": "127.0.0.1"}
    d = json.loads(req(srv2, "/proto", headers={"X-Scheme": "gopher", "X-Real-Ip": "2001:db8::1"})[1])
    assert d["protocol"] == "http" and d["ip"] == "2001:db8::1"  # an unknown scheme is ignored


def test_cookie_expiry_and_signed_names(srv2):
    import email.utils
    r, _ = req(srv2, "/jar/set")
    cookies = {c.split("=", 1)[0]: c for c in r.headers.get_all("Set-Cookie")}
    expires = [a.split("=", 1)[1] for a in cookies["two_days"].split("; ") if a.lower().startswith("expires=")][0]
    days = (email.utils.parsedate_to_datetime(expires).timestamp() - time.time()) / 86400
    assert 1.9 < days < 2.1, expires
    assert "expires" not in cookies["session"].lower() and "expires" not in cookies["a"].lower()
    signed = cookies["a"].split(";")[0].split("=", 1)[1]
    # a value signed for the name "a" is not valid as the cookie "b"
    d = json.loads(req(srv2, "/jar/read-as-b", headers={"Cookie": f"a={signed}"})[1])
    assert d == {"b": None, "a": "for a"}
    # another secret: rejected
    from squall import web
    forged = web.create_signed_value("x" * 32, "a", "for a").decode()
    assert json.loads(req(srv2, "/jar/read-as-b", headers={"Cookie": f"a={forged}"})[1])["a"] == ""
    d = json.loads(req(srv2, "/jar/all", headers={"Cookie": 'x=1; quoted="a b"; empty='})[1])
    assert d == {"x": "1", "quoted": "a b", "empty": ""}


def test_static_files_edge_cases(srv2):
    p = srv2
    r, body = req(p, "/pub/data.json")
    assert r.status == 200 and body == b'{"k": 1}' and r.getheader("Content-Type").startswith("application/json")
    assert req(p, "/pub/missing.txt")[0].status == 404
    r, _ = req(p, "/pub/../secret.txt")
    assert r.status in (400, 403, 404)
    s = socket.create_connection(("127.0.0.1", p), timeout=5)
    s.sendall(b"GET /pub/%2e%2e/secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    raw = b""
    while chunk := s.recv(65536):
        raw += chunk
    s.close()
    assert b"outside the static root" not in raw and raw.split(b" ")[1] in (b"400", b"403", b"404")
    r, body = req(p, "/pub/sub/big.bin", "HEAD")
    assert r.status == 200 and body == b"" and r.getheader("Content-Length") == str(256 * 4096)
    last_modified = r.getheader("Last-Modified")
    assert req(p, "/pub/sub/big.bin", headers={"If-Modified-Since": last_modified})[0].status == 304
    r, body = req(p, "/pub/sub/big.bin", headers={"Range": "bytes=256-511"})
    assert r.status == 206 and body == bytes(range(256))
    assert r.getheader("Content-Range") == f"bytes 256-511/{256 * 4096}"
    r, body = req(p, "/pub/sub/big.bin", headers={"Range": "bytes=-10"})
    assert r.status == 206 and body == bytes(range(246, 256))
    assert req(p, "/pub/sub/big.bin", headers={"Range": "bytes=9999999-"})[0].status == 416
    r, body = req(p, "/assets/sub/big.bin")  # the RustStaticFileHandler route: same directory
    assert r.status == 200 and len(body) == 256 * 4096
    url = f"http://127.0.0.1:{p}/pub/sub/big.bin"
    out = subprocess.run(["curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code} %{size_download}",
                          url], capture_output=True, text=True, timeout=20)
    assert out.stdout == f"200 {256 * 4096}"


def test_fast_path_arguments(srv2):
    d = json.loads(req(srv2, "/fast/arg?a=x%20y")[1])
    assert d == {"a": "x y", "missing": "dflt"}
    d = json.loads(req(srv2, "/fast/arg", "POST", b"a=from+body",
                       {"Content-Type": "application/x-www-form-urlencoded"})[1])
    assert d["a"] == "from body"


# --- a third application: settings (log_function, max_body_size through
# listen), route kwargs, template namespace, unknown status codes ------------

APP3 = r'''
import asyncio, os
from squall import web, ioloop

SEEN = []

class Init(web.RequestHandler):
    def initialize(self, word, times=1): self.word, self.times = word, times
    def get(self): self.write(self.word * self.times + "|" + str(self.settings.get("custom")))

class Unknown(web.RequestHandler):
    def get(self, kind):
        if kind == "raise": raise web.HTTPError(499)
        self.set_status(299)
        self.write("odd")

class Misuse(web.RequestHandler):
    def get(self):
        self.set_header("X-Dropped", "1")
        self.write("dropped")
        self.clear()
        self.finish("kept")
        try:
            self.write("after")
        except RuntimeError:
            SEEN.append("write after finish refused")

class Namespace(web.RequestHandler):
    def get_template_namespace(self):
        ns = super().get_template_namespace()
        ns["extra"] = "EXTRA"
        return ns
    def get(self): self.render("ns.html")

class Body(web.RequestHandler):
    def post(self): self.write(str(len(self.request.body)))

@web.stream_request_body
class StreamGone(web.RequestHandler):
    def prepare(self): self.size = 0
    def data_received(self, chunk): self.size += len(chunk)
    def post(self): SEEN.append("post ran"); self.write("whole")
    def on_connection_close(self): SEEN.append("stream closed after %d bytes" % self.size)

class Seen(web.RequestHandler):
    def get(self): self.write({"seen": list(SEEN)}); SEEN.clear()

class Defaults(web.RequestHandler):
    def set_default_headers(self):
        self.set_header("X-Frame-Options", "DENY")
        self.set_header("Server", "custom")
    def get(self, kind):
        if kind == "error": raise ValueError("the error page keeps the default headers")
        if kind == "http": raise web.HTTPError(404)
        self.write("defaults")

class EventStream(web.RequestHandler):
    async def get(self):
        from squall.iostream import StreamClosedError
        self.set_header("Content-Type", "text/event-stream")
        n = 0
        try:
            while n < 1000:  # 10 s at most
                self.write("data: %d\n\n" % n)
                n += 1
                await self.flush()
                await asyncio.sleep(0.01)
            SEEN.append("event stream ran to the end")
        except StreamClosedError:
            SEEN.append("event stream stopped")

class ReadAfterFinish(web.RequestHandler):
    # Tornado lets handler code read the request after finish(): logging,
    # bookkeeping after the answer went out
    def read(self, tag):
        try:
            SEEN.append([tag, self.request.headers.get("User-Agent"), self.request.remote_ip,
                         self.get_argument("a", None), self.request.body.decode(), self.get_cookie("c")])
        except Exception as e:
            SEEN.append([tag, repr(e)])
    async def get(self, kind):
        if kind == "sync-style":
            self.finish("done")
            self.read(kind)
        elif kind == "async":
            self.finish("done")
            await asyncio.sleep(0.01)
            self.read(kind)
        elif kind == "flushed":
            self.write("part;")
            await self.flush()
            self.finish("end")
    def post(self, kind):
        self.finish("posted")
        self.read(kind)

class OnFinishAfterFlush(ReadAfterFinish):
    def on_finish(self): self.read("on_finish after flush")

class Utf8Redirect(web.RequestHandler):
    def get(self): self.redirect("/\u00e9t\u00e9?x=\u2713")

here = os.path.dirname(os.path.abspath(__file__))
os.makedirs(os.path.join(here, "t3"), exist_ok=True)
open(os.path.join(here, "t3", "ns.html"), "w").write(
    "{{ extra }} {{ reverse_url('init') }} {{ request.path }} {{ handler.__class__.__name__ }}")

def log_function(handler):
    if handler.request.path != "/seen":
        SEEN.append("log %d %s" % (handler.get_status(), handler.request.path))

app = web.Application([
    web.url(r"/init", Init, {"word": "ab", "times": 2}, name="init"), (r"/unknown/(\w+)", Unknown),
    (r"/misuse", Misuse), (r"/ns", Namespace), (r"/body", Body), (r"/streamgone", StreamGone), (r"/seen", Seen),
    (r"/utf8redirect", Utf8Redirect), (r"/defaults/(\w+)", Defaults),
    (r"/events", EventStream), (r"/readafter/([\w-]+)", ReadAfterFinish),
    (r"/onfinish/([\w-]+)", OnFinishAfterFlush),
], custom="yes", template_path=os.path.join(here, "t3"), log_function=log_function)
app.listen(int(os.environ["PORT"]), "127.0.0.1", max_body_size=100_000)
ioloop.IOLoop.current().start()
'''


@pytest.fixture(scope="module")
def srv3(tmp_path_factory):
    server = launch(tmp_path_factory.mktemp("webapp3"), APP3, name="app")
    yield server.port
    server.stop()


def seen(port):
    return json.loads(req(port, "/seen")[1])["seen"]


def test_log_function_sees_every_request(srv3):
    seen(srv3)
    assert req(srv3, "/init")[1] == b"abab|yes"
    req(srv3, "/unknown/raise")
    r, body = req(srv3, "/nowhere")
    # the application's own 404 page, as Tornado's, seen by log_function too
    assert r.status == 404 and body == b"<html><title>404: Not Found</title><body>404: Not Found</body></html>"
    assert seen(srv3) == ["log 200 /init", "log 499 /unknown/raise", "log 404 /nowhere"]


def test_route_kwargs_settings_and_template_namespace(srv3):
    assert req(srv3, "/init")[1] == b"abab|yes"
    assert req(srv3, "/ns")[1] == b"EXTRA /init /ns Namespace"


def test_unknown_status_codes_have_a_reason(srv3):
    r, body = req(srv3, "/unknown/raise")
    assert r.status == 499 and r.reason == "Unknown" and b"499: Unknown" in body
    r, body = req(srv3, "/unknown/set")
    assert r.status == 299 and r.reason == "Unknown" and body == b"odd"


def test_clear_and_write_after_finish(srv3):
    seen(srv3)
    r, body = req(srv3, "/misuse")
    assert body == b"kept" and r.getheader("X-Dropped") is None
    assert "write after finish refused" in seen(srv3)


def test_max_body_size_from_listen(srv3):
    assert req(srv3, "/body", "POST", b"x" * 100_000)[1] == b"100000"
    r, _ = req(srv3, "/body", "POST", b"x" * 100_001)
    assert r.status == 413
    assert req(srv3, "/streamgone", "POST", b"x" * 100_001)[0].status == 413


def test_client_gone_during_a_streamed_upload(srv3):
    seen(srv3)
    s = socket.create_connection(("127.0.0.1", srv3), timeout=5)
    s.sendall(b"POST /streamgone HTTP/1.1\r\nHost: x\r\nContent-Length: 90000\r\n\r\n" + b"a" * 20000)
    time.sleep(0.3)
    s.close()
    deadline = time.monotonic() + 5
    log = []
    while not any(e.startswith("stream closed") for e in log) and time.monotonic() < deadline:
        time.sleep(0.05)
        log += seen(srv3)
    assert "stream closed after 20000 bytes" in log and "post ran" not in log, log


def test_redirect_to_a_non_ascii_url_sends_utf8(srv3):
    r, _ = req(srv3, "/utf8redirect")
    assert r.status == 302
    assert r.getheader("Location").encode("latin-1") == "/\u00e9t\u00e9?x=\u2713".encode("utf-8")


def test_pipelined_requests_answer_in_order(srv2):
    # later requests finish first (shorter sleeps); the answers still come in request order
    s = socket.create_connection(("127.0.0.1", srv2), timeout=5)
    s.sendall(b"".join(b"GET /slow/%d?q=%d HTTP/1.1\r\nHost: x\r\n\r\n" % (n, i) for i, n in enumerate(range(6, -1, -1))))
    data = b""
    deadline = time.monotonic() + 10
    while data.count(b'"q"') < 7 and time.monotonic() < deadline:
        data += s.recv(65536)
    s.close()
    import re
    assert re.findall(rb'"q": "(\d)"', data) == [str(i).encode() for i in range(7)]


def test_expect_100_continue(srv3):
    s = socket.create_connection(("127.0.0.1", srv3), timeout=5)
    s.sendall(b"POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n")
    assert s.recv(100).startswith(b"HTTP/1.1 100")
    s.sendall(b"y" * 5000)
    data = b""
    while not data.endswith(b"5000"):
        chunk = s.recv(65536)
        assert chunk, data
        data += chunk
    assert data.startswith(b"HTTP/1.1 200")
    # too large: refused before the body is sent
    s.sendall(b"POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\nExpect: 100-continue\r\n\r\n")
    assert s.recv(100).startswith(b"HTTP/1.1 413")
    s.close()


def test_httpserver_stop_is_graceful():
    # stop(): no new connections, the request in flight finishes, idle
    # keep-alive connections are closed; close_all_connections() waits for that
    code = r'''
import asyncio, http.client, socket, threading, time
from squall import web, ioloop, httpserver
class Slow(web.RequestHandler):
    async def get(self): await asyncio.sleep(0.5); self.write("slow done")
class Quick(web.RequestHandler):
    def get(self): self.write("quick")
async def main():
    server = httpserver.HTTPServer(web.Application([(r"/slow", Slow), (r"/quick", Quick)]))
    port = server.listen(0, "127.0.0.1")
    res = {}
    idle = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    def first():
        idle.request("GET", "/quick")
        res["quick"] = idle.getresponse().read()
    await asyncio.get_running_loop().run_in_executor(None, first)
    def slow():
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request("GET", "/slow")
        res["slow"] = c.getresponse().read()
    t = threading.Thread(target=slow)
    t.start()
    await asyncio.sleep(0.1)
    server.stop()
    await asyncio.sleep(0.05)
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        res["new"] = "accepted"
    except OSError:
        res["new"] = "refused"
    t0 = time.monotonic()
    await server.close_all_connections()
    res["waited"] = time.monotonic() - t0 > 0.2
    while t.is_alive():
        await asyncio.sleep(0.01)
    def again():
        try:
            idle.request("GET", "/quick")
            res["idle"] = idle.getresponse().read()
        except (ConnectionError, http.client.HTTPException) as e:
            res["idle"] = "closed"
    await asyncio.get_running_loop().run_in_executor(None, again)
    return res
loop = ioloop.IOLoop.current()
print(sorted(loop.run_sync(main, timeout=20).items()))
loop.close()
'''
    r = subprocess.run([sys.executable, "-c", code], env=child_env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == str(sorted({"quick": b"quick", "slow": b"slow done", "new": "refused", "waited": True,
                                           "idle": "closed"}.items()))


def test_set_default_headers_also_on_error_pages(srv3):
    for kind, status in (("ok", 200), ("error", 500), ("http", 404)):
        r, _ = req(srv3, f"/defaults/{kind}")
        assert r.status == status and r.getheader("X-Frame-Options") == "DENY", kind
        assert r.headers.get_all("Server") == ["custom"], kind


def test_fast_path_deferred_answers(srv2):
    r, body = req(srv2, "/fast/deferred/c1?a=1", "POST", b"zz", {"X-T": "tt"})
    assert r.status == 201 and r.getheader("X-Thread") == "1"
    assert json.loads(body) == {"body": "zz", "h": "tt", "a": "1", "m": "POST", "p": "/fast/deferred/c1", "caps": ["c1"]}
    r, body = req(srv2, "/fast/timer")
    assert r.status == 202 and body == b"from a timer"


def test_flush_raises_stream_closed_once_the_client_left(srv3):
    # the server-sent-events loop of a Tornado app: it ends on StreamClosedError
    seen(srv3)
    s = socket.create_connection(("127.0.0.1", srv3), timeout=5)
    s.sendall(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    while data.count(b"data: ") < 3:
        data += s.recv(65536)
    assert b"text/event-stream" in data
    s.close()
    deadline = time.monotonic() + 5
    log = []
    while not any(e.startswith("event stream") for e in log) and time.monotonic() < deadline:
        time.sleep(0.05)
        log += seen(srv3)
    assert "event stream stopped" in log, log


def test_the_request_stays_readable_after_finish(srv3):
    seen(srv3)
    h = {"User-Agent": "ua/7", "Cookie": "c=9"}
    assert req(srv3, "/readafter/sync-style?a=1", headers=h)[1] == b"done"
    assert req(srv3, "/readafter/async?a=2", headers=h)[1] == b"done"
    assert req(srv3, "/readafter/post?a=3", "POST", b"the body", headers=h)[1] == b"posted"
    assert req(srv3, "/onfinish/flushed?a=4", headers=h)[1] == b"part;end"
    deadline = time.monotonic() + 5
    log = []
    while len(log) < 4 and time.monotonic() < deadline:
        log += [e for e in seen(srv3) if isinstance(e, list)]  # not log_function's lines
        time.sleep(0.02)
    assert sorted(log) == sorted([
        ["sync-style", "ua/7", "127.0.0.1", "1", "", "9"],
        ["async", "ua/7", "127.0.0.1", "2", "", "9"],
        ["post", "ua/7", "127.0.0.1", "3", "the body", "9"],
        ["on_finish after flush", "ua/7", "127.0.0.1", "4", "", "9"],
    ]), log


FLOW = r"""
import sys
from squall import httpserver, ioloop, web
from squall._ffi import SquallError

class Hello(web.RequestHandler):
    def get(self):
        self.write("hello")

app = web.Application([(r"/", Hello)])
for bad in [(100, 50), (1 << 20, 0), (1 << 16, 1 << 17)]:
    try:
        httpserver.HTTPServer(app, flow_limits=bad).listen(0, "127.0.0.1")
    except SquallError as e:
        print("refused", bad, e, flush=True)
    else:
        print("accepted", bad, flush=True)
server = httpserver.HTTPServer(app, flow_limits=(1 << 16, 1 << 14))
server.listen(int(sys.argv[1]), "127.0.0.1")
print("listening", flush=True)
ioloop.IOLoop.current().start()
"""


def test_flow_limits_are_checked_and_set(tmp_path):
    from conftest import free_port, wait_port
    port = free_port()
    script = tmp_path / "flow.py"
    script.write_text(FLOW)
    proc = subprocess.Popen([sys.executable, str(script), str(port)], env=child_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_port(port, proc)
        r, body = req(port, "/")
        assert r.status == 200 and body == b"hello"
    finally:
        proc.terminate()
        out = proc.communicate(timeout=10)[0]
    refused = [line for line in out.splitlines() if line.startswith("refused")]
    assert len(refused) == 3, out
    assert "4096" in refused[0] and "low-water" in refused[1], out


METRICS = r"""
import http.client, json, sys
from squall import httpserver, ioloop, metrics, web

class Hello(web.RequestHandler):
    def get(self):
        self.write("hello")

class Boom(web.RequestHandler):
    def get(self):
        raise RuntimeError("on purpose")

class Counts(web.RequestHandler):
    def get(self):
        self.write(json.dumps(metrics.snapshot(self.application)))

app = web.Application([(r"/", Hello), (r"/boom", Boom), (r"/counts", Counts), (r"/metrics", metrics.MetricsHandler)])
try:
    web.Application([(r"/m(.*)", metrics.MetricsHandler)]).listen(0, "127.0.0.1")
except ValueError as e:
    print("refused pattern:", e, flush=True)
server = app.listen(int(sys.argv[1]), "127.0.0.1")
print("listening", flush=True)
ioloop.IOLoop.current().start()
"""


def test_metrics_snapshot_and_route(tmp_path):
    from conftest import free_port, wait_port
    port = free_port()
    script = tmp_path / "metrics.py"
    script.write_text(METRICS)
    proc = subprocess.Popen([sys.executable, str(script), str(port)], env=child_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_port(port, proc)
        for _ in range(7):
            assert req(port, "/")[1] == b"hello"
        assert req(port, "/boom")[0].status == 500
        counts = json.loads(req(port, "/counts")[1])
        # wait_port's probe connection sent no request
        assert counts["requests_get"] == 7 + 1 + 1, counts
        assert counts["responses_2xx"] == 7 and counts["responses_5xx"] == 1, counts
        assert len(counts["latency_buckets"]) == 19 and sum(counts["latency_buckets"]) == counts["latency_count"]
        r, body = req(port, "/metrics")
        assert r.status == 200 and r.getheader("Content-Type").startswith("text/plain; version=0.0.4")
        assert b'\nsquall_http_requests_total{method="GET"} 10\n' in body, body[:400]
    finally:
        proc.terminate()
        out = proc.communicate(timeout=10)[0]
    assert "refused pattern: a MetricsHandler route must be a plain path" in out, out
