"""HTTPServer(delegate), request.connection, squall.routing and
squall.wsgi, served by squall on real sockets."""
from __future__ import annotations

import gzip
import http.client
import json
import socket

SERVER = r'''
import concurrent.futures
import os
import squall.ioloop
from squall.httpserver import HTTPServer
from squall.httputil import (HTTPHeaders, HTTPMessageDelegate, HTTPServerConnectionDelegate,
                             ResponseStartLine)
from squall.routing import HostMatches, PathMatches, ReversibleRuleRouter, Rule, RuleRouter
from squall.web import Application, RequestHandler, stream_request_body
from squall.wsgi import WSGIContainer


class Sizes(HTTPMessageDelegate):
    """Answers with the sizes of the body pieces it got, chunked (no
    Content-Length), one write per piece."""
    def __init__(self, conn):
        self.conn = conn
        self.sizes = []

    def headers_received(self, start_line, headers):
        self.consumed = headers.get("X-Consumed-Content-Encoding", "")

    def data_received(self, chunk):
        self.sizes.append(len(chunk))

    def finish(self):
        self.conn.write_headers(ResponseStartLine("HTTP/1.1", 201, "Made"),
                                HTTPHeaders({"X-Consumed": self.consumed}))
        for s in self.sizes:
            self.conn.write(b"%d," % s)
        self.conn.finish()


class WrongLength(HTTPMessageDelegate):
    def __init__(self, conn):
        self.conn = conn

    def finish(self):
        self.conn.write_headers(ResponseStartLine("HTTP/1.1", 200, "OK"),
                                HTTPHeaders({"Content-Length": "10"}))
        self.conn.write(b"12345")
        self.conn.finish()  # 5 bytes short: HTTPOutputError, connection cut


class SizesApp(HTTPServerConnectionDelegate):
    def start_request(self, server_conn, request_conn):
        return Sizes(request_conn)


class WrongApp(HTTPServerConnectionDelegate):
    def start_request(self, server_conn, request_conn):
        return WrongLength(request_conn)


def legacy(request):
    body = b"legacy " + request.body
    request.connection.write(b"HTTP/1.1 202 Fine\r\nX-Legacy: yes\r\nContent-Length: %d\r\n\r\n" % len(body))
    request.connection.write(body)
    request.connection.finish()


class Hello(RequestHandler):
    def get(self, *args):
        self.write("hello %s %s" % (self.request.path, self.reverse_url("hello")))


class Other(RequestHandler):
    def get(self):
        self.write("other host")


class Args(RequestHandler):
    def get(self, a, b):
        self.write("%s|%s" % (a, b))


@stream_request_body
class Stream(RequestHandler):
    def prepare(self):
        self.got = []

    def data_received(self, chunk):
        self.got.append(chunk)

    def put(self):
        self.write({"pieces": len(self.got), "bytes": sum(map(len, self.got))})


def wsgi_app(environ, start_response):
    import threading
    body = ("%s %s %s %s" % (environ["REQUEST_METHOD"], environ["PATH_INFO"], environ["QUERY_STRING"],
                             threading.current_thread() is threading.main_thread())).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]


class Inner(ReversibleRuleRouter):
    pass


def main():
    port = int(os.environ["PORT"])
    ports = [HTTPServer(SizesApp(), chunk_size=16, decompress_request=True).listen(0, "127.0.0.1"),
             HTTPServer(WrongApp()).listen(0, "127.0.0.1"),
             HTTPServer(legacy).listen(0, "127.0.0.1")]
    print("PORTS", *ports, flush=True)  # before PORT opens
    app = Application([
        Rule(HostMatches("other\\.example"), [(PathMatches("/hello"), Other, {}, None)]),
        (r"/hello", Hello, {}, "hello"),
        (r"/args/([^/]+)/(.*)", Args),
        (r"/stream", Stream),
        Rule(PathMatches("/legacy"), legacy),
        Rule(PathMatches("/wsgi.*"), WSGIContainer(wsgi_app, executor=concurrent.futures.ThreadPoolExecutor(2))),
        Rule(PathMatches("/inline"), WSGIContainer(wsgi_app)),
        Rule(PathMatches("/sizes"), SizesApp()),
    ])
    app.listen(port, "127.0.0.1")
    squall.ioloop.IOLoop.current().start()


main()
'''


