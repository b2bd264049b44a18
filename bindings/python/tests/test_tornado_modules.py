"""Issue 17: squall's Tornado-named modules, and no Tornado I/O underneath.

squall re-exports some of Tornado's pure-Python modules (gen, locks, queues,
concurrent, util, locale, template, the rest of escape). A server that
serves HTTP, WebSockets and raw TCP (TCPServer, TCPClient, IOStream) through
squall while using every module must
never import Tornado's I/O modules (iostream, httpserver, web, websocket,
testing, ...): the server reports ``sys.modules`` and the test checks it,
with real clients (http.client, websockets) talking to it meanwhile.
"""
from __future__ import annotations

import asyncio
import os
import http.client
import json
import subprocess
import sys

from websockets.asyncio.client import connect

from conftest import child_env

TORNADO_IO = {
    "tornado.iostream", "tornado.http1connection", "tornado.httpserver", "tornado.tcpserver",
    "tornado.tcpclient", "tornado.netutil", "tornado.simple_httpclient", "tornado.curl_httpclient",
    "tornado.websocket", "tornado.web", "tornado.testing", "tornado.wsgi", "tornado.routing",
}

SERVER = '''
import asyncio, os, sys, json
import squall
from squall import gen, locks, queues, concurrent, util, locale, template, escape, options, testing
from squall import netutil, simple_httpclient, iostream, tcpserver, tcpclient
from squall.platform.asyncio import AsyncIOMainLoop
from squall.web import Application, RequestHandler
from squall.websocket import WebSocketHandler
from squall.ioloop import IOLoop

lock = locks.Lock()
q = queues.Queue()
tmpl = template.Template("<b>{{ name }}</b> {% for i in range(n) %}{{ i }}{% end %}")

class Page(RequestHandler):
    async def get(self):
        async with lock:
            await gen.sleep(0.001)
            await q.put(self.get_argument("name", "x"))
            name = await q.get()
        self.write(tmpl.generate(name=name, n=3))

class Modules(RequestHandler):
    def get(self):
        self.write(json.dumps(sorted(m for m in sys.modules if m.startswith("tornado"))))

class TCPEcho(tcpserver.TCPServer):
    async def handle_stream(self, stream, address):
        try:
            while True:
                await stream.write(await stream.read_until(b"\\n"))
        except iostream.StreamClosedError:
            pass

TCP_PORT = 0

class TCPHandler(RequestHandler):
    async def get(self):
        # squall's TCPClient to squall's TCPServer, and the port for the test's own socket
        c = await tcpclient.TCPClient().connect("127.0.0.1", TCP_PORT)
        c.write(b"via tcpclient\\n")
        line = await c.read_until(b"\\n")
        c.close()
        self.write({"port": TCP_PORT, "line": line.decode()})

class Echo(WebSocketHandler):
    async def on_message(self, message):
        await gen.sleep(0)
        self.write_message(escape.xhtml_escape(message))

async def main():
    global TCP_PORT
    port_socket = netutil.bind_sockets(0, "127.0.0.1")
    TCP_PORT = port_socket[0].getsockname()[1]
    TCPEcho().add_sockets(port_socket)
    app = Application([("/page", Page), ("/modules", Modules), ("/ws", Echo), ("/tcp", TCPHandler)])
    app.listen(int(os.environ["PORT"]), "127.0.0.1")
    await asyncio.Event().wait()

asyncio.run(main())
'''


