"""squall.httpclient as Tornado 6.6's client behaves: validate_cert=False and
ssl_options, body_producer (streamed request bodies), expect_100_continue,
hostname_mapping and a client's own resolver, network_interface,
allow_ipv6, redirects past max_redirects, obs-fold, the request queue's
timeout, awaitable streaming callbacks and failing callbacks. Real sockets
on 127.0.0.1: squall servers, and raw ones where the wire matters."""
import asyncio
import json
import logging
import socket
import ssl
import threading
import time

import pytest

from squall import httpclient, ioloop, netutil, web


def run(coro_fn, timeout=30):
    loop = ioloop.IOLoop(asyncio.new_event_loop())
    try:
        return loop.run_sync(coro_fn, timeout=timeout)
    finally:
        loop.close()


class Echo(web.RequestHandler):
    def get(self):
        self.write("hello")

    def post(self):
        self.set_header("X-Framing", "chunked" if "Transfer-Encoding" in self.request.headers else
                        self.request.headers.get("Content-Length", "none"))
        self.set_header("X-Expect", self.request.headers.get("Expect", ""))
        self.write(self.request.body)


def client(**kw):
    return httpclient.AsyncHTTPClient(force_instance=True, **kw)


def test_validate_cert_false_and_ssl_options(pki):
    async def main():
        srv = web.Application([(r"/", Echo)]).listen(0, "127.0.0.1", ssl_options={"certfile": pki["cert"], "keyfile": pki["key"]})
        url = "https://127.0.0.1:%d/" % srv.ports[0]
        c = client()
        # signed by a CA the built-in roots do not hold: refused by default
        with pytest.raises(ssl.SSLError):
            await c.fetch(url)
        with pytest.raises(ssl.SSLError):
            await c.fetch(url, ssl_options=ssl.create_default_context())
        for kw in (dict(validate_cert=False), dict(ca_certs=pki["ca"]), dict(ssl_options={"cert_reqs": ssl.CERT_NONE}),
                   dict(ssl_options={"ca_certs": pki["ca"]}), dict(ssl_options=ssl.create_default_context(cafile=pki["ca"]))):
            r = await c.fetch(url, **kw)
            assert r.body == b"hello", kw
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        assert (await c.fetch(url, ssl_options=ctx)).body == b"hello"
        # a name the certificate is not for: refused when verifying, even with
        # the right CA; accepted without verification
        mapped = client(hostname_mapping={"wrong.test": "127.0.0.1"})
        other = "https://wrong.test:%d/" % srv.ports[0]
        with pytest.raises(ssl.SSLError):
            await mapped.fetch(other, ca_certs=pki["ca"])
        r = await mapped.fetch(other, validate_cert=False)
        assert r.body == b"hello" and r.effective_url == other
        # a client-wide default, as Tornado's AsyncHTTPSTestCase sets it
        assert (await client(defaults=dict(validate_cert=False)).fetch(url)).code == 200
    run(main)


def test_websocket_connect_with_validate_cert_false(pki):
    from squall import websocket

    class WsEcho(websocket.WebSocketHandler):
        def on_message(self, m):
            self.write_message(m)

    async def main():
        srv = web.Application([(r"/ws", WsEcho)]).listen(0, "127.0.0.1", ssl_options={"certfile": pki["cert"], "keyfile": pki["key"]})
        url = "wss://127.0.0.1:%d/ws" % srv.ports[0]
        with pytest.raises(Exception):
            await websocket.websocket_connect(url, connect_timeout=5)
        ws = await websocket.websocket_connect(httpclient.HTTPRequest(url, validate_cert=False, connect_timeout=5))
        await ws.write_message("over tls")
        assert await ws.read_message() == "over tls"
        ws.close()
    run(main)


