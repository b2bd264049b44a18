"""squall.httpclient against a scripted http.server and against squall."""
import asyncio
import gzip
import http.server
import json
import socket
import threading
import time

import pytest

from squall import httpclient, ioloop, web


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _send(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        p = self.path
        if p.startswith("/echo"):
            self._send(200, json.dumps({"path": p, "method": self.command, "h": self.headers.get("X-Hi"),
                                        "auth": self.headers.get("Authorization"),
                                        "ua": self.headers.get("User-Agent")}).encode(),
                       [("Content-Type", "application/json"), ("X-Multi", "a"), ("X-Multi", "b")])
        elif p == "/redirect":
            self._send(302, headers=[("Location", "/echo?from=redirect")])
        elif p == "/loop":
            self._send(302, headers=[("Location", "/loop")])
        elif p == "/gzip":
            self._send(200, gzip.compress(b"z" * 10000), [("Content-Encoding", "gzip")])
        elif p == "/stall":
            time.sleep(2)
            self._send(200, b"late")
        elif p == "/chunks":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(5):
                part = (b"piece%d;" % i) * 1000
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                self.wfile.flush()
                time.sleep(0.01)
            self.wfile.write(b"0\r\n\r\n")
        else:
            self._send(404, b"nope")

    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(n)
        self._send(200, json.dumps({"method": self.command, "body": body.decode()}).encode())

    do_PUT = do_DELETE = do_POST


@pytest.fixture(scope="module")
def origin():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def run(coro_fn, timeout=30):
    loop = ioloop.IOLoop(asyncio.new_event_loop())
    try:
        return loop.run_sync(coro_fn, timeout=timeout)
    finally:
        loop.close()


def test_get_headers_query_and_methods(origin):
    async def main():
        c = httpclient.AsyncHTTPClient()
        r = await c.fetch(origin + "/echo?a=1", headers={"X-Hi": "there"}, user_agent="ua/2")
        d = json.loads(r.body)
        assert r.code == 200 and d["path"] == "/echo?a=1" and d["h"] == "there" and d["ua"] == "ua/2"
        assert r.headers["content-type"] == "application/json"
        assert r.headers.get_list("X-Multi") == ["a", "b"]
        assert r.effective_url == origin + "/echo?a=1" and r.request_time > 0 and "total" in r.time_info
        for m in ("POST", "PUT"):
            r = await c.fetch(origin + "/x", method=m, body=json.dumps({"k": m}))
            assert json.loads(r.body) == {"method": m, "body": json.dumps({"k": m})}
        r = await c.fetch(httpclient.HTTPRequest(origin + "/x", method="DELETE", allow_nonstandard_methods=True, body=b""))
        assert json.loads(r.body)["method"] == "DELETE"
        with pytest.raises(ValueError):
            await c.fetch(origin + "/x", method="POST")
    run(main)


def test_redirects(origin):
    async def main():
        c = httpclient.AsyncHTTPClient()
        r = await c.fetch(origin + "/redirect")
        assert r.code == 200 and json.loads(r.body)["path"] == "/echo?from=redirect"
        assert r.effective_url.endswith("/echo?from=redirect")
        r = await c.fetch(origin + "/redirect", follow_redirects=False, raise_error=False)
        assert r.code == 302 and r.headers["Location"] == "/echo?from=redirect"
        # past max_redirects the last 3xx is the response, as Tornado 6.6 returns it
        r = await c.fetch(origin + "/loop", max_redirects=3, raise_error=False)
        assert r.code in (301, 302, 303, 307, 308) and "Location" in r.headers, r
    run(main)


def test_errors(origin):
    async def main():
        c = httpclient.AsyncHTTPClient()
        with pytest.raises(httpclient.HTTPClientError) as e:
            await c.fetch(origin + "/missing")
        assert e.value.code == 404 and e.value.response.body == b"nope"
        r = await c.fetch(origin + "/missing", raise_error=False)
        assert r.code == 404 and isinstance(r.error, httpclient.HTTPClientError)
        with pytest.raises(ConnectionRefusedError):
            await c.fetch("http://127.0.0.1:1/")
        t0 = time.monotonic()
        with pytest.raises(httpclient.HTTPTimeoutError) as e:
            await c.fetch(origin + "/stall", request_timeout=0.5)
        assert e.value.code == 599 and time.monotonic() - t0 < 1.8
        # raise_error=False spares only an HTTP status: a failure to get a
        # response is raised all the same (Tornado 6)
        with pytest.raises(ConnectionRefusedError):
            await c.fetch("http://127.0.0.1:1/", raise_error=False)
        with pytest.raises(ValueError, match="Unsupported url scheme"):
            await c.fetch("ftp://127.0.0.1/")
    run(main)


def test_streaming_header_callback_gzip_auth(origin):
    async def main():
        c = httpclient.AsyncHTTPClient()
        chunks, lines = [], []
        r = await c.fetch(origin + "/chunks", streaming_callback=chunks.append, header_callback=lines.append)
        assert b"".join(chunks) == b"".join((b"piece%d;" % i) * 1000 for i in range(5)) and len(chunks) > 1
        assert lines[0].startswith("HTTP/1.1 200") and lines[-1] == "\r\n"
        assert any(l.lower().startswith("transfer-encoding") for l in lines)
        r = await c.fetch(origin + "/gzip")
        assert r.body == b"z" * 10000
        r = await c.fetch(origin + "/echo", auth_username="u", auth_password="p")
        assert json.loads(r.body)["auth"] == "Basic dTpw"

        def bad(chunk):
            raise KeyError("from the callback")
        # as Tornado: logged ("Uncaught exception"), the fetch fails as a closed stream
        with pytest.raises(httpclient.HTTPStreamClosedError):
            await c.fetch(origin + "/chunks", streaming_callback=bad)
        r = await c.fetch(origin + "/echo")
        assert r.code == 200
    run(main)


def test_concurrent_fetches_of_an_in_process_squall_server():
    class H(web.RequestHandler):
        def get(self):
            self.write(self.get_argument("i"))

    async def main():
        srv = web.Application([(r"/", H)]).listen(0, "127.0.0.1")
        port = srv.ports[0]
        c = httpclient.AsyncHTTPClient()
        rs = await asyncio.gather(*[c.fetch(f"http://127.0.0.1:{port}/?i={i}") for i in range(100)])
        assert [r.body for r in rs] == [str(i).encode() for i in range(100)]
    run(main)


def test_blocking_client(origin):
    c = httpclient.HTTPClient()
    try:
        r = c.fetch(origin + "/echo?b=1")
        assert json.loads(r.body)["path"] == "/echo?b=1"
        with pytest.raises(httpclient.HTTPClientError):
            c.fetch(origin + "/missing")
    finally:
        c.close()


def test_the_client_counters_follow_known_fetches(origin):
    from squall import metrics

    def closed_port():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    async def main():
        before = metrics.loop_snapshot()
        assert before["client_started"] == 0 and before["requests_get"] == 0, before
        c = httpclient.AsyncHTTPClient()
        n = 12
        for i in range(n):
            r = await c.fetch(origin + ("/echo?i=%d" % i if i % 3 else "/missing"), raise_error=False)
            assert r.code == (200 if i % 3 else 404)
        with pytest.raises(Exception):
            await c.fetch(f"http://127.0.0.1:{closed_port()}/")
        m = metrics.loop_snapshot()
        missing = len([i for i in range(n) if i % 3 == 0])
        assert m["client_started"] == n + 1, m
        assert m["client_responses_2xx"] == n - missing and m["client_responses_4xx"] == missing, m
        assert m["client_failed_connect"] == 1 and m["client_failed_timeout"] == 0, m
        assert m["client_connections_opened"] + m["client_connections_reused"] == n + 1, m
        assert m["client_bytes_in"] > 0 and m["client_bytes_out"] > 0, m
        # a server of the same loop shows the loop's client figures too
        srv = web.Application([]).listen(0, "127.0.0.1")
        assert metrics.snapshot(srv)["client_started"] == n + 1
        assert 'squall_client_failures_total{reason="connect"} 1\n' in srv.metrics_text()
    run(main)


def test_the_websocket_client_connects_are_counted():
    from squall import metrics, websocket

    class Echo(websocket.WebSocketHandler):
        def on_message(self, message):
            self.write_message(message)

    def closed_port():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    async def main():
        port = web.Application([(r"/ws", Echo)]).listen(0, "127.0.0.1").ports[0]
        for i in range(3):
            ws = await websocket.websocket_connect(f"ws://127.0.0.1:{port}/ws")
            await ws.write_message(f"m{i}")
            assert await ws.read_message() == f"m{i}"
            ws.close()
        with pytest.raises(Exception):
            await websocket.websocket_connect(f"ws://127.0.0.1:{closed_port()}/ws")
        m = metrics.loop_snapshot()
        assert (m["client_ws_connects"], m["client_ws_opened"], m["client_ws_failed"]) == (4, 3, 1), m
        assert m["client_started"] == 0, "a WebSocket connect is no fetch"
    run(main)