def _get(port, path, method="GET", body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r, data


def test_delegates_routers_and_wsgi(run_server):
    srv = run_server(SERVER)
    port = srv.port
    sizes_port, wrong_port, legacy_port = (int(p) for p in srv.log().split("PORTS", 1)[1].split()[:3])

    # a delegate: chunk_size bounds data_received; a Content-Length body is
    # cut in pieces of exactly chunk_size; the answer is chunked
    r, data = _get(sizes_port, "/", "POST", b"x" * 50)
    assert (r.status, r.reason) == (201, "Made")
    assert r.getheader("Transfer-Encoding") == "chunked"
    assert data == b"16,16,16,2,"
    # decompress_request: gunzipped pieces, each at most chunk_size
    r, data = _get(sizes_port, "/", "POST", gzip.compress(b"y" * 100), {"Content-Encoding": "gzip"})
    sizes = [int(s) for s in data.decode().strip(",").split(",")]
    assert sum(sizes) == 100 and max(sizes) <= 16, sizes
    assert r.getheader("X-Consumed") == "gzip"

    # a response shorter than its Content-Length: the connection is cut,
    # never a response that looks whole
    with socket.create_connection(("127.0.0.1", wrong_port), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        while True:
            part = s.recv(4096)
            if not part:
                break
            got += part
    assert got == b"", got
    assert "Uncaught exception" in srv.log() and "less than Content-Length" in srv.log()

    # the legacy interface: a whole response written as bytes
    r, data = _get(legacy_port, "/", "POST", b"body")
    assert (r.status, r.reason, r.getheader("X-Legacy"), data) == (202, "Fine", "yes", b"legacy body")

    # an Application with routing rules, in order
    r, data = _get(port, "/hello")
    assert data == b"hello /hello /hello"
    r, data = _get(port, "/hello", headers={"Host": "other.example"})
    assert data == b"other host"  # the host rule comes first
    r, data = _get(port, "/args/a%20b/c%2Fd")
    assert data == b"a b|c/d"
    r, data = _get(port, "/legacy", "POST", b"via app")
    assert (r.status, data) == (202, b"legacy via app")
    r, data = _get(port, "/sizes", "POST", b"z" * 20)
    assert data == b"20,"  # the application's server: chunk_size 65536
    r, data = _get(port, "/nothing")
    assert r.status == 404
    # requests without a body through the router's streaming route keep the
    # connection (their end is known from the head)
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for _ in range(3):
        c.request("GET", "/hello")
        r = c.getresponse()
        assert r.read() == b"hello /hello /hello" and r.getheader("Connection") != "close"
    sock = c.sock
    c.request("GET", "/hello")
    c.getresponse().read()
    assert c.sock is sock, "the connection was not kept"
    c.close()

    # a @stream_request_body handler behind the router
    r, data = _get(port, "/stream", "PUT", b"s" * 300000)
    got = json.loads(data)
    assert got["bytes"] == 300000 and got["pieces"] >= 1

    # WSGI: on the executor's threads, or on the loop's thread by default
    r, data = _get(port, "/wsgi/x?q=1")
    assert data == b"GET /wsgi/x q=1 False"
    r, data = _get(port, "/inline")
    assert data == b"GET /inline  True"


def test_plain_application_stays_in_squalls_router():
    from squall import metrics, web

    class H(web.RequestHandler):
        def get(self):
            pass

    app = web.Application([(r"/", H), (r"/metrics", metrics.MetricsHandler)])
    assert app._rule_router is None
    app.add_handlers(".*$", [(r"/x", H, {}, "x")])
    assert app._rule_router is None and app.reverse_url("x") == "/x"
    # a rule switches the application to routing in Python, in order
    from squall.routing import PathMatches, Rule
    app.add_handlers(".*$", [Rule(PathMatches("/r"), lambda request: None, name="r")])
    assert app._rule_router is not None and app.reverse_url("r") == "/r"