def test_body_producer_streams_the_request_body():
    async def main():
        srv = web.Application([(r"/", Echo)]).listen(0, "127.0.0.1")
        url = "http://127.0.0.1:%d/" % srv.ports[0]
        c = client()

        def sync_producer(write):
            write(b"1234")
            write("5678")

        async def async_producer(write):
            await write(b"1234")
            await asyncio.sleep(0)
            await write(b"5678")

        for producer in (sync_producer, async_producer):
            r = await c.fetch(url, method="POST", body_producer=producer)
            assert (r.body, r.headers["X-Framing"]) == (b"12345678", "chunked")
            r = await c.fetch(url, method="POST", body_producer=producer, headers={"Content-Length": "8"})
            assert (r.body, r.headers["X-Framing"]) == (b"12345678", "8")

        # 6 MiB awaited write by write: the writes wait for the queue to drain
        piece = bytes(range(256)) * 256
        waited = []

        async def big(write):
            for _ in range(96):
                f = write(piece)
                waited.append(not f.done())
                await f
        r = await c.fetch(url, method="POST", body_producer=big, request_timeout=60,
                          headers={"Content-Type": "application/octet-stream"})
        assert r.body == piece * 96 and any(waited)

        # a producer that fails fails the fetch with its exception
        async def broken(write):
            await write(b"12")
            raise KeyError("producer broke")
        with pytest.raises(KeyError):
            await c.fetch(url, method="POST", body_producer=broken)
        # fewer bytes than the Content-Length said
        with pytest.raises(ValueError, match="less than"):
            await c.fetch(url, method="POST", body_producer=lambda w: w(b"12"), headers={"Content-Length": "8"})
        with pytest.raises(ValueError):
            await c.fetch(url, method="POST", body=b"x", body_producer=sync_producer)
    run(main)


