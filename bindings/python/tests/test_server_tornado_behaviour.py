"""HTTPServer behaviours Tornado's own suite relies on (issue 17), checked
in-process with squall.testing over real sockets on 127.0.0.1: the status
line answering HTTP/1.0, xheaders with trusted_downstream, X-Scheme over
TLS."""
from __future__ import annotations

import json
import socket
import ssl

from squall import testing, web


def raw_exchange(port: int, data: bytes, tls: bool = False, timeout: float = 5.0) -> bytes:
    """Sends ``data`` and reads until the server closes (or ``timeout``)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    if tls:
        ctx = ssl.create_default_context(cafile=testing.AsyncHTTPSTestCase.default_ssl_options()["certfile"])
        sock = ctx.wrap_socket(sock, server_hostname="127.0.0.1")
    with sock:
        sock.sendall(data)
        out = b""
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                out += chunk
        except socket.timeout:
            out += b"<timeout>"
    return out


class Who(web.RequestHandler):
    def get(self):
        self.write({"ip": self.request.remote_ip, "proto": self.request.protocol})


def run_in_executor(case: testing.AsyncTestCase, fn, *args):
    async def go():
        import asyncio
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)
    return case.io_loop.run_sync(go)


class HTTP10Test(testing.AsyncHTTPTestCase):
    def get_app(self):
        return web.Application([(r"/", Who)])

    def test_http10_is_answered_as_http11_and_closed(self):
        out = run_in_executor(self, raw_exchange, self.get_http_port(), b"GET / HTTP/1.0\r\n\r\n")
        head, _, body = out.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200 OK\r\n"), head)
        self.assertNotIn(b"\r\nConnection:", head)  # closing is HTTP/1.0's default
        self.assertEqual(json.loads(body)["ip"], "127.0.0.1")

    def test_http10_keep_alive_is_echoed(self):
        two = b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" * 2
        out = run_in_executor(self, raw_exchange, self.get_http_port(), two, False, 1.0)
        # both answered on one connection, which stays open (hence the timeout)
        self.assertEqual(out.count(b"HTTP/1.1 200 OK\r\n"), 2, out)
        self.assertEqual(out.count(b"\r\nConnection: Keep-Alive\r\n"), 2, out)
        self.assertTrue(out.endswith(b"<timeout>"), out[-40:])


class XHeadersTest(testing.AsyncHTTPTestCase):
    def get_app(self):
        return web.Application([(r"/", Who)])

    def get_httpserver_options(self):
        return dict(xheaders=True, trusted_downstream=["5.5.5.5"])

    def who(self, **headers):
        r = self.fetch("/", headers=headers)
        self.assertEqual(r.code, 200)
        return json.loads(r.body)

    def test_remote_ip(self):
        self.assertEqual(self.who()["ip"], "127.0.0.1")
        self.assertEqual(self.who(**{"X-Real-IP": "4.4.4.4"})["ip"], "4.4.4.4")
        self.assertEqual(self.who(**{"X-Forwarded-For": "127.0.0.1, 4.4.4.4"})["ip"], "4.4.4.4")
        # the proxy's own address (trusted_downstream) is skipped
        self.assertEqual(self.who(**{"X-Forwarded-For": "1.2.3.4, 4.4.4.4, 5.5.5.5"})["ip"], "4.4.4.4")
        self.assertEqual(self.who(**{"X-Forwarded-For": "::1, 2620:0:1cfe:face:b00c::3"})["ip"],
                         "2620:0:1cfe:face:b00c::3")
        # what is not an address is ignored
        for bad in ({"X-Real-IP": "4.4.4.4<script>"}, {"X-Real-IP": "www.example.com"},
                    {"X-Forwarded-For": "4.4.4.4, 5.5.5.5<script>"}):
            self.assertEqual(self.who(**bad)["ip"], "127.0.0.1", bad)

    def test_protocol(self):
        self.assertEqual(self.who()["proto"], "http")
        self.assertEqual(self.who(**{"X-Scheme": "https"})["proto"], "https")
        self.assertEqual(self.who(**{"X-Forwarded-Proto": "https"})["proto"], "https")
        self.assertEqual(self.who(**{"X-Forwarded-Proto": "https , http"})["proto"], "http")
        self.assertEqual(self.who(**{"X-Forwarded-Proto": "http,https"})["proto"], "https")
        self.assertEqual(self.who(**{"X-Forwarded-Proto": "unknown"})["proto"], "http")


class XHeadersOverTLSTest(testing.AsyncHTTPSTestCase):
    def get_app(self):
        return web.Application([(r"/", Who)])

    def get_httpserver_options(self):
        return dict(super().get_httpserver_options(), xheaders=True)

    def test_x_scheme_overrides_https(self):
        def proto(**headers):
            return json.loads(self.fetch("/", headers=headers).body)["proto"]
        self.assertEqual(proto(), "https")
        self.assertEqual(proto(**{"X-Scheme": "http"}), "http")
        self.assertEqual(proto(**{"X-Scheme": "unknown"}), "https")


class NoXHeadersTest(testing.AsyncHTTPTestCase):
    def get_app(self):
        return web.Application([(r"/", Who)])

    def test_headers_are_not_believed_without_xheaders(self):
        r = json.loads(self.fetch("/", headers={"X-Real-IP": "4.4.4.4", "X-Scheme": "https"}).body)
        self.assertEqual(r, {"ip": "127.0.0.1", "proto": "http"})