def test_squall_submodules_load_lazily_and_by_tornado_names():
    code = (
        "import squall, sys\n"
        "assert 'squall.web' not in sys.modules\n"
        "app = squall.web.Application\n"  # lazy submodule on attribute access
        "assert 'squall.web' in sys.modules\n"
        "from squall.platform.asyncio import AsyncIOMainLoop, AsyncIOLoop\n"
        "from squall.ioloop import IOLoop\n"
        "assert issubclass(AsyncIOLoop, IOLoop)\n"
        "loop = AsyncIOLoop()\n"
        "loop.make_current()\n"
        "assert IOLoop.instance() is IOLoop.current() is loop\n"
        "IOLoop.configure(AsyncIOLoop)\n"
        "assert type(IOLoop()) is AsyncIOLoop\n"
        "IOLoop.configure(None)\n"
        "try:\n"
        "    IOLoop.configure(dict)\n"
        "    raise SystemExit('configure(dict) accepted')\n"
        "except ValueError:\n"
        "    pass\n"
        "for m in ('gen', 'locks', 'queues', 'concurrent', 'util', 'locale', 'template', 'testing',\n"
        "          'netutil', 'simple_httpclient'):\n"
        "    getattr(squall, m)\n"
        "try:\n"
        "    squall.nope\n"
        "    raise SystemExit('squall.nope did not raise')\n"
        "except AttributeError:\n"
        "    pass\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=child_env(), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_no_tornado_io_module_while_squall_serves(run_server):
    srv = run_server(SERVER)
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    conn.request("GET", "/page?name=%3Cq%3E")
    r = conn.getresponse()
    body = r.read()
    assert r.status == 200, body
    assert body == b"<b>&lt;q&gt;</b> 012"

    async def ws() -> str:
        async with connect(f"ws://127.0.0.1:{srv.port}/ws") as c:
            await c.send("<hi>")
            return await asyncio.wait_for(c.recv(), 10)

    assert asyncio.run(ws()) == "&lt;hi&gt;"
    conn.request("GET", "/tcp")
    tcp = json.loads(conn.getresponse().read())
    assert tcp["line"] == "via tcpclient\n"
    import socket
    with socket.create_connection(("127.0.0.1", tcp["port"]), timeout=10) as s:
        s.sendall(b"raw socket\n")
        got = b""
        while not got.endswith(b"\n"):
            got += s.recv(100)
    assert got == b"raw socket\n"
    conn.request("GET", "/modules")
    r = conn.getresponse()
    loaded = set(json.loads(r.read()))
    conn.close()
    # Tornado's pure-Python modules are in use (the test would prove nothing
    # if tornado were not imported at all) ...
    assert {"tornado.gen", "tornado.locks", "tornado.queues", "tornado.template"} <= loaded
    # ... and none of its I/O modules is.
    assert not (loaded & TORNADO_IO), sorted(loaded & TORNADO_IO)


def test_async_https_test_case_serves_and_fetches_over_tls(tmp_path):
    """squall.testing.AsyncHTTPSTestCase: squall's HTTPServer over TLS, fetched
    by squall's client trusting the test's own certificate (openssl makes a
    self-signed one for 127.0.0.1 at test time)."""
    import subprocess
    import unittest

    from squall import testing, web

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-addext", "basicConstraints=critical,CA:FALSE"],
                   check=True, capture_output=True)

    class Hello(web.RequestHandler):
        def get(self):
            self.write("%s %s" % (self.request.protocol, self.request.path))

    class Case(testing.AsyncHTTPSTestCase):
        def get_app(self):
            return web.Application([(r"/hi", Hello)])

        def get_ssl_options(self):
            return {"certfile": str(cert), "keyfile": str(key)}

        def test_fetch(self):
            r = self.fetch("/hi")
            self.assertEqual((r.code, r.body), (200, b"https /hi"))
            self.assertTrue(self.get_url("/hi").startswith("https://127.0.0.1:"))

    result = unittest.TextTestRunner(stream=open(os.devnull, "w")).run(unittest.defaultTestLoader.loadTestsFromTestCase(Case))
    assert result.wasSuccessful(), result.failures + result.errors