def raw_server(script):
    """A one-connection-at-a-time server: ``script(conn)`` per connection.
    Returns (port, closer)."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(8)
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            try:
                conn, _ = ls.accept()
            except OSError:
                return
            with conn:
                try:
                    script(conn)
                except OSError:
                    pass
    threading.Thread(target=loop, daemon=True).start()

    def close():
        stop.set()
        ls.close()
    return ls.getsockname()[1], close


def read_head(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        more = conn.recv(65536)
        if not more:
            break
        data += more
    return data


def test_expect_100_continue():
    seen = []

    def refuse(conn):
        head = read_head(conn)
        seen.append(head)
        conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\nConnection: close\r\n\r\nforbidden")

    def silent(conn):
        head = read_head(conn)
        conn.settimeout(5)
        body = head.split(b"\r\n\r\n", 1)[1]
        while len(body) < 4:
            body += conn.recv(100)
        seen.append(body)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\n" + body)

    def slow_refusal(conn):
        read_head(conn)
        conn.sendall(b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 4\r\n\r\n")
        time.sleep(1.5)  # past the client's one-second wait for 100 Continue
        conn.sendall(b"nope")
        conn.settimeout(0.5)
        try:
            extra = conn.recv(100)
        except socket.timeout:
            extra = b"(nothing)"
        seen.append(b"after:" + extra)

    async def main():
        srv = web.Application([(r"/", Echo)]).listen(0, "127.0.0.1")
        c = client()
        # squall's server says 100 Continue: the body goes then
        r = await c.fetch("http://127.0.0.1:%d/" % srv.ports[0], method="POST", body=b"1234", expect_100_continue=True)
        assert (r.body, r.headers["X-Expect"]) == (b"1234", "100-continue")
        r = await c.fetch("http://127.0.0.1:%d/" % srv.ports[0], method="POST", expect_100_continue=True,
                          body_producer=lambda w: w(b"abcd"))
        assert r.body == b"abcd"
        # a final answer first: the body never goes, the producer is never called
        port, close = raw_server(refuse)
        called = []
        r = await c.fetch("http://127.0.0.1:%d/" % port, method="POST", expect_100_continue=True,
                          body_producer=called.append, raise_error=False)
        close()
        assert r.code == 403 and called == [] and b"expect: 100-continue" in seen[-1].lower()
        assert seen[-1].endswith(b"\r\n\r\n")
        # a final answer whose body takes longer than the wait: the body is
        # still never sent, and the connection is not kept for reuse
        port, close = raw_server(slow_refusal)
        r = await c.fetch("http://127.0.0.1:%d/" % port, method="POST", body=b"never", expect_100_continue=True,
                          raise_error=False)
        await asyncio.sleep(0.8)
        close()
        assert (r.code, r.body) == (413, b"nope")
        assert seen[-1] in (b"after:(nothing)", b"after:"), seen[-1]
        # a server that never says 100: the body goes after a second
        port, close = raw_server(silent)
        r = await c.fetch("http://127.0.0.1:%d/" % port, method="POST", body=b"late", expect_100_continue=True)
        close()
        assert r.body == b"late"
    run(main)


def test_hostname_mapping_and_resolver_keep_the_urls_host():
    class Host(web.RequestHandler):
        def get(self):
            self.write(self.request.host)

    class Fixed(netutil.Resolver):
        def __init__(self, port):
            self.port = port

        async def resolve(self, host, port, family=socket.AF_UNSPEC):
            return [(socket.AF_INET, ("127.0.0.1", self.port))]

    class Never(netutil.Resolver):
        async def resolve(self, host, port, family=socket.AF_UNSPEC):
            await asyncio.sleep(3600)

    async def main():
        srv = web.Application([(r"/", Host)]).listen(0, "127.0.0.1")
        port = srv.ports[0]
        r = await client(hostname_mapping={"www.example.test": "127.0.0.1"}).fetch("http://www.example.test:%d/" % port)
        assert r.body == b"www.example.test:%d" % port
        r = await client(hostname_mapping={("a.test", 8000): ("127.0.0.1", port)}).fetch("http://a.test:8000/")
        assert r.body == b"a.test:8000"
        r = await client(resolver=Fixed(port)).fetch("http://b.test:1234/")
        assert r.body == b"b.test:1234"
        with pytest.raises(httpclient.HTTPTimeoutError) as e:
            await client(resolver=Never()).fetch("http://c.test/", connect_timeout=0.2, request_timeout=60)
        assert str(e.value) == "Timeout while resolving c.test"
    run(main)


def test_network_interface_and_allow_ipv6():
    class Peer(web.RequestHandler):
        def get(self):
            self.write(self.request.remote_ip)

    async def main():
        srv = web.Application([(r"/", Peer)]).listen(0, "127.0.0.1")
        url = "http://127.0.0.1:%d/" % srv.ports[0]
        c = client()
        r = await c.fetch(url, network_interface="127.0.0.2")
        assert r.body == b"127.0.0.2"
        r = await c.fetch(url, network_interface="127.0.0.1")
        assert r.body == b"127.0.0.1"
        with pytest.raises(ValueError, match="not-an-ip"):
            await c.fetch(url, network_interface="not-an-ip")
        # an IPv6 literal with IPv6 not allowed: nothing to connect to
        with pytest.raises(socket.gaierror):
            await c.fetch("http://[::1]:%d/" % srv.ports[0], allow_ipv6=False)
    run(main)


def test_redirects_past_the_maximum_unsupported_schemes_and_obs_fold():
    class Countdown(web.RequestHandler):
        def get(self, n):
            n = int(n)
            if n:
                self.redirect("/countdown/%d" % (n - 1))
            else:
                self.write("zero")

    class Away(web.RequestHandler):
        def get(self):
            self.redirect(self.get_argument("to"))

    def folded(conn):
        read_head(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nX-XSS-Protection: 1;\r\n\tmode=block\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    async def main():
        srv = web.Application([(r"/countdown/(\d+)", Countdown), (r"/away", Away)]).listen(0, "127.0.0.1")
        base = "http://127.0.0.1:%d" % srv.ports[0]
        c = client()
        r = await c.fetch(base + "/countdown/5", max_redirects=3, raise_error=False)
        assert r.code == 302 and r.effective_url.endswith("/countdown/2") and r.headers["Location"].endswith("/countdown/1")
        assert (await c.fetch(base + "/countdown/3")).body == b"zero"
        for loc in ("ftp://example.com/", "h:5"):
            with pytest.raises(ValueError, match="Unsupported url scheme"):
                await c.fetch(base + "/away?to=" + loc)
        port, close = raw_server(folded)
        r = await c.fetch("http://127.0.0.1:%d/" % port)
        close()
        assert r.headers["X-XSS-Protection"] == "1; mode=block"
    run(main)


def test_queue_timeout_streaming_coroutines_and_callback_errors(caplog):
    release = []

    class Slow(web.RequestHandler):
        async def get(self):
            fut = asyncio.get_event_loop().create_future()
            release.append(fut)
            await fut
            self.write("done")

    class Chunks(web.RequestHandler):
        async def get(self):
            self.write("asdf")
            await self.flush()
            self.write("qwer")

    async def main():
        srv = web.Application([(r"/slow", Slow), (r"/chunk", Chunks)]).listen(0, "127.0.0.1")
        base = "http://127.0.0.1:%d" % srv.ports[0]
        c = client(max_clients=1)
        first = c.fetch(base + "/slow", request_timeout=10)
        while not release:
            await asyncio.sleep(0.01)
        assert len(c.queue) == 0
        waiting = c.fetch(base + "/chunk", connect_timeout=0.1)
        await asyncio.sleep(0.05)
        assert len(c.queue) == 1
        with pytest.raises(httpclient.HTTPTimeoutError) as e:
            await waiting
        assert str(e.value) == "Timeout in request queue"
        assert len(c.queue) == 0
        release[0].set_result(None)
        assert (await first).body == b"done"

        got = []

        async def slow_consumer(chunk):
            await asyncio.sleep(0.01)
            got.append(chunk)
        r = await c.fetch(base + "/chunk", streaming_callback=slow_consumer)
        assert b"".join(got) == b"asdfqwer" and r.body == b""

        def bad(chunk):
            raise RuntimeError("callback broke")
        with caplog.at_level(logging.ERROR, logger="squall.application"):
            with pytest.raises(httpclient.HTTPStreamClosedError):
                await c.fetch(base + "/chunk", streaming_callback=bad)
            with pytest.raises(httpclient.HTTPStreamClosedError):
                await c.fetch(base + "/chunk", header_callback=bad)
        assert [rec.getMessage() for rec in caplog.records].count("Uncaught exception") == 2
        # the client goes on
        assert (await c.fetch(base + "/chunk")).body == b"asdfqwer"
    run(main)


def test_max_body_size_of_the_client_is_refused_as_tornado_logs_it(caplog):
    class Big(web.RequestHandler):
        def get(self):
            self.set_header("Content-Type", "application/octet-stream")
            self.write(b"a" * 2000)

    async def main():
        srv = web.Application([(r"/", Big)]).listen(0, "127.0.0.1")
        c = client(max_body_size=1000)
        with caplog.at_level(logging.INFO, logger="squall.general"):
            with pytest.raises(httpclient.HTTPClientError) as e:
                await c.fetch("http://127.0.0.1:%d/" % srv.ports[0])
        assert e.value.code == 599
        assert any(rec.getMessage().startswith("Malformed HTTP message from None: Content-Length too long")
                   for rec in caplog.records)
        r = await c.fetch("http://127.0.0.1:%d/" % srv.ports[0], max_body_size=5000)
        assert len(r.body) == 2000
    run(main)


def test_max_header_size_refuses_a_longer_head():
    from squall.iostream import UnsatisfiableReadError

    class Filler(web.RequestHandler):
        def get(self, n):
            self.set_header("X-Filler", "a" * int(n))
            self.write("ok")

    async def main():
        srv = web.Application([(r"/(\d+)", Filler)]).listen(0, "127.0.0.1")
        c = client(max_header_size=1024)
        assert (await c.fetch("http://127.0.0.1:%d/100" % srv.ports[0])).body == b"ok"
        with pytest.raises(UnsatisfiableReadError):
            await c.fetch("http://127.0.0.1:%d/1000" % srv.ports[0])
        assert (await client().fetch("http://127.0.0.1:%d/1000" % srv.ports[0])).body == b"ok"
    run(main)
