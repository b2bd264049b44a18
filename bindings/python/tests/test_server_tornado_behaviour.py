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


class Echo(web.RequestHandler):
    def post(self):
        self.write({"body": self.request.body.decode("latin-1"),
                    "enc": self.request.headers.get("Content-Encoding"),
                    "consumed": self.request.headers.get("X-Consumed-Content-Encoding"),
                    "args": {k: [v.decode() for v in vs] for k, vs in self.request.body_arguments.items()}})


class DecompressRequestTest(testing.AsyncHTTPTestCase):
    MAX = 1000

    def get_app(self):
        return web.Application([(r"/", Echo)])

    def get_httpserver_options(self):
        return dict(decompress_request=True, max_body_size=self.MAX)

    def post(self, body, enc="gzip"):
        return self.fetch("/", method="POST", body=body, headers={"Content-Encoding": enc,
                          "Content-Type": "application/x-www-form-urlencoded"})

    def test_gzip_body_is_inflated(self):
        import gzip
        for enc in ("gzip", "GZIP"):
            r = self.post(gzip.compress(b"foo=bar"), enc)
            self.assertEqual(r.code, 200)
            d = json.loads(r.body)
            self.assertEqual(d, {"body": "foo=bar", "enc": None, "consumed": enc, "args": {"foo": ["bar"]}})
        # several members one after another are one body
        r = self.post(gzip.compress(b"foo=") + gzip.compress(b"bar"))
        self.assertEqual(json.loads(r.body)["args"], {"foo": ["bar"]})

    def test_bad_gzip_and_bombs_are_400_and_logged(self):
        import gzip
        import logging
        good = gzip.compress(b"foo=bar")
        cases = [(good + b"\0", "invalid gzip data"), (good[:-1], "invalid gzip data"),
                 (b"not gzip at all", "invalid gzip data"),
                 (gzip.compress(b"x" * (self.MAX + 1)), "decompressed body too large"),
                 (gzip.compress(b"\0" * (64 * self.MAX)), "decompressed body too large")]
        for body, why in cases:
            with testing.ExpectLog("squall.general", f"Malformed HTTP message from 127.0.0.1: {why}",
                                   level=logging.INFO):
                r = self.post(body)
            self.assertEqual(r.code, 400, why)
        # a body exactly at the limit is fine; the server goes on
        self.assertEqual(len(json.loads(self.post(gzip.compress(b"x" * self.MAX)).body)["body"]), self.MAX)


class NoDecompressTest(testing.AsyncHTTPTestCase):
    def get_app(self):
        return web.Application([(r"/", Echo)])

    def test_gzip_body_is_left_alone_without_decompress_request(self):
        # as Tornado's: the form parser refuses an encoded body (400)
        import gzip
        import logging
        body = gzip.compress(b"foo=bar")
        with testing.ExpectLog("squall.general", ".*Unsupported Content-Encoding", level=logging.WARNING):
            r = self.fetch("/", method="POST", body=body, headers={"Content-Encoding": "gzip",
                           "Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.code, 400)


class RefusalLogTest(testing.AsyncHTTPTestCase):
    """The Rust server's refusals reach squall.general at INFO, worded as
    Tornado's ("Malformed HTTP message from <ip>: ...")."""

    def get_app(self):
        return web.Application([(r"/", Who)])

    def raw(self, data):
        return run_in_executor(self, raw_exchange, self.get_http_port(), data)

    def test_refusals_are_logged(self):
        import logging
        for data, pattern, status in [
            (b"asdf\r\n\r\n", "Malformed HTTP message from 127.0.0.1: Malformed HTTP request line", b"400"),
            (b"FOO,BAR / HTTP/1.1\r\nHost: x\r\n\r\n", ".*Malformed HTTP request line", b"400"),
            (b"GET / HTTP/1.0\r\nasdf\r\n\r\n", ".*Malformed HTTP message.*no colon in header line", b"400"),
            (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +10\r\n\r\n", ".*Only integer Content-Length", b"400"),
            (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n", "Unsatisfiable read", b"431"),
        ]:
            with testing.ExpectLog("squall.general", pattern, level=logging.INFO):
                out = self.raw(data)
                # the record is logged on a reactor thread: give it the time
                # the response took
            self.assertTrue(out.startswith(b"HTTP/1.1 " + status), out[:60])

    def test_nothing_is_logged_at_warning(self):
        # at the default level the refusals stay quiet (INFO)
        import logging
        with self.assertNoLogs("squall.general", level=logging.WARNING):
            out = self.raw(b"asdf\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 400"), out[:60])


class IdleConnectionTimeoutTest(testing.AsyncHTTPTestCase):
    def get_app(self):
        return web.Application([(r"/", Who)])

    def get_httpserver_options(self):
        return dict(idle_connection_timeout=0.2)

    def test_a_silent_connection_is_closed_without_a_word(self):
        import time
        t = time.monotonic()
        out = run_in_executor(self, raw_exchange, self.get_http_port(), b"", False, 5.0)
        self.assertEqual(out, b"")  # closed, no 408
        self.assertLess(time.monotonic() - t, 3.0)

    def test_a_request_on_time_is_served(self):
        out = run_in_executor(self, raw_exchange, self.get_http_port(),
                              b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 200 OK\r\n"), out[:60])


class PlainHTTPToTLSTest(testing.AsyncHTTPSTestCase):
    def get_app(self):
        return web.Application([(r"/", Who)])

    def test_plain_http_on_the_tls_port_is_an_ssl_error_warning(self):
        with testing.ExpectLog("squall.general", "SSL Error on 127.0.0.1") as log:
            out = run_in_executor(self, raw_exchange, self.get_http_port(), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 400"), out[:60])
        self.assertFalse(log.logged_stack)