def test_async_https_test_case_default_certificate():
    """AsyncHTTPSTestCase without get_ssl_options serves squall's own test
    certificate (default_ssl_options(), shipped in the package): squall's
    client fetches through it, and Python's ssl verifies it for localhost
    and 127.0.0.1 with the certificate itself as the only trust anchor."""
    import datetime
    import socket
    import ssl
    import unittest

    from squall import testing, web

    opts = testing.AsyncHTTPSTestCase.default_ssl_options()
    assert set(opts) == {"certfile", "keyfile"}
    pkg = os.path.dirname(testing.__file__)
    assert all(os.path.dirname(p) == pkg and os.path.isfile(p) for p in opts.values()), opts
    assert "PRIVATE KEY" in open(opts["keyfile"]).read()
    der = ssl.PEM_cert_to_DER_cert(open(opts["certfile"]).read())
    assert der  # one PEM certificate

    class Hello(web.RequestHandler):
        def get(self):
            self.write("%s %s" % (self.request.protocol, self.request.path))

    seen = {}

    class Case(testing.AsyncHTTPSTestCase):
        def get_app(self):
            return web.Application([(r"/hi", Hello)])

        def test_fetch(self):
            self.assertEqual(self.get_ssl_options(), opts)
            r = self.fetch("/hi")
            self.assertEqual((r.code, r.body), (200, b"https /hi"))

        def test_raw_tls(self):
            port = self.get_http_port()

            def handshake(name):
                ctx = ssl.create_default_context(cafile=opts["certfile"])
                with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
                    with ctx.wrap_socket(raw, server_hostname=name) as s:
                        cert = s.getpeercert()
                        s.sendall(b"GET /hi HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                        data = b""
                        while True:
                            chunk = s.recv(4096)
                            if not chunk:
                                break
                            data += chunk
                return cert, data

            async def both():
                loop = asyncio.get_running_loop()
                return [await loop.run_in_executor(None, handshake, n) for n in ("localhost", "127.0.0.1")]

            for cert, data in self.io_loop.run_sync(both):
                self.assertTrue(data.startswith(b"HTTP/1.1 200 OK\r\n"), data[:40])
                self.assertTrue(data.endswith(b"https /hi"), data[-40:])
                seen["notAfter"] = cert["notAfter"]
                self.assertIn(("IP Address", "127.0.0.1"), cert["subjectAltName"])
                self.assertIn(("DNS", "localhost"), cert["subjectAltName"])

    result = unittest.TextTestRunner(stream=open(os.devnull, "w")).run(unittest.defaultTestLoader.loadTestsFromTestCase(Case))
    assert result.wasSuccessful(), result.failures + result.errors
    # long validity: the shipped certificate outlives any test run
    not_after = datetime.datetime.fromtimestamp(ssl.cert_time_to_seconds(seen["notAfter"]))
    assert not_after > datetime.datetime.now() + datetime.timedelta(days=365 * 50)


def test_ssl_options_are_checked_at_construction(tmp_path):
    """As Tornado's HTTPServer: no certfile is a KeyError, a certfile or
    keyfile that does not exist a ValueError, when HTTPServer is made."""
    import pytest

    from squall import httpserver, testing, web

    app = web.Application([])
    good = testing.AsyncHTTPSTestCase.default_ssl_options()
    with pytest.raises(KeyError):
        httpserver.HTTPServer(app, ssl_options={"keyfile": good["keyfile"]})
    with pytest.raises(ValueError, match="certfile .* does not exist"):
        httpserver.HTTPServer(app, ssl_options={"certfile": str(tmp_path / "missing.crt")})
    with pytest.raises(ValueError, match="keyfile .* does not exist"):
        httpserver.HTTPServer(app, ssl_options={"certfile": good["certfile"], "keyfile": str(tmp_path / "no.key")})
    httpserver.HTTPServer(app, ssl_options=good)  # both exist: accepted


def test_reused_tornado_code_logs_on_squall_loggers():
    # gen.multi (Tornado's code) logs its second failure; the record belongs
    # to squall.application, not tornado.application. A record of one of
    # Tornado's I/O modules (made up here: squall never imports them) stays.
    code = '''
import asyncio, logging, os, sys
import tornado
from squall import gen, ioloop
seen = []
class Keep(logging.Handler):
    def emit(self, record):
        seen.append((record.name, record.getMessage()))
logging.getLogger().addHandler(Keep())
async def fail(n):
    await asyncio.sleep(0)
    raise RuntimeError(n)
async def main():
    try:
        await gen.multi([fail(1), fail(2)])
    except RuntimeError:
        pass
    await asyncio.sleep(0.01)
ioloop.IOLoop.current().run_sync(main)
assert ("squall.application", "Multiple exceptions in yield list") in seen, seen
assert not [n for n, _ in seen if n.startswith("tornado")], seen
assert gen.app_log is logging.getLogger("squall.application")
io_record = logging.makeLogRecord({"name": "tornado.general", "levelno": logging.ERROR, "levelname": "ERROR",
                                   "msg": "from an I/O module",
                                   "pathname": os.path.join(os.path.dirname(tornado.__file__), "web.py")})
logging.getLogger("tornado.general").handle(io_record)
assert ("tornado.general", "from an I/O module") in seen, seen
logging.getLogger("squall.application").setLevel(logging.CRITICAL)
seen.clear()
ioloop.IOLoop.current().run_sync(main)
assert seen == [], seen
print("ok")
'''
    out = subprocess.run([sys.executable, "-c", code], env=child_env(), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
